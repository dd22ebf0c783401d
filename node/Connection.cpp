#include "Connection.h"

#include <QJsonDocument>
#include <QLoggingCategory>
#include <QSslCipher>
#include <QSslSocket>
#include <QWebSocket>

#ifdef Q_OS_LINUX
#include <linux/sockios.h>
#include <sys/ioctl.h>
#endif

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
    hookTransport();
    unreadTimer.setInterval(250);
    connect(&unreadTimer, &QTimer::timeout, this, &Connection::checkUnread);
    connect(socket, &QWebSocket::textMessageReceived, this, &Connection::onText);
    connect(socket, &QWebSocket::binaryMessageReceived, this, &Connection::onBinary);
    connect(socket, &QWebSocket::disconnected, this, &Connection::disconnected);
    connect(socket, &QWebSocket::pong, this, [this] { heard.start(); });
    heard.start();
    lastCheck.start();
    keepaliveTimer.setInterval(limits.keepaliveIntervalMs);
    connect(&keepaliveTimer, &QTimer::timeout, this, &Connection::keepalive);
    keepaliveTimer.start();
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
    if (!transport || transport == tlsSocket)
        return;
    tlsSocket = transport;
    hookTransport();
}

void Connection::hookTransport()
{
    // QWebSocket answers each ping itself, with no signal in Qt 6.4, so the pongs it queues are
    // seen only here: after the bytes that carried the pings have been read (the check lags at
    // most one read behind when QWebSocket reads them later).
    if (!tlsSocket)
        return;
    connect(tlsSocket, &QIODevice::readyRead, this, &Connection::watchUnread);
    // Any bytes from the peer show it is there: pongs, pings, messages.
    connect(tlsSocket, &QIODevice::readyRead, this, [this] { heard.start(); });
    // So does reading what it was sent, counted here for the keepalive: a subscriber sends
    // nothing but pongs, and our pings wait behind everything queued before them.
    connect(tlsSocket, &QSslSocket::encryptedBytesWritten, this,
            [this](qint64 bytes) { sentToKernel += bytes; });
}

qint64 Connection::kernelQueued() const
{
#ifdef Q_OS_LINUX
    // Bytes in the kernel's send queue that the peer has not acknowledged: up to the socket's
    // autotuned send buffer (4 MB), which only the kernel can say how fast the peer empties.
    int queued = 0;
    if (tlsSocket && tlsSocket->socketDescriptor() >= 0 &&
        ::ioctl(int(tlsSocket->socketDescriptor()), SIOCOUTQ, &queued) == 0)
        return queued;
#endif
    return 0;
}

void Connection::keepalive()
{
    if (!aborted.isEmpty() || !socket)
        return;
    watchUnread();
    if (!aborted.isEmpty())
        return;
    // A check this late means this process stood still (stopped, or its thread busy): the
    // silence was ours, not the peer's, whose pongs may be waiting unread.
    if (lastCheck.restart() > 2 * qint64(limits.keepaliveIntervalMs))
        heard.start();
    // A peer that took some of what already waited for it at the last check is reading, however
    // slowly: its pongs queue behind those bytes. Only bytes waiting then count, so a ping the
    // kernel of a stopped or cut-off peer takes into an empty buffer proves nothing.
    const qint64 kernel = kernelQueued();
    const qint64 taken = sentToKernel - kernel;
    if (waitingAtCheck > 0 && taken > takenAtCheck)
        heard.start();
    waitingAtCheck = pendingBytes() + kernel;
    takenAtCheck = taken;
    // Silent: nothing came from it and nothing waiting for it moved. A peer over its unread
    // limit is the unread watchdog's: closed after notReadingCloseMs and counted as such.
    if (heard.elapsed() > limits.keepaliveTimeoutMs && !unreadTimer.isActive()) {
        const QString silent = QStringLiteral("nothing heard from it for %1 ms, not even a pong to the pings "
                                              "sent every %2 ms (limits.keepalive_timeout_ms)")
                                   .arg(heard.elapsed())
                                   .arg(limits.keepaliveIntervalMs);
        // Bytes still waiting here mean the peer's TCP window is shut: our pings never reached
        // it because it does not read, which is how a stopped process or a stuck client looks
        // from this side even below its unread limit.
        if (const qint64 unread = pendingBytes(); unread > 0)
            closeNotReading(unread,
                            QStringLiteral("%1, and %2 bytes queued for it unread").arg(silent).arg(unread));
        else
            abortWith(silent);
        return;
    }
    socket->ping();
}

void Connection::abortWith(const QString &why)
{
    if (!aborted.isEmpty() || !socket)
        return;
    aborted = why;
    unreadTimer.stop();
    keepaliveTimer.stop();
    qCWarning(lcConnection).noquote() << QStringLiteral("closing %1: %2").arg(describe(), why);
    // Nothing more reaches a peer that does not read or answer, not even a close frame.
    socket->abort();
}

void Connection::watchUnread()
{
    if (!aborted.isEmpty() || !socket)
        return;
    const qint64 unread = pendingBytes();
    if (unread > unreadCeiling()) {
        closeNotReading(unread, QStringLiteral("%1 bytes queued for it and not read, more than %2 (%3 times "
                                               "limits.max_unread_bytes and one largest message)")
                                    .arg(unread)
                                    .arg(unreadCeiling())
                                    .arg(kUnreadCeilingFactor));
        return;
    }
    if (unreadTimer.isActive() || unread <= limits.maxUnreadBytes)
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
    if (unread > unreadCeiling()) {
        watchUnread();
        return;
    }
    if (unreadSince.elapsed() < limits.notReadingCloseMs || !socket)
        return;
    closeNotReading(unread, QStringLiteral("after %1 ms over its unread limit, %2 bytes it has not read")
                                .arg(limits.notReadingCloseMs)
                                .arg(unread));
}

void Connection::closeNotReading(qint64 unread, const QString &why)
{
    if (!aborted.isEmpty() || !socket)
        return;
    Q_EMIT closingNotReading(unread);
    abortWith(why);
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
    // Counts text and binary messages only. Pings never get here: QWebSocket answers them itself
    // and Qt 6.4 has no signal for a received ping, so a ping flood is bounded by the bytes its
    // pongs leave unread instead (watchUnread, unreadCeiling).

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
