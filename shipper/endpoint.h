/*
 * endpoint.h: the collector's URL: checked at the start of every run, before the spool is
 * even looked at, and only ever shown redacted.
 *
 * Accepted: a strict subset of what libcurl accepts, so that the two never disagree about
 * where credentials end and the host begins:
 *
 *   scheme "://" [userinfo "@"] host [":" port] [path] ["?" query] ["#" fragment]
 *
 * scheme http or https (any case); the authority ends at the first '/', '?' or '#' (as
 * libcurl ends it) and holds at most one '@'; no '@' after the authority and no white
 * space or control character anywhere (a user name or password with '/', '?', '#' or '@'
 * must percent-encode them, or libcurl would take part of it for the host, port or path);
 * host a name, a dotted IPv4 address or a bracketed IPv6 address; port 1-65535.
 *
 * Credentials are the userinfo, or a query parameter whose name (percent-decoded, any case)
 * ends in "token", "key", "secret", "password" or "passwd" (token=, access_token=, api_key=).
 * They travel over plain http only to a loopback host (endpoint_host_is_loopback), unless
 * the operator says --allow-insecure-http.
 */
#ifndef SHIP_ENDPOINT_H
#define SHIP_ENDPOINT_H

#include <stddef.h>

struct endpoint {
    int https;            /* 1: https, 0: http */
    int userinfo;         /* the authority has a user name (and maybe a password) */
    int token;            /* a query parameter that carries a credential */
    int loopback;         /* endpoint_host_is_loopback(host) */
    char host[256];       /* as written; an IPv6 address with its brackets */
};

/* Parses and checks url as above: 0 with *ret filled, or -1 with a sentence in err that
 * shows the URL only redacted. */
int endpoint_parse(const char *url, struct endpoint *ret, char *err, size_t errlen);

/* 1 when host (as in struct endpoint) can only be this machine: "localhost" (any case; not
 * "localhost.", a name the resolver may send elsewhere), 127.0.0.0/8 in plain dotted
 * decimal (no leading zeros, no shortened, octal or hexadecimal forms), or [::1] (any way
 * of writing it; no zone). Anything else, however close, is 0. Pure: no lookups. */
int endpoint_host_is_loopback(const char *host);

/* Whether a plain http request to ep leaves this machine: its host is not loopback, or a
 * proxy carries it (proxy: what libcurl would use, NULL or "" for none; unless no_proxy,
 * libcurl's list, covers the host) and that proxy is not loopback itself. Pure. */
int endpoint_leaves_host(const struct endpoint *ep, const char *proxy, const char *no_proxy);

/* The start-of-run decision: 0 when url may be used; -1 with a sentence in err when it is
 * not a usable http(s) URL, or when it would send credentials over plain http off this
 * machine (endpoint_leaves_host) and allow_insecure_http is 0. Pure: nothing is read,
 * resolved or sent. */
int endpoint_decide(const char *url, int allow_insecure_http, const char *proxy,
                    const char *no_proxy, char *err, size_t errlen);

/* endpoint_decide with the proxy libcurl would take from the environment for an http://
 * URL: http_proxy, else all_proxy or ALL_PROXY; no_proxy, else NO_PROXY. */
int endpoint_check(const char *url, int allow_insecure_http, char *err, size_t errlen);

/* url for a message or a stored summary: without anything that could be a user name,
 * password, query string or fragment, whatever shape the URL has. When the host itself
 * cannot be told apart from them (an '@' after a '?' or '#'), only the scheme is shown. */
void endpoint_redact(const char *url, char *buf, size_t buflen);

#endif
