#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QString>
#include <functional>

class QProcess;

namespace ticketsync {

// One ticketsync-node child process, started from its config file and restartable. stderr goes
// straight into node.log next to the config; stdout carries only the "listening" line, which the
// node prints after its port is bound, so it comes through here (into the same log) and tells
// when the node is up without probing its port. The devnet, the network test fixture and
// bench_network all run their nodes through this.
class NodeProcess : public QObject
{
    Q_OBJECT

public:
    static constexpr int kKillWaitMs = 5000; // for the exit after SIGKILL

    NodeProcess(QString id, QString program, QString configPath, QObject *parent = nullptr);
    // A node still running is killed: none may outlive its owner.
    ~NodeProcess() override;

    // Own process group: a Ctrl-C in the terminal then reaches only the parent, which stops the
    // nodes in order.
    void setOwnProcessGroup(bool own) { ownProcessGroup = own; }
    // Who starts it, for the line written to the log before each start.
    void setStarter(const QString &name) { starter = name; }

    const QString &id() const { return nodeId; }
    const QString &logPath() const { return log; }

    // Starts a new process (killing one still running first). False with the reason when the
    // program cannot be run; a node that fails later reports finished().
    bool start(QString *error = nullptr);
    bool isRunning() const { return process != nullptr; }
    // It printed its listening line and is still running.
    bool isListening() const { return up; }
    quint16 port() const { return listeningPort; }
    qint64 pid() const;
    int starts() const { return startCount; }
    // How the last process ended.
    int exitCode() const { return lastExitCode; }
    bool crashed() const { return lastCrashed; }
    // Milliseconds from terminate() to the exit; -1 if the last process did not end that way.
    qint64 stopMs() const { return lastStopMs; }
    // Every process started for it that is still alive (a reused pid is not counted).
    QList<qint64> survivingPids() const;

    // Runs the event loop until the listening line, the exit or the timeout.
    bool waitForListening(int timeoutMs);
    // Sends a signal and leaves the process to it (SIGSTOP, SIGCONT, SIGKILL for an outage).
    bool sendSignal(int number);
    // Sends a signal and waits for the exit; false if none was running or it did not end.
    bool signalAndWait(int number, int timeoutMs);
    // SIGTERM without waiting; stopMs() counts from here.
    void terminate();
    // The last lines this start wrote to the log, indented, for messages to people.
    QString logTail(int lines) const;

    // SIGTERM to every running node, then SIGKILL to any still running after graceMs.
    static QList<NodeProcess *> stopAll(const QList<NodeProcess *> &nodes, int graceMs,
                                        const std::function<void(NodeProcess *)> &beforeKill = {});
    // The second half of stopAll, for nodes already sent terminate(): one deadline for all, since
    // they shut down in parallel. Returns those that needed SIGKILL.
    static QList<NodeProcess *> awaitStop(const QList<NodeProcess *> &nodes, int graceMs,
                                          const std::function<void(NodeProcess *)> &beforeKill = {});

Q_SIGNALS:
    void startedListening(quint16 port, const QString &line);
    void finished(int exitCode, bool crashed, bool wasListening);

private:
    // SIGKILLs the running process without reporting finished().
    void discard();
    void readOutput();
    void onFinished(QProcess *child, int code, bool killedBySignal);

    QString nodeId;
    QString program;
    QString configPath;
    QString log;
    QString starter;
    bool ownProcessGroup = false;
    QProcess *process = nullptr; // the running one
    QByteArray pendingOutput;    // stdout not yet split into lines
    qint64 logOffset = 0;        // where this start's output begins in the log
    QList<qint64> pids;          // every process started, to check that none survives
    int startCount = 0;
    bool up = false;
    quint16 listeningPort = 0;
    int lastExitCode = -1;
    bool lastCrashed = false;
    QElapsedTimer sinceTerminate;
    qint64 lastStopMs = -1;
};

} // namespace ticketsync
