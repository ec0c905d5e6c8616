#!/bin/sh
# Runs every fuzz target for SECONDS each (ASan + UBSan, libFuzzer), starting
# from the committed seed corpus; new inputs collect in build/fuzz/corpus-*.
# Fails, and keeps the input under build/fuzz/, on any crash, leak,
# sanitizer report or timeout. Called by `make fuzz FUZZ_SECONDS=N`.
set -u
seconds=${1:-60}
status=0
for target in video manifest; do
    bin=build/fuzz/fuzz_$target
    work=build/fuzz/corpus-$target
    mkdir -p "$work"
    echo "fuzz_$target: $seconds s"
    TMPDIR=${TMPDIR:-/tmp} "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix=build/fuzz/ \
        "$work" "test/fuzz/corpus/$target" >build/fuzz/$target.log 2>&1
    rc=$?
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' build/fuzz/$target.log
    if [ $rc -ne 0 ]; then
        echo "fuzz_$target: FAILED (exit $rc); see build/fuzz/$target.log"
        grep -E 'ERROR|SUMMARY|Test unit written' build/fuzz/$target.log | head -5
        status=1
    else
        echo "fuzz_$target: no findings"
    fi
done
exit $status
