#include "SampleConsortium.h"

#include "Sha256.h"
#include "StateConfirmation.h"

namespace ticketsync {

SampleConsortium SampleConsortium::generate(const Options &options)
{
    SampleConsortium sample;
    const SignatureScheme &scheme = SignatureScheme::standard();
    QList<Member> members;
    quint16 port = options.basePort;
    auto add = [&](const QString &id, Roles roles) {
        const KeyPair key = scheme.fromSecret(sha256((options.label + QLatin1Char('/') + id).toUtf8()));
        sample.keys.insert(id, key);
        Member member;
        member.id = id;
        member.roles = roles;
        member.scheme = scheme.name();
        member.publicKey = key.publicKey;
        member.address = QStringLiteral("127.0.0.1:%1").arg(port++);
        members.append(member);
    };
    add(QStringLiteral("coordinator-1"), Role::Coordinator);
    for (int i = 1; i <= options.branches; ++i)
        add(QStringLiteral("branch-%1").arg(i), Role::Branch);
    for (int i = 1; i <= options.targets; ++i)
        add(QStringLiteral("target-%1").arg(i), Role::Target);
    for (int i = 1; i <= options.receivers; ++i)
        add(QStringLiteral("receiver-%1").arg(i), Role::Receiver);
    sample.membership = Membership(options.label, options.policy, members);
    return sample;
}

QStringList SampleConsortium::targetIds() const
{
    QStringList ids;
    for (const Member &member : membership.withRole(Role::Target))
        ids.append(member.id);
    return ids;
}

QStringList SampleConsortium::branchIds() const
{
    QStringList ids;
    for (const Member &member : membership.withRole(Role::Branch))
        ids.append(member.id);
    return ids;
}

WriteOffResult SampleConsortium::writeOff(const QString &branchId, const QString &ticketId, quint32 version,
                                          qint64 amountMinor, const QString &currency, qint64 issuedAtMs,
                                          const QString &clientReference) const
{
    WriteOffResult result;
    result.membershipHash = membership.hash();
    result.ticketId = ticketId;
    result.ticketVersion = version;
    result.amountMinor = amountMinor;
    result.currency = currency;
    result.branchId = branchId;
    result.issuedAtMs = issuedAtMs;
    result.clientReference = clientReference;
    result.sign(keys.value(branchId));
    return result;
}

StateConfirmation SampleConsortium::confirm(const QString &targetId, const WriteOffResult &writeOff,
                                            ConfirmationState state, const QString &reason) const
{
    StateConfirmation confirmation;
    confirmation.membershipHash = membership.hash();
    confirmation.targetId = targetId;
    confirmation.writeOffDigest = writeOff.digest();
    confirmation.setState(state);
    confirmation.reason = reason;
    confirmation.sign(keys.value(targetId));
    return confirmation;
}

QString SampleConsortium::ticketId(int number)
{
    return QStringLiteral("T-%1").arg(number, 6, 10, QLatin1Char('0'));
}

qint64 SampleConsortium::faceAmountMinor(int number)
{
    return 10000 + qint64(number) * 137 % 990000;
}

QList<Ticket> SampleConsortium::tickets(int count)
{
    QList<Ticket> result;
    result.reserve(count);
    for (int i = 1; i <= count; ++i) {
        Ticket ticket;
        ticket.id = ticketId(i);
        ticket.kind = i % 3 == 0 ? TicketKind::ElectronicInvoice : TicketKind::CommercialBill;
        ticket.faceAmountMinor = faceAmountMinor(i);
        ticket.currency = QStringLiteral("CNY");
        ticket.issuer = QStringLiteral("Issuer %1").arg(i % 17 + 1);
        result.append(ticket);
    }
    return result;
}

} // namespace ticketsync
