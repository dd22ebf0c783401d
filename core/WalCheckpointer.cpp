#include "WalCheckpointer.h"

#include <QLoggingCategory>
#include <sqlite3.h>

Q_LOGGING_CATEGORY(lcCheckpoint, "ticketsync.core.checkpoint", QtWarningMsg)

namespace ticketsync {

std::unique_ptr<WalCheckpointer> WalCheckpointer::attach(sqlite3 *db, const QString &path, QString *error)
{
    std::unique_ptr<WalCheckpointer> checkpointer(new WalCheckpointer);
    checkpointer->committing = db;
    checkpointer->filePath = path;
    // No mutex of SQLite's own: only the checkpoint thread uses this connection.
    if (sqlite3_open_v2(path.toUtf8().constData(), &checkpointer->own,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        if (error)
            *error = QStringLiteral("%1: cannot open a connection for checkpoints: %2")
                         .arg(path, QString::fromUtf8(sqlite3_errmsg(checkpointer->own)));
        return nullptr;
    }
    sqlite3_busy_timeout(checkpointer->own, 5000);
    // A connection learns that a database is in WAL mode when it first reads it; until then a
    // checkpoint through it does nothing.
    if (sqlite3_exec(checkpointer->own, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
        if (error)
            *error = QStringLiteral("%1: cannot prepare checkpoints: %2")
                         .arg(path, QString::fromUtf8(sqlite3_errmsg(checkpointer->own)));
        return nullptr;
    }
    checkpointer->thread = std::thread([raw = checkpointer.get()] { raw->run(); });
    // Replaces the automatic checkpoint, which SQLite implements as this same hook.
    sqlite3_wal_hook(db, &WalCheckpointer::onCommit, checkpointer.get());
    return checkpointer;
}

WalCheckpointer::~WalCheckpointer()
{
    sqlite3_wal_hook(committing, nullptr, nullptr);
    {
        std::lock_guard<std::mutex> lock(mutex);
        stopping = true;
    }
    wake.notify_one();
    if (thread.joinable())
        thread.join();
    sqlite3_close(own);
}

qint64 WalCheckpointer::backgroundCheckpoints() const
{
    std::lock_guard<std::mutex> lock(mutex);
    return background;
}

qint64 WalCheckpointer::inlineCheckpoints() const
{
    std::lock_guard<std::mutex> lock(mutex);
    return inlined;
}

int WalCheckpointer::onCommit(void *self, sqlite3 *db, const char *database, int pagesInWal)
{
    auto *checkpointer = static_cast<WalCheckpointer *>(self);
    if (pagesInWal >= kPagesInline) {
        int logPages = 0;
        int copied = 0;
        if (sqlite3_wal_checkpoint_v2(db, database, SQLITE_CHECKPOINT_PASSIVE, &logPages, &copied) ==
            SQLITE_OK) {
            std::lock_guard<std::mutex> lock(checkpointer->mutex);
            ++checkpointer->inlined;
        }
        qCInfo(lcCheckpoint) << checkpointer->filePath << "checkpointed by the committing thread at"
                             << pagesInWal << "pages in the WAL";
        return SQLITE_OK;
    }
    if (pagesInWal >= kPagesPerCheckpoint) {
        {
            std::lock_guard<std::mutex> lock(checkpointer->mutex);
            checkpointer->requested = true;
        }
        checkpointer->wake.notify_one();
    }
    return SQLITE_OK;
}

void WalCheckpointer::run()
{
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
        wake.wait(lock, [this] { return requested || stopping; });
        if (stopping)
            return;
        requested = false;
        lock.unlock();
        int logPages = 0;
        int copied = 0;
        const int rc = sqlite3_wal_checkpoint_v2(own, "main", SQLITE_CHECKPOINT_PASSIVE, &logPages, &copied);
        // BUSY: the committing thread is checkpointing itself; the next commit asks again.
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            qCWarning(lcCheckpoint) << filePath << "checkpoint failed:" << sqlite3_errmsg(own);
        else if (rc == SQLITE_OK && logPages < 0)
            qCWarning(lcCheckpoint) << filePath << "is not in WAL mode; nothing to checkpoint";
        lock.lock();
        if (rc == SQLITE_OK)
            ++background;
    }
}

} // namespace ticketsync
