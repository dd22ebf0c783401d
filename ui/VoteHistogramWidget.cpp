#include "VoteHistogramWidget.h"

#include "ConfirmationState.h"
#include "FeedModel.h"

#include "ConfirmationState.h"

#include <QEvent>
#include <QHelpEvent>
#include <QLoggingCategory>
#include <QPainter>
#include <QPainterPath>
#include <QRegularExpression>
#include <QTextOption>
#include <QToolTip>

#include <algorithm>
#include <cmath>

Q_LOGGING_CATEGORY(lcHistogramWidget, "ticketsync.ui.histogram", QtWarningMsg)

namespace ticketsync {

namespace {

// Position of a state among the bars: the code order, so bars never jump as votes arrive.
int stateOrder(const QString &name)
{
    ConfirmationState state;
    if (stateFromName(name, &state))
        return int(state);
    return 1000;
}

} // namespace

VoteHistogramWidget::VoteHistogramWidget(QWidget *parent) : QWidget(parent)
{
    // We paint every pixel ourselves; this avoids a background fill per live update.
    setAttribute(Qt::WA_OpaquePaintEvent);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    setAccessibleName(tr("Vote histogram"));
    rebuild();
}

QColor VoteHistogramWidget::stateColour(const QString &stateName)
{
    // Fixed per state so a colour means the same thing in every view; chosen to stay apart
    // for the common colour-vision deficiencies and readable on light and dark themes.
    ConfirmationState state;
    if (stateFromName(stateName, &state)) {
        switch (state) {
        case ConfirmationState::WrittenOff:
            return QColor(0x2e, 0x7d, 0x32); // green
        case ConfirmationState::AlreadyWrittenOff:
            return QColor(0x15, 0x65, 0xc0); // blue
        case ConfirmationState::AmountMismatch:
            return QColor(0xef, 0x6c, 0x00); // orange
        case ConfirmationState::UnknownTicket:
            return QColor(0x6a, 0x1b, 0x9a); // purple
        case ConfirmationState::InvalidRequest:
            return QColor(0xc6, 0x28, 0x28); // red
        case ConfirmationState::TicketFrozen:
            return QColor(0x00, 0x83, 0x8f); // teal
        }
    }
    // A state this build does not know yet: a stable colour derived from its name.
    const int hue = int(qHash(stateName) % 360);
    return QColor::fromHsv(hue, 140, 170);
}

QColor VoteHistogramWidget::nonStateColour()
{
    return QColor(0x9e, 0x9e, 0x9e);
}

void VoteHistogramWidget::setTally(const TicketTally &value)
{
    currentMode = Mode::Tally;
    tally = value;
    hasData = value.isValid();
    rebuild();
}

void VoteHistogramWidget::setAggregate(const QMap<QString, int> &decided, int undetermined, int window)
{
    currentMode = Mode::Aggregate;
    aggregateCounts = decided;
    aggregateUndetermined = std::max(0, undetermined);
    aggregateWindow = std::max(0, window);
    hasData = true;
    rebuild();
}

void VoteHistogramWidget::clear()
{
    tally = TicketTally();
    aggregateCounts.clear();
    aggregateUndetermined = 0;
    aggregateWindow = 0;
    hasData = false;
    rebuild();
}

QString VoteHistogramWidget::headline() const
{
    if (!hasData)
        return currentMode == Mode::Tally ? tr("No write-off selected") : tr("No decisions yet");
    if (currentMode == Mode::Aggregate) {
        int decided = 0;
        for (const int count : aggregateCounts)
            decided += count;
        //: Rolling aggregate caption: decided out of the recent decisions counted.
        return tr("%1 of %2 recent decisions decided").arg(decided).arg(aggregateWindow);
    }
    if (tally.n <= 0)
        return tr("%1 of ? target nodes").arg(tally.topCount());
    //: K of N: votes for the leading state out of all target nodes in the membership.
    return tr("%1 of %2 target nodes").arg(tally.topCount()).arg(tally.n);
}

QString VoteHistogramWidget::marginText() const
{
    if (!hasData)
        return {};
    if (currentMode == Mode::Aggregate)
        return aggregateUndetermined > 0 ? tr("%n undetermined", "", aggregateUndetermined)
                                         : tr("none undetermined");
    if (tally.outcome == QLatin1String("DECIDED"))
        return tr("decided");
    if (tally.outcome == QLatin1String("UNDETERMINED"))
        return tr("undetermined");
    if (tally.q <= 0)
        return tr("quorum not known yet");
    if (!tally.canReachQuorum())
        return tr("cannot reach q");
    //: The margin: matching votes still needed for the leading state to reach the quorum.
    return tr("needs %n more", "", tally.margin());
}

QString VoteHistogramWidget::titleText() const
{
    if (!hasData)
        return {};
    if (currentMode == Mode::Aggregate)
        return tr("States of the last %n decision(s)", "", aggregateWindow);
    QString outcome;
    if (tally.outcome == QLatin1String("DECIDED"))
        outcome = tr("decided %1").arg(tally.decidedState);
    else if (tally.outcome == QLatin1String("UNDETERMINED"))
        outcome = tr("UNDETERMINED");
    else
        outcome = tr("pending");
    const QString ticket = tally.ticket.isEmpty() ? tally.digest.left(16) : tally.ticket;
    //: Histogram title: ticket id, write-off version, outcome so far.
    return tr("Ticket %1 v%2: %3").arg(ticket).arg(tally.version).arg(outcome);
}

void VoteHistogramWidget::rebuild()
{
    bars.clear();
    if (hasData && currentMode == Mode::Tally) {
        QStringList states;
        for (auto it = tally.counts.cbegin(); it != tally.counts.cend(); ++it) {
            if (it.value() > 0)
                states.append(it.key());
        }
        const QString leader = tally.leadingState();
        if (!leader.isEmpty() && !states.contains(leader))
            states.append(leader);
        std::sort(states.begin(), states.end(), [](const QString &a, const QString &b) {
            const int oa = stateOrder(a);
            const int ob = stateOrder(b);
            return oa != ob ? oa < ob : a < b;
        });
        for (const QString &state : std::as_const(states)) {
            QStringList who;
            for (auto it = tally.votes.cbegin(); it != tally.votes.cend(); ++it) {
                if (it.value() == state)
                    who.append(it.key());
            }
            const int count = tally.counts.value(state);
            QString tip = tr("%1: %n vote(s)", "", count).arg(state);
            if (!who.isEmpty())
                tip += QLatin1Char('\n') + who.join(QStringLiteral(", "));
            bars.append({state, tip, count, stateColour(state), true, Qt::SolidPattern});
        }
        const QColor grey = nonStateColour();
        bars.append({tr("No vote"), tr("%n target(s) have not answered", "", tally.nonVoters),
                     tally.nonVoters, grey.lighter(125), false, Qt::SolidPattern});
        QString badTip =
            tr("%n target(s) sent a confirmation whose signature failed", "", int(tally.badSignature.size()));
        if (!tally.badSignature.isEmpty())
            badTip += QLatin1Char('\n') + tally.badSignature.join(QStringLiteral(", "));
        bars.append(
            {tr("Bad signature"), badTip, int(tally.badSignature.size()), grey, false, Qt::BDiagPattern});
        QString eqTip = tr("%n target(s) signed two different states; left out of the count", "",
                           int(tally.equivocating.size()));
        if (!tally.equivocating.isEmpty())
            eqTip += QLatin1Char('\n') + tally.equivocating.join(QStringLiteral(", "));
        bars.append({tr("Equivocating"), eqTip, int(tally.equivocating.size()), grey.darker(140), false,
                     Qt::DiagCrossPattern});
    } else if (hasData) {
        QStringList states = aggregateCounts.keys();
        std::sort(states.begin(), states.end(), [](const QString &a, const QString &b) {
            const int oa = stateOrder(a);
            const int ob = stateOrder(b);
            return oa != ob ? oa < ob : a < b;
        });
        for (const QString &state : std::as_const(states)) {
            const int count = aggregateCounts.value(state);
            if (count <= 0)
                continue;
            bars.append({state, tr("%1: %n decision(s)", "", count).arg(state), count, stateColour(state),
                         true, Qt::SolidPattern});
        }
        bars.append({tr("Undetermined"), tr("%n undetermined decision(s)", "", aggregateUndetermined),
                     aggregateUndetermined, nonStateColour(), false, Qt::SolidPattern});
    }
    updateAccessibility();
    update();
}

void VoteHistogramWidget::updateAccessibility()
{
    if (!hasData) {
        setAccessibleDescription(headline());
        return;
    }
    QStringList parts;
    parts.append(titleText());
    parts.append(headline() + QStringLiteral(", ") + marginText());
    QStringList counts;
    for (const Bar &bar : std::as_const(bars))
        counts.append(QStringLiteral("%1: %2").arg(bar.label).arg(bar.value));
    if (currentMode == Mode::Tally && tally.q > 0)
        counts.append(tr("quorum q = %1").arg(tally.q));
    parts.append(counts.join(QStringLiteral(", ")));
    setAccessibleDescription(parts.join(QStringLiteral(". ")));
}

int VoteHistogramWidget::scaleMaximum() const
{
    int top = 1;
    for (const Bar &bar : bars)
        top = std::max(top, bar.value);
    if (currentMode == Mode::Tally)
        top = std::max({top, tally.n, tally.q});
    return top;
}

QRectF VoteHistogramWidget::plotRect() const
{
    const QFontMetricsF fm(font());
    const qreal pad = fm.height() * 0.6;
    const qreal top = pad + fm.height() * 2.4 + fm.height(); // title, caption, room for counts
    const qreal bottom = height() - pad - fm.height() * 3.2; // up to three lines of labels under the bars
    return QRectF(QPointF(pad + fm.horizontalAdvance(QStringLiteral("00")), top),
                  QPointF(width() - pad - fm.horizontalAdvance(QStringLiteral("q = 00")), bottom));
}

QList<QRectF> VoteHistogramWidget::barRects(const QRectF &plot, int scaleMax) const
{
    QList<QRectF> rects;
    if (bars.isEmpty() || plot.width() <= 0 || plot.height() <= 0)
        return rects;
    int states = 0;
    for (const Bar &bar : bars)
        states += bar.isState ? 1 : 0;
    const bool split = states > 0 && states < bars.size();
    const qreal gapSlots = split ? 0.6 : 0.0;
    // Keep a stable minimum of slots so one bar does not fill the whole width.
    const qreal slots = std::max<qreal>(bars.size() + gapSlots, 4.0);
    const qreal slot = plot.width() / slots;
    const qreal barWidth = std::min(slot * 0.7, QFontMetricsF(font()).horizontalAdvance(u'M') * 6);
    qreal x = plot.left() + (plot.width() - slot * (bars.size() + gapSlots)) / 2;
    for (qsizetype i = 0; i < bars.size(); ++i) {
        if (split && i == states)
            x += slot * gapSlots;
        const qreal h = plot.height() * bars.at(i).value / scaleMax;
        rects.append(QRectF(x + (slot - barWidth) / 2, plot.bottom() - h, barWidth, h));
        x += slot;
    }
    return rects;
}

void VoteHistogramWidget::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QPalette pal = palette();
    const QColor text = pal.color(QPalette::WindowText);
    const QColor base = pal.color(QPalette::Base);
    // Secondary text: between text and background, readable on light and dark themes.
    const QColor muted =
        QColor::fromRgbF(text.redF() * 0.6f + base.redF() * 0.4f, text.greenF() * 0.6f + base.greenF() * 0.4f,
                         text.blueF() * 0.6f + base.blueF() * 0.4f);
    painter.fillRect(rect(), base);

    const QFontMetricsF fm(font());
    const qreal pad = fm.height() * 0.6;
    QFont titleFont = font();
    titleFont.setBold(true);

    if (!hasData) {
        painter.setPen(muted);
        painter.drawText(rect(), Qt::AlignCenter, headline());
        return;
    }

    // Title and caption.
    painter.setFont(titleFont);
    painter.setPen(text);
    const QRectF titleRect(pad, pad, width() - 2 * pad, fm.height() * 1.2);
    painter.drawText(titleRect, Qt::AlignLeft | Qt::AlignVCenter,
                     QFontMetricsF(titleFont).elidedText(titleText(), Qt::ElideRight, titleRect.width()));
    painter.setFont(font());
    const QRectF captionRect(pad, titleRect.bottom(), width() - 2 * pad, fm.height() * 1.2);
    const QString caption = headline() + QStringLiteral(" \u00b7 ") + marginText();
    painter.drawText(captionRect, Qt::AlignLeft | Qt::AlignVCenter,
                     fm.elidedText(caption, Qt::ElideRight, captionRect.width()));

    const QRectF plot = plotRect();
    if (plot.width() < 4 || plot.height() < 4)
        return;
    const int scaleMax = scaleMaximum();
    const QList<QRectF> rects = barRects(plot, scaleMax);

    // Baseline and the scale's top value.
    painter.setPen(QPen(muted, 1.0));
    painter.drawLine(QPointF(plot.left(), plot.bottom()), QPointF(plot.right(), plot.bottom()));
    painter.drawText(QRectF(0, plot.top() - fm.height() / 2, plot.left() - fm.height() * 0.3, fm.height()),
                     Qt::AlignRight | Qt::AlignVCenter, QString::number(scaleMax));
    painter.drawText(QRectF(0, plot.bottom() - fm.height() / 2, plot.left() - fm.height() * 0.3, fm.height()),
                     Qt::AlignRight | Qt::AlignVCenter, QStringLiteral("0"));

    // Separator between the real states and the grey group.
    int states = 0;
    for (const Bar &bar : std::as_const(bars))
        states += bar.isState ? 1 : 0;
    if (states > 0 && states < bars.size() && rects.size() == bars.size()) {
        const qreal x = (rects.at(states - 1).right() + rects.at(states).left()) / 2;
        painter.setPen(QPen(muted, 1.0, Qt::DotLine));
        painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom() + fm.height() * 3.1));
    } else if (states == 0 && currentMode == Mode::Tally && !rects.isEmpty()) {
        painter.setPen(muted);
        painter.drawText(QRectF(plot.left(), plot.top(), rects.first().left() - plot.left(), plot.height()),
                         Qt::AlignCenter | Qt::TextWordWrap, tr("No votes yet"));
    }

    // Bars first, then the quorum line over them, then the counts on top of both.
    for (qsizetype i = 0; i < rects.size(); ++i) {
        const Bar &bar = bars.at(i);
        const QRectF &r = rects.at(i);
        if (r.height() <= 0)
            continue;
        painter.fillRect(r, bar.colour);
        if (bar.pattern != Qt::SolidPattern)
            painter.fillRect(r, QBrush(base, bar.pattern));
        painter.setPen(QPen(bar.colour.darker(130), 1.0));
        painter.drawRect(r);
    }

    // The quorum line, dashed, labelled "q = 3".
    if (currentMode == Mode::Tally && tally.q > 0) {
        const qreal y = plot.bottom() - plot.height() * tally.q / scaleMax;
        painter.setPen(QPen(text, 1.5, Qt::DashLine));
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y));
        //: The quorum threshold line's label.
        const QString label = tr("q = %1").arg(tally.q);
        painter.drawText(QRectF(plot.right() + fm.height() * 0.2, y - fm.height() / 2,
                                width() - plot.right() - fm.height() * 0.2, fm.height()),
                         Qt::AlignLeft | Qt::AlignVCenter, label);
    }

    QTextOption labelOption(Qt::AlignHCenter | Qt::AlignTop);
    labelOption.setWrapMode(QTextOption::WordWrap);
    for (qsizetype i = 0; i < rects.size(); ++i) {
        const Bar &bar = bars.at(i);
        const QRectF &r = rects.at(i);
        const qreal slot = r.width() / 0.7;
        const QString count = QString::number(bar.value);
        const qreal countWidth = fm.horizontalAdvance(count) + fm.height() * 0.3;
        const QRectF countRect(r.center().x() - countWidth / 2, r.top() - fm.height() * 1.1, countWidth,
                               fm.height());
        painter.fillRect(countRect, base); // keeps the count readable where the q line crosses it
        painter.setPen(text);
        painter.drawText(countRect, Qt::AlignCenter, count);

        // Names break after an underscore (WRITTEN_ / OFF) before they are elided.
        painter.setPen(bar.isState ? text : muted);
        const QRectF labelRect(r.center().x() - slot / 2, plot.bottom() + fm.height() * 0.15, slot,
                               fm.height() * 2.1);
        // States read as words ("Already written off"), which wrap; a narrow slot gets a
        // smaller font before anything is elided.
        ConfirmationState known;
        QString label =
            bar.isState && stateFromName(bar.label, &known) ? FeedModel::stateLabel(int(known)) : bar.label;
        label.replace(QLatin1Char('_'), QStringLiteral("_\u200b"));
        static const QRegularExpression breaks(QStringLiteral("[ \u200b]"));
        const QStringList words = label.split(breaks);
        QFont labelFont = painter.font();
        const qreal baseSize = labelFont.pointSizeF();
        auto fitsIn = [&](const QFontMetricsF &metrics) {
            for (const QString &word : words) {
                if (metrics.horizontalAdvance(word) > slot)
                    return false;
            }
            return true;
        };
        for (qreal scale = 1.0; scale >= 0.7 && !fitsIn(QFontMetricsF(labelFont)); scale -= 0.1)
            labelFont.setPointSizeF(baseSize * (scale - 0.1));
        painter.save();
        painter.setFont(labelFont);
        const QFontMetricsF labelMetrics(labelFont);
        if (!fitsIn(labelMetrics))
            label = labelMetrics.elidedText(label, Qt::ElideMiddle, slot);
        const QRectF wrapRect(labelRect.left(), labelRect.top(), labelRect.width(),
                              labelMetrics.height() * 3.2);
        painter.drawText(wrapRect, label, labelOption);
        painter.restore();
    }
}

bool VoteHistogramWidget::event(QEvent *e)
{
    if (e->type() == QEvent::ToolTip) {
        auto *help = static_cast<QHelpEvent *>(e);
        const QRectF plot = plotRect();
        const QList<QRectF> rects = barRects(plot, scaleMaximum());
        const QFontMetricsF fm(font());
        for (qsizetype i = 0; i < rects.size(); ++i) {
            // The whole column counts, so an empty bar still has a tooltip.
            const QRectF column(rects.at(i).left(), plot.top(), rects.at(i).width(),
                                plot.height() + fm.height() * 2.3);
            if (column.contains(help->pos())) {
                QToolTip::showText(help->globalPos(), bars.at(i).tooltip, this);
                return true;
            }
        }
        QToolTip::hideText();
        e->ignore();
        return true;
    }
    return QWidget::event(e);
}

void VoteHistogramWidget::changeEvent(QEvent *e)
{
    if (e->type() == QEvent::LanguageChange)
        rebuild();
    else if (e->type() == QEvent::FontChange || e->type() == QEvent::PaletteChange)
        updateGeometry();
    QWidget::changeEvent(e);
}

QSize VoteHistogramWidget::sizeHint() const
{
    const QFontMetrics fm(font());
    return QSize(fm.horizontalAdvance(u'M') * 34, fm.height() * 15);
}

QSize VoteHistogramWidget::minimumSizeHint() const
{
    const QFontMetrics fm(font());
    return QSize(fm.horizontalAdvance(u'M') * 16, fm.height() * 8);
}

} // namespace ticketsync
