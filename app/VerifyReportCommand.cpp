#include "VerifyReportCommand.h"

#include "AuditBundle.h"
#include "CommandLineTool.h"
#include "Membership.h"

#include <QCommandLineParser>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTextStream>

namespace ticketsync {

namespace {

constexpr int kOk = 0;
constexpr int kVerificationFailed = 1;
constexpr int kUsageOrInput = 2;
// QJsonDocument keeps a parsed document in memory several times over; beyond this, refuse.
constexpr qint64 kMaxBundleBytes = qint64(1) << 30;

QString commandName()
{
    return QStringLiteral("verify-report");
}

// A report that verified says what its signatures prove and what is only the coordinator's word.
int finish(bool json, int exitCode, const AuditBundleReport &report, const QString &humanText)
{
    const bool verified = exitCode == kOk && report.ok;
    if (json) {
        QJsonObject result{{QLatin1String("ok"), exitCode == kOk},
                           {QLatin1String("decisions"), report.decisions},
                           {QLatin1String("certificates_verified"), report.certificatesVerified},
                           {QLatin1String("confirmations_verified"), report.confirmationsVerified},
                           {QLatin1String("error"), report.error}};
        if (verified) {
            result.insert(QLatin1String("decided"), report.decided);
            result.insert(QLatin1String("undetermined"), report.undetermined);
            result.insert(QLatin1String("proven_by_signatures"), QJsonArray::fromStringList(report.proven()));
            result.insert(QLatin1String("signed_by_coordinator"),
                          QJsonArray::fromStringList(report.signedByCoordinator()));
            result.insert(QLatin1String("proven_in_blocks"), report.provenInBlocks);
            result.insert(QLatin1String("first_block"), qint64(report.firstBlock));
            result.insert(QLatin1String("last_block"), qint64(report.lastBlock));
            result.insert(QLatin1String("not_signed"), QJsonArray::fromStringList(report.notSigned()));
            result.insert(QLatin1String("unproven_counts"),
                          QJsonArray::fromStringList(report.unprovenCounts));
            result.insert(QLatin1String("unproven_count_total"), report.unprovenCountTotal);
        }
        QTextStream(stdout) << QJsonDocument(result).toJson(QJsonDocument::Indented).trimmed() << Qt::endl;
    } else if (exitCode == kOk) {
        QTextStream out(stdout);
        out << humanText << Qt::endl;
        if (verified && report.decisions > 0) {
            out << "Proven by signatures:" << Qt::endl;
            for (const QString &line : report.proven())
                out << "  - " << line << Qt::endl;
            if (report.provenInBlocks > 0) {
                out << "Signed by the coordinator (" << report.provenBlocks()
                    << "), through each entry's block header and merkle path:" << Qt::endl;
                for (const QString &line : report.signedByCoordinator())
                    out << "  - " << line << Qt::endl;
            }
            out << (report.provenInBlocks == report.decisions
                        ? "Not signed:"
                        : "Not signed, the coordinator's word (only its block signatures on the ledger bind "
                          "it; "
                          "compare with `ticketsync verify-chain` on a receiver's store):")
                << Qt::endl;
            for (const QString &line : report.notSigned())
                out << "  - " << line << Qt::endl;
            for (const QString &line : report.unprovenCounts)
                out << "      " << line << Qt::endl;
        }
    } else {
        QTextStream(stderr) << QStringLiteral("ticketsync %1: %2").arg(commandName(), humanText) << Qt::endl;
    }
    return exitCode;
}

int inputError(bool json, const QString &problem)
{
    AuditBundleReport report;
    report.error = problem;
    return finish(json, kUsageOrInput, report, problem);
}

} // namespace

int verifyReportCommand(const QStringList &arguments, bool json)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Verify a JSON audit bundle exported by the console, offline: its canonical form, every manifest "
        "hash and the root, that it was made under the membership given, each certificate and signed "
        "confirmation against that membership, that each entry lies in the bundle's period and filters, "
        "and that each summary says what its certificate says: a DECIDED decision must carry its quorum "
        "certificate, an UNDETERMINED one its certificate or confirmations that bear out its counts. "
        "An entry's proof, when the bundle carries one, must show its certificate's exact bytes in a block "
        "header the coordinator signed. "
        "The output separates what the signatures prove, what the coordinator signed through those proofs "
        "and the coordinator's unsigned claims (decided_at, missing, equivocating, other states' counts, "
        "height of entries without a proof)."));
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("The audit bundle (.json)."));
    parser.addOption(
        {QStringLiteral("membership"), QStringLiteral("The membership file."), QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("json"), QStringLiteral("Print the result as JSON.")});
    parser.addHelpOption();
    // QCommandLineParser takes the first argument for the program: keep the command name there.
    QStringList args = arguments;
    if (args.value(0) != commandName())
        args.prepend(commandName());
    if (!parser.parse(args))
        return inputError(
            json,
            QStringLiteral("%1\n\n%2").arg(parser.errorText(), subcommandHelpText(parser, commandName())));
    json = json || parser.isSet(QStringLiteral("json"));
    if (parser.isSet(QStringLiteral("help"))) {
        QTextStream(stdout) << subcommandHelpText(parser, commandName()) << Qt::endl;
        return kOk;
    }
    if (parser.positionalArguments().size() != 1)
        return inputError(json, QStringLiteral("expected one bundle FILE, got %1 arguments")
                                    .arg(parser.positionalArguments().size()));
    if (!parser.isSet(QStringLiteral("membership")))
        return inputError(json, QStringLiteral("--membership FILE is required"));

    QString problem;
    const auto membership = Membership::load(parser.value(QStringLiteral("membership")), &problem);
    if (!membership)
        return inputError(json, problem);

    const QString path = parser.positionalArguments().first();
    const QFileInfo info(path);
    if (!info.exists())
        return inputError(json, QStringLiteral("%1: no such file").arg(path));
    if (!info.isFile())
        return inputError(json, QStringLiteral("%1: not a regular file").arg(path));
    if (info.size() > kMaxBundleBytes)
        return inputError(json,
                          QStringLiteral("%1: %2 bytes is larger than the 1 GiB this tool reads; export a "
                                         "shorter period")
                              .arg(path)
                              .arg(info.size()));
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return inputError(json, QStringLiteral("%1: %2").arg(path, file.errorString()));
    const QByteArray bytes = file.readAll();
    if (file.error() != QFileDevice::NoError)
        return inputError(json, QStringLiteral("%1: %2").arg(path, file.errorString()));

    const AuditBundleReport report = AuditBundle::verify(bytes, *membership);
    if (!report.ok)
        return finish(json, kVerificationFailed, report,
                      QStringLiteral("%1: REFUSED: %2").arg(path, report.error));
    return finish(
        json, kOk, report,
        QStringLiteral("%1: audit bundle OK: %2 decisions, %3 certificates and %4 confirmations verified")
            .arg(path)
            .arg(report.decisions)
            .arg(report.certificatesVerified)
            .arg(report.confirmationsVerified));
}

} // namespace ticketsync
