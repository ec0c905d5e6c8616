#!/bin/bash
# Issue 10's GPU benchmark, on one GPU in one run (a lent H100/H200: about 7
# minutes), from the repository root, with the programs of test/gpu/build.sh
# in .gpu/bin (GPU_BIN=DIR for others; .gpu/bin.tar.xz is unpacked if needed):
#
#   1. libvidaction (bench_gpu): clips/s of R(2+1)D-18 16x112x112 (train
#      batch 32, inference batch 64) and R(2+1)D-34 at 8 and 32 frames, bf16;
#      bench_gpu_base too when build.sh was given BASE=REV (R(2+1)D-18 only);
#   2. PyTorch eager (bf16 autocast, channels_last_3d, cudnn.benchmark) on the
#      same configurations (bench_torch_gpu.py);
#   3. where our time goes: bench_gpu --profile (each op drained and timed);
#   4. per-convolution-shape times against the best cuDNN algorithm (bench_convs);
#   5. torch.compile on the R(2+1)D-18 configurations, in the time left;
#   6. the table (table.py): clips/s, ratios, model FLOP utilisation.
#
# BENCH_CONFIGS="MODEL:FRAMES:MODE:BATCH ..." replaces the list, BENCH_REPEAT the
# timed iterations (10), BENCH_SECONDS the budget (420; later steps are cut
# short or skipped past it). Everything is kept under $OUT when set.
set -u
cd "$(dirname "$0")/../../.." || exit 2
BIN=${GPU_BIN:-.gpu/bin}
if [ ! -x "$BIN/bench_gpu" ] && [ -f .gpu/bin.tar.xz ]; then
    tar -C .gpu -xJf .gpu/bin.tar.xz || exit 2
fi
[ -x "$BIN/bench_gpu" ] || { echo "test/bench/gpu/run.sh: $BIN/bench_gpu missing (run test/gpu/build.sh)"; exit 2; }
case "${LD_LIBRARY_PATH:-}" in *.gpu/lib*) ;; *) . test/gpu/env.sh ;; esac
O=${OUT:-$(mktemp -d)}
mkdir -p "$O"
J=$O/bench.jsonl
: > "$J"
BUDGET=${BENCH_SECONDS:-420}
REPEAT=${BENCH_REPEAT:-10}
CONFIGS=${BENCH_CONFIGS:-"r2plus1d_18:16:train:32 r2plus1d_18:16:infer:64 r2plus1d_34:8:train:32 r2plus1d_34:8:infer:64 r2plus1d_34:32:train:8 r2plus1d_34:32:infer:16"}
start=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - start))); }
py=python3
command -v "$py" >/dev/null || py=python

echo "=== GPU benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1
$py -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())' 2>&1
[ -f "$BIN/base_rev" ] && echo "base revision: $(cat "$BIN/base_rev")"

# run_ours BINARY IMPL-NAME CONFIG [extra args]
run_ours() {
    local bin=$1 impl=$2 model frames mode batch out
    IFS=: read -r model frames mode batch <<< "$3"
    shift 3
    out=$(timeout 150 "$bin" --model "$model" --frames "$frames" --mode "$mode" --batch "$batch" \
        --repeat "$REPEAT" --warmup 2 "$@" 2>"$O/err.txt")
    if printf '%s' "$out" | grep -q '^{'; then
        printf '%s\n' "$out" | grep '^{' | sed "s/\"impl\":\"libvidaction\"/\"impl\":\"$impl\"/" | tee -a "$J"
        grep '^bench_gpu: ' "$O/err.txt" | sed 's/^/  /'
    else
        echo "{\"impl\":\"$impl\",\"model\":\"$model\",\"frames\":$frames,\"mode\":\"$mode\",\"batch\":$batch,\"error\":\"$(tail -1 "$O/err.txt" | tr -d '"\\' | cut -c1-200)\"}" | tee -a "$J"
    fi
}

echo
echo "=== 1. libvidaction"
for c in $CONFIGS; do
    run_ours "$BIN/bench_gpu" libvidaction "$c"
    case "$c" in r2plus1d_18:*)
        [ -x "$BIN/bench_gpu_base" ] && run_ours "$BIN/bench_gpu_base" libvidaction-base "$c" ;;
    esac
done

echo
echo "=== 2. PyTorch eager"
timeout $(($(left) > 60 ? $(left) : 60)) env PYTHONUNBUFFERED=1 $py test/bench/gpu/bench_torch_gpu.py --device cuda \
    --configs "$(echo $CONFIGS | tr ' ' ',')" --impls eager --repeat "$REPEAT" --warmup 3 \
    --time-limit $(($(left) > 30 ? $(left) - 30 : 1)) 2>"$O/torch_err.txt" | tee -a "$J"

echo
echo "=== 3. where libvidaction's time goes (R(2+1)D-18, each op drained and timed alone)"
for c in r2plus1d_18:16:train:32 r2plus1d_18:16:infer:64; do
    [ "$(left)" -gt 60 ] || { echo "skipped: time"; break; }
    IFS=: read -r model frames mode batch <<< "$c"
    timeout 150 "$BIN/bench_gpu" --model "$model" --frames "$frames" --mode "$mode" --batch "$batch" \
        --repeat 3 --warmup 2 --profile > /dev/null 2> "$O/profile_$mode.txt"
    echo "--- $c"
    head -40 "$O/profile_$mode.txt"
done

echo
echo "=== 4. convolutions of R(2+1)D-18 (batch 32, bf16) against the best cuDNN algorithm"
if [ -x "$BIN/bench_convs" ] && [ "$(left)" -gt 90 ]; then
    timeout $(($(left) - 60)) "$BIN/bench_convs" --model r2plus1d_18 --frames 16 --batch 32 \
        --precision bf16 --repeat 5 --json "$O/convs.jsonl" > "$O/convs.txt" 2>&1
    echo "exit $?"
    cat "$O/convs.txt"
else
    echo "skipped (no bench_convs, or no time)"
fi

echo
echo "=== 5. torch.compile ($(left) s left)"
if [ "$(left)" -gt 90 ]; then
    timeout $(($(left) - 10)) env PYTHONUNBUFFERED=1 $py test/bench/gpu/bench_torch_gpu.py --device cuda \
        --configs r2plus1d_18:16:train:32,r2plus1d_18:16:infer:64 --impls compile \
        --compile-configs all --repeat "$REPEAT" --warmup 3 --time-limit $(($(left) - 60)) \
        2>>"$O/torch_err.txt" | tee -a "$J"
else
    echo "skipped: time"
fi

echo
echo "=== table ($(($(date +%s) - start)) s in all)"
$py test/bench/gpu/table.py "$J" | tee "$O/table.md"
