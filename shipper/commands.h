/*
 * commands.h: anon-telemetry-ship's command line, as two tables (commands.c): its
 * options and its commands. A command is one row (words, the options it takes, whether
 * it changes the spool, arguments, handler, usage, summary) plus its handler, a
 * cli_handler that gets the parsed command line (spool/cli.h) and returns the exit
 * status.
 */
#ifndef SHIP_COMMANDS_H
#define SHIP_COMMANDS_H

#include <stddef.h>

#include "cli.h"

#define SHIP_PROG "anon-telemetry-ship"

/* Option ids (bit numbers in a row's option mask; at most CLI_MAX_OPTS). A new option
 * gets an id here and a line in commands.c's option table. */
enum ship_opt_id {
    /* every command */
    OPT_SPOOL, OPT_PRINT_SPOOL, OPT_VERBOSE, OPT_HELP, OPT_VERSION,
    /* the delivery run (no command) */
    OPT_ENDPOINT, OPT_CACERT, OPT_BATCH, OPT_RETRIES, OPT_PARALLEL, OPT_CTIMEOUT,
    OPT_TIMEOUT, OPT_MAXTIME, OPT_KEEPSENT, OPT_MAXAGE, OPT_NOW, OPT_DRYRUN, OPT_SYSLOG,
    OPT_INSECURE_HTTP, OPT_METRICS_TEXTFILE,
    /* operator commands */
    OPT_JSON, OPT_STATUS, OPT_ALL,
    /* bundles and receipts */
    OPT_MAX_EVENTS, OPT_REEXPORT, OPT_FORGET, OPT_SIGN, OPT_VERIFY_KEY, OPT_BUNDLE,
    OPT_COUNT_
};

/* The whole description, for cli_parse (and for tests). */
extern const cli_spec commands_spec;

/* main(): parses, answers --help, --version and --print-spool-path, runs the chosen
 * row's handler; returns the exit status. */
int commands_main(int argc, char **argv);

/* The spool a command works on: --spool as given, else anon_spool_default_path().
 * ANON_OK, or a status with err filled. */
int commands_spool_path(const cli_result *r, char *buf, size_t n, char *err, size_t errlen);

#endif
