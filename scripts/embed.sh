#!/bin/sh
# embed.sh SYMBOL FILE: print a C source defining `const char SYMBOL[]` with FILE's text.
# embed.sh --steps SYMBOL FILE...: files named NNNN-what.sql become
#   `const char *const SYMBOL[]` with FILE's text at index NNNN (NULL elsewhere), and
#   `const int SYMBOL_last` = the highest NNNN.
# Used by the Makefile to build schema/spool.sql and schema/migrations/ into the
# library, so the DDL and each format step have one home.
set -eu
text() {
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' "$1"
}
if [ "$1" = --steps ]; then
    sym=$2; shift 2
    printf '/* generated from schema/migrations by scripts/embed.sh; do not edit */\n'
    printf 'const char *const %s[] = {\n' "$sym"
    last=0
    for f in "$@"; do
        base=$(basename "$f")
        n=$(printf '%s' "$base" | sed -n 's/^\([0-9][0-9][0-9][0-9]\)-.*\.sql$/\1/p')
        [ -n "$n" ] || { echo "embed.sh: $f: not named NNNN-what.sql" >&2; exit 1; }
        n=$(expr "$n" + 0)
        printf '[%d] =\n' "$n"
        text "$f"
        printf ',\n'
        [ "$n" -gt "$last" ] && last=$n
    done
    printf '};\nconst int %s_last = %d;\n' "$sym" "$last"
    exit 0
fi
sym=$1; file=$2
printf '/* generated from %s by scripts/embed.sh; do not edit */\n' "$file"
printf 'const char %s[] =\n' "$sym"
text "$file"
printf ';\n'
