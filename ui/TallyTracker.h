#pragma once

#include <QHash>
#include <QJsonObject>
#include <QMap>
#include <QObject>
#include <QStringList>
#include <list>

namespace ticketsync {

// One write-off's votes as the coordinator counted them, rebuilt from its events.
struct TicketTally
{
    QString digest; // the write-off digest, lower-case hex as the API sends it
    QString ticket;
    int version = 0;
    QString branch;
    qint64 amountMinor = 0;
    QString currency;
    int n = 0;                    // target nodes in the membership; 0 until known
    int q = 0;                    // quorum; 0 until known
    QMap<QString, int> counts;    // state name -> counted votes
    QMap<QString, QString> votes; // target -> state name of its counted vote
    QStringList voters;           // targets whose vote is counted, in arrival order
    QStringList badSignature;     // targets that sent a confirmation whose signature failed
    QStringList equivocating;     // targets that signed two different states
    QStringList nonMember;        // signers outside the consortium's target set
    QStringList late;             // valid votes that arrived after the outcome
    QStringList otherRejected;    // "target: verdict" for every other discarded confirmation
    int nonVoters = 0;            // targets that have not answered (and did not equivocate)
    QString outcome;              // "" while pending, then DECIDED or UNDETERMINED
    QString decidedState;         // the decided state's name; "" unless DECIDED
    qint64 issuedAtMs = 0;
    qint64 decidedAtMs = 0;
    qint64 latencyMs = -1;  // acceptance to outcome as the coordinator measured it; -1 unknown
    qint64 lastEventMs = 0; // at_ms of the newest event applied: how fresh this tally is
    QString sourceNode;     // the node whose events built it
    qint64 outcomeSeq = -1; // seq of the decision_made event behind the outcome; -1 if none

    bool isValid() const { return !digest.isEmpty(); }
    bool isPending() const { return outcome.isEmpty(); }
    int answered() const { return int(voters.size()); }
    int topCount() const;
    // The state with the most counted votes (the decided one once DECIDED); "" without votes.
    QString leadingState() const;
    // Votes the leading state still needs to reach q; 0 once it has.
    int margin() const;
    // Whether some state can still reach q with the targets that have not answered.
    bool canReachQuorum() const;
};

// Builds per-write-off tallies and a rolling aggregate of decided states from the
// coordinator's event stream (docs/api.md). Pure bookkeeping: the shell feeds it events.
class TallyTracker : public QObject
{
    Q_OBJECT

public:
    struct Aggregate
    {
        QMap<QString, int> decided; // state name -> decisions in the window
        int undetermined = 0;
        int window = 0; // decisions counted (at most the configured window)
    };

    explicit TallyTracker(QObject *parent = nullptr);

    // Applies one event frame. Returns false (and logs why) for a malformed event or one of
    // a kind the tracker does not use. sourceNode names the node it came from.
    bool applyEvent(const QJsonObject &event, const QString &sourceNode = {});
    // n and q from the membership reply, so pending tallies show them before any decision.
    void setMembershipQuorum(int n, int q);
    int membershipTargets() const { return defaultN; }
    int membershipQuorum() const { return defaultQ; }

    // At most this many write-offs are kept; the least recently updated go first.
    void setCapacity(int maximumTallies);
    int capacity() const { return maxTallies; }
    // The aggregate covers the last this-many decisions.
    void setAggregateWindow(int decisions);
    int aggregateWindow() const { return window; }

    TicketTally tally(const QString &digest) const;
    bool contains(const QString &digest) const { return tallies.contains(digest); }
    // The most recently updated write-off.
    QString latestDigest() const;
    // The tallies of one ticket, newest first.
    QList<TicketTally> talliesForTicket(const QString &ticket) const;
    int size() const { return int(tallies.size()); }
    Aggregate aggregate() const;

    void clear();

Q_SIGNALS:
    void tallyChanged(const QString &digest);
    void aggregateChanged();

private:
    struct Entry
    {
        TicketTally tally;
        std::list<QString>::iterator order;
    };

    TicketTally *touch(const QString &digest);
    void recount(TicketTally &tally) const;
    void evictOverflow();
    void recordDecision(const QString &digest, const QString &state);
    bool applyIssued(TicketTally &tally, const QJsonObject &event);
    bool applyConfirmation(TicketTally &tally, const QJsonObject &event, qint64 seq);
    bool applyEquivocation(TicketTally &tally, const QJsonObject &event);
    bool applyDecision(TicketTally &tally, const QJsonObject &event, qint64 seq);

    QHash<QString, Entry> tallies;
    std::list<QString> recency; // front = most recently updated
    QHash<QString, QStringList> byTicket;
    int maxTallies = 5000;
    int defaultN = 0;
    int defaultQ = 0;

    int window = 500;
    std::list<std::pair<QString, QString>> decisions; // (digest, state or "" if undetermined), oldest first
    QHash<QString, int> inWindow;                     // digest -> entries in `decisions`
    QMap<QString, int> windowCounts;
    int windowUndetermined = 0;
};

} // namespace ticketsync
