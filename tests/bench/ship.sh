#!/bin/bash
# tests/bench/ship.sh: the shipper against the local collector (tests/collector.py), in
# one run. Prints figures and ratios; not a timed test.
#   1. drain 100,000 events (2,000 sessions of 50): events/s
#   2. peak RSS draining 1,000,000 pending rows against 10,000 (target: within 1.5x)
#   3. --parallel 8 against --parallel 1, the collector answering after 20 ms (target: >= 5x)
#   4. a run on an empty spool against `sqlite3 SELECT count(*)` of it (target: <= 2x)
#   5. drain 1,000,000 events due for retry (after a 5xx outage) against 1,000,000 fresh
#      ones (target: >= 0.8x the fresh rate)
# Rows are generated with sqlite3 SQL (a recursive CTE), each with the parameters of one
# event appended by anon-telemetry-spool.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${ANON_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SHIP=$BUILD/anon-telemetry-ship
SPOOL=$BUILD/anon-telemetry-spool
T=$(mktemp -d "${TMPDIR:-/tmp}/anon-bench.XXXXXX")
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$T"' EXIT
unset NEMO_TELEMETRY_ENABLED NEMO_TELEMETRY_ENDPOINT NEMO_SESSION_PREFIX ANON_TELEMETRY_SPOOL \
      http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy

now_s() { date +%s.%N; }
ratio() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }

# collector NAME DEFAULT-JSON: starts a collector logging nothing; sets URL
collector() {
    python3 "$ROOT/tests/collector.py" --port-file "$T/port.$1" --log /dev/null \
        --default "$2" 2>/dev/null &
    pids="$pids $!"
    for _ in $(seq 1 100); do [ -s "$T/port.$1" ] && break; sleep 0.1; done
    URL=http://127.0.0.1:$(cat "$T/port.$1")/v1
}

# One real event, to copy its parameters.
printf '{"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"gliner","entityValidatorModel":"v","entityAugmenterModel":"a","numInputRecords":1000,"jobDurationSec":12.5}\n' |
    "$SPOOL" --spool "$T/seed.db" --session-id seed >/dev/null || { echo "cannot queue an event"; exit 1; }

# make_spool PATH ROWS PER_SESSION: a spool of ROWS pending events
make_spool() {
    rm -f "$1" "$1-wal" "$1-shm" "$1.lock"
    cp "$T/seed.db" "$1"
    rm -f "$T/seed.db-wal" "$T/seed.db-shm" 2>/dev/null
    sqlite3 "$1" >/dev/null <<EOF
PRAGMA journal_mode=DELETE;
PRAGMA synchronous=OFF;
CREATE TEMP TABLE seed AS SELECT parameters, queued_at, cpu_architecture FROM events LIMIT 1;
DELETE FROM events;
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $2)
INSERT INTO events (uuid, name, schema_version, session_id, client_version, cpu_architecture,
                    queued_at, parameters)
SELECT printf('00000000-0000-4000-8000-%012d', i), 'anonymizer_event', '1.7',
       printf('bench-%07d', (i - 1) / $3), 'undefined', seed.cpu_architecture,
       seed.queued_at, seed.parameters
  FROM seq, seed;
PRAGMA journal_mode=WAL;
EOF
}

pending() { sqlite3 "$1" "SELECT count(*) FROM events WHERE status != 'sent'"; }

# peak_rss_kb CMD...: runs CMD, prints its peak RSS in kB (getrusage of the child)
peak_rss_kb() {
    python3 - "$@" <<'EOF'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
EOF
}

collector fast '{"status": 200}'
FAST=$URL

# ---- 1. throughput
make_spool "$T/t.db" 100000 50
t0=$(now_s)
"$SHIP" --spool "$T/t.db" --endpoint "$FAST" --now
rc=$?
t1=$(now_s)
left=$(pending "$T/t.db")
secs=$(python3 -c "print('%.2f' % ($t1 - $t0))")
echo "drain 100,000 events (2,000 sessions of 50): ${secs} s, $(python3 -c "print(int(100000 / ($t1 - $t0)))") events/s (exit $rc, $left left)"

# ---- 2. peak RSS: 1,000,000 pending rows against 10,000
make_spool "$T/small.db" 10000 50
make_spool "$T/big.db" 1000000 50
rss_small=$(peak_rss_kb "$SHIP" --spool "$T/small.db" --endpoint "$FAST" --now --parallel 8)
t0=$(now_s)
rss_big=$(peak_rss_kb "$SHIP" --spool "$T/big.db" --endpoint "$FAST" --now --parallel 8)
t1=$(now_s)
echo "peak RSS draining 10,000 rows: ${rss_small} kB ($(pending "$T/small.db") left)"
echo "peak RSS draining 1,000,000 rows: ${rss_big} kB ($(pending "$T/big.db") left, $(python3 -c "print('%.0f' % ($t1 - $t0))") s)"
echo "peak RSS ratio 1,000,000 / 10,000: $(ratio "$rss_big" "$rss_small")x (target: <= 1.5x)"
rm -f "$T"/big.db*

# ---- 3. --parallel 8 against --parallel 1, answers after 20 ms
collector slow '{"status": 200, "delay": 0.02}'
make_spool "$T/p1.db" 300 1
make_spool "$T/p8.db" 300 1
t0=$(now_s); "$SHIP" --spool "$T/p1.db" --endpoint "$URL" --parallel 1; t1=$(now_s)
t2=$(now_s); "$SHIP" --spool "$T/p8.db" --endpoint "$URL" --parallel 8; t3=$(now_s)
p1=$(python3 -c "print('%.3f' % ($t1 - $t0))")
p8=$(python3 -c "print('%.3f' % ($t3 - $t2))")
echo "300 sessions of 1 event, 20 ms answers: --parallel 1 ${p1} s, --parallel 8 ${p8} s ($(pending "$T/p1.db")+$(pending "$T/p8.db") left)"
echo "speed-up --parallel 8 / --parallel 1: $(ratio "$p1" "$p8")x (target: >= 5x)"

# ---- 4. a run on an empty spool against sqlite3 SELECT count(*)
make_spool "$T/e.db" 1 1
sqlite3 "$T/e.db" "DELETE FROM events" >/dev/null
N=50
t0=$(now_s)
for _ in $(seq 1 $N); do "$SHIP" --spool "$T/e.db" --endpoint "$FAST"; done
t1=$(now_s)
for _ in $(seq 1 $N); do sqlite3 "$T/e.db" "SELECT count(*) FROM events" >/dev/null; done
t2=$(now_s)
ship_ms=$(python3 -c "print('%.2f' % (($t1 - $t0) * 1000 / $N))")
sql_ms=$(python3 -c "print('%.2f' % (($t2 - $t1) * 1000 / $N))")
echo "empty spool: a shipper run ${ship_ms} ms, sqlite3 SELECT count(*) ${sql_ms} ms"
echo "empty-run cost ratio: $(ratio "$ship_ms" "$sql_ms")x (target: <= 2x)"

# ---- 5. draining 1,000,000 due retries against 1,000,000 fresh events
# The retries as a 5xx outage leaves them: each batch of 50 got one next attempt (the
# shipper draws the jitter once per batch), the batches spread over a quarter of an hour.
make_spool "$T/fresh.db" 1000000 50
make_spool "$T/retry.db" 1000000 50
sqlite3 "$T/retry.db" "UPDATE events SET retry_count = 1, last_error = 'HTTP 503',
    next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-20 minutes',
                               '+' || ((id - 1) / 50 % 900) || ' seconds');
    PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
t0=$(now_s); "$SHIP" --spool "$T/fresh.db" --endpoint "$FAST" --parallel 8; t1=$(now_s)
t2=$(now_s); "$SHIP" --spool "$T/retry.db" --endpoint "$FAST" --parallel 8; t3=$(now_s)
fresh=$(python3 -c "print(int(1000000 / ($t1 - $t0)))")
retry=$(python3 -c "print(int(1000000 / ($t3 - $t2)))")
echo "drain 1,000,000 fresh events: $fresh events/s ($(pending "$T/fresh.db") left)"
echo "drain 1,000,000 due retries: $retry events/s ($(pending "$T/retry.db") left)"
echo "due retries / fresh: $(ratio "$retry" "$fresh")x (target: >= 0.8x)"
rm -f "$T"/fresh.db* "$T"/retry.db*
