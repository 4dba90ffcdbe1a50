#!/bin/bash
# build.sh: the build itself. make test SUITE=name runs one suite (and an unknown name is
# an error, not a green run); the dependencies' pkg-config flags are asked for after the
# dependency step, not when make reads the Makefile (a fresh machine's first make links);
# CPPFLAGS and AR are honoured; library objects compile without the shipper's headers;
# make clean removes BUILD.
. "$(dirname "$0")/../lib.sh"

# nested makes: only what is passed here, nothing inherited from a make running this suite;
# BUILD as make test spells it (relative to the checkout), so that the objects' dependency
# files keep naming the same targets and a header change still rebuilds what includes it
MKBUILD=${BUILD#"$ROOT"/}
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" "$@"; }
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err"); }

# ---- tests/run.sh --suite, on a stand-in tree of two unit "binaries" and two scripts,
# each of which records that it ran
W=$T/tree
mkdir -p "$W/tests/integration" "$W/b/tests"
cp "$ROOT/tests/run.sh" "$W/tests/run.sh"
for s in alpha beta; do
    printf '#!/bin/sh\necho test_%s >> "%s/ran"\necho "2 passed, 0 failed"\n' "$s" "$T" > "$W/b/tests/test_$s"
    chmod +x "$W/b/tests/test_$s"
done
for s in alpha gamma; do
    printf 'echo %s.sh >> "%s/ran"\necho "3 passed, 0 failed"\n' "$s" "$T" > "$W/tests/integration/$s.sh"
done
# suite ARGS...: runs the stand-in run.sh; $ran is what ran, in order, on one line
suite() { rm -f "$T/ran"; run env ANON_BUILD=b sh "$W/tests/run.sh" "$@"; ran=$(cat "$T/ran" 2>/dev/null | tr '\n' ' '); }

suite
check_eq "no --suite: every suite runs" "test_alpha test_beta alpha.sh gamma.sh " "$ran"
check_eq "no --suite: the total of all" "10 passed, 0 failed" "$(printf '%s\n' "$out" | tail -n 1)"
suite --suite test_alpha
check_eq "--suite test_alpha: only the unit binary" "test_alpha " "$ran"
check_eq "--suite test_alpha: its own total" "2 passed, 0 failed" "$(printf '%s\n' "$out" | tail -n 1)"
suite --suite alpha.sh
check_eq "--suite alpha.sh: only the script" "alpha.sh " "$ran"
suite --suite alpha
check_eq "--suite alpha: both suites of that name" "test_alpha alpha.sh " "$ran"
suite --suite gamma
check_eq "--suite gamma: the script (there is no test_gamma)" "gamma.sh " "$ran"
suite --suite beta,gamma.sh
check_eq "--suite beta,gamma.sh: two names" "test_beta gamma.sh " "$ran"
suite --unit-only --suite alpha
check_eq "--unit-only --suite alpha: the unit binary only" "test_alpha " "$ran"
suite --suite nosuch
check_eq "an unknown suite is an error (64)" 64 "$rc"
check_match "and says so, listing what there is" "no suite named 'nosuch'.*test_alpha.*gamma.sh" "$err"
check_eq "and runs nothing" "" "$ran"
check_nomatch "and prints no green total" 'passed' "$out"
suite --suite alpha --suite nosuch
check_eq "one unknown name among good ones: still an error, nothing run" "64|" "$rc|$ran"
suite --unit-only --suite gamma
check_eq "a script's name with --unit-only is unknown" 64 "$rc"
suite --suite ''
check_eq "an empty name is an error" 64 "$rc"
suite --suite 'test_*'
check_eq "a pattern is not a name" "64|" "$rc|$ran"

# ---- make test SUITE=: through make, on the real suites (one that is quick)
run mk -s test BUILD="$MKBUILD" SANITIZE="${ANON_SANITIZE:-}" SUITE=readall
check_eq "make test SUITE=readall exits 0" 0 "$rc"
check_match "and ran test_readall" '^== test_readall: [0-9]+ passed, 0 failed' "$out"
check_eq "and nothing else" 1 "$(printf '%s\n' "$out" | grep -c '^== ')"
check_match "ending with its total" '^[1-9][0-9]* passed, 0 failed$' "$(printf '%s\n' "$out" | tail -n 1)"
run mk -s test BUILD="$MKBUILD" SANITIZE="${ANON_SANITIZE:-}" SUITE=no_such_suite
check "make test SUITE=no_such_suite fails" test "$rc" -ne 0
check_match "naming the unknown suite" "no suite named 'no_such_suite'" "$err"

# ---- pkg-config is asked after the dependency step: a stand-in pkg-config (first on PATH)
# records each call and marks the flags with whether $(BUILD)/.deps-ok existed by then
F=$T/fresh
mkdir -p "$T/fakebin"
real_pkg=$(command -v pkg-config)
cat > "$T/fakebin/pkg-config" <<EOS
#!/bin/sh
echo "\$*" >> "$T/pkg.log"
if [ -e "$F/.deps-ok" ]; then mark=-DPKG_AFTER_DEPS; else mark=-DPKG_BEFORE_DEPS; fi
out=\$("$real_pkg" "\$@") || exit \$?
case " \$* " in *" --cflags "*) out="\$out \$mark" ;; esac
printf '%s\n' "\$out"
EOS
chmod +x "$T/fakebin/pkg-config"
export PATH="$T/fakebin:$PATH"

run mk -s clean BUILD="$F"
check_eq "reading the Makefile asks pkg-config nothing" "" "$(cat "$T/pkg.log" 2>/dev/null)"
run mk BUILD="$F" CPPFLAGS=-DFROM_CPPFLAGS "$F/obj/spool/readall.o" "$F/obj/spool/err.o" "$F/obj/shipper/backoff.o"
check_eq "a fresh build dir: objects compile" 0 "$rc"
check "the dependency step ran first" test -e "$F/.deps-ok"
lib_cc=$(printf '%s\n' "$out" | grep -- '-o [^ ]*/obj/spool/readall.o')
check_match "pkg-config's flags are those of after the dependency step" 'PKG_AFTER_DEPS' "$lib_cc"
check_nomatch "and never of before it" 'PKG_BEFORE_DEPS' "$out"
check_eq "pkg-config --cflags asked once for three objects" 1 "$(grep -c -- '--cflags' "$T/pkg.log")"
check_match "CPPFLAGS is honoured" '-DFROM_CPPFLAGS' "$lib_cc"
check_match "library objects: hidden visibility" '-fvisibility=hidden' "$lib_cc"
check_nomatch "library objects: no -Ishipper" '-Ishipper' "$lib_cc"
check_match "shipper objects: -Ishipper" '-Ishipper' "$(printf '%s\n' "$out" | grep -- '-o [^ ]*/obj/shipper/backoff.o')"
run mk -n BUILD="$F" AR=my-ar "$F/libanontelemetry.a"
check_match "AR is honoured" "^my-ar rcs $F/libanontelemetry.a " "$out"

# ---- make clean removes BUILD, and only it
run mk -s clean BUILD="$F"
check_eq "make clean BUILD=DIR exits 0" 0 "$rc"
check "make clean BUILD=DIR removed it" test ! -e "$F"
check "and left the suite's own build alone" test -x "$BUILD/tests/test_readall"
finish
