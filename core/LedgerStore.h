#pragma once

#include "Block.h"
#include "HistoryQuery.h"
#include "SqliteStatement.h"
#include "Ticket.h"

#include <QByteArray>
#include <QList>
#include <QString>
#include <functional>
#include <memory>
#include <optional>

struct sqlite3;

namespace ticketsync {

class WalCheckpointer;

// A ticket in a target node's registry, with how far it has been written off.
struct TicketRecord
{
    Ticket ticket;
    quint32 writtenOffVersion = 0; // the last decided write-off version; 0 if never
    bool frozen = false;
};

// The per-ticket lock a target holds once it has confirmed WRITTEN_OFF for (ticket, version).
struct TicketLock
{
    QString ticketId;
    quint32 ticketVersion = 0;
    QByteArray writeOffDigest;
    QByteArray confirmation; // the encoded confirmation that was released
};

// The durable store of one node: ledger blocks, ticket states, the ticket registry and the
// per-ticket locks, in one SQLite database in WAL mode. Every write is one transaction, so a
// crash leaves the database at the last complete write; blocks are appended in groups to get
// past the disk's flush rate. Not thread-safe: use one instance per thread.
class LedgerStore
{
public:
    static constexpr int kSchemaVersion = 4;

    // Why openReadOnly() refused a file, for callers that answer each differently.
    enum class OpenFailure
    {
        None,
        CannotOpen, // missing, not a regular file, no permission, an I/O error
        NotALedger, // not SQLite, or no blocks table, or another schema version
        Damaged     // a ledger SQLite reports corrupt
    };

    ~LedgerStore();
    LedgerStore(const LedgerStore &) = delete;
    LedgerStore &operator=(const LedgerStore &) = delete;

    // Opens or creates the database and migrates it to kSchemaVersion. On failure returns
    // nullptr and names the file and the problem.
    static std::unique_ptr<LedgerStore> open(const QString &path, QString *error);
    // Opens an existing ledger to read it and nothing else, as the offline tools do: the file is
    // opened SQLITE_OPEN_READONLY, never created, migrated, checkpointed or written, and refused
    // unless it is a ledger of exactly kSchemaVersion. A ledger with a write-ahead log (FILE-wal,
    // a node has it open or stopped without closing it) is read through SQLite's locks, so a
    // running node may go on writing; SQLite then creates FILE-shm if it is missing, which needs
    // a writable directory. A ledger without one is opened immutable: nothing is created beside it
    // and nothing locked, so no node should start on it while it is read (at worst a read then
    // fails). Every write on the store fails.
    static std::unique_ptr<LedgerStore> openReadOnly(const QString &path, QString *error,
                                                     OpenFailure *failure = nullptr);

    QString path() const { return filePath; }
    bool isReadOnly() const { return readOnly; }
    int schemaVersion() const;

    // ---- ledger ----
    quint64 height() const { return headHeight; }
    QByteArray headHash() const { return headBlockHash; }
    // Appends consecutive blocks that extend the head, all or none. The caller verifies
    // signatures and certificates first (ChainVerifier); the store checks the links.
    // known, when given, is what ChainVerifier::verify or Block::seal computed for these very
    // blocks; whatever it lacks is computed here.
    bool appendBlocks(const QList<Block> &blocks, QString *error,
                      const QList<BlockDecisionBytes> *known = nullptr);
    std::optional<Block> block(quint64 height, QString *error = nullptr) const;
    QList<Block> blocks(quint64 fromHeight, int maxCount, QString *error = nullptr) const;
    // The lookups below (decidedState, decisionHeight, writtenOffBy, ticket, lock) return nothing
    // both when there is no such row and when the read fails (busy, I/O error, corruption). Give
    // them an error string that starts empty to tell the two apart: a failed read sets it, naming
    // the file, and an absent row leaves it empty. A failed read is logged either way.
    //
    // The decided state of a write-off on the ledger, if it is there.
    std::optional<quint16> decidedState(const QByteArray &writeOffDigest, QString *error = nullptr) const;
    // The height of the block that holds the write-off's decision.
    std::optional<quint64> decisionHeight(const QByteArray &writeOffDigest, QString *error = nullptr) const;
    // The decisions on the ledger, newest first: every row DECIDED, its id the decision's place
    // in the chain (1 for the first decision of block 1, counting on through every block).
    // An empty list with *error set if the query failed.
    QList<HistoryRow> history(const HistoryQuery &query, QString *error) const;
    // The digest of the write-off that wrote off (ticket, version) on the ledger, if any.
    std::optional<QByteArray> writtenOffBy(const QString &ticketId, quint32 version,
                                           QString *error = nullptr) const;

    // ---- registry (target nodes) ----
    // Inserts or updates every ticket in one transaction: all of them or, on any failure, none.
    bool importTickets(const QList<Ticket> &tickets, QString *error);
    // The same from a source read as it goes, such as a registry file of millions of rows:
    // `next` fills in one ticket per call and returns false when it has no more, setting its
    // error if it stopped at a bad one; that error fails the import. *imported: the count.
    using TicketSource = std::function<bool(Ticket *ticket, QString *sourceError)>;
    bool importTickets(const TicketSource &next, QString *error, qint64 *imported = nullptr);
    std::optional<TicketRecord> ticket(const QString &ticketId, QString *error = nullptr) const;
    // 0 with *error set if the count failed.
    qint64 ticketCount(QString *error = nullptr) const;

    // ---- per-ticket locks ----
    std::optional<TicketLock> lock(const QString &ticketId, quint32 version, QString *error = nullptr) const;
    // Records the lock durably unless (ticket, version) is already locked. Returns the lock
    // that holds afterwards: the new one, or the earlier one that won; or nothing, with *error
    // set, if it could not be recorded or read back.
    std::optional<TicketLock> acquireLock(const TicketLock &lock, QString *error);

    // Groups the lock writes up to commitBatch() into one transaction, so many locks cost one
    // flush. Nothing recorded in a batch may be released before commitBatch() returns true;
    // appendBlocks() and importTickets() must not be called inside one.
    bool beginBatch(QString *error);
    bool commitBatch(QString *error);
    void rollbackBatch();

    // A short integrity check: the head block decodes, links and hashes to what is stored.
    QString checkHead() const;

private:
    LedgerStore() = default;
    bool exec(const char *sql, QString *error) const;
    bool migrate(QString *error);
    // For openReadOnly: None if the file is a ledger of kSchemaVersion, else why not (in *error).
    OpenFailure checkReadableLedger(QString *error) const;
    bool loadHead(QString *error);
    QString sqliteError() const;
    // True if rc (a step's result) is an error; then *error says what failed and it is logged.
    bool readFailed(int rc, const QString &what, QString *error) const;

    sqlite3 *db = nullptr;
    mutable SqliteStatementCache statements;
    std::unique_ptr<WalCheckpointer> checkpointer; // detached before db closes
    QString filePath;
    bool readOnly = false;
    quint64 headHeight = 0;
    QByteArray headBlockHash;
    qint64 lastDecisionSeq = 0; // ticket_states.seq of the newest decision
};

} // namespace ticketsync
