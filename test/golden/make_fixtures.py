#!/usr/bin/env python3
"""Generates the golden fixtures the C tests compare against (see README.md here).

    PYTHONPATH=bindings/python /usr/bin/python3 test/golden/make_fixtures.py test/golden [NAME ...]
    (or: make fixtures)

Needs PyTorch and torchvision (Debian python3-torch, python3-torchvision).
With NAMEs, only those models are made (the others' files are left alone).

For each model (torchvision r2plus1d_18, r3d_18, mc3_18; the IG-65M R(2+1)D-34
built as ig65m-pytorch builds it; torchvision resnet18 run on every frame, the
2D baseline "r2d") the conv and fc tensors are filled by a
hash generator that the C test reproduces bit for bit, so no weights are
stored; BN parameters are drawn from torch's RNG and BN running statistics
measured on random clips. The model is saved with torch.save and converted
with vidaction.convert (a subprocess, as a user would run it); the converted
file is read back and checked. Written, per model NAME:

  NAME.header.json          the converted model file's header bytes (padding included)
  NAME.fixture.safetensors  input, logits, features and every non-generated tensor
and r2plus1d_18.train.safetensors: one training-mode forward and backward;
r2plus1d_18.sgd.safetensors: three steps of torch.optim.SGD (momentum 0.9,
weight decay 1e-4, lr 0.01, BN in training mode) on the train fixture's batch.
"""

import copy
import math
import os
import subprocess
import sys
import tempfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock as BasicBlock2d
from torchvision.models.resnet import ResNet
from torchvision.models.video import mc3_18, r2plus1d_18, r3d_18
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, R2Plus1dStem, VideoResNet

from vidaction.convert import read_safetensors, write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

INPUT_SHAPE = (2, 3, 4, 32, 32)
CALIB_SHAPE = (4, 3, 4, 32, 32)
CALIB_PASSES = 3
TRAIN_LABELS = (3, 217)
TRAIN_TOL = 1e-3
SGD_STEPS = 3
SGD_FC_STD = 0.01
SGD = dict(lr=0.01, momentum=0.9, weight_decay=1e-4)

# --------------------------------------------------------------------------
# The weight generator (README.md, "Generator"); the C test implements the same.

M32 = np.uint64(0xFFFFFFFF)
GOLDEN = np.uint64(0x9E3779B9)


def fnv1a32(name):
    h = 2166136261
    for b in name.encode("utf-8"):
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def lowbias32(x):
    """x: uint64 array of 32-bit values; returns the hashed values (uint64, < 2^32)."""
    x = x & M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & M32
    x ^= x >> np.uint64(16)
    return x


def element_hash(name, n):
    """h_j = lowbias32((j * 0x9E3779B9 + fnv1a32(name)) mod 2^32), j = 0..n-1."""
    j = np.arange(n, dtype=np.uint64)
    return lowbias32((j * GOLDEN + np.uint64(fnv1a32(name))) & M32)


def gen_u(name, n):
    """u_j = (h_j >> 8) * 2^-23 - 1 as float32 (exact, in [-1, 1))."""
    k = (element_hash(name, n) >> np.uint64(8)).astype(np.int64) - (1 << 23)
    return k.astype(np.float32) * np.float32(2.0 ** -23)


def gen_scale(shape):
    if len(shape) >= 2:
        fan_in = 1
        for d in shape[1:]:
            fan_in *= int(d)
        return np.float32(math.sqrt(3.0 / fan_in))
    return np.float32(0.1)


def gen_tensor(name, shape):
    n = 1
    for d in shape:
        n *= int(d)
    return (gen_u(name, n) * gen_scale(shape)).reshape(tuple(shape))


def sample_indices(name, numel, count=32):
    return (element_hash(name, count) % np.uint64(numel)).astype(np.int64)


# --------------------------------------------------------------------------
# Models

def ig65m_r2plus1d_34(num_classes=400):
    """ig65m-pytorch's r2plus1d_34: torchvision's VideoResNet with three (2+1)D convs
    given the Caffe2 mid-channel counts and BN eps 1e-3 everywhere."""
    model = VideoResNet(block=BasicBlock, conv_makers=[Conv2Plus1D] * 4, layers=[3, 4, 6, 3],
                        stem=R2Plus1dStem, num_classes=num_classes)
    model.layer2[0].conv2[0] = Conv2Plus1D(128, 128, 288)
    model.layer3[0].conv2[0] = Conv2Plus1D(256, 256, 576)
    model.layer4[0].conv2[0] = Conv2Plus1D(512, 512, 1152)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.eps = 1e-3
    return model


class FrameResNet(ResNet):
    """The 2D baseline (arch "r2d"): torchvision's ResNet run on every frame of an
    N,3,T,H,W clip; the logits are the mean over the T frames of the per-frame
    logits. Same modules and state_dict as torchvision.models.resnetN."""

    def forward(self, x):
        n, c, t, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(-1, c, h, w)
        return super().forward(frames).reshape(n, t, -1).mean(1)


def r2d_18(num_classes=400):
    """torchvision.models.resnet18(num_classes=...) as a FrameResNet."""
    return FrameResNet(BasicBlock2d, [2, 2, 2, 2], num_classes=num_classes)


def clip_features(model, pooled, n):
    """The flattened avgpool output; for the per-frame ResNet, its mean over the frames."""
    if isinstance(model, FrameResNet):
        return pooled.reshape(n, -1, pooled.shape[1]).mean(1)
    return pooled


# name, constructor, converter --from, --arch, seed, eval tolerance. The deeper
# R(2+1)D-34 accumulates more rounding (float32 vs float64 forward: 1.6e-5 against
# 5e-6 for the 18-layer models), so its tolerance is wider to keep a 10x margin.
MODELS = (
    ("r2plus1d_18", lambda: r2plus1d_18(num_classes=400), "torchvision", "r2plus1d_18", 18, 1e-4),
    ("r3d_18", lambda: r3d_18(num_classes=400), "torchvision", "r3d_18", 318, 1e-4),
    ("mc3_18", lambda: mc3_18(num_classes=400), "torchvision", "mc3_18", 418, 1e-4),
    ("r2plus1d_34", ig65m_r2plus1d_34, "ig65m", "r2plus1d_34", 34, 2e-4),
    ("r2d_18", r2d_18, "torchvision", "resnet18", 218, 1e-4),
)


def generated_names(model):
    """State_dict names filled by the generator: conv weights, fc weight and bias."""
    names = []
    for mname, m in model.named_modules():
        if isinstance(m, (nn.Conv3d, nn.Conv2d)):
            assert m.bias is None
            names.append(mname + ".weight")
        elif isinstance(m, nn.Linear):
            names += [mname + ".weight", mname + ".bias"]
    return names


def prepare(model, seed):
    """Fills the generated tensors, draws BN affine parameters, measures BN statistics."""
    sd = model.state_dict()
    with torch.no_grad():
        for name in generated_names(model):
            sd[name].copy_(torch.from_numpy(gen_tensor(name, tuple(sd[name].shape))))
        # BN weight ~ U(0.5, 1.5), bias ~ U(-0.2, 0.2), except the BN that ends each
        # residual branch, whose weight ~ U(0.1, 0.5): with gains near 1 there the
        # random network is chaotic (each block amplifies rounding errors ~1.5x; the
        # training-mode gradients of float32 and float64 PyTorch differed by ~1e-2
        # relative), which no float32 implementation could be tested against.
        g = torch.Generator().manual_seed(seed)
        bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm3d, nn.BatchNorm2d))]
        branch_end = set(id(b.conv2[1]) for b in model.modules() if isinstance(b, BasicBlock))
        branch_end |= set(id(b.bn2) for b in model.modules() if isinstance(b, BasicBlock2d))
        for m in bns:
            if id(m) in branch_end:
                m.weight.uniform_(0.1, 0.5, generator=g)
            else:
                m.weight.uniform_(0.5, 1.5, generator=g)
            m.bias.uniform_(-0.2, 0.2, generator=g)
        # Running statistics from the activations of this very model: a cumulative
        # average (momentum None) over a few training-mode passes on random clips.
        saved = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        gc = torch.Generator().manual_seed(seed + 1000)
        for _ in range(CALIB_PASSES):
            model(torch.randn(*CALIB_SHAPE, generator=gc))
        for m, mom in zip(bns, saved):
            m.momentum = mom


def run_converter(source, arch, src, out):
    env = dict(os.environ)
    py = os.path.join(ROOT, "bindings", "python")
    env["PYTHONPATH"] = py + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    r = subprocess.run([sys.executable, "-m", "vidaction.convert", "--from", source, "--arch", arch,
                        src, out], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    sys.stdout.write("    " + r.stdout)
    if r.returncode != 0:
        raise SystemExit("converter failed (exit %d)" % r.returncode)


def bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def np32(t):
    return t.detach().cpu().to(torch.float32).contiguous().numpy()


def check_converted(path, model, gen):
    header, meta, tensors = read_safetensors(path)
    sd = model.state_dict()
    assert list(tensors) == list(sd), "converted file: names or order differ from the state_dict"
    for name, t in sd.items():
        got = tensors[name]
        if name in gen:
            assert bits_equal(got, gen_tensor(name, tuple(t.shape))), name + ": not the generator's"
            assert bits_equal(got, np32(t)), name
        elif name.endswith("num_batches_tracked"):
            assert got.dtype == np.int64 and got.shape == () and int(got) == int(t), name
        else:
            assert bits_equal(got, np32(t)), name + ": differs from the state_dict"
    assert len(header) % 8 == 0
    return header, meta


def ordered_for_alignment(tensors):
    """8-byte tensors (I64) first so each stays 8-byte aligned in the file."""
    return ([(n, a) for n, a in tensors if np.asarray(a).dtype.itemsize == 8] +
            [(n, a) for n, a in tensors if np.asarray(a).dtype.itemsize != 8])


def versions():
    return OrderedDict([("torch", torch.__version__), ("torchvision", torchvision.__version__)])


def make_model(outdir, tmp, name, ctor, source, arch, seed, tol):
    torch.manual_seed(seed)
    model = ctor()
    prepare(model, seed)
    gen = set(generated_names(model))
    n_params = sum(p.numel() for p in model.parameters())

    model.eval()
    feats = []
    hook = model.avgpool.register_forward_hook(lambda m, i, o: feats.append(o.flatten(1)))
    x = torch.randn(*INPUT_SHAPE, generator=torch.Generator().manual_seed(seed + 2000))
    with torch.no_grad():
        logits = model(x)
    hook.remove()
    features = clip_features(model, feats[0], x.shape[0])
    assert tuple(features.shape) == (2, 512) and tuple(logits.shape) == (2, 400)

    # The same forward in float64: how far float32 rounding alone moves the outputs.
    m64 = copy.deepcopy(model).double()
    feats64 = []
    m64.avgpool.register_forward_hook(lambda m, i, o: feats64.append(o.flatten(1)))
    with torch.no_grad():
        logits64 = m64(x.double())
    features64 = clip_features(m64, feats64[0], x.shape[0])
    f64_diff = max((logits.double() - logits64).abs().max().item(),
                   (features.double() - features64).abs().max().item())
    if f64_diff * 10 > tol:
        raise SystemExit("%s: float32 and float64 forwards differ by %.3g, too close to the "
                         "tolerance %g: the fixture is ill-conditioned" % (name, f64_diff, tol))

    pth = os.path.join(tmp, name + ".pth")
    conv = os.path.join(tmp, name + ".safetensors")
    torch.save(model.state_dict(), pth)
    run_converter(source, arch, pth, conv)
    header, meta = check_converted(conv, model, gen)
    with open(os.path.join(outdir, name + ".header.json"), "wb") as f:
        f.write(header)

    tensors = [("input", np32(x)), ("logits", np32(logits)), ("features", np32(features))]
    for k, t in model.state_dict().items():
        if k in gen:
            continue
        if k.endswith("num_batches_tracked"):
            tensors.append((k, np.array(int(t), dtype=np.int64)))
        else:
            tensors.append((k, np32(t)))
    md = OrderedDict([("model", name), ("tolerance", repr(tol)),
                      ("f64_diff", "%.3g" % f64_diff)])
    md.update(versions())
    write_safetensors(os.path.join(outdir, name + ".fixture.safetensors"),
                      ordered_for_alignment(tensors), md)
    print("    %s: %s parameters, logits |max| %.4g, features |max| %.4g, float32 vs float64 %.3g; "
          "arch %s midplanes %s bn_eps %s"
          % (name, format(n_params, ","), logits.abs().max().item(), features.abs().max().item(),
             f64_diff, meta["arch"], meta["midplanes"], meta["bn_eps"]))
    return model, n_params


def train_step(model, x, labels):
    """Training-mode forward and backward; the values the fixture stores."""
    model.train()
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    r = OrderedDict([("loss", loss.detach().reshape(1)), ("logits", logits.detach()),
                     ("dinput", x.grad)])
    grads = OrderedDict()
    for name, p in model.named_parameters():
        g = p.grad.detach().to(torch.float64).numpy().reshape(-1)
        gs = p.grad.detach().numpy().reshape(-1)
        grads[name] = (
            np.array([math.sqrt(float(np.dot(g, g)))]),
            np.array([float(np.dot(g, gen_u("proj%d:%s" % (k, name), g.size).astype(np.float64)))
                      for k in range(4)]),
            gs[sample_indices(name, g.size)].copy(),
            g.size)
    after = OrderedDict((n, b.detach().clone()) for n, b in model.named_buffers())
    return r, grads, after


def train_discrepancy(a, b):
    """Largest error of a against reference b, each scaled as README.md's comparisons are."""
    (ra, ga, aa), (rb, gb, ab) = a, b
    worst = 0.0

    def upd(err):
        nonlocal worst
        worst = max(worst, float(err))

    for k in ("loss", "logits"):
        d, ref = ra[k].double(), rb[k].double()
        upd(((d - ref).abs() / ref.abs().clamp(min=1.0)).max())
    d, ref = ra["dinput"].double(), rb["dinput"].double()
    upd((d - ref).abs().max() / ref.abs().max())
    for name, (norm, proj, sample, n) in gb.items():
        n2, p2, s2, _ = ga[name]
        rms = norm[0] / math.sqrt(n)
        upd(abs(n2[0] - norm[0]) / norm[0])
        upd(np.abs(p2 - proj).max() / norm[0])
        upd((np.abs(s2.astype(np.float64) - sample) / np.maximum(np.abs(sample), rms)).max())
    for name, ref in ab.items():
        d = (aa[name].double() - ref.double()).abs() / ref.double().abs().clamp(min=1.0)
        upd(d.max())
    return worst


def make_train(outdir, model, seed):
    """One training-mode forward/backward of r2plus1d_18 from the eval fixture's state."""
    x = torch.randn(*INPUT_SHAPE, generator=torch.Generator().manual_seed(seed))
    labels = torch.tensor(TRAIN_LABELS, dtype=torch.int64)
    m64 = copy.deepcopy(model).double()
    r, grads, after = train_step(model, x, labels)
    ref64 = train_step(m64, x.double(), labels)
    f64_diff = train_discrepancy((r, grads, after), ref64)
    if f64_diff * 10 > TRAIN_TOL:
        raise SystemExit("r2plus1d_18 train: float32 and float64 differ by %.3g (relative), too "
                         "close to the tolerance %g: the fixture is ill-conditioned"
                         % (f64_diff, TRAIN_TOL))

    tensors = [("input", np32(x)), ("labels", np.array(TRAIN_LABELS, dtype=np.int32)),
               ("loss", np32(r["loss"])), ("logits", np32(r["logits"])),
               ("dinput", np32(r["dinput"]))]
    for name, (norm, proj, sample, _) in grads.items():
        tensors.append(("grad_norm:" + name, norm.astype(np.float32)))
        tensors.append(("grad_proj:" + name, proj.astype(np.float32)))
        tensors.append(("grad_sample:" + name, sample.astype(np.float32)))
    for name, b in after.items():
        if name.endswith("num_batches_tracked"):
            tensors.append(("after:" + name, np.array(int(b), dtype=np.int64)))
        else:
            tensors.append(("after:" + name, np32(b)))
    md = OrderedDict([("model", "r2plus1d_18"), ("tolerance", repr(TRAIN_TOL)),
                      ("f64_diff", "%.3g" % f64_diff)])
    md.update(versions())
    write_safetensors(os.path.join(outdir, "r2plus1d_18.train.safetensors"),
                      ordered_for_alignment(tensors), md)
    print("    r2plus1d_18 train: loss %.6f, float32 vs float64 %.3g (relative)"
          % (r["loss"].item(), f64_diff))


def sgd_run(model, dtype, x, labels):
    """SGD_STEPS steps of torch.optim.SGD in training mode on the batch (x, labels); the losses."""
    opt = torch.optim.SGD(model.parameters(), **SGD)
    model.train()
    losses = []
    for _ in range(SGD_STEPS):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x.to(dtype)), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def make_sgd(outdir, model, seed):
    """SGD_STEPS SGD steps of r2plus1d_18 on the train fixture's batch, from the eval fixture's
    state with the classifier at torchvision's initial scale (std 0.01):
    fc.weight = gen_u("fc.weight") * float32(0.01 * sqrt(3)).

    With the classifier at the eval fixture's scale (std 0.044) three steps at lr
    0.01 move this small random network so far (loss 6.2 -> 1.2) that float32 and
    float64 PyTorch end 1e-4 apart; at std 0.01 they agree to ~5e-6 over all
    weights and ~4e-5 per tensor, which leaves room to test against.

    Per tensor the fixture keeps 32 sampled weights after the steps, the norm of
    the update, 32 sampled update values, 4 projections of the update on
    generated directions (a difference of two updates projects to about
    ||difference|| / sqrt(3), so they measure it as a whole), and how far float32
    PyTorch is from float64 PyTorch (weights and update, relative).
    """
    with torch.no_grad():
        n = model.fc.weight.numel()
        model.fc.weight.copy_(torch.from_numpy(
            (gen_u("fc.weight", n) * np.float32(SGD_FC_STD * math.sqrt(3.0)))
            .reshape(tuple(model.fc.weight.shape))))
    x = torch.randn(*INPUT_SHAPE, generator=torch.Generator().manual_seed(seed))
    labels = torch.tensor(TRAIN_LABELS, dtype=torch.int64)
    before = OrderedDict((n, p.detach().clone()) for n, p in model.named_parameters())
    m64 = copy.deepcopy(model).double()
    losses = sgd_run(model, torch.float32, x, labels)
    losses64 = sgd_run(m64, torch.float64, x, labels)
    tensors = [("loss", np.array(losses, dtype=np.float32))]
    p64 = dict(m64.named_parameters())
    num = den = 0.0
    worst_w = worst_d = 0.0
    for name, p in model.named_parameters():
        w = p.detach().double().numpy().reshape(-1)
        w64 = p64[name].detach().numpy().reshape(-1)
        d = w - before[name].double().numpy().reshape(-1)
        d64 = w64 - before[name].double().numpy().reshape(-1)
        idx = sample_indices(name, w.size)
        dnorm = math.sqrt(float(np.dot(d, d)))
        ew = math.sqrt(float(np.dot(w - w64, w - w64)) / float(np.dot(w64, w64)))
        ed = math.sqrt(float(np.dot(d - d64, d - d64))) / max(dnorm, 1e-30)
        num += float(np.dot(w - w64, w - w64))
        den += float(np.dot(w64, w64))
        worst_w, worst_d = max(worst_w, ew), max(worst_d, ed)
        tensors.append(("after_sample:" + name, w[idx].astype(np.float32)))
        tensors.append(("delta_norm:" + name, np.array([dnorm], dtype=np.float32)))
        tensors.append(("delta_sample:" + name, d[idx].astype(np.float32)))
        tensors.append(("delta_proj:" + name, np.array(
            [float(np.dot(d, gen_u("sgdproj%d:%s" % (k, name), d.size).astype(np.float64)))
             for k in range(4)], dtype=np.float32)))
        tensors.append(("f64_diff:" + name, np.array([ew, ed], dtype=np.float32)))
    for name, b in model.named_buffers():
        if name.endswith("num_batches_tracked"):
            tensors.append(("after:" + name, np.array(int(b), dtype=np.int64)))
        else:
            tensors.append(("after:" + name, np32(b)))
    glob = math.sqrt(num / den)
    if glob * 10 > 1e-4:
        raise SystemExit("r2plus1d_18 sgd: float32 and float64 weights differ by %.3g (relative)"
                         % glob)
    md = OrderedDict([("model", "r2plus1d_18"), ("steps", str(SGD_STEPS)), ("lr", repr(SGD["lr"])),
                      ("fc_std", repr(SGD_FC_STD)),
                      ("momentum", repr(SGD["momentum"])),
                      ("weight_decay", repr(SGD["weight_decay"])),
                      ("f64_diff_weights", "%.3g" % glob)])
    md.update(versions())
    write_safetensors(os.path.join(outdir, "r2plus1d_18.sgd.safetensors"),
                      ordered_for_alignment(tensors), md)
    print("    r2plus1d_18 sgd: losses %s; float32 vs float64: weights %.3g (all), per tensor "
          "<= %.3g, updates <= %.3g (relative)"
          % (" ".join("%.6f" % v for v in losses), glob, worst_w, worst_d))


def self_check():
    """Fixed points of the generator, also quoted in README.md for the C side."""
    assert fnv1a32("") == 2166136261 and fnv1a32("a") == 0xE40C292C
    assert fnv1a32("stem.0.weight") == 0x7AC2C748
    assert list(element_hash("stem.0.weight", 3)) == [0x2EB19394, 0xD2B944E1, 0xF8C4E105]
    bits = gen_tensor("stem.0.weight", (45, 3, 1, 7, 7)).reshape(-1)[:3].view(np.uint32)
    assert list(bits) == [0xBDB9D7D5, 0x3DBD152E, 0x3E0A0594]
    bits = gen_tensor("fc.bias", (400,))[:3].view(np.uint32)
    assert list(bits) == [0x3D3272DA, 0xBD722BAA, 0xBCA9B540]
    assert list(sample_indices("fc.weight", 400 * 512)[:3]) == [71937, 14429, 99435]
    u = gen_u("fc.bias", 4)
    assert np.all(u >= -1) and np.all(u < 1)
    # u is exact: (h >> 8) - 2^23 scaled by 2^-23.
    h = element_hash("fc.bias", 4)
    assert np.array_equal(u.astype(np.float64), (h >> np.uint64(8)).astype(np.float64) / 2 ** 23 - 1)


def main(argv):
    known = [m[0] for m in MODELS]
    if len(argv) < 2 or any(a not in known for a in argv[2:]):
        print("usage: make_fixtures.py OUTDIR [NAME ...]   (NAME: %s; default all)"
              % ", ".join(known), file=sys.stderr)
        return 2
    outdir = argv[1]
    only = set(argv[2:]) or set(known)
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    self_check()
    print("make_fixtures: torch %s, torchvision %s, numpy %s"
          % (torch.__version__, torchvision.__version__, np.__version__))
    counts = OrderedDict()
    with tempfile.TemporaryDirectory(prefix="vidaction-fixtures-") as tmp:
        for name, ctor, source, arch, seed, tol in MODELS:
            if name not in only:
                continue
            print("  %s (%s %s)" % (name, source, arch))
            model, counts[name] = make_model(outdir, tmp, name, ctor, source, arch, seed, tol)
            if name == "r2plus1d_18":
                fresh = copy.deepcopy(model)
                make_train(outdir, model, seed + 3000)
                make_sgd(outdir, fresh, seed + 3000)
            del model
    print("parameters:")
    for name, n in counts.items():
        print("  %-14s %14s" % (name, format(n, ",")))
    total = 0
    print("files:")
    for f in sorted(os.listdir(outdir)):
        if f.endswith((".safetensors", ".header.json")):
            size = os.path.getsize(os.path.join(outdir, f))
            total += size
            print("  %-36s %9d bytes" % (f, size))
    print("  %-36s %9d bytes" % ("total", total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
