#!/bin/bash
# Spool format migrations: committed spools of format 1, made by the code of that format
# (tests/fixtures/spool/make-format1.sh), are opened by this library, migrated to the
# current format in one transaction, and keep every row and every column.
. "$(dirname "$0")/../lib.sh"

FIX=$ROOT/tests/fixtures/spool
CUR=$SPOOL_FORMAT
APP=$(sed -n 's/^PRAGMA application_id = \([0-9]*\).*/\1/p' "$ROOT/schema/spool.sql")
EV='{"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"g","entityValidatorModel":"v","entityAugmenterModel":"a"}'

# every row and column of the three tables of format 1, in a stable order (later formats
# add columns: those are checked on their own)
rows() {
    sql "$1" "SELECT 'events', id, uuid, name, schema_version, session_id, client_version,
                     cpu_architecture, queued_at, parameters, status, retry_count,
                     next_attempt_at, lease_until, last_error, sent_at FROM events ORDER BY id;
              SELECT 'dlq', id, uuid, name, schema_version, session_id, client_version,
                     cpu_architecture, queued_at, parameters, retry_count, last_error,
                     moved_at, reason FROM dlq ORDER BY id;
              SELECT 'runs', * FROM runs ORDER BY id;"
}
# the shape of a spool: columns of every table, indexes, views
shape() {
    sql "$1" "SELECT m.type, m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk
                FROM sqlite_master m, pragma_table_info(m.name) p
               WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'
               ORDER BY m.name, p.cid;
              SELECT type, name, tbl_name FROM sqlite_master WHERE type = 'index'
                 AND name NOT LIKE 'sqlite_%' ORDER BY name;
              SELECT name, sql LIKE '%AUTOINCREMENT%' FROM sqlite_master WHERE name = 'events';"
}

mkdir -m 700 "$T/fresh"
echo "$EV" | "$SPOOL_BIN" --spool "$T/fresh/s.db" >/dev/null
check_eq "a new spool has the current format" "$CUR" "$(sql "$T/fresh/s.db" 'PRAGMA user_version')"
check_eq "a new spool is marked as ours" "$APP" "$(sql "$T/fresh/s.db" 'PRAGMA application_id')"
# format 3: every spool has a random spool_id, made once
fresh_id=$(sql "$T/fresh/s.db" 'SELECT spool_id FROM spool')
check_match "a new spool has a spool_id (32 hex digits)" '^[0-9a-f]{32}$' "$fresh_id"
check_eq "status shows the spool_id" "$fresh_id" \
    "$("$SHIP_BIN" status --json --spool "$T/fresh/s.db" | python3 -c 'import json,sys; print(json.load(sys.stdin)["spool_id"])')"
echo "$EV" | "$SPOOL_BIN" --spool "$T/fresh/s.db" >/dev/null
check_eq "the spool_id stays as it was" "$fresh_id" "$(sql "$T/fresh/s.db" 'SELECT spool_id FROM spool')"
mkdir -m 700 "$T/fresh2"
echo "$EV" | "$SPOOL_BIN" --spool "$T/fresh2/s.db" >/dev/null
check "two spools get two spool_ids" test "$fresh_id" != "$(sql "$T/fresh2/s.db" 'SELECT spool_id FROM spool')"

for fx in format1 format1-noautoinc; do
    d=$T/$fx; mkdir -m 700 "$d"; cp "$FIX/$fx.spool" "$d/s.db"; chmod 600 "$d/s.db"
    check_eq "$fx: the fixture is format 1" 1 "$(sql "$d/s.db" 'PRAGMA user_version')"
    check_eq "$fx: the fixture has rows of every state" "dlq|2 pending|4 runs|1 sending|1 sent|3" \
        "$(sql "$d/s.db" "SELECT status, count(*) FROM events GROUP BY status UNION ALL
                           SELECT 'dlq', count(*) FROM dlq UNION ALL SELECT 'runs', count(*) > 0 FROM runs
                           ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"
    before=$(rows "$d/s.db")
    maxid=$(sql "$d/s.db" "SELECT max(m) FROM (SELECT max(id) AS m FROM events UNION ALL SELECT max(id) FROM dlq)")
    # the library migrates on open: a status read is enough
    "$SHIP_BIN" status --spool "$d/s.db" >"$T/out" 2>&1
    check_eq "$fx: status opens and migrates it" 0 $?
    check_eq "$fx: now the current format" "$CUR" "$(sql "$d/s.db" 'PRAGMA user_version')"
    check_eq "$fx: marked as ours" "$APP" "$(sql "$d/s.db" 'PRAGMA application_id')"
    check_eq "$fx: every row and column kept" "$before" "$(rows "$d/s.db")"
    check_eq "$fx: the same tables, columns, indexes and views as a new spool" \
        "$(shape "$T/fresh/s.db")" "$(shape "$d/s.db")"
    check_eq "$fx: integrity" ok "$(sql "$d/s.db" 'PRAGMA integrity_check')"
    id=$(sql "$d/s.db" 'SELECT count(*), min(spool_id) FROM spool')
    check_match "$fx: given one spool_id when migrated" '^1\|[0-9a-f]{32}$' "$id"
    check "$fx: its own spool_id, not the new spool's" test "${id#1|}" != "$fresh_id"
    check_eq "$fx: no row belongs to a bundle" 0 \
        "$(sql "$d/s.db" 'SELECT (SELECT count(*) FROM events WHERE bundle IS NOT NULL) + (SELECT count(*) FROM dlq WHERE bundle IS NOT NULL) + (SELECT count(*) FROM bundles)')"
    check_eq "$fx: events may now be exported" 1 \
        "$(sql "$d/s.db" "SELECT sql LIKE '%''exported''%' FROM sqlite_master WHERE name = 'events'")"
    # ids are never reused: a new event gets an id above every id events or dlq held
    uuid=$(echo "$EV" | "$SPOOL_BIN" --spool "$d/s.db")
    newid=$(sql "$d/s.db" "SELECT id FROM events WHERE uuid = '$uuid'")
    check "$fx: a new event's id ($newid) is above every earlier id ($maxid)" test "$newid" -gt "$maxid"
    # the highest event row goes (sent and pruned, say): its id is still never reused
    sql "$d/s.db" "DELETE FROM events WHERE id = $newid"
    uuid=$(echo "$EV" | "$SPOOL_BIN" --spool "$d/s.db")
    check "$fx: a freed id is not handed out again" \
        test "$(sql "$d/s.db" "SELECT id FROM events WHERE uuid = '$uuid'")" -gt "$newid"
    # a migrated spool ships like any other
    check_eq "$fx: dry run shows the pending events" 4 \
        "$("$SHIP_BIN" --spool "$d/s.db" --dry-run --now --endpoint http://127.0.0.1:9/v1 | wc -l)"
done

# The pre-AUTOINCREMENT fixture shows the defect the migration repairs: ids 4 and 5 are
# held by dead letters and, reused, by pending events at the same time.
check_eq "format1-noautoinc: the fixture reused dead letters' ids" "4 5" \
    "$(sql "$FIX/format1-noautoinc.spool" "SELECT id FROM dlq WHERE id IN (SELECT id FROM events) ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
check_eq "format1: the fixture had AUTOINCREMENT already" 1 \
    "$(sql "$FIX/format1.spool" "SELECT sql LIKE '%AUTOINCREMENT%' FROM sqlite_master WHERE name = 'events'")"

# Several processes opening one old spool at once migrate it once, and none fails.
d=$T/conc; mkdir -m 700 "$d"; cp "$FIX/format1.spool" "$d/s.db"; chmod 600 "$d/s.db"
before=$(rows "$d/s.db")
for i in $(seq 1 8); do
    ( "$SHIP_BIN" status --spool "$d/s.db" >/dev/null 2>"$T/conc.$i"; echo "rc=$?" >>"$T/conc.$i" ) &
done
wait
check_eq "8 processes opening an old spool at once: all succeed" 8 "$(cat "$T"/conc.* | grep -c '^rc=0$')"
check_eq "migrated once: every row kept" "$before" "$(rows "$d/s.db")"
check_eq "migrated once: one events table, current format" "1|$CUR" \
    "$(sql "$d/s.db" "SELECT count(*), (SELECT user_version FROM pragma_user_version) FROM sqlite_master WHERE type='table' AND name LIKE 'events%'")"

# A failed migration leaves the spool as it was: a format-1 spool whose rows break the
# rebuild (a uuid twice cannot be copied into the UNIQUE column) keeps its format and
# every row (only the journal mode, switched to WAL at open, differs).
d=$T/bad; mkdir -m 700 "$d"
sqlite3 "$d/s.db" "PRAGMA user_version=1; CREATE TABLE events(id INTEGER PRIMARY KEY, uuid TEXT, name TEXT,
    schema_version TEXT, session_id TEXT, client_version TEXT, cpu_architecture TEXT, queued_at TEXT,
    parameters TEXT, status TEXT, retry_count INTEGER, next_attempt_at TEXT, lease_until TEXT,
    last_error TEXT, sent_at TEXT);
    CREATE TABLE dlq(id INTEGER PRIMARY KEY); CREATE TABLE runs(id INTEGER PRIMARY KEY);
    INSERT INTO events (id, uuid, name, schema_version, session_id, client_version, cpu_architecture,
      queued_at, parameters, status, retry_count) VALUES
      (1, 'u', 'anonymizer_event', '1.7', 's', 'c', 'a', 'q', '{}', 'pending', 0),
      (2, 'u', 'anonymizer_event', '1.7', 's', 'c', 'a', 'q', '{}', 'pending', 0);"
chmod 600 "$d/s.db"
before=$(sql "$d/s.db" "PRAGMA user_version; SELECT * FROM events; SELECT sql FROM sqlite_master")
"$SHIP_BIN" status --spool "$d/s.db" >/dev/null 2>"$T/err"
check_eq "a migration that fails: exit 74" 74 $?
check_match "a migration that fails: says so" "cannot migrate to format 2" "$(cat "$T/err")"
check_eq "a migration that fails: format, rows and schema as they were" "$before" \
    "$(sql "$d/s.db" "PRAGMA user_version; SELECT * FROM events; SELECT sql FROM sqlite_master")"
finish
