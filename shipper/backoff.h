/*
 * backoff.h: how long a failed event waits before its next attempt.
 *
 * Nominal delay for the n-th failed attempt (n >= 1): BACKOFF_BASE_MS * 2^(n-1),
 * capped at BACKOFF_CAP_MS (60 s, 2 min, 4 min, ... 6 h). Jitter spreads the
 * retries of many sites over [nominal/2, nominal]: it never shortens a delay
 * below half its nominal value. Pure: the random value is passed in.
 */
#ifndef SHIP_BACKOFF_H
#define SHIP_BACKOFF_H

#include <stdint.h>

#define BACKOFF_BASE_MS (60 * 1000LL)
#define BACKOFF_CAP_MS  (6 * 3600 * 1000LL)

/* Nominal delay in ms for failed attempt n (n < 1 is taken as 1). */
int64_t backoff_nominal_ms(int n);
/* Delay in ms with jitter: nominal/2 + r * nominal/2, r in [0, 1] (clamped). */
int64_t backoff_delay_ms(int n, double r);
/* A random value in [0, 1) for backoff_delay_ms (getrandom, falling back to 0.5). */
double backoff_random(void);

#endif
