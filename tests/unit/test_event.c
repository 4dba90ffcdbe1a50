/* test_event.c: field rules, serialisation, environment rules, helpers, JSON writing, time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "test.h"

#define REQ "\"task\":\"batch\",\"taskStatus\":\"completed\",\"transformationType\":\"redact\"," \
            "\"entityDetectorModel\":\"d\",\"entityValidatorModel\":\"v\",\"entityAugmenterModel\":\"a\""

static char errbuf[ANON_ERRLEN];

/* Parses json; returns the status and leaves the message in errbuf. */
static int parse(const char *json)
{
    anon_event *ev = NULL;
    int rc;

    errbuf[0] = '\0';
    rc = anon_event_from_json(json, strlen(json), &ev, errbuf, sizeof errbuf);
    T_CHECK((rc == ANON_OK) == (ev != NULL));
    anon_event_free(ev);
    return rc;
}

/* Parses json and serialises it; NULL when either fails. */
static char *params_of(const char *json)
{
    anon_event *ev = NULL;
    char *out = NULL;

    if (anon_event_from_json(json, strlen(json), &ev, errbuf, sizeof errbuf) == ANON_OK)
        anon_event_parameters_json(ev, &out, errbuf, sizeof errbuf);
    anon_event_free(ev);
    return out;
}

static int err_has(const char *needle)
{
    return strstr(errbuf, needle) != NULL;
}

static const char defaults_json[] =
    "{\"nemoSource\":\"anonymizer\",\"task\":\"batch\",\"taskStatus\":\"completed\","
    "\"deploymentType\":\"sdk\",\"jobDurationSec\":-1.0,\"numInputRecords\":-1,"
    "\"numSuccessRecords\":-1,\"numFailureRecords\":-1,\"avgTokensPerRecord\":-1,"
    "\"transformationType\":\"redact\",\"customDataSummaryProvided\":false,"
    "\"customPrivacyGoalProvided\":false,\"customSubstituteInstructionsProvided\":false,"
    "\"maxRepairIterations\":-1,\"strictEntityProtection\":false,"
    "\"repairIterationsTriggered\":-1,\"entityDetectorModel\":\"d\","
    "\"entityValidatorModel\":\"v\",\"entityAugmenterModel\":\"a\","
    "\"latentDetectorModel\":\"not_applicable\",\"replacementGeneratorModel\":\"not_applicable\","
    "\"domainClassifierModel\":\"not_applicable\",\"dispositionAnalyzerModel\":\"not_applicable\","
    "\"meaningExtractorModel\":\"not_applicable\",\"qaGeneratorModel\":\"not_applicable\","
    "\"rewriterModel\":\"not_applicable\",\"evaluatorModel\":\"not_applicable\","
    "\"repairerModel\":\"not_applicable\",\"judgeModel\":\"not_applicable\",\"modelHosts\":[],"
    "\"entityDetectionFailureCount\":0,\"latentDetectionFailureCount\":0,"
    "\"replaceMapGenerationFailureCount\":0,\"rewritePipelineFailureCount\":0,"
    "\"rewriteEvaluateFailureCount\":0,\"rewriteRepairFailureCount\":0,"
    "\"rewriteFinalJudgeFailureCount\":0,\"unknownStepFailureCount\":0}";

static void test_defaults_and_names(void)
{
    char *a, *b;

    unsetenv("NEMO_DEPLOYMENT_TYPE");
    a = params_of("{" REQ "}");
    T_EQ_STR(a, defaults_json);
    free(a);

    /* snake_case and alias names give the same object */
    a = params_of("{\"task\":\"preview\",\"task_status\":\"error\",\"transformation_type\":\"hash\","
                  "\"entity_detector_model\":\"d\",\"entity_validator_model\":\"v\","
                  "\"entity_augmenter_model\":\"a\",\"num_input_records\":10,"
                  "\"job_duration_sec\":2,\"model_hosts\":[\"local\"],\"strict_entity_protection\":true,"
                  "\"deployment_type\":\"nmp\",\"judge_model\":\"j\"}");
    b = params_of("{\"task\":\"preview\",\"taskStatus\":\"error\",\"transformationType\":\"hash\","
                  "\"entityDetectorModel\":\"d\",\"entityValidatorModel\":\"v\","
                  "\"entityAugmenterModel\":\"a\",\"numInputRecords\":10,"
                  "\"jobDurationSec\":2.0,\"modelHosts\":[\"local\"],\"strictEntityProtection\":true,"
                  "\"deploymentType\":\"nmp\",\"judgeModel\":\"j\"}");
    T_CHECK(a != NULL && b != NULL);
    T_EQ_STR(a, b);
    T_CHECK(a != NULL && strstr(a, "\"jobDurationSec\":2.0,") != NULL);
    T_CHECK(a != NULL && strstr(a, "\"numInputRecords\":10,") != NULL);
    T_CHECK(a != NULL && strstr(a, "\"modelHosts\":[\"local\"],") != NULL);
    T_CHECK(a != NULL && strstr(a, "\"judgeModel\":\"j\",") != NULL);
    free(a);
    free(b);
}

static void test_deployment_type_env(void)
{
    char *a;

    setenv("NEMO_DEPLOYMENT_TYPE", "CLI", 1);
    a = params_of("{" REQ "}");
    T_CHECK(a != NULL && strstr(a, "\"deploymentType\":\"cli\"") != NULL);
    free(a);
    /* a value in the event wins over the environment */
    a = params_of("{" REQ ",\"deploymentType\":\"nmp\"}");
    T_CHECK(a != NULL && strstr(a, "\"deploymentType\":\"nmp\"") != NULL);
    free(a);
    /* read at call time: serialising the same event after a change sees the change */
    {
        anon_event *ev = NULL;
        char *j1 = NULL, *j2 = NULL;
        T_EQ_INT(anon_event_from_json("{" REQ "}", strlen("{" REQ "}"), &ev, NULL, 0), ANON_OK);
        setenv("NEMO_DEPLOYMENT_TYPE", "bogus", 1);
        anon_event_parameters_json(ev, &j1, NULL, 0);
        unsetenv("NEMO_DEPLOYMENT_TYPE");
        anon_event_parameters_json(ev, &j2, NULL, 0);
        T_CHECK(j1 != NULL && strstr(j1, "\"deploymentType\":\"undefined\"") != NULL);
        T_CHECK(j2 != NULL && strstr(j2, "\"deploymentType\":\"sdk\"") != NULL);
        free(j1);
        free(j2);
        anon_event_free(ev);
    }
}

static void test_required(void)
{
    static const char *const req[] = {"task", "taskStatus", "transformationType",
                                      "entityDetectorModel", "entityValidatorModel",
                                      "entityAugmenterModel"};
    static const char *const vals[] = {"\"batch\"", "\"completed\"", "\"redact\"",
                                       "\"d\"", "\"v\"", "\"a\""};
    for (size_t skip = 0; skip < 6; skip++) {
        char json[512];
        size_t o = 0;
        o += (size_t)snprintf(json + o, sizeof json - o, "{");
        for (size_t i = 0; i < 6; i++)
            if (i != skip)
                o += (size_t)snprintf(json + o, sizeof json - o, "%s\"%s\":%s",
                                      o > 1 ? "," : "", req[i], vals[i]);
        snprintf(json + o, sizeof json - o, "}");
        T_EQ_INT(parse(json), ANON_EINVAL);
        T_CHECK(err_has(req[skip]) && err_has("missing required field"));
    }
}

static void test_bad_input(void)
{
    T_EQ_INT(parse("{" REQ ",\"colour\":\"red\"}"), ANON_EINVAL);
    T_CHECK(err_has("colour: unknown field"));
    T_EQ_INT(parse("{" REQ ",\"nemoSource\":\"other\"}"), ANON_EINVAL);
    T_CHECK(err_has("nemoSource: unknown value \"other\""));
    T_EQ_INT(parse("{\"task\":\"Batch\",\"taskStatus\":\"completed\",\"transformationType\":\"r\","
                   "\"entityDetectorModel\":\"d\",\"entityValidatorModel\":\"v\","
                   "\"entityAugmenterModel\":\"a\"}"), ANON_EINVAL);
    T_CHECK(err_has("task: unknown value \"Batch\""));
    T_EQ_INT(parse("{" REQ ",\"taskStatus\":\"done\"}"), ANON_EINVAL); /* given twice */
    T_EQ_INT(parse("{" REQ ",\"task_status\":\"error\"}"), ANON_EINVAL);
    T_CHECK(err_has("task_status: field given twice"));

    /* no silent coercion */
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":\"abc\"}"), ANON_EINVAL);
    T_CHECK(err_has("numInputRecords: expected an integer, got a string"));
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":\"5\"}"), ANON_EINVAL);
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":1.5}"), ANON_EINVAL);
    T_CHECK(err_has("numInputRecords: expected an integer"));
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":true}"), ANON_EINVAL);
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":null}"), ANON_EINVAL);
    T_CHECK(err_has("got null"));
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":1e300}"), ANON_EINVAL);
    T_CHECK(err_has("out of range"));
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":[\"x\"]}"), ANON_EINVAL);
    T_CHECK(err_has("judgeModel: expected a string, got an array"));
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":5}"), ANON_EINVAL);
    T_EQ_INT(parse("{" REQ ",\"strictEntityProtection\":\"true\"}"), ANON_EINVAL);
    T_CHECK(err_has("strictEntityProtection: expected a boolean, got a string"));
    T_EQ_INT(parse("{" REQ ",\"strictEntityProtection\":1}"), ANON_EINVAL);
    T_EQ_INT(parse("{" REQ ",\"jobDurationSec\":\"1.0\"}"), ANON_EINVAL);
    T_CHECK(err_has("jobDurationSec: expected a number"));
    T_EQ_INT(parse("{" REQ ",\"modelHosts\":\"local\"}"), ANON_EINVAL);
    T_CHECK(err_has("modelHosts: expected an array of strings"));
    T_EQ_INT(parse("{" REQ ",\"modelHosts\":[\"local\",3]}"), ANON_EINVAL);
    T_CHECK(err_has("modelHosts[1]: expected a string, got a number"));
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":{\"a\":1}}"), ANON_EINVAL);

    /* strings: model names, never user text */
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":\"a\\nb\"}"), ANON_EINVAL);
    T_CHECK(err_has("judgeModel: control character U+000A"));
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":\"a\\u0000b\"}"), ANON_EINVAL);
    T_CHECK(err_has("U+0000"));
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":\"a\\u0085b\"}"), ANON_EINVAL);
    T_CHECK(err_has("U+0085"));
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":\"a\x7f" "b\"}"), ANON_EINVAL);
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":\"a\xff" "b\"}"), ANON_EINVAL);
    T_CHECK(err_has("judgeModel: string is not valid UTF-8"));
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":\"\xed\xa0\x80\"}"), ANON_EINVAL); /* surrogate */
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":\"\xc0\xaf\"}"), ANON_EINVAL);     /* overlong */
    T_EQ_INT(parse("{" REQ ",\"judgeModel\":\"mod\xc3\xa8le-\xe6\xa8\xa1\xe5\x9e\x8b\"}"), ANON_OK);
    {
        char json[4096], s[2100];
        memset(s, 'm', 2048);
        s[2048] = '\0';
        snprintf(json, sizeof json, "{" REQ ",\"judgeModel\":\"%s\"}", s);
        T_EQ_INT(parse(json), ANON_OK);
        snprintf(json, sizeof json, "{" REQ ",\"judgeModel\":\"%sm\"}", s);
        T_EQ_INT(parse(json), ANON_EINVAL);
        T_CHECK(err_has("judgeModel: string is 2049 bytes, at most 2048"));
    }

    /* not an object, not JSON, trailing text */
    T_EQ_INT(parse("[1,2]"), ANON_EINVAL);
    T_CHECK(err_has("expected a JSON object, got an array"));
    T_EQ_INT(parse("{\"task\":"), ANON_EINVAL);
    T_CHECK(err_has("invalid JSON"));
    T_EQ_INT(parse("{" REQ "} x"), ANON_EINVAL);
    T_CHECK(err_has("unexpected text"));
    T_EQ_INT(parse("{" REQ ",\"jobDurationSec\":NaN}"), ANON_EINVAL);
}

/* Item 17: integers are read from their text, never through a double that has already
 * rounded them; the largest accepted is 2^53 - 1 (I-JSON), and 2^53 is refused since
 * 2^53 + 1 reads as the same double. */
static void test_big_integers(void)
{
    char *out;

    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":9007199254740993}"), ANON_EINVAL);
    T_CHECK(err_has("numInputRecords: integer 9007199254740993 out of range"));
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":-9007199254740993}"), ANON_EINVAL);
    T_CHECK(err_has("numInputRecords: integer -9007199254740993 out of range"));
    T_EQ_INT(parse("{" REQ ",\"num_input_records\":9007199254740992}"), ANON_EINVAL);
    T_CHECK(err_has("num_input_records: integer 9007199254740992 out of range"));
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":-9007199254740992}"), ANON_EINVAL);
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":90071992547409930000}"), ANON_EINVAL);
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":9.007199254740993e15}"), ANON_EINVAL);
    T_CHECK(err_has("out of range"));
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":9007199254740991.0000000001}"), ANON_EINVAL);
    T_CHECK(err_has("numInputRecords: expected an integer, got 9007199254740991.0000000001"));
    /* a fraction too small for a double to keep is still a fraction */
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":1.0000000000000000001}"), ANON_EINVAL);
    T_CHECK(err_has("expected an integer"));
    T_EQ_INT(parse("{" REQ ",\"numInputRecords\":1e-400}"), ANON_EINVAL);

    /* 2^53 - 1 and its negative are kept exactly, whatever way they are written */
    out = params_of("{" REQ ",\"numInputRecords\":9007199254740991,"
                    "\"numFailureRecords\":-9007199254740991,"
                    "\"avgTokensPerRecord\":  90071992547409.91e2 ,"
                    "\"maxRepairIterations\":0.00e-7,\"numSuccessRecords\":1E3}");
    T_CHECK(out != NULL && strstr(out, "\"numInputRecords\":9007199254740991,") != NULL);
    T_CHECK(out != NULL && strstr(out, "\"numFailureRecords\":-9007199254740991,") != NULL);
    T_CHECK(out != NULL && strstr(out, "\"avgTokensPerRecord\":9007199254740991,") != NULL);
    T_CHECK(out != NULL && strstr(out, "\"maxRepairIterations\":0,") != NULL);
    T_CHECK(out != NULL && strstr(out, "\"numSuccessRecords\":1000,") != NULL);
    free(out);
    /* the text of each member is found past strings holding quotes, braces and commas */
    T_EQ_INT(parse("{\"judgeModel\":\"a\\\",}]{[\"," REQ ",\"modelHosts\":[\"x,}\",\"]\"],"
                   "\"numInputRecords\":9007199254740993}"), ANON_EINVAL);
    T_CHECK(err_has("numInputRecords: integer 9007199254740993 out of range"));
    T_EQ_INT(parse("\xEF\xBB\xBF {" REQ ",\"numInputRecords\" : 9007199254740993 }"), ANON_EINVAL);
    T_CHECK(err_has("numInputRecords: integer 9007199254740993 out of range"));

    /* a float field: a number written as an integer must not change either */
    T_EQ_INT(parse("{" REQ ",\"jobDurationSec\":9007199254740993}"), ANON_EINVAL);
    T_CHECK(err_has("jobDurationSec: integer 9007199254740993 out of range"));
    T_EQ_INT(parse("{" REQ ",\"jobDurationSec\":9007199254740991}"), ANON_OK);
    T_EQ_INT(parse("{" REQ ",\"jobDurationSec\":1e+16}"), ANON_OK);  /* a float, as written */

    /* the C setter follows the same rule */
    {
        anon_event *ev = anon_event_new();
        T_EQ_INT(anon_event_set_int(ev, "numInputRecords", 9007199254740992LL, errbuf,
                                    sizeof errbuf), ANON_EINVAL);
        T_CHECK(err_has("numInputRecords: integer 9007199254740992 out of range"));
        T_EQ_INT(anon_event_set_int(ev, "numInputRecords", -9007199254740992LL, NULL, 0),
                 ANON_EINVAL);
        T_EQ_INT(anon_event_set_int(ev, "numInputRecords", 9007199254740991LL, NULL, 0), ANON_OK);
        T_EQ_INT(anon_event_set_int(ev, "jobDurationSec", INT64_MAX, NULL, 0), ANON_EINVAL);
        anon_event_free(ev);
    }
}

static void test_setters(void)
{
    anon_event *ev = anon_event_new();
    const char *hosts[] = {"local", "other"};
    char *json = NULL;

    T_CHECK(ev != NULL);
    T_EQ_INT(anon_event_validate(ev, errbuf, sizeof errbuf), ANON_EINVAL);
    T_CHECK(err_has("task: missing required field"));
    T_EQ_INT(anon_event_set_string(ev, "task", "batch", NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_set_string(ev, "task_status", "canceled", NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_set_string(ev, "transformationType", "rewrite", NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_set_string(ev, "entityDetectorModel", "d", NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_set_string(ev, "entityValidatorModel", "v", NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_set_string(ev, "entityAugmenterModel", "a", NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_set_int(ev, "num_input_records", 100000, NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_set_number(ev, "jobDurationSec", 0.25, NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_set_int(ev, "jobDurationSec", 3, NULL, 0), ANON_OK); /* int for float */
    T_EQ_INT(anon_event_set_bool(ev, "customPrivacyGoalProvided", 1, NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_set_strings(ev, "modelHosts", hosts, 2, NULL, 0), ANON_OK);
    /* wrong types and values through the C API */
    T_EQ_INT(anon_event_set_string(ev, "task", "later", errbuf, sizeof errbuf), ANON_EINVAL);
    T_EQ_INT(anon_event_set_string(ev, "numInputRecords", "5", errbuf, sizeof errbuf),
             ANON_EINVAL);
    T_CHECK(err_has("numInputRecords: expected an integer"));
    T_EQ_INT(anon_event_set_number(ev, "numInputRecords", 1.5, errbuf, sizeof errbuf),
             ANON_EINVAL);
    T_EQ_INT(anon_event_set_bool(ev, "task", 1, errbuf, sizeof errbuf), ANON_EINVAL);
    T_EQ_INT(anon_event_set_number(ev, "jobDurationSec", NAN, errbuf, sizeof errbuf),
             ANON_EINVAL);
    T_EQ_INT(anon_event_set_string(ev, "nope", "x", errbuf, sizeof errbuf), ANON_EINVAL);
    T_CHECK(err_has("nope: unknown field"));
    T_EQ_INT(anon_event_set_string(ev, "judgeModel", NULL, errbuf, sizeof errbuf), ANON_EINVAL);
    T_EQ_INT(anon_event_validate(ev, NULL, 0), ANON_OK);
    T_EQ_INT(anon_event_parameters_json(ev, &json, NULL, 0), ANON_OK);
    T_CHECK(json != NULL && strstr(json, "\"taskStatus\":\"canceled\"") != NULL);
    T_CHECK(json != NULL && strstr(json, "\"task\":\"batch\"") != NULL);
    T_CHECK(json != NULL && strstr(json, "\"jobDurationSec\":3.0,") != NULL);
    T_CHECK(json != NULL && strstr(json, "\"numInputRecords\":100000,") != NULL);
    T_CHECK(json != NULL && strstr(json, "\"customPrivacyGoalProvided\":true,") != NULL);
    T_CHECK(json != NULL && strstr(json, "\"modelHosts\":[\"local\",\"other\"],") != NULL);
    free(json);
    anon_event_free(ev);
    anon_event_free(NULL);
}

static void test_env(void)
{
    static const char *const on[] = {"1", "true", "TRUE", "True", "yes", "YES", "yEs"};
    static const char *const off[] = {"false", "0", "no", "off", "", "2", "on", "enabled",
                                      " true", "true "};

    unsetenv("NEMO_TELEMETRY_ENABLED");
    T_EQ_INT(anon_telemetry_enabled(), 1);
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        setenv("NEMO_TELEMETRY_ENABLED", on[i], 1);
        if (!T_EQ_INT(anon_telemetry_enabled(), 1))
            printf("  for NEMO_TELEMETRY_ENABLED=\"%s\"\n", on[i]);
    }
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        setenv("NEMO_TELEMETRY_ENABLED", off[i], 1);
        if (!T_EQ_INT(anon_telemetry_enabled(), 0))
            printf("  for NEMO_TELEMETRY_ENABLED=\"%s\"\n", off[i]);
    }
    unsetenv("NEMO_TELEMETRY_ENABLED");

    unsetenv("NEMO_DEPLOYMENT_TYPE");
    T_EQ_STR(anon_deployment_type(), "sdk");
    setenv("NEMO_DEPLOYMENT_TYPE", "cli", 1);
    T_EQ_STR(anon_deployment_type(), "cli");
    setenv("NEMO_DEPLOYMENT_TYPE", "NMP", 1);
    T_EQ_STR(anon_deployment_type(), "nmp");
    setenv("NEMO_DEPLOYMENT_TYPE", "Sdk", 1);
    T_EQ_STR(anon_deployment_type(), "sdk");
    setenv("NEMO_DEPLOYMENT_TYPE", "SD\xe2\x84\xaa", 1);   /* KELVIN SIGN lowers to k */
    T_EQ_STR(anon_deployment_type(), "sdk");
    setenv("NEMO_DEPLOYMENT_TYPE", "kubernetes", 1);
    T_EQ_STR(anon_deployment_type(), "undefined");
    setenv("NEMO_DEPLOYMENT_TYPE", "", 1);
    T_EQ_STR(anon_deployment_type(), "undefined");
    setenv("NEMO_DEPLOYMENT_TYPE", "undefined", 1);
    T_EQ_STR(anon_deployment_type(), "undefined");
    unsetenv("NEMO_DEPLOYMENT_TYPE");

    unsetenv("NEMO_TELEMETRY_ENDPOINT");
    T_EQ_STR(anon_endpoint(), "https://events.telemetry.data.nvidia.com/v1.1/events/json");
    setenv("NEMO_TELEMETRY_ENDPOINT", "https://Collector.Example/Path?Token=AbC", 1);
    T_EQ_STR(anon_endpoint(), "https://Collector.Example/Path?Token=AbC");
    unsetenv("NEMO_TELEMETRY_ENDPOINT");

    {
        char buf[64];
        unsetenv("NEMO_SESSION_PREFIX");
        T_EQ_INT(anon_session_id("3f2a", buf, sizeof buf), 0);
        T_EQ_STR(buf, "3f2a");
        setenv("NEMO_SESSION_PREFIX", "", 1);
        anon_session_id("3f2a", buf, sizeof buf);
        T_EQ_STR(buf, "3f2a");
        setenv("NEMO_SESSION_PREFIX", "anonymizer-", 1);
        anon_session_id("3f2a", buf, sizeof buf);
        T_EQ_STR(buf, "anonymizer-3f2a");
        anon_session_id(NULL, buf, sizeof buf);
        T_EQ_STR(buf, "anonymizer-undefined");
        T_EQ_INT(anon_session_id("3f2a", buf, 8), -1);
        unsetenv("NEMO_SESSION_PREFIX");
    }
}

static void test_helpers(void)
{
    const char *out[8];
    char *s;

    T_EQ_STR(anon_classify_model_host("https://Build.NVIDIA.com/v1"), "nvidia-build");
    T_EQ_STR(anon_classify_model_host("https://integrate.api.nvidia.com/v1"), "nvidia-build");
    T_EQ_STR(anon_classify_model_host("https://inference-api.nvidia.com/v1"), "nvidia-internal");
    T_EQ_STR(anon_classify_model_host("https://openrouter.ai/api/v1"), "openrouter");
    /* Python lowers U+0130 to 'i' + U+0307: "openrouter.a\u0130" holds "openrouter.ai" */
    T_EQ_STR(anon_classify_model_host("https://OPENROUTER.A\xc4\xb0/v1"), "openrouter");
    T_EQ_STR(anon_classify_model_host("https://OPENROUTER.A\xc4\xb1/v1"), "other"); /* dotless i */
    T_EQ_STR(anon_classify_model_host("HTTP://LOCALHOST:8000"), "local");
    T_EQ_STR(anon_classify_model_host("http://0.0.0.0/v1"), "local");
    T_EQ_STR(anon_classify_model_host("http://LOCALHOST:8000/v1"), "local");
    T_EQ_STR(anon_classify_model_host("http://127.0.0.1:8000"), "local");
    T_EQ_STR(anon_classify_model_host("http://[::1]:8000"), "local");
    T_EQ_STR(anon_classify_model_host("https://gliner-qaqtckhiy.brevlab.com/v1"), "other");
    T_EQ_STR(anon_classify_model_host(NULL), "other");
    T_EQ_STR(anon_classify_model_host(""), "other");
    /* order of the tests matters: build.nvidia.com wins over a local marker */
    T_EQ_STR(anon_classify_model_host("http://localhost/build.nvidia.com"), "nvidia-build");

    T_EQ_INT(anon_collect_model_hosts(NULL, 0, out, 8), 1);
    T_EQ_STR(out[0], "other");
    {
        const char *in[] = {"other", "local", "nvidia-build", "local", NULL, "other"};
        size_t n = anon_collect_model_hosts(in, 6, out, 8);
        T_EQ_INT(n, 3);
        T_EQ_STR(out[0], "local");
        T_EQ_STR(out[1], "nvidia-build");
        T_EQ_STR(out[2], "other");
    }

    {
        const char *in[] = {"  alias-a  ", "alias-b"};
        s = anon_sort_join_aliases(in, 2);
        T_EQ_STR(s, "alias-a,alias-b");
        free(s);
    }
    {
        const char *in[] = {"alias-a", "  ", ""};
        s = anon_sort_join_aliases(in, 3);
        T_EQ_STR(s, "alias-a");
        free(s);
    }
    s = anon_sort_join_aliases(NULL, 0);
    T_EQ_STR(s, "not_applicable");
    free(s);
    {
        const char *in[] = {"zeta", "\talpha\n", "Beta", "\xc2\xa0gamma\xe3\x80\x80", "b a"};
        s = anon_sort_join_aliases(in, 5);
        T_EQ_STR(s, "Beta,alpha,b a,gamma,zeta");   /* byte order; inner space kept */
        free(s);
    }
}

static void test_json_writing(void)
{
    static const struct { double v; const char *want; } nums[] = {
        {-1.0, "-1.0"}, {0.0, "0.0"}, {12.5, "12.5"}, {0.1, "0.1"}, {1e-4, "0.0001"},
        {1e-5, "1e-05"}, {1e15, "1000000000000000.0"}, {1e16, "1e+16"}, {123.456, "123.456"},
        {1.5e300, "1.5e+300"}, {-0.0, "-0.0"}, {5e-324, "5e-324"},
        {12345678901234567.0, "1.2345678901234568e+16"}, {3600.25, "3600.25"},
    };
    anon_buf b;

    anon_buf_init(&b);
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        anon_buf_reset(&b);
        anon_buf_json_double(&b, nums[i].v);
        T_EQ_STR(b.data, nums[i].want);
    }
    anon_buf_reset(&b);
    anon_buf_json_string(&b, "a\"b\\c\n\t\x01 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    T_EQ_STR(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001 \\u00e9\\u20ac\\ud83d\\ude00\"");
    anon_buf_free(&b);
}

static void test_time_and_ids(void)
{
    char ts[ANON_TS_LEN + 1], uuid[ANON_UUID_LEN + 1], uuid2[ANON_UUID_LEN + 1], hex[33];
    int64_t ms = 0;

    anon_format_ts(1778500800123LL, ts);
    T_EQ_STR(ts, "2026-05-11T12:00:00.123Z");
    anon_format_ts(1778500800000LL, ts);
    T_EQ_STR(ts, "2026-05-11T12:00:00.000Z");
    T_EQ_INT(anon_parse_ts("2026-05-11T12:00:00.123Z", &ms), 0);
    T_EQ_INT(ms, 1778500800123LL);
    T_EQ_INT(anon_parse_ts("2026-05-11 12:00:00", &ms), -1);
    T_EQ_INT(anon_parse_ts("2026-13-11T12:00:00.123Z", &ms), -1);
    T_CHECK(anon_now_ms() > 1700000000000LL);

    T_EQ_INT(anon_uuid_v4(uuid), 0);
    T_EQ_INT(anon_uuid_v4(uuid2), 0);
    T_EQ_INT(strlen(uuid), 36);
    T_CHECK(uuid[8] == '-' && uuid[13] == '-' && uuid[18] == '-' && uuid[23] == '-');
    T_CHECK(uuid[14] == '4');
    T_CHECK(strchr("89ab", uuid[19]) != NULL);
    T_CHECK(strcmp(uuid, uuid2) != 0);
    T_EQ_INT(anon_hex_id(hex), 0);
    T_EQ_INT(strlen(hex), 32);
    T_EQ_INT(strspn(hex, "0123456789abcdef"), 32);
}

static void test_status_codes(void)
{
    T_EQ_INT(anon_status_exit_code(ANON_OK), 0);
    T_EQ_INT(anon_status_exit_code(ANON_DISABLED), 0);
    T_EQ_INT(anon_status_exit_code(ANON_EINVAL), 65);
    T_EQ_INT(anon_status_exit_code(ANON_ECANTCREAT), 73);
    T_EQ_INT(anon_status_exit_code(ANON_EIO), 74);
    T_EQ_INT(anon_status_exit_code(ANON_ECORRUPT), 74);
    T_EQ_INT(anon_status_exit_code(ANON_ENEWER), 74);
    T_EQ_INT(anon_status_exit_code(ANON_EPERM), 77);
}

int main(void)
{
    test_defaults_and_names();
    test_deployment_type_env();
    test_required();
    test_bad_input();
    test_big_integers();
    test_setters();
    test_env();
    test_helpers();
    test_json_writing();
    test_time_and_ids();
    test_status_codes();
    return t_done();
}
