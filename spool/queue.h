/*
 * queue.h: every change to the spool's rows, in one place (queue.c owns the SQL).
 *
 * Internal to the library and its commands, like dma's spool.c: appending,
 * claiming, settling (sent, retry, dead letter), leases, expiry, pruning, the
 * runs table, requeue and purge, bundles and receipts, and the counts per status all
 * go through here; nothing else in the tree writes a row. The layout is
 * schema/spool.sql.
 *
 * Every function returns an anon_status and fills err (err may be NULL) with
 * "spool PATH: what: SQLite's reason". Functions that change rows do not open a
 * transaction of their own: the caller brackets them with queue_begin and
 * queue_commit (or queue_rollback), so that one batch is settled at once.
 * Times are the wire format (anon_format_ts): they compare as text.
 */
#ifndef ANON_QUEUE_H
#define ANON_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* The statuses of an events row (the CHECK of schema/spool.sql). A dead letter is
 * not a status: it is a row of the dlq table. */
#define QUEUE_PENDING "pending"
#define QUEUE_SENDING "sending"
#define QUEUE_SENT    "sent"
/* Written to a bundle (bundle create): carried out of the site on removable media; a
 * receipt settles it. No delivery run ever takes an exported row. */
#define QUEUE_EXPORTED "exported"

enum queue_status {
    QUEUE_ST_PENDING, QUEUE_ST_SENDING, QUEUE_ST_SENT, QUEUE_ST_EXPORTED, QUEUE_NSTATUS
};

/* "pending", "sending", "sent", "exported"; NULL out of range. */
const char *queue_status_name(int status);
/* The status with that name, or -1. */
int queue_status_from_name(const char *name);

/*
 * The lease rule, the one place it is written: a 'sending' row whose lease is NULL or
 * ends before now was claimed by a shipper that died or hung, and may be claimed again
 * without spending a retry. A lease that ends after the horizon (now plus the longest
 * lease a shipper sets) was set by a clock that has since moved back: lapsed too.
 */
#define QUEUE_LEASE_LAPSED(now, horizon) \
    "(lease_until IS NULL OR lease_until < " now " OR lease_until > " horizon ")"
/* The due rule for a pending row, likewise: no next attempt, one that has come, or one
 * further ahead than any backoff or Retry-After could have set (the clock moved back). */
#define QUEUE_DUE(now, horizon) \
    "(next_attempt_at IS NULL OR next_attempt_at <= " now " OR next_attempt_at > " horizon ")"

/* How far ahead a next attempt can ever be set: the Retry-After cap (24 h, longer than
 * the backoff cap), plus a minute for clocks that differ a little between runs. */
#define QUEUE_RETRY_HORIZON_MS ((24 * 3600 + 60) * 1000LL)
/* The lease a shipper with its default timeouts sets: 2 x (30 s + 10 s) + 60 s. */
#define QUEUE_DEFAULT_LEASE_MS (140 * 1000LL)
/* How far ahead a lease can ever be set: the longest a shipper sets, with --timeout and
 * --connect-timeout at their maxima (24 h, 1 h): 2 x 25 h + 1 min, and an hour more. A
 * lease further ahead was set by a clock that has since moved back. */
#define QUEUE_LEASE_HORIZON_MS (51 * 3600 * 1000LL)

/* The times a due or lapsed test is made against (wire-format text). */
struct queue_clock {
    const char *now;
    const char *retry_horizon;  /* now + QUEUE_RETRY_HORIZON_MS */
    const char *lease_horizon;  /* now + QUEUE_LEASE_HORIZON_MS */
};

/* A queue_clock with the text it points to (keep it in place: clock points into it). */
struct queue_times {
    char now[24 + 1], retry[24 + 1], lease[24 + 1];
    struct queue_clock clock;
};
/* Fills t for the time now_ms. */
void queue_times_at(int64_t now_ms, struct queue_times *t);

typedef struct queue queue;

/* Wraps an open connection (the caller keeps owning db; path is copied for messages). */
int queue_open(sqlite3 *db, const char *path, queue **ret_q, char *err, size_t errlen);
void queue_close(queue *q);
sqlite3 *queue_db(queue *q);
const char *queue_path(const queue *q);

/* BEGIN IMMEDIATE (the write lock, waiting up to the busy timeout), BEGIN (a read
 * snapshot), COMMIT, ROLLBACK (never fails; harmless outside a transaction). */
int queue_begin(queue *q, char *err, size_t errlen);
int queue_begin_read(queue *q, char *err, size_t errlen);
int queue_commit(queue *q, char *err, size_t errlen);
void queue_rollback(queue *q);

/* ---- appending ---- */

/* One event as stored: every column an events row and a dlq row share. */
struct queue_event {
    const char *uuid;
    const char *name;              /* "anonymizer_event" */
    const char *schema_version;
    const char *session_id;        /* stored as given (a prefix is applied by the caller) */
    const char *client_version;
    const char *cpu_architecture;
    const char *queued_at;         /* the event's ts */
    const char *parameters;        /* the JSON object, exactly as it will be sent */
    const char *bundle;            /* the bundle it was imported from; NULL: none */
};

/* Inserts ev as a new pending row. ret_dup NULL: a uuid the spool already holds is an
 * error. ret_dup given: an event whose uuid is already in events or dlq is skipped and
 * *ret_dup set to 1 (else 0), so a resend stores nothing twice. */
int queue_append(queue *q, const struct queue_event *ev, int *ret_dup, char *err,
                 size_t errlen);

/* ---- claiming (the shipper) ---- */

/* Rows a run must not take again: a temporary table of this connection. */
int queue_seen_init(queue *q, char *err, size_t errlen);
int queue_mark_seen(queue *q, int64_t id, char *err, size_t errlen);

/* What is due: pending rows under QUEUE_DUE (any pending row when flush_now), and
 * sending rows whose lease has lapsed; none already seen. Never an exported row. */
struct queue_due {
    struct queue_clock clock;
    int flush_now;
};

/* The id of the oldest due row above after_id into *ret_id; 0 when there is none. */
int queue_next_due(queue *q, const struct queue_due *due, int64_t after_id, int64_t *ret_id,
                   char *err, size_t errlen);

/* The envelope fields of row id (session_id, client_version, schema_version,
 * cpu_architecture), malloc'd into hdr[0..3] (the caller frees them). */
int queue_envelope_fields(queue *q, int64_t id, char *hdr[4], char *err, size_t errlen);

/* A due row as the shipper reads it; the strings are valid during the callback only. */
struct queue_due_row {
    int64_t id;
    const char *uuid;
    int retry_count;
    const char *queued_at;
    const char *parameters;
    const char *name;
};
typedef int (*queue_row_fn)(void *ctx, const struct queue_due_row *row);

/* Calls fn for the due rows of the envelope hdr with id >= from_id, in id order, at most
 * limit of them (pending and lapsed rows merged). fn returning non-zero stops it with
 * ANON_ENOMEM. */
int queue_due_rows(queue *q, const struct queue_due *due, const char *const hdr[4],
                   int64_t from_id, int limit, queue_row_fn fn, void *ctx, char *err,
                   size_t errlen);
/* The same two for bundle create --reexport: exported rows are taken too, grouped and
 * ordered with the due ones. (Only these take exported rows: a delivery run, which
 * calls the two above, never can.) */
int queue_next_exportable(queue *q, const struct queue_due *due, int64_t after_id,
                          int64_t *ret_id, char *err, size_t errlen);
int queue_exportable_rows(queue *q, const struct queue_due *due, const char *const hdr[4],
                          int64_t from_id, int limit, queue_row_fn fn, void *ctx, char *err,
                          size_t errlen);

/* pending -> sending, leased until lease_until. */
int queue_claim(queue *q, int64_t id, const char *lease_until, char *err, size_t errlen);
/* A claimed row keeps its lease longer (a split batch's halves are still in flight). */
int queue_extend_lease(queue *q, int64_t id, const char *lease_until, char *err,
                       size_t errlen);
/* sending -> pending, nothing spent (offline, run stopped). */
int queue_release(queue *q, int64_t id, char *err, size_t errlen);

/* ---- settling ---- */

int queue_mark_sent(queue *q, int64_t id, const char *sent_at, char *err, size_t errlen);
/* -> pending with retry_count, due again at next_attempt_at, last_error recorded. */
int queue_retry(queue *q, int64_t id, int retry_count, const char *next_attempt_at,
                const char *last_error, char *err, size_t errlen);
/* events -> dlq (keeping the id), with retry_count, last_error, moved_at and reason. */
int queue_dead(queue *q, int64_t id, int retry_count, const char *last_error,
               const char *moved_at, const char *reason, char *err, size_t errlen);

/* ---- housekeeping ---- */

/* Pending (and lapsed) events queued before cutoff -> dlq with reason; count in *ret_n.
 * Never an event queued before floor: its ts came from a wrong clock, not from age. */
int queue_expire(queue *q, const struct queue_clock *clock, const char *cutoff,
                 const char *floor, const char *reason, long *ret_n, char *err,
                 size_t errlen);
/* Deletes sent rows sent before cutoff; count in *ret_n. A bundle's sent rows wait for
 * its receipt: on the spool that imported it, until a receipt made after they were sent;
 * on the one that made it, until every event of it is settled (so that a receipt
 * applied again still finds them). */
int queue_prune_sent(queue *q, const char *cutoff, long *ret_n, char *err, size_t errlen);

/* One shipper run, for the runs table (the last QUEUE_RUNS_KEPT are kept). */
#define QUEUE_RUNS_KEPT 1000
struct queue_run {
    const char *started_at;
    const char *finished_at;
    int exit_code;
    long sent, retried, dead;
    const char *summary;
};
int queue_record_run(queue *q, const struct queue_run *run, char *err, size_t errlen);

/* ---- counting ---- */

struct queue_counts {
    int64_t status[QUEUE_NSTATUS];  /* rows per status */
    int64_t dlq;                    /* dead letters */
    int64_t due_now;                /* pending and due */
    int64_t lease_lapsed;           /* sending with a lapsed lease */
    int64_t clock_moved;            /* next attempts or leases beyond their horizon */
    int64_t implausible_ts;         /* events whose ts is before floor or after a day from now */
};
/* Counts at clock's times; floor: the earliest plausible ts (the caller opens a read
 * transaction for one snapshot of several reads). */
int queue_count(queue *q, const struct queue_clock *clock, const char *floor,
                struct queue_counts *ret, char *err, size_t errlen);

/* Pending rows whose next attempt, and sending rows whose lease, lies beyond clock's
 * horizons (set by a clock that has since moved back). */
int queue_count_clock_moved(queue *q, const struct queue_clock *clock, long *ret_n,
                            char *err, size_t errlen);

/* For tests: calls fn with the name of each statement that claims rows and each line of
 * its EXPLAIN QUERY PLAN. */
int queue_explain_claims(queue *q, void (*fn)(void *ctx, const char *stmt, const char *line),
                         void *ctx, char *err, size_t errlen);
/* Pending and sending rows, and the earliest next attempt ("" when none) into next. */
int queue_unfinished(queue *q, long *ret_n, char *next, size_t nextlen, char *err,
                     size_t errlen);

/* ---- the dlq (operator commands) ---- */

/* *ret_has = 1 when id is a dead letter. */
int queue_dlq_has(queue *q, int64_t id, int *ret_has, char *err, size_t errlen);
/* Every dead letter's id, ascending, into a malloc'd array (free()). */
int queue_dlq_ids(queue *q, int64_t **ret_ids, size_t *ret_n, char *err, size_t errlen);
/* dlq -> events as pending with retry_count 0, keeping its id unless events has it
 * already (then a new id); the id it has now in *ret_new_id. */
int queue_requeue(queue *q, int64_t id, int64_t *ret_new_id, char *err, size_t errlen);
/* Deletes dead letter id (*ret_n: 1, or 0 when it was not there). */
int queue_purge(queue *q, int64_t id, long *ret_n, char *err, size_t errlen);

/* ---- bundles and receipts (anon-telemetry-ship bundle / receipt) ---- */

#define QUEUE_SPOOL_ID_LEN 32
/* The spool's spool_id (32 hex digits, made when the spool was). */
int queue_spool_id(queue *q, char out[QUEUE_SPOOL_ID_LEN + 1], char *err, size_t errlen);

/* A bundles row: its direction, and its receipt state (schema/spool.sql says each). */
#define QUEUE_BUNDLE_MADE       "made"
#define QUEUE_BUNDLE_IMPORTED   "imported"
#define QUEUE_BUNDLE_WRITING    "writing"
#define QUEUE_BUNDLE_AWAITING   "awaiting"
#define QUEUE_BUNDLE_PARTIAL    "partial"
#define QUEUE_BUNDLE_COMPLETE   "complete"
#define QUEUE_BUNDLE_REEXPORTED "reexported"
#define QUEUE_BUNDLE_NONE       "none"
#define QUEUE_BUNDLE_DUE        "due"
#define QUEUE_BUNDLE_ISSUED     "issued"

struct queue_bundle {
    const char *id;
    const char *direction;
    const char *spool_id;        /* the spool that made it */
    const char *created_at;
    const char *recorded_at;
    int64_t events;
    int64_t duplicates;
    const char *file;
    const char *receipt;
    const char *receipt_at;      /* NULL: none yet */
    int64_t exported;            /* read only: its events still exported here */
};
typedef int (*queue_bundle_fn)(void *ctx, const struct queue_bundle *b);

/* Records a bundle; *ret_existed 1 (and nothing changed) when its id is there already. */
int queue_bundle_add(queue *q, const struct queue_bundle *b, int *ret_existed, char *err,
                     size_t errlen);
/* Sets a bundle's event count (events < 0: kept), receipt state and receipt time (NULL:
 * kept). */
int queue_bundle_set(queue *q, const char *id, int64_t events, const char *receipt,
                     const char *receipt_at, char *err, size_t errlen);
/* Forgets a bundle made here whose file was never made (state 'writing' only). */
int queue_bundle_remove(queue *q, const char *id, char *err, size_t errlen);
/* Calls fn for each bundle (id NULL: all; direction NULL: both), oldest first; the
 * strings are valid during the call. fn returning non-zero stops it with ANON_ENOMEM. */
int queue_bundles_each(queue *q, const char *id, const char *direction, queue_bundle_fn fn,
                       void *ctx, char *err, size_t errlen);

/* bundle create: how many rows it takes (pending, lapsed sending, and exported when
 * reexport), in the caller's read snapshot. */
int queue_count_exportable(queue *q, const struct queue_clock *clock, int reexport,
                           int64_t *ret_n, char *err, size_t errlen);
/* After the bundle's file got its name: of the rows marked seen (queue_mark_seen) with
 * id > after_id, the first limit become 'exported' with the bundle's id (or 'sent' at
 * sent_at, for --forget) when they are still what was read (pending, lapsed sending,
 * exported for a reexport). The last id looked at in *ret_last_id (0: none left), rows
 * changed in *ret_n. */
int queue_export_seen(queue *q, const char *bundle, const struct queue_clock *clock,
                      int reexport, const char *sent_at, int64_t after_id, int limit,
                      int64_t *ret_last_id, long *ret_n, char *err, size_t errlen);
/* After a reexport: bundles made here (but bundle) whose events all went into a later
 * one become 'reexported'. */
int queue_bundles_superseded(queue *q, const char *bundle, long *ret_n, char *err,
                             size_t errlen);

/* receipt create: each event of an imported bundle, events rows then dead letters, in
 * id order; the strings are valid during the call. */
enum { QUEUE_FATE_SENT, QUEUE_FATE_DLQ, QUEUE_FATE_PENDING };
struct queue_fate {
    const char *uuid;
    int state;                   /* QUEUE_FATE_*: pending, sending, exported are pending */
    const char *sent_at;
    const char *reason;
};
typedef int (*queue_fate_fn)(void *ctx, const struct queue_fate *f);
int queue_bundle_fates(queue *q, const char *bundle, queue_fate_fn fn, void *ctx, char *err,
                       size_t errlen);
int queue_bundle_fate_count(queue *q, const char *bundle, int64_t *ret_n, char *err,
                            size_t errlen);

/* receipt apply, for one event: only an 'exported' row changes (-> sent at sent_at, or
 * -> dlq with reason). *ret_outcome: QUEUE_RCPT_CHANGED, QUEUE_RCPT_UNCHANGED (held
 * here in another state), QUEUE_RCPT_UNKNOWN (in neither events nor dlq). */
enum { QUEUE_RCPT_CHANGED, QUEUE_RCPT_UNCHANGED, QUEUE_RCPT_UNKNOWN };
int queue_receipt_sent(queue *q, const char *uuid, const char *sent_at, int *ret_outcome,
                       char *err, size_t errlen);
int queue_receipt_dead(queue *q, const char *uuid, const char *moved_at, const char *reason,
                       int *ret_outcome, char *err, size_t errlen);
int queue_receipt_pending(queue *q, const char *uuid, int *ret_outcome, char *err,
                          size_t errlen);
/* After a receipt: a bundle made here is 'complete' when none of its events is exported
 * any more, else 'partial' (only from 'writing', 'awaiting' or 'partial'); its state
 * now into state. */
int queue_bundle_settle(queue *q, const char *bundle, const char *now, char *state,
                        size_t statelen, char *err, size_t errlen);

/* The two open states status and the metrics report: 1 when a bundle made here still
 * waits for a receipt (awaiting, partial, or writing with events marked: a writer that
 * died before marking any awaits nothing); 1 when a bundle imported here has had no
 * receipt made yet. */
int queue_bundle_awaits_receipt(const struct queue_bundle *b);
int queue_bundle_receipt_due(const struct queue_bundle *b);

/* ---- monitoring (anon-telemetry-ship metrics; the caller opens a read transaction for
 * one snapshot of several reads) ---- */

/* Calls fn for each reason of the dlq with its number of dead letters, most common
 * first; fn returning non-zero stops it with ANON_ENOMEM. */
typedef int (*queue_reason_fn)(void *ctx, const char *reason, int64_t n);
int queue_dlq_reasons(queue *q, queue_reason_fn fn, void *ctx, char *err, size_t errlen);
/* The queued_at of the oldest pending event into ts ("" when none is pending). */
int queue_oldest_pending(queue *q, char *ts, size_t tslen, char *err, size_t errlen);

/* The last row of the runs table. */
struct queue_last_run {
    int64_t id;                   /* 0: no run recorded yet (the rest is zero) */
    char started_at[24 + 1];
    char finished_at[24 + 1];     /* "" when not recorded */
    int exit_code;                /* -1 when not recorded */
    int64_t sent, retried, dead;
};
int queue_last_run(queue *q, struct queue_last_run *ret, char *err, size_t errlen);

#endif
