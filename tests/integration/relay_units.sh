#!/bin/bash
# The relay's systemd units, as scripts/install-systemd.sh --relay writes them (a fake
# systemctl, a scratch unit directory): ExecStart with our paths and options, the
# socket's address, the socket enabled, systemd-analyze's verdict, uninstall. Then the
# units' own contract run for real without systemd: the service's command line under
# socket activation answers on the socket's address and says READY=1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../relay_helpers.sh"

SYSD=$ROOT/scripts/install-systemd.sh
cat > "$T/fake-systemctl" <<'EOF'
#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
EOF
chmod +x "$T/fake-systemctl"
export SYSTEMCTL=$T/fake-systemctl FAKE_SYSTEMCTL_LOG=$T/systemctl.log
U=$T/units
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err"); }

run "$SYSD" --unit-dir "$U" --bin "$SHIP_BIN" --spool "$T/my spool.db" --relay
check_eq "install-systemd --relay exits 0 ($err)" 0 "$rc"
check_eq "relay ExecStart: the relay beside --bin, the same spool, --idle-exit" \
    "ExecStart=\"$RELAY_BIN\" --spool \"$T/my spool.db\" --idle-exit 600" \
    "$(grep '^ExecStart=' "$U/anon-telemetry-relay.service")"
check_eq "the socket listens on 127.0.0.1:9780 by default" "ListenStream=127.0.0.1:9780" \
    "$(grep '^ListenStream=' "$U/anon-telemetry-relay.socket")"
check_eq "the service tells systemd when it is ready" "Type=notify" \
    "$(grep '^Type=' "$U/anon-telemetry-relay.service")"
check_eq "systemctl: reload, the timer, the relay's socket" "daemon-reload
enable --now anon-telemetry-ship.timer
enable --now anon-telemetry-relay.socket" "$(cat "$T/systemctl.log")"
if command -v systemd-analyze >/dev/null 2>&1; then
    # (--man=no: whether a man page is installed is not the units' business)
    check "systemd-analyze verify accepts the relay's units ($(systemd-analyze verify --man=no \
        "$U/anon-telemetry-relay.socket" "$U/anon-telemetry-relay.service" 2>&1 | head -c 300))" \
        systemd-analyze verify --man=no "$U/anon-telemetry-relay.socket" "$U/anon-telemetry-relay.service"
fi
cp "$U/anon-telemetry-relay.service" "$T/svc1"
run "$SYSD" --unit-dir "$U" --bin "$SHIP_BIN" --spool "$T/my spool.db" --relay --no-start
check "install-systemd --relay is idempotent" cmp -s "$T/svc1" "$U/anon-telemetry-relay.service"

# a gateway: another address, a token and TLS
run "$SYSD" --unit-dir "$T/gw" --bin "$SHIP_BIN" --spool "$T/s.db" --relay --no-start \
    --listen '[::]:9780' --relay-opt --token-file=/etc/anon-telemetry/relay.token \
    --relay-opt '--tls-cert=/etc/ssl/relay 1.pem'
check_eq "gateway: the options in ExecStart, quoted" \
    "ExecStart=\"$RELAY_BIN\" --spool \"$T/s.db\" --idle-exit 600 \"--token-file=/etc/anon-telemetry/relay.token\" \"--tls-cert=/etc/ssl/relay 1.pem\"" \
    "$(grep '^ExecStart=' "$T/gw/anon-telemetry-relay.service")"
check_eq "gateway: ListenStream" "ListenStream=[::]:9780" \
    "$(grep '^ListenStream=' "$T/gw/anon-telemetry-relay.socket")"
run "$SYSD" --unit-dir "$T/bad" --bin "$SHIP_BIN" --spool "$T/s.db" --relay --no-start --listen 'x y'
check_eq "a bad --listen: exit 64" 64 "$rc"
run "$SYSD" --user --unit-dir "$T/uunits" --bin "$SHIP_BIN" --spool "$T/s.db" --relay --no-start
check_eq "--user: the relay's service drops the namespacing options" 0 \
    "$(grep -c '^\(PrivateTmp\|ProtectSystem\)=' "$T/uunits/anon-telemetry-relay.service")"
run "$SYSD" --unit-dir "$T/none" --bin "$SHIP_BIN" --spool "$T/s.db" --no-start
check_eq "without --relay: the shipper's units only" "anon-telemetry-ship.service anon-telemetry-ship.timer" \
    "$(ls "$T/none" | tr '\n' ' ' | sed 's/ $//')"

: > "$T/systemctl.log"
run "$SYSD" --uninstall --unit-dir "$U"
check_eq "uninstall exits 0" 0 "$rc"
check "the relay's units are gone" test ! -e "$U/anon-telemetry-relay.service" -a ! -e "$U/anon-telemetry-relay.socket"
check_match "uninstall disables the relay's socket" "disable --now anon-telemetry-relay.socket" \
    "$(cat "$T/systemctl.log")"

# The service's ExecStart under the socket's activation, as systemd runs them: fd 3,
# LISTEN_PID/LISTEN_FDS, NOTIFY_SOCKET; Type=notify's READY=1 arrives once it serves.
exec_start=$(sed -n 's/^ExecStart=//p' "$T/svc1" | sed "s|$T/my spool.db|$T/act/spool.db|")
python3 - "$T" "$exec_start" <<'EOF' > "$T/activation"
import os, shlex, socket, sys, time, urllib.request
t, argv = sys.argv[1], shlex.split(sys.argv[2])
listen = socket.socket(); listen.bind(("127.0.0.1", 0)); listen.listen(16)
port = listen.getsockname()[1]
note = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); note.bind(t + "/notify"); note.settimeout(20)
pid = os.fork()
if pid == 0:
    if listen.fileno() != 3:
        os.dup2(listen.fileno(), 3)
    os.set_inheritable(3, True)
    os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", NOTIFY_SOCKET=t + "/notify")
    err = os.open(t + "/act.err", os.O_WRONLY | os.O_CREAT, 0o600); os.dup2(err, 2)
    os.execv(argv[0], argv)
ready = note.recv(4096).decode()
print("ready", ready.splitlines()[0])
with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=10) as r:
    print("healthz", r.status)
os.kill(pid, 15)
_, status = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(status))
EOF
check_match "activated as the unit says: READY=1" '^ready READY=1$' "$(grep '^ready' "$T/activation")"
check_eq "activated as the unit says: serves the socket" "healthz 200" "$(grep '^healthz' "$T/activation")"
check_eq "activated as the unit says: SIGTERM (KillMode=mixed) exits 0" "exit 0" "$(grep '^exit' "$T/activation")"
finish
