#!/bin/bash
# Token-counting benchmark, whole processes side by side in one run:
#   1. anon-telemetry-tokens against Node.js running npm tiktoken@1.0.22 on the same
#      mixed corpus (>= 10 MB: English prose, code, non-Latin text), generated
#      deterministically. Both counts are printed and must be equal. Ratio = Node time /
#      our time (target >= 20x, aiming for 25x), for the default (all cores) and one thread.
#   2. avg_tokens_per_record over 100,000 records of about 2 KB (--records), one thread
#      against the default (all cores).
# tiktoken is installed with npm into $BUILD/tok-npm (not part of the tests). Without
# Node.js, or without the npm registry, comparison 1 cannot be made: the benchmark says
# so in a "NOT RUN: ..." line (make bench repeats it at the end, from $BENCH_NOT_RUN) and
# still makes comparison 2, on records cut from the token fixtures instead of node's
# generated corpus.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ANON_BUILD:-build}; case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
TOKENS_BIN=$BUILD/anon-telemetry-tokens
NPM_DIR=$BUILD/tok-npm
REPS=${BENCH_REPS:-3}
CORPUS_BYTES=${BENCH_CORPUS_BYTES:-12000000}
RECORDS=${BENCH_RECORDS:-100000}
D=$(mktemp -d /tmp/anon-bench-tokens.XXXXXX); chmod 700 "$D"
trap 'rm -rf "$D"' EXIT

# not_run WHAT WHY: a comparison this machine cannot make, said where it is seen
not_run() {
    echo "NOT RUN: tokens bench: $1: $2"
    [ -z "${BENCH_NOT_RUN:-}" ] || echo "tokens bench: $1: $2" >> "$BENCH_NOT_RUN"
}
have_node=0 have_tiktoken=0 why=""
if ! command -v node >/dev/null; then
    why="Node.js is not installed (apt-get install nodejs npm)"
else
    have_node=1
    if [ -f "$NPM_DIR/node_modules/tiktoken/package.json" ] &&
       grep -q '"version": "1.0.22"' "$NPM_DIR/node_modules/tiktoken/package.json"; then
        have_tiktoken=1
    else
        mkdir -p "$NPM_DIR"
        [ -f "$NPM_DIR/package.json" ] || echo '{"name":"tok-npm","private":true}' > "$NPM_DIR/package.json"
        if npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" tiktoken@1.0.22 >"$D/npm.log" 2>&1; then
            have_tiktoken=1
        else
            why="npm could not install tiktoken@1.0.22 (is the npm registry reachable?): $(tail -n 1 "$D/npm.log")"
        fi
    fi
fi

cat > "$D/count.cjs" <<'JS'
// node count.cjs FILE: cl100k_base count of FILE, as tiktoken computes it
const { get_encoding } = require("tiktoken");
const fs = require("fs");
const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(fs.readFileSync(process.argv[2]));
console.log(get_encoding("cl100k_base").encode(text, [], []).length);
JS

cat > "$D/corpus.mjs" <<'JS'
// node corpus.mjs OUT BYTES NONLATIN_FILE        -> mixed text of at least BYTES bytes
// node corpus.mjs OUT N NONLATIN_FILE records SIZE -> N JSON Lines strings of SIZE chars
import fs from "node:fs";
const [, , out, nArg, nonLatinFile, mode, sizeArg] = process.argv;
let x = 0x12345678; // xorshift32: the same corpus every run
const rnd = (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
const pick = (a) => a[rnd(a.length)];
const en = ("the of and to in a is that for it as was with be by on not he I this are or his from at which but have an they you were her she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three himself few house use during without again place around however home small found thought went say part once general high upon school every don't does got united left number course war until always away something fact though water less public put think almost hand enough far took head yet government system better set told nothing night end why called didn't eyes find going look asked later knew point next program city business give group toward young days let room president side social given present several order national possible rather second per face among form important often things looking early white case large become need big four within felt children along saw best church ever least power development light thing seemed family interest want members mind country area others done turned although open problem began keep sense anonymizer records tokenizer privacy redaction").split(" ");
const punct = [",", ",", ";", ":", " —", "'s", "'re", "n't", " (see above)"];
const ids = ["count", "buf", "len", "i", "j", "node", "next", "value", "result", "ctx", "err", "size", "data", "items", "key", "map", "list", "str", "ptr", "offset", "self", "config", "handler", "request", "response"];
const kw = ["if", "for", "while", "return", "static", "const", "int", "char", "def", "let", "var", "function", "else", "struct", "import", "from", "class", "async", "await", "try", "catch"];
const nonLatin = fs.readFileSync(nonLatinFile, "utf8").split(/\s+/).filter(Boolean);
function sentence() {
  let s = "", n = 6 + rnd(18);
  for (let i = 0; i < n; i++) {
    let w = pick(en);
    if (i === 0) w = w[0].toUpperCase() + w.slice(1);
    if (rnd(40) === 0) w = String(rnd(100000));
    s += (i ? " " : "") + w;
    if (i < n - 1 && rnd(9) === 0) s += pick(punct);
  }
  return s + pick([".", ".", ".", "?", "!"]);
}
function paragraph() { let p = ""; const n = 2 + rnd(6); for (let i = 0; i < n; i++) p += (i ? " " : "") + sentence(); return p + "\n\n"; }
function codeBlock() {
  let c = "", ind = 0;
  const n = 5 + rnd(25);
  for (let i = 0; i < n; i++) {
    const r = rnd(6), pad = "    ".repeat(ind);
    if (r === 0 && ind < 4) { c += `${pad}${pick(kw)} (${pick(ids)} ${pick(["<", "==", "!=", ">="])} ${rnd(1000)}) {\n`; ind++; }
    else if (r === 1 && ind > 0) { ind--; c += "    ".repeat(ind) + "}\n"; }
    else if (r === 2) c += `${pad}${pick(ids)}_${pick(ids)} = ${pick(ids)}(${pick(ids)}, "${pick(en)} ${pick(en)}");\n`;
    else if (r === 3) c += `${pad}// ${sentence()}\n`;
    else c += `${pad}${pick(ids)}[${pick(ids)}] += ${pick(ids)}.${pick(ids)} * 0x${rnd(65536).toString(16)};\n`;
  }
  while (ind > 0) { ind--; c += "    ".repeat(ind) + "}\n"; }
  return c + "\n";
}
function foreign() { let s = ""; const n = 5 + rnd(30); for (let i = 0; i < n; i++) s += (i && rnd(3) ? " " : "") + pick(nonLatin); return s + "\n"; }
function chunk() { const r = rnd(100); return r < 60 ? paragraph() : r < 85 ? codeBlock() : foreign(); }
const fd = fs.openSync(out, "w");
let buf = [];
const flush = () => { fs.writeSync(fd, buf.join("")); buf = []; };
if (mode === "records") {
  const n = Number(nArg), size = Number(sizeArg);
  let pool = "";
  for (let i = 0; i < n; i++) {
    while (pool.length < size) pool += chunk();
    buf.push(JSON.stringify(pool.slice(0, size)) + "\n");
    pool = pool.slice(size);
    if (buf.length === 1000) flush();
  }
} else {
  let total = 0;
  const want = Number(nArg);
  while (total < want) { const c = chunk(); buf.push(c); total += Buffer.byteLength(c); if (buf.length > 2000) flush(); }
}
flush();
fs.closeSync(fd);
JS

ms() { date +%s%N | cut -b1-13; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# timed NAME CMD...: runs CMD, appends its wall time (ms) to $D/NAME.ms and output to $D/NAME.out
timed() {
    local name=$1 t0 t1; shift
    t0=$(ms); "$@" > "$D/$name.out"; t1=$(ms)
    echo $((t1 - t0)) >> "$D/$name.ms"
}

sed -n '7,18p' "$ROOT/tests/fixtures/tokens/prose.txt" > "$D/nonlatin.txt"
rc=0
if [ "$have_tiktoken" = 0 ]; then
    not_run "anon-telemetry-tokens against Node's tiktoken (comparison 1)" "$why"
else
node "$D/corpus.mjs" "$D/corpus.txt" "$CORPUS_BYTES" "$D/nonlatin.txt"
size=$(wc -c < "$D/corpus.txt")
echo "corpus: $size bytes (60% prose, 25% code, 15% non-Latin text, deterministic)"

for r in $(seq "$REPS"); do
    timed ours "$TOKENS_BIN" "$D/corpus.txt"
    timed ours1 "$TOKENS_BIN" --threads 1 "$D/corpus.txt"
    NODE_PATH=$NPM_DIR/node_modules timed node node "$D/count.cjs" "$D/corpus.txt"
done
ours=$(median < "$D/ours.ms"); ours1=$(median < "$D/ours1.ms"); nodet=$(median < "$D/node.ms")
c_ours=$(cat "$D/ours.out"); c_ours1=$(cat "$D/ours1.out"); c_node=$(cat "$D/node.out")
echo "counts: anon-telemetry-tokens $c_ours (1 thread: $c_ours1), node tiktoken@1.0.22 $c_node"
echo "time (median of $REPS, whole process): ours ${ours} ms, ours 1 thread ${ours1} ms, node ${nodet} ms"
awk -v n="$nodet" -v o="$ours" -v o1="$ours1" 'BEGIN {
    if (o < 1) o = 1; if (o1 < 1) o1 = 1;
    printf "ratio node/ours: %.1fx (all cores), %.1fx (1 thread); target >= 20x\n", n / o, n / o1 }'
if [ "$c_ours" != "$c_node" ] || [ "$c_ours1" != "$c_node" ]; then
    echo "tokens bench: COUNTS DIFFER" >&2
    rc=1
fi
fi

if [ "$have_node" = 1 ]; then
    node "$D/corpus.mjs" "$D/records.jsonl" "$RECORDS" "$D/nonlatin.txt" records 2000
else
    # records of 2000 characters cut, in a fixed order, from the token fixtures (prose,
    # code, Unicode): not node's corpus, so these timings compare with each other only
    python3 - "$D/records.jsonl" "$RECORDS" "$ROOT"/tests/fixtures/tokens/*.txt <<'PY'
import json, sys
out, n, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
text = "".join(open(f, encoding="utf-8", errors="replace").read() for f in sorted(files))
with open(out, "w", encoding="utf-8") as f:
    for i in range(n):
        k = (i * 7919) % len(text)
        f.write(json.dumps((text[k:] + text)[:2000]) + "\n")
PY
fi
echo "records: $RECORDS records of 2000 characters, $(wc -c < "$D/records.jsonl") bytes of JSON Lines"
rm -f "$D"/rec*.ms "$D"/lib*.ms
libtime() { sed -n 's/.*avg_tokens_per_record took \([0-9.]*\) ms/\1/p' "$1"; }
for r in $(seq "$REPS"); do
    timed rec1 "$TOKENS_BIN" --records --timing --threads 1 "$D/records.jsonl" 2> "$D/rec1.err"
    libtime "$D/rec1.err" >> "$D/lib1.ms"
    timed recN "$TOKENS_BIN" --records --timing "$D/records.jsonl" 2> "$D/recN.err"
    libtime "$D/recN.err" >> "$D/libN.ms"
done
r1=$(median < "$D/rec1.ms"); rn=$(median < "$D/recN.ms")
l1=$(median < "$D/lib1.ms"); ln=$(median < "$D/libN.ms")
echo "avg_tokens_per_record: $(cat "$D/recN.out") (1 thread: $(cat "$D/rec1.out")); $(nproc) cores"
awk -v a="$l1" -v b="$ln" -v reps="$REPS" 'BEGIN { if (b <= 0) b = 1;
    printf "library call (median of %d): 1 thread %.0f ms, threaded %.0f ms, speed-up %.2fx\n", reps, a, b, a / b }'
awk -v a="$r1" -v b="$rn" -v reps="$REPS" 'BEGIN { if (b < 1) b = 1;
    printf "whole process (median of %d, incl. reading and JSON decoding): 1 thread %d ms, threaded %d ms, speed-up %.2fx\n", reps, a, b, a / b }'
[ "$(cat "$D/recN.out")" = "$(cat "$D/rec1.out")" ] || { echo "tokens bench: AVERAGES DIFFER" >&2; rc=1; }
exit $rc
