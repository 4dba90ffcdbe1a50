#!/bin/bash
# Files that are not our spools (issue 12, item 11): every command refuses them with exit
# 74 and leaves them byte for byte where they are (no rename, no -wal, -shm or .lock left
# beside them); only a damaged file that was one of our spools (our application_id in its
# SQLite header, or a format-1 spool with our tables) is moved aside by the shipper.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

FIX=$ROOT/tests/fixtures/spool

# untouched_by_all DESC FILE: every command on FILE exits 74, FILE keeps its name and bytes,
# and nothing new appears in its directory
untouched_by_all() {
    local d f sum listing rc
    f=$2; d=$(dirname "$f")
    sum=$(sha256sum < "$f")
    listing=$(ls -A "$d")
    for c in "ship" "ship --dry-run" "status" "status --json" "list" "dlq list" \
             "dlq requeue --all" "dlq purge --all" "spool"; do
        if [ "$c" = spool ]; then
            event | "$SPOOL_BIN" --spool "$f" >"$T/out" 2>"$T/err"; rc=$?
        elif [ "${c%% *}" = ship ]; then
            # shellcheck disable=SC2086
            "$SHIP_BIN" --spool "$f" --endpoint "$URL" ${c#ship} >"$T/out" 2>"$T/err"; rc=$?
        else
            # shellcheck disable=SC2086
            "$SHIP_BIN" $c --spool "$f" >"$T/out" 2>"$T/err"; rc=$?
        fi
        check_eq "$1: '$c' exits 74 ($(head -c 300 "$T/err"))" 74 "$rc"
        check_eq "$1: '$c' leaves it byte for byte" "$sum" "$(sha256sum < "$f")"
        check_eq "$1: '$c' renames nothing and leaves nothing beside it" "$listing" "$(ls -A "$d")"
        check_eq "$1: '$c' prints nothing on stdout" "" "$(cat "$T/out")"
    done
    check_match "$1: the shipper says it is not a spool and was left untouched" \
        "not an anon-telemetry spool.*left untouched" \
        "$("$SHIP_BIN" --spool "$f" --endpoint "$URL" 2>&1 >/dev/null)"
}

start_collector main

# ---- a text file given as --spool (the report: `--spool ./hosts` became hosts.corrupt-...)
mkdir -m 700 "$T/text"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n# %s\n' \
    "$(head -c 300 /dev/zero | tr '\0' x)" > "$T/text/hosts"
untouched_by_all "a text file" "$T/text/hosts"
(cd "$T/text" && "$SHIP_BIN" --spool ./hosts --endpoint "$URL" >/dev/null 2>&1)
check_eq "a relative ./hosts: exit 74, still there as it was" "hosts" "$(ls -A "$T/text")"

# ---- a short file (less than an SQLite header) and random bytes
mkdir -m 700 "$T/short" "$T/random"
printf 'hello\n' > "$T/short/s.db"
untouched_by_all "a 6-byte file" "$T/short/s.db"
head -c 8192 /dev/urandom > "$T/random/s.db"
untouched_by_all "random bytes" "$T/random/s.db"

# ---- SQLite databases that are someone else's
mkdir -m 700 "$T/foreign" "$T/otherapp"
sqlite3 "$T/foreign/s.db" "CREATE TABLE events(theirs); INSERT INTO events VALUES (1);"
untouched_by_all "another program's database" "$T/foreign/s.db"
sqlite3 "$T/otherapp/s.db" "PRAGMA application_id = 1234; CREATE TABLE events(x);"
untouched_by_all "a database with another application_id" "$T/otherapp/s.db"
# ... even when damaged: its header says it is not ours
python3 -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek(100); f.write(b'\xee' * 3000); f.close()" "$T/otherapp/s.db"
check "the other application's database is damaged now" \
    sh -c "! sqlite3 '$T/otherapp/s.db' 'SELECT * FROM sqlite_master' >/dev/null 2>&1"
untouched_by_all "a damaged database with another application_id" "$T/otherapp/s.db"

# ---- a damaged spool of ours whose schema cannot be read: its header still says it is
# ours, so the shipper moves it aside (and the other commands refuse it untouched)
mkdir -m 700 "$T/ours"
O=$T/ours/spool.db
S=$O queue 3 ours
sqlite3 "$O" "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;" >/dev/null
python3 -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek(100); f.write(b'\xee' * 3000); f.close()" "$O"
check "our spool is damaged now" sh -c "! sqlite3 '$O' 'SELECT * FROM sqlite_master' >/dev/null 2>&1"
sum=$(sha256sum < "$O")
event | "$SPOOL_BIN" --spool "$O" >/dev/null 2>"$T/err"
check_eq "damaged spool of ours: the writer exits 74" 74 $?
"$SHIP_BIN" status --spool "$O" >/dev/null 2>"$T/err"
check_eq "damaged spool of ours: status exits 74" 74 $?
check_eq "damaged spool of ours: writer and status leave it" "$sum" "$(sha256sum < "$O")"
"$SHIP_BIN" --spool "$O" --endpoint "$URL" >/dev/null 2>"$T/err"
check_eq "damaged spool of ours: the shipper exits 74" 74 $?
check_match "damaged spool of ours: moved aside, said so" "damaged; moved aside to $O.corrupt-" "$(cat "$T/err")"
check_eq "damaged spool of ours: the salvage copy has its bytes" "$sum" "$(cat "$O".corrupt-* | sha256sum)"

# ---- a damaged spool of format 1 (no mark, but our tables): moved aside
mkdir -m 700 "$T/f1"
F1=$T/f1/spool.db
cp "$FIX/format1.spool" "$F1"; chmod 600 "$F1"
root=$(sqlite3 "$F1" "SELECT rootpage FROM sqlite_master WHERE name='events'")
psize=$(sqlite3 "$F1" "PRAGMA page_size")
python3 -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek((int(sys.argv[2]) - 1) * int(sys.argv[3]))
f.write(bytes([0x0d, 0xff, 0xff, 0x00, 0x90]) + b'\xee' * 200); f.close()" "$F1" "$root" "$psize"
"$SHIP_BIN" --spool "$F1" --endpoint "$URL" >/dev/null 2>"$T/err"
check_eq "damaged format-1 spool: exit 74" 74 $?
check_match "damaged format-1 spool: moved aside" "moved aside to $F1.corrupt-" "$(cat "$T/err")"

finish
