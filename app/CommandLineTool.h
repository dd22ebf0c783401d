#pragma once

#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <optional>

class QCommandLineParser;

namespace ticketsync {

// A subcommand's --help: QCommandLineParser names the program after argv[0] and leaves out the
// command, so its usage line would send the reader to run `ticketsync INPUT`.
QString subcommandHelpText(const QCommandLineParser &parser, const QString &command);

// The `ticketsync` tool: key generation, membership checks and the offline verifiers that
// auditors run on exports. Every subcommand prints JSON with --json and names exactly what
// failed. It exits 0 on success; 1 when what it examined does not verify, damaged input of the
// right kind included (a truncated chain export, a corrupt ledger, a certificate that does not
// decode), or a node refuses or does not answer; 2 on bad usage, or when it has nothing it can
// examine: an input that is missing, unreadable, or not the kind of file the command takes.
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
    // Reports bad usage or unusable input, exit code 2.
    int refuse(const QString &command, const QString &problem);
    // The value of a whole-number option from min to max. Otherwise nullopt and, in *problem, the
    // option, the value given and what it takes: "--threads 'abc': expected ...".
    static std::optional<qint64> wholeNumber(const QCommandLineParser &parser, const QString &option,
                                             qint64 min, qint64 max, const QString &expected,
                                             QString *problem);

    bool json = false;
};

} // namespace ticketsync
