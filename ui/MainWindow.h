#pragma once

#include "ConsoleSession.h"
#include "ConsoleSettings.h"
#include "ReportExporter.h"

#include <QMainWindow>
#include <QPointer>
#include <memory>

class QAction;
class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QSplitter;
class QTabWidget;
class QTableView;
class QTranslator;

namespace ticketsync {

class AlertsModel;
class AlertsView;
class CacheThread;
class DecisionDetailPane;
class DecisionsModel;
class FeedModel;
struct IngestReport;
class Membership;
class NodesModel;
class ReceiversModel;
class ReceiversView;
class ReportExporter;
class TallyTracker;
class VoteHistogramWidget;
struct AlertRow;
struct ConfirmationRow;
struct DecisionRow;

// The operations console: the live feed, vote histograms, quorum decisions, receivers,
// alerts and node connections. It owns the cache worker (SQLite on its own thread) and the
// session (the nodes, on the network thread); the GUI thread only moves batches between them
// and paints.
class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    // cachePath: the history cache to open; empty for ConsoleSettings::cachePath() without a
    // network (the CachePath setting, or the shared default).
    explicit MainWindow(ConsoleSettings &settings, const QString &cachePath = QString(),
                        QWidget *parent = nullptr);
    ~MainWindow() override;

    // Connects with the profile once its identity and membership are loaded (on a worker
    // thread) and the cache has agreed to hold this network's history and said where each
    // stream resumes. False with a message if the profile's CA cannot be read; an identity that
    // does not load, or a cache that belongs to another network, refuses later, through
    // sessionRefused().
    bool connectTo(const SessionProfile &profile, QString *error);
    // Offline: loads the membership (on a worker thread) that certificates and block proofs in
    // the cache are checked against, without connecting. A connectTo() brings its own.
    void browseWithMembership(const QString &membershipPath);

    // For tests and the language menu.
    void setLanguage(const QString &language);
    ConsoleSession &session() { return *consoleSession; }
    TallyTracker &tallies() { return *tallyTracker; }
    FeedModel *feedModel() const { return feed; }
    DecisionsModel *decisionsModel() const { return decisions; }
    ReceiversModel *receiversModel() const { return receivers; }
    ReceiversView *receiversView() const { return receiversPanel; }
    AlertsModel *alertsModel() const { return alerts; }
    NodesModel *nodesModel() const { return nodes; }
    VoteHistogramWidget *ticketHistogram() const { return histogram; }
    DecisionDetailPane *decisionDetail() const { return detail; }
    QString cachePath() const { return cacheFile; }
    bool cacheReady() const { return cacheIsOpen; }
    // Starts an export without the dialog (tests); the exporter's signals report the outcome.
    ReportExporter *exporter() const { return reportExporter; }
    void startExport(int format, const QString &path, qint64 fromMs, qint64 toMs, const QString &outcome);

Q_SIGNALS:
    void cacheOpened(bool ok, const QString &message);
    // The session was not started: the cache holds another network's history, or the
    // identity could not be loaded. The reason is also shown to the operator.
    void sessionRefused(const QString &reason);
    void commandFinished(const QString &command, bool ok, const QString &text);

protected:
    void closeEvent(QCloseEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    void buildUi();
    void buildMenus();
    void retranslateUi();
    void restoreLayout();
    void openCache();
    void onCacheOpened(bool ok, const QString &message);
    void onEvents(const QString &nodeId, const QList<QJsonObject> &events);
    void onLink(const NodeLinkState &state);
    void onDecisionSelected();
    // Reads the decision from the cache for the detail pane (onDecisionReady goes on).
    void showCachedDecision(const QByteArray &digest);
    // Asks the decision's node for its certificate and block proof (`decisions`), keeps what holds
    // in the cache, and shows it; knownCertificate is what the cache already had.
    void fetchDecisionEvidence(const QString &node, const QByteArray &digest, const QJsonObject &summary,
                               const QList<QByteArray> &confirmations, const QByteArray &knownCertificate);
    void onDecisionReady(quint64 requestId, const DecisionRow &row,
                         const QList<ConfirmationRow> &confirmations, bool found);
    void showTicketTally(const QString &digestHex);
    void runCommand(const QString &command, const QJsonObject &request);
    void applyFeedFilter();
    void applyDecisionFilter();
    void exportReport();
    void updateFreshness();
    // Reads the settings the views use (the staleness thresholds); again whenever one changes.
    void applySettings();
    // Loads the pending profile's identity and membership on a worker thread, then goes on with
    // onSessionFilesLoaded().
    void loadSessionFiles();
    void onSessionFilesLoaded(quint64 load, const SessionFiles &files);
    // Goes on with the pending profile once both its files and the cache's opening are done.
    void connectWhenReady();
    void onIngested(const QString &node, qint64 lastSeq, const IngestReport &report);
    // An export: certificates the cache lacks (bundles only), a flush, then the exporter.
    void fetchCertificates();
    void fetchNextCertificates();
    void exportWhenFlushed();
    void cancelExport();
    // Asks the cache to take this network, then starts the session (or refuses) with its answer.
    void bindCacheAndStart();
    void startSession(const QString &refusal, const QHash<QString, qint64> &cursors);
    void refuseSession(const QString &reason);

    ConsoleSettings &settings;
    QString cacheFile;
    bool cacheIsOpen = false;
    bool cacheAnswered = false; // the cache opened, or failed to
    std::optional<SessionProfile> pendingProfile;
    NetworkIdentity pendingNetwork;
    quint64 filesLoad = 0; // the newest load; an older one's result is dropped
    bool filesLoading = false;
    std::optional<TlsIdentity> pendingIdentity;
    QString pendingIdentityError;
    qint64 sourceStaleAfterMs = 0; // ConsoleSettings::StaleAfterSeconds, as applied
    static constexpr int kResumeDelayMs = 1000;
    // Certificates asked for at once, in pages of kCertificatesPerRequest.
    static constexpr int kCertificatesInFlight = 400;
    static constexpr int kCertificatesPerRequest = 200;
    static constexpr int kMaxCertificatesFetched = 200000;
    ReportRequest pendingExport;
    bool exportPreparing = false;
    bool exportCancelled = false;
    bool sourceLinkUp = false;
    bool staleSpell = false; // the event source has been silent past StaleAfterSeconds
    QList<QByteArray> certificatesWanted;
    int certificatesTotal = 0;
    int certificatesInFlight = 0;
    int certificateProblems = 0;
    QString firstCertificateProblem;
    static constexpr int kMaxResumeDelayMs = 30000;
    QHash<QString, qint64> resumeFrom; // nodes whose stream restarts at the cursor, shortly
    QHash<QString, int> resumeDelayMs; // grows while the cache keeps refusing a node's events
    CacheThread *cache = nullptr;
    ConsoleSession *consoleSession = nullptr;
    TallyTracker *tallyTracker = nullptr;
    std::shared_ptr<const Membership> membership;
    QTranslator *translator = nullptr;
    QTranslator *qtTranslator = nullptr;

    // views and models
    QTabWidget *tabs = nullptr;
    FeedModel *feed = nullptr;
    QTableView *feedView = nullptr;
    QLineEdit *feedTicket = nullptr;
    QLineEdit *feedBranch = nullptr;
    QLineEdit *feedTarget = nullptr;
    QComboBox *feedState = nullptr;
    QComboBox *feedPeriod = nullptr;
    QCheckBox *feedPause = nullptr;
    QCheckBox *feedFollow = nullptr;
    DecisionsModel *decisions = nullptr;
    QTableView *decisionsView = nullptr;
    QComboBox *decisionOutcome = nullptr;
    QComboBox *decisionPeriod = nullptr;
    QLineEdit *decisionTicket = nullptr;
    QSplitter *decisionSplitter = nullptr;
    DecisionDetailPane *detail = nullptr;
    ReceiversModel *receivers = nullptr;
    ReceiversView *receiversPanel = nullptr;
    AlertsModel *alerts = nullptr;
    AlertsView *alertsPanel = nullptr;
    NodesModel *nodes = nullptr;
    QTableView *nodesView = nullptr;
    VoteHistogramWidget *histogram = nullptr;
    VoteHistogramWidget *aggregate = nullptr;
    QLabel *histogramSource = nullptr;
    QLabel *freshness = nullptr;
    QLabel *alertBadge = nullptr;
    ReportExporter *reportExporter = nullptr;
    QString followedDigest; // the histogram follows the newest write-off unless one is selected
    quint64 decisionRequest = 0;
    QHash<QString, QAction *> actions;
    QTimer *freshnessTimer = nullptr;
    static constexpr int kTallyRefreshMs = 100;
    QTimer *tallyRefresh = nullptr;
    QString pendingTallyDigest; // the newest changed tally the histogram should show
    bool aggregatePending = false;
};

} // namespace ticketsync
