#include "BatchWindow.h"

namespace ticketsync {

BatchWindow::BatchWindow(std::function<void()> run) : run(std::move(run))
{
    clock.start();
    lastRunMs = -1000000; // never ran: the first work goes out at once
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &timer, [this] {
        ran();
        this->run();
    });
}

qint64 BatchWindow::sinceLastRunMs() const
{
    return clock.elapsed() - lastRunMs;
}

void BatchWindow::schedule(int spacingMs)
{
    const int wait = sinceLastRunMs() >= spacingMs ? 0 : spacingMs;
    if (!timer.isActive() || timer.remainingTime() > wait)
        timer.start(wait);
}

void BatchWindow::ran()
{
    lastRunMs = clock.elapsed();
    timer.stop();
}

} // namespace ticketsync
