"""Where the package finds the library: ANON_TELEMETRY_LIB, else the installed library
(beside the installed package, or the dynamic linker's), else the checkout's build/
(libanontelemetry.so.1 before libanontelemetry.so). Importing never needs it."""

from __future__ import annotations

import json
import os
import shutil
import unittest
from pathlib import Path

import support
from support import REQ

LIB = os.environ["ANON_TELEMETRY_LIB"]

# Whether an installed library is there is asked first: once the package has loaded
# one, a dlopen by its SONAME would find that one.
PROBE = """
import ctypes, ctypes.util, json
try:
    ctypes.CDLL("libanontelemetry.so.1")
    system = "libanontelemetry.so.1"
except OSError:
    system = ctypes.util.find_library("anontelemetry")
import anon_telemetry as at
n = at.count_tokens("Hello world")
print(json.dumps({"path": at.library_path(), "count": n, "system": system,
                  "package": at.__file__}))
"""


class LibraryTest(support.TestCase):

    def copy_package(self, dest: Path) -> None:
        shutil.copytree(str(support.ROOT / "python" / "anon_telemetry"), str(dest),
                        ignore=shutil.ignore_patterns("__pycache__", "_installed.py"))

    def probe(self, pythonpath: Path, env=None):
        e = {"ANON_TELEMETRY_LIB": None, "PYTHONPATH": str(pythonpath)}
        e.update(env or {})
        p = support.run_python(PROBE, env=e)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_import_needs_no_library(self):
        p = support.run_python("import anon_telemetry as at; print(at.library_path())",
                               env={"ANON_TELEMETRY_LIB": "/nonexistent.so"})
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "None"), p.stderr)

    def test_anon_telemetry_lib_wins(self):
        p = support.run_python("import anon_telemetry as at; at.count_tokens('x'); "
                               "print(at.library_path())")
        self.assertEqual(p.stdout.strip(), LIB, p.stderr)

    def test_checkout_build_so1_then_so(self):
        top = self.dir / "checkout"
        self.copy_package(top / "python" / "anon_telemetry")
        (top / "spool").mkdir(parents=True)
        (top / "spool" / "anon_telemetry.h").write_text("/* marks a checkout */\n")
        (top / "build").mkdir()
        os.symlink(LIB, str(top / "build" / "libanontelemetry.so"))
        out = self.probe(top / "python")
        want = out["system"] or str(top / "build" / "libanontelemetry.so")
        self.assertEqual(out["path"], want, "an installed library comes before build/")
        self.assertEqual(out["count"], 2)
        os.symlink(LIB, str(top / "build" / "libanontelemetry.so.1"))
        out = self.probe(top / "python")
        self.assertEqual(out["path"], out["system"] or str(top / "build" / "libanontelemetry.so.1"))

    def test_installed_beside_the_package(self):
        # the layout make install makes: PREFIX/lib/python3/dist-packages/anon_telemetry
        # with _installed.py naming LIBDIR, which holds libanontelemetry.so.1
        prefix = self.dir / "prefix"
        pkg = prefix / "lib" / "python3" / "dist-packages" / "anon_telemetry"
        self.copy_package(pkg)
        libdir = self.dir / "prefix" / "lib64"
        libdir.mkdir()
        os.symlink(LIB, str(libdir / "libanontelemetry.so.1"))
        (pkg / "_installed.py").write_text('LIBDIR = %r\n' % str(libdir))
        out = self.probe(pkg.parent)
        self.assertEqual(out["package"], str(pkg / "__init__.py"))
        self.assertEqual(out["path"], str(libdir / "libanontelemetry.so.1"))
        self.assertEqual(out["count"], 2)
        # and it spools with it
        p = support.run_python(
            "import anon_telemetry as at; print(at.spool_events([%r], spool=%r)[0])"
            % (REQ, str(self.db)), env={"ANON_TELEMETRY_LIB": None, "PYTHONPATH": str(pkg.parent)})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([r["uuid"] for r in support.rows(self.db)], [p.stdout.strip()])


if __name__ == "__main__":
    unittest.main()
