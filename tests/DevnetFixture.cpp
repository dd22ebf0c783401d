#include "DevnetFixture.h"

#include "TlsIdentity.h"

#include <QTest>

using namespace ticketsync;

DevnetFixture::DevnetFixture() : directory(std::make_unique<QTemporaryDir>()) {}

DevnetFixture::~DevnetFixture()
{
    stopAll();
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
    options.basePort = DevnetLayout::freeBasePort(1 + options.branches + options.targets + options.receivers);
    if (options.basePort == 0) {
        *error = QStringLiteral("no free loopback ports");
        return false;
    }
    processes.clear();
    generated = DevnetLayout::ensure(options, error);
    if (!generated)
        return false;
    for (const DevnetNode &node : generated->nodes)
        processes[node.id] =
            std::make_unique<NodeProcess>(node.id, QStringLiteral(TICKETSYNC_NODE), node.configPath);
    for (const DevnetNode &node : generated->nodes) {
        if (!startNode(node.id, error))
            return false;
    }
    return true;
}

NodeProcess *DevnetFixture::process(const QString &id) const
{
    const auto found = processes.find(id);
    return found == processes.end() ? nullptr : found->second.get();
}

bool DevnetFixture::startNode(const QString &id, QString *error)
{
    NodeProcess *node = process(id);
    if (!node) {
        if (error)
            *error = QStringLiteral("no node '%1'").arg(id);
        return false;
    }
    if (!node->start(error))
        return false;
    if (!node->waitForListening(10000)) {
        if (error)
            *error = QStringLiteral("%1 did not start listening: %2").arg(id, node->logTail(40));
        return false;
    }
    return true;
}

bool DevnetFixture::killNode(const QString &id, int signal)
{
    NodeProcess *node = process(id);
    return node && node->signalAndWait(signal, 5000);
}

bool DevnetFixture::signalNode(const QString &id, int signal)
{
    NodeProcess *node = process(id);
    return node && node->sendSignal(signal);
}

bool DevnetFixture::isRunning(const QString &id) const
{
    const NodeProcess *node = process(id);
    return node && node->isRunning();
}

qint64 DevnetFixture::pid(const QString &id) const
{
    const NodeProcess *node = process(id);
    return node && node->isRunning() ? node->pid() : -1;
}

void DevnetFixture::stopAll()
{
    QList<NodeProcess *> running;
    for (const auto &[id, node] : processes)
        running.append(node.get());
    NodeProcess::stopAll(running, 5000);
}

QString DevnetFixture::logTail(const QString &id) const
{
    const NodeProcess *node = process(id);
    return node ? node->logTail(40) : QString();
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
