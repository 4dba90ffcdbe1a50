#!/bin/bash
# The Python package (python/anon_telemetry, ctypes over the library) against the C paths
# it wraps, side by side in one run:
#   1. avg_tokens_per_record from Python over 100,000 records of about 2 KB (a list of
#      str, as a pandas Series holds them) against the C call on the same records
#      (anon-telemetry-tokens --records --timing: the library call alone, without reading
#      and decoding the file). Both averages are printed and must be equal.
#      Ratio = Python time / C time (target <= 1.3x).
#   2. TelemetryHandler spooling 10,000 events (enqueue each, flush once, the spool
#      created by it) against anon-telemetry-spool appending the same events from JSON
#      Lines in one process into a new spool. Ratio = Python events/s / command
#      events/s (target >= 0.8x). A fresh python3 doing the same, start-up and import
#      included, is printed too.
# Each measurement is repeated (BENCH_REPS, default 5; 3 for tokens) alternating the two
# sides; medians are compared. The records are generated deterministically (prose, code,
# non-Latin text, as tests/bench/tokens.sh mixes them).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ANON_BUILD:-build}; case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LIB=$BUILD/libanontelemetry.so.1
[ -e "$LIB" ] || LIB=$BUILD/libanontelemetry.so
D=$(mktemp -d /tmp/anon-bench-python.XXXXXX); chmod 700 "$D"
trap 'rm -rf "$D"' EXIT
unset NEMO_TELEMETRY_ENABLED NEMO_SESSION_PREFIX ANON_TELEMETRY_SPOOL NEMO_DEPLOYMENT_TYPE
export ANON_TELEMETRY_LIB=$LIB PYTHONPATH=$ROOT/python PYTHONDONTWRITEBYTECODE=1
if ldd "$LIB" 2>/dev/null | grep -q 'libasan\.so'; then
    echo "python bench: $LIB is a sanitized build; benchmark an ordinary one" >&2
    exit 1
fi

python3 - "$BUILD" "$D" "$ROOT/tests/fixtures/tokens/prose.txt" <<'PY'
import json, os, random, statistics, subprocess, sys, time
import anon_telemetry as at

build, d, prose = sys.argv[1:4]
REPS = int(os.environ.get("BENCH_REPS", "5"))
TOKEN_REPS = int(os.environ.get("BENCH_TOKEN_REPS", "3"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "100000"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "10000"))
tokens_bin = os.path.join(build, "anon-telemetry-tokens")
spool_bin = os.path.join(build, "anon-telemetry-spool")
rc = 0

# ---- 1. avg_tokens_per_record ----
rnd = random.Random(0x12345678)
lines = open(prose, encoding="utf-8").read().split("\n")
english = " ".join(lines[:5]).split()
nonlatin = " ".join(lines[6:18]).split()
ids = ["count", "buf", "len", "node", "next", "value", "result", "ctx", "err", "size", "data",
       "items", "key", "self", "config", "handler", "request", "response"]

def paragraph():
    return " ".join(rnd.choice(english) for _ in range(rnd.randint(20, 120))) + "\n\n"

def code():
    out = []
    for _ in range(rnd.randint(5, 25)):
        pad = "    " * rnd.randint(0, 3)
        out.append("%s%s_%s = %s(%s, %d);  // %s" % (pad, rnd.choice(ids), rnd.choice(ids),
                   rnd.choice(ids), rnd.choice(ids), rnd.randint(0, 65535), rnd.choice(english)))
    return "\n".join(out) + "\n\n"

def foreign():
    return " ".join(rnd.choice(nonlatin) for _ in range(rnd.randint(5, 30))) + "\n"

chunks, size = [], 0
while size < 8_000_000:
    r = rnd.random()
    c = paragraph() if r < 0.6 else code() if r < 0.85 else foreign()
    chunks.append(c)
    size += len(c)
pool = "".join(chunks)
records = []
for _ in range(RECORDS):
    off = rnd.randrange(len(pool) - 2000)
    records.append(pool[off:off + 2000])
rec_file = os.path.join(d, "records.jsonl")
with open(rec_file, "w", encoding="utf-8") as f:
    for r in records:
        f.write(json.dumps(r) + "\n")
nbytes = sum(len(r.encode("utf-8")) for r in records)
print("records: %d of 2000 characters, %.0f bytes on average as UTF-8, %d cores"
      % (len(records), nbytes / len(records), os.cpu_count() or 1))

py_ms, c_ms = [], []
py_avg = c_avg = None
for _ in range(TOKEN_REPS):
    t0 = time.perf_counter()
    py_avg = at.avg_tokens_per_record(records)
    py_ms.append((time.perf_counter() - t0) * 1000)
    p = subprocess.run([tokens_bin, "--records", "--timing", rec_file], capture_output=True,
                       text=True, check=True)
    c_avg = int(p.stdout)
    c_ms.append(float(p.stderr.split(" took ")[1].split()[0]))
py, c = statistics.median(py_ms), statistics.median(c_ms)
print("avg_tokens_per_record: Python %d, C %d" % (py_avg, c_avg))
print("  time (median of %d): Python call %.0f ms, C library call %.0f ms" % (TOKEN_REPS, py, c))
r = py / c
print("  ratio Python/C = %.2fx (target <= 1.3x): %s" % (r, "met" if r <= 1.3 else "NOT met"))
if py_avg != c_avg or py_avg < 0:
    print("python bench: AVERAGES DIFFER", file=sys.stderr)
    rc = 1
del records, pool, chunks

# ---- 2. spooling 10,000 events ----
REQ = {"task": "batch", "taskStatus": "completed", "transformationType": "redact",
       "entityDetectorModel": "gliner-pii", "entityValidatorModel": "validator-a",
       "entityAugmenterModel": "augmenter-b", "jobDurationSec": 12.5,
       "modelHosts": ["local", "nvidia-build"]}
events = [dict(REQ, numInputRecords=i) for i in range(1, EVENTS + 1)]
ev_file = os.path.join(d, "events.jsonl")
with open(ev_file, "w") as f:
    for e in events:
        f.write(json.dumps(e) + "\n")
whole = (
    "import json, sys\n"
    "import anon_telemetry as at\n"
    "events = [json.loads(l) for l in open(sys.argv[2])]\n"
    "with at.TelemetryHandler(spool=sys.argv[1], session_id='bench', source_client_version='1.0') as h:\n"
    "    for e in events:\n"
    "        h.enqueue(e)\n"
    "assert h.last_error is None and len(h.uuids) == len(events), h.last_error\n")

def fresh(name):
    sub = os.path.join(d, name)
    if os.path.exists(sub):
        for f in os.listdir(sub):
            os.unlink(os.path.join(sub, f))
        os.rmdir(sub)
    os.mkdir(sub, 0o700)
    return os.path.join(sub, "spool.db")

def count(db):
    p = subprocess.run(["sqlite3", db, "SELECT count(*) FROM events"], capture_output=True,
                       text=True, check=True)
    return int(p.stdout)

h_ms, cmd_ms, proc_ms = [], [], []
for _ in range(REPS):
    db = fresh("py")
    t0 = time.perf_counter()
    with at.TelemetryHandler(spool=db, session_id="bench", source_client_version="1.0") as h:
        for e in events:
            h.enqueue(e)
    h_ms.append((time.perf_counter() - t0) * 1000)
    assert h.last_error is None and len(h.uuids) == EVENTS, h.last_error
    assert count(db) == EVENTS

    db = fresh("cmd")
    with open(ev_file, "rb") as f:
        t0 = time.perf_counter()
        subprocess.run([spool_bin, "--spool", db, "--session-id", "bench",
                        "--client-version", "1.0"], stdin=f, stdout=subprocess.DEVNULL,
                       check=True)
        cmd_ms.append((time.perf_counter() - t0) * 1000)
    assert count(db) == EVENTS

    db = fresh("proc")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", whole, db, ev_file], check=True)
    proc_ms.append((time.perf_counter() - t0) * 1000)
    assert count(db) == EVENTS
hm, cm, pm = statistics.median(h_ms), statistics.median(cmd_ms), statistics.median(proc_ms)
print("spool %d events (median of %d): TelemetryHandler %.0f ms (%.0f events/s), "
      "anon-telemetry-spool %.0f ms (%.0f events/s)"
      % (EVENTS, REPS, hm, EVENTS / hm * 1000, cm, EVENTS / cm * 1000))
print("  a fresh python3 doing it, start-up, import and reading the JSON Lines included: "
      "%.0f ms (%.0f events/s)" % (pm, EVENTS / pm * 1000))
r = cm / hm
print("  ratio events/s TelemetryHandler/command = %.2fx (target >= 0.8x): %s"
      % (r, "met" if r >= 0.8 else "NOT met"))
sys.exit(rc)
PY
