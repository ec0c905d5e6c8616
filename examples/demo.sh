#!/bin/sh
# make demo: what works today, end to end. (The SynthActions data sets arrive
# with issue 7; until then the demo trains on a few generated motion videos.)
set -e
V=bin/vidaction
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== $($V --version)"
echo
echo "== a torchvision-compatible R(2+1)D-18 (random weights), and its file"
$V create --arch r2plus1d --depth 18 --classes 400 -o "$tmp/r2plus1d_18.safetensors"
$V model-info "$tmp/r2plus1d_18.safetensors"
echo
echo "== the IG-65M R(2+1)D-34 architecture (mid-channels per conv, BN eps 1e-3)"
$V create --arch r2plus1d --depth 34 --midplanes per-conv --bn-eps 1e-3 --classes 359 -o "$tmp/r2p1d34.safetensors"
$V model-info "$tmp/r2p1d34.safetensors" | grep -E "^(arch|depth|midplanes|parameters)"
echo
echo "== agreement with PyTorch (torchvision fixtures in test/golden)"
make -s build/test/test_model >/dev/null
build/test/test_model test_golden__r2plus1d_18 test_golden__r3d_18 test_golden__mc3_18 \
    test_golden__ig65m_r2plus1d_34 test_golden__r2plus1d_18_training_step
echo
echo "== one 3x16x112x112 clip through R(2+1)D-18 on the CPU (2 threads, median of 3)"
make -s build/bench/bench_forward >/dev/null
build/bench/bench_forward --threads 2 --repeat 3
echo
echo "== video in: a 10 s H.264 clip made by the ffmpeg program, what we measure in it,"
echo "   and one 16-frame clip (stride 2, short side 128, centre crop 112) from frame 100"
ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i testsrc2=size=320x240:rate=30 -t 10 \
    -c:v libx264 -pix_fmt yuv420p "$tmp/demo.mp4"
$V info "$tmp/demo.mp4"
$V clip "$tmp/demo.mp4" --start-frame 100 --frames 16 --stride 2 --short-side 128 --crop 112 \
    -o "$tmp/clip.safetensors"
echo
echo "== data: a hashtag-labelled manifest (a few videos, one missing, one corrupt, one bad line),"
echo "   the pre-flight scan, and what the verb+noun label space with square-root resampling draws"
mkdir -p "$tmp/videos"
i=0
for src in testsrc2 mandelbrot smptebars rgbtestsrc; do
    i=$((i + 1))
    ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i "$src=size=160x120:rate=25" -t 4 \
        -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$tmp/videos/v$i.mp4"
done
printf 'not a video\n' >"$tmp/videos/broken.mp4"
T=$(printf '\t')
cat >"$tmp/train.tsv" <<EOM
videos/v1.mp4${T}#RollingDice,#dice
videos/v2.mp4${T}#CuttingOnion
videos/v3.mp4${T}#rolling_dice
{"path": "videos/v4.mp4", "labels": ["#ThrowingDice"], "duration": 4.0}
videos/broken.mp4${T}#CuttingOnion
videos/gone.mp4${T}#dice
a line without a tab
EOM
cat >"$tmp/tax.tsv" <<EOM
#RollingDice${T}roll${T}dice${T}rolling dice
#CuttingOnion${T}cut${T}onion${T}cutting onion
#ThrowingDice${T}throw${T}dice${T}throwing dice
#dice${T}${T}dice${T}
EOM
(cd "$tmp" && $OLDPWD/$V scan train.tsv) || echo "(scan exits 1: some videos are bad, listed in scan-bad.txt)"
$V dataset "$tmp/train.tsv" --taxonomy "$tmp/tax.tsv" --label-space verb+noun --resample sqrt \
    --draws 100000 2>/dev/null
echo
echo "== training: R(2+1)D-10 (1/4 width) from scratch on 12 generated videos of a box moving"
echo "   left or right, checkpoints every 5 steps, then multi-clip evaluation and classification"
mkdir -p "$tmp/motion"
: >"$tmp/motion.tsv"
for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
    if [ $((i % 2)) = 1 ]; then dir=right; x="4+$((16 + i))*t"; else dir=left; x="44-$((16 + i))*t"; fi
    ffmpeg -hide_banner -loglevel error -nostdin -f lavfi \
        -i "color=c=0x303030:s=64x64:r=25:d=2[bg];color=c=0xe8e8e8:s=12x12:r=25:d=2[fg];[bg][fg]overlay=x='$x':y=$((6 + i * 3)):shortest=1" \
        -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$tmp/motion/v$i.mp4"
    printf 'motion/v%d.mp4\t%s\n' "$i" "$dir" >>"$tmp/motion.tsv"
done
$V train --manifest "$tmp/motion.tsv" --out "$tmp/run" --arch r2plus1d --depth 10 --width 0.25 \
    --clip-len 8 --stride 2 --short-side 64 --crop 56 --batch 8 --steps 30 --lr 0.05 --warmup 5 \
    --schedule cosine --threads 2 --seed 1 --checkpoint-every 5 | awk 'NR % 5 == 0 || /wrote/'
$V eval "$tmp/run/model.safetensors" --manifest "$tmp/motion.tsv" --clips 4
$V classify "$tmp/run/model.safetensors" "$tmp/motion/v0.mp4" "$tmp/motion/v1.mp4" --clips 4 --top 2
