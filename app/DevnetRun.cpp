#include "DevnetRun.h"

#include "ApiClient.h"
#include "LedgerStore.h"
#include "Membership.h"
#include "NodeProcess.h"
#include "SampleConsortium.h"
#include "SignalPipe.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QJsonDocument>
#include <QLockFile>
#include <QLoggingCategory>
#include <QProcess>
#include <QRegularExpression>
#include <QTcpServer>
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <limits>
#include <numeric>

namespace ticketsync {

namespace {

constexpr int kListenTimeoutMs = 10000;
constexpr int kTerminateTimeoutMs = 5000;
constexpr int kDrainTimeoutMs = 3000;
constexpr int kMaxDurationSeconds = std::numeric_limits<int>::max() / 1000;
constexpr int kTicketCount = 20000; // DevnetOptions::tickets
// A double write-off or a next version only makes sense once the first one is decided and
// in the targets' chains; the vote timeout is 1 s, so 2-3 s is comfortably past it.
constexpr qint64 kSettledForDoubleMs = 2000;
constexpr qint64 kSettledForNextVersionMs = 3000;
constexpr qint64 kOutageFirstMs = 10000;
constexpr qint64 kOutageLengthMs = 10000;
constexpr qint64 kOutagePeriodMs = 30000;

QString kindName(int kind)
{
    static const char *const names[] = {"fresh", "double", "amount_mismatch", "unknown_ticket",
                                        "next_version"};
    return QLatin1String(names[kind]);
}

// Nearest-rank percentile of sorted values; -1 when there are none.
qint64 percentile(const QList<qint64> &sorted, double fraction)
{
    if (sorted.isEmpty())
        return -1;
    const qsizetype rank = qsizetype(std::ceil(fraction * double(sorted.size())));
    return sorted.at(qBound<qsizetype>(0, rank - 1, sorted.size() - 1));
}

QString seconds(qint64 ms)
{
    return QString::number(double(ms) / 1000.0, 'f', 1);
}

// The coordinator lists its receivers in hash order; people read them by name.
QJsonArray sortedById(const QJsonArray &receivers)
{
    QList<QJsonValue> entries(receivers.begin(), receivers.end());
    std::sort(entries.begin(), entries.end(), [](const QJsonValue &a, const QJsonValue &b) {
        return a[u"receiver"].toString() < b[u"receiver"].toString();
    });
    QJsonArray sorted;
    for (const QJsonValue &entry : std::as_const(entries))
        sorted.append(entry);
    return sorted;
}

// Error texts name digests and tickets; without them the same problem counts as one.
QString errorPattern(const QString &text)
{
    static const QRegularExpression digest(QStringLiteral("[0-9a-f]{16,}"));
    static const QRegularExpression ticket(QStringLiteral("\\b[TX]-\\d{6}\\b"));
    QString pattern = text;
    pattern.replace(digest, QStringLiteral("<digest>"));
    pattern.replace(ticket, QStringLiteral("<ticket>"));
    return pattern.left(200);
}

bool splitAddress(const QString &address, QHostAddress *host, quint16 *port)
{
    const qsizetype colon = address.lastIndexOf(QLatin1Char(':'));
    bool ok = false;
    *port = address.mid(colon + 1).toUShort(&ok);
    return colon > 0 && ok && host->setAddress(address.left(colon));
}

} // namespace

// ---------------------------------------------------------------------------------------
// Command line

int DevnetRun::main(const QStringList &arguments, bool json)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Run a whole consortium on this machine: 1 coordinator, 2 branches, 4 targets (target-4 holds a "
        "stale "
        "registry) and 3 receivers, each a ticketsync-node process on 127.0.0.1, with a write-off workload "
        "through both branches and a live summary once a second. Ctrl-C stops every node and prints the "
        "final summary. Exit status: 0 ok; 1 failure while running, a node that exited unexpectedly (even "
        "if restarted) or did not stop cleanly on SIGTERM included; 2 bad usage or input."));
    parser.addHelpOption();
    const QCommandLineOption dirOption(
        QStringLiteral("dir"),
        QStringLiteral("Where the devnet lives (created, or reused so the ledger "
                       "continues). Default: ./devnet"),
        QStringLiteral("DIR"), QStringLiteral("devnet"));
    const QCommandLineOption rateOption(QStringLiteral("rate"),
                                        QStringLiteral("Write-offs submitted per second (default 50)."),
                                        QStringLiteral("N"), QStringLiteral("50"));
    const QCommandLineOption durationOption(
        QStringLiteral("duration"), QStringLiteral("Stop after S seconds; 0 runs until Ctrl-C (default)."),
        QStringLiteral("S"), QStringLiteral("0"));
    const QCommandLineOption portOption(
        QStringLiteral("base-port"),
        QStringLiteral("The first of the 10 consecutive ports on 127.0.0.1 the "
                       "nodes listen on (default 7400)."),
        QStringLiteral("P"), QStringLiteral("7400"));
    const QCommandLineOption outageOption(
        QStringLiteral("receiver-outage"),
        QStringLiteral("Kill receiver-2 (SIGKILL) 10 s in and restart it 10 s "
                       "later, every 30 s, to watch it catch up."));
    const QCommandLineOption noWorkloadOption(
        QStringLiteral("no-workload"),
        QStringLiteral("Start the nodes and monitor them, but submit nothing."));
    const QCommandLineOption jsonOption(
        QStringLiteral("json"), QStringLiteral("Print the final summary as JSON on stdout (progress goes "
                                               "to stderr)."));
    const QCommandLineOption consoleOption(
        QStringLiteral("console"),
        QStringLiteral("Open the operations console (ticketsync-console) on the devnet as its operator; "
                       "closing it stops the run."));
    parser.addOptions({dirOption, rateOption, durationOption, portOption, outageOption, noWorkloadOption,
                       jsonOption, consoleOption});

    auto helpText = [&parser] {
        // The parser names the program after argv[0]; this is a subcommand.
        QString text = parser.helpText();
        const qsizetype lineEnd = text.indexOf(QLatin1Char('\n'));
        return QStringLiteral("Usage: ticketsync devnet [options]") + text.mid(lineEnd);
    };
    auto usageError = [&](const QString &problem) {
        std::fprintf(stderr, "ticketsync devnet: %s\n\n%s", qPrintable(problem), qPrintable(helpText()));
        return int(UsageOrInputError);
    };
    if (!parser.parse(arguments))
        return usageError(parser.errorText());
    if (parser.isSet(QStringLiteral("help"))) {
        std::fputs(qPrintable(helpText()), stdout);
        return Success;
    }
    if (!parser.positionalArguments().isEmpty())
        return usageError(
            QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().first()));

    Options options;
    options.console = parser.isSet(consoleOption);
    options.dir = parser.value(dirOption);
    if (options.dir.isEmpty())
        return usageError(QStringLiteral("--dir must not be empty"));
    bool ok = false;
    options.rate = parser.value(rateOption).toInt(&ok);
    if (!ok || options.rate < 1 || options.rate > 100000)
        return usageError(QStringLiteral("--rate '%1': expected write-offs per second from 1 to 100000")
                              .arg(parser.value(rateOption)));
    options.durationSeconds = parser.value(durationOption).toInt(&ok);
    // The stop is a timer in milliseconds, an int: more would wrap and stop the run at once.
    if (!ok || options.durationSeconds < 0 || options.durationSeconds > kMaxDurationSeconds)
        return usageError(QStringLiteral("--duration '%1': expected whole seconds up to %2 (24 days), 0 for "
                                         "until Ctrl-C")
                              .arg(parser.value(durationOption))
                              .arg(kMaxDurationSeconds));
    const int basePort = parser.value(portOption).toInt(&ok);
    if (!ok || basePort < 1024 || basePort > 65535 - 9)
        return usageError(
            QStringLiteral("--base-port '%1': expected a port from 1024 to 65526 (10 consecutive "
                           "ports are used)")
                .arg(parser.value(portOption)));
    options.basePort = quint16(basePort);
    options.basePortGiven = parser.isSet(portOption);
    options.receiverOutage = parser.isSet(outageOption);
    options.workload = !parser.isSet(noWorkloadOption);
    options.json = json || parser.isSet(jsonOption);

    DevnetRun run(options);
    return run.exec();
}

DevnetRun::DevnetRun(Options runOptions, QObject *parent)
    : QObject(parent), options(std::move(runOptions)), random(QRandomGenerator::global()->generate())
{}

// Normally exec() has stopped every node; on an early return NodeProcess kills what still runs.
DevnetRun::~DevnetRun() = default;

// ---------------------------------------------------------------------------------------
// The run

int DevnetRun::exec()
{
    // The client side of the node library logs every (re)connection at info level, which would
    // break up the live summary; QT_LOGGING_RULES still takes precedence over this.
    QLoggingCategory::setFilterRules(QStringLiteral("ticketsync.*.info=false"));
    int exitCode = Success;
    if (!prepare(&exitCode))
        return exitCode;

    stopSignals = std::make_unique<SignalPipe>();
    QString pipeError;
    // A closed terminal or dropped SSH session (SIGHUP) stops the run like Ctrl-C, unless it is
    // ignored (nohup): its default would end this process without stopping and awaiting the nodes.
    struct sigaction hangup = {};
    const bool hangupIgnored = ::sigaction(SIGHUP, nullptr, &hangup) == 0 && hangup.sa_handler == SIG_IGN;
    const bool installed = hangupIgnored ? stopSignals->install({SIGINT, SIGTERM}, &pipeError)
                                         : stopSignals->install({SIGINT, SIGTERM, SIGHUP}, &pipeError);
    if (installed) {
        connect(stopSignals.get(), &SignalPipe::received, this, [this](int number) {
            requestStop(number == SIGINT   ? QStringLiteral("interrupted (SIGINT)")
                        : number == SIGHUP ? QStringLiteral("SIGHUP (the terminal closed)")
                                           : QStringLiteral("SIGTERM"));
        });
    } else {
        warn(QStringLiteral("cannot create the signal pipe (%1); Ctrl-C will not stop the nodes cleanly")
                 .arg(pipeError));
    }

    clock.start();
    const bool started = startAll();
    if (started && !stopRequested) {
        phase = Phase::Running;
        runStartedMs = elapsedMs();
        say(QStringLiteral("all %1 nodes are up; %2. Ctrl-C stops.")
                .arg(nodes.size())
                .arg(options.workload ? QStringLiteral("submitting %1 write-offs/s").arg(options.rate)
                                      : QStringLiteral("no workload")));
        startMonitor();
        if (options.workload)
            startWorkload();
        if (options.receiverOutage) {
            if (nodeById(outageReceiver)) {
                outageTimer.setSingleShot(true);
                connect(&outageTimer, &QTimer::timeout, this, &DevnetRun::outageStep);
                outageTimer.start(int(kOutageFirstMs));
            } else {
                warn(QStringLiteral("--receiver-outage: there is no %1 in this devnet").arg(outageReceiver));
            }
        }
        if (options.console)
            startConsole();
        if (options.durationSeconds > 0)
            QTimer::singleShot(options.durationSeconds * 1000, this, [this] {
                requestStop(QStringLiteral("--duration %1 s elapsed").arg(options.durationSeconds));
            });
        QEventLoop loop;
        runLoop = &loop;
        if (!stopRequested)
            loop.exec();
        runLoop = nullptr;

        // Let the answers and open tallies of what was already sent come in.
        phase = Phase::Stopping;
        workloadTimer.stop();
        outageTimer.stop();
        monitorTimer.stop();
        say(QStringLiteral("stopping (%1): waiting up to %2 s for outstanding answers and open tallies")
                .arg(stopReason)
                .arg(kDrainTimeoutMs / 1000));
        QTimer drainPoll;
        connect(&drainPoll, &QTimer::timeout, this, [this] {
            if (!pollOutstanding)
                pollCoordinator(false);
        });
        drainPoll.start(200);
        pollCoordinator(false);
        // A second Ctrl-C cuts this short.
        spinUntil(
            [this] {
                const QJsonObject queues = lastStatus.value(u"queues").toObject();
                return inFlight == 0 && !pollOutstanding &&
                       queues.value(u"open_tallies").toInteger(-1) == 0 &&
                       queues.value(u"block_queue").toInteger(-1) == 0;
            },
            kDrainTimeoutMs, 2);
        drainPoll.stop();
        runEndedMs = elapsedMs(); // the drained decisions count too
    } else {
        phase = Phase::Stopping;
        runEndedMs = elapsedMs();
        if (!started)
            exitCode = Failure;
    }

    for (ApiClient *client : std::as_const(branchClients))
        client->stop();
    if (monitor)
        monitor->stop();
    stopNodes();
    if (!leftRunning.isEmpty())
        exitCode = Failure;
    // A node that crashed, even one restarted since, makes the run a failure: a script that checks
    // the exit status or "ok" must not take it for a clean run.
    if (const QStringList trouble = nodeTrouble(); !trouble.isEmpty()) {
        exitCode = Failure;
        if (failure.isEmpty())
            failure = trouble.join(QStringLiteral("; "));
    }

    stopSignals.reset();

    QJsonObject result = summary();
    result.insert(QStringLiteral("ok"), exitCode == Success);
    printSummary(result);
    return exitCode;
}

bool DevnetRun::lockDirectory(int *exitCode)
{
    // A second devnet on a running one's directory would lay out files under its nodes and then
    // only find the ports taken, with advice (another --base-port) that its chain refuses.
    if (!QDir().mkpath(options.dir)) {
        warn(QStringLiteral("%1: cannot create the devnet directory").arg(options.dir));
        *exitCode = UsageOrInputError;
        return false;
    }
    const QString path = QDir(options.dir).absoluteFilePath(QStringLiteral("devnet.lock"));
    dirLock = std::make_unique<QLockFile>(path);
    dirLock->setStaleLockTime(0); // only a live process holds it
    if (dirLock->tryLock(0))
        return true;
    if (dirLock->error() == QLockFile::LockFailedError) {
        qint64 pid = 0;
        QString host, application;
        dirLock->getLockInfo(&pid, &host, &application);
        warn(QStringLiteral("%1 is in use by another ticketsync devnet (pid %2, lock %3): stop that one "
                            "first, or use another --dir")
                 .arg(QDir(options.dir).absolutePath())
                 .arg(pid)
                 .arg(path));
        *exitCode = Failure;
    } else {
        warn(QStringLiteral("%1: cannot create the lock file (%2)")
                 .arg(path, dirLock->error() == QLockFile::PermissionError
                                ? QStringLiteral("permission denied")
                                : QStringLiteral("unknown error")));
        *exitCode = UsageOrInputError;
    }
    dirLock.reset();
    return false;
}

bool DevnetRun::prepare(int *exitCode)
{
    if (!lockDirectory(exitCode))
        return false;
    QString error;
    // The addresses are part of the membership, whose hash every block seals: other ports on an
    // existing devnet would rewrite membership.json under its chain, which then no longer verifies.
    // Without a ledger yet there is no chain, and the membership moves to the ports given.
    const bool hasChain = DevnetLayout::hasLedgers(options.dir);
    const QString existingMembership = QDir(options.dir).filePath(QStringLiteral("membership.json"));
    std::optional<Membership> existing;
    if (QFile::exists(existingMembership)) {
        existing = Membership::load(existingMembership, &error);
        // With a chain, DevnetLayout::ensure() refuses it, naming what to do.
        if (!existing && !hasChain) {
            warn(QStringLiteral("cannot read the existing devnet's membership: %1").arg(error));
            *exitCode = UsageOrInputError;
            return false;
        }
    }
    if (existing) {
        int firstPort = 65536;
        for (const Member &member : existing->members()) {
            QHostAddress host;
            quint16 port = 0;
            if (splitAddress(member.address, &host, &port))
                firstPort = qMin(firstPort, int(port));
        }
        if (firstPort <= 65535 && firstPort != options.basePort) {
            if (options.basePortGiven && hasChain) {
                warn(QStringLiteral(
                         "%1 was created with --base-port %2; its chain is sealed under that membership, "
                         "so it cannot move to port %3. Run it on port %2, or use a new --dir.")
                         .arg(QDir(options.dir).absolutePath())
                         .arg(firstPort)
                         .arg(options.basePort));
                *exitCode = UsageOrInputError;
                return false;
            }
            if (!options.basePortGiven)
                options.basePort = quint16(firstPort);
        }
    }
    DevnetOptions devnet;
    devnet.dir = options.dir;
    devnet.basePort = options.basePort;
    std::optional<DevnetLayout> made = DevnetLayout::ensure(devnet, &error);
    if (!made) {
        warn(QStringLiteral("cannot prepare the devnet in %1: %2").arg(options.dir, error));
        *exitCode = UsageOrInputError;
        return false;
    }
    layout = std::move(*made);
    say(QStringLiteral("devnet in %1: %2 nodes on ports %3-%4, membership %5, CA %6")
            .arg(layout.dir)
            .arg(layout.nodes.size())
            .arg(options.basePort)
            .arg(options.basePort + layout.nodes.size() - 1)
            .arg(layout.membershipPath, layout.caPath));

    const QString fromEnvironment = qEnvironmentVariable("TICKETSYNC_NODE");
    nodeBinary = fromEnvironment.isEmpty()
                     ? QCoreApplication::applicationDirPath() + QStringLiteral("/ticketsync-node")
                     : fromEnvironment;
    const QFileInfo binary(nodeBinary);
    if (!binary.isFile() || !binary.isExecutable()) {
        warn(QStringLiteral("the node program %1 %2; build the ticketsync-node target or set TICKETSYNC_NODE")
                 .arg(nodeBinary, binary.exists() ? QStringLiteral("is not an executable file")
                                                  : QStringLiteral("does not exist")));
        *exitCode = Failure;
        return false;
    }

    QStringList busy;
    if (!checkPortsFree(&busy)) {
        // Its chain holds this devnet to its ports: another --base-port would only be refused.
        const QString advice = hasChain
                                   ? QStringLiteral("its chain is sealed to these ports, so stop what holds "
                                                    "them, or use a new --dir")
                                   : QStringLiteral("stop it, or try another --base-port");
        warn(
            QStringLiteral("refusing to start: %1 of the devnet's ports already in use (is another devnet or "
                           "ticketsync-node running? %2):\n  %3")
                .arg(busy.size())
                .arg(advice, busy.join(QStringLiteral("\n  "))));
        *exitCode = Failure;
        return false;
    }

    if (options.workload && !loadWrittenOffVersions(exitCode))
        return false;

    operatorIdentity =
        TlsIdentity::load(layout.operatorCertificate, layout.operatorKey, layout.caPath, &error);
    if (!operatorIdentity) {
        warn(QStringLiteral("operator-1's TLS identity (%1): %2").arg(layout.operatorCertificate, error));
        *exitCode = UsageOrInputError;
        return false;
    }
    auditorIdentity = TlsIdentity::load(layout.auditorCertificate, layout.auditorKey, layout.caPath, &error);
    if (!auditorIdentity) {
        warn(QStringLiteral("auditor-1's TLS identity (%1): %2").arg(layout.auditorCertificate, error));
        *exitCode = UsageOrInputError;
        return false;
    }

    for (const DevnetNode &spec : std::as_const(layout.nodes)) {
        auto node = std::make_unique<Node>();
        node->spec = spec;
        node->process = std::make_unique<NodeProcess>(spec.id, nodeBinary, spec.configPath);
        node->process->setStarter(QStringLiteral("ticketsync devnet"));
        node->process->setOwnProcessGroup(true);
        node->restartTimer = new QTimer(this);
        node->restartTimer->setSingleShot(true);
        node->listenTimer = new QTimer(this);
        node->listenTimer->setSingleShot(true);
        Node *raw = node.get();
        connect(raw->process.get(), &NodeProcess::startedListening, this,
                [this, raw](quint16, const QString &line) { onNodeListening(raw, line); });
        connect(raw->process.get(), &NodeProcess::finished, this,
                [this, raw](int exitCode, bool crashed, bool wasListening) {
                    onNodeFinished(raw, exitCode, crashed, wasListening);
                });
        connect(node->restartTimer, &QTimer::timeout, this, [this, raw] {
            if (phase == Phase::Running && !raw->deliberatelyDown && !raw->process->isRunning())
                startNode(raw);
        });
        connect(node->listenTimer, &QTimer::timeout, this, [this, raw] {
            if (raw->process->isListening() || !raw->process->isRunning() || phase != Phase::Running)
                return;
            incident(raw->spec.id, QStringLiteral("did not report listening within %1 s; killing it. %2")
                                       .arg(kListenTimeoutMs / 1000)
                                       .arg(logTail(raw)));
            raw->process->sendSignal(SIGKILL); // finished() restarts it with a longer delay
        });
        nodes.push_back(std::move(node));
    }
    return true;
}

bool DevnetRun::checkPortsFree(QStringList *busy) const
{
    for (const DevnetNode &node : layout.nodes) {
        QHostAddress host;
        quint16 port = 0;
        if (!splitAddress(node.address, &host, &port)) {
            busy->append(QStringLiteral("%1: address '%2' in %3 is not host:port")
                             .arg(node.id, node.address, layout.membershipPath));
            continue;
        }
        QTcpServer probe;
        if (!probe.listen(host, port))
            busy->append(QStringLiteral("%1 (%2): %3").arg(node.address, node.id, probe.errorString()));
        probe.close();
    }
    return busy->isEmpty();
}

bool DevnetRun::startAll()
{
    // The coordinator first: every other node dials it.
    Node *coordinator = nodes.front().get();
    auto failed = [](const Node *node) {
        return !node->process->isRunning() || !node->startFailure.isEmpty();
    };
    auto explain = [this](Node *node) {
        if (!node->startFailure.isEmpty())
            return node->startFailure;
        return QStringLiteral("%1 did not report listening within %2 s (%3). %4")
            .arg(node->spec.id)
            .arg(kListenTimeoutMs / 1000)
            .arg(node->spec.address, logTail(node));
    };
    say(QStringLiteral("starting %1 (%2)").arg(coordinator->spec.id, nodeBinary));
    startNode(coordinator);
    spinUntil([&] { return coordinator->process->isListening() || failed(coordinator); }, kListenTimeoutMs);
    if (stopRequested)
        return true;
    if (!coordinator->process->isListening()) {
        failure = explain(coordinator);
        warn(failure);
        return false;
    }

    QStringList others;
    for (std::size_t i = 1; i < nodes.size(); ++i) {
        startNode(nodes[i].get());
        others.append(nodes[i]->spec.id);
    }
    say(QStringLiteral("starting %1").arg(others.join(QStringLiteral(", "))));
    spinUntil(
        [this, &failed] {
            return std::all_of(nodes.begin(), nodes.end(), [&](const auto &node) {
                return node->process->isListening() || failed(node.get());
            });
        },
        kListenTimeoutMs);
    if (stopRequested)
        return true;
    bool allUp = true;
    for (const std::unique_ptr<Node> &node : nodes) {
        if (!node->process->isListening()) {
            failure += (failure.isEmpty() ? QString() : QStringLiteral("\n")) + explain(node.get());
            warn(explain(node.get()));
            allUp = false;
        }
    }
    return allUp;
}

void DevnetRun::startConsole()
{
    QString program = qEnvironmentVariable("TICKETSYNC_CONSOLE");
    if (program.isEmpty())
        program = QCoreApplication::applicationDirPath() + QStringLiteral("/ticketsync-console");
    consoleProcess = new QProcess(this);
    consoleProcess->setProgram(program);
    consoleProcess->setArguments({QStringLiteral("--devnet"), QFileInfo(options.dir).absoluteFilePath()});
    consoleProcess->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    consoleProcess->setStandardOutputFile(QProcess::nullDevice());
    connect(consoleProcess, &QProcess::errorOccurred, this, [this, program](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart)
            warn(QStringLiteral("cannot start the console %1: %2; the network keeps running headless")
                     .arg(program, consoleProcess->errorString()));
    });
    connect(consoleProcess, &QProcess::finished, this, [this](int exitCode, QProcess::ExitStatus status) {
        if (status == QProcess::NormalExit && exitCode == 0)
            requestStop(QStringLiteral("the console was closed"));
        else
            warn(QStringLiteral("the console ended (%1); the network keeps running, Ctrl-C stops it")
                     .arg(status == QProcess::NormalExit ? QStringLiteral("exit %1").arg(exitCode)
                                                         : QStringLiteral("crashed")));
    });
    consoleProcess->start();
    say(QStringLiteral("opening the console: %1 --devnet %2").arg(program, options.dir));
}

void DevnetRun::startNode(Node *node)
{
    node->startFailure.clear();
    node->startedAtMs = elapsedMs();
    QString why;
    if (!node->process->start(&why)) {
        if (phase == Phase::Running)
            scheduleRestart(node, why, QString());
        else
            node->startFailure = why;
        return;
    }
    if (phase == Phase::Running)
        node->listenTimer->start(kListenTimeoutMs);
}

void DevnetRun::onNodeListening(Node *node, const QString &line)
{
    node->restartDelayMs = 1000;
    node->listenTimer->stop();
    if (phase == Phase::Running)
        incident(node->spec.id, QStringLiteral("is back: %1").arg(line));
}

void DevnetRun::onNodeFinished(Node *node, int exitCode, bool crashed, bool wasListening)
{
    node->listenTimer->stop();
    if (node->deliberatelyDown || node->terminated)
        return;
    const QString how = crashed ? QStringLiteral("was killed or crashed")
                                : QStringLiteral("exited with code %1").arg(exitCode);
    if (phase == Phase::Stopping) {
        // Before its SIGTERM, while the last answers drain: not restarted, but not unnoticed.
        ++node->unexpectedExits;
        incident(node->spec.id,
                 QStringLiteral("%1 while the devnet was stopping. %2").arg(how, logTail(node, 6)));
        return;
    }
    if (phase == Phase::Starting) {
        node->startFailure =
            QStringLiteral("%1 %2 before it was listening. %3").arg(node->spec.id, how, logTail(node));
        return;
    }
    ++node->unexpectedExits;
    scheduleRestart(node,
                    QStringLiteral("%1 unexpectedly after %2 s%3")
                        .arg(how, seconds(elapsedMs() - node->startedAtMs),
                             wasListening ? QString() : QStringLiteral(", before listening")),
                    logTail(node, 6));
}

void DevnetRun::scheduleRestart(Node *node, const QString &why, const QString &detail)
{
    incident(node->spec.id, QStringLiteral("%1; restarting in %2 s.%3")
                                .arg(why, seconds(node->restartDelayMs),
                                     detail.isEmpty() ? QString() : QLatin1Char(' ') + detail));
    node->restartTimer->start(node->restartDelayMs);
    // A node that keeps dying is retried less and less often.
    node->restartDelayMs = qMin(node->restartDelayMs * 2, 30000);
}

void DevnetRun::stopNodes()
{
    QList<NodeProcess *> running;
    for (const std::unique_ptr<Node> &node : nodes) {
        node->restartTimer->stop();
        node->listenTimer->stop();
        if (node->process->isRunning()) {
            node->terminated = true;
            node->upWhenTerminated = node->process->isListening();
            node->process->terminate();
            running.append(node->process.get());
        } else {
            node->stoppedBy =
                node->deliberatelyDown ? QStringLiteral("down (outage)") : QStringLiteral("not running");
        }
    }
    if (!running.isEmpty())
        say(QStringLiteral("sent SIGTERM to %1 node(s); waiting up to %2 s for them")
                .arg(running.size())
                .arg(kTerminateTimeoutMs / 1000));
    const QList<NodeProcess *> killed =
        NodeProcess::awaitStop(running, kTerminateTimeoutMs, [this](NodeProcess *process) {
            warn(QStringLiteral("%1 (pid %2) did not stop within %3 s of SIGTERM; sending SIGKILL. %4")
                     .arg(process->id())
                     .arg(process->pid())
                     .arg(kTerminateTimeoutMs / 1000)
                     .arg(process->logTail(6)));
        });
    for (const std::unique_ptr<Node> &node : nodes) {
        if (!running.contains(node->process.get()))
            continue;
        if (killed.contains(node->process.get())) {
            node->stoppedBy = QStringLiteral("SIGKILL");
            node->troubleAtShutdown = QStringLiteral("did not stop on SIGTERM and was killed");
        } else if (!node->process->crashed()) {
            node->stoppedBy = QStringLiteral("SIGTERM, exit code %1 after %2 s")
                                  .arg(node->process->exitCode())
                                  .arg(seconds(node->process->stopMs()));
            if (node->process->exitCode() != 0 && node->upWhenTerminated)
                node->troubleAtShutdown =
                    QStringLiteral("exited with code %1 on SIGTERM").arg(node->process->exitCode());
        } else {
            node->stoppedBy = QStringLiteral("SIGTERM, then died by a signal");
            // One still starting may not handle SIGTERM yet: its default action is no fault.
            if (node->upWhenTerminated)
                node->troubleAtShutdown = QStringLiteral("died by a signal after SIGTERM");
        }
        // A SIGKILL was already reported as it was sent.
        if (!node->troubleAtShutdown.isEmpty() && !killed.contains(node->process.get()))
            warn(QStringLiteral("%1 %2. %3")
                     .arg(node->spec.id, node->troubleAtShutdown, logTail(node.get(), 6)));
    }
    // Ask the kernel, not only QProcess, about every process we ever started.
    for (const std::unique_ptr<Node> &node : nodes) {
        for (const qint64 pid : node->process->survivingPids())
            leftRunning.append(QStringLiteral("%1 (pid %2)").arg(node->spec.id).arg(pid));
    }
    if (!leftRunning.isEmpty())
        warn(QStringLiteral("still running after SIGKILL: %1").arg(leftRunning.join(QStringLiteral(", "))));
    // The ports must be free again for the next run.
    checkPortsFree(&portsBusyAfter);
}

QStringList DevnetRun::nodeTrouble() const
{
    QStringList trouble;
    for (const std::unique_ptr<Node> &node : nodes) {
        QStringList what;
        if (node->unexpectedExits > 0)
            what.append(QStringLiteral("exited unexpectedly %1 time(s)").arg(node->unexpectedExits));
        if (!node->troubleAtShutdown.isEmpty())
            what.append(node->troubleAtShutdown);
        if (!what.isEmpty())
            trouble.append(
                QStringLiteral("%1 %2, see %3")
                    .arg(node->spec.id, what.join(QStringLiteral(" and ")), node->process->logPath()));
    }
    return trouble;
}

QString DevnetRun::logTail(const Node *node, int lines) const
{
    return node->process->logTail(lines);
}

DevnetRun::Node *DevnetRun::nodeById(const QString &id) const
{
    for (const std::unique_ptr<Node> &node : nodes) {
        if (node->spec.id == id)
            return node.get();
    }
    return nullptr;
}

bool DevnetRun::spinUntil(const std::function<bool()> &done, int timeoutMs, int stopAfterRequests)
{
    if (done() || stopRequests >= stopAfterRequests)
        return done();
    QEventLoop loop;
    QElapsedTimer waited;
    waited.start();
    QTimer poll;
    connect(&poll, &QTimer::timeout, &loop, [&] {
        if (done() || stopRequests >= stopAfterRequests || waited.elapsed() >= timeoutMs)
            loop.quit();
    });
    poll.start(20);
    loop.exec();
    return done();
}

void DevnetRun::requestStop(const QString &reason)
{
    ++stopRequests;
    if (stopRequested)
        return;
    stopRequested = true;
    stopReason = reason;
    // The console goes first, so it never shows the nodes going away as an incident.
    if (consoleProcess && consoleProcess->state() != QProcess::NotRunning) {
        consoleProcess->disconnect(this);
        consoleProcess->terminate();
        if (!consoleProcess->waitForFinished(3000))
            consoleProcess->kill();
    }
    if (runLoop)
        runLoop->quit();
}

// ---------------------------------------------------------------------------------------
// Workload: paced, pipelined submissions through both branches

bool DevnetRun::loadWrittenOffVersions(int *exitCode)
{
    // A re-run continues the ledger: start each ticket at the version after the one already on
    // the chain, so valid write-offs stay valid. Read now, while no node has the store open.
    const QStringList coordinators = layout.idsWithRole(Role::Coordinator);
    const DevnetNode *coordinator = layout.node(coordinators.value(0));
    if (!coordinator || !QFile::exists(coordinator->databasePath))
        return true; // a new devnet: nothing written off yet
    QString error;
    const std::unique_ptr<LedgerStore> store = LedgerStore::open(coordinator->databasePath, &error);
    if (!store) {
        warn(QStringLiteral("cannot read the ledger of %1 to continue the workload: %2")
                 .arg(coordinator->id, error));
        *exitCode = UsageOrInputError;
        return false;
    }
    if (store->height() == 0)
        return true;
    QElapsedTimer took;
    took.start();
    for (int ticket = 1; ticket <= kTicketCount; ++ticket) {
        quint32 version = 0;
        while (store->writtenOffBy(SampleConsortium::ticketId(ticket), version + 1))
            ++version;
        if (version > 0)
            highestVersion.insert(ticket, version);
    }
    say(QStringLiteral("ledger at height %1: %2 of %3 tickets already written off (read from %4 in %5 s)")
            .arg(store->height())
            .arg(highestVersion.size())
            .arg(kTicketCount)
            .arg(coordinator->databasePath, seconds(took.elapsed())));
    return true;
}

void DevnetRun::startWorkload()
{
    runTag = QString::number(random.generate() & 0xffffff, 16).rightJustified(6, QLatin1Char('0'));
    // A random start spreads runs over the registry; the versions read from the chain keep
    // every fresh write-off valid on a re-run.
    cursor = 1 + int(random.bounded(kTicketCount));
    for (const QString &id : layout.idsWithRole(Role::Branch)) {
        const DevnetNode *branch = layout.node(id);
        auto *client = new ApiClient(*operatorIdentity, branch->address, branch->id, this);
        client->setBackoff(100, 1000);
        // Every failed redial reports a disconnect too; only the change is news.
        connect(client, &ApiClient::disconnected, this, [this, id](const QString &reason) {
            if (phase == Phase::Running && !branchesDown.contains(id)) {
                branchesDown.insert(id);
                incident(id, QStringLiteral("the workload lost its connection: %1").arg(reason));
            }
        });
        connect(client, &ApiClient::connected, this, [this, id] {
            if (branchesDown.remove(id))
                incident(id, QStringLiteral("the workload is connected again"));
        });
        client->start();
        branchClients.append(client);
    }
    say(QStringLiteral("workload: operator-1 -> %1, tickets from %2 on, tag '%3'")
            .arg(layout.idsWithRole(Role::Branch).join(QStringLiteral(", ")),
                 SampleConsortium::ticketId(cursor), runTag));
    paceClock.start();
    lastPaceMs = 0;
    workloadTimer.setTimerType(Qt::PreciseTimer);
    connect(&workloadTimer, &QTimer::timeout, this, &DevnetRun::workloadTick);
    workloadTimer.start(10);
}

void DevnetRun::workloadTick()
{
    const qint64 now = paceClock.elapsed();
    // The clock starts with the first branch connection, not before.
    if (!workloadLive) {
        lastPaceMs = now;
        workloadLive = !branchesUp().isEmpty();
        return;
    }
    // At most one second of backlog: after a stall we do not burst to catch up.
    credit = qMin(credit + double(options.rate) * double(now - lastPaceMs) / 1000.0, double(options.rate));
    lastPaceMs = now;
    // Bounded pipeline: if the branches stop answering, stop piling up requests.
    const qint64 maxInFlight = qMax<qint64>(1000, qint64(options.rate) * 10);
    while (credit >= 1.0) {
        credit -= 1.0;
        if (inFlight >= maxInFlight)
            ++heldBack;
        else if (!submitOne())
            ++unsent;
    }
}

QList<int> DevnetRun::branchesUp() const
{
    QList<int> up;
    for (qsizetype i = 0; i < branchClients.size(); ++i) {
        if (branchClients.at(i)->isConnected())
            up.append(int(i));
    }
    return up;
}

int DevnetRun::nextFreshTicket()
{
    const int ticket = cursor;
    cursor = cursor % kTicketCount + 1;
    ++freshTaken;
    return ticket;
}

// A random accepted write-off at least olderThanMs old; -1 if there is none yet.
int DevnetRun::pickSettled(qint64 olderThanMs)
{
    const qint64 cutoff = elapsedMs() - olderThanMs;
    // Oldest first, so the settled ones are a prefix.
    const auto end = std::partition_point(issued.cbegin(), issued.cend(),
                                          [cutoff](const Issued &entry) { return entry.atMs <= cutoff; });
    const qsizetype settled = end - issued.cbegin();
    return settled > 0 ? int(random.bounded(qint64(settled))) : -1;
}

bool DevnetRun::submitOne()
{
    const QList<int> up = branchesUp();
    if (up.isEmpty())
        return false;
    const int roll = int(random.bounded(100));
    Kind kind = roll < 80   ? Kind::Fresh
                : roll < 88 ? Kind::Double
                : roll < 94 ? Kind::Mismatch
                : roll < 98 ? Kind::Unknown
                            : Kind::NextVersion;
    int branch = up.at(int(random.bounded(qint64(up.size()))));

    if (kind == Kind::Double) {
        // The same ticket and version again, through the other branch.
        const int index = up.size() > 1 ? pickSettled(kSettledForDoubleMs) : -1;
        if (index >= 0) {
            const Issued &first = issued.at(index);
            for (int candidate : up) {
                if (candidate != first.branch) {
                    sendSubmit(kind, candidate, SampleConsortium::ticketId(first.ticket), first.version,
                               SampleConsortium::faceAmountMinor(first.ticket), std::nullopt);
                    return true;
                }
            }
        }
        kind = Kind::Fresh; // nothing to double yet
    }
    if (kind == Kind::NextVersion) {
        const int index = pickSettled(kSettledForNextVersionMs);
        if (index >= 0) {
            Issued next = issued.takeAt(index);
            ++next.version;
            next.branch = branch;
            highestVersion.insert(next.ticket, next.version);
            sendSubmit(kind, branch, SampleConsortium::ticketId(next.ticket), next.version,
                       SampleConsortium::faceAmountMinor(next.ticket), next);
            return true;
        }
        kind = Kind::Fresh;
    }
    switch (kind) {
    case Kind::Fresh: {
        const int ticket = nextFreshTicket();
        // After a full lap the same tickets come round again, as their next version.
        Issued entry{ticket, highestVersion.value(ticket, 0) + 1, branch, 0};
        highestVersion.insert(ticket, entry.version);
        sendSubmit(kind, branch, SampleConsortium::ticketId(ticket), entry.version,
                   SampleConsortium::faceAmountMinor(ticket), entry);
        break;
    }
    case Kind::Mismatch: {
        const int ticket = nextFreshTicket();
        const qint64 wrong = SampleConsortium::faceAmountMinor(ticket) + 1 + qint64(random.bounded(50000));
        sendSubmit(kind, branch, SampleConsortium::ticketId(ticket), highestVersion.value(ticket, 0) + 1,
                   wrong, std::nullopt);
        break;
    }
    case Kind::Unknown:
        sendSubmit(kind, branch, QStringLiteral("X-%1").arg(random.bounded(1000000), 6, 10, QLatin1Char('0')),
                   1, 10000 + qint64(random.bounded(990000)), std::nullopt);
        break;
    default:
        break;
    }
    return true;
}

void DevnetRun::sendSubmit(Kind kind, int branch, const QString &ticket, quint32 version, qint64 amountMinor,
                           std::optional<Issued> remember)
{
    const qint64 serial = std::accumulate(std::begin(sent), std::end(sent), qint64(0)) + 1;
    const QJsonObject message{
        {QStringLiteral("type"), QStringLiteral("submit")},
        {QStringLiteral("ticket"), ticket},
        {QStringLiteral("version"), qint64(version)},
        {QStringLiteral("amount_minor"), amountMinor},
        {QStringLiteral("currency"), QStringLiteral("CNY")},
        {QStringLiteral("reference"),
         QStringLiteral("devnet-%1-%2-%3").arg(runTag).arg(serial).arg(kindName(int(kind)))},
    };
    const qint64 id =
        branchClients.at(branch)->request(message, [this, remember, branch](const QJsonObject &reply) {
            --inFlight;
            if (reply.value(u"type").toString() != QLatin1String("submitted")) {
                ++errors;
                const QString text = reply.value(u"error").toString(QStringLiteral("unexpected reply"));
                // Digests and ids make every text unique; the first words say what happened.
                errorSamples[errorPattern(text)]++;
                if (remember)
                    notSubmitted(*remember);
                return;
            }
            const QString status = reply.value(u"status").toString();
            if (status == QLatin1String("accepted"))
                ++accepted;
            else if (status == QLatin1String("already accepted"))
                ++alreadyAccepted;
            else
                ++decidedOnSubmit;
            if (remember)
                issued.append({remember->ticket, remember->version, branch, elapsedMs()});
        });
    if (id < 0) {
        ++unsent;
        if (remember)
            notSubmitted(*remember);
        return;
    }
    ++inFlight;
    ++sent[int(kind)];
}

void DevnetRun::notSubmitted(const Issued &entry)
{
    // The ticket stays at the version before, which (if any) is on the chain or on its way.
    if (highestVersion.value(entry.ticket) == entry.version)
        highestVersion.insert(entry.ticket, entry.version - 1);
    if (entry.version > 1)
        issued.append({entry.ticket, entry.version - 1, entry.branch, elapsedMs()});
}

// ---------------------------------------------------------------------------------------
// Monitoring: the coordinator's status, receivers and event stream

void DevnetRun::startMonitor()
{
    const DevnetNode *coordinator = layout.node(layout.idsWithRole(Role::Coordinator).value(0));
    // Read-only: the auditor's certificate is enough to watch.
    monitor = new ApiClient(*auditorIdentity, coordinator->address, coordinator->id, this);
    monitor->setBackoff(100, 1000);
    connect(monitor, &ApiClient::connected, this, [this](const QJsonObject &welcome) {
        // Only what happens from now on; the ApiClient resumes from there after a reconnect.
        if (!subscribed) {
            subscribed = true;
            monitor->subscribe(welcome.value(u"last_seq").toInteger(0) + 1,
                               {QStringLiteral("decision_made")});
        }
    });
    connect(monitor, &ApiClient::eventReceived, this, [this](const QJsonObject &event) {
        if (event.value(u"kind").toString() == QLatin1String("decision_made"))
            onDecisionEvent(event);
    });
    connect(monitor, &ApiClient::gap, this, [this](qint64 from, qint64 to) { eventGaps += to - from + 1; });
    monitor->start();
    connect(&monitorTimer, &QTimer::timeout, this, [this] { pollCoordinator(true); });
    monitorTimer.start(1000);
}

void DevnetRun::pollCoordinator(bool print)
{
    if (pollOutstanding) {
        // A coordinator that does not answer is news in itself.
        if (print) {
            lastMonitorError = QStringLiteral("the coordinator has not answered for %1 s")
                                   .arg(seconds(elapsedMs() - pollSentMs));
            printLive();
        }
        return;
    }
    if (!monitor->isConnected()) {
        lastMonitorError =
            QStringLiteral("coordinator unreachable: %1")
                .arg(monitor->lastError().isEmpty() ? QStringLiteral("connecting") : monitor->lastError());
        if (print)
            printLive();
        return;
    }
    pollOutstanding = true;
    pollSentMs = elapsedMs();
    monitor->request({{QStringLiteral("type"), QStringLiteral("status")}}, [this, print](
                                                                               const QJsonObject &status) {
        if (status.value(u"type").toString() != QLatin1String("status")) {
            pollOutstanding = false;
            lastMonitorError = QStringLiteral("status: %1").arg(status.value(u"error").toString());
            if (print)
                printLive();
            return;
        }
        lastMonitorError.clear();
        lastStatus = status;
        const QJsonObject counters = status.value(u"counters").toObject();
        const qint64 decisions =
            counters.value(u"decided").toInteger(0) + counters.value(u"undetermined").toInteger(0);
        const qint64 now = elapsedMs();
        // A restarted coordinator starts its counters again from zero.
        if (previousDecisions >= 0 && decisions >= previousDecisions && now > previousDecisionsAtMs)
            decisionsPerSecond =
                double(decisions - previousDecisions) * 1000.0 / double(now - previousDecisionsAtMs);
        else
            decisionsPerSecond = -1;
        previousDecisions = decisions;
        previousDecisionsAtMs = now;
        monitor->request(
            {{QStringLiteral("type"), QStringLiteral("receivers")}}, [this, print](const QJsonObject &reply) {
                pollOutstanding = false;
                if (reply.value(u"type").toString() == QLatin1String("receivers")) {
                    lastReceivers = sortedById(reply.value(u"receivers").toArray());
                    trackOutageCatchUp();
                } else {
                    lastMonitorError = QStringLiteral("receivers: %1").arg(reply.value(u"error").toString());
                }
                if (print)
                    printLive();
            });
    });
}

void DevnetRun::onDecisionEvent(const QJsonObject &event)
{
    const qint64 latency = event.value(u"latency_ms").toInteger(-1);
    if (latency >= 0) {
        intervalLatencies.append(latency);
        allLatencies.append(latency);
    }
    if (event.value(u"outcome").toString() == QLatin1String("DECIDED"))
        decidedByState[event.value(u"state").toString()]++;
    else
        ++undeterminedSeen;
}

void DevnetRun::printLive()
{
    const qint64 t = elapsedMs() - runStartedMs;
    QString text = QStringLiteral("[%1s]").arg(seconds(t), 6);
    if (options.workload)
        text +=
            QStringLiteral(" sent %1: accepted %2, errors %3, in flight %4%5 |")
                .arg(std::accumulate(std::begin(sent), std::end(sent), qint64(0)))
                .arg(accepted + alreadyAccepted + decidedOnSubmit)
                .arg(errors)
                .arg(inFlight)
                .arg(unsent + heldBack ? QStringLiteral(", not sent %1").arg(unsent + heldBack) : QString());
    text += decisionsPerSecond >= 0 ? QStringLiteral(" %1 decisions/s").arg(decisionsPerSecond, 0, 'f', 1)
                                    : QStringLiteral(" -- decisions/s");
    // This run's decisions from the event stream: the coordinator's own counters start from
    // zero again whenever it restarts.
    QStringList states;
    qint64 decided = 0;
    for (auto it = decidedByState.cbegin(); it != decidedByState.cend(); ++it) {
        states.append(QStringLiteral("%1 %2").arg(it.key()).arg(it.value()));
        decided += it.value();
    }
    text += QStringLiteral(" | DECIDED %1 (%2) UNDETERMINED %3")
                .arg(decided)
                .arg(states.isEmpty() ? QStringLiteral("none yet") : states.join(QStringLiteral(", ")))
                .arg(undeterminedSeen);

    std::sort(intervalLatencies.begin(), intervalLatencies.end());
    QString second = QStringLiteral("         ");
    second += intervalLatencies.isEmpty() ? QStringLiteral("latency -- (no decisions this second)")
                                          : QStringLiteral("latency p50 %1 ms, p99 %2 ms (%3 decisions)")
                                                .arg(percentile(intervalLatencies, 0.50))
                                                .arg(percentile(intervalLatencies, 0.99))
                                                .arg(intervalLatencies.size());
    intervalLatencies.clear();
    second += QStringLiteral(" | height %1").arg(lastStatus.value(u"height").toInteger(0));
    const QJsonObject queues = lastStatus.value(u"queues").toObject();
    second += QStringLiteral(" | open tallies %1").arg(queues.value(u"open_tallies").toInteger(0));

    QStringList receivers, targets;
    for (const QJsonValue &value : std::as_const(lastReceivers)) {
        const QJsonObject entry = value.toObject();
        const QString id = entry.value(u"receiver").toString();
        const Node *node = nodeById(id);
        QString state = entry.value(u"status").toString();
        if (node && node->deliberatelyDown)
            state = QStringLiteral("DOWN (outage)");
        else if (node && !node->process->isRunning())
            state = QStringLiteral("DOWN (restarting)");
        const QString item =
            QStringLiteral("%1 %2 %3").arg(id).arg(entry.value(u"acked_height").toInteger()).arg(state);
        (id.startsWith(QLatin1String("receiver-")) ? receivers : targets).append(item);
    }
    QString third = QStringLiteral("         receivers: %1").arg(receivers.join(QStringLiteral(", ")));
    QString fourth = QStringLiteral("         targets:   %1").arg(targets.join(QStringLiteral(", ")));
    QStringList block{text, second, third, fourth};
    if (!lastMonitorError.isEmpty())
        block.append(QStringLiteral("         ! %1").arg(lastMonitorError));
    say(block.join(QLatin1Char('\n')));
}

void DevnetRun::outageStep()
{
    Node *node = nodeById(outageReceiver);
    if (!node || phase != Phase::Running)
        return;
    const qint64 head = lastStatus.value(u"height").toInteger(0);
    if (!node->deliberatelyDown) {
        node->deliberatelyDown = true;
        node->restartTimer->stop();
        Outage outage;
        outage.downAtMs = elapsedMs() - runStartedMs;
        outage.headAtDown = head;
        for (const QJsonValue &value : std::as_const(lastReceivers)) {
            if (value[u"receiver"].toString() == outageReceiver)
                outage.heightAtDown = value[u"acked_height"].toInteger();
        }
        outages.append(outage);
        if (node->process->isRunning()) {
            incident(node->spec.id, QStringLiteral("outage: SIGKILL (pid %1) at height %2; back in %3 s")
                                        .arg(node->process->pid())
                                        .arg(head)
                                        .arg(kOutageLengthMs / 1000));
            node->process->sendSignal(SIGKILL);
        }
        outageTimer.start(int(kOutageLengthMs));
    } else {
        node->deliberatelyDown = false;
        Outage &outage = outages.last();
        outage.upAtMs = elapsedMs() - runStartedMs;
        outage.headAtUp = head;
        incident(node->spec.id,
                 QStringLiteral("outage over: restarting it; the head is at height %1").arg(head));
        if (!node->process->isRunning())
            startNode(node);
        outageTimer.start(int(kOutagePeriodMs - kOutageLengthMs));
    }
}

void DevnetRun::trackOutageCatchUp()
{
    if (outages.isEmpty() || outages.last().upAtMs < 0 || outages.last().caughtUpAtMs >= 0)
        return;
    Outage &outage = outages.last();
    for (const QJsonValue &value : std::as_const(lastReceivers)) {
        const QJsonObject entry = value.toObject();
        if (entry.value(u"receiver").toString() != outageReceiver)
            continue;
        if (entry.value(u"status").toString() == QLatin1String("in_sync") ||
            entry.value(u"acked_height").toInteger(-1) >= outage.headAtUp) {
            outage.caughtUpAtMs = elapsedMs() - runStartedMs;
            incident(
                outageReceiver,
                QStringLiteral("caught up %1 s after the restart: height %2, %3 blocks more than when it "
                               "went down")
                    .arg(seconds(outage.caughtUpAtMs - outage.upAtMs))
                    .arg(entry.value(u"acked_height").toInteger())
                    .arg(entry.value(u"acked_height").toInteger() - outage.heightAtDown));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Output

void DevnetRun::say(const QString &text) const
{
    // With --json, stdout carries only the final JSON.
    std::FILE *to = options.json ? stderr : stdout;
    std::fputs(text.toUtf8().append('\n').constData(), to);
    std::fflush(to);
}

void DevnetRun::warn(const QString &text) const
{
    std::fputs(QStringLiteral("ticketsync devnet: %1\n").arg(text).toUtf8().constData(), stderr);
    std::fflush(stderr);
}

void DevnetRun::incident(const QString &node, const QString &what)
{
    const qint64 t = runStartedMs >= 0 ? elapsedMs() - runStartedMs : elapsedMs();
    incidents.append(QJsonObject{{QStringLiteral("t_s"), double(t) / 1000.0},
                                 {QStringLiteral("node"), node},
                                 {QStringLiteral("event"), what}});
    say(QStringLiteral("[%1s] %2 %3").arg(seconds(t), 6).arg(node, what));
}

QJsonObject DevnetRun::summary() const
{
    // How long a node took to exit after SIGTERM; null if it was not running then.
    auto stopSeconds = [](const Node &node) {
        if (node.process->stopMs() < 0)
            return QJsonValue();
        return QJsonValue(double(node.process->stopMs()) / 1000.0);
    };
    const qint64 ranMs = runStartedMs >= 0 ? qMax<qint64>(1, runEndedMs - runStartedMs) : 0;
    QJsonObject sentByKind;
    qint64 total = 0;
    for (int kind = 0; kind < kKinds; ++kind) {
        sentByKind.insert(kindName(kind), sent[kind]);
        total += sent[kind];
    }
    sentByKind.insert(QStringLiteral("total"), total);
    QJsonObject samples;
    for (auto it = errorSamples.cbegin(); it != errorSamples.cend(); ++it)
        samples.insert(it.key(), it.value());
    const QJsonObject workload{
        {QStringLiteral("rate_per_s"), options.workload ? options.rate : 0},
        {QStringLiteral("sent"), sentByKind},
        {QStringLiteral("accepted"), accepted},
        {QStringLiteral("already_accepted"), alreadyAccepted},
        {QStringLiteral("decided_when_submitted"), decidedOnSubmit},
        {QStringLiteral("errors"), errors},
        {QStringLiteral("unanswered"), inFlight},
        {QStringLiteral("not_sent_no_branch"), unsent},
        {QStringLiteral("not_sent_pipeline_full"), heldBack},
        {QStringLiteral("error_samples"), samples},
    };

    QList<qint64> sorted = allLatencies;
    std::sort(sorted.begin(), sorted.end());
    QJsonObject byState;
    qint64 decided = 0;
    for (auto it = decidedByState.cbegin(); it != decidedByState.cend(); ++it) {
        byState.insert(it.key(), it.value());
        decided += it.value();
    }
    const QJsonObject decisions{
        {QStringLiteral("decided"), decided},
        {QStringLiteral("undetermined"), undeterminedSeen},
        {QStringLiteral("decided_by_state"), byState},
        {QStringLiteral("per_second"),
         ranMs ? double(decided + undeterminedSeen) * 1000.0 / double(ranMs) : 0.0},
        {QStringLiteral("latency_ms"),
         QJsonObject{{QStringLiteral("p50"), percentile(sorted, 0.50)},
                     {QStringLiteral("p90"), percentile(sorted, 0.90)},
                     {QStringLiteral("p99"), percentile(sorted, 0.99)},
                     {QStringLiteral("max"), sorted.isEmpty() ? -1 : sorted.last()}}},
        {QStringLiteral("event_gaps"), eventGaps},
    };

    QJsonArray nodeList;
    for (const std::unique_ptr<Node> &node : nodes)
        nodeList.append(QJsonObject{{QStringLiteral("id"), node->spec.id},
                                    {QStringLiteral("address"), node->spec.address},
                                    {QStringLiteral("log"), node->process->logPath()},
                                    {QStringLiteral("starts"), node->process->starts()},
                                    {QStringLiteral("unexpected_exits"), node->unexpectedExits},
                                    {QStringLiteral("stopped"), node->stoppedBy},
                                    {QStringLiteral("stop_s"), stopSeconds(*node)}});
    QJsonArray outageList;
    for (const Outage &outage : outages)
        outageList.append(QJsonObject{
            {QStringLiteral("receiver"), outageReceiver},
            {QStringLiteral("down_at_s"), double(outage.downAtMs) / 1000.0},
            {QStringLiteral("up_at_s"),
             outage.upAtMs >= 0 ? QJsonValue(double(outage.upAtMs) / 1000.0) : QJsonValue()},
            {QStringLiteral("receiver_height_at_down"), outage.heightAtDown},
            {QStringLiteral("head_at_down"), outage.headAtDown},
            {QStringLiteral("head_at_up"), outage.headAtUp},
            {QStringLiteral("caught_up_after_s"),
             outage.caughtUpAtMs >= 0 ? QJsonValue(double(outage.caughtUpAtMs - outage.upAtMs) / 1000.0)
                                      : QJsonValue()},
        });

    const QString receiverStore = layout.node(QStringLiteral("receiver-1"))
                                      ? layout.node(QStringLiteral("receiver-1"))->databasePath
                                      : QStringLiteral("%1/nodes/receiver-1/ledger.sqlite").arg(layout.dir);
    return QJsonObject{
        {QStringLiteral("command"), QStringLiteral("devnet")},
        {QStringLiteral("dir"), layout.dir},
        {QStringLiteral("error"), failure},
        {QStringLiteral("stop_reason"),
         stopReason.isEmpty() ? QStringLiteral("start-up failed") : stopReason},
        {QStringLiteral("ran_s"), double(ranMs) / 1000.0},
        {QStringLiteral("workload"), workload},
        {QStringLiteral("decisions"), decisions},
        {QStringLiteral("coordinator"), lastStatus},
        {QStringLiteral("receivers"), lastReceivers},
        {QStringLiteral("nodes"), nodeList},
        {QStringLiteral("incidents"), incidents},
        {QStringLiteral("outages"), outageList},
        {QStringLiteral("left_running"), QJsonArray::fromStringList(leftRunning)},
        {QStringLiteral("ports_in_use_after"), QJsonArray::fromStringList(portsBusyAfter)},
        {QStringLiteral("verify_command"), QStringLiteral("ticketsync verify-chain %1 --membership %2")
                                               .arg(receiverStore, layout.membershipPath)},
    };
}

void DevnetRun::printSummary(const QJsonObject &result) const
{
    if (options.json) {
        std::fputs(QJsonDocument(result).toJson(QJsonDocument::Indented).constData(), stdout);
        std::fflush(stdout);
        return;
    }
    QStringList lines;
    lines.append(QStringLiteral("\n== devnet summary (%1, ran %2 s) ==")
                     .arg(result.value(u"stop_reason").toString())
                     .arg(result.value(u"ran_s").toDouble(), 0, 'f', 1));
    if (const QString error = result.value(u"error").toString(); !error.isEmpty())
        lines.append(QStringLiteral("FAILED     %1").arg(error));
    const QJsonObject workload = result.value(u"workload").toObject();
    const QJsonObject sentByKind = workload.value(u"sent").toObject();
    if (options.workload) {
        QStringList kinds;
        for (int kind = 0; kind < kKinds; ++kind)
            kinds.append(QStringLiteral("%1 %2")
                             .arg(kindName(kind))
                             .arg(sentByKind.value(kindName(kind)).toInteger()));
        lines.append(QStringLiteral("submitted  %1 (%2)")
                         .arg(sentByKind.value(u"total").toInteger())
                         .arg(kinds.join(QStringLiteral(", "))));
        lines.append(
            QStringLiteral("answers    accepted %1, already accepted %2, already decided %3, errors %4, "
                           "unanswered %5, not sent %6")
                .arg(workload.value(u"accepted").toInteger())
                .arg(workload.value(u"already_accepted").toInteger())
                .arg(workload.value(u"decided_when_submitted").toInteger())
                .arg(workload.value(u"errors").toInteger())
                .arg(workload.value(u"unanswered").toInteger())
                .arg(workload.value(u"not_sent_no_branch").toInteger() +
                     workload.value(u"not_sent_pipeline_full").toInteger()));
        const QJsonObject samples = workload.value(u"error_samples").toObject();
        for (auto it = samples.constBegin(); it != samples.constEnd(); ++it)
            lines.append(
                QStringLiteral("           error x%1: %2").arg(it.value().toInteger()).arg(it.key()));
    }
    const QJsonObject decisions = result.value(u"decisions").toObject();
    const QJsonObject byState = decisions.value(u"decided_by_state").toObject();
    QStringList states;
    for (auto it = byState.constBegin(); it != byState.constEnd(); ++it)
        states.append(QStringLiteral("%1 %2").arg(it.key()).arg(it.value().toInteger()));
    const QJsonObject latency = decisions.value(u"latency_ms").toObject();
    lines.append(QStringLiteral("decisions  %1 DECIDED (%2), %3 UNDETERMINED; %4/s over the run")
                     .arg(decisions.value(u"decided").toInteger())
                     .arg(states.isEmpty() ? QStringLiteral("none") : states.join(QStringLiteral(", ")))
                     .arg(decisions.value(u"undetermined").toInteger())
                     .arg(decisions.value(u"per_second").toDouble(), 0, 'f', 1));
    if (latency.value(u"max").toInteger(-1) >= 0)
        lines.append(QStringLiteral(
                         "latency    p50 %1 ms, p90 %2 ms, p99 %3 ms, max %4 ms (submission to decision, at "
                         "the coordinator)")
                         .arg(latency.value(u"p50").toInteger())
                         .arg(latency.value(u"p90").toInteger())
                         .arg(latency.value(u"p99").toInteger())
                         .arg(latency.value(u"max").toInteger()));
    const QJsonObject coordinator = result.value(u"coordinator").toObject();
    if (!coordinator.isEmpty())
        lines.append(QStringLiteral("ledger     height %1, head %2")
                         .arg(coordinator.value(u"height").toInteger())
                         .arg(coordinator.value(u"head").toString().left(16)));
    QStringList receivers;
    for (const QJsonValue &value : result.value(u"receivers").toArray()) {
        const QJsonObject entry = value.toObject();
        receivers.append(QStringLiteral("%1 %2 %3")
                             .arg(entry.value(u"receiver").toString())
                             .arg(entry.value(u"acked_height").toInteger())
                             .arg(entry.value(u"status").toString()));
    }
    if (!receivers.isEmpty())
        lines.append(QStringLiteral("chain at   %1").arg(receivers.join(QStringLiteral(", "))));
    for (const QJsonValue &value : result.value(u"outages").toArray()) {
        const QJsonObject outage = value.toObject();
        lines.append(QStringLiteral("outage     %1 down at %2 s, up at %3 s, caught up %4")
                         .arg(outage.value(u"receiver").toString())
                         .arg(outage.value(u"down_at_s").toDouble(), 0, 'f', 1)
                         .arg(outage.value(u"up_at_s").isNull()
                                  ? QStringLiteral("-")
                                  : QString::number(outage.value(u"up_at_s").toDouble(), 'f', 1))
                         .arg(outage.value(u"caught_up_after_s").isNull()
                                  ? QStringLiteral("not (yet)")
                                  : QStringLiteral("%1 s after the restart")
                                        .arg(outage.value(u"caught_up_after_s").toDouble(), 0, 'f', 1)));
    }
    QStringList restarted;
    for (const QJsonValue &value : result.value(u"nodes").toArray()) {
        const QJsonObject node = value.toObject();
        if (node.value(u"unexpected_exits").toInteger() > 0)
            restarted.append(QStringLiteral("%1 exited unexpectedly %2 time(s), see %3")
                                 .arg(node.value(u"id").toString())
                                 .arg(node.value(u"unexpected_exits").toInteger())
                                 .arg(node.value(u"log").toString()));
    }
    lines.append(restarted.isEmpty()
                     ? QStringLiteral("nodes      no unexpected exits")
                     : QStringLiteral("nodes      ") + restarted.join(QStringLiteral("\n           ")));
    const QJsonArray left = result.value(u"left_running").toArray();
    QStringList killed;
    QString slowest;
    double slowestSeconds = -1;
    for (const QJsonValue &value : result.value(u"nodes").toArray()) {
        const QJsonObject node = value.toObject();
        if (node.value(u"stopped").toString() == QLatin1String("SIGKILL"))
            killed.append(node.value(u"id").toString());
        if (node.value(u"stop_s").toDouble(-1) > slowestSeconds) {
            slowestSeconds = node.value(u"stop_s").toDouble();
            slowest = node.value(u"id").toString();
        }
    }
    QStringList stillRunning;
    for (const QJsonValue &value : left)
        stillRunning.append(value.toString());
    if (!stillRunning.isEmpty())
        lines.append(
            QStringLiteral("shutdown   STILL RUNNING: %1").arg(stillRunning.join(QStringLiteral(", "))));
    else if (!killed.isEmpty())
        lines.append(QStringLiteral("shutdown   every node stopped; SIGKILL was needed for %1")
                         .arg(killed.join(QStringLiteral(", "))));
    else
        lines.append(
            QStringLiteral("shutdown   every node stopped on SIGTERM%1; none left running")
                .arg(
                    slowestSeconds >= 0
                        ? QStringLiteral(" (slowest: %1 in %2 s)").arg(slowest).arg(slowestSeconds, 0, 'f', 1)
                        : QString()));
    QStringList busy;
    for (const QJsonValue &value : result.value(u"ports_in_use_after").toArray())
        busy.append(value.toString());
    lines.append(busy.isEmpty()
                     ? QStringLiteral("ports      all free again")
                     : QStringLiteral("ports      STILL IN USE: %1").arg(busy.join(QStringLiteral("; "))));
    lines.append(QStringLiteral("logs       %1/nodes/<id>/node.log").arg(result.value(u"dir").toString()));
    lines.append(QStringLiteral("verify     %1").arg(result.value(u"verify_command").toString()));
    std::fputs(lines.join(QLatin1Char('\n')).append(QLatin1Char('\n')).toUtf8().constData(), stdout);
    std::fflush(stdout);
}

} // namespace ticketsync
