#include "WriteOffChecker.h"

#include "LedgerStore.h"

#include <QLoggingCategory>

Q_LOGGING_CATEGORY(lcChecker, "ticketsync.core.checker", QtWarningMsg)

namespace ticketsync {

namespace {
QString formatAmount(qint64 minor, const QString &currency)
{
    const QString sign = minor < 0 ? QStringLiteral("-") : QString();
    const quint64 magnitude = minor < 0 ? quint64(-(minor + 1)) + 1 : quint64(minor);
    return QStringLiteral("%1%2.%3 %4")
        .arg(sign)
        .arg(magnitude / 100)
        .arg(magnitude % 100, 2, 10, QLatin1Char('0'))
        .arg(currency);
}
} // namespace

WriteOffChecker::WriteOffChecker(const Membership &membership, QString targetId, KeyPair targetKey,
                                 LedgerStore &store)
    : members(membership), target(std::move(targetId)), key(std::move(targetKey)), store(store)
{
    clock.start();
}

StateConfirmation WriteOffChecker::answer(const QByteArray &digest, ConfirmationState state,
                                          const QString &reason) const
{
    StateConfirmation confirmation;
    confirmation.membershipHash = members.hash();
    confirmation.targetId = target;
    confirmation.writeOffDigest = digest;
    confirmation.setState(state);
    confirmation.reason = reason;
    confirmation.sign(key);
    return confirmation;
}

std::optional<StateConfirmation> WriteOffChecker::check(const WriteOffResult &writeOff, QString *error,
                                                        QString *notYet)
{
    const QByteArray digest = writeOff.digest();
    // Not remembered: a bad signature says nothing about the write-off validly signed under
    // this digest, which may come next.
    if (QString problem = writeOff.verify(members); !problem.isEmpty())
        return answer(digest, ConfirmationState::InvalidRequest, problem);
    forgetOldAnswers();
    if (const auto found = given.constFind(digest); found != given.cend()) {
        if (std::optional<StateConfirmation> before = StateConfirmation::decode(*found))
            return before;
    }
    bool locked = false;
    std::optional<StateConfirmation> confirmation = evaluate(writeOff, digest, error, &locked, notYet);
    if (confirmation && !locked)
        remember(digest, *confirmation);
    return confirmation;
}

void WriteOffChecker::remember(const QByteArray &digest, const StateConfirmation &confirmation)
{
    given.insert(digest, confirmation.encode());
    givenOrder.emplace_back(clock.elapsed(), digest);
}

void WriteOffChecker::forgetOldAnswers()
{
    const qint64 oldest = clock.elapsed() - kAnswerMemoryMs;
    while (!givenOrder.empty() &&
           (givenOrder.front().first < oldest || givenOrder.size() > size_t(kAnswersKept))) {
        given.remove(givenOrder.front().second);
        givenOrder.pop_front();
    }
}

std::optional<StateConfirmation> WriteOffChecker::evaluate(const WriteOffResult &writeOff,
                                                           const QByteArray &digest, QString *error,
                                                           bool *locked, QString *notYet)
{
    // A read that fails is no answer: a registry or lock that cannot be read says nothing about
    // the ticket, and a state signed from it would be remembered, or tallied, as the truth.
    QString problem;
    const std::optional<TicketLock> held = store.lock(writeOff.ticketId, writeOff.ticketVersion, &problem);
    if (!problem.isEmpty()) {
        if (error)
            *error = problem;
        return std::nullopt;
    }
    if (held) {
        if (held->writeOffDigest == digest) {
            *locked = true;
            QString damage;
            std::optional<StateConfirmation> lockAnswer =
                StateConfirmation::decode(held->confirmation, &damage);
            if (lockAnswer && lockAnswer->writeOffDigest == digest && lockAnswer->targetId == target &&
                lockAnswer->state() == ConfirmationState::WrittenOff)
                return lockAnswer;
            // The lock is this write-off's: WRITTEN_OFF was given for it. Its stored bytes are
            // damaged, so they are signed again (the same bytes: Ed25519 is deterministic), never
            // contradicted by an ALREADY_WRITTEN_OFF "by" this very write-off.
            qCWarning(lcChecker).noquote()
                << QStringLiteral("%1: the lock on ticket %2 version %3 holds a confirmation that %4; "
                                  "WRITTEN_OFF is signed again from the lock")
                       .arg(store.path(), writeOff.ticketId)
                       .arg(writeOff.ticketVersion)
                       .arg(lockAnswer ? QStringLiteral("is not its WRITTEN_OFF")
                                       : QStringLiteral("does not decode (%1)").arg(damage));
            return answer(digest, ConfirmationState::WrittenOff, QString());
        }
        return answer(digest, ConfirmationState::AlreadyWrittenOff,
                      QStringLiteral("version %1 of ticket %2 is already written off by write-off %3")
                          .arg(writeOff.ticketVersion)
                          .arg(writeOff.ticketId)
                          .arg(QString::fromLatin1(held->writeOffDigest.toHex().left(16))));
    }

    const std::optional<TicketRecord> record = store.ticket(writeOff.ticketId, &problem);
    if (!problem.isEmpty()) {
        if (error)
            *error = problem;
        return std::nullopt;
    }
    if (!record)
        return answer(digest, ConfirmationState::UnknownTicket,
                      QStringLiteral("ticket %1 is not in this node's registry").arg(writeOff.ticketId));
    if (writeOff.ticketVersion <= record->writtenOffVersion)
        return answer(digest, ConfirmationState::AlreadyWrittenOff,
                      QStringLiteral("ticket %1 is written off up to version %2")
                          .arg(writeOff.ticketId)
                          .arg(record->writtenOffVersion));
    if (writeOff.ticketVersion > record->writtenOffVersion + 1) {
        // This target confirmed the version before and waits for the block that holds it: the
        // write-off may well be the next one, valid once that block is here. Signed now, the
        // skip would be remembered and could make a valid write-off INVALID_REQUEST.
        const std::optional<TicketLock> previous =
            store.lock(writeOff.ticketId, writeOff.ticketVersion - 1, &problem);
        if (!problem.isEmpty()) {
            if (error)
                *error = problem;
            return std::nullopt;
        }
        if (previous) {
            if (notYet)
                *notYet = QStringLiteral("version %1 of ticket %2 is locked here, and its block has not "
                                         "arrived yet; version %3 is answered once it has")
                              .arg(writeOff.ticketVersion - 1)
                              .arg(writeOff.ticketId)
                              .arg(writeOff.ticketVersion);
            return std::nullopt;
        }
        return answer(digest, ConfirmationState::InvalidRequest,
                      QStringLiteral("version %1 skips ahead: ticket %2 is written off up to version %3")
                          .arg(writeOff.ticketVersion)
                          .arg(writeOff.ticketId)
                          .arg(record->writtenOffVersion));
    }
    if (record->frozen)
        return answer(digest, ConfirmationState::TicketFrozen,
                      QStringLiteral("ticket %1 is frozen in this node's registry").arg(writeOff.ticketId));
    if (writeOff.amountMinor != record->ticket.faceAmountMinor ||
        writeOff.currency != record->ticket.currency)
        return answer(digest, ConfirmationState::AmountMismatch,
                      QStringLiteral("registry holds %1, the write-off claims %2")
                          .arg(formatAmount(record->ticket.faceAmountMinor, record->ticket.currency),
                               formatAmount(writeOff.amountMinor, writeOff.currency)));

    const StateConfirmation accepted = answer(digest, ConfirmationState::WrittenOff, QString());
    const std::optional<TicketLock> won =
        store.acquireLock({writeOff.ticketId, writeOff.ticketVersion, digest, accepted.encode()}, error);
    if (!won)
        return std::nullopt;           // not durable: release nothing
    if (won->writeOffDigest != digest) // another write-off won the race for this key
        return answer(digest, ConfirmationState::AlreadyWrittenOff,
                      QStringLiteral("version %1 of ticket %2 is already written off by write-off %3")
                          .arg(writeOff.ticketVersion)
                          .arg(writeOff.ticketId)
                          .arg(QString::fromLatin1(won->writeOffDigest.toHex().left(16))));
    *locked = true;
    return accepted;
}

} // namespace ticketsync
