/*
 * sneakernet.c: bundle create, verify, import; receipt create, apply (sneakernet.h).
 *
 * The order of things is what makes each command safe to kill at any moment:
 *
 *   bundle create   the bundle's row is recorded ('writing'); the pending events are
 *                   read in one snapshot, grouped as the shipper groups batches, and
 *                   written to a temporary file that is synced and renamed (sealed.c);
 *                   only then do they become 'exported' (or 'sent' with --forget), in
 *                   short transactions so that writers never wait long. Killed before
 *                   the rename: no file, nothing changed. Killed after it: the file is
 *                   whole and the events not yet marked are still pending, so the next
 *                   bundle takes them again and an import stores each event once.
 *   bundle import   one transaction per file, committed only after the last line, the
 *                   signature and the checksum were checked: a file is stored whole or
 *                   not at all.
 *   receipt create  like bundle create: the file first, then the bundles are marked.
 *   receipt apply   one transaction for the whole file, after every check.
 *
 * bundle create holds the shipper's lock (<spool>.lock) for its whole run, so no delivery
 * run claims an event while it is being exported.
 */
#include "sneakernet.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "bundle.h"
#include "commands.h"
#include "envelope.h"
#include "internal.h"
#include "queue.h"
#include "sealed.h"
#include "spoollock.h"

#define MARK_CHUNK   10000        /* rows marked exported per transaction */
#define BATCH_MAX    10000        /* --batch-size, as for the delivery run */

/* ------------------------------------------------------------------ helpers */

/* Prints "anon-telemetry-ship CMD: msg" and returns the exit status for status. */
static int say_fail(const char *cmd, int status, const char *msg)
{
    fprintf(stderr, SHIP_PROG " %s: %s\n", cmd, msg);
    return anon_status_exit_code(status);
}

/* Loads the key of option id (NULL when not given). 0, or the exit status after saying
 * why: 77 a key others may read, 78 one that cannot be used. */
static int load_key(cli_result *r, int id, const char *cmd, sealed_key **ret_key)
{
    char err[ANON_ERRLEN];
    int st;

    *ret_key = NULL;
    if (!cli_has(r, id))
        return 0;
    st = sealed_key_load(cli_value(r, id), ret_key, err, sizeof err);
    if (st == ANON_OK)
        return 0;
    fprintf(stderr, SHIP_PROG " %s: %s\n", cmd, err);
    return st == ANON_EPERM ? EX_NOPERM : st == ANON_ENOMEM ? EX_OSERR : EX_CONFIG;
}

struct spool_at {
    char path[4096];
    anon_spool *sp;
    queue *q;
    char id[BUNDLE_SPOOL_ID_LEN + 1];
};

/* Opens the spool of the command line (creating it only when create is set) and reads
 * its spool_id. 0, or the exit status after saying why. */
static int open_spool(cli_result *r, const char *cmd, int create, struct spool_at *s)
{
    char err[ANON_ERRLEN];
    struct stat st;
    int rc;

    memset(s, 0, sizeof *s);
    if ((rc = commands_spool_path(r, s->path, sizeof s->path, err, sizeof err)) != ANON_OK)
        return say_fail(cmd, rc, err);
    if (!create && stat(s->path, &st) != 0) {
        fprintf(stderr, SHIP_PROG " %s: spool %s %s\n", cmd, s->path,
                errno == ENOENT ? "does not exist (nothing has been queued there)"
                                : strerror(errno));
        return EX_IOERR;
    }
    rc = anon_spool_open_ex(s->path, create ? 0 : ANON_OPEN_NO_CREATE, &s->sp, err, sizeof err);
    if (rc != ANON_OK)
        return say_fail(cmd, rc, err);
    s->q = anon_spool_queue(s->sp);
    if ((rc = queue_spool_id(s->q, s->id, err, sizeof err)) != ANON_OK) {
        anon_spool_close(s->sp);
        s->sp = NULL;
        return say_fail(cmd, rc, err);
    }
    return 0;
}

/* A transaction of a whole bundle or receipt touches far more pages than SQLite's
 * default cache (2 MiB) holds, and every page it has to drop mid-transaction is written
 * to the WAL and read back: a fixed 16 MiB makes a big import a fifth faster, and a
 * small one fills it too, so memory stays the same whatever the file's size. */
#define BULK_CACHE_PRAGMA "PRAGMA cache_size = -16384"

static void bulk_cache(struct spool_at *s)
{
    sqlite3_exec(anon_spool_db(s->sp), BULK_CACHE_PRAGMA, NULL, NULL, NULL);
}

/* The shipper's lock (spoollock.h): a delivery run and a bundle never work on one spool
 * at once. 0, or the exit status after saying why. */
static int take_lock(const char *path, const char *cmd, struct spoollock *lk)
{
    int rc = spoollock_take(path, lk);

    if (rc == -1) {
        fprintf(stderr,
                SHIP_PROG " %s: another anon-telemetry-ship works on %s (a delivery run or a "
                "bundle); nothing done: try again when it has finished\n",
                cmd, path);
        return EX_TEMPFAIL;
    }
    return rc;
}

static void now_ts(char buf[ANON_TS_LEN + 1])
{
    anon_format_ts(anon_now_ms(), buf);
}

/* ------------------------------------------------------------ bundle create */

/* One batch of rows read for a line. The strings outlive the callback: they are copied
 * into one buffer that every batch reuses (no allocation per row, so a million rows
 * leave the heap as they found it), at offsets, since the buffer may move as it grows. */
enum { B_UUID, B_TS, B_PARAMS, B_NAME, B_NSTR };

struct batch {
    size_t n, cap;
    int64_t *ids;
    size_t *off;               /* B_NSTR offsets into text per row */
    anon_buf text;
};

static void batch_clear(struct batch *b)
{
    b->n = 0;
    anon_buf_reset(&b->text);
}

static void batch_free(struct batch *b)
{
    free(b->ids);
    free(b->off);
    anon_buf_free(&b->text);
    memset(b, 0, sizeof *b);
}

static int batch_alloc(struct batch *b, size_t cap)
{
    memset(b, 0, sizeof *b);
    anon_buf_init(&b->text);
    b->cap = cap;
    b->ids = calloc(cap, sizeof *b->ids);
    b->off = calloc(cap * B_NSTR, sizeof *b->off);
    return b->ids && b->off ? 0 : -1;
}

static const char *batch_str(const struct batch *b, size_t i, int which)
{
    return b->text.data + b->off[i * B_NSTR + which];
}

/* queue_due_rows' callback. */
static int batch_add(void *ctx, const struct queue_due_row *row)
{
    struct batch *b = ctx;
    const char *v[B_NSTR] = {row->uuid, row->queued_at, row->parameters, row->name};
    size_t i = b->n;

    if (i >= b->cap)
        return -1;
    b->ids[i] = row->id;
    for (int k = 0; k < B_NSTR; k++) {
        b->off[i * B_NSTR + k] = b->text.len;
        anon_buf_append(&b->text, v[k], strlen(v[k]) + 1);
    }
    b->n++;
    return b->text.oom ? -1 : 0;
}

struct create {
    cli_result *r;
    const char *file;
    long max_events, batch_size;
    int reexport, forget;
    sealed_key *key;
    struct spool_at s;
    sealed_writer *w;
    struct queue_times t;
    bundle_uuid bundle;
    char created_at[ANON_TS_LEN + 1];
    int64_t want, taken, envelopes;
    int row_added;
};

/* Reads the events in one snapshot and writes them, marking each row seen. */
static int create_write(struct create *c, char *err, size_t errlen)
{
    /* every pending event, due or not (flush_now), and for a reexport the exported ones */
    struct queue_due due = {.clock = c->t.clock, .flush_now = 1};
    struct bundle_header h;
    struct batch b;
    anon_buf line;
    char *hdr[4] = {NULL, NULL, NULL, NULL};
    struct envelope_event *evs = NULL;
    const char **uuids = NULL;
    int64_t cursor = 0, pick, eligible;
    int rc;

    anon_buf_init(&line);
    if (batch_alloc(&b, (size_t)c->batch_size) != 0 ||
        (evs = calloc((size_t)c->batch_size, sizeof *evs)) == NULL ||
        (uuids = calloc((size_t)c->batch_size, sizeof *uuids)) == NULL) {
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = queue_seen_init(c->s.q, err, errlen)) != ANON_OK ||
        (rc = queue_begin_read(c->s.q, err, errlen)) != ANON_OK)
        goto out;
    /* the header announces the count: the events the grouping below will take */
    if ((rc = queue_count_exportable(c->s.q, &c->t.clock, c->reexport, &eligible, err,
                                     errlen)) != ANON_OK)
        goto out;
    c->want = c->max_events > 0 && eligible > c->max_events ? c->max_events : eligible;
    memset(&h, 0, sizeof h);
    memcpy(h.bundle, c->bundle, sizeof h.bundle);
    memcpy(h.spool, c->s.id, sizeof h.spool);
    memcpy(h.created_at, c->created_at, sizeof h.created_at);
    h.events = c->want;
    bundle_header_write(&line, &h);
    if (line.oom) {
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sealed_put(c->w, line.data, line.len, err, errlen)) != ANON_OK)
        goto out;

    /* as the shipper claims batches: the oldest row, then the rows of its envelope */
    while (c->taken < c->want) {
        int64_t left = c->want - c->taken;
        struct envelope_hdr eh;

        rc = c->reexport ? queue_next_exportable(c->s.q, &due, cursor, &pick, err, errlen)
                         : queue_next_due(c->s.q, &due, cursor, &pick, err, errlen);
        if (rc != ANON_OK)
            goto out;
        if (pick == 0)
            break;
        for (int i = 0; i < 4; i++) {
            free(hdr[i]);
            hdr[i] = NULL;
        }
        if ((rc = queue_envelope_fields(c->s.q, pick, hdr, err, errlen)) != ANON_OK)
            goto out;
        batch_clear(&b);
        rc = (c->reexport ? queue_exportable_rows : queue_due_rows)(
            c->s.q, &due, (const char *const *)hdr, pick,
            left < c->batch_size ? (int)left : (int)c->batch_size, batch_add, &b, err, errlen);
        if (rc != ANON_OK)
            goto out;
        cursor = pick;
        if (b.n == 0)
            continue;
        for (size_t i = 0; i < b.n; i++) {
            if ((rc = queue_mark_seen(c->s.q, b.ids[i], err, errlen)) != ANON_OK)
                goto out;
            evs[i].name = batch_str(&b, i, B_NAME);
            evs[i].queued_at = batch_str(&b, i, B_TS);
            evs[i].parameters = batch_str(&b, i, B_PARAMS);
            uuids[i] = batch_str(&b, i, B_UUID);
        }
        eh = (struct envelope_hdr){hdr[0], hdr[1], hdr[2], hdr[3]};
        anon_buf_reset(&line);
        if (bundle_line_write(&line, uuids, &eh, evs, b.n) != 0) {
            rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = sealed_put(c->w, line.data, line.len, err, errlen)) != ANON_OK)
            goto out;
        c->taken += (int64_t)b.n;
        c->envelopes++;
    }
    if (c->taken != c->want)
        rc = anon_seterr(err, errlen, ANON_EIO,
                         "spool %s: counted %lld events to export but read %lld (a bug)",
                         c->s.path, (long long)c->want, (long long)c->taken);
out:
    /* ends the read snapshot; committed, since the rows marked seen (a temporary table,
     * written in this transaction) say what create_mark may mark */
    if (rc == ANON_OK)
        rc = queue_commit(c->s.q, err, errlen);
    queue_rollback(c->s.q);
    for (int i = 0; i < 4; i++)
        free(hdr[i]);
    batch_free(&b);
    free(evs);
    free(uuids);
    anon_buf_free(&line);
    return rc;
}

/* After the rename: the rows become exported (or sent), a chunk per transaction. */
static int create_mark(struct create *c, long *ret_marked, char *err, size_t errlen)
{
    char sent_at[ANON_TS_LEN + 1];
    int64_t after = 0, last;
    long n;
    int rc;

    *ret_marked = 0;
    now_ts(sent_at);
    for (;;) {
        if ((rc = queue_begin(c->s.q, err, errlen)) != ANON_OK)
            return rc;
        rc = queue_export_seen(c->s.q, c->bundle, &c->t.clock, c->reexport,
                               c->forget ? sent_at : NULL, after, MARK_CHUNK, &last, &n, err,
                               errlen);
        if (rc == ANON_OK)
            rc = queue_commit(c->s.q, err, errlen);
        if (rc != ANON_OK) {
            queue_rollback(c->s.q);
            return rc;
        }
        *ret_marked += n;
        if (last == 0)
            break;
        after = last;
    }
    if ((rc = queue_begin(c->s.q, err, errlen)) != ANON_OK)
        return rc;
    rc = queue_bundle_set(c->s.q, c->bundle, c->taken,
                          c->forget       ? QUEUE_BUNDLE_NONE
                          : c->taken == 0 ? QUEUE_BUNDLE_COMPLETE
                                          : QUEUE_BUNDLE_AWAITING,
                          NULL, err, errlen);
    if (rc == ANON_OK && c->reexport) {
        long superseded;

        rc = queue_bundles_superseded(c->s.q, c->bundle, &superseded, err, errlen);
    }
    if (rc == ANON_OK)
        rc = queue_commit(c->s.q, err, errlen);
    if (rc != ANON_OK)
        queue_rollback(c->s.q);
    return rc;
}

/* Records the bundle ('writing') before its file exists, so that a receipt for a file
 * that got its name just before a crash is still recognised as ours. */
static int create_record(struct create *c, char *err, size_t errlen)
{
    struct queue_bundle b = {
        .id = c->bundle,
        .direction = QUEUE_BUNDLE_MADE,
        .spool_id = c->s.id,
        .created_at = c->created_at,
        .recorded_at = c->created_at,
        .file = c->file,
        .receipt = QUEUE_BUNDLE_WRITING,
    };
    int existed = 0, rc;

    if ((rc = queue_begin(c->s.q, err, errlen)) != ANON_OK)
        return rc;
    rc = queue_bundle_add(c->s.q, &b, &existed, err, errlen);
    if (rc == ANON_OK && existed)
        rc = anon_seterr(err, errlen, ANON_EIO, "bundle id %s is taken (a bug)", c->bundle);
    if (rc == ANON_OK)
        rc = queue_commit(c->s.q, err, errlen);
    if (rc != ANON_OK)
        queue_rollback(c->s.q);
    else
        c->row_added = 1;
    return rc;
}

/* A bundle whose file was never made leaves no row behind. */
static void create_unrecord(struct create *c)
{
    char err[ANON_ERRLEN];

    if (!c->row_added)
        return;
    if (queue_begin(c->s.q, err, sizeof err) == ANON_OK &&
        queue_bundle_remove(c->s.q, c->bundle, err, sizeof err) == ANON_OK &&
        queue_commit(c->s.q, err, sizeof err) == ANON_OK)
        return;
    queue_rollback(c->s.q);
}

int sneakernet_cmd_bundle_create(cli_result *r)
{
    const char *cmd = "bundle create";
    struct create c;
    char err[ANON_ERRLEN];
    struct spoollock lock = {.fd = -1};
    long marked = 0;
    int ret, rc;

    memset(&c, 0, sizeof c);
    c.r = r;
    c.file = r->args[0];
    c.batch_size = 50;
    if (cli_long(r, OPT_MAX_EVENTS, 1, 1000000000000L, &c.max_events) != 0 ||
        cli_long(r, OPT_BATCH, 1, BATCH_MAX, &c.batch_size) != 0)
        return cli_finish(CLI_USAGE, r);
    c.reexport = cli_has(r, OPT_REEXPORT);
    c.forget = cli_has(r, OPT_FORGET);
    if ((ret = load_key(r, OPT_SIGN, cmd, &c.key)) != 0)
        return ret;
    if ((ret = open_spool(r, cmd, 0, &c.s)) != 0)
        goto out;
    if ((ret = take_lock(c.s.path, cmd, &lock)) != 0)
        goto out;
    bulk_cache(&c.s);
    if (anon_uuid_v4(c.bundle) != 0) {
        ret = say_fail(cmd, ANON_EIO, "cannot read random bytes for a bundle id");
        goto out;
    }
    queue_times_at(anon_now_ms(), &c.t);
    memcpy(c.created_at, c.t.now, sizeof c.created_at);

    /* the name is checked before anything is recorded: an existing file is exit 73 */
    if ((rc = sealed_create(c.file, c.key, &c.w, err, sizeof err)) != ANON_OK ||
        (rc = create_record(&c, err, sizeof err)) != ANON_OK ||
        (rc = create_write(&c, err, sizeof err)) != ANON_OK) {
        ret = say_fail(cmd, rc, err);
        goto out;
    }
    rc = sealed_finish(c.w, err, sizeof err);
    c.w = NULL;
    if (rc != ANON_OK) {
        ret = say_fail(cmd, rc, err);
        goto out;
    }
    c.row_added = 0;   /* the file exists: the row stays, whatever happens next */
    if ((rc = create_mark(&c, &marked, err, sizeof err)) != ANON_OK) {
        fprintf(stderr,
                SHIP_PROG " %s: %s is complete, but marking its events failed: %s; the events "
                "not marked stay pending and go into the next bundle too (an import stores "
                "each event once)\n",
                cmd, c.file, err);
        ret = anon_status_exit_code(rc);
        goto out;
    }
    printf("%s: bundle %s, %lld event%s in %lld envelope%s%s, from spool %s\n", c.file, c.bundle,
           (long long)c.taken, c.taken == 1 ? "" : "s", (long long)c.envelopes,
           c.envelopes == 1 ? "" : "s", c.key != NULL ? ", signed" : "", c.s.id);
    if (c.taken == 0)
        printf("nothing was pending: the bundle holds no events\n");
    else if (c.forget)
        printf("%ld event%s marked sent (--forget: no receipt is expected)\n", marked,
               marked == 1 ? "" : "s");
    else
        printf("%ld event%s now exported: this host will not send them; apply the receipt "
               "that comes back with '" SHIP_PROG " receipt apply FILE'\n",
               marked, marked == 1 ? "" : "s");
    if (marked < c.taken)
        printf("%lld event%s changed state while the bundle was written and %s left as %s "
               "(an import stores each event once)\n",
               (long long)(c.taken - marked), c.taken - marked == 1 ? "" : "s",
               c.taken - marked == 1 ? "was" : "were", c.taken - marked == 1 ? "it was" : "they were");
    ret = fflush(stdout) == 0 ? EX_OK : EX_IOERR;
out:
    sealed_abort(c.w);
    create_unrecord(&c);
    anon_spool_close(c.s.sp);
    spoollock_release(&lock, 0);
    sealed_key_free(c.key);
    return ret;
}

/* ------------------------------------------------------------ bundle verify */

struct verify {
    char oldest[ANON_TS_LEN + 1], newest[ANON_TS_LEN + 1];
};

static int verify_line(void *ctx, long lineno, struct bundle_line *l, char *err,
                       size_t errlen)
{
    struct verify *v = ctx;

    (void)lineno;
    (void)err;
    (void)errlen;
    for (size_t i = 0; i < l->n; i++) {
        const char *ts = l->recs[i].ts;

        if (v->oldest[0] == '\0' || strcmp(ts, v->oldest) < 0)
            snprintf(v->oldest, sizeof v->oldest, "%s", ts);
        if (v->newest[0] == '\0' || strcmp(ts, v->newest) > 0)
            snprintf(v->newest, sizeof v->newest, "%s", ts);
    }
    return ANON_OK;
}

int sneakernet_cmd_bundle_verify(cli_result *r)
{
    const char *cmd = "bundle verify";
    struct verify v;
    struct bundle_visitor vis = {&v, NULL, verify_line};
    struct bundle_summary sum;
    sealed_reader *rd = NULL;
    sealed_key *key = NULL;
    char err[ANON_ERRLEN];
    int ret, rc;

    memset(&v, 0, sizeof v);
    if ((ret = load_key(r, OPT_VERIFY_KEY, cmd, &key)) != 0)
        return ret;
    if ((rc = sealed_open(r->args[0], key, &rd, err, sizeof err)) != ANON_OK ||
        (rc = bundle_read(rd, &vis, &sum, err, sizeof err)) != ANON_OK) {
        ret = say_fail(cmd, rc, err);
        goto out;
    }
    printf("%s: a valid bundle\n", r->args[0]);
    printf("  bundle       %s\n", sum.header.bundle);
    printf("  from spool   %s\n", sum.header.spool);
    printf("  created at   %s\n", sum.header.created_at);
    printf("  events       %lld in %lld envelope%s\n", (long long)sum.events,
           (long long)sum.envelopes, sum.envelopes == 1 ? "" : "s");
    if (sum.events > 0)
        printf("  queued       %s to %s\n", v.oldest, v.newest);
    printf("  signature    %s%s\n",
           sum.sig_checked ? "good, made with " : sum.is_signed ? "present, not checked (no "
                                                                   "--verify-key)"
                                                 : "none",
           sum.sig_checked ? sealed_key_path(key) : "");
    printf("  sha256       %s\n", sum.sha256);
    ret = fflush(stdout) == 0 ? EX_OK : EX_IOERR;
out:
    sealed_close(rd);
    sealed_key_free(key);
    return ret;
}

/* ------------------------------------------------------------ bundle import */

struct import {
    queue *q;
    const char *own;
    struct bundle_header h;
    int64_t stored, dups;
    int seen_before;                    /* the bundle was imported here already */
    char before_at[ANON_TS_LEN + 1];
    char before_dir[16];
};

static int import_found(void *ctx, const struct queue_bundle *b)
{
    struct import *im = ctx;

    im->seen_before = 1;
    snprintf(im->before_at, sizeof im->before_at, "%s", b->recorded_at);
    snprintf(im->before_dir, sizeof im->before_dir, "%s", b->direction);
    return 0;
}

static int import_header(struct import *im, const struct bundle_header *h, char *err,
                         size_t errlen)
{
    int rc;

    im->h = *h;
    if (strcmp(h->spool, im->own) == 0)
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "line 1: bundle %s was made by this spool (%s): its events are "
                           "here already",
                           h->bundle, im->own);
    if ((rc = queue_bundles_each(im->q, h->bundle, NULL, import_found, im, err, errlen)) !=
        ANON_OK)
        return rc;
    if (im->seen_before && strcmp(im->before_dir, QUEUE_BUNDLE_MADE) == 0)
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "line 1: bundle %s has the id of a bundle this spool made", h->bundle);
    return ANON_OK;
}

static int import_line(struct import *im, const struct bundle_line *l, char *err,
                       size_t errlen)
{
    for (size_t i = 0; i < l->n; i++) {
        const anon_record *rec = &l->recs[i];
        struct queue_event ev = {
            .uuid = rec->uuid,
            .name = rec->name,
            .schema_version = rec->schema_version,
            .session_id = rec->session_id,
            .client_version = rec->client_version,
            .cpu_architecture = rec->cpu_architecture,
            .queued_at = rec->ts,
            .parameters = rec->parameters,
            .bundle = im->h.bundle,
        };
        int dup = 0, rc;

        if ((rc = queue_append(im->q, &ev, &dup, err, errlen)) != ANON_OK)
            return rc;
        if (dup)
            im->dups++;
        else
            im->stored++;
    }
    return ANON_OK;
}

/*
 * Reading and storing overlap: a thread reads the file and checks every line (the JSON,
 * each event as the writer checks it, the checksum), handing the parsed lines over a
 * short queue; this thread stores them. On two cores that hides most of the checking
 * behind SQLite's work. The spool is touched by this thread only; the transaction is
 * committed only once the reader has reached the end of the file with every check
 * passed, and a failure on either side stops both.
 */
#define PIPE_SLOTS 8

struct pipe_item {
    int is_header;
    struct bundle_header h;
    struct bundle_line l;
};

struct pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* anything changed */
    struct pipe_item slot[PIPE_SLOTS];
    size_t head, count;
    int finished;                  /* the reader has returned, with rc */
    int cancel;                    /* the storing side failed: the reader stops */
    int rc;
    char err[ANON_ERRLEN];
    sealed_reader *rd;
    struct bundle_summary sum;
};

static int pipe_put(struct pipe *p, struct pipe_item *it)
{
    int rc = ANON_OK;

    pthread_mutex_lock(&p->mu);
    while (p->count == PIPE_SLOTS && !p->cancel)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->cancel) {
        rc = ANON_EIO;   /* the storing side's error is the one reported */
    } else {
        p->slot[(p->head + p->count) % PIPE_SLOTS] = *it;
        p->count++;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int pipe_header(void *ctx, const struct bundle_header *h, char *err, size_t errlen)
{
    struct pipe_item it = {.is_header = 1, .h = *h};

    (void)err;
    (void)errlen;
    bundle_line_init(&it.l);
    return pipe_put(ctx, &it);
}

static int pipe_line(void *ctx, long lineno, struct bundle_line *l, char *err, size_t errlen)
{
    struct pipe_item it = {.is_header = 0};
    int rc;

    (void)lineno;
    (void)err;
    (void)errlen;
    bundle_line_take(&it.l, l);
    if ((rc = pipe_put(ctx, &it)) != ANON_OK)
        bundle_line_free(&it.l);
    return rc;
}

static void *pipe_reader(void *arg)
{
    struct pipe *p = arg;
    struct bundle_visitor vis = {p, pipe_header, pipe_line};
    int rc = bundle_read(p->rd, &vis, &p->sum, p->err, sizeof p->err);

    pthread_mutex_lock(&p->mu);
    p->rc = rc;
    p->finished = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The next item into *it: 1, or 0 when the reader is done and the queue empty. */
static int pipe_get(struct pipe *p, struct pipe_item *it)
{
    int got = 0;

    pthread_mutex_lock(&p->mu);
    while (p->count == 0 && !p->finished)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->count > 0) {
        *it = p->slot[p->head];
        p->head = (p->head + 1) % PIPE_SLOTS;
        p->count--;
        got = 1;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

/* Reads and stores the whole file (the caller's transaction is open). */
static int import_read(struct import *im, sealed_reader *rd, struct bundle_summary *ret_sum,
                       char *err, size_t errlen)
{
    struct pipe p;
    struct pipe_item it;
    pthread_t reader;
    int rc = ANON_OK;

    memset(&p, 0, sizeof p);
    p.rd = rd;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if (pthread_create(&reader, NULL, pipe_reader, &p) != 0) {
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "cannot start a thread: %s", strerror(errno));
        goto out;
    }
    while (pipe_get(&p, &it)) {
        if (rc == ANON_OK)
            rc = it.is_header ? import_header(im, &it.h, err, errlen)
                              : import_line(im, &it.l, err, errlen);
        bundle_line_free(&it.l);
        if (rc != ANON_OK) {
            pthread_mutex_lock(&p.mu);
            p.cancel = 1;
            pthread_cond_broadcast(&p.cv);
            pthread_mutex_unlock(&p.mu);
        }
    }
    pthread_join(reader, NULL);
    if (rc == ANON_OK && p.rc != ANON_OK)
        rc = anon_seterr(err, errlen, p.rc, "%s", p.err);
    *ret_sum = p.sum;
out:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return rc;
}

/* Imports one file in one transaction. ANON_OK, or a status with err set (nothing kept). */
static int import_file(struct spool_at *s, const char *file, const sealed_key *key,
                       char *err, size_t errlen)
{
    struct import im;
    struct bundle_summary sum;
    sealed_reader *rd = NULL;
    char now[ANON_TS_LEN + 1];
    int existed = 0, rc;

    memset(&im, 0, sizeof im);
    im.q = s->q;
    im.own = s->id;
    now_ts(now);
    if ((rc = sealed_open(file, key, &rd, err, errlen)) != ANON_OK)
        return rc;
    if ((rc = queue_begin(s->q, err, errlen)) != ANON_OK)
        goto out;
    if ((rc = import_read(&im, rd, &sum, err, errlen)) != ANON_OK)
        goto out;
    {
        struct queue_bundle b = {
            .id = sum.header.bundle,
            .direction = QUEUE_BUNDLE_IMPORTED,
            .spool_id = sum.header.spool,
            .created_at = sum.header.created_at,
            .recorded_at = now,
            .events = sum.events,
            .duplicates = im.dups,
            .file = file,
            .receipt = QUEUE_BUNDLE_DUE,
        };
        if ((rc = queue_bundle_add(s->q, &b, &existed, err, errlen)) != ANON_OK)
            goto out;
    }
    if ((rc = queue_commit(s->q, err, errlen)) != ANON_OK)
        goto out;
    printf("%s: bundle %s from spool %s: %lld event%s stored, %lld already here%s%s\n", file,
           sum.header.bundle, sum.header.spool, (long long)im.stored, im.stored == 1 ? "" : "s",
           (long long)im.dups,
           sum.sig_checked ? ", signature good" : sum.is_signed ? ", signed (not checked)" : "",
           im.seen_before ? " (imported here before)" : "");
out:
    queue_rollback(s->q);
    sealed_close(rd);
    return rc;
}

int sneakernet_cmd_bundle_import(cli_result *r)
{
    const char *cmd = "bundle import";
    sealed_key *key = NULL;
    struct spool_at s;
    char err[ANON_ERRLEN];
    int ret, worst = EX_OK;

    if ((ret = load_key(r, OPT_VERIFY_KEY, cmd, &key)) != 0)
        return ret;
    if ((ret = open_spool(r, cmd, 1, &s)) != 0)
        goto out;
    bulk_cache(&s);
    for (int i = 0; i < r->nargs; i++) {
        int rc = import_file(&s, r->args[i], key, err, sizeof err);

        if (rc != ANON_OK) {
            fprintf(stderr, SHIP_PROG " %s: %s\n", cmd, err);
            fprintf(stderr, SHIP_PROG " %s: %s refused: nothing of it was stored\n", cmd,
                    r->args[i]);
            if (worst == EX_OK)
                worst = anon_status_exit_code(rc);
        }
    }
    ret = fflush(stdout) == 0 ? worst : EX_IOERR;
out:
    anon_spool_close(s.sp);
    sealed_key_free(key);
    return ret;
}

/* ------------------------------------------------------------ receipt create */

struct rcreate {
    struct spool_at *s;
    bundle_uuid *ids;
    size_t n, cap;
    char origin[BUNDLE_SPOOL_ID_LEN + 1];
    int mixed;
    const char *only;        /* queue_bundles_each for one id: the id asked for */
    int found;
    sealed_writer *w;
    anon_buf line;
    int64_t count[3];        /* per enum receipt_state */
    const char *bundle;      /* while writing its entries */
    int rc;
    char *err;
    size_t errlen;
};

static int rcreate_add(void *ctx, const struct queue_bundle *b)
{
    struct rcreate *c = ctx;

    c->found = 1;
    if (strcmp(b->direction, QUEUE_BUNDLE_IMPORTED) != 0)
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        bundle_uuid *grown = realloc(c->ids, cap * sizeof *grown);

        if (grown == NULL)
            return -1;
        c->ids = grown;
        c->cap = cap;
    }
    snprintf(c->ids[c->n++], sizeof c->ids[0], "%s", b->id);
    if (c->origin[0] == '\0')
        snprintf(c->origin, sizeof c->origin, "%s", b->spool_id);
    else if (strcmp(c->origin, b->spool_id) != 0)
        c->mixed = 1;
    return 0;
}

static int rcreate_entry(void *ctx, const struct queue_fate *f)
{
    struct rcreate *c = ctx;
    struct receipt_entry e;

    memset(&e, 0, sizeof e);
    snprintf(e.uuid, sizeof e.uuid, "%s", f->uuid);
    snprintf(e.bundle, sizeof e.bundle, "%s", c->bundle);
    e.state = f->state == QUEUE_FATE_SENT  ? RECEIPT_SENT
              : f->state == QUEUE_FATE_DLQ ? RECEIPT_DLQ
                                           : RECEIPT_PENDING;
    if (e.state == RECEIPT_SENT)
        snprintf(e.sent_at, sizeof e.sent_at, "%s", f->sent_at);
    else if (e.state == RECEIPT_DLQ)
        receipt_reason_clean(f->reason, e.reason);
    anon_buf_reset(&c->line);
    receipt_entry_write(&c->line, &e);
    if (c->line.oom) {
        c->rc = anon_seterr(c->err, c->errlen, ANON_ENOMEM, "out of memory");
        return -1;
    }
    if ((c->rc = sealed_put(c->w, c->line.data, c->line.len, c->err, c->errlen)) != ANON_OK)
        return -1;
    c->count[e.state]++;
    return 0;
}

/* The bundles the receipt covers into c->ids (all imported ones, or those named). 0, or
 * the exit status after saying why. */
static int rcreate_bundles(cli_result *r, struct rcreate *c, const char *cmd)
{
    char err[ANON_ERRLEN], q[160];
    const char *given = cli_value(r, OPT_BUNDLE);
    int rc;

    if (r->nargs > 1 && given == NULL)
        return cli_usage_error(r, "%s: one FILE; the bundle ids go after --bundle", cmd);
    if (r->count[OPT_BUNDLE] > 1)
        return cli_usage_error(r, "%s: give the bundle ids after one --bundle (--bundle ID ID "
                               "... or --bundle ID,ID)", cmd);
    if (given == NULL) {
        rc = queue_bundles_each(c->s->q, NULL, QUEUE_BUNDLE_IMPORTED, rcreate_add, c, err,
                                sizeof err);
        if (rc != ANON_OK)
            return say_fail(cmd, rc, err);
        if (c->n == 0) {
            fprintf(stderr, SHIP_PROG " %s: no bundle was imported into %s: there is nothing "
                    "to make a receipt for\n", cmd, c->s->path);
            return EX_NOINPUT;
        }
    } else {
        /* the ids: --bundle's value (commas allowed), then the arguments after FILE */
        for (int k = 0; k < r->nargs; k++) {
            const char *p = k == 0 ? given : r->args[k];

            while (*p != '\0') {
                size_t len = strcspn(p, ",");
                char id[ANON_UUID_LEN + 2];

                if (len == 0 || len > ANON_UUID_LEN) {
                    snprintf(id, sizeof id, "%.*s", (int)(len > ANON_UUID_LEN ? ANON_UUID_LEN : len), p);
                    return cli_usage_error(r, "%s: %s is not a bundle id (a uuid)", cmd,
                                           cli_quote(len == 0 ? "" : id, q, sizeof q));
                }
                memcpy(id, p, len);
                id[len] = '\0';
                if (bundle_uuid_check(id) != 0)
                    return cli_usage_error(r, "%s: %s is not a bundle id (a uuid in lower case)",
                                           cmd, cli_quote(id, q, sizeof q));
                c->found = 0;
                size_t before = c->n;
                rc = queue_bundles_each(c->s->q, id, NULL, rcreate_add, c, err, sizeof err);
                if (rc != ANON_OK)
                    return say_fail(cmd, rc, err);
                if (c->n == before) {
                    fprintf(stderr, SHIP_PROG " %s: bundle %s was not imported into %s%s\n",
                            cmd, id, c->s->path,
                            c->found ? " (this spool made it: receipts are made where a "
                                       "bundle was imported)" : "");
                    return EX_DATAERR;
                }
                p += len;
                if (*p == ',')
                    p++;
            }
        }
    }
    if (c->mixed) {
        fprintf(stderr, SHIP_PROG " %s: the bundles came from more than one spool; a receipt "
                "goes back to one: name the bundles of one spool with --bundle (see status)\n",
                cmd);
        return EX_USAGE;
    }
    return 0;
}

int sneakernet_cmd_receipt_create(cli_result *r)
{
    const char *cmd = "receipt create";
    const char *file = r->args[0];
    struct rcreate c;
    struct receipt_header h;
    struct spool_at s;
    char err[ANON_ERRLEN], now[ANON_TS_LEN + 1];
    int64_t total = 0;
    int ret, rc;

    memset(&c, 0, sizeof c);
    memset(&h, 0, sizeof h);
    anon_buf_init(&c.line);
    c.s = &s;
    c.err = err;
    c.errlen = sizeof err;
    if ((ret = open_spool(r, cmd, 0, &s)) != 0)
        return ret;
    if ((ret = rcreate_bundles(r, &c, cmd)) != 0)
        goto out;
    /* the receipt tells the fate as of now: a row sent later is newer than the receipt
     * (and the pruning of sent rows waits for a receipt newer than them) */
    now_ts(now);
    if ((rc = sealed_create(file, NULL, &c.w, err, sizeof err)) != ANON_OK ||
        (rc = queue_begin_read(s.q, err, sizeof err)) != ANON_OK) {
        ret = say_fail(cmd, rc, err);
        goto out;
    }
    for (size_t i = 0; i < c.n; i++) {
        int64_t n;

        if ((rc = queue_bundle_fate_count(s.q, c.ids[i], &n, err, sizeof err)) != ANON_OK) {
            ret = say_fail(cmd, rc, err);
            goto out;
        }
        total += n;
    }
    if (anon_uuid_v4(h.receipt) != 0) {
        ret = say_fail(cmd, ANON_EIO, "cannot read random bytes for a receipt id");
        goto out;
    }
    memcpy(h.spool, c.origin, sizeof h.spool);
    memcpy(h.from, s.id, sizeof h.from);
    memcpy(h.created_at, now, sizeof h.created_at);
    h.bundles = c.ids;
    h.nbundles = c.n;
    h.events = total;
    receipt_header_write(&c.line, &h);
    h.bundles = NULL;
    if (c.line.oom) {
        ret = say_fail(cmd, ANON_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sealed_put(c.w, c.line.data, c.line.len, err, sizeof err)) != ANON_OK) {
        ret = say_fail(cmd, rc, err);
        goto out;
    }
    for (size_t i = 0; i < c.n; i++) {
        c.bundle = c.ids[i];
        rc = queue_bundle_fates(s.q, c.ids[i], rcreate_entry, &c, err, sizeof err);
        if (rc != ANON_OK) {
            ret = say_fail(cmd, c.rc != ANON_OK ? c.rc : rc, err);
            goto out;
        }
    }
    queue_rollback(s.q);
    if (c.count[0] + c.count[1] + c.count[2] != total) {
        ret = say_fail(cmd, ANON_EIO, "the events changed while the receipt was read (a bug)");
        goto out;
    }
    rc = sealed_finish(c.w, err, sizeof err);
    c.w = NULL;
    if (rc != ANON_OK) {
        ret = say_fail(cmd, rc, err);
        goto out;
    }
    /* the file is there: the bundles are marked (if this fails, the receipt is still good) */
    if ((rc = queue_begin(s.q, err, sizeof err)) == ANON_OK) {
        for (size_t i = 0; i < c.n && rc == ANON_OK; i++)
            rc = queue_bundle_set(s.q, c.ids[i], -1, QUEUE_BUNDLE_ISSUED, now, err, sizeof err);
        if (rc == ANON_OK)
            rc = queue_commit(s.q, err, sizeof err);
    }
    if (rc != ANON_OK) {
        queue_rollback(s.q);
        fprintf(stderr, SHIP_PROG " %s: %s is complete, but recording it failed: %s\n", cmd,
                file, err);
        ret = anon_status_exit_code(rc);
        goto out;
    }
    printf("%s: receipt for spool %s: %lld event%s of %zu bundle%s: %lld sent, %lld in the "
           "dlq, %lld still pending here\n",
           file, c.origin, (long long)total, total == 1 ? "" : "s", c.n, c.n == 1 ? "" : "s",
           (long long)c.count[RECEIPT_SENT], (long long)c.count[RECEIPT_DLQ],
           (long long)c.count[RECEIPT_PENDING]);
    ret = fflush(stdout) == 0 ? EX_OK : EX_IOERR;
out:
    queue_rollback(s.q);
    sealed_abort(c.w);
    anon_buf_free(&c.line);
    free(c.ids);
    anon_spool_close(s.sp);
    return ret;
}

/* ------------------------------------------------------------ receipt apply */

struct bundle_state {
    bundle_uuid id;
    char receipt[16];
};

struct apply {
    queue *q;
    const char *own;
    char now[ANON_TS_LEN + 1];
    struct bundle_state *b;
    size_t nb;
    size_t last;              /* the entry before's bundle: entries come grouped */
    int64_t sent, dead, pending, unchanged, gone;
    anon_buf reason;
    int found;
    struct bundle_state *fill;
};

static int apply_found(void *ctx, const struct queue_bundle *b)
{
    struct apply *a = ctx;

    a->found = strcmp(b->direction, QUEUE_BUNDLE_MADE) == 0 ? 1 : 2;
    snprintf(a->fill->receipt, sizeof a->fill->receipt, "%s", b->receipt);
    return 0;
}

static int apply_header(void *ctx, const struct receipt_header *h, char *err, size_t errlen)
{
    struct apply *a = ctx;
    int rc;

    if (strcmp(h->spool, a->own) != 0)
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "line 1: this receipt is for spool %s; this is spool %s: apply it "
                           "where its bundles were made",
                           h->spool, a->own);
    if (h->nbundles > 0 && (a->b = calloc(h->nbundles, sizeof *a->b)) == NULL)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    for (size_t i = 0; i < h->nbundles; i++) {
        a->found = 0;
        a->fill = &a->b[i];
        memcpy(a->b[i].id, h->bundles[i], sizeof a->b[i].id);
        if ((rc = queue_bundles_each(a->q, h->bundles[i], NULL, apply_found, a, err, errlen)) !=
            ANON_OK)
            return rc;
        if (a->found != 1)
            return anon_seterr(err, errlen, ANON_EINVAL,
                               "line 1: bundle %s was not made by this spool", h->bundles[i]);
    }
    a->nb = h->nbundles;
    return ANON_OK;
}

static const struct bundle_state *apply_bundle(struct apply *a, const char *id)
{
    if (a->last < a->nb && strcmp(a->b[a->last].id, id) == 0)
        return &a->b[a->last];
    for (size_t i = 0; i < a->nb; i++)
        if (strcmp(a->b[i].id, id) == 0) {
            a->last = i;
            return &a->b[i];
        }
    return NULL;
}

static int apply_entry(void *ctx, long lineno, const struct receipt_entry *e, char *err,
                       size_t errlen)
{
    struct apply *a = ctx;
    const struct bundle_state *b = apply_bundle(a, e->bundle);
    int outcome = QUEUE_RCPT_UNKNOWN, rc = ANON_OK;

    if (b == NULL)   /* receipt_read checked it */
        return anon_seterr(err, errlen, ANON_EINVAL, "line %ld: unknown bundle", lineno);
    switch (e->state) {
    case RECEIPT_SENT:
        rc = queue_receipt_sent(a->q, e->uuid, e->sent_at, &outcome, err, errlen);
        break;
    case RECEIPT_DLQ:
        anon_buf_reset(&a->reason);
        anon_buf_printf(&a->reason, "remote: %s", e->reason);
        if (a->reason.oom)
            return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        rc = queue_receipt_dead(a->q, e->uuid, a->now, a->reason.data, &outcome, err, errlen);
        break;
    default:
        rc = queue_receipt_pending(a->q, e->uuid, &outcome, err, errlen);
        break;
    }
    if (rc != ANON_OK)
        return rc;
    switch (outcome) {
    case QUEUE_RCPT_CHANGED:
        if (e->state == RECEIPT_SENT)
            a->sent++;
        else
            a->dead++;
        break;
    case QUEUE_RCPT_UNCHANGED:
        if (e->state == RECEIPT_PENDING)
            a->pending++;
        else
            a->unchanged++;
        break;
    default:
        /* A settled bundle's sent rows may have been pruned since: not knowing one of its
         * events is expected there. Anywhere else the receipt names what was never here. */
        if (strcmp(b->receipt, QUEUE_BUNDLE_COMPLETE) == 0 ||
            strcmp(b->receipt, QUEUE_BUNDLE_REEXPORTED) == 0 ||
            strcmp(b->receipt, QUEUE_BUNDLE_NONE) == 0) {
            a->gone++;
            break;
        }
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "line %ld: event %s (bundle %s) is not in this spool", lineno,
                           e->uuid, e->bundle);
    }
    return ANON_OK;
}

int sneakernet_cmd_receipt_apply(cli_result *r)
{
    const char *cmd = "receipt apply";
    const char *file = r->args[0];
    struct apply a;
    struct receipt_visitor vis = {&a, apply_header, apply_entry};
    struct receipt_header h;
    struct spool_at s;
    sealed_reader *rd = NULL;
    char err[ANON_ERRLEN];
    int ret, rc;

    memset(&a, 0, sizeof a);
    memset(&h, 0, sizeof h);
    anon_buf_init(&a.reason);
    if ((ret = open_spool(r, cmd, 0, &s)) != 0)
        return ret;
    bulk_cache(&s);
    a.q = s.q;
    a.own = s.id;
    now_ts(a.now);
    if ((rc = sealed_open(file, NULL, &rd, err, sizeof err)) != ANON_OK ||
        (rc = queue_begin(s.q, err, sizeof err)) != ANON_OK ||
        (rc = receipt_read(rd, &vis, &h, err, sizeof err)) != ANON_OK) {
        ret = say_fail(cmd, rc, err);
        if (rc == ANON_EINVAL)
            fprintf(stderr, SHIP_PROG " %s: %s refused: nothing was changed\n", cmd, file);
        goto out;
    }
    for (size_t i = 0; i < a.nb; i++)
        if ((rc = queue_bundle_settle(s.q, a.b[i].id, a.now, a.b[i].receipt,
                                      sizeof a.b[i].receipt, err, sizeof err)) != ANON_OK) {
            ret = say_fail(cmd, rc, err);
            goto out;
        }
    if ((rc = queue_commit(s.q, err, sizeof err)) != ANON_OK) {
        ret = say_fail(cmd, rc, err);
        goto out;
    }
    printf("%s: receipt from spool %s (made %s): %lld event%s: %lld now sent, %lld moved to "
           "the dlq, %lld still pending there, %lld settled here before",
           file, h.from, h.created_at, (long long)h.events, h.events == 1 ? "" : "s",
           (long long)a.sent, (long long)a.dead, (long long)a.pending, (long long)a.unchanged);
    if (a.gone > 0)
        printf(", %lld no longer in this spool (pruned after being settled)", (long long)a.gone);
    printf("\n");
    for (size_t i = 0; i < a.nb; i++)
        printf("  bundle %s: %s\n", a.b[i].id, a.b[i].receipt);
    ret = fflush(stdout) == 0 ? EX_OK : EX_IOERR;
out:
    queue_rollback(s.q);
    sealed_close(rd);
    receipt_header_clear(&h);
    free(a.b);
    anon_buf_free(&a.reason);
    anon_spool_close(s.sp);
    return ret;
}
