#!/bin/bash
# A hostile collector: a huge answer body, answers that trickle a byte a second, redirects
# to another host, garbage instead of HTTP, silence, a TLS certificate for the wrong name.
# The shipper stays within its timeouts and caps, follows no redirect, and settles each
# case by the delivery policy.
. "$(dirname "$0")/../lib.sh"

REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"d","entityValidatorModel":"v","entityAugmenterModel":"a"'
TIMEOUT=3   # the hostile servers misbehave for 120 s; within TIMEOUT + 6 s means the timeout worked
pids=""
on_exit 'for p in $pids; do kill $p 2>/dev/null; done'

start_hostile() {   # start_hostile NAME MODE [ARGS...] -> $PORT
    local name=$1; shift
    python3 "$ROOT/tests/hostile.py" "$@" --port-file "$T/$name.port" --log "$T/$name.log" &
    pids="$pids $!"
    for _ in $(seq 1 100); do [ -s "$T/$name.port" ] && break; sleep 0.05; done
    PORT=$(cat "$T/$name.port")
}
# ship_against NAME URL [ARGS...]: a fresh spool of 3 events, one run; sets rc, err, secs, kb
ship_against() {
    local name=$1 url=$2; shift 2
    DB=$T/$name/spool.db
    for i in 1 2 3; do printf '{%s,"numInputRecords":%d}\n' "$REQ" "$i"; done |
        "$SPOOL_BIN" --spool "$DB" --session-id "$name" >/dev/null
    /usr/bin/time -f '%e %M' -o "$T/$name.time" "$SHIP_BIN" --spool "$DB" --endpoint "$url" \
        --timeout "$TIMEOUT" --connect-timeout 2 "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    err=$(cat "$T/$name.err")
    # the last line (a first one says "Command exited with non-zero status N")
    secs=$(tail -n 1 "$T/$name.time" | cut -d' ' -f1); secs=${secs%.*}
    kb=$(tail -n 1 "$T/$name.time" | cut -d' ' -f2)
}
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
state() { sql "$DB" "SELECT status || ':' || retry_count || ':' || (next_attempt_at IS NOT NULL) FROM events ORDER BY id" | tr '\n' ' '; }

# the server a redirect points at: it must never be asked
python3 "$ROOT/tests/collector.py" --port-file "$T/target.port" --log "$T/target.log" &
pids="$pids $!"
for _ in $(seq 1 100); do [ -s "$T/target.port" ] && break; sleep 0.05; done
TARGET="http://127.0.0.2:$(cat "$T/target.port")/stolen"

# ---- huge body: the status decides, the body is capped, memory stays small ----
start_hostile huge huge
ship_against huge "http://127.0.0.1:$PORT/v1"
check_eq "huge body: delivered by its 200 (exit 0)" 0 "$rc"
check_eq "huge body: all sent" "sent:0:0 sent:0:0 sent:0:0 " "$(state)"
check "huge body: within the request timeout (${secs}s)" test "$secs" -le $((TIMEOUT + 6))
check "huge body: memory capped (${kb} KB max RSS)" test "$kb" -lt 65536

# ---- a body that trickles: the status line said 200; no waiting for the rest ----
start_hostile tb trickle-body
ship_against tb "http://127.0.0.1:$PORT/v1"
check_eq "trickling body: delivered by its 200 (exit 0)" 0 "$rc"
check_eq "trickling body: all sent" "sent:0:0 sent:0:0 sent:0:0 " "$(state)"
check "trickling body: within the request timeout (${secs}s)" test "$secs" -le $((TIMEOUT + 6))

# ---- a status line that trickles: a timeout after connecting spends a retry ----
start_hostile th trickle-head
ship_against th "http://127.0.0.1:$PORT/v1"
check_eq "trickling head: exit 75" 75 "$rc"
check_eq "trickling head: one retry spent, backoff set" "pending:1:1 pending:1:1 pending:1:1 " "$(state)"
check "trickling head: stopped by the timeout (${secs}s)" test "$secs" -le $((TIMEOUT + 6))
check_match "trickling head: says so" "timeout|timed out" "$err"

# ---- silence after the request: the same ----
start_hostile si silent
ship_against si "http://127.0.0.1:$PORT/v1"
check_eq "silent collector: exit 75" 75 "$rc"
check_eq "silent collector: one retry spent" "pending:1:1 pending:1:1 pending:1:1 " "$(state)"
check "silent collector: stopped by the timeout (${secs}s)" test "$secs" -le $((TIMEOUT + 6))

# ---- redirects are never followed: the endpoint refuses us (78), nothing spent ----
for mode in redirect redirect307; do
    start_hostile "$mode" "$mode" --target "$TARGET"
    ship_against "$mode" "http://127.0.0.1:$PORT/v1"
    check_eq "$mode: exit 78" 78 "$rc"
    check_match "$mode: names the status" "HTTP 30[27]" "$err"
    check_eq "$mode: nothing spent" "pending:0:0 pending:0:0 pending:0:0 " "$(state)"
    check_nomatch "$mode: the Location is not printed with secrets" "stolen\?" "$err"
done
check_eq "redirect target never asked" 0 "$(lines "$T/target.log")"

# ---- garbage instead of HTTP: a misconfigured endpoint (78), nothing spent ----
start_hostile ga garbage
ship_against ga "http://127.0.0.1:$PORT/v1"
check_eq "garbage: exit 78" 78 "$rc"
check_eq "garbage: nothing spent" "pending:0:0 pending:0:0 pending:0:0 " "$(state)"
check "garbage: quick (${secs}s)" test "$secs" -le $((TIMEOUT + 6))

# ---- TLS with a certificate for the wrong name: refused, nothing sent or spent ----
( cd "$T" &&
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=hostile test CA" -keyout ca.key \
      -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" &&
  openssl req -newkey rsa:2048 -nodes -subj "/CN=wrong.example" -keyout w.key -out w.csr &&
  printf 'subjectAltName=DNS:wrong.example\nextendedKeyUsage=serverAuth\n' > w.cnf &&
  openssl x509 -req -in w.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile w.cnf -out w.pem ) >/dev/null 2>&1
check "wrong-name certificate made" test -s "$T/w.pem"
start_hostile wn garbage --cert "$T/w.pem" --key "$T/w.key"
ship_against wn "https://127.0.0.1:$PORT/v1" --cacert "$T/ca.pem"
check_eq "wrong-name certificate: exit 78" 78 "$rc"
check_match "wrong-name certificate: says why" "certificate" "$err"
check_eq "wrong-name certificate: nothing spent" "pending:0:0 pending:0:0 pending:0:0 " "$(state)"
check_eq "wrong-name certificate: no request reached it" 0 "$(lines "$T/wn.log")"

finish
