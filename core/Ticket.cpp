#include "Ticket.h"

namespace ticketsync {

namespace {
struct KindRow
{
    TicketKind kind;
    const char *name;
};
constexpr KindRow kKinds[] = {
    {TicketKind::CommercialBill, "commercial-bill"},
    {TicketKind::BankAcceptanceBill, "bank-acceptance-bill"},
    {TicketKind::ElectronicInvoice, "e-invoice"},
    {TicketKind::Cheque, "cheque"},
};
} // namespace

QString ticketKindName(TicketKind kind)
{
    for (const KindRow &row : kKinds) {
        if (row.kind == kind)
            return QLatin1String(row.name);
    }
    return QStringLiteral("kind-%1").arg(int(kind));
}

bool ticketKindFromName(const QString &name, TicketKind *kind)
{
    for (const KindRow &row : kKinds) {
        if (name == QLatin1String(row.name)) {
            *kind = row.kind;
            return true;
        }
    }
    return false;
}

QString checkTicketId(const QString &id)
{
    if (id.isEmpty())
        return QStringLiteral("ticket id is empty");
    if (id.size() > kMaxTicketIdLength)
        return QStringLiteral("ticket id is %1 characters long, the limit is %2")
            .arg(id.size())
            .arg(kMaxTicketIdLength);
    for (qsizetype i = 0; i < id.size(); ++i) {
        const char16_t c = id.at(i).unicode();
        if (c < 0x21 || c > 0x7e)
            return QStringLiteral("ticket id has a character that is not printable ASCII at position %1")
                .arg(i);
    }
    return {};
}

QString checkCurrencyCode(const QString &code)
{
    if (code.size() != 3)
        return QStringLiteral("currency '%1' is not a three-letter ISO 4217 code").arg(code);
    for (const QChar c : code) {
        if (c.unicode() < 'A' || c.unicode() > 'Z')
            return QStringLiteral("currency '%1' is not a three-letter ISO 4217 code").arg(code);
    }
    return {};
}

QString checkNodeId(const QString &id)
{
    if (id.isEmpty())
        return QStringLiteral("node id is empty");
    if (id.size() > kMaxNodeIdLength)
        return QStringLiteral("node id '%1' is longer than %2 characters")
            .arg(id.left(16))
            .arg(kMaxNodeIdLength);
    for (const QChar c : id) {
        const char16_t u = c.unicode();
        const bool allowed = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                             u == '.' || u == '_' || u == '-';
        if (!allowed)
            return QStringLiteral("node id '%1' may hold only letters, digits, '.', '_' and '-'").arg(id);
    }
    return {};
}

} // namespace ticketsync
