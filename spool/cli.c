/*
 * cli.c: the command-line parser every anon-telemetry command shares (cli.h says what
 * it accepts). It builds text and never prints: the commands print what it returns.
 *
 * Parsing is one pass over argv that sorts each word into an option (with its value) or
 * an argument, then a choice of command from the leading arguments, then the checks that
 * need the command (does it take these options, this many arguments). Because every
 * option has one meaning in a program whatever the command, the pass can read a value
 * before it knows the command: that is what lets options stand anywhere.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define QLEN 160        /* room for one quoted piece of argv in a message */
#define HELP_COL 26     /* where the help's descriptions start */

const cli_opt *cli_find_opt(const cli_spec *spec, int id)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (spec->opts[i].id == id)
            return &spec->opts[i];
    return NULL;
}

static const cli_opt *find_long(const cli_spec *spec, const char *name, size_t len)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (strlen(spec->opts[i].name) == len && memcmp(spec->opts[i].name, name, len) == 0)
            return &spec->opts[i];
    return NULL;
}

static const cli_opt *find_short(const cli_spec *spec, char c)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (spec->opts[i].short_name != 0 && spec->opts[i].short_name == c)
            return &spec->opts[i];
    return NULL;
}

/* The number of words of a row ("" has none). */
static int nwords(const char *words)
{
    int n = 0;

    for (const char *p = words; *p != '\0';) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        n++;
        while (*p != ' ' && *p != '\0')
            p++;
    }
    return n;
}

/* 1 when word k (from 0) of words is s. */
static int word_is(const char *words, int k, const char *s)
{
    const char *p = words;
    size_t len;

    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return 0;
        len = strcspn(p, " ");
        if (k-- == 0)
            return strlen(s) == len && memcmp(p, s, len) == 0;
        p += len;
    }
}

/* Word k of words into buf. */
static const char *word_at(const char *words, int k, char *buf, size_t n)
{
    const char *p = words;
    size_t len;

    buf[0] = '\0';
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return buf;
        len = strcspn(p, " ");
        if (k-- == 0) {
            snprintf(buf, n, "%.*s", (int)len, p);
            return buf;
        }
        p += len;
    }
}

int cli_fail(cli_result *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

const char *cli_quote(const char *s, char *buf, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    if (n < 6) {                       /* no room for even '...' */
        if (n > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '\'';
    while (*p != '\0') {
        char piece[16];
        size_t plen, step = 1;
        uint32_t cp = 0;
        size_t u = *p >= 0x80 ? anon_utf8_decode(p, &cp) : 0;

        if (*p == '\n')
            plen = (size_t)snprintf(piece, sizeof piece, "\\n");
        else if (*p == '\t')
            plen = (size_t)snprintf(piece, sizeof piece, "\\t");
        else if (*p == '\r')
            plen = (size_t)snprintf(piece, sizeof piece, "\\r");
        else if (*p == '\\' || *p == '\'')
            plen = (size_t)snprintf(piece, sizeof piece, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", *p);
        else if (*p < 0x80) {
            piece[0] = (char)*p;
            piece[1] = '\0';
            plen = 1;
        } else if (u == 0 || (cp >= 0x80 && cp <= 0x9f) ||
                   /* C1 controls and the bidirectional overrides can rewrite a terminal
                    * line: escape their bytes like invalid UTF-8 */
                   (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", *p);
        } else {
            memcpy(piece, p, u);
            piece[u] = '\0';
            plen = u;
            step = u;
        }
        /* keep room for the closing quote, "..." and the NUL */
        if (o + plen + 5 > n) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, piece, plen);
        o += plen;
        p += step;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

/* "a, b or c" of the distinct words at position k of the rows whose first k words are
 * those of prefix (k == 0: every row's first word); rows with fewer words are skipped. */
static void list_words(const cli_spec *spec, const char *group, int k, char *buf, size_t n)
{
    const char *seen[64];
    size_t nseen = 0, o = 0;
    char w[64];

    buf[0] = '\0';
    for (size_t i = 0; i < spec->ncmds && nseen < 64; i++) {
        const char *words = spec->cmds[i].words;
        int dup = 0;

        if (nwords(words) <= k || (k > 0 && !word_is(words, 0, group)))
            continue;
        word_at(words, k, w, sizeof w);
        for (size_t j = 0; j < nseen && !dup; j++) {
            char v[64];
            dup = strcmp(word_at(seen[j], k, v, sizeof v), w) == 0;
        }
        if (!dup)
            seen[nseen++] = words;
    }
    for (size_t j = 0; j < nseen && o < n; j++) {
        int m = snprintf(buf + o, n - o, "%s%s", j == 0 ? "" : j + 1 == nseen ? " or " : ", ",
                         word_at(seen[j], k, w, sizeof w));
        if (m < 0)
            break;
        o += (size_t)m;
    }
}

/* How a row is named in messages: 'status', or "PROG with no command". */
static void cmd_label(const cli_spec *spec, const cli_cmd *c, char *buf, size_t n)
{
    if (c->words[0] == '\0')
        snprintf(buf, n, "%s with no command", spec->prog);
    else
        snprintf(buf, n, "'%s'", c->words);
}

/* Chooses the row from the leading arguments: the row with the most words that all
 * match. 0 with r->cmd set and its words taken off r->args, or CLI_USAGE with r->msg set
 * (and r->group when the first word names a group of rows). */
static int choose(const cli_spec *spec, cli_result *r)
{
    const cli_cmd *best = NULL;
    int bestw = -1, has_words = 0;
    char q[QLEN], list[256];

    for (size_t i = 0; i < spec->ncmds; i++) {
        const cli_cmd *c = &spec->cmds[i];
        int w = nwords(c->words), ok = w <= r->nargs;

        has_words |= w > 0;
        for (int k = 0; ok && k < w; k++)
            ok = word_is(c->words, k, r->args[k]);
        if (ok && w > bestw) {
            best = c;
            bestw = w;
        }
    }
    /* The first word names a group of rows ("dlq") but no whole row matched. */
    if (bestw <= 0 && r->nargs > 0) {
        for (size_t i = 0; i < spec->ncmds; i++) {
            if (nwords(spec->cmds[i].words) > 1 && word_is(spec->cmds[i].words, 0, r->args[0])) {
                r->group = r->args[0];
                list_words(spec, r->args[0], 1, list, sizeof list);
                if (r->nargs == 1)
                    return cli_fail(r, "%s needs a command: %s", r->args[0], list);
                return cli_fail(r, "unknown %s command %s (%s)", r->args[0],
                                cli_quote(r->args[1], q, sizeof q), list);
            }
        }
    }
    if (best == NULL || (bestw == 0 && has_words && r->nargs > best->max_args &&
                         best->max_args >= 0)) {
        list_words(spec, NULL, 0, list, sizeof list);
        if (r->nargs == 0)
            return cli_fail(r, "needs a command: %s", list);
        return cli_fail(r, "unknown command %s (%s)", cli_quote(r->args[0], q, sizeof q), list);
    }
    r->cmd = best;
    r->args += bestw;
    r->nargs -= bestw;
    return 0;
}

/* The message for an option the chosen row does not take: which rows take it. */
static int not_for(const cli_spec *spec, cli_result *r, const cli_opt *o)
{
    char here[128], list[256], label[128];
    size_t n = 0;

    list[0] = '\0';
    for (size_t i = 0; i < spec->ncmds; i++) {
        const cli_cmd *c = &spec->cmds[i];
        int m;

        if (!(c->opts & CLI_OPT(o->id)))
            continue;
        if (c->words[0] == '\0')
            snprintf(label, sizeof label, "%s with no command", spec->prog);
        else
            snprintf(label, sizeof label, "%s", c->words);
        m = snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", label);
        if (m < 0 || (size_t)m >= sizeof list - n)
            break;
        n += (size_t)m;
    }
    cmd_label(spec, r->cmd, here, sizeof here);
    if (n == 0)
        return cli_fail(r, "option '--%s' is not for %s", o->name, here);
    return cli_fail(r, "option '--%s' is not for %s (it is for: %s)", o->name, here, list);
}

int cli_parse(const cli_spec *spec, int argc, char **argv, cli_result *r)
{
    int first[CLI_MAX_OPTS];   /* where each option was first given, for the first error */
    int opts_done = 0, lexical = 0, help = 0, version = 0;
    char q[QLEN];

    memset(r, 0, sizeof *r);
    r->spec = spec;
    for (int i = 0; i < CLI_MAX_OPTS; i++)
        first[i] = -1;
    /* Arguments move to the front of argv, in order, as GNU getopt moves them: slot w is
     * never past slot i, and an option's value is read before its slot is reused. */
    r->args = argv + 1;

    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const cli_opt *o = NULL;
        const char *value = NULL;

        if (opts_done || s[0] != '-' || s[1] == '\0') {
            r->args[r->nargs++] = argv[i];
            continue;
        }
        if (strcmp(s, "--") == 0) {
            opts_done = 1;
            continue;
        }
        if (lexical)
            continue;   /* the first error is the one reported; the rest only sorts words */
        if (s[1] == '-') {
            const char *name = s + 2, *eq = strchr(name, '=');
            size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
            char shown[QLEN];

            snprintf(shown, sizeof shown, "--%.*s", (int)len, name);
            if ((o = find_long(spec, name, len)) == NULL) {
                lexical = cli_fail(r, "unknown option %s", cli_quote(shown, q, sizeof q));
                continue;
            }
            if (o->arg == NULL && eq != NULL) {
                lexical = cli_fail(r, "option '--%s' takes no value", o->name);
                continue;
            }
            if (o->arg != NULL) {
                if (eq != NULL)
                    value = eq + 1;
                else if (i + 1 < argc)
                    value = argv[++i];
                else {
                    lexical = cli_fail(r, "option '--%s' needs a value (%s)", o->name, o->arg);
                    continue;
                }
            }
        } else {
            /* -v, -vv, -vh: flags cluster; a short option with a value takes the rest of
             * the word or the next one. */
            for (const char *c = s + 1; *c != '\0' && !lexical; c++) {
                char shown[3] = {'-', *c, '\0'};

                if ((o = find_short(spec, *c)) == NULL) {
                    lexical = cli_fail(r, "unknown option %s", cli_quote(shown, q, sizeof q));
                    break;
                }
                if (o->arg == NULL) {
                    if (first[o->id] < 0)
                        first[o->id] = i;
                    r->count[o->id]++;
                    help |= (o->flags & CLI_HELP) != 0;
                    version |= (o->flags & CLI_VERSION) != 0;
                    continue;
                }
                if (c[1] != '\0')
                    value = c + 1;
                else if (i + 1 < argc)
                    value = argv[++i];
                else
                    lexical = cli_fail(r, "option '-%c' needs a value (%s)", *c, o->arg);
                break;
            }
            if (lexical || o == NULL || o->arg == NULL)
                continue;
        }
        if (value != NULL && value[0] == '\0' && (o->flags & CLI_NONEMPTY)) {
            lexical = cli_fail(r, "option '--%s' needs a non-empty value", o->name);
            continue;
        }
        if (first[o->id] < 0)
            first[o->id] = i;
        r->count[o->id]++;
        r->value[o->id] = value;
        help |= (o->flags & CLI_HELP) != 0;
        version |= (o->flags & CLI_VERSION) != 0;
    }

    if (lexical) {
        char keep[ANON_ERRLEN];
        /* Still choose a row, quietly, so that the usage lines shown are the right ones. */
        memcpy(keep, r->msg, sizeof keep);
        (void)choose(spec, r);
        memcpy(r->msg, keep, sizeof keep);
        return CLI_USAGE;
    }
    if (help)
        return CLI_SHOW_HELP;
    if (version)
        return CLI_SHOW_VERSION;
    if (choose(spec, r) != 0)
        return CLI_USAGE;

    /* Options the chosen row does not take: report the one given first. */
    {
        const cli_opt *bad = NULL;
        for (size_t k = 0; k < spec->nopts; k++) {
            const cli_opt *o = &spec->opts[k];
            if (r->count[o->id] == 0 || (o->flags & CLI_GLOBAL) || (r->cmd->opts & CLI_OPT(o->id)))
                continue;
            if (bad == NULL || first[o->id] < first[bad->id])
                bad = o;
        }
        if (bad != NULL)
            return not_for(spec, r, bad);
    }

    if (r->cmd->max_args >= 0 && r->nargs > r->cmd->max_args) {
        char here[128];
        cmd_label(spec, r->cmd, here, sizeof here);
        if (r->cmd->words[0] == '\0')
            return cli_fail(r, "unexpected argument %s",
                            cli_quote(r->args[r->cmd->max_args], q, sizeof q));
        if (r->cmd->max_args == 0)
            return cli_fail(r, "unexpected argument %s (%s takes none)",
                            cli_quote(r->args[0], q, sizeof q), here);
        return cli_fail(r, "unexpected argument %s (%s takes at most %d)",
                        cli_quote(r->args[r->cmd->max_args], q, sizeof q), here,
                        r->cmd->max_args);
    }
    if (r->nargs < r->cmd->min_args) {
        char here[128];
        cmd_label(spec, r->cmd, here, sizeof here);
        return cli_fail(r, "%s needs %s%d argument%s", here,
                        r->cmd->max_args == r->cmd->min_args ? "" : "at least ",
                        r->cmd->min_args, r->cmd->min_args == 1 ? "" : "s");
    }
    return CLI_RUN;
}

int cli_long(cli_result *r, int id, long min, long max, long *ret)
{
    const char *s = r->value[id];
    const cli_opt *o = cli_find_opt(r->spec, id);
    char *end = NULL;
    char q[QLEN];
    long v;

    if (r->count[id] == 0 || s == NULL)
        return 0;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return cli_fail(r, "option '--%s': expected a whole number from %ld to %ld, got %s",
                        o != NULL ? o->name : "?", min, max, cli_quote(s, q, sizeof q));
    *ret = v;
    return 0;
}

int cli_double(cli_result *r, int id, double min, double max, double *ret)
{
    const char *s = r->value[id];
    const cli_opt *o = cli_find_opt(r->spec, id);
    char *end = NULL;
    char q[QLEN];
    double v;

    if (r->count[id] == 0 || s == NULL)
        return 0;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max)
        return cli_fail(r, "option '--%s': expected a number from %g to %g, got %s",
                        o != NULL ? o->name : "?", min, max, cli_quote(s, q, sizeof q));
    *ret = v;
    return 0;
}

/* ------------------------------------------------------------------ texts */

/* Appends text, starting every line after the first with indent spaces. */
static void put_indented(anon_buf *out, const char *text, int indent)
{
    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        anon_buf_append(out, p, len);
        p += len;
        if (*p == '\n') {
            p++;
            anon_buf_printf(out, "\n%*s", indent, "");
        }
    }
}

static void put_usage_line(const cli_spec *spec, const cli_cmd *c, int first, anon_buf *out)
{
    int indent = (int)strlen("usage: ") + (int)strlen(spec->prog) + 1;

    anon_buf_printf(out, "%s%s", first ? "usage: " : "       ", spec->prog);
    if (c->words[0] != '\0')
        anon_buf_printf(out, " %s", c->words);
    if (c->usage != NULL && c->usage[0] != '\0') {
        anon_buf_puts(out, " ");
        put_indented(out, c->usage, indent);
    }
    anon_buf_puts(out, "\n");
}

/* A help line: label in the first column, text from HELP_COL on. */
static void put_item(anon_buf *out, const char *label, const char *text)
{
    int len = (int)strlen(label);

    if (len + 4 > HELP_COL)
        anon_buf_printf(out, "  %s\n%*s", label, HELP_COL, "");
    else
        anon_buf_printf(out, "  %-*s", HELP_COL - 2, label);
    put_indented(out, text != NULL ? text : "", HELP_COL);
    anon_buf_puts(out, "\n");
}

/* The rows that take option o, as a bit set over spec->cmds (the first 64 rows). */
static uint64_t takers(const cli_spec *spec, const cli_opt *o)
{
    uint64_t set = 0;

    for (size_t i = 0; i < spec->ncmds && i < 64; i++)
        if ((o->flags & CLI_GLOBAL) || (spec->cmds[i].opts & CLI_OPT(o->id)))
            set |= (uint64_t)1 << i;
    return set;
}

void cli_help_text(const cli_spec *spec, anon_buf *out)
{
    int any_writes = 0;
    char done[CLI_MAX_OPTS] = {0};

    for (size_t i = 0; i < spec->ncmds; i++)
        put_usage_line(spec, &spec->cmds[i], i == 0, out);
    if (spec->about != NULL)
        anon_buf_printf(out, "\n%s", spec->about);

    if (spec->ncmds > 1) {
        anon_buf_puts(out, "\nCommands:\n");
        for (size_t i = 0; i < spec->ncmds; i++) {
            const cli_cmd *c = &spec->cmds[i];
            char text[256];

            snprintf(text, sizeof text, "%s%s", c->summary != NULL ? c->summary : "",
                     c->writes == CLI_WRITES ? " *" : "");
            put_item(out, c->words[0] != '\0' ? c->words : "(no command)", text);
            any_writes |= c->writes == CLI_WRITES;
        }
        if (any_writes)
            anon_buf_puts(out, "  (* changes the spool)\n");
    }

    /* Options grouped by the commands that take them, in table order. */
    for (size_t i = 0; i < spec->nopts; i++) {
        const cli_opt *o = &spec->opts[i];
        uint64_t set = takers(spec, o);

        if (done[i])
            continue;
        if (spec->ncmds == 1) {
            if (i == 0)
                anon_buf_puts(out, "\nOptions:\n");
        } else if (o->flags & CLI_GLOBAL) {
            anon_buf_puts(out, "\nOptions of every command:\n");
        } else {
            int n = 0;
            anon_buf_puts(out, "\nOptions of ");
            for (size_t k = 0; k < spec->ncmds && k < 64; k++) {
                if (!(set & ((uint64_t)1 << k)))
                    continue;
                if (spec->cmds[k].words[0] == '\0')
                    anon_buf_printf(out, "%s%s with no command", n++ ? ", " : "", spec->prog);
                else
                    anon_buf_printf(out, "%s%s", n++ ? ", " : "", spec->cmds[k].words);
            }
            anon_buf_puts(out, ":\n");
        }
        for (size_t j = i; j < spec->nopts; j++) {
            const cli_opt *p = &spec->opts[j];
            char label[96];

            if (done[j] || (spec->ncmds > 1 && (takers(spec, p) != set ||
                                                ((p->flags & CLI_GLOBAL) != (o->flags & CLI_GLOBAL)))))
                continue;
            done[j] = 1;
            if (p->short_name)
                snprintf(label, sizeof label, "-%c, --%s%s%s", p->short_name, p->name,
                         p->arg != NULL ? " " : "", p->arg != NULL ? p->arg : "");
            else
                snprintf(label, sizeof label, "--%s%s%s", p->name, p->arg != NULL ? " " : "",
                         p->arg != NULL ? p->arg : "");
            put_item(out, label, p->help);
        }
    }
    if (spec->epilog != NULL)
        anon_buf_printf(out, "\n%s", spec->epilog);
}

void cli_version_text(const cli_spec *spec, anon_buf *out)
{
    anon_buf_printf(out, "%s %s\n", spec->prog, anon_version());
}

void cli_usage_error_text(const cli_result *r, anon_buf *out)
{
    const cli_spec *spec = r->spec;
    int first = 1;

    anon_buf_printf(out, "%s: %s\n", spec->prog, r->msg);
    for (size_t i = 0; i < spec->ncmds; i++) {
        const cli_cmd *c = &spec->cmds[i];
        int show;

        if (r->cmd != NULL)
            show = c == r->cmd;
        else if (r->group != NULL)
            show = word_is(c->words, 0, r->group);
        else
            show = 1;
        if (show) {
            put_usage_line(spec, c, first, out);
            first = 0;
        }
    }
    anon_buf_printf(out, "try '%s --help'\n", spec->prog);
}
