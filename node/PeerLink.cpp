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
    step = Step::TcpConnect;
    webSocket->setSslConfiguration(tls);
    connect(webSocket, &QWebSocket::connected, this, &PeerLink::onSocketConnected);
    // A refused dial may report only an error, a dropped link only a disconnect; whichever
    // comes first ends this attempt and the other is ignored. The disconnect is taken queued:
    // a refused dial's QSslSocket says it is unconnected just before it takes over its plain
    // socket's error, and read at once the error is still "Unknown error".
    auto gone = [this, webSocket] {
        if (webSocket == socket && webSocket->state() == QAbstractSocket::UnconnectedState)
            onSocketGone();
    };
    connect(webSocket, &QWebSocket::disconnected, this, gone, Qt::QueuedConnection);
    connect(webSocket, QOverload<QAbstractSocket::SocketError>::of(&QWebSocket::error), this, gone);
    connect(webSocket, &QWebSocket::sslErrors, this, [this](const QList<QSslError> &errors) {
        QStringList texts;
        for (const QSslError &error : errors)
            texts.append(error.errorString());
        attemptProblem = QStringLiteral("%1: TLS handshake: %2").arg(target, texts.join(u"; "));
    });
    webSocket->open(QUrl(QStringLiteral("wss://%1/").arg(target)));
    // The transport is the dialled WebSocket's child, made by open(); how far it gets names the
    // step that a failure or a timeout stopped at.
    if (const QSslSocket *transport = webSocket->findChild<QSslSocket *>()) {
        connect(transport, &QSslSocket::connected, this, [this, webSocket] {
            if (webSocket == socket)
                step = Step::TlsHandshake;
        });
        connect(transport, &QSslSocket::encrypted, this, [this, webSocket] {
            if (webSocket == socket)
                step = Step::WebSocketHandshake;
        });
    }
    handshakeTimer.start(limits.handshakeTimeoutMs);
}

QString PeerLink::stepName(Step step)
{
    switch (step) {
    case Step::TcpConnect:
        return QStringLiteral("TCP connect");
    case Step::TlsHandshake:
        return QStringLiteral("TLS handshake");
    case Step::WebSocketHandshake:
        return QStringLiteral("WebSocket handshake");
    }
    return {};
}

QString PeerLink::endOf(const QWebSocket *webSocket) const
{
    // The peer's close reason if it gave one, else the socket's error ("Connection refused").
    QString cause = webSocket->closeReason();
    if (cause.isEmpty() && webSocket->error() != QAbstractSocket::UnknownSocketError)
        cause = webSocket->errorString();
    if (cause.isEmpty())
        cause = QStringLiteral("connection closed");
    if (current)
        return QStringLiteral("%1: %2").arg(target, cause);
    return QStringLiteral("%1: %2: %3").arg(target, stepName(step), cause);
}

void PeerLink::onHandshakeTimedOut()
{
    QWebSocket *stuck = socket;
    if (!stuck || current)
        return;
    attemptProblem = QStringLiteral("%1: the %2 timed out after %3 ms (limits.handshake_timeout_ms)")
                         .arg(target, stepName(step))
                         .arg(limits.handshakeTimeoutMs);
    qCInfo(lcConnection) << attemptProblem;
    stuck->disconnect(this);
    stuck->abort();
    onSocketGone();
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

void PeerLink::onSocketGone()
{
    handshakeTimer.stop();
    QWebSocket *gone = socket;
    socket = nullptr;
    // What this attempt or link ran into, not what an earlier one did.
    if (!attemptProblem.isEmpty())
        problem = attemptProblem;
    else if (current && !current->abortReason().isEmpty())
        problem = QStringLiteral("%1: %2").arg(target, current->abortReason());
    else if (gone)
        problem = endOf(gone);
    else
        problem = QStringLiteral("%1: connection closed").arg(target);
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
