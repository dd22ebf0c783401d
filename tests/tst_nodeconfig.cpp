// The node configuration file and the registry import: every mistake is named by file, key
// and problem, and ticketsync-node exits at once with that line.
#include "DevnetLayout.h"
#include "EventKind.h"
#include "LedgerStore.h"
#include "NodeConfig.h"
#include "NodeJournal.h"
#include "ProcessRun.h"
#include "TicketRegistryFile.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <sys/fsuid.h>
#include <unistd.h>

using namespace ticketsync;
using namespace Qt::StringLiterals;

class NodeConfigTest : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void validFile();
    void badFiles_data();
    void badFiles();
    void nodeExitsWithTheLine();
    void filesTheConfigurationNamesExitWithTwo();
    void checkConfigWritesNothing();
    void blocksMustFitTheFrameLimit();
    void everyEventKindIsDocumented();
    void registryFiles_data();
    void registryFiles();
    void registryFieldsQuotedAsSpreadsheetsWriteThem();
    void registryStreamsIntoTheStore();
    void journalRefusesWhatIsNotOne();
    void journalRefusesWhatItCannotWrite();

private:
    QString write(const QString &name, const QByteArray &bytes);
    QJsonObject valid() const;

    std::unique_ptr<QTemporaryDir> dir;
};

QString NodeConfigTest::write(const QString &name, const QByteArray &bytes)
{
    const QString path = dir->filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size())
        qFatal("cannot write %s", qPrintable(path));
    return path;
}

QJsonObject NodeConfigTest::valid() const
{
    return {{QStringLiteral("format"), QStringLiteral("ticketsync-node")},
            {QStringLiteral("node_id"), QStringLiteral("target-1")},
            {QStringLiteral("membership"), QStringLiteral("membership.json")},
            {QStringLiteral("signing_key"), QStringLiteral("key.pem")},
            {QStringLiteral("tls"), QJsonObject{{QStringLiteral("certificate"), QStringLiteral("cert.pem")},
                                                {QStringLiteral("key"), QStringLiteral("key.pem")},
                                                {QStringLiteral("ca"), QStringLiteral("ca.pem")}}},
            {QStringLiteral("listen"), QStringLiteral("127.0.0.1:7404")},
            {QStringLiteral("database"), QStringLiteral("ledger.sqlite")}};
}

void NodeConfigTest::init()
{
    dir = std::make_unique<QTemporaryDir>();
    for (const char *name : {"membership.json", "key.pem", "cert.pem", "ca.pem"})
        write(QLatin1String(name), "x");
}

void NodeConfigTest::validFile()
{
    QJsonObject object = valid();
    object.insert(QStringLiteral("coordinator"), QJsonObject{{QStringLiteral("retry_limit"), 5}});
    QString error;
    const std::optional<NodeConfig> config =
        NodeConfig::load(write(QStringLiteral("node.json"), QJsonDocument(object).toJson()), &error);
    QVERIFY2(config, qPrintable(error));
    QCOMPARE(config->nodeId, QStringLiteral("target-1"));
    QCOMPARE(config->listenPort, quint16(7404));
    QCOMPARE(config->listenHost, QStringLiteral("127.0.0.1"));
    object.insert(QStringLiteral("listen"), QStringLiteral("[::1]:7405"));
    const std::optional<NodeConfig> ipv6 =
        NodeConfig::load(write(QStringLiteral("ipv6.json"), QJsonDocument(object).toJson()), &error);
    QVERIFY2(ipv6, qPrintable(error));
    QCOMPARE(ipv6->listenHost, QStringLiteral("::1"));
    QCOMPARE(ipv6->listenPort, quint16(7405));
    object.insert(QStringLiteral("listen"), QStringLiteral("127.0.0.1:7404"));
    QCOMPARE(config->retryLimit, 5);
    QCOMPARE(config->voteTimeoutMs, 2000);
    QCOMPARE(config->membershipPath, dir->filePath(QStringLiteral("membership.json")));
    QCOMPARE(config->cpuScheduling, NodeConfig::CpuScheduling::Batch);
    QCOMPARE(config->cpuSliceMs, 10);

    object.insert(QStringLiteral("process"),
                  QJsonObject{{QStringLiteral("cpu_scheduling"), QStringLiteral("normal")}});
    object.insert(QStringLiteral("limits"), QJsonObject{{QStringLiteral("journal_events_kept"), 2000},
                                                        {QStringLiteral("max_unread_bytes"), 65536},
                                                        {QStringLiteral("not_reading_close_ms"), 2500}});
    const std::optional<NodeConfig> normal =
        NodeConfig::load(write(QStringLiteral("normal.json"), QJsonDocument(object).toJson()), &error);
    QVERIFY2(normal, qPrintable(error));
    QCOMPARE(normal->cpuScheduling, NodeConfig::CpuScheduling::Normal);
    QCOMPARE(normal->journalEventsKept, 2000);
    QCOMPARE(normal->maxUnreadBytes, qint64(65536));
    QCOMPARE(config->maxUnreadBytes, qint64(16 * 1024 * 1024));
    QCOMPARE(normal->notReadingCloseMs, 2500);
    QCOMPARE(config->notReadingCloseMs, 10000);

    // One name in two objects, or inside a string value, is no key given twice.
    write(QStringLiteral("key \"listen\", {x}.pem"), "x");
    object = valid();
    object.insert(QStringLiteral("signing_key"), QStringLiteral("key \"listen\", {x}.pem"));
    object.insert(QStringLiteral("limits"), QJsonObject{{QStringLiteral("max_frame_bytes"), 2048}});
    object.insert(QStringLiteral("coordinator"), QJsonObject{{QStringLiteral("retry_limit"), 2}});
    QVERIFY2(NodeConfig::load(write(QStringLiteral("strings.json"), QJsonDocument(object).toJson()), &error),
             qPrintable(error));
}

void NodeConfigTest::badFiles_data()
{
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QString>("expected");
    auto with = [this](const QString &key, const QJsonValue &value) {
        QJsonObject object = valid();
        if (value.isUndefined())
            object.remove(key);
        else
            object.insert(key, value);
        return QJsonDocument(object).toJson();
    };
    auto twice = [&](const QByteArray &first) {
        QByteArray text = QJsonDocument(valid()).toJson();
        return text.insert(text.indexOf('{') + 1, "\n    " + first + ",");
    };
    QTest::newRow("a key given twice")
        << twice("\"listen\": \"0.0.0.0:7404\"") << QStringLiteral("'listen': given twice (again on line 5)");
    QTest::newRow("a key given twice, once escaped")
        << twice("\"list\\u0065n\": \"0.0.0.0:7404\"") << QStringLiteral("'listen': given twice");
    QTest::newRow("a limit given twice")
        << twice("\"limits\": {\"max_frame_bytes\": 1048576, \"max_frame_bytes\": 2048}")
        << QStringLiteral("'limits.max_frame_bytes': given twice (again on line 2)");
    QTest::newRow("a section given twice")
        << twice("\"tls\": {\"certificate\": \"x\"}") << QStringLiteral("'tls': given twice");
    QTest::newRow("database in no directory")
        << with(QStringLiteral("database"), QStringLiteral("nowhere/ledger.sqlite"))
        << QStringLiteral("'database': no such directory: ");
    QTest::newRow("database that is a directory")
        << with(QStringLiteral("database"), QStringLiteral(".")) << QStringLiteral(" is not a file");
    QTest::newRow("database where the journal goes")
        << with(QStringLiteral("database"), QStringLiteral("node.events"))
        << QStringLiteral("'database': must not end in .events");
    QTest::newRow("too large to be one")
        << QByteArray(2 * 1024 * 1024, ' ') << QStringLiteral("larger than 1048576 bytes");
    QTest::newRow("not json") << QByteArray("{\"format\": ") << QStringLiteral("not valid JSON at offset");
    QTest::newRow("array") << QByteArray("[]") << QStringLiteral("must be a JSON object");
    QTest::newRow("format") << with(QStringLiteral("format"), QStringLiteral("other"))
                            << QStringLiteral("'format'");
    QTest::newRow("unknown key") << with(QStringLiteral("colour"), 1)
                                 << QStringLiteral("'colour': unknown key");
    QTest::newRow("no node id") << with(QStringLiteral("node_id"), QJsonValue::Undefined)
                                << QStringLiteral("'node_id': is required");
    QTest::newRow("bad node id") << with(QStringLiteral("node_id"), QStringLiteral("target 1"))
                                 << QStringLiteral("'node_id'");
    QTest::newRow("missing file") << with(QStringLiteral("membership"), QStringLiteral("nowhere.json"))
                                  << QStringLiteral("'membership': no such file");
    QTest::newRow("listen port") << with(QStringLiteral("listen"), QStringLiteral("127.0.0.1:99999"))
                                 << QStringLiteral("'listen': must be host:port");
    QTest::newRow("listen IPv6 without brackets")
        << with(QStringLiteral("listen"), QStringLiteral("::1:7404"))
        << QStringLiteral("'listen': an IPv6 address goes in brackets before the port, as [::1]:7404");
    QTest::newRow("listen IPv4 in brackets")
        << with(QStringLiteral("listen"), QStringLiteral("[127.0.0.1]:7404"))
        << QStringLiteral("'listen': '127.0.0.1' is not");
    QTest::newRow("listen no port") << with(QStringLiteral("listen"), QStringLiteral("localhost"))
                                    << QStringLiteral("'listen'");
    QTest::newRow("tls") << with(QStringLiteral("tls"), QStringLiteral("yes")) << QStringLiteral("'tls'");
    QTest::newRow("tls key missing") << with(QStringLiteral("tls"),
                                             QJsonObject{
                                                 {QStringLiteral("certificate"), QStringLiteral("cert.pem")},
                                                 {QStringLiteral("key"), QStringLiteral("missing.pem")},
                                                 {QStringLiteral("ca"), QStringLiteral("ca.pem")}})
                                     << QStringLiteral("'tls.key': no such file: ");
    QTest::newRow("limit range") << with(QStringLiteral("limits"),
                                         QJsonObject{{QStringLiteral("max_frame_bytes"), 3}})
                                 << QStringLiteral(
                                        "'limits.max_frame_bytes': must be a whole number from 1024");
    QTest::newRow("unknown limit") << with(QStringLiteral("limits"),
                                           QJsonObject{{QStringLiteral("store_map_mb"), 64}})
                                   << QStringLiteral(
                                          "'limits.store_map_mb': unknown key (known: max_frame_bytes");
    QTest::newRow("unknown tls key") << with(QStringLiteral("tls"),
                                             QJsonObject{
                                                 {QStringLiteral("certificate"), QStringLiteral("cert.pem")},
                                                 {QStringLiteral("key"), QStringLiteral("key.pem")},
                                                 {QStringLiteral("ca"), QStringLiteral("ca.pem")},
                                                 {QStringLiteral("ciphers"), QStringLiteral("all")}})
                                     << QStringLiteral("'tls.ciphers': unknown key");
    QTest::newRow("section not an object")
        << with(QStringLiteral("coordinator"), 5) << QStringLiteral("'coordinator': must be an object");
    QTest::newRow("fraction") << with(QStringLiteral("coordinator"),
                                      QJsonObject{{QStringLiteral("retry_limit"), 1.5}})
                              << QStringLiteral("'coordinator.retry_limit'");
    QTest::newRow("unread range")
        << with(QStringLiteral("limits"), QJsonObject{{QStringLiteral("max_unread_bytes"), 1000}})
        << QStringLiteral("'limits.max_unread_bytes': must be a whole number from 65536 to 1073741824");
    QTest::newRow("not reading close too soon")
        << with(QStringLiteral("limits"), QJsonObject{{QStringLiteral("not_reading_close_ms"), 10}})
        << QStringLiteral("'limits.not_reading_close_ms': must be a whole number from 1000 to 3600000");
    QTest::newRow("handshake timeout range")
        << with(QStringLiteral("limits"), QJsonObject{{QStringLiteral("handshake_timeout_ms"), 0}})
        << QStringLiteral("'limits.handshake_timeout_ms': must be a whole number from 500 to 600000");
    QTest::newRow("no pending handshakes")
        << with(QStringLiteral("limits"), QJsonObject{{QStringLiteral("max_pending_handshakes"), 0}})
        << QStringLiteral("'limits.max_pending_handshakes': must be a whole number from 1 to 100000");
    QTest::newRow("more per address than in all")
        << with(QStringLiteral("limits"),
                QJsonObject{{QStringLiteral("max_pending_handshakes"), 16},
                            {QStringLiteral("max_pending_handshakes_per_address"), 17}})
        << QStringLiteral("'limits.max_pending_handshakes_per_address': must not be more than "
                          "limits.max_pending_handshakes (16)");
    QTest::newRow("keepalive timeout within one interval")
        << with(QStringLiteral("limits"), QJsonObject{{QStringLiteral("keepalive_interval_ms"), 5000},
                                                      {QStringLiteral("keepalive_timeout_ms"), 5000}})
        << QStringLiteral(
               "'limits.keepalive_timeout_ms': must be more than limits.keepalive_interval_ms (5000)");
    QTest::newRow("keepalive interval range")
        << with(QStringLiteral("limits"), QJsonObject{{QStringLiteral("keepalive_interval_ms"), 10}})
        << QStringLiteral("'limits.keepalive_interval_ms': must be a whole number from 100 to 600000");
    QTest::newRow("huge") << with(QStringLiteral("coordinator"),
                                  QJsonObject{{QStringLiteral("retry_limit"), 1e30}})
                          << QStringLiteral(
                                 "'coordinator.retry_limit': must be a whole number from 0 to 1000");
    QTest::newRow("huge negative") << with(QStringLiteral("limits"),
                                           QJsonObject{{QStringLiteral("max_frame_bytes"), -1e300}})
                                   << QStringLiteral(
                                          "'limits.max_frame_bytes': must be a whole number from 1024");
    QTest::newRow("beyond 64 bits") << with(QStringLiteral("coordinator"),
                                            QJsonObject{{QStringLiteral("vote_timeout_ms"), 9.3e18}})
                                    << QStringLiteral(
                                           "'coordinator.vote_timeout_ms': must be a whole number from 10");
    QTest::newRow("slice") << with(QStringLiteral("process"),
                                   QJsonObject{{QStringLiteral("cpu_slice_ms"), 101}})
                           << QStringLiteral("'process.cpu_slice_ms': must be a whole number from 0 to 100");
    QTest::newRow("scheduling")
        << with(QStringLiteral("process"),
                QJsonObject{{QStringLiteral("cpu_scheduling"), QStringLiteral("fifo")}})
        << QStringLiteral("'process.cpu_scheduling': must be \"batch\" or \"normal\"");
}

void NodeConfigTest::badFiles()
{
    QFETCH(QByteArray, content);
    QFETCH(QString, expected);
    const QString path = write(QStringLiteral("node.json"), content);
    QString error;
    QVERIFY(!NodeConfig::load(path, &error));
    QVERIFY2(error.startsWith(path), qPrintable(error));
    QVERIFY2(error.contains(expected), qPrintable(error));
    QVERIFY(!error.contains(u'\n'));
}

void NodeConfigTest::nodeExitsWithTheLine()
{
    QJsonObject object = valid();
    object.insert(QStringLiteral("listen"), QStringLiteral("127.0.0.1:0x10"));
    const QString path = write(QStringLiteral("node.json"), QJsonDocument(object).toJson());
    QProcess node;
    node.start(QStringLiteral(TICKETSYNC_NODE), {QStringLiteral("--config"), path});
    QVERIFY(node.waitForFinished(10000));
    QCOMPARE(node.exitCode(), 2);
    const QString stderrText = QString::fromUtf8(node.readAllStandardError()).trimmed();
    QVERIFY2(stderrText.contains(QLatin1String("'listen'")), qPrintable(stderrText));
    QCOMPARE(stderrText.count(u'\n'), 0);

    // A membership that is not one: named too, and the node does not start.
    object = valid();
    write(QStringLiteral("membership.json"), "{}");
    node.start(
        QStringLiteral(TICKETSYNC_NODE),
        {QStringLiteral("--config"), write(QStringLiteral("node2.json"), QJsonDocument(object).toJson())});
    QVERIFY(node.waitForFinished(10000));
    QCOMPARE(node.exitCode(), 2);
    QVERIFY2(QString::fromUtf8(node.readAllStandardError()).contains(QLatin1String("membership.json")),
             "the error must name the membership file");

    // A listen address that is no address: found in the file, not when binding.
    object = valid();
    object.insert(QStringLiteral("listen"), QStringLiteral("bank.example:7404"));
    node.start(
        QStringLiteral(TICKETSYNC_NODE),
        {QStringLiteral("--config"), write(QStringLiteral("node3.json"), QJsonDocument(object).toJson())});
    QVERIFY(node.waitForFinished(10000));
    QCOMPARE(node.exitCode(), 2);
    const QString listenError = QString::fromUtf8(node.readAllStandardError());
    QVERIFY2(listenError.contains(QLatin1String("'listen': 'bank.example' is not an IP address")),
             qPrintable(listenError));
}

namespace {

ProcessRun runNode(const QStringList &arguments)
{
    return ProcessRun::of(QStringLiteral(TICKETSYNC_NODE), arguments, 60000);
}

// A devnet's files (CA, keys, certificates, membership, configs, registries) without its stores.
std::optional<DevnetLayout> devnetIn(const QTemporaryDir &dir)
{
    DevnetOptions options;
    options.dir = dir.filePath(QStringLiteral("devnet"));
    options.tickets = 200;
    options.basePort = DevnetLayout::freeBasePort(10);
    QString error;
    std::optional<DevnetLayout> layout = DevnetLayout::ensure(options, &error);
    if (!layout)
        qWarning("devnet: %s", qPrintable(error));
    return layout;
}

} // namespace

void NodeConfigTest::filesTheConfigurationNamesExitWithTwo()
{
    // A key, a certificate or a registry that is wrong is in the configuration as much as a
    // misspelt key: no restart mends it, and the systemd unit does not restart on exit 2.
    const std::optional<DevnetLayout> layout = devnetIn(*dir);
    QVERIFY(layout);
    const QString config = layout->node(QStringLiteral("target-1"))->configPath;
    const QString nodeDir = QFileInfo(config).absolutePath();
    QJsonObject object = QJsonDocument::fromJson([&] {
                             QFile file(config);
                             return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
                         }())
                             .object();
    QVERIFY(!object.isEmpty());

    QJsonObject wrongKey = object;
    wrongKey.insert(QStringLiteral("signing_key"), QStringLiteral("../../keys/target-2.key"));
    // Beside the node's own configuration, since its paths are relative to it.
    const QString wrongKeyPath = QDir(nodeDir).filePath(QStringLiteral("wrong-key.json"));
    QFile wrongKeyFile(wrongKeyPath);
    QVERIFY(wrongKeyFile.open(QIODevice::WriteOnly));
    wrongKeyFile.write(QJsonDocument(wrongKey).toJson());
    wrongKeyFile.close();
    ProcessRun run = runNode({QStringLiteral("--config"), wrongKeyPath});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.errText().contains(QLatin1String("'signing_key':")) &&
                 run.errText().contains(QLatin1String("is not the key the membership lists for 'target-1'")),
             qPrintable(run.errText()));
    QVERIFY2(!QFileInfo::exists(QDir(nodeDir).filePath(QStringLiteral("ledger.sqlite"))),
             "a node with the wrong key must not create its store");

    // A registry with a bad row: the node stops on it, with 2, and names the line.
    const QString registry = QDir(nodeDir).absoluteFilePath(object.value(u"registry").toString());
    QFile registryFile(registry);
    QVERIFY(registryFile.open(QIODevice::Append));
    registryFile.write("T-BAD,cheque,not-a-number,CNY,Bank\n");
    registryFile.close();
    run = runNode({QStringLiteral("--config"), config});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.errText().contains(QLatin1String("face_amount_minor")), qPrintable(run.errText()));
}

void NodeConfigTest::checkConfigWritesNothing()
{
    const std::optional<DevnetLayout> layout = devnetIn(*dir);
    QVERIFY(layout);
    for (const DevnetNode &node : layout->nodes) {
        const ProcessRun run =
            runNode({QStringLiteral("--check-config"), QStringLiteral("--config"), node.configPath});
        QVERIFY2(run.exitCode == 0, qPrintable(node.id + QStringLiteral(": ") + run.errText()));
        QVERIFY2(run.outText().contains(QStringLiteral("node %1 (").arg(node.id)) &&
                     run.outText().trimmed().endsWith(u"ok"),
                 qPrintable(run.outText()));
        QVERIFY2(run.outText().contains(QLatin1String("created on first start")), qPrintable(run.outText()));
        QVERIFY2(!QFileInfo::exists(node.databasePath), qPrintable(node.databasePath));
        if (node.roles.testFlag(Role::Target))
            QVERIFY2(run.outText().contains(QLatin1String("registry of ")), qPrintable(run.outText()));
    }

    // What stops a node stops the check too, with the same line and status.
    const QString config = layout->node(QStringLiteral("target-1"))->configPath;
    QFile key(QDir(layout->dir).filePath(QStringLiteral("keys/target-1.key")));
    QVERIFY(key.setPermissions(key.permissions() | QFileDevice::ReadOther));
    const ProcessRun checked =
        runNode({QStringLiteral("--check-config"), QStringLiteral("--config"), config});
    const ProcessRun started = runNode({QStringLiteral("--config"), config});
    QCOMPARE(checked.exitCode, 2);
    QCOMPARE(started.exitCode, 2);
    QVERIFY2(checked.errText().contains(QLatin1String("let others read the secret key")),
             qPrintable(checked.errText()));
    QCOMPARE(checked.err, started.err);
    QVERIFY(checked.out.isEmpty());
}

void NodeConfigTest::blocksMustFitTheFrameLimit()
{
    // A coordinator whose largest block would not fit one message stops at once, naming both
    // keys, whether it is started or only checked; one whose blocks fit starts.
    const std::optional<DevnetLayout> layout = devnetIn(*dir);
    QVERIFY(layout);
    const QString config = layout->node(QStringLiteral("coordinator-1"))->configPath;
    QFile file(config);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QJsonObject original = QJsonDocument::fromJson(file.readAll()).object();
    file.close();
    auto writeWith = [&](int blockMaxDecisions, int maxFrameBytes) {
        QJsonObject object = original;
        QJsonObject coordinator = object.value(u"coordinator").toObject();
        coordinator.insert(QStringLiteral("block_max_decisions"), blockMaxDecisions);
        object.insert(QStringLiteral("coordinator"), coordinator);
        QJsonObject limits = object.value(u"limits").toObject();
        limits.insert(QStringLiteral("max_frame_bytes"), maxFrameBytes);
        object.insert(QStringLiteral("limits"), limits);
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write(QJsonDocument(object).toJson());
        file.close();
    };
    writeWith(10000, 4 * 1024 * 1024);
    for (const bool check : {true, false}) {
        QStringList arguments{QStringLiteral("--config"), config};
        if (check)
            arguments.prepend(QStringLiteral("--check-config"));
        const ProcessRun run = runNode(arguments);
        QCOMPARE(run.exitCode, 2);
        QVERIFY2(run.errText().contains(QLatin1String("'coordinator.block_max_decisions': a block of 10000 "
                                                      "decisions may take ")) &&
                     run.errText().contains(QLatin1String("more than 'limits.max_frame_bytes' (4194304)")),
                 qPrintable(run.errText()));
        QCOMPARE(run.errText().trimmed().count(u'\n'), 0);
    }
    // The line says how many decisions fit; that many are accepted.
    const ProcessRun refused =
        runNode({QStringLiteral("--check-config"), QStringLiteral("--config"), config});
    const QRegularExpressionMatch fits =
        QRegularExpression(QStringLiteral("lower block_max_decisions to (\\d+)")).match(refused.errText());
    QVERIFY2(fits.hasMatch(), qPrintable(refused.errText()));
    const int most = fits.captured(1).toInt();
    QVERIFY2(most >= 500 && most < 10000, qPrintable(refused.errText()));
    writeWith(most, 4 * 1024 * 1024);
    ProcessRun run = runNode({QStringLiteral("--check-config"), QStringLiteral("--config"), config});
    QVERIFY2(run.exitCode == 0, qPrintable(run.errText()));
    writeWith(most + 1, 4 * 1024 * 1024);
    QCOMPARE(runNode({QStringLiteral("--check-config"), QStringLiteral("--config"), config}).exitCode, 2);
    // Smaller frames, fewer decisions.
    writeWith(500, 65536);
    run = runNode({QStringLiteral("--check-config"), QStringLiteral("--config"), config});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.errText().contains(QLatin1String("(65536)")), qPrintable(run.errText()));
}

void NodeConfigTest::everyEventKindIsDocumented()
{
    // docs/api.md, "Events": one table row per kind, its name in backticks first.
    QFile api(QStringLiteral(TICKETSYNC_SOURCE_DIR "/docs/api.md"));
    QVERIFY2(api.open(QIODevice::ReadOnly), qPrintable(api.fileName()));
    const QString text = QString::fromUtf8(api.readAll());
    const qsizetype events = text.indexOf(QLatin1String("\n## Events\n"));
    QVERIFY(events >= 0);
    const qsizetype next = text.indexOf(QLatin1String("\n## "), events + 1);
    const QString section = text.mid(events, next < 0 ? -1 : next - events);
    QStringList documented;
    const QRegularExpression row(QStringLiteral("^\\| `([a-z_]+)`"), QRegularExpression::MultilineOption);
    for (auto match = row.globalMatch(section); match.hasNext();)
        documented.append(match.next().captured(1));
    QStringList emitted(eventKindNames().cbegin(), eventKindNames().cend());
    emitted.sort();
    documented.sort();
    QCOMPARE(documented, emitted);
}

void NodeConfigTest::registryFiles_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QString>("expected"); // empty: valid
    const QByteArray header = "id,kind,face_amount_minor,currency,issuer\n";
    QTest::newRow("csv") << QStringLiteral("r.csv") << header + "T-1,commercial-bill,100,CNY,Bank, Ltd\n"
                         << QString();
    QTest::newRow("json")
        << QStringLiteral("r.json")
        << QByteArray("[{\"id\":\"T-1\",\"kind\":\"cheque\",\"face_amount_minor\":5,\"currency\":\"USD\"}]")
        << QString();
    QTest::newRow("csv with a byte order mark")
        << QStringLiteral("r.csv") << "\xEF\xBB\xBF" + header + "T-1,cheque,100,CNY,x\r\n"
        << QString();
    QTest::newRow("csv: an issuer not in UTF-8")
        << QStringLiteral("r.csv") << header + "T-1,cheque,100,CNY,x\nT-2,cheque,100,CNY,\xD2\xF8\xD0\xD0\n"
        << QStringLiteral("r.csv: line 3: not valid UTF-8");
    const QString utf16 = u"\uFEFFid,kind,face_amount_minor,currency,issuer\r\nT-1,cheque,100,CNY,x\r\n"_s;
    QTest::newRow("csv: UTF-16") << QStringLiteral("r.csv")
                                 << QByteArray(reinterpret_cast<const char *>(utf16.utf16()),
                                               utf16.size() * 2)
                                 << QStringLiteral("line 1: the file is UTF-16");
    QTest::newRow("csv: a line that never ends")
        << QStringLiteral("r.csv") << header + "T-1,cheque,100,CNY," + QByteArray(1 << 20, 'x')
        << QStringLiteral("r.csv: line 2: longer than 65536 bytes");
    QTest::newRow("csv: no line breaks at all") << QStringLiteral("r.csv") << QByteArray(1 << 20, '\0')
                                                << QStringLiteral("r.csv: line 1: longer than 65536 bytes");
    QTest::newRow("csv: an issuer just within the limit")
        << QStringLiteral("r.csv") << header + "T-1,cheque,100,CNY," + QByteArray(65536 - 20, 'x') + "\n"
        << QString();
    QTest::newRow("csv: a line one byte over the limit")
        << QStringLiteral("r.csv") << header + "T-1,cheque,100,CNY," + QByteArray(65536 - 19, 'x') + "\n"
        << QStringLiteral("r.csv: line 2: longer than 65536 bytes");
    QTest::newRow("csv: a ticket listed twice")
        << QStringLiteral("r.csv")
        << header + "T-1,cheque,100,CNY,x\nT-2,cheque,5,CNY,x\n\nT-1,cheque,900,CNY,x\n"
        << QStringLiteral("r.csv: line 5: ticket T-1 is listed again (first at line 2)");
    QTest::newRow("json: a ticket listed twice")
        << QStringLiteral("r.json")
        << QByteArray("[{\"id\":\"T-1\",\"kind\":\"cheque\",\"face_amount_minor\":5,\"currency\":\"USD\"},"
                      "{\"id\":\"T-1\",\"kind\":\"cheque\",\"face_amount_minor\":7,\"currency\":\"USD\"}]")
        << QStringLiteral("r.json: [1]: ticket T-1 is listed again (first at [0])");
    // QJsonDocument, and a QHash, would keep the last of the two amounts without a word.
    QTest::newRow("json: a key given twice")
        << QStringLiteral("r.json")
        << QByteArray(
               "[\n"
               "  {\"id\": \"T-1\", \"kind\": \"cheque\", \"face_amount_minor\": 5, \"currency\": \"USD\"},\n"
               "  {\"id\": \"T-2\", \"kind\": \"cheque\",\n"
               "   \"note\": {\"a\": [1,\n"
               "                  2]},\n"
               "   \"face_amount_minor\": 7,\n"
               "   \"currency\": \"USD\",\n"
               "   \"face_amount_minor\": 700}\n"
               "]\n")
        << QStringLiteral("r.json: [1]: 'face_amount_minor': given twice (again on line 8)");
    QTest::newRow("json: a skipped key given twice")
        << QStringLiteral("r.json")
        << QByteArray("[{\"note\":1,\"id\":\"T-1\",\"kind\":\"cheque\",\"note\":1,\"face_amount_minor\":5,"
                      "\"currency\":\"USD\"}]")
        << QStringLiteral("r.json: [0]: 'note': given twice (again on line 1)");
    QTest::newRow("csv: a quote not closed")
        << QStringLiteral("r.csv") << header + "T-1,cheque,100,CNY,\"Bank, Ltd\n"
        << QStringLiteral("r.csv: line 2: field 5: a quote is not closed");
    QTest::newRow("csv: text after a closing quote")
        << QStringLiteral("r.csv") << header + "\"T-1\"x,cheque,100,CNY,Bank\n"
        << QStringLiteral("r.csv: line 2: field 1: text after its closing quote");
    QTest::newRow("header") << QStringLiteral("r.csv") << QByteArray("id,amount\n")
                            << QStringLiteral("line 1");
    QTest::newRow("kind") << QStringLiteral("r.csv") << header + "T-1,coupon,100,CNY,x\n"
                          << QStringLiteral("line 2: 'kind'");
    QTest::newRow("amount") << QStringLiteral("r.csv") << header + "T-1,cheque,12.5,CNY,x\n"
                            << QStringLiteral("line 2: 'face_amount_minor'");
    QTest::newRow("fields") << QStringLiteral("r.csv") << header + "T-1,cheque\n"
                            << QStringLiteral("line 2: expected 5");
    QTest::newRow("currency")
        << QStringLiteral("r.json")
        << QByteArray("[{\"id\":\"T-1\",\"kind\":\"cheque\",\"face_amount_minor\":5,\"currency\":\"usd\"}]")
        << QStringLiteral("[0]: 'currency'");

    // JSON is read one object at a time; every way it can be wrong is named, with its offset.
    const QByteArray ticket = "\"id\":\"T-1\",\"kind\":\"cheque\",\"currency\":\"USD\"";
    QTest::newRow("json: unknown keys, nested values skipped")
        << QStringLiteral("r.json")
        << "\xEF\xBB\xBF [ {\"note\": {\"a\": [1, -2.5e3, {\"b\": null}, []], \"c\": {}}, " + ticket +
               ", \"face_amount_minor\": 5, \"ok\": true} ]\n"
        << QString();
    QTest::newRow("json: a whole amount with a point")
        << QStringLiteral("r.json") << "[{" + ticket + ",\"face_amount_minor\":100.0}]" << QString();
    QTest::newRow("json: an amount as a string")
        << QStringLiteral("r.json") << "[{" + ticket + ",\"face_amount_minor\":\"100\"}]" << QString();
    QTest::newRow("json: a fractional amount")
        << QStringLiteral("r.json") << "[{" + ticket + ",\"face_amount_minor\":12.5}]"
        << QStringLiteral("[0]: 'face_amount_minor': '12.5' is not a positive whole number");
    QTest::newRow("json: an id that is not a string")
        << QStringLiteral("r.json") << QByteArray("[{\"id\":5,\"kind\":\"cheque\",\"face_amount_minor\":5}]")
        << QStringLiteral("[0]: 'id': must be a string");
    QTest::newRow("json: not an array") << QStringLiteral("r.json") << "{" + ticket + "}"
                                        << QStringLiteral("must be a JSON array of tickets");
    QTest::newRow("json: empty") << QStringLiteral("r.json") << QByteArray("  ")
                                 << QStringLiteral("not valid JSON at offset 2: the input is empty");
    QTest::newRow("json: a comma before a brace")
        << QStringLiteral("r.json") << QByteArray("[{\"id\":\"T-1\",}]")
        << QStringLiteral("not valid JSON at offset 13: expected a key in element [0], found '}'");
    QTest::newRow("json: an element that is not an object")
        << QStringLiteral("r.json") << "[{" + ticket + ",\"face_amount_minor\":5}, 7]"
        << QStringLiteral("[1]: not a JSON object");
    QTest::newRow("json: a comma before the bracket")
        << QStringLiteral("r.json") << "[{" + ticket + ",\"face_amount_minor\":5},]"
        << QStringLiteral("a ',' with no element after it");
    QTest::newRow("json: text after the array")
        << QStringLiteral("r.json") << "[{" + ticket + ",\"face_amount_minor\":5}] x"
        << QStringLiteral("'x' after the end of the array");
    QTest::newRow("json: a string not closed") << QStringLiteral("r.json") << QByteArray("[{\"id\":\"T-1")
                                               << QStringLiteral("a string is not closed");
    QTest::newRow("json: a control character in a string")
        << QStringLiteral("r.json") << QByteArray("[{\"id\":\"T-\x01\"}]")
        << QStringLiteral("not valid JSON at offset 10: a control character");
    QTest::newRow("json: an unknown escape") << QStringLiteral("r.json") << QByteArray("[{\"id\":\"T\\q\"}]")
                                             << QStringLiteral("an unknown escape");
    QTest::newRow("json: a lone surrogate")
        << QStringLiteral("r.json") << QByteArray("[{\"id\":\"\\ud83d\"}]")
        << QStringLiteral("without its low half");
    QTest::newRow("json: not UTF-8") << QStringLiteral("r.json") << QByteArray("[{\"id\":\"T-\xC3\x28\"}]")
                                     << QStringLiteral("not valid UTF-8");
    QTest::newRow("json: nested too deep")
        << QStringLiteral("r.json") << "[{\"x\":" + QByteArray(100, '[') + QByteArray(100, ']') + "}]"
        << QStringLiteral("nested more than 64 deep");
    QByteArray manyKeys = "[{" + ticket;
    for (int i = 0; i < 300; ++i)
        manyKeys += ",\"k" + QByteArray::number(i) + "\":0";
    QTest::newRow("json: too many keys") << QStringLiteral("r.json") << manyKeys + "}]"
                                         << QStringLiteral("element [0] has more than 256 keys");
    QTest::newRow("json: a broken number")
        << QStringLiteral("r.json") << "[{" + ticket + ",\"face_amount_minor\":1.}]"
        << QStringLiteral("no digits after its point");
}

void NodeConfigTest::registryFiles()
{
    QFETCH(QString, name);
    QFETCH(QByteArray, content);
    QFETCH(QString, expected);
    QString error;
    QList<Ticket> tickets;
    TicketRegistryFile::Reader reader;
    if (reader.open(write(name, content), &error)) {
        Ticket ticket;
        while (reader.next(&ticket, &error))
            tickets.append(ticket);
    }
    if (expected.isEmpty()) {
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QCOMPARE(tickets.size(), 1);
        QCOMPARE(tickets.first().id, QStringLiteral("T-1"));
        return;
    }
    QVERIFY2(error.contains(expected), qPrintable(error));
}

void NodeConfigTest::registryFieldsQuotedAsSpreadsheetsWriteThem()
{
    // A spreadsheet quotes a field that holds a comma or a quote: the quotes are not the value.
    const QString path =
        write(QStringLiteral("quoted.csv"), "id,kind,face_amount_minor,currency,issuer\r\n"
                                            "\"T-1\",cheque,\"100\",CNY,\"Bank, Ltd\"\r\n"
                                            "T-2,cheque,5,CNY,\"The \"\"East\"\" Bank\"\r\n"
                                            "T-3,cheque,5,CNY,Bare, commas \"and\" quotes\r\n");
    TicketRegistryFile::Reader reader;
    QString error;
    QVERIFY2(reader.open(path, &error), qPrintable(error));
    QStringList issuers;
    Ticket ticket;
    while (reader.next(&ticket, &error))
        issuers.append(ticket.id + u'=' + ticket.issuer);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(issuers, (QStringList{u"T-1=Bank, Ltd"_s, u"T-2=The \"East\" Bank"_s,
                                   u"T-3=Bare, commas \"and\" quotes"_s}));

    // What writeCsv writes reads back as it was, an issuer that starts with a quote included.
    QList<Ticket> tickets;
    for (const QString &issuer : {u"\"Quoted\" Bank, Ltd"_s, u"Plain, Ltd"_s, u""_s}) {
        Ticket written;
        written.id = QStringLiteral("W-%1").arg(tickets.size() + 1);
        written.kind = TicketKind::Cheque;
        written.faceAmountMinor = 100;
        written.currency = QStringLiteral("CNY");
        written.issuer = issuer;
        tickets.append(written);
    }
    const QString written = dir->filePath(QStringLiteral("written.csv"));
    QVERIFY2(TicketRegistryFile::writeCsv(written, tickets, &error), qPrintable(error));
    TicketRegistryFile::Reader back;
    QVERIFY2(back.open(written, &error), qPrintable(error));
    for (const Ticket &expected : std::as_const(tickets)) {
        QVERIFY2(back.next(&ticket, &error), qPrintable(error));
        QCOMPARE(ticket.issuer, expected.issuer);
    }
    QVERIFY(!back.next(&ticket, &error));
    QVERIFY2(error.isEmpty(), qPrintable(error));
}

void NodeConfigTest::registryStreamsIntoTheStore()
{
    // A target imports its registry row by row, as it reads it: all rows or, at a bad one, none.
    std::unique_ptr<LedgerStore> store =
        LedgerStore::open(dir->filePath(QStringLiteral("store.sqlite")), nullptr);
    QVERIFY(store);
    auto importFile = [&](const QString &name, const QByteArray &content, qint64 *imported) {
        TicketRegistryFile::Reader reader;
        QString error;
        if (!reader.open(write(name, content), &error))
            return error;
        store->importTickets(
            [&reader](Ticket *ticket, QString *problem) { return reader.next(ticket, problem); }, &error,
            imported);
        return error;
    };
    QByteArray rows = "id,kind,face_amount_minor,currency,issuer\r\n";
    for (int i = 1; i <= 5000; ++i)
        rows += "T-" + QByteArray::number(i) + ",e-invoice," + QByteArray::number(100 + i) +
                ",CNY,Issuer, Ltd\r\n";
    rows += "\n";
    qint64 imported = -1;
    QString error = importFile(QStringLiteral("big.csv"), rows, &imported);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(imported, qint64(5000));
    QCOMPARE(store->ticketCount(), qint64(5000));
    const std::optional<TicketRecord> last = store->ticket(QStringLiteral("T-5000"));
    QVERIFY(last);
    QCOMPARE(last->ticket.faceAmountMinor, qint64(5100));
    QCOMPARE(last->ticket.issuer, QStringLiteral("Issuer, Ltd"));

    // A bad row deep in the file: named by its line, and none of the rows before it stored.
    QByteArray bad = "id,kind,face_amount_minor,currency,issuer\n";
    for (int i = 1; i <= 3000; ++i)
        bad += "N-" + QByteArray::number(i) + ",cheque,7,USD,x\n";
    bad += "N-3001,cheque,-7,USD,x\n";
    error = importFile(QStringLiteral("bad.csv"), bad, &imported);
    QVERIFY2(error.contains(QStringLiteral("bad.csv: line 3002: 'face_amount_minor'")), qPrintable(error));
    QCOMPARE(imported, qint64(0));
    QCOMPARE(store->ticketCount(), qint64(5000));
    QVERIFY(!store->ticket(QStringLiteral("N-1")));

    // Importing again updates the rows it names.
    error = importFile(QStringLiteral("update.json"),
                       "[{\"id\":\"T-1\",\"kind\":\"cheque\",\"face_amount_minor\":9,\"currency\":\"USD\"}]",
                       &imported);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(imported, qint64(1));
    QCOMPARE(store->ticketCount(), qint64(5000));
    QCOMPARE(store->ticket(QStringLiteral("T-1"))->ticket.faceAmountMinor, qint64(9));

    // A JSON registry over many read chunks: escapes decoded, every row stored; a bad row deep in
    // it stores none.
    QByteArray json = "[\n";
    for (int i = 1; i <= 5000; ++i)
        json += QByteArray(i > 1 ? ",\n" : "") + "  {\"id\": \"J-" + QByteArray::number(i) +
                "\", \"kind\": \"e-invoice\", \"face_amount_minor\": " + QByteArray::number(200 + i) +
                ", \"currency\": \"CNY\", \"issuer\": \"\\u94f6\\u884c \\\"East\\\" \\ud83d\\ude00\", "
                "\"memo\": \"" +
                QByteArray(40, 'm') + "\"}";
    json += "\n]\n";
    QVERIFY(json.size() > 4 * 64 * 1024);
    error = importFile(QStringLiteral("big.json"), json, &imported);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(imported, qint64(5000));
    QCOMPARE(store->ticketCount(), qint64(10000));
    const std::optional<TicketRecord> lastJson = store->ticket(QStringLiteral("J-5000"));
    QVERIFY(lastJson);
    QCOMPARE(lastJson->ticket.faceAmountMinor, qint64(5200));
    QCOMPARE(lastJson->ticket.issuer,
             QString::fromUtf8("\xE9\x93\xB6\xE8\xA1\x8C \"East\" \xF0\x9F\x98\x80"));

    QByteArray badJson = json;
    badJson.replace("\"J-4000\", \"kind\": \"e-invoice\"", "\"K-4000\", \"kind\": \"coupon\"");
    badJson.replace("\"J-", "\"K-");
    error = importFile(QStringLiteral("bad.json"), badJson, &imported);
    QVERIFY2(error.contains(QStringLiteral("bad.json: [3999]: 'kind'")), qPrintable(error));
    QCOMPARE(imported, qint64(0));
    QCOMPARE(store->ticketCount(), qint64(10000));
    QVERIFY(!store->ticket(QStringLiteral("K-1")));
}

void NodeConfigTest::journalRefusesWhatIsNotOne()
{
    // A journal whose schema version reads as negative (the 4 bytes at offset 60 of an SQLite
    // file): refused by name, never migrated from a version that does not exist.
    const QString path = dir->filePath(QStringLiteral("node.events"));
    {
        QString error;
        std::unique_ptr<NodeJournal> journal = NodeJournal::open(path, &error);
        QVERIFY2(journal, qPrintable(error));
        journal->appendEvent(QStringLiteral("started"), QByteArrayLiteral("{}"), 1);
        QVERIFY2(journal->commit(&error), qPrintable(error));
    } // the last connection checkpoints the WAL into the file
    QVERIFY(!QFileInfo::exists(path + QStringLiteral("-wal")));
    QByteArray bytes;
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::ReadWrite));
        QVERIFY(file.seek(60));
        QCOMPARE(file.write(QByteArray("\xff\xff\xff\xfd", 4)), qint64(4));
        QVERIFY(file.seek(0));
        bytes = file.readAll();
    }
    QString error;
    QVERIFY(!NodeJournal::open(path, &error));
    QVERIFY2(error.contains(path) && error.contains(QLatin1String("not a ticketsync journal")) &&
                 error.contains(QLatin1String("-3")),
             qPrintable(error));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll(), bytes); // left as it was
}

void NodeConfigTest::journalRefusesWhatItCannotWrite()
{
    // A journal the node may read but not write: refused on open, not found out when the first
    // event cannot be stored. Permission checks in this thread run as a user who owns nothing
    // here, so that the file's mode counts when the test runs as root too.
    const QString path = dir->filePath(QStringLiteral("readonly.events"));
    {
        QString error;
        std::unique_ptr<NodeJournal> journal = NodeJournal::open(path, &error);
        QVERIFY2(journal, qPrintable(error));
    }
    QVERIFY(QFile::setPermissions(path,
                                  QFileDevice::ReadOwner | QFileDevice::ReadGroup | QFileDevice::ReadOther));
    QVERIFY(QFile::setPermissions(dir->path(), QFileDevice::ReadOwner | QFileDevice::WriteOwner |
                                                   QFileDevice::ExeOwner | QFileDevice::ReadOther |
                                                   QFileDevice::WriteOther | QFileDevice::ExeOther));
    const bool root = ::geteuid() == 0;
    const int groupBefore = ::setfsgid(root ? 65534 : ::getegid());
    const int userBefore = ::setfsuid(root ? 65534 : ::geteuid());
    QString error;
    const bool opened = bool(NodeJournal::open(path, &error));
    ::setfsuid(uid_t(userBefore));
    ::setfsgid(gid_t(groupBefore));
    QVERIFY2(!opened, "a journal this process cannot write was opened");
    QVERIFY2(error.contains(path) && error.contains(QLatin1String("read-only")), qPrintable(error));
}

QTEST_GUILESS_MAIN(NodeConfigTest)
#include "tst_nodeconfig.moc"
