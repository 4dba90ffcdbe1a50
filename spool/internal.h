/*
 * internal.h: what libanontelemetry shares with its own commands and with
 * anon-telemetry-ship, but not with the world (not installed).
 */
#ifndef ANON_INTERNAL_H
#define ANON_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "anon_telemetry.h"

#if defined(__GNUC__)
#define ANON_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ANON_PRINTF(f, a)
#endif

#define ANON_DEFAULT_ENDPOINT "https://events.telemetry.data.nvidia.com/v1.1/events/json"
#define ANON_CLIENT_ID        "184482118588404"
#define ANON_EVENT_SYS_VER    "nemo-telemetry/1.0"
#define ANON_EVENT_PROTOCOL   "1.6"
#define ANON_SPOOL_FORMAT     3        /* PRAGMA user_version this library writes */
#define ANON_SPOOL_APP_ID     0x4154656C /* PRAGMA application_id of a spool: 'ATel' */
#define ANON_BUSY_TIMEOUT_MS  10000    /* default; ANON_TELEMETRY_BUSY_TIMEOUT (seconds) sets it */
#define ANON_TS_LEN           24       /* 2026-05-11T12:00:00.000Z */
/* When this release was made (moves with ANON_TELEMETRY_VERSION): an event whose ts is
 * earlier got it from a wrong clock, so its age is unknown. */
#define ANON_RELEASE_TS       "2026-11-01T00:00:00.000Z"
#define ANON_MAX_STRING       2048     /* bytes in a string (sort_join_aliases pools included) */
#define ANON_MAX_PARAMS       65536    /* bytes in one event's parameters object */

/* Formats err like snprintf when err is not NULL; returns status, for `return seterr(...)`.
 * The text is passed through anon_escape_text: an error names what was wrong, and that may
 * be input or a collector's answer, which must not reach a terminal or a log raw. */
int anon_seterr(char *err, size_t errlen, int status, const char *fmt, ...) ANON_PRINTF(4, 5);

/* Copies s to out (outlen bytes, always NUL-terminated, cut before an escape that would not
 * fit) with what could rewrite a terminal or forge a log line made visible: \n, \t, \r,
 * and \xNN for the other control characters (C0, DEL), for the bytes of C1 controls, of
 * the bidirectional overrides and isolates and of U+2028/U+2029, and for bytes that are not
 * UTF-8. Everything else, backslashes included, is kept. Returns the length written. */
size_t anon_escape_text(const char *s, char *out, size_t outlen);

/* ANON_OK if s is valid UTF-8, has no control characters and at most ANON_MAX_STRING
 * bytes; else ANON_EINVAL with a message that starts with what (event.c). */
int anon_check_string(const char *what, const char *s, char *err, size_t errlen);

/* Parses the JSON value at the start of json[0, len) as an event, as anon_event_from_json
 * does, but allows more text after it: *ret_end is set just past the value, or (on
 * invalid JSON) where it went wrong. Lets a caller walk a stream of values in one pass. */
int anon_event_parse_value(const char *json, size_t len, const char **ret_end,
                           anon_event **ret_ev, char *err, size_t errlen);

/* The time set by anon_event_set_time, 0 when none was. */
int64_t anon_event_time(const anon_event *ev);

/* Python's str.lower() as far as ASCII results go, whatever the locale (env.c): the
 * length written to out (NUL-terminated), or -1 when it does not fit. */
ssize_t anon_py_lower(const char *s, char *out, size_t outlen);

/* Decodes the UTF-8 sequence at s (NUL-terminated): its length, with the code point in
 * *ret_cp; 0 at the NUL or where s is not valid UTF-8 (overlong, surrogate, truncated). */
size_t anon_utf8_decode(const unsigned char *s, uint32_t *ret_cp);

/* ---- reading a whole stream (readall.c) ---- */
/* Reads fd to its end into a malloc'd, NUL-terminated buffer (free()) of *ret_len bytes;
 * returns 0, or an errno value: EFBIG as soon as there are more than max bytes (SIZE_MAX:
 * no limit), ENOMEM, or read(2)'s error. On error *ret_buf is NULL. Retries EINTR. */
int anon_read_all(int fd, size_t max, char **ret_buf, size_t *ret_len);

/* The busy timeout in ms: ANON_TELEMETRY_BUSY_TIMEOUT (seconds, decimals allowed, 0 to
 * 86400) when set, else ANON_BUSY_TIMEOUT_MS. ANON_EINVAL naming the variable when it is
 * set to something else (env.c). */
int anon_busy_timeout_ms(int *ret_ms, char *err, size_t errlen);

/* ---- time (timefmt.c) ---- */
int64_t anon_now_ms(void);                           /* wall clock, ms since the epoch, UTC */
void anon_format_ts(int64_t ms, char buf[ANON_TS_LEN + 1]); /* truncated to ms, 'Z' */
int anon_parse_ts(const char *s, int64_t *ret_ms);   /* 0, or -1 when not our format */

/* ---- randomness (uuid.c) ---- */
int anon_random_bytes(void *buf, size_t n);          /* getrandom(2); 0 or -1 */
int anon_uuid_v4(char buf[ANON_UUID_LEN + 1]);       /* random v4, lower-case; 0 or -1 */
int anon_hex_id(char buf[33]);                       /* 32 random hex digits (uuid4().hex) */

/* ---- a growable byte buffer with the JSON writing the wire needs (jsonw.c) ---- */
typedef struct anon_buf {
    char *data;     /* NUL-terminated while oom == 0 */
    size_t len;
    size_t cap;
    int oom;        /* sticky: set once an allocation failed; later appends do nothing */
} anon_buf;

void anon_buf_init(anon_buf *b);
void anon_buf_free(anon_buf *b);
void anon_buf_reset(anon_buf *b);                    /* len = 0, keeps the allocation */
void anon_buf_append(anon_buf *b, const char *s, size_t n);
void anon_buf_puts(anon_buf *b, const char *s);
void anon_buf_printf(anon_buf *b, const char *fmt, ...) ANON_PRINTF(2, 3);
/* A JSON string literal, quotes included, escaped as Python's json.dumps does
 * (ensure_ascii: non-ASCII as \uXXXX, surrogate pairs above U+FFFF). s must be UTF-8. */
void anon_buf_json_string(anon_buf *b, const char *s);
/* A JSON number as Python's repr(float) writes it: shortest round trip, "-1.0", "1e+16". */
void anon_buf_json_double(anon_buf *b, double v);

/* ---- records and envelopes (envelope.c, envelope.h) ---- */
/* ANON_OK when json[0, len) is one strict JSON object (RFC 8259, UTF-8, nesting bounded)
 * with nothing after it but white space; else ANON_EINVAL saying where it goes wrong. */
int anon_json_check_object(const char *json, size_t len, char *err, size_t errlen);
/* 0 when s is a uuid in its text form (8-4-4-4-12 hex digits, either case), else -1. */
int anon_uuid_check(const char *s);
/* Checks record r as anon_spool_append_records does (errors start "events[i]."). */
int anon_record_check(const anon_record *r, size_t i, char *err, size_t errlen);

/* ---- the spool (spool.c) ---- */
enum {
    ANON_OPEN_NO_CREATE   = 1 << 0,  /* fail (ANON_EIO) instead of creating a missing spool */
    ANON_OPEN_QUICK_CHECK = 1 << 1,  /* run PRAGMA quick_check; failure is ANON_ECORRUPT */
    /* the caller only reads (status, list, dlq list): never creates; a spool that cannot
     * be written here (a read-only file system) is opened read-only (readonly.c) */
    ANON_OPEN_READ_ONLY   = 1 << 2,
    /* instead of a full QUICK_CHECK: a cheap one (check.c); failure is ANON_ECORRUPT */
    ANON_OPEN_LIGHT_CHECK = 1 << 3
};
/* Our status for an SQLite result code: ANON_EBUSY for a lock held past the busy
 * timeout, ANON_ECORRUPT, ANON_ENOMEM, else ANON_EIO. */
int anon_sqlite_status(int sqlite_rc);
int anon_spool_open_ex(const char *path, int flags, anon_spool **ret_sp, char *err,
                       size_t errlen);
sqlite3 *anon_spool_db(anon_spool *sp);
/* Checkpoints and truncates the WAL when it is larger than over_bytes and no reader holds
 * it: 1 done, 0 nothing to do, -1 a reader held it (harmless: tried again later). */
int anon_spool_shrink_wal(anon_spool *sp, int64_t over_bytes);
#define ANON_WAL_LIMIT_STR "4194304"   /* PRAGMA journal_size_limit of every connection */
/* The spool's row owner (queue.h). */
struct queue;
struct queue *anon_spool_queue(anon_spool *sp);
/* Renames a damaged spool (and its -wal/-shm) to PATH.corrupt-<UTC time>; never deletes.
 * The new name goes to ret_newpath. */
int anon_spool_move_aside(const char *path, char *ret_newpath, size_t newpathlen, char *err,
                          size_t errlen);
/* Stores n records already checked (anon_record_check) inside the transaction the caller
 * opened with queue_begin; a record without uuid gets a new one, one whose uuid the spool
 * holds (events or dlq) is skipped. Counts into *ret_stored and *ret_duplicates. For a
 * caller that commits many requests' records at once (the relay's group commit). */
int anon_spool_store_records(anon_spool *sp, const anon_record *recs, size_t n,
                             size_t *ret_stored, size_t *ret_duplicates, char *err,
                             size_t errlen);
/* Gives the next event to store in *ret_ev (anon_spool_append_each frees it), NULL when
 * there are no more; ANON_OK, or a status with err filled to stop (all is rolled back). */
typedef int anon_next_event_fn(void *ctx, anon_event **ret_ev, char *err, size_t errlen);
/* anon_spool_append for events that come one at a time (a stream the caller has already
 * validated once): each is serialised and stored as it comes, all in one transaction,
 * so only one is ever in memory. At most max; the uuids go to ret_uuids[0 .. *ret_n). */
int anon_spool_append_each(anon_spool *sp, const anon_append_opts *opts,
                           anon_next_event_fn *next, void *ctx,
                           char (*ret_uuids)[ANON_UUID_LEN + 1], size_t max, size_t *ret_n,
                           char *err, size_t errlen);

/* The machine name stamped on rows (uname -m). */
const char *anon_cpu_architecture(void);

/* ---- where a spool may live and whose it is (place.c) ---- */
struct anon_spool_place {
    uid_t uid;      /* the spool's owner: its directory's (shared sticky directory: the file's) */
    gid_t gid;
    int exists;     /* the spool file is there */
    char real[4352];/* the path with its directory resolved: what SQLite is given */
};
/* Checks the spool's path before anything is opened: no symlinked spool file, links on the
 * way owned by root or by their target's owner, a directory only its owner can write (or
 * root's sticky shared kind), the spool and its -wal/-shm regular files of the owner.
 * Creates the directory (0700) when create. ANON_EPERM says what is unsafe. */
int anon_spool_check_place(const char *path, int create, struct anon_spool_place *ret,
                           char *err, size_t errlen);
/* For the commands only (the library never changes its caller's identity): run by root
 * on a spool of another user, becomes that user (groups, gid, uid; for good) after
 * checking the place, before anything is opened. Does nothing for other callers or
 * root's own spool. *ret_uid (may be NULL): the uid now working. ANON_EPERM if refused. */
int anon_spool_act_as_owner(const char *path, uid_t *ret_uid, char *err, size_t errlen);

/* ---- the cheap check of a shipper run (check.c) ---- */
/* Without reading the whole spool: its pages fit in the file and its -wal (not
 * truncated), and the right edge of each table reads. ANON_OK, ANON_ECORRUPT (named as
 * shown), or another status when SQLite fails otherwise. */
int anon_spool_light_check(sqlite3 *db, const char *shown, char *err, size_t errlen);

/* ---- reading a spool that cannot be written (readonly.c) ---- */
/* Why the spool was opened read-only ("on a read-only file system", ...), or NULL. */
const char *anon_spool_read_only(const anon_spool *sp);
/* 1 when the file system holding the file at real is mounted read-only. */
int anon_spool_on_read_only_fs(const char *real);
/* 1 when the file at real and its directory (for -wal and -shm) can be written. */
int anon_spool_writable(const char *real);
/* A read-only connection to the spool at real (named shown in messages) that works on a
 * read-only file system: with its -wal and -shm when they are there, immutable when there
 * is no -wal to read; a -wal without its -shm is refused, saying what to do. */
int anon_spool_open_read_only(const char *real, const char *shown, sqlite3 **ret_db,
                              char *err, size_t errlen);

/* ---- which file is a spool of ours (spoolfile.c) ---- */
/* 1 when path is a regular file (not a symlink) with an SQLite header that carries our
 * application_id, or a format-1 spool (user_version 1, our tables); else 0. Reads the
 * header itself, so it answers for a file SQLite calls "not a database" too. */
int anon_spool_was_ours(const char *path);
/* "file:PATH[?query]" with the path escaped for SQLITE_OPEN_URI; 0, or -1 if too long. */
int anon_sqlite_uri(const char *path, const char *query, char *buf, size_t buflen);

#endif
