#include "WriteOffResult.h"

#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Membership.h"
#include "Sha256.h"
#include "Ticket.h"

namespace ticketsync {

namespace {
constexpr char kTag[5] = "TSWO";
constexpr qsizetype kMaxSignatureBytes = 256;
} // namespace

QByteArray WriteOffResult::signingBytes() const
{
    CanonicalWriter writer(kTag);
    writer.writeFixed(membershipHash);
    writer.writeString(ticketId);
    writer.writeU32(ticketVersion);
    writer.writeI64(amountMinor);
    writer.writeString(currency);
    writer.writeString(branchId);
    writer.writeI64(issuedAtMs);
    writer.writeString(clientReference);
    return writer.bytes();
}

QByteArray WriteOffResult::digest() const
{
    return sha256(signingBytes());
}

QByteArray WriteOffResult::encode() const
{
    CanonicalWriter writer;
    writer.writeFixed(signingBytes());
    writer.writeBytes(signature);
    return writer.bytes();
}

std::optional<WriteOffResult> WriteOffResult::decode(const QByteArray &bytes, QString *error)
{
    CanonicalReader reader(bytes);
    WriteOffResult result;
    reader.expectHeader(kTag, "write-off result");
    result.membershipHash = reader.readFixed(kDigestSize, "membership_hash");
    result.ticketId = reader.readString("ticket_id", kMaxTicketIdLength);
    result.ticketVersion = reader.readU32("ticket_version");
    result.amountMinor = reader.readI64("amount_minor");
    result.currency = reader.readString("currency", 3);
    result.branchId = reader.readString("branch_id", kMaxNodeIdLength);
    result.issuedAtMs = reader.readI64("issued_at_ms");
    result.clientReference = reader.readString("client_reference", kMaxClientReferenceBytes);
    result.signature = reader.readBytes("signature", kMaxSignatureBytes);
    reader.expectEnd("write-off result");
    if (reader.ok()) {
        if (const QString problem = result.checkFields(); !problem.isEmpty())
            reader.fail(QStringLiteral("invalid write-off result: ") + problem);
    }
    if (!reader.ok()) {
        if (error)
            *error = reader.errorString();
        return std::nullopt;
    }
    return result;
}

QString WriteOffResult::checkFields() const
{
    if (membershipHash.size() != kDigestSize)
        return QStringLiteral("membership hash is not 32 bytes");
    if (QString problem = checkTicketId(ticketId); !problem.isEmpty())
        return problem;
    if (ticketVersion == 0)
        return QStringLiteral("ticket version must start at 1");
    if (amountMinor <= 0)
        return QStringLiteral("amount %1 must be positive").arg(amountMinor);
    if (QString problem = checkCurrencyCode(currency); !problem.isEmpty())
        return problem;
    if (QString problem = checkNodeId(branchId); !problem.isEmpty())
        return QStringLiteral("branch: ") + problem;
    return {};
}

void WriteOffResult::sign(const KeyPair &branchKey)
{
    signature = SignatureScheme::standard().sign(branchKey, signingBytes());
}

QString WriteOffResult::verify(const Membership &membership) const
{
    if (QString problem = checkFields(); !problem.isEmpty())
        return problem;
    if (membershipHash != membership.hash())
        return QStringLiteral("signed under another consortium configuration (membership hash %1)")
            .arg(QString::fromLatin1(membershipHash.toHex().left(16)));
    const Member *branch = membership.member(branchId);
    if (!branch)
        return QStringLiteral("branch '%1' is not a member").arg(branchId);
    if (!branch->hasRole(Role::Branch))
        return QStringLiteral("'%1' does not hold the branch role").arg(branchId);
    const SignatureScheme *scheme = SignatureScheme::byName(branch->scheme);
    if (!scheme || !scheme->verify(branch->publicKey, signingBytes(), signature))
        return QStringLiteral("the signature of branch '%1' does not verify").arg(branchId);
    return {};
}

} // namespace ticketsync
