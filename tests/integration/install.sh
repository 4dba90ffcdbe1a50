#!/bin/bash
# make install into a DESTDIR, then build the README's C example against the installed
# header and libraries and run it: the documented usage works as documented. Also the
# library's ABI (a SONAME, links, only the public API exported), the pkg-config file, and
# that make uninstall takes everything away again.
. "$(dirname "$0")/../lib.sh"

HDR=$ROOT/spool/anon_telemetry.h
EXAMPLE=$ROOT/tests/fixtures/example_emit.c
# nested makes: only what is passed here, nothing inherited from a make running this suite;
# BUILD as make test spells it (relative to the checkout), so that the objects' dependency
# files keep naming the same targets and a header change still rebuilds what includes it
MKBUILD=${BUILD#"$ROOT"/}
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" BUILD="$MKBUILD" SANITIZE="${ANON_SANITIZE:-}" "$@"; }

mk install DESTDIR="$T/root" PREFIX=/usr >"$T/make.log" 2>&1
check_eq "make install succeeds" 0 $?
for f in usr/bin/anon-telemetry-spool usr/lib/libanontelemetry.a usr/lib/libanontelemetry.so \
         usr/include/anon_telemetry.h usr/share/anon-telemetry/spool.sql \
         usr/share/anon-telemetry/anonymizer_event.schema.json \
         usr/lib/pkgconfig/anon-telemetry.pc; do
    check "installed $f" test -f "$T/root/$f"
done
check_eq "no internal header installed" "" "$(ls "$T/root/usr/include" | grep -v '^anon_telemetry.h$')"
check_nomatch "a DESTDIR install does not run ldconfig" 'ldconfig' "$(cat "$T/make.log")"

# ---- the shared library: a real file, the SONAME link, the link for -lanontelemetry
L=$T/root/usr/lib
real=$(cd "$L" && ls libanontelemetry.so.1.*)
check_match "one real library file, libanontelemetry.so.1.x.y" '^libanontelemetry\.so\.1\.[0-9]+\.[0-9]+$' "$real"
check "the real file is a file, not a link" test -f "$L/$real" -a ! -L "$L/$real"
check_eq "libanontelemetry.so.1 -> the real file" "$real" "$(readlink "$L/libanontelemetry.so.1")"
check_eq "libanontelemetry.so -> libanontelemetry.so.1" libanontelemetry.so.1 "$(readlink "$L/libanontelemetry.so")"
check_match "its SONAME is libanontelemetry.so.1" 'Library soname: \[libanontelemetry\.so\.1\]' \
    "$(readelf -d "$L/$real")"
check "the installed library is the built one" cmp -s "$L/$real" "$BUILD/$real"
check_eq "build/ has the same links" "libanontelemetry.so.1 $real" \
    "$(readlink "$BUILD/libanontelemetry.so") $(readlink "$BUILD/libanontelemetry.so.1")"

# ---- only the public API is exported: what nm -D lists is what anon_telemetry.h declares
api=$(grep -oE '\banon_[a-z0-9_]+ *\(' "$HDR" | tr -d ' (' | sort -u)
exported=$(nm -D --defined-only "$BUILD/libanontelemetry.so" | awk 'NF == 3 { print $3 }' | sort -u)
check "nm -D lists the library's symbols" test "$(printf '%s\n' "$exported" | grep -c '^anon_')" -gt 20
check_eq "every exported symbol is declared in anon_telemetry.h" "" \
    "$(comm -23 <(printf '%s\n' "$exported") <(printf '%s\n' "$api") | tr '\n' ' ')"
check_eq "every function anon_telemetry.h declares is exported" "" \
    "$(comm -13 <(printf '%s\n' "$exported") <(printf '%s\n' "$api") | tr '\n' ' ')"
check_eq "no internal function exported (anon_buf_*, tokens_*, anon_seterr, ...)" "" \
    "$(printf '%s\n' "$exported" | grep -E '^(anon_buf_|tokens_|anon_seterr$|anon_read_all$|anon_spool_open_ex$|anon_utf8_|anon_now_ms$|queue_|ship_)' | tr '\n' ' ')"

# ---- pkg-config, looking into the DESTDIR as if it were the system
export PKG_CONFIG_PATH="$L/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$T/root"
check_eq "pkg-config: the project's version" \
    "$(sed -n 's/^#define ANON_TELEMETRY_VERSION "\(.*\)"$/\1/p' "$HDR")" "$(pkg-config --modversion anon-telemetry)"
check_eq "pkg-config --cflags --libs: header and shared library" \
    "-I$T/root/usr/include -L$L -lanontelemetry" "$(pkg-config --cflags --libs anon-telemetry | sed 's/ *$//')"
check_match "pkg-config --libs --static adds what the library needs" \
    "^-L$L -lanontelemetry .*-lsqlite3.* -lcjson.* -lpthread -lm$" "$(pkg-config --libs --static anon-telemetry | sed 's/ *$//')"

# ---- the README's C example is the fixture, byte for byte
readme_prog=$(awk '/^### From C$/ { c = 1 } c && /^```c$/ { p = 1; next } p && /^```$/ { exit } p' "$ROOT/README.md")
check_eq "the README's C example is tests/fixtures/example_emit.c" "$(cat "$EXAMPLE")" "$readme_prog"

san=""
[ "${ANON_SANITIZE:-}" = 1 ] && san="-fsanitize=address,undefined"   # set by make SANITIZE=1 test
CC=${CC:-cc}
# check_example DESC BINARY [ENV...]: the example queues its event and honours the opt-out
check_example() {
    local d=$1 bin=$2 uuid; shift 2
    uuid=$(env "$@" ANON_TELEMETRY_SPOOL="$T/spool-$d/spool.db" "$bin")
    check_match "$d example queues an event" '^[0-9a-f-]{36}$' "$uuid"
    check_eq "$d example's event is in the spool" "anonymizer_event|3f2a|1.4.0|1200" \
        "$(sql "$T/spool-$d/spool.db" "SELECT name, session_id, client_version, json_extract(parameters, '$.numInputRecords') FROM events WHERE uuid='$uuid'")"
    check_eq "$d example honours the opt-out" disabled \
        "$(env "$@" NEMO_TELEMETRY_ENABLED=no ANON_TELEMETRY_SPOOL="$T/spool2-$d/spool.db" "$bin")"
    check "opted-out $d example created no spool" test ! -e "$T/spool2-$d"
}

# 1. as the README says: cc app.c $(pkg-config --cflags --libs anon-telemetry)
# shellcheck disable=SC2046,SC2086
$CC -std=c11 -Wall -Wextra -Werror $san -o "$T/example-shared" "$EXAMPLE" \
    $(pkg-config --cflags --libs anon-telemetry) 2>"$T/cc-shared.log"
check_eq "README example compiles with pkg-config's flags (shared library)" 0 $?
check_match "it needs libanontelemetry.so.1" 'NEEDED.*\[libanontelemetry\.so\.1\]' "$(readelf -d "$T/example-shared")"
check_match "and finds the DESTDIR's" "libanontelemetry\.so\.1 => $L/libanontelemetry\.so\.1 " \
    "$(LD_LIBRARY_PATH=$L ldd "$T/example-shared")"
check_example shared "$T/example-shared" LD_LIBRARY_PATH="$L"

# 2. the static library, with pkg-config --static for what it needs
# shellcheck disable=SC2046,SC2086
$CC -std=c11 -Wall -Wextra -Werror $san -o "$T/example-static" "$EXAMPLE" \
    $(pkg-config --cflags anon-telemetry) "$L/libanontelemetry.a" \
    -Wl,--as-needed $(pkg-config --libs --static anon-telemetry) 2>"$T/cc-static.log"
check_eq "README example compiles against the static library (pkg-config --static)" 0 $?
check_nomatch "the static example needs no libanontelemetry.so" 'libanontelemetry' "$(readelf -d "$T/example-static")"
check_example static "$T/example-static"

# 3. the static library with its dependencies named by hand, as before there was a .pc
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
# shellcheck disable=SC2086
$CC -std=c11 -Wall -Wextra -Werror $san -I"$T/root/usr/include" -o "$T/example" \
    "$EXAMPLE" "$T/root/usr/lib/libanontelemetry.a" \
    $(pkg-config --libs sqlite3 libcjson libcurl) -lpthread -lm 2>"$T/cc.log"
check_eq "README example compiles warning-free against the installed header" 0 $?
check_example plain "$T/example"

mk uninstall DESTDIR="$T/root" PREFIX=/usr >/dev/null 2>&1
check_eq "make uninstall removes the files" "" "$(find "$T/root" -type f)"
check_eq "make uninstall removes the links" "" "$(find "$T/root" -type l)"

# ---- LIBDIR, and ldconfig for an install into the live system (DESTDIR empty): as root it
# runs (a stand-in ldconfig first on PATH records it), as anyone else it is skipped quietly
mkdir -p "$T/fakebin"
printf '#!/bin/sh\necho "ldconfig$*" >> "%s/ldconfig.log"\n' "$T" > "$T/fakebin/ldconfig"
chmod +x "$T/fakebin/ldconfig"
PATH="$T/fakebin:$PATH" mk install PREFIX="$T/live" LIBDIR="$T/live/lib64" >"$T/live.log" 2>&1
check_eq "make install PREFIX LIBDIR succeeds" 0 $?
check "the library went to LIBDIR" test -f "$T/live/lib64/libanontelemetry.a" -a -L "$T/live/lib64/libanontelemetry.so.1"
check_eq "the .pc went to LIBDIR/pkgconfig and names it" "libdir=$T/live/lib64" \
    "$(grep '^libdir=' "$T/live/lib64/pkgconfig/anon-telemetry.pc")"
PATH="$T/fakebin:$PATH" mk uninstall PREFIX="$T/live" LIBDIR="$T/live/lib64" >>"$T/live.log" 2>&1
check_eq "make uninstall PREFIX LIBDIR leaves no file or link" "" "$(find "$T/live" -type f -o -type l)"
if [ "$(id -u)" -eq 0 ]; then
    check_eq "as root, install and uninstall into the live system each run ldconfig" \
        "ldconfig
ldconfig" "$(cat "$T/ldconfig.log" 2>/dev/null)"
else
    check "as a user, no ldconfig (and no complaint)" test ! -e "$T/ldconfig.log"
    check_nomatch "as a user, nothing said about ldconfig" 'ldconfig' "$(cat "$T/live.log")"
fi
finish
