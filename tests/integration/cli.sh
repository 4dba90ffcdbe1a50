# cli.sh: the command line every command shares (spool/cli.c): global options before or
# after the command words on a real spool, one form of usage error and exit 64 in all
# three commands, options given to a command that does not take them, --version (and the
# version in the shipper's User-Agent), --print-spool-path and its rule.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/ship_helpers.sh"

# run CMD...: sets $out (stdout), $err (stderr) and $rc
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err"); }
jq_() { printf "%s" "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>&1 | tail -n 1; }

V=$(sed -n 's/^#define ANON_TELEMETRY_VERSION "\(.*\)"$/\1/p' "$ROOT/spool/anon_telemetry.h")
check_match "the header holds one version" '^[0-9]+\.[0-9]+\.[0-9]+$' "$V"

# ---- a real spool: two events the collector rejects (400), so they land in the dlq
start_collector c --default '{"status": 400}'
event > "$T/two.jsonl"; event error >> "$T/two.jsonl"
run "$SPOOL_BIN" --session-id cli-a --spool="$S" < "$T/two.jsonl"
check_eq "spool: options in any order, --name=VALUE" 0 "$rc"
check_eq "spool: two uuids printed" 2 "$(printf '%s\n' "$out" | grep -c .)"
run "$SHIP_BIN" --endpoint "$URL" --spool "$S" --connect-timeout 5 --timeout 10
check_eq "the run: two rejected events dead-lettered" 2 "$(q "SELECT count(*) FROM dlq")"

# ---- the User-Agent carries the version
check_eq "one request" 1 "$(requests)"
check_eq "User-Agent: anon-telemetry-ship/<version>" "anon-telemetry-ship/$V" \
    "$(py "{k.lower(): v for k, v in log[0]['headers'].items()}['user-agent']")"

# ---- global options before, between and after the command words
run "$SHIP_BIN" --spool "$S" status
check_eq "--spool X status: exit 0" 0 "$rc"
check_match "--spool X status: dlq 2" "dlq +2" "$out"
run "$SHIP_BIN" -v --spool="$S" dlq list
check_eq "-v --spool=X dlq list: exit 0" 0 "$rc"
check_match "-v --spool=X dlq list: both dead letters" "^-- 2 dead letters" "$out"
run "$SHIP_BIN" dlq --spool "$S" list --json
check_eq "dlq --spool X list --json: between the words" 2 "$(jq_ "d['count']")"
run "$SHIP_BIN" --json status --spool="$S"
check_eq "--json before the command" 2 "$(jq_ "d['events']['dlq']")"
run "$SHIP_BIN" dlq requeue --all --spool "$S"
check_eq "dlq requeue --all --spool X: exit 0" 0 "$rc"
check_match "dlq requeue --all --spool X: both requeued" "requeued 2 events" "$out"
check_eq "the dlq is empty" 0 "$(q "SELECT count(*) FROM dlq")"
check_eq "both pending again" 2 "$(q "SELECT count(*) FROM events WHERE status = 'pending'")"
run "$SHIP_BIN" -- status --spool "$S"
check_eq "after --, --spool is an argument" 64 "$rc"
check_match "after --, --spool is an argument: said" "unexpected argument '--spool'" "$err"

# tokens: options after the files too, -- ends them, - is standard input
printf 'hello world\n' > "$T/a.txt"
printf '"hello"\n"two words"\n' > "$T/r.jsonl"
check_eq "tokens: --records after the file" "$("$TOKENS_BIN" --records "$T/r.jsonl")" \
    "$("$TOKENS_BIN" "$T/r.jsonl" --records)"
check_eq "tokens: --threads=N and -" "3
3" "$("$TOKENS_BIN" "$T/a.txt" --threads=2 - < "$T/a.txt")"
cp "$T/a.txt" "$T/--records"
check_eq "tokens: after --, --records is a file" 3 "$(cd "$T" && "$TOKENS_BIN" -- --records)"

# ---- one form of usage error, exit 64, in every command
for prog in ship spool tokens; do
    bin=$BUILD/anon-telemetry-$prog
    name=anon-telemetry-$prog
    run "$bin" --frob < /dev/null
    check_eq "$prog --frob: exit 64" 64 "$rc"
    check_eq "$prog --frob: the first line" "$name: unknown option '--frob'" \
        "$(printf '%s\n' "$err" | head -n 1)"
    check_eq "$prog --frob: the last line" "try '$name --help'" "$(printf '%s\n' "$err" | tail -n 1)"
    check_match "$prog --frob: a usage line between" "^usage: $name" "$(printf '%s\n' "$err" | sed -n 2p)"
    check_eq "$prog --frob: nothing on stdout" "" "$out"
    run "$bin" --frob=s3cret < /dev/null
    check_eq "$prog --frob=VALUE: the value is not shown" "$name: unknown option '--frob'" \
        "$(printf '%s\n' "$err" | head -n 1)"
    run "$bin" "$(printf -- '--a\033[31mb')" < /dev/null
    check_eq "$prog: a control character in an option is escaped" \
        "$name: unknown option '--a\\x1b[31mb'" "$(printf '%s\n' "$err" | head -n 1)"
    check "$prog: no raw escape byte on stderr" sh -c "! grep -q \"\$(printf '\\033')\" '$T/err'"
    run "$bin" -x < /dev/null
    check_eq "$prog -x: the same form" "$name: unknown option '-x'" "$(printf '%s\n' "$err" | head -n 1)"

    run "$bin" --version
    check_eq "$prog --version: exit 0" 0 "$rc"
    check_eq "$prog --version: the header's version" "$name $V" "$out"
    run "$bin" --help
    check_eq "$prog --help: exit 0" 0 "$rc"
    check_match "$prog --help: lists --version" "--version" "$out"
done
run "$SHIP_BIN" status --version
check_eq "--version after a command" "anon-telemetry-ship $V" "$out"
run "$SHIP_BIN" dlq --help
check_eq "--help with an incomplete command: exit 0" 0 "$rc"
check_match "--help lists --print-spool-path" "--print-spool-path" "$out"
run "$SHIP_BIN" --dry-run status extra --frob
check_eq "an unknown option is named before anything else" "anon-telemetry-ship: unknown option '--frob'" \
    "$(printf '%s\n' "$err" | head -n 1)"
run "$SHIP_BIN" dlq purge "$(printf '1\n2')" --spool "$S"
check_eq "a bad ID: exit 64" 64 "$rc"
check_match "a bad ID: its newline escaped" "'1\\\\n2' is not an event id" "$err"

# ---- an option the command does not take: named with the command, exit 64, nothing done
run "$SHIP_BIN" status --all --spool "$S"
check_eq "status --all: exit 64" 64 "$rc"
check_eq "status --all: names both" \
    "anon-telemetry-ship: option '--all' is not for 'status' (it is for: dlq requeue, dlq purge)" \
    "$(printf '%s\n' "$err" | head -n 1)"
check_match "status --all: the usage of status" "^usage: anon-telemetry-ship status " "$err"
run "$SHIP_BIN" --spool "$S" --json
check_eq "the run with --json: exit 64" 64 "$rc"
check_eq "the run with --json: names both" \
    "anon-telemetry-ship: option '--json' is not for anon-telemetry-ship with no command (it is for: status, list, dlq list)" \
    "$(printf '%s\n' "$err" | head -n 1)"
check_eq "the run with --json sent nothing" 1 "$(requests)"
run "$SHIP_BIN" list --now --spool "$S"
check_match "list --now: says the option is for the run" "option '--now' is not for 'list' \(it is for: anon-telemetry-ship with no command\)" "$err"
run "$SHIP_BIN" --syslog dlq purge --all --spool "$S"
check_eq "dlq purge --syslog: exit 64" 64 "$rc"
check_eq "dlq purge --syslog: nothing purged" 2 "$(q "SELECT count(*) FROM events")"

# ---- --print-spool-path: the rule of the commands, for the installers
run "$SHIP_BIN" --print-spool-path --spool "rel/dir/s.db"
check_eq "--print-spool-path --spool: as given" "rel/dir/s.db" "$out"
check_eq "--print-spool-path: exit 0" 0 "$rc"
run "$SHIP_BIN" --spool "$T/no/such/dir/s.db" status --print-spool-path
check_eq "--print-spool-path after a command" "$T/no/such/dir/s.db" "$out"
check "--print-spool-path creates nothing" test ! -e "$T/no"
run env ANON_TELEMETRY_SPOOL="$T/env spool.db" "$SHIP_BIN" --print-spool-path
check_eq "--print-spool-path: \$ANON_TELEMETRY_SPOOL" "$T/env spool.db" "$out"
run env ANON_TELEMETRY_SPOOL="$T/env.db" "$SHIP_BIN" --print-spool-path --spool "$T/opt.db"
check_eq "--print-spool-path: --spool wins over the environment" "$T/opt.db" "$out"

# The per-user rule, XDG_STATE_HOME included, applies to users other than root: as root
# it is checked through an unprivileged user (the binary copied where that user can run it).
if [ "$(id -u)" -eq 0 ]; then
    run env -u ANON_TELEMETRY_SPOOL XDG_STATE_HOME=/x/state "$SHIP_BIN" --print-spool-path
    check_eq "--print-spool-path as root" /var/spool/anon-telemetry/spool.db "$out"
    PUB=$(mktemp -d "${TMPDIR:-/tmp}/anon-cli.XXXXXX")
    on_exit "rm -rf '$PUB'"
    chmod 755 "$PUB"
    cp "$SHIP_BIN" "$PUB/ship"
    as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    USHIP=$PUB/ship
else
    as_user() { "$@"; }
    USHIP=$SHIP_BIN
fi
H=/nonexistent/home
run as_user env -u ANON_TELEMETRY_SPOOL HOME=$H XDG_STATE_HOME=relative/state "$USHIP" --print-spool-path
check_eq "a relative XDG_STATE_HOME is ignored" "$H/.local/state/anon-telemetry/spool.db" "$out"
run as_user env -u ANON_TELEMETRY_SPOOL HOME=$H XDG_STATE_HOME=/abs/state "$USHIP" --print-spool-path
check_eq "an absolute XDG_STATE_HOME is used" "/abs/state/anon-telemetry/spool.db" "$out"
run as_user env -u ANON_TELEMETRY_SPOOL -u XDG_STATE_HOME HOME=$H "$USHIP" --print-spool-path
check_eq "no XDG_STATE_HOME: ~/.local/state" "$H/.local/state/anon-telemetry/spool.db" "$out"
run as_user env ANON_TELEMETRY_SPOOL= HOME=$H XDG_STATE_HOME=/abs/state "$USHIP" --print-spool-path
check_eq "an empty ANON_TELEMETRY_SPOOL is ignored" "/abs/state/anon-telemetry/spool.db" "$out"
run as_user env ANON_TELEMETRY_SPOOL=/e/s.db HOME=$H XDG_STATE_HOME=/abs/state "$USHIP" --print-spool-path
check_eq "ANON_TELEMETRY_SPOOL wins" "/e/s.db" "$out"

# ---- the events still go out after all that (and the User-Agent once more)
default_response '{"status": 200}'
run "$SHIP_BIN" -v --now --spool "$S" --endpoint "$URL" --connect-timeout 5 --timeout 10
check_eq "the run after requeue: exit 0" 0 "$rc"
check_eq "both sent" 2 "$(q "SELECT count(*) FROM events WHERE status = 'sent'")"
check_eq "every request had the versioned User-Agent" True \
    "$(py "all({k.lower(): v for k, v in e['headers'].items()}['user-agent'] == 'anon-telemetry-ship/$V' for e in log)")"

finish
