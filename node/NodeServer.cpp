#include "NodeServer.h"

#include <QLoggingCategory>
#include <QSslCipher>
#include <QSslSocket>
#include <QTcpServer>
#include <QTimer>
#include <QWebSocket>
#include <QWebSocketServer>
#include <functional>
#include <unistd.h>

Q_DECLARE_LOGGING_CATEGORY(lcConnection)

namespace ticketsync {

namespace {

// Hands each accepted descriptor to the NodeServer, which makes it a QSslSocket itself; nothing
// is ever added to QTcpServer's pending list, so its maxPendingConnections never pauses accepting.
class TlsListener final : public QTcpServer
{
public:
    TlsListener(std::function<void(qintptr)> incoming, QObject *parent)
        : QTcpServer(parent), incoming(std::move(incoming))
    {}

protected:
    void incomingConnection(qintptr descriptor) override { incoming(descriptor); }

private:
    std::function<void(qintptr)> incoming;
};

// What the per-address limit counts by: the IPv4 address, or the /64 of an IPv6 one, which one
// host usually has whole.
QHostAddress addressKey(const QHostAddress &address)
{
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    if (isV4)
        return QHostAddress(v4);
    Q_IPV6ADDR v6 = address.toIPv6Address();
    for (int i = 8; i < 16; ++i)
        v6[i] = 0;
    return QHostAddress(v6);
}

} // namespace

NodeServer::NodeServer(const TlsIdentity &identity, Connection::Limits limits, QObject *parent)
    : QObject(parent),
      tcpServer(new TlsListener([this](qintptr descriptor) { onIncoming(descriptor); }, this)),
      webSocketServer(
          new QWebSocketServer(QStringLiteral("ticketsync"), QWebSocketServer::NonSecureMode, this)),
      tlsConfiguration(identity.serverConfiguration()), limits(limits)
{
    webSocketServer->setMaxPendingConnections(256);
    connect(webSocketServer, &QWebSocketServer::newConnection, this, &NodeServer::onUpgraded);
}

NodeServer::~NodeServer() = default;

bool NodeServer::listen(const QHostAddress &address, quint16 port, QString *error)
{
    if (!tcpServer->listen(address, port)) {
        if (error)
            *error = QStringLiteral("cannot listen on %1:%2: %3")
                         .arg(address.toString())
                         .arg(port)
                         .arg(tcpServer->errorString());
        return false;
    }
    return true;
}

quint16 NodeServer::port() const
{
    return tcpServer->serverPort();
}

void NodeServer::close()
{
    tcpServer->close();
}

void NodeServer::onIncoming(qintptr descriptor)
{
    auto *socket = new QSslSocket(this);
    if (!socket->setSocketDescriptor(descriptor)) {
        qCWarning(lcConnection) << "cannot take an accepted connection:" << socket->errorString();
        delete socket;
        ::close(int(descriptor));
        return;
    }
    const QHostAddress from = addressKey(socket->peerAddress());
    const int fromThere = handshakingFrom.value(from);
    if (handshaking.size() >= limits.maxPendingHandshakes ||
        fromThere >= limits.maxPendingHandshakesPerAddress) {
        // Closed rather than left to wait: a slot frees within handshakeTimeoutMs, and a client
        // that dials again then gets it, while the listener keeps taking everyone else. One line
        // per 10 s at most, so that a flood does not fill the log.
        if (refusalLogged.isValid() && refusalLogged.elapsed() < 10000) {
            ++refusedSinceLog;
        } else {
            qCWarning(lcConnection).noquote()
                << QStringLiteral("closing a new connection from %1 at once: %2 handshakes pending from it "
                                  "(limits.max_pending_handshakes_per_address %3), %4 in all "
                                  "(limits.max_pending_handshakes %5)%6")
                       .arg(socket->peerAddress().toString())
                       .arg(fromThere)
                       .arg(limits.maxPendingHandshakesPerAddress)
                       .arg(handshaking.size())
                       .arg(limits.maxPendingHandshakes)
                       .arg(refusedSinceLog > 0 ? QStringLiteral("; %1 more closed since the last such line")
                                                      .arg(refusedSinceLog)
                                                : QString());
            refusalLogged.start();
            refusedSinceLog = 0;
        }
        socket->abort();
        delete socket;
        return;
    }
    auto *deadline = new QTimer(this);
    deadline->setSingleShot(true);
    connect(deadline, &QTimer::timeout, socket, [this, socket] { onHandshakeTimedOut(socket); });
    handshaking.insert(socket, {from, deadline});
    handshakingFrom[from] = fromThere + 1;
    connect(socket, &QObject::destroyed, this, [this, socket] { release(socket); });

    socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    socket->setSslConfiguration(tlsConfiguration);
    connect(socket, &QSslSocket::sslErrors, this, [socket](const QList<QSslError> &errors) {
        QStringList texts;
        for (const QSslError &error : errors)
            texts.append(error.errorString());
        qCWarning(lcConnection) << "refused TLS peer" << socket->peerAddress().toString()
                                << texts.join(u"; ");
    });
    connect(socket, &QSslSocket::peerVerifyError, this, [socket](const QSslError &error) {
        qCInfo(lcConnection) << "peer" << socket->peerAddress().toString()
                             << "failed verification:" << error.errorString();
    });
    // Before encryption a failed or closed socket is this server's to delete; after it, the
    // QWebSocketServer deletes it on its disconnect.
    connect(socket, &QAbstractSocket::errorOccurred, this, [socket](QAbstractSocket::SocketError) {
        if (socket->isEncrypted())
            return;
        qCInfo(lcConnection) << "TLS handshake with" << socket->peerAddress().toString()
                             << "failed:" << socket->errorString();
        socket->deleteLater();
    });
    connect(socket, &QAbstractSocket::disconnected, this, [socket] {
        if (!socket->isEncrypted())
            socket->deleteLater();
    });
    connect(socket, &QSslSocket::encrypted, this, [this, socket] { onEncrypted(socket); });
    deadline->start(limits.handshakeTimeoutMs);
    socket->startServerEncryption();
}

void NodeServer::onHandshakeTimedOut(QSslSocket *socket)
{
    qCInfo(lcConnection).noquote() << QStringLiteral("closing %1:%2: no %3 handshake within %4 ms")
                                          .arg(socket->peerAddress().toString())
                                          .arg(socket->peerPort())
                                          .arg(socket->isEncrypted() ? QStringLiteral("WebSocket")
                                                                     : QStringLiteral("TLS"))
                                          .arg(limits.handshakeTimeoutMs);
    socket->abort();
    socket->deleteLater();
}

void NodeServer::release(QSslSocket *socket)
{
    const auto found = handshaking.constFind(socket);
    if (found == handshaking.cend())
        return;
    const QHostAddress from = found->from;
    found->deadline->stop();
    found->deadline->deleteLater();
    handshaking.erase(found);
    if (--handshakingFrom[from] <= 0)
        handshakingFrom.remove(from);
}

void NodeServer::onEncrypted(QSslSocket *socket)
{
    if (!socket)
        return;
    QString problem;
    const std::optional<PeerIdentity> peer = peerIdentityOf(socket->peerCertificate(), &problem);
    if (!peer) {
        qCWarning(lcConnection) << "refused" << socket->peerAddress().toString() << problem;
        socket->disconnectFromHost();
        socket->deleteLater();
        return;
    }
    const QString tls = QStringLiteral("%1, %2").arg(
        socket->sessionProtocol() == QSsl::TlsV1_3 ? QStringLiteral("TLS 1.3") : QStringLiteral("TLS 1.2"),
        socket->sessionCipher().name());
    const QString key = QStringLiteral("%1:%2").arg(socket->peerAddress().toString()).arg(socket->peerPort());
    handshaken.insert(key, {*peer, tls, socket});
    connect(socket, &QObject::destroyed, this, [this, key] { handshaken.remove(key); });
    webSocketServer->handleConnection(socket);
}

} // namespace ticketsync

namespace ticketsync {

void NodeServer::onUpgraded()
{
    while (QWebSocket *webSocket = webSocketServer->nextPendingConnection()) {
        const QString key =
            QStringLiteral("%1:%2").arg(webSocket->peerAddress().toString()).arg(webSocket->peerPort());
        const auto found = handshaken.constFind(key);
        if (found == handshaken.cend()) {
            // Cannot happen for sockets we handed over; refuse rather than serve unauthenticated.
            webSocket->abort();
            webSocket->deleteLater();
            continue;
        }
        auto *connection = new Connection(webSocket, found->peer, limits, this);
        connection->setTlsDescription(found->tls);
        connection->setTransport(found->socket);
        qCInfo(lcConnection) << "accepted" << connection->describe() << found->tls;
        release(found->socket.data());
        handshaken.erase(found);
        connect(connection, &Connection::disconnected, connection, &QObject::deleteLater);
        Q_EMIT connectionOpened(connection);
    }
}

} // namespace ticketsync
