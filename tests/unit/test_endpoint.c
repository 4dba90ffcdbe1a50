/*
 * test_endpoint.c: the collector URL's redaction (issue 12 item 18), the cleartext
 * credentials rule (item 19) and the syntax and scheme check (item 20). All pure: nothing
 * here resolves a name or opens a connection.
 */
#include <stdio.h>
#include <string.h>

#include "endpoint.h"
#include "http.h"
#include "internal.h"
#include "test.h"

static char shown[1024];

static const char *redact(const char *url)
{
    endpoint_redact(url, shown, sizeof shown);
    return shown;
}

/* Every secret word in the URL stays out of the shown form. */
static void test_redact(void)
{
    static const char *const leaky[] = {
        "http://alice:s3cret@127.0.0.1:8080/v1?token=SECRET#frag",
        "http://alice:ab/cdSECRET@host/v1",
        "http://alice:ab?cdSECRET@host/v1",
        "http://alice:ab#cdSECRET@host/v1",
        "http://alice:ab@cdSECRET@host/v1",
        "http://alice:a/b?c#d@SECRET@host/v1?x=1",
        "https://alice@host/v1",
        "HTTPS://ALICE:SECRET@HOST/v1",
        "alice:SECRET@host/v1",            /* no scheme */
        "http:/alice:SECRET@host/v1",      /* one slash */
        "http:alice:SECRET@host",
        "alice:SECRET://x@host/",          /* "alice:SECRET" is not a scheme */
        "https://host/v1?token=SECRET",
        "https://host/v1?a=1&token=SECRET#x",
        "https://host/v1#SECRET",
        "https://host/v1?email=alice@SECRET",
        "https://alice:SECRET@host/v1?email=alice@SECRET",
        "ftp://alice:SECRET@host/",
        "http://alice:SECRET\n@host/",
        "http://[::1]:80/v1?token=SECRET",
    };

    for (size_t i = 0; i < sizeof leaky / sizeof leaky[0]; i++) {
        redact(leaky[i]);
        if (!T_CHECK(strstr(shown, "SECRET") == NULL && strstr(shown, "alice") == NULL &&
                     strstr(shown, "ALICE") == NULL))
            printf("  leaked: %s -> %s\n", leaky[i], shown);
    }
    /* and what can be shown is */
    T_EQ_STR(redact("http://alice:s3cret@127.0.0.1:8080/v1?token=X#frag"),
             "http://127.0.0.1:8080/v1");
    T_EQ_STR(redact("http://alice:ab/cdSECRET@host/v1"), "http://host/v1");
    T_EQ_STR(redact("http://alice:ab/cd@host:99/v1/x?q#f"), "http://host:99/v1/x");
    /* a "?" before the last "@": the host may be part of a query; only the scheme is safe */
    T_EQ_STR(redact("http://alice:ab?cd#ef@host:99/v1/x?q#f"), "http://[hidden]");
    T_EQ_STR(redact("https://collector.example/v1.1/events/json"),
             "https://collector.example/v1.1/events/json");
    T_EQ_STR(redact("https://host/v1?email=a@b"), "https://[hidden]");
    T_EQ_STR(redact("file:///etc/passwd"), "file:///etc/passwd");
    T_EQ_STR(redact("alice:pw@host/v1"), "host/v1");
    T_EQ_STR(redact("http://[::1]:9780/v1?token=t"), "http://[::1]:9780/v1");
    T_EQ_STR(redact(""), "");
    /* the shipper's older name for it follows the same rule */
    http_redact_url("http://alice:ab/cdSECRET@host/v1?token=x", shown, sizeof shown);
    T_EQ_STR(shown, "http://host/v1");
    T_EQ_STR(redact(NULL), "");
    /* a small buffer is cut, never overrun */
    {
        char small[12];
        endpoint_redact("https://alice:pw@collector.example/v1", small, sizeof small);
        T_EQ_STR(small, "https://col");
        endpoint_redact("https://x", small, 1);
        T_EQ_STR(small, "");
    }
}

static int loop(const char *host)
{
    return endpoint_host_is_loopback(host);
}

static void test_loopback(void)
{
    static const char *const yes[] = {
        "127.0.0.1", "127.0.0.2", "127.255.255.254", "127.1.2.3", "localhost", "LocalHost",
        "[::1]", "[0:0:0:0:0:0:0:1]", "[::0001]", "[0::1]",
    };
    static const char *const no[] = {
        "127.0.0.1.evil.com", "127.0.0.1.", "localhost.", "localhost.evil.com",
        "evil.localhost", "xlocalhost", "localhostx", "127.1", "127.0.1", "2130706433",
        "0x7f.0.0.1", "0x7f000001", "0177.0.0.1", "0127.0.0.1", "127.0.0.01", "127.00.0.1",
        "127.0.0.256", "127.0.0.1000", "128.0.0.1", "126.255.255.255", "10.0.0.1", "0.0.0.0",
        "1.2.3.4", "::1", "[::1", "::1]", "[::ffff:127.0.0.1]", "[::1%25lo]", "[::2]", "[::]",
        "[127.0.0.1]", "", "127.0.0.1:80", "127.0.0.1 ", " 127.0.0.1", "127..0.1",
        "127.0.0.1/8",
    };

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!T_CHECK(loop(yes[i]) == 1))
            printf("  should be loopback: %s\n", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (!T_CHECK(loop(no[i]) == 0))
            printf("  should not be loopback: %s\n", no[i]);
    T_CHECK(loop(NULL) == 0);
}

static char err[ANON_ERRLEN];

static int check(const char *url, int allow)
{
    err[0] = '\0';
    return endpoint_check(url, allow, err, sizeof err);
}

static int err_has(const char *s)
{
    if (strstr(err, s) != NULL)
        return 1;
    printf("  message: %s\n", err);
    return 0;
}

/* Item 19: credentials over plain http only to loopback, unless --allow-insecure-http. */
static void test_cleartext(void)
{
    static const char *const refused[] = {
        "http://alice:pw@collector.example/v1",
        "http://alice@collector.example/v1",
        "HTTP://alice:pw@collector.example/v1",
        "hTtP://alice:pw@collector.example/v1",
        "http://collector.example/v1?token=abc",
        "http://collector.example/v1?a=1&token=abc",
        "http://collector.example/v1?a=1;TOKEN=abc",
        "http://collector.example/v1?access_token=abc",
        "http://collector.example/v1?api_key=abc",
        "http://collector.example/v1?%74oken=abc",
        "http://collector.example/v1?token",
        "http://alice:pw@127.0.0.1.evil.com/v1",
        "http://alice:pw@localhost./v1",
        "http://alice:pw@localhost.evil.com/v1",
        "http://alice:pw@127.1/v1",
        "http://alice:pw@2130706433/v1",
        "http://alice:pw@0x7f.0.0.1/v1",
        "http://alice:pw@0177.0.0.1/v1",
        "http://alice:pw@[::ffff:127.0.0.1]/v1",
        "http://alice:pw@[::1%25lo]/v1",
        "http://alice:pw@10.0.0.1/v1",
        "http://alice:pw@192.168.1.1:8080/v1",
        "http://h/v1?token=a&x=1#frag",
    };
    static const char *const fine[] = {
        "http://alice:pw@127.0.0.1:9780/v1",
        "http://alice:pw@127.8.9.10/v1",
        "http://alice:pw@localhost:9780/v1",
        "http://alice:pw@LOCALHOST/v1",
        "http://alice:pw@[::1]:9780/v1",
        "http://127.0.0.1:9780/v1?token=abc",
        "http://[::1]/v1?token=abc",
        "https://alice:pw@collector.example/v1",
        "HTTPS://alice:pw@collector.example/v1?token=abc",
        "https://collector.example/v1?token=abc",
        "http://collector.example/v1",                       /* nothing to leak */
        "http://collector.example/v1?tokens=5&page=2",
        "http://collector.example/v1#token=abc",             /* a fragment is never sent */
        "http://collector.example/v1?x=1#&token=abc",
    };

    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (!T_CHECK(check(refused[i], 0) == -1))
            printf("  should be refused: %s\n", refused[i]);
        T_CHECK(err_has("--allow-insecure-http"));
        T_CHECK(strstr(err, "pw") == NULL && strstr(err, "alice") == NULL &&
                strstr(err, "abc") == NULL);
        if (!T_CHECK(check(refused[i], 1) == 0))
            printf("  should pass with --allow-insecure-http: %s (%s)\n", refused[i], err);
    }
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
        if (!T_CHECK(check(fine[i], 0) == 0))
            printf("  should be accepted: %s (%s)\n", fine[i], err);
    check("http://alice:pw@collector.example/v1", 0);
    T_CHECK(err_has("in clear text"));
    T_CHECK(err_has("collector.example"));
    T_CHECK(err_has("a user name or password"));
    check("http://collector.example/v1?token=abc", 0);
    T_CHECK(err_has("a token"));
}

/* A proxy carries a "loopback" request off this machine, unless no_proxy covers the host
 * or the proxy is on this machine too. */
static int decide(const char *url, const char *proxy, const char *no_proxy)
{
    err[0] = '\0';
    return endpoint_decide(url, 0, proxy, no_proxy, err, sizeof err);
}

static void test_proxy(void)
{
    static const char *const cred = "http://alice:pw@127.0.0.1:9780/v1";
    static const struct {
        const char *url, *proxy, *no_proxy;
        int ok;
    } cases[] = {
        {"http://alice:pw@127.0.0.1:9780/v1", NULL, NULL, 0},
        {"http://alice:pw@127.0.0.1:9780/v1", "", NULL, 0},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://proxy.example:3128", NULL, -1},
        {"http://alice:pw@127.0.0.1:9780/v1", "proxy.example:3128", "", -1},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://proxy.example:3128", "127.0.0.1", 0},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://proxy.example:3128", "x.org, 127.0.0.1", 0},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://proxy.example:3128", "*", 0},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://proxy.example:3128", "0.0.1", -1},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://proxy.example:3128", ".0.0.1", -1},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://proxy.example:3128", "127.0.0.0/8", -1},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://proxy.example:3128", "127.0.0.10", -1},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://127.0.0.1:3128", NULL, 0},
        {"http://alice:pw@127.0.0.1:9780/v1", "127.0.0.1:3128", NULL, 0},
        {"http://alice:pw@127.0.0.1:9780/v1", "socks5://[::1]:1080", NULL, 0},
        {"http://alice:pw@127.0.0.1:9780/v1", "http://user:pw@127.0.0.1.evil.com:3128", NULL, -1},
        {"http://alice:pw@127.0.0.1:9780/v1", "not a url", NULL, -1},
        {"http://alice:pw@localhost/v1", "http://proxy.example:3128", "LOCALHOST", 0},
        {"http://alice:pw@localhost/v1", "http://proxy.example:3128", ".localhost", 0},
        {"http://alice:pw@localhost/v1", "http://proxy.example:3128", "host", -1},
        {"http://alice:pw@[::1]/v1", "http://proxy.example:3128", "::1", 0},
        {"http://alice:pw@[::1]/v1", "http://proxy.example:3128", "[::1]", -1}, /* not curl's */
        {"http://alice:pw@[::1]/v1", "http://proxy.example:3128", ":1", -1},
        {"http://127.0.0.1/v1?token=t", "http://proxy.example:3128", NULL, -1},
        {"http://127.0.0.1/v1", "http://proxy.example:3128", NULL, 0},  /* nothing to leak */
        {"https://alice:pw@127.0.0.1/v1", "http://proxy.example:3128", NULL, 0}, /* TLS */
        {"http://alice:pw@collector.example/v1", NULL, "*", -1},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!T_EQ_INT(decide(cases[i].url, cases[i].proxy, cases[i].no_proxy), cases[i].ok))
            printf("  %s via %s (no_proxy %s): %s\n", cases[i].url,
                   cases[i].proxy ? cases[i].proxy : "-", cases[i].no_proxy ? cases[i].no_proxy : "-",
                   err);
    decide(cred, "http://proxy.example:3128", NULL);
    T_CHECK(err_has("would go through the proxy"));
    T_CHECK(err_has("no_proxy"));
    T_CHECK(err_has("--allow-insecure-http"));
    T_EQ_INT(endpoint_decide(cred, 1, "http://proxy.example:3128", NULL, err, sizeof err), 0);
}

/* Item 20: syntax and scheme, whatever else holds. */
static void test_syntax(void)
{
    struct endpoint ep;
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"file:///etc/passwd", "the scheme must be https (or http), not file"},
        {"ftp://host/x", "not ftp"},
        {"gopher://host/", "not gopher"},
        {"FILE:///etc/passwd", "not FILE"},
        {"host/v1", "must start with https://"},
        {"collector.example", "must start with https://"},
        {"https:/host/v1", "must start with https://"},
        {"https:host", "must start with https://"},
        {"://host", "must start with https://"},
        {"", "empty"},
        {"https://", "no host"},
        {"https:///v1", "no host"},
        {"https://alice@/v1", "no host"},
        {"https://:443/v1", "no host"},
        {"https://host:/v1", "no port"},
        {"https://host:0/v1", "port must be a number"},
        {"https://host:65536/v1", "port must be a number"},
        {"https://host:99999999999999999999/v1", "port must be a number"},
        {"https://host:8o/v1", "port must be a number"},
        {"https://host:80:81/v1", "port must be a number"},
        {"https://ho st/v1", "white space"},
        {"https://host/v 1", "white space"},
        {"https://host/v1\n", "control character"},
        {"https://host/\x1b[31mred", "control character"},
        {"https://ho\"st/", "in the host name"},
        {"https://ho%41st/", "in the host name"},
        {"https://a:b/c@host/v1", "'@' after the host"},
        {"https://host/v1/@x", "'@' after the host"},
        {"https://host/v1?email=a@b", "'@' after the host"},
        {"https://a@b@host/v1", "more than one '@'"},
        {"https://[::1/v1", "without ']'"},
        {"https://[]/v1", "no IPv6 address"},
        {"https://[zz::1]/v1", "is not an IPv6 address"},
        {"https://[::1]x/v1", "not a port"},
        {"https://[::1]:0/v1", "port must be a number"},
    };
    static const char *const good[] = {
        "https://events.telemetry.data.nvidia.com/v1.1/events/json",
        "http://127.0.0.1:9780/v1.1/events/json",
        "HTTP://127.0.0.1:9780",
        "https://host",
        "https://host:443",
        "https://host?x=1",
        "https://host#x",
        "https://[::1]:9780/v1",
        "https://[fe80::1%25eth0]:9780/v1",
        "https://alice:p%2Fw%40x@host/v1",
        "https://host/v%401",
        "https://xn--bcher-kva.example/v1",
        "https://b\xc3\xbc" "cher.example/v1",
        "https://under_score.example:65535/v1",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!T_CHECK(check(bad[i].url, 1) == -1))
            printf("  should be refused: %s\n", bad[i].url);
        if (!T_CHECK(strstr(err, bad[i].why) != NULL))
            printf("  %s: expected '%s' in: %s\n", bad[i].url, bad[i].why, err);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!T_CHECK(check(good[i], 0) == 0))
            printf("  should be accepted: %s (%s)\n", good[i], err);
    /* messages never carry the secret parts */
    check("https://alice:pw/SECRET@host/v1", 0);
    T_CHECK(strstr(err, "SECRET") == NULL && strstr(err, "alice") == NULL);
    T_CHECK(err_has("endpoint 'https://host/v1'"));
    check("file://alice:SECRET@/etc/passwd", 0);
    T_CHECK(strstr(err, "SECRET") == NULL && strstr(err, "alice") == NULL);
    check(NULL, 0);
    T_CHECK(err_has("empty"));

    /* what the parse found */
    T_EQ_INT(endpoint_parse("HTTPS://alice:pw@[::1]:9780/v1?a=1&Api-Key=x", &ep, err,
                            sizeof err), 0);
    T_EQ_INT(ep.https, 1);
    T_EQ_INT(ep.userinfo, 1);
    T_EQ_INT(ep.token, 1);
    T_EQ_INT(ep.loopback, 1);
    T_EQ_STR(ep.host, "[::1]");
    T_EQ_INT(endpoint_parse("http://collector.example:8080/v1", &ep, err, sizeof err), 0);
    T_EQ_INT(ep.https, 0);
    T_EQ_INT(ep.userinfo, 0);
    T_EQ_INT(ep.token, 0);
    T_EQ_INT(ep.loopback, 0);
    T_EQ_STR(ep.host, "collector.example");
}

int main(void)
{
    test_redact();
    test_loopback();
    test_cleartext();
    test_proxy();
    test_syntax();
    return t_done();
}
