#include "PeerLink.h"

#include <QLoggingCategory>
#include <QRandomGenerator>
#include <QSslCipher>
#include <QSslSocket>
#include <QUrl>
#include <QWebSocket>

Q_DECLARE_LOGGING_CATEGORY(lcConnection)

namespace ticketsync {

PeerLink::PeerLink(const TlsIdentity &identity, QString address, QString expectedNodeId,
                   Connection::Limits limits, QObject *parent)
    : QObject(parent), tls(identity.clientConfiguration()), target(std::move(address)),
      expected(std::move(expectedNodeId)), limits(limits)
{
    retryTimer.setSingleShot(true);
    connect(&retryTimer, &QTimer::timeout, this, &PeerLink::dial);
    handshakeTimer.setSingleShot(true);
    connect(&handshakeTimer, &QTimer::timeout, this, &PeerLink::onHandshakeTimedOut);
}

PeerLink::~PeerLink()
{
    running = false;
    if (socket)
        socket->disconnect(this);
}

void PeerLink::setBackoff(int initialMs, int maximumMs)
{
    initialBackoffMs = qMax(1, initialMs);
    maximumBackoffMs = qMax(initialBackoffMs, maximumMs);
    backoffMs = initialBackoffMs;
}

void PeerLink::start()
{
    if (running)
        return;
    running = true;
    backoffMs = initialBackoffMs;
    dial();
}

void PeerLink::stop()
{
    running = false;
    retryTimer.stop();
    handshakeTimer.stop();
    if (current) {
        current->disconnect(this);
        current->deleteLater();
        current = nullptr;
    }
    if (socket) {
        socket->disconnect(this);
        socket->close();
        socket->deleteLater();
        socket = nullptr;
    }
}

void PeerLink::dial()
{
    if (!running)
        return;
    auto *webSocket = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    socket = webSocket;
    attemptProblem.clear();
    webSocket->setSslConfiguration(tls);
    connect(webSocket, &QWebSocket::connected, this, &PeerLink::onSocketConnected);
    // A refused dial may report only an error, a dropped link only a disconnect; whichever
    // comes first ends this attempt and the other is ignored.
    auto gone = [this, webSocket] {
        if (webSocket == socket && webSocket->state() == QAbstractSocket::UnconnectedState)
            onSocketGone(webSocket->closeReason().isEmpty() ? webSocket->errorString()
                                                            : webSocket->closeReason());
    };
    connect(webSocket, &QWebSocket::disconnected, this, gone);
    connect(webSocket, QOverload<QAbstractSocket::SocketError>::of(&QWebSocket::error), this, gone);
    connect(webSocket, &QWebSocket::sslErrors, this, [this](const QList<QSslError> &errors) {
        QStringList texts;
        for (const QSslError &error : errors)
            texts.append(error.errorString());
        attemptProblem = QStringLiteral("TLS: %1").arg(texts.join(u"; "));
    });
    webSocket->open(QUrl(QStringLiteral("wss://%1/").arg(target)));
    handshakeTimer.start(limits.handshakeTimeoutMs);
}

void PeerLink::onHandshakeTimedOut()
{
    QWebSocket *stuck = socket;
    if (!stuck || current)
        return;
    // The dialled WebSocket's transport is its child; how far it got names what hung.
    const QSslSocket *transport = stuck->findChild<QSslSocket *>();
    const QString stage = !transport || transport->state() != QAbstractSocket::ConnectedState
                              ? QStringLiteral("TCP connect")
                          : !transport->isEncrypted() ? QStringLiteral("TLS handshake")
                                                      : QStringLiteral("WebSocket handshake");
    attemptProblem = QStringLiteral("%1: the %2 timed out after %3 ms (limits.handshake_timeout_ms)")
                         .arg(target, stage)
                         .arg(limits.handshakeTimeoutMs);
    qCInfo(lcConnection) << attemptProblem;
    stuck->disconnect(this);
    stuck->abort();
    onSocketGone(QString());
}

void PeerLink::onSocketConnected()
{
    handshakeTimer.stop();
    QString why;
    const std::optional<PeerIdentity> peer =
        peerIdentityOf(socket->sslConfiguration().peerCertificate(), &why);
    if (!peer || peer->kind != PartyKind::Node || peer->name != expected) {
        attemptProblem = peer ? QStringLiteral("%1 presented the certificate of '%2', not of '%3'")
                                    .arg(target, peer->name, expected)
                              : QStringLiteral("%1: %2").arg(target, why);
        qCWarning(lcConnection) << attemptProblem;
        socket->abort();
        return;
    }
    backoffMs = initialBackoffMs;
    problem.clear();
    auto *connection = new Connection(socket, *peer, limits, this);
    const QSslConfiguration session = socket->sslConfiguration();
    connection->setTlsDescription(QStringLiteral("%1, %2").arg(
        session.sessionProtocol() == QSsl::TlsV1_3 ? QStringLiteral("TLS 1.3") : QStringLiteral("TLS 1.2"),
        session.sessionCipher().name()));
    current = connection;
    qCInfo(lcConnection) << "connected to" << expected << "at" << target;
    Q_EMIT connected(connection);
}

void PeerLink::onSocketGone(const QString &reason)
{
    handshakeTimer.stop();
    QWebSocket *gone = socket;
    socket = nullptr;
    // What this attempt or link ran into, not what an earlier one did.
    if (!attemptProblem.isEmpty())
        problem = attemptProblem;
    else if (current && !current->abortReason().isEmpty())
        problem = QStringLiteral("%1: %2").arg(target, current->abortReason());
    else
        problem = reason.isEmpty() ? QStringLiteral("%1: connection closed").arg(target) : reason;
    if (current) {
        current->deleteLater(); // owns the socket
        current = nullptr;
    } else if (gone) {
        gone->deleteLater();
    }
    Q_EMIT disconnected(problem);
    scheduleRetry();
}

void PeerLink::scheduleRetry()
{
    if (!running)
        return;
    const int jitter = int(QRandomGenerator::global()->bounded(backoffMs / 4 + 1));
    retryTimer.start(backoffMs + jitter);
    backoffMs = qMin(maximumBackoffMs, backoffMs * 2);
}

} // namespace ticketsync
