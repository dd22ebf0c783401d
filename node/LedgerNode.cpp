#include "LedgerNode.h"

#include "CanonicalWriter.h"

#include "DecisionSummary.h"
#include "EventKind.h"
#include "JsonObjectWriter.h"
#include "NodeFrame.h"
#include "NodeServer.h"
#include "PeerLink.h"
#include "TicketRegistryFile.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QHostAddress>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <algorithm>
#include <limits>
#include <optional>

Q_LOGGING_CATEGORY(lcNode, "ticketsync.node", QtWarningMsg)
Q_LOGGING_CATEGORY(lcCoordinator, "ticketsync.node.coordinator", QtWarningMsg)
Q_LOGGING_CATEGORY(lcSync, "ticketsync.node.sync", QtWarningMsg)

namespace ticketsync {

namespace {

constexpr int kApiVersion = 1;
// The live event cache: the newest events, for subscribers that are close behind. Capped by
// size too, since a receiver's block event names every write-off in the block. Frames are UTF-8
// since 4f9d576; 4 MiB of them is the same number of events as the 8 MiB of UTF-16 before.
constexpr int kRecentEvents = 5000;
constexpr qsizetype kRecentEventBytes = 4 * 1024 * 1024;
constexpr int kEventsPerPump = 2000;
// A subscriber that reads slower than events arrive waits here instead of in memory: it is
// served again from the journal once its socket has drained.
constexpr qint64 kMaxQueuedBytesPerSubscriber = 4 * 1024 * 1024;
constexpr int kFinishedRoundsKept = 2000;
// A consumer sent every block that acknowledged within this is waiting for blocks in flight.
constexpr qint64 kBlocksInFlightMs = 5000;
// Votes on write-offs without a tally that one frame may make the coordinator look up.
constexpr qsizetype kUnsolicitedVotesLookedUp = 16;
// Distinct votes of one target on one write-off that are verified: the second proves it signed
// two states; a third proves nothing new, and each would cost a verify.
constexpr int kVotesVerifiedPerTarget = 2;
// Checks, submissions and journal commits go out at most once per this spacing (BatchWindow):
// one flush and one frame then serve everything that arrived meanwhile. Per-wakeup costs (fsync,
// syscalls, TLS records) dominated a node's CPU at moderate load, so this lowers latency under
// load as well as CPU. Work after a quiet spell goes out at once.
constexpr int kBatchWindowMs = 2;
// Events alone are spaced wider on a branch, target or receiver: nothing there waits for them but
// a watching console, and a flush (with its fsync) per 2 ms was a fifth of a branch's CPU.
// The coordinator's events are the decisions clients wait for, so they keep the short window.
constexpr int kEventOnlyWindowMs = 20;
// What a node understands of the node protocol, announced in peer_hello: 1, the binary frames
// of kinds 1 to 4; 2, also the coordinator's Submitted frame. Nodes upgrade one at a time, so
// the coordinator answers a branch in the newest form it announced.
constexpr int kNodeProtocol = 2;
// A peer's refused requests and reported errors are logged once per this, the first in full and the
// rest as a count: a peer may send 50,000 a second (limits.max_messages_per_second).
constexpr qint64 kPeerLogWindowMs = 10000;
// Blocks are read from the ledger a few at a time: a peer that takes small messages needs only
// the first ones, and a long catch-up never holds many decoded blocks at once.
constexpr int kBlocksPerRead = 16;
// The longest a node waits between attempts to reach the coordinator.
constexpr int kPeerBackoffMaxMs = 2000;
// A chain store whose batch or get_blocks was refused asks again after this, doubling up to the
// most: nothing else may make it ask, as the coordinator need not seal another block.
constexpr int kSyncRetryFirstMs = 200;
constexpr int kSyncRetryMaxMs = 5000;
// After a refusal the coordinator calls lasting (a block larger than this node takes), it asks
// again only after this, a reconnect or an operator's re-sync.
constexpr int kSyncRetryLastingMs = 300000;
// A get_blocks still unanswered after this is taken as lost and asked again: the coordinator
// answers every one, so this only keeps a store from waiting for good on an answer that never comes.
constexpr int kSyncAnswerTimeoutMs = 30000;
// A journal that cannot commit is tried again after this, doubling up to the most: soon after
// a brief fault, and no busy loop against a full disk.
constexpr int kJournalRetryFirstMs = 50;
constexpr int kJournalRetryMaxMs = 5000;

// The "kinds" of a subscribe request: absent means every kind. An unknown kind is refused rather
// than matched against nothing, so a misspelt filter does not look like a quiet network.
std::optional<QSet<QString>> subscriptionKinds(const QJsonObject &request, QString *problem)
{
    QSet<QString> kinds;
    if (!request.contains(u"kinds"))
        return kinds;
    const QJsonValue value = request.value(u"kinds");
    if (!value.isArray() || value.toArray().isEmpty()) {
        *problem = QStringLiteral("kinds must be a non-empty array of event kinds");
        return std::nullopt;
    }
    const QJsonArray list = value.toArray();
    for (qsizetype i = 0; i < list.size(); ++i) {
        const QString kind = list.at(i).toString();
        if (!eventKindNames().contains(kind)) {
            QStringList known(eventKindNames().cbegin(), eventKindNames().cend());
            known.sort();
            *problem = QStringLiteral("kinds[%1]: %2 is not an event kind (one of %3)")
                           .arg(i)
                           .arg(list.at(i).isString() ? QStringLiteral("'%1'").arg(kind)
                                                      : QStringLiteral("a non-string"),
                                known.join(QStringLiteral(", ")));
            return std::nullopt;
        }
        kinds.insert(kind);
    }
    return kinds;
}

// A node frame (NodeFrame): "TSNF", format version, kind, u64 header and u32 count, then a u32
// length in front of each item (a block, a check, a vote, ...).
constexpr qint64 kNodeFrameBytes = 4 + 1 + 1 + 8 + 4;
constexpr qint64 kNodeFrameBytesPerItem = 4;

// Sends the items in as few frames of this kind as the peer takes, each within its
// max_frame_bytes: a frame over it would close the link (1009) and be sent again after the
// reconnect, forever. Submissions number their items from the header on, so each later frame's
// header is the id of its first item.
void sendWithin(Connection *to, const NodeFrame &frame)
{
    const qint64 limit = to->peerMaxFrameBytes();
    qsizetype first = 0;
    while (first < frame.items.size()) {
        qsizetype end = first;
        qint64 size = kNodeFrameBytes;
        // At least one item per frame: an item alone over the limit cannot be split.
        while (end < frame.items.size() &&
               (end == first || size + kNodeFrameBytesPerItem + frame.items.at(end).size() <= limit))
            size += kNodeFrameBytesPerItem + frame.items.at(end++).size();
        const quint64 header =
            frame.kind == NodeFrame::Kind::SubmitWriteOff ? frame.header + quint64(first) : frame.header;
        to->sendBinary(NodeFrame{frame.kind, header, frame.items.mid(first, end - first)}.encode());
        first = end;
    }
}

// How many of these encoded blocks, from the first, fit one frame of at most frameLimit bytes.
qsizetype blocksThatFit(const QList<QByteArray> &encoded, qint64 frameLimit)
{
    qint64 size = kNodeFrameBytes;
    qsizetype count = 0;
    for (const QByteArray &block : encoded) {
        size += kNodeFrameBytesPerItem + block.size();
        if (size > frameLimit)
            break;
        ++count;
    }
    return count;
}

// The most bytes one decision can take in a block under this membership, and a block without
// decisions: every text field at its limit and every target's vote in the certificate, with a
// reason of the longest length a confirmation may carry.
std::pair<qint64, qint64> largestBlockParts(const Membership &membership)
{
    const QByteArray digest(32, '\0');
    const QByteArray signature(SignatureScheme::standard().signatureSize(), '\0');
    qsizetype longestBranch = 0;
    qsizetype longestCoordinator = 0;
    QList<StateConfirmation> votes;
    for (const Member &member : membership.members()) {
        if (member.hasRole(Role::Branch))
            longestBranch = qMax(longestBranch, member.id.size());
        if (member.hasRole(Role::Coordinator))
            longestCoordinator = qMax(longestCoordinator, member.id.size());
        if (member.hasRole(Role::Target)) {
            StateConfirmation vote;
            vote.membershipHash = digest;
            vote.targetId = member.id;
            vote.writeOffDigest = digest;
            vote.reason = QString(kMaxReasonBytes, u'r');
            vote.signature = signature;
            votes.append(std::move(vote));
        }
    }
    Decision decision;
    decision.writeOff.membershipHash = digest;
    decision.writeOff.ticketId = QString(kMaxTicketIdLength, u't');
    decision.writeOff.currency = QStringLiteral("CNY");
    decision.writeOff.branchId = QString(longestBranch, u'b');
    decision.writeOff.clientReference = QString(kMaxClientReferenceBytes, u'c');
    decision.writeOff.signature = signature;
    decision.outcome = Outcome::Decided;
    for (qsizetype i = 0; i < votes.size(); ++i)
        decision.histogram.append({quint16(i + 1), 1});
    decision.confirmations = votes;
    Block block;
    block.previousHash = digest;
    block.membershipHash = digest;
    block.coordinatorId = QString(longestCoordinator, u'c');
    block.merkleRoot = digest;
    block.signature = signature;
    return {kNodeFrameBytesPerItem + decision.encode().size(),
            kNodeFrameBytes + kNodeFrameBytesPerItem + block.encode().size()};
}

// The fields of an API request, each checked for its JSON type and range: a string where a
// number belongs, a fraction or a number out of range is refused, never read as 0 or cut to fit.
// The first problem names its field.
class RequestFields
{
public:
    explicit RequestFields(const QJsonObject &request) : request(request) {}

    bool failed() const { return !error.isEmpty(); }
    const QString &problem() const { return error; }
    void fail(const QString &problem)
    {
        if (error.isEmpty())
            error = problem;
    }

    // A whole number from minimum to maximum; absent, the fallback, or a problem if there is none.
    qint64 integer(QLatin1StringView key, qint64 minimum, qint64 maximum, std::optional<qint64> fallback)
    {
        const QJsonValue value = request.value(key);
        if (value.isUndefined()) {
            if (!fallback)
                fail(QStringLiteral("'%1' is required").arg(key));
            return fallback.value_or(0);
        }
        // toInteger() answers its default for anything but a whole number a qint64 holds: two
        // defaults tell such a value from one that happens to equal the default.
        const qint64 number = value.toInteger(0);
        if (!value.isDouble() || number != value.toInteger(1) || number < minimum || number > maximum) {
            fail(QStringLiteral("'%1' must be an integer from %2 to %3").arg(key).arg(minimum).arg(maximum));
            return fallback.value_or(0);
        }
        return number;
    }

    // A string; absent, the fallback, or a problem if there is none.
    QString string(QLatin1StringView key, std::optional<QString> fallback)
    {
        const QJsonValue value = request.value(key);
        if (value.isUndefined()) {
            if (!fallback)
                fail(QStringLiteral("'%1' is required").arg(key));
            return fallback.value_or(QString());
        }
        if (!value.isString()) {
            fail(QStringLiteral("'%1' must be a string").arg(key));
            return fallback.value_or(QString());
        }
        // A lone surrogate would reach a canonical encoding as '?', sharing it with another text.
        QString text = value.toString();
        if (const QString problem = checkCanonicalString(text, QString(key)); !problem.isEmpty()) {
            fail(problem);
            return fallback.value_or(QString());
        }
        return text;
    }

private:
    const QJsonObject &request;
    QString error;
};

QString hex(const QByteArray &bytes)
{
    return QString::fromLatin1(bytes.toHex());
}

QString base64(const QByteArray &bytes)
{
    return QString::fromLatin1(bytes.toBase64());
}

// Decodes a base64 field; empty with an error when it is missing or not base64.
QByteArray decodeField(const QJsonObject &message, const char *field, QString *error)
{
    const QJsonValue value = message.value(QLatin1String(field));
    if (!value.isString()) {
        *error = QStringLiteral("'%1' must be a base64 string").arg(QLatin1String(field));
        return {};
    }
    auto decoded =
        QByteArray::fromBase64Encoding(value.toString().toLatin1(), QByteArray::AbortOnBase64DecodingErrors);
    if (!decoded) {
        *error = QStringLiteral("'%1' is not valid base64").arg(QLatin1String(field));
        return {};
    }
    return *decoded;
}

// Exactly 64 hex digits: QByteArray::fromHex skips what is not one, so "ab-cd…" or a digest
// with more after it would otherwise name some other write-off.
std::optional<QByteArray> hexDigest(const QJsonValue &value)
{
    const QString text = value.toString();
    const bool hexDigits =
        text.size() == 64 && std::all_of(text.cbegin(), text.cend(), [](QChar c) {
            return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f') || (c >= u'A' && c <= u'F');
        });
    if (!hexDigits)
        return std::nullopt;
    return QByteArray::fromHex(text.toLatin1());
}

QByteArray digestField(const QJsonObject &message, QString *error)
{
    std::optional<QByteArray> digest = hexDigest(message.value(u"digest"));
    if (!digest) {
        *error = QStringLiteral("'digest' must be the write-off digest in 64 hex digits");
        return {};
    }
    return *digest;
}

// Names the write-offs a block holds, so a client can place each decision in the chain.
// hexDigests: theirs in block order, which the caller has taken already.
QByteArray blockEvent(const Block &block, const QList<QByteArray> &hexDigests)
{
    return JsonObjectWriter()
        .add(QLatin1StringView("height"), qint64(block.height))
        .addAscii(QLatin1StringView("hash"), block.hash().toHex())
        .add(QLatin1StringView("decisions"), block.decisions.size())
        .add(QLatin1StringView("timestamp_ms"), block.timestampMs)
        .addAsciiArray(QLatin1StringView("write_off_digests"), hexDigests)
        .finish();
}

// Both the branch that signs a write-off and the coordinator that accepts it announce it.
QByteArray writeOffIssuedEvent(const WriteOffResult &writeOff, const QByteArray &digest)
{
    return JsonObjectWriter()
        .addAscii(QLatin1StringView("write_off_digest"), digest.toHex())
        .add(QLatin1StringView("ticket"), writeOff.ticketId)
        .add(QLatin1StringView("version"), qint64(writeOff.ticketVersion))
        .add(QLatin1StringView("branch"), writeOff.branchId)
        .add(QLatin1StringView("amount_minor"), writeOff.amountMinor)
        .add(QLatin1StringView("currency"), writeOff.currency)
        .add(QLatin1StringView("reference"), writeOff.clientReference)
        .add(QLatin1StringView("issued_at_ms"), writeOff.issuedAtMs)
        .finish();
}

// Operator commands; everything else on the API is read-only.
bool isCommand(const QString &type)
{
    return type == QLatin1String("submit") || type == QLatin1String("resync_receiver") ||
           type == QLatin1String("retry_deliveries") || type == QLatin1String("retry_undetermined");
}

} // namespace

qint64 LedgerNode::nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

LedgerNode::~LedgerNode()
{
    shutdown();
}

std::optional<LedgerNode::Identity> LedgerNode::loadIdentity(const NodeConfig &config, QString *error)
{
    auto failWith = [&](const QString &message) -> std::optional<Identity> {
        if (error)
            *error = message;
        return std::nullopt;
    };
    QString problem;
    std::optional<Membership> membership = Membership::load(config.membershipPath, &problem);
    if (!membership)
        return failWith(problem);
    Identity identity;
    identity.membership = std::move(*membership);
    const Member *self = identity.membership.member(config.nodeId);
    if (!self)
        return failWith(
            QStringLiteral("%1: 'node_id': '%2' is not a member of consortium '%3' (%4)")
                .arg(config.path, config.nodeId, identity.membership.consortiumId(), config.membershipPath));
    identity.roles = self->roles;
    for (const Member &member : identity.membership.members()) {
        if (member.hasRole(Role::Coordinator)) {
            identity.coordinatorId = member.id;
            break;
        }
    }

    std::optional<KeyPair> key = KeyFile::readSecretKey(config.signingKeyPath, &problem);
    if (!key)
        return failWith(QStringLiteral("%1: 'signing_key': %2").arg(config.path, problem));
    if (key->publicKey != self->publicKey)
        return failWith(QStringLiteral("%1: 'signing_key': %2 is not the key the membership lists for '%3'")
                            .arg(config.path, config.signingKeyPath, config.nodeId));
    identity.signingKey = *key;

    if (identity.roles.testFlag(Role::Coordinator)) {
        // A block the receivers could never take would stop every one of them at its height.
        const auto [perDecision, emptyBlock] = largestBlockParts(identity.membership);
        const qint64 largest = emptyBlock + perDecision * config.blockMaxDecisions;
        if (largest > config.maxFrameBytes)
            return failWith(
                QStringLiteral("%1: 'coordinator.block_max_decisions': a block of %2 decisions may "
                               "take %3 bytes under this membership, more than 'limits.max_frame_bytes' "
                               "(%4) lets a node receive in one message; lower block_max_decisions to "
                               "%5 or raise max_frame_bytes to %3")
                    .arg(config.path)
                    .arg(config.blockMaxDecisions)
                    .arg(largest)
                    .arg(config.maxFrameBytes)
                    .arg(qMax<qint64>(0, (config.maxFrameBytes - emptyBlock) / perDecision)));
    }

    identity.tls =
        TlsIdentity::load(config.tlsCertificatePath, config.tlsKeyPath, config.tlsCaPath, &problem);
    if (!identity.tls)
        return failWith(QStringLiteral("%1: 'tls': %2").arg(config.path, problem));
    const PeerIdentity tlsSelf = identity.tls->self();
    if (tlsSelf.kind != PartyKind::Node || tlsSelf.name != config.nodeId)
        return failWith(QStringLiteral("%1: 'tls.certificate': %2 names %3 '%4', not node '%5'")
                            .arg(config.path, config.tlsCertificatePath, partyKindName(tlsSelf.kind),
                                 tlsSelf.name, config.nodeId));
    return identity;
}

bool LedgerNode::checkRegistry(const NodeConfig &config, qint64 *tickets, QString *error)
{
    TicketRegistryFile::Reader registry;
    if (!registry.open(config.registryPath, error))
        return false;
    Ticket ticket;
    qint64 count = 0;
    QString problem;
    while (registry.next(&ticket, &problem))
        ++count;
    if (!problem.isEmpty()) {
        if (error)
            *error = problem;
        return false;
    }
    if (tickets)
        *tickets = count;
    return true;
}

std::unique_ptr<LedgerNode> LedgerNode::create(const NodeConfig &config, QString *error,
                                               bool *inConfiguration)
{
    if (inConfiguration)
        *inConfiguration = true;
    std::optional<Identity> identity = loadIdentity(config, error);
    if (!identity)
        return nullptr;
    std::unique_ptr<LedgerNode> node(new LedgerNode);
    node->config = config;
    node->nodeId = config.nodeId;
    node->membership = std::move(identity->membership);
    node->roles = identity->roles;
    node->coordinatorId = identity->coordinatorId;
    node->signingKey = identity->signingKey;
    node->tls = std::move(identity->tls);
    QString problem;
    auto failWith = [&](const QString &message) -> std::unique_ptr<LedgerNode> {
        if (error)
            *error = message;
        return nullptr;
    };

    // From here a failure is the store's or the disk's, unless the registry is at fault.
    if (inConfiguration)
        *inConfiguration = false;
    // Two nodes on one ledger and journal would each sign and store as if alone. A lock whose
    // process is gone (SIGKILL) is taken over; a live one is never stale, however old.
    node->databaseLock = std::make_unique<QLockFile>(config.databasePath + QStringLiteral(".lock"));
    node->databaseLock->setStaleLockTime(0);
    if (!node->databaseLock->tryLock(0)) {
        if (node->databaseLock->error() != QLockFile::LockFailedError)
            return failWith(
                QStringLiteral("%1: cannot create its lock file %1.lock (%2)")
                    .arg(config.databasePath, node->databaseLock->error() == QLockFile::PermissionError
                                                  ? QStringLiteral("permission denied")
                                                  : QStringLiteral("unknown error")));
        qint64 pid = 0;
        QString host;
        QString application;
        node->databaseLock->getLockInfo(&pid, &host, &application);
        return failWith(QStringLiteral("%1 is in use by another node (process %2 on %3, lock file %1.lock); "
                                       "each node needs a database of its own")
                            .arg(config.databasePath)
                            .arg(pid)
                            .arg(host));
    }
    node->store = LedgerStore::open(config.databasePath, &problem);
    if (!node->store)
        return failWith(problem);
    if (const QString head = node->store->checkHead(); !head.isEmpty())
        return failWith(head);
    if (node->store->height() > 0) {
        // Appending under another membership would fork the chain for every verifier.
        const std::optional<Block> head = node->store->block(node->store->height(), &problem);
        if (head && head->membershipHash != node->membership.hash())
            return failWith(
                QStringLiteral("%1: the chain here was sealed under consortium configuration %2, but %3 "
                               "hashes to %4; a changed membership needs a new ledger")
                    .arg(config.databasePath, QString::fromLatin1(head->membershipHash.toHex().left(16)),
                         config.membershipPath,
                         QString::fromLatin1(node->membership.hash().toHex().left(16))));
    }
    const QFileInfo database(config.databasePath);
    node->journal = NodeJournal::open(
        database.dir().filePath(database.completeBaseName() + QStringLiteral(".events")), &problem);
    if (!node->journal)
        return failWith(problem);
    node->verifier = std::make_unique<ChainVerifier>(node->membership, 1);

    if (node->roles.testFlag(Role::Target)) {
        if (!config.registryPath.isEmpty()) {
            // Row by row: a registry of millions of tickets is never in memory whole (the heap
            // would keep the peak for the node's life).
            TicketRegistryFile::Reader registry;
            bool registryAtFault = true;
            if (!registry.open(config.registryPath, &problem)) {
                if (inConfiguration)
                    *inConfiguration = true;
                return failWith(problem);
            }
            qint64 imported = 0;
            if (!node->store->importTickets(
                    [&registry, &registryAtFault](Ticket *ticket, QString *error) {
                        const bool more = registry.next(ticket, error);
                        registryAtFault = !more && error && !error->isEmpty();
                        return more;
                    },
                    &problem, &imported)) {
                if (inConfiguration)
                    *inConfiguration = registryAtFault;
                return failWith(problem);
            }
            qCInfo(lcNode) << "imported" << imported << "tickets from" << config.registryPath;
        }
        node->checker =
            std::make_unique<WriteOffChecker>(node->membership, node->nodeId, node->signingKey, *node->store);
    }
    return node;
}

void LedgerNode::announceUnannouncedBlocks()
{
    // A block is committed, and acknowledged, before its block_appended event reaches the
    // journal's next commit; a crash between the two leaves the block without its event. Such
    // blocks are announced now, under new numbers, so a client following the stream misses none.
    // That window is one commit, a few blocks at most: the search and the catch-up are bounded so
    // that a journal which lost its block events some other way (pruned past them, or begun
    // beside an older chain) never makes a start re-announce the chain.
    constexpr qint64 kEventsSearched = 100000;
    constexpr quint64 kMaxBlocksAnnounced = 256;
    QString problem;
    const std::optional<quint64> announced =
        journal->lastHeightAnnounced(eventKindName(EventKind::BlockAppended), kEventsSearched, &problem);
    if (!announced) {
        qCWarning(lcNode) << "cannot tell which blocks have their events:" << problem;
        return;
    }
    const quint64 height = store->height();
    if (*announced >= height)
        return;
    // No block event found: known to be none only if every event since the first is still here.
    const bool knownNone =
        journal->firstSeq() == 1 && journal->lastSeq() > 0 && journal->lastSeq() <= kEventsSearched;
    if ((*announced == 0 && !knownNone) || height - *announced > kMaxBlocksAnnounced) {
        qCWarning(lcNode) << "the journal's newest block event names height" << *announced << "of" << height
                          << "; a stop leaves a few blocks without their events, not this many, so none is "
                             "announced again";
        return;
    }
    const quint64 first = *announced + 1;
    for (quint64 next = first; next <= height;) {
        const QList<Block> blocks = store->blocks(next, kBlocksPerRead, &problem);
        if (blocks.isEmpty()) {
            qCWarning(lcNode) << "cannot announce block" << next << "and after:" << problem;
            return;
        }
        for (const Block &block : blocks) {
            QList<QByteArray> hexDigests;
            hexDigests.reserve(block.decisions.size());
            for (const Decision &decision : block.decisions)
                hexDigests.append(decision.writeOff.digest().toHex());
            emitEvent(EventKind::BlockAppended, blockEvent(block, hexDigests));
        }
        next = blocks.last().height + 1;
    }
    qCInfo(lcNode) << "announced blocks" << first << "to" << height
                   << ", stored before a stop without their events";
}

bool LedgerNode::start(QString *error)
{
    uptime.start();
    workerMembership = std::make_shared<const Membership>(membership);
    subscriberPump.setSingleShot(true);
    connect(&subscriberPump, &QTimer::timeout, this, &LedgerNode::pumpSubscribers);
    broadcastSeq = journal->lastSeq();
    announceUnannouncedBlocks();
    journalRetryTimer.setSingleShot(true);
    connect(&journalRetryTimer, &QTimer::timeout, this, &LedgerNode::flush);
    connect(&rateTimer, &QTimer::timeout, this, [this] {
        rateSamples.append(
            {uptime.elapsed(),
             counters.value(QStringLiteral("decided")) + counters.value(QStringLiteral("undetermined")),
             counters.value(QStringLiteral("submissions")),
             counters.value(QStringLiteral("confirmations")) +
                 counters.value(QStringLiteral("confirmations_sent"))});
        if (rateSamples.size() > 11)
            rateSamples.removeFirst();
    });
    rateTimer.start(1000);

    const Connection::Limits limits{.maxFrameBytes = config.maxFrameBytes,
                                    .maxMessagesPerSecond = config.maxMessagesPerSecond,
                                    .maxUnreadBytes = config.maxUnreadBytes,
                                    .notReadingCloseMs = config.notReadingCloseMs,
                                    .handshakeTimeoutMs = config.handshakeTimeoutMs,
                                    .maxPendingHandshakes = config.maxPendingHandshakes,
                                    .maxPendingHandshakesPerAddress = config.maxPendingHandshakesPerAddress,
                                    .keepaliveIntervalMs = config.keepaliveIntervalMs,
                                    .keepaliveTimeoutMs = config.keepaliveTimeoutMs};
    server = new NodeServer(*tls, limits, this);
    connect(server, &NodeServer::connectionOpened, this, &LedgerNode::onConnection);
    QHostAddress address;
    if (config.listenHost == QLatin1String("localhost"))
        address = QHostAddress::LocalHost;
    else if (!address.setAddress(config.listenHost)) {
        if (error)
            *error =
                QStringLiteral("%1: 'listen': '%2' is not an IP address").arg(config.path, config.listenHost);
        return false;
    }
    if (!server->listen(address, config.listenPort, error))
        return false;

    if (roles.testFlag(Role::Coordinator)) {
        verifyWorker = std::make_unique<SerialWorker>(QStringLiteral("verify"));
        blockTimer.setSingleShot(true);
        connect(&blockTimer, &QTimer::timeout, this, &LedgerNode::sealBlocks);
        deadlineTimer.setSingleShot(true);
        connect(&deadlineTimer, &QTimer::timeout, this, &LedgerNode::onDeadlineTimer);
        for (const Member &member : membership.members()) {
            if (member.id != nodeId && (member.hasRole(Role::Target) || member.hasRole(Role::Receiver)))
                consumers.insert(member.id, Consumer());
        }
        // Submissions accepted before a restart: finished if the ledger has them, queued for their
        // block if the journal holds them decided, else tallied again. A decided one tallied again
        // would replace its committed decision, with another outcome if targets are down now.
        int resumed = 0;
        QList<Decision> unsealed;
        QString readError;
        const QList<PendingSubmission> pendingSubmissions = journal->pendingSubmissions(&readError);
        if (!readError.isEmpty()) {
            if (error)
                *error = readError;
            return false;
        }
        for (const PendingSubmission &pending : pendingSubmissions) {
            if (const std::optional<quint64> height = store->decisionHeight(pending.digest)) {
                // The ledger may have committed its block before the journal marked it sealed.
                journal->markSealed(pending.digest, *height);
                journal->removeSubmission(pending.digest);
                continue;
            }
            if (pending.undetermined)
                continue; // UNDETERMINED, or a decision set aside: left for an operator
            quint64 sealedAt = 0;
            if (const std::optional<QByteArray> bytes = journal->decisionBytes(pending.digest, &sealedAt);
                bytes && sealedAt == 0 && !bytes->isEmpty()) {
                if (std::optional<Decision> decision = Decision::decode(*bytes);
                    decision && decision->outcome == Outcome::Decided) {
                    unsealed.append(std::move(*decision));
                    continue;
                }
            }
            if (std::optional<WriteOffResult> writeOff = WriteOffResult::decode(pending.writeOff)) {
                startRound(*writeOff, pending.writeOff, pending.receivedMs, pending.attempts);
                ++resumed;
            }
        }
        // In the order they were decided, as they were queued before.
        std::stable_sort(unsealed.begin(), unsealed.end(),
                         [](const Decision &a, const Decision &b) { return a.decidedAtMs < b.decidedAtMs; });
        blockQueue.append(unsealed);
        if (!blockQueue.isEmpty())
            blockTimer.start(config.blockIntervalMs);
        scheduleFlush();
        qCInfo(lcCoordinator) << "coordinator at height" << store->height() << "resumed" << resumed
                              << "accepted write-offs and queued" << unsealed.size()
                              << "decided ones for their block";
    } else if (!coordinatorId.isEmpty()) {
        const Member *coordinator = membership.member(coordinatorId);
        coordinatorLink = new PeerLink(*tls, coordinator->address, coordinatorId, limits, this);
        coordinatorLink->setBackoff(100, kPeerBackoffMaxMs);
        syncRetryTimer.setSingleShot(true);
        connect(&syncRetryTimer, &QTimer::timeout, this, [this] {
            if (syncing)
                qCInfo(lcSync) << "no answer to get_blocks from" << syncFrom << "after"
                               << kSyncAnswerTimeoutMs << "ms; asking again";
            syncing = false;
            requestBlocks();
        });
        connect(coordinatorLink, &PeerLink::connected, this, &LedgerNode::onCoordinatorLink);
        connect(coordinatorLink, &PeerLink::disconnected, this, [this](const QString &reason) {
            qCInfo(lcSync) << "link to the coordinator is down:" << reason;
            syncing = false;
            syncRetryTimer.stop(); // it asks again once it is back
            for (auto it = upstream.begin(); it != upstream.end(); ++it) {
                if (it->client)
                    it->client->sendError(
                        QStringLiteral("submit"), it->clientRequestId,
                        QStringLiteral("the link to the coordinator dropped before it answered; "
                                       "look the write-off up by digest %1 before resubmitting")
                            .arg(hex(it->digest)));
            }
            upstream.clear();
            submissionsToSend = {};
        });
        coordinatorLink->start();
    }
    qCInfo(lcNode) << "node" << nodeId << "(" << roleNames(roles).join(u", ") << ") listening on port"
                   << server->port() << "at height" << store->height();
    return true;
}

void LedgerNode::shutdown()
{
    // Decisions waiting for their block are sealed now rather than after the restart: a block
    // sealed before the stop is one consumers can have at once.
    if (roles.testFlag(Role::Coordinator) && store && !blockQueue.isEmpty())
        sealBlocks();
    if (coordinatorLink)
        coordinatorLink->stop();
    if (server)
        server->close();
    // Submissions and votes still being verified were never acknowledged: dropped, not handled
    // after the journal's last commit.
    verifyWorker.reset();
    if (journal) {
        QString problem;
        if (!journal->commit(&problem))
            qCCritical(lcNode) << "stopping with" << journal->unstoredWrites()
                               << "journal writes not stored, none of them acknowledged:" << problem;
    }
}

quint16 LedgerNode::port() const
{
    return server ? server->port() : 0;
}

// ---------------------------------------------------------------------------------------
// Transport and authorization

void LedgerNode::onConnection(Connection *connection)
{
    connect(connection, &Connection::messageReceived, this,
            [this, connection](const QJsonObject &message) { onMessage(connection, message); });
    connect(connection, &Connection::binaryReceived, this,
            [this, connection](const QByteArray &frame) { onNodeFrame(connection, frame); });
    connect(connection, &Connection::closingNotReading, this,
            [this] { counters[QStringLiteral("closed_not_reading")]++; });
    // A chain store that has read what it was sent gets the blocks that waited for it.
    connect(connection, &Connection::drained, this, [this, connection] {
        const QString peer = connection->peer().name;
        if (connection->peer().kind != PartyKind::Node || !consumers.contains(peer) ||
            consumers[peer].connection != connection)
            return;
        if (const quint64 from = std::exchange(consumers[peer].resumeFrom, 0); from > 0)
            pushBlocks(peer, from);
        resendBlocks(peer);
    });
    connect(connection, &Connection::disconnected, this, [this, connection] {
        subscribers.remove(connection);
        checksToSend.remove(connection);
        for (const PeerLogKind kind : {PeerLogKind::Refused, PeerLogKind::Reported}) {
            if (const PeerLog log = peerLogs.take({connection, int(kind)}); log.unlogged > 0)
                qCWarning(lcNode) << log.unlogged << "more like it from" << log.peer
                                  << "until it closed; the last:" << log.last;
        }
        const QString peer = connection->peer().name;
        if (connection->peer().kind == PartyKind::Node && nodePeers.value(peer) == connection) {
            nodePeers.remove(peer);
            if (consumers.contains(peer)) {
                consumers[peer].connection = nullptr;
                consumers[peer].resendNext = 0; // it catches up by itself when it dials again
                consumers[peer].resendAnswerDue = false;
                // Closed by this side (not reading, or silent): why, until it dials again.
                if (!connection->abortReason().isEmpty())
                    consumers[peer].lastError = QStringLiteral("closed: %1").arg(connection->abortReason());
                updateConsumerStatus(peer);
            }
        }
    });
}

bool LedgerNode::allowed(Connection *connection, const QString &type, QString *why) const
{
    const PeerIdentity &peer = connection->peer();
    if (peer.kind == PartyKind::Node) {
        const Member *member = membership.member(peer.name);
        if (!member) {
            *why = QStringLiteral("node '%1' is not a member of this consortium").arg(peer.name);
            return false;
        }
        if (!roles.testFlag(Role::Coordinator)) {
            *why = QStringLiteral("'%1' is not a coordinator; nodes talk to the coordinator").arg(nodeId);
            return false;
        }
        Role needed = Role::Branch;
        if (type == QLatin1String("submit_write_off"))
            needed = Role::Branch;
        else if (type == QLatin1String("confirmation"))
            needed = Role::Target;
        else if (type == QLatin1String("get_blocks") || type == QLatin1String("ack") ||
                 type == QLatin1String("sync_error")) {
            if (member->hasRole(Role::Receiver) || member->hasRole(Role::Target))
                return true;
            *why = QStringLiteral("'%1' %2 is for receivers and targets").arg(peer.name, type);
            return false;
        } else if (type == QLatin1String("peer_hello") || type == QLatin1String("error"))
            return true; // an error: what a member could not take from us, logged and shown
        else {
            *why = QStringLiteral("unknown node message type '%1'").arg(type);
            return false;
        }
        if (!member->hasRole(needed)) {
            *why = QStringLiteral("'%1' may not send '%2': that is for %3 nodes")
                       .arg(peer.name, type, roleName(needed));
            return false;
        }
        return true;
    }
    if (isCommand(type) && peer.kind != PartyKind::Operator) {
        *why = QStringLiteral("role '%1' may not run '%2'; it is for operators")
                   .arg(partyKindName(peer.kind), type);
        return false;
    }
    return true;
}

void LedgerNode::logFromPeer(Connection *connection, PeerLogKind kind, const QString &what)
{
    PeerLog &log = peerLogs[{connection, int(kind)}];
    const qint64 now = nowMs();
    if (log.sinceMs != 0 && now - log.sinceMs < kPeerLogWindowMs) {
        ++log.unlogged;
        log.last = what;
        return;
    }
    if (log.peer.isEmpty())
        log.peer = connection->describe();
    if (log.unlogged > 0)
        qCWarning(lcNode) << log.unlogged << "more like it from" << log.peer << "in" << now - log.sinceMs
                          << "ms; the last:" << log.last;
    qCWarning(lcNode) << log.peer << what;
    log.sinceMs = now;
    log.unlogged = 0;
    log.last.clear();
}

bool LedgerNode::refusedUnread(Connection *connection, const QString &type, const QJsonObject &message)
{
    if (!connection->backedUp())
        return false;
    counters[QStringLiteral("refused_unread")]++;
    if (connection->roomForRefusal())
        connection->sendError(type, message.value(u"id"),
                              QStringLiteral("%1 bytes of replies to this connection are unread, more than "
                                             "limits.max_unread_bytes (%2); read them before asking for more "
                                             "(a connection that stays over the limit for %3 ms is closed)")
                                  .arg(connection->pendingBytes())
                                  .arg(connection->maxUnreadBytes())
                                  .arg(connection->notReadingCloseMs()));
    return true;
}

void LedgerNode::onMessage(Connection *connection, const QJsonObject &message)
{
    const QString type = message.value(u"type").toString();
    const qint64 requestId = message.value(u"id").toInteger(-1);
    QString why;
    if (!allowed(connection, type, &why)) {
        logFromPeer(connection, PeerLogKind::Refused, QStringLiteral("refused '%1': %2").arg(type, why));
        counters[QStringLiteral("refused_requests")]++;
        connection->sendError(type, message.value(u"id"), why);
        return;
    }
    if (connection->peer().kind != PartyKind::Node) {
        // A client that does not read its replies gets no more of them: they would wait in this
        // node's memory. Past a few refusals its requests are dropped; it is closed soon after.
        if (refusedUnread(connection, type, message))
            return;
        handleApi(connection, type, message);
        return;
    }
    const QString peer = connection->peer().name;
    if (type == QLatin1String("peer_hello")) {
        connection->setNodeProtocol(int(message.value(u"node_protocol").toInteger(1)));
        // Nodes from before it said nothing: they take the default.
        if (const qint64 frameLimit = message.value(u"max_frame_bytes").toInteger(0); frameLimit >= 1024)
            connection->setPeerMaxFrameBytes(frameLimit);
        // One link per node, the newest: an older one still open is a node that dialled again
        // before this side saw its old link die, or another process with its certificate. Kept,
        // the node would be out of reach once this link closed, while its own link looked up.
        if (Connection *older = nodePeers.value(peer); older && older != connection && older->isOpen()) {
            qCWarning(lcNode).noquote()
                << connection->describe() << "is a second link of" << peer << "; its older link is closed";
            older->close(QStringLiteral("'%1' linked again; the newest link is kept").arg(peer));
        }
        nodePeers.insert(peer, connection);
        if (consumers.contains(peer)) {
            Consumer &consumer = consumers[peer];
            consumer.connection = connection;
            // Its claim only decides what we send; it verifies every block itself.
            consumer.ackedHeight = qMin(quint64(message.value(u"height").toInteger(0)), store->height());
            consumer.sentHeight = consumer.ackedHeight;
            consumer.resendNext = 0;
            consumer.resendAnswerDue = false;
            consumer.lastContactMs = nowMs();
            consumer.lastError.clear();
            updateConsumerStatus(peer);
            // Not pushed anything: it asks for what it lacks right after this (get_blocks), and a
            // push as well sent it every block of its first batch twice.
        }
        reply(connection,
              {{QStringLiteral("type"), QStringLiteral("welcome")},
               {QStringLiteral("node_id"), nodeId},
               {QStringLiteral("node_protocol"), kNodeProtocol},
               {QStringLiteral("max_frame_bytes"), config.maxFrameBytes},
               {QStringLiteral("height"), qint64(store->height())}},
              message);
        // A target that is back gets asked about every write-off still waiting for it.
        if (membership.member(peer)->hasRole(Role::Target)) {
            for (auto it = rounds.begin(); it != rounds.end(); ++it) {
                Round &round = **it;
                // Asked already when a later write-off of its ticket version was.
                if (round.asked.value(peer) != connection && round.tally->missingTargets().contains(peer))
                    askTarget(round, peer, connection);
            }
        }
    } else if (type == QLatin1String("submit_write_off")) {
        QString problem;
        const QByteArray encoded = decodeField(message, "write_off", &problem);
        if (problem.isEmpty())
            verifySubmissions(connection, requestId, {encoded}, false);
        else
            handleSubmission(connection, requestId, {encoded, {}, {}, problem, {}}, false);
    } else if (type == QLatin1String("confirmation")) {
        QString problem;
        const QByteArray encoded = decodeField(message, "confirmation", &problem);
        if (problem.isEmpty())
            verifyConfirmations(connection, requestId, {encoded});
        else
            handleConfirmation(connection, connection->peer().name, requestId,
                               {encoded, {}, {}, problem, {}});
    } else if (type == QLatin1String("get_blocks")) {
        serveBlocks(connection, quint64(message.value(u"from").toInteger(1)),
                    int(message.value(u"max").toInteger(config.syncBatchBlocks)), requestId);
    } else if (type == QLatin1String("ack")) {
        onAck(connection, message);
    } else if (type == QLatin1String("sync_error")) {
        if (consumers.contains(peer)) {
            consumers[peer].lastError = message.value(u"error").toString().left(500);
            consumers[peer].lastContactMs = nowMs();
            // A store that refused a batch would refuse the rest too: a re-sync ends here, and the
            // store's own backoff asks for what it lacks (get_blocks).
            if (consumers[peer].connection == connection) {
                consumers[peer].resendNext = 0;
                consumers[peer].resendAnswerDue = false;
            }
            updateConsumerStatus(peer);
        }
    } else if (type == QLatin1String("error")) {
        // A frame or check of ours the member could not take. Never answered, so that two nodes
        // never trade errors about errors.
        const QString request = message.value(u"request").toString().left(100);
        const QString text = message.value(u"error").toString().left(500);
        const QString problem = request.isEmpty() ? text : QStringLiteral("%1: %2").arg(request, text);
        counters[QStringLiteral("node_errors")]++;
        logFromPeer(connection, PeerLogKind::Reported, QStringLiteral("reported an error: %1").arg(problem));
        if (consumers.contains(peer) && consumers[peer].connection == connection) {
            consumers[peer].lastError = problem;
            consumers[peer].lastContactMs = nowMs();
            updateConsumerStatus(peer);
        }
    }
    // A chain store answers every blocks frame with one of these: a re-sync sends its next batch
    // then, so that it never queues more than the store has taken.
    if ((type == QLatin1String("ack") || type == QLatin1String("sync_error") ||
         type == QLatin1String("get_blocks")) &&
        consumers.contains(peer) && consumers[peer].connection == connection &&
        std::exchange(consumers[peer].resendAnswerDue, false))
        resendBlocks(peer);
}

void LedgerNode::onNodeFrame(Connection *connection, const QByteArray &bytes)
{
    QString problem;
    const std::optional<NodeFrame> frame = NodeFrame::decode(bytes, &problem);
    if (!frame) {
        qCInfo(lcNode) << connection->describe() << problem;
        connection->sendError(QStringLiteral("node_frame"), -1, problem);
        return;
    }
    const QString type = NodeFrame::typeName(frame->kind);
    if (frame->kind != NodeFrame::Kind::SubmitWriteOff && frame->kind != NodeFrame::Kind::Confirmation)
        problem = QStringLiteral("'%1' frames go from the coordinator to nodes, not to it").arg(type);
    else if (!allowed(connection, type, &problem))
        logFromPeer(connection, PeerLogKind::Refused, QStringLiteral("refused '%1': %2").arg(type, problem));
    else if (frame->kind == NodeFrame::Kind::SubmitWriteOff &&
             (frame->items.isEmpty() ||
              frame->header > quint64(std::numeric_limits<qint64>::max()) - quint64(frame->items.size())))
        problem = QStringLiteral("a submit_write_off frame needs at least one write-off and request ids "
                                 "that fit in 63 bits");
    const qint64 requestId = frame->kind == NodeFrame::Kind::SubmitWriteOff ? qint64(frame->header) : -1;
    if (!problem.isEmpty()) {
        counters[QStringLiteral("refused_requests")]++;
        connection->sendError(type, requestId, problem);
        return;
    }
    // Item i carries request id header + i: a branch numbers its submissions in order.
    if (frame->kind == NodeFrame::Kind::SubmitWriteOff)
        verifySubmissions(connection, requestId, frame->items, connection->nodeProtocol() >= 2);
    else
        verifyConfirmations(connection, -1, frame->items);
}

void LedgerNode::onCoordinatorFrame(const QByteArray &bytes)
{
    Connection *link = coordinatorLink ? coordinatorLink->connection() : nullptr;
    QString problem;
    const std::optional<NodeFrame> frame = NodeFrame::decode(bytes, &problem);
    if (frame && frame->kind == NodeFrame::Kind::Check && checker) {
        for (const QByteArray &item : frame->items)
            handleCheck(item, QString());
        return;
    }
    if (frame && frame->kind == NodeFrame::Kind::Submitted && !coordinatorId.isEmpty() &&
        !roles.testFlag(Role::Coordinator)) {
        for (const QByteArray &item : frame->items) {
            const std::optional<SubmittedReply> reply = SubmittedReply::decode(item, &problem);
            if (!reply) {
                qCWarning(lcNode) << "from the coordinator:" << problem;
                if (link)
                    link->sendError(QStringLiteral("node_frame"), -1, problem);
                return;
            }
            const BranchRequest request = upstream.take(reply->requestId);
            if (!request.client)
                continue;
            QJsonObject answer{{QStringLiteral("type"), QStringLiteral("submitted")},
                               {QStringLiteral("id"), request.clientRequestId},
                               {QStringLiteral("digest"), hex(reply->digest)},
                               {QStringLiteral("status"), SubmittedReply::statusName(reply->status)}};
            if (reply->status == SubmittedReply::Status::Decided)
                answer.insert(QStringLiteral("state"), stateName(reply->state));
            request.client->send(answer);
        }
        return;
    }
    if (frame && frame->kind == NodeFrame::Kind::Blocks &&
        (roles.testFlag(Role::Receiver) || roles.testFlag(Role::Target))) {
        applyBlocks(frame->items, frame->header);
        return;
    }
    if (frame)
        problem = QStringLiteral("'%1' frames are not for %2").arg(NodeFrame::typeName(frame->kind), nodeId);
    qCWarning(lcNode) << "from the coordinator:" << problem;
    if (link)
        link->sendError(QStringLiteral("node_frame"), -1, problem);
}

void LedgerNode::reply(Connection *to, QJsonObject message, const QJsonObject &request)
{
    // Echoes the id as the client sent it, whatever its JSON type.
    if (request.contains(u"id"))
        message.insert(QStringLiteral("id"), request.value(u"id"));
    to->send(message);
}

void LedgerNode::reply(Connection *to, QJsonObject message, qint64 requestId)
{
    if (requestId >= 0)
        message.insert(QStringLiteral("id"), requestId);
    to->send(message);
}

void LedgerNode::replyAfterCommit(Connection *to, QJsonObject message, qint64 requestId)
{
    if (requestId >= 0)
        message.insert(QStringLiteral("id"), requestId);
    afterCommit.append({to, message});
    scheduleFlush();
}

// ---------------------------------------------------------------------------------------
// Coordinator: submissions, tallies, blocks, receivers

void LedgerNode::runVerification(std::function<QList<VerifiedItem>()> work,
                                 std::function<void(QList<VerifiedItem>)> done)
{
    if (verifyWorker)
        verifyWorker->run(std::move(work), std::move(done));
    else
        done(work());
}

qsizetype LedgerNode::openWork() const
{
    return rounds.size() + submissionsVerifying + blockQueue.size();
}

void LedgerNode::refuseBusy(Connection *to, qint64 requestId)
{
    counters[QStringLiteral("refused_busy")]++;
    to->sendError(QStringLiteral("submit_write_off"), requestId,
                  QStringLiteral("the coordinator is busy: %1 write-offs are being tallied or verified, or "
                                 "wait for their block (max_open_tallies); nothing was accepted, submit "
                                 "again later")
                      .arg(openWork()));
}

void LedgerNode::verifySubmissions(Connection *from, qint64 firstRequestId, const QList<QByteArray> &encoded,
                                   bool binaryReply)
{
    if (const QString refusal = storageRefusal(); !refusal.isEmpty()) {
        counters[QStringLiteral("refused_storage")] += encoded.size();
        for (qsizetype i = 0; i < encoded.size(); ++i)
            from->sendError(QStringLiteral("submit_write_off"),
                            firstRequestId < 0 ? firstRequestId : firstRequestId + i, refusal);
        return;
    }
    // Refused before they are verified too, so the verify thread's queue stays bounded however
    // fast a branch sends.
    if (openWork() + encoded.size() > config.maxOpenTallies) {
        for (qsizetype i = 0; i < encoded.size(); ++i)
            refuseBusy(from, firstRequestId < 0 ? firstRequestId : firstRequestId + i);
        return;
    }
    submissionsVerifying += int(encoded.size());
    runVerification(
        [members = workerMembership, encoded] {
            QList<VerifiedItem> items;
            items.reserve(encoded.size());
            for (const QByteArray &bytes : encoded) {
                VerifiedItem item{bytes, {}, {}, {}, {}};
                item.writeOff = WriteOffResult::decode(bytes, &item.problem);
                if (item.writeOff)
                    item.problem = item.writeOff->verify(*members);
                items.append(std::move(item));
            }
            return items;
        },
        [this, from = QPointer<Connection>(from), firstRequestId,
         binaryReply](const QList<VerifiedItem> &items) {
            submissionsVerifying -= int(items.size());
            for (qsizetype i = 0; i < items.size(); ++i)
                handleSubmission(from, firstRequestId < 0 ? firstRequestId : firstRequestId + i, items.at(i),
                                 binaryReply);
        });
}

void LedgerNode::verifyConfirmations(Connection *from, qint64 requestId, const QList<QByteArray> &encoded)
{
    const QString peerName = from->peer().name;
    // Decoded here, so that a vote already received is recognised before it costs a verify: an
    // overloaded coordinator re-asks slow targets, and each answers again with the same bytes.
    QList<VerifiedItem> items;
    items.reserve(encoded.size());
    // The tally each of those votes is for, found once, and whether it is still open.
    QList<std::pair<std::shared_ptr<Round>, bool>> itemRounds;
    itemRounds.reserve(encoded.size());
    // The same bytes twice in one frame would pass the check against the votes received before
    // it and cost a verify each: a target could make the verify thread check one vote thousands
    // of times for the price of one frame.
    QSet<QByteArray> inFrame;
    if (encoded.size() > 1)
        inFrame.reserve(encoded.size());
    QList<VerifiedItem> unsolicited;
    for (const QByteArray &bytes : encoded) {
        if (encoded.size() > 1) {
            const qsizetype before = inFrame.size();
            inFrame.insert(bytes);
            if (inFrame.size() == before) {
                counters[QStringLiteral("duplicate_votes")]++;
                continue;
            }
        }
        VerifiedItem item{bytes, {}, {}, {}, {}};
        item.confirmation = StateConfirmation::decode(bytes, &item.problem);
        std::shared_ptr<Round> round;
        bool open = false;
        if (item.confirmation && item.confirmation->targetId == peerName) {
            round = roundFor(item.confirmation->writeOffDigest, &open);
            if (round) {
                quint64 &answered = checksAnswered[peerName];
                answered = qMax(answered, round->askedAs.value(peerName));
            }
            if (round && round->votes.contains(bytes)) {
                counters[QStringLiteral("duplicate_votes")]++;
                continue;
            }
            if (!round) {
                // No tally, open or recently finished, could count it: it is refused (or, long
                // after its decision, ignored) whether its signature holds or not, so a target
                // cannot make the verify thread check votes on write-offs nobody asked about.
                unsolicited.append(std::move(item));
                continue;
            }
            int &queued = round->votesQueued[peerName];
            if (queued >= kVotesVerifiedPerTarget) {
                counters[QStringLiteral("excess_votes")]++;
                continue;
            }
            ++queued; // given back below if the whole frame is dropped
        }
        items.append(std::move(item));
        itemRounds.append({std::move(round), open});
    }
    if (!unsolicited.isEmpty())
        refuseUnsolicitedVotes(from, peerName, requestId, unsolicited);
    if (items.isEmpty()) {
        lastVoteMs.insert(peerName, nowMs()); // only repeats, but the target is answering
        return;
    }
    // Every open tally waits for at most one vote per target, and a late one or two: more than
    // that queued is a target flooding the coordinator. Dropped votes are asked for again.
    const qsizetype allowed = (qsizetype(config.maxOpenTallies) + 1) * (membership.targetCount() + 1);
    if (confirmationsVerifying + items.size() > allowed) {
        counters[QStringLiteral("rejected_confirmations")] += items.size();
        from->sendError(QStringLiteral("confirmation"), requestId,
                        QStringLiteral("the coordinator is busy: %1 votes wait to be verified; these %2 "
                                       "were dropped, and missing votes are asked for again")
                            .arg(confirmationsVerifying)
                            .arg(items.size()));
        for (const auto &[round, open] : std::as_const(itemRounds)) {
            if (round)
                --round->votesQueued[peerName];
        }
        return;
    }
    // A few copies per target are what honest retries produce; a target that signs vote after
    // different vote is left to the tally and the rate limit, not remembered without end here.
    const qsizetype votesRemembered = 4 * qsizetype(membership.targetCount());
    for (qsizetype i = 0; i < items.size(); ++i) {
        const auto &[round, open] = itemRounds.at(i);
        if (!round)
            continue;
        if (open)
            round->votesVerifying.insert(peerName);
        if (round->votes.size() < votesRemembered)
            round->votes.insert(items.at(i).encoded);
    }
    confirmationsVerifying += int(items.size());
    // The target answers: it counts as behind, not gone, from now, however long its votes then
    // wait for the verify thread (seconds, when the coordinator itself is the backlog).
    lastVoteMs.insert(peerName, nowMs());
    runVerification(
        [members = workerMembership, items, peerName]() mutable {
            for (VerifiedItem &item : items) {
                // A vote in another target's name is refused unverified.
                if (item.confirmation && item.confirmation->targetId == peerName)
                    item.signatureValid = item.confirmation->signatureVerifies(*members);
            }
            return items;
        },
        [this, from = QPointer<Connection>(from), peerName, requestId](const QList<VerifiedItem> &verified) {
            confirmationsVerifying -= int(verified.size());
            for (const VerifiedItem &item : verified) {
                if (item.signatureValid)
                    counters[QStringLiteral("votes_verified")]++;
                handleConfirmation(from, peerName, requestId, item);
            }
        });
}

void LedgerNode::replySubmitted(Connection *to, const SubmittedReply &reply)
{
    auto pending = std::find_if(submittedAfterCommit.begin(), submittedAfterCommit.end(),
                                [to](const PendingSubmitted &entry) { return entry.connection == to; });
    if (pending == submittedAfterCommit.end())
        pending = submittedAfterCommit.insert(submittedAfterCommit.end(),
                                              {to, {NodeFrame::Kind::Submitted, 0, {}}});
    pending->frame.items.append(reply.encode());
    scheduleFlush();
}

void LedgerNode::handleSubmission(Connection *from, qint64 requestId, const VerifiedItem &item,
                                  bool binaryReply)
{
    if (!from) {
        // Never acknowledged, so nothing is lost: the branch's client hears that the link dropped.
        qCInfo(lcCoordinator) << "a submission's connection closed while it was verified; dropped";
        return;
    }
    const std::optional<WriteOffResult> &writeOff = item.writeOff;
    QString problem = item.problem;
    if (writeOff && problem.isEmpty() && writeOff->branchId != from->peer().name)
        problem = QStringLiteral("branch '%1' may not submit a write-off signed by '%2'")
                      .arg(from->peer().name, writeOff->branchId);
    if (!problem.isEmpty()) {
        counters[QStringLiteral("refused_submissions")]++;
        from->sendError(QStringLiteral("submit_write_off"), requestId, problem);
        return;
    }
    const QByteArray digest = writeOff->digest();
    // A branch's binary frame is answered in one Submitted frame per commit; the JSON form in JSON.
    const auto answer = [&](SubmittedReply::Status status, quint16 state) {
        if (binaryReply) {
            replySubmitted(from, {requestId, status, state, digest});
            return;
        }
        QJsonObject message{{QStringLiteral("type"), QStringLiteral("submitted")},
                            {QStringLiteral("digest"), hex(digest)},
                            {QStringLiteral("status"), SubmittedReply::statusName(status)}};
        if (status == SubmittedReply::Status::Decided)
            message.insert(QStringLiteral("state"), stateName(state));
        // "already accepted" may name a submission this very window accepted: like the first
        // answer, it is only true once that window is committed.
        if (status == SubmittedReply::Status::Decided)
            reply(from, message, requestId);
        else
            replyAfterCommit(from, message, requestId);
    };
    QString readError;
    if (const std::optional<quint16> state = store->decidedState(digest, &readError)) {
        answer(SubmittedReply::Status::Decided, *state);
        return;
    }
    if (!readError.isEmpty()) {
        // Not knowing whether it is decided, accepting it could tally it a second time.
        counters[QStringLiteral("refused_submissions")]++;
        from->sendError(QStringLiteral("submit_write_off"), requestId,
                        QStringLiteral("the coordinator cannot read its ledger now (%1); submit again later")
                            .arg(readError));
        return;
    }
    if (const QString refusal = storageRefusal(); !refusal.isEmpty()) {
        // The journal failed while this was verified; its answer could only be "not stored".
        counters[QStringLiteral("refused_storage")]++;
        from->sendError(QStringLiteral("submit_write_off"), requestId, refusal);
        return;
    }
    if (rounds.contains(digest) || journal->hasSubmission(digest)) {
        answer(SubmittedReply::Status::AlreadyAccepted, 0);
        return;
    }
    if (openWork() >= config.maxOpenTallies) {
        // Shedding load here keeps every accepted write-off inside its timeout, and the block
        // queue bounded while the ledger refuses blocks.
        refuseBusy(from, requestId);
        return;
    }
    const qint64 now = nowMs();
    journal->putSubmission(digest, item.encoded, now);
    counters[QStringLiteral("submissions")]++;
    emitEvent(EventKind::WriteOffIssued, writeOffIssuedEvent(*writeOff, digest));
    startRound(*writeOff, item.encoded, now, 0);
    answer(SubmittedReply::Status::Accepted, 0);
}

void LedgerNode::startRound(const WriteOffResult &writeOff, const QByteArray &encoded, qint64 receivedMs,
                            int attempts)
{
    const QByteArray digest = writeOff.digest();
    auto round = std::make_shared<Round>();
    round->writeOff = writeOff;
    round->encoded = encoded;
    round->tally = std::make_unique<Tally>(membership, writeOff);
    round->startedMs = receivedMs;
    round->arrival = journal->submissionArrival(digest);
    round->attempts = attempts;
    rounds.insert(digest, round);
    QList<QByteArray> &sameVersion = openRoundsOfVersion[{writeOff.ticketId, writeOff.ticketVersion}];
    auto later = sameVersion.end();
    while (later != sameVersion.begin() && rounds.value(*std::prev(later))->arrival > round->arrival)
        --later;
    sameVersion.insert(later, digest);
    askTargets(*round);
    armDeadline(*round, digest, config.voteTimeoutMs);
}

void LedgerNode::armDeadline(Round &round, const QByteArray &digest, int inMs)
{
    round.dueMs = nowMs() + inMs;
    deadlines.push({round.dueMs, digest});
    if (!deadlineTimer.isActive() || inMs < deadlineTimer.remainingTime())
        deadlineTimer.start(inMs);
}

void LedgerNode::onDeadlineTimer()
{
    // onDeadline may re-arm or finish tallies, so each due entry is popped before it runs.
    while (!deadlines.empty()) {
        const auto [dueMs, digest] = deadlines.top();
        const std::shared_ptr<Round> round = rounds.value(digest);
        if (!round || round->dueMs != dueMs) {
            deadlines.pop(); // finished, or re-armed since
            continue;
        }
        const qint64 now = nowMs();
        if (dueMs > now) {
            deadlineTimer.start(int(dueMs - now));
            return;
        }
        deadlines.pop();
        onDeadline(digest);
    }
}

std::shared_ptr<LedgerNode::Round> LedgerNode::roundFor(const QByteArray &digest, bool *open) const
{
    // Looked up by value in each hash: iterators of two hashes never compare.
    if (std::shared_ptr<Round> round = rounds.value(digest)) {
        *open = true;
        return round;
    }
    *open = false;
    return finishedRounds.value(digest);
}

void LedgerNode::askTargets(Round &round)
{
    for (const QString &target : round.tally->missingTargets()) {
        Connection *connection = nodePeers.value(target);
        if (!connection || !connection->isOpen())
            continue;
        // A target that has the check on this very connection is only slow; asking again would
        // turn overload into collapse. The last retry asks again only where the check looks
        // lost, say because the target failed to store its answer.
        const bool lastTry = round.attempts >= config.retryLimit;
        if (round.asked.value(target) == connection && (!lastTry || !checkLost(round, target)))
            continue;
        // Its vote is here, waiting for the verify thread: the backlog is ours, not the target's.
        if (round.votesVerifying.contains(target))
            continue;
        askTarget(round, target, connection);
    }
}

void LedgerNode::askTarget(Round &round, const QString &target, Connection *connection)
{
    // A target locks a ticket version to the first write-off of it that it checks. Targets asked
    // about two in different orders (one that was down is asked about both when it is back) could
    // split 2-2 between them, and neither would ever be decided: every target checks them in the
    // order the coordinator accepted them.
    const auto sameVersion =
        openRoundsOfVersion.constFind({round.writeOff.ticketId, round.writeOff.ticketVersion});
    if (sameVersion != openRoundsOfVersion.cend() && sameVersion->size() > 1) {
        for (const QByteArray &digest : *sameVersion) {
            Round *earlier = rounds.value(digest).get();
            if (!earlier || earlier == &round)
                break;
            if (earlier->asked.value(target) != connection &&
                earlier->tally->missingTargets().contains(target))
                askTargetOnly(*earlier, target, connection);
        }
    }
    askTargetOnly(round, target, connection);
}

void LedgerNode::askTargetOnly(Round &round, const QString &target, Connection *connection)
{
    queueCheck(connection, round.encoded);
    round.asked.insert(target, connection);
    round.askedAs.insert(target, ++checksAsked[target]);
}

bool LedgerNode::checkLost(const Round &round, const QString &target) const
{
    // Lost if the target has answered a check sent after this one. If later checks are still
    // unanswered, the target is behind: a target catching up on blocks verifies for seconds
    // before it reads its next checks, and a check sent again only queues behind the first. An
    // overloaded coordinator that asked every such target again doubled its targets' work. Only
    // the newest check, with nothing after it to show its loss, is asked for again after a vote
    // timeout of silence.
    const quint64 asked = round.askedAs.value(target);
    if (checksAnswered.value(target) > asked)
        return true;
    return asked == checksAsked.value(target) && nowMs() - lastVoteMs.value(target) > config.voteTimeoutMs;
}

void LedgerNode::queueCheck(Connection *connection, const QByteArray &writeOff)
{
    // Checks wait for the batch window, then go out one frame per target: each target wakes
    // once per window instead of once per write-off.
    checksToSend[connection].append(writeOff);
    checkSendWindow.schedule(kBatchWindowMs);
}

void LedgerNode::sendQueuedChecks()
{
    // Not before the journal holds the submissions they ask about: a target locks the ticket
    // version to the write-off it checks, and a crash before the commit would leave it locked to
    // a write-off nobody was told of, which the client's next one could then never overcome.
    if (journal->unstoredWrites() > 0) {
        scheduleFlush();
        return;
    }
    for (auto it = checksToSend.begin(); it != checksToSend.end(); ++it) {
        if (it.key())
            sendWithin(it.key(), NodeFrame{NodeFrame::Kind::Check, 0, std::move(it.value())});
    }
    checksToSend.clear();
}

void LedgerNode::onDeadline(const QByteArray &digest)
{
    const auto found = rounds.constFind(digest);
    if (found == rounds.cend())
        return;
    Round &round = **found;
    if (round.tally->isFinal())
        return;
    if (uptime.elapsed() < 2 * kPeerBackoffMaxMs) {
        // Just started: every peer is still dialling in, so no deadline counts against a tally
        // yet, whether it was resumed from the journal or submitted since.
        armDeadline(round, digest, config.voteTimeoutMs);
        return;
    }
    if (round.attempts < config.retryLimit) {
        // Ask the missing targets again, waiting longer each time.
        ++round.attempts;
        journal->updateSubmission(digest, round.attempts, false);
        scheduleFlush();
        askTargets(round);
        const qint64 wait =
            qMin<qint64>(qint64(config.retryBackoffMs) << qMin(round.attempts - 1, 16), 60000);
        armDeadline(round, digest, int(wait));
        qCDebug(lcCoordinator) << "write-off" << round.writeOff.ticketId << "still missing"
                               << round.tally->missing() << "votes; retry" << round.attempts << "of"
                               << config.retryLimit;
        return;
    }
    // Votes that are here and could still make a quorum are never expired unread: only the verify
    // queue, which max_open_tallies bounds, stands between them and the outcome.
    if (!round.votesVerifying.isEmpty() &&
        round.tally->topCount() + int(round.votesVerifying.size()) >= round.tally->quorum()) {
        counters[QStringLiteral("tally_waits_on_verify")]++;
        armDeadline(round, digest, config.voteTimeoutMs);
        return;
    }
    if (waitForBacklog(round)) {
        counters[QStringLiteral("tally_waits_on_backlog")]++;
        // A check that looks lost is asked for again while the tally waits: a target holding the
        // previous version of the ticket unsealed answers nothing until its block arrives.
        askTargets(round);
        armDeadline(round, digest, config.voteTimeoutMs);
        return;
    }
    // A later write-off of the same ticket version is still open. Ended now, this one would no
    // longer be asked of a target that comes back before that one ends: the target would lock the
    // later one where the others locked this, and neither could be decided. It ends after it.
    if (const auto sameVersion =
            openRoundsOfVersion.constFind({round.writeOff.ticketId, round.writeOff.ticketVersion});
        sameVersion != openRoundsOfVersion.cend() && sameVersion->last() != digest) {
        counters[QStringLiteral("tally_waits_on_later_write_off")]++;
        armDeadline(round, digest, config.voteTimeoutMs);
        return;
    }
    round.tally->expire();
    finishRound(digest);
}

bool LedgerNode::waitForBacklog(const Round &round) const
{
    if (config.backlogWaitMs <= 0 || nowMs() - round.startedMs >= config.backlogWaitMs)
        return false;
    // A target counts as behind, not gone, while it holds the check on the connection it still
    // answers others on; waiting is worth it only if those targets can still make a quorum.
    // "Still answers" spans the whole wait: a target catching up on a batch of blocks verifies
    // them for seconds before it reads its next checks, and two vote timeouts of silence made
    // thousands of write-offs UNDETERMINED at 1250/s offered.
    const qint64 recent = nowMs() - qint64(config.backlogWaitMs);
    int behind = 0;
    for (const QString &target : round.tally->missingTargets()) {
        const Connection *connection = round.asked.value(target);
        if (connection && connection->isOpen() && nodePeers.value(target) == connection &&
            lastVoteMs.value(target) >= recent)
            ++behind;
    }
    return behind > 0 && round.tally->topCount() + behind >= round.tally->quorum();
}

void LedgerNode::refuseUnsolicitedVotes(Connection *from, const QString &peerName, qint64 requestId,
                                        const QList<VerifiedItem> &votes)
{
    // A late vote on a decided write-off is normal and ignored; one on a write-off never submitted
    // is refused. A frame of thousands of them is a faulty target: only the first few cost a
    // lookup, and the frame gets one error and one event, so that it cannot push the evidence in
    // the journal's events out of it for the price of a frame.
    qsizetype refused = 0;
    QByteArray first;
    for (qsizetype i = 0; i < votes.size(); ++i) {
        const QByteArray &digest = votes.at(i).confirmation->writeOffDigest;
        if (i < kUnsolicitedVotesLookedUp) {
            QString readError; // a vote the ledger could not look up is not called unsolicited
            if (store->decidedState(digest, &readError) || !readError.isEmpty() ||
                journal->decisionBytes(digest))
                continue;
        }
        if (refused++ == 0)
            first = digest;
    }
    if (refused == 0)
        return;
    counters[QStringLiteral("rejected_confirmations")] += refused;
    if (from)
        from->sendError(
            QStringLiteral("confirmation"), requestId,
            refused == 1
                ? QStringLiteral("no tally is open for write-off %1; it was never submitted").arg(hex(first))
                : QStringLiteral("no tally is open for %1 votes of this frame; write-off %2, "
                                 "the first, was never submitted")
                      .arg(refused)
                      .arg(hex(first)));
    emitEvent(
        EventKind::ConfirmationRejected,
        {{QStringLiteral("target"), peerName},
         {QStringLiteral("write_off_digest"), hex(first)},
         {QStringLiteral("reason"),
          refused == 1 ? QStringLiteral("unsolicited: no such write-off")
                       : QStringLiteral("unsolicited: no such write-off, one of %1 such votes in one frame")
                             .arg(refused)}});
}

void LedgerNode::handleConfirmation(Connection *from, const QString &peerName, qint64 requestId,
                                    const VerifiedItem &item)
{
    const std::optional<StateConfirmation> &confirmation = item.confirmation;
    QString problem = item.problem;
    if (confirmation && problem.isEmpty() && confirmation->targetId != peerName)
        problem = QStringLiteral("a confirmation signed as '%1' arrived over the link of '%2'")
                      .arg(confirmation->targetId, peerName);
    if (!problem.isEmpty()) {
        counters[QStringLiteral("rejected_confirmations")]++;
        if (from)
            from->sendError(QStringLiteral("confirmation"), requestId, problem);
        return;
    }
    bool open = false;
    const std::shared_ptr<Round> round = roundFor(confirmation->writeOffDigest, &open);
    if (open)
        round->votesVerifying.remove(peerName);
    if (!round) {
        // A late vote on a finished write-off is normal; a vote nobody asked for is not.
        QString readError; // a vote the ledger could not look up is not called unsolicited
        if (!store->decidedState(confirmation->writeOffDigest, &readError) && readError.isEmpty() &&
            !journal->decisionBytes(confirmation->writeOffDigest)) {
            counters[QStringLiteral("rejected_confirmations")]++;
            if (from)
                from->sendError(QStringLiteral("confirmation"), requestId,
                                QStringLiteral("no tally is open for write-off %1; it was never submitted")
                                    .arg(hex(confirmation->writeOffDigest)));
            emitEvent(EventKind::ConfirmationRejected,
                      {{QStringLiteral("target"), peerName},
                       {QStringLiteral("write_off_digest"), hex(confirmation->writeOffDigest)},
                       {QStringLiteral("reason"), QStringLiteral("unsolicited: no such write-off")}});
        }
        return;
    }
    QString reason;
    const Tally::Verdict verdict = round->tally->add(*confirmation, &reason, item.signatureValid);
    counters[QStringLiteral("confirmations")]++;
    if (verdict == Tally::Verdict::Duplicate)
        return;
    emitEvent(EventKind::ConfirmationReceived,
              JsonObjectWriter()
                  .addAscii(QLatin1StringView("write_off_digest"), confirmation->writeOffDigest.toHex())
                  .add(QLatin1StringView("ticket"), round->writeOff.ticketId)
                  .add(QLatin1StringView("version"), qint64(round->writeOff.ticketVersion))
                  .add(QLatin1StringView("branch"), round->writeOff.branchId)
                  .add(QLatin1StringView("target"), confirmation->targetId)
                  .add(QLatin1StringView("state"), stateName(confirmation->stateCode))
                  .add(QLatin1StringView("reason"), confirmation->reason)
                  .add(QLatin1StringView("verdict"), Tally::verdictName(verdict))
                  .add(QLatin1StringView("verdict_reason"), reason)
                  .addAscii(QLatin1StringView("confirmation"), item.encoded.toBase64())
                  .finish());
    if (verdict == Tally::Verdict::Equivocation) {
        counters[QStringLiteral("equivocations")]++;
        for (const EquivocationEvidence &evidence : round->tally->equivocations()) {
            if (evidence.targetId != confirmation->targetId)
                continue;
            qCWarning(lcCoordinator) << "equivocation by" << evidence.targetId << "on"
                                     << round->writeOff.ticketId;
            emitEvent(EventKind::Equivocation,
                      {{QStringLiteral("write_off_digest"), hex(confirmation->writeOffDigest)},
                       {QStringLiteral("ticket"), round->writeOff.ticketId},
                       {QStringLiteral("target"), evidence.targetId},
                       {QStringLiteral("first"), base64(evidence.first.encode())},
                       {QStringLiteral("second"), base64(evidence.second.encode())}});
        }
    } else if (verdict != Tally::Verdict::Counted && verdict != Tally::Verdict::AfterOutcome) {
        counters[QStringLiteral("rejected_confirmations")]++;
    }
    if (round->tally->isFinal() && rounds.contains(confirmation->writeOffDigest))
        finishRound(confirmation->writeOffDigest);
}

void LedgerNode::finishRound(const QByteArray &digest)
{
    const std::shared_ptr<Round> round = rounds.take(digest);
    if (!round)
        return;
    const std::pair<QString, quint32> version{round->writeOff.ticketId, round->writeOff.ticketVersion};
    if (auto sameVersion = openRoundsOfVersion.find(version); sameVersion != openRoundsOfVersion.end()) {
        sameVersion->removeOne(digest);
        if (sameVersion->isEmpty())
            openRoundsOfVersion.erase(sameVersion);
    }
    // Kept only for late equivocation: the tally, not the request bytes. Its queued deadline
    // finds no open round and is dropped.
    round->encoded.clear();
    round->asked.clear();
    round->votesVerifying.clear();
    finishedRounds.insert(digest, round);
    finishedOrder.append(digest);
    while (finishedOrder.size() > kFinishedRoundsKept)
        finishedRounds.remove(finishedOrder.takeFirst());
    const Decision decision = round->tally->decision(nowMs());
    const bool decided = decision.outcome == Outcome::Decided;
    counters[decided ? QStringLiteral("decided") : QStringLiteral("undetermined")]++;
    if (!decided)
        undeterminedCounted.insert(digest);
    if (decided)
        counters[QStringLiteral("decided_") + stateName(decision.decidedState)]++;
    journal->recordDecision(digest, decision.writeOff.ticketId, decision.writeOff.ticketVersion,
                            outcomeName(decision.outcome), decision.decidedState, decision.decidedAtMs,
                            decision.encode());
    emitEvent(EventKind::DecisionMade,
              decisionSummaryWriter(decision, digest)
                  .add(QLatin1StringView("attempts"), qint64(round->attempts) + 1)
                  .add(QLatin1StringView("latency_ms"), decision.decidedAtMs - round->startedMs)
                  .finish());
    if (decided) {
        blockQueue.append(decision);
        if (blockQueue.size() >= config.blockMaxDecisions && !sealingPaused)
            sealBlocks();
        else if (!blockTimer.isActive())
            blockTimer.start(config.blockIntervalMs);
    } else {
        // Left for an operator: `ticketsync retry-undetermined` or the console.
        journal->updateSubmission(digest, round->attempts, true);
        qCInfo(lcCoordinator) << "write-off" << decision.writeOff.ticketId << "is UNDETERMINED after"
                              << round->attempts + 1 << "attempts";
    }
}

void LedgerNode::sealBlocks()
{
    blockTimer.stop();
    // The journal's copy of each decision must be durable before the ledger holds it: a crash
    // between the two commits must never leave a stored decision the journal cannot answer for.
    flush();
    if (!journalProblem.isEmpty())
        return; // sealed once the journal commits again (journalCommitsAgain)
    const quint64 before = store->height();
    QList<QByteArray> sealedBytes; // the first sealed blocks' encodings, for the frame to consumers
    while (!blockQueue.isEmpty()) {
        // Each write-off is hashed once, for the seal, the store, the journal and the frame alike.
        // A write-off queued twice would fail the whole block on the ledger's key, again and
        // again: the second decision is dropped here, before it costs the block.
        QList<QByteArray> digests;
        QSet<QByteArray> inBlock;
        const qsizetype wanted = qMin<qsizetype>(blockQueue.size(), config.blockMaxDecisions);
        digests.reserve(wanted);
        inBlock.reserve(wanted);
        for (qsizetype i = 0; i < blockQueue.size() && digests.size() < config.blockMaxDecisions;) {
            QByteArray digest = blockQueue.at(i).writeOff.digest();
            if (inBlock.contains(digest)) {
                qCWarning(lcCoordinator) << "dropped a second decision on write-off" << digest.toHex()
                                         << "queued for the same block";
                counters[QStringLiteral("duplicate_decisions")]++;
                blockQueue.remove(i);
                continue;
            }
            inBlock.insert(digest);
            digests.append(std::move(digest));
            ++i;
        }
        Block block;
        block.height = store->height() + 1;
        block.previousHash = store->headHash();
        block.membershipHash = membership.hash();
        block.timestampMs = nowMs();
        block.coordinatorId = nodeId;
        block.decisions = blockQueue.mid(0, digests.size());
        // Each decision is encoded once too.
        QList<BlockDecisionBytes> computed(1);
        BlockDecisionBytes &bytes = computed.first();
        block.seal(signingKey, &bytes);
        bytes.writeOffDigests = std::move(digests);
        QString problem;
        if (!store->appendBlocks({block}, &problem, &computed)) {
            qCCritical(lcCoordinator) << "cannot append block" << block.height << ":" << problem;
            emitEvent(EventKind::BlockRefused,
                      {{QStringLiteral("height"), qint64(block.height)}, {QStringLiteral("error"), problem}});
            // Nothing is dropped: decisions the ledger cannot take are set aside, the rest are
            // sealed again, after a pause if the store itself failed.
            if (setAsideUnstorable(block.decisions.size()) == 0) {
                sealingPaused = true;
                blockTimer.start(1000);
                break;
            }
            continue;
        }
        sealingPaused = false;
        blockQueue.remove(0, block.decisions.size());
        counters[QStringLiteral("blocks")]++;
        QList<QByteArray> hexDigests;
        hexDigests.reserve(block.decisions.size());
        for (const QByteArray &digest : std::as_const(bytes.writeOffDigests)) {
            journal->removeSubmission(digest);
            journal->markSealed(digest, block.height);
            hexDigests.append(digest.toHex());
        }
        emitEvent(EventKind::BlockAppended, blockEvent(block, hexDigests));
        if (sealedBytes.size() < config.syncBatchBlocks)
            sealedBytes.append(block.encode(bytes.encoded));
    }
    // Every consumer that was up to date gets the new blocks, as many as one message of its size
    // takes, in a frame built once for each such number; it asks for the rest.
    QHash<qsizetype, QByteArray> frames;
    for (auto it = consumers.begin(); it != consumers.end(); ++it) {
        if (it->connection && it->sentHeight == before && !sealedBytes.isEmpty()) {
            const qsizetype count = blocksThatFit(sealedBytes, it->connection->peerMaxFrameBytes());
            if (it->connection->backedUp()) {
                pauseBlocks(it.key(), before + 1);
            } else if (count == 0) {
                it->lastError = blockTooLarge(it.key(), before + 1, sealedBytes.first().size());
            } else {
                QByteArray &frame = frames[count];
                if (frame.isEmpty())
                    frame = NodeFrame{NodeFrame::Kind::Blocks, store->height(), sealedBytes.mid(0, count)}
                                .encode();
                it->connection->sendBinary(frame);
                it->sentHeight = before + quint64(count);
            }
        }
        updateConsumerStatus(it.key());
    }
}

QString LedgerNode::blockTooLarge(const QString &consumerId, quint64 height, qint64 blockBytes) const
{
    const Consumer consumer = consumers.value(consumerId);
    return QStringLiteral("block %1 takes %2 bytes in a message, more than the %3 bytes of "
                          "limits.max_frame_bytes that %4 takes; it gets no further blocks until that "
                          "limit is raised")
        .arg(height)
        .arg(kNodeFrameBytes + kNodeFrameBytesPerItem + blockBytes)
        .arg(consumer.connection ? consumer.connection->peerMaxFrameBytes() : 0)
        .arg(consumerId);
}

int LedgerNode::setAsideUnstorable(qsizetype count)
{
    int removed = 0;
    for (qsizetype i = 0; i < count && i < blockQueue.size();) {
        const Decision &decision = blockQueue.at(i);
        const QByteArray digest = decision.writeOff.digest();
        QString reason;
        if (store->decidedState(digest)) {
            reason = QStringLiteral("already in the ledger");
            journal->removeSubmission(digest);
        } else if (const std::optional<QByteArray> other =
                       store->writtenOffBy(decision.writeOff.ticketId, decision.writeOff.ticketVersion);
                   other && *other != digest) {
            // The targets' locks should make this impossible; an operator has to look at it.
            reason = QStringLiteral("ticket %1 version %2 is already written off by write-off %3")
                         .arg(decision.writeOff.ticketId)
                         .arg(decision.writeOff.ticketVersion)
                         .arg(hex(*other));
            journal->updateSubmission(digest, 0, true);
        }
        if (reason.isEmpty()) {
            ++i;
            continue;
        }
        qCCritical(lcCoordinator) << "decision on" << decision.writeOff.ticketId << "set aside:" << reason;
        emitEvent(EventKind::DecisionSetAside,
                  {{QStringLiteral("write_off_digest"), hex(digest)},
                   {QStringLiteral("ticket"), decision.writeOff.ticketId},
                   {QStringLiteral("version"), qint64(decision.writeOff.ticketVersion)},
                   {QStringLiteral("reason"), reason}});
        counters[QStringLiteral("decisions_set_aside")]++;
        blockQueue.remove(i);
        --count;
        ++removed;
    }
    return removed;
}

LedgerNode::BlockBatch LedgerNode::blockBatch(quint64 fromHeight, int maxCount, qint64 frameLimit) const
{
    BlockBatch batch;
    qint64 size = kNodeFrameBytes;
    for (quint64 next = qMax<quint64>(1, fromHeight); batch.encoded.size() < maxCount;) {
        const int wanted = qMin(kBlocksPerRead, maxCount - int(batch.encoded.size()));
        const QList<Block> blocks = store->blocks(next, wanted, &batch.problem);
        if (!batch.problem.isEmpty())
            return batch;
        for (const Block &block : blocks) {
            QByteArray bytes = block.encode();
            if (size + kNodeFrameBytesPerItem + bytes.size() > frameLimit) {
                if (batch.encoded.isEmpty())
                    batch.oversized = bytes.size();
                return batch;
            }
            size += kNodeFrameBytesPerItem + bytes.size();
            batch.encoded.append(std::move(bytes));
            batch.lastHeight = block.height;
            ++next;
        }
        if (blocks.size() < wanted)
            break;
    }
    return batch;
}

void LedgerNode::pauseBlocks(const QString &consumerId, quint64 fromHeight)
{
    Consumer &consumer = consumers[consumerId];
    consumer.resumeFrom = consumer.resumeFrom == 0 ? fromHeight : qMin(consumer.resumeFrom, fromHeight);
    counters[QStringLiteral("block_pushes_paused")]++;
}

LedgerNode::Push LedgerNode::pushBlocks(const QString &consumerId, quint64 fromHeight, QString *problem,
                                        quint64 *lastHeight)
{
    Consumer &consumer = consumers[consumerId];
    if (!consumer.connection) {
        if (problem)
            *problem = QStringLiteral("%1 is not connected").arg(consumerId);
        return Push::Failed;
    }
    // Blocks pushed to a node that does not read would only wait in this node's memory.
    if (consumer.connection->backedUp()) {
        pauseBlocks(consumerId, fromHeight);
        return Push::Paused;
    }
    const BlockBatch batch =
        blockBatch(fromHeight, config.syncBatchBlocks, consumer.connection->peerMaxFrameBytes());
    if (!batch.problem.isEmpty()) {
        qCCritical(lcSync) << batch.problem;
        if (problem)
            *problem = batch.problem;
        return Push::Failed;
    }
    if (batch.oversized > 0) {
        consumer.lastError = blockTooLarge(consumerId, fromHeight, batch.oversized);
        logFromPeer(consumer.connection, PeerLogKind::Refused,
                    QStringLiteral("not sent blocks: %1").arg(consumer.lastError));
        if (problem)
            *problem = consumer.lastError;
        updateConsumerStatus(consumerId);
        return Push::TooLarge;
    }
    if (batch.encoded.isEmpty())
        return Push::NothingToSend;
    consumer.connection->sendBinary(
        NodeFrame{NodeFrame::Kind::Blocks, store->height(), batch.encoded}.encode());
    // A re-send of older blocks must not lower it: sealing would skip the consumer for good.
    consumer.sentHeight = qMax(consumer.sentHeight, batch.lastHeight);
    if (lastHeight)
        *lastHeight = batch.lastHeight;
    return Push::Sent;
}

LedgerNode::Push LedgerNode::resendBlocks(const QString &consumerId, QString *problem)
{
    Consumer &consumer = consumers[consumerId];
    if (consumer.resendNext == 0 || consumer.resendAnswerDue)
        return Push::NothingToSend;
    // Held here rather than as a paused push: the drain goes on from where the re-sync is.
    if (consumer.connection && consumer.connection->backedUp()) {
        counters[QStringLiteral("block_pushes_paused")]++;
        return Push::Paused;
    }
    quint64 last = 0;
    const Push push = pushBlocks(consumerId, consumer.resendNext, problem, &last);
    if (push == Push::Sent && last < store->height()) {
        consumer.resendNext = last + 1;
        consumer.resendAnswerDue = true;
    } else {
        // At the head, new blocks reach it as they are sealed; a block too large or a failed read
        // ends the re-sync, and the consumer's last_error or the answer says why.
        consumer.resendNext = 0;
    }
    return push;
}

void LedgerNode::serveBlocks(Connection *to, quint64 fromHeight, int maxCount, qint64 requestId)
{
    // Answered once the node has read what it was sent.
    const QString peer = to->peer().name;
    if (to->backedUp() && consumers.contains(peer) && consumers[peer].connection == to) {
        pauseBlocks(peer, qMax<quint64>(1, fromHeight));
        return;
    }
    const BlockBatch batch = blockBatch(fromHeight, qBound(1, maxCount, 1000), to->peerMaxFrameBytes());
    if (!batch.problem.isEmpty()) {
        to->sendError(QStringLiteral("get_blocks"), requestId, batch.problem);
        return;
    }
    if (batch.oversized > 0) {
        QString problem = blockTooLarge(peer, qMax<quint64>(1, fromHeight), batch.oversized);
        logFromPeer(to, PeerLogKind::Refused, QStringLiteral("refused 'get_blocks': %1").arg(problem));
        // "lasting": asking again soon gets the same answer; the store waits for a change.
        QJsonObject reply{{QStringLiteral("type"), QStringLiteral("error")},
                          {QStringLiteral("request"), QStringLiteral("get_blocks")},
                          {QStringLiteral("error"), problem},
                          {QStringLiteral("lasting"), true}};
        if (requestId >= 0)
            reply.insert(QStringLiteral("id"), requestId);
        to->send(reply);
        if (consumers.contains(peer)) {
            consumers[peer].lastError = std::move(problem);
            updateConsumerStatus(peer);
        }
        return;
    }
    to->sendBinary(NodeFrame{NodeFrame::Kind::Blocks, store->height(), batch.encoded}.encode());
    // A late answer to an old request must not lower it (pushBlocks).
    if (consumers.contains(peer) && consumers[peer].connection == to && !batch.encoded.isEmpty())
        consumers[peer].sentHeight = qMax(consumers[peer].sentHeight, batch.lastHeight);
}

void LedgerNode::onAck(Connection *from, const QJsonObject &message)
{
    const QString peer = from->peer().name;
    if (!consumers.contains(peer))
        return;
    Consumer &consumer = consumers[peer];
    consumer.ackedHeight = qMin(quint64(message.value(u"height").toInteger(0)), store->height());
    consumer.lastContactMs = nowMs();
    consumer.lastError.clear();
    updateConsumerStatus(peer);
}

QJsonObject LedgerNode::consumerJson(const QString &consumerId) const
{
    const Consumer consumer = consumers.value(consumerId);
    const quint64 head = store->height();
    const QString status = !consumer.connection           ? QStringLiteral("unreachable")
                           : consumer.ackedHeight >= head ? QStringLiteral("in_sync")
                                                          : QStringLiteral("lagging");
    return QJsonObject{
        {QStringLiteral("receiver"), consumerId},
        {QStringLiteral("roles"),
         QJsonArray::fromStringList(roleNames(membership.member(consumerId)->roles))},
        {QStringLiteral("status"), status},
        {QStringLiteral("acked_height"), qint64(consumer.ackedHeight)},
        {QStringLiteral("head_height"), qint64(head)},
        {QStringLiteral("lag_blocks"), qint64(head - qMin(head, consumer.ackedHeight))},
        {QStringLiteral("lag_ms"), consumer.behindSinceMs ? nowMs() - consumer.behindSinceMs : 0},
        {QStringLiteral("last_error"), consumer.lastError},
        {QStringLiteral("last_contact_ms"), consumer.lastContactMs},
    };
}

void LedgerNode::updateConsumerStatus(const QString &consumerId)
{
    Consumer &consumer = consumers[consumerId];
    const bool behind = consumer.ackedHeight < store->height();
    if (behind && consumer.behindSinceMs == 0)
        consumer.behindSinceMs = nowMs();
    else if (!behind)
        consumer.behindSinceMs = 0;
    const QJsonObject status = consumerJson(consumerId);
    const QString summary = QStringLiteral("%1/%2/%3")
                                .arg(status.value(u"status").toString())
                                .arg(consumer.ackedHeight)
                                .arg(consumer.lastError);
    if (summary == consumer.reportedStatus)
        return;
    consumer.reportedStatus = summary;
    emitEvent(EventKind::ReceiverStatus, status);
}

QJsonObject LedgerNode::resyncReceiver(const QJsonObject &message, QString *error)
{
    RequestFields fields(message);
    const QString receiver = fields.string(QLatin1StringView("receiver"), std::nullopt);
    const qint64 from =
        fields.integer(QLatin1StringView("from_height"), 1, std::numeric_limits<qint64>::max(), std::nullopt);
    if (fields.failed()) {
        *error = fields.problem();
        return {};
    }
    if (!consumers.contains(receiver)) {
        *error = QStringLiteral("'%1' is not a receiver of this coordinator").arg(receiver);
        return {};
    }
    if (from < 1 || quint64(from) > store->height() + 1) {
        *error = QStringLiteral("'from_height' must be from 1 to %1").arg(store->height() + 1);
        return {};
    }
    Consumer &consumer = consumers[receiver];
    if (!consumer.connection) {
        *error = QStringLiteral("'%1' is unreachable (%2); it will catch up by itself when it reconnects")
                     .arg(receiver, consumer.lastError.isEmpty() ? QStringLiteral("not connected")
                                                                 : consumer.lastError);
        return {};
    }
    if (quint64(from) > store->height())
        return {{QStringLiteral("outcome"),
                 QStringLiteral("nothing to re-send to %1: height %2 is past the head (%3); it is sent "
                                "each new block as it is sealed, and has acknowledged %4")
                     .arg(receiver)
                     .arg(from)
                     .arg(store->height())
                     .arg(consumer.ackedHeight)},
                {QStringLiteral("receiver"), consumerJson(receiver)}};
    // Sent up to the head, a batch per answer, from where it lacks blocks if that is lower: a batch
    // past its height would only make it ask for the ones between.
    consumer.resendNext = qMin(quint64(from), consumer.ackedHeight + 1);
    consumer.resendAnswerDue = false;
    QString problem;
    switch (resendBlocks(receiver, &problem)) {
    case Push::Paused:
        return {{QStringLiteral("outcome"),
                 QStringLiteral("re-sync of %1 from height %2 waits: %3 bytes sent to it are unread, more "
                                "than limits.max_unread_bytes (%4); it starts once they are read")
                     .arg(receiver)
                     .arg(from)
                     .arg(consumer.connection->pendingBytes())
                     .arg(consumer.connection->maxUnreadBytes())},
                {QStringLiteral("receiver"), consumerJson(receiver)}};
    case Push::TooLarge: // the problem names the block, its size and the receiver's limit
        return {{QStringLiteral("outcome"), QStringLiteral("re-sync of %1 from height %2 not started: %3")
                                                .arg(receiver)
                                                .arg(from)
                                                .arg(problem)},
                {QStringLiteral("ok"), false},
                {QStringLiteral("receiver"), consumerJson(receiver)}};
    case Push::Failed:
        return {
            {QStringLiteral("outcome"),
             QStringLiteral("re-sync of %1 from height %2 failed: %3").arg(receiver).arg(from).arg(problem)},
            {QStringLiteral("ok"), false},
            {QStringLiteral("receiver"), consumerJson(receiver)}};
    case Push::Sent:
    case Push::NothingToSend:
        break;
    }
    return {{QStringLiteral("outcome"),
             QStringLiteral("re-sync of %1 from height %2 started; it is sent every block up to the head, "
                            "a batch each time it has answered the last; it has acknowledged %3 of %4")
                 .arg(receiver)
                 .arg(from)
                 .arg(consumer.ackedHeight)
                 .arg(store->height())},
            {QStringLiteral("receiver"), consumerJson(receiver)}};
}

QJsonObject LedgerNode::retryDeliveries()
{
    QStringList retried, unreachable, paused, tooLarge, failed, inFlight;
    QJsonObject errors; // by receiver: why nothing was sent to it
    const quint64 head = store->height();
    for (auto it = consumers.begin(); it != consumers.end(); ++it) {
        // Unreachable whatever its height: the operator asking wants to know it is down.
        if (!it->connection) {
            unreachable.append(it.key());
            continue;
        }
        if (it->ackedHeight >= head)
            continue;
        // Sent everything and acknowledging: its blocks are on their way, and sent again they
        // would only be read twice.
        if (it->sentHeight >= head && nowMs() - it->lastContactMs < kBlocksInFlightMs) {
            inFlight.append(it.key());
            continue;
        }
        QString problem;
        switch (pushBlocks(it.key(), it->ackedHeight + 1, &problem)) {
        case Push::Sent:
        case Push::NothingToSend:
            retried.append(it.key());
            break;
        case Push::Paused:
            paused.append(it.key());
            break;
        case Push::TooLarge:
            tooLarge.append(it.key());
            errors.insert(it.key(), problem);
            break;
        case Push::Failed:
            failed.append(it.key());
            errors.insert(it.key(), problem);
            break;
        }
    }
    QString outcome;
    if (retried.isEmpty() && unreachable.isEmpty() && paused.isEmpty() && tooLarge.isEmpty() &&
        failed.isEmpty()) {
        outcome = inFlight.isEmpty()
                      ? QStringLiteral("every receiver is in sync; nothing to retry")
                      : QStringLiteral("nothing to retry: every block is sent, and on its way to %1")
                            .arg(inFlight.join(u", "));
    } else if (retried.isEmpty() && paused.isEmpty() && tooLarge.isEmpty() && failed.isEmpty()) {
        outcome =
            QStringLiteral("nothing to retry to a connected receiver; unreachable: %1 (each catches up by "
                           "itself once it dials again)")
                .arg(unreachable.join(u", "));
    } else {
        outcome = QStringLiteral("delivery retried to %1 receiver(s)").arg(retried.size());
        if (!paused.isEmpty())
            outcome +=
                QStringLiteral("; paused until they read what they were sent: %1").arg(paused.join(u", "));
        if (!tooLarge.isEmpty())
            outcome += QStringLiteral("; a block too large for: %1").arg(tooLarge.join(u", "));
        if (!failed.isEmpty())
            outcome += QStringLiteral("; failed for: %1").arg(failed.join(u", "));
        if (!unreachable.isEmpty())
            outcome += QStringLiteral("; unreachable: %1").arg(unreachable.join(u", "));
        QStringList problems;
        for (auto error = errors.constBegin(); error != errors.constEnd(); ++error)
            problems.append(QStringLiteral("%1: %2").arg(error.key(), error.value().toString()));
        if (!problems.isEmpty())
            outcome += QStringLiteral(" (%1)").arg(problems.join(u"; "));
    }
    return {{QStringLiteral("outcome"), outcome},
            {QStringLiteral("retried"), QJsonArray::fromStringList(retried)},
            {QStringLiteral("unreachable"), QJsonArray::fromStringList(unreachable)},
            {QStringLiteral("paused"), QJsonArray::fromStringList(paused)},
            {QStringLiteral("too_large"), QJsonArray::fromStringList(tooLarge)},
            {QStringLiteral("failed"), QJsonArray::fromStringList(failed)},
            {QStringLiteral("in_flight"), QJsonArray::fromStringList(inFlight)},
            {QStringLiteral("ok"), tooLarge.isEmpty() && failed.isEmpty()},
            {QStringLiteral("errors"), errors}};
}

void LedgerNode::restartUndetermined(const QByteArray &digest, const WriteOffResult &writeOff,
                                     const QByteArray &encoded)
{
    journal->updateSubmission(digest, 0, false);
    // Counted again by its next outcome: decided and undetermined add up to the write-offs
    // finished, each once.
    if (undeterminedCounted.remove(digest))
        counters[QStringLiteral("undetermined")]--;
    startRound(writeOff, encoded, nowMs(), 0);
}

QJsonObject LedgerNode::retryUndetermined(const QJsonObject &message, QString *error)
{
    const QByteArray digest = digestField(message, error);
    if (!error->isEmpty())
        return {};
    if (const std::optional<quint16> state = store->decidedState(digest, error))
        return {
            {QStringLiteral("outcome"), QStringLiteral("already decided %1 at height %2; nothing to retry")
                                            .arg(stateName(*state))
                                            .arg(store->decisionHeight(digest).value_or(0))}};
    if (!error->isEmpty())
        return {}; // not knowing whether it is decided, a retry could tally it twice
    if (rounds.contains(digest))
        return {{QStringLiteral("outcome"), QStringLiteral("the tally is already running")}};
    // The journal's submissions are read from its tables, which lack what it has not stored yet.
    if (const QString refusal = storageRefusal(); !refusal.isEmpty()) {
        *error = refusal;
        return {};
    }
    // Decided and waiting for its block: a second tally would queue a second decision on the
    // same write-off, which the ledger can never take.
    for (const Decision &queued : std::as_const(blockQueue)) {
        if (queued.writeOff.digest() == digest)
            return {{QStringLiteral("outcome"), QStringLiteral("already decided %1, waiting for its block; "
                                                               "nothing to retry")
                                                    .arg(stateName(queued.decidedState))}};
    }
    QList<PendingSubmission> earlierUndetermined; // in order of arrival, as the journal lists them
    const QList<PendingSubmission> pendingSubmissions = journal->pendingSubmissions(error);
    if (!error->isEmpty())
        return {};
    for (const PendingSubmission &pending : pendingSubmissions) {
        if (pending.digest != digest) {
            if (pending.undetermined)
                earlierUndetermined.append(pending);
            continue;
        }
        // Only an operator's write-off, UNDETERMINED after the retry limit, is tallied again.
        if (!pending.undetermined)
            return {{QStringLiteral("outcome"),
                     QStringLiteral("not UNDETERMINED: its tally is running or its decision waits for "
                                    "its block; nothing to retry")}};
        std::optional<WriteOffResult> writeOff = WriteOffResult::decode(pending.writeOff, error);
        if (!writeOff)
            return {};
        // An earlier write-off of the same ticket version that is UNDETERMINED too is tallied
        // again first: a target that has checked neither must lock the one accepted first, as
        // the others did, or the two split the targets between them for good.
        QStringList alsoRestarted;
        for (const PendingSubmission &earlier : std::as_const(earlierUndetermined)) {
            const std::optional<WriteOffResult> other = WriteOffResult::decode(earlier.writeOff);
            if (other && other->ticketId == writeOff->ticketId &&
                other->ticketVersion == writeOff->ticketVersion) {
                restartUndetermined(earlier.digest, *other, earlier.writeOff);
                alsoRestarted.append(hex(earlier.digest));
            }
        }
        restartUndetermined(digest, *writeOff, pending.writeOff);
        QString outcome = QStringLiteral("tally of %1 version %2 restarted; %3 target(s) connected")
                              .arg(writeOff->ticketId)
                              .arg(writeOff->ticketVersion)
                              .arg(rounds.value(digest)->asked.size());
        if (!alsoRestarted.isEmpty())
            outcome += QStringLiteral("; restarted before it, as accepted earlier for the same version: %1")
                           .arg(alsoRestarted.join(u", "));
        return {{QStringLiteral("outcome"), outcome}};
    }
    *error = QStringLiteral("no write-off with digest %1 was accepted by this coordinator").arg(hex(digest));
    return {};
}

// ---------------------------------------------------------------------------------------
// Targets and receivers: the link to the coordinator

void LedgerNode::onCoordinatorLink(Connection *connection)
{
    connect(connection, &Connection::messageReceived, this, &LedgerNode::onCoordinatorMessage);
    connect(connection, &Connection::binaryReceived, this, &LedgerNode::onCoordinatorFrame);
    syncing = false;
    connection->send({{QStringLiteral("type"), QStringLiteral("peer_hello")},
                      {QStringLiteral("node_id"), nodeId},
                      {QStringLiteral("node_protocol"), kNodeProtocol},
                      {QStringLiteral("max_frame_bytes"), config.maxFrameBytes},
                      {QStringLiteral("height"), qint64(store->height())},
                      {QStringLiteral("head"), hex(store->headHash())}});
    if (roles.testFlag(Role::Receiver) || roles.testFlag(Role::Target))
        requestBlocks();
}

void LedgerNode::onCoordinatorMessage(const QJsonObject &message)
{
    const QString type = message.value(u"type").toString();
    if (type == QLatin1String("welcome")) {
        // What our votes and submissions must fit; a coordinator from before it said nothing.
        Connection *link = coordinatorLink ? coordinatorLink->connection() : nullptr;
        if (const qint64 frameLimit = message.value(u"max_frame_bytes").toInteger(0);
            link && frameLimit >= 1024)
            link->setPeerMaxFrameBytes(frameLimit);
    } else if (type == QLatin1String("check") && checker) {
        QString problem;
        const QByteArray encoded = decodeField(message, "write_off", &problem);
        handleCheck(encoded, problem);
    } else if (type == QLatin1String("blocks") &&
               (roles.testFlag(Role::Receiver) || roles.testFlag(Role::Target))) {
        QList<QByteArray> blocks;
        for (const QJsonValue &block : message.value(u"blocks").toArray())
            blocks.append(QByteArray::fromBase64(block.toString().toLatin1()));
        applyBlocks(blocks, quint64(message.value(u"head").toInteger(0)));
    } else if (type == QLatin1String("submitted") || type == QLatin1String("error")) {
        const BranchRequest request = upstream.take(message.value(u"id").toInteger(-1));
        if (request.client) {
            QJsonObject answer = message;
            answer.insert(QStringLiteral("id"), request.clientRequestId);
            if (type == QLatin1String("error"))
                answer.insert(QStringLiteral("request"), QStringLiteral("submit"));
            request.client->send(answer);
        } else if (type == QLatin1String("error")) {
            // Asked for again after a backoff, not in a loop: no new block may come to make it ask.
            if (message.value(u"request").toString() == QLatin1String("get_blocks")) {
                syncing = false;
                syncRetryMs = syncRetryMs == 0 ? kSyncRetryFirstMs : qMin(2 * syncRetryMs, kSyncRetryMaxMs);
                // A block larger than this node takes stays so until a limit changes: asked again
                // after a reconnect, an operator's re-sync, or the long wait.
                syncRetryTimer.start(message.value(u"lasting").toBool() ? kSyncRetryLastingMs : syncRetryMs);
            }
            qCWarning(lcNode) << "the coordinator answered with an error:"
                              << message.value(u"error").toString();
        }
    }
}

void LedgerNode::handleCheck(const QByteArray &encoded, QString problem)
{
    std::optional<WriteOffResult> writeOff;
    if (problem.isEmpty())
        writeOff = WriteOffResult::decode(encoded, &problem);
    if (!writeOff) {
        if (Connection *link = coordinatorLink ? coordinatorLink->connection() : nullptr)
            link->sendError(QStringLiteral("check"), -1, problem);
        return;
    }
    pendingChecks.append(std::move(*writeOff));
    checkWindow.schedule(kBatchWindowMs);
}

void LedgerNode::processChecks()
{
    // Every check that arrived in this turn of the event loop shares one transaction: the locks
    // are durable, with one flush, before any confirmation leaves.
    const QList<WriteOffResult> batch = std::exchange(pendingChecks, {});
    if (batch.isEmpty())
        return;
    // Each answer writes an event the journal must keep until it commits again: while it cannot,
    // nothing is answered, so what it keeps stays small, and the coordinator asks again later.
    if (const QString refusal = journalRefusal(QStringLiteral("checks")); !refusal.isEmpty()) {
        counters[QStringLiteral("checks_refused_storage")] += batch.size();
        if (Connection *link = coordinatorLink ? coordinatorLink->connection() : nullptr)
            link->sendError(QStringLiteral("check"), -1, refusal);
        return;
    }
    QString problem;
    if (!store->beginBatch(&problem)) {
        qCCritical(lcNode) << "cannot check write-offs:" << problem;
        return; // nothing signed: the coordinator asks again after its timeout
    }
    QList<std::pair<const WriteOffResult *, StateConfirmation>> answers;
    for (const WriteOffResult &writeOff : batch) {
        QString storeError;
        QString notYet;
        std::optional<StateConfirmation> confirmation = checker->check(writeOff, &storeError, &notYet);
        if (!confirmation) {
            // Not yet answered: the coordinator asks again, and the block it waits for is on its way.
            if (!notYet.isEmpty()) {
                counters[QStringLiteral("checks_deferred")]++;
                qCInfo(lcNode) << "check of" << writeOff.ticketId << "version" << writeOff.ticketVersion
                               << "deferred:" << notYet;
            } else {
                qCCritical(lcNode) << "cannot check" << writeOff.ticketId << ":" << storeError;
            }
            continue;
        }
        answers.append({&writeOff, std::move(*confirmation)});
    }
    if (!store->commitBatch(&problem)) {
        qCCritical(lcNode) << "cannot record the locks of" << batch.size() << "write-offs:" << problem;
        return;
    }
    Connection *link = coordinatorLink ? coordinatorLink->connection() : nullptr;
    NodeFrame confirmations{NodeFrame::Kind::Confirmation, 0, {}};
    for (const auto &[writeOff, confirmation] : std::as_const(answers)) {
        counters[QStringLiteral("confirmations_sent")]++;
        emitEvent(EventKind::ConfirmationSent,
                  JsonObjectWriter()
                      .addAscii(QLatin1StringView("write_off_digest"), confirmation.writeOffDigest.toHex())
                      .add(QLatin1StringView("ticket"), writeOff->ticketId)
                      .add(QLatin1StringView("version"), qint64(writeOff->ticketVersion))
                      .add(QLatin1StringView("branch"), writeOff->branchId)
                      .add(QLatin1StringView("state"), stateName(confirmation.stateCode))
                      .add(QLatin1StringView("reason"), confirmation.reason)
                      .finish());
        confirmations.items.append(confirmation.encode());
    }
    if (link && !confirmations.items.isEmpty())
        sendWithin(link, confirmations);
}

void LedgerNode::requestBlocks()
{
    Connection *link = coordinatorLink ? coordinatorLink->connection() : nullptr;
    if (!link || syncing)
        return;
    syncing = true;
    syncFrom = store->height() + 1;
    syncRetryTimer.start(kSyncAnswerTimeoutMs);
    link->send({{QStringLiteral("type"), QStringLiteral("get_blocks")},
                {QStringLiteral("from"), qint64(syncFrom)},
                {QStringLiteral("max"), config.syncBatchBlocks}});
}

void LedgerNode::applyBlocks(const QList<QByteArray> &encoded, quint64 claimedHead)
{
    Connection *link = coordinatorLink ? coordinatorLink->connection() : nullptr;
    QList<Block> fresh;
    QList<BlockDecisionBytes> freshBytes; // encodings and digests, computed once while verifying
    QString problem;
    quint64 firstHeight = 0;
    quint64 lastHeight = 0;
    for (qsizetype i = 0; i < encoded.size() && problem.isEmpty(); ++i) {
        QString why;
        std::optional<Block> block = Block::decode(encoded.at(i), &why);
        if (!block) {
            problem = QStringLiteral("blocks[%1]: %2").arg(i).arg(why);
            break;
        }
        if (i == 0)
            firstHeight = block->height;
        lastHeight = block->height;
        if (block->height <= store->height()) {
            counters[QStringLiteral("blocks_received_duplicate")]++;
            // Already stored: it must be the very block we have.
            const std::optional<Block> mine = store->block(block->height);
            if (mine && mine->hash() != block->hash())
                problem = QStringLiteral("block %1 conflicts with the one stored here").arg(block->height);
            continue;
        }
        fresh.append(std::move(*block));
    }
    // Only the answer to the outstanding get_blocks lets it ask again: it holds the height asked
    // for, or nothing (none there yet). A push of newer blocks, or a re-sync's batch of older ones,
    // leaves the request outstanding; clearing it for every frame kept two requests, and every
    // batch twice, in flight.
    if (syncing &&
        (encoded.isEmpty() || (firstHeight > 0 && firstHeight <= syncFrom && syncFrom <= lastHeight))) {
        syncing = false;
        syncRetryTimer.stop();
    }
    // Each block stored writes an event the journal must keep until it commits again: while it
    // cannot, no block is taken, so what it keeps stays small. Its own backoff, or the journal's
    // recovery, asks for them again.
    const QString journalRefused = fresh.isEmpty() ? QString() : journalRefusal(QStringLiteral("blocks"));
    if (!journalRefused.isEmpty())
        problem = journalRefused;
    if (problem.isEmpty() && !fresh.isEmpty()) {
        if (fresh.first().height != store->height() + 1) {
            // A gap: ask from where we are instead, unless a request for that is out already.
            counters[QStringLiteral("blocks_received_out_of_order")] += fresh.size();
            requestBlocks();
            return;
        }
        const ChainReport report = verifier->verify(store->headHash(), fresh, &freshBytes);
        if (!report.ok)
            problem = report.error;
        else if (!store->appendBlocks(fresh, &problem, &freshBytes))
            problem = QStringLiteral("storing: %1").arg(problem);
    }
    if (!problem.isEmpty()) {
        qCWarning(lcSync) << "refused blocks from the coordinator:" << problem;
        counters[QStringLiteral("sync_errors")]++;
        // Not journalled while the journal fails: one kept event per refused batch would grow.
        if (journalRefused.isEmpty())
            emitEvent(EventKind::SyncError, {{QStringLiteral("error"), problem}});
        if (link)
            link->send(
                {{QStringLiteral("type"), QStringLiteral("sync_error")}, {QStringLiteral("error"), problem}});
        // Asked for again after a backoff, whether or not the coordinator seals anything more: a
        // full disk or a fault the coordinator mends passes, and nothing else would ask.
        syncing = false;
        syncRetryMs = syncRetryMs == 0 ? kSyncRetryFirstMs : qMin(2 * syncRetryMs, kSyncRetryMaxMs);
        syncRetryTimer.start(syncRetryMs);
        return;
    }
    if (!fresh.isEmpty()) {
        syncRetryMs = 0;
        if (!syncing)
            syncRetryTimer.stop(); // a push brought what a refused batch lacked
    }
    for (qsizetype b = 0; b < fresh.size(); ++b) {
        const Block &block = fresh.at(b);
        counters[QStringLiteral("blocks")]++;
        // The ledger is this node's decision history (LedgerStore::history): no second copy.
        QList<QByteArray> hexDigests;
        hexDigests.reserve(block.decisions.size());
        // The verifier hashed every write-off of a block it passed.
        Q_ASSERT(freshBytes.size() == fresh.size());
        for (const QByteArray &digest : std::as_const(freshBytes.at(b).writeOffDigests))
            hexDigests.append(digest.toHex());
        emitEvent(EventKind::BlockAppended, blockEvent(block, hexDigests));
    }
    if (link)
        link->send({{QStringLiteral("type"), QStringLiteral("ack")},
                    {QStringLiteral("height"), qint64(store->height())},
                    {QStringLiteral("head"), hex(store->headHash())}});
    if (claimedHead > store->height())
        requestBlocks();
}

// ---------------------------------------------------------------------------------------
// Branch

void LedgerNode::sendSubmissions()
{
    Connection *link = coordinatorLink ? coordinatorLink->connection() : nullptr;
    if (link && !submissionsToSend.items.isEmpty())
        sendWithin(link, submissionsToSend);
    submissionsToSend = {};
}

void LedgerNode::handleClientSubmit(Connection *client, const QJsonObject &message)
{
    const QJsonValue requestId = message.value(u"id"); // echoed as sent, whatever its type
    WriteOffResult writeOff;
    RequestFields fields(message);
    writeOff.membershipHash = membership.hash();
    writeOff.ticketId = fields.string(QLatin1StringView("ticket"), std::nullopt);
    writeOff.ticketVersion =
        quint32(fields.integer(QLatin1StringView("version"), 1, std::numeric_limits<quint32>::max(), 1));
    writeOff.amountMinor = fields.integer(QLatin1StringView("amount_minor"), 1,
                                          std::numeric_limits<qint64>::max(), std::nullopt);
    writeOff.currency = fields.string(QLatin1StringView("currency"), QStringLiteral("CNY"));
    writeOff.branchId = nodeId;
    writeOff.issuedAtMs = nowMs();
    writeOff.clientReference = fields.string(QLatin1StringView("reference"), QString());
    if (!fields.failed())
        fields.fail(writeOff.checkFields());
    if (fields.failed()) {
        client->sendError(QStringLiteral("submit"), requestId, fields.problem());
        return;
    }
    if (const QString refusal = storageRefusal(); !refusal.isEmpty()) {
        counters[QStringLiteral("refused_storage")]++;
        client->sendError(QStringLiteral("submit"), requestId, refusal);
        return;
    }
    Connection *link = coordinatorLink ? coordinatorLink->connection() : nullptr;
    if (!link) {
        client->sendError(
            QStringLiteral("submit"), requestId,
            QStringLiteral("the coordinator is unreachable (%1); the write-off was not submitted")
                .arg(coordinatorLink ? coordinatorLink->lastError() : QStringLiteral("no link")));
        return;
    }
    writeOff.sign(signingKey);
    const qint64 upstreamId = nextUpstreamId++;
    const QByteArray digest = writeOff.digest();
    upstream.insert(upstreamId, {client, requestId, digest});
    counters[QStringLiteral("submissions")]++;
    // Submissions of one batch window go up in one frame, numbered consecutively.
    if (submissionsToSend.items.isEmpty())
        submissionsToSend = {NodeFrame::Kind::SubmitWriteOff, quint64(upstreamId), {}};
    submissionsToSend.items.append(writeOff.encode());
    submitSendWindow.schedule(kBatchWindowMs);
    emitEvent(EventKind::WriteOffIssued, writeOffIssuedEvent(writeOff, digest));
}

// ---------------------------------------------------------------------------------------
// Monitoring API

std::optional<QByteArray> LedgerNode::storedDecision(const QByteArray &digest, quint64 *height,
                                                     DecisionsByBlock *blocks, QString *error) const
{
    *height = 0;
    // Only the coordinator's journal holds decisions; every other node's record is its ledger.
    std::optional<QByteArray> bytes =
        roles.testFlag(Role::Coordinator) ? journal->decisionBytes(digest, height) : std::nullopt;
    if (!bytes || *height == 0) {
        // The ledger is the record: the coordinator's journal may not have caught up with it.
        const std::optional<quint64> stored = store->decisionHeight(digest, error);
        if (!stored)
            return error->isEmpty() ? bytes : std::nullopt; // no half answer on a failed read
        *height = *stored;
    }
    if (bytes && !bytes->isEmpty())
        return bytes;
    // Indexed only: the bytes are in its block.
    const BlockProofs *inBlock = sealedBlock(*height, blocks, error);
    const qsizetype index = inBlock ? inBlock->indexOf(digest) : -1;
    if (index < 0)
        return std::nullopt;
    return inBlock->decisionBytes(index);
}

const BlockProofs *LedgerNode::sealedBlock(quint64 height, DecisionsByBlock *blocks, QString *error) const
{
    auto inBlock = blocks->constFind(height);
    if (inBlock == blocks->cend()) {
        const std::optional<Block> block = store->block(height, error);
        if (!block)
            return nullptr;
        inBlock = blocks->insert(height, BlockProofs(*block));
    }
    return &*inBlock;
}

void LedgerNode::handleApi(Connection *client, const QString &type, const QJsonObject &message)
{
    const QJsonValue requestId = message.value(u"id"); // echoed as sent, whatever its type
    QString error;
    if ((type == QLatin1String("history") || type == QLatin1String("decision") ||
         type == QLatin1String("decisions")) &&
        roles.testFlag(Role::Coordinator) && journal->inTransaction()) {
        // The journal's open transaction holds decisions a crash would still undo: read once it
        // is committed, so no client is shown what may never have been.
        queriesAfterCommit.append({client, message});
        scheduleFlush();
        return;
    }
    if (type == QLatin1String("hello")) {
        reply(client,
              {{QStringLiteral("type"), QStringLiteral("welcome")},
               {QStringLiteral("api_version"), kApiVersion},
               {QStringLiteral("node_id"), nodeId},
               {QStringLiteral("roles"), QJsonArray::fromStringList(roleNames(roles))},
               {QStringLiteral("consortium"), membership.consortiumId()},
               {QStringLiteral("membership_hash"), hex(membership.hash())},
               {QStringLiteral("client"), client->peer().name},
               {QStringLiteral("client_role"), partyKindName(client->peer().kind)},
               {QStringLiteral("tls"), client->tlsDescription()},
               {QStringLiteral("height"), qint64(store->height())},
               {QStringLiteral("last_seq"), broadcastSeq}},
              message);
    } else if (type == QLatin1String("subscribe")) {
        std::optional<QSet<QString>> kinds = subscriptionKinds(message, &error);
        if (!kinds) {
            client->sendError(type, requestId, error);
            return;
        }
        RequestFields fields(message);
        const qint64 fromSeq =
            fields.integer(QLatin1StringView("from_seq"), 1, std::numeric_limits<qint64>::max(), 1);
        if (fields.failed()) {
            client->sendError(type, requestId, fields.problem());
            return;
        }
        reply(client,
              {{QStringLiteral("type"), QStringLiteral("subscribed")},
               {QStringLiteral("from_seq"), fromSeq},
               {QStringLiteral("first_seq"), journal->firstSeq()},
               {QStringLiteral("last_seq"), broadcastSeq}},
              message);
        subscribe(client, fromSeq, std::move(*kinds));
    } else if (type == QLatin1String("status")) {
        QJsonObject status = statusJson();
        status.insert(QStringLiteral("type"), QStringLiteral("status"));
        reply(client, status, message);
    } else if (type == QLatin1String("membership")) {
        reply(client,
              {{QStringLiteral("type"), QStringLiteral("membership")},
               {QStringLiteral("membership"), QJsonDocument::fromJson(membership.toJson()).object()},
               {QStringLiteral("hash"), hex(membership.hash())},
               {QStringLiteral("n"), membership.targetCount()},
               {QStringLiteral("q"), membership.quorum()}},
              message);
    } else if (type == QLatin1String("history")) {
        HistoryQuery query;
        RequestFields fields(message);
        const qint64 most = std::numeric_limits<qint64>::max();
        if (message.contains(u"ticket")) {
            query.ticketId = fields.string(QLatin1StringView("ticket"), std::nullopt);
            if (const QString problem = checkTicketId(query.ticketId); !fields.failed() && !problem.isEmpty())
                fields.fail(QStringLiteral("'ticket': %1").arg(problem));
        }
        query.fromMs = fields.integer(QLatin1StringView("from_ms"), 0, most, 0);
        query.toMs = fields.integer(QLatin1StringView("to_ms"), 0, most, 0);
        if (message.contains(u"outcome")) {
            const QJsonValue outcome = message.value(u"outcome");
            query.outcome = outcome.isString() && !outcome.toString().isEmpty() ? outcome.toString()
                                                                                : QStringLiteral("?");
        }
        query.beforeId = fields.integer(QLatin1StringView("before_id"), 0, most, 0);
        query.limit = int(fields.integer(QLatin1StringView("limit"), 1, HistoryQuery::kMaxLimit, 100));
        if (!fields.failed())
            fields.fail(query.check());
        if (fields.failed()) {
            client->sendError(type, requestId, fields.problem());
            return;
        }
        // The coordinator's journal also holds what is not in a block: the UNDETERMINED and the
        // decisions waiting to be sealed. Every other node's history is its ledger.
        const QList<HistoryRow> found = roles.testFlag(Role::Coordinator) ? journal->history(query, &error)
                                                                          : store->history(query, &error);
        if (!error.isEmpty()) {
            client->sendError(type, requestId, error);
            return;
        }
        QJsonArray rows;
        for (const HistoryRow &row : found)
            rows.append(QJsonObject{{QStringLiteral("id"), row.id},
                                    {QStringLiteral("write_off_digest"), hex(row.writeOffDigest)},
                                    {QStringLiteral("ticket"), row.ticketId},
                                    {QStringLiteral("version"), qint64(row.version)},
                                    {QStringLiteral("outcome"), row.outcome},
                                    {QStringLiteral("state"), row.state},
                                    {QStringLiteral("at_ms"), row.atMs},
                                    {QStringLiteral("height"), qint64(row.height)}});
        reply(client, {{QStringLiteral("type"), QStringLiteral("history")}, {QStringLiteral("rows"), rows}},
              message);
    } else if (type == QLatin1String("decision")) {
        const QByteArray digest = digestField(message, &error);
        quint64 height = 0;
        DecisionsByBlock blocks;
        const std::optional<QByteArray> bytes =
            error.isEmpty() ? storedDecision(digest, &height, &blocks, &error) : std::nullopt;
        std::optional<Decision> decision = bytes ? Decision::decode(*bytes, &error) : std::nullopt;
        if (!decision) {
            client->sendError(type, requestId,
                              error.isEmpty()
                                  ? QStringLiteral("no decision for write-off %1 here").arg(hex(digest))
                                  : error);
            return;
        }
        QJsonObject answer = decisionSummary(*decision, digest);
        answer.insert(QStringLiteral("type"), QStringLiteral("decision"));
        answer.insert(QStringLiteral("decision"), base64(*bytes));
        answer.insert(QStringLiteral("height"), qint64(height));
        reply(client, answer, message);
    } else if (type == QLatin1String("decisions")) {
        // Certificates by the page, as an export asks for them: each block is read once for all
        // the page's decisions in it, where one request each would read it once per decision.
        const QJsonValue list = message.value(u"digests");
        if (!list.isArray() || list.toArray().isEmpty() || list.toArray().size() > kMaxDecisionsPerRequest) {
            client->sendError(type, requestId,
                              QStringLiteral("'digests' must be an array of 1 to %1 write-off digests")
                                  .arg(kMaxDecisionsPerRequest));
            return;
        }
        QList<QByteArray> digests;
        const QJsonArray given = list.toArray();
        for (qsizetype i = 0; i < given.size(); ++i) {
            std::optional<QByteArray> digest = hexDigest(given.at(i));
            if (!digest) {
                client->sendError(
                    type, requestId,
                    QStringLiteral("'digests'[%1] must be a write-off digest in 64 hex digits").arg(i));
                return;
            }
            digests.append(std::move(*digest));
        }
        DecisionsByBlock blocks;
        QJsonArray found;
        QJsonArray missing;
        for (const QByteArray &digest : std::as_const(digests)) {
            quint64 height = 0;
            const std::optional<QByteArray> bytes = storedDecision(digest, &height, &blocks, &error);
            if (!error.isEmpty()) {
                client->sendError(type, requestId, error);
                return;
            }
            if (!bytes) {
                missing.append(hex(digest));
                continue;
            }
            QJsonObject entry{{QStringLiteral("write_off_digest"), hex(digest)},
                              {QStringLiteral("height"), qint64(height)},
                              {QStringLiteral("decision"), base64(*bytes)}};
            // Sealed: with its block's signed header and its merkle path, so that the coordinator's
            // signature covers every field of the decision offline.
            const BlockProofs *block = height > 0 ? sealedBlock(height, &blocks, &error) : nullptr;
            if (!error.isEmpty()) {
                client->sendError(type, requestId, error);
                return;
            }
            if (const qsizetype index = block ? block->indexOf(digest) : -1; index >= 0) {
                entry.insert(QStringLiteral("decision"), base64(block->decisionBytes(index)));
                entry.insert(QStringLiteral("proof"), block->proof(index).toJson());
            }
            found.append(entry);
        }
        reply(client,
              {{QStringLiteral("type"), QStringLiteral("decisions")},
               {QStringLiteral("decisions"), found},
               {QStringLiteral("missing"), missing}},
              message);
    } else if (type == QLatin1String("receivers")) {
        if (!roles.testFlag(Role::Coordinator)) {
            client->sendError(
                type, requestId,
                QStringLiteral("'%1' is not the coordinator; ask '%2'").arg(nodeId, coordinatorId));
            return;
        }
        QJsonArray list;
        for (auto it = consumers.cbegin(); it != consumers.cend(); ++it)
            list.append(consumerJson(it.key()));
        reply(client,
              {{QStringLiteral("type"), QStringLiteral("receivers")}, {QStringLiteral("receivers"), list}},
              message);
    } else if (type == QLatin1String("submit")) {
        if (!roles.testFlag(Role::Branch)) {
            client->sendError(type, requestId, QStringLiteral("'%1' is not a branch node").arg(nodeId));
            return;
        }
        handleClientSubmit(client, message);
    } else if (isCommand(type)) {
        if (!roles.testFlag(Role::Coordinator)) {
            client->sendError(
                type, requestId,
                QStringLiteral("'%1' is not the coordinator; send it to '%2'").arg(nodeId, coordinatorId));
            return;
        }
        QJsonObject result;
        if (type == QLatin1String("resync_receiver"))
            result = resyncReceiver(message, &error);
        else if (type == QLatin1String("retry_deliveries"))
            result = retryDeliveries();
        else
            result = retryUndetermined(message, &error);
        if (!error.isEmpty()) {
            client->sendError(type, requestId, error);
            return;
        }
        qCInfo(lcNode) << "operator" << client->peer().name << "ran" << type << ":"
                       << result.value(u"outcome").toString();
        emitEvent(EventKind::OperatorCommand, {{QStringLiteral("command"), type},
                                               {QStringLiteral("operator"), client->peer().name},
                                               {QStringLiteral("outcome"), result.value(u"outcome")}});
        result.insert(QStringLiteral("type"), QStringLiteral("command_result"));
        result.insert(QStringLiteral("command"), type);
        if (!result.contains(u"ok"))
            result.insert(QStringLiteral("ok"), true);
        reply(client, result, message);
    } else {
        client->sendError(type, requestId, QStringLiteral("unknown message type '%1'").arg(type));
    }
}

QJsonObject LedgerNode::statusJson() const
{
    QJsonObject counts;
    for (auto it = counters.cbegin(); it != counters.cend(); ++it)
        counts.insert(it.key(), it.value());
    const double seconds = qMax(0.001, double(uptime.elapsed()) / 1000.0);
    qsizetype repliesWaiting = afterCommit.size();
    for (const PendingSubmitted &pending : submittedAfterCommit)
        repliesWaiting += pending.frame.items.size();
    return QJsonObject{
        {QStringLiteral("node_id"), nodeId},
        {QStringLiteral("roles"), QJsonArray::fromStringList(roleNames(roles))},
        {QStringLiteral("height"), qint64(store->height())},
        {QStringLiteral("head"), hex(store->headHash())},
        {QStringLiteral("last_seq"), broadcastSeq},
        {QStringLiteral("uptime_s"), seconds},
        {QStringLiteral("counters"), counts},
        {QStringLiteral("rates"), rates()},
        {QStringLiteral("decisions_per_second_avg"),
         double(counters.value(QStringLiteral("decided")) + counters.value(QStringLiteral("undetermined"))) /
             seconds},
        {QStringLiteral("queues"),
         QJsonObject{{QStringLiteral("open_tallies"), rounds.size()},
                     {QStringLiteral("block_queue"), blockQueue.size()},
                     {QStringLiteral("verify_batches"), verifyWorker ? verifyWorker->pending() : 0},
                     {QStringLiteral("replies_waiting_commit"), repliesWaiting},
                     {QStringLiteral("subscribers"), subscribers.size()},
                     {QStringLiteral("branch_requests"), upstream.size()}}},
        {QStringLiteral("journal"),
         QJsonObject{{QStringLiteral("error"), journalProblem},
                     {QStringLiteral("unstored_writes"), journal->unstoredWrites()},
                     {QStringLiteral("last_error"), lastJournalProblem},
                     {QStringLiteral("last_error_ms"), lastJournalProblemMs}}},
        {QStringLiteral("coordinator_link"),
         coordinatorLink
             ? (coordinatorLink->connection() ? QStringLiteral("up")
                                              : QStringLiteral("down: ") + coordinatorLink->lastError())
             : QString()},
    };
}

QJsonObject LedgerNode::rates() const
{
    if (rateSamples.size() < 2)
        return {};
    const RateSample &first = rateSamples.first();
    const RateSample &last = rateSamples.last();
    const double seconds = qMax(0.001, double(last.atMs - first.atMs) / 1000.0);
    return {
        {QStringLiteral("window_s"), seconds},
        {QStringLiteral("decisions_per_second"), double(last.decisions - first.decisions) / seconds},
        {QStringLiteral("submissions_per_second"), double(last.submissions - first.submissions) / seconds},
        {QStringLiteral("confirmations_per_second"),
         double(last.confirmations - first.confirmations) / seconds}};
}

void LedgerNode::subscribe(Connection *client, qint64 fromSeq, QSet<QString> kinds)
{
    subscribers.insert(client, {qMax<qint64>(1, fromSeq), std::move(kinds)});
    pumpSubscribers();
}

void LedgerNode::pumpSubscribers()
{
    bool behind = false;
    bool blocked = false;
    // Well below the connection's unread limit: a subscriber that is only slow is served from the
    // journal later, not closed for not reading.
    const qint64 queuedLimit = qMin(kMaxQueuedBytesPerSubscriber, config.maxUnreadBytes / 2);
    for (auto it = subscribers.begin(); it != subscribers.end(); ++it) {
        Connection *client = it.key();
        Subscription &subscription = it.value();
        if (client->pendingBytes() > queuedLimit) {
            blocked = blocked || subscription.next <= broadcastSeq;
            continue;
        }
        // Events looked at, sent or not: a filtered subscriber far behind costs no more per turn.
        int scanned = 0;
        bool full = false;
        while (subscription.next <= broadcastSeq && scanned < kEventsPerPump && !full) {
            QList<JournalEvent> page;
            if (!recentEvents.isEmpty() && subscription.next >= recentEvents.first().seq) {
                const qsizetype offset = subscription.next - recentEvents.first().seq;
                page = recentEvents.mid(offset, kEventsPerPump - scanned);
            } else {
                page = journal->events(subscription.next, kEventsPerPump - scanned);
            }
            if (page.isEmpty())
                break;
            // Pruned before this subscriber read them. Seq numbers alone cannot show it to one
            // that filters, so every subscriber is told.
            if (page.first().seq > subscription.next) {
                client->send({{QStringLiteral("type"), QStringLiteral("gap")},
                              {QStringLiteral("from_seq"), subscription.next},
                              {QStringLiteral("to_seq"), page.first().seq - 1}});
                subscription.next = page.first().seq; // said once, even if the turn ends here
            }
            for (const JournalEvent &event : std::as_const(page)) {
                if (event.seq > broadcastSeq)
                    break;
                // Checked before each event, not once per turn: 2000 block events of 33 KB each
                // queued 67 MB at once, and got a reader that is only slow closed for not reading.
                if (client->pendingBytes() > queuedLimit) {
                    full = true;
                    break;
                }
                if (subscription.kinds.isEmpty() || subscription.kinds.contains(event.kind))
                    client->sendText(QString::fromUtf8(event.frame));
                subscription.next = event.seq + 1;
                ++scanned;
            }
        }
        if (subscription.next <= broadcastSeq) {
            // Over the limit: served again once it has read some (the 20 ms retry), not at once.
            if (full)
                blocked = true;
            else
                behind = true;
        }
    }
    if (behind)
        subscriberPump.start(0);
    else if (blocked && !subscriberPump.isActive())
        subscriberPump.start(20);
}

void LedgerNode::emitEvent(EventKind kind, const QJsonObject &body)
{
    emitEvent(kind, QJsonDocument(body).toJson(QJsonDocument::Compact));
}

void LedgerNode::emitEvent(EventKind kind, const QByteArray &bodyJson)
{
    JournalEvent event = journal->appendEvent(eventKindName(kind), bodyJson, nowMs());
    if (event.seq > 0)
        pendingEvents.append(std::move(event));
    flushWindow.schedule(roles.testFlag(Role::Coordinator) ? kBatchWindowMs : kEventOnlyWindowMs);
}

void LedgerNode::scheduleFlush()
{
    // Something waits for this commit: never later than one short window.
    flushWindow.schedule(kBatchWindowMs);
}

void LedgerNode::flush()
{
    flushWindow.ran();
    // While the journal cannot commit, only the backoff tries again: what waits meanwhile waits
    // for that attempt.
    if (journalRetryTimer.isActive())
        return;
    journal->pruneEvents(config.journalEventsKept);
    QString problem;
    const bool stored = journal->commit(&problem);
    if (stored)
        journalCommitsAgain();
    else
        journalCommitFailed(problem);
    if (stored && !checksToSend.isEmpty())
        sendQueuedChecks();
    // Not acknowledged, but kept: the journal stores it with the rest once it commits again,
    // unless the node stops before.
    const auto notStored = [&problem](const QByteArray &digest) {
        // Lookups read only what is stored: until the journal commits, a kept write-off shows as
        // missing, and looking it up then would invite a second submission.
        return QStringLiteral("not stored yet: %1; the coordinator keeps write-off %2 and stores it once its "
                              "journal commits again, unless it stops first: wait until the coordinator's "
                              "status shows journal.error empty, then look it up by digest before "
                              "submitting it again")
            .arg(problem, hex(digest));
    };
    for (const PendingReply &pending : std::as_const(afterCommit)) {
        if (!pending.connection)
            continue;
        if (stored)
            pending.connection->send(pending.message);
        else
            pending.connection->sendError(
                pending.message.value(u"type").toString(), pending.message.value(u"id"),
                notStored(QByteArray::fromHex(pending.message.value(u"digest").toString().toLatin1())));
    }
    afterCommit.clear();
    for (const PendingSubmitted &pending : std::as_const(submittedAfterCommit)) {
        if (!pending.connection)
            continue;
        if (stored) {
            sendWithin(pending.connection, pending.frame);
            continue;
        }
        for (const QByteArray &item : pending.frame.items) {
            if (const std::optional<SubmittedReply> reply = SubmittedReply::decode(item, nullptr))
                pending.connection->sendError(QStringLiteral("submit_write_off"), reply->requestId,
                                              notStored(reply->digest));
        }
    }
    submittedAfterCommit.clear();
    // Events of a failed commit stay pending under their numbers, broadcast once it succeeds.
    if (stored && !pendingEvents.isEmpty()) {
        broadcastSeq = pendingEvents.last().seq;
        for (const JournalEvent &event : std::as_const(pendingEvents))
            recentEventBytes += event.frame.size();
        recentEvents.append(pendingEvents);
        // Capped by size as well: one block's event names every write-off in it.
        qsizetype dropped = 0;
        while (recentEvents.size() - dropped > 1 &&
               (recentEvents.size() - dropped > kRecentEvents || recentEventBytes > kRecentEventBytes))
            recentEventBytes -= recentEvents.at(dropped++).frame.size();
        recentEvents.remove(0, dropped);
        pendingEvents.clear();
    }
    pumpSubscribers();
    // Nothing is written between the commit and these reads, so they see exactly what is stored.
    const QList<PendingReply> queries = std::exchange(queriesAfterCommit, {});
    for (const PendingReply &query : queries) {
        // Each was under the unread limit when it came, not all together: the answers so far
        // may have filled it, and a burst this node made must not close a client that reads.
        const QString type = query.message.value(u"type").toString();
        if (query.connection && !refusedUnread(query.connection, type, query.message))
            handleApi(query.connection, type, query.message);
    }
}

void LedgerNode::journalCommitFailed(const QString &problem)
{
    counters[QStringLiteral("journal_commit_failures")]++;
    ++journalFailuresInRow;
    // Once per distinct problem, not once per attempt: the disk stays full for a while.
    if (problem != journalProblem)
        qCCritical(lcNode).noquote()
            << "journal commit failed; its writes are kept and tried again, and new work is refused until "
               "it succeeds:"
            << problem;
    journalProblem = problem;
    lastJournalProblem = problem;
    lastJournalProblemMs = QDateTime::currentMSecsSinceEpoch();
    journalRetryMs =
        journalRetryMs == 0 ? kJournalRetryFirstMs : qMin(2 * journalRetryMs, kJournalRetryMaxMs);
    journalRetryTimer.start(journalRetryMs);
}

void LedgerNode::journalCommitsAgain()
{
    if (journalProblem.isEmpty())
        return;
    qCWarning(lcNode) << "journal commits again after" << journalFailuresInRow
                      << "failed attempts; the writes kept meanwhile are stored";
    journalProblem.clear();
    journalFailuresInRow = 0;
    journalRetryMs = 0;
    // Blocks refused while the journal failed: asked for now rather than on the sync backoff.
    if ((roles.testFlag(Role::Receiver) || roles.testFlag(Role::Target)) && !syncing) {
        syncRetryMs = 0;
        syncRetryTimer.stop();
        requestBlocks();
    }
    // Decisions held back from their block while the journal could not record them.
    if (roles.testFlag(Role::Coordinator) && !blockQueue.isEmpty() && !blockTimer.isActive())
        blockTimer.start(0);
}

QString LedgerNode::storageRefusal() const
{
    if (journalProblem.isEmpty())
        return {};
    return QStringLiteral(
               "%1 cannot store to its journal now (%2); nothing was accepted, submit again once it "
               "can (its status shows journal.error)")
        .arg(roles.testFlag(Role::Coordinator) ? QStringLiteral("the coordinator") : nodeId, journalProblem);
}

QString LedgerNode::journalRefusal(const QString &what) const
{
    if (journalProblem.isEmpty())
        return {};
    return QStringLiteral("%1 cannot store to its journal now (%2); it takes no %3 until it can (its "
                          "status shows journal.error)")
        .arg(nodeId, journalProblem, what);
}

} // namespace ticketsync
