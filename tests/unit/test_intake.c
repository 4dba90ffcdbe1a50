/*
 * test_intake.c: events that arrive whole. anon_envelope_parse (the body as the
 * Anonymizer's handler and our shipper post it: values kept in the form sent, every
 * refusal naming its place), anon_envelope_set_ids, and anon_spool_append_records
 * (verbatim columns, all or none, duplicates skipped and counted, events and dlq alike).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "internal.h"
#include "queue.h"
#include "test.h"

static char errbuf[ANON_ERRLEN];
static anon_envelope *env;

#define REQ_PY                                                                           \
    "\"task\": \"batch\", \"taskStatus\": \"completed\", \"transformationType\": "        \
    "\"redact\", \"entityDetectorModel\": \"d\", \"entityValidatorModel\": \"v\", "      \
    "\"entityAugmenterModel\": \"a\""
#define REQ "\"task\":\"batch\",\"taskStatus\":\"completed\",\"transformationType\":\"redact\"," \
            "\"entityDetectorModel\":\"d\",\"entityValidatorModel\":\"v\",\"entityAugmenterModel\":\"a\""
#define HDR "\"sessionId\":\"s\",\"clientVer\":\"1.0\",\"cpuArchitecture\":\"x86_64\","
#define EV(params) "{\"ts\":\"2026-05-11T12:00:00.000Z\",\"name\":\"anonymizer_event\",\"parameters\":" params "}"
#define BODY17(events) "{" HDR "\"eventSchemaVer\":\"1.7\",\"events\":[" events "]}"

static int parse(const char *json)
{
    anon_envelope_free(env);
    env = NULL;
    errbuf[0] = '\0';
    return anon_envelope_parse(json, strlen(json), &env, errbuf, sizeof errbuf);
}

static int err_is(const char *want)
{
    if (strcmp(errbuf, want) == 0)
        return 1;
    printf("  error was: %s\n  expected:  %s\n", errbuf, want);
    return 0;
}

static int err_has(const char *want)
{
    if (strstr(errbuf, want) != NULL)
        return 1;
    printf("  error was: %s\n  expected to contain: %s\n", errbuf, want);
    return 0;
}

/* As Python's json.dumps writes the handler's body: ", " and ": " separators. */
static void test_python_body(void)
{
    const char *body =
        "{\"browserType\": \"undefined\", \"clientId\": \"184482118588404\", "
        "\"clientVer\": \"0.3.1\", \"cpuArchitecture\": \"aarch64\", "
        "\"eventSchemaVer\": \"1.7\", \"sentTs\": \"2026-05-11T12:00:09.999Z\", "
        "\"sessionId\": \"anonymizer-3f2a\", \"events\": [\n"
        "  {\"ts\": \"2026-05-11T12:00:00.000Z\", \"parameters\": {" REQ_PY ", "
        "\"jobDurationSec\": -1.0, \"numInputRecords\": 10, \"modelHosts\": [\"local\", \"other\"]}, "
        "\"name\": \"anonymizer_event\"},\n"
        "  {\"name\": \"anonymizer_event\", \"ts\": \"2026-05-11T12:00:01.250Z\", "
        "\"parameters\": {\"jobDurationSec\": 1e+16, " REQ_PY ", \"judgeModel\": \"a b\\\"c\"}}\n"
        "]}";
    const anon_record *r;

    T_EQ_INT(parse(body), ANON_OK);
    T_EQ_INT(anon_envelope_count(env), 2);
    r = anon_envelope_records(env);
    if (r == NULL || anon_envelope_count(env) != 2)
        return;
    T_CHECK(r[0].uuid == NULL);
    T_EQ_STR(r[0].ts, "2026-05-11T12:00:00.000Z");
    T_EQ_STR(r[1].ts, "2026-05-11T12:00:01.250Z");
    T_EQ_STR(r[0].name, "anonymizer_event");
    T_EQ_STR(r[0].session_id, "anonymizer-3f2a");
    T_EQ_STR(r[1].session_id, "anonymizer-3f2a");
    T_EQ_STR(r[0].client_version, "0.3.1");
    T_EQ_STR(r[0].cpu_architecture, "aarch64");
    T_EQ_STR(r[0].schema_version, "1.7");
    /* the values keep their form, the keys their order; only the spaces between
     * tokens go (not the ones inside strings) */
    T_EQ_STR(r[0].parameters, "{" REQ ",\"jobDurationSec\":-1.0,\"numInputRecords\":10,"
                              "\"modelHosts\":[\"local\",\"other\"]}");
    T_EQ_STR(r[1].parameters, "{\"jobDurationSec\":1e+16," REQ ",\"judgeModel\":\"a b\\\"c\"}");
}

static void test_header_fields(void)
{
    const anon_record *r;

    /* escapes decoded; absent sessionId, clientVer, cpuArchitecture are "undefined" */
    T_EQ_INT(parse("{\"eventSchemaVer\":\"1.7\",\"events\":[" EV("{" REQ "}") "]}"), ANON_OK);
    r = anon_envelope_records(env);
    if (r != NULL) {
        T_EQ_STR(r[0].session_id, "undefined");
        T_EQ_STR(r[0].client_version, "undefined");
        T_EQ_STR(r[0].cpu_architecture, "undefined");
    }
    T_EQ_INT(parse("{\"sessionId\":\"a\\\"b\\\\c\\/\\u00e9\\ud83d\\ude00\",\"eventSchemaVer\":\"1.7\","
                   "\"events\":[" EV("{" REQ "}") "]}"),
             ANON_OK);
    r = anon_envelope_records(env);
    if (r != NULL)
        T_EQ_STR(r[0].session_id, "a\"b\\c/\xc3\xa9\xf0\x9f\x98\x80");
    /* unknown top-level keys and the constants are not kept, whatever they hold */
    T_EQ_INT(parse("{\"future\":{\"x\":[1,2,{}]},\"deviceId\":null," HDR
                   "\"eventSchemaVer\":\"1.7\",\"events\":[" EV("{" REQ "}") "]}"),
             ANON_OK);
    /* a newer schema: parameters kept after structural checks only */
    T_EQ_INT(parse("{" HDR "\"eventSchemaVer\":\"1.8\",\"events\":["
                   EV("{\"newField\":[1.50,{\"deep\":true}],\"task\":\"other\"}") "]}"),
             ANON_OK);
    r = anon_envelope_records(env);
    if (r != NULL) {
        T_EQ_STR(r[0].schema_version, "1.8");
        T_EQ_STR(r[0].parameters, "{\"newField\":[1.50,{\"deep\":true}],\"task\":\"other\"}");
    }
}

static void test_refusals(void)
{
    char *big = NULL;

    T_EQ_INT(parse(""), ANON_EINVAL);
    T_CHECK(err_is("empty body: expected an envelope"));
    T_EQ_INT(parse("garbage"), ANON_EINVAL);
    T_CHECK(err_is("invalid JSON at byte 1: expected a value"));
    T_EQ_INT(parse("\"text\""), ANON_EINVAL);
    T_CHECK(err_is("expected an envelope (a JSON object), got a string"));
    T_EQ_INT(parse("[1]"), ANON_EINVAL);
    T_CHECK(err_is("expected an envelope (a JSON object), got an array"));
    T_EQ_INT(parse("{" HDR "\"eventSchemaVer\":\"1.7\"}"), ANON_EINVAL);
    T_CHECK(err_is("events: missing required field"));
    T_EQ_INT(parse("{" HDR "\"eventSchemaVer\":\"1.7\",\"events\":[]}"), ANON_EINVAL);
    T_CHECK(err_is("events: no events"));
    T_EQ_INT(parse("{" HDR "\"eventSchemaVer\":\"1.7\",\"events\":{}}"), ANON_EINVAL);
    T_CHECK(err_is("events: expected an array, got an object"));
    T_EQ_INT(parse("{" HDR "\"events\":[" EV("{" REQ "}") "]}"), ANON_EINVAL);
    T_CHECK(err_is("eventSchemaVer: missing required field"));
    T_EQ_INT(parse(BODY17(EV("{" REQ "}") ",3")), ANON_EINVAL);
    T_CHECK(err_is("events[1]: expected an object, got a number"));
    T_EQ_INT(parse(BODY17(EV("{" REQ "}") "," EV("{" REQ ",\"task\":\"x\"}"))), ANON_EINVAL);
    T_CHECK(err_has("events[1].parameters."));
    T_EQ_INT(parse(BODY17(EV("{" REQ "}") "," EV("{\"taskStatus\":\"completed\"}"))),
             ANON_EINVAL);
    T_CHECK(err_is("events[1].parameters.task: missing required field"));
    T_EQ_INT(parse(BODY17("{\"ts\":\"2026-05-11T12:00:00.000Z\",\"name\":\"other_event\","
                          "\"parameters\":{" REQ "}}")),
             ANON_EINVAL);
    T_CHECK(err_is("events[0].name: expected \"anonymizer_event\""));
    T_EQ_INT(parse(BODY17("{\"ts\":\"2026-05-11 12:00:00\",\"name\":\"anonymizer_event\","
                          "\"parameters\":{" REQ "}}")),
             ANON_EINVAL);
    T_CHECK(err_is("events[0].ts: not a UTC time like 2026-05-11T12:00:00.000Z"));
    T_EQ_INT(parse(BODY17("{\"ts\":1,\"name\":\"anonymizer_event\",\"parameters\":{" REQ "}}")),
             ANON_EINVAL);
    T_CHECK(err_is("events[0].ts: expected a string, got a number"));
    T_EQ_INT(parse(BODY17("{\"name\":\"anonymizer_event\",\"parameters\":{" REQ "}}")),
             ANON_EINVAL);
    T_CHECK(err_is("events[0].ts: missing required field"));
    T_EQ_INT(parse(BODY17("{\"ts\":\"2026-05-11T12:00:00.000Z\",\"name\":\"anonymizer_event\","
                          "\"parameters\":[]}")),
             ANON_EINVAL);
    T_CHECK(err_is("events[0].parameters: expected an object, got an array"));
    T_EQ_INT(parse(BODY17("{\"ts\":\"2026-05-11T12:00:00.000Z\",\"name\":\"anonymizer_event\","
                          "\"parameters\":{" REQ "},\"extra\":1}")),
             ANON_EINVAL);
    T_CHECK(err_is("events[0].extra: unknown field"));
    T_EQ_INT(parse(BODY17("{\"ts\":\"2026-05-11T12:00:00.000Z\",\"ts\":\"2026-05-11T12:00:00.000Z\","
                          "\"name\":\"anonymizer_event\",\"parameters\":{" REQ "}}")),
             ANON_EINVAL);
    T_CHECK(err_is("events[0].ts: field given twice"));
    T_EQ_INT(parse("{\"sessionId\":\"a\",\"sessionId\":\"b\",\"eventSchemaVer\":\"1.7\",\"events\":["
                   EV("{" REQ "}") "]}"),
             ANON_EINVAL);
    T_CHECK(err_is("sessionId: field given twice"));
    T_EQ_INT(parse("{\"sessionId\":7,\"eventSchemaVer\":\"1.7\",\"events\":[" EV("{" REQ "}") "]}"),
             ANON_EINVAL);
    T_CHECK(err_is("sessionId: expected a string, got a number"));
    T_EQ_INT(parse("{\"sessionId\":\"a\\u0007\",\"eventSchemaVer\":\"1.7\",\"events\":["
                   EV("{" REQ "}") "]}"),
             ANON_EINVAL);
    T_CHECK(err_is("sessionId: control character U+0007 in string"));
    T_EQ_INT(parse("{\"sessionId\":\"a\\u0000b\",\"eventSchemaVer\":\"1.7\",\"events\":["
                   EV("{" REQ "}") "]}"),
             ANON_EINVAL);
    T_CHECK(err_has("U+0000"));

    /* not JSON: each names the byte where it goes wrong */
    T_EQ_INT(parse(BODY17(EV("{" REQ ",}"))), ANON_EINVAL);
    T_CHECK(err_has("invalid JSON at byte "));
    T_EQ_INT(parse(BODY17(EV("{" REQ "}") ",")), ANON_EINVAL);
    T_CHECK(err_has("invalid JSON at byte "));
    T_EQ_INT(parse(BODY17(EV("{\"x\":NaN}"))), ANON_EINVAL);
    T_CHECK(err_has("invalid JSON at byte "));
    T_EQ_INT(parse(BODY17(EV("{\"x\":01}"))), ANON_EINVAL);
    T_EQ_INT(parse(BODY17(EV("{\"x\":1.}"))), ANON_EINVAL);
    T_EQ_INT(parse(BODY17(EV("{\"x\":\"\\ud800\"}"))), ANON_EINVAL);
    T_CHECK(err_has("lone surrogate"));
    T_EQ_INT(parse(BODY17(EV("{\"x\":\"a\xff\"}"))), ANON_EINVAL);
    T_CHECK(err_has("invalid UTF-8"));
    T_EQ_INT(parse(BODY17(EV("{\"x\":\"a\tb\"}"))), ANON_EINVAL);
    T_CHECK(err_has("control character in a string"));
    T_EQ_INT(parse(BODY17(EV("{" REQ "}")) " x"), ANON_EINVAL);
    T_CHECK(err_has("unexpected text after the envelope"));
    T_EQ_INT(parse(BODY17(EV("{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"))),
             ANON_EINVAL);
    T_CHECK(err_has("nested too deeply"));
    T_EQ_INT(parse("{\"eventSchemaVer\":\"1.7\",\"events\":[" EV("{" REQ "}")), ANON_EINVAL);
    T_CHECK(err_has("invalid JSON at byte "));
    {
        const char half[] = BODY17(EV("{" REQ "}"));

        T_EQ_INT(anon_envelope_parse(half, sizeof half / 2, &env, errbuf, sizeof errbuf),
                 ANON_EINVAL);
        T_CHECK(env == NULL);
        T_EQ_INT(anon_envelope_parse("{\"a\":1}\0{}", 10, &env, errbuf, sizeof errbuf),
                 ANON_EINVAL);
        T_CHECK(err_has("NUL byte"));
    }

    /* the limits: strings 2048 bytes, a parameters object 64 KiB */
    big = malloc(70000);
    if (big != NULL) {
        char *json = malloc(80000);
        memset(big, 'm', 2048);
        big[2048] = '\0';
        snprintf(json, 80000, BODY17(EV("{" REQ ",\"judgeModel\":\"%s\"}")), big);
        T_EQ_INT(parse(json), ANON_OK);
        snprintf(json, 80000, BODY17(EV("{" REQ ",\"judgeModel\":\"%sm\"}")), big);
        T_EQ_INT(parse(json), ANON_EINVAL);
        T_CHECK(err_is("events[0].parameters.judgeModel: string is 2049 bytes, at most 2048 allowed"));
        snprintf(json, 80000, "{\"sessionId\":\"%sm\",\"eventSchemaVer\":\"1.7\",\"events\":["
                 EV("{" REQ "}") "]}", big);
        T_EQ_INT(parse(json), ANON_EINVAL);
        T_CHECK(err_is("sessionId: string is 2049 bytes, at most 2048 allowed"));
        memset(big, 'x', 65536 - 8);
        big[65536 - 8] = '\0';
        snprintf(json, 80000, "{" HDR "\"eventSchemaVer\":\"2.0\",\"events\":[" EV("{\"a\":\"%s\"}") "]}",
                 big);   /* 65536 bytes exactly: {"a":"..."} */
        T_EQ_INT(parse(json), ANON_OK);
        snprintf(json, 80000, "{" HDR "\"eventSchemaVer\":\"2.0\",\"events\":[" EV("{\"a\":\"%sx\"}") "]}",
                 big);
        T_EQ_INT(parse(json), ANON_EINVAL);
        T_CHECK(err_is("events[0].parameters: 65537 bytes, at most 65536 allowed"));
        free(json);
    }
    free(big);
}

static void test_ids(void)
{
    const anon_record *r;

    T_EQ_INT(parse(BODY17(EV("{" REQ "}") "," EV("{" REQ "}"))), ANON_OK);
    T_EQ_INT(anon_envelope_set_ids(env, "0f8fad5b-d9cb-469f-a165-70867728950e, "
                                        "7C9E6679-7425-40DE-944B-E07FC1F90AE7",
                                   errbuf, sizeof errbuf),
             ANON_OK);
    r = anon_envelope_records(env);
    T_EQ_STR(r[0].uuid, "0f8fad5b-d9cb-469f-a165-70867728950e");
    T_EQ_STR(r[1].uuid, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    T_EQ_INT(anon_envelope_set_ids(env, "0f8fad5b-d9cb-469f-a165-70867728950e", errbuf,
                                   sizeof errbuf),
             ANON_EINVAL);
    T_CHECK(err_is("Anon-Telemetry-Event-Ids: 1 ids for 2 events"));
    T_EQ_INT(anon_envelope_set_ids(env, "0f8fad5b-d9cb-469f-a165-70867728950e,x,y", errbuf,
                                   sizeof errbuf),
             ANON_EINVAL);
    T_CHECK(err_is("Anon-Telemetry-Event-Ids: entry 2 is not a uuid (8-4-4-4-12 hex digits)"));
    T_EQ_INT(anon_envelope_set_ids(env, "0f8fad5b-d9cb-469f-a165-70867728950e,"
                                        "0f8fad5b-d9cb-469f-a165-70867728950e,"
                                        "0f8fad5b-d9cb-469f-a165-70867728950e",
                                   errbuf, sizeof errbuf),
             ANON_EINVAL);
    T_CHECK(err_is("Anon-Telemetry-Event-Ids: 3 ids for 2 events"));
    /* a failed call leaves the ids set before */
    T_EQ_STR(r[1].uuid, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
}

/* What the shipper builds from stored rows parses back to the same records. */
static void test_round_trip(void)
{
    const char *body = "{\"sessionId\":\"s \\u00e9\\\"q\",\"clientVer\":\"v\",\"cpuArchitecture\":\"riscv64\","
                       "\"eventSchemaVer\":\"1.9\",\"events\":["
                       EV("{\"b\":1E-5,\"a\":[true,false,null,\"\\u0001\"]}") ","
                       EV("{\"z\":-0.0}") "]}";
    anon_envelope *again = NULL;
    const anon_record *r, *r2;
    anon_buf b;

    T_EQ_INT(parse(body), ANON_OK);
    r = anon_envelope_records(env);
    if (r == NULL) {
        printf("  error was: %s\n", errbuf);
        return;
    }
    {
        struct envelope_hdr h = {r[0].session_id, r[0].client_version, r[0].schema_version,
                                 r[0].cpu_architecture};
        struct envelope_event evs[2] = {{r[0].name, r[0].ts, r[0].parameters},
                                        {r[1].name, r[1].ts, r[1].parameters}};

        anon_buf_init(&b);
        T_EQ_INT(envelope_build(&b, &h, 1778500802345LL, evs, 2), 0);
    }
    T_EQ_INT(anon_envelope_parse(b.data, b.len, &again, errbuf, sizeof errbuf), ANON_OK);
    r2 = anon_envelope_records(again);
    T_EQ_INT(anon_envelope_count(again), 2);
    if (r2 != NULL) {
        T_EQ_STR(r2[0].session_id, "s \xc3\xa9\"q");
        T_EQ_STR(r2[0].schema_version, "1.9");
        T_EQ_STR(r2[0].cpu_architecture, "riscv64");
        T_EQ_STR(r2[0].parameters, "{\"b\":1E-5,\"a\":[true,false,null,\"\\u0001\"]}");
        T_EQ_STR(r2[1].parameters, "{\"z\":-0.0}");
        T_EQ_STR(r2[1].ts, r[1].ts);
    }
    anon_envelope_free(again);
    anon_buf_free(&b);
}

/* The writer's own events stay within the cap the relay applies to a client's. */
static void test_writer_cap(void)
{
    static char host[2001];
    const char *hosts[40];
    anon_event *ev = NULL;
    char *json = NULL;
    const char *req = "{" REQ "}";

    memset(host, 'h', 2000);
    for (int i = 0; i < 40; i++)
        hosts[i] = host;
    T_EQ_INT(anon_event_from_json(req, strlen(req), &ev, errbuf, sizeof errbuf), ANON_OK);
    if (ev == NULL)
        return;
    T_EQ_INT(anon_event_set_strings(ev, "modelHosts", hosts, 20, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(anon_event_parameters_json(ev, &json, errbuf, sizeof errbuf), ANON_OK);
    free(json);
    json = NULL;
    T_EQ_INT(anon_event_set_strings(ev, "modelHosts", hosts, 40, errbuf, sizeof errbuf), ANON_OK);
    T_EQ_INT(anon_event_parameters_json(ev, &json, errbuf, sizeof errbuf), ANON_EINVAL);
    T_CHECK(json == NULL);
    T_CHECK(err_has("parameters: ") && err_has("at most 65536 allowed"));
    anon_event_free(ev);
}

static long long count(anon_spool *sp, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_prepare_v2(anon_spool_db(sp), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int row_is(anon_spool *sp, const char *uuid, const char *col, const char *want)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    int ok = 0;

    snprintf(sql, sizeof sql, "SELECT %s FROM events WHERE uuid = ?1", col);
    if (sqlite3_prepare_v2(anon_spool_db(sp), sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
            ok = strcmp((const char *)sqlite3_column_text(st, 0), want) == 0;
        if (!ok)
            printf("  %s of %s is %s, expected %s\n", col, uuid,
                   sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "(none)",
                   want);
    }
    sqlite3_finalize(st);
    return ok;
}

static void test_append_records(const char *dir)
{
    char path[512];
    anon_spool *sp = NULL;
    size_t stored = 99, dups = 99;
    anon_record recs[3] = {
        {"0f8fad5b-d9cb-469f-a165-70867728950e", "2026-05-11T12:00:00.000Z", "anonymizer_event",
         "host-session", "2.0", "aarch64", "1.7", "{" REQ ",\"jobDurationSec\":-1.0}"},
        {"7C9E6679-7425-40DE-944B-E07FC1F90AE7", "2026-05-11T12:00:01.000Z", "anonymizer_event",
         "host-session", "2.0", "aarch64", "1.7", "{" REQ ",\"jobDurationSec\":1e+16}"},
        {NULL, "2026-05-11T12:00:02.000Z", "anonymizer_event", "other", "2.1", "x86_64", "1.8",
         "{\"anything\":[1,2.50]}"},
    };
    anon_record bad[2];

    snprintf(path, sizeof path, "%s/spool.db", dir);
    /* the relay applies no prefix of its own: the client has applied its own */
    setenv("NEMO_SESSION_PREFIX", "relay-", 1);
    T_EQ_INT(anon_spool_open(path, &sp, errbuf, sizeof errbuf), ANON_OK);
    if (sp == NULL)
        return;
    T_EQ_INT(anon_spool_append_records(sp, recs, 3, &stored, &dups, errbuf, sizeof errbuf),
             ANON_OK);
    T_EQ_INT(stored, 3);
    T_EQ_INT(dups, 0);
    T_CHECK(row_is(sp, recs[0].uuid, "session_id", "host-session"));
    T_CHECK(row_is(sp, recs[0].uuid, "queued_at", "2026-05-11T12:00:00.000Z"));
    T_CHECK(row_is(sp, recs[0].uuid, "client_version", "2.0"));
    T_CHECK(row_is(sp, recs[0].uuid, "cpu_architecture", "aarch64"));
    T_CHECK(row_is(sp, recs[0].uuid, "schema_version", "1.7"));
    T_CHECK(row_is(sp, recs[0].uuid, "status", "pending"));
    T_CHECK(row_is(sp, recs[0].uuid, "parameters", "{" REQ ",\"jobDurationSec\":-1.0}"));
    /* uuids are kept, in lower case */
    T_CHECK(row_is(sp, "7c9e6679-7425-40de-944b-e07fc1f90ae7", "parameters",
                   "{" REQ ",\"jobDurationSec\":1e+16}"));
    T_EQ_INT(count(sp, "SELECT count(*) FROM events WHERE schema_version = '1.8' AND "
                       "parameters = '{\"anything\":[1,2.50]}' AND length(uuid) = 36"),
             1);

    /* sent again (a lost answer, a resend): nothing stored twice, the new uuid counted */
    recs[2].uuid = "e0f1a2b3-c4d5-4e6f-8a9b-0c1d2e3f4a5b";
    T_EQ_INT(anon_spool_append_records(sp, recs, 3, &stored, &dups, errbuf, sizeof errbuf),
             ANON_OK);
    T_EQ_INT(stored, 1);
    T_EQ_INT(dups, 2);
    T_EQ_INT(count(sp, "SELECT count(*) FROM events"), 4);

    /* a dead letter's uuid is held too */
    {
        queue *q = anon_spool_queue(sp);
        long long id = count(sp, "SELECT id FROM events WHERE uuid = "
                                 "'0f8fad5b-d9cb-469f-a165-70867728950e'");

        T_EQ_INT(queue_begin(q, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(queue_dead(q, id, 0, NULL, "2026-05-11T13:00:00.000Z", "rejected by collector: HTTP 400",
                            errbuf, sizeof errbuf),
                 ANON_OK);
        T_EQ_INT(queue_commit(q, errbuf, sizeof errbuf), ANON_OK);
        T_EQ_INT(count(sp, "SELECT count(*) FROM dlq"), 1);
        T_EQ_INT(anon_spool_append_records(sp, recs, 1, &stored, &dups, errbuf, sizeof errbuf),
                 ANON_OK);
        T_EQ_INT(stored, 0);
        T_EQ_INT(dups, 1);
        T_EQ_INT(count(sp, "SELECT count(*) FROM events"), 3);
    }

    /* all or none: an invalid record among valid ones stores nothing, naming it */
    bad[0] = recs[2];
    bad[0].uuid = "11111111-2222-4333-8444-555555555555";
    bad[1] = recs[0];
    bad[1].uuid = NULL;
    bad[1].parameters = "{\"task\":\"batch\"}";
    T_EQ_INT(anon_spool_append_records(sp, bad, 2, &stored, &dups, errbuf, sizeof errbuf),
             ANON_EINVAL);
    T_CHECK(err_is("events[1].parameters.taskStatus: missing required field"));
    T_EQ_INT(stored, 0);
    T_EQ_INT(count(sp, "SELECT count(*) FROM events"), 3);
    bad[1] = recs[0];
    bad[1].uuid = "not-a-uuid";
    T_EQ_INT(anon_spool_append_records(sp, bad, 2, NULL, NULL, errbuf, sizeof errbuf),
             ANON_EINVAL);
    T_CHECK(err_is("events[1].uuid: not a uuid (8-4-4-4-12 hex digits)"));
    bad[1] = recs[0];
    bad[1].ts = "yesterday";
    T_EQ_INT(anon_spool_append_records(sp, bad, 2, NULL, NULL, errbuf, sizeof errbuf),
             ANON_EINVAL);
    T_CHECK(err_is("events[1].ts: not a UTC time like 2026-05-11T12:00:00.000Z"));
    bad[1] = recs[0];
    bad[1].session_id = NULL;
    T_EQ_INT(anon_spool_append_records(sp, bad, 2, NULL, NULL, errbuf, sizeof errbuf),
             ANON_EINVAL);
    T_CHECK(err_is("events[1].sessionId: missing required field"));
    bad[1] = recs[0];
    bad[1].parameters = "{\"a\":1} {";
    T_EQ_INT(anon_spool_append_records(sp, bad, 2, NULL, NULL, errbuf, sizeof errbuf),
             ANON_EINVAL);
    T_CHECK(err_has("events[1].parameters: invalid JSON at byte 9"));
    T_EQ_INT(count(sp, "SELECT count(*) FROM events"), 3);
    T_EQ_INT(anon_spool_append_records(sp, NULL, 0, NULL, NULL, errbuf, sizeof errbuf), ANON_OK);
    unsetenv("NEMO_SESSION_PREFIX");
    anon_spool_close(sp);
}

int main(void)
{
    char dir[] = "/tmp/anon-test-intake.XXXXXX";
    char cmd[128];

    test_python_body();
    test_header_fields();
    test_refusals();
    test_ids();
    test_round_trip();
    test_writer_cap();
    if (mkdtemp(dir) != NULL) {
        test_append_records(dir);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            printf("cannot remove %s\n", dir);
    } else {
        T_CHECK(!"mkdtemp");
    }
    anon_envelope_free(env);
    return t_done();
}
