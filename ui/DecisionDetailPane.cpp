#include "DecisionDetailPane.h"

#include "ConfirmationState.h"
#include "Decision.h"
#include "Membership.h"
#include "ReceiversModel.h"
#include "VoteHistogramWidget.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QEvent>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QLocale>
#include <QLoggingCategory>
#include <QPointer>
#include <QProgressBar>
#include <QSet>
#include <QStandardItemModel>
#include <QTableView>
#include <QThreadPool>
#include <QVBoxLayout>

#include <algorithm>

Q_LOGGING_CATEGORY(lcDetailPane, "ticketsync.ui.detail", QtWarningMsg)

namespace ticketsync {

namespace {

const QString kMark = QStringLiteral("\u2713");
const QString kCross = QStringLiteral("\u2717");

// The state field comes as a name from the API and as a code from cache rows.
QString stateField(const QJsonValue &value)
{
    if (value.isDouble()) {
        const qint64 code = value.toInteger();
        return code > 0 && code <= 0xffff ? stateName(quint16(code)) : QString();
    }
    return value.toString();
}

QString amountText(qint64 minor, const QString &currency)
{
    const QLocale locale;
    const qint64 major = minor / 100;
    const qint64 cents = qAbs(minor % 100);
    QString text = (minor < 0 && major == 0 ? QStringLiteral("-") : QString()) + locale.toString(major) +
                   locale.decimalPoint() + QStringLiteral("%1").arg(cents, 2, 10, QLatin1Char('0'));
    return currency.isEmpty() ? text : text + QLatin1Char(' ') + currency;
}

// The worker's job: decode, check every signature and the certificate. Runs off the GUI thread.
DecisionDetailPane::Result verify(quint64 generation, const QString &digestHex,
                                  const QByteArray &certificateBytes, const QList<QByteArray> &confirmations,
                                  const std::shared_ptr<const Membership> &membership)
{
    DecisionDetailPane::Result result;
    result.generation = generation;
    result.digest = digestHex;
    QByteArray writeOffDigest = QByteArray::fromHex(digestHex.toLatin1());

    std::optional<Decision> decision;
    if (certificateBytes.isEmpty()) {
        result.check = DecisionDetailPane::CertificateCheck::Missing;
    } else {
        QString error;
        decision = Decision::decode(certificateBytes, &error);
        if (!decision) {
            result.check = DecisionDetailPane::CertificateCheck::Invalid;
            result.certificateProblem =
                DecisionDetailPane::tr("the certificate cannot be decoded: %1").arg(error);
        } else {
            const QByteArray certificateDigest = decision->writeOff.digest();
            if (!writeOffDigest.isEmpty() && certificateDigest != writeOffDigest) {
                result.check = DecisionDetailPane::CertificateCheck::Invalid;
                result.certificateProblem =
                    DecisionDetailPane::tr("the certificate is for write-off %1, not %2")
                        .arg(QString::fromLatin1(certificateDigest.toHex()), digestHex);
            } else if (!membership) {
                result.check = DecisionDetailPane::CertificateCheck::Unchecked;
            } else if (const QString problem = decision->verifyCertificate(*membership); problem.isEmpty()) {
                result.check = DecisionDetailPane::CertificateCheck::Valid;
            } else {
                result.check = DecisionDetailPane::CertificateCheck::Invalid;
                result.certificateProblem = problem;
            }
            if (writeOffDigest.isEmpty())
                writeOffDigest = certificateDigest;
            QJsonObject histogram;
            for (const StateCount &count : decision->histogram)
                histogram.insert(stateName(count.stateCode), qint64(count.count));
            result.decoded = QJsonObject{
                {QStringLiteral("write_off_digest"), QString::fromLatin1(certificateDigest.toHex())},
                {QStringLiteral("ticket"), decision->writeOff.ticketId},
                {QStringLiteral("version"), qint64(decision->writeOff.ticketVersion)},
                {QStringLiteral("branch"), decision->writeOff.branchId},
                {QStringLiteral("amount_minor"), decision->writeOff.amountMinor},
                {QStringLiteral("currency"), decision->writeOff.currency},
                {QStringLiteral("outcome"), outcomeName(decision->outcome)},
                {QStringLiteral("state"),
                 decision->outcome == Outcome::Decided ? stateName(decision->decidedState) : QString()},
                {QStringLiteral("histogram"), histogram},
                {QStringLiteral("n"), qint64(decision->targetCount)},
                {QStringLiteral("q"), qint64(decision->quorum)},
                {QStringLiteral("issued_at_ms"), decision->writeOff.issuedAtMs},
                {QStringLiteral("decided_at_ms"), decision->decidedAtMs},
            };
        }
    }

    // Every distinct confirmation, from the list and from the certificate.
    struct Found
    {
        StateConfirmation confirmation;
        bool inCertificate = false;
    };
    QList<Found> found;
    QList<DecisionDetailPane::VoteRow> undecodable;
    for (const QByteArray &bytes : confirmations) {
        QString error;
        const std::optional<StateConfirmation> confirmation = StateConfirmation::decode(bytes, &error);
        if (!confirmation) {
            DecisionDetailPane::VoteRow row;
            row.target = QStringLiteral("?");
            row.hasVote = true;
            row.problem = DecisionDetailPane::tr("cannot be decoded: %1").arg(error);
            undecodable.append(row);
            continue;
        }
        const bool known = std::any_of(found.cbegin(), found.cend(),
                                       [&](const Found &f) { return f.confirmation == *confirmation; });
        if (!known)
            found.append({*confirmation, false});
    }
    if (decision) {
        for (const StateConfirmation &confirmation : decision->confirmations) {
            auto it = std::find_if(found.begin(), found.end(),
                                   [&](const Found &f) { return f.confirmation == confirmation; });
            if (it != found.end())
                it->inCertificate = true;
            else
                found.append({confirmation, true});
        }
    }

    QHash<QString, QList<DecisionDetailPane::VoteRow>> byTarget;
    for (const Found &f : std::as_const(found)) {
        DecisionDetailPane::VoteRow row;
        row.target = f.confirmation.targetId;
        row.state = stateName(f.confirmation.stateCode);
        row.reason = f.confirmation.reason;
        row.hasVote = true;
        row.inCertificate = f.inCertificate;
        if (!writeOffDigest.isEmpty() && f.confirmation.writeOffDigest != writeOffDigest)
            row.problem = DecisionDetailPane::tr("confirms another write-off");
        else if (!membership)
            row.problem = DecisionDetailPane::tr("no membership to check against");
        else
            row.problem = f.confirmation.verify(*membership);
        row.signatureValid = row.problem.isEmpty();
        byTarget[row.target].append(row);
    }

    QStringList targets;
    if (membership) {
        for (const Member &member : membership->withRole(Role::Target))
            targets.append(member.id);
    }
    std::sort(targets.begin(), targets.end());
    for (const QString &target : std::as_const(targets)) {
        const QList<DecisionDetailPane::VoteRow> rows = byTarget.take(target);
        if (rows.isEmpty()) {
            DecisionDetailPane::VoteRow row;
            row.target = target;
            result.rows.append(row);
        } else {
            result.rows.append(rows);
        }
    }
    // Signers outside the membership's targets come last.
    QStringList others = byTarget.keys();
    std::sort(others.begin(), others.end());
    for (const QString &other : std::as_const(others))
        result.rows.append(byTarget.value(other));
    result.rows.append(undecodable);
    return result;
}

} // namespace

DecisionDetailPane::DecisionDetailPane(QWidget *parent)
    : QWidget(parent), title(new QLabel(this)), certificateLabel(new QLabel(this)),
      busy(new QProgressBar(this)), votes(new QStandardItemModel(0, VoteColumnCount, this)),
      votesView(new QTableView(this)), latest(std::make_shared<std::atomic<quint64>>(0))
{
    QFont titleFont = title->font();
    titleFont.setBold(true);
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.2);
    title->setFont(titleFont);
    title->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto *form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    for (const char *key : {"ticket", "version", "branch", "amount", "outcome", "state", "count", "quorum",
                            "time", "height", "source", "digest"}) {
        auto *name = new QLabel(this);
        auto *value = new QLabel(this);
        value->setTextInteractionFlags(Qt::TextSelectableByMouse);
        value->setWordWrap(true);
        fields.append({QLatin1String(key), value});
        fieldNames.append(name);
        form->addRow(name, value);
    }

    certificateLabel->setWordWrap(true);
    certificateLabel->setAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    certificateLabel->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    certificateLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    busy->setRange(0, 0);
    busy->setTextVisible(false);
    busy->setMaximumHeight(fontMetrics().height());
    busy->setMaximumWidth(fontMetrics().horizontalAdvance(u'M') * 8);
    busy->hide();
    auto *certificateLine = new QHBoxLayout;
    certificateLine->addWidget(busy);
    certificateLine->addWidget(certificateLabel, 1);

    votesView->setModel(votes);
    votesView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    votesView->setSelectionBehavior(QAbstractItemView::SelectRows);
    votesView->verticalHeader()->hide();
    votesView->horizontalHeader()->setStretchLastSection(true);
    votesView->setWordWrap(false);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(title);
    layout->addLayout(form);
    layout->addLayout(certificateLine);
    layout->addWidget(votesView, 1);

    retranslate();
    clear();
}

DecisionDetailPane::~DecisionDetailPane()
{
    // A running check finds no pane to report to; it only holds its own copies.
    latest->store(0);
}

void DecisionDetailPane::retranslate()
{
    const QStringList names = {tr("Ticket"),          tr("Version"),     tr("Branch"),
                               tr("Amount"),          tr("Outcome"),     tr("State"),
                               tr("Votes (count/n)"), tr("Quorum (q)"),  tr("Time to quorum"),
                               tr("Block height"),    tr("Source node"), tr("Write-off digest")};
    for (qsizetype i = 0; i < fieldNames.size() && i < names.size(); ++i)
        fieldNames.at(i)->setText(names.at(i) + QLatin1Char(':'));
    votes->setHorizontalHeaderLabels(
        {tr("Target"), tr("Vote"), tr("Reason"), tr("Signature check"), tr("In certificate")});
    if (!shownSummary.isEmpty())
        setHeader(shownSummary);
    updateCertificateLabel();
}

void DecisionDetailPane::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::LanguageChange)
        retranslate();
    QWidget::changeEvent(event);
}

QString DecisionDetailPane::headerValue(const QString &field) const
{
    for (const auto &[key, label] : fields) {
        if (key == field)
            return label->text();
    }
    return {};
}

void DecisionDetailPane::clear()
{
    latest->store(++generation);
    digest.clear();
    shownSummary = QJsonObject();
    shownMembership.reset();
    check = CertificateCheck::None;
    certificateProblem.clear();
    title->setText(tr("No decision selected"));
    for (const auto &field : std::as_const(fields))
        field.second->clear();
    votes->removeRows(0, votes->rowCount());
    busy->hide();
    updateCertificateLabel();
}

void DecisionDetailPane::setHeader(const QJsonObject &summary)
{
    auto set = [this](const char *key, const QString &text) {
        for (const auto &field : std::as_const(fields)) {
            if (field.first == QLatin1String(key))
                field.second->setText(text);
        }
    };
    const QString ticket = summary.value(u"ticket").toString();
    const QString outcome = summary.value(u"outcome").toString();
    const QString state = stateField(summary.value(u"state"));
    const qint64 n = summary.value(u"n").toInteger(0);
    const qint64 q = summary.value(u"q").toInteger(0);
    const QJsonObject histogram = summary.value(u"histogram").toObject();
    qint64 count = summary.value(u"count").toInteger(-1);
    if (count < 0 && !state.isEmpty())
        count = histogram.value(state).toInteger(0);
    if (count < 0) {
        count = 0;
        for (auto it = histogram.constBegin(); it != histogram.constEnd(); ++it)
            count = std::max(count, it.value().toInteger(0));
    }

    //: Detail pane title: ticket id and write-off version.
    title->setText(ticket.isEmpty()
                       ? tr("Decision")
                       : tr("Ticket %1, version %2").arg(ticket).arg(summary.value(u"version").toInteger(0)));
    set("ticket", ticket);
    set("version",
        summary.contains(u"version") ? QString::number(summary.value(u"version").toInteger(0)) : QString());
    set("branch", summary.value(u"branch").toString());
    set("amount", summary.contains(u"amount_minor") ? amountText(summary.value(u"amount_minor").toInteger(0),
                                                                 summary.value(u"currency").toString())
                                                    : QString());
    set("outcome", outcome);
    set("state",
        state.isEmpty() ? (outcome == QLatin1String("UNDETERMINED") ? tr("none") : QString()) : state);
    set("count", n > 0 ? tr("%1 of %2").arg(count).arg(n) : QString());
    set("quorum", q > 0 ? QString::number(q) : QString());

    qint64 elapsed = summary.value(u"latency_ms").toInteger(-1);
    const qint64 issued = summary.value(u"issued_at_ms").toInteger(0);
    const qint64 decided = summary.value(u"decided_at_ms").toInteger(0);
    if (elapsed < 0 && issued > 0 && decided >= issued)
        elapsed = decided - issued;
    set("time", elapsed >= 0 ? ReceiversModel::formatDuration(elapsed) : QString());

    const qint64 height = summary.value(u"height").toInteger(0);
    set("height", height > 0 ? QString::number(height) : tr("not in a block yet"));
    QString source = summary.value(u"node").toString();
    if (source.isEmpty())
        source = summary.value(u"source_node").toString();
    set("source", source.isEmpty() ? tr("unknown") : source);
    set("digest", digest);

    QPalette outcomePalette = palette();
    if (outcome == QLatin1String("DECIDED") && !state.isEmpty())
        outcomePalette.setColor(QPalette::WindowText, VoteHistogramWidget::stateColour(state));
    else if (outcome == QLatin1String("UNDETERMINED"))
        outcomePalette.setColor(QPalette::WindowText, QColor(0xb2, 0x6a, 0x00));
    for (const auto &field : std::as_const(fields)) {
        if (field.first == QLatin1String("outcome") || field.first == QLatin1String("state"))
            field.second->setPalette(outcomePalette);
    }
}

void DecisionDetailPane::showPendingRows()
{
    votes->removeRows(0, votes->rowCount());
    if (!shownMembership)
        return;
    QStringList targets;
    for (const Member &member : shownMembership->withRole(Role::Target))
        targets.append(member.id);
    std::sort(targets.begin(), targets.end());
    for (const QString &target : std::as_const(targets)) {
        QList<QStandardItem *> row;
        row.append(new QStandardItem(target));
        row.append(new QStandardItem(QStringLiteral("\u2026")));
        row.append(new QStandardItem());
        row.append(new QStandardItem(tr("checking\u2026")));
        row.append(new QStandardItem());
        votes->appendRow(row);
    }
}

void DecisionDetailPane::showDecision(const QJsonObject &summary, const QByteArray &certificateBytes,
                                      const QList<QByteArray> &confirmations,
                                      std::shared_ptr<const Membership> membership)
{
    QString shownDigest = summary.value(u"write_off_digest").toString();
    if (shownDigest.isEmpty())
        shownDigest = summary.value(u"digest").toString();
    digest = shownDigest.toLower();
    shownSummary = summary;
    shownMembership = membership;
    certificateProblem.clear();
    check = CertificateCheck::Pending;
    const quint64 request = ++generation;
    latest->store(request);
    setHeader(summary);
    showPendingRows();
    busy->show();
    updateCertificateLabel();

    QPointer<DecisionDetailPane> guard(this);
    std::shared_ptr<std::atomic<quint64>> wanted = latest;
    const QString digestHex = digest;
    QThreadPool::globalInstance()->start(
        [guard, wanted, request, digestHex, certificateBytes, confirmations, membership] {
            if (wanted->load() != request)
                return; // the pane moved on before this job started
            Result result = verify(request, digestHex, certificateBytes, confirmations, membership);
            QMetaObject::invokeMethod(
                QCoreApplication::instance(),
                [guard, result] {
                    if (guard)
                        guard->applyResult(result);
                },
                Qt::QueuedConnection);
        });
}

void DecisionDetailPane::applyResult(const Result &result)
{
    // Only for what is still shown: the user may have picked another decision meanwhile.
    if (result.generation != generation || result.digest != digest)
        return;
    busy->hide();
    check = result.check;
    certificateProblem = result.certificateProblem;

    if (!result.decoded.isEmpty()) {
        // Fill what the summary lacked from the certificate itself.
        QJsonObject merged = shownSummary;
        for (auto it = result.decoded.constBegin(); it != result.decoded.constEnd(); ++it) {
            if (!merged.contains(it.key()))
                merged.insert(it.key(), it.value());
        }
        if (digest.isEmpty())
            digest = result.decoded.value(u"write_off_digest").toString();
        shownSummary = merged;
        setHeader(merged);
    }

    votes->removeRows(0, votes->rowCount());
    QHash<QString, QSet<QString>> statesByTarget;
    for (const VoteRow &row : result.rows) {
        if (row.hasVote && !row.state.isEmpty())
            statesByTarget[row.target].insert(row.state);
    }
    const QColor good(0x2e, 0x7d, 0x32);
    const QColor bad(0xc6, 0x28, 0x28);
    for (const VoteRow &row : result.rows) {
        QList<QStandardItem *> items;
        items.append(new QStandardItem(row.target));
        auto *vote = new QStandardItem;
        if (!row.hasVote) {
            vote->setText(tr("no vote"));
            vote->setForeground(QColor(0x75, 0x75, 0x75));
        } else if (row.state.isEmpty()) {
            vote->setText(tr("unreadable"));
        } else {
            const bool equivocated = statesByTarget.value(row.target).size() > 1;
            vote->setText(equivocated ? tr("%1 (equivocation)").arg(row.state) : row.state);
            vote->setData(VoteHistogramWidget::stateColour(row.state), Qt::DecorationRole);
            if (equivocated)
                vote->setToolTip(tr("%1 signed more than one state for this write-off").arg(row.target));
        }
        items.append(vote);
        items.append(new QStandardItem(row.reason));
        auto *signature = new QStandardItem;
        if (!row.hasVote) {
            signature->setText(QStringLiteral("\u2014"));
        } else if (row.signatureValid) {
            signature->setText(tr("%1 valid").arg(kMark));
            signature->setForeground(good);
        } else {
            signature->setText(tr("%1 %2").arg(kCross, row.problem));
            signature->setForeground(bad);
            signature->setToolTip(row.problem);
        }
        items.append(signature);
        items.append(new QStandardItem(row.inCertificate ? tr("yes") : QString()));
        votes->appendRow(items);
    }
    votesView->resizeColumnsToContents();
    updateCertificateLabel();
    qCDebug(lcDetailPane) << "checked" << result.rows.size() << "rows of" << digest.left(16);
    Q_EMIT verificationFinished(digest, check == CertificateCheck::Valid, certificateStatus());
}

QString DecisionDetailPane::certificateStatus() const
{
    switch (check) {
    case CertificateCheck::None:
        return {};
    case CertificateCheck::Pending:
        return tr("Verifying the certificate and signatures locally\u2026");
    case CertificateCheck::Missing:
        return tr("No certificate fetched for this write-off yet; the votes are checked one by one.");
    case CertificateCheck::Unchecked:
        return tr("Certificate not verified: the membership is not known yet.");
    case CertificateCheck::Valid:
        //: The quorum certificate (法定人数证书) was checked by this console through core.
        return tr("Certificate verified locally: valid");
    case CertificateCheck::Invalid:
        return tr("Certificate verified locally: INVALID \u2014 %1").arg(certificateProblem);
    }
    return {};
}

void DecisionDetailPane::updateCertificateLabel()
{
    QPalette labelPalette = palette();
    if (check == CertificateCheck::Valid)
        labelPalette.setColor(QPalette::WindowText, QColor(0x2e, 0x7d, 0x32));
    else if (check == CertificateCheck::Invalid)
        labelPalette.setColor(QPalette::WindowText, QColor(0xc6, 0x28, 0x28));
    certificateLabel->setPalette(labelPalette);
    const QString mark = check == CertificateCheck::Valid     ? kMark + QLatin1Char(' ')
                         : check == CertificateCheck::Invalid ? kCross + QLatin1Char(' ')
                                                              : QString();
    certificateLabel->setText(mark + certificateStatus());
    setAccessibleDescription(certificateStatus());
}

} // namespace ticketsync
