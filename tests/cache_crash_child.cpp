// Ingests batches of events into a HistoryCache as fast as it can until it is killed;
// tst_cache SIGKILLs it at random moments and then checks that the cache reopens consistent.
// Like the console, it resumes from the cache's cursor each time it starts. Every batch holds
// kBatch events with consecutive sequence numbers; after each commit it prints
// "committed <last seq>" and flushes, so every number it printed is durable.
//
// Usage: cache_crash_child CACHEPATH [SECONDS]   (stops by itself after SECONDS, default 60)

#include "HistoryCache.h"

#include <QByteArray>
#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QJsonObject>

#include <csignal>
#include <cstdio>
#include <sys/prctl.h>

using namespace ticketsync;

namespace {

constexpr int kBatch = 500;
const QString kNode = QStringLiteral("coordinator-1");

QString digestFor(qint64 n)
{
    return QString::fromLatin1(
        QCryptographicHash::hash(QByteArray::number(n), QCryptographicHash::Sha256).toHex());
}

// Event seq: a write-off issued, then its confirmations and decision, in a repeating pattern.
QJsonObject eventFor(qint64 seq)
{
    const qint64 writeOff = seq / 6;
    const QString ticket = QStringLiteral("K-%1").arg(writeOff, 7, 10, QLatin1Char('0'));
    QJsonObject event{{QStringLiteral("type"), QStringLiteral("event")},
                      {QStringLiteral("seq"), seq},
                      {QStringLiteral("at_ms"), 1'790'000'000'000 + seq},
                      {QStringLiteral("write_off_digest"), digestFor(writeOff)},
                      {QStringLiteral("ticket"), ticket},
                      {QStringLiteral("version"), 1},
                      {QStringLiteral("branch"), QStringLiteral("branch-1")}};
    switch (seq % 6) {
    case 0:
        event.insert(QStringLiteral("kind"), QStringLiteral("write_off_issued"));
        event.insert(QStringLiteral("amount_minor"), 1000 + writeOff);
        event.insert(QStringLiteral("currency"), QStringLiteral("CNY"));
        event.insert(QStringLiteral("reference"), QStringLiteral("ref"));
        event.insert(QStringLiteral("issued_at_ms"), 1'790'000'000'000 + seq);
        break;
    case 5:
        event.insert(QStringLiteral("kind"), QStringLiteral("decision_made"));
        event.insert(QStringLiteral("amount_minor"), 1000 + writeOff);
        event.insert(QStringLiteral("currency"), QStringLiteral("CNY"));
        event.insert(QStringLiteral("outcome"), QStringLiteral("DECIDED"));
        event.insert(QStringLiteral("state"), QStringLiteral("WRITTEN_OFF"));
        event.insert(QStringLiteral("histogram"), QJsonObject{{QStringLiteral("WRITTEN_OFF"), 3}});
        event.insert(QStringLiteral("n"), 4);
        event.insert(QStringLiteral("q"), 3);
        event.insert(QStringLiteral("missing"), 1);
        event.insert(QStringLiteral("equivocating"), 0);
        event.insert(QStringLiteral("issued_at_ms"), 1'790'000'000'000 + seq - 5);
        event.insert(QStringLiteral("decided_at_ms"), 1'790'000'000'000 + seq);
        event.insert(QStringLiteral("latency_ms"), 5);
        break;
    default:
        event.insert(QStringLiteral("kind"), QStringLiteral("confirmation_received"));
        event.insert(QStringLiteral("target"), QStringLiteral("target-%1").arg(seq % 6));
        event.insert(QStringLiteral("state"), QStringLiteral("WRITTEN_OFF"));
        event.insert(QStringLiteral("reason"), QString());
        event.insert(QStringLiteral("verdict"), QStringLiteral("counted"));
        event.insert(QStringLiteral("verdict_reason"), QString());
        event.insert(QStringLiteral("confirmation"),
                     QString::fromLatin1(
                         QByteArray("signed confirmation ").append(QByteArray::number(seq)).toBase64()));
        break;
    }
    return event;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CACHEPATH [SECONDS]\n", argv[0]);
        return 64;
    }
    // Never outlive the test that started us.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const qint64 limitMs = (argc >= 3 ? QByteArray(argv[2]).toLongLong() : 60) * 1000;

    HistoryCache cache;
    QString error;
    if (!cache.open(QString::fromLocal8Bit(argv[1]), &error)) {
        std::fprintf(stderr, "open failed: %s\n", qPrintable(error));
        return 1;
    }
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < limitMs) {
        const qint64 from = cache.lastSeq(kNode) + 1;
        QList<QJsonObject> batch;
        batch.reserve(kBatch);
        for (qint64 seq = from; seq < from + kBatch; ++seq)
            batch.append(eventFor(seq));
        const IngestReport report = cache.ingest(kNode, batch);
        if (report.stored != kBatch) {
            std::fprintf(stderr, "batch not stored: %s\n", qPrintable(report.firstProblem));
            return 2;
        }
        std::printf("committed %lld\n", static_cast<long long>(report.lastSeq));
        std::fflush(stdout);
    }
    return 0;
}
