#!/bin/bash
# make fuzz: builds each libFuzzer target with clang (ASan + UBSan) into build/fuzz/ and
# runs it for FUZZ_SECONDS (default 60) seconds, starting from the committed seed corpus
# tests/fuzz/corpus/<target>/ (new inputs are kept in build/fuzz/corpus/<target>/).
#   tests/fuzz/run.sh [TARGET...]      targets: event tokens outcome (default: all)
#   FUZZ_SECONDS=N  FUZZ_JOBS=N (parallel workers per target, default 1)  FUZZ_CC=clang
#   tests/fuzz/run.sh --replay [TARGET...]   only run the seed corpus once (a quick check)
# A crash leaves its input in build/fuzz/artifacts/ and makes the run fail; the last line
# sums it up: "fuzz: N targets, N executions, N crashes".
set -u
cd "$(dirname "$0")/../.." || exit 1
CC=${FUZZ_CC:-clang}
SECS=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
OUT=build/fuzz
replay=0
[ "${1:-}" = --replay ] && { replay=1; shift; }
targets=${*:-event tokens outcome}

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz: $CC not found (apt-get install clang)"; exit 1
fi
PKGS="sqlite3 libcurl libcjson"   # word-split on purpose below
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# shellcheck disable=SC2086
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -Ispool -Ishipper \
  -I$OUT/gen $(pkg-config --cflags $PKGS) $SAN"
# shellcheck disable=SC2086
LIBS="$(pkg-config --libs $PKGS) -lpthread -lm"
mkdir -p "$OUT/obj" "$OUT/gen" "$OUT/artifacts"

# The library (and the shipper's outcome.c) instrumented for coverage, rebuilt every run
# (a few seconds; no stale objects after a header or data change).
scripts/embed.sh anon_schema_sql schema/spool.sql > "$OUT/gen/schema_sql.c" || exit 1
objs=""
for src in spool/*.c shipper/outcome.c "$OUT/gen/schema_sql.c"; do
    case $src in spool/cmd_*) continue ;; esac
    o=$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer-no-link -c -o "$o" "$src" || exit 1
    objs="$objs $o"
done

total_execs=0
crashes=0
for t in $targets; do
    src=tests/fuzz/fuzz_$t.c
    bin=$OUT/fuzz_$t
    [ -f "$src" ] || { echo "fuzz: no target $src"; crashes=$((crashes + 1)); continue; }
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer -o "$bin" "$src" $objs $LIBS || exit 1
    seeds=tests/fuzz/corpus/$t
    work=$OUT/corpus/$t
    mkdir -p "$work"
    log=$OUT/fuzz_$t.log
    case $t in
    tokens) maxlen=2048 ;;
    outcome) maxlen=160 ;;
    *) maxlen=4096 ;;
    esac
    start=$(date +%s)
    if [ $replay = 1 ]; then
        "$bin" -runs=0 -print_final_stats=1 "$seeds" > "$log" 2>&1
    else
        par=""
        [ "$JOBS" -gt 1 ] && par="-jobs=$JOBS -workers=$JOBS"
        # shellcheck disable=SC2086
        "$bin" -max_total_time="$SECS" -max_len=$maxlen -print_final_stats=1 \
            -artifact_prefix="$OUT/artifacts/$t-" $par "$work" "$seeds" > "$log" 2>&1
    fi
    rc=$?
    # with -jobs the workers' logs are fuzz-<n>.log in the current directory
    [ "$JOBS" -gt 1 ] && { cat fuzz-*.log >> "$log" 2>/dev/null; rm -f fuzz-*.log; }
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s += $1} END {print s + 0}')
    total_execs=$((total_execs + execs))
    if [ $rc -ne 0 ]; then
        crashes=$((crashes + 1))
        echo "fuzz $t: CRASH (exit $rc) after $execs executions; log $log"
        grep -E 'ERROR|SUMMARY|abort|Test unit written|differs|misread|reference' "$log" | head -n 20
    else
        echo "fuzz $t: $execs executions in $(( $(date +%s) - start ))s, no crash" \
             "(corpus: $(find "$work" -type f | wc -l) new + $(find "$seeds" -type f | wc -l) seeds)"
    fi
done
n=$(echo "$targets" | wc -w)
echo "fuzz: $n targets, $total_execs executions, $crashes crashes"
[ $crashes -eq 0 ]
