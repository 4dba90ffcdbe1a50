/*
 * server.c: the relay's HTTP side, on libmicrohttpd (one daemon per listening socket,
 * each with an internal thread pool).
 *
 * A request's way through, as libmicrohttpd calls on_request:
 *
 *   headers    route (404, 405), token (401), Content-Type (415), Content-Length
 *              against --max-body (413) and the memory budget (503 + Retry-After);
 *              a request refused here that carries a body has the body read and
 *              dropped before the answer (up to DRAIN_MAX), so that a client still
 *              sending receives the answer instead of a reset: the Anonymizer's
 *              handler splits its batch on a 413 only if it sees one
 *   body       kept in memory, counted while it arrives (a body without a
 *              Content-Length is refused as soon as it passes --max-body)
 *   complete   the opt-out (200, nothing stored), then anon_envelope_parse and the
 *              Anon-Telemetry-Event-Ids header (400 naming the place); the connection
 *              is suspended and the events go to the committer (commit.c)
 *   resumed    200 {"stored":N,"duplicates":M} once committed, or 503 + Retry-After
 *              when the spool could not be written (nothing of it stored)
 *
 * Memory: every request body counts BODY_COST(n) bytes against --max-memory (the body,
 * the parsed copy and the kept strings); when the budget is in use a new upload gets
 * 503 with Retry-After instead of the relay growing without bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "relay.h"

#define BODY_COST(n)      (3 * (size_t)(n) + 4096)
#define CHUNK_RESERVE     ((size_t)256 << 10)  /* reserved at a time for a body of unknown size */
#define DRAIN_MAX         ((size_t)64 << 20)   /* a refused body up to this is read, then answered */
#define CONN_MEMORY       ((size_t)128 << 10)  /* per connection: headers (the ids of ~3000 events) */
#define POOL_THREADS      4
#define RETRY_MEMORY      "1"                  /* seconds: a budget frees up as requests end */
#define RETRY_BUSY        "5"                  /* the spool locked by another process */
#define RETRY_SPOOL       "30"                 /* the spool cannot be written (disk full ...) */

struct relay_server {
    const struct relay_opts *o;
    struct MHD_Daemon *daemons[RELAY_MAX_SOCKETS];
    int n;                          /* daemons started */
    int fds[RELAY_MAX_SOCKETS];     /* the listening sockets (closed by server_stop) */
    struct sockaddr_storage addrs[RELAY_MAX_SOCKETS];
    int nfds;
    struct committer *committer;
    anon_spool *read_sp;            /* /healthz reads through its own connection */
    pthread_mutex_t read_lock;
    const char *token;
    char *tls_cert, *tls_key;       /* PEM text */
    struct relay_stats stats;
    _Atomic size_t mem_used;
    _Atomic int connections;
    _Atomic int inflight;           /* requests begun and not yet completed */
    _Atomic int64_t last_activity;
    int64_t started_ms;             /* for /metrics */
};

enum route { ROUTE_NONE, ROUTE_EVENTS, ROUTE_HEALTH, ROUTE_METRICS };

struct request {
    struct relay_server *s;
    struct MHD_Connection *conn;
    enum route route;
    const char *method;
    unsigned status;                /* != 0: the answer is decided (a refusal) */
    const char *retry_after;
    const char *allow;              /* for 405 */
    char reason[ANON_ERRLEN];
    char client[INET6_ADDRSTRLEN + 8];
    anon_buf body;
    size_t received;                /* body bytes seen, kept or dropped */
    size_t reserved;                /* bytes of the memory budget held */
    long long declared;             /* Content-Length; -1 when none */
    anon_envelope *env;
    struct relay_job job;
    int submitted;
    _Atomic int committed;
};

/* ---- the memory budget ---- */

static int reserve(struct request *r, size_t n)
{
    struct relay_server *s = r->s;
    size_t cur = atomic_load(&s->mem_used);

    do {
        if (n > s->o->max_memory || cur > s->o->max_memory - n)
            return -1;
    } while (!atomic_compare_exchange_weak(&s->mem_used, &cur, cur + n));
    r->reserved += n;
    return 0;
}

static void release_all(struct request *r)
{
    atomic_fetch_sub(&r->s->mem_used, r->reserved);
    r->reserved = 0;
}

/* ---- answers ---- */

/* A reason fit for a log line: control characters and invalid UTF-8 become '?'. */
static void clean(const char *in, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;

    while (*p != '\0' && o + 5 < outlen) {
        uint32_t cp;
        size_t n = *p >= 0x80 ? anon_utf8_decode(p, &cp) : 0;

        if (n > 0 && cp >= 0xa0) {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        } else {
            out[o++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
            p++;
        }
    }
    out[o] = '\0';
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, const char *json,
                                 const char *retry_after, const char *allow, int close)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (retry_after != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    if (allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int refusal_class(unsigned status)
{
    switch (status) {
    case 400: return REF_400;
    case 401: return REF_401;
    case 404: return REF_404;
    case 405: return REF_405;
    case 413: return REF_413;
    case 415: return REF_415;
    default: return REF_503;
    }
}

/* Decides a refusal (the first one decided stands). */
static void refuse(struct request *r, unsigned status, const char *retry_after,
                   const char *fmt, ...) ANON_PRINTF(4, 5);
static void refuse(struct request *r, unsigned status, const char *retry_after,
                   const char *fmt, ...)
{
    va_list ap;

    if (r->status != 0)
        return;
    r->status = status;
    r->retry_after = retry_after;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    /* what was kept of the body is no longer needed */
    anon_buf_free(&r->body);
    anon_buf_init(&r->body);
    release_all(r);
}

/* Sends the decided refusal: {"error": reason}; logged and counted. */
static enum MHD_Result send_refusal(struct request *r, int close)
{
    char shown[ANON_ERRLEN];
    anon_buf b;
    enum MHD_Result ret;

    clean(r->reason, shown, sizeof shown);
    log_warnx("refused %s %s from %s: %u %s", r->method,
              r->route == ROUTE_EVENTS   ? RELAY_EVENTS_PATH
              : r->route == ROUTE_HEALTH ? RELAY_HEALTH_PATH
              : r->route == ROUTE_METRICS ? RELAY_METRICS_PATH
                                         : "(another path)",
              r->client, r->status, shown);
    atomic_fetch_add(&r->s->stats.refused[refusal_class(r->status)], 1);
    atomic_fetch_add(&r->s->stats.requests, 1);
    anon_buf_init(&b);
    anon_buf_puts(&b, "{\"error\":");
    anon_buf_json_string(&b, r->reason);
    anon_buf_puts(&b, "}");
    ret = send_json(r->conn, r->status, b.oom ? "{\"error\":\"out of memory\"}" : b.data,
                    r->retry_after, r->allow, close);
    anon_buf_free(&b);
    return ret;
}

/* ---- /healthz ---- */

static int spool_counts(struct relay_server *s, struct queue_counts *ret, char *err,
                        size_t errlen)
{
    queue *q = anon_spool_queue(s->read_sp);
    char now[ANON_TS_LEN + 1], retry[ANON_TS_LEN + 1], lease[ANON_TS_LEN + 1];
    int64_t ms = anon_now_ms();
    struct queue_clock clock = {now, retry, lease};
    int rc;

    anon_format_ts(ms, now);
    anon_format_ts(ms + QUEUE_RETRY_HORIZON_MS, retry);
    anon_format_ts(ms + QUEUE_DEFAULT_LEASE_MS, lease);
    pthread_mutex_lock(&s->read_lock);
    rc = queue_begin_read(q, err, errlen);
    if (rc == ANON_OK)
        rc = queue_count(q, &clock, "2000-01-01T00:00:00.000Z", ret, err, errlen);
    queue_rollback(q);
    pthread_mutex_unlock(&s->read_lock);
    return rc;
}

static enum MHD_Result send_health(struct request *r)
{
    static const char *const names[REF_N] = {"400", "401", "404", "405", "413", "415", "503"};
    struct relay_server *s = r->s;
    struct relay_stats *st = &s->stats;
    struct queue_counts qc;
    char err[ANON_ERRLEN];
    anon_buf b;
    enum MHD_Result ret;
    int rc = spool_counts(s, &qc, err, sizeof err);

    anon_buf_init(&b);
    anon_buf_printf(&b, "{\"status\":\"%s\",\"spool\":", rc == ANON_OK ? "ok" : "error");
    anon_buf_json_string(&b, anon_spool_path(s->read_sp));
    if (rc == ANON_OK)
        anon_buf_printf(&b, ",\"events\":{\"pending\":%lld,\"sending\":%lld,\"sent\":%lld,"
                            "\"dlq\":%lld}",
                        (long long)qc.status[QUEUE_ST_PENDING],
                        (long long)qc.status[QUEUE_ST_SENDING],
                        (long long)qc.status[QUEUE_ST_SENT], (long long)qc.dlq);
    else {
        anon_buf_puts(&b, ",\"error\":");
        anon_buf_json_string(&b, err);
    }
    anon_buf_printf(&b, ",\"requests\":{\"answered\":%llu,\"accepted\":%llu,\"refused\":{",
                    (unsigned long long)atomic_load(&st->requests) + 1,
                    (unsigned long long)atomic_load(&st->accepted));
    for (int i = 0; i < REF_N; i++)
        anon_buf_printf(&b, "%s\"%s\":%llu", i ? "," : "", names[i],
                        (unsigned long long)atomic_load(&st->refused[i]));
    anon_buf_printf(&b, "}},\"stored\":%llu,\"duplicates\":%llu,"
                        "\"commits\":{\"count\":%llu,\"requests\":%llu,\"largest\":%llu},"
                        "\"memory\":{\"used\":%zu,\"budget\":%zu},\"connections\":%d}",
                    (unsigned long long)atomic_load(&st->events_stored),
                    (unsigned long long)atomic_load(&st->events_duplicate),
                    (unsigned long long)atomic_load(&st->commits),
                    (unsigned long long)atomic_load(&st->committed_requests),
                    (unsigned long long)atomic_load(&st->largest_group),
                    atomic_load(&s->mem_used), s->o->max_memory,
                    atomic_load(&s->connections));
    atomic_fetch_add(&st->requests, 1);
    ret = send_json(r->conn, rc == ANON_OK ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                    b.oom ? "{\"status\":\"error\"}" : b.data,
                    rc == ANON_OK ? NULL : RETRY_SPOOL, NULL, 0);
    if (rc != ANON_OK)
        log_warnx("/healthz: %s", err);
    anon_buf_free(&b);
    return ret;
}

/* ---- /metrics ---- */

/* The spool's metrics and the relay's own, in the Prometheus text format (shipper/
 * metrics.c renders both, as for anon-telemetry-ship metrics). A spool that cannot be read
 * is anon_telemetry_spool_error 1 in a 200 answer: the relay's counters still count. */
static enum MHD_Result send_metrics(struct request *r)
{
    static const int codes[REF_N] = {400, 401, 404, 405, 413, 415, 503};
    struct relay_server *s = r->s;
    struct relay_stats *st = &s->stats;
    struct metrics_relay_answer answers[REF_N + 1];
    struct metrics_relay m = {answers, REF_N + 1, 0, 0, 0, 0, 0, 0};
    struct MHD_Response *resp;
    uint64_t all = atomic_fetch_add(&st->requests, 1) + 1; /* this one included */
    char err[ANON_ERRLEN];
    enum MHD_Result ret;
    anon_buf b;
    int rc;

    for (int i = 0; i < REF_N; i++) {
        answers[i + 1].code = codes[i];
        answers[i + 1].n = atomic_load(&st->refused[i]);
        m.refusals += answers[i + 1].n;
    }
    answers[0].code = 200;
    answers[0].n = all > m.refusals ? all - m.refusals : 0;
    m.events_stored = atomic_load(&st->events_stored);
    m.events_duplicate = atomic_load(&st->events_duplicate);
    m.commits = atomic_load(&st->commits);
    m.committed_requests = atomic_load(&st->committed_requests);
    m.start_time = (double)s->started_ms / 1000.0;
    anon_buf_init(&b);
    pthread_mutex_lock(&s->read_lock);
    rc = metrics_spool(&b, s->read_sp, anon_spool_path(s->read_sp), err, sizeof err);
    pthread_mutex_unlock(&s->read_lock);
    if (rc != ANON_OK)
        log_warnx("%s: %s", RELAY_METRICS_PATH, err);
    metrics_relay(&b, &m);
    if (b.oom) {
        anon_buf_free(&b);
        return send_json(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "{\"error\":\"out of memory\"}", RETRY_MEMORY, NULL, 0);
    }
    resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
    anon_buf_free(&b);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- checks on the headers ---- */

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* The token as "Authorization: Bearer TOKEN" or as the query parameter token=TOKEN (the
 * Anonymizer's handler can only put it in the URL). 1 when it matches. */
static int authorized(struct relay_server *s, struct MHD_Connection *c, int *ret_given)
{
    const char *auth = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    int ok = 0;

    *ret_given = 0;
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *t = auth + 7;

        while (*t == ' ')
            t++;
        *ret_given = 1;
        ok |= relay_token_equal(s->token, t, strlen(t));
    }
    if (q != NULL) {
        *ret_given = 1;
        ok |= relay_token_equal(s->token, q, strlen(q));
    }
    return ok;
}

/* application/json, or a type ending in +json, with or without parameters
 * (charset=utf-8). */
static int json_type(const char *ct)
{
    size_t n;

    if (ct == NULL)
        return 0;
    while (*ct == ' ')
        ct++;
    n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return 1;
    return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0 && memchr(ct, '/', n) != NULL;
}

static long long content_length(struct MHD_Connection *c)
{
    const char *v = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long n = 0;

    if (v == NULL)
        return -1;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (n > (LLONG_MAX - 9) / 10)
            return LLONG_MAX;
        n = n * 10 + (*v - '0');
    }
    return n;
}

static void client_address(struct MHD_Connection *c, char *buf, size_t buflen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    snprintf(buf, buflen, "?");
    if (ci != NULL && ci->client_addr != NULL) {
        socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                               : sizeof(struct sockaddr_in);
        getnameinfo(ci->client_addr, len, buf, (socklen_t)buflen, NULL, 0, NI_NUMERICHOST);
    }
}

/* The first call: only the headers are there. */
static enum MHD_Result begin(struct relay_server *s, struct MHD_Connection *c,
                             const char *url, const char *method, void **con_cls)
{
    struct request *r = calloc(1, sizeof *r);
    const char *expect;
    int is_get, has_body, given;

    if (r == NULL)
        return MHD_NO;
    *con_cls = r;
    r->s = s;
    r->conn = c;
    r->method = method;
    anon_buf_init(&r->body);
    atomic_fetch_add(&s->inflight, 1);
    client_address(c, r->client, sizeof r->client);
    r->declared = content_length(c);
    expect = header(c, "Expect");
    has_body = r->declared > 0 || (r->declared < 0 && header(c, "Transfer-Encoding") != NULL);
    is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

    if (strcmp(url, RELAY_EVENTS_PATH) == 0) {
        r->route = ROUTE_EVENTS;
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
            r->allow = "POST";
            refuse(r, 405, NULL, "method %.16s not allowed: POST the envelope to %s", method,
                   RELAY_EVENTS_PATH);
        }
    } else if (strcmp(url, RELAY_HEALTH_PATH) == 0) {
        r->route = ROUTE_HEALTH;
        if (!is_get) {
            r->allow = "GET, HEAD";
            refuse(r, 405, NULL, "method %.16s not allowed: GET %s", method, RELAY_HEALTH_PATH);
        }
    } else if (strcmp(url, RELAY_METRICS_PATH) == 0) {
        r->route = ROUTE_METRICS;
        if (!is_get) {
            r->allow = "GET, HEAD";
            refuse(r, 405, NULL, "method %.16s not allowed: GET %s", method, RELAY_METRICS_PATH);
        }
    } else {
        refuse(r, 404, NULL, "no such path: POST events to %s, GET %s or %s", RELAY_EVENTS_PATH,
               RELAY_HEALTH_PATH, RELAY_METRICS_PATH);
    }
    if (r->status == 0 && s->token != NULL && !authorized(s, c, &given))
        refuse(r, 401, NULL, given ? "the token is wrong"
                                   : "a token is required: Authorization: Bearer TOKEN, or "
                                     "?token=TOKEN in the URL");
    if (r->status == 0 && r->route == ROUTE_EVENTS) {
        const char *ct = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);

        if (!json_type(ct))
            refuse(r, 415, NULL, "Content-Type must be application/json%s%s%s",
                   ct ? " (got '" : " (none given)", ct ? ct : "", ct ? "')" : "");
        else if (r->declared > (long long)s->o->max_body)
            refuse(r, 413, NULL, "body is %lld bytes, over the relay's limit of %zu "
                   "(--max-body): send fewer events per request", r->declared, s->o->max_body);
        else if (r->declared >= 0 && reserve(r, BODY_COST(r->declared)) != 0)
            refuse(r, 503, RETRY_MEMORY, "the relay's memory for request bodies (--max-memory "
                   "%zu) is in use: try again shortly", s->o->max_memory);
    }
    if (r->status != 0) {
        /* a body is read (and dropped) first, so that the client sees the answer; unless
         * the client waits for "100 Continue" before sending it */
        if (has_body && (expect == NULL || strncasecmp(expect, "100-continue", 12) != 0) &&
            (r->declared < 0 || (size_t)r->declared <= DRAIN_MAX))
            return MHD_YES;
        return send_refusal(r, has_body);
    }
    if (r->route == ROUTE_HEALTH)
        return send_health(r);
    if (r->route == ROUTE_METRICS)
        return send_metrics(r);
    return MHD_YES;
}

/* Body bytes as they arrive. */
static enum MHD_Result take_body(struct request *r, const char *data, size_t n)
{
    struct relay_server *s = r->s;

    r->received += n;
    if (r->status == 0) {
        if (r->received > s->o->max_body)
            refuse(r, 413, NULL, "body is over the relay's limit of %zu bytes (--max-body): "
                   "send fewer events per request", s->o->max_body);
        else if (BODY_COST(r->received) > r->reserved &&
                 reserve(r, BODY_COST(r->received) - r->reserved + 3 * CHUNK_RESERVE) != 0)
            refuse(r, 503, RETRY_MEMORY, "the relay's memory for request bodies (--max-memory "
                   "%zu) is in use: try again shortly", s->o->max_memory);
        else {
            anon_buf_append(&r->body, data, n);
            if (r->body.oom)
                refuse(r, 503, RETRY_MEMORY, "out of memory for the request body");
        }
    }
    /* past DRAIN_MAX a refused body is not worth reading: answer and close */
    if (r->status != 0 && r->received > DRAIN_MAX)
        return send_refusal(r, 1);
    return MHD_YES;
}

static void job_done(void *arg)
{
    struct request *r = arg;

    atomic_store(&r->committed, 1);
    MHD_resume_connection(r->conn);
}

/* The whole body is there. */
static enum MHD_Result complete(struct request *r)
{
    struct relay_server *s = r->s;
    char err[ANON_ERRLEN];
    const char *ids;
    int rc;

    if (!anon_telemetry_enabled()) {
        /* the site opted out: accepted, nothing kept (the client must not retry) */
        log_info("%s: telemetry disabled (NEMO_TELEMETRY_ENABLED): %zu bytes dropped",
                 r->client, r->body.len);
        atomic_fetch_add(&s->stats.requests, 1);
        atomic_fetch_add(&s->stats.accepted, 1);
        return send_json(r->conn, MHD_HTTP_OK, "{\"stored\":0,\"duplicates\":0}", NULL, NULL, 0);
    }
    rc = anon_envelope_parse(r->body.data != NULL ? r->body.data : "", r->body.len, &r->env,
                             err, sizeof err);
    if (rc == ANON_OK && (ids = header(r->conn, ENVELOPE_IDS_HEADER)) != NULL)
        rc = anon_envelope_set_ids(r->env, ids, err, sizeof err);
    if (rc != ANON_OK) {
        if (rc == ANON_ENOMEM)
            refuse(r, 503, RETRY_MEMORY, "out of memory parsing the envelope");
        else
            refuse(r, 400, NULL, "%s", err);
        return send_refusal(r, 0);
    }
    /* the parsed envelope holds what is needed: the raw body can go */
    anon_buf_free(&r->body);
    anon_buf_init(&r->body);
    r->job.recs = anon_envelope_records(r->env);
    r->job.n = anon_envelope_count(r->env);
    r->job.done = job_done;
    r->job.arg = r;
    r->submitted = 1;
    MHD_suspend_connection(r->conn);
    committer_submit(s->committer, &r->job);
    return MHD_YES;
}

/* Back from the committer. */
static enum MHD_Result committed(struct request *r)
{
    struct relay_server *s = r->s;
    struct relay_job *j = &r->job;
    char body[96];

    if (j->status != ANON_OK) {
        refuse(r, 503, j->status == ANON_EBUSY ? RETRY_BUSY : RETRY_SPOOL,
               "the spool cannot be written now, nothing was stored: %s", j->err);
        return send_refusal(r, 0);
    }
    atomic_fetch_add(&s->stats.requests, 1);
    atomic_fetch_add(&s->stats.accepted, 1);
    atomic_fetch_add(&s->stats.events_stored, j->stored);
    atomic_fetch_add(&s->stats.events_duplicate, j->duplicates);
    log_info("%s: stored %zu events, %zu already held (session %s)", r->client, j->stored,
             j->duplicates, j->n > 0 ? j->recs[0].session_id : "?");
    snprintf(body, sizeof body, "{\"stored\":%zu,\"duplicates\":%zu}", j->stored,
             j->duplicates);
    return send_json(r->conn, MHD_HTTP_OK, body, NULL, NULL, 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct request *r = *con_cls;
    size_t n;

    (void)version;
    if (r == NULL)
        return begin(cls, c, url, method, con_cls);
    if (*upload_data_size > 0) {
        n = *upload_data_size;
        *upload_data_size = 0;
        return take_body(r, upload_data, n);
    }
    if (r->status != 0)
        return send_refusal(r, 0);
    if (r->submitted)
        return atomic_load(&r->committed) ? committed(r) : MHD_YES;
    if (r->route == ROUTE_HEALTH)
        return send_health(r);
    if (r->route == ROUTE_METRICS)
        return send_metrics(r);
    return complete(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct relay_server *s = cls;
    struct request *r = *con_cls;

    (void)c;
    if (r == NULL)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0 && !r->submitted)
        log_info("%s: request ended before it was complete (%s): nothing stored", r->client,
                 toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timed out"
                 : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutting down"
                                                                 : "connection closed");
    release_all(r);
    anon_buf_free(&r->body);
    anon_envelope_free(r->env);
    free(r);
    *con_cls = NULL;
    atomic_store(&s->last_activity, anon_now_ms());
    atomic_fetch_sub(&s->inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct relay_server *s = cls;

    (void)c;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&s->connections, 1);
    else
        atomic_fetch_sub(&s->connections, 1);
    atomic_store(&s->last_activity, anon_now_ms());
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_debug("libmicrohttpd: %s", msg);
}

static char *read_pem(const char *path, const char *what, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC), e;

    if (fd < 0) {
        anon_seterr(err, errlen, -1, "%s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    e = anon_read_all(fd, 1 << 20, &buf, &len);
    close(fd);
    if (e != 0) {
        anon_seterr(err, errlen, -1, "%s %s: %s", what, path, strerror(e));
        return NULL;
    }
    if (strstr(buf, "-----BEGIN ") == NULL) {
        anon_seterr(err, errlen, -1, "%s %s: not a PEM file", what, path);
        free(buf);
        return NULL;
    }
    return buf;
}

int server_start(const struct relay_opts *o, struct relay_socket *socks, int n,
                 anon_spool *sp, anon_spool *read_sp, const char *token,
                 struct relay_server **ret, char *err, size_t errlen)
{
    struct relay_server *s = calloc(1, sizeof *s);
    unsigned threads;

    *ret = NULL;
    if (s == NULL) {
        for (int i = 0; i < n; i++)
            close(socks[i].fd);
        return anon_seterr(err, errlen, -1, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        s->fds[i] = socks[i].fd;
        s->addrs[i] = socks[i].addr;
    }
    s->nfds = n;
    s->o = o;
    s->read_sp = read_sp;
    s->token = token;
    pthread_mutex_init(&s->read_lock, NULL);
    s->started_ms = anon_now_ms();
    atomic_store(&s->last_activity, s->started_ms);
    if (o->tls_cert != NULL &&
        ((s->tls_cert = read_pem(o->tls_cert, "TLS certificate", err, errlen)) == NULL ||
         (s->tls_key = read_pem(o->tls_key, "TLS key", err, errlen)) == NULL))
        goto fail;
    if (committer_start(sp, &s->stats, &s->committer, err, errlen) != 0)
        goto fail;
    /* libmicrohttpd splits the connection limit between its threads: never fewer than one
     * connection a thread, and the threads share the listening socket */
    threads = o->max_connections < POOL_THREADS ? o->max_connections : POOL_THREADS;
    for (int i = 0; i < n; i++) {
        unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG | (o->tls_cert != NULL ? MHD_USE_TLS : 0) |
                         (socks[i].addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);

        /* the certificate and key, only with TLS (libmicrohttpd refuses them without) */
        struct MHD_OptionItem tls[] = {
            {o->tls_cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->tls_cert},
            {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
            {MHD_OPTION_END, 0, NULL},
        };

        s->daemons[i] = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, socks[i].fd,
            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
            o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, o->client_timeout,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
        if (s->daemons[i] == NULL) {
            char shown[INET6_ADDRSTRLEN + 16];

            relay_format_addr(&socks[i].addr, shown, sizeof shown);
            anon_seterr(err, errlen, -1, "cannot serve %s%s (libmicrohttpd refused to start; "
                        "-vv shows why)", shown,
                        o->tls_cert != NULL ? " over TLS: check the certificate and key" : "");
            goto fail;
        }
        s->n = i + 1;
    }
    *ret = s;
    return 0;
fail:
    server_stop(s, 0);
    return -1;
}

int server_open_connections(const struct relay_server *s)
{
    return atomic_load(&((struct relay_server *)s)->connections);
}

int server_socket_count(const struct relay_server *s)
{
    return s->nfds;
}

const struct sockaddr_storage *server_socket_addr(const struct relay_server *s, int i)
{
    return &s->addrs[i];
}

int64_t server_last_activity(const struct relay_server *s)
{
    return atomic_load(&((struct relay_server *)s)->last_activity);
}

int server_stop(struct relay_server *s, int64_t wait_ms)
{
    int64_t deadline = anon_now_ms() + wait_ms;
    struct timespec tick = {0, 20 * 1000 * 1000};
    int left;

    if (s == NULL)
        return 0;
    /* no new connections; the ones open finish what they started */
    for (int i = 0; i < s->n; i++)
        MHD_quiesce_daemon(s->daemons[i]);
    while ((left = atomic_load(&s->inflight)) > 0 && anon_now_ms() < deadline)
        nanosleep(&tick, NULL);
    /* the committer finishes (and resumes) what it holds before the daemons stop, since a
     * daemon must not stop with a connection suspended */
    committer_stop(s->committer);
    s->committer = NULL;
    for (int i = 0; i < s->n; i++)
        MHD_stop_daemon(s->daemons[i]);
    for (int i = 0; i < s->nfds; i++)
        close(s->fds[i]);
    pthread_mutex_destroy(&s->read_lock);
    free(s->tls_cert);
    if (s->tls_key != NULL) {
        memset(s->tls_key, 0, strlen(s->tls_key));
        free(s->tls_key);
    }
    free(s);
    return left;
}
