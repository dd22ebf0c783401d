#include "NodeConfig.h"

#include "StrictJson.h"
#include "Ticket.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <cmath>

namespace ticketsync {

namespace {

class ConfigReader
{
public:
    ConfigReader(QString file, QDir base) : file(std::move(file)), base(std::move(base)) {}

    bool failed() const { return !problem.isEmpty(); }
    const QString &error() const { return problem; }
    void fail(const QString &key, const QString &what)
    {
        if (problem.isEmpty())
            problem = QStringLiteral("%1: '%2': %3").arg(file, key, what);
    }

    // key is named as errors name it; in a section it is dotted ("process.cpu_scheduling").
    QString string(const QJsonObject &object, const QString &key, bool required)
    {
        const QJsonValue value = object.value(key.section(u'.', -1));
        if (value.isUndefined()) {
            if (required)
                fail(key, QStringLiteral("is required"));
            return {};
        }
        if (!value.isString() || value.toString().isEmpty()) {
            fail(key, QStringLiteral("must be a non-empty string"));
            return {};
        }
        return value.toString();
    }

    QString filePath(const QJsonObject &object, const QString &key, bool required, bool mustExist)
    {
        const QString value = string(object, key, required);
        if (value.isEmpty())
            return {};
        const QString resolved = QDir::cleanPath(base.absoluteFilePath(value));
        if (mustExist && !QFileInfo::exists(resolved))
            fail(key, QStringLiteral("no such file: %1").arg(resolved));
        return resolved;
    }

    // A section of the file, such as "limits". Every key in it must be known: a misspelt limit
    // would otherwise leave its default in force without a word.
    QJsonObject section(const QJsonObject &root, const QString &name, const QStringList &known)
    {
        const QJsonValue value = root.value(name);
        if (value.isUndefined())
            return {};
        if (!value.isObject()) {
            fail(name, QStringLiteral("must be an object"));
            return {};
        }
        const QJsonObject object = value.toObject();
        for (auto it = object.begin(); it != object.end(); ++it) {
            if (!known.contains(it.key()))
                fail(name + u'.' + it.key(),
                     QStringLiteral("unknown key (known: %1)").arg(known.join(u", ")));
        }
        return object;
    }

    int integer(const QJsonObject &object, const QString &key, int fallback, int minimum, int maximum)
    {
        const QJsonValue value = object.value(key.section(u'.', -1));
        if (value.isUndefined())
            return fallback;
        // In range before any conversion: qint64(1e30) is undefined behaviour, not a failed check.
        const double number = value.toDouble();
        if (!value.isDouble() || !(number >= minimum && number <= maximum) || number != std::floor(number)) {
            fail(key, QStringLiteral("must be a whole number from %1 to %2").arg(minimum).arg(maximum));
            return fallback;
        }
        return int(number);
    }

private:
    QString file;
    QDir base;
    QString problem;
};

// Far above any real configuration; a path to a device or a huge file is not read whole.
constexpr qint64 kMaxConfigBytes = 1024 * 1024;

} // namespace

std::optional<NodeConfig> NodeConfig::load(const QString &path, QString *error)
{
    auto failWith = [error](const QString &message) -> std::optional<NodeConfig> {
        if (error)
            *error = message;
        return std::nullopt;
    };
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return failWith(
            QStringLiteral("%1: cannot read the node configuration: %2").arg(path, file.errorString()));
    const QByteArray text = file.read(kMaxConfigBytes + 1);
    if (text.size() > kMaxConfigBytes)
        return failWith(QStringLiteral("%1: larger than %2 bytes; not a node configuration")
                            .arg(path)
                            .arg(kMaxConfigBytes));
    if (file.error() != QFileDevice::NoError)
        return failWith(
            QStringLiteral("%1: cannot read the node configuration: %2").arg(path, file.errorString()));
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(text, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        return failWith(QStringLiteral("%1: not valid JSON at offset %2: %3")
                            .arg(path)
                            .arg(parseError.offset)
                            .arg(parseError.errorString()));
    if (!document.isObject())
        return failWith(QStringLiteral("%1: the configuration must be a JSON object").arg(path));
    // Which of the two a node would use is not for the parser to decide.
    if (const std::optional<StrictJson::RepeatedKey> repeated = StrictJson::repeatedKey(text))
        return failWith(QStringLiteral("%1: '%2': given twice (again on line %3)")
                            .arg(path, repeated->name)
                            .arg(repeated->line));
    const QJsonObject root = document.object();

    static const QStringList known = {
        QStringLiteral("format"),      QStringLiteral("node_id"),  QStringLiteral("membership"),
        QStringLiteral("signing_key"), QStringLiteral("tls"),      QStringLiteral("listen"),
        QStringLiteral("database"),    QStringLiteral("registry"), QStringLiteral("limits"),
        QStringLiteral("coordinator"), QStringLiteral("process"),
    };
    for (auto it = root.begin(); it != root.end(); ++it) {
        if (!known.contains(it.key()))
            return failWith(
                QStringLiteral("%1: '%2': unknown key (known: %3)").arg(path, it.key(), known.join(u", ")));
    }
    if (root.value(u"format").toString() != QLatin1String("ticketsync-node"))
        return failWith(QStringLiteral("%1: 'format': must be \"ticketsync-node\"").arg(path));

    ConfigReader reader(path, QFileInfo(path).absoluteDir());
    NodeConfig config;
    config.path = path;
    config.nodeId = reader.string(root, QStringLiteral("node_id"), true);
    if (!reader.failed()) {
        if (const QString problem = checkNodeId(config.nodeId); !problem.isEmpty())
            reader.fail(QStringLiteral("node_id"), problem);
    }
    config.membershipPath = reader.filePath(root, QStringLiteral("membership"), true, true);
    config.signingKeyPath = reader.filePath(root, QStringLiteral("signing_key"), true, true);
    const QJsonValue tls = root.value(u"tls");
    if (!tls.isObject()) {
        reader.fail(QStringLiteral("tls"), QStringLiteral("must be an object with certificate, key and ca"));
    } else {
        const QJsonObject object =
            reader.section(root, QStringLiteral("tls"),
                           {QStringLiteral("certificate"), QStringLiteral("key"), QStringLiteral("ca")});
        config.tlsCertificatePath = reader.filePath(object, QStringLiteral("tls.certificate"), true, true);
        config.tlsKeyPath = reader.filePath(object, QStringLiteral("tls.key"), true, true);
        config.tlsCaPath = reader.filePath(object, QStringLiteral("tls.ca"), true, true);
    }
    const QString listen = reader.string(root, QStringLiteral("listen"), true);
    if (!listen.isEmpty()) {
        const qsizetype colon = listen.lastIndexOf(u':');
        bool ok = false;
        const uint port = colon > 0 ? listen.mid(colon + 1).toUInt(&ok) : 0;
        if (!ok || port == 0 || port > 65535)
            reader.fail(QStringLiteral("listen"),
                        QStringLiteral("must be host:port with a port from 1 to 65535"));
        config.listenHost = listen.left(colon);
        config.listenPort = quint16(port);
        // IPv6 as URLs write it: without brackets, "::1:7404" could be one address and no port.
        const bool bracketed = config.listenHost.startsWith(u'[') && config.listenHost.endsWith(u']');
        if (bracketed)
            config.listenHost = config.listenHost.mid(1, config.listenHost.size() - 2);
        if (ok && !bracketed && config.listenHost.contains(u':'))
            reader.fail(QStringLiteral("listen"),
                        QStringLiteral("an IPv6 address goes in brackets before the port, as [::1]:7404"));
        else if (ok && config.listenHost != QLatin1String("localhost") &&
                 (QHostAddress(config.listenHost).isNull() ||
                  (bracketed && QHostAddress(config.listenHost).protocol() != QAbstractSocket::IPv6Protocol)))
            reader.fail(QStringLiteral("listen"),
                        QStringLiteral("'%1' is not an IP address (or localhost)").arg(config.listenHost));
    }
    config.databasePath = reader.filePath(root, QStringLiteral("database"), true, false);
    if (!config.databasePath.isEmpty()) {
        // Found here, not by SQLite on start: a node that cannot open its store exits 1 and is
        // restarted forever, and --check-config would call the file "created on first start".
        const QFileInfo database(config.databasePath);
        if (database.exists() && !database.isFile())
            reader.fail(QStringLiteral("database"),
                        QStringLiteral("%1 is not a file").arg(config.databasePath));
        else if (!database.exists() && !database.dir().exists())
            reader.fail(QStringLiteral("database"),
                        QStringLiteral("no such directory: %1").arg(database.absolutePath()));
        else if (database.dir().filePath(database.completeBaseName() + QStringLiteral(".events")) ==
                 config.databasePath)
            reader.fail(QStringLiteral("database"),
                        QStringLiteral("must not end in .events: the node's event journal is written "
                                       "beside the ledger as <name>.events, which would be this same file"));
    }
    config.registryPath = reader.filePath(root, QStringLiteral("registry"), false, true);

    const QJsonObject limits = reader.section(
        root, QStringLiteral("limits"),
        {QStringLiteral("max_frame_bytes"), QStringLiteral("max_messages_per_second"),
         QStringLiteral("journal_events_kept"), QStringLiteral("max_unread_bytes"),
         QStringLiteral("not_reading_close_ms"), QStringLiteral("handshake_timeout_ms"),
         QStringLiteral("max_pending_handshakes"), QStringLiteral("max_pending_handshakes_per_address"),
         QStringLiteral("keepalive_interval_ms"), QStringLiteral("keepalive_timeout_ms")});
    config.maxFrameBytes = reader.integer(limits, QStringLiteral("limits.max_frame_bytes"),
                                          int(config.maxFrameBytes), 1024, 256 * 1024 * 1024);
    config.maxMessagesPerSecond = reader.integer(limits, QStringLiteral("limits.max_messages_per_second"),
                                                 config.maxMessagesPerSecond, 1, 10000000);
    config.maxUnreadBytes = reader.integer(limits, QStringLiteral("limits.max_unread_bytes"),
                                           int(config.maxUnreadBytes), 64 * 1024, 1024 * 1024 * 1024);
    config.notReadingCloseMs = reader.integer(limits, QStringLiteral("limits.not_reading_close_ms"),
                                              config.notReadingCloseMs, 1000, 3600000);
    config.handshakeTimeoutMs = reader.integer(limits, QStringLiteral("limits.handshake_timeout_ms"),
                                               config.handshakeTimeoutMs, 500, 600000);
    config.maxPendingHandshakes = reader.integer(limits, QStringLiteral("limits.max_pending_handshakes"),
                                                 config.maxPendingHandshakes, 1, 100000);
    config.maxPendingHandshakesPerAddress =
        reader.integer(limits, QStringLiteral("limits.max_pending_handshakes_per_address"),
                       qMin(config.maxPendingHandshakesPerAddress, config.maxPendingHandshakes), 1, 100000);
    if (config.maxPendingHandshakesPerAddress > config.maxPendingHandshakes)
        reader.fail(QStringLiteral("limits.max_pending_handshakes_per_address"),
                    QStringLiteral("must not be more than limits.max_pending_handshakes (%1)")
                        .arg(config.maxPendingHandshakes));
    config.keepaliveIntervalMs = reader.integer(limits, QStringLiteral("limits.keepalive_interval_ms"),
                                                config.keepaliveIntervalMs, 100, 600000);
    // Three pings unanswered by default, whatever the interval.
    config.keepaliveTimeoutMs =
        reader.integer(limits, QStringLiteral("limits.keepalive_timeout_ms"),
                       qMax(config.keepaliveTimeoutMs, 3 * config.keepaliveIntervalMs), 300, 3600000);
    if (config.keepaliveTimeoutMs <= config.keepaliveIntervalMs)
        reader.fail(QStringLiteral("limits.keepalive_timeout_ms"),
                    QStringLiteral("must be more than limits.keepalive_interval_ms (%1), or no pong "
                                   "could come in time")
                        .arg(config.keepaliveIntervalMs));
    config.journalEventsKept = reader.integer(limits, QStringLiteral("limits.journal_events_kept"),
                                              config.journalEventsKept, 1000, 1000000000);
    const QJsonObject coordinator =
        reader.section(root, QStringLiteral("coordinator"),
                       {QStringLiteral("block_interval_ms"), QStringLiteral("block_max_decisions"),
                        QStringLiteral("vote_timeout_ms"), QStringLiteral("retry_limit"),
                        QStringLiteral("retry_backoff_ms"), QStringLiteral("sync_batch_blocks"),
                        QStringLiteral("max_open_tallies"), QStringLiteral("backlog_wait_ms")});
    config.blockIntervalMs = reader.integer(coordinator, QStringLiteral("coordinator.block_interval_ms"),
                                            config.blockIntervalMs, 1, 60000);
    config.blockMaxDecisions = reader.integer(coordinator, QStringLiteral("coordinator.block_max_decisions"),
                                              config.blockMaxDecisions, 1, 10000);
    config.voteTimeoutMs = reader.integer(coordinator, QStringLiteral("coordinator.vote_timeout_ms"),
                                          config.voteTimeoutMs, 10, 3600000);
    config.retryLimit =
        reader.integer(coordinator, QStringLiteral("coordinator.retry_limit"), config.retryLimit, 0, 1000);
    config.retryBackoffMs = reader.integer(coordinator, QStringLiteral("coordinator.retry_backoff_ms"),
                                           config.retryBackoffMs, 1, 3600000);
    config.syncBatchBlocks = reader.integer(coordinator, QStringLiteral("coordinator.sync_batch_blocks"),
                                            config.syncBatchBlocks, 1, 10000);
    config.maxOpenTallies = reader.integer(coordinator, QStringLiteral("coordinator.max_open_tallies"),
                                           config.maxOpenTallies, 1, 10000000);
    config.backlogWaitMs = reader.integer(coordinator, QStringLiteral("coordinator.backlog_wait_ms"),
                                          config.backlogWaitMs, 0, 3600000);
    const QJsonObject process = reader.section(
        root, QStringLiteral("process"), {QStringLiteral("cpu_scheduling"), QStringLiteral("cpu_slice_ms")});
    const QString scheduling = reader.string(process, QStringLiteral("process.cpu_scheduling"), false);
    if (scheduling == QLatin1String("normal"))
        config.cpuScheduling = CpuScheduling::Normal;
    else if (!scheduling.isEmpty() && scheduling != QLatin1String("batch"))
        reader.fail(QStringLiteral("process.cpu_scheduling"),
                    QStringLiteral("must be \"batch\" or \"normal\""));
    // The kernel takes slices from 0.1 to 100 ms.
    config.cpuSliceMs =
        reader.integer(process, QStringLiteral("process.cpu_slice_ms"), config.cpuSliceMs, 0, 100);
    if (reader.failed())
        return failWith(reader.error());
    return config;
}

} // namespace ticketsync
