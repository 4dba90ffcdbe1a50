/*
 * metrics.h: the spool, and a relay's counters, in the Prometheus text exposition format
 * (version 0.0.4). One renderer for the three places that show them:
 *
 *   anon-telemetry-ship metrics               prints them
 *   anon-telemetry-ship --metrics-textfile D  writes D/anon_telemetry.prom at the end of a
 *                                              run, for node_exporter's textfile collector
 *   anon-telemetry-relay GET /metrics          the spool's and the relay's own
 *
 * The names (anon-telemetry-ship(8), METRICS):
 *
 *   anon_telemetry_info{version,spool_id} 1
 *   anon_telemetry_spool_error                   1: the spool exists but cannot be read
 *   anon_telemetry_events{status}                pending, sending, sent, exported, dlq
 *   anon_telemetry_events_due                    pending and due now
 *   anon_telemetry_dlq_events{reason}
 *   anon_telemetry_oldest_pending_age_seconds
 *   anon_telemetry_spool_bytes                   database + write-ahead log
 *   anon_telemetry_last_run_start_timestamp_seconds, _end_timestamp_seconds,
 *   anon_telemetry_last_run_exit_status, anon_telemetry_last_run_events{result}
 *   anon_telemetry_bundles_awaiting_receipt, anon_telemetry_bundles_receipt_due
 *   anon_telemetry_ship_exit_status              the textfile's own run
 *   anon_telemetry_relay_*                       the relay's counters (metrics_relay)
 *
 * Rendering only builds text (anon_buf); nothing here prints but metrics_cmd.
 */
#ifndef SHIP_METRICS_H
#define SHIP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "internal.h"

#define METRICS_TEXTFILE     "anon_telemetry.prom"
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The spool's metrics, read from sp in one read transaction, appended to out; path is the
 * spool's file (for its size). sp NULL: no spool there yet, every count 0. On a failure
 * to read, out gets anon_telemetry_spool_error 1 (and the info line) instead, err says
 * why and the status is returned. */
int metrics_spool(anon_buf *out, anon_spool *sp, const char *path, char *err, size_t errlen);

/* The same for the spool at path (NULL: the default), opened read-only and closed again;
 * a spool that does not exist is one with nothing in it. */
int metrics_spool_at(anon_buf *out, const char *path, char *err, size_t errlen);

/* A relay's own counters. */
struct metrics_relay_answer {
    int code;                  /* HTTP status */
    uint64_t n;                /* requests answered with it */
};
struct metrics_relay {
    const struct metrics_relay_answer *answers;
    size_t nanswers;
    uint64_t refusals;         /* requests refused: nothing stored */
    uint64_t events_stored;
    uint64_t events_duplicate; /* events whose uuid the spool held already */
    uint64_t commits;          /* group commits */
    uint64_t committed_requests;
    double start_time;         /* Unix time the relay started */
};
void metrics_relay(anon_buf *out, const struct metrics_relay *m);

/* Writes len bytes of text to dir/anon_telemetry.prom atomically: a temporary file in dir
 * (not named *.prom, so the collector never reads it half written), mode 0644 (node_exporter
 * reads it as another user), flushed to disk, renamed over the old one. ANON_OK, or a
 * status with err saying why. */
int metrics_write_textfile(const char *dir, const char *text, size_t len, char *err,
                           size_t errlen);

/* After a delivery run that exited with status: the spool's metrics and
 * anon_telemetry_ship_exit_status into dir's textfile. Returns status, or 74 (after
 * saying why) when the file could not be written and status was 0 or 75. */
int metrics_after_run(const char *dir, const char *spool_path, int status);

/* anon-telemetry-ship metrics: prints the spool's metrics; 0, or the exit status after
 * saying why (a spool that cannot be read still prints its anon_telemetry_spool_error). */
int metrics_cmd(cli_result *r);

#endif
