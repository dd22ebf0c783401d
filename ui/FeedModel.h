#pragma once

#include "HistoryCache.h"
#include "PagedCacheModel.h"

#include <QColor>

namespace ticketsync {

class CacheWorker;

// The live feed (write-offs issued and each target's confirmation), virtualized over the
// history cache by PagedCacheModel: rowCount comes from a count query, rows from pages of 256
// fetched through the CacheWorker and kept in a small LRU. A row whose page has not arrived
// shows "…" until it does (then dataChanged). Ordered by feed id, newest last; new rows are
// appended live unless paused.
class FeedModel : public PagedCacheTable<FeedRow>
{
    Q_OBJECT

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

    explicit FeedModel(CacheWorker *worker, QObject *parent = nullptr);
    ~FeedModel() override;

    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    const FeedFilter &filter() const { return currentFilter; }
    // Resets the model and counts again.
    void setFilter(const FeedFilter &filter);
    // reload(), paused, followNewest, rowAt(), isCounting() and pendingRows() come from
    // PagedCacheModel.

    // Shared by both models: the translated label and colours of a confirmation state.
    static QString stateLabel(int stateCode);
    static QString verdictLabel(const QString &verdict);
    static QColor stateBackground(int stateCode, bool undetermined = false);
    static QColor stateForeground(int stateCode, bool undetermined = false);
    static QString formatTime(qint64 ms);

private:
    void sendCountRequest(CacheWorker *worker, quint64 id, qint64 after) override;
    void sendPageRequest(CacheWorker *worker, quint64 id, int page, PageRequest request,
                         qint64 upper) const override;
    void countAnswered() override;
    void resetLiveState() override;
    void requestCount(qint64 afterId);
    void onAppended(qint64 maxFeedId);

    FeedFilter currentFilter;
    bool recountWanted = false;
    qint64 latestFeedId = 0;
};

} // namespace ticketsync
