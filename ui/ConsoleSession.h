#pragma once

#include "TlsIdentity.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QThread>
#include <functional>
#include <memory>
#include <optional>

namespace ticketsync {

class Membership;
class SessionWorker;

// Which network a profile belongs to. Its consortium CA tells networks apart: every devnet and
// every bank network has its own, while the membership changes as members join or leave.
struct NetworkIdentity
{
    QString caSha256; // the CA certificate's SHA-256 fingerprint, hex (several: of their sorted fingerprints)
    QString consortium; // the membership's consortium name, for people; set by whoever loads it
    QString shortId() const { return caSha256.left(16); }
};

// Where the console connects and as whom.
struct SessionProfile
{
    struct Node
    {
        QString id;
        QString address; // host:port
        QStringList roles;
    };
    QList<Node> nodes;
    QString eventSource;     // the node whose event stream feeds the views (the coordinator)
    QString certificatePath; // PEM certificate, or a PKCS#12 bundle (then keyPath is empty)
    QString keyPath;
    QString pkcs12Password;
    QString caPath;
    QString membershipPath;

    // Every node of a membership file, with the coordinator as the event source.
    static std::optional<SessionProfile> fromMembership(const QString &membershipPath, QString *error);
    // A `ticketsync devnet` directory, as its operator (or auditor).
    static std::optional<SessionProfile> fromDevnet(const QString &dir, bool auditor, QString *error);

    // Reads the CA file; an unreadable or empty one is an error naming it.
    std::optional<NetworkIdentity> network(QString *error) const;
};

// What connecting reads from disk: the client identity (for a PKCS#12 bundle, decrypting it runs
// the password's PBKDF) and the membership. load() blocks on the files, so it runs on a worker
// thread, never the GUI thread (MainWindow::loadSessionFiles).
struct SessionFiles
{
    std::optional<TlsIdentity> identity;
    QString identityError;                        // names the file and what is wrong with it
    std::shared_ptr<const Membership> membership; // null without a membership path, or on error
    QString membershipError;

    static SessionFiles load(const SessionProfile &profile);
};

// One node's connection, as the Nodes view shows it.
struct NodeLinkState
{
    QString nodeId;
    QString address;
    bool connected = false;
    QString tls;    // "TLS 1.3, TLS_AES_256_GCM_SHA384"
    QString role;   // the console's role as the node sees it: operator / auditor
    QString client; // the console's own name, from its certificate, as the node sees it
    QString lastError;
    quint64 height = 0;
    qint64 lastSeq = 0;
    qint64 lastContactMs = 0; // the last frame from it
    QJsonObject status;       // the last `status` reply
};

// The console's connections to the nodes, driven through ApiClient on a network thread so
// TLS, JSON parsing and reconnect backoff never touch the GUI thread. Events reach the GUI
// in batches; every node reconnects with backoff and resumes its event stream from the last
// sequence number the cache stored.
class ConsoleSession : public QObject
{
    Q_OBJECT

public:
    explicit ConsoleSession(QObject *parent = nullptr);
    ~ConsoleSession() override;

    // Connects to every node of the profile as identity (SessionFiles::load). resumeFrom: the
    // next seq to ask the event source for (the cache's last stored seq + 1).
    void start(const SessionProfile &profile, const TlsIdentity &identity, qint64 resumeFrom);
    void stop();

    const SessionProfile &profile() const { return current; }
    QList<NodeLinkState> links() const { return states.values(); }
    NodeLinkState link(const QString &nodeId) const { return states.value(nodeId); }
    // The console's role as the event source sees it ("operator", "auditor" or "" if not known yet).
    QString role() const;

    using ReplyHandler = std::function<void(const QJsonObject &reply)>;
    // Sends a request to a node; the handler runs on the GUI thread with the reply or an error.
    void request(const QString &nodeId, const QJsonObject &message, ReplyHandler handler);
    // Restarts the event source's stream at fromSeq: what the cache could not store is fetched
    // again.
    void resume(const QString &nodeId, qint64 fromSeq);

    // The helper for a PKCS#12 file: true when the path names one (by content, not extension).
    // Reads the file: not for every keystroke (ConnectDialog::hasBundleSuffix is).
    static bool isPkcs12(const QString &path);

Q_SIGNALS:
    void eventsReceived(const QString &nodeId, const QList<QJsonObject> &events);
    void linkChanged(const ticketsync::NodeLinkState &state);
    void gapDetected(const QString &nodeId, qint64 fromSeq, qint64 toSeq);
    // The event source holds fewer events than the cache has stored from it: its journal was
    // replaced. Its events up to seenSeq are not fetched again.
    void journalBehind(const QString &nodeId, qint64 seenSeq, qint64 nodeLastSeq);

private:
    void onReply(qint64 ticket, const QJsonObject &reply);
    void onLink(const ticketsync::NodeLinkState &state);

    SessionProfile current;
    QThread networkThread;
    SessionWorker *worker = nullptr;
    QHash<QString, NodeLinkState> states;
    QHash<qint64, ReplyHandler> handlers;
    qint64 nextTicket = 1;
};

} // namespace ticketsync

Q_DECLARE_METATYPE(ticketsync::NodeLinkState)
