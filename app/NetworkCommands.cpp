// The commands that talk to running nodes through the monitoring API (docs/api.md).
#include "ApiClient.h"
#include "CommandLineTool.h"
#include "Membership.h"
#include "Ticket.h"
#include "TlsIdentity.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QEventLoop>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTcpSocket>
#include <QTimer>
#include <QUrl>
#include <limits>

namespace ticketsync {

namespace {

constexpr int kMaxTimeoutSeconds = 3600;
constexpr int kTcpProbeMs = 2000;
constexpr int kMaxHistoryRows = 1000; // what a node answers at most (docs/api.md)

struct NetworkCommand
{
    const char *name;
    const char *defaultNode;
    const char *description;
    bool changesState = false; // an operator command, not a read
};

constexpr NetworkCommand kNetworkCommands[] = {
    {"submit", "branch-1", "Submit a ticket write-off through a branch node (operators only).", true},
    {"status", "coordinator-1", "Print a node's status: height, counters and queue depths."},
    {"receivers", "coordinator-1", "Print each receiver's sync state as the coordinator sees it."},
    {"history", "coordinator-1", "Page through decided and undetermined write-offs."},
    {"resync-receiver", "coordinator-1",
     "Push the chain to RECEIVER again from --from-height (operators only).", true},
    {"retry-deliveries", "coordinator-1",
     "Retry block deliveries to every lagging receiver (operators only).", true},
    {"retry-undetermined", "coordinator-1",
     "Tally an UNDETERMINED write-off again, by DIGEST (operators only).", true},
};

// Why a plain TCP connect to address fails; empty if it connects.
QString tcpConnectProblem(const QString &address)
{
    const QUrl url(QStringLiteral("wss://%1/").arg(address));
    if (!url.isValid() || url.port() < 0)
        return QStringLiteral("'%1' is not host:port").arg(address);
    QTcpSocket socket;
    socket.connectToHost(url.host(), quint16(url.port()));
    if (socket.waitForConnected(kTcpProbeMs)) {
        socket.abort();
        return {};
    }
    return socket.error() == QAbstractSocket::SocketTimeoutError
               ? QStringLiteral("no answer within %1 s").arg(kTcpProbeMs / 1000)
               : socket.errorString();
}

// The step a request that got no answer stopped at, so that an operator knows where to look.
// The link's own reason can be bare ("Unknown error" for a refused dial), so a dial that never
// opened is retried as plain TCP to tell a node that is down from one that does not speak TLS.
QString stalledStep(const ApiClient &client, const QString &address, const QString &requestType)
{
    if (client.isConnected())
        return QStringLiteral("connected, but no reply to the '%1' request").arg(requestType);
    if (client.isLinkUp())
        return QStringLiteral("the TLS WebSocket is open, but the node sent no welcome to hello");
    if (const QString tcp = tcpConnectProblem(address); !tcp.isEmpty())
        return QStringLiteral("TCP connect: %1").arg(tcp);
    const QString last = client.lastError();
    return QStringLiteral("TCP connects, but no TLS WebSocket to the node: %1")
        .arg(last.isEmpty() || last == QLatin1String("Unknown error")
                 ? QStringLiteral("the TLS or WebSocket handshake did not finish")
                 : last);
}

} // namespace

bool CommandLineTool::isNetworkCommand(const QString &command)
{
    for (const NetworkCommand &candidate : kNetworkCommands) {
        if (command == QLatin1String(candidate.name))
            return true;
    }
    return false;
}

int CommandLineTool::networkCommand(const QString &command, const QStringList &arguments)
{
    const NetworkCommand *spec = nullptr;
    for (const NetworkCommand &candidate : kNetworkCommands) {
        if (command == QLatin1String(candidate.name))
            spec = &candidate;
    }
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QString::fromLatin1(spec->description) +
        QStringLiteral(
            "\n\nConnects over mutual TLS with a client certificate. With --devnet DIR the CA, the "
            "operator's certificate and the node addresses come from a `ticketsync devnet` directory."));
    parser.addOption({QStringLiteral("devnet"),
                      QStringLiteral("A devnet directory to take certificates and "
                                     "addresses from."),
                      QStringLiteral("DIR")});
    parser.addOption({QStringLiteral("node"),
                      QStringLiteral("The node to ask (default %1).").arg(QLatin1String(spec->defaultNode)),
                      QStringLiteral("ID"), QLatin1String(spec->defaultNode)});
    parser.addOption({QStringLiteral("membership"), QStringLiteral("The membership file (node addresses)."),
                      QStringLiteral("FILE")});
    parser.addOption(
        {QStringLiteral("cert"), QStringLiteral("Client certificate (PEM)."), QStringLiteral("FILE")});
    parser.addOption(
        {QStringLiteral("key"), QStringLiteral("Client private key (PEM)."), QStringLiteral("FILE")});
    parser.addOption(
        {QStringLiteral("ca"), QStringLiteral("Consortium CA certificate (PEM)."), QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("auditor"), QStringLiteral("With --devnet: connect as the auditor.")});
    parser.addOption({QStringLiteral("timeout"), QStringLiteral("Seconds to wait for the node (default 10)."),
                      QStringLiteral("S"), QStringLiteral("10")});
    int positional = 0;
    if (command == QLatin1String("submit")) {
        parser.addOption({QStringLiteral("ticket"), QStringLiteral("Ticket id."), QStringLiteral("ID")});
        parser.addOption({QStringLiteral("amount"), QStringLiteral("Amount in minor units (e.g. fen)."),
                          QStringLiteral("N")});
        parser.addOption({QStringLiteral("version"),
                          QStringLiteral("Write-off version of the ticket (default 1)."), QStringLiteral("N"),
                          QStringLiteral("1")});
        parser.addOption({QStringLiteral("currency"), QStringLiteral("ISO 4217 code (default CNY)."),
                          QStringLiteral("CODE"), QStringLiteral("CNY")});
        parser.addOption({QStringLiteral("reference"), QStringLiteral("The client's own reference."),
                          QStringLiteral("TEXT")});
    } else if (command == QLatin1String("history")) {
        parser.addOption(
            {QStringLiteral("ticket"), QStringLiteral("Only this ticket."), QStringLiteral("ID")});
        parser.addOption({QStringLiteral("outcome"), QStringLiteral("DECIDED or UNDETERMINED."),
                          QStringLiteral("OUTCOME")});
        parser.addOption({QStringLiteral("limit"), QStringLiteral("Rows (default 20)."), QStringLiteral("N"),
                          QStringLiteral("20")});
    } else if (command == QLatin1String("resync-receiver")) {
        parser.addPositionalArgument(QStringLiteral("RECEIVER"), QStringLiteral("The receiver's node id."));
        parser.addOption({QStringLiteral("from-height"), QStringLiteral("Push again from this height."),
                          QStringLiteral("H")});
        positional = 1;
    } else if (command == QLatin1String("retry-undetermined")) {
        parser.addPositionalArgument(QStringLiteral("DIGEST"), QStringLiteral("The write-off digest (hex)."));
        positional = 1;
    }
    int exitCode = Success;
    if (!parse(parser, arguments, positional, &exitCode))
        return exitCode;
    auto fail = [&](const QString &error, int code) {
        return report(command, {{QLatin1String("error"), error}}, error, code);
    };

    // The options, each checked before anything is loaded or sent.
    QString problem;
    bool timeoutOk = false;
    const double timeoutSeconds = parser.value(QStringLiteral("timeout")).toDouble(&timeoutOk);
    if (!timeoutOk || !(timeoutSeconds > 0) || timeoutSeconds > kMaxTimeoutSeconds)
        return fail(QStringLiteral("--timeout '%1': expected seconds, more than 0 and at most %2")
                        .arg(parser.value(QStringLiteral("timeout")))
                        .arg(kMaxTimeoutSeconds),
                    UsageOrInputError);
    QJsonObject request;
    const QStringList positionals = parser.positionalArguments();
    if (command == QLatin1String("submit")) {
        if (parser.value(QStringLiteral("ticket")).isEmpty())
            return fail(QStringLiteral("--ticket ID is required: the ticket to write off"),
                        UsageOrInputError);
        if (!parser.isSet(QStringLiteral("amount")))
            return fail(QStringLiteral("--amount N is required: the amount in minor units"),
                        UsageOrInputError);
        const std::optional<qint64> amount =
            wholeNumber(parser, QStringLiteral("amount"), 1, std::numeric_limits<qint64>::max(),
                        QStringLiteral("an amount in minor units, a whole number from 1"), &problem);
        const std::optional<qint64> version =
            amount ? wholeNumber(parser, QStringLiteral("version"), 1, std::numeric_limits<quint32>::max(),
                                 QStringLiteral("a write-off version, a whole number from 1 to 4294967295"),
                                 &problem)
                   : std::nullopt;
        if (!amount || !version)
            return fail(problem, UsageOrInputError);
        // The branch would sign a longer one, and every node would refuse to decode it: the
        // write-off would never be decided.
        if (const qsizetype bytes = parser.value(QStringLiteral("reference")).toUtf8().size();
            bytes > kMaxClientReferenceBytes)
            return fail(QStringLiteral("--reference is %1 bytes in UTF-8, the limit is %2")
                            .arg(bytes)
                            .arg(kMaxClientReferenceBytes),
                        UsageOrInputError);
        request = {{QStringLiteral("type"), QStringLiteral("submit")},
                   {QStringLiteral("ticket"), parser.value(QStringLiteral("ticket"))},
                   {QStringLiteral("amount_minor"), *amount},
                   {QStringLiteral("version"), *version},
                   {QStringLiteral("currency"), parser.value(QStringLiteral("currency"))},
                   {QStringLiteral("reference"), parser.value(QStringLiteral("reference"))}};
    } else if (command == QLatin1String("history")) {
        const std::optional<qint64> limit =
            wholeNumber(parser, QStringLiteral("limit"), 1, kMaxHistoryRows,
                        QStringLiteral("a number of rows from 1 to %1").arg(kMaxHistoryRows), &problem);
        if (!limit)
            return fail(problem, UsageOrInputError);
        request = {{QStringLiteral("type"), QStringLiteral("history")}, {QStringLiteral("limit"), *limit}};
        if (parser.isSet(QStringLiteral("ticket")))
            request.insert(QStringLiteral("ticket"), parser.value(QStringLiteral("ticket")));
        if (parser.isSet(QStringLiteral("outcome"))) {
            const QString outcome = parser.value(QStringLiteral("outcome")).toUpper();
            if (outcome != QLatin1String("DECIDED") && outcome != QLatin1String("UNDETERMINED"))
                return fail(QStringLiteral("--outcome '%1': expected DECIDED or UNDETERMINED")
                                .arg(parser.value(QStringLiteral("outcome"))),
                            UsageOrInputError);
            request.insert(QStringLiteral("outcome"), outcome);
        }
    } else if (command == QLatin1String("resync-receiver")) {
        if (!parser.isSet(QStringLiteral("from-height")))
            return fail(QStringLiteral("--from-height H is required: the height to push again from"),
                        UsageOrInputError);
        const std::optional<qint64> height =
            wholeNumber(parser, QStringLiteral("from-height"), 1, std::numeric_limits<qint64>::max(),
                        QStringLiteral("a block height, a whole number from 1"), &problem);
        if (!height)
            return fail(problem, UsageOrInputError);
        request = {{QStringLiteral("type"), QStringLiteral("resync_receiver")},
                   {QStringLiteral("receiver"), positionals.at(0)},
                   {QStringLiteral("from_height"), *height}};
    } else if (command == QLatin1String("retry-undetermined")) {
        request = {{QStringLiteral("type"), QStringLiteral("retry_undetermined")},
                   {QStringLiteral("digest"), positionals.at(0)}};
    } else {
        request = {{QStringLiteral("type"), QString(command).replace(u'-', u'_')}};
    }

    // Where to connect and as whom.
    QString membershipPath = parser.value(QStringLiteral("membership"));
    QString cert = parser.value(QStringLiteral("cert"));
    QString key = parser.value(QStringLiteral("key"));
    QString ca = parser.value(QStringLiteral("ca"));
    if (parser.isSet(QStringLiteral("devnet"))) {
        const QDir devnet(parser.value(QStringLiteral("devnet")));
        const QString who = parser.isSet(QStringLiteral("auditor")) ? QStringLiteral("auditor-1")
                                                                    : QStringLiteral("operator-1");
        if (membershipPath.isEmpty())
            membershipPath = devnet.filePath(QStringLiteral("membership.json"));
        if (cert.isEmpty())
            cert = devnet.filePath(QStringLiteral("pki/%1.pem").arg(who));
        if (key.isEmpty())
            key = devnet.filePath(QStringLiteral("pki/%1.key").arg(who));
        if (ca.isEmpty())
            ca = devnet.filePath(QStringLiteral("pki/ca.pem"));
    }
    if (membershipPath.isEmpty() || cert.isEmpty() || key.isEmpty() || ca.isEmpty())
        return fail(QStringLiteral("give --devnet DIR, or --membership, --cert, --key and --ca"),
                    UsageOrInputError);
    QString error;
    const std::optional<Membership> membership = Membership::load(membershipPath, &error);
    if (!membership)
        return fail(error, UsageOrInputError);
    const QString nodeId = parser.value(QStringLiteral("node"));
    const Member *node = membership->member(nodeId);
    if (!node)
        return fail(QStringLiteral("'%1' is not a member of %2").arg(nodeId, membershipPath),
                    UsageOrInputError);
    const std::optional<TlsIdentity> identity = TlsIdentity::load(cert, key, ca, &error);
    if (!identity)
        return fail(error, UsageOrInputError);

    // One connection, one request, one answer.
    ApiClient client(*identity, node->address, nodeId);
    client.setBackoff(200, 1000);
    QEventLoop loop;
    QJsonObject answer;
    QTimer timeout;
    timeout.setSingleShot(true);
    QObject::connect(&timeout, &QTimer::timeout, &loop, &QEventLoop::quit);
    bool lostBeforeAnswer = false;
    QObject::connect(&client, &ApiClient::connected, &loop, [&] {
        client.request(request, [&](const QJsonObject &reply) {
            // A link that is down by now did not answer: the client failed the request itself.
            lostBeforeAnswer = !client.isLinkUp();
            answer = reply;
            loop.quit();
        });
    });
    client.start();
    timeout.start(qMax(1, int(timeoutSeconds * 1000)));
    loop.exec();
    if (answer.isEmpty()) {
        const QString step = stalledStep(client, node->address, request.value(u"type").toString());
        client.stop();
        return fail(QStringLiteral("no answer from %1 at %2 within %3 s: %4")
                        .arg(nodeId, node->address, parser.value(QStringLiteral("timeout")), step),
                    VerificationFailed);
    }
    client.stop();
    if (lostBeforeAnswer) {
        // Not a refusal: an operator command may or may not have been carried out.
        return fail(QStringLiteral("lost the connection to %1 at %2 before the answer to '%3': %4%5")
                        .arg(nodeId, node->address, request.value(u"type").toString(),
                             answer.value(u"error").toString(),
                             spec->changesState ? QStringLiteral("; whether it was carried out is not known")
                                                : QString()),
                    VerificationFailed);
    }
    if (answer.value(u"type").toString() == QLatin1String("error"))
        return report(command, answer,
                      QStringLiteral("%1 refused: %2").arg(nodeId, answer.value(u"error").toString()),
                      VerificationFailed);
    QString human;
    if (command == QLatin1String("submit"))
        human = QStringLiteral("%1: write-off %2 %3")
                    .arg(nodeId, answer.value(u"digest").toString(), answer.value(u"status").toString());
    else if (answer.contains(u"outcome"))
        human = answer.value(u"outcome").toString();
    else
        human = QString::fromUtf8(QJsonDocument(answer).toJson(QJsonDocument::Indented)).trimmed();
    // An operator command the node answered but could not carry out (a re-sync not started).
    if (answer.value(u"ok") == QJsonValue(false))
        return report(command, answer, human, VerificationFailed);
    return report(command, answer, human, Success);
}

} // namespace ticketsync
