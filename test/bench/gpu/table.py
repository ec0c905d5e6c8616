#!/usr/bin/env python3
"""Table of test/bench/gpu/run.sh's results (bench.jsonl): one row per configuration.

    python3 test/bench/gpu/table.py bench.jsonl

clips/s of libvidaction (and of the base revision when measured), PyTorch
eager and torch.compile; ratios of clips/s (above 1: libvidaction is
faster); model FLOP utilisation = clips/s x FLOPs per clip (2 x MACs, x 3
for a training step) / the GPU's dense bf16 peak (datasheet: H100/H200 SXM
989.4 TFLOP/s, H100 PCIe 756). The FLOPs per clip come from the PyTorch
lines (forward hooks) or, when those are missing, from the values that
script printed for these models.
"""

import json
import sys

GFLOPS = {("r2plus1d_18", 16): 81.038, ("r2plus1d_34", 8): 76.178, ("r2plus1d_34", 32): 304.711}
IMPLS = ["libvidaction", "libvidaction-base", "pytorch-eager", "pytorch-compile"]


def peak_tflops(name):
    return 756.0 if "PCIe" in name else 989.4


def main(argv):
    rows, order, device = {}, [], ""
    for line in open(argv[1]):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            r = json.loads(line)
        except ValueError:
            continue
        key = (r.get("model"), int(r.get("frames", 0)), r.get("mode"), int(r.get("batch", 0)))
        if key not in rows:
            rows[key] = {}
            order.append(key)
        rows[key][r.get("impl")] = r
        device = device or r.get("device_name") or r.get("device", "")
        if "gflops_per_clip" in r and "error" not in r:
            GFLOPS[key[:2]] = float(r["gflops_per_clip"])
    peak = peak_tflops(device)
    print("device: %s; dense bf16 peak taken as %.1f TFLOP/s" % (device or "?", peak))
    print()
    print("| model | frames | mode | batch | libvidaction clips/s | base | PyTorch eager | torch.compile"
          " | ours / eager | ours / compile | MFU ours | MFU eager |")
    print("|" + " --- |" * 12)

    def cps(r):
        if not r:
            return None
        if "error" in r:
            return None
        return float(r["clips_per_s"])

    def cell(r):
        if not r:
            return "-"
        if "error" in r:
            return "error"
        spread = ""
        if r.get("min_ms") and r.get("max_ms"):
            spread = " (%.0f-%.0f ms)" % (float(r["min_ms"]), float(r["max_ms"]))
        return "%.1f%s" % (float(r["clips_per_s"]), spread)

    for key in order:
        d = rows[key]
        model, frames, mode, batch = key
        ours, eager, comp = cps(d.get("libvidaction")), cps(d.get("pytorch-eager")), cps(d.get("pytorch-compile"))
        gf = GFLOPS.get((model, frames))
        mult = 3 if mode == "train" else 1

        def mfu(c):
            if c is None or gf is None:
                return "-"
            return "%.1f%%" % (100.0 * c * gf * mult / 1e3 / peak)

        def ratio(a, b):
            return "%.2f" % (a / b) if a and b else "-"
        print("| %s | %d | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            model, frames, mode, batch, cell(d.get("libvidaction")), cell(d.get("libvidaction-base")),
            cell(d.get("pytorch-eager")), cell(d.get("pytorch-compile")),
            ratio(ours, eager), ratio(ours, comp), mfu(ours), mfu(eager)))
    errors = [(k, i, r["error"]) for k in order for i, r in rows[k].items() if "error" in r]
    for k, i, e in errors:
        print("%s %s: %s" % (":".join(str(x) for x in k), i, e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
