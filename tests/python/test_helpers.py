"""classify_model_host, collect_model_hosts, sort_join_aliases: the Anonymizer's
documented examples (the writer issue's list), and the documented Python rules as an
oracle over many generated inputs."""

from __future__ import annotations

import random
import unittest

import support  # noqa: F401  (sets up the package and the library)
from support import anon_telemetry as at
from anon_telemetry import ModelHostEnum as H


class Provider:
    def __init__(self, endpoint):
        self.endpoint = endpoint


# The documented rules, written out as the Anonymizer's reference documents them: the
# oracle the library's answers are compared with.
def ref_classify(endpoint):
    e = (endpoint or "").lower()
    if "build.nvidia.com" in e or "integrate.api.nvidia.com" in e:
        return "nvidia-build"
    if "inference-api.nvidia.com" in e:
        return "nvidia-internal"
    if "openrouter.ai" in e:
        return "openrouter"
    if any(h in e for h in ("localhost", "127.0.0.1", "0.0.0.0", "[::1]")):
        return "local"
    return "other"


def ref_sort_join(aliases):
    cleaned = [a.strip() for a in aliases if a and a.strip()]
    return ",".join(sorted(cleaned)) if cleaned else "not_applicable"


class HelpersTest(unittest.TestCase):

    def test_documented_examples(self):
        for endpoint, want in [
            ("https://Build.NVIDIA.com/v1", H.NVIDIA_BUILD),
            ("https://integrate.api.nvidia.com/v1", H.NVIDIA_BUILD),
            ("https://inference-api.nvidia.com/v1", H.NVIDIA_INTERNAL),
            ("http://0.0.0.0/v1", H.LOCAL),
            ("https://gliner-qaqtckhiy.brevlab.com/v1", H.OTHER),
            ("https://openrouter.ai/api/v1", H.OPENROUTER),
            ("http://localhost:8000/v1", H.LOCAL),
            ("http://127.0.0.1:9000", H.LOCAL),
            ("http://[::1]:8080/v1", H.LOCAL),
            ("", H.OTHER),
        ]:
            with self.subTest(endpoint):
                self.assertIs(at.classify_model_host(Provider(endpoint)), want)
                self.assertIs(at.classify_model_host(endpoint), want)
        self.assertIs(at.classify_model_host(None), H.OTHER, "no provider")
        self.assertIs(at.classify_model_host(Provider(None)), H.OTHER, "no endpoint")
        self.assertIs(at.classify_model_host(object()), H.OTHER, "no endpoint attribute")
        self.assertEqual(at.collect_model_hosts([]), ["other"])
        self.assertEqual(at.sort_join_aliases(["  alias-a  ", "alias-b"]), "alias-a,alias-b")
        self.assertEqual(at.sort_join_aliases(["alias-a", "  ", ""]), "alias-a")
        self.assertEqual(at.sort_join_aliases([]), at.NOT_APPLICABLE)
        self.assertEqual(at.NOT_APPLICABLE, "not_applicable")

    def test_priority_order(self):
        self.assertIs(at.classify_model_host("http://localhost/openrouter.ai/build.nvidia.com"),
                      H.NVIDIA_BUILD)
        self.assertIs(at.classify_model_host("http://127.0.0.1/inference-api.nvidia.com"),
                      H.NVIDIA_INTERNAL)
        self.assertIs(at.classify_model_host("http://localhost/OpenRouter.AI"), H.OPENROUTER)

    def test_model_host_enum(self):
        self.assertEqual([h.value for h in H],
                         ["nvidia-build", "nvidia-internal", "openrouter", "local", "other"])
        self.assertTrue(issubclass(H, str))
        self.assertEqual(H.LOCAL, "local")

    def test_collect_model_hosts(self):
        self.assertEqual(at.collect_model_hosts([H.OTHER, H.LOCAL, H.LOCAL, None,
                                                 H.NVIDIA_BUILD]),
                         ["local", "nvidia-build", "other"])
        self.assertEqual(at.collect_model_hosts([None]), ["other"])
        self.assertEqual(at.collect_model_hosts(iter(["openrouter", H.OPENROUTER])),
                         ["openrouter"])
        hosts = [at.classify_model_host(Provider(e)) for e in
                 ("http://localhost:1", "https://build.nvidia.com", "http://localhost:2")]
        self.assertEqual(at.collect_model_hosts(hosts), ["local", "nvidia-build"])

    def test_sort_join_aliases(self):
        self.assertEqual(at.sort_join_aliases([None, "b", "\u3000a\u00a0", "\tB\n"]), "B,a,b")
        self.assertEqual(at.sort_join_aliases(iter(["z", "y"])), "y,z")
        self.assertEqual(at.sort_join_aliases(["\u00e9", "e", "f"]), "e,f,\u00e9",
                         "byte order of UTF-8 is code point order")
        with self.assertRaises(TypeError):
            at.sort_join_aliases(["a", 5])
        with self.assertRaises(ValueError):
            at.sort_join_aliases(["a\0b"])

    def test_against_the_documented_rules(self):
        rnd = random.Random(20260511)
        pieces = ["build.nvidia.com", "BUILD.NVIDIA.COM", "integrate.api.nvidia.com",
                  "inference-api.nvidia.com", "openrouter.ai", "OpenRouter.AI", "localhost",
                  "127.0.0.1", "0.0.0.0", "[::1]", "https://", "/v1", ":8080", "\u0130",
                  "\u212a", "\0", "example.com", "nvidia", "\ud800", "a", ".", "-"]
        for _ in range(3000):
            e = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 5)))
            self.assertEqual(at.classify_model_host(e).value, ref_classify(e), repr(e))
        # Python's str.lower() turns U+0130 into "i" + U+0307: "openrouter.a" + U+0130
        # contains "openrouter.ai" once lower-cased
        self.assertIs(at.classify_model_host("https://OPENROUTER.A\u0130"), H.OPENROUTER)
        spaces = [" ", "\t", "\n", "\x0b", "\x1c", "\x85", "\u00a0", "\u2003", "\u3000",
                  "\u200b", ""]
        words = ["alias-a", "alias-b", "B", "\u00e9", "\U0001F600", "a b", "\ud800", "z"]
        for _ in range(3000):
            aliases = []
            for _ in range(rnd.randint(0, 6)):
                w = rnd.choice(words + [""])
                aliases.append(rnd.choice(spaces) + w + rnd.choice(spaces))
            if rnd.random() < 0.2:
                aliases.append(None)
            self.assertEqual(at.sort_join_aliases(aliases), ref_sort_join(aliases),
                             repr(aliases))


if __name__ == "__main__":
    unittest.main()
