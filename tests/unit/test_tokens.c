/*
 * test_tokens.c: cl100k_base counts against the fixtures in tests/fixtures/tokens/, made
 * by scripts/gen-token-fixtures.mjs with npm tiktoken@1.0.22 (see that script for the
 * formats). The random strings are regenerated here with the same PRNG as the generator.
 * Run from the repository root.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon_telemetry.h"
#include "test.h"
#include "tokens.h"

#define FIX "tests/fixtures/tokens/"

/* ---- small helpers ---- */

static char *read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, len = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + len, 1, 65536, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    *ret_len = len;
    return buf;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes hex digits [p, end) into out (room for (end - p) / 2 bytes); -1 if malformed. */
static long unhex(const char *p, const char *end, unsigned char *out)
{
    long n = 0;
    if ((end - p) % 2 != 0)
        return -1;
    for (; p < end; p += 2) {
        int hi = hexval(p[0]), lo = hexval(p[1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[n++] = (unsigned char)(hi << 4 | lo);
    }
    return n;
}

static long parse_long(const char *p, char **end)
{
    return strtol(p, end, 10);
}

/* ---- PRNG and random strings: keep in step with scripts/gen-token-fixtures.mjs ---- */

struct rng {
    uint32_t s[4];
};

static uint32_t rotl32(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

static void rng_seed(struct rng *r, uint32_t seed)
{
    uint32_t x = seed;
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b9u;
        uint32_t z = x;
        z = (z ^ (z >> 16)) * 0x85ebca6bu;
        z = (z ^ (z >> 13)) * 0xc2b2ae35u;
        r->s[i] = z ^ (z >> 16);
    }
}

static uint32_t rng_next(struct rng *r)
{
    uint32_t *s = r->s;
    uint32_t res = rotl32(s[1] * 5, 7) * 9;
    uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl32(s[3], 11);
    return res;
}

static uint32_t below(struct rng *r, uint32_t n)
{
    return rng_next(r) % n;
}

struct buf {
    unsigned char *p;
    size_t len, cap;
};

static int put(struct buf *b, const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        while (ncap < b->len + n)
            ncap *= 2;
        unsigned char *np = realloc(b->p, ncap);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int put1(struct buf *b, unsigned c)
{
    unsigned char ch = (unsigned char)c;
    return put(b, &ch, 1);
}

static int put_cp(struct buf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 63));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
        u[2] = (unsigned char)(0x80 | (cp & 63));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
        u[2] = (unsigned char)(0x80 | (cp >> 6 & 63));
        u[3] = (unsigned char)(0x80 | (cp & 63));
        n = 4;
    }
    return put(b, u, n);
}

struct palette {
    unsigned char *bytes;
    size_t *off; /* entry i is bytes[off[i] .. off[i + 1]) */
    size_t n;
};

static int random_string(struct rng *r, const struct palette *pal, struct buf *b)
{
    uint32_t units = 1 + below(r, 40);
    int invalid = below(r, 8) == 0;
    int rc = 0;
    b->len = 0;
    for (uint32_t u = 0; u < units && rc == 0; u++) {
        uint32_t x = below(r, 100), k, i;
        if (x < 25 || (x >= 94 && !invalid)) {
            i = below(r, (uint32_t)pal->n);
            rc = put(b, pal->bytes + pal->off[i], pal->off[i + 1] - pal->off[i]);
        } else if (x < 45) {
            rc = put1(b, 0x20 + below(r, 95));
        } else if (x < 50) {
            rc = put1(b, below(r, 32));
        } else if (x < 60) {
            k = 1 + below(r, 8);
            for (i = 0; i < k && rc == 0; i++)
                rc = put1(b, 0x61 + below(r, 26));
        } else if (x < 65) {
            k = 1 + below(r, 4);
            for (i = 0; i < k && rc == 0; i++)
                rc = put1(b, 0x20);
        } else if (x < 73) {
            rc = put_cp(b, 0x80 + below(r, 0x780));
        } else if (x < 83) {
            uint32_t cp = below(r, 0x10000);
            if (cp >= 0xd800 && cp < 0xe000)
                cp -= 0x800;
            rc = put_cp(b, cp);
        } else if (x < 88) {
            rc = put_cp(b, 0x10000 + below(r, 0x100000));
        } else if (x < 94) {
            k = 1 + below(r, 6);
            for (i = 0; i < k && rc == 0; i++)
                rc = put1(b, 0x30 + below(r, 10));
        } else {
            rc = put1(b, 0x80 + below(r, 0x80));
        }
    }
    return rc;
}

static int load_palette(struct palette *pal)
{
    size_t len, lines = 0, o = 0, n = 0;
    char *text = read_file(FIX "palette.hex", &len);
    if (text == NULL)
        return -1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    pal->bytes = malloc(len / 2 + 1);
    pal->off = malloc((lines + 1) * sizeof *pal->off);
    if (pal->bytes == NULL || pal->off == NULL) {
        free(text);
        return -1;
    }
    for (char *p = text; *p != '\0';) {
        char *e = strchr(p, '\n');
        if (e == NULL)
            e = p + strlen(p);
        long k = unhex(p, e, pal->bytes + o);
        if (k <= 0) {
            free(text);
            return -1;
        }
        pal->off[n++] = o;
        o += (size_t)k;
        p = *e ? e + 1 : e;
    }
    pal->off[n] = o;
    pal->n = n;
    free(text);
    return 0;
}

/* ---- tests ---- */

static void test_cases(void)
{
    size_t len;
    char *text = read_file(FIX "cases.tsv", &len);
    int ncases = 0, bad = 0;
    unsigned char *piece = malloc(len / 2 + 1);
    struct buf b = { 0 };

    if (!T_CHECK(text != NULL && piece != NULL)) {
        free(text);
        free(piece);
        return;
    }
    for (char *line = text; *line != '\0';) {
        char *nl = strchr(line, '\n'), *p, *hexs, *hexe, *name;
        if (nl != NULL)
            *nl = '\0';
        long want = parse_long(line, &p);
        long repeat = parse_long(p + 1, &hexs);
        hexe = strchr(hexs + 1, '\t');
        name = hexe != NULL ? hexe + 1 : (char *)"?";
        long plen = hexe != NULL ? unhex(hexs + 1, hexe, piece) : -1;
        if (!T_CHECK(plen >= 0 && repeat >= 1)) {
            printf("  malformed line: %.60s\n", line);
            break;
        }
        b.len = 0;
        for (long r = 0; r < repeat; r++)
            put(&b, piece, (size_t)plen);
        long got = anon_count_tokens((const char *)b.p, b.len);
        if (!T_EQ_INT(got, want))
            printf("  case: %s\n", name);
        bad += got != want;
        ncases++;
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
    T_CHECK(ncases > 600);
    if (bad)
        printf("  %d of %d cases differ\n", bad, ncases);
    free(b.p);
    free(piece);
    free(text);
}

static void test_random(const struct palette *pal)
{
    size_t len;
    char *text = read_file(FIX "random.txt", &len), *p;
    unsigned long seed = 0, n = 0, bad = 0;
    long long sum = 0;
    struct rng r;
    struct buf b = { 0 };
    const char **texts = NULL;
    size_t *lens = NULL;
    unsigned char *arena = NULL;
    size_t arena_len = 0, arena_cap = 0;

    if (!T_CHECK(text != NULL && sscanf(text, "seed %lu count %lu", &seed, &n) == 2))
        goto out;
    texts = malloc(n * sizeof *texts);
    lens = malloc(n * sizeof *lens);
    size_t *offs = malloc(n * sizeof *offs);
    if (!T_CHECK(texts != NULL && lens != NULL && offs != NULL)) {
        free(offs);
        goto out;
    }
    rng_seed(&r, (uint32_t)seed);
    p = strchr(text, '\n');
    for (unsigned long i = 0; i < n && p != NULL; i++) {
        long want = parse_long(p + 1, &p);
        if (random_string(&r, pal, &b) != 0)
            break;
        long got = anon_count_tokens((const char *)b.p, b.len);
        if (got != want && ++bad <= 5) {
            printf("FAIL random string %lu: expected %ld, got %ld; bytes:", i, want, got);
            for (size_t k = 0; k < b.len; k++)
                printf(" %02x", b.p[k]);
            printf("\n");
        }
        sum += want;
        /* keep them all for the average below */
        if (arena_len + b.len > arena_cap) {
            size_t ncap = arena_cap ? arena_cap * 2 : 1 << 20;
            unsigned char *na = realloc(arena, ncap);
            if (na == NULL)
                break;
            arena = na;
            arena_cap = ncap;
        }
        if (b.len > 0)
            memcpy(arena + arena_len, b.p, b.len);
        offs[i] = arena_len;
        lens[i] = b.len;
        arena_len += b.len;
    }
    if (bad)
        printf("  %lu of %lu random strings differ\n", bad, n);
    T_EQ_INT(bad, 0);
    for (unsigned long i = 0; i < n; i++)
        texts[i] = (const char *)arena + offs[i];
    free(offs);
    /* the average, single-threaded and threaded, is int(sum / n) */
    long want_avg = (long)((double)sum / (double)n);
    T_EQ_INT(tokens_avg_threads(texts, lens, n, 1), want_avg);
    T_EQ_INT(tokens_avg_threads(texts, lens, n, 2), want_avg);
    T_EQ_INT(tokens_avg_threads(texts, lens, n, 7), want_avg);
    T_EQ_INT(anon_avg_tokens_per_record(texts, lens, n), want_avg);
    T_EQ_INT(anon_avg_tokens_per_record(texts, lens, 1), (long)lens[0] >= 0 ? anon_count_tokens(texts[0], lens[0]) : -1);
out:
    free(texts);
    free(lens);
    free(arena);
    free(b.p);
    free(text);
}

static void test_unicode(void)
{
    size_t len;
    char *text = read_file(FIX "unicode.txt", &len), *p;
    unsigned long nblocks = 0, blocks = 0, bad = 0;
    struct buf b = { 0 };

    if (!T_CHECK(text != NULL && sscanf(text, "blocks %lu", &nblocks) == 1))
        goto out;
    p = strchr(text, '\n');
    for (uint32_t base = 0; base < 0x110000 && p != NULL; base += 64) {
        if (base >= 0xd800 && base < 0xe000)
            continue;
        long want = parse_long(p + 1, &p);
        b.len = 0;
        for (uint32_t cp = base; cp < base + 64; cp++) {
            put_cp(&b, cp);
            put(&b, (const unsigned char *)"'s", 2);
            put_cp(&b, cp);
            put(&b, (const unsigned char *)"123\n", 4);
        }
        long got = anon_count_tokens((const char *)b.p, b.len);
        if (got != want && ++bad <= 5)
            printf("FAIL code points U+%04X..U+%04X: expected %ld, got %ld\n", (unsigned)base,
                   (unsigned)base + 63, want, got);
        blocks++;
    }
    T_EQ_INT(blocks, nblocks);
    T_EQ_INT(bad, 0);
out:
    free(b.p);
    free(text);
}

static void test_repair(void)
{
    static const struct {
        const char *in;
        size_t inlen;
        const char *out;
        size_t outlen;
    } t[] = {
        { "\xe2\x82", 2, "\xef\xbf\xbd", 3 },
        { "\xff\xfe", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6 },
        { "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9 },
        { "a\xf0\x9f\x98" "b", 5, "a\xef\xbf\xbd" "b", 5 },
        { "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6 },
        { "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12 },
        { "\xe0\xa0", 2, "\xef\xbf\xbd", 3 },
        { "\xf0\x90\x80", 3, "\xef\xbf\xbd", 3 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        unsigned char *out = NULL;
        size_t outlen = 0;
        int rc = tokens_utf8_repair((const unsigned char *)t[i].in, t[i].inlen, &out, &outlen);
        T_EQ_INT(rc, 0);
        if (T_CHECK(out != NULL) && T_EQ_INT(outlen, t[i].outlen))
            T_CHECK(memcmp(out, t[i].out, outlen) == 0);
        free(out);
    }
    unsigned char *out = (unsigned char *)"x";
    size_t outlen = 0;
    T_EQ_INT(tokens_utf8_repair((const unsigned char *)"ok \xc3\xa9", 5, &out, &outlen), 0);
    T_CHECK(out == NULL);
}

static void test_api_edges(void)
{
    const char *texts[] = { "Hello world", "<|endoftext|>", "" };
    size_t lens[] = { 11, 13, 0 };
    T_EQ_INT(anon_count_tokens("", 0), 0);
    T_EQ_INT(anon_count_tokens(NULL, 0), 0);
    T_EQ_INT(anon_count_tokens(NULL, 3), -1);
    T_EQ_INT(anon_count_tokens("Hello world", 11), 2);
    T_EQ_INT(anon_count_tokens("<|endoftext|>", 13), 7);
    /* (2 + 7 + 0) / 3 = 3 */
    T_EQ_INT(anon_avg_tokens_per_record(texts, lens, 3), 3);
    T_EQ_INT(anon_avg_tokens_per_record(texts, NULL, 3), 3);
    T_EQ_INT(anon_avg_tokens_per_record(texts, lens, 2), 4); /* int(4.5) */
    T_EQ_INT(anon_avg_tokens_per_record(texts, lens, 0), -1);
    T_EQ_INT(anon_avg_tokens_per_record(NULL, NULL, 0), -1);
    const char *with_null[] = { "a", NULL };
    size_t null_lens[] = { 1, 0 };
    T_EQ_INT(anon_avg_tokens_per_record(with_null, null_lens, 2), 0); /* int(1 / 2) */
    T_EQ_INT(anon_avg_tokens_per_record(with_null, NULL, 2), -1);
    /* the sum a caller adds parts of: 2 + 7 + 0 */
    T_EQ_INT(anon_sum_tokens(texts, lens, 3), 9);
    T_EQ_INT(anon_sum_tokens(texts, NULL, 3), 9);
    T_EQ_INT(anon_sum_tokens(texts, lens, 0), 0);
    T_EQ_INT(anon_sum_tokens(NULL, NULL, 0), 0);
    T_EQ_INT(anon_sum_tokens(NULL, NULL, 1), -1);
    T_EQ_INT(anon_sum_tokens(with_null, NULL, 2), -1);
}

int main(void)
{
    struct palette pal = { 0 };
    test_api_edges();
    test_repair();
    test_cases();
    if (T_CHECK(load_palette(&pal) == 0))
        test_random(&pal);
    test_unicode();
    free(pal.bytes);
    free(pal.off);
    return t_done();
}
