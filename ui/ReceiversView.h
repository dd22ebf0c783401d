#pragma once

#include <QWidget>
#include <functional>
#include <optional>

class QAction;
class QLabel;
class QProgressBar;
class QSortFilterProxyModel;
class QTableView;
class QToolButton;

namespace ticketsync {

class ReceiversModel;

// The receivers table with the coordinator's three operator commands. It never talks to a
// node: each action asks its parameters, asks for confirmation, then emits a request signal
// the shell turns into an API command; the shell reports back through showCommandProgress /
// showCommandOutcome.
class ReceiversView : public QWidget
{
    Q_OBJECT

public:
    // Seams for the dialogs, so tests need no modal loop.
    using Confirmer = std::function<bool(const QString &question)>;
    using HeightPrompt = std::function<std::optional<qint64>(const QString &receiver, qint64 suggested)>;
    using DigestPrompt = std::function<std::optional<QString>(const QString &prefill)>;

    explicit ReceiversView(ReceiversModel *model, QWidget *parent = nullptr);

    ReceiversModel *model() const { return receivers; }
    QTableView *table() const { return view; }

    void setOperatorRole(bool isOperator, const QString &reasonIfNot = {});
    bool isOperator() const { return operatorRole; }
    QString disabledReason() const { return reason; }

    // An UNDETERMINED write-off picked elsewhere (the decisions table, an alert): "Retry
    // undetermined write-off…" then takes it without asking. An empty digest clears it.
    void setSelectedUndetermined(const QString &digest);
    QString selectedUndetermined() const { return undetermined; }

    void selectReceiver(const QString &receiver);
    QString currentReceiver() const;

    void setConfirmer(Confirmer confirmer);
    void setHeightPrompt(HeightPrompt prompt);
    void setDigestPrompt(DigestPrompt prompt);

    QAction *resyncAction() const { return resync; }
    QAction *retryDeliveriesAction() const { return retryDeliveries; }
    QAction *retryUndeterminedAction() const { return retryUndetermined; }

    // The status line: command is the API request type (resync_receiver, ...).
    void showCommandProgress(const QString &command, const QString &text);
    void showCommandOutcome(const QString &command, bool ok, const QString &text);
    QString statusText() const;
    bool isBusy() const;

    static QString commandTitle(const QString &command);

Q_SIGNALS:
    void resyncRequested(const QString &receiver, qint64 fromHeight);
    void retryDeliveriesRequested();
    void retryUndeterminedRequested(const QString &digest);

protected:
    void changeEvent(QEvent *event) override;

private:
    void onResync();
    void onRetryDeliveries();
    void onRetryUndetermined();
    void updateActions();
    void retranslate();
    void showContextMenu(const QPoint &pos);

    ReceiversModel *receivers;
    QSortFilterProxyModel *proxy;
    QTableView *view;
    QLabel *roleNote;
    QProgressBar *busy;
    QLabel *status;
    QToolButton *resyncButton;
    QToolButton *retryDeliveriesButton;
    QToolButton *retryUndeterminedButton;
    QAction *resync;
    QAction *retryDeliveries;
    QAction *retryUndetermined;

    bool operatorRole = false;
    QString reason;
    QString undetermined;
    Confirmer confirm;
    HeightPrompt askHeight;
    DigestPrompt askDigest;
};

} // namespace ticketsync
