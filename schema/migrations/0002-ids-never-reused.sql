-- 0002-ids-never-reused.sql: format 1 -> 2.
--
-- Applied by the library, inside the one BEGIN IMMEDIATE transaction that migrates a
-- spool, to a spool of format 1; the runner sets PRAGMA user_version = 2 after it.
--
-- 1. events gets AUTOINCREMENT whatever it had. Spools made before ids were never
--    reused kept `id INTEGER PRIMARY KEY` under the same format number, so a freed id
--    could be given to a new event while a dead letter still had it. The table is
--    rebuilt (SQLite cannot alter a column), every row and column copied, and the
--    sequence starts above every id that events or dlq holds or ever handed out.
-- 2. The file is marked as an anon-telemetry spool (PRAGMA application_id), so that no
--    command ever mistakes another file for one.
-- 3. events_due (status, id, next_attempt_at) and events_waiting (next_attempt_at, of
--    pending rows only) replace events_by_status (status, next_attempt_at, id): claims
--    walk events_due in id order, so draining a long backlog of due retries no longer
--    sorts them all for every batch; events_waiting answers "is anything due" at once
--    on a backlog that waits for its retries, and settling a retried event touches it
--    once instead of moving it within an index ordered by scattered retry times.

-- The views name events: drop them while the table is rebuilt (recreated below).
DROP VIEW IF EXISTS summary;
DROP VIEW IF EXISTS pending_due;

CREATE TABLE events_v2 (
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
                     CHECK (status IN ('pending', 'sending', 'sent')),
    retry_count      INTEGER NOT NULL DEFAULT 0,      -- failed attempts answered by a collector
    next_attempt_at  TEXT,                            -- NULL: due now
    lease_until      TEXT,                            -- while 'sending': when a dead shipper's claim lapses
    last_error       TEXT,
    sent_at          TEXT
);

-- sqlite_sequence exists now (events_v2 made it); the old sequence, if any, counts too.
CREATE TEMP TABLE migrate_0002_seq AS
    SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
               coalesce((SELECT max(id) FROM events), 0),
               coalesce((SELECT max(id) FROM dlq), 0)) AS seq;

INSERT INTO events_v2 (id, uuid, name, schema_version, session_id, client_version,
                       cpu_architecture, queued_at, parameters, status, retry_count,
                       next_attempt_at, lease_until, last_error, sent_at)
    SELECT id, uuid, name, schema_version, session_id, client_version, cpu_architecture,
           queued_at, parameters, status, retry_count, next_attempt_at, lease_until,
           last_error, sent_at
      FROM events;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;

DELETE FROM sqlite_sequence WHERE name IN ('events', 'events_v2');
INSERT INTO sqlite_sequence (name, seq) SELECT 'events', seq FROM temp.migrate_0002_seq;
DROP TABLE temp.migrate_0002_seq;

CREATE INDEX events_due ON events (status, id, next_attempt_at);
CREATE INDEX events_waiting ON events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX events_by_envelope
    ON events (session_id, client_version, schema_version, cpu_architecture, status, id);
CREATE INDEX events_by_sent_at ON events (sent_at) WHERE status = 'sent';

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

PRAGMA application_id = 1096050028;  -- 'ATel'
