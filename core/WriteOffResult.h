#pragma once

#include <QByteArray>
#include <QString>
#include <optional>

namespace ticketsync {

class Membership;
struct KeyPair;

// A branch node's signed statement that a ticket is to be written off.
// Its digest, SHA-256 over the canonical bytes without the signature, is its identity.
struct WriteOffResult
{
    QByteArray membershipHash; // the consortium configuration it was signed under
    QString ticketId;
    quint32 ticketVersion = 1; // the write-off sequence of the ticket, from 1
    qint64 amountMinor = 0;
    QString currency;
    QString branchId;
    qint64 issuedAtMs = 0; // milliseconds since the Unix epoch, UTC
    QString clientReference;
    QByteArray signature;

    QByteArray signingBytes() const;
    QByteArray digest() const;
    QByteArray encode() const;
    static std::optional<WriteOffResult> decode(const QByteArray &bytes, QString *error = nullptr);

    void sign(const KeyPair &branchKey);
    // Empty when the fields are well-formed, the branch is a branch member of this
    // consortium and its signature is valid; otherwise names the first problem.
    QString verify(const Membership &membership) const;
    // Field checks alone, without membership or signature.
    QString checkFields() const;

    bool operator==(const WriteOffResult &other) const = default;
};

} // namespace ticketsync
