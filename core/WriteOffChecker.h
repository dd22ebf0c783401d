#pragma once

#include "Membership.h"
#include "StateConfirmation.h"
#include "WriteOffResult.h"

#include <QElapsedTimer>
#include <QHash>
#include <deque>

namespace ticketsync {

class LedgerStore;

// What a target node does with a write-off: check it against its own registry and answer
// with a signed confirmation, honouring the per-ticket lock. A WRITTEN_OFF confirmation is
// released only after the lock on (ticket, version) is durably recorded; any other digest
// for that key then gets ALREADY_WRITTEN_OFF, and the same digest gets the very same
// confirmation back, across restarts. Inside a LedgerStore batch the lock is durable only once
// commitBatch() returns true, so the caller holds the confirmations until then.
// Every other answer is remembered too, in memory, for kAnswerMemoryMs (longer than a coordinator
// retries and waits for a backlog) and at most kAnswersKept of them: a coordinator that asks
// again gets the same signed answer, even if the registry has changed since (another write-off of
// the ticket decided meanwhile), so an honest target does not sign two states for one write-off.
class WriteOffChecker
{
public:
    static constexpr int kAnswersKept = 20000;
    static constexpr qint64 kAnswerMemoryMs = 60000;

    WriteOffChecker(const Membership &membership, QString targetId, KeyPair targetKey, LedgerStore &store);

    // Never fails: problems with the request become INVALID_REQUEST with the reason.
    // A store failure, a lock or registry row that cannot be read as much as a lock that cannot be
    // written, is reported through error and yields nothing to send, nor anything remembered.
    // A write-off that can only be judged once a block arrives, the version after one this target
    // has locked but not yet seen in a block, yields nothing either, and no error: notYet says why,
    // and the coordinator asks again.
    std::optional<StateConfirmation> check(const WriteOffResult &writeOff, QString *error = nullptr,
                                           QString *notYet = nullptr);

private:
    StateConfirmation answer(const QByteArray &digest, ConfirmationState state, const QString &reason) const;
    // locked: the answer is the one the ticket's lock holds, durable across restarts.
    std::optional<StateConfirmation> evaluate(const WriteOffResult &writeOff, const QByteArray &digest,
                                              QString *error, bool *locked, QString *notYet);
    void remember(const QByteArray &digest, const StateConfirmation &confirmation);
    void forgetOldAnswers();

    const Membership &members;
    QString target;
    KeyPair key;
    LedgerStore &store;
    QHash<QByteArray, QByteArray> given;                  // encoded answers without a lock, by digest
    std::deque<std::pair<qint64, QByteArray>> givenOrder; // (when, digest), oldest first
    QElapsedTimer clock;
};

} // namespace ticketsync
