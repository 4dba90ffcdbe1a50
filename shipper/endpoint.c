/*
 * endpoint.c: the collector's URL, checked and redacted (see endpoint.h). Everything here
 * is string work: nothing is resolved, nothing is sent (endpoint_check only reads the
 * proxy variables of the environment).
 */
#include "endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* [s, e) is a URL scheme: a letter, then letters, digits, '+', '-' or '.'. */
static int is_scheme(const char *s, const char *e)
{
    if (s >= e || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return 0;
    for (s++; s < e; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '+' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

/* Appends [s, s + n) to buf (of buflen bytes, *len used), cutting at the end. */
static void put(char *buf, size_t buflen, size_t *len, const char *s, size_t n)
{
    if (*len + 1 >= buflen)
        return;
    if (n > buflen - 1 - *len)
        n = buflen - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

/*
 * What is hidden: the text after "scheme://" may hold a user name and password before its
 * last '@' (a password may hold '/', '?', '#' and '@' when it was not percent-encoded, so
 * no earlier separator can be trusted), and a query or fragment after its first '?' or
 * '#'. What is shown is what is neither under any reading: the text between the last '@'
 * and the first '?' or '#'. When the last '@' comes after the first '?' or '#', nothing
 * past the scheme is safe to show.
 */
void endpoint_redact(const char *url, char *buf, size_t buflen)
{
    const char *rest, *sep, *at = NULL, *q;
    size_t len = 0;

    if (buflen == 0)
        return;
    buf[0] = '\0';
    if (url == NULL)
        return;
    sep = strstr(url, "://");
    if (sep != NULL && is_scheme(url, sep)) {
        put(buf, buflen, &len, url, (size_t)(sep + 3 - url));
        rest = sep + 3;
    } else {
        rest = url; /* no scheme to trust: all of it may be "user:password@host" */
    }
    for (const char *p = rest; *p != '\0'; p++)
        if (*p == '@')
            at = p;
    q = rest + strcspn(rest, "?#");
    if (at != NULL) {
        if (at > q) {
            put(buf, buflen, &len, "[hidden]", 8);
            return;
        }
        rest = at + 1;
    }
    put(buf, buflen, &len, rest, (size_t)(q - rest));
}

static int fail(char *err, size_t errlen, const char *url, const char *fmt, ...)
    ANON_PRINTF(4, 5);

/* err = "endpoint 'REDACTED': WHY"; returns -1. */
static int fail(char *err, size_t errlen, const char *url, const char *fmt, ...)
{
    char shown[512], why[512];
    va_list ap;

    endpoint_redact(url, shown, sizeof(shown));
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return anon_seterr(err, errlen, -1, "endpoint '%s': %s", shown, why);
}

/* The first number of s when s is exactly four decimal numbers 0-255 joined by dots,
 * without leading zeros; else -1. (libcurl also reads "127.1", "0x7f.1" or "017.0.0.1",
 * where a leading zero means octal: those are not trusted as loopback.) */
static int dotted_quad_first(const char *s)
{
    int first = -1;

    for (int part = 0; part < 4; part++) {
        int v = 0, digits = 0;

        if (part > 0 && *s++ != '.')
            return -1;
        if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
            return -1;
        for (; *s >= '0' && *s <= '9'; s++) {
            v = v * 10 + (*s - '0');
            if (++digits > 3 || v > 255)
                return -1;
        }
        if (digits == 0)
            return -1;
        if (part == 0)
            first = v;
    }
    return *s == '\0' ? first : -1;
}

int endpoint_host_is_loopback(const char *host)
{
    if (host == NULL)
        return 0;
    /* libcurl answers "localhost" itself with 127.0.0.1 and ::1, whatever DNS says */
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (host[0] == '[') {
        char a[64];
        size_t n = strlen(host);
        struct in6_addr v6;

        if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof(a))
            return 0;
        memcpy(a, host + 1, n - 2);
        a[n - 2] = '\0';
        return inet_pton(AF_INET6, a, &v6) == 1 &&
               memcmp(&v6, &in6addr_loopback, sizeof(v6)) == 0;
    }
    return dotted_quad_first(host) == 127;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Whether the query of the URL part that starts at from (the path) names a credential. */
static int query_has_credential(const char *from)
{
    static const char *const suffixes[] = {"token", "key", "secret", "password", "passwd"};
    const char *p = from + strcspn(from, "?#");

    if (*p != '?')
        return 0; /* no query (what follows a '#' is never sent) */
    for (p++; *p != '\0' && *p != '#';) {
        char name[256];
        size_t n = 0;
        int too_long = 0;

        /* the parameter's name, percent-decoded and lower-cased */
        for (; *p != '\0' && *p != '#' && *p != '&' && *p != ';' && *p != '='; p++) {
            int c = (unsigned char)*p;

            if (c == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                c = hexval(p[1]) * 16 + hexval(p[2]);
                p += 2;
            }
            if (n + 1 < sizeof(name))
                name[n++] = (char)lower(c);
            else
                too_long = 1;
        }
        if (too_long)
            return 1; /* cannot tell: count it as one */
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
            if (ends_with(name, n, suffixes[i]))
                return 1;
        /* the value, up to the next parameter */
        p += strcspn(p, "&;#");
        if (*p == '&' || *p == ';')
            p++;
    }
    return 0;
}

static int host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c >= 0x80; /* >= 0x80: IDN */
}

int endpoint_parse(const char *url, struct endpoint *ret, char *err, size_t errlen)
{
    const char *sep, *auth, *auth_end, *at = NULL, *hp, *host_end;
    size_t slen;

    memset(ret, 0, sizeof(*ret));
    if (url == NULL || url[0] == '\0')
        return anon_seterr(err, errlen, -1, "the endpoint is empty (--endpoint or "
                           "NEMO_TELEMETRY_ENDPOINT): give an https:// URL");
    for (const char *p = url; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return fail(err, errlen, url, "white space or a control character in the URL "
                        "(percent-encode it)");
    sep = strstr(url, "://");
    if (sep == NULL || !is_scheme(url, sep))
        return fail(err, errlen, url, "not a URL: it must start with https:// (or http://)");
    slen = (size_t)(sep - url);
    if (slen == 5 && strncasecmp(url, "https", 5) == 0)
        ret->https = 1;
    else if (!(slen == 4 && strncasecmp(url, "http", 4) == 0))
        return fail(err, errlen, url, "the scheme must be https (or http), not %.*s",
                    (int)(slen > 20 ? 20 : slen), url);

    /* The authority ends where libcurl ends it; an '@' past it means a user name or
     * password that libcurl would split somewhere else than its owner meant. */
    auth = sep + 3;
    auth_end = auth + strcspn(auth, "/?#");
    if (strchr(auth_end, '@') != NULL)
        return fail(err, errlen, url, "'@' after the host: in a user name or password, "
                    "percent-encode '/', '?', '#' and '@' (%%2F, %%3F, %%23, %%40); in a path "
                    "or query, write '@' as %%40");
    for (const char *p = auth; p < auth_end; p++) {
        if (*p != '@')
            continue;
        if (at != NULL)
            return fail(err, errlen, url, "more than one '@' before the host: percent-encode "
                        "'@' in a user name or password as %%40");
        at = p;
    }
    ret->userinfo = at != NULL;
    hp = at != NULL ? at + 1 : auth;

    if (hp < auth_end && *hp == '[') {
        const char *close = memchr(hp, ']', (size_t)(auth_end - hp));
        char addr[64];
        size_t alen;
        struct in6_addr v6;

        if (close == NULL)
            return fail(err, errlen, url, "'[' without ']' around the IPv6 address");
        alen = (size_t)(close - hp - 1);
        {
            const char *zone = memchr(hp + 1, '%', alen); /* [fe80::1%25eth0] */
            if (zone != NULL)
                alen = (size_t)(zone - hp - 1);
        }
        if (alen == 0 || alen >= sizeof(addr))
            return fail(err, errlen, url, "no IPv6 address between '[' and ']'");
        memcpy(addr, hp + 1, alen);
        addr[alen] = '\0';
        if (inet_pton(AF_INET6, addr, &v6) != 1)
            return fail(err, errlen, url, "%s is not an IPv6 address", addr);
        host_end = close + 1;
        if (host_end < auth_end && *host_end != ':')
            return fail(err, errlen, url, "text after the IPv6 address's ']' that is not a port");
    } else {
        host_end = hp;
        while (host_end < auth_end && *host_end != ':') {
            if (!host_char((unsigned char)*host_end))
                return fail(err, errlen, url, "'%c' in the host name", *host_end);
            host_end++;
        }
    }
    if (host_end == hp)
        return fail(err, errlen, url, "no host");
    if ((size_t)(host_end - hp) >= sizeof(ret->host))
        return fail(err, errlen, url, "the host name is longer than %zu bytes",
                    sizeof(ret->host) - 1);
    if (host_end < auth_end) { /* ":port" */
        long port = 0;

        if (host_end + 1 == auth_end)
            return fail(err, errlen, url, "no port after ':'");
        for (const char *p = host_end + 1; p < auth_end; p++) {
            if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535)
                return fail(err, errlen, url, "the port must be a number from 1 to 65535");
        }
        if (port == 0)
            return fail(err, errlen, url, "the port must be a number from 1 to 65535");
    }
    memcpy(ret->host, hp, (size_t)(host_end - hp));
    ret->host[host_end - hp] = '\0';
    ret->loopback = endpoint_host_is_loopback(ret->host);
    ret->token = query_has_credential(auth_end);
    return 0;
}

/* Whether an entry of a no_proxy list surely covers host, as libcurl matches them: "*",
 * the host itself (any case; an IPv6 address without its brackets), or for a name a domain
 * it is in (".example.com" or "example.com"). Anything else, CIDR ranges included, counts
 * as not covered: the proxy is then assumed, which errs on the side of refusing. */
static int no_proxy_covers(const char *no_proxy, const char *host)
{
    char h[sizeof(((struct endpoint *)0)->host)];
    size_t hl = strlen(host);
    int ip = host[0] == '[' || dotted_quad_first(host) >= 0;

    if (no_proxy == NULL)
        return 0;
    if (hl >= 2 && host[0] == '[') {       /* [::1] is listed as ::1 */
        host++;
        hl -= 2;
    }
    memcpy(h, host, hl);
    h[hl] = '\0';
    for (const char *p = no_proxy; *p != '\0';) {
        size_t n = strcspn(p, ", \t");
        const char *e = p;
        size_t el = n;

        if (el > 0 && e[0] == '.') {
            e++;
            el--;
        }
        if (n == 1 && p[0] == '*')
            return 1;
        if (el > 0 && el <= hl && strncasecmp(h + hl - el, e, el) == 0 &&
            (el == hl || (!ip && h[hl - el - 1] == '.')))
            return 1;
        p += n;
        p += strspn(p, ", \t");
    }
    return 0;
}

int endpoint_leaves_host(const struct endpoint *ep, const char *proxy, const char *no_proxy)
{
    struct endpoint px;
    char purl[600];

    if (!ep->loopback)
        return 1;
    if (proxy == NULL || proxy[0] == '\0' || no_proxy_covers(no_proxy, ep->host))
        return 0;
    /* A proxy carries the request: it stays here only when the proxy is here too. Only its
     * host matters, whatever its scheme (http, https, socks5 ...; none means http). */
    snprintf(purl, sizeof(purl), "http://%s", strstr(proxy, "://") ? strstr(proxy, "://") + 3
                                                                    : proxy);
    return endpoint_parse(purl, &px, NULL, 0) != 0 || !px.loopback;
}

int endpoint_decide(const char *url, int allow_insecure_http, const char *proxy,
                    const char *no_proxy, char *err, size_t errlen)
{
    struct endpoint ep;

    if (endpoint_parse(url, &ep, err, errlen) != 0)
        return -1;
    if (ep.https || !(ep.userinfo || ep.token) || allow_insecure_http ||
        !endpoint_leaves_host(&ep, proxy, no_proxy))
        return 0;
    if (ep.loopback)
        return fail(err, errlen, url,
                    "refusing to send %s in clear text: plain http to %s would go through the "
                    "proxy set in http_proxy or all_proxy; add the host to no_proxy, use "
                    "https://, or pass --allow-insecure-http if the network to the proxy is "
                    "trusted",
                    ep.userinfo ? "a user name or password" : "a token from the query string",
                    ep.host);
    return fail(err, errlen, url,
                "refusing to send %s in clear text: plain http to %s, which is not this "
                "machine; use https://, or pass --allow-insecure-http if the network "
                "between here and there is trusted",
                ep.userinfo ? "a user name or password" : "a token from the query string",
                ep.host);
}

int endpoint_check(const char *url, int allow_insecure_http, char *err, size_t errlen)
{
    /* the variables libcurl reads for an http:// URL (never HTTP_PROXY: see httpoxy) */
    const char *proxy = getenv("http_proxy");
    const char *no_proxy = getenv("no_proxy");

    if (proxy == NULL || proxy[0] == '\0')
        proxy = getenv("all_proxy");
    if (proxy == NULL || proxy[0] == '\0')
        proxy = getenv("ALL_PROXY");
    if (no_proxy == NULL || no_proxy[0] == '\0')
        no_proxy = getenv("NO_PROXY");
    return endpoint_decide(url, allow_insecure_http, proxy, no_proxy, err, errlen);
}
