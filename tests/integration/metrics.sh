#!/bin/bash
# metrics.sh: the Prometheus metrics. anon-telemetry-ship metrics on a missing, a busy
# and an unreadable spool (values checked one by one against what the spool holds, and
# promtool check metrics on every output); --metrics-textfile after a run (written by
# rename, 0644, this run's exit status, no temporary file left, a directory that cannot
# be written is exit 74 after the events were delivered); the relay's GET /metrics; and
# a real prometheus-node-exporter on 127.0.0.1 serving the textfile.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/ship_helpers.sh"

RELAY_BIN=$BUILD/anon-telemetry-relay
PROMTOOL=$(command -v promtool || true)
[ -n "$PROMTOOL" ] || fail "no promtool (scripts/install-deps.sh installs Debian's prometheus)"
# promtool_ok DESC FILE: promtool check metrics finds nothing to say
promtool_ok() {
    [ -n "$PROMTOOL" ] || return 0
    "$PROMTOOL" check metrics < "$2" >"$T/promtool.out" 2>&1
    check_eq "$1: promtool check metrics is silent ($(tr '\n' ' ' < "$T/promtool.out"))" "0 " \
        "$? $(cat "$T/promtool.out")"
}
# value FILE SAMPLE: the value of one sample line (name with its labels, exactly)
# (the sample through the environment: awk -v would read its backslashes as escapes)
value() { SAMPLE=$2 awk 'BEGIN { s = ENVIRON["SAMPLE"] } substr($0, 1, length(s) + 1) == s " " { print $NF }' "$1"; }
metrics() { "$SHIP_BIN" metrics --spool "$S" >"$T/m" 2>"$T/m.err"; rc=$?; }

# ---- no spool yet: zero counts, nothing created
metrics
check_eq "no spool: exit 0" 0 "$rc"
check "no spool: none is created" test ! -e "$S"
check_eq "no spool: no error" 0 "$(value "$T/m" anon_telemetry_spool_error)"
check_eq "no spool: no pending event" 0 "$(value "$T/m" 'anon_telemetry_events{status="pending"}')"
check_match "no spool: the version" "^anon_telemetry_info\\{version=\"[0-9.]+\"\\} 1$" \
    "$(grep '^anon_telemetry_info' "$T/m")"
check_eq "no spool: no last run" "" "$(grep '^anon_telemetry_last_run' "$T/m")"
promtool_ok "no spool" "$T/m"

# ---- a spool with something in every state
start_collector main
queue 3 s1
script '[{"status": 200}]'
ship --batch-size 3 >/dev/null                      # 3 sent
queue 2 s4
"$SHIP_BIN" bundle create "$T/b.jsonl" --spool "$S" >/dev/null 2>&1 ||
    fail "bundle create failed"                     # 2 exported
queue 2 s2
script '[{"status": 503, "retry_after": "3600"}]'
ship >/dev/null                                     # 2 pending, retry in an hour
queue 1 s3                                          # 1 pending, due
queue 1 s5                                          # 1 pending, due
# dead letters with reasons a label must escape (quotes, a backslash, a line feed): the
# test writes them itself, as a receipt from another site could bring any sentence
for r in 'rejected by collector: HTTP 400' 'rejected by collector: HTTP 400' \
         'remote: say "no" \ again'; do
    sql "$S" "INSERT INTO dlq (id, uuid, schema_version, session_id, client_version,
              cpu_architecture, queued_at, parameters, moved_at, reason)
              VALUES ((SELECT coalesce(max(id), 0) + 1000 FROM dlq), lower(hex(randomblob(16))),
              '1.7', 'd', 'undefined', 'x86_64', '2026-12-01T00:00:00.000Z', '{}',
              '2026-12-01T00:00:00.000Z', '$(printf '%s' "$r" | sed "s/'/''/g")')"
done
sql "$S" "INSERT INTO dlq (id, uuid, schema_version, session_id, client_version,
          cpu_architecture, queued_at, parameters, moved_at, reason)
          VALUES (5000, 'nl', '1.7', 'd', 'undefined', 'x86_64', '2026-12-01T00:00:00.000Z',
          '{}', '2026-12-01T00:00:00.000Z', 'two' || char(10) || 'lines')"
before=$(cat "$S" "$S-wal" 2>/dev/null | sha256sum)
metrics
check_eq "busy spool: exit 0" 0 "$rc"
promtool_ok "busy spool" "$T/m"
for st in pending:4 sending:0 sent:3 exported:2 dlq:4; do
    check_eq "events{status=\"${st%%:*}\"} is what the spool holds" "${st#*:}" \
        "$(value "$T/m" "anon_telemetry_events{status=\"${st%%:*}\"}")"
done
check_eq "events_due: the two queued after the retry" 2 "$(value "$T/m" anon_telemetry_events_due)"
check_eq "dlq by reason" 2 "$(value "$T/m" 'anon_telemetry_dlq_events{reason="rejected by collector: HTTP 400"}')"
check_eq "a reason's quotes and backslash escaped" 1 \
    "$(value "$T/m" 'anon_telemetry_dlq_events{reason="remote: say \"no\" \\ again"}')"
check_eq "a reason's line feed escaped: one line" 1 \
    "$(value "$T/m" 'anon_telemetry_dlq_events{reason="two\nlines"}')"
oldest=$(sql "$S" "SELECT CAST((julianday('now') - julianday(min(queued_at))) * 86400 AS INTEGER)
                   FROM events WHERE status = 'pending'")
age=$(value "$T/m" anon_telemetry_oldest_pending_age_seconds)
check "oldest pending age is the oldest pending event's ($age vs $oldest)" \
    test "$age" -ge "$oldest" -a "$age" -le $((oldest + 2))
check_eq "spool_bytes: the database and its WAL" \
    $(( $(stat -c %s "$S") + $(stat -c %s "$S-wal" 2>/dev/null || echo 0) )) \
    "$(value "$T/m" anon_telemetry_spool_bytes)"
check_eq "the spool's id" "$(sql "$S" 'SELECT spool_id FROM spool')" \
    "$(sed -n 's/^anon_telemetry_info{.*spool_id="\([0-9a-f]*\)"} 1$/\1/p' "$T/m")"
IFS='|' read -r started finished code sent retried dead < <(sql "$S" \
    "SELECT CAST(strftime('%s', started_at) AS INTEGER), CAST(strftime('%s', finished_at) AS INTEGER),
            exit_code, sent, retried, dead FROM runs ORDER BY id DESC LIMIT 1")
check_eq "last run: its start" "$started" "$(value "$T/m" anon_telemetry_last_run_start_timestamp_seconds | cut -d. -f1)"
check_eq "last run: its end" "$finished" "$(value "$T/m" anon_telemetry_last_run_end_timestamp_seconds | cut -d. -f1)"
check_eq "last run: its exit status (75: retried)" "75 $code" "$(value "$T/m" anon_telemetry_last_run_exit_status) 75"
check_eq "last run: sent, retried, dead" "$sent $retried $dead" \
    "$(value "$T/m" 'anon_telemetry_last_run_events{result="sent"}') $(value "$T/m" 'anon_telemetry_last_run_events{result="retried"}') $(value "$T/m" 'anon_telemetry_last_run_events{result="dead"}')"
check_eq "a bundle awaits its receipt" 1 "$(value "$T/m" anon_telemetry_bundles_awaiting_receipt)"
check_eq "no receipt due (nothing imported)" 0 "$(value "$T/m" anon_telemetry_bundles_receipt_due)"
check_eq "metrics changed nothing in the spool" "$before" "$(cat "$S" "$S-wal" 2>/dev/null | sha256sum)"

# an imported bundle waits for a receipt to be made
S2=$T/gw/spool.db
mkdir -m 700 "$T/gw"
"$SHIP_BIN" bundle import "$T/b.jsonl" --spool "$S2" >/dev/null 2>&1
"$SHIP_BIN" metrics --spool "$S2" >"$T/m2"
check_eq "the importing spool: a receipt is due" 1 "$(value "$T/m2" anon_telemetry_bundles_receipt_due)"
check_eq "the importing spool: the imported events are pending" 2 \
    "$(value "$T/m2" 'anon_telemetry_events{status="pending"}')"

# ---- a file that is not a spool: the error is a metric too
printf 'not a database, not at all%.0s' $(seq 1 100) > "$T/junk.db"
"$SHIP_BIN" metrics --spool "$T/junk.db" >"$T/mj" 2>"$T/mj.err"
rc=$?
check_eq "not a spool: exit 74" 74 "$rc"
check_match "not a spool: says why" "anon-telemetry-ship metrics: .*junk.db" "$(cat "$T/mj.err")"
check_eq "not a spool: anon_telemetry_spool_error 1" 1 "$(value "$T/mj" anon_telemetry_spool_error)"
check_eq "not a spool: no counts" "" "$(grep '^anon_telemetry_events' "$T/mj")"
promtool_ok "not a spool" "$T/mj"

# ---- --metrics-textfile
TF=$T/textfile
mkdir "$TF"
"$SHIP_BIN" --spool "$S" --endpoint "$URL" --now --metrics-textfile "$TF" >/dev/null 2>"$T/tf.err"
check_eq "a run with --metrics-textfile: exit 0 (the retries delivered now)" 0 $?
check_eq "it wrote anon_telemetry.prom, and nothing else" anon_telemetry.prom "$(ls -A "$TF")"
check_eq "readable by the collector's user: 0644" 644 "$(stat -c %a "$TF/anon_telemetry.prom")"
check_eq "this run's exit status" 0 "$(value "$TF/anon_telemetry.prom" anon_telemetry_ship_exit_status)"
check_eq "the spool as the run left it: nothing pending" 0 \
    "$(value "$TF/anon_telemetry.prom" 'anon_telemetry_events{status="pending"}')"
check_eq "the run it describes is this one" "$(sql "$S" 'SELECT sent FROM runs ORDER BY id DESC LIMIT 1')" \
    "$(value "$TF/anon_telemetry.prom" 'anon_telemetry_last_run_events{result="sent"}')"
promtool_ok "textfile" "$TF/anon_telemetry.prom"
ino=$(stat -c %i "$TF/anon_telemetry.prom")
queue 1 s6
script '[{"status": 503, "retry_after": "3600"}]'
"$SHIP_BIN" --spool "$S" --endpoint "$URL" --metrics-textfile "$TF" >/dev/null 2>&1
check_eq "a run that leaves events pending: exit 75" 75 $?
check_eq "the textfile says 75" 75 "$(value "$TF/anon_telemetry.prom" anon_telemetry_ship_exit_status)"
check "the textfile was replaced by a rename (another inode), never rewritten in place" \
    test "$(stat -c %i "$TF/anon_telemetry.prom")" != "$ino"
check_eq "no temporary file left" anon_telemetry.prom "$(ls -A "$TF")"
queue 1 s7
"$SHIP_BIN" --spool "$S" --endpoint "$URL" --now --metrics-textfile "$T/nowhere" >/dev/null 2>"$T/tf.err"
check_eq "a textfile directory that does not exist: exit 74" 74 $?
check_match "saying so" "metrics-textfile: .*nowhere" "$(cat "$T/tf.err")"
check_eq "but the events were delivered first" 0 \
    "$(sql "$S" "SELECT count(*) FROM events WHERE status = 'pending'")"
"$SHIP_BIN" --spool "$S" --endpoint "$URL" --dry-run --metrics-textfile "$TF" >/dev/null 2>"$T/tf.err"
check_eq "--metrics-textfile with --dry-run: bad usage" 64 $?
"$SHIP_BIN" metrics --spool "$S" --metrics-textfile "$TF" >/dev/null 2>&1
check_eq "--metrics-textfile is for a run, not for the metrics command" 64 $?

# ---- the relay's GET /metrics
R=$T/relay/spool.db
mkdir -m 700 "$T/relay"
"$RELAY_BIN" --spool "$R" --listen 127.0.0.1:0 2>"$T/relay.err" &
rpid=$!
on_exit "kill $rpid 2>/dev/null"
for i in $(seq 1 100); do grep -q 'listening on' "$T/relay.err" && break; sleep 0.05; done
RB=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$T/relay.err" | head -n 1)
S=$T/env/spool.db queue 2 relayed
body=$("$SHIP_BIN" --spool "$T/env/spool.db" --dry-run)
ids=$(sql "$T/env/spool.db" 'SELECT group_concat(uuid) FROM (SELECT uuid FROM events ORDER BY id)')
# posted twice with the events' ids, as a shipper resends after a lost answer
for i in 1 2; do
    curl -s -o /dev/null -H 'Content-Type: application/json' -H "Anon-Telemetry-Event-Ids: $ids" \
        --data-binary "$body" "$RB/v1.1/events/json"
done
curl -s -o /dev/null "$RB/nowhere"
code=$(curl -s -o "$T/rm" -D "$T/rm.h" -w '%{http_code}' "$RB/metrics")
check_eq "relay: GET /metrics is 200" 200 "$code"
check_match "relay: in the text format's content type" 'Content-Type: text/plain; version=0\.0\.4' \
    "$(cat "$T/rm.h")"
promtool_ok "relay" "$T/rm"
check_eq "relay: the spool's metrics, the same renderer" 2 "$(value "$T/rm" 'anon_telemetry_events{status="pending"}')"
check_eq "relay: events stored" 2 "$(value "$T/rm" anon_telemetry_relay_events_stored_total)"
check_eq "relay: the resent ones are duplicates" 2 "$(value "$T/rm" anon_telemetry_relay_events_duplicate_total)"
check_eq "relay: requests answered 200 (two posts and this one)" 3 \
    "$(value "$T/rm" 'anon_telemetry_relay_requests_total{code="200"}')"
check_eq "relay: one 404" 1 "$(value "$T/rm" 'anon_telemetry_relay_requests_total{code="404"}')"
check_eq "relay: refusals" 1 "$(value "$T/rm" anon_telemetry_relay_refusals_total)"
check_eq "relay: POST /metrics is 405" 405 \
    "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data x "$RB/metrics")"
kill -TERM "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null

# ---- a real node_exporter reads the textfile and serves it
NE=$(command -v prometheus-node-exporter || true)
if [ -z "$NE" ]; then
    fail "no prometheus-node-exporter (scripts/install-deps.sh installs it)"
else
    NPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$NE" --web.listen-address="127.0.0.1:$NPORT" --collector.disable-defaults \
        --collector.textfile --collector.textfile.directory="$TF" --log.level=warn \
        >"$T/ne.log" 2>&1 &
    nepid=$!
    on_exit "kill $nepid 2>/dev/null"
    for i in $(seq 1 100); do
        curl -s -o "$T/ne.out" "http://127.0.0.1:$NPORT/metrics" && break
        sleep 0.1
    done
    check_eq "node_exporter: no textfile error" 0 "$(value "$T/ne.out" node_textfile_scrape_error)"
    check_eq "node_exporter serves our pending count" \
        "$(value "$TF/anon_telemetry.prom" 'anon_telemetry_events{status="pending"}')" \
        "$(value "$T/ne.out" 'anon_telemetry_events{status="pending"}')"
    check_eq "node_exporter serves the exit status of the last run that wrote it" 75 \
        "$(value "$T/ne.out" anon_telemetry_ship_exit_status)"
    check_match "and the file's time" 'node_textfile_mtime_seconds\{file="[^"]*anon_telemetry.prom"\}' \
        "$(cat "$T/ne.out")"
    kill "$nepid" 2>/dev/null; wait "$nepid" 2>/dev/null
fi
finish
