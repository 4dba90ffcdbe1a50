#!/bin/bash
# The relay run by root on another user's spool works as that user, as every other
# command does: it binds its socket, then becomes the spool's owner before opening it, so
# the spool, its -wal and -shm are never root's. As another user than root this suite
# can only check that the relay leaves its own identity alone, and says so.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/relay_helpers.sh"

chmod 711 "$T"
if [ "$(id -u)" -ne 0 ]; then
    echo "relay_root.sh: not root: the change of identity cannot be checked; checking only that the relay runs as its caller"
    mkdir -m 700 "$T/own"
    start_relay own --spool "$T/own/spool.db"
    check_eq "the relay runs as its caller" "$(id -u)" "$(ps -o uid= -p "$RPID" | tr -d ' ')"
    stop_relay "$RPID"
    finish
    exit
fi
NOBODY=$(id -u nobody)
U=$T/u; mkdir -m 700 "$U"; chown nobody:nogroup "$U"
EV='{"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"g","entityValidatorModel":"v","entityAugmenterModel":"a"}'
echo "$EV" | setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups -- "$SPOOL_BIN" --spool "$U/spool.db" >/dev/null
check_eq "nobody's spool" "$NOBODY" "$(stat -c %u "$U/spool.db")"

start_relay root --spool "$U/spool.db"
check_eq "the relay came up" 0 $?
check_eq "root's relay serves nobody's spool as nobody" "$NOBODY" "$(ps -o uid= -p "$RPID" | tr -d ' ')"
post 3
check_eq "the posted events are stored" 4 "$(sql "$U/spool.db" "SELECT count(*) FROM events")"
stop_relay "$RPID"
check_eq "SIGTERM: exit 0" 0 "$rrc"
check_eq "nothing in nobody's directory is root's" "" "$(find "$U" -user root)"
finish
