/*
 * http.c: libcurl's multi interface with reused easy handles (see http.h).
 *
 * libcurl is loaded with dlopen() when the first request is about to be made, not
 * linked: loading it and the libraries it pulls in (TLS, GSSAPI, LDAP, ...) costs
 * several milliseconds per process, more than all the rest of a cron run on an empty
 * spool. The functions are called through the table `cf`.
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dlfcn.h>

#include <curl/curl.h>

#include "endpoint.h"
#include "internal.h"

#define CURL_FN(name) __typeof__(curl_##name) *name
static struct {
    CURL_FN(global_init);
    CURL_FN(easy_init);
    CURL_FN(easy_setopt);
    CURL_FN(easy_cleanup);
    CURL_FN(easy_getinfo);
    CURL_FN(easy_strerror);
    CURL_FN(multi_init);
    CURL_FN(multi_setopt);
    CURL_FN(multi_add_handle);
    CURL_FN(multi_remove_handle);
    CURL_FN(multi_perform);
    CURL_FN(multi_poll);
    CURL_FN(multi_info_read);
    CURL_FN(multi_cleanup);
    CURL_FN(multi_strerror);
    CURL_FN(slist_append);
    CURL_FN(slist_free_all);
} cf;
#undef CURL_FN

/* Loads libcurl once. 0, or -1 with a sentence in err. */
static int load_curl(char *err, size_t errlen)
{
    static const char *const sonames[] = {"libcurl.so.4", "libcurl.so", "libcurl-gnutls.so.4"};
    static void *lib;
    void **slot = (void **)&cf;
    static const char *const names[] = {
        "curl_global_init", "curl_easy_init", "curl_easy_setopt", "curl_easy_cleanup",
        "curl_easy_getinfo", "curl_easy_strerror", "curl_multi_init", "curl_multi_setopt",
        "curl_multi_add_handle", "curl_multi_remove_handle", "curl_multi_perform",
        "curl_multi_poll", "curl_multi_info_read", "curl_multi_cleanup",
        "curl_multi_strerror", "curl_slist_append", "curl_slist_free_all"};

    if (lib != NULL)
        return 0;
    for (size_t i = 0; lib == NULL && i < sizeof(sonames) / sizeof(sonames[0]); i++)
        lib = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return anon_seterr(err, errlen, -1, "cannot load libcurl: %s", dlerror());
    /* cf is a struct of function pointers, in the order of names[] */
    _Static_assert(sizeof(cf) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
                   "cf and names[] differ");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        void *fn = dlsym(lib, names[i]);

        if (fn == NULL) {
            anon_seterr(err, errlen, -1, "libcurl lacks %s (7.66 or later is needed)",
                        names[i]);
            memset(&cf, 0, sizeof(cf));
            dlclose(lib);
            lib = NULL;
            return -1;
        }
        memcpy(&slot[i], &fn, sizeof(fn));
    }
    return 0;
}

struct http_slot {
    CURL *easy;
    int busy;
    void *tag;
    char errbuf[CURL_ERROR_SIZE];
    char retry_after[64];
    char body[HTTP_BODY_CAP + 1];
    size_t body_len;
    size_t body_total;
    struct curl_slist *req_headers; /* the client's headers plus this request's own */
};

struct http_client {
    CURLM *multi;
    struct curl_slist *headers;
    struct http_slot *slots;
    int nslots;
    int inflight;
};

static int curl_ready;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_slot *s = userdata;
    size_t n = size * nmemb;
    size_t room = HTTP_BODY_CAP - s->body_len;
    size_t take = n < room ? n : room;

    memcpy(s->body + s->body_len, data, take);
    s->body_len += take;
    s->body[s->body_len] = '\0';
    s->body_total += n;
    /* Past the cap the rest is read and discarded (keeping the connection), but a
     * body past HTTP_BODY_ABORT ends the transfer: the status has already decided. */
    return s->body_total > HTTP_BODY_ABORT ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_slot *s = userdata;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";

    /* A new status line starts a new answer (after 1xx): forget what came before. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        s->retry_after[0] = '\0';
    if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t len = n - (sizeof(name) - 1);

        while (len > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            len--;
        }
        while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
            len--;
        if (len >= sizeof(s->retry_after))
            len = sizeof(s->retry_after) - 1;
        memcpy(s->retry_after, v, len);
        s->retry_after[len] = '\0';
    }
    return n;
}

static int setup_slot(struct http_client *c, struct http_slot *s, const struct http_opts *o)
{
    CURL *e = cf.easy_init();

    if (e == NULL)
        return -1;
    s->easy = e;
    cf.easy_setopt(e, CURLOPT_URL, o->url);
    cf.easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    cf.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    cf.easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    cf.easy_setopt(e, CURLOPT_POST, 1L);
    cf.easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    cf.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    cf.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->cacert != NULL)
        cf.easy_setopt(e, CURLOPT_CAINFO, o->cacert);
#if LIBCURL_VERSION_NUM >= 0x075500
    cf.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    cf.easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    cf.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    cf.easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    cf.easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    cf.easy_setopt(e, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "anon-telemetry-ship");
    cf.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    cf.easy_setopt(e, CURLOPT_WRITEDATA, s);
    cf.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    cf.easy_setopt(e, CURLOPT_HEADERDATA, s);
    cf.easy_setopt(e, CURLOPT_PRIVATE, s);
    return 0;
}

int http_open(const struct http_opts *o, struct http_client **ret_client, char *err,
              size_t errlen)
{
    struct http_client *c = NULL;
    struct curl_slist *h;
    int ret = -1;

    if (o->parallel < 1 || o->parallel > HTTP_MAX_PARALLEL) {
        anon_seterr(err, errlen, -1, "parallel must be between 1 and %d", HTTP_MAX_PARALLEL);
        goto out;
    }
    if (load_curl(err, errlen) != 0)
        goto out;
    if (!curl_ready) {
        if (cf.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            anon_seterr(err, errlen, -1, "cannot initialise libcurl");
            goto out;
        }
        curl_ready = 1;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto oom;
    c->slots = calloc((size_t)o->parallel, sizeof(*c->slots));
    if (c->slots == NULL)
        goto oom;
    c->nslots = o->parallel;
    if ((c->multi = cf.multi_init()) == NULL)
        goto oom;
    cf.multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->parallel);
    cf.multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)o->parallel);
    h = cf.slist_append(NULL, "Content-Type: application/json");
    if (h == NULL)
        goto oom;
    c->headers = h;
    /* No "Expect: 100-continue" round trip; answers are JSON or nothing. */
    if ((h = cf.slist_append(c->headers, "Expect:")) == NULL)
        goto oom;
    c->headers = h;
    if ((h = cf.slist_append(c->headers, "Accept: application/json")) == NULL)
        goto oom;
    c->headers = h;
    for (int i = 0; i < c->nslots; i++)
        if (setup_slot(c, &c->slots[i], o) != 0)
            goto oom;
    *ret_client = c;
    c = NULL;
    ret = 0;
    goto out;
oom:
    anon_seterr(err, errlen, -1, "out of memory setting up libcurl");
out:
    http_free(c);
    return ret;
}

void http_free(struct http_client *c)
{
    if (c == NULL)
        return;
    for (int i = 0; c->slots != NULL && i < c->nslots; i++) {
        if (c->slots[i].easy == NULL)
            continue;
        if (c->slots[i].busy && c->multi != NULL)
            cf.multi_remove_handle(c->multi, c->slots[i].easy);
        cf.easy_cleanup(c->slots[i].easy);
        cf.slist_free_all(c->slots[i].req_headers);
    }
    free(c->slots);
    if (c->multi != NULL)
        cf.multi_cleanup(c->multi);
    cf.slist_free_all(c->headers);
    free(c);
}

int http_free_slots(const struct http_client *c)
{
    return c->nslots - c->inflight;
}

int http_inflight(const struct http_client *c)
{
    return c->inflight;
}

/* The slot's header list: the client's, and header (when given) for this request. */
static int set_headers(struct http_client *c, struct http_slot *s, const char *header)
{
    struct curl_slist *list = NULL, *grown;

    /* the slot is idle: curl no longer reads the list of its previous request */
    cf.slist_free_all(s->req_headers);
    s->req_headers = NULL;
    if (header == NULL) {
        cf.easy_setopt(s->easy, CURLOPT_HTTPHEADER, c->headers);
        return 0;
    }
    for (const struct curl_slist *h = c->headers; h != NULL; h = h->next) {
        if ((grown = cf.slist_append(list, h->data)) == NULL)
            goto oom;
        list = grown;
    }
    if ((grown = cf.slist_append(list, header)) == NULL)
        goto oom;
    s->req_headers = grown;
    cf.easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->req_headers);
    return 0;
oom:
    cf.slist_free_all(list);
    return -1;
}

int http_post(struct http_client *c, const char *body, size_t len, const char *header,
              void *tag, char *err, size_t errlen)
{
    struct http_slot *s = NULL;
    CURLMcode mc;

    for (int i = 0; i < c->nslots; i++) {
        if (!c->slots[i].busy) {
            s = &c->slots[i];
            break;
        }
    }
    if (s == NULL)
        return anon_seterr(err, errlen, -1, "no free connection slot");
    s->errbuf[0] = '\0';
    s->retry_after[0] = '\0';
    s->body[0] = '\0';
    s->body_len = 0;
    s->body_total = 0;
    s->tag = tag;
    if (set_headers(c, s, header) != 0)
        return anon_seterr(err, errlen, -1, "out of memory for the request's headers");
    cf.easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    cf.easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    mc = cf.multi_add_handle(c->multi, s->easy);
    if (mc != CURLM_OK)
        return anon_seterr(err, errlen, -1, "curl: %s", cf.multi_strerror(mc));
    s->busy = 1;
    c->inflight++;
    return 0;
}

static void fill_result(struct http_slot *s, CURLcode code, struct http_result *r)
{
    curl_off_t pretransfer = 0;
    long reqsize = 0;

    memset(r, 0, sizeof(*r));
    r->tag = s->tag;
    r->curlcode = (int)code;
    r->net = outcome_net_from_curl((int)code);
    cf.easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &r->status);
    cf.easy_getinfo(s->easy, CURLINFO_TOTAL_TIME, &r->seconds);
#if LIBCURL_VERSION_NUM >= 0x073d00
    cf.easy_getinfo(s->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
#else
    {
        double d = 0;

        cf.easy_getinfo(s->easy, CURLINFO_PRETRANSFER_TIME, &d);
        pretransfer = (curl_off_t)(d * 1e6);
    }
#endif
    cf.easy_getinfo(s->easy, CURLINFO_REQUEST_SIZE, &reqsize);
    r->connected = pretransfer > 0 || reqsize > 0 || r->status > 0;
    if (code != CURLE_OK) {
        long connect_code = 0;

        /* A proxy that refused to open the tunnel: we never reached the collector. */
        cf.easy_getinfo(s->easy, CURLINFO_HTTP_CONNECTCODE, &connect_code);
        if (connect_code != 0 && (connect_code < 200 || connect_code > 299)) {
            r->net = OUTCOME_NET_UNREACHABLE;
            r->connected = 0;
            r->status = 0;
        }
    }
    if (code != CURLE_OK) {
        /* stored and shown later (last_error, runs.summary): it may quote the answer */
        anon_escape_text(s->errbuf[0] ? s->errbuf : cf.easy_strerror(code), r->error,
                         sizeof(r->error));
    }
    memcpy(r->retry_after, s->retry_after, sizeof(r->retry_after));
    memcpy(r->body, s->body, s->body_len + 1);
    r->body_len = s->body_len;
}

/* Takes one finished request off the multi handle into *ret; 1 when there was one. */
static int take_done(struct http_client *c, struct http_result *ret)
{
    CURLMsg *msg;
    int left;

    while ((msg = cf.multi_info_read(c->multi, &left)) != NULL) {
        struct http_slot *s = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        cf.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s == NULL)
            continue;
        fill_result(s, msg->data.result, ret);
        cf.multi_remove_handle(c->multi, s->easy);
        s->busy = 0;
        s->tag = NULL;
        c->inflight--;
        return 1;
    }
    return 0;
}

int http_wait(struct http_client *c, struct http_result *ret, char *err, size_t errlen)
{
    return http_wait_ms(c, ret, -1, err, errlen);
}

int http_wait_ms(struct http_client *c, struct http_result *ret, long max_ms, char *err,
                 size_t errlen)
{
    int64_t deadline = max_ms >= 0 ? anon_now_ms() + max_ms : 0;

    for (;;) {
        int running, slice = 1000;
        CURLMcode mc;

        if (take_done(c, ret))
            return 1;
        if (c->inflight == 0)
            return 0;
        mc = cf.multi_perform(c->multi, &running);
        if (mc != CURLM_OK)
            return anon_seterr(err, errlen, -1, "curl: %s", cf.multi_strerror(mc));
        if (take_done(c, ret))
            return 1;
        if (max_ms >= 0) {
            int64_t left = deadline - anon_now_ms();

            if (left <= 0)
                return 2;
            if (left < slice)
                slice = (int)left;
        }
        mc = cf.multi_poll(c->multi, NULL, 0, slice, NULL);
        if (mc != CURLM_OK)
            return anon_seterr(err, errlen, -1, "curl: %s", cf.multi_strerror(mc));
    }
}

void *http_cancel_one(struct http_client *c)
{
    for (int i = 0; c != NULL && i < c->nslots; i++) {
        struct http_slot *s = &c->slots[i];
        void *tag = s->tag;

        if (!s->busy)
            continue;
        cf.multi_remove_handle(c->multi, s->easy);
        s->busy = 0;
        s->tag = NULL;
        c->inflight--;
        return tag;
    }
    return NULL;
}

void http_redact_url(const char *url, char *buf, size_t buflen)
{
    endpoint_redact(url, buf, buflen); /* the one rule (endpoint.h) */
}
