#!/bin/sh
# make-videos.sh DIR VT_FRAMES: encodes the test videos of test/video/README.md
# into DIR with the ffmpeg program. Every video shows numbered frames
# (framecode.h, written by VT_FRAMES), so a test can read which frame it got.
#
# Codecs whose encoder this ffmpeg lacks are skipped with a note on stderr and
# their file names are listed in DIR/skipped.txt (tests skip those and only
# those); libx264 is required. Every file's frame count is checked with
# ffprobe, so the counts in the README are what the files hold.
set -u

die() {
    echo "make-videos.sh: $*" >&2
    exit 1
}

[ $# -eq 2 ] || die "usage: make-videos.sh DIR VT_FRAMES"
DIR=$1
VT=$2
[ -x "$VT" ] || die "$VT is not an executable (make build/tools/vt_frames)"
command -v ffmpeg >/dev/null 2>&1 || die "the ffmpeg program is missing (make deps)"
command -v ffprobe >/dev/null 2>&1 || die "the ffprobe program is missing (make deps)"
mkdir -p "$DIR" || die "cannot create $DIR"
: >"$DIR/skipped.txt" || die "cannot write $DIR/skipped.txt"

FF="ffmpeg -hide_banner -loglevel error -nostdin -y"
ENCODERS=$(ffmpeg -hide_banner -loglevel error -encoders 2>/dev/null | awk '{print $2}')

have() {
    printf '%s\n' "$ENCODERS" | grep -qx "$1"
}

# skip NAME ENCODER: notes that NAME cannot be made here.
skip() {
    echo "make-videos.sh: note: ffmpeg has no $2 encoder, $1 not made" >&2
    echo "$1" >>"$DIR/skipped.txt"
}

# enc NAME W H N FIRST OPTIONS...: frames FIRST..FIRST+N-1 of size WxH at
# 25 fps, encoded with the ffmpeg output OPTIONS into DIR/NAME.
enc() {
    name=$1 w=$2 h=$3 n=$4 first=$5
    shift 5
    "$VT" "$w" "$h" "$n" "$first" |
        $FF -f rawvideo -pix_fmt rgb24 -s "${w}x$h" -r 25 -i - "$@" "$DIR/$name" ||
        die "ffmpeg failed to make $name"
}

# check NAME N: DIR/NAME must decode to N video frames.
check() {
    got=$(ffprobe -v error -select_streams v:0 -count_frames \
        -show_entries stream=nb_read_frames -of default=nw=1:nk=1 "$DIR/$1" | head -n 1)
    [ "$got" = "$2" ] || die "$1 has $got frames, expected $2"
}

# make NAME N OPTIONS...: enc at 160x120 from frame 0, then check.
make1() {
    name=$1 n=$2
    shift 2
    enc "$name" 160 120 "$n" 0 "$@"
    check "$name" "$n"
}

X264="-c:v libx264 -pix_fmt yuv420p -preset veryfast"
have libx264 || die "ffmpeg has no libx264 encoder (Debian's ffmpeg has it)"

# H.264 with 3 B-frames in every common container.
for f in h264.mp4 h264.mkv h264.avi h264.ts h264.mov; do
    make1 $f 300 $X264 -bf 3
done
make1 h264_gop300.mp4 600 $X264 -bf 3 -g 300 -keyint_min 300 -sc_threshold 0
make1 h264_gop16.mp4 300 $X264 -bf 3 -g 16 -keyint_min 16 -sc_threshold 0
make1 h264_opengop.mkv 300 $X264 -bf 3 -g 50 -keyint_min 50 -sc_threshold 0 \
    -x264-params open-gop=1
make1 h264_faststart.mp4 50 $X264 -bf 3 -movflags +faststart
make1 one_frame.mp4 1 $X264
make1 short.mp4 10 $X264 -bf 3
make1 h264_fullrange.mp4 300 -c:v libx264 -pix_fmt yuvj420p -preset veryfast -bf 3 \
    -color_range pc
# other pixel formats: 4:4:4, luma only (read as full-range 4:2:0), planar RGB (gbrp)
make1 h264_444.mp4 50 -c:v libx264 -pix_fmt yuv444p -preset veryfast -bf 3
make1 h264_gray.mp4 50 -c:v libx264 -pix_fmt gray -preset veryfast -bf 3
if have libx264rgb; then
    make1 h264_rgb.mkv 50 -c:v libx264rgb -pix_fmt rgb24 -preset veryfast
else
    skip h264_rgb.mkv libx264rgb
fi
# an odd frame rate: 18.53 fps (time base 1/1853, 100 ticks a frame)
make1 odd_fps.mp4 50 -vf "settb=1/1853,setpts=N*100" -fps_mode passthrough -enc_time_base 1/1853 \
    -video_track_timescale 1853 $X264 -bf 3
# big frames: 8 frames of 3840x2160; a decompression bomb: 2 blue frames of 7680x4320 in ~100 KB
$FF -f lavfi -i testsrc2=s=3840x2160:r=25 -frames:v 8 -c:v libx264 -preset ultrafast \
    -pix_fmt yuv420p -bf 3 "$DIR/uhd.mp4" || die "ffmpeg failed to make uhd.mp4"
check uhd.mp4 8
$FF -f lavfi -i color=c=blue:s=7680x4320:r=25 -frames:v 2 -c:v libx264 -preset ultrafast \
    -pix_fmt yuv420p "$DIR/bomb8k.mp4" || die "ffmpeg failed to make bomb8k.mp4"
# 2x2 pixels (too small for a frame code): 10 red frames
$FF -f lavfi -i color=c=red:s=2x2:r=25 -frames:v 10 -c:v libx264 -pix_fmt yuv444p \
    "$DIR/tiny.mp4" || die "ffmpeg failed to make tiny.mp4"
check tiny.mp4 10
# a PNG image named .mp4
"$VT" 64 48 1 0 | $FF -f rawvideo -pix_fmt rgb24 -s 64x48 -i - -c:v png -f image2 -update 1 \
    "$DIR/png_named.mp4" || die "ffmpeg failed to make png_named.mp4"

# 1x1 pixel: 10 frames of the frame gradient shrunk to one pixel (its colour changes every
# frame), in 4:4:4 (x264 needs even sizes for 4:2:0) and in 4:2:0 (MPEG-4 part 2)
"$VT" 16 16 10 0 | $FF -f rawvideo -pix_fmt rgb24 -s 16x16 -r 25 -i - -vf scale=1:1 \
    -c:v libx264 -pix_fmt yuv444p -preset veryfast "$DIR/one_pixel.mp4" ||
    die "ffmpeg failed to make one_pixel.mp4"
check one_pixel.mp4 10
if have mpeg4; then
    "$VT" 16 16 10 0 | $FF -f rawvideo -pix_fmt rgb24 -s 16x16 -r 25 -i - -vf scale=1:1 \
        -c:v mpeg4 -pix_fmt yuv420p "$DIR/one_pixel.avi" ||
        die "ffmpeg failed to make one_pixel.avi"
    check one_pixel.avi 10
else
    skip one_pixel.avi mpeg4
fi
# palettized (pal8): PNG frames with a 16-colour palette, in QuickTime
enc pal8.mov 64 48 10 0 \
    -vf "split[a][b];[a]palettegen=max_colors=16[p];[b][p]paletteuse=dither=none" -c:v png -pix_fmt pal8
check pal8.mov 10

# Timing: a raw H.264 stream (no container, no timestamps), and an mp4 without an edit
# list (the tests patch its time scale to 0)
enc h264_raw.h264 160 120 12 0 $X264 -bf 3 -f h264
check h264_raw.h264 12
make1 no_editlist.mp4 12 $X264 -bf 3 -use_editlist 0
# Timestamps that jump back: two MPEG-TS files joined byte by byte (frames 0-11 then 12-23),
# the first shifted to start 10 s later (ts_backward.ts) or both starting at the same time
# (ts_repeat.ts); and a Matroska file whose frames share timestamps two by two (dup_pts.mkv)
enc ts_a.ts 96 72 12 0 $X264 -bf 3 -output_ts_offset 10
enc ts_a0.ts 96 72 12 0 $X264 -bf 3
enc ts_b.ts 96 72 12 12 $X264 -bf 3
cat "$DIR/ts_a.ts" "$DIR/ts_b.ts" >"$DIR/ts_backward.ts" || die "cannot write ts_backward.ts"
cat "$DIR/ts_a0.ts" "$DIR/ts_b.ts" >"$DIR/ts_repeat.ts" || die "cannot write ts_repeat.ts"
rm -f "$DIR/ts_a.ts" "$DIR/ts_a0.ts" "$DIR/ts_b.ts"
check ts_backward.ts 24
check ts_repeat.ts 24
make1 dup_pts.mkv 20 $X264 -bf 0 -bsf:v "setts=ts=trunc(N/2)*0.08/TB"

# Several streams: two video streams (stream 0: 96x72 showing 100-111, stream 1: 160x120
# showing 0-11), with the default disposition on stream 1 (two_video.mkv) or on stream 0
# (two_video_default_first.mkv); an audio stream before the video stream (audio_first.mp4)
enc tv_small.mkv 96 72 12 100 $X264 -bf 3
enc tv_big.mkv 160 120 12 0 $X264 -bf 3
$FF -i "$DIR/tv_small.mkv" -i "$DIR/tv_big.mkv" -map 0:v -map 1:v -c copy \
    -disposition:v:0 0 -disposition:v:1 default "$DIR/two_video.mkv" ||
    die "ffmpeg failed to make two_video.mkv"
$FF -i "$DIR/tv_small.mkv" -i "$DIR/tv_big.mkv" -map 0:v -map 1:v -c copy \
    -disposition:v:0 default -disposition:v:1 0 "$DIR/two_video_default_first.mkv" ||
    die "ffmpeg failed to make two_video_default_first.mkv"
$FF -f lavfi -i sine=frequency=440:duration=0.5 -i "$DIR/tv_big.mkv" -map 0:a -map 1:v -c:v copy \
    -c:a aac -b:a 24k "$DIR/audio_first.mp4" || die "ffmpeg failed to make audio_first.mp4"
rm -f "$DIR/tv_small.mkv" "$DIR/tv_big.mkv"
check two_video.mkv 12
check audio_first.mp4 12

# 10-bit: libx264 built for 10 bits, else x265.
if "$VT" 160 120 300 0 | $FF -f rawvideo -pix_fmt rgb24 -s 160x120 -r 25 -i - \
    -c:v libx264 -pix_fmt yuv420p10le -preset veryfast -bf 3 "$DIR/h264_10bit.mp4" 2>/dev/null; then
    check h264_10bit.mp4 300
    echo hevc_10bit.mp4 >>"$DIR/skipped.txt"
else
    rm -f "$DIR/h264_10bit.mp4"
    echo "make-videos.sh: note: libx264 cannot encode 10 bits, trying hevc_10bit.mp4" >&2
    echo h264_10bit.mp4 >>"$DIR/skipped.txt"
    if have libx265; then
        make1 hevc_10bit.mp4 300 -c:v libx265 -pix_fmt yuv420p10le -preset ultrafast \
            -x265-params log-level=error
    else
        skip hevc_10bit.mp4 libx265
    fi
fi

# Variable frame rate: durations cycle 20, 60, 100, 200, 120 ms (10 fps on
# average); vfr.pts lists each frame's time as ffprobe reads it.
enc vfr.mkv 160 120 100 0 -vf 'settb=1/1000,setpts=(floor(N/5)*500+gte(mod(N\,5)\,1)*20+gte(mod(N\,5)\,2)*60+gte(mod(N\,5)\,3)*100+gte(mod(N\,5)\,4)*200)/1000/TB' \
    -fps_mode passthrough -enc_time_base 1/1000 $X264 -bf 3
check vfr.mkv 100
ffprobe -v error -select_streams v:0 -show_entries frame=pts_time -of default=nw=1:nk=1 \
    "$DIR/vfr.mkv" | grep -E '^[0-9.]+$' >"$DIR/vfr.pts" || die "ffprobe failed on vfr.mkv"
[ "$(wc -l <"$DIR/vfr.pts")" -eq 100 ] || die "vfr.pts does not have 100 lines"

# Rotation: the mov muxer writes the display matrix from the rotate tag when
# the stream is copied (not when encoding).
make1 rot_base.mp4 100 $X264 -bf 3
for r in 90 180 270; do
    $FF -i "$DIR/rot_base.mp4" -c copy -metadata:s:v:0 rotate=$r "$DIR/rot$r.mp4" ||
        die "ffmpeg failed to make rot$r.mp4"
    ffprobe -v error -select_streams v:0 -show_entries stream_side_data=rotation \
        -of default=nw=1:nk=1 "$DIR/rot$r.mp4" | grep -qE '^-?[0-9]+$' ||
        die "rot$r.mp4 has no display matrix"
done
rm -f "$DIR/rot_base.mp4"

# A mid-stream size change: frames 0-49 at 160x120 then 50-99 at 192x144,
# two raw H.264 streams (each with its own SPS) joined and put in Matroska.
enc sc_a.h264 160 120 50 0 $X264 -bf 0 -f h264
enc sc_b.h264 192 144 50 50 $X264 -bf 0 -f h264
cat "$DIR/sc_a.h264" "$DIR/sc_b.h264" >"$DIR/sc_ab.h264" || die "cannot write sc_ab.h264"
$FF -fflags +genpts -framerate 25 -f h264 -i "$DIR/sc_ab.h264" -c copy "$DIR/sizechange.mkv" ||
    die "ffmpeg failed to make sizechange.mkv"
rm -f "$DIR/sc_a.h264" "$DIR/sc_b.h264" "$DIR/sc_ab.h264"
check sizechange.mkv 100

# Audio only.
$FF -f lavfi -i sine=frequency=440:duration=2 -c:a aac "$DIR/audio.m4a" ||
    die "ffmpeg failed to make audio.m4a"

if have libx265; then
    for f in hevc.mp4 hevc.mkv; do
        make1 $f 300 -c:v libx265 -pix_fmt yuv420p -preset ultrafast \
            -x265-params log-level=error:bframes=3
    done
else
    skip hevc.mp4 libx265
    skip hevc.mkv libx265
fi

if have libvpx; then
    make1 vp8.webm 300 -c:v libvpx -pix_fmt yuv420p -b:v 150k -deadline realtime -cpu-used 8
else
    skip vp8.webm libvpx
fi

if have libvpx-vp9; then
    enc vp9.webm 192 144 300 0 -c:v libvpx-vp9 -pix_fmt yuv420p -b:v 150k -deadline realtime \
        -cpu-used 8 -row-mt 1
    check vp9.webm 300
else
    skip vp9.webm libvpx-vp9
fi

if have libaom-av1; then
    make1 av1.mkv 300 -c:v libaom-av1 -pix_fmt yuv420p -usage realtime -cpu-used 8 -b:v 150k
elif have libsvtav1; then
    SVT_LOG=1 make1 av1.mkv 300 -c:v libsvtav1 -pix_fmt yuv420p -preset 12
else
    skip av1.mkv libaom-av1
fi

if have mpeg4; then
    make1 mpeg4.avi 300 -c:v mpeg4 -q:v 5 -bf 2
    # odd size with 4:2:0 chroma
    enc odd.avi 161 121 50 0 -c:v mpeg4 -pix_fmt yuv420p -q:v 4
    check odd.avi 50
else
    skip mpeg4.avi mpeg4
    skip odd.avi mpeg4
fi

if have mjpeg; then
    make1 mjpeg.avi 150 -c:v mjpeg -pix_fmt yuvj420p -q:v 8
else
    skip mjpeg.avi mjpeg
fi

if have mpeg2video; then
    make1 mpeg2.ts 300 -c:v mpeg2video -q:v 6 -bf 2
else
    skip mpeg2.ts mpeg2video
fi
exit 0
