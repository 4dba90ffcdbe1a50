#!/bin/sh
# build-deb.sh: the Debian packages (what `make deb` runs): dpkg-buildpackage -us -uc -b in
# a copy of the tree in a temporary directory, so that the build uses and removes nothing
# of the checkout (no build/ of anybody's), and the packages are made from what is
# committed, as a site that clones the repository would make them.
#
#   scripts/build-deb.sh [--worktree] OUTDIR
#
# OUTDIR receives anon-telemetry_*.deb, libanontelemetry1_*.deb,
# libanontelemetry-dev_*.deb, python3-anon-telemetry_*.deb (and the -dbgsym packages of the
# first two: their debugging symbols), the .buildinfo and .changes files and build.log (dpkg-buildpackage's output; its last lines are shown when it fails).
# --worktree copies the working tree's files instead of the last commit (uncommitted
# changes included; files git ignores left out): for trying a change before committing it.
# Outside a git checkout (an unpacked source archive) the tree is copied without build/.
#
# Needs debhelper, dh-python and the Build-Depends of debian/control (scripts/install-deps.sh
# installs them). DEB_BUILD_OPTIONS is passed on (parallel=N defaults to the CPU count).
# Exit status: 0 built, 64 bad usage, 69 a tool is missing, 1 the build failed.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { code=$1; shift; echo "build-deb: $*" >&2; exit "$code"; }
usage() { sed -n '7p' "$0" | sed 's/^# \{0,1\}/usage: /' >&2; exit 64; }

worktree=0
while [ $# -gt 0 ]; do
    case $1 in
    --worktree) worktree=1; shift ;;
    -h|--help) sed -n '2,/^set -eu$/p' "$0" | sed -e '/^set -eu$/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) echo "build-deb: unknown option '$1'" >&2; usage ;;
    *) break ;;
    esac
done
[ $# -eq 1 ] || usage
out=$1

for tool in dpkg-buildpackage dh dpkg-parsechangelog; do
    command -v "$tool" >/dev/null 2>&1 ||
        die 69 "no $tool: install debhelper and dpkg-dev (scripts/install-deps.sh does)"
done

# The package's version is the project's: debian/changelog must say what the header says.
hv=$(sed -n 's/^#define ANON_TELEMETRY_VERSION "\(.*\)"$/\1/p' "$ROOT/spool/anon_telemetry.h")
dv=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
[ "$hv" = "$dv" ] ||
    die 1 "debian/changelog is at version $dv, spool/anon_telemetry.h at $hv: add a changelog entry (dch -v $hv)"

mkdir -p "$out" || die 1 "cannot create $out"
out=$(cd "$out" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/anon-deb.XXXXXX") || die 1 "cannot create a temporary directory"
trap 'rm -rf "$T"' EXIT INT TERM
src=$T/anon-telemetry-$hv
mkdir "$src"

if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    if [ "$worktree" = 1 ]; then
        # tracked and new files as they are now (a tracked file deleted meanwhile is left out)
        (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
            xargs -0 sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh |
            tar --null -T - -cf -) | tar -xf - -C "$src"
    else
        git -C "$ROOT" archive --format=tar HEAD | tar -xf - -C "$src"
        [ -f "$src/debian/rules" ] ||
            die 1 "the last commit has no debian/rules (commit debian/, or use --worktree)"
    fi
else
    (cd "$ROOT" && tar --exclude=./build --exclude=./debian/build -cf - .) | tar -xf - -C "$src"
fi

case " ${DEB_BUILD_OPTIONS:-} " in
*" parallel="*) ;;
*) DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc 2>/dev/null || echo 1)" ;;
esac
export DEB_BUILD_OPTIONS

echo "build-deb: building $hv in $src" >&2
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then
    cp "$T/build.log" "$out/build.log" 2>/dev/null || true
    tail -n 40 "$T/build.log" >&2
    die 1 "dpkg-buildpackage failed (the whole log: $out/build.log)"
fi
cp "$T/build.log" "$out/build.log"
# what an earlier build left (another version) goes, so OUTDIR holds one set
rm -f "$out"/anon-telemetry_*.* "$out"/anon-telemetry-dbgsym_*.deb "$out"/libanontelemetry*_*.deb \
      "$out"/python3-anon-telemetry_*.deb
for f in "$T"/*.deb "$T"/*.buildinfo "$T"/*.changes; do
    [ -e "$f" ] || continue
    cp "$f" "$out/"
    case $f in *.deb) echo "build-deb: $out/${f##*/}" ;; esac
done
for p in anon-telemetry libanontelemetry1 libanontelemetry-dev python3-anon-telemetry; do
    ls "$out/${p}_${hv}_"*.deb >/dev/null 2>&1 || die 1 "no $p package was made (see $out/build.log)"
done
