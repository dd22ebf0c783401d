#pragma once

#include <QString>
#include <QtGlobal>

namespace ticketsync {

// Limits shared by every message that carries these fields.
constexpr qsizetype kMaxTicketIdLength = 64;
constexpr qsizetype kMaxNodeIdLength = 64;
constexpr qsizetype kMaxClientReferenceBytes = 256;
constexpr qsizetype kMaxReasonBytes = 512;
constexpr qsizetype kMaxIssuerBytes = 256;

enum class TicketKind : quint8
{
    CommercialBill = 1,
    BankAcceptanceBill = 2,
    ElectronicInvoice = 3,
    Cheque = 4,
};

QString ticketKindName(TicketKind kind);
bool ticketKindFromName(const QString &name, TicketKind *kind);

// A bill or e-invoice as a target node's registry knows it.
struct Ticket
{
    QString id;
    TicketKind kind = TicketKind::CommercialBill;
    qint64 faceAmountMinor = 0; // in minor units of currency (e.g. fen for CNY)
    QString currency;           // ISO 4217 alphabetic code
    QString issuer;
};

// Empty when valid; otherwise a sentence naming what is wrong.
QString checkTicketId(const QString &id);       // 1..64 printable ASCII
QString checkCurrencyCode(const QString &code); // three upper-case letters
QString checkNodeId(const QString &id);         // 1..64 of [A-Za-z0-9._-]

} // namespace ticketsync
