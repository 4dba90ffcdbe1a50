#!/bin/bash
# docs.sh: the project's own documentation, the README and the manual pages (man/), is
# clean and agrees with the programs. mandoc -T lint finds nothing (style included, but for
# cross-references to pages that are not installed here) and groff renders every page
# without a warning; every option and command each program's --help lists is in its
# page; every environment variable the programs read, and every metric they write, is
# documented; the README names only files the repository has, says how to get the code,
# install the packages and uninstall, and its alert rules pass promtool; no file of the
# repository sends a reader to the developers' notes outside it.
. "$(dirname "$0")/../lib.sh"

MAN=$ROOT/man
RELAY_BIN=$BUILD/anon-telemetry-relay
PAGES="anon-telemetry-spool.1 anon-telemetry-tokens.1 anon_telemetry.3 anon-telemetry.7
anon-telemetry-relay.8 anon-telemetry-ship.8"

# ---- every page is there, lints clean and renders
for p in $PAGES; do check "man/$p exists" test -f "$MAN/$p"; done
check_eq "no other page in man/" "$(echo $PAGES | tr ' ' '\n' | sort)" "$(cd "$MAN" && ls | sort)"
if command -v mandoc >/dev/null 2>&1; then
    for p in $PAGES; do
        mandoc -T lint -W warning "$MAN/$p" >"$T/lint" 2>&1
        check_eq "mandoc -T lint $p: no warning ($(head -n 3 "$T/lint" | tr '\n' ' '))" "0 " "$? $(cat "$T/lint")"
        # style too, but for references to our other pages (found once installed) and a
        # stale manual database of this machine
        check_eq "mandoc -T lint -W style $p: nothing to say" "" \
            "$(mandoc -T lint -W style "$MAN/$p" 2>&1 | grep -v -e 'referenced manual not found' -e 'mandoc.db')"
    done
else
    fail "no mandoc (scripts/install-deps.sh installs it)"
fi
if command -v man >/dev/null 2>&1; then
    for p in $PAGES; do
        MANWIDTH=80 man --warnings -E UTF-8 -l "$MAN/$p" >"$T/page" 2>"$T/groff"
        check_eq "man -l $p renders with groff, without a warning" "" "$(cat "$T/groff")"
        check "man -l $p renders its NAME" grep -q NAME "$T/page"
    done
else
    fail "no man (scripts/install-deps.sh installs man-db)"
fi

# ---- the pages and the programs agree
# options ID: the long options a program's --help lists
options() { "$@" --help | grep -oE '(^|[ ,])--[a-z][a-z0-9-]*' | tr -d ' ,' | sort -u; }
for pair in spool:anon-telemetry-spool.1 tokens:anon-telemetry-tokens.1 \
            ship:anon-telemetry-ship.8 relay:anon-telemetry-relay.8; do
    cmd=$BUILD/anon-telemetry-${pair%%:*} page=$MAN/${pair#*:}
    missing=""
    for o in $(options "$cmd"); do
        grep -qE "Fl ${o#-}([^a-z0-9-]|$)" "$page" || missing="$missing $o"
    done
    check_eq "every option of ${cmd##*/} --help is in ${pair#*:}" "" "$missing"
done
# the shipper's commands: each usage line's command words as .Cm in the page
missing=""
while read -r words; do
    grep -qE "^\\.(It )?Cm $words( |$)" "$MAN/anon-telemetry-ship.8" || missing="$missing [$words]"
done < <("$SHIP_BIN" --help | sed -n 's/^\(usage:\|      \) *anon-telemetry-ship \([a-z][a-z ]*[a-z]\)\( [A-Z(\[].*\)*$/\2/p' |
         sed 's/ *$//' | sort -u)
check_eq "every command of anon-telemetry-ship --help is in its page" "" "$missing"
check_match "the ship page has the delivery policy table" '^\.TS$' "$(cat "$MAN/anon-telemetry-ship.8")"
for row in '^2xx\|' '^400, 422\|' '^413\|' '408, 429, 5xx' 'unreachable: DNS' 'fails verification' \
           'any other answer'; do
    check_match "the policy table has the row '$row'" "$row" "$(sed -n '/^\.TS$/,/^\.TE$/p' "$MAN/anon-telemetry-ship.8")"
done
# every variable the programs read is documented in some page
missing=""
for v in $(grep -rhoE 'getenv\("[A-Za-z_]+"\)' "$ROOT/spool" "$ROOT/shipper" "$ROOT/relay" |
           sed 's/getenv("\(.*\)")/\1/' | sort -u); do
    case $v in HOME|XDG_STATE_HOME) grep -q "$v" "$MAN/anon-telemetry.7" || missing="$missing $v"; continue ;; esac
    grep -qE "Ev .*\\b$v\\b" "$MAN"/*.[1-8] || missing="$missing $v"
done
check_eq "every environment variable the programs read is in a page (Ev)" "" "$missing"
check "ANON_TELEMETRY_LIB (the Python package's) too" grep -q 'Ev ANON_TELEMETRY_LIB' "$MAN/anon-telemetry.7"
# every metric the programs write is in the ship page and the README
missing=""
for m in $(grep -oE 'P "[a-z][a-z_]*[a-z]"' "$ROOT/shipper/metrics.c" | sed 's/P "\(.*\)"/anon_telemetry_\1/' | sort -u); do
    grep -q "$m" "$MAN/anon-telemetry-ship.8" "$MAN/anon-telemetry-relay.8" || missing="$missing man:$m"
    case $m in anon_telemetry_relay_*) grep -q "${m#anon_telemetry_relay}" "$ROOT/README.md" ;;
               *) grep -q "$m" "$ROOT/README.md" ;; esac || missing="$missing README:$m"
done
check_eq "every metric is documented" "" "$missing"
# the overview has the spool's tables, the states and the formats
for t in events dlq runs spool bundles; do
    check "anon-telemetry(7) describes the table $t" grep -q "^\\.It Sy $t\$" "$MAN/anon-telemetry.7"
done
for sec in "THE SPOOL" "THE EVENT" "THE WIRE FORMAT" "THE BUNDLE FORMAT" ENVIRONMENT; do
    check "anon-telemetry(7) has the section $sec" grep -q "^\\.Sh $sec\$" "$MAN/anon-telemetry.7"
done
check_eq "anon-telemetry(7) lists the 38 parameters" 38 \
    "$(sed -n '/^\.Bl -column "customSubstituteInstructionsProvided"/,/^\.El/p' "$MAN/anon-telemetry.7" |
       grep -c '^\.It [a-z][A-Za-z]* Ta ')"
# the C API page names every function of the public header
missing=""
for f in $(grep -oE '\banon_[a-z0-9_]+ *\(' "$ROOT/spool/anon_telemetry.h" | tr -d ' (' | sort -u); do
    grep -q "^\\.Nm $f\\( ,\\)*\$" "$MAN/anon_telemetry.3" || missing="$missing $f"
done
check_eq "anon_telemetry(3) names every function of anon_telemetry.h" "" "$missing"

# ---- the README stands alone
R=$ROOT/README.md
check_match "the README says how to get the code" 'git clone' "$(cat "$R")"
check_match "how to build the Debian packages" 'make deb' "$(cat "$R")"
check_match "how to install them" 'apt install \./build/deb/' "$(cat "$R")"
check_match "and what make uninstall does" '^`make uninstall` removes exactly' "$(cat "$R")"
missing=""
for f in $(grep -oE '`(scripts|tests|man|spool|shipper|relay|schema|debian|python)/[A-Za-z0-9_./-]*`' "$R" |
           tr -d '`' | sort -u); do
    case $f in *\*) continue ;; esac
    [ -e "$ROOT/$f" ] || missing="$missing $f"
done
check_eq "every file the README names is in the repository" "" "$missing"
if command -v promtool >/dev/null 2>&1; then
    awk '/<!-- prometheus-rules/ { r = 1; next } r && /^```yaml$/ { p = 1; next } p && /^```$/ { exit } p' \
        "$R" > "$T/rules.yml"
    check "the README's alert rules are there" test -s "$T/rules.yml"
    promtool check rules "$T/rules.yml" >"$T/rules.out" 2>&1
    check_eq "promtool check rules accepts the README's alerts ($(tr '\n' ' ' < "$T/rules.out"))" 0 $?
else
    fail "no promtool (scripts/install-deps.sh installs Debian's prometheus)"
fi

# ---- nothing in the repository sends a reader to files it does not have (the
# developers' notes live outside it); the names are spelt in pieces so this file passes
notes="DESIGN""\\.md|REFERENCE""\\.md|\\.\\./shared"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    hits=$(cd "$ROOT" && git ls-files -z | xargs -0 grep -lE "$notes" 2>/dev/null | grep -v '^tests/integration/docs.sh$')
    check_eq "no file of the repository names the developers' notes" "" "$hits"
else
    check_eq "no file of the tree names the developers' notes" "" \
        "$(grep -rlE "$notes" "$ROOT" --exclude-dir=build --exclude=docs.sh 2>/dev/null)"
fi
finish
