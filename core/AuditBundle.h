#pragma once

#include "InclusionProof.h"

#include <QByteArray>
#include <QCryptographicHash>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>
#include <optional>

namespace ticketsync {

class Membership;

// One decision's row as the audit reports show it: the CSV columns, and the "summary" object
// of a JSON bundle entry.
struct AuditSummary
{
    QString ticket;
    quint32 version = 0;
    QString branch;
    qint64 amountMinor = 0;
    QString currency;
    QString outcome;  // DECIDED or UNDETERMINED
    QString state;    // the decided state's name; empty when UNDETERMINED
    qint64 count = 0; // votes for the winning (or top) state
    qint64 n = 0;
    qint64 q = 0;
    qint64 missing = 0;
    qint64 equivocating = 0;
    qint64 issuedAtMs = 0;
    qint64 decidedAtMs = 0;
    qint64 latencyMs = 0;
    qint64 height = 0;
    QByteArray digest; // the write-off digest, 32 bytes

    QJsonObject toJson() const;
    // Strict: exactly the keys toJson() writes, each of its type and in range.
    static std::optional<AuditSummary> fromJson(const QJsonObject &object, QString *error);
    bool operator==(const AuditSummary &other) const = default;
};

// What verify() found. A bundle that verifies is authentic as far as its signatures go; the
// rest of each entry is the coordinator's word. proven() and notSigned() say which is which, in
// the words `ticketsync verify-report` prints.
struct AuditBundleReport
{
    static constexpr int kMaxListed = 20; // unprovenCounts lines kept; unprovenCountTotal counts all

    bool ok = false;
    int decisions = 0; // entries in the bundle (once its list could be read)
    int decided = 0;   // DECIDED entries: each with its quorum certificate verified
    int undetermined = 0;
    int undeterminedWithoutCertificate = 0; // their write-off fields are not signed in the bundle
    int certificatesVerified = 0;
    int confirmationsVerified = 0;
    // Targets the entries count as equivocating, each shown signing two different states.
    int equivocatorsShown = 0;
    // Counts of states other than the decided one in DECIDED certificates that exceed the distinct
    // targets whose signed confirmation of that state the entry carries: the coordinator's word
    // alone. One line each ("decision 2 of 5 (ticket ...): AMOUNT_MISMATCH ..."), at most kMaxListed.
    QStringList unprovenCounts;
    int unprovenCountTotal = 0;
    // Entries whose proof showed their certificate's exact bytes in a block header the coordinator
    // signed: their decided_at, missing, equivocating, other states' counts and height are signed
    // by the coordinator. Version 1 bundles carry no proofs, so none of their entries count.
    int provenInBlocks = 0;
    quint64 firstBlock = 0; // the lowest and highest height proven; 0 when none
    quint64 lastBlock = 0;
    int blocks = 0; // distinct heights proven
    QString error;  // names the decision entry (or section) and the check that failed

    // For a report that is ok: what the signatures in the bundle prove; what the coordinator's
    // block signatures prove through each entry's proof; and what nothing signs.
    QStringList proven() const;
    QStringList signedByCoordinator() const;
    QStringList notSigned() const;
    // "block 7" or "blocks 7 to 12": where the proven entries are; empty when none are.
    QString provenBlocks() const;
};

// The JSON audit bundle: decisions with their signed certificates and confirmations and a
// hash manifest, checkable offline by `ticketsync verify-report`.
//
// The file is canonical JSON (UTF-8, compact, one decision entry per line, one manifest entry
// per line, keys in the order Writer emits them), so the verifier can require the exact bytes:
//
//   {"format":"ticketsync-audit-bundle","version":1,"generated_at":ISO,"generated_by":S,
//    "period":{"from":ISO,"from_ms":N,"to":ISO|null,"to_ms":N|null},
//    "filters":{"outcome":S,"ticket":S},"membership_hash":HEX,"decisions":[
//   {"certificate":B64|null,"confirmations":[B64,...],"digest":HEX,"proof":PROOF|null,"summary":{...}},
//   ...
//   ],"manifest":{"algorithm":"SHA-256","header_sha256":HEX,"entries":[
//   {"digest":HEX,"sha256":HEX,"summary_sha256":HEX},
//   ...
//   ],"root":HEX}}
//
// PROOF = {"header":B64,"leaf_index":N,"path":[HEX,...],"signature":B64} (InclusionProof): the
// header bytes of the block holding the certificate, the coordinator's signature on them, and the
// merkle path from the certificate's leaf to the header's root. Version 1 bundles have no "proof"
// key; version 2 writes it on every entry, null where the decision was not sealed when exported.
//
// sha256 = SHA-256(certificate bytes || each confirmation's bytes in order || the proof's header,
//          signature, leaf_index as 4 bytes big-endian and path hashes, when it has one);
// summary_sha256 = SHA-256(compact JSON of the summary object);
// header_sha256 = SHA-256(compact JSON of {format, version, generated_at, generated_by, period,
//                 filters, membership_hash});
// root = SHA-256(header_sha256 || for each entry: digest || sha256 || summary_sha256), raw bytes.
// The signatures make the write-offs and confirmations unforgeable; the manifest and the
// canonical form make every other byte tamper-evident, not true: whoever writes a bundle can
// recompute them. See verify() for what is signed by whom.
class AuditBundle
{
public:
    static constexpr int kVersion = 2; // 2: entries may carry an InclusionProof
    static constexpr int kFirstVersion = 1;
    static QString formatName() { return QStringLiteral("ticketsync-audit-bundle"); }

    struct Header
    {
        qint64 generatedAtMs = 0;
        QString generatedBy;
        qint64 fromMs = 0;
        std::optional<qint64> toMs; // exclusive; none when open-ended
        QString outcomeFilter;
        QString ticketFilter;
        QByteArray membershipHash; // required: verify() refuses a bundle that names no membership
        int version = kVersion;    // what the writer writes; verify() reads kFirstVersion up

        QJsonObject toJson() const;
    };

    struct Entry
    {
        AuditSummary summary;
        std::optional<QByteArray> certificate; // canonical Decision bytes, when cached
        QList<QByteArray> confirmations;       // canonical signed StateConfirmation bytes
        std::optional<InclusionProof> proof;   // that the certificate is in a signed block (version 2)
    };

    // Streams a bundle: begin(), addEntry() per decision, then manifestBegin(), the manifest
    // lines addEntry() handed out (in order), and end(). Concatenated, those are the file.
    class Writer
    {
    public:
        explicit Writer(Header header);
        QByteArray begin();
        // Returns the entry's bytes; *manifestLine gets its manifest entry's bytes.
        QByteArray addEntry(const Entry &entry, QByteArray *manifestLine);
        QByteArray manifestBegin() const;
        QByteArray end();
        int entries() const { return count; }

    private:
        Header bundleHeader;
        QByteArray headerHash;
        QCryptographicHash root{QCryptographicHash::Sha256};
        int count = 0;
    };

    // Parses strictly, recomputes every manifest hash and the root, decodes and verifies each
    // certificate and confirmation against the membership, and checks the summaries against
    // the signed data. Any changed byte fails with a message naming what. The manifest only
    // proves the bytes unchanged (anyone can recompute it), so the evidence is the signatures.
    //
    // A certificate (Decision) is not signed as a whole: the branch signs the write-off, each
    // target its own confirmation (write-off digest and state). So a certificate proves the
    // write-off, and for DECIDED that q distinct targets confirmed the decided state (count, n,
    // q); for UNDETERMINED only the confirmations it carries (its histogram equals them). Its
    // decided_at, missing, equivocating and, for DECIDED, the counts of the other states are the
    // coordinator's, bound by the coordinator's block signature: an entry's proof (version 2)
    // carries that signature, so for a proven entry they are signed by the coordinator, and without
    // one they are its word alone. verify() checks:
    //  - the header's membership_hash is that of the membership given; its filters are known;
    //  - every entry lies in the header's period (decided_at in [from, to)) and matches its
    //    filters (outcome, ticket) — as the entry states decided_at, which nothing signs;
    //  - a DECIDED entry carries its certificate, which verifies, is for the entry's digest, and
    //    has the summary's values (write-off fields, outcome, state, count, n, q, and the
    //    unsigned missing, equivocating, decided_at);
    //  - an UNDETERMINED entry either carries its certificate (checked the same way), or its
    //    summary's counts must be borne out by its signed confirmations: no decided state, n and
    //    q of the membership, count < q, the top count no more than the signers of one state,
    //    the missing no fewer than the targets that signed nothing;
    //  - an entry's equivocating count is an accusation and needs its evidence: no more than the
    //    targets the entry shows signing two different states (outside its certificate's signers,
    //    who were counted); otherwise it fails;
    //  - a DECIDED certificate's count of another state that exceeds the targets whose signed
    //    confirmation of it the entry carries is listed in unprovenCounts (not a failure: the
    //    console may not have stored every vote, and late votes are stored too, so the signers
    //    are no exact match for the count);
    //  - confirmations are listed by target id, then state, each once (as the exporter writes);
    //  - an entry's proof: it needs the certificate, whose exact bytes must be its leaf; the path
    //    must lead to the root in the header; the header must be of this membership and signed by
    //    the coordinator it names; the summary's height must be the header's.
    // Never signed in a bundle: latency_ms; decided_at, missing and height of an entry without a
    // proof; and for an UNDETERMINED entry without a certificate, its write-off fields and
    // issued_at (confirmations name only the digest).
    static AuditBundleReport verify(const QByteArray &bundleBytes, const Membership &membership);

    // "2024-06-01T00:00:00.000Z"; fast enough for a million CSV rows.
    static QByteArray isoUtc(qint64 msSinceEpoch);
    // The exact inverse of isoUtc(); nothing else is accepted.
    static std::optional<qint64> parseIsoUtc(const QString &text);
    // SHA-256 over the certificate and confirmation bytes, as the manifest's "sha256".
    static QByteArray contentHash(const Entry &entry);
};

} // namespace ticketsync
