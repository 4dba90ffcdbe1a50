/*
 * fuzz_event: anon_event_from_json on arbitrary bytes. When it accepts the input,
 * the serialised parameters must be JSON (cJSON parses them) holding all 38 keys,
 * must be accepted again by anon_event_from_json, and must serialise back to the
 * identical bytes (a fixed point: what is stored is what is sent, and re-reading it
 * changes nothing). And nothing is lost or altered on the way: every key of the input
 * (alias, or snake_case name turned into its camelCase alias) holds exactly the input's
 * value in the output; numbers are the same double.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon_telemetry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* the deploymentType default comes from the environment: pin it */
    unsetenv("NEMO_DEPLOYMENT_TYPE");
    return 0;
}

/* snake_case -> camelCase: every one of the 38 names maps to its alias this way */
static void camel(const char *key, char *out, size_t outlen)
{
    size_t j = 0;

    for (size_t i = 0; key[i] != '\0' && j + 1 < outlen; i++) {
        if (key[i] == '_' && key[i + 1] != '\0') {
            i++;
            out[j++] = (char)(key[i] >= 'a' && key[i] <= 'z' ? key[i] - 'a' + 'A' : key[i]);
        } else {
            out[j++] = key[i];
        }
    }
    out[j] = '\0';
}

static int same_value(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsArray(a) && cJSON_IsArray(b)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x != NULL && y != NULL; x = x->next, y = y->next)
            if (!same_value(x, y))
                return 0;
        return x == NULL && y == NULL;
    }
    return cJSON_Compare(a, b, 1);
}

static void check_values_kept(const uint8_t *data, size_t size, const char *json)
{
    cJSON *in = cJSON_ParseWithLength((const char *)data, size);
    cJSON *out = cJSON_Parse(json);
    const cJSON *item;
    char alias[128];

    if (in == NULL || out == NULL)
        abort();
    cJSON_ArrayForEach(item, in) {
        camel(item->string, alias, sizeof alias);
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(out, alias);
        if (o == NULL || !same_value(item, o)) {
            char *a = cJSON_PrintUnformatted(item), *b = o ? cJSON_PrintUnformatted(o) : NULL;
            fprintf(stderr, "%s: input %s, output %s\n", item->string, a ? a : "?",
                    b ? b : "(missing)");
            abort();
        }
    }
    item = cJSON_GetObjectItemCaseSensitive(out, "deploymentType");
    if (cJSON_GetObjectItemCaseSensitive(in, "deploymentType") == NULL &&
        cJSON_GetObjectItemCaseSensitive(in, "deployment_type") == NULL &&
        (!cJSON_IsString(item) || strcmp(item->valuestring, "sdk") != 0))
        abort();
    cJSON_Delete(in);
    cJSON_Delete(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ANON_ERRLEN];
    anon_event *ev = NULL, *ev2 = NULL;
    char *json = NULL, *json2 = NULL;
    cJSON *root;
    int rc;

    rc = anon_event_from_json((const char *)data, size, &ev, err, sizeof err);
    if (rc != ANON_OK) {
        if (ev != NULL)
            abort();                        /* a failure hands nothing back */
        if (rc != ANON_EINVAL && rc != ANON_ENOMEM)
            abort();
        if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0')
            abort();                        /* a failure always says why */
        return 0;
    }
    if (ev == NULL || anon_event_validate(ev, err, sizeof err) != ANON_OK)
        abort();
    if (anon_event_parameters_json(ev, &json, err, sizeof err) != ANON_OK || json == NULL)
        abort();

    root = cJSON_Parse(json);
    if (root == NULL || !cJSON_IsObject(root) || cJSON_GetArraySize(root) != 38) {
        fprintf(stderr, "serialisation is not a 38-key JSON object: %s\n", json);
        abort();
    }
    cJSON_Delete(root);

    check_values_kept(data, size, json);

    if (anon_event_from_json(json, strlen(json), &ev2, err, sizeof err) != ANON_OK) {
        fprintf(stderr, "serialisation refused when read back: %s\n%s\n", err, json);
        abort();
    }
    if (anon_event_parameters_json(ev2, &json2, err, sizeof err) != ANON_OK ||
        strcmp(json, json2) != 0) {
        fprintf(stderr, "not a fixed point:\n%s\n%s\n", json, json2 ? json2 : "(null)");
        abort();
    }
    free(json);
    free(json2);
    anon_event_free(ev);
    anon_event_free(ev2);
    return 0;
}
