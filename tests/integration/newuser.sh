#!/bin/bash
# newuser.sh: what a new user met on a fresh Debian 12 machine. The installers'
# --dry-run (install-cron.sh without a crontab command; install-systemd.sh writing and
# running nothing, printing what a real run writes); their --help is the comment at the
# top of the script and not a line more; the demo's colour only on a terminal; the token
# benchmark without Node.js makes its other comparison and says which one it could not
# make; tests/run.sh repeats what a suite could not check here (lib.sh's replaced).
. "$(dirname "$0")/../lib.sh"

CRON=$ROOT/scripts/install-cron.sh
SYSD=$ROOT/scripts/install-systemd.sh
# run CMD...: $out, $err, $rc
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err"); }
# a PATH with everything of this machine's but the commands named
path_without() {
    local d=$T/path-$1 f b
    mkdir -p "$d"
    for f in /usr/local/bin/* /usr/bin/* /bin/* /usr/sbin/* /sbin/*; do
        b=${f##*/}
        case " $* " in *" $b "*) continue ;; esac
        [ -e "$d/$b" ] || ln -s "$f" "$d/$b"
    done
    printf '%s\n' "$d"
}

# ---- install-cron.sh --dry-run where cron is not installed
NOCRON=$(path_without crontab)
run env PATH="$NOCRON" HOME="$T/home" "$CRON" --dry-run --bin "$SHIP_BIN" --spool "$T/s/spool.db" --log -
check_eq "install-cron --dry-run without a crontab command: exit 0" 0 "$rc"
check_eq "it prints the entry it would install" \
    "*/10 * * * * '$SHIP_BIN' --spool '$T/s/spool.db'" "$(sed -n 2p "$T/out")"
check_match "between its markers" '^# BEGIN anon-telemetry-ship .*\|# END anon-telemetry-ship\|$' \
    "$(sed -n '1p;3p' "$T/out" | tr '\n' '|')"
check_match "and says why it shows it as into an empty crontab" "no 'crontab' command" "$err"
run env CRONTAB="$T/no-such-crontab" HOME="$T/home" "$CRON" --dry-run --bin "$SHIP_BIN" --spool "$T/s/spool.db"
check_eq "the same with CRONTAB naming a missing command" 0 "$rc"
check "a dry run created nothing (not even the log's directory)" test ! -e "$T/home" -a ! -e "$T/s"
run env PATH="$NOCRON" "$CRON" --bin "$SHIP_BIN" --spool "$T/s/spool.db"
check_eq "a real install without a crontab command is still exit 69" 69 "$rc"

# ---- --help is the comment at the top, whole, and nothing after it
for s in "$CRON" "$SYSD" "$ROOT/scripts/build-deb.sh"; do
    name=${s##*/}
    want=$(awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$s")
    run "$s" --help
    check_eq "$name --help: exit 0" 0 "$rc"
    check_eq "$name --help prints the comment at the top of the script" "$want" "$out"
    check_nomatch "$name --help prints no line of script" '^(set -eu|ROOT=|usage\(\)|\. )' "$out"
    run "$s" --no-such-option
    check_eq "$name: an unknown option is bad usage" 64 "$rc"
    check_match "$name: says what is wrong" "^[a-z-]+: unknown (argument|option) '--no-such-option'$" \
        "$(sed -n 1p "$T/err")"
    check_match "$name: then its usage" "^(usage: +|  )scripts/$name " "$(sed -n 2p "$T/err")"
done

# ---- install-systemd.sh --dry-run: the units a real run writes, nothing written or run
printf '#!/bin/sh\necho "$*" >> "%s/systemctl.log"\n' "$T" > "$T/systemctl"
chmod +x "$T/systemctl"
U=$T/units
run env SYSTEMCTL="$T/systemctl" "$SYSD" --dry-run --unit-dir "$U" --bin "$SHIP_BIN" \
    --spool "$T/s/spool.db" --every 15 --relay
check_eq "install-systemd --dry-run: exit 0" 0 "$rc"
check "it wrote nothing" test ! -e "$U"
check "it ran no systemctl" test ! -e "$T/systemctl.log"
check_eq "it names the four units it would write" \
    "# $U/anon-telemetry-ship.service
# $U/anon-telemetry-ship.timer
# $U/anon-telemetry-relay.service
# $U/anon-telemetry-relay.socket" "$(grep "^# $U/" "$T/out")"
check_eq "and the systemctl commands it would run" \
    "# would run: $T/systemctl daemon-reload
# would run: $T/systemctl enable --now anon-telemetry-ship.timer
# would run: $T/systemctl enable --now anon-telemetry-relay.socket" "$(grep '^# would run: ' "$T/out")"
dry=$T/out.dry
cp "$T/out" "$dry"
run env SYSTEMCTL="$T/systemctl" "$SYSD" --no-start --unit-dir "$U" --bin "$SHIP_BIN" \
    --spool "$T/s/spool.db" --every 15 --relay
check_eq "the real run (--no-start): exit 0" 0 "$rc"
for u in anon-telemetry-ship.service anon-telemetry-ship.timer anon-telemetry-relay.service \
         anon-telemetry-relay.socket; do
    check_eq "--dry-run printed $u as the real run wrote it" "$(cat "$U/$u")" \
        "$(awk -v f="# $U/$u" '$0 == f { p = 1; next } /^# (\/|would run: )/ { p = 0 } p' "$dry")"
done
run env SYSTEMCTL="$T/systemctl" "$SYSD" --uninstall --dry-run --unit-dir "$U"
check_eq "--uninstall --dry-run: exit 0" 0 "$rc"
check_match "it says what it would remove" "# would remove: $U/anon-telemetry-ship.service" "$out"
check_eq "and removes nothing" 4 "$(ls "$U" | wc -l)"
check "nor runs systemctl" test ! -e "$T/systemctl.log"

# ---- the demo's colour: on a terminal only
run env ANON_BUILD="$BUILD" ANON_DEMO_DIR="$T/demo1" "$ROOT/scripts/demo.sh"
check_eq "the demo, piped: exit 0" 0 "$rc"
check_match "the demo, piped: its headings are there" '^== 1\. ' "$out"
check_eq "the demo, piped: no escape sequence at all" 0 "$(grep -c $'\033' "$T/out")"
if command -v script >/dev/null 2>&1; then
    script -qfec "env TERM=xterm ANON_BUILD='$BUILD' ANON_DEMO_DIR='$T/demo2' '$ROOT/scripts/demo.sh'" \
        /dev/null >"$T/tty.out" 2>&1
    check_match "the demo on a terminal: bold headings" $'\033\\[1m== 1\\. ' "$(cat "$T/tty.out")"
    script -qfec "env TERM=xterm NO_COLOR=1 ANON_BUILD='$BUILD' ANON_DEMO_DIR='$T/demo3' '$ROOT/scripts/demo.sh'" \
        /dev/null >"$T/tty2.out" 2>&1
    check_eq "the demo on a terminal with NO_COLOR: none" 0 "$(grep -c $'\033' "$T/tty2.out")"
else
    fail "no script(1) to give the demo a terminal (util-linux)"
fi

# ---- make bench without Node.js: the other comparison runs, the missing one is named
NONODE=$(path_without node nodejs npm npx)
: > "$T/notrun"
run env PATH="$NONODE" ANON_BUILD="$BUILD" BENCH_NOT_RUN="$T/notrun" BENCH_REPS=1 BENCH_RECORDS=400 \
    bash "$ROOT/tests/bench/tokens.sh"
check_eq "token bench without Node.js: exit 0" 0 "$rc"
check_match "it says which comparison it could not make, and why" \
    "^NOT RUN: tokens bench: anon-telemetry-tokens against Node's tiktoken .*Node\\.js is not installed" "$out"
check_match "it made the other one" "avg_tokens_per_record: [0-9]+ \\(1 thread: [0-9]+\\)" "$out"
check_match "and told make bench, which repeats it at the end" "Node's tiktoken" "$(cat "$T/notrun")"

# ---- tests/run.sh repeats a suite's replaced checks, also when the suite passed
mkdir -p "$T/tree/tests/integration"
cp "$ROOT/tests/run.sh" "$T/tree/tests/run.sh"
cat > "$T/tree/tests/integration/fake.sh" <<'EOF'
echo "REPLACED fake.sh: cannot mount a tmpfs here: a stand-in was used"
echo "1 passed, 0 failed"
EOF
run env ANON_BUILD="$T/tree/nobuild" sh "$T/tree/tests/run.sh"
check_eq "run.sh: the suite passed" 0 "$rc"
check_match "run.sh repeats its replaced line after its result" \
    "^== fake.sh: 1 passed, 0 failed .*\|   replaced: fake.sh: cannot mount a tmpfs here: a stand-in was used\|" \
    "$(tr '\n' '|' < "$T/out")"
check_match "and points at it before the total" "suite note\\(s\\) above say which checks were replaced" "$out"
check_eq "replaced() prints the line run.sh looks for" "REPLACED newuser.sh: a b" "$(replaced a b)"
finish
