/*
 * timefmt.c: the one timestamp format of the spool and the wire:
 * UTC with milliseconds, truncated (never rounded): 2026-05-11T12:00:00.000Z.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

int64_t anon_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The range the format can write (four-digit years): a clock outside it is clamped,
 * never written as a malformed timestamp. */
#define TS_MIN_MS 0LL                    /* 1970-01-01T00:00:00.000Z */
#define TS_MAX_MS 253402300799999LL      /* 9999-12-31T23:59:59.999Z */

void anon_format_ts(int64_t ms, char buf[ANON_TS_LEN + 1])
{
    int64_t sec, rem;

    if (ms < TS_MIN_MS)
        ms = TS_MIN_MS;
    if (ms > TS_MAX_MS)
        ms = TS_MAX_MS;
    sec = ms / 1000;
    rem = ms % 1000;
    struct tm tm;
    time_t t;

    t = (time_t)sec;
    char tmp[80];

    gmtime_r(&t, &tm);
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
    memcpy(buf, tmp, ANON_TS_LEN);
    buf[ANON_TS_LEN] = '\0';
}

static int digits(const char *s, int n, int *ret)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

int anon_parse_ts(const char *s, int64_t *ret_ms)
{
    int y, mo, d, h, mi, se, ms;
    struct tm tm;

    if (s == NULL || strlen(s) != ANON_TS_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z')
        return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se) ||
        digits(s + 20, 3, &ms))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *ret_ms = (int64_t)timegm(&tm) * 1000 + ms;
    return 0;
}
