#pragma once

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <QPointer>
#include <QSet>

namespace ticketsync {

class CacheWorker;
struct PageRequest;

// The paging shared by FeedModel and DecisionsModel: a table virtualized over the history
// cache. rowCount comes from a count query; rows come in pages of kPageSize through the
// CacheWorker (at most a few in flight, each with its own request id) and an LRU keeps at most
// kMaxPages in memory. A row whose page has not arrived shows "…" until it does (then
// dataChanged). New rows are appended live unless paused.
//
// This base holds the counting, the snapshot and the request bookkeeping; PagedCacheTable
// below stores the pages of one row type; the models supply the queries and the formatting.
class PagedCacheModel : public QAbstractTableModel
{
    Q_OBJECT
    Q_PROPERTY(bool paused READ isPaused WRITE setPaused NOTIFY pausedChanged)
    Q_PROPERTY(bool followNewest READ followNewest WRITE setFollowNewest NOTIFY followNewestChanged)

public:
    static constexpr int kPageSize = 256;
    static constexpr int kMaxPages = 40;

    ~PagedCacheModel() override;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;

    // Resets the model and counts again from scratch (e.g. after the cache was reopened).
    void reload();

    bool isPaused() const { return paused; }
    // Paused: the row count is frozen; rows ingested meanwhile are appended on resume.
    void setPaused(bool paused);
    bool followNewest() const { return follow; }
    // A hint for the view: scroll to the newest row whenever rows are appended.
    void setFollowNewest(bool follow);

    bool isCounting() const { return countRequest != 0; }
    // Rows that arrived while paused and will be appended on resume.
    qint64 pendingRows() const;

Q_SIGNALS:
    void pausedChanged(bool paused);
    void followNewestChanged(bool follow);
    // The first count after a reset or filter change arrived.
    void countReady(qint64 rows);
    // Rows were appended at the end (live mode); a view following the newest scrolls now.
    void rowsAppended(int first, int last);

protected:
    PagedCacheModel(CacheWorker *worker, int columns, QObject *parent);

    // --- Hooks for the model -----------------------------------------------------------------
    // Sends a count of the rows with key > after (0: all rows) under the current filter.
    virtual void sendCountRequest(CacheWorker *worker, quint64 id, qint64 after) = 0;
    // Sends a page request; `request` has offset, limit and total set. The model adds the
    // snapshot bound `upper` and its keyset hints from the neighbouring pages.
    virtual void sendPageRequest(CacheWorker *worker, quint64 id, int page, PageRequest request,
                                 qint64 upper) const = 0;
    // A count answered (after the view was updated): the model may start the next one.
    virtual void countAnswered() = 0;
    // Clears the model's own live state on reload.
    virtual void resetLiveState() {}
    // Whether a full recount after the first may have moved rows the view has, so every page
    // must be fetched again.
    virtual bool fullRecountMovesRows() const { return false; }

    // --- Hooks for the page store (PagedCacheTable) --------------------------------------
    virtual bool hasPage(int page) const = 0;
    // A page in memory that was fetched when the view already had `row`.
    virtual bool pageCovers(int row) const = 0;
    virtual void clearPages() = 0;

    // --- For the model and the page store ------------------------------------------------
    // Connected to the worker's count signal.
    void onCount(quint64 requestId, qint64 count, qint64 upper);
    // Asks for a count; `full` replaces what is known, otherwise the answer adds to it.
    void requestCount(qint64 after, bool full);
    // What data() answers for a row whose page is not in memory; asks for that page.
    QVariant placeholderData(int row, int role, int loadedRole) const;
    // Takes the bookkeeping of a page request; false if it is not (or no longer) ours.
    bool takePageRequest(quint64 requestId, int *page, int *visibleAtFetch);
    // A page of `rows` rows was stored: notifies the view and sends the pages still wanted.
    void pageStored(int page, int rows);

    int visibleRows() const { return visible; }
    bool isCounted() const { return counted; }
    qint64 knownUpperKey() const { return knownUpper; }

private:
    struct PendingPage
    {
        int page = 0;
        int visibleAtFetch = 0;
    };

    void requestPageFor(int row) const;
    void requestPage(int page) const;
    void applyVisible();

    QPointer<CacheWorker> worker; // the console may tear the cache down first
    const int columns;
    bool paused = false;
    bool follow = true;

    // The snapshot the view shows: `visible` rows, all with key <= visibleUpper.
    int visible = 0;
    qint64 visibleUpper = 0;
    // What the cache holds for this filter (ahead of the view while paused).
    qint64 known = 0;
    qint64 knownUpper = 0;
    bool counted = false;
    quint64 countRequest = 0;
    bool countFull = true;
    bool invalidate = false; // rows may have moved: refetch every page when next shown

    mutable QHash<quint64, PendingPage> pageRequests; // by request id
    mutable QList<int> wantedPages;                   // waiting for a free slot, newest last
    mutable QSet<int> pagesInFlight;
};

// The page store of one row type: a small LRU of pages of Row.
template<typename Row> class PagedCacheTable : public PagedCacheModel
{
public:
    // The row, if its page is in memory.
    const Row *rowAt(int row) const
    {
        if (row < 0 || row >= visibleRows())
            return nullptr;
        const auto found = pages.find(row / kPageSize);
        if (found == pages.end() || row % kPageSize >= found->rows.size())
            return nullptr;
        found->lastUse = ++useClock;
        return &found->rows.at(row % kPageSize);
    }

protected:
    using PagedCacheModel::PagedCacheModel;

    // The rows of a page in memory, for keyset hints; nullptr if it is not.
    const QList<Row> *pageRows(int page) const
    {
        const auto found = pages.constFind(page);
        return found == pages.cend() ? nullptr : &found->rows;
    }

    // Connected to the worker's page signal.
    void onPage(quint64 requestId, int offset, const QList<Row> &rows)
    {
        Q_UNUSED(offset);
        int page = 0;
        int visibleAtFetch = 0;
        if (!takePageRequest(requestId, &page, &visibleAtFetch))
            return;
        pages.insert(page, Page{rows, ++useClock, visibleAtFetch});
        while (pages.size() > kMaxPages) {
            auto oldest = pages.begin();
            for (auto it = pages.begin(); it != pages.end(); ++it) {
                if (it->lastUse < oldest->lastUse)
                    oldest = it;
            }
            pages.erase(oldest);
        }
        pageStored(page, int(rows.size()));
    }

    bool hasPage(int page) const override { return pages.contains(page); }

    bool pageCovers(int row) const override
    {
        // A page that came back short for rows the view already had is not asked for again
        // (the cache cannot have more); rows appended since then are.
        const auto found = pages.constFind(row / kPageSize);
        return found != pages.cend() && row < found->visibleAtFetch;
    }

    void clearPages() override { pages.clear(); }

private:
    struct Page
    {
        QList<Row> rows;
        quint64 lastUse = 0;
        int visibleAtFetch = 0; // the view's row count when the page was asked for
    };

    mutable QHash<int, Page> pages;
    mutable quint64 useClock = 0;
};

} // namespace ticketsync
