#!/bin/bash
# Writer benchmark: anon-telemetry-spool against the sqlite3 command inserting the same
# rows under the same PRAGMAs (WAL, synchronous=FULL), side by side in one run.
#   1. 5000 events in one call / one sqlite3 transaction
#   2. one event per process call (BENCH_CALLS calls, default 300)
# Ratio = sqlite3 time / our time (>= 0.8 is the target; > 1 means we are faster).
# Each measurement is repeated (BENCH_REPS, default 5) alternating the two; medians are compared.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ANON_BUILD:-build}; case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SPOOL_BIN=$BUILD/anon-telemetry-spool
REPS=${BENCH_REPS:-5}
CALLS=${BENCH_CALLS:-300}
D=$(mktemp -d /tmp/anon-bench.XXXXXX); chmod 700 "$D"
trap 'rm -rf "$D"' EXIT
unset NEMO_TELEMETRY_ENABLED NEMO_SESSION_PREFIX ANON_TELEMETRY_SPOOL

ms() { date +%s%N | cut -b1-13; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"gliner-pii","entityValidatorModel":"validator-a","entityAugmenterModel":"augmenter-b","jobDurationSec":12.5,"modelHosts":["local","nvidia-build"]'
for i in $(seq 1 5000); do printf '{%s,"numInputRecords":%d}\n' "$REQ" "$i"; done > "$D/5000.jsonl"
printf '{%s,"numInputRecords":1}\n' "$REQ" > "$D/1.jsonl"

# The sqlite3 baseline inserts exactly the rows we store: take them from a spool we wrote.
"$SPOOL_BIN" --spool "$D/src/spool.db" --session-id bench --client-version 1.0 < "$D/5000.jsonl" >/dev/null
PRAGMAS="PRAGMA busy_timeout=10000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
{
    echo "$PRAGMAS"
    echo "BEGIN IMMEDIATE;"
    sqlite3 "$D/src/spool.db" "SELECT 'INSERT INTO events (uuid, name, schema_version, session_id, client_version, cpu_architecture, queued_at, parameters, status, retry_count) VALUES (' || quote(lower(hex(randomblob(16)))) || ', ' || quote(name) || ', ' || quote(schema_version) || ', ' || quote(session_id) || ', ' || quote(client_version) || ', ' || quote(cpu_architecture) || ', ' || quote(queued_at) || ', ' || quote(parameters) || ', ''pending'', 0);' FROM events ORDER BY id"
    echo "COMMIT;"
} > "$D/5000.sql"
one_param=$(sqlite3 "$D/src/spool.db" "SELECT quote(parameters) FROM events WHERE id=1")

fresh_sqlite() { mkdir -p "$1"; chmod 700 "$1"; sqlite3 "$1/spool.db" < "$ROOT/schema/spool.sql"; sqlite3 "$1/spool.db" "PRAGMA journal_mode=WAL" >/dev/null; }
fresh_ours() { "$SPOOL_BIN" --spool "$1/spool.db" < "$D/1.jsonl" >/dev/null; }

# ---- 1. 5000 events in one call ----
: > "$D/t_ours"; : > "$D/t_sql"
for r in $(seq 1 "$REPS"); do
    rm -rf "$D/o" "$D/s"; fresh_ours "$D/o"; fresh_sqlite "$D/s"
    t0=$(ms); "$SPOOL_BIN" --spool "$D/o/spool.db" --session-id bench --client-version 1.0 < "$D/5000.jsonl" >/dev/null; t1=$(ms)
    sqlite3 "$D/s/spool.db" < "$D/5000.sql" >/dev/null; t2=$(ms)
    echo $((t1 - t0)) >> "$D/t_ours"; echo $((t2 - t1)) >> "$D/t_sql"
    [ "$(sqlite3 "$D/o/spool.db" 'SELECT count(*) FROM events')" = 5001 ] || { echo "ours stored the wrong count"; exit 1; }
    [ "$(sqlite3 "$D/s/spool.db" 'SELECT count(*) FROM events')" = 5000 ] || { echo "sqlite3 stored the wrong count"; exit 1; }
done
o=$(median < "$D/t_ours"); s=$(median < "$D/t_sql")
echo "5000 events in one call: anon-telemetry-spool ${o} ms, sqlite3 ${s} ms (median of $REPS)"
awk -v s="$s" -v o="$o" 'BEGIN { r = (o > 0 ? s / o : 0); printf "  ratio sqlite3/ours = %.2f (target >= 0.8): %s\n", r, (r >= 0.8 ? "met" : "NOT met") }'

# ---- 2. one event per process call ----
: > "$D/t_ours"; : > "$D/t_sql"
for r in $(seq 1 "$REPS"); do
    rm -rf "$D/o" "$D/s"; fresh_ours "$D/o"; fresh_sqlite "$D/s"
    t0=$(ms)
    for i in $(seq 1 "$CALLS"); do "$SPOOL_BIN" --spool "$D/o/spool.db" --session-id bench --client-version 1.0 < "$D/1.jsonl" >/dev/null; done
    t1=$(ms)
    for i in $(seq 1 "$CALLS"); do
        sqlite3 "$D/s/spool.db" "$PRAGMAS INSERT INTO events (uuid, name, schema_version, session_id, client_version, cpu_architecture, queued_at, parameters, status, retry_count) VALUES (lower(hex(randomblob(16))), 'anonymizer_event', '1.7', 'bench', '1.0', 'x86_64', strftime('%Y-%m-%dT%H:%M:%fZ','now'), $one_param, 'pending', 0);" >/dev/null
    done
    t2=$(ms)
    echo $((t1 - t0)) >> "$D/t_ours"; echo $((t2 - t1)) >> "$D/t_sql"
    [ "$(sqlite3 "$D/o/spool.db" 'SELECT count(*) FROM events')" = $((CALLS + 1)) ] || { echo "ours stored the wrong count"; exit 1; }
    [ "$(sqlite3 "$D/s/spool.db" 'SELECT count(*) FROM events')" = "$CALLS" ] || { echo "sqlite3 stored the wrong count"; exit 1; }
done
o=$(median < "$D/t_ours"); s=$(median < "$D/t_sql")
echo "one event per process, $CALLS calls: anon-telemetry-spool ${o} ms, sqlite3 ${s} ms (median of $REPS)"
awk -v s="$s" -v o="$o" 'BEGIN { r = (o > 0 ? s / o : 0); printf "  ratio sqlite3/ours = %.2f (target >= 0.8): %s\n", r, (r >= 0.8 ? "met" : "NOT met") }'
