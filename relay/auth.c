/*
 * auth.c: the relay's token. It lives in a file only its owner can read (like an SSH
 * private key, and refused otherwise, as OpenSSH's StrictModes refuses one), is
 * compared in constant time, and is never logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay.h"

#define TOKEN_MIN 16
#define TOKEN_MAX 4096

int relay_read_token(const char *path, char **ret_token, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd, rc = -1, e;

    *ret_token = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return anon_seterr(err, errlen, -1, "token file %s: %s%s", path, strerror(errno),
                           errno == ELOOP ? " (a symbolic link is not followed)" : "");
    if (fstat(fd, &st) != 0) {
        anon_seterr(err, errlen, -1, "token file %s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        anon_seterr(err, errlen, -1, "token file %s is not a regular file", path);
        goto done;
    }
    if (st.st_mode & 077) {
        anon_seterr(err, errlen, -1,
                    "token file %s is accessible by others (mode %04o): chmod 600 it",
                    path, (unsigned)(st.st_mode & 07777));
        goto done;
    }
    if ((e = anon_read_all(fd, TOKEN_MAX + 2, &buf, &len)) != 0) {
        anon_seterr(err, errlen, -1, "token file %s: %s", path,
                    e == EFBIG ? "longer than a token can be" : strerror(e));
        goto done;
    }
    /* the first line is the token; a final line end is not part of it */
    len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    if (len < TOKEN_MIN || len > TOKEN_MAX) {
        anon_seterr(err, errlen, -1, "token file %s: the token must be %d to %d characters, "
                    "it has %zu", path, TOKEN_MIN, TOKEN_MAX, len);
        goto done;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (c <= ' ' || c >= 0x7f) {
            anon_seterr(err, errlen, -1,
                        "token file %s: the token must be printable ASCII without spaces "
                        "(character %zu is not)", path, i + 1);
            goto done;
        }
    }
    *ret_token = buf;
    buf = NULL;
    rc = 0;
done:
    if (buf != NULL) {
        memset(buf, 0, len);
        free(buf);
    }
    close(fd);
    return rc;
}

int relay_token_equal(const char *token, const char *given, size_t len)
{
    size_t tlen = strlen(token);
    /* volatile: the compiler must not stop at the first difference */
    volatile unsigned char diff = (unsigned char)(len != tlen);

    for (size_t i = 0; i < tlen; i++)
        diff |= (unsigned char)(token[i] ^ (i < len ? given[i] : 0));
    return diff == 0;
}
