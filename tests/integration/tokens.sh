#!/bin/bash
# anon-telemetry-tokens end to end: counts per file and from standard input, --records
# (JSON string escapes, blank lines, CRLF, none), threads giving the same numbers, and the
# exit statuses 64 / 65 / 66. Expected counts come from tests/fixtures/tokens (made with
# npm tiktoken@1.0.22). Where Node and tiktoken are installed (build/tok-npm, as make bench
# leaves it), a few files are also checked against it directly.
. "$(dirname "$0")/../lib.sh"

FIX=$ROOT/tests/fixtures/tokens
want() { awk -F'\t' -v n="$1" '$4 == n { print $1 }' "$FIX/cases.tsv"; }
PROSE=$(want prose.txt)
CODE=$(want code.txt)
check "fixture counts present" test -n "$PROSE" -a -n "$CODE"

# ---- counting files ----
check_eq "prose.txt" "$PROSE" "$("$TOKENS_BIN" "$FIX/prose.txt")"
check_eq "two files, in order" "$PROSE
$CODE" "$("$TOKENS_BIN" "$FIX/prose.txt" "$FIX/code.txt")"
check_eq "standard input" "$CODE" "$("$TOKENS_BIN" < "$FIX/code.txt")"
check_eq "- is standard input" "$CODE
$PROSE" "$("$TOKENS_BIN" - "$FIX/prose.txt" < "$FIX/code.txt")"
check_eq "-- ends options" "$PROSE" "$(cd "$FIX" && "$TOKENS_BIN" -- prose.txt)"
: > "$T/empty"
check_eq "empty file" 0 "$("$TOKENS_BIN" "$T/empty")"
check_eq "hello world" 2 "$(printf 'Hello world' | "$TOKENS_BIN")"
check_eq "special-token text is ordinary" 7 "$(printf '<|endoftext|>' | "$TOKENS_BIN")"
check_eq "invalid UTF-8 as U+FFFD" "$(printf 'a\357\277\275\357\277\275b' | "$TOKENS_BIN")" \
    "$(printf 'a\377\376b' | "$TOKENS_BIN")"

# Cut points (a newline before a printable ASCII byte) do not change the count, so a large
# input counted on several threads gives exactly the single-thread number, and
# prose.txt + code.txt repeated k times has k * (PROSE + CODE) tokens.
cat "$FIX/prose.txt" "$FIX/code.txt" > "$T/big.txt"
for i in $(seq 11); do cat "$T/big.txt" "$T/big.txt" > "$T/big2.txt"; mv "$T/big2.txt" "$T/big.txt"; done
check_eq "9 MB on 2 threads" $((2048 * (PROSE + CODE))) "$("$TOKENS_BIN" --threads 2 "$T/big.txt")"
check_eq "9 MB on 1 thread" $((2048 * (PROSE + CODE))) "$("$TOKENS_BIN" --threads 1 "$T/big.txt")"
check_eq "9 MB on 7 threads" $((2048 * (PROSE + CODE))) "$("$TOKENS_BIN" --threads=7 "$T/big.txt")"

# ---- --records ----
rec() { printf "$1" | "$TOKENS_BIN" --records; }
check_eq "records: int(mean)" 4 "$(rec '"Hello world"\n"<|endoftext|>"\n')"
check_eq "records: blank lines skipped, CRLF, no final newline" 4 \
    "$(rec '\n  "Hello world"  \r\n\r\n"<|endoftext|>"')"
check_eq "records: none" -1 "$(rec '')"
check_eq "records: only blank lines" -1 "$(rec '\n \n\r\n')"
check_eq "records: escapes" "$(printf 'caf\303\251 "q" \\ / \b\f\n\r\t\000x' | "$TOKENS_BIN")" \
    "$(rec '"caf\\u00e9 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t\\u0000x"\n')"
check_eq "records: surrogate pair" "$(printf '\360\237\230\200!' | "$TOKENS_BIN")" \
    "$(rec '"\\ud83d\\ude00!"\n')"
check_eq "records: lone surrogate is U+FFFD" "$(printf 'a\357\277\275b' | "$TOKENS_BIN")" \
    "$(rec '"a\\udc00b"\n')"
check_eq "records: raw UTF-8" "$(printf '\346\274\242\345\255\227' | "$TOKENS_BIN")" \
    "$(rec '"\346\274\242\345\255\227"\n')"
check_eq "records: per file" "4
2" "$(printf '"Hello world"\n"<|endoftext|>"\n' > "$T/a.jsonl"; printf '"Hello world"\n' > "$T/b.jsonl";
      "$TOKENS_BIN" --records "$T/a.jsonl" "$T/b.jsonl")"

# many records: the threaded average equals the single-thread one and the fixture sums
# (the first 300 short single cases of the fixture, as JSON strings, and their counts)
python3 - "$FIX/cases.tsv" "$T/many.jsonl" > "$T/many.sum" <<'PY'
import json, sys
n = total = 0
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        count, repeat, hexs = line.split("\t")[:3]
        if repeat != "1" or len(hexs) >= 400 or n == 300:
            continue
        # replacement-decoded bytes hold no lone surrogate, so json.dumps is exact
        out.write(json.dumps(bytes.fromhex(hexs).decode("utf-8", "replace")) + "\n")
        n += 1
        total += int(count)
print(n, total)
PY
read -r n sum < "$T/many.sum"
check_eq "records: $n fixture strings, 2 threads" $((sum / n)) "$("$TOKENS_BIN" --records "$T/many.jsonl")"
check_eq "records: $n fixture strings, 1 thread" $((sum / n)) \
    "$("$TOKENS_BIN" --records --threads 1 "$T/many.jsonl")"

# ---- exit statuses ----
out=$(printf '"a"\n42\n' | "$TOKENS_BIN" --records 2>&1); rc=$?
check_eq "bad JSON line: exit 65" 65 "$rc"
check_match "bad JSON line named" 'standard input:2:' "$out"
printf '"a"\n"b\n' > "$T/bad.jsonl"
out=$("$TOKENS_BIN" --records "$T/bad.jsonl" 2>&1); rc=$?
check_eq "unterminated string: exit 65" 65 "$rc"
check_match "file and line named" 'bad\.jsonl:2:' "$out"
for bad in '{"a":1}' '["a"]' '"a" "b"' "'a'" '"\x"' '"\u12"' '"a	b"' 'null'; do
    printf '%s\n' "$bad" > "$T/bad1.jsonl"
    "$TOKENS_BIN" --records "$T/bad1.jsonl" >/dev/null 2>&1
    check_eq "not a JSON string: $bad" 65 "$?"
done
out=$("$TOKENS_BIN" "$FIX/prose.txt" "$T/missing.txt" 2>&1); rc=$?
check_eq "missing file: exit 66" 66 "$rc"
check_match "missing file named" 'missing\.txt' "$out"
"$TOKENS_BIN" "$T" >/dev/null 2>&1
check_eq "directory: exit 66" 66 "$?"
"$TOKENS_BIN" --bogus >/dev/null 2>&1
check_eq "unknown option: exit 64" 64 "$?"
"$TOKENS_BIN" --threads 0 >/dev/null 2>&1 < /dev/null
check_eq "bad --threads: exit 64" 64 "$?"
check_match "--help" 'usage:' "$("$TOKENS_BIN" --help)"

# ---- optional differential check against Node's tiktoken ----
NPM_DIR=${TOK_NPM_DIR:-$BUILD/tok-npm}
if command -v node >/dev/null && [ -f "$NPM_DIR/node_modules/tiktoken/package.json" ]; then
    head -c 300000 /dev/urandom > "$T/random.bin"
    for f in "$FIX/prose.txt" "$FIX/code.txt" "$T/random.bin" "$ROOT/spool/tokens.c"; do
        ref=$(NODE_PATH=$NPM_DIR/node_modules node -e '
            const { get_encoding } = require("tiktoken");
            const t = new TextDecoder("utf-8", { ignoreBOM: true }).decode(require("fs").readFileSync(process.argv[1]));
            console.log(get_encoding("cl100k_base").encode(t, [], []).length);' "$f")
        check_eq "node tiktoken on ${f##*/}" "$ref" "$("$TOKENS_BIN" "$f")"
    done
fi

finish
