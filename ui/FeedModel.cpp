#include "FeedModel.h"

#include "CacheSchema.h"
#include "CacheWorker.h"
#include "ConfirmationState.h"

#include <QDateTime>
#include <QLoggingCategory>

#include <algorithm>
#include <limits>

Q_LOGGING_CATEGORY(lcFeedModel, "ticketsync.ui.feedmodel", QtWarningMsg)

namespace ticketsync {

namespace {
constexpr int kMaxPagesInFlight = 4;
constexpr int kMaxWantedPages = 16;

int clampRows(qint64 rows)
{
    return int(std::clamp<qint64>(rows, 0, std::numeric_limits<int>::max()));
}
} // namespace

FeedModel::FeedModel(CacheWorker *worker, QObject *parent) : QAbstractTableModel(parent), worker(worker)
{
    Q_ASSERT(worker);
    connect(worker, &CacheWorker::feedCountReady, this, &FeedModel::onCount);
    connect(worker, &CacheWorker::feedPageReady, this, &FeedModel::onPage);
    connect(worker, &CacheWorker::feedAppended, this, &FeedModel::onAppended);
    connect(worker, &CacheWorker::opened, this, [this](bool ok) {
        if (ok)
            reload();
    });
    requestCount(0);
}

FeedModel::~FeedModel() = default;

int FeedModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : visible;
}

int FeedModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

const FeedRow *FeedModel::rowAt(int row) const
{
    if (row < 0 || row >= visible)
        return nullptr;
    const auto found = pages.find(row / kPageSize);
    if (found == pages.end() || row % kPageSize >= found->rows.size())
        return nullptr;
    found->lastUse = ++useClock;
    return &found->rows.at(row % kPageSize);
}

QVariant FeedModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const FeedRow *row = rowAt(index.row());
    if (!row) {
        requestPageFor(index.row());
        if (role == Qt::DisplayRole)
            return QStringLiteral("…");
        if (role == LoadedRole)
            return false;
        return {};
    }
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
    if (filter == currentFilter && counted)
        return;
    currentFilter = filter;
    reload();
}

void FeedModel::reload()
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
    recountWanted = false;
    countRequest = 0;
    endResetModel();
    requestCount(0);
}

void FeedModel::setPaused(bool pause)
{
    if (pause == paused)
        return;
    paused = pause;
    if (!paused)
        applyVisible();
    Q_EMIT pausedChanged(paused);
}

void FeedModel::setFollowNewest(bool value)
{
    if (value == follow)
        return;
    follow = value;
    Q_EMIT followNewestChanged(follow);
}

qint64 FeedModel::pendingRows() const
{
    return known - visible;
}

void FeedModel::requestCount(qint64 afterId)
{
    const quint64 id = CacheWorker::nextRequestId();
    countRequest = id;
    countAfter = afterId;
    CacheWorker *target = worker;
    if (!target)
        return;
    const FeedFilter filter = currentFilter;
    QMetaObject::invokeMethod(
        target, [target, id, filter, afterId] { target->requestFeedCount(id, filter, afterId); },
        Qt::QueuedConnection);
}

void FeedModel::onCount(quint64 requestId, qint64 count, qint64 upperId)
{
    if (requestId != countRequest)
        return; // another model's, or one from before a reset
    countRequest = 0;
    const bool first = !counted;
    if (countAfter == 0) {
        known = count;
        knownUpper = upperId;
    } else if (upperId > knownUpper) {
        known += count;
        knownUpper = upperId;
    }
    counted = true;
    if (first) {
        // The first count fills the view at once (no "append" of the whole history).
        beginResetModel();
        visible = clampRows(known);
        visibleUpper = knownUpper;
        endResetModel();
        Q_EMIT countReady(known);
    } else {
        applyVisible();
    }
    if (recountWanted || latestFeedId > knownUpper) {
        recountWanted = false;
        requestCount(knownUpper);
    }
}

void FeedModel::onAppended(qint64 maxFeedId)
{
    latestFeedId = qMax(latestFeedId, maxFeedId);
    if (countRequest != 0) {
        recountWanted = true; // one count at a time; the next starts when this one answers
        return;
    }
    if (counted && maxFeedId > knownUpper)
        requestCount(knownUpper);
}

void FeedModel::applyVisible()
{
    if (paused || !counted)
        return;
    const int target = clampRows(known);
    if (target > visible) {
        const int first = visible;
        beginInsertRows(QModelIndex(), first, target - 1);
        visible = target;
        visibleUpper = knownUpper;
        endInsertRows();
        Q_EMIT rowsAppended(first, target - 1);
    } else {
        // No new rows match the filter: the snapshot's bound still moves, so pages stay exact.
        visibleUpper = knownUpper;
    }
}

void FeedModel::requestPageFor(int row) const
{
    // A page that came back short for rows the view already had is not asked for again
    // (the cache cannot have more); rows appended since then are.
    const auto found = pages.constFind(row / kPageSize);
    if (found != pages.cend() && row < found->visibleAtFetch)
        return;
    requestPage(row / kPageSize);
}

void FeedModel::requestPage(int page) const
{
    if (pagesInFlight.contains(page))
        return;
    if (pagesInFlight.size() >= kMaxPagesInFlight) {
        // Scrolling fast: remember the most recent pages wanted, drop the oldest.
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
    request.upperId = visibleUpper;
    // Seek by key from a neighbouring page when one is in memory.
    const auto before = pages.constFind(page - 1);
    const auto after = pages.constFind(page + 1);
    if (before != pages.cend() && before->rows.size() == kPageSize)
        request.afterId = before->rows.last().id;
    else if (after != pages.cend() && !after->rows.isEmpty())
        request.beforeId = after->rows.first().id;
    const quint64 id = CacheWorker::nextRequestId();
    pageRequests.insert(id, {page, visible});
    pagesInFlight.insert(page);
    CacheWorker *target = worker;
    if (!target)
        return;
    const FeedFilter filter = currentFilter;
    QMetaObject::invokeMethod(
        target, [target, id, filter, request] { target->requestFeedPage(id, filter, request); },
        Qt::QueuedConnection);
}

void FeedModel::onPage(quint64 requestId, int offset, const QList<FeedRow> &rows)
{
    const auto found = pageRequests.constFind(requestId);
    if (found == pageRequests.cend())
        return;
    const int page = found->page;
    const int visibleAtFetch = found->visibleAtFetch;
    pageRequests.erase(found);
    pagesInFlight.remove(page);
    Q_UNUSED(offset);
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
