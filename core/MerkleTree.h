#pragma once

#include <QByteArray>
#include <QList>

namespace ticketsync {

// The merkle tree of a block's decisions, as Block::merkleRootOf defines it: a leaf is
// SHA-256(0x00 || decision), an inner node SHA-256(0x01 || left || right), and the last node of
// a level with an odd count is carried up unchanged. Kept whole, so that the path of any leaf can
// be read off without hashing the block again.
class MerkleTree
{
public:
    explicit MerkleTree(const QList<QByteArray> &encodedDecisions);

    qsizetype leafCount() const { return levels.first().size(); }
    QByteArray root() const;
    // The sibling hashes from leaf index up to the root, lowest first. A level where the node is
    // carried up adds none, so the path of leaf i of n is determined by i and n alone.
    QList<QByteArray> path(qsizetype index) const;

    static QByteArray leafHash(const QByteArray &encodedDecision);
    static QByteArray innerHash(const QByteArray &left, const QByteArray &right);
    // The root that path leads to from leaf index of leafCount, whose hash is leaf. Empty, with
    // *error set, when the index is out of range or the path has the wrong number of hashes or
    // one that is not 32 bytes: the shape of the tree fixes where each sibling goes.
    static QByteArray rootFromPath(const QByteArray &leaf, quint64 index, quint64 leafCount,
                                   const QList<QByteArray> &path, QString *error);

private:
    QList<QList<QByteArray>> levels; // leaves first; the last level holds the root
};

} // namespace ticketsync
