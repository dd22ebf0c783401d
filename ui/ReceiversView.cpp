#include "ReceiversView.h"

#include "ReceiversModel.h"

#include <QAction>
#include <QEvent>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QLoggingCategory>
#include <QMenu>
#include <QMessageBox>
#include <QProgressBar>
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <limits>

Q_LOGGING_CATEGORY(lcReceiversView, "ticketsync.ui.receiversview", QtWarningMsg)

namespace ticketsync {

namespace {

bool isDigest(const QString &text)
{
    static const QRegularExpression hex(QStringLiteral("^[0-9a-fA-F]{64}$"));
    return hex.match(text).hasMatch();
}

} // namespace

ReceiversView::ReceiversView(ReceiversModel *model, QWidget *parent)
    : QWidget(parent), receivers(model), proxy(new QSortFilterProxyModel(this)), view(new QTableView(this)),
      roleNote(new QLabel(this)), busy(new QProgressBar(this)), status(new QLabel(this)),
      resyncButton(new QToolButton(this)), retryDeliveriesButton(new QToolButton(this)),
      retryUndeterminedButton(new QToolButton(this)), resync(new QAction(this)),
      retryDeliveries(new QAction(this)), retryUndetermined(new QAction(this))
{
    Q_ASSERT(model);
    proxy->setSourceModel(model);
    proxy->setSortRole(ReceiversModel::SortRole);
    view->setModel(proxy);
    view->setSortingEnabled(true);
    view->sortByColumn(ReceiversModel::ReceiverColumn, Qt::AscendingOrder);
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setSelectionMode(QAbstractItemView::SingleSelection);
    view->setAlternatingRowColors(true);
    view->setContextMenuPolicy(Qt::CustomContextMenu);
    view->verticalHeader()->hide();
    view->setWordWrap(false);
    // A few dozen rows at most, so fitting every column to its contents stays cheap.
    view->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    view->horizontalHeader()->setStretchLastSection(true);
    connect(view, &QWidget::customContextMenuRequested, this, &ReceiversView::showContextMenu);
    connect(view->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &ReceiversView::updateActions);
    connect(proxy, &QAbstractItemModel::modelReset, this, &ReceiversView::updateActions);
    connect(proxy, &QAbstractItemModel::rowsRemoved, this, &ReceiversView::updateActions);

    for (QToolButton *button : {resyncButton, retryDeliveriesButton, retryUndeterminedButton})
        button->setToolButtonStyle(Qt::ToolButtonTextOnly);
    resyncButton->setDefaultAction(resync);
    retryDeliveriesButton->setDefaultAction(retryDeliveries);
    retryUndeterminedButton->setDefaultAction(retryUndetermined);
    connect(resync, &QAction::triggered, this, &ReceiversView::onResync);
    connect(retryDeliveries, &QAction::triggered, this, &ReceiversView::onRetryDeliveries);
    connect(retryUndetermined, &QAction::triggered, this, &ReceiversView::onRetryUndetermined);

    roleNote->setWordWrap(true);
    roleNote->setFrameShape(QFrame::StyledPanel);
    roleNote->setMargin(fontMetrics().height() / 3);
    roleNote->setAutoFillBackground(true);
    QPalette notePalette = roleNote->palette();
    notePalette.setColor(QPalette::Window, QColor(0xff, 0xf8, 0xe1));
    notePalette.setColor(QPalette::WindowText, QColor(0x5d, 0x40, 0x37));
    roleNote->setPalette(notePalette);

    busy->setRange(0, 0); // indeterminate: the node answers once, with the outcome
    busy->setTextVisible(false);
    busy->setMaximumWidth(fontMetrics().horizontalAdvance(u'M') * 8);
    busy->setMaximumHeight(fontMetrics().height());
    busy->hide();
    status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    status->setWordWrap(true);

    auto *buttons = new QHBoxLayout;
    buttons->addWidget(resyncButton);
    buttons->addWidget(retryDeliveriesButton);
    buttons->addWidget(retryUndeterminedButton);
    buttons->addStretch();

    auto *statusLine = new QHBoxLayout;
    statusLine->addWidget(busy);
    statusLine->addWidget(status, 1);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(roleNote);
    layout->addLayout(buttons);
    layout->addWidget(view, 1);
    layout->addLayout(statusLine);

    confirm = [this](const QString &question) {
        return QMessageBox::question(this, tr("Confirm operator command"), question,
                                     QMessageBox::Yes | QMessageBox::Cancel,
                                     QMessageBox::Cancel) == QMessageBox::Yes;
    };
    askHeight = [this](const QString &receiver, qint64 suggested) -> std::optional<qint64> {
        bool ok = false;
        const int height =
            QInputDialog::getInt(this, tr("Re-sync from height"),
                                 tr("Send receiver %1 every block again from height:").arg(receiver),
                                 int(std::clamp<qint64>(suggested, 1, std::numeric_limits<int>::max())), 1,
                                 std::numeric_limits<int>::max(), 1, &ok);
        return ok ? std::optional<qint64>(height) : std::nullopt;
    };
    askDigest = [this](const QString &prefill) -> std::optional<QString> {
        bool ok = false;
        const QString digest =
            QInputDialog::getText(this, tr("Retry undetermined write-off"),
                                  tr("Write-off digest (64 hex digits):"), QLineEdit::Normal, prefill, &ok);
        return ok ? std::optional<QString>(digest.trimmed()) : std::nullopt;
    };

    retranslate();
    setOperatorRole(false, tr("The coordinator has not told the console its role yet."));
}

void ReceiversView::retranslate()
{
    resync->setText(tr("Re-sync from height\u2026"));
    retryDeliveries->setText(tr("Retry failed deliveries"));
    retryUndetermined->setText(tr("Retry undetermined write-off\u2026"));
    updateActions();
}

void ReceiversView::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::LanguageChange)
        retranslate();
    QWidget::changeEvent(event);
}

void ReceiversView::setOperatorRole(bool isOperator, const QString &reasonIfNot)
{
    operatorRole = isOperator;
    reason = isOperator ? QString()
             : reasonIfNot.isEmpty()
                 ? tr("Your certificate's role may only read; the commands are for operators.")
                 : reasonIfNot;
    roleNote->setText(tr("Read-only: %1").arg(reason));
    roleNote->setVisible(!isOperator);
    updateActions();
}

void ReceiversView::updateActions()
{
    const bool hasReceiver = !currentReceiver().isEmpty();
    resync->setEnabled(operatorRole && hasReceiver);
    retryDeliveries->setEnabled(operatorRole);
    retryUndetermined->setEnabled(operatorRole);
    if (!operatorRole) {
        for (QAction *action : {resync, retryDeliveries, retryUndetermined})
            action->setToolTip(reason);
        return;
    }
    resync->setToolTip(hasReceiver
                           ? tr("Make the coordinator send %1 every block again from a height you choose")
                                 .arg(currentReceiver())
                           : tr("Select a receiver first"));
    retryDeliveries->setToolTip(
        tr("Make the coordinator push blocks again to every receiver that is behind"));
    retryUndetermined->setToolTip(
        undetermined.isEmpty()
            ? tr("Restart the tally of an UNDETERMINED write-off, given its digest")
            : tr("Restart the tally of the UNDETERMINED write-off %1").arg(undetermined.left(16)));
}

void ReceiversView::setSelectedUndetermined(const QString &digest)
{
    undetermined = digest.trimmed().toLower();
    updateActions();
}

void ReceiversView::selectReceiver(const QString &receiver)
{
    const int sourceRow = receivers->rowOf(receiver);
    if (sourceRow < 0) {
        view->selectionModel()->clearSelection();
        view->setCurrentIndex(QModelIndex());
        updateActions();
        return;
    }
    const QModelIndex index = proxy->mapFromSource(receivers->index(sourceRow, 0));
    view->selectionModel()->setCurrentIndex(index,
                                            QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    updateActions();
}

QString ReceiversView::currentReceiver() const
{
    // The selected row, not merely the current one: focus alone makes a row current.
    if (!view->selectionModel())
        return {};
    const QModelIndexList selected = view->selectionModel()->selectedRows();
    return selected.isEmpty() ? QString() : selected.first().data(ReceiversModel::ReceiverRole).toString();
}

void ReceiversView::setConfirmer(Confirmer confirmer)
{
    confirm = std::move(confirmer);
}

void ReceiversView::setHeightPrompt(HeightPrompt prompt)
{
    askHeight = std::move(prompt);
}

void ReceiversView::setDigestPrompt(DigestPrompt prompt)
{
    askDigest = std::move(prompt);
}

void ReceiversView::onResync()
{
    if (!operatorRole)
        return;
    const QString receiver = currentReceiver();
    const int row = receivers->rowOf(receiver);
    const ReceiversModel::Receiver *entry = receivers->receiverAt(row);
    if (!entry) {
        showCommandOutcome(QStringLiteral("resync_receiver"), false, tr("Select a receiver to re-sync."));
        return;
    }
    const std::optional<qint64> height =
        askHeight ? askHeight(receiver, entry->ackedHeight + 1) : std::nullopt;
    if (!height)
        return;
    if (*height < 1) {
        showCommandOutcome(QStringLiteral("resync_receiver"), false,
                           tr("Height %1 is not valid; blocks start at height 1.").arg(*height));
        return;
    }
    //: Confirmation of the re-sync command; %1 receiver, %2 height, %3 its acknowledged height.
    const QString question =
        tr("Re-sync receiver %1 from height %2?\n\nThe coordinator will send %1 every block from height %2 "
           "onwards again (it has acknowledged height %3). The receiver verifies every block before storing "
           "it.")
            .arg(receiver)
            .arg(*height)
            .arg(entry->ackedHeight);
    if (!confirm || !confirm(question))
        return;
    qCInfo(lcReceiversView) << "re-sync of" << receiver << "from" << *height << "requested";
    Q_EMIT resyncRequested(receiver, *height);
}

void ReceiversView::onRetryDeliveries()
{
    if (!operatorRole)
        return;
    const QString question = tr(
        "Retry failed deliveries?\n\nThe coordinator will push blocks again to every receiver that has not "
        "acknowledged its head. Receivers that are in sync are not affected.");
    if (!confirm || !confirm(question))
        return;
    Q_EMIT retryDeliveriesRequested();
}

void ReceiversView::onRetryUndetermined()
{
    if (!operatorRole)
        return;
    // Always asked, so a digest copied from an alert can be given; one selected in the decisions
    // view is filled in.
    const std::optional<QString> answer = askDigest                 ? askDigest(undetermined)
                                          : !undetermined.isEmpty() ? std::optional<QString>(undetermined)
                                                                    : std::nullopt;
    if (!answer)
        return;
    const QString digest = answer->trimmed().toLower();
    if (!isDigest(digest)) {
        showCommandOutcome(QStringLiteral("retry_undetermined"), false,
                           tr("'%1' is not a write-off digest: it must be 64 hex digits.").arg(digest));
        return;
    }
    //: Confirmation of the retry-undetermined command; %1 is the write-off digest.
    const QString question = tr("Retry the UNDETERMINED write-off %1?\n\nThe coordinator will restart its "
                                "tally and ask every target "
                                "again. If it was decided meanwhile, nothing happens.")
                                 .arg(digest);
    if (!confirm || !confirm(question))
        return;
    Q_EMIT retryUndeterminedRequested(digest);
}

void ReceiversView::showContextMenu(const QPoint &pos)
{
    const QModelIndex index = view->indexAt(pos);
    if (index.isValid())
        view->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect |
                                                           QItemSelectionModel::Rows);
    QMenu menu(this);
    menu.addAction(resync);
    menu.addAction(retryDeliveries);
    menu.addAction(retryUndetermined);
    if (!operatorRole) {
        menu.addSeparator();
        QAction *why = menu.addAction(reason);
        why->setEnabled(false);
    }
    menu.exec(view->viewport()->mapToGlobal(pos));
}

QString ReceiversView::commandTitle(const QString &command)
{
    if (command == QLatin1String("resync_receiver"))
        return tr("Re-sync");
    if (command == QLatin1String("retry_deliveries"))
        return tr("Retry failed deliveries");
    if (command == QLatin1String("retry_undetermined"))
        return tr("Retry undetermined write-off");
    return command;
}

void ReceiversView::showCommandProgress(const QString &command, const QString &text)
{
    busy->show();
    status->setPalette(palette());
    status->setText(tr("%1: %2").arg(commandTitle(command), text));
}

void ReceiversView::showCommandOutcome(const QString &command, bool ok, const QString &text)
{
    busy->hide();
    QPalette statusPalette = palette();
    statusPalette.setColor(QPalette::WindowText, ok ? QColor(0x2e, 0x7d, 0x32) : QColor(0xc6, 0x28, 0x28));
    status->setPalette(statusPalette);
    //: Outcome of an operator command: a check or cross mark, the command, what the node said.
    status->setText(
        tr("%1 %2: %3")
            .arg(ok ? QStringLiteral("\u2713") : QStringLiteral("\u2717"), commandTitle(command), text));
}

QString ReceiversView::statusText() const
{
    return status->text();
}

bool ReceiversView::isBusy() const
{
    return !busy->isHidden();
}

} // namespace ticketsync
