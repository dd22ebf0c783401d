#include "MainWindow.h"

#include "AlertsModel.h"
#include "AlertsView.h"
#include "CacheWorker.h"
#include "ConfirmationState.h"
#include "Decision.h"
#include "DecisionDetailPane.h"
#include "DecisionsModel.h"
#include "FeedModel.h"
#include "HistoryCache.h"
#include "Membership.h"
#include "NodesModel.h"
#include "ReceiversModel.h"
#include "ReceiversView.h"
#include "ReportExporter.h"
#include "TallyTracker.h"
#include "VoteHistogramWidget.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QDateTimeEdit>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLibraryInfo>
#include <QLineEdit>
#include <QLoggingCategory>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressDialog>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QThread>
#include <QTimer>
#include <QToolBar>
#include <QTranslator>
#include <QVBoxLayout>

Q_LOGGING_CATEGORY(lcConsole, "ticketsync.ui.console", QtWarningMsg)

namespace ticketsync {

namespace {

// The feed's period filter: how far back, in minutes; 0 for everything.
constexpr int kPeriods[] = {0, 5, 60, 24 * 60};

QString hexDigest(const QByteArray &digest)
{
    return QString::fromLatin1(digest.toHex());
}

} // namespace

MainWindow::MainWindow(ConsoleSettings &settings, const QString &cachePath, QWidget *parent)
    : QMainWindow(parent), settings(settings)
{
    setObjectName(QStringLiteral("MainWindow"));
    cacheFile = cachePath.isEmpty() ? settings.cachePath() : cachePath;
    consoleSession = new ConsoleSession(this);
    tallyTracker = new TallyTracker(this);
    cache = new CacheThread(cacheFile, this);
    reportExporter = new ReportExporter(this);
    buildUi();
    applySettings();
    connect(&settings, &ConsoleSettings::valueChanged, this, &MainWindow::applySettings);
    buildMenus();
    setLanguage(settings.value(ConsoleSettings::Language));
    retranslateUi();
    restoreLayout();

    connect(consoleSession, &ConsoleSession::eventsReceived, this, &MainWindow::onEvents);
    connect(consoleSession, &ConsoleSession::linkChanged, this, &MainWindow::onLink);
    // recordGap raises the gap's alert itself, in the same transaction.
    connect(consoleSession, &ConsoleSession::gapDetected, this,
            [this](const QString &node, qint64 from, qint64 to) {
                CacheWorker *worker = cache->worker();
                QMetaObject::invokeMethod(worker,
                                          [worker, node, from, to] { worker->recordGap(node, from, to); });
            });
    connect(cache->worker(), &CacheWorker::ingested, this, &MainWindow::onIngested);
    connect(consoleSession, &ConsoleSession::journalBehind, this,
            [this](const QString &node, qint64 seen, qint64 last) {
                CacheWorker *worker = cache->worker();
                const QString detail =
                    QStringLiteral(
                        "%1 holds events up to seq %2, but this cache stored up to seq %3 from it: its "
                        "journal was replaced. Its events up to seq %3 are not fetched again; newer "
                        "ones are.")
                        .arg(node)
                        .arg(last)
                        .arg(seen);
                QMetaObject::invokeMethod(worker, [worker, node, detail] {
                    worker->raiseAlert(QStringLiteral("journal_behind"), node, detail);
                });
            });
    // Thousands of events a second change the tallies; people read at most a few repaints a
    // second, so the histogram and the aggregate are redrawn on a short timer, not per event.
    tallyRefresh = new QTimer(this);
    tallyRefresh->setSingleShot(true);
    tallyRefresh->setInterval(kTallyRefreshMs);
    connect(tallyRefresh, &QTimer::timeout, this, [this] {
        if (!pendingTallyDigest.isEmpty())
            showTicketTally(std::exchange(pendingTallyDigest, QString()));
        if (std::exchange(aggregatePending, false)) {
            const TallyTracker::Aggregate totals = tallyTracker->aggregate();
            aggregate->setAggregate(totals.decided, totals.undetermined, totals.window);
        }
    });
    connect(tallyTracker, &TallyTracker::tallyChanged, this, [this](const QString &digest) {
        if (!followedDigest.isEmpty() && digest != followedDigest)
            return;
        pendingTallyDigest = digest;
        if (!tallyRefresh->isActive())
            tallyRefresh->start();
    });
    connect(tallyTracker, &TallyTracker::aggregateChanged, this, [this] {
        aggregatePending = true;
        if (!tallyRefresh->isActive())
            tallyRefresh->start();
    });
    freshnessTimer = new QTimer(this);
    connect(freshnessTimer, &QTimer::timeout, this, &MainWindow::updateFreshness);
    freshnessTimer->start(1000);
    openCache();
}

MainWindow::~MainWindow()
{
    consoleSession->stop();
    cache->stop();
}

void MainWindow::buildUi()
{
    tabs = new QTabWidget(this);
    tabs->setObjectName(QStringLiteral("tabs"));
    setCentralWidget(tabs);
    CacheWorker *worker = cache->worker();

    // Live feed.
    auto *feedPage = new QWidget;
    auto *feedLayout = new QVBoxLayout(feedPage);
    auto *feedBar = new QHBoxLayout;
    feedTicket = new QLineEdit;
    feedBranch = new QLineEdit;
    feedTarget = new QLineEdit;
    feedState = new QComboBox;
    feedPeriod = new QComboBox;
    feedPause = new QCheckBox;
    feedFollow = new QCheckBox;
    feedFollow->setChecked(settings.value(ConsoleSettings::FollowNewest));
    for (QWidget *widget : {static_cast<QWidget *>(feedTicket), static_cast<QWidget *>(feedBranch),
                            static_cast<QWidget *>(feedTarget), static_cast<QWidget *>(feedState),
                            static_cast<QWidget *>(feedPeriod), static_cast<QWidget *>(feedPause),
                            static_cast<QWidget *>(feedFollow)})
        feedBar->addWidget(widget);
    feedLayout->addLayout(feedBar);
    feed = new FeedModel(worker, this);
    feedView = new QTableView;
    feedView->setObjectName(QStringLiteral("feedView"));
    feedView->setModel(feed);
    feedView->setSelectionBehavior(QAbstractItemView::SelectRows);
    feedView->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    feedView->verticalHeader()->hide();
    feedView->horizontalHeader()->setStretchLastSection(true);
    feedView->setColumnWidth(FeedModel::TimeColumn,
                             fontMetrics().horizontalAdvance(QStringLiteral("2026-11-26 20:32:05.123")) + 16);
    feedView->setColumnWidth(FeedModel::VerdictColumn,
                             fontMetrics().horizontalAdvance(QStringLiteral("after the outcome")) + 16);
    feedView->setColumnWidth(FeedModel::StateColumn,
                             fontMetrics().horizontalAdvance(QStringLiteral("Already written off")) + 16);
    feedLayout->addWidget(feedView);
    tabs->addTab(feedPage, QString());
    connect(feedTicket, &QLineEdit::editingFinished, this, &MainWindow::applyFeedFilter);
    connect(feedBranch, &QLineEdit::editingFinished, this, &MainWindow::applyFeedFilter);
    connect(feedTarget, &QLineEdit::editingFinished, this, &MainWindow::applyFeedFilter);
    connect(feedState, &QComboBox::currentIndexChanged, this, &MainWindow::applyFeedFilter);
    connect(feedPeriod, &QComboBox::currentIndexChanged, this, &MainWindow::applyFeedFilter);
    connect(feedPause, &QCheckBox::toggled, feed, &FeedModel::setPaused);
    connect(feedFollow, &QCheckBox::toggled, this, [this](bool follow) {
        feed->setFollowNewest(follow);
        settings.setValue(ConsoleSettings::FollowNewest, follow);
    });
    connect(feed, &FeedModel::rowsAppended, this, [this] {
        if (feed->followNewest() && !feed->isPaused())
            feedView->scrollToBottom();
    });
    connect(feedView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) {
                const QByteArray digest = current.data(FeedModel::DigestRole).toByteArray();
                if (!digest.isEmpty()) {
                    followedDigest = hexDigest(digest);
                    showTicketTally(followedDigest);
                }
            });

    // Quorum decisions with the detail pane.
    auto *decisionsPage = new QWidget;
    auto *decisionsLayout = new QVBoxLayout(decisionsPage);
    auto *decisionsBar = new QHBoxLayout;
    decisionTicket = new QLineEdit;
    decisionOutcome = new QComboBox;
    decisionPeriod = new QComboBox;
    decisionsBar->addWidget(decisionTicket);
    decisionsBar->addWidget(decisionOutcome);
    decisionsBar->addWidget(decisionPeriod);
    decisionsBar->addStretch();
    decisionsLayout->addLayout(decisionsBar);
    decisions = new DecisionsModel(worker, this);
    decisionsView = new QTableView;
    decisionsView->setObjectName(QStringLiteral("decisionsView"));
    decisionsView->setModel(decisions);
    decisionsView->setSelectionBehavior(QAbstractItemView::SelectRows);
    decisionsView->setSelectionMode(QAbstractItemView::SingleSelection);
    decisionsView->verticalHeader()->hide();
    decisionsView->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    decisionsView->horizontalHeader()->setStretchLastSection(true);
    decisionsView->setColumnWidth(DecisionsModel::DecidedAtColumn,
                                  fontMetrics().horizontalAdvance(QStringLiteral("2026-11-26 20:32:05.123")) +
                                      16);
    decisionsView->setColumnWidth(DecisionsModel::StateColumn,
                                  fontMetrics().horizontalAdvance(QStringLiteral("Already written off")) +
                                      16);
    detail = new DecisionDetailPane;
    decisionSplitter = new QSplitter(Qt::Vertical);
    decisionSplitter->setObjectName(QStringLiteral("decisionSplitter"));
    decisionSplitter->addWidget(decisionsView);
    decisionSplitter->addWidget(detail);
    decisionsLayout->addWidget(decisionSplitter);
    tabs->addTab(decisionsPage, QString());
    connect(decisionTicket, &QLineEdit::editingFinished, this, &MainWindow::applyDecisionFilter);
    connect(decisionOutcome, &QComboBox::currentIndexChanged, this, &MainWindow::applyDecisionFilter);
    connect(decisionPeriod, &QComboBox::currentIndexChanged, this, &MainWindow::applyDecisionFilter);
    connect(decisionsView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &MainWindow::onDecisionSelected);
    connect(worker, &CacheWorker::decisionReady, this, &MainWindow::onDecisionReady);
    // What each page of an export's certificate fetch held (fetchNextCertificates).
    connect(worker, &CacheWorker::certificatesStored, this,
            [this](quint64 id, int, int, int problems, const QString &firstProblem) {
                if (id != 0)
                    return; // the detail pane's fetch, which shows its own verdict
                certificateProblems += problems;
                if (firstCertificateProblem.isEmpty())
                    firstCertificateProblem = firstProblem;
            });

    // Receivers and their actions.
    receivers = new ReceiversModel(this);
    receiversPanel = new ReceiversView(receivers);
    receiversPanel->setObjectName(QStringLiteral("receiversView"));
    receiversPanel->setOperatorRole(false, tr("Not connected yet."));
    tabs->addTab(receiversPanel, QString());
    connect(receiversPanel, &ReceiversView::resyncRequested, this,
            [this](const QString &receiver, qint64 height) {
                runCommand(QStringLiteral("resync_receiver"),
                           {{QStringLiteral("type"), QStringLiteral("resync_receiver")},
                            {QStringLiteral("receiver"), receiver},
                            {QStringLiteral("from_height"), height}});
            });
    connect(receiversPanel, &ReceiversView::retryDeliveriesRequested, this, [this] {
        runCommand(QStringLiteral("retry_deliveries"),
                   {{QStringLiteral("type"), QStringLiteral("retry_deliveries")}});
    });
    connect(receiversPanel, &ReceiversView::retryUndeterminedRequested, this, [this](const QString &digest) {
        runCommand(QStringLiteral("retry_undetermined"),
                   {{QStringLiteral("type"), QStringLiteral("retry_undetermined")},
                    {QStringLiteral("digest"), digest}});
    });

    // Alerts, persisted with their trail in the cache.
    alerts = new AlertsModel(this);
    alertsPanel = new AlertsView(alerts);
    tabs->addTab(alertsPanel, QString());
    connect(worker, &CacheWorker::alertRaised, this, [this](const AlertRow &row) { alerts->raise(row); });
    // An undetermined write-off decided after a retry: the cache closed its alert and wrote the trail.
    connect(worker, &CacheWorker::alertResolved, this,
            [this](const AlertRow &row, const AlertTrailEntry &entry) { alerts->resolve(row, entry); });
    connect(worker, &CacheWorker::alertsReady, this, [this, worker](quint64, const QList<AlertRow> &rows) {
        alerts->setAlerts(rows);
        // Then their trail, so who closed what (and resolutions) shows after a restart too.
        QMetaObject::invokeMethod(worker,
                                  [worker] { worker->requestAlertTrail(CacheWorker::nextRequestId(), 0); });
    });
    connect(worker, &CacheWorker::alertTrailReady, this,
            [this](quint64, const QList<AlertTrailEntry> &trail) { alerts->setTrail(trail); });
    connect(
        alertsPanel, &AlertsView::acknowledged, this,
        [this](const QString &kind, const QString &subject, const QString &who, const QString &note, qint64) {
            const int row = alerts->rowOf(kind, subject);
            const AlertsModel::Alert *alert = row >= 0 ? alerts->alertAt(row) : nullptr;
            if (!alert || alert->id <= 0)
                return;
            CacheWorker *worker = cache->worker();
            const qint64 id = alert->id;
            QMetaObject::invokeMethod(worker,
                                      [worker, id, who, note] { worker->acknowledgeAlert(id, who, note); });
        });
    connect(alertsPanel, &AlertsView::badgeChanged, this, [this](const QString &text) {
        alertBadge->setText(text);
        tabs->setTabText(3, tr("Alerts") + (text.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(text)));
    });

    // Connections.
    nodes = new NodesModel(this);
    nodesView = new QTableView;
    nodesView->setObjectName(QStringLiteral("nodesView"));
    nodesView->setModel(nodes);
    nodesView->verticalHeader()->hide();
    nodesView->horizontalHeader()->setStretchLastSection(true);
    nodesView->setColumnWidth(
        NodesModel::Tls,
        fontMetrics().horizontalAdvance(QStringLiteral("TLS 1.3, TLS_AES_256_GCM_SHA384")) + 16);
    nodesView->setWordWrap(false);
    tabs->addTab(nodesView, QString());

    // The vote histograms, docked.
    auto *dock = new QDockWidget(this);
    dock->setObjectName(QStringLiteral("histogramDock"));
    auto *dockBody = new QWidget;
    auto *dockLayout = new QVBoxLayout(dockBody);
    histogramSource = new QLabel;
    histogramSource->setWordWrap(true);
    histogram = new VoteHistogramWidget;
    histogram->setObjectName(QStringLiteral("ticketHistogram"));
    aggregate = new VoteHistogramWidget;
    aggregate->setObjectName(QStringLiteral("aggregateHistogram"));
    dockLayout->addWidget(histogramSource);
    dockLayout->addWidget(histogram, 1);
    dockLayout->addWidget(aggregate, 1);
    dock->setWidget(dockBody);
    addDockWidget(Qt::RightDockWidgetArea, dock);

    freshness = new QLabel;
    alertBadge = new QLabel;
    statusBar()->addWidget(freshness, 1);
    statusBar()->addPermanentWidget(alertBadge);

    connect(reportExporter, &ReportExporter::failed, this, [this](const QString &error) {
        statusBar()->showMessage(tr("Export failed: %1").arg(error), 15000);
    });
}

void MainWindow::buildMenus()
{
    auto add = [this](const QString &key, QMenu *menu, const QKeySequence &shortcut, auto slot) {
        auto *action = new QAction(this);
        action->setShortcut(shortcut);
        connect(action, &QAction::triggered, this, slot);
        menu->addAction(action);
        actions.insert(key, action);
        return action;
    };
    QMenu *file = menuBar()->addMenu(QString());
    file->setObjectName(QStringLiteral("fileMenu"));
    add(QStringLiteral("export"), file, QKeySequence(Qt::CTRL | Qt::Key_E), &MainWindow::exportReport);
    file->addSeparator();
    add(QStringLiteral("quit"), file, QKeySequence::Quit, &QWidget::close);
    QMenu *view = menuBar()->addMenu(QString());
    view->setObjectName(QStringLiteral("viewMenu"));
    for (int i = 0; i < 5; ++i)
        add(QStringLiteral("tab%1").arg(i), view, QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)),
            [this, i] { tabs->setCurrentIndex(i); });
    view->addSeparator();
    add(QStringLiteral("pause"), view, QKeySequence(Qt::CTRL | Qt::Key_P), [this] { feedPause->toggle(); });
    add(QStringLiteral("filter"), view, QKeySequence::Find, [this] {
        tabs->setCurrentIndex(0);
        feedTicket->setFocus();
    });
    QMenu *language = view->addMenu(QString());
    language->setObjectName(QStringLiteral("languageMenu"));
    add(QStringLiteral("english"), language, QKeySequence(), [this] { setLanguage(QStringLiteral("en")); });
    add(QStringLiteral("chinese"), language, QKeySequence(),
        [this] { setLanguage(QStringLiteral("zh_CN")); });
    QMenu *help = menuBar()->addMenu(QString());
    help->setObjectName(QStringLiteral("helpMenu"));
    add(QStringLiteral("about"), help, QKeySequence::HelpContents, [this] {
        QMessageBox::about(this, tr("About ticketsync console"),
                           tr("<p><b>ticketsync console</b> %1</p><p>Operations console for ticket write-off "
                              "confirmation across the consortium.</p>")
                               .arg(QApplication::applicationVersion()));
    });
    auto *toolbar = addToolBar(QString());
    toolbar->setObjectName(QStringLiteral("mainToolbar"));
    toolbar->addAction(actions.value(QStringLiteral("export")));
    toolbar->addAction(actions.value(QStringLiteral("pause")));
}

void MainWindow::retranslateUi()
{
    setWindowTitle(tr("ticketsync console — ticket write-off confirmation"));
    tabs->setTabText(0, tr("Live feed"));
    tabs->setTabText(1, tr("Quorum decisions"));
    tabs->setTabText(2, tr("Receivers"));
    tabs->setTabText(3, tr("Alerts"));
    tabs->setTabText(4, tr("Nodes"));
    feedTicket->setPlaceholderText(tr("Ticket id"));
    feedBranch->setPlaceholderText(tr("Branch"));
    feedTarget->setPlaceholderText(tr("Target"));
    const int state = feedState->currentIndex();
    feedState->blockSignals(true);
    feedState->clear();
    feedState->addItem(tr("Any state"), -1);
    feedState->addItem(tr("Issued"), 0);
    for (int code = 1; code <= 6; ++code)
        feedState->addItem(FeedModel::stateLabel(code), code);
    feedState->setCurrentIndex(qMax(0, state));
    feedState->blockSignals(false);
    for (QComboBox *periods : {feedPeriod, decisionPeriod}) {
        const int period = periods->currentIndex();
        periods->blockSignals(true);
        periods->clear();
        periods->addItem(tr("All time"));
        periods->addItem(tr("Last 5 minutes"));
        periods->addItem(tr("Last hour"));
        periods->addItem(tr("Last 24 hours"));
        periods->setCurrentIndex(qMax(0, period));
        periods->blockSignals(false);
    }
    feedPause->setText(tr("Pause"));
    feedFollow->setText(tr("Follow newest"));
    decisionTicket->setPlaceholderText(tr("Ticket id"));
    const int outcome = decisionOutcome->currentIndex();
    decisionOutcome->blockSignals(true);
    decisionOutcome->clear();
    decisionOutcome->addItem(tr("Any outcome"), QString());
    decisionOutcome->addItem(tr("Decided"), QStringLiteral("DECIDED"));
    decisionOutcome->addItem(tr("Undetermined"), QStringLiteral("UNDETERMINED"));
    decisionOutcome->setCurrentIndex(qMax(0, outcome));
    decisionOutcome->blockSignals(false);
    if (auto *dock = findChild<QDockWidget *>(QStringLiteral("histogramDock")))
        dock->setWindowTitle(tr("Vote histogram"));
    menuBar()->findChild<QMenu *>(QStringLiteral("fileMenu"))->setTitle(tr("&File"));
    menuBar()->findChild<QMenu *>(QStringLiteral("viewMenu"))->setTitle(tr("&View"));
    menuBar()->findChild<QMenu *>(QStringLiteral("languageMenu"))->setTitle(tr("&Language"));
    menuBar()->findChild<QMenu *>(QStringLiteral("helpMenu"))->setTitle(tr("&Help"));
    actions.value(QStringLiteral("export"))->setText(tr("&Export audit report…"));
    actions.value(QStringLiteral("quit"))->setText(tr("&Quit"));
    const QStringList tabNames = {tr("Live feed"), tr("Quorum decisions"), tr("Receivers"), tr("Alerts"),
                                  tr("Nodes")};
    for (int i = 0; i < tabNames.size(); ++i)
        actions.value(QStringLiteral("tab%1").arg(i))->setText(tr("Show %1").arg(tabNames.at(i)));
    actions.value(QStringLiteral("pause"))->setText(tr("&Pause the live feed"));
    actions.value(QStringLiteral("filter"))->setText(tr("&Filter by ticket"));
    actions.value(QStringLiteral("english"))->setText(QStringLiteral("English"));
    actions.value(QStringLiteral("chinese"))->setText(QStringLiteral("简体中文"));
    actions.value(QStringLiteral("about"))->setText(tr("&About"));
    findChild<QToolBar *>(QStringLiteral("mainToolbar"))->setWindowTitle(tr("Main toolbar"));
    // Headers come from the models' tr() at paint time; tell the views to ask again.
    for (QAbstractItemModel *model :
         {static_cast<QAbstractItemModel *>(feed), static_cast<QAbstractItemModel *>(decisions),
          static_cast<QAbstractItemModel *>(nodes)}) {
        if (model && model->columnCount() > 0)
            Q_EMIT model->headerDataChanged(Qt::Horizontal, 0, model->columnCount() - 1);
    }
    updateFreshness();
}

void MainWindow::applySettings()
{
    // Cheap enough to redo on any key's change.
    const int sourceSeconds = settings.value(ConsoleSettings::StaleAfterSeconds);
    sourceStaleAfterMs = qint64(sourceSeconds) * 1000;
    nodes->setStaleAfterSeconds(sourceSeconds);
    receivers->setStalenessThresholdMs(qint64(settings.value(ConsoleSettings::ReceiversStaleAfterSeconds)) *
                                       1000);
}

void MainWindow::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::LanguageChange)
        retranslateUi();
    QMainWindow::changeEvent(event);
}

void MainWindow::setLanguage(const QString &language)
{
    if (translator) {
        QCoreApplication::removeTranslator(translator);
        QCoreApplication::removeTranslator(qtTranslator);
        delete translator;
        delete qtTranslator;
        translator = qtTranslator = nullptr;
    }
    if (language != QLatin1String("en")) {
        translator = new QTranslator(this);
        qtTranslator = new QTranslator(this);
        if (translator->load(QStringLiteral(":/i18n/ticketsync_console_%1.qm").arg(language)))
            QCoreApplication::installTranslator(translator);
        else
            qCWarning(lcConsole) << "no translation for" << language;
        if (qtTranslator->load(QStringLiteral("qtbase_%1").arg(language),
                               QLibraryInfo::path(QLibraryInfo::TranslationsPath)))
            QCoreApplication::installTranslator(qtTranslator);
    }
    settings.setValue(ConsoleSettings::Language, language);
    // Installing or removing a translator sends LanguageChange to every widget.
    if (!translator)
        retranslateUi();
}

void MainWindow::restoreLayout()
{
    resize(1280, 800);
    restoreGeometry(settings.value(ConsoleSettings::Geometry));
    restoreState(settings.value(ConsoleSettings::WindowState));
    decisionSplitter->restoreState(settings.value(ConsoleSettings::DecisionsSplitter));
    tabs->setCurrentIndex(settings.value(ConsoleSettings::CurrentTab));
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    settings.setValue(ConsoleSettings::Geometry, saveGeometry());
    settings.setValue(ConsoleSettings::WindowState, saveState());
    settings.setValue(ConsoleSettings::DecisionsSplitter, decisionSplitter->saveState());
    settings.setValue(ConsoleSettings::CurrentTab, tabs->currentIndex());
    settings.sync();
    QMainWindow::closeEvent(event);
}

// ---------------------------------------------------------------------------------------
// Cache and session

void MainWindow::openCache()
{
    CacheWorker *worker = cache->worker();
    connect(worker, &CacheWorker::opened, this, &MainWindow::onCacheOpened);
    connect(worker, &CacheWorker::receiversReady, this, [this](quint64, const QList<ReceiverRow> &cached) {
        if (!receivers->rowCount())
            receivers->setCachedReceivers(cached);
    });
    connect(worker, &CacheWorker::failed, this, [this](const QString &error) {
        statusBar()->showMessage(tr("History cache: %1").arg(error), 15000);
    });
    cache->start();
}

void MainWindow::onCacheOpened(bool ok, const QString &message)
{
    cacheIsOpen = ok;
    cacheAnswered = true;
    if (!ok) {
        // Not exec(): the connection must not wait for someone to dismiss the message.
        const QString text = tr("The history cache %1 could not be opened: %2\nThe console runs without it.")
                                 .arg(cacheFile, message);
        statusBar()->showMessage(text);
        auto *box = new QMessageBox(QMessageBox::Warning, tr("History cache"), text, QMessageBox::Ok, this);
        box->setAttribute(Qt::WA_DeleteOnClose);
        box->open();
    } else {
        CacheWorker *worker = cache->worker();
        const qint64 lagBlocks = settings.value(ConsoleSettings::LagAlertBlocks);
        QMetaObject::invokeMethod(worker, [worker, lagBlocks] {
            worker->setLagThresholds(lagBlocks, 0);
            worker->requestAlerts(CacheWorker::nextRequestId());
        });
        feed->reload();
        decisions->reload();
        // The receivers as last reported, until the coordinator says more (offline: all there is).
        QMetaObject::invokeMethod(worker,
                                  [worker] { worker->requestReceivers(CacheWorker::nextRequestId()); });
        if (!message.isEmpty()) {
            // Opened, but something needs saying: a damaged cache was moved aside, say.
            statusBar()->showMessage(tr("History cache: %1").arg(message));
            auto *box =
                new QMessageBox(QMessageBox::Warning, tr("History cache"), message, QMessageBox::Ok, this);
            box->setAttribute(Qt::WA_DeleteOnClose);
            box->open();
        }
    }
    Q_EMIT cacheOpened(ok, message);
    connectWhenReady();
}

bool MainWindow::connectTo(const SessionProfile &profile, QString *error)
{
    const std::optional<NetworkIdentity> network = profile.network(error);
    if (!network)
        return false;
    pendingProfile = profile;
    pendingNetwork = *network;
    loadSessionFiles();
    return true;
}

void MainWindow::browseWithMembership(const QString &membershipPath)
{
    if (membershipPath.isEmpty())
        return;
    auto files = std::make_shared<SessionFiles>();
    QThread *loader = QThread::create([files, membershipPath] {
        if (std::optional<Membership> loaded = Membership::load(membershipPath, &files->membershipError))
            files->membership = std::make_shared<const Membership>(std::move(*loaded));
    });
    loader->setObjectName(QStringLiteral("console-membership"));
    connect(loader, &QThread::finished, loader, &QObject::deleteLater);
    connect(loader, &QThread::finished, this, [this, files, load = filesLoad] {
        if (load != filesLoad || pendingProfile)
            return; // connecting brings the membership of its own profile
        if (!files->membership) {
            statusBar()->showMessage(files->membershipError, 15000);
            return;
        }
        tallyTracker->setMembershipQuorum(files->membership->targetCount(), files->membership->quorum());
        membership = files->membership;
        // What the pane already checked without it, again.
        if (!detail->currentDigest().isEmpty())
            showCachedDecision(QByteArray::fromHex(detail->currentDigest().toLatin1()));
    });
    loader->start();
}

void MainWindow::loadSessionFiles()
{
    // Reading the files (and a PKCS#12 password's PBKDF) can take long enough to freeze the
    // window, or forever on a stalled mount: a thread of its own does it, and nothing connects
    // until its result is back. Not parented: a window closed meanwhile must not destroy a
    // running thread; the thread deletes itself once done, and its result goes nowhere.
    const quint64 load = ++filesLoad;
    filesLoading = true;
    pendingIdentity.reset();
    pendingIdentityError.clear();
    auto files = std::make_shared<SessionFiles>();
    QThread *loader =
        QThread::create([files, profile = *pendingProfile] { *files = SessionFiles::load(profile); });
    loader->setObjectName(QStringLiteral("console-files"));
    connect(loader, &QThread::finished, loader, &QObject::deleteLater);
    connect(loader, &QThread::finished, this, [this, load, files] { onSessionFilesLoaded(load, *files); });
    loader->start();
}

void MainWindow::onSessionFilesLoaded(quint64 load, const SessionFiles &files)
{
    if (load != filesLoad)
        return; // connectTo() was called again meanwhile
    filesLoading = false;
    if (files.membership) {
        tallyTracker->setMembershipQuorum(files.membership->targetCount(), files.membership->quorum());
        membership = files.membership;
        pendingNetwork.consortium = membership->consortiumId();
    } else if (!files.membershipError.isEmpty()) {
        statusBar()->showMessage(files.membershipError, 15000);
    }
    pendingIdentity = files.identity;
    pendingIdentityError = files.identityError;
    connectWhenReady();
}

void MainWindow::connectWhenReady()
{
    if (!pendingProfile || filesLoading || !cacheAnswered)
        return;
    if (cacheIsOpen)
        bindCacheAndStart();
    else
        startSession(QString(), {}); // without a cache: every stream from its start
}

void MainWindow::bindCacheAndStart()
{
    CacheWorker *worker = cache->worker();
    const quint64 request = CacheWorker::nextRequestId();
    auto once = std::make_shared<QMetaObject::Connection>();
    *once = connect(worker, &CacheWorker::networkCursorsReady, this,
                    [this, request, once, load = filesLoad](quint64 id, const QString &refusal,
                                                            const QHash<QString, qint64> &cursors) {
                        if (id != request)
                            return;
                        disconnect(*once);
                        // A newer connectTo() binds (and starts) its own network.
                        if (load == filesLoad)
                            startSession(refusal, cursors);
                    });
    QMetaObject::invokeMethod(worker, [worker, request, network = pendingNetwork] {
        worker->requestNetworkCursors(request, network.caSha256, network.consortium);
    });
}

void MainWindow::startSession(const QString &refusal, const QHash<QString, qint64> &cursors)
{
    if (!pendingProfile)
        return;
    const SessionProfile profile = *std::exchange(pendingProfile, std::nullopt);
    const std::optional<TlsIdentity> identity = std::exchange(pendingIdentity, std::nullopt);
    if (!refusal.isEmpty()) {
        refuseSession(refusal);
        return;
    }
    if (!identity) {
        consoleSession->stop(); // as a failed start always did: the previous network is not kept
        refuseSession(pendingIdentityError);
        return;
    }
    consoleSession->start(profile, *identity, cursors.value(profile.eventSource) + 1);
}

void MainWindow::refuseSession(const QString &reason)
{
    qCWarning(lcConsole) << "not connected:" << reason;
    statusBar()->showMessage(tr("Not connected: %1").arg(reason));
    // Not exec(): the window keeps painting and the cache stays browsable behind the message.
    auto *box = new QMessageBox(QMessageBox::Critical, tr("Connect"), reason, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
    Q_EMIT sessionRefused(reason);
}

void MainWindow::onIngested(const QString &node, qint64 lastSeq, const IngestReport &report)
{
    if (report.refused) {
        // Nothing of the batch was kept; the node still has it. Fetch it again shortly, once for
        // however many batches fail meanwhile.
        statusBar()->showMessage(
            tr("History cache: events from %1 were not stored (%2); they are fetched again.")
                .arg(node, report.firstProblem));
        // A cache that keeps refusing (a full disk) is asked less and less often, so the node is
        // not made to send its backlog again every second.
        const bool scheduled = resumeFrom.contains(node);
        resumeFrom.insert(node, lastSeq + 1);
        if (!scheduled) {
            int &delay = resumeDelayMs[node];
            delay = delay == 0 ? kResumeDelayMs : qMin(2 * delay, kMaxResumeDelayMs);
            QTimer::singleShot(delay, this,
                               [this, node] { consoleSession->resume(node, resumeFrom.take(node)); });
        }
        return;
    }
    if (report.stored > 0)
        resumeDelayMs.remove(node); // stored again: the next refusal is retried soon
    if (report.skipped > 0) {
        CacheWorker *worker = cache->worker();
        const QString detail = QStringLiteral("%1 malformed events were not mapped; the first: %2")
                                   .arg(report.skipped)
                                   .arg(report.firstProblem);
        QMetaObject::invokeMethod(worker, [worker, node, detail] {
            worker->raiseAlert(QStringLiteral("malformed_events"), node, detail);
        });
    }
}

void MainWindow::onEvents(const QString &nodeId, const QList<QJsonObject> &events)
{
    CacheWorker *worker = cache->worker();
    QMetaObject::invokeMethod(worker, [worker, nodeId, events] { worker->ingest(nodeId, events); });
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const bool awaitingBlock = detail->blockCheck() == DecisionDetailPane::BlockCheck::NotSealed;
    bool shownSealed = false;
    for (const QJsonObject &event : events) {
        tallyTracker->applyEvent(event, nodeId);
        const QString kind = event.value(u"kind").toString();
        if (kind == QLatin1String("receiver_status"))
            receivers->applyStatus(nodeId, event, now);
        else if (awaitingBlock && kind == QLatin1String("block_appended"))
            shownSealed =
                shownSealed || event.value(u"write_off_digests").toArray().contains(detail->currentDigest());
    }
    // The decision shown was waiting for its block: fetch its proof now that it is sealed.
    if (shownSealed)
        showCachedDecision(QByteArray::fromHex(detail->currentDigest().toLatin1()));
}

void MainWindow::onLink(const NodeLinkState &state)
{
    nodes->update(state);
    if (state.nodeId != consoleSession->profile().eventSource)
        return;
    const bool cameUp = state.connected && !sourceLinkUp;
    sourceLinkUp = state.connected;
    if (state.connected) {
        alertsPanel->setUser(state.client);
        const bool isOperator = state.role == QLatin1String("operator");
        receiversPanel->setOperatorRole(
            isOperator, isOperator ? QString()
                                   : tr("Your certificate gives the role '%1' on %2; only operators may act.")
                                         .arg(state.role, state.nodeId));
        // A fresh picture of the receivers whenever the link comes up (not on every batch).
        if (cameUp) {
            consoleSession->request(state.nodeId, {{QStringLiteral("type"), QStringLiteral("receivers")}},
                                    [this, node = state.nodeId](const QJsonObject &reply) {
                                        if (reply.value(u"type").toString() == QLatin1String("receivers"))
                                            receivers->setReceivers(node, reply.value(u"receivers"),
                                                                    QDateTime::currentMSecsSinceEpoch());
                                    });
        }
    } else {
        receiversPanel->setOperatorRole(false,
                                        tr("Not connected to %1: %2").arg(state.nodeId, state.lastError));
    }
}

void MainWindow::runCommand(const QString &command, const QJsonObject &request)
{
    receiversPanel->showCommandProgress(command,
                                        tr("Sent to %1…").arg(consoleSession->profile().eventSource));
    consoleSession->request(
        consoleSession->profile().eventSource, request, [this, command](const QJsonObject &reply) {
            const QString type = reply.value(u"type").toString();
            const bool ok = type == QLatin1String("command_result");
            QString text = reply.value(ok ? u"outcome" : u"error").toString();
            if (ok && text.isEmpty())
                text = tr("done, but the node gave no outcome");
            else if (!ok && type != QLatin1String("error"))
                text = tr("the node answered '%1' instead of the command's result").arg(type);
            else if (!ok && text.isEmpty())
                text = tr("the node refused it without saying why");
            else if (!ok && text.startsWith(QLatin1String("connection lost")))
                //: The command was sent, but its answer did not come back.
                text = tr("%1; the command may have run: look at its effect before sending it again (it is "
                          "idempotent, so sending it again is safe)")
                           .arg(text);
            receiversPanel->showCommandOutcome(command, ok, text);
            if (ok && command == QLatin1String("retry_undetermined"))
                receiversPanel->setSelectedUndetermined(QString()); // not offered twice
            Q_EMIT commandFinished(command, ok, text);
        });
}

// ---------------------------------------------------------------------------------------
// Views

void MainWindow::applyFeedFilter()
{
    FeedFilter filter;
    filter.ticket = feedTicket->text().trimmed();
    filter.branch = feedBranch->text().trimmed();
    filter.target = feedTarget->text().trimmed();
    filter.state = feedState->currentData().toInt();
    const int minutes = kPeriods[qBound(0, feedPeriod->currentIndex(), int(std::size(kPeriods)) - 1)];
    if (minutes > 0)
        filter.fromMs = QDateTime::currentMSecsSinceEpoch() - qint64(minutes) * 60000;
    if (filter != feed->filter())
        feed->setFilter(filter);
}

void MainWindow::applyDecisionFilter()
{
    DecisionFilter filter;
    filter.ticket = decisionTicket->text().trimmed();
    filter.outcome = decisionOutcome->currentData().toString();
    const int minutes = kPeriods[qBound(0, decisionPeriod->currentIndex(), int(std::size(kPeriods)) - 1)];
    if (minutes > 0)
        filter.fromMs = QDateTime::currentMSecsSinceEpoch() - qint64(minutes) * 60000;
    if (filter != decisions->filter())
        decisions->setFilter(filter);
}

void MainWindow::showTicketTally(const QString &digestHex)
{
    const TicketTally tally = tallyTracker->tally(digestHex);
    if (!tally.isValid())
        return;
    histogram->setTally(tally);
    histogramSource->setText(tr("Ticket %1 version %2 via %3 — from %4")
                                 .arg(tally.ticket)
                                 .arg(tally.version)
                                 .arg(tally.branch, tally.sourceNode));
}

void MainWindow::onDecisionSelected()
{
    const QModelIndex current = decisionsView->currentIndex();
    const QByteArray digest = current.data(DecisionsModel::DigestRole).toByteArray();
    if (digest.isEmpty())
        return;
    followedDigest = hexDigest(digest);
    showTicketTally(followedDigest);
    // Only an UNDETERMINED selection is offered for a retry; any other clears the offer.
    const bool undetermined =
        current.data(DecisionsModel::OutcomeRole).toString() == QLatin1String("UNDETERMINED");
    receiversPanel->setSelectedUndetermined(undetermined ? followedDigest : QString());
    showCachedDecision(digest);
}

void MainWindow::showCachedDecision(const QByteArray &digest)
{
    decisionRequest = CacheWorker::nextRequestId();
    CacheWorker *worker = cache->worker();
    QMetaObject::invokeMethod(
        worker, [worker, request = decisionRequest, digest] { worker->requestDecision(request, digest); });
}

void MainWindow::onDecisionReady(quint64 requestId, const DecisionRow &row,
                                 const QList<ConfirmationRow> &confirmations, bool found)
{
    if (requestId != decisionRequest || !found)
        return;
    QJsonObject summary{{QStringLiteral("write_off_digest"), hexDigest(row.digest)},
                        {QStringLiteral("ticket"), row.ticket},
                        {QStringLiteral("version"), row.version},
                        {QStringLiteral("branch"), row.branch},
                        {QStringLiteral("amount_minor"), row.amountMinor},
                        {QStringLiteral("currency"), row.currency},
                        {QStringLiteral("outcome"), row.outcome},
                        {QStringLiteral("state"), row.state ? stateName(quint16(row.state)) : QString()},
                        {QStringLiteral("histogram"), row.histogram},
                        {QStringLiteral("n"), row.n},
                        {QStringLiteral("q"), row.q},
                        {QStringLiteral("missing"), row.missing},
                        {QStringLiteral("equivocating"), row.equivocating},
                        {QStringLiteral("latency_ms"), row.latencyMs},
                        {QStringLiteral("decided_at_ms"), row.decidedAtMs},
                        {QStringLiteral("height"), row.height},
                        {QStringLiteral("node"), row.node}};
    QList<QByteArray> signedConfirmations;
    for (const ConfirmationRow &confirmation : confirmations)
        signedConfirmations.append(confirmation.confirmation);
    if (!tallyTracker->contains(hexDigest(row.digest))) {
        // Older than what the tracker keeps: draw the histogram from the cached outcome.
        TicketTally tally;
        tally.digest = hexDigest(row.digest);
        tally.ticket = row.ticket;
        tally.version = int(row.version);
        tally.branch = row.branch;
        tally.n = row.n;
        tally.q = row.q;
        for (auto it = row.histogram.constBegin(); it != row.histogram.constEnd(); ++it)
            tally.counts.insert(it.key(), it.value().toInt());
        for (const ConfirmationRow &confirmation : confirmations) {
            if (confirmation.verdict == QLatin1String("equivocation"))
                tally.equivocating.append(confirmation.target);
            else if (confirmation.verdict == QLatin1String("bad-signature"))
                tally.badSignature.append(confirmation.target);
        }
        tally.nonVoters = row.missing;
        tally.outcome = row.outcome;
        tally.decidedState = row.state ? stateName(quint16(row.state)) : QString();
        tally.decidedAtMs = row.decidedAtMs;
        tally.latencyMs = row.latencyMs;
        tally.sourceNode = row.node + tr(" (history cache)");
        histogram->setTally(tally);
        histogramSource->setText(tr("Ticket %1 version %2 via %3 — from %4")
                                     .arg(tally.ticket)
                                     .arg(tally.version)
                                     .arg(tally.branch, tally.sourceNode));
    }
    detail->showDecision(summary, row.certificate, signedConfirmations, membership, row.proof);
    // Only decided write-offs are sealed; an UNDETERMINED one is asked for its certificate alone.
    const bool wantsProof = row.proof.isEmpty() && row.outcome != QLatin1String("UNDETERMINED");
    if (!row.certificate.isEmpty() && !wantsProof)
        return;
    const QString node = row.node.isEmpty() ? consoleSession->profile().eventSource : row.node;
    fetchDecisionEvidence(node, row.digest, summary, signedConfirmations, row.certificate);
}

void MainWindow::fetchDecisionEvidence(const QString &node, const QByteArray &digest,
                                       const QJsonObject &summary, const QList<QByteArray> &confirmations,
                                       const QByteArray &knownCertificate)
{
    const QString digestHex = hexDigest(digest);
    if (node.isEmpty() || consoleSession->profile().nodes.isEmpty()) {
        detail->showBlockUnproven(digestHex, DecisionDetailPane::BlockCheck::Unavailable,
                                  tr("the history cache holds no proof for it, and the console is offline"));
        return;
    }
    detail->showBlockFetching(node);
    consoleSession->request(
        node,
        {{QStringLiteral("type"), QStringLiteral("decisions")},
         {QStringLiteral("digests"), QJsonArray{digestHex}}},
        [this, node, digest, digestHex, summary, confirmations, knownCertificate](const QJsonObject &reply) {
            using BlockCheck = DecisionDetailPane::BlockCheck;
            const auto unavailable = [&](const QString &why) {
                detail->showBlockUnproven(digestHex, BlockCheck::Unavailable, why);
            };
            const QString type = reply.value(u"type").toString();
            if (type != QLatin1String("decisions")) {
                const QString error = type == QLatin1String("error")
                                          ? reply.value(u"error").toString()
                                          : tr("it answered '%1' instead of 'decisions'").arg(type);
                unavailable(tr("%1 could not be asked for its proof: %2").arg(node, error));
                return;
            }
            QJsonObject entry;
            for (const QJsonValue &item : reply.value(u"decisions").toArray()) {
                if (item.toObject().value(u"write_off_digest").toString().toLower() == digestHex)
                    entry = item.toObject();
            }
            if (entry.isEmpty()) {
                unavailable(reply.value(u"missing").toArray().contains(digestHex)
                                ? tr("%1 has no decision for this write-off").arg(node)
                                : tr("%1's answer holds no entry for this write-off").arg(node));
                return;
            }
            // The cache's thread checks it again and keeps only what holds, for offline use.
            CacheWorker *worker = cache->worker();
            QMetaObject::invokeMethod(worker, [worker, digest, reply, members = membership] {
                worker->storeFetchedCertificates(CacheWorker::nextRequestId(), {digest}, reply, members);
            });
            if (detail->currentDigest() != digestHex)
                return;
            const auto fetched = QByteArray::fromBase64Encoding(
                entry.value(u"decision").toString().toLatin1(), QByteArray::AbortOnBase64DecodingErrors);
            const QByteArray certificate =
                fetched && !fetched.decoded.isEmpty() ? *fetched : knownCertificate;
            const QJsonValue proofValue = entry.value(u"proof");
            // Not an object: handed on as it came, so that the pane names what is wrong with it.
            const QByteArray proof = proofValue.isUndefined() || proofValue.isNull()
                                         ? QByteArray()
                                         : (proofValue.isObject() ? QJsonDocument(proofValue.toObject())
                                                                  : QJsonDocument(QJsonArray{proofValue}))
                                               .toJson(QJsonDocument::Compact);
            if (!proof.isEmpty() || certificate != knownCertificate) {
                QJsonObject withHeight = summary;
                withHeight.insert(QStringLiteral("height"), entry.value(u"height").toInteger(0));
                detail->showDecision(withHeight, certificate, confirmations, membership, proof);
            }
            if (!proof.isEmpty())
                return;
            const qint64 height = entry.value(u"height").toInteger(0);
            if (height > 0)
                unavailable(tr("%1 places it in block %2 but sent no proof of that").arg(node).arg(height));
            else
                detail->showBlockUnproven(digestHex, BlockCheck::NotSealed,
                                          tr("%1 holds the decision, but in no block so far").arg(node));
        });
}

void MainWindow::updateFreshness()
{
    if (!freshness)
        return;
    const QString source = consoleSession->profile().eventSource;
    if (source.isEmpty()) {
        freshness->setText(cacheIsOpen ? tr("Offline: browsing the history cache %1").arg(cacheFile)
                                       : tr("Opening the history cache…"));
        return;
    }
    const NodeLinkState state = consoleSession->link(source);
    const qint64 age = state.lastContactMs ? QDateTime::currentMSecsSinceEpoch() - state.lastContactMs : -1;
    const QString when = age < 0 ? tr("nothing yet") : tr("%1 ago").arg(NodesModel::age(age));
    freshness->setText(
        state.connected
            ? tr("Live from %1 (%2), last event #%3, %4").arg(source, state.tls).arg(state.lastSeq).arg(when)
            : tr("Disconnected from %1: %2 — showing cached data, last heard %3")
                  .arg(source, state.lastError, when));
    // Once per stale spell: raised again every second, an acknowledged alert would re-open at
    // once. It closes by itself when data flows again.
    const bool stale = state.lastContactMs && age > sourceStaleAfterMs;
    // Also without a cache: the worker then shows the alert without keeping it.
    if (stale != staleSpell) {
        staleSpell = stale;
        CacheWorker *worker = cache->worker();
        if (stale) {
            const QString detailText = tr("no data from %1 for %2").arg(source, NodesModel::age(age));
            QMetaObject::invokeMethod(worker, [worker, source, detailText] {
                worker->raiseAlert(QStringLiteral("stale_data"), source, detailText);
            });
        } else {
            const QString note = tr("data from %1 again").arg(source);
            QMetaObject::invokeMethod(worker, [worker, source, note] {
                worker->resolveAlert(QStringLiteral("stale_data"), source, note);
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// Audit export

void MainWindow::startExport(int format, const QString &path, qint64 fromMs, qint64 toMs,
                             const QString &outcome)
{
    if (reportExporter->isRunning() || exportPreparing) {
        statusBar()->showMessage(tr("An export is already running."), 5000);
        return;
    }
    ReportRequest request;
    request.cachePath = cacheFile;
    request.outputPath = path;
    request.format = ReportRequest::Format(format);
    request.fromMs = fromMs;
    request.toMs = toMs;
    request.outcome = outcome;
    const NodeLinkState source = consoleSession->link(consoleSession->profile().eventSource);
    request.operatorName = source.client.isEmpty() ? source.role : source.client; // a person, not a role
    request.membershipPath = consoleSession->profile().membershipPath;
    pendingExport = request;
    exportPreparing = true;
    exportCancelled = false;
    certificateProblems = 0;
    firstCertificateProblem.clear();
    // A bundle is evidence only with every decision's certificate; decision_made events carry
    // the summary alone, so what the cache lacks is fetched first, while connected.
    if (request.format == ReportRequest::Format::JsonBundle && source.connected)
        fetchCertificates();
    else
        exportWhenFlushed();
}

void MainWindow::fetchCertificates()
{
    CacheWorker *worker = cache->worker();
    const quint64 request = CacheWorker::nextRequestId();
    auto once = std::make_shared<QMetaObject::Connection>();
    *once = connect(worker, &CacheWorker::unprovenDecisionsReady, this,
                    [this, request, once](quint64 id, const QList<QByteArray> &digests) {
                        if (id != request)
                            return;
                        disconnect(*once);
                        certificatesWanted = digests;
                        certificatesTotal = int(digests.size());
                        fetchNextCertificates();
                    });
    QMetaObject::invokeMethod(
        worker, [worker, request, from = pendingExport.fromMs, to = pendingExport.toMs] {
            worker->requestUnprovenDecisions(request, from, to, kMaxCertificatesFetched);
        });
}

void MainWindow::fetchNextCertificates()
{
    const QString source = consoleSession->profile().eventSource;
    if (!consoleSession->link(source).connected) {
        // Lost (or closing): what is not fetched yet is counted missing, and each failed reply
        // must not ask again at once.
        certificateProblems += int(certificatesWanted.size());
        if (firstCertificateProblem.isEmpty() && !certificatesWanted.isEmpty())
            firstCertificateProblem = tr("not connected to %1").arg(source);
        certificatesWanted.clear();
    }
    // By the page: the node reads each block once for all the page's decisions in it.
    while (certificatesInFlight < kCertificatesInFlight && !certificatesWanted.isEmpty()) {
        const QList<QByteArray> page = certificatesWanted.mid(0, kCertificatesPerRequest);
        certificatesWanted.remove(0, page.size());
        certificatesInFlight += int(page.size());
        QJsonArray digests;
        for (const QByteArray &digest : page)
            digests.append(hexDigest(digest));
        consoleSession->request(
            source,
            {{QStringLiteral("type"), QStringLiteral("decisions")}, {QStringLiteral("digests"), digests}},
            [this, page](const QJsonObject &reply) {
                certificatesInFlight -= int(page.size());
                // Decoded and checked on the cache's thread: a page is 200 certificates and proofs.
                // Its verdict (certificatesStored) comes before the flush the export waits for.
                CacheWorker *worker = cache->worker();
                QMetaObject::invokeMethod(worker, [worker, page, reply, members = membership] {
                    worker->storeFetchedCertificates(0, page, reply, members);
                });
                const int done = certificatesTotal - int(certificatesWanted.size()) - certificatesInFlight;
                statusBar()->showMessage(
                    tr("Fetching certificates for the report: %1 of %2").arg(done).arg(certificatesTotal));
                fetchNextCertificates();
            });
    }
    if (certificatesInFlight == 0 && certificatesWanted.isEmpty())
        exportWhenFlushed();
}

void MainWindow::cancelExport()
{
    if (!exportPreparing) {
        reportExporter->cancel();
        return;
    }
    exportCancelled = true; // the certificates in flight still land in the cache
    certificatesWanted.clear();
}

void MainWindow::exportWhenFlushed()
{
    // The exporter reads through a connection of its own: first commit what arrived, without
    // making the GUI wait for the worker's queue.
    CacheWorker *worker = cache->worker();
    const quint64 request = CacheWorker::nextRequestId();
    auto once = std::make_shared<QMetaObject::Connection>();
    *once = connect(worker, &CacheWorker::flushed, this, [this, request, once](quint64 id) {
        if (id != request)
            return;
        disconnect(*once);
        exportPreparing = false;
        if (std::exchange(exportCancelled, false)) {
            statusBar()->showMessage(tr("Export cancelled."), 5000);
            return;
        }
        if (certificateProblems > 0)
            statusBar()->showMessage(
                tr("%n certificate(s) could not be fetched; the bundle will not verify for "
                   "them. First: %1",
                   nullptr, certificateProblems)
                    .arg(firstCertificateProblem));
        if (!reportExporter->start(pendingExport))
            statusBar()->showMessage(tr("An export is already running."), 5000);
    });
    QMetaObject::invokeMethod(worker, [worker, request] { worker->flushFor(request); });
}

void MainWindow::exportReport()
{
    if (reportExporter->isRunning() || exportPreparing) {
        statusBar()->showMessage(tr("An export is already running."), 5000);
        return;
    }
    QDialog dialog(this);
    dialog.setWindowTitle(tr("Export audit report"));
    auto *form = new QFormLayout(&dialog);
    auto *format = new QComboBox;
    format->addItem(tr("CSV (RFC 4180)"), int(ReportRequest::Format::Csv));
    format->addItem(tr("PDF summary"), int(ReportRequest::Format::Pdf));
    format->addItem(tr("JSON bundle with signatures"), int(ReportRequest::Format::JsonBundle));
    auto *from = new QDateTimeEdit(QDateTime::currentDateTime().addDays(-1));
    auto *to = new QDateTimeEdit(QDateTime::currentDateTime().addSecs(60));
    from->setCalendarPopup(true);
    to->setCalendarPopup(true);
    auto *outcome = new QComboBox;
    outcome->addItem(tr("Any outcome"), QString());
    outcome->addItem(tr("Decided"), QStringLiteral("DECIDED"));
    outcome->addItem(tr("Undetermined"), QStringLiteral("UNDETERMINED"));
    form->addRow(tr("Format"), format);
    form->addRow(tr("From"), from);
    form->addRow(tr("To"), to);
    form->addRow(tr("Outcome"), outcome);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    if (dialog.exec() != QDialog::Accepted)
        return;
    static const char *const kSuffixes[] = {"csv", "pdf", "json"};
    const int chosen = format->currentData().toInt();
    const QString dir = settings.value(ConsoleSettings::LastExportDir).isEmpty()
                            ? QDir::homePath()
                            : settings.value(ConsoleSettings::LastExportDir);
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Save audit report"),
        QDir(dir).filePath(QStringLiteral("ticketsync-audit-%1.%2")
                               .arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmm")),
                                    QLatin1String(kSuffixes[chosen]))));
    if (path.isEmpty())
        return;
    settings.setValue(ConsoleSettings::LastExportDir, QFileInfo(path).absolutePath());
    auto *progress = new QProgressDialog(tr("Exporting…"), tr("Cancel"), 0, 1000, this);
    progress->setWindowModality(Qt::WindowModal);
    progress->setAttribute(Qt::WA_DeleteOnClose);
    connect(reportExporter, &ReportExporter::progress, progress, &QProgressDialog::setValue);
    connect(progress, &QProgressDialog::canceled, this, &MainWindow::cancelExport);
    connect(reportExporter, &ReportExporter::finished, progress,
            [this, progress](bool ok, const QString &written, const QString &summary) {
                progress->close();
                if (ok)
                    statusBar()->showMessage(tr("Wrote %1: %2").arg(written, summary), 15000);
            });
    progress->show();
    startExport(chosen, path, from->dateTime().toMSecsSinceEpoch(), to->dateTime().toMSecsSinceEpoch(),
                outcome->currentData().toString());
}

} // namespace ticketsync
