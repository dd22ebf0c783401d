#include "PagedCacheModel.h"

#include "CacheWorker.h"
#include "HistoryCache.h"

#include <algorithm>
#include <limits>

namespace ticketsync {

namespace {
constexpr int kMaxPagesInFlight = 4;
constexpr int kMaxWantedPages = 16;

int clampRows(qint64 rows)
{
    return int(std::clamp<qint64>(rows, 0, std::numeric_limits<int>::max()));
}
} // namespace

PagedCacheModel::PagedCacheModel(CacheWorker *worker, int columns, QObject *parent)
    : QAbstractTableModel(parent), worker(worker), columns(columns)
{
    Q_ASSERT(worker);
    connect(worker, &CacheWorker::opened, this, [this](bool ok) {
        if (ok)
            reload();
    });
}

PagedCacheModel::~PagedCacheModel() = default;

int PagedCacheModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : visible;
}

int PagedCacheModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : columns;
}

void PagedCacheModel::reload()
{
    beginResetModel();
    clearPages();
    pageRequests.clear();
    pagesInFlight.clear();
    wantedPages.clear();
    visible = 0;
    visibleUpper = 0;
    known = 0;
    knownUpper = 0;
    counted = false;
    countRequest = 0;
    invalidate = false;
    resetLiveState();
    endResetModel();
    requestCount(0, true);
}

void PagedCacheModel::setPaused(bool pause)
{
    if (pause == paused)
        return;
    paused = pause;
    if (!paused)
        applyVisible();
    Q_EMIT pausedChanged(paused);
}

void PagedCacheModel::setFollowNewest(bool value)
{
    if (value == follow)
        return;
    follow = value;
    Q_EMIT followNewestChanged(follow);
}

qint64 PagedCacheModel::pendingRows() const
{
    return known - visible;
}

void PagedCacheModel::requestCount(qint64 after, bool full)
{
    const quint64 id = CacheWorker::nextRequestId();
    countRequest = id;
    countFull = full;
    CacheWorker *target = worker;
    if (!target)
        return;
    sendCountRequest(target, id, after);
}

void PagedCacheModel::onCount(quint64 requestId, qint64 count, qint64 upper)
{
    if (requestId != countRequest)
        return; // another model's, or one from before a reset
    countRequest = 0;
    const bool first = !counted;
    if (countFull) {
        known = count;
        knownUpper = upper;
        invalidate = invalidate || (!first && fullRecountMovesRows());
    } else if (upper > knownUpper) {
        known += count;
        knownUpper = upper;
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
    countAnswered();
}

void PagedCacheModel::applyVisible()
{
    if (paused || !counted)
        return;
    const int target = clampRows(known);
    if (invalidate) {
        invalidate = false;
        clearPages();
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
            Q_EMIT dataChanged(index(0, 0), index(visible - 1, columns - 1));
    }
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

QVariant PagedCacheModel::placeholderData(int row, int role, int loadedRole) const
{
    requestPageFor(row);
    if (role == Qt::DisplayRole)
        return QStringLiteral("…");
    if (role == loadedRole)
        return false;
    return {};
}

void PagedCacheModel::requestPageFor(int row) const
{
    if (pageCovers(row))
        return;
    requestPage(row / kPageSize);
}

void PagedCacheModel::requestPage(int page) const
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
    const quint64 id = CacheWorker::nextRequestId();
    pageRequests.insert(id, {page, visible});
    pagesInFlight.insert(page);
    CacheWorker *target = worker;
    if (!target)
        return;
    PageRequest request;
    request.offset = page * kPageSize;
    request.limit = kPageSize;
    request.total = visible;
    sendPageRequest(target, id, page, request, visibleUpper);
}

bool PagedCacheModel::takePageRequest(quint64 requestId, int *page, int *visibleAtFetch)
{
    const auto found = pageRequests.constFind(requestId);
    if (found == pageRequests.cend())
        return false;
    *page = found->page;
    *visibleAtFetch = found->visibleAtFetch;
    pageRequests.erase(found);
    pagesInFlight.remove(*page);
    return true;
}

void PagedCacheModel::pageStored(int page, int rows)
{
    const int first = page * kPageSize;
    const int last = qMin(visible, first + rows) - 1;
    if (last >= first)
        Q_EMIT dataChanged(index(first, 0), index(last, columns - 1));
    while (!wantedPages.isEmpty() && pagesInFlight.size() < kMaxPagesInFlight) {
        const int next = wantedPages.takeLast();
        if (!hasPage(next) && next * kPageSize < visible)
            requestPage(next);
    }
}

} // namespace ticketsync
