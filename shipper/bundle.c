/*
 * bundle.c: the lines of bundles and receipts (formats in bundle.h).
 *
 * Every reader here works the same way: strict JSON first (anon_json_check_object, so
 * a line that is not JSON is named as such), then the fields one by one with a message
 * for each, then the line is written again from what was read and the bytes compared.
 * The last step is what makes "what the reviewer read is what is posted" hold: any
 * other spelling of the same values (spaces, key order, escapes, an extra key) is
 * refused, not normalised.
 *
 * An envelope line is read without building a JSON tree: the uuids are picked from
 * their fixed place, the envelope goes to anon_envelope_parse (the relay's parser,
 * which checks every event as the writer does), and writing the line again uses the
 * shipper's own envelope_build.
 */
#include "bundle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

#define LINE_HEAD "{\"ids\":["
#define LINE_MID  "],\"envelope\":"
#define MAX_INT   9007199254740991LL   /* 2^53 - 1: what a JSON number holds exactly */

/* ---- small checks ---- */

int bundle_uuid_check(const char *s)
{
    if (anon_uuid_check(s) != 0)
        return -1;
    for (int i = 0; i < ANON_UUID_LEN; i++)
        if (s[i] >= 'A' && s[i] <= 'F')
            return -1;
    return 0;
}

int bundle_spool_id_check(const char *s)
{
    for (int i = 0; i < BUNDLE_SPOOL_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -1;
    return s[BUNDLE_SPOOL_ID_LEN] == '\0' ? 0 : -1;
}

/* "not in the form ...": the first byte where line and again differ. */
static int same_form(const char *line, size_t len, const anon_buf *again, const char *what,
                     char *err, size_t errlen)
{
    size_t k = 0;

    if (again->oom)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    if (again->len == len && memcmp(again->data, line, len) == 0)
        return ANON_OK;
    while (k < len && k < again->len && line[k] == again->data[k])
        k++;
    return anon_seterr(err, errlen, ANON_EINVAL,
                       "%s is not in the form anon-telemetry writes (it differs at byte %zu: "
                       "%s)",
                       what, k + 1,
                       k >= len          ? "the line is too short"
                       : k >= again->len ? "the line goes on"
                                         : "spacing, key order, escapes or a value changed");
}

/* The line parsed as a JSON object, after the strict check; NULL with err set. */
static cJSON *parse_object(const char *line, size_t len, char *err, size_t errlen)
{
    char why[ANON_ERRLEN];
    cJSON *o;

    if (anon_json_check_object(line, len, why, sizeof why) != ANON_OK) {
        anon_seterr(err, errlen, ANON_EINVAL, "not JSON: %s", why);
        return NULL;
    }
    if ((o = cJSON_ParseWithLength(line, len)) == NULL)
        anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    return o;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A whole number in [0, MAX_INT]; -1 when missing or anything else. */
static int jint(const cJSON *o, const char *key, int64_t *ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > (double)MAX_INT ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -1;
    *ret = (int64_t)v->valuedouble;
    return 0;
}

/* Copies a lower-case uuid field; -1 when missing or not one. */
static int juuid(const cJSON *o, const char *key, bundle_uuid out)
{
    const char *s = jstr(o, key);

    if (s == NULL || bundle_uuid_check(s) != 0)
        return -1;
    memcpy(out, s, ANON_UUID_LEN + 1);
    return 0;
}

static int jspool(const cJSON *o, const char *key, char out[BUNDLE_SPOOL_ID_LEN + 1])
{
    const char *s = jstr(o, key);

    if (s == NULL || bundle_spool_id_check(s) != 0)
        return -1;
    memcpy(out, s, BUNDLE_SPOOL_ID_LEN + 1);
    return 0;
}

static int jts(const cJSON *o, const char *key, char out[ANON_TS_LEN + 1])
{
    const char *s = jstr(o, key);
    int64_t ms;

    if (s == NULL || anon_parse_ts(s, &ms) != 0)
        return -1;
    memcpy(out, s, ANON_TS_LEN + 1);
    return 0;
}

/* The checks both headers start with: the format and its version. */
static int check_format(const cJSON *o, const char *want, const char *kind, int version,
                        char *err, size_t errlen)
{
    const char *fmt = jstr(o, "format");
    int64_t v;
    char q[160];

    if (fmt == NULL)
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "not an anon-telemetry %s: the first line has no \"format\"", kind);
    if (strcmp(fmt, want) != 0) {
        if (strcmp(fmt, BUNDLE_FORMAT) == 0 || strcmp(fmt, RECEIPT_FORMAT) == 0)
            return anon_seterr(err, errlen, ANON_EINVAL,
                               "this is a %s (format %s), not a %s",
                               strcmp(fmt, BUNDLE_FORMAT) == 0 ? "bundle" : "receipt", fmt,
                               kind);
        return anon_seterr(err, errlen, ANON_EINVAL, "not an anon-telemetry %s (format %s)",
                           kind, cli_quote(fmt, q, sizeof q));
    }
    if (jint(o, "version", &v) != 0)
        return anon_seterr(err, errlen, ANON_EINVAL, "version: not a whole number");
    if (v != version)
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "%s format version %lld: this anon-telemetry reads version %d "
                           "(use the anon-telemetry that made it, or a newer one)",
                           kind, (long long)v, version);
    return ANON_OK;
}

/* ---- bundle header ---- */

void bundle_header_write(anon_buf *b, const struct bundle_header *h)
{
    anon_buf_printf(b,
                    "{\"format\":\"" BUNDLE_FORMAT "\",\"version\":%d,\"bundle\":\"%s\","
                    "\"spool\":\"%s\",\"created_at\":\"%s\",\"events\":%lld}",
                    BUNDLE_VERSION, h->bundle, h->spool, h->created_at, (long long)h->events);
}

int bundle_header_read(const char *line, size_t len, struct bundle_header *h, char *err,
                       size_t errlen)
{
    cJSON *o = parse_object(line, len, err, errlen);
    anon_buf again;
    int rc;

    memset(h, 0, sizeof *h);
    if (o == NULL)
        return ANON_EINVAL;
    anon_buf_init(&again);
    if ((rc = check_format(o, BUNDLE_FORMAT, "bundle", BUNDLE_VERSION, err, errlen)) != ANON_OK)
        goto out;
    rc = ANON_EINVAL;
    if (juuid(o, "bundle", h->bundle) != 0)
        anon_seterr(err, errlen, rc, "bundle: not a uuid in lower case");
    else if (jspool(o, "spool", h->spool) != 0)
        anon_seterr(err, errlen, rc, "spool: not a spool id (32 lower-case hex digits)");
    else if (jts(o, "created_at", h->created_at) != 0)
        anon_seterr(err, errlen, rc, "created_at: not a UTC time like 2026-05-11T12:00:00.000Z");
    else if (jint(o, "events", &h->events) != 0)
        anon_seterr(err, errlen, rc, "events: not a whole number of events");
    else {
        bundle_header_write(&again, h);
        rc = same_form(line, len, &again, "the header", err, errlen);
    }
out:
    anon_buf_free(&again);
    cJSON_Delete(o);
    return rc;
}

/* ---- envelope lines ---- */

int bundle_line_write(anon_buf *b, const char *const *uuids, const struct envelope_hdr *hdr,
                      const struct envelope_event *evs, size_t n)
{
    /* envelope_build always writes a sentTs, which a bundle leaves to the host that
     * posts it; it is cut out. Its value is 0 (1970-...) so that its text is known; a
     * value of the key can hold no unescaped quote, so the first match is the key. */
    static const char sent0[] = ",\"sentTs\":\"1970-01-01T00:00:00.000Z\"";
    const size_t sent0_len = sizeof sent0 - 1;
    size_t start;
    char *at;

    anon_buf_puts(b, LINE_HEAD);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            anon_buf_append(b, ",", 1);
        anon_buf_append(b, "\"", 1);
        anon_buf_puts(b, uuids[i]);
        anon_buf_append(b, "\"", 1);
    }
    anon_buf_puts(b, LINE_MID);
    start = b->len;
    if (b->oom || envelope_build(b, hdr, 0, evs, n) != 0)
        return -1;
    at = strstr(b->data + start, sent0);
    if (at == NULL)
        return -1;
    memmove(at, at + sent0_len, b->len - (size_t)(at - b->data) - sent0_len + 1);
    b->len -= sent0_len;
    anon_buf_append(b, "}", 1);
    return b->oom ? -1 : 0;
}

void bundle_line_init(struct bundle_line *l)
{
    memset(l, 0, sizeof *l);
    anon_buf_init(&l->again);
}

void bundle_line_take(struct bundle_line *dst, struct bundle_line *src)
{
    *dst = *src;
    bundle_line_init(src);
}

void bundle_line_free(struct bundle_line *l)
{
    anon_envelope_free(l->env);
    free(l->recs);
    free(l->ids);
    anon_buf_free(&l->again);
    memset(l, 0, sizeof *l);
}

/* Why a line is not an envelope line: not JSON at all, or JSON of another shape. */
static int not_a_line(const char *line, size_t len, char *err, size_t errlen)
{
    char why[ANON_ERRLEN];

    if (anon_json_check_object(line, len, why, sizeof why) != ANON_OK)
        return anon_seterr(err, errlen, ANON_EINVAL, "not JSON: %s", why);
    return anon_seterr(err, errlen, ANON_EINVAL,
                       "not an envelope line: expected {\"ids\":[UUID,...],\"envelope\":{...}}");
}

static int grow(struct bundle_line *l, size_t want)
{
    bundle_uuid *ids;
    anon_record *recs;
    size_t cap = l->cap ? l->cap : 64;

    if (want <= l->cap)
        return 0;
    while (cap < want)
        cap *= 2;
    if ((ids = realloc(l->ids, cap * sizeof *ids)) == NULL)
        return -1;
    l->ids = ids;
    if ((recs = realloc(l->recs, cap * sizeof *recs)) == NULL)
        return -1;
    l->recs = recs;
    l->cap = cap;
    return 0;
}

int bundle_line_read(struct bundle_line *l, const char *line, size_t len, char *err,
                     size_t errlen)
{
    const size_t head = sizeof LINE_HEAD - 1, mid = sizeof LINE_MID - 1;
    struct envelope_event *evs = NULL;
    const char **uuids = NULL;
    size_t p = head, nids = 0;
    char why[ANON_ERRLEN];
    int rc;

    anon_envelope_free(l->env);
    l->env = NULL;
    l->n = 0;
    if (len < head + 2 || memcmp(line, LINE_HEAD, head) != 0 || line[len - 1] != '}')
        return not_a_line(line, len, err, errlen);
    /* the uuids: "x",...,"y" up to the ']' */
    for (;;) {
        if (p + ANON_UUID_LEN + 2 > len || line[p] != '"' || line[p + 1 + ANON_UUID_LEN] != '"')
            return line[p] == ']' && nids == 0
                       ? anon_seterr(err, errlen, ANON_EINVAL, "ids: no uuids")
                       : not_a_line(line, len, err, errlen);
        if (grow(l, nids + 1) != 0)
            return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        memcpy(l->ids[nids], line + p + 1, ANON_UUID_LEN);
        l->ids[nids][ANON_UUID_LEN] = '\0';
        if (bundle_uuid_check(l->ids[nids]) != 0)
            return anon_seterr(err, errlen, ANON_EINVAL, "ids[%zu]: not a uuid in lower case",
                               nids);
        nids++;
        p += ANON_UUID_LEN + 2;
        if (p < len && line[p] == ',') {
            p++;
            continue;
        }
        break;
    }
    if (p + mid >= len || memcmp(line + p, LINE_MID, mid) != 0)
        return not_a_line(line, len, err, errlen);
    p += mid;
    if ((rc = anon_envelope_parse(line + p, len - 1 - p, &l->env, why, sizeof why)) != ANON_OK) {
        if (rc == ANON_EINVAL && anon_json_check_object(line, len, NULL, 0) != ANON_OK)
            return not_a_line(line, len, err, errlen);
        return anon_seterr(err, errlen, rc, "envelope: %s", why);
    }
    l->n = anon_envelope_count(l->env);
    if (l->n != nids)
        return anon_seterr(err, errlen, ANON_EINVAL, "ids: %zu uuids for %zu events", nids, l->n);
    memcpy(l->recs, anon_envelope_records(l->env), l->n * sizeof *l->recs);
    for (size_t i = 0; i < l->n; i++)
        l->recs[i].uuid = l->ids[i];

    /* the same line, written as the shipper writes it */
    evs = calloc(l->n, sizeof *evs);
    uuids = calloc(l->n, sizeof *uuids);
    if (evs == NULL || uuids == NULL) {
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        evs[i].name = l->recs[i].name;
        evs[i].queued_at = l->recs[i].ts;
        evs[i].parameters = l->recs[i].parameters;
        uuids[i] = l->ids[i];
    }
    {
        struct envelope_hdr h = {l->recs[0].session_id, l->recs[0].client_version,
                                 l->recs[0].schema_version, l->recs[0].cpu_architecture};

        anon_buf_reset(&l->again);
        if (bundle_line_write(&l->again, uuids, &h, evs, l->n) != 0) {
            rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
            goto out;
        }
    }
    rc = same_form(line, len, &l->again, "the envelope line", err, errlen);
out:
    free(evs);
    free(uuids);
    return rc;
}

/* "FILE: line N: " before a reader's message. */
static int at_line(const sealed_reader *r, int rc, const char *msg, char *err, size_t errlen)
{
    return anon_seterr(err, errlen, rc, "%s: line %ld: %s", sealed_name(r), sealed_lineno(r),
                       msg);
}

int bundle_read(sealed_reader *r, const struct bundle_visitor *v, struct bundle_summary *ret,
                char *err, size_t errlen)
{
    struct bundle_line l;
    char msg[ANON_ERRLEN];
    const char *line;
    size_t len;
    int rc;

    memset(ret, 0, sizeof *ret);
    bundle_line_init(&l);
    if ((rc = sealed_next(r, &line, &len, err, errlen)) != ANON_OK)
        goto out;
    if ((rc = bundle_header_read(line, len, &ret->header, msg, sizeof msg)) != ANON_OK) {
        rc = at_line(r, rc, msg, err, errlen);
        goto out;
    }
    if (v != NULL && v->header != NULL &&
        (rc = v->header(v->ctx, &ret->header, err, errlen)) != ANON_OK)
        goto out;
    for (;;) {
        if ((rc = sealed_next(r, &line, &len, err, errlen)) != ANON_OK)
            goto out;
        if (line == NULL)
            break;
        if ((rc = bundle_line_read(&l, line, len, msg, sizeof msg)) != ANON_OK) {
            rc = at_line(r, rc, msg, err, errlen);
            goto out;
        }
        ret->envelopes++;
        ret->events += (int64_t)l.n;   /* before the callback, which may take the line */
        if (ret->events > ret->header.events) {
            snprintf(msg, sizeof msg, "more events than the header announces (%lld)",
                     (long long)ret->header.events);
            rc = at_line(r, ANON_EINVAL, msg, err, errlen);
            goto out;
        }
        if (v != NULL && v->line != NULL &&
            (rc = v->line(v->ctx, sealed_lineno(r), &l, err, errlen)) != ANON_OK)
            goto out;
    }
    if (ret->events != ret->header.events) {
        rc = anon_seterr(err, errlen, ANON_EINVAL,
                         "%s: the header announces %lld events, the file holds %lld",
                         sealed_name(r), (long long)ret->header.events,
                         (long long)ret->events);
        goto out;
    }
    ret->is_signed = sealed_is_signed(r);
    ret->sig_checked = sealed_sig_checked(r);
    snprintf(ret->sha256, sizeof ret->sha256, "%s", sealed_sha256(r));
out:
    bundle_line_free(&l);
    return rc;
}

/* ---- receipts ---- */

void receipt_header_write(anon_buf *b, const struct receipt_header *h)
{
    anon_buf_printf(b,
                    "{\"format\":\"" RECEIPT_FORMAT "\",\"version\":%d,\"receipt\":\"%s\","
                    "\"spool\":\"%s\",\"from\":\"%s\",\"created_at\":\"%s\",\"bundles\":[",
                    RECEIPT_VERSION, h->receipt, h->spool, h->from, h->created_at);
    for (size_t i = 0; i < h->nbundles; i++)
        anon_buf_printf(b, "%s\"%s\"", i > 0 ? "," : "", h->bundles[i]);
    anon_buf_printf(b, "],\"events\":%lld}", (long long)h->events);
}

void receipt_header_clear(struct receipt_header *h)
{
    free(h->bundles);
    memset(h, 0, sizeof *h);
}

static int cmp_uuid(const void *a, const void *b)
{
    return strcmp(*(const bundle_uuid *)a, *(const bundle_uuid *)b);
}

int receipt_header_read(const char *line, size_t len, struct receipt_header *h, char *err,
                        size_t errlen)
{
    cJSON *o = parse_object(line, len, err, errlen), *arr, *it;
    bundle_uuid *sorted = NULL;
    anon_buf again;
    size_t k = 0;
    int rc;

    memset(h, 0, sizeof *h);
    if (o == NULL)
        return ANON_EINVAL;
    anon_buf_init(&again);
    if ((rc = check_format(o, RECEIPT_FORMAT, "receipt", RECEIPT_VERSION, err, errlen)) !=
        ANON_OK)
        goto out;
    rc = ANON_EINVAL;
    arr = cJSON_GetObjectItemCaseSensitive(o, "bundles");
    if (juuid(o, "receipt", h->receipt) != 0) {
        anon_seterr(err, errlen, rc, "receipt: not a uuid in lower case");
        goto out;
    }
    if (jspool(o, "spool", h->spool) != 0 || jspool(o, "from", h->from) != 0) {
        anon_seterr(err, errlen, rc, "%s: not a spool id (32 lower-case hex digits)",
                    jspool(o, "spool", h->spool) != 0 ? "spool" : "from");
        goto out;
    }
    if (jts(o, "created_at", h->created_at) != 0) {
        anon_seterr(err, errlen, rc, "created_at: not a UTC time like 2026-05-11T12:00:00.000Z");
        goto out;
    }
    if (jint(o, "events", &h->events) != 0) {
        anon_seterr(err, errlen, rc, "events: not a whole number of events");
        goto out;
    }
    if (!cJSON_IsArray(arr)) {
        anon_seterr(err, errlen, rc, "bundles: not a list of bundle ids");
        goto out;
    }
    h->nbundles = (size_t)cJSON_GetArraySize(arr);
    if (h->nbundles > 0 && ((h->bundles = calloc(h->nbundles, sizeof *h->bundles)) == NULL ||
                            (sorted = calloc(h->nbundles, sizeof *sorted)) == NULL)) {
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it) || bundle_uuid_check(it->valuestring) != 0) {
            anon_seterr(err, errlen, rc, "bundles[%zu]: not a uuid in lower case", k);
            goto out;
        }
        memcpy(h->bundles[k++], it->valuestring, ANON_UUID_LEN + 1);
    }
    if (h->nbundles > 0) {
        memcpy(sorted, h->bundles, h->nbundles * sizeof *sorted);
        qsort(sorted, h->nbundles, sizeof *sorted, cmp_uuid);
        for (k = 1; k < h->nbundles; k++)
            if (strcmp(sorted[k - 1], sorted[k]) == 0) {
                anon_seterr(err, errlen, rc, "bundles: %s is named twice", sorted[k]);
                goto out;
            }
    }
    receipt_header_write(&again, h);
    rc = same_form(line, len, &again, "the header", err, errlen);
out:
    if (rc != ANON_OK)
        receipt_header_clear(h);
    free(sorted);
    anon_buf_free(&again);
    cJSON_Delete(o);
    return rc;
}

static const char *const state_names[] = {[RECEIPT_SENT] = "sent", [RECEIPT_DLQ] = "dlq",
                                          [RECEIPT_PENDING] = "pending"};

void receipt_entry_write(anon_buf *b, const struct receipt_entry *e)
{
    anon_buf_printf(b, "{\"uuid\":\"%s\",\"bundle\":\"%s\",\"status\":\"%s\"", e->uuid, e->bundle,
                    state_names[e->state]);
    if (e->state == RECEIPT_SENT)
        anon_buf_printf(b, ",\"sent_at\":\"%s\"", e->sent_at);
    else if (e->state == RECEIPT_DLQ) {
        anon_buf_puts(b, ",\"reason\":");
        anon_buf_json_string(b, e->reason);
    }
    anon_buf_append(b, "}", 1);
}

void receipt_reason_clean(const char *in, char out[RECEIPT_MAX_REASON + 1])
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;

    while (*p != '\0') {
        uint32_t cp = 0;
        size_t n = *p < 0x80 ? 1 : anon_utf8_decode(p, &cp);
        int ctrl;

        if (*p < 0x80)
            cp = *p;
        if (n == 0) {           /* not UTF-8: one byte becomes '?' */
            if (o + 1 > RECEIPT_MAX_REASON)
                break;
            out[o++] = '?';
            p++;
            continue;
        }
        if (o + n > RECEIPT_MAX_REASON)
            break;
        ctrl = cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
        if (ctrl)
            out[o++] = ' ';
        else {
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    if (o == 0)
        snprintf(out, RECEIPT_MAX_REASON + 1, "unknown");
}

int receipt_entry_read(const char *line, size_t len, struct receipt_entry *e, char *err,
                       size_t errlen)
{
    cJSON *o = parse_object(line, len, err, errlen);
    char clean[RECEIPT_MAX_REASON + 1];
    const char *st, *reason;
    anon_buf again;
    int rc = ANON_EINVAL;

    memset(e, 0, sizeof *e);
    if (o == NULL)
        return ANON_EINVAL;
    anon_buf_init(&again);
    st = jstr(o, "status");
    if (juuid(o, "uuid", e->uuid) != 0) {
        anon_seterr(err, errlen, rc, "uuid: not a uuid in lower case");
        goto out;
    }
    if (juuid(o, "bundle", e->bundle) != 0) {
        anon_seterr(err, errlen, rc, "bundle: not a uuid in lower case");
        goto out;
    }
    if (st != NULL && strcmp(st, "sent") == 0) {
        e->state = RECEIPT_SENT;
        if (jts(o, "sent_at", e->sent_at) != 0) {
            anon_seterr(err, errlen, rc, "sent_at: not a UTC time like 2026-05-11T12:00:00.000Z");
            goto out;
        }
    } else if (st != NULL && strcmp(st, "dlq") == 0) {
        e->state = RECEIPT_DLQ;
        reason = jstr(o, "reason");
        if (reason == NULL || reason[0] == '\0') {
            anon_seterr(err, errlen, rc, "reason: a dead letter needs its reason");
            goto out;
        }
        receipt_reason_clean(reason, clean);
        if (strcmp(clean, reason) != 0) {
            anon_seterr(err, errlen, rc,
                        "reason: more than %d bytes, or control characters in it",
                        RECEIPT_MAX_REASON);
            goto out;
        }
        memcpy(e->reason, clean, strlen(clean) + 1);
    } else if (st != NULL && strcmp(st, "pending") == 0) {
        e->state = RECEIPT_PENDING;
    } else {
        anon_seterr(err, errlen, rc, "status: expected \"sent\", \"dlq\" or \"pending\"");
        goto out;
    }
    receipt_entry_write(&again, e);
    rc = same_form(line, len, &again, "the line", err, errlen);
out:
    anon_buf_free(&again);
    cJSON_Delete(o);
    return rc;
}

int receipt_read(sealed_reader *r, const struct receipt_visitor *v,
                 struct receipt_header *ret_header, char *err, size_t errlen)
{
    struct receipt_entry e;
    bundle_uuid *sorted = NULL;
    char msg[ANON_ERRLEN];
    const char *line;
    int64_t n = 0;
    size_t len;
    int rc;

    memset(ret_header, 0, sizeof *ret_header);
    if ((rc = sealed_next(r, &line, &len, err, errlen)) != ANON_OK)
        goto out;
    if ((rc = receipt_header_read(line, len, ret_header, msg, sizeof msg)) != ANON_OK) {
        rc = at_line(r, rc, msg, err, errlen);
        goto out;
    }
    if (ret_header->nbundles > 0) {
        if ((sorted = calloc(ret_header->nbundles, sizeof *sorted)) == NULL) {
            rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(sorted, ret_header->bundles, ret_header->nbundles * sizeof *sorted);
        qsort(sorted, ret_header->nbundles, sizeof *sorted, cmp_uuid);
    }
    if (v != NULL && v->header != NULL &&
        (rc = v->header(v->ctx, ret_header, err, errlen)) != ANON_OK)
        goto out;
    for (;;) {
        if ((rc = sealed_next(r, &line, &len, err, errlen)) != ANON_OK)
            goto out;
        if (line == NULL)
            break;
        if ((rc = receipt_entry_read(line, len, &e, msg, sizeof msg)) != ANON_OK) {
            rc = at_line(r, rc, msg, err, errlen);
            goto out;
        }
        if (sorted == NULL ||
            bsearch(e.bundle, sorted, ret_header->nbundles, sizeof *sorted, cmp_uuid) == NULL) {
            snprintf(msg, sizeof msg, "bundle %s is not one the header names", e.bundle);
            rc = at_line(r, ANON_EINVAL, msg, err, errlen);
            goto out;
        }
        if (++n > ret_header->events) {
            snprintf(msg, sizeof msg, "more events than the header announces (%lld)",
                     (long long)ret_header->events);
            rc = at_line(r, ANON_EINVAL, msg, err, errlen);
            goto out;
        }
        if (v != NULL && v->entry != NULL &&
            (rc = v->entry(v->ctx, sealed_lineno(r), &e, err, errlen)) != ANON_OK)
            goto out;
    }
    if (n != ret_header->events)
        rc = anon_seterr(err, errlen, ANON_EINVAL,
                         "%s: the header announces %lld events, the file holds %lld",
                         sealed_name(r), (long long)ret_header->events, (long long)n);
out:
    free(sorted);
    return rc;
}
