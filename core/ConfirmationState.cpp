#include "ConfirmationState.h"

#include <array>

namespace ticketsync {

namespace {
struct StateRow
{
    ConfirmationState state;
    const char *name;
};

constexpr std::array<StateRow, 6> kStates{{
    {ConfirmationState::WrittenOff, "WRITTEN_OFF"},
    {ConfirmationState::AlreadyWrittenOff, "ALREADY_WRITTEN_OFF"},
    {ConfirmationState::AmountMismatch, "AMOUNT_MISMATCH"},
    {ConfirmationState::UnknownTicket, "UNKNOWN_TICKET"},
    {ConfirmationState::InvalidRequest, "INVALID_REQUEST"},
    {ConfirmationState::TicketFrozen, "TICKET_FROZEN"},
}};
} // namespace

bool isKnownState(quint16 code)
{
    for (const StateRow &row : kStates) {
        if (quint16(row.state) == code)
            return true;
    }
    return false;
}

QString stateName(quint16 code)
{
    for (const StateRow &row : kStates) {
        if (quint16(row.state) == code)
            return QLatin1String(row.name);
    }
    return QStringLiteral("STATE_%1").arg(code);
}

QString stateName(ConfirmationState state)
{
    return stateName(quint16(state));
}

bool stateFromName(const QString &name, ConfirmationState *state)
{
    for (const StateRow &row : kStates) {
        if (name == QLatin1String(row.name)) {
            *state = row.state;
            return true;
        }
    }
    return false;
}

QList<ConfirmationState> allStates()
{
    QList<ConfirmationState> states;
    for (const StateRow &row : kStates)
        states.append(row.state);
    return states;
}

} // namespace ticketsync
