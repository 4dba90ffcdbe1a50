/*
 * envelope.c: the request body, the one description of it: the shipper builds it
 * (envelope_build), the relay and bundle import parse it (anon_envelope_parse).
 *
 * One POST carries one envelope: a JSON object with exactly these 30 keys in this
 * order (anon-telemetry(7)), written compactly (no spaces), strings escaped as Python's
 * json.dumps does:
 *
 *   browserType "undefined"            clientId "184482118588404"
 *   clientType "Native"                clientVariant "Release"
 *   clientVer <events.client_version>  cpuArchitecture <events.cpu_architecture>
 *   deviceGdprBehOptIn, deviceGdprFuncOptIn, deviceGdprTechOptIn  "None"
 *   deviceId, deviceMake, deviceModel, deviceOS, deviceOSVersion, deviceType  "undefined"
 *   eventProtocol "1.6"                eventSchemaVer <events.schema_version>
 *   eventSysVer "nemo-telemetry/1.0"   externalUserId "undefined"
 *   gdprBehOptIn, gdprFuncOptIn, gdprTechOptIn  "None"
 *   idpId, integrationId, productName, productVersion  "undefined"
 *   sentTs <time of sending>           sessionId <events.session_id>
 *   userId "undefined"
 *   events [ {"ts": <events.queued_at>, "parameters": <events.parameters>,
 *             "name": <events.name>}, ... ]
 *
 * Timestamps are UTC with milliseconds, truncated: "2026-05-11T12:00:00.000Z".
 * The parameters object is stored in the spool exactly as it goes on the wire and is
 * copied verbatim. An envelope with no events is never built.
 *
 * Parsing takes what any client of this format posts (the Anonymizer's handler writes
 * json.dumps' ", " and ": " separators; we write none):
 *
 *   - strict JSON (RFC 8259) in UTF-8: no trailing commas, no NaN, no lone surrogates,
 *     at most ENV_MAX_DEPTH levels of nesting, nothing after the object but white space;
 *   - the four keys that differ between envelopes are kept: eventSchemaVer (required),
 *     sessionId, clientVer, cpuArchitecture ("undefined" when absent, as the handler's
 *     own defaults), each a string; the other keys are the constants above, rebuilt when
 *     the events are forwarded, so their values are not kept (nor are unknown keys);
 *   - events: a non-empty array of objects with exactly ts (a string in the timestamp
 *     format), name ("anonymizer_event") and parameters (an object), in any order;
 *   - each parameters object is kept as its own text with the white space between
 *     tokens removed: every number, string escape and key order stays as it was sent
 *     (-1.0 stays -1.0, 1e+16 stays 1e+16), so forwarding it later posts what the
 *     client posted;
 *   - then every event is checked as anon_spool_append_records checks a record
 *     (anon_record_check): with eventSchemaVer 1.7 the parameters exactly as the writer
 *     checks them, with another version (a newer client) only that they are a JSON
 *     object of at most ANON_MAX_PARAMS bytes.
 *
 * Errors name the place: "events[3].parameters.task: missing required field",
 * "invalid JSON at byte 212: expected ',' or '}'". A uuid per event may come from the
 * Anon-Telemetry-Event-Ids header (anon_envelope_set_ids); without one an event gets a
 * new random uuid when it is stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"


static void key(anon_buf *b, const char *k, int first)
{
    if (!first)
        anon_buf_append(b, ",", 1);
    anon_buf_json_string(b, k);
    anon_buf_append(b, ":", 1);
}

static void kv(anon_buf *b, const char *k, const char *v)
{
    key(b, k, 0);
    anon_buf_json_string(b, v);
}

int envelope_build(anon_buf *b, const struct envelope_hdr *hdr, int64_t sent_ms,
                   const struct envelope_event *evs, size_t n)
{
    char sent[ANON_TS_LEN + 1];

    if (n == 0)
        return -1;
    anon_format_ts(sent_ms, sent);

    anon_buf_append(b, "{", 1);
    key(b, "browserType", 1);
    anon_buf_json_string(b, "undefined");
    kv(b, "clientId", ANON_CLIENT_ID);
    kv(b, "clientType", "Native");
    kv(b, "clientVariant", "Release");
    kv(b, "clientVer", hdr->client_version);
    kv(b, "cpuArchitecture", hdr->cpu_architecture);
    kv(b, "deviceGdprBehOptIn", "None");
    kv(b, "deviceGdprFuncOptIn", "None");
    kv(b, "deviceGdprTechOptIn", "None");
    kv(b, "deviceId", "undefined");
    kv(b, "deviceMake", "undefined");
    kv(b, "deviceModel", "undefined");
    kv(b, "deviceOS", "undefined");
    kv(b, "deviceOSVersion", "undefined");
    kv(b, "deviceType", "undefined");
    kv(b, "eventProtocol", ANON_EVENT_PROTOCOL);
    kv(b, "eventSchemaVer", hdr->schema_version);
    kv(b, "eventSysVer", ANON_EVENT_SYS_VER);
    kv(b, "externalUserId", "undefined");
    kv(b, "gdprBehOptIn", "None");
    kv(b, "gdprFuncOptIn", "None");
    kv(b, "gdprTechOptIn", "None");
    kv(b, "idpId", "undefined");
    kv(b, "integrationId", "undefined");
    kv(b, "productName", "undefined");
    kv(b, "productVersion", "undefined");
    kv(b, "sentTs", sent);
    kv(b, "sessionId", hdr->session_id);
    kv(b, "userId", "undefined");
    key(b, "events", 0);
    anon_buf_append(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            anon_buf_append(b, ",", 1);
        anon_buf_append(b, "{", 1);
        key(b, "ts", 1);
        anon_buf_json_string(b, evs[i].queued_at);
        key(b, "parameters", 0);
        anon_buf_puts(b, evs[i].parameters);
        kv(b, "name", evs[i].name != NULL ? evs[i].name : ANON_EVENT_NAME);
        anon_buf_append(b, "}", 1);
    }
    anon_buf_append(b, "]}", 2);
    return b->oom ? -1 : 0;
}

/* ---------------------------------------------------------------- parsing ---- */

#define ENV_MAX_DEPTH 32   /* telemetry is shallow; a deep body is an attack or a bug */

struct anon_envelope {
    char *arena;           /* every string the records point to, NUL-terminated */
    size_t used, cap;
    anon_record *recs;
    size_t n, ncap;
    char *ids;             /* the uuids set by anon_envelope_set_ids, 37 bytes each */
};

/* A cursor over NUL-terminated JSON text. */
struct scan {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
};

static int bad(struct scan *sc, const char *what)
{
    return anon_seterr(sc->err, sc->errlen, ANON_EINVAL, "invalid JSON at byte %zu: %s",
                       sc->pos + 1, what);
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct scan *sc)
{
    while (sc->pos < sc->len && is_ws(sc->s[sc->pos]))
        sc->pos++;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The 4 hex digits at s (NUL-terminated text, so a short tail fails on the NUL). */
static int hex4(const char *s, uint32_t *ret)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++) {
        int d = hex_digit(s[i]);

        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *ret = v;
    return 0;
}

static size_t utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * sc at a string's opening quote: moves past the closing one, checking escapes and
 * UTF-8. When out is given the decoded text goes there (at most cap - 1 bytes and a
 * NUL); *ret_len (may be NULL) gets the decoded length, which is never more than the
 * raw text's, so a buffer as long as the raw text always holds it.
 */
static int scan_string(struct scan *sc, char *out, size_t cap, size_t *ret_len)
{
    size_t o = 0;

    sc->pos++;
    for (;;) {
        unsigned char c = (unsigned char)sc->s[sc->pos];
        char piece[4];
        size_t plen = 0;

        if (sc->pos >= sc->len)
            return bad(sc, "unterminated string");
        if (c == '"') {
            sc->pos++;
            break;
        }
        if (c < 0x20)
            return bad(sc, "control character in a string");
        if (c == '\\') {
            const char *e = sc->s + sc->pos + 1;
            uint32_t cp, lo;

            switch (*e) {
            case '"': case '\\': case '/': piece[0] = *e; plen = 1; break;
            case 'b': piece[0] = '\b'; plen = 1; break;
            case 'f': piece[0] = '\f'; plen = 1; break;
            case 'n': piece[0] = '\n'; plen = 1; break;
            case 'r': piece[0] = '\r'; plen = 1; break;
            case 't': piece[0] = '\t'; plen = 1; break;
            case 'u':
                if (hex4(e + 1, &cp) != 0)
                    return bad(sc, "bad \\u escape");
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return bad(sc, "lone surrogate in a string");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (e[5] != '\\' || e[6] != 'u' || hex4(e + 7, &lo) != 0 || lo < 0xdc00 ||
                        lo > 0xdfff)
                        return bad(sc, "lone surrogate in a string");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    sc->pos += 6;
                }
                sc->pos += 4;
                plen = utf8_put(cp, piece);
                break;
            default:
                return bad(sc, "bad escape in a string");
            }
            sc->pos += 2;
        } else if (c < 0x80) {
            piece[0] = (char)c;
            plen = 1;
            sc->pos++;
        } else {
            uint32_t cp;
            size_t n = anon_utf8_decode((const unsigned char *)sc->s + sc->pos, &cp);

            if (n == 0)
                return bad(sc, "invalid UTF-8");
            memcpy(piece, sc->s + sc->pos, n);
            plen = n;
            sc->pos += n;
        }
        if (out != NULL && o + plen < cap)
            memcpy(out + o, piece, plen);
        o += plen;
    }
    if (out != NULL && cap > 0)
        out[o < cap ? o : cap - 1] = '\0';
    if (ret_len != NULL)
        *ret_len = o;
    return ANON_OK;
}

static int scan_digits(struct scan *sc)
{
    size_t start = sc->pos;

    while (sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
        sc->pos++;
    return sc->pos > start ? ANON_OK : bad(sc, "invalid number");
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(struct scan *sc)
{
    if (sc->s[sc->pos] == '-')
        sc->pos++;
    if (sc->s[sc->pos] == '0')
        sc->pos++;
    else if (scan_digits(sc) != ANON_OK)
        return ANON_EINVAL;
    if (sc->s[sc->pos] == '.') {
        sc->pos++;
        if (scan_digits(sc) != ANON_OK)
            return ANON_EINVAL;
    }
    if (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E') {
        sc->pos++;
        if (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-')
            sc->pos++;
        if (scan_digits(sc) != ANON_OK)
            return ANON_EINVAL;
    }
    return ANON_OK;
}

static int scan_value(struct scan *sc, int depth);

/* sc at '{' or '[': past the matching close. */
static int scan_container(struct scan *sc, int depth)
{
    char close = sc->s[sc->pos] == '{' ? '}' : ']';
    int rc;

    if (depth >= ENV_MAX_DEPTH)
        return bad(sc, "nested too deeply");
    sc->pos++;
    skip_ws(sc);
    if (sc->s[sc->pos] == close) {
        sc->pos++;
        return ANON_OK;
    }
    for (;;) {
        if (close == '}') {
            skip_ws(sc);
            if (sc->s[sc->pos] != '"')
                return bad(sc, "expected a key");
            if ((rc = scan_string(sc, NULL, 0, NULL)) != ANON_OK)
                return rc;
            skip_ws(sc);
            if (sc->s[sc->pos] != ':')
                return bad(sc, "expected ':'");
            sc->pos++;
        }
        if ((rc = scan_value(sc, depth + 1)) != ANON_OK)
            return rc;
        skip_ws(sc);
        if (sc->s[sc->pos] == ',') {
            sc->pos++;
            continue;
        }
        if (sc->s[sc->pos] == close) {
            sc->pos++;
            return ANON_OK;
        }
        return bad(sc, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int scan_literal(struct scan *sc, const char *word)
{
    size_t n = strlen(word);

    if (strncmp(sc->s + sc->pos, word, n) != 0)
        return bad(sc, "unexpected character");
    sc->pos += n;
    return ANON_OK;
}

/* Skips white space, then one value. */
static int scan_value(struct scan *sc, int depth)
{
    char c;

    skip_ws(sc);
    if (sc->pos >= sc->len)
        return bad(sc, "unexpected end");
    c = sc->s[sc->pos];
    switch (c) {
    case '{':
    case '[':
        return scan_container(sc, depth);
    case '"':
        return scan_string(sc, NULL, 0, NULL);
    case 't':
        return scan_literal(sc, "true");
    case 'f':
        return scan_literal(sc, "false");
    case 'n':
        return scan_literal(sc, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return scan_number(sc);
        return bad(sc, "unexpected character");
    }
}

/* Whether c can start a JSON value. */
static int value_start(char c)
{
    return c != '\0' && strchr("{[\"tfn-0123456789", c) != NULL;
}

/* What the value at sc is, for "expected X, got Y" (sc past white space). */
static const char *kind_at(const struct scan *sc)
{
    switch (sc->s[sc->pos]) {
    case '{': return "an object";
    case '[': return "an array";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
    }
}

/* s[0, len) without the white space between tokens (strings are copied as they are). */
static size_t minify(const char *s, size_t len, char *out)
{
    size_t o = 0;
    int in_str = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (in_str) {
            out[o++] = c;
            if (c == '\\' && i + 1 < len)
                out[o++] = s[++i];
            else if (c == '"')
                in_str = 0;
        } else if (!is_ws(c)) {
            out[o++] = c;
            in_str = c == '"';
        }
    }
    out[o] = '\0';
    return o;
}

int anon_json_check_object(const char *json, size_t len, char *err, size_t errlen)
{
    struct scan sc = {json, len, 0, err, errlen};
    int rc;

    if (json == NULL)
        return anon_seterr(err, errlen, ANON_EINVAL, "missing");
    if (strlen(json) != len)   /* a NUL inside: the text is not one JSON value */
        return anon_seterr(err, errlen, ANON_EINVAL, "NUL byte in the JSON text");
    skip_ws(&sc);
    if (sc.pos >= len || json[sc.pos] != '{')
        return anon_seterr(err, errlen, ANON_EINVAL, "expected an object, got %s",
                           sc.pos >= len ? "nothing" : kind_at(&sc));
    if ((rc = scan_value(&sc, 0)) != ANON_OK)
        return rc;
    skip_ws(&sc);
    if (sc.pos != len)
        return bad(&sc, "unexpected text after the object");
    return ANON_OK;
}

int anon_uuid_check(const char *s)
{
    for (int i = 0; i < ANON_UUID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : hex_digit(s[i]) < 0)
            return -1;
    }
    return s[ANON_UUID_LEN] == '\0' ? 0 : -1;
}

/* Prefixes err (already filled) with the place: "events[3]." + tail + "ts: ...". */
static int at(char *err, size_t errlen, int rc, size_t i, const char *tail)
{
    char tmp[ANON_ERRLEN];

    if (err != NULL && errlen > 0) {
        snprintf(tmp, sizeof tmp, "events[%zu].%s%s", i, tail, err);
        snprintf(err, errlen, "%s", tmp);
    }
    return rc;
}

static int check_field(const char *what, const char *s, size_t i, char *err, size_t errlen)
{
    if (s == NULL)
        return at(err, errlen,
                  anon_seterr(err, errlen, ANON_EINVAL, "%s: missing required field", what),
                  i, "");
    if (anon_check_string(what, s, err, errlen) != ANON_OK)
        return at(err, errlen, ANON_EINVAL, i, "");
    return ANON_OK;
}

int anon_record_check(const anon_record *r, size_t i, char *err, size_t errlen)
{
    int64_t ms;
    size_t plen;
    int rc;

    if (r->uuid != NULL && r->uuid[0] != '\0' && anon_uuid_check(r->uuid) != 0)
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "events[%zu].uuid: not a uuid (8-4-4-4-12 hex digits)", i);
    if (r->ts == NULL || anon_parse_ts(r->ts, &ms) != 0)
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "events[%zu].ts: %s", i, r->ts == NULL ? "missing required field"
                           : "not a UTC time like 2026-05-11T12:00:00.000Z");
    if (r->name == NULL || strcmp(r->name, ANON_EVENT_NAME) != 0)
        return anon_seterr(err, errlen, ANON_EINVAL, "events[%zu].name: %s", i,
                           r->name == NULL ? "missing required field"
                                           : "expected \"" ANON_EVENT_NAME "\"");
    if ((rc = check_field("sessionId", r->session_id, i, err, errlen)) != ANON_OK ||
        (rc = check_field("clientVer", r->client_version, i, err, errlen)) != ANON_OK ||
        (rc = check_field("cpuArchitecture", r->cpu_architecture, i, err, errlen)) != ANON_OK ||
        (rc = check_field("eventSchemaVer", r->schema_version, i, err, errlen)) != ANON_OK)
        return rc;
    if (r->schema_version[0] == '\0')
        return anon_seterr(err, errlen, ANON_EINVAL, "events[%zu].eventSchemaVer: empty", i);
    if (r->parameters == NULL)
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "events[%zu].parameters: missing required field", i);
    plen = strlen(r->parameters);
    if (plen > ANON_MAX_PARAMS)
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "events[%zu].parameters: %zu bytes, at most %d allowed", i, plen,
                           ANON_MAX_PARAMS);
    if (anon_json_check_object(r->parameters, plen, err, errlen) != ANON_OK)
        return at(err, errlen, ANON_EINVAL, i, "parameters: ");
    /* the version the writer knows: the same rules as for the writer's own events */
    if (strcmp(r->schema_version, ANON_SCHEMA_VERSION) == 0) {
        anon_event *ev = NULL;

        rc = anon_event_from_json(r->parameters, plen, &ev, err, errlen);
        anon_event_free(ev);
        if (rc != ANON_OK)
            return at(err, errlen, rc, i, "parameters.");
    }
    return ANON_OK;
}

/* sc at a string: decodes it into the arena; *ret the copy. */
static int arena_string(anon_envelope *env, struct scan *sc, const char **ret)
{
    char *out = env->arena + env->used;
    size_t room = env->cap - env->used, len;
    int rc;

    if ((rc = scan_string(sc, out, room, &len)) != ANON_OK)
        return rc;
    if (len + 1 > room)   /* cannot happen: the arena holds the whole body */
        return anon_seterr(sc->err, sc->errlen, ANON_ENOMEM, "envelope arena exhausted");
    if (memchr(out, '\0', len) != NULL)
        return anon_seterr(sc->err, sc->errlen, ANON_EINVAL,
                           "control character U+0000 in a string");
    env->used += len + 1;
    *ret = out;
    return ANON_OK;
}

/* sc at an object member's key: decodes it (keys we know are short: a longer one is
 * cut, and so unknown), then moves past the ':'. */
static int member_key(struct scan *sc, char *key, size_t keylen)
{
    int rc;

    skip_ws(sc);
    if (sc->s[sc->pos] != '"')
        return bad(sc, "expected a key");
    if ((rc = scan_string(sc, key, keylen, NULL)) != ANON_OK)
        return rc;
    skip_ws(sc);
    if (sc->s[sc->pos] != ':')
        return bad(sc, "expected ':'");
    sc->pos++;
    skip_ws(sc);
    if (sc->pos >= sc->len)
        return bad(sc, "unexpected end");
    return value_start(sc->s[sc->pos]) ? ANON_OK : bad(sc, "expected a value");
}

/* After a member's value: 1 at the object's end, 0 when another member follows. */
static int member_next(struct scan *sc, int *ret_end)
{
    skip_ws(sc);
    if (sc->s[sc->pos] == ',') {
        sc->pos++;
        *ret_end = 0;
        return ANON_OK;
    }
    if (sc->s[sc->pos] == '}') {
        sc->pos++;
        *ret_end = 1;
        return ANON_OK;
    }
    return bad(sc, "expected ',' or '}'");
}

/* sc at '{': true (and past it) when the object is empty. */
static int object_open(struct scan *sc)
{
    sc->pos++;
    skip_ws(sc);
    if (sc->s[sc->pos] == '}') {
        sc->pos++;
        return 1;
    }
    return 0;
}

/* One element of events: {"ts": ..., "parameters": {...}, "name": ...}. */
static int parse_event(anon_envelope *env, struct scan *sc, anon_record *r, size_t i)
{
    char key[32];
    int rc, end = 0;

    if (!value_start(sc->s[sc->pos]))
        return bad(sc, "expected a value");
    if (sc->s[sc->pos] != '{')
        return anon_seterr(sc->err, sc->errlen, ANON_EINVAL,
                           "events[%zu]: expected an object, got %s", i, kind_at(sc));
    if (object_open(sc))
        end = 1;
    while (!end) {
        const char **slot;

        if ((rc = member_key(sc, key, sizeof key)) != ANON_OK)
            return rc;
        if (strcmp(key, "parameters") == 0) {
            size_t start = sc->pos;
            char *out;

            if (r->parameters != NULL)
                goto twice;
            if (sc->s[sc->pos] != '{')
                return anon_seterr(sc->err, sc->errlen, ANON_EINVAL,
                                   "events[%zu].parameters: expected an object, got %s", i,
                                   kind_at(sc));
            if ((rc = scan_value(sc, 2)) != ANON_OK)
                return rc;
            if (env->cap - env->used < sc->pos - start + 1)
                return anon_seterr(sc->err, sc->errlen, ANON_ENOMEM, "envelope arena exhausted");
            out = env->arena + env->used;
            env->used += minify(sc->s + start, sc->pos - start, out) + 1;
            r->parameters = out;
        } else if (strcmp(key, "ts") == 0 || strcmp(key, "name") == 0) {
            slot = key[0] == 't' ? &r->ts : &r->name;
            if (*slot != NULL)
                goto twice;
            if (sc->s[sc->pos] != '"')
                return anon_seterr(sc->err, sc->errlen, ANON_EINVAL,
                                   "events[%zu].%s: expected a string, got %s", i, key,
                                   kind_at(sc));
            if ((rc = arena_string(env, sc, slot)) != ANON_OK)
                return rc;
        } else {
            /* nothing else can be forwarded: refused rather than dropped unseen */
            return anon_seterr(sc->err, sc->errlen, ANON_EINVAL, "events[%zu].%s: unknown field",
                               i, key);
        }
        if ((rc = member_next(sc, &end)) != ANON_OK)
            return rc;
    }
    if (r->ts == NULL || r->name == NULL || r->parameters == NULL)
        return anon_seterr(sc->err, sc->errlen, ANON_EINVAL,
                           "events[%zu].%s: missing required field", i,
                           r->ts == NULL ? "ts" : r->name == NULL ? "name" : "parameters");
    return ANON_OK;
twice:
    return anon_seterr(sc->err, sc->errlen, ANON_EINVAL, "events[%zu].%s: field given twice", i,
                       key);
}

static int parse_events(anon_envelope *env, struct scan *sc)
{
    int rc;

    if (sc->s[sc->pos] != '[')
        return anon_seterr(sc->err, sc->errlen, ANON_EINVAL, "events: expected an array, got %s",
                           kind_at(sc));
    sc->pos++;
    skip_ws(sc);
    if (sc->s[sc->pos] == ']')
        return anon_seterr(sc->err, sc->errlen, ANON_EINVAL, "events: no events");
    for (;;) {
        if (env->n == env->ncap) {
            size_t ncap = env->ncap ? env->ncap * 2 : 64;
            anon_record *grown = realloc(env->recs, ncap * sizeof *grown);

            if (grown == NULL)
                return anon_seterr(sc->err, sc->errlen, ANON_ENOMEM, "out of memory");
            env->recs = grown;
            env->ncap = ncap;
        }
        memset(&env->recs[env->n], 0, sizeof env->recs[0]);
        skip_ws(sc);
        if (sc->pos >= sc->len)
            return bad(sc, "unexpected end");
        if ((rc = parse_event(env, sc, &env->recs[env->n], env->n)) != ANON_OK)
            return rc;
        env->n++;
        skip_ws(sc);
        if (sc->s[sc->pos] == ',') {
            sc->pos++;
            continue;
        }
        if (sc->s[sc->pos] == ']') {
            sc->pos++;
            return ANON_OK;
        }
        return bad(sc, "expected ',' or ']'");
    }
}

/* The envelope keys that are kept, in anon_record's order of them. */
static const char *const kept_keys[4] = {"sessionId", "clientVer", "cpuArchitecture",
                                         "eventSchemaVer"};

static int parse_top(anon_envelope *env, struct scan *sc)
{
    const char *hdr[4] = {NULL, NULL, NULL, NULL};
    int seen_events = 0, end = 0, rc;
    char key[32];

    skip_ws(sc);
    if (sc->pos >= sc->len)
        return anon_seterr(sc->err, sc->errlen, ANON_EINVAL, "empty body: expected an envelope");
    if (!value_start(sc->s[sc->pos]))
        return bad(sc, "expected a value");
    if (sc->s[sc->pos] != '{')
        return anon_seterr(sc->err, sc->errlen, ANON_EINVAL,
                           "expected an envelope (a JSON object), got %s", kind_at(sc));
    if (object_open(sc))
        end = 1;
    while (!end) {
        int k;

        if ((rc = member_key(sc, key, sizeof key)) != ANON_OK)
            return rc;
        for (k = 0; k < 4 && strcmp(key, kept_keys[k]) != 0; k++)
            ;
        if (strcmp(key, "events") == 0) {
            if (seen_events++)
                return anon_seterr(sc->err, sc->errlen, ANON_EINVAL, "events: field given twice");
            if ((rc = parse_events(env, sc)) != ANON_OK)
                return rc;
        } else if (k < 4) {
            if (hdr[k] != NULL)
                return anon_seterr(sc->err, sc->errlen, ANON_EINVAL, "%s: field given twice",
                                   key);
            if (sc->s[sc->pos] != '"')
                return anon_seterr(sc->err, sc->errlen, ANON_EINVAL,
                                   "%s: expected a string, got %s", key, kind_at(sc));
            if ((rc = arena_string(env, sc, &hdr[k])) != ANON_OK)
                return rc;
            if ((rc = anon_check_string(key, hdr[k], sc->err, sc->errlen)) != ANON_OK)
                return rc;
        } else if ((rc = scan_value(sc, 1)) != ANON_OK) {
            return rc;
        }
        if ((rc = member_next(sc, &end)) != ANON_OK)
            return rc;
    }
    skip_ws(sc);
    if (sc->pos != sc->len)
        return bad(sc, "unexpected text after the envelope");
    if (!seen_events)
        return anon_seterr(sc->err, sc->errlen, ANON_EINVAL, "events: missing required field");
    if (hdr[3] == NULL)
        return anon_seterr(sc->err, sc->errlen, ANON_EINVAL,
                           "eventSchemaVer: missing required field");
    for (size_t i = 0; i < env->n; i++) {
        env->recs[i].session_id = hdr[0] != NULL ? hdr[0] : "undefined";
        env->recs[i].client_version = hdr[1] != NULL ? hdr[1] : "undefined";
        env->recs[i].cpu_architecture = hdr[2] != NULL ? hdr[2] : "undefined";
        env->recs[i].schema_version = hdr[3];
    }
    return ANON_OK;
}

int anon_envelope_parse(const char *json, size_t len, anon_envelope **ret_env, char *err,
                        size_t errlen)
{
    anon_envelope *env = NULL;
    char *text = NULL;
    struct scan sc;
    int rc;

    *ret_env = NULL;
    if (json == NULL)
        return anon_seterr(err, errlen, ANON_EINVAL, "no envelope given");
    /* a NUL-terminated copy: the scanner may then look ahead without length checks, and
     * the arena is sized by it (every kept string is at most as long as its raw text) */
    env = calloc(1, sizeof *env);
    text = malloc(len + 1);
    if (env == NULL || text == NULL || (env->arena = malloc(len + 16)) == NULL) {
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        goto done;
    }
    env->cap = len + 16;
    memcpy(text, json, len);
    text[len] = '\0';
    if (memchr(text, '\0', len) != NULL) {
        rc = anon_seterr(err, errlen, ANON_EINVAL, "invalid JSON at byte %zu: NUL byte",
                         (size_t)((const char *)memchr(text, '\0', len) - text) + 1);
        goto done;
    }
    sc = (struct scan){text, len, 0, err, errlen};
    if ((rc = parse_top(env, &sc)) != ANON_OK)
        goto done;
    for (size_t i = 0; i < env->n; i++)
        if ((rc = anon_record_check(&env->recs[i], i, err, errlen)) != ANON_OK)
            goto done;
    *ret_env = env;
    env = NULL;
done:
    free(text);
    anon_envelope_free(env);
    return rc;
}

size_t anon_envelope_count(const anon_envelope *env)
{
    return env != NULL ? env->n : 0;
}

const anon_record *anon_envelope_records(const anon_envelope *env)
{
    return env != NULL ? env->recs : NULL;
}

int anon_envelope_set_ids(anon_envelope *env, const char *ids, char *err, size_t errlen)
{
    const char *p = ids;
    char *out = NULL;
    size_t k = 0;

    if (env == NULL || ids == NULL)
        return anon_seterr(err, errlen, ANON_EINVAL, "no envelope or no ids given");
    out = calloc(env->n ? env->n : 1, ANON_UUID_LEN + 1);
    if (out == NULL)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    for (;;) {
        const char *start, *stop;

        while (*p == ' ' || *p == '\t')
            p++;
        start = p;
        while (*p != '\0' && *p != ',')
            p++;
        stop = p;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if (k < env->n) {
            char *u = out + k * (ANON_UUID_LEN + 1);

            if (stop - start != ANON_UUID_LEN)
                goto bad_id;
            for (int j = 0; j < ANON_UUID_LEN; j++)   /* kept in the canonical lower case */
                u[j] = start[j] >= 'A' && start[j] <= 'F' ? (char)(start[j] - 'A' + 'a')
                                                          : start[j];
            u[ANON_UUID_LEN] = '\0';
            if (anon_uuid_check(u) != 0)
                goto bad_id;
        }
        k++;
        if (*p == '\0')
            break;
        p++;
    }
    if (k != env->n) {
        free(out);
        return anon_seterr(err, errlen, ANON_EINVAL,
                           ENVELOPE_IDS_HEADER ": %zu ids for %zu events", k, env->n);
    }
    free(env->ids);
    env->ids = out;
    for (size_t i = 0; i < env->n; i++)
        env->recs[i].uuid = out + i * (ANON_UUID_LEN + 1);
    return ANON_OK;
bad_id:
    free(out);
    return anon_seterr(err, errlen, ANON_EINVAL,
                       ENVELOPE_IDS_HEADER ": entry %zu is not a uuid (8-4-4-4-12 hex digits)",
                       k + 1);
}

void anon_envelope_free(anon_envelope *env)
{
    if (env == NULL)
        return;
    free(env->arena);
    free(env->recs);
    free(env->ids);
    free(env);
}
