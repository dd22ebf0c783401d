#pragma once

#include "Membership.h"
#include "StateConfirmation.h"
#include "Ticket.h"
#include "WriteOffResult.h"

#include <QHash>

namespace ticketsync {

// A generated consortium for the demo, tests, benchmarks and the worked example in
// docs/protocol.md. Keys are derived from a label (SHA-256 of "<label>/<node id>"), so the
// same label always gives the same keys and bytes. Never use derived keys in production:
// `ticketsync keygen` draws them from the system's random source.
struct SampleConsortium
{
    struct Options
    {
        QString label = QStringLiteral("ticketsync-sample");
        int branches = 2;
        int targets = 4;
        int receivers = 3;
        QuorumPolicy policy;
        quint16 basePort = 7400;
    };

    Membership membership;
    QHash<QString, KeyPair> keys; // by node id

    static SampleConsortium generate(const Options &options);
    static SampleConsortium generate() { return generate(Options()); }

    // Node ids as generated: coordinator-1, branch-1.., target-1.., receiver-1..
    QString coordinatorId() const { return QStringLiteral("coordinator-1"); }
    QStringList targetIds() const;
    QStringList branchIds() const;

    // A signed write-off from the given branch.
    WriteOffResult writeOff(const QString &branchId, const QString &ticketId, quint32 version,
                            qint64 amountMinor, const QString &currency, qint64 issuedAtMs,
                            const QString &clientReference = {}) const;
    // A signed confirmation from the given target.
    StateConfirmation confirm(const QString &targetId, const WriteOffResult &writeOff,
                              ConfirmationState state, const QString &reason = {}) const;

    // count tickets with ids "T-000001".., deterministic amounts in CNY.
    static QList<Ticket> tickets(int count);
    // Ticket number n of tickets(): its id and face amount, for clients that submit
    // write-offs against that registry without holding it (devnet, tests, benchmarks).
    static QString ticketId(int number);
    static qint64 faceAmountMinor(int number);
};

} // namespace ticketsync
