/*
 * sealed.h: the framing of the files that carry events out of an air-gapped site and
 * their fate back in (bundles and receipts: bundle.h says what their lines hold).
 *
 * A sealed file is JSON Lines that a reviewer reads with `less`:
 *
 *   line 1 .. n                      content lines; line 1 is the header
 *   {"hmac-sha256":"<64 hex>"}       optional: HMAC-SHA256, under a shared key, of every
 *                                    byte before this line
 *   {"sha256":"<64 hex>"}            SHA-256 of every byte before this line
 *
 * every line ending in "\n", nothing after the last one. The checksum finds a changed
 * byte or a cut file; the signature finds a file someone rewrote and summed again.
 *
 * Writing is atomic: the lines go to a temporary file in the target's directory, which
 * is flushed to disk and only then given its name (never over an existing file), and
 * the directory is flushed too, so a crash leaves either no file under the name or the
 * whole file. Reading streams: a content line is handed out as soon as it is read, and
 * the trailer is checked when the last one has been; a caller that acts on the lines
 * (an import) does so inside a transaction it commits only after that.
 *
 * Statuses (anon_telemetry.h): ANON_EINVAL bad input (the message names the line),
 * ANON_ECANTCREAT the file exists or cannot be made, ANON_EPERM an unsafe key file,
 * ANON_EIO a read or write failure, ANON_ENOMEM.
 */
#ifndef SHIP_SEALED_H
#define SHIP_SEALED_H

#include <stddef.h>

#define SEALED_HEX_LEN  64                 /* a SHA-256 or HMAC-SHA256 in hex */
#define SEALED_MAX_LINE (1024 * 1024 * 1024) /* bytes in one line, at most */

/* ---- keys ---- */

typedef struct sealed_key sealed_key;

/* Reads a shared key: the file's bytes, one trailing newline dropped, at least 16 bytes.
 * Refused (ANON_EPERM) when group or others may read or write it, or when it is not a
 * regular file (a symlink is not followed). */
int sealed_key_load(const char *path, sealed_key **ret_key, char *err, size_t errlen);
void sealed_key_free(sealed_key *key);
/* The path the key was read from (for messages). */
const char *sealed_key_path(const sealed_key *key);

/* ---- writing ---- */

typedef struct sealed_writer sealed_writer;

/* Starts the file path: refuses at once (ANON_ECANTCREAT) when it exists, then opens a
 * temporary file beside it (mode 0600). key NULL: unsigned. */
int sealed_create(const char *path, const sealed_key *key, sealed_writer **ret_w, char *err,
                  size_t errlen);
/* Appends one line (len bytes, no newline in it; the newline is added). */
int sealed_put(sealed_writer *w, const char *line, size_t len, char *err, size_t errlen);
/* Writes the trailer, flushes and syncs the file, gives it its name (ANON_ECANTCREAT,
 * temporary file removed, when a file of that name appeared meanwhile), syncs the
 * directory. Frees w whatever happens. */
int sealed_finish(sealed_writer *w, char *err, size_t errlen);
/* Removes the temporary file and frees w (NULL is fine). */
void sealed_abort(sealed_writer *w);
/* The temporary file's path while writing (tests, messages). */
const char *sealed_tmp_path(const sealed_writer *w);

/* ---- reading ---- */

typedef struct sealed_reader sealed_reader;

/* Opens path (a regular file) for reading. key NULL: a signature is not checked (its
 * presence is still reported); key given: the file must carry one, made with it. */
int sealed_open(const char *path, const sealed_key *key, sealed_reader **ret_r, char *err,
                size_t errlen);
/* The same over len bytes in memory (not copied: they must outlive the reader). */
int sealed_open_mem(const char *data, size_t len, const char *name, const sealed_key *key,
                    sealed_reader **ret_r, char *err, size_t errlen);
/*
 * The next content line: ANON_OK with *ret_line pointing at it (NUL-terminated, without
 * its newline, valid until the next call) and *ret_len its length; ANON_OK with *ret_line
 * NULL after the last one, once the signature (if any or required) and the checksum
 * matched. Else a status with err saying "line N: what is wrong".
 */
int sealed_next(sealed_reader *r, const char **ret_line, size_t *ret_len, char *err,
                size_t errlen);
/* The name messages give the file (its path). */
const char *sealed_name(const sealed_reader *r);
/* The number of the line sealed_next returned last (1 for the header). */
long sealed_lineno(const sealed_reader *r);
/* After the end: 1 when the file carried a signature, and whether it was checked. */
int sealed_is_signed(const sealed_reader *r);
int sealed_sig_checked(const sealed_reader *r);
/* The checksum the file carried (hex), after the end; "" before. */
const char *sealed_sha256(const sealed_reader *r);
void sealed_close(sealed_reader *r);

#endif
