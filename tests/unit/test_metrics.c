/*
 * test_metrics.c: shipper/metrics.c. The text of an empty and of a busy spool (every
 * family whole, HELP and TYPE before its samples, each family once), label values
 * escaped, a spool that cannot be read, the relay's counters, and the textfile's
 * atomic writing (its mode, no temporary file left, a missing or unwritable directory).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "test.h"

static char dir[] = "/tmp/anon-test-metrics.XXXXXX";

/* The value of the line that starts with sample + " ", or -1. */
static double value(const char *text, const char *sample)
{
    size_t n = strlen(sample);

    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, sample, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

/* 1 when every sample's family was announced right before its samples, once. */
static int well_formed(const char *text)
{
    char seen[64][96], cur[96] = "";
    int nseen = 0;
    const char *p = text;

    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        char name[96];
        size_t len;

        if (end == NULL)
            return 0; /* every line ends in a line feed */
        if (strncmp(p, "# HELP ", 7) == 0) {
            len = strcspn(p + 7, " ");
            snprintf(cur, sizeof cur, "%.*s", (int)len, p + 7);
            for (int i = 0; i < nseen; i++)
                if (strcmp(seen[i], cur) == 0)
                    return 0; /* a family twice */
            if (nseen < 64)
                snprintf(seen[nseen++], sizeof seen[0], "%s", cur);
        } else if (strncmp(p, "# TYPE ", 7) == 0) {
            if (strncmp(p + 7, cur, strlen(cur)) != 0)
                return 0;
        } else {
            len = strcspn(p, "{ ");
            snprintf(name, sizeof name, "%.*s", (int)len, p);
            if (strcmp(name, cur) != 0)
                return 0; /* a sample outside its family */
        }
        p = end + 1;
    }
    return 1;
}

static void test_no_spool(void)
{
    anon_buf b;
    char err[ANON_ERRLEN];

    anon_buf_init(&b);
    T_EQ_INT(metrics_spool(&b, NULL, NULL, err, sizeof err), ANON_OK);
    T_CHECK(well_formed(b.data));
    T_CHECK(value(b.data, "anon_telemetry_spool_error") == 0);
    T_CHECK(value(b.data, "anon_telemetry_events{status=\"pending\"}") == 0);
    T_CHECK(value(b.data, "anon_telemetry_events{status=\"dlq\"}") == 0);
    T_CHECK(strstr(b.data, "anon_telemetry_last_run") == NULL); /* no run: no family */
    T_CHECK(strstr(b.data, "anon_telemetry_dlq_events") == NULL);
    anon_buf_free(&b);
}

static void test_busy_spool(void)
{
    char path[256], err[ANON_ERRLEN];
    anon_spool *sp = NULL;
    anon_buf b;

    snprintf(path, sizeof path, "%s/spool.db", dir);
    T_EQ_INT(anon_spool_open(path, &sp, err, sizeof err), ANON_OK);
    /* rows as the commands would leave them, written here directly: a test fixture */
    T_EQ_INT(sqlite3_exec(anon_spool_db(sp),
                          "INSERT INTO events (uuid, schema_version, session_id, client_version,"
                          " cpu_architecture, queued_at, parameters, status)"
                          " VALUES ('a', '1.7', 's', 'v', 'x', '2026-12-01T00:00:00.000Z', '{}',"
                          " 'pending'),"
                          " ('b', '1.7', 's', 'v', 'x', '2026-12-01T00:00:00.000Z', '{}', 'sent');"
                          "INSERT INTO dlq (id, uuid, schema_version, session_id, client_version,"
                          " cpu_architecture, queued_at, parameters, moved_at, reason)"
                          " VALUES (10, 'c', '1.7', 's', 'v', 'x', '2026-12-01T00:00:00.000Z', '{}',"
                          " '2026-12-01T00:00:00.000Z', 'a \"quoted\" \\ reason' || char(10) || 'x');"
                          "INSERT INTO runs (started_at, finished_at, exit_code, sent, retried, dead)"
                          " VALUES ('2026-12-01T00:00:01.250Z', '2026-12-01T00:00:02.000Z', 75, 1,"
                          " 2, 3);",
                          NULL, NULL, NULL),
             SQLITE_OK);
    anon_buf_init(&b);
    T_EQ_INT(metrics_spool(&b, sp, path, err, sizeof err), ANON_OK);
    T_CHECK(well_formed(b.data));
    T_CHECK(value(b.data, "anon_telemetry_events{status=\"pending\"}") == 1);
    T_CHECK(value(b.data, "anon_telemetry_events{status=\"sent\"}") == 1);
    T_CHECK(value(b.data, "anon_telemetry_events{status=\"dlq\"}") == 1);
    T_CHECK(value(b.data, "anon_telemetry_events_due") == 1);
    /* backslash, double quote and line feed escaped: one sample, one line */
    T_CHECK(value(b.data, "anon_telemetry_dlq_events{reason=\"a \\\"quoted\\\" \\\\ reason\\nx\"}") ==
            1);
    T_CHECK(value(b.data, "anon_telemetry_last_run_start_timestamp_seconds") ==
            1796083201.25);
    T_CHECK(value(b.data, "anon_telemetry_last_run_exit_status") == 75);
    T_CHECK(value(b.data, "anon_telemetry_last_run_events{result=\"retried\"}") == 2);
    T_CHECK(value(b.data, "anon_telemetry_last_run_events{result=\"dead\"}") == 3);
    T_CHECK(value(b.data, "anon_telemetry_spool_bytes") > 0);
    T_CHECK(value(b.data, "anon_telemetry_oldest_pending_age_seconds") > 86400);
    T_CHECK(strstr(b.data, ",spool_id=\"") != NULL);
    anon_buf_free(&b);
    anon_spool_close(sp);

    /* the same through metrics_spool_at, which opens read-only */
    anon_buf_init(&b);
    T_EQ_INT(metrics_spool_at(&b, path, err, sizeof err), ANON_OK);
    T_CHECK(value(b.data, "anon_telemetry_events{status=\"pending\"}") == 1);
    anon_buf_free(&b);
}

static void test_unreadable(void)
{
    char path[256], err[ANON_ERRLEN] = "";
    FILE *f;
    anon_buf b;

    snprintf(path, sizeof path, "%s/junk.db", dir);
    f = fopen(path, "w");
    T_CHECK(f != NULL);
    if (f != NULL) {
        for (int i = 0; i < 200; i++)
            fputs("not a database. ", f);
        fclose(f);
    }
    anon_buf_init(&b);
    T_CHECK(metrics_spool_at(&b, path, err, sizeof err) != ANON_OK);
    T_CHECK(strstr(err, "junk.db") != NULL);
    T_CHECK(well_formed(b.data));
    T_CHECK(value(b.data, "anon_telemetry_spool_error") == 1);
    T_CHECK(strstr(b.data, "anon_telemetry_events") == NULL);
    anon_buf_free(&b);

    /* a spool that does not exist: zero counts, and nothing created */
    snprintf(path, sizeof path, "%s/none/spool.db", dir);
    anon_buf_init(&b);
    T_EQ_INT(metrics_spool_at(&b, path, err, sizeof err), ANON_OK);
    T_CHECK(value(b.data, "anon_telemetry_events{status=\"pending\"}") == 0);
    T_CHECK(access(path, F_OK) != 0);
    anon_buf_free(&b);
}

static void test_relay(void)
{
    struct metrics_relay_answer a[] = {{200, 7}, {413, 2}};
    struct metrics_relay m = {a, 2, 2, 40, 5, 6, 7, 1796083201.5};
    anon_buf b;

    anon_buf_init(&b);
    metrics_relay(&b, &m);
    T_CHECK(well_formed(b.data));
    T_CHECK(value(b.data, "anon_telemetry_relay_requests_total{code=\"200\"}") == 7);
    T_CHECK(value(b.data, "anon_telemetry_relay_requests_total{code=\"413\"}") == 2);
    T_CHECK(value(b.data, "anon_telemetry_relay_refusals_total") == 2);
    T_CHECK(value(b.data, "anon_telemetry_relay_events_stored_total") == 40);
    T_CHECK(value(b.data, "anon_telemetry_relay_events_duplicate_total") == 5);
    T_CHECK(value(b.data, "anon_telemetry_relay_start_time_seconds") == 1796083201.5);
    T_CHECK(strstr(b.data, "# TYPE anon_telemetry_relay_requests_total counter\n") != NULL);
    anon_buf_free(&b);
}

static int entries(const char *d)
{
    DIR *dh = opendir(d);
    struct dirent *e;
    int n = 0;

    if (dh == NULL)
        return -1;
    while ((e = readdir(dh)) != NULL)
        n += e->d_name[0] != '.' || (e->d_name[1] != '\0' && strcmp(e->d_name, "..") != 0);
    closedir(dh);
    return n;
}

static void test_textfile(void)
{
    char tf[256], file[300], err[ANON_ERRLEN], buf[64] = "";
    struct stat st;
    FILE *f;

    snprintf(tf, sizeof tf, "%s/tf", dir);
    T_EQ_INT(mkdir(tf, 0700), 0);
    T_EQ_INT(metrics_write_textfile(tf, "a 1\n", 4, err, sizeof err), ANON_OK);
    snprintf(file, sizeof file, "%s/" METRICS_TEXTFILE, tf);
    T_EQ_INT(stat(file, &st), 0);
    T_EQ_INT(st.st_mode & 07777, 0644);
    T_EQ_INT(entries(tf), 1); /* no temporary file left, hidden or not */
    T_EQ_INT(metrics_write_textfile(tf, "b 2\n", 4, err, sizeof err), ANON_OK);
    f = fopen(file, "r");
    T_CHECK(f != NULL && fgets(buf, sizeof buf, f) != NULL);
    if (f != NULL)
        fclose(f);
    T_EQ_STR(buf, "b 2\n");
    T_EQ_INT(entries(tf), 1);

    snprintf(tf, sizeof tf, "%s/missing", dir);
    T_EQ_INT(metrics_write_textfile(tf, "a 1\n", 4, err, sizeof err), ANON_EINVAL);
    T_CHECK(strstr(err, "missing") != NULL);
    if (geteuid() != 0) {
        /* root writes anywhere: the unwritable case needs another user */
        snprintf(tf, sizeof tf, "%s/ro", dir);
        T_EQ_INT(mkdir(tf, 0500), 0);
        T_EQ_INT(metrics_write_textfile(tf, "a 1\n", 4, err, sizeof err), ANON_EIO);
        T_EQ_INT(entries(tf), 0);
    }
}

int main(void)
{
    char cmd[128];

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_no_spool();
    test_busy_spool();
    test_unreadable();
    test_relay();
    test_textfile();
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' && rm -rf '%s'", dir, dir);
    if (system(cmd) != 0)
        printf("note: %s left behind\n", dir);
    return t_done();
}
