#!/bin/sh
# Runs every unit test binary and every integration test script, adds up their
# closing "N passed, N failed" lines and ends with the total on one line.
# A suite that crashes, prints no closing line, or checks nothing counts as one failure.
#   tests/run.sh [--unit-only] [--suite NAME]...    ANON_BUILD=build (default)  ANON_VALGRIND=1
# --suite (make test SUITE=NAME) runs only the unit binary or integration script of that
# name: test_spool or spool.sh exactly, or spool for both; several names may be given
# (repeated, or separated by spaces or commas). A name that matches nothing is an error
# (exit 64, nothing run), never an empty green run.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${ANON_BUILD:-build}
export ANON_BUILD=$BUILD

unit_only=0
names=""
# add_names VALUE: the words of one --suite value; only name characters, so that no word
# is ever expanded as a file pattern
add_names() {
    case $1 in *[!A-Za-z0-9_.,\ -]*|'') echo "run.sh: --suite '$1' is not a suite name" >&2; exit 64 ;; esac
    names="$names $(printf '%s' "$1" | tr ',' ' ')"
    case $names in *[!\ ]*) ;; *) echo "run.sh: --suite '$1' is not a suite name" >&2; exit 64 ;; esac
}
while [ $# -gt 0 ]; do
    case $1 in
    --unit-only) unit_only=1; shift ;;
    --suite) [ $# -ge 2 ] || { echo "run.sh: --suite needs a name" >&2; exit 64; }
             add_names "$2"; shift 2 ;;
    --suite=*) add_names "${1#--suite=}"; shift ;;
    *) echo "run.sh: unknown argument '$1' (use --unit-only, --suite NAME)" >&2; exit 64 ;;
    esac
done

# matches NAME FILE: NAME names FILE (test_x or x for a unit binary, x.sh or x for a script)
matches() {
    b=${2##*/}
    [ "$1" = "$b" ] || [ "test_$1" = "$b" ] || [ "$1.sh" = "$b" ]
}
# selected FILE: no --suite given, or one of the names names FILE
selected() {
    [ -n "$names" ] || return 0
    for n in $names; do matches "$n" "$1" && return 0; done
    return 1
}
# Every name must name a suite that is there (a built unit binary; an integration script
# unless --unit-only), checked before anything runs.
for n in $names; do
    found=0 all=""
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        all="$all ${t##*/}"; matches "$n" "$t" && found=1
    done
    if [ "$unit_only" = 0 ]; then
        for t in tests/integration/*.sh; do
            [ -f "$t" ] || continue
            all="$all ${t##*/}"; matches "$n" "$t" && found=1
        done
    fi
    if [ "$found" = 0 ]; then
        echo "run.sh: no suite named '$n'; there are:${all:- none}" >&2
        exit 64
    fi
done
total_p=0
total_f=0
log=$(mktemp)
replaced_log=$(mktemp)
trap 'rm -f "$log" "$replaced_log"' EXIT

run_suite() {
    name=$1; shift
    start=$(date +%s)
    "$@" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        p=0; f=1
        echo "== $name: no result line (exit $rc)"
        tail -n 20 "$log"
    else
        p=${line%% passed*}
        f=${line#*, }; f=${f%% failed*}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "== $name: exit $rc"; fi
        # a suite that checked nothing proves nothing
        if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "== $name: no checks ran"; fi
        if [ "$f" -ne 0 ]; then grep -v -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 40; fi
        echo "== $name: $line ($(( $(date +%s) - start ))s)"
    fi
    # checks the suite could not make here, and what stood in for them (lib.sh's replaced)
    grep '^REPLACED ' "$log" | sed 's/^REPLACED /   replaced: /' | tee -a "$replaced_log"
    total_p=$((total_p + p))
    total_f=$((total_f + f))
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    selected "$t" || continue
    if [ "${ANON_VALGRIND:-0}" = 1 ]; then
        run_suite "valgrind ${t##*/}" valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite "$t"
    else
        run_suite "${t##*/}" "$t"
    fi
done

if [ "$unit_only" = 0 ]; then
    for t in tests/integration/*.sh; do
        [ -f "$t" ] || continue
        selected "$t" || continue
        run_suite "${t##*/}" bash "$t"
    done
fi

if [ -s "$replaced_log" ]; then
    echo "== $(wc -l < "$replaced_log" | tr -d ' ') suite note(s) above say which checks were replaced here, and by what"
fi
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
