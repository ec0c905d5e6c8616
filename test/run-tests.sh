#!/bin/sh
# Runs test binaries (before "--") and ASan/UBSan test binaries (after "--"),
# then the script tests, and prints one total line "N passed, N failed".
# The unit tests are the CPU reference: on a machine with a GPU they stay on the CPU
# (the GPU has its own tests: make check-gpu).
VIDA_DEVICE=${VIDA_DEVICE:-cpu}
export VIDA_DEVICE
passed=0
failed=0
failed_names=""
run() {
    out=$("$@" 2>&1)
    status=$?
    printf '%s\n' "$out" | grep -v '^ok  ' | grep -v ' passed, .* failed$' | grep -v '^$'
    p=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
    [ -n "$p" ] || p=0
    [ -n "$f" ] || f=0
    if [ $status -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
    echo "$*: $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" = 0 ] || failed_names="$failed_names $1"
}
asan=0
for t in "$@"; do
    if [ "$t" = "--" ]; then asan=1; continue; fi
    if [ $asan = 1 ]; then
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 run "$t"
    else
        run "$t"
    fi
done
# VIDA_UNIT_ONLY=1: the binaries only (make check-sanitize)
[ -n "${VIDA_UNIT_ONLY:-}" ] ||
for s in test/cli/*.sh test/abi/test_*.sh test/python/test_*.sh test/lua/test_*.sh test/dist/test_*.sh \
         test/examples/test_*.sh test/doc/test_*.sh test/synth/test_*.sh test/study/test_*.sh; do
    [ -f "$s" ] && run sh "$s"
done
[ -z "$failed_names" ] || echo "failing:$failed_names"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
