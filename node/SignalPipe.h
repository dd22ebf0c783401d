#pragma once

#include <QList>
#include <QObject>
#include <QString>
#include <initializer_list>
#include <utility>

class QSocketNotifier;

namespace ticketsync {

// Turns SIGINT, SIGTERM and the like into a Qt signal: the handler only writes the signal's
// number into a pipe (all it may safely do), and the event loop reads it. One per process at a
// time; destroying it restores the previous handlers.
class SignalPipe : public QObject
{
    Q_OBJECT

public:
    explicit SignalPipe(QObject *parent = nullptr);
    ~SignalPipe() override;

    // False with the reason if the pipe cannot be made or another SignalPipe is installed.
    bool install(std::initializer_list<int> numbers, QString *error = nullptr);

Q_SIGNALS:
    // Once per signal delivered.
    void received(int number);

private:
    int fds[2] = {-1, -1};
    QSocketNotifier *notifier = nullptr;
    QList<std::pair<int, void (*)(int)>> previous; // the handlers to restore
};

} // namespace ticketsync
