#!/usr/bin/env python3
"""PyTorch side of the CPU benchmark: torchvision r2plus1d_18 forward, one clip.

    /usr/bin/python3 test/bench/bench_torch.py --threads N [--repeat R]
                     [--train] [--batch B] [--frames T]

Random weights, eval mode, torch.inference_mode(), input 1x3x16x112x112
(float32, NCTHW); with --train one training step instead (train mode,
forward, F.cross_entropy, backward of every parameter, grads zeroed first,
torch.optim.SGD step with momentum 0.9 and weight decay 1e-4).
One warm-up run, then R timed runs. Prints one JSON line:
{"threads": N, "median_ms": .., "min_ms": .., "max_ms": .., "torch": "<version>"},
the shape build/bench/bench_forward prints for libvidaction.
"""

import argparse
import json
import statistics
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs after one warm-up (default 7)")
    ap.add_argument("--train", action="store_true", help="time a training step instead")
    ap.add_argument("--batch", type=int, default=1, help="clips per batch (default 1)")
    ap.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                    help="cuda: fp32 with TF32 off, or bf16/fp16 autocast with channels_last_3d")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.repeat < 1:
        ap.error("--threads and --repeat must be positive")

    import torch
    from torchvision.models.video import r2plus1d_18

    import contextlib

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cuda = args.device.startswith("cuda")
    model = r2plus1d_18(num_classes=400)
    x = torch.randn(args.batch, 3, args.frames, 112, 112)
    amp = contextlib.nullcontext()
    if cuda:
        # the same arithmetic as libvidaction's: fp32 without TF32; bf16 as users run it (AMP)
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        model = model.to(args.device)
        x = x.to(args.device)
        if args.precision != "fp32":
            model = model.to(memory_format=torch.channels_last_3d)
            x = x.contiguous(memory_format=torch.channels_last_3d)
            amp = torch.autocast("cuda", dtype=torch.bfloat16 if args.precision == "bf16" else torch.float16)

    def sync():
        if cuda:
            torch.cuda.synchronize()
    times = []
    if args.train:
        model.train()
        labels = torch.tensor([(i * 37) % 400 for i in range(args.batch)], device=x.device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        for i in range(args.repeat + 1):  # the first is the warm-up
            sync()
            t0 = time.perf_counter()
            model.zero_grad(set_to_none=False)
            with amp:
                loss = torch.nn.functional.cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
            sync()
            if i:
                times.append((time.perf_counter() - t0) * 1e3)
    else:
        model.eval()
        with torch.inference_mode(), amp:
            model(x)  # warm-up: allocations, kernel selection
            for _ in range(args.repeat):
                sync()
                t0 = time.perf_counter()
                model(x)
                sync()
                times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"mode": "train" if args.train else "infer", "batch": args.batch,
                      "frames": args.frames, "threads": args.threads, "device": args.device,
                      "precision": args.precision, "median_ms": round(statistics.median(times), 3),
                      "min_ms": round(min(times), 3), "max_ms": round(max(times), 3),
                      "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
