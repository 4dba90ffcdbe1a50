"""Many handlers in many threads, one handler shared by many threads, and many processes,
all spooling into one file at once: every event stored exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import unittest
from collections import Counter

import support
from support import REQ, anon_telemetry as at

THREADS = 8
PROCESSES = 8
EACH = 200


class ConcurrencyTest(support.TestCase):

    def check_stored(self, uuids_by_writer):
        rows = support.rows(self.db)
        self.assertEqual(len(rows), THREADS * EACH)
        self.assertEqual(len({r["uuid"] for r in rows}), len(rows), "no uuid twice")
        got = Counter((r["session_id"], r["parameters"]) for r in rows)
        self.assertEqual(max(got.values()), 1, "no event stored twice")
        per_session = Counter(r["session_id"] for r in rows)
        self.assertEqual(per_session, Counter({s: EACH for s in uuids_by_writer}))
        stored = {r["uuid"] for r in rows}
        for s, uuids in uuids_by_writer.items():
            self.assertEqual(len(uuids), EACH, s)
            self.assertTrue(set(uuids) <= stored, s)

    def test_threads_with_a_handler_each(self):
        uuids, errors = {}, []
        start = threading.Barrier(THREADS)

        def writer(k):
            sid = "thread-%d" % k
            # half of them flush after every event: many small transactions racing
            with at.TelemetryHandler(spool=str(self.db), session_id=sid) as h:
                start.wait()
                for i in range(EACH):
                    if not h.enqueue(dict(REQ, numInputRecords=i)):
                        errors.append(h.last_error)
                    if k % 2:
                        h.flush()
            if h.last_error is not None:
                errors.append(h.last_error)
            uuids[sid] = h.uuids

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.check_stored(uuids)

    def test_threads_sharing_one_handler(self):
        errors = []
        done = threading.Event()
        with at.TelemetryHandler(spool=str(self.db), session_id="shared") as h:
            def writer(k):
                for i in range(EACH):
                    if not h.enqueue(dict(REQ, numInputRecords=k * 1000 + i)):
                        errors.append(h.last_error)

            def flusher():
                while not done.is_set():
                    h.flush()

            f = threading.Thread(target=flusher)
            f.start()
            threads = [threading.Thread(target=writer, args=(k,)) for k in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            done.set()
            f.join()
        self.assertEqual(errors, [])
        self.assertIsNone(h.last_error)
        rows = support.rows(self.db)
        self.assertEqual(sorted(r["uuid"] for r in rows), sorted(h.uuids))
        self.assertEqual(sorted(p["numInputRecords"] for p in support.stored_params(self.db)),
                         sorted(k * 1000 + i for k in range(THREADS) for i in range(EACH)))

    def test_processes(self):
        code = textwrap.dedent("""
            import json, sys
            import anon_telemetry as at
            k = int(sys.argv[1])
            sys.stdin.readline()  # start together
            with at.TelemetryHandler(spool=%r, session_id="process-%%d" %% k) as h:
                for i in range(%d):
                    h.enqueue(dict(%r, numInputRecords=i))
                    if i %% 20 == 19 and k %% 2:
                        h.flush()
            print(json.dumps({"uuids": h.uuids, "error": h.last_error}))
        """) % (str(self.db), EACH, REQ)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(support.ROOT / "python")
        procs = [subprocess.Popen([sys.executable, "-c", code, str(k)], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for k in range(PROCESSES)]
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        uuids = {}
        for k, p in enumerate(procs):
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, err)
            res = json.loads(out)
            self.assertIsNone(res["error"])
            uuids["process-%d" % k] = res["uuids"]
        self.check_stored(uuids)


if __name__ == "__main__":
    unittest.main()
