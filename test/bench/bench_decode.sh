#!/bin/sh
# Decode + clip sampling benchmark (not a test: it asserts no timings):
# libvidaction against PyAV and, when importable, decord, on the same clips
# of the same files, one core each.
#
#   make bench-decode, or sh test/bench/bench_decode.sh from the repo root
#   (which builds what it needs)
#
# Each sample is a data loader's: open a file, draw K clips of L=16 frames
# at stride r from random starts, short side scaled to 128, centre crop
# 112x112, uint8 RGB, close. Videos: 604x340 ("340p") H.264, libx264 preset
# medium crf 23, 10 s at 30 fps, made once by the ffmpeg program from its
# synthetic sources (moving, textured, with temporal noise), once with
# x264's default GOP (keyint 250) and once with -g 16; cached in $VDIR.
#
# For every case, build/bench/bench_decode writes a plan (the frame numbers
# of every open, chosen by libvidaction's sampler), the peers' frames are
# checked against ours (bench_decode_py.py --check), then REPEAT reps run
# with the programs alternating (order reversed every other rep). Every
# program is pinned to one CPU (taskset -c $PIN) and uses one decoding
# thread; each times its rep after one untimed warm-up open.
#
# Environment: REPEAT (reps, default 7), CLIPS (clips per rep, default 16;
# at least one open per video), N_VIDEOS (default 8, at most 8),
# CASES (default "250:2:1 250:2:4 16:2:1 16:2:4 250:1:1 16:1:1", each
# GOP:stride:K), PIN (CPU number, default 0; empty = not pinned),
# PEER_PYTHON (default /usr/bin/python3, needs python3-av and numpy),
# VDIR (default build/bench-videos).
# The table and the raw JSON lines are also written to test/bench/out/.
set -eu

REPEAT=${REPEAT:-7}
CLIPS=${CLIPS:-16}
N_VIDEOS=${N_VIDEOS:-8}
CASES=${CASES:-"250:2:1 250:2:4 16:2:1 16:2:4 250:1:1 16:1:1"}
PIN=${PIN-0}
PEER_PYTHON=${PEER_PYTHON:-/usr/bin/python3}
VDIR=${VDIR:-build/bench-videos}
HERE=$(dirname "$0")
OUTDIR="$HERE/out"
BENCH=build/bench/bench_decode

# Under make (make bench-decode) the targets are already built.
if [ -z "${MAKELEVEL:-}" ]; then
    make -j2 --no-print-directory lib/libvidaction.a "$BENCH" >&2
fi

if ! "$PEER_PYTHON" -c "import av, numpy" 2>/dev/null; then
    echo "bench_decode.sh: $PEER_PYTHON has no PyAV/numpy (Debian: python3-av python3-numpy)" >&2
    exit 1
fi
peers=pyav
if "$PEER_PYTHON" -c "import decord" 2>/dev/null; then
    peers="pyav decord"
fi
pin=""
if [ -n "$PIN" ] && command -v taskset > /dev/null; then
    pin="taskset -c $PIN"
fi

# --- videos -------------------------------------------------------------------
. "$HERE/videos.sh"
make_bench_videos "$VDIR"

# --- runs ---------------------------------------------------------------------
mkdir -p "$OUTDIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw="$OUTDIR/decode-$stamp.jsonl"
table="$OUTDIR/decode-$stamp.md"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$raw"
checks=""

for case in $CASES; do
    gop=${case%%:*}
    rest=${case#*:}
    stride=${rest%%:*}
    k=${rest#*:}
    videos=$(echo "$SOURCES" | head -n "$N_VIDEOS" | while IFS='|' read -r name src filt; do
        echo "$VDIR/gop$gop/$name.mp4"
    done)
    opens=$(( (CLIPS + N_VIDEOS * k - 1) / (N_VIDEOS * k) ))
    plan="$work/plan-$gop-$stride-$k"
    # shellcheck disable=SC2086
    "$BENCH" --plan "$plan" --dump "$plan.u8" --frames 16 --stride "$stride" --clips "$k" \
        --opens "$opens" --reps "$REPEAT" --seed "$gop$stride$k" $videos
    cp "$plan" "$OUTDIR/decode-$stamp-plan-$gop-$stride-$k.txt"
    for p in $peers; do
        echo "GOP $gop stride $stride K=$k: checking $p against libvidaction ..." >&2
        if ! "$PEER_PYTHON" "$HERE/bench_decode_py.py" --impl "$p" --check "$plan" \
                --dump "$plan.u8" > "$work/check"; then
            cat "$work/check" >&2
            echo "bench_decode.sh: $p and libvidaction read different frames (GOP $gop stride $stride K=$k)" >&2
            exit 1
        fi
        cat "$work/check" >&2
        checks="$checks
GOP $gop stride $stride K=$k: $(tail -n 1 "$work/check")"
    done
    rep=0
    while [ "$rep" -lt "$REPEAT" ]; do
        order="c $peers"
        if [ $((rep % 2)) = 1 ]; then
            order=c
            for p in $peers; do order="$p $order"; done
        fi
        for impl in $order; do
            echo "GOP $gop stride $stride K=$k rep $rep: $impl ..." >&2
            if [ "$impl" = c ]; then
                r=$($pin "$BENCH" --run "$plan" --rep "$rep" | tail -n 1)
            else
                r=$($pin "$PEER_PYTHON" "$HERE/bench_decode_py.py" --impl "$impl" --run "$plan" --rep "$rep" | tail -n 1)
            fi
            echo "{\"gop\":$gop,\"stride\":$stride,\"k\":$k,\"result\":$r}" >> "$raw"
        done
        rep=$((rep + 1))
    done
done

# --- table --------------------------------------------------------------------
{
    echo "cpu $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
    echo "ffmpeg $(ffmpeg -version 2>/dev/null | head -n 1 | cut -d' ' -f3)"
    echo "libavcodec $(pkg-config --modversion libavcodec 2>/dev/null || echo unknown)"
    echo "pin ${pin:-no}"
    echo "repeat $REPEAT"
    cat "$work"/plan-?*-?*-? | grep '^info ' | cut -d' ' -f3- | sort -u -k8 | sed 's/^/video /'
    echo "$checks" | sed '/^$/d; s/^/check /'
} > "$work/meta"
"$PEER_PYTHON" "$HERE/bench_decode_py.py" --table "$raw" --meta "$work/meta" > "$table"
cat "$table"
echo "(written to $table and $raw; re-tabulate with: $PEER_PYTHON $HERE/bench_decode_py.py --table $raw)" >&2
