/*
 * test_outcome.c: the delivery policy on every class of answer, the CURLcode
 * classes, and Retry-After in its three date forms and in seconds.
 */
#include <curl/curl.h>

#include "outcome.h"
#include "test.h"

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */

static struct outcome oc(enum outcome_net net, int connected, long status, const char *ra)
{
    struct outcome o;

    outcome_classify(net, connected, status, ra, NOW, &o);
    return o;
}

static void test_statuses(void)
{
    struct outcome o;

    for (long s = 200; s <= 299; s++)
        T_EQ_INT(oc(OUTCOME_NET_OK, 1, s, NULL).action, OUTCOME_SENT);
    o = oc(OUTCOME_NET_OK, 1, 400, NULL);
    T_EQ_INT(o.action, OUTCOME_DEAD);
    T_EQ_STR(o.reason, "rejected by collector: HTTP 400");
    o = oc(OUTCOME_NET_OK, 1, 422, "60");
    T_EQ_INT(o.action, OUTCOME_DEAD);
    T_EQ_STR(o.reason, "rejected by collector: HTTP 422");
    T_EQ_INT(oc(OUTCOME_NET_OK, 1, 413, NULL).action, OUTCOME_SPLIT);
    for (long s = 500; s <= 599; s++)
        T_EQ_INT(oc(OUTCOME_NET_OK, 1, s, NULL).action, OUTCOME_RETRY);
    o = oc(OUTCOME_NET_OK, 1, 408, NULL);
    T_EQ_INT(o.action, OUTCOME_RETRY);
    T_EQ_STR(o.reason, "HTTP 408");
    T_EQ_INT(o.not_before_ms, 0);
    o = oc(OUTCOME_NET_OK, 1, 429, NULL);
    T_EQ_INT(o.action, OUTCOME_RETRY);
    o = oc(OUTCOME_NET_OK, 1, 503, NULL);
    T_EQ_STR(o.reason, "HTTP 503");
    /* everything else stops the run, naming the status */
    static const long other[] = {100, 101, 199, 300, 301, 302, 304, 307, 308, 399, 401, 402,
                                 403, 404, 405, 406, 409, 410, 411, 412, 414, 415, 418, 421,
                                 423, 425, 426, 428, 431, 451, 499, 600, 999, 0};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        T_EQ_INT(oc(OUTCOME_NET_OK, 1, other[i], NULL).action, OUTCOME_STOP_REFUSED);
    o = oc(OUTCOME_NET_OK, 1, 404, NULL);
    T_EQ_STR(o.reason, "the endpoint refuses us: HTTP 404");
    o = oc(OUTCOME_NET_OK, 1, 301, NULL);
    T_EQ_STR(o.reason, "the endpoint refuses us: HTTP 301");
}

static void test_transport(void)
{
    struct outcome o;

    o = oc(OUTCOME_NET_UNREACHABLE, 0, 0, NULL);
    T_EQ_INT(o.action, OUTCOME_STOP_OFFLINE);
    T_EQ_INT(oc(OUTCOME_NET_UNREACHABLE, 1, 0, NULL).action, OUTCOME_STOP_OFFLINE);
    o = oc(OUTCOME_NET_TIMEOUT, 1, 0, NULL);
    T_EQ_INT(o.action, OUTCOME_RETRY);
    T_EQ_STR(o.reason, "timeout after connecting");
    T_EQ_INT(oc(OUTCOME_NET_TIMEOUT, 0, 0, NULL).action, OUTCOME_STOP_OFFLINE);
    o = oc(OUTCOME_NET_RESET, 1, 0, NULL);
    T_EQ_INT(o.action, OUTCOME_RETRY);
    T_EQ_STR(o.reason, "connection reset after connecting");
    T_EQ_INT(oc(OUTCOME_NET_RESET, 0, 0, NULL).action, OUTCOME_STOP_OFFLINE);
    T_EQ_INT(oc(OUTCOME_NET_TLS_VERIFY, 0, 0, NULL).action, OUTCOME_STOP_REFUSED);
    T_EQ_INT(oc(OUTCOME_NET_CONFIG, 0, 0, NULL).action, OUTCOME_STOP_REFUSED);
    /* a transport failure without a status ignores Retry-After */
    o = oc(OUTCOME_NET_TIMEOUT, 1, 0, "5");
    T_EQ_INT(o.action, OUTCOME_RETRY);
    T_EQ_INT(o.not_before_ms, 0);
    /* once a status line arrived, it decides (body cut short, trickling, reset) */
    T_EQ_INT(oc(OUTCOME_NET_TIMEOUT, 1, 200, NULL).action, OUTCOME_SENT);
    T_EQ_INT(oc(OUTCOME_NET_RESET, 1, 204, NULL).action, OUTCOME_SENT);
    T_EQ_INT(oc(OUTCOME_NET_CONFIG, 1, 200, NULL).action, OUTCOME_SENT); /* write aborted */
    T_EQ_INT(oc(OUTCOME_NET_TIMEOUT, 1, 400, NULL).action, OUTCOME_DEAD);
    T_EQ_INT(oc(OUTCOME_NET_RESET, 1, 404, NULL).action, OUTCOME_STOP_REFUSED);
    o = oc(OUTCOME_NET_RESET, 1, 503, "60");
    T_EQ_INT(o.action, OUTCOME_RETRY);
    T_EQ_INT(o.not_before_ms, NOW + 60000);
    T_EQ_INT(oc(OUTCOME_NET_TIMEOUT, 1, 100, NULL).action, OUTCOME_RETRY);
}

static void test_curl_classes(void)
{
    T_EQ_INT(outcome_net_from_curl(CURLE_OK), OUTCOME_NET_OK);
    T_EQ_INT(outcome_net_from_curl(CURLE_COULDNT_RESOLVE_HOST), OUTCOME_NET_UNREACHABLE);
    T_EQ_INT(outcome_net_from_curl(CURLE_COULDNT_RESOLVE_PROXY), OUTCOME_NET_UNREACHABLE);
    T_EQ_INT(outcome_net_from_curl(CURLE_COULDNT_CONNECT), OUTCOME_NET_UNREACHABLE);
    T_EQ_INT(outcome_net_from_curl(CURLE_SSL_CONNECT_ERROR), OUTCOME_NET_UNREACHABLE);
    T_EQ_INT(outcome_net_from_curl(CURLE_OPERATION_TIMEDOUT), OUTCOME_NET_TIMEOUT);
    T_EQ_INT(outcome_net_from_curl(CURLE_SEND_ERROR), OUTCOME_NET_RESET);
    T_EQ_INT(outcome_net_from_curl(CURLE_RECV_ERROR), OUTCOME_NET_RESET);
    T_EQ_INT(outcome_net_from_curl(CURLE_GOT_NOTHING), OUTCOME_NET_RESET);
    T_EQ_INT(outcome_net_from_curl(CURLE_PARTIAL_FILE), OUTCOME_NET_RESET);
    T_EQ_INT(outcome_net_from_curl(CURLE_PEER_FAILED_VERIFICATION), OUTCOME_NET_TLS_VERIFY);
    T_EQ_INT(outcome_net_from_curl(CURLE_URL_MALFORMAT), OUTCOME_NET_CONFIG);
    T_EQ_INT(outcome_net_from_curl(CURLE_UNSUPPORTED_PROTOCOL), OUTCOME_NET_CONFIG);
    T_EQ_INT(outcome_net_from_curl(CURLE_SSL_CACERT_BADFILE), OUTCOME_NET_CONFIG);
}

static void test_retry_after(void)
{
    struct outcome o;
    int64_t t = 0;

    /* seconds */
    T_EQ_INT(outcome_parse_retry_after("120", NOW, &t), 0);
    T_EQ_INT(t, NOW + 120000);
    T_EQ_INT(outcome_parse_retry_after("  0 ", NOW, &t), 0);
    T_EQ_INT(t, NOW);
    T_EQ_INT(outcome_parse_retry_after("999999999999999999999", NOW, &t), 0);
    T_EQ_INT(t, NOW + OUTCOME_RETRY_AFTER_CAP_MS);
    T_EQ_INT(outcome_parse_retry_after("90000", NOW, &t), 0); /* 25 h: capped at 24 h */
    T_EQ_INT(t, NOW + OUTCOME_RETRY_AFTER_CAP_MS);
    T_EQ_INT(outcome_parse_retry_after("-5", NOW, &t), -1);
    T_EQ_INT(outcome_parse_retry_after("12abc", NOW, &t), -1);
    T_EQ_INT(outcome_parse_retry_after("", NOW, &t), -1);
    T_EQ_INT(outcome_parse_retry_after("1.5", NOW, &t), -1);
    T_EQ_INT(outcome_parse_retry_after(NULL, NOW, &t), -1);

    /* the three HTTP date forms of one instant: 2023-11-14T23:13:20Z = NOW + 1 h */
    T_EQ_INT(outcome_parse_retry_after("Tue, 14 Nov 2023 23:13:20 GMT", NOW, &t), 0);
    T_EQ_INT(t, NOW + 3600000);
    T_EQ_INT(outcome_parse_retry_after("Tuesday, 14-Nov-23 23:13:20 GMT", NOW, &t), 0);
    T_EQ_INT(t, NOW + 3600000);
    T_EQ_INT(outcome_parse_retry_after("Tue Nov 14 23:13:20 2023", NOW, &t), 0);
    T_EQ_INT(t, NOW + 3600000);
    T_EQ_INT(outcome_parse_retry_after("Sun Nov  6 08:49:37 1994", NOW, &t), 0);
    T_EQ_INT(t, NOW); /* in the past: now */
    T_EQ_INT(outcome_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW, &t), 0);
    T_EQ_INT(t, NOW);
    /* far future: capped */
    T_EQ_INT(outcome_parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", NOW, &t), 0);
    T_EQ_INT(t, NOW + OUTCOME_RETRY_AFTER_CAP_MS);
    /* not dates */
    T_EQ_INT(outcome_parse_retry_after("Tue, 14 Nov 2023 23:13:20", NOW, &t), -1);
    T_EQ_INT(outcome_parse_retry_after("Tue, 14 Foo 2023 23:13:20 GMT", NOW, &t), -1);
    T_EQ_INT(outcome_parse_retry_after("tomorrow", NOW, &t), -1);
    T_EQ_INT(outcome_parse_retry_after("Tue, 14 Nov 2023 25:13:20 GMT", NOW, &t), -1);

    /* honoured in the policy only when later than now */
    o = oc(OUTCOME_NET_OK, 1, 503, "120");
    T_EQ_INT(o.action, OUTCOME_RETRY);
    T_EQ_INT(o.not_before_ms, NOW + 120000);
    o = oc(OUTCOME_NET_OK, 1, 429, "Tue, 14 Nov 2023 23:13:20 GMT");
    T_EQ_INT(o.not_before_ms, NOW + 3600000);
    o = oc(OUTCOME_NET_OK, 1, 503, "Sun, 06 Nov 1994 08:49:37 GMT");
    T_EQ_INT(o.not_before_ms, 0);
    o = oc(OUTCOME_NET_OK, 1, 503, "garbage");
    T_EQ_INT(o.action, OUTCOME_RETRY);
    T_EQ_INT(o.not_before_ms, 0);
    o = oc(OUTCOME_NET_OK, 1, 503, "999999");
    T_EQ_INT(o.not_before_ms, NOW + OUTCOME_RETRY_AFTER_CAP_MS);
}

int main(void)
{
    test_statuses();
    test_transport();
    test_curl_classes();
    test_retry_after();
    T_EQ_STR(outcome_action_str(OUTCOME_SPLIT), "split");
    return t_done();
}
