/*
 * queue.c: the only code that inserts, changes, moves, deletes or counts rows of
 * the spool (see queue.h; the tables are schema/spool.sql).
 *
 * A row's life:
 *
 *   pending --claim--> sending (lease_until) --2xx--> sent (sent_at) --keep-sent--> pruned
 *                         |--408/429/5xx--> pending (retry_count + 1, next_attempt_at)
 *                         |--400/422, 413 alone, retries exhausted--> dlq (reason)
 *                         |--offline, run stopped--> pending (nothing spent)
 *                         '--lease lapsed (the shipper died)--> claimable again
 *   pending/lapsed, older than --max-age --> dlq ("expired: ...")
 *   dlq --requeue--> pending (retry_count 0);  dlq --purge--> gone
 *   pending/lapsed --bundle create--> exported (bundle; --forget: sent at once)
 *   exported --receipt apply--> sent (the remote sent_at), or dlq ("remote: ...")
 *   exported --bundle create --reexport--> exported again (a later bundle)
 *
 * Statements are prepared once per connection, when first used, from one table.
 * The columns an events row and a dlq row share are written once (EVENT_COLS):
 * dead-lettering, expiry and requeue are built from it.
 */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define EVENT_COLS                                                                          \
    "uuid, name, schema_version, session_id, client_version, cpu_architecture, queued_at, " \
    "parameters, bundle"

/* events -> dlq: ?2 retry_count and ?3 last_error (NULL: the row's own), ?4 moved_at,
 * ?5 reason; the caller appends the WHERE condition. */
#define TO_DLQ                                                                           \
    "INSERT INTO dlq (id, " EVENT_COLS ", retry_count, last_error, moved_at, reason)"    \
    " SELECT id, " EVENT_COLS ", coalesce(?2, retry_count), coalesce(?3, last_error),"  \
    " ?4, ?5 FROM events WHERE "

/* Expiry: pending events, and sending ones whose lease lapsed (?6 now, ?8 horizon),
 * queued before ?1 but not before ?7 (a ts before that came from a wrong clock). */
#define EXPIRABLE                                                                       \
    "queued_at < ?1 AND queued_at >= ?7 AND (status = '" QUEUE_PENDING "' OR (status = '" \
    QUEUE_SENDING "' AND " QUEUE_LEASE_LAPSED("?6", "?8") "))"

#define NOT_SEEN "id NOT IN (SELECT id FROM temp.queue_seen)"

/*
 * Claims walk the index events_due (status, id, next_attempt_at) in id order from the
 * run's cursor and stop at the first due row: each row is looked at about once per run,
 * however many retries are due (sorting the due retries by id for every batch made
 * draining a long outage's backlog quadratic). ?1 cursor, ?2 now, ?3 retry or lease
 * horizon, ?4 flush_now.
 */
#define PICK(status, cond)                                                              \
    "SELECT id FROM events INDEXED BY events_due WHERE status = '" status "' AND id > ?1" \
    " AND " cond " AND " NOT_SEEN " ORDER BY id LIMIT 1"

#define DUE_GROUP_COLS "SELECT id, uuid, retry_count, queued_at, parameters, name FROM events"
#define SAME_ENVELOPE                                                                    \
    " WHERE session_id = ?1 AND client_version = ?2 AND schema_version = ?3"           \
    " AND cpu_architecture = ?4 AND id >= ?5"

/* Is anything due at all? Three probes of events_waiting; without it a run on a large
 * backlog waiting for its retries would walk every pending row to find nothing. */
#define ANY_DUE(cond) "EXISTS (SELECT 1 FROM events INDEXED BY events_waiting" \
                      " WHERE status = '" QUEUE_PENDING "' AND " cond ")"

enum {
    Q_ANY_DUE, Q_APPEND, Q_APPEND_NEW, Q_SEEN, Q_PICK_PENDING, Q_PICK_LEASE, Q_HDR, Q_GROUP_PENDING,
    Q_GROUP_LEASE, Q_CLAIM, Q_EXTEND, Q_RELEASE, Q_SENT, Q_RETRY, Q_TO_DLQ, Q_DELETE,
    Q_EXPIRE_MOVE, Q_EXPIRE_DELETE, Q_PRUNE, Q_RUN, Q_RUN_TRIM, Q_COUNT_STATUS, Q_COUNT_DLQ,
    Q_COUNT_DUE, Q_COUNT_LAPSED, Q_COUNT_CLOCK, Q_COUNT_IMPLAUSIBLE, Q_UNFINISHED, Q_DLQ_HAS,
    Q_DLQ_IDS, Q_EVENT_HAS, Q_REQUEUE, Q_DLQ_DELETE, Q_DLQ_UUID,
    Q_SPOOL_ID, Q_PICK_EXPORTED, Q_GROUP_EXPORTED, Q_COUNT_EXPORTABLE, Q_EXPORT, Q_EXPORT_LAST,
    Q_SUPERSEDED, Q_BUNDLE_ADD, Q_BUNDLE_SET, Q_BUNDLE_REMOVE, Q_BUNDLES, Q_FATES_EVENTS,
    Q_FATES_DLQ, Q_FATE_COUNT, Q_RCPT_SENT, Q_RCPT_DLQ_MOVE, Q_RCPT_DLQ_DELETE, Q_RCPT_KNOWN,
    Q_SETTLE, Q_BUNDLE_STATE, Q_DLQ_REASONS, Q_OLDEST_PENDING, Q_LAST_RUN, Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    /* ?1 now, ?2 retry horizon */
    [Q_ANY_DUE] = "SELECT " ANY_DUE("next_attempt_at IS NULL") " OR "
                  ANY_DUE("next_attempt_at <= ?1") " OR " ANY_DUE("next_attempt_at > ?2"),
    [Q_APPEND] = "INSERT INTO events (" EVENT_COLS ", status, retry_count)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '" QUEUE_PENDING "', 0)",
    /* the same, unless events holds the uuid already (queue_append asks dlq first: an
     * INSERT ... SELECT with the dlq test in it probed the uuid index twice a row and
     * made a bulk import twice as slow) */
    [Q_APPEND_NEW] = "INSERT INTO events (" EVENT_COLS ", status, retry_count)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '" QUEUE_PENDING "', 0)"
                     " ON CONFLICT (uuid) DO NOTHING",
    [Q_DLQ_UUID] = "SELECT 1 FROM dlq WHERE uuid = ?1",
    [Q_SEEN] = "INSERT OR IGNORE INTO temp.queue_seen (id) VALUES (?1)",
    [Q_PICK_PENDING] = PICK(QUEUE_PENDING, "(?4 OR " QUEUE_DUE("?2", "?3") ")"),
    [Q_PICK_LEASE] = PICK(QUEUE_SENDING, QUEUE_LEASE_LAPSED("?2", "?3")),
    [Q_HDR] = "SELECT session_id, client_version, schema_version, cpu_architecture"
              " FROM events WHERE id = ?1",
    /* ?6 now, ?7 limit, ?8 retry or lease horizon, ?9 flush_now */
    [Q_GROUP_PENDING] = DUE_GROUP_COLS SAME_ENVELOPE " AND status = '" QUEUE_PENDING "'"
                        " AND (?9 OR " QUEUE_DUE("?6", "?8") ") AND " NOT_SEEN
                        " ORDER BY id LIMIT ?7",
    [Q_GROUP_LEASE] = DUE_GROUP_COLS SAME_ENVELOPE " AND status = '" QUEUE_SENDING "'"
                      " AND " QUEUE_LEASE_LAPSED("?6", "?8") " AND " NOT_SEEN
                      " ORDER BY id LIMIT ?7",
    [Q_CLAIM] = "UPDATE events SET status = '" QUEUE_SENDING "', lease_until = ?2 WHERE id = ?1",
    [Q_EXTEND] = "UPDATE events SET lease_until = ?2 WHERE id = ?1",
    [Q_RELEASE] = "UPDATE events SET status = '" QUEUE_PENDING "', lease_until = NULL"
                  " WHERE id = ?1 AND status = '" QUEUE_SENDING "'",
    [Q_SENT] = "UPDATE events SET status = '" QUEUE_SENT "', sent_at = ?2, lease_until = NULL,"
               " next_attempt_at = NULL, last_error = NULL WHERE id = ?1",
    [Q_RETRY] = "UPDATE events SET status = '" QUEUE_PENDING "', retry_count = ?2,"
                " next_attempt_at = ?3, last_error = ?4, lease_until = NULL WHERE id = ?1",
    [Q_TO_DLQ] = TO_DLQ "id = ?1",
    [Q_DELETE] = "DELETE FROM events WHERE id = ?1",
    [Q_EXPIRE_MOVE] = TO_DLQ EXPIRABLE,
    [Q_EXPIRE_DELETE] = "DELETE FROM events WHERE " EXPIRABLE,
    /* a bundle's sent rows wait for its receipt (queue.h). INDEXED BY: left to itself
     * the planner walks every sent row by status (1.5 s on a million, every run); the
     * partial index finds only those past the cutoff */
    [Q_PRUNE] = "DELETE FROM events INDEXED BY events_by_sent_at"
                " WHERE status = '" QUEUE_SENT "' AND sent_at < ?1"
                " AND (bundle IS NULL OR NOT EXISTS (SELECT 1 FROM bundles b"
                " WHERE b.id = events.bundle AND ((b.direction = '" QUEUE_BUNDLE_IMPORTED "'"
                " AND (b.receipt_at IS NULL OR b.receipt_at < events.sent_at))"
                " OR (b.direction = '" QUEUE_BUNDLE_MADE "' AND b.receipt IN"
                " ('" QUEUE_BUNDLE_WRITING "', '" QUEUE_BUNDLE_AWAITING "', '"
                QUEUE_BUNDLE_PARTIAL "')))))",
    [Q_RUN] = "INSERT INTO runs (started_at, finished_at, exit_code, sent, retried, dead,"
              " summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_RUN_TRIM] = "DELETE FROM runs WHERE id <= ?1",
    [Q_COUNT_STATUS] = "SELECT status, count(*) FROM events GROUP BY status",
    [Q_COUNT_DLQ] = "SELECT count(*) FROM dlq",
    /* ?1 now, ?2 retry horizon, ?3 lease horizon, ?4 floor, ?5 a day from now */
    [Q_COUNT_DUE] = "SELECT count(*) FROM events INDEXED BY events_waiting"
                    " WHERE status = '" QUEUE_PENDING "' AND " QUEUE_DUE("?1", "?2"),
    [Q_COUNT_LAPSED] = "SELECT count(*) FROM events WHERE status = '" QUEUE_SENDING "'"
                       " AND " QUEUE_LEASE_LAPSED("?1", "?3"),
    [Q_COUNT_CLOCK] = "SELECT (SELECT count(*) FROM events INDEXED BY events_waiting"
                      " WHERE status = '" QUEUE_PENDING "' AND next_attempt_at > ?2)"
                      " + (SELECT count(*) FROM events"
                      " WHERE status = '" QUEUE_SENDING "' AND lease_until > ?3)",
    [Q_COUNT_IMPLAUSIBLE] = "SELECT count(*) FROM events WHERE queued_at < ?4 OR queued_at > ?5",
    [Q_UNFINISHED] = "SELECT count(*), min(next_attempt_at) FROM events"
                     " WHERE status IN ('" QUEUE_PENDING "', '" QUEUE_SENDING "')",
    [Q_DLQ_HAS] = "SELECT 1 FROM dlq WHERE id = ?1",
    [Q_DLQ_IDS] = "SELECT id FROM dlq ORDER BY id",
    [Q_EVENT_HAS] = "SELECT 1 FROM events WHERE id = ?1",
    /* ?2 NULL: the id is taken in events, SQLite picks a new one */
    [Q_REQUEUE] = "INSERT INTO events (id, " EVENT_COLS ", status, retry_count,"
                  " next_attempt_at, lease_until, last_error, sent_at)"
                  " SELECT ?2, " EVENT_COLS ", '" QUEUE_PENDING "', 0, NULL, NULL,"
                  " last_error, NULL FROM dlq WHERE id = ?1",
    [Q_DLQ_DELETE] = "DELETE FROM dlq WHERE id = ?1",

    /* ---- bundles and receipts ---- */
    [Q_SPOOL_ID] = "SELECT spool_id FROM spool WHERE one = 1",
    /* bundle create --reexport takes exported rows as the shipper takes due ones */
    [Q_PICK_EXPORTED] = PICK(QUEUE_EXPORTED, "?4 IS NOT NULL"),
    [Q_GROUP_EXPORTED] = DUE_GROUP_COLS SAME_ENVELOPE " AND status = '" QUEUE_EXPORTED "'"
                         " AND ?6 IS NOT NULL AND " NOT_SEEN " ORDER BY id LIMIT ?7",
    /* ?1 now, ?2 lease horizon, ?3 reexport */
    [Q_COUNT_EXPORTABLE] = "SELECT (SELECT count(*) FROM events WHERE status = '" QUEUE_PENDING
                           "') + (SELECT count(*) FROM events WHERE status = '" QUEUE_SENDING
                           "' AND " QUEUE_LEASE_LAPSED("?1", "?2") ") + (SELECT count(*)"
                           " FROM events WHERE status = '" QUEUE_EXPORTED "' AND ?3)",
    /* ?1 bundle, ?2 sent_at (NULL: exported), ?3 after id, ?4 limit, ?5 reexport, ?6 now,
     * ?7 lease horizon: rows still as they were read. The unary + keeps the planner on
     * the ids: left to itself it walked every row of the three statuses for each chunk,
     * holding all their ids in memory (and the time grew with the square). */
    [Q_EXPORT] = "UPDATE events SET status = CASE WHEN ?2 IS NULL THEN '" QUEUE_EXPORTED "'"
                 " ELSE '" QUEUE_SENT "' END, sent_at = coalesce(?2, sent_at), bundle = ?1,"
                 " lease_until = NULL"
                 " WHERE id IN (SELECT id FROM temp.queue_seen WHERE id > ?3 ORDER BY id"
                 " LIMIT ?4) AND (+status = '" QUEUE_PENDING "' OR (+status = '" QUEUE_EXPORTED
                 "' AND ?5) OR (+status = '" QUEUE_SENDING "' AND "
                 QUEUE_LEASE_LAPSED("?6", "?7") "))",
    [Q_EXPORT_LAST] = "SELECT max(id) FROM (SELECT id FROM temp.queue_seen WHERE id > ?1"
                      " ORDER BY id LIMIT ?2)",
    [Q_SUPERSEDED] = "UPDATE bundles SET receipt = '" QUEUE_BUNDLE_REEXPORTED "'"
                     " WHERE direction = '" QUEUE_BUNDLE_MADE "' AND id <> ?1 AND receipt IN"
                     " ('" QUEUE_BUNDLE_WRITING "', '" QUEUE_BUNDLE_AWAITING "', '"
                     QUEUE_BUNDLE_PARTIAL "') AND NOT EXISTS (SELECT 1 FROM events e"
                     " WHERE e.bundle = bundles.id AND e.status = '" QUEUE_EXPORTED "')",
    [Q_BUNDLE_ADD] = "INSERT INTO bundles (id, direction, spool_id, created_at, recorded_at,"
                     " events, duplicates, file, receipt, receipt_at)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                     " ON CONFLICT (id) DO NOTHING",
    [Q_BUNDLE_SET] = "UPDATE bundles SET events = CASE WHEN ?2 < 0 THEN events ELSE ?2 END,"
                     " receipt = coalesce(?3, receipt), receipt_at = coalesce(?4, receipt_at)"
                     " WHERE id = ?1",
    [Q_BUNDLE_REMOVE] = "DELETE FROM bundles WHERE id = ?1 AND direction = '" QUEUE_BUNDLE_MADE
                        "' AND receipt = '" QUEUE_BUNDLE_WRITING "'",
    [Q_BUNDLES] = "SELECT id, direction, spool_id, created_at, recorded_at, events, duplicates,"
                  " file, receipt, receipt_at, (SELECT count(*) FROM events e"
                  " WHERE e.bundle = bundles.id AND e.status = '" QUEUE_EXPORTED "')"
                  " FROM bundles WHERE (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR direction = ?2)"
                  " ORDER BY recorded_at, id",
    [Q_FATES_EVENTS] = "SELECT uuid, status, sent_at FROM events WHERE bundle = ?1 ORDER BY id",
    [Q_FATES_DLQ] = "SELECT uuid, reason FROM dlq WHERE bundle = ?1 ORDER BY id",
    [Q_FATE_COUNT] = "SELECT (SELECT count(*) FROM events WHERE bundle = ?1)"
                     " + (SELECT count(*) FROM dlq WHERE bundle = ?1)",
    [Q_RCPT_SENT] = "UPDATE events SET status = '" QUEUE_SENT "', sent_at = ?2, lease_until = NULL,"
                    " next_attempt_at = NULL, last_error = NULL"
                    " WHERE uuid = ?1 AND status = '" QUEUE_EXPORTED "'",
    [Q_RCPT_DLQ_MOVE] = TO_DLQ "uuid = ?1 AND status = '" QUEUE_EXPORTED "'",
    [Q_RCPT_DLQ_DELETE] = "DELETE FROM events WHERE uuid = ?1 AND status = '" QUEUE_EXPORTED "'",
    [Q_RCPT_KNOWN] = "SELECT 1 FROM events WHERE uuid = ?1"
                     " UNION ALL SELECT 1 FROM dlq WHERE uuid = ?1 LIMIT 1",
    [Q_SETTLE] = "UPDATE bundles SET receipt = CASE WHEN EXISTS (SELECT 1 FROM events e"
                 " WHERE e.bundle = bundles.id AND e.status = '" QUEUE_EXPORTED "')"
                 " THEN '" QUEUE_BUNDLE_PARTIAL "' ELSE '" QUEUE_BUNDLE_COMPLETE "' END,"
                 " receipt_at = ?2 WHERE id = ?1 AND direction = '" QUEUE_BUNDLE_MADE "'"
                 " AND receipt IN ('" QUEUE_BUNDLE_WRITING "', '" QUEUE_BUNDLE_AWAITING "', '"
                 QUEUE_BUNDLE_PARTIAL "')",
    [Q_BUNDLE_STATE] = "SELECT receipt FROM bundles WHERE id = ?1",
    [Q_DLQ_REASONS] = "SELECT reason, count(*) FROM dlq GROUP BY reason"
                      " ORDER BY count(*) DESC, reason",
    [Q_OLDEST_PENDING] = "SELECT min(queued_at) FROM events WHERE status = '" QUEUE_PENDING "'",
    [Q_LAST_RUN] = "SELECT id, started_at, finished_at, exit_code, sent, retried, dead"
                   " FROM runs ORDER BY id DESC LIMIT 1",
};

static const char *const status_names[QUEUE_NSTATUS] = {
    [QUEUE_ST_PENDING] = QUEUE_PENDING,
    [QUEUE_ST_SENDING] = QUEUE_SENDING,
    [QUEUE_ST_SENT] = QUEUE_SENT,
    [QUEUE_ST_EXPORTED] = QUEUE_EXPORTED,
};

struct queue {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[Q_COUNT];
};

const char *queue_status_name(int status)
{
    return status >= 0 && status < QUEUE_NSTATUS ? status_names[status] : NULL;
}

int queue_status_from_name(const char *name)
{
    for (int i = 0; name != NULL && i < QUEUE_NSTATUS; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

/* Our status for an SQLite failure, with the path, what failed and SQLite's reason. */
static int q_error(queue *q, int src, const char *what, char *err, size_t errlen)
{
    int st = anon_sqlite_status(src);
    const char *msg = sqlite3_errcode(q->db) != SQLITE_OK ? sqlite3_errmsg(q->db)
                                                          : sqlite3_errstr(src);

    return anon_seterr(err, errlen, st, "spool %s: %s: %s", q->path, what, msg);
}

int queue_open(sqlite3 *db, const char *path, queue **ret_q, char *err, size_t errlen)
{
    queue *q = calloc(1, sizeof *q);

    *ret_q = NULL;
    if (q == NULL || (q->path = strdup(path)) == NULL) {
        free(q);
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    }
    q->db = db;
    *ret_q = q;
    return ANON_OK;
}

void queue_close(queue *q)
{
    if (q == NULL)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    free(q->path);
    free(q);
}

sqlite3 *queue_db(queue *q)
{
    return q->db;
}

const char *queue_path(const queue *q)
{
    return q->path;
}

/* Statement which, reset and unbound, prepared on first use; NULL after filling err. */
static sqlite3_stmt *stmt(queue *q, int which, char *err, size_t errlen)
{
    sqlite3_stmt *s = q->st[which];
    int src;

    if (s == NULL) {
        src = sqlite3_prepare_v3(q->db, sql_text[which], -1, SQLITE_PREPARE_PERSISTENT,
                                 &q->st[which], NULL);
        if (src != SQLITE_OK) {
            q_error(q, src, "cannot prepare a statement", err, errlen);
            return NULL;
        }
        return q->st[which];
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Steps a statement that returns no rows; the number of rows it changed in *ret_n. */
static int run(queue *q, sqlite3_stmt *s, const char *what, long *ret_n, char *err,
               size_t errlen)
{
    int src = sqlite3_step(s);

    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return q_error(q, src, what, err, errlen);
    if (ret_n != NULL)
        *ret_n = (long)sqlite3_changes(q->db);
    return ANON_OK;
}

/* Steps a statement that returns at most one row: *ret_row 1 with the row under the
 * cursor (the caller reads it, then resets), 0 when there was none. */
static int step_row(queue *q, sqlite3_stmt *s, const char *what, int *ret_row, char *err,
                    size_t errlen)
{
    int src = sqlite3_step(s);

    *ret_row = src == SQLITE_ROW;
    if (src == SQLITE_ROW || src == SQLITE_DONE)
        return ANON_OK;
    sqlite3_reset(s);
    return q_error(q, src, what, err, errlen);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int exec(queue *q, const char *sql, const char *what, char *err, size_t errlen)
{
    int src = sqlite3_exec(q->db, sql, NULL, NULL, NULL);

    return src == SQLITE_OK ? ANON_OK : q_error(q, src, what, err, errlen);
}

int queue_begin(queue *q, char *err, size_t errlen)
{
    return exec(q, "BEGIN IMMEDIATE", "cannot lock the spool", err, errlen);
}

int queue_begin_read(queue *q, char *err, size_t errlen)
{
    return exec(q, "BEGIN", "cannot read the spool", err, errlen);
}

int queue_commit(queue *q, char *err, size_t errlen)
{
    int rc = exec(q, "COMMIT", "cannot commit", err, errlen);

    if (rc != ANON_OK)
        queue_rollback(q);
    return rc;
}

void queue_rollback(queue *q)
{
    if (!sqlite3_get_autocommit(q->db))
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

void queue_times_at(int64_t now_ms, struct queue_times *t)
{
    anon_format_ts(now_ms, t->now);
    anon_format_ts(now_ms + QUEUE_RETRY_HORIZON_MS, t->retry);
    anon_format_ts(now_ms + QUEUE_LEASE_HORIZON_MS, t->lease);
    t->clock.now = t->now;
    t->clock.retry_horizon = t->retry;
    t->clock.lease_horizon = t->lease;
}

/* ---- appending ---- */

int queue_append(queue *q, const struct queue_event *ev, int *ret_dup, char *err,
                 size_t errlen)
{
    sqlite3_stmt *s = stmt(q, ret_dup != NULL ? Q_APPEND_NEW : Q_APPEND, err, errlen);
    const char *v[9] = {ev->uuid, ev->name, ev->schema_version, ev->session_id,
                        ev->client_version, ev->cpu_architecture, ev->queued_at,
                        ev->parameters, ev->bundle};
    long n = 0;
    int rc, row;

    if (s == NULL)
        return ANON_EIO;
    if (ret_dup != NULL) {
        /* a dead letter's uuid is a duplicate too */
        sqlite3_stmt *d = stmt(q, Q_DLQ_UUID, err, errlen);

        if (d == NULL)
            return ANON_EIO;
        bind_text(d, 1, ev->uuid);
        if ((rc = step_row(q, d, "cannot look for a dead letter", &row, err, errlen)) != ANON_OK)
            return rc;
        sqlite3_reset(d);
        if (row) {
            *ret_dup = 1;
            return ANON_OK;
        }
    }
    for (int i = 0; i < 9; i++)
        bind_text(s, i + 1, v[i]);
    rc = run(q, s, "cannot append", &n, err, errlen);
    if (ret_dup != NULL)
        *ret_dup = rc == ANON_OK && n == 0;
    return rc;
}

/* ---- claiming ---- */

int queue_seen_init(queue *q, char *err, size_t errlen)
{
    return exec(q, "CREATE TEMP TABLE IF NOT EXISTS queue_seen (id INTEGER PRIMARY KEY)",
                "cannot create a temporary table", err, errlen);
}

int queue_mark_seen(queue *q, int64_t id, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_SEEN, err, errlen);

    if (s == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, id);
    return run(q, s, "cannot remember an event", NULL, err, errlen);
}

/* exported: also exported rows (a reexport only: a delivery run never picks one). */
/* *ret_any = 1 when some pending row is due at clock (seen or not, before the cursor or
 * not): when none is, the walk in id order would read every pending row for nothing. */
static int any_due(queue *q, const struct queue_clock *clock, int *ret_any, char *err,
                   size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_ANY_DUE, err, errlen);
    int row, rc;

    *ret_any = 1;
    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, clock->now);
    bind_text(s, 2, clock->retry_horizon);
    if ((rc = step_row(q, s, "cannot look for due events", &row, err, errlen)) != ANON_OK)
        return rc;
    *ret_any = row && sqlite3_column_int(s, 0) != 0;
    sqlite3_reset(s);
    return ANON_OK;
}

static int next_due(queue *q, const struct queue_due *due, int exported, int64_t after_id,
                    int64_t *ret_id, char *err, size_t errlen)
{
    const int which[] = {Q_PICK_PENDING, Q_PICK_LEASE, Q_PICK_EXPORTED};
    const size_t nwhich = exported ? 3 : 2;
    int64_t best = 0;

    for (size_t i = 0; i < nwhich; i++) {
        sqlite3_stmt *s;
        int row, rc, any = 1;

        if (which[i] == Q_PICK_PENDING && !due->flush_now &&
            (rc = any_due(q, &due->clock, &any, err, errlen)) != ANON_OK)
            return rc;
        if (!any)
            continue;
        if ((s = stmt(q, which[i], err, errlen)) == NULL)
            return ANON_EIO;
        sqlite3_bind_int64(s, 1, after_id);
        bind_text(s, 2, due->clock.now);
        bind_text(s, 3, which[i] == Q_PICK_PENDING ? due->clock.retry_horizon
                                                   : due->clock.lease_horizon);
        sqlite3_bind_int(s, 4, due->flush_now);
        if ((rc = step_row(q, s, "cannot look for due events", &row, err, errlen)) != ANON_OK)
            return rc;
        if (row) {
            int64_t id = sqlite3_column_int64(s, 0);

            if (best == 0 || id < best)
                best = id;
        }
        sqlite3_reset(s);
    }
    *ret_id = best;
    return ANON_OK;
}

int queue_envelope_fields(queue *q, int64_t id, char *hdr[4], char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_HDR, err, errlen);
    int row, rc;

    memset(hdr, 0, 4 * sizeof *hdr);
    if (s == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, id);
    if ((rc = step_row(q, s, "cannot read an event", &row, err, errlen)) != ANON_OK)
        return rc;
    if (!row)
        return anon_seterr(err, errlen, ANON_EIO, "spool %s: event %lld vanished", q->path,
                           (long long)id);
    for (int i = 0; i < 4; i++) {
        const unsigned char *t = sqlite3_column_text(s, i);

        if ((hdr[i] = strdup(t != NULL ? (const char *)t : "")) == NULL) {
            sqlite3_reset(s);
            for (int j = 0; j < i; j++) {
                free(hdr[j]);
                hdr[j] = NULL;
            }
            return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        }
    }
    sqlite3_reset(s);
    return ANON_OK;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return t != NULL ? (const char *)t : "";
}

/* Binds one of the group statements and steps it to its first row. */
static int group_start(queue *q, int which, const struct queue_due *due,
                       const char *const hdr[4], int64_t from_id, int limit,
                       sqlite3_stmt **ret_s, int *ret_row, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, which, err, errlen);

    *ret_s = s;
    if (s == NULL)
        return ANON_EIO;
    for (int i = 0; i < 4; i++)
        bind_text(s, i + 1, hdr[i]);
    sqlite3_bind_int64(s, 5, from_id);
    bind_text(s, 6, due->clock.now);
    sqlite3_bind_int(s, 7, limit);
    if (which != Q_GROUP_EXPORTED)
        bind_text(s, 8, which == Q_GROUP_PENDING ? due->clock.retry_horizon
                                                 : due->clock.lease_horizon);
    if (which == Q_GROUP_PENDING)
        sqlite3_bind_int(s, 9, due->flush_now);
    return step_row(q, s, "cannot read due events", ret_row, err, errlen);
}

static int due_rows(queue *q, const struct queue_due *due, int exported,
                    const char *const hdr[4], int64_t from_id, int limit, queue_row_fn fn,
                    void *ctx, char *err, size_t errlen)
{
    static const int which[] = {Q_GROUP_PENDING, Q_GROUP_LEASE, Q_GROUP_EXPORTED};
    const int nread = exported ? 3 : 2;
    sqlite3_stmt *st[3] = {NULL, NULL, NULL};
    int has[3] = {0, 0, 0}, rc = ANON_OK, n = 0;

    /* Id-ordered reads (each uses its index), merged by id. */
    for (int i = 0; i < nread; i++)
        if ((rc = group_start(q, which[i], due, hdr, from_id, limit, &st[i], &has[i], err,
                              errlen)) != ANON_OK)
            goto out;
    while (n < limit) {
        sqlite3_stmt *from = NULL;
        int k = -1;

        for (int i = 0; i < nread; i++)
            if (has[i] && (from == NULL || sqlite3_column_int64(st[i], 0) <
                                               sqlite3_column_int64(from, 0))) {
                from = st[i];
                k = i;
            }
        if (from == NULL)
            break;
        struct queue_due_row row = {
            .id = sqlite3_column_int64(from, 0),
            .uuid = col_text(from, 1),
            .retry_count = sqlite3_column_int(from, 2),
            .queued_at = col_text(from, 3),
            .parameters = col_text(from, 4),
            .name = col_text(from, 5),
        };

        if (fn(ctx, &row) != 0) {
            rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
            goto out;
        }
        n++;
        if ((rc = step_row(q, from, "cannot read due events", &has[k], err, errlen)) != ANON_OK)
            goto out;
    }
out:
    for (int i = 0; i < nread; i++)
        if (st[i] != NULL)
            sqlite3_reset(st[i]);
    return rc;
}

int queue_next_due(queue *q, const struct queue_due *due, int64_t after_id, int64_t *ret_id,
                   char *err, size_t errlen)
{
    return next_due(q, due, 0, after_id, ret_id, err, errlen);
}

int queue_due_rows(queue *q, const struct queue_due *due, const char *const hdr[4],
                   int64_t from_id, int limit, queue_row_fn fn, void *ctx, char *err,
                   size_t errlen)
{
    return due_rows(q, due, 0, hdr, from_id, limit, fn, ctx, err, errlen);
}

int queue_next_exportable(queue *q, const struct queue_due *due, int64_t after_id,
                          int64_t *ret_id, char *err, size_t errlen)
{
    return next_due(q, due, 1, after_id, ret_id, err, errlen);
}

int queue_exportable_rows(queue *q, const struct queue_due *due, const char *const hdr[4],
                          int64_t from_id, int limit, queue_row_fn fn, void *ctx, char *err,
                          size_t errlen)
{
    return due_rows(q, due, 1, hdr, from_id, limit, fn, ctx, err, errlen);
}

/* Runs a statement bound with (id, text). */
static int id_text(queue *q, int which, int64_t id, const char *text, const char *what,
                   char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, which, err, errlen);

    if (s == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, id);
    bind_text(s, 2, text);
    return run(q, s, what, NULL, err, errlen);
}

int queue_claim(queue *q, int64_t id, const char *lease_until, char *err, size_t errlen)
{
    return id_text(q, Q_CLAIM, id, lease_until, "cannot claim an event", err, errlen);
}

int queue_extend_lease(queue *q, int64_t id, const char *lease_until, char *err,
                       size_t errlen)
{
    return id_text(q, Q_EXTEND, id, lease_until, "cannot extend a lease", err, errlen);
}

int queue_release(queue *q, int64_t id, char *err, size_t errlen)
{
    return id_text(q, Q_RELEASE, id, NULL, "cannot release an event", err, errlen);
}

/* ---- settling ---- */

int queue_mark_sent(queue *q, int64_t id, const char *sent_at, char *err, size_t errlen)
{
    return id_text(q, Q_SENT, id, sent_at, "cannot mark an event sent", err, errlen);
}

int queue_retry(queue *q, int64_t id, int retry_count, const char *next_attempt_at,
                const char *last_error, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_RETRY, err, errlen);

    if (s == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, retry_count);
    bind_text(s, 3, next_attempt_at);
    bind_text(s, 4, last_error);
    return run(q, s, "cannot schedule a retry", NULL, err, errlen);
}

int queue_dead(queue *q, int64_t id, int retry_count, const char *last_error,
               const char *moved_at, const char *reason, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_TO_DLQ, err, errlen);
    int rc;

    if (s == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, retry_count);
    bind_text(s, 3, last_error);
    bind_text(s, 4, moved_at);
    bind_text(s, 5, reason);
    if ((rc = run(q, s, "cannot move an event to the dlq", NULL, err, errlen)) != ANON_OK)
        return rc;
    return id_text(q, Q_DELETE, id, NULL, "cannot delete a dead-lettered event", err, errlen);
}

/* ---- housekeeping ---- */

int queue_expire(queue *q, const struct queue_clock *clock, const char *cutoff,
                 const char *floor, const char *reason, long *ret_n, char *err,
                 size_t errlen)
{
    static const int which[] = {Q_EXPIRE_MOVE, Q_EXPIRE_DELETE};
    int rc = ANON_OK;

    *ret_n = 0;
    for (size_t i = 0; i < 2 && rc == ANON_OK; i++) {
        sqlite3_stmt *s = stmt(q, which[i], err, errlen);

        if (s == NULL)
            return ANON_EIO;
        bind_text(s, 1, cutoff);
        if (which[i] == Q_EXPIRE_MOVE) {
            bind_text(s, 4, clock->now);
            bind_text(s, 5, reason);
        }
        bind_text(s, 6, clock->now);
        bind_text(s, 7, floor);
        bind_text(s, 8, clock->lease_horizon);
        rc = run(q, s, "cannot expire old events", which[i] == Q_EXPIRE_DELETE ? ret_n : NULL,
                 err, errlen);
    }
    return rc;
}

int queue_prune_sent(queue *q, const char *cutoff, long *ret_n, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_PRUNE, err, errlen);

    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, cutoff);
    return run(q, s, "cannot prune sent events", ret_n, err, errlen);
}

int queue_record_run(queue *q, const struct queue_run *r, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_RUN, err, errlen);
    int rc;

    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, r->started_at);
    bind_text(s, 2, r->finished_at);
    sqlite3_bind_int(s, 3, r->exit_code);
    sqlite3_bind_int64(s, 4, r->sent);
    sqlite3_bind_int64(s, 5, r->retried);
    sqlite3_bind_int64(s, 6, r->dead);
    bind_text(s, 7, r->summary);
    if ((rc = run(q, s, "cannot record the run", NULL, err, errlen)) != ANON_OK)
        return rc;
    if ((s = stmt(q, Q_RUN_TRIM, err, errlen)) == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, sqlite3_last_insert_rowid(q->db) - QUEUE_RUNS_KEPT);
    return run(q, s, "cannot trim the runs", NULL, err, errlen);
}

/* ---- counting ---- */

/* The single number a count(*) statement returns (after its bindings are set). */
static int count_one(queue *q, sqlite3_stmt *s, int64_t *ret, char *err, size_t errlen)
{
    int row, rc = step_row(q, s, "cannot count events", &row, err, errlen);

    if (rc == ANON_OK) {
        *ret = row ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_reset(s);
    }
    return rc;
}

int queue_count(queue *q, const struct queue_clock *clock, const char *floor,
                struct queue_counts *ret, char *err, size_t errlen)
{
    static const int which[] = {Q_COUNT_DLQ, Q_COUNT_DUE, Q_COUNT_LAPSED, Q_COUNT_CLOCK,
                                Q_COUNT_IMPLAUSIBLE};
    int64_t *into[] = {&ret->dlq, &ret->due_now, &ret->lease_lapsed, &ret->clock_moved,
                       &ret->implausible_ts};
    char day_ahead[ANON_TS_LEN + 1];
    sqlite3_stmt *s = stmt(q, Q_COUNT_STATUS, err, errlen);
    int64_t now_ms = 0;
    int src, rc;

    memset(ret, 0, sizeof *ret);
    if (s == NULL)
        return ANON_EIO;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        int st = queue_status_from_name((const char *)sqlite3_column_text(s, 0));

        if (st >= 0)
            ret->status[st] = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE)
        return q_error(q, src, "cannot count events", err, errlen);
    anon_parse_ts(clock->now, &now_ms);
    anon_format_ts(now_ms + 86400 * 1000LL, day_ahead);
    for (size_t i = 0; i < sizeof which / sizeof which[0]; i++) {
        if ((s = stmt(q, which[i], err, errlen)) == NULL)
            return ANON_EIO;
        if (which[i] != Q_COUNT_DLQ) {
            bind_text(s, 1, clock->now);
            bind_text(s, 2, clock->retry_horizon);
            bind_text(s, 3, clock->lease_horizon);
            bind_text(s, 4, floor);
            bind_text(s, 5, day_ahead);
        }
        if ((rc = count_one(q, s, into[i], err, errlen)) != ANON_OK)
            return rc;
    }
    return ANON_OK;
}

int queue_count_clock_moved(queue *q, const struct queue_clock *clock, long *ret_n,
                            char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_COUNT_CLOCK, err, errlen);
    int64_t n = 0;
    int rc;

    *ret_n = 0;
    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 2, clock->retry_horizon);
    bind_text(s, 3, clock->lease_horizon);
    if ((rc = count_one(q, s, &n, err, errlen)) == ANON_OK)
        *ret_n = (long)n;
    return rc;
}

int queue_explain_claims(queue *q, void (*fn)(void *ctx, const char *stmt, const char *line),
                         void *ctx, char *err, size_t errlen)
{
    static const struct {
        int which;
        const char *name;
    } claims[] = {{Q_PICK_PENDING, "pick pending"}, {Q_PICK_LEASE, "pick lapsed"},
                  {Q_GROUP_PENDING, "group pending"}, {Q_GROUP_LEASE, "group lapsed"}};

    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        char sql[2048];
        sqlite3_stmt *s = NULL;
        int src;

        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", sql_text[claims[i].which]);
        if ((src = sqlite3_prepare_v2(q->db, sql, -1, &s, NULL)) != SQLITE_OK)
            return q_error(q, src, "cannot explain", err, errlen);
        while ((src = sqlite3_step(s)) == SQLITE_ROW)
            fn(ctx, claims[i].name, (const char *)sqlite3_column_text(s, 3));
        sqlite3_finalize(s);
        if (src != SQLITE_DONE)
            return q_error(q, src, "cannot explain", err, errlen);
    }
    return ANON_OK;
}

int queue_unfinished(queue *q, long *ret_n, char *next, size_t nextlen, char *err,
                     size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_UNFINISHED, err, errlen);
    int row, rc;

    *ret_n = 0;
    next[0] = '\0';
    if (s == NULL)
        return ANON_EIO;
    if ((rc = step_row(q, s, "cannot count pending events", &row, err, errlen)) != ANON_OK)
        return rc;
    if (row) {
        *ret_n = (long)sqlite3_column_int64(s, 0);
        if (sqlite3_column_type(s, 1) != SQLITE_NULL)
            snprintf(next, nextlen, "%s", col_text(s, 1));
    }
    sqlite3_reset(s);
    return ANON_OK;
}

/* ---- the dlq ---- */

static int has_id(queue *q, int which, int64_t id, int *ret_has, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, which, err, errlen);
    int rc;

    if (s == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, id);
    rc = step_row(q, s, "cannot read the spool", ret_has, err, errlen);
    sqlite3_reset(s);
    return rc;
}

int queue_dlq_has(queue *q, int64_t id, int *ret_has, char *err, size_t errlen)
{
    return has_id(q, Q_DLQ_HAS, id, ret_has, err, errlen);
}

int queue_dlq_ids(queue *q, int64_t **ret_ids, size_t *ret_n, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_DLQ_IDS, err, errlen);
    int64_t *ids = NULL, *grown;
    size_t n = 0, cap = 0;
    int src;

    *ret_ids = NULL;
    *ret_n = 0;
    if (s == NULL)
        return ANON_EIO;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            if ((grown = realloc(ids, cap * sizeof *ids)) == NULL) {
                sqlite3_reset(s);
                free(ids);
                return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
            }
            ids = grown;
        }
        ids[n++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    if (src != SQLITE_DONE) {
        free(ids);
        return q_error(q, src, "cannot read the dlq", err, errlen);
    }
    *ret_ids = ids;
    *ret_n = n;
    return ANON_OK;
}

int queue_requeue(queue *q, int64_t id, int64_t *ret_new_id, char *err, size_t errlen)
{
    sqlite3_stmt *s;
    int taken, rc;

    if ((rc = has_id(q, Q_EVENT_HAS, id, &taken, err, errlen)) != ANON_OK)
        return rc;
    if ((s = stmt(q, Q_REQUEUE, err, errlen)) == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, id);
    if (!taken)
        sqlite3_bind_int64(s, 2, id);
    if ((rc = run(q, s, "cannot requeue", NULL, err, errlen)) != ANON_OK)
        return rc;
    *ret_new_id = taken ? sqlite3_last_insert_rowid(q->db) : id;
    return id_text(q, Q_DLQ_DELETE, id, NULL, "cannot delete from the dlq", err, errlen);
}

int queue_purge(queue *q, int64_t id, long *ret_n, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_DLQ_DELETE, err, errlen);

    if (s == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, id);
    return run(q, s, "cannot delete from the dlq", ret_n, err, errlen);
}

/* ---- bundles and receipts ---- */

int queue_spool_id(queue *q, char out[QUEUE_SPOOL_ID_LEN + 1], char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_SPOOL_ID, err, errlen);
    int row, rc;

    out[0] = '\0';
    if (s == NULL)
        return ANON_EIO;
    if ((rc = step_row(q, s, "cannot read the spool id", &row, err, errlen)) != ANON_OK)
        return rc;
    if (row)
        snprintf(out, QUEUE_SPOOL_ID_LEN + 1, "%s", col_text(s, 0));
    sqlite3_reset(s);
    if (strlen(out) != QUEUE_SPOOL_ID_LEN)
        return anon_seterr(err, errlen, ANON_ECORRUPT, "spool %s: its spool id is %s", q->path,
                           row ? "malformed" : "missing");
    return ANON_OK;
}

int queue_bundle_add(queue *q, const struct queue_bundle *b, int *ret_existed, char *err,
                     size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_BUNDLE_ADD, err, errlen);
    const char *v[] = {b->id, b->direction, b->spool_id, b->created_at, b->recorded_at};
    long n = 0;
    int rc;

    if (s == NULL)
        return ANON_EIO;
    for (int i = 0; i < 5; i++)
        bind_text(s, i + 1, v[i]);
    sqlite3_bind_int64(s, 6, b->events);
    sqlite3_bind_int64(s, 7, b->duplicates);
    bind_text(s, 8, b->file);
    bind_text(s, 9, b->receipt);
    bind_text(s, 10, b->receipt_at);
    rc = run(q, s, "cannot record a bundle", &n, err, errlen);
    if (ret_existed != NULL)
        *ret_existed = rc == ANON_OK && n == 0;
    return rc;
}

int queue_bundle_set(queue *q, const char *id, int64_t events, const char *receipt,
                     const char *receipt_at, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_BUNDLE_SET, err, errlen);

    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, events);
    bind_text(s, 3, receipt);
    bind_text(s, 4, receipt_at);
    return run(q, s, "cannot update a bundle", NULL, err, errlen);
}

int queue_bundle_remove(queue *q, const char *id, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_BUNDLE_REMOVE, err, errlen);

    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, id);
    return run(q, s, "cannot forget a bundle", NULL, err, errlen);
}

int queue_bundles_each(queue *q, const char *id, const char *direction, queue_bundle_fn fn,
                       void *ctx, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_BUNDLES, err, errlen);
    int src;

    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, id);
    bind_text(s, 2, direction);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct queue_bundle b = {
            .id = col_text(s, 0),
            .direction = col_text(s, 1),
            .spool_id = col_text(s, 2),
            .created_at = col_text(s, 3),
            .recorded_at = col_text(s, 4),
            .events = sqlite3_column_int64(s, 5),
            .duplicates = sqlite3_column_int64(s, 6),
            .file = col_text(s, 7),
            .receipt = col_text(s, 8),
            .receipt_at = sqlite3_column_type(s, 9) == SQLITE_NULL ? NULL : col_text(s, 9),
            .exported = sqlite3_column_int64(s, 10),
        };

        if (fn(ctx, &b) != 0) {
            sqlite3_reset(s);
            return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        }
    }
    sqlite3_reset(s);
    return src == SQLITE_DONE ? ANON_OK : q_error(q, src, "cannot read the bundles", err, errlen);
}

int queue_count_exportable(queue *q, const struct queue_clock *clock, int reexport,
                           int64_t *ret_n, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_COUNT_EXPORTABLE, err, errlen);

    *ret_n = 0;
    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, clock->now);
    bind_text(s, 2, clock->lease_horizon);
    sqlite3_bind_int(s, 3, reexport != 0);
    return count_one(q, s, ret_n, err, errlen);
}

int queue_export_seen(queue *q, const char *bundle, const struct queue_clock *clock,
                      int reexport, const char *sent_at, int64_t after_id, int limit,
                      int64_t *ret_last_id, long *ret_n, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_EXPORT_LAST, err, errlen);
    int rc;

    *ret_last_id = 0;
    *ret_n = 0;
    if (s == NULL)
        return ANON_EIO;
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int(s, 2, limit);
    if ((rc = count_one(q, s, ret_last_id, err, errlen)) != ANON_OK || *ret_last_id == 0)
        return rc;
    if ((s = stmt(q, Q_EXPORT, err, errlen)) == NULL)
        return ANON_EIO;
    bind_text(s, 1, bundle);
    bind_text(s, 2, sent_at);
    sqlite3_bind_int64(s, 3, after_id);
    sqlite3_bind_int(s, 4, limit);
    sqlite3_bind_int(s, 5, reexport != 0);
    bind_text(s, 6, clock->now);
    bind_text(s, 7, clock->lease_horizon);
    return run(q, s, "cannot mark events exported", ret_n, err, errlen);
}

int queue_bundles_superseded(queue *q, const char *bundle, long *ret_n, char *err,
                             size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_SUPERSEDED, err, errlen);

    *ret_n = 0;
    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, bundle);
    return run(q, s, "cannot update the bundles", ret_n, err, errlen);
}

int queue_bundle_fates(queue *q, const char *bundle, queue_fate_fn fn, void *ctx, char *err,
                       size_t errlen)
{
    static const int which[] = {Q_FATES_EVENTS, Q_FATES_DLQ};

    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *s = stmt(q, which[i], err, errlen);
        int src;

        if (s == NULL)
            return ANON_EIO;
        bind_text(s, 1, bundle);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
            struct queue_fate f = {.uuid = col_text(s, 0)};

            if (which[i] == Q_FATES_DLQ) {
                f.state = QUEUE_FATE_DLQ;
                f.reason = col_text(s, 1);
            } else if (strcmp(col_text(s, 1), QUEUE_SENT) == 0) {
                f.state = QUEUE_FATE_SENT;
                f.sent_at = col_text(s, 2);
            } else {
                f.state = QUEUE_FATE_PENDING;
            }
            if (fn(ctx, &f) != 0) {
                sqlite3_reset(s);
                return anon_seterr(err, errlen, ANON_EIO, "spool %s: a bundle's events could "
                                   "not be written out", q->path);
            }
        }
        sqlite3_reset(s);
        if (src != SQLITE_DONE)
            return q_error(q, src, "cannot read a bundle's events", err, errlen);
    }
    return ANON_OK;
}

int queue_bundle_fate_count(queue *q, const char *bundle, int64_t *ret_n, char *err,
                            size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_FATE_COUNT, err, errlen);

    *ret_n = 0;
    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, bundle);
    return count_one(q, s, ret_n, err, errlen);
}

/* For a receipt's event that changed nothing: held here in another state, or unknown. */
static int receipt_unchanged(queue *q, const char *uuid, int *ret_outcome, char *err,
                             size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_RCPT_KNOWN, err, errlen);
    int row, rc;

    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, uuid);
    if ((rc = step_row(q, s, "cannot look for an event", &row, err, errlen)) != ANON_OK)
        return rc;
    sqlite3_reset(s);
    *ret_outcome = row ? QUEUE_RCPT_UNCHANGED : QUEUE_RCPT_UNKNOWN;
    return ANON_OK;
}

int queue_receipt_sent(queue *q, const char *uuid, const char *sent_at, int *ret_outcome,
                       char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_RCPT_SENT, err, errlen);
    long n = 0;
    int rc;

    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, uuid);
    bind_text(s, 2, sent_at);
    if ((rc = run(q, s, "cannot mark an event sent", &n, err, errlen)) != ANON_OK)
        return rc;
    if (n > 0) {
        *ret_outcome = QUEUE_RCPT_CHANGED;
        return ANON_OK;
    }
    return receipt_unchanged(q, uuid, ret_outcome, err, errlen);
}

int queue_receipt_dead(queue *q, const char *uuid, const char *moved_at, const char *reason,
                       int *ret_outcome, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_RCPT_DLQ_MOVE, err, errlen);
    long n = 0;
    int rc;

    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, uuid);
    bind_text(s, 4, moved_at);
    bind_text(s, 5, reason);
    if ((rc = run(q, s, "cannot move an event to the dlq", &n, err, errlen)) != ANON_OK)
        return rc;
    if (n == 0)
        return receipt_unchanged(q, uuid, ret_outcome, err, errlen);
    if ((s = stmt(q, Q_RCPT_DLQ_DELETE, err, errlen)) == NULL)
        return ANON_EIO;
    bind_text(s, 1, uuid);
    if ((rc = run(q, s, "cannot delete a dead-lettered event", NULL, err, errlen)) != ANON_OK)
        return rc;
    *ret_outcome = QUEUE_RCPT_CHANGED;
    return ANON_OK;
}

int queue_receipt_pending(queue *q, const char *uuid, int *ret_outcome, char *err,
                          size_t errlen)
{
    return receipt_unchanged(q, uuid, ret_outcome, err, errlen);
}

int queue_bundle_settle(queue *q, const char *bundle, const char *now, char *state,
                        size_t statelen, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_SETTLE, err, errlen);
    int row, rc;

    if (s == NULL)
        return ANON_EIO;
    bind_text(s, 1, bundle);
    bind_text(s, 2, now);
    if ((rc = run(q, s, "cannot update a bundle", NULL, err, errlen)) != ANON_OK)
        return rc;
    if ((s = stmt(q, Q_BUNDLE_STATE, err, errlen)) == NULL)
        return ANON_EIO;
    bind_text(s, 1, bundle);
    if ((rc = step_row(q, s, "cannot read a bundle", &row, err, errlen)) != ANON_OK)
        return rc;
    snprintf(state, statelen, "%s", row ? col_text(s, 0) : "?");
    sqlite3_reset(s);
    return ANON_OK;
}

int queue_bundle_awaits_receipt(const struct queue_bundle *b)
{
    return strcmp(b->direction, QUEUE_BUNDLE_MADE) == 0 &&
           ((strcmp(b->receipt, QUEUE_BUNDLE_WRITING) == 0 && b->exported > 0) ||
            strcmp(b->receipt, QUEUE_BUNDLE_AWAITING) == 0 ||
            strcmp(b->receipt, QUEUE_BUNDLE_PARTIAL) == 0);
}

int queue_bundle_receipt_due(const struct queue_bundle *b)
{
    return strcmp(b->direction, QUEUE_BUNDLE_IMPORTED) == 0 &&
           strcmp(b->receipt, QUEUE_BUNDLE_DUE) == 0;
}

/* ---- monitoring ---- */

int queue_dlq_reasons(queue *q, queue_reason_fn fn, void *ctx, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_DLQ_REASONS, err, errlen);
    int src;

    if (s == NULL)
        return ANON_EIO;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (fn(ctx, col_text(s, 0), sqlite3_column_int64(s, 1)) != 0) {
            sqlite3_reset(s);
            return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        }
    }
    sqlite3_reset(s);
    return src == SQLITE_DONE ? ANON_OK
                              : q_error(q, src, "cannot count the dead letters", err, errlen);
}

int queue_oldest_pending(queue *q, char *ts, size_t tslen, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_OLDEST_PENDING, err, errlen);
    int row, rc;

    ts[0] = '\0';
    if (s == NULL)
        return ANON_EIO;
    if ((rc = step_row(q, s, "cannot read the oldest pending event", &row, err, errlen)) !=
        ANON_OK)
        return rc;
    if (row && sqlite3_column_type(s, 0) != SQLITE_NULL)
        snprintf(ts, tslen, "%s", col_text(s, 0));
    sqlite3_reset(s);
    return ANON_OK;
}

int queue_last_run(queue *q, struct queue_last_run *ret, char *err, size_t errlen)
{
    sqlite3_stmt *s = stmt(q, Q_LAST_RUN, err, errlen);
    int row, rc;

    memset(ret, 0, sizeof *ret);
    ret->exit_code = -1;
    if (s == NULL)
        return ANON_EIO;
    if ((rc = step_row(q, s, "cannot read the runs", &row, err, errlen)) != ANON_OK)
        return rc;
    if (row) {
        ret->id = sqlite3_column_int64(s, 0);
        snprintf(ret->started_at, sizeof ret->started_at, "%s", col_text(s, 1));
        if (sqlite3_column_type(s, 2) != SQLITE_NULL)
            snprintf(ret->finished_at, sizeof ret->finished_at, "%s", col_text(s, 2));
        if (sqlite3_column_type(s, 3) != SQLITE_NULL)
            ret->exit_code = sqlite3_column_int(s, 3);
        ret->sent = sqlite3_column_int64(s, 4);
        ret->retried = sqlite3_column_int64(s, 5);
        ret->dead = sqlite3_column_int64(s, 6);
    }
    sqlite3_reset(s);
    return ANON_OK;
}
