#include "ProtocolExample.h"

#include "Block.h"
#include "CanonicalWriter.h"
#include "SampleConsortium.h"
#include "Sha256.h"
#include "Tally.h"

#include <QList>
#include <QPair>

namespace ticketsync::ProtocolExample {

namespace {

// Rebuilds a message field by field, so the document can show which bytes are which.
// The table is only printed if the pieces add up to the real encoding.
class FieldTable
{
public:
    void add(const QString &name, const QByteArray &bytes, const QString &meaning = {})
    {
        rows.append({name, bytes, meaning});
    }
    void addU8(const QString &name, quint8 value, const QString &meaning = {})
    {
        CanonicalWriter w;
        w.writeU8(value);
        add(name, w.bytes(), meaning.isEmpty() ? QString::number(value) : meaning);
    }
    void addU16(const QString &name, quint16 value, const QString &meaning = {})
    {
        CanonicalWriter w;
        w.writeU16(value);
        add(name, w.bytes(), meaning.isEmpty() ? QString::number(value) : meaning);
    }
    void addU32(const QString &name, quint32 value, const QString &meaning = {})
    {
        CanonicalWriter w;
        w.writeU32(value);
        add(name, w.bytes(), meaning.isEmpty() ? QString::number(value) : meaning);
    }
    void addU64(const QString &name, quint64 value, const QString &meaning = {})
    {
        CanonicalWriter w;
        w.writeU64(value);
        add(name, w.bytes(), meaning.isEmpty() ? QString::number(value) : meaning);
    }
    void addString(const QString &name, const QString &value)
    {
        CanonicalWriter w;
        w.writeString(value);
        add(name, w.bytes(),
            QStringLiteral("u32 length %1, then \"%2\" in UTF-8").arg(value.toUtf8().size()).arg(value));
    }
    void addBytes(const QString &name, const QByteArray &value, const QString &meaning)
    {
        CanonicalWriter w;
        w.writeBytes(value);
        add(name, w.bytes(), QStringLiteral("u32 length %1, then %2").arg(value.size()).arg(meaning));
    }
    void addHeader(const char (&tag)[5])
    {
        add(QStringLiteral("tag"), QByteArray(tag, 4),
            QStringLiteral("\"%1\" domain separation").arg(QLatin1String(tag)));
        addU8(QStringLiteral("version"), CanonicalWriter::kFormatVersion, QStringLiteral("format version 1"));
    }

    QString render(const QByteArray &actual) const
    {
        QByteArray joined;
        for (const Row &row : rows)
            joined += row.bytes;
        if (joined != actual)
            return QStringLiteral("**error: the field table does not reproduce the encoding**\n");
        QString text = QStringLiteral("| offset | field | bytes (hex) | meaning |\n|---:|---|---|---|\n");
        qsizetype offset = 0;
        for (const Row &row : rows) {
            QString bytes = QString::fromLatin1(row.bytes.toHex());
            if (bytes.size() > 72)
                bytes = bytes.left(64) + QStringLiteral("…(%1 bytes)").arg(row.bytes.size());
            text += QStringLiteral("| %1 | %2 | `%3` | %4 |\n").arg(offset).arg(row.name, bytes, row.meaning);
            offset += row.bytes.size();
        }
        return text;
    }

private:
    struct Row
    {
        QString name;
        QByteArray bytes;
        QString meaning;
    };
    QList<Row> rows;
};

QString hexBlock(const QByteArray &bytes)
{
    QString text = QStringLiteral("```\n");
    const QByteArray hex = bytes.toHex();
    for (qsizetype i = 0; i < hex.size(); i += 64)
        text += QString::fromLatin1(hex.mid(i, 64)) + QLatin1Char('\n');
    return text + QStringLiteral("```\n");
}

QString hex(const QByteArray &bytes)
{
    return QString::fromLatin1(bytes.toHex());
}

} // namespace

QString markdown()
{
    SampleConsortium::Options options;
    options.label = QStringLiteral("ticketsync-protocol-example");
    options.branches = 1;
    options.targets = 4;
    options.receivers = 1;
    const SampleConsortium sample = SampleConsortium::generate(options);
    const Membership &membership = sample.membership;

    QString md;
    md += QStringLiteral(
              "### The consortium\n\nConsortium `%1`: members %2. n = %3 targets, q = ⌊2·%3/3⌋+1 = %4.\n"
              "Keys are derived as SHA-256(\"%1/<node id>\") used as the Ed25519 seed (example only).\n\n")
              .arg(membership.consortiumId())
              .arg([&] {
                  QStringList ids;
                  for (const Member &m : membership.members())
                      ids.append(QStringLiteral("`%1`").arg(m.id));
                  return ids.join(QStringLiteral(", "));
              }())
              .arg(membership.targetCount())
              .arg(membership.quorum());
    md += QStringLiteral("| member | roles | public key |\n|---|---|---|\n");
    for (const Member &m : membership.members())
        md += QStringLiteral("| %1 | %2 | `%3` |\n")
                  .arg(m.id, roleNames(m.roles).join(QLatin1Char(',')), hex(m.publicKey));
    md += QStringLiteral("\nMembership hash = SHA-256(canonical membership, %1 bytes) = `%2`\n\n")
              .arg(membership.canonicalBytes().size())
              .arg(hex(membership.hash()));

    // 1. The branch's write-off.
    const WriteOffResult writeOff =
        sample.writeOff(QStringLiteral("branch-1"), QStringLiteral("BILL-2026-0001"), 1, 1250000,
                        QStringLiteral("CNY"), 1795000000000, QStringLiteral("ERP-778"));
    FieldTable w;
    w.addHeader("TSWO");
    w.add(QStringLiteral("membership_hash"), writeOff.membershipHash, QStringLiteral("32 bytes"));
    w.addString(QStringLiteral("ticket_id"), writeOff.ticketId);
    w.addU32(QStringLiteral("ticket_version"), writeOff.ticketVersion);
    w.addU64(QStringLiteral("amount_minor"), quint64(writeOff.amountMinor),
             QStringLiteral("1250000 fen = 12,500.00 CNY"));
    w.addString(QStringLiteral("currency"), writeOff.currency);
    w.addString(QStringLiteral("branch_id"), writeOff.branchId);
    w.addU64(QStringLiteral("issued_at_ms"), quint64(writeOff.issuedAtMs),
             QStringLiteral("2026-11-18T11:06:40Z"));
    w.addString(QStringLiteral("client_reference"), writeOff.clientReference);
    const QByteArray signing = writeOff.signingBytes();
    md += QStringLiteral("### 1. Write-off result (signed by branch-1)\n\nSigning bytes (%1 bytes):\n\n")
              .arg(signing.size());
    md += w.render(signing);
    md += QStringLiteral("\nDigest (its identity) = SHA-256(signing bytes) = `%1`\n\n")
              .arg(hex(writeOff.digest()));
    md +=
        QStringLiteral("Signature (Ed25519 over the signing bytes) = `%1`\n\n").arg(hex(writeOff.signature));
    md += QStringLiteral("Full encoding = signing bytes ‖ u32 64 ‖ signature (%1 bytes):\n\n")
              .arg(writeOff.encode().size());
    md += hexBlock(writeOff.encode());

    // 2. The four confirmations.
    struct Vote
    {
        QString target;
        ConfirmationState state;
        QString reason;
    };
    const QList<Vote> votes = {
        {QStringLiteral("target-1"), ConfirmationState::WrittenOff, {}},
        {QStringLiteral("target-2"), ConfirmationState::WrittenOff, {}},
        {QStringLiteral("target-4"), ConfirmationState::AmountMismatch,
         QStringLiteral("registry holds 12495.00 CNY, the write-off claims 12500.00 CNY")},
        {QStringLiteral("target-3"), ConfirmationState::WrittenOff, {}},
    };
    md += QStringLiteral("\n### 2. State confirmations\n\n");
    Tally tally(membership, writeOff);
    QString steps;
    int decidedAt = 0;
    for (int i = 0; i < votes.size(); ++i) {
        const Vote &vote = votes.at(i);
        const StateConfirmation c = sample.confirm(vote.target, writeOff, vote.state, vote.reason);
        if (i == 0) {
            FieldTable t;
            t.addHeader("TSCF");
            t.add(QStringLiteral("membership_hash"), c.membershipHash, QStringLiteral("32 bytes"));
            t.addString(QStringLiteral("target_id"), c.targetId);
            t.add(QStringLiteral("write_off_digest"), c.writeOffDigest, QStringLiteral("32 bytes"));
            t.addU16(QStringLiteral("state"), c.stateCode, stateName(c.stateCode));
            t.addString(QStringLiteral("reason"), c.reason);
            md += QStringLiteral("Signing bytes of target-1's confirmation:\n\n") +
                  t.render(c.signingBytes()) + QLatin1Char('\n');
        }
        md += QStringLiteral("- `%1` says **%2**%3; signature `%4`\n")
                  .arg(c.targetId, stateName(c.stateCode),
                       c.reason.isEmpty() ? QString() : QStringLiteral(" (\"%1\")").arg(c.reason),
                       hex(c.signature));
        const Tally::Verdict verdict = tally.add(c);
        if (decidedAt == 0 && tally.status() == Tally::Status::Decided)
            decidedAt = i + 1;
        const QString status =
            tally.status() == Tally::Status::Decided
                ? QStringLiteral("DECIDED")
                : (tally.status() == Tally::Status::Undetermined ? QStringLiteral("UNDETERMINED")
                                                                 : QStringLiteral("pending"));
        steps += QStringLiteral("| %1 | %2 | %3 | %4 | %5 | %6 |\n")
                     .arg(i + 1)
                     .arg(c.targetId, Tally::verdictName(verdict))
                     .arg(tally.countOf(quint16(ConfirmationState::WrittenOff)))
                     .arg(tally.countOf(quint16(ConfirmationState::AmountMismatch)))
                     .arg(status);
    }
    md += QStringLiteral("\n### 3. The tally\n\nConfirmations arrive in this order:\n\n| # | from | verdict "
                         "| WRITTEN_OFF | AMOUNT_MISMATCH | status |\n"
                         "|---:|---|---|---:|---:|---|\n");
    md += steps;
    const Decision decision = tally.decision(1795000000150);
    md += QStringLiteral(
              "\nAfter confirmation 3 the count is WRITTEN_OFF 2, AMOUNT_MISMATCH 1 with one target "
              "missing: 2 + 1 ≥ q, so WRITTEN_OFF can still win and the tally stays pending. The tally is "
              "decided at confirmation %1: WRITTEN_OFF has %2 ≥ q = %3 of n = %4 (missing = %5). The "
              "certificate carries the %2 WRITTEN_OFF confirmations; the histogram also records the "
              "AMOUNT_MISMATCH vote.\n\n")
              .arg(decidedAt)
              .arg(decision.countOf(quint16(ConfirmationState::WrittenOff)))
              .arg(decision.quorum)
              .arg(decision.targetCount)
              .arg(decision.missing);

    // 4. Decision and block.
    const QByteArray decisionBytes = decision.encode();
    md += QStringLiteral(
              "### 4. Decision (quorum certificate)\n\n%1 bytes; SHA-256 = `%2`; it verifies: `%3`\n\n")
              .arg(decisionBytes.size())
              .arg(hex(sha256(decisionBytes)))
              .arg(decision.verifyCertificate(membership).isEmpty() ? QStringLiteral("yes")
                                                                    : QStringLiteral("NO"));
    md += hexBlock(decisionBytes);

    Block block;
    block.height = 1;
    block.previousHash = Block::genesisPreviousHash();
    block.membershipHash = membership.hash();
    block.timestampMs = 1795000000200;
    block.coordinatorId = sample.coordinatorId();
    block.decisions = {decision};
    block.seal(sample.keys.value(sample.coordinatorId()));
    FieldTable h;
    h.addHeader("TSBH");
    h.addU64(QStringLiteral("height"), block.height);
    h.add(QStringLiteral("previous_hash"), block.previousHash,
          QStringLiteral("32 zero bytes: the first block"));
    h.add(QStringLiteral("membership_hash"), block.membershipHash, QStringLiteral("32 bytes"));
    h.addU64(QStringLiteral("timestamp_ms"), quint64(block.timestampMs));
    h.addString(QStringLiteral("coordinator_id"), block.coordinatorId);
    h.add(QStringLiteral("merkle_root"), block.merkleRoot,
          QStringLiteral("one leaf: SHA-256(0x00 ‖ decision)"));
    h.addU32(QStringLiteral("decision_count"), quint32(block.decisions.size()));
    md += QStringLiteral("\n### 5. Block 1\n\nHeader bytes:\n\n") + h.render(block.headerBytes());
    md += QStringLiteral(
              "\nBlock hash = SHA-256(header) = `%1`\n\nCoordinator signature over the header = `%2`\n\n"
              "The full block is `TSBK` ‖ 0x01 ‖ u32+header ‖ u32+signature ‖ u32+decision, %3 bytes.\n")
              .arg(hex(block.hash()), hex(block.signature))
              .arg(block.encode().size());
    return md;
}

} // namespace ticketsync::ProtocolExample
