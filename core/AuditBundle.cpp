#include "AuditBundle.h"

#include "ConfirmationState.h"
#include "Decision.h"
#include "Membership.h"
#include "Sha256.h"
#include "StrictJson.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QSet>
#include <algorithm>
#include <utility>

namespace ticketsync {

Q_LOGGING_CATEGORY(lcAuditBundle, "ticketsync.core.auditbundle", QtWarningMsg)

namespace {

constexpr qint64 kMsPerDay = 86400000;
// JSON numbers beyond 2^53 lose precision in most readers, so integers stay below it.
constexpr qint64 kMaxJsonInteger = qint64(1) << 53;

QByteArray compact(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

// One JSON value as Qt writes it, without a surrounding container.
QByteArray jsonValue(const QJsonValue &value)
{
    const QByteArray wrapped = QJsonDocument(QJsonArray{value}).toJson(QJsonDocument::Compact);
    return wrapped.mid(1, wrapped.size() - 2);
}

QString hex(const QByteArray &bytes)
{
    return QString::fromLatin1(bytes.toHex());
}

std::optional<qint64> strictInteger(const QJsonValue &value, qint64 min, qint64 max)
{
    if (!value.isDouble())
        return std::nullopt;
    const double number = value.toDouble();
    if (!(number >= double(min) && number <= double(max)) || double(qint64(number)) != number)
        return std::nullopt;
    return qint64(number);
}

// Exactly these keys, no more, no fewer; names the first stray or missing one.
QString checkKeys(const QJsonObject &object, QStringList expected)
{
    for (const QString &key : expected) {
        if (!object.contains(key))
            return QStringLiteral("missing key '%1'").arg(key);
    }
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (!expected.contains(it.key()))
            return QStringLiteral("unexpected key '%1'").arg(it.key());
    }
    return {};
}

// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
void civilFromDays(qint64 days, qint64 *year, int *month, int *day)
{
    days += 719468;
    const qint64 era = (days >= 0 ? days : days - 146096) / 146097;
    const qint64 dayOfEra = days - era * 146097;
    const qint64 yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365;
    const qint64 dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100);
    const qint64 mp = (5 * dayOfYear + 2) / 153;
    *day = int(dayOfYear - (153 * mp + 2) / 5 + 1);
    *month = int(mp < 10 ? mp + 3 : mp - 9);
    *year = yearOfEra + era * 400 + (*month <= 2 ? 1 : 0);
}

qint64 daysFromCivil(qint64 year, int month, int day)
{
    year -= month <= 2 ? 1 : 0;
    const qint64 era = (year >= 0 ? year : year - 399) / 400;
    const qint64 yearOfEra = year - era * 400;
    const qint64 dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const qint64 dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
    return era * 146097 + dayOfEra - 719468;
}

void putDigits(char *out, qint64 value, int width)
{
    for (int i = width - 1; i >= 0; --i) {
        out[i] = char('0' + value % 10);
        value /= 10;
    }
}

// Counted from 1, as a reader counts: "decision 3 of 5 (ticket ..., write-off <64 hex digits>)".
QString entryName(int index, int total, const QString &ticket, const QByteArray &digest)
{
    QString name = QStringLiteral("decision %1 of %2").arg(index + 1).arg(total);
    if (!ticket.isEmpty() || !digest.isEmpty()) {
        QStringList parts;
        if (!ticket.isEmpty())
            parts << QStringLiteral("ticket %1").arg(ticket);
        if (!digest.isEmpty())
            parts << QStringLiteral("write-off %1").arg(hex(digest));
        name += QStringLiteral(" (%1)").arg(parts.join(QStringLiteral(", ")));
    }
    return name;
}

// The summary's counted fields as the certificate defines them.
QString compareWithCertificate(const AuditSummary &summary, const Decision &decision)
{
    const WriteOffResult &w = decision.writeOff;
    quint32 topCount = 0;
    for (const StateCount &entry : decision.histogram)
        topCount = std::max(topCount, entry.count);
    const qint64 count =
        decision.outcome == Outcome::Decided ? decision.countOf(decision.decidedState) : topCount;
    const QString state = decision.outcome == Outcome::Decided ? stateName(decision.decidedState) : QString();
    struct Field
    {
        const char *name;
        QString inSummary;
        QString inCertificate;
    };
    const Field fields[] = {
        {"ticket", summary.ticket, w.ticketId},
        {"version", QString::number(summary.version), QString::number(w.ticketVersion)},
        {"branch", summary.branch, w.branchId},
        {"amount_minor", QString::number(summary.amountMinor), QString::number(w.amountMinor)},
        {"currency", summary.currency, w.currency},
        {"issued_at", QString::fromLatin1(AuditBundle::isoUtc(summary.issuedAtMs)),
         QString::fromLatin1(AuditBundle::isoUtc(w.issuedAtMs))},
        {"outcome", summary.outcome, outcomeName(decision.outcome)},
        {"state", summary.state, state},
        {"count", QString::number(summary.count), QString::number(count)},
        {"n", QString::number(summary.n), QString::number(decision.targetCount)},
        {"q", QString::number(summary.q), QString::number(decision.quorum)},
        {"missing", QString::number(summary.missing), QString::number(decision.missing)},
        {"equivocating", QString::number(summary.equivocating), QString::number(decision.equivocating)},
        {"decided_at", QString::fromLatin1(AuditBundle::isoUtc(summary.decidedAtMs)),
         QString::fromLatin1(AuditBundle::isoUtc(decision.decidedAtMs))},
    };
    for (const Field &field : fields) {
        if (field.inSummary != field.inCertificate)
            return QStringLiteral("summary field '%1' is \"%2\" but the certificate says \"%3\"")
                .arg(QLatin1String(field.name), field.inSummary, field.inCertificate);
    }
    return {};
}

// An UNDETERMINED entry whose certificate was not cached: the exporter writes every valid
// confirmation the console stored for it (counted, late and equivocating ones), by target and
// then state. The summary's counts must be what those signatures can carry: the top count no
// more than the signers of one state, the equivocators no more than the targets that signed two
// states, the missing no fewer than the targets with no signature at all, and no quorum.
QString compareWithConfirmations(const AuditSummary &summary, const QList<StateConfirmation> &confirmations,
                                 const Membership &membership)
{
    const auto field = [](const char *name, qint64 value) {
        return QStringLiteral("summary field '%1' is %2").arg(QLatin1String(name)).arg(value);
    };
    const qint64 n = membership.targetCount();
    const qint64 q = membership.quorum();
    if (!summary.state.isEmpty())
        return QStringLiteral("summary field 'state' is \"%1\" but an UNDETERMINED outcome decides no state")
            .arg(summary.state);
    if (summary.n != n)
        return field("n", summary.n) + QStringLiteral(" but the membership has %1 target nodes").arg(n);
    if (summary.q != q)
        return field("q", summary.q) + QStringLiteral(" but the membership's policy (%1) gives %2 for n = %3")
                                           .arg(membership.policy().describe())
                                           .arg(q)
                                           .arg(n);
    if (summary.count >= q)
        return field("count", summary.count) +
               QStringLiteral(", which reaches q = %1: that outcome is DECIDED, not UNDETERMINED").arg(q);
    if (summary.count + summary.missing + summary.equivocating > n)
        return QStringLiteral(
                   "summary fields 'count' + 'missing' + 'equivocating' add up to %1, more than n = %2")
            .arg(summary.count + summary.missing + summary.equivocating)
            .arg(n);

    QHash<QString, QSet<quint16>> statesByTarget;
    for (const StateConfirmation &confirmation : confirmations)
        statesByTarget[confirmation.targetId].insert(confirmation.stateCode);
    QHash<quint16, qint64> signers;
    qint64 twoStates = 0;
    for (auto it = statesByTarget.cbegin(); it != statesByTarget.cend(); ++it) {
        twoStates += it->size() > 1 ? 1 : 0;
        for (const quint16 state : *it)
            ++signers[state];
    }
    qint64 topSigners = 0;
    for (const qint64 count : std::as_const(signers))
        topSigners = std::max(topSigners, count);
    if (summary.count > topSigners)
        return field("count", summary.count) +
               QStringLiteral(" but no state has more than %1 signed confirmations in the entry")
                   .arg(topSigners);
    if (summary.equivocating > twoStates)
        return field("equivocating", summary.equivocating) +
               QStringLiteral(" but %1 targets signed two states in the entry").arg(twoStates);
    const qint64 answered = statesByTarget.size();
    if (summary.missing < n - answered)
        return field("missing", summary.missing) +
               QStringLiteral(" but %1 of n = %2 targets have no signed confirmation in the entry")
                   .arg(n - answered)
                   .arg(n);
    return {};
}

// What an entry's signed confirmations show beyond its certificate. The certificate's signers
// were counted for the decided (or, UNDETERMINED, their own) state when the outcome was taken,
// so they are neither its equivocators nor counted for another state; the others are evidence.
struct Evidence
{
    qint64 twoStates = 0;           // targets outside the certificate that signed two states
    QHash<quint16, qint64> signers; // by state: targets outside the certificate that signed it
};

Evidence evidenceBeyond(const Decision &decision, const QList<StateConfirmation> &confirmations)
{
    QSet<QString> counted;
    for (const StateConfirmation &confirmation : decision.confirmations)
        counted.insert(confirmation.targetId);
    QHash<QString, QSet<quint16>> statesByTarget;
    for (const StateConfirmation &confirmation : confirmations) {
        if (!counted.contains(confirmation.targetId))
            statesByTarget[confirmation.targetId].insert(confirmation.stateCode);
    }
    Evidence evidence;
    for (auto it = statesByTarget.cbegin(); it != statesByTarget.cend(); ++it) {
        evidence.twoStates += it->size() > 1 ? 1 : 0;
        for (const quint16 state : *it)
            ++evidence.signers[state];
    }
    return evidence;
}

// Whether the entry lies where the header says the bundle's entries lie: decided in the period
// [from, to) and of the filters' outcome and ticket. Names the field; empty when it does.
QString checkAgainstHeader(const AuditSummary &summary, const AuditBundle::Header &header)
{
    const auto iso = [](qint64 ms) {
        return QString::fromLatin1(AuditBundle::isoUtc(ms));
    };
    const QString period =
        QStringLiteral("[%1, %2)")
            .arg(iso(header.fromMs), header.toMs ? iso(*header.toMs) : QStringLiteral("open"));
    if (summary.decidedAtMs < header.fromMs || (header.toMs && summary.decidedAtMs >= *header.toMs))
        return QStringLiteral("summary field 'decided_at' is %1, outside the bundle's period %2")
            .arg(iso(summary.decidedAtMs), period);
    if (!header.outcomeFilter.isEmpty() && summary.outcome != header.outcomeFilter)
        return QStringLiteral("summary field 'outcome' is %1, but the bundle's filter 'outcome' is %2")
            .arg(summary.outcome, header.outcomeFilter);
    if (!header.ticketFilter.isEmpty() && summary.ticket != header.ticketFilter)
        return QStringLiteral("summary field 'ticket' is \"%1\", but the bundle's filter 'ticket' is \"%2\"")
            .arg(summary.ticket, header.ticketFilter);
    return {};
}

} // namespace

QStringList AuditBundleReport::proven() const
{
    QStringList lines;
    if (certificatesVerified > 0)
        lines << QStringLiteral("the write-off of %1 decisions with a certificate (ticket, version, branch, "
                                "amount_minor, currency, issued_at, digest): the issuing branch's signature")
                     .arg(certificatesVerified);
    if (decided > 0)
        lines << QStringLiteral("the outcome of %1 DECIDED decisions (state, count, n, q): q distinct target "
                                "nodes' signed confirmations of the decided state")
                     .arg(decided);
    if (undetermined > 0)
        lines << QStringLiteral("of %1 UNDETERMINED decisions, only the signed confirmations present, which "
                                "bear out their count; n and q are the membership's")
                     .arg(undetermined);
    if (equivocatorsShown > 0)
        lines << QStringLiteral(
                     "%1 targets counted as equivocating: each signed two different states for the "
                     "write-off, both signatures in the bundle")
                     .arg(equivocatorsShown);
    return lines;
}

QString AuditBundleReport::provenBlocks() const
{
    if (provenInBlocks == 0)
        return {};
    if (firstBlock == lastBlock)
        return QStringLiteral("block %1").arg(firstBlock);
    return QStringLiteral("blocks %1 to %2").arg(firstBlock).arg(lastBlock);
}

QStringList AuditBundleReport::signedByCoordinator() const
{
    QStringList lines;
    if (provenInBlocks == 0)
        return lines;
    lines << QStringLiteral("decided_at, missing, equivocating and the other states' counts of %1 decisions, "
                            "and that each is in the block its summary names (%2%3): each entry's "
                            "merkle path leads from its certificate's bytes to the root of a block header "
                            "the coordinator signed")
                 .arg(provenInBlocks)
                 .arg(provenBlocks(), blocks > 1 ? QStringLiteral(", %1 blocks").arg(blocks) : QString());
    return lines;
}

QStringList AuditBundleReport::notSigned() const
{
    QStringList lines;
    if (decisions == 0)
        return lines;
    const int unproven = decisions - provenInBlocks;
    if (unproven == 0)
        lines << QStringLiteral(
            "latency_ms of every decision, and which targets were left out as equivocating "
            "(the coordinator signed how many); the period and filters were checked "
            "against decided_at as signed");
    else if (provenInBlocks == 0)
        lines << QStringLiteral(
            "decided_at, missing, latency_ms and height of every decision, and which targets "
            "were left out as equivocating; the period and filters were checked against "
            "decided_at as stated");
    else
        lines << QStringLiteral(
                     "decided_at, missing, equivocating and height of %1 decisions without a block "
                     "proof, latency_ms of every decision, and which "
                     "targets were left out as equivocating; the period and filters were checked "
                     "against decided_at as stated for those")
                     .arg(unproven);
    if (decided > 0) {
        QString line =
            QStringLiteral("the counts of states other than the decided one%1")
                .arg(provenInBlocks > 0 ? QStringLiteral(" beyond the targets' signed confirmations "
                                                         "(the coordinator signed them for proven "
                                                         "decisions)")
                                        : QString());
        if (unprovenCountTotal > 0)
            line += QStringLiteral("; %1 of them exceed the signed confirmations of that state in the "
                                   "bundle%2")
                        .arg(unprovenCountTotal)
                        .arg(unprovenCountTotal > unprovenCounts.size()
                                 ? QStringLiteral(" (the first %1 listed)").arg(unprovenCounts.size())
                                 : QString());
        lines << line;
    }
    if (undetermined > 0)
        lines << QStringLiteral("that an UNDETERMINED decision left out no target's confirmation");
    if (undeterminedWithoutCertificate > 0)
        lines << QStringLiteral("the write-off fields and issued_at of %1 UNDETERMINED decisions without a "
                                "certificate: their confirmations name only the digest")
                     .arg(undeterminedWithoutCertificate);
    return lines;
}

QJsonObject AuditSummary::toJson() const
{
    return QJsonObject{
        {QLatin1String("ticket"), ticket},
        {QLatin1String("version"), qint64(version)},
        {QLatin1String("branch"), branch},
        // A string: minor-unit amounts may exceed what a JSON number carries exactly.
        {QLatin1String("amount_minor"), QString::number(amountMinor)},
        {QLatin1String("currency"), currency},
        {QLatin1String("outcome"), outcome},
        {QLatin1String("state"), state},
        {QLatin1String("count"), count},
        {QLatin1String("n"), n},
        {QLatin1String("q"), q},
        {QLatin1String("missing"), missing},
        {QLatin1String("equivocating"), equivocating},
        {QLatin1String("issued_at"), QString::fromLatin1(AuditBundle::isoUtc(issuedAtMs))},
        {QLatin1String("decided_at"), QString::fromLatin1(AuditBundle::isoUtc(decidedAtMs))},
        {QLatin1String("latency_ms"), latencyMs},
        {QLatin1String("height"), height},
        {QLatin1String("digest"), hex(digest)},
    };
}

std::optional<AuditSummary> AuditSummary::fromJson(const QJsonObject &object, QString *error)
{
    const auto fail = [error](const QString &problem) {
        if (error)
            *error = problem;
        return std::nullopt;
    };
    const QString keys = checkKeys(
        object, {QStringLiteral("ticket"), QStringLiteral("version"), QStringLiteral("branch"),
                 QStringLiteral("amount_minor"), QStringLiteral("currency"), QStringLiteral("outcome"),
                 QStringLiteral("state"), QStringLiteral("count"), QStringLiteral("n"), QStringLiteral("q"),
                 QStringLiteral("missing"), QStringLiteral("equivocating"), QStringLiteral("issued_at"),
                 QStringLiteral("decided_at"), QStringLiteral("latency_ms"), QStringLiteral("height"),
                 QStringLiteral("digest")});
    if (!keys.isEmpty())
        return fail(keys);
    AuditSummary summary;
    for (const auto &[key, target] :
         {std::pair{"ticket", &summary.ticket}, std::pair{"branch", &summary.branch},
          std::pair{"currency", &summary.currency}, std::pair{"outcome", &summary.outcome},
          std::pair{"state", &summary.state}}) {
        const QJsonValue value = object.value(QLatin1String(key));
        if (!value.isString())
            return fail(QStringLiteral("'%1' is not a string").arg(QLatin1String(key)));
        *target = value.toString();
    }
    if (summary.outcome != QLatin1String("DECIDED") && summary.outcome != QLatin1String("UNDETERMINED"))
        return fail(QStringLiteral("'outcome' is \"%1\", not DECIDED or UNDETERMINED").arg(summary.outcome));
    ConfirmationState state;
    if (!summary.state.isEmpty() && !stateFromName(summary.state, &state))
        return fail(QStringLiteral("'state' \"%1\" is not a known state name").arg(summary.state));

    struct IntegerField
    {
        const char *key;
        qint64 *target;
        qint64 min;
        qint64 max;
    };
    qint64 version = 0;
    const IntegerField integers[] = {
        {"version", &version, 1, 0xffffffffLL},
        {"count", &summary.count, 0, 0xffffffffLL},
        {"n", &summary.n, 0, 0xffffffffLL},
        {"q", &summary.q, 0, 0xffffffffLL},
        {"missing", &summary.missing, 0, 0xffffffffLL},
        {"equivocating", &summary.equivocating, 0, 0xffffffffLL},
        {"latency_ms", &summary.latencyMs, -kMaxJsonInteger, kMaxJsonInteger},
        {"height", &summary.height, 0, kMaxJsonInteger},
    };
    for (const IntegerField &field : integers) {
        const auto value = strictInteger(object.value(QLatin1String(field.key)), field.min, field.max);
        if (!value)
            return fail(QStringLiteral("'%1' is not an integer in [%2, %3]")
                            .arg(QLatin1String(field.key))
                            .arg(field.min)
                            .arg(field.max));
        *field.target = *value;
    }
    summary.version = quint32(version);

    const QJsonValue amount = object.value(QLatin1String("amount_minor"));
    bool amountOk = amount.isString();
    if (amountOk) {
        summary.amountMinor = amount.toString().toLongLong(&amountOk);
        amountOk = amountOk && QString::number(summary.amountMinor) == amount.toString();
    }
    if (!amountOk)
        return fail(QStringLiteral("'amount_minor' is not a decimal integer string"));
    for (const auto &[key, target] :
         {std::pair{"issued_at", &summary.issuedAtMs}, std::pair{"decided_at", &summary.decidedAtMs}}) {
        const QJsonValue value = object.value(QLatin1String(key));
        const auto ms = value.isString() ? AuditBundle::parseIsoUtc(value.toString()) : std::nullopt;
        if (!ms)
            return fail(QStringLiteral("'%1' is not a UTC time like 2024-06-01T08:00:00.000Z")
                            .arg(QLatin1String(key)));
        *target = *ms;
    }
    const auto digest = StrictJson::hex(object.value(QLatin1String("digest")), 32);
    if (!digest)
        return fail(QStringLiteral("'digest' is not 64 lower-case hex digits"));
    summary.digest = *digest;
    return summary;
}

QJsonObject AuditBundle::Header::toJson() const
{
    const QJsonObject period{
        {QLatin1String("from"), QString::fromLatin1(isoUtc(fromMs))},
        {QLatin1String("from_ms"), fromMs},
        {QLatin1String("to"), toMs ? QJsonValue(QString::fromLatin1(isoUtc(*toMs))) : QJsonValue()},
        {QLatin1String("to_ms"), toMs ? QJsonValue(*toMs) : QJsonValue()},
    };
    const QJsonObject filters{{QLatin1String("outcome"), outcomeFilter},
                              {QLatin1String("ticket"), ticketFilter}};
    return QJsonObject{
        {QLatin1String("format"), formatName()},
        {QLatin1String("version"), version},
        {QLatin1String("generated_at"), QString::fromLatin1(isoUtc(generatedAtMs))},
        {QLatin1String("generated_by"), generatedBy},
        {QLatin1String("period"), period},
        {QLatin1String("filters"), filters},
        {QLatin1String("membership_hash"), hex(membershipHash)},
    };
}

AuditBundle::Writer::Writer(Header header) : bundleHeader(std::move(header))
{
    headerHash = sha256(compact(bundleHeader.toJson()));
    root.addData(headerHash);
}

QByteArray AuditBundle::Writer::begin()
{
    // The header in a fixed, readable key order (the format first).
    const QJsonObject header = bundleHeader.toJson();
    QByteArray out = "{";
    for (const char *key :
         {"format", "version", "generated_at", "generated_by", "period", "filters", "membership_hash"}) {
        out += jsonValue(QString::fromLatin1(key));
        out += ':';
        out += jsonValue(header.value(QLatin1String(key)));
        out += ',';
    }
    out += "\"decisions\":[";
    return out;
}

QByteArray AuditBundle::Writer::addEntry(const Entry &entry, QByteArray *manifestLine)
{
    QJsonArray confirmations;
    for (const QByteArray &confirmation : entry.confirmations)
        confirmations.append(QString::fromLatin1(confirmation.toBase64()));
    const QJsonObject summary = entry.summary.toJson();
    QJsonObject object{
        {QLatin1String("digest"), hex(entry.summary.digest)},
        {QLatin1String("summary"), summary},
        {QLatin1String("certificate"),
         entry.certificate ? QJsonValue(QString::fromLatin1(entry.certificate->toBase64())) : QJsonValue()},
        {QLatin1String("confirmations"), confirmations},
    };
    Q_ASSERT(bundleHeader.version >= 2 || !entry.proof);
    if (bundleHeader.version >= 2)
        object.insert(QLatin1String("proof"), entry.proof ? QJsonValue(entry.proof->toJson()) : QJsonValue());
    const QByteArray contents = contentHash(entry);
    const QByteArray summaryHash = sha256(compact(summary));
    root.addData(entry.summary.digest);
    root.addData(contents);
    root.addData(summaryHash);
    const QByteArray separator = count == 0 ? QByteArray("\n") : QByteArray(",\n");
    ++count;
    *manifestLine = separator + compact(QJsonObject{{QLatin1String("digest"), hex(entry.summary.digest)},
                                                    {QLatin1String("sha256"), hex(contents)},
                                                    {QLatin1String("summary_sha256"), hex(summaryHash)}});
    return separator + compact(object);
}

QByteArray AuditBundle::Writer::manifestBegin() const
{
    return "\n],\"manifest\":{\"algorithm\":\"SHA-256\",\"header_sha256\":\"" + headerHash.toHex() +
           "\",\"entries\":[";
}

QByteArray AuditBundle::Writer::end()
{
    return "\n],\"root\":\"" + root.result().toHex() + "\"}}\n";
}

QByteArray AuditBundle::contentHash(const Entry &entry)
{
    QCryptographicHash hash(QCryptographicHash::Sha256);
    if (entry.certificate)
        hash.addData(*entry.certificate);
    for (const QByteArray &confirmation : entry.confirmations)
        hash.addData(confirmation);
    if (entry.proof) {
        hash.addData(entry.proof->header);
        hash.addData(entry.proof->signature);
        const quint32 index = entry.proof->leafIndex;
        const char bigEndian[4] = {char(index >> 24), char(index >> 16), char(index >> 8), char(index)};
        hash.addData(QByteArrayView(bigEndian, 4));
        for (const QByteArray &sibling : entry.proof->path)
            hash.addData(sibling);
    }
    return hash.result();
}

QByteArray AuditBundle::isoUtc(qint64 msSinceEpoch)
{
    // A crafted certificate may carry any 64-bit time; the day arithmetic below would overflow
    // on the extremes, and no write-off is dated outside years 0000-9999.
    constexpr qint64 kFirstMs = -62167219200000; // 0000-01-01T00:00:00.000Z
    constexpr qint64 kLastMs = 253402300799999;  // 9999-12-31T23:59:59.999Z
    if (msSinceEpoch < kFirstMs || msSinceEpoch > kLastMs)
        return QByteArray::number(msSinceEpoch) + " ms since 1970 (outside years 0000-9999)";
    const qint64 days = msSinceEpoch >= 0 ? msSinceEpoch / kMsPerDay : -((-msSinceEpoch - 1) / kMsPerDay) - 1;
    const qint64 msOfDay = msSinceEpoch - days * kMsPerDay;
    qint64 year = 0;
    int month = 0;
    int day = 0;
    civilFromDays(days, &year, &month, &day);
    QByteArray out(24, Qt::Uninitialized);
    char *p = out.data();
    putDigits(p, year, 4);
    p[4] = '-';
    putDigits(p + 5, month, 2);
    p[7] = '-';
    putDigits(p + 8, day, 2);
    p[10] = 'T';
    putDigits(p + 11, msOfDay / 3600000, 2);
    p[13] = ':';
    putDigits(p + 14, msOfDay / 60000 % 60, 2);
    p[16] = ':';
    putDigits(p + 17, msOfDay / 1000 % 60, 2);
    p[19] = '.';
    putDigits(p + 20, msOfDay % 1000, 3);
    p[23] = 'Z';
    return out;
}

std::optional<qint64> AuditBundle::parseIsoUtc(const QString &text)
{
    static constexpr char kPattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (text.size() != 24)
        return std::nullopt;
    for (int i = 0; i < 24; ++i) {
        const QChar c = text.at(i);
        if (kPattern[i] == 'd' ? !(c >= QLatin1Char('0') && c <= QLatin1Char('9'))
                               : c != QLatin1Char(kPattern[i]))
            return std::nullopt;
    }
    const auto number = [&text](int at, int width) {
        return text.mid(at, width).toLongLong();
    };
    const int month = int(number(5, 2));
    const int day = int(number(8, 2));
    if (month < 1 || month > 12 || day < 1 || day > 31)
        return std::nullopt;
    const qint64 ms = daysFromCivil(number(0, 4), month, day) * kMsPerDay + number(11, 2) * 3600000 +
                      number(14, 2) * 60000 + number(17, 2) * 1000 + number(20, 3);
    // Round trip: refuses 2024-02-30, 25:00 and the like.
    if (QString::fromLatin1(isoUtc(ms)) != text)
        return std::nullopt;
    return ms;
}

AuditBundleReport AuditBundle::verify(const QByteArray &bundleBytes, const Membership &membership)
{
    AuditBundleReport report;
    const auto fail = [&report](const QString &problem) {
        report.ok = false;
        report.error = problem;
        qCDebug(lcAuditBundle) << "bundle refused:" << problem;
        return report;
    };

    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(bundleBytes, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        return fail(QStringLiteral("not valid JSON at byte %1: %2")
                        .arg(parseError.offset)
                        .arg(parseError.errorString()));
    if (!document.isObject())
        return fail(QStringLiteral("the bundle is not a JSON object"));
    const QJsonObject top = document.object();
    if (top.value(QLatin1String("format")).toString() != formatName())
        return fail(QStringLiteral("'format' is not \"%1\"").arg(formatName()));
    const std::optional<qint64> version =
        strictInteger(top.value(QLatin1String("version")), 0, kMaxJsonInteger);
    if (!version || *version < kFirstVersion || *version > kVersion)
        return fail(QStringLiteral("'version' is not %1 to %2; this verifier reads versions %1 to %2 only")
                        .arg(kFirstVersion)
                        .arg(kVersion));
    if (QString problem = checkKeys(top, {QStringLiteral("format"), QStringLiteral("version"),
                                          QStringLiteral("generated_at"), QStringLiteral("generated_by"),
                                          QStringLiteral("period"), QStringLiteral("filters"),
                                          QStringLiteral("membership_hash"), QStringLiteral("decisions"),
                                          QStringLiteral("manifest")});
        !problem.isEmpty())
        return fail(QStringLiteral("bundle: ") + problem);

    // The header.
    Header header;
    header.version = int(*version);
    {
        const auto generatedAt = parseIsoUtc(top.value(QLatin1String("generated_at")).toString());
        if (!generatedAt)
            return fail(QStringLiteral("header: 'generated_at' is not a UTC time"));
        header.generatedAtMs = *generatedAt;
        if (!top.value(QLatin1String("generated_by")).isString())
            return fail(QStringLiteral("header: 'generated_by' is not a string"));
        header.generatedBy = top.value(QLatin1String("generated_by")).toString();
        const QJsonObject period = top.value(QLatin1String("period")).toObject();
        if (QString problem = checkKeys(period, {QStringLiteral("from"), QStringLiteral("from_ms"),
                                                 QStringLiteral("to"), QStringLiteral("to_ms")});
            !problem.isEmpty())
            return fail(QStringLiteral("header: period: ") + problem);
        const auto fromMs =
            strictInteger(period.value(QLatin1String("from_ms")), -kMaxJsonInteger, kMaxJsonInteger);
        if (!fromMs)
            return fail(QStringLiteral("header: period: 'from_ms' is not an integer"));
        header.fromMs = *fromMs;
        if (!period.value(QLatin1String("to_ms")).isNull()) {
            const auto toMs =
                strictInteger(period.value(QLatin1String("to_ms")), -kMaxJsonInteger, kMaxJsonInteger);
            if (!toMs)
                return fail(QStringLiteral("header: period: 'to_ms' is not an integer or null"));
            header.toMs = *toMs;
        }
        const QJsonObject filters = top.value(QLatin1String("filters")).toObject();
        if (QString problem = checkKeys(filters, {QStringLiteral("outcome"), QStringLiteral("ticket")});
            !problem.isEmpty())
            return fail(QStringLiteral("header: filters: ") + problem);
        if (!filters.value(QLatin1String("outcome")).isString() ||
            !filters.value(QLatin1String("ticket")).isString())
            return fail(QStringLiteral("header: filters: 'outcome' and 'ticket' must be strings"));
        header.outcomeFilter = filters.value(QLatin1String("outcome")).toString();
        header.ticketFilter = filters.value(QLatin1String("ticket")).toString();
        // Every entry is checked against the filters, so each must be one this verifier knows.
        if (!header.outcomeFilter.isEmpty() && header.outcomeFilter != QLatin1String("DECIDED") &&
            header.outcomeFilter != QLatin1String("UNDETERMINED"))
            return fail(
                QStringLiteral("header: filters: 'outcome' is \"%1\", not empty, DECIDED or UNDETERMINED")
                    .arg(header.outcomeFilter));
        if (header.toMs && *header.toMs < header.fromMs)
            return fail(QStringLiteral("header: period: 'to_ms' %1 is before 'from_ms' %2")
                            .arg(*header.toMs)
                            .arg(header.fromMs));
        // Every entry is checked against the membership given, so the bundle must name that one.
        const QJsonValue membershipHash = top.value(QLatin1String("membership_hash"));
        if (membershipHash.isString() && membershipHash.toString().isEmpty())
            return fail(
                QStringLiteral("header: 'membership_hash' is empty: the bundle names no membership, so "
                               "it cannot be checked against %1")
                    .arg(hex(membership.hash())));
        const auto hash = StrictJson::hex(membershipHash, 32);
        if (!hash)
            return fail(QStringLiteral("header: 'membership_hash' is not 64 lower-case hex digits"));
        header.membershipHash = *hash;
        if (header.membershipHash != membership.hash())
            return fail(QStringLiteral("header: the bundle was made under membership %1, but the membership "
                                       "given has hash %2")
                            .arg(hex(header.membershipHash), hex(membership.hash())));
    }

    const QJsonValue decisionsValue = top.value(QLatin1String("decisions"));
    const QJsonValue manifestValue = top.value(QLatin1String("manifest"));
    if (!decisionsValue.isArray())
        return fail(QStringLiteral("'decisions' is not an array"));
    if (!manifestValue.isObject())
        return fail(QStringLiteral("'manifest' is not an object"));
    const QJsonArray decisions = decisionsValue.toArray();
    const QJsonObject manifest = manifestValue.toObject();
    if (QString problem = checkKeys(manifest, {QStringLiteral("algorithm"), QStringLiteral("header_sha256"),
                                               QStringLiteral("entries"), QStringLiteral("root")});
        !problem.isEmpty())
        return fail(QStringLiteral("manifest: ") + problem);
    if (manifest.value(QLatin1String("algorithm")).toString() != QLatin1String("SHA-256"))
        return fail(QStringLiteral("manifest: 'algorithm' is not \"SHA-256\""));
    const QJsonArray manifestEntries = manifest.value(QLatin1String("entries")).toArray();
    if (!manifest.value(QLatin1String("entries")).isArray() || manifestEntries.size() != decisions.size())
        return fail(QStringLiteral("manifest: 'entries' lists %1 entries for %2 decisions")
                        .arg(manifestEntries.size())
                        .arg(decisions.size()));

    // Rebuilt as the writer would have written it; compared byte for byte at the end.
    Writer writer(header);
    QByteArray canonical = writer.begin();
    QByteArray canonicalManifest;
    const auto topHeader = [&top] {
        QJsonObject header = top;
        header.remove(QLatin1String("decisions"));
        header.remove(QLatin1String("manifest"));
        return header;
    }();
    QCryptographicHash root(QCryptographicHash::Sha256);
    const QByteArray headerHash = sha256(compact(topHeader));
    root.addData(headerHash);
    QSet<QByteArray> seen;
    QSet<quint64> provenHeights;
    QSet<QByteArray> signedHeaders; // block headers with their signatures, checked once each
    const int total = int(decisions.size());
    report.decisions = total;

    for (qsizetype i = 0; i < decisions.size(); ++i) {
        const int index = int(i);
        const QJsonObject object = decisions.at(i).toObject();
        QString where = entryName(index, total, {}, {});
        if (!decisions.at(i).isObject())
            return fail(where + QStringLiteral(": not a JSON object"));
        QStringList keys{QStringLiteral("digest"), QStringLiteral("summary"), QStringLiteral("certificate"),
                         QStringLiteral("confirmations")};
        if (header.version >= 2)
            keys << QStringLiteral("proof");
        if (QString problem = checkKeys(object, keys); !problem.isEmpty())
            return fail(where + QStringLiteral(": ") + problem);
        const auto digest = StrictJson::hex(object.value(QLatin1String("digest")), 32);
        if (!digest)
            return fail(where + QStringLiteral(": 'digest' is not 64 lower-case hex digits"));
        where = entryName(index, total, {}, *digest);
        if (seen.contains(*digest))
            return fail(where + QStringLiteral(": the same write-off appears twice in the bundle"));
        seen.insert(*digest);

        QString problem;
        const QJsonObject summaryObject = object.value(QLatin1String("summary")).toObject();
        const auto summary = AuditSummary::fromJson(summaryObject, &problem);
        if (!summary)
            return fail(where + QStringLiteral(": summary: ") + problem);
        where = entryName(index, total, summary->ticket, *digest);
        if (summary->digest != *digest)
            return fail(where + QStringLiteral(": summary 'digest' differs from the entry's digest"));
        if (const QString outside = checkAgainstHeader(*summary, header); !outside.isEmpty())
            return fail(where + QStringLiteral(": ") + outside);

        Entry entry;
        entry.summary = *summary;
        const bool decided = summary->outcome == QLatin1String("DECIDED");
        std::optional<Decision> certified;
        const QJsonValue certificateValue = object.value(QLatin1String("certificate"));
        // The summary is unsigned: a DECIDED one is worth only the certificate that carries it.
        if (certificateValue.isNull() && decided)
            return fail(where +
                        QStringLiteral(": 'certificate' is null, but a DECIDED entry must carry the quorum "
                                       "certificate that decided it; its summary alone is not evidence"));
        if (!certificateValue.isNull()) {
            const auto bytes = StrictJson::base64(certificateValue);
            if (!bytes)
                return fail(where + QStringLiteral(": 'certificate' is not canonical base64 or null"));
            entry.certificate = *bytes;
            const auto decision = Decision::decode(*bytes, &problem);
            if (!decision)
                return fail(where + QStringLiteral(": certificate does not decode: ") + problem);
            if (const QString refused = decision->verifyCertificate(membership); !refused.isEmpty())
                return fail(where + QStringLiteral(": certificate refused: ") + refused);
            if (decision->writeOff.digest() != *digest)
                return fail(where + QStringLiteral(": the certificate is for write-off %1, not this entry's")
                                        .arg(hex(decision->writeOff.digest())));
            if (const QString mismatch = compareWithCertificate(*summary, *decision); !mismatch.isEmpty())
                return fail(where + QStringLiteral(": ") + mismatch);
            certified = std::move(decision);
            ++report.certificatesVerified;
        }
        const QJsonValue confirmationsValue = object.value(QLatin1String("confirmations"));
        if (!confirmationsValue.isArray())
            return fail(where + QStringLiteral(": 'confirmations' is not an array"));
        const QJsonArray confirmations = confirmationsValue.toArray();
        QList<StateConfirmation> decodedConfirmations;
        for (qsizetype c = 0; c < confirmations.size(); ++c) {
            const QString which = where + QStringLiteral(": confirmation %1").arg(c);
            const auto bytes = StrictJson::base64(confirmations.at(c));
            if (!bytes)
                return fail(which + QStringLiteral(" is not canonical base64"));
            const auto confirmation = StateConfirmation::decode(*bytes, &problem);
            if (!confirmation)
                return fail(which + QStringLiteral(" does not decode: ") + problem);
            if (const QString refused = confirmation->verify(membership); !refused.isEmpty())
                return fail(which + QStringLiteral(" (%1) refused: ").arg(confirmation->targetId) + refused);
            if (confirmation->writeOffDigest != *digest)
                return fail(which + QStringLiteral(" (%1) confirms another write-off (%2)")
                                        .arg(confirmation->targetId, hex(confirmation->writeOffDigest)));
            // The exporter lists them by target, then state, each once: one form per entry.
            if (!decodedConfirmations.isEmpty()) {
                const StateConfirmation &previous = decodedConfirmations.last();
                if (std::pair(previous.targetId, previous.stateCode) >=
                    std::pair(confirmation->targetId, confirmation->stateCode))
                    return fail(which + QStringLiteral(" (%1, %2) does not come after (%3, %4); "
                                                       "'confirmations' are by target, then state, each once")
                                            .arg(confirmation->targetId, stateName(confirmation->stateCode),
                                                 previous.targetId, stateName(previous.stateCode)));
            }
            entry.confirmations.append(*bytes);
            decodedConfirmations.append(*confirmation);
            ++report.confirmationsVerified;
        }
        // The proof: the coordinator signed a block header whose root commits to these very bytes.
        const QJsonValue proofValue = object.value(QLatin1String("proof"));
        if (header.version >= 2 && !proofValue.isNull()) {
            if (!proofValue.isObject())
                return fail(where + QStringLiteral(": 'proof' is not an object or null"));
            const auto proof = InclusionProof::fromJson(proofValue.toObject(), &problem);
            if (!proof)
                return fail(where + QStringLiteral(": proof: ") + problem);
            if (!entry.certificate)
                return fail(where +
                            QStringLiteral(": proof: the entry has no certificate, whose bytes it would "
                                           "prove in a block"));
            BlockHeader block;
            if (const QString refused = proof->verify(*entry.certificate, membership, &block, &signedHeaders);
                !refused.isEmpty())
                return fail(where + QStringLiteral(": proof: ") + refused);
            if (summary->height != qint64(block.height))
                return fail(where + QStringLiteral(": summary field 'height' is %1, but the proof shows the "
                                                   "decision in block %2")
                                        .arg(summary->height)
                                        .arg(block.height));
            entry.proof = *proof;
            ++report.provenInBlocks;
            report.firstBlock =
                report.firstBlock == 0 ? block.height : std::min(report.firstBlock, block.height);
            report.lastBlock = std::max(report.lastBlock, block.height);
            provenHeights.insert(block.height);
        }
        if (!certified) {
            if (const QString mismatch = compareWithConfirmations(*summary, decodedConfirmations, membership);
                !mismatch.isEmpty())
                return fail(where + QStringLiteral(": ") + mismatch + QStringLiteral(" (no certificate)"));
            ++report.undeterminedWithoutCertificate;
        } else {
            // The certificate's unsigned counts, as far as the entry's signatures reach.
            const Evidence evidence = evidenceBeyond(*certified, decodedConfirmations);
            if (qint64(certified->equivocating) > evidence.twoStates)
                return fail(where + QStringLiteral(": summary field 'equivocating' is %1 (as the certificate "
                                                   "says), but %2 targets besides the certificate's signers "
                                                   "signed two different states in the entry: the "
                                                   "coordinator's unsigned count accuses targets without "
                                                   "their signed evidence")
                                        .arg(certified->equivocating)
                                        .arg(evidence.twoStates));
            for (const StateCount &other : std::as_const(certified->histogram)) {
                if (certified->outcome != Outcome::Decided || other.stateCode == certified->decidedState ||
                    qint64(other.count) <= evidence.signers.value(other.stateCode))
                    continue;
                if (report.unprovenCounts.size() < AuditBundleReport::kMaxListed)
                    report.unprovenCounts.append(
                        where + QStringLiteral(": the certificate counts %1 %2, but the entry carries %3 "
                                               "signed %2 confirmations")
                                    .arg(other.count)
                                    .arg(stateName(other.stateCode))
                                    .arg(evidence.signers.value(other.stateCode)));
                ++report.unprovenCountTotal;
            }
        }
        report.equivocatorsShown += int(summary->equivocating);
        ++(decided ? report.decided : report.undetermined);

        // Its manifest entry.
        const QString inManifest = QStringLiteral("manifest entry %1").arg(index + 1);
        const QJsonObject manifestEntry = manifestEntries.at(i).toObject();
        if (QString keys = checkKeys(manifestEntry, {QStringLiteral("digest"), QStringLiteral("sha256"),
                                                     QStringLiteral("summary_sha256")});
            !keys.isEmpty())
            return fail(inManifest + QStringLiteral(": ") + keys);
        if (StrictJson::hex(manifestEntry.value(QLatin1String("digest")), 32) != *digest)
            return fail(inManifest + QStringLiteral(": 'digest' is not that of %1").arg(where));
        const QByteArray contents = contentHash(entry);
        if (StrictJson::hex(manifestEntry.value(QLatin1String("sha256")), 32) != contents)
            return fail(where +
                        QStringLiteral(": its certificate and confirmations do not match the manifest's "
                                       "sha256 (%1 here)")
                            .arg(hex(contents)));
        const QByteArray summaryHash = sha256(compact(summaryObject));
        if (StrictJson::hex(manifestEntry.value(QLatin1String("summary_sha256")), 32) != summaryHash)
            return fail(where + QStringLiteral(": its summary does not match the manifest's summary_sha256"));
        root.addData(*digest);
        root.addData(contents);
        root.addData(summaryHash);

        QByteArray manifestLine;
        canonical += writer.addEntry(entry, &manifestLine);
        canonicalManifest += manifestLine;
    }

    if (StrictJson::hex(manifest.value(QLatin1String("header_sha256")), 32) != headerHash)
        return fail(QStringLiteral("header: format, version, generated_at, generated_by, period, filters or "
                                   "membership_hash do not match the manifest's header_sha256"));
    if (StrictJson::hex(manifest.value(QLatin1String("root")), 32) != root.result())
        return fail(QStringLiteral("manifest: 'root' does not match the entries (%1 recomputed)")
                        .arg(hex(root.result())));

    canonical += writer.manifestBegin() + canonicalManifest + writer.end();
    if (canonical != bundleBytes) {
        qsizetype at = 0;
        const qsizetype limit = std::min(canonical.size(), bundleBytes.size());
        while (at < limit && canonical.at(at) == bundleBytes.at(at))
            ++at;
        return fail(QStringLiteral("not in the canonical form at byte %1 (the values check out, but the "
                                   "bytes differ from what the exporter writes)")
                        .arg(at));
    }
    report.blocks = int(provenHeights.size());
    report.ok = true;
    return report;
}

} // namespace ticketsync
