// WriteOffChecker against a real SQLite store: the per-ticket lock, the refusals, and that
// both survive closing and reopening the database.

#include "Block.h"
#include "ChainVerifier.h"
#include "LedgerStore.h"
#include "SampleConsortium.h"
#include "Tally.h"
#include "WriteOffChecker.h"

#include <QDateTime>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <memory>
#include <optional>
#include <sqlite3.h>

using namespace ticketsync;

namespace {

const QString kTarget = QStringLiteral("target-1");
const QString kBranch1 = QStringLiteral("branch-1");
const QString kBranch2 = QStringLiteral("branch-2");

// The amount as the checker prints it, e.g. "101.37 CNY" (positive amounts only).
QString money(qint64 minor, const QString &currency)
{
    return QStringLiteral("%1.%2 %3")
        .arg(minor / 100)
        .arg(minor % 100, 2, 10, QLatin1Char('0'))
        .arg(currency);
}

QString shortDigest(const WriteOffResult &writeOff)
{
    return QString::fromLatin1(writeOff.digest().toHex().left(16));
}

// Runs sql on a connection of its own, as another process touching the file would; SQLite's
// message if it fails.
QString execOn(const QString &path, const char *sql)
{
    sqlite3 *db = nullptr;
    QString problem;
    if (sqlite3_open_v2(QFile::encodeName(path).constData(), &db, SQLITE_OPEN_READWRITE, nullptr) ==
        SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        char *message = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK)
            problem = QString::fromUtf8(message ? message : "unknown error");
        sqlite3_free(message);
    } else {
        problem = QString::fromUtf8(sqlite3_errmsg(db));
    }
    sqlite3_close_v2(db);
    return problem;
}

} // namespace

class TestLocks : public QObject
{
    Q_OBJECT

private:
    SampleConsortium sample = SampleConsortium::generate();
    QList<Ticket> registry = SampleConsortium::tickets(8);
    std::unique_ptr<QTemporaryDir> dir;
    QString dbPath;
    std::unique_ptr<LedgerStore> store;
    std::unique_ptr<WriteOffChecker> checker;

    void openStore()
    {
        QString error;
        store = LedgerStore::open(dbPath, &error);
        QVERIFY2(store, qPrintable(error));
        checker =
            std::make_unique<WriteOffChecker>(sample.membership, kTarget, sample.keys.value(kTarget), *store);
    }

    // Destroys the checker and the store, which closes the SQLite connection, then reopens.
    void restart()
    {
        checker.reset();
        store.reset();
        openStore();
    }

    WriteOffResult writeOffOf(const Ticket &ticket, quint32 version,
                              const QString &branch = QStringLiteral("branch-1"),
                              const QString &reference = {}) const
    {
        return sample.writeOff(branch, ticket.id, version, ticket.faceAmountMinor, ticket.currency,
                               1700000000000 + version, reference);
    }

    std::optional<StateConfirmation> ask(const WriteOffResult &writeOff)
    {
        QString error;
        std::optional<StateConfirmation> answer = checker->check(writeOff, &error);
        if (!answer)
            qWarning("store failure: %s", qPrintable(error));
        return answer;
    }

    // Empty when the confirmation is target-1's valid signed answer about this write-off in
    // the expected state; otherwise what is wrong with it.
    QString problemWith(const std::optional<StateConfirmation> &confirmation, const WriteOffResult &writeOff,
                        ConfirmationState expected) const
    {
        if (!confirmation)
            return QStringLiteral("no confirmation");
        if (confirmation->state() != expected)
            return QStringLiteral("state %1 (reason: %2), expected %3")
                .arg(stateName(confirmation->stateCode), confirmation->reason, stateName(expected));
        if (confirmation->targetId != kTarget)
            return QStringLiteral("signed by %1").arg(confirmation->targetId);
        if (confirmation->writeOffDigest != writeOff.digest())
            return QStringLiteral("confirms another digest");
        if (QString problem = confirmation->verify(sample.membership); !problem.isEmpty())
            return QStringLiteral("does not verify: ") + problem;
        return {};
    }

    Decision decide(const WriteOffResult &writeOff, const QList<StateConfirmation> &confirmations) const
    {
        Tally tally(sample.membership, writeOff);
        for (const StateConfirmation &confirmation : confirmations) {
            QString reason;
            const Tally::Verdict verdict = tally.add(confirmation, &reason);
            if (verdict != Tally::Verdict::Counted)
                qWarning("confirmation from %s not counted: %s", qPrintable(confirmation.targetId),
                         qPrintable(reason));
        }
        return tally.decision(QDateTime::currentMSecsSinceEpoch());
    }

    Block sealNext(const QList<Decision> &decisions) const
    {
        Block block;
        block.height = store->height() + 1;
        block.previousHash = store->headHash();
        block.membershipHash = sample.membership.hash();
        block.timestampMs = QDateTime::currentMSecsSinceEpoch();
        block.coordinatorId = sample.coordinatorId();
        block.decisions = decisions;
        block.seal(sample.keys.value(sample.coordinatorId()));
        return block;
    }

    void appendVerified(const Block &block)
    {
        const ChainVerifier verifier(sample.membership, 1);
        const QString problem = verifier.verifyBlock(block, store->headHash(), store->height() + 1);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QString error;
        QVERIFY2(store->appendBlocks({block}, &error), qPrintable(error));
        QCOMPARE(store->height(), block.height);
    }

private Q_SLOTS:
    void init()
    {
        dir = std::make_unique<QTemporaryDir>();
        QVERIFY(dir->isValid());
        dbPath = dir->filePath(QStringLiteral("target-1.sqlite"));
        openStore();
        QString error;
        QVERIFY2(store->importTickets(registry, &error), qPrintable(error));
        QCOMPARE(store->ticketCount(), qint64(registry.size()));
        QCOMPARE(sample.membership.targetCount(), 4);
        QCOMPARE(sample.membership.quorum(), 3);
    }

    void cleanup()
    {
        checker.reset();
        store.reset();
        dir.reset();
    }

    // A node answers many checks in one transaction: a double write-off inside the batch is
    // still refused, the lock is there after a restart once committed, and gone if rolled back.
    void batchedLocks()
    {
        const WriteOffResult first = writeOffOf(registry.at(2), 1, kBranch1);
        const WriteOffResult second = writeOffOf(registry.at(2), 1, kBranch2, QStringLiteral("again"));
        const WriteOffResult other = writeOffOf(registry.at(3), 1, kBranch1);
        QString error;
        QVERIFY2(store->beginBatch(&error), qPrintable(error));
        QCOMPARE(problemWith(ask(first), first, ConfirmationState::WrittenOff), QString());
        QCOMPARE(problemWith(ask(second), second, ConfirmationState::AlreadyWrittenOff), QString());
        QVERIFY2(store->commitBatch(&error), qPrintable(error));

        QVERIFY2(store->beginBatch(&error), qPrintable(error));
        QCOMPARE(problemWith(ask(other), other, ConfirmationState::WrittenOff), QString());
        store->rollbackBatch(); // never released, so never locked

        restart();
        QCOMPARE(store->lock(first.ticketId, 1)->writeOffDigest, first.digest());
        QVERIFY(!store->lock(other.ticketId, 1));
        QCOMPARE(problemWith(ask(second), second, ConfirmationState::AlreadyWrittenOff), QString());
        QCOMPARE(problemWith(ask(other), other, ConfirmationState::WrittenOff), QString());
    }

    void lockHoldsAcrossRestart()
    {
        const Ticket &ticket = registry.at(0);
        const WriteOffResult first = writeOffOf(ticket, 1, kBranch1);
        const WriteOffResult rival = writeOffOf(ticket, 1, kBranch2); // same ticket/version, other branch
        QVERIFY(first.digest() != rival.digest());

        const std::optional<StateConfirmation> accepted = ask(first);
        QString problem = problemWith(accepted, first, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY(accepted->reason.isEmpty());

        // The lock is on disk with exactly the bytes that were released.
        std::optional<TicketLock> lock = store->lock(ticket.id, 1);
        QVERIFY(lock);
        QCOMPARE(lock->writeOffDigest, first.digest());
        QCOMPARE(lock->confirmation, accepted->encode());

        const std::optional<StateConfirmation> refused = ask(rival);
        problem = problemWith(refused, rival, ConfirmationState::AlreadyWrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY2(refused->reason.contains(shortDigest(first)), qPrintable(refused->reason));
        QVERIFY(!refused->reason.contains(shortDigest(rival)));

        const std::optional<StateConfirmation> again = ask(first);
        QVERIFY(again);
        QCOMPARE(again->encode(), accepted->encode());

        lock = store->lock(ticket.id, 1);
        QVERIFY(lock);
        QCOMPARE(lock->writeOffDigest, first.digest()); // the rival did not replace it

        restart();
        if (QTest::currentTestFailed())
            return;

        lock = store->lock(ticket.id, 1);
        QVERIFY(lock);
        QCOMPARE(lock->writeOffDigest, first.digest());

        const std::optional<StateConfirmation> afterRestart = ask(first);
        problem = problemWith(afterRestart, first, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QCOMPARE(afterRestart->encode(), accepted->encode());

        const std::optional<StateConfirmation> refusedAfterRestart = ask(rival);
        problem = problemWith(refusedAfterRestart, rival, ConfirmationState::AlreadyWrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY2(refusedAfterRestart->reason.contains(shortDigest(first)),
                 qPrintable(refusedAfterRestart->reason));

        // A third digest from the first branch (another client reference) is refused too.
        const WriteOffResult retry = writeOffOf(ticket, 1, kBranch1, QStringLiteral("retry-2"));
        QVERIFY(retry.digest() != first.digest());
        problem = problemWith(ask(retry), retry, ConfirmationState::AlreadyWrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));

        // Another ticket is not affected by this lock.
        const WriteOffResult other = writeOffOf(registry.at(1), 1, kBranch2);
        problem = problemWith(ask(other), other, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    void damagedLockKeepsItsAnswer()
    {
        // The stored answer of a lock damaged on disk: the write-off that holds the lock still
        // gets WRITTEN_OFF, the very bytes it got before, never ALREADY_WRITTEN_OFF by itself.
        const Ticket &ticket = registry.at(3);
        const WriteOffResult first = writeOffOf(ticket, 1, kBranch1);
        const std::optional<StateConfirmation> accepted = ask(first);
        QString problem = problemWith(accepted, first, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        restart(); // the checker's memory of its answers is gone; only the lock speaks
        if (QTest::currentTestFailed())
            return;
        for (const char *damage : {"UPDATE ticket_locks SET confirmation = substr(confirmation, 1, 40)",
                                   "UPDATE ticket_locks SET confirmation = x'00'"}) {
            problem = execOn(dbPath, damage);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            const std::optional<StateConfirmation> again = ask(first);
            problem = problemWith(again, first, ConfirmationState::WrittenOff);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            QCOMPARE(again->encode(), accepted->encode());
        }
        // A rival is still refused by the lock.
        const WriteOffResult rival = writeOffOf(ticket, 1, kBranch2);
        problem = problemWith(ask(rival), rival, ConfirmationState::AlreadyWrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    void earlierLockWins()
    {
        // Two connections to one file: the second acquireLock for the key gets the first back.
        QString error;
        std::unique_ptr<LedgerStore> second = LedgerStore::open(dbPath, &error);
        QVERIFY2(second, qPrintable(error));
        const QString ticketId = registry.at(2).id;
        const TicketLock a{ticketId, 1, QByteArray(32, 'a'), QByteArrayLiteral("confirmation a")};
        const TicketLock b{ticketId, 1, QByteArray(32, 'b'), QByteArrayLiteral("confirmation b")};
        std::optional<TicketLock> held = store->acquireLock(a, &error);
        QVERIFY2(held, qPrintable(error));
        QCOMPARE(held->writeOffDigest, a.writeOffDigest);
        held = second->acquireLock(b, &error);
        QVERIFY2(held, qPrintable(error));
        QCOMPARE(held->writeOffDigest, a.writeOffDigest);
        QCOMPARE(held->confirmation, a.confirmation);
        // Version 2 is a separate key.
        const TicketLock c{ticketId, 2, QByteArray(32, 'c'), QByteArrayLiteral("confirmation c")};
        held = second->acquireLock(c, &error);
        QVERIFY2(held, qPrintable(error));
        QCOMPARE(held->writeOffDigest, c.writeOffDigest);
    }

    void unknownTicket()
    {
        Ticket missing = registry.at(0);
        missing.id = QStringLiteral("T-999999");
        const WriteOffResult writeOff = writeOffOf(missing, 1);
        const std::optional<StateConfirmation> answer = ask(writeOff);
        const QString problem = problemWith(answer, writeOff, ConfirmationState::UnknownTicket);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY2(answer->reason.contains(missing.id), qPrintable(answer->reason));
        QVERIFY(!store->lock(missing.id, 1));
    }

    // A registry or lock that cannot be read says nothing about the ticket: the checker signs
    // nothing, remembers nothing, and reports the store's error - never UNKNOWN_TICKET.
    void unreadableStoreGivesNoAnswer()
    {
        const Ticket &ticket = registry.at(0);
        const WriteOffResult writeOff = writeOffOf(ticket, 1);
        for (const char *table : {"tickets", "ticket_locks"}) {
            const QByteArray away = QByteArray("ALTER TABLE ") + table + " RENAME TO unreadable";
            QCOMPARE(execOn(dbPath, away.constData()), QString());
            QString error;
            const std::optional<StateConfirmation> answer = checker->check(writeOff, &error);
            QVERIFY2(!answer, qPrintable(QStringLiteral("answered %1 from a store it cannot read: %2")
                                             .arg(stateName(answer->stateCode), answer->reason)));
            QVERIFY2(error.contains(dbPath) && error.contains(QLatin1String(table)), qPrintable(error));
            const QByteArray back = QByteArray("ALTER TABLE unreadable RENAME TO ") + table;
            QCOMPARE(execOn(dbPath, back.constData()), QString());
        }
        // Readable again: the real answer, not one remembered from the failure.
        const std::optional<StateConfirmation> answer = ask(writeOff);
        const QString problem = problemWith(answer, writeOff, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    void amountMismatch()
    {
        const Ticket &ticket = registry.at(3);
        const qint64 claimed = ticket.faceAmountMinor + 100000;
        const WriteOffResult writeOff =
            sample.writeOff(kBranch1, ticket.id, 1, claimed, ticket.currency, 1700000000001);
        const std::optional<StateConfirmation> answer = ask(writeOff);
        const QString problem = problemWith(answer, writeOff, ConfirmationState::AmountMismatch);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY2(answer->reason.contains(money(ticket.faceAmountMinor, ticket.currency)),
                 qPrintable(answer->reason));
        QVERIFY2(answer->reason.contains(money(claimed, ticket.currency)), qPrintable(answer->reason));
        QVERIFY(!store->lock(ticket.id, 1)); // a refusal never locks the key

        // The right amount is still accepted afterwards.
        const WriteOffResult correct = writeOffOf(ticket, 1);
        const QString accepted = problemWith(ask(correct), correct, ConfirmationState::WrittenOff);
        QVERIFY2(accepted.isEmpty(), qPrintable(accepted));
    }

    void repeatedCheckGetsTheSameAnswer()
    {
        // Asked first with the wrong amount, as a stale target is.
        const Ticket &ticket = registry.at(4);
        const WriteOffResult wrong = sample.writeOff(kBranch1, ticket.id, 1, ticket.faceAmountMinor + 1,
                                                     ticket.currency, 1700000000009);
        const std::optional<StateConfirmation> first = ask(wrong);
        QString problem = problemWith(first, wrong, ConfirmationState::AmountMismatch);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        // Another write-off of the ticket takes its lock meanwhile.
        const WriteOffResult right = writeOffOf(ticket, 1, kBranch2);
        problem = problemWith(ask(right), right, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        // Asked again by a coordinator that fell behind: the very same signed answer. Answering
        // ALREADY_WRITTEN_OFF now would be two states for one write-off, which the tally records
        // as equivocation.
        const std::optional<StateConfirmation> again = ask(wrong);
        QVERIFY(again);
        QCOMPARE(again->encode(), first->encode());

        // A copy with a broken signature has the same digest as the real write-off: it is refused,
        // and what the real one gets does not change.
        WriteOffResult forged = wrong;
        forged.signature[3] = char(forged.signature.at(3) ^ 0x01);
        QCOMPARE(forged.digest(), wrong.digest());
        problem = problemWith(ask(forged), forged, ConfirmationState::InvalidRequest);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QCOMPARE(ask(wrong)->encode(), first->encode());

        // Only the newest answers are kept in memory; the lock's answer is kept for good.
        for (int i = 0; i < WriteOffChecker::kAnswersKept; ++i) {
            Ticket unknown = ticket;
            unknown.id = QStringLiteral("T-9%1").arg(i, 6, 10, QLatin1Char('0'));
            QVERIFY(ask(writeOffOf(unknown, 1)));
        }
        problem = problemWith(ask(wrong), wrong, ConfirmationState::AlreadyWrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        problem = problemWith(ask(right), right, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    void currencyMismatch()
    {
        const Ticket &ticket = registry.at(3);
        QCOMPARE(ticket.currency, QStringLiteral("CNY"));
        const QString claimedCurrency = QStringLiteral("USD");
        const WriteOffResult writeOff =
            sample.writeOff(kBranch1, ticket.id, 1, ticket.faceAmountMinor, claimedCurrency, 1700000000001);
        const std::optional<StateConfirmation> answer = ask(writeOff);
        const QString problem = problemWith(answer, writeOff, ConfirmationState::AmountMismatch);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY2(answer->reason.contains(money(ticket.faceAmountMinor, ticket.currency)),
                 qPrintable(answer->reason));
        QVERIFY2(answer->reason.contains(money(ticket.faceAmountMinor, claimedCurrency)),
                 qPrintable(answer->reason));
        QVERIFY(!store->lock(ticket.id, 1));
    }

    void versionSkippingAhead()
    {
        const Ticket &ticket = registry.at(4);
        for (const quint32 version : {2u, 3u, 100u}) {
            const WriteOffResult writeOff = writeOffOf(ticket, version);
            const std::optional<StateConfirmation> answer = ask(writeOff);
            const QString problem = problemWith(answer, writeOff, ConfirmationState::InvalidRequest);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            QVERIFY2(answer->reason.contains(QStringLiteral("skips ahead")), qPrintable(answer->reason));
            QVERIFY(!store->lock(ticket.id, version));
        }
    }

    void nextVersionWaitsForTheBlockOfTheLockedOne()
    {
        const Ticket &ticket = registry.at(3);
        const WriteOffResult first = writeOffOf(ticket, 1);
        const std::optional<StateConfirmation> own = ask(first);
        QString problem = problemWith(own, first, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));

        // Version 1 is locked here and not yet in a block: version 2 gets no answer yet, again and
        // again, and nothing of it is stored or remembered; version 3 still skips ahead.
        const WriteOffResult second = writeOffOf(ticket, 2, kBranch2);
        for (int attempt = 0; attempt < 2; ++attempt) {
            QString error;
            QString notYet;
            QVERIFY(!checker->check(second, &error, &notYet));
            QCOMPARE(error, QString());
            QVERIFY2(notYet.contains(QStringLiteral("version 1 of ticket %1 is locked").arg(ticket.id)),
                     qPrintable(notYet));
            QVERIFY(!store->lock(ticket.id, 2));
        }
        const WriteOffResult third = writeOffOf(ticket, 3);
        problem = problemWith(ask(third), third, ConfirmationState::InvalidRequest);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));

        // Once version 1's block is here, version 2 is the next write-off.
        const Decision decision = decide(
            first, {*own, sample.confirm(QStringLiteral("target-3"), first, ConfirmationState::WrittenOff),
                    sample.confirm(QStringLiteral("target-4"), first, ConfirmationState::WrittenOff)});
        QCOMPARE(decision.outcome, Outcome::Decided);
        appendVerified(sealNext({decision}));
        if (QTest::currentTestFailed())
            return;
        problem = problemWith(ask(second), second, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    void invalidWriteOffs()
    {
        const Ticket &ticket = registry.at(5);

        WriteOffResult badSignature = writeOffOf(ticket, 1);
        badSignature.signature[7] = char(badSignature.signature.at(7) ^ 0x01);
        std::optional<StateConfirmation> answer = ask(badSignature);
        QString problem = problemWith(answer, badSignature, ConfirmationState::InvalidRequest);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY2(answer->reason.contains(QStringLiteral("signature")), qPrintable(answer->reason));

        // Signed by branch-1, then the amount altered: the signature no longer covers it.
        WriteOffResult tampered = writeOffOf(ticket, 1);
        tampered.amountMinor += 1;
        answer = ask(tampered);
        problem = problemWith(answer, tampered, ConfirmationState::InvalidRequest);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));

        // A target and the coordinator are members but not branches.
        for (const QString &signer : {QStringLiteral("target-2"), sample.coordinatorId()}) {
            const WriteOffResult notBranch = writeOffOf(ticket, 1, signer);
            answer = ask(notBranch);
            problem = problemWith(answer, notBranch, ConfirmationState::InvalidRequest);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            QVERIFY2(answer->reason.contains(signer), qPrintable(answer->reason));
        }

        // Signed by a branch of another consortium.
        SampleConsortium::Options options;
        options.label = QStringLiteral("another-consortium");
        const SampleConsortium foreign = SampleConsortium::generate(options);
        const WriteOffResult foreignWriteOff =
            foreign.writeOff(kBranch1, ticket.id, 1, ticket.faceAmountMinor, ticket.currency, 1700000000001);
        answer = ask(foreignWriteOff);
        problem = problemWith(answer, foreignWriteOff, ConfirmationState::InvalidRequest);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));

        QVERIFY(!store->lock(ticket.id, 1)); // none of these took the key

        const WriteOffResult valid = writeOffOf(ticket, 1);
        answer = ask(valid);
        problem = problemWith(answer, valid, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));

        // The valid write-off's digest with a broken signature is still refused, not
        // answered from the lock.
        WriteOffResult validBroken = valid;
        validBroken.signature[0] = char(validBroken.signature.at(0) ^ 0x40);
        QCOMPARE(validBroken.digest(), valid.digest());
        problem = problemWith(ask(validBroken), validBroken, ConfirmationState::InvalidRequest);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    void ledgerDecisionAdvancesVersion()
    {
        // Ticket A: decided by the other three targets; this target never locked it, so only
        // the ledger's written_off_version can stop a second write-off of version 1.
        const Ticket &ticketA = registry.at(6);
        const WriteOffResult decidedA = writeOffOf(ticketA, 1, kBranch1);
        QList<StateConfirmation> votesA;
        for (const QString &target :
             {QStringLiteral("target-2"), QStringLiteral("target-3"), QStringLiteral("target-4")})
            votesA.append(sample.confirm(target, decidedA, ConfirmationState::WrittenOff));
        const Decision decisionA = decide(decidedA, votesA);
        QCOMPARE(decisionA.outcome, Outcome::Decided);
        QCOMPARE(decisionA.decidedState, quint16(ConfirmationState::WrittenOff));

        // Ticket B: this target confirmed it (and holds the lock), then the quorum decided it.
        const Ticket &ticketB = registry.at(7);
        const WriteOffResult decidedB = writeOffOf(ticketB, 1, kBranch2);
        const std::optional<StateConfirmation> own = ask(decidedB);
        QString problem = problemWith(own, decidedB, ConfirmationState::WrittenOff);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        const Decision decisionB =
            decide(decidedB,
                   {*own, sample.confirm(QStringLiteral("target-3"), decidedB, ConfirmationState::WrittenOff),
                    sample.confirm(QStringLiteral("target-4"), decidedB, ConfirmationState::WrittenOff)});
        QCOMPARE(decisionB.outcome, Outcome::Decided);

        QCOMPARE(store->ticket(ticketA.id)->writtenOffVersion, 0u);
        appendVerified(sealNext({decisionA, decisionB}));
        if (QTest::currentTestFailed())
            return;

        for (int round = 0; round < 2; ++round) {
            for (const Ticket *ticket : {&ticketA, &ticketB}) {
                const std::optional<TicketRecord> record = store->ticket(ticket->id);
                QVERIFY(record);
                QCOMPARE(record->writtenOffVersion, 1u);
                const WriteOffResult &decided = ticket == &ticketA ? decidedA : decidedB;
                QCOMPARE(store->decidedState(decided.digest()).value_or(0),
                         quint16(ConfirmationState::WrittenOff));
                QCOMPARE(store->writtenOffBy(ticket->id, 1).value_or(QByteArray()), decided.digest());

                const WriteOffResult again =
                    writeOffOf(*ticket, 1, kBranch1, QStringLiteral("again-%1").arg(round));
                problem = problemWith(ask(again), again, ConfirmationState::AlreadyWrittenOff);
                QVERIFY2(problem.isEmpty(), qPrintable(ticket->id + QLatin1Char(' ') + problem));
            }
            if (round == 0) {
                restart(); // the decided state is durable too
                if (QTest::currentTestFailed())
                    return;
            }
        }

        // Version 2 is the next write-off of each ticket; version 3 still skips ahead.
        for (const Ticket *ticket : {&ticketA, &ticketB}) {
            const WriteOffResult skip = writeOffOf(*ticket, 3);
            problem = problemWith(ask(skip), skip, ConfirmationState::InvalidRequest);
            QVERIFY2(problem.isEmpty(), qPrintable(ticket->id + QLatin1Char(' ') + problem));
            const WriteOffResult next = writeOffOf(*ticket, 2, kBranch2);
            problem = problemWith(ask(next), next, ConfirmationState::WrittenOff);
            QVERIFY2(problem.isEmpty(), qPrintable(ticket->id + QLatin1Char(' ') + problem));
            const std::optional<TicketLock> lock = store->lock(ticket->id, 2);
            QVERIFY(lock);
            QCOMPARE(lock->writeOffDigest, next.digest());
        }
    }
};

QTEST_GUILESS_MAIN(TestLocks)
#include "tst_locks.moc"
