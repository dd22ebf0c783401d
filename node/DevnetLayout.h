#pragma once

#include "Membership.h"

#include <QList>
#include <QString>
#include <optional>

namespace ticketsync {

// A complete local consortium on disk: CA and TLS certificates, signing keys, the membership,
// per-node configs and ticket registries. Used by `ticketsync devnet` and by the network tests.
struct DevnetOptions
{
    QString dir;
    QString consortium = QStringLiteral("ticketsync-devnet");
    int branches = 2;
    int targets = 4;
    int receivers = 3;
    quint16 basePort = 7400;
    int tickets = 20000;
    // This target's registry is out of date: some amounts differ and some tickets are missing,
    // so the histograms show real disagreement.
    QString staleTarget = QStringLiteral("target-4");
    int voteTimeoutMs = 1000;
    int retryLimit = 3;
    int retryBackoffMs = 250;
};

struct DevnetNode
{
    QString id;
    Roles roles;
    QString address;
    QString configPath;
    QString databasePath;
};

struct DevnetLayout
{
    QString dir;
    QString membershipPath;
    QString caPath;
    QString operatorCertificate, operatorKey, operatorPkcs12;
    QString auditorCertificate, auditorKey, auditorPkcs12;
    QString pkcs12Password;
    QList<DevnetNode> nodes; // coordinator first
    Membership membership;

    const DevnetNode *node(const QString &id) const;
    QStringList idsWithRole(Role role) const;

    // Creates what is missing and reuses what exists (keys, certificates, stores), so a
    // re-run continues the same ledger. Once a node keeps a ledger (DIR/nodes/<id>/ledger.sqlite),
    // the membership, every signing key it lists and the CA must be there and usable, and the
    // options must make the same membership; otherwise nothing is written and the error names the
    // file or the difference. On failure names the file and the problem.
    static std::optional<DevnetLayout> ensure(const DevnetOptions &options, QString *error);
    // Whether any node of the devnet in dir keeps a ledger already.
    static bool hasLedgers(const QString &dir);
    // A base port with count free loopback ports from it, for a devnet beside others (tests,
    // benchmarks); 0 if none was found. Another process may still take one before a node binds it.
    static quint16 freeBasePort(int count);
};

} // namespace ticketsync
