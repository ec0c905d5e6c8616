#!/bin/sh
# The vidaction program: exit codes and messages, create / model-info / forward.
# Prints "ok/FAIL name" per case and "N passed, N failed".
V=${VIDACTION:-bin/vidaction}
. test/testlib.sh
vt_begin cli

t version '$V --version | grep -q "^vidaction 0\.[0-9]*\.[0-9]* (cpu cblas"'
t help '$V --help | grep -q "forward MODEL INPUT -o OUT"'
$V frobnicate >/dev/null 2>"$tmp/err"; rc=$?
t unknown_command_exit_2 '[ $rc = 2 ] && grep -q "vidaction: error: unknown command frobnicate" "$tmp/err"'
$V create --arch r2plus1d --depth 10 --width 0.125 --classes 3 -o "$tmp/m.safetensors" 2>"$tmp/err"; rc=$?
t create '[ $rc = 0 ] && [ -s "$tmp/m.safetensors" ]'
$V model-info "$tmp/m.safetensors" >"$tmp/info" 2>&1
t model_info 'grep -q "^arch: r2plus1d" "$tmp/info" && grep -q "^num_classes: 3" "$tmp/info" && grep -q "^parameters: [0-9]" "$tmp/info" && grep -q "^crop: 112" "$tmp/info" && grep -q "^mean: 0.43216,0.394666,0.37645" "$tmp/info"'
$V model-info --json "$tmp/m.safetensors" >"$tmp/info.json" 2>&1
t model_info_json 'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"arch\"]==\"r2plus1d\" and d[\"num_classes\"]==\"3\" and d[\"parameters\"]>0" "$tmp/info.json"'
$V create --arch r2plus1d --depth 19 -o "$tmp/x.safetensors" 2>"$tmp/err"; rc=$?
t create_bad_depth '[ $rc = 1 ] && grep -q "no depth 19" "$tmp/err" && [ ! -e "$tmp/x.safetensors" ]'
$V forward "$tmp/none.safetensors" "$tmp/in.safetensors" -o "$tmp/o.safetensors" 2>"$tmp/err"; rc=$?
t forward_missing_model '[ $rc = 1 ] && grep -q "none.safetensors" "$tmp/err"'
head -c 100 "$tmp/m.safetensors" > "$tmp/trunc.safetensors"
$V forward "$tmp/trunc.safetensors" "$tmp/in.safetensors" -o "$tmp/o.safetensors" 2>"$tmp/err"; rc=$?
t forward_truncated_model '[ $rc = 1 ] && grep -q "vidaction: error: cannot load the model: .*trunc.safetensors" "$tmp/err"'
$V forward "$tmp/m.safetensors" "$tmp/m.safetensors" -o "$tmp/o.safetensors" 2>"$tmp/err"; rc=$?
t forward_input_without_tensor '[ $rc = 1 ] && grep -q "no tensor .input." "$tmp/err"'
$V forward "$tmp/m.safetensors" 2>"$tmp/err"; rc=$?
t forward_usage '[ $rc = 2 ]'
# Bad model files through the program: exit 1 and a message naming the problem.
cat > "$tmp/bad.py" <<'PY'
import json, struct, sys
src, out = sys.argv[1], sys.argv[2]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); data = b[8 + n:]
def write(name, hdr, payload, raw_len=None):
    t = json.dumps(hdr, separators=(",", ":")).encode(); t += b" " * (-len(t) % 8)
    open(out + "/" + name, "wb").write(struct.pack("<Q", raw_len if raw_len is not None else len(t)) + t + payload)
write("hlen.safetensors", h, data, raw_len=len(b))
g = json.loads(json.dumps(h)); del g["fc.weight"]
# drop fc.weight's bytes and shift the later offsets so the container stays valid
b0, e0 = h["fc.weight"]["data_offsets"]; size = e0 - b0
for k, v in g.items():
    if k != "__metadata__" and v["data_offsets"][0] >= e0:
        v["data_offsets"] = [v["data_offsets"][0] - size, v["data_offsets"][1] - size]
write("missing.safetensors", g, data[:b0] + data[e0:])
g = json.loads(json.dumps(h)); g["fc.weight"]["shape"] = [g["fc.weight"]["shape"][1], g["fc.weight"]["shape"][0]]
write("shape.safetensors", g, data)
g = json.loads(json.dumps(h)); g["fc.bias"]["data_offsets"][0] -= 4
write("overlap.safetensors", g, data)
g = json.loads(json.dumps(h)); g["__metadata__"]["arch"] = "vit"
write("arch.safetensors", g, data)
PY
t make_bad_files 'python3 "$tmp/bad.py" "$tmp/m.safetensors" "$tmp"'
for c in "hlen:header length" "missing:'fc.weight' is missing" "shape:'fc.weight' has shape" \
         "overlap:fc.bias" "arch:arch 'vit' is unknown"; do
    f=${c%%:*}
    want=${c#*:}
    $V model-info "$tmp/$f.safetensors" >/dev/null 2>"$tmp/err"; rc=$?
    t "bad_model_$f" '[ $rc = 1 ] && grep -q "vidaction: error: cannot load the model: .*$f.safetensors.*$want" "$tmp/err"'
done
vt_end
