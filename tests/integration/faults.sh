#!/bin/bash
# anon-telemetry-spool under failing I/O and on damaged spools.
#
# I/O errors come from build/faultfs.so (tests/faults/faultfs.c), an LD_PRELOAD shim
# that fails the Nth and later (or only the Nth) write/pwrite/fsync/ftruncate on the
# spool's files. For every call point N of an append (counted first on a clean run):
# the command exits 0 (the event is then stored) or 74 with the path and SQLite's
# reason; PRAGMA integrity_check is ok; every acknowledged event is still there; and a
# clean append right after succeeds. Then ENOSPC, a 50-event append (all or none), a
# long-lived C caller whose one open handle goes on appending after a one-off fault, and
# a spool being created. Last, damaged spools: a truncated file,
# garbage, a newer format, a -wal without its database: exit 74, a message, the file
# untouched, no crash.
. "$(dirname "$0")/../lib.sh"

REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"gliner-pii","entityValidatorModel":"val","entityAugmenterModel":"aug"'
SHIM=$BUILD/faultfs.so
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
IOERR_RE='(disk I/O error|database or disk is full)'

# Under SANITIZE=1 the commands link ASan, whose runtime must come first in LD_PRELOAD;
# its interceptors then call into the shim.
PRELOAD=$SHIM
asan=$(ldd "$SPOOL_BIN" 2>/dev/null | awk '/libasan/ { print $3; exit }')
[ -n "$asan" ] && PRELOAD="$asan $SHIM"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

if [ ! -f "$SHIM" ]; then
    fail "missing $SHIM (make test builds it)"
    finish
    exit 1
fi

marker=1000000        # numInputRecords of each faulty append: finds its row, if any
ledger=$T/ledger      # uuids of acknowledged events

# spool_faulty DB OP N COUNT ERRNO [INPUT-FILE]: one append with faults injected on the
# files whose path contains $FPATH (default: DB, so also its -wal and -shm);
# sets rc, out, errmsg, calls (matching calls) and failed (calls the shim made fail).
spool_faulty() {
    local db=$1 op=$2 n=$3 cnt=$4 eno=$5 input=${6:-}
    marker=$((marker + 1))
    [ -n "$input" ] || { printf '{%s,"numInputRecords":%d}\n' "$REQ" "$marker" > "$T/in"; input=$T/in; }
    rm -f "$T/flog"
    out=$(FAULTFS_FAIL=$op FAULTFS_AFTER=$n FAULTFS_COUNT=$cnt FAULTFS_ERRNO=$eno \
          FAULTFS_PATH=${FPATH:-$db} FAULTFS_LOG=$T/flog LD_PRELOAD=$PRELOAD \
          "$SPOOL_BIN" --spool "$db" --session-id "f$marker" < "$input" 2>"$T/err")
    rc=$?
    errmsg=$(cat "$T/err")
    failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' "$T/flog" 2>/dev/null | tail -n 1)
    calls=$(sed -n 's/^calls=\([0-9]*\).*/\1/p' "$T/flog" 2>/dev/null | tail -n 1)
}

clean_append() {   # clean_append DB: a plain append that must succeed; its uuid joins the ledger
    local u
    u=$(printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$1" 2>"$T/err.clean")
    if printf '%s\n' "$u" | grep -Eq "$UUID_RE"; then
        pass; printf '%s\n' "$u" >> "$ledger"
    else
        fail "$2: clean append afterwards: $(cat "$T/err.clean")"
    fi
}

ledger_intact() {  # ledger_intact DB DESC: every acknowledged uuid is stored
    local want got
    want=$(sort -u "$ledger" | wc -l)
    got=$(sql "$1" "SELECT uuid FROM events" | sort -u | comm -12 - <(sort -u "$ledger") | wc -l)
    check_eq "$2: every acknowledged event still there" "$want" "$got"
}

# ---- sweep every write/sync point of an append to an existing spool ----
DB=$T/io/spool.db
: > "$ledger"
clean_append "$DB" "setup"
clean_append "$DB" "setup"
ghosts=0
for op in pwrite fsync write ftruncate; do
    spool_faulty "$DB" "$op" 0 "" EIO        # count the calls: nothing fails
    check_eq "$op: counting run succeeds" 0 "$rc"
    printf '%s\n' "$out" | grep -E "$UUID_RE" >> "$ledger"
    total=${calls:-0}
    case $op in pwrite|fsync) check "$op: an append makes $op calls on the spool" test "$total" -gt 0 ;; esac
    hit=0; refused=0; absent=0; runs=0
    for mode in persistent transient; do
        cnt=""; [ $mode = transient ] && cnt=1
        n=1
        while [ "$n" -le "$total" ]; do
            d="$op call $n/$total ($mode)"
            spool_faulty "$DB" "$op" "$n" "$cnt" EIO
            runs=$((runs + 1)); f_failed=${failed:-0}; f_calls=${calls:-0}
            case $rc in
            0)  if printf '%s\n' "$out" | grep -Eq "$UUID_RE"; then
                    pass; printf '%s\n' "$out" >> "$ledger"
                else fail "$d: exit 0 without a uuid"; fi ;;
            74) pass; refused=$((refused + 1))
                check_match "$d: message names the spool and SQLite's reason" \
                    "spool $DB: .*: $IOERR_RE" "$errmsg"
                check_eq "$d: no uuid printed" "" "$out"
                [ "$(sql "$DB" "SELECT count(*) FROM events WHERE session_id='f$marker'")" = 1 ] &&
                    ghosts=$((ghosts + 1)) ;;
            *)  fail "$d: exit $rc (want 0 or 74): $errmsg" ;;
            esac
            check_eq "$d: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
            ledger_intact "$DB" "$d"
            clean_append "$DB" "$d"
            if [ "$f_failed" -ge 1 ]; then
                hit=$((hit + 1))
            else
                # never injected: only right if an append now makes fewer calls (the spool
                # grew no page this time, say); a counting run at this state says
                spool_faulty "$DB" "$op" 0 "" EIO
                printf '%s\n' "$out" | grep -E "$UUID_RE" >> "$ledger"
                if [ "${calls:-0}" -ge "$n" ]; then
                    fail "$d: the fault was never injected (an append makes ${calls:-0} calls)"
                else
                    pass; absent=$((absent + 1))
                fi
            fi
            # an append that makes more calls than first counted: sweep those points too
            [ "$mode" = transient ] && [ "$f_calls" -gt "$total" ] && total=$f_calls
            n=$((n + 1))
        done
    done
    check_eq "$op: every call point was hit or shown absent" "$runs" $((hit + absent))
    case $op in pwrite|fsync) check "$op: some faults were reported (exit 74)" test "$refused" -gt 0 ;; esac
    echo "faults: $op: $total call points per append, $runs runs, $hit faults injected, $refused refused with exit 74"
done
echo "faults: $ghosts refused appends whose row appeared anyway (written before the failing sync; at-least-once)"
check_eq "integrity at the end of the sweep" ok "$(sql "$DB" "PRAGMA integrity_check")"
ledger_intact "$DB" "end of the sweep"

# ---- ENOSPC from the file system: "database or disk is full", exit 74 ----
FPATH=$DB-wal spool_faulty "$DB" pwrite 1 "" ENOSPC
check_eq "ENOSPC writing the -wal: exit 74" 74 "$rc"
check_match "ENOSPC writing the -wal: SQLite's reason" "spool $DB: .*database or disk is full" "$errmsg"
spool_faulty "$DB" fsync 1 "" ENOSPC
check_eq "ENOSPC on fsync: exit 74" 74 "$rc"
check_match "ENOSPC on fsync: message" "spool $DB: .*$IOERR_RE" "$errmsg"
check_eq "ENOSPC: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
clean_append "$DB" "after ENOSPC"

# ---- a 50-event append failing part-way: all or none ----
for i in $(seq 1 50); do printf '{%s,"numInputRecords":%d}\n' "$REQ" "$i"; done > "$T/fifty.jsonl"
spool_faulty "$DB" pwrite 0 "" EIO "$T/fifty.jsonl"
total=${calls:-0}
check_eq "50 events: counting run stores 50" 50 "$(printf '%s\n' "$out" | grep -cE "$UUID_RE")"
printf '%s\n' "$out" | grep -E "$UUID_RE" >> "$ledger"
for n in 1 2 3 $((total / 2)) $((total - 2)) $((total - 1)) "$total"; do
    [ "$n" -ge 1 ] || continue
    spool_faulty "$DB" pwrite "$n" "" EIO "$T/fifty.jsonl"
    stored=$(sql "$DB" "SELECT count(*) FROM events WHERE session_id='f$marker'")
    if [ "$rc" = 0 ]; then
        check_eq "50 events, pwrite $n/$total: acknowledged, all stored" 50 "$stored"
        printf '%s\n' "$out" | grep -E "$UUID_RE" >> "$ledger"
    else
        check_eq "50 events, pwrite $n/$total: exit 74" 74 "$rc"
        case $stored in 0|50) pass ;; *) fail "50 events, pwrite $n/$total: $stored rows stored (want 0 or 50)" ;; esac
    fi
    check_eq "50 events, pwrite $n: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
done
ledger_intact "$DB" "after the 50-event faults"

# ---- a long-lived C caller: one open spool, a one-off fault, later appends succeed ----
# build/faults/pagelimit SPOOL 0 3 4: four 3-event appends through the library on one
# handle, "ok UUID..." or "fail STATUS UUID... : MESSAGE" per append.
PAGELIMIT=$BUILD/faults/pagelimit
LDB=$T/long/spool.db
"$PAGELIMIT" "$LDB" 0 1 > /dev/null
lghosts=0
for op in pwrite fsync; do
    rm -f "$T/flog"
    FAULTFS_FAIL=$op FAULTFS_PATH=$LDB FAULTFS_LOG=$T/flog LD_PRELOAD=$PRELOAD \
        "$PAGELIMIT" "$LDB" 0 3 4 > "$T/long.out" 2>&1
    total=$(sed -n 's/^calls=\([0-9]*\).*/\1/p' "$T/flog")
    check_eq "long-lived caller, $op: counting run, four appends" 4 "$(grep -c '^ok ' "$T/long.out")"
    grep '^ok ' "$T/long.out" | tr ' ' '\n' | grep -E "$UUID_RE" >> "$ledger.long"
    for n in $(seq 1 "${total:-0}"); do
        d="long-lived caller, $op call $n/$total"
        FAULTFS_FAIL=$op FAULTFS_AFTER=$n FAULTFS_COUNT=1 FAULTFS_PATH=$LDB LD_PRELOAD=$PRELOAD \
            "$PAGELIMIT" "$LDB" 0 3 4 > "$T/long.out" 2> "$T/long.err"
        lrc=$?
        if [ $lrc -ne 0 ]; then   # the fault hit the open: refused as a whole
            check_eq "$d: a failed open exits 74" 74 "$lrc"
            check_match "$d: a failed open says why" "spool $LDB: .*$IOERR_RE" "$(cat "$T/long.err")"
        else
            check "$d: at most one append failed" test "$(grep -c '^fail ' "$T/long.out")" -le 1
            check_eq "$d: every append after the failure succeeded" "" \
                "$(sed -n '/^fail /,$p' "$T/long.out" | sed 1d | grep -v '^ok ')"
            if grep -q '^fail ' "$T/long.out"; then
                check_match "$d: the failure is EIO with the path and reason" \
                    "^fail 5 .* : spool $LDB: .*$IOERR_RE" "$(grep '^fail ' "$T/long.out")"
                tried=$(grep '^fail ' "$T/long.out" | cut -d: -f1 | tr ' ' '\n' | grep -E "$UUID_RE" | sed "s/.*/'&'/" | paste -sd, -)
                if [ -n "$tried" ]; then
                    got=$(sql "$LDB" "SELECT count(*) FROM events WHERE uuid IN ($tried)")
                    case $got in
                    0) pass ;;
                    3) pass; lghosts=$((lghosts + 1)) ;;
                    *) fail "$d: the failed append is partly stored ($got of 3)" ;;
                    esac
                fi
            fi
            grep '^ok ' "$T/long.out" | tr ' ' '\n' | grep -E "$UUID_RE" >> "$ledger.long"
        fi
        check_eq "$d: integrity_check" ok "$(sql "$LDB" "PRAGMA integrity_check")"
    done
    echo "faults: long-lived caller, $op: $total call points over four appends"
done
check_eq "long-lived caller: every acknowledged event still there" "$(sort -u "$ledger.long" | wc -l)" \
    "$(sql "$LDB" "SELECT uuid FROM events" | sort -u | comm -12 - <(sort -u "$ledger.long") | wc -l)"
echo "faults: long-lived caller: $lghosts failed appends whose rows appeared anyway"

# ---- faults while a spool is being created: reported, and the next run recovers ----
for op in pwrite fsync; do
    spool_faulty "$T/new-count-$op/spool.db" "$op" 0 "" EIO
    total=${calls:-0}
    check "creating a spool makes $op calls" test "$total" -gt 0
    for n in $(seq 1 "$total"); do
        NDB=$T/new-$op-$n/spool.db
        d="new spool, $op call $n/$total"
        spool_faulty "$NDB" "$op" "$n" "" EIO
        case $rc in
        0)  check_match "$d: exit 0 prints a uuid" "$UUID_RE" "$out" ;;
        73|74) pass
            check_match "$d: message names the spool" "$NDB" "$errmsg" ;;
        *)  fail "$d: exit $rc (want 0, 73 or 74): $errmsg" ;;
        esac
        : > "$ledger.new"
        u=$(printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$NDB" 2>"$T/err.clean")
        check_match "$d: the next run creates or uses it" "$UUID_RE" "$u"
        check_eq "$d: integrity_check" ok "$(sql "$NDB" "PRAGMA integrity_check")"
        check_eq "$d: format version" "$SPOOL_FORMAT" "$(sql "$NDB" "PRAGMA user_version")"
        rm -rf "${NDB%/*}"
    done
done

# ---- damaged spools: exit 74 with a message, the file left as it was, never a crash ----
CDB=$T/c/good.db
for i in $(seq 1 300); do printf '{%s,"numInputRecords":%d}\n' "$REQ" "$i"; done > "$T/ev300"
"$SPOOL_BIN" --spool "$CDB" < "$T/ev300" > /dev/null
sz=$(stat -c %s "$CDB")
refused() {   # refused DESC FILE REGEX
    local before after
    before=$(sha256sum < "$2")
    printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$2" > "$T/out" 2> "$T/err"
    rc=$?
    after=$(sha256sum < "$2")
    check_eq "$1: exit 74" 74 "$rc"
    check_match "$1: message names the spool and the reason" "spool $2.*$3" "$(cat "$T/err")"
    check_eq "$1: no uuid printed" "" "$(cat "$T/out")"
    check_eq "$1: file untouched" "$before" "$after"
}
for n in 2 16 50 100 101 4096 8192 $((sz / 2)) $((sz - 4096)); do
    cp "$CDB" "$T/c/trunc.db"; truncate -s "$n" "$T/c/trunc.db"
    refused "truncated to $n of $sz bytes" "$T/c/trunc.db" '(malformed|not a database)'
    rm -f "$T"/c/trunc.db*
done
cp "$CDB" "$T/c/garbage.db"
head -c 100 /dev/urandom | dd of="$T/c/garbage.db" conv=notrunc status=none
refused "garbage header" "$T/c/garbage.db" 'not a database'
cp "$CDB" "$T/c/garbage2.db"
head -c $((sz - 4096)) /dev/urandom | dd of="$T/c/garbage2.db" bs=4096 seek=1 conv=notrunc status=none
refused "garbage pages" "$T/c/garbage2.db" 'malformed'
head -c 8192 /dev/urandom > "$T/c/random.db"
refused "random bytes" "$T/c/random.db" 'not a database'
cp "$CDB" "$T/c/newer.db"
sqlite3 "$T/c/newer.db" "PRAGMA user_version=$((SPOOL_FORMAT + 1))"
refused "a spool from a newer format" "$T/c/newer.db" "format version $((SPOOL_FORMAT + 1)), newer than this anon-telemetry"
check_eq "newer spool: its events are all still there" 300 "$(sql "$T/c/newer.db" "SELECT count(*) FROM events")"
# a -wal left without its database (copied while a writer held the spool open)
mkdir -p "$T/c/orphan"
printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$T/c/orphan/spool.db" > /dev/null
python3 - "$T/c/orphan/spool.db" <<'EOF'
import sqlite3, shutil, sys, os
db = sys.argv[1]
c = sqlite3.connect(db)
c.execute("PRAGMA wal_autocheckpoint=0")
c.execute("UPDATE events SET retry_count = retry_count")  # a frame in the -wal
c.commit()
shutil.copy(db + "-wal", db + "-wal.keep")
c.close()
os.remove(db)
for s in ("-wal", "-shm"):
    if os.path.exists(db + s):
        os.remove(db + s)
os.rename(db + "-wal.keep", db + "-wal")
EOF
wsum=$(sha256sum < "$T/c/orphan/spool.db-wal")
printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$T/c/orphan/spool.db" > "$T/out" 2> "$T/err"
check_eq "-wal without its database: exit 74" 74 $?
check_match "-wal without its database: says so" "spool.db-wal exists.*without its database" "$(cat "$T/err")"
check "-wal without its database: no new database created" test ! -e "$T/c/orphan/spool.db"
check_eq "-wal without its database: the -wal untouched" "$wsum" "$(sha256sum < "$T/c/orphan/spool.db-wal")"
# after all of that the good spool takes appends as before
check_match "good spool still writable" "$UUID_RE" "$(printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$CDB")"

finish
