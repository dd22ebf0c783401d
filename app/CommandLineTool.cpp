#include "CommandLineTool.h"

#include "ChainVerifier.h"
#include "DemoRun.h"
#include "DevnetRun.h"
#include "KeyFile.h"
#include "LedgerStore.h"
#include "Membership.h"
#include "ProtocolExample.h"
#include "Sha256.h"
#include "VerifyReportCommand.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <QTextStream>
#include <cstdio>
#include <limits>
#include <sys/stat.h>

namespace ticketsync {

namespace {

constexpr qint64 kMaxInputFileBytes = qint64(2) << 30;
constexpr qint64 kMaxHeight = std::numeric_limits<qint64>::max();
constexpr qint64 kMaxDemoWriteOffs = 100000;

struct Subcommand
{
    const char *name;
    const char *summary;
};

constexpr Subcommand kSubcommands[] = {
    {"keygen", "Generate an Ed25519 signing key pair (secret key file with mode 0600)."},
    {"membership check", "Validate a membership file and print its hash, n and q."},
    {"verify-certificate", "Verify a quorum certificate offline against a membership."},
    {"verify-chain", "Verify a ledger (SQLite store or chain export) block by block."},
    {"export-chain", "Export blocks from a store as a self-verifying chain file."},
    {"export-certificate", "Export the certificate of one ticket write-off from a store."},
    {"demo", "Run the method on a generated sample consortium and print tallies and the chain."},
    {"protocol-example", "Print the worked 4-target example of docs/protocol.md."},
    {"verify-report", "Verify an audit report's JSON bundle offline: signatures, certificates, hashes."},
    {"devnet", "Run a complete local consortium (10 node processes) with a workload and a live summary."},
    {"submit", "Submit a ticket write-off through a branch node (operators only)."},
    {"status", "Print a node's status: height, counters and queue depths."},
    {"receivers", "Print each receiver's sync state as the coordinator sees it."},
    {"history", "Page through decided and undetermined write-offs."},
    {"resync-receiver", "Push the chain to a receiver again from a height (operators only)."},
    {"retry-deliveries", "Retry block deliveries to every lagging receiver (operators only)."},
    {"retry-undetermined", "Tally an UNDETERMINED write-off again (operators only)."},
};

void printOut(const QString &text)
{
    QTextStream(stdout) << text << Qt::endl;
}

void printErr(const QString &text)
{
    QTextStream(stderr) << text << Qt::endl;
}

QString hex(const QByteArray &bytes)
{
    return QString::fromLatin1(bytes.toHex());
}

// Why path cannot be examined at all (missing, not a regular file, unreadable); empty if it can.
QString inputProblem(const QString &path)
{
    const QFileInfo info(path);
    if (!info.exists())
        return QStringLiteral("%1: no such file").arg(path);
    if (!info.isFile())
        return QStringLiteral("%1: not a regular file").arg(path);
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return QStringLiteral("%1: %2").arg(path, file.errorString());
    return {};
}

// Reads a whole input file, refusing directories and absurd sizes with a clear message.
std::optional<QByteArray> readInput(const QString &path, QString *error)
{
    const QFileInfo info(path);
    if (QString problem = inputProblem(path); !problem.isEmpty()) {
        *error = problem;
        return std::nullopt;
    }
    if (info.size() > kMaxInputFileBytes) {
        *error = QStringLiteral("%1: %2 bytes is larger than the 2 GiB this tool reads")
                     .arg(path)
                     .arg(info.size());
        return std::nullopt;
    }
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("%1: %2").arg(path, file.errorString());
        return std::nullopt;
    }
    return file.readAll();
}

bool writeAtomically(const QString &path, const QByteArray &contents, QString *error)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(contents) != contents.size() || !file.commit()) {
        *error = QStringLiteral("%1: cannot write: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

bool isSqliteFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) && file.read(16) == QByteArray("SQLite format 3\0", 16);
}

enum class ExportKind
{
    Chain,
    Certificate
};

// Whether path holds an earlier export of this kind, which a new one may replace.
bool isEarlierExport(const QString &path, ExportKind kind)
{
    constexpr qint64 kMaxCertificateBytes = 16 << 20;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return false;
    if (kind == ExportKind::Chain)
        return ChainSegment::hasHeader(file.read(5));
    return file.size() <= kMaxCertificateBytes &&
           QJsonDocument::fromJson(file.readAll()).object().value(QLatin1String("format")) ==
               QLatin1String("ticketsync-certificate");
}

// Why writing an export to out would destroy something, empty if it would not: out is the store
// itself (by any path or link), one of its SQLite side files, another SQLite database such as
// another node's ledger, or any other file but an earlier export of the same kind.
QString overwriteProblem(const QString &out, const QString &storePath, ExportKind kind)
{
    struct stat outStat = {};
    if (::stat(QFile::encodeName(out).constData(), &outStat) != 0)
        return {};
    const QString store = QFileInfo(storePath).canonicalFilePath();
    for (const char *suffix : {"", "-wal", "-shm", "-journal"}) {
        struct stat storeStat = {};
        const QByteArray path = QFile::encodeName(store + QLatin1String(suffix));
        if (!store.isEmpty() && ::stat(path.constData(), &storeStat) == 0 &&
            storeStat.st_dev == outStat.st_dev && storeStat.st_ino == outStat.st_ino)
            return QStringLiteral("%1 is the store %2%3 itself; refusing to write the export over it")
                .arg(out, storePath, QLatin1String(suffix));
    }
    if (isSqliteFile(out))
        return QStringLiteral(
                   "%1 is a SQLite database, perhaps a ledger; refusing to write the export over it")
            .arg(out);
    if (!isEarlierExport(out, kind))
        return QStringLiteral("%1 exists and is not an earlier %2; refusing to write over it (remove it "
                              "first if it is to go)")
            .arg(out, kind == ExportKind::Chain ? QStringLiteral("chain export")
                                                : QStringLiteral("certificate export"));
    return {};
}

// A node's store as the offline tools open it: read only, and refused unless it is a ledger.
std::unique_ptr<LedgerStore> openLedger(const QString &path, QString *error,
                                        LedgerStore::OpenFailure *failure = nullptr)
{
    const QFileInfo info(path);
    if (info.isFile() && !isSqliteFile(path)) {
        if (failure)
            *failure = LedgerStore::OpenFailure::NotALedger;
        *error = QStringLiteral("%1: not a ticketsync ledger: not a SQLite database").arg(path);
        return nullptr;
    }
    return LedgerStore::openReadOnly(path, error, failure);
}

QJsonObject decisionSummary(const Decision &decision)
{
    QJsonObject histogram;
    for (const StateCount &entry : decision.histogram)
        histogram.insert(stateName(entry.stateCode), int(entry.count));
    QJsonArray signers;
    for (const StateConfirmation &confirmation : decision.confirmations)
        signers.append(confirmation.targetId);
    QJsonObject summary;
    summary.insert(QLatin1String("ticketId"), decision.writeOff.ticketId);
    summary.insert(QLatin1String("ticketVersion"), int(decision.writeOff.ticketVersion));
    summary.insert(QLatin1String("amountMinor"), QString::number(decision.writeOff.amountMinor));
    summary.insert(QLatin1String("currency"), decision.writeOff.currency);
    summary.insert(QLatin1String("branch"), decision.writeOff.branchId);
    summary.insert(QLatin1String("writeOffDigest"), hex(decision.writeOff.digest()));
    summary.insert(QLatin1String("outcome"), outcomeName(decision.outcome));
    if (decision.outcome == Outcome::Decided)
        summary.insert(QLatin1String("state"), stateName(decision.decidedState));
    summary.insert(QLatin1String("n"), int(decision.targetCount));
    summary.insert(QLatin1String("q"), int(decision.quorum));
    summary.insert(QLatin1String("histogram"), histogram);
    summary.insert(QLatin1String("missing"), int(decision.missing));
    summary.insert(QLatin1String("equivocating"), int(decision.equivocating));
    summary.insert(QLatin1String("signers"), signers);
    return summary;
}

// A certificate file is the canonical decision bytes, or a JSON wrapper that carries them in
// base64 next to a readable summary (the summary is informative; only the bytes are checked).
std::optional<Decision> readCertificate(const QString &path, QString *error, bool *unreadable)
{
    const std::optional<QByteArray> contents = readInput(path, error);
    *unreadable = !contents;
    if (!contents)
        return std::nullopt;
    QByteArray canonical = *contents;
    if (contents->trimmed().startsWith('{')) {
        QJsonParseError parseError;
        const QJsonDocument document = QJsonDocument::fromJson(*contents, &parseError);
        if (parseError.error != QJsonParseError::NoError) {
            *error = QStringLiteral("%1: not valid JSON at offset %2: %3")
                         .arg(path)
                         .arg(parseError.offset)
                         .arg(parseError.errorString());
            return std::nullopt;
        }
        const QJsonObject root = document.object();
        if (root.value(QLatin1String("format")).toString() != QLatin1String("ticketsync-certificate")) {
            *error = QStringLiteral("%1: 'format' must be \"ticketsync-certificate\"").arg(path);
            return std::nullopt;
        }
        const auto decoded =
            QByteArray::fromBase64Encoding(root.value(QLatin1String("decision")).toString().toLatin1(),
                                           QByteArray::AbortOnBase64DecodingErrors);
        if (!decoded) {
            *error = QStringLiteral("%1: 'decision' is not valid base64").arg(path);
            return std::nullopt;
        }
        canonical = *decoded;
    }
    QString problem;
    std::optional<Decision> decision = Decision::decode(canonical, &problem);
    if (!decision)
        *error = QStringLiteral("%1: %2").arg(path, problem);
    return decision;
}

} // namespace

QString subcommandHelpText(const QCommandLineParser &parser, const QString &command)
{
    QString text = parser.helpText();
    const QString program =
        QStringLiteral("Usage: ") + QDir::toNativeSeparators(QCoreApplication::arguments().value(0));
    if (text.startsWith(program))
        text.replace(0, program.size(), QStringLiteral("Usage: ticketsync ") + command);
    return text;
}

int CommandLineTool::run(const QStringList &arguments)
{
    json = arguments.contains(QLatin1String("--json"));
    const QString command = arguments.value(1);
    const QStringList rest = arguments.mid(1);
    if (command == QLatin1String("keygen"))
        return keygen(rest);
    if (command == QLatin1String("membership") && arguments.value(2) == QLatin1String("check"))
        return membershipCheck(QStringList{QStringLiteral("membership check")} + arguments.mid(3));
    if (command == QLatin1String("verify-certificate"))
        return verifyCertificate(rest);
    if (command == QLatin1String("verify-chain"))
        return verifyChain(rest);
    if (command == QLatin1String("export-chain"))
        return exportChain(rest);
    if (command == QLatin1String("export-certificate"))
        return exportCertificate(rest);
    if (command == QLatin1String("demo"))
        return demo(rest);
    if (command == QLatin1String("protocol-example"))
        return protocolExample(rest);
    if (command == QLatin1String("verify-report"))
        return verifyReportCommand(rest, json);
    if (command == QLatin1String("devnet"))
        return DevnetRun::main(rest, json);
    if (isNetworkCommand(command))
        return networkCommand(command, rest);
    if (command == QLatin1String("--version") || command == QLatin1String("-v")) {
        printOut(QStringLiteral("ticketsync %1").arg(QCoreApplication::applicationVersion()));
        return Success;
    }

    QString usage =
        QStringLiteral("Usage: ticketsync <command> [options]\n\n"
                       "Confirms ticket write-offs across a bank consortium: manage keys, verify what the "
                       "network produced offline, run a local network and talk to its nodes.\n\nCommands:\n");
    for (const Subcommand &subcommand : kSubcommands)
        usage += QStringLiteral("  %1%2\n")
                     .arg(QLatin1String(subcommand.name), -22)
                     .arg(QLatin1String(subcommand.summary));
    usage += QStringLiteral(
        "\nRun 'ticketsync <command> --help' for a command's options. Every command takes --json.\n"
        "Exit status: 0 success; 1 verification failed (damaged input included), or a node refused "
        "or did not answer;\n2 bad usage, or an input that is missing, unreadable or not what the command "
        "takes.");
    const bool askedForHelp = command.isEmpty() || command == QLatin1String("--help") ||
                              command == QLatin1String("-h") || command == QLatin1String("help");
    if (askedForHelp) {
        printOut(usage);
        return Success;
    }
    printErr(QStringLiteral("ticketsync: unknown command '%1'\n\n").arg(command) + usage);
    return UsageOrInputError;
}

bool CommandLineTool::parse(QCommandLineParser &parser, const QStringList &arguments, int positionalCount,
                            int *exitCode)
{
    parser.addHelpOption();
    parser.addOption({QStringLiteral("json"), QStringLiteral("Print the result as JSON.")});
    // The first argument is the command name, which QCommandLineParser treats as the program.
    if (!parser.parse(arguments)) {
        printErr(
            QStringLiteral("ticketsync %1: %2\n\n%3")
                .arg(arguments.first(), parser.errorText(), subcommandHelpText(parser, arguments.first())));
        *exitCode = UsageOrInputError;
        return false;
    }
    if (parser.isSet(QStringLiteral("help"))) {
        printOut(subcommandHelpText(parser, arguments.first()));
        *exitCode = Success;
        return false;
    }
    if (positionalCount >= 0 && parser.positionalArguments().size() != positionalCount) {
        printErr(QStringLiteral("ticketsync %1: expected %2 argument(s), got %3\n\n%4")
                     .arg(arguments.first())
                     .arg(positionalCount)
                     .arg(parser.positionalArguments().size())
                     .arg(subcommandHelpText(parser, arguments.first())));
        *exitCode = UsageOrInputError;
        return false;
    }
    return true;
}

int CommandLineTool::report(const QString &command, const QJsonObject &result, const QString &humanText,
                            int exitCode)
{
    if (json) {
        QJsonObject output = result;
        output.insert(QLatin1String("command"), command);
        output.insert(QLatin1String("ok"), exitCode == Success);
        printOut(QString::fromUtf8(QJsonDocument(output).toJson(QJsonDocument::Indented)).trimmed());
    } else if (exitCode == Success) {
        printOut(humanText);
    } else {
        printErr(QStringLiteral("ticketsync %1: %2").arg(command, humanText));
    }
    return exitCode;
}

int CommandLineTool::refuse(const QString &command, const QString &problem)
{
    return report(command, {{QLatin1String("error"), problem}}, problem, UsageOrInputError);
}

std::optional<qint64> CommandLineTool::wholeNumber(const QCommandLineParser &parser, const QString &option,
                                                   qint64 min, qint64 max, const QString &expected,
                                                   QString *problem)
{
    const QString text = parser.value(option);
    bool ok = false;
    const qint64 value = text.toLongLong(&ok);
    if (ok && value >= min && value <= max)
        return value;
    *problem = QStringLiteral("--%1 '%2': expected %3").arg(option, text, expected);
    return std::nullopt;
}

int CommandLineTool::keygen(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Generate an Ed25519 signing key. Writes SECRET (mode 0600) and, "
                       "with --public, the public key as PEM; prints the public key in "
                       "hex for the membership file."));
    parser.addPositionalArgument(QStringLiteral("SECRET"), QStringLiteral("Where to write the secret key."));
    parser.addOption({QStringLiteral("format"),
                      QStringLiteral("Secret key format: pem (PKCS#8) or raw (32-byte seed)."),
                      QStringLiteral("pem|raw"), QStringLiteral("pem")});
    parser.addOption({QStringLiteral("public"), QStringLiteral("Also write the public key as PEM to FILE."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("force"),
                      QStringLiteral("Overwrite an existing secret key file and --public file.")});
    int exitCode = Success;
    if (!parse(parser, arguments, 1, &exitCode))
        return exitCode;
    const QString secretPath = parser.positionalArguments().first();
    const QString format = parser.value(QStringLiteral("format"));
    const QString publicPath = parser.value(QStringLiteral("public"));
    // Both paths are checked before anything is written: a slip in --public (the membership, the
    // secret key itself) must not cost that file.
    if (parser.isSet(QStringLiteral("public")) &&
        (publicPath.isEmpty() ||
         QFileInfo(publicPath).absoluteFilePath() == QFileInfo(secretPath).absoluteFilePath()))
        return refuse(QStringLiteral("keygen"),
                      QStringLiteral("--public '%1': expected a file other than SECRET").arg(publicPath));
    if (parser.isSet(QStringLiteral("public")) && QFileInfo::exists(publicPath) &&
        !parser.isSet(QStringLiteral("force")))
        return refuse(
            QStringLiteral("keygen"),
            QStringLiteral("%1 already exists; refusing to overwrite it with the public key (use --force)")
                .arg(publicPath));
    if (format != QLatin1String("pem") && format != QLatin1String("raw"))
        return report(QStringLiteral("keygen"),
                      {{QLatin1String("error"), QStringLiteral("unknown --format")}},
                      QStringLiteral("--format must be pem or raw, not '%1'").arg(format), UsageOrInputError);
    if (QFileInfo::exists(secretPath) && !parser.isSet(QStringLiteral("force"))) {
        const QString problem =
            QStringLiteral("%1 already exists; refusing to overwrite a key (use --force)").arg(secretPath);
        return report(QStringLiteral("keygen"), {{QLatin1String("error"), problem}}, problem,
                      UsageOrInputError);
    }
    const KeyPair key = SignatureScheme::standard().generate();
    QString error;
    if (!KeyFile::writeSecretKey(secretPath, key,
                                 format == QLatin1String("raw") ? KeyFile::Format::Raw : KeyFile::Format::Pem,
                                 &error) ||
        (parser.isSet(QStringLiteral("public")) &&
         !KeyFile::writePublicKeyPem(parser.value(QStringLiteral("public")), key, &error)))
        return report(QStringLiteral("keygen"), {{QLatin1String("error"), error}}, error, UsageOrInputError);
    QJsonObject result{{QLatin1String("scheme"), SignatureScheme::standard().name()},
                       {QLatin1String("publicKey"), hex(key.publicKey)},
                       {QLatin1String("secretKeyFile"), secretPath},
                       {QLatin1String("format"), format}};
    if (parser.isSet(QStringLiteral("public")))
        result.insert(QLatin1String("publicKeyFile"), parser.value(QStringLiteral("public")));
    return report(QStringLiteral("keygen"), result,
                  QStringLiteral("wrote %1 (%2, mode 0600)\npublic key (ed25519): %3")
                      .arg(secretPath, format, hex(key.publicKey)),
                  Success);
}

int CommandLineTool::membershipCheck(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Validate a membership file (docs/membership.md)."));
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("The membership JSON file."));
    int exitCode = Success;
    if (!parse(parser, arguments, 1, &exitCode))
        return exitCode;
    const QString command = QStringLiteral("membership check");
    const QString path = parser.positionalArguments().first();
    // A file that is there but does not hold a valid membership fails the check; one that is not
    // there, or cannot be read, leaves nothing to check.
    if (QString problem = inputProblem(path); !problem.isEmpty())
        return refuse(command, problem);
    QString error;
    const std::optional<Membership> membership = Membership::load(path, &error);
    if (!membership)
        return report(command, {{QLatin1String("error"), error}}, error, VerificationFailed);
    QJsonArray members;
    QString lines;
    for (const Member &member : membership->members()) {
        members.append(
            QJsonObject{{QLatin1String("id"), member.id},
                        {QLatin1String("roles"), QJsonArray::fromStringList(roleNames(member.roles))},
                        {QLatin1String("address"), member.address}});
        lines += QStringLiteral("  %1 %2 %3\n")
                     .arg(member.id, -16)
                     .arg(roleNames(member.roles).join(QLatin1Char(',')), -24)
                     .arg(member.address);
    }
    const QJsonObject result{{QLatin1String("consortium"), membership->consortiumId()},
                             {QLatin1String("hash"), hex(membership->hash())},
                             {QLatin1String("n"), membership->targetCount()},
                             {QLatin1String("q"), membership->quorum()},
                             {QLatin1String("policy"), membership->policy().describe()},
                             {QLatin1String("members"), members}};
    return report(
        command, result,
        QStringLiteral("membership OK: consortium '%1'\nhash %2\n%3 target nodes, quorum q = %4 (%5)\n%6")
            .arg(membership->consortiumId(), hex(membership->hash()))
            .arg(membership->targetCount())
            .arg(membership->quorum())
            .arg(membership->policy().describe(), lines.trimmed()),
        Success);
}

int CommandLineTool::verifyCertificate(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Verify a quorum certificate offline: the branch's signature on the write-off, n and q as the "
        "membership "
        "defines them, distinct target signers, every signature, and the decided state's count reaching q."));
    parser.addPositionalArgument(QStringLiteral("FILE"),
                                 QStringLiteral("Certificate (.tscert binary or JSON)."));
    parser.addOption(
        {QStringLiteral("membership"), QStringLiteral("The membership file."), QStringLiteral("FILE")});
    int exitCode = Success;
    if (!parse(parser, arguments, 1, &exitCode))
        return exitCode;
    const QString command = QStringLiteral("verify-certificate");
    if (!parser.isSet(QStringLiteral("membership")))
        return report(command, {{QLatin1String("error"), QStringLiteral("--membership FILE is required")}},
                      QStringLiteral("--membership FILE is required"), UsageOrInputError);
    QString error;
    const std::optional<Membership> membership =
        Membership::load(parser.value(QStringLiteral("membership")), &error);
    if (!membership)
        return report(command, {{QLatin1String("error"), error}}, error, UsageOrInputError);
    bool unreadable = false;
    const std::optional<Decision> decision =
        readCertificate(parser.positionalArguments().first(), &error, &unreadable);
    if (!decision)
        return report(command, {{QLatin1String("error"), error}}, error,
                      unreadable ? UsageOrInputError : VerificationFailed);
    QJsonObject result = decisionSummary(*decision);
    const QString problem = decision->verifyCertificate(*membership);
    if (!problem.isEmpty()) {
        result.insert(QLatin1String("error"), problem);
        return report(command, result, QStringLiteral("certificate REFUSED: %1").arg(problem),
                      VerificationFailed);
    }
    const QString state = decision->outcome == Outcome::Decided ? stateName(decision->decidedState)
                                                                : outcomeName(decision->outcome);
    return report(command, result,
                  QStringLiteral("certificate OK: ticket %1 version %2 %3 with %4 of %5 targets (q = %6)")
                      .arg(decision->writeOff.ticketId)
                      .arg(decision->writeOff.ticketVersion)
                      .arg(state)
                      .arg(decision->confirmations.size())
                      .arg(decision->targetCount)
                      .arg(decision->quorum),
                  Success);
}

int CommandLineTool::verifyChain(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Verify a ledger: heights, hash links, the coordinator's signatures, merkle roots and "
                       "every certificate. "
                       "INPUT is a node's SQLite store or a chain file from export-chain."));
    parser.addPositionalArgument(QStringLiteral("INPUT"), QStringLiteral("SQLite store or chain export."));
    parser.addOption(
        {QStringLiteral("membership"), QStringLiteral("The membership file."), QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("threads"), QStringLiteral("Verification threads (default: all cores)."),
                      QStringLiteral("N"), QStringLiteral("0")});
    int exitCode = Success;
    if (!parse(parser, arguments, 1, &exitCode))
        return exitCode;
    const QString command = QStringLiteral("verify-chain");
    if (!parser.isSet(QStringLiteral("membership")))
        return report(command, {{QLatin1String("error"), QStringLiteral("--membership FILE is required")}},
                      QStringLiteral("--membership FILE is required"), UsageOrInputError);
    QString error;
    const std::optional<Membership> membership =
        Membership::load(parser.value(QStringLiteral("membership")), &error);
    if (!membership)
        return report(command, {{QLatin1String("error"), error}}, error, UsageOrInputError);
    const std::optional<qint64> threads =
        wholeNumber(parser, QStringLiteral("threads"), 0, 1024,
                    QStringLiteral("a number of threads from 1 to 1024, or 0 for every core"), &error);
    if (!threads)
        return refuse(command, error);
    const QString input = parser.positionalArguments().first();
    if (QString problem = inputProblem(input); !problem.isEmpty())
        return refuse(command, problem);
    const ChainVerifier verifier(*membership, int(*threads));

    ChainReport chain;
    if (isSqliteFile(input)) {
        // Read only: the evidence is never created, migrated or written.
        LedgerStore::OpenFailure failure = LedgerStore::OpenFailure::None;
        std::unique_ptr<LedgerStore> store = openLedger(input, &error, &failure);
        if (!store) {
            // A ledger SQLite finds corrupt fails verification; anything else is no ledger to check.
            const int code =
                failure == LedgerStore::OpenFailure::Damaged ? VerificationFailed : UsageOrInputError;
            return report(command, {{QLatin1String("input"), input}, {QLatin1String("error"), error}},
                          code == VerificationFailed ? QStringLiteral("chain FAILED: %1").arg(error) : error,
                          code);
        }
        // Page through the store as one chain: each page goes on from where the last one ended,
        // and a write-off decided in block 1 and again in block 100000 is still caught.
        constexpr int kPage = 256;
        ChainVerification verification(verifier, Block::genesisPreviousHash());
        quint64 unreadableHeight = 0;
        for (quint64 from = 1; from <= store->height(); from += kPage) {
            const QList<Block> page = store->blocks(from, kPage, &error);
            // What was read before an error is verified first: a fault in it comes first.
            if (!verification.add(page))
                break;
            if (!error.isEmpty()) {
                unreadableHeight = page.isEmpty() ? from : page.last().height + 1;
                break;
            }
        }
        chain = verification.report();
        if (chain.ok && unreadableHeight != 0) {
            chain.ok = false;
            chain.error = error;
            chain.failedHeight = unreadableHeight;
            chain.headHash.clear();
        }
    } else {
        const std::optional<QByteArray> contents = readInput(input, &error);
        if (!contents)
            return refuse(command, error);
        // Another kind of file is refused; a chain export that is damaged fails verification.
        if (!ChainSegment::hasHeader(*contents))
            return refuse(command,
                          QStringLiteral("%1: neither a ticketsync ledger (SQLite) nor a chain export "
                                         "(TSCH, format version 1)")
                              .arg(input));
        const std::optional<ChainSegment> segment = ChainSegment::decode(*contents, &error);
        if (!segment) {
            const QString problem = QStringLiteral("%1: %2").arg(input, error);
            return report(command, {{QLatin1String("error"), problem}}, problem, VerificationFailed);
        }
        chain = verifier.verify(segment->startPreviousHash, segment->blocks);
    }
    const QJsonObject result{{QLatin1String("input"), input},
                             {QLatin1String("blocksVerified"), qint64(chain.blocksVerified)},
                             {QLatin1String("decisionsVerified"), qint64(chain.decisionsVerified)},
                             {QLatin1String("firstHeight"), qint64(chain.firstHeight)},
                             {QLatin1String("lastHeight"), qint64(chain.lastHeight)},
                             {QLatin1String("headHash"), hex(chain.headHash)},
                             {QLatin1String("failedHeight"), qint64(chain.failedHeight)},
                             {QLatin1String("error"), chain.error}};
    if (!chain.ok)
        return report(command, result, QStringLiteral("chain FAILED: %1").arg(chain.error),
                      VerificationFailed);
    // Not "heights 0..0": whoever took the wrong file should see that nothing was checked.
    if (chain.blocksVerified == 0)
        return report(
            command, result,
            QStringLiteral("chain OK, but empty: %1 holds no blocks yet, nothing was verified").arg(input),
            Success);
    return report(command, result,
                  QStringLiteral("chain OK: %1 blocks (heights %2..%3), %4 certificates verified\nhead %5")
                      .arg(chain.blocksVerified)
                      .arg(chain.firstHeight)
                      .arg(chain.lastHeight)
                      .arg(chain.decisionsVerified)
                      .arg(hex(chain.headHash)),
                  Success);
}

int CommandLineTool::exportChain(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Export blocks FROM..TO of a store as a chain file that "
                                                    "verify-chain checks on its own."));
    parser.addPositionalArgument(QStringLiteral("STORE"), QStringLiteral("The node's SQLite store."));
    parser.addPositionalArgument(QStringLiteral("OUT"), QStringLiteral("The chain file to write."));
    parser.addOption({QStringLiteral("from"), QStringLiteral("First height (default 1)."),
                      QStringLiteral("H"), QStringLiteral("1")});
    parser.addOption(
        {QStringLiteral("to"), QStringLiteral("Last height (default: the head)."), QStringLiteral("H")});
    int exitCode = Success;
    if (!parse(parser, arguments, 2, &exitCode))
        return exitCode;
    const QString command = QStringLiteral("export-chain");
    const QString storePath = parser.positionalArguments().at(0);
    QString error;
    const QString height = QStringLiteral("a block height, a whole number from 1");
    const std::optional<qint64> fromOption =
        wholeNumber(parser, QStringLiteral("from"), 1, kMaxHeight, height, &error);
    if (!fromOption)
        return refuse(command, error);
    std::optional<qint64> toOption;
    if (parser.isSet(QStringLiteral("to")) &&
        !(toOption = wholeNumber(parser, QStringLiteral("to"), 1, kMaxHeight, height, &error)))
        return refuse(command, error);
    if (const QString problem =
            overwriteProblem(parser.positionalArguments().at(1), storePath, ExportKind::Chain);
        !problem.isEmpty())
        return refuse(command, problem);
    std::unique_ptr<LedgerStore> store = openLedger(storePath, &error);
    if (!store)
        return refuse(command, error);
    if (store->height() == 0) {
        error = QStringLiteral("%1 holds no blocks yet: nothing to export").arg(storePath);
        return report(command, {{QLatin1String("error"), error}}, error, UsageOrInputError);
    }
    const quint64 from = quint64(*fromOption);
    const quint64 to = toOption ? quint64(*toOption) : store->height();
    if (to < from || to > store->height()) {
        error = QStringLiteral("heights %1..%2 are not within the store's 1..%3")
                    .arg(from)
                    .arg(to)
                    .arg(store->height());
        return report(command, {{QLatin1String("error"), error}}, error, UsageOrInputError);
    }
    ChainSegment segment;
    if (from == 1) {
        segment.startPreviousHash = Block::genesisPreviousHash();
    } else {
        const std::optional<Block> before = store->block(from - 1, &error);
        if (!before)
            return report(command, {{QLatin1String("error"), error}}, error, UsageOrInputError);
        segment.startPreviousHash = before->hash();
    }
    segment.blocks = store->blocks(from, int(to - from + 1), &error);
    if (!error.isEmpty())
        return report(command, {{QLatin1String("error"), error}}, error, UsageOrInputError);
    const QString out = parser.positionalArguments().at(1);
    if (!writeAtomically(out, segment.encode(), &error))
        return report(command, {{QLatin1String("error"), error}}, error, UsageOrInputError);
    return report(command,
                  {{QLatin1String("out"), out},
                   {QLatin1String("fromHeight"), qint64(from)},
                   {QLatin1String("toHeight"), qint64(to)},
                   {QLatin1String("blocks"), segment.blocks.size()}},
                  QStringLiteral("wrote %1: blocks %2..%3").arg(out).arg(from).arg(to), Success);
}

int CommandLineTool::exportCertificate(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Export the quorum certificate of one ticket write-off."));
    parser.addPositionalArgument(QStringLiteral("STORE"), QStringLiteral("The node's SQLite store."));
    parser.addPositionalArgument(QStringLiteral("OUT"),
                                 QStringLiteral("The certificate file (JSON) to write."));
    parser.addOption({QStringLiteral("ticket"), QStringLiteral("The ticket id."), QStringLiteral("ID")});
    parser.addOption({QStringLiteral("version"), QStringLiteral("The write-off version (default 1)."),
                      QStringLiteral("N"), QStringLiteral("1")});
    parser.addOption(
        {QStringLiteral("digest"),
         QStringLiteral("Pick the write-off with this digest (hex) when several were decided; by "
                        "default the one that wrote the ticket off."),
         QStringLiteral("HEX")});
    int exitCode = Success;
    if (!parse(parser, arguments, 2, &exitCode))
        return exitCode;
    const QString command = QStringLiteral("export-certificate");
    const QString storePath = parser.positionalArguments().at(0);
    const QString ticketId = parser.value(QStringLiteral("ticket"));
    if (ticketId.isEmpty())
        return refuse(command,
                      QStringLiteral("--ticket ID is required: the ticket whose write-off to export"));
    QString error;
    const std::optional<qint64> versionOption =
        wholeNumber(parser, QStringLiteral("version"), 1, std::numeric_limits<quint32>::max(),
                    QStringLiteral("a write-off version, a whole number from 1 to 4294967295"), &error);
    if (!versionOption)
        return refuse(command, error);
    const quint32 version = quint32(*versionOption);
    const QByteArray digest = parser.value(QStringLiteral("digest")).toLower().toLatin1();
    if (parser.isSet(QStringLiteral("digest")) &&
        (digest.size() != 2 * kDigestSize || QByteArray::fromHex(digest).toHex() != digest))
        return refuse(command, QStringLiteral("--digest '%1': expected a write-off digest, 64 hex digits")
                                   .arg(parser.value(QStringLiteral("digest"))));
    if (const QString problem =
            overwriteProblem(parser.positionalArguments().at(1), storePath, ExportKind::Certificate);
        !problem.isEmpty())
        return refuse(command, problem);
    std::unique_ptr<LedgerStore> store = openLedger(storePath, &error);
    if (!store)
        return refuse(command, error);
    std::optional<Decision> found;
    for (quint64 from = 1; from <= store->height(); from += 256) {
        for (const Block &block : store->blocks(from, 256, &error)) {
            for (const Decision &decision : block.decisions) {
                if (decision.writeOff.ticketId != ticketId || decision.writeOff.ticketVersion != version)
                    continue;
                if (!digest.isEmpty() && decision.writeOff.digest().toHex() != digest)
                    continue;
                // Several write-offs can be decided for one (ticket, version): the one that wrote
                // it off wins, otherwise the latest.
                if (!found || found->decidedState != quint16(ConfirmationState::WrittenOff))
                    found = decision;
            }
        }
        if (!error.isEmpty())
            return report(command, {{QLatin1String("error"), error}}, error, UsageOrInputError);
    }
    if (!found) {
        error = QStringLiteral("ticket %1 version %2 is not decided in %3")
                    .arg(ticketId)
                    .arg(version)
                    .arg(storePath);
        return report(command, {{QLatin1String("error"), error}}, error, VerificationFailed);
    }
    QJsonObject certificate = decisionSummary(*found);
    certificate.insert(QLatin1String("format"), QLatin1String("ticketsync-certificate"));
    certificate.insert(QLatin1String("version"), 1);
    certificate.insert(QLatin1String("decision"), QString::fromLatin1(found->encode().toBase64()));
    const QString out = parser.positionalArguments().at(1);
    if (!writeAtomically(out, QJsonDocument(certificate).toJson(QJsonDocument::Indented), &error))
        return report(command, {{QLatin1String("error"), error}}, error, UsageOrInputError);
    return report(command, {{QLatin1String("out"), out}}, QStringLiteral("wrote %1").arg(out), Success);
}

int CommandLineTool::demo(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Run the confirmation method on a generated sample consortium (1 coordinator, 2 branches, 4 targets, "
        "3 receivers; one target holds stale records): sign write-offs, collect each target's signed "
        "confirmation, tally, seal decided certificates into blocks and verify the chain."));
    parser.addOption({QStringLiteral("dir"),
                      QStringLiteral("Where to write the consortium, stores and exports; a directory holding "
                                     "another consortium's membership.json is refused."),
                      QStringLiteral("DIR"), QStringLiteral("sample-consortium")});
    parser.addOption({QStringLiteral("count"), QStringLiteral("How many write-offs to submit (default 40)."),
                      QStringLiteral("N"), QStringLiteral("40")});
    int exitCode = Success;
    if (!parse(parser, arguments, 0, &exitCode))
        return exitCode;
    const QString command = QStringLiteral("demo");
    if (parser.value(QStringLiteral("dir")).isEmpty())
        return refuse(command, QStringLiteral("--dir must not be empty"));
    QString error;
    const std::optional<qint64> count =
        wholeNumber(parser, QStringLiteral("count"), 1, kMaxDemoWriteOffs,
                    QStringLiteral("a number of write-offs from 1 to %1").arg(kMaxDemoWriteOffs), &error);
    if (!count)
        return refuse(command, error);
    DemoRun run(parser.value(QStringLiteral("dir")), int(*count));
    if (const QString foreign = run.foreignContents(); !foreign.isEmpty())
        return refuse(command, foreign);
    QTextStream out(stdout);
    const std::optional<QJsonObject> result = run.execute(json ? nullptr : &out, &error);
    if (!result)
        return report(QStringLiteral("demo"), {{QLatin1String("error"), error}}, error, VerificationFailed);
    return report(QStringLiteral("demo"), *result, QStringLiteral("demo finished"), Success);
}

int CommandLineTool::protocolExample(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Print the worked example of docs/protocol.md: a 4-target tally "
                       "with every message's bytes and digests, from fixed keys."));
    int exitCode = Success;
    if (!parse(parser, arguments, 0, &exitCode))
        return exitCode;
    const QString markdown = ProtocolExample::markdown();
    return report(QStringLiteral("protocol-example"), {{QLatin1String("markdown"), markdown}}, markdown,
                  Success);
}

} // namespace ticketsync
