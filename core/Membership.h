#pragma once

#include "SignatureScheme.h"

#include <QByteArray>
#include <QFlags>
#include <QHash>
#include <QList>
#include <QString>
#include <optional>

namespace ticketsync {

enum class Role : quint8
{
    Branch = 0x01,
    Target = 0x02,
    Coordinator = 0x04,
    Receiver = 0x08,
};
Q_DECLARE_FLAGS(Roles, Role)
Q_DECLARE_OPERATORS_FOR_FLAGS(Roles)

QString roleName(Role role);
QStringList roleNames(Roles roles);
bool roleFromName(const QString &name, Role *role);

// How many matching confirmations decide a write-off, out of n target nodes.
// A ratio r gives q = floor(r*n) + 1 ("more than r of n"); the default r = 2/3 gives
// q = floor(2n/3) + 1, which tolerates floor((n-1)/3) faulty targets.
struct QuorumPolicy
{
    enum class Kind : quint8
    {
        Ratio = 1,
        Count = 2
    };

    Kind kind = Kind::Ratio;
    quint32 numerator = 2;   // Ratio
    quint32 denominator = 3; // Ratio
    quint32 count = 0;       // Count

    static QuorumPolicy ratio(quint32 numerator, quint32 denominator);
    static QuorumPolicy absolute(quint32 count);

    int threshold(int targetCount) const;
    // Empty if the policy is usable for n targets. A q <= n/2 is refused as unsafe: two
    // different states could then both reach it. A q > n could never decide.
    QString checkSafe(int targetCount) const;
    QString describe() const;
    bool operator==(const QuorumPolicy &other) const = default;
};

struct Member
{
    QString id;
    Roles roles;
    QString scheme = QStringLiteral("ed25519");
    QByteArray publicKey;
    QString address; // host:port of its TLS WebSocket endpoint

    bool hasRole(Role role) const { return roles.testFlag(role); }
};

// The consortium configuration: who takes part, in which roles, with which keys.
// Its hash (SHA-256 of the canonical encoding) is carried by every signed message, so a
// message signed under one configuration can never be counted under another.
class Membership
{
public:
    Membership() = default;
    Membership(QString consortiumId, QuorumPolicy policy, QList<Member> members);

    // Reads the documented JSON file (docs/membership.md). On failure returns nothing and
    // sets error to one line naming the file, the member and the key at fault.
    static std::optional<Membership> load(const QString &path, QString *error);
    static std::optional<Membership> fromJson(const QByteArray &json, QString *error);
    QByteArray toJson() const;

    // Empty if the membership is usable; otherwise names the first problem found.
    QString validate() const;

    const QString &consortiumId() const { return consortium; }
    const QuorumPolicy &policy() const { return quorumPolicy; }
    const QList<Member> &members() const { return memberList; }
    const Member *member(const QString &id) const;
    QList<Member> withRole(Role role) const;

    int targetCount() const { return targets; }
    int quorum() const { return quorumPolicy.threshold(targets); }

    QByteArray canonicalBytes() const;
    const QByteArray &hash() const { return configHash; }

private:
    void index();

    QString consortium;
    QuorumPolicy quorumPolicy;
    QList<Member> memberList; // sorted by id
    QHash<QString, qsizetype> byId;
    int targets = 0;
    QByteArray configHash;
};

} // namespace ticketsync
