// The audit export's goal: 1,000,000 decisions to CSV in under 10 s. A cache with that many
// decisions is filled once by direct SQL (the CacheSchema tables, certificates left out as the
// CSV never reads them), then each iteration exports it to CSV through ReportWorker, the code
// the console runs on its export thread.
//
//   build/bench/bench_export [--decisions=N] [--benchmark_...]
#include "AuditBundle.h"
#include "CacheSchema.h"
#include "ReportWorker.h"
#include "Sha256.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <benchmark/benchmark.h>
#include <cstring>
#include <sqlite3.h>

using namespace ticketsync;

namespace {

int decisionCount = 1000000;
QTemporaryDir *workDir = nullptr;
QString cachePath;

void check(int rc, sqlite3 *db, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        qFatal("%s: %s", what, sqlite3_errmsg(db));
}

// Rows shaped like the devnet's: mostly WRITTEN_OFF, some other states and UNDETERMINED.
void fillCache(const QString &path, int count)
{
    sqlite3 *db = nullptr;
    check(sqlite3_open(path.toUtf8().constData(), &db), db, "open");
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF", nullptr, nullptr, nullptr), db,
          "pragma");
    check(sqlite3_exec(db, CacheSchema::kCreateV1, nullptr, nullptr, nullptr), db, "schema");
    check(sqlite3_exec(db, "PRAGMA user_version=1", nullptr, nullptr, nullptr), db, "version");
    sqlite3_stmt *insert = nullptr;
    check(sqlite3_prepare_v2(
              db,
              "INSERT INTO decisions (digest, node, ticket, version, branch, amount_minor, currency, "
              "outcome, state, count, n, q, missing, equivocating, histogram, issued_at_ms, "
              "decided_at_ms, latency_ms, height) VALUES (?, 'coordinator-1', ?, 1, ?, ?, 'CNY', ?, "
              "?, ?, 4, 3, ?, 0, ?, ?, ?, ?, ?)",
              -1, &insert, nullptr),
          db, "prepare");
    check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
    const qint64 start = 1717200000000;
    for (int i = 0; i < count; ++i) {
        const QByteArray digest = sha256(QByteArray::number(i));
        const QByteArray ticket = "BA-2024-" + QByteArray::number(i).rightJustified(7, '0');
        const QByteArray branch = i % 3 == 0 ? "branch-1" : "branch-2";
        const bool undetermined = i % 97 == 0;
        const int state = undetermined ? 0 : (i % 11 == 0 ? 2 : 1);
        const char *histogram =
            undetermined ? "{\"WRITTEN_OFF\":2,\"AMOUNT_MISMATCH\":1}" : "{\"WRITTEN_OFF\":3}";
        sqlite3_bind_blob(insert, 1, digest.constData(), int(digest.size()), SQLITE_TRANSIENT);
        sqlite3_bind_text(insert, 2, ticket.constData(), int(ticket.size()), SQLITE_TRANSIENT);
        sqlite3_bind_text(insert, 3, branch.constData(), int(branch.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(insert, 4, 100000 + qint64(i) * 37);
        sqlite3_bind_text(insert, 5, undetermined ? "UNDETERMINED" : "DECIDED", -1, SQLITE_STATIC);
        sqlite3_bind_int(insert, 6, state);
        sqlite3_bind_int(insert, 7, undetermined ? 2 : 3);
        sqlite3_bind_int(insert, 8, undetermined ? 1 : 1);
        sqlite3_bind_text(insert, 9, histogram, -1, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 10, start + qint64(i) * 10);
        sqlite3_bind_int64(insert, 11, start + qint64(i) * 10 + 1200);
        sqlite3_bind_int64(insert, 12, 1200 + i % 500);
        sqlite3_bind_int64(insert, 13, 1 + i / 100);
        check(sqlite3_step(insert), db, "insert");
        sqlite3_reset(insert);
    }
    sqlite3_finalize(insert);
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
    sqlite3_close(db);
}

// Exports every cached decision in one format; the counters say how many and how fast.
void exportAll(benchmark::State &state, ReportRequest::Format format, const QString &fileName)
{
    ReportRequest request;
    request.cachePath = cachePath;
    request.outputPath = workDir->filePath(fileName);
    request.format = format;
    qint64 rows = 0;
    qint64 bytes = 0;
    for (auto _ : state) {
        ReportWorker worker(request, nullptr);
        const ReportWorker::Result result = worker.execute();
        if (!result.ok) {
            state.SkipWithError(result.error.toUtf8().constData());
            return;
        }
        rows = result.decisions;
        bytes = QFileInfo(request.outputPath).size();
    }
    state.counters["decisions"] = double(rows);
    state.counters["decisions_per_s"] =
        benchmark::Counter(double(rows), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["file_MB"] = double(bytes) / 1e6;
}

void BM_ExportCsv(benchmark::State &state)
{
    exportAll(state, ReportRequest::Format::Csv, QStringLiteral("decisions.csv"));
}
BENCHMARK(BM_ExportCsv)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// For comparison: the same rows as a JSON bundle (no certificates cached, so no signatures).
void BM_ExportBundle(benchmark::State &state)
{
    exportAll(state, ReportRequest::Format::JsonBundle, QStringLiteral("decisions.json"));
}
BENCHMARK(BM_ExportBundle)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

} // namespace

int main(int argc, char **argv)
{
    // Our own flag first, so Google Benchmark does not reject it.
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--decisions=", 12) == 0) {
            decisionCount = std::atoi(argv[i] + 12);
            for (int j = i; j + 1 < argc; ++j)
                argv[j] = argv[j + 1];
            --argc;
            --i;
        }
    }
    QCoreApplication app(argc, argv); // the SQLite driver is a plugin
    benchmark::Initialize(&argc, argv);
    QTemporaryDir dir;
    workDir = &dir;
    cachePath = dir.filePath(QStringLiteral("cache.sqlite"));
    QElapsedTimer timer;
    timer.start();
    fillCache(cachePath, decisionCount);
    benchmark::AddCustomContext(
        "cache",
        QStringLiteral("%1 decisions filled in %2 ms").arg(decisionCount).arg(timer.elapsed()).toStdString());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
