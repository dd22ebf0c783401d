#include "CpuScheduling.h"

#include <cerrno>
#include <cstring>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ticketsync {

namespace {

// The kernel's struct sched_attr (sched_setattr(2)); glibc 2.36 declares neither.
struct SchedAttr
{
    quint32 size = sizeof(SchedAttr);
    quint32 policy = 0;
    quint64 flags = 0;
    qint32 nice = 0;
    quint32 priority = 0;
    quint64 runtimeNs = 0; // for a fair task: its slice; 0 keeps the kernel's default
    quint64 deadlineNs = 0;
    quint64 periodNs = 0;
    quint32 utilMin = 0;
    quint32 utilMax = 0;
};

} // namespace

bool applyCpuScheduling(NodeConfig::CpuScheduling scheduling, int sliceMs, QString *error)
{
    SchedAttr attributes;
    attributes.policy = scheduling == NodeConfig::CpuScheduling::Batch ? SCHED_BATCH : SCHED_OTHER;
    attributes.runtimeNs = quint64(sliceMs) * 1000000;
    // The nice value is part of the call: keep the one the node was started with.
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, 0);
    if (errno == 0)
        attributes.nice = nice;
    if (syscall(SYS_sched_setattr, 0, &attributes, 0) == 0)
        return true;
    if (error)
        *error = QStringLiteral("cannot set the CPU scheduling policy to %1 with a %2 ms slice: %3")
                     .arg(scheduling == NodeConfig::CpuScheduling::Batch ? QStringLiteral("batch")
                                                                         : QStringLiteral("normal"))
                     .arg(sliceMs)
                     .arg(QString::fromLocal8Bit(std::strerror(errno)));
    return false;
}

std::optional<ThreadScheduling> readCpuScheduling(qint64 tid)
{
    SchedAttr attributes;
    if (syscall(SYS_sched_getattr, pid_t(tid), &attributes, sizeof attributes, 0) != 0)
        return std::nullopt;
    return ThreadScheduling{int(attributes.policy), attributes.runtimeNs};
}

} // namespace ticketsync
