#!/usr/bin/env node
// Generates the expected cl100k_base token counts in tests/fixtures/tokens/ with the
// reference implementation, npm tiktoken@1.0.22 under Node.js:
//     tiktoken.get_encoding("cl100k_base").encode(text, allowed=[], disallowed=[])
// Bytes that are not valid UTF-8 are decoded first as Python's decode("utf-8", "replace")
// does it (TextDecoder's maximal-subpart replacement, BOM kept).
//
//   cases.tsv    hand-written cases: "count<TAB>repeat<TAB>hex bytes<TAB>name"; the text is
//                the bytes repeated `repeat` times (long runs stay small)
//   palette.hex  fragments the random strings are built from (hex, one per line)
//   random.txt   "seed S count N", then the count of each of N random strings that
//                tests/unit/test_tokens.c regenerates with the same PRNG (xoshiro128**)
//   unicode.txt  "blocks N", then the count of each probe string over 64 consecutive code
//                points (all of U+0000..U+10FFFF but surrogates): X'sX123\n for each X
//   prose.txt, code.txt: ordinary text, counted whole in cases.tsv
//
// Usage: node scripts/gen-token-fixtures.mjs   (packages in $TOK_NPM_DIR, default /tmp/tok-npm)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "tests/fixtures/tokens");
const npmDir = process.env.TOK_NPM_DIR || "/tmp/tok-npm";
if (!fs.existsSync(path.join(npmDir, "node_modules/tiktoken/package.json"))) {
  fs.mkdirSync(npmDir, { recursive: true });
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefix", npmDir, "tiktoken@1.0.22"],
               { stdio: "inherit" });
}
const require = createRequire(path.join(npmDir, "package.json"));
const { get_encoding } = require("tiktoken");
if (JSON.parse(fs.readFileSync(path.join(npmDir, "node_modules/tiktoken/package.json"))).version !== "1.0.22")
  throw new Error("need tiktoken 1.0.22");
const enc = get_encoding("cl100k_base");
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const countBytes = (buf) => enc.encode(decoder.decode(buf), [], []).length;
const utf8 = (s) => Buffer.from(s, "utf8");
const hex = (b) => Buffer.from(b).toString("hex");

// ---- PRNG and random strings (mirrored in tests/unit/test_tokens.c) ----
class Rng {
  constructor(seed) {
    let x = seed >>> 0;
    const sm = () => { // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s = [sm(), sm(), sm(), sm()];
  }
  next() { // xoshiro128**
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] = (s[2] ^ s[0]) >>> 0; s[3] = (s[3] ^ s[1]) >>> 0;
    s[1] = (s[1] ^ s[2]) >>> 0; s[0] = (s[0] ^ s[3]) >>> 0;
    s[2] = (s[2] ^ t) >>> 0; s[3] = rotl(s[3], 11);
    return r;
  }
  below(n) { return this.next() % n; }
}
function rotl(x, k) { return ((x << k) | (x >>> (32 - k))) >>> 0; }
function pushCp(a, cp) {
  if (cp < 0x80) a.push(cp);
  else if (cp < 0x800) a.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
  else if (cp < 0x10000) a.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  else a.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
}
function randomString(rng, palette) {
  const a = [];
  const units = 1 + rng.below(40);
  const invalid = rng.below(8) === 0;
  for (let u = 0; u < units; u++) {
    const r = rng.below(100);
    if (r < 25) { for (const b of palette[rng.below(palette.length)]) a.push(b); }
    else if (r < 45) a.push(0x20 + rng.below(95));
    else if (r < 50) a.push(rng.below(32));
    else if (r < 60) { const k = 1 + rng.below(8); for (let i = 0; i < k; i++) a.push(0x61 + rng.below(26)); }
    else if (r < 65) { const k = 1 + rng.below(4); for (let i = 0; i < k; i++) a.push(0x20); }
    else if (r < 73) pushCp(a, 0x80 + rng.below(0x780));
    else if (r < 83) { let cp = rng.below(0x10000); if (cp >= 0xd800 && cp < 0xe000) cp -= 0x800; pushCp(a, cp); }
    else if (r < 88) pushCp(a, 0x10000 + rng.below(0x100000));
    else if (r < 94) { const k = 1 + rng.below(6); for (let i = 0; i < k; i++) a.push(0x30 + rng.below(10)); }
    else if (invalid) a.push(0x80 + rng.below(0x80));
    else { for (const b of palette[rng.below(palette.length)]) a.push(b); }
  }
  return Buffer.from(a);
}

// ---- palette ----
const spaces = ["\t", "\n", "\v", "\f", "\r", " ", "\u0085", "\u00a0", "\u1680", "\u2000", "\u2001",
  "\u2002", "\u2003", "\u2004", "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a", "\u2028",
  "\u2029", "\u202f", "\u205f", "\u3000"];
const notSpaces = ["\ufeff", "\u200b", "\u180e", "\u001c", "\u001d", "\u001e", "\u001f", "\u200c", "\u200d", "\u2060"];
const contractions = [];
for (const c of ["s", "t", "re", "ve", "m", "ll", "d"]) {
  const variants = [""];
  for (const ch of c) {
    const alts = [ch, ch.toUpperCase()];
    if (ch === "s") alts.push("\u017f");
    const nv = [];
    for (const v of variants) for (const a of alts) nv.push(v + a);
    variants.splice(0, variants.length, ...nv);
  }
  for (const v of variants) contractions.push("'" + v);
}
const numbers = ["0", "7", "42", "123", "1234", "１２３", "½", "Ⅻ", "²", "³", "٣٤٥", "۱۲", "०१२३", "০১",
  "๑๒๓", "໑", "༡", "၁၂", "០", "᠑", "𝟙𝟚", "①②", "⑴", "𐒠", "𑁦", "𞥑", "〇", "一二", "ↁ", "🄁"];
const words = ["the", " the", "The", " of", "hello", " world", "naïve", "café", "e\u0301", "n\u0303",
  "a\u0308\u0304", "\u0301", "\u0300\u0301\u0302", "漢字", "日本語", "中文字符", "한국어", "ｶﾀｶﾅ",
  "नमस्ते", "हिन्दी", "สวัสดี", "ภาษาไทย", "مرحبا", "שלום", "Привет", "Ελληνικά", "ქართული", "Ꭰ",
  "👨‍👩‍👧", "👍🏽", "🇫🇷", "❤️", "🏳️‍🌈", "😀", "\u200d", "\ufe0f", "<|endoftext|>", "<|fim_prefix|>",
  "<|endofprompt|>", "{", "}", "=>", "();", "\"", "$x", "#include", "->", "...", "—", "’s", "\ufffd",
  "don't", "I'M", "you'RE", "we'Ve", "'", "''", "'K", "'\u212a", "http://example.com/a?b=c", "\\n",
  "\r\n", "\n\n", " \n", "\t\t", "   ", "\r\n\r\n", ":", ",", ".", "!", "?", "%", "&&", "||"];
const paletteStrs = [...spaces, ...notSpaces, ...contractions, ...numbers, ...words];
const palette = paletteStrs.map(utf8);

// ---- hand-written cases ----
const cases = []; // [name, bytes, repeat]
const S = (name, s, repeat = 1) => cases.push([name, utf8(s), repeat]);
const B = (name, bytes, repeat = 1) => cases.push([name, Buffer.from(bytes), repeat]);
S("empty", "");
S("hello", "Hello world");
S("endoftext is ordinary text", "<|endoftext|>");
S("all specials", "<|endoftext|><|fim_prefix|><|fim_middle|><|fim_suffix|><|endofprompt|>");
for (const c of contractions) {
  S(`contraction ${c}`, c);
  S(`contraction in word ${c}`, `it${c} x`);
  S(`contraction followed ${c}`, `${c}abc`);
  S(`contraction after space ${c}`, ` ${c}`);
}
for (const s of ["'S", "'s", "'\u017f", "'K", "'\u212a", "'rex", "'r", "'v", "'l", "'lL", "'lly", "'", "''s",
  "'\u017fs", "\u017f", "'D'", "'1", "' s", "'\n", "\u2019s", "do n't", "ǅ", "'Ｓ", "'ß", "'ẞ"]) S(`apostrophe ${JSON.stringify(s)}`, s);
for (const s of spaces) {
  const name = "U+" + s.codePointAt(0).toString(16);
  S(`space ${name} alone`, s);
  S(`space ${name} before word`, `a${s}b`);
  S(`space ${name} run before word`, `a${s}${s}${s}b`);
  S(`space ${name} trailing`, `a${s}${s}`);
  S(`space ${name} before digit`, `a${s}${s}1`);
  S(`space ${name} before punct`, `a${s}${s}!`);
  S(`space ${name} before newline`, `a${s}\n${s}b`);
}
for (const s of notSpaces) {
  const name = "U+" + s.codePointAt(0).toString(16);
  S(`non-space ${name}`, `a${s}b ${s} ${s}${s}1`);
}
for (const s of ["\r\n", "a\r\nb", "a \r\n b", "a\r\n\r\n\r\nb", "a\n\n\n", "a\r\rb", "\n \n \n x", "  \n  x",
  "a  \n", "x\t\n\t y", "}\r\n", "};\n\n", "!!\r\n\r\nx", " \r", "a \u00a0\n\u3000b", "\u00a0\u00a0x",
  "\u0085\u0085\u0085", "x \u2028 y", "  ", "   ", "a   ", "a   b", " ", "\n", "\t", "\t\tfoo", "  foo",
  "\u3000foo", "\u00a0foo", "\n\nfoo", "\r\nfoo", "x \n", "x \n \n "]) S(`whitespace ${JSON.stringify(s)}`, s);
for (const s of numbers) {
  S(`number ${s}`, s);
  S(`number run ${s}`, `${s}${s}${s}${s}x`);
  S(`number in word ${s}`, `abc${s}def ${s}`);
}
for (const s of ["1", "12", "123", "1234", "12345", "123456", "1234567", "3.14159", "1,000,000", "0x1F",
  "v1.2.3", "2024-01-01", "-42", "+1e10", "１２３４５", "1½2", "²³⁴⁵", "Ⅻ1", "abc123def", " 123", "  123",
  "$100", "100%"]) S(`digits ${s}`, s);
for (const s of words) S(`word ${JSON.stringify(s)}`, s);
for (const s of ["$hello", "$$hello", " $hello", "!!abc", " !!\n\nx", "(foo)", "[[x]]", "a.b.c", "é", "e\u0301x",
  "x\u0301\u0301", " \u0301", "\u0301abc", "\u200dabc", "👨‍👩‍👧‍👦 family", "🇺🇸🇫🇷", "中文，标点。", "日本語の文章です。",
  "नमस्ते दुनिया", "สวัสดีครับ ทุกคน", "مرحبا بالعالم", "Ωμέγα", "ǅemal", "İstanbul", "ß ẞ", "ﬁ ﬂ"])
  S(`mixed ${JSON.stringify(s)}`, s);
// invalid UTF-8: expected counts are those of the replacement-decoded string
B("invalid e2 82", [0xe2, 0x82]);
B("invalid ff fe", [0xff, 0xfe]);
B("invalid surrogate ed a0 80", [0xed, 0xa0, 0x80]);
B("invalid lone continuation", [0x61, 0x80, 0x62]);
B("invalid overlong c0 af", [0xc0, 0xaf]);
B("invalid overlong e0 80 af", [0xe0, 0x80, 0xaf]);
B("invalid overlong f0 80 80 af", [0xf0, 0x80, 0x80, 0xaf]);
B("invalid beyond f4 90", [0xf4, 0x90, 0x80, 0x80]);
B("invalid f5", [0xf5, 0x80, 0x80, 0x80]);
B("invalid truncated 4-byte", [0x20, 0xf0, 0x9f, 0x98]);
B("invalid truncated then ascii", [0xf0, 0x9f, 0x98, 0x41]);
B("invalid c2 then ascii", [0xc2, 0x41, 0xc2]);
B("invalid in word", [...utf8("hel"), 0xff, ...utf8("lo wor"), 0xc3, ...utf8("ld")]);
B("invalid between digits", [0x31, 0x32, 0xff, 0x33, 0x34]);
B("invalid after space", [0x20, 0xfe, 0x61]);
B("invalid many", [0x80, 0x81, 0x82, 0x83, 0xbf, 0xc0, 0xc1, 0xf8, 0xfc, 0xfe, 0xff]);
B("invalid ed 9f bf valid", [0xed, 0x9f, 0xbf]);
B("invalid ee 80 80 valid", [0xee, 0x80, 0x80]);
B("bom kept", [0xef, 0xbb, 0xbf, ...utf8("hello")]);
B("bom twice", [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x20, 0x61]);
B("nul bytes", [0x61, 0x00, 0x62, 0x00, 0x00]);
B("all bytes", Array.from({ length: 256 }, (_, i) => i));
B("all bytes reversed", Array.from({ length: 256 }, (_, i) => 255 - i));
// long runs (the heap path) and repeated material. Node's tiktoken is quadratic on long
// pieces (100,000 letters take it seconds; a megabyte makes it fail), so runs stay ~30 KB.
S("long letters a", "a", 30000);
S("long letters ab", "ab", 15000);
S("long letters abc", "abc", 10000);
S("long letters lorem", "lorem", 6000);
S("long cjk", "漢", 10000);
S("long é", "é", 15000);
S("long thai", "สวัสดี", 2000);
S("long digits", "1", 100000);
S("long digits 2", "9876543210", 10000);
S("long spaces", " ", 30000);
S("long spaces then x", " ".repeat(30000) + "x");
S("long spaces then digit", " ".repeat(30000) + "1");
S("long newlines", "\n", 30000);
S("long crlf", "\r\n", 15000);
S("long tabs", "\t", 30000);
S("long nbsp", "\u00a0", 15000);
S("long punct", "!", 30000);
S("long punct mix", "!?#", 10000);
S("long emoji", "😀", 8000);
S("long zwj family", "👨‍👩‍👧‍👦", 1000);
S("long combining", "\u0301", 15000);
S("long invalid", "\ufffd", 10000);
B("long raw invalid", [0xff], 10000);
S("long words", "the quick brown fox ", 5000);
S("long contractions", "'s", 15000);
S("long apostrophes", "'", 30000);
S("long long s", "\u017f", 15000);
S("long space word", " a", 50000);
S("long mixed letters", "aé漢ж", 3000);
S("long random letters", Array.from({ length: 40000 }, (_, i) => "etaoinshrdlu"[(i * 7919 + (i >> 3)) % 12]).join(""));
// A megabyte of one letter is past what Node's tiktoken can do (it fails); "aaaaaaaa" is
// a token and the merges group a run from the left by eights, which Node confirms here
// for smaller runs, so 2^20 letters are 2^17 tokens.
for (const m of [1000, 2000, 3000]) {
  if (countBytes(Buffer.from("a".repeat(8 * m))) !== m) throw new Error("a-run pattern broken");
}
const extrapolated = [["long letters a 1 MiB (extrapolated, see generator)", utf8("a"), 1 << 20, (1 << 20) / 8]];
const prose = fs.readFileSync(path.join(out, "prose.txt"));
const code = fs.readFileSync(path.join(out, "code.txt"));
cases.push(["prose.txt", prose, 1], ["code.txt", code, 1]);
for (const line of prose.toString("utf8").split("\n")) if (line) S(`prose line ${line.slice(0, 30)}`, line);
for (const line of code.toString("utf8").split("\n")) if (line.trim()) S(`code line ${line.trim().slice(0, 30)}`, line);

let tsv = "";
for (const [name, bytes, repeat] of cases) {
  const full = repeat === 1 ? bytes : Buffer.concat(Array(repeat).fill(bytes));
  tsv += `${countBytes(full)}\t${repeat}\t${hex(bytes)}\t${name.replace(/[\t\n\r]/g, " ")}\n`;
}
for (const [name, bytes, repeat, count] of extrapolated) tsv += `${count}\t${repeat}\t${hex(bytes)}\t${name}\n`;
fs.writeFileSync(path.join(out, "cases.tsv"), tsv);
fs.writeFileSync(path.join(out, "palette.hex"), palette.map(hex).join("\n") + "\n");
console.error(`cases.tsv: ${cases.length} cases`);

// ---- random strings ----
const SEED = 20261125, N = 40000;
const rng = new Rng(SEED);
let rnd = `seed ${SEED} count ${N}\n`;
for (let i = 0; i < N; i++) rnd += countBytes(randomString(rng, palette)) + "\n";
fs.writeFileSync(path.join(out, "random.txt"), rnd);
console.error(`random.txt: ${N} strings`);

// ---- every code point, 64 at a time ----
let uni = "";
let blocks = 0;
for (let b = 0; b < 0x110000; b += 64) {
  if (b >= 0xd800 && b < 0xe000) continue;
  const a = [];
  for (let cp = b; cp < b + 64; cp++) {
    pushCp(a, cp); a.push(0x27, 0x73); pushCp(a, cp); a.push(0x31, 0x32, 0x33, 0x0a);
  }
  uni += countBytes(Buffer.from(a)) + "\n";
  blocks++;
}
fs.writeFileSync(path.join(out, "unicode.txt"), `blocks ${blocks}\n` + uni);
console.error(`unicode.txt: ${blocks} blocks`);
