/* test_spool.c: open, permissions, migrate, refuse newer or damaged, append, emit. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"

static char dir[256];
static char errbuf[ANON_ERRLEN];

static anon_event *sample(const char *task)
{
    static const char *const json_fmt =
        "{\"task\":\"%s\",\"taskStatus\":\"completed\",\"transformationType\":\"redact\","
        "\"entityDetectorModel\":\"d\",\"entityValidatorModel\":\"v\",\"entityAugmenterModel\":\"a\"}";
    char json[512];
    anon_event *ev = NULL;

    snprintf(json, sizeof json, json_fmt, task);
    anon_event_from_json(json, strlen(json), &ev, NULL, 0);
    if (ev == NULL) {           /* an invalid task: build one that misses a field */
        ev = anon_event_new();
        anon_event_set_string(ev, "taskStatus", "completed", NULL, 0);
    }
    return ev;
}

static long long query_int(anon_spool *sp, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -999;

    if (sqlite3_prepare_v2(anon_spool_db(sp), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *query_text(anon_spool *sp, const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *v = NULL;

    if (sqlite3_prepare_v2(anon_spool_db(sp), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

static int mode_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static void test_open_creates_safely(void)
{
    char path[1024], sub[512];
    anon_spool *sp = NULL;
    mode_t old = umask(0);     /* a careless umask must not widen the modes */

    snprintf(sub, sizeof sub, "%s/a/b", dir);
    snprintf(path, sizeof path, "%s/spool.db", sub);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_OK);
    umask(old);
    T_EQ_INT(mode_of(sub), 0700);
    snprintf(sub, sizeof sub, "%s/a", dir);
    T_EQ_INT(mode_of(sub), 0700);
    T_EQ_INT(mode_of(path), 0600);
    if (sp != NULL) {
        char *jm = query_text(sp, "PRAGMA journal_mode");
        T_EQ_STR(jm, "wal");
        free(jm);
        T_EQ_INT(query_int(sp, "PRAGMA synchronous"), 2);     /* FULL */
        T_EQ_INT(query_int(sp, "PRAGMA user_version"), ANON_SPOOL_FORMAT);
        T_CHECK(query_int(sp, "PRAGMA busy_timeout") >= 1000);
        T_EQ_INT(query_int(sp, "SELECT count(*) FROM sqlite_master WHERE name IN "
                               "('events','dlq','runs','summary','dlq_summary')"), 5);
        T_EQ_STR(anon_spool_path(sp), path);
        /* SQLite gives the -wal and -shm the database's mode */
        snprintf(sub, sizeof sub, "%s/a/b/spool.db-wal", dir);
        T_EQ_INT(mode_of(sub), 0600);
        snprintf(sub, sizeof sub, "%s/a/b/spool.db-shm", dir);
        T_EQ_INT(mode_of(sub), 0600);
    }
    anon_spool_close(sp);
    /* reopening an existing spool works and changes nothing */
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_OK);
    anon_spool_close(sp);
}

static void test_refusals(void)
{
    char path[1024], ww[512];
    anon_spool *sp = NULL;
    int fd;

    /* a world-writable directory */
    snprintf(ww, sizeof ww, "%s/ww", dir);
    mkdir(ww, 0700);
    chmod(ww, 0777);
    snprintf(path, sizeof path, "%s/spool.db", ww);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_EPERM);
    T_CHECK(strstr(errbuf, "world-writable") != NULL);
    T_CHECK(sp == NULL);
    T_CHECK(access(path, F_OK) != 0);

    /* NO_CREATE on a missing spool creates nothing */
    snprintf(path, sizeof path, "%s/missing.db", dir);
    T_EQ_INT(anon_spool_open_ex(path, ANON_OPEN_NO_CREATE, &sp, errbuf, sizeof errbuf),
             ANON_EIO);
    T_CHECK(strstr(errbuf, "does not exist") != NULL);
    T_CHECK(access(path, F_OK) != 0);

    /* not a database: refused as corrupt, left as it was */
    snprintf(path, sizeof path, "%s/garbage.db", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    T_CHECK(write(fd, "this is not an SQLite database, just some text that is long enough "
                      "to look like a header and more text to fill the first page........",
                  134) == 134);
    close(fd);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_ECORRUPT);
    T_CHECK(strstr(errbuf, path) != NULL);
    {
        struct stat st;
        T_CHECK(stat(path, &st) == 0 && st.st_size == 134);
    }

    /* a -wal without its database: refused, nothing created */
    snprintf(path, sizeof path, "%s/orphan.db-wal", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    T_CHECK(write(fd, "walwalwal", 9) == 9);
    close(fd);
    snprintf(path, sizeof path, "%s/orphan.db", dir);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_ECORRUPT);
    T_CHECK(strstr(errbuf, "write-ahead log without its database") != NULL);
    T_CHECK(access(path, F_OK) != 0);

    /* a directory that cannot be created */
    T_EQ_INT(anon_spool_open("/proc/anon-telemetry-test/spool.db", &sp, errbuf, sizeof errbuf),
             ANON_ECANTCREAT);
    T_EQ_INT(anon_spool_open("", &sp, errbuf, sizeof errbuf), ANON_EINVAL);
}

/* Creates dir/name with setup_sql, then checks that opening it gives want_status with
 * want_msg in the message and leaves the file byte for byte as it was. */
static void refused_untouched(const char *name, const char *setup_sql, int want_status,
                              const char *want_msg)
{
    char path[1024], cmd[2200];
    anon_spool *sp = NULL;
    sqlite3 *db = NULL;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    T_EQ_INT(sqlite3_exec(db, setup_sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    snprintf(cmd, sizeof cmd, "sha256sum %s > %s.sum", path, path);
    T_EQ_INT(system(cmd), 0);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), want_status);
    T_CHECK(strstr(errbuf, want_msg) != NULL);
    T_CHECK(sp == NULL);
    anon_spool_close(sp);
    snprintf(cmd, sizeof cmd, "sha256sum -c --quiet %s.sum", path);
    T_EQ_INT(system(cmd), 0);
}

static void test_migrate_and_newer(void)
{
    char path[1024];
    anon_spool *sp = NULL;
    sqlite3 *db = NULL;

    /* format 0 is a new, empty database (as an operator's `sqlite3 spool.db
     * 'VACUUM'` would leave it): it is brought to the current format */
    snprintf(path, sizeof path, "%s/old.db", dir);
    T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    T_EQ_INT(sqlite3_exec(db, "VACUUM", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    chmod(path, 0600);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_OK);
    if (sp != NULL) {
        T_EQ_INT(query_int(sp, "PRAGMA user_version"), ANON_SPOOL_FORMAT);
        T_EQ_INT(query_int(sp, "SELECT count(*) FROM events"), 0);
    }
    anon_spool_close(sp);
    sp = NULL;

    /* what is not ours to write is refused and left byte for byte as it was: another
     * program's database (tables, no spool format), and a newer spool */
    refused_untouched("foreign.db",
                      "CREATE TABLE events(x); INSERT INTO events VALUES ('theirs');",
                      ANON_EIO, "not an anon-telemetry spool");
    refused_untouched("newer.db",
                      "PRAGMA journal_mode=DELETE; CREATE TABLE events(future);"
                      " PRAGMA user_version=99;",
                      ANON_ENEWER, "format version 99");
}

static void test_append(void)
{
    char path[1024], uuids[3][ANON_UUID_LEN + 1];
    anon_spool *sp = NULL;
    anon_event *evs[3] = {sample("batch"), sample("preview"), sample("batch")};
    anon_append_opts ao = {"3f2a", "1.2.3"};
    struct utsname u;
    char *s;

    snprintf(path, sizeof path, "%s/append.db", dir);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_OK);
    if (sp == NULL)
        return;
    setenv("NEMO_SESSION_PREFIX", "anonymizer-", 1);
    T_EQ_INT(anon_spool_append(sp, (const anon_event *const *)evs, 3, &ao, uuids, errbuf,
                               sizeof errbuf), ANON_OK);
    unsetenv("NEMO_SESSION_PREFIX");
    T_EQ_INT(query_int(sp, "SELECT count(*) FROM events"), 3);
    T_EQ_INT(query_int(sp, "SELECT count(*) FROM events WHERE status='pending' AND retry_count=0"
                           " AND next_attempt_at IS NULL AND sent_at IS NULL"), 3);
    T_EQ_INT(query_int(sp, "SELECT count(DISTINCT uuid) FROM events"), 3);
    s = query_text(sp, "SELECT group_concat(session_id || '|' || client_version || '|' || name ||"
                       " '|' || schema_version, ';') FROM events");
    T_EQ_STR(s, "anonymizer-3f2a|1.2.3|anonymizer_event|1.7;anonymizer-3f2a|1.2.3|anonymizer_event"
                "|1.7;anonymizer-3f2a|1.2.3|anonymizer_event|1.7");
    free(s);
    s = query_text(sp, "SELECT uuid FROM events ORDER BY id LIMIT 1");
    T_EQ_STR(s, uuids[0]);
    free(s);
    uname(&u);
    s = query_text(sp, "SELECT DISTINCT cpu_architecture FROM events");
    T_EQ_STR(s, u.machine);
    free(s);
    T_EQ_INT(query_int(sp, "SELECT count(*) FROM events WHERE queued_at GLOB "
                           "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:"
                           "[0-9][0-9].[0-9][0-9][0-9]Z'"), 3);
    s = query_text(sp, "SELECT json_extract(parameters, '$.task') FROM events ORDER BY id "
                       "LIMIT 1 OFFSET 1");
    T_EQ_STR(s, "preview");
    free(s);

    /* defaults: random 32-hex session, client version 'undefined' */
    T_EQ_INT(anon_spool_append(sp, (const anon_event *const *)evs, 1, NULL, NULL, errbuf,
                               sizeof errbuf), ANON_OK);
    s = query_text(sp, "SELECT session_id || '|' || client_version FROM events ORDER BY id DESC");
    T_CHECK(s != NULL && strlen(s) == 32 + 10 && strspn(s, "0123456789abcdef") == 32 &&
            strcmp(s + 32, "|undefined") == 0);
    free(s);

    /* all or none: one invalid event stores nothing */
    anon_event_free(evs[1]);
    evs[1] = sample("invalid");
    T_EQ_INT(anon_spool_append(sp, (const anon_event *const *)evs, 3, &ao, uuids, errbuf,
                               sizeof errbuf), ANON_EINVAL);
    T_CHECK(strstr(errbuf, "event 2: task: missing required field") != NULL);
    T_EQ_INT(query_int(sp, "SELECT count(*) FROM events"), 4);
    /* a session id with a control character is refused */
    ao.session_id = "bad\nid";
    T_EQ_INT(anon_spool_append(sp, (const anon_event *const *)evs, 1, &ao, NULL, errbuf,
                               sizeof errbuf), ANON_EINVAL);
    T_CHECK(strstr(errbuf, "session id") != NULL);
    T_EQ_INT(query_int(sp, "SELECT count(*) FROM events"), 4);
    T_EQ_INT(anon_spool_append(sp, NULL, 0, NULL, NULL, errbuf, sizeof errbuf), ANON_OK);

    /* ids are never reused once a row left events (dlq rows keep their id) */
    {
        long long top = query_int(sp, "SELECT max(id) FROM events");
        T_EQ_INT(sqlite3_exec(anon_spool_db(sp), "DELETE FROM events WHERE id = "
                              "(SELECT max(id) FROM events)", NULL, NULL, NULL), SQLITE_OK);
        T_EQ_INT(anon_spool_append(sp, (const anon_event *const *)evs, 1, NULL, NULL, errbuf,
                                   sizeof errbuf), ANON_OK);
        T_EQ_INT(query_int(sp, "SELECT max(id) FROM events"), top + 1);
    }

    anon_spool_close(sp);
    for (int i = 0; i < 3; i++)
        anon_event_free(evs[i]);
}

/* anon_spool_append_each's source: the events of a list, then an error when asked to. */
struct feed {
    const char *const *tasks;
    size_t n, next;
    int fail_at_end;
};

static int feed_next(void *ctx, anon_event **ret_ev, char *err, size_t errlen)
{
    struct feed *f = ctx;

    *ret_ev = NULL;
    if (f->next == f->n)
        return f->fail_at_end ? anon_seterr(err, errlen, ANON_EINVAL, "line 9: feed failed")
                              : ANON_OK;
    *ret_ev = sample(f->tasks[f->next++]);
    return ANON_OK;
}

static void test_append_each(void)
{
    static const char *const tasks[] = {"batch", "preview", "batch"};
    char path[1024], uuids[3][ANON_UUID_LEN + 1];
    anon_spool *sp = NULL;
    anon_append_opts ao = {"each", "2.0"};
    struct feed f = {tasks, 3, 0, 0};
    size_t n = 99;
    char *s;

    snprintf(path, sizeof path, "%s/each.db", dir);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_OK);
    if (sp == NULL)
        return;
    T_EQ_INT(anon_spool_append_each(sp, &ao, feed_next, &f, uuids, 3, &n, errbuf,
                                    sizeof errbuf), ANON_OK);
    T_EQ_INT(n, 3);
    T_EQ_INT(query_int(sp, "SELECT count(*) FROM events WHERE session_id = 'each' AND "
                           "client_version = '2.0'"), 3);
    s = query_text(sp, "SELECT group_concat(json_extract(parameters, '$.task'), ',') FROM "
                       "(SELECT parameters FROM events ORDER BY id)");
    T_EQ_STR(s, "batch,preview,batch");
    free(s);
    s = query_text(sp, "SELECT uuid FROM events ORDER BY id DESC LIMIT 1");
    T_EQ_STR(s, uuids[2]);
    free(s);

    /* a source that fails after two events: none of them is stored */
    f.next = 0;
    f.n = 2;
    f.fail_at_end = 1;
    T_EQ_INT(anon_spool_append_each(sp, &ao, feed_next, &f, uuids, 3, &n, errbuf,
                                    sizeof errbuf), ANON_EINVAL);
    T_CHECK(strstr(errbuf, "line 9: feed failed") != NULL);
    T_EQ_INT(n, 0);
    T_EQ_INT(query_int(sp, "SELECT count(*) FROM events"), 3);

    /* more events than the caller made room for: refused, nothing stored */
    f.next = 0;
    f.n = 3;
    f.fail_at_end = 0;
    T_EQ_INT(anon_spool_append_each(sp, &ao, feed_next, &f, uuids, 2, &n, errbuf,
                                    sizeof errbuf), ANON_EINVAL);
    T_EQ_INT(query_int(sp, "SELECT count(*) FROM events"), 3);
    /* an invalid event (a required field missing) rolls everything back */
    {
        static const char *const bad[] = {"batch", "invalid"};
        struct feed g = {bad, 2, 0, 0};
        T_EQ_INT(anon_spool_append_each(sp, &ao, feed_next, &g, uuids, 3, &n, errbuf,
                                        sizeof errbuf), ANON_EINVAL);
        T_CHECK(strstr(errbuf, "missing required field") != NULL);
        T_EQ_INT(query_int(sp, "SELECT count(*) FROM events"), 3);
    }
    anon_spool_close(sp);
}

/* Where a spool may live (place.c): the rules the library applies to every caller. */
static void test_place(void)
{
    char path[1024], sub[600], link[1100];
    anon_spool *sp = NULL;
    struct stat st;

    /* group-writable: refused, nothing created */
    snprintf(sub, sizeof sub, "%s/gw", dir);
    mkdir(sub, 0700);
    chmod(sub, 0770);
    snprintf(path, sizeof path, "%s/spool.db", sub);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_EPERM);
    T_CHECK(strstr(errbuf, "group-writable") != NULL);
    T_CHECK(access(path, F_OK) != 0);

    /* a symlinked spool file: refused, the file it points to untouched */
    snprintf(path, sizeof path, "%s/append.db", dir);
    snprintf(link, sizeof link, "%s/link.db", dir);
    T_EQ_INT(symlink(path, link), 0);
    T_EQ_INT(anon_spool_open(link, &sp, errbuf, sizeof errbuf), ANON_EPERM);
    T_CHECK(strstr(errbuf, "symbolic link") != NULL);
    T_CHECK(sp == NULL);

    /* root creating a spool in another user's directory gives it to that user (the
     * library never changes its caller's identity, so it must not leave root's file) */
    if (geteuid() == 0) {
        snprintf(sub, sizeof sub, "%s/user", dir);
        mkdir(sub, 0700);
        T_EQ_INT(chown(sub, 65534, 65534), 0);
        snprintf(path, sizeof path, "%s/new/spool.db", sub);
        T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_OK);
        anon_spool_close(sp);
        sp = NULL;
        T_CHECK(stat(path, &st) == 0 && st.st_uid == 65534);
        snprintf(sub, sizeof sub, "%s/user/new", dir);
        T_CHECK(stat(sub, &st) == 0 && st.st_uid == 65534 && (st.st_mode & 0777) == 0700);
    }
}

static void test_emit(void)
{
    char path[1024], uuid[ANON_UUID_LEN + 1];
    anon_event *ev = sample("batch");
    anon_emit_opts eo = {NULL, "s1", "9.9", 0};
    anon_spool *sp = NULL;

    snprintf(path, sizeof path, "%s/emit/spool.db", dir);
    eo.spool_path = path;
    setenv("NEMO_TELEMETRY_ENABLED", "false", 1);
    T_EQ_INT(anon_telemetry_emit(ev, &eo, uuid, errbuf, sizeof errbuf), ANON_DISABLED);
    T_CHECK(access(path, F_OK) != 0);       /* nothing created either */
    setenv("NEMO_TELEMETRY_ENABLED", "TRUE", 1);
    eo.no_emit_telemetry = 1;
    T_EQ_INT(anon_telemetry_emit(ev, &eo, uuid, errbuf, sizeof errbuf), ANON_DISABLED);
    T_CHECK(access(path, F_OK) != 0);
    eo.no_emit_telemetry = 0;
    unsetenv("NEMO_TELEMETRY_ENABLED");
    T_EQ_INT(anon_telemetry_emit(ev, &eo, uuid, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(strlen(uuid), 36);
    T_EQ_INT(anon_telemetry_emit(NULL, &eo, uuid, errbuf, sizeof errbuf), ANON_EINVAL);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_OK);
    if (sp != NULL) {
        char q[256];
        snprintf(q, sizeof q, "SELECT count(*) FROM events WHERE uuid='%s' AND session_id='s1'"
                              " AND client_version='9.9'", uuid);
        T_EQ_INT(query_int(sp, q), 1);
    }
    anon_spool_close(sp);
    /* the default path comes from ANON_TELEMETRY_SPOOL */
    setenv("ANON_TELEMETRY_SPOOL", path, 1);
    T_EQ_INT(anon_telemetry_emit(ev, NULL, NULL, errbuf, sizeof errbuf), ANON_OK);
    {
        char def[512];
        T_EQ_INT(anon_spool_default_path(def, sizeof def, NULL, 0), ANON_OK);
        T_EQ_STR(def, path);
        unsetenv("ANON_TELEMETRY_SPOOL");
        if (geteuid() == 0) {
            anon_spool_default_path(def, sizeof def, NULL, 0);
            T_EQ_STR(def, "/var/spool/anon-telemetry/spool.db");
        }
    }
    anon_event_free(ev);
}

static void test_move_aside(void)
{
    char path[1024], moved[1200], wal[1300];
    int fd;

    snprintf(path, sizeof path, "%s/broken.db", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    close(fd);
    snprintf(wal, sizeof wal, "%s-wal", path);
    fd = open(wal, O_WRONLY | O_CREAT, 0600);
    close(fd);
    T_EQ_INT(anon_spool_move_aside(path, moved, sizeof moved, errbuf, sizeof errbuf), ANON_OK);
    T_CHECK(access(path, F_OK) != 0);
    T_CHECK(access(moved, F_OK) == 0);
    T_CHECK(strstr(moved, "broken.db.corrupt-") != NULL);
    snprintf(wal, sizeof wal, "%s-wal", moved);
    T_CHECK(access(wal, F_OK) == 0);
}

int main(void)
{
    char cmd[600];

    snprintf(dir, sizeof dir, "%s/anon-unit.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL)
        return 2;
    unsetenv("NEMO_TELEMETRY_ENABLED");
    unsetenv("NEMO_SESSION_PREFIX");
    unsetenv("ANON_TELEMETRY_SPOOL");
    test_open_creates_safely();
    test_refusals();
    test_migrate_and_newer();
    test_append();
    test_append_each();
    test_place();
    test_emit();
    test_move_aside();
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx %s; rm -rf %s", dir, dir);
    if (system(cmd) != 0)
        printf("warning: could not remove %s\n", dir);
    return t_done();
}
