#include "Block.h"

#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Membership.h"
#include "Sha256.h"
#include "Ticket.h"

namespace ticketsync {

namespace {
constexpr char kBlockTag[5] = "TSBK";
constexpr char kHeaderTag[5] = "TSBH";
constexpr qsizetype kMaxHeaderBytes = 512;
constexpr qsizetype kMaxSignatureBytes = 256;
constexpr qsizetype kMaxDecisionBytes = 1 << 20;
} // namespace

QByteArray Block::genesisPreviousHash()
{
    return QByteArray(kDigestSize, '\0');
}

QByteArray Block::merkleRootOf(const QList<QByteArray> &encodedDecisions)
{
    if (encodedDecisions.isEmpty())
        return sha256(QByteArray());
    QList<QByteArray> level;
    level.reserve(encodedDecisions.size());
    for (const QByteArray &decision : encodedDecisions)
        level.append(sha256(QByteArray(1, '\x00') + decision));
    while (level.size() > 1) {
        QList<QByteArray> next;
        next.reserve((level.size() + 1) / 2);
        for (qsizetype i = 0; i + 1 < level.size(); i += 2)
            next.append(sha256(QByteArray(1, '\x01') + level.at(i) + level.at(i + 1)));
        if (level.size() % 2 == 1)
            next.append(level.last());
        level = std::move(next);
    }
    return level.first();
}

QByteArray Block::headerBytes() const
{
    CanonicalWriter writer(kHeaderTag);
    writer.writeU64(height);
    writer.writeFixed(previousHash);
    writer.writeFixed(membershipHash);
    writer.writeI64(timestampMs);
    writer.writeString(coordinatorId);
    writer.writeFixed(merkleRoot);
    writer.writeU32(quint32(decisions.size()));
    return writer.bytes();
}

QByteArray Block::hash() const
{
    return sha256(headerBytes());
}

QByteArray Block::encode() const
{
    QList<QByteArray> encoded;
    encoded.reserve(decisions.size());
    for (const Decision &decision : decisions)
        encoded.append(decision.encode());
    return encode(encoded);
}

QByteArray Block::encode(const QList<QByteArray> &encodedDecisions) const
{
    Q_ASSERT(encodedDecisions.size() == decisions.size());
    qsizetype size = 512;
    for (const QByteArray &decision : encodedDecisions)
        size += 4 + decision.size();
    CanonicalWriter writer(kBlockTag, size);
    writer.writeBytes(headerBytes());
    writer.writeBytes(signature);
    for (const QByteArray &decision : encodedDecisions)
        writer.writeBytes(decision);
    return writer.bytes();
}

std::optional<Block> Block::decode(const QByteArray &bytes, QString *error)
{
    CanonicalReader reader(bytes);
    Block block;
    reader.expectHeader(kBlockTag, "block");
    const QByteArray header = reader.readBytes("header", kMaxHeaderBytes);
    block.signature = reader.readBytes("signature", kMaxSignatureBytes);
    quint32 decisionCount = 0;
    if (reader.ok()) {
        // The header is decoded with its own reader; offsets there are relative to byte 9.
        CanonicalReader headerReader(header);
        headerReader.expectHeader(kHeaderTag, "block header");
        const qsizetype heightOffset = headerReader.offset();
        block.height = headerReader.readU64("height");
        block.previousHash = headerReader.readFixed(kDigestSize, "previous_hash");
        block.membershipHash = headerReader.readFixed(kDigestSize, "membership_hash");
        block.timestampMs = headerReader.readI64("timestamp_ms");
        block.coordinatorId = headerReader.readString("coordinator_id", kMaxNodeIdLength);
        block.merkleRoot = headerReader.readFixed(kDigestSize, "merkle_root");
        const qsizetype countOffset = headerReader.offset();
        decisionCount = headerReader.readU32("decision_count");
        headerReader.expectEnd("block header");
        if (headerReader.ok() && decisionCount > kMaxDecisions)
            headerReader.fail(
                QStringLiteral(
                    "oversized block: field 'decision_count' at offset %1 is %2 decisions, the limit is %3")
                    .arg(countOffset)
                    .arg(decisionCount)
                    .arg(kMaxDecisions));
        if (headerReader.ok() && block.height == 0)
            headerReader.fail(
                QStringLiteral(
                    "field 'height' at offset %1: block height 0 is not allowed; the chain starts at 1")
                    .arg(heightOffset));
        if (!headerReader.ok())
            reader.fail(QStringLiteral("block header (starting at offset 9; offsets below are within it): ") +
                        headerReader.errorString());
    }
    for (quint32 i = 0; i < decisionCount && reader.ok(); ++i) {
        const qsizetype at = reader.offset();
        const QByteArray raw = reader.readBytes("decision", kMaxDecisionBytes);
        if (!reader.ok())
            break;
        QString problem;
        if (auto decision = Decision::decode(raw, &problem))
            block.decisions.append(std::move(*decision));
        else
            reader.fail(QStringLiteral("decision %1 at offset %2: %3").arg(i).arg(at + 4).arg(problem));
    }
    reader.expectEnd("block");
    if (!reader.ok()) {
        if (error)
            *error = reader.errorString();
        return std::nullopt;
    }
    return block;
}

void Block::seal(const KeyPair &coordinatorKey, BlockDecisionBytes *bytes)
{
    QList<QByteArray> encoded;
    encoded.reserve(decisions.size());
    for (const Decision &decision : decisions)
        encoded.append(decision.encode());
    merkleRoot = merkleRootOf(encoded);
    signature = SignatureScheme::standard().sign(coordinatorKey, headerBytes());
    if (bytes)
        *bytes = {std::move(encoded), {}};
}

} // namespace ticketsync
