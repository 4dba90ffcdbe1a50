-- spool.sql: the one definition of the anon-telemetry spool (format version 3).
--
-- The library builds this file in at compile time and applies it, in one transaction,
-- to a new, empty file. An older spool is brought here step by step by the numbered
-- files of schema/migrations/ (NNNN-what.sql takes format NNNN-1 to NNNN), all in
-- one transaction; a change of format is a new step there and the same change here.
-- Operators can read this file to learn the layout.
--
-- Timestamps are UTC text with milliseconds, '2026-05-11T12:00:00.000Z': they
-- sort and compare as text, and they read well in the sqlite3 shell.
--
-- A row's life:  pending --claim--> sending --2xx--> sent --(keep-sent days)--> pruned
--                                      |--408/429/5xx--> pending (retry_count+1, next_attempt_at later)
--                                      |--400/413 alone/422/retries exhausted/expired--> dlq
--                                      '--lease expired (shipper died)--> claimable again, no retry spent
--                pending --bundle create--> exported (bundle) --receipt apply--> sent, or dlq ('remote: ...')
--                   (--forget: sent at once; --reexport: exported again, in a new bundle)

CREATE TABLE IF NOT EXISTS events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: dlq keeps the id
    uuid             TEXT NOT NULL UNIQUE,            -- random v4 uuid, stable across retries
    name             TEXT NOT NULL DEFAULT 'anonymizer_event',
    schema_version   TEXT NOT NULL,                   -- eventSchemaVer, '1.7'
    session_id       TEXT NOT NULL,                   -- NEMO_SESSION_PREFIX applied
    client_version   TEXT NOT NULL,                   -- clientVer, 'undefined' when not given
    cpu_architecture TEXT NOT NULL,                   -- uname -m of the host that queued it
    queued_at        TEXT NOT NULL,                   -- the event's ts
    parameters       TEXT NOT NULL,                   -- the 38-key JSON object, exactly as sent
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'exported')),
    retry_count      INTEGER NOT NULL DEFAULT 0,      -- failed attempts answered by a collector
    next_attempt_at  TEXT,                            -- NULL: due now
    lease_until      TEXT,                            -- while 'sending': when a dead shipper's claim lapses
    last_error       TEXT,
    sent_at          TEXT,
    bundle           TEXT                             -- the bundle it was exported in or imported from
);

-- The shipper's queries: due rows in id order (claims walk events_due from a cursor),
-- whether anything is due at all and the due counts (events_waiting: pending rows only,
-- so settling a row touches it once), rows of one envelope, prunable sent rows.
CREATE INDEX IF NOT EXISTS events_due ON events (status, id, next_attempt_at);
CREATE INDEX IF NOT EXISTS events_waiting ON events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS events_by_envelope
    ON events (session_id, client_version, schema_version, cpu_architecture, status, id);
CREATE INDEX IF NOT EXISTS events_by_sent_at ON events (sent_at) WHERE status = 'sent';
-- A bundle's events (receipts on both sides).
CREATE INDEX IF NOT EXISTS events_by_bundle ON events (bundle) WHERE bundle IS NOT NULL;

-- Dead letters: an event the shipper will not try again until an operator requeues it.
CREATE TABLE IF NOT EXISTS dlq (
    id               INTEGER PRIMARY KEY,             -- the id it had in events
    uuid             TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL DEFAULT 'anonymizer_event',
    schema_version   TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    client_version   TEXT NOT NULL,
    cpu_architecture TEXT NOT NULL,
    queued_at        TEXT NOT NULL,
    parameters       TEXT NOT NULL,
    retry_count      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    moved_at         TEXT NOT NULL,
    reason           TEXT NOT NULL,                   -- a sentence: 'rejected by collector: HTTP 400'
    bundle           TEXT                             -- as in events
);
CREATE INDEX IF NOT EXISTS dlq_by_bundle ON dlq (bundle) WHERE bundle IS NOT NULL;

-- One row per shipper run, for `anon-telemetry-ship status` ("last run's outcome").
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    exit_code   INTEGER,
    sent        INTEGER NOT NULL DEFAULT 0,
    retried     INTEGER NOT NULL DEFAULT 0,
    dead        INTEGER NOT NULL DEFAULT 0,
    summary     TEXT
);

-- The spool's identity: one row. A bundle names the spool that made it, and a receipt
-- is applied only to that spool.
CREATE TABLE IF NOT EXISTS spool (
    one      INTEGER PRIMARY KEY CHECK (one = 1),   -- a single row
    spool_id TEXT NOT NULL                          -- 32 random hex digits, never changed
);
INSERT OR IGNORE INTO spool (one, spool_id) VALUES (1, lower(hex(randomblob(16))));

-- Bundles made here (events carried out on removable media) and imported here, and
-- their receipts. receipt, for a bundle made here: 'writing' (its file was being
-- written; the command died if it stays so), 'awaiting' (no receipt yet), 'partial' (a
-- receipt came; some events were still pending there), 'complete', 'reexported' (its
-- unsettled events went into a later bundle), 'none' (--forget); for one imported here:
-- 'due' (no receipt made yet), 'issued'.
CREATE TABLE IF NOT EXISTS bundles (
    id          TEXT PRIMARY KEY,        -- the bundle's uuid (its header's "bundle")
    direction   TEXT NOT NULL CHECK (direction IN ('made', 'imported')),
    spool_id    TEXT NOT NULL,           -- the spool that made it ('made': this one)
    created_at  TEXT NOT NULL,           -- when it was made (its header's created_at)
    recorded_at TEXT NOT NULL,           -- when it was made or first imported here
    events      INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0, -- imported: events this spool held already
    file        TEXT NOT NULL,           -- the file it was written to or imported from
    receipt     TEXT NOT NULL CHECK (receipt IN ('writing', 'awaiting', 'partial',
                    'complete', 'reexported', 'none', 'due', 'issued')),
    receipt_at  TEXT                     -- made: last receipt applied; imported: last made
);

-- For people with sqlite3: SELECT * FROM summary;
-- due_now: pending events the next run would try; next_attempt_at: the earliest time a
-- pending event is due (a time in the past, or now, when some are due already).
CREATE VIEW IF NOT EXISTS summary AS
    SELECT status,
           count(*) AS events,
           min(queued_at) AS oldest_queued_at,
           CAST((julianday('now') - julianday(min(queued_at))) * 86400 AS INTEGER)
               AS oldest_age_seconds,
           CASE WHEN status = 'pending'
                THEN sum(next_attempt_at IS NULL
                         OR next_attempt_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
           END AS due_now,
           CASE WHEN status = 'pending'
                THEN min(coalesce(next_attempt_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
           END AS next_attempt_at
      FROM events GROUP BY status
    UNION ALL
    SELECT 'dlq', count(*), min(queued_at),
           CAST((julianday('now') - julianday(min(queued_at))) * 86400 AS INTEGER), NULL, NULL
      FROM dlq HAVING count(*) > 0;

-- SELECT * FROM dlq_summary;  why events were dead-lettered, most common first
CREATE VIEW IF NOT EXISTS dlq_summary AS
    SELECT reason, count(*) AS events, min(moved_at) AS first_moved_at,
           max(moved_at) AS last_moved_at
      FROM dlq GROUP BY reason ORDER BY count(*) DESC, reason;

-- SELECT * FROM pending_due;  what the next shipper run would try first
CREATE VIEW IF NOT EXISTS pending_due AS
    SELECT id, uuid, session_id, queued_at, retry_count, next_attempt_at, last_error
      FROM events
     WHERE status = 'pending'
       AND (next_attempt_at IS NULL
            OR next_attempt_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
     ORDER BY id;

-- SELECT * FROM awaiting_receipt;  bundles made here whose fate has not all come back
CREATE VIEW IF NOT EXISTS awaiting_receipt AS
    SELECT b.id AS bundle, b.created_at, b.file, b.events, b.receipt,
           (SELECT count(*) FROM events e WHERE e.bundle = b.id AND e.status = 'exported')
               AS still_exported
      FROM bundles b
     WHERE b.direction = 'made' AND b.receipt IN ('writing', 'awaiting', 'partial')
     ORDER BY b.created_at;

PRAGMA application_id = 1096050028;  -- 'ATel': this file is an anon-telemetry spool
PRAGMA user_version = 3;
