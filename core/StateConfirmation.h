#pragma once

#include "ConfirmationState.h"

#include <QByteArray>
#include <QString>
#include <optional>

namespace ticketsync {

class Membership;
struct KeyPair;

// A target node's signed answer about one write-off (identified by its digest).
struct StateConfirmation
{
    QByteArray membershipHash;
    QString targetId;
    QByteArray writeOffDigest;
    quint16 stateCode = quint16(ConfirmationState::InvalidRequest);
    QString reason;
    QByteArray signature;

    ConfirmationState state() const { return ConfirmationState(stateCode); }
    void setState(ConfirmationState value) { stateCode = quint16(value); }

    QByteArray signingBytes() const;
    QByteArray encode() const;
    static std::optional<StateConfirmation> decode(const QByteArray &bytes, QString *error = nullptr);

    void sign(const KeyPair &targetKey);
    // Empty when signed by a target member of this consortium with a valid signature.
    QString verify(const Membership &membership) const;
    // Only the signature, against the key of the member it names; false for a non-member. For
    // callers that check the rest themselves, such as Tally::add.
    bool signatureVerifies(const Membership &membership) const;

    bool operator==(const StateConfirmation &other) const = default;
};

} // namespace ticketsync
