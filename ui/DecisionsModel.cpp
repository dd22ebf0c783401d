#include "DecisionsModel.h"

#include "CacheWorker.h"
#include "ConfirmationState.h"
#include "FeedModel.h"

#include <QDateTime>
#include <QLoggingCategory>

Q_LOGGING_CATEGORY(lcDecisionsModel, "ticketsync.ui.decisionsmodel", QtWarningMsg)

namespace ticketsync {

namespace {
bool isUndetermined(const DecisionRow &row)
{
    return row.outcome == QLatin1String("UNDETERMINED");
}
} // namespace

DecisionsModel::DecisionsModel(CacheWorker *worker, QObject *parent)
    : PagedCacheTable(worker, ColumnCount, parent)
{
    connect(worker, &CacheWorker::decisionCountReady, this, &DecisionsModel::onCount);
    connect(worker, &CacheWorker::decisionsPageReady, this, &DecisionsModel::onPage);
    connect(worker, &CacheWorker::decisionsChanged, this, &DecisionsModel::onChanged);
    requestCount(true);
}

DecisionsModel::~DecisionsModel() = default;

QVariant DecisionsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const DecisionRow *row = rowAt(index.row());
    if (!row)
        return placeholderData(index.row(), role, LoadedRole);
    const bool undetermined = isUndetermined(*row);
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case TicketColumn:
            return row->ticket;
        case VersionColumn:
            return row->version;
        case OutcomeColumn:
            //: Quorum outcome: DECIDED / UNDETERMINED
            return undetermined ? tr("Undetermined") : tr("Decided");
        case StateColumn:
            return undetermined ? QStringLiteral("—") : FeedModel::stateLabel(row->state);
        case CountColumn:
            //: votes for the winning state / all target nodes, e.g. "3/4"
            return tr("%1/%2").arg(row->count).arg(row->n);
        case QuorumColumn:
            return row->q;
        case LatencyColumn:
            if (row->latencyMs < 1000)
                return tr("%1 ms").arg(row->latencyMs);
            return tr("%1 s").arg(double(row->latencyMs) / 1000.0, 0, 'f', 2);
        case HeightColumn:
            //: Not yet in a block
            return row->height > 0 ? QVariant(row->height) : QVariant(tr("pending"));
        case DecidedAtColumn:
            return FeedModel::formatTime(row->decidedAtMs);
        case BranchColumn:
            return row->branch;
        case NodeColumn:
            return row->node;
        }
        return {};
    case Qt::ToolTipRole:
        if (index.column() == StateColumn && !undetermined)
            return stateName(quint16(row->state));
        if (index.column() == CountColumn)
            return tr("%1 of %2 target nodes; quorum q = %3; %4 missing, %5 equivocating")
                .arg(row->count)
                .arg(row->n)
                .arg(row->q)
                .arg(row->missing)
                .arg(row->equivocating);
        if (index.column() == DecidedAtColumn)
            return QDateTime::fromMSecsSinceEpoch(row->decidedAtMs, Qt::UTC).toString(Qt::ISODateWithMs);
        return {};
    case Qt::TextAlignmentRole:
        switch (index.column()) {
        case VersionColumn:
        case CountColumn:
        case QuorumColumn:
        case LatencyColumn:
        case HeightColumn:
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        }
        return {};
    case Qt::BackgroundRole:
        return FeedModel::stateBackground(row->state, undetermined);
    case Qt::ForegroundRole:
        return FeedModel::stateForeground(row->state, undetermined);
    case StateCodeRole:
        return row->state;
    case DigestRole:
        return row->digest;
    case OutcomeRole:
        return row->outcome;
    case NodeRole:
        return row->node;
    case TicketRole:
        return row->ticket;
    case TimeMsRole:
        return row->decidedAtMs;
    case LoadedRole:
        return true;
    case HistogramRole:
        return row->histogram;
    }
    return {};
}

QVariant DecisionsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case TicketColumn:
        //: The ticket (票据) id
        return tr("Ticket");
    case VersionColumn:
        return tr("Version");
    case OutcomeColumn:
        return tr("Outcome");
    case StateColumn:
        //: The state the quorum decided
        return tr("Winning state");
    case CountColumn:
        return tr("Count/n");
    case QuorumColumn:
        //: The quorum threshold (法定人数)
        return tr("q");
    case LatencyColumn:
        return tr("Time to quorum");
    case HeightColumn:
        return tr("Block height");
    case DecidedAtColumn:
        return tr("Decided at");
    case BranchColumn:
        return tr("Branch");
    case NodeColumn:
        //: The node the row came from
        return tr("Source node");
    }
    return {};
}

QHash<int, QByteArray> DecisionsModel::roleNames() const
{
    QHash<int, QByteArray> names = QAbstractTableModel::roleNames();
    names.insert(StateCodeRole, "stateCode");
    names.insert(DigestRole, "digest");
    names.insert(OutcomeRole, "outcome");
    names.insert(NodeRole, "node");
    names.insert(TicketRole, "ticket");
    names.insert(TimeMsRole, "timeMs");
    names.insert(LoadedRole, "loaded");
    names.insert(HistogramRole, "histogram");
    return names;
}

void DecisionsModel::setFilter(const DecisionFilter &filter)
{
    if (filter == currentFilter && isCounted())
        return;
    currentFilter = filter;
    reload();
}

void DecisionsModel::resetLiveState()
{
    changePending = false;
    changeUpdated = false;
    changeMinMs = 0;
}

void DecisionsModel::requestCount(bool full)
{
    PagedCacheTable::requestCount(full ? 0 : knownUpperKey(), full);
}

void DecisionsModel::sendCountRequest(CacheWorker *worker, quint64 id, qint64 afterMs)
{
    const DecisionFilter filter = currentFilter;
    QMetaObject::invokeMethod(
        worker, [worker, id, filter, afterMs] { worker->requestDecisionCount(id, filter, afterMs); },
        Qt::QueuedConnection);
}

void DecisionsModel::onChanged(int inserted, int updated, qint64 minDecidedAtMs, qint64 maxDecidedAtMs)
{
    Q_UNUSED(inserted);
    Q_UNUSED(maxDecidedAtMs);
    if (!changePending || minDecidedAtMs < changeMinMs)
        changeMinMs = minDecidedAtMs;
    changePending = true;
    changeUpdated = changeUpdated || updated > 0;
    if (!isCounting() && isCounted())
        startRecount();
}

void DecisionsModel::countAnswered()
{
    startRecount();
}

void DecisionsModel::startRecount()
{
    if (!changePending)
        return;
    // Rows that only went after the snapshot's newest can be counted from there and leave
    // every row the view has where it is. A changed row, or one decided at or before that
    // time, may have moved rows: count again from scratch and refetch the pages.
    const bool full = changeUpdated || changeMinMs <= knownUpperKey();
    changePending = false;
    changeUpdated = false;
    changeMinMs = 0;
    requestCount(full);
}

void DecisionsModel::sendPageRequest(CacheWorker *worker, quint64 id, int page, PageRequest request,
                                     qint64 upperMs) const
{
    request.upperMs = upperMs;
    const QList<DecisionRow> *before = pageRows(page - 1);
    const QList<DecisionRow> *after = pageRows(page + 1);
    if (before && before->size() == kPageSize) {
        request.afterMs = before->last().decidedAtMs;
        request.afterDigest = before->last().digest;
    } else if (after && !after->isEmpty()) {
        request.beforeMs = after->first().decidedAtMs;
        request.beforeDigest = after->first().digest;
    }
    const DecisionFilter filter = currentFilter;
    QMetaObject::invokeMethod(
        worker, [worker, id, filter, request] { worker->requestDecisionsPage(id, filter, request); },
        Qt::QueuedConnection);
}

} // namespace ticketsync
