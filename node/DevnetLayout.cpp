#include "DevnetLayout.h"

#include "DevnetPki.h"
#include "KeyFile.h"
#include "SampleConsortium.h"
#include "SignatureScheme.h"
#include "TicketRegistryFile.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
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

// The stores the devnet's nodes already keep, relative to root: nodes/<id>/ledger.sqlite.
QStringList existingLedgers(const QDir &root)
{
    QStringList ledgers;
    const QStringList ids =
        QDir(root.filePath(QStringLiteral("nodes"))).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    for (const QString &id : ids) {
        const QString ledger = QStringLiteral("nodes/%1/ledger.sqlite").arg(id);
        if (QFileInfo::exists(root.filePath(ledger)))
            ledgers.append(ledger);
    }
    return ledgers;
}

QString ledgerList(const QDir &root, const QStringList &ledgers)
{
    const QString first = root.filePath(ledgers.first());
    return ledgers.size() == 1 ? first : QStringLiteral("%1 and %2 more").arg(first).arg(ledgers.size() - 1);
}

QString counted(qsizetype count, const char *one, const char *many)
{
    return QStringLiteral("%1 %2").arg(count).arg(QLatin1String(count == 1 ? one : many));
}

// "consortium 'x': 1 coordinator, 2 branches, 4 targets and 3 receivers on ports 7400-7409"
QString describe(const Membership &membership)
{
    int lowest = 65536;
    int highest = -1;
    for (const Member &member : membership.members()) {
        const int port = member.address.mid(member.address.lastIndexOf(QLatin1Char(':')) + 1).toInt();
        lowest = qMin(lowest, port);
        highest = qMax(highest, port);
    }
    return QStringLiteral("consortium '%1': %2, %3, %4 and %5 on ports %6-%7")
        .arg(membership.consortiumId(),
             counted(membership.withRole(Role::Coordinator).size(), "coordinator", "coordinators"),
             counted(membership.withRole(Role::Branch).size(), "branch", "branches"),
             counted(membership.withRole(Role::Target).size(), "target", "targets"),
             counted(membership.withRole(Role::Receiver).size(), "receiver", "receivers"))
        .arg(lowest)
        .arg(highest);
}

// A devnet that keeps ledgers continues only with the files they were made with: the membership
// their blocks seal, every signing key it lists, and the CA that the certificates and the consoles'
// history caches of this devnet belong to. None of them can be made anew, so a missing or unusable
// one is an error naming it. Returns the sealed membership; reads only.
std::optional<Membership> filesTheChainNeeds(const QDir &root, const QStringList &ledgers, QString *error)
{
    const QString kept = ledgerList(root, ledgers);
    // "<file>: <problem>; <what depends on it>: restore it, or use a new directory"
    auto refuse = [&](const QString &problem, const QString &dependence,
                      bool missing) -> std::optional<Membership> {
        *error = QStringLiteral("%1; %2: %3, or use a new directory")
                     .arg(problem, dependence,
                          missing ? QStringLiteral("restore it") : QStringLiteral("mend or restore it"));
        return std::nullopt;
    };
    QString problem;
    const QString membershipPath = root.filePath(QStringLiteral("membership.json"));
    const QString sealedUnder = QStringLiteral("this devnet's ledgers (%1) are sealed under it").arg(kept);
    if (!QFileInfo::exists(membershipPath))
        return refuse(membershipPath + QStringLiteral(": missing"), sealedUnder, true);
    std::optional<Membership> membership = Membership::load(membershipPath, &problem);
    if (!membership)
        return refuse(problem, sealedUnder, false);
    for (const Member &member : membership->members()) {
        const QString keyPath = root.filePath(QStringLiteral("keys/%1.key").arg(member.id));
        const QString listed =
            QStringLiteral("this devnet's ledgers (%1) are sealed under membership.json, which lists "
                           "%2's public key")
                .arg(kept, member.id);
        if (!QFileInfo::exists(keyPath) && !QFileInfo(keyPath).isSymLink())
            return refuse(keyPath + QStringLiteral(": missing"), listed, true);
        const std::optional<KeyPair> key = KeyFile::readSecretKey(keyPath, &problem);
        if (!key)
            return refuse(problem, listed, false);
        if (key->publicKey != member.publicKey)
            return refuse(keyPath + QStringLiteral(": another key than the one membership.json lists"),
                          listed, false);
    }
    if (!DevnetPki::checkCa(root.filePath(QStringLiteral("pki")), membership->consortiumId(), &problem))
        return refuse(problem,
                      QStringLiteral("this devnet has ledgers (%1), and its certificates and the consoles' "
                                     "history caches of it belong to this CA")
                          .arg(kept),
                      problem.contains(QLatin1String(": missing")));
    return membership;
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

bool DevnetLayout::hasLedgers(const QString &dir)
{
    return !existingLedgers(QDir(dir)).isEmpty();
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
    // Absolute: the nodes run in their own directories, and a relative --config would not be found.
    const QDir root(QFileInfo(options.dir).absoluteFilePath());
    DevnetLayout layout;
    layout.dir = root.absolutePath();
    layout.membershipPath = root.filePath(QStringLiteral("membership.json"));
    QList<QPair<QString, Roles>> plan{{QStringLiteral("coordinator-1"), Roles(Role::Coordinator)}};
    for (int i = 1; i <= options.branches; ++i)
        plan.append({QStringLiteral("branch-%1").arg(i), Roles(Role::Branch)});
    for (int i = 1; i <= options.targets; ++i)
        plan.append({QStringLiteral("target-%1").arg(i), Roles(Role::Target)});
    for (int i = 1; i <= options.receivers; ++i)
        plan.append({QStringLiteral("receiver-%1").arg(i), Roles(Role::Receiver)});

    // Everything that can refuse is checked before the first write, so a refused run leaves the
    // directory as it was.
    const QStringList ledgers = existingLedgers(root);
    std::optional<Membership> sealed;
    QString problem;
    if (!ledgers.isEmpty()) {
        sealed = filesTheChainNeeds(root, ledgers, &problem);
        if (!sealed)
            return failWith(problem);
    }

    // Signing keys: drawn once from the system's random source, then reused. A key file that is
    // there but unreadable is an error, never replaced.
    QList<Member> members;
    QHash<QString, KeyPair> drawn; // written below, once nothing can refuse
    quint16 port = options.basePort;
    for (const auto &[id, roles] : std::as_const(plan)) {
        const QString keyPath = root.filePath(QStringLiteral("keys/%1.key").arg(id));
        std::optional<KeyPair> key;
        if (QFileInfo::exists(keyPath) || QFileInfo(keyPath).isSymLink()) {
            key = KeyFile::readSecretKey(keyPath, &problem);
            if (!key)
                return failWith(problem +
                                QStringLiteral("; mend or restore it, or delete it to draw a new key"));
        } else {
            key = SignatureScheme::standard().generate();
            drawn.insert(id, *key);
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
    // Nodes that already hold a chain would refuse to start under another membership.
    if (sealed && sealed->hash() != layout.membership.hash()) {
        const QString was = describe(*sealed);
        const QString given = describe(layout.membership);
        return failWith(QStringLiteral("%1: this devnet already has ledgers (%2) sealed under its "
                                       "membership, %3; the options given would change it%4. Use the "
                                       "same options or a new directory")
                            .arg(layout.membershipPath, ledgerList(root, ledgers), was,
                                 given == was ? QString() : QStringLiteral(" to %1").arg(given)));
    }

    // TLS: one CA, a certificate per node, and the console's operator and auditor.
    if (!root.mkpath(QStringLiteral("pki")) || !root.mkpath(QStringLiteral("keys")) ||
        !root.mkpath(QStringLiteral("nodes")))
        return failWith(QStringLiteral("%1: cannot create the devnet directory").arg(options.dir));
    QList<PartySpec> parties;
    for (const auto &[id, roles] : std::as_const(plan))
        parties.append({id, PartyKind::Node});
    parties.append({QStringLiteral("operator-1"), PartyKind::Operator});
    parties.append({QStringLiteral("auditor-1"), PartyKind::Auditor});
    layout.pkcs12Password = QStringLiteral("ticketsync-devnet");
    const QString pki = root.filePath(QStringLiteral("pki"));
    if (!DevnetPki::ensure(pki, options.consortium, parties, layout.pkcs12Password, &problem))
        return failWith(problem);
    layout.caPath = pki + QStringLiteral("/ca.pem");
    layout.operatorCertificate = pki + QStringLiteral("/operator-1.pem");
    layout.operatorKey = pki + QStringLiteral("/operator-1.key");
    layout.operatorPkcs12 = pki + QStringLiteral("/operator-1.p12");
    layout.auditorCertificate = pki + QStringLiteral("/auditor-1.pem");
    layout.auditorKey = pki + QStringLiteral("/auditor-1.key");
    layout.auditorPkcs12 = pki + QStringLiteral("/auditor-1.p12");

    for (auto key = drawn.cbegin(); key != drawn.cend(); ++key) {
        const QString keyPath = root.filePath(QStringLiteral("keys/%1.key").arg(key.key()));
        if (!KeyFile::writeSecretKey(keyPath, key.value(), KeyFile::Format::Pem, &problem))
            return failWith(problem);
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
