/*
 * readall.c: reads a whole stream into memory, the one way every command does it
 * (the events on anon-telemetry-spool's standard input, the texts anon-telemetry-tokens
 * counts).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define FIRST_CAP ((size_t)1 << 16)

int anon_read_all(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
    struct stat st;
    size_t cap = FIRST_CAP, len = 0;
    char *buf = NULL, *grown;
    ssize_t r;
    int rc = 0;

    *ret_buf = NULL;
    *ret_len = 0;
    /* A regular file says how big it is: one allocation instead of a doubling series
     * (room for the NUL and for the read that sees the end; or, past max, for the one
     * byte more that shows the stream is too big). */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uintmax_t)st.st_size < SIZE_MAX / 2)
        cap = ((size_t)st.st_size < max ? (size_t)st.st_size : max) + 2;
    if ((buf = malloc(cap)) == NULL) {
        rc = ENOMEM;
        goto done;
    }
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > SIZE_MAX / 2) {
                rc = ENOMEM;
                goto done;
            }
            if ((grown = realloc(buf, cap * 2)) == NULL) {
                rc = ENOMEM;
                goto done;
            }
            buf = grown;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = errno;
            goto done;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        /* stop at the first byte past the limit: a huge or endless stream is not read on */
        if (len > max) {
            rc = EFBIG;
            goto done;
        }
    }
    buf[len] = '\0';
    *ret_buf = buf;
    *ret_len = len;
    buf = NULL;
done:
    free(buf);
    return rc;
}
