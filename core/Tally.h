#pragma once

#include "Decision.h"
#include "Membership.h"

#include <QHash>
#include <QList>
#include <QMap>
#include <QSet>
#include <optional>

namespace ticketsync {

// Two different signed confirmations from one target for one write-off.
struct EquivocationEvidence
{
    QString targetId;
    StateConfirmation first;
    StateConfirmation second;
};

// Counts the target nodes' confirmations for one write-off, exactly as the method defines:
// classify valid confirmations by state; decide as soon as the largest class reaches q
// (counted against all n targets in the membership); declare UNDETERMINED as soon as no
// state can reach q any more, or on timeout. Each target counts once; a target that signs
// two different states is left out of the count and both messages kept as evidence.
class Tally
{
public:
    enum class Status
    {
        Pending,
        Decided,
        Undetermined
    };

    enum class Verdict
    {
        Counted,
        Duplicate,       // the same state again from the same target; ignored
        Equivocation,    // a different state from a target that already voted
        WrongConsortium, // signed under another membership hash
        WrongDigest,     // confirms another write-off
        NotMember,
        NotTarget,
        UnknownState,
        BadSignature,
        AfterOutcome, // valid, but the outcome was already final
    };

    struct Rejection
    {
        Verdict verdict;
        QString targetId;
        QString reason;
    };

    Tally(Membership membership, WriteOffResult writeOff);

    // signatureValid: the result of verifying the confirmation's signature with its target's
    // key, when the caller did that beforehand (on a worker thread); empty to verify here.
    Verdict add(const StateConfirmation &confirmation, QString *reason = nullptr,
                std::optional<bool> signatureValid = std::nullopt);
    // The deadline passed: a pending tally becomes UNDETERMINED.
    void expire();

    Status status() const { return currentStatus; }
    bool isFinal() const { return currentStatus != Status::Pending; }
    int targetCount() const { return n; }
    int quorum() const { return q; }
    int countOf(quint16 stateCode) const { return counts.value(stateCode); }
    int answered() const { return int(votes.size()); }
    int missing() const { return n - int(votes.size()) - int(equivocators.size()); }
    int topCount() const;
    const QByteArray &writeOffDigest() const { return digest; }
    const WriteOffResult &writeOff() const { return result; }
    QSet<QString> missingTargets() const;

    const QList<EquivocationEvidence> &equivocations() const { return evidence; }
    const QList<Rejection> &rejections() const { return rejected; }

    // The decision as it stands (a final one once isFinal()).
    Decision decision(qint64 decidedAtMs) const;

    static QString verdictName(Verdict verdict);

private:
    Verdict reject(Verdict verdict, const StateConfirmation &confirmation, const QString &reason,
                   QString *out);
    void evaluate();

    Membership members;
    WriteOffResult result;
    QByteArray digest;
    int n = 0;
    int q = 0;
    Status currentStatus = Status::Pending;
    quint16 decided = 0;
    QHash<QString, StateConfirmation> votes;
    QMap<quint16, int> counts;
    QSet<QString> equivocators;
    QList<EquivocationEvidence> evidence;
    QList<Rejection> rejected;
};

} // namespace ticketsync
