#pragma once

#include <QList>
#include <QString>
#include <QtGlobal>

namespace ticketsync {

// What a target node says about a write-off. The numeric codes are part of the signed
// encoding and never change meaning; a new state gets a new code and a row in the table
// in ConfirmationState.cpp.
enum class ConfirmationState : quint16
{
    WrittenOff = 1,
    AlreadyWrittenOff = 2,
    AmountMismatch = 3,
    UnknownTicket = 4,
    InvalidRequest = 5,
    TicketFrozen = 6,
};

bool isKnownState(quint16 code);
// The stable upper-case name, e.g. "WRITTEN_OFF"; "STATE_<code>" for an unknown code.
QString stateName(ConfirmationState state);
QString stateName(quint16 code);
// Parses a name as printed by stateName(); false if unknown.
bool stateFromName(const QString &name, ConfirmationState *state);
QList<ConfirmationState> allStates();

} // namespace ticketsync
