/*
 * outcome.h: what the shipper does with a collector's answer (the delivery policy table
 * of the README and of anon-telemetry-ship(8), in one pure function).
 *
 *   answer                                         action
 *   2xx                                            SENT
 *   400, 422                                       DEAD  "rejected by collector: HTTP 400"
 *   413                                            SPLIT (the caller dead-letters a single event)
 *   408, 429, 5xx                                  RETRY (not_before from Retry-After, if any)
 *   timeout or reset after connecting              RETRY
 *   unreachable: DNS, refused, no route, TLS
 *     handshake, proxy refusal, timeout before
 *     the connection was made                      STOP_OFFLINE (nothing spent, exit 75)
 *   any other answer (3xx, 401, 403, 404 ...)      STOP_REFUSED (nothing spent, exit 78)
 *   certificate fails verification, bad URL,
 *     unreadable --cacert, garbage for an answer   STOP_REFUSED (a configuration problem)
 *
 * Once a status line has arrived, the status decides, even when the transfer then
 * failed (a body cut at our cap, a timeout or a reset while the body came in).
 *
 * A certificate that fails verification is taken as a configuration problem
 * (a private CA without --cacert, a wrong endpoint), not as being offline: an
 * operator has to act, and exit 78 says so to cron. Nothing is spent either way.
 */
#ifndef SHIP_OUTCOME_H
#define SHIP_OUTCOME_H

#include <stdint.h>

/* The transport result of one request, as classified from libcurl's result. */
enum outcome_net {
    OUTCOME_NET_OK = 0,      /* an HTTP answer arrived (its status decides) */
    OUTCOME_NET_UNREACHABLE, /* DNS, connection refused, no route, TLS handshake, proxy */
    OUTCOME_NET_TIMEOUT,     /* the time limit passed (before or after connecting) */
    OUTCOME_NET_RESET,       /* send/receive error, empty or truncated answer */
    OUTCOME_NET_TLS_VERIFY,  /* the server's certificate failed verification */
    OUTCOME_NET_CONFIG       /* bad URL, unsupported protocol, bad CA file, no memory ... */
};

enum outcome_action {
    OUTCOME_SENT = 0,
    OUTCOME_SPLIT,
    OUTCOME_RETRY,
    OUTCOME_DEAD,
    OUTCOME_STOP_OFFLINE,
    OUTCOME_STOP_REFUSED
};

#define OUTCOME_RETRY_AFTER_CAP_MS (24 * 3600 * 1000LL)

struct outcome {
    enum outcome_action action;
    int64_t not_before_ms; /* RETRY: no attempt before this time (Retry-After); 0: none */
    char reason[128];      /* DEAD: the dlq reason; RETRY: the error ("HTTP 503");
                              STOP_*: what stopped the run */
};

/* The policy. net: the transport class; connected: 1 when the request reached the
 * collector (the connection, and TLS, were established); status: the HTTP status
 * (0 when none arrived; one >= 200 decides whatever net says); retry_after: the Retry-After header's value or
 * NULL; now_ms: the current time. Fills *ret. Pure. */
void outcome_classify(enum outcome_net net, int connected, long status,
                      const char *retry_after, int64_t now_ms, struct outcome *ret);

/* The transport class of a CURLcode (as an int, so that callers need no curl.h). */
enum outcome_net outcome_net_from_curl(int curlcode);

/* Parses a Retry-After value: delta-seconds, or an HTTP date (IMF-fixdate, RFC 850,
 * asctime). 0 and the time in *ret_not_before_ms (capped at now + 24 h); -1 when the
 * value is not valid. A date in the past gives now. */
int outcome_parse_retry_after(const char *value, int64_t now_ms, int64_t *ret_not_before_ms);

/* "sent", "split", "retry", "dead", "offline", "refused". */
const char *outcome_action_str(enum outcome_action action);

#endif
