#!/bin/bash
# Sneakernet: bundles out of an enclave that is never online, receipts back in.
#   the round trip between two spools with the test collector (one batch rejected);
#   --reexport after a lost medium, --forget, --max-events, --batch-size; signatures;
#   every kind of bad input (exit 65, the line named, nothing stored); files never
#   overwritten (exit 73); the shipper never sends an exported event.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/ship_helpers.sh"

mkdir -m 700 "$T/enclave" "$T/gateway" "$T/usb"
E=$T/enclave/spool.db
G=$T/gateway/spool.db
USB=$T/usb

# run CMD...: sets rc, out, err
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err"); }
ship_at() { _s=$1; shift; run "$SHIP_BIN" --spool "$_s" "$@"; }
# fill SPOOL N SESSION [CLIENT_VERSION]: N events, each with its own numInputRecords
serial=0
fill() {
    _k=0
    while [ $_k -lt "$2" ]; do
        serial=$((serial + 1))
        printf '{"task":"batch","taskStatus":"completed","transformationType":"redact","entityDetectorModel":"gliner","entityValidatorModel":"v","entityAugmenterModel":"a","numInputRecords":%d,"jobDurationSec":-1.0,"modelHosts":["local"]}\n' "$serial"
        _k=$((_k + 1))
    done > "$T/fill.jsonl"
    "$SPOOL_BIN" --spool "$1" --session-id "$3" --client-version "${4:-1.0}" < "$T/fill.jsonl" >/dev/null
}
# Every column an imported row must keep, by uuid (the rows of a spool, or of a bundle's).
cols="uuid, queued_at, session_id, client_version, cpu_architecture, schema_version, name, parameters"
# reseal FILE: a new sha256 line for a file that was edited on purpose (and no signature),
# so that the check under test is reached rather than the checksum's
reseal() {
    python3 - "$1" <<'EOF'
import hashlib, sys
p = sys.argv[1]
lines = open(p, 'rb').read().split(b'\n')[:-1]
body = [l for l in lines if not l.startswith(b'{"sha256":') and not l.startswith(b'{"hmac-sha256":')]
data = b''.join(l + b'\n' for l in body)
open(p, 'wb').write(data + b'{"sha256":"' + hashlib.sha256(data).hexdigest().encode() + b'"}\n')
EOF
}
# edit FILE LINE PYEXPR: line LINE (1-based) becomes PYEXPR of `l` (the line as str), resealed
edit() {
    python3 - "$1" "$2" "$3" <<'EOF'
import sys
p, n, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(p).read().split('\n')
l = lines[n - 1]
lines[n - 1] = eval(expr)
open(p, 'w').write('\n'.join(lines))
EOF
    reseal "$1"
}
dump() { sql "$1" "SELECT 'e', id, uuid, status, sent_at, bundle, retry_count, last_error FROM events ORDER BY id; SELECT 'd', id, uuid, reason, bundle FROM dlq ORDER BY id; SELECT 'b', id, receipt, events FROM bundles ORDER BY id"; }

# ---------------------------------------------------------------- the enclave
fill "$E" 30 sA
fill "$E" 5 sB 2.0
fill "$E" 40 sA          # sA now has 70 events: two batches of 50 and 20
fill "$E" 3 sC
# a retry waiting far in the future, and a lapsed claim of a shipper that died: both go
sql "$E" "UPDATE events SET retry_count = 2, next_attempt_at = '2099-01-01T00:00:00.000Z', last_error = 'HTTP 503' WHERE id = 3;
          UPDATE events SET status = 'sending', lease_until = '2000-01-01T00:00:00.000Z' WHERE id = 7"
N=$(sql "$E" "SELECT count(*) FROM events")
check_eq "the enclave holds 78 events" 78 "$N"
SPOOL_ID=$(sql "$E" "SELECT spool_id FROM spool")
# what the enclave's own shipper would post, batch by batch (its dry run), for comparison
"$SHIP_BIN" --spool "$E" --endpoint http://127.0.0.1:9/v1 --dry-run --now > "$T/dry.jsonl" 2>/dev/null
sql "$E" "SELECT $cols FROM events ORDER BY uuid" > "$T/enclave.rows"

# an existing file is never overwritten: exit 73 naming it, nothing changed
echo "precious" > "$USB/taken.jsonl"
ship_at "$E" bundle create "$USB/taken.jsonl"
check_eq "bundle create over an existing file: exit 73" 73 "$rc"
check_match "bundle create over an existing file: names it" "taken.jsonl exists" "$err"
check_eq "the existing file is untouched" precious "$(cat "$USB/taken.jsonl")"
check_eq "no event changed" 0 "$(sql "$E" "SELECT count(*) FROM events WHERE status = 'exported' OR bundle IS NOT NULL")"
check_eq "no bundle recorded" 0 "$(sql "$E" "SELECT count(*) FROM bundles")"

ship_at "$E" bundle create "$USB/b1.jsonl"
check_eq "bundle create: exit 0" 0 "$rc"
check_match "bundle create: says what it wrote" "78 events in 4 envelopes" "$out"
B1=$(head -n 1 "$USB/b1.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"])')
check_eq "every event is now exported" "exported|78" "$(sql "$E" "SELECT status, count(*) FROM events GROUP BY status")"
check_eq "every event carries the bundle's id" "$B1" "$(sql "$E" "SELECT group_concat(DISTINCT bundle) FROM events")"
check_eq "the bundle is recorded, awaiting a receipt" "made|$SPOOL_ID|78|awaiting" \
    "$(sql "$E" "SELECT direction, spool_id, events, receipt FROM bundles")"
check "no temporary file is left beside it" test "$(ls -A "$USB" | wc -l)" -eq 2

# the file: header, one line per envelope exactly as posted (minus sentTs), sha256
python3 - "$USB/b1.jsonl" "$T/dry.jsonl" "$SPOOL_ID" > "$T/check" 2>&1 <<'EOF'
import hashlib, json, sys
raw = open(sys.argv[1], 'rb').read()
lines = raw.split(b'\n')
assert lines[-1] == b'', 'the file ends with a newline'
lines = lines[:-1]
h = json.loads(lines[0])
assert list(h) == ['format', 'version', 'bundle', 'spool', 'created_at', 'events'], list(h)
assert h['format'] == 'anon-telemetry-bundle' and h['version'] == 1 and h['spool'] == sys.argv[3], h
assert h['events'] == 78, h
last = json.loads(lines[-1])
assert list(last) == ['sha256'], last
assert last['sha256'] == hashlib.sha256(b''.join(l + b'\n' for l in lines[:-1])).hexdigest()
dry = [json.loads(l) for l in open(sys.argv[2])]
body = [json.loads(l) for l in lines[1:-1]]
assert len(body) == len(dry) == 4, (len(body), len(dry))
for b, d in zip(body, dry):
    assert list(b) == ['ids', 'envelope']
    del d['sentTs']
    assert 'sentTs' not in b['envelope']
    # the same keys in the same order, the same values, the same events in the same order
    assert list(b['envelope']) == list(d), (list(b['envelope']), list(d))
    assert b['envelope'] == d, 'envelope differs from the dry run'
    assert len(b['ids']) == len(b['envelope']['events'])
print('ok', sum(len(b['ids']) for b in body))
EOF
check_eq "the bundle's lines are the dry run's envelopes, grouped and ordered alike" "ok 78" "$(cat "$T/check")"
check_match "a reviewer reads it: one JSON object per line, -1.0 as queued" '"jobDurationSec":-1.0' "$(sed -n 2p "$USB/b1.jsonl")"

# exported events are never sent from the enclave, and not taken by the next bundle
start_collector enc
ship_at "$E" --endpoint "$URL" --now
check_eq "the enclave's shipper: exit 0 (nothing due)" 0 "$rc"
check_eq "the enclave's shipper posted nothing" 0 "$(requests)"
check_eq "the enclave's dry run shows nothing" "" "$("$SHIP_BIN" --spool "$E" --endpoint "$URL" --dry-run --now 2>/dev/null)"
check_eq "still exported after a delivery run" 78 "$(sql "$E" "SELECT count(*) FROM events WHERE status = 'exported'")"
ship_at "$E" bundle create "$USB/empty.jsonl"
check_eq "nothing pending: exit 0" 0 "$rc"
check_eq "nothing pending: a valid bundle with a header and a sha256 line" 2 "$(wc -l < "$USB/empty.jsonl")"
check_match "nothing pending: the header says 0 events" '"events":0}$' "$(head -n 1 "$USB/empty.jsonl")"

# status and list
ship_at "$E" status
check_match "status shows the spool id" "spool id +$SPOOL_ID" "$out"
check_match "status shows the exported events" "exported +78" "$out"
check_match "status shows the bundle awaiting a receipt" "$B1 .* 78 events, 78 still exported" "$out"
ship_at "$E" status --json
check_eq "status --json: spool_id, exported, the bundle awaiting a receipt" "$SPOOL_ID 78 $B1 78" \
    "$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); a=d["awaiting_receipt"]; print(d["spool_id"], d["events"]["exported"], a[0]["bundle"], a[0]["still_exported"])')"
ship_at "$E" list --status exported
check_eq "list --status exported: exit 0" 0 "$rc"
check_eq "list --status exported: every exported event" 78 "$(printf '%s\n' "$out" | grep -c ' exported ')"
ship_at "$E" list --status exported --json
check_eq "list --status exported --json: rows with their bundle" "78 $B1" \
    "$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], d["events"][0]["bundle"])')"

# verify: prints what it holds, changes nothing
before=$(dump "$E")
ship_at "$E" bundle verify "$USB/b1.jsonl"
check_eq "bundle verify: exit 0" 0 "$rc"
check_match "bundle verify: the bundle id" "bundle +$B1" "$out"
check_match "bundle verify: events and envelopes" "events +78 in 4 envelopes" "$out"
check_match "bundle verify: unsigned" "signature +none" "$out"
check_eq "bundle verify changes nothing" "$before" "$(dump "$E")"

# ---------------------------------------------------------------- the gateway
ship_at "$G" bundle import "$USB/b1.jsonl"
check_eq "bundle import: exit 0" 0 "$rc"
check_match "bundle import: 78 stored" "78 events stored, 0 already here" "$out"
ship_at "$G" bundle import "$USB/b1.jsonl"
check_eq "bundle import again: exit 0" 0 "$rc"
check_match "bundle import again: nothing new" "0 events stored, 78 already here" "$out"
check_eq "each event stored once" 78 "$(sql "$G" "SELECT count(*) FROM events")"
check_eq "every row kept as the enclave had it (uuid, ts, session, client version, architecture, schema version, parameters)" \
    "$(cat "$T/enclave.rows")" "$(sql "$G" "SELECT $cols FROM events ORDER BY uuid")"
check_eq "imported rows are pending, belong to the bundle" "pending|$B1|78" \
    "$(sql "$G" "SELECT status, bundle, count(*) FROM events GROUP BY 1, 2")"
check_eq "the gateway records the import, receipt due" "imported|$SPOOL_ID|78|due" \
    "$(sql "$G" "SELECT direction, spool_id, events, receipt FROM bundles")"
ship_at "$G" status
check_match "gateway status: a bundle with no receipt yet" "$B1 +from spool $SPOOL_ID +78 events" "$out"
GW_ID=$(sql "$G" "SELECT spool_id FROM spool")
check "two spools, two spool ids" test "$GW_ID" != "$SPOOL_ID"

# the gateway ships them (one request at a time: the first is the one rejected); the
# collector rejects the first batch
start_collector gw
script '[{"status": 400}]'
ship_at "$G" --endpoint "$URL" --now --parallel 1
check_eq "the gateway's shipper: exit 0" 0 "$rc"
check_eq "the rejected batch is in the gateway's dlq" "50|rejected by collector: HTTP 400" \
    "$(sql "$G" "SELECT count(*), reason FROM dlq GROUP BY reason")"
check_eq "the rest was sent" 28 "$(sql "$G" "SELECT count(*) FROM events WHERE status = 'sent'")"
# every event reached the collector exactly as the enclave would have sent it
python3 - "$LOG" "$T/dry.jsonl" > "$T/check" 2>&1 <<'EOF'
import json, sys
got = {}
for line in open(sys.argv[1]):
    req = json.loads(line)
    env = json.loads(req['body'])
    del env['sentTs']
    events = env.pop('events')
    for ev in events:
        key = json.dumps(ev, sort_keys=True)
        got.setdefault(key, []).append((json.dumps(env), list(ev)))
n = 0
for line in open(sys.argv[2]):
    env = json.loads(line)
    del env['sentTs']
    events = env.pop('events')
    for ev in events:
        key = json.dumps(ev, sort_keys=True)
        assert key in got, 'not received: %s' % key
        assert len(got[key]) == 1, 'received %d times' % len(got[key])
        assert got[key][0] == (json.dumps(env), list(ev)), 'received in another form'
        n += 1
print('ok', n)
EOF
check_eq "the collector got each event once, as the enclave would have sent it" "ok 78" "$(cat "$T/check")"
# the bytes too: a parameters object is posted as it was queued (-1.0 stays -1.0)
check_eq "the collector got -1.0 as queued, in every request" True \
    "$(py "all('\"jobDurationSec\":-1.0' in e['body'] for e in log) and len(log) == 4")"

# the receipt
ship_at "$G" receipt create "$USB/r1.jsonl"
check_eq "receipt create: exit 0" 0 "$rc"
check_match "receipt create: says what it holds" "78 events of 1 bundle: 28 sent, 50 in the dlq, 0 still pending" "$out"
check_eq "the gateway's bundle: receipt issued" issued "$(sql "$G" "SELECT receipt FROM bundles")"
ship_at "$G" receipt create "$USB/r1.jsonl"
check_eq "receipt create over an existing file: exit 73" 73 "$rc"
check_match "receipt create over an existing file: names it" "r1.jsonl exists" "$err"
python3 - "$USB/r1.jsonl" "$SPOOL_ID" "$GW_ID" "$B1" > "$T/check" 2>&1 <<'EOF'
import hashlib, json, sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')[:-1]
h = json.loads(lines[0])
assert list(h) == ['format', 'version', 'receipt', 'spool', 'from', 'created_at', 'bundles', 'events'], list(h)
assert (h['format'], h['version'], h['spool'], h['from'], h['bundles'], h['events']) == \
    ('anon-telemetry-receipt', 1, sys.argv[2], sys.argv[3], [sys.argv[4]], 78), h
assert json.loads(lines[-1])['sha256'] == hashlib.sha256(b''.join(l + b'\n' for l in lines[:-1])).hexdigest()
states = {}
for l in lines[1:-1]:
    e = json.loads(l)
    states[e['status']] = states.get(e['status'], 0) + 1
    assert e['bundle'] == sys.argv[4]
print(sorted(states.items()))
EOF
check_eq "the receipt: header, one line per event, sha256" "[('dlq', 50), ('sent', 28)]" "$(cat "$T/check")"

# ---------------------------------------------------------------- back in the enclave
ship_at "$G" receipt apply "$USB/r1.jsonl"
check_eq "a receipt applied to the spool that imported the bundle: exit 65" 65 "$rc"
check_match "... says whose it is" "this receipt is for spool $SPOOL_ID; this is spool $GW_ID" "$err"
ship_at "$E" receipt apply "$USB/r1.jsonl"
check_eq "receipt apply: exit 0" 0 "$rc"
check_match "receipt apply: what changed" "28 now sent, 50 moved to the dlq, 0 still pending there" "$out"
check_eq "no exported event left" 0 "$(sql "$E" "SELECT count(*) FROM events WHERE status = 'exported'")"
check_eq "sent with the gateway's sent_at" \
    "$(sql "$G" "SELECT uuid, sent_at FROM events WHERE status = 'sent' ORDER BY uuid")" \
    "$(sql "$E" "SELECT uuid, sent_at FROM events WHERE status = 'sent' ORDER BY uuid")"
check_eq "the rejected ones in the enclave's dlq with the remote reason" "50|remote: rejected by collector: HTTP 400" \
    "$(sql "$E" "SELECT count(*), reason FROM dlq GROUP BY reason")"
check_eq "the dead letters are the gateway's" "$(sql "$G" "SELECT uuid FROM dlq ORDER BY uuid")" \
    "$(sql "$E" "SELECT uuid FROM dlq ORDER BY uuid")"
check_eq "every event of the enclave is sent or in its dlq" 78 \
    "$(sql "$E" "SELECT (SELECT count(*) FROM events WHERE status = 'sent') + (SELECT count(*) FROM dlq)")"
check_eq "the bundle is complete" complete "$(sql "$E" "SELECT receipt FROM bundles WHERE id = '$B1'")"
before=$(dump "$E")
ship_at "$E" receipt apply "$USB/r1.jsonl"
check_eq "receipt apply again: exit 0" 0 "$rc"
check_match "receipt apply again: nothing more" "0 now sent, 0 moved to the dlq, 0 still pending there, 78 settled here before" "$out"
check_eq "receipt apply again changes nothing" "$before" "$(dump "$E")"
ship_at "$E" status --json
check_eq "status: no bundle awaiting a receipt" 0 \
    "$(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["awaiting_receipt"]))')"
check_eq "integrity (enclave)" ok "$(sql "$E" "PRAGMA integrity_check")"
check_eq "integrity (gateway)" ok "$(sql "$G" "PRAGMA integrity_check")"

# a receipt in which the gateway still has events pending leaves them exported
fill "$E" 4 sD
ship_at "$E" bundle create "$USB/b2.jsonl"
B2=$(head -n 1 "$USB/b2.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"])')
ship_at "$G" bundle import "$USB/b2.jsonl"
ship_at "$G" receipt create "$USB/r2.jsonl" --bundle "$B2"
check_match "receipt of events not shipped yet: pending" "4 events of 1 bundle: 0 sent, 0 in the dlq, 4 still pending" "$out"
ship_at "$E" receipt apply "$USB/r2.jsonl"
check_match "pending there: still exported here" "0 now sent, 0 moved to the dlq, 4 still pending there" "$out"
check_eq "pending there: still exported, the bundle partly settled" "4|partial" \
    "$(sql "$E" "SELECT count(*), (SELECT receipt FROM bundles WHERE id = '$B2') FROM events WHERE status = 'exported'")"

# ---------------------------------------------------------------- --reexport after a lost medium
fill "$E" 6 sE
ship_at "$E" bundle create "$USB/lost.jsonl" --max-events 3
check_eq "--max-events 3: exit 0" 0 "$rc"
check_match "--max-events 3: three events" "3 events in 1 envelope" "$out"
LOST=$(head -n 1 "$USB/lost.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"])')
check_eq "--max-events: the oldest three are exported, the rest pending" "3|3" \
    "$(sql "$E" "SELECT (SELECT count(*) FROM events WHERE bundle = '$LOST' AND session_id = 'sE'), (SELECT count(*) FROM events WHERE status = 'pending')")"
check_eq "--max-events: the oldest ones" "$(sql "$E" "SELECT group_concat(id) FROM (SELECT id FROM events WHERE session_id = 'sE' ORDER BY id LIMIT 3)")" \
    "$(sql "$E" "SELECT group_concat(id) FROM (SELECT id FROM events WHERE bundle = '$LOST' ORDER BY id)")"
ship_at "$E" bundle create "$USB/again.jsonl" --reexport
check_eq "--reexport: exit 0" 0 "$rc"
check_match "--reexport: the exported and the pending events" "10 events" "$out"
AGAIN=$(head -n 1 "$USB/again.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"])')
check_eq "--reexport: every unsettled event now in the new bundle" "10|$AGAIN" \
    "$(sql "$E" "SELECT count(*), group_concat(DISTINCT bundle) FROM events WHERE status = 'exported'")"
check_eq "--reexport: the earlier bundles are marked reexported" "reexported reexported" \
    "$(sql "$E" "SELECT receipt FROM bundles WHERE id IN ('$LOST', '$B2')" | tr '\n' ' ' | sed 's/ $//')"
mkdir -m 700 "$T/gw2"
ship_at "$T/gw2/spool.db" bundle import "$USB/lost.jsonl" "$USB/again.jsonl"
check_eq "importing both bundles: exit 0" 0 "$rc"
check_match "the lost one" "lost.jsonl: .*3 events stored, 0 already here" "$out"
check_match "the reexport" "again.jsonl: .*7 events stored, 3 already here" "$out"
check_eq "each event stored once" 10 "$(sql "$T/gw2/spool.db" "SELECT count(DISTINCT uuid) || '|' || count(*) FROM events" | cut -d'|' -f2)"
check_eq "the same events as the enclave exported" \
    "$(sql "$E" "SELECT $cols FROM events WHERE status = 'exported' ORDER BY uuid")" \
    "$(sql "$T/gw2/spool.db" "SELECT $cols FROM events ORDER BY uuid")"
# the reexport's receipt settles them all, whichever bundle brought each to the gateway
start_collector gw2
"$SHIP_BIN" --spool "$T/gw2/spool.db" --endpoint "$URL" --now >/dev/null 2>&1
ship_at "$T/gw2/spool.db" receipt create "$USB/r3.jsonl"
ship_at "$E" receipt apply "$USB/r3.jsonl"
check_eq "after the reexport's receipt: nothing exported" 0 "$(sql "$E" "SELECT count(*) FROM events WHERE status = 'exported'")"
check_eq "after the reexport's receipt: the new bundle complete" complete "$(sql "$E" "SELECT receipt FROM bundles WHERE id = '$AGAIN'")"

# ---------------------------------------------------------------- --forget, --batch-size
mkdir -m 700 "$T/diode"
D=$T/diode/spool.db
fill "$D" 12 sF
ship_at "$D" bundle create "$USB/diode.jsonl" --forget --batch-size 5
check_eq "--forget: exit 0" 0 "$rc"
check_match "--forget: says they are sent" "12 events marked sent" "$out"
check_eq "--batch-size 5: envelopes of 5, 5 and 2" "5 5 2" \
    "$(sed -n '2,4p' "$USB/diode.jsonl" | python3 -c 'import json,sys; print(*[len(json.loads(l)["ids"]) for l in sys.stdin])')"
check_eq "--forget: every event sent at once, with its bundle" "sent|12|12" \
    "$(sql "$D" "SELECT status, count(*), count(sent_at) FROM events WHERE bundle IS NOT NULL GROUP BY status")"
check_eq "--forget: no receipt expected" none "$(sql "$D" "SELECT receipt FROM bundles")"
ship_at "$D" status --json
check_eq "--forget: nothing awaits a receipt" 0 \
    "$(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["awaiting_receipt"]))')"

# ---------------------------------------------------------------- signatures
KEY=$T/key; WRONG=$T/wrong
(umask 077; openssl rand -hex 32 > "$KEY"; openssl rand -hex 32 > "$WRONG")
mkdir -m 700 "$T/signed"
SE=$T/signed/spool.db
fill "$SE" 7 sS
cp "$KEY" "$T/open-key"; chmod 644 "$T/open-key"
ship_at "$SE" bundle create "$USB/s.jsonl" --sign "$T/open-key"
check_eq "a key file others may read: exit 77" 77 "$rc"
check_match "a key file others may read: says so" "open-key may be read or written by group or others" "$err"
check "a key file others may read: no file written" test ! -e "$USB/s.jsonl"
printf 'short' > "$T/short-key"; chmod 600 "$T/short-key"
ship_at "$SE" bundle create "$USB/s.jsonl" --sign "$T/short-key"
check_eq "a key too short: exit 78" 78 "$rc"
ship_at "$SE" bundle create "$USB/s.jsonl" --sign "$KEY"
check_eq "bundle create --sign: exit 0" 0 "$rc"
check_match "bundle create --sign: signed" ", signed" "$out"
check_match "a signature line before the sha256 line" '^\{"hmac-sha256":"[0-9a-f]{64}"\}$' "$(tail -n 2 "$USB/s.jsonl" | head -n 1)"
ship_at "$SE" bundle verify "$USB/s.jsonl" --verify-key "$KEY"
check_eq "verify with the key: exit 0" 0 "$rc"
check_match "verify with the key: good" "signature +good" "$out"
ship_at "$SE" bundle verify "$USB/s.jsonl"
check_match "verify without a key: present, not checked" "signature +present, not checked" "$out"
mkdir -m 700 "$T/sg"
SG=$T/sg/spool.db
ship_at "$SG" bundle import "$USB/s.jsonl" --verify-key "$WRONG"
check_eq "import with the wrong key: exit 65" 65 "$rc"
check_match "import with the wrong key: the line and why" "line 3: the signature does not match the key" "$err"
check_eq "import with the wrong key: nothing stored (events, bundles)" "0 0" \
    "$(sql "$SG" "SELECT count(*) FROM events") $(sql "$SG" "SELECT count(*) FROM bundles")"
ship_at "$SG" bundle import "$USB/b2.jsonl" --verify-key "$KEY"
check_eq "an unsigned bundle when a key is required: exit 65" 65 "$rc"
check_match "an unsigned bundle when a key is required: says so" "not signed, and a signature is required" "$err"
cp "$USB/s.jsonl" "$USB/s-stripped.jsonl"
sed -i '/^{"hmac-sha256"/d' "$USB/s-stripped.jsonl"; reseal "$USB/s-stripped.jsonl"
ship_at "$SG" bundle import "$USB/s-stripped.jsonl" --verify-key "$KEY"
check_eq "a signature stripped and the sum redone: exit 65" 65 "$rc"
ship_at "$SG" bundle import "$USB/s.jsonl" --verify-key "$KEY"
check_eq "import with the right key: exit 0" 0 "$rc"
check_match "import with the right key: stored, signature good" "7 events stored, 0 already here, signature good" "$out"

# ---------------------------------------------------------------- bad input: exit 65, nothing stored
mkdir -m 700 "$T/bad"
BG=$T/bad/spool.db
fill "$BG" 1 existing        # the spool exists and holds something
bad_before=$(dump "$BG")
# refused FILE DESC PATTERN: exit 65, the message matches PATTERN, the spool as it was
refused() {
    ship_at "$BG" bundle import "$1"
    check_eq "$2: exit 65" 65 "$rc"
    check_match "$2: says where and what" "$3" "$err"
    check_eq "$2: nothing stored" "$bad_before" "$(dump "$BG")"
    ship_at "$BG" bundle verify "$1"
    check_eq "$2: verify says so too (exit 65)" 65 "$rc"
}
bad() { cp "$USB/b1.jsonl" "$USB/bad.jsonl"; }   # a fresh copy of a good bundle to damage

bad; python3 -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
i = b.index(b'\"numInputRecords\":') + len('\"numInputRecords\":'); b[i] = ord('9') if b[i] != ord('9') else ord('8')
open(p, 'wb').write(b)" "$USB/bad.jsonl"
refused "$USB/bad.jsonl" "a changed byte" "line 6: checksum mismatch"
bad; head -c 5000 "$USB/b1.jsonl" > "$USB/bad.jsonl"
refused "$USB/bad.jsonl" "cut in a line" "line 2: the file is cut short"
bad; head -n 4 "$USB/b1.jsonl" > "$USB/bad.jsonl"
refused "$USB/bad.jsonl" "cut after a line" "ends after line 4 without its sha256 line"
: > "$USB/bad.jsonl"
refused "$USB/bad.jsonl" "an empty file" "the file is empty"
bad; edit "$USB/bad.jsonl" 3 "'this is not json'"
refused "$USB/bad.jsonl" "a line that is not JSON" "line 3: not JSON"
bad; edit "$USB/bad.jsonl" 3 "l.replace('\"clientId\":\"184482118588404\"', '\"clientId\":\"1\"')"
refused "$USB/bad.jsonl" "an envelope with another clientId" "line 3: the envelope line is not in the form anon-telemetry writes"
bad; edit "$USB/bad.jsonl" 2 "l.replace('\"clientType\":\"Native\",', '')"
refused "$USB/bad.jsonl" "an envelope without a key" "line 2: the envelope line is not in the form"
bad; edit "$USB/bad.jsonl" 2 "l[:l.index('\"events\":[')] + '\"events\":[]}}'"
refused "$USB/bad.jsonl" "an envelope with no events" "line 2: envelope: events: no events"
bad; edit "$USB/bad.jsonl" 2 "l.replace('\"eventSchemaVer\":\"1.7\",', '', 1)"
refused "$USB/bad.jsonl" "an envelope without eventSchemaVer" "line 2: envelope: eventSchemaVer: missing required field"
bad; edit "$USB/bad.jsonl" 2 "l.replace('\"task\":\"batch\"', '\"task\":\"bogus\"', 1)"
refused "$USB/bad.jsonl" "an event that fails validation" "line 2: envelope: events\[0\]\.parameters\.task"
bad; edit "$USB/bad.jsonl" 2 "l.replace('\"ts\":\"', '\"ts\":\"x', 1)"
refused "$USB/bad.jsonl" "an event with a bad ts" "line 2: envelope: events\[0\]\.ts"
bad; edit "$USB/bad.jsonl" 2 "l.replace('\"ids\":[\"', '\"ids\":[\"00000000-0000-4000-8000-000000000000\",\"', 1)"
refused "$USB/bad.jsonl" "one uuid too many" "line 2: ids: 51 uuids for 50 events"
bad; edit "$USB/bad.jsonl" 2 "l[:9] + l[9:45].upper() + l[45:]"
refused "$USB/bad.jsonl" "a uuid not in lower case" "line 2: ids\[0\]: not a uuid in lower case"
bad; edit "$USB/bad.jsonl" 1 "l.replace('anon-telemetry-bundle', 'something-else')"
refused "$USB/bad.jsonl" "a header of another format" "line 1: not an anon-telemetry bundle"
bad; edit "$USB/bad.jsonl" 1 "l.replace('\"version\":1', '\"version\":2')"
refused "$USB/bad.jsonl" "a header of another version" "line 1: bundle format version 2: this anon-telemetry reads version 1"
refused "$USB/r1.jsonl" "a receipt given as a bundle" "line 1: this is a receipt"
bad; edit "$USB/bad.jsonl" 1 "l.replace('\"events\":78', '\"events\":77')"
refused "$USB/bad.jsonl" "more events than the header says" "more events than the header announces"
bad; edit "$USB/bad.jsonl" 1 "l.replace('\"events\":78', '\"events\":79')"
refused "$USB/bad.jsonl" "fewer events than the header says" "the header announces 79 events, the file holds 78"
bad; edit "$USB/bad.jsonl" 1 "l.replace('{', '{ ', 1)"
refused "$USB/bad.jsonl" "a header spelled differently" "line 1: the header is not in the form"
bad; printf '{"extra":1}\n' >> "$USB/bad.jsonl"
refused "$USB/bad.jsonl" "text after the sha256 line" "line 7: text after the sha256 line"
ship_at "$BG" bundle import "$USB/nowhere.jsonl"
check_eq "a file that is not there: exit 74" 74 "$rc"
check_match "a file that is not there: says so" "cannot open .*nowhere.jsonl" "$err"
# one bad file among good ones: the good ones are stored, the bad one not at all
bad; edit "$USB/bad.jsonl" 3 "'not json'"
ship_at "$BG" bundle import "$USB/diode.jsonl" "$USB/bad.jsonl"
check_eq "a good and a bad file: exit 65" 65 "$rc"
check_match "a good and a bad file: the good one stored" "diode.jsonl: .*12 events stored" "$out"
check_match "a good and a bad file: the bad one refused whole" "bad.jsonl refused: nothing of it was stored" "$err"
check_eq "a good and a bad file: only the good one's events" 13 "$(sql "$BG" "SELECT count(*) FROM events")"

# receipts: another spool's, unknown uuids, damaged ones (exit 65, nothing changed)
fill "$E" 2 sR
ship_at "$E" bundle create "$USB/b9.jsonl"
B9=$(head -n 1 "$USB/b9.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"])')
ship_at "$G" bundle import "$USB/b9.jsonl"
ship_at "$G" receipt create "$USB/r9.jsonl" --bundle "$B9"
e_before=$(dump "$E")
rrefused() {
    ship_at "$E" receipt apply "$1"
    check_eq "$2: exit 65" 65 "$rc"
    check_match "$2: says where and what" "$3" "$err"
    check_eq "$2: nothing changed" "$e_before" "$(dump "$E")"
}
cp "$USB/r9.jsonl" "$USB/rbad.jsonl"; edit "$USB/rbad.jsonl" 2 "l.replace(l[9:17], 'ffffffff')"
rrefused "$USB/rbad.jsonl" "a receipt naming an unknown uuid" "line 2: event ffffffff-.* is not in this spool"
cp "$USB/r9.jsonl" "$USB/rbad.jsonl"; edit "$USB/rbad.jsonl" 1 "l.replace('\"spool\":\"$SPOOL_ID\"', '\"spool\":\"' + 'a' * 32 + '\"')"
rrefused "$USB/rbad.jsonl" "a receipt for another spool" "this receipt is for spool a{32}; this is spool $SPOOL_ID"
cp "$USB/r9.jsonl" "$USB/rbad.jsonl"; edit "$USB/rbad.jsonl" 1 "l.replace('$B9', '00000000-0000-4000-8000-00000000beef')"
rrefused "$USB/rbad.jsonl" "a receipt for a bundle this spool never made" "line 1: bundle .* was not made by this spool"
cp "$USB/r9.jsonl" "$USB/rbad.jsonl"; sed -i '2s/"pending"/"gone"/' "$USB/rbad.jsonl"; reseal "$USB/rbad.jsonl"
rrefused "$USB/rbad.jsonl" "a receipt with an unknown status" "line 2: status: expected"
cp "$USB/r9.jsonl" "$USB/rbad.jsonl"; sed -i '2s/"status":"pending"/"status":"dlq"/' "$USB/rbad.jsonl"; reseal "$USB/rbad.jsonl"
rrefused "$USB/rbad.jsonl" "a dead letter without a reason" "line 2: reason: a dead letter needs its reason"
cp "$USB/r9.jsonl" "$USB/rbad.jsonl"; sed -i '2s/"status":"pending"/"status":"sent","sent_at":"yesterday"/' "$USB/rbad.jsonl"; reseal "$USB/rbad.jsonl"
rrefused "$USB/rbad.jsonl" "a sent event without a time" "line 2: sent_at: not a UTC time"
cp "$USB/r9.jsonl" "$USB/rbad.jsonl"; sed -i '1s/"created_at":"2/"created_at":"1/' "$USB/rbad.jsonl"
rrefused "$USB/rbad.jsonl" "a receipt with a changed byte" "checksum mismatch"
head -n 2 "$USB/r9.jsonl" > "$USB/rbad.jsonl"
rrefused "$USB/rbad.jsonl" "a cut receipt" "without its sha256 line"
rrefused "$USB/b9.jsonl" "a bundle given as a receipt" "line 1: this is a bundle"
ship_at "$E" receipt apply "$USB/r9.jsonl"
check_eq "the good receipt still applies" 0 "$rc"

# usage
ship_at "$E" bundle create
check_eq "bundle create without FILE: exit 64" 64 "$rc"
ship_at "$E" bundle create "$USB/x.jsonl" --max-events 0
check_eq "--max-events 0: exit 64" 64 "$rc"
ship_at "$E" receipt create "$USB/x.jsonl" --bundle not-a-uuid
check_eq "receipt create --bundle not-a-uuid: exit 64" 64 "$rc"
ship_at "$E" receipt create "$USB/x.jsonl"
check_eq "receipt create where nothing was imported: exit 66" 66 "$rc"
check "no file left by refused commands" test ! -e "$USB/x.jsonl"
ship_at "$T/none/spool.db" bundle create "$USB/x.jsonl"
check_eq "bundle create on a spool that does not exist: exit 74" 74 "$rc"
check "... and it is not created" test ! -e "$T/none"

finish
