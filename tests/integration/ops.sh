# ops.sh: the operator subcommands (status, list, dlq list/requeue/purge) against a
# real spool. Events are queued with anon-telemetry-spool; the shipper's effects
# (sent rows, backoff, dead letters, a runs row) are made with plain SQL, as the
# schema defines them, so no network and no timing are involved.
. "$(dirname "$0")/../lib.sh"

S=$T/spool.db
ship() { "$SHIP_BIN" "$@"; }
# run CMD...: sets $out (stdout), $err (stderr) and $rc
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err"); }
# json EXPR: evaluates a Python expression over the JSON document in $out (as d)
json() { printf "%s" "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>&1 | tail -n 1; }

event() {
    printf '{"task":"batch","taskStatus":"%s","transformationType":"redact",' "$1"
    printf '"entityDetectorModel":"gliner","entityValidatorModel":"v","entityAugmenterModel":"a"}\n'
}

# ---- a spool that does not exist: say so, exit 74, create nothing
run ship status --spool "$T/nowhere/spool.db"
check_eq "status on a missing spool exits 74" 74 "$rc"
check_match "status on a missing spool says so" "does not exist" "$err"
check "status does not create the spool or its directory" test ! -e "$T/nowhere"
run ship list --spool "$T/missing.db"
check_eq "list on a missing spool exits 74" 74 "$rc"
run ship dlq list --spool "$T/missing.db"
check_eq "dlq list on a missing spool exits 74" 74 "$rc"
run ship dlq requeue --all --spool "$T/missing.db"
check_eq "dlq requeue on a missing spool exits 74" 74 "$rc"
check "nothing was created" test ! -e "$T/missing.db"

# ---- bad usage: exit 64 with a message
for args in "status --bogus" "status extra" "list --status bogus" "list --status dlq" \
            "dlq" "dlq frob" "dlq requeue" "dlq purge" "dlq requeue 1 --all" \
            "dlq purge abc" "dlq requeue 0" "dlq requeue --json 1" "status --all" \
            "status --status pending" "list --spool"; do
    # shellcheck disable=SC2086
    run ship $args
    check_eq "'$args' is bad usage" 64 "$rc"
    check_match "'$args' prints a message and the usage" "usage:" "$err"
done
run ship status --help
check_eq "status --help exits 0" 0 "$rc"
check_match "status --help prints the usage on stdout" "dlq requeue" "$out"

# ---- a real spool: six events from anon-telemetry-spool
{ event completed; event completed; event error; event canceled; event completed
  event error; } > "$T/events.jsonl"
run "$SPOOL_BIN" --spool "$S" --session-id ops-a < "$T/events.jsonl"
check_eq "six events queued" 0 "$rc"
check_eq "six rows in events" 6 "$(sql "$S" "SELECT count(*) FROM events")"

run ship status --spool "$S"
check_eq "status exits 0" 0 "$rc"
check_match "status: pending 6, all due" "pending +6 +\(6 due now\)" "$out"
check_match "status: dlq 0" "dlq +0" "$out"
check_match "status: never run" "last run +never" "$out"
check_match "status: next attempt now" "next attempt +now \(6 due\)" "$out"
check_match "status: spool size" "size +[0-9.]+ (B|KiB|MiB)" "$out"

run ship status --json --spool "$S"
check_eq "status --json exits 0" 0 "$rc"
check_eq "status --json: pending" 6 "$(json "d['events']['pending']")"
check_eq "status --json: due_now" 6 "$(json "d['due_now']")"
check_eq "status --json: no run yet" None "$(json "d['last_run']")"
check_eq "status --json: spool bytes = db + wal" True \
    "$(json "d['spool_bytes'] == d['db_bytes'] + d['wal_bytes'] > 0")"

# ---- what a shipper leaves behind, written as the schema says. A next attempt and a
# lease a little ahead (as far ahead as a shipper sets them: further means the clock
# moved back, and they count as due).
NEXT=$(date -u -d '+12 hours' +%Y-%m-%dT%H:%M:%S.000Z)
LEASE=$(date -u -d '+100 seconds' +%Y-%m-%dT%H:%M:%S.000Z)
sql "$S" "
UPDATE events SET status = 'sent', sent_at = '2026-01-01T00:00:01.000Z' WHERE id = 1;
UPDATE events SET retry_count = 2, next_attempt_at = '$NEXT',
       last_error = 'HTTP 503' WHERE id = 2;
UPDATE events SET queued_at = '2000-01-01T00:00:00.000Z' WHERE id = 3;
UPDATE events SET status = 'sending', lease_until = '$LEASE' WHERE id = 4;
INSERT INTO dlq (id, uuid, name, schema_version, session_id, client_version, cpu_architecture,
                 queued_at, parameters, retry_count, last_error, moved_at, reason)
    SELECT id, uuid, name, schema_version, session_id, client_version, cpu_architecture,
           queued_at, parameters, CASE id WHEN 5 THEN 4 ELSE 0 END,
           CASE id WHEN 5 THEN 'HTTP 503' ELSE 'HTTP 400' END, '2026-01-02T00:00:00.000Z',
           CASE id WHEN 5 THEN 'retries exhausted: HTTP 503'
                   ELSE 'rejected by collector: HTTP 400' END
      FROM events WHERE id IN (5, 6);
DELETE FROM events WHERE id IN (5, 6);
INSERT INTO runs (started_at, finished_at, exit_code, sent, retried, dead, summary)
    VALUES ('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:02.000Z', 0, 0, 0, 0, 'first'),
           ('2026-01-02T00:00:00.000Z', '2026-01-02T00:00:03.000Z', 75, 1, 1, 2,
            '1 sent, 1 to retry, 2 dead-lettered');"
uuid5=$(sql "$S" "SELECT uuid FROM dlq WHERE id = 5")
params5=$(sql "$S" "SELECT parameters FROM dlq WHERE id = 5")

run ship status --spool "$S"
check_eq "status exits 0 (2)" 0 "$rc"
check_match "status: pending 2, one due" "pending +2 +\(1 due now\)" "$out"
check_match "status: sending 1, lease still running" "sending +1$" "$(printf '%s\n' "$out" | grep '^sending')"
check_match "status: sent 1" "sent +1" "$out"
check_match "status: dlq 2" "dlq +2" "$out"
check_match "status: dlq by reason, HTTP 503" "^ +1 +retries exhausted: HTTP 503" "$out"
check_match "status: dlq by reason, HTTP 400" "^ +1 +rejected by collector: HTTP 400" "$out"
check_match "status: oldest pending age" \
    "oldest pending +[0-9]+d [0-9]+h \(queued 2000-01-01T00:00:00.000Z\)" "$out"
check_match "status: next attempt, then the backoff time" \
    "next attempt +now \(1 due\), then $NEXT \(in " "$out"
check_match "status: last run is the latest" "last run +#2 started 2026-01-02T00:00:00.000Z" "$out"
check_match "status: last run exit" "exit 75" "$out"
check_match "status: last run counts" "sent 1, retried 1, dead 2" "$out"
check_match "status: last run summary" "1 sent, 1 to retry, 2 dead-lettered" "$out"

run ship status --json --spool "$S"
check_eq "json: counts" "2 1 1 2" \
    "$(json "' '.join(str(d['events'][k]) for k in ('pending','sending','sent','dlq'))")"
check_eq "json: no lapsed lease" 0 "$(json "d['sending_lease_lapsed']")"
sql "$S" "UPDATE events SET lease_until = '2001-01-01T00:00:00.000Z' WHERE id = 4"
run ship status --spool "$S"
check_match "status: a lapsed lease is shown" "sending +1 +\(1 with a lapsed lease" "$out"
sql "$S" "UPDATE events SET lease_until = '$LEASE' WHERE id = 4"
run ship status --json --spool "$S"
check_eq "json: oldest pending" 2000-01-01T00:00:00.000Z "$(json "d['oldest_pending_queued_at']")"
check_eq "json: age in seconds" True "$(json "d['oldest_pending_age_seconds'] > 800000000")"
check_eq "json: next attempt" "$NEXT" "$(json "d['next_attempt_at']")"
check_eq "json: dlq by reason" 2 "$(json "sum(r['events'] for r in d['dlq_by_reason'])")"
check_eq "json: last run" "2 75 1 1 2" \
    "$(json "' '.join(str(d['last_run'][k]) for k in ('id','exit_code','sent','retried','dead'))")"

# ---- list
run ship list --spool "$S"
check_eq "list exits 0" 0 "$rc"
check_match "list: a header" "^ID +STATUS +QUEUED AT +RETRIES +NEXT ATTEMPT +SESSION +LAST ERROR" "$out"
check_eq "list: four rows, a header and a total" 6 "$(printf '%s\n' "$out" | wc -l)"
check_match "list: the backed-off row" "^ *2 +pending +[0-9T:.Z-]+ +2 +$NEXT +ops-a +HTTP 503" "$out"
check_match "list: total" "^-- 4 events \(2 pending, 1 sending, 1 sent\)" "$out"
# aligned: every line's STATUS column starts at the same offset
check_eq "list: columns aligned" 1 \
    "$(printf '%s\n' "$out" | grep -v '^--' | awk '{print index($0, $2)}' | sort -u | wc -l)"
run ship list --status pending --spool="$S"
check_eq "list --status pending: two rows" 2 "$(printf '%s\n' "$out" | grep -c ' pending ')"
check_nomatch "list --status pending: no sent row" " sent " "$out"
run ship list --status sent --json --spool "$S"
check_eq "list --json: one sent" 1 "$(json "d['count']")"
check_eq "list --json: its id" 1 "$(json "d['events'][0]['id']")"
check_eq "list --json: parameters as an object" batch "$(json "d['events'][0]['parameters']['task']")"
run ship list --status sending --spool "$S"
check_match "list --status sending" "^ *4 +sending" "$out"

# ---- dlq list
run ship dlq list --spool "$S"
check_eq "dlq list exits 0" 0 "$rc"
check_match "dlq list: header" "^ID +MOVED AT +RETRIES +QUEUED AT +SESSION +REASON" "$out"
check_match "dlq list: id 5" "^ *5 +2026-01-02T00:00:00.000Z +4 +.* retries exhausted: HTTP 503" "$out"
check_match "dlq list: id 6" "^ *6 .* rejected by collector: HTTP 400" "$out"
check_match "dlq list: total" "^-- 2 dead letters" "$out"
run ship dlq list --json --spool "$S"
check_eq "dlq list --json" "2 5 6" "$(json "' '.join(str(x) for x in [d['count']] + [r['id'] for r in d['dlq']])")"
check_eq "dlq list --json: last_error" "HTTP 503" "$(json "d['dlq'][0]['last_error']")"
check_eq "dlq list --json: uuid" "$uuid5" "$(json "d['dlq'][0]['uuid']")"

# ---- requeue: all or nothing
run ship dlq requeue 5 99 98 --spool "$S"
check_eq "requeue with unknown IDs exits 65" 65 "$rc"
check_match "requeue names the unknown IDs" "not in the dlq: 98 99" "$err"
check_eq "requeue changed nothing (dlq)" 2 "$(sql "$S" "SELECT count(*) FROM dlq")"
check_eq "requeue changed nothing (events)" 4 "$(sql "$S" "SELECT count(*) FROM events")"

run ship dlq requeue 5 5 --spool "$S"
check_eq "requeue 5 exits 0" 0 "$rc"
check_match "requeue says how many" "requeued 1 event " "$out"
check_eq "requeued: same id and uuid, pending, retry_count 0, due now, last_error kept" \
    "$uuid5|pending|0||HTTP 503|" \
    "$(sql "$S" "SELECT uuid, status, retry_count, next_attempt_at, last_error, sent_at FROM events WHERE id = 5")"
check_eq "requeued: parameters unchanged" "$params5" "$(sql "$S" "SELECT parameters FROM events WHERE id = 5")"
check_eq "requeued: gone from the dlq" 0 "$(sql "$S" "SELECT count(*) FROM dlq WHERE id = 5")"

# ---- purge
run ship dlq purge 5 6 --spool "$S"
check_eq "purge of an ID not in the dlq exits 65" 65 "$rc"
check_match "purge names it" "not in the dlq: 5$" "$(head -n 1 "$T/err")"
check_eq "purge changed nothing" 1 "$(sql "$S" "SELECT count(*) FROM dlq")"
run ship dlq purge 6 --spool "$S"
check_eq "purge 6 exits 0" 0 "$rc"
check_match "purge says how many" "purged 1 event from the dlq" "$out"
check_eq "purged" 0 "$(sql "$S" "SELECT count(*) FROM dlq")"
check_eq "purge leaves events alone" 5 "$(sql "$S" "SELECT count(*) FROM events")"
run ship dlq list --spool "$S"
check_match "dlq list on an empty dlq" "dlq is empty" "$out"

# ---- --all
run ship dlq requeue --all --spool "$S"
check_eq "requeue --all on an empty dlq exits 0" 0 "$rc"
check_match "requeue --all on an empty dlq" "requeued 0 events" "$out"
dead() {  # dead ID...: move rows from events to dlq as a shipper would
    ids=$(echo "$*" | tr ' ' ',')
    sql "$S" "INSERT INTO dlq (id, uuid, name, schema_version, session_id, client_version,
                               cpu_architecture, queued_at, parameters, retry_count, last_error,
                               moved_at, reason)
              SELECT id, uuid, name, schema_version, session_id, client_version, cpu_architecture,
                     queued_at, parameters, 4, 'HTTP 500', '2026-01-03T00:00:00.000Z',
                     'retries exhausted: HTTP 500' FROM events WHERE id IN ($ids);
              DELETE FROM events WHERE id IN ($ids);"
}
dead 2 3
run ship dlq requeue --all --spool "$S"
check_eq "requeue --all exits 0" 0 "$rc"
check_match "requeue --all says how many" "requeued 2 events" "$out"
check_eq "requeue --all: back as pending, retry 0" "2|pending|0|HTTP 500
3|pending|0|HTTP 500" \
    "$(sql "$S" "SELECT id, status, retry_count, last_error FROM events WHERE id IN (2, 3) ORDER BY id")"
dead 2 3 5
run ship dlq purge --all --spool "$S"
check_eq "purge --all exits 0" 0 "$rc"
check_match "purge --all says how many" "purged 3 events" "$out"
check_eq "purge --all emptied the dlq" 0 "$(sql "$S" "SELECT count(*) FROM dlq")"

# ---- requeue when the id was taken by a newer event meanwhile: keeps the uuid, new id
dead 4
uuid4=$(sql "$S" "SELECT uuid FROM dlq WHERE id = 4")
sql "$S" "INSERT INTO events (id, uuid, schema_version, session_id, client_version,
                              cpu_architecture, queued_at, parameters)
          VALUES (4, 'c0ffee00-0000-4000-8000-000000000004', '1.7', 'ops-b', 'undefined',
                  'x86_64', '2026-01-04T00:00:00.000Z', '{}')"
run ship dlq requeue 4 --spool "$S"
check_eq "requeue onto a taken id exits 0" 0 "$rc"
check_match "requeue says the new id" "dlq id 4 is now event id [0-9]+" "$out"
check_eq "the requeued event keeps its uuid" 1 \
    "$(sql "$S" "SELECT count(*) FROM events WHERE uuid = '$uuid4' AND id != 4 AND status = 'pending'")"
check_eq "the newer event is untouched" ops-b "$(sql "$S" "SELECT session_id FROM events WHERE id = 4")"

# ---- the README's sqlite3 examples run against this (real) spool, read-only
awk '/^<!-- sqlite3-examples/ { on = 1; next } on && /^```sql/ { inside = 1; next }
     inside && /^```/ { exit } inside' "$ROOT/README.md" > "$T/readme.sql"
if [ -s "$T/readme.sql" ]; then
    run sqlite3 -readonly -bail -cmd '.timeout 5000' "$S" < "$T/readme.sql"
    check_eq "README sqlite3 examples run" "0:" "$rc:$err"
    check_match "README sqlite3 examples give rows" "pending" "$out"
else
    fail "README has no sqlite3-examples block"
fi

# ---- the default spool path
run env ANON_TELEMETRY_SPOOL="$S" "$SHIP_BIN" status --json
check_eq "status uses \$ANON_TELEMETRY_SPOOL" "$S" "$(json "d['spool']")"

# ---- a file that is not a spool: 74, and it is left as it was
printf 'this is not a database, just some bytes that are long enough to look like a header\n' > "$T/junk.db"
cp "$T/junk.db" "$T/junk.orig"
run ship status --spool "$T/junk.db"
check_eq "status on a file that is not a spool exits 74" 74 "$rc"
check "the file is not changed" cmp -s "$T/junk.db" "$T/junk.orig"

# ---- make demo's script, end to end, in a scratch directory (not the checkout's demo/)
run env ANON_DEMO_DIR="$T/demo" "$ROOT/scripts/demo.sh"
check_eq "the demo runs" 0 "$rc"
check_match "demo: offline run exits 75" "endpoint unreachable" "$out$err"
check_eq "demo: the collector got three requests" 3 "$(wc -l < "$T/demo/collector.log" | tr -d ' ')"
check_eq "demo: everything sent in the end" "sent|7" \
    "$(sql "$T/demo/spool.db" "SELECT status, count(*) FROM events GROUP BY status")"
check_eq "demo: dlq empty in the end" 0 "$(sql "$T/demo/spool.db" "SELECT count(*) FROM dlq")"
check_nomatch "demo: the collector was stopped" "collector.py --port-file $T/demo" "$(ps -eo args)"

finish
