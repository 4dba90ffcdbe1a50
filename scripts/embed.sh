#!/bin/sh
# embed.sh SYMBOL FILE: print a C source defining `const char SYMBOL[]` with FILE's text.
# Used by the Makefile to build schema/spool.sql into the library, so the DDL has one home.
set -eu
sym=$1; file=$2
printf '/* generated from %s by scripts/embed.sh; do not edit */\n' "$file"
printf 'const char %s[] =\n' "$sym"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' "$file"
printf ';\n'
