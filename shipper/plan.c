/*
 * plan.c: the delivery policy applied to a batch's rows (see plan.h).
 */
#include "plan.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "backoff.h"

void plan_delivery(const struct outcome *oc, const int *retry_counts, size_t n,
                   int max_retries, int64_t now_ms, plan_jitter_fn jitter, void *jitter_ctx,
                   struct plan *ret, struct plan_row *rows)
{
    enum plan_action all = PLAN_RELEASE;
    double jitter_r = 0.0;

    memset(ret, 0, sizeof *ret);
    snprintf(ret->reason, sizeof ret->reason, "%s", oc->reason);
    snprintf(ret->exhausted, sizeof ret->exhausted, "retries exhausted: %s", oc->reason);
    switch (oc->action) {
    case OUTCOME_SENT: all = PLAN_SENT; break;
    case OUTCOME_SPLIT:
        all = PLAN_SPLIT;
        if (n == 1) {
            snprintf(ret->reason, sizeof ret->reason,
                     "rejected by collector: HTTP 413 (event too large)");
            all = PLAN_DEAD;
        }
        break;
    case OUTCOME_DEAD: all = PLAN_DEAD; break;
    case OUTCOME_RETRY:
        all = PLAN_RETRY;
        /* one draw per batch: jitter spreads the batches of many sites; the rows of one
         * batch stay due together, so they come back as one batch, and their index
         * entries stay side by side */
        jitter_r = jitter(jitter_ctx);
        break;
    case OUTCOME_STOP_OFFLINE: ret->stop = EX_TEMPFAIL; break;
    case OUTCOME_STOP_REFUSED: ret->stop = EX_CONFIG; break;
    }
    for (size_t i = 0; i < n; i++) {
        struct plan_row *r = &rows[i];

        memset(r, 0, sizeof *r);
        r->action = all;
        r->retry_count = retry_counts[i];
        if (all == PLAN_DEAD) {
            r->reason = ret->reason;
        } else if (all == PLAN_RETRY) {
            r->retry_count = retry_counts[i] + 1;
            if (r->retry_count > max_retries) {
                r->action = PLAN_DEAD;
                r->reason = ret->exhausted;
            } else {
                r->next_attempt_ms =
                    now_ms + backoff_delay_ms(r->retry_count, jitter_r);
                if (oc->not_before_ms > r->next_attempt_ms)
                    r->next_attempt_ms = oc->not_before_ms;
            }
        }
        if (r->action == PLAN_DEAD)
            ret->dead++;
        else if (r->action == PLAN_RETRY)
            ret->retried++;
    }
}
