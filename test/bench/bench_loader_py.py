#!/usr/bin/env python3
"""Peer side of the loader benchmark: a PyTorch DataLoader over a PyAV Dataset.

    /usr/bin/python3 test/bench/bench_loader_py.py --run PLAN --rep r --mode dataloader --workers W
    /usr/bin/python3 test/bench/bench_loader_py.py --run PLAN --rep r --mode decode
    /usr/bin/python3 test/bench/bench_loader_py.py --check PLAN --dump FILE
    /usr/bin/python3 test/bench/bench_loader_py.py --versions
    /usr/bin/python3 test/bench/bench_loader_py.py --table RAW [--meta FILE]

PLAN is written by build/bench/bench_loader --plan: the videos, the clip
geometry (L frames, stride, short side S, crop C, batch size, B timed
batches) and, per rep, the samples of batch 0 (warm-up) and batches 1..B in
the order vida_loader hands them out, each with its video and L frame
numbers. The Dataset here is what video loaders built on PyAV do per sample
(__getitem__): av.open, one decoding thread, seek to the clip's first frame
(backward to a keyframe), decode forward keeping the clip's frames, scale
each to short side S (frame.to_ndarray, BICUBIC), crop the centre CxC with
numpy, close; it returns (uint8 tensor [L, C, C, 3], label, seconds spent).
The decoding is bench_decode_py.py's PyAVReader, which bench_decode.sh
checks frame by frame against libvidaction. The clip's start comes from the
plan rather than from Python's random module, so that both sides decode the
same clips (the draw itself costs nothing).

--mode dataloader: torch.utils.data.DataLoader(num_workers=W, the plan's
batches as batch_sampler, default collate, prefetch_factor 2, fork). The
untimed warm-up is W copies of the plan's batch 0, one per worker (batch i
goes to worker i mod W), so that every worker begins its first timed batch
when the timing starts; after a single warm-up batch, worker 1 would have
decoded timed batch 1 during the warm-up, and the rate would come out too
high (by up to a batch). Then the plan's B batches are timed; 2*W extra
batches (copies of the first timed ones) follow so that the workers stay
busy until the last timed batch arrives, as the loader's threads do. With B
a multiple of W the workers end together. --mode decode: the same timed
samples, one after the other in this process, no DataLoader (one untimed
warm-up sample first).
Each prints one JSON line {"impl", "version", "mode", "threads", "rep",
"clips", "batches", "wall_s", "cpu_s" (this process; null for dataloader,
whose work is in the workers), "decode_s" (wall time inside __getitem__,
summed over the timed clips), "decode_cpu_s" (CPU time of the same),
"wait_s" (time next() on the DataLoader iterator waited)}.

--check decodes rep 0's warm-up batch and compares it with bench_loader's
--dump of the same clips (decoded by libvidaction's sampler): per-clip
mean/max absolute differences; exits 1 when a frame differs by more than
half the median difference between neighbouring frames of its clip (a wrong
frame, not a rounding; floor 1.5 levels). --table prints bench_loader.sh's
tables from its raw JSON lines (--meta: the run's facts, stored into RAW first).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_decode_py import PyAVReader  # noqa: E402  (the checked PyAV clip reader)


def read_plan(path, rep):
    """Returns (geom, paths, labels, batches): batches[b] = [(video, [idx]*L)] for b = 0..B."""
    geom, paths, labels, batches = None, [], [], {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "geometry":
                frames, stride, short, crop, batch, nb = map(int, w[1:7])
                geom = dict(frames=frames, stride=stride, short=short, crop=crop, batch=batch,
                            batches=nb)
            elif w[0] == "video":
                assert int(w[1]) == len(paths)
                labels.append(int(w[2]))
                paths.append(line.rstrip("\n").split(" ", 3)[3])
            elif w[0] == "sample" and int(w[1]) == rep:
                b, video = int(w[2]), int(w[6])
                batches.setdefault(b, []).append((video, list(map(int, w[8:]))))
    if geom is None or not batches:
        raise SystemExit("bench_loader_py: %s: bad plan or no samples for rep %d" % (path, rep))
    return geom, paths, labels, [batches[b] for b in sorted(batches)]


class ClipDataset:
    """A map-style dataset: sample i = (video, frame numbers) of the flat plan list."""

    def __init__(self, samples, paths, labels, geom):
        self.samples, self.paths, self.labels, self.geom = samples, paths, labels, geom
        self.reader = None

    def __len__(self):
        return len(self.samples)

    def load(self, i):
        if self.reader is None:  # one per process (created in the worker)
            self.reader = PyAVReader()
        v, idx = self.samples[i]
        o = self.reader.open(self.paths[v], self.geom)
        try:
            return self.reader.clip(o, idx), self.labels[v]
        finally:
            self.reader.close(o)

    def __getitem__(self, i):
        import torch
        t, c = time.perf_counter(), time.process_time()
        clip, label = self.load(i)
        return (torch.from_numpy(clip), label, time.perf_counter() - t, time.process_time() - c)


def result(mode, threads, rep, clips, batches, wall, cpu, decode_s, decode_cpu_s, wait_s, version):
    print(json.dumps(dict(impl="pytorch-pyav", version=version, mode=mode, threads=threads,
                          rep=rep, clips=clips, batches=batches, wall_s=round(wall, 6),
                          cpu_s=None if cpu is None else round(cpu, 6),
                          decode_s=round(decode_s, 6), decode_cpu_s=round(decode_cpu_s, 6),
                          wait_s=round(wait_s, 6), failed=0)))


def run_dataloader(plan_path, rep, workers):
    import av
    import torch
    from torch.utils.data import DataLoader
    torch.set_num_threads(1)
    geom, paths, labels, batches = read_plan(plan_path, rep)
    # Batch i goes to worker i mod W. Warm-up: one copy of batch 0 per worker,
    # so that every worker starts its first timed batch when the timing starts
    # (with one warm-up batch, worker 1 would decode timed batch 1 during the
    # warm-up); tail: 2 W batches more keep the workers busy to the end.
    samples, index = [], []
    for b in [batches[0]] * workers + batches[1:] + batches[1:1 + 2 * workers]:
        index.append(list(range(len(samples), len(samples) + len(b))))
        samples.extend(b)
    ds = ClipDataset(samples, paths, labels, geom)
    dl = DataLoader(ds, batch_sampler=index, num_workers=workers, prefetch_factor=2,
                    persistent_workers=False, pin_memory=False)
    it = iter(dl)
    for _ in range(workers):
        next(it)  # warm-up: worker start, one batch per worker
    clips, decode_s, decode_cpu_s, wait_s = 0, 0.0, 0.0, 0.0
    w0 = time.perf_counter()
    for _ in range(len(batches) - 1):
        t = time.perf_counter()
        x, y, dt, dc = next(it)
        wait_s += time.perf_counter() - t
        assert x.dtype == torch.uint8 and tuple(x.shape[1:]) == (
            geom["frames"], geom["crop"], geom["crop"], 3)
        clips += len(y)
        decode_s += float(dt.sum())
        decode_cpu_s += float(dc.sum())
    wall = time.perf_counter() - w0
    del it  # stops the workers (untimed)
    result("dataloader", workers, rep, clips, len(batches) - 1, wall, None, decode_s,
           decode_cpu_s, wait_s, "torch %s, PyAV %s" % (torch.__version__, av.__version__))


def run_decode(plan_path, rep):
    import av
    geom, paths, labels, batches = read_plan(plan_path, rep)
    timed = [s for b in batches[1:] for s in b]
    ds = ClipDataset([batches[0][0]] + timed, paths, labels, geom)
    ds.load(0)  # warm-up, untimed
    decode_s, decode_cpu_s = 0.0, 0.0
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(1, len(ds)):
        t, c = time.perf_counter(), time.process_time()
        ds.load(i)
        decode_s += time.perf_counter() - t
        decode_cpu_s += time.process_time() - c
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    result("decode", 1, rep, len(timed), len(batches) - 1, wall, cpu, decode_s, decode_cpu_s, 0.0,
           "PyAV %s" % av.__version__)


def check(plan_path, dump_path):
    geom, paths, labels, batches = read_plan(plan_path, 0)
    L, C = geom["frames"], geom["crop"]
    first = batches[0]
    ours = np.fromfile(dump_path, np.uint8).reshape(len(first), L, C, C, 3)
    ds = ClipDataset(first, paths, labels, geom)
    ok, worst = True, 0.0
    for j in range(len(first)):
        theirs, _ = ds.load(j)
        d = np.abs(theirs.astype(np.int16) - ours[j].astype(np.int16))
        per_frame = d.reshape(L, -1).mean(axis=1)
        a = ours[j].reshape(L, -1).astype(np.int16)
        step = np.abs(a[1:] - a[:-1]).mean(axis=1) if L > 1 else np.array([0.0])
        bad = per_frame.max() > max(0.5 * float(np.median(step)), 1.5)
        ok = ok and not bad
        worst = max(worst, float(per_frame.max()))
        v, idx = first[j]
        print("pyav sample %d (%s, frames %s..): mean |diff| %.3f, worst frame %.3f, max %d;"
              " neighbouring clip frames differ by %.2f (median)%s"
              % (j, os.path.basename(paths[v]), idx[:3], d.mean(), per_frame.max(), d.max(),
                 float(np.median(step)), "  <-- MISMATCH" if bad else ""))
    print(json.dumps(dict(impl="pyav", check="ok" if ok else "mismatch",
                          worst_frame_mean_abs_diff=round(worst, 3))))
    return 0 if ok else 1


def versions(quiet=False):
    v = {}
    try:
        import av
        v["pyav"] = av.__version__
        v["pyav_ffmpeg"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    except ImportError:
        v["pyav"] = None
    try:
        import torch
        v["torch"] = torch.__version__
    except ImportError:
        v["torch"] = None
    if not quiet:
        print(json.dumps(v))
    return v


def table(raw_path, meta_path=None):
    """Prints the markdown tables of a bench_loader.sh raw file. With meta_path,
    first stores the run's facts in the raw file as a {"meta": ..} line."""
    lines = [json.loads(x) for x in open(raw_path) if x.strip()]
    if meta_path:
        meta = {"video": [], "check": []}
        for x in open(meta_path):
            key, _, val = x.rstrip("\n").partition(" ")
            if key in meta:
                meta[key].append(val)
            else:
                meta[key] = val
        meta["versions"] = versions(quiet=True)
        lines = [{"meta": meta}] + [x for x in lines if "meta" not in x]
        with open(raw_path, "w") as f:
            for x in lines:
                f.write(json.dumps(x) + "\n")
    meta = next((x["meta"] for x in lines if "meta" in x), {})
    vers = meta.get("versions", {})
    runs = {}  # (impl, mode, threads) -> {rep: result}
    for x in lines:
        if "result" in x:
            r = x["result"]
            runs.setdefault((r["impl"], r["mode"], r["threads"]), {})[r["rep"]] = r
    ours_name, peer_name = "libvidaction", "pytorch-pyav"
    threads = sorted({k[2] for k in runs if k[1] != "decode"})

    def med(rs, f):
        v = [f(r) for r in rs.values()]
        return statistics.median(v), min(v), max(v)

    def rate(r):
        return r["clips"] / r["wall_s"]

    def cell(rs):
        if not rs:
            return "–"
        return "%.1f (%.1f–%.1f)" % med(rs, rate)

    def ratio(a, b):
        reps = sorted(set(a or {}) & set(b or {}))
        if not reps:
            return "–"
        v = [rate(a[i]) / rate(b[i]) for i in reps]
        return "%.2f (%.2f–%.2f)" % (statistics.median(v), min(v), max(v))

    print("Clips/s (16 frames, stride 2, short side 128, centre crop 112, uint8; batches of %s), "
          "median (min–max) of %s reps; ratio = libvidaction / peer, paired by rep, median "
          "(min–max); above 1 means libvidaction is faster."
          % (meta.get("batch", "?"), meta.get("repeat", "?")))
    print()
    print("| threads | libvidaction vida_loader | PyTorch DataLoader + PyAV | ratio |")
    print("|---|---|---|---|")
    rows = [("decode only, 1 thread (no loader)", "decode", 1)]
    rows += [("%d thread%s / worker%s" % (t, "s" if t > 1 else "", "s" if t > 1 else ""),
              "loader", t) for t in threads]
    for label, mode, t in rows:
        a = runs.get((ours_name, mode, t))
        b = runs.get((peer_name, "decode" if mode == "decode" else "dataloader", t))
        print("| %s | %s | %s | %s |" % (label, cell(a), cell(b), ratio(a, b)))
    print()
    print("What limits it (medians of the reps). scaling = clips/s over the decode-only clips/s "
          "of the same rep; busy = decode_s / (threads x wall): the share of the threads' "
          "(workers') wall time spent opening and decoding samples; waiting = wait_s / wall: the "
          "share of the time next() waited for a batch; decode ms/clip = decode_s per clip (wall "
          "time, so it grows when the threads get less than a core each); CPU ms/clip and cores "
          "= CPU time per clip and CPU time / wall (libvidaction: the whole process; PyTorch: "
          "CPU time inside __getitem__ in the workers, the main process left out).")
    print()
    print("| run | clips/s | scaling | busy | waiting | decode ms/clip | CPU ms/clip | cores |")
    print("|---|---|---|---|---|---|---|---|")
    for impl, name, lmode in ((ours_name, "libvidaction", "loader"),
                              (peer_name, "PyTorch + PyAV", "dataloader")):
        dec = runs.get((impl, "decode", 1))
        keys = [("decode", 1)] + [(lmode, t) for t in threads]
        for mode, t in keys:
            rs = runs.get((impl, mode, t))
            if not rs:
                continue
            if mode == "decode":
                what = "%s decode only, 1 thread" % name
            elif impl == ours_name:
                what = "libvidaction vida_loader, %d thread%s" % (t, "s" if t > 1 else "")
            else:
                what = "PyTorch DataLoader, %d worker%s" % (t, "s" if t > 1 else "")
            if mode == "decode" or not dec:
                scaling = "1" if mode == "decode" else "–"
            else:
                reps = sorted(set(rs) & set(dec))
                scaling = "%.2f" % statistics.median(rate(rs[i]) / rate(dec[i]) for i in reps)
            busy = "%.0f%%" % (100 * med(rs, lambda r: r["decode_s"] / (t * r["wall_s"]))[0])
            waiting = ("–" if mode == "decode"
                       else "%.0f%%" % (100 * med(rs, lambda r: r["wait_s"] / r["wall_s"])[0]))
            ms = "%.0f" % (1e3 * med(rs, lambda r: r["decode_s"] / r["clips"])[0])
            key = ("cpu_s" if all(r.get("cpu_s") is not None for r in rs.values())
                   else "decode_cpu_s")
            cpu = "%.0f" % (1e3 * med(rs, lambda r: r[key] / r["clips"])[0])
            cores = "%.2f" % med(rs, lambda r: r[key] / r["wall_s"])[0]
            print("| %s | %.1f | %s | %s | %s | %s | %s | %s |"
                  % (what, med(rs, rate)[0], scaling, busy, waiting, ms, cpu, cores))
    print()
    ex = next((r for (i, m, t), rs in runs.items() if i == ours_name and m == "loader"
               for r in rs.values() if "slots" in r), None)
    print("Machine: %s, %s CPUs (not pinned; other load before / after the runs: %s / %s); "
          "FFmpeg %s (libavcodec %s; PyAV's %s); PyAV %s; "
          "torch %s; libvidaction %s. Timed: %s batches of %s per run after an untimed warm-up "
          "(one batch; for the DataLoader one per worker); "
          "vida_loader prefetch default (%s batch slots of %s bytes), DataLoader prefetch_factor 2."
          % (meta.get("cpu") or "unknown", meta.get("nproc", "?"), meta.get("load_before", "?"),
             meta.get("load_after", "?"), meta.get("ffmpeg", "?"),
             meta.get("libavcodec", "?"), vers.get("pyav_ffmpeg") or "?",
             vers.get("pyav") or "?", vers.get("torch") or "?",
             next((r["version"] for (i, m, t), rs in runs.items() if i == ours_name
                   for r in rs.values()), "?"),
             meta.get("batches", "?"), meta.get("batch", "?"),
             ex["slots"] if ex else "?", ex["batch_bytes"] if ex else "?"))
    print()
    print("Videos (%s; libvidaction's scan: frames, width, height, fps, keyframes, longest "
          "keyframe gap, codec, file):" % meta.get("manifest", "manifest"))
    print()
    for v in meta.get("video", []):
        print("    " + v)
    print()
    print("Checks (rep 0's warm-up batch):")
    print()
    for v in meta.get("check", []):
        print("    " + v)
    for (i, m, t), rs in sorted(runs.items()):
        for r in rs.values():
            if r.get("check"):
                print("    vida_loader (%d thread%s) vs vida_sampler_sample on the same draws: "
                      "mean |diff| %s, max %s%s"
                      % (t, "s" if t > 1 else "", r["check"]["mean_abs_diff"],
                         r["check"]["max_abs_diff"],
                         "" if r["check"]["max_abs_diff"] == 0 else
                         " (MISMATCH: a loader bug, or its clip seed derivation is no longer"
                         " the one bench_loader.c copies)"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", metavar="PLAN")
    ap.add_argument("--rep", type=int, default=0)
    ap.add_argument("--mode", choices=["dataloader", "decode"], default="dataloader")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--check", metavar="PLAN")
    ap.add_argument("--dump", metavar="FILE")
    ap.add_argument("--versions", action="store_true")
    ap.add_argument("--table", metavar="RAW")
    ap.add_argument("--meta", metavar="FILE")
    args = ap.parse_args(argv)
    if args.versions:
        versions()
        return 0
    if args.table:
        table(args.table, args.meta)
        return 0
    if bool(args.run) == bool(args.check) or (args.check and not args.dump):
        ap.error("give one of --run PLAN or --check PLAN --dump FILE")
    if args.check:
        return check(args.check, args.dump)
    if args.mode == "decode":
        run_decode(args.run, args.rep)
    else:
        if args.workers < 1:
            ap.error("--workers must be at least 1")
        run_dataloader(args.run, args.rep, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
