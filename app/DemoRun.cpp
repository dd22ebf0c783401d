#include "DemoRun.h"

#include "ChainVerifier.h"
#include "LedgerStore.h"
#include "Membership.h"
#include "SampleConsortium.h"
#include "Tally.h"
#include "WriteOffChecker.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QSaveFile>
#include <QTextStream>
#include <algorithm>
#include <map>
#include <memory>

namespace ticketsync {

namespace {
constexpr int kTicketCount = 500;
constexpr int kDecisionsPerBlock = 8;
// target-4 imported its registry long ago: it lacks the newest tickets and holds
// outdated amounts for some, so the histograms show real disagreement.
constexpr int kStaleRegistrySize = 420;
const QString kStaleTarget = QStringLiteral("target-4");
const QString kUnreachableTarget = QStringLiteral("target-3");

SampleConsortium demoConsortium()
{
    SampleConsortium::Options options;
    options.label = QStringLiteral("ticketsync-demo");
    return SampleConsortium::generate(options);
}

QString histogramText(const Decision &decision)
{
    QStringList parts;
    for (const StateCount &entry : decision.histogram)
        parts.append(QStringLiteral("%1=%2").arg(stateName(entry.stateCode)).arg(entry.count));
    if (decision.missing)
        parts.append(QStringLiteral("(not counted: %1)").arg(decision.missing));
    return parts.join(QLatin1Char(' '));
}
} // namespace

DemoRun::DemoRun(QString directory, int writeOffCount) : dir(std::move(directory)), count(writeOffCount) {}

QString DemoRun::foreignContents() const
{
    const QString path = QDir(dir).filePath(QStringLiteral("membership.json"));
    QFile file(path);
    if (!file.exists())
        return {};
    const Membership ours = demoConsortium().membership;
    if (file.open(QIODevice::ReadOnly) && file.readAll() == ours.toJson())
        return {};
    QString problem;
    const std::optional<Membership> theirs = Membership::load(path, &problem);
    // An earlier version's demo may have written it otherwise.
    if (theirs && theirs->consortiumId() == ours.consortiumId())
        return {};
    const QString whose =
        theirs
            ? QStringLiteral("the membership of consortium '%1', not the demo's").arg(theirs->consortiumId())
            : QStringLiteral("not the demo's membership");
    return QStringLiteral("%1: %2; the demo would replace it and the node stores beside it, so it "
                          "leaves this directory alone: use another --dir")
        .arg(path, whose);
}

std::optional<QJsonObject> DemoRun::execute(QTextStream *out, QString *error)
{
    auto say = [out](const QString &line) {
        if (out)
            *out << line << Qt::endl;
    };
    QDir directory(dir);
    if (!directory.mkpath(QStringLiteral("."))) {
        *error = QStringLiteral("%1: cannot create the directory").arg(dir);
        return std::nullopt;
    }
    const SampleConsortium sample = demoConsortium();
    const Membership &membership = sample.membership;
    // Each run starts from empty stores: the ones it keeps, <node id>.db for the coordinator,
    // each target and each receiver, and nothing else in the directory. The membership is
    // rewritten identically.
    QStringList storeIds = QStringList{sample.coordinatorId()} + sample.targetIds();
    for (const Member &receiver : membership.withRole(Role::Receiver))
        storeIds.append(receiver.id);
    for (const QString &nodeId : std::as_const(storeIds)) {
        for (const char *suffix : {".db", ".db-wal", ".db-shm"}) {
            const QString name = nodeId + QLatin1String(suffix);
            if (directory.exists(name) && !directory.remove(name)) {
                *error = QStringLiteral("%1: cannot remove the previous run's store")
                             .arg(directory.filePath(name));
                return std::nullopt;
            }
        }
    }
    const QString membershipPath = directory.filePath(QStringLiteral("membership.json"));
    {
        QSaveFile file(membershipPath);
        const QByteArray json = membership.toJson();
        if (!file.open(QIODevice::WriteOnly) || file.write(json) != json.size() || !file.commit()) {
            *error = QStringLiteral("%1: %2").arg(membershipPath, file.errorString());
            return std::nullopt;
        }
    }
    say(QStringLiteral("consortium '%1': %2 targets, quorum q = %3 (%4)\nmembership %5\nhash %6\n")
            .arg(membership.consortiumId())
            .arg(membership.targetCount())
            .arg(membership.quorum())
            .arg(membership.policy().describe(), membershipPath,
                 QString::fromLatin1(membership.hash().toHex())));

    auto openStore = [&](const QString &nodeId) -> std::unique_ptr<LedgerStore> {
        return LedgerStore::open(directory.filePath(nodeId + QStringLiteral(".db")), error);
    };
    std::unique_ptr<LedgerStore> ledger = openStore(sample.coordinatorId());
    if (!ledger)
        return std::nullopt;

    const QList<Ticket> tickets = SampleConsortium::tickets(kTicketCount);
    std::map<QString, std::unique_ptr<LedgerStore>> targetStores;
    std::map<QString, std::unique_ptr<WriteOffChecker>> checkers;
    for (const QString &targetId : sample.targetIds()) {
        std::unique_ptr<LedgerStore> store = openStore(targetId);
        if (!store)
            return std::nullopt;
        QList<Ticket> registry = tickets;
        if (targetId == kStaleTarget) {
            registry = tickets.mid(0, kStaleRegistrySize);
            for (qsizetype i = 0; i < registry.size(); i += 7)
                registry[i].faceAmountMinor -= 500;
        }
        if (!store->importTickets(registry, error))
            return std::nullopt;
        checkers[targetId] =
            std::make_unique<WriteOffChecker>(membership, targetId, sample.keys.value(targetId), *store);
        targetStores[targetId] = std::move(store);
    }
    std::map<QString, std::unique_ptr<LedgerStore>> receiverStores;
    for (const Member &receiver : membership.withRole(Role::Receiver)) {
        std::unique_ptr<LedgerStore> store = openStore(receiver.id);
        if (!store)
            return std::nullopt;
        receiverStores[receiver.id] = std::move(store);
    }

    const ChainVerifier verifier(membership);
    QList<Decision> pending;
    QJsonArray blocksJson;
    auto sealBlock = [&]() -> bool {
        if (pending.isEmpty())
            return true;
        Block block;
        block.height = ledger->height() + 1;
        block.previousHash = ledger->headHash();
        block.membershipHash = membership.hash();
        block.timestampMs = QDateTime::currentMSecsSinceEpoch();
        block.coordinatorId = sample.coordinatorId();
        block.decisions = pending;
        block.seal(sample.keys.value(sample.coordinatorId()));
        pending.clear();
        if (!ledger->appendBlocks({block}, error))
            return false;
        // Targets apply decisions to their registries; receivers verify before storing.
        for (auto &[id, store] : targetStores) {
            if (!store->appendBlocks({block}, error))
                return false;
        }
        for (auto &[id, store] : receiverStores) {
            if (const QString problem = verifier.verifyBlock(block, store->headHash(), store->height() + 1);
                !problem.isEmpty()) {
                *error = QStringLiteral("%1 refused block %2: %3").arg(id).arg(block.height).arg(problem);
                return false;
            }
            if (!store->appendBlocks({block}, error))
                return false;
        }
        say(QStringLiteral("  block %1  %2 decisions  hash %3  prev %4")
                .arg(block.height, 3)
                .arg(block.decisions.size(), 2)
                .arg(QString::fromLatin1(block.hash().toHex().left(16)),
                     QString::fromLatin1(block.previousHash.toHex().left(16))));
        blocksJson.append(QJsonObject{{QLatin1String("height"), qint64(block.height)},
                                      {QLatin1String("hash"), QString::fromLatin1(block.hash().toHex())},
                                      {QLatin1String("decisions"), block.decisions.size()}});
        return true;
    };

    say(QStringLiteral("%1 %2 %3 %4  %5")
            .arg(QStringLiteral("ticket"), -10)
            .arg(QStringLiteral("branch"), -9)
            .arg(QStringLiteral("kind of request"), -22)
            .arg(QStringLiteral("outcome"), -34)
            .arg(QStringLiteral("histogram")));
    QMap<QString, int> outcomes;
    QList<WriteOffResult> accepted; // for double write-off attempts
    const qint64 start = QDateTime::currentMSecsSinceEpoch();
    int nextTicket = 400; // from 400 on, some tickets are missing from the stale target
    for (int i = 0; i < count; ++i) {
        const QString branch = sample.branchIds().at(i % 2);
        const QString otherBranch = sample.branchIds().at((i + 1) % 2);
        const qint64 issuedAt = start + i;
        WriteOffResult writeOff;
        QString kind;
        if (i % 10 == 3 && !accepted.isEmpty()) {
            const WriteOffResult &earlier = accepted.at((i / 10) % accepted.size());
            const QString secondBranch = earlier.branchId == branch ? otherBranch : branch;
            writeOff =
                sample.writeOff(secondBranch, earlier.ticketId, earlier.ticketVersion, earlier.amountMinor,
                                earlier.currency, issuedAt, QStringLiteral("DUP-%1").arg(i));
            kind = QStringLiteral("double write-off");
        } else if (i % 10 == 6) {
            const Ticket &ticket = tickets.at(nextTicket++ % kTicketCount);
            writeOff = sample.writeOff(branch, ticket.id, 1, ticket.faceAmountMinor + 100, ticket.currency,
                                       issuedAt, QStringLiteral("REF-%1").arg(i));
            kind = QStringLiteral("wrong amount");
        } else if (i % 10 == 8) {
            writeOff = sample.writeOff(branch, QStringLiteral("X-%1").arg(900000 + i), 1, 12345,
                                       QStringLiteral("CNY"), issuedAt, QStringLiteral("REF-%1").arg(i));
            kind = QStringLiteral("unknown ticket");
        } else {
            const Ticket &ticket = tickets.at(nextTicket++ % kTicketCount);
            writeOff = sample.writeOff(branch, ticket.id, 1, ticket.faceAmountMinor, ticket.currency,
                                       issuedAt, QStringLiteral("REF-%1").arg(i));
            kind = QStringLiteral("write-off");
        }

        Tally tally(membership, writeOff);
        // Answers arrive in a different order each time; the tally decides as soon as q agree,
        // so the last answers often come too late to be counted.
        QStringList order = sample.targetIds();
        std::rotate(order.begin(), order.begin() + (i * 3) % order.size(), order.end());
        for (const QString &targetId : std::as_const(order)) {
            WriteOffChecker *checker = checkers.at(targetId).get();
            // Now and then target-3 does not answer in time; with the stale target
            // disagreeing, such a write-off cannot reach q and ends UNDETERMINED.
            if (i % 13 == 12 && targetId == kUnreachableTarget)
                continue;
            const std::optional<StateConfirmation> confirmation = checker->check(writeOff, error);
            if (!confirmation)
                return std::nullopt;
            tally.add(*confirmation);
        }
        tally.expire();
        const Decision decision = tally.decision(QDateTime::currentMSecsSinceEpoch());
        const QString outcome =
            decision.outcome == Outcome::Decided
                ? QStringLiteral("DECIDED %1 %2/%3")
                      .arg(stateName(decision.decidedState))
                      .arg(decision.countOf(decision.decidedState))
                      .arg(decision.targetCount)
                : QStringLiteral("UNDETERMINED (top %1/%2)").arg(tally.topCount()).arg(decision.targetCount);
        say(QStringLiteral("%1 %2 %3 %4  %5")
                .arg(writeOff.ticketId, -10)
                .arg(writeOff.branchId, -9)
                .arg(kind, -22)
                .arg(outcome, -34)
                .arg(histogramText(decision)));
        outcomes[decision.outcome == Outcome::Decided ? stateName(decision.decidedState)
                                                      : outcomeName(decision.outcome)]++;
        if (decision.outcome == Outcome::Decided) {
            if (decision.decidedState == quint16(ConfirmationState::WrittenOff))
                accepted.append(writeOff);
            pending.append(decision);
            if (pending.size() >= kDecisionsPerBlock && !sealBlock())
                return std::nullopt;
        }
    }
    if (!sealBlock())
        return std::nullopt;

    say(QStringLiteral("\nverifying every store's chain from genesis:"));
    QJsonObject heads;
    auto verifyStore = [&](const QString &id, LedgerStore &store) -> bool {
        const ChainReport report =
            verifier.verify(Block::genesisPreviousHash(), store.blocks(1, int(store.height()), error));
        if (!report.ok) {
            *error = QStringLiteral("%1: %2").arg(id, report.error);
            return false;
        }
        say(QStringLiteral("  %1 height %2  head %3  OK")
                .arg(id, -14)
                .arg(store.height())
                .arg(QString::fromLatin1(report.headHash.toHex().left(16))));
        heads.insert(id, QString::fromLatin1(report.headHash.toHex()));
        return true;
    };
    if (!verifyStore(sample.coordinatorId(), *ledger))
        return std::nullopt;
    for (auto &[id, store] : receiverStores) {
        if (!verifyStore(id, *store))
            return std::nullopt;
    }

    QJsonObject outcomeJson;
    QStringList outcomeText;
    for (auto it = outcomes.cbegin(); it != outcomes.cend(); ++it) {
        outcomeJson.insert(it.key(), it.value());
        outcomeText.append(QStringLiteral("%1 %2").arg(it.value()).arg(it.key()));
    }
    const QString ledgerPath = directory.filePath(sample.coordinatorId() + QStringLiteral(".db"));
    say(QStringLiteral("\n%1 write-offs: %2").arg(count).arg(outcomeText.join(QStringLiteral(", "))));
    say(QStringLiteral("check it yourself:\n  ticketsync verify-chain %1 --membership %2")
            .arg(ledgerPath, membershipPath));
    return QJsonObject{{QLatin1String("directory"), QDir(dir).absolutePath()},
                       {QLatin1String("membership"), membershipPath},
                       {QLatin1String("membershipHash"), QString::fromLatin1(membership.hash().toHex())},
                       {QLatin1String("writeOffs"), count},
                       {QLatin1String("outcomes"), outcomeJson},
                       {QLatin1String("blocks"), blocksJson},
                       {QLatin1String("heads"), heads},
                       {QLatin1String("ledger"), ledgerPath}};
}

} // namespace ticketsync
