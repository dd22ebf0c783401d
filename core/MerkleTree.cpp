#include "MerkleTree.h"

#include "Sha256.h"

#include <QString>

namespace ticketsync {

MerkleTree::MerkleTree(const QList<QByteArray> &encodedDecisions)
{
    QList<QByteArray> level;
    level.reserve(encodedDecisions.size());
    for (const QByteArray &decision : encodedDecisions)
        level.append(leafHash(decision));
    levels.append(level);
    while (level.size() > 1) {
        QList<QByteArray> next;
        next.reserve((level.size() + 1) / 2);
        for (qsizetype i = 0; i + 1 < level.size(); i += 2)
            next.append(innerHash(level.at(i), level.at(i + 1)));
        if (level.size() % 2 == 1)
            next.append(level.last());
        levels.append(next);
        level = std::move(next);
    }
}

QByteArray MerkleTree::root() const
{
    // As merkleRootOf: an empty block's root is the hash of nothing (no block is empty).
    return levels.last().isEmpty() ? sha256(QByteArray()) : levels.last().first();
}

QList<QByteArray> MerkleTree::path(qsizetype index) const
{
    Q_ASSERT(index >= 0 && index < leafCount());
    QList<QByteArray> siblings;
    for (qsizetype level = 0; level + 1 < levels.size(); ++level, index /= 2) {
        const QList<QByteArray> &nodes = levels.at(level);
        const qsizetype sibling = index ^ 1;
        if (sibling < nodes.size())
            siblings.append(nodes.at(sibling));
    }
    return siblings;
}

QByteArray MerkleTree::leafHash(const QByteArray &encodedDecision)
{
    return sha256(QByteArray(1, '\x00') + encodedDecision);
}

QByteArray MerkleTree::innerHash(const QByteArray &left, const QByteArray &right)
{
    return sha256(QByteArray(1, '\x01') + left + right);
}

QByteArray MerkleTree::rootFromPath(const QByteArray &leaf, quint64 index, quint64 leafCount,
                                    const QList<QByteArray> &path, QString *error)
{
    if (index >= leafCount) {
        *error =
            QStringLiteral("leaf %1 is out of range: the block holds %2 decisions").arg(index).arg(leafCount);
        return {};
    }
    QByteArray node = leaf;
    qsizetype used = 0;
    for (quint64 i = index, count = leafCount; count > 1; i /= 2, count = (count + 1) / 2) {
        if (i % 2 == 0 && i + 1 == count)
            continue; // the odd last node: carried up unchanged
        if (used == path.size()) {
            *error = QStringLiteral("the path has %1 hashes, too few for leaf %2 of %3")
                         .arg(path.size())
                         .arg(index)
                         .arg(leafCount);
            return {};
        }
        const QByteArray &sibling = path.at(used++);
        if (sibling.size() != kDigestSize) {
            *error = QStringLiteral("path hash %1 is %2 bytes, not %3")
                         .arg(used - 1)
                         .arg(sibling.size())
                         .arg(kDigestSize);
            return {};
        }
        node = i % 2 == 0 ? innerHash(node, sibling) : innerHash(sibling, node);
    }
    if (used != path.size()) {
        *error = QStringLiteral("the path has %1 hashes, but leaf %2 of %3 needs %4")
                     .arg(path.size())
                     .arg(index)
                     .arg(leafCount)
                     .arg(used);
        return {};
    }
    return node;
}

} // namespace ticketsync
