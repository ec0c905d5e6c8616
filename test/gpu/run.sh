#!/bin/bash
# Runs the GPU tests on a machine with an NVIDIA GPU, from the repository root,
# with the binaries prebuilt in .gpu/bin (test_cuda_ops, test_cuda_model,
# vidaction; GPU_BIN=DIR to use others). Finds cuDNN 9 and cuBLAS 13 (pip
# wheels under nvidia/, /usr/local/cuda, else anywhere), runs each test under a
# timeout, keeps the logs in $OUT/ops.log and $OUT/model.log when OUT is set,
# and ends with a summary. Exit status 1 if a test failed, crashed or timed out.
set -u
cd "$(dirname "$0")/../.." || exit 2
BIN=${GPU_BIN:-.gpu/bin}
if [ ! -x "$BIN/test_cuda_ops" ] && [ -f .gpu/bin.tar.xz ]; then
    tar -C .gpu -xJf .gpu/bin.tar.xz || exit 2
fi
start=$(date +%s)
failed=0
summary=""

. test/gpu/env.sh

gpus=$(nvidia-smi -L 2>&1) || gpus=""
echo "${gpus:-nvidia-smi -L failed: no GPU listed}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader ||
    echo "nvidia-smi --query-gpu failed"
for b in "$BIN"/test_cuda_ops "$BIN"/test_cuda_model "$BIN"/vidaction; do
    [ -x "$b" ] || { echo "$b: missing"; continue; }
    ldd "$b" 2>/dev/null | grep "not found" | sed "s|^|$b: |"
done
[ -x "$BIN/vidaction" ] && "$BIN/vidaction" --version
[ -n "${OUT:-}" ] && mkdir -p "$OUT"

line_buffered() {
    if command -v stdbuf >/dev/null 2>&1; then stdbuf -oL -eL "$@"; else "$@"; fi
}

# run_test BINARY LOGNAME SECONDS [VAR=VALUE]
run_test() {
    local log t0 rc result
    if [ -n "${OUT:-}" ]; then log="$OUT/$2.log"; else log=$(mktemp); fi
    echo
    echo "=== $1 (timeout $3 s)"
    t0=$(date +%s)
    line_buffered env ${4:-} timeout -k 10 "$3" "$BIN/$1" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    result=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        result="${result:+$result, }TIMED OUT after $3 s"
    elif grep -q "SKIP: no CUDA device" "$log"; then
        result="SKIPPED: no CUDA device"
        # a machine whose driver lists a GPU must run the tests, not skip them
        case "$gpus" in *GPU*) rc=3 result="$result, but nvidia-smi lists one" ;; esac
    elif [ -z "$result" ]; then
        result="no summary line (exit status $rc)"
    fi
    [ "$rc" = 0 ] || failed=1
    summary="$summary$(printf '%-16s %-50s exit %3d %5d s' "$1${4:+ ($4)}" "$result" "$rc" $(($(date +%s) - t0)))
"
    [ -n "${OUT:-}" ] || rm -f "$log"
}

if [ "${GPU_TESTS:-1}" != 0 ]; then
    run_test test_cuda_ops ops 180
    run_test test_cuda_model model 240
    # the 16-bit convolutions again, on cuDNN graph-API plans wherever one runs (not only where
    # one is faster than the legacy algorithm, as above)
    run_test test_cuda_ops ops-graph 180 VIDA_CUDNN_GRAPH=force
fi

# GPU_BENCH=1: a first speed table (not a test; issue-level GPU benchmarks live in test/bench):
# R(2+1)D-18, batch 8 x 16x112x112, libvidaction against PyTorch on the same GPU, fp32 (no TF32)
# and bf16 (ours: bf16 convolutions; PyTorch: autocast + channels_last_3d), median of 10 after a warm-up.
if [ "${GPU_BENCH:-0}" = 1 ] && [ -x "$BIN/bench_forward" ]; then
    echo
    echo "=== speed: R(2+1)D-18, batch 8 x 3x16x112x112, median of 10 (ms)"
    printf '%-6s %-5s %12s %12s %8s\n' mode prec libvidaction pytorch ratio
    for tr in 0 1; do
        for p in fp32 bf16 fp16; do
            a=$(timeout 120 "$BIN/bench_forward" --device cuda --precision "$p" --batch 8 --train "$tr" --repeat 10 2>&1 | tail -1)
            b=$(timeout 120 python3 test/bench/bench_torch.py --device cuda --precision "$p" --batch 8 $([ "$tr" = 1 ] && echo --train) --repeat 10 2>&1 | tail -1)
            [ -n "${OUT:-}" ] && printf '%s\n%s\n' "$a" "$b" >> "$OUT/bench.jsonl"
            ma=$(printf '%s' "$a" | sed -n 's/.*"median_ms":\([0-9.]*\).*/\1/p')
            mb=$(printf '%s' "$b" | sed -n 's/.*"median_ms": *\([0-9.]*\).*/\1/p')
            r=$(awk -v a="$ma" -v b="$mb" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }')
            printf '%-6s %-5s %12s %12s %8s\n' "$([ "$tr" = 1 ] && echo train || echo infer)" "$p" "${ma:-ERR}" "${mb:-ERR}" "$r"
            [ -n "$ma" ] || echo "  libvidaction: $a"
            [ -n "$mb" ] || echo "  pytorch: $b"
        done
    done
    echo "(ratio = libvidaction time / PyTorch time: below 1 is faster)"
fi

# GPU_BENCH=full: issue 10's benchmark (test/bench/gpu/run.sh: clips/s against PyTorch eager and
# torch.compile, utilisation, per-convolution times, where the time goes)
if [ "${GPU_BENCH:-0}" = full ]; then
    t0=$(date +%s)
    GPU_BIN=$BIN bash test/bench/gpu/run.sh
    rc=$?
    [ "$rc" = 0 ] || failed=1
    summary="$summary$(printf '%-16s %-50s exit %3d %5d s' bench "test/bench/gpu/run.sh" "$rc" $(($(date +%s) - t0)))
"
fi

echo
echo "=== summary"
printf '%s' "$summary"
echo "total $(($(date +%s) - start)) s: $([ "$failed" = 0 ] && echo PASSED || echo FAILED)"
exit "$failed"
