/*
 * fuzz_outcome: the shipper's answer classifier (shipper/outcome.h) and its
 * Retry-After parser on arbitrary input.
 *
 * Input: byte 0 = transport class (mod 6), byte 1 bit 0 = connected, bytes 2-3 = HTTP
 * status (0..65535, folded to 0..999 half of the time), bytes 4-11 = now (ms, folded
 * into 1970..9999: the parser is specified for real clocks), the rest = the
 * Retry-After header text (up to its first NUL).
 *
 * Checked against the delivery policy table (README, anon-telemetry-ship(8)), written out
 * here independently: the action for every (transport, connected, status); the reason is
 * a non-empty NUL-terminated string; a retry's not_before is 0 or in (now, now + 24 h];
 * the parser's result, when it accepts, is in [now, now + 24 h]; delta-seconds give
 * exactly now + min(s, 24 h); an IMF-fixdate agrees with timegm(3).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "outcome.h"

#define MAX_NOW_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define CAP OUTCOME_RETRY_AFTER_CAP_MS

static enum outcome_action expected(enum outcome_net net, int connected, long status)
{
    /* outcome.h: once a status line (>= 200) has arrived, the status decides, whatever
     * became of the rest of the transfer */
    if (status >= 200)
        net = OUTCOME_NET_OK;
    switch (net) {
    case OUTCOME_NET_OK:
        break;
    case OUTCOME_NET_UNREACHABLE:
        return OUTCOME_STOP_OFFLINE;
    case OUTCOME_NET_TIMEOUT:
    case OUTCOME_NET_RESET:
        return connected ? OUTCOME_RETRY : OUTCOME_STOP_OFFLINE;
    default:
        return OUTCOME_STOP_REFUSED;
    }
    if (status >= 200 && status < 300)
        return OUTCOME_SENT;
    if (status == 400 || status == 422)
        return OUTCOME_DEAD;
    if (status == 413)
        return OUTCOME_SPLIT;
    if (status == 408 || status == 429 || (status >= 500 && status < 600))
        return OUTCOME_RETRY;
    return OUTCOME_STOP_REFUSED;
}

static void fail(const char *what, const char *hdr, long status, int64_t now)
{
    fprintf(stderr, "%s (status %ld, now %lld, Retry-After \"%s\")\n", what, status,
            (long long)now, hdr);
    abort();
}

/* The value with the optional whitespace around it removed; 0 if empty or too long. */
static size_t trimmed(const char *v, char *out, size_t outlen)
{
    size_t n;

    while (*v == ' ' || *v == '\t')
        v++;
    n = strlen(v);
    while (n > 0 && strchr(" \t\r\n", v[n - 1]) != NULL)
        n--;
    if (n == 0 || n >= outlen)
        return 0;
    memcpy(out, v, n);
    out[n] = '\0';
    return n;
}

static void check_parser(const char *hdr, int64_t now)
{
    int64_t t = 0;
    char v[256];
    size_t n;
    int rc = outcome_parse_retry_after(hdr, now, &t);

    if (rc != 0 && rc != -1)
        fail("parser returned neither 0 nor -1", hdr, 0, now);
    if (rc == 0 && (t < now || t > now + CAP))
        fail("parsed time outside [now, now + 24 h]", hdr, 0, now);
    n = trimmed(hdr, v, sizeof v);
    if (n == 0)
        return;
    /* delta-seconds: only digits */
    if (strspn(v, "0123456789") == n && n < 64) {
        int64_t secs = 0;
        for (size_t i = 0; i < n; i++)
            if (secs < CAP / 1000)
                secs = secs * 10 + (v[i] - '0');
        if (secs > CAP / 1000)
            secs = CAP / 1000;
        if (rc != 0 || t != now + secs * 1000)
            fail("delta-seconds misread", hdr, 0, now);
        return;
    }
    /* an IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT, checked against timegm */
    {
        static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        /* "Sun, 06 Nov 1994 08:49:37 GMT": fixed positions, 29 characters */
        static const char shape[] = "Aaa, 00 Aaa 0000 00:00:00 GMT";
        struct tm tm;
        int d, y, h, mi, s, m = -1, wd = -1;

        if (n != 29)
            return;
        for (size_t i = 0; i < 29; i++) {
            if (shape[i] == '0' ? !isdigit((unsigned char)v[i])
                : (shape[i] == 'A' || shape[i] == 'a') ? 0
                : v[i] != shape[i])
                return;
        }
        for (int i = 0; i < 7; i++)
            if (strncmp(v, days[i], 3) == 0)
                wd = i;
        for (int i = 0; i < 12; i++)
            if (strncmp(v + 8, mons[i], 3) == 0)
                m = i;
        d = (v[5] - '0') * 10 + (v[6] - '0');
        y = atoi(v + 12);
        h = (v[17] - '0') * 10 + (v[18] - '0');
        mi = (v[20] - '0') * 10 + (v[21] - '0');
        s = (v[23] - '0') * 10 + (v[24] - '0');
        if (wd < 0 || m < 0 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
            return;
        memset(&tm, 0, sizeof tm);
        tm.tm_year = y - 1900, tm.tm_mon = m, tm.tm_mday = d;
        tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
        int64_t want = (int64_t)timegm(&tm) * 1000;
        if (want < now)
            want = now;
        if (want > now + CAP)
            want = now + CAP;
        if (rc != 0 || t != want)
            fail("IMF-fixdate misread", hdr, 0, now);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char hdr[512];
    struct outcome o;
    enum outcome_net net;
    int connected;
    long status;
    uint64_t u = 0;
    int64_t now;
    size_t n;

    if (size < 12)
        return 0;
    net = (enum outcome_net)(data[0] % 6);
    connected = data[1] & 1;
    status = (long)data[2] << 8 | data[3];
    if (data[1] & 2)
        status %= 1000;
    memcpy(&u, data + 4, 8);
    now = (int64_t)(u % (uint64_t)(MAX_NOW_MS + 1));
    n = size - 12;
    if (n >= sizeof hdr)
        n = sizeof hdr - 1;
    memcpy(hdr, data + 12, n);
    hdr[n] = '\0';

    memset(&o, 0xa5, sizeof o);
    outcome_classify(net, connected, status, (data[1] & 4) ? NULL : hdr, now, &o);
    if (o.action != expected(net, connected, status))
        fail("action differs from the delivery policy table", hdr, status, now);
    if (memchr(o.reason, '\0', sizeof o.reason) == NULL || o.reason[0] == '\0')
        fail("reason is not a non-empty string", hdr, status, now);
    if (o.not_before_ms != 0 &&
        (o.action != OUTCOME_RETRY || o.not_before_ms <= now || o.not_before_ms > now + CAP))
        fail("not_before outside (now, now + 24 h]", hdr, status, now);
    if (o.action == OUTCOME_DEAD && strstr(o.reason, "rejected by collector: HTTP ") != o.reason)
        fail("dlq reason is not \"rejected by collector: HTTP N\"", hdr, status, now);
    if (strcmp(outcome_action_str(o.action), "?") == 0)
        fail("action has no name", hdr, status, now);
    check_parser(hdr, now);
    return 0;
}
