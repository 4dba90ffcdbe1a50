#!/bin/bash
# The shipper's integrity checks (issue 12, item 16): PRAGMA quick_check reads every page
# (1.7 s on a 1.5 GB spool before anything was sent, on every run); now it runs once a day,
# remembered in <spool>.lock, and the other runs make a cheap check (spool/check.c): the
# file is not shorter than the spool says, the right edge of each table reads.
#   - the first run checks fully and records when; a run within the day does not read a
#     damaged page in the middle of the spool (it would have moved the spool aside)
#   - a day later (or with no record, a garbled one, or one from a clock that went back
#     since) the full check runs again and finds the damage
#   - the cheap check finds a truncated spool, and a damaged last page of a table
#   - --dry-run reads the record but never writes it
#   - pruning a day's sent events reads only those past the cutoff (INDEXED BY)
# tests/bench/check.sh measures the cost of an empty run against sqlite3 SELECT count(*).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector main
default_response '{"status": 200}'

# stamp_ms SPOOL: the time recorded in the lock file, in ms (empty when none)
stamp() { sed -n 2p "$1.lock" 2>/dev/null; }
set_stamp() {  # set_stamp SPOOL SECONDS-FROM-NOW
    printf 'anon-telemetry-ship lock; the spool passed its full check (PRAGMA quick_check) at\n%s\n' \
        "$(ts_in "$2")" > "$1.lock"
}
age_s() { python3 -c "
import datetime, sys
t = datetime.datetime.strptime(sys.argv[1], '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc)
print(int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()))" "$1"; }
# damage_middle SPOOL: zeroes a leaf page of events in the middle of the table (no run
# with nothing due reads it: not the right edge), after a checkpoint moved every page
# into the file
damage_middle() {
    local pg psize
    sqlite3 "$1" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    pg=$(sqlite3 "$1" "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf'
                       ORDER BY pageno LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat
                       WHERE name = 'events' AND pagetype = 'leaf')")
    psize=$(sqlite3 "$1" "PRAGMA page_size")
    python3 -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek((int(sys.argv[2]) - 1) * int(sys.argv[3]))
f.write(b'\0' * int(sys.argv[3])); f.close()" "$1" "$pg" "$psize"
    [ -n "$pg" ] && ! sqlite3 "$1" "PRAGMA quick_check" 2>/dev/null | grep -qx ok
}
queue_many() {  # queue_many SPOOL N: N events waiting for a retry in an hour (not due)
    local i
    for i in $(seq 1 "$2"); do event; done > "$T/many.jsonl"
    "$SPOOL_BIN" --spool "$1" --session-id many < "$T/many.jsonl" >/dev/null
    sql "$1" "UPDATE events SET retry_count = 1, next_attempt_at = '$(ts_in 3600)'"
}

# ---- the first run checks fully and records it; a run within the day does not
mkdir -m 700 "$T/a"
A=$T/a/spool.db
queue_many "$A" 400
S=$A ship
check_eq "first run: exit 0, nothing due" "0|400" "$rc|$(sql "$A" "SELECT count(*) FROM events WHERE status = 'pending'")"
check_match "first run: the lock file records the full check" \
    '^anon-telemetry-ship lock; the spool passed its full check \(PRAGMA quick_check\) at$' "$(head -1 "$A.lock")"
first=$(stamp "$A")
check "first run: recorded now ($first)" test "$(age_s "$first")" -le 60
check "a page in the middle of events is damaged now" damage_middle "$A"
S=$A ship
check_eq "a run within the day: no full check, so exit 0 (the damage is not read)" "0|" "$rc|$err"
check "a run within the day: the spool stays where it is" test -e "$A"
check_eq "a run within the day: the record is not renewed" "$first" "$(stamp "$A")"

# the same with a day's sent events kept (--keep-sent): pruning them must not walk every
# sent row either (it reads only those past the cutoff, through their index)
mkdir -m 700 "$T/e"
E=$T/e/spool.db
for i in $(seq 1 400); do event; done > "$T/many.jsonl"
"$SPOOL_BIN" --spool "$E" --session-id sent < "$T/many.jsonl" >/dev/null
S=$E ship
check_eq "sent events: the first run sends them all" "0|400" "$rc|$(sql "$E" "SELECT count(*) FROM events WHERE status = 'sent'")"
check "sent events: a page in the middle is damaged now" damage_middle "$E"
S=$E ship
check_eq "sent events, a run within the day: exit 0, no complaint (the damage is not read)" "0|" "$rc|$err"

# ---- a day later the full check runs again, finds the damage, moves the spool aside
set_stamp "$A" $((-25 * 3600))
S=$A ship
check_eq "25 hours later: exit 74" 74 "$rc"
check_match "25 hours later: the full check found it" "fails its integrity check.*moved aside to $A.corrupt-" "$err"

# ---- no record, a garbled one, or one from the future: a full check, recorded anew
mkdir -m 700 "$T/b"
B=$T/b/spool.db
queue_many "$B" 50
S=$B ship
for how in none garbled future; do
    case $how in
    none) rm -f "$B.lock" ;;
    garbled) printf 'anon-telemetry-ship lock; the spool passed its full check (PRAGMA quick_check) at\nyesterday\n' > "$B.lock" ;;
    future) set_stamp "$B" $((3 * 86400)) ;;
    esac
    sleep 1
    before=$(date +%s)
    S=$B ship
    check_eq "record $how: exit 0" 0 "$rc"
    check "record $how: a full check, recorded now ($(stamp "$B"))" test "$(age_s "$(stamp "$B")")" -le $(( $(date +%s) - before + 1 ))
done

# ---- --dry-run reads the record, never writes it
set_stamp "$B" $((-25 * 3600))
old=$(stamp "$B")
"$SHIP_BIN" --spool "$B" --dry-run >/dev/null 2>"$T/err"
check_eq "--dry-run: exit 0" 0 $?
check_eq "--dry-run: the record is left as it was" "$old" "$(stamp "$B")"

# ---- the cheap check: a truncated spool, and a damaged last leaf of events
mkdir -m 700 "$T/c"
C=$T/c/spool.db
queue_many "$C" 400
S=$C ship
sqlite3 "$C" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
size=$(stat -c %s "$C")
truncate -s $((size / 2)) "$C"
S=$C ship
check_eq "truncated to half, within the day: exit 74" 74 "$rc"
check_match "truncated: found (by SQLite or the cheap check), moved aside" "(shorter than it says|malformed).*moved aside to $C.corrupt-" "$err"

# the same while the -wal holds the newest pages (SQLite then sizes the spool from the
# -wal and does not notice): the cheap check does
mkdir -m 700 "$T/w"
W=$T/w/spool.db
queue_many "$W" 400
S=$W ship
sqlite3 "$W" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
python3 - "$W" <<'PYEOF'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint = 0")
c.execute("UPDATE events SET last_error = 'in the wal' WHERE id = (SELECT max(id) FROM events)")
os._exit(0)
PYEOF
truncate -s $(( $(stat -c %s "$W") / 2 )) "$W"
check "the -wal holds a change, the file is cut in half" test -s "$W-wal"
S=$W ship
check_eq "truncated under its -wal, within the day: exit 74" 74 "$rc"
check_match "truncated under its -wal: the cheap check says so, moved aside" \
    "is shorter than it says: .*moved aside to $W.corrupt-" "$err"

mkdir -m 700 "$T/d"
D=$T/d/spool.db
queue_many "$D" 400
S=$D ship
sqlite3 "$D" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
pg=$(sqlite3 "$D" "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY path DESC LIMIT 1")
psize=$(sqlite3 "$D" "PRAGMA page_size")
python3 -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek((int(sys.argv[2]) - 1) * int(sys.argv[3]))
f.write(b'\xee' * int(sys.argv[3])); f.close()" "$D" "$pg" "$psize"
S=$D ship
check_eq "the last leaf of events damaged, within the day: exit 74" 74 "$rc"
check_match "the last leaf damaged: found, moved aside" "moved aside to $D.corrupt-" "$err"

finish
