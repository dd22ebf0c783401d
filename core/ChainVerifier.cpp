#include "ChainVerifier.h"

#include "BlockHeader.h"
#include "CanonicalReader.h"
#include "CanonicalWriter.h"
#include "Membership.h"
#include "Sha256.h"

#include <QHashFunctions>
#include <QRandomGenerator>
#include <QThread>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

namespace ticketsync {

namespace {
constexpr char kSegmentTag[5] = "TSCH";
constexpr quint32 kMaxSegmentBlocks = 1u << 24;
constexpr qsizetype kMaxBlockBytes = qsizetype(1) << 30;
constexpr size_t kFirstTableSlots = 1024;

// The key under which a chain remembers that (ticket, version) is written off: 32 bytes like a
// write-off digest, whatever the ticket id's length. Length-prefixed, so no two pairs share it.
QByteArray writtenOffKey(const QString &ticketId, quint32 version)
{
    const QByteArray ticket = ticketId.toUtf8();
    QByteArray bytes("ticketsync written-off ticket version");
    auto appendU32 = [&bytes](quint32 value) {
        for (int shift = 24; shift >= 0; shift -= 8)
            bytes.append(char((value >> shift) & 0xff));
    };
    appendU32(quint32(ticket.size()));
    bytes.append(ticket);
    appendU32(version);
    return sha256(bytes);
}
} // namespace

bool DigestSet::isZero(const QByteArray &key)
{
    return std::all_of(key.cbegin(), key.cend(), [](char byte) { return byte == 0; });
}

size_t DigestSet::slotOf(const QByteArray &key) const
{
    // Keys are digests a consortium member may have searched for; the seed keeps them from
    // being chosen to pile up in one run of slots.
    const size_t mask = slots.size() - 1;
    size_t at = qHash(QByteArrayView(key), seed) & mask;
    while (true) {
        const Slot &slot = slots[at];
        if (std::memcmp(slot.data(), key.constData(), slot.size()) == 0 || slot == Slot{})
            return at;
        at = (at + 1) & mask;
    }
}

bool DigestSet::contains(const QByteArray &key) const
{
    Q_ASSERT(key.size() == qsizetype(sizeof(Slot)));
    if (isZero(key))
        return hasZero;
    if (slots.empty())
        return false;
    const Slot &slot = slots[slotOf(key)];
    return std::memcmp(slot.data(), key.constData(), slot.size()) == 0;
}

bool DigestSet::insert(const QByteArray &key)
{
    Q_ASSERT(key.size() == qsizetype(sizeof(Slot)));
    if (isZero(key)) {
        if (hasZero)
            return false;
        hasZero = true;
        ++count;
        return true;
    }
    if (size_t(count + 1) * 4 > slots.size() * 3)
        grow();
    Slot &slot = slots[slotOf(key)];
    if (std::memcmp(slot.data(), key.constData(), slot.size()) == 0)
        return false;
    std::memcpy(slot.data(), key.constData(), slot.size());
    ++count;
    return true;
}

void DigestSet::grow()
{
    if (slots.empty())
        seed = size_t(QRandomGenerator::global()->generate64());
    const size_t size = qMax(kFirstTableSlots, slots.size() * 2);
    const std::vector<Slot> old = std::exchange(slots, std::vector<Slot>(size));
    for (const Slot &slot : old) {
        if (slot == Slot{})
            continue;
        const QByteArray key =
            QByteArray::fromRawData(reinterpret_cast<const char *>(slot.data()), qsizetype(slot.size()));
        slots[slotOf(key)] = slot;
    }
}

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

bool ChainSegment::hasHeader(const QByteArray &bytes)
{
    return bytes.size() >= 5 && bytes.startsWith(QByteArrayView(kSegmentTag, 4)) &&
           bytes.at(4) == char(CanonicalWriter::kFormatVersion);
}

ChainVerifier::ChainVerifier(const Membership &membership, int threads)
    : members(membership), threadCount(threads > 0 ? threads : qMax(1, QThread::idealThreadCount()))
{}

QString ChainVerifier::checkHeader(const Block &block, const QByteArray &expectedPreviousHash,
                                   quint64 expectedHeight, QList<QByteArray> *encodedDecisions) const
{
    if (expectedHeight != 0 && block.height != expectedHeight)
        return QStringLiteral("height is %1, expected %2").arg(block.height).arg(expectedHeight);
    if (block.height == 1 && block.previousHash != Block::genesisPreviousHash())
        return QStringLiteral("height 1 must have previous hash %1 (32 zero bytes, the genesis hash), not %2")
            .arg(QString::fromLatin1(Block::genesisPreviousHash().toHex()),
                 QString::fromLatin1(block.previousHash.toHex().left(16)));
    if (block.previousHash != expectedPreviousHash)
        return QStringLiteral("previous hash %1 does not match the hash of the block before it (%2)")
            .arg(QString::fromLatin1(block.previousHash.toHex().left(16)),
                 QString::fromLatin1(expectedPreviousHash.toHex().left(16)));
    if (block.membershipHash != members.hash())
        return QStringLiteral("sealed under another consortium configuration");
    if (block.decisions.isEmpty())
        return QStringLiteral("holds no decisions");
    if (QString refused = BlockHeader::of(block).verifySignature(block.signature, members);
        !refused.isEmpty())
        return refused;
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
    ChainVerification chain(*this, startPreviousHash);
    chain.add(blocks, bytes);
    return chain.report();
}

ChainVerification::ChainVerification(const ChainVerifier &verifier, QByteArray startPreviousHash)
    : verifier(verifier), previous(std::move(startPreviousHash))
{
    total.ok = true;
    total.headHash = previous;
}

bool ChainVerification::fail(quint64 height, const QString &error)
{
    total.ok = false;
    total.failedHeight = height;
    total.error = error;
    total.headHash.clear();
    return false;
}

bool ChainVerification::add(const QList<Block> &blocks, QList<BlockDecisionBytes> *bytes)
{
    if (bytes)
        bytes->clear();
    if (!total.ok)
        return false;
    if (blocks.isEmpty())
        return true;
    if (expectedHeight == 0) {
        expectedHeight = blocks.first().height;
        total.firstHeight = expectedHeight;
        if (previous == Block::genesisPreviousHash() && expectedHeight != 1)
            return fail(
                expectedHeight,
                QStringLiteral("block %1: a segment starting from the genesis hash must start at height 1")
                    .arg(expectedHeight));
        if (expectedHeight == 1 && previous != Block::genesisPreviousHash())
            return fail(expectedHeight,
                        QStringLiteral("block 1: a segment starting at height 1 must start from previous "
                                       "hash %1 (32 zero bytes, the genesis hash), not %2")
                            .arg(QString::fromLatin1(Block::genesisPreviousHash().toHex()),
                                 QString::fromLatin1(previous.toHex().left(16))));
    }
    QList<Decision> pending; // certificates are checked in batches across threads
    QList<QByteArray> pendingDigests;
    QList<quint64> pendingHeights;
    // Blocks whose headers passed, waiting for their certificates: a block counts as verified
    // only once the batch holding its last certificate has passed.
    struct PendingBlock
    {
        quint64 height;
        quint64 decisions;
    };
    QList<PendingBlock> pendingBlocks;
    auto count = [this](const PendingBlock &block) {
        total.lastHeight = block.height;
        ++total.blocksVerified;
        total.decisionsVerified += block.decisions;
    };
    auto flush = [&]() -> bool {
        QString problem;
        const qsizetype failed = verifier.verifyCertificates(pending, &problem, &pendingDigests);
        if (failed >= 0) {
            const quint64 height = pendingHeights.at(failed);
            // The blocks before the failing one hold; it and those after it do not.
            for (const PendingBlock &block : std::as_const(pendingBlocks)) {
                if (block.height < height)
                    count(block);
            }
            return fail(height, QStringLiteral("block %1, ticket %2 version %3: ")
                                        .arg(height)
                                        .arg(pending.at(failed).writeOff.ticketId)
                                        .arg(pending.at(failed).writeOff.ticketVersion) +
                                    problem);
        }
        for (const PendingBlock &block : std::as_const(pendingBlocks))
            count(block);
        pending.clear();
        pendingDigests.clear();
        pendingHeights.clear();
        pendingBlocks.clear();
        return true;
    };
    for (const Block &block : blocks) {
        BlockDecisionBytes known;
        if (QString problem = verifier.checkHeader(block, previous, expectedHeight, &known.encoded);
            !problem.isEmpty()) {
            // A bad certificate in an earlier block is the first fault, so it is the one reported.
            if (!flush())
                return false;
            return fail(block.height, QStringLiteral("block %1: ").arg(block.height) + problem);
        }
        for (const Decision &decision : block.decisions) {
            const QByteArray digest = decision.writeOff.digest();
            const bool writesOff = decision.decidedState == quint16(ConfirmationState::WrittenOff);
            const QByteArray ticketKey =
                writesOff ? writtenOffKey(decision.writeOff.ticketId, decision.writeOff.ticketVersion)
                          : QByteArray();
            QString duplicate;
            if (decided.contains(digest))
                duplicate =
                    QStringLiteral("the write-off of ticket %1 version %2 is decided twice in the chain");
            else if (writesOff && writtenOff.contains(ticketKey))
                duplicate =
                    QStringLiteral("ticket %1 version %2 is decided twice in the chain: two different "
                                   "write-offs are both WRITTEN_OFF");
            if (!duplicate.isEmpty()) {
                // The earlier copy may be a forgery; then that block, not this one, is at fault.
                if (!flush())
                    return false;
                return fail(
                    block.height,
                    QStringLiteral("block %1: ").arg(block.height) +
                        duplicate.arg(decision.writeOff.ticketId).arg(decision.writeOff.ticketVersion));
            }
            decided.insert(digest);
            if (writesOff)
                writtenOff.insert(ticketKey);
            pending.append(decision);
            pendingDigests.append(digest);
            pendingHeights.append(block.height);
            if (bytes)
                known.writeOffDigests.append(digest);
        }
        if (bytes)
            bytes->append(std::move(known));
        pendingBlocks.append({block.height, quint64(block.decisions.size())});
        previous = block.hash();
        ++expectedHeight;
        if (pending.size() >= 4096 && !flush())
            return false;
    }
    if (!flush())
        return false;
    total.headHash = previous;
    return true;
}

} // namespace ticketsync
