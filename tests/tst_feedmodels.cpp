// FeedModel and DecisionsModel over a real cache file of 200,000 feed rows and 200,000
// decisions, through a real CacheWorker thread: QAbstractItemModelTester on both, pages that
// show "…" until they arrive, filters, live growth, pause/resume, and a real QTableView.

#include "CacheSchema.h"
#include "CacheWorker.h"
#include "DecisionsModel.h"
#include "FeedModel.h"
#include "HistoryCache.h"

#include <QAbstractItemModelTester>
#include <QCryptographicHash>
#include <QHeaderView>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

using namespace ticketsync;

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

constexpr qint64 kFeedRows = 200'000;
constexpr qint64 kDecisions = 200'000;
constexpr qint64 kBaseMs = 1'790'000'000'000;
const QString kNode = QStringLiteral("coordinator-1");

QString digestHex(const QByteArray &label)
{
    return QString::fromLatin1(QCryptographicHash::hash(label, QCryptographicHash::Sha256).toHex());
}

QString feedTicket(qint64 seq)
{
    return QStringLiteral("F-%1").arg((seq - 1) / 2, 7, 10, QLatin1Char('0'));
}

// Feed event `seq` (1-based): odd ones issue write-off (seq - 1) / 2, the next one confirms it.
QJsonObject feedEvent(qint64 seq)
{
    const qint64 writeOff = (seq - 1) / 2;
    QJsonObject event{{QStringLiteral("seq"), seq},
                      {QStringLiteral("at_ms"), kBaseMs + seq},
                      {QStringLiteral("write_off_digest"), digestHex("F" + QByteArray::number(writeOff))},
                      {QStringLiteral("ticket"), feedTicket(seq)},
                      {QStringLiteral("version"), 1},
                      {QStringLiteral("branch"), QStringLiteral("branch-%1").arg(1 + writeOff % 2)}};
    if (seq % 2) {
        event.insert(QStringLiteral("kind"), QStringLiteral("write_off_issued"));
        event.insert(QStringLiteral("amount_minor"), 100 + writeOff);
        event.insert(QStringLiteral("currency"), QStringLiteral("CNY"));
    } else {
        static const char *const kStates[] = {"WRITTEN_OFF", "ALREADY_WRITTEN_OFF", "AMOUNT_MISMATCH"};
        event.insert(QStringLiteral("kind"), QStringLiteral("confirmation_received"));
        event.insert(QStringLiteral("target"), QStringLiteral("target-%1").arg(1 + writeOff % 4));
        event.insert(QStringLiteral("state"), QLatin1String(kStates[writeOff % 3]));
        event.insert(QStringLiteral("verdict"), QStringLiteral("counted"));
        event.insert(QStringLiteral("confirmation"), QStringLiteral("c2lnbmVk"));
    }
    return event;
}

// Decision `i` (0-based), decided at kBaseMs + 10 i; every 50th UNDETERMINED.
QJsonObject decisionEvent(qint64 seq, qint64 i, qint64 decidedAt = 0, bool forceDecided = false)
{
    const bool undetermined = !forceDecided && i % 50 == 49;
    return {{QStringLiteral("seq"), seq},
            {QStringLiteral("at_ms"), kBaseMs + seq},
            {QStringLiteral("kind"), QStringLiteral("decision_made")},
            {QStringLiteral("write_off_digest"), digestHex("D" + QByteArray::number(i))},
            {QStringLiteral("ticket"), QStringLiteral("D-%1").arg(i, 7, 10, QLatin1Char('0'))},
            {QStringLiteral("version"), 1},
            {QStringLiteral("branch"), QStringLiteral("branch-1")},
            {QStringLiteral("amount_minor"), 500},
            {QStringLiteral("currency"), QStringLiteral("CNY")},
            {QStringLiteral("outcome"),
             undetermined ? QStringLiteral("UNDETERMINED") : QStringLiteral("DECIDED")},
            {QStringLiteral("state"), undetermined ? QString() : QStringLiteral("WRITTEN_OFF")},
            {QStringLiteral("histogram"), undetermined ? QJsonObject{{QStringLiteral("WRITTEN_OFF"), 2},
                                                                     {QStringLiteral("AMOUNT_MISMATCH"), 1}}
                                                       : QJsonObject{{QStringLiteral("WRITTEN_OFF"), 3}}},
            {QStringLiteral("n"), 4},
            {QStringLiteral("q"), 3},
            {QStringLiteral("missing"), undetermined ? 1 : 0},
            {QStringLiteral("equivocating"), 0},
            {QStringLiteral("issued_at_ms"), kBaseMs},
            {QStringLiteral("decided_at_ms"), decidedAt ? decidedAt : kBaseMs + 10 * i},
            {QStringLiteral("latency_ms"), 40 + i % 100}};
}

QString display(const QAbstractItemModel &model, int row, int column)
{
    return model.index(row, column).data().toString();
}

} // namespace

class TestFeedModels : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void feedPagesArriveAsynchronously();
    void feedPageCacheStaysBounded();
    void feedFilters();
    void feedInView();
    void decisionsPagesArriveAsynchronously();
    void decisionsFilters();
    void feedLiveGrowthAndPause();
    void decisionsLiveGrowthAndPause();
    void decisionsRowMovesWhenRetried();

private:
    // Hands events to the worker on its thread, then commits them.
    void ingest(const QList<QJsonObject> &events)
    {
        CacheWorker *worker = thread->worker();
        QMetaObject::invokeMethod(worker, [worker, events] {
            worker->ingest(kNode, events);
            worker->flush();
        });
    }

    QTemporaryDir dir;
    std::unique_ptr<CacheThread> thread;
    qint64 nextSeq = 1;
    qint64 nextFeedSeq = kFeedRows + 1;
};

void TestFeedModels::initTestCase()
{
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("cache.sqlite"));
    {
        // Filled directly, then handed to the worker, as a console finds it on startup.
        HistoryCache cache;
        QString error;
        QVERIFY2(cache.open(path, &error), qPrintable(error));
        QList<QJsonObject> batch;
        for (qint64 seq = 1; seq <= kFeedRows; ++seq) {
            batch.append(feedEvent(seq));
            if (batch.size() == 5000) {
                QCOMPARE(cache.ingest(kNode, batch).stored, 5000);
                batch.clear();
            }
        }
        for (qint64 i = 0; i < kDecisions; ++i) {
            batch.append(decisionEvent(kFeedRows + 1 + i, i));
            if (batch.size() == 5000) {
                QCOMPARE(cache.ingest(kNode, batch).stored, 5000);
                batch.clear();
            }
        }
        QCOMPARE(cache.feedCount({}).count, kFeedRows);
        QCOMPARE(cache.decisionCount({}).count, kDecisions);
        nextSeq = cache.lastSeq(kNode) + 1;
    }
    thread = std::make_unique<CacheThread>(path);
    QSignalSpy opened(thread->worker(), &CacheWorker::opened);
    thread->start();
    QTRY_COMPARE(opened.size(), 1);
    QVERIFY(opened.at(0).at(0).toBool());
}

void TestFeedModels::cleanupTestCase()
{
    thread.reset();
}

void TestFeedModels::feedPagesArriveAsynchronously()
{
    FeedModel model(thread->worker());
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy counted(&model, &FeedModel::countReady);
    QTRY_COMPARE(counted.size(), 1);
    QCOMPARE(model.rowCount(), int(kFeedRows));
    QCOMPARE(model.columnCount(), int(FeedModel::ColumnCount));
    QCOMPARE(model.headerData(FeedModel::TicketColumn, Qt::Horizontal).toString(), QStringLiteral("Ticket"));

    // Row 150,000 is not in memory: "…" now, the real row once its page arrives.
    const int row = 150'000;
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    const QModelIndex ticket = model.index(row, FeedModel::TicketColumn);
    QCOMPARE(ticket.data().toString(), QStringLiteral("…"));
    QCOMPARE(ticket.data(FeedModel::LoadedRole).toBool(), false);
    QTRY_VERIFY(model.index(row, 0).data(FeedModel::LoadedRole).toBool());
    bool covered = false;
    for (const QList<QVariant> &signal : std::as_const(changed)) {
        const auto top = signal.at(0).value<QModelIndex>();
        const auto bottom = signal.at(1).value<QModelIndex>();
        covered = covered || (top.row() <= row && row <= bottom.row());
    }
    QVERIFY(covered);
    const qint64 seq = row + 1; // feed ids are the insertion order
    QCOMPARE(ticket.data().toString(), feedTicket(seq));
    QCOMPARE(ticket.data(FeedModel::FeedIdRole).toLongLong(), seq);
    QCOMPARE(display(model, row, FeedModel::KindColumn), QStringLiteral("Issued"));
    QCOMPARE(display(model, row + 1, FeedModel::KindColumn), QStringLiteral("Confirmation"));
    const qint64 writeOff = (seq - 1) / 2;
    QCOMPARE(display(model, row + 1, FeedModel::TargetColumn),
             QStringLiteral("target-%1").arg(1 + writeOff % 4));
    QCOMPARE(model.index(row, 0).data(FeedModel::DigestRole).toByteArray().toHex(),
             digestHex("F" + QByteArray::number(writeOff)).toLatin1());
    QCOMPARE(model.index(row, 0).data(FeedModel::NodeRole).toString(), kNode);
    // Colours and the state code for the detail pane.
    const int stateRow = row + 1;
    const int code = model.index(stateRow, 0).data(FeedModel::StateCodeRole).toInt();
    QVERIFY(code >= 1 && code <= 3);
    QCOMPARE(model.index(stateRow, 0).data(Qt::BackgroundRole).value<QColor>(),
             FeedModel::stateBackground(code));
    QVERIFY(!model.index(row, 0).data(Qt::BackgroundRole).isValid()); // issued rows are not coloured

    // The first and the last page, as a view opening at either end needs them.
    QTRY_COMPARE(display(model, 0, FeedModel::TicketColumn), feedTicket(1));
    QTRY_COMPARE(display(model, int(kFeedRows) - 1, FeedModel::TicketColumn), feedTicket(kFeedRows));
}

void TestFeedModels::feedPageCacheStaysBounded()
{
    // Without the tester here: it re-checks every one of the 200,000 rows on each dataChanged,
    // which would make 60 page loads take minutes. The model is the same as above.
    FeedModel model(thread->worker());
    QSignalSpy counted(&model, &FeedModel::countReady);
    QTRY_COMPARE(counted.size(), 1);
    // Scrolling through many pages keeps at most kMaxPages in memory; the rows stay right.
    for (int page = 0; page < 60; ++page) {
        const int r = page * 3000;
        QTRY_COMPARE(display(model, r, FeedModel::TicketColumn), feedTicket(r + 1));
    }
    int loaded = 0;
    for (int r = 0; r < model.rowCount(); r += FeedModel::kPageSize)
        loaded += model.rowAt(r) != nullptr;
    QVERIFY2(loaded <= FeedModel::kMaxPages, qPrintable(QString::number(loaded)));
}

void TestFeedModels::feedFilters()
{
    FeedModel model(thread->worker());
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy counted(&model, &FeedModel::countReady);
    QTRY_COMPARE(counted.size(), 1);

    const auto expectCount = [&](const FeedFilter &filter, qint64 expected) {
        QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
        counted.clear();
        model.setFilter(filter);
        QVERIFY(reset.size() >= 1); // reset at once, then counted again
        QTRY_COMPARE(counted.size(), 1);
        QCOMPARE(model.rowCount(), int(expected));
    };
    expectCount(FeedFilter{.ticket = feedTicket(4001)}, 2); // its issue and its confirmation
    QTRY_COMPARE(display(model, 0, FeedModel::KindColumn), QStringLiteral("Issued"));
    QCOMPARE(display(model, 1, FeedModel::KindColumn), QStringLiteral("Confirmation"));
    expectCount(FeedFilter{.state = 0}, kFeedRows / 2);
    expectCount(FeedFilter{.branch = QStringLiteral("branch-2")}, kFeedRows / 2);
    expectCount(FeedFilter{.target = QStringLiteral("target-3")}, kFeedRows / 2 / 4);
    // State 2 (ALREADY_WRITTEN_OFF): confirmations of write-offs 1, 4, 7, ...
    qint64 already = 0;
    for (qint64 seq = 2; seq <= kFeedRows; seq += 2)
        already += ((seq - 1) / 2) % 3 == 1;
    expectCount(FeedFilter{.state = 2}, already);
    // Row 10,000 of the filtered rows, through the index.
    QTRY_COMPARE(model.index(10'000, 0).data(FeedModel::StateCodeRole).toInt(), 2);
    QCOMPARE(display(model, 10'000, FeedModel::StateColumn), QStringLiteral("Already written off"));
    expectCount(FeedFilter{.fromMs = kBaseMs + 1001, .toMs = kBaseMs + 2000}, 1000);
    QTRY_COMPARE(display(model, 999, FeedModel::TicketColumn), feedTicket(2000));
    expectCount(
        FeedFilter{.branch = QStringLiteral("branch-1"), .target = QStringLiteral("target-1"), .state = 0},
        0); // issued rows have no target
    expectCount(FeedFilter{}, kFeedRows);
}

void TestFeedModels::feedInView()
{
    // A real table on the offscreen platform: it paints "…" rows, then the real ones.
    FeedModel model(thread->worker());
    QSignalSpy counted(&model, &FeedModel::countReady);
    QTableView view;
    view.setModel(&model);
    view.verticalHeader()->setDefaultSectionSize(20);
    view.resize(900, 400);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    QTRY_COMPARE(counted.size(), 1);
    view.scrollToBottom();
    const auto bottomRow = [&] {
        return view.rowAt(view.viewport()->height() - 5);
    };
    QTRY_VERIFY(bottomRow() > int(kFeedRows) - 30);
    QTRY_COMPARE(display(model, bottomRow(), FeedModel::TicketColumn), feedTicket(bottomRow() + 1));
    // Jump to the middle, as dragging the scroll bar does.
    view.verticalScrollBar()->setValue(view.verticalScrollBar()->maximum() / 2);
    const int top = view.rowAt(0);
    QVERIFY(top > 90'000 && top < 110'000);
    QTRY_COMPARE(display(model, top, FeedModel::TicketColumn), feedTicket(top + 1));
    const QImage shot = view.grab().toImage();
    QVERIFY(!shot.isNull());
}

void TestFeedModels::decisionsPagesArriveAsynchronously()
{
    DecisionsModel model(thread->worker());
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy counted(&model, &DecisionsModel::countReady);
    QTRY_COMPARE(counted.size(), 1);
    QCOMPARE(model.rowCount(), int(kDecisions));

    // Ordered by decided_at_ms, oldest first: row i is decision i.
    const int row = 150'000;
    const QModelIndex ticket = model.index(row, DecisionsModel::TicketColumn);
    QCOMPARE(ticket.data().toString(), QStringLiteral("…"));
    QTRY_COMPARE(ticket.data().toString(), QStringLiteral("D-%1").arg(row, 7, 10, QLatin1Char('0')));
    QCOMPARE(display(model, row, DecisionsModel::OutcomeColumn), QStringLiteral("Decided"));
    QCOMPARE(display(model, row, DecisionsModel::StateColumn), QStringLiteral("Written off"));
    QCOMPARE(display(model, row, DecisionsModel::CountColumn), QStringLiteral("3/4"));
    QCOMPARE(display(model, row, DecisionsModel::QuorumColumn), QStringLiteral("3"));
    QCOMPARE(display(model, row, DecisionsModel::LatencyColumn), QStringLiteral("%1 ms").arg(40 + row % 100));
    QCOMPARE(display(model, row, DecisionsModel::HeightColumn), QStringLiteral("pending"));
    QCOMPARE(display(model, row, DecisionsModel::NodeColumn), kNode);
    QCOMPARE(model.index(row, 0).data(DecisionsModel::StateCodeRole).toInt(), 1);
    QCOMPARE(model.index(row, 0).data(DecisionsModel::DigestRole).toByteArray().toHex(),
             digestHex("D" + QByteArray::number(row)).toLatin1());
    QCOMPARE(model.index(row, 0).data(Qt::BackgroundRole).value<QColor>(), FeedModel::stateBackground(1));
    // An UNDETERMINED row: grey, count is the top state's.
    const int undetermined = 150'049;
    QTRY_COMPARE(display(model, undetermined, DecisionsModel::OutcomeColumn), QStringLiteral("Undetermined"));
    QCOMPARE(display(model, undetermined, DecisionsModel::CountColumn), QStringLiteral("2/4"));
    QCOMPARE(model.index(undetermined, 0).data(DecisionsModel::StateCodeRole).toInt(), 0);
    QCOMPARE(model.index(undetermined, 0).data(Qt::BackgroundRole).value<QColor>(),
             FeedModel::stateBackground(0, true));
    QCOMPARE(model.index(undetermined, 0)
                 .data(DecisionsModel::HistogramRole)
                 .toJsonObject()
                 .value(u"WRITTEN_OFF")
                 .toInt(),
             2);
    // Neighbouring pages are read by key from the one in memory.
    QTRY_COMPARE(display(model, row + 256, DecisionsModel::TicketColumn),
                 QStringLiteral("D-%1").arg(row + 256, 7, 10, QLatin1Char('0')));
    QTRY_COMPARE(display(model, row - 256, DecisionsModel::TicketColumn),
                 QStringLiteral("D-%1").arg(row - 256, 7, 10, QLatin1Char('0')));
    QTRY_COMPARE(display(model, int(kDecisions) - 1, DecisionsModel::TicketColumn),
                 QStringLiteral("D-%1").arg(kDecisions - 1, 7, 10, QLatin1Char('0')));
}

void TestFeedModels::decisionsFilters()
{
    DecisionsModel model(thread->worker());
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy counted(&model, &DecisionsModel::countReady);
    QTRY_COMPARE(counted.size(), 1);
    const auto expectCount = [&](const DecisionFilter &filter, qint64 expected) {
        counted.clear();
        model.setFilter(filter);
        QTRY_COMPARE(counted.size(), 1);
        QCOMPARE(model.rowCount(), int(expected));
    };
    expectCount(DecisionFilter{.outcome = QStringLiteral("UNDETERMINED")}, kDecisions / 50);
    QTRY_COMPARE(display(model, 3, DecisionsModel::TicketColumn),
                 QStringLiteral("D-%1").arg(199, 7, 10, QLatin1Char('0')));
    expectCount(DecisionFilter{.outcome = QStringLiteral("DECIDED")}, kDecisions - kDecisions / 50);
    expectCount(DecisionFilter{.ticket = QStringLiteral("D-0001234")}, 1);
    QTRY_COMPARE(display(model, 0, DecisionsModel::TicketColumn), QStringLiteral("D-0001234"));
    expectCount(DecisionFilter{.fromMs = kBaseMs + 10 * 1000, .toMs = kBaseMs + 10 * 1999}, 1000);
    QTRY_COMPARE(display(model, 0, DecisionsModel::TicketColumn), QStringLiteral("D-0001000"));
    expectCount(DecisionFilter{.outcome = QStringLiteral("UNDETERMINED"),
                               .fromMs = kBaseMs + 10 * 1000,
                               .toMs = kBaseMs + 10 * 1999},
                20);
    expectCount(DecisionFilter{}, kDecisions);
}

void TestFeedModels::feedLiveGrowthAndPause()
{
    FeedModel model(thread->worker());
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy counted(&model, &FeedModel::countReady);
    QTRY_COMPARE(counted.size(), 1);
    const int before = model.rowCount();
    QVERIFY(model.followNewest());

    // New rows are appended at the end (newest last).
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy appended(&model, &FeedModel::rowsAppended);
    QList<QJsonObject> events;
    for (int i = 0; i < 10; ++i) {
        QJsonObject event = feedEvent(nextFeedSeq++);
        event.insert(QStringLiteral("seq"), nextSeq++);
        events.append(event);
    }
    ingest(events);
    QTRY_COMPARE(model.rowCount(), before + 10);
    QVERIFY(!inserted.isEmpty());
    QCOMPARE(inserted.first().at(1).toInt(), before);
    QCOMPARE(appended.last().at(1).toInt(), before + 9);
    QTRY_COMPARE(display(model, before + 9, FeedModel::TicketColumn), feedTicket(nextFeedSeq - 1));

    // Paused: the view is frozen while the cache grows; resuming catches up in one insert.
    model.setPaused(true);
    QVERIFY(model.isPaused());
    events.clear();
    for (int i = 0; i < 6; ++i) {
        QJsonObject event = feedEvent(nextFeedSeq++);
        event.insert(QStringLiteral("seq"), nextSeq++);
        events.append(event);
    }
    ingest(events);
    QTRY_COMPARE(model.pendingRows(), 6);
    QCOMPARE(model.rowCount(), before + 10);
    inserted.clear();
    model.setPaused(false);
    QCOMPARE(model.rowCount(), before + 16);
    QCOMPARE(inserted.size(), 1);
    QCOMPARE(model.pendingRows(), 0);
    QTRY_COMPARE(display(model, before + 15, FeedModel::TicketColumn), feedTicket(nextFeedSeq - 1));

    // A filter only grows with rows that match it.
    counted.clear();
    model.setFilter(FeedFilter{.state = 0});
    QTRY_COMPARE(counted.size(), 1);
    const int issuedBefore = model.rowCount();
    events.clear();
    for (int i = 0; i < 4; ++i) {
        QJsonObject event = feedEvent(nextFeedSeq++);
        event.insert(QStringLiteral("seq"), nextSeq++);
        events.append(event);
    }
    ingest(events);
    QTRY_COMPARE(model.rowCount(), issuedBefore + 2);
    QTest::qWait(100);
    QCOMPARE(model.rowCount(), issuedBefore + 2);
}

void TestFeedModels::decisionsLiveGrowthAndPause()
{
    DecisionsModel model(thread->worker());
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy counted(&model, &DecisionsModel::countReady);
    QTRY_COMPARE(counted.size(), 1);
    const int before = model.rowCount();
    // Load the last page, so appending must extend it.
    QTRY_VERIFY(model.index(before - 1, 0).data(DecisionsModel::LoadedRole).toBool());

    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QList<QJsonObject> events;
    for (qint64 i = kDecisions + 100; i < kDecisions + 105; ++i)
        events.append(decisionEvent(nextSeq++, i));
    ingest(events);
    QTRY_COMPARE(model.rowCount(), before + 5);
    QCOMPARE(inserted.first().at(1).toInt(), before);
    QTRY_COMPARE(display(model, before + 4, DecisionsModel::TicketColumn),
                 QStringLiteral("D-%1").arg(kDecisions + 104, 7, 10, QLatin1Char('0')));
    QCOMPARE(display(model, before - 1, DecisionsModel::TicketColumn),
             QStringLiteral("D-%1").arg(kDecisions - 1, 7, 10, QLatin1Char('0')));

    model.setPaused(true);
    events.clear();
    for (qint64 i = kDecisions + 105; i < kDecisions + 108; ++i)
        events.append(decisionEvent(nextSeq++, i));
    ingest(events);
    QTRY_COMPARE(model.pendingRows(), 3);
    QCOMPARE(model.rowCount(), before + 5);
    model.setPaused(false);
    QCOMPARE(model.rowCount(), before + 8);
    QTRY_COMPARE(display(model, before + 7, DecisionsModel::TicketColumn),
                 QStringLiteral("D-%1").arg(kDecisions + 107, 7, 10, QLatin1Char('0')));
}

void TestFeedModels::decisionsRowMovesWhenRetried()
{
    DecisionsModel model(thread->worker());
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy counted(&model, &DecisionsModel::countReady);
    QTRY_COMPARE(counted.size(), 1);
    const int rows = model.rowCount();
    const int undetermined = 49; // decision 49 was UNDETERMINED
    QTRY_COMPARE(display(model, undetermined, DecisionsModel::OutcomeColumn), QStringLiteral("Undetermined"));
    QTRY_VERIFY(model.index(rows - 1, 0).data(DecisionsModel::LoadedRole).toBool());

    // A retry decides it now: the row leaves its place and becomes the newest.
    const qint64 now = kBaseMs + 10 * (kDecisions + 1000);
    ingest({decisionEvent(nextSeq++, 49, now, true)});
    QTRY_COMPARE(display(model, rows - 1, DecisionsModel::TicketColumn), QStringLiteral("D-0000049"));
    QCOMPARE(model.rowCount(), rows);
    QTRY_COMPARE(display(model, rows - 1, DecisionsModel::OutcomeColumn), QStringLiteral("Decided"));
    QTRY_COMPARE(display(model, undetermined, DecisionsModel::TicketColumn), QStringLiteral("D-0000050"));

    // With the UNDETERMINED filter it is gone.
    counted.clear();
    model.setFilter(DecisionFilter{.outcome = QStringLiteral("UNDETERMINED")});
    QTRY_COMPARE(counted.size(), 1);
    QCOMPARE(model.rowCount(), int(kDecisions / 50) - 1);
}

QTEST_MAIN(TestFeedModels)
#include "tst_feedmodels.moc"
