#pragma once

#include "NodeConfig.h"

#include <QString>
#include <optional>

namespace ticketsync {

// Puts the calling thread under the configured Linux scheduling policy and time slice. Call it
// before any other thread starts: threads inherit both from the thread that creates them.
// Needs no privilege: SCHED_BATCH, SCHED_OTHER and a fair task's own slice are open to every
// process. Kernels before 6.12 have no per-task slice and ignore it.
bool applyCpuScheduling(NodeConfig::CpuScheduling scheduling, int sliceMs, QString *error);

// What the kernel reports for one thread (a tid, or a pid for its main thread).
struct ThreadScheduling
{
    int policy = 0;      // SCHED_OTHER, SCHED_BATCH, ...
    quint64 sliceNs = 0; // its own slice; 0 when it has none (and before Linux 6.12)
};
std::optional<ThreadScheduling> readCpuScheduling(qint64 tid);

} // namespace ticketsync
