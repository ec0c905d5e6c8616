#!/bin/sh
# Data-parallel benchmark (not a test; make bench-dist): one training step of
# the same total batch as 1 rank x 2 threads and as 2 ranks x 1 thread (mpirun,
# gradients averaged by vida_dist over MPI), and 2 ranks x 1 thread that do not
# communicate (the model not attached: what the all-reduce costs is the
# difference). Median of REPEAT steps after a warm-up, each timed between two
# barriers (the slowest rank). Asserts nothing.
#
#   sh test/bench/bench_dist.sh
#
# Environment: DEPTH (18), WIDTH (1), FRAMES (8), SIZE (56: full-width weights, so
# the all-reduce moves R(2+1)D-18's 126 MB of gradients, on a small clip so a step
# takes seconds on 2 cores), BATCH (total, 4), REPEAT (5), BENCH_C (default
# build/bench/bench_dist), MPIRUN_FLAGS (default --allow-run-as-root --oversubscribe).
# The table and the raw JSON lines are also written to test/bench/out/.
set -eu

DEPTH=${DEPTH:-18}
WIDTH=${WIDTH:-1}
FRAMES=${FRAMES:-8}
SIZE=${SIZE:-56}
BATCH=${BATCH:-4}
REPEAT=${REPEAT:-5}
BENCH_C=${BENCH_C:-build/bench/bench_dist}
MPIRUN_FLAGS=${MPIRUN_FLAGS:---allow-run-as-root --oversubscribe}
HERE=$(dirname "$0")
OUTDIR="$HERE/out"

if [ ! -x "$BENCH_C" ]; then
    echo "bench_dist.sh: $BENCH_C is missing; build it first (make bench-dist)" >&2
    exit 1
fi
if ! command -v mpirun >/dev/null 2>&1; then
    echo "bench_dist.sh: no mpirun (Debian: openmpi-bin)" >&2
    exit 1
fi

mkdir -p "$OUTDIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw="$OUTDIR/dist-$stamp.jsonl"
table="$OUTDIR/dist-$stamp.md"
: >"$raw"
ARGS="--depth $DEPTH --width $WIDTH --frames $FRAMES --size $SIZE --batch $BATCH --repeat $REPEAT"

# 1 rank x 2 threads: not bound to one core (Open MPI binds a rank to a core by default)
mpirun $MPIRUN_FLAGS --bind-to none -np 1 "$BENCH_C" $ARGS --threads 2 | tee -a "$raw"
# 2 ranks x 1 thread, each rank on its own core
mpirun $MPIRUN_FLAGS --bind-to core -np 2 "$BENCH_C" $ARGS --threads 1 | tee -a "$raw"
mpirun $MPIRUN_FLAGS --bind-to core -np 2 "$BENCH_C" $ARGS --threads 1 --attach 0 | tee -a "$raw"

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
one=$(sed -n 1p "$raw" | field median_ms)
{
    params=$(sed -n 1p "$raw" | field params)
    cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
    echo "R(2+1)D-$DEPTH (width $WIDTH, $params parameters: $(awk -v p="$params" 'BEGIN { printf "%.0f", p * 4 / 1e6 }') MB of fp32 gradients), clips $FRAMES x $SIZE x $SIZE, total batch $BATCH, training step, median of $REPEAT after a warm-up"
    echo "machine: $cpu, $(nproc) CPUs; $(mpirun --version 2>/dev/null | head -1); $(date -u +%Y-%m-%d)"
    echo
    echo "| ranks x threads | batch per rank | all-reduce | median ms | min ms | max ms | speed vs 1 x 2 |"
    echo "|---|---|---|---|---|---|---|"
    while read -r line; do
        w=$(echo "$line" | field world)
        th=$(echo "$line" | field threads)
        at=$(echo "$line" | field attach)
        b=$(echo "$line" | field batch_per_rank)
        med=$(echo "$line" | field median_ms)
        mn=$(echo "$line" | field min_ms)
        mx=$(echo "$line" | field max_ms)
        if [ "$w" = 1 ]; then ar="-"; elif [ "$at" = 1 ]; then ar="yes"; else ar="no (compute only)"; fi
        echo "| $w x $th | $b | $ar | $med | $mn | $mx | $(awk -v a="$one" -v b="$med" 'BEGIN { printf "%.2fx", a / b }') |"
    done <"$raw"
} | tee "$table"
echo "written: $table"
