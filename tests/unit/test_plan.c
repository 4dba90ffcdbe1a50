/*
 * test_plan.c: the delivery plan (shipper/plan.c) as a table that reads like the
 * delivery policy: an answer, the rows' retry counts, what becomes of each row.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "plan.h"
#include "test.h"

#define NOW     1000000000000LL      /* any fixed time */
#define MIN_MS  (60 * 1000LL)
#define MAXR    3                    /* --max-retries */

static double fixed_jitter(void *ctx)
{
    return *(const double *)ctx;
}

/* A different value at every call: shows how often the plan draws. */
static double moving_jitter(void *ctx)
{
    double *v = ctx;

    *v += 0.25;
    return *v;
}

struct expect {
    enum plan_action action;
    int retry_count;
    int64_t next_ms;          /* RETRY: next attempt - NOW; else ignored */
    const char *reason;       /* DEAD: the reason; else NULL */
};

struct row_case {
    const char *what;
    long status;              /* the collector's answer (0: none) */
    enum outcome_net net;
    const char *retry_after;
    double jitter;
    int n;
    int counts[4];
    struct expect want[4];
    int stop;
    long retried, dead;
};

static const struct row_case cases[] = {
    {"2xx: every row sent", 200, OUTCOME_NET_OK, NULL, 0.5, 2, {0, 3},
     {{PLAN_SENT, 0, 0, NULL}, {PLAN_SENT, 3, 0, NULL}}, 0, 0, 0},
    {"400: every row to dlq, retries kept", 400, OUTCOME_NET_OK, NULL, 0.5, 2, {0, 2},
     {{PLAN_DEAD, 0, 0, "rejected by collector: HTTP 400"},
      {PLAN_DEAD, 2, 0, "rejected by collector: HTTP 400"}}, 0, 0, 2},
    {"422: every row to dlq", 422, OUTCOME_NET_OK, NULL, 0.5, 1, {1},
     {{PLAN_DEAD, 1, 0, "rejected by collector: HTTP 422"}}, 0, 0, 1},
    {"413 on many events: split", 413, OUTCOME_NET_OK, NULL, 0.5, 3, {0, 0, 1},
     {{PLAN_SPLIT, 0, 0, NULL}, {PLAN_SPLIT, 0, 0, NULL}, {PLAN_SPLIT, 1, 0, NULL}}, 0, 0, 0},
    {"413 on one event: to dlq", 413, OUTCOME_NET_OK, NULL, 0.5, 1, {2},
     {{PLAN_DEAD, 2, 0, "rejected by collector: HTTP 413 (event too large)"}}, 0, 0, 1},
    {"503: retry after the backoff of the next attempt", 503, OUTCOME_NET_OK, NULL, 1.0, 3,
     {0, 1, 2},
     {{PLAN_RETRY, 1, 1 * MIN_MS, NULL}, {PLAN_RETRY, 2, 2 * MIN_MS, NULL},
      {PLAN_RETRY, 3, 4 * MIN_MS, NULL}}, 0, 3, 0},
    {"503: jitter never shortens below half", 503, OUTCOME_NET_OK, NULL, 0.0, 1, {0},
     {{PLAN_RETRY, 1, MIN_MS / 2, NULL}}, 0, 1, 0},
    {"503 after the 4th failed attempt: retries exhausted", 503, OUTCOME_NET_OK, NULL, 1.0, 2,
     {2, 3},
     {{PLAN_RETRY, 3, 4 * MIN_MS, NULL},
      {PLAN_DEAD, 4, 0, "retries exhausted: HTTP 503"}}, 0, 1, 1},
    {"408, 429: retried too", 429, OUTCOME_NET_OK, NULL, 1.0, 1, {0},
     {{PLAN_RETRY, 1, MIN_MS, NULL}}, 0, 1, 0},
    {"Retry-After seconds longer than the backoff wins", 503, OUTCOME_NET_OK, "600", 1.0, 1,
     {0}, {{PLAN_RETRY, 1, 600 * 1000LL, NULL}}, 0, 1, 0},
    {"Retry-After seconds shorter than the backoff loses", 503, OUTCOME_NET_OK, "5", 1.0, 1,
     {1}, {{PLAN_RETRY, 2, 2 * MIN_MS, NULL}}, 0, 1, 0},
    {"Retry-After over 24 h is capped at 24 h", 503, OUTCOME_NET_OK, "999999", 1.0, 1, {0},
     {{PLAN_RETRY, 1, OUTCOME_RETRY_AFTER_CAP_MS, NULL}}, 0, 1, 0},
    {"timeout after connecting: retry", 0, OUTCOME_NET_TIMEOUT, NULL, 1.0, 1, {0},
     {{PLAN_RETRY, 1, MIN_MS, NULL}}, 0, 1, 0},
    {"unreachable: released, nothing spent, the run stops 75", 0, OUTCOME_NET_UNREACHABLE,
     NULL, 1.0, 2, {1, 3},
     {{PLAN_RELEASE, 1, 0, NULL}, {PLAN_RELEASE, 3, 0, NULL}}, EX_TEMPFAIL, 0, 0},
    {"401: released, nothing spent, the run stops 78", 401, OUTCOME_NET_OK, NULL, 1.0, 1, {3},
     {{PLAN_RELEASE, 3, 0, NULL}}, EX_CONFIG, 0, 0},
};

static void run_case(const struct row_case *c)
{
    struct outcome oc;
    struct plan p;
    struct plan_row rows[4];
    double j = c->jitter;
    char label[200];

    outcome_classify(c->net, 1, c->status, c->retry_after, NOW, &oc);
    plan_delivery(&oc, c->counts, (size_t)c->n, MAXR, NOW, fixed_jitter, &j, &p, rows);
    snprintf(label, sizeof label, "%s", c->what);
    if (!T_EQ_INT(p.stop, c->stop) || !T_EQ_INT(p.retried, c->retried) ||
        !T_EQ_INT(p.dead, c->dead))
        printf("  in case: %s\n", label);
    for (int i = 0; i < c->n; i++) {
        const struct expect *w = &c->want[i];
        int good = T_EQ_INT(rows[i].action, w->action) &
                   T_EQ_INT(rows[i].retry_count, w->retry_count);

        if (w->action == PLAN_RETRY) {
            good &= T_EQ_INT(rows[i].next_attempt_ms, NOW + w->next_ms);
        }
        if (w->reason != NULL)
            good &= T_EQ_STR(rows[i].reason, w->reason);
        if (!good)
            printf("  in case: %s, row %d\n", label, i);
    }
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);

    /* Retry-After as an HTTP date (NOW is 2001-09-09T01:46:40Z): later than the backoff,
     * it wins. */
    {
        struct outcome oc;
        struct plan p;
        struct plan_row row;
        double j = 1.0;
        int count = 0;

        /* 2001-09-09T02:46:40Z is one hour after 1000000000 s */
        outcome_classify(OUTCOME_NET_OK, 1, 503, "Sun, 09 Sep 2001 02:46:40 GMT",
                         1000000000000LL, &oc);
        plan_delivery(&oc, &count, 1, MAXR, 1000000000000LL, fixed_jitter, &j, &p, &row);
        T_EQ_INT(row.action, PLAN_RETRY);
        T_EQ_INT(row.next_attempt_ms, 1000000000000LL + 3600 * 1000LL);
        /* and one earlier than the backoff (the same date, a minute before it) loses */
        outcome_classify(OUTCOME_NET_OK, 1, 503, "Sun, 09 Sep 2001 01:47:00 GMT",
                         1000000000000LL, &oc);
        plan_delivery(&oc, &count, 1, MAXR, 1000000000000LL, fixed_jitter, &j, &p, &row);
        T_EQ_INT(row.next_attempt_ms, 1000000000000LL + MIN_MS);
    }
    /* jitter is drawn once per batch: its rows (same retry count) stay due together */
    {
        struct outcome oc;
        struct plan p;
        struct plan_row rows[3];
        double v = 0.0;
        int counts[3] = {1, 1, 1};

        outcome_classify(OUTCOME_NET_OK, 1, 503, NULL, NOW, &oc);
        plan_delivery(&oc, counts, 3, MAXR, NOW, moving_jitter, &v, &p, rows);
        T_CHECK(v == 0.25);
        T_EQ_INT(rows[0].next_attempt_ms, rows[1].next_attempt_ms);
        T_EQ_INT(rows[1].next_attempt_ms, rows[2].next_attempt_ms);
        T_EQ_INT(rows[0].next_attempt_ms, NOW + 2 * MIN_MS * 5 / 8);
    }
    /* --max-retries 0: the first failure is the last */
    {
        struct outcome oc;
        struct plan p;
        struct plan_row row;
        double j = 0.5;
        int count = 0;

        outcome_classify(OUTCOME_NET_OK, 1, 500, NULL, NOW, &oc);
        plan_delivery(&oc, &count, 1, 0, NOW, fixed_jitter, &j, &p, &row);
        T_EQ_INT(row.action, PLAN_DEAD);
        T_EQ_STR(row.reason, "retries exhausted: HTTP 500");
    }
    return t_done();
}
