#include "DecisionSummary.h"

namespace ticketsync {

QJsonObject decisionSummary(const Decision &decision, const QByteArray &writeOffDigest)
{
    QJsonObject histogram;
    for (const StateCount &count : decision.histogram)
        histogram.insert(stateName(count.stateCode), qint64(count.count));
    return QJsonObject{
        {QStringLiteral("write_off_digest"), QString::fromLatin1(writeOffDigest.toHex())},
        {QStringLiteral("ticket"), decision.writeOff.ticketId},
        {QStringLiteral("version"), qint64(decision.writeOff.ticketVersion)},
        {QStringLiteral("branch"), decision.writeOff.branchId},
        {QStringLiteral("amount_minor"), decision.writeOff.amountMinor},
        {QStringLiteral("currency"), decision.writeOff.currency},
        {QStringLiteral("outcome"), outcomeName(decision.outcome)},
        {QStringLiteral("state"),
         decision.outcome == Outcome::Decided ? stateName(decision.decidedState) : QString()},
        {QStringLiteral("histogram"), histogram},
        {QStringLiteral("n"), qint64(decision.targetCount)},
        {QStringLiteral("q"), qint64(decision.quorum)},
        {QStringLiteral("missing"), qint64(decision.missing)},
        {QStringLiteral("equivocating"), qint64(decision.equivocating)},
        {QStringLiteral("issued_at_ms"), decision.writeOff.issuedAtMs},
        {QStringLiteral("decided_at_ms"), decision.decidedAtMs},
    };
}

} // namespace ticketsync
