# output.sh: the commands' standard streams (issue 12): no death by SIGPIPE (item 6), write
# errors on output are exit 74 with a message (item 7), control characters from input or
# from a collector never reach the terminal or the log raw (item 8).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../ship_helpers.sh"

start_collector main

# closed_pipe WHICH CMD...: runs CMD (stdin from $T/in) with WHICH (out, err or both)
# connected to a pipe whose reading end is already closed, the other stream to $T/o or
# $T/e; SIGPIPE at its default, as under a shell. Sets rc (128 + N for a death by signal N).
closed_pipe() {
    python3 - "$T" "$@" <<'EOF'
import os, subprocess, sys
t, which, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
r, w = os.pipe()
os.close(r)
out = w if which in ("out", "both") else open(t + "/o", "wb")
err = w if which in ("err", "both") else open(t + "/e", "wb")
p = subprocess.run(cmd, stdin=open(t + "/in", "rb"), stdout=out, stderr=err)
sys.exit(128 - p.returncode if p.returncode < 0 else p.returncode)
EOF
    rc=$?
}

# ---- item 6: the writer is never killed by SIGPIPE, and stored events are exit 0
event > "$T/in"; event >> "$T/in"
closed_pipe out "$SPOOL_BIN" --spool "$S" --session-id w1
check_eq "writer, stdout on a closed pipe: exit 0 (stored)" 0 "$rc"
check_eq "writer, stdout on a closed pipe: both events stored once" 2 \
    "$(q "SELECT count(*) FROM events WHERE session_id='w1'")"
check_match "writer, stdout on a closed pipe: a warning on stderr" \
    "warning: 2 events stored, but the uuids could not be written \(Broken pipe\)" "$(cat "$T/e")"
closed_pipe both "$SPOOL_BIN" --spool "$S" --session-id w2
check_eq "writer, stdout and stderr on a closed pipe: exit 0" 0 "$rc"
check_eq "writer, stdout and stderr on a closed pipe: stored once" 2 \
    "$(q "SELECT count(*) FROM events WHERE session_id='w2'")"
printf '{"task":1}\n' > "$T/in"
closed_pipe both "$SPOOL_BIN" --spool "$S"
check_eq "writer, bad input, streams on a closed pipe: still 65, not a signal" 65 "$rc"
: > "$T/in"
closed_pipe out "$SPOOL_BIN" --help
check_eq "writer --help on a closed pipe: 74" 74 "$rc"
check_match "writer --help on a closed pipe: says so" "cannot write the output" "$(cat "$T/e")"
event > "$T/in"
"$SPOOL_BIN" --spool "$S" --session-id w3 < "$T/in" > /dev/full 2>"$T/e"
check_eq "writer, stdout on /dev/full: exit 0 (stored)" "0|1" "$?|$(q "SELECT count(*) FROM events WHERE session_id='w3'")"
check_match "writer, stdout on /dev/full: a warning" "warning: 1 event stored.*No space left" "$(cat "$T/e")"
"$SPOOL_BIN" --spool "$S" --session-id w4 < "$T/in" >&- 2>"$T/e"
check_eq "writer, stdout closed: exit 0 (stored)" "0|1" "$?|$(q "SELECT count(*) FROM events WHERE session_id='w4'")"
check_eq "writer, stdout closed: the spool is still a database" ok "$(q "PRAGMA quick_check")"

# ---- item 6: the shipper keeps going with stderr on a closed pipe, delivers everything once
q "DELETE FROM events"
: > "$LOG"
for i in 1 2 3; do queue 50 "p$i"; done
: > "$T/in"
closed_pipe err "$SHIP_BIN" --spool "$S" --endpoint "$URL" --batch-size 50 --parallel 1 -vv
check_eq "shipper, stderr on a closed pipe: exit 0" 0 "$rc"
check_eq "shipper, stderr on a closed pipe: all 150 sent" 150 "$(q "SELECT count(*) FROM events WHERE status='sent'")"
check_eq "shipper, stderr on a closed pipe: each event posted once" "3 150" \
    "$(requests) $(py "sum(len(e['env']['events']) for e in log)")"
check_eq "shipper, stderr on a closed pipe: the run is recorded" "0|150" \
    "$(q "SELECT exit_code || '|' || sent FROM runs ORDER BY id DESC LIMIT 1")"
"$SHIP_BIN" --spool "$S" --endpoint "$URL" >/dev/null 2>&1
check_eq "then nothing is posted again" 150 "$(py "sum(len(e['env']['events']) for e in log)")"
queue 1 p4
closed_pipe both "$SHIP_BIN" --spool "$S" --endpoint "http://127.0.0.1:1/v1" -v
check_eq "shipper offline, both streams on a closed pipe: 75, not a signal" 75 "$rc"

# ---- item 7: write errors on output are exit 74 with a message
queue 3 o1
for cmd in "list" "list --json" "status" "status --json" "dlq list" "dlq list --json" \
           "--dry-run --endpoint $URL" "--print-spool-path" "--help" "--version"; do
    # shellcheck disable=SC2086
    "$SHIP_BIN" --spool "$S" $cmd > /dev/full 2>"$T/e"
    check_eq "'$cmd >/dev/full': exit 74" 74 "$?"
    check_match "'$cmd >/dev/full': says so" "cannot write the output|No space left" "$(cat "$T/e")"
    # shellcheck disable=SC2086
    "$SHIP_BIN" --spool "$S" $cmd >&- 2>"$T/e"
    check_eq "'$cmd >&-': exit 74" 74 "$?"
    # shellcheck disable=SC2086
    closed_pipe out "$SHIP_BIN" --spool "$S" $cmd
    check_eq "'$cmd' on a closed pipe: exit 74" 74 "$rc"
done
check_eq "the dry runs posted and changed nothing" "3|3" \
    "$(requests)|$(q "SELECT count(*) FROM events WHERE session_id='o1' AND status='pending'")"
"$SHIP_BIN" --spool "$S" status > /dev/null 2>"$T/e"
check_eq "status to /dev/null: exit 0" "0|" "$?|$(cat "$T/e")"
echo "some text" > "$T/in"
"$TOKENS_BIN" < "$T/in" > /dev/full 2>"$T/e"
check_eq "tokens >/dev/full: exit 74" 74 "$?"
"$TOKENS_BIN" < "$T/in" >&- 2>"$T/e"
check_eq "tokens >&-: exit 74" 74 "$?"
closed_pipe out "$TOKENS_BIN"
check_eq "tokens on a closed pipe: exit 74" 74 "$rc"

# ---- item 8: control characters are escaped in every message
printf '{"task":"batch","a\\u001b[31m\\nanon-telemetry-spool: forged":1}\n' > "$T/in"
"$SPOOL_BIN" --spool "$S" < "$T/in" >/dev/null 2>"$T/e"
check_eq "writer, unknown key with ESC and a newline: exit 65" 65 "$?"
check_eq "writer: one message line" 1 "$(wc -l < "$T/e" | tr -d ' ')"
check_eq "writer: no control byte" 0 "$(tr -d '\n' < "$T/e" | LC_ALL=C grep -c '[[:cntrl:]]')"
check_match "writer: the key shown escaped" 'a\\x1b\[31m\\nanon-telemetry-spool: forged: unknown field' "$(cat "$T/e")"
printf '{"task":"batch","\xc2\x9b2J\xe2\x80\xae\xff":1}\n' > "$T/in"
"$SPOOL_BIN" --spool "$S" < "$T/in" >/dev/null 2>"$T/e"
check_match "writer: C1, bidi and bad UTF-8 shown as bytes" '\\xc2\\x9b2J\\xe2\\x80\\xae\\xff: unknown field' "$(cat "$T/e")"
event > "$T/in"
"$SPOOL_BIN" --spool "$S" --session-id "$(printf 'a\033[2Jb')" < "$T/in" >/dev/null 2>"$T/e"
check_eq "writer, a session id with ESC: refused, nothing stored" "65|0" \
    "$?|$(q "SELECT count(*) FROM events WHERE session_id LIKE 'a%b'")"
check_eq "writer: no control byte for a bad option value either" 0 "$(tr -d '\n' < "$T/e" | LC_ALL=C grep -c '[[:cntrl:]]')"

"$TOKENS_BIN" "$T/$(printf 'no\033[2Jsuch\nfile')" >/dev/null 2>"$T/e"
check_eq "tokens, a file name with controls: exit 66, one line" "66|1" "$?|$(wc -l < "$T/e" | tr -d ' ')"
check_match "tokens: the name shown escaped" 'no\\x1b\[2Jsuch\\nfile: No such file' "$(cat "$T/e")"
mkdir -p "$T/$(printf 'dir\033[2J')"
chmod 777 "$T/$(printf 'dir\033[2J')"
"$SPOOL_BIN" --spool "$T/$(printf 'dir\033[2J')/s.db" < "$T/in" >/dev/null 2>"$T/e"
check_eq "writer, an unsafe spool directory with controls in its name: exit 77" 77 "$?"
check_match "writer: the path shown escaped" 'dir\\x1b\[2J' "$(cat "$T/e")"
check_eq "writer, a spool path with controls: no control byte" 0 \
    "$(tr -d '\n' < "$T/e" | LC_ALL=C grep -c '[[:cntrl:]]')"

# the shipper: -vv echoes a collector's answer, escaped
q "DELETE FROM events"
queue 1 c1
script '[{"status": 404, "body": "\u001b[2J\nanon-telemetry-ship: forged line\r\u0007"}]'
ship -vv
check_eq "collector body with controls: exit 78" 78 "$rc"
check_match "-vv: the answer is shown" 'the answer began with: \\x1b\[2J\\nanon-telemetry-ship: forged line\\r\\x07' "$err"
check_eq "-vv: no control byte in the log" 0 "$(printf '%s' "$err" | tr -d '\n' | LC_ALL=C grep -c '[[:cntrl:]]')"
check_eq "-vv: no forged line" 0 "$(printf '%s\n' "$err" | grep -c '^anon-telemetry-ship: forged')"
ship -vv --endpoint "http://127.0.0.1:$PORT/v1$(printf '\033')[2J"
check_eq "an endpoint with a control character: exit 78" 78 "$rc"
check_eq "an endpoint with a control character: shown escaped" 0 "$(printf '%s' "$err" | tr -d '\n' | LC_ALL=C grep -c '[[:cntrl:]]')"
check_match "an endpoint with a control character: says why" 'control character' "$err"

finish
