#!/bin/bash
# Field faults (issue "survive the field"): clocks that moved, event times from a wrong
# clock, a lock held during a POST, a busy spool, SIGTERM/SIGINT during a run, a WAL that
# grew while a reader held it. Each block reproduces the fault and checks the fix.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/ship_helpers.sh"

# libfaketime preloaded by hand (not the faketime command, which runs its command as a
# child: a killed "shipper with a wrong clock" must be the shipper), after ASan's runtime
# when the build is sanitized (ASan must come first in the list).
FTLIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
[ -n "$FTLIB" ] || { fail "libfaketime is not installed (scripts/install-deps.sh installs faketime)"; finish; exit 1; }
PRELOAD=$FTLIB
if [ "${ANON_SANITIZE:-}" = 1 ]; then PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $FTLIB"; fi
# with_clock OFFSET CMD...: runs CMD with its clock moved by OFFSET ('-365d', '+2920000d')
with_clock() { _o=$1; shift; LD_PRELOAD=$PRELOAD FAKETIME=$_o "$@"; }
start_collector main
# settled: nothing pending from an earlier block, no answer queued at the collector
settled() {
    curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/_control/reset"
    ship --now >/dev/null
}

# ---- 1. a clock that went back: backoff times and leases from the future are due now
queue 3 back
script '[{"status":503}]'
ship
check_eq "503: retries scheduled" "75|3" "$rc|$(q "SELECT count(*) FROM events WHERE next_attempt_at IS NOT NULL")"
with_clock '-365d' "$SHIP_BIN" --spool "$S" --endpoint "$URL" >"$T/out" 2>"$T/err"
check_eq "clock a year back: the backed-off events are sent" "0|3" \
    "$?|$(q "SELECT count(*) FROM events WHERE session_id='back' AND status='sent'")"
check_match "clock a year back: said once in the summary" "3 events had times set by a clock that moved back" \
    "$(q "SELECT summary FROM runs ORDER BY id DESC LIMIT 1")"

queue 2 back2
script '[{"status":503,"retry_after":"120"}]'
ship
with_clock '-365d' "$SHIP_BIN" status --json --spool "$S" >"$T/st.json" 2>&1
check_eq "status with the clock back: due now, no negative age" "2|2|True" \
    "$(python3 -c "import json; d=json.load(open('$T/st.json')); print(d['due_now'], d['clock_moved_back'], d['oldest_pending_age_seconds'] >= 0, sep='|')")"
with_clock '-365d' "$SHIP_BIN" status --spool "$S" >"$T/st.txt" 2>&1
check_nomatch "status with the clock back: no 'in 364d'" "in 36[0-9]d|-[0-9]+[smhd]" "$(cat "$T/st.txt")"
ship --now >/dev/null

# a shipper killed while its clock was a year ahead leaves year-long leases
queue 2 ahead
script '[{"status":200,"delay":20}]'
n0=$(requests)
LD_PRELOAD=$PRELOAD FAKETIME='+365d' "$SHIP_BIN" --spool "$S" --endpoint "$URL" >/dev/null 2>&1 &
p=$!
wait_until 10 sh -c "[ \"\$(wc -l < '$LOG')\" -gt $n0 ]"   # its POST is at the collector
kill -9 $p; wait $p 2>/dev/null
check_eq "killed shipper: leases a year ahead" 2 \
    "$(q "SELECT count(*) FROM events WHERE session_id='ahead' AND lease_until > strftime('%Y-%m-%dT%H:%M:%fZ','now','+300 days')")"
script '[{"status":200}]'
ship
check_eq "the next run takes them back and sends them" "0|2" \
    "$rc|$(q "SELECT count(*) FROM events WHERE session_id='ahead' AND status='sent'")"

# ---- 2. event times from a wrong clock
event | with_clock '-365d' "$SPOOL_BIN" --spool "$S" --session-id past >/dev/null
check_eq "an event queued a year back keeps its ts" 1 \
    "$(q "SELECT queued_at < strftime('%Y-%m-%dT%H:%M:%fZ','now','-300 days') FROM events WHERE session_id='past'")"
"$SHIP_BIN" status --json --spool "$S" > "$T/st.json"
check_eq "status flags its implausible ts" 1 "$(python3 -c "import json; print(json.load(open('$T/st.json'))['implausible_ts'])")"
ship --max-age 7
check_eq "--max-age never expires an event whose ts came from a wrong clock" "sent|0" \
    "$(q "SELECT status FROM events WHERE session_id='past'")|$(q "SELECT count(*) FROM dlq WHERE session_id='past'")"
event | with_clock '+2920000d' "$SPOOL_BIN" --spool "$S" --session-id far >/dev/null
check_eq "a clock past 9999: a well-formed ts" "9999-12-31T23:59:59.999Z" "$(q "SELECT queued_at FROM events WHERE session_id='far'")"
q "DELETE FROM events WHERE session_id='far'"

# ---- 3. a lock held during a POST: the answer that arrived is settled, the run recorded
settled
queue 2 held
runs=$(q "SELECT count(*) FROM runs")
script '[{"status":200,"delay":2}]'
ship >/dev/null &
sp=$!
sleep 1
sqlite3 "$S" "BEGIN EXCLUSIVE; DELETE FROM runs WHERE 0; SELECT 1;" ".shell sleep 12" "COMMIT;" >/dev/null &
lp=$!
wait $sp; src=$?
wait $lp
check_eq "lock held 12 s during the POST: the batch is settled as sent" "0|2" \
    "$src|$(q "SELECT count(*) FROM events WHERE session_id='held' AND status='sent'")"
check_eq "and the run is recorded" $((runs + 1)) "$(q "SELECT count(*) FROM runs")"
ship
check_eq "the next run posts nothing again" 0 "$(py "sum(1 for e in log if e['env'] and e['env']['sessionId']=='held')" | awk '{print ($1==1)?0:1}')"

# ---- 4. a busy spool is not an I/O error: exit 75, the wait configurable
sqlite3 "$S" "BEGIN EXCLUSIVE; DELETE FROM runs WHERE 0;" ".shell sleep 4" "COMMIT;" >/dev/null &
lp=$!
sleep 0.5
event | ANON_TELEMETRY_BUSY_TIMEOUT=1 "$SPOOL_BIN" --spool "$S" --session-id busy >/dev/null 2>"$T/err"
check_eq "writer on a busy spool: exit 75" 75 $?
check_match "writer on a busy spool: says it is locked" "locked|busy" "$(cat "$T/err")"
event | ANON_TELEMETRY_BUSY_TIMEOUT=20 "$SPOOL_BIN" --spool "$S" --session-id busy2 >/dev/null 2>"$T/err"
check_eq "writer with a longer ANON_TELEMETRY_BUSY_TIMEOUT waits and stores" "0|1" "$?|$(q "SELECT count(*) FROM events WHERE session_id='busy2'")"
wait $lp
check_eq "nothing stored by the writer that gave up" 0 "$(q "SELECT count(*) FROM events WHERE session_id='busy'")"
event | ANON_TELEMETRY_BUSY_TIMEOUT=soon "$SPOOL_BIN" --spool "$S" >/dev/null 2>"$T/err"
check_match "a bad ANON_TELEMETRY_BUSY_TIMEOUT is named" "ANON_TELEMETRY_BUSY_TIMEOUT: expected seconds" "$(cat "$T/err")"
sqlite3 "$S" "BEGIN EXCLUSIVE; DELETE FROM runs WHERE 0;" ".shell sleep 3" "COMMIT;" >/dev/null &
lp=$!
sleep 0.5
ANON_TELEMETRY_BUSY_TIMEOUT=0.5 "$SHIP_BIN" --spool "$S" --endpoint "$URL" >/dev/null 2>"$T/err"
check_eq "shipper on a busy spool: exit 75, not 74" 75 $?
wait $lp

# ---- 5. SIGTERM / SIGINT: settle what is answered, release the rest, record, exit 75
for sig in TERM INT; do
    settled    # nothing else pending: the two batches in flight are this block's
    queue 150 "sig$sig"
    runs=$(q "SELECT count(*) FROM runs")
    script '[{"status":200,"delay":2.5},{"status":200,"delay":30}]'
    "$SHIP_BIN" --spool "$S" --endpoint "$URL" --parallel 2 --timeout 60 >/dev/null 2>"$T/err" &
    p=$!
    # both batches in flight, none answered yet: the first is answered 2.5 s after it
    # was posted (within the grace time), the second never in time
    wait_until 10 sh -c "[ \"\$(sqlite3 '$S' \"SELECT sum(status='sending') || '|' || sum(status='sent') FROM events WHERE session_id='sig$sig'\")\" = '100|0' ]"
    kill -$sig $p
    t0=$(date +%s)
    wait $p; src=$?
    check_eq "SIG$sig: exit 75" 75 "$src"
    check "SIG$sig: returns within the grace time" test $(( $(date +%s) - t0 )) -le 10
    check_eq "SIG$sig: the answered batch is sent, the rest pending with no retry spent, none leased" \
        "50|100|0|0" "$(q "SELECT sum(status='sent'), sum(status='pending'), sum(status='sending'), sum(retry_count) FROM events WHERE session_id='sig$sig'")"
    check_eq "SIG$sig: the run is recorded" $((runs + 1)) "$(q "SELECT count(*) FROM runs")"
    check_match "SIG$sig: said why" "interrupted by" "$(q "SELECT summary FROM runs ORDER BY id DESC LIMIT 1")"
done

# ---- 13. the WAL is brought back under a bound at the end of a run
W=$T/wal/spool.db
mkdir -m 700 "$T/wal"
event | "$SPOOL_BIN" --spool "$W" >/dev/null
sqlite3 "$W" "BEGIN; SELECT count(*) FROM events;" ".shell sleep 120" "COMMIT;" >/dev/null &
rp=$!
on_exit "kill $rp 2>/dev/null"
sleep 0.3
big=$(python3 -c "import sys; print(''.join('{\"task\":\"batch\",\"taskStatus\":\"completed\",\"transformationType\":\"redact\",\"entityDetectorModel\":\"m%d\",\"entityValidatorModel\":\"v\",\"entityAugmenterModel\":\"a\"}\n' % i for i in range(2000)))")
for i in $(seq 1 20); do printf '%s\n' "$big" | "$SPOOL_BIN" --spool "$W" >/dev/null; done
wal_grown=$(stat -c %s "$W-wal")
kill $rp; wait $rp 2>/dev/null   # the reader goes
check "the WAL grew while a reader held it ($wal_grown bytes)" test "$wal_grown" -gt 8000000
"$SHIP_BIN" --spool "$W" --endpoint "$URL" >/dev/null 2>&1
check "after a shipper run the WAL is under 1 MiB ($(stat -c %s "$W-wal" 2>/dev/null || echo 0) bytes)" \
    test "$(stat -c %s "$W-wal" 2>/dev/null || echo 0)" -lt 1048576
finish
