// Audit reports from a real cache file: exact CSV, a JSON bundle that verifies offline and
// fails on any changed byte, a paged PDF (Chinese text included, with and without a Chinese
// font installed), cancellation and unreadable input, and the real `ticketsync verify-report` on
// good and tampered bundles.
#include "AuditBundle.h"
#include "Block.h"
#include "CacheSchema.h"
#include "Decision.h"
#include "ProcessRun.h"
#include "ReportExporter.h"
#include "ReportPdfPainter.h"
#include "ReportWorker.h"
#include "SampleConsortium.h"
#include "Sha256.h"
#include "Tally.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFontMetricsF>
#include <QGlyphRun>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRandomGenerator>
#include <QRawFont>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTextLayout>
#include <QTranslator>
#include <algorithm>
#include <limits>
#include <sqlite3.h>

using namespace ticketsync;

namespace {

constexpr qint64 kIssuedAt = 1717200000000; // 2024-06-01T00:00:00.000Z

// A cache file written the way the console's data layer writes it (CacheSchema::kCreateV1).
class CacheFile
{
public:
    enum class Open
    {
        Create,
        Existing
    };
    explicit CacheFile(const QString &path, Open open = Open::Create)
    {
        if (sqlite3_open(path.toUtf8().constData(), &db) != SQLITE_OK)
            qFatal("cannot create %s", qPrintable(path));
        if (open == Open::Existing)
            return;
        exec("PRAGMA journal_mode=WAL");
        exec(CacheSchema::kCreateV1);
        exec(CacheSchema::kCreateV2);
        exec(CacheSchema::kCreateV3);
        exec(QByteArray("PRAGMA user_version=") + QByteArray::number(CacheSchema::kVersion));
    }
    ~CacheFile() { sqlite3_close(db); }

    void exec(const QByteArray &sql)
    {
        char *message = nullptr;
        if (sqlite3_exec(db, sql.constData(), nullptr, nullptr, &message) != SQLITE_OK)
            qFatal("%s: %s", sql.left(80).constData(), message);
    }

    struct Row
    {
        QByteArray digest;
        QString ticket;
        quint32 version = 1;
        QString branch;
        qint64 amountMinor = 0;
        QString currency = QStringLiteral("CNY");
        QString outcome;
        int state = 0;
        int count = 0, n = 4, q = 3, missing = 0, equivocating = 0;
        qint64 issuedAtMs = 0, decidedAtMs = 0, latencyMs = 0, height = 0;
        QByteArray certificate; // empty: not cached
    };

    void insert(const Row &row)
    {
        sqlite3_stmt *statement = prepare(
            "INSERT INTO decisions (digest, node, ticket, version, branch, amount_minor, currency, outcome, "
            "state, "
            "count, n, q, missing, equivocating, histogram, issued_at_ms, decided_at_ms, latency_ms, height, "
            "certificate) VALUES (?, 'coordinator-1', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, "
            "?)");
        bindBlob(statement, 1, row.digest);
        bindText(statement, 2, row.ticket);
        sqlite3_bind_int64(statement, 3, row.version);
        bindText(statement, 4, row.branch);
        sqlite3_bind_int64(statement, 5, row.amountMinor);
        bindText(statement, 6, row.currency);
        bindText(statement, 7, row.outcome);
        sqlite3_bind_int(statement, 8, row.state);
        sqlite3_bind_int(statement, 9, row.count);
        sqlite3_bind_int(statement, 10, row.n);
        sqlite3_bind_int(statement, 11, row.q);
        sqlite3_bind_int(statement, 12, row.missing);
        sqlite3_bind_int(statement, 13, row.equivocating);
        sqlite3_bind_int64(statement, 14, row.issuedAtMs);
        sqlite3_bind_int64(statement, 15, row.decidedAtMs);
        sqlite3_bind_int64(statement, 16, row.latencyMs);
        sqlite3_bind_int64(statement, 17, row.height);
        if (row.certificate.isEmpty())
            sqlite3_bind_null(statement, 18);
        else
            bindBlob(statement, 18, row.certificate);
        step(statement);
    }

    void insertConfirmation(const StateConfirmation &confirmation, const QString &verdict,
                            const QByteArray &bytes = {})
    {
        sqlite3_stmt *statement = prepare("INSERT INTO confirmations (digest, target, state, verdict, at_ms, "
                                          "confirmation) VALUES (?, ?, ?, ?, ?, ?)");
        bindBlob(statement, 1, confirmation.writeOffDigest);
        bindText(statement, 2, confirmation.targetId);
        sqlite3_bind_int(statement, 3, confirmation.stateCode);
        bindText(statement, 4, verdict);
        sqlite3_bind_int64(statement, 5, kIssuedAt + 100);
        bindBlob(statement, 6, bytes.isEmpty() ? confirmation.encode() : bytes);
        step(statement);
    }

    // The row as the data layer stores a decision_made event with its certificate.
    static Row rowFor(const Decision &decision, qint64 latencyMs, qint64 height, bool withCertificate)
    {
        Row row;
        row.digest = decision.writeOff.digest();
        row.ticket = decision.writeOff.ticketId;
        row.version = decision.writeOff.ticketVersion;
        row.branch = decision.writeOff.branchId;
        row.amountMinor = decision.writeOff.amountMinor;
        row.currency = decision.writeOff.currency;
        row.outcome = outcomeName(decision.outcome);
        row.state = decision.decidedState;
        quint32 top = 0;
        for (const StateCount &entry : decision.histogram)
            top = qMax(top, entry.count);
        row.count = int(decision.outcome == Outcome::Decided ? decision.countOf(decision.decidedState) : top);
        row.n = int(decision.targetCount);
        row.q = int(decision.quorum);
        row.missing = int(decision.missing);
        row.equivocating = int(decision.equivocating);
        row.issuedAtMs = decision.writeOff.issuedAtMs;
        row.decidedAtMs = decision.decidedAtMs;
        row.latencyMs = latencyMs;
        row.height = height;
        if (withCertificate)
            row.certificate = decision.encode();
        return row;
    }

private:
    sqlite3_stmt *prepare(const char *sql)
    {
        sqlite3_stmt *statement = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) != SQLITE_OK)
            qFatal("prepare: %s", sqlite3_errmsg(db));
        return statement;
    }
    void step(sqlite3_stmt *statement)
    {
        if (sqlite3_step(statement) != SQLITE_DONE)
            qFatal("insert: %s", sqlite3_errmsg(db));
        sqlite3_finalize(statement);
    }
    static void bindBlob(sqlite3_stmt *statement, int index, const QByteArray &bytes)
    {
        sqlite3_bind_blob(statement, index, bytes.constData(), int(bytes.size()), SQLITE_TRANSIENT);
    }
    static void bindText(sqlite3_stmt *statement, int index, const QString &text)
    {
        const QByteArray utf8 = text.toUtf8();
        sqlite3_bind_text(statement, index, utf8.constData(), int(utf8.size()), SQLITE_TRANSIENT);
    }

    sqlite3 *db = nullptr;
};

QByteArray readFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

void writeFile(const QString &path, const QByteArray &contents)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(contents) != contents.size())
        qFatal("cannot write %s", qPrintable(path));
}

struct ExportRun
{
    bool finished = false;
    bool ok = false;
    QString path;
    QString summary;
    QStringList failures;
    QList<int> progress;
};

ExportRun runExport(const ReportRequest &request, bool cancelAtOnce = false)
{
    ReportExporter exporter;
    QSignalSpy finished(&exporter, &ReportExporter::finished);
    QSignalSpy failed(&exporter, &ReportExporter::failed);
    QSignalSpy progress(&exporter, &ReportExporter::progress);
    ExportRun run;
    if (!exporter.start(request))
        return run;
    if (cancelAtOnce)
        exporter.cancel();
    if (finished.isEmpty() && !finished.wait(120000))
        return run;
    run.finished = true;
    run.ok = finished.first().at(0).toBool();
    run.path = finished.first().at(1).toString();
    run.summary = finished.first().at(2).toString();
    for (const QList<QVariant> &arguments : failed)
        run.failures << arguments.first().toString();
    for (const QList<QVariant> &arguments : progress)
        run.progress << arguments.first().toInt();
    return run;
}

int countPages(const QByteArray &pdf)
{
    // Page objects, not the /Pages tree node.
    static const QRegularExpression page(QStringLiteral("/Type\\s*/Page(?![a-zA-Z])"));
    return int(QString::fromLatin1(pdf).count(page));
}

// Font names in a PDF written by QPdfWriter: each embedded font's descriptor, with whether its
// object carries the font program (/FontFile2). The six-letter subset tag is dropped.
QHash<QString, bool> embeddedFonts(const QByteArray &pdf)
{
    static const QRegularExpression descriptor(
        QStringLiteral("/FontName\\s*/(?:[A-Z]{6}\\+)?([^\\s/\\[\\]<>()]+)((?:(?!endobj).)*)"),
        QRegularExpression::DotMatchesEverythingOption);
    QHash<QString, bool> fonts;
    const QString text = QString::fromLatin1(pdf);
    for (const QRegularExpressionMatch &match : descriptor.globalMatch(text))
        fonts[match.captured(1)] |= match.captured(2).contains(QLatin1String("/FontFile2"));
    return fonts;
}

// "WenQuanYi Micro Hei" and its PostScript name "WenQuanYiMicroHei" compare equal.
QString fontKey(const QString &name)
{
    QString key;
    for (const QChar c : name) {
        if (c.isLetterOrNumber())
            key += c.toLower();
    }
    return key;
}

bool isHan(uint c)
{
    return QChar::script(c) == QChar::Script_Han;
}

ProcessRun runCli(const QStringList &arguments)
{
    return ProcessRun::of(QStringLiteral(TICKETSYNC_CLI), arguments);
}

} // namespace

class TestExport : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir dir;
    SampleConsortium sample = SampleConsortium::generate();
    QString membershipPath;
    QString cachePath;
    QList<Decision> decisions; // the signed ones in the cache, by decision time
    QString quotedTicket = QStringLiteral("BA,2024-\"Q1\"");
    QString oddBranch = QStringLiteral("east,\"main\"\r\nbranch");

    WriteOffResult writeOff(const QString &ticket, qint64 amount, qint64 issuedAt) const
    {
        return sample.writeOff(QStringLiteral("branch-1"), ticket, 1, amount, QStringLiteral("CNY"), issuedAt,
                               QStringLiteral("ref, \"quoted\""));
    }

    // Feeds the targets' answers until final (or expires); returns the decision and every
    // answer given, counted or not.
    Decision tally(const WriteOffResult &w, const QList<ConfirmationState> &answers, qint64 decidedAt,
                   QList<StateConfirmation> *given = nullptr) const
    {
        Tally tally(sample.membership, w);
        for (int i = 0; i < answers.size(); ++i) {
            const StateConfirmation c =
                sample.confirm(QStringLiteral("target-%1").arg(i + 1), w, answers.at(i));
            if (given)
                given->append(c);
            if (!tally.isFinal())
                tally.add(c);
        }
        if (!tally.isFinal())
            tally.expire();
        return tally.decision(decidedAt);
    }

    QString exportTo(const QString &name, ReportRequest::Format format, ReportRequest request = {})
    {
        request.cachePath = request.cachePath.isEmpty() ? cachePath : request.cachePath;
        request.outputPath = dir.filePath(name);
        request.format = format;
        request.operatorName = QStringLiteral("auditor-1");
        const ExportRun run = runExport(request);
        if (!run.finished || !run.ok)
            qWarning("export %s: %s %s", qPrintable(name), qPrintable(run.summary),
                     qPrintable(run.failures.join(QLatin1Char(';'))));
        return run.ok ? request.outputPath : QString();
    }

    // Chinese as a consortium of Chinese banks writes it: tickets, receivers, nodes, errors and
    // the operator. Every string here ends up in the PDF.
    const QStringList chineseTickets = {QStringLiteral(u"工行承兑汇票-2024-甲001"),
                                        QStringLiteral(u"建行商票-乙-002")};
    const QString chineseReceiver = QStringLiteral(u"接收方-上海清算中心");
    const QString chineseNode = QStringLiteral(u"协调节点-北京");
    const QString chineseError = QStringLiteral(u"超时：未收到确认");
    const QString chineseOperator = QStringLiteral(u"审计员 张伟");

    QString chineseCache()
    {
        const QString path = dir.filePath(QStringLiteral("chinese.sqlite"));
        if (QFile::exists(path))
            return path;
        CacheFile cache(path);
        for (qsizetype i = 0; i < chineseTickets.size(); ++i) {
            CacheFile::Row row;
            row.digest = sha256(chineseTickets.at(i).toUtf8());
            row.ticket = chineseTickets.at(i);
            row.branch = QStringLiteral(u"工商银行北京分行");
            row.amountMinor = 880000 + i;
            row.outcome = QStringLiteral("UNDETERMINED");
            row.count = 2;
            row.missing = 1;
            row.issuedAtMs = kIssuedAt + i * 1000;
            row.decidedAtMs = kIssuedAt + i * 1000 + 30000;
            cache.insert(row);
        }
        cache.exec(
            QStringLiteral("INSERT INTO receivers VALUES ('%1', '%2', 'lagging', 5, 9, 4, 81000, '%3', "
                           "1717200219000, 1717200300000)")
                .arg(chineseReceiver, chineseNode, chineseError)
                .toUtf8());
        cache.exec(QStringLiteral("INSERT INTO blocks VALUES ('%1', 7, x'01', 1, 1717200001600)")
                       .arg(chineseNode)
                       .toUtf8());
        return path;
    }

    // The console's zh_CN translation, as when it runs in Simplified Chinese; removed when the
    // returned guard goes.
    [[nodiscard]] auto inChinese(QTranslator &translator)
    {
        if (!translator.load(QStringLiteral(":/i18n/ticketsync_console_zh_CN.qm")))
            qFatal("the console's zh_CN translation is not in the resources");
        QCoreApplication::installTranslator(&translator);
        return qScopeGuard([&translator] { QCoreApplication::removeTranslator(&translator); });
    }

    ReportWorker::Result exportChinese(const QString &name)
    {
        ReportRequest request;
        request.cachePath = chineseCache();
        request.outputPath = dir.filePath(name);
        request.format = ReportRequest::Format::Pdf;
        request.operatorName = chineseOperator;
        ReportWorker worker(request, nullptr);
        return worker.execute();
    }

    QByteArray bundle()
    {
        ReportRequest request;
        request.membershipPath = membershipPath;
        const QString path =
            exportTo(QStringLiteral("bundle.json"), ReportRequest::Format::JsonBundle, request);
        return readFile(path);
    }

    // A bundle as its parts, to be edited and written again with every hash recomputed, as a
    // forger with the Writer (or a script) would.
    struct BundleParts
    {
        AuditBundle::Header header;
        QList<AuditBundle::Entry> entries;

        static BundleParts of(const QByteArray &bytes)
        {
            const QJsonObject top = QJsonDocument::fromJson(bytes).object();
            BundleParts parts;
            parts.header.generatedAtMs =
                AuditBundle::parseIsoUtc(top.value(QLatin1String("generated_at")).toString()).value_or(0);
            parts.header.generatedBy = top.value(QLatin1String("generated_by")).toString();
            const QJsonObject period = top.value(QLatin1String("period")).toObject();
            parts.header.fromMs = qint64(period.value(QLatin1String("from_ms")).toDouble());
            if (!period.value(QLatin1String("to_ms")).isNull())
                parts.header.toMs = qint64(period.value(QLatin1String("to_ms")).toDouble());
            const QJsonObject filters = top.value(QLatin1String("filters")).toObject();
            parts.header.outcomeFilter = filters.value(QLatin1String("outcome")).toString();
            parts.header.ticketFilter = filters.value(QLatin1String("ticket")).toString();
            parts.header.membershipHash =
                QByteArray::fromHex(top.value(QLatin1String("membership_hash")).toString().toLatin1());
            parts.header.version = top.value(QLatin1String("version")).toInt();
            for (const QJsonValue &value : top.value(QLatin1String("decisions")).toArray()) {
                const QJsonObject object = value.toObject();
                AuditBundle::Entry entry;
                entry.summary =
                    *AuditSummary::fromJson(object.value(QLatin1String("summary")).toObject(), nullptr);
                if (!object.value(QLatin1String("certificate")).isNull())
                    entry.certificate = QByteArray::fromBase64(
                        object.value(QLatin1String("certificate")).toString().toLatin1());
                for (const QJsonValue &c : object.value(QLatin1String("confirmations")).toArray())
                    entry.confirmations.append(QByteArray::fromBase64(c.toString().toLatin1()));
                if (object.value(QLatin1String("proof")).isObject())
                    entry.proof =
                        InclusionProof::fromJson(object.value(QLatin1String("proof")).toObject(), nullptr);
                parts.entries.append(entry);
            }
            return parts;
        }

        QByteArray write() const
        {
            AuditBundle::Writer writer(header);
            QByteArray bytes = writer.begin();
            QByteArray manifest;
            for (const AuditBundle::Entry &entry : entries) {
                QByteArray line;
                bytes += writer.addEntry(entry, &line);
                manifest += line;
            }
            return bytes + writer.manifestBegin() + manifest + writer.end();
        }
    };

    // Seals the entry's certificate into a block of three at height (the middle leaf) under
    // signer's key, as a coordinator does, and gives the entry that block's proof.
    void sealInBlock(AuditBundle::Entry &entry, quint64 height,
                     const QString &signer = QStringLiteral("coordinator-1")) const
    {
        Block block;
        block.height = height;
        block.previousHash = sha256(QByteArray::number(height - 1));
        block.membershipHash = sample.membership.hash();
        block.timestampMs = entry.summary.decidedAtMs + 1000;
        block.coordinatorId = QStringLiteral("coordinator-1");
        block.decisions = {decisions.at(3), *Decision::decode(*entry.certificate), decisions.at(1)};
        block.seal(sample.keys.value(signer));
        entry.proof = BlockProofs(block).proof(1);
        entry.summary.height = qint64(height);
    }

    // The entry's certificate with its unsigned fields edited, as a forger re-encodes it: the
    // signatures inside stay valid.
    template<typename Edit> static void editCertificate(AuditBundle::Entry &entry, Edit edit)
    {
        Decision decision = *Decision::decode(*entry.certificate);
        edit(decision);
        entry.certificate = decision.encode();
    }

    // The review's forgery of a real DECIDED 3 x WRITTEN_OFF certificate (entry 0, one target
    // missing): decided a year earlier, and the missing target turned into an equivocating one.
    static void moveBackAndAccuse(AuditBundle::Entry &entry)
    {
        constexpr qint64 kYear = 365 * qint64(86400000);
        editCertificate(entry, [](Decision &d) {
            d.decidedAtMs -= kYear;
            d.missing = 0;
            d.equivocating = 1;
        });
        entry.summary.decidedAtMs -= kYear;
        entry.summary.missing = 0;
        entry.summary.equivocating = 1;
    }

    // Entry 0's certificate claiming an AMOUNT_MISMATCH vote where a target was missing.
    static void claimAnotherState(AuditBundle::Entry &entry)
    {
        editCertificate(entry, [](Decision &d) {
            d.histogram.append({quint16(ConfirmationState::AmountMismatch), 1});
            d.missing = 0;
        });
        entry.summary.missing = 0;
    }

    // What /tmp/rv/bundle.py made: one DECIDED WRITTEN_OFF 4 of 4 for a ticket never written
    // off, with no certificate and no confirmation, only correct hashes.
    static AuditBundle::Entry inventedDecision()
    {
        AuditBundle::Entry entry;
        AuditSummary &summary = entry.summary;
        summary.ticket = QStringLiteral("T-999999");
        summary.version = 1;
        summary.branch = QStringLiteral("branch-1");
        summary.amountMinor = 100;
        summary.currency = QStringLiteral("CNY");
        summary.outcome = QStringLiteral("DECIDED");
        summary.state = QStringLiteral("WRITTEN_OFF");
        summary.count = 4;
        summary.n = 4;
        summary.q = 3;
        summary.issuedAtMs = 1767225600000;
        summary.decidedAtMs = 1767225601000;
        summary.latencyMs = 1000;
        summary.height = 7;
        summary.digest = QByteArray(32, '\xab');
        return entry;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(dir.isValid());
        // To look at the reports by eye: TICKETSYNC_KEEP_TEST_FILES=1 keeps them.
        if (qEnvironmentVariableIsSet("TICKETSYNC_KEEP_TEST_FILES")) {
            dir.setAutoRemove(false);
            qInfo("keeping the test files in %s", qPrintable(dir.path()));
        }
        membershipPath = dir.filePath(QStringLiteral("membership.json"));
        writeFile(membershipPath, sample.membership.toJson());
        cachePath = dir.filePath(QStringLiteral("cache.sqlite"));
        CacheFile cache(cachePath);
        using S = ConfirmationState;

        // 1: decided WRITTEN_OFF, a ticket id with a comma and quotes; the fourth answer came
        // after the outcome, and a forged one was refused as bad-signature.
        QList<StateConfirmation> given;
        const WriteOffResult first = writeOff(quotedTicket, 500000000, kIssuedAt);
        decisions << tally(first, {S::WrittenOff, S::WrittenOff, S::WrittenOff, S::WrittenOff},
                           kIssuedAt + 1500, &given);
        cache.insert(CacheFile::rowFor(decisions.last(), 1420, 7, true));
        for (int i = 0; i < 3; ++i)
            cache.insertConfirmation(given.at(i), QStringLiteral("counted"));
        cache.insertConfirmation(given.at(3), QStringLiteral("after-outcome"));
        StateConfirmation forged = sample.confirm(QStringLiteral("target-4"), first, S::TicketFrozen);
        forged.signature[5] = char(forged.signature.at(5) ^ 0x40);
        cache.insertConfirmation(forged, QStringLiteral("bad-signature"));

        // 2: decided ALREADY_WRITTEN_OFF.
        given.clear();
        const WriteOffResult second = writeOff(QStringLiteral("BA-2024-000002"), 125050, kIssuedAt + 60000);
        decisions << tally(second, {S::AlreadyWrittenOff, S::AlreadyWrittenOff, S::AlreadyWrittenOff},
                           kIssuedAt + 61200, &given);
        cache.insert(CacheFile::rowFor(decisions.last(), 1190, 8, true));
        for (const StateConfirmation &c : std::as_const(given))
            cache.insertConfirmation(c, QStringLiteral("counted"));

        // 3: UNDETERMINED after the deadline: 2 WRITTEN_OFF, 1 AMOUNT_MISMATCH, 1 missing.
        given.clear();
        const WriteOffResult third = writeOff(QStringLiteral("EI-2024-000003"), 9900, kIssuedAt + 120000);
        decisions << tally(third, {S::WrittenOff, S::WrittenOff, S::AmountMismatch}, kIssuedAt + 150000,
                           &given);
        QCOMPARE(decisions.last().outcome, Outcome::Undetermined);
        cache.insert(CacheFile::rowFor(decisions.last(), 30000, 9, true));
        for (const StateConfirmation &c : std::as_const(given))
            cache.insertConfirmation(c, QStringLiteral("counted"));

        // 4: decided, not in a block yet (height 0), its certificate fetched since. A DECIDED
        // row without one makes a bundle that does not verify (forgedEntriesFail).
        given.clear();
        const WriteOffResult fourth = writeOff(QStringLiteral("BA-2024-000004"), 1, kIssuedAt + 180000);
        decisions << tally(fourth, {S::WrittenOff, S::WrittenOff, S::WrittenOff}, kIssuedAt + 180900, &given);
        cache.insert(CacheFile::rowFor(decisions.last(), 900, 0, true));
        for (const StateConfirmation &c : std::as_const(given))
            cache.insertConfirmation(c, QStringLiteral("counted"));

        // 5: a bare row with an awkward branch (CR LF, comma, quotes) and nothing signed.
        CacheFile::Row bare;
        bare.digest = QByteArray(32, '\x5a');
        bare.ticket = QStringLiteral("CQ-000005");
        bare.branch = oddBranch;
        bare.amountMinor = -300;
        bare.currency = QStringLiteral("USD");
        bare.outcome = QStringLiteral("UNDETERMINED");
        bare.missing = 4;
        bare.issuedAtMs = kIssuedAt + 200000;
        bare.decidedAtMs = kIssuedAt + 260000;
        bare.latencyMs = 60000;
        cache.insert(bare);

        cache.exec(
            "INSERT INTO receivers VALUES ('receiver-1', 'coordinator-1', 'in_sync', 9, 9, 0, 0, '', "
            "1717200300000, 1717200300000), ('receiver-2', 'coordinator-1', 'lagging', 5, 9, 4, 81000, "
            "'timeout waiting for ack', 1717200219000, 1717200300000), ('receiver-3', 'coordinator-1', "
            "'unreachable', 0, 9, 9, 300000, 'connection refused', 0, 1717200300000)");
        cache.exec(
            "INSERT INTO blocks VALUES ('coordinator-1', 7, x'01', 1, 1717200001600), ('coordinator-1', 8, "
            "x'02', 1, 1717200061300), ('coordinator-1', 9, x'03', 1, 1717200150100)");
        cache.exec("INSERT INTO alerts (kind, subject, detail, raised_at_ms) VALUES ('undetermined', 'x', "
                   "'EI-2024-000003', 1717200150000)");
    }

    void timesOutsideTheCalendarAreSpelledOut()
    {
        // A certificate's time is any signed 64-bit number: the extremes are written, not
        // overflowed into some date.
        QCOMPARE(AuditBundle::isoUtc(0), QByteArray("1970-01-01T00:00:00.000Z"));
        QCOMPARE(AuditBundle::isoUtc(-62167219200000), QByteArray("0000-01-01T00:00:00.000Z"));
        QCOMPARE(AuditBundle::isoUtc(253402300799999), QByteArray("9999-12-31T23:59:59.999Z"));
        QCOMPARE(AuditBundle::isoUtc(std::numeric_limits<qint64>::min()),
                 QByteArray("-9223372036854775808 ms since 1970 (outside years 0000-9999)"));
        QCOMPARE(AuditBundle::isoUtc(std::numeric_limits<qint64>::max()),
                 QByteArray("9223372036854775807 ms since 1970 (outside years 0000-9999)"));
        QCOMPARE(AuditBundle::isoUtc(253402300800000),
                 QByteArray("253402300800000 ms since 1970 (outside years 0000-9999)"));
    }

    void csvContentIsExact()
    {
        const QString path = exportTo(QStringLiteral("all.csv"), ReportRequest::Format::Csv);
        QVERIFY(!path.isEmpty());
        const auto hex = [this](int i) {
            return decisions.at(i).writeOff.digest().toHex();
        };
        const QByteArray expected =
            "ticket,version,branch,amount_minor,currency,outcome,state,count,n,q,missing,equivocating,issued_"
            "at,"
            "decided_at,latency_ms,height,digest\r\n"
            "\"BA,2024-\"\"Q1\"\"\",1,branch-1,500000000,CNY,DECIDED,WRITTEN_OFF,3,4,3,1,0,2024-06-01T00:00:"
            "00.000Z,"
            "2024-06-01T00:00:01.500Z,1420,7," +
            hex(0) +
            "\r\n"
            "BA-2024-000002,1,branch-1,125050,CNY,DECIDED,ALREADY_WRITTEN_OFF,3,4,3,1,0,2024-06-01T00:01:00."
            "000Z,"
            "2024-06-01T00:01:01.200Z,1190,8," +
            hex(1) +
            "\r\n"
            "EI-2024-000003,1,branch-1,9900,CNY,UNDETERMINED,,2,4,3,1,0,2024-06-01T00:02:00.000Z,"
            "2024-06-01T00:02:30.000Z,30000,9," +
            hex(2) +
            "\r\n"
            "BA-2024-000004,1,branch-1,1,CNY,DECIDED,WRITTEN_OFF,3,4,3,1,0,2024-06-01T00:03:00.000Z,"
            "2024-06-01T00:03:00.900Z,900,0," +
            hex(3) +
            "\r\n"
            "CQ-000005,1,\"east,\"\"main\"\"\r\nbranch\",-300,USD,UNDETERMINED,,0,4,3,4,0,2024-06-01T00:03:"
            "20.000Z,"
            "2024-06-01T00:04:20.000Z,60000,0," +
            QByteArray(32, '\x5a').toHex() + "\r\n";
        const QByteArray csv = readFile(path);
        QCOMPARE(csv, expected);
        // 5 records + the header, though one record spans two physical lines.
        QCOMPARE(csv.count("\r\n"), 7);
        QVERIFY(!csv.contains("\n\n"));
    }

    void csvFilters()
    {
        ReportRequest request;
        request.outcome = QStringLiteral("UNDETERMINED");
        QByteArray csv =
            readFile(exportTo(QStringLiteral("undetermined.csv"), ReportRequest::Format::Csv, request));
        QCOMPARE(csv.count("UNDETERMINED"), 2);
        QVERIFY(!csv.contains(",DECIDED,"));

        request = {};
        request.ticket = quotedTicket;
        csv = readFile(exportTo(QStringLiteral("ticket.csv"), ReportRequest::Format::Csv, request));
        QCOMPARE(csv.count("\r\n"), 2);
        QVERIFY(csv.contains("\"BA,2024-\"\"Q1\"\"\""));

        // Half-open period [from, to): the second and third decisions only.
        request = {};
        request.fromMs = kIssuedAt + 61200;
        request.toMs = kIssuedAt + 180900;
        csv = readFile(exportTo(QStringLiteral("period.csv"), ReportRequest::Format::Csv, request));
        QCOMPARE(csv.count("\r\n"), 3);
        QVERIFY(csv.contains("BA-2024-000002"));
        QVERIFY(csv.contains("EI-2024-000003"));

        request = {};
        request.outcome = QStringLiteral("MAYBE");
        request.cachePath = cachePath;
        request.outputPath = dir.filePath(QStringLiteral("bad-filter.csv"));
        const ExportRun run = runExport(request);
        QVERIFY(run.finished && !run.ok);
        QVERIFY2(run.failures.value(0).contains(QLatin1String("MAYBE")), qPrintable(run.failures.value(0)));
        QVERIFY(!QFile::exists(request.outputPath));
    }

    // The console's data layer keeps writing while an export runs: WAL lets the export read its
    // snapshot past an open write transaction, and the export never writes to the cache.
    void exportWhileTheCacheIsWritten()
    {
        sqlite3 *writer = nullptr;
        QCOMPARE(sqlite3_open(cachePath.toUtf8().constData(), &writer), SQLITE_OK);
        QCOMPARE(sqlite3_exec(
                     writer,
                     "BEGIN IMMEDIATE; INSERT INTO decisions (digest, node, ticket, version, branch, "
                     "amount_minor, currency, outcome, state, count, n, q, missing, equivocating, histogram, "
                     "issued_at_ms, decided_at_ms, latency_ms) VALUES (x'01', 'c', 'LATE', 1, 'b', 1, 'CNY', "
                     "'DECIDED', 1, 3, 4, 3, 1, 0, '{}', 0, 1717200000500, 1)",
                     nullptr, nullptr, nullptr),
                 SQLITE_OK);
        const QByteArray csv =
            readFile(exportTo(QStringLiteral("during-write.csv"), ReportRequest::Format::Csv));
        QCOMPARE(sqlite3_exec(writer, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(writer);
        QCOMPARE(csv.count("\r\n"), 7);
        QVERIFY(!csv.contains("LATE"));

        // And it refuses to write its report over the cache.
        ReportRequest request;
        request.cachePath = cachePath;
        request.outputPath = cachePath;
        const ExportRun run = runExport(request);
        QVERIFY(run.finished && !run.ok);
        QVERIFY2(run.failures.value(0).contains(QLatin1String("overwrite")),
                 qPrintable(run.failures.value(0)));
        QVERIFY(readFile(cachePath).startsWith("SQLite format 3"));
    }

    // The same file under another name: a symbolic link to it (the report would replace the cache
    // it points at), a path through "..". The save dialog hands back whatever name the operator
    // picked; the cache must survive it. (A hard link is safe: the report replaces that name only.)
    void exportNeverReplacesTheCacheUnderAnotherName_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::newRow("symbolic link") << QStringLiteral("symlink");
        QTest::newRow("path through ..") << QStringLiteral("dotdot");
    }

    void exportNeverReplacesTheCacheUnderAnotherName()
    {
        QFETCH(QString, kind);
        const QString copy = dir.filePath(QStringLiteral("linked-%1.sqlite").arg(kind));
        QFile::remove(copy);
        QVERIFY(QFile::copy(cachePath, copy));
        const QByteArray before = readFile(copy);
        QString output = dir.filePath(QStringLiteral("report-%1.csv").arg(kind));
        QFile::remove(output);
        if (kind == QLatin1String("symlink"))
            QVERIFY(QFile::link(copy, output));
        else
            output = dir.filePath(QStringLiteral("sub/../linked-%1.sqlite").arg(kind));
        QVERIFY(QDir().mkpath(dir.filePath(QStringLiteral("sub"))));
        for (const auto format :
             {ReportRequest::Format::Csv, ReportRequest::Format::Pdf, ReportRequest::Format::JsonBundle}) {
            ReportRequest request;
            request.cachePath = copy;
            request.outputPath = output;
            request.format = format;
            const ExportRun run = runExport(request);
            QVERIFY(run.finished && !run.ok);
            QVERIFY2(run.failures.value(0).contains(QLatin1String("overwrite")) &&
                         run.failures.value(0).contains(copy),
                     qPrintable(run.failures.value(0)));
            QCOMPARE(readFile(copy), before);
        }
    }

    void bundleVerifies()
    {
        const QByteArray bytes = bundle();
        QVERIFY(!bytes.isEmpty());
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership);
        const AuditBundleReport report = AuditBundle::verify(bytes, *membership);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.decisions, 5);
        QCOMPARE(report.certificatesVerified, 4);
        // 4 + 3 + 3 + 3: the after-outcome answer is in, the forged one is not.
        QCOMPARE(report.confirmationsVerified, 13);

        const QJsonObject top = QJsonDocument::fromJson(bytes).object();
        QCOMPARE(top.value(QLatin1String("format")).toString(), QStringLiteral("ticketsync-audit-bundle"));
        QCOMPARE(top.value(QLatin1String("version")).toInt(), AuditBundle::kVersion);
        QCOMPARE(top.value(QLatin1String("membership_hash")).toString(),
                 QString::fromLatin1(sample.membership.hash().toHex()));
        QCOMPARE(top.value(QLatin1String("generated_by")).toString(), QStringLiteral("auditor-1"));
        const QJsonArray entries = top.value(QLatin1String("decisions")).toArray();
        QCOMPARE(entries.size(), 5);
        const QJsonObject first = entries.at(0).toObject();
        QCOMPARE(first.value(QLatin1String("digest")).toString(),
                 QString::fromLatin1(decisions.at(0).writeOff.digest().toHex()));
        QCOMPARE(QByteArray::fromBase64(first.value(QLatin1String("certificate")).toString().toLatin1()),
                 decisions.at(0).encode());
        const QJsonObject summary = first.value(QLatin1String("summary")).toObject();
        QCOMPARE(summary.value(QLatin1String("ticket")).toString(), quotedTicket);
        QCOMPARE(summary.value(QLatin1String("amount_minor")).toString(), QStringLiteral("500000000"));
        QCOMPARE(summary.value(QLatin1String("state")).toString(), QStringLiteral("WRITTEN_OFF"));
        QVERIFY(!entries.at(3).toObject().value(QLatin1String("certificate")).isNull());
        QVERIFY(entries.at(4).toObject().value(QLatin1String("certificate")).isNull()); // nothing signed
        const QJsonObject manifest = top.value(QLatin1String("manifest")).toObject();
        QCOMPARE(manifest.value(QLatin1String("algorithm")).toString(), QStringLiteral("SHA-256"));
        QCOMPARE(manifest.value(QLatin1String("entries")).toArray().size(), 5);

        // A period with nothing in it still makes a bundle that verifies.
        ReportRequest empty;
        empty.ticket = QStringLiteral("NO-SUCH-TICKET");
        const QByteArray none =
            readFile(exportTo(QStringLiteral("empty.json"), ReportRequest::Format::JsonBundle, empty));
        const AuditBundleReport emptyReport = AuditBundle::verify(none, *membership);
        QVERIFY2(emptyReport.ok, qPrintable(emptyReport.error));
        QCOMPARE(emptyReport.decisions, 0);

        // Against another consortium it fails, naming the membership.
        SampleConsortium::Options other;
        other.label = QStringLiteral("another-consortium");
        const AuditBundleReport foreign =
            AuditBundle::verify(bytes, SampleConsortium::generate(other).membership);
        QVERIFY(!foreign.ok);
        QVERIFY2(foreign.error.contains(QLatin1String("membership")), qPrintable(foreign.error));
    }

    void anyChangedByteFails()
    {
        const QByteArray bytes = bundle();
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership && !bytes.isEmpty());
        QRandomGenerator random(20240601);
        // Every 5th position with a low bit flipped, and random positions with random masks.
        QList<QPair<qsizetype, char>> flips;
        for (qsizetype at = 0; at < bytes.size(); at += 5)
            flips.append({at, char(0x01)});
        for (int i = 0; i < 400; ++i)
            flips.append({qsizetype(random.bounded(int(bytes.size()))), char(1 << random.bounded(7))});
        for (const auto &[at, mask] : std::as_const(flips)) {
            QByteArray changed = bytes;
            changed[at] = char(changed.at(at) ^ mask);
            const AuditBundleReport report = AuditBundle::verify(changed, *membership);
            if (report.ok)
                QFAIL(qPrintable(QStringLiteral("flipping byte %1 (mask %2) went unnoticed: ...%3...")
                                     .arg(at)
                                     .arg(int(mask))
                                     .arg(QString::fromUtf8(bytes.mid(qMax<qsizetype>(0, at - 30), 60)))));
            QVERIFY(!report.error.isEmpty());
        }
    }

    void namedTamperingFails_data()
    {
        QTest::addColumn<QString>("what");
        QTest::addColumn<QString>("expected");
        QTest::newRow("certificate") << "certificate"
                                     << "certificate";
        QTest::newRow("confirmation") << "confirmation"
                                      << "confirmation 1";
        QTest::newRow("summary amount") << "amount"
                                        << "summary";
        QTest::newRow("manifest entry") << "manifest"
                                        << "manifest";
        QTest::newRow("manifest root") << "root"
                                       << "root";
        QTest::newRow("generated_at") << "generated_at"
                                      << "header";
    }

    void namedTamperingFails()
    {
        QFETCH(QString, what);
        QFETCH(QString, expected);
        const QByteArray bytes = bundle();
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership && !bytes.isEmpty());
        QByteArray changed = bytes;
        const QJsonObject top = QJsonDocument::fromJson(bytes).object();
        const QJsonObject second = top.value(QLatin1String("decisions")).toArray().at(1).toObject();
        if (what == QLatin1String("certificate") || what == QLatin1String("confirmation")) {
            // A byte inside the signed bytes themselves, re-encoded as valid base64.
            const QByteArray base64 =
                what == QLatin1String("certificate")
                    ? second.value(QLatin1String("certificate")).toString().toLatin1()
                    : second.value(QLatin1String("confirmations")).toArray().at(1).toString().toLatin1();
            QByteArray raw = QByteArray::fromBase64(base64);
            raw[raw.size() / 2] = char(raw.at(raw.size() / 2) ^ 0x10);
            QCOMPARE(changed.count(base64), 1);
            changed.replace(base64, raw.toBase64());
        } else if (what == QLatin1String("amount")) {
            changed.replace("\"amount_minor\":\"125050\"", "\"amount_minor\":\"125051\"");
        } else if (what == QLatin1String("manifest")) {
            const qsizetype at = changed.indexOf("\"sha256\":\"") + 12;
            changed[at] = changed.at(at) == 'a' ? 'b' : 'a';
        } else if (what == QLatin1String("root")) {
            const qsizetype at = changed.indexOf("\"root\":\"") + 9;
            changed[at] = changed.at(at) == '0' ? '1' : '0';
        } else if (what == QLatin1String("generated_at")) {
            const qsizetype at = changed.indexOf("\"generated_at\":\"") + 16;
            changed[at + 2] = changed.at(at + 2) == '1' ? '2' : '1'; // another decade
        }
        QVERIFY(changed != bytes);
        const AuditBundleReport report = AuditBundle::verify(changed, *membership);
        QVERIFY(!report.ok);
        QVERIFY2(report.error.contains(expected), qPrintable(report.error));
    }

    // A forger who edits a summary and recomputes every hash is still caught by the certificate.
    void recomputedManifestStillFails()
    {
        const QByteArray bytes = bundle();
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership && !bytes.isEmpty());
        const QJsonObject top = QJsonDocument::fromJson(bytes).object();
        AuditBundle::Header header;
        header.generatedAtMs = *AuditBundle::parseIsoUtc(top.value(QLatin1String("generated_at")).toString());
        header.generatedBy = top.value(QLatin1String("generated_by")).toString();
        header.membershipHash = sample.membership.hash();
        AuditBundle::Writer writer(header);
        QByteArray forged = writer.begin();
        QByteArray manifest;
        for (const QJsonValue &value : top.value(QLatin1String("decisions")).toArray()) {
            const QJsonObject object = value.toObject();
            AuditBundle::Entry entry;
            entry.summary =
                *AuditSummary::fromJson(object.value(QLatin1String("summary")).toObject(), nullptr);
            if (!object.value(QLatin1String("certificate")).isNull())
                entry.certificate =
                    QByteArray::fromBase64(object.value(QLatin1String("certificate")).toString().toLatin1());
            for (const QJsonValue &c : object.value(QLatin1String("confirmations")).toArray())
                entry.confirmations.append(QByteArray::fromBase64(c.toString().toLatin1()));
            if (entry.summary.ticket == QLatin1String("BA-2024-000002"))
                entry.summary.amountMinor = 1;
            QByteArray line;
            forged += writer.addEntry(entry, &line);
            manifest += line;
        }
        forged += writer.manifestBegin() + manifest + writer.end();
        const AuditBundleReport report = AuditBundle::verify(forged, *membership);
        QVERIFY(!report.ok);
        QVERIFY2(report.error.contains(QLatin1String("summary field 'amount_minor'")),
                 qPrintable(report.error));
        QVERIFY2(report.error.contains(QLatin1String("BA-2024-000002")), qPrintable(report.error));
    }

    // Each row edits an honest bundle and writes it again with every hash recomputed: the
    // manifest then proves nothing, and only the signed data can refuse it. The message names
    // the entry (index, ticket, full digest) and the field.
    void forgedEntriesFail_data()
    {
        QTest::addColumn<QString>("forgery");
        QTest::addColumn<int>("entry"); // counted from 0; -1: none named
        QTest::addColumn<QStringList>("keywords");
        const auto row = [](const char *name, int entry, std::initializer_list<const char *> words) {
            QStringList keywords;
            for (const char *word : words)
                keywords.append(QString::fromUtf8(word));
            QTest::newRow(name) << QString::fromLatin1(name) << entry << keywords;
        };
        row("decided, certificate not cached", 3, {"'certificate' is null", "DECIDED"});
        row("decided, nothing signed", 1, {"'certificate' is null"});
        row("invented decision", 0, {"'certificate' is null"});
        row("no membership named", -1, {"header", "'membership_hash' is empty"});
        row("invented decision, no membership", -1, {"'membership_hash' is empty"});
        row("undetermined with a state", 4, {"summary field 'state'", "WRITTEN_OFF"});
        row("undetermined count unsigned", 4, {"summary field 'count' is 2", "no state has more than 0"});
        row("undetermined equivocating unsigned", 4, {"summary field 'equivocating' is 1", "0 targets"});
        row("undetermined all answered", 4, {"summary field 'missing' is 0", "4 of n = 4"});
        row("undetermined n", 4, {"summary field 'n' is 5", "4 target nodes"});
        row("undetermined q", 4, {"summary field 'q' is 4", "gives 3"});
        row("decided relabelled undetermined", 1, {"summary field 'count' is 3", "reaches q = 3"});
        row("undetermined, signatures dropped", 2,
            {"summary field 'count' is 2", "no state has more than 0"});
        row("undetermined, missing understated", 2, {"summary field 'missing' is 0", "1 of n = 4"});
        row("decided a year back, missing turned equivocating", 0,
            {"summary field 'equivocating' is 1", "0 targets besides the certificate's signers",
             "two different states"});
        row("decided_at moved out of the period", 0,
            {"summary field 'decided_at' is 2023-06-02T00:00:01.500Z", "outside the bundle's period",
             "[2024-06-01T00:00:00.000Z, 2024-06-02T00:00:00.000Z)"});
        row("period ends at an entry", 4,
            {"summary field 'decided_at' is 2024-06-01T00:04:20.000Z", "outside the bundle's period"});
        row("outcome filter", 2, {"summary field 'outcome' is UNDETERMINED", "filter 'outcome' is DECIDED"});
        row("ticket filter", 0, {"summary field 'ticket'", "filter 'ticket' is \"BA-2024-000002\""});
        row("unknown outcome filter", -1, {"header: filters: 'outcome' is \"decided\""});
        row("confirmations reordered", 0, {"confirmation 1", "does not come after", "by target, then state"});
        row("a confirmation twice", 1, {"confirmation 3", "does not come after"});
    }

    void forgedEntriesFail()
    {
        QFETCH(QString, forgery);
        QFETCH(int, entry);
        QFETCH(QStringList, keywords);
        const QByteArray honest = bundle();
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership && !honest.isEmpty());
        BundleParts parts = BundleParts::of(honest);
        QCOMPARE(parts.write(), honest); // rebuilt unchanged, it is the same file
        QList<AuditBundle::Entry> &entries = parts.entries;
        QCOMPARE(entries.size(), 5);
        const auto is = [&forgery](const char *name) {
            return forgery == QLatin1String(name);
        };
        if (is("decided, certificate not cached")) {
            entries[3].certificate.reset();
        } else if (is("decided, nothing signed")) {
            entries[1].certificate.reset();
            entries[1].confirmations.clear();
        } else if (is("invented decision") || is("invented decision, no membership")) {
            entries = {inventedDecision()};
            if (is("invented decision, no membership"))
                parts.header.membershipHash.clear();
        } else if (is("no membership named")) {
            parts.header.membershipHash.clear();
        } else if (is("undetermined with a state")) {
            entries[4].summary.state = QStringLiteral("WRITTEN_OFF");
        } else if (is("undetermined count unsigned")) {
            entries[4].summary.count = 2;
            entries[4].summary.missing = 2;
        } else if (is("undetermined equivocating unsigned")) {
            entries[4].summary.equivocating = 1;
            entries[4].summary.missing = 3;
        } else if (is("undetermined all answered")) {
            entries[4].summary.missing = 0;
        } else if (is("undetermined n")) {
            entries[4].summary.n = 5;
        } else if (is("undetermined q")) {
            entries[4].summary.q = 4;
        } else if (is("decided relabelled undetermined")) {
            // A real quorum (ALREADY_WRITTEN_OFF 3 of 4) passed off as undecided.
            entries[1].certificate.reset();
            entries[1].summary.outcome = QStringLiteral("UNDETERMINED");
            entries[1].summary.state.clear();
        } else if (is("undetermined, signatures dropped")) {
            entries[2].certificate.reset();
            entries[2].confirmations.clear();
        } else if (is("undetermined, missing understated")) {
            entries[2].certificate.reset();
            entries[2].summary.missing = 0;
        } else if (is("decided a year back, missing turned equivocating")) {
            moveBackAndAccuse(entries[0]);
        } else if (is("decided_at moved out of the period")) {
            // Only the period, not the accusation: a "June" bundle holding a decision of a year before.
            parts.header.fromMs = kIssuedAt;
            parts.header.toMs = kIssuedAt + 86400000;
            constexpr qint64 kYear = 365 * qint64(86400000);
            editCertificate(entries[0], [](Decision &d) { d.decidedAtMs -= kYear; });
            entries[0].summary.decidedAtMs -= kYear;
        } else if (is("period ends at an entry")) {
            parts.header.toMs = entries[4].summary.decidedAtMs; // exclusive
        } else if (is("outcome filter")) {
            parts.header.outcomeFilter = QStringLiteral("DECIDED");
        } else if (is("ticket filter")) {
            parts.header.ticketFilter = QStringLiteral("BA-2024-000002");
        } else if (is("unknown outcome filter")) {
            parts.header.outcomeFilter = QStringLiteral("decided");
        } else if (is("confirmations reordered")) {
            std::reverse(entries[0].confirmations.begin(), entries[0].confirmations.end());
        } else if (is("a confirmation twice")) {
            entries[1].confirmations.append(entries[1].confirmations.last());
        } else {
            QFAIL("unknown forgery");
        }
        const AuditBundleReport report = AuditBundle::verify(parts.write(), *membership);
        QVERIFY2(!report.ok, "a forged bundle verified");
        for (const QString &keyword : std::as_const(keywords))
            QVERIFY2(report.error.contains(keyword), qPrintable(report.error));
        if (entry >= 0) {
            const AuditSummary &named = entries.at(entry).summary;
            const QString where = QStringLiteral("decision %1 of %2 (ticket %3, write-off %4)")
                                      .arg(entry + 1)
                                      .arg(entries.size())
                                      .arg(named.ticket, QString::fromLatin1(named.digest.toHex()));
            QVERIFY2(report.error.startsWith(where), qPrintable(report.error));
        }
    }

    // What an honest export holds for an UNDETERMINED write-off whose certificate the console
    // never fetched: its cached confirmations carry the counts, and that verifies.
    void undeterminedWithoutCertificateVerifies()
    {
        const QByteArray honest = bundle();
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership && !honest.isEmpty());
        BundleParts parts = BundleParts::of(honest);
        QCOMPARE(parts.entries.at(2).summary.outcome, QStringLiteral("UNDETERMINED"));
        parts.entries[2].certificate.reset();
        const AuditBundleReport report = AuditBundle::verify(parts.write(), *membership);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.certificatesVerified, 3);
    }

    // A certificate's counts of states other than the decided one are the coordinator's: one the
    // entry's signed confirmations do not bear out is listed as unproven, naming entry and state;
    // one they do is not. An equivocating count with both signatures of the target verifies.
    void coordinatorClaimsAreReportedAsSuch()
    {
        const QByteArray honest = bundle();
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership && !honest.isEmpty());
        const AuditBundleReport plain = AuditBundle::verify(honest, *membership);
        QVERIFY2(plain.ok, qPrintable(plain.error));
        QCOMPARE(plain.unprovenCountTotal, 0);
        QCOMPARE(plain.decided, 3);
        QCOMPARE(plain.undetermined, 2);
        QCOMPARE(plain.undeterminedWithoutCertificate, 1);
        for (const char *claim : {"decided_at", "missing", "height", "equivocating"}) {
            QVERIFY2(plain.notSigned().join(QLatin1Char('\n')).contains(QLatin1String(claim)), claim);
            QVERIFY2(!plain.proven().join(QLatin1Char('\n')).contains(QLatin1String(claim)), claim);
        }

        BundleParts parts = BundleParts::of(honest);
        claimAnotherState(parts.entries[0]);
        AuditBundleReport report = AuditBundle::verify(parts.write(), *membership);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.unprovenCountTotal, 1);
        QCOMPARE(report.unprovenCounts.size(), 1);
        const AuditSummary &first = parts.entries.at(0).summary;
        const QString where = QStringLiteral("decision 1 of 5 (ticket %1, write-off %2)")
                                  .arg(first.ticket, QString::fromLatin1(first.digest.toHex()));
        QVERIFY2(report.unprovenCounts.first().startsWith(where), qPrintable(report.unprovenCounts.first()));
        QVERIFY2(report.unprovenCounts.first().contains(
                     QLatin1String("counts 1 AMOUNT_MISMATCH, but the entry carries 0 signed")),
                 qPrintable(report.unprovenCounts.first()));
        QVERIFY2(report.notSigned().join(QLatin1Char('\n')).contains(QLatin1String("1 of them exceed")),
                 qPrintable(report.notSigned().join(QLatin1Char('\n'))));

        // With target-4's signed AMOUNT_MISMATCH in place of its late WRITTEN_OFF, the count is
        // borne out.
        const WriteOffResult w = Decision::decode(*parts.entries[0].certificate)->writeOff;
        QList<QByteArray> &confirmations = parts.entries[0].confirmations;
        QCOMPARE(confirmations.size(), 4);
        confirmations[3] =
            sample.confirm(QStringLiteral("target-4"), w, ConfirmationState::AmountMismatch).encode();
        report = AuditBundle::verify(parts.write(), *membership);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.unprovenCountTotal, 0);

        // And target-4 signing both WRITTEN_OFF and AMOUNT_MISMATCH is the evidence an
        // equivocating count needs.
        parts = BundleParts::of(honest);
        editCertificate(parts.entries[0], [](Decision &d) {
            d.missing = 0;
            d.equivocating = 1;
        });
        parts.entries[0].summary.missing = 0;
        parts.entries[0].summary.equivocating = 1;
        parts.entries[0].confirmations.append(
            sample.confirm(QStringLiteral("target-4"), w, ConfirmationState::AmountMismatch).encode());
        report = AuditBundle::verify(parts.write(), *membership);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.equivocatorsShown, 1);
        QVERIFY(report.proven()
                    .join(QLatin1Char('\n'))
                    .contains(QLatin1String("1 targets counted as equivocating")));
    }

    // Entries sealed in blocks the coordinator signed: their unsigned fields become its signed ones.
    void provenEntriesAreSignedByTheCoordinator()
    {
        const QByteArray honest = bundle();
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership && !honest.isEmpty());
        const AuditBundleReport unproven = AuditBundle::verify(honest, *membership);
        QVERIFY2(unproven.ok, qPrintable(unproven.error));
        QCOMPARE(unproven.provenInBlocks, 0);
        QVERIFY(unproven.signedByCoordinator().isEmpty());

        BundleParts parts = BundleParts::of(honest);
        sealInBlock(parts.entries[0], 7);
        sealInBlock(parts.entries[1], 8);
        sealInBlock(parts.entries[3], 9);
        const AuditBundleReport report = AuditBundle::verify(parts.write(), *membership);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.provenInBlocks, 3);
        QCOMPARE(report.firstBlock, quint64(7));
        QCOMPARE(report.lastBlock, quint64(9));
        QCOMPARE(report.blocks, 3);
        QCOMPARE(report.provenBlocks(), QStringLiteral("blocks 7 to 9"));
        const QString coordinatorSigned = report.signedByCoordinator().join(QLatin1Char('\n'));
        for (const char *claim : {"decided_at", "missing", "equivocating", "3 decisions"})
            QVERIFY2(coordinatorSigned.contains(QLatin1String(claim)), qPrintable(coordinatorSigned));
        const QString notSigned = report.notSigned().join(QLatin1Char('\n'));
        QVERIFY2(notSigned.contains(QLatin1String("of 2 decisions without a block proof")),
                 qPrintable(notSigned));

        // A version 1 bundle has no proofs and verifies as before.
        BundleParts old = BundleParts::of(honest);
        old.header.version = 1;
        const QByteArray oldBytes = old.write();
        QVERIFY(oldBytes.startsWith("{\"format\":\"ticketsync-audit-bundle\",\"version\":1,"));
        QVERIFY(!oldBytes.contains("\"proof\""));
        const AuditBundleReport oldReport = AuditBundle::verify(oldBytes, *membership);
        QVERIFY2(oldReport.ok, qPrintable(oldReport.error));
        QCOMPARE(oldReport.provenInBlocks, 0);
        QCOMPARE(oldReport.certificatesVerified, unproven.certificatesVerified);
        // A proof key in a version 1 bundle is not read as one.
        QByteArray withKey = parts.write();
        withKey.replace(QByteArray("\"version\":2,"), QByteArray("\"version\":1,"));
        const AuditBundleReport misread = AuditBundle::verify(withKey, *membership);
        QVERIFY(!misread.ok);
        QVERIFY2(misread.error.contains(QLatin1String("unexpected key 'proof'")), qPrintable(misread.error));

        // The exporter carries a proof the cache holds, with the height of its block.
        const QString proofCache = dir.filePath(QStringLiteral("proof-cache.sqlite"));
        QFile::remove(proofCache);
        QVERIFY(QFile::copy(cachePath, proofCache));
        {
            CacheFile cache(proofCache, CacheFile::Open::Existing);
            const QByteArray proof =
                QJsonDocument(parts.entries.at(1).proof->toJson()).toJson(QJsonDocument::Compact);
            cache.exec("UPDATE decisions SET height = 0, proof = x'" + proof.toHex() + "' WHERE digest = x'" +
                       decisions.at(1).writeOff.digest().toHex() + "'");
        }
        ReportRequest request;
        request.cachePath = proofCache;
        request.membershipPath = membershipPath;
        const QByteArray exported =
            readFile(exportTo(QStringLiteral("proven.json"), ReportRequest::Format::JsonBundle, request));
        const AuditBundleReport fromCache = AuditBundle::verify(exported, *membership);
        QVERIFY2(fromCache.ok, qPrintable(fromCache.error));
        QCOMPARE(fromCache.provenInBlocks, 1);
        QCOMPARE(fromCache.provenBlocks(), QStringLiteral("block 8"));
        QCOMPARE(BundleParts::of(exported).entries.at(1).summary.height, 8);
    }

    // Entries of one block share its header: verified once, yet each entry's signature counts.
    void entriesOfOneBlock()
    {
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership);
        BundleParts parts = BundleParts::of(bundle());
        Block block;
        block.height = 8;
        block.previousHash = sha256(QByteArrayLiteral("block 7"));
        block.membershipHash = sample.membership.hash();
        block.timestampMs = parts.entries.at(1).summary.decidedAtMs + 1000;
        block.coordinatorId = QStringLiteral("coordinator-1");
        block.decisions = {decisions.at(0), decisions.at(1), decisions.at(3)};
        block.seal(sample.keys.value(QStringLiteral("coordinator-1")));
        const BlockProofs proofs(block);
        for (const int i : {0, 1}) {
            parts.entries[i].proof = proofs.proof(i);
            parts.entries[i].summary.height = 8;
        }
        const AuditBundleReport report = AuditBundle::verify(parts.write(), *membership);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.provenInBlocks, 2);
        QCOMPARE(report.blocks, 1);
        QCOMPARE(report.provenBlocks(), QStringLiteral("block 8"));

        parts.entries[1].proof->signature[7] = char(parts.entries[1].proof->signature.at(7) ^ 0x10);
        const AuditBundleReport forged = AuditBundle::verify(parts.write(), *membership);
        QVERIFY(!forged.ok);
        QVERIFY2(forged.error.startsWith(QLatin1String("decision 2 of 5")) &&
                     forged.error.contains(QLatin1String("the coordinator's signature does not verify")),
                 qPrintable(forged.error));
    }

    void badProofsFail_data()
    {
        QTest::addColumn<QString>("forgery");
        QTest::addColumn<QString>("expected");
        QTest::newRow("forged header")
            << "forged header"
            << "proof: block 8: header: the coordinator's signature does not verify";
        QTest::newRow("signed by a target")
            << "signed by a target"
            << "proof: block 8: header: the coordinator's signature does not verify";
        QTest::newRow("wrong signature") << "wrong signature"
                                         << "the coordinator's signature does not verify";
        QTest::newRow("another leaf's path") << "another leaf's path"
                                             << "does not lead to the header's merkle root";
        QTest::newRow("decided_at edited after sealing")
            << "decided_at edited"
            << "as leaf 1 does not lead to the header's merkle root";
        QTest::newRow("another decision's proof") << "another decision's proof"
                                                  << "does not lead to the header's merkle root";
        QTest::newRow("another height")
            << "height"
            << "summary field 'height' is 12, but the proof shows the decision in block 8";
        QTest::newRow("no certificate") << "no certificate"
                                        << "proof: the entry has no certificate";
        QTest::newRow("sibling tampered") << "sibling"
                                          << "does not lead";
        QTest::newRow("path too long") << "path too long"
                                       << "proof: block 8: merkle path: the path has 3 hashes";
    }

    void badProofsFail()
    {
        QFETCH(QString, forgery);
        QFETCH(QString, expected);
        const auto membership = Membership::load(membershipPath, nullptr);
        QVERIFY(membership);
        BundleParts parts = BundleParts::of(bundle());
        AuditBundle::Entry &entry = parts.entries[1];
        sealInBlock(entry, 8);
        QVERIFY2(AuditBundle::verify(parts.write(), *membership).ok, "the honest proof must verify");
        InclusionProof &proof = *entry.proof;
        if (forgery == QLatin1String("forged header")) {
            // Another time under the old signature.
            BlockHeader header = *BlockHeader::decode(proof.header);
            header.timestampMs -= 60000;
            proof.header = header.encode();
        } else if (forgery == QLatin1String("signed by a target")) {
            sealInBlock(entry, 8, QStringLiteral("target-1"));
        } else if (forgery == QLatin1String("wrong signature")) {
            proof.signature[10] = char(proof.signature.at(10) ^ 0x04);
        } else if (forgery == QLatin1String("another leaf's path")) {
            proof.leafIndex = 0;
        } else if (forgery == QLatin1String("decided_at edited")) {
            editCertificate(entry, [](Decision &d) { d.decidedAtMs -= 1000; });
            entry.summary.decidedAtMs -= 1000;
        } else if (forgery == QLatin1String("another decision's proof")) {
            sealInBlock(parts.entries[3], 8);
            proof = *parts.entries[3].proof;
        } else if (forgery == QLatin1String("height")) {
            entry.summary.height = 12;
        } else if (forgery == QLatin1String("no certificate")) {
            entry.certificate.reset();
            entry.summary.outcome = QStringLiteral("UNDETERMINED"); // so that only the proof is at fault
        } else if (forgery == QLatin1String("sibling")) {
            proof.path[0][3] = char(proof.path.at(0).at(3) ^ 0x01);
        } else if (forgery == QLatin1String("path too long")) {
            proof.path.append(proof.path.first());
        }
        const AuditBundleReport report = AuditBundle::verify(parts.write(), *membership);
        QVERIFY2(!report.ok, "a bad proof verified");
        const AuditSummary &named = entry.summary;
        const QString where = QStringLiteral("decision 2 of 5 (ticket %1, write-off %2)")
                                  .arg(named.ticket, QString::fromLatin1(named.digest.toHex()));
        QVERIFY2(report.error.startsWith(where), qPrintable(report.error));
        QVERIFY2(report.error.contains(expected), qPrintable(report.error));
    }

    void pdfHasPages()
    {
        ReportRequest request;
        request.membershipPath = membershipPath;
        const QString path = exportTo(QStringLiteral("report.pdf"), ReportRequest::Format::Pdf, request);
        QVERIFY(!path.isEmpty());
        const QByteArray pdf = readFile(path);
        QVERIFY(pdf.startsWith("%PDF"));
        QVERIFY(pdf.trimmed().endsWith("%%EOF"));
        QVERIFY(countPages(pdf) >= 1);

        // Without a membership it still renders, saying it did not verify.
        ReportRequest unverified;
        unverified.cachePath = cachePath;
        unverified.outputPath = dir.filePath(QStringLiteral("unverified.pdf"));
        unverified.format = ReportRequest::Format::Pdf;
        ReportWorker worker(unverified, nullptr);
        const ReportWorker::Result result = worker.execute();
        QVERIFY2(result.ok, qPrintable(result.error));
        QCOMPARE(result.pages, countPages(readFile(dir.filePath(QStringLiteral("unverified.pdf")))));
    }

    // Chinese in the data and in the language: every character is drawn from a font that has
    // it, and the PDF embeds that font, so the text is text rather than empty boxes.
    void pdfShowsChineseText()
    {
        if (qEnvironmentVariableIsSet("TICKETSYNC_TEST_NO_CJK_FONT"))
            QSKIP("run without a Chinese font (pdfWithoutChineseFontSaysSo)");
        QTranslator translator;
        const auto untranslate = inChinese(translator);
        const QString cjk = ReportPdfPainter::cjkFamily();
        QVERIFY2(!cjk.isEmpty(), "no installed font has Chinese glyphs: install fonts-wqy-microhei "
                                 "(./setup.sh does)");

        const ReportWorker::Result result = exportChinese(QStringLiteral("chinese.pdf"));
        QVERIFY2(result.ok, qPrintable(result.error));
        QVERIFY2(!result.summary.contains(QLatin1String("U+")), qPrintable(result.summary));
        const QByteArray pdf = readFile(dir.filePath(QStringLiteral("chinese.pdf")));
        QVERIFY(pdf.startsWith("%PDF"));
        QVERIFY(countPages(pdf) >= 1);
        QCOMPARE(result.pages, countPages(pdf));

        // (a) What the report draws in Chinese, laid out in the report's font the way QPainter
        // lays it out: each Han character comes from the CJK family (not glyph 0, the box).
        QStringList lines = chineseTickets;
        lines << chineseReceiver << chineseNode << chineseError << chineseOperator;
        for (const char *source : {"Write-off audit report", "Summary", "Receivers' sync state",
                                   "Undetermined write-offs", "Page %1"}) {
            const QString translated = QCoreApplication::translate("ReportPdfPainter", source);
            QVERIFY2(isHan(translated.toUcs4().constLast()) || isHan(translated.toUcs4().constFirst()),
                     qPrintable(translated)); // the zh_CN translation is in effect
            lines << translated;
        }
        const QFont font = ReportPdfPainter::font(9);
        QVERIFY2(font.families().contains(cjk), qPrintable(font.families().join(QLatin1Char(','))));
        const QRawFont cjkRaw = QRawFont::fromFont(QFont(cjk));
        const QFontMetricsF metrics(font);
        for (const QString &line : std::as_const(lines)) {
            QTextLayout layout(line, font);
            layout.beginLayout();
            layout.createLine();
            layout.endLayout();
            for (int i = 0; i < line.size(); ++i) {
                const uint c = line.at(i).unicode();
                if (!isHan(c))
                    continue;
                QVERIFY2(cjkRaw.supportsCharacter(c) && metrics.inFontUcs4(c),
                         qPrintable(QStringLiteral("%1 lacks %2").arg(cjk, line.at(i))));
                const QList<QGlyphRun> runs = layout.glyphRuns(i, 1);
                QCOMPARE(runs.size(), 1);
                QCOMPARE(runs.first().rawFont().familyName(), cjk);
                QVERIFY(!runs.first().glyphIndexes().isEmpty());
                QVERIFY2(runs.first().glyphIndexes().first() != 0, qPrintable(line));
            }
        }

        // (b) The PDF embeds a subset of the CJK font, next to DejaVu Sans for the Latin text.
        const QHash<QString, bool> fonts = embeddedFonts(pdf);
        bool cjkEmbedded = false;
        bool latinEmbedded = false;
        for (auto it = fonts.cbegin(); it != fonts.cend(); ++it) {
            cjkEmbedded |= fontKey(it.key()).startsWith(fontKey(cjk)) && it.value();
            latinEmbedded |=
                fontKey(it.key()).startsWith(fontKey(QStringLiteral("DejaVu Sans"))) && it.value();
        }
        const QStringList names = fonts.keys();
        QVERIFY2(cjkEmbedded,
                 qPrintable(QStringLiteral("%1 not among %2").arg(cjk, names.join(QLatin1Char(',')))));
        QVERIFY2(latinEmbedded, qPrintable(names.join(QLatin1Char(','))));
    }

    // No Chinese font at all (fontconfig sees only DejaVu, in a child process): the export still
    // works, and says in the log and in its outcome that Chinese text shows as boxes.
    void pdfWithoutChineseFontSaysSo()
    {
        if (!qEnvironmentVariableIsSet("TICKETSYNC_TEST_NO_CJK_FONT")) {
            QString dejavu;
            QDirIterator fonts(QStringLiteral("/usr/share/fonts"), {QStringLiteral("DejaVuSans.ttf")},
                               QDir::Files, QDirIterator::Subdirectories);
            if (fonts.hasNext())
                dejavu = QFileInfo(fonts.next()).absolutePath();
            if (dejavu.isEmpty())
                QSKIP("DejaVu Sans is not under /usr/share/fonts");
            const QString config = dir.filePath(QStringLiteral("latin-only-fonts.conf"));
            writeFile(config,
                      QStringLiteral("<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM "
                                     "\"fonts.dtd\">\n<fontconfig><dir>%1</dir><cachedir>%2</cachedir>"
                                     "</fontconfig>\n")
                          .arg(dejavu, dir.filePath(QStringLiteral("fontconfig-cache")))
                          .toUtf8());
            QProcess child;
            QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
            environment.insert(QStringLiteral("FONTCONFIG_FILE"), config);
            environment.insert(QStringLiteral("TICKETSYNC_TEST_NO_CJK_FONT"), QStringLiteral("1"));
            environment.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
            child.setProcessEnvironment(environment);
            child.setProcessChannelMode(QProcess::MergedChannels);
            child.start(QCoreApplication::applicationFilePath(),
                        {QStringLiteral("pdfWithoutChineseFontSaysSo")});
            QVERIFY(child.waitForFinished(120000));
            const QByteArray output = child.readAll();
            QVERIFY2(child.exitStatus() == QProcess::NormalExit && child.exitCode() == 0, output.constData());
            QVERIFY2(output.contains("PASS   : TestExport::pdfWithoutChineseFontSaysSo()"),
                     output.constData());
            return;
        }

        QTranslator translator;
        const auto untranslate = inChinese(translator);
        QVERIFY2(ReportPdfPainter::cjkFamily().isEmpty(), qPrintable(ReportPdfPainter::cjkFamily()));
        QTest::ignoreMessage(QtWarningMsg,
                             QRegularExpression(QStringLiteral("no glyph in any installed font")));
        const ReportWorker::Result result = exportChinese(QStringLiteral("boxes.pdf"));
        QVERIFY2(result.ok, qPrintable(result.error));
        QVERIFY(result.pages >= 1);
        QVERIFY2(result.summary.contains(QLatin1String("U+")) &&
                     result.summary.contains(QLatin1String("fonts-wqy-microhei")),
                 qPrintable(result.summary));
        const QByteArray pdf = readFile(dir.filePath(QStringLiteral("boxes.pdf")));
        QCOMPARE(result.pages, countPages(pdf));
        QVERIFY(embeddedFonts(pdf).value(QStringLiteral("DejaVuSans"))); // the Latin text is still text
    }

    void pdfGrowsWithManyUndetermined()
    {
        const QString path = dir.filePath(QStringLiteral("many.sqlite"));
        {
            CacheFile cache(path);
            cache.exec("BEGIN");
            for (int i = 0; i < 400; ++i) {
                CacheFile::Row row;
                row.digest = sha256(QByteArray::number(i));
                row.ticket = QStringLiteral("EI-%1").arg(i, 6, 10, QLatin1Char('0'));
                row.branch = QStringLiteral("branch-2");
                row.amountMinor = 100 + i;
                row.outcome = QStringLiteral("UNDETERMINED");
                row.count = 2;
                row.missing = 2;
                row.issuedAtMs = kIssuedAt + i * 1000;
                row.decidedAtMs = kIssuedAt + i * 1000 + 30000;
                cache.insert(row);
            }
            cache.exec("COMMIT");
        }
        ReportRequest capped;
        capped.cachePath = path;
        capped.pdfUndeterminedLimit = 20;
        const int few =
            countPages(readFile(exportTo(QStringLiteral("few.pdf"), ReportRequest::Format::Pdf, capped)));
        ReportRequest all;
        all.cachePath = path;
        const int many =
            countPages(readFile(exportTo(QStringLiteral("many.pdf"), ReportRequest::Format::Pdf, all)));
        QVERIFY2(few >= 1 && many > few + 3, qPrintable(QStringLiteral("%1 vs %2 pages").arg(few).arg(many)));
    }

    void cancelLeavesNoFile_data()
    {
        QTest::addColumn<int>("format");
        QTest::newRow("csv") << int(ReportRequest::Format::Csv);
        QTest::newRow("json") << int(ReportRequest::Format::JsonBundle);
        QTest::newRow("pdf") << int(ReportRequest::Format::Pdf);
    }

    void cancelLeavesNoFile()
    {
        QFETCH(int, format);
        const QString big = dir.filePath(QStringLiteral("big.sqlite"));
        if (!QFile::exists(big)) {
            CacheFile cache(big);
            const QByteArray certificate = decisions.at(0).encode();
            cache.exec("BEGIN");
            for (int i = 0; i < 60000; ++i) {
                CacheFile::Row row = CacheFile::rowFor(decisions.at(0), 1000, i, true);
                row.digest = sha256(QByteArray::number(i));
                row.decidedAtMs = kIssuedAt + i;
                cache.insert(row);
            }
            cache.exec("COMMIT");
        }
        const QString subdir = dir.filePath(QStringLiteral("cancelled-%1").arg(format));
        QVERIFY(QDir().mkpath(subdir));
        ReportRequest request;
        request.cachePath = big;
        request.outputPath = subdir + QStringLiteral("/report.out");
        request.format = ReportRequest::Format(format);
        request.membershipPath = membershipPath; // the PDF verifies 60,000 certificates: long enough
        const auto leftovers = [&subdir] {
            return QDir(subdir).entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot);
        };

        // Mid-run, deterministically: the worker on this thread, cancelled from its own progress.
        auto flag = std::make_shared<std::atomic_bool>(false);
        ReportWorker worker(request, flag);
        QList<int> progress;
        connect(&worker, &ReportWorker::progress, this, [&flag, &progress](int permille) {
            progress.append(permille);
            if (permille > 0)
                flag->store(true);
        });
        QSignalSpy failed(&worker, &ReportWorker::failed);
        const ReportWorker::Result result = worker.execute();
        QVERIFY(result.cancelled && !result.ok);
        QVERIFY(failed.isEmpty());
        QVERIFY2(result.summary.contains(QLatin1String("cancelled")), qPrintable(result.summary));
        QVERIFY(progress.size() >= 2 && progress.last() < 1000);
        QCOMPARE(leftovers(), QStringList());

        // Through the exporter, cancelled as soon as it started.
        const ExportRun run = runExport(request, true);
        QVERIFY(run.finished);
        QVERIFY2(!run.ok, qPrintable(run.summary));
        QVERIFY(run.failures.isEmpty());
        QVERIFY2(run.summary.contains(QLatin1String("cancelled")), qPrintable(run.summary));
        QCOMPARE(leftovers(), QStringList());

        // An exporter destroyed while running cancels and waits; one export at a time.
        {
            ReportExporter exporter;
            QVERIFY(exporter.start(request));
            QVERIFY(exporter.isRunning());
            QVERIFY(!exporter.start(request));
        }
        QCOMPARE(leftovers(), QStringList());

        // And the same request runs to the end when left alone.
        if (format == int(ReportRequest::Format::Csv)) {
            const ExportRun complete = runExport(request);
            QVERIFY2(complete.ok, qPrintable(complete.summary));
            QCOMPARE(leftovers(), QStringList{QStringLiteral("report.out")});
            QCOMPARE(readFile(request.outputPath).count("\r\n"), 60001);
            QVERIFY(QFile::remove(request.outputPath));
        }
    }

    void unreadableCacheIsReported_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QByteArray>("contents");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing") << "missing.sqlite" << QByteArray() << "no such file";
        QTest::newRow("not sqlite") << "text.sqlite" << QByteArray("ticket,version\r\n")
                                    << "not an SQLite database";
        QTest::newRow("truncated") << "empty.sqlite" << QByteArray("SQLite") << "not an SQLite database";
        QTest::newRow("no schema") << "bare.sqlite" << QByteArray("schema") << "not a console history cache";
    }

    void unreadableCacheIsReported()
    {
        QFETCH(QString, name);
        QFETCH(QByteArray, contents);
        QFETCH(QString, expected);
        const QString path = dir.filePath(name);
        if (contents == "schema") {
            sqlite3 *db = nullptr;
            sqlite3_open(path.toUtf8().constData(), &db);
            sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr);
            sqlite3_close(db);
        } else if (!contents.isEmpty()) {
            writeFile(path, contents);
        }
        for (const auto format :
             {ReportRequest::Format::Csv, ReportRequest::Format::Pdf, ReportRequest::Format::JsonBundle}) {
            ReportRequest request;
            request.cachePath = path;
            request.outputPath = dir.filePath(QStringLiteral("never.out"));
            request.format = format;
            const ExportRun run = runExport(request);
            QVERIFY(run.finished && !run.ok);
            QCOMPARE(run.failures.size(), 1);
            QVERIFY2(run.failures.first().contains(expected), qPrintable(run.failures.first()));
            QVERIFY2(run.failures.first().contains(path), qPrintable(run.failures.first()));
            QVERIFY(!QFile::exists(request.outputPath));
        }
    }

    void verifyReportCommand()
    {
        const QByteArray bytes = bundle();
        QVERIFY(!bytes.isEmpty());
        const QString good = dir.filePath(QStringLiteral("good.json"));
        writeFile(good, bytes);
        ProcessRun run =
            runCli({QStringLiteral("verify-report"), good, QStringLiteral("--membership"), membershipPath});
        QVERIFY2(run.exitCode == 0, run.err.constData());
        QVERIFY(run.out.contains("OK"));
        // What the signatures prove, then what is the coordinator's word.
        const qsizetype proven = run.out.indexOf("Proven by signatures:");
        const qsizetype notSigned = run.out.indexOf("Not signed, the coordinator's word");
        QVERIFY2(proven > 0 && notSigned > proven, run.out.constData());
        QVERIFY2(run.out.indexOf("decided_at, missing", notSigned) > notSigned, run.out.constData());
        QVERIFY2(!run.out.left(notSigned).contains("decided_at"), run.out.constData());
        QVERIFY2(run.out.contains("verify-chain"), run.out.constData());

        run = runCli({QStringLiteral("verify-report"), good, QStringLiteral("--membership"), membershipPath,
                      QStringLiteral("--json")});
        QCOMPARE(run.exitCode, 0);
        QJsonObject json = QJsonDocument::fromJson(run.out).object();
        QCOMPARE(json.value(QLatin1String("ok")).toBool(), true);
        QCOMPARE(json.value(QLatin1String("decisions")).toInt(), 5);
        QCOMPARE(json.value(QLatin1String("certificates_verified")).toInt(), 4);
        QCOMPARE(json.value(QLatin1String("confirmations_verified")).toInt(), 13);
        QCOMPARE(json.value(QLatin1String("decided")).toInt(), 3);
        QCOMPARE(json.value(QLatin1String("undetermined")).toInt(), 2);
        QVERIFY(!json.value(QLatin1String("proven_by_signatures")).toArray().isEmpty());
        QVERIFY2(json.value(QLatin1String("not_signed"))
                     .toArray()
                     .first()
                     .toString()
                     .startsWith(QLatin1String("decided_at, missing")),
                 run.out.constData());
        QCOMPARE(json.value(QLatin1String("unproven_count_total")).toInt(), 0);

        // The review's forgery: refused, naming the entry and the accusation.
        BundleParts accused = BundleParts::of(bytes);
        moveBackAndAccuse(accused.entries[0]);
        const QString accusing = dir.filePath(QStringLiteral("accusing.json"));
        writeFile(accusing, accused.write());
        run = runCli(
            {QStringLiteral("verify-report"), accusing, QStringLiteral("--membership"), membershipPath});
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.contains("REFUSED") && run.err.contains("decision 1 of 5") &&
                     run.err.contains("'equivocating' is 1"),
                 run.err.constData());
        QVERIFY(!run.out.contains("OK"));

        // Another state's count with no signature for it: verified, and listed as unproven.
        BundleParts claimed = BundleParts::of(bytes);
        claimAnotherState(claimed.entries[0]);
        const QString claiming = dir.filePath(QStringLiteral("claiming.json"));
        writeFile(claiming, claimed.write());
        run = runCli(
            {QStringLiteral("verify-report"), claiming, QStringLiteral("--membership"), membershipPath});
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.out.indexOf("decision 1 of 5") > run.out.indexOf("Not signed") &&
                     run.out.contains("counts 1 AMOUNT_MISMATCH"),
                 run.out.constData());
        run = runCli({QStringLiteral("verify-report"), claiming, QStringLiteral("--membership"),
                      membershipPath, QStringLiteral("--json")});
        json = QJsonDocument::fromJson(run.out).object();
        QCOMPARE(json.value(QLatin1String("unproven_count_total")).toInt(), 1);
        QVERIFY(json.value(QLatin1String("unproven_counts"))
                    .toArray()
                    .first()
                    .toString()
                    .contains(QLatin1String("AMOUNT_MISMATCH")));

        // One byte inside the third decision's certificate.
        const QJsonObject top = QJsonDocument::fromJson(bytes).object();
        const QByteArray base64 = top.value(QLatin1String("decisions"))
                                      .toArray()
                                      .at(2)
                                      .toObject()
                                      .value(QLatin1String("certificate"))
                                      .toString()
                                      .toLatin1();
        QByteArray raw = QByteArray::fromBase64(base64);
        raw[40] = char(raw.at(40) ^ 0x01);
        QByteArray changed = bytes;
        changed.replace(base64, raw.toBase64());
        const QString tampered = dir.filePath(QStringLiteral("tampered.json"));
        writeFile(tampered, changed);
        run = runCli(
            {QStringLiteral("verify-report"), tampered, QStringLiteral("--membership"), membershipPath});
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.contains("decision 3 of 5") && run.err.contains("EI-2024-000003") &&
                     run.err.contains("certificate"),
                 run.err.constData());

        run = runCli({QStringLiteral("verify-report"), tampered, QStringLiteral("--membership"),
                      membershipPath, QStringLiteral("--json")});
        QCOMPARE(run.exitCode, 1);
        json = QJsonDocument::fromJson(run.out).object();
        QCOMPARE(json.value(QLatin1String("ok")).toBool(), false);
        QVERIFY(json.value(QLatin1String("error")).toString().contains(QLatin1String("certificate")));

        // The reviewer's invented decision, with correct hashes and no signature: exit 1.
        BundleParts invented = BundleParts::of(bytes);
        invented.entries = {inventedDecision()};
        const QString forged = dir.filePath(QStringLiteral("invented.json"));
        writeFile(forged, invented.write());
        run =
            runCli({QStringLiteral("verify-report"), forged, QStringLiteral("--membership"), membershipPath});
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.contains("REFUSED") && run.err.contains("decision 1 of 1") &&
                     run.err.contains("T-999999") && run.err.contains(QByteArray(32, '\xab').toHex()) &&
                     run.err.contains("'certificate' is null"),
                 run.err.constData());
        QVERIFY(!run.out.contains("OK"));
        invented.header.membershipHash.clear();
        writeFile(forged, invented.write());
        run = runCli({QStringLiteral("verify-report"), forged, QStringLiteral("--membership"), membershipPath,
                      QStringLiteral("--json")});
        QCOMPARE(run.exitCode, 1);
        json = QJsonDocument::fromJson(run.out).object();
        QCOMPARE(json.value(QLatin1String("ok")).toBool(), false);
        QVERIFY2(json.value(QLatin1String("error"))
                     .toString()
                     .contains(QLatin1String("'membership_hash' is empty")),
                 run.out.constData());

        // Entries sealed in signed blocks: their decided_at, missing and height are the coordinator's
        // signed word, said as such; a bad proof is refused, naming the entry and the check.
        BundleParts sealed = BundleParts::of(bytes);
        sealInBlock(sealed.entries[0], 7);
        sealInBlock(sealed.entries[1], 8);
        const QString provenFile = dir.filePath(QStringLiteral("proven.json"));
        writeFile(provenFile, sealed.write());
        run = runCli(
            {QStringLiteral("verify-report"), provenFile, QStringLiteral("--membership"), membershipPath});
        QCOMPARE(run.exitCode, 0);
        const qsizetype coordinatorSigned = run.out.indexOf("Signed by the coordinator (blocks 7 to 8)");
        QVERIFY2(coordinatorSigned > run.out.indexOf("Proven by signatures:") &&
                     run.out.indexOf("decided_at, missing, equivocating", coordinatorSigned) >
                         coordinatorSigned &&
                     run.out.indexOf("Not signed", coordinatorSigned) > coordinatorSigned,
                 run.out.constData());
        run = runCli({QStringLiteral("verify-report"), provenFile, QStringLiteral("--membership"),
                      membershipPath, QStringLiteral("--json")});
        QCOMPARE(run.exitCode, 0);
        json = QJsonDocument::fromJson(run.out).object();
        QCOMPARE(json.value(QLatin1String("proven_in_blocks")).toInt(), 2);
        QCOMPARE(json.value(QLatin1String("first_block")).toInt(), 7);
        QCOMPARE(json.value(QLatin1String("last_block")).toInt(), 8);
        QVERIFY2(json.value(QLatin1String("signed_by_coordinator"))
                     .toArray()
                     .first()
                     .toString()
                     .startsWith(QLatin1String("decided_at, missing, equivocating")),
                 run.out.constData());
        sealInBlock(sealed.entries[1], 8, QStringLiteral("target-2"));
        writeFile(provenFile, sealed.write());
        run = runCli(
            {QStringLiteral("verify-report"), provenFile, QStringLiteral("--membership"), membershipPath});
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.contains("REFUSED") && run.err.contains("decision 2 of 5") &&
                     run.err.contains("proof: block 8: header: the coordinator's signature does not verify"),
                 run.err.constData());

        // Unreadable input and bad usage: 2.
        run = runCli({QStringLiteral("verify-report"), dir.filePath(QStringLiteral("nope.json")),
                      QStringLiteral("--membership"), membershipPath});
        QCOMPARE(run.exitCode, 2);
        QVERIFY(run.err.contains("no such file"));
        run = runCli({QStringLiteral("verify-report"), good});
        QCOMPARE(run.exitCode, 2);
        QVERIFY(run.err.contains("--membership"));
    }
};

QTEST_MAIN(TestExport)
#include "tst_export.moc"
