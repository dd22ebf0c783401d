#pragma once

#include <QByteArray>
#include <QString>

struct sqlite3;
struct sqlite3_stmt;

namespace ticketsync {

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
    sqlite3 *db = nullptr;
    sqlite3_stmt *statement = nullptr;
    int next = 1;
};

} // namespace ticketsync
