#pragma once

#include <QSet>
#include <QString>

namespace ticketsync {

// Every kind of event a node emits (docs/api.md, "Events"). Emitted by value, so a kind cannot be
// misspelt at one call site and missing from what a subscription may ask for.
enum class EventKind
{
    WriteOffIssued,
    ConfirmationReceived,
    ConfirmationSent,
    ConfirmationRejected,
    Equivocation,
    DecisionMade,
    BlockAppended,
    BlockRefused,
    DecisionSetAside,
    ReceiverStatus,
    SyncError,
    OperatorCommand, // stays last: eventKindNames() counts up to it
};

// The name on the wire and in the journal: "write_off_issued", ...
QString eventKindName(EventKind kind);
// Every name: what a subscription's "kinds" may list.
const QSet<QString> &eventKindNames();

} // namespace ticketsync
