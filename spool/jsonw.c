/*
 * jsonw.c: a growable buffer and the little JSON writing the wire needs.
 *
 * Strings and numbers are written as Python's json.dumps writes them (ASCII
 * only, \uXXXX escapes; floats as repr() gives them), so a body we send is
 * the one the Python handler would have sent, byte for byte, up to spacing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void anon_buf_init(anon_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

void anon_buf_free(anon_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    anon_buf_init(b);
}

void anon_buf_reset(anon_buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static int reserve(anon_buf *b, size_t more)
{
    size_t want, cap;
    char *p;

    if (b->oom)
        return -1;
    if (more > SIZE_MAX - b->len - 1)
        goto fail;
    want = b->len + more + 1;
    if (want <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    b->oom = 1;
    return -1;
}

void anon_buf_append(anon_buf *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void anon_buf_puts(anon_buf *b, const char *s)
{
    anon_buf_append(b, s, strlen(s));
}

void anon_buf_printf(anon_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

size_t anon_utf8_decode(const unsigned char *s, uint32_t *ret_cp)
{
    uint32_t c = s[0];
    size_t n;

    if (c < 0x80) {
        *ret_cp = c;
        return c != 0;
    }
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, c &= 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, c &= 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, c &= 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)     /* also stops at the terminating NUL */
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *ret_cp = c;
    return n;
}

void anon_buf_json_string(anon_buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char *run = s;

    anon_buf_append(b, "\"", 1);
    while (*s) {
        uint32_t cp;
        size_t n;
        const char *esc = NULL;

        if (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\') {
            s++;
            continue;
        }
        anon_buf_append(b, (const char *)run, (size_t)(s - run));
        n = anon_utf8_decode(s, &cp);
        if (n == 0) {           /* callers pass valid UTF-8; never emit invalid JSON */
            cp = 0xfffd;
            n = 1;
        }
        switch (cp) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default: break;
        }
        if (esc != NULL)
            anon_buf_puts(b, esc);
        else if (cp < 0x10000)
            anon_buf_printf(b, "\\u%04x", (unsigned)cp);
        else
            anon_buf_printf(b, "\\u%04x\\u%04x", (unsigned)(0xd800 + ((cp - 0x10000) >> 10)),
                            (unsigned)(0xdc00 + ((cp - 0x10000) & 0x3ff)));
        s += n;
        run = s;
    }
    anon_buf_append(b, (const char *)run, (size_t)(s - run));
    anon_buf_append(b, "\"", 1);
}

void anon_buf_json_double(anon_buf *b, double v)
{
    char digits[40], out[64];
    int prec, exp10;
    char *e, *p;
    size_t o = 0, nd = 0;
    int neg;

    if (!isfinite(v)) {          /* never valid here: the event model refuses them */
        anon_buf_puts(b, "null");
        return;
    }
    /* the shortest %.*e that reads back as v: Python's repr() digits */
    for (prec = 0; prec < 17; prec++) {
        snprintf(digits, sizeof digits, "%.*e", prec, v);
        if (strtod(digits, NULL) == v)
            break;
    }
    neg = digits[0] == '-';
    e = strchr(digits, 'e');
    exp10 = (int)strtol(e + 1, NULL, 10);
    /* collect the significant digits without sign and point */
    char sig[24];
    for (p = digits + neg; p < e; p++)
        if (*p >= '0' && *p <= '9')
            sig[nd++] = *p;
    sig[nd] = '\0';
    if (neg)
        out[o++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        /* repr() uses fixed notation here and always shows a fractional part */
        if (exp10 < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = -1; i > exp10; i--)
                out[o++] = '0';
            memcpy(out + o, sig, nd);
            o += nd;
        } else {
            for (int i = 0; i <= exp10; i++)
                out[o++] = (size_t)i < nd ? sig[i] : '0';
            out[o++] = '.';
            if ((size_t)exp10 + 1 < nd) {
                memcpy(out + o, sig + exp10 + 1, nd - (size_t)exp10 - 1);
                o += nd - (size_t)exp10 - 1;
            } else {
                out[o++] = '0';
            }
        }
        out[o] = '\0';
    } else {
        out[o++] = sig[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, sig + 1, nd - 1);
            o += nd - 1;
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+',
                 exp10 < 0 ? -exp10 : exp10);
    }
    anon_buf_puts(b, out);
}
