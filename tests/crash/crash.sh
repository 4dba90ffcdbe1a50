#!/bin/bash
# The crash suite: writers and shippers run against the local collector while this driver
# kills them with SIGKILL at random moments. An oracle ledger records every event whose
# append reported success; at the end every such event must be exactly one of: received
# by the collector (answered 2xx, at least once), still pending, or in the dlq with a
# reason. Prints the figures; exits non-zero when an event was lost or the spool is damaged.
#
# The relay is in it too: clients post envelopes (with their uuids in
# Anon-Telemetry-Event-Ids) to anon-telemetry-relay on the same spool, and every event
# answered 200 joins the ledger; the driver kills the relay too, and it is started again.
#
#   tests/crash/crash.sh [ITERATIONS]     (make crash CRASH_ARGS=1000; default 500)
#   CRASH_WRITERS=4 CRASH_SHIPPERS=2 CRASH_RELAY_CLIENTS=2 (0: no relay) CRASH_SEED=N
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ANON_BUILD:-build}; case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SPOOL_BIN=$BUILD/anon-telemetry-spool
SHIP_BIN=$BUILD/anon-telemetry-ship
ITER=${1:-500}
WRITERS=${CRASH_WRITERS:-4}
SHIPPERS=${CRASH_SHIPPERS:-2}
RELAY_CLIENTS=${CRASH_RELAY_CLIENTS:-2}
RELAY_BIN=$BUILD/anon-telemetry-relay
RANDOM=${CRASH_SEED:-$$}
W=$(mktemp -d /tmp/anon-crash.XXXXXX); chmod 700 "$W"
DB=$W/spool/spool.db
unset NEMO_TELEMETRY_ENABLED NEMO_SESSION_PREFIX NEMO_TELEMETRY_ENDPOINT ANON_TELEMETRY_SPOOL \
      http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
collector=""
cleanup() {
    touch "$W/stop"
    [ -s "$W/relay.pid" ] && kill -9 "$(cat "$W/relay.pid")" 2>/dev/null
    pkill -9 -f -- "--spool $DB" 2>/dev/null
    [ -n "$collector" ] && kill "$collector" 2>/dev/null
    wait 2>/dev/null
    [ "${CRASH_KEEP:-0}" = 1 ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
start_s=$(date +%s)

# ---- the collector: answers slowly enough that kills land mid-request ----
python3 "$ROOT/tests/collector.py" --port-file "$W/port" --log "$W/requests.jsonl" \
    --default '{"status": 200, "delay": 0.02}' &
collector=$!
for _ in $(seq 1 100); do [ -s "$W/port" ] && break; sleep 0.05; done
[ -s "$W/port" ] || { echo "crash: the collector did not start"; exit 1; }
URL="http://127.0.0.1:$(cat "$W/port")/v1/events/json"
control() { curl -s -o /dev/null -X POST --data "$2" "${URL%/v1/events/json}/_control/$1"; }

REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"d","entityValidatorModel":"v","entityAugmenterModel":"a"'
"$SPOOL_BIN" --spool "$DB" --session-id init < /dev/null 2>/dev/null   # nothing: empty input
printf '{%s,"numInputRecords":0}\n' "$REQ" | "$SPOOL_BIN" --spool "$DB" --session-id init > "$W/init.uuid" ||
    { echo "crash: cannot create the spool"; exit 1; }
printf '%s 0\n' "$(cat "$W/init.uuid")" > "$W/ledger.0"

# ---- writers: each call appends 1-20 events with unique serials (numInputRecords) ----
writer() {
    local w=$1 k=0 n out
    while [ ! -e "$W/stop" ]; do
        n=$((RANDOM % 20 + 1))
        seq $((w * 10000000 + k + 1)) $((w * 10000000 + k + n)) |
            sed "s/.*/{$REQ,\"numInputRecords\":&}/" > "$W/in.$w"
        k=$((k + n))
        # the session varies so batches mix envelope groups
        if out=$("$SPOOL_BIN" --spool "$DB" --session-id "s$((k % 7))" --client-version "w$w" < "$W/in.$w" 2>>"$W/writer.err"); then
            # acknowledged: the i-th uuid printed is the i-th serial queued
            paste -d' ' <(printf '%s\n' "$out") <(sed 's/.*"numInputRecords":\([0-9]*\)}/\1/' "$W/in.$w") >> "$W/ledger.$w"
        fi
    done
}
shipper() {
    while [ ! -e "$W/stop" ]; do
        "$SHIP_BIN" --spool "$DB" --endpoint "$URL" --now --batch-size 5 --parallel 2 \
            --timeout 2 --connect-timeout 1 >/dev/null 2>>"$W/shipper.err"
        echo $? >> "$W/shipper.rc"
        sleep 0.0$((RANDOM % 5))
    done
}
# (the loops' own stderr is dropped: bash reports each SIGKILLed child there)
for w in $(seq 1 "$WRITERS"); do writer "$w" 2>/dev/null & done
for s in $(seq 1 "$SHIPPERS"); do shipper "$s" 2>/dev/null & done

# ---- the relay (started again whenever it dies) and its clients ----
RPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
relay_loop() {
    while [ ! -e "$W/stop" ]; do
        "$RELAY_BIN" --spool "$DB" --listen "127.0.0.1:$RPORT" 2>>"$W/relay.err" &
        echo $! > "$W/relay.pid"
        wait $!
        sleep 0.02
    done
}
# a client: envelopes of 1-20 events with unique serials and their own uuids; an event
# joins the ledger only when the relay answered 200
cat > "$W/relay_client.py" <<'EOF_PY'
import http.client, json, os, random, sys, time, uuid
port, ledger, stop, base = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
req = {"task": "batch", "taskStatus": "completed", "transformationType": "redact",
       "entityDetectorModel": "d", "entityValidatorModel": "v", "entityAugmenterModel": "a"}
k = 0
with open(ledger, "a") as out:
    while not os.path.exists(stop):
        n = random.randint(1, 20)
        serials = list(range(base + k + 1, base + k + n + 1))
        k += n
        ids = [str(uuid.uuid4()) for _ in serials]
        env = {"clientVer": "relay", "cpuArchitecture": "x86_64", "eventSchemaVer": "1.7",
               "sessionId": "r%d" % (k % 5),
               "events": [{"ts": "2026-05-11T12:00:00.000Z", "name": "anonymizer_event",
                           "parameters": dict(req, numInputRecords=s)} for s in serials]}
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("POST", "/v1.1/events/json", json.dumps(env),
                      {"Content-Type": "application/json",
                       "Anon-Telemetry-Event-Ids": ",".join(ids)})
            r = c.getresponse()
            r.read()
            c.close()
        except (OSError, http.client.HTTPException):
            time.sleep(0.02)
            continue
        if r.status == 200:
            out.write("".join("%s %d\n" % (u, s) for u, s in zip(ids, serials)))
            out.flush()
EOF_PY
kills_r=0
if [ "$RELAY_CLIENTS" -gt 0 ]; then
    relay_loop 2>/dev/null &
    for c in $(seq 1 "$RELAY_CLIENTS"); do
        python3 "$W/relay_client.py" "$RPORT" "$W/ledger.relay$c" "$W/stop" $((600000000 + c * 10000000)) 2>/dev/null &
    done
fi

# ---- the driver ----
# A writer call lasts milliseconds, so a writer found by pgrep is rare. On a writer turn
# the driver therefore starts an append of its own (1000 events) and kills it at a random
# moment within the time such an append takes here (measured first): before, during or
# just after its transaction. An append that finished first is acknowledged like any
# other. On a shipper turn it kills a running shipper.
seq 900000001 900001000 | sed "s/.*/{$REQ,\"numInputRecords\":&}/" > "$W/driver.in"
kills_w=0; kills_s=0; misses=0; d=0
driver_writer() {   # driver_writer MAX_MS (0: no kill)
    d=$((d + 1))
    # unique serials for this call: the template's 90000xxxx become 9<call><xxxx>
    sed "s/\"numInputRecords\":90000\([0-9]*\)}/\"numInputRecords\":9$(printf '%05d' "$d")\1}/" "$W/driver.in" > "$W/driver.$d"
    "$SPOOL_BIN" --spool "$DB" --session-id "drv$((d % 5))" < "$W/driver.$d" > "$W/driver.out" 2>>"$W/writer.err" &
    local pid=$!
    if [ "$1" -gt 0 ]; then
        sleep "$(printf '0.%03d' $((RANDOM % $1 + 1)))"
        if kill -9 "$pid" 2>/dev/null; then kills_w=$((kills_w + 1)); fi
    fi
    if wait "$pid" 2>/dev/null; then
        paste -d' ' "$W/driver.out" <(sed 's/.*"numInputRecords":\([0-9]*\)}/\1/' "$W/driver.$d") >> "$W/ledger.driver"
    fi
    rm -f "$W/driver.$d"
}
t0=$(date +%s%N); driver_writer 0; append_ms=$(( ($(date +%s%N) - t0) / 1000000 + 1 ))
[ "$append_ms" -le 999 ] || append_ms=999
for it in $(seq 1 "$ITER"); do
    sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
    # now and then the collector fails for a while (and rejects a batch), so retries and
    # the dlq are exercised
    [ $((it % 50)) = 25 ] && control script '[{"status": 503, "repeat": 3}, {"status": 429, "retry_after": "1"}, {"status": 400}]'
    turn=$((RANDOM % (RELAY_CLIENTS > 0 ? 3 : 2)))
    if [ "$turn" = 0 ]; then
        driver_writer "$append_ms" 2>/dev/null
        continue
    fi
    if [ "$turn" = 2 ]; then
        # the relay, whatever it is doing (a commit, a request half read, idle)
        if kill -9 "$(cat "$W/relay.pid" 2>/dev/null)" 2>/dev/null; then
            kills_r=$((kills_r + 1))
        else
            misses=$((misses + 1))
        fi
        continue
    fi
    victims=$(pgrep -f -- "anon-telemetry-ship --spool $DB")
    if [ -z "$victims" ]; then misses=$((misses + 1)); continue; fi
    victim=$(printf '%s\n' "$victims" | shuf -n 1 --random-source=<(yes "$RANDOM"))
    if kill -9 "$victim" 2>/dev/null; then kills_s=$((kills_s + 1)); fi
done
touch "$W/stop"
[ -s "$W/relay.pid" ] && kill -TERM "$(cat "$W/relay.pid")" 2>/dev/null
wait_loops_s=$(date +%s)
while pgrep -f -- "--spool $DB" >/dev/null && [ $(( $(date +%s) - wait_loops_s )) -lt 30 ]; do sleep 0.1; done
pkill -9 -f -- "--spool $DB" 2>/dev/null

# ---- final drain: a healthy collector; leases of killed shippers treated as lapsed ----
control reset ''
leased=$(sqlite3 -cmd '.timeout 5000' "$DB" "SELECT count(*) FROM events WHERE status='sending'")
sqlite3 -cmd '.timeout 5000' "$DB" "UPDATE events SET lease_until='2000-01-01T00:00:00.000Z' WHERE status='sending'"
drain_rc=75
for _ in $(seq 1 20); do
    "$SHIP_BIN" --spool "$DB" --endpoint "$URL" --now --batch-size 50 --parallel 4 >/dev/null 2>>"$W/shipper.err"
    drain_rc=$?
    [ "$drain_rc" = 0 ] && break
done
integrity=$(sqlite3 -cmd '.timeout 5000' "$DB" "PRAGMA integrity_check")
cat "$W"/ledger.* > "$W/ledger"

# ---- the oracle ----
python3 - "$W/ledger" "$DB" "$W/requests.jsonl" <<'EOF' > "$W/oracle"
import json, sqlite3, sys
from collections import Counter
ledger = {}
for line in open(sys.argv[1]):
    uuid, serial = line.split()
    ledger[uuid] = int(serial)
db = sqlite3.connect(sys.argv[2])
rows = {u: (st, json.loads(p)["numInputRecords"]) for u, st, p in
        db.execute("SELECT uuid, status, parameters FROM events")}
dlq = {u: (r, json.loads(p)["numInputRecords"]) for u, r, p in
       db.execute("SELECT uuid, reason, parameters FROM dlq")}
received = Counter()
for line in open(sys.argv[3]):
    req = json.loads(line)
    if req["path"].startswith("/_control") or req["status"] is None or not 200 <= req["status"] < 300:
        continue
    for ev in json.loads(req["body"])["events"]:
        received[ev["parameters"]["numInputRecords"]] += 1
lost = []
n_received = n_pending = n_dlq = 0
for uuid, serial in ledger.items():
    if received[serial] > 0:
        n_received += 1
        # a row marked sent must really have reached the collector, and vice versa is fine
    elif uuid in rows and rows[uuid][0] in ("pending", "sending"):
        n_pending += 1
    elif uuid in dlq and dlq[uuid][0]:
        n_dlq += 1
    else:
        lost.append((uuid, serial, rows.get(uuid), dlq.get(uuid)))
sent_not_received = [u for u, (st, s) in rows.items() if st == "sent" and received[s] == 0]
dups = sum(1 for s, c in received.items() if c > 1)
print("acknowledged", len(ledger))
print("received", n_received)
print("pending", n_pending)
print("dlq", n_dlq)
print("lost", len(lost))
print("sent_not_received", len(sent_not_received))
print("duplicates", dups)
print("extra_copies", sum(c - 1 for c in received.values() if c > 1))
for l in lost[:10]:
    print("LOST", *l)
EOF
get() { awk -v k="$1" '$1 == k { print $2 }' "$W/oracle"; }
lost=$(get lost); snr=$(get sent_not_received)
echo "crash suite: $ITER iterations, $kills_w writers and $kills_s shippers killed (SIGKILL), $misses with no process to kill"
echo "  relay: killed $kills_r times (SIGKILL); events it answered 200: $(cat "$W"/ledger.relay* 2>/dev/null | wc -l)"
echo "  (a driver append of 1000 events takes ~${append_ms} ms here; writers are killed within that)"
echo "  acknowledged appends (events): $(get acknowledged)"
echo "  received by the collector:      $(get received)"
echo "  still pending:                  $(get pending)"
echo "  in dlq with a reason:           $(get dlq)"
echo "  events lost:                    ${lost:-?}"
echo "  marked sent but never received: ${snr:-?}"
echo "  events sent more than once:     $(get duplicates) ($(get extra_copies) extra copies; at-least-once window: $leased leased at the end)"
echo "  spool integrity_check:          $integrity"
echo "  final drain exit:               $drain_rc"
echo "  time:                           $(( $(date +%s) - start_s )) s"
grep '^LOST' "$W/oracle"
[ "$lost" = 0 ] && [ "$snr" = 0 ] && [ "$integrity" = ok ] && [ "$(get acknowledged)" -gt 0 ]
