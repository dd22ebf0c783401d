#pragma once

#include "Block.h"

#include <QList>
#include <array>
#include <optional>
#include <vector>

namespace ticketsync {

class Membership;

// A run of consecutive blocks with the hash the first one links to; the form in which
// chains are exported and checked on their own.
struct ChainSegment
{
    QByteArray startPreviousHash;
    QList<Block> blocks;

    QByteArray encode() const;
    static std::optional<ChainSegment> decode(const QByteArray &bytes, QString *error = nullptr);
    // Whether bytes start as a chain export of the format version this build reads: anything
    // else is another kind of file, not a damaged export.
    static bool hasHeader(const QByteArray &bytes);
};

struct ChainReport
{
    bool ok = false;
    quint64 blocksVerified = 0;
    quint64 decisionsVerified = 0;
    quint64 firstHeight = 0;
    quint64 lastHeight = 0;
    QByteArray headHash;
    quint64 failedHeight = 0; // 0 when ok
    QString error;            // names the block, the decision and the check that failed
};

// A set of 32-byte keys (SHA-256 digests) in one flat table: 32 bytes a slot, at most three
// quarters full, so about 43 to 64 bytes per key, plus the old table while it grows.
class DigestSet
{
public:
    // key must be 32 bytes. False if it was there already.
    bool insert(const QByteArray &key);
    bool contains(const QByteArray &key) const;
    qsizetype size() const { return count; }
    // Bytes held by the table.
    qsizetype memoryBytes() const { return qsizetype(slots.size() * sizeof(Slot)); }

private:
    using Slot = std::array<quint8, 32>;
    static bool isZero(const QByteArray &key);
    size_t slotOf(const QByteArray &key) const; // where key is, or the empty slot it would take
    void grow();

    std::vector<Slot> slots; // an all-zero slot is empty; the all-zero key is kept in hasZero
    qsizetype count = 0;
    bool hasZero = false;
    size_t seed = 0;
};

class ChainVerifier;

// One chain verified in consecutive pieces, such as a store read a page of blocks at a time,
// with the same checks ChainVerifier::verify makes on a whole chain at once: each piece must go on
// from the height and hash the previous one ended at, and no write-off may be decided twice, nor
// a (ticket, version) written off twice, anywhere in the chain, however far apart.
// For that it remembers 32-byte keys: each decided write-off's digest and, for a WRITTEN_OFF
// decision, SHA-256 of its (ticket, version). That is about 100 bytes per decision, and more
// while a table grows: 10 million decisions take about 1 GB (memoryBytes() tells).
class ChainVerification
{
public:
    ChainVerification(const ChainVerifier &verifier, QByteArray startPreviousHash);

    // Verifies the next blocks. Returns false once the chain has failed; report() then names the
    // block and the check, and later calls do nothing. With bytes, hands back what it computed
    // per decision of these blocks, as ChainVerifier::verify does.
    bool add(const QList<Block> &blocks, QList<BlockDecisionBytes> *bytes = nullptr);
    // Everything verified so far. ok until a check fails; headHash is the hash the next piece
    // must link to (empty once failed).
    const ChainReport &report() const { return total; }
    qsizetype memoryBytes() const { return decided.memoryBytes() + writtenOff.memoryBytes(); }

private:
    bool fail(quint64 height, const QString &error);

    const ChainVerifier &verifier;
    ChainReport total;
    QByteArray previous;
    quint64 expectedHeight = 0; // 0 until the first block: a segment may start at any height
    DigestSet decided;          // write-off digests
    DigestSet writtenOff;       // SHA-256 of (ticket, version) decided WRITTEN_OFF
};

class ChainVerifier
{
public:
    // threads <= 0 uses every core.
    explicit ChainVerifier(const Membership &membership, int threads = 0);

    // Verifies heights, links, header signatures, merkle roots and every certificate, and
    // that no write-off is decided twice and no (ticket, version) written off twice within
    // the segment. A chain read in pieces is verified with a ChainVerification instead, so that
    // these checks span every piece.
    // With bytes, hands back what it computed per decision, one entry per block (complete when
    // the report is ok), so that a store can take the blocks without encoding them again.
    ChainReport verify(const QByteArray &startPreviousHash, const QList<Block> &blocks,
                       QList<BlockDecisionBytes> *bytes = nullptr) const;
    // One block on its own, as a receiver does before storing it.
    QString verifyBlock(const Block &block, const QByteArray &expectedPreviousHash,
                        quint64 expectedHeight) const;

    // Verifies certificates across threads. Returns -1 when all hold, otherwise the index
    // of the first failing decision, with its error.
    // writeOffDigests, when given, holds each decision's writeOff.digest().
    qsizetype verifyCertificates(const QList<Decision> &decisions, QString *error,
                                 const QList<QByteArray> *writeOffDigests = nullptr) const;

private:
    friend class ChainVerification;
    // Fills encodedDecisions with the encodings the merkle root was checked over.
    QString checkHeader(const Block &block, const QByteArray &expectedPreviousHash, quint64 expectedHeight,
                        QList<QByteArray> *encodedDecisions) const;

    const Membership &members;
    int threadCount;
};

} // namespace ticketsync
