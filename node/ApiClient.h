#pragma once

#include "TlsIdentity.h"

#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QStringList>
#include <functional>

namespace ticketsync {

class Connection;
class PeerLink;

// The one narrow client interface to a node's monitoring API (docs/api.md), used by the
// command-line tool, the devnet and the console. It keeps the connection up, matches replies
// to requests, and resumes the event stream from the last sequence number it saw, so a
// reconnect misses nothing.
class ApiClient : public QObject
{
    Q_OBJECT

public:
    using ReplyHandler = std::function<void(const QJsonObject &reply)>;

    ApiClient(const TlsIdentity &identity, QString address, QString nodeId, QObject *parent = nullptr);
    ~ApiClient() override;

    void start();
    void stop();
    // Greeted: the node answered hello, requests go out.
    bool isConnected() const;
    // The TLS WebSocket is open, greeted or not.
    bool isLinkUp() const;
    const QString &nodeId() const { return node; }
    const QJsonObject &welcome() const { return greeting; }
    QString lastError() const;
    void setBackoff(int initialMs, int maximumMs);

    // Sends a request; the handler gets the reply or an error object ({"type":"error",...}),
    // also when the connection drops first. Returns the request id, or -1 if not connected.
    qint64 request(QJsonObject message, ReplyHandler handler = {});
    // Streams events from fromSeq on, and again after every reconnect from the next unseen one.
    // kinds: only events of these kinds (docs/api.md); empty, every kind. Called again, it
    // restarts the stream at fromSeq (e.g. to fetch events a client could not keep).
    void subscribe(qint64 fromSeq, const QStringList &kinds = {});
    qint64 lastSeq() const { return seenSeq; }

Q_SIGNALS:
    void connected(const QJsonObject &welcome);
    void disconnected(const QString &reason);
    void eventReceived(const QJsonObject &event);
    // A gap the node could not fill (its journal no longer has those events).
    void gap(qint64 fromSeq, qint64 toSeq);
    // The node holds fewer events than this client has already seen from it (its journal was
    // replaced, or it belongs to another network): events up to seenSeq are not sent again.
    void journalBehind(qint64 seenSeq, qint64 nodeLastSeq);

private:
    void onLink(Connection *connection);
    void onMessage(const QJsonObject &message);
    void failPending(const QString &reason);

    PeerLink *link;
    QString node;
    QJsonObject greeting;
    qint64 nextId = 1;
    QHash<qint64, ReplyHandler> pending;
    QJsonObject subscribeRequest(qint64 fromSeq) const;
    void sendSubscribe();

    bool subscribed = false;
    QStringList subscribedKinds;
    qint64 seenSeq = 0;
    qint64 awaitedSubscription = 0; // the subscribe request whose answer has not come yet
};

} // namespace ticketsync
