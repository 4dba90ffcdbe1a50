/*
 * sealed.c: sealed JSON Lines files (sealed.h): atomic writing, streaming reading, the
 * SHA-256 checksum and the HMAC-SHA256 signature (OpenSSL's libcrypto).
 *
 * A file gets its final name in one step that never replaces another file:
 * renameat2(RENAME_NOREPLACE); where the file system cannot do that, link(2) then
 * unlink(2) (also atomic and exclusive); where it has no hard links either (FAT on a
 * USB stick answers EPERM), a check that the name is free just before rename(2), the
 * only step with a window (another process creating the same name in that instant).
 */
#define _GNU_SOURCE /* renameat2 */
#include "sealed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "internal.h"

#define KEY_MIN   16
#define KEY_MAX   4096
#define READ_SIZE (1 << 20)

static const char SHA_PREFIX[] = "{\"sha256\":\"";
static const char MAC_PREFIX[] = "{\"hmac-sha256\":\"";

struct sealed_key {
    unsigned char *bytes;
    size_t len;
    char *path;
};

/* ---- hashing ---- */

/* The running sums of a file: SHA-256 always, HMAC-SHA256 when there is a key. */
struct sums {
    EVP_MD_CTX *sha;
    EVP_MAC *mac_alg;
    EVP_MAC_CTX *mac;
};

static void sums_free(struct sums *s)
{
    EVP_MD_CTX_free(s->sha);
    EVP_MAC_CTX_free(s->mac);
    EVP_MAC_free(s->mac_alg);
    memset(s, 0, sizeof *s);
}

static int sums_init(struct sums *s, const sealed_key *key, char *err, size_t errlen)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[2];

    memset(s, 0, sizeof *s);
    if ((s->sha = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
        goto fail;
    if (key != NULL) {
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
        params[1] = OSSL_PARAM_construct_end();
        if ((s->mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
            (s->mac = EVP_MAC_CTX_new(s->mac_alg)) == NULL ||
            EVP_MAC_init(s->mac, key->bytes, key->len, params) != 1)
            goto fail;
    }
    return ANON_OK;
fail:
    sums_free(s);
    return anon_seterr(err, errlen, ANON_ENOMEM, "cannot set up SHA-256/HMAC (libcrypto)");
}

static int sums_update(struct sums *s, const char *p, size_t n, int with_mac)
{
    if (EVP_DigestUpdate(s->sha, p, n) != 1)
        return -1;
    if (with_mac && s->mac != NULL && EVP_MAC_update(s->mac, (const unsigned char *)p, n) != 1)
        return -1;
    return 0;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hexdig[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[b[i] >> 4];
        out[2 * i + 1] = hexdig[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The SHA-256 so far, in hex (the context is finished: call once). */
static int sha_final(struct sums *s, char hex[SEALED_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_DigestFinal_ex(s->sha, md, &n) != 1 || n * 2 != SEALED_HEX_LEN)
        return -1;
    to_hex(md, n, hex);
    return 0;
}

static int mac_final(struct sums *s, char hex[SEALED_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t n = 0;

    if (EVP_MAC_final(s->mac, md, &n, sizeof md) != 1 || n * 2 != SEALED_HEX_LEN)
        return -1;
    to_hex(md, n, hex);
    return 0;
}

/* ---- keys ---- */

void sealed_key_free(sealed_key *key)
{
    if (key == NULL)
        return;
    if (key->bytes != NULL)
        OPENSSL_cleanse(key->bytes, key->len);
    free(key->bytes);
    free(key->path);
    free(key);
}

const char *sealed_key_path(const sealed_key *key)
{
    return key->path;
}

int sealed_key_load(const char *path, sealed_key **ret_key, char *err, size_t errlen)
{
    unsigned char buf[KEY_MAX + 2];
    sealed_key *k = NULL;
    struct stat st;
    size_t n = 0;
    int fd, rc;

    *ret_key = NULL;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ELOOP)
            return anon_seterr(err, errlen, ANON_EPERM,
                               "key file %s is a symbolic link: give the file itself", path);
        return anon_seterr(err, errlen, ANON_EIO, "cannot open key file %s: %s", path,
                           strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        rc = anon_seterr(err, errlen, ANON_EIO, "key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = anon_seterr(err, errlen, ANON_EPERM, "key file %s is not a regular file", path);
        goto out;
    }
    /* a shared secret that others on the host can read is no secret */
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = anon_seterr(err, errlen, ANON_EPERM,
                         "key file %s may be read or written by group or others (mode %04o): "
                         "refused; chmod 600 %s",
                         path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = anon_seterr(err, errlen, ANON_EIO, "cannot read key file %s: %s", path,
                             strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf)
            break;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n > KEY_MAX || n < KEY_MIN) {
        rc = anon_seterr(err, errlen, ANON_EINVAL,
                         "key file %s holds %s%zu bytes: a key is %d to %d bytes (e.g. "
                         "openssl rand -hex 32 > KEYFILE)",
                         path, n > KEY_MAX ? "more than " : "", n > KEY_MAX ? (size_t)KEY_MAX : n,
                         KEY_MIN, KEY_MAX);
        goto out;
    }
    if ((k = calloc(1, sizeof *k)) == NULL || (k->bytes = malloc(n)) == NULL ||
        (k->path = strdup(path)) == NULL) {
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(k->bytes, buf, n);
    k->len = n;
    *ret_key = k;
    k = NULL;
    rc = ANON_OK;
out:
    OPENSSL_cleanse(buf, sizeof buf);
    sealed_key_free(k);
    close(fd);
    return rc;
}

/* ---- writing ---- */

struct sealed_writer {
    char *path;
    char *tmp;
    char *dir;
    FILE *f;
    struct sums sums;
};

const char *sealed_tmp_path(const sealed_writer *w)
{
    return w->tmp;
}

static void writer_free(sealed_writer *w)
{
    if (w == NULL)
        return;
    if (w->f != NULL)
        fclose(w->f);
    sums_free(&w->sums);
    free(w->path);
    free(w->tmp);
    free(w->dir);
    free(w);
}

void sealed_abort(sealed_writer *w)
{
    if (w == NULL)
        return;
    if (w->f != NULL) {
        fclose(w->f);
        w->f = NULL;
    }
    if (w->tmp != NULL)
        unlink(w->tmp);
    writer_free(w);
}

static int exists_error(const char *path, char *err, size_t errlen)
{
    return anon_seterr(err, errlen, ANON_ECANTCREAT,
                       "%s exists: a bundle or receipt is never written over another file "
                       "(choose a new name, or move the old file away)",
                       path);
}

int sealed_create(const char *path, const sealed_key *key, sealed_writer **ret_w, char *err,
                  size_t errlen)
{
    sealed_writer *w = NULL;
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    struct stat st;
    size_t dlen, n;
    int fd, rc;

    *ret_w = NULL;
    if (*base == '\0')
        return anon_seterr(err, errlen, ANON_ECANTCREAT, "%s: a file name is needed", path);
    if (lstat(path, &st) == 0)
        return exists_error(path, err, errlen);
    if (errno != ENOENT)
        return anon_seterr(err, errlen, ANON_ECANTCREAT, "cannot create %s: %s", path,
                           strerror(errno));
    if ((w = calloc(1, sizeof *w)) == NULL || (w->path = strdup(path)) == NULL)
        goto oom;
    dlen = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
    if ((w->dir = malloc(dlen + 1)) == NULL)
        goto oom;
    if (slash == NULL)
        memcpy(w->dir, ".", 2);
    else {
        memcpy(w->dir, slash == path ? "/" : path, dlen);
        w->dir[dlen] = '\0';
    }
    /* beside the target (rename works within one file system), hidden, unique */
    n = dlen + strlen(base) + 32;
    if ((w->tmp = malloc(n)) == NULL)
        goto oom;
    snprintf(w->tmp, n, "%s/.%s.tmp-XXXXXX", w->dir, base);
    fd = mkstemp(w->tmp);
    if (fd < 0) {
        rc = anon_seterr(err, errlen, ANON_ECANTCREAT, "cannot create a file in %s: %s",
                         w->dir, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        goto fail;
    }
    if ((w->f = fdopen(fd, "w")) == NULL) {
        close(fd);
        goto oom;
    }
    setvbuf(w->f, NULL, _IOFBF, READ_SIZE);
    if ((rc = sums_init(&w->sums, key, err, errlen)) != ANON_OK)
        goto fail;
    *ret_w = w;
    return ANON_OK;
oom:
    rc = anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
fail:
    sealed_abort(w);
    return rc;
}

static int write_error(sealed_writer *w, char *err, size_t errlen)
{
    return anon_seterr(err, errlen, ANON_EIO, "cannot write %s: %s", w->tmp,
                       strerror(errno ? errno : EIO));
}

int sealed_put(sealed_writer *w, const char *line, size_t len, char *err, size_t errlen)
{
    errno = 0;
    if (fwrite(line, 1, len, w->f) != len || putc('\n', w->f) == EOF)
        return write_error(w, err, errlen);
    if (sums_update(&w->sums, line, len, 1) != 0 || sums_update(&w->sums, "\n", 1, 1) != 0)
        return anon_seterr(err, errlen, ANON_ENOMEM, "libcrypto failed to hash");
    return ANON_OK;
}

/* The trailer line "{"<prefix>hex"}". */
static int put_trailer(sealed_writer *w, const char *prefix, const char *hex, char *err,
                       size_t errlen)
{
    char line[64 + SEALED_HEX_LEN];
    int n = snprintf(line, sizeof line, "%s%s\"}", prefix, hex);

    return sealed_put(w, line, (size_t)n, err, errlen);
}

/* Gives tmp the name path, never replacing a file. */
static int place(const char *tmp, const char *path, char *err, size_t errlen)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return ANON_OK;
    if (errno == EEXIST)
        return exists_error(path, err, errlen);
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return anon_seterr(err, errlen, ANON_EIO, "cannot rename %s to %s: %s", tmp, path,
                           strerror(errno));
    if (link(tmp, path) == 0) {
        unlink(tmp);
        return ANON_OK;
    }
    if (errno == EEXIST)
        return exists_error(path, err, errlen);
    if (errno != EPERM && errno != ENOTSUP && errno != ENOSYS)
        return anon_seterr(err, errlen, ANON_EIO, "cannot link %s to %s: %s", tmp, path,
                           strerror(errno));
    /* no hard links here (FAT): check, then rename */
    if (access(path, F_OK) == 0)
        return exists_error(path, err, errlen);
    if (rename(tmp, path) != 0)
        return anon_seterr(err, errlen, ANON_EIO, "cannot rename %s to %s: %s", tmp, path,
                           strerror(errno));
    return ANON_OK;
}

int sealed_finish(sealed_writer *w, char *err, size_t errlen)
{
    char hex[SEALED_HEX_LEN + 1];
    int rc, fd, dfd;

    if (w->sums.mac != NULL) {
        if (mac_final(&w->sums, hex) != 0) {
            rc = anon_seterr(err, errlen, ANON_ENOMEM, "libcrypto failed to sign");
            goto fail;
        }
        if ((rc = put_trailer(w, MAC_PREFIX, hex, err, errlen)) != ANON_OK)
            goto fail;
    }
    if (sha_final(&w->sums, hex) != 0) {
        rc = anon_seterr(err, errlen, ANON_ENOMEM, "libcrypto failed to hash");
        goto fail;
    }
    /* the sha256 line itself is not summed: write it directly */
    errno = 0;
    if (fprintf(w->f, "%s%s\"}\n", SHA_PREFIX, hex) < 0 || fflush(w->f) != 0 ||
        fsync(fd = fileno(w->f)) != 0) {
        rc = write_error(w, err, errlen);
        goto fail;
    }
    if (fclose(w->f) != 0) {
        w->f = NULL;
        rc = write_error(w, err, errlen);
        goto fail;
    }
    w->f = NULL;
    if ((rc = place(w->tmp, w->path, err, errlen)) != ANON_OK)
        goto fail;
    free(w->tmp);
    w->tmp = NULL;   /* it is the file now: abort must not remove it */
    /* the new name is durable only once the directory is */
    dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)) {
        rc = anon_seterr(err, errlen, ANON_EIO, "cannot flush directory %s: %s", w->dir,
                         strerror(errno));
        if (dfd >= 0)
            close(dfd);
        goto fail;
    }
    close(dfd);
    writer_free(w);
    return ANON_OK;
fail:
    sealed_abort(w);
    return rc;
}

/* ---- reading ---- */

enum { R_CONTENT, R_SIGNED, R_DONE };

struct sealed_reader {
    int fd;                  /* -1 when reading memory */
    const char *mem;
    size_t memlen, mempos;
    char *name;
    const sealed_key *key;
    char *buf;
    size_t cap, start, end;  /* unread bytes are buf[start, end) */
    int eof;
    long lineno;
    int state;
    int is_signed, sig_checked;
    struct sums sums;
    char sha_hex[SEALED_HEX_LEN + 1];
};

static int reader_new(const char *name, const sealed_key *key, sealed_reader **ret_r,
                      char *err, size_t errlen)
{
    sealed_reader *r = calloc(1, sizeof *r);
    int rc;

    *ret_r = NULL;
    if (r == NULL || (r->name = strdup(name)) == NULL) {
        free(r);
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    }
    r->fd = -1;
    r->key = key;
    if ((rc = sums_init(&r->sums, key, err, errlen)) != ANON_OK) {
        free(r->name);
        free(r);
        return rc;
    }
    *ret_r = r;
    return ANON_OK;
}

int sealed_open(const char *path, const sealed_key *key, sealed_reader **ret_r, char *err,
                size_t errlen)
{
    struct stat st;
    int fd, rc;

    *ret_r = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return anon_seterr(err, errlen, ANON_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return anon_seterr(err, errlen, ANON_EIO, "%s is not a regular file", path);
    }
    if ((rc = reader_new(path, key, ret_r, err, errlen)) != ANON_OK) {
        close(fd);
        return rc;
    }
    (*ret_r)->fd = fd;
    return ANON_OK;
}

int sealed_open_mem(const char *data, size_t len, const char *name, const sealed_key *key,
                    sealed_reader **ret_r, char *err, size_t errlen)
{
    int rc = reader_new(name, key, ret_r, err, errlen);

    if (rc == ANON_OK) {
        (*ret_r)->mem = data;
        (*ret_r)->memlen = len;
    }
    return rc;
}

void sealed_close(sealed_reader *r)
{
    if (r == NULL)
        return;
    if (r->fd >= 0)
        close(r->fd);
    sums_free(&r->sums);
    free(r->buf);
    free(r->name);
    free(r);
}

const char *sealed_name(const sealed_reader *r)
{
    return r->name;
}

long sealed_lineno(const sealed_reader *r)
{
    return r->lineno;
}

int sealed_is_signed(const sealed_reader *r)
{
    return r->is_signed;
}

int sealed_sig_checked(const sealed_reader *r)
{
    return r->sig_checked;
}

const char *sealed_sha256(const sealed_reader *r)
{
    return r->sha_hex;
}

static int bad(sealed_reader *r, char *err, size_t errlen, const char *what)
{
    return anon_seterr(err, errlen, ANON_EINVAL, "%s: line %ld: %s", r->name, r->lineno, what);
}

/* Reads more bytes after buf[end]. */
static int fill(sealed_reader *r, char *err, size_t errlen)
{
    size_t room;

    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end + 1 >= r->cap) {
        size_t cap = r->cap ? r->cap * 2 : READ_SIZE;
        char *grown;

        if (r->cap >= (size_t)SEALED_MAX_LINE) {
            r->lineno++;
            return anon_seterr(err, errlen, ANON_EINVAL, "%s: line %ld: longer than %d bytes",
                               r->name, r->lineno, SEALED_MAX_LINE);
        }
        if ((grown = realloc(r->buf, cap)) == NULL)
            return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory reading %s", r->name);
        r->buf = grown;
        r->cap = cap;
    }
    room = r->cap - r->end - 1;
    if (r->fd < 0) {
        size_t n = r->memlen - r->mempos < room ? r->memlen - r->mempos : room;

        memcpy(r->buf + r->end, r->mem + r->mempos, n);
        r->mempos += n;
        r->end += n;
        r->eof = n == 0;
        return ANON_OK;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, room);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return anon_seterr(err, errlen, ANON_EIO, "cannot read %s: %s", r->name,
                               strerror(errno));
        r->end += (size_t)n;
        r->eof = n == 0;
        return ANON_OK;
    }
}

/* The next line into *ret_line (its newline replaced by a NUL) and *ret_len; *ret_line
 * NULL at the end of the file. */
static int read_line(sealed_reader *r, char **ret_line, size_t *ret_len, char *err,
                     size_t errlen)
{
    size_t scanned = 0;
    char *nl;
    int rc;

    *ret_line = NULL;
    for (;;) {
        if (r->end > r->start) {
            nl = memchr(r->buf + r->start + scanned, '\n', r->end - r->start - scanned);
            if (nl != NULL)
                break;
            scanned = r->end - r->start;
        }
        if (r->eof) {
            if (r->end == r->start)
                return ANON_OK;
            r->lineno++;
            return bad(r, err, errlen, "the file is cut short: the last line has no newline");
        }
        /* keeps the unread bytes (moved to the front), so scanned stays valid */
        if ((rc = fill(r, err, errlen)) != ANON_OK)
            return rc;
    }
    *ret_line = r->buf + r->start;
    *ret_len = (size_t)(nl - *ret_line);
    *nl = '\0';
    r->start += *ret_len + 1;
    r->lineno++;
    if (memchr(*ret_line, '\0', *ret_len) != NULL)
        return bad(r, err, errlen, "a NUL byte in the line");
    return ANON_OK;
}

/* A trailer line "{"<prefix>HEX"}": the hex into out; -1 when malformed. */
static int trailer_hex(const char *line, size_t len, const char *prefix, char *out)
{
    size_t p = strlen(prefix);

    if (len != p + SEALED_HEX_LEN + 2 || memcmp(line, prefix, p) != 0 ||
        memcmp(line + p + SEALED_HEX_LEN, "\"}", 2) != 0)
        return -1;
    for (size_t i = 0; i < SEALED_HEX_LEN; i++) {
        char c = line[p + i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        out[i] = c;
    }
    out[SEALED_HEX_LEN] = '\0';
    return 0;
}

static int starts(const char *line, size_t len, const char *prefix)
{
    size_t p = strlen(prefix);

    return len >= p && memcmp(line, prefix, p) == 0;
}

int sealed_next(sealed_reader *r, const char **ret_line, size_t *ret_len, char *err,
                size_t errlen)
{
    char given[SEALED_HEX_LEN + 1], made[SEALED_HEX_LEN + 1], msg[400];
    char *line;
    size_t len;
    int rc;

    *ret_line = NULL;
    *ret_len = 0;
    for (;;) {
        if ((rc = read_line(r, &line, &len, err, errlen)) != ANON_OK)
            return rc;
        if (line == NULL) {
            if (r->state == R_DONE)
                return ANON_OK;
            if (r->lineno == 0)
                return anon_seterr(err, errlen, ANON_EINVAL, "%s: the file is empty", r->name);
            return anon_seterr(err, errlen, ANON_EINVAL,
                               "%s: the file is cut short: it ends after line %ld without its "
                               "sha256 line",
                               r->name, r->lineno);
        }
        if (r->state == R_DONE)
            return bad(r, err, errlen, "text after the sha256 line");
        if (starts(line, len, SHA_PREFIX)) {
            if (trailer_hex(line, len, SHA_PREFIX, given) != 0)
                return bad(r, err, errlen,
                           "a malformed sha256 line (expected {\"sha256\":\"<64 hex digits>\"})");
            if (r->lineno == 1)
                return bad(r, err, errlen, "a sha256 line where the header should be");
            if (sha_final(&r->sums, made) != 0)
                return anon_seterr(err, errlen, ANON_ENOMEM, "libcrypto failed to hash");
            if (strcmp(given, made) != 0) {
                snprintf(msg, sizeof msg,
                         "checksum mismatch: the file was changed or damaged (lines 1-%ld "
                         "sum to %.12s..., the file says %.12s...)",
                         r->lineno - 1, made, given);
                return bad(r, err, errlen, msg);
            }
            if (r->key != NULL && !r->is_signed)
                return bad(r, err, errlen,
                           "the file is not signed, and a signature is required (a key was "
                           "given to check it)");
            memcpy(r->sha_hex, given, sizeof given);
            r->state = R_DONE;
            continue;
        }
        if (starts(line, len, MAC_PREFIX)) {
            if (r->state == R_SIGNED)
                return bad(r, err, errlen, "a second signature line");
            if (r->lineno == 1)
                return bad(r, err, errlen, "a signature line where the header should be");
            if (trailer_hex(line, len, MAC_PREFIX, given) != 0)
                return bad(r, err, errlen,
                           "a malformed signature line (expected {\"hmac-sha256\":\"<64 hex "
                           "digits>\"})");
            r->is_signed = 1;
            if (r->key != NULL) {
                if (mac_final(&r->sums, made) != 0)
                    return anon_seterr(err, errlen, ANON_ENOMEM, "libcrypto failed to hash");
                if (CRYPTO_memcmp(given, made, SEALED_HEX_LEN) != 0) {
                    snprintf(msg, sizeof msg,
                             "the signature does not match the key in %s (another key, or "
                             "the file was rewritten)",
                             r->key->path);
                    return bad(r, err, errlen, msg);
                }
                r->sig_checked = 1;
            }
            if (sums_update(&r->sums, line, len, 0) != 0 || sums_update(&r->sums, "\n", 1, 0) != 0)
                return anon_seterr(err, errlen, ANON_ENOMEM, "libcrypto failed to hash");
            r->state = R_SIGNED;
            continue;
        }
        if (r->state == R_SIGNED)
            return bad(r, err, errlen, "a line after the signature line (only the sha256 line "
                                       "may follow it)");
        if (sums_update(&r->sums, line, len, 1) != 0 || sums_update(&r->sums, "\n", 1, 1) != 0)
            return anon_seterr(err, errlen, ANON_ENOMEM, "libcrypto failed to hash");
        *ret_line = line;
        *ret_len = len;
        return ANON_OK;
    }
}
