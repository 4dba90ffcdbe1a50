/*
 * env.c: the environment rules of anon-telemetry(7), read at every call (a
 * long-running program that changes its environment sees the change).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

int anon_telemetry_enabled(void)
{
    const char *v = getenv("NEMO_TELEMETRY_ENABLED");

    /* unset: enabled; set: only 1/true/yes (any case) enable, all else disables */
    if (v == NULL)
        return 1;
    return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0;
}

/* Python's str.lower() for the values that matter: ASCII letters, and U+212A KELVIN
 * SIGN, whose lower case is an ASCII 'k'. Returns 0, or -1 when it does not fit. */
static int py_lower(const char *v, char *out, size_t outlen)
{
    size_t o = 0;

    for (; *v; v++) {
        if (o + 1 >= outlen)
            return -1;
        if ((unsigned char)v[0] == 0xe2 && (unsigned char)v[1] == 0x84 &&
            (unsigned char)v[2] == 0xaa) {
            out[o++] = 'k';
            v += 2;
        } else {
            out[o++] = (char)tolower((unsigned char)*v);
        }
    }
    out[o] = '\0';
    return 0;
}

const char *anon_deployment_type(void)
{
    static const char *const known[] = {"cli", "sdk", "nmp"};
    const char *v = getenv("NEMO_DEPLOYMENT_TYPE");
    char low[8];

    if (v == NULL)
        return "sdk";
    if (py_lower(v, low, sizeof low) != 0)
        return "undefined";
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(low, known[i]) == 0)
            return known[i];
    return "undefined";
}

const char *anon_endpoint(void)
{
    const char *v = getenv("NEMO_TELEMETRY_ENDPOINT");

    return v != NULL && *v != '\0' ? v : ANON_DEFAULT_ENDPOINT;
}

int anon_session_id(const char *id, char *buf, size_t buflen)
{
    const char *prefix = getenv("NEMO_SESSION_PREFIX");
    int n;

    if (id == NULL || *id == '\0')
        id = "undefined";
    if (prefix == NULL)
        prefix = "";
    n = snprintf(buf, buflen, "%s%s", prefix, id);
    return n < 0 || (size_t)n >= buflen ? -1 : 0;
}

int anon_busy_timeout_ms(int *ret_ms, char *err, size_t errlen)
{
    const char *v = getenv("ANON_TELEMETRY_BUSY_TIMEOUT");
    char *end = NULL;
    double secs;

    *ret_ms = ANON_BUSY_TIMEOUT_MS;
    if (v == NULL || *v == '\0')
        return ANON_OK;
    secs = strtod(v, &end);
    if (end == v || *end != '\0' || !(secs >= 0.0 && secs <= 86400.0))
        return anon_seterr(err, errlen, ANON_EINVAL,
                           "ANON_TELEMETRY_BUSY_TIMEOUT: expected seconds from 0 to 86400, "
                           "got \"%.40s\"", v);
    *ret_ms = (int)(secs * 1000.0);
    return ANON_OK;
}
