#pragma once

#include "NodeConfig.h"

#include <QString>

namespace ticketsync {

// Puts the calling thread under the configured Linux scheduling policy and time slice. Call it
// before any other thread starts: threads inherit both from the thread that creates them.
// Needs no privilege: SCHED_BATCH, SCHED_OTHER and a fair task's own slice are open to every
// process. Kernels before 6.12 have no per-task slice and ignore it.
bool applyCpuScheduling(NodeConfig::CpuScheduling scheduling, int sliceMs, QString *error);

} // namespace ticketsync
