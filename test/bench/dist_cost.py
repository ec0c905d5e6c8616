#!/usr/bin/env python3
"""Cost model of data-parallel training (docs/distributed.md), from model files.

    bin/vidaction create --arch r2plus1d --depth 34 --midplanes per-conv -o r34.safetensors
    python3 test/bench/dist_cost.py r34.safetensors r152.safetensors

For each model file: learnable parameters, fp32 gradient bytes, multiply-adds
of one 3x16x112x112 clip (convolutions and classifier, read off the tensor
shapes), and the gradient buckets vida_dist makes (learnable tensors in
reverse state_dict order, a new bucket once one holds >= 25 MiB, as
src/dist/dist.c). Then, for N GPUs at a per-GPU bandwidth, a simulated step:

  compute  T_c = T_ref * MACs / MACs(R(2+1)D-18), T_ref a measured R(2+1)D-18
           step (batch 8, fp32, H100: ours 234.3 ms, PyTorch 110.9 ms,
           docs/performance.md); forward T_c/3, backward 2 T_c/3, spread
           over the conv weights in proportion to their multiply-adds;
  network  ring all-reduce of a bucket of b bytes: 2 (N-1)/N * b / B plus
           2 (N-1) hops of ALPHA (5 us) each; buckets one after another, each
           started when backward has finished its last tensor;
  step     overlapped: T_fwd + max(T_bwd, end of the last bucket's all-reduce);
           serial: T_c + all the all-reduces (nothing hidden).

Efficiency = T_c / step (100% = communication fully hidden). The gradients are
fp32 in every precision (bf16/fp16 keep fp32 master weights and gradients).
Standard library only.
"""
import json
import re
import struct
import sys

BUCKET = 25 << 20
ALPHA = 5e-6
REF_MACS = 40.52e9  # R(2+1)D-18, 3x16x112x112 (this script's count; torchvision says 40.52 G)
REF = {"fp32, ours": 0.2343, "fp32, PyTorch": 0.1109, "bf16, ours": 0.0449, "bf16, PyTorch": 0.0255}
GPUS = (8, 16, 32, 64, 128)
LINKS = (("NVLink 450 GB/s", 450e9), ("InfiniBand NDR 50 GB/s", 50e9))


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))  # key order = state_dict order
    meta = h.pop("__metadata__", {})
    return meta, [(k, v["shape"]) for k, v in h.items()]


def learnable(name):
    return not re.search(r"\.(running_mean|running_var|num_batches_tracked)$", name)


def conv_macs(tensors, T=16, H=112):
    """Multiply-adds per weight tensor for one T x H x H clip."""
    names = [k for k, _ in tensors]
    bottleneck = any(".conv3." in k for k in names)
    out = {1: (T, H // 2)}
    for L in (2, 3, 4):
        out[L] = (max(out[L - 1][0] // 2, 1), out[L - 1][1] // 2)
    macs = {}
    for name, shp in tensors:
        if name == "fc.weight":
            macs[name] = shp[0] * shp[1]
            continue
        if len(shp) != 5:
            continue
        O, I, kt, kh, kw = shp
        if name.startswith("stem"):
            t, s = T, H // 2
        else:
            L, B = map(int, re.match(r"layer(\d)\.(\d+)\.", name).groups())
            ti, si = out[L - 1] if (B == 0 and L > 1) else out[L]
            to, so = out[L]
            conv = re.search(r"\.(conv\d|downsample)\.", name).group(1)
            first = conv == ("conv2" if bottleneck else "conv1")
            if conv == "downsample":
                t, s = to, so
            elif kt == 1 and kh == 1:
                t, s = (ti, si) if conv == "conv1" else (to, so)
            elif kt == 1:  # spatial 1 x k x k: the block's spatial stride
                t, s = (ti, so) if first else (to, so)
            else:  # temporal k x 1 x 1: the temporal stride
                t, s = to, so
        macs[name] = O * I * kt * kh * kw * t * s * s
    return macs


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def buckets(tensors):
    """[(bytes, [names])] in the order vida_dist fills them (reverse state_dict order)."""
    out, cur = [], BUCKET
    for name, shp in reversed(tensors):
        if not learnable(name):
            continue
        if cur >= BUCKET:
            out.append([0, []])
            cur = 0
        out[-1][0] += numel(shp) * 4
        out[-1][1].append(name)
        cur += numel(shp) * 4
    return out


def step(tensors, macs, bks, t_c, n, bw):
    total = sum(macs.values())
    t_fwd, t_bwd = t_c / 3, 2 * t_c / 3
    # when each tensor's gradient is final: backward runs in reverse order, time ~ multiply-adds
    done, clock = {}, 0.0
    for name, _ in reversed(tensors):
        clock += t_bwd * macs.get(name, 0) / total
        done[name] = clock
    end = 0.0
    for b, names in bks:
        ready = max(done[k] for k in names)
        end = max(end, ready) + 2 * (n - 1) / n * b / bw + 2 * (n - 1) * ALPHA
    return t_fwd + max(t_bwd, end)


def main(paths):
    for path in paths:
        meta, tensors = header(path)
        macs = conv_macs(tensors)
        params = sum(numel(s) for k, s in tensors if learnable(k))
        bks = buckets(tensors)
        m = sum(macs.values())
        title = "R(2+1)D-%s (%s midplanes, %s classes)" % (
            meta.get("depth", "?"), meta.get("midplanes", "?"), meta.get("num_classes", "?"))
        print("## %s: %s\n" % (title, path))
        print("- %d learnable parameters: %.1f MB of fp32 gradients per step" % (params, params * 4 / 1e6))
        print("- %.2f GMAC per 3x16x112x112 clip (%.2f x R(2+1)D-18)" % (m / 1e9, m / REF_MACS))
        print("- %d buckets of >= 25 MiB, MB: %s; the last (stem and first layers) %.1f MB"
              % (len(bks), " ".join("%.1f" % (b / 1e6) for b, _ in bks), bks[-1][0] / 1e6))
        for impl, ref in REF.items():
            t_c = ref * m / REF_MACS
            print("\ncompute per step (batch 8 per GPU, H100, %s speed): %.0f ms\n" % (impl, t_c * 1e3))
            print("| GPUs | bytes sent per GPU | " + " | ".join(
                "%s: all-reduce ms, efficiency overlapped / serial" % name for name, _ in LINKS) + " |")
            print("|---|---|" + "---|" * len(LINKS))
            for n in GPUS:
                cells = []
                for _, bw in LINKS:
                    t_ar = sum(2 * (n - 1) / n * b / bw + 2 * (n - 1) * ALPHA for b, _ in bks)
                    s = step(tensors, macs, bks, t_c, n, bw)
                    cells.append("%.1f ms, %.0f%% / %.0f%%" % (t_ar * 1e3, 100 * t_c / s, 100 * t_c / (t_c + t_ar)))
                print("| %d | %.0f MB | %s |" % (n, 2 * (n - 1) / n * params * 4 / 1e6, " | ".join(cells)))
        print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: dist_cost.py MODEL.safetensors...")
    main(sys.argv[1:])
