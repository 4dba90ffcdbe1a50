/*
 * fuzz_tokens: anon_count_tokens on arbitrary bytes must equal a slow reference
 * written here from the rules alone, sharing only the data (the cl100k_base rank list
 * and the Unicode class table), never the counter's code:
 *
 *   1. bytes -> code points as Python's bytes.decode("utf-8", "replace"): each maximal
 *      subpart of an ill-formed sequence becomes U+FFFD;
 *   2. pieces: tiktoken's pattern, each alternative tried in order at each position,
 *      with the greedy quantifiers backtracked by brute force, as a backtracking
 *      regex engine does (leftmost-first);
 *        (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3} |
 *         ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *   3. each piece: 1 if its bytes are a token, else naive BPE (tiktoken's
 *      _byte_pair_merge): merge the adjacent pair whose concatenation has the lowest
 *      rank, leftmost on ties, until no pair is a token; ranks found by binary search
 *      in a sorted copy of the rank list.
 * Inputs over 2 KiB are skipped (the reference is quadratic).
 *
 * Also: the input split at newlines into records, anon_avg_tokens_per_record's threaded
 * path (tokens_avg_threads with 1 and 3 threads) must give int(sum / n) of the records'
 * counts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon_telemetry.h"
#include "tokens.h"

#include "data/unicode_classes.inc"

#define MAX_INPUT 2048

/* The reference is not what is being fuzzed: no coverage feedback from it (and no
 * memcmp, which libFuzzer hooks), so that the fuzzer's time goes to the counter. */
#if defined(__clang__)
#define REF __attribute__((no_sanitize("coverage")))
#else
#define REF
#endif

/* ---- the rank list, sorted by bytes ---- */

struct tok {
    const unsigned char *p;
    uint32_t len, rank;
};
static struct tok *toks;
static size_t ntoks;

REF static int cmp_bytes(const unsigned char *a, size_t alen, const unsigned char *b,
                        size_t blen)
{
    size_t n = alen < blen ? alen : blen;

    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

REF static int cmp_tok(const void *a, const void *b)
{
    const struct tok *x = a, *y = b;
    return cmp_bytes(x->p, x->len, y->p, y->len);
}

REF static void load_ranks(void)
{
    uint32_t rank = 0;

    toks = calloc(tokens_cl100k_ntokens, sizeof *toks);
    if (toks == NULL)
        abort();
    for (size_t c = 0; c < tokens_cl100k_nchunks; c++) {
        const unsigned char *p = (const unsigned char *)tokens_cl100k_chunks[c];
        while (*p != 0) {
            uint32_t len = *p++;
            toks[ntoks].p = p;
            toks[ntoks].len = len;
            toks[ntoks].rank = rank++;
            ntoks++;
            p += len;
        }
    }
    if (ntoks != tokens_cl100k_ntokens)
        abort();
    qsort(toks, ntoks, sizeof *toks, cmp_tok);
}

/* Rank of the bytes, or -1 when they are not a token. */
REF static long rank_of(const unsigned char *p, size_t len)
{
    size_t lo = 0, hi = ntoks;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_bytes(toks[mid].p, toks[mid].len, p, len);
        if (c == 0)
            return toks[mid].rank;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- 1. decoding ---- */

/* Code points (and their UTF-8 encodings, for the byte view) of the decoded text. */
static uint32_t cps[MAX_INPUT];
static size_t ncps;

REF static void decode(const unsigned char *s, size_t n)
{
    size_t i = 0;

    ncps = 0;
    while (i < n) {
        unsigned b = s[i];
        size_t need;
        unsigned lo2 = 0x80, hi2 = 0xbf;
        uint32_t cp;

        if (b < 0x80) {
            cps[ncps++] = b;
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf)
            need = 2, cp = b & 0x1f;
        else if (b >= 0xe0 && b <= 0xef)
            need = 3, cp = b & 0x0f;
        else if (b >= 0xf0 && b <= 0xf4)
            need = 4, cp = b & 0x07;
        else {
            cps[ncps++] = 0xfffd;   /* a byte that starts nothing */
            i++;
            continue;
        }
        if (b == 0xe0)
            lo2 = 0xa0;
        else if (b == 0xed)
            hi2 = 0x9f;
        else if (b == 0xf0)
            lo2 = 0x90;
        else if (b == 0xf4)
            hi2 = 0x8f;
        size_t k = 1;
        for (; k < need; k++) {
            unsigned lo = k == 1 ? lo2 : 0x80, hi = k == 1 ? hi2 : 0xbf;
            if (i + k >= n || s[i + k] < lo || s[i + k] > hi)
                break;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (k == need) {
            cps[ncps++] = cp;
            i += need;
        } else {
            cps[ncps++] = 0xfffd;   /* the maximal subpart s[i, i+k) */
            i += k;
        }
    }
}

REF static size_t utf8_put(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- 2. the pattern, alternative by alternative ---- */

REF static int cls(uint32_t cp)  /* 0 other, 1 \p{L}, 2 \p{N}, 3 \s */
{
    return uc_blocks[uc_stage1[cp >> 8]][cp & 255];
}
REF static int is_L(size_t i) { return i < ncps && cls(cps[i]) == 1; }
REF static int is_N(size_t i) { return i < ncps && cls(cps[i]) == 2; }
REF static int is_S(size_t i) { return i < ncps && cls(cps[i]) == 3; }
REF static int is_nl(size_t i) { return i < ncps && (cps[i] == '\r' || cps[i] == '\n'); }

/* (?i:x) for one ASCII letter x: simple case folding (s also matches U+017F long s) */
REF static int fold_eq(size_t i, char x)
{
    if (i >= ncps)
        return 0;
    uint32_t c = cps[i];
    return c == (uint32_t)x || c == (uint32_t)(x - 'a' + 'A') || (x == 's' && c == 0x17f);
}

REF static long alt_contraction(size_t i)
{
    static const char *const words[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    if (i >= ncps || cps[i] != '\'')
        return -1;
    for (size_t w = 0; w < 7; w++) {
        size_t k = 0;
        while (words[w][k] && fold_eq(i + 1 + k, words[w][k]))
            k++;
        if (words[w][k] == '\0')
            return (long)(i + 1 + k);
    }
    return -1;
}

REF static long alt_letters(size_t i)   /* [^\r\n\p{L}\p{N}]?\p{L}+ */
{
    /* the optional character first (greedy), then without it */
    for (int take = 1; take >= 0; take--) {
        size_t j = i;
        if (take) {
            if (i >= ncps || is_nl(i) || is_L(i) || is_N(i))
                continue;
            j++;
        }
        if (!is_L(j))
            continue;
        while (is_L(j))
            j++;
        return (long)j;
    }
    return -1;
}

REF static long alt_numbers(size_t i)   /* \p{N}{1,3} */
{
    size_t j = i;
    while (j < i + 3 && is_N(j))
        j++;
    return j > i ? (long)j : -1;
}

REF static long alt_punct(size_t i)     /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
{
    for (int take = 1; take >= 0; take--) {
        size_t j = i;
        if (take) {
            if (i >= ncps || cps[i] != ' ')
                continue;
            j++;
        }
        size_t k = j;
        while (k < ncps && !is_S(k) && !is_L(k) && !is_N(k))
            k++;
        if (k == j)
            continue;
        while (is_nl(k))
            k++;
        return (long)k;
    }
    return -1;
}

REF static long alt_newlines(size_t i)  /* \s*[\r\n]+ */
{
    size_t run = i;
    while (is_S(run))
        run++;
    for (size_t k = run + 1; k-- > i;) {     /* \s* takes [i, k), longest first */
        if (!is_nl(k))
            continue;
        size_t e = k;
        while (is_nl(e))
            e++;
        return (long)e;
    }
    return -1;
}

REF static long alt_spaces_lookahead(size_t i)  /* \s+(?!\S) */
{
    size_t run = i;
    while (is_S(run))
        run++;
    for (size_t k = run; k > i; k--)          /* \s+ takes [i, k), longest first */
        if (k == ncps || is_S(k))
            return (long)k;
    return -1;
}

REF static long alt_spaces(size_t i)    /* \s+ */
{
    size_t k = i;
    while (is_S(k))
        k++;
    return k > i ? (long)k : -1;
}

/* ---- 3. naive BPE ---- */

REF static long naive_bpe(const unsigned char *p, size_t n)
{
    size_t start[4 * MAX_INPUT + 1], m = n;

    if (n == 1 || rank_of(p, n) >= 0)
        return 1;
    for (size_t k = 0; k <= n; k++)
        start[k] = k;
    for (;;) {
        long best = -1;
        size_t bi = 0;
        for (size_t k = 0; k + 1 < m; k++) {
            long r = rank_of(p + start[k], start[k + 2] - start[k]);
            if (r >= 0 && (best < 0 || r < best)) {
                best = r;
                bi = k;
            }
        }
        if (best < 0)
            break;
        memmove(&start[bi + 1], &start[bi + 2], (m - bi - 1) * sizeof start[0]);
        m--;
    }
    return (long)m;
}

REF static long reference_count(const unsigned char *s, size_t n)
{
    static long (*const alts[])(size_t) = {alt_contraction, alt_letters,
                                          alt_numbers,     alt_punct,
                                          alt_newlines,    alt_spaces_lookahead,
                                          alt_spaces};
    static unsigned char piece[4 * MAX_INPUT];
    long total = 0;
    size_t i = 0;

    decode(s, n);
    while (i < ncps) {
        long end = -1;
        for (size_t a = 0; a < sizeof alts / sizeof alts[0] && end < 0; a++)
            end = alts[a](i);
        if (end <= (long)i) {
            fprintf(stderr, "reference: no alternative matches at code point %zu (U+%04X)\n",
                    i, (unsigned)cps[i]);
            abort();
        }
        size_t len = 0;
        for (size_t k = i; k < (size_t)end; k++)
            len += utf8_put(cps[k], piece + len);
        total += naive_bpe(piece, len);
        i = (size_t)end;
    }
    return total;
}

static void check_average(const uint8_t *data, size_t size)
{
    const char *texts[64];
    size_t lens[64], n = 0, start = 0;
    long long sum = 0;

    for (size_t i = 0; i <= size && n < 64; i++) {
        if (i == size || data[i] == '\n') {
            texts[n] = (const char *)data + start;
            lens[n] = i - start;
            long c = anon_count_tokens(texts[n], lens[n]);
            if (c < 0)
                abort();
            sum += c;
            n++;
            start = i + 1;
        }
    }
    long want = (long)(sum / (long long)n);
    for (unsigned threads = 1; threads <= 3; threads += 2) {
        long got = tokens_avg_threads(texts, lens, n, threads);
        if (got != want) {
            fprintf(stderr, "tokens_avg_threads(%zu records, %u threads) = %ld, want %ld\n", n,
                    threads, got, want);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long got, want;

    if (toks == NULL)
        load_ranks();
    got = anon_count_tokens((const char *)data, size);
    if (size > MAX_INPUT)
        return 0;
    want = reference_count(data, size);
    if (got != want) {
        fprintf(stderr, "anon_count_tokens = %ld, reference = %ld for %zu bytes\n", got, want,
                size);
        abort();
    }
    check_average(data, size);
    return 0;
}
