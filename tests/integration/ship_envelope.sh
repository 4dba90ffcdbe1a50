# ship_envelope.sh: the exact envelope (30 keys in order, values from the rows),
# grouping by envelope fields and --batch-size, --dry-run, the endpoint's choice and
# redaction in output, request headers, keep-alive and --parallel.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector main

KEYS='["browserType", "clientId", "clientType", "clientVariant", "clientVer", "cpuArchitecture", "deviceGdprBehOptIn", "deviceGdprFuncOptIn", "deviceGdprTechOptIn", "deviceId", "deviceMake", "deviceModel", "deviceOS", "deviceOSVersion", "deviceType", "eventProtocol", "eventSchemaVer", "eventSysVer", "externalUserId", "gdprBehOptIn", "gdprFuncOptIn", "gdprTechOptIn", "idpId", "integrationId", "productName", "productVersion", "sentTs", "sessionId", "userId", "events"]'

NEMO_SESSION_PREFIX=anonymizer- queue 2 3f2a 1.4.0
ship
check_eq "sent" "0|2" "$rc|$(q "SELECT count(*) FROM events WHERE status='sent'")"
check_eq "30 keys in order" "$KEYS" "$(py "json.dumps(list(log[0]['env'].keys()))")"
check_eq "fixed values" "undefined|184482118588404|Native|Release|None|None|1.6|1.7|nemo-telemetry/1.0|undefined|undefined" \
    "$(py "'|'.join(log[0]['env'][k] for k in ['browserType','clientId','clientType','clientVariant','deviceGdprBehOptIn','gdprTechOptIn','eventProtocol','eventSchemaVer','eventSysVer','deviceOS','userId'])")"
check_eq "sessionId, clientVer, cpuArchitecture from the rows" \
    "$(q "SELECT DISTINCT session_id || '|' || client_version || '|' || cpu_architecture FROM events")" \
    "$(py "'|'.join(log[0]['env'][k] for k in ['sessionId','clientVer','cpuArchitecture'])")"
check_eq "session prefix applied" "anonymizer-3f2a" "$(py "log[0]['env']['sessionId']")"
check_eq "events: ts is queued_at, in id order" "$(q "SELECT group_concat(queued_at, ' ') FROM (SELECT queued_at FROM events ORDER BY id)")" \
    "$(py "' '.join(x['ts'] for x in log[0]['env']['events'])")"
check_eq "event keys in order" "['ts', 'parameters', 'name']" "$(py "list(log[0]['env']['events'][0].keys())")"
check_eq "event name" "anonymizer_event" "$(py "log[0]['env']['events'][1]['name']")"
check_eq "parameters exactly as stored" "$(q "SELECT parameters FROM events ORDER BY id LIMIT 1")" \
    "$(py "json.dumps(log[0]['env']['events'][0]['parameters'], separators=(',', ':'))")"
check_eq "38 parameters" 38 "$(py "len(log[0]['env']['events'][0]['parameters'])")"
check_match "sentTs: UTC with milliseconds" '^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{3}Z$' \
    "$(py "log[0]['env']['sentTs']")"
check "sentTs not before queued_at" test "$(py "log[0]['env']['sentTs'] >= log[0]['env']['events'][1]['ts']")" = True
check_eq "POST with Content-Type: application/json" "POST application/json" \
    "$(py "log[0]['method'] + ' ' + log[0]['headers']['Content-Type']")"
check_eq "body is compact JSON" "False" "$(py "', ' in log[0]['body'] or '\": ' in log[0]['body']")"

# ---- grouping: only events whose envelope fields agree share a request
: > "$LOG"
queue 3 sA 1.0
queue 2 sB 1.0
queue 2 sA 2.0
queue 2 sA 1.0
q "UPDATE events SET cpu_architecture='aarch64' WHERE id = (SELECT max(id) FROM events)"
ship --parallel 1
check_eq "grouping: exit 0" 0 "$rc"
check_eq "grouping: one request per envelope, oldest first" \
    "[('sA', '1.0', 'x86_64', 4), ('sB', '1.0', 'x86_64', 2), ('sA', '2.0', 'x86_64', 2), ('sA', '1.0', 'aarch64', 1)]" \
    "$(py "[(e['env']['sessionId'], e['env']['clientVer'], e['env']['cpuArchitecture'], len(e['env']['events'])) for e in log]")"
check_eq "grouping: every envelope's events share its fields" "True" \
    "$(py "all(len(e['env']['events']) > 0 for e in log)")"

: > "$LOG"
queue 7 sC
ship --batch-size 3
check_eq "--batch-size 3: 3, 3, 1" "[3, 3, 1]" "$(py "sorted([len(e['env']['events']) for e in log], reverse=True)")"
: > "$LOG"
queue 120 sD
ship
check_eq "default batch size 50: 50, 50, 20" "[50, 50, 20]" "$(py "sorted([len(e['env']['events']) for e in log], reverse=True)")"

# ---- --dry-run: one JSON line per envelope, nothing changes, nothing is posted
: > "$LOG"
queue 3 sE
queue 2 sF
q "UPDATE events SET next_attempt_at='2000-01-01T00:00:00.000Z', retry_count=1 WHERE session_id='sF'"
before=$(q "SELECT group_concat(id || status || retry_count || ifnull(next_attempt_at,'') || ifnull(lease_until,''), ',') FROM events")
runs=$(q "SELECT count(*) FROM runs")
ship --dry-run
check_eq "dry-run: exit 0" 0 "$rc"
check_eq "dry-run: two lines" 2 "$(printf '%s\n' "$out" | wc -l)"
check_eq "dry-run: each line is an envelope" "[('sE', 3), ('sF', 2)]" \
    "$(printf '%s\n' "$out" | python3 -c "import json,sys; print([(json.loads(l)['sessionId'], len(json.loads(l)['events'])) for l in sys.stdin])")"
check_eq "dry-run: 30 keys in order" "$KEYS" \
    "$(printf '%s\n' "$out" | head -n 1 | python3 -c "import json,sys; print(json.dumps(list(json.loads(sys.stdin.read()).keys())))")"
check_eq "dry-run: nothing posted" 0 "$(requests)"
check_eq "dry-run: rows unchanged" "$before" \
    "$(q "SELECT group_concat(id || status || retry_count || ifnull(next_attempt_at,'') || ifnull(lease_until,''), ',') FROM events")"
check_eq "dry-run: no runs row" "$runs" "$(q "SELECT count(*) FROM runs")"
q "UPDATE events SET next_attempt_at='$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S.000Z)' WHERE session_id='sF'"
ship --dry-run
check_eq "dry-run: respects backoff" 1 "$(printf '%s\n' "$out" | grep -c .)"
ship --dry-run --now
check_eq "dry-run --now: ignores it" 2 "$(printf '%s\n' "$out" | grep -c .)"
ship --now
check_eq "then shipped" "0|0" "$rc|$(q "SELECT count(*) FROM events WHERE status!='sent'")"

# ---- endpoint: --endpoint, else NEMO_TELEMETRY_ENDPOINT; secrets never shown
queue 1 sG
: > "$LOG"
NEMO_TELEMETRY_ENDPOINT="http://127.0.0.1:$PORT/from-env?k=1" "$SHIP_BIN" --spool "$S" >/dev/null 2>&1
check_eq "NEMO_TELEMETRY_ENDPOINT used, query kept" "/from-env k=1" "$(py "log[0]['path'] + ' ' + log[0]['query']")"
queue 1 sH
: > "$LOG"
NEMO_TELEMETRY_ENDPOINT="http://127.0.0.1:$PORT/from-env" "$SHIP_BIN" --spool "$S" --endpoint "http://127.0.0.1:$PORT/from-opt" >/dev/null 2>&1
check_eq "--endpoint wins" "/from-opt" "$(py "log[0]['path']")"
queue 2 sI
script '[{"status": 404}]'
URL="http://alice:s3cret@127.0.0.1:$PORT/v1?token=TOPSECRET#frag"
ship -v
check_eq "404: exit 78" 78 "$rc"
check_match "the URL is shown" "http://127.0.0.1:$PORT/v1" "$err"
check_nomatch "no query string in output" "TOPSECRET|token=" "$out$err"
check_nomatch "no user:password in output" "s3cret|alice" "$out$err"
check_nomatch "no query string in the runs table" "TOPSECRET" "$(q "SELECT summary FROM runs")"
check_nomatch "no query string in last_error" "TOPSECRET" "$(q "SELECT ifnull(group_concat(last_error),'') FROM events")"
URL="http://127.0.0.1:1/v1?token=TOPSECRET"
ship -vv
check_eq "refused: exit 75" 75 "$rc"
check_nomatch "offline: no query string in output" "TOPSECRET" "$out$err"
URL=http://127.0.0.1:$PORT/v1
ship
q "DELETE FROM events"

# ---- -v: a line per batch
queue 2 sJ
queue 2 sK
ship -v
check_eq "-v: a line per batch and a summary" 3 "$(printf '%s\n' "$err" | grep -c .)"
check_match "-v: batch line" "batch of 2 events \(session sJ\): HTTP 200" "$err"

# ---- keep-alive: one connection reused across batches; --parallel posts at once
: > "$LOG"
for i in $(seq 1 12); do queue 1 "p$i"; done
ship --parallel 1
check_eq "--parallel 1: 12 requests" 12 "$(requests)"
check_eq "--parallel 1: over one connection" 1 "$(py "len({e['conn'] for e in log})")"
: > "$LOG"
for i in $(seq 1 16); do queue 1 "r$i"; done
default_response '{"status": 200, "delay": 0.3}'
ship --parallel 4
check_eq "--parallel 4: all sent" "0|16" "$rc|$(requests)"
check_eq "--parallel 4: four connections, reused" 4 "$(py "len({e['conn'] for e in log})")"
check_eq "--parallel 4: requests overlapped" True \
    "$(py "max(sum(1 for f in log if abs(f['t'] - e['t']) < 0.15) for e in log) >= 2")"
default_response '{"status": 200}'
check_eq "every event sent exactly once overall" "0" "$(q "SELECT count(*) FROM events WHERE status!='sent'")"

# ---- usage
"$SHIP_BIN" --batch-size 0 --spool "$S" >/dev/null 2>&1
check_eq "bad --batch-size: 64" 64 "$?"
"$SHIP_BIN" --bogus >/dev/null 2>&1
check_eq "unknown option: 64" 64 "$?"
"$SHIP_BIN" --timeout abc >/dev/null 2>&1
check_eq "bad --timeout: 64" 64 "$?"
"$SHIP_BIN" extra-arg >/dev/null 2>&1
check_eq "stray argument: 64" 64 "$?"
"$SHIP_BIN" --help >/dev/null 2>&1
check_eq "--help: 0" 0 "$?"

finish
