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

    // Why the directory is not the demo's to write, empty if it is: it holds another consortium's
    // membership.json (a devnet's, a bank's), which the demo would replace, and beside it stores
    // named like the demo's nodes' (coordinator-1.db, ...), which it would delete.
    QString foreignContents() const;

    // Prints the tallies and the chain to out (when given) and returns a summary.
    std::optional<QJsonObject> execute(QTextStream *out, QString *error);

private:
    QString dir;
    int count;
};

} // namespace ticketsync
