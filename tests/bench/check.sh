#!/bin/bash
# tests/bench/check.sh: what a shipper run with nothing to send costs on a large spool,
# against `sqlite3 SELECT count(*)` of the same spool, side by side in one run (issue 12,
# item 16; target: <= 2x). A run makes the full check (PRAGMA quick_check, every page)
# once a day and a cheap one otherwise (spool/check.c); the full one is measured too, as
# every run used to make it.
#   BENCH_CHECK_ROWS   rows in the large spool (default 1,000,000: about 1.4 GB)
#   BENCH_CHECK_REPS   timed runs of each (default 5; the median is compared)
# Two spools of that size: a backlog waiting for its retry (pending, due in an hour), and
# a day's sent events (kept for --keep-sent).
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${ANON_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SHIP=$BUILD/anon-telemetry-ship
SPOOL=$BUILD/anon-telemetry-spool
ROWS=${BENCH_CHECK_ROWS:-1000000}
REPS=${BENCH_CHECK_REPS:-5}
T=$(mktemp -d "${TMPDIR:-/tmp}/anon-bench.XXXXXX")
chmod 700 "$T"
trap 'rm -rf "$T"' EXIT
unset NEMO_TELEMETRY_ENABLED NEMO_TELEMETRY_ENDPOINT NEMO_SESSION_PREFIX ANON_TELEMETRY_SPOOL

now_s() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ts_in() { python3 -c "import datetime,sys; t=datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(seconds=float(sys.argv[1])); print(t.strftime('%Y-%m-%dT%H:%M:%S.')+'%03dZ'%(t.microsecond//1000))" "$1"; }
# time_ms CMD...: wall time of CMD in ms (its output dropped)
time_ms() {
    local t0 t1
    t0=$(now_s); "$@" >/dev/null 2>&1; t1=$(now_s)
    python3 -c "print('%.1f' % (($t1 - $t0) * 1000))"
}

printf '{"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"gliner","entityValidatorModel":"v","entityAugmenterModel":"a","numInputRecords":1000,"jobDurationSec":12.5}\n' |
    "$SPOOL" --spool "$T/seed.db" --session-id seed >/dev/null || { echo "cannot queue an event"; exit 1; }

# make_spool PATH STATUS NEXT_ATTEMPT SENT_AT: ROWS rows of one event's parameters
make_spool() {
    cp "$T/seed.db" "$1"
    sqlite3 "$1" >/dev/null <<EOF
PRAGMA journal_mode=DELETE;
PRAGMA synchronous=OFF;
CREATE TEMP TABLE seed AS SELECT parameters, queued_at, cpu_architecture FROM events LIMIT 1;
DELETE FROM events;
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $ROWS)
INSERT INTO events (uuid, name, schema_version, session_id, client_version, cpu_architecture,
                    queued_at, parameters, status, retry_count, next_attempt_at, sent_at)
SELECT printf('00000000-0000-4000-8000-%012d', i), 'anonymizer_event', '1.7',
       printf('bench-%07d', (i - 1) / 50), 'undefined', seed.cpu_architecture,
       seed.queued_at, seed.parameters, '$2', $3, $4, $5
  FROM seq, seed;
PRAGMA journal_mode=WAL;
EOF
}

bench() {  # bench NAME SPOOL
    local s=$2 c l f first
    "$SHIP" --spool "$s" --endpoint http://127.0.0.1:9/ >/dev/null 2>&1   # WAL settled
    first=$(time_ms "$SHIP" --spool "$s" --endpoint http://127.0.0.1:9/)
    : > "$T/t.count"; : > "$T/t.light"; : > "$T/t.full"
    for _ in $(seq 1 "$REPS"); do
        time_ms sqlite3 "$s" "SELECT count(*) FROM events" >> "$T/t.count"
        time_ms "$SHIP" --spool "$s" --endpoint http://127.0.0.1:9/ >> "$T/t.light"
        rm -f "$s.lock"    # no record: the full check, as every run used to
        time_ms "$SHIP" --spool "$s" --endpoint http://127.0.0.1:9/ >> "$T/t.full"
    done
    c=$(median < "$T/t.count"); l=$(median < "$T/t.light"); f=$(median < "$T/t.full")
    echo "$1 ($(du -m "$s" | cut -f1) MiB, $ROWS rows, median of $REPS):"
    echo "  sqlite3 SELECT count(*) ${c} ms; a shipper run with nothing due ${l} ms (the cheap check)," \
         "${f} ms (with the full check, once a day; every run before)"
    python3 -c "
c, l, f = $c, $l, $f
print('  empty-run cost ratio: %.2fx count(*) (target: <= 2x): %s; with the full check %.2fx' %
      (l / c, 'met' if l <= 2 * c else 'NOT met', f / c))"
}

make_spool "$T/backlog.db" pending 1 "'$(ts_in 3600)'" NULL
bench "a backlog waiting for its retry" "$T/backlog.db"
rm -f "$T"/backlog.db*
make_spool "$T/sent.db" sent 0 NULL "'$(ts_in -3600)'"
bench "a day's sent events" "$T/sent.db"
