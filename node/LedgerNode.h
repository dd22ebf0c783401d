#pragma once

#include "BatchWindow.h"
#include "Block.h"
#include "ChainVerifier.h"
#include "Connection.h"
#include "EventKind.h"
#include "InclusionProof.h"
#include "KeyFile.h"
#include "LedgerStore.h"
#include "Membership.h"
#include "NodeConfig.h"
#include "NodeFrame.h"
#include "NodeJournal.h"
#include "SerialWorker.h"
#include "SignatureScheme.h"
#include "Tally.h"
#include "TlsIdentity.h"
#include "WriteOffChecker.h"

#include <QElapsedTimer>
#include <QHash>
#include <QJsonObject>
#include <QLockFile>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QTimer>
#include <memory>
#include <queue>
#include <vector>

namespace ticketsync {

class NodeServer;
class PeerLink;

// One ledger node. Its roles come from the membership: a coordinator runs the tallies,
// seals blocks and feeds every receiver; a branch signs write-offs and hands them to the
// coordinator; a target checks them against its registry under the per-ticket lock; a
// receiver (and every target) stores the verified chain. Every node serves the monitoring
// API (docs/api.md) on the same TLS WebSocket endpoint as its peers.
class LedgerNode : public QObject
{
    Q_OBJECT

public:
    // Who a node is, from its configuration: its membership entry, its signing key and its TLS
    // certificate, each checked against the others.
    struct Identity
    {
        Membership membership;
        Roles roles;
        QString coordinatorId;
        KeyPair signingKey;
        std::optional<TlsIdentity> tls;
    };

    ~LedgerNode() override;
    // Reads the files the configuration names; opens nothing for writing.
    static std::optional<Identity> loadIdentity(const NodeConfig &config, QString *error);
    // Reads a target's registry through without storing it; *tickets counts its rows.
    static bool checkRegistry(const NodeConfig &config, qint64 *tickets, QString *error);
    // Loads the identity, opens the stores and imports the registry. On failure returns nullptr
    // and names what is wrong in one line; *inConfiguration says whether the fault lies in the
    // configuration or a file it names, which no restart can mend.
    static std::unique_ptr<LedgerNode> create(const NodeConfig &config, QString *error,
                                              bool *inConfiguration = nullptr);

    bool start(QString *error);
    void shutdown();
    quint16 port() const;
    const QString &id() const { return nodeId; }

private:
    // A write-off the coordinator is tallying.
    struct Round
    {
        WriteOffResult writeOff;
        QByteArray encoded;
        std::unique_ptr<Tally> tally;
        qint64 startedMs = 0;
        qint64 arrival = 0; // the journal's order of acceptance
        int attempts = 0;
        QHash<QString, QPointer<Connection>> asked; // the connection each target was asked on
        QHash<QString, quint64> askedAs;            // and the number of that check (checksAsked)
        qint64 dueMs = 0;                           // its deadline, in nowMs()
        // Every vote received for it, as sent: a byte-identical copy (a target answering a check
        // it was asked again) is dropped before the verify thread sees it.
        QSet<QByteArray> votes;
        // Distinct votes of each target handed to the verify thread: two prove equivocation,
        // more prove nothing new and are dropped unverified.
        QHash<QString, int> votesQueued;
        // Targets whose vote is here but still queued for the verify thread: asking them again
        // would only make them check again and make the queue longer.
        QSet<QString> votesVerifying;
    };
    // A node that stores the chain, as the coordinator sees it.
    struct Consumer
    {
        QPointer<Connection> connection;
        quint64 ackedHeight = 0;
        quint64 sentHeight = 0;
        QString lastError;
        qint64 lastContactMs = 0;
        qint64 behindSinceMs = 0; // when it first lagged, 0 when in sync
        QString reportedStatus;
        // Blocks from this height wait until it has read what it was sent (0: none wait).
        quint64 resumeFrom = 0;
        // An operator's re-sync (resync_receiver) goes on from this height up to the head, 0 when
        // none does; its next batch waits for the consumer's answer to the last one.
        quint64 resendNext = 0;
        bool resendAnswerDue = false;
    };
    struct PendingReply
    {
        QPointer<Connection> connection;
        QJsonObject message;
    };
    // A submitted write-off or a confirmation as the verify worker hands it back: decoded, and
    // its signature checked, or the problem that stopped it.
    struct VerifiedItem
    {
        QByteArray encoded;
        std::optional<WriteOffResult> writeOff;
        std::optional<StateConfirmation> confirmation;
        QString problem;
        std::optional<bool> signatureValid; // confirmations: for Tally::add
    };
    struct BranchRequest
    {
        QPointer<Connection> client;
        QJsonValue clientRequestId; // as the client sent it, echoed in the answer
        QByteArray digest;
    };

    LedgerNode() = default;

    // transport
    void onConnection(Connection *connection);
    void onMessage(Connection *connection, const QJsonObject &message);
    void onCoordinatorLink(Connection *connection);
    void onCoordinatorMessage(const QJsonObject &message);
    void onNodeFrame(Connection *connection, const QByteArray &bytes);
    void onCoordinatorFrame(const QByteArray &bytes);
    bool allowed(Connection *connection, const QString &type, QString *why) const;
    // Requests refused, and errors a member node reported: the first of each kind on a connection
    // is logged at once, the rest as a count once per kPeerLogWindowMs (and when it closes).
    enum class PeerLogKind
    {
        Refused,
        Reported,
    };
    void logFromPeer(Connection *connection, PeerLogKind kind, const QString &what);
    // True, with the usual error while there is room for one, if replies to a client wait unread
    // past limits.max_unread_bytes: the request is not answered.
    bool refusedUnread(Connection *connection, const QString &type, const QJsonObject &message);

    // coordinator
    // Decode and verify on the worker, then hand each item, in order, to the handlers below.
    // Item i of a submission batch has request id firstRequestId + i.
    // binaryReply: answer in a Submitted frame (a branch that sent a binary frame) or in JSON.
    void verifySubmissions(Connection *from, qint64 firstRequestId, const QList<QByteArray> &encoded,
                           bool binaryReply);
    void verifyConfirmations(Connection *from, qint64 requestId, const QList<QByteArray> &encoded);
    void runVerification(std::function<QList<VerifiedItem>()> work,
                         std::function<void(QList<VerifiedItem>)> done);
    // from is null when its connection closed while the item was being verified.
    void handleSubmission(Connection *from, qint64 requestId, const VerifiedItem &item, bool binaryReply);
    void replySubmitted(Connection *to, const SubmittedReply &reply); // after the next commit
    // Write-offs being tallied or verified, and decisions waiting for their block: what
    // max_open_tallies bounds.
    qsizetype openWork() const;
    void refuseBusy(Connection *to, qint64 requestId);
    // Votes of one frame that no tally, open or recently finished, could count.
    void refuseUnsolicitedVotes(Connection *from, const QString &peerName, qint64 requestId,
                                const QList<VerifiedItem> &votes);
    void handleConfirmation(Connection *from, const QString &peerName, qint64 requestId,
                            const VerifiedItem &item);
    void startRound(const WriteOffResult &writeOff, const QByteArray &encoded, qint64 receivedMs,
                    int attempts);
    // The open tally for a write-off, else a recently finished one; *open says which.
    std::shared_ptr<Round> roundFor(const QByteArray &digest, bool *open) const;
    void askTargets(Round &round);
    // Asks first about every earlier open write-off of the same ticket version it has not been
    // asked about on this connection.
    void askTarget(Round &round, const QString &target, Connection *connection);
    void askTargetOnly(Round &round, const QString &target, Connection *connection);
    bool checkLost(const Round &round, const QString &target) const;
    void queueCheck(Connection *connection, const QByteArray &writeOff);
    void sendQueuedChecks();
    void armDeadline(Round &round, const QByteArray &digest, int inMs);
    void onDeadlineTimer();
    void onDeadline(const QByteArray &digest);
    bool waitForBacklog(const Round &round) const;
    void finishRound(const QByteArray &digest);
    void sealBlocks();
    // Takes the decisions among the first count queued ones that the ledger can never store
    // out of the queue, with an event for each; returns how many.
    int setAsideUnstorable(qsizetype count);
    // Encoded blocks from a height on, as many as one message of frameLimit bytes takes.
    struct BlockBatch
    {
        QList<QByteArray> encoded;
        quint64 lastHeight = 0;
        qint64 oversized = 0; // the first block alone does not fit: its size
        QString problem;      // the store's
    };
    BlockBatch blockBatch(quint64 fromHeight, int maxCount, qint64 frameLimit) const;
    // Why a consumer gets no block from this height on.
    QString blockTooLarge(const QString &consumerId, quint64 height, qint64 blockBytes) const;
    enum class Push
    {
        Sent,
        NothingToSend,
        Paused,   // the consumer has not read what it was sent; resumed once it has
        TooLarge, // a block it cannot take in one message; its last_error says so
        Failed,
    };
    // problem: why nothing was sent, for TooLarge (the block, its size and the consumer's limit)
    // and Failed (the read error).
    // sentHeight never goes down: a consumer sent the head gets each new block as it is sealed.
    Push pushBlocks(const QString &consumerId, quint64 fromHeight, QString *problem = nullptr,
                    quint64 *lastHeight = nullptr);
    // The next batch of a consumer's re-sync, unless it has not answered the last one yet.
    Push resendBlocks(const QString &consumerId, QString *problem = nullptr);
    // Blocks from fromHeight wait for the consumer to read what it was sent.
    void pauseBlocks(const QString &consumerId, quint64 fromHeight);
    void serveBlocks(Connection *to, quint64 fromHeight, int maxCount, qint64 requestId);
    void onAck(Connection *from, const QJsonObject &message);
    void updateConsumerStatus(const QString &consumerId);
    QJsonObject consumerJson(const QString &consumerId) const;
    QJsonObject resyncReceiver(const QJsonObject &message, QString *error);
    QJsonObject retryDeliveries();
    void restartUndetermined(const QByteArray &digest, const WriteOffResult &writeOff,
                             const QByteArray &encoded);
    QJsonObject retryUndetermined(const QJsonObject &message, QString *error);

    // target and receiver
    void handleCheck(const QByteArray &encoded, QString problem);
    void processChecks();
    void sendSubmissions(); // the batch window's write-offs to the coordinator, one frame
    void applyBlocks(const QList<QByteArray> &encoded, quint64 claimedHead);
    void requestBlocks();

    // branch
    void handleClientSubmit(Connection *client, const QJsonObject &message);

    // API
    void handleApi(Connection *client, const QString &type, const QJsonObject &message);
    // The blocks read for one request, each ready to give its decisions' bytes and proofs, by height.
    using DecisionsByBlock = QHash<quint64, BlockProofs>;
    // A decision's canonical bytes and its height (0 until sealed), from the coordinator's journal
    // or the ledger's block; nothing if absent, or with *error set if a read failed.
    std::optional<QByteArray> storedDecision(const QByteArray &digest, quint64 *height,
                                             DecisionsByBlock *blocks, QString *error) const;
    // The block at height, read once per request; nullptr if absent or the read failed (*error).
    // The pointer lasts until the next block is added to blocks.
    const BlockProofs *sealedBlock(quint64 height, DecisionsByBlock *blocks, QString *error) const;
    static constexpr int kMaxDecisionsPerRequest = 500;
    QJsonObject statusJson() const;
    QJsonObject rates() const;
    void subscribe(Connection *client, qint64 fromSeq, QSet<QString> kinds);
    void pumpSubscribers();
    void announceUnannouncedBlocks();

    // journal and events
    void emitEvent(EventKind kind, const QJsonObject &body);
    void emitEvent(EventKind kind, const QByteArray &bodyJson); // from JsonObjectWriter
    void reply(Connection *to, QJsonObject message, const QJsonObject &request);
    void reply(Connection *to, QJsonObject message, qint64 requestId);
    void replyAfterCommit(Connection *to, QJsonObject message, qint64 requestId);
    void scheduleFlush();
    void flush();
    // After each commit: a failed one is logged once per distinct problem and tried again after
    // a backoff; the first good one after failures lets held work go on.
    void journalCommitFailed(const QString &problem);
    void journalCommitsAgain();
    // Why new work cannot be accepted now (the journal's problem), or empty.
    QString storageRefusal() const;
    // Why a target or chain store takes no checks or blocks now (the journal's problem), or empty.
    QString journalRefusal(const QString &what) const;

    static qint64 nowMs();

    NodeConfig config;
    QString nodeId;
    Roles roles;
    Membership membership;
    KeyPair signingKey;
    std::optional<TlsIdentity> tls;
    // Held for the node's life: one node per ledger and journal.
    std::unique_ptr<QLockFile> databaseLock;
    std::unique_ptr<LedgerStore> store;
    std::unique_ptr<NodeJournal> journal;
    std::unique_ptr<ChainVerifier> verifier;
    std::unique_ptr<WriteOffChecker> checker;
    NodeServer *server = nullptr;
    PeerLink *coordinatorLink = nullptr;
    QString coordinatorId;

    // coordinator state
    QHash<QByteArray, std::shared_ptr<Round>> rounds;
    // Finished tallies kept a while, so a target that changes its vote after the outcome is
    // still caught and its two signed messages kept as evidence.
    QHash<QByteArray, std::shared_ptr<Round>> finishedRounds;
    QList<QByteArray> finishedOrder;
    // Write-offs counted as undetermined in this run, until an operator retries them.
    QSet<QByteArray> undeterminedCounted;
    // The open tallies of each ticket version, in order of arrival: nearly always one.
    QHash<std::pair<QString, quint32>, QList<QByteArray>> openRoundsOfVersion;
    QHash<QString, QPointer<Connection>> nodePeers; // by node id
    struct PeerLog
    {
        QString peer; // the connection's description, kept for its closing line
        qint64 sinceMs = 0;
        qint64 unlogged = 0;
        QString last;
    };
    QHash<std::pair<Connection *, int>, PeerLog> peerLogs; // by connection and int(PeerLogKind)
    QHash<QString, Consumer> consumers;                    // targets and receivers, by node id
    QList<Decision> blockQueue;
    QTimer blockTimer;
    // Every open tally's deadline in one queue under one timer: a timer per tally cost an
    // object, a connection and a linear search of the dispatcher's timer list per write-off.
    // Entries of finished or re-armed tallies stay until they come due and are skipped then.
    using Deadline = std::pair<qint64, QByteArray>; // due in nowMs(), write-off digest
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<Deadline>> deadlines;
    QTimer deadlineTimer;
    bool sealingPaused = false;                          // the store refused the last block
    QHash<Connection *, QList<QByteArray>> checksToSend; // by target connection, this window
    BatchWindow checkSendWindow{[this] {
        sendQueuedChecks();
    }};
    QHash<QString, qint64> lastVoteMs; // by target: when its last votes arrived, before verifying
    // By target: how many checks it was sent, and the highest such number it has answered. A
    // target works through its checks in order, so an answer to a later one means an earlier
    // one without an answer was lost, not queued.
    QHash<QString, quint64> checksAsked;
    QHash<QString, quint64> checksAnswered;
    std::unique_ptr<SerialWorker> verifyWorker;
    std::shared_ptr<const Membership> workerMembership; // the worker's read-only copy
    int submissionsVerifying = 0;                       // counted against max_open_tallies
    int confirmationsVerifying = 0;                     // held to a few per open tally

    // branch state
    qint64 nextUpstreamId = 1;
    QHash<qint64, BranchRequest> upstream;
    NodeFrame submissionsToSend; // this batch window's write-offs, ids consecutive
    BatchWindow submitSendWindow{[this] {
        sendSubmissions();
    }};

    // target/receiver state
    bool syncing = false; // a get_blocks is outstanding
    quint64 syncFrom = 0; // the height it asked from: the frame that holds it answers the request
    // Asks for blocks again after a refused batch or a refused get_blocks, with a backoff: no new
    // block may come to make it ask.
    QTimer syncRetryTimer;
    int syncRetryMs = 0;
    QList<WriteOffResult> pendingChecks; // answered together after one durable commit
    BatchWindow checkWindow{[this] {
        processChecks();
    }};

    // events and replies
    QList<PendingReply> afterCommit;
    QList<PendingReply> queriesAfterCommit; // history and decision reads on the coordinator
    struct PendingSubmitted
    {
        QPointer<Connection> connection;
        NodeFrame frame;
    };
    QList<PendingSubmitted> submittedAfterCommit; // one Submitted frame per branch connection
    BatchWindow flushWindow{[this] {
        flush();
    }};
    qint64 broadcastSeq = 0;
    struct Subscription
    {
        qint64 next = 1;     // the next seq this subscriber needs
        QSet<QString> kinds; // the event kinds it asked for; empty: every kind
    };
    QHash<Connection *, Subscription> subscribers;
    QList<JournalEvent> pendingEvents; // written, not yet committed
    // The journal's last failed commit while commits fail, else empty; the journal keeps the
    // writes meanwhile, and new work is refused.
    QString journalProblem;
    QString lastJournalProblem; // kept after recovery, for the status message
    qint64 lastJournalProblemMs = 0;
    int journalFailuresInRow = 0;
    int journalRetryMs = 0;
    QTimer journalRetryTimer;
    QList<JournalEvent> recentEvents; // committed, newest last, for live delivery
    qsizetype recentEventBytes = 0;
    QTimer subscriberPump;

    // counters for the status message
    QHash<QString, qint64> counters;
    QElapsedTimer uptime;
    // Once a second: (ms, decisions, submissions, confirmations), for rates over the last 10 s.
    struct RateSample
    {
        qint64 atMs;
        qint64 decisions;
        qint64 submissions;
        qint64 confirmations;
    };
    QList<RateSample> rateSamples;
    QTimer rateTimer;
};

} // namespace ticketsync
