#!/bin/bash
# A spool on a read-only file system (issue 12, item 12): status, list and dlq list work
# (read-only) and say so; whatever writes (the writer, the shipper, dlq requeue) is refused
# with a message that names the read-only file system, not SQLite's "unable to open
# database file"; the README's sqlite3 recipes work.
#
# Spools in every state a file system can be frozen in:
#   clean    the last connection checkpointed: no -wal, no -shm (opened immutable)
#   wal      a -wal with committed rows and its -shm (a shipper's or a killed process's):
#            what the -wal holds is read (a dlq row deleted there is gone)
#   walonly  a -wal without its -shm: cannot be read in place; refused, saying what to do
#   old      a format-1 spool: would need a migration; refused, saying so
# As root an 8 MiB tmpfs is mounted and remounted read-only (unmounted at exit). Without
# root (or when mounting fails) a directory its user cannot write stands in: the "wal"
# state is checked, the others need a real read-only file system and are named as not run.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"
trap 'exit 130' INT TERM HUP

start_collector main
FIX=$ROOT/tests/fixtures/spool

MNT=$T/mnt
AS=""
mkdir -p "$MNT"
method=dir
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=8m,mode=0700 anon-test-ro "$MNT" 2>"$T/mount.err"; then
    on_exit "umount -l '$MNT' 2>/dev/null"
    method=tmpfs
else
    replaced "cannot mount a file system (uid $(id -u): $(cat "$T/mount.err" 2>/dev/null));" \
         "a directory this user cannot write stands in: the 'clean', 'walonly' and 'old' states" \
         "and the writers' read-only file system messages are not checked"
fi
mkdir -m 700 "$MNT/s"

# ---- the spools, made while the file system is writable
A=$MNT/s/clean.db
S=$A queue 2 sent
default_response '{"status": 200}'
S=$A ship
S=$A queue 2 dead
script '[{"status": 400}]'
S=$A ship
S=$A queue 3 waiting
sqlite3 "$A" "SELECT 1" >/dev/null     # the last connection: checkpoint, no -wal left
check "clean: no -wal, no -shm" test ! -e "$A-wal" -a ! -e "$A-shm"
want_a="pending=3 sending=0 sent=2 dlq=2"

W=$MNT/s/wal.db
cp "$A" "$W"
# a committed change that stays in the -wal (the process ends without a checkpoint)
python3 - "$W" <<'EOF'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint = 0")
c.execute("DELETE FROM dlq WHERE id = (SELECT min(id) FROM dlq)")
os._exit(0)
EOF
check "wal: a -wal with content and a -shm" test -s "$W-wal" -a -e "$W-shm"
want_w="pending=3 sending=0 sent=2 dlq=1"

if [ "$method" = tmpfs ]; then
    WO=$MNT/s/walonly.db
    cp "$W" "$WO"; cp "$W-wal" "$WO-wal"
    OLD=$MNT/s/old.db
    cp "$FIX/format1.spool" "$OLD"; chmod 600 "$OLD"
    sync
    mount -o remount,ro "$MNT"
    check "the file system is read-only now" sh -c "! touch '$MNT/s/x' 2>/dev/null"
else
    chmod 0500 "$MNT/s"; chmod 0400 "$A" "$W" "$W-wal" "$W-shm"
    on_exit "chmod -R u+w '$MNT'"
    if [ "$(id -u)" -eq 0 ]; then   # root writes anyway: the commands run as nobody
        chmod 711 "$T"; chown -R 65534:65534 "$MNT"
        AS="setpriv --reuid=65534 --regid=65534 --clear-groups --"
    fi
fi
listing=$(ls -l --time-style=+%s.%N "$MNT/s" | sha256sum)

# counts STATUS-JSON: pending=.. sending=.. sent=.. dlq=..
counts() { python3 -c '
import json, sys
e = json.load(sys.stdin)["events"]
print(" ".join("%s=%d" % (k, e[k]) for k in ("pending", "sending", "sent", "dlq")))'; }

# reads_ok STATE DB WANT: every reading command works, shows the right rows, says why
reads_ok() {
    local j
    j=$($AS "$SHIP_BIN" status --json --spool "$2" 2>"$T/err"); rc=$?
    check_eq "$1: status --json exits 0 ($(cat "$T/err"))" 0 "$rc"
    check_eq "$1: status --json counts what is there (the -wal's rows too)" "$3" "$(printf '%s' "$j" | counts)"
    if [ "$method" = tmpfs ]; then
        check_match "$1: status says why it only reads" \
            "status: note: spool $2 is on a read-only file system: read as it is" "$(cat "$T/err")"
    fi
    $AS "$SHIP_BIN" status --spool "$2" >"$T/out" 2>"$T/err"
    check_eq "$1: status exits 0" 0 $?
    check_match "$1: status shows the pending events" "pending +3" "$(cat "$T/out")"
    $AS "$SHIP_BIN" list --spool "$2" >"$T/out" 2>"$T/err"
    check_eq "$1: list exits 0" 0 $?
    check_match "$1: list shows every event" "^-- 5 events \(3 pending, 0 sending, 2 sent\)" "$(tail -1 "$T/out")"
    $AS "$SHIP_BIN" list --json --status pending --spool "$2" >"$T/out" 2>"$T/err"
    check_eq "$1: list --json exits 0" 0 $?
    check_eq "$1: list --json: the pending events" 3 "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])' < "$T/out")"
    $AS "$SHIP_BIN" dlq list --spool "$2" >"$T/out" 2>"$T/err"
    check_eq "$1: dlq list exits 0" 0 $?
    check_eq "$1: dlq list --json: the dead letters" "${3##*dlq=}" \
        "$($AS "$SHIP_BIN" dlq list --json --spool "$2" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
    $AS "$SHIP_BIN" --dry-run --now --spool "$2" --endpoint "$URL" >"$T/out" 2>"$T/err"
    check_eq "$1: ship --dry-run exits 0 ($(head -c 200 "$T/err"))" 0 $?
    check_eq "$1: ship --dry-run prints the 3 pending events" 3 \
        "$(python3 -c 'import json,sys; print(sum(len(json.loads(l)["events"]) for l in sys.stdin))' < "$T/out")"
}
reads_ok wal "$W" "$want_w"

# ---- whatever writes is refused, naming the read-only file system
writes_refused() {
    local why=$3
    event | $AS "$SPOOL_BIN" --spool "$2" >"$T/out" 2>"$T/err"; rc=$?
    check_eq "$1: the writer exits 74" 74 "$rc"
    check_match "$1: the writer names why" "$why" "$(cat "$T/err")"
    $AS "$SHIP_BIN" dlq requeue --all --spool "$2" >"$T/out" 2>"$T/err"; rc=$?
    check_eq "$1: dlq requeue exits 74" 74 "$rc"
    check_match "$1: dlq requeue names why" "$why" "$(cat "$T/err")"
    $AS "$SHIP_BIN" --spool "$2" --endpoint "$URL" >"$T/out" 2>"$T/err"; rc=$?
    check_eq "$1: the shipper exits 74" 74 "$rc"
    check_match "$1: the shipper names why" "$why" "$(cat "$T/err")"
}

if [ "$method" = tmpfs ]; then
    reads_ok clean "$A" "$want_a"
    writes_refused clean "$A" "[Rr]ead-only file system"
    writes_refused wal "$W" "[Rr]ead-only file system"
    event | "$SPOOL_BIN" --spool "$MNT/s/new.db" >/dev/null 2>"$T/err"
    check_eq "a new spool on a read-only file system: exit 73" 73 $?
    check_match "a new spool: names the read-only file system" "Read-only file system" "$(cat "$T/err")"

    "$SHIP_BIN" status --spool "$WO" >/dev/null 2>"$T/err"
    check_eq "walonly: status exits 74" 74 $?
    check_match "walonly: says what to do" "read-only file system and its write-ahead log .*cannot be read without its -shm file: copy the spool and its -wal" "$(cat "$T/err")"
    "$SHIP_BIN" list --spool "$OLD" >/dev/null 2>"$T/err"
    check_eq "old: list exits 74" 74 $?
    check_match "old: says it would need a migration" "has format 1 and is on a read-only file system: it cannot be brought to format" "$(cat "$T/err")"

    # the README's recipes (section "Inspecting the spool with sqlite3")
    check_eq "README: sqlite3 -readonly reads a spool with its -wal and -shm" 3 \
        "$(sqlite3 -readonly "$W" "SELECT count(*) FROM events WHERE status = 'pending'" 2>&1)"
    check_eq "README: file:...?immutable=1 reads a spool without a -wal" 3 \
        "$(sqlite3 "file:$A?immutable=1" "SELECT count(*) FROM events WHERE status = 'pending'" 2>&1)"
    check_eq "README: the recipes are the ones the README gives" "1 1" \
        "$(grep -c "^sqlite3 -readonly -box " "$ROOT/README.md") $(grep -cF "sqlite3 -box 'file:/media/backup/spool.db?immutable=1'" "$ROOT/README.md")"
else
    writes_refused wal "$W" "[Pp]ermission denied|readonly database|unable to open|not writable"
fi
check_eq "nothing in the spool directory changed" "$listing" "$(ls -l --time-style=+%s.%N "$MNT/s" | sha256sum)"

finish
