#include "HistoryCache.h"

#include "CacheSchema.h"
#include "ConfirmationState.h"
#include "SqliteStatement.h"
#include "StateConfirmation.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QSet>
#include <QStringList>
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <variant>

Q_LOGGING_CATEGORY(lcCache, "ticketsync.ui.cache", QtWarningMsg)

namespace ticketsync {

namespace {

constexpr qsizetype kMaxStoredBodyBytes = 1 << 20; // larger bodies are counted, not kept

qint64 nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

QString tr(const char *text)
{
    return QCoreApplication::translate("ticketsync::HistoryCache", text);
}

// --- Reading event fields: each reports what is wrong instead of guessing ----------------

class Fields
{
public:
    explicit Fields(const QJsonObject &object) : object(object) {}

    QString text(const char *key, bool required = true)
    {
        const QJsonValue value = object.value(QLatin1String(key));
        if (value.isString())
            return value.toString();
        if (required || !value.isUndefined())
            complain(key, value.isUndefined() ? "missing" : "not a string");
        return {};
    }
    qint64 integer(const char *key, bool required = true)
    {
        const QJsonValue value = object.value(QLatin1String(key));
        if (value.isUndefined() && !required)
            return 0;
        constexpr qint64 kNotInteger = std::numeric_limits<qint64>::min();
        const qint64 result = value.isDouble() ? value.toInteger(kNotInteger) : kNotInteger;
        if (result == kNotInteger) {
            complain(key, value.isUndefined() ? "missing" : "not an integer");
            return 0;
        }
        return result;
    }
    QByteArray digest(const char *key)
    {
        const QString hex = text(key);
        if (!problem.isEmpty())
            return {};
        const QByteArray bytes = QByteArray::fromHex(hex.toLatin1());
        if (hex.size() != 64 || bytes.size() != 32 || bytes.toHex() != hex.toLower().toLatin1()) {
            complain(key, "not a 32-byte hex digest");
            return {};
        }
        return bytes;
    }
    QByteArray hexBytes(const char *key)
    {
        const QString hex = text(key);
        const QByteArray bytes = QByteArray::fromHex(hex.toLatin1());
        if (problem.isEmpty() && bytes.toHex() != hex.toLower().toLatin1())
            complain(key, "not hex");
        return bytes;
    }
    QByteArray base64(const char *key)
    {
        const QString encoded = text(key);
        if (!problem.isEmpty())
            return {};
        auto decoded =
            QByteArray::fromBase64Encoding(encoded.toLatin1(), QByteArray::AbortOnBase64DecodingErrors);
        if (!decoded || decoded.decoded.isEmpty()) {
            complain(key, "not base64");
            return {};
        }
        return decoded.decoded;
    }
    QJsonObject object_(const char *key)
    {
        const QJsonValue value = object.value(QLatin1String(key));
        if (!value.isObject())
            complain(key, value.isUndefined() ? "missing" : "not an object");
        return value.toObject();
    }
    // A state name as stateName() prints it ("WRITTEN_OFF", or "STATE_<code>").
    int state(const char *key)
    {
        const QString name = text(key);
        if (!problem.isEmpty())
            return 0;
        const int code = stateCode(name);
        if (code <= 0)
            complain(key, "not a confirmation state");
        return code;
    }
    void complain(const char *key, const char *what)
    {
        if (problem.isEmpty())
            problem = QStringLiteral("'%1' %2").arg(QLatin1String(key), QLatin1String(what));
    }
    static int stateCode(const QString &name)
    {
        ConfirmationState state;
        if (stateFromName(name, &state))
            return int(state);
        if (name.startsWith(QLatin1String("STATE_"))) {
            bool ok = false;
            const int code = name.mid(6).toInt(&ok);
            if (ok && code > 0 && code <= 0xffff)
                return code;
        }
        return 0;
    }

    const QJsonObject &object;
    QString problem;
};

QString digestHex(const QByteArray &digest)
{
    return QString::fromLatin1(digest.toHex());
}

// --- Statement helpers: the bind, step and read loops every query shares -----------------

// Runs a prepared statement again with these values, bound in order.
template<typename... Values> bool runWith(SqliteStatement &statement, const Values &...values)
{
    statement.reset();
    (statement.add(values), ...);
    return statement.run();
}

// Every row the query returns, each read by readRow.
template<typename ReadRow> auto readRows(SqliteStatement &query, ReadRow readRow)
{
    QList<decltype(readRow(query))> rows;
    while (query.step() == SQLITE_ROW)
        rows.append(readRow(query));
    return rows;
}

// The rows of sql with values bound in order; none when the cache is not open.
template<typename Sql, typename ReadRow, typename... Values>
auto queryRows(sqlite3 *db, const Sql &sql, ReadRow readRow, const Values &...values)
{
    using Row = decltype(readRow(std::declval<const SqliteStatement &>()));
    if (!db)
        return QList<Row>();
    SqliteStatement query(db, sql);
    (query.add(values), ...);
    return readRows(query, readRow);
}

// The first row of sql with values bound in order, if there is one.
template<typename Sql, typename ReadRow, typename... Values>
auto queryRow(sqlite3 *db, const Sql &sql, ReadRow readRow, const Values &...values)
    -> std::optional<decltype(readRow(std::declval<const SqliteStatement &>()))>
{
    if (!db)
        return std::nullopt;
    SqliteStatement query(db, sql);
    (query.add(values), ...);
    if (query.step() != SQLITE_ROW)
        return std::nullopt;
    return readRow(query);
}

// The first column of sql's first row; 0 when there is none.
template<typename... Values> qint64 queryInteger(sqlite3 *db, const char *sql, const Values &...values)
{
    return queryRow(
               db, sql, [](const SqliteStatement &query) { return query.integer(0); }, values...)
        .value_or(0);
}

} // namespace

bool FeedFilter::isEmpty() const
{
    return ticket.isEmpty() && branch.isEmpty() && target.isEmpty() && state < 0 && fromMs == 0 && toMs == 0;
}

bool DecisionFilter::isEmpty() const
{
    return ticket.isEmpty() && outcome.isEmpty() && fromMs == 0 && toMs == 0;
}

void IngestReport::merge(const IngestReport &later)
{
    stored += later.stored;
    duplicates += later.duplicates;
    skipped += later.skipped;
    if (firstProblem.isEmpty())
        firstProblem = later.firstProblem;
    lastSeq = qMax(lastSeq, later.lastSeq);
    feedRows += later.feedRows;
    decisionsInserted += later.decisionsInserted;
    decisionsUpdated += later.decisionsUpdated;
    if (later.minDecidedAtMs && (!minDecidedAtMs || later.minDecidedAtMs < minDecidedAtMs))
        minDecidedAtMs = later.minDecidedAtMs;
    receiversChanged = receiversChanged || later.receiversChanged;
    blocksChanged = blocksChanged || later.blocksChanged;
    alerts += later.alerts;
    resolvedAlerts += later.resolvedAlerts;
}

// The statements ingest runs for every event, prepared once per connection.
struct HistoryCache::Statements
{
    SqliteStatement insertEvent, insertFeed, insertConfirmation, findDecision, insertDecision, updateDecision,
        upsertBlock, setHeight, upsertReceiver, advanceCursor, findAlert, insertAlert, reopenAlert,
        updateAlertDetail, closeAlert, insertTrail;

    bool prepare(sqlite3 *db)
    {
        return insertEvent.prepare(db, "INSERT OR IGNORE INTO events (node, seq, at_ms, kind, body) "
                                       "VALUES (?, ?, ?, ?, ?)") &&
               insertFeed.prepare(db, "INSERT OR IGNORE INTO feed (node, seq, at_ms, kind, digest, ticket, "
                                      "version, branch, target, state, verdict, amount_minor, currency) "
                                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)") &&
               insertConfirmation.prepare(db, "INSERT OR IGNORE INTO confirmations (digest, target, state, "
                                              "verdict, at_ms, confirmation) VALUES (?, ?, ?, ?, ?, ?)") &&
               findDecision.prepare(db, "SELECT decided_at_ms, outcome FROM decisions WHERE digest = ?") &&
               insertDecision.prepare(
                   db,
                   "INSERT INTO decisions (digest, node, ticket, version, branch, amount_minor, currency, "
                   "outcome, state, count, n, q, missing, equivocating, histogram, issued_at_ms, "
                   "decided_at_ms, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                   "?)") &&
               // A newer outcome replaces the row; its certificate and block are those of the
               // old outcome, so they are forgotten until fetched again.
               updateDecision.prepare(
                   db, "UPDATE decisions SET node = ?2, ticket = ?3, version = ?4, branch = ?5, "
                       "amount_minor = ?6, currency = ?7, outcome = ?8, state = ?9, count = ?10, n = ?11, "
                       "q = ?12, missing = ?13, equivocating = ?14, histogram = ?15, issued_at_ms = ?16, "
                       "decided_at_ms = ?17, latency_ms = ?18, height = 0, certificate = NULL "
                       "WHERE digest = ?1") &&
               upsertBlock.prepare(db, "INSERT OR REPLACE INTO blocks (node, height, hash, decisions, "
                                       "timestamp_ms) VALUES (?, ?, ?, ?, ?)") &&
               setHeight.prepare(db, "UPDATE decisions SET height = ? WHERE digest = ?") &&
               upsertReceiver.prepare(db,
                                      "INSERT OR REPLACE INTO receivers (receiver, node, status, "
                                      "acked_height, head_height, lag_blocks, lag_ms, last_error, "
                                      "last_contact_ms, as_of_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)") &&
               advanceCursor.prepare(db,
                                     "INSERT INTO cursors (node, last_seq) VALUES (?, ?) ON CONFLICT "
                                     "(node) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)") &&
               findAlert.prepare(db,
                                 "SELECT id, acknowledged_by FROM alerts WHERE kind = ? AND subject = ?") &&
               insertAlert.prepare(db, "INSERT INTO alerts (kind, subject, detail, raised_at_ms) "
                                       "VALUES (?, ?, ?, ?)") &&
               reopenAlert.prepare(db,
                                   "UPDATE alerts SET detail = ?, raised_at_ms = ?, acknowledged_by = '', "
                                   "acknowledged_at_ms = 0 WHERE id = ?") &&
               updateAlertDetail.prepare(db, "UPDATE alerts SET detail = ? WHERE id = ?") &&
               closeAlert.prepare(db, "UPDATE alerts SET acknowledged_by = ?, acknowledged_at_ms = ? "
                                      "WHERE id = ? AND acknowledged_by = ''") &&
               insertTrail.prepare(db, "INSERT INTO alert_trail (alert_id, at_ms, who, action, note) "
                                       "VALUES (?, ?, ?, ?, ?)");
    }

    struct AlertState
    {
        qint64 id = 0; // 0: no such alert
        bool acknowledged = false;
    };
    // Raising and resolving both start from the alert of that kind and subject.
    AlertState findAlertState(const QString &kind, const QString &subject)
    {
        findAlert.reset();
        findAlert.add(kind);
        findAlert.add(subject);
        AlertState found;
        if (findAlert.step() == SQLITE_ROW)
            found = {findAlert.integer(0), !findAlert.text(1).isEmpty()};
        findAlert.reset();
        return found;
    }
};

HistoryCache::HistoryCache() = default;

HistoryCache::~HistoryCache()
{
    close();
}

void HistoryCache::close()
{
    statements.reset();
    if (db) {
        sqlite3_close_v2(db);
        db = nullptr;
    }
}

QString HistoryCache::sqliteError() const
{
    return db ? QString::fromUtf8(sqlite3_errmsg(db)) : QStringLiteral("not open");
}

bool HistoryCache::exec(const char *sql, QString *error) const
{
    char *message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        const QString text = QString::fromUtf8(message ? message : sqlite3_errmsg(db));
        sqlite3_free(message);
        if (error)
            *error = QStringLiteral("%1: %2").arg(filePath, text);
        qCWarning(lcCache) << filePath << text;
        return false;
    }
    return true;
}

bool HistoryCache::fail(const QString &message, OpenStatus openStatus)
{
    problem = message;
    status = openStatus;
    qCWarning(lcCache).noquote() << message;
    close();
    return false;
}

bool HistoryCache::open(const QString &path, QString *error, Mode mode)
{
    close();
    filePath = path;
    problem.clear();
    status = OpenStatus::Ok;
    const auto report = [&](bool ok) {
        if (!ok && error)
            *error = problem;
        return ok;
    };

    QFileInfo info(path);
    if (info.exists() && !info.isFile())
        return report(
            fail(tr("%1 is not a file, so it cannot be a history cache").arg(path), OpenStatus::NotACache));
    if (info.exists() && info.size() > 0) {
        // Cheaper and clearer than letting SQLite discover it: a cache starts with SQLite's magic.
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly))
            return report(fail(tr("cannot read the history cache %1: %2").arg(path, file.errorString()),
                               OpenStatus::IoError));
        if (file.read(16) != QByteArray("SQLite format 3\0", 16))
            return report(fail(tr("%1 is not a ticketsync history cache (not an SQLite database); it was "
                                  "left untouched")
                                   .arg(path),
                               OpenStatus::NotACache));
    }
    if (mode == Mode::ReadWrite && !info.exists())
        QDir().mkpath(info.absolutePath());

    const int flags =
        mode == Mode::ReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path.toUtf8().constData(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        const QString why = sqliteError();
        return report(fail(tr("cannot open the history cache %1: %2").arg(path, why), OpenStatus::IoError));
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_extended_result_codes(db, 0);

    // The cache is a copy of what the nodes keep, so it trades durability for speed: in WAL
    // mode synchronous=NORMAL never corrupts the file and survives a process crash (kill -9)
    // intact; a power cut may lose the last commits, but the cursor is lost with them (same
    // transaction), so the console simply fetches those events again on reconnect.
    // A bounded page cache keeps memory flat however large the file grows.
    QString pragmaError;
    if (mode == Mode::ReadWrite &&
        !exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 67108864;",
              &pragmaError)) {
        const int code = sqlite3_errcode(db);
        const bool corrupt = code == SQLITE_NOTADB || code == SQLITE_CORRUPT;
        return report(fail(corrupt ? tr("the history cache %1 is damaged (%2)").arg(path, pragmaError)
                                   : tr("cannot use the history cache %1: %2").arg(path, pragmaError),
                           corrupt ? OpenStatus::Corrupt : OpenStatus::IoError));
    }
    exec("PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 8192;");

    SqliteStatement version(db, "PRAGMA user_version");
    if (version.step() != SQLITE_ROW) {
        const int code = sqlite3_errcode(db);
        const QString why = sqliteError();
        const bool corrupt = code == SQLITE_NOTADB || code == SQLITE_CORRUPT;
        return report(fail(tr("the history cache %1 cannot be read: %2").arg(path, why),
                           corrupt ? OpenStatus::Corrupt : OpenStatus::IoError));
    }
    const qint64 found = version.integer(0);
    if (found > CacheSchema::kVersion)
        return report(fail(tr("the history cache %1 has schema version %2, newer than this console "
                              "understands (%3); it was left untouched. Use a newer console or another cache "
                              "file.")
                               .arg(path)
                               .arg(found)
                               .arg(CacheSchema::kVersion),
                           OpenStatus::NewerVersion));
    if (found == 0) {
        SqliteStatement tables(db, "SELECT count(*) FROM sqlite_master");
        if (tables.step() != SQLITE_ROW)
            return report(fail(tr("the history cache %1 is damaged: %2").arg(path, sqliteError()),
                               OpenStatus::Corrupt));
        if (tables.integer(0) > 0)
            return report(fail(tr("%1 is an SQLite database but not a ticketsync history cache; it was left "
                                  "untouched")
                                   .arg(path),
                               OpenStatus::NotACache));
    }
    if (found < CacheSchema::kVersion) {
        if (mode == Mode::ReadOnly)
            return report(fail(tr("the history cache %1 has schema version %2; open it once read-write to "
                                  "migrate it to version %3")
                                   .arg(path)
                                   .arg(found)
                                   .arg(CacheSchema::kVersion),
                               OpenStatus::NotACache));
        QString why;
        if (!migrate(int(found), &why))
            return report(fail(tr("cannot create or migrate the history cache %1: %2").arg(path, why),
                               OpenStatus::IoError));
    }
    QString why;
    if (!checkStructure(&why))
        return report(fail(tr("the history cache %1 is damaged: %2").arg(path, why), OpenStatus::Corrupt));

    if (mode == Mode::ReadOnly)
        return true; // readers need no prepared writes
    statements = std::make_unique<Statements>();
    if (!statements->prepare(db))
        return report(
            fail(tr("the history cache %1 is damaged: %2").arg(path, sqliteError()), OpenStatus::Corrupt));
    qCDebug(lcCache) << "opened" << path << "version" << CacheSchema::kVersion;
    return true;
}

bool HistoryCache::checkpoint()
{
    if (!db)
        return false;
    int walFrames = 0, copied = 0;
    const int result = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &walFrames, &copied);
    if (result != SQLITE_OK && result != SQLITE_BUSY) {
        qCWarning(lcCache) << filePath << "checkpoint failed:" << sqliteError();
        return false;
    }
    return true;
}

void HistoryCache::setAutoCheckpoint(int pages)
{
    if (db)
        sqlite3_wal_autocheckpoint(db, qMax(0, pages));
}

bool HistoryCache::migrate(int from, QString *error)
{
    // One step per version, each in the same transaction as its user_version bump.
    struct Step
    {
        int to;
        const char *sql;
    };
    static const Step kSteps[] = {
        {1, CacheSchema::kCreateV1},
        {2, CacheSchema::kCreateV2},
        {3, CacheSchema::kCreateV3},
    };
    for (const Step &step : kSteps) {
        if (step.to <= from)
            continue;
        const QByteArray bump = QByteArrayLiteral("PRAGMA user_version = ") + QByteArray::number(step.to);
        if (!exec("BEGIN IMMEDIATE", error))
            return false;
        if (!exec(step.sql, error) || !exec(bump.constData(), error)) {
            exec("ROLLBACK");
            return false;
        }
        if (!exec("COMMIT", error)) {
            exec("ROLLBACK");
            return false;
        }
        qCInfo(lcCache) << filePath << "migrated to cache schema version" << step.to;
    }
    return true;
}

bool HistoryCache::checkStructure(QString *error)
{
    // PRAGMA quick_check reads the whole file: far too slow at startup for a big cache. Instead
    // check that every table and index is there and that each table's root page can be read.
    static const char *const kTables[] = {"events",  "feed",      "decisions", "confirmations",
                                          "blocks",  "receivers", "alerts",    "alert_trail",
                                          "cursors", "gaps",      "network"};
    static const char *const kIndexes[] = {
        "feed_by_ticket", "feed_by_branch",    "feed_by_target",      "feed_by_state",       "feed_by_time",
        "feed_by_digest", "decisions_by_time", "decisions_by_ticket", "decisions_by_outcome"};
    SqliteStatement master(db, "SELECT type, name FROM sqlite_master");
    QSet<QString> names;
    int result;
    while ((result = master.step()) == SQLITE_ROW)
        names.insert(master.text(1));
    if (result != SQLITE_DONE) {
        *error = sqliteError();
        return false;
    }
    QStringList missing;
    for (const char *table : kTables) {
        if (!names.contains(QLatin1String(table)))
            missing << QLatin1String(table);
    }
    for (const char *index : kIndexes) {
        if (!names.contains(QLatin1String(index)))
            missing << QLatin1String(index);
    }
    if (!missing.isEmpty()) {
        *error = tr("missing %1").arg(missing.join(QStringLiteral(", ")));
        return false;
    }
    for (const char *table : kTables) {
        SqliteStatement probe(db, QByteArrayLiteral("SELECT * FROM ") + table + " LIMIT 1");
        const int step = probe.step();
        if (!probe.valid() || (step != SQLITE_ROW && step != SQLITE_DONE)) {
            *error = QStringLiteral("%1: %2").arg(QLatin1String(table), sqliteError());
            return false;
        }
    }
    return true;
}

bool HistoryCache::moveAside(const QString &path, QString *newPath, QString *error)
{
    const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
    QString target = QStringLiteral("%1.broken-%2").arg(path, stamp);
    for (int n = 2; QFile::exists(target); ++n)
        target = QStringLiteral("%1.broken-%2-%3").arg(path, stamp).arg(n);
    if (QFile::exists(path) && !QFile::rename(path, target)) {
        if (error)
            *error = tr("cannot move the damaged history cache %1 aside to %2").arg(path, target);
        return false;
    }
    // The WAL belongs to the broken file: never let it be replayed into a fresh one.
    for (const char *suffix : {"-wal", "-shm"}) {
        const QString side = path + QLatin1String(suffix);
        if (QFile::exists(side) && !QFile::rename(side, target + QLatin1String(suffix)))
            QFile::remove(side);
    }
    if (newPath)
        *newPath = target;
    qCWarning(lcCache) << "moved the damaged history cache" << path << "to" << target;
    return true;
}

// --- Ingest -------------------------------------------------------------------------------

IngestReport HistoryCache::ingest(const QString &node, const QList<QJsonObject> &events)
{
    IngestReport report;
    report.lastSeq = lastSeq(node);
    if (!db || !statements) {
        report.skipped = int(events.size());
        report.firstProblem = db ? tr("the history cache %1 is open read-only").arg(filePath)
                                 : tr("the history cache is not open");
        return report;
    }
    if (events.isEmpty())
        return report;
    Statements &s = *statements;
    const auto skip = [&](qint64 seq, const QString &why) {
        ++report.skipped;
        if (report.firstProblem.isEmpty())
            report.firstProblem = seq > 0 ? tr("event %1 from %2: %3").arg(seq).arg(node, why)
                                          : tr("an event from %1: %2").arg(node, why);
    };

    if (!exec("BEGIN IMMEDIATE")) {
        report.skipped = int(events.size());
        report.refused = true;
        report.firstProblem = tr("cannot write to the history cache: %1").arg(sqliteError());
        return report;
    }
    qint64 maxSeq = 0;
    bool failed = false;
    for (const QJsonObject &event : events) {
        Fields envelope(event);
        const qint64 seq = envelope.integer("seq");
        const qint64 atMs = envelope.integer("at_ms");
        const QString kind = envelope.text("kind");
        if (!envelope.problem.isEmpty() || seq <= 0 || kind.isEmpty()) {
            skip(envelope.problem.isEmpty() ? seq : 0, envelope.problem.isEmpty()
                                                           ? tr("'seq' must be positive and 'kind' not empty")
                                                           : envelope.problem);
            continue;
        }
        const QByteArray body = QJsonDocument(event).toJson(QJsonDocument::Compact);
        if (body.size() > kMaxStoredBodyBytes) {
            maxSeq = qMax(maxSeq, seq); // never asked for again: it would only be refused again
            skip(seq, tr("%1 bytes is too large to keep").arg(body.size()));
            continue;
        }
        s.insertEvent.reset();
        s.insertEvent.add(node);
        s.insertEvent.add(seq);
        s.insertEvent.add(atMs);
        s.insertEvent.add(kind);
        s.insertEvent.bindUtf8(5, body);
        if (!s.insertEvent.run()) {
            failed = true;
            break;
        }
        maxSeq = qMax(maxSeq, seq);
        if (sqlite3_changes(db) == 0) {
            ++report.duplicates;
            continue;
        }

        Fields f(event);
        bool ok = true;
        if (kind == QLatin1String("write_off_issued") || kind == QLatin1String("confirmation_received")) {
            const bool issued = kind == QLatin1String("write_off_issued");
            const QByteArray digest = f.digest("write_off_digest");
            const QString ticket = f.text("ticket");
            const qint64 version = f.integer("version");
            const QString branch = f.text("branch");
            QString target, verdict, currency;
            QByteArray confirmation;
            int state = 0;
            qint64 amount = 0;
            if (issued) {
                amount = f.integer("amount_minor");
                currency = f.text("currency");
            } else {
                target = f.text("target");
                state = f.state("state");
                verdict = f.text("verdict");
                confirmation = f.base64("confirmation");
            }
            if (!f.problem.isEmpty()) {
                skip(seq, f.problem);
                continue;
            }
            ok = runWith(s.insertFeed, node, seq, atMs,
                         qint64(issued ? CacheSchema::kFeedIssued : CacheSchema::kFeedConfirmation), digest,
                         ticket, version, branch, target, qint64(state), verdict, amount, currency);
            report.feedRows += sqlite3_changes(db);
            if (ok && !issued) {
                ok =
                    runWith(s.insertConfirmation, digest, target, qint64(state), verdict, atMs, confirmation);
            }
        } else if (kind == QLatin1String("decision_made")) {
            const QByteArray digest = f.digest("write_off_digest");
            const QString ticket = f.text("ticket");
            const qint64 version = f.integer("version");
            const QString branch = f.text("branch");
            const qint64 amount = f.integer("amount_minor");
            const QString currency = f.text("currency");
            const QString outcome = f.text("outcome");
            const QString stateText = f.text("state", false);
            const QJsonObject histogram = f.object_("histogram");
            const qint64 n = f.integer("n");
            const qint64 q = f.integer("q");
            const qint64 missing = f.integer("missing");
            const qint64 equivocating = f.integer("equivocating");
            const qint64 issuedAt = f.integer("issued_at_ms");
            const qint64 decidedAt = f.integer("decided_at_ms");
            const qint64 latency = f.integer("latency_ms", false);
            const bool decided = outcome == QLatin1String("DECIDED");
            if (f.problem.isEmpty() && !decided && outcome != QLatin1String("UNDETERMINED"))
                f.complain("outcome", "neither DECIDED nor UNDETERMINED");
            const int state = decided ? Fields::stateCode(stateText) : 0;
            if (f.problem.isEmpty() && decided && state <= 0)
                f.complain("state", "not a confirmation state");
            qint64 count = 0;
            for (auto it = histogram.begin(); f.problem.isEmpty() && it != histogram.end(); ++it) {
                const qint64 value = it.value().toInteger(-1);
                if (value < 0 || Fields::stateCode(it.key()) <= 0)
                    f.complain("histogram", "not a map of state names to counts");
                else if (decided ? it.key() == stateText : value > count)
                    count = value;
            }
            if (!f.problem.isEmpty()) {
                skip(seq, f.problem);
                continue;
            }
            s.findDecision.reset();
            s.findDecision.add(digest);
            const int found = s.findDecision.step();
            const bool exists = found == SQLITE_ROW;
            const qint64 previousAt = exists ? s.findDecision.integer(0) : 0;
            const bool wasUndetermined = exists && s.findDecision.text(1) == QLatin1String("UNDETERMINED");
            s.findDecision.reset();
            if (found != SQLITE_ROW && found != SQLITE_DONE) {
                failed = true;
                break;
            }
            // The latest outcome wins; an older one arriving late changes nothing.
            const bool newest = !exists || decidedAt >= previousAt;
            if (newest) {
                SqliteStatement &write = exists ? s.updateDecision : s.insertDecision;
                write.reset();
                write.add(digest);
                write.add(node);
                write.add(ticket);
                write.add(version);
                write.add(branch);
                write.add(amount);
                write.add(currency);
                write.add(outcome);
                write.add(qint64(state));
                write.add(count);
                write.add(n);
                write.add(q);
                write.add(missing);
                write.add(equivocating);
                write.bindUtf8(15, QJsonDocument(histogram).toJson(QJsonDocument::Compact));
                write.skip();
                write.add(issuedAt);
                write.add(decidedAt);
                write.add(latency);
                ok = write.run();
                ++(exists ? report.decisionsUpdated : report.decisionsInserted);
                const qint64 moved = exists ? qMin(previousAt, decidedAt) : decidedAt;
                if (!report.minDecidedAtMs || moved < report.minDecidedAtMs)
                    report.minDecidedAtMs = moved;
            }
            if (ok && newest && !decided) {
                QStringList counts;
                for (auto it = histogram.begin(); it != histogram.end(); ++it)
                    counts << QStringLiteral("%1 %2").arg(it.key()).arg(it.value().toInteger());
                const QString detail =
                    tr("%1 v%2 (branch %3) is UNDETERMINED: no state reached q=%4 of n=%5 (%6; %7 missing, "
                       "%8 equivocating)")
                        .arg(ticket)
                        .arg(version)
                        .arg(branch)
                        .arg(q)
                        .arg(n)
                        .arg(counts.isEmpty() ? tr("no votes") : counts.join(QStringLiteral(", ")))
                        .arg(missing)
                        .arg(equivocating);
                if (std::optional<AlertRow> alert =
                        raiseAlertInTransaction(QStringLiteral("undetermined"), digestHex(digest), detail))
                    report.alerts.append(*alert);
            }
            if (ok && newest && decided && wasUndetermined) {
                // An operator retried the write-off and it is decided now: its 'undetermined'
                // alert closes by itself. It stays in the table, and the trail says why.
                //: Trail note of an 'undetermined' alert the console closed by itself; %1 is the
                //: decided state, e.g. WRITTEN_OFF.
                const QString note = tr("decided %1 after retry").arg(stateText);
                if (std::optional<ResolvedAlert> resolved =
                        resolveAlertInTransaction(QStringLiteral("undetermined"), digestHex(digest), note))
                    report.resolvedAlerts.append(*resolved);
            }
        } else if (kind == QLatin1String("block_appended")) {
            const qint64 height = f.integer("height");
            const QByteArray hash = f.hexBytes("hash");
            const qint64 decisions = f.integer("decisions");
            const qint64 timestamp = f.integer("timestamp_ms");
            if (!f.problem.isEmpty()) {
                skip(seq, f.problem);
                continue;
            }
            ok = runWith(s.upsertBlock, node, height, hash, decisions, timestamp);
            report.blocksChanged = true;
            // Which decisions the block holds (a node before API 1.1 does not say).
            const QJsonArray digests = event.value(u"write_off_digests").toArray();
            for (qsizetype i = 0; ok && i < digests.size(); ++i) {
                const QByteArray digest = QByteArray::fromHex(digests.at(i).toString().toLatin1());
                if (digest.size() != 32)
                    continue;
                ok = runWith(s.setHeight, height, digest);
            }
        } else if (kind == QLatin1String("receiver_status")) {
            ReceiverRow r;
            r.receiver = f.text("receiver");
            r.node = node;
            r.status = f.text("status");
            r.ackedHeight = f.integer("acked_height");
            r.headHeight = f.integer("head_height");
            r.lagBlocks = f.integer("lag_blocks");
            r.lagMs = f.integer("lag_ms");
            r.lastError = f.text("last_error", false);
            r.lastContactMs = f.integer("last_contact_ms");
            r.asOfMs = atMs;
            if (f.problem.isEmpty() && r.receiver.isEmpty())
                f.complain("receiver", "empty");
            if (!f.problem.isEmpty()) {
                skip(seq, f.problem);
                continue;
            }
            ok = runWith(s.upsertReceiver, r.receiver, r.node, r.status, r.ackedHeight, r.headHeight,
                         r.lagBlocks, r.lagMs, r.lastError, r.lastContactMs, r.asOfMs);
            report.receiversChanged = true;
            const bool lagging =
                (lagBlocks > 0 && r.lagBlocks >= lagBlocks) || (lagMs > 0 && r.lagMs >= lagMs);
            if (ok && lagging) {
                const QString detail = tr("%1 is %2 blocks (%3 ms) behind height %4 (status %5)")
                                           .arg(r.receiver)
                                           .arg(r.lagBlocks)
                                           .arg(r.lagMs)
                                           .arg(r.headHeight)
                                           .arg(r.status);
                if (std::optional<AlertRow> alert =
                        raiseAlertInTransaction(QStringLiteral("receiver_lagging"), r.receiver, detail))
                    report.alerts.append(*alert);
            }
        } else if (kind == QLatin1String("equivocation")) {
            const QByteArray digest = f.digest("write_off_digest");
            const QString ticket = f.text("ticket");
            const QString target = f.text("target");
            const QByteArray first = f.base64("first");
            const QByteArray second = f.base64("second");
            std::optional<StateConfirmation> one, two;
            if (f.problem.isEmpty()) {
                QString why;
                one = StateConfirmation::decode(first, &why);
                two = StateConfirmation::decode(second, &why);
                if (!one || !two)
                    f.problem = tr("the evidence is not a pair of confirmations: %1").arg(why);
            }
            if (!f.problem.isEmpty()) {
                skip(seq, f.problem);
                continue;
            }
            for (const auto &[decoded, bytes] : {std::pair{&*one, &first}, std::pair{&*two, &second}}) {
                ok = ok && runWith(s.insertConfirmation, digest, target, qint64(decoded->stateCode),
                                   QStringLiteral("equivocation"), atMs, *bytes);
            }
            const QString detail =
                tr("%1 signed both %2 and %3 for ticket %4")
                    .arg(target, stateName(one->stateCode), stateName(two->stateCode), ticket);
            if (std::optional<AlertRow> alert =
                    raiseAlertInTransaction(QStringLiteral("equivocation"),
                                            QStringLiteral("%1/%2").arg(digestHex(digest), target), detail))
                report.alerts.append(*alert);
        }
        // Other kinds (confirmation_sent, operator_command, ...) are kept in `events` only.
        if (!ok) {
            failed = true;
            break;
        }
        ++report.stored;
    }

    if (!failed && maxSeq > 0)
        failed = !runWith(s.advanceCursor, node, maxSeq);
    if (failed || !exec("COMMIT")) {
        const QString why = sqliteError();
        exec("ROLLBACK");
        IngestReport refused;
        refused.lastSeq = lastSeq(node);
        refused.skipped = int(events.size());
        refused.refused = true;
        refused.firstProblem = tr("the batch was not stored: %1").arg(why);
        qCWarning(lcCache) << filePath << refused.firstProblem;
        return refused;
    }
    report.lastSeq = qMax(report.lastSeq, maxSeq);
    if (report.skipped)
        qCWarning(lcCache).noquote() << filePath << report.skipped
                                     << "malformed events skipped; first:" << report.firstProblem;
    return report;
}

qint64 HistoryCache::lastSeq(const QString &node) const
{
    return queryInteger(db, "SELECT last_seq FROM cursors WHERE node = ?", node);
}

QHash<QString, qint64> HistoryCache::cursors() const
{
    QHash<QString, qint64> result;
    if (!db)
        return result;
    SqliteStatement query(db, "SELECT node, last_seq FROM cursors");
    while (query.step() == SQLITE_ROW)
        result.insert(query.text(0), query.integer(1));
    return result;
}

bool HistoryCache::bindNetwork(const QString &caSha256, const QString &consortium, QString *error)
{
    if (!db) {
        *error = tr("the history cache is not open");
        return false;
    }
    SqliteStatement bound(db, "SELECT ca_sha256, consortium FROM network WHERE id = 1");
    const int step = bound.step();
    if (step == SQLITE_ROW) {
        if (bound.text(0) == caSha256)
            return true;
        *error = tr("the history cache %1 holds the history of consortium '%2' (CA fingerprint %3), not of "
                    "consortium '%4' (CA fingerprint %5). Networks never share a cache: connect without a "
                    "cache file named, and each network gets its own, or name another file.")
                     .arg(filePath, bound.text(1), bound.text(0).left(16), consortium, caSha256.left(16));
        return false;
    }
    if (step != SQLITE_DONE) {
        *error = tr("cannot read the network of the history cache %1: %2").arg(filePath, sqliteError());
        return false;
    }
    SqliteStatement bind(db,
                         "INSERT INTO network (id, ca_sha256, consortium, bound_at_ms) VALUES (1, ?, ?, ?)");
    bind.bind(1, caSha256);
    bind.bind(2, consortium);
    bind.bind(3, nowMs());
    if (bind.step() != SQLITE_DONE) {
        *error = tr("cannot record the network of the history cache %1: %2").arg(filePath, sqliteError());
        return false;
    }
    qCInfo(lcCache) << filePath << "belongs to consortium" << consortium << "CA" << caSha256.left(16);
    return true;
}

QString HistoryCache::networkCa() const
{
    if (!db)
        return {};
    SqliteStatement bound(db, "SELECT ca_sha256 FROM network WHERE id = 1");
    return bound.step() == SQLITE_ROW ? bound.text(0) : QString();
}

QList<QByteArray> HistoryCache::unprovenDecisions(qint64 fromMs, qint64 toMs, int limit) const
{
    QList<QByteArray> digests;
    if (!db)
        return digests;
    SqliteStatement query(db, "SELECT digest FROM decisions WHERE decided_at_ms >= ? AND decided_at_ms < ? "
                              "AND outcome = 'DECIDED' AND (certificate IS NULL OR proof IS NULL) "
                              "ORDER BY decided_at_ms LIMIT ?");
    query.bind(1, fromMs);
    query.bind(2, toMs);
    query.bind(3, qint64(limit));
    while (query.step() == SQLITE_ROW)
        digests.append(query.blob(0));
    return digests;
}

qint64 HistoryCache::maxStoredSeq(const QString &node) const
{
    return queryInteger(db, "SELECT COALESCE(MAX(seq), 0) FROM events WHERE node = ?", node);
}

qint64 HistoryCache::eventCount(const QString &node) const
{
    return node.isEmpty() ? queryInteger(db, "SELECT count(*) FROM events")
                          : queryInteger(db, "SELECT count(*) FROM events WHERE node = ?", node);
}

AlertRow HistoryCache::gapAlert(const QString &node, qint64 fromSeq, qint64 toSeq)
{
    AlertRow alert;
    alert.kind = QStringLiteral("gap");
    alert.subject = QStringLiteral("%1:%2-%3").arg(node).arg(fromSeq).arg(toSeq);
    alert.detail = tr("%1 could no longer send events %2 to %3; they are missing from the history")
                       .arg(node)
                       .arg(fromSeq)
                       .arg(toSeq);
    alert.raisedAtMs = nowMs();
    return alert;
}

bool HistoryCache::recordGap(const QString &node, qint64 fromSeq, qint64 toSeq,
                             std::optional<AlertRow> *raised)
{
    if (!db || !statements) {
        problem = tr("the history cache is not open");
        return false;
    }
    if (fromSeq > toSeq) {
        problem = tr("the gap %1-%2 ends before it starts").arg(fromSeq).arg(toSeq);
        return false;
    }
    if (!exec("BEGIN IMMEDIATE", &problem))
        return false;
    SqliteStatement insert(db,
                           "INSERT INTO gaps (node, from_seq, to_seq, noticed_at_ms) VALUES (?, ?, ?, ?)");
    if (!runWith(insert, node, fromSeq, toSeq, nowMs())) {
        problem = sqliteError();
        exec("ROLLBACK");
        return false;
    }
    const AlertRow gap = gapAlert(node, fromSeq, toSeq);
    const std::optional<AlertRow> alert = raiseAlertInTransaction(gap.kind, gap.subject, gap.detail);
    if (!exec("COMMIT", &problem)) {
        exec("ROLLBACK");
        return false;
    }
    if (raised)
        *raised = alert;
    return true;
}

QList<GapRow> HistoryCache::gaps() const
{
    return queryRows(db, "SELECT node, from_seq, to_seq, noticed_at_ms FROM gaps ORDER BY rowid",
                     [](const SqliteStatement &query) {
                         return GapRow{query.text(0), query.integer(1), query.integer(2), query.integer(3)};
                     });
}

// --- Alerts -------------------------------------------------------------------------------

std::optional<AlertRow> HistoryCache::raiseAlertInTransaction(const QString &kind, const QString &subject,
                                                              const QString &detail, bool *stored)
{
    Statements &s = *statements;
    const qint64 now = nowMs();
    auto [id, acknowledged] = s.findAlertState(kind, subject);
    if (id && !acknowledged) {
        // Still open: keep one alert, with the latest detail.
        runWith(s.updateAlertDetail, detail, id);
        return std::nullopt;
    }
    if (!(id ? runWith(s.reopenAlert, detail, now, id)
             : runWith(s.insertAlert, kind, subject, detail, now))) {
        if (stored)
            *stored = false;
        return std::nullopt;
    }
    if (!id)
        id = sqlite3_last_insert_rowid(db);
    runWith(s.insertTrail, id, now, QStringLiteral("console"), QStringLiteral("raised"),
            acknowledged ? tr("raised again after it was acknowledged") : QString());
    AlertRow alert;
    alert.id = id;
    alert.kind = kind;
    alert.subject = subject;
    alert.detail = detail;
    alert.raisedAtMs = now;
    return alert;
}

std::optional<ResolvedAlert>
HistoryCache::resolveAlertInTransaction(const QString &kind, const QString &subject, const QString &note)
{
    Statements &s = *statements;
    const auto [id, acknowledged] = s.findAlertState(kind, subject);
    if (!id || acknowledged)
        return std::nullopt; // none, or an operator closed it already: that stays as it is
    // Closed the way an acknowledgement closes it (acknowledged_by, acknowledged_at_ms, a trail
    // entry), so everything that counts open alerts counts this one as closed.
    const QString who = QStringLiteral("console");
    const qint64 now = nowMs();
    if (!runWith(s.closeAlert, who, now, id) || sqlite3_changes(db) != 1) {
        qCWarning(lcCache) << "cannot resolve alert" << id << sqliteError();
        return std::nullopt;
    }
    if (!runWith(s.insertTrail, id, now, who, QStringLiteral("resolved"), note)) {
        qCWarning(lcCache) << "cannot write the trail of alert" << id << sqliteError();
        return std::nullopt;
    }
    ResolvedAlert resolved;
    resolved.alert.id = id;
    resolved.alert.kind = kind;
    resolved.alert.subject = subject;
    resolved.alert.acknowledgedBy = who;
    resolved.alert.acknowledgedAtMs = now;
    resolved.entry.id = sqlite3_last_insert_rowid(db);
    resolved.entry.alertId = id;
    resolved.entry.atMs = now;
    resolved.entry.who = who;
    resolved.entry.action = QStringLiteral("resolved");
    resolved.entry.note = note;
    if (const std::optional<AlertRow> row = alert(id)) // with its detail and raised_at_ms
        resolved.alert = *row;
    return resolved;
}

template<typename Result, typename Work> std::optional<Result> HistoryCache::inTransaction(Work work)
{
    if (!db || !statements || !exec("BEGIN IMMEDIATE"))
        return std::nullopt;
    std::optional<Result> result = work();
    if (!exec("COMMIT")) {
        exec("ROLLBACK");
        return std::nullopt;
    }
    return result;
}

std::optional<AlertRow> HistoryCache::raiseAlert(const QString &kind, const QString &subject,
                                                 const QString &detail, QString *error)
{
    const auto refuse = [&](const QString &why) {
        problem = why;
        if (error)
            *error = why;
        return std::optional<AlertRow>();
    };
    if (error)
        error->clear();
    if (!db || !statements)
        return refuse(tr("the history cache is not open"));
    QString why;
    if (!exec("BEGIN IMMEDIATE", &why))
        return refuse(why);
    bool stored = true;
    const std::optional<AlertRow> alert = raiseAlertInTransaction(kind, subject, detail, &stored);
    if (!stored) {
        why = sqliteError();
        exec("ROLLBACK");
        return refuse(why);
    }
    if (!exec("COMMIT", &why)) {
        exec("ROLLBACK");
        return refuse(why);
    }
    return alert;
}

std::optional<ResolvedAlert> HistoryCache::resolveAlert(const QString &kind, const QString &subject,
                                                        const QString &note)
{
    return inTransaction<ResolvedAlert>([&] { return resolveAlertInTransaction(kind, subject, note); });
}

bool HistoryCache::acknowledgeAlert(qint64 id, const QString &who, const QString &note, QString *error)
{
    const auto refuse = [&](const QString &why) {
        if (error)
            *error = why;
        return false;
    };
    if (!db || !statements)
        return refuse(tr("the history cache is not open"));
    if (who.trimmed().isEmpty())
        return refuse(tr("an acknowledgement must name who made it"));
    const std::optional<AlertRow> current = alert(id);
    if (!current)
        return refuse(tr("there is no alert %1").arg(id));
    if (current->isAcknowledged())
        return refuse(
            tr("alert %1 was already acknowledged by %2 at %3")
                .arg(id)
                .arg(current->acknowledgedBy,
                     QDateTime::fromMSecsSinceEpoch(current->acknowledgedAtMs).toString(Qt::ISODateWithMs)));
    if (!exec("BEGIN IMMEDIATE"))
        return refuse(sqliteError());
    const qint64 now = nowMs();
    SqliteStatement update(db, "UPDATE alerts SET acknowledged_by = ?, acknowledged_at_ms = ? WHERE id = ?");
    if (!runWith(update, who, now, id) ||
        !runWith(statements->insertTrail, id, now, who, QStringLiteral("acknowledged"), note) ||
        !exec("COMMIT")) {
        const QString why = sqliteError();
        exec("ROLLBACK");
        return refuse(why);
    }
    return true;
}

namespace {
AlertRow readAlert(const SqliteStatement &query)
{
    AlertRow alert;
    alert.id = query.integer(0);
    alert.kind = query.text(1);
    alert.subject = query.text(2);
    alert.detail = query.text(3);
    alert.raisedAtMs = query.integer(4);
    alert.acknowledgedBy = query.text(5);
    alert.acknowledgedAtMs = query.integer(6);
    return alert;
}
constexpr const char *kAlertColumns =
    "SELECT id, kind, subject, detail, raised_at_ms, acknowledged_by, acknowledged_at_ms FROM alerts";
} // namespace

QList<AlertRow> HistoryCache::alerts(bool openOnly) const
{
    return queryRows(
        db, QByteArray(kAlertColumns) + (openOnly ? " WHERE acknowledged_by = ''" : "") + " ORDER BY id",
        readAlert);
}

std::optional<AlertRow> HistoryCache::alert(qint64 id) const
{
    return queryRow(db, QByteArray(kAlertColumns) + " WHERE id = ?", readAlert, id);
}

QList<AlertTrailEntry> HistoryCache::alertTrail(qint64 alertId) const
{
    const auto readEntry = [](const SqliteStatement &query) {
        return AlertTrailEntry{query.integer(0), query.integer(1), query.integer(2),
                               query.text(3),    query.text(4),    query.text(5)};
    };
    if (alertId)
        return queryRows(db,
                         "SELECT id, alert_id, at_ms, who, action, note FROM alert_trail WHERE alert_id = ? "
                         "ORDER BY id",
                         readEntry, alertId);
    return queryRows(db, "SELECT id, alert_id, at_ms, who, action, note FROM alert_trail ORDER BY id",
                     readEntry);
}

void HistoryCache::setLagThresholds(qint64 blocks, qint64 ms)
{
    lagBlocks = qMax<qint64>(0, blocks);
    lagMs = qMax<qint64>(0, ms);
}

bool HistoryCache::setCertificate(const QByteArray &digest, const QByteArray &decisionBytes)
{
    if (!db)
        return false;
    SqliteStatement update(db, "UPDATE decisions SET certificate = ? WHERE digest = ?");
    return runWith(update, decisionBytes, digest) && sqlite3_changes(db) > 0;
}

bool HistoryCache::storeCertificates(const QList<FetchedCertificate> &certificates)
{
    if (!db || !exec("BEGIN IMMEDIATE"))
        return false;
    // A certificate fetched without a proof (not sealed yet) keeps a proof stored earlier.
    SqliteStatement update(db, "UPDATE decisions SET certificate = ?, proof = COALESCE(?, proof), "
                               "height = CASE WHEN ? > 0 THEN ? ELSE height END WHERE digest = ?");
    for (const FetchedCertificate &fetched : certificates) {
        if (!runWith(update, fetched.decision, fetched.proof, fetched.height, fetched.height,
                     fetched.digest)) {
            exec("ROLLBACK");
            return false;
        }
    }
    if (!exec("COMMIT")) {
        exec("ROLLBACK");
        return false;
    }
    return true;
}

bool HistoryCache::setDecisionHeight(const QByteArray &digest, qint64 height)
{
    if (!db)
        return false;
    SqliteStatement update(db, "UPDATE decisions SET height = ? WHERE digest = ?");
    return runWith(update, height, digest) && sqlite3_changes(db) > 0;
}

// --- Feed queries -------------------------------------------------------------------------

namespace {

constexpr const char *kFeedColumns = "SELECT id, node, seq, at_ms, kind, digest, ticket, version, branch, "
                                     "target, state, verdict, amount_minor, currency";

// Conditions and their values, bound in order.
struct Where
{
    QByteArrayList conditions;
    QList<std::variant<qint64, QString, QByteArray>> values;

    void add(const char *condition, auto value)
    {
        conditions << QByteArray(condition);
        values.append(value);
    }
    QByteArray sql() const
    {
        return conditions.isEmpty() ? QByteArray() : QByteArrayLiteral(" WHERE ") + conditions.join(" AND ");
    }
    void bind(SqliteStatement &statement) const
    {
        for (const auto &value : values)
            std::visit([&](const auto &v) { statement.add(v); }, value);
    }
};

// A table paged in key order (the feed, the decisions): what its queries differ in. The key's
// columns are all in an index, so skipping rows to find where a page starts reads no table rows.
struct PagedTable
{
    const char *columns;      // "SELECT <a row's columns>"
    const char *keyColumns;   // "SELECT <the key's columns>"
    const char *from;         // " FROM <table>"
    const char *order;        // " ORDER BY <key>"
    const char *reverseOrder; // the same, descending

    const char *orderBy(bool descending) const { return descending ? reverseOrder : order; }

    qint64 count(sqlite3 *db, const Where &where) const
    {
        SqliteStatement query(db, QByteArrayLiteral("SELECT count(*)") + from + where.sql());
        where.bind(query);
        return query.step() == SQLITE_ROW ? query.integer(0) : 0;
    }

    // Up to `limit` rows in key order: read from the other end when descending, then turned around.
    template<typename ReadRow>
    auto read(sqlite3 *db, const Where &where, bool descending, int limit, ReadRow readRow) const
    {
        SqliteStatement query(db,
                              QByteArray(columns) + from + where.sql() + orderBy(descending) + " LIMIT ?");
        where.bind(query);
        query.add(qint64(limit));
        auto rows = readRows(query, readRow);
        if (descending)
            std::reverse(rows.begin(), rows.end());
        return rows;
    }

    // Steps `seek` to the key `skip` rows from the start (or from the end); false if none.
    bool seek(SqliteStatement &seek, sqlite3 *db, const Where &where, bool fromEnd, qint64 skip) const
    {
        seek.prepare(db,
                     QByteArray(keyColumns) + from + where.sql() + orderBy(fromEnd) + " LIMIT 1 OFFSET ?");
        where.bind(seek);
        seek.add(skip);
        return seek.step() == SQLITE_ROW;
    }
};

// A page known by its offset alone, with no neighbour's key to seek from: skip through the
// index to its first key, from the end when that is nearer. seek(fromEnd, skip) finds that key
// and narrows the range to it (false: no such row); read(descending, limit) reads the page.
template<typename Seek, typename Read> auto pageAtOffset(const PageRequest &page, Seek seek, Read read)
{
    const bool fromEnd = page.total > 0 && page.offset > page.total / 2;
    const qint64 skip = fromEnd ? page.total - page.offset - page.limit : page.offset;
    if (fromEnd && skip < 0)
        return read(true, int(page.total - page.offset)); // the last, partial page
    if (skip != 0 && !seek(fromEnd, skip))
        return decltype(read(false, 0))();
    return read(fromEnd, page.limit);
}

constexpr PagedTable kFeedPages{kFeedColumns, "SELECT id", " FROM feed", " ORDER BY id", " ORDER BY id DESC"};

// The filter's conditions. byId: the caller walks the feed in id order within an id range it
// derived from the time range, so the time conditions must not steer SQLite to the at_ms
// index (the unary + keeps them as plain filters); counts still use that index.
Where feedWhere(const FeedFilter &filter, bool byId = false)
{
    Where where;
    if (!filter.ticket.isEmpty())
        where.add("ticket = ?", filter.ticket);
    if (!filter.branch.isEmpty())
        where.add("branch = ?", filter.branch);
    if (!filter.target.isEmpty())
        where.add("target = ?", filter.target);
    if (filter.state >= 0)
        where.add("state = ?", qint64(filter.state));
    if (filter.fromMs > 0)
        where.add(byId ? "+at_ms >= ?" : "at_ms >= ?", filter.fromMs);
    if (filter.toMs > 0)
        where.add(byId ? "+at_ms <= ?" : "at_ms <= ?", filter.toMs);
    return where;
}

FeedRow readFeed(const SqliteStatement &query)
{
    FeedRow row;
    row.id = query.integer(0);
    row.node = query.text(1);
    row.seq = query.integer(2);
    row.atMs = query.integer(3);
    row.kind = int(query.integer(4));
    row.digest = query.blob(5);
    row.ticket = query.text(6);
    row.version = query.integer(7);
    row.branch = query.text(8);
    row.target = query.text(9);
    row.state = int(query.integer(10));
    row.verdict = query.text(11);
    row.amountMinor = query.integer(12);
    row.currency = query.text(13);
    return row;
}

} // namespace

qint64 HistoryCache::maxFeedId() const
{
    return queryInteger(db, "SELECT COALESCE(MAX(id), 0) FROM feed");
}

bool HistoryCache::feedIsDense() const
{
    // Feed rows are only ever appended, and SQLite gives each new row max(id) + 1, so the ids
    // are 1..N without holes: then "row k" is simply id k + 1. Checked once, then kept true by
    // construction (nothing deletes feed rows).
    if (!denseChecked) {
        SqliteStatement query(db,
                              "SELECT (SELECT count(*) FROM feed) = (SELECT COALESCE(MAX(id), 0) FROM feed)");
        dense = query.step() == SQLITE_ROW && query.integer(0) == 1;
        denseChecked = true;
    }
    return dense;
}

CountResult HistoryCache::feedCount(const FeedFilter &filter, qint64 afterId, qint64 upperId) const
{
    CountResult result;
    if (!db)
        return result;
    result.upper = upperId > 0 ? upperId : maxFeedId();
    if (result.upper <= afterId)
        return result;
    if (filter.isEmpty() && feedIsDense()) {
        result.count = result.upper - afterId;
        return result;
    }
    Where where = feedWhere(filter);
    where.add("id > ?", afterId);
    where.add("id <= ?", result.upper);
    result.count = kFeedPages.count(db, where);
    return result;
}

QList<FeedRow> HistoryCache::feedPage(const FeedFilter &filter, const PageRequest &page) const
{
    if (!db || page.limit <= 0 || page.offset < 0)
        return {};
    // The ids allowed, merged into one range (lowId exclusive, highId inclusive, 0 = open) so
    // the query seeks straight to it.
    qint64 lowId = 0, highId = page.upperId;
    const auto below = [&](qint64 id) {
        highId = highId > 0 ? qMin(highId, id) : id;
    };
    const auto above = [&](qint64 id) {
        lowId = qMax(lowId, id);
    };
    // A time range becomes the id range its rows lie in (the feed is in arrival order, so
    // that range is tight), walked in id order: no sort of every row in the time range.
    const bool byId = filter.fromMs > 0 || filter.toMs > 0;
    if (byId) {
        const auto [first, last] = feedIdsInTime(filter.fromMs, filter.toMs);
        if (first == 0)
            return {};
        above(first - 1);
        below(last);
    }
    const auto conditions = [&] {
        Where where = feedWhere(filter, byId);
        if (lowId > 0)
            where.add("id > ?", lowId);
        if (highId > 0)
            where.add("id <= ?", highId);
        return where;
    };
    const auto read = [&](bool descending, int limit) {
        return kFeedPages.read(db, conditions(), descending, limit, readFeed);
    };
    if (page.afterId > 0) {
        above(page.afterId);
        return read(false, page.limit);
    }
    if (page.beforeId > 0) {
        below(page.beforeId - 1);
        return read(true, page.limit);
    }
    if (filter.isEmpty() && feedIsDense()) {
        above(page.offset);
        return read(false, page.limit);
    }
    // Find the first row's id through the narrowest index, then seek to it.
    const auto seek = [&](bool fromEnd, qint64 skip) {
        SqliteStatement anchor;
        if (!kFeedPages.seek(anchor, db, conditions(), fromEnd, skip))
            return false;
        if (fromEnd)
            below(anchor.integer(0));
        else
            above(anchor.integer(0) - 1);
        return true;
    };
    return pageAtOffset(page, seek, read);
}

std::pair<qint64, qint64> HistoryCache::feedIdsInTime(qint64 fromMs, qint64 toMs) const
{
    // Remembered per range; rows are only ever appended, so only newer ids need a look.
    const qint64 newest = maxFeedId();
    TimeIds &known = timeIds[{fromMs, toMs}];
    if (known.asOf == newest)
        return {known.first, known.last};
    Where where;
    where.add("id > ?", known.asOf);
    if (fromMs > 0)
        where.add("at_ms >= ?", fromMs);
    if (toMs > 0)
        where.add("at_ms <= ?", toMs);
    SqliteStatement query(db, QByteArrayLiteral("SELECT min(id), max(id) FROM feed") + where.sql());
    where.bind(query);
    if (query.step() == SQLITE_ROW && !query.isNull(0)) {
        if (known.first == 0)
            known.first = query.integer(0);
        known.last = query.integer(1);
    }
    known.asOf = newest;
    const std::pair<qint64, qint64> result{known.first, known.last};
    if (timeIds.size() > 64) // filters come and go; keep a few
        timeIds.clear();
    return result;
}

QList<FeedRow> HistoryCache::feedForDigest(const QByteArray &digest) const
{
    return queryRows(db, QByteArray(kFeedColumns) + " FROM feed WHERE digest = ? ORDER BY id", readFeed,
                     digest);
}

// --- Decision queries ---------------------------------------------------------------------

namespace {

constexpr const char *kDecisionColumns =
    "SELECT digest, node, ticket, version, branch, amount_minor, currency, outcome, state, count, n, q, "
    "missing, "
    "equivocating, histogram, issued_at_ms, decided_at_ms, latency_ms, height";

constexpr PagedTable kDecisionPages{kDecisionColumns, "SELECT decided_at_ms, digest", " FROM decisions",
                                    " ORDER BY decided_at_ms, digest",
                                    " ORDER BY decided_at_ms DESC, digest DESC"};

// decided_at_ms bounds, inclusive, 0 = open. Every bound on that column is merged into one
// range, so SQLite seeks the index to it (given two upper bounds it may use only one, and
// then walks the rows between them).
struct TimeRange
{
    qint64 low = 0, high = 0;
    void atLeast(qint64 ms)
    {
        if (ms > 0 && (low == 0 || ms > low))
            low = ms;
    }
    void atMost(qint64 ms)
    {
        if (ms > 0 && (high == 0 || ms < high))
            high = ms;
    }
};

Where decisionWhere(const DecisionFilter &filter, TimeRange range = {})
{
    Where where;
    if (!filter.ticket.isEmpty())
        where.add("ticket = ?", filter.ticket);
    if (!filter.outcome.isEmpty())
        where.add("outcome = ?", filter.outcome);
    range.atLeast(filter.fromMs);
    range.atMost(filter.toMs);
    if (range.low > 0)
        where.add("decided_at_ms >= ?", range.low);
    if (range.high > 0)
        where.add("decided_at_ms <= ?", range.high);
    return where;
}

DecisionRow readDecision(const SqliteStatement &query, bool withCertificate)
{
    DecisionRow row;
    row.digest = query.blob(0);
    row.node = query.text(1);
    row.ticket = query.text(2);
    row.version = query.integer(3);
    row.branch = query.text(4);
    row.amountMinor = query.integer(5);
    row.currency = query.text(6);
    row.outcome = query.text(7);
    row.state = int(query.integer(8));
    row.count = int(query.integer(9));
    row.n = int(query.integer(10));
    row.q = int(query.integer(11));
    row.missing = int(query.integer(12));
    row.equivocating = int(query.integer(13));
    row.histogram = QJsonDocument::fromJson(query.text(14).toUtf8()).object();
    row.issuedAtMs = query.integer(15);
    row.decidedAtMs = query.integer(16);
    row.latencyMs = query.integer(17);
    row.height = query.integer(18);
    if (withCertificate)
        row.certificate = query.blob(19);
    return row;
}

// Pages leave the certificate out.
DecisionRow readPageDecision(const SqliteStatement &query)
{
    return readDecision(query, false);
}

} // namespace

qint64 HistoryCache::maxDecidedAtMs() const
{
    return queryInteger(db, "SELECT COALESCE(MAX(decided_at_ms), 0) FROM decisions");
}

CountResult HistoryCache::decisionCount(const DecisionFilter &filter, qint64 afterMs, qint64 upperMs) const
{
    CountResult result;
    if (!db)
        return result;
    const qint64 newest = maxDecidedAtMs();
    result.upper = upperMs > 0 ? upperMs : newest;
    if (result.upper <= afterMs && afterMs > 0)
        return result;
    TimeRange range;
    if (afterMs > 0)
        range.atLeast(afterMs + 1);
    // Without conditions SQLite counts the smallest index, the fastest count it has.
    if (result.upper < newest)
        range.atMost(result.upper);
    result.count = kDecisionPages.count(db, decisionWhere(filter, range));
    return result;
}

QList<DecisionRow> HistoryCache::decisionsPage(const DecisionFilter &filter, const PageRequest &page) const
{
    if (!db || page.limit <= 0 || page.offset < 0)
        return {};
    TimeRange range;
    range.atMost(page.upperMs);
    // Rows strictly after or before a (decided_at_ms, digest) key; the plain bound on
    // decided_at_ms beside it is what lets SQLite start the index scan at the key.
    struct Key
    {
        const char *condition = nullptr;
        qint64 ms = 0;
        QByteArray digest;
    } key;
    const auto conditions = [&] {
        Where where = decisionWhere(filter, range);
        if (key.condition) {
            where.add(key.condition, key.ms);
            where.values.append(key.digest);
        }
        return where;
    };
    const auto read = [&](bool descending, int limit) {
        return kDecisionPages.read(db, conditions(), descending, limit, readPageDecision);
    };
    if (!page.afterDigest.isEmpty()) {
        key = {"(decided_at_ms, digest) > (?, ?)", page.afterMs, page.afterDigest};
        range.atLeast(page.afterMs);
        return read(false, page.limit);
    }
    if (!page.beforeDigest.isEmpty()) {
        key = {"(decided_at_ms, digest) < (?, ?)", page.beforeMs, page.beforeDigest};
        range.atMost(page.beforeMs);
        return read(true, page.limit);
    }
    // Skip through the index alone (it holds decided_at_ms and the digest), then seek.
    const auto seek = [&](bool fromEnd, qint64 skip) {
        SqliteStatement anchor;
        if (!kDecisionPages.seek(anchor, db, conditions(), fromEnd, skip))
            return false;
        const qint64 anchorMs = anchor.integer(0);
        if (fromEnd) {
            key = {"(decided_at_ms, digest) <= (?, ?)", anchorMs, anchor.blob(1)};
            range.atMost(anchorMs);
        } else {
            key = {"(decided_at_ms, digest) >= (?, ?)", anchorMs, anchor.blob(1)};
            range.atLeast(anchorMs);
        }
        return true;
    };
    return pageAtOffset(page, seek, read);
}

bool HistoryCache::forEachDecision(const DecisionFilter &filter, bool withCertificates,
                                   const std::function<bool(const DecisionRow &)> &callback) const
{
    if (!db)
        return false;
    const Where where = decisionWhere(filter);
    SqliteStatement query(db, QByteArray(kDecisionColumns) + (withCertificates ? ", certificate" : "") +
                                  kDecisionPages.from + where.sql() + kDecisionPages.order);
    where.bind(query);
    int result;
    while ((result = query.step()) == SQLITE_ROW) {
        if (!callback(readDecision(query, withCertificates)))
            return true;
    }
    return result == SQLITE_DONE;
}

std::optional<DecisionRow> HistoryCache::decision(const QByteArray &digest) const
{
    return queryRow(
        db, QByteArray(kDecisionColumns) + ", certificate, proof FROM decisions WHERE digest = ?",
        [](const SqliteStatement &query) {
            DecisionRow row = readDecision(query, true);
            row.proof = query.blob(20);
            return row;
        },
        digest);
}

QList<ConfirmationRow> HistoryCache::confirmations(const QByteArray &digest) const
{
    return queryRows(
        db,
        "SELECT digest, target, state, verdict, at_ms, confirmation FROM confirmations "
        "WHERE digest = ? ORDER BY target, state",
        [](const SqliteStatement &query) {
            return ConfirmationRow{query.blob(0), query.text(1),    int(query.integer(2)),
                                   query.text(3), query.integer(4), query.blob(5)};
        },
        digest);
}

QList<BlockRow> HistoryCache::blocks(const QString &node, qint64 fromHeight, int limit) const
{
    if (!db)
        return {};
    Where where;
    if (!node.isEmpty())
        where.add("node = ?", node);
    where.add("height >= ?", fromHeight);
    SqliteStatement query(
        db, QByteArrayLiteral("SELECT node, height, hash, decisions, timestamp_ms FROM blocks") +
                where.sql() + " ORDER BY node, height LIMIT ?");
    where.bind(query);
    query.add(qint64(limit));
    return readRows(query, [](const SqliteStatement &row) {
        return BlockRow{row.text(0), row.integer(1), row.blob(2), int(row.integer(3)), row.integer(4)};
    });
}

QList<ReceiverRow> HistoryCache::receivers() const
{
    return queryRows(
        db,
        "SELECT receiver, node, status, acked_height, head_height, lag_blocks, lag_ms, last_error, "
        "last_contact_ms, as_of_ms FROM receivers ORDER BY receiver",
        [](const SqliteStatement &query) {
            return ReceiverRow{query.text(0),    query.text(1),    query.text(2),    query.integer(3),
                               query.integer(4), query.integer(5), query.integer(6), query.text(7),
                               query.integer(8), query.integer(9)};
        });
}

} // namespace ticketsync
