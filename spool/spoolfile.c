/*
 * spoolfile.c: which file is a spool of ours.
 *
 * A spool is marked with PRAGMA application_id (ANON_SPOOL_APP_ID, stored big-endian at
 * offset 68 of the SQLite header); a spool of format 1 predates the mark and is known by
 * PRAGMA user_version 1 (offset 60) and its tables. When SQLite cannot read a file at all
 * ("file is not a database", a damaged schema), only the header says whose it was: the
 * shipper moves a damaged file aside only when it was one of ours, and leaves anything
 * else (`--spool /etc/hosts`, another program's database) where and as it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define SQLITE_MAGIC "SQLite format 3"   /* 16 bytes with its NUL */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int anon_sqlite_uri(const char *path, const char *query, char *buf, size_t buflen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    /* "file:" + the path with every byte that means something in a URI escaped */
    if (buflen < 6)
        return -1;
    memcpy(buf, "file:", 5);
    n = 5;
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("/-._~", *p) != NULL;

        if (n + 4 >= buflen)
            return -1;
        if (plain) {
            buf[n++] = (char)*p;
        } else {
            buf[n++] = '%';
            buf[n++] = hex[*p >> 4];
            buf[n++] = hex[*p & 15];
        }
    }
    if (query != NULL && query[0] != '\0') {
        size_t q = strlen(query);
        if (n + 1 + q + 1 > buflen)
            return -1;
        buf[n++] = '?';
        memcpy(buf + n, query, q);
        n += q;
    }
    buf[n] = '\0';
    return 0;
}

/* The format-1 tables, read through SQLite without writing anything, not even a -shm
 * beside a file that may not be ours (immutable: the schema of an old spool is in the
 * main file): 1 when events, dlq and runs are all there. */
static int has_our_tables(const char *path)
{
    static const char sql[] = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                              " AND name IN ('events', 'dlq', 'runs')";
    char uri[3 * 4352 + 64]; /* every byte of the path may need escaping (%XX) */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ours = 0;

    if (anon_sqlite_uri(path, "immutable=1", uri, sizeof uri) == 0 &&
        sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOFOLLOW,
                        NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ours = sqlite3_column_int(st, 0) == 3;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ours;
}

int anon_spool_was_ours(const char *path)
{
    unsigned char h[100];
    struct stat st;
    ssize_t n = 0, r;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    while (n < (ssize_t)sizeof h && ((r = read(fd, h + n, sizeof h - (size_t)n)) > 0 ||
                                     (r < 0 && errno == EINTR)))
        if (r > 0)
            n += r;
    close(fd);
    if (n < (ssize_t)sizeof h || memcmp(h, SQLITE_MAGIC, sizeof SQLITE_MAGIC) != 0)
        return 0;   /* not even an SQLite header: not ours, whatever it is */
    if (be32(h + 68) == ANON_SPOOL_APP_ID)
        return 1;
    /* format 1 had no mark: its version and its tables, if SQLite can still read them */
    return be32(h + 68) == 0 && be32(h + 60) == 1 && has_our_tables(path);
}
