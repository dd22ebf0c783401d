#pragma once

#include "Connection.h"
#include "TlsIdentity.h"

#include <QElapsedTimer>
#include <QHash>
#include <QHostAddress>
#include <QObject>
#include <QPointer>

class QSslSocket;
class QTcpServer;
class QTimer;
class QWebSocketServer;

namespace ticketsync {

// The TLS WebSocket listener. TLS is terminated on each accepted socket with TCP_NODELAY set
// (Qt 6.4's secure QWebSocketServer otherwise takes ~44 ms per TLS 1.3 handshake, see
// shared/PLATFORM.md), then the socket is handed to a plain QWebSocketServer. Mutual TLS
// against the consortium CA: a peer without a valid certificate never gets a Connection.
//
// Not QSslServer: Qt 6.4's counts sockets still in their handshake against
// maxPendingConnections and stops accepting at 30, resuming only when one of them times out,
// not when its peer closes it; 30 connections opened and closed stopped a node accepting for
// good. Here the listener never pauses: the handshakes in progress are counted here, in all and
// per address, each has a deadline (Limits::handshakeTimeoutMs) that runs until its WebSocket
// is open, and a socket over a limit is closed as soon as it is accepted.
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
    void onIncoming(qintptr descriptor);
    void onEncrypted(QSslSocket *socket);
    void onUpgraded();
    void onHandshakeTimedOut(QSslSocket *socket);
    // The socket is a WebSocket now, or gone: its handshake slot is free.
    void release(QSslSocket *socket);

    struct Handshaken
    {
        PeerIdentity peer;
        QString tls;
        QPointer<QSslSocket> socket; // where its encrypted bytes wait (Connection::pendingBytes)
    };

    struct Handshaking
    {
        QHostAddress from; // addressKey() of its peer
        QTimer *deadline;
    };

    QTcpServer *tcpServer;
    QWebSocketServer *webSocketServer;
    QSslConfiguration tlsConfiguration;
    Connection::Limits limits;
    // Accepted sockets whose WebSocket is not open yet; the pointers are keys only.
    QHash<QSslSocket *, Handshaking> handshaking;
    QHash<QHostAddress, int> handshakingFrom;
    // Connections closed at once for being over a limit, logged at most every 10 s.
    QElapsedTimer refusalLogged;
    qint64 refusedSinceLog = 0;
    // By "address:port": the only thing a QWebSocket shares with the TLS socket it came from.
    QHash<QString, Handshaken> handshaken;
};

} // namespace ticketsync
