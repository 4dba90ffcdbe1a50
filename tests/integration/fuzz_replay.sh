# fuzz_replay.sh: every fuzz target (tests/fuzz/fuzz_*.c, new ones included by their file
# name) is built with clang -fsanitize=fuzzer,address,undefined and replays every file of
# its seed corpus (tests/fuzz/corpus/<name>/) without a crash, leak or undefined behaviour
# (issue 12, item 21). And the replay does fail when a target crashes.
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1
OUT=$BUILD/fuzz

FUZZ_OUT=$OUT bash tests/fuzz/run.sh --replay > "$T/replay.log" 2>&1
rc=$?
check_eq "every seed corpus replays through its sanitized target: exit 0" 0 "$rc"
[ "$rc" -eq 0 ] || tail -n 40 "$T/replay.log"
ntargets=0
for f in tests/fuzz/fuzz_*.c; do
    t=${f##*/fuzz_}
    t=${t%.c}
    ntargets=$((ntargets + 1))
    n=$(find "tests/fuzz/corpus/$t" -type f 2>/dev/null | wc -l)
    check "fuzz target $t has a seed corpus" test "$n" -gt 0
    check_match "fuzz target $t: all $n seeds replayed" "^fuzz $t: replayed $n of $n seeds" \
        "$(cat "$T/replay.log")"
done
check_match "every target counted" "^fuzz: $ntargets targets, [0-9]+ executions, 0 crashes$" \
    "$(cat "$T/replay.log")"

# A target that crashes on one of its seeds fails the replay, and the input is printed.
mkdir -p "$T/src/corpus/boom"
cat > "$T/src/fuzz_boom.c" <<'EOC'
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "BOOM", 4) == 0)
        abort();
    return 0;
}
EOC
printf 'fine' > "$T/src/corpus/boom/a"
printf 'BOOM!' > "$T/src/corpus/boom/b"
FUZZ_OUT=$OUT FUZZ_SRC=$T/src bash tests/fuzz/run.sh --replay > "$T/boom.log" 2>&1
check_eq "a crashing target fails the replay" 1 "$?"
check_match "the crash is reported" "^fuzz boom: CRASH" "$(cat "$T/boom.log")"
check_match "the crashing input is printed, to be committed" "^$(printf 'BOOM!' | base64)$" \
    "$(cat "$T/boom.log")"
check_match "the summary counts it" "^fuzz: 1 targets, [0-9]+ executions, 1 crashes$" \
    "$(cat "$T/boom.log")"
# and undefined behaviour is a crash too (UBSan does not recover)
cat > "$T/src/fuzz_boom.c" <<'EOC'
#include <limits.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int x = INT_MAX;

    if (size >= 4 && memcmp(data, "BOOM", 4) == 0)
        x += (int)size; /* signed overflow */
    return x == 0;
}
EOC
FUZZ_OUT=$OUT FUZZ_SRC=$T/src bash tests/fuzz/run.sh --replay > "$T/boom.log" 2>&1
check_eq "undefined behaviour fails the replay" 1 "$?"
check_match "UBSan reports it" "runtime error: signed integer overflow" "$(cat "$T/boom.log")"

finish
