#pragma once

#include <QElapsedTimer>
#include <QTimer>
#include <functional>

namespace ticketsync {

// Runs a flush (a frame out, a commit) for everything queued since the last one. The first
// work after a quiet spell, no run for a whole spacing, goes out at the end of this turn of the
// event loop, with no timer wakeup and no added wait. Work that comes sooner opens a window of
// one spacing and shares its run with whatever else arrives in it. Under load that is exactly
// a window opened by the first item; below it, a hop no longer waits for company it rarely gets.
class BatchWindow
{
public:
    explicit BatchWindow(std::function<void()> run);

    // Something was queued: run now if the last run is at least spacingMs ago, else spacingMs
    // from now. A run already due sooner is kept.
    void schedule(int spacingMs);
    // Marks a run that happened outside the window (a flush forced by other work).
    void ran();
    bool isPending() const { return timer.isActive(); }

private:
    QTimer timer;
    std::function<void()> run;
    QElapsedTimer sinceLastRun; // invalid until the first run
};

} // namespace ticketsync
