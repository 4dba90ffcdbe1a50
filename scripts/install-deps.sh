#!/bin/sh
# Install the Debian packages anon-telemetry needs to build, test and demo.
# Does nothing (and needs no network or root) when all of them are present.
#   scripts/install-deps.sh [--check]   --check: report what is missing, install nothing
set -eu

# clang and libclang-rt-14-dev (libFuzzer's runtime on Debian 12): make test replays the
# fuzz seed corpora through their sanitized targets, and CI fuzzes each for a while.
PKGS="build-essential pkg-config libsqlite3-dev libcurl4-openssl-dev libcjson-dev sqlite3 \
clang libclang-rt-14-dev \
python3 python3-jsonschema python3-pydantic openssl ca-certificates procps valgrind curl time \
libmicrohttpd-dev python3-httpx faketime libssl-dev"

# The Debian packages and the checks of what a site installs (make test-deb, docs.sh,
# metrics.sh): debhelper, dh-python, dpkg-dev and lintian build and check the packages,
# mandoc lints the manual pages and man-db finds them (man -w); prometheus brings promtool,
# and prometheus-node-exporter the textfile collector the metrics are read through;
# systemd brings systemd-analyze, which checks the units even where systemd is not running.
PKGS="$PKGS debhelper dh-python dpkg-dev lintian mandoc man-db prometheus prometheus-node-exporter \
systemd"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        # python3 may come from elsewhere (pyenv); accept any python3 on PATH.
        if [ "$p" = python3 ] && command -v python3 >/dev/null 2>&1; then continue; fi
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "${1:-}" = "--check" ]; then
    echo "missing Debian packages:$missing" >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "install-deps: missing packages:$missing (run as root: apt-get install$missing)" >&2
        exit 1
    fi
else
    SUDO=""
fi

# Quiet: apt's and dpkg's pages of output (and debconf's remarks) go to a log, shown only
# when something fails.
log=$(mktemp "${TMPDIR:-/tmp}/install-deps.XXXXXX.log")
echo "install-deps: installing$missing" >&2

# prometheus and prometheus-node-exporter are wanted for their programs (promtool; a
# node_exporter the tests start themselves on 127.0.0.1): the services their packages
# would start at once, listening on every address, are neither started (policy-rc.d says
# no while they are installed) nor left enabled.
services=""
for p in $missing; do
    case $p in prometheus|prometheus-node-exporter) services="$services $p" ;; esac
done
policy=""
if [ -n "$services" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# install-deps.sh: no service starts while it installs packages\nexit 101\n' |
        $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod 755 /usr/sbin/policy-rc.d &&
        policy=/usr/sbin/policy-rc.d
fi

rc=0
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $missing >>"$log" 2>&1 || rc=$?
[ -z "$policy" ] || $SUDO rm -f "$policy"
if [ "$rc" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "install-deps: apt-get failed (exit $rc); the whole log: $log" >&2
    exit 1
fi
for p in $services; do
    $SUDO systemctl disable "$p.service" >>"$log" 2>&1 || true
done
rm -f "$log"
echo "install-deps: installed$missing" >&2
