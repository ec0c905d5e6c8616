#!/bin/sh
# The converter (bindings/python/vidaction/convert.py), end to end with the C
# library: a torchvision r2plus1d_18 state_dict saved by torch.save converts,
# loads in C, and gives PyTorch's logits through `vidaction forward`. Needs
# Debian's python3-torch/python3-torchvision; without them it says so and
# counts nothing (the golden tests cover the C side without PyTorch).
PY=/usr/bin/python3
. test/testlib.sh
vt_begin convert
vt_need_torch
t self_test 'PYTHONPATH=bindings/python $PY -m vidaction.convert --self-test'
cat > "$tmp/make.py" <<'PY'
import sys, torch, torchvision, struct, json
torch.manual_seed(3)
m = torchvision.models.video.r3d_18(num_classes=11).eval()
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm3d):
        mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5)
torch.save(m.state_dict(), sys.argv[1] + "/m.pth")
x = torch.randn(1, 3, 2, 16, 16)
with torch.no_grad():
    y = m(x)
def st(path, tensors):
    hdr, off, blobs = {}, 0, []
    for k, v in tensors.items():
        b = v.contiguous().numpy().astype("<f4").tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b)
    h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
st(sys.argv[1] + "/in.safetensors", {"input": x})
st(sys.argv[1] + "/ref.safetensors", {"logits": y})
PY
t make_checkpoint '$PY "$tmp/make.py" "$tmp"'
t convert 'PYTHONPATH=bindings/python $PY -m vidaction.convert --from torchvision --arch r3d_18 "$tmp/m.pth" "$tmp/m.safetensors"'
t forward 'bin/vidaction forward "$tmp/m.safetensors" "$tmp/in.safetensors" -o "$tmp/out.safetensors"'
cat > "$tmp/cmp.py" <<'PY'
import sys, json, struct, numpy as np
def load(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4").reshape(v["shape"])
            for k, v in h.items() if k != "__metadata__"}
a = load(sys.argv[1])["logits"]; r = load(sys.argv[2])["logits"]
e = np.linalg.norm(a - r) / np.linalg.norm(r)
print("rel err", e); sys.exit(0 if e <= 1e-4 else 1)
PY
t logits_match_pytorch '$PY "$tmp/cmp.py" "$tmp/out.safetensors" "$tmp/ref.safetensors"'
t rejects_wrong_arch '! PYTHONPATH=bindings/python $PY -m vidaction.convert --from torchvision --arch r2plus1d_18 "$tmp/m.pth" "$tmp/bad.safetensors" && [ ! -e "$tmp/bad.safetensors" ]'
vt_end
