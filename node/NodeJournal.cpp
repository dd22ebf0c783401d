#include "NodeJournal.h"

#include "JsonObjectWriter.h"
#include "SqliteStatement.h"
#include "WalCheckpointer.h"

#include <QJsonDocument>
#include <QLoggingCategory>
#include <cerrno>
#include <iterator>
#include <sqlite3.h>

Q_LOGGING_CATEGORY(lcJournal, "ticketsync.node.journal", QtWarningMsg)

namespace ticketsync {

namespace {

// Entry i takes a journal from schema version i to i + 1, in one transaction with the bump.
// Version 0 may be a journal from before versions were numbered, so its tables are created only
// where missing.
constexpr const char *kMigrations[] = {
    R"(
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS submissions (
    digest BLOB PRIMARY KEY,
    write_off BLOB NOT NULL,
    received_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    undetermined INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    ticket TEXT NOT NULL,
    version INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    state INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    height INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_ticket ON decisions(ticket, id);
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions(at_ms, id);
CREATE INDEX IF NOT EXISTS decisions_by_outcome ON decisions(outcome, id);
)",
    // 1 -> 2: submissions in arrival order. Keyed by digest, every insert and every delete wrote
    // a random page; in arrival order both land on the few newest pages. The node finds a
    // digest's row through its own map (NodeJournal::submissionIds).
    R"(
CREATE TABLE submissions_by_arrival (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL,
    write_off BLOB NOT NULL,
    received_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    undetermined INTEGER NOT NULL DEFAULT 0
);
INSERT INTO submissions_by_arrival(digest, write_off, received_ms, attempts, undetermined)
    SELECT digest, write_off, received_ms, attempts, undetermined FROM submissions ORDER BY received_ms;
DROP TABLE submissions;
ALTER TABLE submissions_by_arrival RENAME TO submissions;
)",
};
static_assert(std::size(kMigrations) == NodeJournal::kSchemaVersion);

} // namespace

namespace {

// The stored body is the whole frame: the body's fields after type, seq, at_ms and kind. Journals
// written before held only the body.
constexpr QByteArrayView kFramePrefix("{\"type\":\"event\",");

QByteArray eventFrame(const QByteArray &bodyJson, qint64 seq, qint64 atMs, const QString &kind)
{
    QByteArray frame = JsonObjectWriter()
                           .addAscii(QLatin1StringView("type"), QByteArrayLiteral("event"))
                           .add(QLatin1StringView("seq"), seq)
                           .add(QLatin1StringView("at_ms"), atMs)
                           .add(QLatin1StringView("kind"), kind)
                           .finish();
    if (bodyJson.size() > 2) { // not "{}": its fields join the frame's
        frame.chop(1);
        frame.append(',').append(QByteArrayView(bodyJson).sliced(1));
    }
    return frame;
}

} // namespace

NodeJournal::~NodeJournal()
{
    if (db) {
        if (!unstored.empty()) {
            QString problem;
            if (!commit(&problem))
                qCCritical(lcJournal) << unstored.size() << "journal writes were never stored:" << problem;
        }
        checkpointer.reset();
        statements.clear();
        sqlite3_close(db);
    }
}

QString NodeJournal::sqliteError(int systemError) const
{
    QString message = QString::fromUtf8(sqlite3_errmsg(db));
    // SQLite says "disk I/O error" for any failed write; the system's reason tells an operator
    // which it was: no space left, a file too large, a failing device.
    const int code = sqlite3_errcode(db) & 0xff; // the primary code, extended or not
    if ((code == SQLITE_IOERR || code == SQLITE_FULL) && systemError != 0)
        message += QStringLiteral(" (%1)").arg(qt_error_string(systemError));
    return message;
}

bool NodeJournal::run(const char *sql, QString *error)
{
    // SQLite keeps no errno for a failed write to the WAL (sqlite3_system_errno() stays 0), so
    // the one the write left is read right after the call.
    errno = 0;
    if (statements.run(sql, nullptr))
        return true;
    const int systemError = errno;
    if (error)
        *error = QStringLiteral("%1: %2").arg(filePath, sqliteError(systemError));
    return false;
}

bool NodeJournal::exec(const char *sql, QString *error) const
{
    char *message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(filePath,
                                                  QString::fromUtf8(message ? message : "unknown error"));
        sqlite3_free(message);
        return false;
    }
    return true;
}

std::unique_ptr<NodeJournal> NodeJournal::open(const QString &path, QString *error)
{
    std::unique_ptr<NodeJournal> journal(new NodeJournal);
    journal->filePath = path;
    if (sqlite3_open_v2(path.toUtf8().constData(), &journal->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr) != SQLITE_OK) {
        if (error)
            *error = QStringLiteral("%1: cannot open the journal: %2").arg(path, journal->sqliteError());
        return nullptr;
    }
    // SQLite falls back to reading a file it may not write; every event would then be lost.
    if (sqlite3_db_readonly(journal->db, "main") == 1) {
        if (error)
            *error = QStringLiteral("%1: the journal is read-only to this process (see the file's owner and "
                                    "mode); a node must be able to write it")
                         .arg(path);
        return nullptr;
    }
    sqlite3_busy_timeout(journal->db, 5000);
    journal->statements.setDatabase(journal->db, path);
    if (!journal->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", error))
        return nullptr;
    journal->checkpointer = WalCheckpointer::attach(journal->db, path, error);
    if (!journal->checkpointer)
        return nullptr;
    qint64 found = 0;
    {
        // Finished before the migrations: a live statement keeps their DROP TABLE from running.
        SqliteStatement version(journal->db, "PRAGMA user_version");
        if (version.step() != SQLITE_ROW) {
            if (error)
                *error = QStringLiteral("%1: not a ticketsync journal: %2").arg(path, journal->sqliteError());
            return nullptr;
        }
        found = version.integer(0);
    }
    // A negative version is no journal's: migrating from it would index before the first entry.
    if (found < 0) {
        if (error)
            *error =
                QStringLiteral("%1: not a ticketsync journal: its schema version is %2").arg(path).arg(found);
        return nullptr;
    }
    if (found > kSchemaVersion) {
        if (error)
            *error = QStringLiteral("%1: journal schema version %2 is newer than this build (%3)")
                         .arg(path)
                         .arg(found)
                         .arg(kSchemaVersion);
        return nullptr;
    }
    for (qint64 from = found; from < kSchemaVersion; ++from) {
        const QByteArray bump = "PRAGMA user_version = " + QByteArray::number(from + 1) + "; COMMIT";
        QString problem;
        if (!journal->exec("BEGIN IMMEDIATE", &problem) || !journal->exec(kMigrations[from], &problem) ||
            !journal->exec(bump.constData(), &problem)) {
            journal->exec("ROLLBACK", nullptr);
            if (error)
                *error = QStringLiteral("migrating the journal from schema %1 to %2 failed: %3")
                             .arg(from)
                             .arg(from + 1)
                             .arg(problem);
            return nullptr;
        }
    }
    if (!journal->loadSubmissionIds(error) || !journal->loadSeqRange(error))
        return nullptr;
    return journal;
}

bool NodeJournal::loadSeqRange(QString *error)
{
    SqliteStatement last(db, "SELECT COALESCE(MAX(seq), 0), COALESCE(MIN(seq), 0) FROM events");
    if (last.step() != SQLITE_ROW) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(filePath, sqliteError());
        return false;
    }
    nextSeq = last.integer(0) + 1;
    oldestSeq = last.integer(1) > 0 ? last.integer(1) : nextSeq;
    return true;
}

bool NodeJournal::begin(QString *error)
{
    if (!open_) {
        if (!run("BEGIN IMMEDIATE", error))
            return false;
        open_ = true;
    }
    return true;
}

void NodeJournal::rollback()
{
    // SQLite may have rolled back already (an I/O error in COMMIT does), or not.
    if (!sqlite3_get_autocommit(db))
        statements.run("ROLLBACK", nullptr);
    open_ = false;
}

void NodeJournal::write(Write write)
{
    unstored.push_back(std::move(write));
    if (replayNeeded)
        return;
    QString problem;
    if (!begin(&problem) || !apply(unstored.back(), &problem)) {
        // Not logged here: the commit that follows fails with the problem, and its caller says so.
        replayNeeded = true;
    }
}

bool NodeJournal::apply(const Write &write, QString *error)
{
    return std::visit([this, error](const auto &each) { return apply(each, error); }, write);
}

bool NodeJournal::stepped(SqliteStatement &statement, const char *what, QString *error) const
{
    errno = 0; // as in run()
    if (statement.step() == SQLITE_DONE)
        return true;
    const int systemError = errno;
    if (error)
        *error = QStringLiteral("%1: cannot %2: %3")
                     .arg(filePath, QLatin1StringView(what), sqliteError(systemError));
    return false;
}

bool NodeJournal::commit(QString *error)
{
    if (unstored.empty() && !open_)
        return true;
    QString problem;
    if (!replayNeeded) {
        if (run("COMMIT", &problem)) {
            open_ = false;
            unstored.clear();
            return true;
        }
    } else {
        // What an open transaction holds is incomplete: it starts again, with every kept write.
        rollback();
        bool applied = begin(&problem);
        for (auto it = unstored.cbegin(); applied && it != unstored.cend(); ++it)
            applied = apply(*it, &problem);
        if (applied && run("COMMIT", &problem)) {
            open_ = false;
            replayNeeded = false;
            // What an outage kept may be large: its memory goes back, not just its elements.
            std::vector<Write>().swap(unstored);
            return true;
        }
    }
    // The tables are back where the last good commit left them; the writes wait for the next.
    rollback();
    replayNeeded = true;
    if (error)
        *error = problem;
    return false;
}

JournalEvent NodeJournal::appendEvent(const QString &kind, const QByteArray &bodyJson, qint64 atMs)
{
    const qint64 seq = nextSeq++;
    QByteArray frame = eventFrame(bodyJson, seq, atMs, kind);
    write(EventRow{seq, atMs, kind, frame});
    return {seq, std::move(frame), kind};
}

bool NodeJournal::apply(const EventRow &row, QString *error)
{
    SqliteStatement insert(statements,
                           "INSERT OR REPLACE INTO events(seq, at_ms, kind, body) VALUES (?, ?, ?, ?)");
    insert.bind(1, row.seq);
    insert.bind(2, row.atMs);
    insert.bind(3, row.kind);
    insert.bindUtf8NoCopy(4, row.frame);
    return stepped(insert, "store an event", error);
}

void NodeJournal::pruneEvents(qint64 keep)
{
    // Small steps, so pruning a long backlog never stalls the node.
    constexpr qint64 kRowsPerStep = 5000;
    const qint64 upTo = qMin(nextSeq - keep, oldestSeq + kRowsPerStep); // exclusive
    if (upTo <= oldestSeq)
        return;
    write(EventsPruned{upTo});
    oldestSeq = upTo;
}

bool NodeJournal::apply(const EventsPruned &pruned, QString *error)
{
    SqliteStatement remove(statements, "DELETE FROM events WHERE seq < ?");
    remove.bind(1, pruned.beforeSeq);
    return stepped(remove, "prune events", error);
}

std::optional<quint64> NodeJournal::lastHeightAnnounced(const QString &kind, qint64 searched,
                                                        QString *error) const
{
    // No index on kind: read backwards from the newest event, no further than `searched`.
    SqliteStatement query(
        statements, "SELECT seq, body FROM events WHERE seq > ? AND kind = ? ORDER BY seq DESC LIMIT 1");
    query.bind(1, nextSeq - 1 - searched);
    query.bind(2, kind);
    const int step = query.step();
    if (step == SQLITE_DONE)
        return 0;
    if (step != SQLITE_ROW) {
        if (error)
            *error = QStringLiteral("%1: cannot read the last %2 event: %3")
                         .arg(filePath, kind, QString::fromUtf8(sqlite3_errmsg(db)));
        return std::nullopt;
    }
    const QJsonValue height = QJsonDocument::fromJson(query.blob(1)).object().value(u"height");
    if (!height.isDouble() || height.toDouble() < 1) {
        if (error)
            *error = QStringLiteral("%1: event %2 (%3) names no block height")
                         .arg(filePath)
                         .arg(query.integer(0))
                         .arg(kind);
        return std::nullopt;
    }
    return quint64(height.toDouble());
}

QList<JournalEvent> NodeJournal::events(qint64 fromSeq, int limit) const
{
    QList<JournalEvent> result;
    SqliteStatement query(statements,
                          "SELECT seq, at_ms, kind, body FROM events WHERE seq >= ? ORDER BY seq LIMIT ?");
    query.bind(1, fromSeq);
    query.bind(2, qint64(limit));
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
        const qint64 seq = query.integer(0);
        QByteArray stored = query.blob(3);
        const QString kind = query.text(2);
        if (!stored.startsWith(kFramePrefix)) {
            // Written before rows held the whole frame: the body alone, frame fields added here.
            QJsonObject body = QJsonDocument::fromJson(stored).object();
            body.remove(u"type");
            body.remove(u"seq");
            body.remove(u"at_ms");
            body.remove(u"kind");
            stored =
                eventFrame(QJsonDocument(body).toJson(QJsonDocument::Compact), seq, query.integer(1), kind);
        }
        result.append({seq, stored, kind});
    }
    // The page ends early; the reader asks again from where it ended.
    if (rc != SQLITE_DONE)
        qCCritical(lcJournal).noquote()
            << filePath << ": cannot read events from" << fromSeq + result.size() << ":" << sqliteError();
    return result;
}

bool NodeJournal::loadSubmissionIds(QString *error)
{
    submissionIds.clear();
    SqliteStatement query(statements, "SELECT id, digest FROM submissions");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
        submissionIds.insert(query.blob(1), query.integer(0));
        nextSubmissionId = qMax(nextSubmissionId, query.integer(0) + 1);
    }
    if (rc != SQLITE_DONE) {
        const QString problem =
            QStringLiteral("%1: cannot read the submissions: %2").arg(filePath, sqliteError());
        qCCritical(lcJournal) << problem;
        if (error)
            *error = problem;
        return false;
    }
    return true;
}

void NodeJournal::putSubmission(const QByteArray &digest, const QByteArray &writeOff, qint64 receivedMs)
{
    if (submissionIds.contains(digest))
        return;
    const qint64 id = nextSubmissionId++;
    submissionIds.insert(digest, id);
    write(SubmissionRow{id, digest, writeOff, receivedMs});
}

bool NodeJournal::apply(const SubmissionRow &row, QString *error)
{
    SqliteStatement insert(
        statements,
        "INSERT OR REPLACE INTO submissions(id, digest, write_off, received_ms) VALUES (?, ?, ?, ?)");
    insert.bind(1, row.id);
    insert.bind(2, row.digest);
    insert.bind(3, row.writeOff);
    insert.bind(4, row.receivedMs);
    return stepped(insert, "store a submission", error);
}

void NodeJournal::updateSubmission(const QByteArray &digest, int attempts, bool undetermined)
{
    const qint64 id = submissionIds.value(digest);
    if (id != 0)
        write(SubmissionUpdate{id, attempts, undetermined});
}

bool NodeJournal::apply(const SubmissionUpdate &update, QString *error)
{
    SqliteStatement statement(statements,
                              "UPDATE submissions SET attempts = ?, undetermined = ? WHERE id = ?");
    statement.bind(1, qint64(update.attempts));
    statement.bind(2, qint64(update.undetermined ? 1 : 0));
    statement.bind(3, update.id);
    return stepped(statement, "update a submission", error);
}

void NodeJournal::removeSubmission(const QByteArray &digest)
{
    const qint64 id = submissionIds.take(digest);
    if (id != 0)
        write(SubmissionRemoval{id});
}

bool NodeJournal::apply(const SubmissionRemoval &removal, QString *error)
{
    SqliteStatement remove(statements, "DELETE FROM submissions WHERE id = ?");
    remove.bind(1, removal.id);
    return stepped(remove, "remove a submission", error);
}

bool NodeJournal::hasSubmission(const QByteArray &digest) const
{
    return submissionIds.contains(digest);
}

QList<PendingSubmission> NodeJournal::pendingSubmissions(QString *error) const
{
    QList<PendingSubmission> result;
    SqliteStatement query(statements,
                          "SELECT digest, write_off, received_ms, attempts, undetermined FROM submissions "
                          "ORDER BY id");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
        PendingSubmission pending;
        pending.digest = query.blob(0);
        pending.writeOff = query.blob(1);
        pending.receivedMs = query.integer(2);
        pending.attempts = int(query.integer(3));
        pending.undetermined = query.integer(4) != 0;
        result.append(pending);
    }
    // Part of the list would leave the rest accepted and never tallied.
    if (rc != SQLITE_DONE) {
        *error = QStringLiteral("%1: cannot read the submissions after %2 of them: %3")
                     .arg(filePath)
                     .arg(result.size())
                     .arg(sqliteError());
        return {};
    }
    return result;
}

void NodeJournal::recordDecision(const QByteArray &digest, const QString &ticketId, quint32 version,
                                 const QString &outcome, int state, qint64 atMs, const QByteArray &decision)
{
    write(DecisionRow{digest, ticketId, version, outcome, state, atMs, decision});
}

bool NodeJournal::apply(const DecisionRow &row, QString *error)
{
    const auto insert = [&] {
        SqliteStatement statement(statements,
                                  "INSERT OR IGNORE INTO decisions(digest, ticket, version, outcome, state, "
                                  "at_ms, height, data) VALUES (?, ?, ?, ?, ?, ?, 0, ?)");
        statement.bind(1, row.digest);
        statement.bind(2, row.ticketId);
        statement.bind(3, qint64(row.version));
        statement.bind(4, row.outcome);
        statement.bind(5, qint64(row.state));
        statement.bind(6, row.atMs);
        statement.bind(7, row.decision);
        return stepped(statement, "record a decision", error);
    };
    if (!insert())
        return false;
    if (sqlite3_changes(db) > 0)
        return true;
    // A later outcome (an UNDETERMINED write-off retried and decided) is a new row with a new id:
    // history pages by id, and a client that read down to the old one would never see it. A
    // sealed row stays as it is.
    SqliteStatement earlier(statements, "DELETE FROM decisions WHERE digest = ? AND height = 0");
    earlier.bind(1, row.digest);
    if (!stepped(earlier, "replace a decision", error))
        return false;
    return sqlite3_changes(db) == 0 || insert();
}

void NodeJournal::markSealed(const QByteArray &digest, quint64 height)
{
    write(DecisionSealed{digest, height});
}

bool NodeJournal::apply(const DecisionSealed &sealed, QString *error)
{
    // Only the row changes: no indexed column does.
    SqliteStatement update(statements, "UPDATE decisions SET height = ?, data = x'' WHERE digest = ?");
    update.bind(1, qint64(sealed.height));
    update.bind(2, sealed.digest);
    return stepped(update, "record the block of a decision", error);
}

QList<HistoryRow> NodeJournal::history(const HistoryQuery &query, QString *error) const
{
    static constexpr HistoryColumns kColumns{"id", "ticket", "at_ms", "outcome"};
    return readHistory(
        db, filePath,
        "SELECT id, digest, ticket, version, outcome, state, at_ms, height FROM decisions WHERE 1", kColumns,
        query, error);
}

std::optional<QByteArray> NodeJournal::decisionBytes(const QByteArray &digest, quint64 *height) const
{
    SqliteStatement query(statements, "SELECT data, height FROM decisions WHERE digest = ?");
    query.bind(1, digest);
    if (query.step() != SQLITE_ROW)
        return std::nullopt;
    if (height)
        *height = quint64(query.integer(1));
    return query.blob(0);
}

} // namespace ticketsync
