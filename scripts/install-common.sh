# install-common.sh: what install-cron.sh and install-systemd.sh share. Sourced after the
# caller has defined die CODE MESSAGE and set $every, $bin, $spool and $ROOT.

# check_every: $every must be 1-59 minutes, or whole hours that divide a day; sets
# every_hours (0 for the minutes form).
check_every() {
    case $every in ''|*[!0-9]*) die 64 "--every wants minutes (1-59, or whole hours that divide 24)" ;; esac
    every=$((every + 0))
    every_hours=0
    if [ "$every" -ge 1 ] && [ "$every" -le 59 ]; then
        return 0
    elif [ $((every % 60)) -eq 0 ] && [ $((every / 60)) -ge 1 ] && [ $((24 % (every / 60))) -eq 0 ]; then
        every_hours=$((every / 60))
    else
        die 64 "--every $every: use 1-59 minutes, or 60, 120, 180, 240, 360, 480, 720 or 1440"
    fi
}

# resolve_bin: $bin (default: anon-telemetry-ship on PATH, else the build's) as an
# absolute path to an executable, or exit 78.
resolve_bin() {
    if [ -z "$bin" ]; then
        bin=$(command -v anon-telemetry-ship 2>/dev/null || true)
        [ -n "$bin" ] || bin=$ROOT/build/anon-telemetry-ship
    fi
    case $bin in /*) ;; *) bin=$(cd "$(dirname "$bin")" 2>/dev/null && pwd)/$(basename "$bin") ;; esac
    [ -x "$bin" ] || die 78 "anon-telemetry-ship not found at $bin: run make (or make install), or pass --bin PATH"
}

# resolve_spool AS_ROOT: $spool (default: the commands' rule for root (1) or a user (0)),
# resolved now because neither cron nor systemd passes the installer's environment on.
resolve_spool() {
    [ -z "$spool" ] || return 0
    if [ -n "${ANON_TELEMETRY_SPOOL:-}" ]; then spool=$ANON_TELEMETRY_SPOOL
    elif [ "$1" = 1 ]; then spool=/var/spool/anon-telemetry/spool.db
    else spool=${XDG_STATE_HOME:-$HOME/.local/state}/anon-telemetry/spool.db
    fi
}
