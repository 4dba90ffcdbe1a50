#!/bin/sh
# make bench: runs every benchmark in tests/bench/ (each prints its own ratios against a
# baseline measured side by side in the same run). Not part of make test.
set -u
cd "$(dirname "$0")/../.." || exit 1
export ANON_BUILD=${ANON_BUILD:-build}
rc=0
for b in tests/bench/*.sh; do
    [ "${b##*/}" = run.sh ] && continue
    echo "== ${b##*/}"
    bash "$b" || rc=1
done
exit $rc
