/*
 * anon-telemetry-tokens [--records] [FILE...]
 *
 * Prints the cl100k_base token count of each FILE (standard input when none, or for
 * "-"), one line per input, in order. With --records each input is JSON Lines, one JSON
 * string per line (blank lines are skipped), and the line printed for it is
 * avg_tokens_per_record over those strings: int(sum / n), -1 when there are none.
 *
 * Exit status (sysexits.h): 0 ok, 64 bad usage, 65 a line that is not a JSON string
 * (named as FILE:LINE), 66 an input that cannot be read (named), 70 counting failed,
 * 71 out of memory, 74 standard output could not be written.
 *
 * For benchmarks: --threads N fixes the number of threads used for --records and for
 * counting large inputs (the default uses every online core); --timing prints to standard
 * error the time spent counting (avg_tokens_per_record or the count), without reading
 * and decoding the input.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "anon_telemetry.h"
#include "cli.h"
#include "cmdio.h"
#include "internal.h"
#include "tokens.h"

static const char *progname = "anon-telemetry-tokens";
static int timing;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void report_time(const char *name, const char *what, double t0)
{
    if (timing)
        fprintf(stderr, "%s: %s: %s took %.1f ms\n", progname, name, what, now_ms() - t0);
}

/* The command line (spool/cli.h): one command, these options, FILE arguments. */
enum { OPT_RECORDS, OPT_THREADS, OPT_TIMING, OPT_HELP, OPT_VERSION };

static const cli_opt options[] = {
    /* id           name        short  value  flags                    help */
    {OPT_RECORDS,   "records",    0,  NULL,  0,
     "each input is JSON Lines of strings: print avg_tokens_per_record"},
    {OPT_THREADS,   "threads",    0,  "N",   0,
     "threads for --records and large inputs (default: every core)"},
    {OPT_TIMING,    "timing",     0,  NULL,  0,
     "print the time spent counting on standard error (benchmarks)"},
    {OPT_HELP,      "help",     'h',  NULL,  CLI_GLOBAL | CLI_HELP,      "this text"},
    {OPT_VERSION,   "version",    0,  NULL,  CLI_GLOBAL | CLI_VERSION,   "print the version, and exit"},
};

static const cli_cmd commands[] = {
    {"", CLI_OPT(OPT_RECORDS) | CLI_OPT(OPT_THREADS) | CLI_OPT(OPT_TIMING), 0, 0, -1, NULL,
     "[--records] [--threads N] [FILE...]", "count tokens"},
};

static const cli_spec spec = {
    .prog = "anon-telemetry-tokens",
    .opts = options,
    .nopts = sizeof options / sizeof options[0],
    .cmds = commands,
    .ncmds = 1,
    .about = "  prints the cl100k_base token count of each FILE (or of standard input, also\n"
             "  for \"-\"), one per line; with --records each input is JSON Lines of strings and\n"
             "  the line printed is avg_tokens_per_record over them (-1 when there are none)\n",
    .epilog = "exit: 0 ok, 64 bad usage, 65 a line that is not a JSON string, 66 an input that\n"
              "      cannot be read, 70 counting failed, 71 out of memory, 74 output error\n",
};

/* ---- counting one large text on several threads ---- */

/*
 * A text can be cut, with no effect on the count, just before an ASCII byte that is not
 * white space and follows a '\n': no alternative of the pattern matches across that
 * point (none continues after a '\n' into such a byte, and none begins with a '\n'
 * followed by one), and the cut cannot split an invalid UTF-8 subpart, which never
 * contains an ASCII byte. So the pieces can be counted separately and summed.
 */
static int safe_cut(const char *s, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    return s[i - 1] == '\n' && c > 0x20 && c < 0x7f;
}

struct part {
    const char *text;
    size_t len;
    long count;
};

static void *count_part(void *arg)
{
    struct part *p = arg;
    p->count = anon_count_tokens(p->text, p->len);
    return NULL;
}

#define PAR_MIN (1u << 20) /* bytes per thread worth the start-up */
#define PAR_MAX 64

static long count_text(const char *text, size_t len, unsigned nthreads)
{
    struct part parts[PAR_MAX];
    pthread_t tid[PAR_MAX];
    int started[PAR_MAX] = { 0 };
    size_t start = 0;
    unsigned n = 0;
    long total = 0;

    if (nthreads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (nthreads > PAR_MAX)
        nthreads = PAR_MAX;
    if (nthreads > len / PAR_MIN)
        nthreads = (unsigned)(len / PAR_MIN);
    if (nthreads <= 1)
        return anon_count_tokens(text, len);
    for (unsigned k = 1; k <= nthreads; k++) {
        size_t cut = k == nthreads ? len : len / nthreads * k;
        while (cut < len && cut > start && !safe_cut(text, cut))
            cut++;
        if (cut <= start)
            continue;
        parts[n].text = text + start;
        parts[n].len = cut - start;
        parts[n].count = -1;
        n++;
        start = cut;
        if (cut == len)
            break;
    }
    for (unsigned k = 1; k < n; k++)
        started[k] = pthread_create(&tid[k], NULL, count_part, &parts[k]) == 0;
    count_part(&parts[0]);
    for (unsigned k = 1; k < n; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            count_part(&parts[k]);
    }
    for (unsigned k = 0; k < n; k++) {
        if (parts[k].count < 0)
            return -1;
        total += parts[k].count;
    }
    return total;
}

/* ---- JSON Lines of strings ---- */

static int hex4(const char *p, const char *end, unsigned *ret)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *ret = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 63));
    o[2] = (char)(0x80 | (cp >> 6 & 63));
    o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

static int json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Decodes the line [p, end) holding one JSON string (white space around it allowed) into
 * out, which has room for end - p bytes (a decoded string is never longer than its
 * source). Returns the decoded length, -1 when the line is not a JSON string, -2 when it
 * is blank. A lone surrogate escape becomes U+FFFD, as tiktoken does with Python's
 * lone surrogates; raw bytes are copied (invalid UTF-8 is read as U+FFFD when counted).
 */
static long json_string(const char *p, const char *end, char *out)
{
    char *o = out;
    while (p < end && json_ws(*p))
        p++;
    if (p == end)
        return -2;
    if (*p++ != '"')
        return -1;
    for (;;) {
        if (p == end)
            return -1;
        unsigned char c = (unsigned char)*p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (p == end)
            return -1;
        c = (unsigned char)*p++;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p, end, &cp) != 0)
                return -1;
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                hex4(p + 2, end, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd;
            }
            /* 6 source bytes (12 for a pair) always cover the at most 4 written */
            o += put_utf8(o, cp);
            break;
        }
        default:
            return -1;
        }
    }
    while (p < end && json_ws(*p))
        p++;
    return p == end ? (long)(o - out) : -1;
}

/* avg_tokens_per_record over the JSON Lines in buf; exit status in *ret_status. */
static long records_avg(const char *name, char *buf, size_t len, unsigned nthreads,
                        int *ret_status)
{
    const char **texts = NULL;
    size_t *lens = NULL, n = 0, cap = 0, lineno = 0;
    char *out = buf; /* strings are decoded in place: each is no longer than its line */
    char *p = buf, *end = buf + len;
    long avg = -1;

    *ret_status = EX_OK;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl != NULL ? nl : end;
        lineno++;
        long k = json_string(p, le, out);
        if (k == -1) {
            fprintf(stderr, "%s: %s:%zu: not a JSON string\n", progname, name, lineno);
            *ret_status = EX_DATAERR;
            goto out;
        }
        if (k >= 0) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 1024;
                const char **nt = realloc(texts, ncap * sizeof *texts);
                if (nt != NULL)
                    texts = nt;
                size_t *nlens = nt != NULL ? realloc(lens, ncap * sizeof *lens) : NULL;
                if (nt == NULL || nlens == NULL) {
                    fprintf(stderr, "%s: out of memory\n", progname);
                    *ret_status = EX_OSERR;
                    goto out;
                }
                lens = nlens;
                cap = ncap;
            }
            texts[n] = out;
            lens[n] = (size_t)k;
            n++;
            out += k;
        }
        p = le + (nl != NULL);
    }
    if (n == 0)
        goto out;
    double t0 = now_ms();
    avg = tokens_avg_threads(texts, lens, n, nthreads);
    report_time(name, "avg_tokens_per_record", t0);
    if (avg < 0) {
        fprintf(stderr, "%s: %s: counting failed\n", progname, name);
        *ret_status = EX_SOFTWARE;
    }
out:
    free(texts);
    free(lens);
    return avg;
}

int main(int argc, char **argv)
{
    int records = 0, status = EX_OK, act;
    unsigned nthreads = 0;
    long threads = 0;
    const char *stdin_only[] = { "-" };
    cli_result cl;

    cmdio_start(); /* a closed pipe is a write error (exit 74), not a death by SIGPIPE */
    act = cli_parse(&spec, argc, argv, &cl);
    if (act == CLI_RUN && cli_long(&cl, OPT_THREADS, 1, 1024, &threads) != 0)
        act = CLI_USAGE;
    if (act != CLI_RUN) {
        return cmdio_finish(progname, cli_finish(act, &cl));
    }
    records = cli_has(&cl, OPT_RECORDS);
    timing = cli_has(&cl, OPT_TIMING);
    nthreads = (unsigned)threads;
    const char *const *files = cl.nargs > 0 ? (const char *const *)cl.args : stdin_only;
    int nfiles = cl.nargs > 0 ? cl.nargs : 1;

    for (int f = 0; f < nfiles && status == EX_OK; f++) {
        const char *path = files[f];
        int is_stdin = strcmp(path, "-") == 0;
        int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
        char name[1024]; /* the path as messages show it: control characters escaped */
        char *buf = NULL;
        size_t len = 0;
        int err = fd < 0 ? errno : anon_read_all(fd, SIZE_MAX, &buf, &len);
        long v;

        anon_escape_text(path, name, sizeof name);
        if (fd >= 0 && !is_stdin)
            close(fd);
        if (err == ENOMEM) {
            fprintf(stderr, "%s: %s: out of memory\n", progname, name);
            return EX_OSERR;
        }
        if (err != 0) {
            fprintf(stderr, "%s: %s: %s\n", progname, is_stdin ? "standard input" : name,
                    strerror(err));
            return EX_NOINPUT;
        }
        if (records) {
            v = records_avg(is_stdin ? "standard input" : name, buf, len, nthreads, &status);
        } else {
            double t0 = now_ms();
            v = count_text(buf, len, nthreads);
            report_time(name, "counting", t0);
            if (v < 0) {
                fprintf(stderr, "%s: %s: counting failed (out of memory?)\n", progname, name);
                status = EX_SOFTWARE;
            }
        }
        free(buf);
        if (status == EX_OK && printf("%ld\n", v) < 0)
            status = EX_IOERR;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: standard output: %s\n", progname, strerror(errno));
        return status == EX_OK ? EX_IOERR : status;
    }
    return status;
}
