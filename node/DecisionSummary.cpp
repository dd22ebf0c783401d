#include "DecisionSummary.h"

#include <QJsonDocument>

namespace ticketsync {

JsonObjectWriter decisionSummaryWriter(const Decision &decision, const QByteArray &writeOffDigest)
{
    JsonObjectWriter histogram;
    for (const StateCount &count : decision.histogram)
        histogram.add(QLatin1StringView(stateName(count.stateCode).toLatin1()), qint64(count.count));
    JsonObjectWriter summary;
    summary.addAscii(QLatin1StringView("write_off_digest"), writeOffDigest.toHex())
        .add(QLatin1StringView("ticket"), decision.writeOff.ticketId)
        .add(QLatin1StringView("version"), qint64(decision.writeOff.ticketVersion))
        .add(QLatin1StringView("branch"), decision.writeOff.branchId)
        .add(QLatin1StringView("amount_minor"), decision.writeOff.amountMinor)
        .add(QLatin1StringView("currency"), decision.writeOff.currency)
        .add(QLatin1StringView("outcome"), outcomeName(decision.outcome))
        .add(QLatin1StringView("state"),
             decision.outcome == Outcome::Decided ? stateName(decision.decidedState) : QString())
        .addJson(QLatin1StringView("histogram"), histogram.finish())
        .add(QLatin1StringView("n"), qint64(decision.targetCount))
        .add(QLatin1StringView("q"), qint64(decision.quorum))
        .add(QLatin1StringView("missing"), qint64(decision.missing))
        .add(QLatin1StringView("equivocating"), qint64(decision.equivocating))
        .add(QLatin1StringView("issued_at_ms"), decision.writeOff.issuedAtMs)
        .add(QLatin1StringView("decided_at_ms"), decision.decidedAtMs);
    return summary;
}

QJsonObject decisionSummary(const Decision &decision, const QByteArray &writeOffDigest)
{
    return QJsonDocument::fromJson(decisionSummaryWriter(decision, writeOffDigest).finish()).object();
}

} // namespace ticketsync
