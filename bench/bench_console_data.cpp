// The console's data layer against its goals (issue 4):
//  - ingest of at least 20,000 events/s sustained into the cache (and the live views);
//  - a cache of 1,000,000 decisions opens to a first paint of both tables in under 2 s;
//  - memory that stays bounded as the cache grows.
//
// Events are shaped exactly as docs/api.md describes, built from real signed write-offs and
// confirmations (SampleConsortium + Tally); for volume, each template is reused with its
// digest and ticket id changed, which the cache cannot tell (it stores, never verifies).
// The 1,000,000-decision cache is built once through HistoryCache::ingest (1M issued + 1M
// decision_made events) and kept in $TICKETSYNC_BENCH_DIR (default /tmp/ticketsync-bench).
//
//   build/bench/bench_console_data [--benchmark_filter=...]
#include "CacheWorker.h"
#include "DecisionsModel.h"
#include "FeedModel.h"
#include "HistoryCache.h"
#include "SampleConsortium.h"
#include "Tally.h"
#include "TallyTracker.h"
#include "VoteHistogramWidget.h"

#include <QApplication>
#include <QCryptographicHash>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QHeaderView>
#include <QRandomGenerator>
#include <QScrollBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <benchmark/benchmark.h>

// Filters read best with designated initializers; GCC 12 warns about the members left out.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <algorithm>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

using namespace ticketsync;

namespace {

const QString kNode = QStringLiteral("coordinator-1");
constexpr qint64 kMillion = 1'000'000;

// Hands freed memory back to the system first, so RSS shows what is in use, not what an
// earlier benchmark in this process once allocated.
double rssMb()
{
    malloc_trim(0);
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return 0;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toDouble() / 1024.0;
    }
    return 0;
}

// CPU seconds used so far by this process's threads with the given name (Linux).
double threadCpuSeconds(const QByteArray &name)
{
    double seconds = 0;
    const QDir tasks(QStringLiteral("/proc/self/task"));
    for (const QString &tid : tasks.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        QFile comm(tasks.filePath(tid + QStringLiteral("/comm")));
        QFile stat(tasks.filePath(tid + QStringLiteral("/stat")));
        if (!comm.open(QIODevice::ReadOnly) || comm.readAll().trimmed() != name ||
            !stat.open(QIODevice::ReadOnly))
            continue;
        const QByteArray line = stat.readAll();
        const QList<QByteArray> fields = line.mid(line.lastIndexOf(')') + 2).split(' ');
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after "(comm) ".
        seconds += double(fields.value(11).toLongLong() + fields.value(12).toLongLong()) /
                   double(sysconf(_SC_CLK_TCK));
    }
    return seconds;
}

QString hexDigest(qint64 n)
{
    return QString::fromLatin1(
        QCryptographicHash::hash(QByteArray::number(n), QCryptographicHash::Sha256).toHex());
}

// The event stream a coordinator sends, per write-off: write_off_issued, four
// confirmation_received, decision_made; a block_appended after every 50 write-offs.
class EventMix
{
public:
    EventMix()
    {
        const SampleConsortium sample = SampleConsortium::generate();
        const QStringList targets = sample.targetIds();
        for (int t = 0; t < kTemplates; ++t) {
            const WriteOffResult writeOff =
                sample.writeOff(sample.branchIds().at(t % 2), QStringLiteral("T"), 1, 1000 + t,
                                QStringLiteral("CNY"), 1'790'000'000'000);
            Tally tally(sample.membership, writeOff);
            Template entry;
            entry.issued = {{QStringLiteral("version"), 1},
                            {QStringLiteral("branch"), writeOff.branchId},
                            {QStringLiteral("amount_minor"), writeOff.amountMinor},
                            {QStringLiteral("currency"), writeOff.currency},
                            {QStringLiteral("reference"), QStringLiteral("REF-%1").arg(t)},
                            {QStringLiteral("issued_at_ms"), writeOff.issuedAtMs}};
            const ConfirmationState state =
                t % 10 == 9 ? ConfirmationState::AlreadyWrittenOff : ConfirmationState::WrittenOff;
            for (const QString &target : targets) {
                const StateConfirmation confirmation = sample.confirm(target, writeOff, state);
                QString reason;
                const Tally::Verdict verdict = tally.add(confirmation, &reason);
                entry.confirmations.append({{QStringLiteral("version"), 1},
                                            {QStringLiteral("branch"), writeOff.branchId},
                                            {QStringLiteral("target"), target},
                                            {QStringLiteral("state"), stateName(confirmation.stateCode)},
                                            {QStringLiteral("reason"), QString()},
                                            {QStringLiteral("verdict"), Tally::verdictName(verdict)},
                                            {QStringLiteral("verdict_reason"), reason},
                                            {QStringLiteral("confirmation"),
                                             QString::fromLatin1(confirmation.encode().toBase64())}});
            }
            const Decision decision = tally.decision(1'790'000'000'050);
            QJsonObject histogram;
            for (const StateCount &count : decision.histogram)
                histogram.insert(stateName(count.stateCode), qint64(count.count));
            entry.decision = {{QStringLiteral("version"), 1},
                              {QStringLiteral("branch"), writeOff.branchId},
                              {QStringLiteral("amount_minor"), writeOff.amountMinor},
                              {QStringLiteral("currency"), writeOff.currency},
                              {QStringLiteral("outcome"), outcomeName(decision.outcome)},
                              {QStringLiteral("state"), stateName(decision.decidedState)},
                              {QStringLiteral("histogram"), histogram},
                              {QStringLiteral("n"), qint64(decision.targetCount)},
                              {QStringLiteral("q"), qint64(decision.quorum)},
                              {QStringLiteral("missing"), qint64(decision.missing)},
                              {QStringLiteral("equivocating"), qint64(decision.equivocating)},
                              {QStringLiteral("issued_at_ms"), writeOff.issuedAtMs},
                              {QStringLiteral("attempts"), 1}};
            templates.append(entry);
        }
    }

    // The event with this seq (1-based) of the endless stream.
    QJsonObject event(qint64 seq, qint64 atMs) const
    {
        const qint64 slot = (seq - 1) % 301; // 50 write-offs of 6 events, then a block
        const qint64 round = (seq - 1) / 301;
        if (slot == 300) {
            return {{QStringLiteral("type"), QStringLiteral("event")},
                    {QStringLiteral("seq"), seq},
                    {QStringLiteral("at_ms"), atMs},
                    {QStringLiteral("kind"), QStringLiteral("block_appended")},
                    {QStringLiteral("height"), round + 1},
                    {QStringLiteral("hash"), hexDigest(-round - 1)},
                    {QStringLiteral("decisions"), 50},
                    {QStringLiteral("timestamp_ms"), atMs}};
        }
        const qint64 writeOff = round * 50 + slot / 6;
        const Template &entry = templates.at(writeOff % kTemplates);
        QJsonObject event;
        switch (slot % 6) {
        case 0:
            event = entry.issued;
            event.insert(QStringLiteral("kind"), QStringLiteral("write_off_issued"));
            break;
        case 5:
            event = entry.decision;
            event.insert(QStringLiteral("kind"), QStringLiteral("decision_made"));
            event.insert(QStringLiteral("decided_at_ms"), atMs);
            event.insert(QStringLiteral("latency_ms"), 45 + writeOff % 30);
            break;
        default:
            event = entry.confirmations.at(slot % 6 - 1);
            event.insert(QStringLiteral("kind"), QStringLiteral("confirmation_received"));
        }
        event.insert(QStringLiteral("type"), QStringLiteral("event"));
        event.insert(QStringLiteral("seq"), seq);
        event.insert(QStringLiteral("at_ms"), atMs);
        event.insert(QStringLiteral("write_off_digest"), hexDigest(writeOff));
        event.insert(QStringLiteral("ticket"),
                     QStringLiteral("BA-%1").arg(writeOff, 8, 10, QLatin1Char('0')));
        return event;
    }

    static const EventMix &instance()
    {
        static const EventMix mix;
        return mix;
    }

private:
    static constexpr int kTemplates = 64;
    struct Template
    {
        QJsonObject issued;
        QList<QJsonObject> confirmations;
        QJsonObject decision;
    };
    QList<Template> templates;
};

QString benchDir()
{
    const QString dir = qEnvironmentVariable("TICKETSYNC_BENCH_DIR", QStringLiteral("/tmp/ticketsync-bench"));
    QDir().mkpath(dir);
    return dir;
}

// Runs the event loop until done() or the timeout; false on timeout. It sleeps in the event
// loop between checks (every 2 ms), so it never competes with the worker for a CPU.
template<typename Done> bool waitFor(Done done, int timeoutMs = 60000)
{
    if (done())
        return true;
    QEventLoop loop;
    QTimer poll;
    QElapsedTimer clock;
    clock.start();
    bool ok = true;
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (done())
            loop.quit();
        else if (clock.elapsed() > timeoutMs) {
            ok = false;
            loop.quit();
        }
    });
    poll.start(2);
    loop.exec();
    return ok;
}

// --- Ingest straight into the cache, as the worker's commits do --------------------------

void BM_CacheIngest(benchmark::State &state)
{
    const int batchSize = int(state.range(0));
    QTemporaryDir dir(benchDir() + QStringLiteral("/ingest-XXXXXX"));
    HistoryCache cache;
    QString error;
    if (!cache.open(dir.filePath(QStringLiteral("cache.sqlite")), &error)) {
        state.SkipWithError(qPrintable(error));
        return;
    }
    const EventMix &mix = EventMix::instance();
    qint64 seq = 0;
    qint64 events = 0;
    qint64 atMs = 1'790'000'000'000;
    for (auto _ : state) {
        state.PauseTiming();
        QList<QJsonObject> batch;
        batch.reserve(batchSize);
        for (int i = 0; i < batchSize; ++i)
            batch.append(mix.event(++seq, ++atMs));
        state.ResumeTiming();
        const IngestReport report = cache.ingest(kNode, batch);
        if (report.stored != batchSize) {
            state.SkipWithError(qPrintable(report.firstProblem));
            return;
        }
        events += batchSize;
    }
    state.counters["events/s"] = benchmark::Counter(double(events), benchmark::Counter::kIsRate);
    state.counters["events"] = double(events);
    state.counters["rss_mb"] = rssMb();
}
BENCHMARK(BM_CacheIngest)
    ->ArgName("batch")
    ->Arg(2000)
    ->Iterations(150)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// --- Ingest through the worker at its own pace -------------------------------------------

// All events handed to the CacheWorker at once, in chunks of 100 (as the session forwards
// them): what its batching and background checkpoints sustain, with nobody watching. Starts
// from an empty cache, or (intoMillion) from a copy of the 1,000,000-decision cache.
QString millionCache(QString *growth);

void workerIngestMax(benchmark::State &state, bool intoMillion)
{
    const qint64 total = state.range(0);
    const EventMix &mix = EventMix::instance();
    // Write-offs numbered past the million already in the big cache, so they are all new.
    const qint64 firstMixSeq = intoMillion ? 301 * 20'001 + 1 : 1;
    const qint64 firstSeq = intoMillion ? 2 * kMillion + 1 : 1;
    QList<QList<QJsonObject>> chunks;
    for (qint64 k = 0; k < total; k += 100) {
        QList<QJsonObject> chunk;
        for (qint64 i = k; i < k + 100 && i < total; ++i) {
            QJsonObject event = mix.event(firstMixSeq + i, 1'800'000'000'000 + i);
            event.insert(QStringLiteral("seq"), firstSeq + i);
            chunk.append(event);
        }
        chunks.append(chunk);
    }
    for (auto _ : state) {
        QTemporaryDir dir(benchDir() + QStringLiteral("/max-XXXXXX"));
        const QString path = dir.filePath(QStringLiteral("cache.sqlite"));
        if (intoMillion && !QFile::copy(millionCache(nullptr), path)) {
            state.SkipWithError("cannot copy the 1M cache");
            return;
        }
        CacheThread thread(path);
        CacheWorker *worker = thread.worker();
        qint64 committed = 0;
        QObject context;
        QObject::connect(worker, &CacheWorker::ingested, &context,
                         [&](const QString &, qint64 lastSeq) { committed = lastSeq; });
        thread.start();
        waitFor([&] { return thread.worker()->cache().isOpen(); });
        const double cpuBefore = threadCpuSeconds("history-cache");
        const double checkpointBefore = threadCpuSeconds("cache-ckpt");
        QElapsedTimer clock;
        clock.start();
        for (const QList<QJsonObject> &chunk : std::as_const(chunks))
            QMetaObject::invokeMethod(worker, [worker, chunk] { worker->ingest(kNode, chunk); });
        waitFor([&] { return committed >= firstSeq + total - 1; }, 900000);
        state.SetIterationTime(double(clock.nsecsElapsed()) / 1e9);
        state.counters["events/s"] = double(total) / (double(clock.nsecsElapsed()) / 1e9);
        // What the worker thread itself spent, whatever else the machine was doing.
        const double cpu = threadCpuSeconds("history-cache") - cpuBefore;
        state.counters["worker_cpu_s"] = cpu;
        state.counters["events_per_worker_cpu_s"] = double(total) / qMax(cpu, 1e-9);
        state.counters["checkpoint_cpu_s"] = threadCpuSeconds("cache-ckpt") - checkpointBefore;
        chunks.clear(); // the prepared events are the benchmark's, not the cache's
        state.counters["rss_mb"] = rssMb();
        thread.stop();
        state.counters["file_mb"] = double(QFileInfo(path).size()) / 1048576.0;
    }
}

// One pass of 300,000 events, timed by the benchmark itself: into an empty cache, and into one
// that already holds a million rows.
void ingestOnce(benchmark::internal::Benchmark *benchmark)
{
    benchmark->ArgName("events")->Arg(300'000)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
}
BENCHMARK_CAPTURE(workerIngestMax, empty, false)->Name("BM_WorkerIngestMax")->Apply(ingestOnce);
BENCHMARK_CAPTURE(workerIngestMax, million, true)->Name("BM_WorkerIngestIntoMillion")->Apply(ingestOnce);

// --- Ingest through the worker thread with both views live --------------------------------

// The GUI thread offers events at a fixed rate (generating them stands in for the JSON parsing
// ApiClient does there) to the CacheWorker, while a FeedModel and a DecisionsModel follow the
// newest rows in real QTableViews. Reports what the worker committed per second, the backlog
// left when the offer stops, and the GUI event loop's latency (lateness of a 5 ms timer).
void BM_WorkerIngestLive(benchmark::State &state)
{
    const int offeredPerSecond = int(state.range(0));
    const int seconds = 8;
    const EventMix &mix = EventMix::instance();
    for (auto _ : state) {
        QTemporaryDir dir(benchDir() + QStringLiteral("/live-XXXXXX"));
        CacheThread thread(dir.filePath(QStringLiteral("cache.sqlite")));
        CacheWorker *worker = thread.worker();
        qint64 committed = 0;
        QObject context;
        QObject::connect(worker, &CacheWorker::ingested, &context,
                         [&](const QString &, qint64 lastSeq) { committed = lastSeq; });
        thread.start();
        FeedModel feed(worker);
        DecisionsModel decisions(worker);
        QTableView feedView, decisionsView;
        feedView.setModel(&feed);
        decisionsView.setModel(&decisions);
        for (QTableView *view : {&feedView, &decisionsView}) {
            view->resize(1000, 500);
            view->verticalHeader()->setDefaultSectionSize(20);
            view->show();
        }
        QObject::connect(&feed, &FeedModel::rowsAppended, &feedView, [&] { feedView.scrollToBottom(); });
        QObject::connect(&decisions, &DecisionsModel::rowsAppended, &decisionsView,
                         [&] { decisionsView.scrollToBottom(); });

        // Offer events every 5 ms; measure how late each tick is.
        QList<double> lateness;
        qint64 seq = 0;
        QElapsedTimer clock;
        clock.start();
        qint64 lastTick = 0;
        QTimer producer;
        producer.setTimerType(Qt::PreciseTimer);
        QObject::connect(&producer, &QTimer::timeout, &context, [&] {
            const qint64 now = clock.nsecsElapsed();
            if (lastTick)
                lateness.append(qMax(0.0, double(now - lastTick) / 1e6 - 5.0));
            lastTick = now;
            const qint64 due = qint64(double(offeredPerSecond) * double(now) / 1e9);
            QList<QJsonObject> chunk;
            while (seq < due)
                chunk.append(mix.event(++seq, 1'790'000'000'000 + now / 1'000'000));
            if (!chunk.isEmpty())
                QMetaObject::invokeMethod(worker, [worker, chunk] { worker->ingest(kNode, chunk); });
        });
        producer.start(5);
        waitFor([&] { return clock.elapsed() >= seconds * 1000; }, seconds * 1000 + 5000);
        producer.stop();
        const double offerSeconds = double(clock.nsecsElapsed()) / 1e9;
        const qint64 offered = seq;
        const qint64 backlog = offered - committed;
        waitFor([&] { return committed >= offered; }, 120000);
        const double drainSeconds = double(clock.nsecsElapsed()) / 1e9;
        waitFor([&] { return feed.rowCount() >= offered * 5 / 6 - 10; }, 10000);
        std::sort(lateness.begin(), lateness.end());
        const auto percentile = [&](double p) {
            return lateness.isEmpty()
                       ? 0.0
                       : lateness.at(qMin(lateness.size() - 1, qsizetype(p * lateness.size())));
        };
        state.SetIterationTime(drainSeconds);
        state.counters["offered/s"] = double(offered) / offerSeconds;
        state.counters["committed/s"] = double(offered) / drainSeconds;
        state.counters["backlog_at_stop"] = double(backlog);
        state.counters["gui_p50_ms"] = percentile(0.50);
        state.counters["gui_p99_ms"] = percentile(0.99);
        state.counters["gui_max_ms"] = lateness.isEmpty() ? 0.0 : lateness.last();
        state.counters["feed_rows"] = feed.rowCount();
        state.counters["rss_mb"] = rssMb();
        thread.stop();
    }
}
BENCHMARK(BM_WorkerIngestLive)
    ->ArgName("offered_per_s")
    ->Arg(20000)
    ->Arg(30000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

// --- A cache of 1,000,000 decisions ------------------------------------------------------

// Builds it once (1M write_off_issued + 1M decision_made through HistoryCache::ingest), and
// records the process's RSS as it grows.
QString millionCache(QString *growth)
{
    const QString path = benchDir() + QStringLiteral("/console-1m.sqlite");
    {
        HistoryCache cache;
        QString error;
        if (QFile::exists(path) && cache.open(path, &error) && cache.decisionCount({}).count == kMillion)
            return path;
    }
    QFile::remove(path);
    QFile::remove(path + QStringLiteral("-wal"));
    QFile::remove(path + QStringLiteral("-shm"));
    HistoryCache cache;
    QString error;
    if (!cache.open(path, &error))
        qFatal("%s", qPrintable(error));
    const EventMix &mix = EventMix::instance();
    QElapsedTimer clock;
    clock.start();
    qint64 seq = 0;
    QList<QJsonObject> batch;
    for (qint64 i = 0; i < kMillion; ++i) {
        // The mix's issued (slot 0) and decision (slot 5) events of write-off i.
        const qint64 base = (i / 50) * 301 + (i % 50) * 6;
        QJsonObject issued = mix.event(base + 1, 1'790'000'000'000 + i * 10);
        QJsonObject decided = mix.event(base + 6, 1'790'000'000'000 + i * 10 + 5);
        issued.insert(QStringLiteral("seq"), ++seq);
        decided.insert(QStringLiteral("seq"), ++seq);
        batch << issued << decided;
        if (batch.size() >= 2000) {
            cache.ingest(kNode, batch);
            batch.clear();
        }
        if ((i + 1) % 250'000 == 0 && growth)
            *growth += QStringLiteral("%1 decisions: RSS %2 MB after %3 s; ")
                           .arg(i + 1)
                           .arg(rssMb(), 0, 'f', 1)
                           .arg(double(clock.elapsed()) / 1000.0, 0, 'f', 1);
    }
    cache.ingest(kNode, batch);
    return path;
}

void BM_OpenMillionDecisions(benchmark::State &state)
{
    QString growth;
    const QString path = millionCache(&growth);
    if (!growth.isEmpty())
        state.SetLabel(growth.toStdString());
    const bool newest = state.range(0) != 0;
    const bool cold = state.range(1) != 0;
    const double rssBefore = rssMb();
    double feedMs = 0, decisionsMs = 0;
    for (auto _ : state) {
        if (cold) {
            // Evict this file (only) from the OS page cache: a console started after a reboot.
            for (const QString &file : {path, path + QStringLiteral("-wal")}) {
                QFile f(file);
                if (f.open(QIODevice::ReadOnly))
                    posix_fadvise(f.handle(), 0, 0, POSIX_FADV_DONTNEED);
            }
        }
        QElapsedTimer clock;
        clock.start();
        // What the console does at startup: open the cache on its thread, put both tables up.
        CacheThread thread(path);
        CacheWorker *worker = thread.worker();
        thread.start();
        FeedModel feed(worker);
        DecisionsModel decisions(worker);
        QTableView feedView, decisionsView;
        feedView.setModel(&feed);
        decisionsView.setModel(&decisions);
        for (QTableView *view : {&feedView, &decisionsView}) {
            view->resize(1000, 600);
            view->verticalHeader()->setDefaultSectionSize(20);
            view->show();
        }
        if (newest) {
            QObject::connect(&feed, &FeedModel::countReady, &feedView, [&] { feedView.scrollToBottom(); });
            QObject::connect(&decisions, &DecisionsModel::countReady, &decisionsView,
                             [&] { decisionsView.scrollToBottom(); });
        }
        // Painted: rows counted, and every visible row's real data in the table.
        const auto painted = [](QTableView &view, int role) {
            const QAbstractItemModel *model = view.model();
            if (model->rowCount() == 0)
                return false;
            const int top = view.rowAt(0);
            const int bottom = view.rowAt(view.viewport()->height() - 2);
            if (top < 0)
                return false;
            for (int row : {top, bottom < 0 ? model->rowCount() - 1 : bottom}) {
                if (!model->index(row, 0).data(role).toBool())
                    return false;
            }
            view.grab();
            return true;
        };
        bool feedDone = false, decisionsDone = false;
        waitFor([&] {
            if (!feedDone && painted(feedView, FeedModel::LoadedRole)) {
                feedDone = true;
                feedMs = double(clock.nsecsElapsed()) / 1e6;
            }
            if (!decisionsDone && painted(decisionsView, DecisionsModel::LoadedRole)) {
                decisionsDone = true;
                decisionsMs = double(clock.nsecsElapsed()) / 1e6;
            }
            return feedDone && decisionsDone;
        });
        state.SetIterationTime(double(clock.nsecsElapsed()) / 1e9);
        state.counters["decisions"] = decisions.rowCount();
        state.counters["feed_rows"] = feed.rowCount();
        thread.stop();
    }
    state.counters["feed_first_paint_ms"] = feedMs;
    state.counters["decisions_first_paint_ms"] = decisionsMs;
    state.counters["rss_mb"] = rssMb();
    state.counters["rss_growth_mb"] = rssMb() - rssBefore;
    state.counters["file_mb"] = double(QFileInfo(path).size()) / 1024.0 / 1024.0;
}
BENCHMARK(BM_OpenMillionDecisions)
    ->ArgNames({"newest", "cold"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Random jumps through both tables of the 1M cache (a scroll bar dragged around): the time
// until a jumped-to page shows, and the process's RSS, which the page LRU keeps flat.
void BM_JumpAroundMillion(benchmark::State &state)
{
    const QString path = millionCache(nullptr);
    CacheThread thread(path);
    CacheWorker *worker = thread.worker();
    thread.start();
    FeedModel feed(worker);
    DecisionsModel decisions(worker);
    if (state.range(0) != 0) {
        // The middle 60% of the feed by time, and the decided rows only.
        feed.setFilter(
            FeedFilter{.fromMs = 1'790'000'000'000 + 2'000'000, .toMs = 1'790'000'000'000 + 8'000'000});
        decisions.setFilter(DecisionFilter{.outcome = QStringLiteral("DECIDED")});
    }
    if (!waitFor([&] { return feed.rowCount() > 0 && decisions.rowCount() > 0; })) {
        state.SkipWithError("the cache did not open");
        return;
    }
    const double rssStart = rssMb();
    QList<double> feedJumps, decisionJumps;
    QRandomGenerator random(42);
    for (auto _ : state) {
        for (QAbstractItemModel *model :
             {static_cast<QAbstractItemModel *>(&feed), static_cast<QAbstractItemModel *>(&decisions)}) {
            const int row = int(random.bounded(model->rowCount()));
            const int role = model == &feed ? int(FeedModel::LoadedRole) : int(DecisionsModel::LoadedRole);
            QElapsedTimer clock;
            clock.start();
            model->index(row, 0).data();
            waitFor([&] { return model->index(row, 0).data(role).toBool(); });
            (model == &feed ? feedJumps : decisionJumps).append(double(clock.nsecsElapsed()) / 1e6);
        }
    }
    const auto percentile = [](QList<double> values, double p) {
        std::sort(values.begin(), values.end());
        return values.isEmpty() ? 0.0 : values.at(qMin(values.size() - 1, qsizetype(p * values.size())));
    };
    state.counters["feed_jump_p50_ms"] = percentile(feedJumps, 0.5);
    state.counters["feed_jump_p99_ms"] = percentile(feedJumps, 0.99);
    state.counters["decisions_jump_p50_ms"] = percentile(decisionJumps, 0.5);
    state.counters["decisions_jump_p99_ms"] = percentile(decisionJumps, 0.99);
    state.counters["feed_rows"] = feed.rowCount();
    state.counters["decisions"] = decisions.rowCount();
    state.counters["rss_start_mb"] = rssStart;
    state.counters["rss_end_mb"] = rssMb();
    thread.stop();
}
BENCHMARK(BM_JumpAroundMillion)
    ->ArgName("filtered")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(500)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

} // namespace

// --- The tally tracker on the GUI thread ------------------------------------------------------

// What the GUI thread does with every event besides handing it to the cache worker
// (MainWindow::onEvents): the tally tracker. With arg 1 the histogram is also redrawn for every
// changed tally, as the console did before it refreshed on a 100 ms timer; with arg 0 only the
// tracker runs, as it does now. items_per_second is events per second on one core.
void BM_TallyTrackerPerEvent(benchmark::State &state)
{
    const bool histogramPerEvent = state.range(0) != 0;
    const EventMix &mix = EventMix::instance();
    constexpr int kEvents = 301 * 200;
    QList<QJsonObject> events;
    events.reserve(kEvents);
    for (int i = 1; i <= kEvents; ++i)
        events.append(mix.event(i, 1'790'000'000'000 + i));
    TallyTracker tracker;
    tracker.setMembershipQuorum(4, 3);
    VoteHistogramWidget histogram;
    histogram.resize(700, 320);
    histogram.show();
    QObject context;
    if (histogramPerEvent)
        QObject::connect(&tracker, &TallyTracker::tallyChanged, &context, [&](const QString &digest) {
            histogram.setTally(tracker.tally(digest));
            histogram.repaint();
        });
    qint64 applied = 0;
    for (auto _ : state) {
        for (const QJsonObject &event : std::as_const(events))
            benchmark::DoNotOptimize(tracker.applyEvent(event, QStringLiteral("coordinator-1")));
        applied += kEvents;
    }
    state.SetItemsProcessed(applied);
}
BENCHMARK(BM_TallyTrackerPerEvent)
    ->ArgName("histogram_per_event")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);

int main(int argc, char **argv)
{
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
