#!/bin/bash
# The spool on a full disk: appends fail with exit 74 and SQLite's "database or disk is
# full", nothing already stored is lost, and once space returns writing and shipping
# go on.
#
# Two ways to fill up, both run when possible:
#   tmpfs           an 8 MiB tmpfs mounted here (root only; unmounted at exit even on
#                   failure), 7 MiB of it taken by a ballast file that is deleted to give
#                   space back (shipping needs room: marking rows sent grows the -wal,
#                   up to SQLite's 1000-page autocheckpoint); the writer is the real
#                   anon-telemetry-spool
#   max_page_count  SQLite's own limit, set by build/faults/pagelimit (the library with
#                   PRAGMA max_page_count) on an ordinary directory: always runs, so the
#                   test asserts something real without root
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"
# interrupted or killed (but -9): exit through lib.sh's EXIT trap, which unmounts
trap 'exit 130' INT TERM HUP

REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"gliner-pii","entityValidatorModel":"val","entityAugmenterModel":"aug"'
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
PAGELIMIT=$BUILD/faults/pagelimit
for i in $(seq 1 20); do printf '{%s,"numInputRecords":%d}\n' "$REQ" "$i"; done > "$T/twenty.jsonl"
printf '{%s}\n' "$REQ" > "$T/one.json"

uuids() { grep -E "$UUID_RE" "$@"; }
ledger_intact() {  # ledger_intact DB LEDGER DESC
    check_eq "$3: every acknowledged event still there" "$(sort -u "$2" | wc -l)" \
        "$(sql "$1" "SELECT uuid FROM events" | sort -u | comm -12 - <(sort -u "$2") | wc -l)"
}
received() {  # events the last collector received in 2xx-answered requests
    python3 - "$LOG" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if 200 <= e.get("status", 0) < 300 and not e.get("reset"):
        n += len(json.loads(e["body"])["events"])
print(n)
EOF
}

# ships_everything DB DESC [STUCK]: a dry run lists every pending event, a real run
# delivers them all. STUCK: rows an earlier run claimed but could not settle (the disk
# was full) may still be 'sending' under their lease: at most that many are left.
ships_everything() {
    local pending dry src left
    pending=$(sql "$1" "SELECT count(*) FROM events WHERE status = 'pending'")
    dry=$("$SHIP_BIN" --spool "$1" --endpoint "$URL" --dry-run --now 2>"$T/ship.err" |
          python3 -c 'import json,sys; print(sum(len(json.loads(l)["events"]) for l in sys.stdin if l.strip()))')
    check_eq "$2: --dry-run lists every pending event" "$pending" "$dry"
    before=$(received)
    "$SHIP_BIN" --spool "$1" --endpoint "$URL" --now --connect-timeout 5 --timeout 10 \
        >"$T/ship.out" 2>"$T/ship.err"
    src=$?
    check_eq "$2: ship exits 0 ($(head -c 300 "$T/ship.err"))" 0 "$src"
    check_eq "$2: nothing pending any more" 0 "$(sql "$1" "SELECT count(*) FROM events WHERE status = 'pending'")"
    left=$(sql "$1" "SELECT count(*) FROM events WHERE status <> 'sent'")
    check "$2: nothing left but rows under an earlier run's lease ($left left, ${3:-0} allowed)" \
        test "$left" -le "${3:-0}"
    check "$2: the collector received every pending event" test $(( $(received) - before )) -ge "$pending"
}

start_collector main

# ---------------------------------------------------------------- tmpfs ----
MNT=$T/mnt
method=""
if [ "$(id -u)" -eq 0 ] && mkdir -p "$MNT" &&
   mount -t tmpfs -o size=8m,mode=0700 anon-test-full "$MNT" 2>"$T/mount.err"; then
    on_exit "umount -l '$MNT' 2>/dev/null"
    method=tmpfs
    echo "diskfull: an 8 MiB tmpfs at $MNT, 7 MiB of ballast"
else
    replaced "cannot mount a tmpfs (uid $(id -u): $(cat "$T/mount.err" 2>/dev/null)): a full" \
             "disk is stood in for by PRAGMA max_page_count only"
fi

if [ "$method" = tmpfs ]; then
    DB=$MNT/spool/spool.db
    L=$T/ledger.tmpfs; : > "$L"
    head -c 7M /dev/zero > "$MNT/ballast"
    # fill it: 20 events a call until a call is refused, then single events
    rc=0; calls=0
    while [ $rc -eq 0 ] && [ $calls -lt 500 ]; do
        "$SPOOL_BIN" --spool "$DB" < "$T/twenty.jsonl" > "$T/out" 2> "$T/err"; rc=$?
        calls=$((calls + 1)); uuids "$T/out" >> "$L"
    done
    check_eq "tmpfs: a 20-event append on a full disk exits 74" 74 "$rc"
    check_match "tmpfs: message names the spool and says the disk is full" \
        "spool $DB: .*database or disk is full" "$(cat "$T/err")"
    check_eq "tmpfs: the refused call printed no uuid" "" "$(cat "$T/out")"
    check "tmpfs: stored something before filling up ($(wc -l < "$L") events)" test "$(wc -l < "$L")" -ge 100
    rc=0; n=0
    while [ $rc -eq 0 ] && [ $n -lt 500 ]; do
        "$SPOOL_BIN" --spool "$DB" < "$T/one.json" > "$T/out" 2> "$T/err"; rc=$?
        n=$((n + 1)); uuids "$T/out" >> "$L"
    done
    check_eq "tmpfs: single appends also end with exit 74" 74 "$rc"
    check_match "tmpfs: single append refused: disk full" "spool $DB: .*database or disk is full" "$(cat "$T/err")"
    "$SPOOL_BIN" --spool "$DB" < "$T/one.json" > "$T/out" 2> "$T/err"
    check_eq "tmpfs: still full: exit 74 again" 74 $?
    check_eq "tmpfs: full disk: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
    ledger_intact "$DB" "$L" "tmpfs: full disk"
    check_eq "tmpfs: exactly the acknowledged events are stored" "$(sort -u "$L" | wc -l)" \
        "$(sql "$DB" "SELECT count(*) FROM events")"

    # the shipper on the full disk: whatever it manages, nothing is lost or moved aside
    "$SHIP_BIN" --spool "$DB" --endpoint "$URL" --now --connect-timeout 5 --timeout 10 \
        > "$T/ship.out" 2> "$T/ship.err"
    src=$?
    echo "diskfull: shipping on the full tmpfs: exit $src: $(head -c 200 "$T/ship.err")"
    case $src in 0|74|75) pass ;; *) fail "tmpfs: ship on a full disk: exit $src: $(cat "$T/ship.err")" ;; esac
    check "tmpfs: ship on a full disk did not move the spool aside" test -e "$DB"
    check_eq "tmpfs: ship on a full disk left no .corrupt file" "" "$(find "$MNT/spool" -name '*corrupt*')"
    check_eq "tmpfs: after the ship on a full disk: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
    ledger_intact "$DB" "$L" "tmpfs: after the ship on a full disk"
    stuck=$(sql "$DB" "SELECT count(*) FROM events WHERE status = 'sending'")
    [ "$stuck" -gt 0 ] && echo "diskfull: $stuck rows claimed by the full-disk run stay leased (shipped again once the lease lapses)"

    # space returns
    rm -f "$MNT/ballast"
    u=$("$SPOOL_BIN" --spool "$DB" < "$T/twenty.jsonl" 2>"$T/err")
    check_eq "tmpfs: space back: a 20-event append succeeds ($(cat "$T/err"))" 20 "$(printf '%s\n' "$u" | grep -cE "$UUID_RE")"
    printf '%s\n' "$u" | uuids >> "$L"
    ledger_intact "$DB" "$L" "tmpfs: space back"
    ships_everything "$DB" "tmpfs: space back" "$stuck"
    check_eq "tmpfs: space back: every acknowledged event sent or leased" "$(sort -u "$L" | wc -l)" \
        "$(sql "$DB" "SELECT count(*) FROM events WHERE status IN ('sent', 'sending')")"
    check_eq "tmpfs: at the end: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
fi

# ------------------------------------------------------- max_page_count ----
DB=$T/pl/spool.db
L=$T/ledger.pl; : > "$L"
"$PAGELIMIT" "$DB" 0 20 >> "$L"
check_eq "max_page_count: setup" 20 "$(wc -l < "$L")"
limit=$(( $(sql "$DB" "PRAGMA page_count") + 40 ))
rc=0; calls=0
while [ $rc -eq 0 ] && [ $calls -lt 200 ]; do
    "$PAGELIMIT" "$DB" "$limit" 20 > "$T/out" 2> "$T/err"; rc=$?
    calls=$((calls + 1)); uuids "$T/out" >> "$L"
done
check_eq "max_page_count: a 20-event append over the limit exits 74" 74 "$rc"
check_match "max_page_count: message names the spool, disk full" "spool $DB: .*database or disk is full" "$(cat "$T/err")"
check "max_page_count: some appends fit before the limit" test "$calls" -ge 2
rc=0; n=0
while [ $rc -eq 0 ] && [ $n -lt 200 ]; do
    "$PAGELIMIT" "$DB" "$limit" 1 > "$T/out" 2> "$T/err"; rc=$?
    n=$((n + 1)); uuids "$T/out" >> "$L"
done
check_eq "max_page_count: single appends also end with exit 74" 74 "$rc"
check_eq "max_page_count: page count at the limit" "$limit" "$(sql "$DB" "PRAGMA page_count")"
check_eq "max_page_count: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
ledger_intact "$DB" "$L" "max_page_count"
check_eq "max_page_count: exactly the acknowledged events are stored" "$(sort -u "$L" | wc -l)" \
    "$(sql "$DB" "SELECT count(*) FROM events")"
# space returns: no limit any more, for the library and the command alike
"$PAGELIMIT" "$DB" 0 20 > "$T/out" 2> "$T/err"
check_eq "max_page_count: limit lifted: the library appends again" 0 $?
uuids "$T/out" >> "$L"
u=$("$SPOOL_BIN" --spool "$DB" < "$T/one.json")
check_match "max_page_count: limit lifted: the command appends again" "$UUID_RE" "$u"
printf '%s\n' "$u" >> "$L"
ledger_intact "$DB" "$L" "max_page_count: limit lifted"
ships_everything "$DB" "max_page_count: limit lifted"

finish
