#pragma once

#include <QByteArray>
#include <QString>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace ticketsync {

class SqliteStatementCache;

// One prepared SQLite statement, finalized on destruction. Callers compare step() with
// SQLITE_ROW / SQLITE_DONE from <sqlite3.h>; this header keeps SQLite out of core's interface.
// A statement that failed to prepare is not valid(): step() then returns SQLITE_MISUSE, binds
// do nothing and the column getters return zero or null values.
class SqliteStatement
{
public:
    SqliteStatement() = default;
    SqliteStatement(sqlite3 *db, const char *sql) { prepare(db, sql); }
    SqliteStatement(sqlite3 *db, const QByteArray &sql) { prepare(db, sql); }
    // Borrows the cache's prepared copy of sql, a string literal, and gives it back reset.
    SqliteStatement(SqliteStatementCache &cache, const char *sql);
    ~SqliteStatement();
    SqliteStatement(const SqliteStatement &) = delete;
    SqliteStatement &operator=(const SqliteStatement &) = delete;

    // Finalizes any previous statement and prepares sql (NUL-terminated, or the whole array).
    bool prepare(sqlite3 *db, const char *sql);
    bool prepare(sqlite3 *db, const QByteArray &sql);
    bool valid() const { return statement != nullptr; }
    // The connection's latest error message, for a failed prepare or step.
    QString errorText() const;

    // Binds copy the value. A null QByteArray binds an empty blob; bindBlobOrNull() binds SQL NULL.
    void bind(int index, qint64 value);
    void bind(int index, const QByteArray &blob);
    void bind(int index, const QString &text);
    void bindBlobOrNull(int index, const QByteArray &blob);
    // UTF-8 text as it is, without a round trip through QString.
    void bindUtf8(int index, const QByteArray &utf8);
    // Without a copy: the bytes must stay alive and unchanged until reset(), which unbinds them.
    void bindNoCopy(int index, const QByteArray &blob);
    void bindUtf8NoCopy(int index, const QByteArray &utf8);

    // Positional binds: each takes the next parameter, starting at 1 after prepare() or reset().
    // Here a null QByteArray binds SQL NULL (an absent certificate or confirmation).
    void add(qint64 value) { bind(next++, value); }
    void add(const QString &text) { bind(next++, text); }
    void add(const QByteArray &blob) { bindBlobOrNull(next++, blob); }
    void skip() { ++next; }

    int step();
    // Steps once; true unless SQLite reported an error.
    bool run();
    // Makes the statement ready to run again and clears every binding.
    void reset();

    qint64 integer(int column) const;
    bool isNull(int column) const;
    // A null QByteArray / QString for SQL NULL (and for an empty blob).
    QByteArray blob(int column) const;
    QString text(int column) const;

private:
    void release(); // finalizes the statement, or gives a borrowed one back

    sqlite3 *db = nullptr;
    sqlite3_stmt *statement = nullptr;
    int next = 1;
    SqliteStatementCache *lender = nullptr;
    const char *lentSql = nullptr;
};

// The prepared statements of one connection, kept for its life. Preparing a statement costs
// more than running a small insert, and a node runs the same few statements thousands of
// times a second. Keyed by the address of the SQL literal. A statement in use is not shared:
// a nested use of the same SQL prepares a second copy.
class SqliteStatementCache
{
public:
    explicit SqliteStatementCache(sqlite3 *db = nullptr) : db(db) {}
    ~SqliteStatementCache() { clear(); }
    SqliteStatementCache(const SqliteStatementCache &) = delete;
    SqliteStatementCache &operator=(const SqliteStatementCache &) = delete;

    // errorContext, the file's path, starts every error message run() gives.
    void setDatabase(sqlite3 *connection, const QString &errorContext = {});
    // Finalizes every idle statement; call before closing the connection.
    void clear();
    // Runs a statement without results, such as BEGIN IMMEDIATE or COMMIT.
    bool run(const char *sql, QString *error);

private:
    friend class SqliteStatement;
    sqlite3_stmt *take(const char *sql);
    void give(const char *sql, sqlite3_stmt *statement);

    sqlite3 *db = nullptr;
    QString context;
    std::unordered_map<const char *, sqlite3_stmt *> idle;
};

} // namespace ticketsync
