#!/bin/sh
# Runs every fuzz target for SECONDS each (ASan + UBSan, libFuzzer), starting
# from the committed seed corpus; new inputs collect in build/fuzz/corpus-*.
# Fails, and keeps the input under build/fuzz/, on any crash, leak,
# sanitizer report or timeout. Called by `make fuzz FUZZ_SECONDS=N`.
set -u
seconds=${1:-60}
status=0
for target in video manifest model; do
    bin=build/fuzz/fuzz_$target
    work=build/fuzz/corpus-$target
    mkdir -p "$work"
    if [ $target = model ] && [ -x bin/vidaction ] && [ ! -f "$work/seed-whole-model" ]; then
        # whole files as seeds (too big to commit): a model file, read as a model and as a tensor
        # file, and a checkpoint of the target's own model (R(2+1)D-10 at 1/16 width, 2 classes)
        s=build/fuzz/seed-data
        rm -rf "$s"
        bin/vidaction synth "$s/ss" --preset target-ss --verbs 2 --videos 6 --size 32x32 --seconds 1-1.5 \
            --test-fraction 0.4 --threads 1 >/dev/null &&
            bin/vidaction train --manifest "$s/ss/train.tsv" --out "$s/run" --depth 10 --width 0.0625 \
                --clip-len 2 --short-side 32 --crop 16 --batch 2 --steps 1 --checkpoint-every 1 \
                --threads 1 --quiet >/dev/null &&
            { printf '\000'; cat "$s/run/model.safetensors"; } >"$work/seed-whole-model" &&
            { printf '\001'; cat "$s/run/model.safetensors"; } >"$work/seed-whole-tensorfile" &&
            { printf '\002'; cat "$s/run/checkpoint.safetensors"; } >"$work/seed-whole-checkpoint" ||
            echo "fuzz_model: no whole-file seeds (bin/vidaction failed); the committed ones only"
    fi
    echo "fuzz_$target: $seconds s"
    TMPDIR=${TMPDIR:-/tmp} "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
        -max_len=$([ $target = model ] && echo 400000 || echo 65536) -print_final_stats=1 -artifact_prefix=build/fuzz/ \
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
