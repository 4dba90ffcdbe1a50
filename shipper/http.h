/*
 * http.h: the shipper's transport. One curl multi handle and a fixed set of easy
 * handles ("slots"), each set up once and reused, so that connections are kept
 * alive across batches and up to `parallel` POSTs are in flight at once.
 *
 * TLS verification is always on (an environment variable cannot turn it off);
 * redirects are not followed; proxies come from libcurl's usual environment
 * variables (http_proxy, https_proxy, no_proxy); answers are kept up to
 * HTTP_BODY_CAP bytes, and a body longer than HTTP_BODY_ABORT ends the transfer.
 */
#ifndef SHIP_HTTP_H
#define SHIP_HTTP_H

#include <stddef.h>

#include "outcome.h"

#define HTTP_BODY_CAP 1024            /* bytes of an answer kept (for messages) */
#define HTTP_BODY_ABORT (64 * 1024)   /* an answer longer than this is cut short */
#define HTTP_MAX_PARALLEL 64

struct http_opts {
    const char *url;         /* the endpoint (kept by pointer: must outlive the client) */
    const char *cacert;      /* CA bundle for a private CA, or NULL for the system's */
    long connect_timeout_ms; /* time to connect (and complete TLS) */
    long timeout_ms;         /* whole request */
    int parallel;            /* 1..HTTP_MAX_PARALLEL requests at once */
    const char *user_agent;
};

struct http_result {
    void *tag;               /* what the caller passed to http_post */
    int curlcode;            /* CURLcode */
    enum outcome_net net;    /* outcome_net_from_curl(curlcode) */
    int connected;           /* the request reached the server (connection and TLS up) */
    long status;             /* HTTP status, 0 when no answer */
    char retry_after[64];    /* the Retry-After header's value, "" when absent */
    char error[256];         /* curl's error text, "" on success */
    char body[HTTP_BODY_CAP + 1];
    size_t body_len;
    double seconds;          /* total time of the request */
};

struct http_client;

/* Sets up the client. 0, or -1 with a sentence in err. */
int http_open(const struct http_opts *opts, struct http_client **ret_client, char *err,
              size_t errlen);
/* NULL-safe. Aborts requests still in flight. */
void http_free(struct http_client *c);
/* Number of requests that can still be started now. */
int http_free_slots(const struct http_client *c);
/* Number of requests in flight. */
int http_inflight(const struct http_client *c);
/* Starts a POST of len bytes of body (JSON), with header ("Name: value", copied; NULL:
 * none) besides the client's own. body is NOT copied: it must stay valid until
 * http_wait returns this request's result. 0, or -1 (no free slot, curl error). */
int http_post(struct http_client *c, const char *body, size_t len, const char *header,
              void *tag, char *err, size_t errlen);
/* Waits until one request completes and fills *ret. 1: a result; 0: nothing in
 * flight; -1: curl's multi interface failed (err says why). */
int http_wait(struct http_client *c, struct http_result *ret, char *err, size_t errlen);
/* The same, waiting at most max_ms (< 0: no limit): 2 when that time passed first. */
int http_wait_ms(struct http_client *c, struct http_result *ret, long max_ms, char *err,
                 size_t errlen);
/* Aborts one request in flight and returns its tag; NULL when none is in flight. */
void *http_cancel_one(struct http_client *c);
/* url without anything that could be userinfo, a query string or a fragment, however
 * malformed: endpoint_redact (endpoint.h). */
void http_redact_url(const char *url, char *buf, size_t buflen);

#endif
