/*
 * test_queue.c: the queue module (spool/queue.c): one lease rule for the shipper and
 * for status, duplicate-skipping appends, dead-lettering keeps every column, requeue
 * and purge; exported rows are never due for a delivery run, receipts settle them once.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "queue.h"
#include "test.h"

static char errbuf[ANON_ERRLEN];

static struct queue_event ev(const char *uuid)
{
    struct queue_event e = {uuid, "anonymizer_event", "1.7", "sess", "1.0", "x86_64",
                            "2026-05-11T12:00:00.000Z", "{\"a\":-1.0}", NULL};
    return e;
}

static long long one(queue *q, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -999;

    if (sqlite3_prepare_v2(queue_db(q), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Claims use an index and never sort: draining a backlog of due retries stays linear. */
struct plans {
    int lines, temp_btree, full_scan, uses_index;
};

static void on_plan(void *ctx, const char *stmt, const char *line)
{
    struct plans *p = ctx;

    printf("  plan %-14s %s\n", stmt, line);
    p->lines++;
    if (strstr(line, "TEMP B-TREE") != NULL)
        p->temp_btree++;
    if (strncmp(line, "SCAN events", 11) == 0 && strstr(line, "INDEX") == NULL)
        p->full_scan++;
    if (strstr(line, "events USING") != NULL && strstr(line, "INDEX") != NULL)
        p->uses_index++;
}

static int count_rows(void *ctx, const struct queue_due_row *row)
{
    (void)row;
    ++*(int *)ctx;
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/test_queue.XXXXXX", path[300];
    anon_spool *sp = NULL;
    struct queue_counts c;
    queue *q;
    int64_t id = -1, next = -1;
    int dup = -1, has = -1, n = 0;
    long changed = -1;
    const char *lease = "2026-05-11T12:00:10.000Z";
    char *hdr[4] = {NULL};
    struct queue_event e;

    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(path, sizeof path, "%s/s.db", dir);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_OK);
    if (sp == NULL)
        return t_done();
    q = anon_spool_queue(sp);

    /* append, and a duplicate uuid skipped */
    e = ev("00000000-0000-4000-8000-000000000001");
    T_EQ_INT(queue_begin(q, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(queue_append(q, &e, &dup, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(dup, 0);
    T_EQ_INT(queue_append(q, &e, &dup, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(dup, 1);
    /* without ret_dup a duplicate is an error, and nothing else changes */
    T_CHECK(queue_append(q, &e, NULL, errbuf, sizeof errbuf) != ANON_OK);
    T_CHECK(strstr(errbuf, "UNIQUE") != NULL);
    T_EQ_INT(queue_commit(q, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(one(q, "SELECT count(*) FROM events"), 1);

    /* the lease rule, at its boundary, is the same for the shipper and for status */
    T_EQ_INT(queue_seen_init(q, errbuf, sizeof errbuf), ANON_OK);
    id = one(q, "SELECT id FROM events");
    T_EQ_INT(queue_claim(q, id, lease, errbuf, sizeof errbuf), ANON_OK);
    {
        struct queue_due at = {{lease, "9999-01-01T00:00:00.000Z", "9999-01-01T00:00:00.000Z"}, 0};
    struct queue_due after = {{"2026-05-11T12:00:10.001Z", "9999-01-01T00:00:00.000Z",
                               "9999-01-01T00:00:00.000Z"}, 0};

        T_EQ_INT(queue_next_due(q, &at, 0, &next, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(next, 0);
        T_EQ_INT(queue_count(q, &at.clock, "2000-01-01T00:00:00.000Z", &c, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(c.lease_lapsed, 0);
        T_EQ_INT(c.status[QUEUE_ST_SENDING], 1);
        T_EQ_INT(queue_next_due(q, &after, 0, &next, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(next, id);
        T_EQ_INT(queue_count(q, &after.clock, "2000-01-01T00:00:00.000Z", &c, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(c.lease_lapsed, 1);
        T_EQ_INT(queue_envelope_fields(q, id, hdr, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_STR(hdr[0], "sess");
        T_EQ_STR(hdr[3], "x86_64");
        T_EQ_INT(queue_due_rows(q, &after, (const char *const *)hdr, 0, 50, count_rows, &n,
                                errbuf, sizeof errbuf),
                 ANON_OK);
        T_EQ_INT(n, 1);
        for (int i = 0; i < 4; i++)
            free(hdr[i]);
    }

    /* dead-lettering keeps every shared column, and the id; a dlq uuid is a duplicate */
    T_EQ_INT(queue_begin(q, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(queue_dead(q, id, 4, "HTTP 503", "2026-05-11T13:00:00.000Z",
                        "retries exhausted: HTTP 503", errbuf, sizeof errbuf),
             ANON_OK);
    T_EQ_INT(queue_append(q, &e, &dup, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(dup, 1);
    T_EQ_INT(queue_commit(q, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(one(q, "SELECT count(*) FROM events"), 0);
    T_EQ_INT(one(q, "SELECT count(*) FROM dlq WHERE id = (SELECT max(id) FROM dlq)"
                    " AND uuid = '00000000-0000-4000-8000-000000000001' AND name ="
                    " 'anonymizer_event' AND schema_version = '1.7' AND session_id = 'sess'"
                    " AND client_version = '1.0' AND cpu_architecture = 'x86_64' AND"
                    " queued_at = '2026-05-11T12:00:00.000Z' AND parameters = '{\"a\":-1.0}'"
                    " AND retry_count = 4 AND reason = 'retries exhausted: HTTP 503'"),
             1);
    T_EQ_INT(queue_dlq_has(q, id, &has, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(has, 1);

    /* requeue keeps the id when it is free; purge of an absent id changes nothing */
    T_EQ_INT(queue_begin(q, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(queue_requeue(q, id, &next, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(next, id);
    T_EQ_INT(queue_purge(q, id, &changed, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(changed, 0);
    T_EQ_INT(queue_commit(q, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(one(q, "SELECT count(*) FROM events WHERE status = 'pending' AND retry_count = 0"), 1);
    T_EQ_INT(one(q, "SELECT count(*) FROM dlq"), 0);

    /* the query plans of the claims (printed, for the record) */
    {
        struct plans p = {0, 0, 0, 0};

        T_EQ_INT(queue_explain_claims(q, on_plan, &p, errbuf, sizeof errbuf), ANON_OK);
        T_CHECK(p.lines >= 4);
        T_EQ_INT(p.temp_btree, 0);
        T_EQ_INT(p.full_scan, 0);
        T_CHECK(p.uses_index >= 4);
    }

    /* An exported row is never due for a delivery run, whatever the clock or --now: only
     * a reexport takes it. A receipt changes exported rows only, once. */
    {
        struct queue_due now = {{"2026-05-11T12:00:10.001Z", "9999-01-01T00:00:00.000Z",
                                 "9999-01-01T00:00:00.000Z"}, 1};
        struct queue_event x = ev("00000000-0000-4000-8000-000000000002");
        const char *bundle = "00000000-0000-4000-8000-0000000000b1";
        int64_t exp_id, last = -1;
        int outcome = -1;

        T_EQ_INT(queue_begin(q, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(queue_append(q, &x, NULL, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(queue_commit(q, errbuf, sizeof errbuf), ANON_OK);
        exp_id = one(q, "SELECT id FROM events WHERE uuid = '00000000-0000-4000-8000-000000000002'");
        T_CHECK(exp_id > id);
        T_EQ_INT(queue_mark_seen(q, exp_id, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(queue_begin(q, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(queue_export_seen(q, bundle, &now.clock, 0, NULL, 0, 10, &last, &changed,
                                   errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(queue_commit(q, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(changed, 1);
        T_EQ_INT(last, exp_id);
        T_EQ_INT(one(q, "SELECT count(*) FROM events WHERE status = 'exported' AND bundle ="
                        " '00000000-0000-4000-8000-0000000000b1'"), 1);
        /* forget what this connection has seen: only the status keeps it from a run */
        T_EQ_INT(sqlite3_exec(queue_db(q), "DELETE FROM temp.queue_seen", NULL, NULL, NULL),
                 SQLITE_OK);
        T_EQ_INT(queue_next_due(q, &now, id, &next, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(next, 0);
        now.flush_now = 0;
        T_EQ_INT(queue_next_due(q, &now, id, &next, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(next, 0);
        T_EQ_INT(queue_next_exportable(q, &now, id, &next, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(next, exp_id);
        T_EQ_INT(queue_envelope_fields(q, exp_id, hdr, errbuf, sizeof errbuf), ANON_OK);
        n = 0;
        T_EQ_INT(queue_due_rows(q, &now, (const char *const *)hdr, exp_id, 50, count_rows, &n,
                                errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(n, 0);
        T_EQ_INT(queue_exportable_rows(q, &now, (const char *const *)hdr, exp_id, 50,
                                       count_rows, &n, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(n, 1);
        for (int i = 0; i < 4; i++)
            free(hdr[i]);
        T_EQ_INT(queue_count(q, &now.clock, "2000-01-01T00:00:00.000Z", &c, errbuf, sizeof errbuf),
                 ANON_OK);
        T_EQ_INT(c.status[QUEUE_ST_EXPORTED], 1);
        T_EQ_INT(c.due_now, 1);   /* the pending row only */
        T_EQ_STR(queue_status_name(QUEUE_ST_EXPORTED), "exported");

        T_EQ_INT(queue_begin(q, errbuf, sizeof errbuf), ANON_OK);
        /* a pending row is left alone, an exported one settled once, an unknown one said */
        T_EQ_INT(queue_receipt_sent(q, "00000000-0000-4000-8000-000000000001",
                                    "2026-05-12T00:00:00.000Z", &outcome, errbuf, sizeof errbuf),
                 ANON_OK);
        T_EQ_INT(outcome, QUEUE_RCPT_UNCHANGED);
        T_EQ_INT(queue_receipt_sent(q, "00000000-0000-4000-8000-000000000002",
                                    "2026-05-12T00:00:00.000Z", &outcome, errbuf, sizeof errbuf),
                 ANON_OK);
        T_EQ_INT(outcome, QUEUE_RCPT_CHANGED);
        T_EQ_INT(queue_receipt_dead(q, "00000000-0000-4000-8000-000000000002",
                                    "2026-05-12T00:00:00.000Z", "remote: HTTP 400", &outcome,
                                    errbuf, sizeof errbuf),
                 ANON_OK);
        T_EQ_INT(outcome, QUEUE_RCPT_UNCHANGED);
        T_EQ_INT(queue_receipt_pending(q, "00000000-0000-4000-8000-00000000ffff", &outcome,
                                       errbuf, sizeof errbuf),
                 ANON_OK);
        T_EQ_INT(outcome, QUEUE_RCPT_UNKNOWN);
        T_EQ_INT(queue_commit(q, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(one(q, "SELECT count(*) FROM events WHERE status = 'sent' AND sent_at ="
                        " '2026-05-12T00:00:00.000Z'"), 1);
        T_EQ_INT(one(q, "SELECT count(*) FROM events WHERE status = 'pending'"), 1);
        T_EQ_INT(one(q, "SELECT count(*) FROM dlq"), 0);
    }

    /* names of the statuses */
    T_EQ_STR(queue_status_name(QUEUE_ST_SENT), "sent");
    T_EQ_INT(queue_status_from_name("sending"), QUEUE_ST_SENDING);
    T_EQ_INT(queue_status_from_name("dlq"), -1);
    T_CHECK(queue_status_name(QUEUE_NSTATUS) == NULL);

    anon_spool_close(sp);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    T_EQ_INT(system(path), 0);
    return t_done();
}
