#pragma once

#include "HistoryCache.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <QPointer>
#include <QSet>

namespace ticketsync {

class CacheWorker;

// The quorum decisions, virtualized over the history cache like FeedModel: a count query
// gives rowCount, pages of 256 come through the CacheWorker into a small LRU, and a row whose
// page has not arrived shows "…". Ordered by decided_at_ms (then digest), newest last. A
// decision that changes (an UNDETERMINED write-off retried and decided) moves to the end.
class DecisionsModel : public QAbstractTableModel
{
    Q_OBJECT
    Q_PROPERTY(bool paused READ isPaused WRITE setPaused NOTIFY pausedChanged)
    Q_PROPERTY(bool followNewest READ followNewest WRITE setFollowNewest NOTIFY followNewestChanged)

public:
    enum Column
    {
        TicketColumn,
        VersionColumn,
        OutcomeColumn,
        StateColumn,
        CountColumn, // count/n
        QuorumColumn,
        LatencyColumn, // time to quorum
        HeightColumn,
        DecidedAtColumn,
        BranchColumn,
        NodeColumn,
        ColumnCount
    };

    enum Role
    {
        StateCodeRole = Qt::UserRole + 1, // int; 0 when UNDETERMINED
        DigestRole,                       // QByteArray, the write-off digest (32 bytes)
        OutcomeRole,                      // QString, DECIDED or UNDETERMINED
        NodeRole,                         // QString
        TicketRole,                       // QString
        TimeMsRole,                       // qint64 decided_at_ms
        LoadedRole,                       // bool: false while the row's page is on its way
        HistogramRole,                    // QJsonObject, state name -> count
    };

    static constexpr int kPageSize = 256;
    static constexpr int kMaxPages = 40;

    explicit DecisionsModel(CacheWorker *worker, QObject *parent = nullptr);
    ~DecisionsModel() override;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    const DecisionFilter &filter() const { return currentFilter; }
    void setFilter(const DecisionFilter &filter);
    void reload();

    bool isPaused() const { return paused; }
    void setPaused(bool paused);
    bool followNewest() const { return follow; }
    void setFollowNewest(bool follow);

    // The row, if its page is in memory.
    const DecisionRow *rowAt(int row) const;
    bool isCounting() const { return countRequest != 0; }
    // Rows that arrived while paused and will be appended on resume.
    qint64 pendingRows() const;

Q_SIGNALS:
    void pausedChanged(bool paused);
    void followNewestChanged(bool follow);
    void countReady(qint64 rows);
    void rowsAppended(int first, int last);

private:
    struct Page
    {
        QList<DecisionRow> rows;
        quint64 lastUse = 0;
        int visibleAtFetch = 0; // the view's row count when the page was asked for
    };
    struct PendingPage
    {
        int page = 0;
        int visibleAtFetch = 0;
    };

    void requestCount(bool full);
    void startRecount();
    void requestPageFor(int row) const;
    void requestPage(int page) const;
    void onCount(quint64 requestId, qint64 count, qint64 upperMs);
    void onPage(quint64 requestId, int offset, const QList<DecisionRow> &rows);
    void onChanged(int inserted, int updated, qint64 minDecidedAtMs, qint64 maxDecidedAtMs);
    void applyVisible();

    QPointer<CacheWorker> worker; // the console may tear the cache down first
    DecisionFilter currentFilter;
    bool paused = false;
    bool follow = true;

    // The snapshot the view shows: `visible` rows, all with decided_at_ms <= visibleUpper.
    int visible = 0;
    qint64 visibleUpper = 0;
    // What the cache holds for this filter (ahead of the view while paused).
    qint64 known = 0;
    qint64 knownUpper = 0;
    bool counted = false;
    quint64 countRequest = 0;
    bool countFull = true;
    bool invalidate = false; // rows may have moved: refetch every page when next shown
    // Changes not yet counted.
    bool changePending = false;
    bool changeUpdated = false;
    qint64 changeMinMs = 0;

    mutable QHash<int, Page> pages;
    mutable QHash<quint64, PendingPage> pageRequests; // by request id
    mutable QSet<int> pagesInFlight;
    mutable QList<int> wantedPages; // waiting for a free slot, newest last
    mutable quint64 useClock = 0;
};

} // namespace ticketsync
