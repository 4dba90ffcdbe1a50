/*
 * test_faults.c: damaged spools through the C API. A truncated file, garbage bytes,
 * a newer format, a -wal without its database, a directory in the file's place: every
 * one is refused with an error status and a message naming the path, nothing crashes,
 * the damaged file is not rewritten, and the calling process goes on (it appends to a
 * good spool afterwards). Ends with seeded random damage (byte flips, zeroed and
 * garbage pages) where the only rule is: a status comes back, never a crash.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"

static char dir[256];
static char good[512];          /* a valid spool with NROWS events, closed, checkpointed */
static unsigned char *good_bytes;
static size_t good_len;
#define NROWS 300

static anon_event *sample(int n)
{
    char json[512];
    anon_event *ev = NULL;

    snprintf(json, sizeof json,
             "{\"task\":\"batch\",\"taskStatus\":\"completed\",\"transformationType\":\"redact\","
             "\"entityDetectorModel\":\"d\",\"entityValidatorModel\":\"v\","
             "\"entityAugmenterModel\":\"a\",\"numInputRecords\":%d}", n);
    anon_event_from_json(json, strlen(json), &ev, NULL, 0);
    return ev;
}

static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok;

    if (fd < 0)
        return -1;
    ok = write(fd, data, len) == (ssize_t)len;
    close(fd);
    return ok ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *ret_len)
{
    struct stat st;
    unsigned char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf != NULL && read(fd, buf, (size_t)st.st_size) != st.st_size) {
        free(buf);
        buf = NULL;
    }
    close(fd);
    *ret_len = (size_t)st.st_size;
    return buf;
}

static void remove_spool(const char *path)
{
    char side[700];

    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* Is the file at path byte for byte data? */
static int same_bytes(const char *path, const unsigned char *data, size_t len)
{
    size_t n = 0;
    unsigned char *now = read_file(path, &n);
    int same = now != NULL && n == len && memcmp(now, data, len) == 0;

    free(now);
    return same;
}

/* One open + one-event append; returns the first status that is not ANON_OK. */
static int try_append(const char *path, char *err, size_t errlen)
{
    anon_spool *sp = NULL;
    anon_event *ev = sample(1);
    const anon_event *evs[1] = {ev};
    int st = anon_spool_open(path, &sp, err, errlen);

    if (st == ANON_OK)
        st = anon_spool_append(sp, evs, 1, NULL, NULL, err, errlen);
    anon_spool_close(sp);
    anon_event_free(ev);
    return st;
}

static void make_good_spool(void)
{
    anon_spool *sp = NULL;
    anon_event *evs[NROWS];
    char err[ANON_ERRLEN];

    snprintf(good, sizeof good, "%s/good.db", dir);
    for (int i = 0; i < NROWS; i++)
        evs[i] = sample(i);
    T_EQ_INT(anon_spool_open(good, &sp, err, sizeof err), ANON_OK);
    T_EQ_INT(anon_spool_append(sp, (const anon_event *const *)evs, NROWS, NULL, NULL, err,
                               sizeof err),
             ANON_OK);
    anon_spool_close(sp);   /* the last connection checkpoints and removes the -wal */
    for (int i = 0; i < NROWS; i++)
        anon_event_free(evs[i]);
    good_bytes = read_file(good, &good_len);
    T_CHECK(good_bytes != NULL && good_len >= 16 * 4096);
}

/* The spool at path must be refused with want (a status) and a message naming it, and
 * be left as it was. */
static void expect_refused(const char *what, const char *path, int want,
                           const char *msg_part)
{
    char err[ANON_ERRLEN] = "";
    size_t before_len = 0;
    unsigned char *before = read_file(path, &before_len);
    int st = try_append(path, err, sizeof err);

    if (!T_EQ_INT(st, want))
        printf("  (%s: %s)\n", what, err);
    T_EQ_INT(anon_status_exit_code(st), 74);
    if (!T_CHECK(strstr(err, path) != NULL))
        printf("  (%s: message without the path: %s)\n", what, err);
    if (msg_part != NULL && !T_CHECK(strstr(err, msg_part) != NULL))
        printf("  (%s: message without \"%s\": %s)\n", what, msg_part, err);
    if (before != NULL && !T_CHECK(same_bytes(path, before, before_len)))
        printf("  (%s: the refused file was changed)\n", what);
    free(before);
}

static void test_truncated(void)
{
    char path[600];
    /* inside the header, just after it, inside page 1, page boundaries, mid-file (a file
     * of 1 byte SQLite takes for an empty database: nothing could have been stored) */
    const size_t sizes[] = {2, 15, 16, 50, 99, 100, 101, 512, 4095, 4096, 4097, 8192,
                            good_len / 2, good_len / 2 + 1000, good_len - 4096};

    snprintf(path, sizeof path, "%s/truncated.db", dir);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char what[64];
        remove_spool(path);
        T_CHECK(write_file(path, good_bytes, sizes[i]) == 0);
        snprintf(what, sizeof what, "truncated to %zu bytes", sizes[i]);
        expect_refused(what, path, ANON_ECORRUPT, NULL);
    }
    remove_spool(path);
}

static void test_garbage(void)
{
    char path[600];
    unsigned char *bytes = malloc(good_len);
    uint32_t x = 12345;

    snprintf(path, sizeof path, "%s/garbage.db", dir);
    /* the 100-byte header overwritten */
    memcpy(bytes, good_bytes, good_len);
    for (size_t i = 0; i < 100; i++)
        bytes[i] = (unsigned char)(x = x * 1103515245u + 12345u) >> 16;
    remove_spool(path);
    write_file(path, bytes, good_len);
    expect_refused("garbage header", path, ANON_ECORRUPT, "not a database");

    /* every page after the first overwritten with garbage, then with zeros */
    memcpy(bytes, good_bytes, good_len);
    for (size_t i = 4096; i < good_len; i++)
        bytes[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    remove_spool(path);
    write_file(path, bytes, good_len);
    expect_refused("garbage pages", path, ANON_ECORRUPT, "malformed");
    memset(bytes + 4096, 0, good_len - 4096);
    remove_spool(path);
    write_file(path, bytes, good_len);
    expect_refused("zeroed pages", path, ANON_ECORRUPT, "malformed");

    /* a file that was never a database, and text */
    for (size_t i = 0; i < 8192; i++)
        bytes[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    remove_spool(path);
    write_file(path, bytes, 8192);
    expect_refused("random bytes", path, ANON_ECORRUPT, "not a database");
    remove_spool(path);
    write_file(path, "hello, I am a text file and not a spool at all\n", 47);
    expect_refused("text file", path, ANON_ECORRUPT, NULL);
    remove_spool(path);
    free(bytes);
}

static void test_newer(void)
{
    char path[600], err[ANON_ERRLEN];
    unsigned char *bytes = malloc(good_len);

    /* PRAGMA user_version lives at offset 60 of the header, big-endian */
    snprintf(path, sizeof path, "%s/newer.db", dir);
    memcpy(bytes, good_bytes, good_len);
    bytes[60] = 0, bytes[61] = 0, bytes[62] = 0, bytes[63] = ANON_SPOOL_FORMAT + 1;
    remove_spool(path);
    write_file(path, bytes, good_len);
    expect_refused("newer format", path, ANON_ENEWER, "newer than this anon-telemetry");
    /* and through the one-call API: an error status, never a crash */
    {
        anon_event *ev = sample(2);
        anon_emit_opts o = {.spool_path = path};
        char uuid[ANON_UUID_LEN + 1];
        T_EQ_INT(anon_telemetry_emit(ev, &o, uuid, err, sizeof err), ANON_ENEWER);
        anon_event_free(ev);
    }
    T_CHECK(same_bytes(path, bytes, good_len));
    remove_spool(path);
    free(bytes);
}

static void test_orphan_wal(void)
{
    char path[600], wal[700], err[ANON_ERRLEN];
    anon_spool *sp = NULL;
    anon_event *ev = sample(3);
    const anon_event *evs[1] = {ev};

    /* a real WAL, left when its database was deleted */
    snprintf(path, sizeof path, "%s/orphan.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    remove_spool(path);
    T_EQ_INT(anon_spool_open(path, &sp, err, sizeof err), ANON_OK);
    T_EQ_INT(anon_spool_append(sp, evs, 1, NULL, NULL, err, sizeof err), ANON_OK);
    {   /* copy the -wal while open, as a crash would leave it */
        size_t n = 0;
        unsigned char *w = read_file(wal, &n);
        anon_spool_close(sp);
        sp = NULL;
        remove_spool(path);
        T_CHECK(w != NULL && n > 0);
        if (w != NULL)
            write_file(wal, w, n);
        free(w);
    }
    T_EQ_INT(try_append(path, err, sizeof err), ANON_ECORRUPT);
    T_CHECK(strstr(err, wal) != NULL);
    T_CHECK(access(path, F_OK) != 0);     /* no new database beside the WAL */
    {
        anon_emit_opts o = {.spool_path = path};
        T_EQ_INT(anon_telemetry_emit(ev, &o, NULL, err, sizeof err), ANON_ECORRUPT);
    }
    T_CHECK(access(path, F_OK) != 0);
    remove_spool(path);
    anon_event_free(ev);
}

static void test_not_a_file(void)
{
    char path[600], err[ANON_ERRLEN];

    snprintf(path, sizeof path, "%s/adir.db", dir);
    T_CHECK(mkdir(path, 0700) == 0);
    T_EQ_INT(try_append(path, err, sizeof err), ANON_EIO);
    T_CHECK(strstr(err, path) != NULL);
    rmdir(path);
}

/* A damaged -wal beside a good database: SQLite ignores frames whose checksums fail,
 * so the database is what it was and appends go on; nothing acknowledged is lost. */
static void test_garbage_wal(void)
{
    char path[600], wal[700], err[ANON_ERRLEN];
    unsigned char junk[4096 + 32];
    anon_spool *sp = NULL;
    uint32_t x = 99;

    snprintf(path, sizeof path, "%s/gwal.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    remove_spool(path);
    write_file(path, good_bytes, good_len);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    write_file(wal, junk, sizeof junk);
    T_EQ_INT(try_append(path, err, sizeof err), ANON_OK);
    T_EQ_INT(anon_spool_open(path, &sp, err, sizeof err), ANON_OK);
    if (sp != NULL) {
        sqlite3_stmt *st = NULL;
        long long n = -1;
        if (sqlite3_prepare_v2(anon_spool_db(sp), "SELECT count(*) FROM events", -1, &st,
                               NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        T_EQ_INT(n, NROWS + 1);
    }
    anon_spool_close(sp);
    remove_spool(path);
}

/* Seeded random damage: a status always comes back (ASan/valgrind watch for the rest);
 * any refusal names the path and maps to exit 74. The damage positions repeat, but the
 * spool they land on differs each run (new uuids and times), so how many rounds are
 * refused, and so the number of checks, varies a little from run to run. */
static void test_random_damage(void)
{
    char path[600], err[ANON_ERRLEN];
    unsigned char *bytes = malloc(good_len);
    uint32_t x = 2026;
    int refused = 0, accepted = 0;

    snprintf(path, sizeof path, "%s/random.db", dir);
    for (int round = 0; round < 120; round++) {
        size_t len = good_len;
        memcpy(bytes, good_bytes, good_len);
        int kind = round % 4;
        x = x * 1103515245u + 12345u;
        if (kind == 0) {            /* flip a few bytes anywhere */
            for (int k = 0; k < 1 + round % 7; k++) {
                x = x * 1103515245u + 12345u;
                bytes[(x >> 8) % good_len] ^= (unsigned char)(1u << (x % 8));
            }
        } else if (kind == 1) {     /* a page of garbage */
            size_t page = (x >> 8) % (good_len / 4096);
            for (size_t i = 0; i < 4096; i++)
                bytes[page * 4096 + i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
        } else if (kind == 2) {     /* a zeroed page */
            size_t page = (x >> 8) % (good_len / 4096);
            memset(bytes + page * 4096, 0, 4096);
        } else {                    /* truncated anywhere */
            len = (x >> 8) % good_len;
        }
        remove_spool(path);
        write_file(path, bytes, len);
        err[0] = '\0';
        int st = try_append(path, err, sizeof err);
        if (st == ANON_OK) {
            accepted++;
        } else {
            refused++;
            if (!T_CHECK(st == ANON_ECORRUPT || st == ANON_EIO || st == ANON_ENEWER))
                printf("  (round %d: status %d: %s)\n", round, st, err);
            T_CHECK(strstr(err, path) != NULL);
        }
    }
    /* damage an append never reads goes unnoticed by the writer (no quick_check on
     * the hot path; the shipper checks): both outcomes must occur */
    T_CHECK(refused > 0);
    printf("random damage: %d refused, %d accepted (damage the append did not touch)\n",
           refused, accepted);
    remove_spool(path);
    free(bytes);
}

/* After all of that, the same process still appends to a good spool. */
static void test_process_goes_on(void)
{
    char path[600], err[ANON_ERRLEN];

    snprintf(path, sizeof path, "%s/after.db", dir);
    T_EQ_INT(try_append(path, err, sizeof err), ANON_OK);
    T_EQ_INT(try_append(good, err, sizeof err), ANON_OK);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof dir, "%s/anon-faults.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    make_good_spool();
    if (good_bytes != NULL) {
        test_truncated();
        test_garbage();
        test_newer();
        test_garbage_wal();
        test_random_damage();
    }
    test_orphan_wal();
    test_not_a_file();
    test_process_goes_on();
    free(good_bytes);
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            printf("could not remove %s\n", dir);
    }
    return t_done();
}
