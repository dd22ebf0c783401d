// ticketsync-node: one ledger node; its roles come from the membership.
#include "LedgerNode.h"
#include "NodeConfig.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QSocketNotifier>
#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace {
int signalPipe[2] = {-1, -1};

void onSignal(int)
{
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(signalPipe[1], &byte, 1);
}
} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("ticketsync-node"));
    QCoreApplication::setApplicationVersion(QStringLiteral(TICKETSYNC_VERSION));
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "A ticketsync ledger node. Its roles (branch, target, coordinator, receiver) come from "
        "the membership; see docs/node-config.md."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption configOption(QStringList{QStringLiteral("c"), QStringLiteral("config")},
                                          QStringLiteral("The node configuration file."),
                                          QStringLiteral("FILE"));
    parser.addOption(configOption);
    parser.process(app);
    if (!parser.isSet(configOption)) {
        std::fprintf(stderr, "ticketsync-node: --config FILE is required\n");
        return 2;
    }
    QString error;
    const std::optional<ticketsync::NodeConfig> config =
        ticketsync::NodeConfig::load(parser.value(configOption), &error);
    if (!config) {
        std::fprintf(stderr, "ticketsync-node: %s\n", qPrintable(error));
        return 2;
    }
    std::unique_ptr<ticketsync::LedgerNode> node = ticketsync::LedgerNode::create(*config, &error);
    if (!node || !node->start(&error)) {
        std::fprintf(stderr, "ticketsync-node: %s\n", qPrintable(error));
        return 1;
    }
    // SIGINT/SIGTERM end the event loop, so the journal is committed and sockets closed.
    if (::pipe(signalPipe) == 0) {
        auto *notifier = new QSocketNotifier(signalPipe[0], QSocketNotifier::Read, &app);
        QObject::connect(notifier, &QSocketNotifier::activated, &app, [] { QCoreApplication::quit(); });
        std::signal(SIGINT, onSignal);
        std::signal(SIGTERM, onSignal);
    }
    std::printf("ticketsync-node %s listening on port %u\n", qPrintable(node->id()), unsigned(node->port()));
    std::fflush(stdout);
    const int status = app.exec();
    node->shutdown();
    return status;
}
