#pragma once

#include "HistoryCache.h"

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QTimer>

#include <memory>
#include <thread>

class QThread;

namespace ticketsync {

class Membership;

// The console's one writer of the history cache. It lives on its own thread (see
// CacheThread) and owns a HistoryCache; everything reaches it through queued calls, and
// every answer goes back as a signal carrying the caller's request id. Events are batched
// further: a commit happens at most 50 ms after the first pending event, or as soon as
// 2,000 are pending, whichever comes first.
class CacheWorker : public QObject
{
    Q_OBJECT

public:
    static constexpr int kCommitIntervalMs = 50;
    static constexpr int kCommitEvents = 2000;

    explicit CacheWorker(QString path, QObject *parent = nullptr);
    ~CacheWorker() override;

    // A fresh id for a request; unique across all models and threads.
    static quint64 nextRequestId();
    const QString &path() const { return cachePath; }

    // Direct access for code already running on the worker's thread (e.g. a lambda given to
    // QMetaObject::invokeMethod(worker, ...)). Never touch it from another thread.
    HistoryCache &cache() { return store; }

    // One page of a node's `decisions` answer (docs/api.md) for the digests asked: decodes and
    // checks each certificate and proof here, off the GUI thread, stores those that hold, and
    // answers with certificatesStored. A proof is checked against membership when there is one,
    // else only its merkle path against its header.
    void storeFetchedCertificates(quint64 requestId, const QList<QByteArray> &asked, const QJsonObject &reply,
                                  std::shared_ptr<const Membership> membership);

public Q_SLOTS:
    // Opens the cache; a corrupt one is moved aside and replaced by a fresh one (reported
    // through opened()'s message). Emits opened().
    void open();
    // Commits what is pending and closes the cache. Called by CacheThread before quitting.
    void shutdown();
    // Queues a node's events; they are committed in a batch (see above).
    // After a batch the cache refused, a node's later events are dropped until its stream is
    // resumed at the cursor (ConsoleSession::resume), so no hole is left behind the cursor.
    void ingest(const QString &node, const QList<QJsonObject> &events);
    void flush();
    // Commits what is pending, then says so: a reader on another connection sees it all.
    void flushFor(quint64 requestId);
    void recordGap(const QString &node, qint64 fromSeq, qint64 toSeq);
    void raiseAlert(const QString &kind, const QString &subject, const QString &detail);
    void resolveAlert(const QString &kind, const QString &subject, const QString &note);
    void acknowledgeAlert(qint64 alertId, const QString &who, const QString &note);
    void setLagThresholds(qint64 blocks, qint64 ms);
    void setCertificate(const QByteArray &digest, const QByteArray &decisionBytes);
    // From a node's `history` reply: write_off_digest -> height.
    void setDecisionHeights(const QHash<QByteArray, qint64> &heights);

    // Before a session starts: ties the cache to the network (HistoryCache::bindNetwork), then
    // answers with where each node's stream resumes, or with why this network cannot use it.
    void requestNetworkCursors(quint64 requestId, const QString &caSha256, const QString &consortium);
    void requestFeedCount(quint64 requestId, const ticketsync::FeedFilter &filter, qint64 afterId);
    void requestFeedPage(quint64 requestId, const ticketsync::FeedFilter &filter,
                         const ticketsync::PageRequest &page);
    void requestDecisionCount(quint64 requestId, const ticketsync::DecisionFilter &filter, qint64 afterMs);
    void requestDecisionsPage(quint64 requestId, const ticketsync::DecisionFilter &filter,
                              const ticketsync::PageRequest &page);
    void requestDecision(quint64 requestId, const QByteArray &digest);
    void requestAlerts(quint64 requestId);
    void requestAlertTrail(quint64 requestId, qint64 alertId);
    void requestReceivers(quint64 requestId);
    void requestUnprovenDecisions(quint64 requestId, qint64 fromMs, qint64 toMs, int limit);

Q_SIGNALS:
    // ok false: the cache could not be opened at all (error says why, naming the file).
    // ok true with a non-empty message: it opened, but something needs saying (e.g. a
    // corrupt cache was moved aside to `message`).
    void opened(bool ok, const QString &message);
    void failed(const QString &error);

    // After each commit: the node's cursor and what the batch did.
    void ingested(const QString &node, qint64 lastSeq, const ticketsync::IngestReport &report);
    // After each commit that added feed rows: the largest feed id now stored.
    void feedAppended(qint64 maxFeedId);
    // After each commit that wrote decisions: minDecidedAtMs is the oldest decided_at_ms
    // written, updated tells whether existing rows changed (rows then may have moved).
    void decisionsChanged(int inserted, int updated, qint64 minDecidedAtMs, qint64 maxDecidedAtMs);
    void receiversChanged();
    void alertRaised(const ticketsync::AlertRow &alert);
    void alertAcknowledged(const ticketsync::AlertRow &alert);
    // An open alert the cache closed by itself (IngestReport::resolvedAlerts), with the trail
    // entry that closed it. Emitted after the commit's alertRaised signals.
    void alertResolved(const ticketsync::AlertRow &alert, const ticketsync::AlertTrailEntry &entry);
    void alertsChanged();

    void networkCursorsReady(quint64 requestId, const QString &error, const QHash<QString, qint64> &cursors);
    void feedCountReady(quint64 requestId, qint64 count, qint64 upperId);
    void feedPageReady(quint64 requestId, int offset, const QList<ticketsync::FeedRow> &rows);
    void decisionCountReady(quint64 requestId, qint64 count, qint64 upperMs);
    void decisionsPageReady(quint64 requestId, int offset, const QList<ticketsync::DecisionRow> &rows);
    void decisionReady(quint64 requestId, const ticketsync::DecisionRow &decision,
                       const QList<ticketsync::ConfirmationRow> &confirmations, bool found);
    void alertsReady(quint64 requestId, const QList<ticketsync::AlertRow> &alerts);
    void alertTrailReady(quint64 requestId, const QList<ticketsync::AlertTrailEntry> &trail);
    void receiversReady(quint64 requestId, const QList<ticketsync::ReceiverRow> &receivers);
    void flushed(quint64 requestId);
    void unprovenDecisionsReady(quint64 requestId, const QList<QByteArray> &digests);
    // What storeFetchedCertificates did with one page: problems counts the digests without a
    // usable certificate, firstProblem names the first ("<digest prefix>: why").
    void certificatesStored(quint64 requestId, int stored, int proven, int problems,
                            const QString &firstProblem);

private:
    void commitPending();
    // Empty when the proof holds for fetched->decision; then fills fetched's proof and height.
    // signedHeaders: the block headers of the page whose signature already held.
    static QString checkProof(const QJsonObject &json, const Membership *membership,
                              QSet<QByteArray> *signedHeaders, FetchedCertificate *fetched);

    QString cachePath;
    HistoryCache store;
    QTimer commitTimer;
    QList<QString> pendingOrder; // nodes in the order their events arrived
    QHash<QString, QList<QJsonObject>> pending;
    int pendingEvents = 0;
    QSet<QString> resumeAwaited; // nodes whose stream must restart at the cursor
    std::jthread checkpointer;   // its own connection; see startCheckpointer()
    void startCheckpointer();
    void stopCheckpointer();
};

// Owns a CacheWorker and the QThread it runs on: start() opens the cache on that thread,
// stop() (and the destructor) commits what is pending, closes the cache and joins the thread.
class CacheThread : public QObject
{
    Q_OBJECT

public:
    explicit CacheThread(const QString &path, QObject *parent = nullptr);
    ~CacheThread() override;

    CacheWorker *worker() const { return cacheWorker; }
    void start();
    void stop();
    bool isRunning() const;

private:
    QThread *thread = nullptr;
    CacheWorker *cacheWorker = nullptr;
};

} // namespace ticketsync
