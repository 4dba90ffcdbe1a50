# ship_misc.sh: opt-out, a damaged spool (moved aside, exit 74), a file that is not a spool
# (left untouched, exit 74), a missing spool,
# --max-age, --keep-sent, --syslog.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector main

# ---- opt-out: nothing sent, the spool untouched, exit 0, one line
queue 3 off
sum_before=$(cat "$S" "$S-wal" 2>/dev/null | sha256sum)
runs=$(q "SELECT count(*) FROM runs")
for v in false 0 no off "" FALSE; do
    NEMO_TELEMETRY_ENABLED=$v ship
    check_eq "NEMO_TELEMETRY_ENABLED='$v': exit 0" 0 "$rc"
    check_match "NEMO_TELEMETRY_ENABLED='$v': one line saying so" "^anon-telemetry-ship: telemetry is disabled" "$out$err"
    check_eq "NEMO_TELEMETRY_ENABLED='$v': one line" 1 "$(printf '%s\n' "$out$err" | wc -l)"
done
check_eq "opt-out: nothing posted" 0 "$(requests)"
check_eq "opt-out: spool untouched" "$sum_before" "$(cat "$S" "$S-wal" 2>/dev/null | sha256sum)"
check_eq "opt-out: no runs row" "$runs" "$(q "SELECT count(*) FROM runs")"
check_eq "opt-out: no lock file" no "$([ -e "$S.lock" ] && echo yes || echo no)"
NEMO_TELEMETRY_ENABLED=Yes ship
check_eq "NEMO_TELEMETRY_ENABLED=Yes: sent" "0|3" "$rc|$(q "SELECT count(*) FROM events WHERE status='sent'")"

# ---- a missing spool: nothing to do
S=$T/none/spool.db ship
check_eq "missing spool: exit 0, silent" "0|" "$rc|$out$err"
check_eq "missing spool: nothing created" no "$([ -e "$T/none" ] && echo yes || echo no)"

# ---- a file that is not a database at all is not one of our spools: refused, exit 74,
# left where and as it is (issue 12, item 11; tests/integration/foreign.sh has the rest;
# this used to be moved aside)
mkdir -p "$T/bad"
head -c 8192 /dev/urandom > "$T/bad/spool.db"
sum=$(sha256sum < "$T/bad/spool.db")
S=$T/bad/spool.db ship
check_eq "not a database: exit 74" 74 "$rc"
check_match "not a database: reported as not a spool, left untouched" "not an anon-telemetry spool.*left untouched" "$err"
check_eq "not a database: not moved aside" 0 "$(ls "$T/bad" | grep -c 'corrupt')"
check_eq "not a database: content kept" "$sum" "$(sha256sum < "$T/bad/spool.db")"

# ---- one of our spools that SQLite cannot read any more (our header, garbage after it):
# moved aside, never deleted, exit 74
mkdir -p "$T/bad2"
S=$T/bad2/spool.db queue 2 bad2
sqlite3 "$T/bad2/spool.db" "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;" >/dev/null
python3 -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek(100); f.write(b'\\xee' * 8000); f.close()" "$T/bad2/spool.db"
sum=$(sha256sum < "$T/bad2/spool.db")
S=$T/bad2/spool.db ship
check_eq "damaged spool: exit 74" 74 "$rc"
check_match "damaged spool: reported with the new name" "moved aside to $T/bad2/spool.db.corrupt-" "$err"
moved=$(ls "$T/bad2" | grep -c '^spool.db.corrupt-[0-9TZ]*$')
check_eq "damaged spool: moved aside" 1 "$moved"
check_eq "damaged spool: content kept" "$sum" "$(cat "$T"/bad2/spool.db.corrupt-[0-9TZ]* | sha256sum)"
check_eq "damaged spool: old name free" no "$([ -e "$T/bad2/spool.db" ] && echo yes || echo no)"

# ---- a database that fails quick_check: moved aside, exit 74
mkdir -p "$T/corrupt"
C=$T/corrupt/spool.db
S=$C queue 5 c
sqlite3 "$C" "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;" >/dev/null
# scribble over the events table's b-tree page (the file header stays intact)
root=$(sqlite3 "$C" "SELECT rootpage FROM sqlite_master WHERE name='events'")
psize=$(sqlite3 "$C" "PRAGMA page_size")
python3 -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek((int(sys.argv[2]) - 1) * int(sys.argv[3]))
f.write(bytes([0x0d, 0xff, 0xff, 0x00, 0x90]) + b'\\xee' * 200); f.close()" "$C" "$root" "$psize"
if sqlite3 "$C" "PRAGMA quick_check" 2>&1 | grep -qx ok; then
    fail "could not damage the test spool"
else
    S=$C ship
    check_eq "quick_check fails: exit 74" 74 "$rc"
    check_match "quick_check fails: reported" "damaged.*moved aside to $C.corrupt-" "$err"
    check_eq "quick_check fails: moved aside" 1 "$(ls "$T/corrupt" | grep -c '^spool.db.corrupt-[0-9TZ]*$')"
fi

# ---- --max-age: older pending events go to dlq as expired
queue 2 old
queue 1 young
q "UPDATE events SET queued_at='$(ts_in -864000)' WHERE session_id='old'"
ship --max-age 7
check_eq "--max-age: exit 0" 0 "$rc"
check_eq "--max-age: old ones expired" "2|expired: older than 7 days" \
    "$(q "SELECT count(*), reason FROM dlq WHERE session_id='old'")"
check_eq "--max-age: the young one sent" "sent" "$(q "SELECT status FROM events WHERE session_id='young'")"
check_match "--max-age: summary" "2 to dlq \(expired: older than 7 days\)" "$err"
queue 1 old2
q "UPDATE events SET queued_at='$(ts_in -864000)' WHERE session_id='old2'"
ship
check_eq "no --max-age: old events are still sent" sent "$(q "SELECT status FROM events WHERE session_id='old2'")"

# ---- --keep-sent: older sent rows are pruned
q "UPDATE events SET sent_at='$(ts_in -$((8 * 86400)))' WHERE session_id='young'"
q "UPDATE events SET sent_at='$(ts_in -$((3 * 86400)))' WHERE session_id='off'"
ship
check_eq "--keep-sent 7 (default): 8-day-old sent row pruned" 0 "$(q "SELECT count(*) FROM events WHERE session_id='young'")"
check_eq "--keep-sent 7: 3-day-old kept" 3 "$(q "SELECT count(*) FROM events WHERE session_id='off'")"
ship --keep-sent 1
check_eq "--keep-sent 1: 3-day-old pruned" 0 "$(q "SELECT count(*) FROM events WHERE session_id='off'")"
check_eq "--keep-sent: pending rows never pruned" 0 "$(q "SELECT count(*) FROM events WHERE status!='sent'")"

# ---- --syslog: nothing on stderr
queue 1 sys
script '[{"status": 503}]'
ship --syslog
check_eq "--syslog: exit 75" 75 "$rc"
check_eq "--syslog: nothing on stderr" "" "$err"

# ---- runs: one row per run, with the outcome
check_eq "runs: finished and summarised" 0 "$(q "SELECT count(*) FROM runs WHERE finished_at IS NULL OR summary IS NULL")"
check_eq "runs: last exit code" 75 "$(q "SELECT exit_code FROM runs ORDER BY id DESC LIMIT 1")"

finish
