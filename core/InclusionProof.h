#pragma once

#include "BlockHeader.h"
#include "MerkleTree.h"

#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QSet>
#include <optional>

namespace ticketsync {

struct Block;
class Membership;

// That a decision is in a block the coordinator signed, checkable offline without the block: the
// block's header bytes, the coordinator's signature on them, and the merkle path from the
// decision's leaf to the header's root. Every field of the decision's canonical bytes
// (decided_at, missing, equivocating, the histogram) is then signed by the coordinator, and the
// header names the height.
struct InclusionProof
{
    QByteArray header;    // canonical header bytes (Block::headerBytes)
    QByteArray signature; // the coordinator's, on header
    quint32 leafIndex = 0;
    QList<QByteArray> path; // MerkleTree::path(leafIndex)

    // Empty when it holds: the header decodes, was sealed under this membership, is signed by the
    // coordinator it names, and the path leads from exactly these decision bytes at leafIndex to
    // its merkle root. Otherwise names the first check that failed. *decoded gets the header.
    // signedHeaders, when given, holds the header and signature pairs (concatenated) already
    // verified under this membership, and gains this one: the entries of one block then cost one
    // signature check between them.
    QString verify(const QByteArray &encodedDecision, const Membership &membership,
                   BlockHeader *decoded = nullptr, QSet<QByteArray> *signedHeaders = nullptr) const;

    // As the API and the audit bundle carry it: {"header": base64, "signature": base64,
    // "leaf_index": N, "path": [hex, ...]}.
    QJsonObject toJson() const;
    // Strict: exactly those keys, canonical base64 and lower-case hex of 32 bytes.
    static std::optional<InclusionProof> fromJson(const QJsonObject &object, QString *error);
    bool operator==(const InclusionProof &other) const = default;
};

// One sealed block, ready to answer for any of its decisions with their canonical bytes and
// inclusion proof: encodes the block once, and builds its merkle tree once, at the first proof,
// however many of its decisions are asked for.
class BlockProofs
{
public:
    explicit BlockProofs(const Block &block);

    // The decision's place in the block, by write-off digest; -1 if the block does not hold it.
    qsizetype indexOf(const QByteArray &writeOffDigest) const { return byDigest.value(writeOffDigest, -1); }
    const QByteArray &decisionBytes(qsizetype index) const { return encoded.at(index); }
    InclusionProof proof(qsizetype index) const;

private:
    QByteArray header;
    QByteArray signature;
    QList<QByteArray> encoded;
    QHash<QByteArray, qsizetype> byDigest;
    mutable std::optional<MerkleTree> tree; // not built for a lookup of bytes alone
};

} // namespace ticketsync
