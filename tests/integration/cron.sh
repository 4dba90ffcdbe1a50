# cron.sh: scripts/install-cron.sh (and install-systemd.sh) against a fake crontab and a
# fake systemctl, never the machine's own: install, idempotence, replace, --uninstall.
. "$(dirname "$0")/../lib.sh"

CRON=$ROOT/scripts/install-cron.sh
SYSD=$ROOT/scripts/install-systemd.sh
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err"); }

# A crontab(1) stand-in: -l prints the table (fails when there is none), - replaces it.
cat > "$T/fake-crontab" <<'EOF'
#!/bin/sh
case ${1:-} in
-l) [ -f "$FAKE_CRONTAB_STORE" ] || { echo "no crontab for $(id -un)" >&2; exit 1; }
    cat "$FAKE_CRONTAB_STORE" ;;
-) cat > "$FAKE_CRONTAB_STORE" ;;
*) echo "fake-crontab: unexpected $*" >&2; exit 2 ;;
esac
EOF
chmod +x "$T/fake-crontab"
export CRONTAB=$T/fake-crontab FAKE_CRONTAB_STORE=$T/crontab
# a binary that exists, so the test does not depend on the build
printf '#!/bin/sh\nexit 0\n' > "$T/ship"; chmod +x "$T/ship"
common="--bin $T/ship --spool $T/spool.db --log $T/log/ship.log"

# ---- install into an empty crontab (crontab -l fails: no crontab yet)
# shellcheck disable=SC2086
run "$CRON" $common
check_eq "install exits 0" 0 "$rc"
check_eq "one entry, every 10 minutes" 1 "$(grep -c '^\*/10 \* \* \* \* ' "$T/crontab")"
check_match "the entry runs the shipper on the spool" \
    "^\*/10 \* \* \* \* '$T/ship' --spool '$T/spool.db' >>'$T/log/ship.log' 2>&1$" "$(cat "$T/crontab")"
check_eq "between markers" 2 "$(grep -c '^# \(BEGIN\|END\) anon-telemetry-ship' "$T/crontab")"
check "the log directory was created" test -d "$T/log"
cp "$T/crontab" "$T/first"

# ---- idempotent
# shellcheck disable=SC2086
run "$CRON" $common
check_eq "second install exits 0" 0 "$rc"
check_match "second install says unchanged" "already installed" "$out"
check "second install leaves the crontab identical" cmp -s "$T/first" "$T/crontab"

# ---- other entries are kept; a reinstall replaces ours instead of adding one
printf 'MAILTO=ops@example.com\n5 4 * * * /usr/bin/backup --all\n' > "$T/crontab.user"
cat "$T/first" >> "$T/crontab.user"
printf '# a comment after it\n' >> "$T/crontab.user"
cp "$T/crontab.user" "$T/crontab"
# shellcheck disable=SC2086
run "$CRON" $common --every 5 --endpoint 'https://collector.example/v1?key=a%b'
check_eq "reinstall exits 0" 0 "$rc"
check_eq "still one entry" 1 "$(grep -c "'$T/ship'" "$T/crontab")"
check_eq "one BEGIN marker" 1 "$(grep -c '^# BEGIN anon-telemetry-ship' "$T/crontab")"
check_eq "every 5 minutes" 1 "$(grep -c '^\*/5 \* \* \* \* ' "$T/crontab")"
check_eq "the old schedule is gone" 0 "$(grep -c '^\*/10 ' "$T/crontab")"
check_match "the endpoint, % escaped for cron" "--endpoint 'https://collector.example/v1\?key=a\\\\%b'" \
    "$(cat "$T/crontab")"
check "MAILTO kept" grep -qx 'MAILTO=ops@example.com' "$T/crontab"
check "the other job kept" grep -qx '5 4 \* \* \* /usr/bin/backup --all' "$T/crontab"
check "the comment kept" grep -qx '# a comment after it' "$T/crontab"

# ---- hours, extra shipper arguments
# shellcheck disable=SC2086
run "$CRON" $common --every 120 -- --batch-size 20
check_match "every 2 hours" "^0 \*/2 \* \* \* '$T/ship' --spool '$T/spool.db' '--batch-size' '20' >>" \
    "$(cat "$T/crontab")"

# ---- --uninstall removes exactly our block, and is idempotent
run "$CRON" --uninstall
check_eq "uninstall exits 0" 0 "$rc"
check_eq "uninstall leaves the user's lines" \
    "$(printf 'MAILTO=ops@example.com\n5 4 * * * /usr/bin/backup --all\n# a comment after it')" \
    "$(cat "$T/crontab")"
cp "$T/crontab" "$T/after"
run "$CRON" --uninstall
check_eq "second uninstall exits 0" 0 "$rc"
check_match "second uninstall says there was nothing" "nothing to remove" "$out"
check "second uninstall changes nothing" cmp -s "$T/after" "$T/crontab"

# ---- --crontab-file edits a file directly
# shellcheck disable=SC2086
run "$CRON" $common --crontab-file "$T/tab"
check_eq "--crontab-file install" 1 "$(grep -c '^\*/10 ' "$T/tab")"
cp "$T/tab" "$T/tab1"
# shellcheck disable=SC2086
run "$CRON" $common --crontab-file "$T/tab"
check "--crontab-file idempotent" cmp -s "$T/tab1" "$T/tab"
run "$CRON" --uninstall --crontab-file "$T/tab"
check_eq "--crontab-file uninstall empties it" "" "$(cat "$T/tab")"
check "--crontab-file never touched the (fake) user crontab" cmp -s "$T/after" "$T/crontab"

# ---- --dry-run prints and changes nothing
# shellcheck disable=SC2086
run "$CRON" $common --dry-run
check_match "--dry-run prints the entry" "^\*/10 \* \* \* \* '$T/ship'" "$(printf '%s\n' "$out" | grep ship)"
check "--dry-run changes nothing" cmp -s "$T/after" "$T/crontab"

# ---- the default spool path is resolved now, as the commands resolve it: the installer
# asks the real shipper (anon-telemetry-ship --print-spool-path) instead of a rule of its own
run env ANON_TELEMETRY_SPOOL="$T/env spool.db" "$CRON" --bin "$SHIP_BIN" --log - --dry-run
check_match "default spool from \$ANON_TELEMETRY_SPOOL" "--spool '$T/env spool.db'$" \
    "$(printf '%s\n' "$out" | grep ship)"

# As a user (for root the rule is root's path whatever XDG_STATE_HOME says): as root, the
# cases run as nobody. The C rule's own answer is where anon-telemetry-spool, run in the
# same environment, creates the spool; the installer must choose that same file.
chmod 711 "$T"
X=$T/xdg
mkdir -p "$X/home"
[ "$(id -u)" -ne 0 ] || chown -R 65534:65534 "$X"
as_user() {
    if [ "$(id -u)" -eq 0 ]; then (cd "$X" && setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@")
    else (cd "$X" && "$@"); fi
}
event='{"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"d","entityValidatorModel":"v","entityAugmenterModel":"a"}'
# c_rule_spool XDG_STATE_HOME: the spool anon-telemetry-spool creates as that user
c_rule_spool() {
    rm -rf "$X/home/.local" "$X/state" "$X/rel"
    printf '%s\n' "$event" | as_user env HOME="$X/home" XDG_STATE_HOME="$1" "$SPOOL_BIN" >/dev/null 2>"$T/spool.err"
    find "$X" -name spool.db
}
# installer_spool XDG_STATE_HOME: install-cron's entry as that user ($entry), its spool ($chosen)
installer_spool() {
    run as_user env HOME="$X/home" XDG_STATE_HOME="$1" "$CRON" --bin "$SHIP_BIN" \
        --crontab-file "$X/tab" --dry-run
    entry=$(printf '%s\n' "$out" | grep -v '^#')
    chosen=$(printf '%s\n' "$entry" | sed -n "s/.* --spool '\([^']*\)'.*/\1/p")
}

c_rel=$(c_rule_spool rel/state)
check_eq "relative XDG_STATE_HOME: the C rule ignores it" "$X/home/.local/state/anon-telemetry/spool.db" "$c_rel"
installer_spool rel/state
check_eq "relative XDG_STATE_HOME: the installer exits 0" 0 "$rc"
check_eq "relative XDG_STATE_HOME: the installer chooses the C rule's spool" "$c_rel" "$chosen"
check_match "relative XDG_STATE_HOME: the log goes next to that spool, not under rel/" \
    ">>'$X/home/.local/state/anon-telemetry/ship.log' 2>&1$" "$entry"
check "relative XDG_STATE_HOME: nothing created under it" test ! -e "$X/rel"
c_abs=$(c_rule_spool "$X/state")
check_eq "absolute XDG_STATE_HOME: the C rule uses it" "$X/state/anon-telemetry/spool.db" "$c_abs"
installer_spool "$X/state"
check_eq "absolute XDG_STATE_HOME: so does the installer" "$c_abs" "$chosen"
check_match "absolute XDG_STATE_HOME: the log is there too" ">>'$X/state/anon-telemetry/ship.log' 2>&1$" \
    "$entry"

# a shipper that cannot answer (one from before --print-spool-path) stops the installer
printf '#!/bin/sh\necho "unknown option: $1" >&2\nexit 64\n' > "$T/old-ship"; chmod +x "$T/old-ship"
run "$CRON" --bin "$T/old-ship" --log - --dry-run
check_eq "a shipper that cannot tell the default spool: exit 78" 78 "$rc"
check_match "and the installer says to pass --spool" "print-spool-path.*--spool PATH" "$err"

# ---- errors
# shellcheck disable=SC2086
run "$CRON" $common --every 90
check_eq "--every 90 is bad usage" 64 "$rc"
run "$CRON" --bogus
check_eq "unknown option is bad usage" 64 "$rc"
run "$CRON" --bin "$T/no-such-ship"
check_eq "missing binary exits 78" 78 "$rc"
run env CRONTAB="$T/no-such-crontab" "$CRON" $common
check_eq "no crontab command exits 69" 69 "$rc"
printf '#!/bin/sh\necho "crontab: cannot open the spool directory" >&2\nexit 1\n' > "$T/broken-crontab"
chmod +x "$T/broken-crontab"
# shellcheck disable=SC2086
run env CRONTAB="$T/broken-crontab" "$CRON" $common
check_eq "an unreadable crontab stops the installer" 1 "$rc"
check_match "and says why" "left alone" "$err"
check "errors changed nothing" cmp -s "$T/after" "$T/crontab"

# ---- systemd units (fake systemctl, a scratch unit directory)
cat > "$T/fake-systemctl" <<'EOF'
#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
EOF
chmod +x "$T/fake-systemctl"
export SYSTEMCTL=$T/fake-systemctl FAKE_SYSTEMCTL_LOG=$T/systemctl.log
U=$T/units
run "$SYSD" --unit-dir "$U" --bin "$T/ship" --spool "$T/my spool.db" --every 15
check_eq "install-systemd exits 0" 0 "$rc"
check_eq "ExecStart with our paths" "ExecStart=\"$T/ship\" --spool \"$T/my spool.db\"" \
    "$(grep '^ExecStart=' "$U/anon-telemetry-ship.service")"
check_eq "OnCalendar every 15 minutes" "OnCalendar=*:0/15" "$(grep '^OnCalendar=' "$U/anon-telemetry-ship.timer")"
check_eq "75 (still pending) is not a unit failure" "SuccessExitStatus=75" \
    "$(grep '^SuccessExitStatus=' "$U/anon-telemetry-ship.service")"
check_eq "systemctl: reload, enable the timer" "daemon-reload
enable --now anon-telemetry-ship.timer" "$(cat "$T/systemctl.log")"
cp "$U/anon-telemetry-ship.service" "$T/svc1"
run "$SYSD" --unit-dir "$U" --bin "$T/ship" --spool "$T/my spool.db" --every 15 --no-start
check "install-systemd is idempotent" cmp -s "$T/svc1" "$U/anon-telemetry-ship.service"
run "$SYSD" --user --unit-dir "$T/uunits" --bin "$T/ship" --spool "$T/s.db" --no-start
check_eq "--user units drop the namespacing options" 0 \
    "$(grep -c '^\(PrivateTmp\|ProtectSystem\)=' "$T/uunits/anon-telemetry-ship.service")"
if command -v systemd-analyze >/dev/null 2>&1; then
    check "systemd-analyze verify accepts the units" \
        systemd-analyze verify "$U/anon-telemetry-ship.service" "$U/anon-telemetry-ship.timer"
fi
: > "$T/systemctl.log"
run "$SYSD" --uninstall --unit-dir "$U"
check_eq "uninstall-systemd exits 0" 0 "$rc"
check "the units are gone" test ! -e "$U/anon-telemetry-ship.service" -a ! -e "$U/anon-telemetry-ship.timer"
check_match "uninstall disables the timer" "^disable --now anon-telemetry-ship.timer" "$(cat "$T/systemctl.log")"
run "$SYSD" --every 7x --unit-dir "$U" --bin "$T/ship"
check_eq "install-systemd bad --every" 64 "$rc"
# system units run as root: their default spool is root's, asked of the shipper as root;
# a user writing them (--unit-dir) cannot ask for root's, so must say --spool
if [ "$(id -u)" -eq 0 ]; then
    run "$SYSD" --unit-dir "$T/sunits" --bin "$SHIP_BIN" --no-start
    check_eq "system units by root: root's default spool" \
        "ExecStart=\"$SHIP_BIN\" --spool \"/var/spool/anon-telemetry/spool.db\"" \
        "$(grep '^ExecStart=' "$T/sunits/anon-telemetry-ship.service")"
fi
run as_user env HOME="$X/home" "$SYSD" --unit-dir "$X/sunits" --bin "$SHIP_BIN" --no-start
check_eq "system units by a user without --spool: bad usage" 64 "$rc"
check_match "saying to run as root or pass --spool" "root.*--spool PATH" "$err"
check "and no units written" test ! -e "$X/sunits"
run as_user env HOME="$X/home" XDG_STATE_HOME=rel/state "$SYSD" --user --unit-dir "$X/uunits" \
    --bin "$SHIP_BIN" --no-start
check_eq "--user units, relative XDG_STATE_HOME: the C rule's spool" \
    "ExecStart=\"$SHIP_BIN\" --spool \"$X/home/.local/state/anon-telemetry/spool.db\"" \
    "$(grep '^ExecStart=' "$X/uunits/anon-telemetry-ship.service" 2>/dev/null)"

finish
