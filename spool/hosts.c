/* hosts.c: classify_model_host, collect_model_hosts, sort_join_aliases (the Anonymizer's
 * rules, as anon-telemetry(7) states them). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The rules on an endpoint already lower-cased. */
static const char *classify_lower(const char *low)
{
    static const char *const local[] = {"localhost", "127.0.0.1", "0.0.0.0", "[::1]"};

    if (strstr(low, "build.nvidia.com") != NULL || strstr(low, "integrate.api.nvidia.com") != NULL)
        return "nvidia-build";
    if (strstr(low, "inference-api.nvidia.com") != NULL)
        return "nvidia-internal";
    if (strstr(low, "openrouter.ai") != NULL)
        return "openrouter";
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (strstr(low, local[i]) != NULL)
            return "local";
    return "other";
}

const char *anon_classify_model_host(const char *endpoint)
{
    const char *ret;
    size_t cap;
    char *low;

    if (endpoint == NULL)
        return "other";
    /* Python's `needle in endpoint.lower()`, whatever the locale (U+0130 grows from two
     * bytes to three) */
    cap = strlen(endpoint) * 3 / 2 + 4;
    if ((low = malloc(cap)) == NULL || anon_py_lower(endpoint, low, cap) < 0) {
        free(low);
        return "other";
    }
    ret = classify_lower(low);
    free(low);
    return ret;
}

/* Length of the whitespace character (Python's str.isspace) at s, or 0. */
static size_t py_space_at(const unsigned char *s)
{
    uint32_t cp;
    size_t n = anon_utf8_decode(s, &cp);

    if (n == 0)
        return 0;
    if ((cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 ||
        cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
        cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000)
        return n;
    return 0;
}

/* Python's str.strip(): [*ret_start, *ret_start + return value) of s. */
static size_t py_strip(const char *s, const char **ret_start)
{
    const unsigned char *p = (const unsigned char *)s, *end, *q;
    size_t n;

    while ((n = py_space_at(p)) > 0)
        p += n;
    end = p;
    for (q = p; *q;) {
        n = py_space_at(q);
        if (n == 0) {
            q++;
            while ((*q & 0xc0) == 0x80)
                q++;
            end = q;
        } else {
            q += n;
        }
    }
    *ret_start = (const char *)p;
    return (size_t)(end - p);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t anon_collect_model_hosts(const char *const *hosts, size_t n, const char **out,
                                size_t out_cap)
{
    size_t k = 0;

    if (out_cap == 0)
        return 0;
    /* insertion into a sorted, distinct list: n is the handful of model providers */
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        if (hosts[i] == NULL)
            continue;
        while (j < k && strcmp(out[j], hosts[i]) < 0)
            j++;
        if (j < k && strcmp(out[j], hosts[i]) == 0)
            continue;
        if (k == out_cap)
            break;
        memmove(out + j + 1, out + j, (k - j) * sizeof *out);
        out[j] = hosts[i];
        k++;
    }
    if (k == 0)
        out[k++] = "other";
    return k;
}

char *anon_sort_join_aliases(const char *const *aliases, size_t n)
{
    char **trimmed = NULL;
    char *joined = NULL;
    size_t k = 0, total = 0, o = 0;

    trimmed = calloc(n ? n : 1, sizeof *trimmed);
    if (trimmed == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        const char *s = aliases[i];
        size_t len;
        if (s == NULL)
            continue;
        len = py_strip(s, &s);
        if (len == 0)
            continue;
        trimmed[k] = strndup(s, len);
        if (trimmed[k] == NULL)
            goto done;
        total += len + 1;
        k++;
    }
    if (k == 0) {
        joined = strdup(ANON_NOT_APPLICABLE);
        goto done;
    }
    qsort(trimmed, k, sizeof *trimmed, cmp_str);
    joined = malloc(total);
    if (joined == NULL)
        goto done;
    for (size_t i = 0; i < k; i++) {
        size_t len = strlen(trimmed[i]);
        if (i > 0)
            joined[o++] = ',';
        memcpy(joined + o, trimmed[i], len);
        o += len;
    }
    joined[o] = '\0';
done:
    if (trimmed != NULL)
        for (size_t i = 0; i < k; i++)
            free(trimmed[i]);
    free(trimmed);
    return joined;
}
