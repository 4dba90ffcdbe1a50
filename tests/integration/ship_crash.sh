# ship_crash.sh: a shipper killed mid-request leaves leased rows that a later run
# reclaims once the lease has lapsed, without spending a retry; two shippers at once
# (one works, one exits 0 at once; no event sent twice); --max-time.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector main
has_requests() { [ "$(requests)" -ge 1 ]; }

# ---- kill -9 while a request is in flight
queue 3 k1
script '[{"status": 200, "delay": 30}]'
"$SHIP_BIN" --spool "$S" --endpoint "$URL" --timeout 60 >"$T/k.out" 2>&1 &
pid=$!
on_exit "kill -9 $pid 2>/dev/null"
check "the request reached the collector" wait_until 20 has_requests
kill -9 "$pid"; wait "$pid" 2>/dev/null
check_eq "killed: rows leased" "3|3" "$(q "SELECT count(*), count(lease_until) FROM events WHERE status='sending'")"
lease=$(q "SELECT min(lease_until) FROM events")
check "killed: the lease is in the future" test "$lease" \> "$(ts_in 60)"
# the lease has not lapsed: the next run leaves them alone
n=$(requests)
ship
check_eq "lease held: not sent again, exit 0" "0|$n" "$rc|$(requests)"
check_eq "lease held: still sending" 3 "$(q "SELECT count(*) FROM events WHERE status='sending'")"
# the lease lapses (as if time had passed): reclaimed, no attempt counted
q "UPDATE events SET lease_until='$(ts_in -1)'"
queue 1 k1
ship
check_eq "reclaimed: exit 0" 0 "$rc"
check_eq "reclaimed: sent, no retry spent" "4|0" "$(q "SELECT count(*), sum(retry_count) FROM events WHERE status='sent'")"
check_eq "reclaimed: in one batch with the new row" 4 "$(py "len(log[-1]['env']['events'])")"
check_eq "reclaimed: lease cleared" 0 "$(q "SELECT count(*) FROM events WHERE lease_until IS NOT NULL")"

# ---- two shippers at once: the second exits 0 at once, saying so
q "DELETE FROM events"
: > "$LOG"
for i in $(seq 1 6); do queue 5 "two$i"; done
script '[{"status": 200, "delay": 4}]'
"$SHIP_BIN" --spool "$S" --endpoint "$URL" --parallel 1 >"$T/a.out" 2>"$T/a.err" &
pa=$!
check "first shipper is posting" wait_until 20 has_requests
ship
check "second shipper: returned at once, while the first still waits for its answer" kill -0 "$pa"
check_eq "second shipper: exit 0" 0 "$rc"
check_match "second shipper: says another is running" "another anon-telemetry-ship is running on $S" "$err"
wait "$pa"
check_eq "first shipper: exit 0" 0 "$?"
check_eq "all sent" 30 "$(q "SELECT count(*) FROM events WHERE status='sent'")"
check_eq "no event sent twice" 30 "$(py "sum(len(e['env']['events']) for e in log)")"
check_eq "the lock file is private" 600 "$(stat -c %a "$S.lock")"

# two shippers started together, many times: never a duplicate
: > "$LOG"
for round in 1 2 3; do
    for i in $(seq 1 4); do queue 3 "race$round-$i"; done
    "$SHIP_BIN" --spool "$S" --endpoint "$URL" >/dev/null 2>&1 &
    p1=$!
    "$SHIP_BIN" --spool "$S" --endpoint "$URL" >/dev/null 2>&1 &
    p2=$!
    wait "$p1" "$p2"
done
check_eq "racing shippers: all sent" 0 "$(q "SELECT count(*) FROM events WHERE status!='sent'")"
check_eq "racing shippers: each event once" "36" "$(py "sum(len(e['env']['events']) for e in log)")"

# ---- --max-time: no batch claimed after the budget; the rest stays pending, exit 75
q "DELETE FROM events"
: > "$LOG"
for i in $(seq 1 10); do queue 1 "mt$i"; done
default_response '{"status": 200, "delay": 0.6}'
ship --parallel 1 --max-time 1
check_eq "--max-time: exit 75" 75 "$rc"
sent=$(q "SELECT count(*) FROM events WHERE status='sent'")
check "--max-time: stopped early ($sent sent)" test "$sent" -ge 1 -a "$sent" -lt 10
check_eq "--max-time: the rest pending, nothing spent" "$((10 - sent))|0" \
    "$(q "SELECT count(*), sum(retry_count) FROM events WHERE status='pending'")"
check_match "--max-time: summary says so" "time budget of 1 s spent" "$err"
default_response '{"status": 200}'
ship
check_eq "next run: the rest sent" "0|10" "$rc|$(q "SELECT count(*) FROM events WHERE status='sent'")"

finish
