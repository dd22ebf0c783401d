// Ledger chains: building sealed blocks from real tallies, verifying whole chains and
// segments, the export round trip, and every kind of tampering the verifier must catch.
#include "Block.h"
#include "BlockHeader.h"
#include "ChainVerifier.h"
#include "Decision.h"
#include "InclusionProof.h"
#include "Membership.h"
#include "MerkleTree.h"
#include "SampleConsortium.h"
#include "Sha256.h"
#include "Tally.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QTest>

#include <functional>
#include <optional>

using namespace ticketsync;

namespace {

constexpr qint64 kT0 = 1700000000000;
constexpr int kTargets = 4; // q = 3

SampleConsortium consortium(const QString &label = QStringLiteral("ticketsync-sample"),
                            QuorumPolicy policy = {})
{
    SampleConsortium::Options options;
    options.label = label;
    options.targets = kTargets;
    options.policy = policy;
    return SampleConsortium::generate(options);
}

// "block 3: ..." or "block 3, ticket ...": the error must start by naming the height.
bool namesHeight(const QString &error, quint64 height)
{
    const QString prefix = QStringLiteral("block %1").arg(height);
    return error.startsWith(prefix + QLatin1Char(':')) || error.startsWith(prefix + QLatin1Char(','));
}

} // namespace

class ChainTest : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void wholeChain_data();
    void wholeChain();
    void eachBlockOnItsOwn();
    void segments_data();
    void segments();
    void segmentRoundTrip();
    void truncatedOrPaddedSegment();
    void tamperEveryByteOfABlock_data();
    void tamperEveryByteOfABlock();
    void tamperSegmentBytes();
    void reorderedBlocks();
    void removedBlock();
    void replacedDecision();
    void decidedTwice();
    void piecesOfOneChain();
    void decidedTwiceInDifferentPieces();
    void digestSet();
    void undeterminedDecision();
    void wrongMembership();
    void signedByTarget();
    void merkleRootMismatch();
    void emptyBlock();
    void firstFailureIsReported();
    void onlyVerifiedBlocksAreCounted();
    void heightOneStartsFromGenesis();
    void merklePaths_data();
    void merklePaths();
    void merklePathsFollowTheRootRule();
    void headerOnItsOwn();
    void inclusionProofs();
    void tamperedInclusionProofs();

private:
    // A real decision: the write-off signed by branch-1, confirmed through a Tally.
    enum class Votes
    {
        Dissent,
        Unanimous,
        Split
    };
    Decision decide(const SampleConsortium &from, const QString &ticket, quint32 version = 1,
                    qint64 amount = 125000, Votes votes = Votes::Dissent) const;
    Decision decide(const QString &ticket, quint32 version = 1, qint64 amount = 125000) const
    {
        return decide(sample, ticket, version, amount);
    }
    Block makeBlock(quint64 height, const QByteArray &previousHash, const QList<Decision> &decisions,
                    const QString &signerId = QStringLiteral("coordinator-1")) const;
    QList<Block> makeChain(const QList<QList<Decision>> &contents) const;
    void expectFailure(const ChainReport &report, quint64 height, const QString &what) const;
    void expectFailure(const ChainReport &report, quint64 height, const char *what) const
    {
        expectFailure(report, height, QString::fromLatin1(what));
    }

    SampleConsortium sample;
    QList<Decision> decisions; // the ones in `chain`, in order
    QList<Block> chain;        // heights 1..5 holding 1, 2, 3, 1, 2 decisions
};

Decision ChainTest::decide(const SampleConsortium &from, const QString &ticket, quint32 version,
                           qint64 amount, Votes votes) const
{
    const WriteOffResult writeOff = from.writeOff(QStringLiteral("branch-1"), ticket, version, amount,
                                                  QStringLiteral("CNY"), kT0 + amount);
    Tally tally(from.membership, writeOff);
    const QStringList targets = from.targetIds();
    for (qsizetype i = 0; i < targets.size() && !tally.isFinal(); ++i) {
        // Dissent: target-1 says AMOUNT_MISMATCH first, the others decide WRITTEN_OFF.
        // Split: 2 vs 2, which can never decide.
        const bool dissent = votes == Votes::Split ? i % 2 == 1 : votes == Votes::Dissent && i == 0;
        tally.add(from.confirm(targets.at(i), writeOff,
                               dissent ? ConfirmationState::AmountMismatch : ConfirmationState::WrittenOff));
    }
    tally.expire();
    return tally.decision(kT0 + amount + 500);
}

Block ChainTest::makeBlock(quint64 height, const QByteArray &previousHash, const QList<Decision> &contents,
                           const QString &signerId) const
{
    Block block;
    block.height = height;
    block.previousHash = previousHash;
    block.membershipHash = sample.membership.hash();
    block.timestampMs = kT0 + qint64(height) * 1000;
    block.coordinatorId = signerId;
    block.decisions = contents;
    block.seal(sample.keys.value(signerId));
    return block;
}

QList<Block> ChainTest::makeChain(const QList<QList<Decision>> &contents) const
{
    QList<Block> blocks;
    QByteArray previous = Block::genesisPreviousHash();
    for (qsizetype i = 0; i < contents.size(); ++i) {
        blocks.append(makeBlock(quint64(i + 1), previous, contents.at(i)));
        previous = blocks.last().hash();
    }
    return blocks;
}

void ChainTest::expectFailure(const ChainReport &report, quint64 height, const QString &what) const
{
    QVERIFY2(!report.ok, "the verifier accepted a bad chain");
    QVERIFY2(report.failedHeight == height, qPrintable(QStringLiteral("failed at %1, expected %2: %3")
                                                           .arg(report.failedHeight)
                                                           .arg(height)
                                                           .arg(report.error)));
    QVERIFY2(namesHeight(report.error, height), qPrintable(report.error));
    QVERIFY2(report.error.contains(what, Qt::CaseInsensitive), qPrintable(report.error));
}

void ChainTest::initTestCase()
{
    sample = consortium();
    QCOMPARE(sample.membership.validate(), QString());
    QCOMPARE(sample.membership.quorum(), 3);
    const int perBlock[] = {1, 2, 3, 1, 2};
    QList<QList<Decision>> contents;
    int next = 1;
    for (const int count : perBlock) {
        QList<Decision> block;
        for (int i = 0; i < count; ++i, ++next) {
            block.append(decide(SampleConsortium::ticketId(next), 1, 100000 + next * 1111));
            QCOMPARE(block.last().outcome, Outcome::Decided);
            QCOMPARE(block.last().verifyCertificate(sample.membership), QString());
        }
        decisions.append(block);
        contents.append(block);
    }
    chain = makeChain(contents);
    QCOMPARE(chain.size(), qsizetype(5));
    QCOMPARE(chain.first().previousHash, Block::genesisPreviousHash());
    QCOMPARE(Block::genesisPreviousHash(), QByteArray(32, '\0'));
    for (qsizetype i = 1; i < chain.size(); ++i) {
        QCOMPARE(chain.at(i).previousHash, chain.at(i - 1).hash());
        QVERIFY(chain.at(i).hash() != chain.at(i - 1).hash());
    }
}

void ChainTest::wholeChain_data()
{
    QTest::addColumn<int>("threads");
    QTest::newRow("all cores") << 0;
    QTest::newRow("1 thread") << 1;
    QTest::newRow("2 threads") << 2;
}

void ChainTest::wholeChain()
{
    QFETCH(int, threads);
    const ChainVerifier verifier(sample.membership, threads);
    const ChainReport report = verifier.verify(Block::genesisPreviousHash(), chain);
    QVERIFY2(report.ok, qPrintable(report.error));
    QCOMPARE(report.error, QString());
    QCOMPARE(report.blocksVerified, quint64(5));
    QCOMPARE(report.decisionsVerified, quint64(decisions.size()));
    QCOMPARE(report.decisionsVerified, quint64(9));
    QCOMPARE(report.firstHeight, quint64(1));
    QCOMPARE(report.lastHeight, quint64(5));
    QCOMPARE(report.headHash, chain.last().hash());
    QCOMPARE(report.headHash, sha256(chain.last().headerBytes()));
    QCOMPARE(report.failedHeight, quint64(0));

    // The certificate batch check agrees.
    QString error;
    QCOMPARE(verifier.verifyCertificates(decisions, &error), qsizetype(-1));
    QList<Decision> broken = decisions;
    broken[6].confirmations.removeFirst();
    QCOMPARE(verifier.verifyCertificates(broken, &error), qsizetype(6));
    QVERIFY(!error.isEmpty());

    // An empty list is trivially fine and its head is where it started.
    const ChainReport empty = verifier.verify(chain.at(1).hash(), {});
    QVERIFY(empty.ok);
    QCOMPARE(empty.headHash, chain.at(1).hash());
    QCOMPARE(empty.blocksVerified, quint64(0));
}

void ChainTest::eachBlockOnItsOwn()
{
    const ChainVerifier verifier(sample.membership, 1);
    QByteArray previous = Block::genesisPreviousHash();
    for (const Block &block : std::as_const(chain)) {
        QCOMPARE(verifier.verifyBlock(block, previous, block.height), QString());
        // Wrong height or wrong link: refused, naming the block.
        const QString wrongHeight = verifier.verifyBlock(block, previous, block.height + 1);
        QVERIFY2(namesHeight(wrongHeight, block.height), qPrintable(wrongHeight));
        QVERIFY(wrongHeight.contains(QLatin1String("height")));
        const QString wrongLink = verifier.verifyBlock(block, sha256(previous), block.height);
        QVERIFY2(namesHeight(wrongLink, block.height), qPrintable(wrongLink));
        QVERIFY(wrongLink.contains(QLatin1String("previous hash")));
        previous = block.hash();
    }
}

void ChainTest::segments_data()
{
    QTest::addColumn<int>("from");
    QTest::addColumn<int>("to");
    for (int from = 1; from <= 5; ++from) {
        for (int to = from; to <= 5; ++to)
            QTest::addRow("blocks %d..%d", from, to) << from << to;
    }
}

void ChainTest::segments()
{
    QFETCH(int, from);
    QFETCH(int, to);
    const ChainVerifier verifier(sample.membership, 1);
    const QList<Block> blocks = chain.mid(from - 1, to - from + 1);
    const QByteArray start = from == 1 ? Block::genesisPreviousHash() : chain.at(from - 2).hash();

    const ChainReport report = verifier.verify(start, blocks);
    QVERIFY2(report.ok, qPrintable(report.error));
    QCOMPARE(report.firstHeight, quint64(from));
    QCOMPARE(report.lastHeight, quint64(to));
    QCOMPARE(report.blocksVerified, quint64(to - from + 1));
    quint64 expectedDecisions = 0;
    for (const Block &block : blocks)
        expectedDecisions += quint64(block.decisions.size());
    QCOMPARE(report.decisionsVerified, expectedDecisions);
    QCOMPARE(report.headHash, chain.at(to - 1).hash());

    // The same blocks from any other starting hash fail at the first block.
    const QByteArray wrongStart = from == 1 ? chain.at(0).hash() : chain.at(from - 1).hash();
    expectFailure(verifier.verify(wrongStart, blocks), quint64(from), "previous hash");
    if (from > 1) // a segment claiming to start at genesis must be block 1
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), quint64(from), "height 1");
}

void ChainTest::segmentRoundTrip()
{
    const ChainVerifier verifier(sample.membership, 1);
    const QList<ChainSegment> cases = {
        {Block::genesisPreviousHash(), chain},
        {chain.at(1).hash(), chain.mid(2, 3)},
        {chain.at(3).hash(), {}},
    };
    for (const ChainSegment &segment : cases) {
        const QByteArray bytes = segment.encode();
        QString error;
        const std::optional<ChainSegment> decoded = ChainSegment::decode(bytes, &error);
        QVERIFY2(decoded.has_value(), qPrintable(error));
        QCOMPARE(decoded->startPreviousHash, segment.startPreviousHash);
        QCOMPARE(decoded->blocks.size(), segment.blocks.size());
        for (qsizetype i = 0; i < segment.blocks.size(); ++i) {
            const Block &original = segment.blocks.at(i);
            const Block &copy = decoded->blocks.at(i);
            QCOMPARE(copy.height, original.height);
            QCOMPARE(copy.previousHash, original.previousHash);
            QCOMPARE(copy.membershipHash, original.membershipHash);
            QCOMPARE(copy.timestampMs, original.timestampMs);
            QCOMPARE(copy.coordinatorId, original.coordinatorId);
            QCOMPARE(copy.merkleRoot, original.merkleRoot);
            QCOMPARE(copy.signature, original.signature);
            QCOMPARE(copy.decisions.size(), original.decisions.size());
            for (qsizetype d = 0; d < original.decisions.size(); ++d)
                QCOMPARE(copy.decisions.at(d).encode(), original.decisions.at(d).encode());
            QCOMPARE(copy.hash(), original.hash());
            QCOMPARE(copy.encode(), original.encode());
        }
        QCOMPARE(decoded->encode(), bytes);
        const ChainReport report = verifier.verify(decoded->startPreviousHash, decoded->blocks);
        QVERIFY2(report.ok, qPrintable(report.error));
        QCOMPARE(report.headHash,
                 segment.blocks.isEmpty() ? segment.startPreviousHash : segment.blocks.last().hash());
    }
}

void ChainTest::truncatedOrPaddedSegment()
{
    const QByteArray bytes = ChainSegment{Block::genesisPreviousHash(), chain.mid(0, 2)}.encode();
    for (qsizetype size = 0; size < bytes.size(); ++size) {
        QString error;
        QVERIFY2(!ChainSegment::decode(bytes.left(size), &error).has_value(),
                 qPrintable(QStringLiteral("a %1-byte prefix decoded").arg(size)));
        QVERIFY(!error.isEmpty());
    }
    QString error;
    QVERIFY(!ChainSegment::decode(bytes + '\0', &error).has_value());
    QVERIFY(!error.isEmpty());
    const QByteArray block = chain.at(0).encode();
    QVERIFY(!Block::decode(block + '\0').has_value());
    QVERIFY(!Block::decode(block.left(block.size() - 1)).has_value());
}

void ChainTest::tamperEveryByteOfABlock_data()
{
    QTest::addColumn<int>("mask");
    QTest::newRow("xor 0x01") << 0x01;
    QTest::newRow("xor 0x80") << 0x80;
    QTest::newRow("xor 0xff") << 0xff;
}

void ChainTest::tamperEveryByteOfABlock()
{
    QFETCH(int, mask);
    const ChainVerifier verifier(sample.membership, 1);
    const Block &target = chain.at(1); // height 2, two decisions: a merkle tree with two leaves
    const QByteArray original = target.encode();
    // Untouched, it decodes to the same bytes and the chain verifies: any failure below is the flip's.
    {
        const std::optional<Block> decoded = Block::decode(original);
        QVERIFY(decoded.has_value());
        QCOMPARE(decoded->encode(), original);
        const ChainReport report =
            verifier.verify(Block::genesisPreviousHash(), {chain.at(0), *decoded, chain.at(2)});
        QVERIFY2(report.ok, qPrintable(report.error));
    }

    int undecodable = 0;
    int refused = 0;
    for (qsizetype i = 0; i < original.size(); ++i) {
        QByteArray bytes = original;
        bytes[i] = char(bytes.at(i) ^ mask);
        QString error;
        const std::optional<Block> decoded = Block::decode(bytes, &error);
        if (!decoded) {
            QVERIFY2(!error.isEmpty(), qPrintable(QStringLiteral("byte %1: no decode error").arg(i)));
            ++undecodable;
            continue;
        }
        const ChainReport report =
            verifier.verify(Block::genesisPreviousHash(), {chain.at(0), *decoded, chain.at(2)});
        if (report.ok)
            QFAIL(qPrintable(QStringLiteral("flipping byte %1 of %2 with 0x%3 went unnoticed")
                                 .arg(i)
                                 .arg(original.size())
                                 .arg(mask, 2, 16, QLatin1Char('0'))));
        // The tampered block itself is refused (under whatever height it now claims).
        if (report.failedHeight != decoded->height || !namesHeight(report.error, decoded->height))
            QFAIL(qPrintable(QStringLiteral("byte %1: failed at %2 (block claims %3): %4")
                                 .arg(i)
                                 .arg(report.failedHeight)
                                 .arg(decoded->height)
                                 .arg(report.error)));
        ++refused;
    }
    QCOMPARE(undecodable + refused, int(original.size()));
    // Both paths are exercised: structure bytes break decoding, content bytes break verification.
    QVERIFY(undecodable > 0);
    QVERIFY(refused > 0);
    qDebug("block of %d bytes: %d flips undecodable, %d refused by the verifier", int(original.size()),
           undecodable, refused);
}

void ChainTest::tamperSegmentBytes()
{
    // Every byte of an exported three-block segment, one bit at a time.
    const ChainVerifier verifier(sample.membership, 1);
    const ChainSegment segment{chain.at(0).hash(), chain.mid(1, 3)};
    const QByteArray original = segment.encode();
    QElapsedTimer timer;
    timer.start();
    for (qsizetype i = 0; i < original.size(); ++i) {
        QByteArray bytes = original;
        bytes[i] = char(bytes.at(i) ^ 0x04);
        const std::optional<ChainSegment> decoded = ChainSegment::decode(bytes);
        if (!decoded)
            continue;
        const ChainReport report = verifier.verify(decoded->startPreviousHash, decoded->blocks);
        if (report.ok)
            QFAIL(qPrintable(QStringLiteral("flipping byte %1 of the segment went unnoticed").arg(i)));
        QVERIFY2(report.failedHeight != 0 && namesHeight(report.error, report.failedHeight),
                 qPrintable(report.error));
    }
    qDebug("%d segment bytes flipped in %lld ms", int(original.size()), timer.elapsed());
}

void ChainTest::reorderedBlocks()
{
    const ChainVerifier verifier(sample.membership, 1);
    QList<Block> swapped = chain;
    swapped.swapItemsAt(2, 3); // heights 1 2 4 3 5
    expectFailure(verifier.verify(Block::genesisPreviousHash(), swapped), 4, "expected 3");

    QList<Block> reversed(chain.crbegin(), chain.crend());
    expectFailure(verifier.verify(Block::genesisPreviousHash(), reversed), 5, "height 1");

    // Inside a segment that starts from block 2's hash.
    const QList<Block> segment = {chain.at(3), chain.at(2), chain.at(4)};
    expectFailure(verifier.verify(chain.at(1).hash(), segment), 4, "previous hash");
}

void ChainTest::removedBlock()
{
    const ChainVerifier verifier(sample.membership, 1);
    QList<Block> gap = chain;
    gap.removeAt(2); // heights 1 2 4 5
    expectFailure(verifier.verify(Block::genesisPreviousHash(), gap), 4, "expected 3");

    expectFailure(verifier.verify(Block::genesisPreviousHash(), chain.mid(1)), 2, "height 1");

    // Closing the gap by renumbering block 4 does not help: its link still names block 3.
    QList<Block> renumbered = chain.mid(0, 2);
    Block moved = chain.at(3);
    moved.height = 3;
    moved.seal(sample.keys.value(sample.coordinatorId()));
    renumbered.append(moved);
    expectFailure(verifier.verify(Block::genesisPreviousHash(), renumbered), 3, "previous hash");

    // Dropping the newest block leaves a valid, shorter chain: only its head differs.
    const ChainReport prefix = verifier.verify(Block::genesisPreviousHash(), chain.mid(0, 4));
    QVERIFY2(prefix.ok, qPrintable(prefix.error));
    QCOMPARE(prefix.headHash, chain.at(3).hash());
    QVERIFY(prefix.headHash != chain.last().hash());
}

void ChainTest::replacedDecision()
{
    const ChainVerifier verifier(sample.membership, 1);
    const Decision replacement = decide(QStringLiteral("T-900001"));
    QCOMPARE(replacement.verifyCertificate(sample.membership), QString());

    auto withReplacement = [&](int blockIndex) {
        Block block = chain.at(blockIndex);
        block.decisions[1] = replacement;
        return block;
    };

    {
        // Re-sealed with a target's key under the coordinator's name.
        QList<Block> blocks = chain;
        blocks[2] = withReplacement(2);
        blocks[2].seal(sample.keys.value(QStringLiteral("target-1")));
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "signature");
    }
    {
        // Re-sealed by a branch under its own name.
        QList<Block> blocks = chain;
        blocks[2] = withReplacement(2);
        blocks[2].coordinatorId = QStringLiteral("branch-1");
        blocks[2].seal(sample.keys.value(QStringLiteral("branch-1")));
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "not a coordinator");
    }
    {
        // Not re-sealed: the signed header no longer matches the decisions.
        QList<Block> blocks = chain;
        blocks[2] = withReplacement(2);
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "merkle root");
    }
    {
        // Even the coordinator cannot rewrite history: the next block's link breaks.
        QList<Block> blocks = chain;
        blocks[2] = withReplacement(2);
        blocks[2].seal(sample.keys.value(sample.coordinatorId()));
        QCOMPARE(verifier.verifyBlock(blocks[2], chain.at(1).hash(), 3), QString());
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 4, "previous hash");
    }
    {
        // A doctored certificate in a properly sealed head block: one confirmation short of q.
        Decision forged = replacement;
        forged.confirmations.removeLast();
        QList<Block> blocks = chain;
        blocks[4].decisions[0] = forged;
        blocks[4].seal(sample.keys.value(sample.coordinatorId()));
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 5, "T-900001");
    }
    {
        // A certificate whose confirmation was swapped for another write-off's.
        Decision forged = replacement;
        forged.confirmations[0] = decisions.at(0).confirmations.at(0);
        QList<Block> blocks = chain;
        blocks[4].decisions[1] = forged;
        blocks[4].seal(sample.keys.value(sample.coordinatorId()));
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 5, "another write-off");
    }
}

void ChainTest::decidedTwice()
{
    const ChainVerifier verifier(sample.membership, 1);
    const Decision d1 = decisions.at(0);
    const Decision d2 = decisions.at(1);
    const Decision d3 = decisions.at(2);
    const Decision d4 = decisions.at(3);

    // The same certificate again three blocks later.
    expectFailure(verifier.verify(Block::genesisPreviousHash(), makeChain({{d1}, {d2, d3}, {d4}, {d2}})), 4,
                  "decided twice");
    // Twice within one block.
    expectFailure(verifier.verify(Block::genesisPreviousHash(), makeChain({{d1}, {d3, d3}})), 2,
                  "decided twice");
    // A different write-off (another amount) for the same ticket and version.
    const Decision conflicting = decide(d2.writeOff.ticketId, d2.writeOff.ticketVersion, 777777);
    QVERIFY(conflicting.writeOff.digest() != d2.writeOff.digest());
    const ChainReport report =
        verifier.verify(Block::genesisPreviousHash(), makeChain({{d1}, {d2}, {conflicting}}));
    expectFailure(report, 3, "decided twice");
    QVERIFY2(report.error.contains(d2.writeOff.ticketId), qPrintable(report.error));

    // The next version of the same ticket is a new write-off and fine.
    const Decision nextVersion = decide(d2.writeOff.ticketId, d2.writeOff.ticketVersion + 1);
    const ChainReport fine =
        verifier.verify(Block::genesisPreviousHash(), makeChain({{d1}, {d2}, {nextVersion}}));
    QVERIFY2(fine.ok, qPrintable(fine.error));
}

void ChainTest::piecesOfOneChain()
{
    // Any split into pieces verifies as the whole chain does, with the same totals.
    const ChainVerifier verifier(sample.membership, 1);
    const ChainReport whole = verifier.verify(Block::genesisPreviousHash(), chain);
    for (int cut = 0; cut <= chain.size(); ++cut) {
        ChainVerification pieces(verifier, Block::genesisPreviousHash());
        QVERIFY(pieces.add(chain.mid(0, cut)));
        QVERIFY(pieces.add({}));
        QVERIFY2(pieces.add(chain.mid(cut)), qPrintable(pieces.report().error));
        const ChainReport &report = pieces.report();
        QVERIFY(report.ok);
        QCOMPARE(report.blocksVerified, whole.blocksVerified);
        QCOMPARE(report.decisionsVerified, whole.decisionsVerified);
        QCOMPARE(report.firstHeight, quint64(1));
        QCOMPARE(report.lastHeight, whole.lastHeight);
        QCOMPARE(report.headHash, whole.headHash);
    }

    // A piece must go on where the last one ended: no gap, no overlap.
    ChainVerification gap(verifier, Block::genesisPreviousHash());
    QVERIFY(gap.add(chain.mid(0, 2)));
    QVERIFY(!gap.add(chain.mid(3)));
    expectFailure(gap.report(), 4, "expected 3");
    QVERIFY(!gap.add(chain.mid(2, 1))); // once failed, it stays failed
    QCOMPARE(gap.report().failedHeight, quint64(4));
    QVERIFY(gap.report().headHash.isEmpty());

    ChainVerification overlap(verifier, Block::genesisPreviousHash());
    QVERIFY(overlap.add(chain.mid(0, 3)));
    QVERIFY(!overlap.add(chain.mid(2)));
    expectFailure(overlap.report(), 3, "expected 4");

    // A segment from the middle: its pieces continue from its own first height.
    ChainVerification middle(verifier, chain.at(1).hash());
    QVERIFY(middle.add(chain.mid(2, 1)));
    QVERIFY(middle.add(chain.mid(3)));
    QCOMPARE(middle.report().firstHeight, quint64(3));
    QCOMPARE(middle.report().headHash, chain.last().hash());
}

void ChainTest::decidedTwiceInDifferentPieces()
{
    const ChainVerifier verifier(sample.membership, 1);
    const Decision d1 = decisions.at(0);
    const Decision d2 = decisions.at(1);
    const QList<Block> repeated = makeChain({{d1}, {d2}, {decisions.at(2)}, {d1}});
    const Decision conflicting = decide(d2.writeOff.ticketId, d2.writeOff.ticketVersion, 777777);
    const QList<Block> conflict = makeChain({{d1}, {d2}, {decisions.at(2)}, {conflicting}});
    for (int cut = 1; cut <= 3; ++cut) {
        ChainVerification first(verifier, Block::genesisPreviousHash());
        QVERIFY(first.add(repeated.mid(0, cut)));
        QVERIFY(!first.add(repeated.mid(cut)));
        expectFailure(first.report(), 4, "is decided twice");

        ChainVerification second(verifier, Block::genesisPreviousHash());
        QVERIFY(second.add(conflict.mid(0, cut)));
        QVERIFY(!second.add(conflict.mid(cut)));
        expectFailure(second.report(), 4, "both WRITTEN_OFF");
    }
    // What the checks span costs a few dozen bytes per decision.
    ChainVerification memory(verifier, Block::genesisPreviousHash());
    QVERIFY(memory.add(chain));
    QVERIFY(memory.memoryBytes() > 0);
    QVERIFY(memory.memoryBytes() <= 2 * 1024 * 32);
}

void ChainTest::digestSet()
{
    DigestSet set;
    QVERIFY(!set.contains(QByteArray(32, '\0')));
    constexpr int kKeys = 5000; // several times the first table
    for (int i = 0; i < kKeys; ++i)
        QVERIFY(set.insert(sha256(QByteArray::number(i))));
    QVERIFY(set.insert(QByteArray(32, '\0'))); // the all-zero key is a key like any other
    QVERIFY(!set.insert(QByteArray(32, '\0')));
    QCOMPARE(set.size(), qsizetype(kKeys + 1));
    for (int i = 0; i < kKeys; ++i) {
        QVERIFY(set.contains(sha256(QByteArray::number(i))));
        QVERIFY(!set.insert(sha256(QByteArray::number(i))));
        QVERIFY(!set.contains(sha256(QByteArray::number(-1 - i))));
    }
    QVERIFY(set.contains(QByteArray(32, '\0')));
    QVERIFY(set.memoryBytes() >= kKeys * 32 * 4 / 3);
    QVERIFY(set.memoryBytes() <= kKeys * 32 * 4);
}

void ChainTest::undeterminedDecision()
{
    const ChainVerifier verifier(sample.membership, 1);
    const Decision split = decide(sample, QStringLiteral("T-800001"), 1, 5000, Votes::Split);
    QCOMPARE(split.outcome, Outcome::Undetermined);
    // A valid UNDETERMINED result, but not a certificate for the ledger.
    QCOMPARE(split.verifyCertificate(sample.membership), QString());
    const QList<Block> blocks = makeChain({{decisions.at(0)}, {decisions.at(1)}, {decisions.at(2), split}});
    expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "UNDETERMINED");
    QVERIFY(!verifier.verifyBlock(blocks.at(2), blocks.at(1).hash(), 3).isEmpty());

    // Dressed up as DECIDED it still fails the certificate check.
    Decision dressed = split;
    dressed.outcome = Outcome::Decided;
    dressed.decidedState = quint16(ConfirmationState::WrittenOff);
    const QList<Block> forged = makeChain({{decisions.at(0)}, {dressed}});
    expectFailure(verifier.verify(Block::genesisPreviousHash(), forged), 2, "ticket T-800001");
}

void ChainTest::wrongMembership()
{
    const ChainVerifier verifier(sample.membership, 1);
    const SampleConsortium other = consortium(QStringLiteral("ticketsync-other"));
    QVERIFY(other.membership.hash() != sample.membership.hash());
    {
        // One block sealed under another configuration's hash.
        QList<Block> blocks = chain.mid(0, 2);
        Block block = makeBlock(3, blocks.last().hash(), {decisions.at(3)});
        block.membershipHash = other.membership.hash();
        block.seal(sample.keys.value(sample.coordinatorId()));
        blocks.append(block);
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "another consortium");
    }
    {
        // Same keys and members, another quorum policy: a different configuration.
        const SampleConsortium stricter =
            consortium(QStringLiteral("ticketsync-sample"), QuorumPolicy::ratio(3, 4));
        QCOMPARE(stricter.keys.value(QStringLiteral("target-1")).publicKey,
                 sample.keys.value(QStringLiteral("target-1")).publicKey);
        QVERIFY(stricter.membership.hash() != sample.membership.hash());
        const ChainVerifier strictVerifier(stricter.membership, 1);
        expectFailure(strictVerifier.verify(Block::genesisPreviousHash(), chain), 1, "another consortium");

        // A certificate tallied under that configuration, inside a block of ours.
        const Decision foreign = decide(stricter, QStringLiteral("T-700001"), 1, 125000, Votes::Unanimous);
        QCOMPARE(foreign.outcome, Outcome::Decided);
        QList<Block> blocks = chain.mid(0, 1);
        blocks.append(makeBlock(2, blocks.last().hash(), {foreign}));
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 2, "T-700001");
    }
    {
        // A whole chain from another consortium.
        QList<Block> blocks;
        Block block;
        block.height = 1;
        block.previousHash = Block::genesisPreviousHash();
        block.membershipHash = other.membership.hash();
        block.timestampMs = kT0;
        block.coordinatorId = other.coordinatorId();
        block.decisions = {decide(other, QStringLiteral("T-600001"))};
        block.seal(other.keys.value(other.coordinatorId()));
        blocks.append(block);
        QVERIFY(ChainVerifier(other.membership, 1).verify(Block::genesisPreviousHash(), blocks).ok);
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 1, "another consortium");
    }
}

void ChainTest::signedByTarget()
{
    const ChainVerifier verifier(sample.membership, 1);
    QList<Block> blocks = chain.mid(0, 2);
    // Under its own name: a target is not a coordinator.
    blocks.append(makeBlock(3, blocks.last().hash(), {decisions.at(3)}, QStringLiteral("target-1")));
    expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "not a coordinator");

    // Under the coordinator's name: the signature does not verify.
    Block impostor = blocks.last();
    impostor.coordinatorId = sample.coordinatorId();
    impostor.seal(sample.keys.value(QStringLiteral("target-1")));
    blocks.last() = impostor;
    expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "signature does not verify");
}

void ChainTest::merkleRootMismatch()
{
    const ChainVerifier verifier(sample.membership, 1);
    const KeyPair &coordinatorKey = sample.keys.value(sample.coordinatorId());
    auto resignHeaderOnly = [&](Block &block) {
        block.signature = SignatureScheme::standard().sign(coordinatorKey, block.headerBytes());
    };
    {
        // A validly signed header whose root is not the root of the decisions.
        QList<Block> blocks = chain.mid(0, 3);
        blocks[2].merkleRoot = sha256(QByteArrayLiteral("not the root"));
        resignHeaderOnly(blocks[2]);
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "merkle root");
    }
    {
        // Decisions in another order: the root commits to the order.
        QList<Block> blocks = chain.mid(0, 3);
        blocks[2].decisions.swapItemsAt(0, 2);
        resignHeaderOnly(blocks[2]);
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "merkle root");
    }
    {
        // A decision dropped after sealing.
        QList<Block> blocks = chain.mid(0, 3);
        blocks[2].decisions.removeLast();
        resignHeaderOnly(blocks[2]);
        expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 3, "merkle root");
    }
    // The root itself: odd nodes are carried up, not duplicated, so [a, b, c] and [a, b, c, c] differ.
    const QByteArray a = decisions.at(0).encode();
    const QByteArray b = decisions.at(1).encode();
    const QByteArray c = decisions.at(2).encode();
    QVERIFY(Block::merkleRootOf({a, b, c}) != Block::merkleRootOf({a, b, c, c}));
    QVERIFY(Block::merkleRootOf({a, b}) != Block::merkleRootOf({b, a}));
    QCOMPARE(chain.at(2).merkleRoot, Block::merkleRootOf({decisions.at(3).encode(), decisions.at(4).encode(),
                                                          decisions.at(5).encode()}));
}

void ChainTest::emptyBlock()
{
    const ChainVerifier verifier(sample.membership, 1);
    QList<Block> blocks = chain.mid(0, 1);
    blocks.append(makeBlock(2, blocks.last().hash(), {}));
    expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 2, "no decisions");
}

void ChainTest::firstFailureIsReported()
{
    // Two faults: an UNDETERMINED decision in block 2 and a broken link at block 4. The report
    // must name block 2, the first block that is wrong, not a later one.
    const ChainVerifier verifier(sample.membership, 1);
    const Decision split = decide(sample, QStringLiteral("T-800002"), 1, 5000, Votes::Split);
    QList<Block> blocks = makeChain({{decisions.at(0)}, {split}, {decisions.at(1)}, {decisions.at(2)}});
    blocks[3] = makeBlock(4, sha256(QByteArrayLiteral("elsewhere")), {decisions.at(2)});
    expectFailure(verifier.verify(Block::genesisPreviousHash(), blocks), 2, "UNDETERMINED");

    // A forged certificate in block 2, then the genuine one for the same ticket in block 3: the
    // forgery is the fault, not the later genuine decision.
    Decision forged = decisions.at(1);
    forged.confirmations.removeLast();
    const QList<Block> replay = makeChain({{decisions.at(0)}, {forged}, {decisions.at(1)}});
    expectFailure(verifier.verify(Block::genesisPreviousHash(), replay), 2,
                  decisions.at(1).writeOff.ticketId);
}

void ChainTest::onlyVerifiedBlocksAreCounted()
{
    // Headers are checked block by block, certificates later in one batch. A forged certificate
    // in block 2 of 3: block 1 holds, and nothing of blocks 2 and 3 counts as verified, not even
    // the good decision before the forged one in block 2.
    const ChainVerifier verifier(sample.membership, 1);
    Decision forged = decisions.at(3);
    forged.confirmations.removeLast();
    const QList<Block> blocks =
        makeChain({{decisions.at(0), decisions.at(1)}, {decisions.at(2), forged}, {decisions.at(4)}});
    const ChainReport report = verifier.verify(Block::genesisPreviousHash(), blocks);
    expectFailure(report, 2, decisions.at(3).writeOff.ticketId);
    QCOMPARE(report.firstHeight, quint64(1));
    QCOMPARE(report.blocksVerified, quint64(1));
    QCOMPARE(report.lastHeight, quint64(1));
    QCOMPARE(report.decisionsVerified, quint64(2));

    // The same, read in pieces: what an earlier piece verified stays counted.
    ChainVerification pieces(verifier, Block::genesisPreviousHash());
    QVERIFY(pieces.add(blocks.mid(0, 1)));
    QVERIFY(!pieces.add(blocks.mid(1)));
    QCOMPARE(pieces.report().blocksVerified, quint64(1));
    QCOMPARE(pieces.report().lastHeight, quint64(1));
    QCOMPARE(pieces.report().decisionsVerified, quint64(2));
    QCOMPARE(pieces.report().failedHeight, quint64(2));

    // A write-off decided twice in block 3, after a good decision there: blocks 1 and 2 count.
    const QList<Block> twice = makeChain(
        {{decisions.at(0)}, {decisions.at(1), decisions.at(2)}, {decisions.at(3), decisions.at(0)}});
    const ChainReport duplicate = verifier.verify(Block::genesisPreviousHash(), twice);
    expectFailure(duplicate, 3, "twice");
    QCOMPARE(duplicate.blocksVerified, quint64(2));
    QCOMPARE(duplicate.lastHeight, quint64(2));
    QCOMPARE(duplicate.decisionsVerified, quint64(3));

    // A broken link at block 3: blocks 1 and 2 count.
    QList<Block> unlinked = chain.mid(0, 3);
    unlinked[2] = makeBlock(3, sha256(QByteArrayLiteral("elsewhere")), chain.at(2).decisions);
    const ChainReport link = verifier.verify(Block::genesisPreviousHash(), unlinked);
    expectFailure(link, 3, "previous hash");
    QCOMPARE(link.blocksVerified, quint64(2));
    QCOMPARE(link.lastHeight, quint64(2));
    QCOMPARE(link.decisionsVerified, quint64(3));
}

void ChainTest::heightOneStartsFromGenesis()
{
    // Block 1 follows 32 zero bytes, never another hash: a segment from elsewhere is no chain start.
    const ChainVerifier verifier(sample.membership, 1);
    const QByteArray elsewhere = sha256(QByteArrayLiteral("not genesis"));
    const QString genesisHex = QString(64, QLatin1Char('0'));
    const QList<Block> blocks = {makeBlock(1, elsewhere, {decisions.at(0)})};
    const ChainReport report = verifier.verify(elsewhere, blocks);
    expectFailure(report, 1, genesisHex);
    QVERIFY2(report.error.contains(QLatin1String("previous hash")), qPrintable(report.error));
    QCOMPARE(report.blocksVerified, quint64(0));

    // Through an export, as verify-chain reads it.
    const auto decoded = ChainSegment::decode(ChainSegment{elsewhere, blocks}.encode());
    QVERIFY(decoded);
    expectFailure(verifier.verify(decoded->startPreviousHash, decoded->blocks), 1, genesisHex);

    // Checked in the header too: one block on its own, and a piece that does not start the chain.
    const QString alone = verifier.verifyBlock(blocks.first(), elsewhere, 1);
    QVERIFY2(namesHeight(alone, 1) && alone.contains(genesisHex), qPrintable(alone));
    const QString anyHeight = verifier.verifyBlock(blocks.first(), elsewhere, 0);
    QVERIFY2(namesHeight(anyHeight, 1) && anyHeight.contains(genesisHex), qPrintable(anyHeight));

    // The real block 1 still verifies, alone and as a chain.
    QCOMPARE(verifier.verifyBlock(chain.first(), Block::genesisPreviousHash(), 1), QString());
    QVERIFY(verifier.verify(Block::genesisPreviousHash(), chain.mid(0, 1)).ok);
}

void ChainTest::merklePaths_data()
{
    QTest::addColumn<int>("leaves");
    for (const int leaves : {1, 2, 3, 4, 5, 7, 8, 90})
        QTest::addRow("%d leaves", leaves) << leaves;
}

void ChainTest::merklePaths()
{
    // Leaves need not be decisions for the tree's shape: any bytes, each different.
    QFETCH(int, leaves);
    QList<QByteArray> encoded;
    for (int i = 0; i < leaves; ++i)
        encoded.append(QByteArray("decision ") + QByteArray::number(i));
    const MerkleTree tree(encoded);
    const QByteArray root = Block::merkleRootOf(encoded);
    QCOMPARE(tree.root(), root);
    QCOMPARE(tree.leafCount(), qsizetype(leaves));
    QString error;
    for (int i = 0; i < leaves; ++i) {
        const QByteArray leaf = MerkleTree::leafHash(encoded.at(i));
        const QList<QByteArray> path = tree.path(i);
        QCOMPARE(MerkleTree::rootFromPath(leaf, quint64(i), quint64(leaves), path, &error), root);
        // Another leaf's bytes, or this leaf's path as another index's, lead elsewhere.
        const QByteArray other = MerkleTree::leafHash(encoded.at((i + 1) % leaves));
        if (leaves > 1) {
            QVERIFY(MerkleTree::rootFromPath(other, quint64(i), quint64(leaves), path, &error) != root);
            const int j = (i + 1) % leaves;
            QVERIFY(MerkleTree::rootFromPath(leaf, quint64(j), quint64(leaves), path, &error) != root);
        }
        // Every byte of every sibling counts.
        for (qsizetype h = 0; h < path.size(); ++h) {
            for (qsizetype b = 0; b < kDigestSize; b += 7) {
                QList<QByteArray> tampered = path;
                tampered[h][b] = char(tampered[h][b] ^ 0x01);
                QVERIFY(MerkleTree::rootFromPath(leaf, quint64(i), quint64(leaves), tampered, &error) !=
                        root);
            }
        }
        // A hash too many or too few is refused, not ignored.
        QList<QByteArray> longer = path;
        longer.append(root);
        error.clear();
        QVERIFY(MerkleTree::rootFromPath(leaf, quint64(i), quint64(leaves), longer, &error).isEmpty());
        QVERIFY2(error.contains(QLatin1String("needs")), qPrintable(error));
        if (!path.isEmpty()) {
            error.clear();
            QVERIFY(
                MerkleTree::rootFromPath(leaf, quint64(i), quint64(leaves), path.mid(1), &error).isEmpty());
            QVERIFY2(error.contains(QLatin1String("too few")), qPrintable(error));
            QList<QByteArray> shortHash = path;
            shortHash[0].chop(1);
            QVERIFY(MerkleTree::rootFromPath(leaf, quint64(i), quint64(leaves), shortHash, &error).isEmpty());
        }
    }
    error.clear();
    QVERIFY(MerkleTree::rootFromPath(root, quint64(leaves), quint64(leaves), {}, &error).isEmpty());
    QVERIFY2(error.contains(QLatin1String("out of range")), qPrintable(error));
}

void ChainTest::merklePathsFollowTheRootRule()
{
    // Written out by hand for 3 and 5 leaves: the odd last node is carried up, never duplicated.
    const auto leaf = [](const char *bytes) {
        return sha256(QByteArray(1, '\x00') + QByteArray(bytes));
    };
    const auto inner = [](const QByteArray &left, const QByteArray &right) {
        return sha256(QByteArray(1, '\x01') + left + right);
    };
    const QByteArray a = leaf("a"), b = leaf("b"), c = leaf("c"), d = leaf("d"), e = leaf("e");
    const MerkleTree three({"a", "b", "c"});
    QCOMPARE(three.root(), inner(inner(a, b), c));
    QCOMPARE(three.path(0), QList<QByteArray>({b, c}));
    QCOMPARE(three.path(1), QList<QByteArray>({a, c}));
    QCOMPARE(three.path(2), QList<QByteArray>({inner(a, b)}));
    const MerkleTree five({"a", "b", "c", "d", "e"});
    QCOMPARE(five.root(), inner(inner(inner(a, b), inner(c, d)), e));
    QCOMPARE(five.path(4), QList<QByteArray>({inner(inner(a, b), inner(c, d))}));
    QCOMPARE(five.path(2), QList<QByteArray>({d, inner(a, b), e}));
    QCOMPARE(MerkleTree({"a"}).root(), a);
    QCOMPARE(MerkleTree({"a"}).path(0), QList<QByteArray>());
}

void ChainTest::headerOnItsOwn()
{
    for (const Block &block : std::as_const(chain)) {
        const BlockHeader header = BlockHeader::of(block);
        QCOMPARE(header.encode(), block.headerBytes());
        QCOMPARE(header.hash(), block.hash());
        QString error;
        const auto decoded = BlockHeader::decode(block.headerBytes(), &error);
        QVERIFY2(decoded, qPrintable(error));
        QCOMPARE(decoded->encode(), block.headerBytes());
        QCOMPARE(decoded->height, block.height);
        QCOMPARE(decoded->coordinatorId, block.coordinatorId);
        QCOMPARE(decoded->decisionCount, quint32(block.decisions.size()));
        QCOMPARE(decoded->verifySignature(block.signature, sample.membership), QString());
        // Any other header under the same signature: refused.
        BlockHeader later = *decoded;
        later.timestampMs += 1;
        QCOMPARE(later.verifySignature(block.signature, sample.membership),
                 QStringLiteral("the coordinator's signature does not verify"));
        // Trailing bytes, a missing byte: not a header.
        QVERIFY(!BlockHeader::decode(block.headerBytes() + '\0', &error));
        QVERIFY(!BlockHeader::decode(block.headerBytes().chopped(1), &error));
    }
    // Signed by a target, which is no coordinator, or under its name by a target's key.
    const Block byTarget = makeBlock(2, chain.first().hash(), {decisions.at(1)}, QStringLiteral("target-1"));
    QVERIFY(BlockHeader::of(byTarget)
                .verifySignature(byTarget.signature, sample.membership)
                .contains(QLatin1String("not a coordinator")));
    Block impostor = chain.at(1);
    impostor.signature = SignatureScheme::standard().sign(sample.keys.value(QStringLiteral("target-1")),
                                                          impostor.headerBytes());
    QCOMPARE(BlockHeader::of(impostor).verifySignature(impostor.signature, sample.membership),
             QStringLiteral("the coordinator's signature does not verify"));
}

void ChainTest::inclusionProofs()
{
    // Every decision of blocks of 1 to 7 decisions proves its place, from its own bytes only.
    QList<Block> blocks = chain;
    QList<Decision> seven;
    for (int i = 0; i < 7; ++i)
        seven.append(decide(SampleConsortium::ticketId(700 + i), 1, 70000 + i));
    blocks.append(makeBlock(6, chain.last().hash(), seven));
    for (const Block &block : std::as_const(blocks)) {
        const BlockProofs proofs(block);
        for (qsizetype i = 0; i < block.decisions.size(); ++i) {
            const Decision &decision = block.decisions.at(i);
            QCOMPARE(proofs.indexOf(decision.writeOff.digest()), i);
            QCOMPARE(proofs.decisionBytes(i), decision.encode());
            const InclusionProof proof = proofs.proof(i);
            BlockHeader header;
            QCOMPARE(proof.verify(decision.encode(), sample.membership, &header), QString());
            QCOMPARE(header.height, block.height);
            QCOMPARE(header.merkleRoot, block.merkleRoot);
            // As the API and the bundle carry it.
            QString error;
            const auto again = InclusionProof::fromJson(proof.toJson(), &error);
            QVERIFY2(again, qPrintable(error));
            QCOMPARE(*again, proof);
        }
        QCOMPARE(proofs.indexOf(sha256(QByteArrayLiteral("not in the block"))), qsizetype(-1));
    }
}

void ChainTest::tamperedInclusionProofs()
{
    const Block &block = chain.at(2); // three decisions
    const BlockProofs proofs(block);
    const QByteArray bytes = block.decisions.at(1).encode();
    const InclusionProof good = proofs.proof(1);
    QCOMPARE(good.verify(bytes, sample.membership), QString());
    const auto refusal = [&](const InclusionProof &proof, const QByteArray &decision) {
        return proof.verify(decision, sample.membership);
    };
    const auto expectRefused = [](const QString &error, const char *what) {
        QVERIFY2(error.contains(QLatin1String(what)), qPrintable(error));
    };

    // decided_at edited after sealing: the leaf is another, the path leads elsewhere.
    Decision edited = block.decisions.at(1);
    edited.decidedAtMs += 1000;
    expectRefused(refusal(good, edited.encode()), "does not lead to the header's merkle root");
    Decision fewerMissing = block.decisions.at(1);
    fewerMissing.missing += 1;
    expectRefused(refusal(good, fewerMissing.encode()), "does not lead");
    // Another decision of the same block with this one's proof, and this one's path as leaf 0.
    expectRefused(refusal(good, block.decisions.at(0).encode()), "does not lead");
    InclusionProof otherLeaf = good;
    otherLeaf.leafIndex = 0;
    expectRefused(refusal(otherLeaf, bytes), "does not lead");
    otherLeaf.leafIndex = 3;
    expectRefused(refusal(otherLeaf, bytes), "out of range");
    // A forged header: another height, root or count, the old signature.
    for (const auto &forge : std::initializer_list<std::function<void(BlockHeader &)>>{
             [](BlockHeader &h) { h.height += 1; }, [](BlockHeader &h) { h.timestampMs -= 1; },
             [](BlockHeader &h) {
                 h.decisionCount += 1;
             }}) {
        BlockHeader header = BlockHeader::of(block);
        forge(header);
        InclusionProof forged = good;
        forged.header = header.encode();
        expectRefused(refusal(forged, bytes), "signature does not verify");
    }
    // The root of a block holding an edited decision, signed by a target under the coordinator's name.
    QList<Decision> swapped = block.decisions;
    swapped[1] = edited;
    Block rebuilt = makeBlock(block.height, block.previousHash, swapped);
    rebuilt.signature = SignatureScheme::standard().sign(sample.keys.value(QStringLiteral("target-2")),
                                                         rebuilt.headerBytes());
    const InclusionProof byTarget = BlockProofs(rebuilt).proof(1);
    expectRefused(refusal(byTarget, edited.encode()), "signature does not verify");
    // A wrong signature, or none; also where the header was verified before under its own.
    InclusionProof badSignature = good;
    badSignature.signature[5] = char(badSignature.signature[5] ^ 0x20);
    expectRefused(refusal(badSignature, bytes), "signature does not verify");
    QSet<QByteArray> signedHeaders;
    QCOMPARE(good.verify(bytes, sample.membership, nullptr, &signedHeaders), QString());
    QCOMPARE(signedHeaders.size(), 1);
    expectRefused(badSignature.verify(bytes, sample.membership, nullptr, &signedHeaders),
                  "signature does not verify");
    QCOMPARE(signedHeaders.size(), 1);
    badSignature.signature.clear();
    expectRefused(refusal(badSignature, bytes), "signature does not verify");
    // A tampered sibling, a header that does not decode, another membership.
    InclusionProof badPath = good;
    badPath.path[0][0] = char(badPath.path[0][0] ^ 0x01);
    expectRefused(refusal(badPath, bytes), "does not lead");
    InclusionProof truncated = good;
    truncated.header.chop(1);
    expectRefused(refusal(truncated, bytes), "does not decode");
    const SampleConsortium other = consortium(QStringLiteral("another network"));
    QVERIFY(other.membership.hash() != sample.membership.hash());
    QVERIFY(good.verify(bytes, other.membership).contains(QLatin1String("another membership")));
    // Strict JSON: a stray key, a short hash, upper-case hex.
    QString error;
    QJsonObject json = good.toJson();
    json.insert(QStringLiteral("height"), 3);
    QVERIFY(!InclusionProof::fromJson(json, &error));
    json = good.toJson();
    QJsonArray path = json.value(QLatin1String("path")).toArray();
    path[0] = path.at(0).toString().toUpper();
    json.insert(QStringLiteral("path"), path);
    QVERIFY(!InclusionProof::fromJson(json, &error));
    QVERIFY2(error.contains(QLatin1String("'path'[0]")), qPrintable(error));
}

QTEST_GUILESS_MAIN(ChainTest)
#include "tst_chain.moc"
