#pragma once

#include <QString>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

struct sqlite3;

namespace ticketsync {

// Checkpoints a WAL database on a thread of its own, so the thread that commits never waits
// while a checkpoint copies pages into the database file and flushes it. It takes the place of
// SQLite's automatic checkpoint on the connection it is attached to: a commit that leaves at
// least kPagesPerCheckpoint pages in the WAL wakes the thread, which checkpoints PASSIVE
// through a connection of its own. Should the WAL still grow to kPagesInline pages (the thread
// cannot keep up, or a reader holds old frames), the committing thread checkpoints itself, as
// SQLite would have, so the WAL stays bounded either way.
class WalCheckpointer
{
public:
    static constexpr int kPagesPerCheckpoint = 1000; // SQLite's own default
    static constexpr int kPagesInline = 8 * kPagesPerCheckpoint;

    // db: an open connection in WAL mode to path. Detach (destroy) before closing db.
    static std::unique_ptr<WalCheckpointer> attach(sqlite3 *db, const QString &path, QString *error);
    ~WalCheckpointer();
    WalCheckpointer(const WalCheckpointer &) = delete;
    WalCheckpointer &operator=(const WalCheckpointer &) = delete;

    // Checkpoints completed on the thread, and those the committing thread had to run itself.
    qint64 backgroundCheckpoints() const;
    qint64 inlineCheckpoints() const;

private:
    WalCheckpointer() = default;
    static int onCommit(void *self, sqlite3 *db, const char *database, int pagesInWal);
    void run();

    sqlite3 *committing = nullptr;
    sqlite3 *own = nullptr;
    QString filePath;
    std::thread thread;
    mutable std::mutex mutex;
    std::condition_variable wake;
    bool requested = false;
    bool stopping = false;
    qint64 background = 0;
    qint64 inlined = 0;
};

} // namespace ticketsync
