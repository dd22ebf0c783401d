#pragma once

#include "TallyTracker.h"

#include <QColor>
#include <QList>
#include <QMap>
#include <QWidget>

namespace ticketsync {

// Custom-painted vote histogram. In tally mode it shows one write-off: a bar per state, the
// quorum line at q, "K of N target nodes" and the margin still needed, with non-voters,
// bad signatures and equivocating targets in a grey group apart from the real states.
// In aggregate mode it shows decided states over a rolling window of recent decisions.
class VoteHistogramWidget : public QWidget
{
    Q_OBJECT

public:
    enum class Mode
    {
        Tally,
        Aggregate
    };

    explicit VoteHistogramWidget(QWidget *parent = nullptr);

    // The colour of a state everywhere in the console (feed rows, tables, exports' charts).
    static QColor stateColour(const QString &stateName);
    // Colours of the bars that are not states.
    static QColor nonStateColour();

    Mode mode() const { return currentMode; }
    void setTally(const TicketTally &tally);
    void setAggregate(const QMap<QString, int> &decided, int undetermined, int window);
    void clear();

    const TicketTally &currentTally() const { return tally; }
    // The caption lines as painted, e.g. "3 of 4 target nodes" and "needs 1 more".
    QString headline() const;
    QString marginText() const;

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;
    bool event(QEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    struct Bar
    {
        QString label;   // what is painted under the bar
        QString tooltip; // names who is in it
        int value = 0;
        QColor colour;
        bool isState = true;
        Qt::BrushStyle pattern = Qt::SolidPattern;
    };

    void rebuild();
    void updateAccessibility();
    QString titleText() const;
    QRectF plotRect() const;
    QList<QRectF> barRects(const QRectF &plot, int scaleMax) const;
    int scaleMaximum() const;

    Mode currentMode = Mode::Tally;
    bool hasData = false;
    TicketTally tally;
    QMap<QString, int> aggregateCounts;
    int aggregateUndetermined = 0;
    int aggregateWindow = 0;
    QList<Bar> bars;
};

} // namespace ticketsync
