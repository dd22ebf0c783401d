#pragma once

#include "DevnetLayout.h"
#include "TlsIdentity.h"

#include <QElapsedTimer>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QObject>
#include <QRandomGenerator>
#include <QSet>
#include <QStringList>
#include <QTimer>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

class QEventLoop;
class QLockFile;
class QProcess;

namespace ticketsync {

class ApiClient;
class NodeProcess;
class SignalPipe;

// `ticketsync devnet`: a whole consortium on this machine. Prepares the layout (DevnetLayout),
// runs every node as a child process, drives a paced write-off workload through both branches,
// prints a live summary from the coordinator's monitoring API once a second, optionally kills
// and restarts a receiver, and on Ctrl-C, SIGTERM or the end of --duration stops every node and
// prints the final summary.
class DevnetRun : public QObject
{
    Q_OBJECT

public:
    struct Options
    {
        QString dir = QStringLiteral("devnet");
        int rate = 50;           // write-offs per second
        int durationSeconds = 0; // 0: until Ctrl-C
        quint16 basePort = 7400;
        bool basePortGiven = false; // else an existing devnet keeps its own
        bool receiverOutage = false;
        bool workload = true;
        bool json = false;
        bool console = false; // open ticketsync-console on the devnet; closing it stops the run
    };

    enum ExitCode
    {
        Success = 0,
        Failure = 1,
        UsageOrInputError = 2
    };

    // arguments[0] is "devnet", the rest are its options.
    static int main(const QStringList &arguments, bool json);

private:
    void startConsole();
    QProcess *consoleProcess = nullptr;

public:
    explicit DevnetRun(Options options, QObject *parent = nullptr);
    ~DevnetRun() override;

    // Runs until stopped; returns the exit code.
    int exec();

private:
    // One node of the devnet, its process restarted when it dies unexpectedly.
    struct Node
    {
        DevnetNode spec;
        std::unique_ptr<NodeProcess> process;
        qint64 startedAtMs = 0;
        bool deliberatelyDown = false; // the receiver outage
        QString startFailure;          // set when a start failed before listening
        int unexpectedExits = 0;
        int restartDelayMs = 1000;
        QTimer *restartTimer = nullptr;
        QTimer *listenTimer = nullptr;
        QString stoppedBy;             // at shutdown: how it ended
        bool terminated = false;       // sent SIGTERM at shutdown
        bool upWhenTerminated = false; // listening then, so its SIGTERM handler was in place
        QString troubleAtShutdown;     // it ended other than on that SIGTERM with exit code 0
    };

    enum class Kind
    {
        Fresh,
        Double,
        Mismatch,
        Unknown,
        NextVersion
    };
    static constexpr int kKinds = 5;

    // A write-off of a registry ticket that a branch accepted.
    struct Issued
    {
        int ticket = 0; // index into the registry, 1-based
        quint32 version = 1;
        int branch = 0;
        qint64 atMs = 0;
    };

    struct Outage
    {
        qint64 downAtMs = 0;
        qint64 upAtMs = -1;
        qint64 caughtUpAtMs = -1;
        qint64 headAtDown = 0;
        qint64 heightAtDown = 0; // the receiver's acknowledged height when it was killed
        qint64 headAtUp = -1;
    };

    enum class Phase
    {
        Starting,
        Running,
        Stopping
    };

    // setup and teardown
    bool prepare(int *exitCode);
    bool lockDirectory(int *exitCode);
    bool checkPortsFree(QStringList *busy) const;
    bool startAll();
    void startNode(Node *node);
    void onNodeListening(Node *node, const QString &line);
    void onNodeFinished(Node *node, int exitCode, bool crashed, bool wasListening);
    void scheduleRestart(Node *node, const QString &why, const QString &detail);
    void stopNodes();
    // Every node that did not run cleanly: exited unexpectedly, or did not stop cleanly on SIGTERM.
    QStringList nodeTrouble() const;
    QString logTail(const Node *node, int lines = 12) const;
    Node *nodeById(const QString &id) const;
    // Runs the event loop until done() holds, timeoutMs pass or stopAfterRequests stop requests
    // (signals) have come in.
    bool spinUntil(const std::function<bool()> &done, int timeoutMs, int stopAfterRequests = 1);
    void requestStop(const QString &reason);

    // workload
    bool loadWrittenOffVersions(int *exitCode);
    void startWorkload();
    void workloadTick();
    bool submitOne();
    int nextFreshTicket();
    int pickSettled(qint64 olderThanMs);
    void sendSubmit(Kind kind, int branch, const QString &ticket, quint32 version, qint64 amountMinor,
                    std::optional<Issued> remember);
    void notSubmitted(const Issued &entry);
    QList<int> branchesUp() const;

    // monitoring
    void startMonitor();
    void pollCoordinator(bool print);
    void onDecisionEvent(const QJsonObject &event);
    void printLive();
    void trackOutageCatchUp();
    void outageStep();

    // output
    void say(const QString &text) const;
    void warn(const QString &text) const;
    void incident(const QString &node, const QString &what);
    QJsonObject summary() const;
    void printSummary(const QJsonObject &result) const;
    qint64 elapsedMs() const { return clock.isValid() ? clock.elapsed() : 0; }

    Options options;
    DevnetLayout layout;
    QString nodeBinary;
    Phase phase = Phase::Starting;
    bool stopRequested = false;
    int stopRequests = 0;
    QString stopReason;
    QString failure; // why the start failed, for the summary
    QEventLoop *runLoop = nullptr;
    std::unique_ptr<SignalPipe> stopSignals;
    std::unique_ptr<QLockFile> dirLock; // held for the whole run: one devnet per directory
    QElapsedTimer clock;                // since the nodes were started
    std::vector<std::unique_ptr<Node>> nodes;
    std::optional<TlsIdentity> operatorIdentity;
    std::optional<TlsIdentity> auditorIdentity;
    QJsonArray incidents;
    QStringList leftRunning;
    QStringList portsBusyAfter;
    qint64 runStartedMs = -1; // when the workload and monitor started
    qint64 runEndedMs = -1;

    // workload
    QList<ApiClient *> branchClients;
    QSet<QString> branchesDown; // reported as lost, not yet back
    QTimer workloadTimer;
    QElapsedTimer paceClock;
    qint64 lastPaceMs = 0;
    double credit = 0;
    bool workloadLive = false;
    QRandomGenerator random;
    QString runTag;
    int cursor = 1;
    int freshTaken = 0;
    QList<Issued> issued;               // oldest first
    QHash<int, quint32> highestVersion; // per ticket: on the chain at the start, then submitted
    qint64 sent[kKinds] = {};
    qint64 accepted = 0, alreadyAccepted = 0, decidedOnSubmit = 0, errors = 0, unsent = 0, heldBack = 0;
    qint64 inFlight = 0;
    QMap<QString, qint64> errorSamples; // error text (shortened) -> count

    // monitoring
    ApiClient *monitor = nullptr;
    QTimer monitorTimer;
    bool pollOutstanding = false;
    qint64 pollSentMs = 0;
    QJsonObject lastStatus;
    QJsonArray lastReceivers;
    QString lastMonitorError;
    qint64 previousDecisions = -1;
    qint64 previousDecisionsAtMs = 0;
    double decisionsPerSecond = -1;
    QList<qint64> intervalLatencies;
    QList<qint64> allLatencies;
    QMap<QString, qint64> decidedByState; // from this run's decision_made events
    qint64 undeterminedSeen = 0;
    qint64 eventGaps = 0;
    bool subscribed = false;

    // receiver outage
    QString outageReceiver = QStringLiteral("receiver-2");
    QTimer outageTimer;
    QList<Outage> outages;
};

} // namespace ticketsync
