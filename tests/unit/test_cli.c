/*
 * test_cli.c: the command-line parser every command shares (spool/cli.c), on a small
 * table made here and on anon-telemetry-ship's own tables (shipper/commands.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "test.h"

/* ---- a small program: a default command with FILE arguments, and two worded ones ---- */

enum { O_OUT, O_VERB, O_HELP, O_VERSION, O_LINES, O_FORCE, O_NAME };

static const cli_opt opts[] = {
    {O_OUT, "out", 'o', "FILE", CLI_GLOBAL | CLI_NONEMPTY, "where to write"},
    {O_VERB, "verbose", 'v', NULL, CLI_GLOBAL, "more"},
    {O_HELP, "help", 'h', NULL, CLI_GLOBAL | CLI_HELP, "this text"},
    {O_VERSION, "version", 0, NULL, CLI_GLOBAL | CLI_VERSION, "the version"},
    {O_LINES, "lines", 'n', "N", 0, "how many lines\nsecond line of help"},
    {O_FORCE, "force", 'f', NULL, 0, "do it"},
    {O_NAME, "name", 0, "NAME", 0, "a name"},
};

static const cli_cmd cmds[] = {
    {"", CLI_OPT(O_LINES), 0, 0, -1, NULL, "[-n N] [FILE...]", "count"},
    {"box make", CLI_OPT(O_FORCE) | CLI_OPT(O_NAME), 1, 1, 1, NULL, "NAME [--force]", "make one"},
    {"box drop", CLI_OPT(O_FORCE), 1, 0, 2, NULL, "[ID...]", "drop some"},
    {"peek", 0, 0, 0, 0, NULL, "", "look"},
};

static const cli_spec spec = {"prog", opts, sizeof opts / sizeof opts[0], cmds,
                              sizeof cmds / sizeof cmds[0], "About it.\n", "Exit: 0.\n"};

/* Parses the words given (NULL-terminated) with spec s; the answer, r filled. */
static char *argv_store[32];
static int parse_with(const cli_spec *s, cli_result *r, ...)
{
    va_list ap;
    int argc = 0;

    argv_store[argc++] = (char *)"prog";
    va_start(ap, r);
    for (char *w; (w = va_arg(ap, char *)) != NULL && argc < 31;)
        argv_store[argc++] = w;
    va_end(ap);
    argv_store[argc] = NULL;
    return cli_parse(s, argc, argv_store, r);
}
#define P(r, ...) parse_with(&spec, (r), __VA_ARGS__, (char *)NULL)
#define SHIP(r, ...) parse_with(&commands_spec, (r), __VA_ARGS__, (char *)NULL)

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static void test_forms(void)
{
    cli_result r;

    /* --name VALUE, --name=VALUE, -x VALUE, -xVALUE: the last one given wins */
    T_EQ_INT(P(&r, "--out", "a", "--out=b", "-o", "c", "-od", "f1"), CLI_RUN);
    T_EQ_STR(cli_value(&r, O_OUT), "d");
    T_EQ_INT(r.count[O_OUT], 4);
    T_CHECK(r.cmd == &cmds[0]);
    T_EQ_INT(r.nargs, 1);
    T_EQ_STR(r.args[0], "f1");

    /* --name= is an empty value, refused for CLI_NONEMPTY */
    T_EQ_INT(P(&r, "--out="), CLI_USAGE);
    T_EQ_STR(r.msg, "option '--out' needs a non-empty value");
    T_EQ_INT(P(&r, "--lines="), CLI_RUN);
    T_EQ_STR(cli_value(&r, O_LINES), "");

    /* short flags cluster and count; -vn5 ends with a value */
    T_EQ_INT(P(&r, "-vv", "-v", "-vn5"), CLI_RUN);
    T_EQ_INT(r.count[O_VERB], 4);
    T_EQ_STR(cli_value(&r, O_LINES), "5");

    /* a value may start with a dash; "-" alone is an argument; "--" ends the options */
    T_EQ_INT(P(&r, "--out", "-x", "-", "--", "--lines", "-v"), CLI_RUN);
    T_EQ_STR(cli_value(&r, O_OUT), "-x");
    T_EQ_INT(r.nargs, 3);
    T_EQ_STR(r.args[0], "-");
    T_EQ_STR(r.args[1], "--lines");
    T_EQ_STR(r.args[2], "-v");
    T_EQ_INT(r.count[O_LINES], 0);
    T_EQ_INT(r.count[O_VERB], 0);

    /* no abbreviations */
    T_EQ_INT(P(&r, "--verb"), CLI_USAGE);
    T_EQ_STR(r.msg, "unknown option '--verb'");
}

static void test_commands(void)
{
    cli_result r;

    /* global options before, between and after the words */
    T_EQ_INT(P(&r, "-v", "--out=o", "box", "make", "n1"), CLI_RUN);
    T_CHECK(r.cmd == &cmds[1]);
    T_EQ_INT(r.nargs, 1);
    T_EQ_STR(r.args[0], "n1");
    T_EQ_INT(P(&r, "box", "--out", "o", "make", "--force", "n1", "-v"), CLI_RUN);
    T_CHECK(r.cmd == &cmds[1]);
    T_EQ_STR(cli_value(&r, O_OUT), "o");
    T_EQ_INT(r.count[O_VERB], 1);
    T_EQ_INT(r.count[O_FORCE], 1);
    T_EQ_INT(P(&r, "box", "drop", "1", "2", "--out", "o"), CLI_RUN);
    T_CHECK(r.cmd == &cmds[2]);
    T_EQ_INT(r.nargs, 2);

    /* the default command takes the arguments that are not command words */
    T_EQ_INT(P(&r, "peek2"), CLI_RUN);
    T_CHECK(r.cmd == &cmds[0]);
    T_EQ_STR(r.args[0], "peek2");

    /* an incomplete or unknown second word */
    T_EQ_INT(P(&r, "box"), CLI_USAGE);
    T_EQ_STR(r.msg, "box needs a command: make or drop");
    T_EQ_INT(P(&r, "box", "fold"), CLI_USAGE);
    T_EQ_STR(r.msg, "unknown box command 'fold' (make or drop)");

    /* an option the command does not take names both; the first one given is named */
    T_EQ_INT(P(&r, "peek", "--name", "x", "--force"), CLI_USAGE);
    T_EQ_STR(r.msg, "option '--name' is not for 'peek' (it is for: box make)");
    T_EQ_INT(P(&r, "--force"), CLI_USAGE);
    T_EQ_STR(r.msg, "option '--force' is not for prog with no command "
                    "(it is for: box make, box drop)");
    T_EQ_INT(P(&r, "peek", "-n", "3"), CLI_USAGE);
    T_EQ_STR(r.msg, "option '--lines' is not for 'peek' (it is for: prog with no command)");

    /* argument counts */
    T_EQ_INT(P(&r, "box", "make"), CLI_USAGE);
    T_EQ_STR(r.msg, "'box make' needs 1 argument");
    T_EQ_INT(P(&r, "box", "make", "a", "b"), CLI_USAGE);
    T_EQ_STR(r.msg, "unexpected argument 'b' ('box make' takes at most 1)");
    T_EQ_INT(P(&r, "peek", "x"), CLI_USAGE);
    T_EQ_STR(r.msg, "unexpected argument 'x' ('peek' takes none)");
}

static void test_precedence(void)
{
    cli_result r;

    /* help and version win over command errors, not over malformed options */
    T_EQ_INT(P(&r, "box", "--help"), CLI_SHOW_HELP);
    T_EQ_INT(P(&r, "peek", "--force", "-h"), CLI_SHOW_HELP);
    T_EQ_INT(P(&r, "box", "fold", "--version"), CLI_SHOW_VERSION);
    T_EQ_INT(P(&r, "--help", "--frob"), CLI_USAGE);
    T_EQ_STR(r.msg, "unknown option '--frob'");
    T_EQ_INT(P(&r, "--version", "--lines"), CLI_USAGE);
    T_EQ_STR(r.msg, "option '--lines' needs a value (N)");
    T_EQ_INT(P(&r, "--verbose=2"), CLI_USAGE);
    T_EQ_STR(r.msg, "option '--verbose' takes no value");
    /* the first malformed option is the one named */
    T_EQ_INT(P(&r, "-x", "--frob"), CLI_USAGE);
    T_EQ_STR(r.msg, "unknown option '-x'");
    /* the value of an unknown --opt=value is never shown */
    T_EQ_INT(P(&r, "--token=s3cret"), CLI_USAGE);
    T_EQ_STR(r.msg, "unknown option '--token'");
}

static void test_quote(void)
{
    char buf[64], small[12];

    T_EQ_STR(cli_quote("plain", buf, sizeof buf), "'plain'");
    T_EQ_STR(cli_quote("a\nb\tc\rd", buf, sizeof buf), "'a\\nb\\tc\\rd'");
    T_EQ_STR(cli_quote("\x1b[2J\x7f", buf, sizeof buf), "'\\x1b[2J\\x7f'");
    T_EQ_STR(cli_quote("it's a\\b", buf, sizeof buf), "'it\\'s a\\\\b'");
    T_EQ_STR(cli_quote("caf\xc3\xa9", buf, sizeof buf), "'caf\xc3\xa9'");          /* é kept */
    T_EQ_STR(cli_quote("\xff\xc3(", buf, sizeof buf), "'\\xff\\xc3('");             /* invalid */
    T_EQ_STR(cli_quote("\xc2\x85", buf, sizeof buf), "'\\xc2\\x85'");               /* C1 NEL */
    T_EQ_STR(cli_quote("a\xe2\x80\xae" "b", buf, sizeof buf), "'a\\xe2\\x80\\xaeb'"); /* RLO */
    T_EQ_STR(cli_quote("abcdefghijkl", small, sizeof small), "'abcdef...'");
    T_EQ_INT(strlen(cli_quote("\n\n\n\n\n\n", small, sizeof small)), 11);
}

static void test_numbers(void)
{
    cli_result r;
    long n = -7;
    double d = -7;

    T_EQ_INT(P(&r, "-n", "12"), CLI_RUN);
    T_EQ_INT(cli_long(&r, O_LINES, 1, 100, &n), 0);
    T_EQ_INT(n, 12);
    T_EQ_INT(cli_double(&r, O_LINES, 0, 20, &d), 0);
    T_CHECK(d == 12.0);
    T_EQ_INT(P(&r, "-n", "0x10"), CLI_RUN);
    T_EQ_INT(cli_long(&r, O_LINES, 1, 100, &n), CLI_USAGE);
    T_EQ_STR(r.msg, "option '--lines': expected a whole number from 1 to 100, got '0x10'");
    T_EQ_INT(P(&r, "-n", "101"), CLI_RUN);
    T_EQ_INT(cli_long(&r, O_LINES, 1, 100, &n), CLI_USAGE);
    T_EQ_INT(P(&r, "-n", "nan"), CLI_RUN);
    T_EQ_INT(cli_double(&r, O_LINES, 0, 20, &d), CLI_USAGE);
    T_EQ_STR(r.msg, "option '--lines': expected a number from 0 to 20, got 'nan'");
    /* not given: untouched */
    n = 5;
    T_EQ_INT(P(&r, "f"), CLI_RUN);
    T_EQ_INT(cli_long(&r, O_LINES, 1, 100, &n), 0);
    T_EQ_INT(n, 5);
}

static void test_texts(void)
{
    cli_result r;
    anon_buf b;

    anon_buf_init(&b);
    cli_help_text(&spec, &b);
    T_CHECK(!b.oom);
    T_CHECK(has_line(b.data, "usage: prog [-n N] [FILE...]"));
    T_CHECK(has_line(b.data, "       prog box make NAME [--force]"));
    T_CHECK(has_line(b.data, "       prog peek"));
    T_CHECK(has_line(b.data, "  box drop                drop some *"));
    T_CHECK(has_line(b.data, "Options of every command:"));
    T_CHECK(has_line(b.data, "  -o, --out FILE          where to write"));
    T_CHECK(has_line(b.data, "Options of box make, box drop:"));
    T_CHECK(has_line(b.data, "Options of prog with no command:"));
    T_CHECK(has_line(b.data, "                          second line of help"));
    T_CHECK(has_line(b.data, "Exit: 0."));
    anon_buf_free(&b);

    anon_buf_init(&b);
    cli_version_text(&spec, &b);
    T_EQ_STR(b.data, "prog " ANON_TELEMETRY_VERSION "\n");
    T_EQ_STR(anon_version(), ANON_TELEMETRY_VERSION);
    anon_buf_free(&b);

    /* the usage error: message, the usage lines of what was being run, the try line */
    anon_buf_init(&b);
    T_EQ_INT(P(&r, "box", "drop", "--frob"), CLI_USAGE);
    cli_usage_error_text(&r, &b);
    T_EQ_STR(b.data, "prog: unknown option '--frob'\n"
                     "usage: prog box drop [ID...]\n"
                     "try 'prog --help'\n");
    anon_buf_free(&b);
    anon_buf_init(&b);
    T_EQ_INT(P(&r, "box"), CLI_USAGE);
    cli_usage_error_text(&r, &b);
    T_EQ_STR(b.data, "prog: box needs a command: make or drop\n"
                     "usage: prog box make NAME [--force]\n"
                     "       prog box drop [ID...]\n"
                     "try 'prog --help'\n");
    anon_buf_free(&b);
}

/* anon-telemetry-ship's own tables: consistent, and read as the issue asks. */
static void test_ship_tables(void)
{
    const cli_spec *s = &commands_spec;
    cli_result r;
    uint64_t known = 0;
    anon_buf b;

    for (size_t i = 0; i < s->nopts; i++) {
        const cli_opt *o = &s->opts[i];
        T_CHECK(o->id >= 0 && o->id < CLI_MAX_OPTS);
        T_CHECK(!(known & CLI_OPT(o->id)));          /* ids distinct */
        known |= CLI_OPT(o->id);
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= strcmp(o->name, s->opts[j].name) == 0 ||
                   (o->short_name != 0 && o->short_name == s->opts[j].short_name);
        T_CHECK(!dup);                               /* names and short names distinct */
    }
    T_EQ_INT(s->nopts, OPT_COUNT_);
    for (size_t i = 0; i < s->ncmds; i++) {
        T_CHECK((s->cmds[i].opts & ~known) == 0);   /* every bit names an option */
        T_CHECK(s->cmds[i].run != NULL);
    }

    anon_buf_init(&b);
    cli_help_text(s, &b);
    for (size_t i = 0; i < s->nopts; i++) {
        char name[64];
        snprintf(name, sizeof name, "--%s", s->opts[i].name);
        T_CHECK(strstr(b.data, name) != NULL);
    }
    T_CHECK(strstr(b.data, "dlq requeue") != NULL);
    T_CHECK(strstr(b.data, "--print-spool-path") != NULL);
    anon_buf_free(&b);

    T_EQ_INT(SHIP(&r, "--spool", "X", "status"), CLI_RUN);
    T_EQ_STR(r.cmd->words, "status");
    T_EQ_STR(cli_value(&r, OPT_SPOOL), "X");
    T_EQ_INT(SHIP(&r, "-v", "--spool=X", "dlq", "list"), CLI_RUN);
    T_EQ_STR(r.cmd->words, "dlq list");
    T_EQ_INT(r.count[OPT_VERBOSE], 1);
    T_EQ_INT(SHIP(&r, "dlq", "requeue", "--all", "--spool", "X"), CLI_RUN);
    T_EQ_STR(r.cmd->words, "dlq requeue");
    T_EQ_INT(r.nargs, 0);
    T_EQ_INT(SHIP(&r, "dlq", "purge", "3", "--spool", "X", "1"), CLI_RUN);
    T_EQ_INT(r.nargs, 2);
    T_EQ_INT(SHIP(&r, "--now", "--batch-size", "5", "-vv"), CLI_RUN);
    T_EQ_STR(r.cmd->words, "");
    T_EQ_INT(r.count[OPT_VERBOSE], 2);
    T_EQ_INT(SHIP(&r, "status", "--now"), CLI_USAGE);
    T_EQ_STR(r.msg, "option '--now' is not for 'status' (it is for: anon-telemetry-ship with no command)");
    T_EQ_INT(SHIP(&r, "--print-spool-path", "status"), CLI_RUN);
    T_EQ_INT(r.count[OPT_PRINT_SPOOL], 1);
}

int main(void)
{
    test_forms();
    test_commands();
    test_precedence();
    test_quote();
    test_numbers();
    test_texts();
    test_ship_tables();
    return t_done();
}
