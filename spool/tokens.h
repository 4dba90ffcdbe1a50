/*
 * tokens.h: internals of the cl100k_base token counter (spool/tokens.c) shared with
 * its command and tests, not installed. The public API is in anon_telemetry.h.
 */
#ifndef ANON_TOKENS_H
#define ANON_TOKENS_H

#include <stddef.h>

#include "anon_telemetry.h"

/* anon_avg_tokens_per_record with an explicit number of threads (0: one per online
 * core, when n is large enough to be worth it). For benchmarks and tests. */
long tokens_avg_threads(const char *const *texts, const size_t *lens, size_t n,
                        unsigned nthreads);

/* Bytes of text read as Python's bytes.decode("utf-8", "replace") reads them: each
 * maximal invalid subpart becomes U+FFFD. Returns a malloc'd copy in *ret (length in
 * *ret_len), or 0 with *ret == NULL when text is valid UTF-8 already; -1 if out of memory. */
int tokens_utf8_repair(const unsigned char *text, size_t len, unsigned char **ret,
                       size_t *ret_len);

/* Generated data (spool/tokens_data.c): chunks of (length byte, token bytes) in rank order,
 * each chunk ended by a 0 byte. */
extern const char *const tokens_cl100k_chunks[];
extern const size_t tokens_cl100k_nchunks;
extern const size_t tokens_cl100k_ntokens;

#endif
