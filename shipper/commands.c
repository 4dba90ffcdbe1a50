/*
 * commands.c: anon-telemetry-ship's command line: the table of its options, the table of
 * its commands, and what main does with them.
 *
 * Adding a command is one row in commands[] plus its handler (a cli_handler: it gets the
 * parsed command line and returns the exit status); a new option is one id in
 * commands.h, one line in options[] and its bit in the rows that take it. The help, the
 * usage lines of error messages and the "is not for" checks all come from these tables.
 */
#include <stdio.h>
#include <sysexits.h>
#include <unistd.h>

#include "cmdio.h"
#include "commands.h"
#include "internal.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "ship.h"
#include "sneakernet.h"

static const cli_opt options[] = {
    /* id               name                short  value    flags                        help */
    {OPT_SPOOL,         "spool",              0,  "PATH",  CLI_GLOBAL | CLI_NONEMPTY,
     "the spool (default: see below and --print-spool-path)"},
    {OPT_PRINT_SPOOL,   "print-spool-path",   0,  NULL,    CLI_GLOBAL,
     "print the spool path the command would use, and exit"},
    {OPT_VERBOSE,       "verbose",          'v',  NULL,    CLI_GLOBAL,
     "a line per batch (-vv: more)"},
    {OPT_HELP,          "help",             'h',  NULL,    CLI_GLOBAL | CLI_HELP,
     "this text"},
    {OPT_VERSION,       "version",            0,  NULL,    CLI_GLOBAL | CLI_VERSION,
     "print the version, and exit"},

    {OPT_ENDPOINT,      "endpoint",           0,  "URL",   CLI_NONEMPTY,
     "the collector (default: $NEMO_TELEMETRY_ENDPOINT, else\n" ANON_DEFAULT_ENDPOINT ")"},
    {OPT_CACERT,        "cacert",             0,  "FILE",  CLI_NONEMPTY,
     "trust this CA bundle (a private CA); TLS is always verified"},
    {OPT_BATCH,         "batch-size",         0,  "N",     0,
     "events per request, at most (50)"},
    {OPT_RETRIES,       "max-retries",        0,  "N",     0,
     "failed attempts kept for retry; dlq after N+1 (3)"},
    {OPT_PARALLEL,      "parallel",           0,  "N",     0,
     "requests in flight at once (4)"},
    {OPT_CTIMEOUT,      "connect-timeout",    0,  "S",     0,
     "seconds to connect (10)"},
    {OPT_TIMEOUT,       "timeout",            0,  "S",     0,
     "seconds per request (30)"},
    {OPT_MAXTIME,       "max-time",           0,  "S",     0,
     "claim no new batch after S seconds (no limit)"},
    {OPT_KEEPSENT,      "keep-sent",          0,  "DAYS",  0,
     "delete sent events older than DAYS (7)"},
    {OPT_MAXAGE,        "max-age",            0,  "DAYS",  0,
     "move pending events older than DAYS to the dlq (never)"},
    {OPT_NOW,           "now",                0,  NULL,    0,
     "ignore backoff times: try every pending event now"},
    {OPT_DRYRUN,        "dry-run",            0,  NULL,    0,
     "print each envelope that would be sent; change nothing"},
    {OPT_SYSLOG,        "syslog",             0,  NULL,    0,
     "log to syslog instead of stderr"},
    {OPT_INSECURE_HTTP, "allow-insecure-http", 0, NULL,    0,
     "send credentials in the URL (user:password@, token=) over\n"
     "plain http to a host that is not this machine"},
    {OPT_METRICS_TEXTFILE, "metrics-textfile", 0, "DIR", CLI_NONEMPTY,
     "at the end, write the metrics to DIR/" METRICS_TEXTFILE "\n"
     "(node_exporter's textfile collector)"},

    {OPT_JSON,          "json",               0,  NULL,    0,
     "one JSON document instead of text"},
    {OPT_STATUS,        "status",             0,  "STATUS", 0,
     "only the events in STATUS: pending, sending, sent or exported"},
    {OPT_ALL,           "all",                0,  NULL,    0,
     "every event in the dlq (instead of IDs)"},

    {OPT_MAX_EVENTS,    "max-events",         0,  "N",     0,
     "bundle create: at most N events (the oldest)"},
    {OPT_REEXPORT,      "reexport",           0,  NULL,    0,
     "bundle create: take the exported events again (a lost medium)"},
    {OPT_FORGET,        "forget",             0,  NULL,    0,
     "bundle create: mark the events sent at once (one-way links)"},
    {OPT_SIGN,          "sign",               0,  "KEYFILE", CLI_NONEMPTY,
     "bundle create: add an HMAC-SHA256 signature made with KEYFILE"},
    {OPT_VERIFY_KEY,    "verify-key",         0,  "KEYFILE", CLI_NONEMPTY,
     "require a signature made with KEYFILE"},
    {OPT_BUNDLE,        "bundle",             0,  "ID",    CLI_NONEMPTY,
     "receipt create: only these bundles (ID ID... or ID,ID)"},
};

#define RUN_OPTS (CLI_OPT(OPT_ENDPOINT) | CLI_OPT(OPT_CACERT) | CLI_OPT(OPT_BATCH) |      \
                  CLI_OPT(OPT_RETRIES) | CLI_OPT(OPT_PARALLEL) | CLI_OPT(OPT_CTIMEOUT) |  \
                  CLI_OPT(OPT_TIMEOUT) | CLI_OPT(OPT_MAXTIME) | CLI_OPT(OPT_KEEPSENT) |   \
                  CLI_OPT(OPT_MAXAGE) | CLI_OPT(OPT_NOW) | CLI_OPT(OPT_DRYRUN) |          \
                  CLI_OPT(OPT_SYSLOG) | CLI_OPT(OPT_INSECURE_HTTP) |                      \
                  CLI_OPT(OPT_METRICS_TEXTFILE))

static cli_handler run_ship;

static const cli_cmd commands[] = {
    /* words          options (besides global)            writes  args    handler */
    {"",              RUN_OPTS,                                1,  0,  0, run_ship,
     "[--spool PATH] [--endpoint URL] [--now] [--dry-run] [OPTION...]",
     "drain what is due to the collector (the cron job)"},
    {"status",        CLI_OPT(OPT_JSON),                       0,  0,  0, ops_cmd_status,
     "[--json] [--spool PATH]", "what the spool holds: counts, ages, the last run"},
    {"list",          CLI_OPT(OPT_STATUS) | CLI_OPT(OPT_JSON), 0,  0,  0, ops_cmd_list,
     "[--status pending|sending|sent|exported] [--json] [--spool PATH]",
     "the events, oldest first"},
    {"dlq list",      CLI_OPT(OPT_JSON),                       0,  0,  0, ops_cmd_dlq_list,
     "[--json] [--spool PATH]", "the dead letters and why they are there"},
    {"dlq requeue",   CLI_OPT(OPT_ALL),                        1,  0, -1, ops_cmd_dlq_change,
     "(ID...|--all) [--spool PATH]", "back to pending with retry count 0, to be sent again"},
    {"dlq purge",     CLI_OPT(OPT_ALL),                        1,  0, -1, ops_cmd_dlq_change,
     "(ID...|--all) [--spool PATH]", "delete dead letters for good"},
    {"metrics",       0,                                       0,  0,  0, metrics_cmd,
     "[--spool PATH]", "the spool's metrics in the Prometheus text format"},
    {"bundle create", CLI_OPT(OPT_MAX_EVENTS) | CLI_OPT(OPT_REEXPORT) | CLI_OPT(OPT_FORGET) |
                      CLI_OPT(OPT_SIGN) | CLI_OPT(OPT_BATCH),   1,  1,  1,
     sneakernet_cmd_bundle_create,
     "FILE [--max-events N] [--reexport] [--forget] [--sign KEYFILE]\n[--batch-size N] "
     "[--spool PATH]",
     "write the pending events to FILE for an air gap (they become exported)"},
    {"bundle verify", CLI_OPT(OPT_VERIFY_KEY),       CLI_NO_SPOOL,  1,  1,
     sneakernet_cmd_bundle_verify, "FILE [--verify-key KEYFILE]",
     "check a bundle and say what it holds; changes nothing"},
    {"bundle import", CLI_OPT(OPT_VERIFY_KEY),                  1,  1, -1,
     sneakernet_cmd_bundle_import, "FILE... [--verify-key KEYFILE] [--spool PATH]",
     "store a bundle's events, each once, to be shipped from here"},
    {"receipt create", CLI_OPT(OPT_BUNDLE),                     1,  1, -1,
     sneakernet_cmd_receipt_create, "FILE [--bundle ID...] [--spool PATH]",
     "write the fate of imported bundles' events to FILE"},
    {"receipt apply", 0,                                         1,  1,  1,
     sneakernet_cmd_receipt_apply, "FILE [--spool PATH]",
     "settle exported events as a receipt says (sent, or dlq)"},
};

const cli_spec commands_spec = {
    .prog = SHIP_PROG,
    .opts = options,
    .nopts = sizeof options / sizeof options[0],
    .cmds = commands,
    .ncmds = sizeof commands / sizeof commands[0],
    .about = "Ships the anonymizer_event telemetry queued in the spool to the collector, and\n"
             "lets an operator see and repair what is queued.\n",
    .epilog =
        "The spool defaults to $ANON_TELEMETRY_SPOOL, else /var/spool/anon-telemetry/spool.db\n"
        "for root, else ${XDG_STATE_HOME:-$HOME/.local/state}/anon-telemetry/spool.db (an\n"
        "XDG_STATE_HOME that is not an absolute path is ignored).\n"
        "\n"
        "Exit status: 0 all due events delivered (or nothing to do), or the command done;\n"
        "75 events still pending (offline, temporary failures, time budget spent); 64 bad\n"
        "usage; 65 IDs that are not in the dlq (nothing changed); 74 the spool does not\n"
        "exist, cannot be read or written, or is damaged (moved aside); 78 bad configuration,\n"
        "or the endpoint refuses us.\n",
};

int commands_spool_path(const cli_result *r, char *buf, size_t n, char *err, size_t errlen)
{
    const char *given = cli_value(r, OPT_SPOOL);

    if (given == NULL)
        return anon_spool_default_path(buf, n, err, errlen);
    if (snprintf(buf, n, "%s", given) >= (int)n)
        return anon_seterr(err, errlen, ANON_EINVAL, "--spool path is too long");
    return ANON_OK;
}

/* The delivery run: the options into ship_opts, then one ship_run. */
static int run_ship(cli_result *r)
{
    struct ship_opts o = {
        .batch_size = 50,
        .max_retries = 3,
        .parallel = 4,
        .keep_sent_days = 7,
        .connect_timeout = 10,
        .timeout = 30,
    };
    long batch = o.batch_size, retries = o.max_retries, parallel = o.parallel;

    if (cli_long(r, OPT_BATCH, 1, 10000, &batch) != 0 ||
        cli_long(r, OPT_RETRIES, 0, 1000, &retries) != 0 ||
        cli_long(r, OPT_PARALLEL, 1, 64, &parallel) != 0 ||
        cli_double(r, OPT_CTIMEOUT, 0.001, 3600, &o.connect_timeout) != 0 ||
        cli_double(r, OPT_TIMEOUT, 0.001, 86400, &o.timeout) != 0 ||
        cli_double(r, OPT_MAXTIME, 0, 1e9, &o.max_time) != 0 ||
        cli_double(r, OPT_KEEPSENT, 0, 1e6, &o.keep_sent_days) != 0 ||
        cli_double(r, OPT_MAXAGE, 0, 1e6, &o.max_age_days) != 0)
        return cli_finish(CLI_USAGE, r);
    o.batch_size = (int)batch;
    o.max_retries = (int)retries;
    o.parallel = (int)parallel;
    o.spool_path = cli_value(r, OPT_SPOOL);
    o.endpoint = cli_has(r, OPT_ENDPOINT) ? cli_value(r, OPT_ENDPOINT) : anon_endpoint();
    o.cacert = cli_value(r, OPT_CACERT);
    o.flush_now = cli_has(r, OPT_NOW);
    o.dry_run = cli_has(r, OPT_DRYRUN);
    o.allow_insecure_http = cli_has(r, OPT_INSECURE_HTTP);
    /* a dry run changes nothing, and a textfile would report it as a run */
    if (o.dry_run && cli_has(r, OPT_METRICS_TEXTFILE))
        return cli_usage_error(r, "--metrics-textfile is not for --dry-run");
    log_init(SHIP_PROG, (int)r->count[OPT_VERBOSE], cli_has(r, OPT_SYSLOG));
    if (!cli_has(r, OPT_METRICS_TEXTFILE))
        return ship_run(&o);
    return metrics_after_run(cli_value(r, OPT_METRICS_TEXTFILE), o.spool_path, ship_run(&o));
}

/* --print-spool-path: for the cron and systemd installers, so the rule lives only in C. */
static int print_spool_path(const cli_result *r)
{
    char path[4096], err[ANON_ERRLEN];
    int st = commands_spool_path(r, path, sizeof path, err, sizeof err);

    if (st != ANON_OK) {
        fprintf(stderr, SHIP_PROG ": %s\n", err);
        return anon_status_exit_code(st);
    }
    if (printf("%s\n", path) < 0 || fflush(stdout) != 0)
        return EX_IOERR;
    return EX_OK;
}

/* Root works on another user's spool as that user (spool/place.c), every command alike,
 * before anything is opened: it never creates files in a directory someone else
 * controls, and never leaves root-owned files that lock the owner out. EX_OK, or the
 * exit status after saying why the spool's place is refused. Root's default path is
 * resolved here, once, and given to the command as if --spool had named it: asked again
 * after the change of identity, the default would be the other user's (its $HOME is
 * still root's). */
static int as_spool_owner(cli_result *r)
{
    static char path[4096];
    char err[ANON_ERRLEN];
    uid_t uid;
    int st;

    if (geteuid() != 0 || r->cmd->writes == CLI_NO_SPOOL ||
        commands_spool_path(r, path, sizeof path, err, sizeof err) != ANON_OK)
        return EX_OK; /* not root; no spool; or no path, which the command reports */
    if (cli_value(r, OPT_SPOOL) == NULL)
        r->value[OPT_SPOOL] = path;
    if ((st = anon_spool_act_as_owner(path, &uid, err, sizeof err)) != ANON_OK) {
        log_warnx("%s", err);
        return anon_status_exit_code(st);
    }
    if (uid != 0)
        log_debug("working as uid %u, the owner of the spool %s", (unsigned)uid, path);
    return EX_OK;
}

int commands_main(int argc, char **argv)
{
    cli_result r;
    int act, ret;

    cmdio_start(); /* no death by SIGPIPE; no file takes a closed stdout's number */
    log_init(SHIP_PROG, 0, 0);
    act = cli_parse(&commands_spec, argc, argv, &r);
    if (act != CLI_RUN)
        ret = cli_finish(act, &r);
    else if (cli_has(&r, OPT_PRINT_SPOOL))
        ret = print_spool_path(&r);
    else if ((ret = as_spool_owner(&r)) == EX_OK)
        ret = r.cmd->run(&r);
    /* Whatever the command printed (status, list, dlq, --dry-run, help) must have been
     * written: a full disk or a closed pipe is exit 74, not a silent success. */
    return cmdio_finish(SHIP_PROG, ret);
}
