#include "SqliteStatement.h"

#include <sqlite3.h>

namespace ticketsync {

SqliteStatement::~SqliteStatement()
{
    sqlite3_finalize(statement);
}

bool SqliteStatement::prepare(sqlite3 *connection, const char *sql)
{
    sqlite3_finalize(statement);
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
    sqlite3_finalize(statement);
    statement = nullptr;
    next = 1;
    db = connection;
    if (sqlite3_prepare_v2(db, sql.constData(), int(sql.size()), &statement, nullptr) == SQLITE_OK)
        return true;
    sqlite3_finalize(statement);
    statement = nullptr;
    return false;
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

} // namespace ticketsync
