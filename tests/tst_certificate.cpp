// Offline certificate checks: genuine decisions verify, and every forgery is refused with a
// message naming what was forged.
#include "Decision.h"
#include "SampleConsortium.h"
#include "Tally.h"

#include <QTest>
#include <algorithm>

using namespace ticketsync;

namespace {

constexpr qint64 kIssuedAt = 1717200000000;

struct Setup
{
    SampleConsortium sample;
    WriteOffResult writeOff;

    explicit Setup(const SampleConsortium::Options &options = {})
        : sample(SampleConsortium::generate(options)),
          writeOff(sample.writeOff(QStringLiteral("branch-1"), QStringLiteral("BA-2024-000042"), 1, 500000000,
                                   QStringLiteral("CNY"), kIssuedAt, QStringLiteral("承兑汇票核销")))
    {}

    StateConfirmation confirm(int target, ConfirmationState state, const QString &reason = {}) const
    {
        return sample.confirm(QStringLiteral("target-%1").arg(target), writeOff, state, reason);
    }

    // Feeds the targets' answers in order until the tally is final; expires it if asked.
    Decision tally(const QList<ConfirmationState> &answers, bool expire = false) const
    {
        Tally tally(sample.membership, writeOff);
        for (int i = 0; i < answers.size() && !tally.isFinal(); ++i) {
            QString reason;
            const Tally::Verdict verdict = tally.add(confirm(i + 1, answers.at(i)), &reason);
            if (verdict != Tally::Verdict::Counted)
                qWarning("target-%d: %s", i + 1, qPrintable(reason));
        }
        if (expire)
            tally.expire();
        return tally.decision(kIssuedAt + 1500);
    }

    Decision decided() const
    {
        QList<ConfirmationState> answers;
        for (int i = 0; i < sample.membership.targetCount(); ++i)
            answers.append(ConfirmationState::WrittenOff);
        return tally(answers);
    }
};

SampleConsortium::Options optionsWith(int targets, QuorumPolicy policy = {})
{
    SampleConsortium::Options options;
    options.targets = targets;
    options.policy = policy;
    return options;
}

// A confirmation signed by an arbitrary key, claiming to be from targetId of this consortium.
StateConfirmation signedBy(const Setup &s, const QString &targetId, const KeyPair &key,
                           ConfirmationState state = ConfirmationState::WrittenOff)
{
    StateConfirmation c;
    c.membershipHash = s.sample.membership.hash();
    c.targetId = targetId;
    c.writeOffDigest = s.writeOff.digest();
    c.setState(state);
    c.sign(key);
    return c;
}

QString roundTripped(const Decision &decision, const Membership &membership)
{
    QString error;
    const auto decoded = Decision::decode(decision.encode(), &error);
    if (!decoded)
        return QStringLiteral("decode failed: ") + error;
    return decoded->verifyCertificate(membership);
}

} // namespace

class TestCertificate : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void validDecided_data();
    void validDecided();
    void validUndetermined();
    void validUndeterminedAfterTimeout();
    void forgeries_data();
    void forgeries();
    void forgedUndetermined_data();
    void forgedUndetermined();
    void otherMembership();
    void reorderedConfirmationsAreRefused();
    void tallyOrdersBySignerId();
};

void TestCertificate::validDecided_data()
{
    QTest::addColumn<int>("targets");
    QTest::addColumn<int>("policyCount"); // 0: the default 2/3 ratio
    QTest::addColumn<int>("expectedQuorum");
    QTest::newRow("n=4 ratio") << 4 << 0 << 3;
    QTest::newRow("n=7 ratio") << 7 << 0 << 5;
    QTest::newRow("n=1 ratio") << 1 << 0 << 1;
    QTest::newRow("n=5 count 4") << 5 << 4 << 4;
    QTest::newRow("n=5 count 5") << 5 << 5 << 5;
}

void TestCertificate::validDecided()
{
    QFETCH(int, targets);
    QFETCH(int, policyCount);
    QFETCH(int, expectedQuorum);
    const Setup s(
        optionsWith(targets, policyCount ? QuorumPolicy::absolute(quint32(policyCount)) : QuorumPolicy()));
    QCOMPARE(s.sample.membership.validate(), QString());
    QCOMPARE(s.sample.membership.quorum(), expectedQuorum);

    const Decision d = s.decided();
    QCOMPARE(d.outcome, Outcome::Decided);
    QCOMPARE(d.decidedState, quint16(ConfirmationState::WrittenOff));
    QCOMPARE(d.targetCount, quint32(targets));
    QCOMPARE(d.quorum, quint32(expectedQuorum));
    QCOMPARE(d.confirmations.size(), expectedQuorum); // decided as soon as q agree
    QCOMPARE(d.missing, quint32(targets - expectedQuorum));
    QCOMPARE(d.verifyCertificate(s.sample.membership), QString());
    QCOMPARE(roundTripped(d, s.sample.membership), QString());

    // A decision for another state, with dissent on the way, verifies as well.
    QList<ConfirmationState> answers{ConfirmationState::AmountMismatch};
    for (int i = 1; i < targets; ++i)
        answers.append(ConfirmationState::AlreadyWrittenOff);
    const Decision mixed = s.tally(answers);
    if (targets - 1 >= expectedQuorum) {
        QCOMPARE(mixed.outcome, Outcome::Decided);
        QCOMPARE(mixed.decidedState, quint16(ConfirmationState::AlreadyWrittenOff));
        QCOMPARE(mixed.countOf(quint16(ConfirmationState::AmountMismatch)), 1u);
        QCOMPARE(mixed.verifyCertificate(s.sample.membership), QString());
        QCOMPARE(roundTripped(mixed, s.sample.membership), QString());
    }
}

void TestCertificate::validUndetermined()
{
    const Setup s;
    const Decision d = s.tally({ConfirmationState::WrittenOff, ConfirmationState::AmountMismatch,
                                ConfirmationState::WrittenOff, ConfirmationState::UnknownTicket});
    QCOMPARE(d.outcome, Outcome::Undetermined);
    QCOMPARE(d.decidedState, quint16(0));
    QCOMPARE(d.confirmations.size(), 4);
    QCOMPARE(d.missing, 0u);
    QCOMPARE(d.histogram.size(), 3);
    QCOMPARE(d.verifyCertificate(s.sample.membership), QString());
    QCOMPARE(roundTripped(d, s.sample.membership), QString());

    // n = 7: two states split 3/4 never reach 5 of 7.
    const Setup seven(optionsWith(7));
    QList<ConfirmationState> answers;
    for (int i = 0; i < 7; ++i)
        answers.append(i % 2 ? ConfirmationState::TicketFrozen : ConfirmationState::WrittenOff);
    const Decision split = seven.tally(answers);
    QCOMPARE(split.outcome, Outcome::Undetermined);
    QCOMPARE(split.verifyCertificate(seven.sample.membership), QString());
}

void TestCertificate::validUndeterminedAfterTimeout()
{
    const Setup s;
    const Decision d = s.tally({ConfirmationState::WrittenOff, ConfirmationState::WrittenOff}, true);
    QCOMPARE(d.outcome, Outcome::Undetermined);
    QCOMPARE(d.missing, 2u);
    QCOMPARE(d.confirmations.size(), 2);
    QCOMPARE(d.verifyCertificate(s.sample.membership), QString());
    QCOMPARE(roundTripped(d, s.sample.membership), QString());
}

// Each row: a forged copy of the n=4 DECIDED certificate (targets 1-3 said WRITTEN_OFF) and the
// words the refusal must contain.
void TestCertificate::forgeries_data()
{
    QTest::addColumn<int>("forgery");
    QTest::addColumn<QStringList>("keywords");
    auto row = [](const char *name, int id, std::initializer_list<const char *> words) {
        QStringList keywords;
        for (const char *word : words)
            keywords.append(QString::fromUtf8(word));
        QTest::newRow(name) << id << keywords;
    };
    row("duplicate signer", 0, {"target-1", "signs twice"});
    row("signer not a member", 1, {"'target-9' is not a member"});
    row("key of another consortium", 2, {"target-2", "signature", "does not verify"});
    row("confirmation from another consortium", 3, {"target-2", "another consortium"});
    row("branch signs as target", 4, {"branch-2", "does not hold the target role"});
    row("coordinator signs as target", 5, {"coordinator-1", "does not hold the target role"});
    row("wrong q", 6, {"q is 2", "gives 3", "n = 4"});
    row("wrong n", 7, {"n is 5", "4 target nodes"});
    row("swapped state", 8, {"confirms WRITTEN_OFF", "not the decided ALREADY_WRITTEN_OFF"});
    row("swapped state and histogram", 9, {"confirms WRITTEN_OFF", "ALREADY_WRITTEN_OFF"});
    row("changed amount", 10, {"write-off", "branch 'branch-1'", "does not verify"});
    row("changed ticket", 11, {"write-off", "does not verify"});
    row("write-off re-signed by another branch key", 12, {"write-off", "branch-1", "does not verify"});
    row("confirmation for another digest", 13, {"target-3", "another write-off"});
    row("bad signature byte", 14, {"target-2", "signature", "does not verify"});
    row("truncated signature", 15, {"target-1", "does not verify"});
    row("too few signatures", 16, {"only 2 valid signatures", "WRITTEN_OFF", "quorum is 3"});
    row("histogram claims more", 17, {"histogram claims 4", "3 confirmations are signed"});
    row("histogram does not add up", 18, {"add up to 3", "n = 4"});
    row("confirmation with another state", 19, {"target-3", "confirms AMOUNT_MISMATCH"});
    row("changed reason", 20, {"target-1", "does not verify"});
    row("unknown state code", 21, {"unknown state code 99"});
    row("missing inflated", 22, {"add up to 5"});
    row("signer renamed", 23, {"target-4", "does not verify"});
}

void TestCertificate::forgeries()
{
    QFETCH(int, forgery);
    QFETCH(QStringList, keywords);
    const Setup s;
    const Membership &membership = s.sample.membership;
    Decision d = s.decided();
    QCOMPARE(d.confirmations.size(), 3);
    QCOMPARE(d.confirmations.at(0).targetId, QStringLiteral("target-1"));
    QCOMPARE(d.verifyCertificate(membership), QString()); // the genuine one holds

    const Setup other([] {
        SampleConsortium::Options options;
        options.label = QStringLiteral("another-consortium");
        return options;
    }());

    switch (forgery) {
    case 0: // the same confirmation twice stands in for a third target
        d.confirmations[2] = d.confirmations.at(0);
        std::sort(d.confirmations.begin(), d.confirmations.end(),
                  [](const auto &a, const auto &b) { return a.targetId < b.targetId; });
        break;
    case 1:
        d.confirmations[2] =
            signedBy(s, QStringLiteral("target-9"), other.sample.keys.value(QStringLiteral("target-1")));
        break;
    case 2: // right id, but signed with the other consortium's key of the same name
        d.confirmations[1] =
            signedBy(s, QStringLiteral("target-2"), other.sample.keys.value(QStringLiteral("target-2")));
        break;
    case 3: // a genuine confirmation, but made under the other membership
        d.confirmations[1] =
            other.sample.confirm(QStringLiteral("target-2"), s.writeOff, ConfirmationState::WrittenOff);
        break;
    case 4:
        d.confirmations[2] =
            signedBy(s, QStringLiteral("branch-2"), s.sample.keys.value(QStringLiteral("branch-2")));
        break;
    case 5:
        d.confirmations[2] =
            signedBy(s, s.sample.coordinatorId(), s.sample.keys.value(s.sample.coordinatorId()));
        break;
    case 6:
        d.quorum = 2;
        break;
    case 7:
        d.targetCount = 5;
        d.missing += 1; // keep the sum at the claimed n
        break;
    case 8:
        d.decidedState = quint16(ConfirmationState::AlreadyWrittenOff);
        break;
    case 9:
        d.decidedState = quint16(ConfirmationState::AlreadyWrittenOff);
        d.histogram = {{quint16(ConfirmationState::AlreadyWrittenOff), 3}};
        break;
    case 10:
        d.writeOff.amountMinor += 100;
        break;
    case 11:
        d.writeOff.ticketId = QStringLiteral("BA-2024-000043");
        break;
    case 12:
        d.writeOff.amountMinor += 100;
        d.writeOff.sign(s.sample.keys.value(QStringLiteral("branch-2")));
        break;
    case 13: { // target-3 really signed, but for another write-off
        const WriteOffResult another =
            s.sample.writeOff(QStringLiteral("branch-1"), QStringLiteral("BA-2024-000099"), 1, 500000000,
                              QStringLiteral("CNY"), kIssuedAt);
        d.confirmations[2] =
            s.sample.confirm(QStringLiteral("target-3"), another, ConfirmationState::WrittenOff);
        break;
    }
    case 14:
        d.confirmations[1].signature[17] = char(d.confirmations.at(1).signature.at(17) ^ 0x20);
        break;
    case 15:
        d.confirmations[0].signature.chop(1);
        break;
    case 16: // one signature dropped, the histogram and missing count adjusted to match
        d.confirmations.removeLast();
        d.histogram = {{quint16(ConfirmationState::WrittenOff), 2}};
        d.missing += 1;
        break;
    case 17:
        d.histogram = {{quint16(ConfirmationState::WrittenOff), 4}};
        d.missing = 0;
        break;
    case 18:
        d.missing = 0;
        break;
    case 19:
        d.confirmations[2] = s.confirm(3, ConfirmationState::AmountMismatch);
        break;
    case 20:
        d.confirmations[0].reason = QStringLiteral("edited after signing");
        break;
    case 21:
        d.confirmations[2].stateCode = 99;
        d.confirmations[2].sign(s.sample.keys.value(QStringLiteral("target-3")));
        d.outcome = Outcome::Undetermined;
        d.decidedState = 0;
        break;
    case 22:
        d.missing += 1;
        break;
    case 23: // target-3's signature presented as target-4's
        d.confirmations[2].targetId = QStringLiteral("target-4");
        break;
    default:
        QFAIL("unknown forgery");
    }

    const QString error = d.verifyCertificate(membership);
    QVERIFY2(!error.isEmpty(), "a forged certificate verified");
    for (const QString &keyword : keywords)
        QVERIFY2(error.contains(keyword), qPrintable(error));

    // Encoding does not launder a forgery: the decoded copy is refused the same way, or is
    // not even decodable.
    QString decodeError;
    if (const auto decoded = Decision::decode(d.encode(), &decodeError))
        QCOMPARE(decoded->verifyCertificate(membership), error);
    else
        QVERIFY(!decodeError.isEmpty());
}

void TestCertificate::forgedUndetermined_data()
{
    QTest::addColumn<int>("forgery");
    QTest::addColumn<QString>("keyword");
    QTest::newRow("decided relabelled undetermined")
        << 0 << QStringLiteral("although WRITTEN_OFF reached the quorum");
    QTest::newRow("confirmation hidden")
        << 1 << QStringLiteral("histogram claims 1 for AMOUNT_MISMATCH but 0");
    QTest::newRow("histogram understates") << 2 << QStringLiteral("histogram claims 1 for WRITTEN_OFF but 2");
    QTest::newRow("extra confirmation") << 3 << QStringLiteral("not included");
    QTest::newRow("duplicate signer") << 4 << QStringLiteral("signs twice");
}

void TestCertificate::forgedUndetermined()
{
    QFETCH(int, forgery);
    QFETCH(QString, keyword);
    const Setup s;
    // target-1, target-2 WRITTEN_OFF, target-3 AMOUNT_MISMATCH, target-4 silent: UNDETERMINED at the
    // deadline.
    Decision d = s.tally(
        {ConfirmationState::WrittenOff, ConfirmationState::WrittenOff, ConfirmationState::AmountMismatch},
        true);
    QCOMPARE(d.outcome, Outcome::Undetermined);
    QCOMPARE(d.verifyCertificate(s.sample.membership), QString());

    switch (forgery) {
    case 0: { // a real quorum hidden behind an UNDETERMINED label
        d = s.decided();
        d.outcome = Outcome::Undetermined;
        d.decidedState = 0;
        break;
    }
    case 1: // target-3's dissent left out while the histogram still counts it
        d.confirmations.removeLast();
        break;
    case 2:
        d.histogram = {{quint16(ConfirmationState::WrittenOff), 1},
                       {quint16(ConfirmationState::AmountMismatch), 1}};
        d.missing = 2;
        break;
    case 3: // target-4's answer slipped in without being counted
        d.confirmations.append(s.confirm(4, ConfirmationState::UnknownTicket));
        break;
    case 4:
        d.confirmations[1] = d.confirmations.at(0);
        break;
    default:
        QFAIL("unknown forgery");
    }
    const QString error = d.verifyCertificate(s.sample.membership);
    QVERIFY2(error.contains(keyword), qPrintable(error));
}

void TestCertificate::otherMembership()
{
    const Setup s;
    const Decision d = s.decided();
    QCOMPARE(d.verifyCertificate(s.sample.membership), QString());

    // Same label, so the same keys, but another quorum policy: the membership hash differs.
    SampleConsortium::Options options;
    options.policy = QuorumPolicy::ratio(3, 4);
    const SampleConsortium stricter = SampleConsortium::generate(options);
    QCOMPARE(stricter.membership.validate(), QString());
    QCOMPARE(stricter.keys.value(QStringLiteral("target-1")).publicKey,
             s.sample.keys.value(QStringLiteral("target-1")).publicKey);
    QVERIFY(stricter.membership.hash() != s.sample.membership.hash());
    QString error = d.verifyCertificate(stricter.membership);
    QVERIFY2(error.contains(QLatin1String("another consortium configuration")), qPrintable(error));

    // A count policy with the same threshold still hashes differently.
    options.policy = QuorumPolicy::absolute(3);
    const SampleConsortium counted = SampleConsortium::generate(options);
    QCOMPARE(counted.membership.quorum(), s.sample.membership.quorum());
    error = d.verifyCertificate(counted.membership);
    QVERIFY2(error.contains(QLatin1String("another consortium configuration")), qPrintable(error));

    // And a certificate made under the count policy verifies there, not under the ratio one.
    const Setup countSetup(options);
    const Decision countDecision = countSetup.decided();
    QCOMPARE(countDecision.verifyCertificate(counted.membership), QString());
    QVERIFY(!countDecision.verifyCertificate(s.sample.membership).isEmpty());

    // An extra target changes n and the hash: refused as well.
    const SampleConsortium bigger = SampleConsortium::generate(optionsWith(5));
    QVERIFY(!d.verifyCertificate(bigger.membership).isEmpty());
}

// docs/protocol.md: confirmations in ascending target id, one encoding per certificate. The
// same signatures in another order are not the same certificate, and are refused where it is
// decoded, naming the byte offset.
void TestCertificate::reorderedConfirmationsAreRefused()
{
    const Setup s;
    const Decision genuine = s.decided();
    QCOMPARE(roundTripped(genuine, s.sample.membership), QString());

    Decision reversed = genuine;
    std::reverse(reversed.confirmations.begin(), reversed.confirmations.end());
    const QByteArray bytes = reversed.encode();
    QString error;
    QVERIFY(!Decision::decode(bytes, &error));
    // The second one (target-2 after target-3) is the first out of place.
    const qsizetype at = bytes.indexOf(reversed.confirmations.at(1).encode());
    QVERIFY(at > 0);
    QVERIFY2(error.contains(QStringLiteral("confirmation 1 at offset %1").arg(at)), qPrintable(error));
    QVERIFY2(error.contains(QLatin1String("'target-2' does not come after 'target-3'")), qPrintable(error));
    QVERIFY2(error.contains(QLatin1String("strictly ascending target id")), qPrintable(error));
    // Nor does the decoded form's check let it through in memory.
    error = reversed.verifyCertificate(s.sample.membership);
    QVERIFY2(error.contains(QLatin1String("confirmation 1 (target-2)")) &&
                 error.contains(QLatin1String("ascending target id")),
             qPrintable(error));

    // The last two swapped, in an UNDETERMINED one.
    Decision undetermined = s.tally({ConfirmationState::WrittenOff, ConfirmationState::AmountMismatch,
                                     ConfirmationState::WrittenOff, ConfirmationState::UnknownTicket});
    QCOMPARE(undetermined.outcome, Outcome::Undetermined);
    QCOMPARE(roundTripped(undetermined, s.sample.membership), QString());
    undetermined.confirmations.swapItemsAt(2, 3);
    QVERIFY(!Decision::decode(undetermined.encode(), &error));
    QVERIFY2(error.contains(QLatin1String("confirmation 3 at offset")) &&
                 error.contains(QLatin1String("'target-3' does not come after 'target-4'")),
             qPrintable(error));
}

// Every certificate in the code base comes from Tally::decision(): whatever order the votes
// arrive in, and with ids that sort differently as text ("target-10" before "target-2"), it
// lists them so that they decode.
void TestCertificate::tallyOrdersBySignerId()
{
    const Setup s(optionsWith(12));
    Tally tally(s.sample.membership, s.writeOff);
    for (int target = 12; target >= 1 && !tally.isFinal(); --target)
        tally.add(s.confirm(target, ConfirmationState::WrittenOff));
    const Decision d = tally.decision(kIssuedAt + 1500);
    QCOMPARE(d.outcome, Outcome::Decided);
    QCOMPARE(d.confirmations.size(), 9);
    QCOMPARE(d.confirmations.first().targetId, QStringLiteral("target-10"));
    QCOMPARE(d.confirmations.last().targetId, QStringLiteral("target-9"));
    QCOMPARE(roundTripped(d, s.sample.membership), QString());
}

QTEST_GUILESS_MAIN(TestCertificate)
#include "tst_certificate.moc"
