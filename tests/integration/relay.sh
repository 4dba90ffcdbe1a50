#!/bin/bash
# anon-telemetry-relay receiving what the Anonymizer's handler posts: 1, 120 and 3000
# events stored exactly as sent (then shipped to the collector as the client had posted
# them), the 413 split path, every refusal storing nothing, tokens, slow and stalled
# clients, --max-connections.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"
. "$(dirname "$0")/../relay_helpers.sh"

RS=$T/relay/spool.db
REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"d","entityValidatorModel":"v","entityAugmenterModel":"a"'
EV='{"ts":"2026-05-11T12:00:00.000Z","name":"anonymizer_event","parameters":{'$REQ'}}'
ENV_HDR='"sessionId":"s","clientVer":"1","cpuArchitecture":"x86_64","eventSchemaVer":"1.7"'
count() { sql "$RS" "SELECT count(*) FROM events"; }

# ---------------------------------------------------------------- usage ----
check_match "--version" '^anon-telemetry-relay [0-9]+\.[0-9]+' "$("$RELAY_BIN" --version)"
"$RELAY_BIN" --listen 127.0.0.1 2>"$T/err"; rc=$?
check_eq "--listen without a port: exit 64" 64 "$rc"
check_match "--listen without a port: says what is expected" 'expected ADDR:PORT' "$(cat "$T/err")"
"$RELAY_BIN" --max-body 12Q 2>"$T/err"; rc=$?
check_eq "--max-body 12Q: exit 64" 64 "$rc"
"$RELAY_BIN" --tls-cert x 2>"$T/err"; rc=$?
check_eq "--tls-cert without --tls-key: exit 64" 64 "$rc"
"$RELAY_BIN" --spool "$RS" --listen 0.0.0.0:0 2>"$T/err"; rc=$?
check_eq "a non-loopback address without a token: exit 78" 78 "$rc"
check_match "... saying why" 'without a token.*--token-file' "$(cat "$T/err")"
printf 'a-token-of-twenty-chars\n' > "$T/token.644"; chmod 644 "$T/token.644"
"$RELAY_BIN" --spool "$RS" --token-file "$T/token.644" 2>"$T/err"; rc=$?
check_eq "a group/world-readable token file: exit 78" 78 "$rc"
check_match "... saying so" 'accessible by others \(mode 0644\)' "$(cat "$T/err")"
check_eq "nothing was created by the refused starts" "" "$(ls "$T/relay" 2>/dev/null)"

# --------------------------------------------- as the Anonymizer posts ----
start_collector main
# the relay's own prefix must not touch what clients send: they applied theirs
NEMO_SESSION_PREFIX=relay- start_relay main --spool "$RS" -v
check "the relay starts and says where it listens" test -n "$RPORT"
check_match "listening line" '^anon-telemetry-relay: listening on http://127\.0\.0\.1:[0-9]+$' \
    "$(head -n 1 "$T/relay.main.err")"
total=0
for n in 1 120 3000; do
    : > "$T/posted.log"
    post "$n" --first $((total + 1)) --session "anonymizer-run$n"
    check_eq "$n events: all accepted" "$n" "$(field "$posted" 'j["accepted"]')"
    check_eq "$n events: in batches of 50 at most" $(( (n + 49) / 50 )) "$(field "$posted" 'j["posted"]')"
    total=$((total + n))
    check_eq "$n events: the spool holds them all" "$total" "$(count)"
    cat "$T/posted.log" >> "$T/posted.all"
done
out=$("$PYHTTPX" "$RCLIENT" compare --spool "$RS" --log "$T/posted.all")
check_eq "every event stored with its ts, session (no prefix added), version, arch, values and key order" \
    "ok $total" "$out"
check_eq "floats stay floats: -1.0 is stored as -1.0" 1 \
    "$(sql "$RS" "SELECT count(*) > 0 FROM events WHERE parameters LIKE '%\"jobDurationSec\":-1.0,%'")"
check_eq "1e+16 is stored as 1e+16" 1 \
    "$(sql "$RS" "SELECT count(*) > 0 FROM events WHERE parameters LIKE '%\"jobDurationSec\":1e+16,%'")"
check_eq "no uuid twice" "$total" "$(sql "$RS" "SELECT count(DISTINCT uuid) FROM events")"
check_eq "healthz counts what was stored" "$total" "$(health 'j["stored"]')"
check_eq "healthz: the spool's pending events" "$total" "$(health 'j["events"]["pending"]')"
# then shipped: the collector receives what the client had posted, sentTs aside
"$SHIP_BIN" --spool "$RS" --endpoint "$URL" --now >"$T/out" 2>"$T/err"
check_eq "shipping the relay's spool: exit 0 ($(head -c 300 "$T/err"))" 0 $?
out=$("$PYHTTPX" "$RCLIENT" compare --spool "$RS" --log "$T/posted.all" --collector "$LOG")
check_eq "the collector's envelopes equal the posted ones, sentTs aside" "ok $total" "$out"

# ---------------------------------------------------------- 413, split ----
start_relay split --spool "$T/split/spool.db" --max-body 20000
RS_SPLIT=$T/split/spool.db
: > "$T/posted.log"
post 230 --first 100001
check_eq "413 path: every event accepted in the end" 230 "$(field "$posted" 'j["accepted"]')"
check "413 path: the client did split ($posted)" test "$(field "$posted" 'j["splits"]')" -ge 4
check_eq "413 path: none dropped" 0 "$(field "$posted" 'j["dropped"]')"
check_eq "413 path: the 413s reached the client" 1 "$(field "$posted" 'int(j["statuses"].get("413", 0) > 0)')"
check_eq "413 path: each event stored once" "ok 230" \
    "$("$PYHTTPX" "$RCLIENT" compare --spool "$RS_SPLIT" --log "$T/posted.log")"
check_eq "413 path: refusals counted" "$(field "$posted" 'j["statuses"]["413"]')" \
    "$(health 'j["requests"]["refused"]["413"]')"

# ----------------------------------------------- refusals store nothing ----
RBASE_MAIN=http://127.0.0.1:$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$T/relay.main.err")
RBASE=$RBASE_MAIN
RPORT=${RBASE##*:}
before=$(count)
J=(-H 'Content-Type: application/json')
refused() {  # refused DESC STATUS ANSWER-REGEX PATH BODY [curl options]
    local d=$1 st=$2 re=$3; shift 3
    raw_post "$@"
    check_eq "$d: answered $st" "$st" "$code"
    check_match "$d: the answer names it" "$re" "$answer"
    check_eq "$d: nothing stored" "$before" "$(count)"
}
refused "garbage" 400 '"error":"invalid JSON at byte 1' /v1.1/events/json 'garbage{' "${J[@]}"
refused "not an object" 400 'expected an envelope \(a JSON object\), got an array' /v1.1/events/json '[1]' "${J[@]}"
refused "an invalid event among valid ones" 400 'events\[2\]\.parameters\.task: missing required field' \
    /v1.1/events/json "{$ENV_HDR,\"events\":[$EV,$EV,{\"ts\":\"2026-05-11T12:00:00.000Z\",\"name\":\"anonymizer_event\",\"parameters\":{\"taskStatus\":\"completed\"}},$EV]}" "${J[@]}"
refused "no events" 400 'events: no events' /v1.1/events/json "{$ENV_HDR,\"events\":[]}" "${J[@]}"
refused "a wrong name" 400 'events\[0\]\.name: expected \\"anonymizer_event\\"' /v1.1/events/json \
    "{$ENV_HDR,\"events\":[${EV/anonymizer_event/other_event}]}" "${J[@]}"
refused "a bad ts" 400 'events\[0\]\.ts: not a UTC time' /v1.1/events/json \
    "{$ENV_HDR,\"events\":[${EV/12:00:00.000Z/12:00}]}" "${J[@]}"
refused "a wrong path" 404 'no such path' /v1/events "{$ENV_HDR,\"events\":[$EV]}" "${J[@]}"
answer=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "{$ENV_HDR,\"events\":[$EV]}" "${J[@]}" "$RBASE/v1.1/events/json")
check_eq "a wrong method: 405" 405 "$answer"
check_match "405 says what is allowed" '[Aa]llow: POST' "$(curl -s -i -X GET "$RBASE/v1.1/events/json")"
refused "a wrong content type" 415 'Content-Type must be application/json' /v1.1/events/json \
    "{$ENV_HDR,\"events\":[$EV]}" -H 'Content-Type: application/x-www-form-urlencoded'
refused "no content type" 415 'none given' /v1.1/events/json "{$ENV_HDR,\"events\":[$EV]}" -H 'Content-Type:'
"$PYHTTPX" - "$RPORT" "$(python3 -c 'print("{" + "x" * 17000000 + "}")' > "$T/big"; echo "$T/big")" <<'EOF' > "$T/out"
import httpx, sys
r = httpx.post("http://127.0.0.1:%s/v1.1/events/json" % sys.argv[1], content=open(sys.argv[2], "rb").read(),
               headers={"content-type": "application/json"}, timeout=30)
print(r.status_code, r.text)
EOF
check_match "an over-size body (17 MB, --max-body 16M): 413 received by the client" \
    '^413 .*over the relay.s limit of 16777216 \(--max-body\)' "$(cat "$T/out")"
check_eq "over-size: nothing stored" "$before" "$(count)"
# a body that stops halfway: the client sends half and closes
"$PYHTTPX" - "$RPORT" "{$ENV_HDR,\"events\":[$EV]}" <<'EOF'
import socket, sys
body = sys.argv[2].encode()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1.1/events/json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
s.close()
EOF
sleep 0.3
check_eq "a body that stops halfway: nothing stored" "$before" "$(count)"
raw_post /v1.1/events/json "{$ENV_HDR,\"events\":[$EV]}" "${J[@]}"
check_eq "... and the relay goes on serving" 200 "$code"
check_eq "... the next good request stored" $((before + 1)) "$(count)"
check_match "refusals are logged with their reason" \
    'refused POST /v1.1/events/json from 127.0.0.1: 400 events\[2\]\.parameters\.task: missing required field' \
    "$(cat "$T/relay.main.err")"
check_eq "refusals are counted: 400" 6 "$(health 'j["requests"]["refused"]["400"]')"
check_eq "refusals are counted: 415" 2 "$(health 'j["requests"]["refused"]["415"]')"
check_eq "refusals are counted: 404, 405, 413" "1 2 1" \
    "$(health '"%d %d %d" % (j["requests"]["refused"]["404"], j["requests"]["refused"]["405"], j["requests"]["refused"]["413"])')"

# ------------------------------------------------------------ tokens ----
printf 'tok-3f2a9c1b7d5e4a60\n' > "$T/token"; chmod 600 "$T/token"
start_relay auth --spool "$T/auth/spool.db" --token-file "$T/token"
AS=$T/auth/spool.db
raw_post /v1.1/events/json "{$ENV_HDR,\"events\":[$EV]}" "${J[@]}"
check_eq "no token: 401" 401 "$code"
check_match "401 says how to give it" 'Authorization: Bearer TOKEN' "$answer"
raw_post /v1.1/events/json "{$ENV_HDR,\"events\":[$EV]}" "${J[@]}" -H 'Authorization: Bearer tok-3f2a9c1b7d5e4a6X'
check_eq "a wrong token: 401" 401 "$code"
check_match "a wrong token is said to be wrong" 'the token is wrong' "$answer"
raw_post '/v1.1/events/json?token=tok-3f2a9c1b7d5e4a6' "{$ENV_HDR,\"events\":[$EV]}" "${J[@]}"
check_eq "a token's prefix in the query: 401" 401 "$code"
check_eq "401s stored nothing" 0 "$(sql "$AS" "SELECT count(*) FROM events")"
raw_post /v1.1/events/json "{$ENV_HDR,\"events\":[$EV]}" "${J[@]}" -H 'Authorization: Bearer tok-3f2a9c1b7d5e4a60'
check_eq "Bearer token: 200" 200 "$code"
RURL_SAVE=$RURL
RURL="$RBASE/v1.1/events/json?token=tok-3f2a9c1b7d5e4a60"
: > "$T/posted.log"
post 3 --first 200001
check_eq "token in NEMO_TELEMETRY_ENDPOINT's query, as the handler can only carry it: accepted" 3 \
    "$(field "$posted" 'j["accepted"]')"
check_eq "both stored" 4 "$(sql "$AS" "SELECT count(*) FROM events")"
check_nomatch "the token is never logged" 'tok-3f2a9c1b7d5e4a' "$(cat "$T/relay.auth.err")"
check_eq "healthz needs the token too" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$RBASE/healthz")"
check_eq "healthz with the token" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer tok-3f2a9c1b7d5e4a60' "$RBASE/healthz")"
RURL=$RURL_SAVE

# ------------------------------------- slow and stalled clients, limits ----
RBASE=$RBASE_MAIN
# twenty connections that send a header and stop; a good client is served at once
"$PYHTTPX" - "${RBASE##*:}" 20 30 <<'EOF' &
import socket, sys, time
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"POST /v1.1/events/json HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
time.sleep(float(sys.argv[3]))
EOF
stallers=$!
on_exit "kill $stallers 2>/dev/null"
sleep 0.5
t0=$(date +%s%N)
raw_post /v1.1/events/json "{$ENV_HDR,\"events\":[$EV]}" "${J[@]}" --max-time 10
t1=$(date +%s%N)
check_eq "with 20 stalled connections a good client gets 200" 200 "$code"
check "... within 2 s ($(( (t1 - t0) / 1000000 )) ms)" test $(( (t1 - t0) / 1000000 )) -lt 2000
check "healthz sees the stalled connections" test "$(health 'j["connections"]')" -ge 20
kill "$stallers" 2>/dev/null; wait "$stallers" 2>/dev/null

start_relay limit --spool "$T/limit/spool.db" --max-connections 2 --client-timeout 2
"$PYHTTPX" - "$RPORT" 2 6 <<'EOF' &
import socket, sys, time
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"POST /v1.1/events/json HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
time.sleep(float(sys.argv[3]))
EOF
stallers=$!
on_exit "kill $stallers 2>/dev/null"
sleep 0.5
t0=$(date +%s%N)
raw_post /v1.1/events/json "{$ENV_HDR,\"events\":[$EV]}" "${J[@]}" --max-time 15
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
check_eq "--max-connections 2 with 2 stalled: the third is served once they are cut off" 200 "$code"
check "--max-connections holds: the third waited for a free slot (${ms} ms)" test "$ms" -ge 1000
check "--client-timeout 2 cut the stalled ones off (${ms} ms)" test "$ms" -lt 6000
kill "$stallers" 2>/dev/null; wait "$stallers" 2>/dev/null

stop_relay "$RPID_main"
check_eq "SIGTERM: exit 0" 0 "$rrc"
finish
