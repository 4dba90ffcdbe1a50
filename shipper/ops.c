/*
 * ops.c: the operator subcommands of anon-telemetry-ship (status, list, dlq).
 *
 * They read and change the spool only through SQL on the tables that
 * schema/spool.sql defines, so what they print is what an operator would find
 * with sqlite3. They never create a spool (ANON_OPEN_NO_CREATE): asking about a
 * spool that does not exist is an error (exit 74), not a reason to make one.
 *
 * status gathers its numbers into one cJSON document and prints it (--json) or
 * reads it back for the human form. list and dlq list stream their rows (a spool
 * with a long backlog is never held in memory): --json prints one document with
 * a compact row per line, the human form prints aligned columns in the spirit of
 * postqueue -p. Each command reads inside one transaction, so what it prints is
 * one snapshot. requeue and purge work in one IMMEDIATE transaction and change
 * nothing unless every ID named is in the dlq (exit 65 otherwise).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "commands.h"
#include "internal.h"
#include "ops.h"
#include "queue.h"

#define OPS_PROG "anon-telemetry-ship"

/* What a handler gets: the command line (commands.c's tables, parsed by cli.c) read
 * into fields, checked. The usage lines and the help come from commands.c. */
typedef struct ops_args {
    const char *cmd;       /* "status", "list" or "dlq" */
    const char *verb;      /* dlq: "list", "requeue" or "purge"; else NULL */
    const char *spool;     /* --spool, NULL: the default path */
    const char *status;    /* list --status, NULL: every status */
    int json;
    int all;
    int help;              /* always 0: --help never reaches a handler */
    int64_t *ids;          /* requeue/purge IDs, sorted, distinct */
    size_t nids;
    cli_result *cli;       /* everything given, for options that have no field here */
    char cmd_word[32];     /* cmd points here */
} ops_args;

/* ------------------------------------------------------------------ helpers */

static int ops_db_error(const char *cmd, sqlite3 *db, const char *what)
{
    fprintf(stderr, OPS_PROG " %s: %s: %s\n", cmd, what, sqlite3_errmsg(db));
    return EX_IOERR;
}

static int ops_cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A positive decimal id, whole string. */
static int ops_parse_id(const char *s, int64_t *ret_id)
{
    char *end = NULL;
    long long v;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0)
        return -1;
    *ret_id = (int64_t)v;
    return 0;
}

/* "3h 12m", "12m 5s", "45s", "2d 3h". */
static void ops_fmt_duration(int64_t secs, char *buf, size_t n)
{
    if (secs < 0)
        secs = 0;
    if (secs < 60)
        snprintf(buf, n, "%" PRId64 "s", secs);
    else if (secs < 3600)
        snprintf(buf, n, "%" PRId64 "m %" PRId64 "s", secs / 60, secs % 60);
    else if (secs < 86400)
        snprintf(buf, n, "%" PRId64 "h %" PRId64 "m", secs / 3600, secs % 3600 / 60);
    else
        snprintf(buf, n, "%" PRId64 "d %" PRId64 "h", secs / 86400, secs % 86400 / 3600);
}

static void ops_fmt_size(int64_t bytes, char *buf, size_t n)
{
    if (bytes < 1024)
        snprintf(buf, n, "%" PRId64 " B", bytes);
    else if (bytes < 1024 * 1024)
        snprintf(buf, n, "%.1f KiB", (double)bytes / 1024.0);
    else if (bytes < 1024LL * 1024 * 1024)
        snprintf(buf, n, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
    else
        snprintf(buf, n, "%.1f GiB", (double)bytes / (1024.0 * 1024.0 * 1024.0));
}

static int64_t ops_file_size(const char *path, const char *suffix)
{
    char p[4096];
    struct stat st;

    if (snprintf(p, sizeof p, "%s%s", path, suffix) >= (int)sizeof p)
        return 0;
    if (stat(p, &st) != 0)
        return 0;
    return (int64_t)st.st_size;
}

/* Column value as a cJSON item: NULL -> null, integer -> number, else string. */
static cJSON *ops_col_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return cJSON_CreateNull();
    case SQLITE_INTEGER:
        return cJSON_CreateNumber((double)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return cJSON_CreateNumber(sqlite3_column_double(st, i));
    default:
        return cJSON_CreateString((const char *)sqlite3_column_text(st, i));
    }
}

/* Adds every column of the current row to obj under its column name; a column named
 * "parameters" is parsed as the JSON object it holds (kept as a string if it is not). */
static int ops_row_json(sqlite3_stmt *st, cJSON *obj)
{
    int n = sqlite3_column_count(st);

    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        cJSON *v = NULL;

        if (strcmp(name, "parameters") == 0 && sqlite3_column_type(st, i) == SQLITE_TEXT)
            v = cJSON_Parse((const char *)sqlite3_column_text(st, i));
        if (v == NULL)
            v = ops_col_json(st, i);
        if (v == NULL || !cJSON_AddItemToObject(obj, name, v)) {
            cJSON_Delete(v);
            return -1;
        }
    }
    return 0;
}

static const char *ops_jstr(const cJSON *obj, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring != NULL ? v->valuestring : dflt;
}

static int64_t ops_jint(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static int ops_print_json(const char *cmd, cJSON *doc)
{
    char *s = cJSON_Print(doc);

    if (s == NULL) {
        fprintf(stderr, OPS_PROG " %s: out of memory\n", cmd);
        return EX_OSERR;
    }
    puts(s);
    cJSON_free(s);
    return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

/* ------------------------------------------------- aligned text columns */

/* Prints the rows of st (already bound) as columns under headers, like postqueue -p:
 * a first pass over the rows measures each column, a second prints them, so a spool
 * with a long backlog is never held in memory. NULL or "" prints as "-"; right[c] != 0
 * right-aligns column c (numbers); the last column is not padded. Returns the number
 * of rows, or -1 on a database error. Call inside a read transaction (one snapshot). */
static int64_t ops_print_table(sqlite3_stmt *st, const char *const *headers, const int *right)
{
    int ncols = sqlite3_column_count(st), s;
    size_t *w = calloc((size_t)ncols, sizeof *w);
    int64_t rows = 0;

    if (w == NULL)
        return -1;
    for (int c = 0; c < ncols; c++)
        w[c] = strlen(headers[c]);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < ncols; c++) {
            size_t l = (size_t)sqlite3_column_bytes(st, c);
            if (l == 0)
                l = 1;
            if (l > w[c])
                w[c] = l;
        }
        rows++;
    }
    if (s != SQLITE_DONE) {
        free(w);
        return -1;
    }
    sqlite3_reset(st);
    for (int64_t r = -1; r < rows; r++) {
        if (r >= 0 && sqlite3_step(st) != SQLITE_ROW)
            break;  /* cannot happen in one snapshot */
        for (int c = 0; c < ncols; c++) {
            const char *v = r < 0 ? headers[c] : (const char *)sqlite3_column_text(st, c);
            if (v == NULL || v[0] == '\0')
                v = "-";
            if (right[c])
                printf("%*s", (int)w[c], v);
            else if (c == ncols - 1)
                fputs(v, stdout);
            else
                printf("%-*s", (int)w[c], v);
            if (c < ncols - 1)
                fputs("  ", stdout);
        }
        putchar('\n');
    }
    free(w);
    return rows;
}

/* Prints {"spool": ..., <extra>, "<key>": [rows...], "count": n} from st, one compact row
 * per line, without holding the rows in memory. EX_OK, or an exit status after saying why. */
static int ops_print_json_rows(const char *cmd, sqlite3 *db, sqlite3_stmt *st,
                               const char *path, const char *key, int with_status,
                               const char *status)
{
    cJSON *head = cJSON_CreateObject();
    char *text = NULL;
    int64_t n = 0;
    int s, ret = EX_OK;

    /* The opening keys through cJSON, for their escaping. */
    if (head == NULL || cJSON_AddStringToObject(head, "spool", path) == NULL ||
        (with_status && (status != NULL ? cJSON_AddStringToObject(head, "status", status)
                                          : cJSON_AddNullToObject(head, "status")) == NULL) ||
        (text = cJSON_PrintUnformatted(head)) == NULL)
        goto oom;
    text[strlen(text) - 1] = '\0';   /* drop the closing brace */
    printf("%s,\"%s\":[", text, key);
    cJSON_free(text);
    text = NULL;

    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateObject();
        if (row == NULL || ops_row_json(st, row) != 0 || (text = cJSON_PrintUnformatted(row)) == NULL) {
            cJSON_Delete(row);
            goto oom;
        }
        cJSON_Delete(row);
        printf("%s\n%s", n > 0 ? "," : "", text);
        cJSON_free(text);
        text = NULL;
        n++;
    }
    if (s != SQLITE_DONE) {
        cJSON_Delete(head);
        return ops_db_error(cmd, db, "cannot read the spool");
    }
    printf("%s],\"count\":%" PRId64 "}\n", n > 0 ? "\n" : "", n);
    if (fflush(stdout) != 0)
        ret = EX_IOERR;
    cJSON_Delete(head);
    return ret;
oom:
    cJSON_Delete(head);
    fprintf(stderr, OPS_PROG " %s: out of memory\n", cmd);
    return EX_OSERR;
}

/* ------------------------------------------------------------------ status */

/* The first column of the first row as a string, or NULL (SQL NULL or no row); -1 on
 * error. bind and bind2 (may be NULL) go to ?1 and ?2. */
static int ops_text(sqlite3 *db, const char *sql, const char *bind, char *buf, size_t n,
                    int *ret_null, const char *bind2)
{
    sqlite3_stmt *st = NULL;
    int rc = -1, s;

    *ret_null = 1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    if ((bind != NULL && sqlite3_bind_text(st, 1, bind, -1, SQLITE_TRANSIENT) != SQLITE_OK) ||
        (bind2 != NULL && sqlite3_bind_text(st, 2, bind2, -1, SQLITE_TRANSIENT) != SQLITE_OK))
        goto out;
    s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
        *ret_null = 0;
    } else if (s != SQLITE_ROW && s != SQLITE_DONE) {
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* queue_bundles_each's callback for status: a bundle worth showing goes into doc's
 * "awaiting_receipt" (made here, not settled) or "receipt_due" (imported, no receipt). */
static int ops_bundle_json(void *ctx, const struct queue_bundle *b)
{
    cJSON *doc = ctx, *o;
    const char *list;

    /* the rule is queue.c's, shared with the metrics (a bundle whose writer died before
     * any of its events was marked awaits nothing) */
    if (queue_bundle_awaits_receipt(b))
        list = "awaiting_receipt";
    else if (queue_bundle_receipt_due(b))
        list = "receipt_due";
    else
        return 0;
    if ((o = cJSON_CreateObject()) == NULL ||
        !cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(doc, list), o))
        return cJSON_Delete(o), -1;
    if (cJSON_AddStringToObject(o, "bundle", b->id) == NULL ||
        cJSON_AddStringToObject(o, "spool_id", b->spool_id) == NULL ||
        cJSON_AddStringToObject(o, "created_at", b->created_at) == NULL ||
        cJSON_AddStringToObject(o, "file", b->file) == NULL ||
        cJSON_AddNumberToObject(o, "events", (double)b->events) == NULL ||
        cJSON_AddStringToObject(o, "receipt", b->receipt) == NULL ||
        (list[0] == 'a' &&
         cJSON_AddNumberToObject(o, "still_exported", (double)b->exported) == NULL))
        return -1;
    return 0;
}

/* queue_dlq_reasons' callback: {"reason": ..., "events": n} appended to the array. */
static int ops_add_reason(void *ctx, const char *reason, int64_t n)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || !cJSON_AddItemToArray(ctx, o)) {
        cJSON_Delete(o);
        return -1;
    }
    return cJSON_AddStringToObject(o, "reason", reason) != NULL &&
                   cJSON_AddNumberToObject(o, "events", (double)n) != NULL
               ? 0
               : -1;
}

/* Fills doc with everything status shows. EX_OK, or EX_IOERR after printing why. */
static int ops_status_gather(sqlite3 *db, const char *path, cJSON *doc)
{
    char now_ts[ANON_TS_LEN + 1], buf[256], err[ANON_ERRLEN];
    int64_t now_ms = anon_now_ms(), n = 0, dbb, walb;
    int isnull, ret = EX_IOERR;
    sqlite3_stmt *st = NULL;
    struct queue_counts c;
    struct queue_times t;
    queue *q = NULL;
    cJSON *events, *reasons, *run;

    anon_format_ts(now_ms, now_ts);
    dbb = ops_file_size(path, "");
    walb = ops_file_size(path, "-wal");
    cJSON_AddStringToObject(doc, "spool", path);
    cJSON_AddNumberToObject(doc, "spool_bytes", (double)(dbb + walb));
    cJSON_AddNumberToObject(doc, "db_bytes", (double)dbb);
    cJSON_AddNumberToObject(doc, "wal_bytes", (double)walb);
    cJSON_AddStringToObject(doc, "now", now_ts);

    /* One read transaction: every number below comes from the same snapshot. */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return ops_db_error("status", db, "cannot read the spool");

    queue_times_at(now_ms, &t);
    if (queue_open(db, path, &q, err, sizeof err) != ANON_OK ||
        queue_count(q, &t.clock, ANON_RELEASE_TS, &c, err, sizeof err) != ANON_OK) {
        fprintf(stderr, OPS_PROG " status: %s\n", err);
        goto out;
    }
    if (queue_spool_id(q, buf, err, sizeof err) != ANON_OK) {
        fprintf(stderr, OPS_PROG " status: %s\n", err);
        goto out;
    }
    cJSON_AddStringToObject(doc, "spool_id", buf);
    events = cJSON_AddObjectToObject(doc, "events");
    for (int i = 0; i < QUEUE_NSTATUS; i++)
        cJSON_AddNumberToObject(events, queue_status_name(i), (double)c.status[i]);
    cJSON_AddNumberToObject(events, "dlq", (double)c.dlq);
    cJSON_AddNumberToObject(doc, "due_now", (double)c.due_now);
    /* Claimed by a shipper that died or hung: the next run takes them back. */
    cJSON_AddNumberToObject(doc, "sending_lease_lapsed", (double)c.lease_lapsed);
    /* Set by a clock that has since moved back: taken as due (counted in due_now). */
    cJSON_AddNumberToObject(doc, "clock_moved_back", (double)c.clock_moved);
    /* Queued under a wrong clock (before this release, or more than a day ahead). */
    cJSON_AddNumberToObject(doc, "implausible_ts", (double)c.implausible_ts);

    if (queue_oldest_pending(q, buf, sizeof buf, err, sizeof err) != ANON_OK) {
        fprintf(stderr, OPS_PROG " status: %s\n", err);
        goto out;
    }
    if (buf[0] == '\0') {
        cJSON_AddNullToObject(doc, "oldest_pending_queued_at");
        cJSON_AddNullToObject(doc, "oldest_pending_age_seconds");
    } else {
        int64_t qms;
        cJSON_AddStringToObject(doc, "oldest_pending_queued_at", buf);
        /* an age is never negative, whatever the clock did */
        if (anon_parse_ts(buf, &qms) == 0)
            cJSON_AddNumberToObject(doc, "oldest_pending_age_seconds",
                                    (double)(now_ms > qms ? (now_ms - qms) / 1000 : 0));
        else
            cJSON_AddNullToObject(doc, "oldest_pending_age_seconds");
    }

    /* The earliest retry still waiting on its backoff (what is due now is in due_now). */
    if (ops_text(db,
                 "SELECT min(next_attempt_at) FROM events WHERE status = '" QUEUE_PENDING "'"
                 " AND next_attempt_at > ?1 AND next_attempt_at <= ?2",
                 t.now, buf, sizeof buf, &isnull, t.retry) != 0)
        goto sqlfail;
    if (isnull)
        cJSON_AddNullToObject(doc, "next_attempt_at");
    else
        cJSON_AddStringToObject(doc, "next_attempt_at", buf);

    if ((reasons = cJSON_AddArrayToObject(doc, "dlq_by_reason")) == NULL)
        goto oom;
    if (queue_dlq_reasons(q, ops_add_reason, reasons, err, sizeof err) != ANON_OK) {
        fprintf(stderr, OPS_PROG " status: %s\n", err);
        goto out;
    }

    /* Bundles made here whose receipt has not settled them all, and bundles imported
     * here that no receipt has covered yet (sneakernet.c). */
    if (cJSON_AddArrayToObject(doc, "awaiting_receipt") == NULL ||
        cJSON_AddArrayToObject(doc, "receipt_due") == NULL ||
        queue_bundles_each(q, NULL, NULL, ops_bundle_json, doc, err, sizeof err) != ANON_OK) {
        fprintf(stderr, OPS_PROG " status: %s\n", err);
        goto out;
    }

    if (sqlite3_prepare_v2(db,
                           "SELECT id, started_at, finished_at, exit_code, sent, retried, dead,"
                           " summary FROM runs ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        goto sqlfail;
    n = sqlite3_step(st);
    if (n == SQLITE_ROW) {
        run = cJSON_AddObjectToObject(doc, "last_run");
        if (run == NULL || ops_row_json(st, run) != 0)
            goto oom;
    } else if (n == SQLITE_DONE) {
        cJSON_AddNullToObject(doc, "last_run");
    } else {
        goto sqlfail;
    }
    ret = EX_OK;
    goto out;

oom:
    fprintf(stderr, OPS_PROG " status: out of memory\n");
    ret = EX_OSERR;
    goto out;
sqlfail:
    ret = ops_db_error("status", db, "cannot read the spool");
out:
    sqlite3_finalize(st);
    queue_close(q);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return ret;
}

static const char *ops_exit_meaning(int64_t code)
{
    switch (code) {
    case 0:  return "everything due was delivered";
    case 64: return "bad usage";
    case 65: return "bad input data";
    case 74: return "spool could not be read or written";
    case 75: return "some events still pending";
    case 78: return "bad configuration or endpoint refused";
    default: return "failed";
    }
}

static void ops_status_print(const cJSON *doc)
{
    static const char *const keys[] = { "pending", "sending", "sent", "exported", "dlq" };
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(doc, "events");
    const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(doc, "dlq_by_reason");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(doc, "last_run");
    const cJSON *r;
    int64_t now_ms = 0, due = ops_jint(doc, "due_now"), t;
    char a[64], b[64], c[64];
    int w = 1;

    anon_parse_ts(ops_jstr(doc, "now", ""), &now_ms);
    printf("%-16s%s\n", "spool", ops_jstr(doc, "spool", "?"));
    printf("%-16s%s\n", "spool id", ops_jstr(doc, "spool_id", "?"));
    ops_fmt_size(ops_jint(doc, "spool_bytes"), a, sizeof a);
    ops_fmt_size(ops_jint(doc, "db_bytes"), b, sizeof b);
    ops_fmt_size(ops_jint(doc, "wal_bytes"), c, sizeof c);
    printf("%-16s%s (db %s, wal %s)\n", "size", a, b, c);

    for (size_t i = 0; i < 5; i++) {
        int l = snprintf(a, sizeof a, "%" PRId64, ops_jint(events, keys[i]));
        if (l > w)
            w = l;
    }
    for (size_t i = 0; i < 5; i++) {
        printf("%-16s%*" PRId64, keys[i], w, ops_jint(events, keys[i]));
        if (i == 0 && due > 0)
            printf("  (%" PRId64 " due now)", due);
        if (i == 1 && ops_jint(doc, "sending_lease_lapsed") > 0)
            printf("  (%" PRId64 " with a lapsed lease: the next run takes them back)",
                   ops_jint(doc, "sending_lease_lapsed"));
        if (i == 3 && ops_jint(events, "exported") > 0)
            printf("  (in bundles: never sent from here; a receipt settles them)");
        putchar('\n');
    }
    {
        const cJSON *made = cJSON_GetObjectItemCaseSensitive(doc, "awaiting_receipt");
        const cJSON *due = cJSON_GetObjectItemCaseSensitive(doc, "receipt_due");

        if (cJSON_GetArraySize(made) > 0) {
            printf("bundles awaiting a receipt\n");
            cJSON_ArrayForEach(r, made)
                printf("  %s  %s  %" PRId64 " events, %" PRId64 " still exported  %s%s\n",
                       ops_jstr(r, "bundle", "?"), ops_jstr(r, "created_at", "?"),
                       ops_jint(r, "events"), ops_jint(r, "still_exported"),
                       ops_jstr(r, "file", "?"),
                       strcmp(ops_jstr(r, "receipt", ""), QUEUE_BUNDLE_WRITING) == 0
                           ? "  (unfinished: the command that wrote it died)"
                           : strcmp(ops_jstr(r, "receipt", ""), QUEUE_BUNDLE_PARTIAL) == 0
                                 ? "  (partly settled)" : "");
        }
        if (cJSON_GetArraySize(due) > 0) {
            printf("imported bundles with no receipt yet\n");
            cJSON_ArrayForEach(r, due)
                printf("  %s  from spool %s  %" PRId64 " events  %s\n",
                       ops_jstr(r, "bundle", "?"), ops_jstr(r, "spool_id", "?"),
                       ops_jint(r, "events"), ops_jstr(r, "file", "?"));
        }
    }

    if (ops_jstr(doc, "oldest_pending_queued_at", NULL) == NULL) {
        printf("%-16s%s\n", "oldest pending", "-");
    } else {
        ops_fmt_duration(ops_jint(doc, "oldest_pending_age_seconds"), a, sizeof a);
        printf("%-16s%s (queued %s)\n", "oldest pending", a,
               ops_jstr(doc, "oldest_pending_queued_at", ""));
    }

    printf("%-16s", "next attempt");
    if (due > 0)
        printf("now (%" PRId64 " due)", due);
    if (ops_jstr(doc, "next_attempt_at", NULL) != NULL) {
        const char *na = ops_jstr(doc, "next_attempt_at", "");
        if (anon_parse_ts(na, &t) == 0)
            ops_fmt_duration((t - now_ms + 999) / 1000, a, sizeof a);
        else
            snprintf(a, sizeof a, "?");
        printf("%s%s (in %s)", due > 0 ? ", then " : "", na, a);
    } else if (due == 0) {
        printf("-");
    }
    putchar('\n');
    if (ops_jint(doc, "clock_moved_back") > 0)
        printf("%-16s%" PRId64 " events have a next attempt or lease set by a clock that has "
               "since moved back: taken as due now\n", "clock",
               ops_jint(doc, "clock_moved_back"));
    if (ops_jint(doc, "implausible_ts") > 0)
        printf("%-16s%" PRId64 " events have a ts from a wrong clock (before %.10s, or more "
               "than a day ahead): never expired by --max-age\n", "implausible ts",
               ops_jint(doc, "implausible_ts"), ANON_RELEASE_TS);

    if (cJSON_GetArraySize(reasons) > 0) {
        w = 1;
        cJSON_ArrayForEach(r, reasons) {
            int l = snprintf(a, sizeof a, "%" PRId64, ops_jint(r, "events"));
            if (l > w)
                w = l;
        }
        printf("dlq by reason\n");
        cJSON_ArrayForEach(r, reasons)
            printf("  %*" PRId64 "  %s\n", w, ops_jint(r, "events"), ops_jstr(r, "reason", "?"));
    }

    printf("%-16s", "last run");
    if (!cJSON_IsObject(run)) {
        printf("never\n");
        return;
    }
    printf("#%" PRId64 " started %s", ops_jint(run, "id"), ops_jstr(run, "started_at", "?"));
    if (ops_jstr(run, "finished_at", NULL) != NULL) {
        int64_t code = ops_jint(run, "exit_code");
        printf(", finished %s, exit %" PRId64 " (%s)\n", ops_jstr(run, "finished_at", ""), code,
               ops_exit_meaning(code));
    } else {
        printf(", not finished (still running, or it died)\n");
    }
    printf("%-16ssent %" PRId64 ", retried %" PRId64 ", dead %" PRId64 "\n", "",
           ops_jint(run, "sent"), ops_jint(run, "retried"), ops_jint(run, "dead"));
    if (ops_jstr(run, "summary", NULL) != NULL && ops_jstr(run, "summary", "")[0] != '\0')
        printf("%-16s%s\n", "", ops_jstr(run, "summary", ""));
}

static int ops_status(sqlite3 *db, const char *path, const ops_args *a)
{
    cJSON *doc = cJSON_CreateObject();
    int ret;

    if (doc == NULL) {
        fprintf(stderr, OPS_PROG " status: out of memory\n");
        return EX_OSERR;
    }
    ret = ops_status_gather(db, path, doc);
    if (ret == EX_OK) {
        if (a->json)
            ret = ops_print_json("status", doc);
        else
            ops_status_print(doc);
    }
    cJSON_Delete(doc);
    return ret;
}

/* ------------------------------------------------------- list, dlq list */

/* Prepares sql, binding bind (may be NULL) to ?1. */
static sqlite3_stmt *ops_prepare(sqlite3 *db, const char *sql, const char *bind)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        (bind != NULL && sqlite3_bind_text(st, 1, bind, -1, SQLITE_TRANSIENT) != SQLITE_OK)) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static int ops_list(sqlite3 *db, const char *path, const ops_args *a)
{
    /* ?1 IS NULL: every status. */
    static const char sql_json[] =
        "SELECT id, uuid, status, session_id, client_version, cpu_architecture, schema_version,"
        " queued_at, retry_count, next_attempt_at, lease_until, last_error, sent_at, bundle,"
        " parameters FROM events WHERE ?1 IS NULL OR status = ?1 ORDER BY id";
    static const char sql_text[] =
        "SELECT id, status, queued_at, retry_count,"
        " CASE WHEN status IN ('" QUEUE_SENT "', '" QUEUE_EXPORTED "') THEN NULL"
        "      WHEN status = '" QUEUE_PENDING "' AND next_attempt_at IS NULL THEN 'now'"
        "      ELSE next_attempt_at END,"
        " session_id, last_error"
        " FROM events WHERE ?1 IS NULL OR status = ?1 ORDER BY id";
    static const char *const headers[] = { "ID", "STATUS", "QUEUED AT", "RETRIES",
                                           "NEXT ATTEMPT", "SESSION", "LAST ERROR" };
    static const int right[] = { 1, 0, 0, 1, 0, 0, 0 };
    sqlite3_stmt *st = NULL;
    struct queue_counts qc;
    queue *q = NULL;
    char err[ANON_ERRLEN];
    struct queue_times t;
    int64_t n, *c = qc.status;
    int ret = EX_OK;

    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return ops_db_error("list", db, "cannot read the spool");
    if ((st = ops_prepare(db, a->json ? sql_json : sql_text, a->status)) == NULL) {
        ret = ops_db_error("list", db, "cannot read the spool");
        goto out;
    }
    if (a->json) {
        ret = ops_print_json_rows("list", db, st, path, "events", 1, a->status);
        goto out;
    }
    queue_times_at(anon_now_ms(), &t);
    if (queue_open(db, path, &q, err, sizeof err) != ANON_OK ||
        queue_count(q, &t.clock, ANON_RELEASE_TS, &qc, err, sizeof err) != ANON_OK) {
        fprintf(stderr, OPS_PROG " list: %s\n", err);
        ret = EX_IOERR;
        goto out;
    }
    if (a->status != NULL)
        for (int i = 0; i < QUEUE_NSTATUS; i++)
            if (strcmp(a->status, queue_status_name(i)) != 0)
                c[i] = 0;
    if (c[QUEUE_ST_PENDING] + c[QUEUE_ST_SENDING] + c[QUEUE_ST_SENT] + c[QUEUE_ST_EXPORTED] ==
        0) {
        printf("no %s%sevents in %s\n", a->status ? a->status : "", a->status ? " " : "", path);
        goto out;
    }
    n = ops_print_table(st, headers, right);
    if (n < 0) {
        ret = ops_db_error("list", db, "cannot read the spool");
        goto out;
    }
    printf("-- %" PRId64 " event%s (%" PRId64 " pending, %" PRId64 " sending, %" PRId64 " sent",
           n, n == 1 ? "" : "s", c[QUEUE_ST_PENDING], c[QUEUE_ST_SENDING], c[QUEUE_ST_SENT]);
    if (c[QUEUE_ST_EXPORTED] > 0)
        printf(", %" PRId64 " exported", c[QUEUE_ST_EXPORTED]);
    printf(")\n");
out:
    sqlite3_finalize(st);
    queue_close(q);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return ret;
}

static int ops_dlq_list(sqlite3 *db, const char *path, const ops_args *a)
{
    static const char sql_json[] =
        "SELECT id, uuid, session_id, client_version, cpu_architecture, schema_version,"
        " queued_at, retry_count, last_error, moved_at, reason, parameters FROM dlq ORDER BY id";
    static const char sql_text[] =
        "SELECT id, moved_at, retry_count, queued_at, session_id, reason FROM dlq ORDER BY id";
    static const char *const headers[] = { "ID", "MOVED AT", "RETRIES", "QUEUED AT", "SESSION",
                                           "REASON" };
    static const int right[] = { 1, 0, 1, 0, 0, 0 };
    sqlite3_stmt *st = NULL;
    struct queue_counts qc;
    queue *q = NULL;
    char err[ANON_ERRLEN];
    struct queue_times t;
    int64_t n;
    int ret = EX_OK;

    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return ops_db_error("dlq list", db, "cannot read the spool");
    if ((st = ops_prepare(db, a->json ? sql_json : sql_text, NULL)) == NULL) {
        ret = ops_db_error("dlq list", db, "cannot read the spool");
        goto out;
    }
    if (a->json) {
        ret = ops_print_json_rows("dlq list", db, st, path, "dlq", 0, NULL);
        goto out;
    }
    queue_times_at(anon_now_ms(), &t);
    if (queue_open(db, path, &q, err, sizeof err) != ANON_OK ||
        queue_count(q, &t.clock, ANON_RELEASE_TS, &qc, err, sizeof err) != ANON_OK) {
        fprintf(stderr, OPS_PROG " dlq list: %s\n", err);
        ret = EX_IOERR;
        goto out;
    }
    if (qc.dlq == 0) {
        printf("dlq is empty in %s\n", path);
        goto out;
    }
    n = ops_print_table(st, headers, right);
    if (n < 0) {
        ret = ops_db_error("dlq list", db, "cannot read the spool");
        goto out;
    }
    printf("-- %" PRId64 " dead letter%s (requeue: " OPS_PROG " dlq requeue ID...)\n", n,
           n == 1 ? "" : "s");
out:
    sqlite3_finalize(st);
    queue_close(q);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return ret;
}

/* -------------------------------------------------- dlq requeue, dlq purge */

static int ops_dlq_change(sqlite3 *db, const ops_args *a)
{
    const int requeue = strcmp(a->verb, "requeue") == 0;
    const char *cmd = requeue ? "dlq requeue" : "dlq purge";
    char err[ANON_ERRLEN];
    queue *q = NULL;
    int64_t *ids = NULL, *renamed = NULL;
    size_t nids = 0, nmissing = 0, done = 0, nrenamed = 0;
    int ret = EX_IOERR;

    if (queue_open(db, sqlite3_db_filename(db, "main"), &q, err, sizeof err) != ANON_OK)
        goto fail;
    /* IMMEDIATE: take the write lock first, so what we check is what we change. */
    if (queue_begin(q, err, sizeof err) != ANON_OK)
        goto fail;
    if (a->all) {
        if (queue_dlq_ids(q, &ids, &nids, err, sizeof err) != ANON_OK)
            goto fail;
    } else {
        ids = a->ids;
        nids = a->nids;
    }

    /* All or nothing: name every unknown id, change nothing. */
    for (size_t i = 0; i < nids; i++) {
        int has;

        if (queue_dlq_has(q, ids[i], &has, err, sizeof err) != ANON_OK)
            goto fail;
        if (!has) {
            if (nmissing++ == 0)
                fprintf(stderr, OPS_PROG " %s: not in the dlq:", cmd);
            fprintf(stderr, " %" PRId64, ids[i]);
        }
    }
    if (nmissing > 0) {
        fprintf(stderr, "\n" OPS_PROG " %s: nothing changed\n", cmd);
        ret = EX_DATAERR;
        goto out;
    }

    if (requeue && nids > 0 && (renamed = calloc(nids, 2 * sizeof *renamed)) == NULL) {
        fprintf(stderr, OPS_PROG " %s: out of memory\n", cmd);
        ret = EX_OSERR;
        goto out;
    }
    for (size_t i = 0; i < nids; i++) {
        if (requeue) {
            int64_t now_id;

            if (queue_requeue(q, ids[i], &now_id, err, sizeof err) != ANON_OK)
                goto fail;
            if (now_id != ids[i]) {
                renamed[2 * nrenamed] = ids[i];
                renamed[2 * nrenamed + 1] = now_id;
                nrenamed++;
            }
            done++;
        } else {
            long n;

            if (queue_purge(q, ids[i], &n, err, sizeof err) != ANON_OK)
                goto fail;
            done += (size_t)n;
        }
    }
    if (queue_commit(q, err, sizeof err) != ANON_OK)
        goto fail;

    if (requeue) {
        printf("requeued %zu event%s from the dlq (pending, retry_count 0)\n", done,
               done == 1 ? "" : "s");
        for (size_t i = 0; i < nrenamed; i++)
            printf("dlq id %" PRId64 " is now event id %" PRId64
                   " (id %" PRId64 " was taken by a newer event)\n",
                   renamed[2 * i], renamed[2 * i + 1], renamed[2 * i]);
    } else {
        printf("purged %zu event%s from the dlq\n", done, done == 1 ? "" : "s");
    }
    ret = EX_OK;
    goto out;
fail:
    fprintf(stderr, OPS_PROG " %s: %s\n", cmd, err);
out:
    if (q != NULL)
        queue_rollback(q);
    queue_close(q);
    if (ids != a->ids)
        free(ids);
    free(renamed);
    return ret;
}

/* ------------------------------------------------------------ arguments */

/* Reads the parsed command line (commands.c's tables) into a, with the checks the tables
 * cannot express. EX_OK, or the exit status after printing what is wrong. */
static int ops_args_from(cli_result *r, ops_args *a)
{
    const char *words = r->cmd->words, *space = strchr(words, ' ');
    char q[160];

    memset(a, 0, sizeof *a);
    a->cli = r;
    snprintf(a->cmd_word, sizeof a->cmd_word, "%.*s",
             (int)(space != NULL ? (size_t)(space - words) : strlen(words)), words);
    a->cmd = a->cmd_word;
    a->verb = space != NULL ? space + 1 : NULL;
    a->spool = cli_value(r, OPT_SPOOL);
    a->status = cli_value(r, OPT_STATUS);
    a->json = cli_has(r, OPT_JSON);
    a->all = cli_has(r, OPT_ALL);

    if (a->status != NULL) {
        if (strcmp(a->status, "dlq") == 0)
            return cli_usage_error(r, "%s: --status dlq: use 'dlq list' for dead letters", words);
        if (queue_status_from_name(a->status) < 0)
            return cli_usage_error(r, "%s: unknown status %s (pending, sending, sent or "
                                   "exported)", words,
                                   cli_quote(a->status, q, sizeof q));
    }
    /* The commands that take --all take IDs instead. */
    if (!(r->cmd->opts & CLI_OPT(OPT_ALL)))
        return EX_OK;
    if (a->all && r->nargs > 0)
        return cli_usage_error(r, "%s: give IDs or --all, not both", words);
    if (!a->all && r->nargs == 0)
        return cli_usage_error(r, "%s: needs IDs or --all", words);
    if (r->nargs > 0 && (a->ids = calloc((size_t)r->nargs, sizeof *a->ids)) == NULL) {
        fprintf(stderr, OPS_PROG ": out of memory\n");
        return EX_OSERR;
    }
    for (int i = 0; i < r->nargs; i++) {
        if (ops_parse_id(r->args[i], &a->ids[a->nids]) != 0)
            return cli_usage_error(r, "%s: %s is not an event id (a positive integer)", words,
                                   cli_quote(r->args[i], q, sizeof q));
        a->nids++;
    }
    if (a->nids > 1) {
        size_t k = 1;
        qsort(a->ids, a->nids, sizeof *a->ids, ops_cmp_id);
        for (size_t i = 1; i < a->nids; i++)
            if (a->ids[i] != a->ids[k - 1])
                a->ids[k++] = a->ids[i];
        a->nids = k;
    }
    return EX_OK;
}

/* ------------------------------------------------------------ entry */

/* What the commands' bodies look like; ops_run calls one inside an open spool. */
typedef int ops_handler(sqlite3 *db, const char *path, const ops_args *a);

/* ops_dlq_change, in the shape of ops_handler. */
static int ops_dlq_change_at(sqlite3 *db, const char *path, const ops_args *a)
{
    (void)path;
    return ops_dlq_change(db, a);
}

/* What every operator command does around its body: read the arguments, find the spool,
 * say plainly when it does not exist (and never create it), open it, run, close. */
static int ops_run(cli_result *r, ops_handler *handler)
{
    ops_args a;
    char path[4096], err[ANON_ERRLEN];
    const char *label = r->cmd->words;
    anon_spool *sp = NULL;
    struct stat stbuf;
    int ret, st;

    ret = ops_args_from(r, &a);
    if (ret != EX_OK)
        goto out;
    if ((st = commands_spool_path(r, path, sizeof path, err, sizeof err)) != ANON_OK) {
        if (a.spool != NULL) {
            ret = cli_usage_error(r, "%s: %s", label, err);
        } else {
            fprintf(stderr, OPS_PROG " %s: %s\n", label, err);
            ret = anon_status_exit_code(st);
        }
        goto out;
    }

    if (stat(path, &stbuf) != 0) {
        if (errno == ENOENT)
            fprintf(stderr, OPS_PROG " %s: spool %s does not exist (nothing has been queued there)\n",
                    label, path);
        else
            fprintf(stderr, OPS_PROG " %s: cannot access spool %s: %s\n", label, path,
                    strerror(errno));
        ret = EX_IOERR;
        goto out;
    }
    /* the commands that only read also work where the spool cannot be written (a
     * read-only file system): opened read-only there, and they say so */
    st = anon_spool_open_ex(path,
                            ANON_OPEN_NO_CREATE | (r->cmd->writes ? 0 : ANON_OPEN_READ_ONLY),
                            &sp, err, sizeof err);
    if (st != ANON_OK) {
        fprintf(stderr, OPS_PROG " %s: %s\n", label, err);
        ret = anon_status_exit_code(st);
        goto out;
    }
    if (anon_spool_read_only(sp) != NULL)
        fprintf(stderr, OPS_PROG " %s: note: spool %s is %s: read as it is, nothing changed\n",
                label, path, anon_spool_read_only(sp));
    ret = handler(anon_spool_db(sp), path, &a);
out:
    anon_spool_close(sp);
    free(a.ids);
    return ret;
}

int ops_cmd_status(cli_result *r) { return ops_run(r, ops_status); }
int ops_cmd_list(cli_result *r) { return ops_run(r, ops_list); }
int ops_cmd_dlq_list(cli_result *r) { return ops_run(r, ops_dlq_list); }
int ops_cmd_dlq_change(cli_result *r) { return ops_run(r, ops_dlq_change_at); }
