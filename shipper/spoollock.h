/*
 * spoollock.h: the shipper's lock file beside the spool, <spool>.lock.
 */
#ifndef SHIP_SPOOLLOCK_H
#define SHIP_SPOOLLOCK_H

#include <stdint.h>

struct spoollock {
    int fd;                 /* -1 when not held */
    int created;            /* this run made the file */
    char path[4200];
};

/* Takes the lock on spool's lock file (the spool must exist). 0: held; -1: another
 * shipper holds it (said so); else the exit status after saying why (77: the lock file
 * or the spool's place is unsafe, 74: it cannot be opened or locked). */
int spoollock_take(const char *spool, struct spoollock *lk);
/* How often a run makes the full check (PRAGMA quick_check) of the spool; the cheap one
 * (spool/check.c) otherwise. */
#define SPOOLLOCK_FULL_CHECK_MS (24 * 3600 * 1000LL)
/* When the spool last passed its full check, as the held lock file says (ms; 0: never,
 * or unknown). */
int64_t spoollock_last_check(const struct spoollock *lk);
/* The same, read without taking the lock (a dry run): 0 unless the lock file is a
 * regular file of ours. */
int64_t spoollock_peek_last_check(const char *spool);
/* 1 when a full check is due: none known, older than SPOOLLOCK_FULL_CHECK_MS, or from
 * a clock that has gone back since. */
int spoollock_full_check_due(int64_t last_ms, int64_t now_ms);
/* Records in the held lock file that the spool passed its full check at now_ms. */
void spoollock_record_check(struct spoollock *lk, int64_t now_ms);
/* Lets go; discard removes the lock file when this run made it (a run that found no
 * spool of ours there leaves nothing behind). NULL-safe on a lock not held. */
void spoollock_release(struct spoollock *lk, int discard);

#endif
