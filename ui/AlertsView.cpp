#include "AlertsView.h"

#include "AlertsModel.h"

#include <QAction>
#include <QCheckBox>
#include <QDateTime>
#include <QEvent>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QLoggingCategory>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

Q_LOGGING_CATEGORY(lcAlertsView, "ticketsync.ui.alertsview", QtWarningMsg)

namespace ticketsync {

namespace {

// Hides acknowledged alerts unless asked to show them.
class AcknowledgedFilter : public QSortFilterProxyModel
{
public:
    using QSortFilterProxyModel::QSortFilterProxyModel;

    void setShowAcknowledged(bool show)
    {
        if (show == showAcknowledged)
            return;
        showAcknowledged = show;
        invalidateFilter();
    }
    bool showsAcknowledged() const { return showAcknowledged; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override
    {
        if (showAcknowledged)
            return true;
        const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
        return !index.data(AlertsModel::AcknowledgedRole).toBool();
    }

private:
    bool showAcknowledged = false;
};

} // namespace

AlertsView::AlertsView(AlertsModel *model, QWidget *parent)
    : QWidget(parent), alerts(model), proxy(new AcknowledgedFilter(this)), view(new QTableView(this)),
      badge(new QLabel(this)), showAll(new QCheckBox(this)), acknowledgeButton(new QToolButton(this)),
      acknowledge(new QAction(this))
{
    Q_ASSERT(model);
    proxy->setSourceModel(model);
    proxy->setSortRole(AlertsModel::SortRole);
    view->setModel(proxy);
    view->setSortingEnabled(true);
    view->sortByColumn(AlertsModel::RaisedColumn, Qt::DescendingOrder);
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    view->setContextMenuPolicy(Qt::ActionsContextMenu);
    view->addAction(acknowledge);
    view->verticalHeader()->hide();
    view->setWordWrap(false);
    view->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    view->horizontalHeader()->setSectionResizeMode(AlertsModel::DetailColumn, QHeaderView::Stretch);
    // Open alerts are bold: size the columns for bold text.
    QFont bold = font();
    bold.setBold(true);
    const QFontMetrics fm(bold);
    view->setColumnWidth(AlertsModel::KindColumn,
                         fm.horizontalAdvance(tr("Undetermined write-off")) + fm.height());
    view->setColumnWidth(AlertsModel::SubjectColumn, fm.horizontalAdvance(u'0') * 18);
    view->setColumnWidth(AlertsModel::RaisedColumn,
                         fm.horizontalAdvance(QLocale().toString(
                             QDateTime(QDate(2026, 12, 31), QTime(23, 59, 59)), QLocale::ShortFormat)) +
                             fm.height());
    view->setColumnWidth(AlertsModel::AcknowledgedColumn, fm.horizontalAdvance(u'M') * 16);

    acknowledge->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_K));
    acknowledge->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    acknowledgeButton->setDefaultAction(acknowledge);
    acknowledgeButton->setToolButtonStyle(Qt::ToolButtonTextOnly);
    connect(acknowledge, &QAction::triggered, this, &AlertsView::onAcknowledge);
    connect(view->selectionModel(), &QItemSelectionModel::selectionChanged, this, &AlertsView::updateActions);
    connect(proxy, &QAbstractItemModel::dataChanged, this, &AlertsView::updateActions);
    connect(proxy, &QAbstractItemModel::modelReset, this, &AlertsView::updateActions);
    connect(showAll, &QCheckBox::toggled, this, &AlertsView::setShowAcknowledged);
    connect(model, &AlertsModel::unacknowledgedCountChanged, this, &AlertsView::updateBadge);

    QFont badgeFont = badge->font();
    badgeFont.setBold(true);
    badge->setFont(badgeFont);

    auto *bar = new QHBoxLayout;
    bar->addWidget(badge);
    bar->addStretch();
    bar->addWidget(showAll);
    bar->addWidget(acknowledgeButton);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(bar);
    layout->addWidget(view, 1);

    currentUser = qEnvironmentVariable("USER", QStringLiteral("unknown"));
    askNote = [this](const QString &what) -> std::optional<QString> {
        bool ok = false;
        const QString note = QInputDialog::getText(this, tr("Acknowledge alert"),
                                                   tr("Acknowledge %1.\nNote (optional):").arg(what),
                                                   QLineEdit::Normal, QString(), &ok);
        return ok ? std::optional<QString>(note.trimmed()) : std::nullopt;
    };
    retranslate();
    updateBadge();
}

void AlertsView::retranslate()
{
    acknowledge->setText(tr("Acknowledge\u2026"));
    acknowledge->setToolTip(tr("Acknowledge the selected alerts, with an optional note for the trail"));
    showAll->setText(tr("Show acknowledged"));
    showAll->setToolTip(tr("Also list the closed alerts: those acknowledged by an operator, and those "
                           "resolved by themselves, such as a write-off decided after a retry"));
    updateBadge();
    updateActions();
}

void AlertsView::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::LanguageChange)
        retranslate();
    QWidget::changeEvent(event);
}

void AlertsView::setUser(const QString &who)
{
    currentUser = who;
}

void AlertsView::setShowAcknowledged(bool show)
{
    static_cast<AcknowledgedFilter *>(proxy)->setShowAcknowledged(show);
    if (showAll->isChecked() != show)
        showAll->setChecked(show);
    updateActions();
}

bool AlertsView::showsAcknowledged() const
{
    return static_cast<AcknowledgedFilter *>(proxy)->showsAcknowledged();
}

void AlertsView::setNotePrompt(NotePrompt prompt)
{
    askNote = std::move(prompt);
}

void AlertsView::setClock(std::function<qint64()> nowMs)
{
    clock = std::move(nowMs);
}

QString AlertsView::badgeText() const
{
    const int count = alerts->unacknowledgedCount();
    return count > 0 ? QString::number(count) : QString();
}

void AlertsView::updateBadge()
{
    const int count = alerts->unacknowledgedCount();
    badge->setText(count > 0 ? tr("%n unacknowledged alert(s)", "", count) : tr("No unacknowledged alerts"));
    setAccessibleDescription(badge->text());
    Q_EMIT badgeChanged(badgeText());
}

void AlertsView::updateActions()
{
    bool any = false;
    for (const QModelIndex &index : view->selectionModel()->selectedRows()) {
        if (!index.data(AlertsModel::AcknowledgedRole).toBool()) {
            any = true;
            break;
        }
    }
    acknowledge->setEnabled(any);
}

bool AlertsView::selectAlert(const QString &kind, const QString &subject)
{
    const int row = alerts->rowOf(kind, subject);
    if (row < 0)
        return false;
    const QModelIndex index = proxy->mapFromSource(alerts->index(row, 0));
    if (!index.isValid())
        return false;
    view->selectionModel()->setCurrentIndex(index,
                                            QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    view->scrollTo(index);
    updateActions();
    return true;
}

void AlertsView::onAcknowledge()
{
    // Collect by key first: acknowledging may filter rows out of the proxy.
    QList<QPair<QString, QString>> targets;
    for (const QModelIndex &index : view->selectionModel()->selectedRows()) {
        if (index.data(AlertsModel::AcknowledgedRole).toBool())
            continue;
        targets.append(
            {index.data(AlertsModel::KindRole).toString(), index.data(AlertsModel::SubjectRole).toString()});
    }
    if (targets.isEmpty())
        return;
    const QString what = targets.size() == 1
                             ? QStringLiteral("%1: %2").arg(AlertsModel::kindText(targets.first().first),
                                                            targets.first().second)
                             : tr("%n alert(s)", "", int(targets.size()));
    const std::optional<QString> note = askNote ? askNote(what) : std::optional<QString>(QString());
    if (!note)
        return;
    const qint64 at = clock ? clock() : QDateTime::currentMSecsSinceEpoch();
    for (const auto &[kind, subject] : std::as_const(targets)) {
        if (!alerts->acknowledge(alerts->rowOf(kind, subject), currentUser, *note, at))
            continue;
        qCInfo(lcAlertsView) << kind << subject << "acknowledged by" << currentUser;
        Q_EMIT acknowledged(kind, subject, currentUser, *note, at);
    }
    updateActions();
}

} // namespace ticketsync
