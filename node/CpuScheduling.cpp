#include "CpuScheduling.h"

#include <cerrno>
#include <cstring>
#include <sched.h>

namespace ticketsync {

bool applyCpuScheduling(NodeConfig::CpuScheduling scheduling, QString *error)
{
    const int policy = scheduling == NodeConfig::CpuScheduling::Batch ? SCHED_BATCH : SCHED_OTHER;
    sched_param parameters{};
    parameters.sched_priority = 0; // the only priority the two policies take
    if (sched_setscheduler(0, policy, &parameters) == 0)
        return true;
    if (error)
        *error = QStringLiteral("cannot set the CPU scheduling policy to %1: %2")
                     .arg(policy == SCHED_BATCH ? QStringLiteral("batch") : QStringLiteral("normal"),
                          QString::fromLocal8Bit(std::strerror(errno)));
    return false;
}

} // namespace ticketsync
