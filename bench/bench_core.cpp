// Core benchmarks: Ed25519 (libsodium, OpenSSL, ticketsync's scheme), tallying, certificate
// verification and ledger appends. Speed is measured here and never asserted anywhere;
// docs/performance.md records a run and how to reproduce it.
//
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DTICKETSYNC_BUILD_TESTS=OFF
//   cmake --build build-bench --target bench_core -j2
//   ./build-bench/bench/bench_core --benchmark_min_time=1
//
// Absolute rates depend on the machine and on what else runs; compare ratios within one run.

#include "Block.h"
#include "ChainVerifier.h"
#include "Decision.h"
#include "Ed25519.h"
#include "LedgerStore.h"
#include "SampleConsortium.h"
#include "Tally.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtGlobal>

#include <benchmark/benchmark.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

using namespace ticketsync;

namespace {

// ---------------------------------------------------------------------------------------
// Fixtures: deterministic consortia and pre-signed objects, built once outside timing.

constexpr qint64 kIssuedAtMs = 1795651200000; // 2026-11-26T00:00:00Z
constexpr qint64 kDecidedAtMs = kIssuedAtMs + 250;

const SampleConsortium &consortium(int targets)
{
    static std::mutex mutex;
    static std::map<int, std::unique_ptr<SampleConsortium>> byTargets;
    const std::lock_guard<std::mutex> guard(mutex);
    auto &slot = byTargets[targets];
    if (!slot) {
        SampleConsortium::Options options;
        options.label = QStringLiteral("ticketsync-bench");
        options.targets = targets;
        slot = std::make_unique<SampleConsortium>(SampleConsortium::generate(options));
    }
    return *slot;
}

QString ticketId(int index)
{
    return QStringLiteral("T-%1").arg(index, 7, 10, QLatin1Char('0'));
}

// A write-off as a branch sends it; the client reference brings the signing payload to
// about 150 bytes, the size of a real one with an ERP reference attached.
WriteOffResult makeWriteOff(const SampleConsortium &sample, int index)
{
    return sample.writeOff(
        QStringLiteral("branch-1"), ticketId(index), 1, SampleConsortium::faceAmountMinor(index),
        QStringLiteral("CNY"), kIssuedAtMs + index,
        QStringLiteral("ERP-2026-11/settlement-batch-0042/line-%1").arg(index, 6, 10, QLatin1Char('0')));
}

// A DECIDED certificate: the first q targets confirm WRITTEN_OFF.
Decision makeDecision(const SampleConsortium &sample, int index)
{
    Tally tally(sample.membership, makeWriteOff(sample, index));
    const QStringList targets = sample.targetIds();
    for (const QString &target : targets) {
        if (tally.isFinal())
            break;
        tally.add(sample.confirm(target, tally.writeOff(), ConfirmationState::WrittenOff));
    }
    if (tally.status() != Tally::Status::Decided)
        throw std::runtime_error("fixture: the tally did not decide");
    return tally.decision(kDecidedAtMs + index);
}

// Certificates for the write-offs 1 to count of the n = 4 consortium.
QList<Decision> makeDecisions(int count)
{
    QList<Decision> result;
    result.reserve(count);
    for (int i = 1; i <= count; ++i)
        result.append(makeDecision(consortium(4), i));
    return result;
}

// The message signed and verified in the Ed25519 benchmarks.
const QByteArray &signingPayload()
{
    static const QByteArray payload = makeWriteOff(consortium(4), 1).signingBytes();
    return payload;
}

const KeyPair &branchKey()
{
    static const KeyPair key = consortium(4).keys.value(QStringLiteral("branch-1"));
    return key;
}

const unsigned char *uchars(const QByteArray &bytes)
{
    return reinterpret_cast<const unsigned char *>(bytes.constData());
}

// Verification is variable-time: one signature checked again and again lets the branch
// predictor learn its path and runs 5-7% faster than the distinct signatures a node sees
// (bench_network measures both). The verify benchmarks and the bounds cycle through these.
struct SignedMessage
{
    QByteArray message;
    QByteArray signature;
    QByteArray publicKey;
};
constexpr int kSignedMessages = 1024; // a power of two: the index wraps with a mask

const std::vector<SignedMessage> &signedMessages()
{
    static const std::vector<SignedMessage> messages = [] {
        const SampleConsortium &sample = consortium(4);
        QStringList signers = sample.keys.keys();
        signers.sort();
        std::vector<SignedMessage> result;
        result.reserve(kSignedMessages);
        for (int i = 0; i < kSignedMessages; ++i) {
            const KeyPair &key = sample.keys.value(signers.at(i % signers.size()));
            const QByteArray message = makeWriteOff(sample, i + 1).signingBytes();
            result.push_back({message, Ed25519Sodium().sign(key, message), key.publicKey});
        }
        return result;
    }();
    return messages;
}

struct PkeyFree
{
    void operator()(EVP_PKEY *key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree
{
    void operator()(EVP_MD_CTX *context) const { EVP_MD_CTX_free(context); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// ---------------------------------------------------------------------------------------
// Ed25519, side by side. Each thread prepares its own keys before the timed loop.

void BM_Ed25519_Sign_Sodium(benchmark::State &state)
{
    const QByteArray &message = signingPayload();
    unsigned char publicKey[crypto_sign_PUBLICKEYBYTES];
    unsigned char secretKey[crypto_sign_SECRETKEYBYTES]; // seed || public key, as libsodium wants it
    crypto_sign_seed_keypair(publicKey, secretKey, uchars(branchKey().secretKey));
    unsigned char signature[crypto_sign_BYTES];
    for (auto _ : state) {
        crypto_sign_detached(signature, nullptr, uchars(message), size_t(message.size()), secretKey);
        benchmark::DoNotOptimize(signature);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["msg_bytes"] = benchmark::Counter(double(message.size()), benchmark::Counter::kAvgThreads);
}

void BM_Ed25519_Verify_Sodium(benchmark::State &state)
{
    const std::vector<SignedMessage> &signedSet = signedMessages();
    int i = 0;
    for (auto _ : state) {
        const SignedMessage &m = signedSet[size_t(i++ & (kSignedMessages - 1))];
        const int rc = crypto_sign_verify_detached(uchars(m.signature), uchars(m.message),
                                                   size_t(m.message.size()), uchars(m.publicKey));
        if (rc != 0)
            state.SkipWithError("libsodium verify failed");
        benchmark::DoNotOptimize(rc);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_Ed25519_Sign_OpenSsl(benchmark::State &state)
{
    const QByteArray &message = signingPayload();
    const Pkey key(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, uchars(branchKey().secretKey), 32));
    unsigned char signature[64];
    for (auto _ : state) {
        // Ed25519 is one-shot in OpenSSL: a context cannot sign twice without a new init.
        const MdCtx context(EVP_MD_CTX_new());
        size_t length = sizeof signature;
        if (EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
            EVP_DigestSign(context.get(), signature, &length, uchars(message), size_t(message.size())) != 1)
            state.SkipWithError("OpenSSL sign failed");
        benchmark::DoNotOptimize(signature);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_Ed25519_Verify_OpenSsl(benchmark::State &state)
{
    const std::vector<SignedMessage> &signedSet = signedMessages();
    std::vector<Pkey> keys; // built untimed, one per message
    keys.reserve(signedSet.size());
    for (const SignedMessage &m : signedSet)
        keys.emplace_back(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, uchars(m.publicKey), 32));
    int i = 0;
    for (auto _ : state) {
        const size_t at = size_t(i++ & (kSignedMessages - 1));
        const SignedMessage &m = signedSet[at];
        const MdCtx context(EVP_MD_CTX_new());
        if (EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, keys[at].get()) != 1 ||
            EVP_DigestVerify(context.get(), uchars(m.signature), 64, uchars(m.message),
                             size_t(m.message.size())) != 1)
            state.SkipWithError("OpenSSL verify failed");
    }
    state.SetItemsProcessed(state.iterations());
}

// Through the SignatureScheme interface, as ticketsync calls it: QByteArray in and out,
// keys as raw bytes. standard() is libsodium.
void BM_Ed25519_Sign_Scheme(benchmark::State &state)
{
    const SignatureScheme &scheme = SignatureScheme::standard();
    const QByteArray &message = signingPayload();
    const KeyPair key = branchKey();
    for (auto _ : state)
        benchmark::DoNotOptimize(scheme.sign(key, message));
    state.SetItemsProcessed(state.iterations());
}

void verifyThroughScheme(benchmark::State &state, const SignatureScheme &scheme)
{
    const std::vector<SignedMessage> &signedSet = signedMessages();
    int i = 0;
    for (auto _ : state) {
        const SignedMessage &m = signedSet[size_t(i++ & (kSignedMessages - 1))];
        if (!scheme.verify(m.publicKey, m.message, m.signature))
            state.SkipWithError("verify failed");
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_Ed25519_Verify_Scheme(benchmark::State &state)
{
    verifyThroughScheme(state, SignatureScheme::standard());
}

// ticketsync's OpenSSL implementation, which builds the EVP_PKEY from raw bytes on every call
// (for signing that includes deriving the public key: one more scalar multiplication).
void BM_Ed25519_Sign_SchemeOpenSsl(benchmark::State &state)
{
    const Ed25519OpenSsl scheme;
    const QByteArray &message = signingPayload();
    const KeyPair key = branchKey();
    for (auto _ : state)
        benchmark::DoNotOptimize(scheme.sign(key, message));
    state.SetItemsProcessed(state.iterations());
}

void BM_Ed25519_Verify_SchemeOpenSsl(benchmark::State &state)
{
    verifyThroughScheme(state, Ed25519OpenSsl());
}

BENCHMARK(BM_Ed25519_Sign_Sodium)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Ed25519_Sign_OpenSsl)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Ed25519_Sign_Scheme)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Ed25519_Sign_SchemeOpenSsl)->Threads(1)->UseRealTime();
BENCHMARK(BM_Ed25519_Verify_Sodium)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Ed25519_Verify_OpenSsl)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Ed25519_Verify_Scheme)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Ed25519_Verify_SchemeOpenSsl)->Threads(1)->UseRealTime();

// ---------------------------------------------------------------------------------------
// Tally: one write-off from construction to a DECIDED certificate. Every counted vote
// costs one signature verification; a tally for n targets needs q of them.

void BM_Tally(benchmark::State &state)
{
    const int targets = int(state.range(0));
    const SampleConsortium &sample = consortium(targets);
    const WriteOffResult writeOff = makeWriteOff(sample, 1);
    QList<StateConfirmation> confirmations;
    for (const QString &target : sample.targetIds())
        confirmations.append(sample.confirm(target, writeOff, ConfirmationState::WrittenOff));
    qint64 votes = 0;
    for (auto _ : state) {
        Tally tally(sample.membership, writeOff);
        for (const StateConfirmation &confirmation : std::as_const(confirmations)) {
            if (tally.isFinal())
                break;
            tally.add(confirmation);
            ++votes;
        }
        if (tally.status() != Tally::Status::Decided)
            state.SkipWithError("the tally did not decide");
        benchmark::DoNotOptimize(tally.decision(kDecidedAtMs));
    }
    state.SetItemsProcessed(state.iterations()); // tallies
    state.counters["votes_per_second"] = benchmark::Counter(double(votes), benchmark::Counter::kIsRate);
    state.counters["q"] = benchmark::Counter(sample.membership.quorum(), benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_Tally)->ArgName("n")->Arg(4)->Arg(7)->Threads(1)->Threads(2)->UseRealTime();

// ---------------------------------------------------------------------------------------
// Certificate verification. A DECIDED n = 4 certificate carries q = 3 confirmations plus
// the branch signature on the write-off: 4 verifications. Its bound is the verify rate
// divided by 4; "bound_per_core" is that, from a short libsodium verify run in this process.

double verifyRateOneCore()
{
    static const double rate = [] {
        const std::vector<SignedMessage> &signedSet = signedMessages();
        const auto start = std::chrono::steady_clock::now();
        qint64 done = 0;
        std::chrono::duration<double> elapsed{};
        do {
            for (const SignedMessage &m : signedSet)
                done += crypto_sign_verify_detached(uchars(m.signature), uchars(m.message),
                                                    size_t(m.message.size()), uchars(m.publicKey)) == 0;
            elapsed = std::chrono::steady_clock::now() - start;
        } while (elapsed.count() < 0.5);
        return double(done) / elapsed.count();
    }();
    return rate;
}

constexpr int kSignaturesPerCertificate = 4; // n = 4: 3 confirmations + the branch's

// Distinct certificates, for the same reason as signedMessages().
constexpr int kBatchDecisions = 2000;

const QList<Decision> &decisionBatch()
{
    static const QList<Decision> batch = makeDecisions(kBatchDecisions);
    return batch;
}

void BM_VerifyCertificate(benchmark::State &state)
{
    const SampleConsortium &sample = consortium(4);
    const QList<Decision> &batch = decisionBatch();
    const double bound = verifyRateOneCore() / kSignaturesPerCertificate;
    qsizetype next = 0;
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) {
        const QString problem = batch.at(next).verifyCertificate(sample.membership);
        next = next + 1 == batch.size() ? 0 : next + 1;
        if (!problem.isEmpty())
            state.SkipWithError("certificate does not verify");
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    state.SetItemsProcessed(state.iterations()); // certificates
    state.counters["sigs_per_second"] = benchmark::Counter(
        double(state.iterations()) * kSignaturesPerCertificate, benchmark::Counter::kIsRate);
    // Every thread reports its own share; averaged over threads this is the per-core figure.
    state.counters["bound_per_core"] = benchmark::Counter(bound, benchmark::Counter::kAvgThreads);
    state.counters["pct_of_bound"] = benchmark::Counter(
        100.0 * double(state.iterations()) / elapsed.count() / bound, benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_VerifyCertificate)->Threads(1)->Threads(2)->UseRealTime();

// ChainVerifier::verifyCertificates over a batch, with its own worker threads.

void BM_ChainVerifyCertificates(benchmark::State &state)
{
    const int threads = int(state.range(0));
    const SampleConsortium &sample = consortium(4);
    const QList<Decision> &batch = decisionBatch();
    const ChainVerifier verifier(sample.membership, threads);
    const double bound = verifyRateOneCore() / kSignaturesPerCertificate;
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) {
        QString problem;
        if (verifier.verifyCertificates(batch, &problem) != -1)
            state.SkipWithError("batch does not verify");
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    const double rate = double(state.iterations()) * double(batch.size()) / elapsed.count();
    state.SetItemsProcessed(state.iterations() * batch.size()); // certificates
    state.counters["bound_per_core"] = bound;
    state.counters["pct_of_bound"] = 100.0 * rate / (bound * threads);
}
BENCHMARK(BM_ChainVerifyCertificates)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------
// Block append: pre-built, sealed blocks of DECIDED certificates into a fresh SQLite file
// (WAL, synchronous=FULL) on the real disk. Each iteration opens a new database with the
// ticket registry imported (untimed), appends the whole chain (timed) and closes it (untimed).

constexpr int kChainDecisions = 10000;

struct Chain
{
    QList<Block> blocks;
    QList<Ticket> tickets;
};

const Chain &chainOf(int decisionsPerBlock)
{
    static std::mutex mutex;
    static std::map<int, std::unique_ptr<Chain>> bySize;
    const std::lock_guard<std::mutex> guard(mutex);
    auto &slot = bySize[decisionsPerBlock];
    if (slot)
        return *slot;
    static const QList<Decision> decisions = makeDecisions(kChainDecisions);
    const SampleConsortium &sample = consortium(4);
    auto chain = std::make_unique<Chain>();
    QByteArray previous = Block::genesisPreviousHash();
    for (int first = 0; first < kChainDecisions; first += decisionsPerBlock) {
        Block block;
        block.height = quint64(chain->blocks.size()) + 1;
        block.previousHash = previous;
        block.membershipHash = sample.membership.hash();
        block.timestampMs = kDecidedAtMs + first;
        block.coordinatorId = sample.coordinatorId();
        block.decisions = decisions.mid(first, decisionsPerBlock);
        block.seal(sample.keys.value(sample.coordinatorId()));
        previous = block.hash();
        chain->blocks.append(block);
    }
    for (const Ticket &ticket : SampleConsortium::tickets(kChainDecisions)) {
        Ticket renamed = ticket;
        renamed.id = ticketId(int(chain->tickets.size()) + 1);
        chain->tickets.append(renamed);
    }
    slot = std::move(chain);
    return *slot;
}

void BM_AppendBlocks(benchmark::State &state)
{
    const int decisionsPerBlock = int(state.range(0));
    const int blocksPerCall = int(state.range(1));
    const Chain &chain = chainOf(decisionsPerBlock);
    QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/ticketsync-bench-XXXXXX"));
    if (!dir.isValid()) {
        state.SkipWithError("no temporary directory");
        return;
    }
    int run = 0;
    for (auto _ : state) {
        state.PauseTiming();
        QString error;
        const QString path = dir.filePath(QStringLiteral("ledger-%1.sqlite").arg(++run));
        std::unique_ptr<LedgerStore> store = LedgerStore::open(path, &error);
        if (!store || !store->importTickets(chain.tickets, &error)) {
            state.SkipWithError("cannot prepare the store");
            break;
        }
        state.ResumeTiming();
        for (qsizetype at = 0; at < chain.blocks.size(); at += blocksPerCall) {
            if (!store->appendBlocks(chain.blocks.mid(at, blocksPerCall), &error)) {
                state.SkipWithError("appendBlocks failed");
                break;
            }
        }
        state.PauseTiming();
        if (run == 1) {
            // Not a timing check: the rows must be there, keyed by the write-off digest.
            const WriteOffResult &last = chain.blocks.last().decisions.last().writeOff;
            if (store->height() != quint64(chain.blocks.size()) || !store->decidedState(last.digest()))
                state.SkipWithError("the appended chain is not in the store");
        }
        store.reset();
        QFile::remove(path);
        QFile::remove(path + QStringLiteral("-wal"));
        QFile::remove(path + QStringLiteral("-shm"));
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * kChainDecisions); // decisions
    state.counters["commits_per_iter"] = double((chain.blocks.size() + blocksPerCall - 1) / blocksPerCall);
}
BENCHMARK(BM_AppendBlocks)
    ->ArgNames({"per_block", "blocks_per_call"})
    ->Args({500, 1})
    ->Args({500, 4})
    ->Args({500, 20})
    ->Args({2000, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

} // namespace

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        std::fprintf(stderr, "libsodium failed to initialise\n");
        return 1;
    }
    benchmark::AddCustomContext("qt", QT_VERSION_STR);
    benchmark::AddCustomContext("openssl", OpenSSL_version(OPENSSL_VERSION));
    benchmark::AddCustomContext("libsodium", sodium_version_string());
    benchmark::AddCustomContext("sqlite", sqlite3_libversion());
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
