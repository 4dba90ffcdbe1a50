#!/bin/bash
# Relay benchmark: the same 50-event batches stored by anon-telemetry-relay (POSTed as
# envelopes over keep-alive connections) and by anon-telemetry-spool (one process per
# batch, JSON Lines on stdin), side by side in one run, both durable (WAL,
# synchronous=FULL, a commit per batch or group of batches before the answer):
#   1 client against 1 writer process at a time; 16 concurrent clients against 16
#   concurrent writer processes (the relay's group commit shares one fsync between the
#   requests waiting; each writer process needs its own)
# Ratio = relay events/s / command events/s (targets: >= 0.8 at 1, >= 4 at 16).
# Then the relay's peak RSS (VmHWM) while 64 clients upload 12000-event envelopes at once,
# against its --max-memory budget (the default, 256 MiB).
#   BENCH_BATCHES (default 320, a multiple of 16)  BENCH_REPS (default 3, medians)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ANON_BUILD:-build}; case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SPOOL_BIN=$BUILD/anon-telemetry-spool
RELAY_BIN=$BUILD/anon-telemetry-relay
BATCHES=${BENCH_BATCHES:-320}
REPS=${BENCH_REPS:-3}
D=$(mktemp -d /tmp/anon-bench-relay.XXXXXX); chmod 700 "$D"
RPID=""
trap '[ -n "$RPID" ] && kill "$RPID" 2>/dev/null; rm -rf "$D"' EXIT
unset NEMO_TELEMETRY_ENABLED NEMO_SESSION_PREFIX ANON_TELEMETRY_SPOOL

ms() { date +%s%N | cut -b1-13; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ---- the batches: parameters as JSON Lines for the command, envelopes for the relay ----
python3 - "$D" "$BATCHES" <<'EOF'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d + "/jsonl"); os.makedirs(d + "/env")
for b in range(n):
    params = [{"task": "batch", "taskStatus": "completed", "transformationType": "redact",
               "entityDetectorModel": "gliner-pii", "entityValidatorModel": "validator-a",
               "entityAugmenterModel": "augmenter-b", "jobDurationSec": 12.5,
               "modelHosts": ["local", "nvidia-build"], "numInputRecords": b * 50 + i}
              for i in range(50)]
    with open("%s/jsonl/%05d" % (d, b), "w") as f:
        f.write("".join(json.dumps(p) + "\n" for p in params))
    env = {"clientVer": "1.0", "cpuArchitecture": "x86_64", "eventSchemaVer": "1.7",
           "sessionId": "bench", "events": [{"ts": "2026-05-11T12:00:00.000Z",
                                            "parameters": p, "name": "anonymizer_event"}
                                           for p in params]}
    with open("%s/env/%05d" % (d, b), "w") as f:
        json.dump(env, f)
EOF
# the load generator: C connections (keep-alive), each posting its share of the batches
cat > "$D/load.py" <<'EOF'
import http.client, os, sys, threading
port, clients, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
files = sorted(os.listdir(d))
bodies = [open(os.path.join(d, f), "rb").read() for f in files]
bad = []
def client(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for body in bodies[k::clients]:
        c.request("POST", "/v1.1/events/json", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            bad.append(r.status)
    c.close()
ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
sys.exit(1 if bad else 0)
EOF

start_relay() {  # start_relay SPOOL [options]: sets RPID, RPORT
    local s=$1; shift
    "$RELAY_BIN" --spool "$s" --listen 127.0.0.1:0 "$@" 2>"$D/relay.err" &
    RPID=$!
    for _ in $(seq 1 100); do grep -q 'listening on' "$D/relay.err" && break; sleep 0.05; done
    RPORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$D/relay.err")
}
stop_relay() { kill "$RPID"; wait "$RPID" || true; RPID=""; }
count() { sqlite3 "$1" "SELECT count(*) FROM events"; }

# run_cmd N: the batches through N concurrent anon-telemetry-spool loops
run_cmd() {
    rm -rf "$D/c"; mkdir -m 700 "$D/c"
    "$SPOOL_BIN" --spool "$D/c/spool.db" </dev/null >/dev/null 2>&1
    local t0 t1
    t0=$(ms)
    ls "$D/jsonl" | xargs -P "$1" -I{} sh -c '"$1" --spool "$2" --session-id bench --client-version 1.0 < "$3/{}" >/dev/null' \
        _ "$SPOOL_BIN" "$D/c/spool.db" "$D/jsonl"
    t1=$(ms)
    [ "$(count "$D/c/spool.db")" = $((BATCHES * 50)) ] || { echo "the command stored the wrong count"; exit 1; }
    echo $((t1 - t0))
}
# run_relay N: the batches through N concurrent clients of one relay
run_relay() {
    rm -rf "$D/r"; mkdir -m 700 "$D/r"
    start_relay "$D/r/spool.db"
    local t0 t1
    t0=$(ms)
    python3 "$D/load.py" "$RPORT" "$1" "$D/env" || { echo "the relay refused a batch"; exit 1; }
    t1=$(ms)
    commits=$(curl -s "http://127.0.0.1:$RPORT/healthz" | python3 -c 'import json,sys; c=json.load(sys.stdin)["commits"]; print(c["count"], c["largest"])')
    stop_relay
    [ "$(count "$D/r/spool.db")" = $((BATCHES * 50)) ] || { echo "the relay stored the wrong count"; exit 1; }
    echo "$((t1 - t0)) $commits"
}

events=$((BATCHES * 50))
for n in 1 16; do
    : > "$D/t_cmd"; : > "$D/t_relay"; : > "$D/groups"
    for r in $(seq 1 "$REPS"); do
        run_cmd "$n" >> "$D/t_cmd"
        run_relay "$n" > "$D/one"
        awk '{print $1}' "$D/one" >> "$D/t_relay"
        awk '{print $2, $3}' "$D/one" >> "$D/groups"
    done
    c=$(median < "$D/t_cmd"); rl=$(median < "$D/t_relay")
    echo "$n client(s), $BATCHES batches of 50 events: relay $rl ms, anon-telemetry-spool $c ms (median of $REPS)"
    awk -v e="$events" -v c="$c" -v r="$rl" -v n="$n" 'BEGIN {
        ec = e * 1000 / c; er = e * 1000 / r; ratio = er / ec; target = (n == 1 ? 0.8 : 4)
        printf "  events/s: relay %.0f, command %.0f; ratio relay/command = %.2f (target >= %.1f): %s\n",
               er, ec, ratio, target, (ratio >= target ? "met" : "NOT met") }'
    echo "  relay commits per run (count, most requests in one): $(tr '\n' ';' < "$D/groups" | sed 's/;$//; s/;/; /g')"
done

# ---- peak RSS: 64 clients uploading 12000-event envelopes (about 4 MB each) at once: ----
# ---- three times what the budget lets in (a request counts 3 x its body)           ----
python3 - "$D" <<'EOF'
import json, sys
d = sys.argv[1]
env = json.load(open(d + "/env/00000"))
env["events"] = [dict(e, parameters=dict(e["parameters"], numInputRecords=i)) for i, e in
                 enumerate(env["events"] * 240)]
json.dump(env, open(d + "/big.json", "w"))
EOF
cat > "$D/upload.py" <<'EOF'
import http.client, sys, threading, time
port, clients, body = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
codes = []
def client():
    while True:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("POST", "/v1.1/events/json", body, {"Content-Type": "application/json"})
        r = c.getresponse(); r.read(); c.close()
        codes.append(r.status)
        if r.status != 503:
            return
        time.sleep(float(r.getheader("Retry-After") or 1) * 0.2)
ts = [threading.Thread(target=client) for _ in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
print(sum(1 for c in codes if c == 200), sum(1 for c in codes if c == 503), len(codes))
EOF
rm -rf "$D/m"; mkdir -m 700 "$D/m"
budget_mib=256
start_relay "$D/m/spool.db" --max-memory ${budget_mib}M
base_kb=$(awk '/VmRSS/ {print $2}' "/proc/$RPID/status")
read -r ok busy total < <(python3 "$D/upload.py" "$RPORT" 64 "$D/big.json")
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$RPID/status")
stop_relay
echo "64 clients uploading $(( $(stat -c %s "$D/big.json") / 1024 )) KiB envelopes at once (--max-memory ${budget_mib}M):"
echo "  answered 200: $ok, 503 + Retry-After then retried: $busy; events stored: $(count "$D/m/spool.db")"
awk -v p="$peak_kb" -v b="$base_kb" -v m="$budget_mib" 'BEGIN {
    printf "  peak RSS %.1f MiB (%.1f MiB at start), budget %d MiB: %s\n", p / 1024, b / 1024, m,
           (p / 1024 <= m ? "under it" : "OVER it") }'
