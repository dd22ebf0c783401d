#pragma once

#include <QString>
#include <optional>

namespace ticketsync {

// A ledger node's configuration file (docs/node-config.md). Relative paths are resolved
// against the file's directory; the roles come from the membership, not from here.
struct NodeConfig
{
    QString path; // the file it was read from
    QString nodeId;
    QString membershipPath;
    QString signingKeyPath;
    QString tlsCertificatePath;
    QString tlsKeyPath;
    QString tlsCaPath;
    QString listenHost = QStringLiteral("127.0.0.1");
    quint16 listenPort = 0;
    QString databasePath; // the ledger store; the event journal sits beside it
    QString registryPath; // targets: the ticket registry imported on start (CSV or JSON)

    // Transport limits, per connection.
    qint64 maxFrameBytes = 4 * 1024 * 1024;
    int maxMessagesPerSecond = 50000;
    // Bytes queued for one peer that it has not read: above it requests are refused and block
    // pushes wait; a peer that stays above it for notReadingCloseMs is closed.
    qint64 maxUnreadBytes = 16 * 1024 * 1024;
    int notReadingCloseMs = 10000;
    // Accepted connections that are not a WebSocket yet: each is closed after
    // handshakeTimeoutMs, and past these counts (in all, from one address) new ones are closed
    // at once.
    int handshakeTimeoutMs = 10000;
    int maxPendingHandshakes = 256;
    int maxPendingHandshakesPerAddress = 32;
    // A WebSocket ping on every connection this often; one whose peer has sent nothing for
    // keepaliveTimeoutMs is aborted (and a link to the coordinator dialled again).
    int keepaliveIntervalMs = 5000;
    int keepaliveTimeoutMs = 15000;
    // Events kept in the journal for clients to resume from; older ones are pruned.
    int journalEventsKept = 5000000;

    // Coordinator: block batching and the retry policy for UNDETERMINED write-offs.
    int blockIntervalMs = 20;
    int blockMaxDecisions = 500;
    int voteTimeoutMs = 2000;
    int retryLimit = 3;
    int retryBackoffMs = 500;
    int syncBatchBlocks = 64;
    // Overload: submissions are refused while this many tallies are open, and a tally whose
    // missing targets are connected and answering others waits up to this long for them
    // before it is UNDETERMINED.
    int maxOpenTallies = 20000;
    int backlogWaitMs = 30000;

    // How Linux schedules the node's threads. Batch: no preempting another thread on wakeup,
    // so a node that wakes for a frame does not cut into one mid-verification; on a loaded
    // host that is fewer context switches and less CPU per decision (docs/performance.md).
    enum class CpuScheduling
    {
        Batch,
        Normal,
    };
    CpuScheduling cpuScheduling = CpuScheduling::Batch;
    // The time slice the kernel gives each thread before it may switch to another runnable
    // one (Linux 6.12 and later); 0 keeps the kernel's default of about 3 ms.
    int cpuSliceMs = 10;

    // Reads and checks the file. On failure returns nothing and sets error to one line
    // naming the file, the key and the problem.
    static std::optional<NodeConfig> load(const QString &path, QString *error);
};

} // namespace ticketsync
