// The tally as the method defines it, for n = 1..10 targets: quorum values, deciding at
// exactly the q-th matching vote, early and late UNDETERMINED, ties, missing votes,
// equivocation, discarded messages and the quorum policy's safety rule.
#include "Decision.h"
#include "Membership.h"
#include "SampleConsortium.h"
#include "Sha256.h"
#include "Tally.h"

#include <QTest>

#include <algorithm>
#include <optional>

using namespace ticketsync;

namespace {

// q for the default 2/3 policy, written out by hand (floor(2n/3) + 1) rather than computed.
constexpr int kDefaultQuorum[11] = {0, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7};

constexpr qint64 kIssuedAt = 1700000000000;

QString targetId(int i)
{
    return QStringLiteral("target-%1").arg(i);
}

// Scripts name states by letter: A = WRITTEN_OFF (1), B = ALREADY_WRITTEN_OFF (2), ...
ConfirmationState stateOf(QChar letter)
{
    return ConfirmationState(letter.unicode() - u'A' + 1);
}

QuorumPolicy parsePolicy(const QString &text)
{
    if (text.startsWith(QLatin1String("count:")))
        return QuorumPolicy::absolute(text.mid(6).toUInt());
    const QStringList parts = text.split(QLatin1Char('/'));
    Q_ASSERT(parts.size() == 2);
    return QuorumPolicy::ratio(parts.at(0).toUInt(), parts.at(1).toUInt());
}

SampleConsortium consortium(int n, const QuorumPolicy &policy = {},
                            const QString &label = QStringLiteral("ticketsync-sample"))
{
    SampleConsortium::Options options;
    options.label = label;
    options.targets = n;
    options.policy = policy;
    return SampleConsortium::generate(options);
}

WriteOffResult writeOffFor(const SampleConsortium &sample, const QString &ticket = QStringLiteral("T-000001"))
{
    return sample.writeOff(QStringLiteral("branch-1"), ticket, 1, 125000, QStringLiteral("CNY"), kIssuedAt);
}

struct Vote
{
    int target = 0;
    ConfirmationState state = ConfirmationState::WrittenOff;
    bool otherReason = false; // same state, different reason text: a distinct signed message
};

// "3A" = target-3 confirms A; "3A*" = the same state with another reason text.
QList<Vote> parseVotes(const QString &script)
{
    QList<Vote> votes;
    for (const QString &token : script.split(QLatin1Char(' '), Qt::SkipEmptyParts)) {
        qsizetype i = 0;
        while (i < token.size() && token.at(i).isDigit())
            ++i;
        Q_ASSERT(i > 0 && i < token.size());
        Vote vote;
        vote.target = token.left(i).toInt();
        vote.state = stateOf(token.at(i));
        vote.otherReason = token.endsWith(QLatin1Char('*'));
        votes.append(vote);
    }
    return votes;
}

// "A3 B1" -> [{1, 3}, {2, 1}]
QList<StateCount> parseHistogram(const QString &text)
{
    QList<StateCount> histogram;
    for (const QString &token : text.split(QLatin1Char(' '), Qt::SkipEmptyParts))
        histogram.append({quint16(stateOf(token.at(0))), token.mid(1).toUInt()});
    std::sort(histogram.begin(), histogram.end(),
              [](const StateCount &a, const StateCount &b) { return a.stateCode < b.stateCode; });
    return histogram;
}

QChar verdictChar(Tally::Verdict verdict)
{
    switch (verdict) {
    case Tally::Verdict::Counted:
        return QLatin1Char('c');
    case Tally::Verdict::Duplicate:
        return QLatin1Char('d');
    case Tally::Verdict::Equivocation:
        return QLatin1Char('e');
    case Tally::Verdict::AfterOutcome:
        return QLatin1Char('a');
    default:
        return QLatin1Char('x'); // a valid message must never be rejected
    }
}

QChar statusChar(Tally::Status status)
{
    switch (status) {
    case Tally::Status::Pending:
        return QLatin1Char('P');
    case Tally::Status::Decided:
        return QLatin1Char('D');
    case Tally::Status::Undetermined:
        return QLatin1Char('U');
    }
    return QLatin1Char('?');
}

QString confirmationTargets(const QList<StateConfirmation> &confirmations)
{
    QStringList ids;
    for (const StateConfirmation &confirmation : confirmations)
        ids.append(confirmation.targetId);
    return ids.join(QLatin1Char(' '));
}

// One row of the script table, built up vote by vote.
struct Row
{
    QString policy = QStringLiteral("2/3");
    int n = 0;
    int q = 0;
    QStringList votes;
    QString verdicts; // per vote: c counted, d duplicate, e equivocation, a after outcome
    QString statuses; // per vote, after it: P pending, D decided, U undetermined
    bool expire = false;
    QString outcome; // D or U
    QString decided; // state letter when D
    QString histogram;
    int missing = 0;
    int equivocating = 0;
    int evidence = 0;
    QList<int> certified; // targets whose confirmations the decision carries

    Row(int targets, int quorum) : n(targets), q(quorum) {}

    void vote(int target, char state, char verdict, char status)
    {
        votes.append(QStringLiteral("%1%2").arg(target).arg(QLatin1Char(state)));
        verdicts += QLatin1Char(verdict);
        statuses += QLatin1Char(status);
    }
    void certify(int from, int to)
    {
        for (int t = from; t <= to; ++t)
            certified.append(t);
    }
};

void addRow(const QString &tag, const Row &row)
{
    QStringList certified;
    for (const int t : row.certified)
        certified.append(targetId(t));
    QTest::newRow(tag.toUtf8().constData())
        << row.policy << row.n << row.q << row.votes.join(QLatin1Char(' ')) << row.verdicts << row.statuses
        << row.expire << row.outcome << row.decided << row.histogram << row.missing << row.equivocating
        << row.evidence << certified;
}

// A row written by hand: every expectation spelled out.
void addHandRow(const char *tag, const QString &policy, int n, int q, const QString &votes,
                const QString &verdicts, const QString &statuses, bool expire, const QString &outcome,
                const QString &decided, const QString &histogram, int missing, int equivocating, int evidence,
                const QList<int> &certified)
{
    Row row(n, q);
    row.policy = policy;
    row.votes = votes.split(QLatin1Char(' '), Qt::SkipEmptyParts);
    row.verdicts = verdicts;
    row.statuses = statuses;
    row.expire = expire;
    row.outcome = outcome;
    row.decided = decided;
    row.histogram = histogram;
    row.missing = missing;
    row.equivocating = equivocating;
    row.evidence = evidence;
    row.certified = certified;
    addRow(QLatin1String(tag), row);
}

QString histogramText(const QList<QPair<char, int>> &entries)
{
    QStringList parts;
    for (const auto &[state, count] : entries) {
        if (count > 0)
            parts.append(QStringLiteral("%1%2").arg(QLatin1Char(state)).arg(count));
    }
    return parts.join(QLatin1Char(' '));
}

} // namespace

class TallyTest : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void defaultQuorum_data();
    void defaultQuorum();
    void script_data();
    void script();
    void discarded_data();
    void discarded();
    void policy_data();
    void policy();
    void safetyRuleExhaustive();
    void verdictNames();
};

void TallyTest::defaultQuorum_data()
{
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("q");
    for (int n = 1; n <= 10; ++n)
        QTest::addRow("n=%d", n) << n << kDefaultQuorum[n];
}

void TallyTest::defaultQuorum()
{
    QFETCH(int, n);
    QFETCH(int, q);
    const SampleConsortium sample = consortium(n);
    QCOMPARE(sample.membership.validate(), QString());
    QCOMPARE(sample.membership.targetCount(), n);
    QCOMPARE(sample.targetIds().size(), qsizetype(n));
    QCOMPARE(sample.membership.quorum(), q);
    QCOMPARE(QuorumPolicy().threshold(n), q);
    QCOMPARE(QuorumPolicy::ratio(2, 3).threshold(n), q);
    QCOMPARE(QuorumPolicy().checkSafe(n), QString());

    const Tally tally(sample.membership, writeOffFor(sample));
    QCOMPARE(tally.targetCount(), n);
    QCOMPARE(tally.quorum(), q);
    QCOMPARE(tally.status(), Tally::Status::Pending);
    QCOMPARE(tally.missing(), n);
    QCOMPARE(tally.missingTargets().size(), qsizetype(n));
    QCOMPARE(tally.answered(), 0);
    QCOMPARE(tally.topCount(), 0);
}

void TallyTest::script_data()
{
    QTest::addColumn<QString>("policy");
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("q");
    QTest::addColumn<QString>("votes");
    QTest::addColumn<QString>("verdicts");
    QTest::addColumn<QString>("statuses");
    QTest::addColumn<bool>("expire");
    QTest::addColumn<QString>("outcome");
    QTest::addColumn<QString>("decided");
    QTest::addColumn<QString>("histogram");
    QTest::addColumn<int>("missing");
    QTest::addColumn<int>("equivocating");
    QTest::addColumn<int>("evidence");
    QTest::addColumn<QStringList>("certified");

    const QString D = QStringLiteral("D");
    const QString U = QStringLiteral("U");
    const QString A = QStringLiteral("A");

    for (int n = 1; n <= 10; ++n) {
        const int q = kDefaultQuorum[n];

        // Exactly q for one state: decided at the q-th vote, not one earlier; the rest arrive late.
        {
            Row row(n, q);
            for (int t = 1; t <= q; ++t)
                row.vote(t, 'A', 'c', t == q ? 'D' : 'P');
            for (int t = q + 1; t <= n; ++t)
                row.vote(t, 'B', 'a', 'D');
            row.outcome = D;
            row.decided = A;
            row.histogram = histogramText({{'A', q}});
            row.missing = n - q;
            row.certify(1, q);
            addRow(QStringLiteral("n=%1 exactly q for A, rest late").arg(n), row);
        }

        // q-1 for A stays pending while A can still get there; the last dissenting vote ends it.
        if (n >= 2) {
            Row row(n, q);
            for (int t = 1; t <= q - 1; ++t)
                row.vote(t, 'A', 'c', 'P');
            for (int t = q; t <= n; ++t)
                row.vote(t, 'B', 'c', t == n ? 'U' : 'P');
            row.outcome = U;
            row.histogram = histogramText({{'A', q - 1}, {'B', n - q + 1}});
            row.certify(1, n);
            addRow(QStringLiteral("n=%1 q-1 for A, rest vote B").arg(n), row);
        }

        // Only m targets answer (at most q-1, all A): pending until the deadline, then
        // UNDETERMINED with n-m missing.
        for (int m = 0; m <= q - 1; ++m) {
            Row row(n, q);
            for (int t = 1; t <= m; ++t)
                row.vote(t, 'A', 'c', 'P');
            row.expire = true;
            row.outcome = U;
            row.histogram = histogramText({{'A', m}});
            row.missing = n - m;
            row.certify(1, m);
            addRow(QStringLiteral("n=%1 only %2 answer, expire").arg(n).arg(m), row);
        }

        // Early decision despite a dissenting vote, before the remaining targets answer.
        if (n - q >= 1) {
            Row row(n, q);
            row.vote(n, 'B', 'c', 'P');
            for (int t = 1; t <= q; ++t)
                row.vote(t, 'A', 'c', t == q ? 'D' : 'P');
            for (int t = q + 1; t <= n - 1; ++t)
                row.vote(t, 'C', 'a', 'D');
            row.outcome = D;
            row.decided = A;
            row.histogram = histogramText({{'A', q}, {'B', 1}});
            row.missing = n - q - 1;
            row.certify(1, q);
            addRow(QStringLiteral("n=%1 early decision with one dissent").arg(n), row);
        }

        // A and B alternate: UNDETERMINED at vote u = 2(n-q+1), the first moment top + missing < q,
        // always at a tie, and before everyone answered for n = 3 and n >= 5.
        if (n >= 2) {
            const int u = 2 * (n - q + 1);
            Row row(n, q);
            for (int t = 1; t <= n; ++t)
                row.vote(t, t % 2 == 1 ? 'A' : 'B', t <= u ? 'c' : 'a', t < u ? 'P' : 'U');
            row.outcome = U;
            row.histogram = histogramText({{'A', u / 2}, {'B', u / 2}});
            row.missing = n - u;
            row.certify(1, u);
            addRow(QStringLiteral("n=%1 alternating A/B, undetermined at vote %2").arg(n).arg(u), row);
        }

        // Half A, then half B: never decided; UNDETERMINED once B's votes make q unreachable.
        if (n % 2 == 0) {
            const int half = n / 2;
            const int u = half + (n - q + 1);
            Row row(n, q);
            for (int t = 1; t <= half; ++t)
                row.vote(t, 'A', 'c', 'P');
            for (int t = half + 1; t <= n; ++t)
                row.vote(t, 'B', t <= u ? 'c' : 'a', t < u ? 'P' : 'U');
            row.outcome = U;
            row.histogram = histogramText({{'A', half}, {'B', u - half}});
            row.missing = n - u;
            row.certify(1, u);
            addRow(QStringLiteral("n=%1 tie %2 vs %2 in blocks").arg(n).arg(half), row);
        }

        // target-1 signs A then B and is left out; everyone else votes A.
        {
            Row row(n, q);
            row.evidence = 1;
            if (n == 1) {
                // Already decided by the first vote: the evidence is kept, the outcome stands.
                row.vote(1, 'A', 'c', 'D');
                row.vote(1, 'B', 'e', 'D');
                row.outcome = D;
                row.decided = A;
                row.histogram = histogramText({{'A', 1}});
                row.certify(1, 1);
            } else {
                const bool reachable = n - 1 >= q;
                row.vote(1, 'A', 'c', 'P');
                row.vote(1, 'B', 'e', reachable ? 'P' : 'U');
                for (int t = 2; t <= n; ++t) {
                    const int k = t - 1; // A votes counted so far, with this one
                    if (!reachable)
                        row.vote(t, 'A', 'a', 'U');
                    else
                        row.vote(t, 'A', k <= q ? 'c' : 'a', k < q ? 'P' : 'D');
                }
                row.equivocating = 1;
                if (reachable) {
                    row.outcome = D;
                    row.decided = A;
                    row.histogram = histogramText({{'A', q}});
                    row.missing = n - 1 - q;
                    row.certify(2, q + 1);
                } else {
                    row.outcome = U;
                    row.missing = n - 1;
                }
            }
            addRow(QStringLiteral("n=%1 target-1 equivocates A then B").arg(n), row);
        }

        // Every vote sent twice: the copy is a duplicate, so the decision still needs q targets.
        {
            Row row(n, q);
            for (int t = 1; t <= q; ++t) {
                row.vote(t, 'A', 'c', t == q ? 'D' : 'P');
                row.vote(t, 'A', 'd', t == q ? 'D' : 'P');
            }
            row.outcome = D;
            row.decided = A;
            row.histogram = histogramText({{'A', q}});
            row.missing = n - q;
            row.certify(1, q);
            addRow(QStringLiteral("n=%1 every vote duplicated").arg(n), row);
        }
    }

    const QString r23 = QStringLiteral("2/3");
    // Hand-written rows: every expectation worked out on paper.
    addHandRow("n=4 tie 2:2 interleaved", r23, 4, 3, QStringLiteral("1A 2B 3A 4B"), QStringLiteral("cccc"),
               QStringLiteral("PPPU"), false, U, {}, QStringLiteral("A2 B2"), 0, 0, 0, {1, 2, 3, 4});
    addHandRow("n=4 tie 2:2, a later deadline changes nothing", r23, 4, 3, QStringLiteral("1B 2B 3A 4A"),
               QStringLiteral("cccc"), QStringLiteral("PPPU"), true, U, {}, QStringLiteral("A2 B2"), 0, 0, 0,
               {1, 2, 3, 4});
    addHandRow("n=2 tie 1:1", r23, 2, 2, QStringLiteral("1A 2B"), QStringLiteral("cc"), QStringLiteral("PU"),
               false, U, {}, QStringLiteral("A1 B1"), 0, 0, 0, {1, 2});
    addHandRow("n=3 three-way split, undetermined after two", r23, 3, 3, QStringLiteral("1A 2B 3C"),
               QStringLiteral("cca"), QStringLiteral("PUU"), false, U, {}, QStringLiteral("A1 B1"), 1, 0, 0,
               {1, 2});
    addHandRow("n=9 three-way, undetermined at vote 5", r23, 9, 7,
               QStringLiteral("1A 2B 3C 4A 5B 6C 7A 8B 9C"), QStringLiteral("cccccaaaa"),
               QStringLiteral("PPPPUUUUU"), false, U, {}, QStringLiteral("A2 B2 C1"), 4, 0, 0,
               {1, 2, 3, 4, 5});
    // target-10 sorts before target-4: the certificate is ordered by id as a string.
    addHandRow("n=10 decided by the last vote, 7:3", r23, 10, 7,
               QStringLiteral("1B 2B 3B 4A 5A 6A 7A 8A 9A 10A"), QStringLiteral("cccccccccc"),
               QStringLiteral("PPPPPPPPPD"), false, D, A, QStringLiteral("A7 B3"), 0, 0, 0,
               {4, 5, 6, 7, 8, 9, 10});
    addHandRow("n=10 certificate order", r23, 10, 7, QStringLiteral("10A 9A 1A 2A 3A 8A 4A 5B"),
               QStringLiteral("ccccccca"), QStringLiteral("PPPPPPDD"), false, D, A, QStringLiteral("A7"), 3,
               0, 0, {1, 2, 3, 4, 8, 9, 10});
    // Before 1B, A could still reach 3 (2 votes + target-4); afterwards 1 + 1 < 3.
    addHandRow("n=4 equivocation makes quorum unreachable", r23, 4, 3, QStringLiteral("1A 2A 3B 1B 4A"),
               QStringLiteral("cccea"), QStringLiteral("PPPUU"), false, U, {}, QStringLiteral("A1 B1"), 1, 1,
               1, {2, 3});
    addHandRow("n=3 equivocation makes quorum unreachable", r23, 3, 3, QStringLiteral("1A 2A 1B 3A"),
               QStringLiteral("ccea"), QStringLiteral("PPUU"), false, U, {}, QStringLiteral("A1"), 1, 1, 1,
               {2});
    addHandRow("n=7 equivocation, quorum still reached", r23, 7, 5, QStringLiteral("1A 2A 3A 1B 4A 5A 6A 7A"),
               QStringLiteral("ccceccca"), QStringLiteral("PPPPPPDD"), false, D, A, QStringLiteral("A5"), 1,
               1, 1, {2, 3, 4, 5, 6});
    // Each further distinct message is kept once; repeats of known ones add nothing.
    addHandRow("n=5 equivocator keeps sending", r23, 5, 4, QStringLiteral("1A 1B 1C 1B 1A 2A 3A 4A 5A"),
               QStringLiteral("ceeeecccc"), QStringLiteral("PPPPPPPPD"), false, D, A, QStringLiteral("A4"), 0,
               1, 2, {2, 3, 4, 5});
    addHandRow("n=4 equivocation after the decision", r23, 4, 3, QStringLiteral("1A 2A 3A 1B 4B"),
               QStringLiteral("cccea"), QStringLiteral("PPDDD"), false, D, A, QStringLiteral("A3"), 1, 0, 1,
               {1, 2, 3});
    addHandRow("n=4 equivocation by a dissenter still decides", r23, 4, 3, QStringLiteral("4B 4C 1A 2A 3A"),
               QStringLiteral("ceccc"), QStringLiteral("PPPPD"), false, D, A, QStringLiteral("A3"), 0, 1, 1,
               {1, 2, 3});
    addHandRow("n=4 same state with another reason is a duplicate", r23, 4, 3, QStringLiteral("1A 1A* 2A 3A"),
               QStringLiteral("cdcc"), QStringLiteral("PPPD"), false, D, A, QStringLiteral("A3"), 1, 0, 0,
               {1, 2, 3});
    addHandRow("n=6 decided for B, not A", r23, 6, 5, QStringLiteral("1B 2B 3A 4B 5B 6B"),
               QStringLiteral("cccccc"), QStringLiteral("PPPPPD"), false, D, QStringLiteral("B"),
               QStringLiteral("A1 B5"), 0, 0, 0, {1, 2, 4, 5, 6});

    // Other policies: the same votes decide or not depending on q.
    const QString r34 = QStringLiteral("3/4");
    addHandRow("3/4 n=8 needs 7", r34, 8, 7, QStringLiteral("1A 2A 3A 4A 5A 6A 7B 8A"),
               QStringLiteral("cccccccc"), QStringLiteral("PPPPPPPD"), false, D, A, QStringLiteral("A7 B1"),
               0, 0, 0, {1, 2, 3, 4, 5, 6, 8});
    addHandRow("3/4 n=4 is unanimity", r34, 4, 4, QStringLiteral("1A 2A 3A 4B"), QStringLiteral("cccc"),
               QStringLiteral("PPPU"), false, U, {}, QStringLiteral("A3 B1"), 0, 0, 0, {1, 2, 3, 4});
    // Under 2/3 the seventh A would have decided already.
    addHandRow("3/4 n=10 seven is not enough", r34, 10, 8, QStringLiteral("1A 2A 3A 4A 5A 6A 7A 8B"),
               QStringLiteral("cccccccc"), QStringLiteral("PPPPPPPP"), true, U, {}, QStringLiteral("A7 B1"),
               2, 0, 0, {1, 2, 3, 4, 5, 6, 7, 8});
    addHandRow("3/4 n=10 decided at the eighth", r34, 10, 8, QStringLiteral("1A 2A 3A 4A 5A 6A 7A 8B 9A 10A"),
               QStringLiteral("ccccccccca"), QStringLiteral("PPPPPPPPDD"), false, D, A,
               QStringLiteral("A8 B1"), 1, 0, 0, {1, 2, 3, 4, 5, 6, 7, 9});
    addHandRow("count:3 n=5", QStringLiteral("count:3"), 5, 3, QStringLiteral("1A 2B 3A 4A 5B"),
               QStringLiteral("cccca"), QStringLiteral("PPPDD"), false, D, A, QStringLiteral("A3 B1"), 1, 0,
               0, {1, 3, 4});
    addHandRow("count:4 n=5 expires", QStringLiteral("count:4"), 5, 4, QStringLiteral("1A 2B 3A"),
               QStringLiteral("ccc"), QStringLiteral("PPP"), true, U, {}, QStringLiteral("A2 B1"), 2, 0, 0,
               {1, 2, 3});
    addHandRow("count:5 n=5 one dissent ends it", QStringLiteral("count:5"), 5, 5,
               QStringLiteral("1A 2A 3B 4A 5A"), QStringLiteral("cccaa"), QStringLiteral("PPUUU"), false, U,
               {}, QStringLiteral("A2 B1"), 2, 0, 0, {1, 2, 3});
    addHandRow("1/2 n=4 needs 3", QStringLiteral("1/2"), 4, 3, QStringLiteral("1A 2A 3B 4A"),
               QStringLiteral("cccc"), QStringLiteral("PPPD"), false, D, A, QStringLiteral("A3 B1"), 0, 0, 0,
               {1, 2, 4});
}

void TallyTest::script()
{
    QFETCH(QString, policy);
    QFETCH(int, n);
    QFETCH(int, q);
    QFETCH(QString, votes);
    QFETCH(QString, verdicts);
    QFETCH(QString, statuses);
    QFETCH(bool, expire);
    QFETCH(QString, outcome);
    QFETCH(QString, decided);
    QFETCH(QString, histogram);
    QFETCH(int, missing);
    QFETCH(int, equivocating);
    QFETCH(int, evidence);
    QFETCH(QStringList, certified);

    const SampleConsortium sample = consortium(n, parsePolicy(policy));
    QCOMPARE(sample.membership.validate(), QString());
    const WriteOffResult writeOff = writeOffFor(sample);
    Tally tally(sample.membership, writeOff);
    QCOMPARE(tally.targetCount(), n);
    QCOMPARE(tally.quorum(), q);
    QCOMPARE(tally.status(), Tally::Status::Pending);

    const QList<Vote> script = parseVotes(votes);
    QCOMPARE(script.size(), verdicts.size());
    QCOMPARE(script.size(), statuses.size());

    QHash<QString, StateConfirmation> counted; // each target's first counted message
    std::optional<Decision> atFinal;
    QString actualVerdicts;
    QString actualStatuses;
    for (const Vote &vote : script) {
        const QString id = targetId(vote.target);
        const StateConfirmation confirmation = sample.confirm(
            id, writeOff, vote.state, vote.otherReason ? QStringLiteral("sent again") : QString());
        const qsizetype evidenceBefore = tally.equivocations().size();
        const qsizetype rejectedBefore = tally.rejections().size();
        QString reason;
        const Tally::Verdict verdict = tally.add(confirmation, &reason);
        actualVerdicts += verdictChar(verdict);
        actualStatuses += statusChar(tally.status());

        if (verdict == Tally::Verdict::Counted) {
            QVERIFY(!counted.contains(id));
            counted.insert(id, confirmation);
        } else {
            QVERIFY2(!reason.isEmpty(), "an uncounted message must say why");
        }
        // Valid messages are never filed as rejections.
        QCOMPARE(tally.rejections().size(), rejectedBefore);
        if (tally.equivocations().size() != evidenceBefore) {
            QCOMPARE(verdict, Tally::Verdict::Equivocation);
            QCOMPARE(tally.equivocations().size(), evidenceBefore + 1);
            const EquivocationEvidence &item = tally.equivocations().last();
            QCOMPARE(item.targetId, id);
            QVERIFY(counted.contains(id));
            QCOMPARE(item.first, counted.value(id));
            QCOMPARE(item.second, confirmation);
            QVERIFY(item.first.stateCode != item.second.stateCode);
            // Evidence is only worth keeping if both messages really are the target's signatures.
            QCOMPARE(item.first.verify(sample.membership), QString());
            QCOMPARE(item.second.verify(sample.membership), QString());
        }

        const Decision now = tally.decision(0);
        QCOMPARE(tally.answered() + tally.missing() + int(now.equivocating), n);
        QCOMPARE(tally.missingTargets().size(), qsizetype(tally.missing()));
        if (!atFinal && tally.isFinal())
            atFinal = now;
        if (atFinal) {
            // Once final, nothing that arrives changes the decision.
            QCOMPARE(now.outcome, atFinal->outcome);
            QCOMPARE(now.histogram, atFinal->histogram);
            QCOMPARE(now.missing, atFinal->missing);
            QCOMPARE(now.equivocating, atFinal->equivocating);
            QCOMPARE(now.confirmations, atFinal->confirmations);
        }
    }
    QCOMPARE(actualVerdicts, verdicts);
    QCOMPARE(actualStatuses, statuses);

    if (expire) {
        const bool wasFinal = tally.isFinal();
        const Tally::Status before = tally.status();
        tally.expire();
        QCOMPARE(tally.status(), wasFinal ? before : Tally::Status::Undetermined);
        if (!atFinal)
            atFinal = tally.decision(0);
    } else {
        // A deadline after the outcome changes nothing.
        const Tally::Status before = tally.status();
        tally.expire();
        QCOMPARE(tally.status(), before);
    }
    QVERIFY(tally.isFinal());

    const qint64 decidedAt = kIssuedAt + 4321;
    const Decision decision = tally.decision(decidedAt);
    QCOMPARE(outcomeName(decision.outcome),
             outcome == QLatin1String("D") ? QStringLiteral("DECIDED") : QStringLiteral("UNDETERMINED"));
    QCOMPARE(tally.status(),
             outcome == QLatin1String("D") ? Tally::Status::Decided : Tally::Status::Undetermined);
    QCOMPARE(decision.decidedState, decided.isEmpty() ? quint16(0) : quint16(stateOf(decided.at(0))));
    QCOMPARE(decision.writeOff, writeOff);
    QCOMPARE(decision.targetCount, quint32(n));
    QCOMPARE(decision.quorum, quint32(q));
    QCOMPARE(decision.histogram, parseHistogram(histogram));
    QCOMPARE(decision.missing, quint32(missing));
    QCOMPARE(tally.missing(), missing);
    QCOMPARE(decision.equivocating, quint32(equivocating));
    QCOMPARE(decision.decidedAtMs, decidedAt);
    QCOMPARE(tally.equivocations().size(), qsizetype(evidence));
    for (const StateCount &entry : decision.histogram)
        QCOMPARE(tally.countOf(entry.stateCode), int(entry.count));
    int top = 0;
    for (const StateCount &entry : parseHistogram(histogram))
        top = std::max(top, int(entry.count));
    QCOMPARE(tally.topCount(), top);

    // The certificate: exactly the expected targets, ordered by id, each its first counted message.
    QStringList expectedOrder = certified;
    std::sort(expectedOrder.begin(), expectedOrder.end());
    QCOMPARE(confirmationTargets(decision.confirmations), expectedOrder.join(QLatin1Char(' ')));
    for (const StateConfirmation &confirmation : decision.confirmations) {
        QCOMPARE(confirmation, counted.value(confirmation.targetId));
        if (decision.outcome == Outcome::Decided)
            QCOMPARE(confirmation.stateCode, decision.decidedState);
    }

    QVERIFY(atFinal.has_value());
    QCOMPARE(decision.outcome, atFinal->outcome);
    QCOMPARE(decision.histogram, atFinal->histogram);
    QCOMPARE(decision.confirmations, atFinal->confirmations);

    // Anyone can check the result offline, and a doctored copy fails.
    QCOMPARE(decision.verifyCertificate(sample.membership), QString());
    if (decision.outcome == Outcome::Decided) {
        Decision forged = decision;
        forged.confirmations.removeLast();
        QVERIFY(!forged.verifyCertificate(sample.membership).isEmpty());
        forged = decision;
        forged.missing += 1;
        QVERIFY(!forged.verifyCertificate(sample.membership).isEmpty());
    } else if (!decision.histogram.isEmpty()) {
        Decision forged = decision;
        forged.histogram.first().count += 1;
        forged.missing -= 1;
        QVERIFY(!forged.verifyCertificate(sample.membership).isEmpty());
    }
}

void TallyTest::discarded_data()
{
    QTest::addColumn<int>("n");
    for (int n = 1; n <= 10; ++n)
        QTest::addRow("n=%d", n) << n;
}

void TallyTest::discarded()
{
    QFETCH(int, n);
    const SampleConsortium sample = consortium(n);
    // Same shape and node ids, different label: different keys and membership hash.
    const SampleConsortium other = consortium(n, {}, QStringLiteral("ticketsync-other"));
    QVERIFY(other.membership.hash() != sample.membership.hash());
    const WriteOffResult writeOff = writeOffFor(sample);
    const WriteOffResult anotherWriteOff = writeOffFor(sample, QStringLiteral("T-000002"));
    const WriteOffResult otherWriteOff = writeOffFor(other);
    const SignatureScheme &scheme = SignatureScheme::standard();
    const QString target1 = targetId(1);

    auto forge = [&](const QString &id, ConfirmationState state, const KeyPair &key) {
        StateConfirmation c;
        c.membershipHash = sample.membership.hash();
        c.targetId = id;
        c.writeOffDigest = writeOff.digest();
        c.setState(state);
        c.sign(key);
        return c;
    };

    struct Case
    {
        const char *what;
        StateConfirmation message;
        Tally::Verdict verdict;
    };
    QList<Case> cases;
    cases.append({"another consortium's target, its own write-off",
                  other.confirm(target1, otherWriteOff, ConfirmationState::WrittenOff),
                  Tally::Verdict::WrongConsortium});
    cases.append({"another consortium's target, our write-off",
                  other.confirm(target1, writeOff, ConfirmationState::WrittenOff),
                  Tally::Verdict::WrongConsortium});
    cases.append({"our hash and id, other consortium's key",
                  forge(target1, ConfirmationState::WrittenOff, other.keys.value(target1)),
                  Tally::Verdict::BadSignature});
    cases.append({"id beyond the membership",
                  forge(targetId(n + 1), ConfirmationState::WrittenOff,
                        scheme.fromSecret(sha256(QByteArrayLiteral("outsider")))),
                  Tally::Verdict::NotMember});
    cases.append({"id not in membership",
                  forge(QStringLiteral("intruder-1"), ConfirmationState::WrittenOff,
                        scheme.fromSecret(sha256(QByteArrayLiteral("intruder")))),
                  Tally::Verdict::NotMember});
    cases.append({"branch signs a confirmation",
                  sample.confirm(QStringLiteral("branch-1"), writeOff, ConfirmationState::WrittenOff),
                  Tally::Verdict::NotTarget});
    cases.append({"coordinator signs a confirmation",
                  sample.confirm(QStringLiteral("coordinator-1"), writeOff, ConfirmationState::WrittenOff),
                  Tally::Verdict::NotTarget});
    cases.append({"another write-off",
                  sample.confirm(target1, anotherWriteOff, ConfirmationState::WrittenOff),
                  Tally::Verdict::WrongDigest});
    {
        StateConfirmation c = sample.confirm(target1, writeOff, ConfirmationState::WrittenOff);
        c.signature[5] = char(c.signature.at(5) ^ 0x01);
        cases.append({"one signature bit flipped", c, Tally::Verdict::BadSignature});
    }
    {
        StateConfirmation c = sample.confirm(target1, writeOff, ConfirmationState::WrittenOff);
        c.setState(ConfirmationState::AmountMismatch);
        cases.append({"state changed after signing", c, Tally::Verdict::BadSignature});
    }
    {
        StateConfirmation c = sample.confirm(target1, writeOff, ConfirmationState::WrittenOff);
        c.signature.clear();
        cases.append({"no signature", c, Tally::Verdict::BadSignature});
    }
    if (n >= 2) {
        StateConfirmation c = sample.confirm(targetId(n), writeOff, ConfirmationState::WrittenOff);
        c.targetId = target1; // target-n's signature presented as target-1's
        cases.append({"signature of another target", c, Tally::Verdict::BadSignature});
    }
    {
        StateConfirmation c = forge(target1, ConfirmationState::WrittenOff, sample.keys.value(target1));
        c.stateCode = 99;
        c.sign(sample.keys.value(target1));
        cases.append({"unknown state code", c, Tally::Verdict::UnknownState});
    }

    Tally tally(sample.membership, writeOff);
    for (const Case &item : std::as_const(cases)) {
        QString reason;
        const Tally::Verdict verdict = tally.add(item.message, &reason);
        QVERIFY2(verdict == item.verdict,
                 qPrintable(QStringLiteral("%1: got %2, expected %3")
                                .arg(QLatin1String(item.what), Tally::verdictName(verdict),
                                     Tally::verdictName(item.verdict))));
        QVERIFY2(!reason.isEmpty(), item.what);
        QCOMPARE(tally.rejections().last().verdict, item.verdict);
        QCOMPARE(tally.rejections().last().targetId, item.message.targetId);
        QCOMPARE(tally.rejections().last().reason, reason);
        // Nothing discarded is counted or marks anyone as having answered.
        QCOMPARE(tally.answered(), 0);
        QCOMPARE(tally.missing(), n);
        QCOMPARE(tally.topCount(), 0);
        QCOMPARE(tally.status(), Tally::Status::Pending);
    }
    QCOMPARE(tally.rejections().size(), cases.size());
    QVERIFY(tally.equivocations().isEmpty());

    // The coordinator verifies signatures on a worker thread and passes the result in: every
    // message must get the same verdict that way.
    Tally preVerified(sample.membership, writeOff);
    for (const Case &item : std::as_const(cases)) {
        const Tally::Verdict verdict =
            preVerified.add(item.message, nullptr, item.message.signatureVerifies(sample.membership));
        QVERIFY2(verdict == item.verdict, item.what);
    }
    QCOMPARE(preVerified.answered(), 0);

    // target-1's real vote still counts after all that.
    const StateConfirmation vote = sample.confirm(target1, writeOff, ConfirmationState::WrittenOff);
    QCOMPARE(tally.add(vote), Tally::Verdict::Counted);
    QVERIFY(vote.signatureVerifies(sample.membership));
    QCOMPARE(preVerified.add(vote, nullptr, true), Tally::Verdict::Counted);
    QCOMPARE(tally.countOf(quint16(ConfirmationState::WrittenOff)), 1);
    QCOMPARE(tally.status(), n == 1 ? Tally::Status::Decided : Tally::Status::Pending);

    // A forged conflicting vote must not get an honest target thrown out as an equivocator.
    StateConfirmation forgedConflict =
        forge(target1, ConfirmationState::AmountMismatch, other.keys.value(target1));
    QCOMPARE(tally.add(forgedConflict), Tally::Verdict::BadSignature);
    QVERIFY(tally.equivocations().isEmpty());
    QCOMPARE(tally.countOf(quint16(ConfirmationState::WrittenOff)), 1);

    // The identical vote again: a duplicate, counted once.
    QString reason;
    QCOMPARE(tally.add(vote, &reason), Tally::Verdict::Duplicate);
    QVERIFY(!reason.isEmpty());
    QCOMPARE(tally.countOf(quint16(ConfirmationState::WrittenOff)), 1);
    QCOMPARE(tally.answered(), 1);
    QCOMPARE(tally.missing(), n - 1);
    QVERIFY(!tally.missingTargets().contains(target1));

    // Discarded messages leave no trace in the decision.
    tally.expire();
    const Decision decision = tally.decision(kIssuedAt);
    QCOMPARE(decision.confirmations.size(), qsizetype(1));
    QCOMPARE(decision.confirmations.first(), vote);
    QCOMPARE(decision.histogram, (QList<StateCount>{{quint16(ConfirmationState::WrittenOff), 1}}));
    QCOMPARE(decision.missing, quint32(n - 1));
    QCOMPARE(decision.verifyCertificate(sample.membership), QString());
}

void TallyTest::policy_data()
{
    QTest::addColumn<QString>("policy");
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("q");
    QTest::addColumn<bool>("safe");

    // floor(3n/4) + 1, by hand.
    constexpr int kThreeQuarters[11] = {0, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8};
    for (int n = 1; n <= 10; ++n)
        QTest::addRow("3/4 n=%d", n) << QStringLiteral("3/4") << n << kThreeQuarters[n] << true;
    for (int n = 1; n <= 10; ++n)
        QTest::addRow("2/3 n=%d", n) << QStringLiteral("2/3") << n << kDefaultQuorum[n] << true;

    QTest::newRow("1/2 n=4") << QStringLiteral("1/2") << 4 << 3 << true;
    QTest::newRow("1/2 n=5") << QStringLiteral("1/2") << 5 << 3 << true;
    QTest::newRow("1/3 n=3") << QStringLiteral("1/3") << 3 << 2 << true;
    QTest::newRow("1/3 n=4 unsafe") << QStringLiteral("1/3") << 4 << 2 << false;
    QTest::newRow("1/3 n=6 unsafe") << QStringLiteral("1/3") << 6 << 3 << false;
    QTest::newRow("1/4 n=4 unsafe") << QStringLiteral("1/4") << 4 << 2 << false;
    QTest::newRow("1/4 n=8 unsafe") << QStringLiteral("1/4") << 8 << 3 << false;
    QTest::newRow("1/1 n=4 unreachable") << QStringLiteral("1/1") << 4 << 5 << false;
    QTest::newRow("0/3 n=4") << QStringLiteral("0/3") << 4 << 1 << false;

    QTest::newRow("count 1 n=1") << QStringLiteral("count:1") << 1 << 1 << true;
    QTest::newRow("count 1 n=2 unsafe") << QStringLiteral("count:1") << 2 << 1 << false;
    QTest::newRow("count 2 n=3") << QStringLiteral("count:2") << 3 << 2 << true;
    QTest::newRow("count 2 n=4 unsafe") << QStringLiteral("count:2") << 4 << 2 << false;
    QTest::newRow("count 3 n=4") << QStringLiteral("count:3") << 4 << 3 << true;
    QTest::newRow("count 3 n=5") << QStringLiteral("count:3") << 5 << 3 << true;
    QTest::newRow("count 3 n=6 unsafe") << QStringLiteral("count:3") << 6 << 3 << false;
    QTest::newRow("count 4 n=6") << QStringLiteral("count:4") << 6 << 4 << true;
    QTest::newRow("count 5 n=10 unsafe") << QStringLiteral("count:5") << 10 << 5 << false;
    QTest::newRow("count 6 n=10") << QStringLiteral("count:6") << 10 << 6 << true;
    QTest::newRow("count 5 n=4 unreachable") << QStringLiteral("count:5") << 4 << 5 << false;
    QTest::newRow("count 0 n=4") << QStringLiteral("count:0") << 4 << 0 << false;
}

void TallyTest::policy()
{
    QFETCH(QString, policy);
    QFETCH(int, n);
    QFETCH(int, q);
    QFETCH(bool, safe);

    const QuorumPolicy quorumPolicy = parsePolicy(policy);
    QCOMPARE(quorumPolicy.threshold(n), q);
    const QString problem = quorumPolicy.checkSafe(n);
    QVERIFY2(problem.isEmpty() == safe, qPrintable(problem));

    const SampleConsortium sample = consortium(n, quorumPolicy);
    QCOMPARE(sample.membership.quorum(), q);
    const QString invalid = sample.membership.validate();
    QVERIFY2(invalid.isEmpty() == safe, qPrintable(invalid));
    if (!safe)
        QVERIFY2(invalid.contains(QLatin1String("quorum")), qPrintable(invalid));

    // The membership file is refused the same way.
    QString error;
    const std::optional<Membership> loaded = Membership::fromJson(sample.membership.toJson(), &error);
    QCOMPARE(loaded.has_value(), safe);
    if (safe) {
        QCOMPARE(loaded->hash(), sample.membership.hash());
        QCOMPARE(loaded->quorum(), q);
        // A safe policy is what the tally counts against.
        const Tally tally(*loaded, writeOffFor(sample));
        QCOMPARE(tally.quorum(), q);
        QCOMPARE(tally.status(), Tally::Status::Pending);
    } else {
        QVERIFY2(error.contains(QLatin1String("quorum")), qPrintable(error));
    }
}

void TallyTest::safetyRuleExhaustive()
{
    // q <= n/2 would let two states both reach q; q > n could never decide.
    for (int n = 1; n <= 10; ++n) {
        for (int count = 0; count <= n + 2; ++count) {
            const bool safe = 2 * count > n && count <= n;
            const QString problem = QuorumPolicy::absolute(quint32(count)).checkSafe(n);
            QVERIFY2(problem.isEmpty() == safe,
                     qPrintable(QStringLiteral("count %1 of n %2: '%3'").arg(count).arg(n).arg(problem)));
        }
    }
    QVERIFY(!QuorumPolicy().checkSafe(0).isEmpty());
    QVERIFY(!QuorumPolicy::ratio(2, 0).checkSafe(4).isEmpty());
}

void TallyTest::verdictNames()
{
    QSet<QString> names;
    for (const Tally::Verdict verdict :
         {Tally::Verdict::Counted, Tally::Verdict::Duplicate, Tally::Verdict::Equivocation,
          Tally::Verdict::WrongConsortium, Tally::Verdict::WrongDigest, Tally::Verdict::NotMember,
          Tally::Verdict::NotTarget, Tally::Verdict::UnknownState, Tally::Verdict::BadSignature,
          Tally::Verdict::AfterOutcome})
        names.insert(Tally::verdictName(verdict));
    QCOMPARE(names.size(), qsizetype(10));
    QVERIFY(!names.contains(QStringLiteral("unknown")));
}

QTEST_GUILESS_MAIN(TallyTest)
#include "tst_tally.moc"
