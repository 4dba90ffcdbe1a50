#!/bin/bash
# anon-telemetry-spool end to end: exact parameters, every bad-input class, opt-outs,
# permissions, 16 concurrent writers, kill -9 in the middle of appends.
. "$(dirname "$0")/../lib.sh"

DB=$T/spool/spool.db
REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"gliner-pii","entityValidatorModel":"val","entityAugmenterModel":"aug"'
count() { sql "$1" "SELECT count(*) FROM ${2:-events}"; }

# ---- exact parameters, alias and snake_case input ----
alias_in='{"task":"preview","taskStatus":"error","deploymentType":"cli","jobDurationSec":12.5,"numInputRecords":100,"numSuccessRecords":98,"numFailureRecords":2,"avgTokensPerRecord":512,"transformationType":"rewrite","customDataSummaryProvided":true,"customPrivacyGoalProvided":false,"customSubstituteInstructionsProvided":true,"maxRepairIterations":3,"strictEntityProtection":true,"repairIterationsTriggered":1,"entityDetectorModel":"gliner-pii","entityValidatorModel":"val","entityAugmenterModel":"aug","rewriterModel":"rw-a,rw-b","modelHosts":["local","nvidia-build"],"unknownStepFailureCount":4}'
snake_in='{"task":"preview","task_status":"error","deployment_type":"cli","job_duration_sec":12.5,"num_input_records":100,"num_success_records":98,"num_failure_records":2,"avg_tokens_per_record":512,"transformation_type":"rewrite","custom_data_summary_provided":true,"custom_privacy_goal_provided":false,"custom_substitute_instructions_provided":true,"max_repair_iterations":3,"strict_entity_protection":true,"repair_iterations_triggered":1,"entity_detector_model":"gliner-pii","entity_validator_model":"val","entity_augmenter_model":"aug","rewriter_model":"rw-a,rw-b","model_hosts":["local","nvidia-build"],"unknown_step_failure_count":4}'
expected='{"nemoSource":"anonymizer","task":"preview","taskStatus":"error","deploymentType":"cli","jobDurationSec":12.5,"numInputRecords":100,"numSuccessRecords":98,"numFailureRecords":2,"avgTokensPerRecord":512,"transformationType":"rewrite","customDataSummaryProvided":true,"customPrivacyGoalProvided":false,"customSubstituteInstructionsProvided":true,"maxRepairIterations":3,"strictEntityProtection":true,"repairIterationsTriggered":1,"entityDetectorModel":"gliner-pii","entityValidatorModel":"val","entityAugmenterModel":"aug","latentDetectorModel":"not_applicable","replacementGeneratorModel":"not_applicable","domainClassifierModel":"not_applicable","dispositionAnalyzerModel":"not_applicable","meaningExtractorModel":"not_applicable","qaGeneratorModel":"not_applicable","rewriterModel":"rw-a,rw-b","evaluatorModel":"not_applicable","repairerModel":"not_applicable","judgeModel":"not_applicable","modelHosts":["local","nvidia-build"],"entityDetectionFailureCount":0,"latentDetectionFailureCount":0,"replaceMapGenerationFailureCount":0,"rewritePipelineFailureCount":0,"rewriteEvaluateFailureCount":0,"rewriteRepairFailureCount":0,"rewriteFinalJudgeFailureCount":0,"unknownStepFailureCount":4}'

u1=$(printf '%s\n' "$alias_in" | "$SPOOL_BIN" --spool "$DB" --session-id s-alias --client-version 1.0.0)
check_eq "alias input exits 0 with a uuid" 1 "$(printf '%s\n' "$u1" | grep -cE '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')"
u2=$(printf '%s\n' "$snake_in" | "$SPOOL_BIN" --spool "$DB" --session-id s-snake --client-version 1.0.0)
check_eq "alias parameters exact" "$expected" "$(sql "$DB" "SELECT parameters FROM events WHERE uuid='$u1'")"
check_eq "snake_case parameters exact" "$expected" "$(sql "$DB" "SELECT parameters FROM events WHERE uuid='$u2'")"
check_eq "row fields" "anonymizer_event|1.7|s-alias|1.0.0|$(uname -m)|pending|0" \
    "$(sql "$DB" "SELECT name, schema_version, session_id, client_version, cpu_architecture, status, retry_count FROM events WHERE uuid='$u1'")"
check_eq "file mode 0600" 600 "$(stat -c %a "$DB")"
check_eq "directory mode 0700" 700 "$(stat -c %a "$T/spool")"

# defaults, session prefix, and a pretty-printed object over several lines
u3=$(printf '{\n  %s\n}\n' "$REQ" | NEMO_SESSION_PREFIX=anonymizer- NEMO_DEPLOYMENT_TYPE=NMP "$SPOOL_BIN" --spool "$DB" --session-id 3f2a)
check_eq "session prefix applied" "anonymizer-3f2a|undefined|nmp" \
    "$(sql "$DB" "SELECT session_id, client_version, json_extract(parameters,'$.deploymentType') FROM events WHERE uuid='$u3'")"
u4=$(printf '{%s}' "$REQ" | "$SPOOL_BIN" --spool "$DB")
check_match "random 32-hex session when none given" '^[0-9a-f]{32}$' "$(sql "$DB" "SELECT session_id FROM events WHERE uuid='$u4'")"

# every stored parameters object is valid against the JSON Schema, keys in schema order
sql "$DB" "SELECT parameters FROM events" > "$T/params.jsonl"
check "stored parameters validate against schema/anonymizer_event.schema.json" \
    /usr/bin/python3 - "$ROOT/schema/anonymizer_event.schema.json" "$T/params.jsonl" <<'EOF'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
order = list(schema["properties"])
for line in open(sys.argv[2]):
    obj = json.loads(line)
    validator.validate(obj)
    assert list(obj) == order, "key order differs from the schema"
EOF

# ---- JSON Lines: all validated first, one transaction ----
before=$(count "$DB")
{ for i in 1 2 3; do printf '{%s,"numInputRecords":%d}\n' "$REQ" "$i"; done; } > "$T/three.jsonl"
out=$("$SPOOL_BIN" --spool "$DB" --session-id multi < "$T/three.jsonl")
check_eq "three uuids printed" 3 "$(printf '%s\n' "$out" | grep -c .)"
check_eq "three rows stored" $((before + 3)) "$(count "$DB")"
check_eq "printed uuids are the stored ones" "$(printf '%s\n' "$out" | sort)" \
    "$(sql "$DB" "SELECT uuid FROM events WHERE session_id='multi'" | sort)"
n=$(printf '\n\n' | "$SPOOL_BIN" --spool "$DB" 2>"$T/err"; echo "rc=$?")
check_eq "empty input: nothing stored, exit 0" "rc=0" "$n"
check_match "empty input says so" "no events" "$(cat "$T/err")"

# ---- every bad-input class: exit 65, the line and the field named, nothing stored ----
bad() {   # bad DESC EXPECTED-MESSAGE-REGEX  (input on stdin; line 2 is the bad one)
    before=$(count "$DB")
    { printf '{%s}\n' "$REQ"; cat; } > "$T/bad.jsonl"
    "$SPOOL_BIN" --spool "$DB" < "$T/bad.jsonl" > "$T/out" 2> "$T/err"
    rc=$?
    check_eq "$1: exit 65" 65 "$rc"
    check_match "$1: message" "$2" "$(cat "$T/err")"
    check_eq "$1: nothing stored" "$before" "$(count "$DB")"
    check_eq "$1: no uuid printed" "" "$(cat "$T/out")"
}
printf '{"task":"batch","taskStatus":"completed","transformationType":"r","entityDetectorModel":"d","entityValidatorModel":"v"}\n' |
    bad "missing required" 'line 2: entityAugmenterModel: missing required field'
printf '{%s,"colour":"red"}\n' "$REQ" | bad "unknown key" 'line 2: colour: unknown field'
printf '{%s,"nemoSource":"nemo"}\n' "$REQ" | bad "unknown enum value" 'line 2: nemoSource: unknown value "nemo"'
printf '{%s,"numInputRecords":"abc"}\n' "$REQ" | bad "string for integer" 'line 2: numInputRecords: expected an integer, got a string'
printf '{%s,"num_input_records":1.5}\n' "$REQ" | bad "fraction for integer" 'line 2: num_input_records: expected an integer'
printf '{%s,"judgeModel":["a"]}\n' "$REQ" | bad "list for string" 'line 2: judgeModel: expected a string, got an array'
printf '{%s,"strictEntityProtection":"yes"}\n' "$REQ" | bad "string for boolean" 'line 2: strictEntityProtection: expected a boolean, got a string'
printf '{%s,"judgeModel":"a\\u0007b"}\n' "$REQ" | bad "control character" 'line 2: judgeModel: control character U\+0007'
printf '{%s,"judgeModel":"a\xc3(b"}\n' "$REQ" | bad "invalid UTF-8" 'line 2: judgeModel: string is not valid UTF-8'
printf '{%s,"judgeModel":"%s"}\n' "$REQ" "$(head -c 2100 /dev/zero | tr '\0' m)" | bad "string too long" 'line 2: judgeModel: string is 2100 bytes, at most 2048'
printf '{%s,"task":"batch"\n' "$REQ" | bad "invalid JSON" 'line 2: invalid JSON'
printf '[1, 2]\n' | bad "not an object" 'line 2: expected a JSON object, got an array'
printf '{%s}\n\n{"task": 1}\n' "$REQ" | sed '1d' | { printf '{%s}\n' "$REQ"; cat; } |
    bad "error on a later line is numbered" 'line 4: task: expected a string'

"$SPOOL_BIN" --bogus </dev/null >/dev/null 2>"$T/err"
check_eq "unknown option: exit 64" 64 $?
"$SPOOL_BIN" --help </dev/null >"$T/out"
check_eq "--help: exit 0" 0 $?
check_match "--help shows usage" "usage: anon-telemetry-spool" "$(cat "$T/out")"

# ---- opt-outs: nothing stored (not even a spool created), exit 0, one line on stderr ----
for v in false 0 no off "" FALSE; do
    out=$(printf '{%s}\n' "$REQ" | NEMO_TELEMETRY_ENABLED="$v" "$SPOOL_BIN" --spool "$T/optout/s.db" 2>"$T/err"; echo "rc=$?")
    check_eq "NEMO_TELEMETRY_ENABLED='$v': exit 0, no uuid" "rc=0" "$out"
    check_eq "NEMO_TELEMETRY_ENABLED='$v': one line on stderr" 1 "$(grep -c 'telemetry is disabled' "$T/err")"
done
check "opted-out runs create no spool" test ! -e "$T/optout"
out=$(printf '{%s}\n' "$REQ" | NEMO_TELEMETRY_ENABLED=TRUE "$SPOOL_BIN" --no-emit-telemetry --spool "$T/optout/s.db" 2>"$T/err"; echo "rc=$?")
check_eq "--no-emit-telemetry wins over the environment" "rc=0" "$out"
check "--no-emit-telemetry creates no spool" test ! -e "$T/optout"
u=$(printf '{%s}\n' "$REQ" | NEMO_TELEMETRY_ENABLED=YES "$SPOOL_BIN" --spool "$DB")
check_eq "NEMO_TELEMETRY_ENABLED=YES stores" 1 "$(sql "$DB" "SELECT count(*) FROM events WHERE uuid='$u'")"
u=$(printf '{%s}\n' "$REQ" | ANON_TELEMETRY_SPOOL="$T/env/spool.db" "$SPOOL_BIN")
check_eq "ANON_TELEMETRY_SPOOL is the default path" 1 "$(sql "$T/env/spool.db" "SELECT count(*) FROM events WHERE uuid='$u'")"

# ---- spools that cannot be used ----
mkdir -p "$T/ww" && chmod 0777 "$T/ww"
printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$T/ww/s.db" >/dev/null 2>"$T/err"
check_eq "world-writable directory refused: exit 77" 77 $?
check_match "world-writable directory named" "$T/ww.*world-writable" "$(cat "$T/err")"
check "nothing created in a world-writable directory" test ! -e "$T/ww/s.db"
printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool /proc/no-such-dir/s.db >/dev/null 2>"$T/err"
check_eq "uncreatable spool: exit 73" 73 $?
check_match "uncreatable spool names the path" "/proc/no-such-dir" "$(cat "$T/err")"
printf 'not a database at all, only text; long enough to fill a header.........................................' > "$T/junk.db"
printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$T/junk.db" >/dev/null 2>"$T/err"
check_eq "not a database: exit 74" 74 $?
check_match "not a database: SQLite's reason" "junk.db.*(not a database|file is not a database)" "$(cat "$T/err")"
sqlite3 "$T/newer.db" "CREATE TABLE t(x); PRAGMA user_version=7;"
sum_before=$(sha256sum < "$T/newer.db")
printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$T/newer.db" >/dev/null 2>"$T/err"
check_eq "newer format: exit 74" 74 $?
check_match "newer format: clear message" "format version 7, newer" "$(cat "$T/err")"
check_eq "newer format: file untouched" "$sum_before" "$(sha256sum < "$T/newer.db")"
sqlite3 "$T/foreign.db" "CREATE TABLE events(theirs); INSERT INTO events VALUES (1);"
sum_before=$(sha256sum < "$T/foreign.db")
printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$T/foreign.db" >/dev/null 2>"$T/err"
check_eq "another program's database: exit 74" 74 $?
check_match "another program's database: clear message" "not an anon-telemetry spool" "$(cat "$T/err")"
check_eq "another program's database: untouched" "$sum_before" "$(sha256sum < "$T/foreign.db")"
chmod 0400 "$DB"
if [ "$(id -u)" -ne 0 ]; then
    printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$DB" >/dev/null 2>"$T/err"
    check_eq "read-only spool: exit 74" 74 $?
fi
chmod 0600 "$DB"

# ---- 8 processes creating the same new spool at once: all succeed, one format ----
NDB=$T/new/spool.db
for w in $(seq 1 8); do
    ( printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$NDB" > "$T/new.$w" 2>&1; echo "rc=$?" >> "$T/new.$w" ) &
done
wait
check_eq "8 concurrent creators all succeed" 8 "$(cat "$T"/new.* | grep -c '^rc=0$')"
check_eq "8 events in the new spool" 8 "$(count "$NDB")"
check_eq "new spool has the current format" "$SPOOL_FORMAT" "$(sql "$NDB" "PRAGMA user_version")"

# ---- 16 writer processes at once: nothing lost ----
CDB=$T/conc/spool.db
printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$CDB" >/dev/null     # create it once
for i in $(seq 1 50); do printf '{%s,"numInputRecords":%d}\n' "$REQ" "$i"; done > "$T/fifty.jsonl"
pids=""
for w in $(seq 1 16); do
    ( for k in 1 2 3 4 5; do
          "$SPOOL_BIN" --spool "$CDB" --session-id "w$w" < "$T/fifty.jsonl" >> "$T/conc.$w" || echo "FAILED" >> "$T/conc.$w"
      done ) &
    pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
check_eq "no writer failed" 0 "$(cat "$T"/conc.* | grep -c FAILED)"
check_eq "16 writers x 5 calls x 50 events stored" $((16 * 5 * 50 + 1)) "$(count "$CDB")"
cat "$T"/conc.* | sort > "$T/conc.printed"
check_eq "every printed uuid is stored" 4000 "$(sql "$CDB" "SELECT uuid FROM events" | sort | comm -12 - "$T/conc.printed" | wc -l)"
check_eq "uuids distinct" $((4000 + 1)) "$(sql "$CDB" "SELECT count(DISTINCT uuid) FROM events")"

# ---- kill -9 in the middle of appends: every committed event intact, spool readable ----
KDB=$T/kill/spool.db
printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$KDB" > "$T/ledger"
for i in $(seq 1 20000); do printf '{%s,"numInputRecords":%d}\n' "$REQ" "$i"; done > "$T/big.jsonl"
killed=0
for round in 1 2 3 4 5 6; do
    # small appends whose success is recorded in the ledger, and one large append, killed
    ( while :; do "$SPOOL_BIN" --spool "$KDB" --session-id "k$round" < "$T/three.jsonl" >> "$T/ledger.part.$round" || break; done ) &
    small=$!
    "$SPOOL_BIN" --spool "$KDB" --session-id "big$round" < "$T/big.jsonl" > "$T/big.out.$round" &
    big=$!
    sleep "$(printf "0.%02d" $((RANDOM % 15 + 1)))"   # 10-150 ms: inside a ~0.3 s append
    { kill -9 "$big" && killed=$((killed + 1))
      kill -9 "$small"
      pkill -9 -f "session-id k$round"
      wait "$big" "$small"; } 2>/dev/null
    # only complete lines (a killed writer may have printed nothing or everything)
    grep -E '^[0-9a-f-]{36}$' "$T/ledger.part.$round" >> "$T/ledger"
    bigrows=$(sql "$KDB" "SELECT count(*) FROM events WHERE session_id='big$round'")
    if [ "$bigrows" != 0 ] && [ "$bigrows" != 20000 ]; then fail "large append $round was partial: $bigrows rows"; else pass; fi
done
check "at least one large append was killed mid-way" test "$killed" -ge 1
check_eq "integrity after kill -9" ok "$(sql "$KDB" "PRAGMA integrity_check")"
sort -u "$T/ledger" > "$T/ledger.sorted"
check_eq "every acknowledged event survived kill -9" "$(wc -l < "$T/ledger.sorted")" \
    "$(sql "$KDB" "SELECT uuid FROM events" | sort | comm -12 - "$T/ledger.sorted" | wc -l)"
u=$(printf '{%s}\n' "$REQ" | "$SPOOL_BIN" --spool "$KDB")
check_match "spool still writable after kill -9" '^[0-9a-f-]{36}$' "$u"

finish
