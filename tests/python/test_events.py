"""Events from mappings (aliases, snake_case names), pydantic-style objects and pydantic 1
models are stored value for value as the Anonymizer would post them."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import time
import types
import unittest

import models
import support
from support import FULL, REQ, anon_telemetry as at

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def ts_ms(s: str) -> int:
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000 + 0.5)


class EventsTest(support.TestCase):

    def spool_one(self, event, **kw):
        with at.TelemetryHandler(spool=str(self.db), **kw) as h:
            self.assertTrue(h.enqueue(event), h.last_error)
        self.assertIsNone(h.last_error)
        self.assertEqual(len(h.uuids), 1)
        return h

    def test_alias_mapping_every_field_type(self):
        self.spool_one(FULL)
        (params,) = support.stored_params(self.db)
        self.assertEqual(list(params), support.ALIASES, "all 38 keys, in wire order")
        self.assertEqual(params, FULL)
        for k, v in FULL.items():
            self.assertIs(type(params[k]), type(v), k)
        raw = support.rows(self.db)[0]["parameters"]
        self.assertIn('"jobDurationSec":41.25,', raw)
        self.assertIn('"modelHosts":["local","nvidia-build"]', raw)

    def test_snake_case_mapping(self):
        self.spool_one(support.snake(FULL))
        self.assertEqual(support.stored_params(self.db), [FULL])

    def test_defaults_filled(self):
        self.spool_one(REQ)
        (params,) = support.stored_params(self.db)
        self.assertEqual(list(params), support.ALIASES)
        self.assertEqual(params, support.defaults())
        raw = support.rows(self.db)[0]["parameters"]
        self.assertIn('"jobDurationSec":-1.0,', raw, "-1.0 stays a float")
        self.assertIs(type(params["jobDurationSec"]), float)

    def test_numbers_as_python_writes_them(self):
        cases = [(-1.0, "-1.0"), (12, "12.0"), (0.1, "0.1"), (1e16, "1e+16"),
                 (123456.789, "123456.789")]
        with at.TelemetryHandler(spool=str(self.db)) as h:
            for v, _ in cases:
                self.assertTrue(h.enqueue(dict(REQ, jobDurationSec=v)), h.last_error)
        raws = [r["parameters"] for r in support.rows(self.db)]
        for (v, text), raw in zip(cases, raws):
            self.assertIn('"jobDurationSec":%s,' % text, raw, v)
            self.assertEqual(text, json.dumps(float(v)))

    def test_deployment_type_default_is_read_at_enqueue(self):
        with at.TelemetryHandler(spool=str(self.db)) as h:
            os.environ["NEMO_DEPLOYMENT_TYPE"] = "CLI"
            h.enqueue(REQ)
            os.environ["NEMO_DEPLOYMENT_TYPE"] = "something-else"
            h.enqueue(REQ)
            del os.environ["NEMO_DEPLOYMENT_TYPE"]
            h.enqueue(REQ)
            os.environ["NEMO_DEPLOYMENT_TYPE"] = "nmp"   # at flush time: too late
        self.assertEqual([p["deploymentType"] for p in support.stored_params(self.db)],
                         ["cli", "undefined", "sdk"])

    def test_stand_in_model_dump(self):
        dump = support.defaults(task="preview", numInputRecords=7, modelHosts=["local"])
        ev = models.StandIn(dump)
        self.spool_one(ev)
        self.assertEqual(ev.calls, [{"by_alias": True, "mode": "json"}])
        self.assertEqual(support.stored_params(self.db), [dump])

    def test_pydantic2_model(self):
        # the stand-in always; a real pydantic 2 model too where pydantic 2 is installed
        dumps = [dict(FULL)]
        model = models.v2_model()
        if model is not None:
            m = model(**support.snake(dict(REQ, numInputRecords=5, jobDurationSec=-1.0)))
            dumps.append(m.model_dump(by_alias=True, mode="json"))
            self.assertTrue(self.enqueue_all([m]))
        self.assertTrue(self.enqueue_all([models.StandIn(dumps[0])]))
        stored = support.stored_params(self.db)
        self.assertEqual(sorted(map(json.dumps, stored)), sorted(map(json.dumps, dumps)))

    def enqueue_all(self, events):
        with at.TelemetryHandler(spool=str(self.db)) as h:
            ok = all(h.enqueue(e) for e in events)
        return ok and h.last_error is None

    def test_pydantic1_model(self):
        model = models.v1_model()
        by_name = model(**support.snake(dict(REQ, task=models.TaskEnum.PREVIEW,
                                             numInputRecords=12, jobDurationSec=3,
                                             modelHosts=["local", "other"])))
        by_alias = model(**FULL)
        required_only = model(**REQ)
        self.assertIsInstance(by_name.dict(by_alias=True)["task"], models.TaskEnum,
                              "pydantic 1 dumps enum members, not strings")
        with at.TelemetryHandler(spool=str(self.db)) as h:
            for m in (by_name, by_alias, required_only):
                self.assertTrue(h.enqueue(m), h.last_error)
        expected = [json.loads(m.json(by_alias=True)) for m in (by_name, by_alias, required_only)]
        self.assertEqual(support.stored_params(self.db), expected)
        self.assertEqual(expected[2], support.defaults())
        self.assertEqual(expected[0]["jobDurationSec"], 3.0)

    def test_mapping_kinds_and_enum_values(self):
        ev = types.MappingProxyType(dict(REQ, task=models.TaskEnum.PREVIEW,
                                         modelHosts=("local", at.ModelHostEnum.OTHER)))
        self.spool_one(ev)
        (params,) = support.stored_params(self.db)
        self.assertEqual(params["task"], "preview")
        self.assertEqual(params["modelHosts"], ["local", "other"])

    def test_session_prefix_applied_once(self):
        os.environ["NEMO_SESSION_PREFIX"] = "anonymizer-"
        self.spool_one(REQ, session_id="3f2a", source_client_version="1.4.0")
        self.spool_one(REQ)
        self.spool_one(REQ, session_id=None)
        r = support.rows(self.db)
        self.assertEqual(r[0]["session_id"], "anonymizer-3f2a")
        self.assertEqual(r[0]["client_version"], "1.4.0")
        self.assertEqual(r[1]["session_id"], "anonymizer-undefined")
        self.assertEqual(r[1]["client_version"], "undefined")
        self.assertRegex(r[2]["session_id"], r"^anonymizer-[0-9a-f]{32}$")
        del os.environ["NEMO_SESSION_PREFIX"]
        self.spool_one(REQ, session_id="3f2a")
        self.assertEqual(support.rows(self.db)[3]["session_id"], "3f2a")

    def test_rows(self):
        h = self.spool_one(REQ)
        (r,) = support.rows(self.db)
        self.assertEqual(h.uuids, [r["uuid"]])
        self.assertRegex(r["uuid"], UUID_RE)
        self.assertEqual((r["name"], r["schema_version"], r["status"], r["retry_count"]),
                         ("anonymizer_event", "1.7", "pending", 0))
        self.assertEqual(r["cpu_architecture"], os.uname().machine)
        self.assertEqual(os.stat(self.db).st_mode & 0o777, 0o600)

    def test_ts_is_the_time_of_enqueue(self):
        with at.TelemetryHandler(spool=str(self.db)) as h:
            t0 = time.time_ns() // 1_000_000
            h.enqueue(REQ)
            t1 = time.time_ns() // 1_000_000
            time.sleep(0.3)
            h.enqueue(REQ)
            t2 = time.time_ns() // 1_000_000
        r = support.rows(self.db)
        self.assertRegex(r[0]["queued_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        first, second = ts_ms(r[0]["queued_at"]), ts_ms(r[1]["queued_at"])
        self.assertTrue(t0 <= first <= t1, (t0, first, t1))
        self.assertTrue(t1 + 300 <= second <= t2, (t1, second, t2))

    def test_default_spool_path(self):
        os.environ["ANON_TELEMETRY_SPOOL"] = str(self.dir / "env.db")
        with at.TelemetryHandler() as h:
            h.enqueue(REQ)
        self.assertIsNone(h.last_error)
        self.assertEqual(len(support.rows(self.dir / "env.db")), 1)

    def test_same_parameters_as_the_writer_command(self):
        events = [FULL, support.snake(FULL), REQ, dict(REQ, jobDurationSec=2, modelHosts=[])]
        cmd_db = self.dir / "cmd.db"
        subprocess.run([str(support.SPOOL_BIN), "--spool", str(cmd_db)], check=True,
                       input="".join(json.dumps(e) + "\n" for e in events),
                       capture_output=True, text=True)
        with at.TelemetryHandler(spool=str(self.db)) as h:
            for e in events:
                h.enqueue(e)
        self.assertEqual([r["parameters"] for r in support.rows(self.db)],
                         [r["parameters"] for r in support.rows(cmd_db)])

    def test_spool_events(self):
        os.environ["NEMO_SESSION_PREFIX"] = "p-"
        uuids = at.spool_events([REQ, models.StandIn(FULL)], spool=str(self.db),
                                session_id="s", source_client_version="2.0")
        r = support.rows(self.db)
        self.assertEqual(uuids, [x["uuid"] for x in r])
        self.assertEqual([x["session_id"] for x in r], ["p-s", "p-s"])
        self.assertEqual([x["client_version"] for x in r], ["2.0", "2.0"])
        self.assertEqual(support.stored_params(self.db), [support.defaults(), FULL])
        self.assertEqual(at.spool_events([], spool=str(self.db)), [])
        self.assertEqual(at.spool_events(iter([REQ]), spool=str(self.db))[0],
                         support.rows(self.db)[-1]["uuid"], "any iterable")


if __name__ == "__main__":
    unittest.main()
