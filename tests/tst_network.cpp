// The ledger network as real processes on loopback: ticketsync-node children started from a
// generated devnet layout, driven through the monitoring API over mutual TLS.
#include "ApiClient.h"
#include "BatchWindow.h"
#include "ChainVerifier.h"
#include "CpuScheduling.h"
#include "DevnetFixture.h"
#include "DevnetLayout.h"
#include "DevnetPki.h"
#include "InclusionProof.h"
#include "JsonObjectWriter.h"
#include "KeyFile.h"
#include "LedgerStore.h"
#include "NodeFrame.h"
#include "NodeJournal.h"
#include "RawWebSocketClient.h"
#include "SampleConsortium.h"
#include "SerialWorker.h"
#include "Sha256.h"
#include "StateConfirmation.h"
#include "TlsIdentity.h"
#include "WriteOffResult.h"

#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QSslSocket>
#include <QSysInfo>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QVersionNumber>
#include <QWebSocket>
#include <csignal>
#include <sched.h>
#include <sqlite3.h>
#include <sys/resource.h>

using namespace ticketsync;

namespace {

constexpr int kWait = DevnetFixture::kWait;

} // namespace

class NetworkTest : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void happyPathReachesEveryReceiver();
    void doubleWriteOffThroughAnotherBranch();
    void doubleWriteOffsWhileTargetsAreDownAreDecidedInOrder();
    void retryOfTheLaterOfTwoUndeterminedWriteOffsRetriesTheEarlierFirst();
    void earlierWriteOffOfAVersionStaysOpenWhileALaterOneIs();
    void oneTargetDownStillDecides();
    void twoTargetsDownIsUndeterminedUntilRetried();
    void silentButConnectedTargetsAreWaitedFor();
    void byzantineTargetCannotForgeADecision();
    void secondLinkOfANodeDoesNotLeaveItOutOfReach();
    void repeatedVoteIsVerifiedOnce();
    void slowTargetIsNotAskedAgain();
    void lostCheckIsAskedAgain();
    void receiverKilledCatchesUp();
    void retryDeliveriesNamesAReceiverThatIsDown();
    void coordinatorKilledLosesNothing();
    void secondNodeOnOneDatabaseIsRefused();
    void clientsAreAuthenticatedAndAuthorized();
    void malformedAndOversizedFrames();
    void overloadedCoordinatorRefusesNewWork();
    void journalKeepsOnlyTheNewestEvents();
    void subscriptionCarriesTheAskedKindsAndNamesGaps();
    void journalKeepsSubmissionsInArrivalOrder();
    void journalStoresTheWritesOfAFailedCommitAgain();
    void nodeFramesRoundTripAndRefuseDamage();
    void serialWorkerKeepsOrder();
    void batchWindowSpacesItsRuns();
    void eventJsonIsWrittenAsQtReadsIt();
    void historyPagesByTicketTimeAndOutcome();
    void decisionIsAnsweredFromTheLedgerWithoutItsJournalRow();
    void sealedWriteOffIsNotTalliedAgainAfterACrash();
    void everyNodeThreadRunsUnderBatchScheduling();
    void retryOfADecidedWriteOffWaitsForItsBlock();
    void journalKeepsTheHeightOfASealedDecision();
    void receiverCatchesUpInFramesItCanTake();
    void checksFitTheTargetsFrameLimit();
    void submitRefusesFieldsOfTheWrongType();
    void historySubscribeAndDigestRefuseBadParameters();
    void errorRepliesCarryTheRequestId();
    void repeatedSubmissionIsAnsweredOnceStored();
    void decisionsComeByThePage();
    void clientThatStopsReadingIsRefusedThenClosed();
    void stoppedReceiverIsPausedClosedAndCatchesUp();
    void decidedWriteOffIsNotTalliedAgainAfterARestart();
    void nextVersionWaitsForTheBlockOfTheLastOne();
    void alreadyAcceptedOnlyOnceStoredAfterAFailedCommit();
    void targetsAreAskedOnlyAboutStoredSubmissions();
    void diskThatTakesNoWritesLosesNothing();
    void stalledSealingRefusesNewWork();
    void operatorCommandsNameABlockTooLargeForAReceiver();
    void resyncedReceiverKeepsGettingNewBlocks();
    void receiverAsksAgainAfterARefusedBatch();
    void catchingUpReceiverIsSentEachBlockOnce();
    void errorFromAChainStoreIsItsLastError();
    void slowSubscriberIsServedNotClosed();
    void blocksStoredWithoutTheirEventsAreAnnouncedOnRestart();
    void blockEventsPrunedAwayAreNotAnnouncedAgain();
    void receiverWhoseJournalFailsTakesNoBlocks();
    void resyncEndsAtARefusedBatch();
    void deferredQueriesAreCheckedAgainstTheUnreadLimit();

private:
    void startNode(const QString &id)
    {
        QString error;
        QVERIFY2(devnet->startNode(id, &error), qPrintable(error));
    }
    void killNode(const QString &id, int signal = SIGKILL) { QVERIFY(devnet->killNode(id, signal)); }
    std::unique_ptr<ApiClient> client(const QString &nodeId, bool auditor = false)
    {
        return devnet->client(nodeId, auditor);
    }
    QJsonObject call(ApiClient &api, const QJsonObject &request) { return DevnetFixture::call(api, request); }
    QJsonObject submit(const QString &branch, int ticketNumber, quint32 version = 1, qint64 amount = -1);
    // Waits until the coordinator's journal holds an outcome for the digest.
    QJsonObject waitForDecision(const QString &digestHex, int timeoutMs = kWait);
    bool waitForHeights(quint64 height, int timeoutMs = kWait);
    // Waits until the branch has its link to the (restarted) coordinator back.
    bool waitForCoordinatorLink(const QString &branch);
    quint64 coordinatorHeight();
    // Waits until every write-off's decision is sealed in a block; returns the highest such block, 0 on
    // timeout. A decision is sealed up to block_interval_ms after it is made.
    quint64 waitUntilSealed(const QStringList &digestHexes, int timeoutMs = kWait);
    // Submits one write-off and waits until it is decided and on every chain store; returns the
    // coordinator's answer to `decision` for it.
    QJsonObject decideAndStore(const QString &branch, int ticketNumber);
    // Verifies a receiver's whole chain from genesis: the decisions on it, or -1 (the reason logged).
    qint64 verifiedDecisionsOn(const QString &receiver);
    // Runs one statement on the stopped coordinator's journal, blobs bound in order: the rows it
    // changed and, for a query, its first column; {-1, -1} if it could not run.
    std::pair<int, qint64> executeOnJournal(const char *sql, const QList<QByteArray> &blobs);
    QString journalPath(const QString &id = QStringLiteral("coordinator-1")) const;
    // Everything a node logged, over all its runs in this test.
    QString nodeLog(const QString &id) const;
    // The same on any SQLite file.
    static std::pair<int, qint64> executeOn(const QString &path, const char *sql,
                                            const QList<QByteArray> &blobs);
    // Opens socket to the coordinator with node id's own certificate, as a hostile process
    // holding its keys would, and says peer_hello. Connect its signals first.
    void connectAsNode(QWebSocket &socket, const QString &id);
    // Stops target-1 and target-2, so that votes signed with target-1's key (returned) are
    // needed for q = 3.
    std::optional<KeyPair> standInForTarget1();
    // Version 1 of ticket T-<number>, signed with branch-2's key, as a branch would send it.
    std::optional<WriteOffResult> branch2WriteOff(int ticketNumber) const;
    // target-1's vote on a write-off, signed with its key, as one node frame.
    // A frame of votes: copies of target-1's one signed vote.
    QByteArray target1Vote(const KeyPair &key, const QByteArray &writeOffDigest, ConfirmationState state,
                           int copies = 1) const;
    // The write-offs in a frame of checks, or none if it is another kind of frame.
    static QList<WriteOffResult> checksIn(const QByteArray &frameBytes);
    // Merges values into a section of a stopped node's configuration file ("limits",
    // "coordinator").
    void reconfigure(const QString &id, const QString &section, const QJsonObject &values);
    // Restarts the coordinator with values merged into its "coordinator" and "limits" sections,
    // and waits until both branches have their links back.
    void restartCoordinator(const QJsonObject &coordinatorValues, const QJsonObject &limitValues = {});
    // A receiver's entry in the coordinator's `receivers` answer.
    QJsonObject receiverEntry(const QString &receiver);
    // Opens socket to a node as the operator, with the JSON replies appended to replies.
    void openAsOperator(QWebSocket &socket, const QString &nodeId, QList<QJsonObject> *replies);
    // An operator's WebSocket to the coordinator spoken by hand, upgraded, with a read buffer of
    // 4 KB: a client that can stop reading.
    void openRawOperatorClient(RawWebSocketClient &raw);
    // count write-offs of tickets firstTicket, firstTicket + 1, …, through branch-2 and branch-1 in
    // turn; their digests.
    QStringList submitThroughBothBranches(int count, int firstTicket);
    // Two write-offs of one ticket version, in the order accepted: the first decided WRITTEN_OFF,
    // the second ALREADY_WRITTEN_OFF (their outcomes and histograms said if not).
    void verifyWrittenOffOnce(const QString &firstDigest, const QString &secondDigest);

    std::unique_ptr<DevnetFixture> devnet;
    const DevnetLayout *layout = nullptr;
    std::unique_ptr<ApiClient> coordinator;
    QHash<QString, ApiClient *> branches;
    std::vector<std::unique_ptr<ApiClient>> owned;
};

void NetworkTest::init()
{
    devnet = std::make_unique<DevnetFixture>();
    DevnetOptions options;
    options.tickets = 500;
    options.voteTimeoutMs = 600;
    options.retryLimit = 1;
    options.retryBackoffMs = 200;
    QString error;
    QVERIFY2(devnet->start(options, &error), qPrintable(error));
    layout = &devnet->layout();
    coordinator = client(QStringLiteral("coordinator-1"));
    for (const QString &branch : layout->idsWithRole(Role::Branch)) {
        owned.push_back(client(branch));
        branches.insert(branch, owned.back().get());
    }
}

void NetworkTest::cleanup()
{
    coordinator.reset();
    branches.clear();
    owned.clear();
    devnet->stopAll();
    if (QTest::currentTestFailed()) {
        // Keep the logs of a failed run for the reader of the CI output.
        for (const DevnetNode &node : layout->nodes)
            qWarning().noquote() << "----" << node.id << "log tail:\n" << devnet->logTail(node.id);
    }
    devnet.reset();
}

QJsonObject NetworkTest::submit(const QString &branch, int ticketNumber, quint32 version, qint64 amount)
{
    return call(*branches.value(branch),
                {{QStringLiteral("type"), QStringLiteral("submit")},
                 {QStringLiteral("ticket"), SampleConsortium::ticketId(ticketNumber)},
                 {QStringLiteral("version"), qint64(version)},
                 {QStringLiteral("amount_minor"),
                  amount < 0 ? SampleConsortium::faceAmountMinor(ticketNumber) : amount},
                 {QStringLiteral("currency"), QStringLiteral("CNY")},
                 {QStringLiteral("reference"), QStringLiteral("test-%1-%2").arg(ticketNumber).arg(branch)}});
}

QJsonObject NetworkTest::waitForDecision(const QString &digestHex, int timeoutMs)
{
    QJsonObject decision;
    (void)QTest::qWaitFor(
        [&] {
            decision = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("decision")},
                                           {QStringLiteral("digest"), digestHex}});
            if (decision.value(u"type").toString() == QLatin1String("decision"))
                return true;
            QTest::qWait(50);
            return false;
        },
        timeoutMs);
    return decision;
}

quint64 NetworkTest::coordinatorHeight()
{
    return quint64(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                       .value(u"height")
                       .toInteger());
}

quint64 NetworkTest::waitUntilSealed(const QStringList &digestHexes, int timeoutMs)
{
    quint64 highest = 0;
    const bool sealed = QTest::qWaitFor(
        [&] {
            highest = 0;
            for (const QString &digest : digestHexes) {
                const qint64 height =
                    call(*coordinator, {{QStringLiteral("type"), QStringLiteral("decision")},
                                        {QStringLiteral("digest"), digest}})
                        .value(u"height")
                        .toInteger();
                if (height < 1)
                    return false;
                highest = qMax(highest, quint64(height));
            }
            return true;
        },
        timeoutMs);
    return sealed ? highest : 0;
}

void NetworkTest::connectAsNode(QWebSocket &socket, const QString &id)
{
    QString error;
    const QString pki = layout->dir + QStringLiteral("/pki/");
    const std::optional<TlsIdentity> identity = TlsIdentity::load(
        pki + id + QStringLiteral(".pem"), pki + id + QStringLiteral(".key"), layout->caPath, &error);
    QVERIFY2(identity, qPrintable(error));
    socket.setSslConfiguration(identity->clientConfiguration());
    socket.open(
        QUrl(QStringLiteral("wss://%1/").arg(layout->node(QStringLiteral("coordinator-1"))->address)));
    QTRY_VERIFY_WITH_TIMEOUT(socket.state() == QAbstractSocket::ConnectedState, kWait);
    socket.sendTextMessage(QStringLiteral("{\"type\":\"peer_hello\",\"height\":0}"));
}

std::optional<WriteOffResult> NetworkTest::branch2WriteOff(int ticketNumber) const
{
    QString error;
    const std::optional<KeyPair> key =
        KeyFile::readSecretKey(layout->dir + QStringLiteral("/keys/branch-2.key"), &error);
    if (!key) {
        qWarning().noquote() << error;
        return std::nullopt;
    }
    WriteOffResult writeOff;
    writeOff.membershipHash = layout->membership.hash();
    writeOff.ticketId = SampleConsortium::ticketId(ticketNumber);
    writeOff.ticketVersion = 1;
    writeOff.amountMinor = SampleConsortium::faceAmountMinor(ticketNumber);
    writeOff.currency = QStringLiteral("CNY");
    writeOff.branchId = QStringLiteral("branch-2");
    writeOff.issuedAtMs = QDateTime::currentMSecsSinceEpoch();
    writeOff.sign(*key);
    return writeOff;
}

std::optional<KeyPair> NetworkTest::standInForTarget1()
{
    if (!devnet->killNode(QStringLiteral("target-1"), SIGKILL) ||
        !devnet->killNode(QStringLiteral("target-2"), SIGKILL))
        return std::nullopt;
    QString error;
    std::optional<KeyPair> key =
        KeyFile::readSecretKey(layout->dir + QStringLiteral("/keys/target-1.key"), &error);
    if (!key)
        qWarning().noquote() << error;
    return key;
}

QByteArray NetworkTest::target1Vote(const KeyPair &key, const QByteArray &writeOffDigest,
                                    ConfirmationState state, int copies) const
{
    StateConfirmation confirmation;
    confirmation.membershipHash = layout->membership.hash();
    confirmation.targetId = QStringLiteral("target-1");
    confirmation.writeOffDigest = writeOffDigest;
    confirmation.setState(state);
    confirmation.sign(key);
    return NodeFrame{NodeFrame::Kind::Confirmation, 0, QList<QByteArray>(copies, confirmation.encode())}
        .encode();
}

QList<WriteOffResult> NetworkTest::checksIn(const QByteArray &frameBytes)
{
    QList<WriteOffResult> writeOffs;
    const std::optional<NodeFrame> frame = NodeFrame::decode(frameBytes, nullptr);
    if (!frame || frame->kind != NodeFrame::Kind::Check)
        return writeOffs;
    for (const QByteArray &item : frame->items) {
        if (std::optional<WriteOffResult> writeOff = WriteOffResult::decode(item))
            writeOffs.append(std::move(*writeOff));
    }
    return writeOffs;
}

void NetworkTest::reconfigure(const QString &id, const QString &section, const QJsonObject &values)
{
    if (values.isEmpty())
        return;
    QFile file(layout->node(id)->configPath);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QJsonObject config = QJsonDocument::fromJson(file.readAll()).object();
    file.close();
    QJsonObject merged = config.value(section).toObject();
    for (auto it = values.begin(); it != values.end(); ++it)
        merged.insert(it.key(), it.value());
    config.insert(section, merged);
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(QJsonDocument(config).toJson());
}

void NetworkTest::restartCoordinator(const QJsonObject &coordinatorValues, const QJsonObject &limitValues)
{
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    reconfigure(QStringLiteral("coordinator-1"), QStringLiteral("coordinator"), coordinatorValues);
    reconfigure(QStringLiteral("coordinator-1"), QStringLiteral("limits"), limitValues);
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    for (const QString &branch : branches.keys())
        QVERIFY(waitForCoordinatorLink(branch));
}

QJsonObject NetworkTest::receiverEntry(const QString &receiver)
{
    const QJsonArray receivers = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("receivers")}})
                                     .value(u"receivers")
                                     .toArray();
    for (const QJsonValue &entry : receivers) {
        if (entry.toObject().value(u"receiver").toString() == receiver)
            return entry.toObject();
    }
    return {};
}

void NetworkTest::openAsOperator(QWebSocket &socket, const QString &nodeId, QList<QJsonObject> *replies)
{
    QString error;
    const std::optional<TlsIdentity> identity =
        TlsIdentity::load(layout->operatorCertificate, layout->operatorKey, layout->caPath, &error);
    QVERIFY2(identity, qPrintable(error));
    socket.setSslConfiguration(identity->clientConfiguration());
    connect(&socket, &QWebSocket::textMessageReceived, this, [replies](const QString &text) {
        replies->append(QJsonDocument::fromJson(text.toUtf8()).object());
    });
    socket.open(QUrl(QStringLiteral("wss://%1/").arg(layout->node(nodeId)->address)));
    QTRY_VERIFY_WITH_TIMEOUT(socket.state() == QAbstractSocket::ConnectedState, kWait);
}

bool NetworkTest::waitForCoordinatorLink(const QString &branch)
{
    return QTest::qWaitFor(
        [&] {
            return call(*branches.value(branch), {{QStringLiteral("type"), QStringLiteral("status")}})
                       .value(u"coordinator_link")
                       .toString() == QLatin1String("up");
        },
        kWait);
}

bool NetworkTest::waitForHeights(quint64 height, int timeoutMs)
{
    return QTest::qWaitFor(
        [&] {
            const QJsonArray receivers =
                call(*coordinator, {{QStringLiteral("type"), QStringLiteral("receivers")}})
                    .value(u"receivers")
                    .toArray();
            for (const QJsonValue &receiver : receivers) {
                if (quint64(receiver.toObject().value(u"acked_height").toInteger()) < height)
                    return false;
            }
            return !receivers.isEmpty();
        },
        timeoutMs);
}

void NetworkTest::happyPathReachesEveryReceiver()
{
    QStringList digests;
    for (int i = 1; i <= 30; ++i) {
        const QJsonObject reply = submit(i % 2 ? QStringLiteral("branch-1") : QStringLiteral("branch-2"), i);
        QCOMPARE(reply.value(u"type").toString(), QStringLiteral("submitted"));
        QCOMPARE(reply.value(u"status").toString(), QStringLiteral("accepted"));
        digests.append(reply.value(u"digest").toString());
    }
    int writtenOff = 0;
    for (qsizetype i = 0; i < digests.size(); ++i) {
        const QJsonObject decision = waitForDecision(digests.at(i));
        QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
        QCOMPARE(decision.value(u"n").toInt(), 4);
        QCOMPARE(decision.value(u"q").toInt(), 3);
        // target-4's stale registry disagrees on some amounts; the other three decide anyway.
        if (decision.value(u"state").toString() == QLatin1String("WRITTEN_OFF"))
            ++writtenOff;
        // The certificate verifies offline.
        const std::optional<Decision> certificate =
            Decision::decode(QByteArray::fromBase64(decision.value(u"decision").toString().toLatin1()));
        QVERIFY(certificate);
        QCOMPARE(certificate->verifyCertificate(layout->membership), QString());
    }
    QCOMPARE(writtenOff, 30);
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(height >= 1);
    QVERIFY(waitForHeights(height));
    // Every store holds the same verified chain.
    QByteArray head;
    for (const DevnetNode &node : layout->nodes) {
        if (!node.roles.testFlag(Role::Receiver) && !node.roles.testFlag(Role::Coordinator))
            continue;
        QString error;
        std::unique_ptr<LedgerStore> store = LedgerStore::open(node.databasePath, &error);
        QVERIFY2(store, qPrintable(error));
        QCOMPARE(store->height(), height);
        const ChainReport report =
            ChainVerifier(layout->membership).verify(Block::genesisPreviousHash(), store->blocks(1, 100000));
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.decisionsVerified, quint64(30));
        if (head.isEmpty())
            head = store->headHash();
        QCOMPARE(store->headHash(), head);
        // And the auditors' tool agrees, on the live store.
        QProcess verify;
        verify.start(QStringLiteral(TICKETSYNC_CLI),
                     {QStringLiteral("verify-chain"), node.databasePath, QStringLiteral("--membership"),
                      layout->membershipPath, QStringLiteral("--json")});
        QVERIFY(verify.waitForFinished(30000));
        QVERIFY2(verify.exitCode() == 0, verify.readAllStandardError().constData());
    }
}

void NetworkTest::doubleWriteOffThroughAnotherBranch()
{
    const QJsonObject first = submit(QStringLiteral("branch-1"), 42);
    QCOMPARE(waitForDecision(first.value(u"digest").toString()).value(u"state").toString(),
             QStringLiteral("WRITTEN_OFF"));
    // Before and after the block reaches the targets, the same ticket version through branch-2.
    const QJsonObject second = submit(QStringLiteral("branch-2"), 42);
    QCOMPARE(second.value(u"status").toString(), QStringLiteral("accepted"));
    QVERIFY(second.value(u"digest").toString() != first.value(u"digest").toString());
    const QJsonObject decision = waitForDecision(second.value(u"digest").toString());
    QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(decision.value(u"state").toString(), QStringLiteral("ALREADY_WRITTEN_OFF"));
    QVERIFY(waitForHeights(waitUntilSealed({second.value(u"digest").toString()})));
    const QJsonObject third = submit(QStringLiteral("branch-2"), 42);
    QCOMPARE(waitForDecision(third.value(u"digest").toString()).value(u"state").toString(),
             QStringLiteral("ALREADY_WRITTEN_OFF"));
    // The next version is a new write-off.
    const QJsonObject next = submit(QStringLiteral("branch-2"), 42, 2);
    QCOMPARE(waitForDecision(next.value(u"digest").toString()).value(u"state").toString(),
             QStringLiteral("WRITTEN_OFF"));
}

void NetworkTest::doubleWriteOffsWhileTargetsAreDownAreDecidedInOrder()
{
    // Two write-offs of each ticket, branch-1's accepted first, while target-1 and target-2 are
    // down: target-3 and target-4 lock the first and answer ALREADY_WRITTEN_OFF to the second.
    // The two that come back must check them in the same order; in any other, they lock the second
    // and split the votes 2-2, so that neither write-off of that ticket is ever decided.
    restartCoordinator({{QStringLiteral("vote_timeout_ms"), 20000}});
    if (QTest::currentTestFailed())
        return;
    killNode(QStringLiteral("target-1"));
    killNode(QStringLiteral("target-2"));
    QStringList firsts;
    QStringList seconds;
    for (int ticket = 300; ticket < 316; ++ticket) {
        const QJsonObject first = submit(QStringLiteral("branch-1"), ticket);
        QCOMPARE(first.value(u"status").toString(), QStringLiteral("accepted"));
        const QJsonObject second = submit(QStringLiteral("branch-2"), ticket);
        QCOMPARE(second.value(u"status").toString(), QStringLiteral("accepted"));
        firsts.append(first.value(u"digest").toString());
        seconds.append(second.value(u"digest").toString());
    }
    startNode(QStringLiteral("target-1"));
    startNode(QStringLiteral("target-2"));
    for (qsizetype i = 0; i < firsts.size(); ++i) {
        verifyWrittenOffOnce(firsts.at(i), seconds.at(i));
        if (QTest::currentTestFailed())
            return;
    }
}

void NetworkTest::retryOfTheLaterOfTwoUndeterminedWriteOffsRetriesTheEarlierFirst()
{
    // Both write-offs of one ticket end UNDETERMINED while target-1 and target-2 are down;
    // target-3 and target-4 locked the first. An operator retries the second only: asked about it
    // alone, the targets that come back would lock it, and neither could ever be decided.
    killNode(QStringLiteral("target-1"));
    killNode(QStringLiteral("target-2"));
    const QString first = submit(QStringLiteral("branch-1"), 320).value(u"digest").toString();
    const QString second = submit(QStringLiteral("branch-2"), 320).value(u"digest").toString();
    QCOMPARE(waitForDecision(first).value(u"outcome").toString(), QStringLiteral("UNDETERMINED"));
    QCOMPARE(waitForDecision(second).value(u"outcome").toString(), QStringLiteral("UNDETERMINED"));
    startNode(QStringLiteral("target-1"));
    startNode(QStringLiteral("target-2"));
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("target-2")).value(u"status").toString(),
                              QStringLiteral("in_sync"), kWait);
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("target-1")).value(u"status").toString(),
                              QStringLiteral("in_sync"), kWait);
    const QJsonObject retried =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("retry_undetermined")},
                            {QStringLiteral("digest"), second}});
    QVERIFY(QTest::qWaitFor(
        [&] {
            return waitForDecision(first, 1000).value(u"outcome").toString() == QLatin1String("DECIDED") &&
                   waitForDecision(second, 1000).value(u"outcome").toString() == QLatin1String("DECIDED");
        },
        kWait));
    QCOMPARE(waitForDecision(first).value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
    QCOMPARE(waitForDecision(second).value(u"state").toString(), QStringLiteral("ALREADY_WRITTEN_OFF"));
    QVERIFY2(retried.value(u"outcome").toString().contains(first),
             QJsonDocument(retried).toJson(QJsonDocument::Compact).constData());
}

void NetworkTest::earlierWriteOffOfAVersionStaysOpenWhileALaterOneIs()
{
    // The first write-off of a ticket runs out of time while target-1 and target-2 are down; the
    // second, accepted 3 s later, has not yet when they come back. Ended, the first would not be
    // asked of them, and they would lock the second where target-3 and target-4 locked the first.
    restartCoordinator({{QStringLiteral("vote_timeout_ms"), 5000}, {QStringLiteral("retry_limit"), 0}});
    if (QTest::currentTestFailed())
        return;
    QTest::qWait(4500); // past the start-up grace, in which no deadline counts
    killNode(QStringLiteral("target-1"));
    killNode(QStringLiteral("target-2"));
    QElapsedTimer since;
    since.start();
    const QString first = submit(QStringLiteral("branch-1"), 330).value(u"digest").toString();
    QTest::qWait(3000);
    const QString second = submit(QStringLiteral("branch-2"), 330).value(u"digest").toString();
    QTest::qWait(int(qMax<qint64>(0, 5500 - since.elapsed())));
    startNode(QStringLiteral("target-1"));
    startNode(QStringLiteral("target-2"));
    verifyWrittenOffOnce(first, second);
}

void NetworkTest::oneTargetDownStillDecides()
{
    killNode(QStringLiteral("target-1"));
    const QJsonObject reply = submit(QStringLiteral("branch-1"), 7);
    const QJsonObject decision = waitForDecision(reply.value(u"digest").toString());
    QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(decision.value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
}

void NetworkTest::twoTargetsDownIsUndeterminedUntilRetried()
{
    killNode(QStringLiteral("target-1"));
    killNode(QStringLiteral("target-2"));
    const QJsonObject reply = submit(QStringLiteral("branch-1"), 11);
    const QString digest = reply.value(u"digest").toString();
    const QJsonObject undetermined = waitForDecision(digest);
    QCOMPARE(undetermined.value(u"outcome").toString(), QStringLiteral("UNDETERMINED"));
    QCOMPARE(undetermined.value(u"missing").toInt(), 2);
    QCOMPARE(coordinatorHeight(), quint64(0)); // never a decision in the ledger
    // Not in a block, so its certificate comes without a block proof.
    const QJsonObject page = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("decisions")},
                                                 {QStringLiteral("digests"), QJsonArray{digest}}});
    QCOMPARE(page.value(u"decisions").toArray().size(), 1);
    const QJsonObject unsealed = page.value(u"decisions").toArray().first().toObject();
    QCOMPARE(unsealed.value(u"height").toInteger(), 0);
    QVERIFY(unsealed.contains(u"decision") && !unsealed.contains(u"proof"));
    startNode(QStringLiteral("target-1"));
    startNode(QStringLiteral("target-2"));
    QTest::qWait(500); // the targets reconnect to the coordinator
    // A write-off decided while it waits is below it in the history once it is decided.
    const QString meanwhile = submit(QStringLiteral("branch-2"), 12).value(u"digest").toString();
    QCOMPARE(waitForDecision(meanwhile).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    const QJsonObject retried =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("retry_undetermined")},
                            {QStringLiteral("digest"), digest}});
    QCOMPARE(retried.value(u"type").toString(), QStringLiteral("command_result"));
    QVERIFY(QTest::qWaitFor(
        [&] {
            return waitForDecision(digest, 1000).value(u"outcome").toString() == QLatin1String("DECIDED");
        },
        kWait));
    QCOMPARE(waitForDecision(digest).value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
    // Newest first, as a client paging down from the top reads it: the outcome it had is gone.
    const QJsonArray newest = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("history")},
                                                  {QStringLiteral("limit"), 3}})
                                  .value(u"rows")
                                  .toArray();
    QCOMPARE(newest.size(), 2);
    QCOMPARE(newest.at(0).toObject().value(u"write_off_digest").toString(), digest);
    QCOMPARE(newest.at(0).toObject().value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(newest.at(1).toObject().value(u"write_off_digest").toString(), meanwhile);
    // Counted by its last outcome: two write-offs, both decided.
    const QJsonObject counters = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                                     .value(u"counters")
                                     .toObject();
    const QByteArray dump = QJsonDocument(counters).toJson(QJsonDocument::Compact);
    QVERIFY2(counters.value(u"submissions").toInteger() == 2 && counters.value(u"decided").toInteger() == 2 &&
                 counters.value(u"undetermined").toInteger() == 0,
             dump.constData());
    // Idempotent: a second retry says it is decided.
    QVERIFY(waitForHeights(1));
    const QJsonObject again =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("retry_undetermined")},
                            {QStringLiteral("digest"), digest}});
    QVERIFY2(again.value(u"outcome").toString().contains(QLatin1String("already decided")),
             QJsonDocument(again).toJson().constData());
}

void NetworkTest::silentButConnectedTargetsAreWaitedFor()
{
    // Two targets answer a first write-off, then stop reading with their connections open, as a
    // target does while it verifies a long catch-up batch of blocks.
    const QJsonObject first = submit(QStringLiteral("branch-1"), 21);
    QCOMPARE(waitForDecision(first.value(u"digest").toString()).value(u"outcome").toString(),
             QStringLiteral("DECIDED"));
    const QStringList silent{QStringLiteral("target-1"), QStringLiteral("target-2")};
    const auto resume = qScopeGuard([&] {
        for (const QString &id : silent)
            devnet->signalNode(id, SIGCONT);
    });
    for (const QString &id : silent)
        QVERIFY(devnet->signalNode(id, SIGSTOP));
    const QJsonObject reply = submit(QStringLiteral("branch-2"), 22);
    const QString digest = reply.value(u"digest").toString();
    // Far past the retry and two vote timeouts (600 ms each here), and past the first 4 s of the
    // coordinator's life, in which no deadline counts: still open, not UNDETERMINED.
    QTest::qWait(6000);
    const QJsonObject pending = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("decision")},
                                                    {QStringLiteral("digest"), digest}});
    QVERIFY2(pending.value(u"type").toString() != QLatin1String("decision"),
             QJsonDocument(pending).toJson(QJsonDocument::Compact).constData());
    for (const QString &id : silent)
        QVERIFY(devnet->signalNode(id, SIGCONT));
    const QJsonObject decision = waitForDecision(digest);
    QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(decision.value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
}

void NetworkTest::byzantineTargetCannotForgeADecision()
{
    // target-1 is replaced by a hostile process holding its real keys and certificate, and
    // target-2 is down, so the hostile votes would be needed to reach q = 3.
    const std::optional<KeyPair> key = standInForTarget1();
    QVERIFY(key);
    QWebSocket hostile;
    QList<QJsonObject> received;
    int checksReceived = 0;
    connect(&hostile, &QWebSocket::textMessageReceived, this,
            [&](const QString &text) { received.append(QJsonDocument::fromJson(text.toUtf8()).object()); });
    // Checks arrive as binary node frames, like a real target gets them.
    connect(&hostile, &QWebSocket::binaryMessageReceived, this, [&](const QByteArray &bytes) {
        const std::optional<NodeFrame> frame = NodeFrame::decode(bytes, nullptr);
        if (!frame || frame->kind != NodeFrame::Kind::Check)
            return;
        ++checksReceived;
        const std::optional<WriteOffResult> writeOff = WriteOffResult::decode(frame->items.value(0));
        // Two conflicting states for the same write-off, both validly signed, then three more in
        // one frame, which prove nothing new and are not verified.
        QList<QByteArray> more;
        for (const ConfirmationState state :
             {ConfirmationState::AmountMismatch, ConfirmationState::WrittenOff,
              ConfirmationState::UnknownTicket, ConfirmationState::TicketFrozen,
              ConfirmationState::AlreadyWrittenOff}) {
            StateConfirmation confirmation;
            confirmation.membershipHash = layout->membership.hash();
            confirmation.targetId = QStringLiteral("target-1");
            confirmation.writeOffDigest = writeOff->digest();
            confirmation.setState(state);
            confirmation.sign(*key);
            if (state == ConfirmationState::AmountMismatch || state == ConfirmationState::WrittenOff)
                hostile.sendBinaryMessage(
                    NodeFrame{NodeFrame::Kind::Confirmation, 0, {confirmation.encode()}}.encode());
            else
                more.append(confirmation.encode());
        }
        hostile.sendBinaryMessage(NodeFrame{NodeFrame::Kind::Confirmation, 0, more}.encode());
    });
    connectAsNode(hostile, QStringLiteral("target-1"));
    if (QTest::currentTestFailed())
        return;
    // Garbage of both kinds, and a vote (in the JSON form) on a write-off nobody submitted.
    hostile.sendTextMessage(QStringLiteral("{not json"));
    hostile.sendBinaryMessage(QByteArray("TSNF\x01\x09garbage"));
    StateConfirmation unsolicited;
    unsolicited.membershipHash = layout->membership.hash();
    unsolicited.targetId = QStringLiteral("target-1");
    unsolicited.writeOffDigest = QByteArray(32, '\x5a');
    unsolicited.setState(ConfirmationState::WrittenOff);
    unsolicited.sign(*key);
    hostile.sendTextMessage(
        QString::fromUtf8(QJsonDocument(QJsonObject{{QStringLiteral("type"), QStringLiteral("confirmation")},
                                                    {QStringLiteral("confirmation"),
                                                     QString::fromLatin1(unsolicited.encode().toBase64())}})
                              .toJson(QJsonDocument::Compact)));
    QTRY_VERIFY_WITH_TIMEOUT(received.size() >= 4, kWait);
    // And a frame of 2000 more on write-offs nobody submitted: refused without a verify each, and
    // with one error and one event for the frame, so that a faulty target cannot cheaply push the
    // evidence against it out of the journal's events.
    const qint64 seqBefore = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                                 .value(u"last_seq")
                                 .toInteger();
    QList<QByteArray> unasked;
    for (int i = 0; i < 2000; ++i) {
        unsolicited.writeOffDigest = QByteArray(30, '\x5b') + char(i >> 8) + char(i & 0xff);
        unsolicited.sign(*key);
        unasked.append(unsolicited.encode());
    }
    hostile.sendBinaryMessage(NodeFrame{NodeFrame::Kind::Confirmation, 0, unasked}.encode());
    const auto neverSubmitted = [&] {
        return std::count_if(received.cbegin(), received.cend(), [](const QJsonObject &message) {
            return message.value(u"error").toString().contains(QLatin1String("never submitted"));
        });
    };
    QTRY_VERIFY_WITH_TIMEOUT(neverSubmitted() >= 2, kWait);
    QTest::qWait(300);
    QCOMPARE(neverSubmitted(), 2);
    QVERIFY2(received.last().value(u"error").toString().contains(QLatin1String("2000 votes")),
             QJsonDocument(received.last()).toJson(QJsonDocument::Compact).constData());
    const QJsonObject refusedStatus =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}});
    QCOMPARE(refusedStatus.value(u"last_seq").toInteger(), seqBefore + 1);
    const QJsonObject refusedCounters = refusedStatus.value(u"counters").toObject();
    QCOMPARE(refusedCounters.value(u"rejected_confirmations").toInteger(), qint64(2001));
    QCOMPARE(refusedCounters.value(u"votes_verified").toInteger(), qint64(0));
    QStringList errors;
    for (const QJsonObject &message : std::as_const(received)) {
        if (message.value(u"type").toString() == QLatin1String("error"))
            errors.append(message.value(u"error").toString());
    }
    QVERIFY2(errors.join(u'|').contains(QLatin1String("not valid JSON")), qPrintable(errors.join(u'|')));
    QVERIFY2(errors.join(u'|').contains(QLatin1String("malformed node frame")),
             qPrintable(errors.join(u'|')));
    QVERIFY2(errors.join(u'|').contains(QLatin1String("never submitted")), qPrintable(errors.join(u'|')));

    coordinator->subscribe(1);
    QList<QJsonObject> events;
    connect(coordinator.get(), &ApiClient::eventReceived, this,
            [&](const QJsonObject &event) { events.append(event); });
    const QJsonObject reply = submit(QStringLiteral("branch-1"), 99);
    const QJsonObject decision = waitForDecision(reply.value(u"digest").toString());
    // The equivocator is left out of the count, so the two honest votes cannot decide.
    QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("UNDETERMINED"));
    QCOMPARE(decision.value(u"equivocating").toInt(), 1);
    QVERIFY(checksReceived >= 1);
    QCOMPARE(decision.value(u"histogram").toObject().value(u"WRITTEN_OFF").toInt(), 2);
    QCOMPARE(coordinatorHeight(), quint64(0));
    QTRY_VERIFY_WITH_TIMEOUT(
        std::any_of(events.cbegin(), events.cend(),
                    [](const QJsonObject &event) {
                        return event.value(u"kind").toString() == QLatin1String("equivocation") &&
                               event.value(u"target").toString() == QLatin1String("target-1") &&
                               !event.value(u"first").toString().isEmpty() &&
                               !event.value(u"second").toString().isEmpty();
                    }),
        kWait);
    // Two of target-1's votes were verified, the other three of every answer were not; with the
    // honest votes of target-3 and target-4, 4 verifies in all, however often it was asked.
    auto counter = [&](const char *name) {
        return call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
            .value(u"counters")
            .toObject()
            .value(QLatin1StringView(name))
            .toInteger();
    };
    QTRY_COMPARE_WITH_TIMEOUT(counter("excess_votes"), qint64(3 * checksReceived), kWait);
    QCOMPARE(counter("votes_verified"), qint64(4));
    // The node kept serving everyone else.
    QCOMPARE(call(*branches.value(QStringLiteral("branch-2")),
                  {{QStringLiteral("type"), QStringLiteral("status")}})
                 .value(u"type")
                 .toString(),
             QStringLiteral("status"));
}

void NetworkTest::secondLinkOfANodeDoesNotLeaveItOutOfReach()
{
    // A second link under target-4's certificate (a tool, or a node that dialled again before its
    // old link was seen to die) that then closes must not leave target-4 out of reach while its
    // own link looks up from its side: with target-1 down, every write-off needs it.
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("target-4")).value(u"status").toString(),
                              QStringLiteral("in_sync"), kWait);
    killNode(QStringLiteral("target-1"));
    {
        QWebSocket second;
        connectAsNode(second, QStringLiteral("target-4"));
        if (QTest::currentTestFailed())
            return;
        QTest::qWait(500);
    }
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("target-4")).value(u"status").toString(),
                              QStringLiteral("in_sync"), kWait);
    const QJsonObject decision =
        waitForDecision(submit(QStringLiteral("branch-1"), 17).value(u"digest").toString());
    QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(decision.value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
}

void NetworkTest::repeatedVoteIsVerifiedOnce()
{
    // target-1 answers every check with the same signed vote four times: twice in one frame, as a
    // hostile target could to make the coordinator verify it again and again, then in two more
    // frames, as a target asked again by a coordinator that is behind would. target-2 is down, so
    // that vote is needed for q = 3.
    const std::optional<KeyPair> key = standInForTarget1();
    QVERIFY(key);
    QWebSocket repeating;
    int checksReceived = 0;
    connect(&repeating, &QWebSocket::binaryMessageReceived, this, [&](const QByteArray &bytes) {
        for (const WriteOffResult &writeOff : checksIn(bytes)) {
            ++checksReceived;
            repeating.sendBinaryMessage(
                target1Vote(*key, writeOff.digest(), ConfirmationState::WrittenOff, 2));
            const QByteArray vote = target1Vote(*key, writeOff.digest(), ConfirmationState::WrittenOff);
            for (int copy = 0; copy < 2; ++copy)
                repeating.sendBinaryMessage(vote);
        }
    });
    connectAsNode(repeating, QStringLiteral("target-1"));
    if (QTest::currentTestFailed())
        return;

    const QString digest = submit(QStringLiteral("branch-1"), 99).value(u"digest").toString();
    const QJsonObject decision = waitForDecision(digest);
    QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(decision.value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
    QCOMPARE(decision.value(u"histogram").toObject().value(u"WRITTEN_OFF").toInt(), 3);
    QCOMPARE(decision.value(u"equivocating").toInt(), 0);
    QVERIFY(checksReceived >= 1);
    // Every copy after the first was dropped before the verify thread, not verified and then
    // found to be a duplicate.
    QTRY_COMPARE_WITH_TIMEOUT(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                                  .value(u"counters")
                                  .toObject()
                                  .value(u"duplicate_votes")
                                  .toInteger(),
                              qint64(3 * checksReceived), kWait);
}

void NetworkTest::slowTargetIsNotAskedAgain()
{
    // target-1 works through its checks in order, one every 250 ms, so most write-offs reach
    // their last retry (600 ms here) while it is still answering older ones. target-2 is down,
    // so target-1's votes are needed for q = 3.
    const std::optional<KeyPair> key = standInForTarget1();
    QVERIFY(key);
    QWebSocket slow;
    QList<QByteArray> queued; // write-off digests, in the order the checks came
    QHash<QByteArray, int> checks;
    connect(&slow, &QWebSocket::binaryMessageReceived, this, [&](const QByteArray &bytes) {
        for (const WriteOffResult &writeOff : checksIn(bytes)) {
            ++checks[writeOff.digest()];
            queued.append(writeOff.digest());
        }
    });
    QTimer answerNext;
    connect(&answerNext, &QTimer::timeout, this, [&] {
        if (!queued.isEmpty())
            slow.sendBinaryMessage(target1Vote(*key, queued.takeFirst(), ConfirmationState::WrittenOff));
    });
    connectAsNode(slow, QStringLiteral("target-1"));
    if (QTest::currentTestFailed())
        return;
    // Past the coordinator's first 4 s, in which no deadline counts.
    QTest::qWait(4000);
    answerNext.start(250);
    QStringList digests;
    for (const int ticket : {330, 331, 332, 335, 336, 337}) // target-4's stale records agree on these
        digests.append(submit(QStringLiteral("branch-1"), ticket).value(u"digest").toString());
    for (const QString &digest : std::as_const(digests)) {
        const QJsonObject decision = waitForDecision(digest);
        QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
        QCOMPARE(decision.value(u"histogram").toObject().value(u"WRITTEN_OFF").toInt(), 3);
    }
    // Each check was sent once: the retries found target-1 answering older checks, so behind.
    QCOMPARE(checks.size(), digests.size());
    for (auto it = checks.cbegin(); it != checks.cend(); ++it)
        QVERIFY2(it.value() == 1, qPrintable(QStringLiteral("write-off %1 was checked %2 times")
                                                 .arg(QString::fromLatin1(it.key().toHex()))
                                                 .arg(it.value())));
}

void NetworkTest::lostCheckIsAskedAgain()
{
    // target-1 drops the first check it gets and answers every other one at once, as a target
    // that failed to store an answer would: the coordinator sees later checks answered and asks
    // for the lost one again at its last retry.
    const std::optional<KeyPair> key = standInForTarget1();
    QVERIFY(key);
    QWebSocket lossy;
    QHash<QByteArray, int> checks;
    bool dropped = false;
    connect(&lossy, &QWebSocket::binaryMessageReceived, this, [&](const QByteArray &bytes) {
        for (const WriteOffResult &writeOff : checksIn(bytes)) {
            ++checks[writeOff.digest()];
            if (!std::exchange(dropped, true))
                continue;
            lossy.sendBinaryMessage(target1Vote(*key, writeOff.digest(), ConfirmationState::WrittenOff));
        }
    });
    connectAsNode(lossy, QStringLiteral("target-1"));
    if (QTest::currentTestFailed())
        return;
    QTest::qWait(4000); // past the coordinator's first 4 s, in which no deadline counts
    const QString lost = submit(QStringLiteral("branch-1"), 320).value(u"digest").toString();
    QTRY_VERIFY_WITH_TIMEOUT(dropped, kWait);
    const QString answered = submit(QStringLiteral("branch-1"), 321).value(u"digest").toString();
    for (const QString &digest : {lost, answered})
        QCOMPARE(waitForDecision(digest, 10000).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(checks.value(QByteArray::fromHex(lost.toLatin1())), 2);
    QCOMPARE(checks.value(QByteArray::fromHex(answered.toLatin1())), 1);
}

void NetworkTest::receiverKilledCatchesUp()
{
    for (int i = 1; i <= 10; ++i)
        submit(QStringLiteral("branch-1"), 100 + i);
    QTest::qWait(300);
    killNode(QStringLiteral("receiver-1"));
    QStringList digests;
    for (int i = 11; i <= 40; ++i)
        digests.append(submit(QStringLiteral("branch-2"), 100 + i).value(u"digest").toString());
    for (const QString &digest : std::as_const(digests))
        QCOMPARE(waitForDecision(digest).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(height >= 1);
    startNode(QStringLiteral("receiver-1"));
    QVERIFY(waitForHeights(height));
    QByteArray heads[2];
    int i = 0;
    for (const QString &id : {QStringLiteral("receiver-1"), QStringLiteral("receiver-2")}) {
        QString error;
        std::unique_ptr<LedgerStore> store = LedgerStore::open(layout->node(id)->databasePath, &error);
        QVERIFY2(store, qPrintable(error));
        QCOMPARE(store->height(), height);
        heads[i++] = store->headHash();
    }
    QCOMPARE(heads[0], heads[1]);
}

void NetworkTest::retryDeliveriesNamesAReceiverThatIsDown()
{
    // An operator asks because something looks wrong: a receiver that is down is named, even when
    // no block was sealed since it went.
    QVERIFY(waitForHeights(
        waitUntilSealed({submit(QStringLiteral("branch-1"), 31).value(u"digest").toString()})));
    killNode(QStringLiteral("receiver-2"));
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-2")).value(u"status").toString(),
                              QStringLiteral("unreachable"), kWait);
    const QJsonObject result =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("retry_deliveries")}});
    const QByteArray dump = QJsonDocument(result).toJson(QJsonDocument::Compact);
    QVERIFY2(result.value(u"unreachable").toArray() == QJsonArray{QStringLiteral("receiver-2")},
             dump.constData());
    QVERIFY2(result.value(u"outcome").toString().contains(QLatin1String("unreachable: receiver-2")),
             dump.constData());
    QVERIFY2(result.value(u"retried").toArray().isEmpty(), dump.constData());
}

void NetworkTest::coordinatorKilledLosesNothing()
{
    QStringList digests;
    for (int i = 1; i <= 40; ++i) {
        const QJsonObject reply =
            submit(i % 2 ? QStringLiteral("branch-1") : QStringLiteral("branch-2"), 200 + i);
        QCOMPARE(reply.value(u"status").toString(), QStringLiteral("accepted"));
        digests.append(reply.value(u"digest").toString());
        if (i == 30)
            killNode(QStringLiteral("coordinator-1"));
        if (i >= 30)
            break; // submissions after the kill are refused, not lost
    }
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    for (const QString &digest : std::as_const(digests))
        QCOMPARE(waitForDecision(digest).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(height >= 1);
    QVERIFY(waitForHeights(height));
    // Exactly once each on the chain.
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-2")), qint64(digests.size()));
}

void NetworkTest::secondNodeOnOneDatabaseIsRefused()
{
    // A copy of the coordinator's configuration on another port: the same ledger and journal,
    // which two nodes would each sign and store into as if alone.
    const DevnetNode *node = layout->node(QStringLiteral("coordinator-1"));
    QFile file(node->configPath);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QJsonObject config = QJsonDocument::fromJson(file.readAll()).object();
    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost));
    config.insert(QStringLiteral("listen"), QStringLiteral("127.0.0.1:%1").arg(probe.serverPort()));
    probe.close();
    const QString copyPath = QFileInfo(node->configPath).dir().filePath(QStringLiteral("second.json"));
    QFile copy(copyPath);
    QVERIFY(copy.open(QIODevice::WriteOnly));
    copy.write(QJsonDocument(config).toJson());
    copy.close();
    QProcess second;
    second.start(QStringLiteral(TICKETSYNC_NODE), {QStringLiteral("--config"), copyPath});
    QVERIFY(second.waitForFinished(kWait));
    const QString said = QString::fromUtf8(second.readAllStandardError());
    QVERIFY2(second.exitCode() != 0, qPrintable(said));
    QVERIFY2(said.contains(QStringLiteral("is in use by another node (process %1")
                               .arg(devnet->pid(QStringLiteral("coordinator-1")))),
             qPrintable(said));
    // The first goes on, and after a SIGKILL its lock is taken over by its restart.
    QCOMPARE(
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}}).value(u"type").toString(),
        QStringLiteral("status"));
    killNode(QStringLiteral("coordinator-1"));
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    QVERIFY(waitForCoordinatorLink(QStringLiteral("branch-1")));
    const QJsonObject decision =
        waitForDecision(submit(QStringLiteral("branch-1"), 23).value(u"digest").toString());
    QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
}

void NetworkTest::clientsAreAuthenticatedAndAuthorized()
{
    // An auditor reads but may not act.
    std::unique_ptr<ApiClient> auditor = client(QStringLiteral("coordinator-1"), true);
    QVERIFY(auditor && auditor->isConnected());
    QCOMPARE(auditor->welcome().value(u"client_role").toString(), QStringLiteral("auditor"));
    QCOMPARE(
        call(*auditor, {{QStringLiteral("type"), QStringLiteral("receivers")}}).value(u"type").toString(),
        QStringLiteral("receivers"));
    const QJsonObject refused =
        call(*auditor, {{QStringLiteral("type"), QStringLiteral("retry_deliveries")}});
    QCOMPARE(refused.value(u"type").toString(), QStringLiteral("error"));
    QVERIFY2(refused.value(u"error").toString().contains(QLatin1String("operators")),
             qPrintable(refused.value(u"error").toString()));
    std::unique_ptr<ApiClient> auditorAtBranch = client(QStringLiteral("branch-1"), true);
    QCOMPARE(call(*auditorAtBranch, {{QStringLiteral("type"), QStringLiteral("submit")},
                                     {QStringLiteral("ticket"), SampleConsortium::ticketId(1)},
                                     {QStringLiteral("amount_minor"), SampleConsortium::faceAmountMinor(1)}})
                 .value(u"type")
                 .toString(),
             QStringLiteral("error"));
    // The operator may.
    QCOMPARE(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("retry_deliveries")}})
                 .value(u"type")
                 .toString(),
             QStringLiteral("command_result"));

    // A certificate from another CA never gets a connection.
    QTemporaryDir foreign;
    QString error;
    QVERIFY2(DevnetPki::ensure(foreign.path(), QStringLiteral("elsewhere"),
                               {{QStringLiteral("operator-1"), PartyKind::Operator}}, QStringLiteral("x"),
                               &error),
             qPrintable(error));
    const std::optional<TlsIdentity> stranger =
        TlsIdentity::load(foreign.filePath(QStringLiteral("operator-1.pem")),
                          foreign.filePath(QStringLiteral("operator-1.key")),
                          foreign.filePath(QStringLiteral("ca.pem")), &error);
    QVERIFY2(stranger, qPrintable(error));
    QWebSocket socket;
    socket.setSslConfiguration(stranger->clientConfiguration());
    QSignalSpy connected(&socket, &QWebSocket::connected);
    QSignalSpy disconnected(&socket, &QWebSocket::disconnected);
    socket.open(
        QUrl(QStringLiteral("wss://%1/").arg(layout->node(QStringLiteral("coordinator-1"))->address)));
    QTRY_VERIFY_WITH_TIMEOUT(disconnected.size() > 0 || socket.state() == QAbstractSocket::UnconnectedState,
                             kWait);
    QCOMPARE(connected.size(), 0);
}

void NetworkTest::malformedAndOversizedFrames()
{
    QString error;
    const std::optional<TlsIdentity> identity =
        TlsIdentity::load(layout->operatorCertificate, layout->operatorKey, layout->caPath, &error);
    QVERIFY2(identity, qPrintable(error));
    QWebSocket socket;
    socket.setSslConfiguration(identity->clientConfiguration());
    QList<QJsonObject> replies;
    connect(&socket, &QWebSocket::textMessageReceived, this,
            [&](const QString &text) { replies.append(QJsonDocument::fromJson(text.toUtf8()).object()); });
    socket.open(
        QUrl(QStringLiteral("wss://%1/").arg(layout->node(QStringLiteral("coordinator-1"))->address)));
    QTRY_VERIFY_WITH_TIMEOUT(socket.state() == QAbstractSocket::ConnectedState, kWait);
    socket.sendTextMessage(QStringLiteral("[1,2,3]"));
    socket.sendTextMessage(QStringLiteral("{\"type\": 5}"));
    socket.sendTextMessage(QStringLiteral("{\"type\":\"no_such_thing\",\"id\":7}"));
    socket.sendTextMessage(QStringLiteral("{\"type\":\"decision\",\"id\":8,\"digest\":\"zz\"}"));
    socket.sendBinaryMessage(QByteArray(16, '\0'));
    QTRY_VERIFY_WITH_TIMEOUT(replies.size() >= 5, kWait);
    QStringList texts;
    for (const QJsonObject &reply : std::as_const(replies)) {
        QCOMPARE(reply.value(u"type").toString(), QStringLiteral("error"));
        texts.append(reply.value(u"error").toString());
    }
    QVERIFY2(texts.at(0).contains(QLatin1String("JSON object")), qPrintable(texts.at(0)));
    QVERIFY2(texts.at(1).contains(QLatin1String("'type'")), qPrintable(texts.at(1)));
    QVERIFY2(texts.at(2).contains(QLatin1String("no_such_thing")), qPrintable(texts.at(2)));
    QVERIFY2(texts.at(3).contains(QLatin1String("digest")), qPrintable(texts.at(3)));
    QVERIFY2(texts.at(4).contains(QLatin1String("binary")), qPrintable(texts.at(4)));
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);

    // A frame over the limit closes that connection only.
    QSignalSpy closed(&socket, &QWebSocket::disconnected);
    socket.sendTextMessage(QString(5 * 1024 * 1024, u'x'));
    QTRY_VERIFY_WITH_TIMEOUT(closed.size() > 0, kWait);
    // A replayed submission is recognised, not decided twice.
    const QJsonObject first = submit(QStringLiteral("branch-1"), 300);
    QCOMPARE(waitForDecision(first.value(u"digest").toString()).value(u"outcome").toString(),
             QStringLiteral("DECIDED"));
    QCOMPARE(
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}}).value(u"type").toString(),
        QStringLiteral("status"));
}

QTEST_GUILESS_MAIN(NetworkTest)
void NetworkTest::overloadedCoordinatorRefusesNewWork()
{
    // Two targets down: no tally can finish. The coordinator may hold three open at once.
    killNode(QStringLiteral("target-1"));
    killNode(QStringLiteral("target-2"));
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    const QString configPath = layout->node(QStringLiteral("coordinator-1"))->configPath;
    QFile file(configPath);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QJsonObject config = QJsonDocument::fromJson(file.readAll()).object();
    file.close();
    QJsonObject coordinatorConfig = config.value(u"coordinator").toObject();
    coordinatorConfig.insert(QStringLiteral("max_open_tallies"), 3);
    coordinatorConfig.insert(QStringLiteral("vote_timeout_ms"), 20000);
    config.insert(QStringLiteral("coordinator"), coordinatorConfig);
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(QJsonDocument(config).toJson());
    file.close();
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    QVERIFY(waitForCoordinatorLink(QStringLiteral("branch-1")));

    QStringList accepted;
    for (int i = 1; i <= 3; ++i) {
        const QJsonObject reply = submit(QStringLiteral("branch-1"), 300 + i);
        QCOMPARE(reply.value(u"status").toString(), QStringLiteral("accepted"));
        accepted.append(reply.value(u"digest").toString());
    }
    const QJsonObject refused = submit(QStringLiteral("branch-1"), 304);
    QCOMPARE(refused.value(u"type").toString(), QStringLiteral("error"));
    QVERIFY2(refused.value(u"error").toString().contains(QLatin1String("busy")),
             qPrintable(refused.value(u"error").toString()));
    const QJsonObject status = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}});
    QCOMPARE(status.value(u"counters").toObject().value(u"refused_busy").toInteger(), 1);
    QCOMPARE(status.value(u"queues").toObject().value(u"open_tallies").toInteger(), 3);

    // A branch that floods a busy coordinator is refused before anything is verified, so the
    // verify thread's queue stays bounded: these items would not even decode.
    killNode(QStringLiteral("branch-2"));
    QWebSocket flooder;
    QList<QJsonObject> answers; // errors and submitted replies, not the welcome
    int binaryFrames = 0;
    connect(&flooder, &QWebSocket::textMessageReceived, this, [&](const QString &text) {
        const QJsonObject message = QJsonDocument::fromJson(text.toUtf8()).object();
        if (message.value(u"type").toString() != QLatin1String("welcome"))
            answers.append(message);
    });
    connect(&flooder, &QWebSocket::binaryMessageReceived, this, [&](const QByteArray &) { ++binaryFrames; });
    connectAsNode(flooder, QStringLiteral("branch-2"));
    if (QTest::currentTestFailed())
        return;
    flooder.sendBinaryMessage(
        NodeFrame{NodeFrame::Kind::SubmitWriteOff, 1000, QList<QByteArray>(20, QByteArray("not a write-off"))}
            .encode());
    QTRY_COMPARE_WITH_TIMEOUT(answers.size(), 20, kWait);
    for (qsizetype i = 0; i < answers.size(); ++i) {
        QCOMPARE(answers.at(i).value(u"id").toInteger(), 1000 + i);
        QVERIFY2(answers.at(i).value(u"error").toString().contains(QLatin1String("busy")),
                 qPrintable(answers.at(i).value(u"error").toString()));
    }
    const QJsonObject flooded = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}});
    QCOMPARE(flooded.value(u"counters").toObject().value(u"refused_busy").toInteger(), 21);
    QCOMPARE(flooded.value(u"queues").toObject().value(u"verify_batches").toInteger(), 0);

    // Once the targets are back the accepted ones are decided and room opens up again.
    startNode(QStringLiteral("target-1"));
    startNode(QStringLiteral("target-2"));
    for (const QString &digest : std::as_const(accepted))
        QCOMPARE(waitForDecision(digest).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QVERIFY(waitUntilSealed(accepted) > 0); // decisions waiting for their block count too
    QCOMPARE(submit(QStringLiteral("branch-1"), 304).value(u"status").toString(), QStringLiteral("accepted"));

    // The flooder announced no node protocol, like a branch from before the Submitted frame:
    // a write-off it sends in a binary frame is answered in JSON.
    const std::optional<WriteOffResult> signedByBranch2 = branch2WriteOff(305);
    QVERIFY(signedByBranch2);
    const WriteOffResult &writeOff = *signedByBranch2;
    answers.clear();
    flooder.sendBinaryMessage(NodeFrame{NodeFrame::Kind::SubmitWriteOff, 2000, {writeOff.encode()}}.encode());
    QTRY_COMPARE_WITH_TIMEOUT(answers.size(), 1, kWait);
    QCOMPARE(answers.first().value(u"type").toString(), QStringLiteral("submitted"));
    QCOMPARE(answers.first().value(u"id").toInteger(), 2000);
    QCOMPARE(answers.first().value(u"status").toString(), QStringLiteral("accepted"));
    QCOMPARE(answers.first().value(u"digest").toString(), QString::fromLatin1(writeOff.digest().toHex()));
    QCOMPARE(binaryFrames, 0);
    flooder.close();
}

void NetworkTest::journalKeepsOnlyTheNewestEvents()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("node.events"));
    QString error;
    std::unique_ptr<NodeJournal> journal = NodeJournal::open(path, &error);
    QVERIFY2(journal, qPrintable(error));
    constexpr int kEvents = 30000;
    constexpr qint64 kKeep = 1000;
    for (int i = 1; i <= kEvents; ++i) {
        const JournalEvent event =
            journal->appendEvent(QStringLiteral("test"), "{\"n\":" + QByteArray::number(i) + '}', 1000 + i);
        QCOMPARE(event.seq, qint64(i));
        if (i % 100 == 0) {
            journal->pruneEvents(kKeep);
            QVERIFY2(journal->commit(&error), qPrintable(error));
        }
    }
    // Pruning goes in bounded steps; enough of them reach the limit and stop there.
    for (int step = 0; step < 10; ++step)
        journal->pruneEvents(kKeep);
    QVERIFY2(journal->commit(&error), qPrintable(error));
    QCOMPARE(journal->firstSeq(), qint64(kEvents) - kKeep + 1);
    const QList<JournalEvent> oldest = journal->events(1, 5);
    QCOMPARE(oldest.size(), 5);
    QCOMPARE(oldest.first().seq, journal->firstSeq());
    const QJsonObject frame = QJsonDocument::fromJson(oldest.first().frame).object();
    QCOMPARE(frame.value(u"type").toString(), QStringLiteral("event"));
    QCOMPARE(frame.value(u"kind").toString(), QStringLiteral("test"));
    QCOMPARE(oldest.first().kind, QStringLiteral("test"));
    QCOMPARE(frame.value(u"seq").toInteger(), journal->firstSeq());
    QCOMPARE(frame.value(u"n").toInteger(), journal->firstSeq());

    // Reopened, it knows where its stream starts and goes on after its last event.
    journal.reset();
    journal = NodeJournal::open(path, &error);
    QVERIFY2(journal, qPrintable(error));
    QCOMPARE(journal->firstSeq(), qint64(kEvents) - kKeep + 1);
    QCOMPARE(journal->lastSeq(), qint64(kEvents));
    QCOMPARE(journal->events(1, 100000).size(), kKeep);
}

void NetworkTest::subscriptionCarriesTheAskedKindsAndNamesGaps()
{
    // A misspelt filter is refused by name, not answered with a quiet stream.
    const QJsonObject misspelt =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("subscribe")},
                            {QStringLiteral("kinds"),
                             QJsonArray{QStringLiteral("decision_made"), QStringLiteral("decisions")}}});
    QCOMPARE(misspelt.value(u"type").toString(), QStringLiteral("error"));
    QVERIFY2(misspelt.value(u"error").toString().contains(
                 QLatin1String("kinds[1]: 'decisions' is not an event kind (one of block_appended,")),
             qPrintable(misspelt.value(u"error").toString()));
    const QJsonObject empty = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("subscribe")},
                                                  {QStringLiteral("kinds"), QJsonArray{}}});
    QVERIFY2(empty.value(u"error").toString().contains(QLatin1String("non-empty array")),
             qPrintable(empty.value(u"error").toString()));

    // Events the journal dropped while nobody watched: 1500 more than it keeps.
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    qint64 firstKept = 0;
    {
        const QFileInfo ledger(layout->node(QStringLiteral("coordinator-1"))->databasePath);
        QString error;
        std::unique_ptr<NodeJournal> journal = NodeJournal::open(
            ledger.dir().filePath(ledger.completeBaseName() + QStringLiteral(".events")), &error);
        QVERIFY2(journal, qPrintable(error));
        for (int i = 0; i < 2500; ++i)
            QVERIFY(journal->appendEvent(QStringLiteral("operator_command"), "{}", 1000 + i).seq > 0);
        journal->pruneEvents(1000);
        QVERIFY2(journal->commit(&error), qPrintable(error));
        firstKept = journal->firstSeq();
        QVERIFY(firstKept > 2);
    }
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    QVERIFY(coordinator->isConnected());

    QList<QJsonObject> events;
    QList<std::pair<qint64, qint64>> gaps;
    connect(coordinator.get(), &ApiClient::eventReceived, this,
            [&](const QJsonObject &event) { events.append(event); });
    connect(coordinator.get(), &ApiClient::gap, this, [&](qint64 from, qint64 to) {
        gaps.append({from, to});
    });
    coordinator->subscribe(2, {QStringLiteral("decision_made")});
    QTRY_COMPARE_WITH_TIMEOUT(gaps.size(), 1, kWait);
    QCOMPARE(gaps.first(), std::make_pair(qint64(2), firstKept - 1));

    QVERIFY(waitForCoordinatorLink(QStringLiteral("branch-1")));
    const QString digest = submit(QStringLiteral("branch-1"), 17).value(u"digest").toString();
    QCOMPARE(waitForDecision(digest).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QVERIFY(waitUntilSealed({digest}) >= 1);
    QTRY_VERIFY_WITH_TIMEOUT(!events.isEmpty(), kWait);
    // The block holding it is journaled by now; only the decision came through.
    QTest::qWait(200);
    QCOMPARE(events.size(), 1);
    QCOMPARE(events.first().value(u"kind").toString(), QStringLiteral("decision_made"));
    QCOMPARE(events.first().value(u"write_off_digest").toString(), digest);
    QVERIFY(events.first().value(u"seq").toInteger() > firstKept + 1000);
    QCOMPARE(gaps.size(), 1);
}

void NetworkTest::journalKeepsSubmissionsInArrivalOrder()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("node.events"));
    // A schema-1 journal, as nodes before this one wrote it: submissions keyed by digest.
    {
        sqlite3 *db = nullptr;
        QCOMPARE(sqlite3_open(path.toUtf8().constData(), &db), SQLITE_OK);
        const char *v1 =
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, kind TEXT NOT NULL, "
            "body TEXT NOT NULL);"
            "CREATE TABLE submissions (digest BLOB PRIMARY KEY, write_off BLOB NOT NULL, received_ms INTEGER "
            "NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, undetermined INTEGER NOT NULL DEFAULT 0) WITHOUT "
            "ROWID;"
            "INSERT INTO submissions VALUES (x'02', x'bb', 2000, 3, 1), (x'01', x'aa', 1000, 0, 0);"
            "PRAGMA user_version = 1;";
        QCOMPARE(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);
    }
    auto pending = [](NodeJournal &journal) {
        QStringList rows;
        QString readError;
        const QList<PendingSubmission> stored = journal.pendingSubmissions(&readError);
        if (!readError.isEmpty())
            return readError;
        for (const PendingSubmission &row : stored)
            rows.append(
                QStringLiteral("%1:%2:%3:%4:%5")
                    .arg(QString::fromLatin1(row.digest.toHex()), QString::fromLatin1(row.writeOff.toHex()))
                    .arg(row.receivedMs)
                    .arg(row.attempts)
                    .arg(row.undetermined));
        return rows.join(u' ');
    };
    QString error;
    std::unique_ptr<NodeJournal> journal = NodeJournal::open(path, &error);
    QVERIFY2(journal, qPrintable(error));
    QCOMPARE(pending(*journal), QStringLiteral("01:aa:1000:0:0 02:bb:2000:3:1"));
    QVERIFY(journal->hasSubmission(QByteArray::fromHex("02")));

    // A digest already stored is not stored twice; removal and updates find rows by digest.
    journal->putSubmission(QByteArray::fromHex("03"), QByteArray::fromHex("cc"), 3000);
    journal->putSubmission(QByteArray::fromHex("01"), QByteArray::fromHex("ff"), 4000);
    journal->updateSubmission(QByteArray::fromHex("03"), 2, true);
    journal->removeSubmission(QByteArray::fromHex("01"));
    journal->removeSubmission(QByteArray::fromHex("99")); // never stored: nothing happens
    QVERIFY2(journal->commit(&error), qPrintable(error));
    QVERIFY(!journal->hasSubmission(QByteArray::fromHex("01")));
    QCOMPARE(pending(*journal), QStringLiteral("02:bb:2000:3:1 03:cc:3000:2:1"));

    journal.reset();
    journal = NodeJournal::open(path, &error);
    QVERIFY2(journal, qPrintable(error));
    QCOMPARE(pending(*journal), QStringLiteral("02:bb:2000:3:1 03:cc:3000:2:1"));
    QVERIFY(journal->hasSubmission(QByteArray::fromHex("03")));
    QVERIFY(!journal->hasSubmission(QByteArray::fromHex("01")));
    journal->putSubmission(QByteArray::fromHex("01"), QByteArray::fromHex("dd"), 5000);
    QVERIFY2(journal->commit(&error), qPrintable(error));
    QCOMPARE(pending(*journal), QStringLiteral("02:bb:2000:3:1 03:cc:3000:2:1 01:dd:5000:0:0"));
    journal.reset();

    sqlite3 *db = nullptr;
    QCOMPARE(sqlite3_open(path.toUtf8().constData(), &db), SQLITE_OK);
    auto scalar = [db](const char *sql) {
        sqlite3_stmt *statement = nullptr;
        sqlite3_prepare_v2(db, sql, -1, &statement, nullptr);
        const QString value =
            sqlite3_step(statement) == SQLITE_ROW
                ? QString::fromUtf8(reinterpret_cast<const char *>(sqlite3_column_text(statement, 0)))
                : QString();
        sqlite3_finalize(statement);
        return value;
    };
    QCOMPARE(scalar("PRAGMA user_version"), QString::number(NodeJournal::kSchemaVersion));
    QCOMPARE(scalar("PRAGMA integrity_check"), QStringLiteral("ok"));
    sqlite3_close(db);
}

void NetworkTest::journalStoresTheWritesOfAFailedCommitAgain()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("node.events"));
    QString error;
    std::unique_ptr<NodeJournal> journal = NodeJournal::open(path, &error);
    QVERIFY2(journal, qPrintable(error));
    const QByteArray first = QByteArray::fromHex("01");
    const QByteArray second = QByteArray::fromHex("02");
    QCOMPARE(journal->appendEvent(QStringLiteral("test"), "{\"n\":1}", 1001).seq, 1);
    journal->putSubmission(first, QByteArray::fromHex("aa"), 1000);
    journal->recordDecision(first, QStringLiteral("T-1"), 1, QStringLiteral("DECIDED"), 1, 1001,
                            "decision 1");
    QVERIFY2(journal->commit(&error), qPrintable(error));

    // While fail_writes has a row, any transaction that stores an event is rolled back, as a
    // full disk would have it.
    QCOMPARE(executeOn(path, "CREATE TABLE fail_writes(x)", {}).first, 0);
    QVERIFY(
        executeOn(path,
                  "CREATE TRIGGER fail_event BEFORE INSERT ON events WHEN EXISTS (SELECT 1 FROM fail_writes) "
                  "BEGIN SELECT RAISE(ROLLBACK, 'injected failure'); END",
                  {})
            .first >= 0);
    QCOMPARE(executeOn(path, "INSERT INTO fail_writes VALUES (1)", {}).first, 1);

    journal->putSubmission(second, QByteArray::fromHex("bb"), 2000);
    QCOMPARE(journal->appendEvent(QStringLiteral("test"), "{\"n\":2}", 2001).seq, 2);
    journal->updateSubmission(first, 3, true);
    journal->recordDecision(second, QStringLiteral("T-2"), 1, QStringLiteral("DECIDED"), 1, 2001,
                            "decision 2");
    journal->markSealed(first, 7);
    QVERIFY(!journal->commit(&error));
    QVERIFY2(error.contains(QLatin1String("injected failure")), qPrintable(error));
    QCOMPARE(journal->unstoredWrites(), 5);
    // Reads see what is durable; the writes wait, and more join them under the next numbers.
    QCOMPARE(journal->events(1, 10).size(), 1);
    QCOMPARE(journal->pendingSubmissions(&error).size(), 1);
    QVERIFY(journal->hasSubmission(second));
    QCOMPARE(journal->appendEvent(QStringLiteral("test"), "{\"n\":3}", 3001).seq, 3);
    journal->removeSubmission(second);
    QVERIFY(!journal->commit(&error));
    QCOMPARE(journal->unstoredWrites(), 7);

    // The disk takes writes again: the next commit stores every one of them, once.
    QCOMPARE(executeOn(path, "DELETE FROM fail_writes", {}).first, 1);
    QVERIFY2(journal->commit(&error), qPrintable(error));
    QCOMPARE(journal->unstoredWrites(), 0);
    journal.reset();
    journal = NodeJournal::open(path, &error);
    QVERIFY2(journal, qPrintable(error));
    const QList<JournalEvent> events = journal->events(1, 10);
    QCOMPARE(events.size(), 3);
    for (qsizetype i = 0; i < events.size(); ++i) {
        QCOMPARE(events.at(i).seq, i + 1);
        QCOMPARE(QJsonDocument::fromJson(events.at(i).frame).object().value(u"n").toInteger(), i + 1);
    }
    QCOMPARE(journal->lastSeq(), 3);
    const QList<PendingSubmission> pending = journal->pendingSubmissions(&error);
    QCOMPARE(pending.size(), 1);
    QCOMPARE(pending.first().digest, first);
    QCOMPARE(pending.first().attempts, 3);
    QVERIFY(pending.first().undetermined);
    quint64 height = 0;
    QCOMPARE(journal->decisionBytes(first, &height), QByteArray());
    QCOMPARE(height, quint64(7));
    QCOMPARE(journal->decisionBytes(second, &height), QByteArray("decision 2"));
    QCOMPARE(height, quint64(0));
}

void NetworkTest::eventJsonIsWrittenAsQtReadsIt()
{
    // Events are written by hand for speed; whatever a ticket id or reason holds, a client
    // must read back exactly the values that went in.
    QString awkward = QStringLiteral("quote \" backslash \\ slash / 票据核销 tab\t newline\n");
    for (char16_t c = 0; c < 0x20; ++c)
        awkward.append(QChar(c));
    awkward.append(QChar(0x7f)).append(QStringLiteral("\U0001F600"));
    const QByteArray json = JsonObjectWriter()
                                .add(QLatin1StringView("text"), awkward)
                                .add(QLatin1StringView("empty"), QString())
                                .add(QLatin1StringView("big"), std::numeric_limits<qint64>::min())
                                .addAscii(QLatin1StringView("hex"), QByteArrayLiteral("00ff"))
                                .addAsciiArray(QLatin1StringView("list"), {"a", "b\"c"})
                                .addAsciiArray(QLatin1StringView("none"), {})
                                .addJson(QLatin1StringView("nested"),
                                         JsonObjectWriter().add(QLatin1StringView("WRITTEN_OFF"), 3).finish())
                                .finish();
    QJsonParseError error;
    const QJsonObject object = QJsonDocument::fromJson(json, &error).object();
    QVERIFY2(error.error == QJsonParseError::NoError,
             qPrintable(error.errorString() + u' ' + QString::fromUtf8(json)));
    QCOMPARE(object.value(u"text").toString(), awkward);
    QCOMPARE(object.value(u"empty").toString(QStringLiteral("missing")), QString());
    QCOMPARE(object.value(u"big").toInteger(), std::numeric_limits<qint64>::min());
    QCOMPARE(object.value(u"hex").toString(), QStringLiteral("00ff"));
    QCOMPARE(object.value(u"list").toArray(), (QJsonArray{QStringLiteral("a"), QStringLiteral("b\"c")}));
    QCOMPARE(object.value(u"none").toArray(), QJsonArray());
    QCOMPARE(object.value(u"nested").toObject(), (QJsonObject{{QStringLiteral("WRITTEN_OFF"), 3}}));
    QCOMPARE(object.size(), 7);
    QCOMPARE(JsonObjectWriter().finish(), QByteArrayLiteral("{}"));
}

void NetworkTest::batchWindowSpacesItsRuns()
{
    int runs = 0;
    BatchWindow window([&runs] { ++runs; });
    // After a quiet spell work goes out at the end of this turn of the event loop, not after the
    // spacing (a minute here).
    window.schedule(60000);
    QVERIFY(window.isPending());
    QTRY_COMPARE_WITH_TIMEOUT(runs, 1, 10000);
    QVERIFY(!window.isPending());
    // Work within the spacing waits for it, and shares one run.
    window.schedule(60000);
    window.schedule(60000);
    QTest::qWait(50);
    QCOMPARE(runs, 1);
    QVERIFY(window.isPending());
    // A shorter spacing brings that run forward; the longer one does not put it back.
    window.schedule(100);
    window.schedule(60000);
    QTRY_COMPARE_WITH_TIMEOUT(runs, 2, 10000);
    QVERIFY(!window.isPending());
    // A run forced from outside counts: the next work waits out the spacing from it.
    QTest::qWait(150);
    window.ran();
    window.schedule(60000);
    QTest::qWait(50);
    QCOMPARE(runs, 2);
}

void NetworkTest::serialWorkerKeepsOrder()
{
    // The coordinator's votes must reach the tallies in the order they arrived, although each
    // batch is verified on the worker's thread and batches take different times.
    QList<int> delivered;
    QSet<Qt::HANDLE> workThreads;
    {
        SerialWorker worker(QStringLiteral("test-worker"));
        for (int i = 0; i < 200; ++i) {
            worker.run<int>(
                [i, &workThreads] {
                    workThreads.insert(QThread::currentThreadId()); // only ever the worker's thread
                    if (i % 17 == 0)
                        QThread::usleep(2000);
                    return i;
                },
                [&delivered](int value) {
                    QCOMPARE(QThread::currentThread(), qApp->thread());
                    delivered.append(value);
                });
        }
        QCOMPARE(worker.pending(), 200);
        QTRY_COMPARE(delivered.size(), 200);
        QCOMPARE(worker.pending(), 0);
        QCOMPARE(workThreads.size(), 1);
        QVERIFY(!workThreads.contains(QThread::currentThreadId()));
        for (int i = 0; i < 200; ++i)
            QCOMPARE(delivered.at(i), i);

        // Destroyed with work still queued: it stops cleanly and hands nothing back afterwards.
        for (int i = 0; i < 50; ++i)
            worker.run<int>(
                [] {
                    QThread::usleep(1000);
                    return 0;
                },
                [&delivered](int) { delivered.append(-1); });
    }
    QCoreApplication::processEvents();
    QTest::qWait(20);
    QVERIFY(!delivered.contains(-1));
}

void NetworkTest::nodeFramesRoundTripAndRefuseDamage()
{
    const NodeFrame frame{NodeFrame::Kind::Blocks,
                          1234567890123ULL,
                          {QByteArray("first"), QByteArray(), QByteArray(70000, '\x7f')}};
    const QByteArray bytes = frame.encode();
    QString error;
    const std::optional<NodeFrame> decoded = NodeFrame::decode(bytes, &error);
    QVERIFY2(decoded, qPrintable(error));
    QCOMPARE(int(decoded->kind), int(NodeFrame::Kind::Blocks));
    QCOMPARE(decoded->header, frame.header);
    QCOMPARE(decoded->items, frame.items);
    // Cut anywhere, it is refused with a reason, never read short.
    for (qsizetype length = 0; length < bytes.size(); length += length < 64 ? 1 : 997) {
        error.clear();
        QVERIFY2(!NodeFrame::decode(bytes.left(length), &error), qPrintable(QString::number(length)));
        QVERIFY2(error.startsWith(QLatin1String("malformed node frame")), qPrintable(error));
    }
    QByteArray trailing = bytes + "x";
    QVERIFY(!NodeFrame::decode(trailing, &error));
    QByteArray wrongKind = bytes;
    wrongKind[5] = 9;
    QVERIFY(!NodeFrame::decode(wrongKind, &error));
    QVERIFY2(error.contains(QLatin1String("kind 9")), qPrintable(error));
    QByteArray tooMany = NodeFrame{NodeFrame::Kind::Check, 0, {}}.encode();
    tooMany[tooMany.size() - 1] = '\x10'; // claims 16 items, holds none
    QVERIFY(!NodeFrame::decode(tooMany, &error));

    // The coordinator's answers to a branch, one item per write-off.
    const SubmittedReply reply{(qint64(1) << 40) + 7, SubmittedReply::Status::Decided, 0x0102,
                               sha256(QByteArrayLiteral("a write-off"))};
    const std::optional<SubmittedReply> back = SubmittedReply::decode(reply.encode(), &error);
    QVERIFY2(back, qPrintable(error));
    QCOMPARE(back->requestId, reply.requestId);
    QCOMPARE(int(back->status), int(reply.status));
    QCOMPARE(back->state, reply.state);
    QCOMPARE(back->digest, reply.digest);
    QVERIFY(!SubmittedReply::decode(reply.encode().chopped(1), &error));
    QVERIFY2(error.startsWith(QLatin1String("malformed submitted item")), qPrintable(error));
    QByteArray badStatus = reply.encode();
    badStatus[8] = 4;
    QVERIFY(!SubmittedReply::decode(badStatus, &error));
    QVERIFY2(error.contains(QLatin1String("status 4")), qPrintable(error));
}

void NetworkTest::historyPagesByTicketTimeAndOutcome()
{
    const qint64 startedMs = QDateTime::currentMSecsSinceEpoch();
    QSet<QString> digests;
    for (int i = 0; i < 12; ++i) {
        const QJsonObject reply =
            submit(i % 2 ? QStringLiteral("branch-1") : QStringLiteral("branch-2"), 400 + i);
        QCOMPARE(reply.value(u"status").toString(), QStringLiteral("accepted"));
        digests.insert(reply.value(u"digest").toString());
    }
    // The same ticket again through the other branch: a second decision for one ticket.
    const QJsonObject again = submit(QStringLiteral("branch-1"), 400);
    digests.insert(again.value(u"digest").toString());
    for (const QString &digest : std::as_const(digests))
        QCOMPARE(waitForDecision(digest).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QVERIFY(waitForHeights(waitUntilSealed(digests.values())));

    auto history = [&](ApiClient &api, QJsonObject request) {
        request.insert(QStringLiteral("type"), QStringLiteral("history"));
        return call(api, request);
    };
    // Pages of 5, newest first, each starting below the last id of the one before: from the
    // coordinator's journal, and from the ledger of a receiver and of a target.
    std::unique_ptr<ApiClient> receiver = client(QStringLiteral("receiver-1"));
    std::unique_ptr<ApiClient> target = client(QStringLiteral("target-2"));
    for (ApiClient *api : {coordinator.get(), receiver.get(), target.get()}) {
        QSet<QString> paged;
        qint64 beforeId = 0;
        for (int page = 0; page < 4; ++page) {
            const QJsonObject reply =
                history(*api, {{QStringLiteral("limit"), 5}, {QStringLiteral("before_id"), beforeId}});
            QCOMPARE(reply.value(u"type").toString(), QStringLiteral("history"));
            const QJsonArray rows = reply.value(u"rows").toArray();
            QCOMPARE(rows.size(), page < 2 ? 5 : (page == 2 ? 3 : 0));
            for (const QJsonValue &row : rows) {
                const qint64 id = row.toObject().value(u"id").toInteger();
                QVERIFY(beforeId == 0 || id < beforeId);
                beforeId = id;
                QCOMPARE(row.toObject().value(u"outcome").toString(), QStringLiteral("DECIDED"));
                QVERIFY(row.toObject().value(u"at_ms").toInteger() >= startedMs);
                paged.insert(row.toObject().value(u"write_off_digest").toString());
            }
        }
        QCOMPARE(paged, digests);
        QCOMPARE(history(*api, {{QStringLiteral("outcome"), QStringLiteral("UNDETERMINED")}})
                     .value(u"rows")
                     .toArray()
                     .size(),
                 0);
        QCOMPARE(history(*api, {{QStringLiteral("to_ms"), startedMs - 1}}).value(u"rows").toArray().size(),
                 0);
    }

    const QJsonArray byTicket =
        history(*coordinator, {{QStringLiteral("ticket"), SampleConsortium::ticketId(400)}})
            .value(u"rows")
            .toArray();
    QCOMPARE(byTicket.size(), 2);
    QSet<QString> states;
    for (const QJsonValue &row : byTicket)
        states.insert(stateName(quint16(row.toObject().value(u"state").toInteger())));
    QCOMPARE(states, (QSet<QString>{QStringLiteral("WRITTEN_OFF"), QStringLiteral("ALREADY_WRITTEN_OFF")}));
    QCOMPARE(history(*coordinator, {{QStringLiteral("outcome"), QStringLiteral("DECIDED")}})
                 .value(u"rows")
                 .toArray()
                 .size(),
             13);
    QCOMPARE(history(*coordinator, {{QStringLiteral("outcome"), QStringLiteral("UNDETERMINED")}})
                 .value(u"rows")
                 .toArray()
                 .size(),
             0);
    QCOMPARE(
        history(*coordinator, {{QStringLiteral("from_ms"), startedMs - 1}}).value(u"rows").toArray().size(),
        13);
    QCOMPARE(
        history(*coordinator, {{QStringLiteral("to_ms"), startedMs - 1}}).value(u"rows").toArray().size(), 0);
    const QJsonObject refused = history(*coordinator, {{QStringLiteral("outcome"), QStringLiteral("MAYBE")}});
    QCOMPARE(refused.value(u"type").toString(), QStringLiteral("error"));

    // A receiver's history is what it stored, with the block of each decision.
    const QJsonArray stored =
        history(*receiver, {{QStringLiteral("ticket"), SampleConsortium::ticketId(400)}})
            .value(u"rows")
            .toArray();
    QCOMPARE(stored.size(), 2);
    for (const QJsonValue &row : stored)
        QVERIFY(row.toObject().value(u"height").toInteger() >= 1);
}

QJsonObject NetworkTest::decideAndStore(const QString &branch, int ticketNumber)
{
    const QString digest = submit(branch, ticketNumber).value(u"digest").toString();
    if (waitForDecision(digest).value(u"outcome").toString() != QLatin1String("DECIDED"))
        return {};
    const quint64 height = waitUntilSealed({digest});
    if (height == 0 || !waitForHeights(height))
        return {};
    return call(*coordinator,
                {{QStringLiteral("type"), QStringLiteral("decision")}, {QStringLiteral("digest"), digest}});
}

qint64 NetworkTest::verifiedDecisionsOn(const QString &receiver)
{
    QString error;
    const std::unique_ptr<LedgerStore> store =
        LedgerStore::open(layout->node(receiver)->databasePath, &error);
    if (!store) {
        qWarning() << receiver << error;
        return -1;
    }
    const ChainReport report =
        ChainVerifier(layout->membership).verify(Block::genesisPreviousHash(), store->blocks(1, 100000));
    if (!report.ok) {
        qWarning() << receiver << report.error;
        return -1;
    }
    return qint64(report.decisionsVerified);
}

std::pair<int, qint64> NetworkTest::executeOnJournal(const char *sql, const QList<QByteArray> &blobs)
{
    return executeOn(journalPath(), sql, blobs);
}

QString NetworkTest::journalPath(const QString &id) const
{
    const QFileInfo ledger(layout->node(id)->databasePath);
    return ledger.dir().filePath(ledger.completeBaseName() + QStringLiteral(".events"));
}

QString NetworkTest::nodeLog(const QString &id) const
{
    QFile log(QFileInfo(layout->node(id)->configPath).dir().filePath(QStringLiteral("node.log")));
    return log.open(QIODevice::ReadOnly) ? QString::fromUtf8(log.readAll()) : QString();
}

std::pair<int, qint64> NetworkTest::executeOn(const QString &path, const char *sql,
                                              const QList<QByteArray> &blobs)
{
    std::pair<int, qint64> result{-1, -1};
    sqlite3 *db = nullptr;
    sqlite3_stmt *statement = nullptr;
    if (sqlite3_open_v2(path.toUtf8().constData(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK) {
        for (int i = 0; i < blobs.size(); ++i)
            sqlite3_bind_blob(statement, i + 1, blobs.at(i).constData(), int(blobs.at(i).size()),
                              SQLITE_TRANSIENT);
        const int rc = sqlite3_step(statement);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            result = {sqlite3_changes(db), rc == SQLITE_ROW ? sqlite3_column_int64(statement, 0) : -1};
    }
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return result;
}

void NetworkTest::decisionIsAnsweredFromTheLedgerWithoutItsJournalRow()
{
    const QJsonObject stored = decideAndStore(QStringLiteral("branch-1"), 450);
    const QString digest = stored.value(u"write_off_digest").toString();
    const qint64 height = stored.value(u"height").toInteger();
    QVERIFY(height >= 1);

    // The journal loses its row, as a crash between the ledger's commit and the journal's could.
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    const QByteArray raw = QByteArray::fromHex(digest.toLatin1());
    QCOMPARE(executeOnJournal("DELETE FROM decisions WHERE digest = ?1", {raw}).first, 1);
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));

    // The ledger is the record: the decision and its certificate are still answered.
    const QJsonObject decision = waitForDecision(digest);
    QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(decision.value(u"height").toInteger(), height);
    const std::optional<Decision> certificate =
        Decision::decode(QByteArray::fromBase64(decision.value(u"decision").toString().toLatin1()));
    QVERIFY(certificate);
    QCOMPARE(certificate->verifyCertificate(layout->membership), QString());
}

void NetworkTest::sealedWriteOffIsNotTalliedAgainAfterACrash()
{
    const QJsonObject stored = decideAndStore(QStringLiteral("branch-1"), 460);
    const QString digest = stored.value(u"write_off_digest").toString();
    const qint64 height = stored.value(u"height").toInteger();
    QVERIFY(height >= 1);
    const QByteArray decisionBytes = QByteArray::fromBase64(stored.value(u"decision").toString().toLatin1());
    const std::optional<Decision> decision = Decision::decode(decisionBytes);
    QVERIFY(decision);

    // The journal as a crash right after the ledger's commit leaves it: the decision not yet
    // marked sealed and the submission still pending.
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    const QByteArray raw = QByteArray::fromHex(digest.toLatin1());
    QCOMPARE(
        executeOnJournal("UPDATE decisions SET height = 0, data = ?1 WHERE digest = ?2", {decisionBytes, raw})
            .first,
        1);
    QCOMPARE(executeOnJournal("INSERT INTO submissions(digest, write_off, received_ms) VALUES (?1, ?2, 0)",
                              {raw, decision->writeOff.encode()})
                 .first,
             1);
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));

    // The history, read from the journal, has the decision at its block's height again.
    const QJsonObject page =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("history")},
                            {QStringLiteral("ticket"), SampleConsortium::ticketId(460)}});
    QCOMPARE(page.value(u"type").toString(), QStringLiteral("history"));
    const QJsonArray rows = page.value(u"rows").toArray();
    QCOMPARE(rows.size(), 1);
    QCOMPARE(rows.first().toObject().value(u"write_off_digest").toString(), digest);
    QCOMPARE(rows.first().toObject().value(u"height").toInteger(), height);

    // A write-off submitted after the restart is decided once every target is back; a second
    // tally of the sealed one, had it started, would have been decided before it.
    // The branch is refused until it has dialled the coordinator again.
    QJsonObject accepted;
    QVERIFY(QTest::qWaitFor(
        [&] {
            accepted = submit(QStringLiteral("branch-2"), 461);
            if (accepted.value(u"status").toString() == QLatin1String("accepted"))
                return true;
            QTest::qWait(100);
            return false;
        },
        kWait));
    const QString later = accepted.value(u"digest").toString();
    QCOMPARE(waitForDecision(later).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QVERIFY(waitForHeights(waitUntilSealed({later})));
    const QJsonObject status = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}});
    QCOMPARE(status.value(u"counters").toObject().value(u"decided").toInteger(), 1);
    const QJsonObject after = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("decision")},
                                                  {QStringLiteral("digest"), digest}});
    QCOMPARE(after.value(u"height").toInteger(), height);
    QCOMPARE(after.value(u"outcome").toString(), QStringLiteral("DECIDED"));

    // Exactly once on the chain, and no longer pending in the journal.
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-2")), qint64(2));
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    QCOMPARE(executeOnJournal("SELECT COUNT(*) FROM submissions WHERE digest = ?1", {raw}).second, 0);
}

void NetworkTest::everyNodeThreadRunsUnderBatchScheduling()
{
    // One write-off first, so the coordinator's verify thread and the nodes' pools exist.
    const QJsonObject reply = submit(QStringLiteral("branch-1"), 1);
    QCOMPARE(reply.value(u"status").toString(), QStringLiteral("accepted"));
    waitForDecision(reply.value(u"digest").toString());
    // Linux reports a task's own slice from 6.12 on; before, it has none and reads 0.
    const QVersionNumber kernel = QVersionNumber::fromString(QSysInfo::kernelVersion());
    const quint64 expectedSliceNs = kernel >= QVersionNumber(6, 12) ? 10000000 : 0;
    for (const DevnetNode &node : layout->nodes) {
        const qint64 pid = devnet->pid(node.id);
        QVERIFY2(pid > 0, qPrintable(node.id));
        const QStringList tasks =
            QDir(QStringLiteral("/proc/%1/task").arg(pid)).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        QVERIFY2(!tasks.isEmpty(), qPrintable(node.id));
        for (const QString &task : tasks) {
            const QString where = QStringLiteral("%1, thread %2").arg(node.id, task);
            const std::optional<ThreadScheduling> scheduling = readCpuScheduling(task.toLongLong());
            QVERIFY2(scheduling, qPrintable(where));
            QVERIFY2(scheduling->policy == SCHED_BATCH, qPrintable(where));
            QVERIFY2(scheduling->sliceNs == expectedSliceNs,
                     qPrintable(QStringLiteral("%1: slice %2 ns").arg(where).arg(scheduling->sliceNs)));
        }
    }
}

void NetworkTest::retryOfADecidedWriteOffWaitsForItsBlock()
{
    // Blocks sealed 4 s after their first decision: a write-off stays decided and unsealed long
    // enough for an operator to press "retry" on it.
    restartCoordinator({{QStringLiteral("block_interval_ms"), 4000}});
    if (QTest::currentTestFailed())
        return;
    const QString digest = submit(QStringLiteral("branch-1"), 470).value(u"digest").toString();
    const QJsonObject decided = waitForDecision(digest);
    QCOMPARE(decided.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(decided.value(u"height").toInteger(), 0);

    // Not UNDETERMINED, so nothing is tallied again, however often it is asked.
    for (int attempt = 0; attempt < 3; ++attempt) {
        const QJsonObject retried =
            call(*coordinator, {{QStringLiteral("type"), QStringLiteral("retry_undetermined")},
                                {QStringLiteral("digest"), digest}});
        QCOMPARE(retried.value(u"type").toString(), QStringLiteral("command_result"));
        QVERIFY2(retried.value(u"outcome").toString() ==
                     QLatin1String("already decided WRITTEN_OFF, waiting for its block; nothing to retry"),
                 QJsonDocument(retried).toJson(QJsonDocument::Compact).constData());
    }

    // Its block is sealed and reaches every store, with the decision in it once.
    const quint64 height = waitUntilSealed({digest});
    QVERIFY(height >= 1);
    QVERIFY(waitForHeights(height));
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-2")), qint64(1));
    const QJsonObject again =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("retry_undetermined")},
                            {QStringLiteral("digest"), digest}});
    QCOMPARE(again.value(u"outcome").toString(),
             QStringLiteral("already decided WRITTEN_OFF at height %1; nothing to retry").arg(height));
    const QJsonObject counters = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                                     .value(u"counters")
                                     .toObject();
    QCOMPARE(counters.value(u"decided").toInteger(), 1);
    QCOMPARE(counters.value(u"decisions_set_aside").toInteger(), 0);
    QCOMPARE(waitForDecision(digest).value(u"height").toInteger(), qint64(height));

    // The next write-off is sealed as well: sealing never stalled.
    const QString next = submit(QStringLiteral("branch-2"), 471).value(u"digest").toString();
    QCOMPARE(waitForDecision(next).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QVERIFY(waitForHeights(waitUntilSealed({next})));
}

void NetworkTest::journalKeepsTheHeightOfASealedDecision()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QString error;
    std::unique_ptr<NodeJournal> journal =
        NodeJournal::open(dir.filePath(QStringLiteral("node.events")), &error);
    QVERIFY2(journal, qPrintable(error));
    const QByteArray digest(32, '\x11');
    journal->recordDecision(digest, QStringLiteral("T-000001"), 1, QStringLiteral("DECIDED"), 1, 1000,
                            "first");
    journal->markSealed(digest, 7);
    // A second outcome for the same write-off, say from a tally that should never have run again.
    journal->recordDecision(digest, QStringLiteral("T-000001"), 1, QStringLiteral("DECIDED"), 1, 2000,
                            "second");
    QVERIFY2(journal->commit(&error), qPrintable(error));
    quint64 height = 0;
    const std::optional<QByteArray> bytes = journal->decisionBytes(digest, &height);
    QVERIFY(bytes);
    QCOMPARE(height, quint64(7));
    QCOMPARE(*bytes, QByteArray()); // its block holds it
    // Before it is sealed, a later outcome replaces the earlier one.
    const QByteArray other(32, '\x22');
    journal->recordDecision(other, QStringLiteral("T-000002"), 1, QStringLiteral("UNDETERMINED"), 0, 1000,
                            "a");
    journal->recordDecision(other, QStringLiteral("T-000002"), 1, QStringLiteral("DECIDED"), 1, 2000, "b");
    QVERIFY2(journal->commit(&error), qPrintable(error));
    QCOMPARE(journal->decisionBytes(other, &height).value_or(QByteArray()), QByteArray("b"));
    QCOMPARE(height, quint64(0));
}

void NetworkTest::receiverCatchesUpInFramesItCanTake()
{
    // Blocks of at most two decisions, so that thirty write-offs make many small blocks; receiver-1
    // takes frames of up to 16 KiB, less than they come to together, and receiver-2 of 1 KiB, less
    // than one block of two decisions.
    killNode(QStringLiteral("receiver-1"), SIGTERM);
    killNode(QStringLiteral("receiver-2"), SIGTERM);
    reconfigure(QStringLiteral("receiver-1"), QStringLiteral("limits"),
                {{QStringLiteral("max_frame_bytes"), 16384}});
    reconfigure(QStringLiteral("receiver-2"), QStringLiteral("limits"),
                {{QStringLiteral("max_frame_bytes"), 1024}});
    restartCoordinator({{QStringLiteral("block_max_decisions"), 2}});
    if (QTest::currentTestFailed())
        return;
    QStringList digests;
    digests.append(submitThroughBothBranches(30, 480));
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(height >= 15);
    qint64 chainBytes = 0;
    {
        QString error;
        std::unique_ptr<LedgerStore> store =
            LedgerStore::open(layout->node(QStringLiteral("receiver-3"))->databasePath, &error);
        QVERIFY2(store, qPrintable(error));
        QTRY_COMPARE_WITH_TIMEOUT(store->height(), height, kWait);
        for (const Block &block : store->blocks(1, int(height)))
            chainBytes += block.encode().size();
    }
    QVERIFY2(chainBytes > 16384, qPrintable(QString::number(chainBytes)));

    startNode(QStringLiteral("receiver-1"));
    startNode(QStringLiteral("receiver-2"));
    // receiver-1 gets the whole chain, a few blocks per frame, and keeps up afterwards.
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1")).value(u"acked_height").toInteger(),
                              qint64(height), kWait);
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-1")), qint64(digests.size()));
    const QString later = submit(QStringLiteral("branch-1"), 479).value(u"digest").toString();
    const quint64 laterHeight = waitUntilSealed({later});
    QVERIFY(laterHeight > height);
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1")).value(u"acked_height").toInteger(),
                              qint64(laterHeight), kWait);
    // receiver-2 is told which block it cannot take and why, instead of being sent it over and
    // over; it stays connected.
    QTRY_VERIFY_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-2"))
                                 .value(u"last_error")
                                 .toString()
                                 .contains(QLatin1String("max_frame_bytes")),
                             kWait);
    const QJsonObject stuck = receiverEntry(QStringLiteral("receiver-2"));
    QVERIFY2(stuck.value(u"status").toString() == QLatin1String("lagging"),
             QJsonDocument(stuck).toJson(QJsonDocument::Compact).constData());
    QVERIFY2(stuck.value(u"last_error").toString().contains(QLatin1String("receiver-2")),
             qPrintable(stuck.value(u"last_error").toString()));
}

void NetworkTest::checksFitTheTargetsFrameLimit()
{
    // target-4 is down and target-1 takes messages of 2 KiB only, less than the checks waiting
    // for it when it connects come to; its votes are needed for q = 3. The tallies wait for it.
    killNode(QStringLiteral("target-1"), SIGTERM);
    killNode(QStringLiteral("target-4"));
    reconfigure(QStringLiteral("target-1"), QStringLiteral("limits"),
                {{QStringLiteral("max_frame_bytes"), 2048}});
    restartCoordinator({{QStringLiteral("vote_timeout_ms"), 20000}});
    if (QTest::currentTestFailed())
        return;
    QStringList digests;
    for (int ticket = 340; ticket < 360; ++ticket) {
        const QJsonObject reply = submit(QStringLiteral("branch-1"), ticket);
        QCOMPARE(reply.value(u"status").toString(), QStringLiteral("accepted"));
        digests.append(reply.value(u"digest").toString());
    }
    startNode(QStringLiteral("target-1"));
    for (const QString &digest : std::as_const(digests)) {
        const QJsonObject decision = waitForDecision(digest);
        QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
        QCOMPARE(decision.value(u"histogram").toObject().value(u"WRITTEN_OFF").toInt(), 3);
    }
}

void NetworkTest::submitRefusesFieldsOfTheWrongType()
{
    ApiClient &branch = *branches.value(QStringLiteral("branch-1"));
    const QJsonObject valid{{QStringLiteral("type"), QStringLiteral("submit")},
                            {QStringLiteral("ticket"), SampleConsortium::ticketId(490)},
                            {QStringLiteral("version"), 1},
                            {QStringLiteral("amount_minor"), SampleConsortium::faceAmountMinor(490)},
                            {QStringLiteral("currency"), QStringLiteral("CNY")},
                            {QStringLiteral("reference"), QStringLiteral("erp-490")}};
    const QString version = QStringLiteral("'version' must be an integer from 1 to 4294967295");
    const QString amount = QStringLiteral("'amount_minor' must be an integer from 1 to 9223372036854775807");
    const QString currency = QStringLiteral("'currency' must be a string");
    const QList<std::tuple<QString, QJsonValue, QString>> cases{
        {QStringLiteral("version"), QStringLiteral("2"), version},
        {QStringLiteral("version"), 4294967297.0, version},
        {QStringLiteral("version"), 0, version},
        {QStringLiteral("version"), 1.5, version},
        {QStringLiteral("version"), QJsonValue::Null, version},
        {QStringLiteral("amount_minor"), QStringLiteral("15754"), amount},
        {QStringLiteral("amount_minor"), 0, amount},
        {QStringLiteral("amount_minor"), 1e30, amount},
        {QStringLiteral("amount_minor"), QJsonValue::Undefined, QStringLiteral("'amount_minor' is required")},
        {QStringLiteral("currency"), QJsonValue::Null, currency},
        {QStringLiteral("currency"), 123, currency},
        {QStringLiteral("reference"), 5, QStringLiteral("'reference' must be a string")},
        {QStringLiteral("ticket"), 42, QStringLiteral("'ticket' must be a string")},
        {QStringLiteral("ticket"), QJsonValue::Undefined, QStringLiteral("'ticket' is required")},
    };
    for (const auto &[field, value, expected] : cases) {
        QJsonObject request = valid;
        if (value.isUndefined())
            request.remove(field);
        else
            request.insert(field, value);
        const QJsonObject reply = call(branch, request);
        const QString where = QString::fromUtf8(QJsonDocument(request).toJson(QJsonDocument::Compact));
        QVERIFY2(reply.value(u"type").toString() == QLatin1String("error"), qPrintable(where));
        QVERIFY2(reply.value(u"error").toString() == expected,
                 qPrintable(where + QStringLiteral(": ") + reply.value(u"error").toString()));
    }
    // Nothing of that was signed or sent on; the right types are.
    QCOMPARE(call(branch, {{QStringLiteral("type"), QStringLiteral("status")}})
                 .value(u"counters")
                 .toObject()
                 .value(u"submissions")
                 .toInteger(),
             0);
    QJsonObject defaults = valid;
    defaults.remove(QStringLiteral("version"));
    defaults.remove(QStringLiteral("currency"));
    defaults.remove(QStringLiteral("reference"));
    const QJsonObject accepted = call(branch, defaults);
    QCOMPARE(accepted.value(u"status").toString(), QStringLiteral("accepted"));
    QCOMPARE(waitForDecision(accepted.value(u"digest").toString()).value(u"state").toString(),
             QStringLiteral("WRITTEN_OFF"));
}

void NetworkTest::historySubscribeAndDigestRefuseBadParameters()
{
    const QString digest = submit(QStringLiteral("branch-1"), 491).value(u"digest").toString();
    QCOMPARE(waitForDecision(digest).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    const QString beforeId = QStringLiteral("'before_id' must be an integer from 0 to 9223372036854775807");
    const QString limit = QStringLiteral("'limit' must be an integer from 1 to 1000");
    const QString fromMs = QStringLiteral("'from_ms' must be an integer from 0 to 9223372036854775807");
    const QList<std::pair<QJsonObject, QString>> cases{
        {{{QStringLiteral("before_id"), QStringLiteral("801")}}, beforeId},
        {{{QStringLiteral("before_id"), -1}}, beforeId},
        {{{QStringLiteral("before_id"), 1e20}}, beforeId},
        {{{QStringLiteral("ticket"), 42}}, QStringLiteral("'ticket' must be a string")},
        {{{QStringLiteral("ticket"), QString()}}, QStringLiteral("'ticket': ticket id is empty")},
        {{{QStringLiteral("limit"), 5000}}, limit},
        {{{QStringLiteral("limit"), 0}}, limit},
        {{{QStringLiteral("limit"), QStringLiteral("10")}}, limit},
        {{{QStringLiteral("from_ms"), -5}}, fromMs},
        {{{QStringLiteral("from_ms"), 2000}, {QStringLiteral("to_ms"), 1000}},
         QStringLiteral("'from_ms' (2000) must be before 'to_ms' (1000)")},
        {{{QStringLiteral("outcome"), 5}}, QStringLiteral("'outcome' must be DECIDED or UNDETERMINED")},
    };
    for (ApiClient *api : {coordinator.get(), branches.value(QStringLiteral("branch-1"))}) {
        for (const auto &[fields, expected] : cases) {
            QJsonObject request = fields;
            request.insert(QStringLiteral("type"), QStringLiteral("history"));
            const QJsonObject reply = call(*api, request);
            const QString where = QString::fromUtf8(QJsonDocument(request).toJson(QJsonDocument::Compact));
            QVERIFY2(reply.value(u"type").toString() == QLatin1String("error"), qPrintable(where));
            QVERIFY2(reply.value(u"error").toString() == expected,
                     qPrintable(where + QStringLiteral(": ") + reply.value(u"error").toString()));
        }
    }
    // A lone surrogate, escaped in the JSON text as a client may send it, is refused by name.
    QWebSocket raw;
    QList<QJsonObject> rawReplies;
    openAsOperator(raw, QStringLiteral("coordinator-1"), &rawReplies);
    if (QTest::currentTestFailed())
        return;
    raw.sendTextMessage(QStringLiteral("{\"type\":\"history\",\"id\":7,\"ticket\":\"T-\\ud800\"}"));
    QTRY_COMPARE_WITH_TIMEOUT(rawReplies.size(), 1, kWait);
    QCOMPARE(rawReplies.first().value(u"type").toString(), QStringLiteral("error"));
    QVERIFY2(rawReplies.first().value(u"error").toString().contains(QLatin1String("surrogate")),
             qPrintable(rawReplies.first().value(u"error").toString()));
    raw.close();

    // The right types page as before.
    const QJsonObject page = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("history")},
                                                 {QStringLiteral("limit"), 1000},
                                                 {QStringLiteral("before_id"), 0}});
    QCOMPARE(page.value(u"rows").toArray().size(), 1);

    for (const QJsonValue &from :
         {QJsonValue(QStringLiteral("9000")), QJsonValue(0), QJsonValue(-3), QJsonValue(2.5)}) {
        const QJsonObject reply = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("subscribe")},
                                                      {QStringLiteral("from_seq"), from}});
        QCOMPARE(reply.value(u"type").toString(), QStringLiteral("error"));
        QCOMPARE(reply.value(u"error").toString(),
                 QStringLiteral("'from_seq' must be an integer from 1 to 9223372036854775807"));
    }

    // A digest is exactly 64 hex digits; characters fromHex would skip are not.
    const QString damaged = digest.left(32) + u'-' + digest.mid(32);
    for (const QString &bad : {damaged, digest + QStringLiteral("zz"), QStringLiteral(" ") + digest}) {
        for (const char *type : {"decision", "retry_undetermined"}) {
            const QJsonObject reply = call(*coordinator, {{QStringLiteral("type"), QLatin1String(type)},
                                                          {QStringLiteral("digest"), bad}});
            QCOMPARE(reply.value(u"type").toString(), QStringLiteral("error"));
            QCOMPARE(reply.value(u"error").toString(),
                     QStringLiteral("'digest' must be the write-off digest in 64 hex digits"));
        }
    }
    QCOMPARE(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("decision")},
                                 {QStringLiteral("digest"), digest.toUpper()}})
                 .value(u"type")
                 .toString(),
             QStringLiteral("decision"));
}

void NetworkTest::repeatedSubmissionIsAnsweredOnceStored()
{
    // A branch that sends one write-off again and again in JSON: "already accepted" is only true
    // once the first copy is stored, so no such answer may overtake the first one's.
    const std::optional<WriteOffResult> signedByBranch2 = branch2WriteOff(311);
    QVERIFY(signedByBranch2);
    const WriteOffResult &writeOff = *signedByBranch2;

    QWebSocket branch;
    QList<QJsonObject> answers;
    connect(&branch, &QWebSocket::textMessageReceived, this, [&](const QString &text) {
        const QJsonObject message = QJsonDocument::fromJson(text.toUtf8()).object();
        if (message.value(u"type").toString() != QLatin1String("welcome"))
            answers.append(message);
    });
    killNode(QStringLiteral("branch-2")); // the coordinator keeps one link per node, the newest
    connectAsNode(branch, QStringLiteral("branch-2"));
    if (QTest::currentTestFailed())
        return;
    // Sent in one burst, so some copies reach the coordinator before the first is stored.
    const QString encoded = QString::fromLatin1(writeOff.encode().toBase64());
    constexpr int kCopies = 20;
    for (int id = 1; id <= kCopies; ++id) {
        branch.sendTextMessage(QString::fromUtf8(
            QJsonDocument(QJsonObject{{QStringLiteral("type"), QStringLiteral("submit_write_off")},
                                      {QStringLiteral("id"), id},
                                      {QStringLiteral("write_off"), encoded}})
                .toJson(QJsonDocument::Compact)));
    }
    QTRY_COMPARE_WITH_TIMEOUT(answers.size(), kCopies, kWait);
    for (const QJsonObject &answer : std::as_const(answers)) {
        QCOMPARE(answer.value(u"type").toString(), QStringLiteral("submitted"));
        QCOMPARE(answer.value(u"digest").toString(), QString::fromLatin1(writeOff.digest().toHex()));
    }
    QCOMPARE(answers.at(0).value(u"id").toInteger(), 1);
    QCOMPARE(answers.at(0).value(u"status").toString(), QStringLiteral("accepted"));
    for (int i = 1; i < kCopies; ++i)
        QCOMPARE(answers.at(i).value(u"status").toString(), QStringLiteral("already accepted"));
    QCOMPARE(waitForDecision(QString::fromLatin1(writeOff.digest().toHex())).value(u"outcome").toString(),
             QStringLiteral("DECIDED"));
    branch.close();
}

void NetworkTest::decisionsComeByThePage()
{
    QStringList digests;
    for (int i = 0; i < 3; ++i)
        digests.append(submit(QStringLiteral("branch-1"), 520 + i).value(u"digest").toString());
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(height >= 1);
    QVERIFY(waitForHeights(height));
    const QString unknown(64, u'a');
    QJsonArray asked;
    for (const QString &digest : std::as_const(digests))
        asked.append(digest);
    asked.append(unknown);

    // The coordinator answers from its journal and blocks, a receiver from its ledger alone.
    std::unique_ptr<ApiClient> receiver = client(QStringLiteral("receiver-1"), true);
    QVERIFY(receiver);
    for (ApiClient *api : {coordinator.get(), receiver.get()}) {
        const QJsonObject page = call(*api, {{QStringLiteral("type"), QStringLiteral("decisions")},
                                             {QStringLiteral("digests"), asked}});
        QCOMPARE(page.value(u"type").toString(), QStringLiteral("decisions"));
        const QJsonArray found = page.value(u"decisions").toArray();
        QCOMPARE(found.size(), 3);
        for (qsizetype i = 0; i < found.size(); ++i) {
            const QJsonObject entry = found.at(i).toObject();
            QCOMPARE(entry.value(u"write_off_digest").toString(), digests.at(i));
            QVERIFY(entry.value(u"height").toInteger() >= 1);
            const std::optional<Decision> decision =
                Decision::decode(QByteArray::fromBase64(entry.value(u"decision").toString().toLatin1()));
            QVERIFY(decision);
            QCOMPARE(QString::fromLatin1(decision->writeOff.digest().toHex()), digests.at(i));
            QCOMPARE(decision->verifyCertificate(layout->membership), QString());
            // Sealed, so with the proof that the coordinator signed these very bytes into the block.
            QString problem;
            const std::optional<InclusionProof> proof =
                InclusionProof::fromJson(entry.value(u"proof").toObject(), &problem);
            QVERIFY2(proof, qPrintable(problem));
            BlockHeader header;
            QCOMPARE(proof->verify(decision->encode(), layout->membership, &header), QString());
            QCOMPARE(qint64(header.height), entry.value(u"height").toInteger());
            QCOMPARE(header.coordinatorId, QStringLiteral("coordinator-1"));
            Decision edited = *decision;
            edited.decidedAtMs += 1;
            QVERIFY(!proof->verify(edited.encode(), layout->membership).isEmpty());
        }
        QCOMPARE(page.value(u"missing").toArray(), QJsonArray{unknown});
    }

    QJsonArray tooMany;
    for (int i = 0; i <= 500; ++i)
        tooMany.append(unknown);
    const QString wholeList = QStringLiteral("'digests' must be an array of 1 to 500 write-off digests");
    const QList<std::pair<QJsonValue, QString>> cases{
        {QJsonValue(QStringLiteral("x")), wholeList},
        {QJsonValue(QJsonArray()), wholeList},
        {QJsonValue(tooMany), wholeList},
        {QJsonValue(QJsonArray{digests.first(), QStringLiteral("zz")}),
         QStringLiteral("'digests'[1] must be a write-off digest in 64 hex digits")},
    };
    for (const auto &[value, expected] : cases) {
        const QJsonObject reply = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("decisions")},
                                                      {QStringLiteral("digests"), value}});
        QCOMPARE(reply.value(u"type").toString(), QStringLiteral("error"));
        QCOMPARE(reply.value(u"error").toString(), expected);
    }
}

void NetworkTest::errorRepliesCarryTheRequestId()
{
    QWebSocket socket;
    QList<QJsonObject> replies;
    openAsOperator(socket, QStringLiteral("coordinator-1"), &replies);
    if (QTest::currentTestFailed())
        return;
    // Sent in this order; each answer carries the id as it was sent, errors as much as the rest.
    const QList<std::pair<QString, QJsonValue>> requests{
        {QStringLiteral("{\"type\":\"status\",\"id\":\"s-1\"}"), QStringLiteral("s-1")},
        {QStringLiteral("{\"type\":\"history\",\"id\":\"page-2\",\"limit\":5000}"), QStringLiteral("page-2")},
        {QStringLiteral("{\"type\":\"no_such_thing\",\"id\":\"x\"}"), QStringLiteral("x")},
        {QStringLiteral("{\"type\":5,\"id\":\"y\"}"), QStringLiteral("y")},
        {QStringLiteral("{\"type\":\"decision\",\"id\":7.5,\"digest\":\"zz\"}"), 7.5},
        {QStringLiteral("{\"type\":\"retry_undetermined\",\"id\":-4,\"digest\":\"zz\"}"), -4},
        {QStringLiteral("{\"type\":\"receivers\",\"id\":{\"page\":3}}"),
         QJsonObject{{QStringLiteral("page"), 3}}},
        {QStringLiteral("{\"type\":\"decision\",\"id\":12,\"digest\":\"zz\"}"), 12},
    };
    for (const auto &[text, id] : requests)
        socket.sendTextMessage(text);
    QTRY_COMPARE_WITH_TIMEOUT(replies.size(), requests.size(), kWait);
    for (qsizetype i = 0; i < requests.size(); ++i) {
        QVERIFY2(replies.at(i).contains(u"id") && replies.at(i).value(u"id") == requests.at(i).second,
                 qPrintable(requests.at(i).first + QStringLiteral(" -> ") +
                            QString::fromUtf8(QJsonDocument(replies.at(i)).toJson(QJsonDocument::Compact))));
    }
    QCOMPARE(replies.at(0).value(u"type").toString(), QStringLiteral("status"));
    for (qsizetype i = 1; i < requests.size(); ++i) {
        if (i != 6)
            QCOMPARE(replies.at(i).value(u"type").toString(), QStringLiteral("error"));
    }

    // A branch answers a submit with the client's id once the coordinator has answered it, or at
    // once when it refuses it, and an auditor's refused command the same.
    QWebSocket branch;
    QList<QJsonObject> answers;
    openAsOperator(branch, QStringLiteral("branch-1"), &answers);
    if (QTest::currentTestFailed())
        return;
    const QJsonObject submit{{QStringLiteral("type"), QStringLiteral("submit")},
                             {QStringLiteral("id"), QStringLiteral("erp-7")},
                             {QStringLiteral("ticket"), SampleConsortium::ticketId(492)},
                             {QStringLiteral("amount_minor"), SampleConsortium::faceAmountMinor(492)}};
    branch.sendTextMessage(QString::fromUtf8(QJsonDocument(submit).toJson(QJsonDocument::Compact)));
    QJsonObject refusedSubmit = submit;
    refusedSubmit.insert(QStringLiteral("id"), QStringLiteral("erp-8"));
    refusedSubmit.insert(QStringLiteral("version"), QStringLiteral("1"));
    branch.sendTextMessage(QString::fromUtf8(QJsonDocument(refusedSubmit).toJson(QJsonDocument::Compact)));
    QTRY_COMPARE_WITH_TIMEOUT(answers.size(), 2, kWait);
    QHash<QString, QString> byId;
    for (const QJsonObject &answer : std::as_const(answers))
        byId.insert(answer.value(u"id").toString(), answer.value(u"type").toString());
    QCOMPARE(byId.value(QStringLiteral("erp-7")), QStringLiteral("submitted"));
    QCOMPARE(byId.value(QStringLiteral("erp-8")), QStringLiteral("error"));
    QWebSocket auditor;
    QList<QJsonObject> auditorReplies;
    QString error;
    const std::optional<TlsIdentity> identity =
        TlsIdentity::load(layout->auditorCertificate, layout->auditorKey, layout->caPath, &error);
    QVERIFY2(identity, qPrintable(error));
    auditor.setSslConfiguration(identity->clientConfiguration());
    connect(&auditor, &QWebSocket::textMessageReceived, this, [&](const QString &text) {
        auditorReplies.append(QJsonDocument::fromJson(text.toUtf8()).object());
    });
    auditor.open(
        QUrl(QStringLiteral("wss://%1/").arg(layout->node(QStringLiteral("coordinator-1"))->address)));
    QTRY_VERIFY_WITH_TIMEOUT(auditor.state() == QAbstractSocket::ConnectedState, kWait);
    auditor.sendTextMessage(QStringLiteral("{\"type\":\"retry_deliveries\",\"id\":\"r-1\"}"));
    QTRY_COMPARE_WITH_TIMEOUT(auditorReplies.size(), 1, kWait);
    QCOMPARE(auditorReplies.first().value(u"type").toString(), QStringLiteral("error"));
    QCOMPARE(auditorReplies.first().value(u"id").toString(), QStringLiteral("r-1"));
}

QStringList NetworkTest::submitThroughBothBranches(int count, int firstTicket)
{
    QStringList digests;
    for (int i = 0; i < count; ++i)
        digests.append(
            submit(i % 2 ? QStringLiteral("branch-1") : QStringLiteral("branch-2"), firstTicket + i)
                .value(u"digest")
                .toString());
    return digests;
}

void NetworkTest::verifyWrittenOffOnce(const QString &firstDigest, const QString &secondDigest)
{
    const QJsonObject first = waitForDecision(firstDigest);
    const QJsonObject second = waitForDecision(secondDigest);
    const auto outcome = [](const QJsonObject &decision) {
        return QStringLiteral("%1 %2 %3")
            .arg(decision.value(u"outcome").toString(), decision.value(u"state").toString(),
                 QString::fromUtf8(
                     QJsonDocument(decision.value(u"histogram").toObject()).toJson(QJsonDocument::Compact)));
    };
    const QByteArray seen = QStringLiteral("ticket %1: the first %2, the second %3")
                                .arg(first.value(u"ticket").toString(), outcome(first), outcome(second))
                                .toUtf8();
    QVERIFY2(first.value(u"outcome").toString() == QLatin1String("DECIDED") &&
                 first.value(u"state").toString() == QLatin1String("WRITTEN_OFF"),
             seen.constData());
    QVERIFY2(second.value(u"outcome").toString() == QLatin1String("DECIDED") &&
                 second.value(u"state").toString() == QLatin1String("ALREADY_WRITTEN_OFF"),
             seen.constData());
}

void NetworkTest::openRawOperatorClient(RawWebSocketClient &raw)
{
    QString error;
    const std::optional<TlsIdentity> identity =
        TlsIdentity::load(layout->operatorCertificate, layout->operatorKey, layout->caPath, &error);
    QVERIFY2(identity, qPrintable(error));
    const QStringList address = layout->node(QStringLiteral("coordinator-1"))->address.split(u':');
    QVERIFY2(raw.open(*identity, address.at(0), quint16(address.at(1).toUInt()), {}, kWait, &error),
             qPrintable(error));
    raw.socket.setReadBufferSize(4096);
}

void NetworkTest::clientThatStopsReadingIsRefusedThenClosed()
{
    // A raw TLS WebSocket client that sends requests as fast as the rate limit allows and never
    // reads a reply: its socket's read buffer is a few KB, so the coordinator's replies pile up
    // behind it.
    RawWebSocketClient client;
    openRawOperatorClient(client);
    QSslSocket &raw = client.socket;
    if (QTest::currentTestFailed())
        return;
    const QByteArray request = RawWebSocketClient::textFrame(R"({"type":"membership"})");
    const qint64 pid = devnet->pid(QStringLiteral("coordinator-1"));
    auto rssKb = [pid] {
        QFile status(QStringLiteral("/proc/%1/status").arg(pid));
        if (!status.open(QIODevice::ReadOnly))
            return qint64(-1);
        for (const QByteArray &line : status.readAll().split('\n')) {
            if (line.startsWith("VmRSS:"))
                return line.mid(6).trimmed().split(' ').value(0).toLongLong();
        }
        return qint64(-1);
    };
    const qint64 rssBefore = rssKb();
    const qint64 replyBytes =
        QJsonDocument(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("membership")}}))
            .toJson()
            .size();
    // 300 MB of answers unbounded, at 20,000 requests a second, well inside the rate limit.
    const int requests = int(300LL * 1000 * 1000 / replyBytes);
    for (int sent = 0; sent < requests && raw.state() == QAbstractSocket::ConnectedState;) {
        const int burst = qMin(2000, requests - sent);
        raw.write(request.repeated(burst));
        sent += burst;
        QTest::qWait(100);
        // Everyone else is still served.
        if (sent % 20000 == 0)
            QCOMPARE(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                         .value(u"type")
                         .toString(),
                     QStringLiteral("status"));
    }
    const qint64 grownWhileSending = rssKb() - rssBefore;
    qInfo() << "the coordinator grew by" << grownWhileSending << "KB while it was sent" << requests
            << "requests for" << replyBytes << "bytes each";
    QVERIFY2(grownWhileSending < 96 * 1024,
             qPrintable(QStringLiteral("the coordinator grew by %1 KB").arg(grownWhileSending)));
    // Refused above the limit, and closed once it stayed there.
    auto counters = [&] {
        return call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
            .value(u"counters")
            .toObject();
    };
    QTRY_COMPARE_WITH_TIMEOUT(counters().value(u"closed_not_reading").toInteger(), 1, 30000);
    QVERIFY2(counters().value(u"refused_unread").toInteger() > 0,
             QJsonDocument(counters()).toJson(QJsonDocument::Compact).constData());
    const qint64 grown = rssKb() - rssBefore;
    QVERIFY2(grown < 96 * 1024, qPrintable(QStringLiteral("the coordinator grew by %1 KB").arg(grown)));
    // Once it reads again, the client finds its connection gone.
    raw.setReadBufferSize(0);
    QTRY_VERIFY_WITH_TIMEOUT((raw.readAll(), raw.state() != QAbstractSocket::ConnectedState), kWait);
}

void NetworkTest::stoppedReceiverIsPausedClosedAndCatchesUp()
{
    // A coordinator that keeps at most 64 KiB unread for a peer for at most 3 s, and a chain of
    // small blocks.
    restartCoordinator(
        {{QStringLiteral("block_max_decisions"), 2}},
        {{QStringLiteral("max_unread_bytes"), 65536}, {QStringLiteral("not_reading_close_ms"), 3000}});
    if (QTest::currentTestFailed())
        return;
    QStringList digests;
    digests.append(submitThroughBothBranches(20, 300));
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(height >= 10);
    QVERIFY(waitForHeights(height));

    // From one past the head there is nothing to push, and the answer says so.
    const QString pastHead = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("resync_receiver")},
                                                 {QStringLiteral("receiver"), QStringLiteral("receiver-1")},
                                                 {QStringLiteral("from_height"), qint64(height + 1)}})
                                 .value(u"outcome")
                                 .toString();
    QVERIFY2(pastHead.startsWith(QLatin1String("nothing to re-send to receiver-1")), qPrintable(pastHead));

    // receiver-1 stops reading (SIGSTOP) while an operator re-syncs it again and again: each re-sync
    // would push the whole chain once more, into the coordinator's memory.
    QVERIFY(devnet->signalNode(QStringLiteral("receiver-1"), SIGSTOP));
    const auto resume = qScopeGuard([&] { devnet->signalNode(QStringLiteral("receiver-1"), SIGCONT); });
    QString paused;
    for (int i = 0; i < 400 && paused.isEmpty(); ++i) {
        const QString outcome =
            call(*coordinator, {{QStringLiteral("type"), QStringLiteral("resync_receiver")},
                                {QStringLiteral("receiver"), QStringLiteral("receiver-1")},
                                {QStringLiteral("from_height"), 1}})
                .value(u"outcome")
                .toString();
        if (outcome.contains(QLatin1String("unread")))
            paused = outcome;
    }
    QVERIFY2(paused.contains(QLatin1String("max_unread_bytes")), qPrintable(paused));
    // Closed once it has stayed over the limit; the others are unaffected.
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1")).value(u"status").toString(),
                              QStringLiteral("unreachable"), 30000);
    // Its last_error says why it was closed.
    const QString closed = receiverEntry(QStringLiteral("receiver-1")).value(u"last_error").toString();
    QVERIFY2(closed.startsWith(QLatin1String("closed: ")) && closed.contains(QLatin1String("not read")),
             qPrintable(closed));
    QCOMPARE(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                 .value(u"counters")
                 .toObject()
                 .value(u"closed_not_reading")
                 .toInteger(),
             1);
    const QString later = submit(QStringLiteral("branch-1"), 330).value(u"digest").toString();
    const quint64 laterHeight = waitUntilSealed({later});
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-2")).value(u"acked_height").toInteger(),
                              qint64(laterHeight), kWait);
    // Resumed, it dials again and catches up.
    QVERIFY(devnet->signalNode(QStringLiteral("receiver-1"), SIGCONT));
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1")).value(u"acked_height").toInteger(),
                              qint64(laterHeight), 30000);
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-1")), qint64(digests.size() + 1));
}

void NetworkTest::decidedWriteOffIsNotTalliedAgainAfterARestart()
{
    // Blocks sealed a minute after their first decision: a decision stays committed in the
    // journal and unsealed across the restarts below.
    restartCoordinator({{QStringLiteral("block_interval_ms"), 60000}});
    if (QTest::currentTestFailed())
        return;
    const QString digest = submit(QStringLiteral("branch-1"), 480).value(u"digest").toString();
    const QJsonObject decided = waitForDecision(digest);
    QCOMPARE(decided.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(decided.value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
    QCOMPARE(decided.value(u"height").toInteger(), 0);

    // Killed inside its sealing window, and restarted with two targets down: a second tally
    // could only end UNDETERMINED and replace the decision.
    killNode(QStringLiteral("coordinator-1"));
    killNode(QStringLiteral("target-1"));
    killNode(QStringLiteral("target-2"));
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    const QJsonObject queues =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}}).value(u"queues").toObject();
    QCOMPARE(queues.value(u"open_tallies").toInteger(), 0);
    QCOMPARE(queues.value(u"block_queue").toInteger(), 1);
    // Longer than a tally with its retry would take to end.
    QTest::qWait(3000);
    const QJsonObject resumed = waitForDecision(digest);
    QCOMPARE(resumed.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(resumed.value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
    QCOMPARE(resumed.value(u"decision").toString(), decided.value(u"decision").toString());
    const QJsonObject counters = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                                     .value(u"counters")
                                     .toObject();
    QCOMPARE(counters.value(u"undetermined").toInteger(), 0);
    QCOMPARE(counters.value(u"decided").toInteger(), 0);

    // An orderly stop seals what waits for its block, rather than a minute after the restart.
    startNode(QStringLiteral("target-1"));
    startNode(QStringLiteral("target-2"));
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    const QJsonObject sealed = waitForDecision(digest);
    QCOMPARE(sealed.value(u"height").toInteger(), 1);
    QCOMPARE(sealed.value(u"decision").toString(), decided.value(u"decision").toString());
    QVERIFY(waitForHeights(1));
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-2")), qint64(1));
}

void NetworkTest::nextVersionWaitsForTheBlockOfTheLastOne()
{
    // Blocks sealed 3 s after their first decision: version 2 of a ticket reaches the targets
    // while version 1 is decided but not yet in their chains.
    restartCoordinator({{QStringLiteral("block_interval_ms"), 3000}});
    if (QTest::currentTestFailed())
        return;
    // Past the coordinator's first seconds, in which no deadline counts against a tally.
    QTest::qWait(4500);
    const QString first = submit(QStringLiteral("branch-1"), 490, 1).value(u"digest").toString();
    const QJsonObject decided = waitForDecision(first);
    QCOMPARE(decided.value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
    QCOMPARE(decided.value(u"height").toInteger(), 0);
    const QString second = submit(QStringLiteral("branch-2"), 490, 2).value(u"digest").toString();
    QVERIFY(!second.isEmpty());
    QCOMPARE(waitForDecision(first).value(u"height").toInteger(), 0); // still unsealed when it was sent

    // Not INVALID_REQUEST for skipping ahead: the targets answer once version 1's block is here.
    const QJsonObject next = waitForDecision(second);
    QCOMPARE(next.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(next.value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
    QVERIFY(waitForHeights(waitUntilSealed({first, second})));
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-2")), qint64(2));
}

void NetworkTest::targetsAreAskedOnlyAboutStoredSubmissions()
{
    // A write-off the coordinator could not store was never accepted. Had a target checked it,
    // the ticket version would stay locked to it after the coordinator stopped, and the client's
    // next write-off of that ticket would end ALREADY_WRITTEN_OFF with nothing written off.
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    QCOMPARE(executeOnJournal("CREATE TABLE fail_submissions(x)", {}).first, 0);
    QVERIFY(executeOnJournal("CREATE TRIGGER fail_submission BEFORE INSERT ON submissions "
                             "WHEN EXISTS (SELECT 1 FROM fail_submissions) "
                             "BEGIN SELECT RAISE(ROLLBACK, 'injected failure'); END",
                             {})
                .first >= 0);
    QCOMPARE(executeOnJournal("INSERT INTO fail_submissions VALUES (1)", {}).first, 1);
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    QVERIFY(waitForCoordinatorLink(QStringLiteral("branch-1")));
    const QJsonObject lost = submit(QStringLiteral("branch-1"), 340);
    QVERIFY2(lost.value(u"error").toString().contains(QLatin1String("not stored yet")),
             QJsonDocument(lost).toJson(QJsonDocument::Compact).constData());
    QTest::qWait(1000);
    for (const QString &target : layout->idsWithRole(Role::Target)) {
        const QJsonObject counters =
            call(*client(target), {{QStringLiteral("type"), QStringLiteral("status")}})
                .value(u"counters")
                .toObject();
        QVERIFY2(counters.value(u"confirmations_sent").toInteger() == 0,
                 qPrintable(target + QLatin1Char(' ') +
                            QString::fromUtf8(QJsonDocument(counters).toJson(QJsonDocument::Compact))));
    }
    // It stops before its journal takes the write-off; the client writes the ticket off again.
    killNode(QStringLiteral("coordinator-1"));
    QCOMPARE(executeOnJournal("DELETE FROM fail_submissions", {}).first, 1);
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    QVERIFY(waitForCoordinatorLink(QStringLiteral("branch-1")));
    const QJsonObject again = submit(QStringLiteral("branch-1"), 340);
    QCOMPARE(again.value(u"status").toString(), QStringLiteral("accepted"));
    const QJsonObject decision = waitForDecision(again.value(u"digest").toString());
    QCOMPARE(decision.value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(decision.value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
}

void NetworkTest::alreadyAcceptedOnlyOnceStoredAfterAFailedCommit()
{
    // A journal whose commits fail while fail_submissions has a row: a trigger rolls back the
    // transaction that stores a submission. Two targets down and a long vote timeout keep the
    // tally open throughout.
    killNode(QStringLiteral("target-1"));
    killNode(QStringLiteral("target-2"));
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    reconfigure(QStringLiteral("coordinator-1"), QStringLiteral("coordinator"),
                {{QStringLiteral("vote_timeout_ms"), 30000}});
    QCOMPARE(executeOnJournal("CREATE TABLE fail_submissions(x)", {}).first, 0);
    QVERIFY(executeOnJournal("CREATE TRIGGER fail_submission BEFORE INSERT ON submissions "
                             "WHEN EXISTS (SELECT 1 FROM fail_submissions) "
                             "BEGIN SELECT RAISE(ROLLBACK, 'injected failure'); END",
                             {})
                .first >= 0);
    QCOMPARE(executeOnJournal("INSERT INTO fail_submissions VALUES (1)", {}).first, 1);
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));

    const std::optional<WriteOffResult> signedByBranch2 = branch2WriteOff(495);
    QVERIFY(signedByBranch2);
    const WriteOffResult &writeOff = *signedByBranch2;
    const QByteArray raw = writeOff.digest();

    QWebSocket branch;
    QList<QJsonObject> answers;
    connect(&branch, &QWebSocket::textMessageReceived, this, [&](const QString &text) {
        const QJsonObject message = QJsonDocument::fromJson(text.toUtf8()).object();
        if (message.value(u"type").toString() != QLatin1String("welcome"))
            answers.append(message);
    });
    killNode(QStringLiteral("branch-2")); // the coordinator keeps one link per node, the newest
    connectAsNode(branch, QStringLiteral("branch-2"));
    if (QTest::currentTestFailed())
        return;
    const auto send = [&](int id) {
        branch.sendTextMessage(QString::fromUtf8(
            QJsonDocument(
                QJsonObject{{QStringLiteral("type"), QStringLiteral("submit_write_off")},
                            {QStringLiteral("id"), id},
                            {QStringLiteral("write_off"), QString::fromLatin1(writeOff.encode().toBase64())}})
                .toJson(QJsonDocument::Compact)));
    };
    send(1);
    QTRY_COMPARE_WITH_TIMEOUT(answers.size(), 1, kWait);
    QCOMPARE(answers.at(0).value(u"type").toString(), QStringLiteral("error"));
    QVERIFY2(answers.at(0).value(u"error").toString().startsWith(QLatin1String("not stored")),
             QJsonDocument(answers.at(0)).toJson(QJsonDocument::Compact).constData());
    QCOMPARE(executeOnJournal("SELECT COUNT(*) FROM submissions WHERE digest = ?1", {raw}).second, 0);

    // Tried again and again, logged once; meanwhile a submission is refused, naming the problem.
    QTRY_VERIFY_WITH_TIMEOUT(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                                     .value(u"counters")
                                     .toObject()
                                     .value(u"journal_commit_failures")
                                     .toInteger() >= 4,
                             kWait);
    QCOMPARE(nodeLog(QStringLiteral("coordinator-1")).count(QLatin1String("journal commit failed")), 1);
    send(2);
    QTRY_COMPARE_WITH_TIMEOUT(answers.size(), 2, kWait);
    const QString refusal = answers.at(1).value(u"error").toString();
    QVERIFY2(refusal.contains(QLatin1String("the coordinator cannot store to its journal now (")) &&
                 refusal.contains(QLatin1String("injected failure")),
             qPrintable(refusal));

    // The journal works again; the tally still runs. "already accepted" must mean stored.
    QVERIFY(QTest::qWaitFor([&] { return executeOnJournal("DELETE FROM fail_submissions", {}).first == 1; },
                            kWait));
    QTRY_COMPARE_WITH_TIMEOUT(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                                  .value(u"journal")
                                  .toObject()
                                  .value(u"error")
                                  .toString(),
                              QString(), kWait);
    send(3);
    QTRY_COMPARE_WITH_TIMEOUT(answers.size(), 3, kWait);
    QCOMPARE(answers.at(2).value(u"type").toString(), QStringLiteral("submitted"));
    QCOMPARE(answers.at(2).value(u"status").toString(), QStringLiteral("already accepted"));
    QCOMPARE(executeOnJournal("SELECT COUNT(*) FROM submissions WHERE digest = ?1", {raw}).second, 1);
    branch.close();
}

void NetworkTest::diskThatTakesNoWritesLosesNothing()
{
    QList<QJsonObject> events;
    QList<std::pair<qint64, qint64>> gaps;
    connect(coordinator.get(), &ApiClient::eventReceived, this,
            [&](const QJsonObject &event) { events.append(event); });
    connect(coordinator.get(), &ApiClient::gap, this, [&](qint64 from, qint64 to) {
        gaps.append({from, to});
    });
    coordinator->subscribe(1);
    const auto status = [this](ApiClient &node) {
        return call(node, {{QStringLiteral("type"), QStringLiteral("status")}});
    };
    QStringList acknowledged; // every write-off answered "accepted"
    for (int i = 0; i < 2; ++i) {
        const QJsonObject reply =
            submit(i % 2 ? QStringLiteral("branch-2") : QStringLiteral("branch-1"), 370 + i);
        QCOMPARE(reply.value(u"status").toString(), QStringLiteral("accepted"));
        acknowledged.append(reply.value(u"digest").toString());
    }
    // Quiet before the disk fills: every receiver has acknowledged the block, and the events
    // of that are committed, so the next commit is the one of the next submission.
    QVERIFY(waitForHeights(waitUntilSealed(acknowledged)));
    QTest::qWait(200);

    // A file size limit below the size of every file they write: each write of the coordinator and
    // of branch-1 fails with EFBIG, as on a disk that takes no more; reads still work.
    const pid_t coordinatorPid = pid_t(devnet->pid(QStringLiteral("coordinator-1")));
    const pid_t branchPid = pid_t(devnet->pid(QStringLiteral("branch-1")));
    struct rlimit unlimited = {};
    QCOMPARE(prlimit(coordinatorPid, RLIMIT_FSIZE, nullptr, &unlimited), 0);
    const struct rlimit full = {1024, unlimited.rlim_max};
    QCOMPARE(prlimit(coordinatorPid, RLIMIT_FSIZE, &full, nullptr), 0);
    QCOMPARE(prlimit(branchPid, RLIMIT_FSIZE, &full, nullptr), 0);
    auto restore = qScopeGuard([&] {
        prlimit(coordinatorPid, RLIMIT_FSIZE, &unlimited, nullptr);
        prlimit(branchPid, RLIMIT_FSIZE, &unlimited, nullptr);
    });

    // Taken into the coordinator's memory, then not stored: the answer says so, and names it.
    const QJsonObject notStored = submit(QStringLiteral("branch-2"), 372);
    QCOMPARE(notStored.value(u"type").toString(), QStringLiteral("error"));
    const QString notStoredError = notStored.value(u"error").toString();
    QVERIFY2(notStoredError.startsWith(QLatin1String("not stored yet: ")), qPrintable(notStoredError));
    const QString kept = notStoredError.section(QStringLiteral("keeps write-off "), 1).left(64);
    QCOMPARE(kept.size(), 64);
    // Its tally waits: no target checks a write-off that a crash now would lose, since the lock it
    // took would leave the ticket version to a write-off nobody was told of.
    QTRY_VERIFY_WITH_TIMEOUT(status(*coordinator)
                                 .value(u"journal")
                                 .toObject()
                                 .value(u"error")
                                 .toString()
                                 .contains(u"File too large"),
                             kWait);
    QTest::qWait(500);
    const QJsonObject failing = status(*coordinator);
    QCOMPARE(failing.value(u"queues").toObject().value(u"open_tallies").toInteger(), 1);
    QCOMPARE(failing.value(u"queues").toObject().value(u"block_queue").toInteger(), 0);
    QVERIFY(failing.value(u"counters").toObject().value(u"journal_commit_failures").toInteger() >= 1);
    const QJsonObject journal = failing.value(u"journal").toObject();
    QVERIFY2(journal.value(u"error").toString().endsWith(
                 QLatin1String("ledger.events: disk I/O error (File too large)")),
             qPrintable(journal.value(u"error").toString()));
    QCOMPARE(journal.value(u"last_error").toString(), journal.value(u"error").toString());
    QVERIFY(journal.value(u"unstored_writes").toInteger() > 0);
    const qint64 lastSeqWhileFailing = failing.value(u"last_seq").toInteger();

    // New work is refused up front, naming the storage problem: by the coordinator, and by a
    // branch whose own journal fails. Reads go on.
    const QString coordinatorRefusal = submit(QStringLiteral("branch-2"), 373).value(u"error").toString();
    QVERIFY2(
        coordinatorRefusal.startsWith(QLatin1String("the coordinator cannot store to its journal now (")) &&
            coordinatorRefusal.contains(journal.value(u"error").toString()),
        qPrintable(coordinatorRefusal));
    (void)submit(QStringLiteral("branch-1"), 374); // the event it writes is the branch's first failure
    QTRY_VERIFY_WITH_TIMEOUT(!status(*branches.value(QStringLiteral("branch-1")))
                                  .value(u"journal")
                                  .toObject()
                                  .value(u"error")
                                  .toString()
                                  .isEmpty(),
                             kWait);
    const QString branchRefusal = submit(QStringLiteral("branch-1"), 375).value(u"error").toString();
    QVERIFY2(branchRefusal.startsWith(QLatin1String("branch-1 cannot store to its journal now (")),
             qPrintable(branchRefusal));
    QCOMPARE(waitForDecision(acknowledged.first()).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(status(*coordinator).value(u"last_seq").toInteger(), lastSeqWhileFailing);

    // The disk takes writes again: both catch up by themselves and accept work again.
    restore.dismiss();
    QCOMPARE(prlimit(coordinatorPid, RLIMIT_FSIZE, &unlimited, nullptr), 0);
    QCOMPARE(prlimit(branchPid, RLIMIT_FSIZE, &unlimited, nullptr), 0);
    for (ApiClient *node : {coordinator.get(), branches.value(QStringLiteral("branch-1"))})
        QTRY_COMPARE_WITH_TIMEOUT(status(*node).value(u"journal").toObject().value(u"error").toString(),
                                  QString(), kWait);
    QCOMPARE(waitForDecision(kept).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QVERIFY(nodeLog(QStringLiteral("coordinator-1")).contains(QLatin1String("journal commits again after")));
    for (int i = 0; i < 2; ++i) {
        const QJsonObject reply =
            submit(i % 2 ? QStringLiteral("branch-2") : QStringLiteral("branch-1"), 376 + i);
        QCOMPARE(reply.value(u"status").toString(), QStringLiteral("accepted"));
        acknowledged.append(reply.value(u"digest").toString());
    }
    // 374 went up from branch-1 before its own journal failed; the coordinator refused it.
    QStringList decided = acknowledged;
    decided.append(kept);
    QVERIFY(waitForHeights(waitUntilSealed(decided)));

    // Every event once, numbered without a gap, each as the journal holds it under that number;
    // each decided write-off's issue and decision among them.
    QTRY_COMPARE_WITH_TIMEOUT(events.isEmpty() ? 0 : events.last().value(u"seq").toInteger(),
                              status(*coordinator).value(u"last_seq").toInteger(), kWait);
    QVERIFY(gaps.isEmpty());
    QHash<QString, int> issued;
    QHash<QString, int> decisions;
    for (qsizetype i = 0; i < events.size(); ++i) {
        const QJsonObject &event = events.at(i);
        QCOMPARE(event.value(u"seq").toInteger(), i + 1);
        const QString kind = event.value(u"kind").toString();
        if (kind == QLatin1String("write_off_issued"))
            ++issued[event.value(u"write_off_digest").toString()];
        else if (kind == QLatin1String("decision_made"))
            ++decisions[event.value(u"write_off_digest").toString()];
    }
    for (const QString &digest : std::as_const(decided)) {
        QCOMPARE(issued.value(digest), 1);
        QCOMPARE(decisions.value(digest), 1);
    }
    {
        QString error;
        std::unique_ptr<NodeJournal> stored = NodeJournal::open(journalPath(), &error);
        QVERIFY2(stored, qPrintable(error));
        const QList<JournalEvent> rows = stored->events(1, int(events.size()) + 1);
        QCOMPARE(rows.size(), events.size());
        for (qsizetype i = 0; i < rows.size(); ++i)
            QCOMPARE(QJsonDocument::fromJson(rows.at(i).frame).object(), events.at(i));
    }

    // Nothing acknowledged is lost to a crash now.
    killNode(QStringLiteral("coordinator-1"));
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    for (const QString &digest : std::as_const(decided))
        QVERIFY(waitForDecision(digest).value(u"height").toInteger() >= 1);
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-2")), qint64(decided.size()));
}

void NetworkTest::stalledSealingRefusesNewWork()
{
    // A ledger that refuses every block while stall_blocks has a row, and a coordinator that
    // holds three write-offs at once.
    killNode(QStringLiteral("coordinator-1"), SIGTERM);
    reconfigure(QStringLiteral("coordinator-1"), QStringLiteral("coordinator"),
                {{QStringLiteral("max_open_tallies"), 3}});
    const QString ledger = layout->node(QStringLiteral("coordinator-1"))->databasePath;
    QCOMPARE(executeOn(ledger, "CREATE TABLE stall_blocks(x)", {}).first, 0);
    QVERIFY(executeOn(
                ledger,
                "CREATE TRIGGER stall_block BEFORE INSERT ON blocks WHEN EXISTS (SELECT 1 FROM stall_blocks) "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
                {})
                .first >= 0);
    QCOMPARE(executeOn(ledger, "INSERT INTO stall_blocks VALUES (1)", {}).first, 1);
    startNode(QStringLiteral("coordinator-1"));
    coordinator = client(QStringLiteral("coordinator-1"));
    QVERIFY(waitForCoordinatorLink(QStringLiteral("branch-1")));

    // Three decisions pile up in the block queue; the fourth write-off is refused, not queued.
    QStringList decided;
    for (int i = 0; i < 3; ++i) {
        const QJsonObject reply = submit(QStringLiteral("branch-1"), 340 + i);
        QCOMPARE(reply.value(u"status").toString(), QStringLiteral("accepted"));
        decided.append(reply.value(u"digest").toString());
        QCOMPARE(waitForDecision(decided.last()).value(u"outcome").toString(), QStringLiteral("DECIDED"));
    }
    const QJsonObject queues =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}}).value(u"queues").toObject();
    QCOMPARE(queues.value(u"block_queue").toInteger(), 3);
    QCOMPARE(queues.value(u"open_tallies").toInteger(), 0);
    const QJsonObject refused = submit(QStringLiteral("branch-1"), 343);
    QCOMPARE(refused.value(u"type").toString(), QStringLiteral("error"));
    QVERIFY2(refused.value(u"error").toString().contains(QLatin1String("busy")),
             qPrintable(refused.value(u"error").toString()));

    // Sealing resumes once the ledger takes blocks again, and with it new work.
    QVERIFY(
        QTest::qWaitFor([&] { return executeOn(ledger, "DELETE FROM stall_blocks", {}).first == 1; }, kWait));
    QVERIFY(waitForHeights(waitUntilSealed(decided)));
    QCOMPARE(submit(QStringLiteral("branch-1"), 343).value(u"status").toString(), QStringLiteral("accepted"));
}

void NetworkTest::operatorCommandsNameABlockTooLargeForAReceiver()
{
    // receiver-2 takes messages of 1 KiB, less than a block of two decisions, which a block
    // interval of a second collects.
    killNode(QStringLiteral("receiver-2"), SIGTERM);
    reconfigure(QStringLiteral("receiver-2"), QStringLiteral("limits"),
                {{QStringLiteral("max_frame_bytes"), 1024}});
    startNode(QStringLiteral("receiver-2"));
    restartCoordinator({{QStringLiteral("block_interval_ms"), 1000}});
    if (QTest::currentTestFailed())
        return;
    const QString digest = submit(QStringLiteral("branch-1"), 350).value(u"digest").toString();
    const QString other = submit(QStringLiteral("branch-2"), 351).value(u"digest").toString();
    const quint64 height = waitUntilSealed({digest, other});
    QVERIFY(height >= 1);
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1")).value(u"acked_height").toInteger(),
                              qint64(height), kWait);
    QTRY_VERIFY_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-2"))
                                 .value(u"last_error")
                                 .toString()
                                 .contains(QLatin1String("max_frame_bytes")),
                             kWait);

    // A re-sync says why it cannot start: the block, its size and the receiver's limit.
    const QString resync = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("resync_receiver")},
                                               {QStringLiteral("receiver"), QStringLiteral("receiver-2")},
                                               {QStringLiteral("from_height"), 1}})
                               .value(u"outcome")
                               .toString();
    QVERIFY2(
        resync.startsWith(QLatin1String("re-sync of receiver-2 from height 1 not started: block 1 takes")),
        qPrintable(resync));
    QVERIFY2(resync.contains(QLatin1String("1024 bytes of limits.max_frame_bytes")), qPrintable(resync));
    // The tool says so with its exit status too, so that a script does not take it for done.
    QProcess tool;
    tool.start(QStringLiteral(TICKETSYNC_CLI),
               {QStringLiteral("resync-receiver"), QStringLiteral("--devnet"), layout->dir,
                QStringLiteral("--from-height"), QStringLiteral("1"), QStringLiteral("receiver-2")});
    QVERIFY(tool.waitForFinished(kWait));
    const QByteArray toolSaid = tool.readAllStandardOutput() + tool.readAllStandardError();
    QVERIFY2(tool.exitCode() != 0 && toolSaid.contains("not started"), toolSaid.constData());

    // A retry lists it apart from the receivers it was retried to.
    const QJsonObject retried =
        call(*coordinator, {{QStringLiteral("type"), QStringLiteral("retry_deliveries")}});
    QCOMPARE(retried.value(u"type").toString(), QStringLiteral("command_result"));
    const QString dump = QString::fromUtf8(QJsonDocument(retried).toJson(QJsonDocument::Compact));
    QVERIFY2(!retried.value(u"retried").toArray().contains(QStringLiteral("receiver-2")), qPrintable(dump));
    QVERIFY2(retried.value(u"too_large").toArray() == QJsonArray{QStringLiteral("receiver-2")},
             qPrintable(dump));
    QVERIFY2(retried.value(u"ok") == QJsonValue(false), qPrintable(dump));
    QVERIFY2(retried.value(u"errors")
                 .toObject()
                 .value(u"receiver-2")
                 .toString()
                 .contains(QLatin1String("max_frame_bytes")),
             qPrintable(dump));
    QVERIFY2(
        retried.value(u"outcome").toString().contains(QLatin1String("a block too large for: receiver-2")),
        qPrintable(dump));

    // Restarted, it asks for the block itself (get_blocks) and is refused. Asking again soon would
    // get the same answer: it does not, and the coordinator's log does not fill with it.
    const auto logged = [this] {
        return nodeLog(QStringLiteral("coordinator-1"))
            .count(QLatin1String("limits.max_frame_bytes that receiver-2 takes"));
    };
    killNode(QStringLiteral("receiver-2"), SIGTERM);
    startNode(QStringLiteral("receiver-2"));
    QTRY_VERIFY_WITH_TIMEOUT(
        nodeLog(QStringLiteral("receiver-2")).contains(QLatin1String("answered with an error")), kWait);
    const qsizetype before = logged();
    QTest::qWait(6000);
    QCOMPARE(logged(), before);
}

void NetworkTest::resyncedReceiverKeepsGettingNewBlocks()
{
    // Blocks of at most two decisions, sent four to a batch: a re-sync from height 1 takes several
    // batches.
    restartCoordinator(
        {{QStringLiteral("block_max_decisions"), 2}, {QStringLiteral("sync_batch_blocks"), 4}});
    if (QTest::currentTestFailed())
        return;
    QStringList digests;
    digests.append(submitThroughBothBranches(20, 200));
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(height >= 10);
    QVERIFY(waitForHeights(height));

    const QString outcome = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("resync_receiver")},
                                                {QStringLiteral("receiver"), QStringLiteral("receiver-3")},
                                                {QStringLiteral("from_height"), 1}})
                                .value(u"outcome")
                                .toString();
    QVERIFY2(outcome.startsWith(QLatin1String("re-sync of receiver-3 from height 1 started")),
             qPrintable(outcome));
    // Write-offs keep coming while it is re-sent the chain; nobody runs another command.
    QStringList later;
    for (int i = 0; i < 12; ++i)
        later.append(submit(i % 2 ? QStringLiteral("branch-1") : QStringLiteral("branch-2"), 220 + i)
                         .value(u"digest")
                         .toString());
    const quint64 laterHeight = waitUntilSealed(later);
    QVERIFY(laterHeight > height);
    // It reaches the head with the others: the re-sync did not leave it out of new blocks.
    QVERIFY2(waitForHeights(laterHeight), QJsonDocument(receiverEntry(QStringLiteral("receiver-3")))
                                              .toJson(QJsonDocument::Compact)
                                              .constData());
    QCOMPARE(receiverEntry(QStringLiteral("receiver-3")).value(u"last_error").toString(), QString());
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-3")), qint64(digests.size() + later.size()));
}

void NetworkTest::receiverAsksAgainAfterARefusedBatch()
{
    QStringList digests;
    digests.append(submitThroughBothBranches(2, 260));
    QVERIFY(waitForHeights(waitUntilSealed(digests)));
    // receiver-1's disk takes no more writes (every write past 1 KiB fails): it refuses the next
    // block it is sent.
    const pid_t receiverPid = pid_t(devnet->pid(QStringLiteral("receiver-1")));
    struct rlimit unlimited = {};
    QCOMPARE(prlimit(receiverPid, RLIMIT_FSIZE, nullptr, &unlimited), 0);
    const struct rlimit full = {1024, unlimited.rlim_max};
    QCOMPARE(prlimit(receiverPid, RLIMIT_FSIZE, &full, nullptr), 0);
    auto restore = qScopeGuard([&] { prlimit(receiverPid, RLIMIT_FSIZE, &unlimited, nullptr); });
    const QString digest = submit(QStringLiteral("branch-1"), 262).value(u"digest").toString();
    const quint64 height = waitUntilSealed({digest});
    QVERIFY(height >= 2);
    QTRY_VERIFY_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1"))
                                 .value(u"last_error")
                                 .toString()
                                 .startsWith(QLatin1String("storing: ")),
                             kWait);
    QVERIFY(quint64(receiverEntry(QStringLiteral("receiver-1")).value(u"acked_height").toInteger()) < height);
    // The disk takes writes again. Nothing more is sealed and nobody runs a command: it asks again
    // by itself.
    restore.dismiss();
    QCOMPARE(prlimit(receiverPid, RLIMIT_FSIZE, &unlimited, nullptr), 0);
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1")).value(u"acked_height").toInteger(),
                              qint64(height), kWait);
    QCOMPARE(receiverEntry(QStringLiteral("receiver-1")).value(u"last_error").toString(), QString());
    QCOMPARE(coordinatorHeight(), height);
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-1")), qint64(digests.size() + 1));
}

void NetworkTest::catchingUpReceiverIsSentEachBlockOnce()
{
    // receiver-1 is down from the start; blocks of at most two decisions, sent four to a batch,
    // make its catch-up take several requests.
    killNode(QStringLiteral("receiver-1"));
    restartCoordinator(
        {{QStringLiteral("block_max_decisions"), 2}, {QStringLiteral("sync_batch_blocks"), 4}});
    if (QTest::currentTestFailed())
        return;
    QStringList digests;
    digests.append(submitThroughBothBranches(24, 240));
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(height >= 12);
    startNode(QStringLiteral("receiver-1"));
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1")).value(u"acked_height").toInteger(),
                              qint64(height), kWait);
    // Each block came once: no batch answered twice, none dropped past a gap and asked for again.
    std::unique_ptr<ApiClient> receiver = client(QStringLiteral("receiver-1"));
    const QJsonObject counters =
        call(*receiver, {{QStringLiteral("type"), QStringLiteral("status")}}).value(u"counters").toObject();
    const QString dump = QString::fromUtf8(QJsonDocument(counters).toJson(QJsonDocument::Compact));
    QVERIFY2(counters.value(u"blocks").toInteger() == qint64(height), qPrintable(dump));
    QVERIFY2(counters.value(u"blocks_received_duplicate").toInteger() == 0, qPrintable(dump));
    QVERIFY2(counters.value(u"blocks_received_out_of_order").toInteger() == 0, qPrintable(dump));
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-1")), qint64(digests.size()));
}

void NetworkTest::errorFromAChainStoreIsItsLastError()
{
    // receiver-2 (its keys, as receiver-2 would) tells the coordinator it could not take a frame.
    QWebSocket socket;
    QList<QJsonObject> replies;
    connect(&socket, &QWebSocket::textMessageReceived, this,
            [&](const QString &text) { replies.append(QJsonDocument::fromJson(text.toUtf8()).object()); });
    killNode(QStringLiteral("receiver-2")); // the coordinator keeps one link per node, the newest
    connectAsNode(socket, QStringLiteral("receiver-2"));
    if (QTest::currentTestFailed())
        return;
    QTRY_VERIFY_WITH_TIMEOUT(!replies.isEmpty(), kWait);
    QCOMPARE(replies.first().value(u"type").toString(), QStringLiteral("welcome"));
    socket.sendTextMessage(QStringLiteral(
        R"({"type":"error","request":"node_frame","error":"'check' frames are not for receiver-2"})"));
    // Shown as its last_error, and in the coordinator's log with the peer; not answered.
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-2")).value(u"last_error").toString(),
                              QStringLiteral("node_frame: 'check' frames are not for receiver-2"), kWait);
    const QString log = nodeLog(QStringLiteral("coordinator-1"));
    QVERIFY2(log.contains(QLatin1String("node 'receiver-2'")) &&
                 log.contains(QLatin1String("reported an error: node_frame: 'check' frames are not for")),
             qPrintable(log.right(2000)));
    QVERIFY(!log.contains(QLatin1String("unknown node message type 'error'")));
    QCOMPARE(replies.size(), 1);

    // A flood of refused requests costs a line or two of the log, not one each.
    for (int i = 0; i < 500; ++i)
        socket.sendTextMessage(QStringLiteral(R"({"type":"no_such_type"})"));
    QTRY_COMPARE_WITH_TIMEOUT(replies.size(), 501, kWait);
    const qsizetype lines = nodeLog(QStringLiteral("coordinator-1"))
                                .count(QLatin1String("unknown node message type 'no_such_type'"));
    QVERIFY2(lines >= 1 && lines <= 2, qPrintable(QString::number(lines)));
}

void NetworkTest::slowSubscriberIsServedNotClosed()
{
    // A coordinator that keeps at most 64 KiB unread for a connection for at most 1 s, so a
    // subscriber is sent at most 32 KiB of events at a time, and a journal of some 300 KB of events.
    // (Without the per-event check a turn queued up to 2000 events at once; the kernel's socket
    // buffers on loopback take that much here, so only tens of MB of events could show the close.)
    restartCoordinator(
        {}, {{QStringLiteral("max_unread_bytes"), 65536}, {QStringLiteral("not_reading_close_ms"), 1000}});
    if (QTest::currentTestFailed())
        return;
    QStringList digests;
    digests.append(submitThroughBothBranches(100, 1));
    QVERIFY(waitUntilSealed(digests.mid(90)) >= 1);
    QTest::qWait(300);
    const qint64 lastSeq = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                               .value(u"last_seq")
                               .toInteger();
    QVERIFY2(lastSeq > 500, qPrintable(QString::number(lastSeq)));

    // A raw TLS WebSocket client with small buffers that reads 8 KB every 50 ms, slower than the
    // events could be sent: each turn of the pump ends once 32 KiB wait, in the middle of a page of
    // events, and a later one goes on from there.
    RawWebSocketClient client;
    openRawOperatorClient(client);
    if (QTest::currentTestFailed())
        return;
    QSslSocket &raw = client.socket;
    raw.setSocketOption(QAbstractSocket::ReceiveBufferSizeSocketOption, 8192);
    raw.setReadBufferSize(8192);
    client.send(0x1, R"({"type":"subscribe","from_seq":1})");

    qint64 nextSeq = 1;
    QString disorder;
    const auto parse = [&](const QList<QByteArray> &messages) {
        for (const QByteArray &message : messages) {
            const QJsonObject object = QJsonDocument::fromJson(message).object();
            if (object.value(u"type").toString() != QLatin1String("event"))
                continue;
            if (object.value(u"seq").toInteger() != nextSeq && disorder.isEmpty())
                disorder = QStringLiteral("seq %1 where %2 was next")
                               .arg(object.value(u"seq").toInteger())
                               .arg(nextSeq);
            nextSeq = object.value(u"seq").toInteger() + 1;
        }
    };
    QElapsedTimer reading;
    reading.start();
    while (nextSeq <= lastSeq && raw.state() == QAbstractSocket::ConnectedState &&
           reading.elapsed() < 120000) {
        QTest::qWait(50);
        parse(client.readSome(8192));
    }
    qInfo() << "read" << nextSeq - 1 << "events in" << reading.elapsed() << "ms";
    // Every event once, in order, and the connection still open: it was only slow.
    QVERIFY2(disorder.isEmpty(), qPrintable(disorder));
    QVERIFY2(nextSeq > lastSeq,
             qPrintable(QStringLiteral("%1 of %2 events, connection %3")
                            .arg(nextSeq - 1)
                            .arg(lastSeq)
                            .arg(raw.state() == QAbstractSocket::ConnectedState ? QStringLiteral("open")
                                                                                : QStringLiteral("closed"))));
    QCOMPARE(raw.state(), QAbstractSocket::ConnectedState);
    QCOMPARE(call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                 .value(u"counters")
                 .toObject()
                 .value(u"closed_not_reading")
                 .toInteger(),
             0);
}

void NetworkTest::blocksStoredWithoutTheirEventsAreAnnouncedOnRestart()
{
    QStringList digests;
    for (int i = 1; i <= 12; ++i) {
        digests.append(submit(QStringLiteral("branch-1"), 500 + i).value(u"digest").toString());
        QTest::qWait(40); // a few blocks, not one
    }
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(waitForHeights(height));
    QVERIFY2(height >= 3, qPrintable(QStringLiteral("only %1 blocks").arg(height)));

    // A crash between a block's commit and the journal's next one: the newest block events never
    // reached the journal, although the ledger holds their blocks.
    killNode(QStringLiteral("receiver-1"), SIGTERM);
    const QFileInfo ledger(layout->node(QStringLiteral("receiver-1"))->databasePath);
    const QString journalPath = ledger.dir().filePath(ledger.completeBaseName() + QStringLiteral(".events"));
    constexpr int kLost = 2;
    {
        sqlite3 *db = nullptr;
        QCOMPARE(sqlite3_open(journalPath.toUtf8().constData(), &db), SQLITE_OK);
        const auto closeDb = qScopeGuard([db] { sqlite3_close(db); });
        sqlite3_stmt *newest = nullptr;
        QCOMPARE(
            sqlite3_prepare_v2(db, "SELECT kind FROM events ORDER BY seq DESC LIMIT 2", -1, &newest, nullptr),
            SQLITE_OK);
        int blockEvents = 0;
        while (sqlite3_step(newest) == SQLITE_ROW)
            blockEvents += QByteArray(reinterpret_cast<const char *>(sqlite3_column_text(newest, 0))) ==
                           "block_appended";
        sqlite3_finalize(newest);
        QCOMPARE(blockEvents, kLost);
        QCOMPARE(sqlite3_exec(
                     db, "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq DESC LIMIT 2)",
                     nullptr, nullptr, nullptr),
                 SQLITE_OK);
    }

    startNode(QStringLiteral("receiver-1"));
    std::unique_ptr<ApiClient> receiver = client(QStringLiteral("receiver-1"), true);
    QVERIFY(receiver && receiver->isConnected());
    QMap<qint64, qint64> seqByHeight;
    connect(receiver.get(), &ApiClient::eventReceived, this, [&](const QJsonObject &event) {
        seqByHeight.insert(event.value(u"height").toInteger(), event.value(u"seq").toInteger());
    });
    receiver->subscribe(1, {QStringLiteral("block_appended")});
    QTRY_VERIFY_WITH_TIMEOUT(seqByHeight.size() >= qsizetype(height), kWait);
    for (quint64 h = 1; h <= height; ++h)
        QVERIFY2(seqByHeight.contains(qint64(h)), qPrintable(QStringLiteral("no event for block %1").arg(h)));
    // Announced again after the events that survived, in block order.
    QVERIFY(seqByHeight.value(qint64(height)) > seqByHeight.value(qint64(height) - kLost));
    QVERIFY(seqByHeight.value(qint64(height)) > seqByHeight.value(qint64(height) - kLost + 1));
}

void NetworkTest::blockEventsPrunedAwayAreNotAnnouncedAgain()
{
    QStringList digests;
    for (int i = 1; i <= 6; ++i) {
        digests.append(submit(QStringLiteral("branch-1"), 520 + i).value(u"digest").toString());
        QTest::qWait(40);
    }
    const quint64 height = waitUntilSealed(digests);
    QVERIFY(waitForHeights(height));

    // The newest events hold no block event and the older ones are pruned: which blocks had
    // their events is unknown, and announcing the chain again would flood every client.
    killNode(QStringLiteral("receiver-1"), SIGTERM);
    qint64 lastSeq = 0;
    {
        const QFileInfo ledger(layout->node(QStringLiteral("receiver-1"))->databasePath);
        QString error;
        std::unique_ptr<NodeJournal> journal = NodeJournal::open(
            ledger.dir().filePath(ledger.completeBaseName() + QStringLiteral(".events")), &error);
        QVERIFY2(journal, qPrintable(error));
        for (int i = 0; i < 2500; ++i)
            QVERIFY(journal->appendEvent(QStringLiteral("sync_error"), R"({"error":"test"})", 1000 + i).seq >
                    0);
        journal->pruneEvents(1000);
        QVERIFY2(journal->commit(&error), qPrintable(error));
        QVERIFY(journal->firstSeq() > 1);
        lastSeq = journal->lastSeq();
    }
    startNode(QStringLiteral("receiver-1"));
    std::unique_ptr<ApiClient> receiver = client(QStringLiteral("receiver-1"), true);
    QVERIFY(receiver && receiver->isConnected());
    QList<QJsonObject> announced;
    connect(receiver.get(), &ApiClient::eventReceived, this,
            [&](const QJsonObject &event) { announced.append(event); });
    receiver->subscribe(lastSeq + 1, {QStringLiteral("block_appended")});
    QTest::qWait(500);
    QVERIFY2(announced.isEmpty(),
             qPrintable(QStringLiteral("%1 blocks announced again").arg(announced.size())));
    QVERIFY2(devnet->logTail(QStringLiteral("receiver-1")).contains(QLatin1String("none is announced again")),
             qPrintable(devnet->logTail(QStringLiteral("receiver-1"))));
}

void NetworkTest::receiverWhoseJournalFailsTakesNoBlocks()
{
    QStringList digests;
    digests.append(submitThroughBothBranches(2, 600));
    QVERIFY(waitForHeights(waitUntilSealed(digests)));
    std::unique_ptr<ApiClient> receiver = client(QStringLiteral("receiver-1"));
    QVERIFY(receiver);
    const auto journal = [&] {
        return call(*receiver, {{QStringLiteral("type"), QStringLiteral("status")}})
            .value(u"journal")
            .toObject();
    };
    // receiver-1's disk takes no more writes: its store refuses the next block, and the event of
    // that is its journal's first failed commit.
    const pid_t receiverPid = pid_t(devnet->pid(QStringLiteral("receiver-1")));
    struct rlimit unlimited = {};
    QCOMPARE(prlimit(receiverPid, RLIMIT_FSIZE, nullptr, &unlimited), 0);
    const struct rlimit full = {1024, unlimited.rlim_max};
    QCOMPARE(prlimit(receiverPid, RLIMIT_FSIZE, &full, nullptr), 0);
    auto restore = qScopeGuard([&] { prlimit(receiverPid, RLIMIT_FSIZE, &unlimited, nullptr); });
    digests.append(submit(QStringLiteral("branch-1"), 602).value(u"digest").toString());
    waitUntilSealed({digests.last()});
    QTRY_VERIFY_WITH_TIMEOUT(!journal().value(u"error").toString().isEmpty(), kWait);

    // Write-offs keep coming, a block each: the receiver keeps no write for any of them.
    for (int i = 0; i < 8; ++i) {
        digests.append(submit(i % 2 ? QStringLiteral("branch-1") : QStringLiteral("branch-2"), 603 + i)
                           .value(u"digest")
                           .toString());
        QVERIFY(waitUntilSealed({digests.last()}) > 0);
    }
    const quint64 height = coordinatorHeight();
    QTRY_VERIFY_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1"))
                                 .value(u"last_error")
                                 .toString()
                                 .startsWith(QLatin1String("receiver-1 cannot store to its journal now (")),
                             kWait);
    const qint64 kept = journal().value(u"unstored_writes").toInteger();
    QVERIFY2(kept <= 2, qPrintable(QString::number(kept)));

    // The disk takes writes again: it catches up to the same head by itself.
    restore.dismiss();
    QCOMPARE(prlimit(receiverPid, RLIMIT_FSIZE, &unlimited, nullptr), 0);
    QTRY_COMPARE_WITH_TIMEOUT(journal().value(u"error").toString(), QString(), kWait);
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1")).value(u"acked_height").toInteger(),
                              qint64(height), kWait);
    QCOMPARE(journal().value(u"unstored_writes").toInteger(), 0);
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-1")), qint64(digests.size()));
}

void NetworkTest::resyncEndsAtARefusedBatch()
{
    // One block per batch: a re-sync streamed to the end would be one batch per block.
    restartCoordinator({{QStringLiteral("sync_batch_blocks"), 1}});
    if (QTest::currentTestFailed())
        return;
    QStringList digests;
    digests.append(submitThroughBothBranches(2, 620));
    QVERIFY(waitForHeights(waitUntilSealed(digests)));
    std::unique_ptr<ApiClient> receiver = client(QStringLiteral("receiver-1"));
    QVERIFY(receiver);
    const auto syncErrors = [&] {
        return call(*receiver, {{QStringLiteral("type"), QStringLiteral("status")}})
            .value(u"counters")
            .toObject()
            .value(u"sync_errors")
            .toInteger();
    };
    // receiver-1's disk takes no more writes, and a dozen blocks are sealed that it refuses.
    const pid_t receiverPid = pid_t(devnet->pid(QStringLiteral("receiver-1")));
    struct rlimit unlimited = {};
    QCOMPARE(prlimit(receiverPid, RLIMIT_FSIZE, nullptr, &unlimited), 0);
    const struct rlimit full = {1024, unlimited.rlim_max};
    QCOMPARE(prlimit(receiverPid, RLIMIT_FSIZE, &full, nullptr), 0);
    auto restore = qScopeGuard([&] { prlimit(receiverPid, RLIMIT_FSIZE, &unlimited, nullptr); });
    for (int i = 0; i < 12; ++i) {
        digests.append(submit(i % 2 ? QStringLiteral("branch-1") : QStringLiteral("branch-2"), 622 + i)
                           .value(u"digest")
                           .toString());
        QVERIFY(waitUntilSealed({digests.last()}) > 0);
    }
    const quint64 height = coordinatorHeight();
    QTRY_VERIFY_WITH_TIMEOUT(
        !receiverEntry(QStringLiteral("receiver-1")).value(u"last_error").toString().isEmpty(), kWait);

    // A re-sync from 1 ends at the first batch it refuses, instead of streaming the rest to it.
    const qint64 before = syncErrors();
    const QString outcome = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("resync_receiver")},
                                                {QStringLiteral("receiver"), QStringLiteral("receiver-1")},
                                                {QStringLiteral("from_height"), 1}})
                                .value(u"outcome")
                                .toString();
    QVERIFY2(outcome.startsWith(QLatin1String("re-sync of receiver-1 from height 1 started")),
             qPrintable(outcome));
    QTest::qWait(1500);
    const qint64 refused = syncErrors() - before;
    QVERIFY2(refused <= 3, qPrintable(QString::number(refused)));

    // The disk takes writes again: its own backoff brings it to the head.
    restore.dismiss();
    QCOMPARE(prlimit(receiverPid, RLIMIT_FSIZE, &unlimited, nullptr), 0);
    QTRY_COMPARE_WITH_TIMEOUT(receiverEntry(QStringLiteral("receiver-1")).value(u"acked_height").toInteger(),
                              qint64(height), kWait);
    QCOMPARE(verifiedDecisionsOn(QStringLiteral("receiver-1")), qint64(digests.size()));
}

void NetworkTest::deferredQueriesAreCheckedAgainstTheUnreadLimit()
{
    restartCoordinator({}, {{QStringLiteral("max_unread_bytes"), 64 * 1024}});
    if (QTest::currentTestFailed())
        return;
    // A raw operator client that reads nothing for a while, as in
    // clientThatStopsReadingIsRefusedThenClosed.
    RawWebSocketClient client;
    openRawOperatorClient(client);
    QSslSocket &raw = client.socket;
    if (QTest::currentTestFailed())
        return;
    // A command that writes an event opens the journal's transaction, so the lookups behind it all
    // wait for its commit: 12 answers of 500 sealed decisions with their proofs, each asked for
    // while nothing waited unread, together over the unread ceiling.
    const QString digest = submit(QStringLiteral("branch-1"), 640).value(u"digest").toString();
    QVERIFY(waitForHeights(waitUntilSealed({digest})));
    QJsonArray digests;
    for (int i = 0; i < 500; ++i)
        digests.append(digest);
    QByteArray burst = RawWebSocketClient::textFrame(R"({"type":"retry_deliveries","id":0})");
    for (int i = 1; i <= 12; ++i)
        burst += RawWebSocketClient::textFrame(
            QJsonDocument(QJsonObject{{QStringLiteral("type"), QStringLiteral("decisions")},
                                      {QStringLiteral("id"), i},
                                      {QStringLiteral("digests"), digests}})
                .toJson(QJsonDocument::Compact));
    // Stopped while it is sent, the coordinator takes the whole burst in one read.
    QVERIFY(devnet->signalNode(QStringLiteral("coordinator-1"), SIGSTOP));
    auto resume = qScopeGuard([this] { devnet->signalNode(QStringLiteral("coordinator-1"), SIGCONT); });
    raw.write(burst);
    QTest::qWait(300);
    resume.dismiss();
    QVERIFY(devnet->signalNode(QStringLiteral("coordinator-1"), SIGCONT));
    QTest::qWait(1000);
    // Read now: the node answered what fitted and refused the rest, and kept the connection.
    raw.setReadBufferSize(0);
    QByteArray received;
    for (int i = 0; i < 30 && raw.state() == QAbstractSocket::ConnectedState; ++i) {
        QTest::qWait(100);
        received += raw.readAll();
    }
    const QJsonObject counters = call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                                     .value(u"counters")
                                     .toObject();
    const QByteArray dump = QJsonDocument(counters).toJson(QJsonDocument::Compact);
    QVERIFY2(counters.value(u"closed_not_reading").toInteger() == 0, dump.constData());
    QCOMPARE(raw.state(), QAbstractSocket::ConnectedState);
    QVERIFY2(counters.value(u"refused_unread").toInteger() > 0, dump.constData());
    QVERIFY(received.contains("\"type\":\"decisions\""));
}

#include "tst_network.moc"
