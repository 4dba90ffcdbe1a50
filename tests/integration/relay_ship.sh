#!/bin/bash
# Hosts' shippers posting to a site relay: every event arrives with its uuid (the
# Anon-Telemetry-Event-Ids header) and the columns it had on the host; rows forced back
# to pending and shipped again store nothing twice; across two relays a newer schema
# version's events travel verbatim and reach the collector as the client posted them.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"
. "$(dirname "$0")/../relay_helpers.sh"

A=$T/a/spool.db
start_collector main
start_relay a --spool "$A"
queue 120 host-one 2.0
queue 7 host-two
cols="uuid, name, schema_version, session_id, client_version, cpu_architecture, queued_at, parameters"
same_rows() {  # same_rows HOST RELAY: rows of HOST found in RELAY with every column equal
    sqlite3 -cmd '.timeout 5000' "$1" "ATTACH '$2' AS r; SELECT count(*) FROM main.events h
        JOIN r.events x USING (uuid) WHERE h.name = x.name AND h.schema_version = x.schema_version
        AND h.session_id = x.session_id AND h.client_version = x.client_version
        AND h.cpu_architecture = x.cpu_architecture AND h.queued_at = x.queued_at
        AND h.parameters = x.parameters"
}

"$SHIP_BIN" --spool "$S" --endpoint "$RURL" --now --batch-size 50 >"$T/out" 2>"$T/err"
check_eq "host -> relay: ship exits 0 ($(head -c 300 "$T/err"))" 0 $?
check_eq "host -> relay: every host event sent" 127 "$(q "SELECT count(*) FROM events WHERE status = 'sent'")"
check_eq "host -> relay: the relay holds them all" 127 "$(sql "$A" "SELECT count(*) FROM events")"
check_eq "host -> relay: same uuids, every column as on the host" 127 "$(same_rows "$S" "$A")"
check_eq "host -> relay: the relay counts them stored" 127 "$(health 'j["stored"]')"

# a lost answer, then a resend: the host forgets it delivered them
sql "$S" "UPDATE events SET status = 'pending', sent_at = NULL"
"$SHIP_BIN" --spool "$S" --endpoint "$RURL" --now --batch-size 30 >"$T/out" 2>"$T/err"
check_eq "resend: ship exits 0" 0 $?
check_eq "resend: the host's events are sent again" 127 "$(q "SELECT count(*) FROM events WHERE status = 'sent'")"
check_eq "resend: the relay stored nothing twice" 127 "$(sql "$A" "SELECT count(*) FROM events")"
check_eq "resend: answered as duplicates" 127 "$(health 'j["duplicates"]')"
# a dead letter's uuid counts as held too
sql "$A" "INSERT INTO dlq (id, $cols, retry_count, last_error, moved_at, reason)
          SELECT id, $cols, 0, NULL, '2026-05-11T13:00:00.000Z', 'test' FROM events WHERE id = 1;
          DELETE FROM events WHERE id = 1"
sql "$S" "UPDATE events SET status = 'pending', sent_at = NULL"
"$SHIP_BIN" --spool "$S" --endpoint "$RURL" --now >"$T/out" 2>"$T/err"
check_eq "resend after a dead letter: nothing stored again" "126|1" \
    "$(sql "$A" "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dlq)")"

# ---------------------------------------- two hops, a newer schema ----
start_relay b1 --spool "$T/b1/spool.db"
B1_URL=$RURL
: > "$T/posted.log"
post 40 --first 500 --schema 1.9
post 30 --first 700
check_eq "client -> relay 1: schema 1.9 and 1.7 events accepted" 70 \
    "$(sql "$T/b1/spool.db" "SELECT count(*) FROM events")"
start_relay b2 --spool "$T/b2/spool.db"
"$SHIP_BIN" --spool "$T/b1/spool.db" --endpoint "$RURL" --now >"$T/out" 2>"$T/err"
check_eq "relay 1 -> relay 2: ship exits 0 ($(head -c 300 "$T/err"))" 0 $?
check_eq "relay 1 -> relay 2: same uuids and columns" 70 "$(same_rows "$T/b1/spool.db" "$T/b2/spool.db")"
check_eq "relay 2 keeps eventSchemaVer 1.9" 40 \
    "$(sql "$T/b2/spool.db" "SELECT count(*) FROM events WHERE schema_version = '1.9' AND parameters LIKE '%\"futureField\":{\"nested\":[1,2.5,null]}%'")"
: > "$LOG"
"$SHIP_BIN" --spool "$T/b2/spool.db" --endpoint "$URL" --now >"$T/out" 2>"$T/err"
check_eq "relay 2 -> collector: ship exits 0" 0 $?
check_eq "the collector's envelopes are what the client posted, sentTs aside" "ok 70" \
    "$("$PYHTTPX" "$RCLIENT" compare --spool "$T/b2/spool.db" --log "$T/posted.log" --collector "$LOG")"
check_eq "every request carries Anon-Telemetry-Event-Ids, one id per event, the client's relay's uuids" 0 \
    "$(python3 - "$LOG" "$T/b1/spool.db" <<'EOF'
import json, sqlite3, sys
uuids = {u for (u,) in sqlite3.connect(sys.argv[2]).execute("SELECT uuid FROM events")}
bad = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    ids = {k.lower(): v for k, v in e["headers"].items()}.get("anon-telemetry-event-ids", "")
    ids = ids.split(",")
    if len(ids) != len(json.loads(e["body"])["events"]) or not set(ids) <= uuids:
        bad += 1
print(bad)
EOF
)"
check_eq "eventSchemaVer 1.9 forwarded as such" True \
    "$(py 'sum(1 for e in log if e["env"]["eventSchemaVer"] == "1.9") >= 1')"
finish
