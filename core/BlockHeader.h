#pragma once

#include <QByteArray>
#include <QString>
#include <optional>

namespace ticketsync {

struct Block;
class Membership;

// A block's header on its own: the bytes the coordinator signs, which commit to every decision
// of the block through the merkle root. A proof that a decision is in a block carries it without
// the other decisions. encode() is Block::headerBytes().
struct BlockHeader
{
    quint64 height = 1;
    QByteArray previousHash;
    QByteArray membershipHash;
    qint64 timestampMs = 0;
    QString coordinatorId;
    QByteArray merkleRoot;
    quint32 decisionCount = 0;

    static BlockHeader of(const Block &block);
    QByteArray encode() const;
    QByteArray hash() const; // the block hash
    // Strict: the canonical encoding only, no trailing bytes, height at least 1, at most
    // Block::kMaxDecisions decisions. Errors name the field and its offset in these bytes.
    static std::optional<BlockHeader> decode(const QByteArray &bytes, QString *error = nullptr);

    // Empty when the header names a coordinator of the membership and signature is that
    // coordinator's on these header bytes; otherwise says which of the two failed.
    QString verifySignature(const QByteArray &signature, const Membership &membership) const;
};

} // namespace ticketsync
