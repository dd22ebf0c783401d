#pragma once

#include "ApiClient.h"
#include "DevnetLayout.h"
#include "NodeProcess.h"

#include <QJsonObject>
#include <QTemporaryDir>
#include <map>
#include <memory>
#include <optional>

// A generated devnet in a temporary directory with every node running as a real
// ticketsync-node child process on free loopback ports. Shared by the network and console
// tests.
class DevnetFixture
{
public:
    static constexpr int kWait = 20000;

    DevnetFixture();
    ~DevnetFixture();

    // Generates the layout and starts every node; false with a message on failure.
    bool start(const ticketsync::DevnetOptions &overrides, QString *error);
    void stopAll();
    bool startNode(const QString &id, QString *error = nullptr);
    bool killNode(const QString &id, int signal);
    // Sends a signal and leaves the process to it (SIGSTOP, SIGCONT).
    bool signalNode(const QString &id, int signal);
    bool isRunning(const QString &id) const;
    // The running process's id, or -1.
    qint64 pid(const QString &id) const;

    const ticketsync::DevnetLayout &layout() const { return *generated; }
    QString dir() const { return directory->path(); }
    // The tail of a node's log, for failure messages.
    QString logTail(const QString &id) const;

    // An API client as operator (or auditor), connected or null with the reason logged.
    std::unique_ptr<ticketsync::ApiClient> client(const QString &nodeId, bool auditor = false) const;
    // One request, waiting for its answer (an error object on timeout).
    static QJsonObject call(ticketsync::ApiClient &api, const QJsonObject &request, int timeoutMs = kWait);

private:
    bool startOnce(const ticketsync::DevnetOptions &overrides, QString *error);
    ticketsync::NodeProcess *process(const QString &id) const;

    std::unique_ptr<QTemporaryDir> directory;
    std::optional<ticketsync::DevnetLayout> generated;
    // Kept after they stop, so their log tails can still be read.
    std::map<QString, std::unique_ptr<ticketsync::NodeProcess>> processes;
};
