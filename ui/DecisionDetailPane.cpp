#include "DecisionDetailPane.h"

#include "BlockHeader.h"
#include "ConfirmationState.h"
#include "Decision.h"
#include "InclusionProof.h"
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
#include <QJsonDocument>
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

// That the coordinator signed these very certificate bytes into a block. Runs off the GUI thread.
void verifyProof(const QByteArray &proofJson, const QByteArray &certificateBytes,
                 const Membership *membership, DecisionDetailPane::Result *result)
{
    using BlockCheck = DecisionDetailPane::BlockCheck;
    const auto invalid = [result](const QString &problem) {
        result->block = BlockCheck::Invalid;
        result->blockProblem = problem;
    };
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(proofJson, &parseError);
    if (!document.isObject())
        return invalid(parseError.error != QJsonParseError::NoError
                           ? DecisionDetailPane::tr("the proof is not JSON: %1 at offset %2")
                                 .arg(parseError.errorString())
                                 .arg(parseError.offset)
                           : DecisionDetailPane::tr("the proof is not a JSON object"));
    QString problem;
    const std::optional<InclusionProof> proof = InclusionProof::fromJson(document.object(), &problem);
    if (!proof)
        return invalid(DecisionDetailPane::tr("the proof does not decode: %1").arg(problem));
    if (certificateBytes.isEmpty())
        return invalid(DecisionDetailPane::tr("there are no certificate bytes to check it against"));
    if (!membership) {
        result->block = BlockCheck::Unchecked;
        return;
    }
    BlockHeader header;
    problem = proof->verify(certificateBytes, *membership, &header);
    if (!problem.isEmpty())
        return invalid(problem);
    result->block = BlockCheck::Proven;
    result->blockHeight = header.height;
    result->blockSigner = header.coordinatorId;
}

// The worker's job: decode, check every signature, the certificate and its block proof. Runs off
// the GUI thread.
DecisionDetailPane::Result verify(quint64 generation, const QString &digestHex,
                                  const QByteArray &certificateBytes, const QList<QByteArray> &confirmations,
                                  const std::shared_ptr<const Membership> &membership,
                                  const QByteArray &proofJson)
{
    DecisionDetailPane::Result result;
    result.generation = generation;
    result.digest = digestHex;
    if (!proofJson.isEmpty())
        verifyProof(proofJson, certificateBytes, membership.get(), &result);
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

    // A proof that holds for another write-off's certificate proves nothing about this one.
    if (result.block == DecisionDetailPane::BlockCheck::Proven && decision && !digestHex.isEmpty() &&
        decision->writeOff.digest() != QByteArray::fromHex(digestHex.toLatin1())) {
        result.block = DecisionDetailPane::BlockCheck::Invalid;
        result.blockProblem = DecisionDetailPane::tr("it shows write-off %1 in block %2, not %3")
                                  .arg(QString::fromLatin1(decision->writeOff.digest().toHex()))
                                  .arg(result.blockHeight)
                                  .arg(digestHex);
        result.blockHeight = 0;
        result.blockSigner.clear();
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
      blockLabel(new QLabel(this)), busy(new QProgressBar(this)),
      votes(new QStandardItemModel(0, VoteColumnCount, this)), votesView(new QTableView(this)),
      latest(std::make_shared<std::atomic<quint64>>(0))
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
    blockLabel->setObjectName(QStringLiteral("blockProof"));
    blockLabel->setWordWrap(true);
    blockLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
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
    layout->addWidget(blockLabel);
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
    updateBlockLabel();
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
    block = BlockCheck::None;
    blockProblem.clear();
    blockNode.clear();
    provenHeight = 0;
    provenSigner.clear();
    claimedHeight = 0;
    title->setText(tr("No decision selected"));
    for (const auto &field : std::as_const(fields))
        field.second->clear();
    votes->removeRows(0, votes->rowCount());
    busy->hide();
    updateCertificateLabel();
    updateBlockLabel();
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
    if (block == BlockCheck::Proven)
        set("height", QString::number(provenHeight));
    else if (block == BlockCheck::NotSealable)
        set("height", tr("none: not decided"));
    else
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
                                      std::shared_ptr<const Membership> membership, const QByteArray &proof)
{
    QString shownDigest = summary.value(u"write_off_digest").toString();
    if (shownDigest.isEmpty())
        shownDigest = summary.value(u"digest").toString();
    digest = shownDigest.toLower();
    shownSummary = summary;
    shownMembership = membership;
    certificateProblem.clear();
    check = CertificateCheck::Pending;
    claimedHeight = summary.value(u"height").toInteger(0);
    provenHeight = 0;
    provenSigner.clear();
    blockNode.clear();
    blockProblem.clear();
    if (!proof.isEmpty())
        block = BlockCheck::Pending;
    else if (summary.value(u"outcome").toString() == QLatin1String("UNDETERMINED"))
        block = BlockCheck::NotSealable;
    else {
        block = BlockCheck::Unavailable;
        blockProblem = tr("the history cache holds none for it");
    }
    const quint64 request = ++generation;
    latest->store(request);
    setHeader(summary);
    showPendingRows();
    busy->show();
    updateCertificateLabel();
    updateBlockLabel();

    QPointer<DecisionDetailPane> guard(this);
    std::shared_ptr<std::atomic<quint64>> wanted = latest;
    const QString digestHex = digest;
    QThreadPool::globalInstance()->start(
        [guard, wanted, request, digestHex, certificateBytes, confirmations, membership, proof] {
            if (wanted->load() != request)
                return; // the pane moved on before this job started
            Result result = verify(request, digestHex, certificateBytes, confirmations, membership, proof);
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
    const bool blockChecked = result.block != BlockCheck::None;
    if (blockChecked) {
        block = result.block;
        blockProblem = result.blockProblem;
        provenHeight = result.blockHeight;
        provenSigner = result.blockSigner;
    }

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
    }
    setHeader(shownSummary);

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
    updateBlockLabel();
    qCDebug(lcDetailPane) << "checked" << result.rows.size() << "rows of" << digest.left(16);
    Q_EMIT verificationFinished(digest, check == CertificateCheck::Valid, certificateStatus());
    if (blockChecked || block == BlockCheck::NotSealable)
        Q_EMIT blockCheckFinished(digest, block, blockStatus());
}

void DecisionDetailPane::showBlockFetching(const QString &node)
{
    if (digest.isEmpty() || block == BlockCheck::Pending || block == BlockCheck::Proven)
        return;
    blockNode = node;
    setBlock(BlockCheck::Fetching, QString());
}

void DecisionDetailPane::showBlockUnproven(const QString &digestHex, BlockCheck why, const QString &reason)
{
    // A proof at hand says more than any reason there is none.
    if (digestHex.toLower() != digest || block == BlockCheck::Pending || block == BlockCheck::Proven ||
        block == BlockCheck::Invalid || block == BlockCheck::Unchecked || block == BlockCheck::NotSealable)
        return;
    setBlock(why, reason);
    Q_EMIT blockCheckFinished(digest, block, blockStatus());
}

void DecisionDetailPane::setBlock(BlockCheck checkNow, const QString &reason)
{
    block = checkNow;
    blockProblem = reason;
    if (!shownSummary.isEmpty())
        setHeader(shownSummary);
    updateBlockLabel();
}

QString DecisionDetailPane::blockStatus() const
{
    switch (block) {
    case BlockCheck::None:
        return {};
    case BlockCheck::Fetching:
        //: The inclusion proof (区块包含证明): the block header, the coordinator's signature on it and the
        //: merkle path.
        return tr("Asking %1 for the block proof\u2026").arg(blockNode);
    case BlockCheck::Pending:
        return tr("Verifying the block proof locally\u2026");
    case BlockCheck::Proven: {
        //: %1 block height, %2 the coordinator's node id.
        QString text = tr("In block %1, signed by the coordinator %2: the header signature and the merkle "
                          "path to this certificate verified locally")
                           .arg(provenHeight)
                           .arg(provenSigner);
        if (claimedHeight > 0 && quint64(claimedHeight) != provenHeight)
            text += tr(" (the node reported block %1)").arg(claimedHeight);
        return text;
    }
    case BlockCheck::NotSealed:
        return tr("Not sealed into a block yet: %1").arg(blockProblem);
    case BlockCheck::NotSealable:
        return tr("Not in a block: only decided write-offs are sealed, and this one is UNDETERMINED.");
    case BlockCheck::Invalid:
        return tr("Block proof INVALID \u2014 %1").arg(blockProblem);
    case BlockCheck::Unavailable:
        return tr("Not proven to be in a block: %1").arg(blockProblem);
    case BlockCheck::Unchecked:
        return tr("Block proof not verified: the membership is not known yet.");
    }
    return {};
}

void DecisionDetailPane::updateBlockLabel()
{
    QPalette labelPalette = palette();
    if (block == BlockCheck::Proven)
        labelPalette.setColor(QPalette::WindowText, QColor(0x2e, 0x7d, 0x32));
    else if (block == BlockCheck::Invalid)
        labelPalette.setColor(QPalette::WindowText, QColor(0xc6, 0x28, 0x28));
    else if (block == BlockCheck::Unavailable || block == BlockCheck::NotSealed)
        labelPalette.setColor(QPalette::WindowText, QColor(0xb2, 0x6a, 0x00));
    blockLabel->setPalette(labelPalette);
    const QString mark = block == BlockCheck::Proven    ? kMark + QLatin1Char(' ')
                         : block == BlockCheck::Invalid ? kCross + QLatin1Char(' ')
                                                        : QString();
    blockLabel->setText(mark + blockStatus());
    blockLabel->setVisible(block != BlockCheck::None);
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
    setAccessibleDescription(certificateStatus() + QLatin1Char('\n') + blockStatus());
}

} // namespace ticketsync
