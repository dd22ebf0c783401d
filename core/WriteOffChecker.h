#pragma once

#include "Membership.h"
#include "StateConfirmation.h"
#include "WriteOffResult.h"

namespace ticketsync {

class LedgerStore;

// What a target node does with a write-off: check it against its own registry and answer
// with a signed confirmation, honouring the per-ticket lock. A WRITTEN_OFF confirmation is
// released only after the lock on (ticket, version) is durably recorded; any other digest
// for that key then gets ALREADY_WRITTEN_OFF, and the same digest gets the very same
// confirmation back, across restarts. Inside a LedgerStore batch the lock is durable only once
// commitBatch() returns true, so the caller holds the confirmations until then.
class WriteOffChecker
{
public:
    WriteOffChecker(const Membership &membership, QString targetId, KeyPair targetKey, LedgerStore &store);

    // Never fails: problems with the request become INVALID_REQUEST with the reason.
    // A store failure is reported through error and yields nothing to send.
    std::optional<StateConfirmation> check(const WriteOffResult &writeOff, QString *error = nullptr);

private:
    StateConfirmation answer(const QByteArray &digest, ConfirmationState state, const QString &reason) const;

    const Membership &members;
    QString target;
    KeyPair key;
    LedgerStore &store;
};

} // namespace ticketsync
