#include "Decision.h"

#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Membership.h"
#include "Sha256.h"

#include <QSet>

namespace ticketsync {

namespace {
constexpr char kTag[5] = "TSDC";
constexpr quint32 kMaxConfirmations = 4096;
constexpr quint32 kMaxHistogramEntries = 256;
constexpr qsizetype kMaxWriteOffBytes = 4096;
constexpr qsizetype kMaxConfirmationBytes = 2048;
} // namespace

QString outcomeName(Outcome outcome)
{
    return outcome == Outcome::Decided ? QStringLiteral("DECIDED") : QStringLiteral("UNDETERMINED");
}

quint32 Decision::countOf(quint16 stateCode) const
{
    for (const StateCount &entry : histogram) {
        if (entry.stateCode == stateCode)
            return entry.count;
    }
    return 0;
}

QByteArray Decision::encode() const
{
    // A write-off and three confirmations come to about 750 bytes.
    CanonicalWriter writer(kTag, 1024);
    writer.writeBytes(writeOff.encode());
    writer.writeU8(quint8(outcome));
    writer.writeU16(decidedState);
    writer.writeU32(targetCount);
    writer.writeU32(quorum);
    writer.writeU32(quint32(histogram.size()));
    for (const StateCount &entry : histogram) {
        writer.writeU16(entry.stateCode);
        writer.writeU32(entry.count);
    }
    writer.writeU32(missing);
    writer.writeU32(equivocating);
    writer.writeI64(decidedAtMs);
    writer.writeU32(quint32(confirmations.size()));
    for (const StateConfirmation &confirmation : confirmations)
        writer.writeBytes(confirmation.encode());
    return writer.bytes();
}

QByteArray Decision::digest() const
{
    return sha256(encode());
}

std::optional<Decision> Decision::decode(const QByteArray &bytes, QString *error)
{
    CanonicalReader reader(bytes);
    Decision decision;
    reader.expectHeader(kTag, "decision");
    const qsizetype writeOffOffset = reader.offset();
    const QByteArray writeOffBytes = reader.readBytes("write_off", kMaxWriteOffBytes);
    if (reader.ok()) {
        QString problem;
        if (auto writeOff = WriteOffResult::decode(writeOffBytes, &problem))
            decision.writeOff = *writeOff;
        else
            reader.fail(QStringLiteral("write-off at offset %1: %2").arg(writeOffOffset + 4).arg(problem));
    }
    const qsizetype outcomeOffset = reader.offset();
    const quint8 outcome = reader.readU8("outcome");
    if (reader.ok() && outcome != quint8(Outcome::Decided) && outcome != quint8(Outcome::Undetermined))
        reader.fail(QStringLiteral("unknown outcome %1 at offset %2").arg(outcome).arg(outcomeOffset));
    decision.outcome = Outcome(outcome);
    const qsizetype decidedStateOffset = reader.offset();
    decision.decidedState = reader.readU16("decided_state");
    if (reader.ok() && (decision.outcome == Outcome::Decided) != (decision.decidedState != 0))
        reader.fail(QStringLiteral("decided_state %1 at offset %2 does not fit outcome %3 at offset %4")
                        .arg(decision.decidedState)
                        .arg(decidedStateOffset)
                        .arg(outcomeName(decision.outcome))
                        .arg(outcomeOffset));
    decision.targetCount = reader.readU32("target_count");
    decision.quorum = reader.readU32("quorum");
    const quint32 entries = reader.readCount("histogram", kMaxHistogramEntries, 6);
    for (quint32 i = 0; i < entries && reader.ok(); ++i) {
        StateCount entry;
        const qsizetype at = reader.offset();
        entry.stateCode = reader.readU16("histogram.state");
        entry.count = reader.readU32("histogram.count");
        if (!reader.ok())
            break;
        if (!isKnownState(entry.stateCode))
            reader.fail(QStringLiteral("unknown state code %1 in histogram at offset %2")
                            .arg(entry.stateCode)
                            .arg(at));
        else if (entry.count == 0)
            reader.fail(QStringLiteral("histogram entry at offset %1 has a zero count").arg(at));
        else if (!decision.histogram.isEmpty() && decision.histogram.last().stateCode >= entry.stateCode)
            reader.fail(QStringLiteral("histogram at offset %1 is not in ascending state order").arg(at));
        decision.histogram.append(entry);
    }
    decision.missing = reader.readU32("missing");
    decision.equivocating = reader.readU32("equivocating");
    decision.decidedAtMs = reader.readI64("decided_at_ms");
    const quint32 count = reader.readCount("confirmations", kMaxConfirmations, 4);
    for (quint32 i = 0; i < count && reader.ok(); ++i) {
        const qsizetype at = reader.offset();
        const QByteArray raw = reader.readBytes("confirmation", kMaxConfirmationBytes);
        if (!reader.ok())
            break;
        QString problem;
        auto confirmation = StateConfirmation::decode(raw, &problem);
        if (!confirmation) {
            reader.fail(QStringLiteral("confirmation %1 at offset %2: %3").arg(i).arg(at + 4).arg(problem));
            break;
        }
        // One encoding per certificate: the signers in strictly ascending id, so neither a
        // reordering nor a repeated signer yields other bytes for the same decision.
        if (!decision.confirmations.isEmpty() &&
            !(decision.confirmations.last().targetId < confirmation->targetId)) {
            reader.fail(
                QStringLiteral("confirmation %1 at offset %2: target_id '%3' does not come after '%4'; "
                               "confirmations must be in strictly ascending target id")
                    .arg(i)
                    .arg(at + 4)
                    .arg(confirmation->targetId, decision.confirmations.last().targetId));
            break;
        }
        decision.confirmations.append(std::move(*confirmation));
    }
    reader.expectEnd("decision");
    if (!reader.ok()) {
        if (error)
            *error = reader.errorString();
        return std::nullopt;
    }
    return decision;
}

QString Decision::verifyCertificate(const Membership &membership) const
{
    return verifyCertificate(membership, writeOff.digest());
}

QString Decision::verifyCertificate(const Membership &membership, const QByteArray &writeOffDigest) const
{
    if (QString problem = writeOff.verify(membership); !problem.isEmpty())
        return QStringLiteral("write-off: ") + problem;
    const int n = membership.targetCount();
    const int q = membership.quorum();
    if (targetCount != quint32(n))
        return QStringLiteral("n is %1 but the membership has %2 target nodes").arg(targetCount).arg(n);
    if (quorum != quint32(q))
        return QStringLiteral("q is %1 but the membership's policy (%2) gives %3 for n = %4")
            .arg(quorum)
            .arg(membership.policy().describe())
            .arg(q)
            .arg(n);
    quint64 accounted = quint64(missing) + equivocating;
    for (const StateCount &entry : histogram)
        accounted += entry.count;
    if (accounted != quint64(n))
        return QStringLiteral("histogram, missing and equivocating add up to %1, not n = %2")
            .arg(accounted)
            .arg(n);

    QSet<QString> signers;
    QHash<quint16, quint32> signedCounts;
    for (qsizetype i = 0; i < confirmations.size(); ++i) {
        const StateConfirmation &confirmation = confirmations.at(i);
        // Built only for an error: every chain store checks q of these per decision.
        const auto where = [i, &confirmation] {
            return QStringLiteral("confirmation %1 (%2): ").arg(i).arg(confirmation.targetId);
        };
        if (signers.contains(confirmation.targetId))
            return where() + QStringLiteral("target signs twice in one certificate");
        signers.insert(confirmation.targetId);
        if (confirmation.writeOffDigest != writeOffDigest)
            return where() + QStringLiteral("confirms another write-off");
        if (outcome == Outcome::Decided && confirmation.stateCode != decidedState)
            return where() + QStringLiteral("confirms %1, not the decided %2")
                                 .arg(stateName(confirmation.stateCode), stateName(decidedState));
        if (QString problem = confirmation.verify(membership); !problem.isEmpty())
            return where() + problem;
        // As decode() requires: otherwise this certificate has no canonical encoding.
        if (i > 0 && !(confirmations.at(i - 1).targetId < confirmation.targetId))
            return where() + QStringLiteral("not after '%1'; confirmations must be in ascending target id")
                                 .arg(confirmations.at(i - 1).targetId);
        ++signedCounts[confirmation.stateCode];
    }

    if (outcome == Outcome::Decided) {
        const quint32 signedCount = signedCounts.value(decidedState);
        if (signedCount < quint32(q))
            return QStringLiteral("only %1 valid signatures for %2, quorum is %3")
                .arg(signedCount)
                .arg(stateName(decidedState))
                .arg(q);
        if (countOf(decidedState) != signedCount)
            return QStringLiteral("histogram claims %1 for %2 but %3 confirmations are signed")
                .arg(countOf(decidedState))
                .arg(stateName(decidedState))
                .arg(signedCount);
        return {};
    }
    for (const StateCount &entry : histogram) {
        if (signedCounts.value(entry.stateCode) != entry.count)
            return QStringLiteral("histogram claims %1 for %2 but %3 confirmations are signed")
                .arg(entry.count)
                .arg(stateName(entry.stateCode))
                .arg(signedCounts.value(entry.stateCode));
        if (entry.count >= quint32(q))
            return QStringLiteral("marked UNDETERMINED although %1 reached the quorum")
                .arg(stateName(entry.stateCode));
    }
    if (quint32(confirmations.size()) != quint32(n) - missing - equivocating)
        return QStringLiteral("histogram lists confirmations that are not included");
    return {};
}

} // namespace ticketsync
