/*
 * spoollock.c: the shipper's <spool>.lock (see spoollock.h).
 *
 * One shipper per spool: an flock(2) on a file beside the spool. The lock file is made
 * by the spool's owner (root works as that user, see place.c), never opened through a
 * symbolic link (O_NOFOLLOW: a dangling link must not make root create a file anywhere),
 * and must be a regular file of the spool's owner: anything else planted under its name
 * is refused, never used.
 */
#include "spoollock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "internal.h"
#include "log.h"

int spoollock_take(const char *spool, struct spoollock *lk)
{
    struct anon_spool_place pl;
    char err[ANON_ERRLEN];
    struct stat st;
    int rc;

    memset(lk, 0, sizeof(*lk));
    lk->fd = -1;
    if (snprintf(lk->path, sizeof(lk->path), "%s.lock", spool) >= (int)sizeof(lk->path)) {
        log_warnx("spool path %s is too long", spool);
        return EX_CONFIG;
    }
    /* whose the spool is, and that its place is safe, before a file is made beside it */
    if ((rc = anon_spool_check_place(spool, 0, &pl, err, sizeof(err))) != ANON_OK) {
        log_warnx("%s", err);
        return anon_status_exit_code(rc);
    }
    lk->fd = open(lk->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lk->fd >= 0)
        lk->created = 1;
    else if (errno == EEXIST)
        lk->fd = open(lk->path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (lk->fd < 0) {
        int e = errno;

        if (e == ELOOP) {
            log_warnx("refusing the lock file %s: it is a symbolic link (never followed); "
                      "remove it", lk->path);
            return EX_NOPERM;
        }
        /* most often someone else's file (root's, from an older version): say whose */
        if (lstat(lk->path, &st) == 0 && st.st_uid != pl.uid) {
            log_warnx("refusing the lock file %s: it belongs to uid %u, not to the spool's "
                      "owner (uid %u); remove it",
                      lk->path, (unsigned)st.st_uid, (unsigned)pl.uid);
            return EX_NOPERM;
        }
        errno = e;
        log_warn("cannot open the lock file %s", lk->path);
        return EX_IOERR;
    }
    if (fstat(lk->fd, &st) != 0) {
        log_warn("cannot read the lock file %s", lk->path);
        spoollock_release(lk, 0);
        return EX_IOERR;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != pl.uid) {
        if (!S_ISREG(st.st_mode))
            log_warnx("refusing the lock file %s: it is not a regular file; remove it",
                      lk->path);
        else
            log_warnx("refusing the lock file %s: it belongs to uid %u, not to the spool's "
                      "owner (uid %u); remove it",
                      lk->path, (unsigned)st.st_uid, (unsigned)pl.uid);
        spoollock_release(lk, 0);
        return EX_NOPERM;
    }
    if (flock(lk->fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        spoollock_release(lk, 0);
        if (e == EWOULDBLOCK) {
            log_notice("another anon-telemetry-ship is running on %s", spool);
            return -1;
        }
        errno = e;
        log_warn("cannot lock %s", lk->path);
        return EX_IOERR;
    }
    return 0;
}

/*
 * The lock file also remembers when the spool last passed the full check (PRAGMA
 * quick_check reads every page: 1.7 s on a 1.5 GB spool), so that a run does it once
 * per SPOOLLOCK_FULL_CHECK_MS and the cheap check (spool/check.c) otherwise. Two lines:
 *   anon-telemetry-ship lock; the spool passed its full check (PRAGMA quick_check) at
 *   2026-12-05T23:40:44.123Z
 * Losing it (the file removed, unreadable, a time from the future) only means the next
 * run checks fully again; it is never synced.
 */
#define CHECK_HEADER "anon-telemetry-ship lock; the spool passed its full check " \
                     "(PRAGMA quick_check) at\n"

/* The time in the lock file's text, 0 when there is none. */
static int64_t parse_check(const char *text)
{
    const char *nl = strchr(text, '\n');
    char ts[ANON_TS_LEN + 1];
    int64_t ms;

    if (strncmp(text, CHECK_HEADER, strlen(CHECK_HEADER)) != 0 || nl == NULL ||
        strlen(nl + 1) < ANON_TS_LEN)
        return 0;
    memcpy(ts, nl + 1, ANON_TS_LEN);
    ts[ANON_TS_LEN] = '\0';
    return anon_parse_ts(ts, &ms) == 0 && ms > 0 ? ms : 0;
}

static int64_t read_check(int fd)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return parse_check(buf);
}

int64_t spoollock_last_check(const struct spoollock *lk)
{
    return lk->fd >= 0 ? read_check(lk->fd) : 0;
}

int64_t spoollock_peek_last_check(const char *spool)
{
    char path[4200];
    struct stat st;
    int64_t ms = 0;
    int fd;

    if (snprintf(path, sizeof(path), "%s.lock", spool) >= (int)sizeof(path))
        return 0;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
        ms = read_check(fd);
    close(fd);
    return ms;
}

int spoollock_full_check_due(int64_t last_ms, int64_t now_ms)
{
    /* a time ahead of now is a clock that went back since: no telling how old it is */
    return last_ms <= 0 || last_ms > now_ms || now_ms - last_ms >= SPOOLLOCK_FULL_CHECK_MS;
}

void spoollock_record_check(struct spoollock *lk, int64_t now_ms)
{
    char text[sizeof(CHECK_HEADER) + ANON_TS_LEN + 2];
    int n;

    if (lk->fd < 0)
        return;
    anon_format_ts(now_ms, text + snprintf(text, sizeof(text), "%s", CHECK_HEADER));
    n = (int)strlen(text);
    text[n++] = '\n';
    /* best effort: a lost record only means another full check */
    if (ftruncate(lk->fd, 0) != 0 || pwrite(lk->fd, text, (size_t)n, 0) != n)
        log_debug("cannot record the full check in %s", lk->path);
}

void spoollock_release(struct spoollock *lk, int discard)
{
    if (lk->fd < 0)
        return;
    /* removed while still held, so that no other shipper locks a file about to vanish
     * unnoticed for long; only a file this run made goes */
    if (discard && lk->created)
        unlink(lk->path);
    close(lk->fd);
    lk->fd = -1;
}
