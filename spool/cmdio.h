/*
 * cmdio.h: what every command (anon-telemetry-spool, -ship, -tokens) does about its
 * standard streams, so that none of them dies of a closed pipe or reports success for
 * output that went nowhere.
 */
#ifndef ANON_CMDIO_H
#define ANON_CMDIO_H

/*
 * At the start of main. SIGPIPE is ignored: writing to a closed pipe then fails with EPIPE,
 * which the command handles like any write error, instead of killing it halfway (after a
 * commit, say). And a descriptor 0, 1 or 2 that is closed is opened on /dev/null the wrong
 * way round (0 for writing only, 1 and 2 for reading only): no file the command opens
 * later (a lock file, the spool) can take that number and receive its output, and reading
 * or writing it still fails as it would have.
 */
void cmdio_start(void);

/* Flushes stdout: 0 when everything written to it got there, else -1 with errno set
 * (EPIPE, ENOSPC, EBADF ...), or 0 when an earlier write failed and its reason is gone. */
int cmdio_flush_stdout(void);

/* The end of main for a command whose output is its result: status when stdout is fine;
 * else one line on stderr, "PROG: cannot write the output: REASON", and 74 (EX_IOERR),
 * or status itself when that already reports a failure. */
int cmdio_finish(const char *prog, int status);

#endif
