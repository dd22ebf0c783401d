#include "ReportWorker.h"

#include "AuditBundle.h"
#include "BlockHeader.h"
#include "CacheSchema.h"
#include "ConfirmationState.h"
#include "Decision.h"
#include "Membership.h"
#include "ReportPdfPainter.h"

#include <QDateTime>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QSaveFile>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryFile>

#include <optional>
#include <utility>

namespace ticketsync {

Q_LOGGING_CATEGORY(lcReportWorker, "ticketsync.ui.export", QtWarningMsg)

namespace {

constexpr int kCsvPageRows = 4096;
constexpr int kBundlePageRows = 256;
constexpr int kVerifyPageRows = 256;
constexpr qsizetype kFlushBytes = qsizetype(1) << 20;
constexpr int kMaxFailuresListed = 20;
constexpr int kMaxReceiversListed = 1000;

// The CSV columns and the bundle summary, in this order; readSummary() relies on it.
constexpr char kSummaryColumns[] =
    "ticket, version, branch, amount_minor, currency, outcome, state, count, n, q, "
    "missing, equivocating, issued_at_ms, decided_at_ms, latency_ms, height, digest";
constexpr int kSummaryColumnCount = 17;
constexpr char kCsvHeader[] = "ticket,version,branch,amount_minor,currency,outcome,state,count,n,q,missing,"
                              "equivocating,issued_at,decided_at,latency_ms,height,digest\r\n";
// Confirmations the tally refused as invalid do not verify, so they stay out of bundles.
constexpr char kInvalidVerdicts[] =
    "'bad-signature','not-member','not-target','wrong-digest','wrong-consortium','unknown-state'";

std::atomic<quint64> connectionSerial{0};

// Whether writing output would replace file: also through a symbolic link, which QSaveFile
// follows to replace its target.
bool writesOver(const QString &output, const QString &file)
{
    if (QFileInfo(output).absoluteFilePath() == QFileInfo(file).absoluteFilePath())
        return true;
    const QString canonical = QFileInfo(output).canonicalFilePath();
    return !canonical.isEmpty() && canonical == QFileInfo(file).canonicalFilePath();
}

// The filters after the lower time bound; callers put exactly one lower bound on decided_at_ms
// first, so SQLite seeks the index there.
QString filterTail(const ReportRequest &request)
{
    QString sql = QStringLiteral(" AND decided_at_ms < :to_ms");
    if (!request.outcome.isEmpty())
        sql += QStringLiteral(" AND outcome = :outcome");
    if (!request.ticket.isEmpty())
        sql += QStringLiteral(" AND ticket = :ticket");
    return sql;
}

QString filterSql(const ReportRequest &request)
{
    return QStringLiteral("decided_at_ms >= :from_ms") + filterTail(request);
}

void bindFilterTail(QSqlQuery &query, const ReportRequest &request)
{
    query.bindValue(QStringLiteral(":to_ms"), request.toMs);
    if (!request.outcome.isEmpty())
        query.bindValue(QStringLiteral(":outcome"), request.outcome);
    if (!request.ticket.isEmpty())
        query.bindValue(QStringLiteral(":ticket"), request.ticket);
}

void bindFilter(QSqlQuery &query, const ReportRequest &request)
{
    query.bindValue(QStringLiteral(":from_ms"), request.fromMs);
    bindFilterTail(query, request);
}

QString queryError(const QString &why)
{
    return ReportWorker::tr("Cannot query the history cache: %1").arg(why);
}

// Runs "SELECT <columns> FROM decisions WHERE <the request's filter><tail>", where tail adds
// conditions, grouping, order or a limit.
bool execFiltered(QSqlQuery &query, const ReportRequest &request, QLatin1String columns,
                  const QString &tail = {})
{
    query.prepare(
        QStringLiteral("SELECT %1 FROM decisions WHERE %2%3").arg(columns, filterSql(request), tail));
    bindFilter(query, request);
    return query.exec();
}

// How many filtered decisions also meet `tail`; nothing when the query fails (error set).
std::optional<qint64> countDecisions(QSqlDatabase &db, const ReportRequest &request, const QString &tail,
                                     QString *error)
{
    QSqlQuery count(db);
    if (!execFiltered(count, request, QLatin1String("COUNT(*)"), tail) || !count.next()) {
        *error = queryError(count.lastError().text());
        return std::nullopt;
    }
    return count.value(0).toLongLong();
}

// Pages through the filtered decisions in (decided_at_ms, digest) order, one indexed seek per
// page, so memory stays at one page however large the cache is.
class KeysetPager
{
public:
    KeysetPager(QSqlDatabase &db, const ReportRequest &request, const QString &columns,
                const QString &extraWhere, int pageRows)
        : query(db), request(request), lastAtMs(request.fromMs), lastDigest(1, '\0'), pageRows(pageRows)
    {
        query.setForwardOnly(true);
        // The page starts at the last key seen: the only lower bound on decided_at_ms, so the index
        // seek lands there (with two bounds SQLite may seek the first and rescan every page). A
        // one-byte zero blob sorts before every 32-byte digest, so the first page starts at fromMs.
        prepared = query.prepare(QStringLiteral("SELECT %1, decided_at_ms, digest FROM decisions "
                                                "WHERE decided_at_ms >= :seek_at%2%3 AND "
                                                "(decided_at_ms > :last_at OR digest > :last_digest) "
                                                "ORDER BY decided_at_ms, digest LIMIT %4")
                                     .arg(columns, filterTail(request), extraWhere)
                                     .arg(pageRows));
        keyColumn = columns.count(QLatin1Char(',')) + 1;
    }

    // Calls onRow(query) for every row and afterPage() after each page, until one returns false.
    // True when every page was read; a query error sets *error.
    template<typename OnRow, typename AfterPage>
    bool forEachRow(OnRow onRow, AfterPage afterPage, QString *error)
    {
        while (nextPage()) {
            while (next()) {
                if (!onRow(std::as_const(query)))
                    return false;
            }
            if (!afterPage())
                return false;
        }
        if (const QString problem = this->error(); !problem.isEmpty()) {
            *error = queryError(problem);
            return false;
        }
        return true;
    }
    // Rows read so far, the current one included.
    qint64 rowsRead() const { return rows; }

private:
    // Runs the next page; false at the end or on an error (then error() is set).
    bool nextPage()
    {
        if (!prepared || done)
            return false;
        bindFilterTail(query, request);
        query.bindValue(QStringLiteral(":seek_at"), lastAtMs);
        query.bindValue(QStringLiteral(":last_at"), lastAtMs);
        query.bindValue(QStringLiteral(":last_digest"), lastDigest);
        if (!query.exec()) {
            done = true;
            return false;
        }
        rowsInPage = 0;
        return true;
    }
    // Within a page: the next row, remembering its key for the next page.
    bool next()
    {
        if (!query.next()) {
            done = rowsInPage < pageRows; // a short page is the last one
            return false;
        }
        ++rowsInPage;
        ++rows;
        lastAtMs = query.value(keyColumn).toLongLong();
        lastDigest = query.value(keyColumn + 1).toByteArray();
        return true;
    }
    QString error() const { return query.lastError().isValid() ? query.lastError().text() : QString(); }

    QSqlQuery query;
    const ReportRequest &request;
    qint64 lastAtMs;
    QByteArray lastDigest;
    bool prepared = false;
    int pageRows;
    bool done = false;
    int rowsInPage = 0;
    qint64 rows = 0;
    int keyColumn = 0;
};

AuditSummary readSummary(const QSqlQuery &query)
{
    AuditSummary s;
    s.ticket = query.value(0).toString();
    s.version = query.value(1).toUInt();
    s.branch = query.value(2).toString();
    s.amountMinor = query.value(3).toLongLong();
    s.currency = query.value(4).toString();
    s.outcome = query.value(5).toString();
    const int state = query.value(6).toInt();
    if (state != 0)
        s.state = stateName(quint16(state));
    s.count = query.value(7).toLongLong();
    s.n = query.value(8).toLongLong();
    s.q = query.value(9).toLongLong();
    s.missing = query.value(10).toLongLong();
    s.equivocating = query.value(11).toLongLong();
    s.issuedAtMs = query.value(12).toLongLong();
    s.decidedAtMs = query.value(13).toLongLong();
    s.latencyMs = query.value(14).toLongLong();
    s.height = query.value(15).toLongLong();
    s.digest = query.value(16).toByteArray();
    return s;
}

// RFC 4180: quoted when it holds a comma, a quote, CR or LF; quotes doubled.
void appendCsvField(QByteArray &out, const QString &value)
{
    const QByteArray utf8 = value.toUtf8();
    bool needsQuotes = false;
    for (const char c : utf8) {
        if (c == ',' || c == '"' || c == '\r' || c == '\n') {
            needsQuotes = true;
            break;
        }
    }
    if (!needsQuotes) {
        out += utf8;
        return;
    }
    out += '"';
    for (const char c : utf8) {
        if (c == '"')
            out += '"';
        out += c;
    }
    out += '"';
}

void appendCsvRow(QByteArray &out, const AuditSummary &s)
{
    appendCsvField(out, s.ticket);
    out += ',';
    out += QByteArray::number(s.version);
    out += ',';
    appendCsvField(out, s.branch);
    out += ',';
    out += QByteArray::number(s.amountMinor);
    out += ',';
    appendCsvField(out, s.currency);
    out += ',';
    appendCsvField(out, s.outcome);
    out += ',';
    appendCsvField(out, s.state);
    for (const qint64 number : {s.count, s.n, s.q, s.missing, s.equivocating}) {
        out += ',';
        out += QByteArray::number(number);
    }
    out += ',';
    out += AuditBundle::isoUtc(s.issuedAtMs);
    out += ',';
    out += AuditBundle::isoUtc(s.decidedAtMs);
    out += ',';
    out += QByteArray::number(s.latencyMs);
    out += ',';
    out += QByteArray::number(s.height);
    out += ',';
    out += s.digest.toHex();
    out += "\r\n";
}

QString utcText(qint64 ms)
{
    return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"));
}

} // namespace

ReportWorker::ReportWorker(ReportRequest request, std::shared_ptr<std::atomic_bool> cancelled,
                           QObject *parent)
    : QObject(parent), request(std::move(request)), cancelFlag(std::move(cancelled))
{}

void ReportWorker::advance(qint64 done, qint64 total, int from, int to)
{
    const int permille = total <= 0 ? to : from + int(qMin(done, total) * (to - from) / total);
    if (permille != lastPermille) {
        lastPermille = permille;
        Q_EMIT progress(permille);
    }
}

bool ReportWorker::pageDone(qint64 done, qint64 total, int from, int to)
{
    if (isCancelled())
        return false;
    advance(done, total, from, to);
    return true;
}

bool ReportWorker::flushPage(QSaveFile &file, QByteArray &buffer, qint64 rows, qint64 total, int to)
{
    if (buffer.size() >= kFlushBytes) {
        file.write(buffer);
        buffer.clear();
    }
    return pageDone(rows, total, 0, to);
}

ReportWorker::Result ReportWorker::execute()
{
    Result result;
    lastPermille = -1;
    advance(0, 1, 0, 0);
    QString error;
    const QString connection =
        QStringLiteral("ticketsync-export-%1").arg(connectionSerial.fetch_add(1, std::memory_order_relaxed));
    {
        QSqlDatabase db;
        bool ok = false;
        if (request.outputPath.isEmpty())
            error = tr("No output file given.");
        else if (!request.outcome.isEmpty() && request.outcome != QLatin1String("DECIDED") &&
                 request.outcome != QLatin1String("UNDETERMINED"))
            error = tr("Unknown outcome filter \"%1\"; use DECIDED or UNDETERMINED.").arg(request.outcome);
        else if (request.fromMs > request.toMs)
            error = tr("The period ends before it starts.");
        else if (writesOver(request.outputPath, request.cachePath))
            error = tr("The report would overwrite the history cache %1; choose another file.")
                        .arg(request.cachePath);
        else {
            db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
            ok = openCache(db, &error);
        }
        if (ok && !isCancelled()) {
            QSaveFile file(request.outputPath);
            // Never write in place: a cancelled or failed export must leave nothing behind.
            file.setDirectWriteFallback(false);
            if (!file.open(QIODevice::WriteOnly)) {
                error = tr("Cannot write %1: %2").arg(request.outputPath, file.errorString());
                ok = false;
            } else {
                switch (request.format) {
                case ReportRequest::Format::Csv:
                    ok = writeCsv(db, file, &result, &error);
                    break;
                case ReportRequest::Format::JsonBundle:
                    ok = writeBundle(db, file, &result, &error);
                    break;
                case ReportRequest::Format::Pdf: {
                    ReportPdfData data;
                    ok = collectPdf(db, &data, &result, &error);
                    if (ok && !isCancelled()) {
                        QString glyphs;
                        result.pages = ReportPdfPainter::paint(data, &file, &error, &glyphs);
                        ok = result.pages > 0;
                        if (ok)
                            result.summary = tr("Wrote a %1-page PDF report of %2 decisions to %3.")
                                                 .arg(result.pages)
                                                 .arg(result.decisions)
                                                 .arg(request.outputPath);
                        // Still written, but the operator hears that part of it is empty boxes.
                        if (ok && !glyphs.isEmpty())
                            result.summary += QLatin1Char(' ') + glyphs;
                    }
                    break;
                }
                }
                db.rollback(); // ends the read snapshot; nothing was written
                if (ok && !isCancelled() && !file.commit()) {
                    error = tr("Cannot write %1: %2").arg(request.outputPath, file.errorString());
                    ok = false;
                } else if (!ok || isCancelled()) {
                    file.cancelWriting();
                }
            }
        }
        result.ok = ok && !isCancelled();
        db.close();
    }
    QSqlDatabase::removeDatabase(connection);

    if (result.ok) {
        advance(1, 1, 1000, 1000);
        qCInfo(lcReportWorker) << result.summary;
        Q_EMIT finished(true, request.outputPath, result.summary);
    } else if (isCancelled() && error.isEmpty()) {
        result.cancelled = true;
        result.summary = tr("Export cancelled; no file was written.");
        Q_EMIT finished(false, request.outputPath, result.summary);
    } else {
        result.error = error.isEmpty() ? tr("The export failed for an unknown reason.") : error;
        result.summary = result.error;
        qCWarning(lcReportWorker) << "export failed:" << result.error;
        Q_EMIT failed(result.error);
        Q_EMIT finished(false, request.outputPath, result.error);
    }
    return result;
}

bool ReportWorker::openCache(QSqlDatabase &db, QString *error)
{
    const QString &path = request.cachePath;
    const QFileInfo info(path);
    if (path.isEmpty()) {
        *error = tr("No history cache file given.");
        return false;
    }
    if (!info.exists()) {
        *error = tr("Cannot read the history cache %1: no such file.").arg(path);
        return false;
    }
    if (!info.isFile()) {
        *error = tr("Cannot read the history cache %1: not a regular file.").arg(path);
        return false;
    }
    QFile probe(path);
    if (!probe.open(QIODevice::ReadOnly)) {
        *error = tr("Cannot read the history cache %1: %2").arg(path, probe.errorString());
        return false;
    }
    if (probe.read(16) != QByteArray("SQLite format 3\0", 16)) {
        *error = tr("Cannot read the history cache %1: it is not an SQLite database.").arg(path);
        return false;
    }
    probe.close();

    db.setDatabaseName(path);
    // Read-only: the export can never change the cache, and waits briefly for a writer's lock.
    db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY;QSQLITE_BUSY_TIMEOUT=5000"));
    if (!db.open()) {
        *error = tr("Cannot open the history cache %1: %2").arg(path, db.lastError().text());
        return false;
    }
    QSqlQuery query(db);
    if (!query.exec(QStringLiteral("PRAGMA user_version")) || !query.next()) {
        *error = tr("Cannot read the history cache %1: %2").arg(path, query.lastError().text());
        return false;
    }
    const int version = query.value(0).toInt();
    query.finish();
    if (version != CacheSchema::kVersion) {
        *error = version == 0
                     ? tr("The file %1 is not a console history cache (it has no schema version).").arg(path)
                     : tr("The history cache %1 has schema version %2; this console reads version %3.")
                           .arg(path)
                           .arg(version)
                           .arg(CacheSchema::kVersion);
        return false;
    }
    // One read transaction for the whole export: every page, count and list comes from the same
    // snapshot while the console keeps writing (WAL lets both go on).
    if (!db.transaction()) {
        *error = tr("Cannot read the history cache %1: %2").arg(path, db.lastError().text());
        return false;
    }
    return true;
}

bool ReportWorker::writeCsv(QSqlDatabase &db, QSaveFile &file, Result *result, QString *error)
{
    const std::optional<qint64> total = countDecisions(db, request, {}, error);
    if (!total)
        return false;

    QByteArray buffer;
    buffer.reserve(kFlushBytes + 4096);
    buffer += kCsvHeader;
    KeysetPager pager(db, request, QLatin1String(kSummaryColumns), {}, kCsvPageRows);
    const auto onRow = [&](const QSqlQuery &query) {
        appendCsvRow(buffer, readSummary(query));
        return true;
    };
    const auto afterPage = [&] {
        return flushPage(file, buffer, pager.rowsRead(), *total, 999);
    };
    if (!pager.forEachRow(onRow, afterPage, error))
        return false;
    file.write(buffer);
    const qint64 rows = pager.rowsRead();
    result->decisions = rows;
    result->summary = tr("Exported %1 decisions to %2.").arg(rows).arg(request.outputPath);
    return true;
}

bool ReportWorker::writeBundle(QSqlDatabase &db, QSaveFile &file, Result *result, QString *error)
{
    AuditBundle::Header header;
    header.generatedAtMs = QDateTime::currentMSecsSinceEpoch();
    header.generatedBy = request.operatorName;
    header.fromMs = request.fromMs;
    if (request.toMs != std::numeric_limits<qint64>::max())
        header.toMs = request.toMs;
    header.outcomeFilter = request.outcome;
    header.ticketFilter = request.ticket;
    if (!request.membershipPath.isEmpty()) {
        QString problem;
        const auto membership = Membership::load(request.membershipPath, &problem);
        if (!membership) {
            *error = tr("Cannot read the membership file: %1").arg(problem);
            return false;
        }
        header.membershipHash = membership->hash();
    } else {
        // Every signed object names the consortium configuration it was signed under.
        QSqlQuery probe(db);
        if (probe.exec(
                QStringLiteral("SELECT certificate FROM decisions WHERE certificate IS NOT NULL LIMIT 1")) &&
            probe.next()) {
            if (const auto decision = Decision::decode(probe.value(0).toByteArray()))
                header.membershipHash = decision->writeOff.membershipHash;
        }
        if (header.membershipHash.isEmpty() &&
            probe.exec(QStringLiteral("SELECT confirmation FROM confirmations LIMIT 1")) && probe.next()) {
            if (const auto confirmation = StateConfirmation::decode(probe.value(0).toByteArray()))
                header.membershipHash = confirmation->membershipHash;
        }
    }

    const std::optional<qint64> total = countDecisions(db, request, {}, error);
    if (!total)
        return false;

    // Manifest lines wait in a temporary file, so memory stays bounded for any size.
    QTemporaryFile manifest;
    if (!manifest.open()) {
        *error = tr("Cannot create a temporary file for the manifest: %1").arg(manifest.errorString());
        return false;
    }
    QSqlQuery confirmations(db);
    confirmations.setForwardOnly(true);
    if (!confirmations.prepare(
            QStringLiteral("SELECT confirmation FROM confirmations WHERE digest = :digest AND "
                           "verdict NOT IN (%1) ORDER BY target, state")
                .arg(QLatin1String(kInvalidVerdicts)))) {
        *error = queryError(confirmations.lastError().text());
        return false;
    }

    AuditBundle::Writer writer(header);
    QByteArray buffer = writer.begin();
    KeysetPager pager(db, request, QLatin1String(kSummaryColumns) + QLatin1String(", certificate, proof"), {},
                      kBundlePageRows);
    qint64 signedObjects = 0;
    const auto onRow = [&](const QSqlQuery &query) {
        AuditBundle::Entry entry;
        entry.summary = readSummary(query);
        const QByteArray certificate = query.value(kSummaryColumnCount).toByteArray();
        if (!certificate.isEmpty()) {
            entry.certificate = certificate;
            ++signedObjects;
            // Checked when it was fetched; its block is the height the bundle states.
            const QJsonObject proof =
                QJsonDocument::fromJson(query.value(kSummaryColumnCount + 1).toByteArray()).object();
            if (!proof.isEmpty()) {
                entry.proof = InclusionProof::fromJson(proof, nullptr);
                const auto header = entry.proof ? BlockHeader::decode(entry.proof->header) : std::nullopt;
                if (header)
                    entry.summary.height = qint64(header->height);
                else
                    entry.proof.reset();
            }
        }
        confirmations.bindValue(QStringLiteral(":digest"), entry.summary.digest);
        if (!confirmations.exec()) {
            *error = queryError(confirmations.lastError().text());
            return false;
        }
        while (confirmations.next())
            entry.confirmations.append(confirmations.value(0).toByteArray());
        signedObjects += entry.confirmations.size();
        QByteArray manifestLine;
        buffer += writer.addEntry(entry, &manifestLine);
        manifest.write(manifestLine);
        return true;
    };
    const auto afterPage = [&] {
        return flushPage(file, buffer, pager.rowsRead(), *total, 990);
    };
    if (!pager.forEachRow(onRow, afterPage, error))
        return false;
    const qint64 rows = pager.rowsRead();
    buffer += writer.manifestBegin();
    file.write(buffer);
    if (!manifest.seek(0)) {
        *error = tr("Cannot read back the manifest: %1").arg(manifest.errorString());
        return false;
    }
    while (!manifest.atEnd()) {
        const QByteArray chunk = manifest.read(kFlushBytes);
        if (chunk.isEmpty()) {
            *error = tr("Cannot read back the manifest: %1").arg(manifest.errorString());
            return false;
        }
        file.write(chunk);
    }
    file.write(writer.end());
    if (header.membershipHash.isEmpty() && signedObjects > 0) {
        *error = tr("The cached certificates do not name a membership; give the membership file.");
        return false;
    }
    result->decisions = rows;
    result->summary = tr("Exported %1 decisions with %2 signed certificates and confirmations to %3.")
                          .arg(rows)
                          .arg(signedObjects)
                          .arg(request.outputPath);
    return true;
}

bool ReportWorker::collectPdf(QSqlDatabase &db, ReportPdfData *data, Result *result, QString *error)
{
    const auto failQuery = [error](const QSqlQuery &query) {
        *error = queryError(query.lastError().text());
        return false;
    };
    data->generatedBy = request.operatorName.isEmpty() ? tr("(not named)") : request.operatorName;
    data->generatedAtMs = QDateTime::currentMSecsSinceEpoch();
    data->source = request.cachePath;
    data->period = request.toMs == std::numeric_limits<qint64>::max()
                       ? tr("from %1 (open-ended)").arg(utcText(request.fromMs))
                       : tr("%1 to %2").arg(utcText(request.fromMs), utcText(request.toMs));
    QStringList filters;
    if (!request.outcome.isEmpty())
        filters << tr("outcome %1").arg(request.outcome);
    if (!request.ticket.isEmpty())
        filters << tr("ticket %1").arg(request.ticket);
    data->filters = filters.isEmpty() ? tr("none") : filters.join(QStringLiteral(", "));

    // Decisions by outcome and state.
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!execFiltered(query, request, QLatin1String("outcome, state, COUNT(*)"),
                      QStringLiteral(" GROUP BY outcome, state ORDER BY outcome, state")))
        return failQuery(query);
    while (query.next()) {
        const qint64 count = query.value(2).toLongLong();
        data->decisions += count;
        if (query.value(0).toString() == QLatin1String("UNDETERMINED")) {
            data->undetermined += count;
        } else {
            data->decided += count;
            data->byState.append({stateName(quint16(query.value(1).toInt())), count, false});
        }
    }
    if (data->undetermined > 0)
        data->byState.append({QStringLiteral("UNDETERMINED"), data->undetermined, true});
    result->decisions = data->decisions;
    advance(1, 10, 0, 50);

    // The undetermined list, capped.
    if (data->undetermined > 0) {
        if (!execFiltered(
                query, request, QLatin1String("ticket, version, decided_at_ms, missing, count, n, q"),
                QStringLiteral(" AND outcome = 'UNDETERMINED' ORDER BY decided_at_ms, digest LIMIT %1")
                    .arg(qMax(0, request.pdfUndeterminedLimit))))
            return failQuery(query);
        while (query.next()) {
            data->undeterminedRows.append({query.value(0).toString(), query.value(1).toLongLong(),
                                           query.value(2).toLongLong(), query.value(3).toLongLong(),
                                           query.value(4).toLongLong(), query.value(5).toLongLong(),
                                           query.value(6).toLongLong()});
        }
        data->undeterminedMore = data->undetermined - data->undeterminedRows.size();
    }
    if (isCancelled())
        return false;

    // Receivers, blocks and alerts: the whole network's state as last cached.
    if (!query.exec(
            QStringLiteral("SELECT receiver, node, status, acked_height, head_height, lag_blocks, lag_ms, "
                           "last_error, as_of_ms FROM receivers ORDER BY receiver LIMIT %1")
                .arg(kMaxReceiversListed)))
        return failQuery(query);
    while (query.next()) {
        data->receivers.append(
            {query.value(0).toString(), query.value(1).toString(), query.value(2).toString(),
             query.value(3).toLongLong(), query.value(4).toLongLong(), query.value(5).toLongLong(),
             query.value(6).toLongLong(), query.value(7).toString(), query.value(8).toLongLong()});
    }
    if (!query.exec(
            QStringLiteral("SELECT node, COUNT(*), MIN(height), MAX(height), MAX(timestamp_ms) FROM blocks "
                           "GROUP BY node ORDER BY node")))
        return failQuery(query);
    while (query.next()) {
        data->blocks.append({query.value(0).toString(), query.value(1).toLongLong(),
                             query.value(2).toLongLong(), query.value(3).toLongLong(),
                             query.value(4).toLongLong()});
    }
    if (!query.exec(QStringLiteral("SELECT COUNT(*), COALESCE(SUM(acknowledged_by = ''), 0) FROM alerts")) ||
        !query.next())
        return failQuery(query);
    data->alertsTotal = query.value(0).toLongLong();
    data->alertsOpen = query.value(1).toLongLong();
    query.finish();
    advance(5, 10, 0, 50);

    // Chain verification: every cached certificate in the period, checked locally through core.
    if (request.membershipPath.isEmpty()) {
        data->verificationNote = tr("Not verified: no membership given.");
        advance(1, 1, 50, 950);
        return true;
    }
    QString problem;
    const auto membership = Membership::load(request.membershipPath, &problem);
    if (!membership) {
        data->verificationNote = tr("Not verified: the membership file cannot be read: %1").arg(problem);
        advance(1, 1, 50, 950);
        return true;
    }
    data->verified = true;
    data->verificationNote = tr("Against membership %1 (consortium \"%2\", hash %3…).")
                                 .arg(request.membershipPath, membership->consortiumId(),
                                      QString::fromLatin1(membership->hash().left(8).toHex()));
    const QString withCertificate = QStringLiteral(" AND certificate IS NOT NULL");
    const std::optional<qint64> total = countDecisions(db, request, withCertificate, error);
    if (!total)
        return false;
    data->withoutCertificate = data->decisions - *total;

    KeysetPager pager(db, request, QStringLiteral("ticket, certificate"), withCertificate, kVerifyPageRows);
    const auto onRow = [&](const QSqlQuery &query) {
        const QString ticket = query.value(0).toString();
        const QByteArray digest = query.value(3).toByteArray();
        QString reason;
        const auto decision = Decision::decode(query.value(1).toByteArray(), &reason);
        if (decision && reason.isEmpty())
            reason = decision->verifyCertificate(*membership);
        if (decision && reason.isEmpty() && decision->writeOff.digest() != digest)
            reason = tr("the certificate is for another write-off");
        if (!decision && reason.isEmpty())
            reason = tr("the certificate does not decode");
        if (reason.isEmpty()) {
            ++data->certificatesVerified;
        } else {
            ++data->certificatesFailed;
            if (data->failures.size() < kMaxFailuresListed)
                data->failures.append(QStringLiteral("%1: %2").arg(ticket, reason));
            else
                ++data->failuresMore;
        }
        // Verifying is slow, so a cancel is also seen within a page.
        return (pager.rowsRead() & 63) != 0 || !isCancelled();
    };
    const auto afterPage = [&] {
        return pageDone(pager.rowsRead(), *total, 50, 950);
    };
    return pager.forEachRow(onRow, afterPage, error);
}

} // namespace ticketsync
