#include "SignalPipe.h"

#include <QSocketNotifier>
#include <QString>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace ticketsync {

namespace {

// The installed pipe's write end; the handler can reach nothing else.
int writeEnd = -1;

void onSignal(int number)
{
    const int saved = errno;
    const char byte = char(number);
    [[maybe_unused]] const ssize_t written = ::write(writeEnd, &byte, 1);
    errno = saved;
}

} // namespace

SignalPipe::SignalPipe(QObject *parent) : QObject(parent) {}

SignalPipe::~SignalPipe()
{
    for (const auto &[number, handler] : std::as_const(previous))
        std::signal(number, handler);
    if (fds[1] >= 0) {
        writeEnd = -1;
        delete notifier;
        ::close(fds[0]);
        ::close(fds[1]);
    }
}

bool SignalPipe::install(std::initializer_list<int> numbers, QString *error)
{
    if (writeEnd >= 0) {
        if (error)
            *error = QStringLiteral("another signal pipe is installed");
        return false;
    }
    // Close-on-exec: the child processes must not hold our ends. Non-blocking: a burst of
    // signals must never block the handler.
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        if (error)
            *error = QString::fromLocal8Bit(std::strerror(errno));
        fds[0] = fds[1] = -1;
        return false;
    }
    writeEnd = fds[1];
    notifier = new QSocketNotifier(fds[0], QSocketNotifier::Read, this);
    connect(notifier, &QSocketNotifier::activated, this, [this] {
        char byte = 0;
        if (::read(fds[0], &byte, 1) == 1)
            Q_EMIT received(int(byte));
    });
    for (const int number : numbers) {
        if (void (*const handler)(int) = std::signal(number, onSignal); handler != SIG_ERR)
            previous.append({number, handler});
    }
    return true;
}

} // namespace ticketsync
