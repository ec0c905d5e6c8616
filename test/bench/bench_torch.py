#!/usr/bin/env python3
"""PyTorch side of the CPU benchmark: torchvision r2plus1d_18 forward, one clip.

    /usr/bin/python3 test/bench/bench_torch.py --threads N [--repeat R]

Random weights, eval mode, torch.inference_mode(), input 1x3x16x112x112
(float32, NCTHW). One warm-up run, then R timed runs. Prints one JSON line:
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
    args = ap.parse_args(argv)
    if args.threads < 1 or args.repeat < 1:
        ap.error("--threads and --repeat must be positive")

    import torch
    from torchvision.models.video import r2plus1d_18

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = r2plus1d_18(num_classes=400).eval()
    x = torch.randn(1, 3, 16, 112, 112)
    times = []
    with torch.inference_mode():
        model(x)  # warm-up: allocations, kernel selection
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"threads": args.threads, "median_ms": round(statistics.median(times), 3),
                      "min_ms": round(min(times), 3), "max_ms": round(max(times), 3),
                      "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
