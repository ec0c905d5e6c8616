#!/bin/sh
# Loader throughput benchmark (not a test: it asserts no timings):
# vida_loader against a PyTorch DataLoader over a PyAV Dataset, clips/s with
# 1 and 2 threads (workers), and what limits it.
#
#   make bench-loader, or sh test/bench/bench_loader.sh from the repo root
#   (which builds what it needs)
#
# The data: a manifest (TSV path<TAB>label, 3 classes) over N_VIDEOS 604x340
# ("340p") H.264 videos of 10 s at 30 fps -- bench_decode.sh's videos, made
# once by the ffmpeg program and cached in $VDIR (x264 default GOP 250, or
# GOP=16 for -g 16). Each sample is one clip of 16 frames at stride 2 from a
# random start, short side scaled to 128, centre crop 112x112, uint8 RGB, the
# file opened and closed per sample; batches of BATCH.
#
# build/bench/bench_loader --plan writes the manifest and a plan: per rep the
# samples of the loader's first 1 + BATCHES batches (its dataset draws, and
# the clips' frame numbers chosen by libvidaction's sampler). Then, per rep,
# alternating (order reversed every other rep), each timing BATCHES batches
# after an untimed warm-up (one batch; one per worker for the DataLoader;
# one sample for decode only):
#   libvidaction  decode only: the same samples one after the other on one
#                 thread (vida_video_open, vida_sampler_sample, free);
#                 vida_loader with T threads (batch BATCH, seed of the rep);
#   peer          decode only: the same samples with PyAV in one process;
#                 torch DataLoader(num_workers=T) over a Dataset that opens,
#                 seeks, decodes, scales and crops with PyAV (1 thread each).
# From vida_loader_stats: decode_s (wall time the threads spent opening and
# decoding, summed) and wait_s (time vida_loader_next waited); the peer
# measures the same inside __getitem__ and around next(). With CPU time per
# clip and cores used (CPU time / wall) the second table shows whether the
# threads were starved (busy < 100%), the consumer was the limit (waiting
# < 100%), or decoding was: clips/s = cores obtained / CPU s per clip.
# Nothing is pinned: T threads share the machine's cores; the CPU use of
# other processes is sampled (1 s) before and after the runs and printed,
# with a warning when it is above 0.3 cores. The peer's pixels of rep 0's first batch are checked
# against libvidaction's (bench_loader_py.py --check), and the loader's
# against vida_sampler_sample on the same draws.
#
# Environment: REPEAT (reps, default 5), BATCHES (timed batches per run,
# default 6; keep it a multiple of every T, see bench_loader_py.py), BATCH
# (default 8), THREADS (default "1 2"), GOP (250 or 16, default 250), N_VIDEOS (default 8, at most 8), PEER_PYTHON (default
# /usr/bin/python3, needs python3-av, numpy and torch), VDIR (default
# build/bench-videos). About 5 minutes with the defaults on 2 idle cores.
# The table and the raw JSON lines are also written to test/bench/out/.
set -eu

REPEAT=${REPEAT:-5}
BATCHES=${BATCHES:-6}
BATCH=${BATCH:-8}
THREADS=${THREADS:-"1 2"}
GOP=${GOP:-250}
N_VIDEOS=${N_VIDEOS:-8}
PEER_PYTHON=${PEER_PYTHON:-/usr/bin/python3}
VDIR=${VDIR:-build/bench-videos}
HERE=$(dirname "$0")
OUTDIR="$HERE/out"
BENCH=build/bench/bench_loader

# Under make (make bench-loader) the targets are already built.
if [ -z "${MAKELEVEL:-}" ]; then
    make -j2 --no-print-directory lib/libvidaction.a "$BENCH" >&2
fi

if ! "$PEER_PYTHON" -c "import av, numpy, torch" 2>/dev/null; then
    echo "bench_loader.sh: $PEER_PYTHON has no PyAV/numpy/torch (Debian: python3-av python3-numpy python3-torch)" >&2
    exit 1
fi
case "$GOP" in
    250|16) ;;
    *) echo "bench_loader.sh: GOP must be 250 or 16" >&2; exit 2 ;;
esac

# --- videos -------------------------------------------------------------------
. "$HERE/videos.sh"
make_bench_videos "$VDIR"

# --- plan ---------------------------------------------------------------------
mkdir -p "$OUTDIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw="$OUTDIR/loader-$stamp.jsonl"
table="$OUTDIR/loader-$stamp.md"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$raw"

videos=$(echo "$SOURCES" | head -n "$N_VIDEOS" | while IFS='|' read -r name src filt; do
    echo "$VDIR/gop$GOP/$name.mp4"
done)
plan="$work/plan"
# shellcheck disable=SC2086
"$BENCH" --plan "$plan" --manifest "$work/manifest.tsv" --dump "$plan.u8" --batch "$BATCH" \
    --batches "$BATCHES" --reps "$REPEAT" --seed "$GOP" --frames 16 --stride 2 $videos
cp "$plan" "$OUTDIR/loader-$stamp-plan.txt"
cp "$work/manifest.tsv" "$OUTDIR/loader-$stamp-manifest.tsv"

echo "checking PyAV's clips against libvidaction's ..." >&2
if ! "$PEER_PYTHON" "$HERE/bench_loader_py.py" --check "$plan" --dump "$plan.u8" > "$work/check"; then
    cat "$work/check" >&2
    echo "bench_loader.sh: PyAV and libvidaction read different frames" >&2
    exit 1
fi
cat "$work/check" >&2

# --- runs ---------------------------------------------------------------------
runs="c:decode:1"
for t in $THREADS; do runs="$runs c:loader:$t"; done
runs="$runs py:decode:1"
for t in $THREADS; do runs="$runs py:dataloader:$t"; done
rev=""
for x in $runs; do rev="$x $rev"; done

# CPU use by other processes, in cores, over 1 s while this script idles.
others() {
    a=$(head -n 1 /proc/stat 2>/dev/null) || { echo '?'; return; }
    sleep 1
    b=$(head -n 1 /proc/stat)
    echo "$a
$b" | awk '{ idle[NR] = $5 + $6; t = 0; for (i = 2; i <= NF; i++) t += $i; tot[NR] = t }
        END { d = tot[2] - tot[1]; if (d <= 0) { print "?"; exit }
              printf "%.2f\n", (d - (idle[2] - idle[1])) / d * n }' n="$(nproc)"
}
load_before="$(others) cores busy, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
case "$load_before" in
    0.[0-2]*|\?*) ;;
    *) echo "bench_loader.sh: warning: $load_before before the runs:" \
           "other processes use the CPUs, timings will be noisy" >&2 ;;
esac
rep=0
while [ "$rep" -lt "$REPEAT" ]; do
    order=$runs
    [ $((rep % 2)) = 1 ] && order=$rev
    for x in $order; do
        impl=${x%%:*}
        rest=${x#*:}
        mode=${rest%%:*}
        t=${rest#*:}
        echo "rep $rep: $impl $mode $t ..." >&2
        if [ "$impl" = c ]; then
            dump=""
            [ "$rep" = 0 ] && [ "$mode" = loader ] && dump="--dump $plan.u8"
            # shellcheck disable=SC2086
            r=$("$BENCH" --run "$plan" --rep "$rep" --mode "$mode" --threads "$t" $dump | tail -n 1)
        else
            r=$("$PEER_PYTHON" "$HERE/bench_loader_py.py" --run "$plan" --rep "$rep" \
                --mode "$mode" --workers "$t" | tail -n 1)
        fi
        echo "{\"gop\":$GOP,\"result\":$r}" >> "$raw"
    done
    rep=$((rep + 1))
done

# --- table --------------------------------------------------------------------
{
    echo "cpu $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
    echo "nproc $(nproc 2>/dev/null || echo '?')"
    echo "load_before $load_before"
    echo "load_after $(others) cores busy, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    echo "ffmpeg $(ffmpeg -version 2>/dev/null | head -n 1 | cut -d' ' -f3)"
    echo "libavcodec $(pkg-config --modversion libavcodec 2>/dev/null || echo unknown)"
    echo "repeat $REPEAT"
    echo "batches $BATCHES"
    echo "batch $BATCH"
    echo "gop $GOP"
    echo "manifest $N_VIDEOS videos, $(cut -f2 "$work/manifest.tsv" | sort -u | wc -l) classes, GOP $GOP"
    grep '^info ' "$plan" | cut -d' ' -f3- | sed 's/^/video /'
    echo "check PyAV vs libvidaction: $(tail -n 1 "$work/check")"
} > "$work/meta"
"$PEER_PYTHON" "$HERE/bench_loader_py.py" --table "$raw" --meta "$work/meta" > "$table"
cat "$table"
echo "(written to $table and $raw; re-tabulate with: $PEER_PYTHON $HERE/bench_loader_py.py --table $raw)" >&2
