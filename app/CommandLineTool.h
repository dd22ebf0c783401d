#pragma once

#include <QJsonObject>
#include <QStringList>

class QCommandLineParser;

namespace ticketsync {

// The `ticketsync` tool: key generation, membership checks and the offline verifiers that
// auditors run on exports. Every subcommand prints JSON with --json, exits 0 on success,
// 1 when a verification fails and 2 when the input cannot be read or the usage is wrong,
// and names exactly what failed.
class CommandLineTool
{
public:
    enum ExitCode
    {
        Success = 0,
        VerificationFailed = 1,
        UsageOrInputError = 2
    };

    int run(const QStringList &arguments);

private:
    int keygen(const QStringList &arguments);
    int membershipCheck(const QStringList &arguments);
    int verifyCertificate(const QStringList &arguments);
    int verifyChain(const QStringList &arguments);
    int exportChain(const QStringList &arguments);
    int exportCertificate(const QStringList &arguments);
    int demo(const QStringList &arguments);
    int protocolExample(const QStringList &arguments);
    // NetworkCommands.cpp: the commands that talk to running nodes.
    static bool isNetworkCommand(const QString &command);
    int networkCommand(const QString &command, const QStringList &arguments);

    // Parses a subcommand's arguments; false (with the exit code in *exitCode) if the run
    // should stop here, after --help or a usage error.
    bool parse(QCommandLineParser &parser, const QStringList &arguments, int positionalCount, int *exitCode);
    // Prints the result (JSON or the human text) and returns the exit code.
    int report(const QString &command, const QJsonObject &result, const QString &humanText, int exitCode);

    bool json = false;
};

} // namespace ticketsync
