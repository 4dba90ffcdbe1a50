/*
 * bundle.h: what the lines of a bundle and of a receipt hold (the framing, checksum and
 * signature are sealed.h's). Building and reading only: no spool here, so the readers
 * can be fuzzed on their own (tests/fuzz/fuzz_bundle.c).
 *
 * A bundle carries pending events out of a site that is never online:
 *
 *   {"format":"anon-telemetry-bundle","version":1,"bundle":UUID,"spool":SPOOL_ID,
 *    "created_at":TS,"events":N}
 *   {"ids":[UUID,...],"envelope":{...}}       one line per envelope, as the shipper
 *   ...                                        groups and posts them, without sentTs
 *   [{"hmac-sha256":HEX}] {"sha256":HEX}       (sealed.h)
 *
 * A receipt carries their fate back to the spool that made them:
 *
 *   {"format":"anon-telemetry-receipt","version":1,"receipt":UUID,"spool":ORIGIN_SPOOL_ID,
 *    "from":SPOOL_ID,"created_at":TS,"bundles":[UUID,...],"events":N}
 *   {"uuid":UUID,"bundle":UUID,"status":"sent","sent_at":TS}
 *   {"uuid":UUID,"bundle":UUID,"status":"dlq","reason":"rejected by collector: HTTP 400"}
 *   {"uuid":UUID,"bundle":UUID,"status":"pending"}
 *   {"sha256":HEX}
 *
 * Every line is written in one canonical form (keys in this order, no spaces, strings
 * escaped as the envelope escapes them), and a reader accepts exactly that form: it
 * parses a line, writes it again and compares the bytes. So what a reviewer read in the
 * file is, byte for byte, what is imported and then posted.
 */
#ifndef SHIP_BUNDLE_H
#define SHIP_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "anon_telemetry.h"
#include "envelope.h"
#include "internal.h"
#include "sealed.h"

#define BUNDLE_FORMAT      "anon-telemetry-bundle"
#define RECEIPT_FORMAT     "anon-telemetry-receipt"
#define BUNDLE_VERSION     1
#define RECEIPT_VERSION    1
#define BUNDLE_SPOOL_ID_LEN 32    /* a spool_id: 32 lower-case hex digits */
#define RECEIPT_MAX_REASON 1000   /* bytes of a dead letter's reason in a receipt */

typedef char bundle_uuid[ANON_UUID_LEN + 1];

/* 0 when s is a uuid in lower case (as every id here is written), else -1. */
int bundle_uuid_check(const char *s);
/* 0 when s is a spool_id (32 lower-case hex digits), else -1. */
int bundle_spool_id_check(const char *s);

/* ---- bundles ---- */

struct bundle_header {
    bundle_uuid bundle;
    char spool[BUNDLE_SPOOL_ID_LEN + 1];
    char created_at[ANON_TS_LEN + 1];
    int64_t events;
};

void bundle_header_write(anon_buf *b, const struct bundle_header *h);
/* Reads line 1. ANON_EINVAL says what is wrong (another format or version, a field). */
int bundle_header_read(const char *line, size_t len, struct bundle_header *h, char *err,
                       size_t errlen);

/* Appends one envelope line: the uuids of the n events, then the envelope as
 * envelope_build writes it, without sentTs. -1 when b ran out of memory. */
int bundle_line_write(anon_buf *b, const char *const *uuids, const struct envelope_hdr *hdr,
                      const struct envelope_event *evs, size_t n);

/* An envelope line read back: its events as records, each with its uuid. */
struct bundle_line {
    anon_envelope *env;
    anon_record *recs;          /* n records; strings belong to env and ids */
    bundle_uuid *ids;
    size_t n;
    size_t cap;
    anon_buf again;             /* the line written again, for the comparison */
};

void bundle_line_init(struct bundle_line *l);
/* Moves src's content to dst (which must be empty), leaving src empty: a reader that hands
 * lines to another thread keeps reading into src. */
void bundle_line_take(struct bundle_line *dst, struct bundle_line *src);
/* Parses and checks one envelope line (strict JSON, every event as the writer checks
 * it, one lower-case uuid per event, the canonical form). ANON_EINVAL names the place. */
int bundle_line_read(struct bundle_line *l, const char *line, size_t len, char *err,
                     size_t errlen);
void bundle_line_free(struct bundle_line *l);

/* What bundle_read found. */
struct bundle_summary {
    struct bundle_header header;
    int64_t envelopes;
    int64_t events;
    int is_signed, sig_checked;
    char sha256[SEALED_HEX_LEN + 1];
};

/* Called for the header, then for each envelope line (lineno: its line number); the
 * line callback may take the line (bundle_line_take). A non-zero status stops the
 * reading and is returned (err filled by the callback). */
struct bundle_visitor {
    void *ctx;
    int (*header)(void *ctx, const struct bundle_header *h, char *err, size_t errlen);
    int (*line)(void *ctx, long lineno, struct bundle_line *l, char *err, size_t errlen);
};

/* Reads a whole bundle from r, checking everything: the header, every line, the count
 * the header announces, the signature and the checksum. v may be NULL. Errors name the
 * file and the line. */
int bundle_read(sealed_reader *r, const struct bundle_visitor *v, struct bundle_summary *ret,
                char *err, size_t errlen);

/* ---- receipts ---- */

struct receipt_header {
    bundle_uuid receipt;
    char spool[BUNDLE_SPOOL_ID_LEN + 1];   /* the spool the events came from */
    char from[BUNDLE_SPOOL_ID_LEN + 1];    /* the spool that imported them */
    char created_at[ANON_TS_LEN + 1];
    bundle_uuid *bundles;                  /* malloc'd (receipt_header_clear) */
    size_t nbundles;
    int64_t events;
};

void receipt_header_write(anon_buf *b, const struct receipt_header *h);
int receipt_header_read(const char *line, size_t len, struct receipt_header *h, char *err,
                        size_t errlen);
void receipt_header_clear(struct receipt_header *h);

enum receipt_state { RECEIPT_SENT, RECEIPT_DLQ, RECEIPT_PENDING };

struct receipt_entry {
    bundle_uuid uuid;
    bundle_uuid bundle;
    int state;                              /* enum receipt_state */
    char sent_at[ANON_TS_LEN + 1];          /* RECEIPT_SENT */
    char reason[RECEIPT_MAX_REASON + 1];    /* RECEIPT_DLQ: never empty */
};

void receipt_entry_write(anon_buf *b, const struct receipt_entry *e);
int receipt_entry_read(const char *line, size_t len, struct receipt_entry *e, char *err,
                       size_t errlen);
/* A dead letter's reason made fit for a receipt: control characters become spaces,
 * invalid UTF-8 becomes '?', cut at a character boundary to RECEIPT_MAX_REASON bytes;
 * "unknown" when nothing is left. */
void receipt_reason_clean(const char *in, char out[RECEIPT_MAX_REASON + 1]);

struct receipt_visitor {
    void *ctx;
    int (*header)(void *ctx, const struct receipt_header *h, char *err, size_t errlen);
    int (*entry)(void *ctx, long lineno, const struct receipt_entry *e, char *err,
                 size_t errlen);
};

/* Reads a whole receipt (checks as bundle_read; every entry's bundle must be one the
 * header names). *ret_header gets the header (receipt_header_clear it). */
int receipt_read(sealed_reader *r, const struct receipt_visitor *v,
                 struct receipt_header *ret_header, char *err, size_t errlen);

#endif
