#!/bin/bash
# Where a spool may live and whose it is (issue 12, items 9 and 10; spool/place.c,
# shipper/spoollock.c):
#   - the spool file is never a symbolic link (item 10: SQLite would put -wal and -shm
#     beside the file it points to, in a directory nobody checked): refused, exit 77
#   - <spool>.lock, -wal and -shm are never followed through a link (a dangling one must
#     not make root create a file anywhere) and must be regular files of the spool's owner
#   - a directory writable by group or others is refused (77), unless it is root's with
#     the sticky bit (/tmp): there each user works only on their own spool
#   - root works on another user's spool as that user (every command): nothing it makes
#     belongs to root, and the owner's own cron job is never locked out
#   - a link owned by a user that points into a directory of someone else (root's) is
#     refused: a user cannot steer a root job into /etc
# As root (CI) every part runs, acting as nobody (setpriv); as another user the parts
# that need a second user are replaced as announced below.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector main
default_response '{"status": 200}'
chmod 711 "$T"       # nobody must reach the directories below when we are root
ME=$(id -u)
NOBODY=65534
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- "$@"; }
owner() { stat -c %u "$1"; }
# run_cmd NAME SPOOL: one command on SPOOL; sets rc, err
run_cmd() {
    case $1 in
    spool) event | "$SPOOL_BIN" --spool "$2" >"$T/out" 2>"$T/err" ;;
    ship) "$SHIP_BIN" --spool "$2" --endpoint "$URL" --connect-timeout 5 --timeout 10 >"$T/out" 2>"$T/err" ;;
    *) "$SHIP_BIN" $1 --spool "$2" >"$T/out" 2>"$T/err" ;;
    esac
    rc=$?; err=$(cat "$T/err")
}

# ---- item 10: a symlinked spool file is refused by every command, nothing made beside
# the file it points to (here in a world-writable directory)
mkdir -m 700 "$T/safe"
mkdir "$T/ww" && chmod 0777 "$T/ww"
ln -s "$T/ww/real.db" "$T/safe/spool.db"
run_cmd spool "$T/safe/spool.db"
check_eq "symlinked spool file: the writer exits 77" 77 "$rc"
check_match "symlinked spool file: says it is a link" "spool.db: it is a symbolic link" "$err"
check_eq "symlinked spool file: nothing made in the world-writable directory" "" "$(ls -A "$T/ww")"
# a link to a real spool in a safe directory is refused as well: the rule is "no link"
mkdir -m 700 "$T/real"
S=$T/real/spool.db queue 1 real
ln -s "$T/real/spool.db" "$T/safe/link.db"
sum=$(cat "$T/real/spool.db" | sha256sum)
for c in spool ship status list "dlq list"; do
    run_cmd "$c" "$T/safe/link.db"
    check_eq "link to a spool: '$c' exits 77" 77 "$rc"
    check_match "link to a spool: '$c' names the link" "link.db.*symbolic link" "$err"
done
check_eq "link to a spool: the spool it points to is unchanged" "$sum" "$(cat "$T/real/spool.db" | sha256sum)"
check_eq "link to a spool: no lock file made anywhere" 0 "$(ls -A "$T/real" "$T/safe" | grep -c '\.lock$')"

# ---- item 9: links and strangers beside the spool
mkdir -m 700 "$T/d"
D=$T/d/spool.db
S=$D queue 2 d
ln -s "$T/made-through-a-link" "$D.lock"
run_cmd ship "$D"
check_eq "dangling <spool>.lock link: the shipper exits 77" 77 "$rc"
check_match "dangling <spool>.lock link: says so" "lock file $D.lock: it is a symbolic link" "$err"
check "dangling <spool>.lock link: nothing created through it" test ! -e "$T/made-through-a-link"
check_eq "dangling <spool>.lock link: nothing sent" 2 "$(sql "$D" "SELECT count(*) FROM events WHERE status = 'pending'")"
rm -f "$D.lock"; mkfifo "$D.lock"
run_cmd ship "$D"
check_eq "a FIFO as <spool>.lock: exit 77" 77 "$rc"
check_match "a FIFO as <spool>.lock: not a regular file" "lock file $D.lock: it is not a regular file" "$err"
rm -f "$D.lock"
ln -s "$T/wal-through-a-link" "$D-wal"
run_cmd spool "$D"
check_eq "a -wal link: the writer exits 77" 77 "$rc"
check_match "a -wal link: says so" "$D-wal is a symbolic link" "$err"
run_cmd status "$D"
check_eq "a -wal link: status exits 77" 77 "$rc"
check "a -wal link: nothing created through it" test ! -e "$T/wal-through-a-link"
rm -f "$D-wal"
run_cmd ship "$D"
check_eq "links removed: the shipper delivers (exit 0)" "0|2" "$rc|$(sql "$D" "SELECT count(*) FROM events WHERE status = 'sent'")"
check_eq "the lock file is a regular file of the spool's owner, mode 600" "$ME 600" "$(stat -c '%u %a' "$D.lock")"

# ---- directories: group-writable refused (world-writable as before); root's sticky
# shared directory allowed
mkdir "$T/gw" && chmod 0770 "$T/gw"
run_cmd spool "$T/gw/s.db"
check_eq "group-writable directory: exit 77" 77 "$rc"
check_match "group-writable directory: named" "$T/gw.*group-writable \(mode 0770\)" "$err"
check "group-writable directory: nothing created" test ! -e "$T/gw/s.db"
run_cmd spool "$T/ww/s.db"
check_eq "world-writable directory: exit 77" 77 "$rc"
check_match "world-writable directory: named" "$T/ww.*world-writable" "$err"
if [ "$ME" -eq 0 ]; then
    mkdir "$T/sticky" && chmod 1777 "$T/sticky"
    STK=$T/sticky
else
    STK=$(stat -c '%u %a' /tmp | grep -q '^0 1777$' && echo /tmp)
fi
if [ -n "$STK" ]; then
    SS=$(mktemp -u "$STK/anon-paths.XXXXXX").db
    on_exit "rm -f '$SS' '$SS-wal' '$SS-shm' '$SS.lock'"
    run_cmd spool "$SS"
    check_eq "root's sticky shared directory ($STK): the writer stores (exit 0)" 0 "$rc"
    check_eq "root's sticky shared directory: the spool is the caller's, 600" "$ME 600" "$(stat -c '%u %a' "$SS")"
    run_cmd ship "$SS"
    check_eq "root's sticky shared directory: the shipper delivers" 0 "$rc"
else
    replaced "no root-owned sticky directory to try (not root, and /tmp is not 1777 root)"
fi

# ---- links on the way: one owned by the caller pointing to a directory of the caller
# is fine; one pointing into someone else's (root's) directory is refused
mkdir -m 700 "$T/mine" "$T/via"
ln -s "$T/mine" "$T/via/to-mine"
run_cmd spool "$T/via/to-mine/s.db"
check_eq "a link to one's own directory: fine" 0 "$rc"
check "a link to one's own directory: the spool is in the real directory" test -f "$T/mine/s.db"

if [ "$ME" -ne 0 ]; then
    # a link of this user into root's directory (/): refused before anything is tried
    ln -s / "$T/via/to-root"
    run_cmd spool "$T/via/to-root/s.db"
    check_eq "a user's link into root's directory: exit 77" 77 "$rc"
    check_match "a user's link into root's directory: named" "to-root is a symbolic link of uid $ME to /, which uid $ME does not own" "$err"
    replaced "not root (uid $ME): the checks that need a second user are replaced:" \
         "root working as the spool's owner (files it makes belong to the owner, whose own" \
         "run is not locked out), a root-owned stale lock, a spool not owned by its" \
         "directory's owner, and a user's link steering root are checked only as root;" \
         "the link rule was checked above for this user instead"
    finish
    exit $?
fi

# ---------------------------------------------------------------- root only ----
# a user's spool: root's commands work as that user; nothing root-owned is left behind
U=$T/user
mkdir -m 700 "$U" && chown $NOBODY:$NOBODY "$U"
run_cmd spool "$U/s/spool.db"
check_eq "root queues into nobody's directory: exit 0" 0 "$rc"
check_eq "the new directory and spool belong to nobody" "$NOBODY $NOBODY" "$(owner "$U/s") $(owner "$U/s/spool.db")"
for c in status list "dlq list" "dlq purge --all"; do
    run_cmd "$c" "$U/s/spool.db"
    check_eq "root: '$c' on nobody's spool exits 0" 0 "$rc"
done
run_cmd ship "$U/s/spool.db"
check_eq "root ships nobody's spool: exit 0" 0 "$rc"
check_eq "root's run left nothing of root's there" "" "$(find "$U" -uid 0 -printf '%P ')"
check_eq "the lock file is nobody's" "$NOBODY" "$(owner "$U/s/spool.db.lock")"
event | as_nobody "$SPOOL_BIN" --spool "$U/s/spool.db" >/dev/null 2>"$T/err"
check_eq "nobody queues into their spool after root's runs" 0 $?
as_nobody "$SHIP_BIN" --spool "$U/s/spool.db" --endpoint "$URL" >/dev/null 2>"$T/err"
check_eq "nobody's own shipper is not locked out after root's run ($(cat "$T/err"))" 0 $?
check_eq "nobody's own run delivered" 0 "$(sql "$U/s/spool.db" "SELECT count(*) FROM events WHERE status != 'sent'")"

# bundle verify opens no spool: root reads its own bundle, whoever owns the default spool
event | "$SPOOL_BIN" --spool "$T/rootspool/spool.db" >/dev/null
"$SHIP_BIN" bundle create "$T/root-bundle.jsonl" --spool "$T/rootspool/spool.db" >/dev/null 2>&1
chmod 600 "$T/root-bundle.jsonl"
ANON_TELEMETRY_SPOOL=$U/s/spool.db "$SHIP_BIN" bundle verify "$T/root-bundle.jsonl" >/dev/null 2>"$T/err"
check_eq "root verifies its own 0600 bundle while the default spool is nobody's ($(cat "$T/err"))" 0 $?

# the report: a user's dangling lock link must not make the root shipper create a file
rm -f "$U/s/spool.db.lock"
ln -s "$T/root-target" "$U/s/spool.db.lock" && chown -h $NOBODY:$NOBODY "$U/s/spool.db.lock"
run_cmd ship "$U/s/spool.db"
check_eq "root, a user's dangling lock link: exit 77" 77 "$rc"
check "root, a user's dangling lock link: no file created through it" test ! -e "$T/root-target"
rm -f "$U/s/spool.db.lock"

# a stale lock file of root's beside a user's spool (left by an older version): refused
# with a clear message, never silently used
touch "$U/s/spool.db.lock"; chmod 600 "$U/s/spool.db.lock"
run_cmd ship "$U/s/spool.db"
check_eq "root-owned lock beside nobody's spool: exit 77" 77 "$rc"
check_match "root-owned lock: says whose it is" "belongs to uid 0, not to the spool's owner \(uid $NOBODY\)" "$err"
rm -f "$U/s/spool.db.lock"

# a spool that is not its directory's owner's: refused (root's directory, nobody's file)
mkdir -m 700 "$T/rootdir"
cp "$U/s/spool.db" "$T/rootdir/spool.db" && chown $NOBODY "$T/rootdir/spool.db"
run_cmd status "$T/rootdir/spool.db"
check_eq "nobody's spool in root's directory: exit 77" 77 "$rc"
check_match "nobody's spool in root's directory: says so" "belongs to uid $NOBODY but its directory .* to uid 0" "$err"

# a user's link steering root into root's directory: refused, nothing created there
mkdir -m 700 "$T/etc"
ln -s "$T/etc" "$U/state" && chown -h $NOBODY:$NOBODY "$U/state"
run_cmd spool "$U/state/spool.db"
check_eq "nobody's link into root's directory: exit 77" 77 "$rc"
check_match "nobody's link into root's directory: named" "state is a symbolic link of uid $NOBODY" "$err"
check_eq "nobody's link into root's directory: nothing created there" "" "$(ls -A "$T/etc")"

# root's sticky shared directory: root works on a user's spool there as that user, and a
# user never uses someone else's spool there
NS=$STK/nobody.db
event | as_nobody "$SPOOL_BIN" --spool "$NS" >/dev/null
run_cmd ship "$NS"
check_eq "root ships nobody's spool in a sticky directory: exit 0" 0 "$rc"
check_eq "...and its lock file is nobody's" "$NOBODY" "$(owner "$NS.lock")"
RS=$STK/root.db
run_cmd spool "$RS"
event | as_nobody "$SPOOL_BIN" --spool "$RS" >/dev/null 2>"$T/err"
check_eq "nobody on root's spool in a sticky directory: exit 77" 77 $?
check_match "nobody on root's spool in a sticky directory: says whose it is" "belongs to uid 0 in the shared directory" "$(cat "$T/err")"

finish
