#include "Connection.h"

#include <QJsonDocument>
#include <QLoggingCategory>
#include <QSslCipher>
#include <QSslSocket>
#include <QWebSocket>

Q_LOGGING_CATEGORY(lcConnection, "ticketsync.node.transport", QtWarningMsg)

namespace ticketsync {

Connection::Connection(QWebSocket *webSocket, PeerIdentity peer, Limits limits, QObject *parent)
    : QObject(parent), socket(webSocket), identity(std::move(peer)), limits(limits)
{
    socket->setParent(this);
    socket->setMaxAllowedIncomingFrameSize(quint64(limits.maxFrameBytes));
    socket->setMaxAllowedIncomingMessageSize(quint64(limits.maxFrameBytes));
    window.start();
    // QWebSocket counts only what TLS has not encrypted yet; once encrypted, bytes wait in its
    // QSslSocket: its child when it dialled, the server's accepted socket otherwise.
    tlsSocket = socket->findChild<QSslSocket *>();
    unreadTimer.setInterval(250);
    connect(&unreadTimer, &QTimer::timeout, this, &Connection::checkUnread);
    connect(socket, &QWebSocket::textMessageReceived, this, &Connection::onText);
    connect(socket, &QWebSocket::binaryMessageReceived, this, &Connection::onBinary);
    connect(socket, &QWebSocket::disconnected, this, &Connection::disconnected);
}

Connection::~Connection() = default;

QString Connection::describe() const
{
    const QString from =
        socket ? QStringLiteral("%1:%2").arg(socket->peerAddress().toString()).arg(socket->peerPort())
               : QStringLiteral("(closed)");
    return QStringLiteral("%1 '%2' from %3").arg(partyKindName(identity.kind), identity.name, from);
}

qint64 Connection::pendingBytes() const
{
    if (!socket)
        return 0;
    return socket->bytesToWrite() + (tlsSocket ? tlsSocket->encryptedBytesToWrite() : 0);
}

void Connection::setTransport(QSslSocket *transport)
{
    if (transport)
        tlsSocket = transport;
}

void Connection::watchUnread()
{
    if (unreadTimer.isActive() || !backedUp())
        return;
    unreadSince.start();
    unreadTimer.start();
}

void Connection::checkUnread()
{
    const qint64 unread = pendingBytes();
    if (unread <= limits.maxUnreadBytes) {
        unreadTimer.stop();
        Q_EMIT drained();
        return;
    }
    if (unreadSince.elapsed() < limits.notReadingCloseMs || !socket)
        return;
    unreadTimer.stop();
    qCWarning(lcConnection) << "closing" << describe() << "after" << limits.notReadingCloseMs
                            << "ms over its unread limit:" << unread << "bytes it has not read";
    Q_EMIT closingNotReading(unread);
    // Nothing more reaches a peer that does not read, not even a close frame.
    socket->abort();
}

bool Connection::isOpen() const
{
    return socket && socket->state() == QAbstractSocket::ConnectedState;
}

QString Connection::tlsDescription() const
{
    return tls;
}

QString Connection::frameText(const QJsonObject &message)
{
    return QString::fromUtf8(QJsonDocument(message).toJson(QJsonDocument::Compact));
}

void Connection::send(const QJsonObject &message)
{
    if (isOpen()) {
        socket->sendTextMessage(frameText(message));
        watchUnread();
    }
}

void Connection::sendText(const QString &frame)
{
    if (isOpen()) {
        socket->sendTextMessage(frame);
        watchUnread();
    }
}

void Connection::sendBinary(const QByteArray &frame)
{
    if (isOpen()) {
        socket->sendBinaryMessage(frame);
        watchUnread();
    }
}

void Connection::sendError(const QString &type, const QJsonValue &requestId, const QString &error)
{
    QJsonObject reply{{QStringLiteral("type"), QStringLiteral("error")},
                      {QStringLiteral("request"), type},
                      {QStringLiteral("error"), error}};
    if (!requestId.isUndefined())
        reply.insert(QStringLiteral("id"), requestId);
    send(reply);
}

void Connection::sendError(const QString &type, qint64 requestId, const QString &error)
{
    sendError(type, requestId >= 0 ? QJsonValue(requestId) : QJsonValue(QJsonValue::Undefined), error);
}

void Connection::close(const QString &reason)
{
    if (socket && socket->state() != QAbstractSocket::UnconnectedState)
        socket->close(QWebSocketProtocol::CloseCodePolicyViolated, reason);
}

bool Connection::withinRate()
{
    if (window.elapsed() >= 1000) {
        window.restart();
        inWindow = 0;
    }
    if (++inWindow <= limits.maxMessagesPerSecond)
        return true;
    if (inWindow == limits.maxMessagesPerSecond + 1) {
        qCWarning(lcConnection) << "closing" << describe() << "after more than" << limits.maxMessagesPerSecond
                                << "messages in one second";
        sendError(QString(), -1,
                  QStringLiteral("more than %1 messages per second; closing the connection")
                      .arg(limits.maxMessagesPerSecond));
        close(QStringLiteral("message rate limit exceeded"));
    }
    return false;
}

void Connection::onText(const QString &text)
{
    ++received;
    if (!withinRate())
        return;
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(text.toUtf8(), &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject()) {
        const QString problem = parseError.error != QJsonParseError::NoError
                                    ? QStringLiteral("malformed frame: not valid JSON at offset %1: %2")
                                          .arg(parseError.offset)
                                          .arg(parseError.errorString())
                                    : QStringLiteral("malformed frame: the message must be a JSON object");
        qCInfo(lcConnection) << describe() << problem;
        sendError(QString(), -1, problem);
        return;
    }
    const QJsonObject message = document.object();
    if (!message.value(u"type").isString()) {
        sendError(QString(), message.value(u"id"),
                  QStringLiteral("malformed frame: 'type' must be a string"));
        return;
    }
    Q_EMIT messageReceived(message);
}

void Connection::onBinary(const QByteArray &data)
{
    ++received;
    if (!withinRate())
        return;
    if (identity.kind == PartyKind::Node) {
        Q_EMIT binaryReceived(data);
        return;
    }
    sendError(QString(), -1,
              QStringLiteral("binary frames are not part of the protocol; send JSON text frames"));
}

} // namespace ticketsync
