// The operations console against a real devnet: ten ticketsync-node processes on loopback,
// a real MainWindow on the offscreen platform, a real SQLite cache and real exports.
#include "AlertsModel.h"
#include "ApiClient.h"
#include "ConnectDialog.h"
#include "ConsoleSession.h"
#include "ConsoleSettings.h"
#include "DecisionDetailPane.h"
#include "DecisionsModel.h"
#include "DevnetFixture.h"
#include "DevnetLayout.h"
#include "DevnetPki.h"
#include "FeedModel.h"
#include "HistoryCache.h"
#include "MainWindow.h"
#include "Membership.h"
#include "NodesModel.h"
#include "ReceiversModel.h"
#include "ReceiversView.h"
#include "ReportExporter.h"
#include "SampleConsortium.h"
#include "TallyTracker.h"
#include "TlsIdentity.h"

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QDialogButtonBox>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QSignalSpy>
#include <QSslServer>
#include <QSslSocket>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QWebSocket>
#include <QWebSocketServer>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <functional>
#include <sqlite3.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace ticketsync;

namespace {
constexpr int kWait = DevnetFixture::kWait;

// A FIFO in place of a file: opening it for reading waits for a writer, as a file on a stalled
// network mount does. The writer comes on release(), or after fallbackMs at the latest, so a
// read on the GUI thread stalls the test for a while (and fails it) instead of forever.
class SlowFile
{
public:
    SlowFile(const QString &path, QByteArray contents, int fallbackMs)
        : valid(::mkfifo(QFile::encodeName(path).constData(), 0600) == 0)
    {
        if (!valid)
            return;
        writer =
            std::thread([this, name = QFile::encodeName(path), contents = std::move(contents), fallbackMs] {
                using Clock = std::chrono::steady_clock;
                const auto fallback = Clock::now() + std::chrono::milliseconds(fallbackMs);
                while (!released && Clock::now() < fallback)
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                // Only once a reader has it open; gives up if none comes.
                const auto giveUp = Clock::now() + std::chrono::seconds(15);
                int fd = -1;
                while ((fd = ::open(name.constData(), O_WRONLY | O_NONBLOCK)) < 0 && errno == ENXIO &&
                       Clock::now() < giveUp)
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                if (fd < 0)
                    return;
                ::fcntl(fd, F_SETFL, 0);
                qsizetype written = 0;
                while (written < contents.size()) {
                    const ssize_t n =
                        ::write(fd, contents.constData() + written, size_t(contents.size() - written));
                    if (n <= 0)
                        break;
                    written += n;
                }
                ::close(fd);
            });
    }
    ~SlowFile()
    {
        release();
        if (writer.joinable())
            writer.join();
    }
    bool isValid() const { return valid; }
    void release() { released = true; }

private:
    bool valid;
    std::atomic_bool released{false};
    std::thread writer;
};

// The longest the GUI thread went without turning its event loop, from a 10 ms timer's ticks.
class GuiStallMeter
{
public:
    GuiStallMeter()
    {
        clock.start();
        QObject::connect(&ticker, &QTimer::timeout, &ticker, [this] {
            worstGap = qMax(worstGap, clock.elapsed() - last);
            last = clock.elapsed();
        });
        ticker.start(10);
    }
    qint64 worstGapMs() const { return worstGap; }

private:
    QElapsedTimer clock;
    QTimer ticker;
    qint64 worstGap = 0;
    qint64 last = 0;
};

// Selects the decision in the console's decisions view once its row has loaded; false before.
// Clears the selection first, so that selecting the same decision again reads it again.
bool selectDecision(MainWindow &console, const QString &digestHex)
{
    auto *view = console.findChild<QTableView *>(QStringLiteral("decisionsView"));
    DecisionsModel *model = console.decisionsModel();
    const QByteArray digest = QByteArray::fromHex(digestHex.toLatin1());
    for (int row = model->rowCount() - 1; row >= 0; --row) {
        const QModelIndex index = model->index(row, 0);
        if (index.data(DecisionsModel::DigestRole).toByteArray() == digest) {
            view->setCurrentIndex(QModelIndex());
            view->setCurrentIndex(index);
            return true;
        }
    }
    return false;
}

// The proof the cache keeps for a decision, read through a connection of its own.
QByteArray cachedProof(const QString &cachePath, const QString &digestHex)
{
    HistoryCache reader;
    if (!reader.open(cachePath, nullptr, HistoryCache::Mode::ReadOnly))
        return {};
    const std::optional<DecisionRow> row = reader.decision(QByteArray::fromHex(digestHex.toLatin1()));
    return row ? row->proof : QByteArray();
}

// Writes a decision's proof column by hand, as someone editing the cache file would.
bool overwriteCachedProof(const QString &cachePath, const QString &digestHex, const QByteArray &proof)
{
    sqlite3 *db = nullptr;
    if (sqlite3_open_v2(cachePath.toUtf8().constData(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        sqlite3_close_v2(db);
        return false;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *update = nullptr;
    const QByteArray digest = QByteArray::fromHex(digestHex.toLatin1());
    bool ok = sqlite3_prepare_v2(db, "UPDATE decisions SET proof = ? WHERE digest = ?", -1, &update,
                                 nullptr) == SQLITE_OK;
    ok = ok &&
         sqlite3_bind_blob(update, 1, proof.constData(), int(proof.size()), SQLITE_TRANSIENT) == SQLITE_OK;
    ok = ok &&
         sqlite3_bind_blob(update, 2, digest.constData(), int(digest.size()), SQLITE_TRANSIENT) == SQLITE_OK;
    ok = ok && sqlite3_step(update) == SQLITE_DONE && sqlite3_changes(db) == 1;
    sqlite3_finalize(update);
    sqlite3_close_v2(db);
    return ok;
}
// A "coordinator-1" on loopback with that node's real certificate: it answers hello and subscribe
// as a node does, and every other request as the test's script says (or all of them).
class ScriptedNode : public QObject
{
public:
    using Script = std::function<void(QWebSocket *socket, const QJsonObject &request)>;

    bool listen(const QString &pkiDir, QString *error)
    {
        const std::optional<TlsIdentity> identity = TlsIdentity::load(
            pkiDir + QStringLiteral("/coordinator-1.pem"), pkiDir + QStringLiteral("/coordinator-1.key"),
            pkiDir + QStringLiteral("/ca.pem"), error);
        if (!identity)
            return false;
        tls.setSslConfiguration(identity->serverConfiguration());
        connect(&tls, &QSslServer::pendingConnectionAvailable, this, [this] {
            while (QTcpSocket *socket = tls.nextPendingConnection())
                upgrade.handleConnection(socket);
        });
        connect(&upgrade, &QWebSocketServer::newConnection, this, [this] {
            while (QWebSocket *socket = upgrade.nextPendingConnection()) {
                if (connected)
                    connected(socket);
                connect(socket, &QWebSocket::textMessageReceived, this,
                        [this, socket](const QString &text) { onRequest(socket, text); });
            }
        });
        return tls.listen(QHostAddress::LocalHost, 0);
    }

    SessionProfile profile(const DevnetLayout &layout) const
    {
        SessionProfile scripted;
        scripted.nodes = {{QStringLiteral("coordinator-1"),
                           QStringLiteral("127.0.0.1:%1").arg(tls.serverPort()),
                           {QStringLiteral("coordinator")}}};
        scripted.eventSource = QStringLiteral("coordinator-1");
        scripted.certificatePath = layout.operatorCertificate;
        scripted.keyPath = layout.operatorKey;
        scripted.caPath = layout.caPath;
        scripted.membershipPath = layout.membershipPath;
        return scripted;
    }

    static void send(QWebSocket *socket, const QJsonObject &message)
    {
        socket->sendTextMessage(QString::fromUtf8(QJsonDocument(message).toJson(QJsonDocument::Compact)));
    }

    Script answer;
    // When set, it answers hello and subscribe too.
    Script answerEverything;
    // Each new connection, before its first request.
    std::function<void(QWebSocket *socket)> connected;

private:
    void onRequest(QWebSocket *socket, const QString &text)
    {
        const QJsonObject request = QJsonDocument::fromJson(text.toUtf8()).object();
        if (answerEverything) {
            answerEverything(socket, request);
            return;
        }
        const QString type = request.value(u"type").toString();
        const QJsonValue id = request.value(u"id");
        if (type == QLatin1String("hello"))
            send(socket, {{QStringLiteral("type"), QStringLiteral("welcome")},
                          {QStringLiteral("id"), id},
                          {QStringLiteral("api_version"), 1},
                          {QStringLiteral("node_id"), QStringLiteral("coordinator-1")},
                          {QStringLiteral("client"), QStringLiteral("operator-1")},
                          {QStringLiteral("client_role"), QStringLiteral("operator")},
                          {QStringLiteral("last_seq"), 0}});
        else if (type == QLatin1String("subscribe"))
            send(socket,
                 {{QStringLiteral("type"), QStringLiteral("subscribed")}, {QStringLiteral("id"), id}});
        else if (answer)
            answer(socket, request);
    }

    QSslServer tls;
    QWebSocketServer upgrade{QStringLiteral("scripted"), QWebSocketServer::NonSecureMode};
};
} // namespace

class ConsoleTest : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void modelsPassTheModelTester();
    void histogramCountsEqualTheConfirmationsSent();
    void resyncFromTheReceiversView();
    void auditorCommandsAreRefused();
    void exportsAreRightAndVerifiable();
    void cacheReopensAfterKill();
    void hostileNodeCannotCrashOrFreeze();
    void switchesToSimplifiedChinese();
    void eachNetworkKeepsItsOwnCache();
    void replacedJournalRaisesAnAlert();
    void refusedBatchesAreFetchedAgain();
    void connectingReadsItsFilesOffTheGuiThread_data();
    void connectingReadsItsFilesOffTheGuiThread();
    void fileErrorsStillReachTheOperator();
    void connectDialogReadsNoFileWhileTyping();
    void receiversStalenessIsASetting();
    void detailPaneProvesTheDecisionsBlock();
    void detailPaneRefusesWhatALyingNodeSends();
    void unusableCacheDoesNotHoldTheConnection();
    void commandAnswersTheOperatorCannotReadAreNamed();
    void silentSourceIsAlertedWithoutACache();

private:
    std::unique_ptr<MainWindow> openConsole(const QString &cachePath, bool auditor = false);
    QStringList submitBatch(int first, int count);

    DevnetFixture devnet;
    QTemporaryDir scratch;
    std::unique_ptr<QSettings> iniSettings;
    std::unique_ptr<ConsoleSettings> settings;
    std::unique_ptr<MainWindow> window;
    std::unique_ptr<ApiClient> branch;
    std::unique_ptr<ApiClient> coordinator;
};

void ConsoleTest::initTestCase()
{
    DevnetOptions options;
    options.tickets = 2000;
    options.voteTimeoutMs = 600;
    options.retryLimit = 1;
    options.retryBackoffMs = 200;
    QString error;
    QVERIFY2(devnet.start(options, &error), qPrintable(error));
    branch = devnet.client(QStringLiteral("branch-1"));
    coordinator = devnet.client(QStringLiteral("coordinator-1"));
    QVERIFY(branch && branch->isConnected());
    window = openConsole(scratch.filePath(QStringLiteral("cache.sqlite")));
    QVERIFY(window);
}

void ConsoleTest::cleanupTestCase()
{
    window.reset();
    branch.reset();
    coordinator.reset();
    devnet.stopAll();
}

std::unique_ptr<MainWindow> ConsoleTest::openConsole(const QString &cachePath, bool auditor)
{
    iniSettings = std::make_unique<QSettings>(scratch.filePath(QStringLiteral("console-%1.ini").arg(auditor)),
                                              QSettings::IniFormat);
    settings = std::make_unique<ConsoleSettings>(iniSettings.get());
    settings->setValue(ConsoleSettings::CachePath, cachePath);
    auto console = std::make_unique<MainWindow>(*settings);
    console->show();
    if (!QTest::qWaitForWindowExposed(console.get()))
        return nullptr;
    QString error;
    std::optional<SessionProfile> profile = SessionProfile::fromDevnet(devnet.dir(), auditor, &error);
    if (!profile || !console->connectTo(*profile, &error)) {
        qWarning() << error;
        return nullptr;
    }
    const bool connected = QTest::qWaitFor(
        [&] { return console->session().link(QStringLiteral("coordinator-1")).connected; }, kWait);
    if (!connected)
        return nullptr;
    return console;
}

QStringList ConsoleTest::submitBatch(int first, int count)
{
    QStringList digests;
    for (int i = first; i < first + count; ++i) {
        const QJsonObject reply = DevnetFixture::call(
            *branch, {{QStringLiteral("type"), QStringLiteral("submit")},
                      {QStringLiteral("ticket"), SampleConsortium::ticketId(i)},
                      {QStringLiteral("amount_minor"), SampleConsortium::faceAmountMinor(i)},
                      {QStringLiteral("reference"), QStringLiteral("console-test-%1").arg(i)}});
        digests.append(reply.value(u"digest").toString());
    }
    return digests;
}

void ConsoleTest::modelsPassTheModelTester()
{
    submitBatch(1, 20);
    QAbstractItemModelTester feedTester(window->feedModel(),
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester decisionsTester(window->decisionsModel(),
                                             QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester receiversTester(window->receiversModel(),
                                             QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester nodesTester(window->nodesModel(),
                                         QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester alertsTester(window->alertsModel(),
                                          QAbstractItemModelTester::FailureReportingMode::QtTest);
    // Live rows arrive while the testers watch every signal.
    submitBatch(21, 20);
    QTRY_VERIFY_WITH_TIMEOUT(window->feedModel()->rowCount() >= 40 * 5, kWait); // issued + 4 votes each
    QTRY_VERIFY_WITH_TIMEOUT(window->decisionsModel()->rowCount() >= 40, kWait);
    QTRY_VERIFY_WITH_TIMEOUT(window->receiversModel()->rowCount() == 7, kWait);
    QTRY_COMPARE_WITH_TIMEOUT(window->nodesModel()->rowCount(), 10, kWait);
}

void ConsoleTest::histogramCountsEqualTheConfirmationsSent()
{
    // What the targets themselves say they sent, from each target's own event stream.
    QHash<QString, QHash<QString, QString>> sent; // digest -> target -> state
    std::vector<std::unique_ptr<ApiClient>> targets;
    for (const QString &target : devnet.layout().idsWithRole(Role::Target)) {
        targets.push_back(devnet.client(target));
        ApiClient *client = targets.back().get();
        connect(client, &ApiClient::eventReceived, this, [&sent, target](const QJsonObject &event) {
            if (event.value(u"kind").toString() == QLatin1String("confirmation_sent"))
                sent[event.value(u"write_off_digest").toString()].insert(target,
                                                                         event.value(u"state").toString());
        });
        client->subscribe(client->welcome().value(u"last_seq").toInteger() + 1);
    }
    // A mix: valid, a double write-off through the other branch, a wrong amount, an unknown ticket.
    QStringList digests = submitBatch(100, 10);
    std::unique_ptr<ApiClient> other = devnet.client(QStringLiteral("branch-2"));
    for (const QJsonObject &request :
         {QJsonObject{{QStringLiteral("ticket"), SampleConsortium::ticketId(100)},
                      {QStringLiteral("amount_minor"), SampleConsortium::faceAmountMinor(100)}},
          QJsonObject{{QStringLiteral("ticket"), SampleConsortium::ticketId(150)},
                      {QStringLiteral("amount_minor"), 1}},
          QJsonObject{{QStringLiteral("ticket"), QStringLiteral("X-404")},
                      {QStringLiteral("amount_minor"), 100}}}) {
        QJsonObject submit = request;
        submit.insert(QStringLiteral("type"), QStringLiteral("submit"));
        digests.append(DevnetFixture::call(*other, submit).value(u"digest").toString());
    }
    for (const QString &digest : std::as_const(digests)) {
        QTRY_VERIFY_WITH_TIMEOUT(!window->tallies().tally(digest).outcome.isEmpty(), kWait);
        QTRY_VERIFY_WITH_TIMEOUT(sent.value(digest).size() == 4, kWait);
        // Every confirmation a target sent is in the console, counted or shown as late.
        QTRY_VERIFY_WITH_TIMEOUT(
            window->tallies().tally(digest).voters.size() + window->tallies().tally(digest).late.size() == 4,
            kWait);
        const TicketTally tally = window->tallies().tally(digest);
        QHash<QString, int> expected;
        for (const QString &state : sent.value(digest))
            expected[state]++;
        QHash<QString, int> shown;
        for (auto it = tally.votes.cbegin(); it != tally.votes.cend(); ++it)
            shown[it.value()]++;
        for (const QString &late : tally.late) {
            const QString target = late.section(u':', 0, 0).trimmed();
            shown[sent.value(digest).value(target)]++;
        }
        QCOMPARE(shown, expected);
        QCOMPARE(tally.n, 4);
        QCOMPARE(tally.q, 3);
    }
    QCOMPARE(window->tallies().tally(digests.at(10)).decidedState, QStringLiteral("ALREADY_WRITTEN_OFF"));
    QCOMPARE(window->tallies().tally(digests.at(12)).decidedState, QStringLiteral("UNKNOWN_TICKET"));
}

void ConsoleTest::resyncFromTheReceiversView()
{
    // receiver-3 stops answering (SIGSTOP keeps its connection open) while blocks keep coming,
    // so it lags as the coordinator sees it.
    QVERIFY(devnet.layout().node(QStringLiteral("receiver-3")));
    QVERIFY(devnet.signalNode(QStringLiteral("receiver-3"), SIGSTOP));
    submitBatch(300, 30);
    ReceiversModel *model = window->receiversModel();
    const int row = model->rowOf(QStringLiteral("receiver-3"));
    QVERIFY(row >= 0);
    QTRY_COMPARE_WITH_TIMEOUT(model->receiverAt(row)->status, QStringLiteral("lagging"), kWait);

    // The operator asks for a re-sync from height 1 through the view, and confirms it.
    ReceiversView *view = window->receiversView();
    QVERIFY(view->isOperator());
    QStringList asked;
    view->setConfirmer([&asked](const QString &question) {
        asked.append(question);
        return true;
    });
    view->setHeightPrompt([](const QString &, qint64) { return std::optional<qint64>(1); });
    view->selectReceiver(QStringLiteral("receiver-3"));
    QSignalSpy finished(window.get(), &MainWindow::commandFinished);
    QTRY_VERIFY_WITH_TIMEOUT(view->resyncAction()->isEnabled(), kWait);
    view->resyncAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 1, kWait);
    QVERIFY(devnet.signalNode(QStringLiteral("receiver-3"), SIGCONT));
    QCOMPARE(asked.size(), 1);
    QVERIFY2(finished.at(0).at(1).toBool(), qPrintable(finished.at(0).at(2).toString()));
    QVERIFY2(finished.at(0).at(2).toString().contains(QLatin1String("receiver-3")),
             qPrintable(finished.at(0).at(2).toString()));
    const quint64 head =
        quint64(DevnetFixture::call(*coordinator, {{QStringLiteral("type"), QStringLiteral("status")}})
                    .value(u"height")
                    .toInteger());
    QTRY_VERIFY_WITH_TIMEOUT(
        model->receiverAt(model->rowOf(QStringLiteral("receiver-3")))->ackedHeight >= qint64(head), kWait);
    QTRY_COMPARE_WITH_TIMEOUT(model->receiverAt(model->rowOf(QStringLiteral("receiver-3")))->status,
                              QStringLiteral("in_sync"), kWait);
    QVERIFY(view->statusText().contains(QLatin1String("receiver-3")));
}

void ConsoleTest::auditorCommandsAreRefused()
{
    std::unique_ptr<QSettings> keepOperatorSettings = std::move(iniSettings);
    std::unique_ptr<ConsoleSettings> keepOperator = std::move(settings);
    std::unique_ptr<MainWindow> auditor =
        openConsole(scratch.filePath(QStringLiteral("auditor-cache.sqlite")), true);
    QVERIFY(auditor);
    QTRY_COMPARE_WITH_TIMEOUT(auditor->session().role(), QStringLiteral("auditor"), kWait);
    ReceiversView *view = auditor->receiversView();
    QTRY_VERIFY_WITH_TIMEOUT(!view->isOperator(), kWait);
    QVERIFY(!view->retryDeliveriesAction()->isEnabled());
    QVERIFY2(view->disabledReason().contains(QLatin1String("auditor")), qPrintable(view->disabledReason()));
    // Even a command sent around the disabled button is refused by the node.
    QSignalSpy finished(auditor.get(), &MainWindow::commandFinished);
    Q_EMIT view->retryDeliveriesRequested();
    QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 1, kWait);
    QVERIFY(!finished.at(0).at(1).toBool());
    QVERIFY2(finished.at(0).at(2).toString().contains(QLatin1String("operators")),
             qPrintable(finished.at(0).at(2).toString()));
    auditor.reset();
    iniSettings = std::move(keepOperatorSettings);
    settings = std::move(keepOperator);
}

void ConsoleTest::exportsAreRightAndVerifiable()
{
    // Everything decided so far is in the cache before exporting.
    const QStringList digests = submitBatch(400, 10);
    for (const QString &digest : digests)
        QTRY_VERIFY_WITH_TIMEOUT(!window->tallies().tally(digest).outcome.isEmpty(), kWait);
    // And sealed, so that the export can fetch each one's block proof.
    QJsonArray asked;
    for (const QString &digest : digests)
        asked.append(digest);
    const auto allSealed = [&] {
        const QJsonObject page =
            DevnetFixture::call(*coordinator, {{QStringLiteral("type"), QStringLiteral("decisions")},
                                               {QStringLiteral("digests"), asked}});
        const QJsonArray found = page.value(u"decisions").toArray();
        return found.size() == asked.size() &&
               std::all_of(found.begin(), found.end(),
                           [](const QJsonValue &entry) { return entry.toObject().contains(u"proof"); });
    };
    QTRY_VERIFY_WITH_TIMEOUT(allSealed(), kWait);
    QTest::qWait(300);
    const qint64 from = 0;
    const qint64 to = std::numeric_limits<qint64>::max();
    auto run = [&](ReportRequest::Format format, const QString &name) {
        const QString path = scratch.filePath(name);
        QSignalSpy finished(window->exporter(), &ReportExporter::finished);
        window->startExport(int(format), path, from, to, QString());
        if (!QTest::qWaitFor([&] { return finished.size() == 1; }, 60000))
            return QString();
        return finished.at(0).at(0).toBool() ? path : QString();
    };
    const QString csvPath = run(ReportRequest::Format::Csv, QStringLiteral("report.csv"));
    QVERIFY(!csvPath.isEmpty());
    QFile csv(csvPath);
    QVERIFY(csv.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = csv.readAll().split('\n');
    QVERIFY(lines.first().endsWith('\r')); // RFC 4180 line ends
    QVERIFY(lines.first().startsWith("ticket,"));
    HistoryCache cache;
    QString error;
    QVERIFY2(cache.open(window->cachePath(), &error, HistoryCache::Mode::ReadOnly), qPrintable(error));
    const qint64 decided = cache.decisionCount(DecisionFilter()).count;
    QCOMPARE(qint64(lines.size() - 2), decided); // header, rows, and the empty piece after the last CRLF
    for (const QString &digest : digests)
        QVERIFY2(csvPath.isEmpty() || QString::fromUtf8(lines.join('\n')).contains(digest),
                 qPrintable(digest));

    const QString bundle = run(ReportRequest::Format::JsonBundle, QStringLiteral("report.json"));
    QVERIFY(!bundle.isEmpty());
    QProcess verify;
    verify.start(QStringLiteral(TICKETSYNC_CLI),
                 {QStringLiteral("verify-report"), bundle, QStringLiteral("--membership"),
                  devnet.layout().membershipPath});
    QVERIFY(verify.waitForFinished(60000));
    QVERIFY2(verify.exitCode() == 0, verify.readAllStandardError().constData());
    // Every DECIDED entry was sealed before the export, so its proof came with its certificate.
    verify.start(QStringLiteral(TICKETSYNC_CLI),
                 {QStringLiteral("verify-report"), bundle, QStringLiteral("--membership"),
                  devnet.layout().membershipPath, QStringLiteral("--json")});
    QVERIFY(verify.waitForFinished(60000));
    const QJsonObject verdict = QJsonDocument::fromJson(verify.readAllStandardOutput()).object();
    QCOMPARE(verify.exitCode(), 0);
    QVERIFY(verdict.value(u"decided").toInt() >= digests.size());
    QCOMPARE(verdict.value(u"proven_in_blocks").toInt(), verdict.value(u"decided").toInt());
    QVERIFY2(verdict.value(u"signed_by_coordinator")
                 .toArray()
                 .first()
                 .toString()
                 .startsWith(QLatin1String("decided_at, missing, equivocating")),
             QJsonDocument(verdict).toJson().constData());
    // One changed byte (a digit of an amount) and it fails.
    QFile file(bundle);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QByteArray bytes = file.readAll();
    file.close();
    // Signed for by the person whose certificate the console holds, not by a role.
    QVERIFY2(bytes.contains("\"generated_by\":\"operator-1\""), bytes.left(400).constData());
    const qsizetype at = bytes.indexOf("\"amount_minor\":");
    QVERIFY(at > 0);
    char &digit = bytes[at + 15];
    digit = digit == '9' ? '8' : char(digit + 1);
    const QString tampered = scratch.filePath(QStringLiteral("tampered.json"));
    QFile out(tampered);
    QVERIFY(out.open(QIODevice::WriteOnly));
    out.write(bytes);
    out.close();
    verify.start(QStringLiteral(TICKETSYNC_CLI),
                 {QStringLiteral("verify-report"), tampered, QStringLiteral("--membership"),
                  devnet.layout().membershipPath});
    QVERIFY(verify.waitForFinished(60000));
    QCOMPARE(verify.exitCode(), 1);

    const QString pdf = run(ReportRequest::Format::Pdf, QStringLiteral("report.pdf"));
    QVERIFY(!pdf.isEmpty());
    QFile pdfFile(pdf);
    QVERIFY(pdfFile.open(QIODevice::ReadOnly));
    const QByteArray pdfBytes = pdfFile.readAll();
    QVERIFY(pdfBytes.startsWith("%PDF"));
    QVERIFY(pdfBytes.count("/Type /Page\n") + pdfBytes.count("/Type /Page ") +
                    pdfBytes.count("/Type /Page>") >=
                1 ||
            pdfBytes.contains("/Type /Pages"));
}

void ConsoleTest::cacheReopensAfterKill()
{
    // A console process ingesting a live stream is killed with SIGKILL mid-way.
    const QString cachePath = scratch.filePath(QStringLiteral("killed-cache.sqlite"));
    QProcess console;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"), scratch.filePath(QStringLiteral("killed-config")));
    console.setProcessEnvironment(environment);
    console.start(QStringLiteral(TICKETSYNC_CONSOLE),
                  {QStringLiteral("--devnet"), devnet.dir(), QStringLiteral("--cache"), cachePath});
    QVERIFY(console.waitForStarted());
    int next = 1000;
    QElapsedTimer ingesting;
    ingesting.start();
    while (ingesting.elapsed() < 4000) {
        submitBatch(next, 10);
        next += 10;
    }
    ::kill(pid_t(console.processId()), SIGKILL);
    QVERIFY(console.waitForFinished(5000));

    HistoryCache cache;
    QString error;
    QVERIFY2(cache.open(cachePath, &error), qPrintable(error));
    const qint64 cursor = cache.lastSeq(QStringLiteral("coordinator-1"));
    QVERIFY2(cursor > 0, "the killed console stored nothing");
    // No partial batch: the cursor and the stored events agree.
    QCOMPARE(cache.maxStoredSeq(QStringLiteral("coordinator-1")), cursor);
    QVERIFY(cache.decisionCount(DecisionFilter()).count > 0);
}

void ConsoleTest::hostileNodeCannotCrashOrFreeze()
{
    // A "coordinator" that holds a valid node certificate but speaks garbage.
    ScriptedNode node;
    QList<QWebSocket *> victims;
    node.connected = [&](QWebSocket *socket) {
        victims.append(socket);
        socket->sendTextMessage(QStringLiteral("{not json at all"));
        socket->sendTextMessage(QStringLiteral("[]"));
        socket->sendTextMessage(
            QStringLiteral("{\"type\":\"welcome\",\"api_version\":\"x\",\"id\":\"oops\"}"));
        socket->sendTextMessage(
            QStringLiteral("{\"type\":\"event\",\"seq\":\"NaN\",\"kind\":\"decision_made\"}"));
        socket->sendTextMessage(
            QStringLiteral("{\"type\":\"event\",\"seq\":5,\"kind\":\"confirmation_received\","
                           "\"write_off_digest\":42,\"histogram\":[1,2]}"));
        for (int i = 0; i < 2000; ++i)
            socket->sendTextMessage(QStringLiteral("{\"type\":\"event\",\"seq\":%1}").arg(10 + i));
        socket->sendBinaryMessage(QByteArray(64, '\xff'));
        socket->sendTextMessage(QString(6 * 1024 * 1024, u'x')); // over the 4 MiB frame limit
    };
    QString error;
    QVERIFY2(node.listen(devnet.dir() + QStringLiteral("/pki"), &error), qPrintable(error));
    const SessionProfile profile = node.profile(devnet.layout());
    std::unique_ptr<QSettings> hostileIni =
        std::make_unique<QSettings>(scratch.filePath(QStringLiteral("hostile.ini")), QSettings::IniFormat);
    ConsoleSettings hostileSettings(hostileIni.get());
    hostileSettings.setValue(ConsoleSettings::CachePath,
                             scratch.filePath(QStringLiteral("hostile-cache.sqlite")));
    MainWindow console(hostileSettings);
    console.show();
    QVERIFY(QTest::qWaitForWindowExposed(&console));
    QVERIFY(console.connectTo(profile, &error));
    QTRY_VERIFY_WITH_TIMEOUT(!victims.isEmpty(), kWait);

    // The GUI thread keeps turning: a timer fires on time while the garbage arrives.
    const GuiStallMeter meter;
    QTest::qWait(3000);
    QVERIFY(console.isVisible());
    // Not a timing assertion: a frozen loop would show a gap of seconds, not milliseconds.
    QVERIFY2(meter.worstGapMs() < 2000,
             qPrintable(QStringLiteral("the GUI stalled for %1 ms").arg(meter.worstGapMs())));
    // The oversized frame closed that connection; the console says so and will reconnect.
    QTRY_VERIFY_WITH_TIMEOUT(
        !console.session().link(QStringLiteral("coordinator-1")).connected || victims.size() > 1, kWait);
    // And the real network is still served by the main console.
    QVERIFY(window->session().link(QStringLiteral("coordinator-1")).connected);
}

void ConsoleTest::switchesToSimplifiedChinese()
{
    const QString english = window->windowTitle();
    window->setLanguage(QStringLiteral("zh_CN"));
    QTRY_VERIFY_WITH_TIMEOUT(window->windowTitle() != english, kWait);
    QVERIFY2(window->windowTitle().contains(QStringLiteral("核销")), qPrintable(window->windowTitle()));
    QCOMPARE(
        window->feedModel()->headerData(FeedModel::TicketColumn, Qt::Horizontal, Qt::DisplayRole).toString(),
        QStringLiteral("票据"));
    QCOMPARE(settings->value(ConsoleSettings::Language), QStringLiteral("zh_CN"));
    window->setLanguage(QStringLiteral("en"));
    QTRY_COMPARE_WITH_TIMEOUT(window->windowTitle(), english, kWait);
}

void ConsoleTest::eachNetworkKeepsItsOwnCache()
{
    // Another consortium with the same name and node ids, but its own CA, as every devnet and
    // every bank network has. Its nodes need not run: the cache refuses before anything is sent.
    DevnetOptions otherOptions;
    otherOptions.dir = scratch.filePath(QStringLiteral("other-devnet"));
    otherOptions.tickets = 10;
    QString error;
    QVERIFY2(DevnetLayout::ensure(otherOptions, &error), qPrintable(error));
    const std::optional<SessionProfile> other = SessionProfile::fromDevnet(otherOptions.dir, false, &error);
    const std::optional<SessionProfile> ours = SessionProfile::fromDevnet(devnet.dir(), false, &error);
    QVERIFY2(other && ours, qPrintable(error));
    const std::optional<NetworkIdentity> otherNetwork = other->network(&error);
    const std::optional<NetworkIdentity> ourNetwork = ours->network(&error);
    QVERIFY2(otherNetwork && ourNetwork, qPrintable(error));
    const std::optional<Membership> otherMembership = Membership::load(other->membershipPath, &error);
    const std::optional<Membership> ourMembership = Membership::load(ours->membershipPath, &error);
    QVERIFY2(otherMembership && ourMembership, qPrintable(error));
    QCOMPARE(otherMembership->consortiumId(), ourMembership->consortiumId()); // the same name
    QVERIFY(otherNetwork->caSha256 != ourNetwork->caSha256);

    // The main console's cache took its network when it first connected, and refuses the other:
    // node ids and event numbers would collide and mix two networks' history in one audit trail.
    QSettings otherIni(scratch.filePath(QStringLiteral("other.ini")), QSettings::IniFormat);
    ConsoleSettings otherSettings(&otherIni);
    {
        MainWindow console(otherSettings, window->cachePath());
        console.show();
        QVERIFY(QTest::qWaitForWindowExposed(&console));
        QSignalSpy refused(&console, &MainWindow::sessionRefused);
        QVERIFY2(console.connectTo(*other, &error), qPrintable(error));
        QTRY_COMPARE_WITH_TIMEOUT(refused.size(), 1, kWait);
        const QString reason = refused.at(0).at(0).toString();
        QVERIFY2(reason.contains(ourNetwork->shortId()) && reason.contains(otherNetwork->shortId()) &&
                     reason.contains(window->cachePath()),
                 qPrintable(reason));
        QVERIFY(console.session().links().isEmpty()); // nothing was started
        QTRY_VERIFY_WITH_TIMEOUT(console.findChild<QMessageBox *>(), kWait);
        console.findChild<QMessageBox *>()->close(); // it never blocked the window
    }
    const auto mainCacheCa = [&] {
        HistoryCache reader;
        return reader.open(window->cachePath(), nullptr, HistoryCache::Mode::ReadOnly) ? reader.networkCa()
                                                                                       : QString();
    };
    QCOMPARE(mainCacheCa(), ourNetwork->caSha256);

    // Without a file named, each network has its own. The single cache of earlier consoles goes
    // to the first network that asks for its own.
    const QByteArray savedDataHome = qgetenv("XDG_DATA_HOME");
    const QString dataHome = scratch.filePath(QStringLiteral("data-home"));
    qputenv("XDG_DATA_HOME", dataHome.toUtf8());
    QVERIFY(otherSettings.value(ConsoleSettings::CachePath).isEmpty());
    const QString shared = otherSettings.cachePath();
    QVERIFY2(shared.startsWith(dataHome), qPrintable(shared));
    {
        HistoryCache earlier;
        QVERIFY2(earlier.open(shared, &error), qPrintable(error));
    }
    const QString ourFile = otherSettings.cachePath(ourNetwork->shortId());
    const QString otherFile = otherSettings.cachePath(otherNetwork->shortId());
    qputenv("XDG_DATA_HOME", savedDataHome);
    QVERIFY(ourFile != otherFile);
    QVERIFY2(ourFile.contains(ourNetwork->shortId()) && otherFile.contains(otherNetwork->shortId()),
             qPrintable(ourFile + QLatin1Char(' ') + otherFile));
    QVERIFY(QFile::exists(ourFile) && !QFile::exists(shared) && !QFile::exists(otherFile));

    // The console started from the command line picks its network's own file.
    const QString processFile =
        QStringLiteral("%1/ticketsync/ticketsync-console/networks/%2/history-cache.sqlite")
            .arg(dataHome, otherNetwork->shortId());
    QProcess console;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    environment.insert(QStringLiteral("XDG_CONFIG_HOME"), scratch.filePath(QStringLiteral("other-config")));
    environment.insert(QStringLiteral("XDG_DATA_HOME"), dataHome);
    console.setProcessEnvironment(environment);
    console.start(QStringLiteral(TICKETSYNC_CONSOLE), {QStringLiteral("--devnet"), otherOptions.dir});
    QVERIFY(console.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(processFile), kWait);
    const auto boundCa = [&] {
        HistoryCache reader;
        return reader.open(processFile, nullptr, HistoryCache::Mode::ReadOnly) ? reader.networkCa()
                                                                               : QString();
    };
    QTRY_COMPARE_WITH_TIMEOUT(boundCa(), otherNetwork->caSha256, kWait);
    console.terminate();
    QVERIFY(console.waitForFinished(kWait));
    QCOMPARE(mainCacheCa(), ourNetwork->caSha256);
}

void ConsoleTest::replacedJournalRaisesAnAlert()
{
    // A cache that has stored more of coordinator-1's events than the node holds, as after the
    // node's journal was replaced: the console says so instead of waiting silently.
    QString error;
    const std::optional<SessionProfile> profile = SessionProfile::fromDevnet(devnet.dir(), false, &error);
    QVERIFY2(profile, qPrintable(error));
    const std::optional<NetworkIdentity> network = profile->network(&error);
    QVERIFY2(network, qPrintable(error));
    const QString cachePath = scratch.filePath(QStringLiteral("ahead-cache.sqlite"));
    constexpr qint64 kAhead = 50'000'000;
    {
        HistoryCache cache;
        QVERIFY2(cache.open(cachePath, &error), qPrintable(error));
        QVERIFY2(cache.bindNetwork(network->caSha256, network->consortium, &error), qPrintable(error));
        const IngestReport report =
            cache.ingest(QStringLiteral("coordinator-1"),
                         {QJsonObject{{QStringLiteral("type"), QStringLiteral("event")},
                                      {QStringLiteral("seq"), kAhead},
                                      {QStringLiteral("at_ms"), QDateTime::currentMSecsSinceEpoch()},
                                      {QStringLiteral("kind"), QStringLiteral("operator_command")},
                                      {QStringLiteral("command"), QStringLiteral("retry_deliveries")},
                                      {QStringLiteral("operator"), QStringLiteral("operator-1")},
                                      {QStringLiteral("outcome"), QStringLiteral("nothing to retry")}}});
        QCOMPARE(report.lastSeq, kAhead);
    }
    QSettings ini(scratch.filePath(QStringLiteral("ahead.ini")), QSettings::IniFormat);
    ConsoleSettings aheadSettings(&ini);
    MainWindow console(aheadSettings, cachePath);
    console.show();
    QVERIFY(QTest::qWaitForWindowExposed(&console));
    QVERIFY2(console.connectTo(*profile, &error), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(
        console.alertsModel()->rowOf(QStringLiteral("journal_behind"), QStringLiteral("coordinator-1")) >= 0,
        kWait);
    const int row =
        console.alertsModel()->rowOf(QStringLiteral("journal_behind"), QStringLiteral("coordinator-1"));
    const QString detail =
        console.alertsModel()->index(row, AlertsModel::DetailColumn).data(Qt::DisplayRole).toString();
    QVERIFY2(detail.contains(QString::number(kAhead)), qPrintable(detail));
}

void ConsoleTest::refusedBatchesAreFetchedAgain()
{
    // Another process holds the cache's write lock past the worker's 5 s busy timeout: the
    // batches arriving meanwhile cannot be stored. They are fetched again from the node, and the
    // cache ends with every event and no hole behind its cursor.
    const QString node = QStringLiteral("coordinator-1");
    sqlite3 *locker = nullptr;
    QCOMPARE(
        sqlite3_open_v2(window->cachePath().toUtf8().constData(), &locker, SQLITE_OPEN_READWRITE, nullptr),
        SQLITE_OK);
    QCOMPARE(sqlite3_exec(locker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    const QStringList digests = submitBatch(3000, 20);
    QTest::qWait(7000);
    const QStringList later = submitBatch(3020, 5);
    sqlite3_exec(locker, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close_v2(locker);

    const auto cached = [&](const QStringList &wanted) {
        HistoryCache reader;
        if (!reader.open(window->cachePath(), nullptr, HistoryCache::Mode::ReadOnly))
            return false;
        for (const QString &digest : wanted) {
            if (!reader.decision(QByteArray::fromHex(digest.toLatin1())))
                return false;
        }
        return true;
    };
    QTRY_VERIFY_WITH_TIMEOUT(cached(digests + later), 3 * kWait);
    HistoryCache reader;
    QString error;
    QVERIFY2(reader.open(window->cachePath(), &error, HistoryCache::Mode::ReadOnly), qPrintable(error));
    QCOMPARE(reader.eventCount(node), reader.lastSeq(node)); // every seq from 1 to the cursor
    QVERIFY(reader.gaps().isEmpty());
}

void ConsoleTest::connectingReadsItsFilesOffTheGuiThread_data()
{
    QTest::addColumn<QString>("slowFile");
    QTest::newRow("membership") << QStringLiteral("membership");
    QTest::newRow("PEM key") << QStringLiteral("key");
    QTest::newRow("PKCS#12 bundle") << QStringLiteral("pkcs12");
}

void ConsoleTest::connectingReadsItsFilesOffTheGuiThread()
{
    QFETCH(QString, slowFile);
    QString error;
    std::optional<SessionProfile> profile = SessionProfile::fromDevnet(devnet.dir(), false, &error);
    QVERIFY2(profile, qPrintable(error));
    QTemporaryDir dir;
    const QString fifo = dir.filePath(QStringLiteral("slow-file"));
    QString real;
    if (slowFile == QLatin1String("membership")) {
        real = std::exchange(profile->membershipPath, fifo);
    } else if (slowFile == QLatin1String("key")) {
        real = std::exchange(profile->keyPath, fifo);
    } else {
        real = devnet.layout().operatorPkcs12;
        profile->certificatePath = fifo;
        profile->keyPath.clear();
        profile->pkcs12Password = devnet.layout().pkcs12Password;
    }
    QFile source(real);
    QVERIFY(source.open(QIODevice::ReadOnly));
    SlowFile slow(fifo, source.readAll(), 4000);
    QVERIFY(slow.isValid());

    QSettings ini(scratch.filePath(QStringLiteral("slow-%1.ini").arg(slowFile)), QSettings::IniFormat);
    ConsoleSettings slowSettings(&ini);
    MainWindow console(slowSettings, scratch.filePath(QStringLiteral("slow-%1-cache.sqlite").arg(slowFile)));
    console.show();
    QVERIFY(QTest::qWaitForWindowExposed(&console));
    QTRY_VERIFY_WITH_TIMEOUT(console.cacheReady(), kWait); // only the file is left to wait for

    // The GUI thread keeps turning while the file cannot be read yet...
    const GuiStallMeter meter;
    QVERIFY2(console.connectTo(*profile, &error), qPrintable(error));
    QTest::qWait(1500);
    // Not a timing assertion: a read on the GUI thread would stall it until the 4 s fallback.
    QVERIFY2(meter.worstGapMs() < 2000,
             qPrintable(QStringLiteral("the GUI stalled for %1 ms").arg(meter.worstGapMs())));
    // ... and nothing connects before it has been read.
    QVERIFY(console.session().links().isEmpty());
    QVERIFY(console.session().profile().eventSource.isEmpty());

    slow.release();
    QTRY_VERIFY_WITH_TIMEOUT(console.session().link(QStringLiteral("coordinator-1")).connected, kWait);
    QVERIFY2(meter.worstGapMs() < 2000,
             qPrintable(QStringLiteral("the GUI stalled for %1 ms").arg(meter.worstGapMs())));
}

void ConsoleTest::fileErrorsStillReachTheOperator()
{
    // A wrong PKCS#12 password: refused, with the file and the reason, and nothing started.
    QString error;
    std::optional<SessionProfile> profile = SessionProfile::fromDevnet(devnet.dir(), false, &error);
    QVERIFY2(profile, qPrintable(error));
    profile->certificatePath = devnet.layout().operatorPkcs12;
    profile->keyPath.clear();
    profile->pkcs12Password = QStringLiteral("not the password");
    QSettings ini(scratch.filePath(QStringLiteral("file-errors.ini")), QSettings::IniFormat);
    ConsoleSettings errorSettings(&ini);
    {
        MainWindow console(errorSettings, scratch.filePath(QStringLiteral("wrong-password-cache.sqlite")));
        console.show();
        QVERIFY(QTest::qWaitForWindowExposed(&console));
        QSignalSpy refused(&console, &MainWindow::sessionRefused);
        QVERIFY2(console.connectTo(*profile, &error), qPrintable(error));
        QTRY_COMPARE_WITH_TIMEOUT(refused.size(), 1, kWait);
        const QString reason = refused.at(0).at(0).toString();
        QVERIFY2(reason.contains(QFileInfo(devnet.layout().operatorPkcs12).fileName()) &&
                     reason.contains(QLatin1String("password")),
                 qPrintable(reason));
        QVERIFY(console.session().links().isEmpty());
        QTRY_VERIFY_WITH_TIMEOUT(console.findChild<QMessageBox *>(), kWait);
        QCOMPARE(console.findChild<QMessageBox *>()->text(), reason);
        console.findChild<QMessageBox *>()->close();
    }

    // A membership that does not load: the status bar names it; the identity still connects.
    profile = SessionProfile::fromDevnet(devnet.dir(), false, &error);
    QVERIFY2(profile, qPrintable(error));
    profile->membershipPath = scratch.filePath(QStringLiteral("no-such-membership.json"));
    MainWindow console(errorSettings, scratch.filePath(QStringLiteral("no-membership-cache.sqlite")));
    console.show();
    QVERIFY(QTest::qWaitForWindowExposed(&console));
    QVERIFY2(console.connectTo(*profile, &error), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(
        console.statusBar()->currentMessage().contains(QLatin1String("no-such-membership.json")), kWait);
    QTRY_VERIFY_WITH_TIMEOUT(console.session().link(QStringLiteral("coordinator-1")).connected, kWait);
}

void ConsoleTest::connectDialogReadsNoFileWhileTyping()
{
    QTemporaryDir dir;
    const DevnetLayout &layout = devnet.layout();
    // A bundle under a name that does not say so, and a path that would hold whoever opens it.
    const QString oddBundle = dir.filePath(QStringLiteral("operator-bundle.bin"));
    QVERIFY(QFile::copy(layout.operatorPkcs12, oddBundle));
    const QString fifo = dir.filePath(QStringLiteral("stalled.pem"));
    SlowFile slow(fifo, QByteArrayLiteral("-----BEGIN CERTIFICATE-----\n"), 3000);
    QVERIFY(slow.isValid());
    QSettings ini(dir.filePath(QStringLiteral("dialog.ini")), QSettings::IniFormat);
    ConsoleSettings dialogSettings(&ini);
    ConnectDialog dialog(dialogSettings);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    const auto field = [&dialog](const char *name) {
        return dialog.findChild<QLineEdit *>(QLatin1String(name));
    };
    QPushButton *ok = dialog.findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok);
    field("membership")->setText(layout.membershipPath);
    field("ca")->setText(layout.caPath);

    // Typing a path opens nothing: not the FIFO, which would hold the GUI thread until the
    // writer's fallback...
    QElapsedTimer typing;
    typing.start();
    QTest::keyClicks(field("certificate"), fifo);
    const qint64 took = typing.elapsed();
    slow.release();
    QVERIFY2(took < 2000, qPrintable(QStringLiteral("typing the path took %1 ms").arg(took)));
    QVERIFY(field("key")->isEnabled());
    // ... nor the bundle: while typed, its kind is told by the name alone...
    field("certificate")->clear();
    QTest::keyClicks(field("certificate"), oddBundle);
    QVERIFY(field("key")->isEnabled());
    QVERIFY(!ok->isEnabled()); // a certificate that is no bundle needs its key
    // ... and by its content once the path is typed in full.
    Q_EMIT field("certificate")->editingFinished();
    QVERIFY(!field("key")->isEnabled());
    QVERIFY(ok->isEnabled());

    // A .p12 or .pfx name disables the key field at once, file or not...
    field("certificate")->setText(dir.filePath(QStringLiteral("somebody.PFX")));
    QVERIFY(!field("key")->isEnabled());
    QVERIFY(ok->isEnabled());
    // ... and accepting checks the files for real, naming the one that is wrong.
    QTest::mouseClick(ok, Qt::LeftButton);
    QVERIFY(dialog.isVisible());
    QCOMPARE(dialog.result(), int(QDialog::Rejected));
    const QLabel *problem = dialog.findChild<QLabel *>(QStringLiteral("problem"));
    QVERIFY2(problem->isVisible() && problem->text().contains(QLatin1String("somebody.PFX")),
             qPrintable(problem->text()));

    field("certificate")->setText(oddBundle);
    QVERIFY(!field("key")->isEnabled()); // still known by its content
    QTest::mouseClick(ok, Qt::LeftButton);
    QCOMPARE(dialog.result(), int(QDialog::Accepted));
    QVERIFY(dialog.profile().keyPath.isEmpty());
    QCOMPARE(dialog.profile().certificatePath, oddBundle);
}

void ConsoleTest::receiversStalenessIsASetting()
{
    QSettings ini(scratch.filePath(QStringLiteral("staleness.ini")), QSettings::IniFormat);
    ini.setValue(QLatin1String(ConsoleSettings::ReceiversStaleAfterSeconds.name), 12);
    ConsoleSettings stalenessSettings(&ini);
    MainWindow console(stalenessSettings, scratch.filePath(QStringLiteral("staleness-cache.sqlite")));
    ReceiversModel *model = console.receiversModel();
    QCOMPARE(model->stalenessThresholdMs(), 12000);

    // A report 20 s old is stale after 12 s, and fresh again once the threshold is raised.
    qint64 now = 1'000'000'000;
    model->setClock([&now] { return now; });
    model->setReceivers(QStringLiteral("coordinator-1"),
                        QJsonArray{QJsonObject{{QStringLiteral("receiver"), QStringLiteral("receiver-1")},
                                               {QStringLiteral("status"), QStringLiteral("in_sync")}}},
                        now - 20000);
    QCOMPARE(model->rowCount(), 1);
    QVERIFY(model->index(0, 0).data(ReceiversModel::StaleRole).toBool());
    QSignalSpy staleChanged(model, &ReceiversModel::staleChanged);
    QVERIFY(stalenessSettings.setValue(ConsoleSettings::ReceiversStaleAfterSeconds, 60));
    QCOMPARE(model->stalenessThresholdMs(), 60000);
    QVERIFY(!model->index(0, 0).data(ReceiversModel::StaleRole).toBool());
    QCOMPARE(staleChanged.size(), 1);

    // Out of its range: refused when set, and the default when read from a hand-edited file.
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("receivers/staleAfterSeconds")));
    QVERIFY(!stalenessSettings.setValue(ConsoleSettings::ReceiversStaleAfterSeconds, 0));
    QCOMPARE(stalenessSettings.value(ConsoleSettings::ReceiversStaleAfterSeconds), 60);
    QCOMPARE(model->stalenessThresholdMs(), 60000);
    for (const QVariant &bad : {QVariant(0), QVariant(-5), QVariant(86401), QVariant(qint64(4294967326LL)),
                                QVariant(QStringLiteral("soon"))}) {
        ini.setValue(QLatin1String(ConsoleSettings::ReceiversStaleAfterSeconds.name), bad);
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("receivers/staleAfterSeconds")));
        QCOMPARE(stalenessSettings.value(ConsoleSettings::ReceiversStaleAfterSeconds),
                 ConsoleSettings::ReceiversStaleAfterSeconds.fallback);
    }
    QCOMPARE(ConsoleSettings::ReceiversStaleAfterSeconds.fallback, 30);
    // A change through the settings applies the default then too.
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("receivers/staleAfterSeconds")));
    stalenessSettings.setValue(ConsoleSettings::Language, QStringLiteral("en"));
    QCOMPARE(model->stalenessThresholdMs(), 30000);
}

void ConsoleTest::detailPaneProvesTheDecisionsBlock()
{
    // A loaded machine may leave one UNDETERMINED (never sealed): the test takes the sealed ones.
    const QStringList submitted = submitBatch(700, 4);
    for (const QString &digest : submitted)
        QVERIFY2(digest.size() == 64, qPrintable(submitted.join(u',')));
    // Where the coordinator itself says each one is sealed.
    QHash<QString, qint64> heights;
    const auto sealed = [&] {
        const QJsonObject page = DevnetFixture::call(
            *coordinator, {{QStringLiteral("type"), QStringLiteral("decisions")},
                           {QStringLiteral("digests"), QJsonArray::fromStringList(submitted)}});
        for (const QJsonValue &entry : page.value(u"decisions").toArray()) {
            if (entry.toObject().contains(u"proof"))
                heights.insert(entry.toObject().value(u"write_off_digest").toString(),
                               entry.toObject().value(u"height").toInteger());
        }
        return heights.size() >= 2;
    };
    QTRY_VERIFY_WITH_TIMEOUT(sealed(), 2 * kWait);
    QStringList digests;
    for (const QString &digest : submitted) {
        if (heights.contains(digest))
            digests.append(digest);
    }
    // A decision_made event carries the summary alone: the cache has no proof until one is fetched.
    const QString cachePath = window->cachePath();
    QVERIFY(cachedProof(cachePath, digests.at(0)).isEmpty());

    // Selected, its proof is fetched from the coordinator, verified locally and named.
    DecisionDetailPane *pane = window->decisionDetail();
    QTRY_VERIFY_WITH_TIMEOUT(selectDecision(*window, digests.at(0)), 2 * kWait);
    QTRY_COMPARE_WITH_TIMEOUT(pane->blockCheck(), DecisionDetailPane::BlockCheck::Proven, kWait);
    const qint64 height = heights.value(digests.at(0));
    QVERIFY(height > 0);
    QCOMPARE(pane->currentDigest(), digests.at(0));
    QCOMPARE(qint64(pane->blockHeight()), height);
    QCOMPARE(pane->blockSigner(), QStringLiteral("coordinator-1"));
    QVERIFY2(pane->blockStatus().startsWith(
                 QStringLiteral("In block %1, signed by the coordinator coordinator-1").arg(height)),
             qPrintable(pane->blockStatus()));
    QCOMPARE(pane->headerValue(QStringLiteral("height")), QString::number(height));
    QTRY_COMPARE_WITH_TIMEOUT(pane->certificateCheck(), DecisionDetailPane::CertificateCheck::Valid, kWait);
    // ... and kept in the cache.
    QTRY_VERIFY_WITH_TIMEOUT(!cachedProof(cachePath, digests.at(0)).isEmpty(), kWait);
    const QByteArray proof = cachedProof(cachePath, digests.at(0));

    // Offline, another console on that cache proves it from the cache alone.
    QSettings ini(scratch.filePath(QStringLiteral("offline-proof.ini")), QSettings::IniFormat);
    ConsoleSettings offlineSettings(&ini);
    MainWindow offline(offlineSettings, cachePath);
    offline.show();
    QVERIFY(QTest::qWaitForWindowExposed(&offline));
    offline.browseWithMembership(devnet.layout().membershipPath);
    QTRY_VERIFY_WITH_TIMEOUT(offline.cacheReady(), kWait);
    DecisionDetailPane *offlinePane = offline.decisionDetail();
    QTRY_VERIFY_WITH_TIMEOUT(selectDecision(offline, digests.at(0)), kWait);
    QTRY_COMPARE_WITH_TIMEOUT(offlinePane->blockCheck(), DecisionDetailPane::BlockCheck::Proven, kWait);
    QCOMPARE(qint64(offlinePane->blockHeight()), height);
    QVERIFY(offline.session().links().isEmpty());
    // One whose proof was never fetched is not called proven offline, and the pane says why.
    QTRY_VERIFY_WITH_TIMEOUT(selectDecision(offline, digests.at(1)), kWait);
    QTRY_COMPARE_WITH_TIMEOUT(offlinePane->currentDigest(), digests.at(1), kWait);
    QTRY_COMPARE_WITH_TIMEOUT(offlinePane->blockCheck(), DecisionDetailPane::BlockCheck::Unavailable, kWait);
    QVERIFY2(offlinePane->blockStatus().contains(QLatin1String("offline")),
             qPrintable(offlinePane->blockStatus()));

    // Tampered in the cache file: one bit of the coordinator's signature flipped. Neither console
    // calls it proven; each names the block and what failed.
    const QJsonObject stored = QJsonDocument::fromJson(proof).object();
    QByteArray signature = QByteArray::fromBase64(stored.value(u"signature").toString().toLatin1());
    QVERIFY(!signature.isEmpty());
    signature[0] = char(signature.at(0) ^ 0x01);
    QJsonObject forged = stored;
    forged.insert(QStringLiteral("signature"), QString::fromLatin1(signature.toBase64()));
    QVERIFY(
        overwriteCachedProof(cachePath, digests.at(0), QJsonDocument(forged).toJson(QJsonDocument::Compact)));
    for (MainWindow *console : {&offline, window.get()}) {
        QTRY_VERIFY_WITH_TIMEOUT(selectDecision(*console, digests.at(0)), kWait);
        DecisionDetailPane *shown = console->decisionDetail();
        QTRY_COMPARE_WITH_TIMEOUT(shown->blockCheck(), DecisionDetailPane::BlockCheck::Invalid, kWait);
        QVERIFY2(
            shown->blockStatus().contains(
                QStringLiteral("block %1: header: the coordinator's signature does not verify").arg(height)),
            qPrintable(shown->blockStatus()));
        QCOMPARE(shown->blockHeight(), quint64(0));
    }
    // Another leaf's place in the block: the path no longer leads from these bytes to the root.
    forged = stored;
    forged.insert(QStringLiteral("leaf_index"), stored.value(u"leaf_index").toInteger() + 1);
    QVERIFY(
        overwriteCachedProof(cachePath, digests.at(0), QJsonDocument(forged).toJson(QJsonDocument::Compact)));
    QTRY_VERIFY_WITH_TIMEOUT(selectDecision(offline, digests.at(0)), kWait);
    QTRY_VERIFY_WITH_TIMEOUT(offlinePane->blockStatus().contains(QStringLiteral("block %1: ").arg(height)) &&
                                 offlinePane->blockStatus().contains(QLatin1String("merkle")),
                             kWait);
    QCOMPARE(offlinePane->blockCheck(), DecisionDetailPane::BlockCheck::Invalid);
    // A proof that is not even JSON: named as such.
    QVERIFY(overwriteCachedProof(cachePath, digests.at(0), QByteArrayLiteral("{\"header\":")));
    QTRY_VERIFY_WITH_TIMEOUT(selectDecision(offline, digests.at(0)), kWait);
    QTRY_VERIFY_WITH_TIMEOUT(offlinePane->blockStatus().contains(QLatin1String("not JSON")), kWait);
    QCOMPARE(offlinePane->blockCheck(), DecisionDetailPane::BlockCheck::Invalid);
    QVERIFY(overwriteCachedProof(cachePath, digests.at(0), proof)); // the export test needs it whole
}

void ConsoleTest::detailPaneRefusesWhatALyingNodeSends()
{
    // A real decision, sealed: its decision_made and block_appended events and its proof.
    const QStringList submitted = submitBatch(720, 3);
    QString digest;
    QJsonObject sealedEntry;
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            const QJsonObject page = DevnetFixture::call(
                *coordinator, {{QStringLiteral("type"), QStringLiteral("decisions")},
                               {QStringLiteral("digests"), QJsonArray::fromStringList(submitted)}});
            for (const QJsonValue &entry : page.value(u"decisions").toArray()) {
                if (entry.toObject().contains(u"proof")) {
                    sealedEntry = entry.toObject();
                    digest = sealedEntry.value(u"write_off_digest").toString();
                    return true;
                }
            }
            return false;
        }(),
        2 * kWait);
    const qint64 height = sealedEntry.value(u"height").toInteger();
    std::unique_ptr<ApiClient> reader = devnet.client(QStringLiteral("coordinator-1"));
    QJsonObject decisionMade, blockAppended;
    connect(reader.get(), &ApiClient::eventReceived, this, [&](const QJsonObject &event) {
        const QString kind = event.value(u"kind").toString();
        if (kind == QLatin1String("decision_made") && event.value(u"write_off_digest").toString() == digest)
            decisionMade = event;
        if (kind == QLatin1String("block_appended") &&
            event.value(u"write_off_digests").toArray().contains(digest))
            blockAppended = event;
    });
    reader->subscribe(1, {QStringLiteral("decision_made"), QStringLiteral("block_appended")});
    QTRY_VERIFY_WITH_TIMEOUT(!decisionMade.isEmpty() && !blockAppended.isEmpty(), kWait);

    // A "coordinator-1" holding that node's real certificate, which replays the decision and
    // answers `decisions` as the test says: a forged proof, an error, garbage, no block yet, or
    // by dropping the connection.
    ScriptedNode node;
    QJsonObject forgedProof = sealedEntry.value(u"proof").toObject();
    QByteArray signature = QByteArray::fromBase64(forgedProof.value(u"signature").toString().toLatin1());
    signature[0] = char(signature.at(0) ^ 0x01);
    forgedProof.insert(QStringLiteral("signature"), QString::fromLatin1(signature.toBase64()));
    QString answer = QStringLiteral("forged");
    int decisionRequests = 0;
    QList<QWebSocket *> sockets;
    const auto send = [](QWebSocket *socket, const QJsonObject &message) {
        socket->sendTextMessage(QString::fromUtf8(QJsonDocument(message).toJson(QJsonDocument::Compact)));
    };
    node.connected = [&](QWebSocket *socket) {
        sockets.append(socket);
    };
    node.answerEverything = [&](QWebSocket *socket, const QJsonObject &request) {
        const QString type = request.value(u"type").toString();
        const QJsonValue id = request.value(u"id");
        if (type == QLatin1String("hello")) {
            send(socket, {{QStringLiteral("type"), QStringLiteral("welcome")},
                          {QStringLiteral("id"), id},
                          {QStringLiteral("api_version"), 1},
                          {QStringLiteral("node_id"), QStringLiteral("coordinator-1")},
                          {QStringLiteral("client"), QStringLiteral("operator-1")},
                          {QStringLiteral("client_role"), QStringLiteral("operator")},
                          {QStringLiteral("height"), height},
                          {QStringLiteral("last_seq"), 1}});
        } else if (type == QLatin1String("subscribe")) {
            send(socket,
                 {{QStringLiteral("type"), QStringLiteral("subscribed")}, {QStringLiteral("id"), id}});
            if (request.value(u"from_seq").toInteger() <= 1) {
                QJsonObject event = decisionMade;
                event.insert(QStringLiteral("seq"), 1);
                send(socket, event);
            }
        } else if (type == QLatin1String("decisions")) {
            ++decisionRequests;
            QJsonObject entry = sealedEntry;
            if (answer == QLatin1String("drop")) {
                socket->abort();
            } else if (answer == QLatin1String("error")) {
                send(socket, {{QStringLiteral("type"), QStringLiteral("error")},
                              {QStringLiteral("id"), id},
                              {QStringLiteral("error"), QStringLiteral("the ledger cannot be read now")}});
            } else if (answer == QLatin1String("garbage")) {
                send(socket, {{QStringLiteral("type"), QStringLiteral("decisions")},
                              {QStringLiteral("id"), id},
                              {QStringLiteral("decisions"), QJsonArray{42, QStringLiteral("x")}}});
            } else {
                if (answer == QLatin1String("forged"))
                    entry.insert(QStringLiteral("proof"), forgedProof);
                else if (answer == QLatin1String("unsealed")) {
                    entry.remove(QStringLiteral("proof"));
                    entry.insert(QStringLiteral("height"), 0);
                }
                send(socket, {{QStringLiteral("type"), QStringLiteral("decisions")},
                              {QStringLiteral("id"), id},
                              {QStringLiteral("decisions"), QJsonArray{entry}},
                              {QStringLiteral("missing"), QJsonArray{}}});
            }
        } else {
            send(socket, {{QStringLiteral("type"), QStringLiteral("error")},
                          {QStringLiteral("id"), id},
                          {QStringLiteral("error"), QStringLiteral("not here")}});
        }
    };
    QString error;
    QVERIFY2(node.listen(devnet.dir() + QStringLiteral("/pki"), &error), qPrintable(error));
    const SessionProfile profile = node.profile(devnet.layout());
    QSettings ini(scratch.filePath(QStringLiteral("liar.ini")), QSettings::IniFormat);
    ConsoleSettings liarSettings(&ini);
    const QString cachePath = scratch.filePath(QStringLiteral("liar-cache.sqlite"));
    MainWindow console(liarSettings, cachePath);
    console.show();
    QVERIFY(QTest::qWaitForWindowExposed(&console));
    QVERIFY2(console.connectTo(profile, &error), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(console.session().link(QStringLiteral("coordinator-1")).connected, kWait);
    DecisionDetailPane *pane = console.decisionDetail();
    const auto cachedRow = [&] {
        HistoryCache cache;
        std::optional<DecisionRow> row;
        if (cache.open(cachePath, nullptr, HistoryCache::Mode::ReadOnly))
            row = cache.decision(QByteArray::fromHex(digest.toLatin1()));
        return row.value_or(DecisionRow());
    };
    const auto shows = [&](DecisionDetailPane::BlockCheck check, const QString &text) {
        const int asked = decisionRequests;
        if (!QTest::qWaitFor([&] { return selectDecision(console, digest); }, kWait) ||
            !QTest::qWaitFor([&] { return decisionRequests > asked && pane->blockCheck() == check; }, kWait))
            return QStringLiteral("%1 requests, shows: %2").arg(decisionRequests).arg(pane->blockStatus());
        return pane->blockStatus().contains(text) ? QString() : pane->blockStatus();
    };

    // A forged proof: refused with the check that failed, and never kept.
    QTRY_VERIFY_WITH_TIMEOUT(console.decisionsModel()->rowCount() == 1, kWait);
    QCOMPARE(
        shows(DecisionDetailPane::BlockCheck::Invalid,
              QStringLiteral("block %1: header: the coordinator's signature does not verify").arg(height)),
        QString());
    QTest::qWait(200); // the cache's thread has had its turn
    QVERIFY(cachedRow().proof.isEmpty());
    QVERIFY(cachedRow().certificate.isEmpty());
    // An error, garbage, a dropped connection: the pane says what happened, it proves nothing.
    answer = QStringLiteral("error");
    QCOMPARE(
        shows(DecisionDetailPane::BlockCheck::Unavailable, QStringLiteral("the ledger cannot be read now")),
        QString());
    answer = QStringLiteral("garbage");
    QCOMPARE(shows(DecisionDetailPane::BlockCheck::Unavailable, QStringLiteral("holds no entry")), QString());
    answer = QStringLiteral("drop");
    QCOMPARE(shows(DecisionDetailPane::BlockCheck::Unavailable, QStringLiteral("connection lost")),
             QString());
    QTRY_VERIFY_WITH_TIMEOUT(console.session().link(QStringLiteral("coordinator-1")).connected, kWait);
    // Not in a block yet: the pane says so, and once a block_appended event names the write-off
    // it fetches the proof by itself.
    answer = QStringLiteral("unsealed");
    QCOMPARE(shows(DecisionDetailPane::BlockCheck::NotSealed, QStringLiteral("in no block so far")),
             QString());
    answer = QStringLiteral("honest");
    QJsonObject sealedEvent = blockAppended;
    sealedEvent.insert(QStringLiteral("seq"), 2);
    send(sockets.last(), sealedEvent);
    QTRY_COMPARE_WITH_TIMEOUT(pane->blockCheck(), DecisionDetailPane::BlockCheck::Proven, kWait);
    QCOMPARE(qint64(pane->blockHeight()), height);
    QTRY_VERIFY_WITH_TIMEOUT(!cachedRow().proof.isEmpty(), kWait);
    QCOMPARE(QJsonDocument::fromJson(cachedRow().proof).object(), sealedEntry.value(u"proof").toObject());
}

void ConsoleTest::unusableCacheDoesNotHoldTheConnection()
{
    // --cache naming a file that is no cache: the console says so and runs without one. Nothing
    // may wait for the operator to dismiss that message, or an unattended console never connects.
    const QString notACache = scratch.filePath(QStringLiteral("notes.sqlite"));
    {
        QFile notes(notACache);
        QVERIFY(notes.open(QIODevice::WriteOnly));
        notes.write("an operator's notes, not a history cache\n");
    }
    // The tests wait without an event loop of their own; one running means a dialog's exec().
    bool heldInADialog = false;
    QTimer watchdog;
    connect(&watchdog, &QTimer::timeout, this, [&] {
        if (QThread::currentThread()->loopLevel() == 0)
            return;
        heldInADialog = true;
        if (QWidget *modal = QApplication::activeModalWidget())
            modal->close();
    });
    watchdog.start(20);
    QSettings ini(scratch.filePath(QStringLiteral("no-cache.ini")), QSettings::IniFormat);
    ConsoleSettings noCacheSettings(&ini);
    MainWindow console(noCacheSettings, notACache);
    console.show();
    QVERIFY(QTest::qWaitForWindowExposed(&console));
    QString error;
    const std::optional<SessionProfile> profile = SessionProfile::fromDevnet(devnet.dir(), false, &error);
    QVERIFY2(profile, qPrintable(error));
    QVERIFY2(console.connectTo(*profile, &error), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(console.session().link(QStringLiteral("coordinator-1")).connected, kWait);
    QVERIFY(!heldInADialog);
    QVERIFY(!console.cacheReady());
    QMessageBox *box = console.findChild<QMessageBox *>();
    QVERIFY(box && box->isVisible());
    QVERIFY2(box->text().contains(notACache), qPrintable(box->text()));
    // Live data still reaches the views while the message waits.
    const QString digest = submitBatch(760, 1).first();
    QTRY_VERIFY_WITH_TIMEOUT(!console.tallies().tally(digest).outcome.isEmpty(), kWait);
    QVERIFY(!heldInADialog);
    box->close();
    QFile notes(notACache);
    QVERIFY(notes.open(QIODevice::ReadOnly));
    QCOMPARE(notes.readAll(), QByteArray("an operator's notes, not a history cache\n")); // left untouched
}

void ConsoleTest::commandAnswersTheOperatorCannotReadAreNamed()
{
    // An operator command whose answer is garbage, or lost with the connection, is never shown
    // as done, nor as a failure without a reason.
    ScriptedNode node;
    QString error;
    QVERIFY2(node.listen(devnet.dir() + QStringLiteral("/pki"), &error), qPrintable(error));
    QString mode;
    node.answer = [&mode](QWebSocket *socket, const QJsonObject &request) {
        const QJsonValue id = request.value(u"id");
        if (request.value(u"type").toString() != QLatin1String("retry_deliveries"))
            ScriptedNode::send(socket, {{QStringLiteral("type"), QStringLiteral("error")},
                                        {QStringLiteral("id"), id},
                                        {QStringLiteral("error"), QStringLiteral("not here")}});
        else if (mode == QLatin1String("drop"))
            socket->abort();
        else if (mode == QLatin1String("other type"))
            ScriptedNode::send(
                socket, {{QStringLiteral("type"), QStringLiteral("receivers")}, {QStringLiteral("id"), id}});
        else if (mode == QLatin1String("bare error"))
            ScriptedNode::send(
                socket, {{QStringLiteral("type"), QStringLiteral("error")}, {QStringLiteral("id"), id}});
        else
            ScriptedNode::send(socket, {{QStringLiteral("type"), QStringLiteral("command_result")},
                                        {QStringLiteral("id"), id}});
    };
    QSettings ini(scratch.filePath(QStringLiteral("scripted-commands.ini")), QSettings::IniFormat);
    ConsoleSettings scriptedSettings(&ini);
    MainWindow console(scriptedSettings, scratch.filePath(QStringLiteral("scripted-commands.sqlite")));
    console.show();
    QVERIFY(QTest::qWaitForWindowExposed(&console));
    QVERIFY2(console.connectTo(node.profile(devnet.layout()), &error), qPrintable(error));
    ReceiversView *view = console.receiversView();
    view->setConfirmer([](const QString &) { return true; });
    QTRY_VERIFY_WITH_TIMEOUT(view->isOperator(), kWait);
    const auto outcome = [&](const QString &answer) {
        mode = answer;
        QSignalSpy finished(&console, &MainWindow::commandFinished);
        Q_EMIT view->retryDeliveriesRequested();
        if (!finished.wait(kWait) && finished.isEmpty())
            return std::make_pair(true, QStringLiteral("no outcome"));
        return std::make_pair(finished.at(0).at(1).toBool(), finished.at(0).at(2).toString());
    };
    auto [ok, text] = outcome(QStringLiteral("other type"));
    QVERIFY(!ok);
    QVERIFY2(text.contains(QLatin1String("'receivers'")), qPrintable(text));
    std::tie(ok, text) = outcome(QStringLiteral("bare error"));
    QVERIFY(!ok);
    QVERIFY2(text.contains(QLatin1String("without saying why")), qPrintable(text));
    std::tie(ok, text) = outcome(QStringLiteral("result without outcome"));
    QVERIFY2(text.contains(QLatin1String("no outcome")), qPrintable(text));
    QVERIFY(view->statusText().contains(text));
    std::tie(ok, text) = outcome(QStringLiteral("drop"));
    QVERIFY(!ok);
    QVERIFY2(text.contains(QLatin1String("may have run")) && text.contains(QLatin1String("connection lost")),
             qPrintable(text));
}

void ConsoleTest::silentSourceIsAlertedWithoutACache()
{
    // The event source goes silent while the console runs without a history cache (it could not
    // open the file): the operator is still alerted, though the alert cannot be kept.
    ScriptedNode node; // answers no status request and sends no event: silent after its welcome
    QString error;
    QVERIFY2(node.listen(devnet.dir() + QStringLiteral("/pki"), &error), qPrintable(error));
    bool speak = false;
    node.answer = [&speak](QWebSocket *socket, const QJsonObject &request) {
        ScriptedNode::send(socket, {{QStringLiteral("type"), QStringLiteral("error")},
                                    {QStringLiteral("id"), request.value(u"id")},
                                    {QStringLiteral("error"), QStringLiteral("busy")}});
        // Data again, on the next status poll: one event.
        if (std::exchange(speak, false))
            ScriptedNode::send(socket, {{QStringLiteral("type"), QStringLiteral("event")},
                                        {QStringLiteral("seq"), 1},
                                        {QStringLiteral("at_ms"), QDateTime::currentMSecsSinceEpoch()},
                                        {QStringLiteral("kind"), QStringLiteral("operator_command")},
                                        {QStringLiteral("command"), QStringLiteral("retry_deliveries")},
                                        {QStringLiteral("operator"), QStringLiteral("operator-1")},
                                        {QStringLiteral("outcome"), QStringLiteral("nothing to retry")}});
    };
    const QString notACache = scratch.filePath(QStringLiteral("silent-notes.sqlite"));
    {
        QFile notes(notACache);
        QVERIFY(notes.open(QIODevice::WriteOnly));
        notes.write("not a cache\n");
    }
    QSettings ini(scratch.filePath(QStringLiteral("silent.ini")), QSettings::IniFormat);
    ini.setValue(QLatin1String(ConsoleSettings::StaleAfterSeconds.name), 3);
    ConsoleSettings silentSettings(&ini);
    MainWindow console(silentSettings, notACache);
    console.show();
    QVERIFY(QTest::qWaitForWindowExposed(&console));
    QVERIFY2(console.connectTo(node.profile(devnet.layout()), &error), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(console.session().link(QStringLiteral("coordinator-1")).connected, kWait);
    QVERIFY(!console.cacheReady());
    QTRY_VERIFY_WITH_TIMEOUT(
        console.alertsModel()->rowOf(QStringLiteral("stale_data"), QStringLiteral("coordinator-1")) >= 0,
        kWait);
    const int row =
        console.alertsModel()->rowOf(QStringLiteral("stale_data"), QStringLiteral("coordinator-1"));
    QVERIFY(!console.alertsModel()->alertAt(row)->isAcknowledged());
    // Data flows again: it closes by itself, as it would with a cache.
    speak = true;
    QTRY_VERIFY_WITH_TIMEOUT(console.alertsModel()->alertAt(row)->resolved, kWait);
    if (QMessageBox *box = console.findChild<QMessageBox *>())
        box->close();
}

QTEST_MAIN(ConsoleTest)
#include "tst_console.moc"
