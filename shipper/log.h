/*
 * log.h: the shipper's messages, in the spirit of OpenSMTPD's log.c.
 *
 * Messages go to stderr, prefixed with the program name, or to syslog(3) after
 * log_init(..., 1). log_warn appends strerror(errno); log_warnx does not.
 * log_info is printed at verbosity >= 1 (-v), log_debug at >= 2 (-vv).
 * Control characters in a message (quoted input, a URL, a collector's answer) are escaped
 * (anon_escape_text), on stderr and in syslog alike: one message is always one line.
 * Nothing here exits: the caller decides what a failure means.
 */
#ifndef SHIP_LOG_H
#define SHIP_LOG_H

#if defined(__GNUC__)
#define LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LOG_PRINTF(f, a)
#endif

/* ident: the program name (a pointer kept, not copied); use_syslog: 1 for syslog. */
void log_init(const char *ident, int verbosity, int use_syslog);
int log_verbosity(void);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
/* Always printed (a summary or a notice the user asked for), at syslog's notice level. */
void log_notice(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
