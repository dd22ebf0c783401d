// Does switching between processes slow Ed25519 verification down? Verifies 1,024 distinct
// libsodium signatures under 10 keys in a loop and reports verifies per CPU-second of the loop's
// own thread, so sharing a core does not count, only what the switches cost it.
//   bench_verify_switches [SECONDS] [LOOPS] [NEIGHBOUR_US]
// LOOPS verifying processes run at once (default 1). NEIGHBOUR_US > 0 adds a pipe ping-pong pair
// that wakes every NEIGHBOUR_US microseconds and writes 256 KiB on each turn, forcing context
// switches and dirtying caches (default 0: no neighbour).
#include <sodium.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

constexpr int kMessages = 1024;
constexpr int kKeys = 10;
constexpr size_t kMessageBytes = 138; // a real write-off's signing bytes
constexpr size_t kNeighbourBytes = 256 * 1024;

double threadCpuSeconds()
{
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return double(now.tv_sec) + double(now.tv_nsec) / 1e9;
}

int verifyLoop(double seconds)
{
    std::array<std::array<unsigned char, crypto_sign_PUBLICKEYBYTES>, kKeys> publicKeys{};
    std::array<std::array<unsigned char, crypto_sign_SECRETKEYBYTES>, kKeys> secretKeys{};
    for (int k = 0; k < kKeys; ++k)
        crypto_sign_keypair(publicKeys[k].data(), secretKeys[k].data());
    std::vector<std::array<unsigned char, kMessageBytes>> messages(kMessages);
    std::vector<std::array<unsigned char, crypto_sign_BYTES>> signatures(kMessages);
    for (int i = 0; i < kMessages; ++i) {
        randombytes_buf(messages[i].data(), kMessageBytes);
        crypto_sign_detached(signatures[i].data(), nullptr, messages[i].data(), kMessageBytes,
                             secretKeys[i % kKeys].data());
    }
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    const double cpuStart = threadCpuSeconds();
    long verified = 0;
    bool bad = false;
    while (std::chrono::steady_clock::now() < end) {
        for (int i = 0; i < kMessages; ++i, ++verified)
            bad |= crypto_sign_verify_detached(signatures[i].data(), messages[i].data(), kMessageBytes,
                                               publicKeys[i % kKeys].data()) != 0;
    }
    const double cpu = threadCpuSeconds() - cpuStart;
    std::printf("pid %d: %ld verifies, %.0f per CPU-second%s\n", int(getpid()), verified,
                double(verified) / cpu, bad ? " (A SIGNATURE FAILED)" : "");
    return bad ? 1 : 0;
}

// Two processes passing a byte back and forth, each writing 256 KiB per turn.
void neighbour(int sleepUs)
{
    int there[2], back[2];
    if (pipe(there) != 0 || pipe(back) != 0)
        std::exit(2);
    std::vector<char> memory(2 * kNeighbourBytes);
    char token = 0;
    if (fork() == 0) {
        for (;;) {
            if (read(there[0], &token, 1) != 1)
                std::_Exit(0);
            std::memset(memory.data(), token++, kNeighbourBytes);
            if (write(back[1], &token, 1) != 1)
                std::_Exit(0);
        }
    }
    for (;;) {
        if (write(there[1], &token, 1) != 1 || read(back[0], &token, 1) != 1)
            std::_Exit(0);
        std::memset(memory.data() + kNeighbourBytes, token, kNeighbourBytes);
        std::this_thread::sleep_for(std::chrono::microseconds(sleepUs));
    }
}

} // namespace

int main(int argc, char **argv)
{
    const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
    const int loops = argc > 2 ? std::atoi(argv[2]) : 1;
    const int neighbourUs = argc > 3 ? std::atoi(argv[3]) : 0;
    if (seconds <= 0 || loops < 1 || loops > 64 || neighbourUs < 0) {
        std::fprintf(stderr, "usage: bench_verify_switches [SECONDS>0] [LOOPS 1-64] [NEIGHBOUR_US>=0]\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 2;
    pid_t neighbourPid = 0;
    if (neighbourUs > 0 && (neighbourPid = fork()) == 0) {
        setpgid(0, 0); // its own group, so both halves are stopped together
        neighbour(neighbourUs);
    }
    std::vector<pid_t> children;
    for (int i = 0; i < loops; ++i) {
        const pid_t child = fork();
        if (child == 0)
            return verifyLoop(seconds);
        children.push_back(child);
    }
    int failed = 0;
    for (const pid_t child : children) {
        int status = 0;
        waitpid(child, &status, 0);
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    if (neighbourPid > 0) {
        kill(-neighbourPid, SIGKILL);
        waitpid(neighbourPid, nullptr, 0);
    }
    return failed;
}
