/*
 * readonly.c: reading a spool that cannot be written (a read-only file system: a mounted
 * backup, a medium carried from another host, a read-only bind mount).
 *
 * A spool is in WAL mode, and SQLite reads a WAL database through its -shm index:
 *   - when -wal and -shm are there (a spool left by a shipper, which does not checkpoint
 *     at close, or by a process that died), a read-only connection maps the -shm
 *     read-only and sees everything the -wal holds;
 *   - when neither is there (the last connection checkpointed and removed them), there is
 *     nothing to index, but SQLite cannot create the -shm, so it answers "unable to open
 *     database file". On a read-only file system nothing can change the file while we
 *     read it, so it is opened immutable=1, which needs no -shm: exact, since the whole
 *     spool is in the main file;
 *   - a -wal with content but no -shm (copied without it) cannot be read in place:
 *     immutable would ignore the -wal's events, so it is refused, saying what to do.
 * PRAGMA query_only would not help: the failure is opening, not writing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

/* The directory part of path, into buf. */
static void dir_part(const char *path, char *buf, size_t buflen)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(buf, buflen, ".");
    else if (slash == path)
        snprintf(buf, buflen, "/");
    else
        snprintf(buf, buflen, "%.*s", (int)(slash - path), path);
}

int anon_spool_on_read_only_fs(const char *real)
{
    char dir[4352];
    struct statvfs vfs;

    dir_part(real, dir, sizeof dir);
    return statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
}

int anon_spool_writable(const char *real)
{
    char dir[4352];

    dir_part(real, dir, sizeof dir);
    /* the file, and the directory where SQLite makes the -wal and -shm */
    return access(real, W_OK) == 0 && access(dir, W_OK | X_OK) == 0;
}

/* Opens real read-only with the URI query given and reads the schema (which makes SQLite
 * open the -wal and -shm, where it fails). SQLite's result code. */
static int try_open(const char *real, const char *query, sqlite3 **ret_db)
{
    char uri[3 * 4352 + 64]; /* every byte of the path may need escaping (%XX) */
    int src;

    *ret_db = NULL;
    if (anon_sqlite_uri(real, query, uri, sizeof uri) != 0)
        return SQLITE_CANTOPEN;
    src = sqlite3_open_v2(uri, ret_db,
                          SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOFOLLOW, NULL);
    if (src == SQLITE_OK) {
        sqlite3_extended_result_codes(*ret_db, 1);
        src = sqlite3_exec(*ret_db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    }
    if (src != SQLITE_OK) {
        sqlite3_close(*ret_db);
        *ret_db = NULL;
    }
    return src;
}

int anon_spool_open_read_only(const char *real, const char *shown, sqlite3 **ret_db,
                              char *err, size_t errlen)
{
    char wal[4400];
    struct stat st;
    int src, rofs = anon_spool_on_read_only_fs(real);

    src = try_open(real, "mode=ro", ret_db);
    if (src == SQLITE_OK)
        return ANON_OK;
    snprintf(wal, sizeof wal, "%s-wal", real);
    if ((src & 0xff) == SQLITE_CANTOPEN && rofs) {
        if (lstat(wal, &st) != 0 || st.st_size == 0) {
            /* the whole spool is in the main file, and nothing can change it now */
            src = try_open(real, "immutable=1", ret_db);
            if (src == SQLITE_OK)
                return ANON_OK;
        } else {
            return anon_seterr(err, errlen, ANON_EIO,
                               "spool %s is on a read-only file system and its write-ahead "
                               "log (%s-wal, %lld bytes) cannot be read without its -shm "
                               "file: copy the spool and its -wal to a writable directory "
                               "and read the copy",
                               shown, shown, (long long)st.st_size);
        }
    }
    return anon_seterr(err, errlen, anon_sqlite_status(src), "spool %s: cannot open it "
                       "read-only%s: %s", shown,
                       rofs ? " (on a read-only file system)" : "", sqlite3_errstr(src));
}
