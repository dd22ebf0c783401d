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
class NodeJournal
{
public:
    static constexpr int kSchemaVersion = 2;
    ~NodeJournal();
    static std::unique_ptr<NodeJournal> open(const QString &path, QString *error);

    // Stores the event under the next sequence number and returns its frame; seq 0 on failure.
    // bodyJson: a compact JSON object, as JsonObjectWriter or QJsonDocument writes it.
    JournalEvent appendEvent(const QString &kind, const QByteArray &bodyJson, qint64 atMs);
    QList<JournalEvent> events(qint64 fromSeq, int limit) const;
    qint64 lastSeq() const { return nextSeq - 1; }
    // The oldest event still kept.
    qint64 firstSeq() const { return oldestSeq; }
    // Deletes the oldest events beyond the newest `keep`, a bounded number per call.
    void pruneEvents(qint64 keep);

    void putSubmission(const QByteArray &digest, const QByteArray &writeOff, qint64 receivedMs);
    void updateSubmission(const QByteArray &digest, int attempts, bool undetermined);
    void removeSubmission(const QByteArray &digest);
    QList<PendingSubmission> pendingSubmissions() const;
    bool hasSubmission(const QByteArray &digest) const;

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

    bool commit(QString *error);
    bool inTransaction() const { return open_; }

private:
    NodeJournal() = default;
    bool exec(const char *sql, QString *error) const;
    void begin();
    QString sqliteError() const;
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
    bool open_ = false;
};

} // namespace ticketsync
