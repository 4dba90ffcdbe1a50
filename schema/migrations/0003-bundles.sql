-- 0003-bundles.sql: format 2 -> 3: bundles and receipts (events carried across an air gap).
--
-- Applied by the library, inside the one BEGIN IMMEDIATE transaction that migrates a
-- spool, to a spool of format 2; the runner sets PRAGMA user_version = 3 after it.
--
-- 1. events.status may be 'exported': written to a bundle, not to be sent from here.
--    SQLite cannot change a CHECK, so events is rebuilt as 0002 rebuilt it: every row
--    and column copied, the id sequence kept above every id events or dlq ever held.
-- 2. events and dlq get `bundle`: the bundle an event was exported in (on the spool
--    that made it) or imported from (on the spool that imported it).
-- 3. spool: one row, the spool's random spool_id (made here for a spool older than it).
-- 4. bundles: the bundles made and imported here, and their receipts.

DROP VIEW IF EXISTS summary;
DROP VIEW IF EXISTS pending_due;

CREATE TABLE events_v3 (
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

CREATE TEMP TABLE migrate_0003_seq AS
    SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
               coalesce((SELECT max(id) FROM events), 0),
               coalesce((SELECT max(id) FROM dlq), 0)) AS seq;

INSERT INTO events_v3 (id, uuid, name, schema_version, session_id, client_version,
                       cpu_architecture, queued_at, parameters, status, retry_count,
                       next_attempt_at, lease_until, last_error, sent_at)
    SELECT id, uuid, name, schema_version, session_id, client_version, cpu_architecture,
           queued_at, parameters, status, retry_count, next_attempt_at, lease_until,
           last_error, sent_at
      FROM events;
DROP TABLE events;
ALTER TABLE events_v3 RENAME TO events;

DELETE FROM sqlite_sequence WHERE name IN ('events', 'events_v3');
INSERT INTO sqlite_sequence (name, seq) SELECT 'events', seq FROM temp.migrate_0003_seq;
DROP TABLE temp.migrate_0003_seq;

CREATE INDEX events_due ON events (status, id, next_attempt_at);
CREATE INDEX events_waiting ON events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX events_by_envelope
    ON events (session_id, client_version, schema_version, cpu_architecture, status, id);
CREATE INDEX events_by_sent_at ON events (sent_at) WHERE status = 'sent';
CREATE INDEX events_by_bundle ON events (bundle) WHERE bundle IS NOT NULL;

ALTER TABLE dlq ADD COLUMN bundle TEXT;
CREATE INDEX dlq_by_bundle ON dlq (bundle) WHERE bundle IS NOT NULL;

CREATE TABLE spool (
    one      INTEGER PRIMARY KEY CHECK (one = 1),   -- a single row
    spool_id TEXT NOT NULL                          -- 32 random hex digits, never changed
);
INSERT INTO spool (one, spool_id) VALUES (1, lower(hex(randomblob(16))));

CREATE TABLE bundles (
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

CREATE VIEW summary AS
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

CREATE VIEW pending_due AS
    SELECT id, uuid, session_id, queued_at, retry_count, next_attempt_at, last_error
      FROM events
     WHERE status = 'pending'
       AND (next_attempt_at IS NULL
            OR next_attempt_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
     ORDER BY id;

CREATE VIEW awaiting_receipt AS
    SELECT b.id AS bundle, b.created_at, b.file, b.events, b.receipt,
           (SELECT count(*) FROM events e WHERE e.bundle = b.id AND e.status = 'exported')
               AS still_exported
      FROM bundles b
     WHERE b.direction = 'made' AND b.receipt IN ('writing', 'awaiting', 'partial')
     ORDER BY b.created_at;
