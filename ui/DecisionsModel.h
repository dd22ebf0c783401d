#pragma once

#include "HistoryCache.h"
#include "PagedCacheModel.h"

namespace ticketsync {

class CacheWorker;

// The quorum decisions, virtualized over the history cache like FeedModel: a count query
// gives rowCount, pages of 256 come through the CacheWorker into a small LRU, and a row whose
// page has not arrived shows "…". Ordered by decided_at_ms (then digest), newest last. A
// decision that changes (an UNDETERMINED write-off retried and decided) moves to the end.
class DecisionsModel : public PagedCacheTable<DecisionRow>
{
    Q_OBJECT

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

    explicit DecisionsModel(CacheWorker *worker, QObject *parent = nullptr);
    ~DecisionsModel() override;

    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    const DecisionFilter &filter() const { return currentFilter; }
    void setFilter(const DecisionFilter &filter);
    // reload(), paused, followNewest, rowAt(), isCounting() and pendingRows() come from
    // PagedCacheModel.

private:
    void sendCountRequest(CacheWorker *worker, quint64 id, qint64 after) override;
    void sendPageRequest(CacheWorker *worker, quint64 id, int page, PageRequest request,
                         qint64 upper) const override;
    void countAnswered() override;
    void resetLiveState() override;
    bool fullRecountMovesRows() const override { return true; }
    void requestCount(bool full);
    void startRecount();
    void onChanged(int inserted, int updated, qint64 minDecidedAtMs, qint64 maxDecidedAtMs);

    DecisionFilter currentFilter;
    // Changes not yet counted.
    bool changePending = false;
    bool changeUpdated = false;
    qint64 changeMinMs = 0;
};

} // namespace ticketsync
