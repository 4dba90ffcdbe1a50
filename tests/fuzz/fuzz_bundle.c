/*
 * fuzz_bundle: the bundle and receipt readers (shipper/bundle.c over shipper/sealed.c)
 * on arbitrary files. The first byte chooses:
 *
 *   bit 0   a bundle (0) or a receipt (1)
 *   bit 1   reseal: the rest gets a correct trailer before it is read, so that the line
 *           readers are reached (a random file rarely carries its own SHA-256)
 *   bit 2   signed: with bit 1, the trailer has an HMAC line made with a fixed key, and
 *           the reader requires it
 *
 * Whatever the input: no crash, no leak, no undefined behaviour; a refusal always says
 * why. When a file is accepted: the header's count is what the file holds, every uuid is
 * in lower case, and writing the file again from what was read gives the same bytes
 * (each line has one form: what was read is what would be imported and posted).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bundle.h"
#include "sealed.h"

static const char KEY[] = "fuzz-key-0123456789abcdef";
static sealed_key *key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[] = "/tmp/fuzz_bundle_key.XXXXXX";
    char err[ANON_ERRLEN];
    int fd = mkstemp(path);

    (void)argc;
    (void)argv;
    if (fd < 0 || write(fd, KEY, sizeof KEY - 1) != (ssize_t)(sizeof KEY - 1))
        abort();
    close(fd);
    if (sealed_key_load(path, &key, err, sizeof err) != ANON_OK) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    unlink(path);
    return 0;
}

static void hex(const unsigned char *b, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* data + [hmac line] + sha256 line, as sealed_finish writes them. */
static void reseal(anon_buf *b, const uint8_t *data, size_t size, int sign)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char h[2 * EVP_MAX_MD_SIZE + 1];

    anon_buf_append(b, (const char *)data, size);
    if (size > 0 && data[size - 1] != '\n')
        anon_buf_append(b, "\n", 1);
    if (sign) {
        HMAC(EVP_sha256(), KEY, (int)(sizeof KEY - 1), (const unsigned char *)b->data, b->len,
             md, &n);
        hex(md, n, h);
        anon_buf_printf(b, "{\"hmac-sha256\":\"%s\"}\n", h);
    }
    EVP_Digest(b->data, b->len, md, &n, EVP_sha256(), NULL);
    hex(md, n, h);
    anon_buf_printf(b, "{\"sha256\":\"%s\"}\n", h);
}

/* ---- the file written again from what was read ---- */

static int again_bundle_header(void *ctx, const struct bundle_header *h, char *err,
                               size_t errlen)
{
    (void)err;
    (void)errlen;
    if (bundle_uuid_check(h->bundle) != 0 || bundle_spool_id_check(h->spool) != 0)
        abort();
    bundle_header_write(ctx, h);
    anon_buf_append(ctx, "\n", 1);
    return ANON_OK;
}

static int again_bundle_line(void *ctx, long lineno, struct bundle_line *l, char *err,
                             size_t errlen)
{
    struct envelope_event *evs = calloc(l->n, sizeof *evs);
    const char **uuids = calloc(l->n, sizeof *uuids);
    struct envelope_hdr h;

    (void)lineno;
    (void)err;
    (void)errlen;
    if (l->n == 0 || evs == NULL || uuids == NULL)
        abort();
    h = (struct envelope_hdr){l->recs[0].session_id, l->recs[0].client_version,
                              l->recs[0].schema_version, l->recs[0].cpu_architecture};
    for (size_t i = 0; i < l->n; i++) {
        if (bundle_uuid_check(l->recs[i].uuid) != 0)
            abort();
        evs[i] = (struct envelope_event){l->recs[i].name, l->recs[i].ts, l->recs[i].parameters};
        uuids[i] = l->recs[i].uuid;
    }
    if (bundle_line_write(ctx, uuids, &h, evs, l->n) != 0)
        abort();
    anon_buf_append(ctx, "\n", 1);
    free(evs);
    free(uuids);
    return ANON_OK;
}

static int again_receipt_header(void *ctx, const struct receipt_header *h, char *err,
                                size_t errlen)
{
    (void)err;
    (void)errlen;
    receipt_header_write(ctx, h);
    anon_buf_append(ctx, "\n", 1);
    return ANON_OK;
}

static int again_receipt_entry(void *ctx, long lineno, const struct receipt_entry *e,
                               char *err, size_t errlen)
{
    (void)lineno;
    (void)err;
    (void)errlen;
    if (bundle_uuid_check(e->uuid) != 0 || bundle_uuid_check(e->bundle) != 0)
        abort();
    if (e->state == RECEIPT_DLQ && e->reason[0] == '\0')
        abort();
    receipt_entry_write(ctx, e);
    anon_buf_append(ctx, "\n", 1);
    return ANON_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ANON_ERRLEN] = "";
    anon_buf in, again;
    sealed_reader *r = NULL;
    const sealed_key *k = NULL;
    int mode, rc;

    if (size < 1)
        return 0;
    mode = data[0];
    data++;
    size--;
    anon_buf_init(&in);
    anon_buf_init(&again);
    if (mode & 2) {
        reseal(&in, data, size, mode & 4);
        if (mode & 4)
            k = key;
    } else {
        anon_buf_append(&in, (const char *)data, size);
    }
    if (in.oom)
        abort();
    if (sealed_open_mem(in.data != NULL ? in.data : "", in.len, "fuzz", k, &r, err,
                        sizeof err) != ANON_OK)
        abort();
    if (mode & 1) {
        struct receipt_visitor v = {&again, again_receipt_header, again_receipt_entry};
        struct receipt_header h;

        rc = receipt_read(r, &v, &h, err, sizeof err);
        receipt_header_clear(&h);
    } else {
        struct bundle_visitor v = {&again, again_bundle_header, again_bundle_line};
        struct bundle_summary sum;

        rc = bundle_read(r, &v, &sum, err, sizeof err);
        if (rc == ANON_OK && (sum.events != sum.header.events || (k != NULL && !sum.sig_checked)))
            abort();
    }
    if (rc != ANON_OK) {
        if (rc != ANON_EINVAL && rc != ANON_ENOMEM)
            abort();
        if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL)
            abort();                      /* a refusal always says why */
    } else {
        /* the same bytes again: the content lines, then the trailer the input carried */
        size_t body = again.len;

        if (in.len < body || memcmp(in.data, again.data, body) != 0) {
            fprintf(stderr, "accepted, but not in its one form:\n%.*s\n---\n%.*s\n",
                    (int)in.len, in.data, (int)again.len, again.data);
            abort();
        }
    }
    sealed_close(r);
    anon_buf_free(&in);
    anon_buf_free(&again);
    return 0;
}
