#include "TallyTracker.h"

#include <QJsonArray>
#include <QLoggingCategory>

#include <algorithm>

Q_LOGGING_CATEGORY(lcTallyTracker, "ticketsync.ui.tally", QtWarningMsg)

namespace ticketsync {

namespace {

const QString kDecided = QStringLiteral("DECIDED");
const QString kUndetermined = QStringLiteral("UNDETERMINED");

bool isDigest(const QString &text)
{
    if (text.size() != 64)
        return false;
    return std::all_of(text.cbegin(), text.cend(), [](QChar c) {
        return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f') || (c >= u'A' && c <= u'F');
    });
}

void appendOnce(QStringList &list, const QString &value)
{
    if (!list.contains(value))
        list.append(value);
}

// A JSON integer field that must be present; false if it is missing or not a number.
bool intField(const QJsonObject &event, QStringView key, qint64 *out)
{
    const QJsonValue value = event.value(key);
    if (!value.isDouble())
        return false;
    *out = value.toInteger();
    return true;
}

} // namespace

int TicketTally::topCount() const
{
    int top = 0;
    for (const int count : counts)
        top = std::max(top, count);
    return top;
}

QString TicketTally::leadingState() const
{
    if (!decidedState.isEmpty())
        return decidedState;
    QString leader;
    int top = 0;
    for (auto it = counts.cbegin(); it != counts.cend(); ++it) {
        if (it.value() > top) {
            top = it.value();
            leader = it.key();
        }
    }
    return leader;
}

int TicketTally::margin() const
{
    return std::max(0, q - topCount());
}

bool TicketTally::canReachQuorum() const
{
    if (outcome == kDecided)
        return true;
    if (outcome == kUndetermined)
        return false;
    return q <= 0 || topCount() + nonVoters >= q;
}

TallyTracker::TallyTracker(QObject *parent) : QObject(parent) {}

void TallyTracker::setMembershipQuorum(int n, int q)
{
    if (n < 0 || q < 0) {
        qCWarning(lcTallyTracker) << "ignoring a membership with n =" << n << "and q =" << q;
        return;
    }
    defaultN = n;
    defaultQ = q;
    // Pending tallies that never saw a decision take the membership's figures.
    for (auto it = tallies.begin(); it != tallies.end(); ++it) {
        TicketTally &tally = it->tally;
        if (!tally.isPending() || (tally.n == n && tally.q == q))
            continue;
        tally.n = n;
        tally.q = q;
        recount(tally);
        Q_EMIT tallyChanged(tally.digest);
    }
}

void TallyTracker::setCapacity(int maximumTallies)
{
    maxTallies = std::max(1, maximumTallies);
    evictOverflow();
}

void TallyTracker::setAggregateWindow(int decisionCount)
{
    window = std::max(1, decisionCount);
    bool changed = false;
    while (int(decisions.size()) > window) {
        const auto [digest, state] = decisions.front();
        decisions.pop_front();
        if (--inWindow[digest] == 0)
            inWindow.remove(digest);
        if (state.isEmpty())
            --windowUndetermined;
        else if (--windowCounts[state] == 0)
            windowCounts.remove(state);
        changed = true;
    }
    if (changed)
        Q_EMIT aggregateChanged();
}

TicketTally TallyTracker::tally(const QString &digest) const
{
    const auto found = tallies.constFind(digest.toLower());
    return found == tallies.cend() ? TicketTally() : found->tally;
}

QString TallyTracker::latestDigest() const
{
    return recency.empty() ? QString() : recency.front();
}

QList<TicketTally> TallyTracker::talliesForTicket(const QString &ticket) const
{
    QList<TicketTally> result;
    for (const QString &digest : byTicket.value(ticket)) {
        const auto found = tallies.constFind(digest);
        if (found != tallies.cend())
            result.append(found->tally);
    }
    // Newest first: by issue time, then by the last event seen.
    std::stable_sort(result.begin(), result.end(), [](const TicketTally &a, const TicketTally &b) {
        if (a.issuedAtMs != b.issuedAtMs)
            return a.issuedAtMs > b.issuedAtMs;
        return a.lastEventMs > b.lastEventMs;
    });
    return result;
}

TallyTracker::Aggregate TallyTracker::aggregate() const
{
    return Aggregate{windowCounts, windowUndetermined, int(decisions.size())};
}

void TallyTracker::clear()
{
    tallies.clear();
    recency.clear();
    byTicket.clear();
    decisions.clear();
    inWindow.clear();
    windowCounts.clear();
    windowUndetermined = 0;
    Q_EMIT aggregateChanged();
}

bool TallyTracker::applyEvent(const QJsonObject &event, const QString &sourceNode)
{
    const QString kind = event.value(u"kind").toString();
    const bool known = kind == QLatin1String("write_off_issued") ||
                       kind == QLatin1String("confirmation_received") ||
                       kind == QLatin1String("equivocation") || kind == QLatin1String("decision_made");
    if (!known) {
        qCDebug(lcTallyTracker) << "not a tally event:" << kind;
        return false;
    }
    const QString digest = event.value(u"write_off_digest").toString().toLower();
    if (!isDigest(digest)) {
        qCWarning(lcTallyTracker) << "malformed" << kind << "event from" << sourceNode
                                  << ": 'write_off_digest' must be 64 hex digits, seq"
                                  << event.value(u"seq").toInteger(-1);
        return false;
    }

    const qint64 seq = event.value(u"seq").toInteger(-1);
    // Validate into a copy, so a malformed event leaves the tally as it was.
    const bool existed = tallies.contains(digest);
    TicketTally updated = existed ? tallies.value(digest).tally : TicketTally();
    if (!existed) {
        updated.digest = digest;
        updated.n = defaultN;
        updated.q = defaultQ;
    }
    bool ok = false;
    if (kind == QLatin1String("write_off_issued"))
        ok = applyIssued(updated, event);
    else if (kind == QLatin1String("confirmation_received"))
        ok = applyConfirmation(updated, event, seq);
    else if (kind == QLatin1String("equivocation"))
        ok = applyEquivocation(updated, event);
    else
        ok = applyDecision(updated, event, seq);
    if (!ok) {
        qCWarning(lcTallyTracker) << "malformed" << kind << "event for" << digest.left(16) << "from"
                                  << sourceNode << "seq" << event.value(u"seq").toInteger(-1);
        return false;
    }
    if (!sourceNode.isEmpty())
        updated.sourceNode = sourceNode;
    updated.lastEventMs = std::max(updated.lastEventMs, event.value(u"at_ms").toInteger(0));

    TicketTally *slot = touch(digest);
    const QString previousTicket = existed ? slot->ticket : QString();
    *slot = updated;
    if (!slot->ticket.isEmpty() && slot->ticket != previousTicket) {
        if (!previousTicket.isEmpty()) {
            byTicket[previousTicket].removeAll(digest);
            if (byTicket[previousTicket].isEmpty())
                byTicket.remove(previousTicket);
        }
        byTicket[slot->ticket].append(digest);
    }
    const bool decision = kind == QLatin1String("decision_made");
    if (decision)
        recordDecision(digest, slot->outcome == kDecided ? slot->decidedState : QString());
    evictOverflow();
    Q_EMIT tallyChanged(digest);
    if (decision)
        Q_EMIT aggregateChanged();
    return true;
}

TicketTally *TallyTracker::touch(const QString &digest)
{
    auto found = tallies.find(digest);
    if (found != tallies.end()) {
        recency.splice(recency.begin(), recency, found->order);
        return &found->tally;
    }
    recency.push_front(digest);
    Entry &entry = tallies[digest];
    entry.order = recency.begin();
    return &entry.tally;
}

void TallyTracker::evictOverflow()
{
    while (int(tallies.size()) > maxTallies && !recency.empty()) {
        const QString digest = recency.back();
        recency.pop_back();
        const QString ticket = tallies.value(digest).tally.ticket;
        tallies.remove(digest);
        if (!ticket.isEmpty()) {
            QStringList &digests = byTicket[ticket];
            digests.removeAll(digest);
            if (digests.isEmpty())
                byTicket.remove(ticket);
        }
    }
}

void TallyTracker::recount(TicketTally &tally) const
{
    // After the outcome the decision's histogram stands; late messages never change it.
    if (!tally.isPending())
        return;
    tally.counts.clear();
    for (auto it = tally.votes.cbegin(); it != tally.votes.cend(); ++it)
        ++tally.counts[it.value()];
    tally.nonVoters = std::max(0, tally.n - int(tally.voters.size()) - int(tally.equivocating.size()));
}

void TallyTracker::recordDecision(const QString &digest, const QString &state)
{
    // The latest outcome of a write-off wins (a retried UNDETERMINED can become DECIDED).
    if (inWindow.contains(digest)) {
        for (auto it = decisions.begin(); it != decisions.end();) {
            if (it->first != digest) {
                ++it;
                continue;
            }
            if (it->second.isEmpty())
                --windowUndetermined;
            else if (--windowCounts[it->second] == 0)
                windowCounts.remove(it->second);
            it = decisions.erase(it);
        }
        inWindow.remove(digest);
    }
    decisions.emplace_back(digest, state);
    ++inWindow[digest];
    if (state.isEmpty())
        ++windowUndetermined;
    else
        ++windowCounts[state];
    while (int(decisions.size()) > window) {
        const auto [oldDigest, oldState] = decisions.front();
        decisions.pop_front();
        if (--inWindow[oldDigest] == 0)
            inWindow.remove(oldDigest);
        if (oldState.isEmpty())
            --windowUndetermined;
        else if (--windowCounts[oldState] == 0)
            windowCounts.remove(oldState);
    }
}

bool TallyTracker::applyIssued(TicketTally &tally, const QJsonObject &event)
{
    const QString ticket = event.value(u"ticket").toString();
    qint64 version = 0;
    if (ticket.isEmpty() || !intField(event, u"version", &version))
        return false;
    tally.ticket = ticket;
    tally.version = int(version);
    tally.branch = event.value(u"branch").toString();
    tally.amountMinor = event.value(u"amount_minor").toInteger(tally.amountMinor);
    tally.currency = event.value(u"currency").toString(tally.currency);
    tally.issuedAtMs = event.value(u"issued_at_ms").toInteger(tally.issuedAtMs);
    recount(tally);
    return true;
}

bool TallyTracker::applyConfirmation(TicketTally &tally, const QJsonObject &event, qint64 seq)
{
    const QString target = event.value(u"target").toString();
    const QString state = event.value(u"state").toString();
    const QString verdict = event.value(u"verdict").toString();
    if (target.isEmpty() || verdict.isEmpty())
        return false;
    if (tally.ticket.isEmpty()) {
        tally.ticket = event.value(u"ticket").toString();
        tally.version = int(event.value(u"version").toInteger(0));
        tally.branch = event.value(u"branch").toString();
    }

    if (verdict == QLatin1String("counted")) {
        if (state.isEmpty())
            return false;
        const bool replayed = seq >= 0 && seq < tally.outcomeSeq;
        if (tally.outcome == kUndetermined && !replayed) {
            // A counted vote after UNDETERMINED means an operator restarted the tally.
            const TicketTally previous = tally;
            tally = TicketTally();
            tally.digest = previous.digest;
            tally.ticket = previous.ticket;
            tally.version = previous.version;
            tally.branch = previous.branch;
            tally.amountMinor = previous.amountMinor;
            tally.currency = previous.currency;
            tally.issuedAtMs = previous.issuedAtMs;
            tally.lastEventMs = previous.lastEventMs;
            tally.sourceNode = previous.sourceNode;
            tally.n = previous.n;
            tally.q = previous.q;
        }
        if (tally.votes.value(target) == state)
            return true; // the same vote again (an overlapping replay): counted once
        if (!tally.isPending()) {
            appendOnce(tally.late, target); // should not happen: the coordinator says after-outcome
            return true;
        }
        tally.votes.insert(target, state);
        appendOnce(tally.voters, target);
    } else if (verdict == QLatin1String("equivocation")) {
        if (tally.isPending()) {
            tally.votes.remove(target);
            tally.voters.removeAll(target);
        }
        appendOnce(tally.equivocating, target);
    } else if (verdict == QLatin1String("bad-signature")) {
        appendOnce(tally.badSignature, target);
    } else if (verdict == QLatin1String("not-member") || verdict == QLatin1String("not-target") ||
               verdict == QLatin1String("wrong-consortium")) {
        appendOnce(tally.nonMember, target);
    } else if (verdict == QLatin1String("after-outcome")) {
        appendOnce(tally.late, target);
    } else if (verdict != QLatin1String("duplicate")) {
        appendOnce(tally.otherRejected, target + QStringLiteral(": ") + verdict);
    }
    recount(tally);
    return true;
}

bool TallyTracker::applyEquivocation(TicketTally &tally, const QJsonObject &event)
{
    const QString target = event.value(u"target").toString();
    if (target.isEmpty())
        return false;
    if (tally.ticket.isEmpty())
        tally.ticket = event.value(u"ticket").toString();
    if (tally.isPending()) {
        tally.votes.remove(target);
        tally.voters.removeAll(target);
    }
    appendOnce(tally.equivocating, target);
    recount(tally);
    return true;
}

bool TallyTracker::applyDecision(TicketTally &tally, const QJsonObject &event, qint64 seq)
{
    const QString outcome = event.value(u"outcome").toString();
    const QString state = event.value(u"state").toString();
    qint64 n = 0;
    qint64 q = 0;
    if (outcome != kDecided && outcome != kUndetermined)
        return false;
    if (outcome == kDecided && state.isEmpty())
        return false;
    if (!intField(event, u"n", &n) || !intField(event, u"q", &q) || n < 0 || q < 0)
        return false;
    const QJsonValue histogramValue = event.value(u"histogram");
    if (!histogramValue.isObject())
        return false;
    QMap<QString, int> histogram;
    const QJsonObject histogramObject = histogramValue.toObject();
    for (auto it = histogramObject.constBegin(); it != histogramObject.constEnd(); ++it) {
        if (!it.value().isDouble() || it.value().toInteger() < 0)
            return false;
        if (it.value().toInteger() > 0)
            histogram.insert(it.key(), int(it.value().toInteger()));
    }

    if (const QString ticket = event.value(u"ticket").toString(); !ticket.isEmpty())
        tally.ticket = ticket;
    tally.version = int(event.value(u"version").toInteger(tally.version));
    tally.branch = event.value(u"branch").toString(tally.branch);
    tally.amountMinor = event.value(u"amount_minor").toInteger(tally.amountMinor);
    tally.currency = event.value(u"currency").toString(tally.currency);
    tally.issuedAtMs = event.value(u"issued_at_ms").toInteger(tally.issuedAtMs);
    tally.decidedAtMs = event.value(u"decided_at_ms").toInteger(0);
    tally.latencyMs = event.value(u"latency_ms").toInteger(-1);
    tally.n = int(n);
    tally.q = int(q);
    tally.outcome = outcome;
    tally.outcomeSeq = seq;
    tally.decidedState = outcome == kDecided ? state : QString();
    // The coordinator's histogram is authoritative, even if some events were missed.
    tally.counts = histogram;
    const qint64 missing = event.value(u"missing").toInteger(-1);
    tally.nonVoters = missing >= 0
                          ? int(missing)
                          : std::max(0, tally.n - int(tally.voters.size()) - int(tally.equivocating.size()));
    return true;
}

} // namespace ticketsync
