#include "StateConfirmation.h"

#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Membership.h"
#include "Sha256.h"
#include "Ticket.h"

namespace ticketsync {

namespace {
constexpr char kTag[5] = "TSCF";
constexpr qsizetype kMaxSignatureBytes = 256;
} // namespace

QByteArray StateConfirmation::signingBytes() const
{
    CanonicalWriter writer(kTag);
    writer.writeFixed(membershipHash);
    writer.writeString(targetId);
    writer.writeFixed(writeOffDigest);
    writer.writeU16(stateCode);
    writer.writeString(reason);
    return writer.bytes();
}

QByteArray StateConfirmation::encode() const
{
    CanonicalWriter writer;
    writer.writeFixed(signingBytes());
    writer.writeBytes(signature);
    return writer.bytes();
}

std::optional<StateConfirmation> StateConfirmation::decode(const QByteArray &bytes, QString *error)
{
    CanonicalReader reader(bytes);
    StateConfirmation result;
    reader.expectHeader(kTag, "state confirmation");
    result.membershipHash = reader.readFixed(kDigestSize, "membership_hash");
    const qsizetype targetOffset = reader.offset();
    result.targetId = reader.readString("target_id", kMaxNodeIdLength);
    result.writeOffDigest = reader.readFixed(kDigestSize, "write_off_digest");
    const qsizetype stateOffset = reader.offset();
    result.stateCode = reader.readU16("state");
    result.reason = reader.readString("reason", kMaxReasonBytes);
    result.signature = reader.readBytes("signature", kMaxSignatureBytes);
    reader.expectEnd("state confirmation");
    if (reader.ok() && !isKnownState(result.stateCode))
        reader.fail(
            QStringLiteral("unknown state code %1 at offset %2").arg(result.stateCode).arg(stateOffset));
    if (reader.ok()) {
        if (const QString problem = checkNodeId(result.targetId); !problem.isEmpty())
            reader.fail(
                QStringLiteral("invalid state confirmation: field 'target_id' at offset %1: target %2")
                    .arg(targetOffset)
                    .arg(problem));
    }
    if (!reader.ok()) {
        if (error)
            *error = reader.errorString();
        return std::nullopt;
    }
    return result;
}

void StateConfirmation::sign(const KeyPair &targetKey)
{
    signature = SignatureScheme::standard().sign(targetKey, signingBytes());
}

QString StateConfirmation::verify(const Membership &membership) const
{
    if (membershipHash != membership.hash())
        return QStringLiteral("signed under another consortium configuration");
    const Member *target = membership.member(targetId);
    if (!target)
        return QStringLiteral("'%1' is not a member").arg(targetId);
    if (!target->hasRole(Role::Target))
        return QStringLiteral("'%1' does not hold the target role").arg(targetId);
    if (!isKnownState(stateCode))
        return QStringLiteral("unknown state code %1").arg(stateCode);
    if (!signatureVerifies(membership))
        return QStringLiteral("the signature of target '%1' does not verify").arg(targetId);
    return {};
}

bool StateConfirmation::signatureVerifies(const Membership &membership) const
{
    const Member *target = membership.member(targetId);
    const SignatureScheme *scheme = target ? SignatureScheme::byName(target->scheme) : nullptr;
    return scheme && scheme->verify(target->publicKey, signingBytes(), signature);
}

} // namespace ticketsync
