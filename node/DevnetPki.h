#pragma once

#include <QList>
#include <QString>
#include <QStringView>
#include <optional>

namespace ticketsync {

// The kind of party a TLS certificate names; carried in the certificate's subject OU.
enum class PartyKind
{
    Node,
    Operator,
    Auditor
};

QString partyKindName(PartyKind kind); // "node", "operator", "auditor"
// The inverse of partyKindName(); nullopt for anything else (case-sensitive).
std::optional<PartyKind> partyKindFromName(QStringView name);

struct PartySpec
{
    QString name; // becomes the subject CN and the file names; [A-Za-z0-9][A-Za-z0-9._-]*, at most 64
    PartyKind kind;
};

// A private consortium CA for development networks and tests, written as PEM files:
//   dir/ca.pem, dir/ca.key                      the CA (P-256, CA:TRUE, keyCertSign, 10 years)
//   dir/<name>.pem, dir/<name>.key              one pair per party (P-256, 825 days, CN=<name>,
//                                               OU=<kind>, O=<consortium>, SAN localhost/127.0.0.1,
//                                               serverAuth+clientAuth, CA:FALSE)
//   dir/<name>.p12                              operator and auditor parties only, for the console
// Keys are unencrypted PKCS#8 PEM with mode 0600; every file is written atomically.
class DevnetPki
{
public:
    // Creates the CA unless dir/ca.pem and dir/ca.key exist and are valid, then issues each party
    // that has no valid pair yet (valid: matching key, signed by this CA, CN/OU/O as asked, more
    // than 30 days left). Reuses everything that is valid, so a second run changes no file.
    // An existing, valid CA of another consortium (different O) is an error, never overwritten.
    static bool ensure(const QString &dir, const QString &consortium, const QList<PartySpec> &parties,
                       const QString &p12Password, QString *error);
    // Whether dir holds a usable CA of this consortium: ca.pem and ca.key present, readable and a
    // matching pair, a CA certificate that has not expired, subject O equal to consortium. Reads
    // only; on false, *error is one line naming the file and the problem.
    static bool checkCa(const QString &dir, const QString &consortium, QString *error);
    // Issues (or re-issues) one certificate under the existing CA in dir; the consortium is the
    // CA's O. Writes dir/<name>.pem and dir/<name>.key, no .p12.
    static bool issue(const QString &dir, const PartySpec &party, QString *error);
};

} // namespace ticketsync
