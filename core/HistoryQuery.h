#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

struct sqlite3;

namespace ticketsync {

// One page of the decision history the API serves (docs/api.md, `history`): newest first,
// filtered by any of ticket, time range and outcome.
struct HistoryQuery
{
    static constexpr int kMaxLimit = 1000;

    QString ticketId;    // empty: any
    qint64 fromMs = 0;   // inclusive, 0: open
    qint64 toMs = 0;     // exclusive, 0: open
    QString outcome;     // "DECIDED", "UNDETERMINED" or empty
    qint64 beforeId = 0; // paging: rows older than this id, 0 for the newest
    int limit = 100;     // 1 to kMaxLimit

    // Empty if the query can be answered as it stands; otherwise names the first field out of
    // range by its API name. Nothing is cut to fit: a pager that asked for page 5000 and got page
    // 1000 would never know.
    QString check() const;
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

// One page of the query from a store: `select` yields id, digest, ticket, version, outcome,
// state, at_ms and height, and ends in a WHERE clause the filters are added to. An empty list
// with *error set, naming `filePath`, if the query failed, or the query's check() problem.
QList<HistoryRow> readHistory(sqlite3 *db, const QString &filePath, const char *select,
                              const HistoryColumns &columns, const HistoryQuery &query, QString *error);

} // namespace ticketsync
