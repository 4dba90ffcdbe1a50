#!/bin/bash
# The relay on a full disk: requests are answered 503 with Retry-After and nothing of
# them is stored (no half request), every event answered 200 is in the spool, the spool
# passes its integrity check, and serving resumes by itself once space returns.
#
# Two ways to fill up, both run when possible:
#   tmpfs    an 8 MiB tmpfs mounted here (root only; unmounted at exit even on failure),
#            7 MiB of it taken by a ballast file that is deleted to give space back
#   faultfs  the relay under tests/faults/faultfs.c: its writes to the spool fail with
#            ENOSPC for a while (FAULTFS_AFTER, FAULTFS_COUNT), then succeed again;
#            always runs, without root
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../relay_helpers.sh"
trap 'exit 130' INT TERM HUP

# send N: posts N envelopes of 20 events (their uuids in Anon-Telemetry-Event-Ids) to
# $RBASE, one at a time; the uuids answered 200 go to $L, the statuses to $T/statuses,
# a Retry-After of any 503 to $T/retry.
send() {
    python3 - "$RBASE" "$1" "$L" "$T/statuses" "$T/retry" <<'EOF'
import json, sys, urllib.error, urllib.request, uuid
base, n, ledger, statuses, retry = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
req = {"task": "batch", "taskStatus": "completed", "transformationType": "redact",
       "entityDetectorModel": "gliner-pii", "entityValidatorModel": "validator",
       "entityAugmenterModel": "augmenter", "judgeModel": "j" * 200}
with open(ledger, "a") as led, open(statuses, "a") as st, open(retry, "a") as ra:
    for _ in range(n):
        ids = [str(uuid.uuid4()) for _ in range(20)]
        env = {"sessionId": "s", "clientVer": "1", "cpuArchitecture": "x86_64",
               "eventSchemaVer": "1.7",
               "events": [{"ts": "2026-05-11T12:00:00.000Z", "name": "anonymizer_event",
                           "parameters": req} for _ in ids]}
        r = urllib.request.Request(base + "/v1.1/events/json", json.dumps(env).encode(),
                                   {"Content-Type": "application/json",
                                    "Anon-Telemetry-Event-Ids": ",".join(ids)})
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                code = resp.status
        except urllib.error.HTTPError as e:
            code = e.code
            if code == 503:
                ra.write((e.headers.get("Retry-After") or "none") + " " + e.read().decode() + "\n")
        st.write("%d\n" % code)
        if code == 200:
            led.write("".join(u + "\n" for u in ids))
EOF
}
# acked_stored DB DESC: the spool holds exactly the events answered 200
acked_stored() {
    check_eq "$2: every event answered 200 is in the spool, and nothing else" \
        "$(sort -u "$L" | wc -l) $(sort -u "$L" | wc -l)" \
        "$(sql "$1" "SELECT count(*) FROM events" | tr -d ' ') $(sql "$1" "SELECT uuid FROM events" | sort -u | comm -12 - <(sort -u "$L") | wc -l)"
}

# ---------------------------------------------------------------- tmpfs ----
MNT=$T/mnt
if [ "$(id -u)" -eq 0 ] && mkdir -p "$MNT" &&
   mount -t tmpfs -o size=8m,mode=0700 anon-test-relayfull "$MNT" 2>"$T/mount.err"; then
    on_exit "umount -l '$MNT' 2>/dev/null"
    echo "relay_diskfull: an 8 MiB tmpfs at $MNT, 7 MiB of ballast"
    L=$T/ledger.tmpfs; : > "$L"; : > "$T/statuses"; : > "$T/retry"
    DB=$MNT/spool/spool.db
    head -c 7M /dev/zero > "$MNT/ballast"
    start_relay tmpfs --spool "$DB"
    for _ in $(seq 1 40); do
        send 10
        grep -q 503 "$T/statuses" && break
    done
    check "tmpfs: some requests were stored before the disk filled ($(grep -c '^200$' "$T/statuses"))" \
        test "$(grep -c '^200$' "$T/statuses")" -ge 5
    check "tmpfs: a full disk is answered 503" grep -q '^503$' "$T/statuses"
    check_match "tmpfs: ... with Retry-After and the reason" '^[0-9]+ .*database or disk is full' \
        "$(head -n 1 "$T/retry")"
    check "tmpfs: the relay is still running" kill -0 "$RPID"
    check_eq "tmpfs: full disk: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
    acked_stored "$DB" "tmpfs: full disk"
    check "tmpfs: healthz counts the 503s" test "$(health 'j["requests"]["refused"]["503"]')" -ge 1
    rm -f "$MNT/ballast"
    : > "$T/statuses"
    send 5
    check_eq "tmpfs: space back: served again without a restart" "200 200 200 200 200" \
        "$(tr '\n' ' ' < "$T/statuses" | sed 's/ $//')"
    acked_stored "$DB" "tmpfs: space back"
    check_eq "tmpfs: at the end: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
    stop_relay "$RPID"
    check_eq "tmpfs: SIGTERM: exit 0" 0 "$rrc"
else
    replaced "cannot mount a tmpfs (uid $(id -u): $(cat "$T/mount.err" 2>/dev/null)): a full" \
             "disk is stood in for by the faultfs shim only"
fi

# -------------------------------------------------------------- faultfs ----
SHIM=$BUILD/faultfs.so
PRELOAD=$SHIM
asan=$(ldd "$RELAY_BIN" 2>/dev/null | awk '/libasan/ { print $3; exit }')
[ -n "$asan" ] && PRELOAD="$asan $SHIM"
if [ ! -f "$SHIM" ]; then
    fail "missing $SHIM (make test builds it)"
    finish
    exit
fi
L=$T/ledger.faultfs; : > "$L"; : > "$T/statuses"; : > "$T/retry"
DB=$T/ff/spool.db
start_relay ffsetup --spool "$DB"
send 3
stop_relay "$RPID"
check_eq "faultfs: setup" "200 200 200" "$(tr '\n' ' ' < "$T/statuses" | sed 's/ $//')"
: > "$T/statuses"
# the spool exists: the first write to its WAL is a commit's; 12 fail, then space returns
FAULTFS_FAIL=write,pwrite FAULTFS_PATH=$DB-wal FAULTFS_ERRNO=ENOSPC FAULTFS_AFTER=1 FAULTFS_COUNT=12 \
    FAULTFS_LOG=$T/flog LD_PRELOAD=$PRELOAD start_relay faultfs --spool "$DB"
send 30
check_match "faultfs: the first requests are answered 503" '^503' "$(head -n 1 "$T/statuses")"
check_match "faultfs: ... with Retry-After and SQLite's reason" '^[0-9]+ .*(database or disk is full|disk I/O error)' \
    "$(head -n 1 "$T/retry")"
check_eq "faultfs: once writes succeed again, serving resumes by itself" 200 "$(tail -n 1 "$T/statuses")"
check "faultfs: both happened ($(sort "$T/statuses" | uniq -c | tr '\n' ' '))" \
    test "$(grep -c '^503$' "$T/statuses")" -ge 1 -a "$(grep -c '^200$' "$T/statuses")" -ge 1
check_eq "faultfs: only 200 and 503 answers" "" "$(grep -v -e '^200$' -e '^503$' "$T/statuses")"
acked_stored "$DB" "faultfs"
check_eq "faultfs: integrity_check" ok "$(sql "$DB" "PRAGMA integrity_check")"
stop_relay "$RPID"
check_eq "faultfs: SIGTERM: exit 0" 0 "$rrc"
check_match "faultfs: the shim did fail writes" 'failed=12' "$(cat "$T/flog" 2>/dev/null)"
finish
