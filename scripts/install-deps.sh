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
libmicrohttpd-dev python3-httpx libssl-dev"

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

echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
