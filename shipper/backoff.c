/*
 * backoff.c: exponential backoff with bounded jitter (see backoff.h).
 */
#include "backoff.h"

#include "internal.h"

int64_t backoff_nominal_ms(int n)
{
    int64_t d = BACKOFF_BASE_MS;

    if (n < 1)
        n = 1;
    while (--n > 0 && d < BACKOFF_CAP_MS)
        d *= 2;
    return d < BACKOFF_CAP_MS ? d : BACKOFF_CAP_MS;
}

int64_t backoff_delay_ms(int n, double r)
{
    int64_t nominal = backoff_nominal_ms(n);
    int64_t half = nominal / 2;

    if (!(r >= 0.0)) /* also NaN */
        r = 0.0;
    if (r > 1.0)
        r = 1.0;
    return half + (int64_t)(r * (double)(nominal - half));
}

double backoff_random(void)
{
    uint32_t v;

    if (anon_random_bytes(&v, sizeof(v)) != 0)
        return 0.5;
    return (double)v / 4294967296.0;
}
