/* err.c: status codes, their exit statuses and the error-buffer convention. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "internal.h"

/* Whether the character cp (of n bytes) is shown escaped: it moves the cursor, ends a line,
 * or reorders what follows it. */
static int must_escape(uint32_t cp, size_t n)
{
    return n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t anon_escape_text(const char *s, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = 0;

    if (outlen == 0)
        return 0;
    while (*p != '\0') {
        char piece[4 * 4 + 1];
        size_t plen = 0, step;
        uint32_t cp = 0;

        step = anon_utf8_decode(p, &cp);
        if (!must_escape(cp, step)) {
            memcpy(piece, p, step);
            plen = step;
        } else if (step == 1 && (cp == '\n' || cp == '\t' || cp == '\r')) {
            piece[0] = '\\';
            piece[1] = cp == '\n' ? 'n' : cp == '\t' ? 't' : 'r';
            plen = 2;
        } else {
            if (step == 0)
                step = 1; /* not UTF-8: this byte alone */
            for (size_t i = 0; i < step; i++)
                plen += (size_t)snprintf(piece + plen, sizeof(piece) - plen, "\\x%02x", p[i]);
        }
        if (len + plen >= outlen)
            break;
        memcpy(out + len, piece, plen);
        len += plen;
        p += step;
    }
    out[len] = '\0';
    return len;
}

int anon_seterr(char *err, size_t errlen, int status, const char *fmt, ...)
{
    char raw[4096];
    va_list ap;

    if (err != NULL && errlen > 0) {
        /* formatted apart first: err may also be one of the arguments */
        va_start(ap, fmt);
        vsnprintf(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        anon_escape_text(raw, err, errlen);
    }
    return status;
}

int anon_status_exit_code(int status)
{
    switch (status) {
    case ANON_OK:
    case ANON_DISABLED:
        return EX_OK;
    case ANON_EINVAL:
        return EX_DATAERR;
    case ANON_ENOMEM:
        return EX_OSERR;
    case ANON_ECANTCREAT:
        return EX_CANTCREAT;
    case ANON_EPERM:
        return EX_NOPERM;
    case ANON_EBUSY:
        return EX_TEMPFAIL;
    case ANON_EIO:
    case ANON_ECORRUPT:
    case ANON_ENEWER:
    default:
        return EX_IOERR;
    }
}

const char *anon_status_str(int status)
{
    switch (status) {
    case ANON_OK: return "ok";
    case ANON_DISABLED: return "telemetry disabled";
    case ANON_EINVAL: return "invalid input";
    case ANON_ENOMEM: return "out of memory";
    case ANON_ECANTCREAT: return "cannot create spool";
    case ANON_EIO: return "spool I/O error";
    case ANON_ECORRUPT: return "spool is corrupt";
    case ANON_ENEWER: return "spool format is newer";
    case ANON_EPERM: return "unsafe permissions";
    case ANON_EBUSY: return "spool is busy";
    default: return "unknown status";
    }
}
