// The ticketsync tool as auditors run it: a real process, real files, exit codes and JSON.
#include "Block.h"
#include "ChainVerifier.h"
#include "LedgerStore.h"
#include "ProcessRun.h"
#include "SampleConsortium.h"
#include "Tally.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>
#include <sqlite3.h>
#include <sys/stat.h>

using namespace ticketsync;

class TestCli : public QObject
{
    Q_OBJECT

private:
    using Run = ProcessRun;

    // A consortium of the tests' own, for ledgers forged block by block.
    SampleConsortium forger = SampleConsortium::generate();
    QString forgerMembership;

    // A WRITTEN_OFF certificate from q of the targets.
    Decision writtenOff(const QString &ticketId, quint32 version, qint64 amountMinor = 10000) const
    {
        const WriteOffResult writeOff = forger.writeOff(QStringLiteral("branch-1"), ticketId, version,
                                                        amountMinor, QStringLiteral("CNY"), 1795000000000);
        Tally tally(forger.membership, writeOff);
        for (const QString &target : forger.targetIds().mid(0, forger.membership.quorum()))
            tally.add(forger.confirm(target, writeOff, ConfirmationState::WrittenOff));
        return tally.decision(1795000000100);
    }

    // A chain from genesis with one decision per block: `at` puts a given decision at a height,
    // every other block holds a write-off of a ticket of its own.
    QList<Block> forgedChain(int count, const QHash<int, Decision> &at) const
    {
        QList<Block> blocks;
        QByteArray previous = Block::genesisPreviousHash();
        for (int height = 1; height <= count; ++height) {
            Block block;
            block.height = quint64(height);
            block.previousHash = previous;
            block.membershipHash = forger.membership.hash();
            block.timestampMs = 1795000000200 + height;
            block.coordinatorId = forger.coordinatorId();
            block.decisions = {at.contains(height) ? at.value(height)
                                                   : writtenOff(QStringLiteral("U-%1").arg(height), 1)};
            block.seal(forger.keys.value(forger.coordinatorId()));
            previous = block.hash();
            blocks.append(block);
        }
        return blocks;
    }

    // A store holding blocks as they are: written past LedgerStore, which refuses duplicates.
    void writeForgedStore(const QString &path, const QList<Block> &blocks)
    {
        {
            QString error;
            QVERIFY2(LedgerStore::open(path, &error), qPrintable(error)); // creates the schema
        }
        sqlite3 *db = nullptr;
        QCOMPARE(sqlite3_open(QFile::encodeName(path).constData(), &db), SQLITE_OK);
        sqlite3_stmt *insert = nullptr;
        QCOMPARE(sqlite3_prepare_v2(db,
                                    "INSERT INTO blocks (height, hash, previous_hash, timestamp_ms, "
                                    "decision_count, data) VALUES (?, ?, ?, ?, ?, ?)",
                                    -1, &insert, nullptr),
                 SQLITE_OK);
        sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
        for (const Block &block : blocks) {
            const QByteArray hash = block.hash();
            const QByteArray data = block.encode();
            sqlite3_bind_int64(insert, 1, qint64(block.height));
            sqlite3_bind_blob(insert, 2, hash.constData(), int(hash.size()), SQLITE_TRANSIENT);
            sqlite3_bind_blob(insert, 3, block.previousHash.constData(), int(block.previousHash.size()),
                              SQLITE_TRANSIENT);
            sqlite3_bind_int64(insert, 4, block.timestampMs);
            sqlite3_bind_int64(insert, 5, block.decisions.size());
            sqlite3_bind_blob(insert, 6, data.constData(), int(data.size()), SQLITE_TRANSIENT);
            QCOMPARE(sqlite3_step(insert), SQLITE_DONE);
            sqlite3_reset(insert);
        }
        QCOMPARE(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_finalize(insert);
        sqlite3_close(db);
    }

    Run run(const QStringList &arguments)
    {
        return ProcessRun::of(QStringLiteral(TICKETSYNC_CLI), arguments);
    }

    static void writeFile(const QString &path, const QByteArray &contents)
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(contents);
    }

    static QByteArray readFile(const QString &path)
    {
        QFile file(path);
        return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
    }

    QTemporaryDir dir;
    QString membership;
    QString ledger;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(dir.isValid());
        const Run demo = run({QStringLiteral("demo"), QStringLiteral("--dir"), dir.path(),
                              QStringLiteral("--count"), QStringLiteral("30"), QStringLiteral("--json")});
        QCOMPARE(demo.exitCode, 0);
        const QJsonObject result = demo.json();
        QVERIFY(result.value(QLatin1String("ok")).toBool());
        int total = 0;
        const QJsonObject outcomes = result.value(QLatin1String("outcomes")).toObject();
        for (const QString &key : outcomes.keys())
            total += outcomes.value(key).toInt();
        QCOMPARE(total, 30);
        QVERIFY(outcomes.value(QLatin1String("WRITTEN_OFF")).toInt() > 0);
        QVERIFY(outcomes.value(QLatin1String("ALREADY_WRITTEN_OFF")).toInt() > 0);
        // Every store that followed the chain ends on the same head.
        const QJsonObject heads = result.value(QLatin1String("heads")).toObject();
        QCOMPARE(heads.size(), 4);
        for (const QString &node : heads.keys())
            QCOMPARE(heads.value(node).toString(), heads.value(QLatin1String("coordinator-1")).toString());
        membership = result.value(QLatin1String("membership")).toString();
        ledger = result.value(QLatin1String("ledger")).toString();
        QVERIFY(QFile::exists(membership));
        QVERIFY(QFile::exists(ledger));

        forgerMembership = dir.filePath(QStringLiteral("forger-membership.json"));
        writeFile(forgerMembership, forger.membership.toJson());
    }

    void helpListsEveryCommand()
    {
        const Run help = run({QStringLiteral("--help")});
        QCOMPARE(help.exitCode, 0);
        for (const char *command : {"keygen", "membership check", "verify-certificate", "verify-chain",
                                    "export-chain", "export-certificate", "demo"})
            QVERIFY2(help.out.contains(command), command);
        const Run unknown = run({QStringLiteral("frobnicate")});
        QCOMPARE(unknown.exitCode, 2);
        QVERIFY(unknown.err.contains("unknown command 'frobnicate'"));
        const Run missingArgument = run({QStringLiteral("verify-chain")});
        QCOMPARE(missingArgument.exitCode, 2);
    }

    void eachCommandsHelpNamesTheCommand()
    {
        // The usage line is what a reader types next: `ticketsync INPUT` would be an unknown command.
        const QStringList commands{QStringLiteral("keygen"),
                                   QStringLiteral("membership check"),
                                   QStringLiteral("verify-certificate"),
                                   QStringLiteral("verify-chain"),
                                   QStringLiteral("export-chain"),
                                   QStringLiteral("export-certificate"),
                                   QStringLiteral("demo"),
                                   QStringLiteral("protocol-example"),
                                   QStringLiteral("verify-report"),
                                   QStringLiteral("devnet"),
                                   QStringLiteral("status"),
                                   QStringLiteral("resync-receiver")};
        for (const QString &command : commands) {
            const Run help = run(command.split(QLatin1Char(' ')) + QStringList{QStringLiteral("--help")});
            QCOMPARE(help.exitCode, 0);
            const QString usage = help.outText().section(QLatin1Char('\n'), 0, 0);
            QVERIFY2(usage.startsWith(QStringLiteral("Usage: ticketsync %1 [options]").arg(command)),
                     qPrintable(usage));
        }
        const Run missing = run({QStringLiteral("membership"), QStringLiteral("check")});
        QCOMPARE(missing.exitCode, 2);
        QVERIFY2(
            missing.errText().startsWith(QLatin1String("ticketsync membership check: expected 1 argument")) &&
                missing.errText().contains(
                    QLatin1String("\nUsage: ticketsync membership check [options] FILE")),
            qPrintable(missing.errText()));
    }

    void keygenWritesPrivateKeyFiles()
    {
        const QString secret = dir.filePath(QStringLiteral("node.key"));
        const QString publicKey = dir.filePath(QStringLiteral("node.pub"));
        const Run keygen = run({QStringLiteral("keygen"), secret, QStringLiteral("--public"), publicKey,
                                QStringLiteral("--json")});
        QCOMPARE(keygen.exitCode, 0);
        QCOMPARE(keygen.json().value(QLatin1String("publicKey")).toString().size(), 64);
        struct stat info;
        QCOMPARE(::stat(QFile::encodeName(secret).constData(), &info), 0);
        QCOMPARE(int(info.st_mode & 0777), 0600);
        QVERIFY(readFile(secret).startsWith("-----BEGIN PRIVATE KEY-----"));
        QVERIFY(readFile(publicKey).startsWith("-----BEGIN PUBLIC KEY-----"));

        const Run again = run({QStringLiteral("keygen"), secret});
        QCOMPARE(again.exitCode, 2);
        QVERIFY(again.err.contains("refusing to overwrite"));

        const QString raw = dir.filePath(QStringLiteral("raw.key"));
        QCOMPARE(
            run({QStringLiteral("keygen"), raw, QStringLiteral("--format"), QStringLiteral("raw")}).exitCode,
            0);
        QCOMPARE(readFile(raw).size(), 32);
    }

    void keygenNeverOverwritesWithThePublicKey()
    {
        // A slip in --public: the membership it was meant to go into, or the secret key itself.
        const QString theirs = dir.filePath(QStringLiteral("keygen-membership.json"));
        writeFile(theirs, "the consortium's membership");
        const QString secret = dir.filePath(QStringLiteral("keygen-slip.key"));
        QFile::remove(secret);
        const Run refused = run({QStringLiteral("keygen"), secret, QStringLiteral("--public"), theirs});
        QCOMPARE(refused.exitCode, 2);
        QVERIFY2(refused.errText().contains(
                     QStringLiteral("%1 already exists; refusing to overwrite it").arg(theirs)),
                 refused.err.constData());
        QCOMPARE(readFile(theirs), QByteArray("the consortium's membership"));
        QVERIFY(!QFileInfo::exists(secret)); // nothing written

        const Run same = run({QStringLiteral("keygen"), secret, QStringLiteral("--public"), secret,
                              QStringLiteral("--force")});
        QCOMPARE(same.exitCode, 2);
        QVERIFY(!QFileInfo::exists(secret));

        // With --force, as for the secret key, it is replaced.
        QCOMPARE(run({QStringLiteral("keygen"), secret, QStringLiteral("--public"), theirs,
                      QStringLiteral("--force")})
                     .exitCode,
                 0);
        QVERIFY(readFile(theirs).startsWith("-----BEGIN PUBLIC KEY-----"));
    }

    void membershipCheck()
    {
        const Run ok = run(
            {QStringLiteral("membership"), QStringLiteral("check"), membership, QStringLiteral("--json")});
        QCOMPARE(ok.exitCode, 0);
        QCOMPARE(ok.json().value(QLatin1String("n")).toInt(), 4);
        QCOMPARE(ok.json().value(QLatin1String("q")).toInt(), 3);
        QCOMPARE(ok.json().value(QLatin1String("hash")).toString().size(), 64);

        // An unsafe quorum is refused with the key and the reason.
        QJsonObject root = QJsonDocument::fromJson(readFile(membership)).object();
        root.insert(QLatin1String("quorum"), QJsonObject{{QLatin1String("count"), 2}});
        const QString unsafe = dir.filePath(QStringLiteral("unsafe.json"));
        writeFile(unsafe, QJsonDocument(root).toJson());
        const Run refused = run({QStringLiteral("membership"), QStringLiteral("check"), unsafe});
        QCOMPARE(refused.exitCode, 1);
        QVERIFY2(refused.err.contains("'quorum'") && refused.err.contains("unsafe"), refused.err.constData());

        const QString broken = dir.filePath(QStringLiteral("broken.json"));
        writeFile(broken, "{\"format\": \"ticketsync-membership\", ");
        const Run notJson = run({QStringLiteral("membership"), QStringLiteral("check"), broken});
        QCOMPARE(notJson.exitCode, 1);
        QVERIFY(notJson.err.contains("broken.json"));
        QVERIFY(notJson.err.contains("offset"));

        // A file that is not there leaves nothing to check: bad input, not a failed check.
        const QString missing = dir.filePath(QStringLiteral("no-such-membership.json"));
        const Run absent = run({QStringLiteral("membership"), QStringLiteral("check"), missing});
        QCOMPARE(absent.exitCode, 2);
        QVERIFY2(absent.err.contains("no-such-membership.json") && absent.err.contains("no such file"),
                 absent.err.constData());
        QCOMPARE(run({QStringLiteral("membership"), QStringLiteral("check"), dir.path()}).exitCode, 2);
    }

    void verifyChainOnStoreAndExport()
    {
        const Run store = run({QStringLiteral("verify-chain"), ledger, QStringLiteral("--membership"),
                               membership, QStringLiteral("--json")});
        QCOMPARE(store.exitCode, 0);
        const int blocks = store.json().value(QLatin1String("blocksVerified")).toInt();
        QVERIFY(blocks >= 3);

        const QString exported = dir.filePath(QStringLiteral("chain.tsc"));
        QCOMPARE(run({QStringLiteral("export-chain"), ledger, exported}).exitCode, 0);
        const Run file = run({QStringLiteral("verify-chain"), exported, QStringLiteral("--membership"),
                              membership, QStringLiteral("--json")});
        QCOMPARE(file.exitCode, 0);
        QCOMPARE(file.json().value(QLatin1String("headHash")), store.json().value(QLatin1String("headHash")));

        // A segment from height 2 verifies on its own.
        const QString tail = dir.filePath(QStringLiteral("tail.tsc"));
        QCOMPARE(
            run({QStringLiteral("export-chain"), ledger, tail, QStringLiteral("--from"), QStringLiteral("2")})
                .exitCode,
            0);
        const Run segment = run({QStringLiteral("verify-chain"), tail, QStringLiteral("--membership"),
                                 membership, QStringLiteral("--json")});
        QCOMPARE(segment.exitCode, 0);
        QCOMPARE(segment.json().value(QLatin1String("firstHeight")).toInt(), 2);

        // One changed byte anywhere in the export is caught; try a spread of positions.
        const QByteArray original = readFile(exported);
        const QString tampered = dir.filePath(QStringLiteral("tampered.tsc"));
        for (qsizetype position = 5; position < original.size(); position += original.size() / 40 + 1) {
            QByteArray changed = original;
            changed[position] = char(changed.at(position) ^ 0x20);
            writeFile(tampered, changed);
            const Run check = run({QStringLiteral("verify-chain"), tampered, QStringLiteral("--membership"),
                                   membership, QStringLiteral("--json")});
            QVERIFY2(check.exitCode == 1, qPrintable(QStringLiteral("byte %1 not detected").arg(position)));
            QVERIFY(!check.json().value(QLatin1String("error")).toString().isEmpty());
        }
        writeFile(tampered, original.left(original.size() - 7));
        const Run truncated =
            run({QStringLiteral("verify-chain"), tampered, QStringLiteral("--membership"), membership});
        QCOMPARE(truncated.exitCode, 1);
        QVERIFY(truncated.err.contains("truncated"));

        // A store cut short fails the same way: damaged evidence is a failed verification.
        const QString cut = dir.filePath(QStringLiteral("cut.db"));
        writeFile(cut, readFile(ledger).left(2 * 4096));
        const Run truncatedStore =
            run({QStringLiteral("verify-chain"), cut, QStringLiteral("--membership"), membership});
        QVERIFY2(truncatedStore.exitCode == 1, truncatedStore.err.constData());
        QVERIFY2(truncatedStore.err.contains("cut.db") && truncatedStore.err.contains("malformed"),
                 truncatedStore.err.constData());

        // A file of another kind is not a damaged chain: nothing to verify, exit 2.
        const QString other = dir.filePath(QStringLiteral("not-a-chain.json"));
        writeFile(other, "{\"format\": \"something else\"}");
        for (const QString &input : {other, dir.filePath(QStringLiteral("empty.tsc"))}) {
            if (!QFile::exists(input))
                writeFile(input, QByteArray());
            const Run refused =
                run({QStringLiteral("verify-chain"), input, QStringLiteral("--membership"), membership});
            QCOMPARE(refused.exitCode, 2);
            QVERIFY2(refused.err.contains("neither a ticketsync ledger"), refused.err.constData());
        }
    }

    void verifyChainDetectsTamperedStore()
    {
        const QString copy = dir.filePath(QStringLiteral("tampered.db"));
        QVERIFY(QFile::copy(ledger, copy));
        sqlite3 *db = nullptr;
        QCOMPARE(sqlite3_open(QFile::encodeName(copy).constData(), &db), SQLITE_OK);
        // Change one amount byte deep inside block 2 and store the block under its old hash.
        sqlite3_stmt *read = nullptr;
        sqlite3_prepare_v2(db, "SELECT data FROM blocks WHERE height = 2", -1, &read, nullptr);
        QCOMPARE(sqlite3_step(read), SQLITE_ROW);
        QByteArray data(static_cast<const char *>(sqlite3_column_blob(read, 0)),
                        sqlite3_column_bytes(read, 0));
        sqlite3_finalize(read);
        data[data.size() / 2] = char(data.at(data.size() / 2) ^ 0x01);
        sqlite3_stmt *write = nullptr;
        sqlite3_prepare_v2(db, "UPDATE blocks SET data = ? WHERE height = 2", -1, &write, nullptr);
        sqlite3_bind_blob(write, 1, data.constData(), int(data.size()), SQLITE_TRANSIENT);
        QCOMPARE(sqlite3_step(write), SQLITE_DONE);
        sqlite3_finalize(write);
        sqlite3_close(db);

        const Run check = run({QStringLiteral("verify-chain"), copy, QStringLiteral("--membership"),
                               membership, QStringLiteral("--json")});
        QCOMPARE(check.exitCode, 1);
        QCOMPARE(check.json().value(QLatin1String("failedHeight")).toInt(), 2);
    }

    void verifyChainCatchesDuplicatesFarApart_data()
    {
        QTest::addColumn<bool>("sameWriteOff");
        QTest::addColumn<QString>("expected");
        QTest::newRow("one write-off decided twice") << true << QStringLiteral("is decided twice");
        QTest::newRow("two write-offs WRITTEN_OFF") << false << QStringLiteral("both WRITTEN_OFF");
    }

    void verifyChainCatchesDuplicatesFarApart()
    {
        // A store is read and verified a page of blocks at a time; a duplicate on two pages, in
        // blocks 1 and 257, must fail as it does in a chain export of the same blocks.
        QFETCH(bool, sameWriteOff);
        QFETCH(QString, expected);
        const Decision first = writtenOff(QStringLiteral("DUP-1"), 1, 10000);
        const Decision second = sameWriteOff ? first : writtenOff(QStringLiteral("DUP-1"), 1, 20000);
        QCOMPARE(first.writeOff.digest() == second.writeOff.digest(), sameWriteOff);
        const QList<Block> blocks = forgedChain(257, {{1, first}, {257, second}});
        const QString name = sameWriteOff ? QStringLiteral("dup-same") : QStringLiteral("dup-other");

        const QString exported = dir.filePath(name + QStringLiteral(".tsc"));
        writeFile(exported, ChainSegment{Block::genesisPreviousHash(), blocks}.encode());
        const Run file = run({QStringLiteral("verify-chain"), exported, QStringLiteral("--membership"),
                              forgerMembership, QStringLiteral("--json")});
        QCOMPARE(file.exitCode, 1);
        QCOMPARE(file.json().value(QLatin1String("failedHeight")).toInt(), 257);

        const QString store = dir.filePath(name + QStringLiteral(".db"));
        writeForgedStore(store, blocks);
        const Run stored = run({QStringLiteral("verify-chain"), store, QStringLiteral("--membership"),
                                forgerMembership, QStringLiteral("--json")});
        QVERIFY2(stored.exitCode == 1, stored.out.constData());
        const QJsonObject result = stored.json();
        QCOMPARE(result.value(QLatin1String("failedHeight")).toInt(), 257);
        QVERIFY2(result.value(QLatin1String("error")).toString().contains(expected), stored.out.constData());
        QCOMPARE(result.value(QLatin1String("error")), file.json().value(QLatin1String("error")));

        // Without the second copy the same store verifies.
        const QString clean = dir.filePath(name + QStringLiteral("-clean.db"));
        writeForgedStore(clean, blocks.mid(0, 256));
        const Run fine = run({QStringLiteral("verify-chain"), clean, QStringLiteral("--membership"),
                              forgerMembership, QStringLiteral("--json")});
        QCOMPARE(fine.exitCode, 0);
        QCOMPARE(fine.json().value(QLatin1String("blocksVerified")).toInt(), 256);
    }

    void offlineToolsRefuseWhatIsNotALedger()
    {
        // Another application's SQLite file: refused by every offline tool, and left as it was.
        const QString other = dir.filePath(QStringLiteral("other.db"));
        {
            sqlite3 *db = nullptr;
            QCOMPARE(sqlite3_open(QFile::encodeName(other).constData(), &db), SQLITE_OK);
            QCOMPARE(sqlite3_exec(db, "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine');",
                                  nullptr, nullptr, nullptr),
                     SQLITE_OK);
            sqlite3_close(db);
        }
        const QByteArray before = readFile(other);
        const QList<QStringList> commands = {
            {QStringLiteral("verify-chain"), other, QStringLiteral("--membership"), membership},
            {QStringLiteral("export-chain"), other, dir.filePath(QStringLiteral("other.tsc"))},
            {QStringLiteral("export-certificate"), other, dir.filePath(QStringLiteral("other.json")),
             QStringLiteral("--ticket"), QStringLiteral("T-000401")}};
        for (const QStringList &command : commands) {
            const Run refused = run(command);
            QVERIFY2(refused.exitCode == 2,
                     qPrintable(command.first() + QLatin1Char(' ') + refused.outText()));
            QVERIFY2(refused.err.contains("other.db") && refused.err.contains("not a ticketsync ledger"),
                     refused.err.constData());
            QCOMPARE(readFile(other), before);
            QVERIFY(!QFile::exists(other + QStringLiteral("-wal")));
            QVERIFY(!QFile::exists(other + QStringLiteral("-shm")));
        }
        QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("other.tsc"))));

        // A missing store is not created.
        const QString missing = dir.filePath(QStringLiteral("missing.db"));
        const Run absent =
            run({QStringLiteral("verify-chain"), missing, QStringLiteral("--membership"), membership});
        QCOMPARE(absent.exitCode, 2);
        QVERIFY2(absent.err.contains("no such file"), absent.err.constData());
        QVERIFY(!QFile::exists(missing));
    }

    void offlineToolsLeaveTheLedgerAsItWas()
    {
        // A read-only copy of a ledger, as an auditor keeps evidence: every offline tool reads it,
        // and neither it nor its directory changes.
        QTemporaryDir evidence;
        QVERIFY(evidence.isValid());
        const QString copy = evidence.filePath(QStringLiteral("ledger.sqlite"));
        QVERIFY(QFile::copy(ledger, copy));
        QVERIFY(QFile::setPermissions(copy, QFileDevice::ReadOwner | QFileDevice::ReadGroup));
        const QByteArray before = readFile(copy);
        const QString out = dir.filePath(QStringLiteral("evidence"));
        const Run verified = run({QStringLiteral("verify-chain"), copy, QStringLiteral("--membership"),
                                  membership, QStringLiteral("--json")});
        QVERIFY2(verified.exitCode == 0, verified.out.constData());
        QVERIFY(verified.json().value(QLatin1String("blocksVerified")).toInt() >= 3);
        QCOMPARE(run({QStringLiteral("export-chain"), copy, out + QStringLiteral(".tsc")}).exitCode, 0);
        QCOMPARE(run({QStringLiteral("export-certificate"), copy, out + QStringLiteral(".json"),
                      QStringLiteral("--ticket"), QStringLiteral("T-000401")})
                     .exitCode,
                 0);
        QCOMPARE(readFile(copy), before);
        QCOMPARE(QDir(evidence.path()).entryList(QDir::Files | QDir::Hidden | QDir::System),
                 QStringList{QStringLiteral("ledger.sqlite")});

        // A ledger a node has open, with blocks in its write-ahead log: read through the log.
        const QString live = dir.filePath(QStringLiteral("live.db"));
        QString error;
        std::unique_ptr<LedgerStore> node = LedgerStore::open(live, &error);
        QVERIFY2(node, qPrintable(error));
        const QList<Block> blocks = forgedChain(6, {});
        QVERIFY2(node->appendBlocks(blocks, &error), qPrintable(error));
        QVERIFY(QFile::exists(live + QStringLiteral("-wal")));
        const Run running = run({QStringLiteral("verify-chain"), live, QStringLiteral("--membership"),
                                 forgerMembership, QStringLiteral("--json")});
        QVERIFY2(running.exitCode == 0, running.out.constData());
        QCOMPARE(running.json().value(QLatin1String("blocksVerified")).toInt(), 6);
        QCOMPARE(running.json().value(QLatin1String("headHash")).toString(),
                 QString::fromLatin1(blocks.last().hash().toHex()));
    }

    void demoRemovesOnlyItsOwnStores()
    {
        QTemporaryDir shared;
        QVERIFY(shared.isValid());
        // Someone else's files next to the demo's: none of them may go.
        const QHash<QString, QByteArray> theirs = {{QStringLiteral("accounts.db"), "their ledger"},
                                                   {QStringLiteral("accounts.db-wal"), "their log"},
                                                   {QStringLiteral("accounts.db-shm"), "their index"},
                                                   {QStringLiteral("branch-1.db"), "no store of the demo"},
                                                   {QStringLiteral("notes.txt"), "notes"}};
        for (auto it = theirs.cbegin(); it != theirs.cend(); ++it)
            writeFile(shared.filePath(it.key()), it.value());
        // A previous run's store, left half written: replaced.
        writeFile(shared.filePath(QStringLiteral("coordinator-1.db")), "stale");
        writeFile(shared.filePath(QStringLiteral("target-2.db-wal")), "stale");
        for (int round = 0; round < 2; ++round) {
            const Run demo = run({QStringLiteral("demo"), QStringLiteral("--dir"), shared.path(),
                                  QStringLiteral("--count"), QStringLiteral("5"), QStringLiteral("--json")});
            QVERIFY2(demo.exitCode == 0, demo.err.constData());
            for (auto it = theirs.cbegin(); it != theirs.cend(); ++it)
                QVERIFY2(readFile(shared.filePath(it.key())) == it.value(), qPrintable(it.key()));
            const Run verified =
                run({QStringLiteral("verify-chain"), shared.filePath(QStringLiteral("coordinator-1.db")),
                     QStringLiteral("--membership"), shared.filePath(QStringLiteral("membership.json"))});
            QVERIFY2(verified.exitCode == 0, verified.err.constData());
        }
    }

    void demoLeavesAnotherConsortiumsDirectoryAlone()
    {
        // A devnet's or a bank's directory: its membership and a store named like a demo node's.
        QTemporaryDir theirs;
        QVERIFY(theirs.isValid());
        const QString membershipPath = theirs.filePath(QStringLiteral("membership.json"));
        writeFile(membershipPath, forger.membership.toJson());
        writeFile(theirs.filePath(QStringLiteral("coordinator-1.db")), "their coordinator's ledger");
        const Run demo = run({QStringLiteral("demo"), QStringLiteral("--dir"), theirs.path(),
                              QStringLiteral("--count"), QStringLiteral("3")});
        QCOMPARE(demo.exitCode, 2);
        QVERIFY2(
            demo.errText().startsWith(QStringLiteral("ticketsync demo: %1: the membership of consortium '%2'")
                                          .arg(membershipPath, forger.membership.consortiumId())) &&
                demo.errText().contains(QLatin1String("use another --dir")),
            demo.err.constData());
        QCOMPARE(readFile(membershipPath), forger.membership.toJson());
        QCOMPARE(readFile(theirs.filePath(QStringLiteral("coordinator-1.db"))),
                 QByteArray("their coordinator's ledger"));
        QCOMPARE(QDir(theirs.path()).entryList(QDir::Files | QDir::Hidden).size(), 2);

        // Not a membership at all: refused too.
        writeFile(membershipPath, "{ not json");
        QCOMPARE(run({QStringLiteral("demo"), QStringLiteral("--dir"), theirs.path()}).exitCode, 2);
        QCOMPARE(readFile(membershipPath), QByteArray("{ not json"));

        // The demo's own, written otherwise (by an earlier version): still the demo's directory.
        QTemporaryDir ours;
        QVERIFY(ours.isValid());
        const QStringList demo3{QStringLiteral("demo"), QStringLiteral("--dir"), ours.path(),
                                QStringLiteral("--count"), QStringLiteral("3")};
        QCOMPARE(run(demo3).exitCode, 0);
        const QString demoMembership = ours.filePath(QStringLiteral("membership.json"));
        writeFile(demoMembership,
                  QJsonDocument::fromJson(readFile(demoMembership)).toJson(QJsonDocument::Compact));
        const Run again = run(demo3);
        QVERIFY2(again.exitCode == 0, again.err.constData());
    }

    void anEmptyLedgerIsNamedAsEmpty()
    {
        // A node's store before its first block, as an auditor may pick by mistake.
        const QString empty = dir.filePath(QStringLiteral("empty.sqlite"));
        QString error;
        QVERIFY2(LedgerStore::open(empty, &error), qPrintable(error));
        const Run verified =
            run({QStringLiteral("verify-chain"), empty, QStringLiteral("--membership"), membership});
        QCOMPARE(verified.exitCode, 0);
        QVERIFY2(verified.outText().startsWith(
                     QStringLiteral("chain OK, but empty: %1 holds no blocks yet, nothing was verified")
                         .arg(empty)),
                 verified.out.constData());
        const Run exported =
            run({QStringLiteral("export-chain"), empty, dir.filePath(QStringLiteral("empty.tsch"))});
        QCOMPARE(exported.exitCode, 2);
        QCOMPARE(
            exported.errText().trimmed(),
            QStringLiteral("ticketsync export-chain: %1 holds no blocks yet: nothing to export").arg(empty));
        QVERIFY(!QFileInfo::exists(dir.filePath(QStringLiteral("empty.tsch"))));
    }

    void exportsNeverOverwriteALedger()
    {
        // Copies: without the guard they would be overwritten.
        const QString store = dir.filePath(QStringLiteral("export-source.sqlite"));
        const QString other = dir.filePath(QStringLiteral("another-node.sqlite"));
        const QString link = dir.filePath(QStringLiteral("export-source-link"));
        for (const QString &copy : {store, other}) {
            QFile::remove(copy);
            QVERIFY(QFile::copy(ledger, copy));
        }
        QFile::remove(link);
        QVERIFY(QFile::link(store, link));
        const QByteArray before = readFile(store);
        const QString ticket = QStringLiteral("T-000401");
        const QList<QPair<QStringList, QString>> attempts{
            {{QStringLiteral("export-chain"), store, store},
             QStringLiteral("%1 is the store %1 itself").arg(store)},
            {{QStringLiteral("export-chain"), store, link},
             QStringLiteral("%1 is the store %2 itself").arg(link, store)},
            {{QStringLiteral("export-chain"), store, other},
             QStringLiteral("%1 is a SQLite database, perhaps a ledger").arg(other)},
            {{QStringLiteral("export-certificate"), store, store, QStringLiteral("--ticket"), ticket},
             QStringLiteral("%1 is the store %1 itself").arg(store)},
            {{QStringLiteral("export-certificate"), store, other, QStringLiteral("--ticket"), ticket},
             QStringLiteral("%1 is a SQLite database").arg(other)},
        };
        for (const auto &[arguments, expected] : attempts) {
            const Run refused = run(arguments);
            QVERIFY2(refused.exitCode == 2 && refused.errText().contains(expected),
                     qPrintable(arguments.join(u' ') + QStringLiteral(": ") + refused.errText()));
            QVERIFY(readFile(store) == before);
            QVERIFY(readFile(other) == before);
        }
        // Nor over any other file, such as the membership, which an export would replace for good.
        const QString notes = dir.filePath(QStringLiteral("export-membership.json"));
        writeFile(notes, "the consortium's membership");
        for (const QStringList &arguments : {QStringList{QStringLiteral("export-chain"), store, notes},
                                             QStringList{QStringLiteral("export-certificate"), store, notes,
                                                         QStringLiteral("--ticket"), ticket}}) {
            const Run refused = run(arguments);
            QVERIFY2(
                refused.exitCode == 2 &&
                    refused.errText().contains(QStringLiteral("%1 exists and is not an earlier").arg(notes)),
                refused.err.constData());
            QCOMPARE(readFile(notes), QByteArray("the consortium's membership"));
        }
        // An earlier export of the same kind is simply replaced.
        const QString exported = dir.filePath(QStringLiteral("again.tsch"));
        QCOMPARE(run({QStringLiteral("export-chain"), store, exported}).exitCode, 0);
        QCOMPARE(run({QStringLiteral("export-chain"), store, exported}).exitCode, 0);
        const QString certificate = dir.filePath(QStringLiteral("again-cert.json"));
        QCOMPARE(run({QStringLiteral("export-certificate"), store, certificate, QStringLiteral("--ticket"),
                      ticket})
                     .exitCode,
                 0);
        QCOMPARE(run({QStringLiteral("export-certificate"), store, certificate, QStringLiteral("--ticket"),
                      ticket})
                     .exitCode,
                 0);
        // But not a chain export with a certificate, nor the other way round.
        QCOMPARE(run({QStringLiteral("export-chain"), store, certificate}).exitCode, 2);
        QCOMPARE(
            run({QStringLiteral("export-certificate"), store, exported, QStringLiteral("--ticket"), ticket})
                .exitCode,
            2);
    }

    void badOptionsAreNamed_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QString>("expected");
        const QString nowhere = QStringLiteral("/nonexistent/devnet");
        auto add = [](const char *name, const QStringList &arguments, const char *expected) {
            QTest::newRow(name) << arguments << QString::fromLatin1(expected);
        };
        // Offline commands, with the options after real inputs so that only the option is wrong.
        const QString cert = QStringLiteral("/nonexistent/cert.json");
        add("export-certificate without --ticket", {QStringLiteral("export-certificate"), QString(), cert},
            "--ticket ID is required");
        add("export-certificate --version abc",
            {QStringLiteral("export-certificate"), QString(), cert, QStringLiteral("--ticket"),
             QStringLiteral("T-000401"), QStringLiteral("--version"), QStringLiteral("abc")},
            "--version 'abc'");
        add("export-certificate --version 0",
            {QStringLiteral("export-certificate"), QString(), cert, QStringLiteral("--ticket"),
             QStringLiteral("T-000401"), QStringLiteral("--version"), QStringLiteral("0")},
            "--version '0'");
        add("export-certificate --digest xyz",
            {QStringLiteral("export-certificate"), QString(), cert, QStringLiteral("--ticket"),
             QStringLiteral("T-000401"), QStringLiteral("--digest"), QStringLiteral("xyz")},
            "--digest 'xyz'");
        add("verify-chain --threads abc",
            {QStringLiteral("verify-chain"), QString(), QStringLiteral("--membership"), QStringLiteral("M"),
             QStringLiteral("--threads"), QStringLiteral("abc")},
            "--threads 'abc'");
        add("verify-chain --threads -2",
            {QStringLiteral("verify-chain"), QString(), QStringLiteral("--membership"), QStringLiteral("M"),
             QStringLiteral("--threads"), QStringLiteral("-2")},
            "--threads '-2'");
        add("export-chain --from abc",
            {QStringLiteral("export-chain"), QString(), QStringLiteral("/nonexistent/out.tsc"),
             QStringLiteral("--from"), QStringLiteral("abc")},
            "--from 'abc'");
        add("export-chain --to abc",
            {QStringLiteral("export-chain"), QString(), QStringLiteral("/nonexistent/out.tsc"),
             QStringLiteral("--to"), QStringLiteral("abc")},
            "--to 'abc'");
        add("export-chain --from 0",
            {QStringLiteral("export-chain"), QString(), QStringLiteral("/nonexistent/out.tsc"),
             QStringLiteral("--from"), QStringLiteral("0")},
            "--from '0'");
        add("demo --count abc",
            {QStringLiteral("demo"), QStringLiteral("--dir"), QStringLiteral("D"), QStringLiteral("--count"),
             QStringLiteral("abc")},
            "--count 'abc'");
        add("demo --count 0",
            {QStringLiteral("demo"), QStringLiteral("--dir"), QStringLiteral("D"), QStringLiteral("--count"),
             QStringLiteral("0")},
            "--count '0'");
        // Past what the stop timer holds (in ms, an int): it would wrap and stop after 0.7 s.
        add("devnet --duration 4294968",
            {QStringLiteral("devnet"), QStringLiteral("--dir"), QStringLiteral("D"),
             QStringLiteral("--duration"), QStringLiteral("4294968")},
            "--duration '4294968'");
        add("devnet --duration -1",
            {QStringLiteral("devnet"), QStringLiteral("--dir"), QStringLiteral("D"),
             QStringLiteral("--duration"), QStringLiteral("-1")},
            "--duration '-1'");
        // Network commands: refused before anything is loaded or sent.
        add("status --timeout abc",
            {QStringLiteral("status"), QStringLiteral("--devnet"), nowhere, QStringLiteral("--timeout"),
             QStringLiteral("abc")},
            "--timeout 'abc'");
        add("status --timeout 0",
            {QStringLiteral("status"), QStringLiteral("--devnet"), nowhere, QStringLiteral("--timeout"),
             QStringLiteral("0")},
            "--timeout '0'");
        add("history --limit abc",
            {QStringLiteral("history"), QStringLiteral("--devnet"), nowhere, QStringLiteral("--limit"),
             QStringLiteral("abc")},
            "--limit 'abc'");
        add("history --limit 100000",
            {QStringLiteral("history"), QStringLiteral("--devnet"), nowhere, QStringLiteral("--limit"),
             QStringLiteral("100000")},
            "--limit '100000'");
        add("submit --version abc",
            {QStringLiteral("submit"), QStringLiteral("--devnet"), nowhere, QStringLiteral("--ticket"),
             QStringLiteral("T-000001"), QStringLiteral("--amount"), QStringLiteral("100"),
             QStringLiteral("--version"), QStringLiteral("abc")},
            "--version 'abc'");
        add("submit --amount -5",
            {QStringLiteral("submit"), QStringLiteral("--devnet"), nowhere, QStringLiteral("--ticket"),
             QStringLiteral("T-000001"), QStringLiteral("--amount"), QStringLiteral("-5")},
            "--amount '-5'");
        // Longer than a write-off may carry (256 bytes of UTF-8): the branch would sign what no node
        // can decode. 86 characters, 258 bytes.
        add("submit --reference too long",
            {QStringLiteral("submit"), QStringLiteral("--devnet"), nowhere, QStringLiteral("--ticket"),
             QStringLiteral("T-000001"), QStringLiteral("--amount"), QStringLiteral("100"),
             QStringLiteral("--reference"), QString(86, QChar(0x7968))},
            "--reference is 258 bytes in UTF-8, the limit is 256");
        add("resync-receiver --from-height x",
            {QStringLiteral("resync-receiver"), QStringLiteral("--devnet"), nowhere,
             QStringLiteral("receiver-1"), QStringLiteral("--from-height"), QStringLiteral("x")},
            "--from-height 'x'");
    }

    void badOptionsAreNamed()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QString, expected);
        // Fill in the real inputs: the store, the membership, a directory of the test's own.
        const QString demoDir = dir.filePath(QStringLiteral("refused-demo"));
        for (QString &argument : arguments) {
            if (argument.isEmpty())
                argument = ledger;
            else if (argument == QLatin1String("M"))
                argument = membership;
            else if (argument == QLatin1String("D"))
                argument = demoDir;
        }
        const Run refused = run(arguments);
        QVERIFY2(refused.exitCode == 2, qPrintable(QStringLiteral("exit %1: %2%3")
                                                       .arg(refused.exitCode)
                                                       .arg(refused.outText(), refused.errText())));
        QVERIFY2(refused.errText().contains(expected), refused.err.constData());
        QVERIFY2(!QFile::exists(demoDir), "a refused demo must not write anything");
    }

    void nodeRefusesABadCommandLineAsConfiguration()
    {
        // systemd restarts ticketsync-node on exit 1 but not on 2 (docs/deployment.md): a typo in
        // the unit's command line is configuration, and must not be restarted forever.
        const QString node =
            QFileInfo(QStringLiteral(TICKETSYNC_CLI)).dir().filePath(QStringLiteral("ticketsync-node"));
        QVERIFY2(QFileInfo(node).isExecutable(), qPrintable(node + QStringLiteral(" is not built")));
        const Run typo = ProcessRun::of(node, {QStringLiteral("--conifg"), QStringLiteral("node.json")});
        QVERIFY2(typo.exitCode == 2,
                 qPrintable(QStringLiteral("exit %1: %2").arg(typo.exitCode).arg(typo.errText())));
        QVERIFY2(typo.errText().contains(QLatin1String("conifg")), typo.err.constData());
        QCOMPARE(typo.errText().trimmed().count(u'\n'), 0);
        const Run noValue = ProcessRun::of(node, {QStringLiteral("--config")});
        QVERIFY2(noValue.exitCode == 2,
                 qPrintable(QStringLiteral("exit %1: %2").arg(noValue.exitCode).arg(noValue.errText())));
        QVERIFY2(noValue.errText().contains(QLatin1String("config")), noValue.err.constData());
        const Run stray = ProcessRun::of(
            node, {QStringLiteral("--config"), QStringLiteral("a.json"), QStringLiteral("b.json")});
        QCOMPARE(stray.exitCode, 2);
        QVERIFY2(stray.errText().contains(QLatin1String("b.json")), stray.err.constData());

        // Asking for help or the version is no error.
        const Run help = ProcessRun::of(node, {QStringLiteral("--help")});
        QCOMPARE(help.exitCode, 0);
        QVERIFY2(help.outText().contains(QLatin1String("--config")) &&
                     help.outText().contains(QLatin1String("--check-config")),
                 help.out.constData());
        const Run version = ProcessRun::of(node, {QStringLiteral("--version")});
        QCOMPARE(version.exitCode, 0);
        QVERIFY2(version.outText().startsWith(QLatin1String("ticketsync-node ")), version.out.constData());

        // The ticketsync tool itself: an unknown option of a command is bad usage too.
        const Run cliTypo =
            run({QStringLiteral("verify-chain"), ledger, QStringLiteral("--membrship"), membership});
        QCOMPARE(cliTypo.exitCode, 2);
        QVERIFY2(cliTypo.errText().contains(QLatin1String("membrship")), cliTypo.err.constData());
    }

    void certificateExportAndVerify()
    {
        const QString certificate = dir.filePath(QStringLiteral("cert.json"));
        const Run exported = run({QStringLiteral("export-certificate"), ledger, certificate,
                                  QStringLiteral("--ticket"), QStringLiteral("T-000401")});
        QCOMPARE(exported.exitCode, 0);
        const Run ok = run({QStringLiteral("verify-certificate"), certificate, QStringLiteral("--membership"),
                            membership, QStringLiteral("--json")});
        QCOMPARE(ok.exitCode, 0);
        QCOMPARE(ok.json().value(QLatin1String("state")).toString(), QStringLiteral("WRITTEN_OFF"));
        QVERIFY(ok.json().value(QLatin1String("signers")).toArray().size() >= 3);

        // A changed byte in the signed content is refused.
        QJsonObject root = QJsonDocument::fromJson(readFile(certificate)).object();
        QByteArray canonical =
            QByteArray::fromBase64(root.value(QLatin1String("decision")).toString().toLatin1());
        canonical[80] = char(canonical.at(80) ^ 0x04);
        root.insert(QLatin1String("decision"), QString::fromLatin1(canonical.toBase64()));
        const QString forged = dir.filePath(QStringLiteral("forged.json"));
        writeFile(forged, QJsonDocument(root).toJson());
        const Run refused = run({QStringLiteral("verify-certificate"), forged, QStringLiteral("--membership"),
                                 membership, QStringLiteral("--json")});
        QCOMPARE(refused.exitCode, 1);
        QVERIFY(!refused.json().value(QLatin1String("error")).toString().isEmpty());

        // Under a membership with another quorum the certificate no longer holds.
        QJsonObject other = QJsonDocument::fromJson(readFile(membership)).object();
        other.insert(QLatin1String("quorum"), QJsonObject{{QLatin1String("count"), 4}});
        const QString strict = dir.filePath(QStringLiteral("strict.json"));
        writeFile(strict, QJsonDocument(other).toJson());
        const Run wrongQuorum =
            run({QStringLiteral("verify-certificate"), certificate, QStringLiteral("--membership"), strict});
        QCOMPARE(wrongQuorum.exitCode, 1);
        QVERIFY2(wrongQuorum.err.contains("REFUSED"), wrongQuorum.err.constData());

        const Run missing =
            run({QStringLiteral("verify-certificate"), dir.filePath(QStringLiteral("nope.json")),
                 QStringLiteral("--membership"), membership});
        QCOMPARE(missing.exitCode, 2);
        QVERIFY(missing.err.contains("no such file"));
    }

    void protocolDocumentMatchesTheGenerator()
    {
        const QByteArray document = readFile(QStringLiteral(TICKETSYNC_SOURCE_DIR "/docs/protocol.md"));
        const qsizetype start = document.indexOf("## Worked example");
        QVERIFY(start > 0);
        const QByteArray example = document.mid(document.indexOf('\n', start) + 1).trimmed();
        const Run generated = run({QStringLiteral("protocol-example")});
        QCOMPARE(generated.exitCode, 0);
        QVERIFY2(
            example == generated.out.trimmed(),
            "docs/protocol.md is out of date: regenerate its example with `ticketsync protocol-example`");
        // Like every command, JSON with --json: the same text, in an object a script can read.
        const Run json = run({QStringLiteral("protocol-example"), QStringLiteral("--json")});
        QCOMPARE(json.exitCode, 0);
        QCOMPARE(json.json().value(u"markdown").toString().toUtf8().trimmed(), example);
        QCOMPARE(json.json().value(u"ok").toBool(), true);
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
