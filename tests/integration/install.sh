#!/bin/bash
# make install into a DESTDIR, then build the README's C example against the installed
# header and static library and run it: the documented usage works as documented.
. "$(dirname "$0")/../lib.sh"

make -s -C "$ROOT" install BUILD="$BUILD" SANITIZE="${ANON_SANITIZE:-}" DESTDIR="$T/root" PREFIX=/usr >"$T/make.log" 2>&1
check_eq "make install succeeds" 0 $?
for f in usr/bin/anon-telemetry-spool usr/lib/libanontelemetry.a usr/lib/libanontelemetry.so \
         usr/include/anon_telemetry.h usr/share/anon-telemetry/spool.sql \
         usr/share/anon-telemetry/anonymizer_event.schema.json; do
    check "installed $f" test -f "$T/root/$f"
done
check_eq "no internal header installed" "" "$(ls "$T/root/usr/include" | grep -v '^anon_telemetry.h$')"

san=""
[ "${ANON_SANITIZE:-}" = 1 ] && san="-fsanitize=address,undefined"   # set by make SANITIZE=1 test
# shellcheck disable=SC2086
${CC:-cc} -std=c11 -Wall -Wextra -Werror $san -I"$T/root/usr/include" -o "$T/example" \
    "$ROOT/tests/fixtures/example_emit.c" "$T/root/usr/lib/libanontelemetry.a" \
    $(pkg-config --libs sqlite3 libcjson libcurl) -lpthread -lm 2>"$T/cc.log"
check_eq "README example compiles warning-free against the installed header" 0 $?
uuid=$(ANON_TELEMETRY_SPOOL="$T/spool/spool.db" "$T/example")
check_match "example queues an event" '^[0-9a-f-]{36}$' "$uuid"
check_eq "example's event is in the spool" "anonymizer_event|3f2a|1.4.0|1200" \
    "$(sql "$T/spool/spool.db" "SELECT name, session_id, client_version, json_extract(parameters, '$.numInputRecords') FROM events WHERE uuid='$uuid'")"
check_eq "example honours the opt-out" disabled \
    "$(NEMO_TELEMETRY_ENABLED=no ANON_TELEMETRY_SPOOL="$T/spool2/spool.db" "$T/example")"
check "opted-out example created no spool" test ! -e "$T/spool2"

make -s -C "$ROOT" uninstall BUILD="$BUILD" SANITIZE="${ANON_SANITIZE:-}" DESTDIR="$T/root" PREFIX=/usr >/dev/null 2>&1
check_eq "make uninstall removes the files" "" "$(find "$T/root" -type f)"
finish
