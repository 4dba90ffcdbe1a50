/*
 * anon-telemetry-spool: queue events for callers that are not C programs.
 *
 * Reads one JSON object, or JSON Lines of objects, from standard input; each
 * is an event's parameters (keys by alias or snake_case name). All are
 * validated before any is stored, then all are stored in one transaction, and
 * each stored event's uuid is printed on its own line. Memory: the input text and
 * one event at a time (struct walk below), so about the input's size.
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
    .epilog = "exit: 0 stored (or telemetry disabled), 64 usage, 65 bad input, 71 out of memory,\n"
              "      73 cannot create, 74 spool I/O error, 75 spool busy, 77 unsafe spool place\n",
};

static const char *prog = "anon-telemetry-spool";

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The input's top-level JSON values, one at a time. A value ends where cJSON's parser
 * stops, so one pretty-printed object and JSON Lines are both accepted. The input is
 * walked twice: once to validate every event before the spool is even opened, then
 * again to store them one by one in one transaction. Only the input text is held (the
 * most compact form of the events: their serialised 38-key parameters are several times
 * larger), never a parsed event per line: peak memory is about the input's size.
 */
struct walk {
    const char *in;
    size_t len, pos, line;
    size_t at_line;         /* the line where the last value started */
};

static void walk_start(struct walk *w, const char *in, size_t len)
{
    w->in = in;
    w->len = len;
    w->pos = 0;
    w->line = 1;
    w->at_line = 1;
}

/* The next event into *ret_ev (NULL at the end). ANON_OK, or the parser's status with
 * err set to "line N: ..." (invalid JSON on the line where it goes wrong, a bad field
 * on the line where its object starts). */
static int walk_next(struct walk *w, anon_event **ret_ev, char *err, size_t errlen)
{
    const char *end = NULL;
    char why[ANON_ERRLEN];
    int st;

    *ret_ev = NULL;
    while (w->pos < w->len && is_space(w->in[w->pos]))
        if (w->in[w->pos++] == '\n')
            w->line++;
    if (w->pos == w->len)
        return ANON_OK;
    w->at_line = w->line;
    st = anon_event_parse_value(w->in + w->pos, w->len - w->pos, &end, ret_ev, why, sizeof why);
    if (st != ANON_OK) {
        int bad_json = strncmp(why, "invalid JSON", 12) == 0;
        size_t err_line = w->line;

        for (const char *c = w->in + w->pos; bad_json && c < end; c++)
            err_line += *c == '\n';
        return anon_seterr(err, errlen, st, "line %zu: %s", err_line,
                           bad_json ? "invalid JSON" : why);
    }
    for (; w->in + w->pos < end; w->pos++)
        w->line += w->in[w->pos] == '\n';
    return ANON_OK;
}

/* The first walk: every event parsed and serialised as the append will, then dropped.
 * Counts them into *ret_n. ANON_OK, or the first error (err: "line N: ..."). */
static int validate_all(const char *in, size_t len, size_t *ret_n, char *err, size_t errlen)
{
    struct walk w;
    anon_event *ev = NULL;
    char *params = NULL, why[ANON_ERRLEN];
    size_t n = 0;
    int st;

    walk_start(&w, in, len);
    while ((st = walk_next(&w, &ev, err, errlen)) == ANON_OK && ev != NULL) {
        st = anon_event_parameters_json(ev, &params, why, sizeof why);
        anon_event_free(ev);
        free(params);
        params = NULL;
        if (st != ANON_OK)
            return anon_seterr(err, errlen, st, "line %zu: %s", w.at_line, why);
        n++;
    }
    *ret_n = n;
    return st;
}

/* The second walk, as anon_spool_append_each's source of events. */
static int next_event(void *ctx, anon_event **ret_ev, char *err, size_t errlen)
{
    return walk_next(ctx, ret_ev, err, errlen);
}

/* The message and exit status for a failure to read standard input (anon_read_all). */
static int input_error(int e)
{
    if (e == EFBIG) {
        fprintf(stderr, "%s: standard input is larger than %u MiB\n", prog, MAX_INPUT >> 20);
        return EX_DATAERR;
    }
    if (e == ENOMEM) {
        fprintf(stderr, "%s: out of memory reading standard input\n", prog);
        return EX_OSERR;
    }
    fprintf(stderr, "%s: cannot read standard input: %s\n", prog, strerror(e));
    return EX_IOERR;
}

int main(int argc, char **argv)
{
    const char *spool_path = NULL;
    anon_append_opts ao = {NULL, NULL};
    int no_emit = 0, rc, st;
    char *input = NULL;
    size_t len = 0, n = 0, stored = 0;
    struct walk w;
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

    if ((rc = anon_read_all(STDIN_FILENO, MAX_INPUT, &input, &len)) != 0)
        return input_error(rc);
    /* the opt-outs win over everything, even over bad input: store nothing, quietly succeed */
    if (no_emit || !anon_telemetry_enabled()) {
        fprintf(stderr, "%s: telemetry is disabled (%s); nothing stored\n", prog,
                no_emit ? "--no-emit-telemetry" : "NEMO_TELEMETRY_ENABLED");
        rc = EX_OK;
        goto done;
    }
    if ((st = validate_all(input, len, &n, err, sizeof err)) != ANON_OK) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = anon_status_exit_code(st);
        goto done;
    }
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
    walk_start(&w, input, len);
    if (st == ANON_OK)
        st = anon_spool_append_each(sp, &ao, next_event, &w, uuids, n, &stored, err,
                                    sizeof err);
    if (st != ANON_OK) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = anon_status_exit_code(st);
        goto done;
    }
    for (size_t i = 0; i < stored; i++)
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
    free(uuids);
    free(input);
    return rc;
}
