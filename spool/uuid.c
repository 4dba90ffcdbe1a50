/* uuid.c: random identifiers (event uuids, session ids) from the kernel's CSPRNG. */
#include <errno.h>
#include <sys/random.h>

#include "internal.h"

int anon_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static const char hexdig[] = "0123456789abcdef";

int anon_uuid_v4(char buf[ANON_UUID_LEN + 1])
{
    unsigned char b[16];
    size_t o = 0;

    if (anon_random_bytes(b, sizeof b) != 0)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[o++] = '-';
        buf[o++] = hexdig[b[i] >> 4];
        buf[o++] = hexdig[b[i] & 15];
    }
    buf[o] = '\0';
    return 0;
}

int anon_hex_id(char buf[33])
{
    char u[ANON_UUID_LEN + 1];
    size_t o = 0;

    /* uuid4().hex, as the Python side makes its session ids */
    if (anon_uuid_v4(u) != 0)
        return -1;
    for (size_t i = 0; u[i]; i++)
        if (u[i] != '-')
            buf[o++] = u[i];
    buf[o] = '\0';
    return 0;
}
