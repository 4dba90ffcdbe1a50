/*
 * main.c: anon-telemetry-ship, the cron job that drains the spool to the collector,
 * and the entry point of the operator subcommands (status, list, dlq: ops.c).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "internal.h"
#include "log.h"
#include "ops.h"
#include "ship.h"

static const char usage_text[] =
    "usage: anon-telemetry-ship [options]          drain what is due to the collector\n"
    "       anon-telemetry-ship status|list|dlq ...  inspect the spool (see --help there)\n"
    "\n"
    "  --spool PATH            the spool (default: $ANON_TELEMETRY_SPOOL, or the per-user\n"
    "                          or system path)\n"
    "  --endpoint URL          the collector (default: $NEMO_TELEMETRY_ENDPOINT, else\n"
    "                          " ANON_DEFAULT_ENDPOINT ")\n"
    "  --cacert FILE           trust this CA bundle (a private CA); TLS is always verified\n"
    "  --batch-size N          events per request, at most (50)\n"
    "  --max-retries N         failed attempts kept for retry; dlq after N+1 (3)\n"
    "  --parallel N            requests in flight at once (4)\n"
    "  --connect-timeout S     seconds to connect (10)\n"
    "  --timeout S             seconds per request (30)\n"
    "  --max-time S            claim no new batch after S seconds (no limit)\n"
    "  --keep-sent DAYS        delete sent events older than DAYS (7)\n"
    "  --max-age DAYS          move pending events older than DAYS to the dlq (never)\n"
    "  --now                   ignore backoff times: try every pending event now\n"
    "  --dry-run               print each envelope that would be sent; change nothing\n"
    "  -v, --verbose           a line per batch (-vv: more)\n"
    "  --syslog                log to syslog instead of stderr\n"
    "  -h, --help              this text\n"
    "\n"
    "Exit status: 0 all due events delivered (or nothing to do); 75 events still pending\n"
    "(offline, temporary failures, time budget spent); 64 bad usage; 74 the spool cannot be\n"
    "read or written, or is damaged (moved aside); 78 bad configuration, or the endpoint\n"
    "refuses us.\n";

enum {
    OPT_SPOOL = 256, OPT_ENDPOINT, OPT_CACERT, OPT_BATCH, OPT_RETRIES, OPT_PARALLEL,
    OPT_CTIMEOUT, OPT_TIMEOUT, OPT_MAXTIME, OPT_KEEPSENT, OPT_MAXAGE, OPT_NOW, OPT_DRYRUN,
    OPT_SYSLOG
};

static const struct option long_options[] = {
    {"spool", required_argument, NULL, OPT_SPOOL},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"batch-size", required_argument, NULL, OPT_BATCH},
    {"max-retries", required_argument, NULL, OPT_RETRIES},
    {"parallel", required_argument, NULL, OPT_PARALLEL},
    {"connect-timeout", required_argument, NULL, OPT_CTIMEOUT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"max-time", required_argument, NULL, OPT_MAXTIME},
    {"keep-sent", required_argument, NULL, OPT_KEEPSENT},
    {"max-age", required_argument, NULL, OPT_MAXAGE},
    {"now", no_argument, NULL, OPT_NOW},
    {"dry-run", no_argument, NULL, OPT_DRYRUN},
    {"verbose", no_argument, NULL, 'v'},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* An integer option in [min, max]; 0 or -1 after saying what is wrong. */
static int parse_int(const char *opt, const char *s, long min, long max, int *ret)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        log_warnx("%s: expected a whole number from %ld to %ld, got \"%s\"", opt, min, max, s);
        return -1;
    }
    *ret = (int)v;
    return 0;
}

/* A non-negative number (seconds or days); 0 or -1. */
static int parse_num(const char *opt, const char *s, double min, double max, double *ret)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max) {
        log_warnx("%s: expected a number from %g to %g, got \"%s\"", opt, min, max, s);
        return -1;
    }
    *ret = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct ship_opts o = {
        .batch_size = 50,
        .max_retries = 3,
        .parallel = 4,
        .keep_sent_days = 7,
        .connect_timeout = 10,
        .timeout = 30,
    };
    int verbose = 0, use_syslog = 0, c, bad = 0;

    log_init("anon-telemetry-ship", 0, 0);
    if (argc > 1 && ops_is_command(argv[1]))
        return ops_main(argc - 1, argv + 1);

    while ((c = getopt_long(argc, argv, "vh", long_options, NULL)) != -1) {
        switch (c) {
        case OPT_SPOOL: o.spool_path = optarg; break;
        case OPT_ENDPOINT: o.endpoint = optarg; break;
        case OPT_CACERT: o.cacert = optarg; break;
        case OPT_BATCH: bad |= parse_int("--batch-size", optarg, 1, 10000, &o.batch_size); break;
        case OPT_RETRIES: bad |= parse_int("--max-retries", optarg, 0, 1000, &o.max_retries); break;
        case OPT_PARALLEL: bad |= parse_int("--parallel", optarg, 1, 64, &o.parallel); break;
        case OPT_CTIMEOUT:
            bad |= parse_num("--connect-timeout", optarg, 0.001, 3600, &o.connect_timeout);
            break;
        case OPT_TIMEOUT: bad |= parse_num("--timeout", optarg, 0.001, 86400, &o.timeout); break;
        case OPT_MAXTIME: bad |= parse_num("--max-time", optarg, 0, 1e9, &o.max_time); break;
        case OPT_KEEPSENT:
            bad |= parse_num("--keep-sent", optarg, 0, 1e6, &o.keep_sent_days);
            break;
        case OPT_MAXAGE: bad |= parse_num("--max-age", optarg, 0, 1e6, &o.max_age_days); break;
        case OPT_NOW: o.flush_now = 1; break;
        case OPT_DRYRUN: o.dry_run = 1; break;
        case OPT_SYSLOG: use_syslog = 1; break;
        case 'v': verbose++; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: bad = 1; break;
        }
    }
    if (optind < argc) {
        log_warnx("unexpected argument \"%s\"", argv[optind]);
        bad = 1;
    }
    if (bad) {
        fputs("try 'anon-telemetry-ship --help'\n", stderr);
        return EX_USAGE;
    }
    if (o.endpoint == NULL)
        o.endpoint = anon_endpoint();
    if (*o.endpoint == '\0') {
        log_warnx("--endpoint: empty URL");
        return EX_USAGE;
    }
    log_init("anon-telemetry-ship", verbose, use_syslog);
    return ship_run(&o);
}
