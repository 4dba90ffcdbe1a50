# ship_policy.sh: every row of the delivery policy table (README, anon-telemetry-ship(8)),
# against the local collector: 2xx, 400/422, 413 (split; a single event to dlq),
# 408/429/5xx, timeout and reset after connecting, the 4th failed attempt, unreachable
# (refused, DNS), other answers.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector main

# ---- 2xx: sent, sent_at set, silent, exit 0, a runs row
queue 3 s-ok
ship
check_eq "2xx: exit 0" 0 "$rc"
check_eq "2xx: silent" "" "$out$err"
check_eq "2xx: rows sent" "3|3" "$(q "SELECT count(*), count(sent_at) FROM events WHERE status='sent'")"
check_eq "2xx: one request" 1 "$(requests)"
check_eq "2xx: runs row" "0|3|0|0" "$(q "SELECT exit_code, sent, retried, dead FROM runs ORDER BY id DESC LIMIT 1")"
check_eq "2xx: lease cleared" 0 "$(q "SELECT count(*) FROM events WHERE lease_until IS NOT NULL")"
for st in 201 202 204 299; do
    script "[{\"status\": $st}]"
    queue 1 "s-$st"
    ship
    check_eq "HTTP $st: sent" "0|sent" "$rc|$(q "SELECT status FROM events WHERE session_id='s-$st'")"
done
# nothing to do: exit 0, silent, nothing posted
n=$(requests)
ship
check_eq "nothing due: exit 0, silent" "0|" "$rc|$out$err"
check_eq "nothing due: no request" "$n" "$(requests)"

# ---- 400 and 422: dlq with the reason, never retried
for st in 400 422; do
    script "[{\"status\": $st, \"body\": \"{\\\"error\\\": \\\"bad\\\"}\"}]"
    queue 2 "s-$st"
    ship
    check_eq "HTTP $st: exit 0" 0 "$rc"
    check_eq "HTTP $st: moved to dlq" "2|rejected by collector: HTTP $st|0" \
        "$(q "SELECT count(*), reason, retry_count FROM dlq WHERE session_id='s-$st'")"
    check_eq "HTTP $st: gone from events" 0 "$(q "SELECT count(*) FROM events WHERE session_id='s-$st'")"
    check_match "HTTP $st: one summary line naming the reason" "^anon-telemetry-ship: 0 sent, 0 to retry, 2 to dlq \(rejected by collector: HTTP $st\)" "$err"
    check_eq "HTTP $st: a single line" 1 "$(printf '%s\n' "$err" | wc -l)"
done

# ---- 413: split in halves (no retry spent); a single event to dlq
n0=$(requests)
queue 5 s-413
script '[{"status": 413}, {"status": 413}, {"status": 200}, {"status": 200}, {"status": 200}]'
ship --parallel 1
check_eq "413: exit 0" 0 "$rc"
check_eq "413: all 5 sent" "5|0" "$(q "SELECT count(*), sum(retry_count) FROM events WHERE session_id='s-413' AND status='sent'")"
check_eq "413: batch sizes 5, then halves 2 and 3, then 1 and 1" "[5, 2, 3, 1, 1]" \
    "$(py "[len(e['env']['events']) for e in log[$n0:]]")"
check_eq "413: 5 events accepted in all" "5" \
    "$(py "sum(len(e['env']['events']) for e in log[$n0:] if e['status']==200)")"
queue 1 s-413b
script '[{"status": 413}]'
ship
check_eq "413 alone: dlq" "rejected by collector: HTTP 413 (event too large)" \
    "$(q "SELECT reason FROM dlq WHERE session_id='s-413b'")"
check_eq "413 alone: exit 0" 0 "$rc"

# ---- 408, 429, 5xx, timeout and reset after connecting: a retry is spent, backoff
for st in 408 429 500 502 503 504 599; do
    queue 2 "s-$st"
    script "[{\"status\": $st}]"
    t0=$(ts_in 29); t1=$(ts_in 61)
    ship
    check_eq "HTTP $st: exit 75" 75 "$rc"
    check_eq "HTTP $st: pending, retry_count 1, last_error" "2|1|HTTP $st" \
        "$(q "SELECT count(*), max(retry_count), last_error FROM events WHERE session_id='s-$st' AND status='pending'")"
    na=$(q "SELECT min(next_attempt_at) || ' ' || max(next_attempt_at) FROM events WHERE session_id='s-$st'")
    check "HTTP $st: next attempt 30..60 s later ($na)" test "${na% *}" \> "$t0" -a "${na#* }" \< "$t1"
    check_match "HTTP $st: summary line" "^anon-telemetry-ship: 0 sent, 2 to retry, 0 to dlq; [0-9]+ pending \(next attempt .*\); last error: HTTP $st$" "$err"
    # a cron run respects the backoff: nothing sent
    n=$(requests)
    ship
    check_eq "HTTP $st: backoff respected by the next run" "0|$n" "$rc|$(requests)"
    q "DELETE FROM events WHERE session_id='s-$st'"
done

queue 1 s-slow
script '[{"status": 200, "delay": 4}]'
ship --timeout 1
check_eq "timeout after connecting: exit 75" 75 "$rc"
check_eq "timeout after connecting: retry spent" "1|timeout after connecting" \
    "$(q "SELECT retry_count, substr(last_error, 1, 24) FROM events WHERE session_id='s-slow'")"
q "DELETE FROM events WHERE session_id='s-slow'"

queue 1 s-reset
script '[{"reset": true}]'
ship
check_eq "reset after connecting: exit 75" 75 "$rc"
check_eq "reset after connecting: retry spent" "1|connection reset after connecting" \
    "$(q "SELECT retry_count, substr(last_error, 1, 33) FROM events WHERE session_id='s-reset'")"
q "DELETE FROM events WHERE session_id='s-reset'"

# ---- the 4th failed attempt goes to dlq (--max-retries 3), earlier ones stay pending
queue 2 s-exh
default_response '{"status": 503}'
for i in 1 2 3; do
    ship --now
    check_eq "attempt $i: exit 75, retry_count $i" "75|$i" "$rc|$(q "SELECT max(retry_count) FROM events WHERE session_id='s-exh'")"
done
ship --now
check_eq "4th failure: exit 0 (nothing left pending)" 0 "$rc"
check_eq "4th failure: dlq with the reason" "2|retries exhausted: HTTP 503|4" \
    "$(q "SELECT count(*), reason, max(retry_count) FROM dlq WHERE session_id='s-exh'")"
check_match "4th failure: summary" "2 to dlq \(retries exhausted: HTTP 503\)" "$err"
queue 1 s-exh1
ship --now --max-retries 0
check_eq "--max-retries 0: dlq at the first failure" "retries exhausted: HTTP 503" \
    "$(q "SELECT reason FROM dlq WHERE session_id='s-exh1'")"
default_response '{"status": 200}'

# ---- any other answer: stop, nothing spent, exit 78 naming the status
for st in 401 403 404 301 302; do
    queue 3 "s-$st"
    queue 2 "s-$st-b"
    n0=$(requests)
    script "[{\"status\": $st, \"headers\": {\"Location\": \"http://127.0.0.1:1/elsewhere\"}}]"
    ship --parallel 1
    check_eq "HTTP $st: exit 78" 78 "$rc"
    check_match "HTTP $st: the status is named" "HTTP $st" "$err"
    check_eq "HTTP $st: the run stopped after one request" 1 "$(( $(requests) - n0 ))"
    check_eq "HTTP $st: nothing spent, all pending" "5|0|0" \
        "$(q "SELECT count(*), sum(retry_count), count(lease_until) FROM events WHERE session_id LIKE 's-$st%' AND status='pending'")"
    q "DELETE FROM events WHERE session_id LIKE 's-$st%'"
done

# ---- unreachable: refused (a port nobody listens on), DNS: nothing spent, exit 75
start_collector gone
kill "$PID_gone"; wait "$PID_gone" 2>/dev/null
queue 4 s-off
ship
check_eq "refused: exit 75" 75 "$rc"
check_match "refused: says unreachable" "unreachable" "$err"
check_eq "refused: nothing spent" "4|0|0" \
    "$(q "SELECT count(*), sum(retry_count), count(next_attempt_at) FROM events WHERE session_id='s-off' AND status='pending'")"
URL=http://no-such-host.invalid/v1
ship
check_eq "DNS failure: exit 75" 75 "$rc"
check_eq "DNS failure: nothing spent" "4|0" \
    "$(q "SELECT count(*), sum(retry_count) FROM events WHERE session_id='s-off' AND status='pending'")"
# a proxy that cannot be reached, and one that refuses the tunnel (the collector answers
# CONNECT with 501): offline too
http_proxy=http://127.0.0.1:1 HTTP_PROXY=http://127.0.0.1:1 URL=http://127.0.0.1:$PORT_main/v1 ship
check_eq "proxy unreachable: exit 75" 75 "$rc"
https_proxy=http://127.0.0.1:$PORT_main HTTPS_PROXY=http://127.0.0.1:$PORT_main URL=https://collector.invalid/v1 ship
check_eq "proxy refuses the tunnel: exit 75" 75 "$rc"
check_eq "proxies: nothing spent" "4|0" \
    "$(q "SELECT count(*), sum(retry_count) FROM events WHERE session_id='s-off' AND status='pending'")"
check_eq "offline runs recorded" "75" "$(q "SELECT exit_code FROM runs ORDER BY id DESC LIMIT 1")"
# back online: delivered
URL=http://127.0.0.1:$PORT_main/v1
LOG=$T/log.main
PORT=$PORT_main
ship
check_eq "back online: sent" "0|0" "$rc|$(q "SELECT count(*) FROM events WHERE status!='sent'")"

finish
