/*
 * ship.h: one run of the cron job: drain what is due from the spool to the
 * collector, in batches, following the delivery policy (outcome.h).
 *
 * A run: takes the spool's lock (<spool>.lock; a second shipper exits 0 at once),
 * opens the spool with a quick check (a damaged one is moved aside, exit 74),
 * dead-letters events older than --max-age, then loops: claim a batch in a short
 * transaction (status 'sending' with a lease), POST it outside any transaction
 * (up to --parallel at once), settle the answer in another short transaction.
 * At the end it prunes old 'sent' rows and records the run in the runs table.
 */
#ifndef SHIP_SHIP_H
#define SHIP_SHIP_H

struct ship_opts {
    const char *spool_path;   /* NULL: anon_spool_default_path() */
    const char *endpoint;     /* the URL (never NULL) */
    const char *cacert;       /* NULL: the system's CA store */
    int batch_size;           /* events per request, >= 1 (50) */
    int max_retries;          /* failed attempts kept for retry (3): dlq after the 4th */
    int parallel;             /* requests in flight at once (4) */
    int dry_run;              /* print the envelopes, change nothing */
    int flush_now;            /* --now: ignore next_attempt_at */
    int allow_insecure_http;  /* credentials in the URL may go over plain http (endpoint.h) */
    double max_time;          /* seconds after which no batch is claimed; 0: no limit */
    double keep_sent_days;    /* sent rows older than this are deleted (7) */
    double max_age_days;      /* pending events older than this go to dlq; 0: never */
    double connect_timeout;   /* seconds (10) */
    double timeout;           /* seconds per request (30) */
};

/* Runs once; returns the sysexits(3) status to exit with. Logs through log.h. */
int ship_run(const struct ship_opts *opts);

#endif
