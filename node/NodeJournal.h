#pragma once

#include "HistoryQuery.h"
#include "SqliteStatement.h"

#include <QByteArray>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace ticketsync {

class WalCheckpointer;

// One event as a subscriber receives it: a complete "event" frame of docs/api.md.
struct JournalEvent
{
    qint64 seq = 0;
    QByteArray frame; // compact JSON, UTF-8: a text frame as it goes on the wire
    QString kind;     // the frame's "kind", for subscribers that asked for some kinds only
};

// A write-off the coordinator accepted and has not yet seen into the ledger.
struct PendingSubmission
{
    QByteArray digest;
    QByteArray writeOff; // canonical bytes
    qint64 receivedMs = 0;
    int attempts = 0;
    bool undetermined = false; // left for an operator after the retry limit
};

// A node's own journal beside its ledger store: the event stream with its sequence numbers,
// the coordinator's accepted submissions and its decision history, which the API pages through
// (every other node's history is its ledger).
// Writes go into one open transaction that commit() closes, so a burst of messages costs
// one flush; nothing is announced or acknowledged before the commit that holds it.
// A commit that fails (disk full, I/O error, file size limit) loses nothing: every write since
// the last good commit is kept, as what it was, and applied again in the next transaction, so
// the tables end up as the node's memory already takes them to be. Until a commit succeeds,
// reads see what is durable and new writes wait in memory.
class NodeJournal
{
public:
    static constexpr int kSchemaVersion = 2;
    ~NodeJournal();
    static std::unique_ptr<NodeJournal> open(const QString &path, QString *error);

    // Stores the event under the next sequence number and returns its frame. The number is the
    // event's for good: a failed commit keeps the event for the next one, under the same number.
    // bodyJson: a compact JSON object, as JsonObjectWriter or QJsonDocument writes it.
    JournalEvent appendEvent(const QString &kind, const QByteArray &bodyJson, qint64 atMs);
    QList<JournalEvent> events(qint64 fromSeq, int limit) const;
    qint64 lastSeq() const { return nextSeq - 1; }
    // The oldest event still kept.
    qint64 firstSeq() const { return oldestSeq; }
    // Deletes the oldest events beyond the newest `keep`, a bounded number per call.
    void pruneEvents(qint64 keep);
    // The height named by the newest event of `kind` (block_appended) among the newest
    // `searched` events, 0 if there is none; nullopt with the problem if it cannot be read.
    std::optional<quint64> lastHeightAnnounced(const QString &kind, qint64 searched, QString *error) const;

    void putSubmission(const QByteArray &digest, const QByteArray &writeOff, qint64 receivedMs);
    void updateSubmission(const QByteArray &digest, int attempts, bool undetermined);
    void removeSubmission(const QByteArray &digest);
    // In order of arrival; empty with *error set when the table cannot be read to its end.
    QList<PendingSubmission> pendingSubmissions(QString *error) const;
    bool hasSubmission(const QByteArray &digest) const;
    // Its place in the order of arrival: larger is later; 0 when the journal holds no such one.
    qint64 submissionArrival(const QByteArray &digest) const { return submissionIds.value(digest); }

    // One row per tally outcome, not yet in a block; a later outcome for the same write-off
    // replaces it until the decision is sealed. A sealed row stays as it is: its block is the
    // record, and nothing decided later can move it out of that block.
    void recordDecision(const QByteArray &digest, const QString &ticketId, quint32 version,
                        const QString &outcome, int state, qint64 atMs, const QByteArray &decision);
    // The decision is in the block at this height now, which holds its bytes.
    void markSealed(const QByteArray &digest, quint64 height);
    QList<HistoryRow> history(const HistoryQuery &query, QString *error) const;
    // The stored decision bytes (empty when only its block holds them) and its block height.
    std::optional<QByteArray> decisionBytes(const QByteArray &digest, quint64 *height = nullptr) const;

    // False with the problem if the writes are not stored yet; they are kept, and the next
    // commit tries them all again.
    bool commit(QString *error);
    bool inTransaction() const { return open_; }
    // Writes since the last good commit, which a crash now would lose.
    qsizetype unstoredWrites() const { return qsizetype(unstored.size()); }

private:
    // Each write as it was asked for, kept until a commit holds it. Applying one again after a
    // commit whose outcome SQLite could not tell leaves the same row, not a second one.
    struct EventRow
    {
        qint64 seq;
        qint64 atMs;
        QString kind;
        QByteArray frame;
    };
    struct EventsPruned
    {
        qint64 beforeSeq;
    };
    struct SubmissionRow
    {
        qint64 id;
        QByteArray digest;
        QByteArray writeOff;
        qint64 receivedMs;
    };
    struct SubmissionUpdate
    {
        qint64 id;
        int attempts;
        bool undetermined;
    };
    struct SubmissionRemoval
    {
        qint64 id;
    };
    struct DecisionRow
    {
        QByteArray digest;
        QString ticketId;
        quint32 version;
        QString outcome;
        int state;
        qint64 atMs;
        QByteArray decision;
    };
    struct DecisionSealed
    {
        QByteArray digest;
        quint64 height;
    };
    using Write = std::variant<EventRow, EventsPruned, SubmissionRow, SubmissionUpdate, SubmissionRemoval,
                               DecisionRow, DecisionSealed>;

    NodeJournal() = default;
    bool exec(const char *sql, QString *error) const;
    bool run(const char *sql, QString *error); // a cached statement, error as sqliteError() words it
    // Keeps the write and applies it in the open transaction, unless the transaction already
    // failed: then it waits for the next commit, which applies every kept write again.
    void write(Write write);
    bool apply(const Write &write, QString *error);
    bool apply(const EventRow &row, QString *error);
    bool apply(const EventsPruned &pruned, QString *error);
    bool apply(const SubmissionRow &row, QString *error);
    bool apply(const SubmissionUpdate &update, QString *error);
    bool apply(const SubmissionRemoval &removal, QString *error);
    bool apply(const DecisionRow &row, QString *error);
    bool apply(const DecisionSealed &sealed, QString *error);
    bool stepped(SqliteStatement &statement, const char *what, QString *error) const;
    bool begin(QString *error);
    void rollback();
    // The connection's last error; with the system's reason for a failed read or write.
    QString sqliteError(int systemError = 0) const;
    bool loadSubmissionIds(QString *error);
    bool loadSeqRange(QString *error); // nextSeq and oldestSeq from the events table

    sqlite3 *db = nullptr;
    mutable SqliteStatementCache statements;
    std::unique_ptr<WalCheckpointer> checkpointer; // detached before db closes
    QString filePath;
    qint64 nextSeq = 1;
    qint64 oldestSeq = 1;
    // Every stored submission's row id by its write-off digest: the table has no index by digest.
    QHash<QByteArray, qint64> submissionIds;
    qint64 nextSubmissionId = 1; // chosen here, so a row applied again gets the id it had
    std::vector<Write> unstored; // since the last good commit, in order
    bool open_ = false;
    // A write or commit failed: the open transaction, if any, no longer holds every kept write.
    bool replayNeeded = false;
};

} // namespace ticketsync
