#!/bin/sh
# Makes the seed corpus of fuzz_video: tiny videos (32x24, 12 frames) in the
# containers and codecs the library reads, each followed by the fuzz target's
# 8-byte parameter block. Run from the repo root; needs the ffmpeg program.
#   sh test/fuzz/make-corpus.sh test/fuzz/corpus/video
set -eu
out=$1
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src="-f lavfi -i testsrc2=size=32x24:rate=25 -frames:v 12 -an"
enc() {
    name=$1
    shift
    if ffmpeg -hide_banner -loglevel error -nostdin $src "$@" -y "$tmp/$name" 2>/dev/null; then
        # parameter block: 8 frames, stride 1, short side 16, crop 12, start 2, flip, clips
        cat "$tmp/$name" > "$out/$name"
        printf '\010\001\021\015\002\000\001\011' >> "$out/$name"
    else
        echo "make-corpus: skipped $name (no encoder)" >&2
    fi
}
enc h264.mp4 -c:v libx264 -bf 2 -g 6
enc h264.mkv -c:v libx264 -bf 2 -g 6
enc h264.ts -c:v libx264 -bf 2 -g 6
enc hevc.mp4 -c:v libx265 -x265-params log-level=error:keyint=6
enc vp9.webm -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 6
enc mpeg4.avi -c:v mpeg4 -bf 2 -g 6
enc mjpeg.avi -c:v mjpeg
enc mpeg2.mpg -c:v mpeg2video -bf 2 -g 6
enc rot.mp4 -c:v libx264 -g 6 -metadata:s:v:0 rotate=90
ls -la "$out"
