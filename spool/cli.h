/*
 * cli.h: the one command-line parser of every anon-telemetry command (internal: in the
 * library's static archive for the commands, not in anon_telemetry.h).
 *
 * A program describes itself with two tables (curl's option table, git's command
 * table): its options, and its commands (rows of command words, the options each takes,
 * whether it changes the spool, its handler, its usage line). cli_parse reads argv
 * against them the same way in every command:
 *
 *   --name VALUE, --name=VALUE, --flag, -v, -vv (short flags cluster), -h;
 *   "--" ends the options; "-" alone is an argument (standard input);
 *   options may come before, between or after the command words (GNU style), so
 *   `prog --spool X status`, `prog -v --spool=X dlq list` and
 *   `prog dlq requeue --all --spool X` are the same to it;
 *   long names are matched whole (no abbreviations: a new option never makes an old
 *   command line ambiguous).
 *
 * Usage errors have one form in every command (cli_usage_error_text):
 *
 *   PROG: unknown option '--frob'
 *   usage: PROG ...             (the usage lines of the command concerned)
 *   try 'PROG --help'
 *
 * and exit status 64. Anything taken from argv is quoted with its control characters and
 * invalid UTF-8 escaped (cli_quote), so a message never writes raw bytes to a terminal.
 *
 * The library never prints: cli.c only builds text. The few lines that print it and
 * pick the exit status are static inline at the end of this header, compiled into the
 * commands that call them.
 */
#ifndef ANON_CLI_H
#define ANON_CLI_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "internal.h"

/* Option ids are bit numbers in a command's option mask: at most 64 options a program. */
#define CLI_MAX_OPTS 64
#define CLI_OPT(id)  ((uint64_t)1 << (id))

/* cli_opt.flags */
enum {
    CLI_GLOBAL   = 1 << 0,   /* taken by every command, wherever it stands */
    CLI_HELP     = 1 << 1,   /* asks for the help text (cli_parse answers CLI_SHOW_HELP) */
    CLI_VERSION  = 1 << 2,   /* asks for "PROG VERSION" (cli_parse answers CLI_SHOW_VERSION) */
    CLI_NONEMPTY = 1 << 3    /* its value may not be "" */
};

typedef struct cli_opt {
    int id;                  /* the program's number for it, 0 .. CLI_MAX_OPTS - 1 */
    const char *name;        /* the long name without "--": "spool" */
    char short_name;         /* 'v', or 0 for none */
    const char *arg;         /* the value's name in the help ("PATH"); NULL: a flag */
    int flags;               /* CLI_GLOBAL | ... */
    const char *help;        /* for --help; '\n' starts an indented continuation line */
} cli_opt;

struct cli_result;
/* A command's handler: what the program runs for that row. Returns the exit status. */
typedef int cli_handler(struct cli_result *r);

enum { CLI_NO_SPOOL = -1, CLI_READS = 0, CLI_WRITES = 1 };

typedef struct cli_cmd {
    const char *words;       /* "status", "dlq requeue"; "" the program run without words */
    uint64_t opts;           /* CLI_OPT(id) | ...: the options it takes besides global ones */
    int writes;              /* CLI_WRITES: changes the spool (shown in --help); CLI_READS;
                                CLI_NO_SPOOL: opens none (bundle verify) */
    int min_args, max_args;  /* arguments after the words; max_args -1: no limit */
    cli_handler *run;        /* NULL: the program's main goes on by itself */
    const char *usage;       /* what follows "usage: PROG WORDS "; '\n' continues it */
    const char *summary;     /* one line for the help's list of commands */
} cli_cmd;

typedef struct cli_spec {
    const char *prog;        /* "anon-telemetry-ship": every message starts with it */
    const cli_opt *opts;
    size_t nopts;
    const cli_cmd *cmds;     /* at least one row */
    size_t ncmds;
    const char *about;       /* the help's paragraph after the usage lines; NULL: none */
    const char *epilog;      /* the help's last paragraph (exit statuses); NULL: none */
} cli_spec;

/* What cli_parse found. Values and arguments point into argv: nothing to free. */
typedef struct cli_result {
    const cli_spec *spec;
    const cli_cmd *cmd;              /* the chosen row (NULL when none could be chosen) */
    unsigned count[CLI_MAX_OPTS];    /* how often each option was given (-vv: 2) */
    const char *value[CLI_MAX_OPTS]; /* its last value; NULL for a flag or when not given */
    char **args;                     /* the arguments after the command's words (a part
                                        of argv, which cli_parse reorders) */
    int nargs;
    const char *group;               /* first word typed when it names commands but the
                                        row is incomplete ("dlq"): for the usage lines */
    char msg[ANON_ERRLEN];           /* after CLI_USAGE: what is wrong, one line */
} cli_result;

/* cli_parse's answers. */
enum cli_action {
    CLI_RUN = 0,         /* r->cmd is chosen and every option given is one it takes */
    CLI_SHOW_HELP,       /* an option with CLI_HELP was given (and argv is otherwise well formed) */
    CLI_SHOW_VERSION,    /* an option with CLI_VERSION was given */
    CLI_USAGE            /* bad usage: r->msg says what (exit 64) */
};

/* Parses argv[1 .. argc-1] against spec into r. Like GNU getopt it reorders argv: the
 * arguments (not the options) end up at its front, in their order, and r->args points
 * there. Precedence: a malformed option (unknown, value missing or unwanted) first; then
 * help, then version, wherever they stand and whatever the command words; then the
 * command words, the options the chosen command does not take and its argument count. */
int cli_parse(const cli_spec *spec, int argc, char **argv, cli_result *r);

static inline int cli_has(const cli_result *r, int id) { return r->count[id] > 0; }
static inline const char *cli_value(const cli_result *r, int id) { return r->value[id]; }

/* Sets r->msg like snprintf and returns CLI_USAGE, for `return cli_fail(r, ...)`. */
int cli_fail(cli_result *r, const char *fmt, ...) ANON_PRINTF(2, 3);

/* The value of option id as a whole number in [min, max] (base 10), or as a finite
 * number in [min, max]. 0 and *ret set (left alone when the option was not given);
 * CLI_USAGE with r->msg naming the option, the range and the value. */
int cli_long(cli_result *r, int id, long min, long max, long *ret);
int cli_double(cli_result *r, int id, double min, double max, double *ret);

/* s between single quotes into buf (always NUL-terminated), every control character,
 * backslash, quote and invalid UTF-8 byte escaped (\n, \t, \\, \', \xHH), cut with
 * "..." when it does not fit. Returns buf, for use as a printf argument. */
const char *cli_quote(const char *s, char *buf, size_t n);

/* The option with that id, NULL when the spec has none. */
const cli_opt *cli_find_opt(const cli_spec *spec, int id);

/* The texts. Each appends to out (out->oom set when memory ran out). */
void cli_help_text(const cli_spec *spec, anon_buf *out);           /* the whole --help */
void cli_version_text(const cli_spec *spec, anon_buf *out);        /* "PROG 0.8.0\n" */
void cli_usage_error_text(const cli_result *r, anon_buf *out);     /* msg, usage, try */

/* ---- for the commands' main(): print and pick the exit status (the library never
 * prints, so these are compiled into the commands that use them) ---- */

/* Writes text to f; 0, or -1 when out of memory or f could not be written. */
static inline int cli_put(FILE *f, anon_buf *text)
{
    int rc = -1;

    if (!text->oom && text->data != NULL && fputs(text->data, f) >= 0 && fflush(f) == 0)
        rc = 0;
    anon_buf_free(text);
    return rc;
}

/* What main does with any answer of cli_parse but CLI_RUN: the help or the version on
 * stdout (0; 74 when stdout cannot be written), the usage error on stderr (64). */
static inline int cli_finish(int action, cli_result *r)
{
    anon_buf b;

    anon_buf_init(&b);
    switch (action) {
    case CLI_SHOW_HELP:
        cli_help_text(r->spec, &b);
        return cli_put(stdout, &b) == 0 ? EX_OK : EX_IOERR;
    case CLI_SHOW_VERSION:
        cli_version_text(r->spec, &b);
        return cli_put(stdout, &b) == 0 ? EX_OK : EX_IOERR;
    case CLI_USAGE:
        cli_usage_error_text(r, &b);
        if (cli_put(stderr, &b) != 0)
            fprintf(stderr, "%s: %s\n", r->spec->prog, r->msg);
        return EX_USAGE;
    default:
        return EX_OK;
    }
}

/* A usage error found after parsing (a bad value, a missing ID): formats r->msg like
 * printf, prints it in the usual form, returns 64. */
static inline int cli_usage_error(cli_result *r, const char *fmt, ...) ANON_PRINTF(2, 3);
static inline int cli_usage_error(cli_result *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return cli_finish(CLI_USAGE, r);
}

#endif
