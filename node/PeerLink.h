#pragma once

#include "Connection.h"
#include "TlsIdentity.h"

#include <QObject>
#include <QPointer>
#include <QTimer>

class QWebSocket;

namespace ticketsync {

// A dialled TLS WebSocket to one node that stays up: it reconnects with exponential backoff
// (with jitter, capped) and checks on every connect that the peer's CA-verified certificate
// names the node it meant to reach. A dial that is not an open WebSocket within
// Limits::handshakeTimeoutMs is given up and tried again (Qt 6.4's QWebSocket has no handshake
// timeout: a peer that accepts TCP and never answers would hold it for ever), and an open link
// whose peer goes silent is dropped by the Connection's keepalive and dialled again.
class PeerLink : public QObject
{
    Q_OBJECT

public:
    PeerLink(const TlsIdentity &identity, QString address, QString expectedNodeId, Connection::Limits limits,
             QObject *parent = nullptr);
    ~PeerLink() override;

    void start();
    void stop();
    Connection *connection() const { return current; } // null while down
    const QString &address() const { return target; }
    const QString &lastError() const { return problem; }
    // Backoff bounds, for tests and the devnet's faster cadence.
    void setBackoff(int initialMs, int maximumMs);

Q_SIGNALS:
    void connected(ticketsync::Connection *connection);
    void disconnected(const QString &reason);

private:
    void dial();
    void onSocketConnected();
    void onSocketGone();
    void onHandshakeTimedOut();
    void scheduleRetry();
    // What ended the dial or the link on webSocket, naming the address and, for a dial, its step.
    QString endOf(const QWebSocket *webSocket) const;

    enum class Step
    {
        TcpConnect,
        TlsHandshake,
        WebSocketHandshake
    };
    static QString stepName(Step step);

    QSslConfiguration tls;
    QString target;
    QString expected;
    Connection::Limits limits;
    QPointer<QWebSocket> socket;
    QPointer<Connection> current;
    QTimer retryTimer;
    QTimer handshakeTimer;
    int initialBackoffMs = 100;
    int maximumBackoffMs = 5000;
    int backoffMs = 100;
    bool running = false;
    QString problem;
    QString attemptProblem;       // what went wrong with the dial in progress, before it was open
    Step step = Step::TcpConnect; // how far the dial in progress got
};

} // namespace ticketsync
