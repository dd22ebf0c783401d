#include "ChainVerifier.h"

#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Membership.h"
#include "Sha256.h"

#include <QSet>
#include <QThread>
#include <atomic>
#include <thread>
#include <vector>

namespace ticketsync {

namespace {
constexpr char kSegmentTag[5] = "TSCH";
constexpr quint32 kMaxSegmentBlocks = 1u << 24;
constexpr qsizetype kMaxBlockBytes = qsizetype(1) << 30;
} // namespace

QByteArray ChainSegment::encode() const
{
    CanonicalWriter writer(kSegmentTag);
    writer.writeFixed(startPreviousHash);
    writer.writeU32(quint32(blocks.size()));
    for (const Block &block : blocks)
        writer.writeBytes(block.encode());
    return writer.bytes();
}

std::optional<ChainSegment> ChainSegment::decode(const QByteArray &bytes, QString *error)
{
    CanonicalReader reader(bytes);
    ChainSegment segment;
    reader.expectHeader(kSegmentTag, "chain export");
    segment.startPreviousHash = reader.readFixed(kDigestSize, "start_previous_hash");
    const quint32 count = reader.readCount("blocks", kMaxSegmentBlocks, 4);
    for (quint32 i = 0; i < count && reader.ok(); ++i) {
        const qsizetype at = reader.offset();
        const QByteArray raw = reader.readBytes("block", kMaxBlockBytes);
        if (!reader.ok())
            break;
        QString problem;
        if (auto block = Block::decode(raw, &problem))
            segment.blocks.append(std::move(*block));
        else
            reader.fail(QStringLiteral("block %1 at offset %2: %3").arg(i).arg(at + 4).arg(problem));
    }
    reader.expectEnd("chain export");
    if (!reader.ok()) {
        if (error)
            *error = reader.errorString();
        return std::nullopt;
    }
    return segment;
}

ChainVerifier::ChainVerifier(const Membership &membership, int threads)
    : members(membership), threadCount(threads > 0 ? threads : qMax(1, QThread::idealThreadCount()))
{}

QString ChainVerifier::checkHeader(const Block &block, const QByteArray &expectedPreviousHash,
                                   quint64 expectedHeight, QList<QByteArray> *encodedDecisions) const
{
    if (expectedHeight != 0 && block.height != expectedHeight)
        return QStringLiteral("height is %1, expected %2").arg(block.height).arg(expectedHeight);
    if (block.previousHash != expectedPreviousHash)
        return QStringLiteral("previous hash %1 does not match the hash of the block before it (%2)")
            .arg(QString::fromLatin1(block.previousHash.toHex().left(16)),
                 QString::fromLatin1(expectedPreviousHash.toHex().left(16)));
    if (block.membershipHash != members.hash())
        return QStringLiteral("sealed under another consortium configuration");
    if (block.decisions.isEmpty())
        return QStringLiteral("holds no decisions");
    const Member *coordinator = members.member(block.coordinatorId);
    if (!coordinator || !coordinator->hasRole(Role::Coordinator))
        return QStringLiteral("'%1' is not a coordinator of the consortium").arg(block.coordinatorId);
    const SignatureScheme *scheme = SignatureScheme::byName(coordinator->scheme);
    if (!scheme || !scheme->verify(coordinator->publicKey, block.headerBytes(), block.signature))
        return QStringLiteral("the coordinator's signature does not verify");
    QList<QByteArray> encoded;
    encoded.reserve(block.decisions.size());
    for (const Decision &decision : block.decisions)
        encoded.append(decision.encode());
    if (Block::merkleRootOf(encoded) != block.merkleRoot)
        return QStringLiteral("the merkle root does not match its decisions");
    *encodedDecisions = std::move(encoded);
    return {};
}

qsizetype ChainVerifier::verifyCertificates(const QList<Decision> &decisions, QString *error,
                                            const QList<QByteArray> *writeOffDigests) const
{
    const qsizetype count = decisions.size();
    Q_ASSERT(!writeOffDigests || writeOffDigests->size() == count);
    const int workers = int(qMin<qsizetype>(threadCount, qMax<qsizetype>(1, count / 8)));
    std::vector<QString> errors(static_cast<size_t>(count));
    std::atomic<qsizetype> firstFailure{count};
    std::atomic<qsizetype> next{0};
    auto work = [&] {
        constexpr qsizetype kChunk = 16;
        for (qsizetype begin = next.fetch_add(kChunk); begin < count; begin = next.fetch_add(kChunk)) {
            const qsizetype end = qMin(count, begin + kChunk);
            for (qsizetype i = begin; i < end && i < firstFailure.load(); ++i) {
                QString problem;
                const Decision &decision = decisions.at(i);
                if (decision.outcome != Outcome::Decided)
                    problem = QStringLiteral("is %1; only decided certificates belong in the ledger")
                                  .arg(outcomeName(decision.outcome));
                else if (writeOffDigests)
                    problem = decision.verifyCertificate(members, writeOffDigests->at(i));
                else
                    problem = decision.verifyCertificate(members);
                if (!problem.isEmpty()) {
                    errors[size_t(i)] = problem;
                    qsizetype seen = firstFailure.load();
                    while (i < seen && !firstFailure.compare_exchange_weak(seen, i)) {
                    }
                }
            }
        }
    };
    if (workers <= 1) {
        work();
    } else {
        std::vector<std::thread> pool;
        for (int t = 0; t < workers; ++t)
            pool.emplace_back(work);
        for (std::thread &thread : pool)
            thread.join();
    }
    const qsizetype failed = firstFailure.load();
    if (failed == count)
        return -1;
    if (error)
        *error = errors[size_t(failed)];
    return failed;
}

QString ChainVerifier::verifyBlock(const Block &block, const QByteArray &expectedPreviousHash,
                                   quint64 expectedHeight) const
{
    QList<QByteArray> encoded;
    if (QString problem = checkHeader(block, expectedPreviousHash, expectedHeight, &encoded);
        !problem.isEmpty())
        return QStringLiteral("block %1: ").arg(block.height) + problem;
    QString problem;
    const qsizetype failed = verifyCertificates(block.decisions, &problem);
    if (failed >= 0)
        return QStringLiteral("block %1, decision %2 (ticket %3): ")
                   .arg(block.height)
                   .arg(failed)
                   .arg(block.decisions.at(failed).writeOff.ticketId) +
               problem;
    return {};
}

ChainReport ChainVerifier::verify(const QByteArray &startPreviousHash, const QList<Block> &blocks,
                                  QList<BlockDecisionBytes> *bytes) const
{
    if (bytes)
        bytes->clear();
    ChainReport report;
    if (blocks.isEmpty()) {
        report.ok = true;
        report.headHash = startPreviousHash;
        return report;
    }
    report.firstHeight = blocks.first().height;
    QByteArray previous = startPreviousHash;
    quint64 expectedHeight = blocks.first().height;
    if (startPreviousHash == Block::genesisPreviousHash() && expectedHeight != 1) {
        report.error =
            QStringLiteral("block %1: a segment starting from the genesis hash must start at height 1")
                .arg(expectedHeight);
        report.failedHeight = expectedHeight;
        return report;
    }
    QSet<QByteArray> decided;                 // write-off digests
    QSet<QPair<QString, quint32>> writtenOff; // (ticket, version) decided WRITTEN_OFF
    QList<Decision> pending;                  // certificates are checked in batches across threads
    QList<QByteArray> pendingDigests;
    QList<quint64> pendingHeights;
    auto flush = [&]() -> bool {
        QString problem;
        const qsizetype failed = verifyCertificates(pending, &problem, &pendingDigests);
        if (failed >= 0) {
            report.failedHeight = pendingHeights.at(failed);
            report.error = QStringLiteral("block %1, ticket %2 version %3: ")
                               .arg(report.failedHeight)
                               .arg(pending.at(failed).writeOff.ticketId)
                               .arg(pending.at(failed).writeOff.ticketVersion) +
                           problem;
            return false;
        }
        report.decisionsVerified += quint64(pending.size());
        pending.clear();
        pendingDigests.clear();
        pendingHeights.clear();
        return true;
    };
    for (const Block &block : blocks) {
        BlockDecisionBytes known;
        if (QString problem = checkHeader(block, previous, expectedHeight, &known.encoded);
            !problem.isEmpty()) {
            // A bad certificate in an earlier block is the first fault, so it is the one reported.
            if (!flush())
                return report;
            report.error = QStringLiteral("block %1: ").arg(block.height) + problem;
            report.failedHeight = block.height;
            return report;
        }
        for (const Decision &decision : block.decisions) {
            const QByteArray digest = decision.writeOff.digest();
            const QPair<QString, quint32> key(decision.writeOff.ticketId, decision.writeOff.ticketVersion);
            QString duplicate;
            if (decided.contains(digest))
                duplicate =
                    QStringLiteral("the write-off of ticket %1 version %2 is decided twice in the chain");
            else if (decision.decidedState == quint16(ConfirmationState::WrittenOff) &&
                     writtenOff.contains(key))
                duplicate =
                    QStringLiteral("ticket %1 version %2 is decided twice in the chain: two different "
                                   "write-offs are both WRITTEN_OFF");
            if (!duplicate.isEmpty()) {
                // The earlier copy may be a forgery; then that block, not this one, is at fault.
                if (!flush())
                    return report;
                report.error =
                    QStringLiteral("block %1: ").arg(block.height) + duplicate.arg(key.first).arg(key.second);
                report.failedHeight = block.height;
                return report;
            }
            decided.insert(digest);
            if (decision.decidedState == quint16(ConfirmationState::WrittenOff))
                writtenOff.insert(key);
            pending.append(decision);
            pendingDigests.append(digest);
            pendingHeights.append(block.height);
            if (bytes)
                known.writeOffDigests.append(digest);
        }
        if (bytes)
            bytes->append(std::move(known));
        if (pending.size() >= 4096 && !flush())
            return report;
        previous = block.hash();
        report.lastHeight = block.height;
        ++report.blocksVerified;
        ++expectedHeight;
    }
    if (!flush())
        return report;
    report.headHash = previous;
    report.ok = true;
    return report;
}

} // namespace ticketsync
