// Canonical encoding: exact round trips, a corpus of malformed inputs that must each be refused
// with an error naming the problem, a fixed-seed mutation loop, and membership JSON checks.
#include "Block.h"
#include "CanonicalWriter.h"
#include "ChainVerifier.h"
#include "Decision.h"
#include "Membership.h"
#include "SampleConsortium.h"
#include "Sha256.h"
#include "Tally.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>
#include <QtEndian>

#include <algorithm>
#include <limits>
#include <optional>

using namespace ticketsync;

namespace {

enum class Kind
{
    WriteOff,
    Confirmation,
    Decision,
    Block,
    Segment
};
constexpr Kind kKinds[] = {Kind::WriteOff, Kind::Confirmation, Kind::Decision, Kind::Block, Kind::Segment};

const char *kindName(Kind kind)
{
    switch (kind) {
    case Kind::WriteOff:
        return "write-off";
    case Kind::Confirmation:
        return "confirmation";
    case Kind::Decision:
        return "decision";
    case Kind::Block:
        return "block";
    case Kind::Segment:
        return "segment";
    }
    return "?";
}

struct Decoded
{
    bool ok = false;
    QString error;
    QByteArray reencoded;
};

Decoded decodeAs(Kind kind, const QByteArray &bytes)
{
    Decoded out;
    switch (kind) {
    case Kind::WriteOff:
        if (auto v = WriteOffResult::decode(bytes, &out.error))
            out.reencoded = v->encode(), out.ok = true;
        break;
    case Kind::Confirmation:
        if (auto v = StateConfirmation::decode(bytes, &out.error))
            out.reencoded = v->encode(), out.ok = true;
        break;
    case Kind::Decision:
        if (auto v = Decision::decode(bytes, &out.error))
            out.reencoded = v->encode(), out.ok = true;
        break;
    case Kind::Block:
        if (auto v = Block::decode(bytes, &out.error))
            out.reencoded = v->encode(), out.ok = true;
        break;
    case Kind::Segment:
        if (auto v = ChainSegment::decode(bytes, &out.error))
            out.reencoded = v->encode(), out.ok = true;
        break;
    }
    return out;
}

bool sameDecision(const Decision &a, const Decision &b)
{
    return a.writeOff == b.writeOff && a.outcome == b.outcome && a.decidedState == b.decidedState &&
           a.targetCount == b.targetCount && a.quorum == b.quorum && a.histogram == b.histogram &&
           a.missing == b.missing && a.equivocating == b.equivocating && a.decidedAtMs == b.decidedAtMs &&
           a.confirmations == b.confirmations;
}

bool sameBlock(const Block &a, const Block &b)
{
    if (a.height != b.height || a.previousHash != b.previousHash || a.membershipHash != b.membershipHash ||
        a.timestampMs != b.timestampMs || a.coordinatorId != b.coordinatorId ||
        a.merkleRoot != b.merkleRoot || a.signature != b.signature ||
        a.decisions.size() != b.decisions.size())
        return false;
    for (qsizetype i = 0; i < a.decisions.size(); ++i) {
        if (!sameDecision(a.decisions.at(i), b.decisions.at(i)))
            return false;
    }
    return true;
}

void patchU32(QByteArray &bytes, qsizetype offset, quint32 value)
{
    qToBigEndian(value, bytes.data() + offset);
}

void patchU16(QByteArray &bytes, qsizetype offset, quint16 value)
{
    qToBigEndian(value, bytes.data() + offset);
}

// Field-by-field builders mirroring docs/protocol.md, with raw bytes where strings go so that
// invalid UTF-8 and bad counts can be written. Checked against encode() in builderMatchesEncoder.
struct WriteOffFields
{
    QByteArray tag = "TSWO";
    quint8 version = 1;
    QByteArray membershipHash;
    QByteArray ticketId;
    quint32 ticketVersion = 0;
    qint64 amountMinor = 0;
    QByteArray currency;
    QByteArray branchId;
    qint64 issuedAtMs = 0;
    QByteArray clientReference;
    QByteArray signature;

    static WriteOffFields of(const WriteOffResult &w)
    {
        WriteOffFields f;
        f.membershipHash = w.membershipHash;
        f.ticketId = w.ticketId.toUtf8();
        f.ticketVersion = w.ticketVersion;
        f.amountMinor = w.amountMinor;
        f.currency = w.currency.toUtf8();
        f.branchId = w.branchId.toUtf8();
        f.issuedAtMs = w.issuedAtMs;
        f.clientReference = w.clientReference.toUtf8();
        f.signature = w.signature;
        return f;
    }
    QByteArray build() const
    {
        CanonicalWriter w;
        w.writeFixed(tag);
        w.writeU8(version);
        w.writeFixed(membershipHash);
        w.writeBytes(ticketId);
        w.writeU32(ticketVersion);
        w.writeI64(amountMinor);
        w.writeBytes(currency);
        w.writeBytes(branchId);
        w.writeI64(issuedAtMs);
        w.writeBytes(clientReference);
        w.writeBytes(signature);
        return w.bytes();
    }
};

struct ConfirmationFields
{
    QByteArray membershipHash;
    QByteArray targetId;
    QByteArray writeOffDigest;
    quint16 stateCode = 0;
    QByteArray reason;
    QByteArray signature;

    static ConfirmationFields of(const StateConfirmation &c)
    {
        return {c.membershipHash, c.targetId.toUtf8(), c.writeOffDigest,
                c.stateCode,      c.reason.toUtf8(),   c.signature};
    }
    QByteArray build() const
    {
        CanonicalWriter w("TSCF");
        w.writeFixed(membershipHash);
        w.writeBytes(targetId);
        w.writeFixed(writeOffDigest);
        w.writeU16(stateCode);
        w.writeBytes(reason);
        w.writeBytes(signature);
        return w.bytes();
    }
};

struct DecisionFields
{
    QByteArray writeOff;
    quint8 outcome = 0;
    quint16 decidedState = 0;
    quint32 targetCount = 0;
    quint32 quorum = 0;
    std::optional<quint32> histogramCount; // overrides the real count when set
    QList<StateCount> histogram;
    quint32 missing = 0;
    quint32 equivocating = 0;
    qint64 decidedAtMs = 0;
    std::optional<quint32> confirmationCount;
    QList<QByteArray> confirmations;

    static DecisionFields of(const Decision &d)
    {
        DecisionFields f;
        f.writeOff = d.writeOff.encode();
        f.outcome = quint8(d.outcome);
        f.decidedState = d.decidedState;
        f.targetCount = d.targetCount;
        f.quorum = d.quorum;
        f.histogram = d.histogram;
        f.missing = d.missing;
        f.equivocating = d.equivocating;
        f.decidedAtMs = d.decidedAtMs;
        for (const StateConfirmation &c : d.confirmations)
            f.confirmations.append(c.encode());
        return f;
    }
    QByteArray build() const
    {
        CanonicalWriter w("TSDC");
        w.writeBytes(writeOff);
        w.writeU8(outcome);
        w.writeU16(decidedState);
        w.writeU32(targetCount);
        w.writeU32(quorum);
        w.writeU32(histogramCount.value_or(quint32(histogram.size())));
        for (const StateCount &entry : histogram) {
            w.writeU16(entry.stateCode);
            w.writeU32(entry.count);
        }
        w.writeU32(missing);
        w.writeU32(equivocating);
        w.writeI64(decidedAtMs);
        w.writeU32(confirmationCount.value_or(quint32(confirmations.size())));
        for (const QByteArray &c : confirmations)
            w.writeBytes(c);
        return w.bytes();
    }
};

struct BlockFields
{
    QByteArray headerTag = "TSBH";
    quint64 height = 0;
    QByteArray previousHash;
    QByteArray membershipHash;
    qint64 timestampMs = 0;
    QByteArray coordinatorId;
    QByteArray merkleRoot;
    std::optional<quint32> decisionCount;
    QByteArray headerSuffix; // bytes after the header's last field
    QByteArray signature;
    QList<QByteArray> decisions;

    static BlockFields of(const Block &b)
    {
        BlockFields f;
        f.height = b.height;
        f.previousHash = b.previousHash;
        f.membershipHash = b.membershipHash;
        f.timestampMs = b.timestampMs;
        f.coordinatorId = b.coordinatorId.toUtf8();
        f.merkleRoot = b.merkleRoot;
        f.signature = b.signature;
        for (const Decision &d : b.decisions)
            f.decisions.append(d.encode());
        return f;
    }
    QByteArray build() const
    {
        CanonicalWriter header;
        header.writeFixed(headerTag);
        header.writeU8(1);
        header.writeU64(height);
        header.writeFixed(previousHash);
        header.writeFixed(membershipHash);
        header.writeI64(timestampMs);
        header.writeBytes(coordinatorId);
        header.writeFixed(merkleRoot);
        header.writeU32(decisionCount.value_or(quint32(decisions.size())));
        header.writeFixed(headerSuffix);
        CanonicalWriter w("TSBK");
        w.writeBytes(header.bytes());
        w.writeBytes(signature);
        for (const QByteArray &d : decisions)
            w.writeBytes(d);
        return w.bytes();
    }
};

QByteArray segmentBytes(const QByteArray &start, quint32 count, const QList<QByteArray> &blocks)
{
    CanonicalWriter w("TSCH");
    w.writeFixed(start);
    w.writeU32(count);
    for (const QByteArray &b : blocks)
        w.writeBytes(b);
    return w.bytes();
}

struct Fixtures
{
    SampleConsortium sample;
    WriteOffResult writeOff;
    WriteOffResult writeOff2;
    StateConfirmation confirmation;
    Decision decided;
    Decision undetermined;
    Block block1;
    Block block2;
    ChainSegment segment;

    QByteArray encoded(Kind kind) const
    {
        switch (kind) {
        case Kind::WriteOff:
            return writeOff.encode();
        case Kind::Confirmation:
            return confirmation.encode();
        case Kind::Decision:
            return decided.encode();
        case Kind::Block:
            return block1.encode();
        case Kind::Segment:
            return segment.encode();
        }
        return {};
    }
};

const Fixtures &fixtures()
{
    static const Fixtures f = [] {
        Fixtures f;
        f.sample = SampleConsortium::generate();
        const qint64 t0 = 1717200000123; // 2024-06-01T00:00:00.123Z
        f.writeOff = f.sample.writeOff(QStringLiteral("branch-1"), QStringLiteral("CB-2024/06#000123"), 2,
                                       12345678, QStringLiteral("CNY"), t0,
                                       QStringLiteral("核销单 Nº 7 – Überweisung ✓ 🧾"));
        f.writeOff2 = f.sample.writeOff(QStringLiteral("branch-2"), QStringLiteral("EI-44030000-0000001"), 1,
                                        99, QStringLiteral("HKD"), t0 + 5, QString());
        f.confirmation =
            f.sample.confirm(QStringLiteral("target-2"), f.writeOff, ConfirmationState::AmountMismatch,
                             QStringLiteral("金额不符：登记面额为 ¥123,456.00"));

        Tally decided(f.sample.membership, f.writeOff);
        decided.add(f.sample.confirm(QStringLiteral("target-1"), f.writeOff, ConfirmationState::WrittenOff,
                                     QStringLiteral("已核销")));
        decided.add(f.sample.confirm(QStringLiteral("target-3"), f.writeOff, ConfirmationState::WrittenOff));
        decided.add(f.sample.confirm(QStringLiteral("target-4"), f.writeOff, ConfirmationState::WrittenOff,
                                     QStringLiteral("écriture passée")));
        f.decided = decided.decision(t0 + 250);

        Tally undetermined(f.sample.membership, f.writeOff2);
        undetermined.add(
            f.sample.confirm(QStringLiteral("target-1"), f.writeOff2, ConfirmationState::WrittenOff));
        undetermined.add(
            f.sample.confirm(QStringLiteral("target-2"), f.writeOff2, ConfirmationState::WrittenOff));
        undetermined.add(f.sample.confirm(QStringLiteral("target-3"), f.writeOff2,
                                          ConfirmationState::UnknownTicket, QStringLiteral("票据不存在")));
        undetermined.expire();
        f.undetermined = undetermined.decision(t0 + 30000);

        f.block1.height = 1;
        f.block1.previousHash = Block::genesisPreviousHash();
        f.block1.membershipHash = f.sample.membership.hash();
        f.block1.timestampMs = t0 + 31000;
        f.block1.coordinatorId = f.sample.coordinatorId();
        f.block1.decisions = {f.decided, f.undetermined};
        f.block1.seal(f.sample.keys.value(f.sample.coordinatorId()));

        f.block2 = f.block1;
        f.block2.height = 2;
        f.block2.previousHash = f.block1.hash();
        f.block2.timestampMs = t0 + 62000;
        f.block2.decisions = {f.undetermined};
        f.block2.seal(f.sample.keys.value(f.sample.coordinatorId()));

        f.segment.startPreviousHash = Block::genesisPreviousHash();
        f.segment.blocks = {f.block1, f.block2};
        return f;
    }();
    return f;
}

QJsonObject membershipJson()
{
    return QJsonDocument::fromJson(fixtures().sample.membership.toJson()).object();
}

QByteArray toBytes(const QJsonObject &root)
{
    return QJsonDocument(root).toJson(QJsonDocument::Compact);
}

// Applies edit to members[index] of the sample membership JSON.
template<typename Edit> QByteArray withMember(int index, Edit edit)
{
    QJsonObject root = membershipJson();
    QJsonArray members = root.value(QLatin1String("members")).toArray();
    QJsonObject member = members.at(index).toObject();
    edit(member);
    members[index] = member;
    root.insert(QLatin1String("members"), members);
    return toBytes(root);
}

QByteArray withQuorum(const QJsonObject &quorum)
{
    QJsonObject root = membershipJson();
    root.insert(QLatin1String("quorum"), quorum);
    return toBytes(root);
}

int indexOfMember(const QString &id)
{
    const QJsonArray members = membershipJson().value(QLatin1String("members")).toArray();
    for (int i = 0; i < members.size(); ++i) {
        if (members.at(i).toObject().value(QLatin1String("id")).toString() == id)
            return i;
    }
    return -1;
}

} // namespace

class TestEncoding : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void builderMatchesEncoder();
    void writeOffRoundTrip();
    void confirmationRoundTrip();
    void decisionRoundTrip();
    void blockRoundTrip();
    void segmentRoundTrip();
    void limitsAreInclusive();
    void leadingByteOrderMarkSurvives();
    void referenceLimitIsCheckedBeforeSigning();
    void loneSurrogatesAreRefused();
    void encodingIsCanonical();

    void truncatedAtEveryLength_data();
    void truncatedAtEveryLength();
    void commonMalformed_data();
    void commonMalformed();
    void malformed_data();
    void malformed();
    void mutationsNeverCrash();

    void membershipRoundTrip();
    void membershipErrors_data();
    void membershipErrors();
    void membershipLoadNamesFile();
    void membershipErrorsNameTheFileIndex_data();
    void membershipErrorsNameTheFileIndex();
    void quorumArithmeticIsWide();
};

void TestEncoding::initTestCase()
{
    const Fixtures &f = fixtures();
    // The fixtures must be what they claim, or the round trips prove little.
    QCOMPARE(f.decided.outcome, Outcome::Decided);
    QCOMPARE(f.decided.confirmations.size(), 3);
    QCOMPARE(f.undetermined.outcome, Outcome::Undetermined);
    QCOMPARE(f.undetermined.missing, 1u);
    QCOMPARE(f.decided.verifyCertificate(f.sample.membership), QString());
    QCOMPARE(f.undetermined.verifyCertificate(f.sample.membership), QString());
    QCOMPARE(f.writeOff.verify(f.sample.membership), QString());
    QCOMPARE(f.confirmation.verify(f.sample.membership), QString());
}

void TestEncoding::builderMatchesEncoder()
{
    const Fixtures &f = fixtures();
    QCOMPARE(WriteOffFields::of(f.writeOff).build(), f.writeOff.encode());
    QCOMPARE(ConfirmationFields::of(f.confirmation).build(), f.confirmation.encode());
    QCOMPARE(DecisionFields::of(f.decided).build(), f.decided.encode());
    QCOMPARE(DecisionFields::of(f.undetermined).build(), f.undetermined.encode());
    QCOMPARE(BlockFields::of(f.block1).build(), f.block1.encode());
    QCOMPARE(segmentBytes(f.segment.startPreviousHash, 2, {f.block1.encode(), f.block2.encode()}),
             f.segment.encode());
    // ASCII strings take a shortcut into the buffer; the rest are converted. Both are UTF-8,
    // right up to the edges of ASCII, and an empty string is a zero length.
    for (const QString &reference :
         {QString(), QStringLiteral("ref\u007f"), QStringLiteral("\u0080"), QStringLiteral("票据核销-0042"),
          QStringLiteral("ascii then \U0001F600")}) {
        WriteOffResult w = f.writeOff;
        w.clientReference = reference;
        QCOMPARE(WriteOffFields::of(w).build(), w.encode());
        QCOMPARE(WriteOffResult::decode(w.encode())->clientReference, reference);
    }
}

void TestEncoding::writeOffRoundTrip()
{
    const Fixtures &f = fixtures();
    for (const WriteOffResult &original : {f.writeOff, f.writeOff2}) {
        const QByteArray bytes = original.encode();
        QVERIFY(bytes.startsWith("TSWO\x01"));
        QString error;
        const auto decoded = WriteOffResult::decode(bytes, &error);
        QVERIFY2(decoded, qPrintable(error));
        QVERIFY(error.isEmpty());
        QVERIFY(*decoded == original);
        QCOMPARE(decoded->clientReference, original.clientReference);
        QCOMPARE(decoded->encode(), bytes);
        QCOMPARE(decoded->digest(), original.digest());
        QCOMPARE(decoded->verify(f.sample.membership), QString());
    }
    QVERIFY(f.writeOff.clientReference.contains(QChar(0x6838))); // 核: really non-ASCII
}

void TestEncoding::confirmationRoundTrip()
{
    const Fixtures &f = fixtures();
    QList<StateConfirmation> all{f.confirmation};
    all += f.decided.confirmations;
    all += f.undetermined.confirmations;
    for (const StateConfirmation &original : all) {
        const QByteArray bytes = original.encode();
        QString error;
        const auto decoded = StateConfirmation::decode(bytes, &error);
        QVERIFY2(decoded, qPrintable(error));
        QVERIFY(*decoded == original);
        QCOMPARE(decoded->encode(), bytes);
        QCOMPARE(decoded->verify(f.sample.membership), QString());
    }
    QCOMPARE(StateConfirmation::decode(f.confirmation.encode())->reason, f.confirmation.reason);
    QCOMPARE(StateConfirmation::decode(f.confirmation.encode())->state(), ConfirmationState::AmountMismatch);
}

void TestEncoding::decisionRoundTrip()
{
    const Fixtures &f = fixtures();
    for (const Decision &original : {f.decided, f.undetermined}) {
        const QByteArray bytes = original.encode();
        QString error;
        const auto decoded = Decision::decode(bytes, &error);
        QVERIFY2(decoded, qPrintable(error));
        QVERIFY(sameDecision(*decoded, original));
        QCOMPARE(decoded->encode(), bytes);
        QCOMPARE(decoded->digest(), original.digest());
        QCOMPARE(decoded->verifyCertificate(f.sample.membership), QString());
    }
    const auto decided = Decision::decode(f.decided.encode());
    QCOMPARE(decided->countOf(quint16(ConfirmationState::WrittenOff)), 3u);
    QCOMPARE(decided->confirmations.first().reason, QStringLiteral("已核销"));
}

void TestEncoding::blockRoundTrip()
{
    const Fixtures &f = fixtures();
    for (const Block &original : {f.block1, f.block2}) {
        const QByteArray bytes = original.encode();
        QString error;
        const auto decoded = Block::decode(bytes, &error);
        QVERIFY2(decoded, qPrintable(error));
        QVERIFY(sameBlock(*decoded, original));
        QCOMPARE(decoded->encode(), bytes);
        QCOMPARE(decoded->hash(), original.hash());
        QList<QByteArray> leaves;
        for (const Decision &d : decoded->decisions)
            leaves.append(d.encode());
        QCOMPARE(Block::merkleRootOf(leaves), decoded->merkleRoot);
        const QByteArray coordinatorKey = f.sample.membership.member(f.sample.coordinatorId())->publicKey;
        QVERIFY(
            SignatureScheme::standard().verify(coordinatorKey, decoded->headerBytes(), decoded->signature));
    }
}

void TestEncoding::segmentRoundTrip()
{
    const Fixtures &f = fixtures();
    const QByteArray bytes = f.segment.encode();
    QString error;
    const auto decoded = ChainSegment::decode(bytes, &error);
    QVERIFY2(decoded, qPrintable(error));
    QCOMPARE(decoded->startPreviousHash, f.segment.startPreviousHash);
    QCOMPARE(decoded->blocks.size(), 2);
    QVERIFY(sameBlock(decoded->blocks.at(0), f.block1));
    QVERIFY(sameBlock(decoded->blocks.at(1), f.block2));
    QCOMPARE(decoded->blocks.at(1).previousHash, decoded->blocks.at(0).hash());
    QCOMPARE(decoded->encode(), bytes);

    ChainSegment empty;
    empty.startPreviousHash = Block::genesisPreviousHash();
    const auto emptyDecoded = ChainSegment::decode(empty.encode(), &error);
    QVERIFY2(emptyDecoded, qPrintable(error));
    QVERIFY(emptyDecoded->blocks.isEmpty());
}

void TestEncoding::limitsAreInclusive()
{
    const Fixtures &f = fixtures();
    WriteOffResult w = f.writeOff;
    w.ticketId = QString(64, QLatin1Char('X'));
    w.ticketVersion = 0xFFFFFFFFu;
    w.amountMinor = std::numeric_limits<qint64>::max();
    w.issuedAtMs = -1;                               // before the epoch: not this decoder's business
    w.clientReference = QString(128, QChar(0x00E9)); // 256 bytes of UTF-8
    QCOMPARE(w.clientReference.toUtf8().size(), 256);
    w.sign(f.sample.keys.value(QStringLiteral("branch-1")));
    QString error;
    auto decoded = WriteOffResult::decode(w.encode(), &error);
    QVERIFY2(decoded, qPrintable(error));
    QVERIFY(*decoded == w);
    QCOMPARE(decoded->verify(f.sample.membership), QString());

    w.clientReference += QLatin1Char('x');
    QVERIFY(!WriteOffResult::decode(w.encode(), &error));
    QVERIFY2(error.contains(QLatin1String("oversized")) && error.contains(QLatin1String("client_reference")),
             qPrintable(error));

    StateConfirmation c = f.confirmation;
    c.reason = QString(170, QChar(0x4E2D)) + QStringLiteral("ab"); // 3 * 170 + 2 = 512 bytes
    QCOMPARE(c.reason.toUtf8().size(), 512);
    c.targetId = QStringLiteral("target-2");
    auto decodedConfirmation = StateConfirmation::decode(c.encode(), &error);
    QVERIFY2(decodedConfirmation, qPrintable(error));
    QCOMPARE(decodedConfirmation->reason, c.reason);
    c.reason += QLatin1Char('c');
    QVERIFY(!StateConfirmation::decode(c.encode(), &error));
    QVERIFY2(error.contains(QLatin1String("oversized")) && error.contains(QLatin1String("reason")),
             qPrintable(error));
}

void TestEncoding::leadingByteOrderMarkSurvives()
{
    // U+FEFF at the start of a string is text like any other; the decoder must not drop it,
    // or the decoded message would no longer match what was signed.
    const Fixtures &f = fixtures();
    StateConfirmation c =
        f.sample.confirm(QStringLiteral("target-1"), f.writeOff, ConfirmationState::TicketFrozen,
                         QChar(0xFEFF) + QStringLiteral("frozen by court order"));
    QString error;
    const auto decoded = StateConfirmation::decode(c.encode(), &error);
    QVERIFY2(decoded, qPrintable(error));
    QCOMPARE(decoded->reason, c.reason);
    QCOMPARE(decoded->encode(), c.encode());
    QCOMPARE(decoded->verify(f.sample.membership), QString());

    WriteOffResult w = f.writeOff;
    w.clientReference = QChar(0xFEFF) + w.clientReference;
    w.sign(f.sample.keys.value(QStringLiteral("branch-1")));
    const auto decodedWriteOff = WriteOffResult::decode(w.encode(), &error);
    QVERIFY2(decodedWriteOff, qPrintable(error));
    QCOMPARE(decodedWriteOff->encode(), w.encode());
    QCOMPARE(decodedWriteOff->verify(f.sample.membership), QString());

    // A BOM slipped in front of signed text is a change like any other: the signature breaks.
    ConfirmationFields forged = ConfirmationFields::of(f.confirmation);
    forged.reason.prepend("\xef\xbb\xbf");
    const auto decodedForged = StateConfirmation::decode(forged.build(), &error);
    QVERIFY2(decodedForged, qPrintable(error));
    QCOMPARE(decodedForged->encode(), forged.build());
    QVERIFY(decodedForged->verify(f.sample.membership).contains(QLatin1String("does not verify")));
}

void TestEncoding::referenceLimitIsCheckedBeforeSigning()
{
    // checkFields() takes what decode() takes: a branch must never sign a write-off no node can
    // read. The limit is in bytes of UTF-8, not in characters.
    const Fixtures &f = fixtures();
    const KeyPair &branchKey = f.sample.keys.value(QStringLiteral("branch-1"));
    WriteOffResult w = f.writeOff;
    w.clientReference = QString(86, QChar(0x7968)); // 票: 86 characters, 258 bytes
    QCOMPARE(w.clientReference.toUtf8().size(), 258);
    const QString problem = w.checkFields();
    QVERIFY2(problem.contains(QLatin1String("client reference")) && problem.contains(QLatin1String("258")) &&
                 problem.contains(QLatin1String("256")),
             qPrintable(problem));
    w.sign(branchKey);
    QCOMPARE(w.verify(f.sample.membership), problem);
    QVERIFY(!WriteOffResult::decode(w.encode()));

    // Up to the limit, whatever the characters: three-byte ones, and surrogate pairs of four.
    const QString emoji = QStringLiteral("\U0001F600");
    for (const QString &reference : {QString(85, QChar(0x7968)) + QLatin1Char('x'), emoji.repeated(64),
                                     QString(256, QLatin1Char('r'))}) {
        w.clientReference = reference;
        QCOMPARE(w.clientReference.toUtf8().size(), 256);
        QCOMPARE(w.checkFields(), QString());
        w.sign(branchKey);
        QString error;
        const auto decoded = WriteOffResult::decode(w.encode(), &error);
        QVERIFY2(decoded, qPrintable(error));
        QCOMPARE(decoded->verify(f.sample.membership), QString());
    }
    for (const QString &reference : {emoji.repeated(64) + QLatin1Char('x'), QString(257, QLatin1Char('r'))}) {
        w.clientReference = reference;
        QVERIFY2(w.checkFields().contains(QLatin1String("257")), qPrintable(w.checkFields()));
        QVERIFY(!WriteOffResult::decode(w.encode()));
    }
}

void TestEncoding::loneSurrogatesAreRefused()
{
    // A lone UTF-16 surrogate has no UTF-8 form: toUtf8() writes '?' for it, so "x\ud800",
    // "x\udfff" and "x?" would share one encoding and one hash. Refused where text comes in.
    const Fixtures &f = fixtures();
    const QByteArray valid = toBytes(membershipJson());
    const QByteArray consortium = f.sample.membership.consortiumId().toUtf8();
    const QByteArray address = f.sample.membership.member(QStringLiteral("target-3"))->address.toUtf8();
    struct Case
    {
        QByteArray from, to;
        QStringList keywords;
    };
    const QList<Case> cases = {
        {"\"consortium\":\"" + consortium + '"',
         "\"consortium\":\"" + consortium + "\\ud800\"",
         {QStringLiteral("'consortium'"), QStringLiteral("surrogate")}},
        {"\"consortium\":\"" + consortium + '"',
         "\"consortium\":\"" + consortium + "\\udfff\"",
         {QStringLiteral("'consortium'"), QStringLiteral("surrogate"), QStringLiteral("DFFF")}},
        {"\"id\":\"target-3\"",
         "\"id\":\"target-3\\udfff\"",
         {QStringLiteral("'id'"), QStringLiteral("surrogate")}},
        {"\"address\":\"" + address + '"',
         "\"address\":\"bank\\ud800.example:7403\"",
         {QStringLiteral("target-3"), QStringLiteral("'address'"), QStringLiteral("surrogate")}},
        {"\"scheme\":\"ed25519\"",
         "\"scheme\":\"ed25519\\ud800\"",
         {QStringLiteral("'scheme'"), QStringLiteral("surrogate")}},
    };
    for (const Case &c : cases) {
        QVERIFY2(valid.contains(c.from), c.from.constData());
        const QByteArray json = QByteArray(valid).replace(c.from, c.to);
        QString error;
        QVERIFY2(!Membership::fromJson(json, &error), json.constData());
        QVERIFY2(!error.contains(QLatin1Char('\n')), qPrintable(error));
        for (const QString &keyword : c.keywords)
            QVERIFY2(error.contains(keyword), qPrintable(error));
    }
    // Valid text still loads: a '?' of its own and a proper surrogate pair, each with its own hash.
    QSet<QByteArray> hashes{f.sample.membership.hash()};
    for (const QByteArray &suffix : {QByteArray("?"), QByteArray("\\ud83d\\ude00")}) {
        const QByteArray json = QByteArray(valid).replace("\"consortium\":\"" + consortium + '"',
                                                          "\"consortium\":\"" + consortium + suffix + '"');
        QString error;
        const auto loaded = Membership::fromJson(json, &error);
        QVERIFY2(loaded, qPrintable(error));
        QVERIFY(!hashes.contains(loaded->hash()));
        hashes.insert(loaded->hash());
    }

    // Every text field of a write-off, named: the branch checks these before it signs.
    const QString lone = QStringLiteral("x") + QChar(0xD800);
    const struct
    {
        const char *name;
        QString WriteOffResult::*field;
    } fields[] = {{"ticket id", &WriteOffResult::ticketId},
                  {"currency", &WriteOffResult::currency},
                  {"branch id", &WriteOffResult::branchId},
                  {"client reference", &WriteOffResult::clientReference}};
    for (const auto &field : fields) {
        WriteOffResult w = f.writeOff;
        w.*field.field = lone;
        const QString problem = w.checkFields();
        QVERIFY2(problem.contains(QLatin1String(field.name)) && problem.contains(QLatin1String("surrogate")),
                 qPrintable(problem));
        QCOMPARE(w.verify(f.sample.membership), problem);
    }
    WriteOffResult trailing = f.writeOff;
    trailing.clientReference += QChar(0xDC00); // a low surrogate after the last character
    QVERIFY(trailing.checkFields().contains(QLatin1String("surrogate")));
    trailing.clientReference = f.writeOff.clientReference + QStringLiteral("\U0001F600");
    QCOMPARE(trailing.checkFields(), QString());
}

void TestEncoding::encodingIsCanonical()
{
    // Equal objects give equal bytes; any field change gives other bytes and another digest.
    const Fixtures &f = fixtures();
    const WriteOffResult again = f.sample.writeOff(
        f.writeOff.branchId, f.writeOff.ticketId, f.writeOff.ticketVersion, f.writeOff.amountMinor,
        f.writeOff.currency, f.writeOff.issuedAtMs, f.writeOff.clientReference);
    QCOMPARE(again.encode(), f.writeOff.encode());
    WriteOffResult w = f.writeOff;
    w.amountMinor += 1;
    QVERIFY(w.signingBytes() != f.writeOff.signingBytes());
    QVERIFY(w.digest() != f.writeOff.digest());
    // The digest covers the fields, not the signature.
    w = f.writeOff;
    w.signature[0] = char(w.signature.at(0) ^ 1);
    QCOMPARE(w.digest(), f.writeOff.digest());
    QVERIFY(w.encode() != f.writeOff.encode());
    QCOMPARE(f.writeOff.digest(), sha256(f.writeOff.signingBytes()));
    QCOMPARE(f.decided.digest(), sha256(f.decided.encode()));
}

void TestEncoding::truncatedAtEveryLength_data()
{
    QTest::addColumn<int>("kind");
    for (const Kind kind : kKinds)
        QTest::newRow(kindName(kind)) << int(kind);
}

void TestEncoding::truncatedAtEveryLength()
{
    QFETCH(int, kind);
    const QByteArray valid = fixtures().encoded(Kind(kind));
    QVERIFY(decodeAs(Kind(kind), valid).ok);
    for (qsizetype length = 0; length < valid.size(); ++length) {
        const Decoded result = decodeAs(Kind(kind), valid.left(length));
        if (result.ok)
            QFAIL(qPrintable(
                QStringLiteral("a prefix of %1 of %2 bytes was accepted").arg(length).arg(valid.size())));
        if (!result.error.contains(QLatin1String("truncated")) ||
            !result.error.contains(QLatin1String("offset")))
            QFAIL(qPrintable(QStringLiteral("prefix of %1 bytes: %2").arg(length).arg(result.error)));
    }
}

void TestEncoding::commonMalformed_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QStringList>("keywords");
    const QStringList tagWords{QStringLiteral("tag"), QStringLiteral("not a")};
    const QStringList versionWords{QStringLiteral("unsupported"), QStringLiteral("version")};
    for (const Kind kind : kKinds) {
        const QByteArray valid = fixtures().encoded(kind);
        const char *name = kindName(kind);
        QTest::addRow("%s: empty", name)
            << int(kind) << QByteArray() << QStringList{QStringLiteral("truncated")};
        QTest::addRow("%s: one trailing byte", name)
            << int(kind) << valid + QByteArray(1, '\0')
            << QStringList{QStringLiteral("trailing garbage"), QStringLiteral("1 unexpected")};
        QTest::addRow("%s: trailing copy", name)
            << int(kind) << valid + valid << QStringList{QStringLiteral("trailing garbage")};
        QByteArray wrongTag = valid;
        wrongTag.replace(0, 4, "XXXX");
        QTest::addRow("%s: wrong tag", name) << int(kind) << wrongTag << tagWords;
        QByteArray lowerTag = valid;
        lowerTag[0] = char(lowerTag.at(0) | 0x20);
        QTest::addRow("%s: tag case", name) << int(kind) << lowerTag << tagWords;
        for (const int version : {0, 2, 255}) {
            QByteArray bytes = valid;
            bytes[4] = char(version);
            QTest::addRow("%s: version %d", name, version) << int(kind) << bytes << versionWords;
        }
    }
    // Each message's tag is refused by the other decoders.
    const Fixtures &f = fixtures();
    QTest::newRow("confirmation as write-off") << int(Kind::WriteOff) << f.confirmation.encode() << tagWords;
    QTest::newRow("write-off as decision") << int(Kind::Decision) << f.writeOff.encode() << tagWords;
    QTest::newRow("decision as block") << int(Kind::Block) << f.decided.encode() << tagWords;
    QTest::newRow("block as segment") << int(Kind::Segment) << f.block1.encode() << tagWords;
    QTest::newRow("segment as confirmation") << int(Kind::Confirmation) << f.segment.encode() << tagWords;
}

void TestEncoding::commonMalformed()
{
    QFETCH(int, kind);
    QFETCH(QByteArray, bytes);
    QFETCH(QStringList, keywords);
    const Decoded result = decodeAs(Kind(kind), bytes);
    QVERIFY2(!result.ok, "malformed input was accepted");
    QVERIFY(!result.error.isEmpty());
    for (const QString &keyword : keywords)
        QVERIFY2(result.error.contains(keyword), qPrintable(result.error));
}

void TestEncoding::malformed_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QStringList>("keywords");
    const Fixtures &f = fixtures();
    auto add = [](const char *name, Kind kind, const QByteArray &bytes,
                  std::initializer_list<const char *> words) {
        QStringList keywords;
        for (const char *word : words)
            keywords.append(QString::fromUtf8(word));
        QTest::newRow(name) << int(kind) << bytes << keywords;
    };
    const QByteArray invalidUtf8[] = {QByteArray("ok\xc3\x28"), QByteArray("\xff"),
                                      QByteArray("\xc0\xaf"),   QByteArray("\xed\xa0\x80"),
                                      QByteArray("\xe2\x82"),   QByteArray("\xf4\x90\x80\x80")};

    // ---- write-off ----
    const WriteOffFields w = WriteOffFields::of(f.writeOff);
    auto writeOff = [&](auto edit) {
        WriteOffFields copy = w;
        edit(copy);
        return copy.build();
    };
    {
        QByteArray bytes = f.writeOff.encode();
        patchU32(bytes, 37, 0xFFFFFFFFu); // ticket_id length, right after tag, version and hash
        add("write-off: ticket_id length 0xFFFFFFFF", Kind::WriteOff, bytes,
            {"oversized", "ticket_id", "4294967295"});
        bytes = f.writeOff.encode();
        patchU32(bytes, bytes.size() - 64 - 4, 0xFFFFFFFFu);
        add("write-off: signature length 0xFFFFFFFF", Kind::WriteOff, bytes, {"oversized", "signature"});
        bytes = f.writeOff.encode();
        patchU32(bytes, bytes.size() - 64 - 4, 65);
        add("write-off: signature length past the end", Kind::WriteOff, bytes, {"truncated", "signature"});
    }
    add("write-off: ticket id with a space", Kind::WriteOff,
        writeOff([](auto &x) { x.ticketId = "CB 2024"; }),
        {"ticket id", "printable ASCII", "position 2", "field 'ticket_id' at offset 37"});
    add("write-off: ticket id of 65 chars", Kind::WriteOff,
        writeOff([](auto &x) { x.ticketId = QByteArray(65, 'T'); }), {"oversized", "ticket_id", "65"});
    add("write-off: empty ticket id", Kind::WriteOff, writeOff([](auto &x) { x.ticketId.clear(); }),
        {"ticket id is empty"});
    add("write-off: non-ASCII ticket id", Kind::WriteOff,
        writeOff([](auto &x) { x.ticketId = QStringLiteral("票据-1").toUtf8(); }),
        {"ticket id", "printable ASCII"});
    add("write-off: ticket id with a control char", Kind::WriteOff,
        writeOff([](auto &x) { x.ticketId = "T-1\t"; }), {"ticket id", "position 3"});
    add("write-off: invalid UTF-8 in ticket id", Kind::WriteOff,
        writeOff([](auto &x) { x.ticketId = "T-\xff"; }), {"UTF-8", "ticket_id"});
    for (const QByteArray &bad : invalidUtf8) {
        const QByteArray name = "write-off: client_reference " + bad.toHex();
        add(name.constData(), Kind::WriteOff, writeOff([&](auto &x) { x.clientReference = "ref " + bad; }),
            {"UTF-8", "client_reference"});
    }
    // Where the fixed-width fields after the ticket id start.
    const QByteArray versionAt =
        "field 'ticket_version' at offset " + QByteArray::number(37 + 4 + w.ticketId.size());
    const QByteArray amountAt =
        "field 'amount_minor' at offset " + QByteArray::number(37 + 4 + w.ticketId.size() + 4);
    const QByteArray currencyAt =
        "field 'currency' at offset " + QByteArray::number(37 + 4 + w.ticketId.size() + 12);
    const QByteArray branchAt = "field 'branch_id' at offset " +
                                QByteArray::number(37 + 4 + w.ticketId.size() + 12 + 4 + w.currency.size());
    add("write-off: version 0", Kind::WriteOff, writeOff([](auto &x) { x.ticketVersion = 0; }),
        {"ticket version", versionAt.constData()});
    add("write-off: zero amount", Kind::WriteOff, writeOff([](auto &x) { x.amountMinor = 0; }),
        {"amount 0", "positive", amountAt.constData()});
    add("write-off: negative amount", Kind::WriteOff, writeOff([](auto &x) { x.amountMinor = -500; }),
        {"amount -500", "positive"});
    add("write-off: lower-case currency", Kind::WriteOff, writeOff([](auto &x) { x.currency = "cny"; }),
        {"currency 'cny'", "ISO 4217", currencyAt.constData()});
    add("write-off: two-letter currency", Kind::WriteOff, writeOff([](auto &x) { x.currency = "CN"; }),
        {"ISO 4217"});
    add("write-off: four-letter currency", Kind::WriteOff, writeOff([](auto &x) { x.currency = "CNYX"; }),
        {"oversized", "currency"});
    add("write-off: branch id with a slash", Kind::WriteOff,
        writeOff([](auto &x) { x.branchId = "branch/1"; }), {"branch", "branch/1", branchAt.constData()});
    add("write-off: empty branch id", Kind::WriteOff, writeOff([](auto &x) { x.branchId.clear(); }),
        {"branch", "empty"});
    add("write-off: client reference of 257 bytes", Kind::WriteOff,
        writeOff([](auto &x) { x.clientReference = QByteArray(257, 'r'); }),
        {"oversized", "client_reference"});

    // ---- confirmation ----
    const ConfirmationFields c = ConfirmationFields::of(f.confirmation);
    auto confirmation = [&](auto edit) {
        ConfirmationFields copy = c;
        edit(copy);
        return copy.build();
    };
    for (const quint16 code : {quint16(0), quint16(7), quint16(0x0100), quint16(0xFFFF)}) {
        const QByteArray number = QByteArray::number(code);
        const QByteArray name = "confirmation: state code " + number;
        add(name.constData(), Kind::Confirmation, confirmation([&](auto &x) { x.stateCode = code; }),
            {"unknown state code", number.constData()});
    }
    for (const QByteArray &bad : invalidUtf8) {
        const QByteArray name = "confirmation: reason " + bad.toHex();
        add(name.constData(), Kind::Confirmation, confirmation([&](auto &x) { x.reason = bad + " tail"; }),
            {"UTF-8", "reason"});
    }
    add("confirmation: target id with a space", Kind::Confirmation,
        confirmation([](auto &x) { x.targetId = "target 2"; }),
        {"target", "'target 2'", "field 'target_id' at offset 37"});
    add("confirmation: target id of 65 chars", Kind::Confirmation,
        confirmation([](auto &x) { x.targetId = QByteArray(65, 't'); }), {"oversized", "target_id"});
    add("confirmation: reason of 513 bytes", Kind::Confirmation,
        confirmation([](auto &x) { x.reason = QByteArray(513, 'r'); }), {"oversized", "reason"});
    add("confirmation: signature of 257 bytes", Kind::Confirmation,
        confirmation([](auto &x) { x.signature = QByteArray(257, 's'); }), {"oversized", "signature"});
    {
        QByteArray bytes = f.confirmation.encode();
        patchU32(bytes, 37, 0xFFFFFFFFu); // target_id length
        add("confirmation: target_id length 0xFFFFFFFF", Kind::Confirmation, bytes,
            {"oversized", "target_id"});
        bytes = f.confirmation.encode();
        const qsizetype stateAt = 37 + 4 + f.confirmation.targetId.size() + 32;
        patchU16(bytes, stateAt, 9);
        add("confirmation: patched state code", Kind::Confirmation, bytes,
            {"unknown state code 9", QByteArray("offset " + QByteArray::number(stateAt)).constData()});
    }

    // ---- decision ----
    const DecisionFields d = DecisionFields::of(f.decided);
    const DecisionFields u = DecisionFields::of(f.undetermined);
    auto decision = [](const DecisionFields &base, auto edit) {
        DecisionFields copy = base;
        edit(copy);
        return copy.build();
    };
    // tag, version, the write-off's length and bytes, then the outcome.
    const QByteArray decidedAt = "decided_state 0 at offset " + QByteArray::number(9 + d.writeOff.size() + 1);
    const QByteArray undeterminedAt =
        "decided_state 1 at offset " + QByteArray::number(9 + u.writeOff.size() + 1);
    const QByteArray outcomeAt =
        "outcome UNDETERMINED at offset " + QByteArray::number(9 + u.writeOff.size());
    add("decision: decided with state 0", Kind::Decision, decision(d, [](auto &x) { x.decidedState = 0; }),
        {"DECIDED", decidedAt.constData()});
    add("decision: undetermined with a state", Kind::Decision,
        decision(u, [](auto &x) { x.decidedState = 1; }),
        {undeterminedAt.constData(), outcomeAt.constData()});
    {
        // A certificate has one encoding: the signers in strictly ascending target id.
        DecisionFields swapped = d;
        swapped.confirmations.swapItemsAt(0, 1);
        QByteArray bytes = swapped.build();
        const QByteArray swappedAt =
            "confirmation 1 at offset " + QByteArray::number(bytes.indexOf(swapped.confirmations.at(1)));
        add("decision: confirmations in descending order", Kind::Decision, bytes,
            {swappedAt.constData(), "target_id 'target-1' does not come after 'target-3'",
             "strictly ascending target id"});
        DecisionFields reversed = u;
        std::reverse(reversed.confirmations.begin(), reversed.confirmations.end());
        bytes = reversed.build();
        const QByteArray reversedAt =
            "confirmation 1 at offset " + QByteArray::number(bytes.indexOf(reversed.confirmations.at(1)));
        add("decision: undetermined confirmations reversed", Kind::Decision, bytes,
            {reversedAt.constData(), "strictly ascending target id"});
        DecisionFields twice = d;
        twice.confirmations[1] = twice.confirmations.at(0);
        bytes = twice.build();
        const QByteArray twiceAt =
            "confirmation 1 at offset " +
            QByteArray::number(bytes.indexOf(twice.confirmations.at(0), 9 + d.writeOff.size()) + 4 +
                               twice.confirmations.at(0).size());
        add("decision: a signer twice", Kind::Decision, bytes,
            {twiceAt.constData(), "'target-1' does not come after 'target-1'"});
    }
    add("decision: outcome 0", Kind::Decision, decision(d, [](auto &x) { x.outcome = 0; }),
        {"unknown outcome 0"});
    add("decision: outcome 3", Kind::Decision, decision(d, [](auto &x) { x.outcome = 3; }),
        {"unknown outcome 3"});
    add("decision: histogram out of order", Kind::Decision,
        decision(u,
                 [](auto &x) {
                     x.histogram = {{4, 1}, {1, 2}};
                 }),
        {"histogram", "ascending"});
    add("decision: histogram repeats a state", Kind::Decision,
        decision(u,
                 [](auto &x) {
                     x.histogram = {{1, 1}, {1, 1}, {4, 1}};
                 }),
        {"histogram", "ascending"});
    add("decision: histogram zero count", Kind::Decision,
        decision(u,
                 [](auto &x) {
                     x.histogram = {{1, 2}, {3, 0}, {4, 1}};
                 }),
        {"histogram", "zero count"});
    add("decision: histogram unknown state", Kind::Decision,
        decision(u,
                 [](auto &x) {
                     x.histogram = {{1, 2}, {77, 1}};
                 }),
        {"unknown state code 77", "histogram"});
    add("decision: histogram count 257", Kind::Decision, decision(u, [](auto &x) { x.histogramCount = 257; }),
        {"oversized list", "histogram", "257"});
    add("decision: histogram count 0xFFFFFFFF", Kind::Decision,
        decision(u, [](auto &x) { x.histogramCount = 0xFFFFFFFFu; }), {"oversized list", "histogram"});
    add("decision: histogram count beyond the input", Kind::Decision,
        decision(u,
                 [](auto &x) {
                     x.histogramCount = 200;
                     x.confirmations.clear();
                 }),
        {"truncated", "histogram", "200"});
    add("decision: confirmation count 4097", Kind::Decision,
        decision(d, [](auto &x) { x.confirmationCount = 4097; }), {"oversized list", "confirmations"});
    add("decision: confirmation count 0xFFFFFFFF", Kind::Decision,
        decision(d, [](auto &x) { x.confirmationCount = 0xFFFFFFFFu; }), {"oversized list", "confirmations"});
    add("decision: confirmation count 4", Kind::Decision,
        decision(d, [](auto &x) { x.confirmationCount = 4; }), {"truncated", "confirmation"});
    add("decision: bad inner write-off", Kind::Decision,
        decision(d, [&](auto &x) { x.writeOff = writeOff([](auto &y) { y.currency = "yen"; }); }),
        {"write-off at offset 9", "ISO 4217"});
    add("decision: inner write-off with trailing bytes", Kind::Decision,
        decision(d, [](auto &x) { x.writeOff += "!"; }), {"write-off", "trailing garbage"});
    add("decision: write-off as confirmation", Kind::Decision,
        decision(d, [&](auto &x) { x.confirmations[1] = f.writeOff.encode(); }), {"confirmation 1", "tag"});
    add("decision: confirmation with unknown state", Kind::Decision,
        decision(d, [&](auto &x) { x.confirmations[2] = confirmation([](auto &y) { y.stateCode = 42; }); }),
        {"confirmation 2", "unknown state code 42"});
    add("decision: confirmation of 2049 bytes", Kind::Decision,
        decision(d, [](auto &x) { x.confirmations[0] = QByteArray(2049, 'c'); }),
        {"oversized", "confirmation"});
    {
        QByteArray bytes = f.decided.encode();
        patchU32(bytes, 5, 0xFFFFFFFFu);
        add("decision: write_off length 0xFFFFFFFF", Kind::Decision, bytes, {"oversized", "write_off"});
    }

    // ---- block ----
    const BlockFields b = BlockFields::of(f.block1);
    auto block = [&](auto edit) {
        BlockFields copy = b;
        edit(copy);
        return copy.build();
    };
    add("block: header tag", Kind::Block, block([](auto &x) { x.headerTag = "TSBK"; }),
        {"block header", "tag"});
    // Offsets within the header, which starts at byte 9 of the block.
    const QByteArray countAt = "field 'decision_count' at offset " +
                               QByteArray::number(5 + 8 + 32 + 32 + 8 + 4 + b.coordinatorId.size() + 32);
    add("block: height 0", Kind::Block, block([](auto &x) { x.height = 0; }),
        {"height 0", "field 'height' at offset 5", "block header (starting at offset 9"});
    add("block: decision count 10001", Kind::Block, block([](auto &x) { x.decisionCount = 10001; }),
        {"oversized block", "10001", countAt.constData()});
    add("block: decision count above the decisions", Kind::Block, block([](auto &x) { x.decisionCount = 3; }),
        {"truncated", "decision"});
    add("block: decision count below the decisions", Kind::Block, block([](auto &x) { x.decisionCount = 1; }),
        {"trailing garbage", "block"});
    add("block: header trailing bytes", Kind::Block, block([](auto &x) { x.headerSuffix = "\x01"; }),
        {"block header", "trailing garbage"});
    add("block: bad coordinator UTF-8", Kind::Block, block([](auto &x) { x.coordinatorId = "coord\xff"; }),
        {"block header", "UTF-8", "coordinator_id"});
    add("block: invalid decision", Kind::Block,
        block([&](auto &x) { x.decisions[1] = decision(u, [](auto &y) { y.outcome = 9; }); }),
        {"decision 1", "unknown outcome 9"});
    add("block: signature of 257 bytes", Kind::Block,
        block([](auto &x) { x.signature = QByteArray(257, 's'); }), {"oversized", "signature"});
    {
        QByteArray bytes = f.block1.encode();
        patchU32(bytes, 5, 0xFFFFFFFFu);
        add("block: header length 0xFFFFFFFF", Kind::Block, bytes, {"oversized", "header"});
    }

    // ---- segment ----
    const QByteArray start = Block::genesisPreviousHash();
    const QList<QByteArray> blocks{f.block1.encode(), f.block2.encode()};
    add("segment: block count 0xFFFFFFFF", Kind::Segment, segmentBytes(start, 0xFFFFFFFFu, blocks),
        {"oversized list", "blocks"});
    add("segment: block count above the blocks", Kind::Segment, segmentBytes(start, 5, blocks),
        {"truncated"});
    add("segment: block count below the blocks", Kind::Segment, segmentBytes(start, 1, blocks),
        {"trailing garbage", "chain export"});
    add("segment: invalid block", Kind::Segment,
        segmentBytes(start, 2, {blocks.at(0), block([](auto &x) { x.height = 0; })}),
        {"block 1", "height 0"});
    {
        QByteArray bytes = f.segment.encode();
        patchU32(bytes, 41, 0xFFFFFFFFu); // first block's length
        add("segment: block length 0xFFFFFFFF", Kind::Segment, bytes, {"oversized", "block"});
        bytes = f.segment.encode();
        patchU32(bytes, 41, 0x3FFFFFFFu);
        add("segment: block length past the end", Kind::Segment, bytes, {"truncated", "block"});
    }
}

void TestEncoding::malformed()
{
    commonMalformed();
}

void TestEncoding::mutationsNeverCrash()
{
    const Fixtures &f = fixtures();
    QList<QByteArray> valid;
    for (const Kind kind : kKinds)
        valid.append(f.encoded(kind));
    valid[int(Kind::Decision)] = f.undetermined.encode(); // the other outcome; decided is in the block

    QRandomGenerator random(20240601);
    int accepted = 0;
    int rejected = 0;
    for (int round = 0; round < 20000; ++round) {
        const Kind kind = kKinds[random.bounded(5)];
        QByteArray bytes = valid.at(int(kind));
        const int edits = 1 + random.bounded(3);
        for (int e = 0; e < edits; ++e) {
            const qsizetype at = random.bounded(qsizetype(0), qMax<qsizetype>(1, bytes.size()));
            switch (random.bounded(5)) {
            case 0: // flip one bit
                if (!bytes.isEmpty())
                    bytes[at] = char(bytes.at(at) ^ (1 << random.bounded(8)));
                break;
            case 1: // replace a byte
                if (!bytes.isEmpty())
                    bytes[at] = char(random.bounded(256));
                break;
            case 2:
                bytes.insert(at, char(random.bounded(256)));
                break;
            case 3:
                bytes.remove(at, 1 + random.bounded(4));
                break;
            case 4: { // a length or count gone wild
                static const quint32 values[] = {0, 1, 0x7F, 0xFF, 0x100, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF};
                if (at + 4 <= bytes.size())
                    patchU32(bytes, at, values[random.bounded(8)]);
                break;
            }
            }
        }
        const Decoded result = decodeAs(kind, bytes);
        if (!result.ok) {
            ++rejected;
            if (result.error.isEmpty())
                QFAIL(qPrintable(QStringLiteral("round %1: rejected without an error").arg(round)));
            continue;
        }
        ++accepted;
        // Whatever is accepted has exactly one encoding: the bytes it came from.
        if (result.reencoded != bytes)
            QFAIL(qPrintable(QStringLiteral("round %1 (%2): accepted bytes re-encode differently")
                                 .arg(round)
                                 .arg(QLatin1String(kindName(kind)))));
        if (!decodeAs(kind, result.reencoded).ok)
            QFAIL(qPrintable(QStringLiteral("round %1: the re-encoding does not decode").arg(round)));
    }
    QVERIFY(rejected > 10000);
    QVERIFY(accepted > 0); // flips inside signatures and free text decode fine
}

void TestEncoding::membershipRoundTrip()
{
    const Membership &membership = fixtures().sample.membership;
    QCOMPARE(membership.validate(), QString());
    QString error;
    const auto parsed = Membership::fromJson(membership.toJson(), &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->hash(), membership.hash());
    QCOMPARE(parsed->canonicalBytes(), membership.canonicalBytes());
    QCOMPARE(parsed->toJson(), membership.toJson());
    QCOMPARE(parsed->targetCount(), 4);
    QCOMPARE(parsed->quorum(), 3);

    // A count policy and a 7-target consortium survive too, and hash differently.
    SampleConsortium::Options options;
    options.targets = 7;
    options.policy = QuorumPolicy::absolute(5);
    const Membership other = SampleConsortium::generate(options).membership;
    const auto parsedOther = Membership::fromJson(other.toJson(), &error);
    QVERIFY2(parsedOther, qPrintable(error));
    QCOMPARE(parsedOther->hash(), other.hash());
    QVERIFY(parsedOther->policy() == QuorumPolicy::absolute(5));
    QVERIFY(other.hash() != membership.hash());

    // Member order in the file does not matter; upper-case hex is accepted.
    QJsonObject root = membershipJson();
    QJsonArray members = root.value(QLatin1String("members")).toArray();
    QJsonArray reversed;
    for (qsizetype i = members.size() - 1; i >= 0; --i) {
        QJsonObject m = members.at(i).toObject();
        m.insert(QLatin1String("publicKey"), m.value(QLatin1String("publicKey")).toString().toUpper());
        reversed.append(m);
    }
    root.insert(QLatin1String("members"), reversed);
    const auto shuffled = Membership::fromJson(toBytes(root), &error);
    QVERIFY2(shuffled, qPrintable(error));
    QCOMPARE(shuffled->hash(), membership.hash());
}

void TestEncoding::membershipErrors_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QStringList>("keywords");
    const int branch = indexOfMember(QStringLiteral("branch-2"));
    const int target = indexOfMember(QStringLiteral("target-3"));
    QVERIFY(branch >= 0 && target >= 0);
    auto words = [](std::initializer_list<const char *> list) {
        QStringList out;
        for (const char *w : list)
            out.append(QString::fromUtf8(w));
        return out;
    };

    QTest::newRow("duplicate id") << withMember(branch, [](QJsonObject &m) {
        m.insert(QLatin1String("id"), QStringLiteral("target-3"));
    }) << words({"target-3", "twice"});
    const QJsonValue branchKey =
        membershipJson().value(u"members").toArray().at(branch).toObject().value(u"publicKey");
    QTest::newRow("one key for two members")
        << withMember(target, [&](QJsonObject &m) { m.insert(QLatin1String("publicKey"), branchKey); })
        << QStringList{QStringLiteral("('target-3'): 'publicKey' is the key of members[%1] ('branch-2') too")
                           .arg(branch)};
    QTest::newRow("a member key misspelt") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("sheme"), QStringLiteral("ed25519"));
    }) << words({"members[", "('target-3'): 'sheme': unknown key"});
    QJsonObject misspelt = membershipJson();
    misspelt.insert(QLatin1String("quorom"), QJsonObject{{QLatin1String("count"), 4}});
    QTest::newRow("a top-level key misspelt") << toBytes(misspelt) << words({"'quorom': unknown key"});
    QTest::newRow("a quorum key misspelt")
        << withQuorum(QJsonObject{{QLatin1String("count"), 3}, {QLatin1String("cuont"), 4}})
        << words({"'quorum.cuont': unknown key"});
    QTest::newRow("unknown role") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("roles"), QJsonArray{QStringLiteral("target"), QStringLiteral("auditor")});
    }) << words({"target-3", "unknown role 'auditor'"});
    QTest::newRow("roles not an array") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("roles"), QStringLiteral("target"));
    }) << words({"target-3", "roles"});
    QTest::newRow("empty roles") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("roles"), QJsonArray());
    }) << words({"target-3", "roles", "empty"});
    QTest::newRow("bad hex key") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("publicKey"), QString(64, QLatin1Char('z')));
    }) << words({"target-3", "publicKey", "hexadecimal"});
    QTest::newRow("odd hex key") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("publicKey"), m.value(QLatin1String("publicKey")).toString().chopped(1));
    }) << words({"target-3", "publicKey"});
    QTest::newRow("missing key") << withMember(target, [](QJsonObject &m) {
        m.remove(QLatin1String("publicKey"));
    }) << words({"target-3", "publicKey"});
    QTest::newRow("short key") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("publicKey"), m.value(QLatin1String("publicKey")).toString().left(62));
    }) << words({"target-3", "publicKey", "31 bytes", "32"});
    QTest::newRow("long key") << withMember(branch, [](QJsonObject &m) {
        m.insert(QLatin1String("publicKey"),
                 m.value(QLatin1String("publicKey")).toString() + QStringLiteral("00"));
    }) << words({"branch-2", "publicKey", "33 bytes"});
    QTest::newRow("unknown scheme") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("scheme"), QStringLiteral("sm2"));
    }) << words({"target-3", "'scheme'", "sm2"});
    // Present but not a string: not silently the default.
    QTest::newRow("scheme a number") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("scheme"), 5);
    }) << words({"target-3", "'scheme' must be a string"});
    QTest::newRow("scheme null") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("scheme"), QJsonValue::Null);
    }) << words({"target-3", "'scheme' must be a string"});
    QTest::newRow("address a number")
        << withMember(target, [](QJsonObject &m) { m.insert(QLatin1String("address"), 7403); })
        << words({"target-3", "'address' must be a string"});
    QTest::newRow("role a number") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("roles"), QJsonArray{2});
    }) << words({"target-3", "'roles'"});
    QTest::newRow("missing port") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("address"), QStringLiteral("10.0.0.3"));
    }) << words({"target-3", "10.0.0.3", "host:port"});
    QTest::newRow("empty port") << withMember(target, [](QJsonObject &m) {
        m.insert(QLatin1String("address"), QStringLiteral("10.0.0.3:"));
    }) << words({"target-3", "port"});
    QTest::newRow("port out of range") << withMember(branch, [](QJsonObject &m) {
        m.insert(QLatin1String("address"), QStringLiteral("bank.example:70000"));
    }) << words({"branch-2", "port"});
    QTest::newRow("bad node id") << withMember(branch, [](QJsonObject &m) {
        m.insert(QLatin1String("id"), QStringLiteral("branch two"));
    }) << words({"branch two", "node id"});

    QTest::newRow("unsafe quorum") << withQuorum(QJsonObject{{QLatin1String("count"), 2}})
                                   << words({"quorum", "unsafe", "2 of 4"});
    QTest::newRow("unsafe ratio") << withQuorum(QJsonObject{{QLatin1String("ratio"), QStringLiteral("1/4")}})
                                  << words({"quorum", "unsafe"});
    QTest::newRow("quorum above n") << withQuorum(QJsonObject{{QLatin1String("count"), 5}})
                                    << words({"quorum", "5 of 4", "never"});
    // 2q would overflow an int: q > n is the reason, not "unsafe".
    QTest::newRow("largest count") << withQuorum(QJsonObject{{QLatin1String("count"), 2147483647}})
                                   << words({"quorum", "2147483647 of 4", "never"});
    QTest::newRow("fractional count")
        << withQuorum(QJsonObject{{QLatin1String("count"), 1.5}}) << words({"quorum.count"});
    QTest::newRow("ratio not below one")
        << withQuorum(QJsonObject{{QLatin1String("ratio"), QStringLiteral("3/3")}})
        << words({"quorum.ratio"});
    QTest::newRow("both ratio and count")
        << withQuorum(
               QJsonObject{{QLatin1String("count"), 3}, {QLatin1String("ratio"), QStringLiteral("2/3")}})
        << words({"quorum", "exactly one"});
    QTest::newRow("zero count") << withQuorum(QJsonObject{{QLatin1String("count"), 0}})
                                << words({"quorum.count"});

    {
        QJsonObject root = membershipJson();
        QJsonArray members;
        for (const QJsonValue &value : root.value(QLatin1String("members")).toArray()) {
            QJsonObject m = value.toObject();
            if (m.value(QLatin1String("roles")).toArray().contains(QStringLiteral("target")))
                continue;
            members.append(m);
        }
        root.insert(QLatin1String("members"), members);
        QTest::newRow("no targets") << toBytes(root) << words({"target"});
    }
    {
        QJsonObject root = membershipJson();
        root.insert(QLatin1String("members"), QJsonArray());
        QTest::newRow("no members") << toBytes(root) << words({"members", "empty"});
        root = membershipJson();
        root.insert(QLatin1String("version"), 2);
        QTest::newRow("version 2") << toBytes(root) << words({"version"});
        root = membershipJson();
        root.remove(QLatin1String("format"));
        QTest::newRow("no format") << toBytes(root) << words({"format"});
    }
    const QByteArray valid = toBytes(membershipJson());
    QTest::newRow("not JSON") << QByteArray("{ \"format\": \"ticketsync-membership\", oops }")
                              << words({"not valid JSON", "offset"});
    QTest::newRow("cut short") << valid.left(valid.size() / 2) << words({"not valid JSON", "offset"});
    QTest::newRow("array at top") << QByteArray("[1, 2, 3]") << words({"JSON object"});
    QTest::newRow("empty file") << QByteArray() << words({"offset"});

    // A key given twice: a reader sees the first public key, the parser would keep the second.
    QByteArray twice = QJsonDocument(membershipJson()).toJson(QJsonDocument::Indented);
    const qsizetype third = twice.indexOf("\"id\": \"target-3\"");
    QVERIFY(third > 0);
    twice.insert(third, "\"publicKey\": \"" + QByteArray(64, 'a') + "\", ");
    const int thirdLine = int(twice.left(third).count('\n')) + 2; // the original is on the line after
    QTest::newRow("a public key given twice")
        << twice
        << QStringList{QStringLiteral("'members[%1].publicKey': given twice (again on line %2)")
                           .arg(target)
                           .arg(thirdLine)};
    QByteArray topTwice = valid;
    topTwice.insert(1, "\"consortium\":\"other\",");
    QTest::newRow("a top-level key given twice") << topTwice << words({"'consortium': given twice"});
}

void TestEncoding::membershipErrors()
{
    QFETCH(QByteArray, json);
    QFETCH(QStringList, keywords);
    QString error;
    QVERIFY2(!Membership::fromJson(json, &error).has_value(), "a bad membership file was accepted");
    QVERIFY(!error.isEmpty());
    QVERIFY2(!error.contains(QLatin1Char('\n')), qPrintable(error)); // one line
    for (const QString &keyword : keywords)
        QVERIFY2(error.contains(keyword), qPrintable(error));
}

void TestEncoding::membershipLoadNamesFile()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString good = dir.filePath(QStringLiteral("membership.json"));
    const QString bad = dir.filePath(QStringLiteral("broken.json"));
    {
        QFile file(good);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(fixtures().sample.membership.toJson());
        QFile broken(bad);
        QVERIFY(broken.open(QIODevice::WriteOnly));
        broken.write(withQuorum(QJsonObject{{QLatin1String("count"), 2}}));
    }
    QString error;
    const auto loaded = Membership::load(good, &error);
    QVERIFY2(loaded, qPrintable(error));
    QCOMPARE(loaded->hash(), fixtures().sample.membership.hash());

    QVERIFY(!Membership::load(bad, &error));
    QVERIFY2(error.startsWith(bad) && error.contains(QLatin1String("unsafe")), qPrintable(error));
    const QString absent = dir.filePath(QStringLiteral("absent.json"));
    QVERIFY(!Membership::load(absent, &error));
    QVERIFY2(error.startsWith(absent) && error.contains(QLatin1String("cannot open")), qPrintable(error));

    // Larger than any membership: refused by its size, not read whole (as /dev/zero would be).
    const QString huge = dir.filePath(QStringLiteral("huge.json"));
    {
        QFile file(huge);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QVERIFY(file.resize(17 * 1024 * 1024));
    }
    QVERIFY(!Membership::load(huge, &error));
    QVERIFY2(error.startsWith(huge) && error.contains(QLatin1String("larger than 16777216 bytes")),
             qPrintable(error));
}

// The members of the sample file in reverse: sorted by id they would be counted differently,
// and an error must point at the line a reader finds in the file.
void TestEncoding::membershipErrorsNameTheFileIndex_data()
{
    QTest::addColumn<QString>("id");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QJsonValue>("value");
    QTest::addColumn<QString>("expected"); // after "members[i] ('id'): "
    QTest::newRow("address") << "target-2"
                             << "address" << QJsonValue(QStringLiteral("nohost"))
                             << "'address': address 'nohost' is not host:port";
    QTest::newRow("publicKey size") << "receiver-1"
                                    << "publicKey" << QJsonValue(QStringLiteral("00ff"))
                                    << "'publicKey' is 2 bytes, ed25519 needs 32";
    QTest::newRow("scheme") << "coordinator-1"
                            << "scheme" << QJsonValue(5) << "'scheme' must be a string";
    QTest::newRow("roles") << "branch-1"
                           << "roles" << QJsonValue(QJsonArray()) << "'roles' is empty";
    QTest::newRow("id") << "target-4"
                        << "id" << QJsonValue(QStringLiteral("target 4"))
                        << "'id': node id 'target 4' may hold only";
}

void TestEncoding::membershipErrorsNameTheFileIndex()
{
    QFETCH(QString, id);
    QFETCH(QString, key);
    QFETCH(QJsonValue, value);
    QFETCH(QString, expected);
    QJsonObject root = membershipJson();
    const QJsonArray sorted = root.value(QLatin1String("members")).toArray();
    QJsonArray reversed;
    int index = -1;
    for (qsizetype i = sorted.size() - 1; i >= 0; --i) {
        QJsonObject m = sorted.at(i).toObject();
        if (m.value(QLatin1String("id")).toString() == id) {
            index = int(reversed.size());
            m.insert(key, value);
        }
        reversed.append(m);
    }
    QVERIFY(index >= 0);
    QVERIFY(index != indexOfMember(id)); // the file's order is not the sorted one
    root.insert(QLatin1String("members"), reversed);
    QString error;
    QVERIFY(!Membership::fromJson(toBytes(root), &error));
    const QString shown = key == QLatin1String("id") ? value.toString() : id;
    const QString prefix = QStringLiteral("members[%1] ('%2'): ").arg(index).arg(shown);
    QVERIFY2(error.startsWith(prefix + expected), qPrintable(error));

    // A duplicate names both places.
    root = membershipJson();
    QJsonArray members = root.value(QLatin1String("members")).toArray();
    QJsonObject copy = members.at(1).toObject();
    members.append(copy);
    root.insert(QLatin1String("members"), members);
    QVERIFY(!Membership::fromJson(toBytes(root), &error));
    QCOMPARE(error, QStringLiteral("members[%1] ('%2'): 'id' is listed twice, first as members[1]")
                        .arg(members.size() - 1)
                        .arg(copy.value(QLatin1String("id")).toString()));
}

void TestEncoding::quorumArithmeticIsWide()
{
    // q is compared with n in 64 bits, q > n first: 2q never overflows into "unsafe".
    for (const quint32 count : {quint32(5), quint32(0x7FFFFFFF), quint32(0x80000000), quint32(0xFFFFFFFF)}) {
        const QString problem = QuorumPolicy::absolute(count).checkSafe(4);
        QVERIFY2(problem.contains(QStringLiteral("quorum %1 of 4 targets can never be reached").arg(count)),
                 qPrintable(problem));
    }
    QCOMPARE(QuorumPolicy::absolute(3).checkSafe(4), QString());
    QVERIFY(QuorumPolicy::absolute(2).checkSafe(4).contains(QLatin1String("unsafe")));
    // The largest ratio over the most targets an int counts stays exact.
    const QuorumPolicy ratio = QuorumPolicy::ratio(0xFFFFFFFE, 0xFFFFFFFF);
    QCOMPARE(ratio.threshold(0x7FFFFFFF), 0x7FFFFFFF);
    QCOMPARE(ratio.checkSafe(0x7FFFFFFF), QString());
}

QTEST_GUILESS_MAIN(TestEncoding)
#include "tst_encoding.moc"
