/*
 * ship.c: the drain loop (see ship.h).
 *
 * The rows' life, as the shipper drives it (schema/spool.sql):
 *
 *   pending --claim--> sending (lease_until = now + lease) --2xx--> sent (sent_at)
 *                                 |--400/422, 413 alone, retries exhausted--> dlq
 *                                 |--408/429/5xx, timeout/reset after connecting-->
 *                                 |      pending, retry_count + 1, next_attempt_at later
 *                                 |--offline, refused, run stopped--> pending (nothing spent)
 *                                 '--the shipper died--> claimable again once the lease
 *                                        has lapsed (nothing spent: at-least-once)
 *
 * Due rows: pending with next_attempt_at NULL or past (any, with --now), and sending
 * rows whose lease has lapsed. A batch: the oldest due row, then the due rows of the
 * same envelope (session, client version, schema version, CPU architecture) in id
 * order, at most batch_size. Rows are read a batch at a time, never the whole spool.
 * Within a run the search for the oldest due row only moves forward (by id), and
 * a temporary table remembers the rows that must not come back in the same run
 * (all of them with --dry-run, the ones retried with --now).
 */
#include "ship.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "backoff.h"
#include "envelope.h"
#include "http.h"
#include "internal.h"
#include "log.h"
#include "outcome.h"

#define LEASE_MARGIN_MS (60 * 1000LL)
#define DAY_MS          (86400 * 1000.0)
#define RUNS_KEPT       1000

struct row {
    int64_t id;
    int retry_count;
    char *queued_at;
    char *parameters;
    char *name;
};

struct batch {
    char *hdr[4];           /* session_id, client_version, schema_version, cpu_architecture */
    struct row *rows;
    size_t n;
    anon_buf body;
    struct batch *next;     /* in the queue of split halves waiting to be posted */
};

enum {
    ST_PICK_NULL, ST_PICK_RETRY, ST_PICK_LEASE, ST_HDR, ST_GROUP_PENDING, ST_GROUP_LEASE,
    ST_CLAIM, ST_SEEN, ST_SENT, ST_RETRY, ST_RELEASE, ST_TO_DLQ, ST_DELETE,
    ST_RELEASE_LEASE, ST_COUNT
};

struct run {
    const struct ship_opts *o;
    anon_spool *sp;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    struct http_client *http;
    char url_shown[1024];
    int64_t started_ms;
    int64_t cursor;         /* the oldest due row is searched above this id */
    int64_t lease_ms;
    long sent, retried, dead, released;
    int stop;               /* 0, or the exit status that stopped the run */
    char stop_reason[1600];
    char last_error[160];
    char last_dead[200];
    int budget_spent;
    int no_more;
    struct batch *queue_head, *queue_tail;
};

/* ---- statements ---- */

#define DUE_NOT_SEEN "id NOT IN (SELECT id FROM temp.ship_seen)"

static const char *const sql_text[ST_COUNT] = {
    [ST_PICK_NULL] = "SELECT id FROM events WHERE status = 'pending' AND next_attempt_at IS NULL"
                     " AND id > ?1 AND " DUE_NOT_SEEN " ORDER BY id LIMIT 1",
    /* ST_PICK_RETRY: chosen in prepare_all (depends on --now) */
    [ST_PICK_LEASE] = "SELECT id FROM events WHERE status = 'sending'"
                      " AND (lease_until IS NULL OR lease_until < ?2)"
                      " AND id > ?1 AND " DUE_NOT_SEEN " ORDER BY id LIMIT 1",
    [ST_HDR] = "SELECT session_id, client_version, schema_version, cpu_architecture"
               " FROM events WHERE id = ?1",
    /* ST_GROUP_PENDING: chosen in prepare_all (depends on --now) */
    [ST_GROUP_LEASE] = "SELECT id, retry_count, queued_at, parameters, name FROM events"
                       " WHERE session_id = ?1 AND client_version = ?2 AND schema_version = ?3"
                       " AND cpu_architecture = ?4 AND status = 'sending' AND id >= ?5"
                       " AND (lease_until IS NULL OR lease_until < ?6) AND " DUE_NOT_SEEN
                       " ORDER BY id LIMIT ?7",
    [ST_CLAIM] = "UPDATE events SET status = 'sending', lease_until = ?2 WHERE id = ?1",
    [ST_SEEN] = "INSERT OR IGNORE INTO temp.ship_seen (id) VALUES (?1)",
    [ST_SENT] = "UPDATE events SET status = 'sent', sent_at = ?2, lease_until = NULL,"
                " next_attempt_at = NULL, last_error = NULL WHERE id = ?1",
    [ST_RETRY] = "UPDATE events SET status = 'pending', retry_count = ?2, next_attempt_at = ?3,"
                 " last_error = ?4, lease_until = NULL WHERE id = ?1",
    [ST_RELEASE] = "UPDATE events SET status = 'pending', lease_until = NULL"
                   " WHERE id = ?1 AND status = 'sending'",
    [ST_TO_DLQ] = "INSERT INTO dlq (id, uuid, name, schema_version, session_id,"
                  " client_version, cpu_architecture, queued_at, parameters, retry_count,"
                  " last_error, moved_at, reason)"
                  " SELECT id, uuid, name, schema_version, session_id, client_version,"
                  " cpu_architecture, queued_at, parameters, ?2, ?3, ?4, ?5"
                  " FROM events WHERE id = ?1",
    [ST_DELETE] = "DELETE FROM events WHERE id = ?1",
    [ST_RELEASE_LEASE] = "UPDATE events SET lease_until = ?2 WHERE id = ?1",
};

static const char sql_pick_retry_due[] =
    "SELECT id FROM events WHERE status = 'pending' AND next_attempt_at <= ?2"
    " AND id > ?1 AND " DUE_NOT_SEEN " ORDER BY id LIMIT 1";
static const char sql_pick_retry_now[] =
    "SELECT id FROM events WHERE status = 'pending' AND next_attempt_at IS NOT NULL"
    " AND id > ?1 AND ?2 IS NOT NULL AND " DUE_NOT_SEEN " ORDER BY id LIMIT 1";
static const char sql_group_due[] =
    "SELECT id, retry_count, queued_at, parameters, name FROM events"
    " WHERE session_id = ?1 AND client_version = ?2 AND schema_version = ?3"
    " AND cpu_architecture = ?4 AND status = 'pending' AND id >= ?5"
    " AND (next_attempt_at IS NULL OR next_attempt_at <= ?6) AND " DUE_NOT_SEEN
    " ORDER BY id LIMIT ?7";
static const char sql_group_now[] =
    "SELECT id, retry_count, queued_at, parameters, name FROM events"
    " WHERE session_id = ?1 AND client_version = ?2 AND schema_version = ?3"
    " AND cpu_architecture = ?4 AND status = 'pending' AND id >= ?5 AND ?6 IS NOT NULL"
    " AND " DUE_NOT_SEEN " ORDER BY id LIMIT ?7";

static int db_fail(struct run *r, const char *what)
{
    log_warnx("spool %s: %s: %s", anon_spool_path(r->sp), what, sqlite3_errmsg(r->db));
    if (r->stop == 0 || r->stop == EX_TEMPFAIL) {
        r->stop = EX_IOERR;
        snprintf(r->stop_reason, sizeof(r->stop_reason), "spool error: %s: %s", what,
                 sqlite3_errmsg(r->db));
    }
    return -1;
}

static int exec_sql(struct run *r, const char *sql)
{
    if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(r, sql);
    return 0;
}

static int prepare_all(struct run *r)
{
    if (exec_sql(r, "CREATE TEMP TABLE IF NOT EXISTS ship_seen (id INTEGER PRIMARY KEY)") != 0)
        return -1;
    for (int i = 0; i < ST_COUNT; i++) {
        const char *sql = sql_text[i];

        if (i == ST_PICK_RETRY)
            sql = r->o->flush_now ? sql_pick_retry_now : sql_pick_retry_due;
        else if (i == ST_GROUP_PENDING)
            sql = r->o->flush_now ? sql_group_now : sql_group_due;
        if (sqlite3_prepare_v2(r->db, sql, -1, &r->st[i], NULL) != SQLITE_OK)
            return db_fail(r, "cannot prepare a statement");
    }
    return 0;
}

static sqlite3_stmt *stmt(struct run *r, int which)
{
    sqlite3_stmt *s = r->st[which];

    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Runs a statement that returns no rows (after its bindings are set). */
static int step_done(struct run *r, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(r, what);
    return 0;
}

static void ts_now(char buf[ANON_TS_LEN + 1])
{
    anon_format_ts(anon_now_ms(), buf);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static int begin(struct run *r)
{
    return exec_sql(r, "BEGIN IMMEDIATE");
}

static int commit(struct run *r)
{
    if (sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(r, "COMMIT");
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static void rollback(struct run *r)
{
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- batches ---- */

static void batch_free(struct batch *b)
{
    if (b == NULL)
        return;
    for (int i = 0; i < 4; i++)
        free(b->hdr[i]);
    for (size_t i = 0; i < b->n; i++) {
        free(b->rows[i].queued_at);
        free(b->rows[i].parameters);
        free(b->rows[i].name);
    }
    free(b->rows);
    anon_buf_free(&b->body);
    free(b);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return strdup(t != NULL ? (const char *)t : "");
}

/* Appends the row under s's cursor to b. 0 or -1 (out of memory). */
static int batch_add_row(struct batch *b, sqlite3_stmt *s)
{
    struct row *w = &b->rows[b->n];

    w->id = sqlite3_column_int64(s, 0);
    w->retry_count = sqlite3_column_int(s, 1);
    w->queued_at = col_dup(s, 2);
    w->parameters = col_dup(s, 3);
    w->name = col_dup(s, 4);
    b->n++;
    return w->queued_at && w->parameters && w->name ? 0 : -1;
}

static int build_body(struct batch *b)
{
    struct envelope_event *evs = calloc(b->n, sizeof(*evs));
    struct envelope_hdr h = {b->hdr[0], b->hdr[1], b->hdr[2], b->hdr[3]};
    int rc;

    if (evs == NULL)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        evs[i].name = b->rows[i].name;
        evs[i].queued_at = b->rows[i].queued_at;
        evs[i].parameters = b->rows[i].parameters;
    }
    anon_buf_reset(&b->body);
    rc = envelope_build(&b->body, &h, anon_now_ms(), evs, b->n);
    free(evs);
    return rc;
}

/* A new batch holding rows [from, from + n) of src (their ownership moves). */
static struct batch *batch_take(struct batch *src, size_t from, size_t n)
{
    struct batch *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    anon_buf_init(&b->body);
    b->rows = calloc(n, sizeof(*b->rows));
    if (b->rows == NULL)
        goto fail;
    for (int i = 0; i < 4; i++)
        if ((b->hdr[i] = strdup(src->hdr[i])) == NULL)
            goto fail;
    memcpy(b->rows, src->rows + from, n * sizeof(*b->rows));
    memset(src->rows + from, 0, n * sizeof(*b->rows));
    b->n = n;
    return b;
fail:
    batch_free(b);
    return NULL;
}

static void queue_push(struct run *r, struct batch *b)
{
    b->next = NULL;
    if (r->queue_tail != NULL)
        r->queue_tail->next = b;
    else
        r->queue_head = b;
    r->queue_tail = b;
}

static struct batch *queue_pop(struct run *r)
{
    struct batch *b = r->queue_head;

    if (b != NULL) {
        r->queue_head = b->next;
        if (r->queue_head == NULL)
            r->queue_tail = NULL;
        b->next = NULL;
    }
    return b;
}

/* ---- claiming ---- */

/* The id of the oldest due row above the cursor, 0 when none, -1 on error. */
static int64_t pick_oldest(struct run *r, const char *now)
{
    static const int which[] = {ST_PICK_NULL, ST_PICK_RETRY, ST_PICK_LEASE};
    int64_t best = 0;

    for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
        sqlite3_stmt *s = stmt(r, which[i]);
        int rc;

        sqlite3_bind_int64(s, 1, r->cursor);
        bind_text(s, 2, now);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(s, 0);

            if (best == 0 || id < best)
                best = id;
        } else if (rc != SQLITE_DONE) {
            sqlite3_reset(s);
            return db_fail(r, "cannot look for due events");
        }
        sqlite3_reset(s);
    }
    return best;
}

/* Reads up to limit rows of one group query into tmp (ordered by id). */
static int read_group(struct run *r, int which, struct batch *b, int64_t pick, const char *now,
                      struct batch *into)
{
    sqlite3_stmt *s = stmt(r, which);
    int rc;

    for (int i = 0; i < 4; i++)
        bind_text(s, i + 1, b->hdr[i]);
    sqlite3_bind_int64(s, 5, pick);
    bind_text(s, 6, now);
    sqlite3_bind_int(s, 7, r->o->batch_size);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (batch_add_row(into, s) != 0) {
            sqlite3_reset(s);
            log_warnx("out of memory");
            r->stop = EX_OSERR;
            return -1;
        }
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(r, "cannot read due events");
    return 0;
}

/* Claims the next batch into *ret_b (NULL when nothing is due). 0 or -1. */
static int claim(struct run *r, struct batch **ret_b)
{
    char now[ANON_TS_LEN + 1], lease[ANON_TS_LEN + 1];
    struct batch *b = NULL, *pend = NULL, *lapsed = NULL;
    int64_t now_ms = anon_now_ms(), pick;
    int in_tx = 0, ret = -1;
    sqlite3_stmt *s;

    *ret_b = NULL;
    anon_format_ts(now_ms, now);
    anon_format_ts(now_ms + r->lease_ms, lease);
    if (!r->o->dry_run) {
        if (begin(r) != 0)
            goto out;
        in_tx = 1;
    }
    if ((pick = pick_oldest(r, now)) < 0)
        goto out;
    if (pick == 0) {
        ret = 0;
        goto out;
    }

    b = calloc(1, sizeof(*b));
    pend = calloc(1, sizeof(*pend));
    lapsed = calloc(1, sizeof(*lapsed));
    if (b == NULL || pend == NULL || lapsed == NULL)
        goto oom;
    anon_buf_init(&b->body);
    anon_buf_init(&pend->body);
    anon_buf_init(&lapsed->body);
    s = stmt(r, ST_HDR);
    sqlite3_bind_int64(s, 1, pick);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        db_fail(r, "cannot read an event");
        goto out;
    }
    for (int i = 0; i < 4; i++)
        if ((b->hdr[i] = col_dup(s, i)) == NULL) {
            sqlite3_reset(s);
            goto oom;
        }
    sqlite3_reset(s);

    b->rows = calloc((size_t)r->o->batch_size, sizeof(*b->rows));
    pend->rows = calloc((size_t)r->o->batch_size, sizeof(*pend->rows));
    lapsed->rows = calloc((size_t)r->o->batch_size, sizeof(*lapsed->rows));
    if (b->rows == NULL || pend->rows == NULL || lapsed->rows == NULL)
        goto oom;
    if (read_group(r, ST_GROUP_PENDING, b, pick, now, pend) != 0 ||
        read_group(r, ST_GROUP_LEASE, b, pick, now, lapsed) != 0)
        goto out;

    /* Merge the two id-ordered lists, keeping the first batch_size rows. */
    {
        size_t i = 0, j = 0;

        while (b->n < (size_t)r->o->batch_size && (i < pend->n || j < lapsed->n)) {
            struct row *from;

            if (j >= lapsed->n || (i < pend->n && pend->rows[i].id < lapsed->rows[j].id))
                from = &pend->rows[i++];
            else
                from = &lapsed->rows[j++];
            b->rows[b->n++] = *from;
            memset(from, 0, sizeof(*from));
        }
    }
    if (b->n == 0) {
        /* The picked row vanished between the two reads: try again later. */
        r->cursor = pick;
        ret = 0;
        goto out;
    }

    for (size_t i = 0; i < b->n; i++) {
        if (r->o->dry_run) {
            s = stmt(r, ST_SEEN);
            sqlite3_bind_int64(s, 1, b->rows[i].id);
            if (step_done(r, s, "cannot remember an event") != 0)
                goto out;
        } else {
            s = stmt(r, ST_CLAIM);
            sqlite3_bind_int64(s, 1, b->rows[i].id);
            bind_text(s, 2, lease);
            if (step_done(r, s, "cannot claim an event") != 0)
                goto out;
        }
    }
    if (in_tx) {
        in_tx = 0;
        if (commit(r) != 0)
            goto out;
    }
    r->cursor = pick;
    *ret_b = b;
    b = NULL;
    ret = 0;
    goto out;
oom:
    log_warnx("out of memory");
    r->stop = EX_OSERR;
out:
    if (in_tx) {
        if (ret == 0)
            commit(r);
        else
            rollback(r);
    }
    batch_free(b);
    batch_free(pend);
    batch_free(lapsed);
    return ret;
}

/* ---- settling ---- */

static int to_dlq(struct run *r, const struct row *w, int retry_count, const char *last_error,
                  const char *moved_at, const char *reason)
{
    sqlite3_stmt *s = stmt(r, ST_TO_DLQ);

    sqlite3_bind_int64(s, 1, w->id);
    sqlite3_bind_int(s, 2, retry_count);
    if (last_error != NULL)
        bind_text(s, 3, last_error);
    bind_text(s, 4, moved_at);
    bind_text(s, 5, reason);
    if (step_done(r, s, "cannot move an event to the dlq") != 0)
        return -1;
    s = stmt(r, ST_DELETE);
    sqlite3_bind_int64(s, 1, w->id);
    return step_done(r, s, "cannot delete a dead-lettered event");
}

/* Puts the batch's rows back to pending without spending anything. */
static int release(struct run *r, struct batch *b)
{
    if (begin(r) != 0)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        sqlite3_stmt *s = stmt(r, ST_RELEASE);

        sqlite3_bind_int64(s, 1, b->rows[i].id);
        if (step_done(r, s, "cannot release an event") != 0) {
            rollback(r);
            return -1;
        }
    }
    if (commit(r) != 0)
        return -1;
    r->released += (long)b->n;
    return 0;
}

static void stop_run(struct run *r, int status, const char *fmt, const char *a, const char *b)
{
    if (r->stop != 0 && r->stop != EX_TEMPFAIL)
        return; /* the first configuration or spool error is the one to report */
    if (r->stop == EX_TEMPFAIL && status == EX_TEMPFAIL)
        return;
    r->stop = status;
    snprintf(r->stop_reason, sizeof(r->stop_reason), fmt, a, b);
}

/* Settles one answer; may queue split halves. Frees b unless it was requeued. */
static void settle(struct run *r, struct batch *b, const struct http_result *res)
{
    struct outcome oc;
    char now[ANON_TS_LEN + 1];
    int64_t now_ms = anon_now_ms();
    const char *sess = b->hdr[0];
    char detail[400];

    anon_format_ts(now_ms, now);
    outcome_classify(res->net, res->connected, res->status,
                     res->retry_after[0] ? res->retry_after : NULL, now_ms, &oc);
    if (res->error[0])
        snprintf(detail, sizeof(detail), "%s (%s)", oc.reason, res->error);
    else
        snprintf(detail, sizeof(detail), "%s", oc.reason);

    switch (oc.action) {
    case OUTCOME_SENT:
        if (begin(r) != 0)
            break;
        for (size_t i = 0; i < b->n; i++) {
            sqlite3_stmt *s = stmt(r, ST_SENT);

            sqlite3_bind_int64(s, 1, b->rows[i].id);
            bind_text(s, 2, now);
            if (step_done(r, s, "cannot mark an event sent") != 0) {
                rollback(r);
                goto done;
            }
        }
        if (commit(r) == 0) {
            r->sent += (long)b->n;
            log_info("batch of %zu events (session %s): %s, sent in %.3f s", b->n, sess,
                     oc.reason, res->seconds);
        }
        break;

    case OUTCOME_SPLIT:
        if (b->n > 1) {
            char lease[ANON_TS_LEN + 1];
            size_t half = b->n / 2;
            struct batch *lo = batch_take(b, 0, half);
            struct batch *hi = batch_take(b, half, b->n - half);

            if (lo == NULL || hi == NULL) {
                batch_free(lo);
                batch_free(hi);
                log_warnx("out of memory");
                stop_run(r, EX_OSERR, "%s%s", "out of memory", "");
                break; /* the rows' lease lapses; a later run takes them again */
            }
            /* Keep the lease while the halves are in flight. */
            anon_format_ts(now_ms + r->lease_ms, lease);
            if (begin(r) == 0) {
                for (struct batch *h = lo; h != NULL; h = h == lo ? hi : NULL)
                    for (size_t i = 0; i < h->n; i++) {
                        sqlite3_stmt *s = stmt(r, ST_RELEASE_LEASE);

                        sqlite3_bind_int64(s, 1, h->rows[i].id);
                        bind_text(s, 2, lease);
                        step_done(r, s, "cannot extend a lease");
                    }
                commit(r);
            }
            log_info("batch of %zu events (session %s): HTTP 413, split into %zu and %zu",
                     b->n, sess, lo->n, hi->n);
            queue_push(r, lo);
            queue_push(r, hi);
            break;
        }
        snprintf(oc.reason, sizeof(oc.reason), "rejected by collector: HTTP 413 (event too large)");
        /* A single event too large is dead. */
        /* fall through */
    case OUTCOME_DEAD:
        if (begin(r) != 0)
            break;
        for (size_t i = 0; i < b->n; i++)
            if (to_dlq(r, &b->rows[i], b->rows[i].retry_count, oc.reason, now, oc.reason) != 0) {
                rollback(r);
                goto done;
            }
        if (commit(r) == 0) {
            r->dead += (long)b->n;
            snprintf(r->last_dead, sizeof(r->last_dead), "%s", oc.reason);
            log_info("batch of %zu events (session %s): %s: moved to the dlq", b->n, sess,
                     oc.reason);
        }
        break;

    case OUTCOME_RETRY: {
        long retried = 0, dead = 0;
        char exhausted[192];

        snprintf(exhausted, sizeof(exhausted), "retries exhausted: %s", oc.reason);
        snprintf(r->last_error, sizeof(r->last_error), "%s", oc.reason);
        if (begin(r) != 0)
            break;
        for (size_t i = 0; i < b->n; i++) {
            struct row *w = &b->rows[i];
            int n = w->retry_count + 1;
            sqlite3_stmt *s;

            if (n > r->o->max_retries) {
                if (to_dlq(r, w, n, oc.reason, now, exhausted) != 0) {
                    rollback(r);
                    goto done;
                }
                dead++;
                continue;
            }
            {
                int64_t next = now_ms + backoff_delay_ms(n, backoff_random());
                char next_ts[ANON_TS_LEN + 1];

                if (oc.not_before_ms > next)
                    next = oc.not_before_ms;
                anon_format_ts(next, next_ts);
                s = stmt(r, ST_RETRY);
                sqlite3_bind_int64(s, 1, w->id);
                sqlite3_bind_int(s, 2, n);
                bind_text(s, 3, next_ts);
                bind_text(s, 4, detail);
                if (step_done(r, s, "cannot schedule a retry") != 0) {
                    rollback(r);
                    goto done;
                }
            }
            if (r->o->flush_now) {
                s = stmt(r, ST_SEEN);
                sqlite3_bind_int64(s, 1, w->id);
                if (step_done(r, s, "cannot remember an event") != 0) {
                    rollback(r);
                    goto done;
                }
            }
            retried++;
        }
        if (commit(r) == 0) {
            r->retried += retried;
            r->dead += dead;
            if (dead > 0)
                snprintf(r->last_dead, sizeof(r->last_dead), "%s", exhausted);
            log_info("batch of %zu events (session %s): %s: %ld to retry, %ld retries exhausted",
                     b->n, sess, detail, retried, dead);
        }
        break;
    }

    case OUTCOME_STOP_OFFLINE:
        log_info("batch of %zu events (session %s): %s", b->n, sess, detail);
        stop_run(r, EX_TEMPFAIL, "%s: %s", r->url_shown, detail);
        release(r, b);
        break;

    case OUTCOME_STOP_REFUSED:
        log_info("batch of %zu events (session %s): %s", b->n, sess, detail);
        if (res->body_len > 0)
            log_debug("the answer began with: %.200s", res->body);
        stop_run(r, EX_CONFIG, "%s: %s", r->url_shown, detail);
        release(r, b);
        break;
    }
done:
    batch_free(b); /* after a split it holds no rows: they moved to the halves */
}

/* ---- housekeeping ---- */

static int expire_old(struct run *r)
{
    char now[ANON_TS_LEN + 1], cutoff[ANON_TS_LEN + 1], reason[96];
    sqlite3_stmt *s = NULL;
    int64_t now_ms = anon_now_ms();
    int ret = -1, expired = 0;
    static const char sel[] =
        " FROM events WHERE queued_at < ?1 AND (status = 'pending'"
        " OR (status = 'sending' AND lease_until < ?2))";

    if (r->o->max_age_days <= 0)
        return 0;
    anon_format_ts(now_ms, now);
    anon_format_ts(now_ms - (int64_t)(r->o->max_age_days * DAY_MS), cutoff);
    snprintf(reason, sizeof(reason), "expired: older than %g days", r->o->max_age_days);
    if (begin(r) != 0)
        return -1;
    {
        char sql[1024];

        snprintf(sql, sizeof(sql),
                 "INSERT INTO dlq (id, uuid, name, schema_version, session_id,"
                 " client_version, cpu_architecture, queued_at, parameters, retry_count,"
                 " last_error, moved_at, reason)"
                 " SELECT id, uuid, name, schema_version, session_id, client_version,"
                 " cpu_architecture, queued_at, parameters, retry_count, last_error, ?2, ?3%s",
                 sel);
        if (sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) != SQLITE_OK) {
            db_fail(r, "cannot prepare the expiry");
            goto out;
        }
        bind_text(s, 1, cutoff);
        bind_text(s, 2, now);
        bind_text(s, 3, reason);
        if (step_done(r, s, "cannot expire old events") != 0)
            goto out;
        sqlite3_finalize(s);
        s = NULL;
        snprintf(sql, sizeof(sql), "DELETE%s", sel);
        if (sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) != SQLITE_OK) {
            db_fail(r, "cannot prepare the expiry");
            goto out;
        }
        bind_text(s, 1, cutoff);
        bind_text(s, 2, now);
        if (step_done(r, s, "cannot expire old events") != 0)
            goto out;
        expired = sqlite3_changes(r->db);
    }
    if (commit(r) != 0)
        goto out;
    if (expired > 0) {
        log_info("%d events older than %g days moved to the dlq", expired, r->o->max_age_days);
        r->dead += expired;
        snprintf(r->last_dead, sizeof(r->last_dead), "%s", reason);
    }
    ret = 0;
out:
    if (ret != 0)
        rollback(r);
    sqlite3_finalize(s);
    return ret;
}

static int prune_sent(struct run *r)
{
    char cutoff[ANON_TS_LEN + 1];
    sqlite3_stmt *s = NULL;
    int ret;

    anon_format_ts(anon_now_ms() - (int64_t)(r->o->keep_sent_days * DAY_MS), cutoff);
    if (sqlite3_prepare_v2(r->db, "DELETE FROM events WHERE status = 'sent' AND sent_at < ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return db_fail(r, "cannot prepare the pruning of sent events");
    bind_text(s, 1, cutoff);
    ret = step_done(r, s, "cannot prune sent events");
    if (ret == 0 && sqlite3_changes(r->db) > 0)
        log_debug("pruned %d sent events older than %g days", sqlite3_changes(r->db),
                  r->o->keep_sent_days);
    sqlite3_finalize(s);
    return ret;
}

/* Records the run (and prunes sent rows and old runs) in one short transaction at
 * the end: a run with nothing to do writes once and syncs nothing. */
static void run_record_end(struct run *r, int status, const char *summary)
{
    char started[ANON_TS_LEN + 1], now[ANON_TS_LEN + 1];
    sqlite3_stmt *s = NULL;
    int64_t run_id;

    anon_format_ts(r->started_ms, started);
    ts_now(now);
    if (begin(r) != 0)
        return;
    if (prune_sent(r) != 0)
        goto fail;
    if (sqlite3_prepare_v2(r->db,
                           "INSERT INTO runs (started_at, finished_at, exit_code, sent, retried,"
                           " dead, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &s, NULL) != SQLITE_OK)
        goto fail_db;
    bind_text(s, 1, started);
    bind_text(s, 2, now);
    sqlite3_bind_int(s, 3, status);
    sqlite3_bind_int64(s, 4, r->sent);
    sqlite3_bind_int64(s, 5, r->retried);
    sqlite3_bind_int64(s, 6, r->dead);
    bind_text(s, 7, summary);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto fail_db;
    sqlite3_finalize(s);
    s = NULL;
    run_id = sqlite3_last_insert_rowid(r->db);
    /* Keep the last RUNS_KEPT runs. */
    if (sqlite3_prepare_v2(r->db, "DELETE FROM runs WHERE id <= ?1", -1, &s, NULL) != SQLITE_OK)
        goto fail_db;
    sqlite3_bind_int64(s, 1, run_id - RUNS_KEPT);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto fail_db;
    sqlite3_finalize(s);
    commit(r);
    return;
fail_db:
    log_warnx("cannot record the run: %s", sqlite3_errmsg(r->db));
fail:
    sqlite3_finalize(s);
    rollback(r);
}

/* Events still pending or leased, and the earliest next attempt (into next, may be ""). */
static long count_pending(struct run *r, char *next, size_t nextlen)
{
    sqlite3_stmt *s = NULL;
    long n = -1;

    next[0] = '\0';
    if (sqlite3_prepare_v2(r->db,
                           "SELECT count(*), min(next_attempt_at) FROM events"
                           " WHERE status IN ('pending', 'sending')",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW) {
        n = sqlite3_column_int(s, 0);
        if (sqlite3_column_text(s, 1) != NULL)
            snprintf(next, nextlen, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    return n;
}

/* ---- the loop ---- */

static int budget_left(struct run *r)
{
    if (r->o->max_time <= 0)
        return 1;
    if ((double)(anon_now_ms() - r->started_ms) < r->o->max_time * 1000.0)
        return 1;
    if (!r->budget_spent)
        log_info("time budget of %g s spent: no more batches this run", r->o->max_time);
    r->budget_spent = 1;
    return 0;
}

static void dry_run_loop(struct run *r)
{
    for (;;) {
        struct batch *b = NULL;

        if (claim(r, &b) != 0 || b == NULL)
            break;
        if (build_body(b) != 0) {
            log_warnx("out of memory");
            r->stop = EX_OSERR;
            batch_free(b);
            break;
        }
        fwrite(b->body.data, 1, b->body.len, stdout);
        fputc('\n', stdout);
        batch_free(b);
    }
    fflush(stdout);
}

/* libcurl (and TLS) is set up only when there is something to post: a run with
 * nothing due costs little more than opening the spool. */
static int open_http(struct run *r)
{
    char err[ANON_ERRLEN];
    struct http_opts ho = {
        .url = r->o->endpoint,
        .cacert = r->o->cacert,
        .connect_timeout_ms = (long)(r->o->connect_timeout * 1000.0),
        .timeout_ms = (long)(r->o->timeout * 1000.0),
        .parallel = r->o->parallel,
        .user_agent = "anon-telemetry-ship/1",
    };

    if (http_open(&ho, &r->http, err, sizeof(err)) != 0) {
        log_warnx("%s", err);
        stop_run(r, EX_SOFTWARE, "%s%s", err, "");
        return -1;
    }
    return 0;
}

static void ship_loop(struct run *r)
{
    char err[ANON_ERRLEN];

    for (;;) {
        while (r->stop == 0 && (r->http == NULL || http_free_slots(r->http) > 0)) {
            struct batch *b = queue_pop(r);

            if (b == NULL) {
                if (r->no_more || !budget_left(r))
                    break;
                if (claim(r, &b) != 0)
                    break;
                if (b == NULL) {
                    r->no_more = 1;
                    break;
                }
            }
            if (r->http == NULL && open_http(r) != 0) {
                release(r, b);
                batch_free(b);
                break;
            }
            if (build_body(b) != 0) {
                log_warnx("out of memory");
                stop_run(r, EX_OSERR, "%s%s", "out of memory", "");
                release(r, b);
                batch_free(b);
                break;
            }
            if (http_post(r->http, b->body.data, b->body.len, b, err, sizeof(err)) != 0) {
                log_warnx("%s", err);
                stop_run(r, EX_SOFTWARE, "%s%s", err, "");
                release(r, b);
                batch_free(b);
                break;
            }
            log_debug("posting %zu events (%zu bytes, session %s)", b->n, b->body.len,
                      b->hdr[0]);
        }
        if (r->http == NULL)
            break;
        {
            struct http_result res;
            int rc = http_wait(r->http, &res, err, sizeof(err));

            if (rc == 0)
                break;
            if (rc < 0) {
                log_warnx("%s", err);
                stop_run(r, EX_SOFTWARE, "%s%s", err, "");
                break; /* in-flight rows keep their lease; a later run takes them */
            }
            settle(r, res.tag, &res);
        }
    }
    /* Split halves not posted because the run stopped go back to pending. */
    for (struct batch *b; (b = queue_pop(r)) != NULL;) {
        release(r, b);
        batch_free(b);
    }
}

static int lock_spool(const char *path, int *ret_fd)
{
    char lockpath[4200];
    int fd;

    snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
    fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_warn("cannot open the lock file %s", lockpath);
        return EX_IOERR;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        close(fd);
        if (e == EWOULDBLOCK) {
            log_notice("another anon-telemetry-ship is running on %s", path);
            return -1;
        }
        errno = e;
        log_warn("cannot lock %s", lockpath);
        return EX_IOERR;
    }
    *ret_fd = fd;
    return 0;
}

int ship_run(const struct ship_opts *o)
{
    struct run run, *r = &run;
    char defpath[4096], err[ANON_ERRLEN], summary[2048], next[ANON_TS_LEN + 1];
    const char *path = o->spool_path;
    struct stat stbuf;
    int lockfd = -1, status = 0, rc;
    long pending;

    memset(r, 0, sizeof(*r));
    r->o = o;
    r->started_ms = anon_now_ms();
    r->lease_ms = (int64_t)((o->timeout + o->connect_timeout) * 2000.0) + LEASE_MARGIN_MS;
    http_redact_url(o->endpoint, r->url_shown, sizeof(r->url_shown));

    if (!anon_telemetry_enabled()) {
        log_notice("telemetry is disabled (NEMO_TELEMETRY_ENABLED): nothing sent, "
                   "the spool is left as it is");
        return 0;
    }
    if (path == NULL) {
        if (anon_spool_default_path(defpath, sizeof(defpath), err, sizeof(err)) != ANON_OK) {
            log_warnx("%s", err);
            return EX_CONFIG;
        }
        path = defpath;
    }
    if (stat(path, &stbuf) != 0 && errno == ENOENT) {
        log_info("no spool at %s: nothing to do", path);
        return 0;
    }
    if (!o->dry_run && (rc = lock_spool(path, &lockfd)) != 0)
        return rc < 0 ? 0 : rc;

    rc = anon_spool_open_ex(path, ANON_OPEN_QUICK_CHECK | ANON_OPEN_NO_CREATE, &r->sp, err,
                            sizeof(err));
    if (rc == ANON_ECORRUPT) {
        char moved[4200], err2[ANON_ERRLEN];

        if (o->dry_run) {
            log_warnx("%s (a real run would move it aside)", err);
        } else if (anon_spool_move_aside(path, moved, sizeof(moved), err2, sizeof(err2)) ==
                   ANON_OK) {
            log_warnx("%s: the spool is damaged; moved aside to %s for salvage", err, moved);
        } else {
            log_warnx("%s: the spool is damaged, and %s", err, err2);
        }
        status = EX_IOERR;
        goto out;
    }
    if (rc != ANON_OK) {
        log_warnx("%s", err);
        status = anon_status_exit_code(rc);
        goto out;
    }
    r->db = anon_spool_db(r->sp);
    /* The shipper's writes are replayable (at-least-once): a power cut may undo the
     * last few, never corrupt. Writers keep synchronous=FULL on their connections. */
    sqlite3_exec(r->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    /* Leave the WAL to the next connection's automatic checkpoint: a checkpoint at
     * close would sync the database file on every cron run. */
    sqlite3_db_config(r->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (prepare_all(r) != 0) {
        status = EX_IOERR;
        goto out;
    }

    if (o->dry_run) {
        dry_run_loop(r);
        status = r->stop;
        goto out;
    }

    if (expire_old(r) != 0) {
        status = r->stop ? r->stop : EX_IOERR;
        goto out;
    }
    ship_loop(r);
    http_free(r->http);
    r->http = NULL;

    /* The exit status and the one summary line. */
    if (r->stop != 0) {
        status = r->stop;
    } else if (r->retried > 0) {
        status = EX_TEMPFAIL;
    } else if (r->budget_spent) {
        char now[ANON_TS_LEN + 1];

        ts_now(now);
        status = pick_oldest(r, now) != 0 ? EX_TEMPFAIL : 0;
    }
    pending = (status != 0 || r->dead > 0) ? count_pending(r, next, sizeof(next)) : 0;
    {
        int n = snprintf(summary, sizeof(summary), "%ld sent, %ld to retry, %ld to dlq",
                         r->sent, r->retried, r->dead);

        if (r->dead > 0 && r->last_dead[0] && n > 0 && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, " (%s)", r->last_dead);
        if (pending > 0 && n > 0 && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, "; %ld pending%s%s%s",
                          pending, next[0] ? " (next attempt " : "", next,
                          next[0] ? ")" : "");
        if (r->stop != 0 && n > 0 && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, "; stopped: %s",
                          r->stop_reason);
        else if (r->budget_spent && status != 0 && n > 0 && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n,
                          "; time budget of %g s spent", o->max_time);
        else if (r->retried > 0 && r->last_error[0] && n > 0 && (size_t)n < sizeof(summary))
            snprintf(summary + n, sizeof(summary) - (size_t)n, "; last error: %s",
                     r->last_error);
    }
    if (status != 0 || r->dead > 0)
        log_notice("%s", summary);
    else
        log_info("%s", summary);
    run_record_end(r, status, summary);

out:
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(r->st[i]);
    anon_spool_close(r->sp);
    if (lockfd >= 0)
        close(lockfd);
    return status;
}
