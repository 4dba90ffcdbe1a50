#!/bin/sh
# make bench: runs every benchmark in tests/bench/ (each prints its own ratios against a
# baseline measured side by side in the same run). Not part of make test.
set -u
cd "$(dirname "$0")/../.." || exit 1
export ANON_BUILD=${ANON_BUILD:-build}
# A benchmark that cannot make one of its comparisons here (no Node.js, ...) makes the
# others and writes a line to $BENCH_NOT_RUN; they are repeated at the end.
BENCH_NOT_RUN=$(mktemp)
export BENCH_NOT_RUN
trap 'rm -f "$BENCH_NOT_RUN"' EXIT
rc=0
for b in tests/bench/*.sh; do
    [ "${b##*/}" = run.sh ] && continue
    echo "== ${b##*/}"
    bash "$b" || rc=1
done
if [ -s "$BENCH_NOT_RUN" ]; then
    echo "== comparisons NOT RUN on this machine:"
    sed 's/^/   /' "$BENCH_NOT_RUN"
fi
exit $rc
