/*
 * spoollock.h: the shipper's lock file beside the spool, <spool>.lock.
 */
#ifndef SHIP_SPOOLLOCK_H
#define SHIP_SPOOLLOCK_H

struct spoollock {
    int fd;                 /* -1 when not held */
    int created;            /* this run made the file */
    char path[4200];
};

/* Takes the lock on spool's lock file (the spool must exist). 0: held; -1: another
 * shipper holds it (said so); else the exit status after saying why (77: the lock file
 * or the spool's place is unsafe, 74: it cannot be opened or locked). */
int spoollock_take(const char *spool, struct spoollock *lk);
/* Lets go; discard removes the lock file when this run made it (a run that found no
 * spool of ours there leaves nothing behind). NULL-safe on a lock not held. */
void spoollock_release(struct spoollock *lk, int discard);

#endif
