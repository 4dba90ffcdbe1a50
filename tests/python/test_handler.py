"""The handler never raises into its caller: opt-outs, invalid events among valid ones
(with the writer command's messages), unwritable spools, a full disk, a missing or too
old library. spool_events raises SpoolError instead."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sqlite3
import subprocess
import textwrap
import unittest

import support
from support import REQ, anon_telemetry as at

_native = __import__("anon_telemetry._native", fromlist=["_native"])


def to_bytes(ev) -> bytes:
    """The bytes the package hands the library for a mapping (and the command gets)."""
    return json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


def writer_message(data: bytes) -> str:
    """What anon-telemetry-spool says about one bad event, without its prefix."""
    p = subprocess.run([str(support.SPOOL_BIN), "--spool", "/nonexistent/never.db"],
                       input=data, capture_output=True)
    assert p.returncode == 65, (p.returncode, p.stderr)
    prefix = b"anon-telemetry-spool: line 1: "
    err = p.stderr.strip()
    assert err.startswith(prefix), err
    return err[len(prefix):].decode()


# bad events the JSON of which the writer command can be given too
BAD = [
    ("wrong type", dict(REQ, numInputRecords="5"), "numInputRecords"),
    ("fraction for an integer", dict(REQ, numInputRecords=1.5), "numInputRecords"),
    ("boolean for an integer", dict(REQ, numSuccessRecords=True), "numSuccessRecords"),
    ("string for a boolean", dict(REQ, strictEntityProtection="true"), "strictEntityProtection"),
    ("null for a string", dict(REQ, entityDetectorModel=None), "entityDetectorModel"),
    ("missing required", {k: v for k, v in REQ.items() if k != "taskStatus"}, "taskStatus"),
    ("unknown field", dict(REQ, bogusField=1), "bogusField"),
    ("bad enum value", dict(REQ, task="nightly"), "task"),
    ("control character", dict(REQ, judgeModel="a\nb"), "judgeModel"),
    ("too long", dict(REQ, judgeModel="x" * 5000), "judgeModel"),
    ("non-string host", dict(REQ, modelHosts=["local", 1]), "modelHosts"),
    ("alias and snake_case", dict(REQ, task_status="completed"), "task_status"),
    ("lone surrogate", dict(REQ, rewriterModel="a\udc80b"), "rewriterModel"),
]


class HandlerTest(support.TestCase):

    def test_emit_telemetry_false(self):
        with at.TelemetryHandler(spool=str(self.db), emit_telemetry=False) as h:
            self.assertFalse(h.enqueue(REQ))
            self.assertFalse(h.enqueue({"garbage": 1}), "not even validated")
            h.flush()
        self.assertIsNone(h.last_error)
        self.assertEqual(h.uuids, [])
        self.assertFalse(self.db.exists(), "no spool is created")

    def test_nemo_telemetry_enabled_values(self):
        for value, enabled in [("false", False), ("0", False), ("no", False), ("off", False),
                               ("", False), ("FALSE", False), ("disabled", False),
                               ("1", True), ("true", True), ("TRUE", True), ("yes", True),
                               ("Yes", True), (None, True)]:
            with self.subTest(value=value):
                db = self.dir / ("s-%s.db" % (value or "unset" if value is not None else "none"))
                if value is None:
                    os.environ.pop("NEMO_TELEMETRY_ENABLED", None)
                else:
                    os.environ["NEMO_TELEMETRY_ENABLED"] = value
                with at.TelemetryHandler(spool=str(db)) as h:
                    self.assertEqual(h.enqueue(REQ), enabled)
                self.assertIsNone(h.last_error)
                self.assertEqual(len(support.rows(db)), 1 if enabled else 0)
                self.assertEqual(db.exists(), enabled)
                self.assertEqual(at.spool_events([REQ], spool=str(db)) != [], enabled)

    def test_opt_out_after_enqueue_holds_for_what_was_queued(self):
        with at.TelemetryHandler(spool=str(self.db)) as h:
            self.assertTrue(h.enqueue(REQ))
            os.environ["NEMO_TELEMETRY_ENABLED"] = "false"
        self.assertIsNone(h.last_error)
        self.assertEqual(h.pending, 0)
        self.assertEqual(support.rows(self.db), [])

    def test_invalid_among_valid_same_messages_as_the_writer(self):
        for desc, ev, field in BAD:
            with self.subTest(desc):
                db = self.dir / ("%s.db" % desc.replace(" ", "-"))
                with self.assertLogs("anon_telemetry", "WARNING") as logs:
                    with at.TelemetryHandler(spool=str(db)) as h:
                        self.assertTrue(h.enqueue(dict(REQ, numInputRecords=1)))
                        self.assertFalse(h.enqueue(ev))
                        err = h.last_error
                        self.assertTrue(h.enqueue(dict(REQ, numInputRecords=2)))
                        self.assertIsNone(h.last_error, "a later success clears it")
                self.assertIsNotNone(err)
                self.assertRegex(err, "^%s[:[]" % field)
                self.assertEqual(err, writer_message(to_bytes(ev)))
                self.assertTrue(any(field in m for m in logs.output), logs.output)
                self.assertIsNone(h.last_error)
                self.assertEqual([p["numInputRecords"] for p in support.stored_params(db)],
                                 [1, 2], "the valid ones, and only them")

    def test_values_json_cannot_carry(self):
        for desc, ev, field in [("NaN", dict(REQ, jobDurationSec=float("nan")), "jobDurationSec"),
                                ("infinity", dict(REQ, jobDurationSec=float("inf")), "jobDurationSec"),
                                ("an object", dict(REQ, judgeModel=object()), "judgeModel")]:
            with self.subTest(desc):
                with at.TelemetryHandler(spool=str(self.db)) as h:
                    self.assertFalse(h.enqueue(ev))
                    self.assertTrue(h.last_error.startswith(field + ":"), h.last_error)
                self.assertEqual(support.rows(self.db), [])

    def test_not_an_event(self):
        class Broken:
            def model_dump(self, **kw):
                raise RuntimeError("model_dump exploded")

        class DictNotMapping:
            def dict(self, **kw):
                return ["not", "a", "mapping"]

        with at.TelemetryHandler(spool=str(self.db)) as h:
            for ev, says in [(None, "NoneType"), (42, "int"), ("task", "str"), ([REQ], "list"),
                             (Broken(), "exploded"), (DictNotMapping(), "mapping")]:
                with self.subTest(ev=type(ev).__name__):
                    self.assertFalse(h.enqueue(ev))
                    self.assertIn(says, h.last_error)
        self.assertEqual(support.rows(self.db), [])

    def assert_flush_fails(self, spool, says):
        """Events are validated and queued, the flush fails without raising, names the
        reason and keeps them; leaving the block drops them, logged, without raising."""
        with self.assertLogs("anon_telemetry", "WARNING") as logs:
            with at.TelemetryHandler(spool=str(spool)) as h:
                self.assertTrue(h.enqueue(REQ))
                self.assertTrue(h.enqueue(REQ))
                h.flush()
                self.assertEqual(h.pending, 2, "kept for a later flush")
                self.assertIn(says, h.last_error)
        self.assertIn(says, h.last_error)
        self.assertEqual(h.uuids, [])
        self.assertEqual(h.pending, 0)
        self.assertTrue(any(says in m for m in logs.output), logs.output)
        self.assertTrue(any("dropped" in m for m in logs.output), logs.output)
        return h

    def test_unwritable_spools(self):
        blocker = self.dir / "a-file"
        blocker.write_text("not a directory\n")
        self.assert_flush_fails(blocker / "spool.db", str(blocker))
        (self.dir / "dir.db").mkdir()
        self.assert_flush_fails(self.dir / "dir.db", "not a regular file")
        open_dir = self.dir / "open"
        open_dir.mkdir()
        os.chmod(open_dir, 0o777)
        self.assert_flush_fails(open_dir / "spool.db", "writable")
        (self.dir / "garbage.db").write_bytes(b"this is not an SQLite database" * 100)
        self.assert_flush_fails(self.dir / "garbage.db", "garbage.db")

    def test_newer_spool_refused(self):
        at.spool_events([REQ], spool=str(self.db))
        con = sqlite3.connect(str(self.db))
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
        h = self.assert_flush_fails(self.db, "newer")
        self.assertIn(str(self.db), h.last_error)

    def test_flush_retried_after_a_failure(self):
        blocker = self.dir / "later"
        blocker.write_text("x")
        spool = blocker / "spool.db"
        with at.TelemetryHandler(spool=str(spool)) as h:
            for i in range(3):
                h.enqueue(dict(REQ, numInputRecords=i))
            with self.assertLogs("anon_telemetry", "WARNING"):
                h.flush()
            self.assertIsNotNone(h.last_error)
            blocker.unlink()
            h.enqueue(dict(REQ, numInputRecords=3))
            h.flush()
            self.assertIsNone(h.last_error)
        self.assertEqual([p["numInputRecords"] for p in support.stored_params(spool)],
                         [0, 1, 2, 3], "nothing lost, in order")
        self.assertEqual(len(h.uuids), 4)

    def test_busy_spool(self):
        # another process holds the write lock past the busy timeout: the flush fails
        # (ANON_EBUSY, or EIO from a library that predates it), keeps the events, and a
        # later flush stores them
        at.spool_events([REQ], spool=str(self.db))
        os.environ["ANON_TELEMETRY_BUSY_TIMEOUT"] = "0.3"
        self.addCleanup(os.environ.pop, "ANON_TELEMETRY_BUSY_TIMEOUT", None)
        locker = sqlite3.connect(str(self.db), isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        with at.TelemetryHandler(spool=str(self.db)) as h:
            h.enqueue(REQ)
            with self.assertLogs("anon_telemetry", "WARNING"):
                h.flush()
            self.assertRegex(h.last_error, "locked|busy")
            self.assertEqual(h.pending, 1)
            locker.execute("ROLLBACK")
            locker.close()
            h.flush()
            self.assertIsNone(h.last_error)
        self.assertEqual(len(support.rows(self.db)), 2)

    def test_caller_exception_propagates_and_events_are_stored(self):
        with self.assertRaises(KeyError):
            with at.TelemetryHandler(spool=str(self.db)) as h:
                h.enqueue(dict(REQ, taskStatus="error"))
                raise KeyError("the pipeline failed")
        self.assertEqual([p["taskStatus"] for p in support.stored_params(self.db)], ["error"])

    def test_bad_session_id_and_version(self):
        for kw, says in [({"session_id": "a\nb"}, "session id"),
                         ({"session_id": "a\0b"}, "session_id"),
                         ({"source_client_version": "x" * 5000}, "client version")]:
            with self.subTest(kw=kw):
                with self.assertLogs("anon_telemetry", "WARNING"):
                    with at.TelemetryHandler(spool=str(self.db), **kw) as h:
                        self.assertTrue(h.enqueue(REQ))
                self.assertIn(says, h.last_error)
        self.assertEqual(support.rows(self.db), [])

    def test_spool_events_raises(self):
        with self.assertRaises(at.SpoolError) as cm:
            at.spool_events([REQ, dict(REQ, task="nightly"), REQ], spool=str(self.db))
        self.assertTrue(str(cm.exception).startswith("event 2: task: unknown value"),
                        str(cm.exception))
        self.assertEqual(cm.exception.status, 2)  # ANON_EINVAL
        self.assertFalse(self.db.exists(), "nothing stored, nothing created")
        with self.assertRaises(at.SpoolError) as cm:
            at.spool_events(REQ, spool=str(self.db))
        self.assertIn("iterable of events", str(cm.exception))

        class Broken:
            def model_dump(self, **kw):
                raise RuntimeError("model_dump exploded")

        with self.assertRaises(at.SpoolError) as cm:
            at.spool_events([REQ, Broken()], spool=str(self.db))
        self.assertEqual(str(cm.exception), "event 2: model_dump exploded")
        self.assertFalse(self.db.exists())
        (self.dir / "f").write_text("x")
        with self.assertRaises(at.SpoolError) as cm:
            at.spool_events([REQ], spool=str(self.dir / "f" / "s.db"))
        self.assertNotIn(cm.exception.status, (None, 0, 1))
        self.assertEqual(at.spool_events([REQ], spool=str(self.db), emit_telemetry=False), [])

    def test_unknown_status_is_a_failure_with_its_name(self):
        lib = _native.load()
        err = ctypes.create_string_buffer(_native.ERRLEN)
        e = lib.error(42, err)
        self.assertIsInstance(e, at.SpoolError)
        self.assertEqual((str(e), e.status), ("unknown status (status 42)", 42))
        err.value = b"spool s.db: database is locked"
        self.assertEqual(str(lib.error(9, err)), "spool s.db: database is locked")


SCRIPT = textwrap.dedent("""
    import json, logging, sys
    records = []
    class Keep(logging.Handler):
        def emit(self, r):
            records.append(r.getMessage())
    logging.getLogger("anon_telemetry").addHandler(Keep())
    import anon_telemetry as at
    REQ = %r
    SPOOL = sys.argv[1] if len(sys.argv) > 1 else %r
    out = {}
    with at.TelemetryHandler(spool=SPOOL) as h:
        out["enqueued"] = [h.enqueue(dict(REQ, numInputRecords=i)) for i in range(5)]
        out["after_enqueue"] = h.last_error
        h.flush()
        out["after_flush"] = h.last_error
    out["after_exit"] = h.last_error
    out["uuids"] = h.uuids
    out["count_tokens"] = at.count_tokens("Hello world")
    out["avg"] = at.avg_tokens_per_record(["Hello world"])
    for name, call in [("spool_events", lambda: at.spool_events([REQ], spool=SPOOL)),
                       ("classify", lambda: at.classify_model_host("http://localhost"))]:
        try:
            call()
            out[name] = None
        except at.SpoolError as e:
            out[name] = str(e)
    out["log"] = records
    print(json.dumps(out))
""")


class ProcessTest(support.TestCase):
    """A handler in a process of its own: a missing or too old library, a full disk."""

    def run_script(self, env, spool=None):
        p = support.run_python(SCRIPT % (REQ, str(spool or self.db)), env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("Traceback", p.stderr)
        return json.loads(p.stdout)

    def test_missing_library(self):
        out = self.run_script({"ANON_TELEMETRY_LIB": str(self.dir / "libanontelemetry.so.1")})
        self.assertEqual(out["enqueued"], [False] * 5)
        for k in ("after_enqueue", "after_exit", "spool_events", "classify"):
            self.assertIn("ANON_TELEMETRY_LIB", out[k], k)
            self.assertIn(str(self.dir), out[k], k)
        self.assertEqual((out["count_tokens"], out["avg"], out["uuids"]), (-1, -1, []))
        self.assertTrue(any("cannot load libanontelemetry" in m for m in out["log"]), out["log"])
        self.assertFalse(self.db.exists())

    def test_library_too_old(self):
        other = ctypes.util.find_library("sqlite3")
        self.assertIsNotNone(other)
        out = self.run_script({"ANON_TELEMETRY_LIB": other})
        self.assertEqual(out["enqueued"], [False] * 5)
        self.assertIn("lacks anon_", out["after_exit"])

    def test_full_disk(self):
        faultfs = os.environ.get("ANON_FAULTFS") or str(support.BUILD / "faultfs.so")
        self.assertTrue(os.path.exists(faultfs),
                        "%s is missing: make BUILD=... test builds it" % faultfs)
        first = at.spool_events([REQ], spool=str(self.db))
        preload = " ".join(x for x in (os.environ.get("LD_PRELOAD"), faultfs) if x)
        out = self.run_script({"LD_PRELOAD": preload, "FAULTFS_FAIL": "pwrite,write",
                               "FAULTFS_ERRNO": "ENOSPC", "FAULTFS_AFTER": "1",
                               "FAULTFS_PATH": str(self.db) + "-wal"})
        self.assertEqual(out["enqueued"], [True] * 5)
        self.assertIsNone(out["after_enqueue"])
        for k in ("after_flush", "after_exit"):
            self.assertIn("database or disk is full", out[k], k)
        self.assertTrue(any("dropped" in m for m in out["log"]), out["log"])
        self.assertEqual([r["uuid"] for r in support.rows(self.db)], first,
                         "what was stored before is intact, nothing half-stored")
        con = sqlite3.connect(str(self.db))
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        con.close()


if __name__ == "__main__":
    unittest.main()
