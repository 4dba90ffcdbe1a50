/*
 * env.c: the environment rules of anon-telemetry(7), read at every call (a
 * long-running program that changes its environment sees the change).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int anon_telemetry_enabled(void)
{
    const char *v = getenv("NEMO_TELEMETRY_ENABLED");
    char low[8];

    /* unset: enabled; set: only 1/true/yes (any case) enable, all else disables */
    if (v == NULL)
        return 1;
    if (anon_py_lower(v, low, sizeof low) < 0)
        return 0;
    return strcmp(low, "1") == 0 || strcmp(low, "true") == 0 || strcmp(low, "yes") == 0;
}

/* Python's str.lower() for what can become ASCII: the ASCII letters (whatever the
 * process's locale says: a Turkish locale must not turn "I" into a dotless i), U+212A
 * KELVIN SIGN ('k') and U+0130 (an 'i' with a combining dot above, U+0307); every other
 * byte is kept, since no other character lowers to an ASCII one. Returns the length
 * written, or -1 when it does not fit in outlen (with its NUL). */
ssize_t anon_py_lower(const char *s, char *out, size_t outlen)
{
    const unsigned char *v = (const unsigned char *)s;
    size_t o = 0;

    for (; *v; v++) {
        if (o + 3 >= outlen)
            return -1;
        if (v[0] == 0xe2 && v[1] == 0x84 && v[2] == 0xaa) {
            out[o++] = 'k';
            v += 2;
        } else if (v[0] == 0xc4 && v[1] == 0xb0) {
            out[o++] = 'i';
            out[o++] = (char)0xcc;
            out[o++] = (char)0x87;
            v += 1;
        } else {
            out[o++] = (char)(*v >= 'A' && *v <= 'Z' ? *v - 'A' + 'a' : *v);
        }
    }
    out[o] = '\0';
    return (ssize_t)o;
}

const char *anon_deployment_type(void)
{
    static const char *const known[] = {"cli", "sdk", "nmp"};
    const char *v = getenv("NEMO_DEPLOYMENT_TYPE");
    char low[8];

    if (v == NULL)
        return "sdk";
    if (anon_py_lower(v, low, sizeof low) < 0)
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
