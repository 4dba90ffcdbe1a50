/*
 * event.c: the anonymizer_event parameters (schema 1.7).
 *
 * One table, `fields`, lists the 38 parameters in wire order with their alias,
 * snake_case name, type, default and whether they are required. Parsing,
 * setting, validation and serialisation are all driven by it: a field is added
 * or changed here and nowhere else.
 *
 * The serialised parameters object is compact JSON with every key present, in
 * table order, written as Python's json.dumps writes values (see jsonw.c).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum ftype { F_ENUM, F_STRING, F_INT, F_NUMBER, F_BOOL, F_STRINGS };

struct field {
    const char *alias;
    const char *name;
    enum ftype type;
    int required;
    const char *const *values;   /* F_ENUM: allowed values, NULL-terminated */
    const char *def_str;         /* F_ENUM, F_STRING default; NULL: computed or required */
    double def_num;              /* F_INT, F_NUMBER, F_BOOL default */
};

static const char *const v_source[] = {"anonymizer", "undefined", NULL};
static const char *const v_task[] = {"batch", "preview", NULL};
static const char *const v_status[] = {"completed", "error", "canceled", NULL};
static const char *const v_deploy[] = {"cli", "sdk", "nmp", "undefined", NULL};

#define NA ANON_NOT_APPLICABLE
#define REQ_STR(a, n) {a, n, F_STRING, 1, NULL, NULL, 0}
#define OPT_STR(a, n) {a, n, F_STRING, 0, NULL, NA, 0}
#define INT(a, n, d) {a, n, F_INT, 0, NULL, NULL, d}
#define BOOL(a, n) {a, n, F_BOOL, 0, NULL, NULL, 0}

static const struct field fields[] = {
    {"nemoSource", "nemo_source", F_ENUM, 0, v_source, "anonymizer", 0},
    {"task", "task", F_ENUM, 1, v_task, NULL, 0},
    {"taskStatus", "task_status", F_ENUM, 1, v_status, NULL, 0},
    {"deploymentType", "deployment_type", F_ENUM, 0, v_deploy, NULL, 0}, /* from env */
    {"jobDurationSec", "job_duration_sec", F_NUMBER, 0, NULL, NULL, -1.0},
    INT("numInputRecords", "num_input_records", -1),
    INT("numSuccessRecords", "num_success_records", -1),
    INT("numFailureRecords", "num_failure_records", -1),
    INT("avgTokensPerRecord", "avg_tokens_per_record", -1),
    REQ_STR("transformationType", "transformation_type"),
    BOOL("customDataSummaryProvided", "custom_data_summary_provided"),
    BOOL("customPrivacyGoalProvided", "custom_privacy_goal_provided"),
    BOOL("customSubstituteInstructionsProvided", "custom_substitute_instructions_provided"),
    INT("maxRepairIterations", "max_repair_iterations", -1),
    BOOL("strictEntityProtection", "strict_entity_protection"),
    INT("repairIterationsTriggered", "repair_iterations_triggered", -1),
    REQ_STR("entityDetectorModel", "entity_detector_model"),
    REQ_STR("entityValidatorModel", "entity_validator_model"),
    REQ_STR("entityAugmenterModel", "entity_augmenter_model"),
    OPT_STR("latentDetectorModel", "latent_detector_model"),
    OPT_STR("replacementGeneratorModel", "replacement_generator_model"),
    OPT_STR("domainClassifierModel", "domain_classifier_model"),
    OPT_STR("dispositionAnalyzerModel", "disposition_analyzer_model"),
    OPT_STR("meaningExtractorModel", "meaning_extractor_model"),
    OPT_STR("qaGeneratorModel", "qa_generator_model"),
    OPT_STR("rewriterModel", "rewriter_model"),
    OPT_STR("evaluatorModel", "evaluator_model"),
    OPT_STR("repairerModel", "repairer_model"),
    OPT_STR("judgeModel", "judge_model"),
    {"modelHosts", "model_hosts", F_STRINGS, 0, NULL, NULL, 0},
    INT("entityDetectionFailureCount", "entity_detection_failure_count", 0),
    INT("latentDetectionFailureCount", "latent_detection_failure_count", 0),
    INT("replaceMapGenerationFailureCount", "replace_map_generation_failure_count", 0),
    INT("rewritePipelineFailureCount", "rewrite_pipeline_failure_count", 0),
    INT("rewriteEvaluateFailureCount", "rewrite_evaluate_failure_count", 0),
    INT("rewriteRepairFailureCount", "rewrite_repair_failure_count", 0),
    INT("rewriteFinalJudgeFailureCount", "rewrite_final_judge_failure_count", 0),
    INT("unknownStepFailureCount", "unknown_step_failure_count", 0),
};

#define NFIELDS (sizeof fields / sizeof fields[0])
#define MAX_HOSTS 64              /* modelHosts entries: one per model provider */
/* The largest integer accepted, 2^53 - 1 (I-JSON, RFC 7493): every integer up to it is a
 * double exactly, and no other integer's double is the same, so a reader that parses JSON
 * numbers as doubles gets it back exactly. 2^53 itself is refused: 2^53 + 1 rounds to it. */
#define INT_MAX_SAFE 9007199254740991LL
#define INT_RANGE "(at most +-9007199254740991, 2^53 - 1: a larger one would be rounded)"

struct value {
    int set;
    char *s;           /* F_ENUM, F_STRING */
    int64_t i;         /* F_INT, F_BOOL */
    double d;          /* F_NUMBER */
    char **list;       /* F_STRINGS */
    size_t nlist;
};

struct anon_event {
    struct value v[NFIELDS];
    int64_t time_ms;   /* the event's ts; 0: stamped when it is appended */
};

static const char *type_name(enum ftype t)
{
    switch (t) {
    case F_ENUM:
    case F_STRING: return "a string";
    case F_INT: return "an integer";
    case F_NUMBER: return "a number";
    case F_BOOL: return "a boolean";
    case F_STRINGS: return "an array of strings";
    }
    return "?";
}

static int find_field(const char *key)
{
    /* the first byte rules out most fields without a call: a stored event's parameters
     * hold all 38 keys, each looked up here (an import checks every one of them) */
    for (size_t i = 0; i < NFIELDS; i++)
        if ((key[0] == fields[i].alias[0] && strcmp(key, fields[i].alias) == 0) ||
            (key[0] == fields[i].name[0] && strcmp(key, fields[i].name) == 0))
            return (int)i;
    return -1;
}

/* Telemetry carries model names, never user text: short, valid UTF-8, no controls. */
int anon_check_string(const char *key, const char *s, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);

    if (len > ANON_MAX_STRING)
        return anon_seterr(err, errlen, ANON_EINVAL, "%s: string is %zu bytes, at most %d allowed",
                           key, len, ANON_MAX_STRING);
    while (*p) {
        uint32_t cp;
        size_t n = anon_utf8_decode(p, &cp);

        if (n == 0)
            return anon_seterr(err, errlen, ANON_EINVAL, "%s: string is not valid UTF-8 (byte %zu)",
                               key, (size_t)(p - (const unsigned char *)s) + 1);
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return anon_seterr(err, errlen, ANON_EINVAL,
                               "%s: control character U+%04X in string", key, (unsigned)cp);
        p += n;
    }
    return ANON_OK;
}

static void clear_value(struct value *v)
{
    free(v->s);
    for (size_t i = 0; i < v->nlist; i++)
        free(v->list[i]);
    free(v->list);
    memset(v, 0, sizeof *v);
}

anon_event *anon_event_new(void)
{
    return calloc(1, sizeof(anon_event));
}

void anon_event_free(anon_event *ev)
{
    if (ev == NULL)
        return;
    for (size_t i = 0; i < NFIELDS; i++)
        clear_value(&ev->v[i]);
    free(ev);
}

int anon_event_set_time(anon_event *ev, int64_t ms, char *err, size_t errlen)
{
    if (ev == NULL || ms <= 0)
        return anon_seterr(err, errlen, ANON_EINVAL, "ts: expected a time after 1970, got %lld ms",
                           (long long)ms);
    ev->time_ms = ms;
    return ANON_OK;
}

int64_t anon_event_time(const anon_event *ev)
{
    return ev->time_ms;
}

/* Looks the key up and checks the caller's type against the table. */
static int lookup(const char *key, enum ftype want, int *ret_idx, char *err, size_t errlen)
{
    int i;

    if (key == NULL)
        return anon_seterr(err, errlen, ANON_EINVAL, "field name is NULL");
    i = find_field(key);
    if (i < 0)
        return anon_seterr(err, errlen, ANON_EINVAL, "%s: unknown field", key);
    if (fields[i].type != want && !(want == F_STRING && fields[i].type == F_ENUM) &&
        !(want == F_INT && fields[i].type == F_NUMBER))
        return anon_seterr(err, errlen, ANON_EINVAL, "%s: expected %s", key,
                           type_name(fields[i].type));
    *ret_idx = i;
    return ANON_OK;
}

int anon_event_set_string(anon_event *ev, const char *key, const char *value, char *err,
                          size_t errlen)
{
    const struct field *f;
    char *copy;
    int i, rc;

    if ((rc = lookup(key, F_STRING, &i, err, errlen)) != ANON_OK)
        return rc;
    f = &fields[i];
    if (value == NULL)
        return anon_seterr(err, errlen, ANON_EINVAL, "%s: expected %s, got null", key,
                           type_name(f->type));
    if ((rc = anon_check_string(key, value, err, errlen)) != ANON_OK)
        return rc;
    if (f->type == F_ENUM) {
        size_t k = 0;
        while (f->values[k] != NULL && strcmp(f->values[k], value) != 0)
            k++;
        if (f->values[k] == NULL) {
            anon_buf b;
            anon_buf_init(&b);
            for (k = 0; f->values[k] != NULL; k++)
                anon_buf_printf(&b, "%s%s", k ? ", " : "", f->values[k]);
            rc = anon_seterr(err, errlen, ANON_EINVAL, "%s: unknown value \"%s\" (expected %s)",
                             key, value, b.data ? b.data : "?");
            anon_buf_free(&b);
            return rc;
        }
    }
    copy = strdup(value);
    if (copy == NULL)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    clear_value(&ev->v[i]);
    ev->v[i].s = copy;
    ev->v[i].set = 1;
    return ANON_OK;
}

int anon_event_set_int(anon_event *ev, const char *key, int64_t value, char *err,
                       size_t errlen)
{
    int i, rc;

    if ((rc = lookup(key, F_INT, &i, err, errlen)) != ANON_OK)
        return rc;
    if (value > INT_MAX_SAFE || value < -INT_MAX_SAFE)
        return anon_seterr(err, errlen, ANON_EINVAL, "%s: integer %lld out of range " INT_RANGE,
                           key, (long long)value);
    if (fields[i].type == F_NUMBER)     /* an integer is a fine float, as in Python */
        return anon_event_set_number(ev, key, (double)value, err, errlen);
    clear_value(&ev->v[i]);
    ev->v[i].i = value;
    ev->v[i].set = 1;
    return ANON_OK;
}

int anon_event_set_number(anon_event *ev, const char *key, double value, char *err,
                          size_t errlen)
{
    int i, rc;

    if ((rc = lookup(key, F_NUMBER, &i, err, errlen)) != ANON_OK)
        return rc;
    if (!isfinite(value))
        return anon_seterr(err, errlen, ANON_EINVAL, "%s: number is not finite", key);
    clear_value(&ev->v[i]);
    ev->v[i].d = value;
    ev->v[i].set = 1;
    return ANON_OK;
}

int anon_event_set_bool(anon_event *ev, const char *key, int value, char *err, size_t errlen)
{
    int i, rc;

    if ((rc = lookup(key, F_BOOL, &i, err, errlen)) != ANON_OK)
        return rc;
    clear_value(&ev->v[i]);
    ev->v[i].i = value != 0;
    ev->v[i].set = 1;
    return ANON_OK;
}

int anon_event_set_strings(anon_event *ev, const char *key, const char *const *values,
                           size_t n, char *err, size_t errlen)
{
    struct value nv;
    int i, rc;

    if ((rc = lookup(key, F_STRINGS, &i, err, errlen)) != ANON_OK)
        return rc;
    if (n > MAX_HOSTS)
        return anon_seterr(err, errlen, ANON_EINVAL, "%s: %zu entries, at most %d allowed",
                           key, n, MAX_HOSTS);
    memset(&nv, 0, sizeof nv);
    nv.list = calloc(n ? n : 1, sizeof *nv.list);
    if (nv.list == NULL)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    for (size_t k = 0; k < n; k++) {
        if (values[k] == NULL) {
            rc = anon_seterr(err, errlen, ANON_EINVAL, "%s[%zu]: expected a string, got null",
                             key, k);
            goto fail;
        }
        if ((rc = anon_check_string(key, values[k], err, errlen)) != ANON_OK)
            goto fail;
        nv.list[k] = strdup(values[k]);
        if (nv.list[k] == NULL) {
            rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
            goto fail;
        }
        nv.nlist = k + 1;
    }
    nv.set = 1;
    clear_value(&ev->v[i]);
    ev->v[i] = nv;
    return ANON_OK;
fail:
    clear_value(&nv);
    return rc;
}

int anon_event_validate(const anon_event *ev, char *err, size_t errlen)
{
    if (ev == NULL)
        return anon_seterr(err, errlen, ANON_EINVAL, "event is NULL");
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].required && !ev->v[i].set)
            return anon_seterr(err, errlen, ANON_EINVAL, "%s: missing required field",
                               fields[i].alias);
    return ANON_OK;
}

/* JSON names for the value kinds a wrong-type message reports. */
static const char *json_kind(const cJSON *j)
{
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "an invalid value";
}

/*
 * The raw text of the values. cJSON keeps a number only as a double, which has already
 * rounded 9007199254740993 to 9007199254740992: the integer checks read the number's own
 * text instead. raw_next walks the top-level object's members in the order cJSON lists
 * them; cJSON has validated the text already, so this only finds where values start and
 * end.
 */
struct raw_cursor {
    const char *p, *end;
};

static const char *raw_ws(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= 32) /* what cJSON skips as white space */
        p++;
    return p;
}

/* p at a string's opening quote: just past its closing one. */
static const char *raw_string(const char *p, const char *end)
{
    for (p++; p < end && *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p < end ? p + 1 : end;
}

/* p at a value: just past it. */
static const char *raw_value(const char *p, const char *end)
{
    int depth = 0;

    while (p < end) {
        if (*p == '"') {
            p = raw_string(p, end);
        } else if (*p == '{' || *p == '[') {
            depth++;
            p++;
        } else if (*p == '}' || *p == ']') {
            depth--;
            p++;
        } else if (depth == 0) {
            /* a number, true, false or null: up to the next separator */
            while (p < end && *p != ',' && *p != '}' && *p != ']' && (unsigned char)*p > 32)
                p++;
            return p;
        } else {
            p++;
        }
        if (depth <= 0)
            return p;
    }
    return p;
}

/* The next member's value text into *ret_v, *ret_len: 0, or -1 when there is none. */
static int raw_next(struct raw_cursor *c, const char **ret_v, size_t *ret_len)
{
    const char *p = raw_ws(c->p, c->end);

    if (p < c->end && (*p == '{' || *p == ','))
        p = raw_ws(p + 1, c->end);
    if (p >= c->end || *p != '"')
        return -1;
    p = raw_ws(raw_string(p, c->end), c->end);
    if (p >= c->end || *p != ':')
        return -1;
    p = raw_ws(p + 1, c->end);
    *ret_v = p;
    c->p = raw_value(p, c->end);
    *ret_len = (size_t)(c->p - p);
    return 0;
}

/*
 * The integer a JSON number's text denotes, computed from the digits, never through a
 * double: 1 with *ret set; 0 when it is not an integer (a fraction, however small);
 * -1 when it is an integer beyond +-INT_MAX_SAFE. "1e3" and "1000.0" are 1000.
 */
static int raw_integer(const char *s, size_t len, int64_t *ret)
{
    const char *p = s, *end = s + len;
    char sig[16];          /* the first significant digits: more make it out of range */
    size_t nsig = 0, last_nz = 0;
    long mag = 0;          /* the value is 0.<significant digits> x 10^mag */
    long e = 0;
    int neg = 0, eneg = 0, frac = 0;
    int64_t v = 0;

    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    for (; p < end && ((*p >= '0' && *p <= '9') || (*p == '.' && !frac)); p++) {
        if (*p == '.') {
            frac = 1;
            continue;
        }
        if (nsig == 0 && *p == '0') {   /* a leading zero */
            if (frac)
                mag--;
            continue;
        }
        if (nsig < sizeof(sig))
            sig[nsig] = *p;
        nsig++;
        if (*p != '0')
            last_nz = nsig;
        if (!frac)
            mag++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (e < 1000000)           /* far past any integer in range */
                e = e * 10 + (*p - '0');
        mag += eneg ? -e : e;
    }
    if (last_nz == 0) {                 /* every digit is zero */
        *ret = 0;
        return 1;
    }
    if (mag < (long)last_nz)            /* a nonzero digit after the point */
        return 0;
    if (mag > 16)                       /* more digits than 2^53 - 1 has */
        return -1;
    for (long k = 0; k < mag; k++)
        v = v * 10 + ((size_t)k < last_nz ? sig[k] - '0' : 0);
    if (v > INT_MAX_SAFE)
        return -1;
    *ret = neg ? -v : v;
    return 1;
}

static int raw_has_any(const char *s, size_t len, const char *set)
{
    for (size_t k = 0; k < len; k++)
        if (strchr(set, s[k]) != NULL)
            return 1;
    return 0;
}

/* A number's text for a message: short, and only [0-9.eE+-] anyway. */
#define RAW_SHOWN(raw, len) (int)((len) > 40 ? 40 : (len)), (raw), (len) > 40 ? "..." : ""

static int set_from_json(anon_event *ev, int i, const char *key, const cJSON *j,
                         const char *raw, size_t rawlen, char *err, size_t errlen)
{
    const struct field *f = &fields[i];
    int64_t iv;

    switch (f->type) {
    case F_ENUM:
    case F_STRING:
        if (!cJSON_IsString(j))
            break;
        return anon_event_set_string(ev, key, j->valuestring, err, errlen);
    case F_INT:
        if (!cJSON_IsNumber(j))
            break;
        switch (raw_integer(raw, rawlen, &iv)) {
        case 0:
            return anon_seterr(err, errlen, ANON_EINVAL, "%s: expected an integer, got %.*s%s",
                               key, RAW_SHOWN(raw, rawlen));
        case -1:
            return anon_seterr(err, errlen, ANON_EINVAL, "%s: integer %.*s%s out of range "
                               INT_RANGE, key, RAW_SHOWN(raw, rawlen));
        }
        return anon_event_set_int(ev, key, iv, err, errlen);
    case F_NUMBER:
        if (!cJSON_IsNumber(j))
            break;
        /* A float may round, but a number written as an integer must not change value. */
        if (!raw_has_any(raw, rawlen, ".eE") && raw_integer(raw, rawlen, &iv) < 0)
            return anon_seterr(err, errlen, ANON_EINVAL, "%s: integer %.*s%s out of range "
                               INT_RANGE, key, RAW_SHOWN(raw, rawlen));
        return anon_event_set_number(ev, key, j->valuedouble, err, errlen);
    case F_BOOL:
        if (!cJSON_IsBool(j))
            break;
        return anon_event_set_bool(ev, key, cJSON_IsTrue(j), err, errlen);
    case F_STRINGS: {
        const char *vals[MAX_HOSTS];
        size_t n = 0;
        const cJSON *e;
        if (!cJSON_IsArray(j))
            break;
        cJSON_ArrayForEach(e, j) {
            if (n == MAX_HOSTS)
                return anon_seterr(err, errlen, ANON_EINVAL, "%s: more than %d entries", key,
                                   MAX_HOSTS);
            if (!cJSON_IsString(e))
                return anon_seterr(err, errlen, ANON_EINVAL, "%s[%zu]: expected a string, got %s",
                                   key, n, json_kind(e));
            vals[n++] = e->valuestring;
        }
        return anon_event_set_strings(ev, key, vals, n, err, errlen);
    }
    }
    return anon_seterr(err, errlen, ANON_EINVAL, "%s: expected %s, got %s", key,
                       type_name(f->type), json_kind(j));
}

/*
 * cJSON decodes "\u0000" into a NUL that silently ends the string; a control
 * character must be refused, not truncated, so look for it in the raw text.
 */
static int has_escaped_nul(const char *s, size_t len)
{
    int in_str = 0;

    for (size_t i = 0; i < len; i++) {
        if (!in_str) {
            if (s[i] == '"')
                in_str = 1;
        } else if (s[i] == '\\') {
            if (i + 5 < len && s[i + 1] == 'u' && strncmp(s + i + 2, "0000", 4) == 0)
                return 1;
            i++;
        } else if (s[i] == '"') {
            in_str = 0;
        }
    }
    return 0;
}

int anon_event_parse_value(const char *json, size_t len, const char **ret_end,
                           anon_event **ret_ev, char *err, size_t errlen)
{
    cJSON *root = NULL;
    anon_event *ev = NULL;
    const cJSON *item;
    const char *end = NULL;
    struct raw_cursor raw;
    int seen[NFIELDS] = {0};
    int rc;

    *ret_ev = NULL;
    *ret_end = json;
    if (json == NULL)
        return anon_seterr(err, errlen, ANON_EINVAL, "no JSON given");
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        if (at != NULL && at >= json && at <= json + len)
            *ret_end = at;
        return anon_seterr(err, errlen, ANON_EINVAL, "invalid JSON near byte %zu",
                           (size_t)(*ret_end - json) + 1);
    }
    *ret_end = end;
    if (has_escaped_nul(json, (size_t)(end - json))) {
        rc = anon_seterr(err, errlen, ANON_EINVAL, "control character U+0000 in a string");
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rc = anon_seterr(err, errlen, ANON_EINVAL, "expected a JSON object, got %s",
                         json_kind(root));
        goto done;
    }
    ev = anon_event_new();
    if (ev == NULL) {
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        goto done;
    }
    raw.p = json;
    raw.end = end;
    if (end - json >= 3 && memcmp(json, "\xEF\xBB\xBF", 3) == 0)
        raw.p += 3;                     /* a byte order mark, which cJSON skips too */
    cJSON_ArrayForEach(item, root) {
        const char *rawv;
        size_t rawlen;
        int i = find_field(item->string);

        if (raw_next(&raw, &rawv, &rawlen) != 0) {
            /* cJSON accepted what this walk cannot follow: refuse rather than guess */
            rc = anon_seterr(err, errlen, ANON_EINVAL, "%s: cannot read the value's text",
                             item->string);
            goto done;
        }
        if (i < 0) {
            rc = anon_seterr(err, errlen, ANON_EINVAL, "%s: unknown field", item->string);
            goto done;
        }
        if (seen[i]++) {
            rc = anon_seterr(err, errlen, ANON_EINVAL, "%s: field given twice (as %s or %s)",
                             item->string, fields[i].alias, fields[i].name);
            goto done;
        }
        rc = set_from_json(ev, i, item->string, item, rawv, rawlen, err, errlen);
        if (rc != ANON_OK)
            goto done;
    }
    rc = anon_event_validate(ev, err, errlen);
    if (rc == ANON_OK) {
        *ret_ev = ev;
        ev = NULL;
    }
done:
    anon_event_free(ev);
    cJSON_Delete(root);
    return rc;
}

int anon_event_from_json(const char *json, size_t len, anon_event **ret_ev, char *err,
                         size_t errlen)
{
    const char *end;
    int rc = anon_event_parse_value(json, len, &end, ret_ev, err, errlen);

    if (rc != ANON_OK)
        return rc;
    for (; (size_t)(end - json) < len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            anon_event_free(*ret_ev);
            *ret_ev = NULL;
            return anon_seterr(err, errlen, ANON_EINVAL, "unexpected text after the JSON object");
        }
    return ANON_OK;
}

int anon_event_parameters_json(const anon_event *ev, char **ret_json, char *err,
                               size_t errlen)
{
    anon_buf b;
    int rc;

    *ret_json = NULL;
    if ((rc = anon_event_validate(ev, err, errlen)) != ANON_OK)
        return rc;
    anon_buf_init(&b);
    anon_buf_append(&b, "{", 1);
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[i];
        const struct value *v = &ev->v[i];

        if (i > 0)
            anon_buf_append(&b, ",", 1);
        anon_buf_json_string(&b, f->alias);
        anon_buf_append(&b, ":", 1);
        switch (f->type) {
        case F_ENUM:
        case F_STRING:
            /* the only computed default: deploymentType from the environment, now */
            anon_buf_json_string(&b, v->set ? v->s : f->def_str ? f->def_str
                                                                : anon_deployment_type());
            break;
        case F_INT:
            anon_buf_printf(&b, "%lld", (long long)(v->set ? v->i : (int64_t)f->def_num));
            break;
        case F_NUMBER:
            anon_buf_json_double(&b, v->set ? v->d : f->def_num);
            break;
        case F_BOOL:
            anon_buf_puts(&b, (v->set ? v->i : (int64_t)f->def_num) ? "true" : "false");
            break;
        case F_STRINGS:
            anon_buf_append(&b, "[", 1);
            for (size_t k = 0; k < v->nlist; k++) {
                if (k > 0)
                    anon_buf_append(&b, ",", 1);
                anon_buf_json_string(&b, v->list[k]);
            }
            anon_buf_append(&b, "]", 1);
            break;
        }
    }
    anon_buf_append(&b, "}", 1);
    if (b.oom) {
        anon_buf_free(&b);
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    }
    /* the relay refuses a bigger object from a client: the writer stays within it too */
    if (b.len > ANON_MAX_PARAMS) {
        rc = anon_seterr(err, errlen, ANON_EINVAL, "parameters: %zu bytes serialised, at most %d "
                         "allowed", b.len, ANON_MAX_PARAMS);
        anon_buf_free(&b);
        return rc;
    }
    *ret_json = b.data;
    return ANON_OK;
}
