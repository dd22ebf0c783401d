#pragma once

#include "NodeConfig.h"

#include <QString>

namespace ticketsync {

// Puts the calling thread under the configured Linux scheduling policy. Call it before any
// other thread starts: threads inherit the policy of the thread that creates them.
// Needs no privilege (SCHED_BATCH and SCHED_OTHER are open to every process).
bool applyCpuScheduling(NodeConfig::CpuScheduling scheduling, QString *error);

} // namespace ticketsync
