#include "FeedModel.h"

#include "CacheSchema.h"
#include "CacheWorker.h"
#include "ConfirmationState.h"

#include <QDateTime>
#include <QLoggingCategory>

Q_LOGGING_CATEGORY(lcFeedModel, "ticketsync.ui.feedmodel", QtWarningMsg)

namespace ticketsync {

FeedModel::FeedModel(CacheWorker *worker, QObject *parent) : PagedCacheTable(worker, ColumnCount, parent)
{
    connect(worker, &CacheWorker::feedCountReady, this, &FeedModel::onCount);
    connect(worker, &CacheWorker::feedPageReady, this, &FeedModel::onPage);
    connect(worker, &CacheWorker::feedAppended, this, &FeedModel::onAppended);
    requestCount(0);
}

FeedModel::~FeedModel() = default;

QVariant FeedModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const FeedRow *row = rowAt(index.row());
    if (!row)
        return placeholderData(index.row(), role, LoadedRole);
    const bool issued = row->kind == CacheSchema::kFeedIssued;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case TimeColumn:
            return formatTime(row->atMs);
        case KindColumn:
            return issued ? tr("Issued") : tr("Confirmation");
        case TicketColumn:
            return row->ticket;
        case VersionColumn:
            return row->version;
        case BranchColumn:
            return row->branch;
        case TargetColumn:
            return row->target;
        case StateColumn:
            return issued ? QString() : stateLabel(row->state);
        case VerdictColumn:
            return verdictLabel(row->verdict);
        case NodeColumn:
            return row->node;
        }
        return {};
    case Qt::ToolTipRole:
        if (index.column() == StateColumn && !issued)
            return stateName(quint16(row->state));
        if (index.column() == TimeColumn)
            return QDateTime::fromMSecsSinceEpoch(row->atMs, Qt::UTC).toString(Qt::ISODateWithMs);
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() == VersionColumn)
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case Qt::BackgroundRole:
        return issued ? QVariant() : QVariant(stateBackground(row->state));
    case Qt::ForegroundRole:
        return issued ? QVariant() : QVariant(stateForeground(row->state));
    case StateCodeRole:
        return row->state;
    case DigestRole:
        return row->digest;
    case KindRole:
        return row->kind;
    case NodeRole:
        return row->node;
    case TicketRole:
        return row->ticket;
    case TimeMsRole:
        return row->atMs;
    case LoadedRole:
        return true;
    case FeedIdRole:
        return row->id;
    }
    return {};
}

QVariant FeedModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case TimeColumn:
        return tr("Time");
    case KindColumn:
        return tr("Kind");
    case TicketColumn:
        //: The ticket (票据) id
        return tr("Ticket");
    case VersionColumn:
        return tr("Version");
    case BranchColumn:
        return tr("Branch");
    case TargetColumn:
        //: The target node that confirmed
        return tr("Target");
    case StateColumn:
        return tr("State");
    case VerdictColumn:
        //: How the coordinator's tally classified the confirmation
        return tr("Verdict");
    case NodeColumn:
        //: The node the row came from
        return tr("Source node");
    }
    return {};
}

QHash<int, QByteArray> FeedModel::roleNames() const
{
    QHash<int, QByteArray> names = QAbstractTableModel::roleNames();
    names.insert(StateCodeRole, "stateCode");
    names.insert(DigestRole, "digest");
    names.insert(KindRole, "kind");
    names.insert(NodeRole, "node");
    names.insert(TicketRole, "ticket");
    names.insert(TimeMsRole, "timeMs");
    names.insert(LoadedRole, "loaded");
    names.insert(FeedIdRole, "feedId");
    return names;
}

void FeedModel::setFilter(const FeedFilter &filter)
{
    if (filter == currentFilter && isCounted())
        return;
    currentFilter = filter;
    reload();
}

void FeedModel::resetLiveState()
{
    recountWanted = false;
}

void FeedModel::requestCount(qint64 afterId)
{
    PagedCacheTable::requestCount(afterId, afterId == 0);
}

void FeedModel::sendCountRequest(CacheWorker *worker, quint64 id, qint64 afterId)
{
    const FeedFilter filter = currentFilter;
    QMetaObject::invokeMethod(
        worker, [worker, id, filter, afterId] { worker->requestFeedCount(id, filter, afterId); },
        Qt::QueuedConnection);
}

void FeedModel::countAnswered()
{
    if (recountWanted || latestFeedId > knownUpperKey()) {
        recountWanted = false;
        requestCount(knownUpperKey());
    }
}

void FeedModel::onAppended(qint64 maxFeedId)
{
    latestFeedId = qMax(latestFeedId, maxFeedId);
    if (isCounting()) {
        recountWanted = true; // one count at a time; the next starts when this one answers
        return;
    }
    if (isCounted() && maxFeedId > knownUpperKey())
        requestCount(knownUpperKey());
}

void FeedModel::sendPageRequest(CacheWorker *worker, quint64 id, int page, PageRequest request,
                                qint64 upperId) const
{
    request.upperId = upperId;
    // Seek by key from a neighbouring page when one is in memory.
    const QList<FeedRow> *before = pageRows(page - 1);
    const QList<FeedRow> *after = pageRows(page + 1);
    if (before && before->size() == kPageSize)
        request.afterId = before->last().id;
    else if (after && !after->isEmpty())
        request.beforeId = after->first().id;
    const FeedFilter filter = currentFilter;
    QMetaObject::invokeMethod(
        worker, [worker, id, filter, request] { worker->requestFeedPage(id, filter, request); },
        Qt::QueuedConnection);
}

// --- Shared presentation ------------------------------------------------------------------

QString FeedModel::stateLabel(int stateCode)
{
    switch (stateCode) {
    case int(ConfirmationState::WrittenOff):
        //: Confirmation state: the ticket was written off (核销)
        return tr("Written off");
    case int(ConfirmationState::AlreadyWrittenOff):
        return tr("Already written off");
    case int(ConfirmationState::AmountMismatch):
        return tr("Amount mismatch");
    case int(ConfirmationState::UnknownTicket):
        return tr("Unknown ticket");
    case int(ConfirmationState::InvalidRequest):
        return tr("Invalid request");
    case int(ConfirmationState::TicketFrozen):
        return tr("Ticket frozen");
    case 0:
        return QString();
    }
    return stateName(quint16(stateCode));
}

QString FeedModel::verdictLabel(const QString &verdict)
{
    if (verdict.isEmpty())
        return {};
    if (verdict == QLatin1String("counted"))
        //: A confirmation the tally counted
        return tr("counted");
    if (verdict == QLatin1String("equivocation"))
        return tr("equivocation");
    if (verdict == QLatin1String("bad-signature"))
        return tr("bad signature");
    if (verdict == QLatin1String("not-member"))
        return tr("not a member");
    if (verdict == QLatin1String("wrong-digest"))
        return tr("wrong write-off");
    if (verdict == QLatin1String("after-outcome"))
        return tr("after the outcome");
    return verdict;
}

// Light backgrounds with dark text of the same hue: each pair is above 7:1 contrast (WCAG AAA)
// and the hue is never the only cue, since the state is also written in the row.
QColor FeedModel::stateBackground(int stateCode, bool undetermined)
{
    if (undetermined)
        return QColor(0xe2, 0xe3, 0xe5); // grey
    switch (stateCode) {
    case int(ConfirmationState::WrittenOff):
        return QColor(0xd4, 0xed, 0xda); // green
    case int(ConfirmationState::AlreadyWrittenOff):
    case int(ConfirmationState::TicketFrozen):
        return QColor(0xff, 0xf3, 0xcd); // amber
    case int(ConfirmationState::AmountMismatch):
    case int(ConfirmationState::UnknownTicket):
    case int(ConfirmationState::InvalidRequest):
        return QColor(0xf8, 0xd7, 0xda); // red
    }
    return QColor(0xe2, 0xe3, 0xe5);
}

QColor FeedModel::stateForeground(int stateCode, bool undetermined)
{
    if (undetermined)
        return QColor(0x2b, 0x2f, 0x33);
    switch (stateCode) {
    case int(ConfirmationState::WrittenOff):
        return QColor(0x0b, 0x3d, 0x17);
    case int(ConfirmationState::AlreadyWrittenOff):
    case int(ConfirmationState::TicketFrozen):
        return QColor(0x53, 0x3f, 0x03);
    case int(ConfirmationState::AmountMismatch):
    case int(ConfirmationState::UnknownTicket):
    case int(ConfirmationState::InvalidRequest):
        return QColor(0x58, 0x15, 0x1c);
    }
    return QColor(0x2b, 0x2f, 0x33);
}

QString FeedModel::formatTime(qint64 ms)
{
    if (ms <= 0)
        return QString();
    return QDateTime::fromMSecsSinceEpoch(ms).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss.zzz"));
}

} // namespace ticketsync
