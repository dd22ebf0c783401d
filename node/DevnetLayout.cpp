#include "DevnetLayout.h"

#include "DevnetPki.h"
#include "KeyFile.h"
#include "SampleConsortium.h"
#include "SignatureScheme.h"
#include "TicketRegistryFile.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QSaveFile>
#include <QTcpServer>

namespace ticketsync {

namespace {

bool writeFile(const QString &path, const QByteArray &bytes, QString *error)
{
    QFile existing(path);
    if (existing.open(QIODevice::ReadOnly) && existing.readAll() == bytes)
        return true; // unchanged: keep its timestamp
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

} // namespace

const DevnetNode *DevnetLayout::node(const QString &id) const
{
    for (const DevnetNode &candidate : nodes) {
        if (candidate.id == id)
            return &candidate;
    }
    return nullptr;
}

QStringList DevnetLayout::idsWithRole(Role role) const
{
    QStringList ids;
    for (const DevnetNode &candidate : nodes) {
        if (candidate.roles.testFlag(role))
            ids.append(candidate.id);
    }
    return ids;
}

quint16 DevnetLayout::freeBasePort(int count)
{
    for (int attempt = 0; attempt < 50; ++attempt) {
        // Below Linux's ephemeral range (32768 and up), so outgoing connections never take them.
        const quint16 base = quint16(10000 + QRandomGenerator::global()->bounded(22000));
        bool free = true;
        for (int i = 0; i < count && free; ++i) {
            QTcpServer probe;
            free = probe.listen(QHostAddress::LocalHost, quint16(base + i));
        }
        if (free)
            return base;
    }
    return 0;
}

std::optional<DevnetLayout> DevnetLayout::ensure(const DevnetOptions &options, QString *error)
{
    auto failWith = [error](const QString &message) -> std::optional<DevnetLayout> {
        if (error)
            *error = message;
        return std::nullopt;
    };
    QDir root(options.dir);
    if (!root.mkpath(QStringLiteral("pki")) || !root.mkpath(QStringLiteral("keys")) ||
        !root.mkpath(QStringLiteral("nodes")))
        return failWith(QStringLiteral("%1: cannot create the devnet directory").arg(options.dir));

    DevnetLayout layout;
    layout.dir = root.absolutePath();
    QList<QPair<QString, Roles>> plan{{QStringLiteral("coordinator-1"), Roles(Role::Coordinator)}};
    for (int i = 1; i <= options.branches; ++i)
        plan.append({QStringLiteral("branch-%1").arg(i), Roles(Role::Branch)});
    for (int i = 1; i <= options.targets; ++i)
        plan.append({QStringLiteral("target-%1").arg(i), Roles(Role::Target)});
    for (int i = 1; i <= options.receivers; ++i)
        plan.append({QStringLiteral("receiver-%1").arg(i), Roles(Role::Receiver)});

    // TLS: one CA, a certificate per node, and the console's operator and auditor.
    QList<PartySpec> parties;
    for (const auto &[id, roles] : std::as_const(plan))
        parties.append({id, PartyKind::Node});
    parties.append({QStringLiteral("operator-1"), PartyKind::Operator});
    parties.append({QStringLiteral("auditor-1"), PartyKind::Auditor});
    layout.pkcs12Password = QStringLiteral("ticketsync-devnet");
    const QString pki = root.filePath(QStringLiteral("pki"));
    QString problem;
    if (!DevnetPki::ensure(pki, options.consortium, parties, layout.pkcs12Password, &problem))
        return failWith(problem);
    layout.caPath = pki + QStringLiteral("/ca.pem");
    layout.operatorCertificate = pki + QStringLiteral("/operator-1.pem");
    layout.operatorKey = pki + QStringLiteral("/operator-1.key");
    layout.operatorPkcs12 = pki + QStringLiteral("/operator-1.p12");
    layout.auditorCertificate = pki + QStringLiteral("/auditor-1.pem");
    layout.auditorKey = pki + QStringLiteral("/auditor-1.key");
    layout.auditorPkcs12 = pki + QStringLiteral("/auditor-1.p12");

    // Signing keys: drawn once from the system's random source, then reused.
    QList<Member> members;
    quint16 port = options.basePort;
    for (const auto &[id, roles] : std::as_const(plan)) {
        const QString keyPath = root.filePath(QStringLiteral("keys/%1.key").arg(id));
        std::optional<KeyPair> key;
        if (QFile::exists(keyPath)) {
            key = KeyFile::readSecretKey(keyPath, &problem);
            if (!key)
                return failWith(problem);
        } else {
            key = SignatureScheme::standard().generate();
            if (!KeyFile::writeSecretKey(keyPath, *key, KeyFile::Format::Pem, &problem))
                return failWith(problem);
        }
        Member member;
        member.id = id;
        member.roles = roles;
        member.publicKey = key->publicKey;
        member.address = QStringLiteral("127.0.0.1:%1").arg(port++);
        members.append(member);
    }
    layout.membership = Membership(options.consortium, QuorumPolicy(), members);
    if (const QString invalid = layout.membership.validate(); !invalid.isEmpty())
        return failWith(invalid);
    layout.membershipPath = root.filePath(QStringLiteral("membership.json"));
    QFile existing(layout.membershipPath);
    if (existing.open(QIODevice::ReadOnly) && existing.readAll() != layout.membership.toJson()) {
        // Nodes that already hold a chain would refuse to start under another configuration.
        for (const auto &[id, roles] : std::as_const(plan)) {
            if (QFile::exists(root.filePath(QStringLiteral("nodes/%1/ledger.sqlite").arg(id))))
                return failWith(
                    QStringLiteral("%1: this devnet already has ledgers under its membership; the "
                                   "options given (base port %2, nodes) would change it. Use the "
                                   "same options or a new directory")
                        .arg(layout.membershipPath)
                        .arg(options.basePort));
        }
    }
    if (!writeFile(layout.membershipPath, layout.membership.toJson(), &problem))
        return failWith(problem);

    // Registries: every target knows every ticket, except the stale one.
    const QList<Ticket> tickets = SampleConsortium::tickets(options.tickets);
    const QString registry = root.filePath(QStringLiteral("registry.csv"));
    if (!QFile::exists(registry) && !TicketRegistryFile::writeCsv(registry, tickets, &problem))
        return failWith(problem);
    const QString staleRegistry = root.filePath(QStringLiteral("registry-stale.csv"));
    if (!QFile::exists(staleRegistry)) {
        QList<Ticket> stale;
        for (qsizetype i = 0; i < tickets.size(); ++i) {
            Ticket ticket = tickets.at(i);
            if (i % 25 == 7)
                continue; // never heard of it
            if (i % 10 == 3)
                ticket.faceAmountMinor += 100; // an older amount
            stale.append(ticket);
        }
        if (!TicketRegistryFile::writeCsv(staleRegistry, stale, &problem))
            return failWith(problem);
    }

    for (const Member &member : std::as_const(members)) {
        const QString nodeDir = QStringLiteral("nodes/%1").arg(member.id);
        root.mkpath(nodeDir);
        QJsonObject config{
            {QStringLiteral("format"), QStringLiteral("ticketsync-node")},
            {QStringLiteral("node_id"), member.id},
            {QStringLiteral("membership"), QStringLiteral("../../membership.json")},
            {QStringLiteral("signing_key"), QStringLiteral("../../keys/%1.key").arg(member.id)},
            {QStringLiteral("tls"),
             QJsonObject{{QStringLiteral("certificate"), QStringLiteral("../../pki/%1.pem").arg(member.id)},
                         {QStringLiteral("key"), QStringLiteral("../../pki/%1.key").arg(member.id)},
                         {QStringLiteral("ca"), QStringLiteral("../../pki/ca.pem")}}},
            {QStringLiteral("listen"), member.address},
            {QStringLiteral("database"), QStringLiteral("ledger.sqlite")},
            // A local network may run for days on a laptop: keep the journals to a few hundred MB.
            {QStringLiteral("limits"), QJsonObject{{QStringLiteral("journal_events_kept"), 1000000}}},
        };
        if (member.hasRole(Role::Target))
            config.insert(QStringLiteral("registry"), member.id == options.staleTarget
                                                          ? QStringLiteral("../../registry-stale.csv")
                                                          : QStringLiteral("../../registry.csv"));
        if (member.hasRole(Role::Coordinator))
            config.insert(QStringLiteral("coordinator"),
                          QJsonObject{{QStringLiteral("block_interval_ms"), 20},
                                      {QStringLiteral("block_max_decisions"), 500},
                                      {QStringLiteral("vote_timeout_ms"), options.voteTimeoutMs},
                                      {QStringLiteral("retry_limit"), options.retryLimit},
                                      {QStringLiteral("retry_backoff_ms"), options.retryBackoffMs}});
        DevnetNode node;
        node.id = member.id;
        node.roles = member.roles;
        node.address = member.address;
        node.configPath = root.filePath(nodeDir + QStringLiteral("/node.json"));
        node.databasePath = root.filePath(nodeDir + QStringLiteral("/ledger.sqlite"));
        if (!writeFile(node.configPath, QJsonDocument(config).toJson(), &problem))
            return failWith(problem);
        layout.nodes.append(node);
    }
    return layout;
}

} // namespace ticketsync
