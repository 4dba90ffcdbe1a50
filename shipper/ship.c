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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "backoff.h"
#include "endpoint.h"
#include "envelope.h"
#include "http.h"
#include "internal.h"
#include "log.h"
#include "outcome.h"
#include "plan.h"
#include "queue.h"
#include "spoollock.h"

#define LEASE_MARGIN_MS (60 * 1000LL)
#define DAY_MS          (86400 * 1000.0)
#define SIGNAL_GRACE_MS (5 * 1000L)  /* after SIGTERM/SIGINT: how long requests in flight
                                        may still take before their rows are released */

/* The signal that asked the run to stop (SIGTERM, SIGINT), 0 while none did. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

struct row {
    int64_t id;
    char *uuid;             /* sent along (Anon-Telemetry-Event-Ids): a relay keeps it */
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
    anon_buf ids;           /* "Anon-Telemetry-Event-Ids: UUID,..." for the body's events */
    struct batch *next;     /* in the queue of split halves waiting to be posted */
};

struct run {
    const struct ship_opts *o;
    anon_spool *sp;
    queue *q;
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
    int busy_ms;            /* how long a claim waits for another process's lock */
    long clock_moved;       /* rows whose next attempt or lease a moved clock had set */
    struct batch *halves_head, *halves_tail;
};

/* ---- the spool, through the queue module ---- */

/* Reports a spool failure (err, from queue.h) and stops the run with 74, unless a
 * configuration or spool error stopped it already. Returns -1. */
static int db_fail(struct run *r, int status, const char *err)
{
    log_warnx("%s", err);
    if (r->stop == 0 || r->stop == EX_TEMPFAIL) {
        r->stop = status == ANON_ENOMEM  ? EX_OSERR
                  : status == ANON_EBUSY ? EX_TEMPFAIL
                                         : EX_IOERR;
        snprintf(r->stop_reason, sizeof(r->stop_reason), "spool error: %s", err);
    }
    return -1;
}

/* 0, or -1 after db_fail: for `if (ok(r, queue_x(..., err, sizeof err), err) != 0)`. */
static int ok(struct run *r, int status, const char *err)
{
    return status == ANON_OK ? 0 : db_fail(r, status, err);
}

static int begin(struct run *r)
{
    char err[ANON_ERRLEN];

    return ok(r, queue_begin(r->q, err, sizeof(err)), err);
}

static int commit(struct run *r)
{
    char err[ANON_ERRLEN];

    return ok(r, queue_commit(r->q, err, sizeof(err)), err);
}

static void rollback(struct run *r)
{
    queue_rollback(r->q);
}

static void ts_now(char buf[ANON_TS_LEN + 1])
{
    anon_format_ts(anon_now_ms(), buf);
}

/* Settling an answer that arrived waits for the lock up to the lease length (an
 * operator's long transaction must not turn a delivered batch into a duplicate);
 * claiming waits the busy timeout only. */
static void wait_for_lock(struct run *r, int settling)
{
    int64_t ms = settling && r->lease_ms > r->busy_ms ? r->lease_ms : r->busy_ms;

    sqlite3_busy_timeout(anon_spool_db(r->sp), (int)ms);
}

/* ---- batches ---- */

static void batch_free(struct batch *b)
{
    if (b == NULL)
        return;
    for (int i = 0; i < 4; i++)
        free(b->hdr[i]);
    for (size_t i = 0; i < b->n; i++) {
        free(b->rows[i].uuid);
        free(b->rows[i].queued_at);
        free(b->rows[i].parameters);
        free(b->rows[i].name);
    }
    free(b->rows);
    anon_buf_free(&b->body);
    anon_buf_free(&b->ids);
    free(b);
}

/* queue_due_rows' callback: appends the row to the batch. 0 or -1 (out of memory). */
static int batch_add_row(void *ctx, const struct queue_due_row *row)
{
    struct batch *b = ctx;
    struct row *w = &b->rows[b->n];

    w->id = row->id;
    w->uuid = strdup(row->uuid);
    w->retry_count = row->retry_count;
    w->queued_at = strdup(row->queued_at);
    w->parameters = strdup(row->parameters);
    w->name = strdup(row->name);
    b->n++;
    return w->uuid && w->queued_at && w->parameters && w->name ? 0 : -1;
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
    /* the events' uuids, in order: a relay (anon-telemetry-relay) keeps them, so a resend
     * after a lost answer stores nothing twice however many hops it takes */
    anon_buf_reset(&b->ids);
    anon_buf_puts(&b->ids, ENVELOPE_IDS_HEADER ": ");
    for (size_t i = 0; i < b->n; i++) {
        if (i > 0)
            anon_buf_append(&b->ids, ",", 1);
        anon_buf_puts(&b->ids, b->rows[i].uuid);
    }
    return rc != 0 || b->ids.oom ? -1 : 0;
}

/* A new batch holding rows [from, from + n) of src (their ownership moves). */
static struct batch *batch_take(struct batch *src, size_t from, size_t n)
{
    struct batch *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    anon_buf_init(&b->body);
    anon_buf_init(&b->ids);
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

static void halves_push(struct run *r, struct batch *b)
{
    b->next = NULL;
    if (r->halves_tail != NULL)
        r->halves_tail->next = b;
    else
        r->halves_head = b;
    r->halves_tail = b;
}

static struct batch *halves_pop(struct run *r)
{
    struct batch *b = r->halves_head;

    if (b != NULL) {
        r->halves_head = b->next;
        if (r->halves_head == NULL)
            r->halves_tail = NULL;
        b->next = NULL;
    }
    return b;
}

/* ---- claiming ---- */

/* Claims the next batch into *ret_b (NULL when nothing is due). 0 or -1.
 * A batch: the oldest due row, then the due rows of its envelope in id order. */
static int claim(struct run *r, struct batch **ret_b)
{
    char err[ANON_ERRLEN];
    struct queue_times t;
    struct queue_due due;
    struct batch *b = NULL;
    int64_t pick, now_ms = anon_now_ms();
    int in_tx = 0, ret = -1, rc;
    char lease[ANON_TS_LEN + 1];

    *ret_b = NULL;
    queue_times_at(now_ms, &t);
    anon_format_ts(now_ms + r->lease_ms, lease);
    due.clock = t.clock;
    due.flush_now = r->o->flush_now;
    if (!r->o->dry_run) {
        if (begin(r) != 0)
            goto out;
        in_tx = 1;
    }
    if (ok(r, queue_next_due(r->q, &due, r->cursor, &pick, err, sizeof(err)), err) != 0)
        goto out;
    if (pick == 0) {
        ret = 0;
        goto out;
    }
    if ((b = calloc(1, sizeof(*b))) == NULL ||
        (b->rows = calloc((size_t)r->o->batch_size, sizeof(*b->rows))) == NULL) {
        db_fail(r, ANON_ENOMEM, "out of memory");
        goto out;
    }
    anon_buf_init(&b->body);
    anon_buf_init(&b->ids);
    if (ok(r, queue_envelope_fields(r->q, pick, b->hdr, err, sizeof(err)), err) != 0)
        goto out;
    rc = queue_due_rows(r->q, &due, (const char *const *)b->hdr, pick, r->o->batch_size,
                        batch_add_row, b, err, sizeof(err));
    if (ok(r, rc, err) != 0)
        goto out;
    if (b->n == 0) {
        /* The picked row vanished between the two reads: try again later. */
        r->cursor = pick;
        ret = 0;
        goto out;
    }
    for (size_t i = 0; i < b->n; i++) {
        rc = r->o->dry_run ? queue_mark_seen(r->q, b->rows[i].id, err, sizeof(err))
                           : queue_claim(r->q, b->rows[i].id, lease, err, sizeof(err));
        if (ok(r, rc, err) != 0)
            goto out;
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
out:
    if (in_tx) {
        if (ret == 0)
            commit(r);
        else
            rollback(r);
    }
    batch_free(b);
    return ret;
}

/* ---- settling ---- */

/* Puts the batch's rows back to pending without spending anything. */
static int release(struct run *r, struct batch *b)
{
    char err[ANON_ERRLEN];
    int ret = -1;

    wait_for_lock(r, 1);
    if (begin(r) != 0)
        goto out;
    for (size_t i = 0; i < b->n; i++)
        if (ok(r, queue_release(r->q, b->rows[i].id, err, sizeof(err)), err) != 0) {
            rollback(r);
            goto out;
        }
    if (commit(r) != 0)
        goto out;
    r->released += (long)b->n;
    ret = 0;
out:
    wait_for_lock(r, 0);
    return ret;
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

static double jitter(void *ctx)
{
    (void)ctx;
    return backoff_random();
}

/* Splits b in halves, queued to be posted; the rows keep their lease meanwhile. */
static void split(struct run *r, struct batch *b, int64_t now_ms)
{
    char lease[ANON_TS_LEN + 1], err[ANON_ERRLEN];
    size_t half = b->n / 2;
    struct batch *lo = batch_take(b, 0, half);
    struct batch *hi = batch_take(b, half, b->n - half);

    if (lo == NULL || hi == NULL) {
        batch_free(lo);
        batch_free(hi);
        log_warnx("out of memory");
        stop_run(r, EX_OSERR, "%s%s", "out of memory", "");
        return; /* the rows' lease lapses; a later run takes them again */
    }
    anon_format_ts(now_ms + r->lease_ms, lease);
    if (begin(r) == 0) {
        for (struct batch *h = lo; h != NULL; h = h == lo ? hi : NULL)
            for (size_t i = 0; i < h->n; i++)
                ok(r, queue_extend_lease(r->q, h->rows[i].id, lease, err, sizeof(err)), err);
        commit(r);
    }
    log_info("batch of %zu events (session %s): HTTP 413, split into %zu and %zu", b->n,
             b->hdr[0], lo->n, hi->n);
    halves_push(r, lo);
    halves_push(r, hi);
}

/* Executes a plan (plan.h) on the batch's rows in one transaction. 0 or -1. */
static int execute(struct run *r, struct batch *b, const struct plan_row *rows,
                   const char *now, const char *detail, const char *reason)
{
    char next_ts[ANON_TS_LEN + 1], err[ANON_ERRLEN];

    if (begin(r) != 0)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        int64_t id = b->rows[i].id;
        int rc = ANON_OK;

        switch (rows[i].action) {
        case PLAN_SENT:
            rc = queue_mark_sent(r->q, id, now, err, sizeof(err));
            break;
        case PLAN_RETRY:
            anon_format_ts(rows[i].next_attempt_ms, next_ts);
            rc = queue_retry(r->q, id, rows[i].retry_count, next_ts, detail, err, sizeof(err));
            if (rc == ANON_OK && r->o->flush_now)
                rc = queue_mark_seen(r->q, id, err, sizeof(err));
            break;
        case PLAN_DEAD:
            rc = queue_dead(r->q, id, rows[i].retry_count, reason, now, rows[i].reason, err,
                            sizeof(err));
            break;
        case PLAN_RELEASE:
            rc = queue_release(r->q, id, err, sizeof(err));
            break;
        case PLAN_SPLIT:
            break;
        }
        if (ok(r, rc, err) != 0) {
            rollback(r);
            return -1;
        }
    }
    return commit(r);
}

/* Settles one answer; may queue split halves. Frees b unless it was split. */
static void settle(struct run *r, struct batch *b, const struct http_result *res)
{
    struct outcome oc;
    struct plan p;
    struct plan_row *rows = calloc(b->n, sizeof(*rows));
    int *counts = calloc(b->n, sizeof(*counts));
    char now[ANON_TS_LEN + 1], detail[400];
    int64_t now_ms = anon_now_ms();
    const char *sess = b->hdr[0];

    wait_for_lock(r, 1);
    if (rows == NULL || counts == NULL) {
        log_warnx("out of memory");
        stop_run(r, EX_OSERR, "%s%s", "out of memory", "");
        goto done; /* the rows' lease lapses; a later run takes them again */
    }
    anon_format_ts(now_ms, now);
    outcome_classify(res->net, res->connected, res->status,
                     res->retry_after[0] ? res->retry_after : NULL, now_ms, &oc);
    if (res->error[0])
        snprintf(detail, sizeof(detail), "%s (%s)", oc.reason, res->error);
    else
        snprintf(detail, sizeof(detail), "%s", oc.reason);
    for (size_t i = 0; i < b->n; i++)
        counts[i] = b->rows[i].retry_count;
    plan_delivery(&oc, counts, b->n, r->o->max_retries, now_ms, jitter, NULL, &p, rows);

    if (rows[0].action == PLAN_SPLIT) {
        split(r, b, now_ms);
        goto done;
    }
    if (p.stop != 0) {
        log_info("batch of %zu events (session %s): %s", b->n, sess, detail);
        if (p.stop == EX_CONFIG && res->body_len > 0)
            log_debug("the answer began with: %.200s", res->body);
        stop_run(r, p.stop, "%s: %s", r->url_shown, detail);
        release(r, b);
        goto done;
    }
    if (execute(r, b, rows, now, detail, p.reason) != 0)
        goto done;
    if (oc.action == OUTCOME_SENT) {
        r->sent += (long)b->n;
        log_info("batch of %zu events (session %s): %s, sent in %.3f s", b->n, sess,
                 oc.reason, res->seconds);
    } else if (oc.action == OUTCOME_RETRY) {
        snprintf(r->last_error, sizeof(r->last_error), "%s", oc.reason);
        r->retried += p.retried;
        r->dead += p.dead;
        if (p.dead > 0)
            snprintf(r->last_dead, sizeof(r->last_dead), "%s", p.exhausted);
        log_info("batch of %zu events (session %s): %s: %ld to retry, %ld retries exhausted",
                 b->n, sess, detail, p.retried, p.dead);
    } else {
        r->dead += p.dead;
        snprintf(r->last_dead, sizeof(r->last_dead), "%s", p.reason);
        log_info("batch of %zu events (session %s): %s: moved to the dlq", b->n, sess,
                 p.reason);
    }
done:
    wait_for_lock(r, 0);
    free(rows);
    free(counts);
    batch_free(b); /* after a split it holds no rows: they moved to the halves */
}

/* ---- housekeeping ---- */

static int expire_old(struct run *r)
{
    char cutoff[ANON_TS_LEN + 1], reason[96], err[ANON_ERRLEN];
    struct queue_times t;
    int64_t now_ms = anon_now_ms();
    long expired = 0;

    if (r->o->max_age_days <= 0)
        return 0;
    queue_times_at(now_ms, &t);
    anon_format_ts(now_ms - (int64_t)(r->o->max_age_days * DAY_MS), cutoff);
    snprintf(reason, sizeof(reason), "expired: older than %g days", r->o->max_age_days);
    if (begin(r) != 0)
        return -1;
    /* an event whose ts is before this release was built got it from a wrong clock:
     * its age is unknown, so it is never expired for it */
    if (ok(r, queue_expire(r->q, &t.clock, cutoff, ANON_RELEASE_TS, reason, &expired, err,
                           sizeof(err)),
           err) != 0) {
        rollback(r);
        return -1;
    }
    if (commit(r) != 0)
        return -1;
    if (expired > 0) {
        log_info("%ld events older than %g days moved to the dlq", expired, r->o->max_age_days);
        r->dead += expired;
        snprintf(r->last_dead, sizeof(r->last_dead), "%s", reason);
    }
    return 0;
}

/* Records the run (and prunes sent rows and old runs) in one short transaction at
 * the end: a run with nothing to do writes once and syncs nothing. */
static void run_record_end(struct run *r, int status, const char *summary)
{
    char started[ANON_TS_LEN + 1], now[ANON_TS_LEN + 1], cutoff[ANON_TS_LEN + 1];
    char err[ANON_ERRLEN];
    struct queue_run run = {started, now, status, r->sent, r->retried, r->dead, summary};
    long pruned = 0;
    int rc;

    anon_format_ts(r->started_ms, started);
    ts_now(now);
    anon_format_ts(anon_now_ms() - (int64_t)(r->o->keep_sent_days * DAY_MS), cutoff);
    /* the run is always recorded: wait for an operator's lock as long as a settle would */
    wait_for_lock(r, 1);
    if (begin(r) != 0)
        return;
    if ((rc = queue_prune_sent(r->q, cutoff, &pruned, err, sizeof(err))) != ANON_OK ||
        (rc = queue_record_run(r->q, &run, err, sizeof(err))) != ANON_OK) {
        log_warnx("cannot record the run: %s", err);
        rollback(r);
        return;
    }
    if (pruned > 0)
        log_debug("pruned %ld sent events older than %g days", pruned, r->o->keep_sent_days);
    commit(r);
}

/* Events still pending or leased, and the earliest next attempt (into next, may be ""). */
static long count_pending(struct run *r, char *next, size_t nextlen)
{
    char err[ANON_ERRLEN];
    long n = 0;

    if (queue_unfinished(r->q, &n, next, nextlen, err, sizeof(err)) != ANON_OK)
        return -1;
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
        .user_agent = "anon-telemetry-ship/" ANON_TELEMETRY_VERSION,
    };

    if (http_open(&ho, &r->http, err, sizeof(err)) != 0) {
        log_warnx("%s", err);
        stop_run(r, EX_SOFTWARE, "%s%s", err, "");
        return -1;
    }
    return 0;
}

/* A signal asked the run to stop: no more claims; requests in flight get
 * SIGNAL_GRACE_MS to be answered. */
static void note_signal(struct run *r, int64_t *grace_until)
{
    if (stop_signal == 0 || *grace_until != 0)
        return;
    *grace_until = anon_now_ms() + SIGNAL_GRACE_MS;
    log_notice("%s: no more batches; releasing what is not answered within %ld s",
               strsignal(stop_signal), SIGNAL_GRACE_MS / 1000);
    stop_run(r, EX_TEMPFAIL, "interrupted by %s%s", strsignal(stop_signal), "");
}

static void ship_loop(struct run *r)
{
    char err[ANON_ERRLEN];
    int64_t grace_until = 0;

    for (;;) {
        note_signal(r, &grace_until);
        while (r->stop == 0 && (r->http == NULL || http_free_slots(r->http) > 0)) {
            struct batch *b = halves_pop(r);

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
            if (http_post(r->http, b->body.data, b->body.len, b->ids.data, b, err,
                          sizeof(err)) != 0) {
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
            long slice = grace_until != 0 ? (long)(grace_until - anon_now_ms()) : 250;
            int rc = http_wait_ms(r->http, &res, slice > 0 ? slice : 0, err, sizeof(err));

            if (rc == 0)
                break;
            if (rc == 2) {
                struct batch *b;

                if (grace_until == 0 || anon_now_ms() < grace_until)
                    continue;
                /* unanswered after the grace time: back to pending, nothing spent */
                while ((b = http_cancel_one(r->http)) != NULL) {
                    release(r, b);
                    batch_free(b);
                }
                break;
            }
            if (rc < 0) {
                log_warnx("%s", err);
                stop_run(r, EX_SOFTWARE, "%s%s", err, "");
                break; /* in-flight rows keep their lease; a later run takes them */
            }
            settle(r, res.tag, &res);
        }
    }
    /* Split halves not posted because the run stopped go back to pending. */
    for (struct batch *b; (b = halves_pop(r)) != NULL;) {
        release(r, b);
        batch_free(b);
    }
}

int ship_run(const struct ship_opts *o)
{
    struct run run, *r = &run;
    char defpath[4096], err[ANON_ERRLEN], summary[2048], next[ANON_TS_LEN + 1];
    const char *path = o->spool_path;
    struct stat stbuf;
    struct spoollock lock = {.fd = -1};
    int status = 0, rc, full_check;
    long pending;

    memset(r, 0, sizeof(*r));
    r->o = o;
    r->started_ms = anon_now_ms();
    r->lease_ms = (int64_t)((o->timeout + o->connect_timeout) * 2000.0) + LEASE_MARGIN_MS;
    endpoint_redact(o->endpoint, r->url_shown, sizeof(r->url_shown));

    /* The endpoint first, whatever the spool holds (or the opt-out says): a URL that is
     * not http(s), or that would send credentials in clear text, is a configuration
     * error now, not when something is finally due (endpoint.h). */
    if (endpoint_check(o->endpoint, o->allow_insecure_http, err, sizeof(err)) != 0) {
        log_warnx("%s", err);
        return EX_CONFIG;
    }

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
    if (anon_busy_timeout_ms(&r->busy_ms, err, sizeof(err)) != ANON_OK) {
        log_warnx("%s", err);
        return EX_CONFIG;
    }
    if (!o->dry_run && (rc = spoollock_take(path, &lock)) != 0)
        return rc < 0 ? 0 : rc;
    {
        /* SIGTERM, SIGINT: stop claiming, settle what is answered, release the rest */
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
    }

    /* The full check (PRAGMA quick_check reads every page) once a day, as the lock file
     * remembers; the cheap one (spool/check.c) on the other runs. --dry-run only reads:
     * it also works where the spool cannot be written. */
    full_check = spoollock_full_check_due(o->dry_run ? spoollock_peek_last_check(path)
                                                     : spoollock_last_check(&lock),
                                          r->started_ms);
    rc = anon_spool_open_ex(path,
                            (full_check ? ANON_OPEN_QUICK_CHECK : ANON_OPEN_LIGHT_CHECK) |
                                ANON_OPEN_NO_CREATE | (o->dry_run ? ANON_OPEN_READ_ONLY : 0),
                            &r->sp, err, sizeof(err));
    if (rc == ANON_ECORRUPT) {
        char moved[4200], err2[ANON_ERRLEN];

        /* Only what was one of our spools is renamed: a --spool naming some other file
         * (not even an SQLite header, or another program's mark) is left as it is. */
        if (!anon_spool_was_ours(path)) {
            log_warnx("%s; it is not an anon-telemetry spool, so it was left untouched", err);
            spoollock_release(&lock, 1);
        } else if (o->dry_run) {
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
        spoollock_release(&lock, 1);    /* nothing of ours there: leave no lock file */
        goto out;
    }
    if (full_check && !o->dry_run)
        spoollock_record_check(&lock, r->started_ms);
    r->q = anon_spool_queue(r->sp);
    /* The shipper's writes are replayable (at-least-once): a power cut may undo the
     * last few, never corrupt. Writers keep synchronous=FULL on their connections. */
    sqlite3_exec(anon_spool_db(r->sp), "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    /* Leave the WAL to the next connection's automatic checkpoint: a checkpoint at
     * close would sync the database file on every cron run. */
    sqlite3_db_config(anon_spool_db(r->sp), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (ok(r, queue_seen_init(r->q, err, sizeof(err)), err) != 0) {
        status = EX_IOERR;
        goto out;
    }
    {
        struct queue_times t;

        queue_times_at(anon_now_ms(), &t);
        if (queue_count_clock_moved(r->q, &t.clock, &r->clock_moved, err, sizeof(err)) ==
                ANON_OK &&
            r->clock_moved > 0)
            log_notice("%ld events have a next attempt or lease further ahead than any "
                       "shipper sets: the clock moved back since; they are taken as due now",
                       r->clock_moved);
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
        struct queue_times t;
        struct queue_due due;
        int64_t pick = 0;

        queue_times_at(anon_now_ms(), &t);
        due.clock = t.clock;
        due.flush_now = o->flush_now;
        status = queue_next_due(r->q, &due, r->cursor, &pick, err, sizeof(err)) != ANON_OK ||
                         pick != 0
                     ? EX_TEMPFAIL
                     : 0;
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
        if (r->clock_moved > 0 && n > 0 && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n,
                          "; %ld events had times set by a clock that moved back: taken as due",
                          r->clock_moved);
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
    /* a WAL grown while a reader held it (an operator's open sqlite3 shell) is brought
     * back now that nothing is in flight; an ordinary run leaves it to SQLite */
    if (anon_spool_shrink_wal(r->sp, 1024 * 1024) < 0)
        log_debug("the write-ahead log is still held by a reader; not truncated this run");

out:
    anon_spool_close(r->sp);
    spoollock_release(&lock, 0);
    return status;
}
