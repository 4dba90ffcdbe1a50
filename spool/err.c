/* err.c: status codes, their exit statuses and the error-buffer convention. */
#include <stdio.h>
#include <sysexits.h>

#include "internal.h"

int anon_seterr(char *err, size_t errlen, int status, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
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
    default: return "unknown status";
    }
}
