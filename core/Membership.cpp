#include "Membership.h"

#include "CanonicalWriter.h"
#include "Sha256.h"
#include "StrictJson.h"
#include "Ticket.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <algorithm>
#include <limits>
#include <utility>

namespace ticketsync {

namespace {
struct RoleRow
{
    Role role;
    const char *name;
};
constexpr RoleRow kRoles[] = {
    {Role::Branch, "branch"},
    {Role::Target, "target"},
    {Role::Coordinator, "coordinator"},
    {Role::Receiver, "receiver"},
};
} // namespace

QString roleName(Role role)
{
    for (const RoleRow &row : kRoles) {
        if (row.role == role)
            return QLatin1String(row.name);
    }
    return QStringLiteral("role-%1").arg(int(role));
}

QStringList roleNames(Roles roles)
{
    QStringList names;
    for (const RoleRow &row : kRoles) {
        if (roles.testFlag(row.role))
            names.append(QLatin1String(row.name));
    }
    return names;
}

bool roleFromName(const QString &name, Role *role)
{
    for (const RoleRow &row : kRoles) {
        if (name == QLatin1String(row.name)) {
            *role = row.role;
            return true;
        }
    }
    return false;
}

// ---- QuorumPolicy ----

QuorumPolicy QuorumPolicy::ratio(quint32 numerator, quint32 denominator)
{
    QuorumPolicy policy;
    policy.kind = Kind::Ratio;
    policy.numerator = numerator;
    policy.denominator = denominator;
    return policy;
}

QuorumPolicy QuorumPolicy::absolute(quint32 count)
{
    QuorumPolicy policy;
    policy.kind = Kind::Count;
    policy.numerator = 0;
    policy.denominator = 0;
    policy.count = count;
    return policy;
}

namespace {
// q without narrowing: a count policy may name any u32, far beyond what int holds.
qint64 wideThreshold(const QuorumPolicy &policy, int targetCount)
{
    if (policy.kind == QuorumPolicy::Kind::Count)
        return qint64(policy.count);
    if (policy.denominator == 0 || targetCount < 0)
        return qint64(targetCount) + 1;
    return qint64((quint64(policy.numerator) * quint64(targetCount)) / policy.denominator) + 1;
}
} // namespace

int QuorumPolicy::threshold(int targetCount) const
{
    return int(std::min<qint64>(wideThreshold(*this, targetCount), std::numeric_limits<int>::max()));
}

QString QuorumPolicy::checkSafe(int targetCount) const
{
    if (kind == Kind::Ratio && (denominator == 0 || numerator == 0))
        return QStringLiteral("quorum ratio %1/%2 is not a positive fraction")
            .arg(numerator)
            .arg(denominator);
    if (targetCount <= 0)
        return QStringLiteral("the consortium has no target nodes");
    // In 64 bits, and q > n first: 2q must not overflow for a huge count.
    const qint64 q = wideThreshold(*this, targetCount);
    const qint64 n = targetCount;
    if (q > n)
        return QStringLiteral("quorum %1 of %2 targets can never be reached").arg(q).arg(n);
    if (2 * q <= n)
        return QStringLiteral("quorum %1 of %2 targets is unsafe: q must be more than n/2, or two results "
                              "could both reach it")
            .arg(q)
            .arg(n);
    return {};
}

QString QuorumPolicy::describe() const
{
    if (kind == Kind::Count)
        return QStringLiteral("%1 confirmations").arg(count);
    return QStringLiteral("more than %1/%2 of targets").arg(numerator).arg(denominator);
}

// ---- Membership ----

Membership::Membership(QString consortiumId, QuorumPolicy policy, QList<Member> members)
    : consortium(std::move(consortiumId)), quorumPolicy(policy), memberList(std::move(members))
{
    index();
}

void Membership::index()
{
    std::sort(memberList.begin(), memberList.end(),
              [](const Member &a, const Member &b) { return a.id < b.id; });
    byId.clear();
    targets = 0;
    for (qsizetype i = 0; i < memberList.size(); ++i) {
        byId.insert(memberList.at(i).id, i);
        if (memberList.at(i).hasRole(Role::Target))
            ++targets;
    }
    configHash = sha256(canonicalBytes());
}

const Member *Membership::member(const QString &id) const
{
    const auto found = byId.constFind(id);
    return found == byId.cend() ? nullptr : &memberList.at(*found);
}

QList<Member> Membership::withRole(Role role) const
{
    QList<Member> result;
    for (const Member &m : memberList) {
        if (m.hasRole(role))
            result.append(m);
    }
    return result;
}

QByteArray Membership::canonicalBytes() const
{
    CanonicalWriter writer("TSMB");
    writer.writeString(consortium);
    writer.writeU8(quint8(quorumPolicy.kind));
    writer.writeU32(quorumPolicy.kind == QuorumPolicy::Kind::Count ? quorumPolicy.count
                                                                   : quorumPolicy.numerator);
    writer.writeU32(quorumPolicy.kind == QuorumPolicy::Kind::Count ? 0 : quorumPolicy.denominator);
    writer.writeU32(quint32(memberList.size()));
    for (const Member &m : memberList) {
        writer.writeString(m.id);
        writer.writeU8(quint8(m.roles.toInt()));
        writer.writeString(m.scheme);
        writer.writeBytes(m.publicKey);
        writer.writeString(m.address);
    }
    return writer.bytes();
}

namespace {
QString checkAddress(const QString &address)
{
    const qsizetype colon = address.lastIndexOf(QLatin1Char(':'));
    if (colon <= 0)
        return QStringLiteral("address '%1' is not host:port").arg(address);
    bool ok = false;
    const int port = address.mid(colon + 1).toInt(&ok);
    if (!ok || port < 1 || port > 65535)
        return QStringLiteral("address '%1' has no valid port (1-65535)").arg(address);
    return {};
}
} // namespace

QString Membership::validate() const
{
    if (consortium.isEmpty())
        return QStringLiteral("'consortium' is empty");
    if (const QString problem = checkCanonicalString(consortium, u"'consortium'"); !problem.isEmpty())
        return problem;
    if (memberList.isEmpty())
        return QStringLiteral("'members' is empty");
    QSet<QString> seen;
    int branches = 0;
    int coordinators = 0;
    for (const Member &m : memberList) {
        const QString where = QStringLiteral("member '%1': ").arg(m.id);
        for (const auto &[text, name] : {std::pair{&m.id, u"'id'"}, std::pair{&m.scheme, u"'scheme'"},
                                         std::pair{&m.address, u"'address'"}}) {
            if (const QString problem = checkCanonicalString(*text, name); !problem.isEmpty())
                return where + problem;
        }
        if (const QString problem = checkNodeId(m.id); !problem.isEmpty())
            return where + problem;
        if (seen.contains(m.id))
            return where + QStringLiteral("the id is listed twice");
        seen.insert(m.id);
        if (m.roles.toInt() == 0)
            return where + QStringLiteral("'roles' is empty");
        const SignatureScheme *scheme = SignatureScheme::byName(m.scheme);
        if (!scheme)
            return where + QStringLiteral("unknown signature scheme '%1'").arg(m.scheme);
        if (m.publicKey.size() != scheme->publicKeySize())
            return where + QStringLiteral("'publicKey' is %1 bytes, %2 needs %3")
                               .arg(m.publicKey.size())
                               .arg(m.scheme)
                               .arg(scheme->publicKeySize());
        if (const QString problem = checkAddress(m.address); !problem.isEmpty())
            return where + problem;
        branches += m.hasRole(Role::Branch) ? 1 : 0;
        coordinators += m.hasRole(Role::Coordinator) ? 1 : 0;
    }
    if (targets == 0)
        return QStringLiteral("no member has the 'target' role");
    if (branches == 0)
        return QStringLiteral("no member has the 'branch' role");
    if (coordinators == 0)
        return QStringLiteral("no member has the 'coordinator' role");
    if (const QString problem = quorumPolicy.checkSafe(targets); !problem.isEmpty())
        return QStringLiteral("'quorum': ") + problem;
    return {};
}

std::optional<Membership> Membership::load(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("%1: cannot open: %2").arg(path, file.errorString());
        return std::nullopt;
    }
    // Far above any consortium's file; a path such as /dev/zero is not read until memory runs out.
    constexpr qint64 kMaxBytes = 16 * 1024 * 1024;
    const QByteArray json = file.read(kMaxBytes + 1);
    if (json.size() > kMaxBytes) {
        if (error)
            *error =
                QStringLiteral("%1: larger than %2 bytes; not a membership file").arg(path).arg(kMaxBytes);
        return std::nullopt;
    }
    QString problem;
    std::optional<Membership> membership = fromJson(json, &problem);
    if (!membership && error)
        *error = QStringLiteral("%1: %2").arg(path, problem);
    return membership;
}

std::optional<Membership> Membership::fromJson(const QByteArray &json, QString *error)
{
    auto failWith = [error](const QString &message) {
        if (error)
            *error = message;
        return std::nullopt;
    };
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(json, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        return failWith(QStringLiteral("not valid JSON at offset %1: %2")
                            .arg(parseError.offset)
                            .arg(parseError.errorString()));
    if (!document.isObject())
        return failWith(QStringLiteral("the top level must be a JSON object"));
    // Every node must trust the keys a reader of the file sees, not the last of two.
    if (const std::optional<StrictJson::RepeatedKey> repeated = StrictJson::repeatedKey(json))
        return failWith(
            QStringLiteral("'%1': given twice (again on line %2)").arg(repeated->name).arg(repeated->line));
    const QJsonObject root = document.object();
    // A misspelt optional key ("quorom") would otherwise leave its default in force unnoticed.
    const auto unknownKey = [](const QJsonObject &object, std::initializer_list<const char *> known) {
        for (auto it = object.begin(); it != object.end(); ++it) {
            if (std::none_of(known.begin(), known.end(),
                             [&](const char *key) { return it.key() == QLatin1String(key); }))
                return it.key();
        }
        return QString();
    };
    if (const QString key = unknownKey(root, {"format", "version", "consortium", "quorum", "members"});
        !key.isEmpty())
        return failWith(
            QStringLiteral("'%1': unknown key (known: format, version, consortium, quorum, members)")
                .arg(key));
    if (root.value(QLatin1String("format")).toString() != QLatin1String("ticketsync-membership"))
        return failWith(QStringLiteral("'format' must be \"ticketsync-membership\""));
    if (root.value(QLatin1String("version")).toInt(-1) != 1)
        return failWith(QStringLiteral("'version' must be 1"));
    if (!root.value(QLatin1String("consortium")).isString())
        return failWith(QStringLiteral("'consortium' must be a string"));
    // Every string that is hashed into the membership hash must have one UTF-8 form, or two
    // different files would share one hash.
    if (const QString problem =
            checkCanonicalString(root.value(QLatin1String("consortium")).toString(), u"'consortium'");
        !problem.isEmpty())
        return failWith(problem);

    QuorumPolicy policy;
    const QJsonValue quorumValue = root.value(QLatin1String("quorum"));
    if (!quorumValue.isUndefined()) {
        if (!quorumValue.isObject())
            return failWith(QStringLiteral("'quorum' must be an object with 'ratio' or 'count'"));
        const QJsonObject quorum = quorumValue.toObject();
        if (const QString key = unknownKey(quorum, {"ratio", "count"}); !key.isEmpty())
            return failWith(QStringLiteral("'quorum.%1': unknown key (known: ratio, count)").arg(key));
        if (quorum.contains(QLatin1String("count")) == quorum.contains(QLatin1String("ratio")))
            return failWith(QStringLiteral("'quorum' must hold exactly one of 'ratio' (\"2/3\") or 'count'"));
        if (quorum.contains(QLatin1String("count"))) {
            const int count = quorum.value(QLatin1String("count")).toInt(-1);
            if (count <= 0)
                return failWith(QStringLiteral("'quorum.count' must be a positive integer"));
            policy = QuorumPolicy::absolute(quint32(count));
        } else {
            const QStringList parts = quorum.value(QLatin1String("ratio")).toString().split(QLatin1Char('/'));
            bool okNumerator = false;
            bool okDenominator = false;
            const uint numerator = parts.size() == 2 ? parts.at(0).trimmed().toUInt(&okNumerator) : 0;
            const uint denominator = parts.size() == 2 ? parts.at(1).trimmed().toUInt(&okDenominator) : 0;
            if (!okNumerator || !okDenominator || numerator == 0 || denominator == 0 ||
                numerator >= denominator)
                return failWith(QStringLiteral("'quorum.ratio' must be a fraction \"N/D\" with 0 < N < D"));
            policy = QuorumPolicy::ratio(numerator, denominator);
        }
    }

    const QJsonValue membersValue = root.value(QLatin1String("members"));
    if (!membersValue.isArray())
        return failWith(QStringLiteral("'members' must be an array"));
    // Each member is checked here, where its index in the file is known: validate() sees them
    // sorted by id, and a reader looks for members[3], not for the third id in sort order.
    QList<Member> members;
    QHash<QString, qsizetype> firstIndex;
    QHash<QByteArray, qsizetype> keyIndex;
    const QJsonArray array = membersValue.toArray();
    for (qsizetype i = 0; i < array.size(); ++i) {
        if (!array.at(i).isObject())
            return failWith(QStringLiteral("members[%1] must be an object").arg(i));
        const QJsonObject object = array.at(i).toObject();
        Member m;
        const QJsonValue idValue = object.value(QLatin1String("id"));
        m.id = idValue.toString();
        const QString where = QStringLiteral("members[%1] ('%2'): ").arg(i).arg(m.id);
        if (!idValue.isString())
            return failWith(where + QStringLiteral("'id' must be a string"));
        if (const QString key = unknownKey(object, {"id", "roles", "scheme", "publicKey", "address"});
            !key.isEmpty())
            return failWith(where + QStringLiteral("'%1': unknown key (known: id, roles, scheme, publicKey, "
                                                   "address)")
                                        .arg(key));
        if (const QString problem = checkCanonicalString(m.id, u"'id'"); !problem.isEmpty())
            return failWith(where + problem);
        if (const QString problem = checkNodeId(m.id); !problem.isEmpty())
            return failWith(where + QStringLiteral("'id': ") + problem);
        if (const auto first = firstIndex.constFind(m.id); first != firstIndex.cend())
            return failWith(where + QStringLiteral("'id' is listed twice, first as members[%1]").arg(*first));
        firstIndex.insert(m.id, i);

        if (!object.value(QLatin1String("roles")).isArray())
            return failWith(where + QStringLiteral("'roles' must be an array of role names"));
        for (const QJsonValue &roleValue : object.value(QLatin1String("roles")).toArray()) {
            Role role;
            if (!roleValue.isString())
                return failWith(where + QStringLiteral("'roles' must be an array of role names"));
            if (!roleFromName(roleValue.toString(), &role))
                return failWith(where +
                                QStringLiteral("'roles': unknown role '%1' (branch, target, coordinator, "
                                               "receiver)")
                                    .arg(roleValue.toString()));
            m.roles |= role;
        }
        if (m.roles.toInt() == 0)
            return failWith(where + QStringLiteral("'roles' is empty"));

        // Absent means the default; anything else must name a scheme.
        const QJsonValue schemeValue = object.value(QLatin1String("scheme"));
        if (!schemeValue.isUndefined() && !schemeValue.isString())
            return failWith(where + QStringLiteral("'scheme' must be a string such as \"ed25519\""));
        m.scheme = schemeValue.toString(QStringLiteral("ed25519"));
        if (const QString problem = checkCanonicalString(m.scheme, u"'scheme'"); !problem.isEmpty())
            return failWith(where + problem);
        const SignatureScheme *scheme = SignatureScheme::byName(m.scheme);
        if (!scheme)
            return failWith(where + QStringLiteral("'scheme': unknown signature scheme '%1'").arg(m.scheme));

        const QString keyText = object.value(QLatin1String("publicKey")).toString();
        m.publicKey = QByteArray::fromHex(keyText.toLatin1());
        if (keyText.isEmpty() || m.publicKey.toHex() != keyText.toLower().toLatin1())
            return failWith(where + QStringLiteral("'publicKey' must be the key in hexadecimal"));
        if (m.publicKey.size() != scheme->publicKeySize())
            return failWith(where + QStringLiteral("'publicKey' is %1 bytes, %2 needs %3")
                                        .arg(m.publicKey.size())
                                        .arg(m.scheme)
                                        .arg(scheme->publicKeySize()));
        // One key behind two members is one party with two votes: the quorum's majority would
        // no longer be a majority of banks.
        if (const auto first = keyIndex.constFind(m.publicKey); first != keyIndex.cend())
            return failWith(where + QStringLiteral("'publicKey' is the key of members[%1] ('%2') too; each "
                                                   "member signs with a key of its own")
                                        .arg(*first)
                                        .arg(members.at(*first).id));
        keyIndex.insert(m.publicKey, i);

        const QJsonValue addressValue = object.value(QLatin1String("address"));
        if (!addressValue.isString())
            return failWith(where + QStringLiteral("'address' must be a string, host:port"));
        m.address = addressValue.toString();
        if (const QString problem = checkCanonicalString(m.address, u"'address'"); !problem.isEmpty())
            return failWith(where + problem);
        if (const QString problem = checkAddress(m.address); !problem.isEmpty())
            return failWith(where + QStringLiteral("'address': ") + problem);
        members.append(m);
    }
    Membership membership(root.value(QLatin1String("consortium")).toString(), policy, members);
    if (const QString problem = membership.validate(); !problem.isEmpty())
        return failWith(problem);
    return membership;
}

QByteArray Membership::toJson() const
{
    QJsonObject root;
    root.insert(QLatin1String("format"), QLatin1String("ticketsync-membership"));
    root.insert(QLatin1String("version"), 1);
    root.insert(QLatin1String("consortium"), consortium);
    QJsonObject quorum;
    if (quorumPolicy.kind == QuorumPolicy::Kind::Count)
        quorum.insert(QLatin1String("count"), int(quorumPolicy.count));
    else
        quorum.insert(QLatin1String("ratio"),
                      QStringLiteral("%1/%2").arg(quorumPolicy.numerator).arg(quorumPolicy.denominator));
    root.insert(QLatin1String("quorum"), quorum);
    QJsonArray members;
    for (const Member &m : memberList) {
        QJsonObject object;
        object.insert(QLatin1String("id"), m.id);
        object.insert(QLatin1String("roles"), QJsonArray::fromStringList(roleNames(m.roles)));
        object.insert(QLatin1String("scheme"), m.scheme);
        object.insert(QLatin1String("publicKey"), QString::fromLatin1(m.publicKey.toHex()));
        object.insert(QLatin1String("address"), m.address);
        members.append(object);
    }
    root.insert(QLatin1String("members"), members);
    return QJsonDocument(root).toJson(QJsonDocument::Indented);
}

} // namespace ticketsync
