#pragma once

#include "StateConfirmation.h"
#include "WriteOffResult.h"

#include <QList>
#include <optional>

namespace ticketsync {

class Membership;

enum class Outcome : quint8
{
    Decided = 1,
    Undetermined = 2,
};
QString outcomeName(Outcome outcome);

struct StateCount
{
    quint16 stateCode = 0;
    quint32 count = 0;
    bool operator==(const StateCount &other) const = default;
};

// The result of tallying one write-off, with the signed confirmations that carry it.
// For a DECIDED outcome the confirmations are those of the decided state (the quorum
// certificate); for UNDETERMINED they are every counted confirmation, so the histogram
// can be checked by anyone.
struct Decision
{
    WriteOffResult writeOff;
    Outcome outcome = Outcome::Undetermined;
    quint16 decidedState = 0;    // 0 unless DECIDED
    quint32 targetCount = 0;     // n: all targets in the membership, not only those that answered
    quint32 quorum = 0;          // q
    QList<StateCount> histogram; // by ascending state code, counts > 0
    quint32 missing = 0;         // targets that did not answer
    quint32 equivocating = 0;    // targets left out for signing conflicting states
    qint64 decidedAtMs = 0;
    QList<StateConfirmation> confirmations; // by ascending target id

    quint32 countOf(quint16 stateCode) const;
    QByteArray encode() const;
    QByteArray digest() const;
    static std::optional<Decision> decode(const QByteArray &bytes, QString *error = nullptr);

    // Offline check of the certificate against the membership: the branch signature on the
    // write-off, n and q as the membership defines them, distinct target signers, every
    // signature, and the decided state's count reaching q. Empty when it holds; otherwise
    // names the first thing that failed.
    QString verifyCertificate(const Membership &membership) const;
    // The same, with writeOff.digest() as its caller already computed it.
    QString verifyCertificate(const Membership &membership, const QByteArray &writeOffDigest) const;
};

} // namespace ticketsync
