#pragma once

#include "Connection.h"
#include "TlsIdentity.h"

#include <QHash>
#include <QHostAddress>
#include <QObject>
#include <QPointer>

class QSslServer;
class QSslSocket;
class QWebSocketServer;

namespace ticketsync {

// The TLS WebSocket listener. TLS is terminated by a QSslServer with TCP_NODELAY set on each
// socket (Qt 6.4's secure QWebSocketServer otherwise takes ~44 ms per TLS 1.3 handshake, see
// shared/PLATFORM.md), then the socket is handed to a plain QWebSocketServer. Mutual TLS
// against the consortium CA: a peer without a valid certificate never gets a Connection.
class NodeServer : public QObject
{
    Q_OBJECT

public:
    NodeServer(const TlsIdentity &identity, Connection::Limits limits, QObject *parent = nullptr);
    ~NodeServer() override;

    bool listen(const QHostAddress &address, quint16 port, QString *error);
    quint16 port() const;
    void close();

Q_SIGNALS:
    // Parented to the server; deleted after it disconnects.
    void connectionOpened(ticketsync::Connection *connection);

private:
    void onEncrypted(QSslSocket *socket);
    void onUpgraded();

    struct Handshaken
    {
        PeerIdentity peer;
        QString tls;
        QPointer<QSslSocket> socket; // where its encrypted bytes wait (Connection::pendingBytes)
    };

    QSslServer *tlsServer;
    QWebSocketServer *webSocketServer;
    Connection::Limits limits;
    // By "address:port": the only thing a QWebSocket shares with the TLS socket it came from.
    QHash<QString, Handshaken> handshaken;
};

} // namespace ticketsync
