"""count_tokens and avg_tokens_per_record: the library's exact counts (the committed
token fixtures, made with tiktoken), from any iterable, str() of each item, -1 when
there is nothing."""

from __future__ import annotations

import json
import subprocess
import unittest

import support
from support import anon_telemetry as at

FIX = support.ROOT / "tests" / "fixtures" / "tokens"


def fixture_cases():
    """(expected count, text bytes, name) of every case of cases.tsv."""
    out = []
    for line in (FIX / "cases.tsv").read_text(encoding="utf-8").split("\n"):
        if not line:
            continue
        count, repeat, hexs, name = line.split("\t")[:4]
        out.append((int(count), bytes.fromhex(hexs) * int(repeat), name))
    return out


class Series:
    """Iterates like a pandas Series of strings (and is not a list)."""

    def __init__(self, values):
        self._values = list(values)

    def __iter__(self):
        return iter(self._values)


class TokensTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.cases = fixture_cases()
        assert len(cls.cases) > 600

    def test_fixture_counts_str_and_bytes(self):
        for count, data, name in self.cases:
            with self.subTest(name):
                self.assertEqual(at.count_tokens(data), count, "bytes")
                # tiktoken counts the replacement-decoded text: so does a str here
                self.assertEqual(at.count_tokens(data.decode("utf-8", "replace")), count, "str")

    def test_fixture_files(self):
        want = {name: count for count, _, name in self.cases}
        for name in ("prose.txt", "code.txt"):
            self.assertEqual(at.count_tokens((FIX / name).read_text()), want[name], name)
        self.assertEqual(at.count_tokens(bytearray(b"Hello world")), 2)
        self.assertEqual(at.count_tokens(memoryview(b"<|endoftext|>")), 7)

    def test_avg_equals_the_fixture_sum(self):
        texts = [d.decode("utf-8", "replace") for _, d, _ in self.cases]
        total = sum(c for c, _, _ in self.cases)
        want = int(total / len(texts))
        self.assertEqual(at.avg_tokens_per_record(texts), want, "list")
        self.assertEqual(at.avg_tokens_per_record(t for t in texts), want, "generator")
        self.assertEqual(at.avg_tokens_per_record(Series(texts)), want, "Series-like")
        self.assertEqual(at.avg_tokens_per_record(tuple(texts)), want, "tuple")

    def test_avg_equals_the_c_command(self):
        # many short records (threads share them in the library) and the same records
        # through anon-telemetry-tokens --records, side by side
        texts = [d.decode("utf-8", "replace") for c, d, _ in self.cases if len(d) < 400] * 7
        self.assertGreater(len(texts), 2000)
        p = subprocess.run([str(support.TOKENS_BIN), "--records"], check=True,
                           capture_output=True, text=True,
                           input="".join(json.dumps(t) + "\n" for t in texts))
        self.assertEqual(at.avg_tokens_per_record(texts), int(p.stdout))

    def test_non_string_items(self):
        class Obj:
            def __str__(self):
                return "Hello world"

        items = [12345, 3.5, None, True, Obj(), b"bytes", ["a", 1], "plain"]
        want = int(sum(at.count_tokens(str(i)) for i in items) / len(items))
        self.assertEqual(at.avg_tokens_per_record(items), want)
        self.assertEqual(at.avg_tokens_per_record([Obj(), Obj()]), 2)
        self.assertEqual(at.count_tokens(Obj()), 2)
        self.assertEqual(at.count_tokens(12345), at.count_tokens("12345"))

    def test_empty(self):
        self.assertEqual(at.avg_tokens_per_record([]), -1)
        self.assertEqual(at.avg_tokens_per_record(iter(())), -1)
        self.assertEqual(at.avg_tokens_per_record(x for x in ""), -1)
        self.assertEqual(at.avg_tokens_per_record([""]), 0)
        self.assertEqual(at.count_tokens(""), 0)

    def test_failing_iterable_is_minus_one(self):
        def gen():
            yield "Hello world"
            raise RuntimeError("the data source broke")

        with self.assertLogs("anon_telemetry", "WARNING") as logs:
            self.assertEqual(at.avg_tokens_per_record(gen()), -1)
        self.assertIn("the data source broke", logs.output[0])

    def test_lone_surrogates_as_tiktoken(self):
        self.assertEqual(at.count_tokens("a\udc00b"), at.count_tokens("a\ufffdb"))
        self.assertEqual(at.count_tokens("\ud83d\ude00!"), at.count_tokens("\U0001F600!"))
        self.assertEqual(at.avg_tokens_per_record(["a\udc00b", "\ud83d\ude00!"]),
                         at.avg_tokens_per_record(["a\ufffdb", "\U0001F600!"]))
        self.assertEqual(at.count_tokens("x\0y"), at.count_tokens(b"x\0y"), "NUL is text")

    def test_special_token_text_is_ordinary(self):
        self.assertEqual(at.avg_tokens_per_record(["Hello world", "<|endoftext|>"]), 4)


if __name__ == "__main__":
    unittest.main()
