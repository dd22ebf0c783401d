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
// names the node it meant to reach.
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
    void onSocketGone(const QString &reason);
    void scheduleRetry();

    QSslConfiguration tls;
    QString target;
    QString expected;
    Connection::Limits limits;
    QPointer<QWebSocket> socket;
    QPointer<Connection> current;
    QTimer retryTimer;
    int initialBackoffMs = 100;
    int maximumBackoffMs = 5000;
    int backoffMs = 100;
    bool running = false;
    QString problem;
};

} // namespace ticketsync
