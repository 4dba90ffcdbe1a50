#!/bin/sh
# demo.sh: the main job end to end, on this machine only (`make demo` runs it after
# building; ANON_BUILD names the build directory). Run directly, it first installs the
# Debian packages that are missing (make and a compiler among them) and builds:
#
#   1. queue sample anonymizer_event events into a fresh demo/spool.db (anon-telemetry-spool;
#      the previous demo's spool and collector log are removed first)
#   2. ship while the collector is down: exit 75, everything kept, no retry spent
#   3. start the local test collector (tests/collector.py) on 127.0.0.1, scripted to
#      reject the first request with HTTP 400, and ship again: the rest is delivered,
#      the rejected batch goes to the dead-letter table
#   4. inspect: status, dlq list, a sqlite3 query of what was sent, what the collector got
#   5. requeue the dead letters (as an operator would once the cause is fixed), ship, status
#   6. the real path: a client posts the envelope exactly as NeMo Anonymizer's own handler
#      does (httpx, json=) to anon-telemetry-relay, the relay spools it (demo/relay.db),
#      the shipper delivers it to a second local collector (demo/collector-relay.log)
#   7. stop the collectors
#
# Nothing leaves the machine: the only endpoint is the collector on 127.0.0.1.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${ANON_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SPOOL_BIN=$BUILD/anon-telemetry-spool
SHIP_BIN=$BUILD/anon-telemetry-ship
RELAY_BIN=$BUILD/anon-telemetry-relay
DEMO=${ANON_DEMO_DIR:-$ROOT/demo}   # the tests point it at a scratch directory
SPOOL=$DEMO/spool.db

# Run directly (not from make) on a bare machine: install what is missing, then build.
if [ -z "${ANON_BUILD:-}" ]; then
    "$ROOT/scripts/install-deps.sh"
    make -s -C "$ROOT" >/dev/null
fi
for b in "$SPOOL_BIN" "$SHIP_BIN"; do
    [ -x "$b" ] || { echo "demo: $b is missing: run 'make demo' (or make first)" >&2; exit 1; }
done
for c in python3 sqlite3; do
    command -v "$c" >/dev/null 2>&1 ||
        { echo "demo: $c is missing: run scripts/install-deps.sh" >&2; exit 1; }
done

# A clean, local environment: the demo's own spool and collector, no proxies, and the
# telemetry switches of the caller's shell do not apply to this loopback-only run.
unset ANON_TELEMETRY_SPOOL NEMO_TELEMETRY_ENABLED NEMO_TELEMETRY_ENDPOINT NEMO_SESSION_PREFIX \
      NEMO_DEPLOYMENT_TYPE http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy \
      NO_PROXY no_proxy

# Bold headings on a terminal only: piped into a file or a log, the text stays plain (and
# NO_COLOR, https://no-color.org, turns them off everywhere).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; then
    BOLD=$(printf '\033[1m') PLAIN=$(printf '\033[0m')
else
    BOLD="" PLAIN=""
fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
show() { printf '$ %s\n' "$*" | sed "s|$ROOT/||g"; }
# run CMD...: shows the command, runs it, shows its exit status; never stops the demo
run() {
    show "$*"
    set +e
    "$@"
    rc=$?
    set -e
    echo "(exit $rc)"
}

collector_pid=""
stop_collector() {
    if [ -n "$collector_pid" ]; then
        kill "$collector_pid" 2>/dev/null || true
        wait "$collector_pid" 2>/dev/null || true
        collector_pid=""
    fi
}
trap stop_collector EXIT
trap 'exit 130' INT TERM

mkdir -p "$DEMO"
chmod 700 "$DEMO"
rm -f "$SPOOL" "$SPOOL-wal" "$SPOOL-shm" "$SPOOL.lock" "$DEMO/collector.log" \
      "$DEMO/collector.port" "$DEMO/collector-script.json"

# ---------------------------------------------------------------- 1. queue
step "1. Queue sample events (as NeMo Anonymizer runs would), into ${SPOOL#$ROOT/}"
ev() {  # ev TASK STATUS TRANSFORMATION RECORDS FAILURES SECONDS
    printf '{"task":"%s","taskStatus":"%s","transformationType":"%s",' "$1" "$2" "$3"
    printf '"numInputRecords":%s,"numSuccessRecords":%s,"numFailureRecords":%s,' "$4" $(($4 - $5)) "$5"
    printf '"jobDurationSec":%s,"entityDetectorModel":"gliner-pii",' "$6"
    printf '"entityValidatorModel":"nemotron-nano","entityAugmenterModel":"nemotron-nano",'
    printf '"modelHosts":["local"],"avgTokensPerRecord":212}\n'
}
{ ev preview completed redact 10 0 4.2; ev batch completed redact 5000 3 812.5
  ev batch error substitute 1200 1200 33.0; } > "$DEMO/session-a.jsonl"
{ ev preview completed rewrite 10 0 9.8; ev batch completed rewrite 800 0 1312.0
  ev batch canceled hash 250 0 12.1; ev batch completed annotate 3000 0 95.4; } > "$DEMO/session-b.jsonl"
run "$SPOOL_BIN" --spool "$SPOOL" --session-id demo-a --client-version 0.1.0 < "$DEMO/session-a.jsonl"
run "$SPOOL_BIN" --spool "$SPOOL" --session-id demo-b --client-version 0.1.0 < "$DEMO/session-b.jsonl"
rm -f "$DEMO/session-a.jsonl" "$DEMO/session-b.jsonl"
run "$SHIP_BIN" status --spool "$SPOOL"

# ---------------------------------------------------------------- 2. offline
step "2. Ship while the collector is down (an offline site): nothing is lost, no retry spent"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run "$SHIP_BIN" --spool "$SPOOL" --endpoint "http://127.0.0.1:$port/v1.1/events/json" --connect-timeout 2
run "$SHIP_BIN" list --spool "$SPOOL"

# ---------------------------------------------------------------- 3. online
step "3. Start the local collector (127.0.0.1, a free port; the first request gets HTTP 400) and ship"
echo '[{"status": 400, "body": "{\"error\": \"demo: rejected on purpose\"}"}]' > "$DEMO/collector-script.json"
python3 "$ROOT/tests/collector.py" --port-file "$DEMO/collector.port" --log "$DEMO/collector.log" \
    --script "$DEMO/collector-script.json" &
collector_pid=$!
i=0
while [ ! -s "$DEMO/collector.port" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$collector_pid" 2>/dev/null; then
        echo "demo: the collector did not start" >&2
        exit 1
    fi
    sleep 0.1
done
port=$(cat "$DEMO/collector.port")
ENDPOINT="http://127.0.0.1:$port/v1.1/events/json"
echo "collector listening at $ENDPOINT (pid $collector_pid)"
run "$SHIP_BIN" --spool "$SPOOL" --endpoint "$ENDPOINT" -v

# ---------------------------------------------------------------- 4. inspect
step "4. Inspect: the operator commands, and sqlite3 on the spool"
run "$SHIP_BIN" status --spool "$SPOOL"
run "$SHIP_BIN" dlq list --spool "$SPOOL"
show "sqlite3 -readonly -box ${SPOOL#$ROOT/} \"SELECT id, session_id, status, retry_count, sent_at, json_extract(parameters, '\$.task') AS task, json_extract(parameters, '\$.taskStatus') AS task_status FROM events ORDER BY id\""
sqlite3 -readonly -box "$SPOOL" "SELECT id, session_id, status, retry_count, sent_at,
    json_extract(parameters, '\$.task') AS task, json_extract(parameters, '\$.taskStatus') AS task_status
    FROM events ORDER BY id"
echo "What the collector received (${DEMO#$ROOT/}/collector.log, one line per request):"
python3 - "$DEMO/collector.log" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    try:
        env = json.loads(r["body"])
        what = "%d event(s), sessionId %s, clientVer %s, cpuArchitecture %s" % (
            len(env["events"]), env["sessionId"], env["clientVer"], env["cpuArchitecture"])
    except (ValueError, KeyError, TypeError):
        what = "%d bytes" % len(r["body"])
    print("  #%d %s %s -> HTTP %s: %s" % (r["n"], r["method"], r["path"], r["status"], what))
EOF

# ---------------------------------------------------------------- 5. requeue
step "5. The operator fixes the cause, requeues the dead letters, and the next run delivers them"
run "$SHIP_BIN" dlq requeue --all --spool "$SPOOL"
run "$SHIP_BIN" --spool "$SPOOL" --endpoint "$ENDPOINT"
run "$SHIP_BIN" status --spool "$SPOOL"
show "sqlite3 -readonly -box ${SPOOL#$ROOT/} 'SELECT * FROM summary'"
sqlite3 -readonly -box "$SPOOL" "SELECT * FROM summary"

# ---------------------------------------------------------------- 6. the relay
step "6. The Anonymizer's handler, unchanged, posting to anon-telemetry-relay; then shipped"
RSPOOL=$DEMO/relay.db
rm -f "$RSPOOL" "$RSPOOL-wal" "$RSPOOL-shm" "$RSPOOL.lock" "$DEMO/relay.err" \
      "$DEMO/collector-relay.log" "$DEMO/collector-relay.port"
# the client needs httpx (python3-httpx): the python3 on PATH if it has it, else Debian's
py=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import httpx' 2>/dev/null; then py=$p; break; fi
done
if [ -z "$py" ] || [ ! -x "$RELAY_BIN" ]; then
    echo "demo: no relay step: it needs $RELAY_BIN and python3-httpx (scripts/install-deps.sh)" >&2
    exit 1
fi
"$RELAY_BIN" --spool "$RSPOOL" --listen 127.0.0.1:0 -v 2>"$DEMO/relay.err" &
relay_pid=$!
collector2_pid=""
trap 'stop_collector; kill $relay_pid $collector2_pid 2>/dev/null || true' EXIT
i=0
while ! grep -q 'listening on' "$DEMO/relay.err" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$relay_pid" 2>/dev/null; then
        echo "demo: the relay did not start: $(cat "$DEMO/relay.err")" >&2
        exit 1
    fi
    sleep 0.05
done
cat "$DEMO/relay.err"
RURL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$DEMO/relay.err")/v1.1/events/json
echo "A site sets one variable and changes no code:"
echo "  export NEMO_TELEMETRY_ENDPOINT=$RURL"
run "$py" "$ROOT/tests/relay_client.py" post --url "$RURL" --events 3 --first 4 --session anonymizer-demo-c
show "sqlite3 -readonly -box ${RSPOOL#$ROOT/} \"SELECT id, session_id, queued_at, json_extract(parameters, '\$.jobDurationSec') AS seconds FROM events\""
sqlite3 -readonly -box "$RSPOOL" "SELECT id, session_id, queued_at,
    json_extract(parameters, '\$.jobDurationSec') AS seconds FROM events"
python3 "$ROOT/tests/collector.py" --port-file "$DEMO/collector-relay.port" \
    --log "$DEMO/collector-relay.log" &
collector2_pid=$!
i=0
while [ ! -s "$DEMO/collector-relay.port" ]; do
    i=$((i + 1))
    [ "$i" -le 100 ] || { echo "demo: the second collector did not start" >&2; exit 1; }
    sleep 0.1
done
run "$SHIP_BIN" --spool "$RSPOOL" \
    --endpoint "http://127.0.0.1:$(cat "$DEMO/collector-relay.port")/v1.1/events/json"
echo "What that collector received (${DEMO#$ROOT/}/collector-relay.log):"
python3 - "$DEMO/collector-relay.log" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    env = json.loads(r["body"])
    print("  %s -> HTTP %s: %d event(s), sessionId %s as the client sent it, jobDurationSec %s"
          % (r["path"], r["status"], len(env["events"]), env["sessionId"],
             [e["parameters"]["jobDurationSec"] for e in env["events"]]))
EOF
kill "$relay_pid" "$collector2_pid" 2>/dev/null || true
wait "$relay_pid" "$collector2_pid" 2>/dev/null || true

# ---------------------------------------------------------------- 7. stop
step "7. Stop the collector"
stop_collector
echo "collector stopped. The spool stays in ${SPOOL#$ROOT/} (git-ignored) for you to explore:"
echo "  $SHIP_BIN status --spool $SPOOL" | sed "s|$ROOT/||g"
echo "  sqlite3 -readonly -box ${SPOOL#$ROOT/} 'SELECT * FROM events'"
