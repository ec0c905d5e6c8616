#!/bin/sh
# The example programs on the public API (examples/minimal.c, train.c, features.c), on
# generated videos of six classes (a box moving left, right, up or down, standing still, a big
# box): train writes a model with the manifest's class names and clip geometry, and a run killed
# and resumed from its checkpoint ends with the same model file; minimal prints the top 5 with
# those names and the probabilities `vidaction classify` gives; features writes the shapes it
# says and the numbers of `vidaction features`; missing files and bad arguments are refused
# with a message naming them.
# Prints "ok/FAIL name" per case and "N passed, N failed".
E=${EXAMPLES:-bin/examples}
V=${VIDACTION:-bin/vidaction}
PY=${PYTHON:-python3}
. test/testlib.sh
vt_begin examples

if ! command -v ffmpeg >/dev/null 2>&1; then
    echo "skipped: test_examples needs the ffmpeg program"
    echo "0 passed, 0 failed"
    exit 0
fi

# video NAME X Y SIZE [LABEL]: 64x64, 2 s at 25 fps, a light SIZExSIZE box at x(t), y(t) on
# grey, in the manifest with LABEL (default: NAME less its digits)
d=$tmp/data
mkdir -p "$d"
video() {
    ffmpeg -nostdin -v error -y -f lavfi \
        -i "color=c=0x303030:s=64x64:r=25:d=2[bg];color=c=0xe8e8e8:s=$4x$4:r=25:d=2[fg];[bg][fg]overlay=x='$2':y='$3':shortest=1" \
        -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$d/$1.mp4" || exit 1
    printf '%s.mp4\t%s\n' "$1" "${5:-$(echo "$1" | tr -d 0-9)}" >>"$d/m.tsv"
}
: >"$d/m.tsv"
for i in 0 1; do
    o=$((i * 8))
    video left$i "44-$((16 + o))*t" $((10 + o)) 12
    video right$i "4+$((16 + o))*t" $((10 + o)) 12
    video up$i $((10 + o)) "44-$((16 + o))*t" 12
    video down$i $((10 + o)) "4+$((16 + o))*t" 12
    video still$i $((20 + o)) $((20 + o)) 12
    video big$i $((10 + o)) $((10 + o)) 28 'big "box"' # a name that JSON escapes
done

# the CPU (run-tests.sh sets it too), 2 threads, a clip of 8 frames cropped to 48x48
export VIDA_DEVICE=cpu
ARGS="--clip-len 8 --short-side 56 --crop 48 --threads 2"

t train '"$E/train" "$d/m.tsv" "$tmp/model.safetensors" 8 $ARGS --checkpoint-every 4 >"$tmp/train.log" 2>&1 &&
    grep -q "^step 8/8 epoch 2 loss [0-9.]* lr " "$tmp/train.log" && [ -f "$tmp/model.safetensors" ] &&
    [ -f "$tmp/model.checkpoint.safetensors" ]'
# killed (SIGKILL) once step 4 is printed, then resumed from its last checkpoint: the model of
# the uninterrupted run, byte for byte
killed_resume() {
    "$E/train" "$d/m.tsv" "$tmp/b.safetensors" 8 $ARGS --checkpoint-every 1 >"$tmp/b.log" 2>&1 &
    pid=$!
    n=0
    while ! grep -q "^step 4/8 " "$tmp/b.log" 2>/dev/null; do
        sleep 0.05
        n=$((n + 1))
        [ $n -lt 1200 ] || { kill -9 $pid; return 1; }
    done
    kill -9 $pid
    wait $pid 2>/dev/null
    [ ! -f "$tmp/b.safetensors" ] || return 1
    "$E/train" "$d/m.tsv" "$tmp/b.safetensors" 8 $ARGS --checkpoint-every 1 \
        --resume "$tmp/b.checkpoint.safetensors" >"$tmp/b2.log" 2>&1 || return 1
    grep -q "^resumed from .* at step [1-7]$" "$tmp/b2.log" && grep -q "^step 8/8 " "$tmp/b2.log" &&
        cmp "$tmp/model.safetensors" "$tmp/b.safetensors"
}
t train_resume killed_resume
# the model file's metadata: the class names in the manifest's classes' order, the clip geometry
metadata() {
    $PY - "$1" <<'PYEOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    m = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]
ok = json.loads(m["labels"]) == ['big "box"', "down", "left", "right", "still", "up"]
ok = ok and [m[k] for k in ("clip_frames", "frame_stride", "short_side", "crop")] == ["8", "2", "56", "48"]
sys.exit(0 if ok else 1)
PYEOF
}
t model_metadata 'metadata "$tmp/model.safetensors"'

# minimal: five lines "P  NAME", five different class names of the manifest, as classify has them
t minimal '"$E/minimal" "$tmp/model.safetensors" "$d/up1.mp4" >"$tmp/min.txt" && [ $(wc -l <"$tmp/min.txt") = 5 ] &&
    [ $(grep -c "^0\.[0-9]\{4\}  \(left\|right\|up\|down\|still\|big \"box\"\)$" "$tmp/min.txt") = 5 ] &&
    [ $(sed "s/^[0-9.]*  //" "$tmp/min.txt" | sort -u | wc -l) = 5 ]'
# (to rounding: the two run on different thread counts; near-ties may swap)
same_as_classify() {
    $PY - "$1" "$2" <<'PYEOF'
import sys
ex = [l.rstrip("\n").split("  ", 1) for l in open(sys.argv[1])]
cli = [x.rsplit(" ", 1) for x in open(sys.argv[2]).read().rstrip("\n").split("clips): ")[1].split(" | ")]
p = {n: float(q) for n, q in cli}
ok = sorted(n for q, n in ex) == sorted(p) and all(abs(float(q) - p[n]) <= 2e-4 for q, n in ex)
sys.exit(0 if ok else 1)
PYEOF
}
t minimal_is_classify '"$V" classify "$tmp/model.safetensors" "$d/up1.mp4" --clips 5 --top 5 >"$tmp/cls.txt" &&
    same_as_classify "$tmp/min.txt" "$tmp/cls.txt"'
# fewer classes than 5: a line each; the name JSON escapes comes back as written in the manifest
grep -v "^\(up\|down\|still\)" "$d/m.tsv" >"$d/m3.tsv"
t minimal_three_classes '"$E/train" "$d/m3.tsv" "$tmp/m3.safetensors" 2 --clip-len 4 --short-side 40 --crop 32 >/dev/null &&
    "$E/minimal" "$tmp/m3.safetensors" "$d/left0.mp4" >"$tmp/min3.txt" && [ $(wc -l <"$tmp/min3.txt") = 3 ] &&
    [ "$(sed "s/^0\.[0-9]\{4\}  //" "$tmp/min3.txt" | sort | tr "\n" ,)" = "big \"box\",left,right," ]'
t minimal_missing_model '! "$E/minimal" "$tmp/nope.safetensors" "$d/up1.mp4" >"$tmp/out" 2>"$tmp/err" &&
    grep -q "nope.safetensors" "$tmp/err" && [ ! -s "$tmp/out" ]'
t minimal_missing_video '! "$E/minimal" "$tmp/model.safetensors" "$tmp/nope.mp4" 2>"$tmp/err" && grep -q "nope.mp4" "$tmp/err"'
t minimal_not_a_model '! "$E/minimal" "$d/m.tsv" "$d/up1.mp4" 2>"$tmp/err" && grep -q "m.tsv" "$tmp/err"'
t minimal_usage '"$E/minimal" "$tmp/model.safetensors" 2>"$tmp/err"; [ $? = 2 ] && grep -q "^usage: minimal MODEL" "$tmp/err"'

# features: [videos, K, F] and [videos, F] (F = 128, R(2+1)D-10 at width 0.25), a video's row
# the mean of its clips' rows; the numbers of `vidaction features` (clip_features [videos*K, F])
check_features() {
    $PY - "$1" "$2" <<'PYEOF'
import json, struct, sys
def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, e in h.items():
        if k != "__metadata__":
            a, b = e["data_offsets"]
            out[k] = (e["dtype"], e["shape"], struct.unpack("<%df" % ((b - a) // 4), data[a:b]))
    return out
ex, cli = read(sys.argv[1]), read(sys.argv[2])
(dc, sc, c), (dv, sv, v) = ex["clip_features"], ex["video_features"]
F = sv[1]
ok = (dc, dv) == ("F32", "F32") and sc == [3, 4, F] and sv == [3, F] and F == 128
for i in range(3):
    for j in range(F):
        m = sum(c[(i * 4 + k) * F + j] for k in range(4)) / 4
        ok = ok and abs(m - v[i * F + j]) <= 1e-5 * max(1.0, abs(m))
# (to rounding: the two programs run on different thread counts)
close = lambda x, y: all(abs(a - b) <= 1e-5 * max(1.0, abs(a)) for a, b in zip(x, y))
ok = ok and cli["clip_features"][1] == [12, F] and close(cli["clip_features"][2], c)
ok = ok and cli["video_features"][1] == [3, F] and close(cli["video_features"][2], v)
sys.exit(0 if ok else 1)
PYEOF
}
t features '"$E/features" "$tmp/model.safetensors" "$d/left0.mp4" "$d/big1.mp4" "$d/still0.mp4" -o "$tmp/f.safetensors" >"$tmp/f.log" &&
    grep -q "^wrote .*f.safetensors: clip_features \[3,4,128\], video_features \[3,128\]$" "$tmp/f.log" &&
    [ $(grep -c "^.*\.mp4: 4 clips, 128 features, video feature norm [0-9]" "$tmp/f.log") = 3 ] &&
    "$V" features "$tmp/model.safetensors" "$d/left0.mp4" "$d/big1.mp4" "$d/still0.mp4" --clips 4 -o "$tmp/f2.safetensors" >/dev/null &&
    check_features "$tmp/f.safetensors" "$tmp/f2.safetensors"'
t features_clips '"$E/features" "$tmp/model.safetensors" "$d/left0.mp4" --clips 2 -o "$tmp/f1.safetensors" | grep -q "clip_features \[1,2,128\]"'
t features_missing_video '! "$E/features" "$tmp/model.safetensors" "$d/left0.mp4" "$tmp/nope.mp4" -o "$tmp/f3.safetensors" 2>"$tmp/err" &&
    grep -q "nope.mp4" "$tmp/err" && [ ! -e "$tmp/f3.safetensors" ]'
t features_missing_model '! "$E/features" "$tmp/nope.safetensors" "$d/left0.mp4" -o "$tmp/f3.safetensors" 2>"$tmp/err" &&
    grep -q "nope.safetensors" "$tmp/err"'
t features_needs_out '"$E/features" "$tmp/model.safetensors" "$d/left0.mp4" 2>"$tmp/err"; [ $? = 2 ] && grep -q "^usage: features" "$tmp/err"'

t train_missing_manifest '! "$E/train" "$tmp/nope.tsv" "$tmp/x.safetensors" 2 2>"$tmp/err" && grep -q "nope.tsv" "$tmp/err" &&
    [ ! -e "$tmp/x.safetensors" ]'
t train_missing_resume '! "$E/train" "$d/m.tsv" "$tmp/x.safetensors" 2 $ARGS --resume "$tmp/nope.ckpt" 2>"$tmp/err" &&
    grep -q "nope.ckpt" "$tmp/err" && [ ! -e "$tmp/x.safetensors" ]'
t train_bad_option '"$E/train" "$d/m.tsv" "$tmp/x.safetensors" --depth ten 2>"$tmp/err"; [ $? = 2 ] && grep -q "bad value for --depth" "$tmp/err"'
# one class is not a classification problem
printf 'left0.mp4\tleft\nleft1.mp4\tleft\n' >"$d/one.tsv"
t train_one_class '! "$E/train" "$d/one.tsv" "$tmp/x.safetensors" 2 2>"$tmp/err" && grep -q "one.tsv has 1 class" "$tmp/err"'

vt_end
