#include "LedgerStore.h"

#include "ConfirmationState.h"
#include "Sha256.h"
#include "SqliteStatement.h"
#include "WalCheckpointer.h"

#include <QDateTime>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QUrl>
#include <sqlite3.h>

Q_LOGGING_CATEGORY(lcStore, "ticketsync.core.store", QtWarningMsg)

namespace ticketsync {

namespace {

// Schema migrations: entry i takes the database from version i to version i + 1.
// Each runs in one transaction together with the version bump.
constexpr const char *kMigrations[] = {
    // 0 -> 1: the ledger, ticket states, the registry and the locks.
    "CREATE TABLE blocks ("
    "  height INTEGER PRIMARY KEY,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  previous_hash BLOB NOT NULL,"
    "  timestamp_ms INTEGER NOT NULL,"
    "  decision_count INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    // One row per decided write-off. Several write-offs may be decided for one (ticket,
    // version) - one WRITTEN_OFF and others ALREADY_WRITTEN_OFF, say - but never two
    // WRITTEN_OFF: the partial unique index makes a double write-off unstorable.
    "CREATE TABLE ticket_states ("
    "  write_off_digest BLOB PRIMARY KEY,"
    "  ticket_id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  height INTEGER NOT NULL,"
    "  decided_at_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX ticket_states_by_ticket ON ticket_states (ticket_id, version);"
    "CREATE UNIQUE INDEX ticket_states_one_write_off ON ticket_states (ticket_id, version) WHERE state = 1;"
    "CREATE TABLE tickets ("
    "  ticket_id TEXT PRIMARY KEY,"
    "  kind INTEGER NOT NULL,"
    "  face_amount_minor INTEGER NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  issuer TEXT NOT NULL,"
    "  written_off_version INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE TABLE ticket_locks ("
    "  ticket_id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  write_off_digest BLOB NOT NULL,"
    "  confirmation BLOB NOT NULL,"
    "  locked_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (ticket_id, version)) WITHOUT ROWID;",
    // 1 -> 2: frozen tickets, and an index for reading ticket states by block.
    "ALTER TABLE tickets ADD COLUMN frozen INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX ticket_states_by_height ON ticket_states (height);",
    // 2 -> 3: the decision history is read from the ledger, paged by each decision's place in
    // the chain; before, a node kept a second copy of every decision in its journal for that.
    "ALTER TABLE ticket_states ADD COLUMN seq INTEGER;"
    "UPDATE ticket_states SET seq = ranked.n FROM (SELECT write_off_digest AS digest, ROW_NUMBER() "
    "  OVER (ORDER BY height, decided_at_ms, write_off_digest) AS n FROM ticket_states) AS ranked "
    "  WHERE ranked.digest = ticket_states.write_off_digest;"
    "CREATE UNIQUE INDEX ticket_states_by_seq ON ticket_states (seq);"
    "CREATE INDEX ticket_states_by_time ON ticket_states (decided_at_ms, seq);",
    // 3 -> 4: fewer indexes to update per decision, each a random page on every append. The
    // history pages by seq, so the index by height has no reader left; and one unique index over
    // (ticket, version, 1 if written off else NULL) both finds a ticket's states and keeps a
    // second WRITTEN_OFF unstorable, since NULLs never collide.
    "DROP INDEX ticket_states_by_height;"
    "DROP INDEX ticket_states_one_write_off;"
    "DROP INDEX ticket_states_by_ticket;"
    "CREATE UNIQUE INDEX ticket_states_by_ticket ON ticket_states "
    "  (ticket_id, version, (CASE WHEN state = 1 THEN 1 END));",
};
static_assert(std::size(kMigrations) == LedgerStore::kSchemaVersion);

LedgerStore::OpenFailure failureOf(int sqliteCode)
{
    switch (sqliteCode & 0xff) {
    case SQLITE_NOTADB:
        return LedgerStore::OpenFailure::NotALedger;
    case SQLITE_CORRUPT:
        return LedgerStore::OpenFailure::Damaged;
    default:
        return LedgerStore::OpenFailure::CannotOpen;
    }
}

} // namespace

LedgerStore::~LedgerStore()
{
    checkpointer.reset();
    statements.clear();
    sqlite3_close_v2(db);
}

QString LedgerStore::sqliteError() const
{
    return QString::fromUtf8(sqlite3_errmsg(db));
}

bool LedgerStore::exec(const char *sql, QString *error) const
{
    char *message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK)
        return true;
    if (error)
        *error =
            QStringLiteral("%1: %2").arg(filePath, QString::fromUtf8(message ? message : "unknown error"));
    sqlite3_free(message);
    return false;
}

std::unique_ptr<LedgerStore> LedgerStore::open(const QString &path, QString *error)
{
    std::unique_ptr<LedgerStore> store(new LedgerStore);
    store->filePath = path;
    const QByteArray nativePath = path.toUtf8();
    if (sqlite3_open_v2(nativePath.constData(), &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr) != SQLITE_OK) {
        if (error)
            *error = QStringLiteral("%1: cannot open database: %2").arg(path, store->sqliteError());
        return nullptr;
    }
    // SQLite falls back to reading a file it may not write; the first append would then fail.
    if (sqlite3_db_readonly(store->db, "main") == 1) {
        if (error)
            *error = QStringLiteral("%1: the ledger is read-only to this process (see the file's owner and "
                                    "mode); a node must be able to write it")
                         .arg(path);
        return nullptr;
    }
    sqlite3_busy_timeout(store->db, 5000);
    store->statements.setDatabase(store->db, path);
    // Migrated first, so that a file found to be no ledger is left as it was, not switched to WAL.
    if (!store->migrate(error))
        return nullptr;
    // WAL with FULL sync: a committed write survives a crash or power loss.
    if (!store->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", error))
        return nullptr;
    store->checkpointer = WalCheckpointer::attach(store->db, path, error);
    if (!store->checkpointer)
        return nullptr;
    if (!store->loadHead(error))
        return nullptr;
    return store;
}

std::unique_ptr<LedgerStore> LedgerStore::openReadOnly(const QString &path, QString *error,
                                                       OpenFailure *failure)
{
    auto refuse = [&](OpenFailure why, const QString &message) -> std::unique_ptr<LedgerStore> {
        if (failure)
            *failure = why;
        if (error)
            *error = message;
        return nullptr;
    };
    if (failure)
        *failure = OpenFailure::None;
    const QFileInfo info(path);
    if (!info.exists())
        return refuse(OpenFailure::CannotOpen, QStringLiteral("%1: no such file").arg(path));
    if (!info.isFile())
        return refuse(OpenFailure::CannotOpen, QStringLiteral("%1: not a regular file").arg(path));

    std::unique_ptr<LedgerStore> store(new LedgerStore);
    store->filePath = path;
    store->readOnly = true;
    // With a write-ahead log beside it, committed writes may be in FILE-wal alone (a node has the
    // ledger open, or stopped without closing it): read through SQLite's locks. Without one the
    // file holds the whole ledger: open it immutable, so that SQLite creates nothing beside it.
    const QString wal = path + QStringLiteral("-wal");
    const bool logBeside = QFileInfo::exists(wal) || QFileInfo::exists(path + QStringLiteral("-journal"));
    QByteArray name = path.toUtf8();
    int flags = SQLITE_OPEN_READONLY;
    if (!logBeside) {
        name = "file://" + QUrl::toPercentEncoding(info.absoluteFilePath(), "/") + "?immutable=1";
        flags |= SQLITE_OPEN_URI;
    }
    if (sqlite3_open_v2(name.constData(), &store->db, flags, nullptr) != SQLITE_OK)
        return refuse(failureOf(sqlite3_extended_errcode(store->db)),
                      QStringLiteral("%1: cannot open database: %2").arg(path, store->sqliteError()));
    sqlite3_busy_timeout(store->db, 5000);
    store->statements.setDatabase(store->db, path);

    QString problem;
    OpenFailure why = store->checkReadableLedger(&problem);
    if (why == OpenFailure::None && !store->loadHead(&problem))
        why = failureOf(sqlite3_extended_errcode(store->db));
    if (why == OpenFailure::None)
        return store;
    if (logBeside && why == OpenFailure::CannotOpen && !QFileInfo::exists(path + QStringLiteral("-shm")) &&
        !QFileInfo(info.absolutePath()).isWritable())
        problem += QStringLiteral(" (reading its write-ahead log %1 takes a %2-shm file beside it, which "
                                  "cannot be created in this directory: copy the ledger with its -wal file "
                                  "to a writable directory and check the copy)")
                       .arg(wal, path);
    return refuse(why, problem);
}

LedgerStore::OpenFailure LedgerStore::checkReadableLedger(QString *error) const
{
    SqliteStatement version(db, "PRAGMA user_version");
    if (version.step() != SQLITE_ROW) {
        const int code = sqlite3_extended_errcode(db);
        *error = QStringLiteral("%1: cannot read the database: %2").arg(filePath, sqliteError());
        return failureOf(code);
    }
    const qint64 schema = version.integer(0);
    SqliteStatement table(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blocks'");
    const int rc = table.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        const int code = sqlite3_extended_errcode(db);
        *error = QStringLiteral("%1: cannot read the database schema: %2").arg(filePath, sqliteError());
        return failureOf(code);
    }
    if (rc == SQLITE_DONE) {
        *error = QStringLiteral("%1: not a ticketsync ledger: it has no blocks table").arg(filePath);
        return OpenFailure::NotALedger;
    }
    if (schema != kSchemaVersion) {
        *error = QStringLiteral("%1: a ledger of schema version %2, not the version %3 this build reads; "
                                "it is checked as it is, never migrated")
                     .arg(filePath)
                     .arg(schema)
                     .arg(kSchemaVersion);
        return OpenFailure::NotALedger;
    }
    return OpenFailure::None;
}

int LedgerStore::schemaVersion() const
{
    SqliteStatement query(db, "PRAGMA user_version");
    return query.step() == SQLITE_ROW ? int(query.integer(0)) : -1;
}

bool LedgerStore::migrate(QString *error)
{
    qint64 current = 0;
    {
        // Finished before the migrations run: a live statement would hold the schema.
        SqliteStatement version(db, "PRAGMA user_version");
        if (version.step() != SQLITE_ROW) {
            if (error)
                *error =
                    QStringLiteral("%1: cannot read the schema version: %2").arg(filePath, sqliteError());
            return false;
        }
        current = version.integer(0);
    }
    if (current < 0) {
        if (error)
            *error = QStringLiteral("%1: not a ticketsync ledger: its schema version is %2")
                         .arg(filePath)
                         .arg(current);
        return false;
    }
    if (current == 0) {
        // Version 0 with tables is another program's database: ours would be created among them.
        SqliteStatement tables(db,
                               "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 1");
        const int rc = tables.step();
        if (rc == SQLITE_ROW) {
            if (error)
                *error = QStringLiteral("%1: not a ticketsync ledger: it has no schema version but holds "
                                        "other tables (such as '%2'); it is left as it is")
                             .arg(filePath, tables.text(0));
            return false;
        }
        if (rc != SQLITE_DONE) {
            if (error)
                *error =
                    QStringLiteral("%1: cannot read the database schema: %2").arg(filePath, sqliteError());
            return false;
        }
    }
    if (current > kSchemaVersion) {
        if (error)
            *error = QStringLiteral("%1: schema version %2 is newer than this build understands (%3)")
                         .arg(filePath)
                         .arg(current)
                         .arg(kSchemaVersion);
        return false;
    }
    for (int version = int(current); version < kSchemaVersion; ++version) {
        const QByteArray bump = QByteArray("PRAGMA user_version = ") + QByteArray::number(version + 1);
        QString problem;
        if (!exec("BEGIN IMMEDIATE", &problem) || !exec(kMigrations[version], &problem) ||
            !exec(bump.constData(), &problem) || !exec("COMMIT", &problem)) {
            exec("ROLLBACK", nullptr);
            if (error)
                *error = QStringLiteral("migrating schema %1 -> %2 failed: %3")
                             .arg(version)
                             .arg(version + 1)
                             .arg(problem);
            return false;
        }
        qCInfo(lcStore) << filePath << "migrated to schema" << version + 1;
    }
    return true;
}

bool LedgerStore::loadHead(QString *error)
{
    SqliteStatement query(db, "SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1");
    if (!query.valid()) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(filePath, sqliteError());
        return false;
    }
    const int rc = query.step();
    if (rc == SQLITE_ROW) {
        headHeight = quint64(query.integer(0));
        headBlockHash = query.blob(1);
    } else if (rc == SQLITE_DONE) {
        headHeight = 0;
        headBlockHash = Block::genesisPreviousHash();
    } else {
        // An unreadable blocks table is not an empty ledger.
        if (error)
            *error = QStringLiteral("%1: reading the head block: %2").arg(filePath, sqliteError());
        return false;
    }
    if (readOnly)
        return true; // the last decision's place in the chain only matters to appendBlocks
    SqliteStatement last(db, "SELECT seq, height FROM ticket_states WHERE seq IS NOT NULL ORDER BY seq DESC "
                             "LIMIT 1");
    const int lastRc = last.step();
    if (lastRc != SQLITE_ROW && lastRc != SQLITE_DONE) {
        if (error)
            *error = QStringLiteral("%1: reading the last decision: %2").arg(filePath, sqliteError());
        return false;
    }
    lastDecisionSeq = lastRc == SQLITE_ROW ? last.integer(0) : 0;
    // Decisions stored for a block the chain does not reach: its row is gone. Appending it again
    // would fail on those decisions forever, so the ledger is refused until it is restored.
    if (lastRc == SQLITE_ROW && quint64(last.integer(1)) > headHeight) {
        if (error)
            *error =
                QStringLiteral("%1: the ledger holds decisions of block %2 but its chain ends at block %3; "
                               "the blocks after %3 are missing, restore the ledger from a backup")
                    .arg(filePath)
                    .arg(last.integer(1))
                    .arg(headHeight);
        return false;
    }
    return true;
}

bool LedgerStore::appendBlocks(const QList<Block> &blocks, QString *error,
                               const QList<BlockDecisionBytes> *known)
{
    if (blocks.isEmpty())
        return true;
    auto failWith = [&](const QString &message) {
        statements.run("ROLLBACK", nullptr);
        if (error)
            *error = message;
        return false;
    };
    if (!statements.run("BEGIN IMMEDIATE", error))
        return false;
    SqliteStatement insertBlock(
        statements, "INSERT INTO blocks (height, hash, previous_hash, timestamp_ms, decision_count, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)");
    SqliteStatement insertState(
        statements, "INSERT INTO ticket_states (ticket_id, version, write_off_digest, state, height, "
                    "decided_at_ms, seq) VALUES (?, ?, ?, ?, ?, ?, ?)");
    SqliteStatement findState(statements, "SELECT height FROM ticket_states WHERE write_off_digest = ?");
    SqliteStatement advanceTicket(statements, "UPDATE tickets SET written_off_version = ?2 "
                                              "WHERE ticket_id = ?1 AND written_off_version < ?2");
    if (!insertBlock.valid() || !insertState.valid() || !advanceTicket.valid())
        return failWith(QStringLiteral("%1: %2").arg(filePath, sqliteError()));

    quint64 height = headHeight;
    QByteArray previous = headBlockHash;
    qint64 seq = lastDecisionSeq;
    for (qsizetype b = 0; b < blocks.size(); ++b) {
        const Block &block = blocks.at(b);
        const qsizetype count = block.decisions.size();
        const BlockDecisionBytes *computed = known && b < known->size() ? &known->at(b) : nullptr;
        const QList<QByteArray> *encodedDecisions =
            computed && computed->encoded.size() == count ? &computed->encoded : nullptr;
        const QList<QByteArray> *digests =
            computed && computed->writeOffDigests.size() == count ? &computed->writeOffDigests : nullptr;
        if (block.height != height + 1)
            return failWith(QStringLiteral("block %1 does not extend the head at height %2")
                                .arg(block.height)
                                .arg(height));
        if (block.previousHash != previous)
            return failWith(
                QStringLiteral("block %1 does not link to the head block's hash").arg(block.height));
        const QByteArray hash = block.hash();
        insertBlock.bind(1, qint64(block.height));
        insertBlock.bind(2, hash);
        insertBlock.bind(3, block.previousHash);
        insertBlock.bind(4, block.timestampMs);
        insertBlock.bind(5, qint64(block.decisions.size()));
        const QByteArray encoded = encodedDecisions ? block.encode(*encodedDecisions) : block.encode();
        insertBlock.bindNoCopy(6, encoded);
        if (insertBlock.step() != SQLITE_DONE)
            return failWith(QStringLiteral("storing block %1: %2").arg(block.height).arg(sqliteError()));
        insertBlock.reset();
        for (qsizetype i = 0; i < count; ++i) {
            const Decision &decision = block.decisions.at(i);
            const WriteOffResult &writeOff = decision.writeOff;
            // Converted and hashed once, bound without copies.
            const QByteArray ticketUtf8 = writeOff.ticketId.toUtf8();
            const QByteArray writeOffDigest = digests ? digests->at(i) : writeOff.digest();
            insertState.bindUtf8NoCopy(1, ticketUtf8);
            insertState.bind(2, qint64(writeOff.ticketVersion));
            insertState.bindNoCopy(3, writeOffDigest);
            insertState.bind(4, qint64(decision.decidedState));
            insertState.bind(5, qint64(block.height));
            insertState.bind(6, decision.decidedAtMs);
            insertState.bind(7, ++seq);
            const int rc = insertState.step();
            if (rc == SQLITE_CONSTRAINT) {
                findState.bindNoCopy(1, writeOffDigest);
                const bool sameWriteOff = findState.step() == SQLITE_ROW;
                findState.reset();
                return failWith(
                    sameWriteOff
                        ? QStringLiteral("block %1: write-off of ticket %2 version %3 is already decided "
                                         "on this ledger")
                              .arg(block.height)
                              .arg(writeOff.ticketId)
                              .arg(writeOff.ticketVersion)
                        : QStringLiteral("block %1: ticket %2 version %3 is already written off on this "
                                         "ledger")
                              .arg(block.height)
                              .arg(writeOff.ticketId)
                              .arg(writeOff.ticketVersion));
            }
            if (rc != SQLITE_DONE)
                return failWith(QStringLiteral("storing block %1: %2").arg(block.height).arg(sqliteError()));
            insertState.reset();
            if (decision.outcome == Outcome::Decided &&
                decision.decidedState == quint16(ConfirmationState::WrittenOff)) {
                advanceTicket.bindUtf8NoCopy(1, ticketUtf8);
                advanceTicket.bind(2, qint64(writeOff.ticketVersion));
                if (advanceTicket.step() != SQLITE_DONE)
                    return failWith(
                        QStringLiteral("updating ticket %1: %2").arg(writeOff.ticketId, sqliteError()));
                advanceTicket.reset();
            }
        }
        height = block.height;
        previous = hash;
    }
    if (!statements.run("COMMIT", error)) {
        statements.run("ROLLBACK", nullptr);
        return false;
    }
    headHeight = height;
    headBlockHash = previous;
    lastDecisionSeq = seq;
    return true;
}

QList<HistoryRow> LedgerStore::history(const HistoryQuery &query, QString *error) const
{
    if (query.outcome == QLatin1String("UNDETERMINED"))
        return {}; // a ledger holds decided write-offs only
    static constexpr HistoryColumns kColumns{"seq", "ticket_id", "decided_at_ms", ""};
    return readHistory(db, filePath,
                       "SELECT seq, write_off_digest, ticket_id, version, 'DECIDED', state, decided_at_ms, "
                       "height FROM ticket_states WHERE seq IS NOT NULL",
                       kColumns, query, error);
}

std::optional<Block> LedgerStore::block(quint64 height, QString *error) const
{
    const QList<Block> found = blocks(height, 1, error);
    if (found.isEmpty()) {
        if (error && error->isEmpty())
            *error = QStringLiteral("%1: no block at height %2 (head is %3)")
                         .arg(filePath)
                         .arg(height)
                         .arg(headHeight);
        return std::nullopt;
    }
    return found.first();
}

QList<Block> LedgerStore::blocks(quint64 fromHeight, int maxCount, QString *error) const
{
    QList<Block> result;
    SqliteStatement query(statements,
                          "SELECT height, hash, data FROM blocks WHERE height >= ? ORDER BY height LIMIT ?");
    query.bind(1, qint64(fromHeight));
    query.bind(2, qint64(maxCount));
    int rc = SQLITE_DONE;
    // Heights follow one another: a row gone from the middle must not pass the next one off as it.
    quint64 expected = qMax<quint64>(fromHeight, 1);
    while ((rc = query.step()) == SQLITE_ROW) {
        const quint64 height = quint64(query.integer(0));
        if (height != expected) {
            if (error)
                *error =
                    QStringLiteral("%1: block %2 is missing from the ledger (the next stored block is %3)")
                        .arg(filePath)
                        .arg(expected)
                        .arg(qint64(height));
            return result;
        }
        ++expected;
        QString problem;
        std::optional<Block> block = Block::decode(query.blob(2), &problem);
        if (!block) {
            if (error)
                *error = QStringLiteral("%1: block %2 is corrupt: %3").arg(filePath).arg(height).arg(problem);
            return result;
        }
        if (block->height != height || block->hash() != query.blob(1)) {
            if (error)
                *error = QStringLiteral("%1: block %2 does not match its stored height or hash")
                             .arg(filePath)
                             .arg(height);
            return result;
        }
        result.append(std::move(*block));
    }
    // A read error ends the loop as the last row does; never pass it off as a shorter chain.
    if (rc != SQLITE_DONE && error)
        *error = QStringLiteral("%1: reading blocks from height %2: %3")
                     .arg(filePath)
                     .arg(result.isEmpty() ? fromHeight : result.last().height + 1)
                     .arg(sqliteError());
    return result;
}

bool LedgerStore::readFailed(int rc, const QString &what, QString *error) const
{
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return false;
    // A statement that did not prepare never ran: its step() is SQLITE_MISUSE, the connection
    // holds the reason.
    const QString problem = QStringLiteral("%1: reading %2: %3").arg(filePath, what, sqliteError());
    qCWarning(lcStore).noquote() << problem;
    if (error)
        *error = problem;
    return true;
}

std::optional<quint16> LedgerStore::decidedState(const QByteArray &writeOffDigest, QString *error) const
{
    SqliteStatement query(statements, "SELECT state FROM ticket_states WHERE write_off_digest = ?");
    query.bind(1, writeOffDigest);
    const int rc = query.step();
    if (rc == SQLITE_ROW)
        return quint16(query.integer(0));
    readFailed(rc,
               QStringLiteral("the decided state of write-off %1")
                   .arg(QString::fromLatin1(writeOffDigest.toHex().left(16))),
               error);
    return std::nullopt;
}

std::optional<quint64> LedgerStore::decisionHeight(const QByteArray &writeOffDigest, QString *error) const
{
    SqliteStatement query(statements, "SELECT height FROM ticket_states WHERE write_off_digest = ?");
    query.bind(1, writeOffDigest);
    const int rc = query.step();
    if (rc == SQLITE_ROW)
        return quint64(query.integer(0));
    readFailed(rc,
               QStringLiteral("the decision height of write-off %1")
                   .arg(QString::fromLatin1(writeOffDigest.toHex().left(16))),
               error);
    return std::nullopt;
}

std::optional<QByteArray> LedgerStore::writtenOffBy(const QString &ticketId, quint32 version,
                                                    QString *error) const
{
    SqliteStatement query(
        statements,
        "SELECT write_off_digest FROM ticket_states WHERE ticket_id = ? AND version = ? AND state = 1");
    query.bind(1, ticketId);
    query.bind(2, qint64(version));
    const int rc = query.step();
    if (rc == SQLITE_ROW)
        return query.blob(0);
    readFailed(rc, QStringLiteral("what wrote off ticket %1 version %2").arg(ticketId).arg(version), error);
    return std::nullopt;
}

bool LedgerStore::importTickets(const QList<Ticket> &tickets, QString *error)
{
    qsizetype index = 0;
    return importTickets(
        [&](Ticket *ticket, QString *) {
            if (index >= tickets.size())
                return false;
            *ticket = tickets.at(index++);
            return true;
        },
        error);
}

bool LedgerStore::importTickets(const TicketSource &next, QString *error, qint64 *imported)
{
    if (imported)
        *imported = 0;
    if (!exec("BEGIN IMMEDIATE", error))
        return false;
    SqliteStatement insert(
        db, "INSERT INTO tickets (ticket_id, kind, face_amount_minor, currency, issuer) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticket_id) DO UPDATE SET kind = excluded.kind, "
            "face_amount_minor = excluded.face_amount_minor, currency = excluded.currency, "
            "issuer = excluded.issuer");
    Ticket ticket;
    QString sourceError;
    qint64 count = 0;
    while (next(&ticket, &sourceError)) {
        insert.bind(1, ticket.id);
        insert.bind(2, qint64(ticket.kind));
        insert.bind(3, ticket.faceAmountMinor);
        insert.bind(4, ticket.currency);
        insert.bind(5, ticket.issuer);
        if (insert.step() != SQLITE_DONE) {
            const QString problem = sqliteError();
            exec("ROLLBACK", nullptr);
            if (error)
                *error = QStringLiteral("%1: importing ticket %2: %3").arg(filePath, ticket.id, problem);
            return false;
        }
        insert.reset();
        ++count;
    }
    if (!sourceError.isEmpty()) {
        exec("ROLLBACK", nullptr);
        if (error)
            *error = sourceError;
        return false;
    }
    if (!exec("COMMIT", error)) {
        // A failed COMMIT can leave the transaction open; the next write must not join it.
        exec("ROLLBACK", nullptr);
        return false;
    }
    if (imported)
        *imported = count;
    return true;
}

std::optional<TicketRecord> LedgerStore::ticket(const QString &ticketId, QString *error) const
{
    SqliteStatement query(statements,
                          "SELECT kind, face_amount_minor, currency, issuer, written_off_version, frozen "
                          "FROM tickets WHERE ticket_id = ?");
    query.bind(1, ticketId);
    const int rc = query.step();
    if (rc != SQLITE_ROW) {
        readFailed(rc, QStringLiteral("ticket %1 from the registry").arg(ticketId), error);
        return std::nullopt;
    }
    TicketRecord record;
    record.ticket.id = ticketId;
    record.ticket.kind = TicketKind(query.integer(0));
    record.ticket.faceAmountMinor = query.integer(1);
    record.ticket.currency = query.text(2);
    record.ticket.issuer = query.text(3);
    record.writtenOffVersion = quint32(query.integer(4));
    record.frozen = query.integer(5) != 0;
    return record;
}

qint64 LedgerStore::ticketCount(QString *error) const
{
    SqliteStatement query(db, "SELECT COUNT(*) FROM tickets");
    const int rc = query.step();
    if (rc == SQLITE_ROW)
        return query.integer(0);
    readFailed(rc, QStringLiteral("the number of tickets"), error);
    return 0;
}

std::optional<TicketLock> LedgerStore::lock(const QString &ticketId, quint32 version, QString *error) const
{
    SqliteStatement query(
        statements,
        "SELECT write_off_digest, confirmation FROM ticket_locks WHERE ticket_id = ? AND version = ?");
    query.bind(1, ticketId);
    query.bind(2, qint64(version));
    const int rc = query.step();
    if (rc != SQLITE_ROW) {
        readFailed(rc, QStringLiteral("the lock on ticket %1 version %2").arg(ticketId).arg(version), error);
        return std::nullopt;
    }
    return TicketLock{ticketId, version, query.blob(0), query.blob(1)};
}

std::optional<TicketLock> LedgerStore::acquireLock(const TicketLock &lock, QString *error)
{
    SqliteStatement insert(
        statements,
        "INSERT INTO ticket_locks (ticket_id, version, write_off_digest, confirmation, locked_at_ms) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
    insert.bind(1, lock.ticketId);
    insert.bind(2, qint64(lock.ticketVersion));
    insert.bind(3, lock.writeOffDigest);
    insert.bind(4, lock.confirmation);
    insert.bind(5, QDateTime::currentMSecsSinceEpoch());
    if (insert.step() != SQLITE_DONE) {
        if (error)
            *error = QStringLiteral("%1: recording the lock on %2 version %3: %4")
                         .arg(filePath, lock.ticketId)
                         .arg(lock.ticketVersion)
                         .arg(sqliteError());
        return std::nullopt;
    }
    QString problem;
    std::optional<TicketLock> held = this->lock(lock.ticketId, lock.ticketVersion, &problem);
    if (!held && error) // recorded, or held by another, yet not there to read back
        *error = problem.isEmpty() ? QStringLiteral("%1: the lock on %2 version %3 does not read back")
                                         .arg(filePath, lock.ticketId)
                                         .arg(lock.ticketVersion)
                                   : problem;
    return held;
}

bool LedgerStore::beginBatch(QString *error)
{
    return statements.run("BEGIN IMMEDIATE", error);
}

bool LedgerStore::commitBatch(QString *error)
{
    if (statements.run("COMMIT", error))
        return true;
    rollbackBatch();
    return false;
}

void LedgerStore::rollbackBatch()
{
    statements.run("ROLLBACK", nullptr);
}

QString LedgerStore::checkHead() const
{
    if (headHeight == 0)
        return {};
    QString problem;
    const std::optional<Block> head = block(headHeight, &problem);
    if (!head)
        return problem;
    if (headHeight > 1) {
        const std::optional<Block> previous = block(headHeight - 1, &problem);
        if (!previous)
            return problem;
        if (head->previousHash != previous->hash())
            return QStringLiteral("%1: block %2 does not link to block %3")
                .arg(filePath)
                .arg(headHeight)
                .arg(headHeight - 1);
    }
    return {};
}

} // namespace ticketsync
