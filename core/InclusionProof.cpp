#include "InclusionProof.h"

#include "Block.h"
#include "Membership.h"
#include "Sha256.h"
#include "StrictJson.h"

#include <QJsonArray>

namespace ticketsync {

namespace {

QList<QByteArray> encodeAll(const QList<Decision> &decisions)
{
    QList<QByteArray> encoded;
    encoded.reserve(decisions.size());
    for (const Decision &decision : decisions)
        encoded.append(decision.encode());
    return encoded;
}

} // namespace

QString InclusionProof::verify(const QByteArray &encodedDecision, const Membership &membership,
                               BlockHeader *decoded, QSet<QByteArray> *signedHeaders) const
{
    QString problem;
    const std::optional<BlockHeader> parsed = BlockHeader::decode(header, &problem);
    if (!parsed)
        return QStringLiteral("the block header does not decode: ") + problem;
    const QString block = QStringLiteral("block %1").arg(parsed->height);
    if (parsed->membershipHash != membership.hash())
        return block + QStringLiteral(": its header was sealed under another membership (%1)")
                           .arg(QString::fromLatin1(parsed->membershipHash.toHex()));
    const QByteArray signedHeader = header + signature;
    if (!signedHeaders || !signedHeaders->contains(signedHeader)) {
        if (const QString refused = parsed->verifySignature(signature, membership); !refused.isEmpty())
            return block + QStringLiteral(": header: ") + refused;
        if (signedHeaders)
            signedHeaders->insert(signedHeader);
    }
    const QByteArray root = MerkleTree::rootFromPath(MerkleTree::leafHash(encodedDecision), leafIndex,
                                                     parsed->decisionCount, path, &problem);
    if (root.isEmpty())
        return block + QStringLiteral(": merkle path: ") + problem;
    if (root != parsed->merkleRoot)
        return block +
               QStringLiteral(": the merkle path from this decision's bytes as leaf %1 does not lead to "
                              "the header's merkle root")
                   .arg(leafIndex);
    if (decoded)
        *decoded = *parsed;
    return {};
}

QJsonObject InclusionProof::toJson() const
{
    QJsonArray hashes;
    for (const QByteArray &hash : path)
        hashes.append(QString::fromLatin1(hash.toHex()));
    return {{QLatin1String("header"), QString::fromLatin1(header.toBase64())},
            {QLatin1String("signature"), QString::fromLatin1(signature.toBase64())},
            {QLatin1String("leaf_index"), qint64(leafIndex)},
            {QLatin1String("path"), hashes}};
}

std::optional<InclusionProof> InclusionProof::fromJson(const QJsonObject &object, QString *error)
{
    const auto fail = [error](const QString &problem) {
        if (error)
            *error = problem;
        return std::nullopt;
    };
    for (const char *key : {"header", "signature", "leaf_index", "path"}) {
        if (!object.contains(QLatin1String(key)))
            return fail(QStringLiteral("missing key '%1'").arg(QLatin1String(key)));
    }
    if (object.size() != 4)
        return fail(QStringLiteral("has keys other than header, signature, leaf_index and path"));
    InclusionProof proof;
    const auto header = StrictJson::base64(object.value(QLatin1String("header")));
    if (!header)
        return fail(QStringLiteral("'header' is not canonical base64"));
    proof.header = *header;
    const auto signature = StrictJson::base64(object.value(QLatin1String("signature")));
    if (!signature)
        return fail(QStringLiteral("'signature' is not canonical base64"));
    proof.signature = *signature;
    const QJsonValue index = object.value(QLatin1String("leaf_index"));
    const double number = index.toDouble(-1);
    if (!index.isDouble() || number < 0 || number >= double(Block::kMaxDecisions) ||
        double(qint64(number)) != number)
        return fail(QStringLiteral("'leaf_index' is not an integer in [0, %1)").arg(Block::kMaxDecisions));
    proof.leafIndex = quint32(number);
    const QJsonValue path = object.value(QLatin1String("path"));
    if (!path.isArray())
        return fail(QStringLiteral("'path' is not an array"));
    for (const QJsonValue &hash : path.toArray()) {
        const auto bytes = StrictJson::hex(hash, kDigestSize);
        if (!bytes)
            return fail(QStringLiteral("'path'[%1] is not 64 lower-case hex digits").arg(proof.path.size()));
        proof.path.append(*bytes);
    }
    return proof;
}

BlockProofs::BlockProofs(const Block &block)
    : header(block.headerBytes()), signature(block.signature), encoded(encodeAll(block.decisions))
{
    byDigest.reserve(block.decisions.size());
    for (qsizetype i = 0; i < block.decisions.size(); ++i)
        byDigest.insert(block.decisions.at(i).writeOff.digest(), i);
}

InclusionProof BlockProofs::proof(qsizetype index) const
{
    if (!tree)
        tree.emplace(encoded);
    return {header, signature, quint32(index), tree->path(index)};
}

} // namespace ticketsync
