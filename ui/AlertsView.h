#pragma once

#include <QWidget>
#include <functional>
#include <optional>

class QAction;
class QCheckBox;
class QLabel;
class QSortFilterProxyModel;
class QTableView;
class QToolButton;

namespace ticketsync {

class AlertsModel;

// The alerts list: unacknowledged alerts in bold, a count badge, an "Acknowledge…" action
// asking for an optional note, and a toggle to show closed (acknowledged or resolved) alerts
// too. The view emits acknowledged() so the shell writes the trail to the cache.
class AlertsView : public QWidget
{
    Q_OBJECT

public:
    // Returns the note (possibly empty), or nothing if the user cancelled.
    using NotePrompt = std::function<std::optional<QString>(const QString &what)>;

    explicit AlertsView(AlertsModel *model, QWidget *parent = nullptr);

    AlertsModel *model() const { return alerts; }
    QTableView *table() const { return view; }
    QAction *acknowledgeAction() const { return acknowledge; }

    // Who acknowledges: the operator's name from the client certificate.
    void setUser(const QString &who);
    QString user() const { return currentUser; }

    void setShowAcknowledged(bool show);
    bool showsAcknowledged() const;

    void setNotePrompt(NotePrompt prompt);
    // For tests: the clock stamping acknowledgements (default: the system clock).
    void setClock(std::function<qint64()> nowMs);

    // The badge: the unacknowledged count, empty when there is none.
    QString badgeText() const;
    // Selects the row of this alert (in the proxy), if it is shown.
    bool selectAlert(const QString &kind, const QString &subject);

Q_SIGNALS:
    void acknowledged(const QString &kind, const QString &subject, const QString &who, const QString &note,
                      qint64 atMs);
    void badgeChanged(const QString &text);

protected:
    void changeEvent(QEvent *event) override;

private:
    void onAcknowledge();
    void updateBadge();
    void updateActions();
    void retranslate();

    AlertsModel *alerts;
    QSortFilterProxyModel *proxy;
    QTableView *view;
    QLabel *badge;
    QCheckBox *showAll;
    QToolButton *acknowledgeButton;
    QAction *acknowledge;
    QString currentUser;
    NotePrompt askNote;
    std::function<qint64()> clock;
};

} // namespace ticketsync
