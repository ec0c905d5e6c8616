#!/usr/bin/env python3
"""PyTorch side of the GPU benchmark: R(2+1)D training steps and forwards, bf16 AMP.

    python3 test/bench/gpu/bench_torch_gpu.py [--device cuda] [--configs LIST]
            [--impls eager,compile] [--compile-configs LIST] [--repeat 10]
            [--warmup 3] [--time-limit 300] [--macs-only]

A config is MODEL:FRAMES:MODE:BATCH, MODEL r2plus1d_18 (torchvision) or
r2plus1d_34 (the IG-65M layout: torchvision's VideoResNet, layers [3,4,6,3],
mid-channels 288/576/1152 in the first block of layers 2-4), MODE train or
infer; LIST is comma-separated. Clips are BATCHx3xFRAMESx112x112 (torch.randn,
already on the device), 400 classes, random weights (torch.manual_seed(0)),
labels (i*37)%400.

impl "eager": cudnn.benchmark on, model and input channels_last_3d,
torch.autocast bfloat16. impl "compile": the same plus torch.compile(model)
(default mode); it runs only the configs of --compile-configs ("all": those of
--configs), after every eager config, as compiling takes minutes.
train: model.train(), each iteration zero_grad(set_to_none=True), forward and
F.cross_entropy under autocast, backward, torch.optim.SGD step (lr 0.01,
momentum 0.9, weight decay 1e-4). infer: model.eval(), torch.inference_mode(),
forward only.

--warmup untimed iterations (compilation included), then --repeat iterations,
each timed by a pair of torch.cuda.Event (time.perf_counter on the CPU).
One JSON line per (config, impl), printed as soon as it is measured:
{"impl": "pytorch-eager"|"pytorch-compile", "model", "frames", "mode", "batch",
 "median_ms", "min_ms", "max_ms", "clips_per_s" (batch / median),
 "macs_per_clip", "gflops_per_clip" (2*MACs/1e9), "max_mem_mib"
 (torch.cuda.max_memory_allocated over the config), "torch", "cudnn",
 "device_name", "amp" ("bf16" or "fp32"), "channels_last_3d"}
or, when the config failed (out of memory, compile error...), the config's keys
and "error". Once --time-limit seconds have passed since the start, each
config not yet begun prints "error": "skipped: time limit" (a config already
running is not interrupted).

MACs per clip: forward hooks on every nn.Conv3d (output elements per clip *
in_channels/groups * kt*kh*kw) and nn.Linear (in*out), one float32 clip
forwarded on the CPU under torch.no_grad. --macs-only prints one line per
config with only those and exits (no GPU needed).

On the CPU (--device cpu, a check of the script with tiny configs) bf16
autocast and channels_last_3d are used only where this torch supports them;
the "amp" and "channels_last_3d" keys say what ran.
"""

import argparse
import contextlib
import gc
import json
import statistics
import sys
import time

DEFAULT_CONFIGS = ("r2plus1d_18:16:train:32,r2plus1d_18:16:infer:64,"
                   "r2plus1d_34:8:train:32,r2plus1d_34:8:infer:64,"
                   "r2plus1d_34:32:train:8,r2plus1d_34:32:infer:16")
DEFAULT_COMPILE_CONFIGS = "r2plus1d_18:16:train:32,r2plus1d_18:16:infer:64"
MODELS = ("r2plus1d_18", "r2plus1d_34")
NUM_CLASSES = 400
SIZE = 112


def parse_configs(text):
    """'MODEL:FRAMES:MODE:BATCH,...' -> list of (model, frames, mode, batch)."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        parts = item.split(":")
        if len(parts) != 4:
            raise ValueError("config %r is not MODEL:FRAMES:MODE:BATCH" % item)
        model, frames, mode, batch = parts
        if model not in MODELS:
            raise ValueError("config %r: model must be one of %s" % (item, ", ".join(MODELS)))
        if mode not in ("train", "infer"):
            raise ValueError("config %r: mode must be train or infer" % item)
        frames, batch = int(frames), int(batch)
        if frames < 1 or batch < 1:
            raise ValueError("config %r: frames and batch must be positive" % item)
        out.append((model, frames, mode, batch))
    return out


def build_model(name):
    """Random-weight model, float32 on the CPU, NUM_CLASSES outputs."""
    import torch.nn as nn
    from torchvision.models.video import resnet as vr

    if name == "r2plus1d_18":
        return vr.r2plus1d_18(num_classes=NUM_CLASSES)
    # r2plus1d_34 as ig65m-pytorch lays it out (BN eps 1e-3 as there; no effect on speed)
    model = vr.VideoResNet(block=vr.BasicBlock, conv_makers=[vr.Conv2Plus1D] * 4,
                           layers=[3, 4, 6, 3], stem=vr.R2Plus1dStem, num_classes=NUM_CLASSES)
    model.layer2[0].conv2[0] = vr.Conv2Plus1D(128, 128, 288)
    model.layer3[0].conv2[0] = vr.Conv2Plus1D(256, 256, 576)
    model.layer4[0].conv2[0] = vr.Conv2Plus1D(512, 512, 1152)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.eps = 1e-3
    return model


_MACS = {}


def macs_per_clip(name, frames):
    """Multiply-accumulates of one clip's forward (Conv3d and Linear), cached."""
    key = (name, frames)
    if key in _MACS:
        return _MACS[key]
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    model = build_model(name).eval()
    total = [0]

    def conv_hook(mod, inp, out):
        kt, kh, kw = mod.kernel_size
        per_clip = out.numel() // out.shape[0]
        total[0] += per_clip * (mod.in_channels // mod.groups) * kt * kh * kw

    def linear_hook(mod, inp, out):
        total[0] += mod.in_features * mod.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        model(torch.randn(1, 3, frames, SIZE, SIZE))
    for h in handles:
        h.remove()
    _MACS[key] = int(total[0])
    return _MACS[key]


def macs_fields(name, frames):
    macs = macs_per_clip(name, frames)
    return {"macs_per_clip": macs, "gflops_per_clip": round(2 * macs / 1e9, 3)}


_CPU_AMP = None


def cpu_bf16_ok():
    """Whether this torch runs a Conv3d forward and backward under CPU bf16 autocast."""
    global _CPU_AMP
    if _CPU_AMP is None:
        import torch
        try:
            conv = torch.nn.Conv3d(3, 4, 3, padding=1)
            x = torch.randn(1, 3, 2, 4, 4)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = conv(x).float().sum()
            y.backward()
            _CPU_AMP = True
        except Exception:  # old torch or a CPU without a bf16 conv path
            _CPU_AMP = False
    return _CPU_AMP


def channels_last(model, x):
    """Model and input in channels_last_3d where this torch can; returns (model, x, ok)."""
    import torch
    fmt = getattr(torch, "channels_last_3d", None)
    if fmt is None:
        return model, x, False
    try:
        return model.to(memory_format=fmt), x.contiguous(memory_format=fmt), True
    except Exception:
        return model, x, False


def short_error(exc):
    text = str(exc).strip().splitlines()
    msg = "%s: %s" % (type(exc).__name__, text[0] if text else "")
    return msg[:300]


def run_config(cfg, impl, args, dev):
    """Times one (config, impl); returns the result fields (no error)."""
    import torch
    import torch.nn.functional as F

    name, frames, mode, batch = cfg
    cuda = dev.type == "cuda"
    if impl == "compile" and not hasattr(torch, "compile"):
        raise RuntimeError("torch.compile not available in torch %s" % torch.__version__)

    torch.manual_seed(0)
    model = build_model(name).to(dev)
    x = torch.randn(batch, 3, frames, SIZE, SIZE, device=dev)
    labels = torch.tensor([(i * 37) % NUM_CLASSES for i in range(batch)], device=dev)
    model, x, cl = channels_last(model, x)
    if cuda:
        amp_on = True
        amp = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731
    else:
        amp_on = cpu_bf16_ok()
        amp = ((lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if amp_on
               else contextlib.nullcontext)
    opt = None
    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    else:
        model.eval()
    if impl == "compile":
        model = torch.compile(model)

    if mode == "train":
        def step():
            opt.zero_grad(set_to_none=True)
            with amp():
                loss = F.cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
        outer = contextlib.nullcontext
    else:
        def step():
            with amp():
                model(x)
        outer = torch.inference_mode

    times = []
    with outer():
        for _ in range(args.warmup):
            step()
        if cuda:
            torch.cuda.synchronize(dev)
            events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                      for _ in range(args.repeat)]
            for start, end in events:
                start.record()
                step()
                end.record()
            torch.cuda.synchronize(dev)
            times = [start.elapsed_time(end) for start, end in events]
        else:
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                step()
                times.append((time.perf_counter() - t0) * 1e3)

    median = statistics.median(times)
    out = {"median_ms": round(median, 3), "min_ms": round(min(times), 3),
           "max_ms": round(max(times), 3),
           "clips_per_s": round(batch / (median / 1000.0), 2) if median > 0 else None}
    out.update(macs_fields(name, frames))
    out["max_mem_mib"] = (round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
                          if cuda else None)
    out["amp"] = "bf16" if amp_on else "fp32"
    out["channels_last_3d"] = cl
    return out


def free_memory(dev):
    import torch
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS,
                    help="MODEL:FRAMES:MODE:BATCH,... (default %s)" % DEFAULT_CONFIGS)
    ap.add_argument("--impls", default="eager,compile", help="eager,compile (default both)")
    ap.add_argument("--compile-configs", default=DEFAULT_COMPILE_CONFIGS,
                    help="configs run with torch.compile, or 'all' for those of --configs "
                         "(default %s)" % DEFAULT_COMPILE_CONFIGS)
    ap.add_argument("--repeat", type=int, default=10, help="timed iterations (default 10)")
    ap.add_argument("--warmup", type=int, default=3,
                    help="untimed iterations first, compilation included (default 3)")
    ap.add_argument("--time-limit", type=float, default=300.0,
                    help="seconds after which configs not yet begun are skipped (default 300)")
    ap.add_argument("--macs-only", action="store_true",
                    help="print MACs per clip for each config and exit (CPU only)")
    args = ap.parse_args(argv)
    t_start = time.monotonic()
    if args.repeat < 1 or args.warmup < 0:
        ap.error("--repeat must be positive and --warmup not negative")
    try:
        configs = parse_configs(args.configs)
        compile_configs = (configs if args.compile_configs.strip() == "all"
                           else parse_configs(args.compile_configs))
    except ValueError as e:
        ap.error(str(e))
    impls = [s.strip() for s in args.impls.split(",") if s.strip()]
    for impl in impls:
        if impl not in ("eager", "compile"):
            ap.error("unknown impl %r (eager, compile)" % impl)

    import torch

    if args.macs_only:
        for name, frames, mode, batch in configs:
            line = {"model": name, "frames": frames, "mode": mode, "batch": batch}
            line.update(macs_fields(name, frames))
            print(json.dumps(line), flush=True)
        return 0

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            print("bench_torch_gpu: CUDA is not available (use --device cpu)", file=sys.stderr)
            return 1
        torch.cuda.set_device(dev.index if dev.index is not None else 0)
        torch.backends.cudnn.benchmark = True
    common = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
              "device_name": torch.cuda.get_device_name(dev) if cuda else "cpu"}

    runs = []
    if "eager" in impls:
        runs += [("eager", c) for c in configs]
    if "compile" in impls:
        runs += [("compile", c) for c in compile_configs]

    for impl, cfg in runs:
        name, frames, mode, batch = cfg
        line = {"impl": "pytorch-" + impl, "model": name, "frames": frames, "mode": mode,
                "batch": batch}
        if time.monotonic() - t_start > args.time_limit:
            line["error"] = "skipped: time limit"
            line.update(common)
            print(json.dumps(line), flush=True)
            continue
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        result = error = None
        try:
            result = run_config(cfg, impl, args, dev)
        except Exception as e:  # OOM, compile failure...: report it, go on
            error = short_error(e)
        if impl == "compile" and hasattr(torch, "_dynamo"):
            try:
                torch._dynamo.reset()
            except Exception:
                pass
        free_memory(dev)
        if error is not None:
            line["error"] = error
        else:
            line.update(result)
        line.update(common)
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
