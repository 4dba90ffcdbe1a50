#!/bin/sh
# install-cron.sh: run anon-telemetry-ship from cron (default: every 10 minutes).
#
#   scripts/install-cron.sh [--every MINUTES] [--spool PATH] [--endpoint URL] [--bin PATH]
#                           [--log FILE|-] [--crontab-file FILE] [--dry-run] [-- SHIP-ARGS...]
#   scripts/install-cron.sh --uninstall [--crontab-file FILE]
#
# The entry lives between two marker lines in the invoking user's crontab, so running
# the installer again replaces it (idempotent) and --uninstall removes exactly it; the
# rest of the crontab is left as it was. The crontab command can be replaced with
# CRONTAB=/path/to/command (it must understand `-l` and `-`), or a crontab file can be
# edited directly with --crontab-file FILE: the tests use both, never the real crontab.
# --dry-run prints the crontab it would install and changes nothing; it also works where
# cron is not installed (as into an empty crontab).
#
# The spool path is resolved now and written into the entry (cron's environment has no
# ANON_TELEMETRY_SPOOL or XDG_STATE_HOME): --spool, else the shipper's own default, asked
# of it (anon-telemetry-ship --print-spool-path): $ANON_TELEMETRY_SPOOL, else
# /var/spool/anon-telemetry/spool.db for root, else $XDG_STATE_HOME (when absolute) or
# ~/.local/state, then /anon-telemetry/spool.db. The log goes to /var/log for root, else
# next to that default spool.
#
# Exit status: 0 done (also: nothing to remove), 64 bad usage, 69 no crontab command,
# 78 anon-telemetry-ship not found (or it cannot tell its default spool, or it refuses the
# --endpoint as every run would), 1 the crontab could not be read or written.
set -eu

BEGIN_MARK='# BEGIN anon-telemetry-ship (managed by install-cron.sh; this block is replaced on reinstall)'
END_MARK='# END anon-telemetry-ship'
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# help: the comment at the top of this file, without its first line (#!) and nothing after
# it, so that a new line there never turns into a stray line of script in the help
help() { sed -n '2,/^[^#]/{/^#/!q;s/^# \{0,1\}//;p}' "$0"; }
usage() {
    help | awk 'BEGIN { RS = "" } NR == 2' >&2    # the usage lines: the second paragraph
    exit 64
}
die() { code=$1; shift; echo "install-cron: $*" >&2; exit "$code"; }
# q ARG: ARG quoted for /bin/sh
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
. "$ROOT/scripts/install-common.sh"

every=10 spool="" endpoint="" bin="" log="" file="" uninstall=0 dry=0 extra=""
while [ $# -gt 0 ]; do
    case $1 in
    --every) [ $# -ge 2 ] || usage; every=$2; shift 2 ;;
    --spool) [ $# -ge 2 ] || usage; spool=$2; shift 2 ;;
    --endpoint) [ $# -ge 2 ] || usage; endpoint=$2; shift 2 ;;
    --bin) [ $# -ge 2 ] || usage; bin=$2; shift 2 ;;
    --log) [ $# -ge 2 ] || usage; log=$2; shift 2 ;;
    --crontab-file) [ $# -ge 2 ] || usage; file=$2; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    --dry-run) dry=1; shift ;;
    -h|--help) help; exit 0 ;;
    --) shift; for a in "$@"; do extra="$extra $(q "$a")"; done; insecure_flag "$@"; break ;;
    *) echo "install-cron: unknown argument '$1'" >&2; usage ;;
    esac
done

# ---- read the current crontab (none yet is an empty one)
CRONTAB=${CRONTAB:-crontab}
if [ -n "$file" ]; then
    current=$(cat "$file" 2>/dev/null || true)
elif [ "$dry" = 1 ] && ! command -v "$CRONTAB" >/dev/null 2>&1; then
    # what would be installed can be shown without cron: as into an empty crontab
    echo "install-cron: no '$CRONTAB' command (apt-get install cron): showing the entry" \
         "as it would go into an empty crontab" >&2
    current=""
else
    command -v "$CRONTAB" >/dev/null 2>&1 ||
        die 69 "no '$CRONTAB' command: install cron (apt-get install cron), or use scripts/install-systemd.sh"
    # "no crontab for USER" means an empty one; any other failure stops us, so a
    # crontab we could not read is never replaced by our entry alone.
    errf=$(mktemp)
    if current=$("$CRONTAB" -l 2>"$errf"); then
        rm -f "$errf"
    elif grep -qi 'no crontab' "$errf"; then
        rm -f "$errf"
        current=""
    else
        msg=$(cat "$errf"); rm -f "$errf"
        die 1 "'$CRONTAB -l' failed, crontab left alone: $msg"
    fi
fi
# everything but our block
others=$(printf '%s\n' "$current" | awk -v e="$END_MARK" '
    index($0, "# BEGIN anon-telemetry-ship") == 1 { skip = 1; next }
    skip && $0 == e { skip = 0; next }
    !skip')

write() {  # write CONTENT: installs CONTENT as the crontab
    if [ "$dry" = 1 ]; then printf '%s\n' "$1"; return 0; fi
    if [ -n "$file" ]; then
        tmp="$file.tmp.$$"
        { [ -z "$1" ] || printf '%s\n' "$1"; } > "$tmp" && mv "$tmp" "$file" ||
            { rm -f "$tmp"; die 1 "cannot write $file"; }
    else
        { [ -z "$1" ] || printf '%s\n' "$1"; } | "$CRONTAB" - || die 1 "'$CRONTAB -' failed"
    fi
}

if [ "$uninstall" = 1 ]; then
    if [ "$others" = "$current" ]; then
        echo "install-cron: no anon-telemetry-ship entry; nothing to remove"
        exit 0
    fi
    write "$others"
    echo "install-cron: removed the anon-telemetry-ship entry"
    exit 0
fi

# ---- the schedule
check_every
if [ "$every_hours" -eq 0 ]; then sched="*/$every * * * *"; else sched="0 */$every_hours * * *"; fi

# ---- the command
resolve_bin
check_endpoint
if [ "$(id -u)" -eq 0 ]; then resolve_spool 1; else resolve_spool 0; fi
if [ -z "$log" ]; then
    if [ "$(id -u)" -eq 0 ]; then log=/var/log/anon-telemetry-ship.log
    else log=$(user_state_dir)/ship.log || exit $?
    fi
fi

cmd="$(q "$bin") --spool $(q "$spool")"
[ -z "$endpoint" ] || cmd="$cmd --endpoint $(q "$endpoint")"
cmd="$cmd$extra"
if [ "$log" != - ]; then
    cmd="$cmd >>$(q "$log") 2>&1"
    [ "$dry" = 1 ] || mkdir -p "$(dirname "$log")"
fi
# In a crontab line an unescaped % ends the command.
cmd=$(printf '%s' "$cmd" | sed 's/%/\\%/g')
block="$BEGIN_MARK
$sched $cmd
$END_MARK"

if [ -n "$others" ]; then new="$others
$block"; else new=$block; fi
if [ "$new" = "$current" ]; then
    echo "install-cron: already installed, unchanged: $sched"
    exit 0
fi
write "$new"
[ "$dry" = 1 ] || echo "install-cron: installed: $sched $cmd"
