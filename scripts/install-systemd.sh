#!/bin/sh
# install-systemd.sh: run anon-telemetry-ship from a systemd timer instead of cron.
#
#   scripts/install-systemd.sh [--user] [--every MINUTES] [--spool PATH] [--endpoint URL]
#                              [--bin PATH] [--unit-dir DIR] [--no-start] [--dry-run]
#                              [--relay [--listen ADDR:PORT] [--relay-opt OPTION]...]
#                              [-- SHIP-ARGS...]
#   scripts/install-systemd.sh --uninstall [--user] [--unit-dir DIR] [--no-start] [--dry-run]
#
# Writes anon-telemetry-ship.service and .timer (from scripts/systemd/, with ExecStart and
# OnCalendar filled in) to /etc/systemd/system, or with --user to
# ${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user, then reloads systemd and enables the
# timer (`systemctl [--user] enable --now anon-telemetry-ship.timer`). Running it again
# rewrites the same files (idempotent). --no-start only writes the files. --dry-run
# changes nothing: it prints each unit it would write (after a line "# PATH") and the
# systemctl commands it would run ("# would run: ..."). The systemctl command can be
# replaced with SYSTEMCTL=/path/to/command (the tests do).
#
# The spool path is resolved now and written into ExecStart: --spool, else the shipper's
# own default, asked of it (anon-telemetry-ship --print-spool-path) as the user the units
# run as: $ANON_TELEMETRY_SPOOL, else /var/spool/anon-telemetry/spool.db for root (system
# units), else with --user $XDG_STATE_HOME (when absolute) or ~/.local/state, then
# /anon-telemetry/spool.db. Writing system units as another user needs --spool (or
# $ANON_TELEMETRY_SPOOL): only root can ask for root's default.
# The shipper's messages go to the journal: journalctl [--user] -u anon-telemetry-ship.
#
# --relay also installs anon-telemetry-relay.service and .socket (the HTTP intake that the
# Anonymizer posts to, socket-activated, on the same spool; the relay binary is the one
# beside --bin) and enables the socket. --listen ADDR:PORT (default 127.0.0.1:9780) is
# the socket's address; each --relay-opt adds one option to the relay's ExecStart (a
# gateway: --relay-opt --token-file=FILE --relay-opt --tls-cert=FILE ...).
#
# Exit status: 0 done, 64 bad usage, 78 anon-telemetry-ship not found (or it cannot tell its
# default spool, or it refuses the --endpoint as every run would), 1 other failure.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/scripts/systemd
UNITS="anon-telemetry-ship.service anon-telemetry-ship.timer"

# help: the comment at the top of this file, without its first line (#!) and nothing after
# it, so that a new line there never turns into a stray line of script in the help
help() { sed -n '2,/^[^#]/{/^#/!q;s/^# \{0,1\}//;p}' "$0"; }
usage() {
    help | awk 'BEGIN { RS = "" } NR == 2' >&2    # the usage lines: the second paragraph
    exit 64
}
die() { code=$1; shift; echo "install-systemd: $*" >&2; exit "$code"; }
. "$ROOT/scripts/install-common.sh"
# u ARG: ARG quoted for a systemd ExecStart line (double quotes; % is a specifier)
u() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/%/%%/g')"; }

user=0 every=10 spool="" endpoint="" bin="" dir="" start=1 uninstall=0 extra="" dry=0
relay=0 listen=127.0.0.1:9780 relay_extra=""
while [ $# -gt 0 ]; do
    case $1 in
    --user) user=1; shift ;;
    --every) [ $# -ge 2 ] || usage; every=$2; shift 2 ;;
    --spool) [ $# -ge 2 ] || usage; spool=$2; shift 2 ;;
    --endpoint) [ $# -ge 2 ] || usage; endpoint=$2; shift 2 ;;
    --bin) [ $# -ge 2 ] || usage; bin=$2; shift 2 ;;
    --unit-dir) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    --uninstall) uninstall=1; shift ;;
    --dry-run) dry=1; shift ;;
    --relay) relay=1; shift ;;
    --listen) [ $# -ge 2 ] || usage; listen=$2; shift 2 ;;
    --relay-opt) [ $# -ge 2 ] || usage; relay_extra="$relay_extra $(u "$2")"; shift 2 ;;
    -h|--help) help; exit 0 ;;
    --) shift; for a in "$@"; do extra="$extra $(u "$a")"; done; insecure_flag "$@"; break ;;
    *) echo "install-systemd: unknown argument '$1'" >&2; usage ;;
    esac
done

SYSTEMCTL=${SYSTEMCTL:-systemctl}
if [ "$user" = 1 ]; then
    sc() { "$SYSTEMCTL" --user "$@"; }
    [ -n "$dir" ] || dir=${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user
else
    sc() { "$SYSTEMCTL" "$@"; }
    [ -n "$dir" ] || dir=/etc/systemd/system
fi
if [ "$dry" = 1 ]; then
    # --dry-run: say what would be run, run nothing
    sc() { echo "# would run: $SYSTEMCTL$([ "$user" = 0 ] || echo ' --user') $*"; }
fi
# put NAME: standard input becomes $dir/NAME (a temporary file renamed), or with --dry-run
# is printed after a line naming that file
put() {
    if [ "$dry" = 1 ]; then echo "# $dir/$1"; cat; return 0; fi
    cat > "$tmp" && [ -s "$tmp" ] && mv "$tmp" "$dir/$1" ||
        { rm -f "$tmp"; die 1 "cannot write $dir/$1"; }
}
# say MESSAGE: what was done (nothing is, with --dry-run)
say() { [ "$dry" = 1 ] || echo "install-systemd: $*"; }

if [ "$uninstall" = 1 ]; then
    if [ "$start" = 1 ]; then
        sc disable --now anon-telemetry-ship.timer 2>/dev/null || true
        if [ -e "$dir/anon-telemetry-relay.socket" ]; then
            sc disable --now anon-telemetry-relay.socket anon-telemetry-relay.service 2>/dev/null || true
        fi
    fi
    removed=0
    for f in $UNITS anon-telemetry-relay.service anon-telemetry-relay.socket; do
        [ -e "$dir/$f" ] || continue
        removed=1
        if [ "$dry" = 1 ]; then echo "# would remove: $dir/$f"; else rm -f "$dir/$f"; fi
    done
    if [ "$start" = 1 ]; then sc daemon-reload || true; fi
    if [ "$removed" = 1 ]; then say "removed the units from $dir"
    else echo "install-systemd: no units in $dir; nothing to remove"; fi
    exit 0
fi

check_every
if [ "$every_hours" -eq 0 ]; then cal="*:0/$every"; else cal="0/$every_hours:00"; fi
resolve_bin
check_endpoint
resolve_spool "$([ "$user" = 0 ] && echo 1 || echo 0)"

exec_start="$(u "$bin") --spool $(u "$spool")"
[ -z "$endpoint" ] || exec_start="$exec_start --endpoint $(u "$endpoint")"
exec_start="$exec_start$extra"

[ "$dry" = 1 ] || mkdir -p "$dir" || die 1 "cannot create $dir"
tmp="$dir/.anon-telemetry-ship.$$"
# sed replacement text: escape \, & and the | delimiter
esc() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }
# A user manager usually cannot set up PrivateTmp/ProtectSystem namespaces: drop them there.
if [ "$user" = 1 ]; then drop='/^\(PrivateTmp\|ProtectSystem\)=/d'; else drop='/^$/!b'; fi
sed -e "s|^ExecStart=.*|ExecStart=$(esc "$exec_start")|" -e "$drop" \
    "$SRC/anon-telemetry-ship.service" | put anon-telemetry-ship.service
sed -e "s|^OnCalendar=.*|OnCalendar=$cal|" \
    -e "s|every 10 minutes|every $every minutes|" \
    "$SRC/anon-telemetry-ship.timer" | put anon-telemetry-ship.timer
say "wrote $dir/anon-telemetry-ship.service and .timer (OnCalendar=$cal)"

if [ "$relay" = 1 ]; then
    relay_bin=${bin%/*}/anon-telemetry-relay
    [ -x "$relay_bin" ] || die 78 "anon-telemetry-relay not found at $relay_bin (beside --bin)"
    case $listen in
    *[!0-9A-Fa-f.:\[\]]*|'') die 64 "--listen $listen: expected ADDR:PORT (127.0.0.1:9780, [::1]:9780)" ;;
    esac
    relay_start="$(u "$relay_bin") --spool $(u "$spool") --idle-exit 600$relay_extra"
    sed -e "s|^ExecStart=.*|ExecStart=$(esc "$relay_start")|" -e "$drop" \
        "$SRC/anon-telemetry-relay.service" | put anon-telemetry-relay.service
    sed -e "s|^ListenStream=.*|ListenStream=$listen|" \
        "$SRC/anon-telemetry-relay.socket" | put anon-telemetry-relay.socket
    say "wrote $dir/anon-telemetry-relay.service and .socket (ListenStream=$listen)"
fi

if [ "$start" = 1 ]; then
    sc daemon-reload || die 1 "systemctl daemon-reload failed"
    sc enable --now anon-telemetry-ship.timer || die 1 "systemctl enable --now anon-telemetry-ship.timer failed"
    if [ "$user" = 1 ]; then sct="systemctl --user"; else sct=systemctl; fi
    say "timer enabled; see: $sct list-timers anon-telemetry-ship.timer"
    if [ "$relay" = 1 ]; then
        sc enable --now anon-telemetry-relay.socket || die 1 "systemctl enable --now anon-telemetry-relay.socket failed"
        say "relay socket enabled on $listen; see: $sct status anon-telemetry-relay.socket"
    fi
fi
