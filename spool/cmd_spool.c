/*
 * anon-telemetry-spool: queue events for callers that are not C programs.
 *
 * Reads one JSON object, or JSON Lines of objects, from standard input; each
 * is an event's parameters (keys by alias or snake_case name). All are
 * validated before any is stored, then all are stored in one transaction, and
 * each stored event's uuid is printed on its own line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "cmdio.h"
#include "internal.h"

#define MAX_INPUT (64u << 20)    /* events are small; a bigger input is a mistake */

/* The command line (spool/cli.h): one command, these options. */
enum { OPT_SPOOL, OPT_SESSION, OPT_CLIENT, OPT_NO_EMIT, OPT_HELP, OPT_VERSION };

static const cli_opt options[] = {
    /* id           name                 short  value  flags          help */
    {OPT_SPOOL,     "spool",               0,  "PATH", CLI_NONEMPTY,
     "spool file (default: $ANON_TELEMETRY_SPOOL, else\n"
     "/var/spool/anon-telemetry/spool.db for root, else\n"
     "${XDG_STATE_HOME:-~/.local/state}/anon-telemetry/spool.db)"},
    {OPT_SESSION,   "session-id",          0,  "ID",   0,
     "session id (NEMO_SESSION_PREFIX is prepended); default random"},
    {OPT_CLIENT,    "client-version",      0,  "V",    0,
     "version of the emitting product (default: undefined)"},
    {OPT_NO_EMIT,   "no-emit-telemetry",   0,  NULL,   0,
     "store nothing for this run"},
    {OPT_HELP,      "help",              'h',  NULL,   CLI_GLOBAL | CLI_HELP,
     "this text"},
    {OPT_VERSION,   "version",             0,  NULL,   CLI_GLOBAL | CLI_VERSION,
     "print the version, and exit"},
};

static const cli_cmd commands[] = {
    /* words  options                                                    writes args handler */
    {"", CLI_OPT(OPT_SPOOL) | CLI_OPT(OPT_SESSION) | CLI_OPT(OPT_CLIENT) | CLI_OPT(OPT_NO_EMIT),
     1, 0, -1, NULL,
     "[--spool PATH] [--session-id ID] [--client-version V]\n[--no-emit-telemetry] < events.json",
     "queue events"},
};

static const cli_spec spec = {
    .prog = "anon-telemetry-spool",
    .opts = options,
    .nopts = sizeof options / sizeof options[0],
    .cmds = commands,
    .ncmds = 1,
    .about = "Queues anonymizer_event parameters (one JSON object or JSON Lines) in the spool\n"
             "and prints each stored event's uuid.\n",
    .epilog = "exit: 0 stored (or telemetry disabled), 64 usage, 65 bad input, 73 cannot create,\n"
              "      74 spool I/O error, 77 unsafe spool directory\n",
};

static const char *prog = "anon-telemetry-spool";

/* Reads all of fd into a malloc'd, NUL-terminated buffer. */
static int read_all(FILE *f, char **ret_buf, size_t *ret_len)
{
    anon_buf b;
    char chunk[65536];
    size_t n;

    anon_buf_init(&b);
    anon_buf_append(&b, "", 0);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > MAX_INPUT) {
            anon_buf_free(&b);
            return EX_DATAERR;
        }
        anon_buf_append(&b, chunk, n);
    }
    if (ferror(f) || b.oom) {
        anon_buf_free(&b);
        return EX_IOERR;
    }
    *ret_buf = b.data;
    *ret_len = b.len;
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Splits the input into its top-level JSON values and parses each as an event.
 * A value ends where cJSON's parser stops, so one pretty-printed object and
 * JSON Lines are both accepted; errors name the line the value starts on.
 */
static int parse_events(const char *in, size_t len, anon_event ***ret_evs, size_t *ret_n)
{
    anon_event **evs = NULL, **grown;
    size_t n = 0, cap = 0, pos = 0, line = 1;
    char err[ANON_ERRLEN];
    int rc = 0;

    for (;;) {
        const char *end = NULL;
        anon_event *ev = NULL;

        while (pos < len && is_space(in[pos]))
            if (in[pos++] == '\n')
                line++;
        if (pos == len)
            break;
        if (anon_event_parse_value(in + pos, len - pos, &end, &ev, err, sizeof err) != ANON_OK) {
            /* invalid JSON is reported on the line where it goes wrong (end points there),
             * a bad field on the line where its object starts */
            int bad_json = strncmp(err, "invalid JSON", 12) == 0;
            size_t err_line = line;
            for (const char *c = in + pos; bad_json && c < end; c++)
                err_line += *c == '\n';
            fprintf(stderr, "%s: line %zu: %s\n", prog, err_line, bad_json ? "invalid JSON" : err);
            rc = EX_DATAERR;
            goto done;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            grown = realloc(evs, cap * sizeof *evs);
            if (grown == NULL) {
                anon_event_free(ev);
                fprintf(stderr, "%s: out of memory\n", prog);
                rc = EX_OSERR;
                goto done;
            }
            evs = grown;
        }
        evs[n++] = ev;
        for (; in + pos < end; pos++)
            line += in[pos] == '\n';
    }
done:
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            anon_event_free(evs[i]);
        free(evs);
        return rc;
    }
    *ret_evs = evs;
    *ret_n = n;
    return 0;
}

int main(int argc, char **argv)
{
    const char *spool_path = NULL;
    anon_append_opts ao = {NULL, NULL};
    int no_emit = 0, rc, st;
    char *input = NULL;
    size_t len = 0, n = 0;
    anon_event **evs = NULL;
    anon_spool *sp = NULL;
    char (*uuids)[ANON_UUID_LEN + 1] = NULL;
    char err[ANON_ERRLEN], q[160], defpath[4096];
    cli_result cl;

    cmdio_start(); /* never killed by SIGPIPE, least of all after the commit */
    rc = cli_parse(&spec, argc, argv, &cl);
    if (rc == CLI_RUN && cl.nargs > 0)
        rc = cli_fail(&cl, "unexpected argument %s (events are read from standard input)",
                      cli_quote(cl.args[0], q, sizeof q));
    if (rc != CLI_RUN) {
        return cmdio_finish(prog, cli_finish(rc, &cl));
    }
    spool_path = cli_value(&cl, OPT_SPOOL);
    ao.session_id = cli_value(&cl, OPT_SESSION);
    ao.client_version = cli_value(&cl, OPT_CLIENT);
    no_emit = cli_has(&cl, OPT_NO_EMIT);

    rc = read_all(stdin, &input, &len);
    if (rc == EX_DATAERR) {
        fprintf(stderr, "%s: standard input is larger than %u MiB\n", prog, MAX_INPUT >> 20);
        return rc;
    }
    if (rc != 0) {
        fprintf(stderr, "%s: cannot read standard input\n", prog);
        return rc;
    }
    /* the opt-outs win over everything, even over bad input: store nothing, quietly succeed */
    if (no_emit || !anon_telemetry_enabled()) {
        fprintf(stderr, "%s: telemetry is disabled (%s); nothing stored\n", prog,
                no_emit ? "--no-emit-telemetry" : "NEMO_TELEMETRY_ENABLED");
        rc = EX_OK;
        goto done;
    }
    if ((rc = parse_events(input, len, &evs, &n)) != 0)
        goto done;
    if (n == 0) {
        fprintf(stderr, "%s: no events on standard input; nothing stored\n", prog);
        rc = EX_OK;
        goto done;
    }
    uuids = calloc(n, sizeof *uuids);
    if (uuids == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        rc = EX_OSERR;
        goto done;
    }
    /* root queues into another user's spool as that user, before anything is opened
     * (spool/place.c): no root-owned file ever locks the owner out */
    st = ANON_OK;
    if (geteuid() == 0) {
        if (spool_path == NULL &&
            (st = anon_spool_default_path(defpath, sizeof defpath, err, sizeof err)) == ANON_OK)
            spool_path = defpath;
        if (st == ANON_OK)
            st = anon_spool_act_as_owner(spool_path, NULL, err, sizeof err);
    }
    if (st == ANON_OK)
        st = anon_spool_open(spool_path, &sp, err, sizeof err);
    if (st == ANON_OK)
        st = anon_spool_append(sp, (const anon_event *const *)evs, n, &ao, uuids, err,
                               sizeof err);
    if (st != ANON_OK) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = anon_status_exit_code(st);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        printf("%s\n", uuids[i]);
    /* The events are stored: that is the result, and exit 0 says so even when their uuids
     * cannot be printed (a caller that saw a failure would queue them all again). */
    if (cmdio_flush_stdout() != 0)
        fprintf(stderr, "%s: warning: %zu event%s stored, but the uuids could not be written "
                "(%s)\n", prog, n, n == 1 ? "" : "s",
                errno != 0 ? strerror(errno) : "a write failed");
    rc = EX_OK;
done:
    anon_spool_close(sp);
    for (size_t i = 0; i < n; i++)
        anon_event_free(evs[i]);
    free(evs);
    free(uuids);
    free(input);
    return rc;
}
