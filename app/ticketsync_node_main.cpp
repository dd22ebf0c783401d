// ticketsync-node: one ledger node; its roles come from the membership.
#include "CpuScheduling.h"
#include "LedgerNode.h"
#include "NodeConfig.h"
#include "SignalPipe.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFileInfo>
#include <csignal>
#include <cstdio>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int main(int argc, char **argv)
{
#if defined(__GLIBC__)
    // A fixed threshold for serving allocations with mmap. glibc raises it after every larger
    // chunk it frees, up to 32 MiB: after an overload, whose catch-up frames run to megabytes,
    // such allocations came from the heap instead and each receiver's heap grew by 20 MiB over
    // the next minutes (docs/performance.md, "Network").
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    // Fixing that threshold also fixes the trim threshold, at 128 KiB: every block a chain store
    // decodes and frees gave its heap back to the kernel, and the next one faulted it in again,
    // 700-900 page faults a second on each target and receiver and 3,400 on the coordinator at
    // 1000 write-offs/s. Up to 16 MiB of free heap is kept instead, with 1 MiB to spare on growth.
    mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
    mallopt(M_TOP_PAD, 1024 * 1024);
#endif
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("ticketsync-node"));
    QCoreApplication::setApplicationVersion(QStringLiteral(TICKETSYNC_VERSION));
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "A ticketsync ledger node. Its roles (branch, target, coordinator, receiver) come from "
        "the membership; see docs/node-config.md."));
    const QCommandLineOption helpOption = parser.addHelpOption();
    const QCommandLineOption versionOption = parser.addVersionOption();
    const QCommandLineOption configOption(QStringList{QStringLiteral("c"), QStringLiteral("config")},
                                          QStringLiteral("The node configuration file."),
                                          QStringLiteral("FILE"));
    parser.addOption(configOption);
    const QCommandLineOption checkOption(
        QStringLiteral("check-config"),
        QStringLiteral("Check the configuration and every file it names, then exit: 0 if the node would "
                       "start with it, 2 with the problem otherwise. Writes nothing."));
    parser.addOption(checkOption);
    // Not process(): it exits 1 on a bad command line, which systemd's Restart=on-failure takes
    // for a crash and restarts forever. A command line is configuration: exit 2, never restarted.
    if (!parser.parse(QCoreApplication::arguments())) {
        std::fprintf(stderr, "ticketsync-node: %s (see --help)\n", qPrintable(parser.errorText()));
        return 2;
    }
    if (parser.isSet(helpOption) || parser.isSet(QStringLiteral("help-all"))) {
        std::printf("%s", qPrintable(parser.helpText()));
        return 0;
    }
    if (parser.isSet(versionOption)) {
        std::printf("%s %s\n", qPrintable(QCoreApplication::applicationName()),
                    qPrintable(QCoreApplication::applicationVersion()));
        return 0;
    }
    if (!parser.positionalArguments().isEmpty()) {
        std::fprintf(stderr, "ticketsync-node: unexpected argument '%s' (see --help)\n",
                     qPrintable(parser.positionalArguments().constFirst()));
        return 2;
    }
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
    if (parser.isSet(checkOption)) {
        const std::optional<ticketsync::LedgerNode::Identity> identity =
            ticketsync::LedgerNode::loadIdentity(*config, &error);
        if (!identity) {
            std::fprintf(stderr, "ticketsync-node: %s\n", qPrintable(error));
            return 2;
        }
        QString registry;
        if (identity->roles.testFlag(ticketsync::Role::Target) && !config->registryPath.isEmpty()) {
            qint64 tickets = 0;
            if (!ticketsync::LedgerNode::checkRegistry(*config, &tickets, &error)) {
                std::fprintf(stderr, "ticketsync-node: %s\n", qPrintable(error));
                return 2;
            }
            registry = QStringLiteral(", registry of %1 tickets").arg(tickets);
        }
        std::printf("%s: node %s (%s) of consortium %s, listening on %s:%u, ledger %s (%s)%s: ok\n",
                    qPrintable(config->path), qPrintable(config->nodeId),
                    qPrintable(ticketsync::roleNames(identity->roles).join(u", ")),
                    qPrintable(identity->membership.consortiumId()), qPrintable(config->listenHost),
                    unsigned(config->listenPort), qPrintable(config->databasePath),
                    QFileInfo::exists(config->databasePath) ? "exists" : "created on first start",
                    qPrintable(registry));
        return 0;
    }
    // Before the node starts its threads, which inherit the policy. A node that cannot set it
    // still runs correctly, only less efficiently under load, so this is a warning.
    if (!ticketsync::applyCpuScheduling(config->cpuScheduling, config->cpuSliceMs, &error))
        std::fprintf(stderr, "ticketsync-node: warning: %s\n", qPrintable(error));
    // A write past the file size limit (RLIMIT_FSIZE) then fails with EFBIG instead of killing the
    // node: the journal keeps what it could not store and tries again, as on a full disk.
    std::signal(SIGXFSZ, SIG_IGN);
    // Exit 2: the configuration or a file it names is wrong, and starting again cannot help (the
    // systemd unit does not restart on it); 1: anything else, such as a port in use.
    bool inConfiguration = false;
    std::unique_ptr<ticketsync::LedgerNode> node =
        ticketsync::LedgerNode::create(*config, &error, &inConfiguration);
    if (!node) {
        std::fprintf(stderr, "ticketsync-node: %s\n", qPrintable(error));
        return inConfiguration ? 2 : 1;
    }
    if (!node->start(&error)) {
        std::fprintf(stderr, "ticketsync-node: %s\n", qPrintable(error));
        return 1;
    }
    // SIGINT/SIGTERM end the event loop, so the journal is committed and sockets closed.
    ticketsync::SignalPipe stopSignals;
    if (stopSignals.install({SIGINT, SIGTERM}))
        QObject::connect(&stopSignals, &ticketsync::SignalPipe::received, &app,
                         [] { QCoreApplication::quit(); });
    std::printf("ticketsync-node %s listening on port %u\n", qPrintable(node->id()), unsigned(node->port()));
    std::fflush(stdout);
    const int status = app.exec();
    node->shutdown();
    return status;
}
