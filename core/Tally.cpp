#include "Tally.h"

#include <QLoggingCategory>
#include <algorithm>

Q_LOGGING_CATEGORY(lcTally, "ticketsync.core.tally", QtWarningMsg)

namespace ticketsync {

Tally::Tally(Membership membership, WriteOffResult writeOff)
    : members(std::move(membership)), result(std::move(writeOff)), digest(result.digest()),
      n(members.targetCount()), q(members.quorum())
{
    evaluate(); // q > n, or no targets at all, is UNDETERMINED from the start
}

QString Tally::verdictName(Verdict verdict)
{
    switch (verdict) {
    case Verdict::Counted:
        return QStringLiteral("counted");
    case Verdict::Duplicate:
        return QStringLiteral("duplicate");
    case Verdict::Equivocation:
        return QStringLiteral("equivocation");
    case Verdict::WrongConsortium:
        return QStringLiteral("wrong-consortium");
    case Verdict::WrongDigest:
        return QStringLiteral("wrong-digest");
    case Verdict::NotMember:
        return QStringLiteral("not-member");
    case Verdict::NotTarget:
        return QStringLiteral("not-target");
    case Verdict::UnknownState:
        return QStringLiteral("unknown-state");
    case Verdict::BadSignature:
        return QStringLiteral("bad-signature");
    case Verdict::AfterOutcome:
        return QStringLiteral("after-outcome");
    }
    return QStringLiteral("unknown");
}

Tally::Verdict Tally::reject(Verdict verdict, const StateConfirmation &confirmation, const QString &reason,
                             QString *out)
{
    qCDebug(lcTally) << "discarded confirmation from" << confirmation.targetId << ':' << reason;
    rejected.append({verdict, confirmation.targetId, reason});
    if (out)
        *out = reason;
    return verdict;
}

Tally::Verdict Tally::add(const StateConfirmation &confirmation, QString *reason,
                          std::optional<bool> signatureValid)
{
    // Cheap checks first; the signature is verified only for messages that could count.
    if (confirmation.membershipHash != members.hash())
        return reject(Verdict::WrongConsortium, confirmation,
                      QStringLiteral("signed under another consortium configuration"), reason);
    if (confirmation.writeOffDigest != digest)
        return reject(Verdict::WrongDigest, confirmation,
                      QStringLiteral("confirms write-off %1, not %2")
                          .arg(QString::fromLatin1(confirmation.writeOffDigest.toHex().left(16)),
                               QString::fromLatin1(digest.toHex().left(16))),
                      reason);
    const Member *member = members.member(confirmation.targetId);
    if (!member)
        return reject(Verdict::NotMember, confirmation,
                      QStringLiteral("'%1' is not a member of the consortium").arg(confirmation.targetId),
                      reason);
    if (!member->hasRole(Role::Target))
        return reject(Verdict::NotTarget, confirmation,
                      QStringLiteral("'%1' does not hold the target role").arg(confirmation.targetId),
                      reason);
    if (!isKnownState(confirmation.stateCode))
        return reject(Verdict::UnknownState, confirmation,
                      QStringLiteral("unknown state code %1").arg(confirmation.stateCode), reason);

    const auto previous = votes.constFind(confirmation.targetId);
    if (previous != votes.cend() && *previous == confirmation) {
        if (reason)
            *reason = QStringLiteral("the same confirmation again");
        return Verdict::Duplicate;
    }

    // Not value_or(): that would verify even when the caller already did.
    const bool signatureOk = signatureValid ? *signatureValid : confirmation.signatureVerifies(members);
    if (!signatureOk)
        return reject(Verdict::BadSignature, confirmation,
                      QStringLiteral("the signature of '%1' does not verify").arg(confirmation.targetId),
                      reason);

    if (equivocators.contains(confirmation.targetId)) {
        // Keep each further distinct message once, paired with the target's first vote.
        const StateConfirmation *first = nullptr;
        bool known = false;
        for (const EquivocationEvidence &item : std::as_const(evidence)) {
            if (item.targetId != confirmation.targetId)
                continue;
            first = first ? first : &item.first;
            known = known || item.second == confirmation || item.first == confirmation;
        }
        if (!known && first) {
            const StateConfirmation firstVote = *first; // copied: append may reallocate
            evidence.append({confirmation.targetId, firstVote, confirmation});
        }
        if (reason)
            *reason = QStringLiteral("'%1' already equivocated").arg(confirmation.targetId);
        return Verdict::Equivocation;
    }

    if (previous != votes.cend()) {
        if (previous->stateCode == confirmation.stateCode) {
            if (reason)
                *reason =
                    QStringLiteral("the same state again, with another reason text; the first one stands");
            return Verdict::Duplicate;
        }
        qCWarning(lcTally) << "equivocation by" << confirmation.targetId << ':'
                           << stateName(previous->stateCode) << "then" << stateName(confirmation.stateCode);
        evidence.append({confirmation.targetId, *previous, confirmation});
        if (reason)
            *reason = QStringLiteral("'%1' first confirmed %2, now %3")
                          .arg(confirmation.targetId, stateName(previous->stateCode),
                               stateName(confirmation.stateCode));
        if (isFinal())
            return Verdict::Equivocation; // evidence kept; a final outcome never changes
        if (--counts[previous->stateCode] == 0)
            counts.remove(previous->stateCode);
        votes.erase(previous);
        equivocators.insert(confirmation.targetId);
        evaluate();
        return Verdict::Equivocation;
    }

    if (isFinal()) {
        if (reason)
            *reason = QStringLiteral("the outcome was already final");
        return Verdict::AfterOutcome;
    }
    votes.insert(confirmation.targetId, confirmation);
    ++counts[confirmation.stateCode];
    evaluate();
    return Verdict::Counted;
}

int Tally::topCount() const
{
    int top = 0;
    for (const int count : counts)
        top = std::max(top, count);
    return top;
}

void Tally::evaluate()
{
    if (isFinal())
        return;
    // q > n/2 is enforced by the membership, so at most one state can reach q.
    for (auto it = counts.cbegin(); it != counts.cend(); ++it) {
        if (it.value() >= q) {
            currentStatus = Status::Decided;
            decided = it.key();
            return;
        }
    }
    if (topCount() + missing() < q)
        currentStatus = Status::Undetermined;
}

void Tally::expire()
{
    if (currentStatus == Status::Pending)
        currentStatus = Status::Undetermined;
}

QSet<QString> Tally::missingTargets() const
{
    QSet<QString> result;
    for (const Member &member : members.members()) {
        if (member.hasRole(Role::Target) && !votes.contains(member.id) && !equivocators.contains(member.id))
            result.insert(member.id);
    }
    return result;
}

Decision Tally::decision(qint64 decidedAtMs) const
{
    Decision decision;
    decision.writeOff = result;
    decision.outcome = currentStatus == Status::Decided ? Outcome::Decided : Outcome::Undetermined;
    decision.decidedState = currentStatus == Status::Decided ? decided : 0;
    decision.targetCount = quint32(n);
    decision.quorum = quint32(q);
    for (auto it = counts.cbegin(); it != counts.cend(); ++it)
        decision.histogram.append({it.key(), quint32(it.value())});
    decision.missing = quint32(missing());
    decision.equivocating = quint32(equivocators.size());
    decision.decidedAtMs = decidedAtMs;
    for (const StateConfirmation &confirmation : votes) {
        if (decision.outcome == Outcome::Undetermined || confirmation.stateCode == decided)
            decision.confirmations.append(confirmation);
    }
    std::sort(decision.confirmations.begin(), decision.confirmations.end(),
              [](const StateConfirmation &a, const StateConfirmation &b) { return a.targetId < b.targetId; });
    return decision;
}

} // namespace ticketsync
