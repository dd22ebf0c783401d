#pragma once

#include <QJsonObject>
#include <QString>
#include <optional>

class QTextStream;

namespace ticketsync {

// The command-line run of the method on a generated sample consortium: every node's part
// (branch signing, each target's registry check under the per-ticket lock, the tally, the
// coordinator's blocks, the receivers' verification) played in one process, on real SQLite
// stores under the chosen directory. It is the main job until the node network exists.
class DemoRun
{
public:
    DemoRun(QString directory, int writeOffCount);

    // Prints the tallies and the chain to out (when given) and returns a summary.
    std::optional<QJsonObject> execute(QTextStream *out, QString *error);

private:
    QString dir;
    int count;
};

} // namespace ticketsync
