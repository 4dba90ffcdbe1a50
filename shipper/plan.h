/*
 * plan.h: what a settled answer does to each row of its batch (the delivery policy's
 * second half; outcome.h is the first). Pure: no spool, no clock, no randomness of its
 * own; the shipper executes the plan through the queue module (queue.h).
 *
 *   outcome                      every row of the batch
 *   SENT                         SENT
 *   SPLIT, 2 or more events      SPLIT (the halves are posted; the rows keep their lease)
 *   SPLIT, one event             DEAD "rejected by collector: HTTP 413 (event too large)"
 *   DEAD                         DEAD with the outcome's reason, retry_count as it was
 *   RETRY                        retry_count + 1; over max_retries: DEAD "retries
 *                                exhausted: <reason>"; else RETRY at now + backoff with
 *                                jitter (one draw for the batch), or at Retry-After
 *                                when that is later
 *   STOP_OFFLINE, STOP_REFUSED   RELEASE (back to pending, nothing spent); the run stops
 *                                (75 offline, 78 refused)
 */
#ifndef SHIP_PLAN_H
#define SHIP_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "outcome.h"

enum plan_action { PLAN_SENT, PLAN_SPLIT, PLAN_RETRY, PLAN_DEAD, PLAN_RELEASE };

struct plan_row {
    enum plan_action action;
    int retry_count;          /* the row's retry_count after the plan */
    int64_t next_attempt_ms;  /* RETRY: when the row is due again */
    const char *reason;       /* DEAD: the dlq reason (points into the plan) */
};

struct plan {
    int stop;                 /* 0, or the exit status that stops the run (75, 78) */
    long retried, dead;       /* rows to RETRY, rows to DEAD */
    char reason[160];         /* DEAD: the reason of rows dead-lettered as rejected */
    char exhausted[200];      /* DEAD: the reason of rows whose retries ran out */
};

/* A source of jitter in [0, 1) (backoff_random, or a fixed value in tests). */
typedef double (*plan_jitter_fn)(void *ctx);

/* Fills *ret and rows[0..n) for a batch of n rows with the given retry counts.
 * max_retries: failed attempts kept for retry (dlq after max_retries + 1). */
void plan_delivery(const struct outcome *oc, const int *retry_counts, size_t n,
                   int max_retries, int64_t now_ms, plan_jitter_fn jitter, void *jitter_ctx,
                   struct plan *ret, struct plan_row *rows);

#endif
