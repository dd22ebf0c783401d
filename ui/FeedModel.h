#pragma once

#include "HistoryCache.h"

#include <QAbstractTableModel>
#include <QColor>
#include <QHash>
#include <QList>
#include <QPointer>
#include <QSet>

namespace ticketsync {

class CacheWorker;

// The live feed (write-offs issued and each target's confirmation), virtualized over the
// history cache: rowCount comes from a count query, rows from pages of 256 fetched through
// the CacheWorker and kept in a small LRU. A row whose page has not arrived shows "…" until it
// does (then dataChanged). Ordered by feed id, newest last; new rows are appended live unless
// paused.
class FeedModel : public QAbstractTableModel
{
    Q_OBJECT
    Q_PROPERTY(bool paused READ isPaused WRITE setPaused NOTIFY pausedChanged)
    Q_PROPERTY(bool followNewest READ followNewest WRITE setFollowNewest NOTIFY followNewestChanged)

public:
    enum Column
    {
        TimeColumn,
        KindColumn,
        TicketColumn,
        VersionColumn,
        BranchColumn,
        TargetColumn,
        StateColumn,
        VerdictColumn,
        NodeColumn,
        ColumnCount
    };

    enum Role
    {
        StateCodeRole = Qt::UserRole + 1, // int; 0 for issued rows
        DigestRole,                       // QByteArray, the write-off digest (32 bytes)
        KindRole,                         // int, CacheSchema::kFeed*
        NodeRole,                         // QString
        TicketRole,                       // QString
        TimeMsRole,                       // qint64 at_ms
        LoadedRole,                       // bool: false while the row's page is on its way
        FeedIdRole,                       // qint64 feed.id
    };

    static constexpr int kPageSize = 256;
    static constexpr int kMaxPages = 40;

    explicit FeedModel(CacheWorker *worker, QObject *parent = nullptr);
    ~FeedModel() override;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    const FeedFilter &filter() const { return currentFilter; }
    // Resets the model and counts again.
    void setFilter(const FeedFilter &filter);
    // Counts again from scratch (e.g. after the cache was reopened).
    void reload();

    bool isPaused() const { return paused; }
    // Paused: the row count is frozen; rows ingested meanwhile are appended on resume.
    void setPaused(bool paused);
    bool followNewest() const { return follow; }
    // A hint for the view: scroll to the newest row whenever rows are appended.
    void setFollowNewest(bool follow);

    // The row, if its page is in memory.
    const FeedRow *rowAt(int row) const;
    bool isCounting() const { return countRequest != 0; }
    // Rows that arrived while paused and will be appended on resume.
    qint64 pendingRows() const;

    // Shared by both models: the translated label and colours of a confirmation state.
    static QString stateLabel(int stateCode);
    static QString verdictLabel(const QString &verdict);
    static QColor stateBackground(int stateCode, bool undetermined = false);
    static QColor stateForeground(int stateCode, bool undetermined = false);
    static QString formatTime(qint64 ms);

Q_SIGNALS:
    void pausedChanged(bool paused);
    void followNewestChanged(bool follow);
    // The first count after a reset or filter change arrived.
    void countReady(qint64 rows);
    // Rows were appended at the end (live mode); a view following the newest scrolls now.
    void rowsAppended(int first, int last);

private:
    struct Page
    {
        QList<FeedRow> rows;
        quint64 lastUse = 0;
        int visibleAtFetch = 0; // the view's row count when the page was asked for
    };
    struct PendingPage
    {
        int page = 0;
        int visibleAtFetch = 0;
    };

    void requestCount(qint64 afterId);
    void requestPageFor(int row) const;
    void requestPage(int page) const;
    void onCount(quint64 requestId, qint64 count, qint64 upperId);
    void onPage(quint64 requestId, int offset, const QList<FeedRow> &rows);
    void onAppended(qint64 maxFeedId);
    void applyVisible();

    QPointer<CacheWorker> worker; // the console may tear the cache down first
    FeedFilter currentFilter;
    bool paused = false;
    bool follow = true;

    // The snapshot the view shows: `visible` rows, all with id <= visibleUpper.
    int visible = 0;
    qint64 visibleUpper = 0;
    // What the cache holds for this filter (ahead of the view while paused).
    qint64 known = 0;
    qint64 knownUpper = 0;
    bool counted = false;
    quint64 countRequest = 0;
    qint64 countAfter = 0;
    bool recountWanted = false;
    qint64 latestFeedId = 0;

    mutable QHash<int, Page> pages;
    mutable QHash<quint64, PendingPage> pageRequests; // by request id
    mutable QList<int> wantedPages;                   // waiting for a free slot, newest last
    mutable QSet<int> pagesInFlight;
    mutable quint64 useClock = 0;
};

} // namespace ticketsync
