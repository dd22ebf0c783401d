#pragma once

#include "TlsIdentity.h"

#include <QElapsedTimer>
#include <QJsonObject>
#include <QObject>
#include <QPointer>
#include <QTimer>

class QSslSocket;
class QWebSocket;

namespace ticketsync {

// One authenticated TLS WebSocket, either accepted or dialled, carrying JSON text frames
// (docs/api.md) and, between ledger nodes only, binary node frames (NodeFrame). It enforces
// the per-connection limits: a frame that is not a JSON object gets an error reply naming the
// problem, and so does a binary frame from a client; more messages per second than allowed
// closes the connection. Everyone else is unaffected.
class Connection : public QObject
{
    Q_OBJECT

public:
    struct Limits
    {
        qint64 maxFrameBytes = 4 * 1024 * 1024;
        int maxMessagesPerSecond = 50000;
        // Bytes queued for the peer that it has not read yet. Above this the node answers no
        // more requests and pushes no more blocks to it; a peer that stays above it for
        // notReadingCloseMs is closed.
        qint64 maxUnreadBytes = 16 * 1024 * 1024;
        int notReadingCloseMs = 10000;
        // From the TCP accept (or the dial) to an open WebSocket; a peer that takes longer is
        // dropped, so a half-finished handshake holds no slot for ever.
        int handshakeTimeoutMs = 10000;
        // Accepted sockets not yet a WebSocket, in all and from one address (one /64 for IPv6):
        // past these, new ones are closed at once instead of waiting for a slot.
        int maxPendingHandshakes = 256;
        int maxPendingHandshakesPerAddress = 32;
        // Keepalive: a WebSocket ping this often, and a connection from whose peer nothing at
        // all has come for keepaliveTimeoutMs (not even a pong) and which took none of what
        // waited for it (a slow reader's pongs queue behind that) is aborted, so a link across
        // a partition or to a hung process is found dead and dialled again instead of waiting
        // for TCP, which never notices on a link that only reads.
        int keepaliveIntervalMs = 5000;
        int keepaliveTimeoutMs = 15000;
    };
    // Refusals still sent to a peer over its unread limit; past them requests are dropped unread.
    static constexpr qint64 kRefusalBytes = 256 * 1024;

    // Takes ownership of the socket.
    Connection(QWebSocket *socket, PeerIdentity peer, Limits limits, QObject *parent = nullptr);
    ~Connection() override;

    const PeerIdentity &peer() const { return identity; }
    QString describe() const; // "operator 'operator-1' from 127.0.0.1:53122"
    bool isOpen() const;
    QString tlsDescription() const; // protocol and cipher, for the console
    void setTlsDescription(const QString &description) { tls = description; }
    void send(const QJsonObject &message);
    // A frame serialized once for many peers (see frameText()).
    void sendText(const QString &frame);
    static QString frameText(const QJsonObject &message);
    void sendBinary(const QByteArray &frame);
    // An error reply to the request of that type; it carries the request's id as the request
    // sent it (any JSON value, none when undefined), as every other reply does.
    void sendError(const QString &type, const QJsonValue &requestId, const QString &error);
    // Between nodes, ids are integers; a negative one is none.
    void sendError(const QString &type, qint64 requestId, const QString &error);
    void close(const QString &reason);
    quint64 framesReceived() const { return received; }
    // The node protocol a ledger node announced in its peer_hello (1 until it says).
    int nodeProtocol() const { return announcedProtocol; }
    void setNodeProtocol(int protocol) { announcedProtocol = protocol; }
    // The largest message the peer takes (its limits.max_frame_bytes), as it announced it in its
    // peer_hello; a node that says nothing takes the default. Anything larger would only get
    // this connection closed with 1009, and the same message sent again after the reconnect.
    qint64 peerMaxFrameBytes() const { return peerFrameLimit; }
    void setPeerMaxFrameBytes(qint64 bytes) { peerFrameLimit = bytes; }
    // Bytes queued for this peer and not yet written to the socket, before and after TLS.
    qint64 pendingBytes() const;
    // More than Limits::maxUnreadBytes are queued: the peer does not read what it is sent.
    bool backedUp() const { return pendingBytes() > limits.maxUnreadBytes; }
    // Past this the connection is closed at once, without waiting notReadingCloseMs. The node
    // sends nothing more to a backed-up peer but refusals and one message in flight, so only
    // what it does not gate gets here: pongs, which QWebSocket queues by itself for every ping
    // however fast they come (a ping flood that never reads).
    qint64 unreadCeiling() const
    {
        return kUnreadCeilingFactor * limits.maxUnreadBytes + qMax(limits.maxFrameBytes, peerFrameLimit);
    }
    static constexpr int kUnreadCeilingFactor = 4;
    // A short refusal may still be queued: the peer is less than kRefusalBytes past its limit.
    bool roomForRefusal() const { return pendingBytes() <= limits.maxUnreadBytes + kRefusalBytes; }
    qint64 maxUnreadBytes() const { return limits.maxUnreadBytes; }
    int notReadingCloseMs() const { return limits.notReadingCloseMs; }
    // The TLS socket under the WebSocket, when it is not the WebSocket's child (an accepted one).
    void setTransport(QSslSocket *transport);
    // Why this side aborted the connection (not reading, or silent past keepaliveTimeoutMs);
    // empty if it did not.
    const QString &abortReason() const { return aborted; }

Q_SIGNALS:
    void messageReceived(const QJsonObject &message);
    void binaryReceived(const QByteArray &frame); // from ledger nodes only
    void disconnected();
    // The peer has read enough to be under its unread limit again.
    void drained();
    // The peer stayed over its unread limit for Limits::notReadingCloseMs, or went past
    // unreadCeiling(); the connection is aborted.
    void closingNotReading(qint64 unreadBytes);

private:
    void onText(const QString &text);
    void onBinary(const QByteArray &data);
    bool withinRate();
    // After each send, and whenever the peer's bytes arrive (QWebSocket may have queued pongs
    // to them): starts watching a peer that has gone over its unread limit, and closes one
    // past unreadCeiling().
    void watchUnread();
    void checkUnread();
    // Logs once, says why to closingNotReading's listeners and aborts.
    void closeNotReading(qint64 unread, const QString &why);
    void hookTransport();
    void keepalive();
    // Bytes handed to the kernel that the peer has not acknowledged yet (0 where unknown).
    qint64 kernelQueued() const;
    void abortWith(const QString &why);

    QPointer<QWebSocket> socket;
    QPointer<QSslSocket> tlsSocket; // the socket's transport: it holds the encrypted bytes queued
    QTimer unreadTimer;
    QElapsedTimer unreadSince;
    QString aborted; // why this side aborted; said once
    QTimer keepaliveTimer;
    QElapsedTimer heard;     // since anything last came from the peer
    QElapsedTimer lastCheck; // since the keepalive last ran
    // Drain progress, so a peer that reads slowly is not taken for a silent one: encrypted
    // bytes the kernel took, and at the last check what waited for the peer (ours and the
    // kernel's) and how much of it the peer had taken (sent less still queued in the kernel).
    qint64 sentToKernel = 0;
    qint64 waitingAtCheck = 0;
    qint64 takenAtCheck = 0;
    int announcedProtocol = 1;
    qint64 peerFrameLimit = Limits().maxFrameBytes;
    PeerIdentity identity;
    Limits limits;
    QElapsedTimer window;
    int inWindow = 0;
    quint64 received = 0;
    QString tls;
};

} // namespace ticketsync
