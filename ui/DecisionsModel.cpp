#include "DecisionsModel.h"

#include "CacheWorker.h"
#include "ConfirmationState.h"
#include "FeedModel.h"

#include <QDateTime>
#include <QLoggingCategory>

#include <algorithm>
#include <limits>

Q_LOGGING_CATEGORY(lcDecisionsModel, "ticketsync.ui.decisionsmodel", QtWarningMsg)

namespace ticketsync {

namespace {
constexpr int kMaxPagesInFlight = 4;
constexpr int kMaxWantedPages = 16;

int clampRows(qint64 rows)
{
    return int(std::clamp<qint64>(rows, 0, std::numeric_limits<int>::max()));
}

bool isUndetermined(const DecisionRow &row)
{
    return row.outcome == QLatin1String("UNDETERMINED");
}
} // namespace

DecisionsModel::DecisionsModel(CacheWorker *worker, QObject *parent)
    : QAbstractTableModel(parent), worker(worker)
{
    Q_ASSERT(worker);
    connect(worker, &CacheWorker::decisionCountReady, this, &DecisionsModel::onCount);
    connect(worker, &CacheWorker::decisionsPageReady, this, &DecisionsModel::onPage);
    connect(worker, &CacheWorker::decisionsChanged, this, &DecisionsModel::onChanged);
    connect(worker, &CacheWorker::opened, this, [this](bool ok) {
        if (ok)
            reload();
    });
    requestCount(true);
}

DecisionsModel::~DecisionsModel() = default;

int DecisionsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : visible;
}

int DecisionsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

const DecisionRow *DecisionsModel::rowAt(int row) const
{
    if (row < 0 || row >= visible)
        return nullptr;
    const auto found = pages.find(row / kPageSize);
    if (found == pages.end() || row % kPageSize >= found->rows.size())
        return nullptr;
    found->lastUse = ++useClock;
    return &found->rows.at(row % kPageSize);
}

QVariant DecisionsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const DecisionRow *row = rowAt(index.row());
    if (!row) {
        requestPageFor(index.row());
        if (role == Qt::DisplayRole)
            return QStringLiteral("…");
        if (role == LoadedRole)
            return false;
        return {};
    }
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
    if (filter == currentFilter && counted)
        return;
    currentFilter = filter;
    reload();
}

void DecisionsModel::reload()
{
    beginResetModel();
    pages.clear();
    pageRequests.clear();
    pagesInFlight.clear();
    wantedPages.clear();
    visible = 0;
    visibleUpper = 0;
    known = 0;
    knownUpper = 0;
    counted = false;
    countRequest = 0;
    changePending = false;
    changeUpdated = false;
    changeMinMs = 0;
    invalidate = false;
    endResetModel();
    requestCount(true);
}

void DecisionsModel::setPaused(bool pause)
{
    if (pause == paused)
        return;
    paused = pause;
    if (!paused)
        applyVisible();
    Q_EMIT pausedChanged(paused);
}

void DecisionsModel::setFollowNewest(bool value)
{
    if (value == follow)
        return;
    follow = value;
    Q_EMIT followNewestChanged(follow);
}

qint64 DecisionsModel::pendingRows() const
{
    return known - visible;
}

void DecisionsModel::requestCount(bool full)
{
    const quint64 id = CacheWorker::nextRequestId();
    countRequest = id;
    countFull = full;
    const qint64 afterMs = full ? 0 : knownUpper;
    CacheWorker *target = worker;
    if (!target)
        return;
    const DecisionFilter filter = currentFilter;
    QMetaObject::invokeMethod(
        target, [target, id, filter, afterMs] { target->requestDecisionCount(id, filter, afterMs); },
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
    if (countRequest == 0 && counted)
        startRecount();
}

void DecisionsModel::startRecount()
{
    if (!changePending)
        return;
    // Rows that only went after the snapshot's newest can be counted from there and leave
    // every row the view has where it is. A changed row, or one decided at or before that
    // time, may have moved rows: count again from scratch and refetch the pages.
    const bool full = changeUpdated || changeMinMs <= knownUpper;
    changePending = false;
    changeUpdated = false;
    changeMinMs = 0;
    requestCount(full);
}

void DecisionsModel::onCount(quint64 requestId, qint64 count, qint64 upperMs)
{
    if (requestId != countRequest)
        return;
    countRequest = 0;
    const bool first = !counted;
    if (countFull) {
        known = count;
        knownUpper = upperMs;
        invalidate = invalidate || !first;
    } else if (upperMs > knownUpper) {
        known += count;
        knownUpper = upperMs;
    }
    counted = true;
    if (first) {
        beginResetModel();
        visible = clampRows(known);
        visibleUpper = knownUpper;
        endResetModel();
        Q_EMIT countReady(known);
    } else {
        applyVisible();
    }
    startRecount();
}

void DecisionsModel::applyVisible()
{
    if (paused || !counted)
        return;
    const int target = clampRows(known);
    if (invalidate) {
        invalidate = false;
        pages.clear();
        pageRequests.clear(); // answers to these may predate the change
        pagesInFlight.clear();
        wantedPages.clear();
        if (target < visible) {
            beginRemoveRows(QModelIndex(), target, visible - 1);
            visible = target;
            endRemoveRows();
        }
        visibleUpper = knownUpper;
        if (visible > 0)
            Q_EMIT dataChanged(index(0, 0), index(visible - 1, ColumnCount - 1));
    }
    if (target > visible) {
        const int first = visible;
        beginInsertRows(QModelIndex(), first, target - 1);
        visible = target;
        visibleUpper = knownUpper;
        endInsertRows();
        Q_EMIT rowsAppended(first, target - 1);
    } else {
        visibleUpper = knownUpper;
    }
}

void DecisionsModel::requestPageFor(int row) const
{
    const auto found = pages.constFind(row / kPageSize);
    if (found != pages.cend() && row < found->visibleAtFetch)
        return;
    requestPage(row / kPageSize);
}

void DecisionsModel::requestPage(int page) const
{
    if (pagesInFlight.contains(page))
        return;
    if (pagesInFlight.size() >= kMaxPagesInFlight) {
        wantedPages.removeAll(page);
        wantedPages.append(page);
        if (wantedPages.size() > kMaxWantedPages)
            wantedPages.removeFirst();
        return;
    }
    PageRequest request;
    request.offset = page * kPageSize;
    request.limit = kPageSize;
    request.total = visible;
    request.upperMs = visibleUpper;
    const auto before = pages.constFind(page - 1);
    const auto after = pages.constFind(page + 1);
    if (before != pages.cend() && before->rows.size() == kPageSize) {
        request.afterMs = before->rows.last().decidedAtMs;
        request.afterDigest = before->rows.last().digest;
    } else if (after != pages.cend() && !after->rows.isEmpty()) {
        request.beforeMs = after->rows.first().decidedAtMs;
        request.beforeDigest = after->rows.first().digest;
    }
    const quint64 id = CacheWorker::nextRequestId();
    pageRequests.insert(id, {page, visible});
    pagesInFlight.insert(page);
    CacheWorker *target = worker;
    if (!target)
        return;
    const DecisionFilter filter = currentFilter;
    QMetaObject::invokeMethod(
        target, [target, id, filter, request] { target->requestDecisionsPage(id, filter, request); },
        Qt::QueuedConnection);
}

void DecisionsModel::onPage(quint64 requestId, int offset, const QList<DecisionRow> &rows)
{
    Q_UNUSED(offset);
    const auto found = pageRequests.constFind(requestId);
    if (found == pageRequests.cend())
        return;
    const int page = found->page;
    const int visibleAtFetch = found->visibleAtFetch;
    pageRequests.erase(found);
    pagesInFlight.remove(page);
    pages.insert(page, Page{rows, ++useClock, visibleAtFetch});
    while (pages.size() > kMaxPages) {
        auto oldest = pages.begin();
        for (auto it = pages.begin(); it != pages.end(); ++it) {
            if (it->lastUse < oldest->lastUse)
                oldest = it;
        }
        pages.erase(oldest);
    }
    const int first = page * kPageSize;
    const int last = qMin(visible, first + int(rows.size())) - 1;
    if (last >= first)
        Q_EMIT dataChanged(index(first, 0), index(last, ColumnCount - 1));
    while (!wantedPages.isEmpty() && pagesInFlight.size() < kMaxPagesInFlight) {
        const int next = wantedPages.takeLast();
        if (!pages.contains(next) && next * kPageSize < visible)
            requestPage(next);
    }
}

} // namespace ticketsync
