# ship_backoff.sh: exponential backoff stored per row, Retry-After in seconds and as an
# HTTP date (honoured when later than the backoff, capped at 24 h), --now.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector main
secs_until() { python3 -c "import datetime,sys; t=datetime.datetime.strptime(sys.argv[1],'%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc); print(int((t-datetime.datetime.now(datetime.timezone.utc)).total_seconds()))" "$1"; }
next_of() { q "SELECT next_attempt_at FROM events WHERE session_id='$1'"; }

# ---- backoff doubles: 30..60 s, 60..120 s, 120..240 s (jitter never below half)
queue 1 b1
default_response '{"status": 503}'
for n in 1 2 3; do
    ship --now
    d=$(secs_until "$(next_of b1)")
    lo=$(( 30 * (1 << (n - 1)) - 2 )); hi=$(( 60 * (1 << (n - 1)) + 1 ))
    check "attempt $n: delay ${d}s within [$lo, $hi]" test "$d" -ge "$lo" -a "$d" -le "$hi"
done
default_response '{"status": 200}'
q "DELETE FROM events"

# ---- Retry-After in seconds, later than the backoff: honoured
queue 1 ra1
script '[{"status": 503, "retry_after": "3600"}]'
ship
d=$(secs_until "$(next_of ra1)")
check "Retry-After: 3600 honoured (${d}s)" test "$d" -ge 3590 -a "$d" -le 3601
check_eq "Retry-After: exit 75" 75 "$rc"

# ---- Retry-After shorter than the backoff: the backoff wins
queue 1 ra2
script '[{"status": 429, "retry_after": "1"}]'
ship
d=$(secs_until "$(next_of ra2)")
check "Retry-After: 1 s does not shorten the backoff (${d}s)" test "$d" -ge 28 -a "$d" -le 61

# ---- Retry-After as an HTTP date (IMF-fixdate), two hours ahead
date2h=$(python3 -c "import email.utils,time; print(email.utils.formatdate(time.time()+7200, usegmt=True))")
queue 1 ra3
script "[{\"status\": 503, \"retry_after\": \"$date2h\"}]"
ship
d=$(secs_until "$(next_of ra3)")
check "Retry-After: HTTP date honoured (${d}s, $date2h)" test "$d" -ge 7180 -a "$d" -le 7201

# ---- an RFC 850 date, and an asctime date
d850=$(python3 -c "import time; print(time.strftime('%A, %d-%b-%y %H:%M:%S GMT', time.gmtime(time.time()+5400)))")
queue 1 ra4
script "[{\"status\": 503, \"retry_after\": \"$d850\"}]"
ship
d=$(secs_until "$(next_of ra4)")
check "Retry-After: RFC 850 date (${d}s, $d850)" test "$d" -ge 5380 -a "$d" -le 5401
dasc=$(python3 -c "import time; print(time.asctime(time.gmtime(time.time()+4000)))")
queue 1 ra5
script "[{\"status\": 503, \"retry_after\": \"$dasc\"}]"
ship
d=$(secs_until "$(next_of ra5)")
check "Retry-After: asctime date (${d}s, $dasc)" test "$d" -ge 3980 -a "$d" -le 4001

# ---- capped at 24 h; a date in the past and garbage are ignored
queue 1 ra6
script '[{"status": 503, "retry_after": "999999"}]'
ship
d=$(secs_until "$(next_of ra6)")
check "Retry-After: capped at 24 h (${d}s)" test "$d" -ge 86380 -a "$d" -le 86400
queue 1 ra7
script '[{"status": 503, "retry_after": "Sun, 06 Nov 1994 08:49:37 GMT"}]'
ship
d=$(secs_until "$(next_of ra7)")
check "Retry-After: past date ignored (${d}s)" test "$d" -ge 28 -a "$d" -le 61
queue 1 ra8
script '[{"status": 503, "retry_after": "soon"}]'
ship
d=$(secs_until "$(next_of ra8)")
check "Retry-After: garbage ignored (${d}s)" test "$d" -ge 28 -a "$d" -le 61

# ---- cron runs respect next_attempt_at; --now ignores it; due rows are sent
n=$(requests)
ship
check_eq "cron run: nothing due, exit 0, nothing posted" "0|$n" "$rc|$(requests)"
q "UPDATE events SET next_attempt_at='$(ts_in -1)' WHERE session_id='ra1'"
ship
check_eq "cron run: the due row is sent" "sent" "$(q "SELECT status FROM events WHERE session_id='ra1'")"
check_eq "cron run: the others wait" 7 "$(q "SELECT count(*) FROM events WHERE status='pending'")"
check_eq "cron run: exit 0" 0 "$rc"
ship --now
check_eq "--now: all sent" "0|0" "$rc|$(q "SELECT count(*) FROM events WHERE status!='sent'")"
check_eq "sent rows: backoff cleared" 0 "$(q "SELECT count(*) FROM events WHERE next_attempt_at IS NOT NULL")"

# ---- --now tries each event once per run, even when it fails again
queue 3 once
default_response '{"status": 500}'
n=$(requests)
ship --now
check_eq "--now with failures: one attempt per event per run" "75|1|1" \
    "$rc|$(( $(requests) - n ))|$(q "SELECT max(retry_count) FROM events WHERE session_id='once'")"
default_response '{"status": 200}'

finish
