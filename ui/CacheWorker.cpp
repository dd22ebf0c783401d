#include "CacheWorker.h"

#include "BlockHeader.h"
#include "Decision.h"
#include "InclusionProof.h"
#include "Membership.h"
#include "MerkleTree.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QThread>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <pthread.h>

Q_LOGGING_CATEGORY(lcCacheWorker, "ticketsync.ui.cacheworker", QtWarningMsg)

namespace ticketsync {

namespace {
void registerTypes()
{
    static std::once_flag once;
    std::call_once(once, [] {
        qRegisterMetaType<FeedFilter>();
        qRegisterMetaType<DecisionFilter>();
        qRegisterMetaType<FeedRow>();
        qRegisterMetaType<DecisionRow>();
        qRegisterMetaType<ConfirmationRow>();
        qRegisterMetaType<ReceiverRow>();
        qRegisterMetaType<AlertRow>();
        qRegisterMetaType<AlertTrailEntry>();
        qRegisterMetaType<IngestReport>();
        qRegisterMetaType<PageRequest>();
        qRegisterMetaType<CountResult>();
        qRegisterMetaType<QList<FeedRow>>();
        qRegisterMetaType<QList<DecisionRow>>();
        qRegisterMetaType<QList<ConfirmationRow>>();
        qRegisterMetaType<QList<ReceiverRow>>();
        qRegisterMetaType<QList<AlertRow>>();
        qRegisterMetaType<QList<AlertTrailEntry>>();
        qRegisterMetaType<QList<QJsonObject>>();
        qRegisterMetaType<QHash<QString, qint64>>();
        qRegisterMetaType<QHash<QByteArray, qint64>>();
    });
}
} // namespace

CacheWorker::CacheWorker(QString path, QObject *parent)
    : QObject(parent), cachePath(std::move(path)), commitTimer(this)
{
    registerTypes();
    commitTimer.setSingleShot(true);
    connect(&commitTimer, &QTimer::timeout, this, &CacheWorker::commitPending);
}

CacheWorker::~CacheWorker()
{
    shutdown();
}

quint64 CacheWorker::nextRequestId()
{
    static std::atomic<quint64> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

void CacheWorker::open()
{
    QString error;
    QString message;
    if (!store.open(cachePath, &error)) {
        if (store.openStatus() != HistoryCache::OpenStatus::Corrupt) {
            qCWarning(lcCacheWorker).noquote() << error;
            Q_EMIT opened(false, error);
            Q_EMIT failed(error);
            return;
        }
        // A damaged cache only costs a refetch from the nodes: keep it for inspection, start fresh.
        QString movedTo, moveError;
        if (!HistoryCache::moveAside(cachePath, &movedTo, &moveError) || !store.open(cachePath, &moveError)) {
            const QString why = tr("%1; starting a fresh cache failed too: %2").arg(error, moveError);
            Q_EMIT opened(false, why);
            Q_EMIT failed(why);
            return;
        }
        message = tr("%1. It was moved aside to %2 and a fresh cache was started; the history is fetched "
                     "again from the nodes.")
                      .arg(error, movedTo);
        qCWarning(lcCacheWorker).noquote() << message;
    }
    startCheckpointer();
    Q_EMIT opened(true, message);
}

void CacheWorker::startCheckpointer()
{
    // Checkpoints need an fsync of the database file; run on the committing thread they cut the
    // ingest rate by a third. A second connection does them every 200 ms instead, and commits
    // only fall back to checkpointing themselves if the WAL ever passes 256 MiB.
    stopCheckpointer();
    store.setAutoCheckpoint(65536);
    checkpointer = std::jthread([path = cachePath](std::stop_token stop) {
        pthread_setname_np(pthread_self(), "cache-ckpt"); // at most 15 characters
        HistoryCache cache;
        QString error;
        if (!cache.open(path, &error)) {
            qCWarning(lcCacheWorker).noquote() << "background checkpoints off:" << error;
            return;
        }
        cache.setAutoCheckpoint(0);
        std::mutex mutex;
        std::condition_variable_any wake;
        std::unique_lock lock(mutex);
        while (!stop.stop_requested()) {
            wake.wait_for(lock, stop, std::chrono::milliseconds(200), [] { return false; });
            if (!stop.stop_requested())
                cache.checkpoint();
        }
    });
}

void CacheWorker::stopCheckpointer()
{
    if (checkpointer.joinable()) {
        checkpointer.request_stop();
        checkpointer.join();
    }
}

void CacheWorker::shutdown()
{
    commitPending();
    commitTimer.stop();
    stopCheckpointer();
    store.close(); // the last connection to close checkpoints and removes the WAL
}

void CacheWorker::ingest(const QString &node, const QList<QJsonObject> &events)
{
    if (events.isEmpty())
        return;
    auto found = pending.find(node);
    if (found == pending.end()) {
        pendingOrder.append(node);
        found = pending.insert(node, {});
    }
    found->append(events);
    pendingEvents += int(events.size());
    if (pendingEvents >= kCommitEvents)
        commitPending();
    else if (!commitTimer.isActive())
        commitTimer.start(kCommitIntervalMs);
}

void CacheWorker::flush()
{
    commitPending();
}

void CacheWorker::flushFor(quint64 requestId)
{
    commitPending();
    Q_EMIT flushed(requestId);
}

void CacheWorker::requestUnprovenDecisions(quint64 requestId, qint64 fromMs, qint64 toMs, int limit)
{
    commitPending();
    Q_EMIT unprovenDecisionsReady(requestId, store.unprovenDecisions(fromMs, toMs, limit));
}

void CacheWorker::commitPending()
{
    commitTimer.stop();
    if (pendingEvents == 0)
        return;
    const QList<QString> nodes = std::exchange(pendingOrder, {});
    QHash<QString, QList<QJsonObject>> batches = std::exchange(pending, {});
    pendingEvents = 0;
    if (!store.isOpen()) {
        qCWarning(lcCacheWorker) << "history cache not open;" << batches.size() << "batches dropped";
        return;
    }
    IngestReport all;
    for (const QString &node : nodes) {
        const QList<QJsonObject> batch = batches.value(node);
        if (resumeAwaited.contains(node)) {
            // What follows a refused batch is fetched again from the cursor; only that stream
            // may be stored, or the cursor would pass the hole.
            if (batch.isEmpty() || batch.front().value(u"seq").toInteger() > store.lastSeq(node) + 1)
                continue;
            resumeAwaited.remove(node);
        }
        const IngestReport report = store.ingest(node, batch);
        if (report.refused)
            resumeAwaited.insert(node);
        all.merge(report);
        Q_EMIT ingested(node, report.lastSeq, report);
    }
    if (all.feedRows > 0)
        Q_EMIT feedAppended(store.maxFeedId());
    if (all.decisionsInserted + all.decisionsUpdated > 0)
        Q_EMIT decisionsChanged(all.decisionsInserted, all.decisionsUpdated, all.minDecidedAtMs,
                                store.maxDecidedAtMs());
    if (all.receiversChanged)
        Q_EMIT receiversChanged();
    for (const AlertRow &alert : std::as_const(all.alerts))
        Q_EMIT alertRaised(alert);
    for (const ResolvedAlert &resolved : std::as_const(all.resolvedAlerts))
        Q_EMIT alertResolved(resolved.alert, resolved.entry);
    if (!all.alerts.isEmpty() || !all.resolvedAlerts.isEmpty())
        Q_EMIT alertsChanged();
}

void CacheWorker::recordGap(const QString &node, qint64 fromSeq, qint64 toSeq)
{
    commitPending(); // keep the order: events before the gap are stored first
    std::optional<AlertRow> alert;
    if (!store.recordGap(node, fromSeq, toSeq, &alert)) {
        Q_EMIT failed(tr("cannot record the gap %1-%2 of %3 in the history cache: %4")
                          .arg(fromSeq)
                          .arg(toSeq)
                          .arg(node, store.lastError()));
        if (fromSeq <= toSeq)
            Q_EMIT alertRaised(HistoryCache::gapAlert(node, fromSeq, toSeq)); // shown, though not kept
        return;
    }
    if (alert) {
        Q_EMIT alertRaised(*alert);
        Q_EMIT alertsChanged();
    }
}

void CacheWorker::raiseAlert(const QString &kind, const QString &subject, const QString &detail)
{
    QString error;
    if (const std::optional<AlertRow> alert = store.raiseAlert(kind, subject, detail, &error)) {
        Q_EMIT alertRaised(*alert);
        Q_EMIT alertsChanged();
    } else if (!error.isEmpty()) {
        // Not stored, but the operator still sees it (without an id: there is no row to keep).
        AlertRow shown;
        shown.kind = kind;
        shown.subject = subject;
        shown.detail = detail;
        shown.raisedAtMs = QDateTime::currentMSecsSinceEpoch();
        Q_EMIT alertRaised(shown);
        Q_EMIT failed(tr("the %1 alert for %2 is shown but was not stored in the history cache: %3")
                          .arg(kind, subject, error));
    }
}

void CacheWorker::resolveAlert(const QString &kind, const QString &subject, const QString &note)
{
    if (!store.isOpen()) {
        // Without a cache the alert was only shown (raiseAlert): it closes there alike.
        AlertRow closed;
        closed.kind = kind;
        closed.subject = subject;
        closed.acknowledgedBy = QStringLiteral("console");
        closed.acknowledgedAtMs = QDateTime::currentMSecsSinceEpoch();
        const AlertTrailEntry entry{
            0, 0, closed.acknowledgedAtMs, closed.acknowledgedBy, QStringLiteral("resolved"), note};
        Q_EMIT alertResolved(closed, entry);
        return;
    }
    if (const std::optional<ResolvedAlert> resolved = store.resolveAlert(kind, subject, note)) {
        Q_EMIT alertResolved(resolved->alert, resolved->entry);
        Q_EMIT alertsChanged();
    }
}

void CacheWorker::acknowledgeAlert(qint64 alertId, const QString &who, const QString &note)
{
    QString error;
    if (!store.acknowledgeAlert(alertId, who, note, &error)) {
        Q_EMIT failed(error);
        return;
    }
    if (const std::optional<AlertRow> alert = store.alert(alertId))
        Q_EMIT alertAcknowledged(*alert);
    Q_EMIT alertsChanged();
}

void CacheWorker::setLagThresholds(qint64 blocks, qint64 ms)
{
    store.setLagThresholds(blocks, ms);
}

void CacheWorker::setCertificate(const QByteArray &digest, const QByteArray &decisionBytes)
{
    store.setCertificate(digest, decisionBytes);
}

void CacheWorker::storeFetchedCertificates(quint64 requestId, const QList<QByteArray> &asked,
                                           const QJsonObject &reply,
                                           std::shared_ptr<const Membership> membership)
{
    const bool answered = reply.value(u"type").toString() == QLatin1String("decisions");
    QHash<QByteArray, QJsonObject> sent; // by digest
    if (answered) {
        for (const QJsonValue &entry : reply.value(u"decisions").toArray()) {
            const QJsonObject item = entry.toObject();
            sent.insert(QByteArray::fromHex(item.value(u"write_off_digest").toString().toLatin1()), item);
        }
    }
    QList<FetchedCertificate> good;
    QSet<QByteArray> signedHeaders; // a page's decisions share a few blocks
    int proven = 0;
    int problems = 0;
    QString firstProblem;
    for (const QByteArray &digest : asked) {
        QString problem;
        FetchedCertificate fetched{digest, {}, {}, 0};
        const auto found = sent.constFind(digest);
        if (!answered) {
            problem = reply.value(u"error").toString();
        } else if (found == sent.cend()) {
            problem = tr("the node has no decision for this write-off");
        } else {
            fetched.decision = QByteArray::fromBase64(found->value(u"decision").toString().toLatin1());
            const std::optional<Decision> decision = Decision::decode(fetched.decision, &problem);
            if (decision && decision->writeOff.digest() != digest)
                problem = tr("the node sent the certificate of another write-off");
            else if (decision && found->contains(u"proof"))
                problem =
                    checkProof(found->value(u"proof").toObject(), membership.get(), &signedHeaders, &fetched);
        }
        if (!problem.isEmpty()) {
            if (firstProblem.isEmpty())
                firstProblem = tr("%1: %2").arg(QString::fromLatin1(digest.toHex().left(16)), problem);
            ++problems;
            continue;
        }
        proven += fetched.proof.isEmpty() ? 0 : 1;
        good.append(std::move(fetched));
    }
    if (!good.isEmpty() && !store.storeCertificates(good)) {
        if (firstProblem.isEmpty())
            firstProblem = tr("the history cache did not store them: %1").arg(store.lastError());
        problems += int(good.size());
        good.clear();
        proven = 0;
    }
    Q_EMIT certificatesStored(requestId, int(good.size()), proven, problems, firstProblem);
}

QString CacheWorker::checkProof(const QJsonObject &json, const Membership *membership,
                                QSet<QByteArray> *signedHeaders, FetchedCertificate *fetched)
{
    QString problem;
    const std::optional<InclusionProof> proof = InclusionProof::fromJson(json, &problem);
    if (!proof)
        return tr("its block proof does not decode: %1").arg(problem);
    const std::optional<BlockHeader> header = BlockHeader::decode(proof->header, &problem);
    if (!header)
        return tr("its block header does not decode: %1").arg(problem);
    if (membership) {
        problem = proof->verify(fetched->decision, *membership, nullptr, signedHeaders);
    } else {
        const QByteArray root =
            MerkleTree::rootFromPath(MerkleTree::leafHash(fetched->decision), proof->leafIndex,
                                     header->decisionCount, proof->path, &problem);
        if (problem.isEmpty() && root != header->merkleRoot)
            problem = tr("its merkle path does not lead to its block's root");
    }
    if (!problem.isEmpty())
        return tr("its block proof does not hold: %1").arg(problem);
    fetched->proof = QJsonDocument(json).toJson(QJsonDocument::Compact);
    fetched->height = qint64(header->height);
    return {};
}

void CacheWorker::setDecisionHeights(const QHash<QByteArray, qint64> &heights)
{
    for (auto it = heights.begin(); it != heights.end(); ++it)
        store.setDecisionHeight(it.key(), it.value());
}

void CacheWorker::requestNetworkCursors(quint64 requestId, const QString &caSha256, const QString &consortium)
{
    QString error;
    if (!store.bindNetwork(caSha256, consortium, &error)) {
        Q_EMIT networkCursorsReady(requestId, error, {});
        return;
    }
    Q_EMIT networkCursorsReady(requestId, QString(), store.cursors());
}

void CacheWorker::requestFeedCount(quint64 requestId, const FeedFilter &filter, qint64 afterId)
{
    const CountResult result = store.feedCount(filter, afterId);
    Q_EMIT feedCountReady(requestId, result.count, result.upper);
}

void CacheWorker::requestFeedPage(quint64 requestId, const FeedFilter &filter, const PageRequest &page)
{
    Q_EMIT feedPageReady(requestId, page.offset, store.feedPage(filter, page));
}

void CacheWorker::requestDecisionCount(quint64 requestId, const DecisionFilter &filter, qint64 afterMs)
{
    const CountResult result = store.decisionCount(filter, afterMs);
    Q_EMIT decisionCountReady(requestId, result.count, result.upper);
}

void CacheWorker::requestDecisionsPage(quint64 requestId, const DecisionFilter &filter,
                                       const PageRequest &page)
{
    Q_EMIT decisionsPageReady(requestId, page.offset, store.decisionsPage(filter, page));
}

void CacheWorker::requestDecision(quint64 requestId, const QByteArray &digest)
{
    const std::optional<DecisionRow> row = store.decision(digest);
    Q_EMIT decisionReady(requestId, row.value_or(DecisionRow()),
                         row ? store.confirmations(digest) : QList<ConfirmationRow>(), row.has_value());
}

void CacheWorker::requestAlerts(quint64 requestId)
{
    Q_EMIT alertsReady(requestId, store.alerts());
}

void CacheWorker::requestAlertTrail(quint64 requestId, qint64 alertId)
{
    Q_EMIT alertTrailReady(requestId, store.alertTrail(alertId));
}

void CacheWorker::requestReceivers(quint64 requestId)
{
    Q_EMIT receiversReady(requestId, store.receivers());
}

// --- CacheThread --------------------------------------------------------------------------

CacheThread::CacheThread(const QString &path, QObject *parent)
    : QObject(parent), thread(new QThread(this)), cacheWorker(new CacheWorker(path))
{
    thread->setObjectName(QStringLiteral("history-cache"));
    cacheWorker->moveToThread(thread);
}

CacheThread::~CacheThread()
{
    stop();
    delete cacheWorker;
}

void CacheThread::start()
{
    if (thread->isRunning())
        return;
    thread->start();
    QMetaObject::invokeMethod(cacheWorker, &CacheWorker::open, Qt::QueuedConnection);
}

void CacheThread::stop()
{
    if (!thread->isRunning())
        return;
    // Everything queued before this (events, requests) runs first; then the last commit.
    QMetaObject::invokeMethod(cacheWorker, &CacheWorker::shutdown, Qt::BlockingQueuedConnection);
    thread->quit();
    thread->wait();
}

bool CacheThread::isRunning() const
{
    return thread->isRunning();
}

} // namespace ticketsync
