# tests/lib.sh: sourced by integration tests. Checks print a line only on failure;
# finish prints the closing "N passed, N failed" line that tests/run.sh adds up.
# Each test file gets its own scratch directory $T (removed at exit) and $BUILD.

set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ -d "$ROOT/spool" ] || ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ANON_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SPOOL_BIN=$BUILD/anon-telemetry-spool
SHIP_BIN=$BUILD/anon-telemetry-ship
TOKENS_BIN=$BUILD/anon-telemetry-tokens
# The spool format this tree writes (PRAGMA user_version of a new spool).
SPOOL_FORMAT=$(sed -n 's/^#define ANON_SPOOL_FORMAT *\([0-9]*\).*/\1/p' "$ROOT/spool/internal.h")
T=$(mktemp -d "${TMPDIR:-/tmp}/anon-test.XXXXXX")
chmod 700 "$T"
_passed=0
_failed=0
_cleanup_hooks=""

# A clean environment: no telemetry variables leak in from the caller's shell.
unset NEMO_TELEMETRY_ENABLED NEMO_DEPLOYMENT_TYPE NEMO_TELEMETRY_ENDPOINT NEMO_SESSION_PREFIX \
      ANON_TELEMETRY_SPOOL http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy \
      NO_PROXY no_proxy

on_exit() { _cleanup_hooks="$1; $_cleanup_hooks"; }
_run_cleanup() { eval "$_cleanup_hooks"; rm -rf "$T"; }
trap _run_cleanup EXIT

pass() { _passed=$((_passed + 1)); }
fail() { _failed=$((_failed + 1)); printf 'FAIL %s: %s\n' "${0##*/}" "$*"; }

# check DESC CMD...: passes when CMD exits 0
check() { _d=$1; shift; if "$@"; then pass; else fail "$_d"; fi; }
# check_eq DESC EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then pass; else fail "$1: expected [$2], got [$3]"; fi
}
# check_match DESC REGEX ACTUAL (grep -E)
check_match() {
    if printf '%s' "$3" | grep -Eq -- "$2"; then pass; else fail "$1: [$3] does not match /$2/"; fi
}
check_nomatch() {
    if printf '%s' "$3" | grep -Eq -- "$2"; then fail "$1: [$3] matches /$2/"; else pass; fi
}

# replaced WHAT...: says which checks this run cannot make here (not root, no mount, ...)
# and what stands in for them; tests/run.sh repeats these lines after the suite's result,
# also when it passed, so that nobody takes a green run for more than it proved.
replaced() { printf 'REPLACED %s: %s\n' "${0##*/}" "$*"; }

# sql DB QUERY: one sqlite3 query, waiting on locks like an operator would
sql() { sqlite3 -cmd '.timeout 5000' "$1" "$2"; }

finish() {
    printf '%d passed, %d failed\n' "$_passed" "$_failed"
    [ "$_failed" -eq 0 ]
}
