#!/bin/bash
# The crash suite for bundles and receipts: an enclave spool and a gateway spool, and a
# driver that kills `bundle create`, `bundle import` and `receipt apply` with SIGKILL at a
# random moment within the time each takes here (measured as it goes, as crash.sh does
# for writers). Checked after every kill and at the end:
#   - a file under its final name is always a whole, valid bundle (never a partial one);
#   - an import is all or nothing: a bundle recorded on the gateway has all its events
#     there, one not recorded has none of its new ones;
#   - a receipt applied is all or nothing;
#   - no acknowledged event is ever gone from the enclave, and none that left pending
#     (exported, or sent by a receipt) is absent from every bundle file;
#   - both spools pass SQLite's integrity check;
# and at the end, after rounds without kills, every event has reached the collector and
# is sent in the enclave. Prints the figures; exits non-zero on any violation.
#
#   tests/crash/bundle.sh [ITERATIONS]     (default 120; each kills all three commands)
#   CRASH_SEED=N  CRASH_KEEP=1
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ANON_BUILD:-build}; case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SPOOL_BIN=$BUILD/anon-telemetry-spool
SHIP_BIN=$BUILD/anon-telemetry-ship
ITER=${1:-120}
RANDOM=${CRASH_SEED:-$$}
W=$(mktemp -d /tmp/anon-crash-bundle.XXXXXX); chmod 700 "$W"
mkdir -m 700 "$W/enclave" "$W/gateway" "$W/usb"
E=$W/enclave/spool.db
G=$W/gateway/spool.db
USB=$W/usb
unset NEMO_TELEMETRY_ENABLED NEMO_SESSION_PREFIX NEMO_TELEMETRY_ENDPOINT ANON_TELEMETRY_SPOOL \
      http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
collector=""
cleanup() {
    [ -n "$collector" ] && kill "$collector" 2>/dev/null
    wait 2>/dev/null
    [ "${CRASH_KEEP:-0}" = 1 ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
start_s=$(date +%s)
violations=0
violation() { violations=$((violations + 1)); echo "VIOLATION: $*"; }

python3 "$ROOT/tests/collector.py" --port-file "$W/port" --log "$W/requests.jsonl" &
collector=$!
for _ in $(seq 1 100); do [ -s "$W/port" ] && break; sleep 0.05; done
[ -s "$W/port" ] || { echo "crash bundle: the collector did not start"; exit 1; }
URL="http://127.0.0.1:$(cat "$W/port")/v1/events/json"

q() { sqlite3 -cmd '.timeout 10000' "$1" "$2"; }
ms() { date +%s%N | cut -b1-13; }

# kill_within DUR_MS CMD...: runs CMD, killing it with SIGKILL at a random moment within
# DUR_MS, its last measured duration (the runs that finish first are measured again);
# sets killed (1/0), took (ms)
killed=0
took=0
kill_within() {
    local dur=$1 t0 pid at
    shift
    at=$((RANDOM % dur + 1))
    [ "$at" -gt 999 ] && at=999
    t0=$(ms)
    "$@" >/dev/null 2>>"$W/cmd.err" &
    pid=$!
    sleep "$(printf '0.%03d' "$at")"
    killed=0
    kill -9 "$pid" 2>/dev/null && killed=1
    { wait "$pid"; } 2>/dev/null
    took=$(( $(ms) - t0 ))
}
# timed CMD...: runs CMD to its end; sets took (ms) and rc
timed() { local t0; t0=$(ms); "$@" >/dev/null 2>>"$W/cmd.err"; rc=$?; took=$(( $(ms) - t0 )); }
clamp() { [ "$1" -lt 5 ] && echo 5 || { [ "$1" -gt 999 ] && echo 999 || echo "$1"; }; }

REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"d","entityValidatorModel":"v","entityAugmenterModel":"a"'
serial=0
append() {   # append N: N acknowledged events, their uuids into the ledger
    seq $((serial + 1)) $((serial + $1)) | sed "s/.*/{$REQ,\"numInputRecords\":&}/" > "$W/in"
    serial=$((serial + $1))
    "$SPOOL_BIN" --spool "$E" --session-id "s$((serial % 3))" < "$W/in" >> "$W/ledger" ||
        { echo "crash bundle: an append failed"; exit 1; }
}

# A whole file under its final name: bundle verify must accept it.
check_file() {
    if ! "$SHIP_BIN" bundle verify "$1" >/dev/null 2>>"$W/cmd.err"; then
        violation "$1 is under its final name but is not a whole bundle"
    fi
}

kills_c=0; kills_i=0; kills_a=0; files=0
d_create=50; d_import=50; d_apply=50
append 300
for it in $(seq 1 "$ITER"); do
    append $((RANDOM % 100 + 50))
    last=""

    # ---- bundle create, killed
    f=$USB/b$it.jsonl
    kill_within "$d_create" "$SHIP_BIN" --spool "$E" bundle create "$f"
    [ "$killed" = 1 ] && kills_c=$((kills_c + 1)) || d_create=$(clamp "$took")
    if [ -e "$f" ]; then check_file "$f"; files=$((files + 1)); fi
    # one unkilled bundle now and then, so that exported events keep coming
    if [ $((it % 4)) = 0 ]; then
        timed "$SHIP_BIN" --spool "$E" bundle create "$USB/c$it.jsonl"
        [ "$rc" = 0 ] && { d_create=$(clamp "$took"); files=$((files + 1)); } ||
            violation "an unkilled bundle create failed ($rc)"
    fi

    # ---- bundle import of the newest whole file, killed; then all or nothing
    last=$(ls -t "$USB"/*.jsonl 2>/dev/null | grep -v '/r' | head -n 1)
    if [ -n "$last" ]; then
        id=$(head -n 1 "$last" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"])')
        kill_within "$d_import" "$SHIP_BIN" --spool "$G" bundle import "$last"
        [ "$killed" = 1 ] && kills_i=$((kills_i + 1)) || d_import=$(clamp "$took")
        # (a gateway killed while its spool was being made has no tables yet: nothing held)
        rec=$(q "$G" "SELECT count(*) FROM bundles WHERE id = '$id'" 2>/dev/null)
        held=$(q "$G" "SELECT count(*) FROM events WHERE bundle = '$id'" 2>/dev/null)
        if [ "${rec:-0}" = 0 ] && [ "${held:-0}" != 0 ]; then
            violation "import of $last killed: $held events kept without the bundle recorded"
        fi
        timed "$SHIP_BIN" --spool "$G" bundle import "$last"
        [ "$rc" = 0 ] || violation "import of a whole file failed ($rc)"
        # recorded once stored: the events it brought are those it did not find there
        got=$(q "$G" "SELECT (SELECT events - duplicates FROM bundles WHERE id = '$id') || ' ' ||
                             ((SELECT count(*) FROM events WHERE bundle = '$id') +
                              (SELECT count(*) FROM dlq WHERE bundle = '$id'))")
        [ "${got% *}" = "${got#* }" ] ||
            violation "after importing $last: recorded as bringing ${got% *} events, ${got#* } there"
    fi

    # ---- the gateway ships, makes a receipt; the enclave applies it, killed
    "$SHIP_BIN" --spool "$G" --endpoint "$URL" --now >/dev/null 2>>"$W/cmd.err"
    if [ -n "$last" ]; then
        # the newest bundle's receipt (receipts of every bundle would grow with the run)
        r=$USB/r$it.jsonl
        "$SHIP_BIN" --spool "$G" receipt create "$r" --bundle "$id" >/dev/null 2>>"$W/cmd.err" ||
            violation "receipt create failed"
        before=$(q "$E" "SELECT count(*) FROM events WHERE status = 'exported'")
        k=$(python3 - "$r" "$E" <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
k = 0
for l in open(sys.argv[1]).read().split('\n')[1:]:
    if l.startswith('{"uuid"'):
        e = json.loads(l)
        if e['status'] != 'pending' and db.execute("SELECT 1 FROM events WHERE uuid = ? AND status = 'exported'", (e['uuid'],)).fetchone():
            k += 1
print(k)
EOF
)
        kill_within "$d_apply" "$SHIP_BIN" --spool "$E" receipt apply "$r"
        [ "$killed" = 1 ] && kills_a=$((kills_a + 1)) || d_apply=$(clamp "$took")
        after=$(q "$E" "SELECT count(*) FROM events WHERE status = 'exported'")
        if [ "$after" != "$before" ] && [ "$after" != $((before - k)) ]; then
            violation "receipt apply killed: $after exported, expected $before or $((before - k))"
        fi
    fi
    [ $((it % 20)) = 0 ] && for db in "$E" "$G"; do
        [ "$(q "$db" "PRAGMA quick_check")" = ok ] || violation "$db fails its quick check"
    done
done

# ---- without kills: every pending event leaves, everything is imported, shipped, settled
timed "$SHIP_BIN" --spool "$E" bundle create "$USB/final.jsonl"
[ "$rc" = 0 ] || violation "the final bundle create failed ($rc)"
for f in "$USB"/[bc]*.jsonl "$USB/final.jsonl"; do
    [ -e "$f" ] || continue
    check_file "$f"
    "$SHIP_BIN" --spool "$G" bundle import "$f" >/dev/null 2>>"$W/cmd.err" ||
        violation "the final import of $f failed"
done
"$SHIP_BIN" --spool "$G" --endpoint "$URL" --now >/dev/null 2>>"$W/cmd.err" ||
    violation "the gateway's final delivery run failed"
"$SHIP_BIN" --spool "$G" receipt create "$USB/rfinal.jsonl" >/dev/null 2>>"$W/cmd.err" ||
    violation "the final receipt create failed"
"$SHIP_BIN" --spool "$E" receipt apply "$USB/rfinal.jsonl" >/dev/null 2>>"$W/cmd.err" ||
    violation "the final receipt apply failed"
leftovers=$(find "$USB" -name '.*.tmp-*' | wc -l)

# ---- the oracle
python3 - "$W/ledger" "$E" "$G" "$USB" "$W/requests.jsonl" > "$W/oracle" <<'EOF'
import glob, json, os, sqlite3, sys
ledger = [l.strip() for l in open(sys.argv[1]) if l.strip()]
e = sqlite3.connect(sys.argv[2])
g = sqlite3.connect(sys.argv[3])
in_files = set()
for f in glob.glob(os.path.join(sys.argv[4], '*.jsonl')):
    lines = open(f).read().split('\n')
    if not lines[0].startswith('{"format":"anon-telemetry-bundle"'):
        continue
    for l in lines[1:]:
        if l.startswith('{"ids"'):
            in_files.update(json.loads(l)['ids'])
received = set()
for line in open(sys.argv[5]):
    req = json.loads(line)
    if req['status'] and 200 <= req['status'] < 300:
        received.update(h.strip() for h in req['headers'].get('Anon-Telemetry-Event-Ids', '').split(',') if h.strip())
status = dict(e.execute("SELECT uuid, status FROM events"))
dlq = set(u for (u,) in e.execute("SELECT uuid FROM dlq"))
gone = [u for u in ledger if u not in status and u not in dlq]
left_unbundled = [u for u in ledger if status.get(u) in ('exported', 'sent') and u not in in_files]
not_sent = [u for u in ledger if status.get(u) != 'sent']
g_not_sent = g.execute("SELECT count(*) FROM events WHERE status != 'sent'").fetchone()[0] + \
    g.execute("SELECT count(*) FROM dlq").fetchone()[0]
print('acknowledged', len(ledger))
print('gone', len(gone))
print('left_unbundled', len(left_unbundled))
print('not_sent', len(not_sent))
print('gateway_unsent', g_not_sent)
print('gateway_events', g.execute("SELECT count(*) FROM events").fetchone()[0])
print('distinct_in_files', len(in_files))
print('not_received', sum(1 for u in ledger if u not in received) if received else -1)
for u in (gone + left_unbundled)[:10]:
    print('BAD', u, status.get(u))
EOF
get() { awk -v k="$1" '$1 == k { print $2 }' "$W/oracle"; }
ie=$(q "$E" "PRAGMA integrity_check"); ig=$(q "$G" "PRAGMA integrity_check")
[ "$(get gone)" = 0 ] || violation "$(get gone) acknowledged events are gone from the enclave"
[ "$(get left_unbundled)" = 0 ] || violation "$(get left_unbundled) events left pending but are in no bundle file"
[ "$(get not_sent)" = 0 ] || violation "$(get not_sent) events not sent in the end"
[ "$(get gateway_events)" = "$(get acknowledged)" ] || violation "the gateway holds $(get gateway_events) events, not $(get acknowledged)"
[ "$ie" = ok ] && [ "$ig" = ok ] || violation "integrity: enclave $ie, gateway $ig"

echo "crash suite (bundles): $ITER iterations; killed $kills_c bundle create, $kills_i bundle import, $kills_a receipt apply (SIGKILL)"
echo "  acknowledged events:                       $(get acknowledged)"
echo "  whole bundle files made:                   $files (+ the final one)"
echo "  temporary files left by killed creates:    $leftovers (never under a final name)"
echo "  events gone from the enclave:              $(get gone)"
echo "  left pending but in no bundle file:        $(get left_unbundled)"
echo "  not sent in the end (enclave):             $(get not_sent)"
echo "  gateway: events $(get gateway_events), not sent $(get gateway_unsent)"
echo "  not received by the collector:             $(get not_received)"
echo "  integrity_check:                           enclave $ie, gateway $ig"
echo "  violations:                                $violations"
echo "  time:                                      $(( $(date +%s) - start_s )) s"
grep '^BAD' "$W/oracle"
[ "$violations" = 0 ] && [ "$(get acknowledged)" -gt 0 ]
