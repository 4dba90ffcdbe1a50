#!/bin/bash
# The short crash suite inside make test (the long one: make crash, 500+ iterations):
# SIGKILL writers and shippers at random; no acknowledged event may be lost. Then the
# bundles' (tests/crash/bundle.sh): bundle create, bundle import, receipt apply killed.
. "$(dirname "$0")/../lib.sh"

out=$(bash "$ROOT/tests/crash/crash.sh" "${CRASH_SHORT_ITERATIONS:-60}" 2>&1)
rc=$?
printf '%s\n' "$out"
check_eq "crash suite passes its oracle" 0 "$rc"
check_match "no acknowledged event lost" 'events lost: +0$' "$(printf '%s\n' "$out" | grep 'events lost')"
check_match "nothing marked sent that the collector never got" 'never received: +0$' "$(printf '%s\n' "$out" | grep 'never received')"
check_match "spool intact after the kills" 'integrity_check: +ok$' "$(printf '%s\n' "$out" | grep integrity_check)"
check_match "writers were killed" ' [1-9][0-9]* writers and ' "$(printf '%s\n' "$out" | grep 'iterations')"
check_match "shippers were killed" ' [1-9][0-9]* shippers killed' "$(printf '%s\n' "$out" | grep 'iterations')"
check_match "the relay was killed" 'relay: killed [1-9][0-9]* times' "$(printf '%s\n' "$out" | grep 'relay: killed')"
check_match "the relay answered 200 for events (in the ledger)" 'answered 200: [1-9][0-9]*$' \
    "$(printf '%s\n' "$out" | grep 'relay: killed')"
check_match "the final drain delivered everything" 'final drain exit: +0$' "$(printf '%s\n' "$out" | grep 'final drain')"

# Bundles and receipts: bundle create, bundle import and receipt apply killed at random
# moments, 100 iterations (tests/crash/bundle.sh).
out=$(bash "$ROOT/tests/crash/bundle.sh" "${CRASH_BUNDLE_ITERATIONS:-100}" 2>&1)
rc=$?
printf '%s\n' "$out"
line() { printf '%s\n' "$out" | grep "$1"; }
check_eq "bundle crash suite passes its oracle" 0 "$rc"
check_match "bundle creates, imports and receipt applies were killed" \
    'killed [1-9][0-9]* bundle create, [1-9][0-9]* bundle import, [1-9][0-9]* receipt apply' "$(line 'iterations;')"
check_match "no event gone from the enclave" 'gone from the enclave: +0$' "$(line 'gone from the enclave')"
check_match "no event left pending without being in a bundle file" 'in no bundle file: +0$' "$(line 'in no bundle file')"
check_match "everything sent in the end" 'not sent in the end \(enclave\): +0$' "$(line 'not sent in the end')"
check_match "both spools intact" 'integrity_check: +enclave ok, gateway ok$' "$(line 'integrity_check')"
check_match "no violation (partial file, half import, half receipt)" 'violations: +0$' "$(line 'violations')"
finish
