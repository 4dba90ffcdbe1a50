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

# ask_spool_path: the default spool path as the shipper itself would use it, asked of
# "$bin" (anon-telemetry-ship --print-spool-path), so that there is one rule, the commands'
# own: $ANON_TELEMETRY_SPOOL, else root's path for root, else $XDG_STATE_HOME when it is an
# absolute path (a relative one is ignored, as the XDG spec says), else ~/.local/state.
# Exits 78 when the binary cannot say.
ask_spool_path() {
    _p=$("$bin" --print-spool-path) && [ -n "$_p" ] ||
        die 78 "'$bin --print-spool-path' gave no spool path (an older anon-telemetry-ship?): pass --spool PATH"
    printf '%s\n' "$_p"
}

# resolve_spool AS_ROOT: $spool (default: the commands' rule for root (1) or a user (0)),
# resolved now because neither cron nor systemd passes the installer's environment on.
# The binary answers for the user that runs it, which is the user the job will run as,
# except for system units (AS_ROOT 1) written by someone else: root's default cannot be
# asked for by another user (unless $ANON_TELEMETRY_SPOOL decides it), so that is refused.
resolve_spool() {
    [ -z "$spool" ] || return 0
    if [ "$1" = 1 ] && [ "$(id -u)" -ne 0 ] && [ -z "${ANON_TELEMETRY_SPOOL:-}" ]; then
        die 64 "the job runs as root, and only root can ask for root's default spool: run this as root, or pass --spool PATH"
    fi
    spool=$(ask_spool_path) || exit $?
}

# user_state_dir: the directory of this user's default spool, whatever $ANON_TELEMETRY_SPOOL
# says (the commands' rule with it unset), for files that belong next to it (the log).
user_state_dir() {
    _p=$(unset ANON_TELEMETRY_SPOOL; ask_spool_path) || exit $?
    printf '%s\n' "${_p%/*}"
}

# insecure_flag SHIP-ARGS...: remembers whether the job will run with --allow-insecure-http,
# for check_endpoint.
insecure=""
insecure_flag() {
    for _a in "$@"; do [ "$_a" != --allow-insecure-http ] || insecure=$_a; done
}

# check_endpoint: an --endpoint given is checked now by the shipper itself, as every run will
# check it (syntax, http or https, no credentials in clear text to another host unless
# --allow-insecure-http follows --), so that no job is written that fails each time: exit 78
# with the shipper's reason. It runs on a spool that does not exist: nothing is touched.
check_endpoint() {
    [ -n "$endpoint" ] || return 0
    _d=$(mktemp -d) || die 1 "cannot create a temporary directory"
    _rc=0
    "$bin" --spool "$_d/none.db" --endpoint "$endpoint" --dry-run $insecure \
        >/dev/null 2>"$_d/err" || _rc=$?
    _msg=$(cat "$_d/err")
    rm -rf "$_d"
    [ "$_rc" -eq 0 ] || die 78 "--endpoint refused, nothing installed: ${_msg#anon-telemetry-ship: }"
}
