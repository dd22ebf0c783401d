#include "BatchWindow.h"

namespace ticketsync {

BatchWindow::BatchWindow(std::function<void()> run) : run(std::move(run))
{
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &timer, [this] {
        ran();
        this->run();
    });
}

void BatchWindow::schedule(int spacingMs)
{
    const bool quiet = !sinceLastRun.isValid() || sinceLastRun.elapsed() >= spacingMs;
    const int wait = quiet ? 0 : spacingMs;
    if (!timer.isActive() || timer.remainingTime() > wait)
        timer.start(wait);
}

void BatchWindow::ran()
{
    sinceLastRun.start();
    timer.stop();
}

} // namespace ticketsync
