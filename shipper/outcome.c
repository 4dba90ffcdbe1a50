/*
 * outcome.c: the delivery policy (see outcome.h) and Retry-After parsing.
 */
#include "outcome.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

enum outcome_net outcome_net_from_curl(int curlcode)
{
    switch ((CURLcode)curlcode) {
    case CURLE_OK:
        return OUTCOME_NET_OK;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:     /* refused, no route, proxy CONNECT refused */
    case CURLE_SSL_CONNECT_ERROR:   /* TLS handshake failed */
#if LIBCURL_VERSION_NUM >= 0x074900
    case CURLE_PROXY:               /* proxy handshake failed */
#endif
        return OUTCOME_NET_UNREACHABLE;
    case CURLE_OPERATION_TIMEDOUT:
        return OUTCOME_NET_TIMEOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
#if LIBCURL_VERSION_NUM >= 0x073100
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
#endif
        return OUTCOME_NET_RESET;
    case CURLE_PEER_FAILED_VERIFICATION: /* also CURLE_SSL_CACERT since 7.62 */
#if LIBCURL_VERSION_NUM >= 0x073e00
    case CURLE_SSL_ISSUER_ERROR:
#endif
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return OUTCOME_NET_TLS_VERIFY;
    default:
        return OUTCOME_NET_CONFIG;
    }
}

const char *outcome_action_str(enum outcome_action action)
{
    switch (action) {
    case OUTCOME_SENT: return "sent";
    case OUTCOME_SPLIT: return "split";
    case OUTCOME_RETRY: return "retry";
    case OUTCOME_DEAD: return "dead";
    case OUTCOME_STOP_OFFLINE: return "offline";
    case OUTCOME_STOP_REFUSED: return "refused";
    }
    return "?";
}

static int is_retryable_status(long status)
{
    return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

void outcome_classify(enum outcome_net net, int connected, long status,
                      const char *retry_after, int64_t now_ms, struct outcome *ret)
{
    memset(ret, 0, sizeof(*ret));
    /* A status line that arrived decides, whatever became of the rest of the transfer
     * (a body cut at our cap, a timeout or reset while the body trickled in): the
     * collector has given its verdict on the batch. */
    if (net != OUTCOME_NET_OK && status >= 200)
        net = OUTCOME_NET_OK;
    switch (net) {
    case OUTCOME_NET_OK:
        break;
    case OUTCOME_NET_UNREACHABLE:
        ret->action = OUTCOME_STOP_OFFLINE;
        snprintf(ret->reason, sizeof(ret->reason), "endpoint unreachable");
        return;
    case OUTCOME_NET_TIMEOUT:
        if (connected) {
            ret->action = OUTCOME_RETRY;
            snprintf(ret->reason, sizeof(ret->reason), "timeout after connecting");
        } else {
            ret->action = OUTCOME_STOP_OFFLINE;
            snprintf(ret->reason, sizeof(ret->reason), "endpoint unreachable (connect timeout)");
        }
        return;
    case OUTCOME_NET_RESET:
        if (connected) {
            ret->action = OUTCOME_RETRY;
            snprintf(ret->reason, sizeof(ret->reason), "connection reset after connecting");
        } else {
            ret->action = OUTCOME_STOP_OFFLINE;
            snprintf(ret->reason, sizeof(ret->reason), "endpoint unreachable (connection reset)");
        }
        return;
    case OUTCOME_NET_TLS_VERIFY:
        ret->action = OUTCOME_STOP_REFUSED;
        snprintf(ret->reason, sizeof(ret->reason),
                 "the endpoint's TLS certificate failed verification");
        return;
    case OUTCOME_NET_CONFIG:
    default:
        ret->action = OUTCOME_STOP_REFUSED;
        snprintf(ret->reason, sizeof(ret->reason), "bad configuration");
        return;
    }

    if (status >= 200 && status <= 299) {
        ret->action = OUTCOME_SENT;
        snprintf(ret->reason, sizeof(ret->reason), "HTTP %ld", status);
    } else if (status == 400 || status == 422) {
        ret->action = OUTCOME_DEAD;
        snprintf(ret->reason, sizeof(ret->reason), "rejected by collector: HTTP %ld", status);
    } else if (status == 413) {
        ret->action = OUTCOME_SPLIT;
        snprintf(ret->reason, sizeof(ret->reason), "HTTP 413");
    } else if (is_retryable_status(status)) {
        int64_t nb;

        ret->action = OUTCOME_RETRY;
        snprintf(ret->reason, sizeof(ret->reason), "HTTP %ld", status);
        if (retry_after != NULL && outcome_parse_retry_after(retry_after, now_ms, &nb) == 0 &&
            nb > now_ms)
            ret->not_before_ms = nb;
    } else {
        ret->action = OUTCOME_STOP_REFUSED;
        snprintf(ret->reason, sizeof(ret->reason), "the endpoint refuses us: HTTP %ld",
                 status);
    }
}

/* ---- Retry-After ---- */

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const long_day_names[7] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday"};

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int match_word(const char **p, const char *const *words, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(words[i]);

        if (strncmp(*p, words[i], len) == 0) {
            *p += len;
            return i;
        }
    }
    return -1;
}

/* Reads exactly n digits (n > 0) or, with n == 0, one or two digits. */
static int read_num(const char **p, int n, int *ret)
{
    int v = 0, k = 0;
    int max = n ? n : 2;

    while (k < max && isdigit((unsigned char)(*p)[k])) {
        v = v * 10 + ((*p)[k] - '0');
        k++;
    }
    if (k == 0 || (n && k != n))
        return -1;
    *p += k;
    *ret = v;
    return 0;
}

static int expect(const char **p, const char *lit)
{
    size_t len = strlen(lit);

    if (strncmp(*p, lit, len) != 0)
        return -1;
    *p += len;
    return 0;
}

static int read_hms(const char **p, int *h, int *mi, int *s)
{
    if (read_num(p, 2, h) || expect(p, ":") || read_num(p, 2, mi) || expect(p, ":") ||
        read_num(p, 2, s))
        return -1;
    return (*h > 23 || *mi > 59 || *s > 60) ? -1 : 0;
}

/* An HTTP date (RFC 9110 5.6.7) to ms since the epoch; -1 when not one. */
static int parse_http_date(const char *p, int64_t *ret_ms)
{
    int y = 0, mon, d = 0, h, mi, s, wd;

    if ((wd = match_word(&p, long_day_names, 7)) >= 0 && *p == ',') {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        p++;
        if (expect(&p, " ") || read_num(&p, 2, &d) || expect(&p, "-") ||
            (mon = match_word(&p, month_names, 12)) < 0 || expect(&p, "-") ||
            read_num(&p, 2, &y) || expect(&p, " ") || read_hms(&p, &h, &mi, &s) ||
            expect(&p, " GMT"))
            return -1;
        y += y < 70 ? 2000 : 1900;
    } else if ((wd = match_word(&p, day_names, 7)) >= 0 && *p == ',') {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        p++;
        if (expect(&p, " ") || read_num(&p, 2, &d) || expect(&p, " ") ||
            (mon = match_word(&p, month_names, 12)) < 0 || expect(&p, " ") ||
            read_num(&p, 4, &y) || expect(&p, " ") || read_hms(&p, &h, &mi, &s) ||
            expect(&p, " GMT"))
            return -1;
    } else if (wd >= 0 && *p == ' ') {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        p++;
        if ((mon = match_word(&p, month_names, 12)) < 0 || expect(&p, " "))
            return -1;
        if (*p == ' ')
            p++;
        if (read_num(&p, 0, &d) || expect(&p, " ") || read_hms(&p, &h, &mi, &s) ||
            expect(&p, " ") || read_num(&p, 4, &y))
            return -1;
    } else {
        return -1;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0' || d < 1 || d > 31)
        return -1;
    *ret_ms = ((days_from_civil(y, mon + 1, d) * 86400) + h * 3600 + mi * 60 + s) * 1000;
    return 0;
}

int outcome_parse_retry_after(const char *value, int64_t now_ms, int64_t *ret_not_before_ms)
{
    const char *p = value;
    int64_t t;
    char buf[64];
    size_t n;

    if (value == NULL)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
                     p[n - 1] == '\n'))
        n--;
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';

    if (isdigit((unsigned char)buf[0])) {
        int64_t secs = 0;

        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)buf[i]))
                return -1;
            if (secs < OUTCOME_RETRY_AFTER_CAP_MS / 1000)
                secs = secs * 10 + (buf[i] - '0');
        }
        t = now_ms + secs * 1000;
    } else if (parse_http_date(buf, &t) == 0) {
        if (t < now_ms)
            t = now_ms;
    } else {
        return -1;
    }
    if (t > now_ms + OUTCOME_RETRY_AFTER_CAP_MS)
        t = now_ms + OUTCOME_RETRY_AFTER_CAP_MS;
    *ret_not_before_ms = t;
    return 0;
}
