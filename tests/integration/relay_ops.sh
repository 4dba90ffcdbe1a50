#!/bin/bash
# anon-telemetry-relay as a service: IPv6, TLS, systemd's readiness message and socket
# activation with --idle-exit, SIGTERM finishing the request in flight, the opt-out, the
# memory budget (503 + Retry-After, then served).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../relay_helpers.sh"

REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"d","entityValidatorModel":"v","entityAugmenterModel":"a"'
EV='{"ts":"2026-05-11T12:00:00.000Z","name":"anonymizer_event","parameters":{'$REQ'}}'
ONE="{\"sessionId\":\"s\",\"clientVer\":\"1\",\"cpuArchitecture\":\"x86_64\",\"eventSchemaVer\":\"1.7\",\"events\":[$EV]}"
J=(-H 'Content-Type: application/json')
count() { sql "$1" "SELECT count(*) FROM events"; }

# ---------------------------------------------------------------- IPv6 ----
start_relay v6 --spool "$T/v6/spool.db" --listen '[::1]:0'
check_match "IPv6: listening on [::1]" '^http://\[::1\]:[0-9]+$' "$RBASE"
raw_post /v1.1/events/json "$ONE" "${J[@]}" -g
check_eq "IPv6: a POST to [::1] is stored" "200 1" "$code $(count "$T/v6/spool.db")"
stop_relay "$RPID"
check_eq "IPv6: SIGTERM: exit 0" 0 "$rrc"

# ----------------------------------------------------------------- TLS ----
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
chmod 600 "$T/key.pem"
start_relay tls --spool "$T/tls/spool.db" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
check_match "TLS: listening on https" '^https://127\.0\.0\.1:[0-9]+$' "$RBASE"
raw_post /v1.1/events/json "$ONE" "${J[@]}" --cacert "$T/cert.pem"
check_eq "TLS: a POST verified against the certificate is stored" "200 1" "$code $(count "$T/tls/spool.db")"
check_eq "TLS: plain HTTP to it is not served" 000 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$RPORT/healthz")"
HEALTH_CURL=(--cacert "$T/cert.pem")
check_eq "TLS: healthz" ok "$(health 'j["status"]')"
HEALTH_CURL=()
stop_relay "$RPID"
"$RELAY_BIN" --spool "$T/tls/spool.db" --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" --tls-key "$T/missing.pem" 2>"$T/err"
check_eq "TLS: a missing key file: exit 78" 78 $?
check_match "... naming it" 'TLS key .*missing.pem' "$(cat "$T/err")"

# ------------------------------------------- systemd: notify, activation ----
# READY=1 to $NOTIFY_SOCKET once it accepts connections
python3 - "$T/notify.sock" "$T/notify.got" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
open(sys.argv[2], "w").write(s.recv(4096).decode())
EOF
listener=$!
for _ in $(seq 1 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$T/notify.sock start_relay notify --spool "$T/sd/spool.db"
wait "$listener"
check_match "sd_notify: READY=1 with the address" '^READY=1.STATUS=listening on 127\.0\.0\.1:[0-9]+' \
    "$(tr '\n' '.' < "$T/notify.got")"
stop_relay "$RPID"

# socket activation: a listening socket passed as fd 3 (LISTEN_PID, LISTEN_FDS), as systemd
# does it; --idle-exit 2 ends the relay once unused
python3 - "$RELAY_BIN" "$T/sd/spool.db" "$T/activated.port" "$T/activated.err" <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[3] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
pid = os.fork()
if pid == 0:
    if s.fileno() != 3:
        os.dup2(s.fileno(), 3)
    os.set_inheritable(3, True)
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ["LISTEN_FDS"] = "1"
    err = os.open(sys.argv[4], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(err, 2)
    os.execv(sys.argv[1], [sys.argv[1], "--spool", sys.argv[2], "--idle-exit", "2",
                           "--listen", "0.0.0.0:1", "-v"])
s.close()
_, status = os.waitpid(pid, 0)
open(sys.argv[3] + ".rc", "w").write(str(os.waitstatus_to_exitcode(status)))
EOF
launcher=$!
on_exit "kill $launcher 2>/dev/null"
for _ in $(seq 1 50); do [ -s "$T/activated.port" ] && break; sleep 0.1; done
RBASE=http://127.0.0.1:$(cat "$T/activated.port")
# the first connection may come before the relay runs: the socket already listens
raw_post /v1.1/events/json "$ONE" "${J[@]}" --max-time 10
check_eq "socket activation: served on the socket systemd passed" 200 "$code"
check_match "socket activation: says so (and ignores --listen)" \
    "listening on http://127\.0\.0\.1:$(cat "$T/activated.port") \(from systemd\)" "$(cat "$T/activated.err")"
t0=$(date +%s)
wait "$launcher"
check_eq "--idle-exit: exits 0 by itself once unused" 0 "$(cat "$T/activated.port.rc" 2>/dev/null)"
check "--idle-exit 2: within a few seconds ($(( $(date +%s) - t0 )) s)" test $(( $(date +%s) - t0 )) -le 8
check_eq "socket activation: the event is in the spool" 1 "$(count "$T/sd/spool.db")"

# -------------------------------------------- SIGTERM: in flight finishes ----
start_relay term --spool "$T/term/spool.db"
"$PYHTTPX" - "$RPORT" "$ONE" "$T/term.answer" <<'EOF' &
import socket, sys, time
body = sys.argv[2].encode()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1.1/events/json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
time.sleep(1.5)          # the relay gets SIGTERM meanwhile
s.sendall(body[10:])
s.settimeout(10)
open(sys.argv[3], "w").write(s.recv(4096).decode(errors="replace"))
EOF
client=$!
sleep 0.5
kill -TERM "$RPID"
sleep 0.3
check_eq "SIGTERM: no new connection is served" 000 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$RBASE/healthz")"
wait "$client"
check_match "SIGTERM: the request in flight is answered 200" '^HTTP/1.1 200' "$(cat "$T/term.answer")"
stop_relay "$RPID"
check_eq "SIGTERM: then exit 0" 0 "$rrc"
check_eq "SIGTERM: its events are stored" 1 "$(count "$T/term/spool.db")"

# ------------------------------------------------------------- opt-out ----
NEMO_TELEMETRY_ENABLED=false start_relay optout --spool "$T/optout/spool.db"
raw_post /v1.1/events/json "$ONE" "${J[@]}"
check_eq "opt-out: 200" 200 "$code"
check_eq "opt-out: stored 0" '{"stored":0,"duplicates":0}' "$answer"
check_eq "opt-out: nothing in the spool" 0 "$(count "$T/optout/spool.db")"
stop_relay "$RPID"

# ------------------------------------------------------- memory budget ----
# 90000 bytes for bodies; a request holds 3 x its body + 4 KiB while it is in the relay.
# A slow client's 27500-byte upload holds 86600; a second client's request (5000) then
# finds no room (503 + Retry-After), and is served once the first is done.
start_relay mem --spool "$T/mem/spool.db" --max-body 30000 --max-memory 90000
big=$(python3 -c '
import json, sys
ev = json.loads(sys.argv[1])
env = {"sessionId": "s", "clientVer": "1", "cpuArchitecture": "x86_64", "eventSchemaVer": "1.7", "events": []}
i = 0
while len(json.dumps(env)) < 27500:
    e = json.loads(json.dumps(ev)); e["parameters"]["numInputRecords"] = i; i += 1
    env["events"].append(e)
print(json.dumps(env))' "$EV")
"$PYHTTPX" - "$RPORT" "$big" "$T/mem.answer" <<'EOF' &
import socket, sys, time
body = sys.argv[2].encode()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1.1/events/json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
time.sleep(2)
s.sendall(body[100:])
s.settimeout(10)
open(sys.argv[3], "w").write(s.recv(4096).decode(errors="replace"))
EOF
slow=$!
sleep 0.7
check "memory: the slow upload holds its share of the budget" test "$(health 'j["memory"]["used"]')" -ge 80000
answer=$(curl -s -i -X POST --data-binary "$ONE" "${J[@]}" "$RBASE/v1.1/events/json")
check_match "memory: a second upload beyond the budget: 503" '^HTTP/1.1 503' "$answer"
check_match "memory: ... with Retry-After" '[Rr]etry-[Aa]fter: [0-9]+' "$answer"
check_match "memory: ... saying why" 'max-memory' "$answer"
wait "$slow"
check_match "memory: the slow upload is stored" '^HTTP/1.1 200' "$(cat "$T/mem.answer")"
raw_post /v1.1/events/json "$ONE" "${J[@]}"
check_eq "memory: once it is done, the second is served" 200 "$code"
check_eq "memory: the budget is free again" 0 "$(health 'j["memory"]["used"]')"
check_eq "memory: 503s are counted" 1 "$(health 'j["requests"]["refused"]["503"]')"
stop_relay "$RPID"
check_eq "memory: SIGTERM: exit 0" 0 "$rrc"

# ---------------------------------------------------------------- demo ----
env ANON_DEMO_DIR="$T/demo" "$ROOT/scripts/demo.sh" >"$T/demo.out" 2>&1
check_eq "the demo runs ($(tail -n 3 "$T/demo.out"))" 0 $?
check_match "demo: the site's one variable" 'export NEMO_TELEMETRY_ENDPOINT=http://127\.0\.0\.1:[0-9]+/v1\.1/events/json' \
    "$(cat "$T/demo.out")"
check_eq "demo: the relay's events reach the collector as posted (-1.0 and 1e+16 kept)" \
    "3 anonymizer-demo-c 1" \
    "$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line); env = json.loads(r["body"])
    print(len(env["events"]), env["sessionId"], int("\"jobDurationSec\":-1.0," in r["body"] and "\"jobDurationSec\":1e+16," in r["body"]))
' "$T/demo/collector-relay.log")"
finish
