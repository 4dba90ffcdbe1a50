#!/bin/bash
# deb.sh (make test-deb, after make deb): the Debian packages in $BUILD/deb/.
#
# Anyone: lintian reports no error and no warning; each package holds what it should
# (commands, units with their sandbox, the cron file, the library and its SONAME link, the
# -dev files, the Python package), with the dependencies declared right (libcurl4, which
# the shipper loads with dlopen and dpkg-shlibdeps cannot see); the symbols file lists
# exactly what the library exports.
#
# As root, on a machine where the packages are not installed (CI's throwaway Debian 12):
# dpkg -i; the system user and the spool directory; the main job against the installed
# commands (queue, ship to the test collector on 127.0.0.1), on a spool of its own and
# on the system spool as its owner; the relay as that user; pkg-config building the
# README's C example; import anon_telemetry; man -w of every page; the units accepted
# by systemd-analyze; dpkg -r keeps the spool and the cron file; dpkg --purge leaves
# nothing behind. The packages are purged at exit, also when a check fails.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/ship_helpers.sh"

DEBS=$BUILD/deb
PKGS="anon-telemetry libanontelemetry1 libanontelemetry-dev python3-anon-telemetry"
VERSION=$(sed -n 's/^#define ANON_TELEMETRY_VERSION "\(.*\)"$/\1/p' "$ROOT/spool/anon_telemetry.h")
ARCH=$(dpkg --print-architecture)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
MANPAGES="anon-telemetry-spool.1 anon-telemetry-tokens.1 anon_telemetry.3 anon-telemetry.7
anon-telemetry-relay.8 anon-telemetry-ship.8"

deb_of() { ls "$DEBS/$1_${VERSION}_"*.deb 2>/dev/null | head -n 1; }
for p in $PKGS; do
    check "make deb made $p $VERSION" test -f "$(deb_of "$p")"
done
X=$T/x
for p in $PKGS; do mkdir -p "$X/$p" && dpkg-deb -x "$(deb_of "$p")" "$X/$p" 2>/dev/null; done
field() { dpkg-deb -f "$(deb_of "$1")" "$2"; }

# ---------------------------------------------------------------- lintian ----
if command -v lintian >/dev/null 2>&1; then
    lintian -I --pedantic --fail-on error,warning "$DEBS/anon-telemetry_${VERSION}_$ARCH.changes" \
        >"$T/lintian.out" 2>&1
    check_eq "lintian: no error, no warning (output: $(tr '\n' ' ' < "$T/lintian.out"))" 0 $?
    check_nomatch "lintian: no E: or W: tag" '^[EW]: ' "$(cat "$T/lintian.out")"
    # what is left is information; shown so a reader sees it
    grep -E '^[IPX]: ' "$T/lintian.out" | sed 's/^/  lintian /'
else
    fail "no lintian (scripts/install-deps.sh installs it)"
fi

# ---------------------------------------------------------------- contents ----
A=$X/anon-telemetry
for c in spool tokens ship relay; do
    check "anon-telemetry has /usr/bin/anon-telemetry-$c" test -x "$A/usr/bin/anon-telemetry-$c"
    check_eq "its anon-telemetry-$c is this version" "anon-telemetry-$c $VERSION" \
        "$(LD_LIBRARY_PATH="$X/libanontelemetry1/usr/lib/$MA" "$A/usr/bin/anon-telemetry-$c" --version)"
done
for u in anon-telemetry-ship.service anon-telemetry-ship.timer anon-telemetry-relay.service \
         anon-telemetry-relay.socket; do
    check "anon-telemetry has the unit $u" test -f "$A/lib/systemd/system/$u"
done
check_match "the shipper's unit runs /usr/bin/anon-telemetry-ship on the system spool" \
    '^ExecStart=/usr/bin/anon-telemetry-ship --spool /var/spool/anon-telemetry/spool.db$' \
    "$(grep '^ExecStart=' "$A/lib/systemd/system/anon-telemetry-ship.service")"
check_match "the relay's unit runs /usr/bin/anon-telemetry-relay on the system spool" \
    '^ExecStart=/usr/bin/anon-telemetry-relay --spool /var/spool/anon-telemetry/spool.db ' \
    "$(grep '^ExecStart=' "$A/lib/systemd/system/anon-telemetry-relay.service")"
check_eq "the units name their manual page" "Documentation=man:anon-telemetry-ship(8)
Documentation=man:anon-telemetry-relay(8)" \
    "$(grep -h '^Documentation=' "$A/lib/systemd/system/anon-telemetry-ship.service" \
        "$A/lib/systemd/system/anon-telemetry-relay.service")"
for s in ship relay; do
    d=$A/lib/systemd/system/anon-telemetry-$s.service.d/debian.conf
    for want in User=anon-telemetry Group=anon-telemetry NoNewPrivileges=yes \
                ProtectSystem=strict ReadWritePaths=/var/spool/anon-telemetry PrivateTmp=yes \
                ProtectHome=yes CapabilityBoundingSet=; do
        check "the $s service's drop-in sets $want" grep -qx -- "$want" "$d"
    done
done
check_match "the cron file runs the shipper as anon-telemetry, only without systemd" \
    '^\*/10 \* \* \* \* anon-telemetry \[ ! -d /run/systemd/system \] && .*/usr/bin/anon-telemetry-ship --spool /var/spool/anon-telemetry/spool.db' \
    "$(grep -v '^#' "$A/etc/cron.d/anon-telemetry" | grep anon-telemetry-ship)"
check_eq "the spool directory is not shipped (postinst makes it; a remove keeps it)" "" \
    "$(cd "$A" && ls -d var/spool/anon-telemetry 2>/dev/null)"
for m in $MANPAGES; do
    case $m in anon_telemetry.3) pk=libanontelemetry-dev ;; *) pk=anon-telemetry ;; esac
    check "$pk has the manual page $m" test -f "$X/$pk/usr/share/man/man${m##*.}/$m.gz"
done

L=$X/libanontelemetry1/usr/lib/$MA
real=$(cd "$L" && ls libanontelemetry.so.1.* 2>/dev/null)
check "libanontelemetry1 has the library" test -f "$L/$real"
check_eq "and its SONAME link" "$real" "$(readlink "$L/libanontelemetry.so.1")"
check_eq "libanontelemetry1 holds nothing else of ours" "" \
    "$(cd "$X/libanontelemetry1" && find . -type f ! -path './usr/share/doc/*' ! -path './usr/share/lintian/*' ! -name "$real")"
D=$X/libanontelemetry-dev
for f in usr/include/anon_telemetry.h "usr/lib/$MA/libanontelemetry.a" \
         "usr/lib/$MA/pkgconfig/anon-telemetry.pc"; do
    check "libanontelemetry-dev has $f" test -f "$D/$f"
done
check_eq "libanontelemetry-dev's .so links to the SONAME" libanontelemetry.so.1 \
    "$(readlink "$D/usr/lib/$MA/libanontelemetry.so")"
check_eq "the .pc names the multiarch directory" "libdir=/usr/lib/$MA" \
    "$(grep '^libdir=' "$D/usr/lib/$MA/pkgconfig/anon-telemetry.pc")"
P=$X/python3-anon-telemetry/usr/lib/python3/dist-packages/anon_telemetry
check "python3-anon-telemetry has the package" test -f "$P/__init__.py"
check "and no recorded LIBDIR: it loads the library by its SONAME on any architecture" \
    test ! -e "$P/_installed.py"
check_eq "python3-anon-telemetry is Architecture: all" all "$(field python3-anon-telemetry Architecture)"

# dependencies: what dpkg-shlibdeps finds, plus libcurl4, which it cannot see
dep=$(field anon-telemetry Depends)
for want in 'libcurl4 \(>= 7\.66' 'libsqlite3-0' 'libcjson1' 'libmicrohttpd12' 'libssl3' 'adduser'; do
    check_match "anon-telemetry depends on $want" "$want" "$dep"
done
check_nomatch "the shipper does not link libcurl (it loads it with dlopen)" 'libcurl' \
    "$(readelf -d "$A/usr/bin/anon-telemetry-ship" | grep NEEDED)"
check_nomatch "and --as-needed kept the writer free of the relay's libraries" 'libmicrohttpd|libcurl|libssl|libcrypto' \
    "$(readelf -d "$A/usr/bin/anon-telemetry-spool" | grep NEEDED)"
check_match "libanontelemetry-dev depends on libanontelemetry1 of its version" \
    "libanontelemetry1 \(= $VERSION\)" "$(field libanontelemetry-dev Depends)"
check_match "python3-anon-telemetry depends on libanontelemetry1 and python3" \
    "libanontelemetry1 \(>= $VERSION\).*python3" "$(field python3-anon-telemetry Depends)"

# the symbols file lists exactly what the library exports (so it is kept up to date)
exported=$(nm -D --defined-only "$L/$real" | awk 'NF == 3 { print $3 }' | sort)
listed=$(sed -n 's/^ \([a-z_0-9]*\)@Base .*/\1/p' "$ROOT/debian/libanontelemetry1.symbols" | sort)
check_eq "debian/libanontelemetry1.symbols lists every exported symbol, and no other" \
    "$exported" "$listed"

# ---------------------------------------------------------------- installed ----
if [ "$(id -u)" -ne 0 ]; then
    replaced "not root (uid $(id -u)): installing, using, removing and purging the packages" \
             "is not tried (it needs root; CI runs it as root)"
    finish; exit $?
fi
already=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed' && already="$already $p"
done
if [ -n "$already" ]; then
    fail "the packages are installed on this machine already ($already): this test installs and" \
         "purges them, so it runs only where they are not (purge them first)"
    finish; exit $?
fi

# from here on, whatever happens, the packages go again, and a system spool that was here
# before comes back (the purge deletes /var/spool/anon-telemetry)
SYSDIR=/var/spool/anon-telemetry
SYS=$SYSDIR/spool.db
if [ -e "$SYSDIR" ]; then
    KEPT=/var/spool/.anon-telemetry.kept-by-deb-test.$$
    mv "$SYSDIR" "$KEPT" || { fail "cannot move $SYSDIR aside"; finish; exit 1; }
    on_exit "rm -rf '$SYSDIR'; mv '$KEPT' '$SYSDIR'"
    echo "deb.sh: $SYSDIR was here already: kept aside as $KEPT, put back at the end"
fi
purge_all() { dpkg --purge $PKGS >/dev/null 2>&1; }
on_exit purge_all

# root's default spool from before the package (root queued as itself): the package takes
# it over for its user, events and all
event | env -u ANON_TELEMETRY_SPOOL "$SPOOL_BIN" --session-id before >/dev/null
check_eq "before the package: root's default spool is root's" "root 700" "$(stat -c '%U %a' "$SYSDIR")"
DEB_FILES=""
for p in $PKGS; do DEB_FILES="$DEB_FILES $(deb_of "$p")"; done
# shellcheck disable=SC2086
dpkg -i $DEB_FILES >"$T/dpkg-i.log" 2>&1
check_eq "dpkg -i installs the four packages (log: $(tail -n 5 "$T/dpkg-i.log" | tr '\n' ' '))" 0 $?
for p in $PKGS; do
    check_eq "$p is installed" "install ok installed" "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)"
done
dpkg -L $PKGS 2>/dev/null | sort -u > "$T/files"

pw=$(getent passwd anon-telemetry)
check_match "the system user anon-telemetry exists, without a login shell" \
    '^anon-telemetry:[^:]*:[0-9]+:[0-9]+:[^:]*:/var/spool/anon-telemetry:/usr/sbin/nologin$' "$pw"
check "its uid is a system uid" test "$(id -u anon-telemetry)" -lt 1000
check_eq "the spool directory is anon-telemetry's, mode 700" "anon-telemetry anon-telemetry 700" \
    "$(stat -c '%U %G %a' "$SYSDIR" 2>/dev/null)"
check_eq "root's spool from before is anon-telemetry's now, with its event" "anon-telemetry 1" \
    "$(stat -c %U "$SYS") $(sql "$SYS" "SELECT count(*) FROM events WHERE session_id = 'before'")"
check_match "postinst said so" "$SYSDIR \(root's spool\) now belongs to the anon-telemetry user" \
    "$(cat "$T/dpkg-i.log")"

for c in spool tokens ship relay; do
    check_eq "/usr/bin/anon-telemetry-$c is on PATH" "/usr/bin/anon-telemetry-$c" \
        "$(PATH=/usr/bin:/bin command -v anon-telemetry-$c)"
done
for m in $MANPAGES; do
    check_match "man -w finds $m" "^/usr/share/man/man${m##*.}/$m\.gz$" \
        "$(man -w "${m##*.}" "${m%.*}" 2>/dev/null)"
done
if command -v systemd-analyze >/dev/null 2>&1; then
    (cd / && systemd-analyze verify /lib/systemd/system/anon-telemetry-ship.service \
        /lib/systemd/system/anon-telemetry-ship.timer /lib/systemd/system/anon-telemetry-relay.socket \
        /lib/systemd/system/anon-telemetry-relay.service) >"$T/verify.log" 2>&1
    check_eq "systemd-analyze verify accepts the installed units ($(tr '\n' ' ' < "$T/verify.log"))" 0 $?
else
    fail "no systemd-analyze to check the units with"
fi
check_match "the timer and the relay's socket are enabled" \
    'anon-telemetry-relay.socket.*anon-telemetry-ship.timer|anon-telemetry-ship.timer.*anon-telemetry-relay.socket' \
    "$(ls /etc/systemd/system/*.wants/ 2>/dev/null | tr '\n' ' ')"

# ---- the main job with the installed commands, on a spool of the test's own
start_collector main
S=$T/job/spool.db
for i in 1 2 3; do event; done | /usr/bin/anon-telemetry-spool --spool "$S" --session-id deb >"$T/uuids"
check_eq "the installed writer queues three events" 3 "$(grep -c . "$T/uuids")"
/usr/bin/anon-telemetry-ship --spool "$S" --endpoint "$URL" >"$T/ship.out" 2>&1
check_eq "the installed shipper delivers them (exit 0)" 0 $?
check_eq "the collector received the three events" 3 "$(py 'sum(len(e["env"]["events"]) for e in log)')"
check_eq "and they are sent in the spool" "sent|3" "$(sql "$S" 'SELECT status, count(*) FROM events GROUP BY status')"
check_match "the installed status command reads it" 'sent +3' \
    "$(/usr/bin/anon-telemetry-ship status --spool "$S")"
/usr/bin/anon-telemetry-ship metrics --spool "$S" >"$T/metrics"
check_match "the installed metrics command counts them" '^anon_telemetry_events\{status="sent"\} 3$' \
    "$(grep 'status="sent"' "$T/metrics")"
if command -v promtool >/dev/null 2>&1; then
    check "promtool check metrics accepts them" promtool check metrics < "$T/metrics"
else
    fail "no promtool (scripts/install-deps.sh installs Debian's prometheus)"
fi

# ---- the system spool: its owner writes it, root ships it as that owner
event | runuser -u anon-telemetry -- /usr/bin/anon-telemetry-spool --spool "$SYS" --session-id sys >/dev/null
check_eq "anon-telemetry queues into the system spool" 1 \
    "$(sql "$SYS" "SELECT count(*) FROM events WHERE session_id = 'sys'")"
env -u ANON_TELEMETRY_SPOOL /usr/bin/anon-telemetry-ship -v --endpoint "$URL" >"$T/ship2.out" 2>&1
check_eq "root's shipper (default spool: the system spool) delivers it ($(cat "$T/ship2.out"))" 0 $?
check_eq "the collector has both events of the system spool ($(cat "$T/ship2.out" | tr "\n" " "))" 2 \
    "$(py 'sum(1 for e in log for ev in e["env"]["events"] if e["env"]["sessionId"] in ("sys", "before"))')"
check_eq "every file of the system spool is still anon-telemetry's" "" \
    "$(find /var/spool/anon-telemetry ! -user anon-telemetry)"

# ---- the relay, as the package's units run it, on the system spool
runuser -u anon-telemetry -- /usr/bin/anon-telemetry-relay --spool "$SYS" --listen 127.0.0.1:0 \
    2>"$T/relay.err" &
rpid=$!
on_exit "kill $rpid 2>/dev/null"
for i in $(seq 1 100); do grep -q 'listening on' "$T/relay.err" && break; sleep 0.05; done
RBASE=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$T/relay.err" | head -n 1)
check_match "the installed relay listens" '^http://127\.0\.0\.1:[0-9]+$' "$RBASE"
env_body=$(/usr/bin/anon-telemetry-spool --spool "$T/env/spool.db" --session-id relay < <(event) >/dev/null &&
           /usr/bin/anon-telemetry-ship --spool "$T/env/spool.db" --dry-run)
code=$(curl -s -o "$T/relay.answer" -w '%{http_code}' -H 'Content-Type: application/json' \
       --data-binary "$env_body" "$RBASE/v1.1/events/json")
check_eq "the relay stores a posted envelope ($(cat "$T/relay.answer"))" 200 "$code"
check_eq "in the system spool" 1 "$(sql "$SYS" "SELECT count(*) FROM events WHERE session_id = 'relay'")"
curl -s -o "$T/relay.metrics" "$RBASE/metrics"
check_match "the installed relay's GET /metrics counts it" '^anon_telemetry_relay_events_stored_total 1$' \
    "$(grep '^anon_telemetry_relay_events_stored_total' "$T/relay.metrics")"
kill -TERM "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null

# ---- the units themselves, under a running systemd (CI's machine): the relay started by
# its socket and the shipper's service, each as anon-telemetry inside its sandbox
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    check_eq "the relay's socket is listening (enabled and started by the package)" active \
        "$(systemctl is-active anon-telemetry-relay.socket)"
    event | /usr/bin/anon-telemetry-spool --spool "$T/sd/spool.db" --session-id sandboxed >/dev/null
    sd_body=$(/usr/bin/anon-telemetry-ship --spool "$T/sd/spool.db" --dry-run)
    code=$(curl -s -o "$T/sd.answer" -w '%{http_code}' -H 'Content-Type: application/json' \
           --data-binary "$sd_body" http://127.0.0.1:9780/v1.1/events/json)
    check_eq "the socket-activated relay stores a post ($(cat "$T/sd.answer"))" 200 "$code"
    check_eq "into the system spool" 1 \
        "$(sql "$SYS" "SELECT count(*) FROM events WHERE session_id = 'sandboxed'")"
    check_eq "the relay runs as anon-telemetry" anon-telemetry \
        "$(ps -o user= -p "$(systemctl show -p MainPID --value anon-telemetry-relay.service)" 2>/dev/null)"
    # the shipper's service, once, to the test's collector (a runtime drop-in, removed at exit)
    DROP=/run/systemd/system/anon-telemetry-ship.service.d
    mkdir -p "$DROP"
    on_exit "rm -rf '$DROP'; systemctl daemon-reload"
    printf '[Service]\nExecStart=\nExecStart=/usr/bin/anon-telemetry-ship --spool %s --endpoint %s\n' \
        "$SYS" "$URL" > "$DROP/zz-test.conf"
    systemctl daemon-reload
    before=$(py 'sum(1 for e in log for ev in e["env"]["events"] if e["env"]["sessionId"] == "sandboxed")')
    systemctl start anon-telemetry-ship.service >"$T/sd-ship.log" 2>&1
    check_eq "the shipper's service runs in its sandbox and succeeds ($(journalctl -u anon-telemetry-ship.service -n 5 --no-pager 2>/dev/null | tr '\n' ' '))" \
        "0 success" "$? $(systemctl show -p Result --value anon-telemetry-ship.service)"
    check_eq "and delivered the relayed event" $((before + 1)) \
        "$(py 'sum(1 for e in log for ev in e["env"]["events"] if e["env"]["sessionId"] == "sandboxed")')"
    for u in anon-telemetry-ship.service anon-telemetry-relay.service; do
        level=$(systemd-analyze security --no-pager "$u" 2>/dev/null |
                sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        check "systemd-analyze security: $u is well sandboxed (exposure ${level:-?} < 4)" \
            awk -v l="${level:-99}" 'BEGIN { exit !(l < 4) }'
    done
else
    replaced "systemd is not running here: the units are checked with systemd-analyze verify" \
             "only, not started (the relay by its socket, the shipper in its sandbox)"
fi

# ---- C: the README's example, with pkg-config and the installed library
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$T/example" "$ROOT/tests/fixtures/example_emit.c" \
    $(pkg-config --cflags --libs anon-telemetry) 2>"$T/cc.log"
check_eq "pkg-config --cflags --libs anon-telemetry builds the README's example ($(cat "$T/cc.log"))" 0 $?
check_match "it runs with the installed library" "libanontelemetry\.so\.1 => /(usr/)?lib/$MA/libanontelemetry\.so\.1 " \
    "$(ldd "$T/example")"
check_match "and queues its event" '^[0-9a-f-]{36}$' "$(ANON_TELEMETRY_SPOOL=$T/c/spool.db "$T/example")"

# ---- Python: the installed package, from a directory that is not the checkout
pyout=$(cd / && env -u PYTHONPATH -u ANON_TELEMETRY_LIB /usr/bin/python3 -c '
import anon_telemetry, sys
print(anon_telemetry.__file__)
print(len(anon_telemetry.spool_events([{"task": "batch", "taskStatus": "completed",
    "transformationType": "redact", "entityDetectorModel": "a", "entityValidatorModel": "b",
    "entityAugmenterModel": "c"}], spool=sys.argv[1])))
print(anon_telemetry.count_tokens("hello world"))' "$T/py/spool.db" 2>&1)
check_eq "Debian's python3 imports the installed anon_telemetry and spools with it" \
    "/usr/lib/python3/dist-packages/anon_telemetry/__init__.py
1
2" "$pyout"

# ---------------------------------------------------------------- remove, purge ----
dpkg -r $PKGS >"$T/dpkg-r.log" 2>&1
check_eq "dpkg -r removes the packages ($(tail -n 3 "$T/dpkg-r.log" | tr '\n' ' '))" 0 $?
check_nomatch "without a warning" 'warning' "$(cat "$T/dpkg-r.log")"
left=$(while read -r f; do
           case $f in /etc/cron.d/anon-telemetry|/.|/etc|/etc/cron.d) continue ;; esac
           [ ! -d "$f" ] && { [ -e "$f" ] || [ -L "$f" ]; } && echo "$f"
       done < "$T/files")
check_eq "dpkg -r leaves none of their files but the conffile" "" "$left"
check_eq "the other three are gone entirely" "" "$(for p in libanontelemetry1 libanontelemetry-dev \
    python3-anon-telemetry; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -v not-installed; done)"
check "dpkg -r keeps the system spool (the queued events)" test -f "$SYS"
check "and the cron file (a conffile, until the purge)" test -f /etc/cron.d/anon-telemetry
check_eq "no byte-compiled Python left" "" "$(ls -d /usr/lib/python3/dist-packages/anon_telemetry 2>/dev/null)"

# after dpkg -r only anon-telemetry has something left to purge (its conffile)
dpkg --purge anon-telemetry >"$T/dpkg-p.log" 2>&1
check_eq "dpkg --purge purges them ($(tail -n 3 "$T/dpkg-p.log" | tr '\n' ' '))" 0 $?
check_nomatch "without a warning" 'warning' "$(cat "$T/dpkg-p.log")"
for p in $PKGS; do
    check_eq "$p is gone" "" "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -v not-installed)"
done
check "the purge deletes the system spool" test ! -e "$SYSDIR"
check "and the cron file" test ! -e /etc/cron.d/anon-telemetry
check_eq "no unit stays enabled" "" \
    "$(ls /etc/systemd/system/*.wants/ 2>/dev/null | grep anon-telemetry)"
check_eq "deb-systemd-helper forgot the units" "" \
    "$(find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
        -name '*anon-telemetry*' 2>/dev/null)"
check_eq "no file of anon-telemetry's is left in /etc, /var, /run or /usr" "" \
    "$(find /etc /var /run /usr -xdev -user anon-telemetry 2>/dev/null)"
# The system user stays, as Debian leaves system users (debian/anon-telemetry.postrm says
# why): locked out, no home, no file of its own anywhere checked above.
check_match "the system user stays, without a login shell" ':/usr/sbin/nologin$' \
    "$(getent passwd anon-telemetry)"
finish
