#pragma once

#include "Decision.h"

#include <QList>
#include <optional>

namespace ticketsync {

class Membership;
struct KeyPair;

// What sealing or verifying a block already computed per decision, in block order, so that
// storing it need not compute it again: each decision's canonical bytes (Decision::encode) and
// its write-off's digest (WriteOffResult::digest). Either list may be empty: not known.
struct BlockDecisionBytes
{
    QList<QByteArray> encoded;
    QList<QByteArray> writeOffDigests;
};

// A ledger block: decided certificates, a merkle root over them, and the link to the
// previous block, signed by the coordinator. The block hash is SHA-256 over the header,
// which commits to every decision through the merkle root.
struct Block
{
    static constexpr quint32 kMaxDecisions = 10000;

    quint64 height = 1; // the first block has height 1 and a previous hash of 32 zero bytes
    QByteArray previousHash;
    QByteArray membershipHash;
    qint64 timestampMs = 0;
    QString coordinatorId;
    QByteArray merkleRoot;
    QList<Decision> decisions;
    QByteArray signature;

    static QByteArray genesisPreviousHash();
    // Leaves are SHA-256(0x00 || decision); inner nodes SHA-256(0x01 || left || right);
    // an odd node is carried up unchanged (never duplicated, so no two lists share a root).
    static QByteArray merkleRootOf(const QList<QByteArray> &encodedDecisions);

    QByteArray headerBytes() const;
    QByteArray hash() const;
    QByteArray encode() const;
    // The same bytes, from the decisions' encodings already at hand (one per decision).
    QByteArray encode(const QList<QByteArray> &encodedDecisions) const;
    static std::optional<Block> decode(const QByteArray &bytes, QString *error = nullptr);

    // Computes the merkle root and signs the header; hands back the decisions' encodings.
    void seal(const KeyPair &coordinatorKey, BlockDecisionBytes *bytes = nullptr);
};

} // namespace ticketsync
