#include "NodeProcess.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QStringList>
#include <QTimer>
#include <csignal>
#include <sys/prctl.h>
#include <unistd.h>

namespace ticketsync {

namespace {

constexpr int kStartTimeoutMs = 10000;
// logTail reads no further back than this.
constexpr qint64 kTailBytes = 64 * 1024;
constexpr char kListeningMarker[] = " listening on port ";

} // namespace

NodeProcess::NodeProcess(QString id, QString nodeProgram, QString config, QObject *parent)
    : QObject(parent), nodeId(std::move(id)), program(std::move(nodeProgram)), configPath(std::move(config)),
      log(QFileInfo(configPath).absoluteDir().filePath(QStringLiteral("node.log"))),
      starter(QCoreApplication::applicationName())
{}

NodeProcess::~NodeProcess()
{
    discard();
}

void NodeProcess::discard()
{
    if (!process)
        return;
    // Silently: the owner may be mid-destruction, or about to start the next one.
    process->disconnect(this);
    process->kill();
    process->waitForFinished(kKillWaitMs);
    delete process;
    process = nullptr;
}

bool NodeProcess::start(QString *error)
{
    discard();
    up = false;
    listeningPort = 0;
    pendingOutput.clear();
    lastExitCode = -1;
    lastCrashed = false;
    lastStopMs = -1;
    sinceTerminate.invalidate();
    ++startCount;
    {
        QFile file(log);
        if (file.open(QIODevice::Append)) {
            logOffset = file.size();
            file.write(QStringLiteral("==== %1: starting %2 at %3 ====\n")
                           .arg(starter, nodeId, QDateTime::currentDateTime().toString(Qt::ISODateWithMs))
                           .toUtf8());
        }
    }
    auto *child = new QProcess(this);
    child->setProgram(program);
    child->setArguments({QStringLiteral("--config"), configPath});
    child->setWorkingDirectory(QFileInfo(configPath).absolutePath());
    child->setStandardErrorFile(log, QIODevice::Append);
    // A SIGTERM if the parent dies without stopping it.
    child->setChildProcessModifier([own = ownProcessGroup] {
        if (own)
            ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    });
    connect(child, &QProcess::readyReadStandardOutput, this, &NodeProcess::readOutput);
    connect(child, &QProcess::finished, this, [this, child](int code, QProcess::ExitStatus status) {
        onFinished(child, code, status == QProcess::CrashExit);
    });
    child->start();
    if (!child->waitForStarted(kStartTimeoutMs)) {
        if (error)
            *error = QStringLiteral("%1: cannot run %2: %3").arg(nodeId, program, child->errorString());
        delete child;
        return false;
    }
    process = child;
    pids.append(child->processId());
    return true;
}

qint64 NodeProcess::pid() const
{
    return process ? process->processId() : 0;
}

void NodeProcess::readOutput()
{
    if (!process)
        return;
    const QByteArray data = process->readAllStandardOutput();
    if (data.isEmpty())
        return;
    QFile file(log);
    if (file.open(QIODevice::Append))
        file.write(data);
    pendingOutput += data;
    qsizetype end;
    while ((end = pendingOutput.indexOf('\n')) >= 0) {
        const QByteArray line = pendingOutput.left(end).trimmed();
        pendingOutput.remove(0, end + 1);
        const qsizetype marker = line.indexOf(kListeningMarker);
        if (!line.startsWith("ticketsync-node ") || marker < 0)
            continue;
        up = true;
        listeningPort = line.mid(marker + qsizetype(sizeof(kListeningMarker)) - 1).toUShort();
        Q_EMIT startedListening(listeningPort, QString::fromUtf8(line));
    }
}

void NodeProcess::onFinished(QProcess *child, int code, bool killedBySignal)
{
    if (child != process) {
        child->deleteLater();
        return;
    }
    readOutput(); // what it printed last
    process = nullptr;
    // Deleted later: this runs inside one of its signals.
    child->deleteLater();
    lastExitCode = code;
    lastCrashed = killedBySignal;
    lastStopMs = sinceTerminate.isValid() ? sinceTerminate.elapsed() : -1;
    const bool wasListening = std::exchange(up, false);
    Q_EMIT finished(code, killedBySignal, wasListening);
}

QList<qint64> NodeProcess::survivingPids() const
{
    QList<qint64> alive;
    const QByteArray name = QFileInfo(program).fileName().toUtf8();
    for (const qint64 each : pids) {
        if (each <= 0 || ::kill(pid_t(each), 0) != 0)
            continue;
        // A reused pid is somebody else's process.
        QFile commandLine(QStringLiteral("/proc/%1/cmdline").arg(each));
        if (commandLine.open(QIODevice::ReadOnly) && !commandLine.readAll().contains(name))
            continue;
        alive.append(each);
    }
    return alive;
}

bool NodeProcess::waitForListening(int timeoutMs)
{
    if (up || !process)
        return up;
    QEventLoop loop;
    QTimer timeout;
    timeout.setSingleShot(true);
    connect(&timeout, &QTimer::timeout, &loop, &QEventLoop::quit);
    connect(this, &NodeProcess::startedListening, &loop, &QEventLoop::quit);
    connect(this, &NodeProcess::finished, &loop, &QEventLoop::quit);
    timeout.start(timeoutMs);
    loop.exec();
    return up;
}

bool NodeProcess::sendSignal(int number)
{
    // Never pid 0 or below: that would signal a whole process group.
    const qint64 running = pid();
    return running > 0 && ::kill(pid_t(running), number) == 0;
}

bool NodeProcess::signalAndWait(int number, int timeoutMs)
{
    if (!sendSignal(number))
        return false;
    // finished() clears process while the wait returns.
    return !process || process->waitForFinished(timeoutMs);
}

void NodeProcess::terminate()
{
    if (!process)
        return;
    sinceTerminate.start();
    process->terminate();
}

QString NodeProcess::logTail(int lines) const
{
    QFile file(log);
    if (!file.open(QIODevice::ReadOnly))
        return QStringLiteral("(its log %1 cannot be read: %2)").arg(log, file.errorString());
    file.seek(qMax<qint64>(logOffset, file.size() - kTailBytes));
    QList<QByteArray> all = file.readAll().split('\n');
    while (!all.isEmpty() && all.last().trimmed().isEmpty())
        all.removeLast();
    QStringList text;
    for (const QByteArray &line : all.mid(qMax<qsizetype>(0, all.size() - lines)))
        text.append(QStringLiteral("    | ") + QString::fromUtf8(line));
    return QStringLiteral("Last lines of %1:\n%2").arg(log, text.join(QLatin1Char('\n')));
}

QList<NodeProcess *> NodeProcess::stopAll(const QList<NodeProcess *> &nodes, int graceMs,
                                          const std::function<void(NodeProcess *)> &beforeKill)
{
    for (NodeProcess *node : nodes)
        node->terminate();
    return awaitStop(nodes, graceMs, beforeKill);
}

QList<NodeProcess *> NodeProcess::awaitStop(const QList<NodeProcess *> &nodes, int graceMs,
                                            const std::function<void(NodeProcess *)> &beforeKill)
{
    QList<NodeProcess *> killed;
    QElapsedTimer waited;
    waited.start();
    for (NodeProcess *node : nodes) {
        if (!node->process)
            continue;
        const int left = int(qMax<qint64>(0, graceMs - waited.elapsed()));
        if (node->process->waitForFinished(left) || !node->process)
            continue;
        if (beforeKill)
            beforeKill(node);
        if (node->process) {
            node->process->kill();
            node->process->waitForFinished(kKillWaitMs);
        }
        killed.append(node);
    }
    return killed;
}

} // namespace ticketsync
