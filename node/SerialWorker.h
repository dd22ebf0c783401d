#pragma once

#include <QObject>
#include <QThread>
#include <functional>

namespace ticketsync {

// Runs jobs one after another on a thread of its own and hands each result back, in the order
// the jobs were given, on the thread that owns the worker. The coordinator verifies signatures
// here so that its event loop, the one serial stage of the consortium, keeps tallying, sealing
// and answering while the next batch is checked, and uses a second core when there is one.
class SerialWorker : public QObject
{
public:
    explicit SerialWorker(const QString &threadName, QObject *parent = nullptr);
    // Waits for the job that is running; jobs not started and results not delivered are dropped.
    ~SerialWorker() override;

    // work runs on the worker's thread and must touch only what it captured; done runs on the
    // owner's thread, unless the worker was destroyed first.
    template<typename Result> void run(std::function<Result()> work, std::function<void(Result)> done)
    {
        ++queued;
        QMetaObject::invokeMethod(
            context,
            [this, work = std::move(work), done = std::move(done)]() mutable {
                Result result = work();
                QMetaObject::invokeMethod(
                    this,
                    [this, done = std::move(done), result = std::move(result)]() mutable {
                        --queued;
                        done(std::move(result));
                    },
                    Qt::QueuedConnection);
            },
            Qt::QueuedConnection);
    }

    // Jobs given and not yet handed back.
    int pending() const { return queued; }

private:
    QThread thread;
    QObject *context = nullptr; // lives in thread
    int queued = 0;
};

} // namespace ticketsync
