#include "Block.h"

#include "BlockHeader.h"
#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Membership.h"
#include "MerkleTree.h"
#include "Sha256.h"

namespace ticketsync {

namespace {
constexpr char kBlockTag[5] = "TSBK";
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
        level.append(MerkleTree::leafHash(decision));
    while (level.size() > 1) {
        QList<QByteArray> next;
        next.reserve((level.size() + 1) / 2);
        for (qsizetype i = 0; i + 1 < level.size(); i += 2)
            next.append(MerkleTree::innerHash(level.at(i), level.at(i + 1)));
        if (level.size() % 2 == 1)
            next.append(level.last());
        level = std::move(next);
    }
    return level.first();
}

QByteArray Block::headerBytes() const
{
    return BlockHeader::of(*this).encode();
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
        // The header is decoded on its own; offsets in its errors are relative to byte 9.
        QString problem;
        if (const std::optional<BlockHeader> decoded = BlockHeader::decode(header, &problem)) {
            block.height = decoded->height;
            block.previousHash = decoded->previousHash;
            block.membershipHash = decoded->membershipHash;
            block.timestampMs = decoded->timestampMs;
            block.coordinatorId = decoded->coordinatorId;
            block.merkleRoot = decoded->merkleRoot;
            decisionCount = decoded->decisionCount;
        } else {
            reader.fail(QStringLiteral("block header (starting at offset 9; offsets below are within it): ") +
                        problem);
        }
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
