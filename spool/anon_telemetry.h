/*
 * anon_telemetry.h: the whole public API of libanontelemetry.
 *
 * The library turns an anonymizer_event into a durable row of a local SQLite
 * spool; anon-telemetry-ship delivers it later. It never prints, never exits,
 * never aborts: every function returns a status and, where it can fail, fills
 * the caller's error buffer (err, errlen; err may be NULL) with a sentence.
 *
 * Ownership: every pointer a function returns through ret_* or as a return
 * value belongs to the caller and is released with the matching *_free (or
 * free() where said); every *_free accepts NULL.
 */
#ifndef ANON_TELEMETRY_H
#define ANON_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden: what this header declares is its whole
 * exported ABI, everything else (internal.h) stays inside libanontelemetry.so. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* Status codes. Each maps to a sysexits(3) value (anon_status_exit_code). */
enum anon_status {
    ANON_OK = 0,
    ANON_DISABLED,      /* telemetry is off (environment or per-run opt-out); nothing stored */
    ANON_EINVAL,        /* bad event or argument: names the field (exit 65) */
    ANON_ENOMEM,        /* out of memory (exit 71) */
    ANON_ECANTCREAT,    /* the spool or its directory cannot be created (exit 73) */
    ANON_EIO,           /* the spool cannot be read or written (exit 74) */
    ANON_ECORRUPT,      /* the spool is not a database or fails its check (exit 74) */
    ANON_ENEWER,        /* the spool has a newer format than this library (exit 74) */
    ANON_EPERM,         /* unsafe permissions, e.g. a world-writable directory (exit 77) */
    ANON_EBUSY          /* the spool stayed locked by another process for longer than the
                           busy timeout (ANON_TELEMETRY_BUSY_TIMEOUT): try again (exit 75) */
};

/* Recommended size of an error buffer. */
#define ANON_ERRLEN 512

/* Event constants (anon-telemetry(7)). */
#define ANON_EVENT_NAME      "anonymizer_event"
#define ANON_SCHEMA_VERSION  "1.7"
#define ANON_NOT_APPLICABLE  "not_applicable"
#define ANON_UUID_LEN        36

/* The project's one version number: every command's --version, the shipper's User-Agent. */
#define ANON_TELEMETRY_VERSION "0.8.0"
/* The version the library was built as (a program may have been compiled with another
 * header): ANON_TELEMETRY_VERSION of the library's own build. */
const char *anon_version(void);

/* The sysexits(3) exit status a command should use for a status. */
int anon_status_exit_code(int status);
/* A short constant name for a status ("ok", "invalid input", ...). */
const char *anon_status_str(int status);

/* ---- environment (read at every call, never cached) ---- */

/* 1 unless NEMO_TELEMETRY_ENABLED is set to something other than 1/true/yes (any case). */
int anon_telemetry_enabled(void);
/* deploymentType default from NEMO_DEPLOYMENT_TYPE: cli, sdk (unset), nmp, else "undefined". */
const char *anon_deployment_type(void);
/* Destination: NEMO_TELEMETRY_ENDPOINT as given, else the default endpoint. */
const char *anon_endpoint(void);
/* Writes NEMO_SESSION_PREFIX + id into buf; id NULL or "" gives "undefined". -1 if it doesn't fit. */
int anon_session_id(const char *id, char *buf, size_t buflen);

/* ---- helper functions (the Anonymizer's exact rules: anon-telemetry(7)) ---- */

/* "nvidia-build", "nvidia-internal", "openrouter", "local" or "other" (endpoint may be NULL). */
const char *anon_classify_model_host(const char *endpoint);
/* Distinct hosts sorted ascending into out (pointers into hosts, or the constant "other"
 * when none); returns how many were written, at most out_cap. */
size_t anon_collect_model_hosts(const char *const *hosts, size_t n, const char **out,
                                size_t out_cap);
/* Trimmed, non-empty aliases sorted (byte order) and joined with ","; "not_applicable" when
 * none. Returns a malloc'd string (free()), NULL when out of memory. */
char *anon_sort_join_aliases(const char *const *aliases, size_t n);

/* ---- token counting (cl100k_base, exactly as tiktoken) ---- */

/* Number of cl100k_base tokens in len bytes of text (invalid UTF-8 read as U+FFFD); -1 on failure. */
long anon_count_tokens(const char *text, size_t len);
/* Integer part of the mean token count over n texts (lens may be NULL for NUL-terminated
 * texts); -1 when n == 0 or on failure. Uses all cores for large n. */
long anon_avg_tokens_per_record(const char *const *texts, const size_t *lens, size_t n);
/* Sum of the token counts of n texts (lens may be NULL for NUL-terminated texts), on the
 * calling thread: for callers that run their own threads over parts of a large input and
 * add the parts (Python's avg_tokens_per_record); -1 on failure. */
long long anon_sum_tokens(const char *const *texts, const size_t *lens, size_t n);

/* ---- the event ---- */

typedef struct anon_event anon_event;

/* A new event with every field unset (defaults apply when serialised); NULL if out of memory. */
anon_event *anon_event_new(void);
void anon_event_free(anon_event *ev);
/* Parses one JSON object of parameters, keys by alias or snake_case name; validates fully. */
int anon_event_from_json(const char *json, size_t len, anon_event **ret_ev, char *err,
                         size_t errlen);
/* Setters; key is the alias or the snake_case name. Each checks the value's type and rules. */
int anon_event_set_string(anon_event *ev, const char *key, const char *value, char *err,
                          size_t errlen);
int anon_event_set_int(anon_event *ev, const char *key, int64_t value, char *err,
                       size_t errlen);
int anon_event_set_number(anon_event *ev, const char *key, double value, char *err,
                          size_t errlen);
int anon_event_set_bool(anon_event *ev, const char *key, int value, char *err, size_t errlen);
int anon_event_set_strings(anon_event *ev, const char *key, const char *const *values,
                           size_t n, char *err, size_t errlen);
/* Sets the event's time (its ts on the wire), in ms since the epoch, UTC; without it the
 * time of the append is used. For callers that queue events as they happen and store
 * them later (Python's TelemetryHandler.enqueue, then flush). */
int anon_event_set_time(anon_event *ev, int64_t ms, char *err, size_t errlen);
/* ANON_OK when every required field is set, else ANON_EINVAL naming the first missing one. */
int anon_event_validate(const anon_event *ev, char *err, size_t errlen);
/* The parameters object as sent: all 38 keys in order, defaults filled (deploymentType from
 * the environment now, unless set). Malloc'd compact JSON (free()) in *ret_json. */
int anon_event_parameters_json(const anon_event *ev, char **ret_json, char *err,
                               size_t errlen);

/* ---- the spool ---- */

typedef struct anon_spool anon_spool;

/* Default spool path: $ANON_TELEMETRY_SPOOL, else /var/spool/anon-telemetry/spool.db for
 * root, else ${XDG_STATE_HOME:-$HOME/.local/state}/anon-telemetry/spool.db. */
int anon_spool_default_path(char *buf, size_t buflen, char *err, size_t errlen);
/* Opens (creating directory 0700 and file 0600 as needed) and migrates the spool at path
 * (NULL: the default path). Refuses a world-writable directory and a newer format. */
int anon_spool_open(const char *path, anon_spool **ret_sp, char *err, size_t errlen);
void anon_spool_close(anon_spool *sp);
/* The path the spool was opened at. */
const char *anon_spool_path(const anon_spool *sp);

/* What an append stamps on every row of the call. */
typedef struct anon_append_opts {
    const char *session_id;      /* NULL or "": a random 32-hex id; NEMO_SESSION_PREFIX applies */
    const char *client_version;  /* NULL or "": "undefined" */
} anon_append_opts;

/* Validates all n events, then stores them in one durable transaction (all or none).
 * ret_uuids (may be NULL) receives n uuids of ANON_UUID_LEN + 1 bytes each. */
int anon_spool_append(anon_spool *sp, const anon_event *const *evs, size_t n,
                      const anon_append_opts *opts, char (*ret_uuids)[ANON_UUID_LEN + 1],
                      char *err, size_t errlen);

/* ---- events that arrive whole (the relay, bundle import) ---- */

/* An event kept as it was sent: every field stored as given. */
typedef struct anon_record {
    const char *uuid;             /* NULL or "": a new random v4 uuid; else any uuid's text
                                     form, stored in lower case */
    const char *ts;               /* the event's ts (2026-05-11T12:00:00.000Z) */
    const char *name;             /* "anonymizer_event" */
    const char *session_id;       /* stored verbatim: no prefix applied */
    const char *client_version;
    const char *cpu_architecture;
    const char *schema_version;   /* "1.7": parameters validated exactly as the writer
                                     validates; another version: structural checks only */
    const char *parameters;       /* the parameters object's JSON text, stored verbatim
                                     (at most 65536 bytes) */
} anon_record;

/* Validates all n, then stores them in one durable transaction (all or none); an event
 * whose uuid the spool holds (events or dlq) is skipped and counted. Errors name the
 * record and field ("events[3].ts: ..."). ret_stored, ret_duplicates may be NULL. */
int anon_spool_append_records(anon_spool *sp, const anon_record *recs, size_t n,
                              size_t *ret_stored, size_t *ret_duplicates, char *err,
                              size_t errlen);

/* An envelope (the request body a client posts, anon-telemetry(7)), parsed. */
typedef struct anon_envelope anon_envelope;

/* Parses and checks one envelope: strict JSON, a non-empty events array, each event
 * checked as anon_spool_append_records checks it. Errors name the place
 * ("events[3].parameters.task: missing required field"). Each parameters object is kept
 * as its own text without the white space between tokens (values in the form sent). */
int anon_envelope_parse(const char *json, size_t len, anon_envelope **ret_env, char *err,
                        size_t errlen);
/* Number of events (at least 1 in a parsed envelope). */
size_t anon_envelope_count(const anon_envelope *env);
/* The events as records (uuid NULL until anon_envelope_set_ids); valid until
 * anon_envelope_free; their strings belong to the envelope. */
const anon_record *anon_envelope_records(const anon_envelope *env);
/* Gives the events the uuids of ids, "UUID,UUID,..." (the Anon-Telemetry-Event-Ids
 * header: one per event, in order; spaces around the commas allowed). */
int anon_envelope_set_ids(anon_envelope *env, const char *ids, char *err, size_t errlen);
void anon_envelope_free(anon_envelope *env);

/* ---- one call for C programs (Python's `with TelemetryHandler(...) as h: h.enqueue(ev)`) ---- */

typedef struct anon_emit_opts {
    const char *spool_path;      /* NULL: the default path */
    const char *session_id;      /* as in anon_append_opts */
    const char *client_version;
    int no_emit_telemetry;       /* 1: the per-run opt-out (emit_telemetry=False) */
} anon_emit_opts;

/* Honours both opt-outs (ANON_DISABLED, nothing stored), then opens, appends, closes.
 * opts may be NULL. ret_uuid may be NULL. */
int anon_telemetry_emit(const anon_event *ev, const anon_emit_opts *opts,
                        char ret_uuid[ANON_UUID_LEN + 1], char *err, size_t errlen);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
