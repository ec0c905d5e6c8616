#!/bin/sh
# The vidaction program's video commands: `info` (what the library measured, as
# text and JSON) and `clip` (one clip decoded into a safetensors file). The
# videos are made here with the ffmpeg program from numbered frames
# (test/video/framecode.h); a small C checker reads the number painted in each
# decoded frame, so a clip is checked frame by frame against its indices.
# Prints "ok/FAIL name" per case and "N passed, N failed".
V=${VIDACTION:-bin/vidaction}
. test/testlib.sh
vt_begin video_cli

if ! command -v ffmpeg >/dev/null 2>&1; then
    echo "skipped: test_video_cli needs the ffmpeg program"
    echo "0 passed, 0 failed"
    exit 0
fi

# --- tools: frame writer, frame-code checker, safetensors reader ---------------
FRAMES=build/tools/vt_frames
if [ ! -x "$FRAMES" ]; then
    FRAMES=$tmp/vt_frames
    ${CC:-cc} -O2 -o "$FRAMES" test/video/vt_frames.c
fi
# codes RAW W H N: the frame number painted in each of N rgb24 WxH frames, comma
# separated; "n@o" when the frame reads only in orientation o (framecode.h), "?"
# when it does not read at all.
cat > "$tmp/codes.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>

#include "framecode.h"

int main(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    int w = atoi(argv[2]), h = atoi(argv[3]), n = atoi(argv[4]), code = -1;
    size_t size = (size_t)w * (size_t)h * 3;
    FILE *f = fopen(argv[1], "rb");
    uint8_t *rgb = malloc(size ? size : 1);
    if (!f || !rgb)
        return 1;
    for (int i = 0; i < n; i++) {
        if (fread(rgb, 1, size, f) != size)
            return 1;
        int o = vt_frame_orientation(rgb, w, h, &code);
        fputs(i ? "," : "", stdout);
        if (o < 0)
            printf("?");
        else if (o == 0)
            printf("%d", code);
        else
            printf("%d@%d", code, o);
    }
    printf("\n");
    int rest = getc(f);
    fclose(f);
    free(rgb);
    return rest == EOF ? 0 : 1;
}
EOF
# st.py FILE RAW: checks FILE holds exactly 'frames' uint8 [L,H,W,3] and 'indices'
# int64 [L], writes the frames' bytes to RAW and prints "L,H,W,3 i0,i1,...".
cat > "$tmp/st.py" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); data = b[8 + n:]
h.pop("__metadata__", None)
assert sorted(h) == ["frames", "indices"], sorted(h)
f, i = h["frames"], h["indices"]
assert f["dtype"] == "U8" and i["dtype"] == "I64", (f["dtype"], i["dtype"])
L, H, W, C = f["shape"]
assert C == 3 and i["shape"] == [L], (f["shape"], i["shape"])
fb = data[f["data_offsets"][0]:f["data_offsets"][1]]
ib = data[i["data_offsets"][0]:i["data_offsets"][1]]
assert len(fb) == L * H * W * 3 and len(ib) == 8 * L
open(sys.argv[2], "wb").write(fb)
print(",".join(map(str, f["shape"])), ",".join(map(str, struct.unpack("<%dq" % L, ib))))
PY

# clip_ok FILE SHAPE INDICES [SUFFIX]: FILE holds a clip of that shape with those
# indices, and the frames show those frame numbers (each followed by SUFFIX,
# e.g. "@3" for frames shown turned, as the ffmpeg program shows them).
clip_ok() {
    got=$(python3 "$tmp/st.py" "$1" "$tmp/frames.raw") || return 1
    [ "$got" = "$2 $3" ] || { echo "tensors: got '$got', want '$2 $3'"; return 1; }
    codes=$("$tmp/codes" "$tmp/frames.raw" $(echo "$2" | awk -F, '{print $3, $2, $1}')) || return 1
    want=$(echo "$3" | sed "s/[0-9][0-9]*/&$4/g")
    [ "$codes" = "$want" ] || { echo "frame codes: got '$codes', want '$want'"; return 1; }
}

# encode OUT W H N FPS FFMPEG-OPTIONS...: numbered frames, encoded.
encode() {
    out=$1 w=$2 h=$3 n=$4 fps=$5
    shift 5
    "$FRAMES" "$w" "$h" "$n" | ffmpeg -nostdin -loglevel error -y -f rawvideo -pix_fmt rgb24 \
        -s "${w}x$h" -r "$fps" -i - "$@" "$out"
}

t build_checker '${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -Itest/video -o "$tmp/codes" "$tmp/codes.c"'
# a.mp4: H.264 with B-frames, a keyframe every 12 frames; b.avi: MPEG-4 part 2 at
# 10 fps, a keyframe every 10; r.mp4: a.mp4 with a rotation in its display matrix.
t make_videos 'encode "$tmp/a.mp4" 320 240 50 25 -c:v libx264 -pix_fmt yuv420p -bf 2 \
                   -x264-params keyint=12:min-keyint=12:scenecut=0 &&
               encode "$tmp/b.avi" 160 120 30 10 -c:v mpeg4 -q:v 3 -g 10 -bf 0 -sc_threshold 1000000000 &&
               ffmpeg -nostdin -loglevel error -y -i "$tmp/a.mp4" -c copy -metadata:s:v:0 rotate=90 "$tmp/r.mp4"'
echo "this is not a video" > "$tmp/notvideo.mp4"
# The orientation in which the ffmpeg program shows r.mp4: the reference for
# both the rotation that `info` reports and the frames that `clip` gives.
ffmpeg -nostdin -loglevel error -i "$tmp/r.mp4" -frames:v 1 -f rawvideo -pix_fmt rgb24 "$tmp/r0.raw"
r_code=$("$tmp/codes" "$tmp/r0.raw" 240 320 1)
r_orient=${r_code#*@}
t ffmpeg_shows_r_turned 'case "$r_code" in 0@1|0@3) true;; *) false;; esac'

t help '$V --help | grep -q "info VIDEO" && $V --help | grep -q "clip VIDEO -o OUT"'
t clip_help '$V clip --help | grep -q "start-frame"'

# --- info ------------------------------------------------------------------------
$V info "$tmp/a.mp4" >"$tmp/info" 2>"$tmp/err"; rc=$?
t info_text '[ $rc = 0 ] && [ ! -s "$tmp/err" ] &&
             grep -qx "path: $tmp/a.mp4" "$tmp/info" && grep -qx "codec: h264" "$tmp/info" &&
             grep -qx "frames: 50" "$tmp/info" && grep -qx "size: 320x240" "$tmp/info" &&
             grep -qx "coded_size: 320x240" "$tmp/info" && grep -qx "rotation: 0" "$tmp/info" &&
             grep -qx "avg_fps: 25" "$tmp/info" && grep -qx "duration: 2" "$tmp/info" &&
             grep -qx "keyframes: 5" "$tmp/info" && grep -qx "max_keyframe_gap: 12" "$tmp/info" &&
             grep -qx "pix_fmt: yuv420p" "$tmp/info" && grep -qx "bit_depth: 8" "$tmp/info" &&
             grep -qx "vfr: no" "$tmp/info" && grep -qx "sequential: no" "$tmp/info"'
$V info "$tmp/a.mp4" "$tmp/b.avi" >"$tmp/info2" 2>"$tmp/err"; rc=$?
t info_text_two_files '[ $rc = 0 ] && [ $(grep -c "^path: " "$tmp/info2") = 2 ] &&
                       [ $(grep -c "^\$" "$tmp/info2") = 1 ] && grep -qx "frames: 30" "$tmp/info2" &&
                       grep -qx "size: 160x120" "$tmp/info2"'
$V info --json "$tmp/a.mp4" "$tmp/b.avi" >"$tmp/info.json" 2>"$tmp/err"; rc=$?
t info_json '[ $rc = 0 ] && python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, list) and len(d) == 2, d
a, b = d
assert a[\"path\"] == sys.argv[2] and b[\"path\"] == sys.argv[3]
assert a[\"codec\"] == \"h264\" and b[\"codec\"] == \"mpeg4\", (a[\"codec\"], b[\"codec\"])
for v, n, w, h, fps, kf, gap in ((a, 50, 320, 240, 25, 5, 12), (b, 30, 160, 120, 10, 3, 10)):
    assert v[\"frames\"] == n and v[\"header_frames\"] in (n, None), v
    assert (v[\"width\"], v[\"height\"], v[\"coded_width\"], v[\"coded_height\"]) == (w, h, w, h), v
    assert v[\"rotation\"] == 0 and v[\"bit_depth\"] == 8 and v[\"full_range\"] is False, v
    assert abs(v[\"avg_fps\"] - fps) < 1e-6 and abs(v[\"duration\"] - n / fps) < 1e-6, v
    assert v[\"real_fps\"] is None or abs(v[\"real_fps\"] - fps) < 1e-6, v
    assert v[\"keyframes\"] == kf and v[\"max_keyframe_gap\"] == gap, v
    assert v[\"vfr\"] is False and isinstance(v[\"start_time\"], (int, float)), v
    assert v[\"sequential\"] in (False, True) and v[\"pix_fmt\"] == \"yuv420p\", v
    assert isinstance(v[\"format\"], str) and v[\"format\"], v
assert a[\"sequential\"] is False
" "$tmp/info.json" "$tmp/a.mp4" "$tmp/b.avi"'
$V info "$tmp/missing.mp4" "$tmp/a.mp4" >"$tmp/info" 2>"$tmp/err"; rc=$?
t info_missing_and_good '[ $rc = 1 ] && [ $(wc -l <"$tmp/err") = 1 ] &&
                         grep -q "^vidaction: error: .*missing.mp4" "$tmp/err" &&
                         [ $(grep -o "missing.mp4" "$tmp/err" | wc -l) = 1 ] &&
                         grep -qx "path: $tmp/a.mp4" "$tmp/info" && grep -qx "frames: 50" "$tmp/info"'
$V info --json "$tmp/a.mp4" "$tmp/missing.mp4" >"$tmp/info.json" 2>"$tmp/err"; rc=$?
t info_json_missing_and_good '[ $rc = 1 ] && grep -q "missing.mp4" "$tmp/err" && python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 1 and d[0][\"frames\"] == 50, d
" "$tmp/info.json"'
$V info "$tmp/notvideo.mp4" >"$tmp/info" 2>"$tmp/err"; rc=$?
t info_not_a_video '[ $rc = 1 ] && [ ! -s "$tmp/info" ] && grep -q "^vidaction: error: .*notvideo.mp4" "$tmp/err"'
$V info "$tmp/r.mp4" >"$tmp/info" 2>"$tmp/err"; rc=$?
t info_rotated '[ $rc = 0 ] && grep -qx "size: 240x320" "$tmp/info" &&
                grep -qx "coded_size: 320x240" "$tmp/info" &&
                grep -qx "rotation: $((r_orient * 90))" "$tmp/info"'
$V info >/dev/null 2>"$tmp/err"; rc=$?
t info_no_file_exit_2 '[ $rc = 2 ]'
$V info --frobnicate "$tmp/a.mp4" >/dev/null 2>"$tmp/err"; rc=$?
t info_unknown_option_exit_2 '[ $rc = 2 ] && grep -q "unknown option --frobnicate" "$tmp/err"'

# --- clip ------------------------------------------------------------------------
$V clip "$tmp/a.mp4" -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_default '[ $rc = 0 ] && [ ! -s "$tmp/err" ] &&
                grep -qx "wrote $tmp/c.safetensors: frames \[16,240,320,3\] from frames 0..15 of $tmp/a.mp4" "$tmp/out" &&
                clip_ok "$tmp/c.safetensors" 16,240,320,3 "$(seq -s, 0 15)"'
$V clip "$tmp/a.mp4" --start-frame 10 --frames 8 --stride 5 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_start_stride '[ $rc = 0 ] && clip_ok "$tmp/c.safetensors" 8,240,320,3 "$(seq -s, 10 5 45)"'
$V clip "$tmp/a.mp4" --start-frame 46 --frames 4 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_last_frames '[ $rc = 0 ] && clip_ok "$tmp/c.safetensors" 4,240,320,3 46,47,48,49'
$V clip "$tmp/a.mp4" --frames 4 --short-side 120 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_short_side '[ $rc = 0 ] && clip_ok "$tmp/c.safetensors" 4,120,160,3 0,1,2,3'
$V clip "$tmp/a.mp4" --start-frame 20 --frames 3 --crop 200 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_crop '[ $rc = 0 ] && clip_ok "$tmp/c.safetensors" 3,200,200,3 20,21,22'
$V clip "$tmp/a.mp4" --frames 8 --stride 2 --short-side 112 --crop 112 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_short_side_crop '[ $rc = 0 ] && grep -q "frames \[8,112,112,3\] from frames 0..14 (stride 2)" "$tmp/out" &&
                        clip_ok "$tmp/c.safetensors" 8,112,112,3 "$(seq -s, 0 2 14)"'
$V clip "$tmp/a.mp4" --time 1.0 --frames 4 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_time '[ $rc = 0 ] && clip_ok "$tmp/c.safetensors" 4,240,320,3 25,26,27,28'
$V clip "$tmp/b.avi" --time 1.05 --frames 3 --stride 2 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_time_avi '[ $rc = 0 ] && clip_ok "$tmp/c.safetensors" 3,120,160,3 10,12,14'
$V clip "$tmp/r.mp4" --frames 3 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_rotated '[ $rc = 0 ] && clip_ok "$tmp/c.safetensors" 3,320,240,3 0,1,2 "@$r_orient"'

rm -f "$tmp/c.safetensors"
$V clip "$tmp/a.mp4" --start-frame 40 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_past_end '[ $rc = 1 ] && [ ! -e "$tmp/c.safetensors" ] &&
                 grep -qx "vidaction: error: $tmp/a.mp4: clip of 16 frames with stride 1 from frame 40 needs frame 55, video has 50 frames" "$tmp/err"'
$V clip "$tmp/a.mp4" --stride 4 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_stride_past_end '[ $rc = 1 ] && [ ! -e "$tmp/c.safetensors" ] &&
                        grep -q "with stride 4 from frame 0 needs frame 60, video has 50 frames" "$tmp/err"'
$V clip "$tmp/a.mp4" --time 3 --frames 1 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_time_after_end_is_last_frame '[ $rc = 0 ] && clip_ok "$tmp/c.safetensors" 1,240,320,3 49'
rm -f "$tmp/c.safetensors"
$V clip "$tmp/a.mp4" --crop 300 -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_crop_too_big '[ $rc = 1 ] && [ ! -e "$tmp/c.safetensors" ] && grep -q "^vidaction: error: " "$tmp/err"'
$V clip "$tmp/notvideo.mp4" -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_not_a_video '[ $rc = 1 ] && [ ! -e "$tmp/c.safetensors" ] &&
                    grep -q "^vidaction: error: .*notvideo.mp4" "$tmp/err"'
$V clip "$tmp/missing.mp4" -o "$tmp/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_missing_file '[ $rc = 1 ] && [ ! -e "$tmp/c.safetensors" ] && grep -q "missing.mp4" "$tmp/err"'
$V clip "$tmp/a.mp4" --frames 2 -o "$tmp/nodir/c.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
t clip_cannot_write '[ $rc = 1 ] && grep -q "^vidaction: error: cannot write the output: .*nodir" "$tmp/err"'

# Usage errors: exit 2, nothing written.
for c in "frames_0:--frames 0" "stride_negative:--stride -1" "stride_0:--stride 0" \
         "start_negative:--start-frame -1" "time_negative:--time -1" "time_nan:--time nan" \
         "start_and_time:--start-frame 3 --time 1" "unknown_option:--frobnicate" \
         "missing_value:--frames" "two_videos:$tmp/b.avi" "crop_0:--crop 0" \
         "short_side_text:--short-side big"; do
    name=${c%%:*}
    args=${c#*:}
    $V clip "$tmp/a.mp4" -o "$tmp/c.safetensors" $args >/dev/null 2>"$tmp/err"; rc=$?
    t "clip_usage_$name" '[ $rc = 2 ] && [ ! -e "$tmp/c.safetensors" ] && grep -q "^vidaction: error: " "$tmp/err"'
done
$V clip "$tmp/a.mp4" >/dev/null 2>"$tmp/err"; rc=$?
t clip_usage_no_output '[ $rc = 2 ] && grep -q "clip needs VIDEO -o OUT" "$tmp/err"'
$V clip -o "$tmp/c.safetensors" >/dev/null 2>"$tmp/err"; rc=$?
t clip_usage_no_video '[ $rc = 2 ] && [ ! -e "$tmp/c.safetensors" ]'
vt_end
