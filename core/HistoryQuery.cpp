#include "HistoryQuery.h"

#include "SqliteStatement.h"

#include <limits>
#include <sqlite3.h>

namespace ticketsync {

namespace {

QByteArray historySql(const char *select, const HistoryColumns &columns, const HistoryQuery &query)
{
    QByteArray sql(select);
    if (!query.ticketId.isEmpty())
        sql += QByteArray(" AND ") + columns.ticket + " = ?";
    if (query.fromMs > 0)
        sql += QByteArray(" AND ") + columns.atMs + " >= ?";
    if (query.toMs > 0)
        sql += QByteArray(" AND ") + columns.atMs + " < ?";
    if (!query.outcome.isEmpty() && *columns.outcome)
        sql += QByteArray(" AND ") + columns.outcome + " = ?";
    if (query.beforeId > 0)
        sql += QByteArray(" AND ") + columns.id + " < ?";
    return sql + " ORDER BY " + columns.id + " DESC LIMIT ?";
}

// The values in the order historySql() placed their filters.
void bindHistory(SqliteStatement &statement, const HistoryColumns &columns, const HistoryQuery &query)
{
    if (!query.ticketId.isEmpty())
        statement.add(query.ticketId);
    if (query.fromMs > 0)
        statement.add(query.fromMs);
    if (query.toMs > 0)
        statement.add(query.toMs);
    if (!query.outcome.isEmpty() && *columns.outcome)
        statement.add(query.outcome);
    if (query.beforeId > 0)
        statement.add(query.beforeId);
    statement.add(qint64(query.limit));
}

} // namespace

QString HistoryQuery::check() const
{
    const qint64 most = std::numeric_limits<qint64>::max();
    auto outOfRange = [](const char *field, qint64 minimum, qint64 maximum) {
        return QStringLiteral("'%1' must be an integer from %2 to %3")
            .arg(QLatin1StringView(field))
            .arg(minimum)
            .arg(maximum);
    };
    if (fromMs < 0)
        return outOfRange("from_ms", 0, most);
    if (toMs < 0)
        return outOfRange("to_ms", 0, most);
    if (fromMs > 0 && toMs > 0 && fromMs >= toMs)
        return QStringLiteral("'from_ms' (%1) must be before 'to_ms' (%2)").arg(fromMs).arg(toMs);
    if (!outcome.isEmpty() && outcome != QLatin1String("DECIDED") && outcome != QLatin1String("UNDETERMINED"))
        return QStringLiteral("'outcome' must be DECIDED or UNDETERMINED");
    if (beforeId < 0)
        return outOfRange("before_id", 0, most);
    if (limit < 1 || limit > kMaxLimit)
        return outOfRange("limit", 1, kMaxLimit);
    return {};
}

QList<HistoryRow> readHistory(sqlite3 *db, const QString &filePath, const char *select,
                              const HistoryColumns &columns, const HistoryQuery &query, QString *error)
{
    if (const QString problem = query.check(); !problem.isEmpty()) {
        if (error)
            *error = problem;
        return {};
    }
    SqliteStatement statement(db, historySql(select, columns, query));
    if (!statement.valid()) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(filePath, QString::fromUtf8(sqlite3_errmsg(db)));
        return {};
    }
    bindHistory(statement, columns, query);
    QList<HistoryRow> rows;
    int rc = SQLITE_DONE;
    while ((rc = statement.step()) == SQLITE_ROW) {
        rows.append({statement.integer(0), statement.blob(1), statement.text(2),
                     quint32(statement.integer(3)), statement.text(4), int(statement.integer(5)),
                     statement.integer(6), quint64(statement.integer(7))});
    }
    if (rc != SQLITE_DONE) {
        if (error)
            *error = QStringLiteral("%1: reading the decision history: %2")
                         .arg(filePath, QString::fromUtf8(sqlite3_errmsg(db)));
        return {};
    }
    return rows;
}

} // namespace ticketsync
