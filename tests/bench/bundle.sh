#!/bin/bash
# Bundle benchmark: 1,000,000 pending events (BENCH_BUNDLE_EVENTS) through
# `bundle create` and `bundle import`, time and peak RSS, against the writer's own bulk
# append of the same events (anon-telemetry-spool, 200,000 events a call: it takes at
# most 64 MiB of input) in the same run; and the same two commands on 10,000 events, for
# the memory comparison.
# Targets: import at least 0.8x the writer's events/s; both commands stream: peak RSS
# with the large bundle at most 1.5x the peak with 10,000 events.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ANON_BUILD:-build}; case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SPOOL_BIN=$BUILD/anon-telemetry-spool
SHIP_BIN=$BUILD/anon-telemetry-ship
N=${BENCH_BUNDLE_EVENTS:-1000000}
SMALL=10000
D=$(mktemp -d "${TMPDIR:-/tmp}/anon-bench-bundle.XXXXXX"); chmod 700 "$D"
trap 'rm -rf "$D"' EXIT
unset NEMO_TELEMETRY_ENABLED NEMO_SESSION_PREFIX ANON_TELEMETRY_SPOOL
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench bundle: /usr/bin/time is needed (apt-get install time)"; exit 1; }

REQ='"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"gliner-pii","entityValidatorModel":"validator-a","entityAugmenterModel":"augmenter-b","jobDurationSec":12.5,"modelHosts":["local","nvidia-build"]'
events() { seq 1 "$1" | sed "s/.*/{$REQ,\"numInputRecords\":&}/"; }

# measure NAME CMD...: runs CMD (stdout dropped) under /usr/bin/time; NAME_s (seconds) and
# NAME_kb (peak RSS) set
measure() {
    local name=$1
    shift
    "$TIME" -f '%e %M' -o "$D/time" "$@" > /dev/null
    read -r s kb < "$D/time"
    eval "${name}_s=$s ${name}_kb=$kb"
}
mkdir -m 700 "$D/w" "$D/g" "$D/ws" "$D/gs"

# ---- the writer's bulk append: the same events, 200,000 a call (a transaction each)
events "$N" | split -l 200000 - "$D/in."
cat > "$D/append.sh" <<EOF
for f in "$D"/in.*; do "$SPOOL_BIN" --spool "$D/w/spool.db" --session-id bench --client-version 1.0 < "\$f" || exit 1; done
EOF
measure write bash "$D/append.sh"
rm -f "$D"/in.*
[ "$("$SHIP_BIN" --spool "$D/w/spool.db" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"]["pending"])')" = "$N" ] ||
    { echo "bench bundle: the writer stored the wrong count"; exit 1; }

# ---- bundle create and bundle import of all of them
measure create "$SHIP_BIN" --spool "$D/w/spool.db" bundle create "$D/big.jsonl"
bytes=$(stat -c %s "$D/big.jsonl")
measure import "$SHIP_BIN" --spool "$D/g/spool.db" bundle import "$D/big.jsonl"
[ "$(sqlite3 "$D/g/spool.db" "SELECT count(*) FROM events")" = "$N" ] ||
    { echo "bench bundle: the import stored the wrong count"; exit 1; }
rm -rf "$D/g" "$D/big.jsonl"

# ---- the same with 10,000 events, for the memory
events "$SMALL" | "$SPOOL_BIN" --spool "$D/ws/spool.db" --session-id bench --client-version 1.0 >/dev/null
measure screate "$SHIP_BIN" --spool "$D/ws/spool.db" bundle create "$D/small.jsonl"
measure simport "$SHIP_BIN" --spool "$D/gs/spool.db" bundle import "$D/small.jsonl"

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
echo "$N events (a bundle of $((bytes / 1048576)) MiB):"
echo "  writer bulk append  ${write_s} s, $(rate "$N" "$write_s") events/s, peak RSS ${write_kb} KiB"
echo "  bundle create       ${create_s} s, $(rate "$N" "$create_s") events/s, peak RSS ${create_kb} KiB (${SMALL} events: ${screate_kb} KiB)"
echo "  bundle import       ${import_s} s, $(rate "$N" "$import_s") events/s, peak RSS ${import_kb} KiB (${SMALL} events: ${simport_kb} KiB)"
ok=0
awk -v w="$write_s" -v i="$import_s" 'BEGIN { r = (i > 0 ? w / i : 0); printf "  import/writer events/s = %.2f (target >= 0.8): %s\n", r, (r >= 0.8 ? "met" : "NOT met"); exit !(r >= 0.8) }' || ok=1
for c in create import; do
    eval "big=\${${c}_kb} small=\${s${c}_kb}"
    awk -v b="$big" -v s="$small" -v c="$c" -v n="$N" -v m="$SMALL" 'BEGIN { r = b / s; printf "  %s peak RSS, %d events / %d events = %.2f (target <= 1.5): %s\n", c, n, m, r, (r <= 1.5 ? "met" : "NOT met"); exit !(r <= 1.5) }' || ok=1
done
exit $ok
