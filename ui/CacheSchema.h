#pragma once

// The console's SQLite history cache: everything received from the nodes, in the shape the
// views and the audit exports query. One file per console profile, WAL mode. Writers and
// readers run on worker threads, each with its own connection.
//
// Version 3. Migrations go in HistoryCache.cpp, one step per version, each in the same
// transaction as the `PRAGMA user_version` bump.

namespace ticketsync::CacheSchema {

constexpr int kVersion = 3;

// Feed kinds (feed.kind).
constexpr int kFeedIssued = 1;       // a write-off issued by a branch
constexpr int kFeedConfirmation = 2; // one target's signed confirmation, as the coordinator counted it

constexpr const char *kCreateV1 = R"(
-- Every event as received, keyed by the node that sent it and its sequence number.
CREATE TABLE events (
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,              -- the event's JSON
    PRIMARY KEY (node, seq)
) WITHOUT ROWID;

-- The live feed: write-offs issued and each target's confirmation. id is the display order.
CREATE TABLE feed (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    kind INTEGER NOT NULL,           -- kFeedIssued or kFeedConfirmation
    digest BLOB NOT NULL,            -- the write-off digest (32 bytes)
    ticket TEXT NOT NULL,
    version INTEGER NOT NULL,
    branch TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '', -- confirmations only
    state INTEGER NOT NULL DEFAULT 0,-- confirmation state code; 0 for issued
    verdict TEXT NOT NULL DEFAULT '',-- the tally's verdict: counted, equivocation, bad-signature, ...
    amount_minor INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT '',
    UNIQUE (node, seq)
);
CREATE INDEX feed_by_ticket ON feed (ticket, id);
CREATE INDEX feed_by_branch ON feed (branch, id);
CREATE INDEX feed_by_target ON feed (target, id);
CREATE INDEX feed_by_state ON feed (state, id);
CREATE INDEX feed_by_time ON feed (at_ms);
CREATE INDEX feed_by_digest ON feed (digest);

-- One row per write-off outcome (the latest one wins: a retried UNDETERMINED can become DECIDED).
CREATE TABLE decisions (
    digest BLOB PRIMARY KEY,
    node TEXT NOT NULL,              -- where it came from
    ticket TEXT NOT NULL,
    version INTEGER NOT NULL,
    branch TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    outcome TEXT NOT NULL,           -- DECIDED or UNDETERMINED
    state INTEGER NOT NULL,          -- the decided state's code; 0 when UNDETERMINED
    count INTEGER NOT NULL,          -- votes for the winning (or top) state
    n INTEGER NOT NULL,
    q INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    equivocating INTEGER NOT NULL,
    histogram TEXT NOT NULL,         -- JSON object: state name -> count
    issued_at_ms INTEGER NOT NULL,
    decided_at_ms INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,     -- acceptance to outcome, as the coordinator measured it
    height INTEGER NOT NULL DEFAULT 0, -- the block holding it; 0 until known
    certificate BLOB                 -- canonical Decision bytes, when fetched
) WITHOUT ROWID;
CREATE INDEX decisions_by_time ON decisions (decided_at_ms);
CREATE INDEX decisions_by_ticket ON decisions (ticket);
CREATE INDEX decisions_by_outcome ON decisions (outcome, decided_at_ms);

-- The signed confirmations, for the detail pane and the JSON audit bundle.
CREATE TABLE confirmations (
    digest BLOB NOT NULL,
    target TEXT NOT NULL,
    state INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    confirmation BLOB NOT NULL,      -- canonical StateConfirmation bytes
    PRIMARY KEY (digest, target, state)
) WITHOUT ROWID;

CREATE TABLE blocks (
    node TEXT NOT NULL,
    height INTEGER NOT NULL,
    hash BLOB NOT NULL,
    decisions INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (node, height)
) WITHOUT ROWID;

-- Each receiver as last reported, with when ("as of").
CREATE TABLE receivers (
    receiver TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    status TEXT NOT NULL,            -- in_sync, lagging, unreachable
    acked_height INTEGER NOT NULL,
    head_height INTEGER NOT NULL,
    lag_blocks INTEGER NOT NULL,
    lag_ms INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    last_contact_ms INTEGER NOT NULL,
    as_of_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Alerts and the trail of who acknowledged what.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,              -- undetermined, receiver_lagging, equivocation, stale_data, gap,
                                     -- journal_behind (cache schema 2)
    subject TEXT NOT NULL,           -- e.g. the digest, receiver or node concerned
    detail TEXT NOT NULL,
    raised_at_ms INTEGER NOT NULL,
    acknowledged_by TEXT NOT NULL DEFAULT '',
    acknowledged_at_ms INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, subject)
);
CREATE TABLE alert_trail (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,            -- raised, acknowledged
    note TEXT NOT NULL DEFAULT ''
);

-- Per node: the last sequence number stored, so a reconnect resumes after it.
CREATE TABLE cursors (
    node TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;

-- Gaps the console could not fill.
CREATE TABLE gaps (
    node TEXT NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    noticed_at_ms INTEGER NOT NULL
);
)";

// 1 -> 2: the network the cache belongs to, set by the first connection. Node ids and event
// numbers mean nothing across networks, so a cache is never fed by two.
constexpr const char *kCreateV2 = R"(
CREATE TABLE network (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ca_sha256 TEXT NOT NULL,         -- the consortium CA's fingerprint (NetworkIdentity)
    consortium TEXT NOT NULL,        -- its name, for messages
    bound_at_ms INTEGER NOT NULL
);
)";

// 2 -> 3: each decision's inclusion proof, fetched with its certificate once it is sealed, so
// that an audit bundle proves the coordinator signed its decided_at, missing and height.
constexpr const char *kCreateV3 = R"(
ALTER TABLE decisions ADD COLUMN proof BLOB; -- InclusionProof::toJson(), compact, when fetched
)";

} // namespace ticketsync::CacheSchema
