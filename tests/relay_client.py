#!/usr/bin/env python3
"""A client that posts telemetry as NeMo Anonymizer's handler does (httpx, json= body),
for the relay's tests, demo and benchmark.

    relay_client.py post --url URL --events N [--session S] [--client-version V]
                         [--schema 1.7] [--batch 50] [--first K] [--log FILE]
                         [--header 'Name: value']...

Builds N distinct events (numInputRecords = K, K+1, ...; some floats written -1.0, one
1e+16, key order as the Anonymizer's model dumps them), queues them, and flushes as the
handler's flush does: batches of at most --batch (max_queue_size, 50) events, one
envelope each, posted with httpx's json=; a 413 splits the batch in halves and each
half is posted (a single event answered 413 is dropped), a 2xx is done, anything else
drops the batch. --log gets one JSON line per POST: {"status": S, "envelope": {...}}.
Prints a summary: {"posted": requests, "accepted": events answered 2xx, "dropped": N,
"statuses": {...}, "splits": N}.

    relay_client.py compare --spool DB --log FILE [--collector LOG]

Checks the relay's spool (and, with --collector, what anon-telemetry-ship then delivered
to tests/collector.py) against the envelopes the client had accepted: every event stored
once with its ts, session id, client version, CPU architecture, schema version and its
parameters of the same values, types and key order; the collector's envelopes equal the
posted ones but for sentTs. Prints "ok N" or the first differences, exit 1.
"""
import argparse
import datetime
import json
import platform
import sqlite3
import sys

ENVELOPE_CONST = [
    ("browserType", "undefined"), ("clientId", "184482118588404"), ("clientType", "Native"),
    ("clientVariant", "Release"),
]
ENVELOPE_CONST2 = [
    ("deviceGdprBehOptIn", "None"), ("deviceGdprFuncOptIn", "None"),
    ("deviceGdprTechOptIn", "None"), ("deviceId", "undefined"), ("deviceMake", "undefined"),
    ("deviceModel", "undefined"), ("deviceOS", "undefined"), ("deviceOSVersion", "undefined"),
    ("deviceType", "undefined"), ("eventProtocol", "1.6"),
]
ENVELOPE_CONST3 = [
    ("eventSysVer", "nemo-telemetry/1.0"), ("externalUserId", "undefined"),
    ("gdprBehOptIn", "None"), ("gdprFuncOptIn", "None"), ("gdprTechOptIn", "None"),
    ("idpId", "undefined"), ("integrationId", "undefined"), ("productName", "undefined"),
    ("productVersion", "undefined"),
]


def ts(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000.0, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def parameters(i, schema):
    """One event's parameters as the Anonymizer's model_dump(by_alias=True) orders them."""
    p = {
        "nemoSource": "anonymizer", "task": "batch" if i % 3 else "preview",
        "taskStatus": "completed", "deploymentType": "sdk",
        # floats stay floats: -1.0 (the default), a fraction, a huge one written 1e+16
        "jobDurationSec": -1.0 if i % 4 == 0 else (1e16 if i % 97 == 5 else i + 0.25),
        "numInputRecords": i, "numSuccessRecords": i, "numFailureRecords": 0,
        "avgTokensPerRecord": -1, "transformationType": "redact",
        "customDataSummaryProvided": False, "customPrivacyGoalProvided": i % 2 == 0,
        "customSubstituteInstructionsProvided": False, "maxRepairIterations": -1,
        "strictEntityProtection": False, "repairIterationsTriggered": -1,
        "entityDetectorModel": "gliner-pii,gliner-pii-large" if i % 5 == 0 else "gliner-pii",
        "entityValidatorModel": "validator-\u00e9", "entityAugmenterModel": "augmenter",
        "latentDetectorModel": "not_applicable", "replacementGeneratorModel": "not_applicable",
        "domainClassifierModel": "not_applicable", "dispositionAnalyzerModel": "not_applicable",
        "meaningExtractorModel": "not_applicable", "qaGeneratorModel": "not_applicable",
        "rewriterModel": "not_applicable", "evaluatorModel": "not_applicable",
        "repairerModel": "not_applicable", "judgeModel": "not_applicable",
        "modelHosts": ["local", "nvidia-build"], "entityDetectionFailureCount": 0,
        "latentDetectionFailureCount": 0, "replaceMapGenerationFailureCount": 0,
        "rewritePipelineFailureCount": 0, "rewriteEvaluateFailureCount": 0,
        "rewriteRepairFailureCount": 0, "rewriteFinalJudgeFailureCount": 0,
        "unknownStepFailureCount": 0,
    }
    if schema != "1.7":
        p["futureField"] = {"nested": [1, 2.50, None]}
    return p


def envelope(events, session, client_version, schema, arch):
    env = dict(ENVELOPE_CONST)
    env["clientVer"] = client_version
    env["cpuArchitecture"] = arch
    env.update(ENVELOPE_CONST2)
    env["eventSchemaVer"] = schema
    env.update(ENVELOPE_CONST3)
    env["sentTs"] = ts(int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000))
    env["sessionId"] = session
    env["userId"] = "undefined"
    env["events"] = events
    return env


def cmd_post(a):
    import httpx

    headers = {}
    for h in a.header:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    base = int(datetime.datetime(2026, 5, 11, 12, tzinfo=datetime.timezone.utc).timestamp() * 1000)
    queued = [{"ts": ts(base + (a.first + i) * 7), "parameters": parameters(a.first + i, a.schema),
               "name": "anonymizer_event"} for i in range(a.events)]
    summary = {"posted": 0, "accepted": 0, "dropped": 0, "statuses": {}, "splits": 0}
    log = open(a.log, "a") if a.log else None

    with httpx.Client(timeout=a.timeout, headers=headers) as client:
        def send(batch):
            env = envelope(batch, a.session, a.client_version, a.schema, a.arch)
            try:
                r = client.post(a.url, json=env)
                status = r.status_code
            except httpx.HTTPError as e:
                status = "error: %s" % type(e).__name__
            summary["posted"] += 1
            key = str(status)
            summary["statuses"][key] = summary["statuses"].get(key, 0) + 1
            if log is not None:
                log.write(json.dumps({"status": status, "envelope": env}) + "\n")
                log.flush()
            if status == 413 and len(batch) > 1:
                # the handler's rule: split in two halves and send each
                summary["splits"] += 1
                half = len(batch) // 2
                send(batch[:half])
                send(batch[half:])
            elif isinstance(status, int) and 200 <= status < 300:
                summary["accepted"] += len(batch)
            else:
                summary["dropped"] += len(batch)

        # flush(): the queue in batches of max_queue_size
        for k in range(0, len(queued), a.batch):
            send(queued[k:k + a.batch])
    if log is not None:
        log.close()
    print(json.dumps(summary))
    return 0


def same(a, b, where, diffs):
    """Equal values of equal JSON types (1 is not 1.0), dict keys in the same order."""
    if type(a) is not type(b):
        diffs.append("%s: %r (%s) != %r (%s)" % (where, a, type(a).__name__, b, type(b).__name__))
    elif isinstance(a, dict):
        if list(a) != list(b):
            diffs.append("%s: keys %s != %s" % (where, list(a), list(b)))
        for k in a:
            if k in b:
                same(a[k], b[k], where + "." + k, diffs)
    elif isinstance(a, list):
        if len(a) != len(b):
            diffs.append("%s: %d items != %d" % (where, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, "%s[%d]" % (where, i), diffs)
    elif a != b:
        diffs.append("%s: %r != %r" % (where, a, b))


def cmd_compare(a):
    posted = [json.loads(line) for line in open(a.log)]
    accepted = [p["envelope"] for p in posted
                if isinstance(p["status"], int) and 200 <= p["status"] < 300]
    db = sqlite3.connect(a.spool)
    rows = db.execute("SELECT uuid, queued_at, name, session_id, client_version, cpu_architecture,"
                      " schema_version, parameters FROM events ORDER BY id").fetchall()
    diffs = []
    # numInputRecords is each event's serial: it finds the stored row of a posted event
    stored = {}
    for r in rows:
        serial = json.loads(r[7]).get("numInputRecords")
        if serial in stored:
            diffs.append("event %s stored twice" % serial)
        stored[serial] = r
    n = 0
    for env in accepted:
        for ev in env["events"]:
            n += 1
            serial = ev["parameters"]["numInputRecords"]
            r = stored.pop(serial, None)
            if r is None:
                diffs.append("event %s answered 2xx but not in the spool" % serial)
                continue
            want = (ev["ts"], ev["name"], env["sessionId"], env["clientVer"],
                    env["cpuArchitecture"], env["eventSchemaVer"])
            if tuple(r[1:7]) != want:
                diffs.append("event %s: stored %s, posted %s" % (serial, r[1:7], want))
            same(json.loads(r[7]), ev["parameters"], "event %s parameters" % serial, diffs)
    if stored:
        diffs.append("%d events in the spool that no 2xx answer covers" % len(stored))
    if a.collector:
        got = []
        for line in open(a.collector):
            e = json.loads(line)
            if e.get("status") and 200 <= e["status"] < 300 and e["method"] == "POST":
                env = json.loads(e["body"])
                env.pop("sentTs", None)
                got.append(env)
        want = []
        for env in accepted:
            env = dict(env)
            env.pop("sentTs", None)
            want.append(env)
        key = lambda env: env["events"][0]["parameters"]["numInputRecords"]
        got.sort(key=key)
        want.sort(key=key)
        if len(got) != len(want):
            diffs.append("the collector got %d envelopes, the client had %d accepted"
                         % (len(got), len(want)))
        for g, w in zip(got, want):
            same(g, w, "envelope of event %s" % key(w), diffs)
    if diffs:
        for d in diffs[:10]:
            print(d)
        print("%d differences" % len(diffs))
        return 1
    print("ok %d" % n)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("post")
    p.add_argument("--url", required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--first", type=int, default=1)
    p.add_argument("--session", default="anonymizer-3f2a9c")
    p.add_argument("--client-version", default="0.3.1")
    p.add_argument("--schema", default="1.7")
    p.add_argument("--arch", default=platform.machine())
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--log")
    p.add_argument("--header", action="append", default=[])
    c = sub.add_parser("compare")
    c.add_argument("--spool", required=True)
    c.add_argument("--log", required=True)
    c.add_argument("--collector")
    a = ap.parse_args()
    return cmd_post(a) if a.cmd == "post" else cmd_compare(a)


if __name__ == "__main__":
    sys.exit(main())
