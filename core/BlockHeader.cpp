#include "BlockHeader.h"

#include "Block.h"
#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Membership.h"
#include "Sha256.h"
#include "Ticket.h"

namespace ticketsync {

namespace {
constexpr char kHeaderTag[5] = "TSBH";
} // namespace

BlockHeader BlockHeader::of(const Block &block)
{
    return {block.height,        block.previousHash, block.membershipHash,           block.timestampMs,
            block.coordinatorId, block.merkleRoot,   quint32(block.decisions.size())};
}

QByteArray BlockHeader::encode() const
{
    CanonicalWriter writer(kHeaderTag);
    writer.writeU64(height);
    writer.writeFixed(previousHash);
    writer.writeFixed(membershipHash);
    writer.writeI64(timestampMs);
    writer.writeString(coordinatorId);
    writer.writeFixed(merkleRoot);
    writer.writeU32(decisionCount);
    return writer.bytes();
}

QByteArray BlockHeader::hash() const
{
    return sha256(encode());
}

std::optional<BlockHeader> BlockHeader::decode(const QByteArray &bytes, QString *error)
{
    CanonicalReader reader(bytes);
    BlockHeader header;
    reader.expectHeader(kHeaderTag, "block header");
    const qsizetype heightOffset = reader.offset();
    header.height = reader.readU64("height");
    header.previousHash = reader.readFixed(kDigestSize, "previous_hash");
    header.membershipHash = reader.readFixed(kDigestSize, "membership_hash");
    header.timestampMs = reader.readI64("timestamp_ms");
    header.coordinatorId = reader.readString("coordinator_id", kMaxNodeIdLength);
    header.merkleRoot = reader.readFixed(kDigestSize, "merkle_root");
    const qsizetype countOffset = reader.offset();
    header.decisionCount = reader.readU32("decision_count");
    reader.expectEnd("block header");
    if (reader.ok() && header.decisionCount > Block::kMaxDecisions)
        reader.fail(
            QStringLiteral(
                "oversized block: field 'decision_count' at offset %1 is %2 decisions, the limit is %3")
                .arg(countOffset)
                .arg(header.decisionCount)
                .arg(Block::kMaxDecisions));
    if (reader.ok() && header.height == 0)
        reader.fail(QStringLiteral(
                        "field 'height' at offset %1: block height 0 is not allowed; the chain starts at 1")
                        .arg(heightOffset));
    if (!reader.ok()) {
        if (error)
            *error = reader.errorString();
        return std::nullopt;
    }
    return header;
}

QString BlockHeader::verifySignature(const QByteArray &signature, const Membership &membership) const
{
    const Member *coordinator = membership.member(coordinatorId);
    if (!coordinator || !coordinator->hasRole(Role::Coordinator))
        return QStringLiteral("'%1' is not a coordinator of the consortium").arg(coordinatorId);
    const SignatureScheme *scheme = SignatureScheme::byName(coordinator->scheme);
    if (!scheme || !scheme->verify(coordinator->publicKey, encode(), signature))
        return QStringLiteral("the coordinator's signature does not verify");
    return {};
}

} // namespace ticketsync
