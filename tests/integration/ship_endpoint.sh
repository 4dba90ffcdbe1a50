# ship_endpoint.sh: the collector URL (issue 12): checked at start whatever the spool holds
# (item 20), credentials never sent in clear text to another host (item 19), and never
# shown or stored unredacted, however malformed the URL (item 18).
# Nothing here connects anywhere but 127.0.0.1: every run whose URL names another host
# has a proxy set to a local trap collector, so that even a shipper that wrongly went on
# would only reach the trap (and the trap's log must stay empty); 127.0.0.1 and localhost
# are reached directly.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector trap
TRAP_LOG=$LOG
TRAP=http://127.0.0.1:$PORT
start_collector main

# shipx URL [OPTIONS]: the shipper with that endpoint; any host but 127.0.0.1 and localhost
# proxied to the trap
shipx() {
    _u=$1; shift
    http_proxy=$TRAP https_proxy=$TRAP HTTPS_PROXY=$TRAP ALL_PROXY=$TRAP \
    no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost \
        "$SHIP_BIN" --spool "$S" --endpoint "$_u" --connect-timeout 2 --timeout 5 "$@" \
        >"$T/out" 2>"$T/err"
    rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err")
}
trap_requests() { wc -l < "$TRAP_LOG" | tr -d ' '; }

# ---- item 20: syntax and scheme, at start, whatever the spool holds
rm -f "$S"
shipx "file:///etc/passwd"
check_eq "file:// on a missing spool: exit 78" 78 "$rc"
check_match "file://: says why" "scheme must be https \(or http\), not file" "$err"
check "file://: no spool created" test ! -e "$S"
for u in "ftp://host/x" "gopher://127.0.0.1/" "collector.example/v1" "https:/host/v1" \
         "https://" "https://host:0/v1" "https://host:65536/v1" "https://ho st/v1" \
         "https://[::1/v1" "https://a@b@host/v1"; do
    shipx "$u"
    check_eq "'$u' on a missing spool: exit 78" 78 "$rc"
done
NEMO_TELEMETRY_ENDPOINT="file:///etc/passwd" "$SHIP_BIN" --spool "$S" >/dev/null 2>"$T/err"
check_eq "NEMO_TELEMETRY_ENDPOINT=file://: exit 78" 78 "$?"
check_match "NEMO_TELEMETRY_ENDPOINT=file://: says why" "not file" "$(cat "$T/err")"
# an empty spool
queue 1 s0
q "DELETE FROM events"
runs=$(q "SELECT count(*) FROM runs")
shipx "file:///etc/passwd"
check_eq "file:// on an empty spool: exit 78" 78 "$rc"
shipx "file:///etc/passwd" --dry-run
check_eq "file:// with --dry-run: exit 78" 78 "$rc"
NEMO_TELEMETRY_ENABLED=0 "$SHIP_BIN" --spool "$S" --endpoint "file:///etc/passwd" >/dev/null 2>&1
check_eq "file:// with telemetry disabled: still exit 78" 78 "$?"
# a spool with events: nothing touched
queue 3 s1
before=$(q "SELECT group_concat(id || status || retry_count || ifnull(lease_until,''), ',') FROM events")
shipx "file:///etc/passwd"
check_eq "file:// with events: exit 78" 78 "$rc"
check_eq "file:// with events: rows untouched" "$before" \
    "$(q "SELECT group_concat(id || status || retry_count || ifnull(lease_until,''), ',') FROM events")"
check_eq "refused at start: no run recorded" "$runs" "$(q "SELECT count(*) FROM runs")"
check_eq "nothing reached the collectors" "0 0" "$(requests) $(trap_requests)"
# and a good URL still works
shipx "$URL"
check_eq "http://127.0.0.1: delivered" "0|3" "$rc|$(q "SELECT count(*) FROM events WHERE status='sent'")"

# ---- item 19: credentials over plain http only to this machine
: > "$LOG"
queue 2 s2
before=$(q "SELECT group_concat(id || status || retry_count, ',') FROM events")
for u in "http://alice:pw@collector.invalid/v1" "http://alice@collector.invalid/v1" \
         "HTTP://alice:pw@collector.invalid/v1" "http://collector.invalid/v1?token=pw" \
         "http://collector.invalid/v1?a=1&Token=pw" "http://alice:pw@127.0.0.1.evil.invalid/v1" \
         "http://alice:pw@localhost.evil.invalid/v1" "http://alice:pw@localhost./v1" \
         "http://alice:pw@127.1:$PORT/v1" "http://alice:pw@2130706433:$PORT/v1" \
         "http://alice:pw@0x7f.0.0.1:$PORT/v1" "http://alice:pw@[::ffff:127.0.0.1]:$PORT/v1"; do
    shipx "$u"
    check_eq "cleartext '$u': exit 78" 78 "$rc"
    check_match "cleartext '$u': names --allow-insecure-http" "in clear text.*--allow-insecure-http" "$err"
    check_nomatch "cleartext '$u': no secret shown" "pw|alice" "$err"
done
shipx "http://alice:pw@collector.invalid/v1" --dry-run
check_eq "cleartext with --dry-run: exit 78" 78 "$rc"
check_eq "cleartext: rows untouched" "$before" "$(q "SELECT group_concat(id || status || retry_count, ',') FROM events")"
# a proxy takes even a loopback request off this machine (nothing is resolved or sent: the
# check comes first)
http_proxy=http://proxy.invalid:3128 "$SHIP_BIN" --spool "$S" --dry-run \
    --endpoint "http://alice:pw@127.0.0.1:$PORT/v1" >/dev/null 2>"$T/err"
check_eq "credentials to 127.0.0.1 through a proxy elsewhere: exit 78" 78 "$?"
check_match "through a proxy: says so" "would go through the proxy.*no_proxy" "$(cat "$T/err")"
all_proxy=socks5://proxy.invalid:1080 "$SHIP_BIN" --spool "$S" --dry-run \
    --endpoint "http://127.0.0.1:$PORT/v1?token=pw" >/dev/null 2>&1
check_eq "a token to 127.0.0.1 through all_proxy elsewhere: exit 78" 78 "$?"
http_proxy=http://proxy.invalid:3128 no_proxy=example.org,127.0.0.1 "$SHIP_BIN" --spool "$S" \
    --dry-run --endpoint "http://alice:pw@127.0.0.1:$PORT/v1" >/dev/null 2>&1
check_eq "... unless no_proxy lists the host" 0 "$?"
http_proxy=http://127.0.0.1:1 "$SHIP_BIN" --spool "$S" --dry-run \
    --endpoint "http://alice:pw@127.0.0.1:$PORT/v1" >/dev/null 2>&1
check_eq "... or the proxy is on this machine too" 0 "$?"
# --allow-insecure-http lets it through (a dry run: nothing is posted anywhere)
shipx "http://alice:pw@collector.invalid/v1?token=pw" --dry-run --allow-insecure-http
check_eq "--allow-insecure-http: accepted (dry run)" "0|1" "$rc|$(printf '%s\n' "$out" | grep -c .)"
check_eq "nothing reached the collectors" "0 0" "$(requests) $(trap_requests)"
# https, and plain http to loopback, carry credentials
shipx "http://alice:pw@127.0.0.1:$PORT/v1?token=t" --dry-run
check_eq "http to 127.0.0.1 with credentials: accepted" 0 "$rc"
shipx "http://alice:pw@localhost:$PORT/v1" --dry-run
check_eq "http to localhost with credentials: accepted" 0 "$rc"
shipx "https://alice:pw@collector.invalid/v1?token=t" --dry-run
check_eq "https with credentials: accepted" 0 "$rc"
: > "$LOG"
ship --endpoint "http://alice:pw@127.0.0.1:$PORT/v1?token=t"
check_eq "http to 127.0.0.1 with credentials: delivered" "0|0" \
    "$rc|$(q "SELECT count(*) FROM events WHERE status!='sent'")"
check_eq "the collector got the credentials" "Basic YWxpY2U6cHc= token=t" \
    "$(py "log[0]['headers'].get('Authorization') + ' ' + log[0]['query']")"
check_eq "nothing reached the trap" 0 "$(trap_requests)"

# ---- item 18: never shown or stored whole, however malformed
: > "$LOG"
queue 1 s3
for u in "http://alice:ab/cdSECRET@127.0.0.1:$PORT/v1" "http://alice:ab?cdSECRET@127.0.0.1:$PORT/v1" \
         "http://alice:ab#cdSECRET@127.0.0.1:$PORT/v1" "http://alice:ab@cdSECRET@127.0.0.1:$PORT/v1" \
         "alice:SECRET@127.0.0.1:$PORT/v1" "http:/alice:SECRET@127.0.0.1:$PORT/v1" \
         "http://127.0.0.1:$PORT/v1?x=alice@SECRET" "file://alice:SECRET@/etc/passwd"; do
    shipx "$u" -vv
    check_eq "malformed '$u': exit 78" 78 "$rc"
    check_nomatch "malformed '$u': no secret in the output" "SECRET|alice" "$out$err"
done
check_eq "nothing reached the collectors" "0 0" "$(requests) $(trap_requests)"
# a URL that is used: redacted in every message, the runs table and status
script '[{"status": 404}]'
shipx "http://alice:p%2FSECRET@127.0.0.1:$PORT/v1?token=TOPSECRET#frag" -vv
check_eq "404 with credentials: exit 78" 78 "$rc"
check_match "404: the URL is shown redacted" "stopped: http://127.0.0.1:$PORT/v1: .*HTTP 404" "$err"
check_nomatch "404: no secret in -vv output" "SECRET|alice|token" "$out$err"
check_nomatch "404: no secret in runs.summary" "SECRET|alice|token" "$(q "SELECT group_concat(summary) FROM runs")"
"$SHIP_BIN" --spool "$S" status > "$T/status" 2>&1
check_nomatch "404: no secret in status" "SECRET|alice|token" "$(cat "$T/status")"
"$SHIP_BIN" --spool "$S" status --json > "$T/status" 2>&1
check_nomatch "404: no secret in status --json" "SECRET|alice|token" "$(cat "$T/status")"
check_nomatch "404: no secret in the events or dlq" "SECRET" \
    "$(q "SELECT ifnull(group_concat(last_error),'') FROM events") $(q "SELECT ifnull(group_concat(reason),'') FROM dlq")"
check_eq "the collector saw the decoded password" "Basic YWxpY2U6cC9TRUNSRVQ=" \
    "$(py "log[-1]['headers'].get('Authorization')")"

# ---- the installers check an --endpoint they are given the same way (item 20)
for u in "file:///etc/passwd" "http://alice:pw@collector.invalid/v1"; do
    sh "$ROOT/scripts/install-cron.sh" --crontab-file "$T/crontab" --bin "$SHIP_BIN" \
        --spool "$S" --endpoint "$u" >/dev/null 2>"$T/err"
    check_eq "install-cron --endpoint '$u': exit 78" 78 "$?"
    check "install-cron --endpoint '$u': no crontab written" test ! -e "$T/crontab"
    check_nomatch "install-cron --endpoint '$u': no secret shown" "pw|alice" "$(cat "$T/err")"
    sh "$ROOT/scripts/install-systemd.sh" --unit-dir "$T/units" --no-start --bin "$SHIP_BIN" \
        --spool "$S" --endpoint "$u" >/dev/null 2>"$T/err"
    check_eq "install-systemd --endpoint '$u': exit 78" 78 "$?"
    check "install-systemd --endpoint '$u': no unit written" test ! -e "$T/units/anon-telemetry-ship.service"
done
check_match "install-systemd: the shipper's reason" "refused.*in clear text.*--allow-insecure-http" "$(cat "$T/err")"
sh "$ROOT/scripts/install-cron.sh" --crontab-file "$T/crontab" --bin "$SHIP_BIN" --spool "$S" \
    --endpoint "http://alice:pw@collector.invalid/v1" -- --allow-insecure-http >/dev/null 2>&1
check_eq "install-cron with -- --allow-insecure-http: installed" "0|1" \
    "$?|$(grep -c -- '--allow-insecure-http' "$T/crontab" 2>/dev/null)"
sh "$ROOT/scripts/install-systemd.sh" --unit-dir "$T/units" --no-start --bin "$SHIP_BIN" --spool "$S" \
    --endpoint "https://collector.example/v1" >/dev/null 2>&1
check_eq "install-systemd with an https endpoint: installed" "0|1" \
    "$?|$(grep -c 'collector.example' "$T/units/anon-telemetry-ship.service" 2>/dev/null)"
check_eq "nothing reached the trap" 0 "$(trap_requests)"

finish
