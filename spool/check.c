/*
 * check.c: the cheap check a shipper run makes when the full one (PRAGMA quick_check,
 * which reads every page: 1.7 s on a 1.5 GB spool) is not due.
 *
 * What it catches without reading the spool: a file shorter than its own header says (a
 * copy cut short, a truncated file system) and a damaged right edge of each table (the
 * pages every append and every claim walk). In one read transaction:
 *   - page_count x page_size <= size of the file + size of the -wal. Every page of the
 *     snapshot is in the file or in a -wal frame (a frame is bigger than a page), and
 *     while we read, no checkpoint can truncate either below what our snapshot needs.
 *     The -wal is measured before the file: a checkpoint moves pages from the one to the
 *     other in that order, so racing it can only overcount;
 *   - max(rowid) of events, dlq and runs: the path from each root to its last leaf.
 * SQLite's own checks (the header, the schema) ran when the spool was opened.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

static long long file_size(const char *path, const char *suffix)
{
    char p[4400];
    struct stat st;

    snprintf(p, sizeof p, "%s%s", path, suffix);
    return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

/* One integer from sql; SQLite's result code. */
static int one_int(sqlite3 *db, const char *sql, long long *ret)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    *ret = 0;
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        *ret = sqlite3_column_int64(st, 0);
        src = SQLITE_OK;
    } else if (src == SQLITE_DONE) {
        src = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return src;
}

int anon_spool_light_check(sqlite3 *db, const char *shown, char *err, size_t errlen)
{
    static const char *const edges[] = {
        "SELECT max(rowid) FROM events",
        "SELECT max(rowid) FROM dlq",
        "SELECT max(rowid) FROM runs",
    };
    const char *file = sqlite3_db_filename(db, "main");
    long long pages, psize, wal, size, top;
    int src, rc = ANON_OK;

    if (file == NULL || file[0] == '\0')
        return anon_seterr(err, errlen, ANON_EIO, "spool %s: no file to check", shown);
    if ((src = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
        goto sqlfail;
    /* the snapshot starts here, with its page count */
    if ((src = one_int(db, "SELECT page_count FROM pragma_page_count", &pages)) != SQLITE_OK ||
        (src = one_int(db, "SELECT page_size FROM pragma_page_size", &psize)) != SQLITE_OK)
        goto sqlfail;
    wal = file_size(file, "-wal");
    size = file_size(file, "");
    if (pages * psize > size + wal) {
        rc = anon_seterr(err, errlen, ANON_ECORRUPT,
                         "spool %s is shorter than it says: %lld pages of %lld bytes, but the "
                         "file has %lld bytes and its -wal %lld (truncated?)",
                         shown, pages, psize, size, wal);
        goto out;
    }
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        if ((src = one_int(db, edges[i], &top)) != SQLITE_OK)
            goto sqlfail;
    goto out;
sqlfail:
    rc = anon_seterr(err, errlen, anon_sqlite_status(src), "spool %s fails its check: %s",
                     shown, sqlite3_errmsg(db));
out:
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
}
