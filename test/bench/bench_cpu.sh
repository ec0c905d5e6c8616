#!/bin/sh
# CPU benchmark: libvidaction against PyTorch, torchvision r2plus1d_18 forward
# of one 1x3x16x112x112 clip, eval mode. Not a test: it asserts no timings.
#
#   sh test/bench/bench_cpu.sh        (make bench builds first, then runs this)
#
# Environment: THREADS (default "1 2"), REPEAT (timed runs per program, default 7),
# BENCH_C (default build/bench/bench_forward), TORCH_PYTHON (default /usr/bin/python3).
# OPENBLAS_CORETYPE is left as the environment has it and reported in the table.
# For each thread count the two programs run one after the other, C first; both
# print {"threads","median_ms","min_ms","max_ms",...} (the C one adds "blas_core").
# The table and the raw JSON lines are also written to test/bench/out/.
set -eu

THREADS=${THREADS:-"1 2"}
MODE=${MODE:-infer}     # infer: one clip, eval; train: one training step of BATCH clips
BATCH=${BATCH:-1}
FRAMES=${FRAMES:-16}
REPEAT=${REPEAT:-7}
BENCH_C=${BENCH_C:-build/bench/bench_forward}
TORCH_PYTHON=${TORCH_PYTHON:-/usr/bin/python3}
HERE=$(dirname "$0")
OUTDIR="$HERE/out"

if [ ! -x "$BENCH_C" ]; then
    echo "bench_cpu.sh: $BENCH_C is missing; build it first (make bench)" >&2
    exit 1
fi
if ! "$TORCH_PYTHON" -c "import torch, torchvision" 2>/dev/null; then
    echo "bench_cpu.sh: $TORCH_PYTHON has no torch/torchvision (Debian: python3-torch python3-torchvision)" >&2
    exit 1
fi

mkdir -p "$OUTDIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw="$OUTDIR/cpu-$stamp.jsonl"
table="$OUTDIR/cpu-$stamp.md"
: > "$raw"

for n in $THREADS; do
    echo "threads $n: libvidaction ..." >&2
    train=0
    [ "$MODE" = train ] && train=1
    c=$("$BENCH_C" --threads "$n" --repeat "$REPEAT" --batch "$BATCH" --frames "$FRAMES" --train $train | tail -n 1)
    echo "{\"impl\":\"libvidaction\",\"result\":$c}" >> "$raw"
    echo "threads $n: PyTorch ..." >&2
    targ=""
    [ "$MODE" = train ] && targ=--train
    t=$("$TORCH_PYTHON" "$HERE/bench_torch.py" --threads "$n" --repeat "$REPEAT" --batch "$BATCH" --frames "$FRAMES" $targ | tail -n 1)
    echo "{\"impl\":\"torch\",\"result\":$t}" >> "$raw"
done

"$TORCH_PYTHON" - "$raw" "${OPENBLAS_CORETYPE-}" "$REPEAT" "$MODE" "$BATCH" "$FRAMES" > "$table" <<'EOF'
import json, sys
raw, coretype, repeat, mode, batch, frames = sys.argv[1:7]
rows, core, torch_version = {}, None, None
for line in open(raw):
    r = json.loads(line)
    res = r["result"]
    rows.setdefault(res["threads"], {})[r["impl"]] = res
    if r["impl"] == "libvidaction":
        core = core or res.get("blas_core")
    else:
        torch_version = res.get("torch")

def cell(r):
    return "%.1f (%.1f–%.1f)" % (r["median_ms"], r["min_ms"], r["max_ms"]) if r else "n/a"

what = ("training step (train-mode forward, cross-entropy, backward, SGD update)" if mode == "train"
        else "forward, eval")
print("r2plus1d_18 %s, %sx3x%sx112x112; median of %s runs after one warm-up"
      % (what, batch, frames, repeat))
print()
print("| threads | libvidaction median ms (min–max) | PyTorch median ms (min–max) | ratio torch/ours |")
print("|---|---|---|---|")
for n in sorted(rows):
    c, t = rows[n].get("libvidaction"), rows[n].get("torch")
    ratio = "%.2f" % (t["median_ms"] / c["median_ms"]) if c and t else "n/a"
    print("| %d | %s | %s | %s |" % (n, cell(c), cell(t), ratio))
print()
print("BLAS core: %s; OPENBLAS_CORETYPE=%s; PyTorch %s"
      % (core or "unknown", coretype or "(unset)", torch_version or "unknown"))
EOF

cat "$table"
echo "(written to $table and $raw)" >&2
