#include "ConsoleSession.h"

#include "ApiClient.h"
#include "Membership.h"
#include "TlsIdentity.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QLoggingCategory>
#include <QSslCertificate>
#include <QTimer>

#include <algorithm>

Q_LOGGING_CATEGORY(lcSession, "ticketsync.ui.session", QtInfoMsg)

namespace ticketsync {

// Lives on the network thread: the ApiClients, the event batching and the status polling.
class SessionWorker : public QObject
{
    Q_OBJECT

public:
    SessionWorker(TlsIdentity identity, SessionProfile profile, qint64 resumeFrom)
        : identity(std::move(identity)), profile(std::move(profile)), resumeFrom(resumeFrom)
    {}

    void start()
    {
        for (const SessionProfile::Node &node : profile.nodes) {
            auto *client = new ApiClient(identity, node.address, node.id, this);
            client->setBackoff(200, 5000);
            clients.insert(node.id, client);
            NodeLinkState &state = states[node.id];
            state.nodeId = node.id;
            state.address = node.address;
            connect(client, &ApiClient::connected, this, [this, id = node.id](const QJsonObject &welcome) {
                NodeLinkState &state = states[id];
                state.connected = true;
                state.tls = welcome.value(u"tls").toString();
                state.role = welcome.value(u"client_role").toString();
                state.client = welcome.value(u"client").toString();
                state.height = quint64(welcome.value(u"height").toInteger());
                state.lastError.clear();
                state.lastContactMs = QDateTime::currentMSecsSinceEpoch();
                Q_EMIT linkChanged(state);
                poll(id);
            });
            connect(client, &ApiClient::disconnected, this, [this, id = node.id](const QString &reason) {
                NodeLinkState &state = states[id];
                state.connected = false;
                state.lastError = reason;
                Q_EMIT linkChanged(state);
            });
            if (node.id == profile.eventSource) {
                connect(client, &ApiClient::eventReceived, this,
                        [this, id = node.id](const QJsonObject &event) {
                            pending.append(event);
                            states[id].lastSeq = event.value(u"seq").toInteger();
                            states[id].lastContactMs = QDateTime::currentMSecsSinceEpoch();
                            if (pending.size() >= 5000)
                                flushEvents();
                        });
                connect(client, &ApiClient::gap, this,
                        [this, id = node.id](qint64 from, qint64 to) { Q_EMIT gapDetected(id, from, to); });
                connect(
                    client, &ApiClient::journalBehind, this,
                    [this, id = node.id](qint64 seen, qint64 last) { Q_EMIT journalBehind(id, seen, last); });
                client->subscribe(resumeFrom);
            }
            client->start();
        }
        // Events reach the GUI at most every 50 ms, so a burst costs one model update.
        connect(&batchTimer, &QTimer::timeout, this, &SessionWorker::flushEvents);
        batchTimer.start(50);
        connect(&pollTimer, &QTimer::timeout, this, [this] {
            for (auto it = clients.cbegin(); it != clients.cend(); ++it)
                poll(it.key());
        });
        pollTimer.start(2000);
    }

    void stop()
    {
        batchTimer.stop();
        pollTimer.stop();
        flushEvents();
        for (ApiClient *client : std::as_const(clients))
            client->stop();
    }

    void resume(const QString &nodeId, qint64 fromSeq)
    {
        ApiClient *client = clients.value(nodeId);
        if (!client || nodeId != profile.eventSource)
            return;
        pending.clear(); // fetched again with the rest
        client->subscribe(fromSeq);
    }

    void request(const QString &nodeId, qint64 ticket, const QJsonObject &message)
    {
        ApiClient *client = clients.value(nodeId);
        const qint64 sent =
            client ? client->request(
                         message, [this, ticket](const QJsonObject &reply) { Q_EMIT replied(ticket, reply); })
                   : -1;
        if (sent < 0)
            Q_EMIT replied(ticket, {{QStringLiteral("type"), QStringLiteral("error")},
                                    {QStringLiteral("error"),
                                     client ? tr("not connected to %1: %2").arg(nodeId, client->lastError())
                                            : tr("'%1' is not in this console's profile").arg(nodeId)}});
    }

Q_SIGNALS:
    void eventsReceived(const QString &nodeId, const QList<QJsonObject> &events);
    void linkChanged(const ticketsync::NodeLinkState &state);
    void gapDetected(const QString &nodeId, qint64 fromSeq, qint64 toSeq);
    void journalBehind(const QString &nodeId, qint64 seenSeq, qint64 nodeLastSeq);
    void replied(qint64 ticket, const QJsonObject &reply);

private:
    void flushEvents()
    {
        if (pending.isEmpty())
            return;
        Q_EMIT eventsReceived(profile.eventSource, std::exchange(pending, {}));
        Q_EMIT linkChanged(states.value(profile.eventSource));
    }

    void poll(const QString &nodeId)
    {
        ApiClient *client = clients.value(nodeId);
        if (!client || !client->isConnected())
            return;
        client->request({{QStringLiteral("type"), QStringLiteral("status")}},
                        [this, nodeId](const QJsonObject &reply) {
                            if (reply.value(u"type").toString() != QLatin1String("status"))
                                return;
                            NodeLinkState &state = states[nodeId];
                            state.status = reply;
                            state.height = quint64(reply.value(u"height").toInteger());
                            state.lastContactMs = QDateTime::currentMSecsSinceEpoch();
                            Q_EMIT linkChanged(state);
                        });
    }

    TlsIdentity identity;
    SessionProfile profile;
    qint64 resumeFrom;
    QHash<QString, ApiClient *> clients;
    QHash<QString, NodeLinkState> states;
    QList<QJsonObject> pending;
    // Parented, so they move to the network thread with the worker.
    QTimer batchTimer{this};
    QTimer pollTimer{this};
};

std::optional<SessionProfile> SessionProfile::fromMembership(const QString &membershipPath, QString *error)
{
    const std::optional<Membership> membership = Membership::load(membershipPath, error);
    if (!membership)
        return std::nullopt;
    SessionProfile profile;
    profile.membershipPath = membershipPath;
    for (const Member &member : membership->members()) {
        profile.nodes.append({member.id, member.address, roleNames(member.roles)});
        if (profile.eventSource.isEmpty() && member.hasRole(Role::Coordinator))
            profile.eventSource = member.id;
    }
    return profile;
}

std::optional<SessionProfile> SessionProfile::fromDevnet(const QString &dir, bool auditor, QString *error)
{
    const QDir devnet(dir);
    std::optional<SessionProfile> profile =
        fromMembership(devnet.filePath(QStringLiteral("membership.json")), error);
    if (!profile)
        return std::nullopt;
    const QString who = auditor ? QStringLiteral("auditor-1") : QStringLiteral("operator-1");
    profile->certificatePath = devnet.filePath(QStringLiteral("pki/%1.pem").arg(who));
    profile->keyPath = devnet.filePath(QStringLiteral("pki/%1.key").arg(who));
    profile->caPath = devnet.filePath(QStringLiteral("pki/ca.pem"));
    return profile;
}

std::optional<NetworkIdentity> SessionProfile::network(QString *error) const
{
    QFile file(caPath);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QObject::tr("cannot read the CA certificate %1: %2").arg(caPath, file.errorString());
        return std::nullopt;
    }
    const QList<QSslCertificate> certificates = QSslCertificate::fromData(file.readAll(), QSsl::Pem);
    if (certificates.isEmpty()) {
        *error = QObject::tr("%1 holds no PEM certificate, so it cannot be the consortium CA").arg(caPath);
        return std::nullopt;
    }
    QList<QByteArray> fingerprints;
    for (const QSslCertificate &certificate : certificates)
        fingerprints.append(certificate.digest(QCryptographicHash::Sha256));
    std::sort(fingerprints.begin(), fingerprints.end());
    NetworkIdentity identity;
    identity.caSha256 = QString::fromLatin1(
        (fingerprints.size() == 1 ? fingerprints.front()
                                  : QCryptographicHash::hash(fingerprints.join(), QCryptographicHash::Sha256))
            .toHex());
    return identity;
}

ConsoleSession::ConsoleSession(QObject *parent) : QObject(parent)
{
    qRegisterMetaType<NodeLinkState>();
    qRegisterMetaType<QList<QJsonObject>>();
}

ConsoleSession::~ConsoleSession()
{
    stop();
}

bool ConsoleSession::isPkcs12(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return false;
    const QByteArray head = file.read(64);
    return !head.contains("-----BEGIN") && !head.isEmpty() && uchar(head.at(0)) == 0x30; // DER SEQUENCE
}

SessionFiles SessionFiles::load(const SessionProfile &profile)
{
    SessionFiles files;
    files.identity = profile.keyPath.isEmpty()
                         ? TlsIdentity::loadPkcs12(profile.certificatePath, profile.pkcs12Password,
                                                   profile.caPath, &files.identityError)
                         : TlsIdentity::load(profile.certificatePath, profile.keyPath, profile.caPath,
                                             &files.identityError);
    if (!profile.membershipPath.isEmpty()) {
        if (std::optional<Membership> loaded =
                Membership::load(profile.membershipPath, &files.membershipError))
            files.membership = std::make_shared<const Membership>(std::move(*loaded));
    }
    return files;
}

void ConsoleSession::start(const SessionProfile &profile, const TlsIdentity &identity, qint64 resumeFrom)
{
    stop();
    current = profile;
    states.clear();
    for (const SessionProfile::Node &node : profile.nodes) {
        NodeLinkState state;
        state.nodeId = node.id;
        state.address = node.address;
        states.insert(node.id, state);
    }
    worker = new SessionWorker(identity, profile, resumeFrom);
    worker->moveToThread(&networkThread);
    connect(&networkThread, &QThread::finished, worker, &QObject::deleteLater);
    connect(worker, &SessionWorker::eventsReceived, this, &ConsoleSession::eventsReceived);
    connect(worker, &SessionWorker::gapDetected, this, &ConsoleSession::gapDetected);
    connect(worker, &SessionWorker::journalBehind, this, &ConsoleSession::journalBehind);
    connect(worker, &SessionWorker::linkChanged, this, &ConsoleSession::onLink);
    connect(worker, &SessionWorker::replied, this, &ConsoleSession::onReply);
    networkThread.setObjectName(QStringLiteral("console-network"));
    networkThread.start();
    QMetaObject::invokeMethod(worker, &SessionWorker::start, Qt::QueuedConnection);
    qCInfo(lcSession) << "connecting to" << profile.nodes.size() << "nodes; events from"
                      << profile.eventSource << "from seq" << resumeFrom;
}

void ConsoleSession::stop()
{
    if (!worker)
        return;
    QMetaObject::invokeMethod(worker, &SessionWorker::stop, Qt::BlockingQueuedConnection);
    networkThread.quit();
    networkThread.wait();
    worker = nullptr;
    const QHash<qint64, ReplyHandler> failed = std::exchange(handlers, {});
    for (const ReplyHandler &handler : failed)
        handler({{QStringLiteral("type"), QStringLiteral("error")},
                 {QStringLiteral("error"), tr("the console disconnected")}});
}

QString ConsoleSession::role() const
{
    return states.value(current.eventSource).role;
}

void ConsoleSession::resume(const QString &nodeId, qint64 fromSeq)
{
    if (!worker)
        return;
    qCInfo(lcSession) << "events from" << nodeId << "fetched again from seq" << fromSeq;
    QMetaObject::invokeMethod(
        worker, [worker = worker, nodeId, fromSeq] { worker->resume(nodeId, fromSeq); },
        Qt::QueuedConnection);
}

void ConsoleSession::request(const QString &nodeId, const QJsonObject &message, ReplyHandler handler)
{
    if (!worker) {
        handler({{QStringLiteral("type"), QStringLiteral("error")},
                 {QStringLiteral("error"), tr("not connected")}});
        return;
    }
    const qint64 ticket = nextTicket++;
    handlers.insert(ticket, std::move(handler));
    QMetaObject::invokeMethod(
        worker, [worker = worker, nodeId, ticket, message] { worker->request(nodeId, ticket, message); },
        Qt::QueuedConnection);
}

void ConsoleSession::onReply(qint64 ticket, const QJsonObject &reply)
{
    if (ReplyHandler handler = handlers.take(ticket))
        handler(reply);
}

void ConsoleSession::onLink(const NodeLinkState &state)
{
    states.insert(state.nodeId, state);
    Q_EMIT linkChanged(state);
}

} // namespace ticketsync

#include "ConsoleSession.moc"
