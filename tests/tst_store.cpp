// LedgerStore on real SQLite files: schema and migrations, refusing foreign files, atomic
// multi-block appends, corruption reports, and recovery after the writer is SIGKILLed.

#include "Block.h"
#include "ChainVerifier.h"
#include "LedgerStore.h"
#include "SampleConsortium.h"
#include "Sha256.h"
#include "SqliteStatement.h"
#include "Tally.h"
#include "WalCheckpointer.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRandomGenerator>
#include <QScopeGuard>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <memory>
#include <sqlite3.h>
#include <sys/fsuid.h>
#include <sys/types.h>
#include <unistd.h>

using namespace ticketsync;

namespace {

// Schema v1 exactly as LedgerStore.cpp's kMigrations[0] creates it, to test the v1 -> v2
// migration on a database written by an older build.
constexpr const char *kSchemaV1 =
    "CREATE TABLE blocks ("
    "  height INTEGER PRIMARY KEY,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  previous_hash BLOB NOT NULL,"
    "  timestamp_ms INTEGER NOT NULL,"
    "  decision_count INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE TABLE ticket_states ("
    "  write_off_digest BLOB PRIMARY KEY,"
    "  ticket_id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  height INTEGER NOT NULL,"
    "  decided_at_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX ticket_states_by_ticket ON ticket_states (ticket_id, version);"
    "CREATE UNIQUE INDEX ticket_states_one_write_off ON ticket_states (ticket_id, "
    "version) WHERE state = 1;"
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
    "  PRIMARY KEY (ticket_id, version)) WITHOUT ROWID;";

// A second, independent connection to the file, to look at and tamper with what the store
// wrote without going through its API.
class RawDb
{
public:
    explicit RawDb(const QString &path)
    {
        if (sqlite3_open_v2(path.toUtf8().constData(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr) != SQLITE_OK)
            openError = QString::fromUtf8(sqlite3_errmsg(db));
        sqlite3_busy_timeout(db, 5000);
    }
    ~RawDb() { sqlite3_close_v2(db); }
    RawDb(const RawDb &) = delete;
    RawDb &operator=(const RawDb &) = delete;

    // Empty on success, otherwise SQLite's message.
    QString exec(const char *sql)
    {
        if (!openError.isEmpty())
            return openError;
        char *message = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK)
            return {};
        const QString problem = QString::fromUtf8(message ? message : "unknown error");
        sqlite3_free(message);
        return problem;
    }

    // The first column of the first row as text; a null QString if there is no row.
    QString text(const char *sql)
    {
        SqliteStatement query(db, sql);
        return query.step() == SQLITE_ROW ? query.text(0) : QString();
    }

    QByteArray blockData(qint64 height)
    {
        SqliteStatement query(db, "SELECT data FROM blocks WHERE height = ?");
        query.bind(1, height);
        return query.step() == SQLITE_ROW ? query.blob(0) : QByteArray();
    }

    QString setBlockData(qint64 height, const QByteArray &data)
    {
        SqliteStatement update(db, "UPDATE blocks SET data = ? WHERE height = ?");
        if (!update.valid())
            return update.errorText();
        update.bind(1, data);
        update.bind(2, height);
        if (update.step() != SQLITE_DONE)
            return update.errorText();
        return sqlite3_changes(db) == 1 ? QString() : QStringLiteral("no block at height %1").arg(height);
    }

private:
    sqlite3 *db = nullptr;
    QString openError;
};

QByteArray fileBytes(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// What SQLite may keep beside a database: none of them may appear from reading alone.
QStringList companions(const QString &path)
{
    QStringList found;
    for (const char *suffix : {"-wal", "-shm", "-journal"}) {
        if (QFileInfo::exists(path + QLatin1String(suffix)))
            found.append(path + QLatin1String(suffix));
    }
    return found;
}

// File permission checks in this thread as a user who owns nothing here, so that a file's mode
// counts in a test run as root too (root may write any file).
class NotTheOwner
{
public:
    NotTheOwner()
        : beforeGroup(::setfsgid(::geteuid() == 0 ? 65534 : ::getegid())),
          before(::setfsuid(::geteuid() == 0 ? 65534 : ::geteuid()))
    {}
    ~NotTheOwner()
    {
        ::setfsuid(uid_t(before));
        ::setfsgid(gid_t(beforeGroup));
    }
    NotTheOwner(const NotTheOwner &) = delete;
    NotTheOwner &operator=(const NotTheOwner &) = delete;

private:
    int beforeGroup;
    int before;
};

std::unique_ptr<LedgerStore> openOrWarn(const QString &path)
{
    QString error;
    std::unique_ptr<LedgerStore> store = LedgerStore::open(path, &error);
    if (!store)
        qWarning("%s", qPrintable(error));
    return store;
}

} // namespace

class TestStore : public QObject
{
    Q_OBJECT

private:
    SampleConsortium sample = SampleConsortium::generate();
    QTemporaryDir dir;

    QString freshPath(const QString &name) const { return dir.filePath(name + QStringLiteral(".sqlite")); }

    // A WAL database on a connection of its own with a checkpointer attached, as LedgerStore
    // sets them up; detached and closed in that order.
    struct CheckpointedDb
    {
        QString path;
        sqlite3 *db = nullptr;
        std::unique_ptr<WalCheckpointer> checkpointer;
        QString error; // why attaching failed
        ~CheckpointedDb()
        {
            checkpointer.reset();
            sqlite3_close_v2(db);
        }
    };
    std::unique_ptr<CheckpointedDb> checkpointed(const QString &name) const
    {
        auto opened = std::make_unique<CheckpointedDb>();
        opened->path = freshPath(name);
        opened->db = openWal(opened->path);
        opened->checkpointer = WalCheckpointer::attach(opened->db, opened->path, &opened->error);
        return opened;
    }

    // A decided WRITTEN_OFF certificate from three of the four targets.
    Decision writtenOff(const QString &ticketId, quint32 version,
                        const QString &branch = QStringLiteral("branch-1"), qint64 amountMinor = 12345) const
    {
        const WriteOffResult writeOff =
            sample.writeOff(branch, ticketId, version, amountMinor, QStringLiteral("CNY"), 1700000000000);
        Tally tally(sample.membership, writeOff);
        for (const QString &target : sample.targetIds().mid(0, sample.membership.quorum()))
            tally.add(sample.confirm(target, writeOff, ConfirmationState::WrittenOff));
        return tally.decision(1700000000500);
    }

    Block sealed(quint64 height, const QByteArray &previousHash, const QList<Decision> &decisions) const
    {
        Block block;
        block.height = height;
        block.previousHash = previousHash;
        block.membershipHash = sample.membership.hash();
        block.timestampMs = 1700000001000 + qint64(height);
        block.coordinatorId = sample.coordinatorId();
        block.decisions = decisions;
        block.seal(sample.keys.value(sample.coordinatorId()));
        return block;
    }

    // count linked blocks from genesis, two decisions each, for tickets "S-<height>-<i>".
    QList<Block> chain(int count) const
    {
        QList<Block> blocks;
        QByteArray previous = Block::genesisPreviousHash();
        for (int height = 1; height <= count; ++height) {
            QList<Decision> decisions;
            for (int i = 0; i < 2; ++i)
                decisions.append(writtenOff(QStringLiteral("S-%1-%2").arg(height).arg(i), 1));
            blocks.append(sealed(quint64(height), previous, decisions));
            previous = blocks.last().hash();
        }
        return blocks;
    }

    static QList<Ticket> ticketsOf(const QList<Block> &blocks)
    {
        QList<Ticket> tickets;
        for (const Block &block : blocks) {
            for (const Decision &decision : block.decisions) {
                Ticket ticket;
                ticket.id = decision.writeOff.ticketId;
                ticket.faceAmountMinor = decision.writeOff.amountMinor;
                ticket.currency = decision.writeOff.currency;
                ticket.issuer = QStringLiteral("Issuer");
                tickets.append(ticket);
            }
        }
        return tickets;
    }

    // Checks the whole chain in the file from genesis: every header, link and certificate.
    void verifyWholeChain(LedgerStore &store, quint64 expectedDecisions)
    {
        QString error;
        const QList<Block> all = store.blocks(1, -1, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QCOMPARE(quint64(all.size()), store.height());
        const ChainReport report =
            ChainVerifier(sample.membership, 2).verify(Block::genesisPreviousHash(), all);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.blocksVerified, store.height());
        QCOMPARE(report.lastHeight, store.height());
        QCOMPARE(report.headHash, store.headHash());
        if (expectedDecisions)
            QCOMPARE(report.decisionsVerified, expectedDecisions);
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(dir.isValid()); }

    void freshDatabase()
    {
        const QString path = freshPath(QStringLiteral("fresh"));
        QVERIFY(!QFile::exists(path));
        {
            std::unique_ptr<LedgerStore> store = openOrWarn(path);
            QVERIFY(store);
            QCOMPARE(store->schemaVersion(), LedgerStore::kSchemaVersion);
            QCOMPARE(store->height(), quint64(0));
            QCOMPARE(store->headHash(), Block::genesisPreviousHash());
            QCOMPARE(store->checkHead(), QString());
            QCOMPARE(store->ticketCount(), qint64(0));
            QCOMPARE(store->path(), path);
        }
        RawDb raw(path);
        QCOMPARE(raw.text("PRAGMA journal_mode"), QStringLiteral("wal"));
        QCOMPARE(raw.text("PRAGMA user_version"), QString::number(LedgerStore::kSchemaVersion));
        QCOMPARE(raw.text("PRAGMA integrity_check"), QStringLiteral("ok"));
        for (const char *table : {"blocks", "ticket_states", "tickets", "ticket_locks"}) {
            const QByteArray sql =
                QByteArray("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '") + table + "'";
            QCOMPARE(raw.text(sql.constData()), QString::fromLatin1(table));
        }

        // Opening again changes nothing.
        std::unique_ptr<LedgerStore> again = openOrWarn(path);
        QVERIFY(again);
        QCOMPARE(again->schemaVersion(), LedgerStore::kSchemaVersion);
    }

    void migratesFromVersion1()
    {
        const QString path = freshPath(QStringLiteral("v1"));
        {
            RawDb raw(path);
            QString problem = raw.exec(kSchemaV1);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            problem =
                raw.exec("PRAGMA user_version = 1;"
                         "INSERT INTO tickets (ticket_id, kind, face_amount_minor, currency, issuer, "
                         "written_off_version) VALUES ('T-000042', 3, 987654, 'CNY', 'Old Issuer', 2);"
                         "INSERT INTO ticket_locks VALUES ('T-000042', 3, x'0102', x'0304', 1700000000000);"
                         // Decisions stored before the ledger numbered them (schema 3).
                         "INSERT INTO ticket_states VALUES (x'aa', 'T-000001', 1, 1, 1, 1700000000300);"
                         "INSERT INTO ticket_states VALUES (x'bb', 'T-000002', 1, 1, 1, 1700000000100);"
                         "INSERT INTO ticket_states VALUES (x'cc', 'T-000001', 2, 1, 2, 1700000000200);"
                         // The blocks they are in; only their heights matter here.
                         "INSERT INTO blocks VALUES (1, x'01', x'00', 1700000000300, 2, x'00'),"
                         "  (2, x'02', x'01', 1700000000200, 1, x'00');");
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            QCOMPARE(raw.text("PRAGMA user_version"), QStringLiteral("1"));
        }

        {
            std::unique_ptr<LedgerStore> store = openOrWarn(path);
            QVERIFY(store);
            QCOMPARE(store->schemaVersion(), LedgerStore::kSchemaVersion);
            QCOMPARE(store->ticketCount(), qint64(1));
            const std::optional<TicketRecord> record = store->ticket(QStringLiteral("T-000042"));
            QVERIFY(record);
            QCOMPARE(record->ticket.kind, TicketKind::ElectronicInvoice);
            QCOMPARE(record->ticket.faceAmountMinor, qint64(987654));
            QCOMPARE(record->ticket.currency, QStringLiteral("CNY"));
            QCOMPARE(record->ticket.issuer, QStringLiteral("Old Issuer"));
            QCOMPARE(record->writtenOffVersion, 2u);
            QCOMPARE(record->frozen, false);
            const std::optional<TicketLock> lock = store->lock(QStringLiteral("T-000042"), 3);
            QVERIFY(lock);
            QCOMPARE(lock->writeOffDigest, QByteArray::fromHex("0102"));
            QCOMPARE(lock->confirmation, QByteArray::fromHex("0304"));

            // Numbered in chain order, block by block and by decision time within one.
            auto page = [&](const HistoryQuery &query) {
                QString error;
                QStringList digests;
                for (const HistoryRow &row : store->history(query, &error))
                    digests.append(QStringLiteral("%1:%2:%3")
                                       .arg(row.id)
                                       .arg(QString::fromLatin1(row.writeOffDigest.toHex()))
                                       .arg(row.outcome));
                if (!error.isEmpty())
                    digests.append(error);
                return digests.join(u' ');
            };
            QCOMPARE(page({}), QStringLiteral("3:cc:DECIDED 2:aa:DECIDED 1:bb:DECIDED"));
            QCOMPARE(page({QStringLiteral("T-000001"), 0, 0, {}, 0, 100}),
                     QStringLiteral("3:cc:DECIDED 2:aa:DECIDED"));
            QCOMPARE(page({{}, 0, 0, {}, 3, 100}), QStringLiteral("2:aa:DECIDED 1:bb:DECIDED"));
            QCOMPARE(page({{}, 0, 0, {}, 0, 1}), QStringLiteral("3:cc:DECIDED"));
            QCOMPARE(page({{}, 1700000000200, 0, {}, 0, 100}), QStringLiteral("3:cc:DECIDED 2:aa:DECIDED"));
            QCOMPARE(page({{}, 0, 1700000000200, {}, 0, 100}), QStringLiteral("1:bb:DECIDED"));
            QCOMPARE(page({{}, 0, 0, QStringLiteral("UNDETERMINED"), 0, 100}), QString());
            QCOMPARE(page({{}, 0, 0, QStringLiteral("DECIDED"), 0, 2}),
                     QStringLiteral("3:cc:DECIDED 2:aa:DECIDED"));
        }

        RawDb raw(path);
        QCOMPARE(raw.text("PRAGMA user_version"), QString::number(LedgerStore::kSchemaVersion));
        QCOMPARE(raw.text("SELECT frozen FROM tickets WHERE ticket_id = 'T-000042'"), QStringLiteral("0"));
        // Schema 4 keeps one index by ticket, and it still refuses a second write-off of a version.
        QCOMPARE(raw.text("SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE "
                          "type = 'index' AND tbl_name = 'ticket_states' AND sql IS NOT NULL ORDER BY name)"),
                 QStringLiteral("ticket_states_by_seq ticket_states_by_ticket ticket_states_by_time"));
        QVERIFY(raw.exec("INSERT INTO ticket_states VALUES (x'dd', 'T-000001', 1, 1, 3, 1700000000400, 4)")
                    .contains(QLatin1String("UNIQUE constraint failed: index 'ticket_states_by_ticket'")));
        QCOMPARE(raw.exec("INSERT INTO ticket_states VALUES (x'dd', 'T-000001', 1, 2, 3, 1700000000400, 4);"
                          "INSERT INTO ticket_states VALUES (x'ee', 'T-000001', 1, 2, 3, 1700000000500, 5);"
                          "INSERT INTO blocks VALUES (3, x'03', x'02', 1700000000500, 2, x'00')"),
                 QString());
        QCOMPARE(raw.text("SELECT count(*) FROM ticket_states WHERE ticket_id = 'T-000001' AND version = 1"),
                 QStringLiteral("3"));
        QCOMPARE(raw.text("PRAGMA integrity_check"), QStringLiteral("ok"));

        // A second open does not run the migration again (it would fail on the existing column).
        std::unique_ptr<LedgerStore> again = openOrWarn(path);
        QVERIFY(again);
        QCOMPARE(again->schemaVersion(), LedgerStore::kSchemaVersion);
    }

    void refusesNewerSchema()
    {
        const QString path = freshPath(QStringLiteral("v99"));
        {
            RawDb raw(path);
            const QString problem = raw.exec("CREATE TABLE future (x INTEGER); PRAGMA user_version = 99;");
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
        }
        QString error;
        std::unique_ptr<LedgerStore> store = LedgerStore::open(path, &error);
        QVERIFY(!store);
        QVERIFY2(error.contains(QStringLiteral("99")), qPrintable(error));
        QVERIFY2(error.contains(path), qPrintable(error));
        RawDb raw(path);
        QCOMPARE(raw.text("PRAGMA user_version"), QStringLiteral("99")); // left as it was
        QCOMPARE(raw.text("SELECT name FROM sqlite_master WHERE name = 'blocks'"), QString());
    }

    void refusesGarbageFile()
    {
        const QString path = freshPath(QStringLiteral("garbage"));
        QByteArray garbage;
        for (int i = 0; i < 8192; ++i)
            garbage.append(char((i * 131 + 7) & 0xff));
        garbage.replace(0, 16, "not sqlite at al");
        {
            QFile file(path);
            QVERIFY(file.open(QIODevice::WriteOnly));
            QCOMPARE(file.write(garbage), garbage.size());
        }
        QString error;
        std::unique_ptr<LedgerStore> store = LedgerStore::open(path, &error);
        QVERIFY(!store);
        QVERIFY2(error.contains(path), qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("not a database")), qPrintable(error));
        // The foreign file is left untouched.
        QFile file(path);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(file.readAll(), garbage);

        // A directory that does not exist: refused with the path named, no crash.
        const QString nowhere = dir.filePath(QStringLiteral("no/such/dir/x.sqlite"));
        error.clear();
        QVERIFY(!LedgerStore::open(nowhere, &error));
        QVERIFY2(error.contains(nowhere), qPrintable(error));
    }

    void refusesForeignSchemas()
    {
        // Another program's SQLite file at version 0: refused, and left byte for byte as it was
        // (no ledger tables among its own, not switched to WAL).
        const QString foreign = freshPath(QStringLiteral("foreign"));
        {
            RawDb raw(foreign);
            const QString problem = raw.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT);"
                                             "INSERT INTO accounts (owner) VALUES ('someone');");
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
        }
        const QByteArray before = fileBytes(foreign);
        QString error;
        QVERIFY(!LedgerStore::open(foreign, &error));
        QVERIFY2(error.contains(foreign) && error.contains(QStringLiteral("not a ticketsync ledger")) &&
                     error.contains(QStringLiteral("'accounts'")),
                 qPrintable(error));
        QCOMPARE(fileBytes(foreign), before);
        QCOMPARE(companions(foreign), QStringList());

        // A ledger whose version reads as negative: named as such, not as "not an error".
        const QString negative = freshPath(QStringLiteral("negative"));
        {
            std::unique_ptr<LedgerStore> store = openOrWarn(negative);
            QVERIFY(store);
        }
        {
            RawDb raw(negative);
            const QString problem = raw.exec("PRAGMA user_version = -3;");
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
        }
        error.clear();
        QVERIFY(!LedgerStore::open(negative, &error));
        QVERIFY2(error.contains(negative) && error.contains(QStringLiteral("schema version is -3")),
                 qPrintable(error));
        RawDb raw(negative);
        QCOMPARE(raw.text("PRAGMA user_version"), QStringLiteral("-3"));

        // A ledger cut short is damaged, not someone else's file: said as such.
        const QString cut = freshPath(QStringLiteral("cut"));
        {
            std::unique_ptr<LedgerStore> store = openOrWarn(cut);
            QVERIFY(store);
            QVERIFY2(store->appendBlocks(chain(30), &error), qPrintable(error));
        }
        QVERIFY(QFile::resize(cut, QFileInfo(cut).size() / 2));
        error.clear();
        QVERIFY(!LedgerStore::open(cut, &error));
        QVERIFY2(error.contains(cut) && error.contains(QStringLiteral("malformed")) &&
                     !error.contains(QStringLiteral("not a ticketsync")),
                 qPrintable(error));
    }

    void refusesALedgerItCannotWrite()
    {
        // A ledger the node may read but not write: refused on open, not found out at the first
        // append after the node has started serving.
        QTemporaryDir shared;
        QVERIFY(shared.isValid());
        const QString path = shared.filePath(QStringLiteral("ledger.sqlite"));
        {
            std::unique_ptr<LedgerStore> store = openOrWarn(path);
            QVERIFY(store);
            QString error;
            QVERIFY2(store->appendBlocks(chain(1), &error), qPrintable(error));
        }
        QVERIFY(QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::ReadGroup |
                                                QFileDevice::ReadOther));
        QVERIFY(QFile::setPermissions(shared.path(), QFileDevice::ReadOwner | QFileDevice::WriteOwner |
                                                         QFileDevice::ExeOwner | QFileDevice::ReadOther |
                                                         QFileDevice::WriteOther | QFileDevice::ExeOther));
        QString error;
        {
            NotTheOwner reader;
            std::unique_ptr<LedgerStore> store = LedgerStore::open(path, &error);
            QVERIFY2(!store, "a ledger this process cannot write was opened to write");
        }
        QVERIFY2(error.contains(path) && error.contains(QStringLiteral("read-only")), qPrintable(error));
        QVERIFY(QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::WriteOwner));
    }

    void openReadOnlyWritesNothing()
    {
        const QString path = freshPath(QStringLiteral("readonly"));
        const QList<Block> blocks = chain(5);
        {
            std::unique_ptr<LedgerStore> store = openOrWarn(path);
            QVERIFY(store);
            QString error;
            QVERIFY2(store->appendBlocks(blocks.mid(0, 3), &error), qPrintable(error));
        } // closed: the WAL is checkpointed and removed
        QCOMPARE(companions(path), QStringList());
        const QByteArray before = fileBytes(path);
        const QDateTime modified = QFileInfo(path).lastModified();
        {
            QString error;
            LedgerStore::OpenFailure failure = LedgerStore::OpenFailure::Damaged;
            std::unique_ptr<LedgerStore> store = LedgerStore::openReadOnly(path, &error, &failure);
            QVERIFY2(store, qPrintable(error));
            QCOMPARE(failure, LedgerStore::OpenFailure::None);
            QVERIFY(store->isReadOnly());
            QCOMPARE(store->height(), quint64(3));
            QCOMPARE(store->headHash(), blocks.at(2).hash());
            QCOMPARE(store->blocks(1, -1, &error).size(), qsizetype(3));
            QVERIFY2(error.isEmpty(), qPrintable(error));
            QCOMPARE(store->checkHead(), QString());
            QCOMPARE(store->decidedState(blocks.at(0).decisions.at(0).writeOff.digest()).value_or(0),
                     quint16(ConfirmationState::WrittenOff));
            // Every write is refused, and says so.
            QVERIFY(!store->appendBlocks(blocks.mid(3, 1), &error));
            QVERIFY2(!error.isEmpty(), "a refused append must say why");
            error.clear();
            QVERIFY(!store->importTickets(ticketsOf(blocks.mid(0, 1)), &error));
            QVERIFY(!error.isEmpty());
            QCOMPARE(companions(path), QStringList());
        }
        QCOMPARE(companions(path), QStringList());
        QCOMPARE(fileBytes(path), before);
        QCOMPARE(QFileInfo(path).lastModified(), modified);

        // With a node writing to it, the read-only store sees what is committed, WAL included.
        std::unique_ptr<LedgerStore> writer = openOrWarn(path);
        QVERIFY(writer);
        QString error;
        QVERIFY2(writer->appendBlocks(blocks.mid(3, 2), &error), qPrintable(error));
        QVERIFY(QFileInfo::exists(path + QStringLiteral("-wal")));
        std::unique_ptr<LedgerStore> reader = LedgerStore::openReadOnly(path, &error);
        QVERIFY2(reader, qPrintable(error));
        QCOMPARE(reader->height(), quint64(5));
        QCOMPARE(reader->blocks(1, -1, &error).size(), qsizetype(5));
        QVERIFY2(error.isEmpty(), qPrintable(error));
        // and does not stand in the writer's way.
        const Block sixth = sealed(6, blocks.last().hash(), {writtenOff(QStringLiteral("S-6-0"), 1)});
        QVERIFY2(writer->appendBlocks({sixth}, &error), qPrintable(error));
        QCOMPARE(reader->blocks(6, 1, &error).size(), qsizetype(1));
    }

    void openReadOnlyRefusesWhatIsNotALedger()
    {
        auto expectRefused = [](const QString &path, LedgerStore::OpenFailure expected, const QString &what) {
            QString error;
            LedgerStore::OpenFailure failure = LedgerStore::OpenFailure::None;
            QVERIFY(!LedgerStore::openReadOnly(path, &error, &failure));
            QCOMPARE(failure, expected);
            QVERIFY2(error.contains(path) && error.contains(what), qPrintable(error));
        };

        // Nothing is created where there is no file.
        const QString missing = freshPath(QStringLiteral("ro-missing"));
        expectRefused(missing, LedgerStore::OpenFailure::CannotOpen, QStringLiteral("no such file"));
        QVERIFY(!QFileInfo::exists(missing));
        QCOMPARE(companions(missing), QStringList());
        expectRefused(dir.path(), LedgerStore::OpenFailure::CannotOpen, QStringLiteral("not a regular file"));

        // Another application's SQLite file is left exactly as it was: no tables, no version.
        const QString other = freshPath(QStringLiteral("ro-other"));
        {
            RawDb raw(other);
            QCOMPARE(raw.exec("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine');"), QString());
        }
        const QByteArray otherBytes = fileBytes(other);
        expectRefused(other, LedgerStore::OpenFailure::NotALedger, QStringLiteral("no blocks table"));
        QCOMPARE(fileBytes(other), otherBytes);
        QCOMPARE(companions(other), QStringList());

        // A ledger of an older schema is not migrated.
        const QString older = freshPath(QStringLiteral("ro-v1"));
        {
            RawDb raw(older);
            QCOMPARE(raw.exec(kSchemaV1), QString());
            QCOMPARE(raw.exec("PRAGMA user_version = 1"), QString());
        }
        expectRefused(older, LedgerStore::OpenFailure::NotALedger, QStringLiteral("schema version 1"));
        QCOMPARE(RawDb(older).text("PRAGMA user_version"), QStringLiteral("1"));
        // Nor one with a blocks table and no version at all.
        const QString unversioned = freshPath(QStringLiteral("ro-v0"));
        QCOMPARE(RawDb(unversioned).exec(kSchemaV1), QString());
        expectRefused(unversioned, LedgerStore::OpenFailure::NotALedger, QStringLiteral("schema version 0"));

        // Not SQLite at all.
        const QString garbage = freshPath(QStringLiteral("ro-garbage"));
        {
            QFile file(garbage);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(QByteArray(8192, 'x'));
        }
        expectRefused(garbage, LedgerStore::OpenFailure::NotALedger, QStringLiteral("not a database"));
        QCOMPARE(fileBytes(garbage), QByteArray(8192, 'x'));

        // A ledger SQLite finds corrupt is damaged, not foreign.
        const QString damaged = freshPath(QStringLiteral("ro-damaged"));
        {
            std::unique_ptr<LedgerStore> store = openOrWarn(damaged);
            QVERIFY(store);
            QString error;
            QVERIFY2(store->appendBlocks(chain(30), &error), qPrintable(error));
        }
        qint64 pageSize = 0;
        qint64 rootPage = 0;
        {
            RawDb raw(damaged);
            pageSize = raw.text("PRAGMA page_size").toLongLong();
            rootPage = raw.text("SELECT rootpage FROM sqlite_master WHERE name = 'blocks'").toLongLong();
        }
        QVERIFY(pageSize > 0 && rootPage > 1);
        {
            QFile file(damaged);
            QVERIFY(file.open(QIODevice::ReadWrite));
            QVERIFY(file.seek((rootPage - 1) * pageSize));
            QCOMPARE(file.write(QByteArray(pageSize, '\x7f')), pageSize);
        }
        expectRefused(damaged, LedgerStore::OpenFailure::Damaged, QStringLiteral("malformed"));
    }

    void failedReadsAreNotAbsentRows()
    {
        const QString path = freshPath(QStringLiteral("lookups"));
        const QList<Block> blocks = chain(2);
        const Decision &decided = blocks.at(1).decisions.at(0);
        const QByteArray digest = decided.writeOff.digest();
        const QString ticketId = decided.writeOff.ticketId;
        std::unique_ptr<LedgerStore> store = openOrWarn(path);
        QVERIFY(store);
        QString error;
        QVERIFY2(store->importTickets(ticketsOf(blocks), &error), qPrintable(error));
        QVERIFY2(store->appendBlocks(blocks, &error), qPrintable(error));
        QVERIFY(store->acquireLock({ticketId, 1, digest, QByteArrayLiteral("signed")}, &error));

        // Rows that are there, and rows that are not: no error either way.
        auto everyLookup = [&](const QString &ticket, const QByteArray &writeOff, QStringList *errors) {
            int found = 0;
            QString e;
            found += store->ticket(ticket, &e).has_value();
            errors->append(e);
            e.clear();
            found += store->lock(ticket, 1, &e).has_value();
            errors->append(e);
            e.clear();
            found += store->decidedState(writeOff, &e).has_value();
            errors->append(e);
            e.clear();
            found += store->decisionHeight(writeOff, &e).has_value();
            errors->append(e);
            e.clear();
            found += store->writtenOffBy(ticket, 1, &e).has_value();
            errors->append(e);
            return found;
        };
        QStringList errors;
        QCOMPARE(everyLookup(ticketId, digest, &errors), 5);
        QCOMPARE(errors.join(QString()), QString());
        errors.clear();
        QCOMPARE(everyLookup(QStringLiteral("T-NONE"), sha256("none"), &errors), 0);
        QCOMPARE(errors.join(QString()), QString());

        // Tables another connection took away: every lookup fails, and says so.
        {
            RawDb raw(path);
            QCOMPARE(raw.exec("ALTER TABLE tickets RENAME TO t1; ALTER TABLE ticket_locks RENAME TO t2; "
                              "ALTER TABLE ticket_states RENAME TO t3;"),
                     QString());
        }
        errors.clear();
        QCOMPARE(everyLookup(ticketId, digest, &errors), 0);
        QCOMPARE(errors.size(), 5);
        for (const QString &failed : std::as_const(errors))
            QVERIFY2(failed.contains(path) && failed.contains(QStringLiteral("no such table")),
                     qPrintable(failed));
        error.clear();
        QCOMPARE(store->ticketCount(&error), qint64(0));
        QVERIFY2(error.contains(path), qPrintable(error));
        // An acquired lock that cannot be recorded, or read back, is no lock.
        error.clear();
        QVERIFY(
            !store->acquireLock({QStringLiteral("T-NEW"), 1, sha256("new"), QByteArrayLiteral("x")}, &error));
        QVERIFY2(error.contains(path), qPrintable(error));
        {
            RawDb raw(path);
            QCOMPARE(raw.exec("ALTER TABLE t1 RENAME TO tickets; ALTER TABLE t2 RENAME TO ticket_locks; "
                              "ALTER TABLE t3 RENAME TO ticket_states;"),
                     QString());
        }
        errors.clear();
        QCOMPARE(everyLookup(ticketId, digest, &errors), 5);
        QCOMPARE(errors.join(QString()), QString());
        store.reset();

        // A registry page SQLite finds corrupt is an error, not an unknown ticket.
        qint64 pageSize = 0;
        qint64 rootPage = 0;
        {
            RawDb raw(path);
            pageSize = raw.text("PRAGMA page_size").toLongLong();
            rootPage = raw.text("SELECT rootpage FROM sqlite_master WHERE name = 'tickets'").toLongLong();
        }
        QVERIFY(pageSize > 0 && rootPage > 1);
        QCOMPARE(companions(path), QStringList()); // checkpointed: the page is in the main file
        {
            QFile file(path);
            QVERIFY(file.open(QIODevice::ReadWrite));
            QVERIFY(file.seek((rootPage - 1) * pageSize));
            QCOMPARE(file.write(QByteArray(pageSize, '\x7f')), pageSize);
        }
        store = openOrWarn(path);
        QVERIFY(store);
        error.clear();
        QVERIFY(!store->ticket(ticketId, &error));
        QVERIFY2(error.contains(path) && error.contains(QStringLiteral("malformed")), qPrintable(error));
        error.clear();
        QVERIFY(!store->ticket(QStringLiteral("T-NONE"), &error));
        QVERIFY2(!error.isEmpty(), "an unreadable registry cannot say a ticket is not there");
    }

    void appendIsAtomic()
    {
        const QString path = freshPath(QStringLiteral("atomic"));
        const QList<Block> blocks = chain(5);
        std::unique_ptr<LedgerStore> store = openOrWarn(path);
        QVERIFY(store);
        QString error;
        QVERIFY2(store->importTickets(ticketsOf(blocks), &error), qPrintable(error));
        QVERIFY2(store->appendBlocks(blocks.mid(0, 2), &error), qPrintable(error));
        QCOMPARE(store->height(), quint64(2));
        const QByteArray head2 = blocks.at(1).hash();
        QCOMPARE(store->headHash(), head2);

        // Every way the third block of the batch {3, 4, 5} can fail to fit.
        Block unlinked = blocks.at(4);
        unlinked.previousHash = QByteArray(32, '\x5a');
        unlinked.seal(sample.keys.value(sample.coordinatorId()));
        Block wrongHeight = blocks.at(4);
        wrongHeight.height = 6;
        wrongHeight.seal(sample.keys.value(sample.coordinatorId()));
        // Links fine, but writes off S-1-0 version 1 a second time (another branch's write-off).
        const Block doubleWriteOff = sealed(
            5, blocks.at(3).hash(), {writtenOff(QStringLiteral("S-1-0"), 1, QStringLiteral("branch-2"))});
        // Links fine, but repeats a decision already in block 3 of the same batch.
        const Block repeated = sealed(5, blocks.at(3).hash(), {blocks.at(2).decisions.at(0)});

        const QList<Block> badBatches[] = {
            {blocks.at(2), blocks.at(3), unlinked},
            {blocks.at(2), blocks.at(3), wrongHeight},
            {blocks.at(2), blocks.at(3), doubleWriteOff},
            {blocks.at(2), blocks.at(3), repeated},
            {blocks.at(3), blocks.at(4)}, // does not start at the head
        };
        for (const QList<Block> &batch : badBatches) {
            error.clear();
            QVERIFY(!store->appendBlocks(batch, &error));
            QVERIFY(!error.isEmpty());
            qDebug("refused as expected: %s", qPrintable(error));
            QCOMPARE(store->height(), quint64(2));
            QCOMPARE(store->headHash(), head2);
            QVERIFY(!store->block(3));
            for (const Block &block : batch) {
                for (const Decision &decision : block.decisions) {
                    if (block.height <= 2)
                        continue;
                    if (decision.writeOff.ticketId == QStringLiteral("S-1-0"))
                        continue; // decided in block 1
                    QVERIFY2(!store->decidedState(decision.writeOff.digest()),
                             qPrintable(decision.writeOff.ticketId));
                    QCOMPARE(store->ticket(decision.writeOff.ticketId)->writtenOffVersion, 0u);
                }
            }
            QCOMPARE(store->ticket(QStringLiteral("S-1-0"))->writtenOffVersion, 1u);
        }
        QVERIFY(store->appendBlocks({}, &error));
        QCOMPARE(store->height(), quint64(2));

        // Nothing of the refused batches reached the file either.
        store.reset();
        store = openOrWarn(path);
        QVERIFY(store);
        QCOMPARE(store->height(), quint64(2));
        QCOMPARE(store->headHash(), head2);
        {
            RawDb raw(path);
            QCOMPARE(raw.text("SELECT COUNT(*) FROM blocks"), QStringLiteral("2"));
            QCOMPARE(raw.text("SELECT COUNT(*) FROM ticket_states"), QStringLiteral("4"));
            QCOMPARE(raw.text("SELECT COUNT(*) FROM tickets WHERE written_off_version > 0"),
                     QStringLiteral("4"));
        }

        // The correct batch goes in as a whole.
        QVERIFY2(store->appendBlocks(blocks.mid(2), &error), qPrintable(error));
        QCOMPARE(store->height(), quint64(5));
        QCOMPARE(store->headHash(), blocks.at(4).hash());
        for (const Ticket &ticket : ticketsOf(blocks))
            QCOMPARE(store->ticket(ticket.id)->writtenOffVersion, 1u);
        verifyWholeChain(*store, 10);
    }

    void readsBackWhatWasStored()
    {
        const QString path = freshPath(QStringLiteral("readback"));
        const QList<Block> blocks = chain(5);
        {
            std::unique_ptr<LedgerStore> store = openOrWarn(path);
            QVERIFY(store);
            QString error;
            QVERIFY2(store->appendBlocks(blocks.mid(0, 1), &error), qPrintable(error));
            QVERIFY2(store->appendBlocks(blocks.mid(1), &error), qPrintable(error));
        }
        std::unique_ptr<LedgerStore> store = openOrWarn(path);
        QVERIFY(store);
        QCOMPARE(store->height(), quint64(5));
        QCOMPARE(store->headHash(), blocks.last().hash());
        QCOMPARE(store->checkHead(), QString());

        QString error;
        const QList<Block> all = store->blocks(1, 100, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QCOMPARE(all.size(), blocks.size());
        for (qsizetype i = 0; i < all.size(); ++i)
            QCOMPARE(all.at(i).encode(), blocks.at(i).encode());

        const QList<Block> middle = store->blocks(2, 2, &error);
        QCOMPARE(middle.size(), 2);
        QCOMPARE(middle.at(0).height, quint64(2));
        QCOMPARE(middle.at(1).height, quint64(3));
        QVERIFY(store->blocks(6, 10, &error).isEmpty());

        for (const Block &expected : blocks) {
            const std::optional<Block> got = store->block(expected.height, &error);
            QVERIFY2(got, qPrintable(error));
            QCOMPARE(got->hash(), expected.hash());
            QCOMPARE(got->signature, expected.signature);
            QCOMPARE(got->decisions.size(), expected.decisions.size());
            for (const Decision &decision : expected.decisions)
                QCOMPARE(store->decidedState(decision.writeOff.digest()).value_or(0),
                         quint16(ConfirmationState::WrittenOff));
        }
        error.clear();
        QVERIFY(!store->block(6, &error));
        QVERIFY2(error.contains(QStringLiteral("6")), qPrintable(error));
    }

    // A node stores blocks with the encodings and digests its verifier already computed; the
    // ledger must hold exactly what storing them from scratch gives.
    void storesWhatTheVerifierComputedAsIs()
    {
        const QList<Block> blocks = chain(4);
        QList<BlockDecisionBytes> computed;
        const ChainReport report =
            ChainVerifier(sample.membership, 1).verify(Block::genesisPreviousHash(), blocks, &computed);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(computed.size(), blocks.size());
        for (qsizetype i = 0; i < blocks.size(); ++i) {
            QCOMPARE(computed.at(i).encoded.size(), blocks.at(i).decisions.size());
            QCOMPARE(blocks.at(i).encode(computed.at(i).encoded), blocks.at(i).encode());
            for (qsizetype d = 0; d < blocks.at(i).decisions.size(); ++d)
                QCOMPARE(computed.at(i).writeOffDigests.at(d),
                         blocks.at(i).decisions.at(d).writeOff.digest());
        }
        // What a block's own seal hands back is its decisions' encodings too.
        Block resealed = blocks.first();
        BlockDecisionBytes sealedBytes;
        resealed.seal(sample.keys.value(sample.coordinatorId()), &sealedBytes);
        QCOMPARE(sealedBytes.encoded, computed.first().encoded);

        std::unique_ptr<LedgerStore> fromScratch = openOrWarn(freshPath(QStringLiteral("scratch")));
        std::unique_ptr<LedgerStore> reused = openOrWarn(freshPath(QStringLiteral("reused")));
        QVERIFY(fromScratch && reused);
        QString error;
        QVERIFY2(fromScratch->appendBlocks(blocks, &error), qPrintable(error));
        // Lists of the wrong length are not used, only computed again.
        QList<BlockDecisionBytes> partial = computed.mid(0, 2);
        partial[1].writeOffDigests.removeLast();
        QVERIFY2(reused->appendBlocks(blocks.mid(0, 2), &error, &partial), qPrintable(error));
        const QList<BlockDecisionBytes> rest = computed.mid(2);
        QVERIFY2(reused->appendBlocks(blocks.mid(2), &error, &rest), qPrintable(error));
        QCOMPARE(reused->headHash(), fromScratch->headHash());
        const QList<Block> a = fromScratch->blocks(1, 10, &error);
        const QList<Block> b = reused->blocks(1, 10, &error);
        QCOMPARE(b.size(), a.size());
        for (qsizetype i = 0; i < a.size(); ++i)
            QCOMPARE(b.at(i).encode(), a.at(i).encode());
        for (const Block &block : blocks)
            for (const Decision &decision : block.decisions)
                QCOMPARE(reused->decidedState(decision.writeOff.digest()).value_or(0),
                         quint16(ConfirmationState::WrittenOff));
        verifyWholeChain(*reused, 8);
    }

    void reportsCorruptBlocks()
    {
        const QString path = freshPath(QStringLiteral("corrupt"));
        const QList<Block> blocks = chain(4);
        std::unique_ptr<LedgerStore> store = openOrWarn(path);
        QVERIFY(store);
        QString error;
        QVERIFY2(store->appendBlocks(blocks, &error), qPrintable(error));

        RawDb raw(path);
        // Block 2: bytes that do not decode at all.
        QString problem = raw.setBlockData(2, QByteArrayLiteral("\xde\xad\xbe\xef not a block"));
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        error.clear();
        const QList<Block> read = store->blocks(1, 10, &error);
        QVERIFY2(error.contains(QStringLiteral("block 2")) && error.contains(QStringLiteral("corrupt")),
                 qPrintable(error));
        QVERIFY(read.size() < 2); // nothing from the corrupt block on is returned as good
        error.clear();
        QVERIFY(!store->block(2, &error));
        QVERIFY2(error.contains(QStringLiteral("block 2")), qPrintable(error));
        QVERIFY(store->block(1)); // the others still read

        // Block 3: truncated.
        const QByteArray data3 = raw.blockData(3);
        QCOMPARE(data3, blocks.at(2).encode());
        problem = raw.setBlockData(3, data3.left(data3.size() / 2));
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        error.clear();
        QVERIFY(!store->block(3, &error));
        QVERIFY2(error.contains(QStringLiteral("block 3")), qPrintable(error));

        // checkHead reads the block below the head too; put block 3 back to look at the head alone.
        QVERIFY2(store->checkHead().contains(QStringLiteral("block 3")), qPrintable(store->checkHead()));
        problem = raw.setBlockData(3, data3);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QCOMPARE(store->checkHead(), QString());

        // Block 4 (the head): decodes, but is not the block whose hash was stored.
        Block altered = blocks.at(3);
        altered.timestampMs += 1;
        altered.seal(sample.keys.value(sample.coordinatorId()));
        problem = raw.setBlockData(4, altered.encode());
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        error.clear();
        QVERIFY(!store->block(4, &error));
        QVERIFY2(error.contains(QStringLiteral("block 4")), qPrintable(error));
        const QString headProblem = store->checkHead();
        QVERIFY2(headProblem.contains(QStringLiteral("block 4")), qPrintable(headProblem));

        // A reopened store reports the same.
        store.reset();
        store = openOrWarn(path);
        QVERIFY(store);
        QVERIFY2(store->checkHead().contains(QStringLiteral("block 4")), qPrintable(store->checkHead()));
    }

    void reportsMissingBlocks()
    {
        // A block row gone from the middle of the chain: every read that reaches it names the
        // missing height, and no read returns the block after it in its place.
        const QString path = freshPath(QStringLiteral("gap"));
        const QList<Block> blocks = chain(5);
        std::unique_ptr<LedgerStore> store = openOrWarn(path);
        QVERIFY(store);
        QString error;
        QVERIFY2(store->appendBlocks(blocks, &error), qPrintable(error));
        RawDb raw(path);
        const QString problem = raw.exec("DELETE FROM blocks WHERE height = 3;");
        QVERIFY2(problem.isEmpty(), qPrintable(problem));

        error.clear();
        QVERIFY(!store->block(3, &error));
        QVERIFY2(error.contains(path) && error.contains(QStringLiteral("block 3 is missing")),
                 qPrintable(error));
        error.clear();
        const QList<Block> read = store->blocks(1, 10, &error);
        QCOMPARE(read.size(), 2);
        QCOMPARE(read.last().height, quint64(2));
        QVERIFY2(error.contains(QStringLiteral("block 3 is missing")), qPrintable(error));
        error.clear();
        QVERIFY(store->block(4, &error)); // the rest still read
        QVERIFY2(error.isEmpty(), qPrintable(error));
        error.clear();
        QVERIFY(!store->block(6, &error)); // above the head: absent, not missing
        QVERIFY2(error.contains(QStringLiteral("no block at height 6")), qPrintable(error));

        // The head's row gone: the chain looks whole up to 4, but block 5's decisions are still
        // stored, so block 5 could never be appended again. Refused on open, by name.
        store.reset();
        const QString deleted = raw.exec("DELETE FROM blocks WHERE height = 5;");
        QVERIFY2(deleted.isEmpty(), qPrintable(deleted));
        error.clear();
        QVERIFY(!LedgerStore::open(path, &error));
        QVERIFY2(error.contains(path) && error.contains(QStringLiteral("decisions of block 5")) &&
                     error.contains(QStringLiteral("ends at block 4")),
                 qPrintable(error));
    }

    void reportsUnreadablePages()
    {
        // Damage below the blob level: SQLite itself fails to read a b-tree page of the
        // blocks table. That must surface as an error, never as a shorter chain or an empty ledger.
        const QString path = freshPath(QStringLiteral("pages"));
        const QList<Block> blocks = chain(30);
        {
            std::unique_ptr<LedgerStore> store = openOrWarn(path);
            QVERIFY(store);
            QString error;
            QVERIFY2(store->appendBlocks(blocks, &error), qPrintable(error));
        } // the last connection to close checkpoints the WAL into the main file
        qint64 pageSize = 0;
        qint64 leafPage = 0;
        qint64 rootPage = 0;
        {
            RawDb raw(path);
            pageSize = raw.text("PRAGMA page_size").toLongLong();
            rootPage = raw.text("SELECT rootpage FROM sqlite_master WHERE name = 'blocks'").toLongLong();
            // dbstat's path orders pages as the b-tree does; take a leaf in the middle.
            leafPage = raw.text("SELECT pageno FROM dbstat WHERE name = 'blocks' AND pagetype = 'leaf' "
                                "ORDER BY path LIMIT 1 OFFSET 2")
                           .toLongLong();
        }
        if (leafPage == 0)
            QSKIP("this SQLite has no dbstat table to find a leaf page with");
        QVERIFY(pageSize > 0 && rootPage > 0 && leafPage != rootPage);
        QVERIFY(!QFile::exists(path + QStringLiteral("-wal")) ||
                QFile(path + QStringLiteral("-wal")).size() == 0);
        auto overwritePage = [&](qint64 page) {
            QFile file(path);
            QVERIFY(file.open(QIODevice::ReadWrite));
            QVERIFY(file.seek((page - 1) * pageSize));
            QCOMPARE(file.write(QByteArray(pageSize, '\x7f')), pageSize);
        };

        overwritePage(leafPage);
        {
            std::unique_ptr<LedgerStore> store = openOrWarn(path);
            QVERIFY(store);
            QCOMPARE(store->height(), quint64(30)); // the head's leaf is intact
            QString error;
            const QList<Block> read = store->blocks(1, -1, &error);
            QVERIFY(read.size() < blocks.size());
            QVERIFY2(
                !error.isEmpty(),
                qPrintable(QStringLiteral("read %1 of 30 blocks and reported nothing").arg(read.size())));
            QVERIFY2(error.contains(path), qPrintable(error));
        }

        overwritePage(rootPage);
        QString error;
        std::unique_ptr<LedgerStore> store = LedgerStore::open(path, &error);
        QVERIFY2(!store, store ? qPrintable(QStringLiteral("opened at height %1").arg(store->height())) : "");
        QVERIFY2(error.contains(path), qPrintable(error));
    }

    void recoversAfterSigkill()
    {
#ifndef STORE_CRASH_CHILD
        QSKIP("store_crash_child is not built");
#else
        const QString path = freshPath(QStringLiteral("crash"));
        const quint32 seed = QRandomGenerator::global()->generate();
        qInfo("random seed %u", seed);
        QRandomGenerator random(seed);
        quint64 durable = 0; // the height found on reopening after the previous kill
        constexpr int kRounds = 5;
        constexpr int kMaxBatch = 3; // the child's largest multi-block transaction

        for (int round = 0; round < kRounds; ++round) {
            QProcess child;
            child.setProgram(QStringLiteral(STORE_CRASH_CHILD));
            child.setArguments({path, QStringLiteral("60")});
            child.setProcessChannelMode(QProcess::SeparateChannels);
            child.start();
            QVERIFY2(child.waitForStarted(10000), qPrintable(child.errorString()));

            quint64 acknowledged = durable;
            int commits = 0;
            bool ready = false;
            QString protocolError;
            auto drain = [&] {
                while (child.canReadLine()) {
                    const QByteArray line = child.readLine().trimmed();
                    const QList<QByteArray> words = line.split(' ');
                    bool ok = false;
                    const quint64 height = words.size() == 2 ? words.at(1).toULongLong(&ok) : 0;
                    if (!ok)
                        protocolError = QStringLiteral("unexpected line: ") + QString::fromUtf8(line);
                    else if (words.at(0) == "ready" && height != durable)
                        protocolError =
                            QStringLiteral("child started at %1, expected %2").arg(height).arg(durable);
                    else if (words.at(0) == "ready")
                        ready = true;
                    else if (words.at(0) == "committed" && height > acknowledged && ready) {
                        acknowledged = height;
                        ++commits;
                    } else
                        protocolError = QStringLiteral("out of order: ") + QString::fromUtf8(line);
                }
            };

            // Wait until it has committed something, then let it run for a random while.
            QElapsedTimer timer;
            timer.start();
            const int wanted = 1 + int(random.bounded(3));
            while (commits < wanted && child.state() == QProcess::Running && timer.elapsed() < 20000) {
                child.waitForReadyRead(100);
                drain();
            }
            QVERIFY2(commits >= wanted,
                     qPrintable(QString::fromUtf8(child.readAllStandardError()) + protocolError));
            const qint64 delayMs = qint64(random.bounded(300));
            timer.restart();
            while (timer.elapsed() < delayMs) {
                child.waitForReadyRead(int(qMax<qint64>(1, delayMs - timer.elapsed())));
                drain();
            }
            QCOMPARE(child.state(), QProcess::Running);
            QCOMPARE(::kill(pid_t(child.processId()), SIGKILL), 0);
            QVERIFY(child.waitForFinished(10000));
            drain(); // lines in the pipe were printed after their commit: they count
            QCOMPARE(child.exitStatus(), QProcess::CrashExit);
            QVERIFY2(protocolError.isEmpty(), qPrintable(protocolError));
            const QByteArray childErrors = child.readAllStandardError();
            QVERIFY2(childErrors.isEmpty(), childErrors.constData());

            std::unique_ptr<LedgerStore> store = openOrWarn(path);
            QVERIFY(store);
            qInfo("round %d: killed after %lld ms extra, acknowledged %llu, found %llu", round, delayMs,
                  static_cast<unsigned long long>(acknowledged),
                  static_cast<unsigned long long>(store->height()));
            QVERIFY2(store->height() >= acknowledged, "an acknowledged commit was lost");
            // At most the one batch committed just before the kill can be unacknowledged.
            QVERIFY(store->height() <= acknowledged + kMaxBatch);
            const QString headProblem = store->checkHead();
            QVERIFY2(headProblem.isEmpty(), qPrintable(headProblem));
            durable = store->height();
        }

        std::unique_ptr<LedgerStore> store = openOrWarn(path);
        QVERIFY(store);
        QVERIFY(store->height() > 0);
        verifyWholeChain(*store, store->height() * 50);
        RawDb raw(path);
        QCOMPARE(raw.text("PRAGMA integrity_check"), QStringLiteral("ok"));
        QCOMPARE(raw.text("SELECT COUNT(*) FROM ticket_states"), QString::number(store->height() * 50));
#endif
    }

    // Commits of about 100 pages each: rows of 4,000 random bytes, one page apiece.
    static QString commitPages(sqlite3 *db, int commits)
    {
        for (int c = 0; c < commits; ++c) {
            if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
                return QString::fromUtf8(sqlite3_errmsg(db));
            SqliteStatement insert(db, "INSERT INTO pages (data) VALUES (?)");
            for (int row = 0; row < 100; ++row) {
                QByteArray data(4000, Qt::Uninitialized);
                for (char &byte : data)
                    byte = char(QRandomGenerator::global()->bounded(256));
                insert.bind(1, data);
                if (insert.step() != SQLITE_DONE)
                    return insert.errorText();
                insert.reset();
            }
            if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
                return QString::fromUtf8(sqlite3_errmsg(db));
        }
        return {};
    }

    static sqlite3 *openWal(const QString &path)
    {
        sqlite3 *db = nullptr;
        sqlite3_open_v2(path.toUtf8().constData(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
        sqlite3_busy_timeout(db, 5000);
        sqlite3_exec(
            db,
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS pages (data BLOB)",
            nullptr, nullptr, nullptr);
        return db;
    }

    void checkpointsOnItsOwnThread()
    {
        const std::unique_ptr<CheckpointedDb> opened = checkpointed(QStringLiteral("checkpoints"));
        QVERIFY2(opened->checkpointer, qPrintable(opened->error));
        const QString &path = opened->path;
        sqlite3 *db = opened->db;
        std::unique_ptr<WalCheckpointer> &checkpointer = opened->checkpointer;

        // 3,000 pages: past the threshold three times, far short of the inline limit.
        const QString problem = commitPages(db, 30);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QTRY_VERIFY_WITH_TIMEOUT(checkpointer->backgroundCheckpoints() >= 1, 30000);
        QCOMPARE(checkpointer->inlineCheckpoints(), 0);
        // Copied into the database file while the connection is still open: all 3,000 pages.
        QTRY_VERIFY_WITH_TIMEOUT(QFileInfo(path).size() >= qint64(3000) * 4096, 30000);
        // Writing goes on after a background checkpoint. (Whether the WAL then starts over
        // depends on the thread having finished first; that is timing, not asserted here.)
        QVERIFY2(commitPages(db, 10).isEmpty(), "second round");

        checkpointer.reset();
        SqliteStatement count(db, "SELECT COUNT(*) FROM pages");
        QCOMPARE(count.step(), SQLITE_ROW);
        QCOMPARE(count.integer(0), qint64(4000));
        SqliteStatement check(db, "PRAGMA integrity_check");
        QCOMPARE(check.step(), SQLITE_ROW);
        QCOMPARE(check.text(0), QStringLiteral("ok"));
    }

    void walStartsOverAfterABackgroundCheckpoint()
    {
        // Once the thread has copied the whole WAL, the next commit writes it again from its
        // start: the file stays the size of one round of commits instead of growing by one round
        // each time. Ten commits of about 102 pages each: only the tenth passes kPagesPerCheckpoint,
        // and nothing is committed while the thread copies, so it copies everything.
        static_assert(WalCheckpointer::kPagesPerCheckpoint == 1000, "ten commits of ~102 pages per round");
        const std::unique_ptr<CheckpointedDb> opened = checkpointed(QStringLiteral("wal-restart"));
        QVERIFY2(opened->checkpointer, qPrintable(opened->error));
        const QString &path = opened->path;
        sqlite3 *db = opened->db;
        std::unique_ptr<WalCheckpointer> &checkpointer = opened->checkpointer;
        const QString wal = path + QStringLiteral("-wal");
        qint64 firstRound = 0;
        for (int round = 1; round <= 4; ++round) {
            const QString problem = commitPages(db, 10);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            QTRY_VERIFY_WITH_TIMEOUT(checkpointer->backgroundCheckpoints() >= round, 30000);
            const qint64 walBytes = QFileInfo(wal).size();
            if (round == 1) {
                firstRound = walBytes;
                QVERIFY2(walBytes >= qint64(1000) * 4096, qPrintable(QString::number(walBytes)));
            } else {
                // Written over from its start: about the same size (a round touches a few more
                // b-tree pages as the table grows). Appended to, it would be twice as long.
                QVERIFY2(walBytes < firstRound * 3 / 2,
                         qPrintable(QStringLiteral("round %1: the WAL grew from %2 to %3 bytes")
                                        .arg(round)
                                        .arg(firstRound)
                                        .arg(walBytes)));
            }
            // Every round reached the database file itself.
            QTRY_VERIFY_WITH_TIMEOUT(QFileInfo(path).size() >= qint64(round) * 1000 * 4096, 30000);
        }
        QCOMPARE(checkpointer->backgroundCheckpoints(), 4);
        QCOMPARE(checkpointer->inlineCheckpoints(), 0);
        checkpointer.reset();
        SqliteStatement count(db, "SELECT COUNT(*) FROM pages");
        QCOMPARE(count.step(), SQLITE_ROW);
        QCOMPARE(count.integer(0), qint64(4000));
    }

    void checkpointsInlineWhenTheWalOutgrowsIt()
    {
        // A reader keeps an old snapshot, so no checkpoint can empty the WAL and it keeps
        // growing: past kPagesInline the committing thread checkpoints itself.
        const std::unique_ptr<CheckpointedDb> opened = checkpointed(QStringLiteral("checkpoints-inline"));
        QVERIFY2(opened->checkpointer, qPrintable(opened->error));
        const QString &path = opened->path;
        sqlite3 *db = opened->db;
        std::unique_ptr<WalCheckpointer> &checkpointer = opened->checkpointer;
        QVERIFY2(commitPages(db, 1).isEmpty(), "first rows");
        sqlite3 *reader = openWal(path);
        auto closeReader = qScopeGuard([reader] { sqlite3_close_v2(reader); });
        SqliteStatement snapshot(reader, "SELECT data FROM pages");
        QCOMPARE(snapshot.step(), SQLITE_ROW); // holds its read transaction until reset

        const QString problem = commitPages(db, WalCheckpointer::kPagesInline / 100 + 5);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY(checkpointer->inlineCheckpoints() >= 1);
        snapshot.reset();
    }
};

QTEST_GUILESS_MAIN(TestStore)
#include "tst_store.moc"
