#include "SqliteStatement.h"

#include <sqlite3.h>

namespace ticketsync {

SqliteStatement::SqliteStatement(SqliteStatementCache &cache, const char *sql)
    : db(cache.db), statement(cache.take(sql))
{
    if (statement) {
        lender = &cache;
        lentSql = sql;
    }
}

SqliteStatement::~SqliteStatement()
{
    release();
}

bool SqliteStatement::prepare(sqlite3 *connection, const char *sql)
{
    release();
    statement = nullptr;
    next = 1;
    db = connection;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK)
        return true;
    sqlite3_finalize(statement);
    statement = nullptr;
    return false;
}

bool SqliteStatement::prepare(sqlite3 *connection, const QByteArray &sql)
{
    release();
    statement = nullptr;
    next = 1;
    db = connection;
    if (sqlite3_prepare_v2(db, sql.constData(), int(sql.size()), &statement, nullptr) == SQLITE_OK)
        return true;
    sqlite3_finalize(statement);
    statement = nullptr;
    return false;
}

void SqliteStatement::release()
{
    if (lender) {
        sqlite3_reset(statement);
        sqlite3_clear_bindings(statement);
        lender->give(lentSql, statement);
        lender = nullptr;
        lentSql = nullptr;
    } else {
        sqlite3_finalize(statement);
    }
    statement = nullptr;
}

QString SqliteStatement::errorText() const
{
    return db ? QString::fromUtf8(sqlite3_errmsg(db)) : QStringLiteral("not open");
}

void SqliteStatement::bind(int index, qint64 value)
{
    sqlite3_bind_int64(statement, index, value);
}

void SqliteStatement::bind(int index, const QByteArray &blob)
{
    sqlite3_bind_blob(statement, index, blob.constData(), int(blob.size()), SQLITE_TRANSIENT);
}

void SqliteStatement::bind(int index, const QString &text)
{
    bindUtf8(index, text.toUtf8());
}

void SqliteStatement::bindBlobOrNull(int index, const QByteArray &blob)
{
    if (blob.isNull())
        sqlite3_bind_null(statement, index);
    else
        bind(index, blob);
}

void SqliteStatement::bindUtf8(int index, const QByteArray &utf8)
{
    sqlite3_bind_text(statement, index, utf8.constData(), int(utf8.size()), SQLITE_TRANSIENT);
}

void SqliteStatement::bindNoCopy(int index, const QByteArray &blob)
{
    sqlite3_bind_blob(statement, index, blob.constData(), int(blob.size()), SQLITE_STATIC);
}

void SqliteStatement::bindUtf8NoCopy(int index, const QByteArray &utf8)
{
    sqlite3_bind_text(statement, index, utf8.constData(), int(utf8.size()), SQLITE_STATIC);
}

int SqliteStatement::step()
{
    return statement ? sqlite3_step(statement) : SQLITE_MISUSE;
}

bool SqliteStatement::run()
{
    const int result = step();
    return result == SQLITE_DONE || result == SQLITE_ROW;
}

void SqliteStatement::reset()
{
    next = 1;
    if (!statement)
        return;
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
}

qint64 SqliteStatement::integer(int column) const
{
    return sqlite3_column_int64(statement, column);
}

bool SqliteStatement::isNull(int column) const
{
    return sqlite3_column_type(statement, column) == SQLITE_NULL;
}

QByteArray SqliteStatement::blob(int column) const
{
    const void *data = sqlite3_column_blob(statement, column);
    return data ? QByteArray(static_cast<const char *>(data), sqlite3_column_bytes(statement, column))
                : QByteArray();
}

QString SqliteStatement::text(int column) const
{
    const auto *data = reinterpret_cast<const char *>(sqlite3_column_text(statement, column));
    return data ? QString::fromUtf8(data, sqlite3_column_bytes(statement, column)) : QString();
}

void SqliteStatementCache::setDatabase(sqlite3 *connection, const QString &errorContext)
{
    clear();
    db = connection;
    context = errorContext;
}

void SqliteStatementCache::clear()
{
    for (const auto &[sql, statement] : idle)
        sqlite3_finalize(statement);
    idle.clear();
}

sqlite3_stmt *SqliteStatementCache::take(const char *sql)
{
    if (const auto found = idle.find(sql); found != idle.end()) {
        sqlite3_stmt *statement = found->second;
        idle.erase(found);
        return statement;
    }
    sqlite3_stmt *statement = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr) != SQLITE_OK) {
        sqlite3_finalize(statement);
        return nullptr;
    }
    return statement;
}

void SqliteStatementCache::give(const char *sql, sqlite3_stmt *statement)
{
    if (!idle.emplace(sql, statement).second)
        sqlite3_finalize(statement); // a nested copy; one is enough
}

bool SqliteStatementCache::run(const char *sql, QString *error)
{
    SqliteStatement statement(*this, sql);
    if (statement.valid() && statement.run())
        return true;
    if (error)
        *error = context.isEmpty()
                     ? QString::fromUtf8(sqlite3_errmsg(db))
                     : QStringLiteral("%1: %2").arg(context, QString::fromUtf8(sqlite3_errmsg(db)));
    return false;
}

} // namespace ticketsync
