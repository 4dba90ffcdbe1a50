/*
 * fuzz_envelope: anon_envelope_parse (what anon-telemetry-relay runs on every request
 * body) on arbitrary bytes; an input whose first line is "ids:VALUE" also goes through
 * anon_envelope_set_ids with VALUE, as the Anon-Telemetry-Event-Ids header would.
 *
 * When the parser accepts, the envelope must re-serialise to the same values: every
 * record passes anon_record_check; envelope_build (the shipper's builder) over the
 * records parses back to the same records byte for byte (kept text is a fixed point);
 * and each kept parameters object and header string holds what cJSON reads in the
 * input itself (same keys in the same order, same values). A refusal hands nothing back
 * and always says why.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

static void differs(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "envelope: %s differs:\n  %s\n  %s\n", what, a ? a : "(null)",
            b ? b : "(null)");
    abort();
}

static int eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The same JSON value: same types, numbers equal (an overflowing one is infinite in
 * both), object keys in the same order. */
static int same(const cJSON *a, const cJSON *b)
{
    if (a == NULL || b == NULL || (a->type & 0xff) != (b->type & 0xff))
        return 0;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble ||
               (isinf(a->valuedouble) && isinf(b->valuedouble) &&
                signbit(a->valuedouble) == signbit(b->valuedouble));
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a) || cJSON_IsObject(a)) {
        const cJSON *x = a->child, *y = b->child;

        for (; x != NULL && y != NULL; x = x->next, y = y->next)
            if ((cJSON_IsObject(a) && !eq(x->string, y->string)) || !same(x, y))
                return 0;
        return x == NULL && y == NULL;
    }
    return 1;   /* true, false, null */
}

/* The kept values against cJSON's own reading of the input. */
static void check_against_cjson(const char *json, size_t len, const anon_envelope *env)
{
    static const char *const keys[4] = {"sessionId", "clientVer", "cpuArchitecture",
                                        "eventSchemaVer"};
    const anon_record *r = anon_envelope_records(env);
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *events, *ev;
    size_t i = 0;

    if (root == NULL)
        differs("cJSON's reading (it refuses the input)", json, "");
    for (int k = 0; k < 4; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        const char *kept = k == 0 ? r[0].session_id : k == 1 ? r[0].client_version
                         : k == 2 ? r[0].cpu_architecture : r[0].schema_version;

        /* duplicate keys are refused, so cJSON's first is the only one */
        if (v == NULL ? !eq(kept, "undefined") : !cJSON_IsString(v) || !eq(kept, v->valuestring))
            differs(keys[k], kept, v != NULL && cJSON_IsString(v) ? v->valuestring : "(none)");
    }
    events = cJSON_GetObjectItemCaseSensitive(root, "events");
    cJSON_ArrayForEach(ev, events) {
        cJSON *kept = cJSON_Parse(r[i].parameters);

        if (!same(cJSON_GetObjectItemCaseSensitive(ev, "parameters"), kept))
            differs("parameters", r[i].parameters, "(cJSON reads other values in the input)");
        if (!eq(r[i].ts, cJSON_GetObjectItemCaseSensitive(ev, "ts")->valuestring))
            differs("ts", r[i].ts, "");
        cJSON_Delete(kept);
        i++;
    }
    if (i != anon_envelope_count(env))
        differs("event count", "", "");
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data, *ids = NULL;
    char err[ANON_ERRLEN], idbuf[4096];
    anon_envelope *env = NULL, *again = NULL;
    const anon_record *r, *r2;
    struct envelope_event *evs = NULL;
    anon_buf b;
    size_t n;
    int rc;

    if (size > 4 && memcmp(data, "ids:", 4) == 0) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t idlen;

        if (nl == NULL || (idlen = (size_t)(nl - data) - 4) >= sizeof idbuf)
            return 0;
        memcpy(idbuf, data + 4, idlen);
        idbuf[idlen] = '\0';
        ids = idbuf;
        json = (const char *)nl + 1;
        size -= (size_t)(nl - data) + 1;
    }
    err[0] = '\0';
    rc = anon_envelope_parse(json, size, &env, err, sizeof err);
    if (rc != ANON_OK) {
        if (env != NULL || (rc != ANON_EINVAL && rc != ANON_ENOMEM) || err[0] == '\0' ||
            memchr(err, '\0', sizeof err) == NULL)
            abort();
        return 0;
    }
    n = anon_envelope_count(env);
    r = anon_envelope_records(env);
    if (env == NULL || n == 0 || r == NULL)
        abort();
    if (ids != NULL && anon_envelope_set_ids(env, ids, err, sizeof err) == ANON_OK)
        for (size_t i = 0; i < n; i++)
            if (r[i].uuid == NULL || anon_uuid_check(r[i].uuid) != 0)
                differs("uuid from the ids", r[i].uuid, ids);
    for (size_t i = 0; i < n; i++)
        if (anon_record_check(&r[i], i, err, sizeof err) != ANON_OK)
            differs("a parsed record fails anon_record_check", err, r[i].parameters);
    check_against_cjson(json, size, env);

    /* what the shipper would post from these records parses back to the same */
    evs = calloc(n, sizeof *evs);
    if (evs == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        evs[i] = (struct envelope_event){r[i].name, r[i].ts, r[i].parameters};
    {
        struct envelope_hdr h = {r[0].session_id, r[0].client_version, r[0].schema_version,
                                 r[0].cpu_architecture};

        anon_buf_init(&b);
        if (envelope_build(&b, &h, 1778500802345LL, evs, n) != 0)
            abort();
    }
    if (anon_envelope_parse(b.data, b.len, &again, err, sizeof err) != ANON_OK)
        differs("the rebuilt envelope is refused", err, b.data);
    r2 = anon_envelope_records(again);
    if (anon_envelope_count(again) != n)
        differs("rebuilt count", "", "");
    for (size_t i = 0; i < n; i++) {
        if (!eq(r[i].ts, r2[i].ts) || !eq(r[i].name, r2[i].name))
            differs("rebuilt ts/name", r[i].ts, r2[i].ts);
        if (!eq(r[i].parameters, r2[i].parameters))
            differs("rebuilt parameters", r[i].parameters, r2[i].parameters);
        if (!eq(r[i].session_id, r2[i].session_id) ||
            !eq(r[i].client_version, r2[i].client_version) ||
            !eq(r[i].cpu_architecture, r2[i].cpu_architecture) ||
            !eq(r[i].schema_version, r2[i].schema_version))
            differs("rebuilt header", r[i].session_id, r2[i].session_id);
    }
    anon_buf_free(&b);
    free(evs);
    anon_envelope_free(again);
    anon_envelope_free(env);
    return 0;
}
