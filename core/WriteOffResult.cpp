#include "WriteOffResult.h"

#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Membership.h"
#include "Sha256.h"
#include "Ticket.h"

#include <iterator>

namespace ticketsync {

namespace {
constexpr char kTag[5] = "TSWO";
constexpr qsizetype kMaxSignatureBytes = 256;

// The fields checkFields() judges, in encoding order.
enum class Field
{
    MembershipHash,
    TicketId,
    TicketVersion,
    AmountMinor,
    Currency,
    BranchId,
    ClientReference,
    Count
};

constexpr const char *kFieldNames[] = {"membership_hash", "ticket_id", "ticket_version",  "amount_minor",
                                       "currency",        "branch_id", "client_reference"};
static_assert(std::size(kFieldNames) == std::size_t(Field::Count));

struct FieldProblem
{
    Field field;
    QString problem;
};

// The size of valid UTF-16 text in UTF-8, without converting it: a surrogate pair is 4 bytes.
qsizetype utf8Size(QStringView text)
{
    qsizetype bytes = 0;
    for (const QChar c : text) {
        const char16_t u = c.unicode();
        bytes += u < 0x80 ? 1 : u < 0x800 || c.isSurrogate() ? 2 : 3;
    }
    return bytes;
}

// The first field that is out of range, if any.
std::optional<FieldProblem> firstInvalidField(const WriteOffResult &w)
{
    if (w.membershipHash.size() != kDigestSize)
        return FieldProblem{Field::MembershipHash, QStringLiteral("membership hash is not 32 bytes")};
    // Text that has no UTF-8 form first: it would sign and hash as some other string.
    const struct
    {
        Field field;
        const QString &text;
        QStringView name;
    } texts[] = {{Field::TicketId, w.ticketId, u"ticket id"},
                 {Field::Currency, w.currency, u"currency"},
                 {Field::BranchId, w.branchId, u"branch id"},
                 {Field::ClientReference, w.clientReference, u"client reference"}};
    for (const auto &text : texts) {
        if (QString problem = checkCanonicalString(text.text, text.name); !problem.isEmpty())
            return FieldProblem{text.field, problem};
    }
    if (QString problem = checkTicketId(w.ticketId); !problem.isEmpty())
        return FieldProblem{Field::TicketId, problem};
    if (w.ticketVersion == 0)
        return FieldProblem{Field::TicketVersion, QStringLiteral("ticket version must start at 1")};
    if (w.amountMinor <= 0)
        return FieldProblem{Field::AmountMinor,
                            QStringLiteral("amount %1 must be positive").arg(w.amountMinor)};
    if (QString problem = checkCurrencyCode(w.currency); !problem.isEmpty())
        return FieldProblem{Field::Currency, problem};
    if (QString problem = checkNodeId(w.branchId); !problem.isEmpty())
        return FieldProblem{Field::BranchId, QStringLiteral("branch: ") + problem};
    // In bytes of UTF-8, as it is encoded: decode() refuses more, so a longer one would be signed
    // and sent only to be refused by every node that reads it.
    if (const qsizetype bytes = utf8Size(w.clientReference); bytes > kMaxClientReferenceBytes)
        return FieldProblem{Field::ClientReference,
                            QStringLiteral("client reference is %1 bytes in UTF-8, the limit is %2")
                                .arg(bytes)
                                .arg(kMaxClientReferenceBytes)};
    return std::nullopt;
}
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
    qsizetype offsets[std::size_t(Field::Count)] = {};
    const auto at = [&offsets, &reader](Field field) {
        offsets[std::size_t(field)] = reader.offset();
    };
    at(Field::MembershipHash);
    result.membershipHash = reader.readFixed(kDigestSize, "membership_hash");
    at(Field::TicketId);
    result.ticketId = reader.readString("ticket_id", kMaxTicketIdLength);
    at(Field::TicketVersion);
    result.ticketVersion = reader.readU32("ticket_version");
    at(Field::AmountMinor);
    result.amountMinor = reader.readI64("amount_minor");
    at(Field::Currency);
    result.currency = reader.readString("currency", 3);
    at(Field::BranchId);
    result.branchId = reader.readString("branch_id", kMaxNodeIdLength);
    result.issuedAtMs = reader.readI64("issued_at_ms");
    at(Field::ClientReference);
    result.clientReference = reader.readString("client_reference", kMaxClientReferenceBytes);
    result.signature = reader.readBytes("signature", kMaxSignatureBytes);
    reader.expectEnd("write-off result");
    if (reader.ok()) {
        if (const auto invalid = firstInvalidField(result))
            reader.fail(QStringLiteral("invalid write-off result: field '%1' at offset %2: %3")
                            .arg(QLatin1String(kFieldNames[std::size_t(invalid->field)]))
                            .arg(offsets[std::size_t(invalid->field)])
                            .arg(invalid->problem));
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
    const auto invalid = firstInvalidField(*this);
    return invalid ? invalid->problem : QString();
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
