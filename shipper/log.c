/*
 * log.c: stderr or syslog, one line per message, control characters escaped.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "internal.h"

static const char *log_ident = "anon-telemetry-ship";
static int log_level;
static int log_syslog;

void log_init(const char *ident, int verbosity, int use_syslog)
{
    if (ident != NULL)
        log_ident = ident;
    log_level = verbosity;
    log_syslog = use_syslog;
    if (use_syslog)
        openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_USER);
}

int log_verbosity(void)
{
    return log_level;
}

/* Every message, to stderr or syslog, passes here, and here only its text is made safe: a
 * message may quote input, a URL or a collector's answer, and a control character in it
 * must not rewrite the terminal or forge a second line (anon_escape_text). */
static void log_vemit(int prio, const char *suffix, const char *fmt, va_list ap)
{
    char raw[2048], msg[4096];

    vsnprintf(raw, sizeof(raw), fmt, ap);
    anon_escape_text(raw, msg, sizeof(msg));
    if (log_syslog) {
        if (suffix != NULL)
            syslog(prio, "%s: %s", msg, suffix);
        else
            syslog(prio, "%s", msg);
        return;
    }
    if (suffix != NULL)
        fprintf(stderr, "%s: %s: %s\n", log_ident, msg, suffix);
    else
        fprintf(stderr, "%s: %s\n", log_ident, msg);
    fflush(stderr);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    log_vemit(LOG_WARNING, strerror(saved), fmt, ap);
    va_end(ap);
    errno = saved;
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(LOG_WARNING, NULL, fmt, ap);
    va_end(ap);
}

void log_notice(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(LOG_NOTICE, NULL, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    if (log_level < 1)
        return;
    va_start(ap, fmt);
    log_vemit(LOG_INFO, NULL, fmt, ap);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    va_list ap;

    if (log_level < 2)
        return;
    va_start(ap, fmt);
    log_vemit(LOG_DEBUG, NULL, fmt, ap);
    va_end(ap);
}
