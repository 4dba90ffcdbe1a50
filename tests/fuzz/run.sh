#!/bin/bash
# make fuzz: builds each libFuzzer target tests/fuzz/fuzz_<name>.c with clang (ASan + UBSan)
# and runs it for FUZZ_SECONDS (default 60) seconds, starting from the committed seed corpus
# tests/fuzz/corpus/<name>/ (new inputs are kept in $FUZZ_OUT/corpus/<name>/).
#   tests/fuzz/run.sh [TARGET...]      targets: every tests/fuzz/fuzz_*.c (default: all)
#   tests/fuzz/run.sh --replay [TARGET...]   runs every seed once (make test does, through
#                                      tests/integration/fuzz_replay.sh)
#   FUZZ_SECONDS=N  FUZZ_JOBS=N (parallel workers per target, default 1)  FUZZ_CC=clang
#   FUZZ_OUT=DIR (build/fuzz)  FUZZ_SRC=DIR (tests/fuzz: the targets and corpus/ in it)
# A new target is picked up by its file name; the library (spool/), the shipper's and the
# relay's sources (shipper/, relay/; not their main programs) are linked from one archive,
# so a target may call any of them.
# A crash (or leak, or undefined behaviour) makes the run fail: its input is left in
# $FUZZ_OUT/artifacts/ and printed in base64 (a CI log is all that is left of a CI
# machine), to be committed as tests/fuzz/corpus/<name>/crash-<sha1> with the fix. The
# last line sums it up: "fuzz: N targets, N executions, N crashes".
set -u
cd "$(dirname "$0")/../.." || exit 1
CC=${FUZZ_CC:-clang}
SECS=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
OUT=${FUZZ_OUT:-build/fuzz}
SRC=${FUZZ_SRC:-tests/fuzz}
replay=0
[ "${1:-}" = --replay ] && { replay=1; shift; }
if [ $# -gt 0 ]; then
    targets=$*
else
    targets=""
    for f in "$SRC"/fuzz_*.c; do
        [ -f "$f" ] || continue
        f=${f##*/fuzz_}
        targets="$targets ${f%.c}"
    done
fi
[ -n "$targets" ] || { echo "fuzz: no targets in $SRC"; exit 1; }

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz: $CC not found (scripts/install-deps.sh installs clang)"; exit 1
fi
PKGS="sqlite3 libcurl libcjson"
for p in libmicrohttpd libcrypto; do   # the relay's and the bundles' when they are there
    pkg-config --exists "$p" 2>/dev/null && PKGS="$PKGS $p"
done
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# shellcheck disable=SC2086
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -Ispool -Ishipper \
  -I$OUT/gen $(pkg-config --cflags $PKGS) $SAN"
# shellcheck disable=SC2086
LIBS="$(pkg-config --libs $PKGS) -lpthread -lm -ldl"
mkdir -p "$OUT/obj" "$OUT/gen" "$OUT/artifacts" || exit 1

# Everything instrumented for coverage, into one archive: a target links what it uses.
# Rebuilt whole when any source, header, data or schema file (or this script) is newer
# than the archive: no stale object after a header or data change.
if [ ! -f "$OUT/libfuzz.a" ] ||
   [ -n "$(find spool shipper relay schema tests/fuzz/run.sh -newer "$OUT/libfuzz.a" -type f \
           2>/dev/null | head -n 1)" ]; then
    rm -f "$OUT"/obj/*.o "$OUT/libfuzz.a"
    scripts/embed.sh anon_schema_sql schema/spool.sql > "$OUT/gen/schema_sql.c" || exit 1
    # shellcheck disable=SC2046
    scripts/embed.sh --steps anon_migrations $(ls schema/migrations/*.sql 2>/dev/null | sort) \
        > "$OUT/gen/migrations.c" || exit 1
    objs=""
    for src in spool/*.c shipper/*.c relay/*.c "$OUT/gen/schema_sql.c" "$OUT/gen/migrations.c"; do
        [ -f "$src" ] || continue
        case $src in spool/cmd_*) continue ;; esac
        grep -q '^int main(' "$src" && continue   # a command's main program
        o=$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
        # shellcheck disable=SC2086
        $CC $CFLAGS -Irelay -fsanitize=fuzzer-no-link -c -o "$o" "$src" ||
            { echo "fuzz: cannot compile $src"; exit 1; }
        objs="$objs $o"
    done
    # shellcheck disable=SC2086
    ar rcs "$OUT/libfuzz.a.tmp" $objs && mv "$OUT/libfuzz.a.tmp" "$OUT/libfuzz.a" || exit 1
fi

total_execs=0
crashes=0
for t in $targets; do
    src=$SRC/fuzz_$t.c
    bin=$OUT/fuzz_$t
    [ -f "$src" ] || { echo "fuzz: no target $src"; crashes=$((crashes + 1)); continue; }
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer -o "$bin" "$src" "$OUT/libfuzz.a" $LIBS ||
        { echo "fuzz $t: cannot build $src"; crashes=$((crashes + 1)); continue; }
    seeds=$SRC/corpus/$t
    work=$OUT/corpus/$t
    mkdir -p "$work" "$seeds"
    log=$OUT/fuzz_$t.log
    case $t in
    tokens) maxlen=2048 ;;
    outcome) maxlen=160 ;;
    bundle) maxlen=16384 ;;   # a bundle line holds whole events (~1 KiB each)
    *) maxlen=4096 ;;
    esac
    start=$(date +%s)
    nseeds=$(find "$seeds" -type f | wc -l)
    if [ $replay = 1 ]; then
        # each seed once, as a file of its own: every one runs, whatever its size
        find "$seeds" -type f -print0 | sort -z |
            xargs -0 -r "$bin" -artifact_prefix="$OUT/artifacts/$t-" > "$log" 2>&1
        rc=$?
        execs=$(grep -c '^Executed ' "$log")
    else
        par=""
        [ "$JOBS" -gt 1 ] && par="-jobs=$JOBS -workers=$JOBS"
        # shellcheck disable=SC2086
        "$bin" -max_total_time="$SECS" -max_len=$maxlen -print_final_stats=1 \
            -artifact_prefix="$OUT/artifacts/$t-" $par "$work" "$seeds" > "$log" 2>&1
        rc=$?
        # with -jobs the workers' logs are fuzz-<n>.log in the current directory
        [ "$JOBS" -gt 1 ] && { cat fuzz-*.log >> "$log" 2>/dev/null; rm -f fuzz-*.log; }
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s += $1} END {print s + 0}')
    fi
    total_execs=$((total_execs + execs))
    if [ $rc -ne 0 ]; then
        crashes=$((crashes + 1))
        echo "fuzz $t: CRASH (exit $rc) after $execs executions; log $log"
        grep -E 'ERROR|SUMMARY|runtime error|abort|Test unit written|differs|misread|reference' "$log" | head -n 20
        # the input: what libFuzzer wrote out, else (a replay) the seed it was running
        inputs=$(sed -n 's/.*Test unit written to //p' "$log")
        [ -n "$inputs" ] || inputs=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
        for a in $inputs; do
            [ -f "$a" ] || continue
            sum=$(sha1sum < "$a" | cut -c1-40)
            echo "fuzz $t: the input is $a; commit it as $seeds/crash-$sum with the fix" \
                 "(base64 below: base64 -d > FILE):"
            base64 < "$a" | head -c 65536
            echo
        done
    elif [ $replay = 1 ]; then
        echo "fuzz $t: replayed $execs of $nseeds seeds in $(( $(date +%s) - start ))s, no crash"
    else
        echo "fuzz $t: $execs executions in $(( $(date +%s) - start ))s, no crash" \
             "(corpus: $(find "$work" -type f | wc -l) new + $nseeds seeds)"
    fi
done
n=$(echo "$targets" | wc -w)
echo "fuzz: $n targets, $total_execs executions, $crashes crashes"
[ $crashes -eq 0 ]
