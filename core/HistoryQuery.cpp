#include "HistoryQuery.h"

#include "SqliteStatement.h"

namespace ticketsync {

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
    statement.add(qint64(qBound(1, query.limit, 1000)));
}

} // namespace ticketsync
