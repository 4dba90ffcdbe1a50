# relay_helpers.sh: sourced by the relay's integration tests after tests/lib.sh: starting
# and stopping anon-telemetry-relay on a free loopback port, and the client that posts as
# the Anonymizer's handler does (tests/relay_client.py).

RELAY_BIN=$BUILD/anon-telemetry-relay
RCLIENT=$ROOT/tests/relay_client.py
# the client needs httpx: the python3 on PATH if it has it, else Debian's (python3-httpx)
PYHTTPX=""
for _p in python3 /usr/bin/python3; do
    if command -v "$_p" >/dev/null 2>&1 && "$_p" -c 'import httpx' 2>/dev/null; then
        PYHTTPX=$_p; break
    fi
done
if [ -z "$PYHTTPX" ]; then
    fail "no python3 with httpx (scripts/install-deps.sh installs python3-httpx)"
    PYHTTPX=python3
fi

# start_relay NAME [OPTIONS...]: starts the relay (on 127.0.0.1:0 unless OPTIONS say
# --listen) with its standard error in $T/relay.NAME.err; waits for its "listening on"
# line. Sets RPID (and RPID_NAME), RPORT, RBASE (http(s)://host:port) and RURL (the
# events URL). Returns 1 when it did not come up (its exit status in $rrc).
start_relay() {
    local name=$1 i listen=--listen addr=127.0.0.1:0
    shift
    case " $* " in *" --listen "*) listen=""; addr="" ;; esac
    : > "$T/relay.$name.err"
    "$RELAY_BIN" ${listen:+$listen $addr} "$@" 2>"$T/relay.$name.err" &
    RPID=$!
    eval "RPID_$name=$RPID"
    on_exit "kill -9 $RPID 2>/dev/null"
    for i in $(seq 1 100); do
        grep -q 'listening on' "$T/relay.$name.err" && break
        if ! kill -0 "$RPID" 2>/dev/null; then
            wait "$RPID"; rrc=$?
            return 1
        fi
        sleep 0.05
    done
    RBASE=$(sed -n 's/.*listening on \(https*:\/\/[^ ]*\).*/\1/p' "$T/relay.$name.err" | head -n 1)
    RPORT=${RBASE##*:}
    RURL=$RBASE/v1.1/events/json
    [ -n "$RBASE" ]
}

# stop_relay PID: SIGTERM, then waits (at most 20 s); the exit status in $rrc.
stop_relay() {
    local i
    kill -TERM "$1" 2>/dev/null
    for i in $(seq 1 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    wait "$1" 2>/dev/null; rrc=$?
}

# post N [relay_client.py post options]: posts N events to $RURL as the Anonymizer's
# handler does; the summary (JSON) in $posted, each POST logged to $T/posted.log.
post() {
    local n=$1; shift
    posted=$("$PYHTTPX" "$RCLIENT" post --url "$RURL" --events "$n" --log "$T/posted.log" "$@")
}
# field JSON EXPR: EXPR of the parsed JSON `j`, e.g. field "$posted" 'j["accepted"]'
field() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# health EXPR: EXPR of /healthz's JSON answer `j`
health() { field "$(curl -s "$RBASE/healthz" "${HEALTH_CURL[@]}")" "$1"; }
HEALTH_CURL=()

# raw_post PATH BODY [curl options]: status and body of a POST into $code and $answer
raw_post() {
    local path=$1 body=$2; shift 2
    answer=$(curl -s -o - -w '\n%{http_code}' -X POST --data-binary "$body" "$@" "$RBASE$path")
    code=${answer##*$'\n'}
    answer=${answer%$'\n'*}
}
