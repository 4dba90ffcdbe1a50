/*
 * metrics.c: the Prometheus text format of the spool and of a relay (metrics.h).
 *
 * Every number comes through the queue module (queue.h) in one read transaction, so the
 * metrics of one scrape are one snapshot and no SQL lives here. Each family is written
 * whole (HELP, TYPE, its samples) and only when it has samples: promtool and the
 * Prometheus parsers refuse a family split in two, and an empty one says nothing.
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "anon_telemetry.h"
#include "commands.h"
#include "log.h"
#include "queue.h"

#define P "anon_telemetry_"

/* ---- the format ---- */

static void family(anon_buf *b, const char *name, const char *type, const char *help)
{
    anon_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value between double quotes: backslash, double quote and line feed escaped as
 * the format says; other control characters (never in what we store, but a reason came
 * from a file) become a space, so a sample is always one line. */
static void label_value(anon_buf *b, const char *v)
{
    anon_buf_puts(b, "\"");
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '\\')
            anon_buf_puts(b, "\\\\");
        else if (*p == '"')
            anon_buf_puts(b, "\\\"");
        else if (*p == '\n')
            anon_buf_puts(b, "\\n");
        else if ((unsigned char)*p < 0x20 || *p == 0x7f)
            anon_buf_puts(b, " ");
        else
            anon_buf_append(b, p, 1);
    }
    anon_buf_puts(b, "\"");
}

/* name{label="value"} v, or name v when label is NULL. */
static void sample(anon_buf *b, const char *name, const char *label, const char *value,
                   int64_t v)
{
    anon_buf_puts(b, name);
    if (label != NULL) {
        anon_buf_printf(b, "{%s=", label);
        label_value(b, value);
        anon_buf_puts(b, "}");
    }
    anon_buf_printf(b, " %lld\n", (long long)v);
}

static void gauge(anon_buf *b, const char *name, const char *help, int64_t v)
{
    family(b, name, "gauge", help);
    sample(b, name, NULL, NULL, v);
}

/* A time as Unix seconds with its milliseconds; 0 when ts is not one of ours. */
static void timestamp(anon_buf *b, const char *name, const char *help, const char *ts)
{
    int64_t ms = 0;

    if (anon_parse_ts(ts, &ms) != 0)
        ms = 0;
    family(b, name, "gauge", help);
    anon_buf_printf(b, "%s %lld.%03lld\n", name, (long long)(ms / 1000),
                    (long long)(ms % 1000));
}

static void info(anon_buf *b, const char *spool_id)
{
    family(b, P "info", "gauge", "The version of anon-telemetry, and the spool's id.");
    anon_buf_puts(b, P "info{version=");
    label_value(b, anon_version());
    if (spool_id != NULL && spool_id[0] != '\0') {
        anon_buf_puts(b, ",spool_id=");
        label_value(b, spool_id);
    }
    anon_buf_puts(b, "} 1\n");
}

/* ---- the spool ---- */

static int64_t file_size(const char *path, const char *suffix)
{
    char p[4200];
    struct stat st;

    if (snprintf(p, sizeof p, "%s%s", path, suffix) >= (int)sizeof p || stat(p, &st) != 0)
        return 0;
    return (int64_t)st.st_size;
}

/* What one snapshot read. */
struct snapshot {
    struct queue_counts counts;
    char spool_id[QUEUE_SPOOL_ID_LEN + 1];
    char oldest[ANON_TS_LEN + 1];
    struct queue_last_run run;
    int64_t awaiting, receipt_due;
    anon_buf reasons;             /* the dlq_events samples */
};

static int reason_sample(void *ctx, const char *reason, int64_t n)
{
    struct snapshot *s = ctx;

    sample(&s->reasons, P "dlq_events", "reason", reason, n);
    return s->reasons.oom ? -1 : 0;
}

static int bundle_count(void *ctx, const struct queue_bundle *b)
{
    struct snapshot *s = ctx;

    s->awaiting += queue_bundle_awaits_receipt(b);
    s->receipt_due += queue_bundle_receipt_due(b);
    return 0;
}

static int read_snapshot(anon_spool *sp, struct snapshot *s, char *err, size_t errlen)
{
    queue *q = anon_spool_queue(sp);
    struct queue_times t;
    int rc;

    queue_times_at(anon_now_ms(), &t);
    if ((rc = queue_begin_read(q, err, errlen)) == ANON_OK &&
        (rc = queue_count(q, &t.clock, ANON_RELEASE_TS, &s->counts, err, errlen)) == ANON_OK &&
        (rc = queue_spool_id(q, s->spool_id, err, errlen)) == ANON_OK &&
        (rc = queue_dlq_reasons(q, reason_sample, s, err, errlen)) == ANON_OK &&
        (rc = queue_oldest_pending(q, s->oldest, sizeof s->oldest, err, errlen)) == ANON_OK &&
        (rc = queue_last_run(q, &s->run, err, errlen)) == ANON_OK)
        rc = queue_bundles_each(q, NULL, NULL, bundle_count, s, err, errlen);
    queue_rollback(q);
    return rc;
}

int metrics_spool(anon_buf *out, anon_spool *sp, const char *path, char *err, size_t errlen)
{
    static const char *const results[] = {"sent", "retried", "dead"};
    struct snapshot s;
    int64_t now_ms = anon_now_ms(), oldest_ms, age = 0;
    int rc = ANON_OK;

    memset(&s, 0, sizeof s);
    anon_buf_init(&s.reasons);
    if (sp != NULL && (rc = read_snapshot(sp, &s, err, errlen)) != ANON_OK) {
        info(out, NULL);
        gauge(out, P "spool_error", "1 when the spool exists but could not be read.", 1);
        goto out;
    }
    info(out, s.spool_id);
    gauge(out, P "spool_error", "1 when the spool exists but could not be read.", 0);

    family(out, P "events", "gauge",
           "Events in the spool, by status (dlq: the dead letters).");
    for (int i = 0; i < QUEUE_NSTATUS; i++)
        sample(out, P "events", "status", queue_status_name(i), s.counts.status[i]);
    sample(out, P "events", "status", "dlq", s.counts.dlq);
    gauge(out, P "events_due", "Pending events the next delivery run would try now.",
          s.counts.due_now);
    if (s.reasons.len > 0) {
        family(out, P "dlq_events", "gauge", "Dead letters, by reason.");
        anon_buf_append(out, s.reasons.data, s.reasons.len);
    }
    /* an age is never negative, whatever the clock did */
    if (s.oldest[0] != '\0' && anon_parse_ts(s.oldest, &oldest_ms) == 0 && now_ms > oldest_ms)
        age = (now_ms - oldest_ms) / 1000;
    gauge(out, P "oldest_pending_age_seconds",
          "Age of the oldest pending event (0 when none is pending).", age);
    gauge(out, P "spool_bytes", "Size of the spool: the database file and its write-ahead log.",
          path != NULL ? file_size(path, "") + file_size(path, "-wal") : 0);

    if (s.run.id > 0) {
        timestamp(out, P "last_run_start_timestamp_seconds",
                  "When the last recorded delivery run started (Unix time).", s.run.started_at);
        if (s.run.finished_at[0] != '\0')
            timestamp(out, P "last_run_end_timestamp_seconds",
                      "When the last recorded delivery run finished (Unix time).",
                      s.run.finished_at);
        if (s.run.exit_code >= 0)
            gauge(out, P "last_run_exit_status",
                  "Exit status of the last recorded delivery run.", s.run.exit_code);
        family(out, P "last_run_events", "gauge",
               "Events the last recorded delivery run sent, retried and moved to the dlq.");
        sample(out, P "last_run_events", "result", results[0], s.run.sent);
        sample(out, P "last_run_events", "result", results[1], s.run.retried);
        sample(out, P "last_run_events", "result", results[2], s.run.dead);
    }
    gauge(out, P "bundles_awaiting_receipt",
          "Bundles made here whose events a receipt has not all settled yet.", s.awaiting);
    gauge(out, P "bundles_receipt_due",
          "Bundles imported here for which no receipt has been made yet.", s.receipt_due);
    if (s.reasons.oom)
        out->oom = 1;
out:
    anon_buf_free(&s.reasons);
    if (rc == ANON_OK && out->oom)
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    return rc;
}

int metrics_spool_at(anon_buf *out, const char *path, char *err, size_t errlen)
{
    char defpath[4096];
    anon_spool *sp = NULL;
    struct stat st;
    int rc;

    if (path == NULL) {
        if ((rc = anon_spool_default_path(defpath, sizeof defpath, err, errlen)) != ANON_OK) {
            info(out, NULL);
            gauge(out, P "spool_error", "1 when the spool exists but could not be read.", 1);
            return rc;
        }
        path = defpath;
    }
    /* nothing queued yet is a spool with nothing in it, not an error (and never a reason
     * to create one) */
    if (stat(path, &st) != 0 && errno == ENOENT)
        return metrics_spool(out, NULL, path, err, errlen);
    rc = anon_spool_open_ex(path, ANON_OPEN_NO_CREATE | ANON_OPEN_READ_ONLY, &sp, err, errlen);
    if (rc != ANON_OK) {
        info(out, NULL);
        gauge(out, P "spool_error", "1 when the spool exists but could not be read.", 1);
        return rc;
    }
    rc = metrics_spool(out, sp, path, err, errlen);
    anon_spool_close(sp);
    return rc;
}

/* ---- the relay ---- */

void metrics_relay(anon_buf *out, const struct metrics_relay *m)
{
    char code[16];

    family(out, P "relay_requests_total", "counter", "Requests the relay answered, by status code.");
    for (size_t i = 0; i < m->nanswers; i++) {
        snprintf(code, sizeof code, "%d", m->answers[i].code);
        sample(out, P "relay_requests_total", "code", code, (int64_t)m->answers[i].n);
    }
    family(out, P "relay_refusals_total", "counter",
           "Requests the relay refused (4xx, 5xx): nothing of them was stored.");
    sample(out, P "relay_refusals_total", NULL, NULL, (int64_t)m->refusals);
    family(out, P "relay_events_stored_total", "counter", "Events the relay stored.");
    sample(out, P "relay_events_stored_total", NULL, NULL, (int64_t)m->events_stored);
    family(out, P "relay_events_duplicate_total", "counter",
           "Events posted again whose uuid the spool held already (not stored twice).");
    sample(out, P "relay_events_duplicate_total", NULL, NULL, (int64_t)m->events_duplicate);
    family(out, P "relay_commits_total", "counter",
           "Group commits: one transaction and one fsync for every request waiting.");
    sample(out, P "relay_commits_total", NULL, NULL, (int64_t)m->commits);
    family(out, P "relay_committed_requests_total", "counter",
           "Requests stored by those commits.");
    sample(out, P "relay_committed_requests_total", NULL, NULL, (int64_t)m->committed_requests);
    family(out, P "relay_start_time_seconds", "gauge", "When the relay started (Unix time).");
    anon_buf_printf(out, P "relay_start_time_seconds %.3f\n", m->start_time);
}

/* ---- the textfile ---- */

int metrics_write_textfile(const char *dir, const char *text, size_t len, char *err,
                           size_t errlen)
{
    char tmp[4200], final[4200];
    int fd = -1, rc = ANON_OK;
    size_t off = 0;

    if (snprintf(final, sizeof final, "%s/" METRICS_TEXTFILE, dir) >= (int)sizeof final ||
        snprintf(tmp, sizeof tmp, "%s/." METRICS_TEXTFILE ".XXXXXX", dir) >= (int)sizeof tmp)
        return anon_seterr(err, errlen, ANON_EINVAL, "metrics directory %s: path too long", dir);
    if ((fd = mkstemp(tmp)) < 0)
        return anon_seterr(err, errlen, errno == ENOENT || errno == ENOTDIR ? ANON_EINVAL
                                                                            : ANON_EIO,
                           "cannot write metrics into %s: %s", dir, strerror(errno));
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = anon_seterr(err, errlen, ANON_EIO, "cannot write %s: %s", tmp,
                             n < 0 ? strerror(errno) : "no progress");
            goto fail;
        }
        off += (size_t)n;
    }
    /* mkstemp made it 0600; the collector reads it as another user. Flushed before the
     * rename, so a crash leaves the old file or the whole new one. */
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        rc = anon_seterr(err, errlen, ANON_EIO, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = anon_seterr(err, errlen, ANON_EIO, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, final) != 0) {
        rc = anon_seterr(err, errlen, ANON_EIO, "cannot rename %s to %s: %s", tmp, final,
                         strerror(errno));
        goto fail;
    }
    return ANON_OK;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

int metrics_after_run(const char *dir, const char *spool_path, int status)
{
    char err[ANON_ERRLEN];
    anon_buf b;
    int rc;

    anon_buf_init(&b);
    if (metrics_spool_at(&b, spool_path, err, sizeof err) != ANON_OK)
        log_warnx("metrics: %s", err);
    gauge(&b, P "ship_exit_status",
          "Exit status of the anon-telemetry-ship run that wrote this file.", status);
    if (b.oom)
        rc = anon_seterr(err, sizeof err, ANON_ENOMEM, "out of memory");
    else
        rc = metrics_write_textfile(dir, b.data, b.len, err, sizeof err);
    anon_buf_free(&b);
    if (rc == ANON_OK)
        return status;
    log_warnx("--metrics-textfile: %s", err);
    return status == 0 || status == EX_TEMPFAIL ? EX_IOERR : status;
}

int metrics_cmd(cli_result *r)
{
    char path[4096], err[ANON_ERRLEN];
    anon_buf b;
    int st, ret = EX_OK;

    anon_buf_init(&b);
    if ((st = commands_spool_path(r, path, sizeof path, err, sizeof err)) != ANON_OK ||
        (st = metrics_spool_at(&b, path, err, sizeof err)) != ANON_OK) {
        fprintf(stderr, SHIP_PROG " metrics: %s\n", err);
        ret = anon_status_exit_code(st);
    }
    /* printed also after a failure: anon_telemetry_spool_error 1 is what a scrape wants */
    if (b.oom) {
        fprintf(stderr, SHIP_PROG " metrics: out of memory\n");
        ret = EX_OSERR;
    } else if (b.len > 0 && fwrite(b.data, 1, b.len, stdout) != b.len) {
        ret = EX_IOERR; /* cmdio_finish says why */
    }
    anon_buf_free(&b);
    return ret;
}
