#pragma once

#include <QByteArray>
#include <QString>

namespace ticketsync {

class SqliteStatement;

// One page of the decision history the API serves (docs/api.md, `history`): newest first,
// filtered by any of ticket, time range and outcome.
struct HistoryQuery
{
    QString ticketId;    // empty: any
    qint64 fromMs = 0;   // inclusive, 0: open
    qint64 toMs = 0;     // exclusive, 0: open
    QString outcome;     // "DECIDED", "UNDETERMINED" or empty
    qint64 beforeId = 0; // paging: rows older than this id, 0 for the newest
    int limit = 100;     // at most 1000
};

// A row of that history. The id orders rows within the store that answered.
struct HistoryRow
{
    qint64 id = 0;
    QByteArray writeOffDigest;
    QString ticketId;
    quint32 version = 0;
    QString outcome;
    int state = 0;
    qint64 atMs = 0;
    quint64 height = 0; // 0 until the decision is in a block
};

// How a store names the columns a query filters on; an empty outcome column means the store
// holds one outcome only and the caller has answered a query for another.
struct HistoryColumns
{
    const char *id;
    const char *ticket;
    const char *atMs;
    const char *outcome;
};

// `select` (ending in a WHERE clause) with the query's filters, newest first, one page; then
// the statement prepared from it takes the query's values in the same order.
QByteArray historySql(const char *select, const HistoryColumns &columns, const HistoryQuery &query);
void bindHistory(SqliteStatement &statement, const HistoryColumns &columns, const HistoryQuery &query);

} // namespace ticketsync
