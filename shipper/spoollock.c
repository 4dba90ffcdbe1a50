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
