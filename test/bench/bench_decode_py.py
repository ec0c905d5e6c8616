#!/usr/bin/env python3
"""Peer side of the decode benchmark: the clips of a bench_decode plan read with PyAV or decord.

    /usr/bin/python3 test/bench/bench_decode_py.py --impl pyav|decord --run PLAN --rep r
    /usr/bin/python3 test/bench/bench_decode_py.py --impl pyav|decord --check PLAN --dump FILE
    /usr/bin/python3 test/bench/bench_decode_py.py --versions
    /usr/bin/python3 test/bench/bench_decode_py.py --table RAW [--meta FILE]

PLAN is written by build/bench/bench_decode --plan: the videos, the clip
geometry (L frames, stride, K clips per open, short side S, crop C) and, per
rep, one "open" line per file open with the K*L frame numbers to read. Each
open here does what a data loader does for one sample, in the usual way of
each library, with one decoding thread:

  pyav    av.open; stream.thread_type NONE, thread_count 1; per clip:
          container.seek(pts of the first frame, backward=True, any_frame=False),
          decode forward, number frames by their pts (round(pts*time_base*fps),
          constant frame rate), keep the wanted ones with
          frame.to_ndarray(width, height, 'rgb24', BICUBIC) at the scaled size
          (short side S) and crop the centre with numpy.
  decord  VideoReader(path, width, height, num_threads=1); per clip
          get_batch(indices), crop the centre with numpy.

--run times rep r (one untimed warm-up open first) and prints one JSON line
{"impl", "version", "rep", "clips", "opens", "wall_s", "cpu_s", "open_s",
"frames_decoded"}, the shape bench_decode prints (open_s: time in av.open /
VideoReader(); frames_decoded: PyAV only). --check reads rep 0's first open of every
video and compares it with bench_decode's --dump of the same clips: it
prints per-video mean/max absolute pixel differences and exits 1 when a
frame is missing or differs by more than half the median difference between
neighbouring frames of the clip (a wrong frame, not a rounding; the floor is
1.5 levels for near-static clips). --table prints bench_decode.sh's tables
from its raw JSON lines (--meta: the run's facts, stored into RAW first).
"""

import argparse
import json
import statistics
import sys
import time
from fractions import Fraction

import numpy as np


def read_plan(path, rep=None):
    """Returns (geometry dict, paths, opens): opens = [(rep, video, seed, [[idx]*L]*K)]."""
    geom, paths, opens = None, [], []
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "geometry":
                frames, stride, clips, short, crop = map(int, w[1:6])
                geom = dict(frames=frames, stride=stride, clips=clips, short=short, crop=crop)
            elif w[0] == "video":
                paths.append(line.split(None, 2)[2].rstrip("\n"))
            elif w[0] == "info":
                geom.setdefault("sizes", {})[paths[int(w[1])]] = (int(w[3]), int(w[4]))
            elif w[0] == "open":
                r, v, seed = int(w[1]), int(w[3]), int(w[4])
                if rep is not None and r != rep:
                    continue
                idx = list(map(int, w[5:]))
                L = geom["frames"]
                opens.append((r, v, seed, [idx[k * L:(k + 1) * L] for k in range(geom["clips"])]))
    return geom, paths, opens


def scaled_size(width, height, short):
    """libvidaction's short-side rule: the short side to `short`, the other rounded to nearest."""
    if width <= height:
        return short, int(height * short / width + 0.5)
    return int(width * short / height + 0.5), short


def centre(size, crop):
    return (size - crop) // 2


class PyAVReader:
    name = "pyav"

    def __init__(self):
        import av
        self.av = av
        self.version = av.__version__
        self.frames_decoded = 0

    def open(self, path, geom):
        c = self.av.open(path)
        s = c.streams.video[0]
        s.thread_type = "NONE"
        s.codec_context.thread_count = 1
        w, h = scaled_size(s.codec_context.width, s.codec_context.height, geom["short"])
        return dict(c=c, s=s, w=w, h=h, tb=s.time_base, fps=Fraction(s.average_rate),
                    start=s.start_time or 0, crop=geom["crop"])

    def clip(self, o, idx):
        c, s, tb, fps, start, crop = o["c"], o["s"], o["tb"], o["fps"], o["start"], o["crop"]
        first, last = min(idx), max(idx)
        where = {}
        for pos, i in enumerate(idx):
            where.setdefault(i, []).append(pos)
        out = np.empty((len(idx), crop, crop, 3), np.uint8)
        x0, y0 = centre(o["w"], crop), centre(o["h"], crop)
        c.seek(start + round(first / fps / tb), stream=s, backward=True, any_frame=False)
        for frame in c.decode(s):
            self.frames_decoded += 1
            i = round((frame.pts - start) * tb * fps)
            if i in where:
                a = frame.to_ndarray(width=o["w"], height=o["h"], format="rgb24",
                                     interpolation="BICUBIC")
                for pos in where.pop(i):
                    out[pos] = a[y0:y0 + crop, x0:x0 + crop]
            if i >= last:
                break
        if where:
            raise RuntimeError("pyav: frames %s not found" % sorted(where))
        return out

    def close(self, o):
        o["c"].close()


class DecordReader:
    name = "decord"

    def __init__(self):
        import decord
        self.decord = decord
        self.version = decord.__version__
        self.frames_decoded = 0  # decord does not say

    def open(self, path, geom):
        # decord scales while decoding, so it needs the size before opening:
        # taken from the plan (bench_decode measured it).
        d = self.decord
        w, h = scaled_size(*geom["sizes"][path], geom["short"])
        vr = d.VideoReader(path, ctx=d.cpu(0), width=w, height=h, num_threads=1)
        return dict(vr=vr, w=w, h=h, crop=geom["crop"])

    def clip(self, o, idx):
        crop = o["crop"]
        x0, y0 = centre(o["w"], crop), centre(o["h"], crop)
        a = o["vr"].get_batch(idx).asnumpy()
        return np.ascontiguousarray(a[:, y0:y0 + crop, x0:x0 + crop])

    def close(self, o):
        del o["vr"]


def make_reader(impl):
    return {"pyav": PyAVReader, "decord": DecordReader}[impl]()


def run(reader, plan_path, rep):
    geom, paths, opens = read_plan(plan_path, rep)
    if not opens:
        raise SystemExit("bench_decode_py: %s has no opens for rep %d" % (plan_path, rep))

    def one(v, clips):
        t = time.perf_counter()
        o = reader.open(paths[v], geom)
        t = time.perf_counter() - t
        for idx in clips:
            reader.clip(o, idx)
        reader.close(o)
        return t

    one(opens[0][1], opens[0][3])  # warm-up, untimed
    reader.frames_decoded = 0
    open_s = 0.0
    w0, c0 = time.perf_counter(), time.process_time()
    for _, v, _, clips in opens:
        open_s += one(v, clips)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(json.dumps(dict(impl=reader.name, version=reader.version, rep=rep,
                          clips=len(opens) * geom["clips"], opens=len(opens),
                          wall_s=round(wall, 6), cpu_s=round(cpu, 6), open_s=round(open_s, 6),
                          frames_decoded=reader.frames_decoded or None)))


def check(reader, plan_path, dump_path):
    geom, paths, opens = read_plan(plan_path, 0)
    crop, K, L = geom["crop"], geom["clips"], geom["frames"]
    ours = np.fromfile(dump_path, np.uint8).reshape(len(paths), K, L, crop, crop, 3)
    seen, worst = set(), 0.0
    ok = True
    for _, v, _, clips in opens:
        if v in seen:
            continue
        seen.add(v)
        o = reader.open(paths[v], geom)
        theirs = np.stack([reader.clip(o, idx) for idx in clips])
        reader.close(o)
        d = np.abs(theirs.astype(np.int16) - ours[v].astype(np.int16))
        per_frame = d.reshape(K * L, -1).mean(axis=1)
        # A wrong frame shows up as a difference well above the one between
        # neighbouring frames of the clip; report that scale too.
        a = ours[v].reshape(K * L, -1).astype(np.int16)
        step = np.abs(a[1:] - a[:-1]).mean(axis=1) if K * L > 1 else np.array([0.0])
        worst = max(worst, float(per_frame.max()))
        bad = per_frame.max() > max(0.5 * float(np.median(step)), 1.5)
        ok = ok and not bad
        print("%s video %d (%s): frames %s..: mean |diff| %.3f, worst frame %.3f, max %d;"
              " neighbouring clip frames differ by %.2f (median)%s"
              % (reader.name, v, paths[v].rsplit("/", 1)[-1], clips[0][:3], d.mean(),
                 per_frame.max(), d.max(), float(np.median(step)), "  <-- MISMATCH" if bad else ""))
    print(json.dumps(dict(impl=reader.name, check="ok" if ok else "mismatch",
                          worst_frame_mean_abs_diff=round(worst, 3))))
    return 0 if ok else 1


def table(raw_path, meta_path=None):
    """Prints the markdown tables of a bench_decode.sh raw file. With meta_path,
    first stores the run's facts (machine, versions, videos, checks) in the raw
    file as a {"meta": ..} line, so the file can be re-tabulated alone."""
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
    runs = {}
    for x in lines:
        if "result" in x:
            r = x["result"]
            runs.setdefault((x["gop"], x["stride"], x["k"]), {}).setdefault(r["impl"], {})[r["rep"]] = r

    def rate(r, key):
        return r["clips"] / r[key]

    def cell(rs, key="wall_s"):
        if not rs:
            return "not installed"
        v = [rate(r, key) for r in rs.values()]
        return "%.1f (%.1f–%.1f)" % (statistics.median(v), min(v), max(v))

    def ratio(a, b, key="wall_s"):
        # paired: the same rep read the same clips on both sides
        reps = sorted(set(a or {}) & set(b or {}))
        if not reps:
            return "–"
        v = [rate(a[i], key) / rate(b[i], key) for i in reps]
        return "%.2f (%.2f–%.2f)" % (statistics.median(v), min(v), max(v))

    def name(gop, stride, k):
        return "GOP %s, stride %d, %s" % ("250 (x264 default)" if gop == 250 else gop, stride,
                                         "open per clip" if k == 1 else "%d clips per open" % k)

    order = sorted(runs, key=lambda c: (-c[0], -c[1], c[2]))
    print("Clips/s on one core, median (min–max) of %s reps; ratio = libvidaction / peer on the "
          "same clips, median (min–max) of the reps; above 1 means libvidaction is faster."
          % meta.get("repeat", "?"))
    print()
    print("| case | libvidaction | PyAV %s | ratio | decord %s | ratio |"
          % (vers.get("pyav") or "", vers.get("decord") or ""))
    print("|---|---|---|---|---|---|")
    for c in order:
        rs = runs[c]
        ours = rs.get("libvidaction")
        print("| %s | %s | %s | %s | %s | %s |" % (name(*c), cell(ours), cell(rs.get("pyav")),
              ratio(ours, rs.get("pyav")), cell(rs.get("decord")), ratio(ours, rs.get("decord"))))
    print()
    print("Same runs per CPU second (clips / process CPU time), frames decoded and time to open:")
    print()
    print("| case | libvidaction | PyAV | ratio | decord | ratio | frames decoded per clip "
          "(ours / PyAV) | ms per open (ours / PyAV / decord) |")
    print("|---|---|---|---|---|---|---|---|")
    for c in order:
        rs = runs[c]
        ours, pyav, dec = rs.get("libvidaction"), rs.get("pyav"), rs.get("decord")

        def fpc(x):
            if not x or any(r.get("frames_decoded") is None for r in x.values()):
                return "?"
            return "%.0f" % (sum(r["frames_decoded"] for r in x.values())
                             / sum(r["clips"] for r in x.values()))

        def mspo(x):
            if not x or any(r.get("open_s") is None for r in x.values()):
                return "–"
            return "%.1f" % statistics.median(1e3 * r["open_s"] / r["opens"] for r in x.values())
        print("| GOP %d, stride %d, K=%d | %s | %s | %s | %s | %s | %s / %s | %s / %s / %s |"
              % (c + (cell(ours, "cpu_s"), cell(pyav, "cpu_s"), ratio(ours, pyav, "cpu_s"),
                      cell(dec, "cpu_s"), ratio(ours, dec, "cpu_s"), fpc(ours), fpc(pyav),
                      mspo(ours), mspo(pyav), mspo(dec))))
    print()
    print("Machine: %s, pinned: %s; FFmpeg %s (libavcodec %s; PyAV's %s); PyAV %s; decord %s; "
          "TorchCodec %s"
          % (meta.get("cpu") or "unknown", meta.get("pin", "?"), meta.get("ffmpeg", "?"),
             meta.get("libavcodec", "?"), vers.get("pyav_ffmpeg") or "?",
             vers.get("pyav") or "not installed", vers.get("decord") or "not installed",
             vers.get("torchcodec") or "not installed"))
    print()
    print("Videos (libvidaction's scan: frames, width, height, fps, keyframes, longest keyframe "
          "gap, codec, file):")
    print()
    for v in meta.get("video", []):
        print("    " + v)
    print()
    print("Frame checks against libvidaction (rep 0, first open of every video):")
    print()
    for v in meta.get("check", []):
        print("    " + v)


def versions(quiet=False):
    v = {}
    try:
        import av
        v["pyav"] = av.__version__
        v["pyav_ffmpeg"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    except ImportError:
        v["pyav"] = None
    try:
        import decord
        v["decord"] = decord.__version__
    except ImportError:
        v["decord"] = None
    try:
        import torchcodec
        v["torchcodec"] = torchcodec.__version__
    except Exception:  # absent, or present without a torch it can load
        v["torchcodec"] = None
    if not quiet:
        print(json.dumps(v))
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impl", choices=["pyav", "decord"])
    ap.add_argument("--run", metavar="PLAN")
    ap.add_argument("--rep", type=int, default=0)
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
    if not args.impl or bool(args.run) == bool(args.check) or (args.check and not args.dump):
        ap.error("give --impl and one of --run PLAN or --check PLAN --dump FILE")
    reader = make_reader(args.impl)
    if args.run:
        run(reader, args.run, args.rep)
        return 0
    return check(reader, args.check, args.dump)


if __name__ == "__main__":
    sys.exit(main())
