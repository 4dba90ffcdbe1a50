/*
 * fuzz_event: anon_event_from_json on arbitrary bytes. When it accepts the input,
 * the serialised parameters must be JSON (cJSON parses them) holding all 38 keys,
 * must be accepted again by anon_event_from_json, and must serialise back to the
 * identical bytes (a fixed point: what is stored is what is sent, and re-reading it
 * changes nothing).
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
