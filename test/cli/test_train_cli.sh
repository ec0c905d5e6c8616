#!/bin/sh
# The vidaction program's `train` and `eval`: training from scratch on
# generated videos of two motions writes a model with its class names; a run
# killed with SIGKILL and resumed from its checkpoint ends with the same model
# file, byte for byte, as an uninterrupted run; `eval` prints the protocol's
# numbers as JSON; bad arguments are refused.
# Prints "ok/FAIL name" per case and "N passed, N failed".
V=${VIDACTION:-bin/vidaction}
PY=${PYTHON:-python3}
. test/testlib.sh
vt_begin train_cli

if ! command -v ffmpeg >/dev/null 2>&1; then
    echo "skipped: test_train_cli needs the ffmpeg program"
    echo "0 passed, 0 failed"
    exit 0
fi

d=$tmp/data
mkdir -p "$d"
: >"$d/m.tsv"
for i in 0 1 2 3 4 5 6 7 8 9; do
    if [ $((i % 2)) = 1 ]; then dir=right; x="4+$((16 + i))*t"; else dir=left; x="44-$((16 + i))*t"; fi
    y=$((6 + i * 4))
    ffmpeg -nostdin -v error -y -f lavfi \
        -i "color=c=0x303030:s=64x64:r=25:d=2[bg];color=c=0xe8e8e8:s=12x12:r=25:d=2[fg];[bg][fg]overlay=x='$x':y=$y:shortest=1" \
        -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$d/v$i.mp4" || exit 1
    printf 'v%d.mp4\t%s\n' "$i" "$dir" >>"$d/m.tsv"
done

ARGS="--manifest $d/m.tsv --arch r2plus1d --depth 10 --width 0.25 --clip-len 8 --stride 2 \
 --short-side 64 --crop 56 --batch 4 --lr 0.05 --warmup 2 --schedule cosine --threads 2 --seed 7 --steps 10"

json() {
    $PY -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}

t train_straight '"$V" train $ARGS --out "$tmp/a" >"$tmp/a.log" 2>&1 && [ -f "$tmp/a/model.safetensors" ] &&
    grep -q "^step 10/10 " "$tmp/a.log"'
# a budget of videos, as `dataset`'s: 4 of the 10 videos make an epoch of 4 samples, so the
# second step of 4 clips is in epoch 1 (epoch 0 without the budget); a bad value is refused
t train_budget_of_videos '"$V" train --manifest "$d/m.tsv" --arch r2plus1d --depth 10 --width 0.25 \
    --clip-len 8 --short-side 64 --crop 56 --batch 4 --threads 2 --steps 2 --max-videos 4 \
    --prefer short --out "$tmp/bud" >"$tmp/bud.log" 2>&1 && grep -q "^step 2/2 epoch 1 " "$tmp/bud.log" &&
    "$V" train --manifest "$d/m.tsv" --arch r2plus1d --depth 10 --width 0.25 --clip-len 8 \
    --short-side 64 --crop 56 --batch 4 --threads 2 --steps 2 --out "$tmp/bud2" >"$tmp/bud2.log" 2>&1 &&
    grep -q "^step 2/2 epoch 0 " "$tmp/bud2.log" &&
    ! "$V" train --manifest "$d/m.tsv" --steps 1 --max-videos 0 --out "$tmp/bud3" 2>"$tmp/bud3.err" &&
    grep -q "bad --max-videos" "$tmp/bud3.err"'
# --clip-choice fixed: the clip centred in each slot's window (sampler CENTER); trains, and a bad
# value is refused naming the option
t train_clip_choice '"$V" train --manifest "$d/m.tsv" --arch r2plus1d --depth 10 --width 0.25 \
    --clip-len 8 --short-side 64 --crop 56 --batch 4 --threads 2 --steps 2 --clips-per-video 2 \
    --clip-choice fixed --out "$tmp/cc" >"$tmp/cc.log" 2>&1 && [ -f "$tmp/cc/model.safetensors" ] &&
    ! "$V" train --manifest "$d/m.tsv" --steps 1 --clip-choice middle --out "$tmp/cc2" 2>"$tmp/cc2.err" &&
    grep -q "bad --clip-choice (random, fixed): middle" "$tmp/cc2.err"'
t model_has_labels '"$V" model-info "$tmp/a/model.safetensors" --json >"$tmp/info.json" &&
    grep -q "left" "$tmp/info.json" && grep -q "right" "$tmp/info.json"'

# killed once step 4 is printed (its checkpoint may still be in writing: the last
# complete one is 3 or 4), then resumed from the last checkpoint
killed_resume() {
    mkdir -p "$tmp/b"
    "$V" train $ARGS --out "$tmp/b" --checkpoint-every 1 >"$tmp/b.log" 2>&1 &
    pid=$!
    n=0
    while ! grep -q "^step 4/10 " "$tmp/b.log" 2>/dev/null; do
        sleep 0.05
        n=$((n + 1))
        [ $n -lt 1200 ] || { kill -9 $pid; return 1; }
    done
    kill -9 $pid
    wait $pid 2>/dev/null
    [ ! -f "$tmp/b/model.safetensors" ] || return 1
    "$V" train $ARGS --out "$tmp/b" --checkpoint-every 1 --resume "$tmp/b/checkpoint.safetensors" \
        >"$tmp/b2.log" 2>&1 || return 1
    grep -q "^resumed from .* at step [1-9] " "$tmp/b2.log" && cmp "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"
}
t sigkill_resume_is_bitwise killed_resume

t eval_json '"$V" eval "$tmp/a/model.safetensors" --manifest "$d/m.tsv" --clips 2 --json >"$tmp/e.json" &&
    json "$tmp/e.json" "j[\"videos\"]==10 and j[\"clips\"]==20 and all(0<=j[k]<=1 for k in (\"clip_top1\",\"clip_top5\",\"video_top1\",\"video_top5\",\"mean_class_accuracy\",\"map\")) and [c[\"name\"] for c in j[\"classes\"]]==[\"left\",\"right\"] and sum(map(sum, j[\"confusion\"]))==10"'
# a video shorter than one clip (5 frames; a clip spans 15): evaluated with its last frame repeated
ffmpeg -nostdin -v error -y -f lavfi -i "color=c=0x303030:s=64x64:r=25:d=0.2" -c:v libx264 -preset ultrafast \
    -pix_fmt yuv420p "$d/short.mp4" || exit 1
printf 'short.mp4\tleft\nv1.mp4\tright\n' >"$d/short.tsv"
t eval_short_video '"$V" eval "$tmp/a/model.safetensors" --manifest "$d/short.tsv" --clips 3 --json >"$tmp/es.json" &&
    json "$tmp/es.json" "j[\"videos\"]==2 and j[\"failed\"]==0 and j[\"clips\"]==6"'
t eval_three_crops '"$V" eval "$tmp/a/model.safetensors" --manifest "$d/m.tsv" --clips 1 --crops 3 --json >"$tmp/e3.json" &&
    json "$tmp/e3.json" "j[\"clips\"]==30"'
t eval_text '"$V" eval "$tmp/a/model.safetensors" --manifest "$d/m.tsv" --clips 1 | grep -q "^10 videos (0 failed to decode), 10 clips: clip@1 "'
check_features() {
    $PY - "$1" <<'PYEOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
    data = f.read()
def get(name, fmt, size):
    e = h[name]
    a, b = e["data_offsets"]
    return e["shape"], struct.unpack("<%d%s" % ((b - a) // size, fmt), data[a:b])
cs, cf = get("clip_features", "f", 4)
vs, vi = get("clip_video", "q", 8)
ws, vf = get("video_features", "f", 4)
F = cs[1]
ok = cs[0] == 4 and vs == [4] and ws == [2, F] and list(vi) == [0, 0, 1, 1]
for v in range(2):
    for j in range(F):
        m = (cf[(2 * v) * F + j] + cf[(2 * v + 1) * F + j]) / 2
        ok = ok and abs(m - vf[v * F + j]) <= 1e-5 * max(1.0, abs(m))
sys.exit(0 if ok else 1)
PYEOF
}
t features '"$V" features "$tmp/a/model.safetensors" "$d/v0.mp4" "$d/v1.mp4" --clips 2 -o "$tmp/f.safetensors" >"$tmp/f.log" &&
    grep -q "clip_features \[4," "$tmp/f.log" && check_features "$tmp/f.safetensors"'
t classify_json '"$V" classify "$tmp/a/model.safetensors" "$d/v1.mp4" --clips 2 --top 2 --timeline 0.5 --json >"$tmp/c.json" &&
    json "$tmp/c.json" "len(j)==1 and j[0][\"clips\"]==2 and sorted(x[\"name\"] for x in j[0][\"top\"])==[\"left\",\"right\"] and abs(sum(x[\"p\"] for x in j[0][\"top\"])-1)<1e-5 and len(j[0][\"timeline\"])==4 and j[0][\"timeline\"][3][\"end\"]==2.0"'
t classify_text '"$V" classify "$tmp/a/model.safetensors" "$d/v0.mp4" --clips 1 --top 1 | grep -q "v0.mp4 (1 clips): \(left\|right\) "'
t classify_bad_video '"$V" classify "$tmp/a/model.safetensors" "$tmp/nope.mp4" 2>"$tmp/e5"; [ $? = 1 ] && grep -q "nope.mp4" "$tmp/e5"'
t train_needs_out '"$V" train --manifest "$d/m.tsv" --steps 1 2>"$tmp/e1"; [ $? = 2 ] && grep -q "needs --manifest FILE, --out DIR" "$tmp/e1"'
# transfer: a 3-class manifest (the two motions and a still box), from model a with
# the backbone frozen: a new 3-way classifier learns, every other tensor stays a's
cp "$d/m.tsv" "$d/m3.tsv"
for i in 0 1; do
    ffmpeg -nostdin -v error -y -f lavfi \
        -i "color=c=0x303030:s=64x64:r=25:d=2[bg];color=c=0xe8e8e8:s=12x12:r=25:d=2[fg];[bg][fg]overlay=x=$((20 + i * 8)):y=20:shortest=1" \
        -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$d/s$i.mp4" || exit 1
    printf 's%d.mp4\tstill\n' "$i" >>"$d/m3.tsv"
done
# same_trunk A B: every tensor but fc.* has the same bytes in the two model files
same_trunk() {
    $PY - "$1" "$2" <<'PYEOF'
import json, struct, sys
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
trunk = [k for k in a if not k.startswith("fc.")]
sys.exit(0 if trunk and all(a[k] == b.get(k) for k in trunk) and a["fc.weight"] != b["fc.weight"] else 1)
PYEOF
}
t init_freeze_backbone '"$V" train $ARGS --manifest "$d/m3.tsv" --out "$tmp/c" --init "$tmp/a/model.safetensors" --freeze backbone >"$tmp/c.log" 2>&1 &&
    grep -q "new classifier for 3 classes (was 2)" "$tmp/c.log" && "$V" model-info "$tmp/c/model.safetensors" | grep -q "classes: 3" &&
    grep -q "still" "$tmp/c/model.safetensors" && same_trunk "$tmp/a/model.safetensors" "$tmp/c/model.safetensors"'
t init_full_finetune_moves_the_trunk '"$V" train $ARGS --manifest "$d/m3.tsv" --steps 3 --out "$tmp/f" --init "$tmp/a/model.safetensors" >/dev/null 2>&1 &&
    ! same_trunk "$tmp/a/model.safetensors" "$tmp/f/model.safetensors"'
# --init: the architecture is the model's (a different --depth is an error naming it), and the
# clip geometry defaults to the model's metadata
t init_other_depth_refused '"$V" train $ARGS --depth 18 --manifest "$d/m3.tsv" --out "$tmp/h" --init "$tmp/a/model.safetensors" 2>"$tmp/e4";
    [ $? = 1 ] && grep -q "is r2plus1d-10 at width 0.25" "$tmp/e4"'
t init_keeps_clip_geometry '"$V" train --manifest "$d/m3.tsv" --steps 1 --batch 2 --threads 2 --out "$tmp/i" --init "$tmp/a/model.safetensors" --quiet >/dev/null &&
    "$V" model-info "$tmp/i/model.safetensors" | grep -q "^crop: 56" && "$V" model-info "$tmp/i/model.safetensors" | grep -q "^short_side: 64" &&
    "$V" model-info "$tmp/i/model.safetensors" | grep -q "^frame_stride: 2"'
t freeze_needs_init '"$V" train $ARGS --out "$tmp/g" --freeze backbone 2>"$tmp/e2"; [ $? = 2 ] && grep -q "needs --init" "$tmp/e2"'
t resume_bad_file 'printf junk >"$tmp/junk.st"; "$V" train $ARGS --out "$tmp/d" --resume "$tmp/junk.st" 2>"$tmp/e3"; [ $? = 1 ] && grep -q "cannot resume" "$tmp/e3"'
# a model whose labels metadata is malformed (a dangling escape): warned about, no crash
bad_labels() {
    $PY - "$tmp/a/model.safetensors" "$tmp/badlabels.safetensors" <<'PYEOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
    data = f.read()
h["__metadata__"]["labels"] = '["left","a\\'
b = json.dumps(h).encode()
b += b" " * (-(8 + len(b)) % 8)
with open(sys.argv[2], "wb") as f:
    f.write(struct.pack("<Q", len(b)) + b + data)
PYEOF
}
t eval_bad_labels_metadata 'bad_labels && "$V" eval "$tmp/badlabels.safetensors" --manifest "$d/m.tsv" --clips 1 >/dev/null 2>"$tmp/e6";
    [ $? -lt 2 ] && grep -q "no usable class names" "$tmp/e6"'
t eval_nothing_evaluable 'printf "x\n" >"$d/junk.mp4"; printf "junk.mp4\tleft\n" >"$d/junk.tsv";
    "$V" eval "$tmp/a/model.safetensors" --manifest "$d/junk.tsv" 2>"$tmp/e7"; [ $? = 1 ] && grep -q "no video could be evaluated" "$tmp/e7"'
# an absurd learning rate: activations overflow, so every step is skipped (non-finite loss or
# BN statistics); after 5 in a row the run stops with an error, writes no model, and its last
# checkpoint holds only finite values and resumes
diverging_run_stops() {
    mkdir -p "$tmp/nan"
    "$V" train $ARGS --lr 1e6 --warmup 0 --steps 20 --checkpoint-every 1 --out "$tmp/nan" \
        >"$tmp/nan.log" 2>&1
    [ $? = 1 ] || return 1
    grep -q "5 steps in a row were skipped" "$tmp/nan.log" &&
        [ "$(grep -c 'warning: vida_train_step: skipped' "$tmp/nan.log")" -ge 5 ] &&
        [ ! -f "$tmp/nan/model.safetensors" ] && [ -f "$tmp/nan/checkpoint.safetensors" ] || return 1
    "$V" train $ARGS --lr 0.001 --steps 20 --out "$tmp/nan" \
        --resume "$tmp/nan/checkpoint.safetensors" >"$tmp/nan2.log" 2>&1
    grep -q "^resumed from .* at step [1-9]" "$tmp/nan2.log"
}
t diverging_run_stops_after_5_skips diverging_run_stops
t eval_missing_model '"$V" eval "$tmp/none.safetensors" --manifest "$d/m.tsv" 2>"$tmp/e4"; [ $? = 1 ] && grep -q "none.safetensors" "$tmp/e4"'
vt_end
