// Appends blocks to a LedgerStore as fast as it can until it is killed; tst_store SIGKILLs it
// at random moments. After every successful commit it prints "committed <height>" and
// flushes, so every height it printed is one the store has acknowledged as durable.
//
// Usage: store_crash_child DBPATH [SECONDS]   (stops by itself after SECONDS, default 60)

#include "Block.h"
#include "LedgerStore.h"
#include "SampleConsortium.h"
#include "Tally.h"

#include <QDateTime>
#include <QElapsedTimer>

#include <csignal>
#include <cstdio>
#include <sys/prctl.h>

using namespace ticketsync;

namespace {

constexpr int kDecisionsPerBlock = 50;

// One decided WRITTEN_OFF certificate for a ticket unique to this height; freshly signed,
// since the ticket id is inside everything that is signed.
Decision decisionFor(const SampleConsortium &sample, const QStringList &targets, const QStringList &branches,
                     quint64 height, int index, qint64 nowMs)
{
    const QString ticketId = QStringLiteral("C-%1-%2").arg(height).arg(index);
    const quint32 version = quint32(index % 3) + 1; // versions vary; (ticket, version) stays unique
    const WriteOffResult writeOff = sample.writeOff(branches.at(index % branches.size()), ticketId, version,
                                                    1000 + index, QStringLiteral("CNY"), nowMs);
    Tally tally(sample.membership, writeOff);
    for (const QString &target : targets) {
        if (tally.isFinal())
            break;
        tally.add(sample.confirm(target, writeOff, ConfirmationState::WrittenOff));
    }
    return tally.decision(nowMs);
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DBPATH [SECONDS]\n", argv[0]);
        return 64;
    }
    // Never outlive the test that started us.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const qint64 limitMs = (argc >= 3 ? QByteArray(argv[2]).toLongLong() : 60) * 1000;

    QString error;
    std::unique_ptr<LedgerStore> store = LedgerStore::open(QString::fromLocal8Bit(argv[1]), &error);
    if (!store) {
        std::fprintf(stderr, "open failed: %s\n", qPrintable(error));
        return 1;
    }
    if (const QString problem = store->checkHead(); !problem.isEmpty()) {
        std::fprintf(stderr, "head check failed: %s\n", qPrintable(problem));
        return 1;
    }
    const SampleConsortium sample = SampleConsortium::generate();
    const QStringList targets = sample.targetIds();
    const QStringList branches = sample.branchIds();
    const KeyPair coordinatorKey = sample.keys.value(sample.coordinatorId());

    std::printf("ready %llu\n", static_cast<unsigned long long>(store->height()));
    std::fflush(stdout);

    QElapsedTimer running;
    running.start();
    for (quint64 round = 0; running.elapsed() < limitMs; ++round) {
        // Batches of 1, 2, 1 and 3 blocks: multi-block transactions get killed too.
        static constexpr int kBatchSizes[] = {1, 2, 1, 3};
        const int batchSize = kBatchSizes[round % std::size(kBatchSizes)];
        QList<Block> batch;
        quint64 height = store->height();
        QByteArray previous = store->headHash();
        const qint64 nowMs = QDateTime::currentMSecsSinceEpoch();
        for (int b = 0; b < batchSize; ++b) {
            Block block;
            block.height = ++height;
            block.previousHash = previous;
            block.membershipHash = sample.membership.hash();
            block.timestampMs = nowMs;
            block.coordinatorId = sample.coordinatorId();
            for (int i = 0; i < kDecisionsPerBlock; ++i)
                block.decisions.append(decisionFor(sample, targets, branches, block.height, i, nowMs));
            block.seal(coordinatorKey);
            previous = block.hash();
            batch.append(block);
        }
        if (!store->appendBlocks(batch, &error)) {
            std::fprintf(stderr, "append failed: %s\n", qPrintable(error));
            return 2;
        }
        std::printf("committed %llu\n", static_cast<unsigned long long>(store->height()));
        std::fflush(stdout);
    }
    return 0;
}
