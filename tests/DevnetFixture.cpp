#include "DevnetFixture.h"

#include "TlsIdentity.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRandomGenerator>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <csignal>

using namespace ticketsync;

DevnetFixture::DevnetFixture() : directory(std::make_unique<QTemporaryDir>()) {}

DevnetFixture::~DevnetFixture()
{
    stopAll();
}

quint16 DevnetFixture::freeBasePort(int count)
{
    for (int attempt = 0; attempt < 50; ++attempt) {
        // Below Linux's ephemeral range (32768 and up), so outgoing connections never take them.
        const quint16 base = quint16(10000 + QRandomGenerator::global()->bounded(22000));
        bool free = true;
        for (int i = 0; i < count && free; ++i) {
            QTcpServer probe;
            free = probe.listen(QHostAddress::LocalHost, quint16(base + i));
        }
        if (free)
            return base;
    }
    return 0;
}

QString DevnetFixture::ticketName(int ticketNumber)
{
    return QStringLiteral("T-%1").arg(ticketNumber, 6, 10, QLatin1Char('0'));
}

bool DevnetFixture::start(const DevnetOptions &overrides, QString *error)
{
    // Another test process may take a probed port before our node binds it; then start over
    // on other ports.
    for (int attempt = 1;; ++attempt) {
        if (startOnce(overrides, error))
            return true;
        stopAll();
        if (attempt == 3 || !error->contains(QLatin1String("already in use")))
            return false;
        qWarning().noquote() << "retrying the devnet on other ports:" << *error;
        directory = std::make_unique<QTemporaryDir>();
        starts.clear();
    }
}

bool DevnetFixture::startOnce(const DevnetOptions &overrides, QString *error)
{
    if (!directory->isValid()) {
        *error = QStringLiteral("no temporary directory");
        return false;
    }
    DevnetOptions options = overrides;
    options.dir = directory->path();
    options.basePort = freeBasePort(1 + options.branches + options.targets + options.receivers);
    if (options.basePort == 0) {
        *error = QStringLiteral("no free loopback ports");
        return false;
    }
    generated = DevnetLayout::ensure(options, error);
    if (!generated)
        return false;
    for (const DevnetNode &node : generated->nodes) {
        if (!startNode(node.id, error))
            return false;
    }
    return true;
}

bool DevnetFixture::startNode(const QString &id, QString *error)
{
    const DevnetNode *node = generated->node(id);
    if (!node) {
        if (error)
            *error = QStringLiteral("no node '%1'").arg(id);
        return false;
    }
    auto *process = new QProcess;
    process->setProgram(QStringLiteral(TICKETSYNC_NODE));
    process->setArguments({QStringLiteral("--config"), node->configPath});
    const QDir nodeDir = QFileInfo(node->configPath).dir();
    process->setStandardOutputFile(nodeDir.filePath(QStringLiteral("node.out")), QIODevice::Append);
    process->setStandardErrorFile(nodeDir.filePath(QStringLiteral("node.log")), QIODevice::Append);
    process->start();
    if (!process->waitForStarted(5000)) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(id, process->errorString());
        delete process;
        return false;
    }
    delete processes.take(id);
    processes.insert(id, process);
    // Listening once the node says so on stdout (it prints only after the bind succeeded).
    const QString out = nodeDir.filePath(QStringLiteral("node.out"));
    const QByteArray marker = QStringLiteral("%1 listening on port").arg(id).toUtf8();
    const bool listening = QTest::qWaitFor(
        [&] {
            if (process->state() == QProcess::NotRunning)
                return true;
            QFile file(out);
            return file.open(QIODevice::ReadOnly) && file.readAll().count(marker) >= startsOf(id) + 1;
        },
        10000);
    if (!listening || process->state() == QProcess::NotRunning) {
        if (error)
            *error = QStringLiteral("%1 did not start listening: %2").arg(id, logTail(id));
        return false;
    }
    starts[id] += 1;
    return true;
}

bool DevnetFixture::killNode(const QString &id, int signal)
{
    QProcess *process = processes.take(id);
    if (!process)
        return false;
    if (process->processId() > 0)
        ::kill(pid_t(process->processId()), signal);
    const bool ended = process->waitForFinished(5000);
    delete process;
    return ended;
}

bool DevnetFixture::signalNode(const QString &id, int signal)
{
    const QProcess *process = processes.value(id);
    // Never pid 0 or below: that would signal this whole process group.
    return process && process->processId() > 0 && ::kill(pid_t(process->processId()), signal) == 0;
}

bool DevnetFixture::isRunning(const QString &id) const
{
    const QProcess *process = processes.value(id);
    return process && process->state() == QProcess::Running;
}

void DevnetFixture::stopAll()
{
    for (QProcess *process : std::as_const(processes)) {
        process->terminate();
        if (!process->waitForFinished(5000))
            process->kill();
        process->waitForFinished(2000);
        delete process;
    }
    processes.clear();
}

QString DevnetFixture::logTail(const QString &id) const
{
    const DevnetNode *node = generated ? generated->node(id) : nullptr;
    if (!node)
        return {};
    QFile log(QFileInfo(node->configPath).dir().filePath(QStringLiteral("node.log")));
    if (!log.open(QIODevice::ReadOnly))
        return {};
    return QString::fromUtf8(log.readAll().right(3000));
}

std::unique_ptr<ApiClient> DevnetFixture::client(const QString &nodeId, bool auditor) const
{
    QString error;
    const std::optional<TlsIdentity> identity =
        auditor ? TlsIdentity::load(generated->auditorCertificate, generated->auditorKey, generated->caPath,
                                    &error)
                : TlsIdentity::load(generated->operatorCertificate, generated->operatorKey, generated->caPath,
                                    &error);
    if (!identity) {
        qWarning() << error;
        return nullptr;
    }
    auto api = std::make_unique<ApiClient>(*identity, generated->node(nodeId)->address, nodeId);
    api->setBackoff(50, 500);
    api->start();
    if (!QTest::qWaitFor([&] { return api->isConnected(); }, kWait))
        qWarning() << "no API connection to" << nodeId << api->lastError();
    return api;
}

QJsonObject DevnetFixture::call(ApiClient &api, const QJsonObject &request, int timeoutMs)
{
    QJsonObject answer;
    bool done = false;
    (void)QTest::qWaitFor([&] { return api.isConnected(); }, timeoutMs);
    if (api.request(request, [&](const QJsonObject &reply) {
            answer = reply;
            done = true;
        }) < 0)
        return {{QStringLiteral("type"), QStringLiteral("error")},
                {QStringLiteral("error"), QStringLiteral("not connected: %1").arg(api.lastError())}};
    if (!QTest::qWaitFor([&] { return done; }, timeoutMs))
        return {{QStringLiteral("type"), QStringLiteral("error")},
                {QStringLiteral("error"), QStringLiteral("timeout")}};
    return answer;
}
