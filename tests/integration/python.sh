#!/bin/bash
# The Python package anon_telemetry (python/): the unittest suite in tests/python/, run
# with `python3 -m unittest` against the library of the build under test ($ANON_BUILD,
# given to the package as ANON_TELEMETRY_LIB). Each test counts as one check. Where
# Debian's own /usr/bin/python3 is another interpreter than the python3 on PATH (pyenv),
# the pydantic test (python3-pydantic, pydantic 1) runs under it too.
# A sanitized library needs the ASan runtime first in the process: it is preloaded.
. "$(dirname "$0")/../lib.sh"

LIB=$BUILD/libanontelemetry.so.1
[ -e "$LIB" ] || LIB=$BUILD/libanontelemetry.so
check "library built: $LIB" test -e "$LIB"
export ANON_TELEMETRY_LIB=$LIB ANON_BUILD=$BUILD ANON_FAULTFS=$BUILD/faultfs.so
export PYTHONDONTWRITEBYTECODE=1 TMPDIR=$T

if ldd "$LIB" 2>/dev/null | grep -q 'libasan\.so'; then
    asan=$(${CC:-cc} -print-file-name=libasan.so)
    check "ASan runtime found for the sanitized library" test -e "$asan"
    export LD_PRELOAD="$asan${LD_PRELOAD:+ $LD_PRELOAD}"
    export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi

# run_unittest DESC PYTHON [TEST...]: runs the suite (or the named test modules) and
# counts its tests: every one that neither failed, erred nor was skipped is a pass.
run_unittest() {
    local desc=$1 py=$2 ran bad summary
    shift 2
    [ $# -gt 0 ] || set -- discover -t . -s .
    (cd "$ROOT/tests/python" && "$py" -m unittest "$@") > "$T/unittest.out" 2>&1
    local rc=$?
    ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$T/unittest.out" | tail -n 1)
    summary=$(grep -E '^(OK|FAILED)( \(.*\))?$' "$T/unittest.out" | tail -n 1)
    if [ -z "$ran" ] || [ -z "$summary" ]; then
        fail "$desc: no unittest summary (exit $rc)"
        tail -n 30 "$T/unittest.out"
        return
    fi
    # failures, errors, skips and unexpected successes all count against the suite
    bad=$(printf '%s\n' "$summary" | grep -oE '(failures|errors|skipped|unexpected successes)=[0-9]+' |
          awk -F= '{ s += $2 } END { print s + 0 }')
    [ "$bad" -gt "$ran" ] && bad=$ran   # subtests can fail more often than tests ran
    _passed=$((_passed + ran - bad))
    if [ "$bad" -gt 0 ] || [ "$rc" -ne 0 ]; then
        [ "$bad" -eq 0 ] && bad=1
        _failed=$((_failed + bad))
        printf 'FAIL %s: %s: %s\n' "${0##*/}" "$desc" "$summary"
        grep -v -E '^(Ran |OK|FAILED|\.+$)' "$T/unittest.out" | tail -n 60
    fi
}

run_unittest "python3 $(python3 -c 'import sys; print(sys.version.split()[0])')" python3

if [ -x /usr/bin/python3 ] &&
   [ "$(/usr/bin/python3 -c 'import sys; print(sys.prefix)')" != "$(python3 -c 'import sys; print(sys.prefix)')" ]; then
    run_unittest "Debian's /usr/bin/python3 (pydantic $(/usr/bin/python3 -c 'import pydantic; print(pydantic.VERSION)' 2>/dev/null))" \
        /usr/bin/python3 test_events
fi

# ---- make install puts the package where Debian's python3 finds it; uninstall removes it
DEBIAN_PY=/usr/bin/python3
[ -x "$DEBIAN_PY" ] || DEBIAN_PY=python3
pyver=$("$DEBIAN_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# nested makes: only what is passed here, nothing inherited from a make running this suite
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u LD_PRELOAD make -s -C "$ROOT" BUILD="$BUILD" SANITIZE="${ANON_SANITIZE:-}" "$@"; }
for prefix in /usr /usr/local; do
    case $prefix in
        /usr) dir=/usr/lib/python3/dist-packages ;;
        *) dir=$prefix/lib/python$pyver/dist-packages ;;
    esac
    R=$T/root-${prefix//\//_}
    mk install DESTDIR="$R" PREFIX="$prefix" > "$T/make.log" 2>&1
    check_eq "make install PREFIX=$prefix succeeds" 0 $?
    for f in __init__.py _native.py _spool.py _tokens.py _helpers.py py.typed; do
        check "PREFIX=$prefix: $dir/anon_telemetry/$f installed" \
            cmp -s "$ROOT/python/anon_telemetry/$f" "$R$dir/anon_telemetry/$f"
    done
    check_eq "PREFIX=$prefix: the package knows the library's directory" "LIBDIR = \"$prefix/lib\"" \
        "$(cat "$R$dir/anon_telemetry/_installed.py")"
    check_match "PREFIX=$prefix: $dir is on Debian's python3's path" "(^|:)$dir(:|$)" \
        "$(env -u PYTHONPATH "$DEBIAN_PY" -c 'import sys; print(":".join(sys.path))')"
    # from the staging tree the library of the live system is not there: the package says
    # it looked beside itself first
    out=$(cd / && env -u ANON_TELEMETRY_LIB -u LD_PRELOAD PYTHONPATH="$R$dir" "$DEBIAN_PY" -c '
import anon_telemetry as at
h = at.TelemetryHandler()
h.enqueue({})
print(at.__file__, h.last_error)' 2>&1)
    check_match "PREFIX=$prefix: the installed package imports" "^$R$dir/anon_telemetry/__init__.py " "$out"
    case $out in
        *"cannot load libanontelemetry"*)
            check_match "PREFIX=$prefix: it looks for the library beside itself first" \
                "tried: $prefix/lib/libanontelemetry\.so\.1: " "$out" ;;
        *) check_match "PREFIX=$prefix: an installed library was found" 'task: missing required field' "$out" ;;
    esac
    mk uninstall DESTDIR="$R" PREFIX="$prefix" > "$T/make.log" 2>&1
    check_eq "make uninstall PREFIX=$prefix succeeds" 0 $?
    check "PREFIX=$prefix: the package is gone" test ! -e "$R$dir/anon_telemetry"
done

finish
