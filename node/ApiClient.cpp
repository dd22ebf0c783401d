#include "ApiClient.h"

#include "Connection.h"
#include "PeerLink.h"

#include <QJsonArray>

namespace ticketsync {

ApiClient::ApiClient(const TlsIdentity &identity, QString address, QString nodeId, QObject *parent)
    : QObject(parent), link(new PeerLink(identity, std::move(address), nodeId, Connection::Limits{}, this)),
      node(std::move(nodeId))
{
    connect(link, &PeerLink::connected, this, &ApiClient::onLink);
    connect(link, &PeerLink::disconnected, this, [this](const QString &reason) {
        greeting = {};
        failPending(reason);
        Q_EMIT disconnected(reason);
    });
}

ApiClient::~ApiClient() = default;

void ApiClient::start()
{
    link->start();
}

void ApiClient::stop()
{
    link->stop();
    failPending(QStringLiteral("the client stopped"));
}

void ApiClient::setBackoff(int initialMs, int maximumMs)
{
    link->setBackoff(initialMs, maximumMs);
}

bool ApiClient::isConnected() const
{
    return link->connection() != nullptr && !greeting.isEmpty();
}

bool ApiClient::isLinkUp() const
{
    return link->connection() != nullptr;
}

QString ApiClient::lastError() const
{
    return link->lastError();
}

qint64 ApiClient::request(QJsonObject message, ReplyHandler handler)
{
    Connection *connection = link->connection();
    if (!connection)
        return -1;
    const qint64 id = nextId++;
    message.insert(QStringLiteral("id"), id);
    if (handler)
        pending.insert(id, std::move(handler));
    connection->send(message);
    return id;
}

void ApiClient::subscribe(qint64 fromSeq, const QStringList &kinds)
{
    subscribed = true;
    subscribedKinds = kinds;
    seenSeq = qMax<qint64>(0, fromSeq - 1);
    if (link->connection())
        sendSubscribe();
}

void ApiClient::sendSubscribe()
{
    // Frames of an earlier subscription may still be on their way; the node answers this one
    // before it sends any event of it, so everything until that answer is dropped.
    const qint64 id = nextId; // the id request() gives it
    const qint64 sent = request(subscribeRequest(seenSeq + 1), [this, id](const QJsonObject &) {
        if (awaitedSubscription == id)
            awaitedSubscription = 0;
    });
    awaitedSubscription = qMax<qint64>(0, sent);
}

QJsonObject ApiClient::subscribeRequest(qint64 fromSeq) const
{
    QJsonObject message{{QStringLiteral("type"), QStringLiteral("subscribe")},
                        {QStringLiteral("from_seq"), fromSeq}};
    if (!subscribedKinds.isEmpty())
        message.insert(QStringLiteral("kinds"), QJsonArray::fromStringList(subscribedKinds));
    return message;
}

void ApiClient::onLink(Connection *connection)
{
    connect(connection, &Connection::messageReceived, this, &ApiClient::onMessage);
    request({{QStringLiteral("type"), QStringLiteral("hello")}}, [this](const QJsonObject &reply) {
        if (reply.value(u"type").toString() != QLatin1String("welcome"))
            return;
        greeting = reply;
        if (subscribed) {
            const qint64 nodeLastSeq = reply.value(u"last_seq").toInteger(-1);
            if (nodeLastSeq >= 0 && nodeLastSeq < seenSeq)
                Q_EMIT journalBehind(seenSeq, nodeLastSeq);
            sendSubscribe();
        }
        Q_EMIT connected(greeting);
    });
}

void ApiClient::onMessage(const QJsonObject &message)
{
    const QString type = message.value(u"type").toString();
    if (awaitedSubscription != 0 && (type == QLatin1String("event") || type == QLatin1String("gap")))
        return; // sent for the subscription this one replaced
    if (type == QLatin1String("event")) {
        const qint64 seq = message.value(u"seq").toInteger(0);
        if (seq <= seenSeq)
            return; // already seen before a reconnect
        // A filtered stream skips seq numbers by design; the node names real gaps in gap frames.
        if (subscribedKinds.isEmpty() && seenSeq > 0 && seq > seenSeq + 1)
            Q_EMIT gap(seenSeq + 1, seq - 1);
        seenSeq = seq;
        Q_EMIT eventReceived(message);
        return;
    }
    if (type == QLatin1String("gap")) {
        const qint64 to = message.value(u"to_seq").toInteger(0);
        if (to > seenSeq) {
            // As for a jump in seq: only a resumed stream misses something it had asked for.
            if (seenSeq > 0)
                Q_EMIT gap(qMax(seenSeq + 1, message.value(u"from_seq").toInteger(0)), to);
            seenSeq = to;
        }
        return;
    }
    const qint64 id = message.value(u"id").toInteger(-1);
    if (ReplyHandler handler = pending.take(id))
        handler(message);
}

void ApiClient::failPending(const QString &reason)
{
    const QHash<qint64, ReplyHandler> failed = std::exchange(pending, {});
    for (auto it = failed.cbegin(); it != failed.cend(); ++it) {
        if (it.value())
            it.value()({{QStringLiteral("type"), QStringLiteral("error")},
                        {QStringLiteral("id"), it.key()},
                        {QStringLiteral("error"), QStringLiteral("connection lost: %1").arg(reason)}});
    }
}

} // namespace ticketsync
