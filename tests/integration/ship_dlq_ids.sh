#!/bin/bash
# Regression: a dead letter is never overwritten. Ids of rows that left `events` (sent and
# pruned, or dead-lettered) are not handed out again, so a later dead letter cannot land on
# an earlier one's id; and a clash would fail loudly (plain INSERT), not replace.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector dlq --default '{"status": 400}'
queue 2 first
ship --now
check_eq "two rejected events dead-lettered" "1,2" "$(q "SELECT group_concat(id) FROM (SELECT id FROM dlq ORDER BY id)")"
queue 1 second
check_eq "the next event gets a fresh id" 3 "$(q "SELECT id FROM events")"
ship --now
check_eq "three distinct dead letters" "3|3" "$(q "SELECT count(*), count(DISTINCT uuid) FROM dlq")"
check_eq "the first dead letter kept its session" "first|first|second" "$(q "SELECT group_concat(session_id, '|') FROM (SELECT session_id FROM dlq ORDER BY id)")"
# requeue the first, reject it again: it returns to the dlq under its own id
"$SHIP_BIN" dlq requeue --spool "$S" 1 >/dev/null 2>&1
check_eq "requeued with its id" "1|pending|0" "$(q "SELECT id, status, retry_count FROM events")"
ship --now
check_eq "dead again, nothing lost or replaced" "3|1,2,3" "$(q "SELECT count(*), group_concat(id) FROM (SELECT id FROM dlq ORDER BY id)")"
finish
