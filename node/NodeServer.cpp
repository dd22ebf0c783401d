#include "NodeServer.h"

#include <QLoggingCategory>
#include <QSslCipher>
#include <QSslServer>
#include <QSslSocket>
#include <QWebSocket>
#include <QWebSocketServer>

Q_DECLARE_LOGGING_CATEGORY(lcConnection)

namespace ticketsync {

NodeServer::NodeServer(const TlsIdentity &identity, Connection::Limits limits, QObject *parent)
    : QObject(parent), tlsServer(new QSslServer(this)),
      webSocketServer(
          new QWebSocketServer(QStringLiteral("ticketsync"), QWebSocketServer::NonSecureMode, this)),
      limits(limits)
{
    tlsServer->setSslConfiguration(identity.serverConfiguration());
    tlsServer->setHandshakeTimeout(10000);
    webSocketServer->setMaxPendingConnections(256);
    connect(tlsServer, &QSslServer::startedEncryptionHandshake, this,
            [](QSslSocket *socket) { socket->setSocketOption(QAbstractSocket::LowDelayOption, 1); });
    connect(tlsServer, &QSslServer::sslErrors, this, [](QSslSocket *socket, const QList<QSslError> &errors) {
        QStringList texts;
        for (const QSslError &error : errors)
            texts.append(error.errorString());
        qCWarning(lcConnection) << "refused TLS peer" << socket->peerAddress().toString()
                                << texts.join(u"; ");
    });
    connect(tlsServer, &QSslServer::peerVerifyError, this, [](QSslSocket *socket, const QSslError &error) {
        qCInfo(lcConnection) << "peer" << socket->peerAddress().toString()
                             << "failed verification:" << error.errorString();
    });
    connect(tlsServer, &QSslServer::errorOccurred, this,
            [](QSslSocket *socket, QAbstractSocket::SocketError) {
                qCInfo(lcConnection) << "TLS handshake with" << socket->peerAddress().toString()
                                     << "failed:" << socket->errorString();
            });
    // Not newConnection: in Qt 6.4 it fires before the handshake; this one after it, with the
    // peer verified.
    connect(tlsServer, &QSslServer::pendingConnectionAvailable, this, [this] {
        while (QTcpSocket *socket = tlsServer->nextPendingConnection())
            onEncrypted(qobject_cast<QSslSocket *>(socket));
    });
    connect(webSocketServer, &QWebSocketServer::newConnection, this, &NodeServer::onUpgraded);
}

NodeServer::~NodeServer() = default;

bool NodeServer::listen(const QHostAddress &address, quint16 port, QString *error)
{
    if (!tlsServer->listen(address, port)) {
        if (error)
            *error = QStringLiteral("cannot listen on %1:%2: %3")
                         .arg(address.toString())
                         .arg(port)
                         .arg(tlsServer->errorString());
        return false;
    }
    return true;
}

quint16 NodeServer::port() const
{
    return tlsServer->serverPort();
}

void NodeServer::close()
{
    tlsServer->close();
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
        handshaken.erase(found);
        connect(connection, &Connection::disconnected, connection, &QObject::deleteLater);
        Q_EMIT connectionOpened(connection);
    }
}

} // namespace ticketsync
