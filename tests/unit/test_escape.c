/*
 * test_escape.c: control characters never reach a terminal or a log raw (issue 12, item 8):
 * anon_escape_text, and every library error text through anon_seterr.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "test.h"

static char out[512];

static const char *esc(const char *s)
{
    anon_escape_text(s, out, sizeof out);
    return out;
}

/* No byte that could move the cursor, end a line or start an escape sequence. */
static int clean(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    for (; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return strstr(s, "\xc2\x85") == NULL && strstr(s, "\xe2\x80\xae") == NULL &&
           strstr(s, "\xe2\x80\xa8") == NULL;
}

static void test_escape_text(void)
{
    T_EQ_STR(esc("plain text, with a \\ and 'quotes' and UTF-8: mod\xc3\xa8le \xe6\xa8\xa1"),
             "plain text, with a \\ and 'quotes' and UTF-8: mod\xc3\xa8le \xe6\xa8\xa1");
    T_EQ_STR(esc("a\nb\tc\rd"), "a\\nb\\tc\\rd");
    T_EQ_STR(esc("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
    T_EQ_STR(esc("del\x7f bell\a nul-less \x01"), "del\\x7f bell\\x07 nul-less \\x01");
    T_EQ_STR(esc("c1 \xc2\x85 \xc2\x9b"), "c1 \\xc2\\x85 \\xc2\\x9b");          /* NEL, CSI */
    T_EQ_STR(esc("rlo \xe2\x80\xae lsep \xe2\x80\xa8 fsi \xe2\x81\xa8"),
             "rlo \\xe2\\x80\\xae lsep \\xe2\\x80\\xa8 fsi \\xe2\\x81\\xa8");
    T_EQ_STR(esc("bad \xff \xc3 \xed\xa0\x80 end"), "bad \\xff \\xc3 \\xed\\xa0\\x80 end");
    T_EQ_STR(esc(""), "");
    T_CHECK(clean(esc("x\n\x1b\x9b\xc2\x85\xe2\x80\xae\xe2\x80\xa8\r\x7f")));
    /* idempotent: an escaped text has nothing left to escape */
    {
        char twice[512];
        anon_escape_text(esc("a\nb\x1b"), twice, sizeof twice);
        T_EQ_STR(twice, "a\\nb\\x1b");
    }
    /* cut before an escape that does not fit, always terminated */
    {
        char small[6];
        T_EQ_INT(anon_escape_text("ab\ncd", small, sizeof small), 5);
        T_EQ_STR(small, "ab\\nc");
        T_EQ_INT(anon_escape_text("abc\x1b", small, sizeof small), 3);
        T_EQ_STR(small, "abc");
        T_EQ_INT(anon_escape_text("x", small, 1), 0);
        T_EQ_STR(small, "");
        T_EQ_INT(anon_escape_text("abcdefgh", small, sizeof small), 5);
        T_EQ_STR(small, "abcde");
    }
}

static void test_seterr(void)
{
    char err[ANON_ERRLEN];

    T_EQ_INT(anon_seterr(err, sizeof err, ANON_EINVAL, "%s: unknown field", "k\n\x1b[2Jx"),
             ANON_EINVAL);
    T_EQ_STR(err, "k\\n\\x1b[2Jx: unknown field");
    /* err may be an argument of its own message */
    anon_seterr(err, sizeof err, ANON_EIO, "outer: %s", err);
    T_EQ_STR(err, "outer: k\\n\\x1b[2Jx: unknown field");
    T_EQ_INT(anon_seterr(NULL, 0, ANON_EIO, "%s", "x"), ANON_EIO);

    /* the library's texts: an unknown key forging a second line is one line */
    {
        const char *json = "{\"task\":\"batch\",\"a\\u001b[31m\\nanon-telemetry-spool: forged\":1}";
        anon_event *ev = NULL;

        T_EQ_INT(anon_event_from_json(json, strlen(json), &ev, err, sizeof err), ANON_EINVAL);
        T_CHECK(clean(err));
        T_EQ_STR(err, "a\\x1b[31m\\nanon-telemetry-spool: forged: unknown field");
        anon_event_free(ev);
    }
    {
        const char *json = "{\"task\":\"batch\",\"\xc2\x9b" "31m\xe2\x80\xae\":1}";
        anon_event *ev = NULL;

        T_EQ_INT(anon_event_from_json(json, strlen(json), &ev, err, sizeof err), ANON_EINVAL);
        T_CHECK(clean(err));
        anon_event_free(ev);
    }
    /* an enum value is quoted back */
    {
        anon_event *ev = anon_event_new();
        T_EQ_INT(anon_event_set_string(ev, "nemoSource", "a\xff", err, sizeof err), ANON_EINVAL);
        T_CHECK(clean(err));
        anon_event_free(ev);
    }
}

int main(void)
{
    test_escape_text();
    test_seterr();
    return t_done();
}
