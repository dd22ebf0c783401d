#pragma once

#include <QByteArray>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QMetaType>
#include <QString>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

struct sqlite3;

namespace ticketsync {

// What the live feed view filters on. Empty strings and zero times mean "any".
struct FeedFilter
{
    QString ticket;
    QString branch;
    QString target;
    int state = -1;              // -1 any; 0 issued rows only; 1.. confirmations with that state code
    qint64 fromMs = 0, toMs = 0; // at_ms range, inclusive; 0 = open
    bool isEmpty() const;
    bool operator==(const FeedFilter &other) const = default;
};

// What the decisions view filters on. Empty strings and zero times mean "any".
struct DecisionFilter
{
    QString ticket;
    QString outcome;             // "DECIDED", "UNDETERMINED" or empty
    qint64 fromMs = 0, toMs = 0; // decided_at_ms range, inclusive; 0 = open
    bool isEmpty() const;
    bool operator==(const DecisionFilter &other) const = default;
};

// One row of the feed table (CacheSchema.h).
struct FeedRow
{
    qint64 id = 0;
    QString node;
    qint64 seq = 0;
    qint64 atMs = 0;
    int kind = 0; // CacheSchema::kFeedIssued or kFeedConfirmation
    QByteArray digest;
    QString ticket;
    qint64 version = 0;
    QString branch;
    QString target;
    int state = 0;
    QString verdict;
    qint64 amountMinor = 0;
    QString currency;
};

// One row of the decisions table. Pages leave `certificate` empty; decision() fills it.
struct DecisionRow
{
    QByteArray digest;
    QString node;
    QString ticket;
    qint64 version = 0;
    QString branch;
    qint64 amountMinor = 0;
    QString currency;
    QString outcome;
    int state = 0;
    int count = 0;
    int n = 0;
    int q = 0;
    int missing = 0;
    int equivocating = 0;
    QJsonObject histogram; // state name -> count
    qint64 issuedAtMs = 0;
    qint64 decidedAtMs = 0;
    qint64 latencyMs = 0;
    qint64 height = 0;
    QByteArray certificate; // canonical Decision bytes, when known
    QByteArray proof;       // decision() only: compact InclusionProof JSON, once fetched for a sealed one
};

// A certificate from a node's `decisions` answer, checked against the digest asked for.
struct FetchedCertificate
{
    QByteArray digest;
    QByteArray decision; // canonical Decision bytes
    QByteArray proof;    // compact InclusionProof JSON; empty while the decision is not sealed
    qint64 height = 0;   // the proof's block; 0 without one
};

struct ConfirmationRow
{
    QByteArray digest;
    QString target;
    int state = 0;
    QString verdict;
    qint64 atMs = 0;
    QByteArray confirmation; // canonical StateConfirmation bytes
};

struct BlockRow
{
    QString node;
    qint64 height = 0;
    QByteArray hash;
    int decisions = 0;
    qint64 timestampMs = 0;
};

struct ReceiverRow
{
    QString receiver;
    QString node;
    QString status; // in_sync, lagging, unreachable
    qint64 ackedHeight = 0;
    qint64 headHeight = 0;
    qint64 lagBlocks = 0;
    qint64 lagMs = 0;
    QString lastError;
    qint64 lastContactMs = 0;
    qint64 asOfMs = 0;
};

struct AlertTrailEntry
{
    qint64 id = 0;
    qint64 alertId = 0;
    qint64 atMs = 0;
    QString who;
    QString action; // raised, acknowledged (by an operator), resolved (by the console itself)
    QString note;
};

struct AlertRow
{
    qint64 id = 0;
    QString kind; // undetermined, receiver_lagging, equivocation, stale_data, gap
    QString subject;
    QString detail;
    qint64 raisedAtMs = 0;
    QString acknowledgedBy; // empty while open
    qint64 acknowledgedAtMs = 0;
    bool isAcknowledged() const { return !acknowledgedBy.isEmpty(); }
};

// An open alert the cache closed by itself: an 'undetermined' one whose write-off a retry
// decided. The alert as it now stands (acknowledgedBy/acknowledgedAtMs set) and the trail
// entry that closed it (action "resolved", note e.g. "decided WRITTEN_OFF after retry").
struct ResolvedAlert
{
    AlertRow alert;
    AlertTrailEntry entry;
};

struct GapRow
{
    QString node;
    qint64 fromSeq = 0;
    qint64 toSeq = 0;
    qint64 noticedAtMs = 0;
};

// What one ingest() call did. stored + duplicates + skipped == events given.
struct IngestReport
{
    int stored = 0;       // new events, stored and mapped into the view tables
    int duplicates = 0;   // (node, seq) already in the cache; ignored
    int skipped = 0;      // malformed: not mapped (kept raw in `events` when its seq was usable)
    QString firstProblem; // why the first skipped event was skipped
    qint64 lastSeq = 0;   // the node's cursor after the batch
    bool refused = false; // nothing was stored (the cache could not be written): fetch it again
    int feedRows = 0;     // feed rows added
    int decisionsInserted = 0;
    int decisionsUpdated = 0;
    qint64 minDecidedAtMs = 0; // smallest decided_at_ms written to decisions (0 if none)
    bool receiversChanged = false;
    bool blocksChanged = false;
    QList<AlertRow> alerts;              // alerts newly raised (or re-opened) by the batch
    QList<ResolvedAlert> resolvedAlerts; // open alerts the batch closed, in the order it did

    // Folds another report (a later batch) into this one.
    void merge(const IngestReport &later);
};

// Where a page sits in a snapshot of the ordered rows, and what the caller already knows
// about its neighbours, so the query can seek by key instead of skipping `offset` rows.
struct PageRequest
{
    int offset = 0;
    int limit = 256;
    qint64 total = -1; // rows in the snapshot, if known: lets pages near the end read backwards
    // Feed: only rows with id <= upperId (0 = no bound). Decisions: decided_at_ms <= upperMs.
    qint64 upperId = 0;
    qint64 upperMs = 0;
    // Keyset hints. Feed: afterId = id of the row just before `offset`, beforeId = id of the
    // row just after the page. Decisions: the (decided_at_ms, digest) of those rows.
    qint64 afterId = 0, beforeId = 0;
    qint64 afterMs = 0, beforeMs = 0;
    QByteArray afterDigest, beforeDigest;
};

// A count over a snapshot: `count` rows with key <= `upper` (feed id, or decided_at_ms).
struct CountResult
{
    qint64 count = 0;
    qint64 upper = 0;
};

// The console's local SQLite history cache (schema in CacheSchema.h). A plain class: not
// thread-safe, one instance per thread, each with its own SQLite connection. Writers and
// readers on other threads share the file through WAL.
class HistoryCache
{
public:
    enum class OpenStatus
    {
        Ok,
        NewerVersion, // written by a newer console; left untouched
        NotACache,    // some other file or database; left untouched
        Corrupt,      // a cache that fails the checks: moveAside() and start fresh
        IoError,      // cannot open or create the file at all
    };

    enum class Mode
    {
        ReadWrite, // creates and migrates as needed
        ReadOnly,  // for readers such as exports; the file must exist at the current version
    };

    HistoryCache();
    ~HistoryCache();
    HistoryCache(const HistoryCache &) = delete;
    HistoryCache &operator=(const HistoryCache &) = delete;

    // Opens (and creates or migrates) the cache. On failure, error names the file and what is
    // wrong, and openStatus() says whether moveAside() is the right answer.
    bool open(const QString &path, QString *error, Mode mode = Mode::ReadWrite);
    void close();
    bool isOpen() const { return db != nullptr; }
    OpenStatus openStatus() const { return status; }
    const QString &path() const { return filePath; }
    QString lastError() const { return problem; }

    // Renames a broken cache (and its -wal/-shm files) to "<path>.broken-<time>" so a fresh
    // one can take its place; newPath gets the new name.
    static bool moveAside(const QString &path, QString *newPath, QString *error = nullptr);

    // Copies committed pages from the WAL into the database file (a passive checkpoint: it
    // never blocks a writer). CacheWorker runs it on a thread of its own, so the fsync it
    // needs never stalls ingest. Returns false on an SQLite error.
    bool checkpoint();
    // After how many WAL pages a commit checkpoints by itself (SQLite's autocheckpoint);
    // 0 turns that off. open() sets 8192 (32 MiB).
    void setAutoCheckpoint(int pages);

    // --- Writing -------------------------------------------------------------------------
    // Stores one batch of a node's events (docs/api.md "Events") in ONE transaction, together
    // with the node's cursor. Never throws or crashes on malformed input: it is counted.
    IngestReport ingest(const QString &node, const QList<QJsonObject> &events);
    qint64 lastSeq(const QString &node) const;
    QHash<QString, qint64> cursors() const;
    // Ties the cache to a network on first use; afterwards only that network may feed it.
    // False, with a message naming both networks and the file, for any other.
    bool bindNetwork(const QString &caSha256, const QString &consortium, QString *error);
    // The CA fingerprint of the network the cache belongs to; empty before its first connection.
    QString networkCa() const;
    // DECIDED write-offs decided in [fromMs, toMs) whose certificate or inclusion proof the cache
    // does not hold yet (a decision_made event carries only the summary; a proof exists once the
    // decision is sealed), oldest first, at most limit.
    QList<QByteArray> unprovenDecisions(qint64 fromMs, qint64 toMs, int limit) const;
    // Records a range of events the node could no longer send, and raises a 'gap' alert.
    bool recordGap(const QString &node, qint64 fromSeq, qint64 toSeq,
                   std::optional<AlertRow> *raised = nullptr);
    QList<GapRow> gaps() const;

    // Raises an alert unless an open one of that kind and subject exists; an acknowledged one
    // is re-opened. Returns the alert when it is new or re-opened.
    // error: set when the cache could not store it (then lastError() says the same), left empty
    // when nothing new was raised because an open one exists.
    std::optional<AlertRow> raiseAlert(const QString &kind, const QString &subject, const QString &detail,
                                       QString *error = nullptr);
    // The alert recordGap() raises for that range, as it would be stored.
    static AlertRow gapAlert(const QString &node, qint64 fromSeq, qint64 toSeq);
    // Closes an open alert whose cause is gone (e.g. data flows again), with a trail entry by
    // "console"; nothing if there is no open one.
    std::optional<ResolvedAlert> resolveAlert(const QString &kind, const QString &subject,
                                              const QString &note);
    bool acknowledgeAlert(qint64 id, const QString &who, const QString &note, QString *error = nullptr);
    QList<AlertRow> alerts(bool openOnly = false) const;
    std::optional<AlertRow> alert(qint64 id) const;
    QList<AlertTrailEntry> alertTrail(qint64 alertId = 0) const; // 0: the whole trail
    // Receiver lag past these raises 'receiver_lagging' on receiver_status events (0 = off).
    void setLagThresholds(qint64 blocks, qint64 ms);

    bool setCertificate(const QByteArray &digest, const QByteArray &decisionBytes);
    // Certificates from a node's `decisions` answers, checked, in one transaction.
    bool storeCertificates(const QList<FetchedCertificate> &certificates);
    bool setDecisionHeight(const QByteArray &digest, qint64 height);

    // --- Reading (every query is served by an index) --------------------------------------
    qint64 maxFeedId() const;
    CountResult feedCount(const FeedFilter &filter, qint64 afterId = 0, qint64 upperId = 0) const;
    QList<FeedRow> feedPage(const FeedFilter &filter, const PageRequest &page) const;

    qint64 maxDecidedAtMs() const;
    // Rows with afterMs < decided_at_ms <= upperMs (0 = open ends; upper defaults to the newest).
    CountResult decisionCount(const DecisionFilter &filter, qint64 afterMs = 0, qint64 upperMs = 0) const;
    // Ordered by (decided_at_ms, digest), oldest first.
    QList<DecisionRow> decisionsPage(const DecisionFilter &filter, const PageRequest &page) const;
    // Streams every matching decision, oldest first, without holding them all (exports).
    // Stops when the callback returns false. Returns false on an SQLite error.
    bool forEachDecision(const DecisionFilter &filter, bool withCertificates,
                         const std::function<bool(const DecisionRow &)> &callback) const;
    std::optional<DecisionRow> decision(const QByteArray &digest) const;
    QList<ConfirmationRow> confirmations(const QByteArray &digest) const;
    QList<FeedRow> feedForDigest(const QByteArray &digest) const;
    QList<BlockRow> blocks(const QString &node = {}, qint64 fromHeight = 0, int limit = 1000) const;
    QList<ReceiverRow> receivers() const;
    qint64 eventCount(const QString &node = {}) const;
    qint64 maxStoredSeq(const QString &node) const;

private:
    struct Statements;
    bool fail(const QString &message, OpenStatus openStatus);
    // Runs work in one write transaction: its result if it commits, nothing otherwise.
    template<typename Result, typename Work> std::optional<Result> inTransaction(Work work);
    std::optional<AlertRow> raiseAlertInTransaction(const QString &kind, const QString &subject,
                                                    const QString &detail, bool *stored = nullptr);
    // Closes the alert if it exists and is open, with a "resolved" trail entry.
    std::optional<ResolvedAlert> resolveAlertInTransaction(const QString &kind, const QString &subject,
                                                           const QString &note);
    bool feedIsDense() const;
    // The smallest and largest feed id with at_ms in the range (0, 0 if none).
    std::pair<qint64, qint64> feedIdsInTime(qint64 fromMs, qint64 toMs) const;
    bool exec(const char *sql, QString *error = nullptr) const;
    bool checkStructure(QString *error);
    bool migrate(int from, QString *error);
    QString sqliteError() const;

    sqlite3 *db = nullptr;
    QString filePath;
    OpenStatus status = OpenStatus::Ok;
    QString problem;
    qint64 lagBlocks = 0;
    qint64 lagMs = 0;
    std::unique_ptr<Statements> statements;
    mutable bool denseChecked = false;
    mutable bool dense = false;
    struct TimeIds
    {
        qint64 first = 0, last = 0, asOf = 0;
    };
    mutable QHash<std::pair<qint64, qint64>, TimeIds> timeIds;
};

} // namespace ticketsync

Q_DECLARE_METATYPE(ticketsync::FeedFilter)
Q_DECLARE_METATYPE(ticketsync::DecisionFilter)
Q_DECLARE_METATYPE(ticketsync::FeedRow)
Q_DECLARE_METATYPE(ticketsync::DecisionRow)
Q_DECLARE_METATYPE(ticketsync::ConfirmationRow)
Q_DECLARE_METATYPE(ticketsync::ReceiverRow)
Q_DECLARE_METATYPE(ticketsync::AlertRow)
Q_DECLARE_METATYPE(ticketsync::AlertTrailEntry)
Q_DECLARE_METATYPE(ticketsync::IngestReport)
Q_DECLARE_METATYPE(ticketsync::PageRequest)
Q_DECLARE_METATYPE(ticketsync::CountResult)
