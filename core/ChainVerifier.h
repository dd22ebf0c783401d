#pragma once

#include "Block.h"

#include <QList>
#include <optional>

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

class ChainVerifier
{
public:
    // threads <= 0 uses every core.
    explicit ChainVerifier(const Membership &membership, int threads = 0);

    // Verifies heights, links, header signatures, merkle roots and every certificate, and
    // that no write-off is decided twice and no (ticket, version) written off twice within
    // the segment.
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
    // Fills encodedDecisions with the encodings the merkle root was checked over.
    QString checkHeader(const Block &block, const QByteArray &expectedPreviousHash, quint64 expectedHeight,
                        QList<QByteArray> *encodedDecisions) const;

    const Membership &members;
    int threadCount;
};

} // namespace ticketsync
