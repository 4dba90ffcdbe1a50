# ship_helpers.sh: sourced by the shipper's integration tests (tests/integration/ship_*.sh)
# after tests/lib.sh: a local collector (tests/collector.py) and shortcuts.

S=$T/spool.db
COLLECTOR=$ROOT/tests/collector.py

# start_collector NAME [collector.py options]: starts a collector; sets PORT_<NAME>,
# LOG_<NAME>; URL (http://127.0.0.1:port/v1) and LOG refer to the last one started.
start_collector() {
    _n=$1; shift
    rm -f "$T/port.$_n"
    python3 "$COLLECTOR" --port-file "$T/port.$_n" --log "$T/log.$_n" "$@" \
        2>"$T/collector.$_n.err" &
    _pid=$!
    on_exit "kill $_pid 2>/dev/null"
    eval "PID_$_n=$_pid"
    for _i in $(seq 1 100); do [ -s "$T/port.$_n" ] && break; sleep 0.1; done
    PORT=$(cat "$T/port.$_n")
    LOG=$T/log.$_n
    touch "$LOG"
    URL=http://127.0.0.1:$PORT/v1
    eval "PORT_$_n=$PORT"
}

# script JSON-LIST: appends responses to the last collector's queue
script() { curl -s -o /dev/null -X POST --data-binary "$1" "http://127.0.0.1:$PORT/_control/script"; }
default_response() { curl -s -o /dev/null -X POST --data-binary "$1" "http://127.0.0.1:$PORT/_control/default"; }
requests() { wc -l < "$LOG" | tr -d ' '; }

# event [STATUS]: one event's parameters
event() {
    printf '{"task":"batch","taskStatus":"%s","transformationType":"redact",' "${1:-completed}"
    printf '"entityDetectorModel":"gliner","entityValidatorModel":"v","entityAugmenterModel":"a"}\n'
}
# queue N SESSION [CLIENT_VERSION]: appends N events in one call
queue() {
    _k=0
    while [ $_k -lt "$1" ]; do event; _k=$((_k + 1)); done > "$T/events.jsonl"
    if [ -n "${3:-}" ]; then
        "$SPOOL_BIN" --spool "$S" --session-id "$2" --client-version "$3" < "$T/events.jsonl" >/dev/null
    else
        "$SPOOL_BIN" --spool "$S" --session-id "$2" < "$T/events.jsonl" >/dev/null
    fi
}

# ship [OPTIONS]: runs the shipper against $S and $URL; sets $out, $err, $rc
ship() {
    "$SHIP_BIN" --spool "$S" --endpoint "$URL" --connect-timeout 5 --timeout 10 "$@" \
        >"$T/out" 2>"$T/err"
    rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err")
}

# q SQL: one value from the spool
q() { sql "$S" "$1"; }

# py EXPR: evaluates a Python expression with `log` = the collector's log entries
# (with "env": each body parsed), printing the result
py() {
    python3 - "$LOG" "$1" <<'PYEOF'
import json, sys
log = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    try:
        e["env"] = json.loads(e["body"])
    except Exception:
        e["env"] = None
    log.append(e)
print(eval(sys.argv[2]))
PYEOF
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s
wait_until() {
    _end=$(( $(date +%s) + $1 )); shift
    while ! "$@"; do
        [ "$(date +%s)" -ge "$_end" ] && return 1
        sleep 0.1
    done
}

# A time as the spool stores it, offset by SECONDS from now.
ts_in() { python3 -c "import datetime,sys; t=datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(seconds=float(sys.argv[1])); print(t.strftime('%Y-%m-%dT%H:%M:%S.')+'%03dZ'%(t.microsecond//1000))" "$1"; }
