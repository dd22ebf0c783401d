// The console's history cache on real SQLite files: schema creation, migration and refusals,
// ingest of a realistic event stream built from real signed objects (with duplicates and
// malformed events), cursors, alerts and their trail, every view query with each filter, the
// worker's batching, and a writer SIGKILLed in the middle of ingesting.

#include "Block.h"
#include "CacheSchema.h"
#include "CacheWorker.h"
#include "Decision.h"
#include "DecisionSummary.h"
#include "HistoryCache.h"
#include "InclusionProof.h"
#include "Membership.h"
#include "SampleConsortium.h"
#include "Tally.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <sqlite3.h>

using namespace ticketsync;

// Filters and page requests read best with designated initializers; GCC 12 warns about the
// members they leave to their defaults, which is the point.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

const QString kCoordinator = QStringLiteral("coordinator-1");

// A second connection to the file, to look at and tamper with what the cache wrote.
class RawDb
{
public:
    explicit RawDb(const QString &path)
    {
        sqlite3_open_v2(path.toUtf8().constData(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
        sqlite3_busy_timeout(db, 5000);
    }
    ~RawDb() { sqlite3_close_v2(db); }
    RawDb(const RawDb &) = delete;
    RawDb &operator=(const RawDb &) = delete;
    QString exec(const char *sql)
    {
        char *message = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK)
            return {};
        const QString text = QString::fromUtf8(message ? message : "error");
        sqlite3_free(message);
        return text;
    }
    qint64 integer(const char *sql)
    {
        sqlite3_stmt *statement = nullptr;
        qint64 value = -1;
        if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK &&
            sqlite3_step(statement) == SQLITE_ROW)
            value = sqlite3_column_int64(statement, 0);
        sqlite3_finalize(statement);
        return value;
    }

private:
    sqlite3 *db = nullptr;
};

QString hex(const QByteArray &bytes)
{
    return QString::fromLatin1(bytes.toHex());
}

QString base64(const QByteArray &bytes)
{
    return QString::fromLatin1(bytes.toBase64());
}

// Plays the coordinator: real signed write-offs and confirmations, tallied by core's Tally,
// encoded as events exactly as docs/api.md (and LedgerNode) describe them.
class Stream
{
public:
    explicit Stream(const SampleConsortium &sample) : sample(sample) {}

    QJsonObject &event(const QString &kind, QJsonObject body)
    {
        clock += 7;
        body.insert(QStringLiteral("type"), QStringLiteral("event"));
        body.insert(QStringLiteral("seq"), ++seq);
        body.insert(QStringLiteral("at_ms"), clock);
        body.insert(QStringLiteral("kind"), kind);
        events.append(body);
        return events.last();
    }

    // A write-off issued and voted on in this order; returns its decision (or nullopt while
    // still pending, unless expire is set).
    std::optional<Decision> writeOff(const QString &branch, const QString &ticket,
                                     const QList<std::pair<QString, ConfirmationState>> &votes,
                                     bool expire = false)
    {
        const WriteOffResult writeOff =
            sample.writeOff(branch, ticket, 1, 10000 + seq, QStringLiteral("CNY"), clock);
        const QByteArray digest = writeOff.digest();
        event(QStringLiteral("write_off_issued"),
              {{QStringLiteral("write_off_digest"), hex(digest)},
               {QStringLiteral("ticket"), writeOff.ticketId},
               {QStringLiteral("version"), qint64(writeOff.ticketVersion)},
               {QStringLiteral("branch"), writeOff.branchId},
               {QStringLiteral("amount_minor"), writeOff.amountMinor},
               {QStringLiteral("currency"), writeOff.currency},
               {QStringLiteral("reference"), QStringLiteral("ref")},
               {QStringLiteral("issued_at_ms"), writeOff.issuedAtMs}});
        const qint64 started = clock;
        Tally tally(sample.membership, writeOff);
        std::optional<Decision> decision;
        for (const auto &[target, state] : votes) {
            const StateConfirmation confirmation = sample.confirm(target, writeOff, state);
            QString reason;
            const Tally::Verdict verdict = tally.add(confirmation, &reason);
            if (verdict == Tally::Verdict::Duplicate)
                continue;
            event(QStringLiteral("confirmation_received"),
                  {{QStringLiteral("write_off_digest"), hex(digest)},
                   {QStringLiteral("ticket"), writeOff.ticketId},
                   {QStringLiteral("version"), qint64(writeOff.ticketVersion)},
                   {QStringLiteral("branch"), writeOff.branchId},
                   {QStringLiteral("target"), target},
                   {QStringLiteral("state"), stateName(confirmation.stateCode)},
                   {QStringLiteral("reason"), confirmation.reason},
                   {QStringLiteral("verdict"), Tally::verdictName(verdict)},
                   {QStringLiteral("verdict_reason"), reason},
                   {QStringLiteral("confirmation"), base64(confirmation.encode())}});
            if (verdict == Tally::Verdict::Equivocation) {
                for (const EquivocationEvidence &evidence : tally.equivocations()) {
                    if (evidence.targetId == target)
                        event(QStringLiteral("equivocation"),
                              {{QStringLiteral("write_off_digest"), hex(digest)},
                               {QStringLiteral("ticket"), writeOff.ticketId},
                               {QStringLiteral("target"), target},
                               {QStringLiteral("first"), base64(evidence.first.encode())},
                               {QStringLiteral("second"), base64(evidence.second.encode())}});
                }
            }
            if (tally.isFinal() && !decision)
                decision = decide(tally, started);
        }
        if (!decision && expire) {
            tally.expire();
            decision = decide(tally, started);
        }
        return decision;
    }

    void block(qint64 height, int decisions)
    {
        event(QStringLiteral("block_appended"), {{QStringLiteral("height"), height},
                                                 {QStringLiteral("hash"), hex(QByteArray(32, char(height)))},
                                                 {QStringLiteral("decisions"), decisions},
                                                 {QStringLiteral("timestamp_ms"), clock}});
    }

    void receiver(const QString &name, const QString &status, qint64 acked, qint64 head)
    {
        event(QStringLiteral("receiver_status"),
              {{QStringLiteral("receiver"), name},
               {QStringLiteral("roles"), QJsonArray{QStringLiteral("receiver")}},
               {QStringLiteral("status"), status},
               {QStringLiteral("acked_height"), acked},
               {QStringLiteral("head_height"), head},
               {QStringLiteral("lag_blocks"), head - acked},
               {QStringLiteral("lag_ms"), head > acked ? 1500 : 0},
               {QStringLiteral("last_error"), QString()},
               {QStringLiteral("last_contact_ms"), clock}});
    }

    QList<QJsonObject> events;
    qint64 seq = 0;
    qint64 clock = 1'790'000'000'000;

private:
    Decision decide(const Tally &tally, qint64 started)
    {
        const Decision decision = tally.decision(clock + 3);
        QJsonObject summary = decisionSummary(decision, tally.writeOffDigest());
        summary.insert(QStringLiteral("attempts"), 1);
        summary.insert(QStringLiteral("latency_ms"), decision.decidedAtMs - started);
        event(QStringLiteral("decision_made"), summary);
        return decision;
    }

    const SampleConsortium &sample;
};

using Votes = QList<std::pair<QString, ConfirmationState>>;

Votes all(const QStringList &targets, ConfirmationState state)
{
    Votes votes;
    for (const QString &target : targets)
        votes.append({target, state});
    return votes;
}

} // namespace

class TestCache : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void createsSchema();
    void migratesEmptyFiles();
    void migratesVersionOneKeepingItsHistory();
    void refusesNewerVersion();
    void refusesForeignFiles();
    void reportsCorruptionAndMovesAside();
    void ingestsRealStream();
    void ignoresDuplicatesAndSkipsMalformed();
    void cursorsPerNode();
    void decisionUpsert();
    void alertsAndTrail();
    void gaps();
    void feedQueries();
    void feedQueriesWithHoles();
    void decisionQueries();
    void workerBatchesAndCommitsOnStop();
    void fetchedCertificatesAreCheckedAndStored();
    void alertsTheCacheCannotStoreStillReachTheOperator();
    void reopensConsistentAfterKill();

private:
    QString freshPath(const QString &name) const { return dir.filePath(name); }

    QTemporaryDir dir;
    SampleConsortium sample;
    Stream *stream = nullptr;
    QList<Decision> decisions;
    std::unique_ptr<Stream> streamStorage;
};

void TestCache::initTestCase()
{
    QVERIFY(dir.isValid());
    sample = SampleConsortium::generate();
    streamStorage = std::make_unique<Stream>(sample);
    stream = streamStorage.get();
    const QStringList targets = sample.targetIds();
    const QStringList branches = sample.branchIds();
    QCOMPARE(targets.size(), 4);
    // 40 write-offs: mostly WRITTEN_OFF, some ALREADY_WRITTEN_OFF, some AMOUNT_MISMATCH,
    // every 10th UNDETERMINED (split votes), every 13th with an equivocating target.
    for (int i = 0; i < 40; ++i) {
        const QString ticket = QStringLiteral("T-%1").arg(i, 6, 10, QLatin1Char('0'));
        const QString branch = branches.at(i % branches.size());
        Votes votes;
        if (i % 10 == 9) {
            votes = {{targets[0], ConfirmationState::WrittenOff},
                     {targets[1], ConfirmationState::AmountMismatch},
                     {targets[2], ConfirmationState::UnknownTicket},
                     {targets[3], ConfirmationState::WrittenOff}};
        } else if (i % 13 == 5) {
            votes = {{targets[0], ConfirmationState::WrittenOff},
                     {targets[0], ConfirmationState::AmountMismatch},
                     {targets[1], ConfirmationState::WrittenOff},
                     {targets[2], ConfirmationState::WrittenOff},
                     {targets[3], ConfirmationState::WrittenOff}};
        } else if (i % 7 == 3) {
            votes = all(targets, ConfirmationState::AlreadyWrittenOff);
        } else if (i % 11 == 4) {
            votes = all(targets, ConfirmationState::AmountMismatch);
        } else {
            votes = all(targets, ConfirmationState::WrittenOff);
        }
        if (std::optional<Decision> decision = stream->writeOff(branch, ticket, votes, true))
            decisions.append(*decision);
        if (i % 8 == 7)
            stream->block(i / 8 + 1, 8);
        if (i % 16 == 15)
            stream->receiver(QStringLiteral("receiver-1"), QStringLiteral("lagging"), i / 16, i / 8 + 1);
    }
    stream->receiver(QStringLiteral("receiver-2"), QStringLiteral("in_sync"), 5, 5);
    QCOMPARE(decisions.size(), 40);
}

void TestCache::createsSchema()
{
    const QString path = freshPath(QStringLiteral("create/cache.sqlite"));
    {
        HistoryCache cache;
        QString error;
        QVERIFY2(cache.open(path, &error), qPrintable(error));
        QCOMPARE(cache.openStatus(), HistoryCache::OpenStatus::Ok);
        QCOMPARE(cache.lastSeq(kCoordinator), 0);
    }
    RawDb raw(path);
    QCOMPARE(raw.integer("PRAGMA user_version"), qint64(CacheSchema::kVersion));
    QCOMPARE(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'table'"), 11);
    QCOMPARE(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"), 9);
    // WAL is persistent in the file.
    sqlite3 *db = nullptr;
    sqlite3_open(path.toUtf8().constData(), &db);
    sqlite3_stmt *statement = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr);
    QCOMPARE(sqlite3_step(statement), SQLITE_ROW);
    QCOMPARE(QByteArray(reinterpret_cast<const char *>(sqlite3_column_text(statement, 0))),
             QByteArray("wal"));
    sqlite3_finalize(statement);
    sqlite3_close(db);
    // Reopening an existing cache is fine, read-write and read-only.
    HistoryCache again;
    QString error;
    QVERIFY2(again.open(path, &error), qPrintable(error));
    HistoryCache reader;
    QVERIFY2(reader.open(path, &error, HistoryCache::Mode::ReadOnly), qPrintable(error));
}

void TestCache::migratesEmptyFiles()
{
    // A zero-byte file and an empty SQLite database (user_version 0, no tables) both become caches.
    const QString empty = freshPath(QStringLiteral("empty.sqlite"));
    QFile file(empty);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.close();
    HistoryCache cache;
    QString error;
    QVERIFY2(cache.open(empty, &error), qPrintable(error));
    cache.close();
    QCOMPARE(RawDb(empty).integer("PRAGMA user_version"), qint64(CacheSchema::kVersion));

    const QString blank = freshPath(QStringLiteral("blank.sqlite"));
    {
        RawDb raw(blank);
        QCOMPARE(raw.exec("PRAGMA user_version = 0; VACUUM;"), QString());
    }
    QVERIFY2(cache.open(blank, &error), qPrintable(error));
    QCOMPARE(cache.lastSeq(kCoordinator), 0);
}

void TestCache::migratesVersionOneKeepingItsHistory()
{
    // A cache written by a console before networks were told apart: its history stays, and the
    // first network to connect takes it.
    const QString path = freshPath(QStringLiteral("version-1.sqlite"));
    {
        RawDb raw(path);
        QCOMPARE(raw.exec(CacheSchema::kCreateV1), QString());
        QCOMPARE(raw.exec("INSERT INTO cursors (node, last_seq) VALUES ('coordinator-1', 1234);"
                          "PRAGMA user_version = 1;"),
                 QString());
    }
    HistoryCache cache;
    QString error;
    QVERIFY2(cache.open(path, &error), qPrintable(error));
    QCOMPARE(cache.lastSeq(kCoordinator), 1234);
    QCOMPARE(cache.networkCa(), QString());
    const QString ca = QStringLiteral("ab").repeated(32);
    QVERIFY2(cache.bindNetwork(ca, QStringLiteral("east-clearing"), &error), qPrintable(error));
    QVERIFY2(cache.bindNetwork(ca, QStringLiteral("east-clearing"), &error),
             qPrintable(error)); // again: fine
    QVERIFY(!cache.bindNetwork(QStringLiteral("cd").repeated(32), QStringLiteral("west-clearing"), &error));
    QVERIFY2(error.contains(QLatin1String("east-clearing")) &&
                 error.contains(QLatin1String("west-clearing")) && error.contains(path),
             qPrintable(error));
    cache.close();
    QCOMPARE(RawDb(path).integer("PRAGMA user_version"), qint64(CacheSchema::kVersion));
    // Schema 3: each decision's block proof, next to its certificate.
    QCOMPARE(RawDb(path).exec("SELECT proof FROM decisions"), QString());
}

void TestCache::refusesNewerVersion()
{
    const QString path = freshPath(QStringLiteral("newer.sqlite"));
    {
        HistoryCache cache;
        QString error;
        QVERIFY(cache.open(path, &error));
    }
    const QByteArray newer = "PRAGMA user_version = " + QByteArray::number(CacheSchema::kVersion + 1);
    QCOMPARE(RawDb(path).exec(newer.constData()), QString());
    HistoryCache cache;
    QString error;
    QVERIFY(!cache.open(path, &error));
    QCOMPARE(cache.openStatus(), HistoryCache::OpenStatus::NewerVersion);
    QVERIFY2(error.contains(path) && error.contains(QLatin1String("newer")), qPrintable(error));
    QVERIFY(!cache.isOpen());
    QCOMPARE(RawDb(path).integer("PRAGMA user_version"), qint64(CacheSchema::kVersion + 1)); // left untouched
}

void TestCache::refusesForeignFiles()
{
    // Not SQLite at all.
    const QString garbage = freshPath(QStringLiteral("garbage.sqlite"));
    QFile file(garbage);
    QVERIFY(file.open(QIODevice::WriteOnly));
    QByteArray noise(8192, '\0');
    for (char &c : noise)
        c = char(QRandomGenerator::global()->bounded(256));
    file.write("PK\x03\x04 not a database ");
    file.write(noise);
    file.close();
    const QByteArray before = [&] {
        QFile f(garbage);
        f.open(QIODevice::ReadOnly);
        return f.readAll();
    }();
    HistoryCache cache;
    QString error;
    QVERIFY(!cache.open(garbage, &error));
    QCOMPARE(cache.openStatus(), HistoryCache::OpenStatus::NotACache);
    QVERIFY2(error.contains(garbage) && error.contains(QLatin1String("not a ticketsync history cache")),
             qPrintable(error));
    QFile after(garbage);
    QVERIFY(after.open(QIODevice::ReadOnly));
    QCOMPARE(after.readAll(), before);

    // SQLite, but somebody else's database.
    const QString foreign = freshPath(QStringLiteral("foreign.sqlite"));
    QCOMPARE(RawDb(foreign).exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)"), QString());
    QVERIFY(!cache.open(foreign, &error));
    QCOMPARE(cache.openStatus(), HistoryCache::OpenStatus::NotACache);
    QVERIFY2(error.contains(foreign), qPrintable(error));
    QCOMPARE(RawDb(foreign).integer("SELECT count(*) FROM sqlite_master"), 1);

    // A directory.
    QVERIFY(!cache.open(dir.path(), &error));
    QVERIFY2(error.contains(dir.path()), qPrintable(error));
}

void TestCache::reportsCorruptionAndMovesAside()
{
    // A cache that lost a table.
    const QString path = freshPath(QStringLiteral("broken.sqlite"));
    {
        HistoryCache cache;
        QString error;
        QVERIFY(cache.open(path, &error));
        QCOMPARE(cache.ingest(kCoordinator, stream->events.mid(0, 20)).stored, 20);
    }
    QCOMPARE(RawDb(path).exec("DROP TABLE confirmations"), QString());
    HistoryCache cache;
    QString error;
    QVERIFY(!cache.open(path, &error));
    QCOMPARE(cache.openStatus(), HistoryCache::OpenStatus::Corrupt);
    QVERIFY2(error.contains(path) && error.contains(QLatin1String("confirmations")), qPrintable(error));

    QString movedTo;
    QVERIFY(HistoryCache::moveAside(path, &movedTo));
    QVERIFY(!QFile::exists(path));
    QVERIFY(QFile::exists(movedTo));
    QVERIFY(movedTo.startsWith(path + QLatin1String(".broken-")));
    QVERIFY2(cache.open(path, &error), qPrintable(error));
    QCOMPARE(cache.lastSeq(kCoordinator), 0);
    cache.close();

    // A cache whose schema page was overwritten.
    const QString smashed = freshPath(QStringLiteral("smashed.sqlite"));
    {
        HistoryCache fresh;
        QVERIFY(fresh.open(smashed, &error));
        QCOMPARE(fresh.ingest(kCoordinator, stream->events.mid(0, 20)).stored, 20);
    }
    {
        QFile file(smashed);
        QVERIFY(file.open(QIODevice::ReadWrite));
        QVERIFY(file.seek(100));
        file.write(QByteArray(3000, '\x5a'));
    }
    QVERIFY(!cache.open(smashed, &error));
    QCOMPARE(cache.openStatus(), HistoryCache::OpenStatus::Corrupt);
    QVERIFY2(error.contains(smashed), qPrintable(error));

    // The worker does this by itself, and says so.
    CacheWorker worker(smashed);
    QSignalSpy opened(&worker, &CacheWorker::opened);
    worker.open();
    QCOMPARE(opened.size(), 1);
    QVERIFY(opened.at(0).at(0).toBool());
    const QString message = opened.at(0).at(1).toString();
    QVERIFY2(message.contains(QLatin1String(".broken-")), qPrintable(message));
    QVERIFY(worker.cache().isOpen());
}

void TestCache::ingestsRealStream()
{
    const QString path = freshPath(QStringLiteral("stream.sqlite"));
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    const QList<QJsonObject> &events = stream->events;
    IngestReport total;
    for (qsizetype at = 0; at < events.size(); at += 37)
        total.merge(cache.ingest(kCoordinator, events.mid(at, 37)));
    QCOMPARE(total.stored, int(events.size()));
    QCOMPARE(total.skipped, 0);
    QCOMPARE(total.duplicates, 0);
    QVERIFY2(total.firstProblem.isEmpty(), qPrintable(total.firstProblem));
    QCOMPARE(cache.lastSeq(kCoordinator), stream->seq);
    QCOMPARE(cache.eventCount(), qint64(events.size()));

    int issued = 0, confirmations = 0, blocks = 0;
    for (const QJsonObject &event : events) {
        const QString kind = event.value(u"kind").toString();
        issued += kind == QLatin1String("write_off_issued");
        confirmations += kind == QLatin1String("confirmation_received");
        blocks += kind == QLatin1String("block_appended");
    }
    QCOMPARE(total.feedRows, issued + confirmations);
    QCOMPARE(cache.feedCount({}).count, qint64(issued + confirmations));
    QCOMPARE(cache.feedCount(FeedFilter{.state = 0}).count, qint64(issued));
    QCOMPARE(cache.decisionCount({}).count, qint64(decisions.size()));
    QCOMPARE(total.decisionsInserted, int(decisions.size()));
    QCOMPARE(cache.blocks().size(), blocks);

    // Every decision as the coordinator summarized it.
    int undetermined = 0;
    for (const Decision &expected : decisions) {
        const QByteArray digest = expected.writeOff.digest();
        const std::optional<DecisionRow> row = cache.decision(digest);
        QVERIFY(row);
        QCOMPARE(row->ticket, expected.writeOff.ticketId);
        QCOMPARE(row->branch, expected.writeOff.branchId);
        QCOMPARE(row->node, kCoordinator);
        QCOMPARE(row->n, int(expected.targetCount));
        QCOMPARE(row->q, int(expected.quorum));
        QCOMPARE(row->missing, int(expected.missing));
        QCOMPARE(row->equivocating, int(expected.equivocating));
        QCOMPARE(row->decidedAtMs, expected.decidedAtMs);
        if (expected.outcome == Outcome::Decided) {
            QCOMPARE(row->outcome, QStringLiteral("DECIDED"));
            QCOMPARE(row->state, int(expected.decidedState));
            QCOMPARE(row->count, int(expected.countOf(expected.decidedState)));
        } else {
            ++undetermined;
            QCOMPARE(row->outcome, QStringLiteral("UNDETERMINED"));
            QCOMPARE(row->state, 0);
            quint32 top = 0;
            for (const StateCount &count : expected.histogram)
                top = qMax(top, count.count);
            QCOMPARE(row->count, int(top));
        }
        for (const StateCount &count : expected.histogram)
            QCOMPARE(row->histogram.value(stateName(count.stateCode)).toInteger(), qint64(count.count));
        QVERIFY(row->certificate.isEmpty());
        // The signed confirmations are kept byte for byte and still verify.
        const QList<ConfirmationRow> stored = cache.confirmations(digest);
        QVERIFY(stored.size() >= 4);
        for (const ConfirmationRow &confirmation : stored) {
            const std::optional<StateConfirmation> decoded =
                StateConfirmation::decode(confirmation.confirmation);
            QVERIFY(decoded);
            QCOMPARE(decoded->verify(sample.membership), QString());
            QCOMPARE(decoded->writeOffDigest, digest);
            QCOMPARE(int(decoded->stateCode), confirmation.state);
            QCOMPARE(decoded->targetId, confirmation.target);
        }
        QCOMPARE(cache.feedForDigest(digest).first().kind, CacheSchema::kFeedIssued);
    }
    QCOMPARE(undetermined, 4);

    // The certificate can be attached later, and comes back verified by core.
    const Decision &first = decisions.first();
    QVERIFY(cache.setCertificate(first.writeOff.digest(), first.encode()));
    QVERIFY(cache.setDecisionHeight(first.writeOff.digest(), 1));
    const std::optional<DecisionRow> withCertificate = cache.decision(first.writeOff.digest());
    QCOMPARE(withCertificate->height, 1);
    const std::optional<Decision> decoded = Decision::decode(withCertificate->certificate);
    QVERIFY(decoded);
    QCOMPARE(decoded->verifyCertificate(sample.membership), QString());

    // Alerts: one per undetermined write-off, one per equivocating target.
    int undeterminedAlerts = 0, equivocationAlerts = 0;
    for (const AlertRow &alert : cache.alerts()) {
        undeterminedAlerts += alert.kind == QLatin1String("undetermined");
        equivocationAlerts += alert.kind == QLatin1String("equivocation");
        QVERIFY(!alert.detail.isEmpty());
        QVERIFY(!alert.isAcknowledged());
    }
    QCOMPARE(undeterminedAlerts, 4);
    QCOMPARE(equivocationAlerts, 3); // i = 5, 18, 31
    QCOMPARE(total.alerts.size(), undeterminedAlerts + equivocationAlerts);

    // Receivers as last reported, with their "as of".
    const QList<ReceiverRow> receivers = cache.receivers();
    QCOMPARE(receivers.size(), 2);
    QCOMPARE(receivers.at(0).receiver, QStringLiteral("receiver-1"));
    QCOMPARE(receivers.at(0).status, QStringLiteral("lagging"));
    QCOMPARE(receivers.at(0).ackedHeight, 1);
    QCOMPARE(receivers.at(0).headHeight, 4);
    QVERIFY(receivers.at(0).asOfMs > 0);
    QCOMPARE(receivers.at(1).status, QStringLiteral("in_sync"));

    // A lag threshold raises receiver_lagging.
    cache.setLagThresholds(2, 0);
    Stream more(sample);
    more.seq = stream->seq;
    more.receiver(QStringLiteral("receiver-3"), QStringLiteral("lagging"), 1, 9);
    const IngestReport lag = cache.ingest(kCoordinator, more.events);
    QCOMPARE(lag.alerts.size(), 1);
    QCOMPARE(lag.alerts.first().kind, QStringLiteral("receiver_lagging"));
    QCOMPARE(lag.alerts.first().subject, QStringLiteral("receiver-3"));
}

void TestCache::ignoresDuplicatesAndSkipsMalformed()
{
    const QString path = freshPath(QStringLiteral("malformed.sqlite"));
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    const QList<QJsonObject> head = stream->events.mid(0, 30);
    QCOMPARE(cache.ingest(kCoordinator, head).stored, 30);
    // The same events again (a reconnect that overlapped), and duplicates within one batch.
    IngestReport again = cache.ingest(kCoordinator, head + head.mid(0, 5));
    QCOMPARE(again.stored, 0);
    QCOMPARE(again.duplicates, 35);
    const qint64 decisionsBefore = cache.decisionCount({}).count;
    const qint64 feedBefore = cache.feedCount({}).count;

    // Hostile or broken events: each is skipped and counted, nothing crashes.
    qint64 seq = 1000;
    const auto issued = [&](auto change) {
        QJsonObject event{{QStringLiteral("type"), QStringLiteral("event")},
                          {QStringLiteral("seq"), ++seq},
                          {QStringLiteral("at_ms"), qint64(1'790'000'000'000)},
                          {QStringLiteral("kind"), QStringLiteral("write_off_issued")},
                          {QStringLiteral("write_off_digest"), hex(QByteArray(32, 'a'))},
                          {QStringLiteral("ticket"), QStringLiteral("T-X")},
                          {QStringLiteral("version"), 1},
                          {QStringLiteral("branch"), QStringLiteral("branch-1")},
                          {QStringLiteral("amount_minor"), 5},
                          {QStringLiteral("currency"), QStringLiteral("CNY")}};
        change(event);
        return event;
    };
    QList<QJsonObject> bad;
    bad << QJsonObject{} // nothing at all
        << QJsonObject{{QStringLiteral("seq"), QStringLiteral("7")},
                       {QStringLiteral("kind"), QStringLiteral("x")}}
        << issued([](QJsonObject &e) { e.remove(QStringLiteral("kind")); })
        << issued([](QJsonObject &e) { e.insert(QStringLiteral("seq"), -4); })
        << issued([](QJsonObject &e) { e.insert(QStringLiteral("seq"), 1.5); })
        << issued([](QJsonObject &e) { e.remove(QStringLiteral("ticket")); })
        << issued([](QJsonObject &e) { e.insert(QStringLiteral("version"), QStringLiteral("one")); })
        << issued([](QJsonObject &e) { e.insert(QStringLiteral("write_off_digest"), QStringLiteral("zz")); })
        << issued([](QJsonObject &e) {
               e.insert(QStringLiteral("write_off_digest"), QJsonArray{1, 2});
           })
        << issued([](QJsonObject &e) {
               e.insert(QStringLiteral("kind"), QStringLiteral("confirmation_received"));
               e.insert(QStringLiteral("target"), QStringLiteral("target-1"));
               e.insert(QStringLiteral("state"), QStringLiteral("MAYBE"));
               e.insert(QStringLiteral("verdict"), QStringLiteral("counted"));
               e.insert(QStringLiteral("confirmation"), QStringLiteral("AAAA"));
           })
        << issued([](QJsonObject &e) {
               e.insert(QStringLiteral("kind"), QStringLiteral("confirmation_received"));
               e.insert(QStringLiteral("target"), QStringLiteral("target-1"));
               e.insert(QStringLiteral("state"), QStringLiteral("WRITTEN_OFF"));
               e.insert(QStringLiteral("verdict"), QStringLiteral("counted"));
               e.insert(QStringLiteral("confirmation"), QStringLiteral("!!! not base64 !!!"));
           })
        << issued([](QJsonObject &e) {
               e.insert(QStringLiteral("kind"), QStringLiteral("decision_made"));
               e.insert(QStringLiteral("outcome"), QStringLiteral("DECIDED"));
               e.insert(QStringLiteral("state"), QStringLiteral("WRITTEN_OFF"));
               e.insert(QStringLiteral("histogram"), QStringLiteral("WRITTEN_OFF=3"));
           })
        << issued([](QJsonObject &e) {
               e.insert(QStringLiteral("kind"), QStringLiteral("decision_made"));
               e.insert(QStringLiteral("outcome"), QStringLiteral("PERHAPS"));
               e.insert(QStringLiteral("histogram"), QJsonObject{});
               for (const char *key : {"n", "q", "missing", "equivocating", "issued_at_ms", "decided_at_ms"})
                   e.insert(QLatin1String(key), 1);
           })
        << issued([](QJsonObject &e) {
               e.insert(QStringLiteral("kind"), QStringLiteral("equivocation"));
               e.insert(QStringLiteral("target"), QStringLiteral("target-1"));
               e.insert(QStringLiteral("first"), QStringLiteral("AAAA"));
               e.insert(QStringLiteral("second"), QStringLiteral("AAAA"));
           })
        << issued([](QJsonObject &e) { e.insert(QStringLiteral("kind"), QStringLiteral("block_appended")); })
        << issued(
               [](QJsonObject &e) { e.insert(QStringLiteral("kind"), QStringLiteral("receiver_status")); });
    const IngestReport report = cache.ingest(kCoordinator, bad);
    QCOMPARE(report.stored, 0);
    QCOMPARE(report.skipped, int(bad.size()));
    QVERIFY2(report.firstProblem.contains(QLatin1String("'seq'")), qPrintable(report.firstProblem));
    QCOMPARE(cache.feedCount({}).count, feedBefore);
    QCOMPARE(cache.decisionCount({}).count, decisionsBefore);
    // Events whose seq could be read are kept raw; the cursor moves past them, so a reconnect
    // does not ask for them again.
    QCOMPARE(cache.lastSeq(kCoordinator), seq);
    QCOMPARE(cache.maxStoredSeq(kCoordinator), seq);

    // A single broken field names itself.
    const IngestReport one = cache.ingest(
        kCoordinator, {issued([](QJsonObject &e) { e.insert(QStringLiteral("version"), true); })});
    QCOMPARE(one.skipped, 1);
    QVERIFY2(one.firstProblem.contains(QLatin1String("'version' not an integer")),
             qPrintable(one.firstProblem));

    // A huge event (a hostile node) is refused, not kept; the cursor still moves past it.
    const IngestReport huge = cache.ingest(kCoordinator, {issued([](QJsonObject &e) {
                                               e.insert(QStringLiteral("reference"), QString(2 << 20, u'x'));
                                           })});
    QCOMPARE(huge.skipped, 1);
    QVERIFY2(huge.firstProblem.contains(QLatin1String("too large")), qPrintable(huge.firstProblem));
    QCOMPARE(cache.lastSeq(kCoordinator), seq);
    QCOMPARE(cache.feedCount({}).count, feedBefore);

    // Unknown kinds are stored raw and counted as stored.
    const IngestReport unknown = cache.ingest(
        kCoordinator, {QJsonObject{{QStringLiteral("seq"), ++seq},
                                   {QStringLiteral("at_ms"), 1},
                                   {QStringLiteral("kind"), QStringLiteral("operator_command")},
                                   {QStringLiteral("command"), QStringLiteral("retry_deliveries")}}});
    QCOMPARE(unknown.stored, 1);
    QCOMPARE(cache.lastSeq(kCoordinator), seq);
}

void TestCache::cursorsPerNode()
{
    const QString path = freshPath(QStringLiteral("cursors.sqlite"));
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    QCOMPARE(cache.ingest(kCoordinator, stream->events.mid(0, 10)).lastSeq, 10);
    QCOMPARE(cache.ingest(QStringLiteral("target-1"), stream->events.mid(0, 4)).lastSeq, 4);
    QCOMPARE(cache.ingest(kCoordinator, stream->events.mid(10, 10)).lastSeq, 20);
    // A late, older batch never moves a cursor back.
    QCOMPARE(cache.ingest(kCoordinator, stream->events.mid(2, 3)).lastSeq, 20);
    QCOMPARE(cache.lastSeq(kCoordinator), 20);
    QCOMPARE(cache.lastSeq(QStringLiteral("target-1")), 4);
    QCOMPARE(cache.lastSeq(QStringLiteral("nobody")), 0);
    const QHash<QString, qint64> cursors = cache.cursors();
    QCOMPARE(cursors.size(), 2);
    QCOMPARE(cursors.value(kCoordinator), 20);
    cache.close();
    // Durable across reopen.
    QVERIFY(cache.open(path, &error));
    QCOMPARE(cache.lastSeq(kCoordinator), 20);
    QCOMPARE(cache.maxStoredSeq(kCoordinator), 20);
}

void TestCache::decisionUpsert()
{
    const QString path = freshPath(QStringLiteral("upsert.sqlite"));
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    const QStringList targets = sample.targetIds();
    Stream s(sample);
    // UNDETERMINED first (one vote only, then the deadline)...
    std::optional<Decision> first = s.writeOff(QStringLiteral("branch-1"), QStringLiteral("R-1"),
                                               {{targets[0], ConfirmationState::WrittenOff}}, true);
    QCOMPARE(first->outcome, Outcome::Undetermined);
    IngestReport report = cache.ingest(kCoordinator, s.events);
    QCOMPARE(report.decisionsInserted, 1);
    QCOMPARE(report.alerts.size(), 1);
    QCOMPARE(report.alerts.first().kind, QStringLiteral("undetermined"));
    const QByteArray digest = first->writeOff.digest();
    QCOMPARE(report.alerts.first().subject, hex(digest));
    QVERIFY(cache.setCertificate(digest, first->encode()));

    // ... then a retry decides it: the same row, now DECIDED, its old certificate forgotten.
    QJsonObject retried = s.events.last();
    const qint64 later = retried.value(u"decided_at_ms").toInteger() + 5000;
    retried.insert(QStringLiteral("seq"), s.seq + 1);
    retried.insert(QStringLiteral("outcome"), QStringLiteral("DECIDED"));
    retried.insert(QStringLiteral("state"), QStringLiteral("WRITTEN_OFF"));
    retried.insert(QStringLiteral("histogram"), QJsonObject{{QStringLiteral("WRITTEN_OFF"), 3}});
    retried.insert(QStringLiteral("decided_at_ms"), later);
    report = cache.ingest(kCoordinator, {retried});
    QCOMPARE(report.decisionsInserted, 0);
    QCOMPARE(report.decisionsUpdated, 1);
    QVERIFY(report.alerts.isEmpty());
    QCOMPARE(cache.decisionCount({}).count, 1);
    std::optional<DecisionRow> row = cache.decision(digest);
    QCOMPARE(row->outcome, QStringLiteral("DECIDED"));
    QCOMPARE(row->state, 1);
    QCOMPARE(row->count, 3);
    QCOMPARE(row->decidedAtMs, later);
    QVERIFY(row->certificate.isEmpty());

    // An older outcome replayed later (another node's copy) changes nothing.
    QJsonObject stale = s.events.last();
    stale.insert(QStringLiteral("seq"), s.seq + 2);
    report = cache.ingest(kCoordinator, {stale});
    QCOMPARE(report.stored, 1);
    QCOMPARE(report.decisionsUpdated, 0);
    QCOMPARE(cache.decision(digest)->outcome, QStringLiteral("DECIDED"));
}

void TestCache::alertsAndTrail()
{
    const QString path = freshPath(QStringLiteral("alerts.sqlite"));
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    const std::optional<AlertRow> raised = cache.raiseAlert(
        QStringLiteral("stale_data"), QStringLiteral("coordinator-1"), QStringLiteral("no event for 60 s"));
    QVERIFY(raised);
    QVERIFY(raised->id > 0);
    // Raising it again while open keeps one alert (with the newest detail).
    QVERIFY(!cache.raiseAlert(QStringLiteral("stale_data"), QStringLiteral("coordinator-1"),
                              QStringLiteral("no event for 90 s")));
    QCOMPARE(cache.alerts().size(), 1);
    QCOMPARE(cache.alerts().first().detail, QStringLiteral("no event for 90 s"));
    QCOMPARE(cache.alerts(true).size(), 1);

    QVERIFY(!cache.acknowledgeAlert(raised->id, QString(), QString(), &error));
    QVERIFY(!cache.acknowledgeAlert(9999, QStringLiteral("operator-1"), QString(), &error));
    QVERIFY2(error.contains(QLatin1String("9999")), qPrintable(error));
    QVERIFY2(cache.acknowledgeAlert(raised->id, QStringLiteral("operator-1"),
                                    QStringLiteral("node restarted"), &error),
             qPrintable(error));
    std::optional<AlertRow> acknowledged = cache.alert(raised->id);
    QCOMPARE(acknowledged->acknowledgedBy, QStringLiteral("operator-1"));
    QVERIFY(acknowledged->acknowledgedAtMs > 0);
    QCOMPARE(cache.alerts(true).size(), 0);
    // Twice is refused, naming who did it first.
    QVERIFY(!cache.acknowledgeAlert(raised->id, QStringLiteral("operator-2"), QString(), &error));
    QVERIFY2(error.contains(QLatin1String("operator-1")), qPrintable(error));

    // It comes back: re-opened, and the trail shows all of it.
    QVERIFY(cache.raiseAlert(QStringLiteral("stale_data"), QStringLiteral("coordinator-1"),
                             QStringLiteral("again")));
    QVERIFY(!cache.alert(raised->id)->isAcknowledged());
    QVERIFY(cache.acknowledgeAlert(raised->id, QStringLiteral("operator-2"), QStringLiteral("ok"), &error));
    const QList<AlertTrailEntry> trail = cache.alertTrail(raised->id);
    QCOMPARE(trail.size(), 4);
    QCOMPARE(trail.at(0).action, QStringLiteral("raised"));
    QCOMPARE(trail.at(1).action, QStringLiteral("acknowledged"));
    QCOMPARE(trail.at(1).who, QStringLiteral("operator-1"));
    QCOMPARE(trail.at(1).note, QStringLiteral("node restarted"));
    QCOMPARE(trail.at(2).action, QStringLiteral("raised"));
    QCOMPARE(trail.at(3).who, QStringLiteral("operator-2"));
    cache.close();
    QVERIFY(cache.open(path, &error));
    QCOMPARE(cache.alertTrail().size(), 4);
}

void TestCache::gaps()
{
    const QString path = freshPath(QStringLiteral("gaps.sqlite"));
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    std::optional<AlertRow> alert;
    QVERIFY(cache.recordGap(kCoordinator, 11, 20, &alert));
    QVERIFY(alert);
    QCOMPARE(alert->kind, QStringLiteral("gap"));
    QVERIFY(alert->detail.contains(QLatin1String("11")));
    QVERIFY(!cache.recordGap(kCoordinator, 30, 20));
    const QList<GapRow> gaps = cache.gaps();
    QCOMPARE(gaps.size(), 1);
    QCOMPARE(gaps.first().fromSeq, 11);
    QCOMPARE(gaps.first().toSeq, 20);
}

namespace {

// The rows a filter should select, by brute force over every row.
QList<qint64> expectedFeedIds(const QList<FeedRow> &all, const FeedFilter &f)
{
    QList<qint64> ids;
    for (const FeedRow &row : all) {
        if ((f.ticket.isEmpty() || row.ticket == f.ticket) &&
            (f.branch.isEmpty() || row.branch == f.branch) &&
            (f.target.isEmpty() || row.target == f.target) && (f.state < 0 || row.state == f.state) &&
            (!f.fromMs || row.atMs >= f.fromMs) && (!f.toMs || row.atMs <= f.toMs))
            ids.append(row.id);
    }
    return ids;
}

QList<qint64> ids(const QList<FeedRow> &rows)
{
    QList<qint64> result;
    for (const FeedRow &row : rows)
        result.append(row.id);
    return result;
}

// Reads every page of a filter with each strategy the cache has, and checks all agree.
void checkFeedPaging(const HistoryCache &cache, const FeedFilter &filter, const QList<qint64> &expected)
{
    const CountResult count = cache.feedCount(filter);
    QCOMPARE(count.count, qint64(expected.size()));
    constexpr int kPage = 7;
    QList<qint64> byOffset, byKeyset, byEnd;
    qint64 lastId = 0;
    for (int offset = 0; offset < expected.size(); offset += kPage) {
        PageRequest plain{.offset = offset, .limit = kPage, .upperId = count.upper};
        byOffset += ids(cache.feedPage(filter, plain));
        PageRequest keyset = plain;
        keyset.afterId = lastId;
        const QList<FeedRow> page = cache.feedPage(filter, keyset);
        byKeyset += ids(page);
        if (!page.isEmpty())
            lastId = page.last().id;
        PageRequest fromEnd = plain;
        fromEnd.total = count.count;
        byEnd += ids(cache.feedPage(filter, fromEnd));
    }
    QCOMPARE(byOffset, expected);
    QCOMPARE(byKeyset, expected);
    QCOMPARE(byEnd, expected);
    // Backwards from a known next page.
    if (expected.size() > kPage) {
        PageRequest before{.offset = 0, .limit = kPage, .upperId = count.upper};
        before.beforeId = expected.at(kPage);
        QCOMPARE(ids(cache.feedPage(filter, before)), expected.mid(0, kPage));
    }
}

} // namespace

void TestCache::feedQueries()
{
    const QString path = freshPath(QStringLiteral("feed.sqlite"));
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    cache.ingest(kCoordinator, stream->events);
    const CountResult count = cache.feedCount({});
    const QList<FeedRow> all = cache.feedPage({}, PageRequest{.offset = 0, .limit = 100000});
    QCOMPARE(qint64(all.size()), count.count);
    QCOMPARE(count.upper, all.last().id);
    for (int i = 1; i < all.size(); ++i)
        QVERIFY(all.at(i).id > all.at(i - 1).id);

    const qint64 midTime = all.at(all.size() / 2).atMs;
    const QList<FeedFilter> filters = {
        {},
        FeedFilter{.ticket = QStringLiteral("T-000009")},
        FeedFilter{.branch = QStringLiteral("branch-2")},
        FeedFilter{.target = QStringLiteral("target-3")},
        FeedFilter{.state = 0},
        FeedFilter{.state = 1},
        FeedFilter{.state = 3},
        FeedFilter{.fromMs = midTime},
        FeedFilter{.toMs = midTime},
        FeedFilter{.fromMs = all.at(10).atMs, .toMs = all.at(60).atMs},
        FeedFilter{.branch = QStringLiteral("branch-1"), .target = QStringLiteral("target-1"), .state = 1},
        FeedFilter{.ticket = QStringLiteral("no such ticket")},
    };
    for (const FeedFilter &filter : filters) {
        const QList<qint64> expected = expectedFeedIds(all, filter);
        checkFeedPaging(cache, filter, expected);
        if (QTest::currentTestFailed()) {
            qWarning() << "filter" << filter.ticket << filter.branch << filter.target << filter.state
                       << filter.fromMs << filter.toMs;
            return;
        }
    }
    // Incremental counts: rows after an id.
    const qint64 half = all.at(all.size() / 2).id;
    QCOMPARE(cache.feedCount({}, half).count,
             qint64(std::count_if(all.begin(), all.end(), [&](const FeedRow &r) { return r.id > half; })));
    QCOMPARE(cache.feedCount(FeedFilter{.state = 0}, half).count,
             qint64(std::count_if(all.begin(), all.end(),
                                  [&](const FeedRow &r) { return r.id > half && r.state == 0; })));
    // A snapshot bound hides newer rows.
    PageRequest bounded{.offset = 0, .limit = 1000, .upperId = half};
    QCOMPARE(cache.feedPage({}, bounded).size(),
             std::count_if(all.begin(), all.end(), [&](const FeedRow &r) { return r.id <= half; }));
    QCOMPARE(cache.feedPage({}, bounded).last().id, half);

    // Every query is served by an index, not a scan of the table.
    for (const char *sql :
         {"EXPLAIN QUERY PLAN SELECT id FROM feed WHERE ticket = 'x' ORDER BY id",
          "EXPLAIN QUERY PLAN SELECT id FROM feed WHERE branch = 'x' AND id > 5 ORDER BY id",
          "EXPLAIN QUERY PLAN SELECT id FROM feed WHERE state = 1 ORDER BY id",
          "EXPLAIN QUERY PLAN SELECT id FROM feed WHERE target = 'x' ORDER BY id"}) {
        sqlite3 *db = nullptr;
        sqlite3_open(path.toUtf8().constData(), &db);
        sqlite3_stmt *statement = nullptr;
        QCOMPARE(sqlite3_prepare_v2(db, sql, -1, &statement, nullptr), SQLITE_OK);
        QString plan;
        while (sqlite3_step(statement) == SQLITE_ROW)
            plan += QString::fromUtf8(reinterpret_cast<const char *>(sqlite3_column_text(statement, 3)));
        sqlite3_finalize(statement);
        sqlite3_close(db);
        QVERIFY2(plan.contains(QLatin1String("USING COVERING INDEX")) ||
                     plan.contains(QLatin1String("USING INDEX")),
                 qPrintable(plan));
        QVERIFY2(!plan.contains(QLatin1String("TEMP B-TREE")), qPrintable(plan));
    }
}

void TestCache::feedQueriesWithHoles()
{
    // Feed ids are dense by construction; if a file ever has holes (edited by hand, or by a
    // later version that prunes), paging must still be exact.
    const QString path = freshPath(QStringLiteral("holes.sqlite"));
    {
        HistoryCache cache;
        QString error;
        QVERIFY(cache.open(path, &error));
        cache.ingest(kCoordinator, stream->events);
    }
    QCOMPARE(RawDb(path).exec("DELETE FROM feed WHERE id % 5 = 2"), QString());
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    const QList<FeedRow> all = cache.feedPage({}, PageRequest{.offset = 0, .limit = 100000});
    checkFeedPaging(cache, {}, ids(all));
    for (const FeedRow &row : all)
        QVERIFY(row.id % 5 != 2);
}

void TestCache::decisionQueries()
{
    const QString path = freshPath(QStringLiteral("decisions.sqlite"));
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    cache.ingest(kCoordinator, stream->events);
    QList<DecisionRow> all;
    QVERIFY(cache.forEachDecision({}, false, [&](const DecisionRow &row) {
        all.append(row);
        return true;
    }));
    QCOMPARE(all.size(), decisions.size());
    for (int i = 1; i < all.size(); ++i)
        QVERIFY(all.at(i).decidedAtMs >= all.at(i - 1).decidedAtMs);

    const auto digests = [](const QList<DecisionRow> &rows) {
        QList<QByteArray> result;
        for (const DecisionRow &row : rows)
            result.append(row.digest);
        return result;
    };
    const qint64 mid = all.at(all.size() / 2).decidedAtMs;
    const QList<DecisionFilter> filters = {
        {},
        DecisionFilter{.ticket = QStringLiteral("T-000019")},
        DecisionFilter{.outcome = QStringLiteral("UNDETERMINED")},
        DecisionFilter{.outcome = QStringLiteral("DECIDED")},
        DecisionFilter{.fromMs = mid},
        DecisionFilter{.toMs = mid},
        DecisionFilter{.outcome = QStringLiteral("DECIDED"), .fromMs = all.at(5).decidedAtMs, .toMs = mid},
    };
    for (const DecisionFilter &filter : filters) {
        QList<QByteArray> expected;
        for (const DecisionRow &row : all) {
            if ((filter.ticket.isEmpty() || row.ticket == filter.ticket) &&
                (filter.outcome.isEmpty() || row.outcome == filter.outcome) &&
                (!filter.fromMs || row.decidedAtMs >= filter.fromMs) &&
                (!filter.toMs || row.decidedAtMs <= filter.toMs))
                expected.append(row.digest);
        }
        const CountResult count = cache.decisionCount(filter);
        QCOMPARE(count.count, qint64(expected.size()));
        QList<QByteArray> byOffset, byKeyset, byEnd;
        DecisionRow last;
        for (int offset = 0; offset < expected.size(); offset += 3) {
            PageRequest plain{.offset = offset, .limit = 3, .upperMs = count.upper};
            byOffset += digests(cache.decisionsPage(filter, plain));
            PageRequest keyset = plain;
            if (offset > 0) {
                keyset.afterMs = last.decidedAtMs;
                keyset.afterDigest = last.digest;
            }
            const QList<DecisionRow> page = cache.decisionsPage(filter, keyset);
            byKeyset += digests(page);
            if (!page.isEmpty())
                last = page.last();
            PageRequest fromEnd = plain;
            fromEnd.total = count.count;
            byEnd += digests(cache.decisionsPage(filter, fromEnd));
        }
        QCOMPARE(byOffset, expected);
        QCOMPARE(byKeyset, expected);
        QCOMPARE(byEnd, expected);
        QList<QByteArray> streamed;
        cache.forEachDecision(filter, false, [&](const DecisionRow &row) {
            streamed.append(row.digest);
            return true;
        });
        QCOMPARE(streamed, expected);
    }
    // Incremental count after a time, and the snapshot bound.
    QCOMPARE(cache.decisionCount({}, mid).count,
             qint64(std::count_if(all.begin(), all.end(),
                                  [&](const DecisionRow &r) { return r.decidedAtMs > mid; })));
    QCOMPARE(cache.decisionCount({}, 0, mid).count,
             qint64(std::count_if(all.begin(), all.end(),
                                  [&](const DecisionRow &r) { return r.decidedAtMs <= mid; })));
    // Lookup by digest, with its confirmations.
    const DecisionRow &one = all.at(9);
    QCOMPARE(cache.decision(one.digest)->ticket, one.ticket);
    QVERIFY(!cache.decision(QByteArray(32, '\0')));
    QVERIFY(!cache.confirmations(one.digest).isEmpty());
    // Streaming with certificates, and stopping early.
    int seen = 0;
    QVERIFY(cache.forEachDecision({}, true, [&](const DecisionRow &) { return ++seen < 5; }));
    QCOMPARE(seen, 5);
}

void TestCache::workerBatchesAndCommitsOnStop()
{
    const QString path = freshPath(QStringLiteral("worker.sqlite"));
    auto thread = std::make_unique<CacheThread>(path);
    CacheWorker *worker = thread->worker();
    QSignalSpy opened(worker, &CacheWorker::opened);
    QSignalSpy ingested(worker, &CacheWorker::ingested);
    QSignalSpy appended(worker, &CacheWorker::feedAppended);
    QSignalSpy changed(worker, &CacheWorker::decisionsChanged);
    QSignalSpy alerts(worker, &CacheWorker::alertRaised);
    thread->start();
    QTRY_COMPARE(opened.size(), 1);
    QVERIFY(opened.at(0).at(0).toBool());

    // Many small deliveries become few commits.
    const QList<QJsonObject> &events = stream->events;
    for (const QJsonObject &event : events)
        QMetaObject::invokeMethod(worker, "ingest", Qt::QueuedConnection, Q_ARG(QString, kCoordinator),
                                  Q_ARG(QList<QJsonObject>, QList<QJsonObject>{event}));
    QTRY_VERIFY(!ingested.isEmpty() && ingested.last().at(1).toLongLong() == stream->seq);
    // A commit emits `ingested` first and the rest after it, on the worker's thread, where the
    // spies record: wait for that commit to finish before reading them.
    QMetaObject::invokeMethod(
        worker, [] {}, Qt::BlockingQueuedConnection);
    QVERIFY2(ingested.size() < events.size() / 10, qPrintable(QString::number(ingested.size())));
    int stored = 0;
    for (const QList<QVariant> &signal : std::as_const(ingested))
        stored += signal.at(2).value<IngestReport>().stored;
    QCOMPARE(stored, int(events.size()));
    QVERIFY(!appended.isEmpty());
    QVERIFY(!changed.isEmpty());
    QCOMPARE(alerts.size(), 7);

    // Requests are answered with their id.
    QSignalSpy count(worker, &CacheWorker::feedCountReady);
    QMetaObject::invokeMethod(worker, [worker] { worker->requestFeedCount(42, FeedFilter{.state = 0}, 0); });
    QTRY_COMPARE(count.size(), 1);
    QCOMPARE(count.at(0).at(0).value<quint64>(), quint64(42));
    QCOMPARE(count.at(0).at(1).toLongLong(), 40);

    // Acknowledging through the worker.
    QSignalSpy acknowledged(worker, &CacheWorker::alertAcknowledged);
    const qint64 alertId = alerts.first().at(0).value<AlertRow>().id;
    QMetaObject::invokeMethod(worker, [worker, alertId] {
        worker->acknowledgeAlert(alertId, QStringLiteral("operator-1"), QStringLiteral("seen"));
    });
    QTRY_COMPARE(acknowledged.size(), 1);
    QCOMPARE(acknowledged.at(0).at(0).value<AlertRow>().acknowledgedBy, QStringLiteral("operator-1"));

    // Events still pending when the thread stops are committed, not lost.
    Stream more(sample);
    more.seq = stream->seq;
    more.clock = stream->clock;
    more.receiver(QStringLiteral("receiver-9"), QStringLiteral("in_sync"), 1, 1);
    QMetaObject::invokeMethod(worker,
                              [worker, events = more.events] { worker->ingest(kCoordinator, events); });
    thread->stop();
    thread.reset();
    HistoryCache cache;
    QString error;
    QVERIFY(cache.open(path, &error));
    QCOMPARE(cache.lastSeq(kCoordinator), more.seq);
    QCOMPARE(cache.receivers().size(), 3);
}

void TestCache::reopensConsistentAfterKill()
{
#ifndef CACHE_CRASH_CHILD
    QSKIP("cache_crash_child was not built");
#else
    const QString path = freshPath(QStringLiteral("crash.sqlite"));
    qint64 printed = 0;
    for (int round = 0; round < 4; ++round) {
        QProcess child;
        child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        child.start(QStringLiteral(CACHE_CRASH_CHILD), {path, QStringLiteral("60")});
        QVERIFY2(child.waitForStarted(), qPrintable(child.errorString()));
        // Let it commit a few batches, then kill it at a random moment mid-stream.
        QByteArray output;
        QTRY_VERIFY_WITH_TIMEOUT((output += child.readAllStandardOutput()).count("committed") >= 3, 30000);
        QTest::qWait(QRandomGenerator::global()->bounded(5, 120));
        ::kill(pid_t(child.processId()), SIGKILL);
        QVERIFY(child.waitForFinished(10000));
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);
        output += child.readAllStandardOutput();
        // The newest complete line (the kill may cut the last one short).
        QList<QByteArray> lines = output.split('\n');
        lines.removeLast();
        QVERIFY(!lines.isEmpty() && lines.last().startsWith("committed "));
        printed = lines.last().mid(10).toLongLong();

        HistoryCache cache;
        QString error;
        QVERIFY2(cache.open(path, &error), qPrintable(error));
        const qint64 cursor = cache.lastSeq(kCoordinator);
        // Everything it said was committed is there; the cursor is exactly the newest stored
        // event; batches are whole (500 events each, seqs from 1 without holes).
        QVERIFY2(cursor >= printed,
                 qPrintable(QStringLiteral("cursor %1 < printed %2").arg(cursor).arg(printed)));
        QCOMPARE(cache.maxStoredSeq(kCoordinator), cursor);
        QCOMPARE(cursor % 500, 0);
        QCOMPARE(cache.eventCount(kCoordinator), cursor);
        // The view tables hold exactly what those events map to: 5 of every 6 events are feed
        // rows, every 6th (seq % 6 == 5) a decision.
        const qint64 decisionsExpected = (cursor + 1) / 6;
        QCOMPARE(cache.decisionCount({}).count, decisionsExpected);
        QCOMPARE(cache.feedCount({}).count, cursor - decisionsExpected);
        QCOMPARE(cache.maxFeedId(), cursor - decisionsExpected);
        QVERIFY(cache.alerts().isEmpty());
    }
    QVERIFY(printed > 0);
#endif
}

void TestCache::fetchedCertificatesAreCheckedAndStored()
{
    // A page of a node's `decisions` answer as an export fetches it: the worker decodes and checks
    // each certificate and proof, and stores what holds, with the height of its block.
    CacheWorker worker(freshPath(QStringLiteral("fetched.sqlite")));
    worker.open();
    QVERIFY(worker.cache().isOpen());
    QCOMPARE(worker.cache().ingest(kCoordinator, stream->events).stored, int(stream->events.size()));
    const Decision &sealed = decisions.at(0);
    const Decision &wrongLeaf = decisions.at(1);
    const Decision &unsealed = decisions.at(2);
    const Decision &swapped = decisions.at(3);
    Block block;
    block.height = 3;
    block.previousHash = QByteArray(32, '\x02');
    block.membershipHash = sample.membership.hash();
    block.timestampMs = stream->clock;
    block.coordinatorId = sample.coordinatorId();
    block.decisions = {sealed, wrongLeaf, decisions.at(4)};
    block.seal(sample.keys.value(sample.coordinatorId()));
    const BlockProofs proofs(block);
    const auto entry = [](const Decision &decision, const QByteArray &digest,
                          const std::optional<InclusionProof> &proof) {
        QJsonObject item{{QStringLiteral("write_off_digest"), hex(digest)},
                         {QStringLiteral("height"), proof ? 3 : 0},
                         {QStringLiteral("decision"), base64(decision.encode())}};
        if (proof)
            item.insert(QStringLiteral("proof"), proof->toJson());
        return item;
    };
    const QByteArray unknown(32, '\x7e');
    const QList<QByteArray> asked{sealed.writeOff.digest(), wrongLeaf.writeOff.digest(),
                                  unsealed.writeOff.digest(), swapped.writeOff.digest(), unknown};
    const QJsonObject reply{
        {QStringLiteral("type"), QStringLiteral("decisions")},
        {QStringLiteral("decisions"),
         QJsonArray{entry(sealed, asked.at(0), proofs.proof(0)),
                    entry(wrongLeaf, asked.at(1), proofs.proof(0)),
                    entry(unsealed, asked.at(2), std::nullopt), entry(sealed, asked.at(3), std::nullopt)}},
        {QStringLiteral("missing"), QJsonArray{hex(unknown)}}};
    QSignalSpy stored(&worker, &CacheWorker::certificatesStored);
    const auto membership = std::make_shared<const Membership>(sample.membership);
    for (const auto &members : {membership, std::shared_ptr<const Membership>()}) {
        stored.clear();
        worker.storeFetchedCertificates(7, asked, reply, members);
        QCOMPARE(stored.size(), 1);
        QCOMPARE(stored.at(0).at(0).toULongLong(), quint64(7));
        QCOMPARE(stored.at(0).at(1).toInt(), 2); // sealed, unsealed
        QCOMPARE(stored.at(0).at(2).toInt(), 1); // sealed
        QCOMPARE(stored.at(0).at(3).toInt(), 3); // wrong leaf, swapped, unknown
        const QString first = stored.at(0).at(4).toString();
        QVERIFY2(first.startsWith(hex(wrongLeaf.writeOff.digest()).left(16)) &&
                     first.contains(QLatin1String("block proof does not hold")),
                 qPrintable(first));
    }
    HistoryCache &cache = worker.cache();
    QCOMPARE(cache.decision(sealed.writeOff.digest())->height, 3);
    QCOMPARE(cache.decision(sealed.writeOff.digest())->certificate, sealed.encode());
    QCOMPARE(cache.decision(unsealed.writeOff.digest())->certificate, unsealed.encode());
    QVERIFY(cache.decision(swapped.writeOff.digest())->certificate.isEmpty());
    // The next export asks again for what has no proof yet, not for the sealed one.
    const QList<QByteArray> again = cache.unprovenDecisions(0, std::numeric_limits<qint64>::max(), 1000);
    QVERIFY(!again.contains(sealed.writeOff.digest()));
    QVERIFY(again.contains(unsealed.writeOff.digest()));
    QVERIFY(again.contains(wrongLeaf.writeOff.digest()));
    // Fetched again without its proof, a certificate keeps the one stored.
    worker.storeFetchedCertificates(
        8, {sealed.writeOff.digest()},
        {{QStringLiteral("type"), QStringLiteral("decisions")},
         {QStringLiteral("decisions"), QJsonArray{entry(sealed, asked.at(0), std::nullopt)}}},
        membership);
    QVERIFY(!cache.unprovenDecisions(0, std::numeric_limits<qint64>::max(), 1000)
                 .contains(sealed.writeOff.digest()));

    // A proof signed by a target under the coordinator's name: only the membership shows it.
    block.seal(sample.keys.value(sample.targetIds().first()));
    const QJsonObject forged{{QStringLiteral("type"), QStringLiteral("decisions")},
                             {QStringLiteral("decisions"),
                              QJsonArray{entry(wrongLeaf, asked.at(1), BlockProofs(block).proof(1))}}};
    stored.clear();
    worker.storeFetchedCertificates(9, {asked.at(1)}, forged, membership);
    QCOMPARE(stored.at(0).at(3).toInt(), 1);
    QVERIFY2(stored.at(0).at(4).toString().contains(QLatin1String("signature does not verify")),
             qPrintable(stored.at(0).at(4).toString()));

    // An error answer: every digest asked is a problem, named by the node's error.
    stored.clear();
    worker.storeFetchedCertificates(10, asked,
                                    {{QStringLiteral("type"), QStringLiteral("error")},
                                     {QStringLiteral("error"), QStringLiteral("busy")}},
                                    membership);
    QCOMPARE(stored.at(0).at(1).toInt(), 0);
    QCOMPARE(stored.at(0).at(3).toInt(), int(asked.size()));
    QVERIFY(stored.at(0).at(4).toString().endsWith(QLatin1String(": busy")));
}

void TestCache::alertsTheCacheCannotStoreStillReachTheOperator()
{
    // The console raises stale_data, gap, journal_behind and malformed_events alerts through the
    // cache. One the cache cannot store (another process holds its write lock, a full disk, no
    // cache at all) is still shown, with id 0 as it has no row, and the failure is said.
    const QString path = freshPath(QStringLiteral("locked-alerts.sqlite"));
    CacheWorker worker(path);
    worker.open();
    QVERIFY(worker.cache().isOpen());
    QSignalSpy raised(&worker, &CacheWorker::alertRaised);
    QSignalSpy failed(&worker, &CacheWorker::failed);
    sqlite3 *locker = nullptr;
    QCOMPARE(sqlite3_open_v2(path.toUtf8().constData(), &locker, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    QCOMPARE(sqlite3_exec(locker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    worker.raiseAlert(QStringLiteral("stale_data"), kCoordinator,
                      QStringLiteral("no data from coordinator-1 for 12 s"));
    worker.recordGap(kCoordinator, 5, 9);
    sqlite3_exec(locker, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close_v2(locker);
    QCOMPARE(raised.size(), 2);
    const AlertRow stale = raised.at(0).at(0).value<AlertRow>();
    QCOMPARE(stale.kind, QStringLiteral("stale_data"));
    QCOMPARE(stale.subject, kCoordinator);
    QCOMPARE(stale.detail, QStringLiteral("no data from coordinator-1 for 12 s"));
    QCOMPARE(stale.id, 0);
    QVERIFY(stale.raisedAtMs > 0);
    QCOMPARE(raised.at(1).at(0).value<AlertRow>().kind, QStringLiteral("gap"));
    QCOMPARE(failed.size(), 2);
    QVERIFY2(failed.at(0).at(0).toString().contains(QLatin1String("stale_data")) &&
                 failed.at(0).at(0).toString().contains(QLatin1String("locked")),
             qPrintable(failed.at(0).at(0).toString()));
    QVERIFY(worker.cache().alerts().isEmpty());

    // Once the cache can write again, the same alert is stored and gets its row.
    raised.clear();
    worker.raiseAlert(QStringLiteral("stale_data"), kCoordinator,
                      QStringLiteral("no data from coordinator-1 for 20 s"));
    QCOMPARE(raised.size(), 1);
    QVERIFY(raised.at(0).at(0).value<AlertRow>().id > 0);
    QCOMPARE(failed.size(), 2);

    // Without any cache (the console runs without one when it cannot open it) alike.
    CacheWorker unopened(freshPath(QStringLiteral("never-opened.sqlite")));
    QSignalSpy shown(&unopened, &CacheWorker::alertRaised);
    QSignalSpy said(&unopened, &CacheWorker::failed);
    unopened.raiseAlert(QStringLiteral("journal_behind"), kCoordinator, QStringLiteral("replaced"));
    QCOMPARE(shown.size(), 1);
    QCOMPARE(shown.at(0).at(0).value<AlertRow>().kind, QStringLiteral("journal_behind"));
    QCOMPARE(said.size(), 1);
    QVERIFY2(said.at(0).at(0).toString().contains(QLatin1String("not open")),
             qPrintable(said.at(0).at(0).toString()));
}

QTEST_GUILESS_MAIN(TestCache)
#include "tst_cache.moc"
