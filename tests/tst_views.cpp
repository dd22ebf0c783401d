// The console's views and their models, fed with events built from real signed objects
// (SampleConsortium + Tally, shaped as the coordinator emits them, docs/api.md), on real
// widgets under the offscreen platform. Dialogs are replaced through the views' seams.
#include "AlertsModel.h"
#include "AlertsView.h"
#include "Block.h"
#include "CacheWorker.h"
#include "ConfirmationState.h"
#include "ConnectDialog.h"
#include "ConsoleSettings.h"
#include "Decision.h"
#include "DecisionDetailPane.h"
#include "DecisionSummary.h"
#include "DevnetLayout.h"
#include "HistoryCache.h"
#include "InclusionProof.h"
#include "Membership.h"
#include "ReceiversModel.h"
#include "ReceiversView.h"
#include "SampleConsortium.h"
#include "Tally.h"
#include "TallyTracker.h"
#include "VoteHistogramWidget.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QDialogButtonBox>
#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

using namespace ticketsync;

namespace {

constexpr qint64 kIssuedAt = 1795651200000;

QString hex(const QByteArray &bytes)
{
    return QString::fromLatin1(bytes.toHex());
}

// Builds the coordinator's events for write-offs of one sample consortium, running a real
// Tally so each confirmation carries the verdict the coordinator would give it.
class EventScript
{
public:
    explicit EventScript(int targets = 4)
    {
        SampleConsortium::Options options;
        options.targets = targets;
        sample = SampleConsortium::generate(options);
    }

    SampleConsortium sample;
    QList<QJsonObject> events;
    qint64 seq = 0;
    qint64 clock = kIssuedAt;

    QJsonObject frame(const QString &kind, QJsonObject body)
    {
        body.insert(QStringLiteral("type"), QStringLiteral("event"));
        body.insert(QStringLiteral("seq"), ++seq);
        body.insert(QStringLiteral("at_ms"), ++clock);
        body.insert(QStringLiteral("kind"), kind);
        events.append(body);
        return body;
    }

    WriteOffResult issue(const QString &ticket, quint32 version = 1)
    {
        const WriteOffResult writeOff = sample.writeOff(QStringLiteral("branch-1"), ticket, version, 125000,
                                                        QStringLiteral("CNY"), ++clock);
        frame(QStringLiteral("write_off_issued"),
              {{QStringLiteral("write_off_digest"), hex(writeOff.digest())},
               {QStringLiteral("ticket"), writeOff.ticketId},
               {QStringLiteral("version"), qint64(writeOff.ticketVersion)},
               {QStringLiteral("branch"), writeOff.branchId},
               {QStringLiteral("amount_minor"), writeOff.amountMinor},
               {QStringLiteral("currency"), writeOff.currency},
               {QStringLiteral("reference"), QString()},
               {QStringLiteral("issued_at_ms"), writeOff.issuedAtMs}});
        return writeOff;
    }

    // Feeds the confirmation to the tally and records the events the coordinator would send.
    Tally::Verdict confirm(Tally &tally, const StateConfirmation &confirmation)
    {
        QString reason;
        const Tally::Verdict verdict = tally.add(confirmation, &reason);
        if (verdict == Tally::Verdict::Duplicate)
            return verdict;
        const WriteOffResult &writeOff = tally.writeOff();
        frame(QStringLiteral("confirmation_received"),
              {{QStringLiteral("write_off_digest"), hex(confirmation.writeOffDigest)},
               {QStringLiteral("ticket"), writeOff.ticketId},
               {QStringLiteral("version"), qint64(writeOff.ticketVersion)},
               {QStringLiteral("branch"), writeOff.branchId},
               {QStringLiteral("target"), confirmation.targetId},
               {QStringLiteral("state"), stateName(confirmation.stateCode)},
               {QStringLiteral("reason"), confirmation.reason},
               {QStringLiteral("verdict"), Tally::verdictName(verdict)},
               {QStringLiteral("verdict_reason"), reason},
               {QStringLiteral("confirmation"), QString::fromLatin1(confirmation.encode().toBase64())}});
        if (verdict == Tally::Verdict::Equivocation) {
            for (const EquivocationEvidence &evidence : tally.equivocations()) {
                if (evidence.targetId != confirmation.targetId)
                    continue;
                frame(QStringLiteral("equivocation"),
                      {{QStringLiteral("write_off_digest"), hex(confirmation.writeOffDigest)},
                       {QStringLiteral("ticket"), writeOff.ticketId},
                       {QStringLiteral("target"), evidence.targetId},
                       {QStringLiteral("first"), QString::fromLatin1(evidence.first.encode().toBase64())},
                       {QStringLiteral("second"), QString::fromLatin1(evidence.second.encode().toBase64())}});
            }
        }
        return verdict;
    }

    Tally::Verdict vote(Tally &tally, int target, ConfirmationState state)
    {
        return confirm(tally,
                       sample.confirm(QStringLiteral("target-%1").arg(target), tally.writeOff(), state));
    }

    static QJsonObject summary(const Decision &decision) { return decisionSummary(decision); }

    Decision decide(const Tally &tally)
    {
        const Decision decision = tally.decision(++clock);
        QJsonObject event = summary(decision);
        event.insert(QStringLiteral("attempts"), 1);
        event.insert(QStringLiteral("latency_ms"), decision.decidedAtMs - decision.writeOff.issuedAtMs);
        frame(QStringLiteral("decision_made"), event);
        return decision;
    }
};

StateConfirmation tampered(StateConfirmation confirmation)
{
    confirmation.signature[5] = char(confirmation.signature.at(5) ^ 0x01);
    return confirmation;
}

QJsonObject receiverJson(const QString &id, const QString &status, qint64 acked, qint64 head, qint64 lagMs,
                         const QString &error = {})
{
    return {{QStringLiteral("receiver"), id},
            {QStringLiteral("roles"), QJsonArray{QStringLiteral("receiver")}},
            {QStringLiteral("status"), status},
            {QStringLiteral("acked_height"), acked},
            {QStringLiteral("head_height"), head},
            {QStringLiteral("lag_blocks"), head - acked},
            {QStringLiteral("lag_ms"), lagMs},
            {QStringLiteral("last_error"), error},
            {QStringLiteral("last_contact_ms"), kIssuedAt}};
}

// TICKETSYNC_VIEW_SHOTS=DIR saves what the tests rendered, to look at them as a person would.
void saveShot(QWidget *widget, const QString &name)
{
    const QString dir = qEnvironmentVariable("TICKETSYNC_VIEW_SHOTS");
    if (dir.isEmpty())
        return;
    QCoreApplication::sendPostedEvents(nullptr, QEvent::LayoutRequest);
    widget->grab().save(dir + QLatin1Char('/') + name + QStringLiteral(".png"));
}

bool hasColour(const QImage &image, const QColor &colour)
{
    for (int y = 0; y < image.height(); ++y) {
        for (int x = 0; x < image.width(); ++x) {
            if (image.pixelColor(x, y).rgb() == colour.rgb())
                return true;
        }
    }
    return false;
}

} // namespace

class TestViews : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void trackerCountsTheConfirmationsSent();
    void trackerRollsTheAggregate();
    void trackerRetriedUndeterminedAndCapacity();
    void trackerRefusesMalformedEvents();
    void histogramRenders();
    void histogramCaptions();
    void receiversModel();
    void receiversModelKeepsWhatAGarbledReplyDoesNotSay();
    void receiversViewAuditor();
    void receiversViewOperator();
    void alerts();
    void undeterminedAlertResolvedByRetry();
    void detailPaneVerifiesCertificate();
    void detailPaneIgnoresStaleResults();
    void detailPaneVerifiesTheBlockProof();
    void connectDialogChecksAndKeepsItsFiles();
};

void TestViews::trackerCountsTheConfirmationsSent()
{
    EventScript script(4);
    Tally tally(script.sample.membership, script.issue(QStringLiteral("T-000001")));
    const QString digest = hex(tally.writeOffDigest());
    QCOMPARE(tally.quorum(), 3);

    QCOMPARE(script.vote(tally, 1, ConfirmationState::WrittenOff), Tally::Verdict::Counted);
    QCOMPARE(
        script.confirm(tally, tampered(script.sample.confirm(QStringLiteral("target-4"), tally.writeOff(),
                                                             ConfirmationState::WrittenOff))),
        Tally::Verdict::BadSignature);
    QCOMPARE(script.vote(tally, 3, ConfirmationState::AmountMismatch), Tally::Verdict::Counted);
    QCOMPARE(script.vote(tally, 3, ConfirmationState::WrittenOff), Tally::Verdict::Equivocation);
    QCOMPARE(script.vote(tally, 2, ConfirmationState::WrittenOff), Tally::Verdict::Counted);
    const qsizetype pendingEvents = script.events.size();
    QCOMPARE(script.vote(tally, 4, ConfirmationState::WrittenOff), Tally::Verdict::Counted);
    QCOMPARE(tally.status(), Tally::Status::Decided);
    const Decision decision = script.decide(tally);
    // A late vote after the outcome: shown apart, never counted.
    QCOMPARE(script.vote(tally, 3, ConfirmationState::WrittenOff), Tally::Verdict::Equivocation);

    TallyTracker tracker;
    tracker.setMembershipQuorum(4, 3);
    QSignalSpy changed(&tracker, &TallyTracker::tallyChanged);
    QSignalSpy aggregate(&tracker, &TallyTracker::aggregateChanged);
    for (qsizetype i = 0; i < script.events.size(); ++i) {
        QVERIFY2(tracker.applyEvent(script.events.at(i), QStringLiteral("coordinator-1")),
                 qPrintable(script.events.at(i).value(u"kind").toString()));
        if (i + 1 == pendingEvents) {
            // Before the deciding vote: 2 of 4, one target still out, one more needed.
            const TicketTally pending = tracker.tally(digest);
            QVERIFY(pending.isPending());
            QCOMPARE(pending.n, 4);
            QCOMPARE(pending.q, 3);
            QCOMPARE(pending.counts.value(QStringLiteral("WRITTEN_OFF")), 2);
            QCOMPARE(pending.counts.value(QStringLiteral("AMOUNT_MISMATCH")), 0);
            QCOMPARE(pending.nonVoters, 1);
            QCOMPARE(pending.margin(), 1);
            QVERIFY(pending.canReachQuorum());
        }
    }
    QCOMPARE(changed.size(), script.events.size());
    QCOMPARE(aggregate.size(), 1);
    QCOMPARE(tracker.latestDigest(), digest);

    const TicketTally t = tracker.tally(digest);
    QVERIFY(t.isValid());
    QCOMPARE(t.ticket, QStringLiteral("T-000001"));
    QCOMPARE(t.outcome, QStringLiteral("DECIDED"));
    QCOMPARE(t.decidedState, QStringLiteral("WRITTEN_OFF"));
    QCOMPARE(t.sourceNode, QStringLiteral("coordinator-1"));
    // The counts equal the confirmations the coordinator counted, state by state.
    QMap<QString, int> expected;
    for (const StateCount &count : decision.histogram)
        expected.insert(stateName(count.stateCode), int(count.count));
    QCOMPARE(t.counts, expected);
    int countedEvents = 0;
    for (const QJsonObject &event : std::as_const(script.events))
        countedEvents += event.value(u"verdict").toString() == QLatin1String("counted") ? 1 : 0;
    // target-3's counted AMOUNT_MISMATCH was withdrawn when it equivocated.
    QCOMPARE(t.topCount(), countedEvents - 1);
    QCOMPARE(t.topCount(), tally.countOf(quint16(ConfirmationState::WrittenOff)));
    QCOMPARE(t.badSignature, QStringList{QStringLiteral("target-4")});
    QCOMPARE(t.equivocating, QStringList{QStringLiteral("target-3")});
    QCOMPARE(t.nonVoters, int(decision.missing));
    QCOMPARE(t.nonVoters, 0);
    QCOMPARE(t.n, 4);
    QCOMPARE(t.q, 3);
    QCOMPARE(tracker.talliesForTicket(QStringLiteral("T-000001")).size(), 1);
    const TallyTracker::Aggregate totals = tracker.aggregate();
    QCOMPARE(totals.window, 1);
    QCOMPARE(totals.decided.value(QStringLiteral("WRITTEN_OFF")), 1);

    // Replaying the same events (a reconnect that overlaps) counts nothing twice.
    for (const QJsonObject &event : std::as_const(script.events)) {
        if (event.value(u"kind").toString() != QLatin1String("decision_made"))
            QVERIFY(tracker.applyEvent(event));
    }
    QCOMPARE(tracker.tally(digest).counts, expected);
}

void TestViews::trackerRollsTheAggregate()
{
    EventScript script(4);
    QMap<QString, int> lastFive;
    int lastFiveUndetermined = 0;
    const int total = 8;
    for (int i = 0; i < total; ++i) {
        Tally tally(script.sample.membership,
                    script.issue(QStringLiteral("T-%1").arg(i + 1, 6, 10, QLatin1Char('0'))));
        const ConfirmationState state =
            i % 2 == 0 ? ConfirmationState::WrittenOff : ConfirmationState::AlreadyWrittenOff;
        if (i % 3 == 2) {
            script.vote(tally, 1, ConfirmationState::WrittenOff);
            script.vote(tally, 2, ConfirmationState::UnknownTicket);
            tally.expire();
        } else {
            for (int target = 1; target <= 3; ++target)
                script.vote(tally, target, state);
        }
        const Decision decision = script.decide(tally);
        if (i >= total - 5) {
            if (decision.outcome == Outcome::Decided)
                ++lastFive[stateName(decision.decidedState)];
            else
                ++lastFiveUndetermined;
        }
    }
    TallyTracker tracker;
    tracker.setAggregateWindow(5);
    QSignalSpy aggregate(&tracker, &TallyTracker::aggregateChanged);
    for (const QJsonObject &event : std::as_const(script.events))
        QVERIFY(tracker.applyEvent(event));
    QCOMPARE(aggregate.size(), total);
    const TallyTracker::Aggregate totals = tracker.aggregate();
    QCOMPARE(totals.window, 5);
    QCOMPARE(totals.decided, lastFive);
    QCOMPARE(totals.undetermined, lastFiveUndetermined);
    QVERIFY(totals.undetermined > 0);
    int sum = totals.undetermined;
    for (const int count : totals.decided)
        sum += count;
    QCOMPARE(sum, 5);

    tracker.setAggregateWindow(2);
    QCOMPARE(tracker.aggregate().window, 2);
}

void TestViews::trackerRetriedUndeterminedAndCapacity()
{
    EventScript script(4);
    const WriteOffResult writeOff = script.issue(QStringLiteral("T-000042"));
    Tally first(script.sample.membership, writeOff);
    script.vote(first, 1, ConfirmationState::WrittenOff);
    first.expire();
    script.decide(first);
    // The operator retries: the coordinator starts a new tally for the same write-off.
    Tally second(script.sample.membership, writeOff);
    for (int target = 1; target <= 3; ++target)
        script.vote(second, target, ConfirmationState::WrittenOff);
    script.decide(second);

    TallyTracker tracker;
    for (const QJsonObject &event : std::as_const(script.events))
        QVERIFY(tracker.applyEvent(event));
    const TicketTally t = tracker.tally(hex(writeOff.digest()));
    QCOMPARE(t.outcome, QStringLiteral("DECIDED"));
    QCOMPARE(t.counts.value(QStringLiteral("WRITTEN_OFF")), 3);
    // The latest outcome replaces the UNDETERMINED one in the aggregate.
    QCOMPARE(tracker.aggregate().window, 1);
    QCOMPARE(tracker.aggregate().undetermined, 0);

    // Bounded: the least recently updated write-offs go first.
    tracker.setCapacity(3);
    QStringList digests;
    for (int i = 0; i < 5; ++i) {
        const WriteOffResult w = script.issue(QStringLiteral("T-LRU"), quint32(i + 1));
        digests.append(hex(w.digest()));
        QVERIFY(tracker.applyEvent(script.events.last()));
    }
    QCOMPARE(tracker.size(), 3);
    QVERIFY(!tracker.contains(digests.at(0)));
    QVERIFY(!tracker.contains(digests.at(1)));
    QVERIFY(tracker.contains(digests.at(4)));
    const QList<TicketTally> forTicket = tracker.talliesForTicket(QStringLiteral("T-LRU"));
    QCOMPARE(forTicket.size(), 3);
    QCOMPARE(forTicket.first().digest, digests.at(4)); // newest first
}

void TestViews::trackerRefusesMalformedEvents()
{
    TallyTracker tracker;
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("malformed")));
    QVERIFY(!tracker.applyEvent({{QStringLiteral("kind"), QStringLiteral("decision_made")}}));
    QVERIFY(!tracker.applyEvent({}));
    QVERIFY(!tracker.applyEvent({{QStringLiteral("kind"), QStringLiteral("block_appended")}}));
    const QString digest(64, QLatin1Char('a'));
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("malformed")));
    QVERIFY(!tracker.applyEvent({{QStringLiteral("kind"), QStringLiteral("decision_made")},
                                 {QStringLiteral("write_off_digest"), digest},
                                 {QStringLiteral("outcome"), QStringLiteral("MAYBE")},
                                 {QStringLiteral("n"), 4},
                                 {QStringLiteral("q"), 3},
                                 {QStringLiteral("histogram"), QJsonObject()}}));
    QVERIFY(!tracker.contains(digest));
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("malformed")));
    QVERIFY(!tracker.applyEvent({{QStringLiteral("kind"), QStringLiteral("confirmation_received")},
                                 {QStringLiteral("write_off_digest"), digest},
                                 {QStringLiteral("target"), 7},
                                 {QStringLiteral("verdict"), QStringLiteral("counted")}}));
    QCOMPARE(tracker.size(), 0);
    QCOMPARE(tracker.aggregate().window, 0);
}

void TestViews::histogramRenders()
{
    EventScript script(4);
    Tally tally(script.sample.membership, script.issue(QStringLiteral("T-000007")));
    script.vote(tally, 1, ConfirmationState::WrittenOff);
    script.confirm(tally, tampered(script.sample.confirm(QStringLiteral("target-2"), tally.writeOff(),
                                                         ConfirmationState::WrittenOff)));
    script.vote(tally, 2, ConfirmationState::WrittenOff);
    script.vote(tally, 3, ConfirmationState::WrittenOff);
    script.decide(tally);
    TallyTracker tracker;
    for (const QJsonObject &event : std::as_const(script.events))
        QVERIFY(tracker.applyEvent(event));

    VoteHistogramWidget widget;
    widget.resize(640, 360);
    widget.setTally(tracker.tally(tracker.latestDigest()));
    widget.show();
    QVERIFY(QTest::qWaitForWindowExposed(&widget));
    const QImage image = widget.grab().toImage().convertToFormat(QImage::Format_RGB32);
    QVERIFY(!image.isNull());
    saveShot(&widget, QStringLiteral("histogram-tally"));
    // Not blank: the WRITTEN_OFF bar is painted in its colour.
    QVERIFY(hasColour(image, VoteHistogramWidget::stateColour(QStringLiteral("WRITTEN_OFF"))));
    QVERIFY(widget.accessibleDescription().contains(QStringLiteral("3 of 4")));
    QVERIFY(widget.accessibleDescription().contains(QStringLiteral("q = 3")));
    QCOMPARE(widget.headline(), QStringLiteral("3 of 4 target nodes"));
    QCOMPARE(widget.marginText(), QStringLiteral("decided"));

    // Live updates on the same widget, and the aggregate mode in a second instance.
    TicketTally pending = tracker.tally(tracker.latestDigest());
    pending.outcome.clear();
    pending.decidedState.clear();
    pending.counts = {{QStringLiteral("WRITTEN_OFF"), 2}};
    pending.nonVoters = 2;
    widget.setTally(pending);
    QCOMPARE(widget.marginText(), QStringLiteral("needs 1 more"));
    saveShot(&widget, QStringLiteral("histogram-pending"));
    QVERIFY(widget.accessibleDescription().contains(QStringLiteral("2 of 4")));

    VoteHistogramWidget rolling;
    rolling.resize(480, 300);
    rolling.setAggregate({{QStringLiteral("WRITTEN_OFF"), 7}, {QStringLiteral("AMOUNT_MISMATCH"), 2}}, 1, 10);
    rolling.show();
    QVERIFY(QTest::qWaitForWindowExposed(&rolling));
    saveShot(&rolling, QStringLiteral("histogram-aggregate"));
    const QImage aggregate = rolling.grab().toImage().convertToFormat(QImage::Format_RGB32);
    QVERIFY(hasColour(aggregate, VoteHistogramWidget::stateColour(QStringLiteral("AMOUNT_MISMATCH"))));
    QCOMPARE(rolling.headline(), QStringLiteral("9 of 10 recent decisions decided"));
    QVERIFY(rolling.accessibleDescription().contains(QStringLiteral("WRITTEN_OFF: 7")));
}

void TestViews::histogramCaptions()
{
    TicketTally t;
    t.digest = QString(64, QLatin1Char('b'));
    t.ticket = QStringLiteral("T-9");
    t.version = 1;
    t.n = 4;
    t.q = 3;
    t.counts = {{QStringLiteral("WRITTEN_OFF"), 1}, {QStringLiteral("AMOUNT_MISMATCH"), 1}};
    t.votes = {{QStringLiteral("target-1"), QStringLiteral("WRITTEN_OFF")},
               {QStringLiteral("target-2"), QStringLiteral("AMOUNT_MISMATCH")}};
    t.voters = {QStringLiteral("target-1"), QStringLiteral("target-2")};
    t.equivocating = {QStringLiteral("target-3")};
    t.nonVoters = 1;
    VoteHistogramWidget widget;
    widget.setTally(t);
    // 1 + 1 outstanding < 3: no state can reach q any more.
    QCOMPARE(widget.marginText(), QStringLiteral("cannot reach q"));
    QVERIFY(widget.accessibleDescription().contains(QStringLiteral("Equivocating: 1")));
    QCOMPARE(VoteHistogramWidget::stateColour(QStringLiteral("WRITTEN_OFF")),
             VoteHistogramWidget::stateColour(QStringLiteral("WRITTEN_OFF")));
    QVERIFY(VoteHistogramWidget::stateColour(QStringLiteral("WRITTEN_OFF")) !=
            VoteHistogramWidget::stateColour(QStringLiteral("AMOUNT_MISMATCH")));
    widget.clear();
    QCOMPARE(widget.headline(), QStringLiteral("No write-off selected"));
}

void TestViews::receiversModel()
{
    ReceiversModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    qint64 now = kIssuedAt + 10000;
    model.setClock([&now] { return now; });
    model.setStalenessThresholdMs(5000);

    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("malformed receivers entry")));
    model.setReceivers(
        QStringLiteral("coordinator-1"),
        QJsonArray{receiverJson(QStringLiteral("receiver-2"), QStringLiteral("lagging"), 790, 812, 1500),
                   receiverJson(QStringLiteral("receiver-1"), QStringLiteral("in_sync"), 812, 812, 0),
                   QJsonValue(42)},
        now - 2000);
    QCOMPARE(model.rowCount(), 2);
    const int lagging = model.rowOf(QStringLiteral("receiver-2"));
    QCOMPARE(model.index(lagging, ReceiversModel::StatusColumn).data().toString(), QStringLiteral("Lagging"));
    QCOMPARE(model.index(lagging, ReceiversModel::LagBlocksColumn).data().toLongLong(), 22);
    QCOMPARE(model.index(lagging, ReceiversModel::LagTimeColumn).data().toString(), QStringLiteral("1.5 s"));
    QCOMPARE(model.index(lagging, ReceiversModel::SourceColumn).data().toString(),
             QStringLiteral("coordinator-1"));
    QCOMPARE(model.index(lagging, ReceiversModel::AsOfColumn).data().toString(), QStringLiteral("2 s ago"));
    QCOMPARE(model.index(lagging, 0).data(ReceiversModel::StaleRole).toBool(), false);
    QVERIFY(model.index(lagging, ReceiversModel::StatusColumn).data(Qt::ForegroundRole).value<QColor>() ==
            ReceiversModel::statusColour(QStringLiteral("lagging")));

    // A status event updates one row; a new receiver is inserted; a malformed one is refused.
    QVERIFY(model.applyStatus(QStringLiteral("coordinator-1"),
                              receiverJson(QStringLiteral("receiver-2"), QStringLiteral("unreachable"), 795,
                                           812, 180000, QStringLiteral("connection refused")),
                              now));
    QCOMPARE(model.index(lagging, ReceiversModel::StatusColumn).data().toString(),
             QStringLiteral("Unreachable"));
    QCOMPARE(model.index(lagging, ReceiversModel::LagTimeColumn).data().toString(), QStringLiteral("3 min"));
    QCOMPARE(model.index(lagging, ReceiversModel::LastErrorColumn).data().toString(),
             QStringLiteral("connection refused"));
    QVERIFY(model.applyStatus(
        QStringLiteral("coordinator-1"),
        receiverJson(QStringLiteral("receiver-3"), QStringLiteral("in_sync"), 812, 812, 0), now));
    QCOMPARE(model.rowCount(), 3);
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("malformed")));
    QVERIFY(!model.applyStatus(QStringLiteral("coordinator-1"), {{QStringLiteral("status"), 3}}, now));
    QCOMPARE(model.rowCount(), 3);

    // The clock moves: the age column ticks and old rows become stale.
    QSignalSpy stale(&model, &ReceiversModel::staleChanged);
    now += 4000;
    model.refreshAges();
    const int first = model.rowOf(QStringLiteral("receiver-1"));
    QCOMPARE(model.index(first, 0).data(ReceiversModel::StaleRole).toBool(), true);
    QVERIFY(
        model.index(first, ReceiversModel::AsOfColumn).data().toString().contains(QStringLiteral("6 s ago")));
    QCOMPARE(
        model.index(model.rowOf(QStringLiteral("receiver-3")), 0).data(ReceiversModel::StaleRole).toBool(),
        false);
    QCOMPARE(stale.size(), 1);

    // Cached rows never override fresher live ones, and bring their own age and node.
    ReceiverRow cached;
    cached.receiver = QStringLiteral("receiver-3");
    cached.node = QStringLiteral("coordinator-1");
    cached.status = QStringLiteral("lagging");
    cached.asOfMs = now - 60000;
    ReceiverRow offline = cached;
    offline.receiver = QStringLiteral("receiver-9");
    model.setCachedReceivers({cached, offline});
    QCOMPARE(model.index(model.rowOf(QStringLiteral("receiver-3")), ReceiversModel::StatusColumn)
                 .data()
                 .toString(),
             QStringLiteral("In sync"));
    QCOMPARE(
        model.index(model.rowOf(QStringLiteral("receiver-9")), 0).data(ReceiversModel::StaleRole).toBool(),
        true);
    QCOMPARE(model.rowCount(), 4);

    // The full reply replaces that node's rows.
    model.setReceivers(
        QStringLiteral("coordinator-1"),
        QJsonArray{receiverJson(QStringLiteral("receiver-1"), QStringLiteral("in_sync"), 812, 812, 0)}, now);
    QCOMPARE(model.rowCount(), 1);

    QCOMPARE(ReceiversModel::formatDuration(1500), QStringLiteral("1.5 s"));
    QCOMPARE(ReceiversModel::formatDuration(180000), QStringLiteral("3 min"));
    QCOMPARE(ReceiversModel::formatDuration(2 * 3600000 + 5 * 60000), QStringLiteral("2 h 5 min"));
    QCOMPARE(ReceiversModel::formatAge(2400), QStringLiteral("2 s ago"));
    model.clear();
    QCOMPARE(model.rowCount(), 0);
}

void TestViews::receiversModelKeepsWhatAGarbledReplyDoesNotSay()
{
    ReceiversModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const qint64 now = kIssuedAt;
    model.setClock([now] { return now; });
    const QString node = QStringLiteral("coordinator-1");
    model.setReceivers(
        node,
        QJsonArray{receiverJson(QStringLiteral("receiver-1"), QStringLiteral("in_sync"), 812, 812, 0),
                   receiverJson(QStringLiteral("receiver-2"), QStringLiteral("lagging"), 790, 812, 1500)},
        now - 1000);
    QCOMPARE(model.rowCount(), 2);

    // receiver-2's entry arrives with a height as a string: it is not read, but receiver-2 is
    // still reported, so its row stays as last known (and goes stale) instead of vanishing.
    QJsonObject garbled =
        receiverJson(QStringLiteral("receiver-2"), QStringLiteral("lagging"), 795, 812, 2500);
    garbled.insert(QStringLiteral("acked_height"), QStringLiteral("795"));
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("malformed receivers entry")));
    model.setReceivers(
        node,
        QJsonArray{receiverJson(QStringLiteral("receiver-1"), QStringLiteral("in_sync"), 813, 813, 0),
                   garbled},
        now);
    QCOMPARE(model.rowCount(), 2);
    const int lagging = model.rowOf(QStringLiteral("receiver-2"));
    QVERIFY(lagging >= 0);
    QCOMPARE(model.receiverAt(lagging)->ackedHeight, 790);
    QCOMPARE(model.receiverAt(lagging)->asOfMs, now - 1000);
    QCOMPARE(model.receiverAt(model.rowOf(QStringLiteral("receiver-1")))->ackedHeight, 813);

    // A reply whose receivers are no array says nothing about them: every row stays.
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("without an array")));
    QVERIFY(!model.setReceivers(node, QJsonValue(QStringLiteral("oops")), now));
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("without an array")));
    QVERIFY(!model.setReceivers(node, QJsonValue(), now));
    QCOMPARE(model.rowCount(), 2);

    // A receiver the node no longer lists is gone.
    model.setReceivers(
        node, QJsonArray{receiverJson(QStringLiteral("receiver-1"), QStringLiteral("in_sync"), 813, 813, 0)},
        now);
    QCOMPARE(model.rowCount(), 1);
}

void TestViews::receiversViewAuditor()
{
    ReceiversModel model;
    model.setReceivers(
        QStringLiteral("coordinator-1"),
        QJsonArray{receiverJson(QStringLiteral("receiver-2"), QStringLiteral("lagging"), 790, 812, 1500)},
        QDateTime::currentMSecsSinceEpoch());
    ReceiversView view(&model);
    int asked = 0;
    view.setConfirmer([&asked](const QString &) { return ++asked, true; });
    view.setHeightPrompt(
        [&asked](const QString &, qint64 suggested) { return ++asked, std::optional(suggested); });
    view.setDigestPrompt(
        [&asked](const QString &) { return ++asked, std::optional(QString(64, QLatin1Char('c'))); });
    const QString reason =
        QStringLiteral("role 'auditor' may not run 'retry_deliveries'; it is for operators");
    view.setOperatorRole(false, reason);
    view.resize(800, 400);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.selectReceiver(QStringLiteral("receiver-2"));

    QSignalSpy resync(&view, &ReceiversView::resyncRequested);
    QSignalSpy deliveries(&view, &ReceiversView::retryDeliveriesRequested);
    QSignalSpy undetermined(&view, &ReceiversView::retryUndeterminedRequested);
    for (QAction *action :
         {view.resyncAction(), view.retryDeliveriesAction(), view.retryUndeterminedAction()}) {
        QVERIFY(!action->isEnabled());
        QCOMPARE(action->toolTip(), reason);
        action->trigger();
    }
    // The reason is also visible in the view itself, not only in tooltips.
    bool noteShown = false;
    for (const QLabel *label : view.findChildren<QLabel *>())
        noteShown = noteShown || (label->isVisible() && label->text().contains(reason));
    QVERIFY(noteShown);
    saveShot(&view, QStringLiteral("receivers-auditor"));
    QCOMPARE(asked, 0);
    QCOMPARE(resync.size() + deliveries.size() + undetermined.size(), 0);
}

void TestViews::receiversViewOperator()
{
    ReceiversModel model;
    model.setReceivers(
        QStringLiteral("coordinator-1"),
        QJsonArray{receiverJson(QStringLiteral("receiver-1"), QStringLiteral("in_sync"), 812, 812, 0),
                   receiverJson(QStringLiteral("receiver-2"), QStringLiteral("lagging"), 790, 812, 1500)},
        QDateTime::currentMSecsSinceEpoch());
    ReceiversView view(&model);
    bool answer = true;
    QStringList questions;
    qint64 suggestedHeight = 0;
    int digestPrompts = 0;
    view.setConfirmer([&](const QString &question) {
        questions.append(question);
        return answer;
    });
    view.setHeightPrompt([&](const QString &, qint64 suggested) {
        suggestedHeight = suggested;
        return std::optional<qint64>(suggested);
    });
    const QString digest = QStringLiteral("0123456789abcdef").repeated(4);
    view.setDigestPrompt([&](const QString &prefill) {
        ++digestPrompts;
        return std::optional<QString>(prefill.isEmpty() ? digest.toUpper() : prefill);
    });
    view.setOperatorRole(true);
    view.resize(800, 400);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    QVERIFY(!view.resyncAction()->isEnabled()); // no receiver selected yet
    view.selectReceiver(QStringLiteral("receiver-2"));
    QCOMPARE(view.currentReceiver(), QStringLiteral("receiver-2"));
    for (QAction *action :
         {view.resyncAction(), view.retryDeliveriesAction(), view.retryUndeterminedAction()})
        QVERIFY(action->isEnabled());

    QSignalSpy resync(&view, &ReceiversView::resyncRequested);
    QSignalSpy deliveries(&view, &ReceiversView::retryDeliveriesRequested);
    QSignalSpy undetermined(&view, &ReceiversView::retryUndeterminedRequested);
    view.resyncAction()->trigger();
    QCOMPARE(suggestedHeight, 791);
    QCOMPARE(resync.size(), 1);
    QCOMPARE(resync.at(0).at(0).toString(), QStringLiteral("receiver-2"));
    QCOMPARE(resync.at(0).at(1).toLongLong(), 791);
    QVERIFY(questions.last().contains(QStringLiteral("receiver-2")));
    QVERIFY(questions.last().contains(QStringLiteral("791")));

    view.retryDeliveriesAction()->trigger();
    QCOMPARE(deliveries.size(), 1);

    // Without a write-off picked elsewhere, the digest is asked for.
    view.retryUndeterminedAction()->trigger();
    QCOMPARE(digestPrompts, 1);
    QCOMPARE(undetermined.size(), 1);
    QCOMPARE(undetermined.at(0).at(0).toString(), digest);
    QVERIFY(questions.last().contains(digest));
    // One picked in the decisions table is filled in; the prompt still lets another be given.
    const QString other = QStringLiteral("fedcba9876543210").repeated(4);
    view.setSelectedUndetermined(other);
    view.retryUndeterminedAction()->trigger();
    QCOMPARE(digestPrompts, 2);
    QCOMPARE(undetermined.size(), 2);
    QCOMPARE(undetermined.at(1).at(0).toString(), other);
    QVERIFY(questions.last().contains(other));

    // Declined: nothing is sent.
    answer = false;
    for (QAction *action :
         {view.resyncAction(), view.retryDeliveriesAction(), view.retryUndeterminedAction()})
        action->trigger();
    QCOMPARE(questions.size(), 7);
    QCOMPARE(resync.size(), 1);
    QCOMPARE(deliveries.size(), 1);
    QCOMPARE(undetermined.size(), 2);

    // Not a digest: refused before any confirmation, and said so.
    answer = true;
    view.setSelectedUndetermined(QString());
    view.setDigestPrompt([](const QString &) { return std::optional<QString>(QStringLiteral("xyz")); });
    view.retryUndeterminedAction()->trigger();
    QCOMPARE(undetermined.size(), 2);
    QCOMPARE(questions.size(), 7);
    QVERIFY(view.statusText().contains(QStringLiteral("64 hex digits")));

    // Progress, then the outcome, live in the status line.
    view.showCommandProgress(QStringLiteral("resync_receiver"), QStringLiteral("waiting for coordinator-1"));
    QVERIFY(view.isBusy());
    QVERIFY(view.statusText().contains(QStringLiteral("waiting for coordinator-1")));
    const QString outcome =
        QStringLiteral("re-sync of receiver-2 from height 791 started; it has acknowledged 790 of 812");
    view.showCommandOutcome(QStringLiteral("resync_receiver"), true, outcome);
    QVERIFY(!view.isBusy());
    QVERIFY(view.statusText().contains(outcome));
    saveShot(&view, QStringLiteral("receivers-operator"));

    // Losing the operator role disables everything again.
    view.setOperatorRole(false, QStringLiteral("reconnected as auditor"));
    QVERIFY(!view.retryDeliveriesAction()->isEnabled());
}

void TestViews::alerts()
{
    AlertsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy count(&model, &AlertsModel::unacknowledgedCountChanged);
    const QString digest = QString(64, QLatin1Char('d'));
    QCOMPARE(model.raise(QStringLiteral("undetermined"), digest, QStringLiteral("T-000003 v1 UNDETERMINED"),
                         kIssuedAt),
             0);
    QCOMPARE(model.raise(QStringLiteral("receiver_lagging"), QStringLiteral("receiver-2"),
                         QStringLiteral("22 blocks behind"), kIssuedAt + 1),
             1);
    // The same kind and subject again: one alert, updated.
    QCOMPARE(model.raise(QStringLiteral("receiver_lagging"), QStringLiteral("receiver-2"),
                         QStringLiteral("40 blocks behind"), kIssuedAt + 2),
             1);
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.unacknowledgedCount(), 2);
    QCOMPARE(model.alertAt(1)->occurrences, 2);
    QVERIFY(
        model.index(1, AlertsModel::DetailColumn).data().toString().contains(QStringLiteral("40 blocks")));
    QVERIFY(model.index(0, 0).data(Qt::FontRole).value<QFont>().bold());
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("without kind or subject")));
    QCOMPARE(model.raise(QString(), QStringLiteral("x"), QString(), 0), -1);

    AlertsView view(&model);
    view.setUser(QStringLiteral("operator-1"));
    view.setClock([] { return kIssuedAt + 100; });
    QString asked;
    view.setNotePrompt([&asked](const QString &what) {
        asked = what;
        return std::optional<QString>(QStringLiteral("receiver ops informed"));
    });
    view.resize(700, 300);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    QCOMPARE(view.badgeText(), QStringLiteral("2"));
    QCOMPARE(view.table()->model()->rowCount(), 2);

    QSignalSpy acknowledged(&view, &AlertsView::acknowledged);
    QSignalSpy badge(&view, &AlertsView::badgeChanged);
    QVERIFY(view.selectAlert(QStringLiteral("receiver_lagging"), QStringLiteral("receiver-2")));
    QVERIFY(view.acknowledgeAction()->isEnabled());
    view.acknowledgeAction()->trigger();
    QVERIFY(asked.contains(QStringLiteral("receiver-2")));
    QCOMPARE(acknowledged.size(), 1);
    const QList<QVariant> args = acknowledged.at(0);
    QCOMPARE(args.at(0).toString(), QStringLiteral("receiver_lagging"));
    QCOMPARE(args.at(1).toString(), QStringLiteral("receiver-2"));
    QCOMPARE(args.at(2).toString(), QStringLiteral("operator-1"));
    QCOMPARE(args.at(3).toString(), QStringLiteral("receiver ops informed"));
    QCOMPARE(args.at(4).toLongLong(), kIssuedAt + 100);
    QCOMPARE(model.unacknowledgedCount(), 1);
    QCOMPARE(view.badgeText(), QStringLiteral("1"));
    QCOMPARE(badge.last().at(0).toString(), QStringLiteral("1"));
    QVERIFY(count.size() >= 2);

    // Acknowledged alerts are hidden until asked for, then shown without bold, with the trail.
    QCOMPARE(view.table()->model()->rowCount(), 1);
    view.setShowAcknowledged(true);
    QCOMPARE(view.table()->model()->rowCount(), 2);
    saveShot(&view, QStringLiteral("alerts"));
    const int row = model.rowOf(QStringLiteral("receiver_lagging"), QStringLiteral("receiver-2"));
    QVERIFY(!model.index(row, 0).data(Qt::FontRole).value<QFont>().bold());
    const QString tip = model.index(row, 0).data(Qt::ToolTipRole).toString();
    QVERIFY(tip.contains(QStringLiteral("acknowledged by operator-1")));
    QVERIFY(tip.contains(QStringLiteral("receiver ops informed")));
    QVERIFY(!model.acknowledge(row, QStringLiteral("operator-2"), QString())); // once only

    // A trail loaded from the cache acknowledges the alert it belongs to.
    AlertTrailEntry raisedEntry;
    raisedEntry.atMs = kIssuedAt;
    raisedEntry.who = QStringLiteral("console");
    raisedEntry.action = QStringLiteral("raised");
    AlertTrailEntry ackEntry;
    ackEntry.atMs = kIssuedAt + 50;
    ackEntry.who = QStringLiteral("auditor-7");
    ackEntry.action = QStringLiteral("acknowledged");
    ackEntry.note = QStringLiteral("retried by operations");
    QVERIFY(model.setTrail(QStringLiteral("undetermined"), digest, {raisedEntry, ackEntry}));
    QCOMPARE(model.unacknowledgedCount(), 0);
    QCOMPARE(view.badgeText(), QString());
    QVERIFY(model.index(0, AlertsModel::AcknowledgedColumn)
                .data()
                .toString()
                .contains(QStringLiteral("auditor-7")));

    // The condition comes back: the acknowledged alert opens again, as the cache does.
    model.raise(QStringLiteral("undetermined"), digest, QStringLiteral("UNDETERMINED again"), kIssuedAt + 60);
    QCOMPARE(model.unacknowledgedCount(), 1);
    QVERIFY(model.index(0, 0).data(Qt::ToolTipRole).toString().contains(QStringLiteral("raised again")));

    // Restoring from the cache (its rows and trail), and the bound that drops only acknowledged alerts.
    QList<AlertRow> restored;
    for (int i = 0; i < 5; ++i) {
        AlertRow alert;
        alert.id = 100 + i;
        alert.kind = QStringLiteral("gap");
        alert.subject = QStringLiteral("coordinator-1 #%1").arg(i);
        alert.raisedAtMs = kIssuedAt + i;
        alert.acknowledgedAtMs = i < 3 ? kIssuedAt + 10 : 0;
        alert.acknowledgedBy = i < 3 ? QStringLiteral("operator-1") : QString();
        restored.append(alert);
    }
    model.setAlerts(restored);
    QCOMPARE(model.rowCount(), 5);
    QCOMPARE(model.unacknowledgedCount(), 2);
    AlertTrailEntry laterAck = ackEntry;
    laterAck.alertId = 104;
    model.setTrail({laterAck});
    QCOMPARE(model.unacknowledgedCount(), 1);
    QVERIFY(model.alertAt(model.rowOfId(104))->isAcknowledged());
    QCOMPARE(model.alertAt(model.rowOfId(104))->acknowledgedBy, QStringLiteral("auditor-7"));
    model.setMaximumAlerts(3);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.unacknowledgedCount(), 1);
    model.setMaximumAlerts(1);
    QCOMPARE(model.rowCount(), 1); // open alerts are never dropped
    QCOMPARE(model.alertAt(0)->id, 103);
}

void TestViews::undeterminedAlertResolvedByRetry()
{
    // The coordinator's events as it sends them (docs/api.md "Events"): T-000050 ends
    // UNDETERMINED, T-000051 too, T-000052 is decided at once; then an operator retries T-000050
    // and the new tally decides it.
    EventScript script(4);
    const WriteOffResult retried = script.issue(QStringLiteral("T-000050"));
    Tally firstTry(script.sample.membership, retried);
    script.vote(firstTry, 1, ConfirmationState::WrittenOff);
    firstTry.expire();
    QCOMPARE(script.decide(firstTry).outcome, Outcome::Undetermined);
    const WriteOffResult stuck = script.issue(QStringLiteral("T-000051"));
    Tally stuckTally(script.sample.membership, stuck);
    script.vote(stuckTally, 2, ConfirmationState::AmountMismatch);
    stuckTally.expire();
    QCOMPARE(script.decide(stuckTally).outcome, Outcome::Undetermined);
    const QList<QJsonObject> undetermined = script.events;
    script.events.clear();
    Tally otherTally(script.sample.membership, script.issue(QStringLiteral("T-000052")));
    for (int target = 1; target <= 3; ++target)
        script.vote(otherTally, target, ConfirmationState::WrittenOff);
    QCOMPARE(script.decide(otherTally).outcome, Outcome::Decided);
    const QList<QJsonObject> decidedElsewhere = script.events;
    script.events.clear();
    Tally secondTry(script.sample.membership, retried);
    for (int target = 1; target <= 3; ++target)
        script.vote(secondTry, target, ConfirmationState::WrittenOff);
    const Decision decided = script.decide(secondTry);
    QCOMPARE(decided.outcome, Outcome::Decided);
    QCOMPARE(script.events.last().value(u"write_off_digest").toString(), hex(retried.digest()));
    QCOMPARE(script.events.last().value(u"outcome").toString(), QStringLiteral("DECIDED"));
    QCOMPARE(script.events.last().value(u"state").toString(), QStringLiteral("WRITTEN_OFF"));
    const QList<QJsonObject> retry = script.events;

    // The console's path: the cache on its worker thread raises and closes alerts, and the
    // model follows its signals, wired as MainWindow wires them.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("history-cache.sqlite"));
    const QString node = QStringLiteral("coordinator-1");
    auto thread = std::make_unique<CacheThread>(path);
    CacheWorker *worker = thread->worker();
    AlertsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    connect(worker, &CacheWorker::alertRaised, &model, [&model](const AlertRow &row) { model.raise(row); });
    connect(worker, &CacheWorker::alertResolved, &model,
            [&model](const AlertRow &row, const AlertTrailEntry &entry) { model.resolve(row, entry); });
    QSignalSpy opened(worker, &CacheWorker::opened);
    QSignalSpy ingested(worker, &CacheWorker::ingested);
    QSignalSpy resolved(worker, &CacheWorker::alertResolved);
    thread->start();
    QTRY_COMPARE(opened.size(), 1);
    QVERIFY(opened.at(0).at(0).toBool());
    // One commit per delivery; then the model's queued slots run, as they would in the shell.
    const auto deliver = [&](const QList<QJsonObject> &events) {
        const qsizetype before = ingested.size();
        QMetaObject::invokeMethod(
            worker,
            [worker, node, events] {
                worker->ingest(node, events);
                worker->flush();
            },
            Qt::BlockingQueuedConnection);
        QCoreApplication::processEvents();
        QCOMPARE(ingested.size(), before + 1);
        QCOMPARE(ingested.last().at(2).value<IngestReport>().stored, int(events.size()));
    };

    AlertsView view(&model);
    QSignalSpy badge(&view, &AlertsView::badgeChanged);
    deliver(undetermined);
    QCOMPARE(model.rowCount(), 2);
    const int retriedRow = model.rowOf(QStringLiteral("undetermined"), hex(retried.digest()));
    const int stuckRow = model.rowOf(QStringLiteral("undetermined"), hex(stuck.digest()));
    QVERIFY(retriedRow >= 0 && stuckRow >= 0);
    QCOMPARE(model.unacknowledgedCount(), 2);
    QCOMPARE(view.badgeText(), QStringLiteral("2"));

    // A DECIDED write-off with another digest closes nothing.
    deliver(decidedElsewhere);
    QCOMPARE(resolved.size(), 0);
    QCOMPARE(model.unacknowledgedCount(), 2);
    QVERIFY(!model.alertAt(retriedRow)->isAcknowledged());
    QVERIFY(!model.alertAt(stuckRow)->isAcknowledged());

    // The retry decides T-000050: its alert closes by itself and stays listed for the audit.
    const qint64 before = QDateTime::currentMSecsSinceEpoch();
    deliver(retry);
    const qint64 after = QDateTime::currentMSecsSinceEpoch();
    QCOMPARE(resolved.size(), 1);
    QCOMPARE(model.unacknowledgedCount(), 1);
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(view.badgeText(), QStringLiteral("1"));
    QCOMPARE(badge.last().at(0).toString(), QStringLiteral("1"));
    const QString note = QStringLiteral("decided WRITTEN_OFF after retry");
    const AlertsModel::Alert *alert = model.alertAt(retriedRow);
    QVERIFY(alert->isAcknowledged());
    QVERIFY(alert->resolved);
    QCOMPARE(alert->acknowledgedBy, QStringLiteral("console"));
    QCOMPARE(alert->note, note);
    QVERIFY(alert->acknowledgedAtMs >= before && alert->acknowledgedAtMs <= after);
    QCOMPARE(alert->trail.size(), 2);
    QCOMPARE(alert->trail.first().action, QStringLiteral("raised"));
    QCOMPARE(alert->trail.last().action, QStringLiteral("resolved"));
    QCOMPARE(alert->trail.last().who, QStringLiteral("console"));
    QCOMPARE(alert->trail.last().note, note);
    QCOMPARE(alert->trail.last().atMs, alert->acknowledgedAtMs);
    const QModelIndex index = model.index(retriedRow, AlertsModel::AcknowledgedColumn);
    QVERIFY(index.data(AlertsModel::AcknowledgedRole).toBool());
    QVERIFY(index.data(AlertsModel::ResolvedRole).toBool());
    QVERIFY(index.data().toString().startsWith(QStringLiteral("Resolved")));
    const QString tip = index.data(Qt::ToolTipRole).toString();
    QVERIFY2(tip.contains(QStringLiteral("resolved by console")), qPrintable(tip));
    QVERIFY2(tip.contains(note), qPrintable(tip));
    QVERIFY(!index.data(Qt::FontRole).value<QFont>().bold());
    // The other undetermined write-off, never retried, is still open.
    QVERIFY(!model.alertAt(stuckRow)->isAcknowledged());
    QVERIFY(!model.index(stuckRow, 0).data(AlertsModel::ResolvedRole).toBool());
    // Closed: the view lists it with the acknowledged ones, and it cannot be acknowledged.
    QCOMPARE(view.table()->model()->rowCount(), 1);
    view.setShowAcknowledged(true);
    QCOMPARE(view.table()->model()->rowCount(), 2);
    QVERIFY(!model.acknowledge(retriedRow, QStringLiteral("operator-1"), QString()));

    // Persisted through the cache, the same way an acknowledgement is.
    thread->stop();
    HistoryCache cache;
    QString error;
    QVERIFY2(cache.open(path, &error), qPrintable(error));
    QCOMPARE(cache.alerts(true).size(), 1);
    QCOMPARE(cache.alerts(true).first().subject, hex(stuck.digest()));
    const std::optional<AlertRow> stored = cache.alert(alert->id);
    QVERIFY(stored);
    QCOMPARE(stored->acknowledgedBy, QStringLiteral("console"));
    QCOMPARE(stored->acknowledgedAtMs, alert->acknowledgedAtMs);
    const QList<AlertTrailEntry> trail = cache.alertTrail(alert->id);
    QCOMPARE(trail.size(), 2);
    QCOMPARE(trail.last().action, QStringLiteral("resolved"));
    QCOMPARE(trail.last().note, note);
    QVERIFY(!cache.acknowledgeAlert(alert->id, QStringLiteral("operator-1"), QString(), &error));
    QVERIFY2(error.contains(QStringLiteral("console")), qPrintable(error));

    // After a restart, the rows and trail from the cache give the same picture.
    AlertsModel restored;
    QAbstractItemModelTester restoredTester(&restored,
                                            QAbstractItemModelTester::FailureReportingMode::QtTest);
    restored.setAlerts(cache.alerts());
    restored.setTrail(cache.alertTrail());
    QCOMPARE(restored.rowCount(), 2);
    QCOMPARE(restored.unacknowledgedCount(), 1);
    const AlertsModel::Alert *again =
        restored.alertAt(restored.rowOf(QStringLiteral("undetermined"), hex(retried.digest())));
    QVERIFY(again && again->resolved);
    QCOMPARE(again->note, note);
}

void TestViews::detailPaneVerifiesCertificate()
{
    EventScript script(4);
    const std::shared_ptr<const Membership> membership =
        std::make_shared<Membership>(script.sample.membership);
    Tally tally(script.sample.membership, script.issue(QStringLiteral("T-000011")));
    QList<StateConfirmation> sent;
    auto vote = [&](int target, ConfirmationState state) {
        sent.append(script.sample.confirm(QStringLiteral("target-%1").arg(target), tally.writeOff(), state,
                                          QStringLiteral("checked against the registry")));
        script.confirm(tally, sent.last());
    };
    vote(4, ConfirmationState::AmountMismatch);
    vote(1, ConfirmationState::WrittenOff);
    vote(2, ConfirmationState::WrittenOff);
    vote(3, ConfirmationState::WrittenOff);
    const Decision decision = script.decide(tally);
    QCOMPARE(decision.outcome, Outcome::Decided);
    QCOMPARE(decision.verifyCertificate(*membership), QString());
    QJsonObject summary = EventScript::summary(decision);
    summary.insert(QStringLiteral("height"), 17);
    summary.insert(QStringLiteral("node"), QStringLiteral("coordinator-1"));
    summary.insert(QStringLiteral("latency_ms"), 1500);
    QList<QByteArray> confirmations;
    for (const StateConfirmation &confirmation : std::as_const(sent))
        confirmations.append(confirmation.encode());

    DecisionDetailPane pane;
    QAbstractItemModelTester tester(pane.votesModel(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    pane.resize(800, 600);
    pane.show();
    QVERIFY(QTest::qWaitForWindowExposed(&pane));
    QSignalSpy finished(&pane, &DecisionDetailPane::verificationFinished);
    pane.showDecision(summary, decision.encode(), confirmations, membership);
    QCOMPARE(pane.currentDigest(), hex(decision.writeOff.digest()));
    QCOMPARE(pane.headerValue(QStringLiteral("count")), QStringLiteral("3 of 4"));
    QCOMPARE(pane.headerValue(QStringLiteral("quorum")), QStringLiteral("3"));
    QCOMPARE(pane.headerValue(QStringLiteral("height")), QStringLiteral("17"));
    QCOMPARE(pane.headerValue(QStringLiteral("source")), QStringLiteral("coordinator-1"));
    QCOMPARE(pane.headerValue(QStringLiteral("time")), QStringLiteral("1.5 s"));
    QTRY_COMPARE(pane.certificateCheck(), DecisionDetailPane::CertificateCheck::Valid);
    QCOMPARE(pane.certificateStatus(), QStringLiteral("Certificate verified locally: valid"));
    QCOMPARE(finished.size(), 1);
    QCOMPARE(finished.at(0).at(1).toBool(), true);
    // Every target of the membership, each vote checked.
    const QStandardItemModel *votes = pane.votesModel();
    QCOMPARE(votes->rowCount(), 4);
    for (int row = 0; row < votes->rowCount(); ++row) {
        QCOMPARE(votes->item(row, DecisionDetailPane::TargetColumn)->text(),
                 QStringLiteral("target-%1").arg(row + 1));
        QVERIFY(votes->item(row, DecisionDetailPane::SignatureColumn)
                    ->text()
                    .startsWith(QStringLiteral("\u2713")));
    }
    QCOMPARE(votes->item(3, DecisionDetailPane::VoteColumn)->text(), QStringLiteral("AMOUNT_MISMATCH"));
    QCOMPARE(votes->item(3, DecisionDetailPane::CertificateColumn)->text(), QString());
    QCOMPARE(votes->item(0, DecisionDetailPane::CertificateColumn)->text(), QStringLiteral("yes"));
    saveShot(&pane, QStringLiteral("detail-valid"));

    // Flip one byte of a signature inside the certificate: invalid, naming what failed.
    Decision forged = decision;
    forged.confirmations[0] = tampered(forged.confirmations[0]);
    QList<QByteArray> forgedConfirmations = confirmations;
    forgedConfirmations[1] = forged.confirmations[0].encode(); // target-1's vote, as stored
    pane.showDecision(summary, forged.encode(), forgedConfirmations, membership);
    QTRY_COMPARE(pane.certificateCheck(), DecisionDetailPane::CertificateCheck::Invalid);
    const QString status = pane.certificateStatus();
    QVERIFY2(status.contains(QStringLiteral("INVALID")), qPrintable(status));
    QVERIFY2(status.contains(QStringLiteral("target-1")), qPrintable(status));
    QVERIFY2(status.contains(QStringLiteral("does not verify")), qPrintable(status));
    QVERIFY(votes->item(0, DecisionDetailPane::SignatureColumn)->text().startsWith(QStringLiteral("\u2717")));
    QVERIFY(votes->item(1, DecisionDetailPane::SignatureColumn)->text().startsWith(QStringLiteral("\u2713")));
    saveShot(&pane, QStringLiteral("detail-invalid"));

    // Without a membership nothing can be checked, and the pane says so.
    pane.showDecision(summary, decision.encode(), confirmations, nullptr);
    QTRY_COMPARE(pane.certificateCheck(), DecisionDetailPane::CertificateCheck::Unchecked);
    // Garbage certificate bytes are reported, not crashed on.
    pane.showDecision(summary, QByteArray("not a decision"), {QByteArray("\x01\x02", 2)}, membership);
    QTRY_COMPARE(pane.certificateCheck(), DecisionDetailPane::CertificateCheck::Invalid);
    QVERIFY(pane.certificateStatus().contains(QStringLiteral("cannot be decoded")));
}

void TestViews::detailPaneIgnoresStaleResults()
{
    EventScript script(4);
    const std::shared_ptr<const Membership> membership =
        std::make_shared<Membership>(script.sample.membership);
    QList<Decision> decisions;
    for (int i = 0; i < 3; ++i) {
        Tally tally(script.sample.membership, script.issue(QStringLiteral("T-10%1").arg(i)));
        for (int target = 1; target <= 4; ++target)
            script.vote(tally, target, ConfirmationState::WrittenOff);
        decisions.append(script.decide(tally));
    }
    DecisionDetailPane pane;
    QSignalSpy finished(&pane, &DecisionDetailPane::verificationFinished);
    for (const Decision &decision : std::as_const(decisions))
        pane.showDecision(EventScript::summary(decision), decision.encode(), {}, membership);
    const QString last = hex(decisions.last().writeOff.digest());
    QTRY_COMPARE(pane.certificateCheck(), DecisionDetailPane::CertificateCheck::Valid);
    QTest::qWait(50); // let any late worker results arrive: they must be dropped
    QCOMPARE(pane.currentDigest(), last);
    for (const QList<QVariant> &args : std::as_const(finished))
        QCOMPARE(args.at(0).toString(), last);
    QCOMPARE(pane.headerValue(QStringLiteral("ticket")), QStringLiteral("T-102"));
    pane.clear();
    QCOMPARE(pane.certificateStatus(), QString());
}

void TestViews::detailPaneVerifiesTheBlockProof()
{
    EventScript script(4);
    const std::shared_ptr<const Membership> membership =
        std::make_shared<Membership>(script.sample.membership);
    QList<Decision> decided;
    for (int i = 0; i < 3; ++i) {
        Tally tally(script.sample.membership, script.issue(QStringLiteral("T-20%1").arg(i)));
        for (int target = 1; target <= 4; ++target)
            script.vote(tally, target, ConfirmationState::WrittenOff);
        decided.append(script.decide(tally));
    }
    Block block;
    block.height = 9;
    block.previousHash = QByteArray(32, '\x09');
    block.membershipHash = script.sample.membership.hash();
    block.timestampMs = script.clock;
    block.coordinatorId = script.sample.coordinatorId();
    block.decisions = decided;
    block.seal(script.sample.keys.value(script.sample.coordinatorId()));
    const Decision &decision = decided.at(1);
    const auto compact = [](const InclusionProof &proof) {
        return QJsonDocument(proof.toJson()).toJson(QJsonDocument::Compact);
    };
    const InclusionProof proof = BlockProofs(block).proof(1);
    QJsonObject summary = EventScript::summary(decision);
    summary.insert(QStringLiteral("height"), 9);

    DecisionDetailPane pane;
    pane.resize(800, 600);
    pane.show();
    QVERIFY(QTest::qWaitForWindowExposed(&pane));
    QSignalSpy settled(&pane, &DecisionDetailPane::blockCheckFinished);
    pane.showDecision(summary, decision.encode(), {}, membership, compact(proof));
    QCOMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::Pending);
    QTRY_COMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::Proven);
    QCOMPARE(pane.blockHeight(), quint64(9));
    QCOMPARE(pane.blockSigner(), script.sample.coordinatorId());
    QVERIFY2(
        pane.blockStatus().startsWith(
            QStringLiteral("In block 9, signed by the coordinator %1").arg(script.sample.coordinatorId())),
        qPrintable(pane.blockStatus()));
    QCOMPARE(pane.headerValue(QStringLiteral("height")), QStringLiteral("9"));
    QCOMPARE(settled.size(), 1);
    QCOMPARE(settled.at(0).at(1).value<DecisionDetailPane::BlockCheck>(),
             DecisionDetailPane::BlockCheck::Proven);
    saveShot(&pane, QStringLiteral("detail-proven"));

    // Each forgery is refused with what failed, never shown as proven.
    const auto refused = [&](const QByteArray &forged, const QByteArray &certificate, const QString &why) {
        pane.showDecision(summary, certificate, {}, membership, forged);
        if (!QTest::qWaitFor([&] { return pane.blockCheck() != DecisionDetailPane::BlockCheck::Pending; }))
            return QStringLiteral("still pending");
        const QString status = pane.blockStatus();
        if (pane.blockCheck() != DecisionDetailPane::BlockCheck::Invalid || !status.contains(why) ||
            !status.contains(QStringLiteral("INVALID")))
            return QStringLiteral("for '%1': %2").arg(why, status);
        return QString();
    };
    // Another leaf's path, a leaf index moved, a hash of the path changed.
    QCOMPARE(refused(compact(BlockProofs(block).proof(0)), decision.encode(), QStringLiteral("merkle")),
             QString());
    InclusionProof moved = proof;
    moved.leafIndex = 2;
    QCOMPARE(refused(compact(moved), decision.encode(), QStringLiteral("leaf 2")), QString());
    InclusionProof bent = proof;
    bent.path[0][0] = char(bent.path[0][0] ^ 0x01);
    QCOMPARE(refused(compact(bent), decision.encode(), QStringLiteral("merkle")), QString());
    // The certificate's decided_at edited after sealing: the proof no longer covers its bytes.
    Decision edited = decision;
    edited.decidedAtMs += 1;
    QCOMPARE(refused(compact(proof), edited.encode(), QStringLiteral("merkle")), QString());
    // A header signed by a target under the coordinator's name.
    Block forgedBlock = block;
    forgedBlock.seal(script.sample.keys.value(script.sample.targetIds().first()));
    QCOMPARE(
        refused(compact(BlockProofs(forgedBlock).proof(1)), decision.encode(), QStringLiteral("signature")),
        QString());
    // A header whose height was raised: its signature no longer holds.
    InclusionProof raised = proof;
    std::optional<BlockHeader> header = BlockHeader::decode(proof.header);
    QVERIFY(header);
    header->height = 10;
    raised.header = header->encode();
    QCOMPARE(refused(compact(raised), decision.encode(), QStringLiteral("block 10")), QString());
    // Sealed under another membership.
    Block elsewhere = block;
    elsewhere.membershipHash = QByteArray(32, '\x01');
    elsewhere.seal(script.sample.keys.value(script.sample.coordinatorId()));
    QCOMPARE(refused(compact(BlockProofs(elsewhere).proof(1)), decision.encode(),
                     QStringLiteral("another membership")),
             QString());
    // Garbage where a proof should be.
    QCOMPARE(refused(QByteArrayLiteral("{\"header\":1"), decision.encode(), QStringLiteral("not JSON")),
             QString());
    QCOMPARE(
        refused(QByteArrayLiteral("{\"header\":\"\"}"), decision.encode(), QStringLiteral("missing key")),
        QString());

    // Another write-off's certificate with its own, valid proof: nothing is proven for this one.
    const Decision &other = decided.at(0);
    pane.showDecision(summary, other.encode(), {}, membership, compact(BlockProofs(block).proof(0)));
    QTRY_COMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::Invalid);
    QVERIFY2(pane.blockStatus().contains(QStringLiteral("shows write-off %1 in block 9, not %2")
                                             .arg(hex(other.writeOff.digest()), pane.currentDigest())),
             qPrintable(pane.blockStatus()));
    QCOMPARE(pane.certificateCheck(), DecisionDetailPane::CertificateCheck::Invalid);
    QCOMPARE(pane.blockHeight(), quint64(0));

    // Without a membership the proof is not called proven.
    pane.showDecision(summary, decision.encode(), {}, nullptr, compact(proof));
    QTRY_COMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::Unchecked);

    // No proof: the pane says why there is none, and only for the decision it shows.
    pane.showDecision(summary, decision.encode(), {}, membership);
    QCOMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::Unavailable);
    pane.showBlockFetching(QStringLiteral("coordinator-1"));
    QCOMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::Fetching);
    QVERIFY(pane.blockStatus().contains(QStringLiteral("coordinator-1")));
    pane.showBlockUnproven(hex(decided.at(0).writeOff.digest()), DecisionDetailPane::BlockCheck::NotSealed,
                           QStringLiteral("elsewhere"));
    QCOMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::Fetching);
    pane.showBlockUnproven(pane.currentDigest(), DecisionDetailPane::BlockCheck::NotSealed,
                           QStringLiteral("coordinator-1 holds it in no block so far"));
    QCOMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::NotSealed);
    QVERIFY(pane.blockStatus().startsWith(QStringLiteral("Not sealed into a block yet")));
    // An UNDETERMINED decision is never sealed, and is not called unproven for it.
    QJsonObject undetermined = summary;
    undetermined.insert(QStringLiteral("outcome"), QStringLiteral("UNDETERMINED"));
    undetermined.insert(QStringLiteral("height"), 0);
    pane.showDecision(undetermined, {}, {}, membership);
    QCOMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::NotSealable);
    pane.clear();
    QCOMPARE(pane.blockCheck(), DecisionDetailPane::BlockCheck::None);
    QCOMPARE(pane.blockStatus(), QString());
}

void TestViews::connectDialogChecksAndKeepsItsFiles()
{
    // A real consortium's files: membership, CA, the operator's certificate, key and PKCS#12.
    QTemporaryDir dir;
    DevnetOptions options;
    options.dir = dir.filePath(QStringLiteral("devnet"));
    options.tickets = 10;
    QString error;
    const std::optional<DevnetLayout> devnet = DevnetLayout::ensure(options, &error);
    QVERIFY2(devnet, qPrintable(error));
    QSettings ini(dir.filePath(QStringLiteral("console.ini")), QSettings::IniFormat);
    ConsoleSettings settings(&ini);

    QString reason;
    QVERIFY(!ConnectDialog::lastProfile(settings, &reason));
    QVERIFY(!reason.isEmpty());

    auto field = [](QDialog &dialog, const char *name) {
        return dialog.findChild<QLineEdit *>(QLatin1String(name));
    };
    ConnectDialog dialog(settings);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    QPushButton *connectButton = dialog.findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok);
    QVERIFY(!connectButton->isEnabled()); // nothing chosen yet
    field(dialog, "membership")->setText(devnet->membershipPath);
    field(dialog, "certificate")->setText(devnet->operatorCertificate);
    field(dialog, "ca")->setText(devnet->caPath);
    QVERIFY(!connectButton->isEnabled()); // a PEM certificate needs its key
    field(dialog, "certificate")->setText(devnet->operatorPkcs12);
    QVERIFY(!field(dialog, "key")->isEnabled()); // a bundle brings its own
    QVERIFY(connectButton->isEnabled());
    field(dialog, "certificate")->setText(devnet->operatorCertificate);
    field(dialog, "key")->setText(devnet->operatorKey);
    QVERIFY(field(dialog, "key")->isEnabled());

    // A file that is not there keeps the dialog open and says which.
    field(dialog, "ca")->setText(dir.filePath(QStringLiteral("no-such-ca.pem")));
    QTest::mouseClick(connectButton, Qt::LeftButton);
    QVERIFY(dialog.isVisible());
    QCOMPARE(dialog.result(), int(QDialog::Rejected));
    const QLabel *problem = dialog.findChild<QLabel *>(QStringLiteral("problem"));
    QVERIFY(problem->isVisible());
    QVERIFY2(problem->text().contains(QLatin1String("no-such-ca.pem")), qPrintable(problem->text()));

    field(dialog, "ca")->setText(devnet->caPath);
    QTest::mouseClick(connectButton, Qt::LeftButton);
    QCOMPARE(dialog.result(), int(QDialog::Accepted));
    const SessionProfile chosen = dialog.profile();
    QCOMPARE(chosen.nodes.size(), devnet->nodes.size());
    QCOMPARE(chosen.eventSource, QStringLiteral("coordinator-1"));
    QCOMPARE(chosen.keyPath, devnet->operatorKey);
    QVERIFY(chosen.pkcs12Password.isEmpty());

    // Kept, and offered again: by the next dialog and to a console started without arguments.
    std::optional<SessionProfile> last = ConnectDialog::lastProfile(settings, &reason);
    QVERIFY2(last, qPrintable(reason));
    QCOMPARE(QFileInfo(last->certificatePath), QFileInfo(devnet->operatorCertificate));
    QCOMPARE(QFileInfo(last->keyPath), QFileInfo(devnet->operatorKey));
    QCOMPARE(last->nodes.size(), devnet->nodes.size());
    ConnectDialog again(settings);
    QCOMPARE(QFileInfo(field(again, "membership")->text()), QFileInfo(devnet->membershipPath));
    QVERIFY(again.findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok)->isEnabled());

    // Once a kept file is gone, there is no last network to return to; the reason names it.
    QVERIFY(QFile::remove(devnet->operatorKey));
    QVERIFY(!ConnectDialog::lastProfile(settings, &reason));
    QVERIFY2(reason.contains(QFileInfo(devnet->operatorKey).fileName()), qPrintable(reason));
}

QTEST_MAIN(TestViews)
#include "tst_views.moc"
