#!/bin/sh
# Runs every unit test binary and every integration test script, adds up their
# closing "N passed, N failed" lines and ends with the total on one line.
# A suite that crashes, prints no closing line, or checks nothing counts as one failure.
#   tests/run.sh [--unit-only]      ANON_BUILD=build (default)  ANON_VALGRIND=1
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${ANON_BUILD:-build}
export ANON_BUILD=$BUILD
total_p=0
total_f=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

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
    total_p=$((total_p + p))
    total_f=$((total_f + f))
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    if [ "${ANON_VALGRIND:-0}" = 1 ]; then
        run_suite "valgrind ${t##*/}" valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite "$t"
    else
        run_suite "${t##*/}" "$t"
    fi
done

if [ "${1:-}" != "--unit-only" ]; then
    for t in tests/integration/*.sh; do
        [ -f "$t" ] || continue
        run_suite "${t##*/}" bash "$t"
    done
fi

echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
