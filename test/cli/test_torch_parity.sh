#!/bin/sh
# Eval-mode parity with PyTorch for the architectures the golden fixtures
# (test/golden) do not cover: bottleneck R(2+1)D-50 with per-block and with
# per-conv mid-channels (the latter with pool1 and BN eps 1e-3), R3D-34 and
# the 2D baseline r2d-50 (torchvision resnet50 on every frame). For each, a
# model made by `vidaction create` is read here (a small safetensors reader),
# loaded into a PyTorch module built independently from torchvision's parts
# with load_state_dict(strict=True), given random BN affine parameters and BN
# running statistics measured on random clips, written back (same metadata,
# same tensor order) and run by `vidaction forward` and by PyTorch on the same
# input: ||ours - torch|| / ||torch|| <= 1e-4 for logits and features. Needs
# Debian's python3-torch/python3-torchvision; without them it says so and
# counts nothing.
PY=/usr/bin/python3
. test/testlib.sh
vt_begin torch_parity
vt_need_torch
cat > "$tmp/parity.py" <<'PY'
"""prep MODEL DIR SEED: load MODEL into PyTorch, set BN, write DIR/{model,input,ref}.safetensors.
   cmp NAME DIR: compare DIR/out.safetensors (vidaction forward) with DIR/ref.safetensors."""
import copy, json, struct, sys
from collections import OrderedDict
import numpy as np

DT = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4")}

def st_read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    meta = head.pop("__metadata__", {})
    out = OrderedDict()
    for k, e in head.items():
        lo, hi = e["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + lo:8 + n + hi], DT[e["dtype"]]).reshape(e["shape"]).copy()
    return meta, out

def st_write(path, tensors, meta=None):
    head, off, blobs = OrderedDict(), 0, []
    if meta:
        head["__metadata__"] = meta
    for k, a in tensors.items():
        a = np.ascontiguousarray(a)
        name = [d for d, t in DT.items() if t == a.dtype.newbyteorder("<")][0]
        raw = a.astype(DT[name]).tobytes()
        head[k] = {"dtype": name, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(head, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for raw in blobs:
            f.write(raw)

def build(meta):
    import torch.nn as nn
    import torchvision.models.resnet as R
    import torchvision.models.video.resnet as V
    arch, depth = meta["arch"], int(meta["depth"])
    k = int(meta["num_classes"])
    assert float(meta.get("width", "1")) == 1.0, "width multipliers are not built here"
    layers = {10: [1, 1, 1, 1], 16: [2, 2, 2, 1], 18: [2, 2, 2, 2], 26: [2, 2, 2, 2],
              34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}[depth]
    bottleneck = depth not in (10, 16, 18, 34)
    if arch == "r2d":
        class FrameResNet(R.ResNet):  # torchvision ResNet on every frame, logits averaged
            def forward(self, x):
                n, c, t, h, w = x.shape
                f = x.permute(0, 2, 1, 3, 4).reshape(-1, c, h, w)
                return super().forward(f).reshape(n, t, -1).mean(1)
        net = FrameResNet(R.Bottleneck if bottleneck else R.BasicBlock, layers, num_classes=k)
    else:
        makers = {"r2plus1d": [V.Conv2Plus1D] * 4, "r3d": [V.Conv3DSimple] * 4,
                  "mc3": [V.Conv3DSimple] + [V.Conv3DNoTemporal] * 3}[arch]
        stem = V.R2Plus1dStem if arch == "r2plus1d" else V.BasicStem
        net = V.VideoResNet(V.Bottleneck if bottleneck else V.BasicBlock, makers, layers, stem,
                            num_classes=k)
        if arch == "r2plus1d" and meta["midplanes"] == "per-conv":
            # mid-channels from each (2+1)D conv's own in/out channels (Caffe2, VMZ, IG-65M)
            for blk in net.modules():
                if isinstance(blk, (V.BasicBlock, V.Bottleneck)):
                    for attr in (("conv2",) if bottleneck else ("conv1", "conv2")):
                        seq = getattr(blk, attr)
                        old = seq[0]
                        nin, nout, s = old[0].in_channels, old[3].out_channels, old[0].stride[1]
                        seq[0] = V.Conv2Plus1D(nin, nout, (27 * nin * nout) // (9 * nin + 3 * nout), s)
        else:
            assert meta["midplanes"] == "per-block"
        if meta.get("pool1", "0") == "1":
            net.stem.add_module(str(len(net.stem)), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
    eps = float(meta["bn_eps"])
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eps = eps
    return net, arch == "r2d"

def forward(net, frames, x):
    feats = []
    h = net.avgpool.register_forward_hook(lambda m, i, o: feats.append(o.flatten(1)))
    logits = net(x)
    h.remove()
    f = feats[0]
    if frames:
        f = f.reshape(x.shape[0], -1, f.shape[1]).mean(1)
    return logits, f

def prep(model_path, d, seed):
    import torch
    import torch.nn as nn
    import torchvision.models.resnet as R
    import torchvision.models.video.resnet as V
    torch.set_num_threads(2)
    meta, ts = st_read(model_path)
    net, frames = build(meta)
    sd = OrderedDict((k, torch.from_numpy(v)) for k, v in ts.items())
    net.load_state_dict(sd, strict=True)  # every name and shape; nothing missing or left over
    print("%s: loaded %d tensors into PyTorch with strict=True" % (model_path, len(ts)))
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    ends = set()
    for b in net.modules():  # the BN that ends each residual branch gets a small gain
        if isinstance(b, V.BasicBlock): ends.add(id(b.conv2[1]))
        if isinstance(b, V.Bottleneck): ends.add(id(b.conv3[1]))
        if isinstance(b, R.BasicBlock): ends.add(id(b.bn2))
        if isinstance(b, R.Bottleneck): ends.add(id(b.bn3))
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(*((0.1, 0.5) if id(m) in ends else (0.5, 1.5)), generator=g)
            m.bias.uniform_(-0.2, 0.2, generator=g)
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration passes
        net.train()
        for _ in range(2):
            net(torch.randn(4, 3, 8, 64, 64, generator=g))  # larger than the test input: better-measured statistics
        for m in bns:
            m.momentum = 0.1
            m.running_mean.add_(torch.empty_like(m.running_mean).uniform_(-0.1, 0.1, generator=g))
    out = OrderedDict((k, v.detach().numpy()) for k, v in net.state_dict().items())
    st_write(d + "/model.safetensors", out, meta)
    x = torch.randn(2, 3, 4, 32, 32, generator=g)
    net.eval()
    with torch.no_grad():
        logits, feats = forward(net, frames, x)
        l64, f64 = forward(copy.deepcopy(net).double(), frames, x.double())
    rel = lambda a, b: float(torch.linalg.norm(a.double() - b) / torch.linalg.norm(b))
    print("torch float32 vs float64: logits %.2e, features %.2e" % (rel(logits, l64), rel(feats, f64)))
    st_write(d + "/input.safetensors", OrderedDict([("input", x.numpy())]))
    st_write(d + "/ref.safetensors", OrderedDict([("logits", logits.numpy()), ("features", feats.numpy())]))

def cmp(name, d):
    _, out = st_read(d + "/out.safetensors")
    _, ref = st_read(d + "/ref.safetensors")
    errs = []
    for k in ("logits", "features"):
        a, r = out[k].astype(np.float64), ref[k].astype(np.float64)
        assert a.shape == r.shape, (k, a.shape, r.shape)
        errs.append(np.linalg.norm(a - r) / np.linalg.norm(r))
    print("%s: ||ours - torch|| / ||torch||: logits %.2e, features %.2e" % (name, errs[0], errs[1]))
    sys.exit(0 if max(errs) <= 1e-4 else 1)

if __name__ == "__main__":
    if sys.argv[1] == "prep":
        prep(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        cmp(sys.argv[2], sys.argv[3])
PY
# The model file written back is in PyTorch's state_dict order (vidaction create
# writes each projection shortcut before its block's convs; load_state_dict and
# the C loader both go by name).
case_() {
    cn=$1
    seed=$2
    shift 2
    cargs="$*"
    d="$tmp/$cn"
    mkdir -p "$d"
    t create_$cn 'bin/vidaction create $cargs --classes 7 --seed $seed -o "$d/created.safetensors"'
    t load_into_torch_$cn '$PY "$tmp/parity.py" prep "$d/created.safetensors" "$d" $seed'
    sed -n 's/^\(torch float32 vs float64.*\)$/    '$cn': \1/p' "$tmp/.out"
    rm -f "$d/created.safetensors"
    t forward_$cn 'bin/vidaction forward "$d/model.safetensors" "$d/input.safetensors" -o "$d/out.safetensors" --threads 2'
    t matches_torch_$cn '$PY "$tmp/parity.py" cmp $cn "$d"'
    sed -n 's/^\(.*||ours - torch||.*\)$/    \1/p' "$tmp/.out"
    rm -rf "$d"
}
case_ r2plus1d_50_per_block 501 --arch r2plus1d --depth 50 --midplanes per-block
case_ r2plus1d_50_per_conv_pool1 502 --arch r2plus1d --depth 50 --midplanes per-conv --pool1 --bn-eps 1e-3
case_ r3d_34 341 --arch r3d --depth 34
case_ r2d_50 50 --arch r2d --depth 50
vt_end
