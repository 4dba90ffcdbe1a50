/* cmdio.c: the commands' standard streams (see cmdio.h). Used by the commands only: the
 * library's own functions never print. */
#include "cmdio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

void cmdio_start(void)
{
    signal(SIGPIPE, SIG_IGN);
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        /* open() returns the lowest free number, which is fd itself */
        int got = open("/dev/null", (fd == 0 ? O_WRONLY : O_RDONLY) | O_CLOEXEC);

        if (got >= 0 && got != fd)
            close(got); /* cannot happen: the lower ones are open by now */
    }
}

int cmdio_flush_stdout(void)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    return -1; /* errno 0: an earlier write failed, and its reason is gone */
}

int cmdio_finish(const char *prog, int status)
{
    if (cmdio_flush_stdout() == 0)
        return status;
    if (errno != 0)
        fprintf(stderr, "%s: cannot write the output: %s\n", prog, strerror(errno));
    else
        fprintf(stderr, "%s: cannot write the output (a write to it failed)\n", prog);
    return status == EX_OK ? EX_IOERR : status;
}
