/*
 * http.c: libcurl's multi interface with reused easy handles (see http.h).
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "internal.h"

struct http_slot {
    CURL *easy;
    int busy;
    void *tag;
    char errbuf[CURL_ERROR_SIZE];
    char retry_after[64];
    char body[HTTP_BODY_CAP + 1];
    size_t body_len;
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
    return n; /* the rest is read and discarded */
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
    CURL *e = curl_easy_init();

    if (e == NULL)
        return -1;
    s->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->cacert != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, o->cacert);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "anon-telemetry-ship");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
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
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
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
    if ((c->multi = curl_multi_init()) == NULL)
        goto oom;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->parallel);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)o->parallel);
    h = curl_slist_append(NULL, "Content-Type: application/json");
    if (h == NULL)
        goto oom;
    c->headers = h;
    /* No "Expect: 100-continue" round trip; answers are JSON or nothing. */
    if ((h = curl_slist_append(c->headers, "Expect:")) == NULL)
        goto oom;
    c->headers = h;
    if ((h = curl_slist_append(c->headers, "Accept: application/json")) == NULL)
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
            curl_multi_remove_handle(c->multi, c->slots[i].easy);
        curl_easy_cleanup(c->slots[i].easy);
    }
    free(c->slots);
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->headers);
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

int http_post(struct http_client *c, const char *body, size_t len, void *tag, char *err,
              size_t errlen)
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
    s->tag = tag;
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    mc = curl_multi_add_handle(c->multi, s->easy);
    if (mc != CURLM_OK)
        return anon_seterr(err, errlen, -1, "curl: %s", curl_multi_strerror(mc));
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
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(s->easy, CURLINFO_TOTAL_TIME, &r->seconds);
#if LIBCURL_VERSION_NUM >= 0x073d00
    curl_easy_getinfo(s->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
#else
    {
        double d = 0;

        curl_easy_getinfo(s->easy, CURLINFO_PRETRANSFER_TIME, &d);
        pretransfer = (curl_off_t)(d * 1e6);
    }
#endif
    curl_easy_getinfo(s->easy, CURLINFO_REQUEST_SIZE, &reqsize);
    r->connected = pretransfer > 0 || reqsize > 0 || r->status > 0;
    if (code != CURLE_OK) {
        snprintf(r->error, sizeof(r->error), "%s",
                 s->errbuf[0] ? s->errbuf : curl_easy_strerror(code));
        r->status = code == CURLE_OK ? r->status : 0;
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

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        struct http_slot *s = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s == NULL)
            continue;
        fill_result(s, msg->data.result, ret);
        curl_multi_remove_handle(c->multi, s->easy);
        s->busy = 0;
        s->tag = NULL;
        c->inflight--;
        return 1;
    }
    return 0;
}

int http_wait(struct http_client *c, struct http_result *ret, char *err, size_t errlen)
{
    for (;;) {
        int running;
        CURLMcode mc;

        if (take_done(c, ret))
            return 1;
        if (c->inflight == 0)
            return 0;
        mc = curl_multi_perform(c->multi, &running);
        if (mc != CURLM_OK)
            return anon_seterr(err, errlen, -1, "curl: %s", curl_multi_strerror(mc));
        if (take_done(c, ret))
            return 1;
        mc = curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK)
            return anon_seterr(err, errlen, -1, "curl: %s", curl_multi_strerror(mc));
    }
}

void http_redact_url(const char *url, char *buf, size_t buflen)
{
    const char *p = url, *scheme_end, *auth, *host, *end;
    size_t n = 0;

    if (buflen == 0)
        return;
    buf[0] = '\0';
    if (url == NULL)
        return;
    scheme_end = strstr(url, "://");
    host = scheme_end != NULL ? scheme_end + 3 : url;
    /* The authority ends at the first '/', '?' or '#'; userinfo ends at its last '@'. */
    end = host + strcspn(host, "/?#");
    auth = NULL;
    for (const char *q = host; q < end; q++)
        if (*q == '@')
            auth = q;
    if (auth != NULL) {
        n = (size_t)(host - p);
        if (n >= buflen)
            n = buflen - 1;
        memcpy(buf, p, n);
        p = auth + 1;
    }
    {
        size_t rest = strcspn(p, "?#");
        size_t room = buflen - 1 - n;

        if (rest > room)
            rest = room;
        memcpy(buf + n, p, rest);
        n += rest;
    }
    buf[n] = '\0';
}
