#!/usr/bin/env python3
"""The studies' from-scratch recipe in PyTorch, on the clips libvidaction decodes.

    /usr/bin/python3 test/study/learn_torch.py DATA [--labels noun|verb|noun,verb]
        [--steps N] [--seed S] [--seeds K] [--lr X] [--stem-stride 1|2]
        [--threads T]

DATA is a target-epic set made by `vidaction synth DATA --preset target-epic
...` (its LABELS-train.tsv and LABELS-test.tsv). Every video is decoded once,
all its frames at a short side of 40, by the Python binding
(bindings/python: vidaction.Video.read, as `vidaction clip` decodes), so
both libraries see the same pixels. The network mirrors the studies'
DEMO_ARCH (R(2+1)D-10 at 1/4 width: stem 1x7x7 3->11 then 3x1x1 11->16, one
basic block a stage, 16/32/64/128 channels, torchvision's midplanes rule and
kaiming_normal_(fan_out) init, the classifier from N(0, 0.01)) and the
library's recipe (src/train/optimizer.c): 8-frame clips at stride 2 from a
random start, random 32x32 crops, the Kinetics mean and std, batch 16, SGD
(momentum 0.9, weight decay 1e-4 on conv and fc weights only), 5 linear
warm-up steps from 0.1 of the rate, cosine decay to 0, epochs of shuffled
videos. Evaluation as `vidaction eval --clips 4`: 4 uniformly spaced clips,
centre crop, mean softmax. --stem-stride 1 keeps the stem at full resolution
(4x the compute of every later layer): a probe of whether the task is
limited by pixels, not a model the library builds.

Then K runs for each label set, on seeds S..S+K-1, each printing one JSON
line: {"labels", "steps", "seed", "stem_stride", "final_loss" (mean of the
last 10 steps), "train_video_top1", "test_video_top1", "seconds", "torch"}.
Compare with `vidaction train --manifest DATA/LABELS-train.tsv --arch
r2plus1d --depth 10 --width 0.25 --clip-len 8 --stride 2 --short-side 40
--crop 32 --batch 16 --steps N --lr X --warmup 5 --schedule cosine --seed S`
and `vidaction eval MODEL --manifest DATA/LABELS-test.tsv --clips 4`
(docs/reproduction.md, Limits). The two draw different random numbers:
compare over seeds, not single runs.
"""

import argparse
import json
import math
import os
import random
import sys
import time

MEAN = (0.43216, 0.394666, 0.37645)
STD = (0.22803, 0.22145, 0.216989)
CLIP_LEN, CLIP_STRIDE, CROP, BATCH, WARMUP = 8, 2, 32, 16, 5


def load_split(np, vidaction, data, labels, split, cache):
    """[(class name, uint8 [T,H,W,3])] of DATA/LABELS-SPLIT.tsv; cache: path -> frames"""
    out = []
    with open(os.path.join(data, "%s-%s.tsv" % (labels, split))) as f:
        for line in f:
            rel, name = line.rstrip("\n").split("\t")[:2]
            if rel not in cache:
                with vidaction.Video(os.path.join(data, rel)) as v:
                    cache[rel] = v.read(np.arange(len(v)), short_side=40)
            out.append((name, cache[rel]))
    return out


def build(torch, nn, classes, stem_stride):
    F = nn.functional

    def sc(c):
        return max(1, int(math.floor(c * 0.25 + 0.5)))

    def mid(i, o):
        return (27 * i * o) // (9 * i + 3 * o)

    def conv21(i, o, m, s):
        return [nn.Conv3d(i, m, (1, 3, 3), (1, s, s), (0, 1, 1), bias=False), nn.BatchNorm3d(m),
                nn.ReLU(inplace=True), nn.Conv3d(m, o, (3, 1, 1), (s, 1, 1), (1, 0, 0), bias=False)]

    class Block(nn.Module):
        def __init__(self, i, o, s):
            super().__init__()
            m = mid(i, o)
            self.a = nn.Sequential(*conv21(i, o, m, s), nn.BatchNorm3d(o), nn.ReLU(inplace=True))
            self.b = nn.Sequential(*conv21(o, o, m, 1), nn.BatchNorm3d(o))
            self.down = None
            if s != 1 or i != o:
                self.down = nn.Sequential(nn.Conv3d(i, o, 1, s, bias=False), nn.BatchNorm3d(o))

        def forward(self, x):
            r = x if self.down is None else self.down(x)
            return F.relu(self.b(self.a(x)) + r)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv3d(3, sc(45), (1, 7, 7), (1, stem_stride, stem_stride), (0, 3, 3), bias=False),
                nn.BatchNorm3d(sc(45)), nn.ReLU(inplace=True),
                nn.Conv3d(sc(45), sc(64), (3, 1, 1), 1, (1, 0, 0), bias=False),
                nn.BatchNorm3d(sc(64)), nn.ReLU(inplace=True))
            blocks, c = [], sc(64)
            for planes, s in ((64, 1), (128, 2), (256, 2), (512, 2)):
                blocks.append(Block(c, sc(planes), s))
                c = sc(planes)
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(c, classes)
            for m in self.modules():
                if isinstance(m, nn.Conv3d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.normal_(self.fc.weight, 0, 0.01)
            nn.init.zeros_(self.fc.bias)

        def forward(self, x):
            return self.fc(F.adaptive_avg_pool3d(self.blocks(self.stem(x)), 1).flatten(1))

    return Net()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="a target-epic set made by vidaction synth")
    ap.add_argument("--labels", default="noun",
                    help="noun, verb or both (noun,verb): the runs of each on the same decoded videos")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1, help="the first seed (default 1)")
    ap.add_argument("--seeds", type=int, default=1, help="runs, on seeds S, S+1, ... (default 1)")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--stem-stride", type=int, default=2, choices=[1, 2])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.steps <= WARMUP:
        ap.error("--steps must be above the %d warm-up steps" % WARMUP)
    if args.seeds < 1:
        ap.error("--seeds must be positive")
    label_sets = args.labels.split(",")
    if not label_sets or any(x not in ("noun", "verb") for x in label_sets):
        ap.error("--labels: noun, verb or noun,verb")

    import numpy as np
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
    import vidaction
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    cache = {}
    for labels in label_sets:
        train = load_split(np, vidaction, args.data, labels, "train", cache)
        test = load_split(np, vidaction, args.data, labels, "test", cache)
        for seed in range(args.seed, args.seed + args.seeds):
            run(args, labels, seed, np, torch, nn, F, train, test)
    return 0


def run(args, labels, seed, np, torch, nn, F, train, test):
    names = sorted({n for n, _ in train})
    index = {n: i for i, n in enumerate(names)}
    span = (CLIP_LEN - 1) * CLIP_STRIDE + 1
    mean = torch.tensor(MEAN).view(3, 1, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1, 1)

    def clip(v, t0, y0, x0):
        if v.shape[0] < span:
            raise ValueError("a video of %d frames is shorter than a clip (%d)" % (v.shape[0], span))
        c = torch.from_numpy(np.ascontiguousarray(v[t0 : t0 + span : CLIP_STRIDE, y0 : y0 + CROP, x0 : x0 + CROP]))
        return (c.float().div(255).permute(3, 0, 1, 2) - mean) / std

    torch.manual_seed(seed)
    rnd = random.Random(seed)
    net = build(torch, nn, len(names), args.stem_stride)
    decay = [p for p in net.parameters() if p.dim() > 1]  # conv and fc weights, not BN or biases
    rest = [p for p in net.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-4}, {"params": rest, "weight_decay": 0}],
                          lr=args.lr, momentum=0.9)
    order, losses, t = [], [], time.time()
    for step in range(args.steps):
        f = 0.1 + 0.9 * step / WARMUP if step < WARMUP else \
            0.5 * (1 + math.cos(math.pi * (step - WARMUP) / (args.steps - WARMUP)))
        for g in opt.param_groups:
            g["lr"] = args.lr * f
        xs, ys = [], []
        for _ in range(BATCH):
            if not order:
                order = list(range(len(train)))
                rnd.shuffle(order)
            name, v = train[order.pop()]
            T, H, W, _ = v.shape
            xs.append(clip(v, rnd.randint(0, T - span), rnd.randint(0, H - CROP), rnd.randint(0, W - CROP)))
            ys.append(index[name])
        net.train()
        loss = F.cross_entropy(net(torch.stack(xs)), torch.tensor(ys))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())

    def video_top1(videos):
        net.eval()
        right = 0
        with torch.no_grad():
            for name, v in videos:
                T, H, W, _ = v.shape
                starts = [math.floor(k * (T - span) / 3 + 0.5) for k in range(4)]
                batch = torch.stack([clip(v, s, (H - CROP) // 2, (W - CROP) // 2) for s in starts])
                right += int(F.softmax(net(batch), 1).mean(0).argmax()) == index.get(name, -1)
        return right / len(videos)

    print(json.dumps({"labels": labels, "steps": args.steps, "seed": seed,
                      "stem_stride": args.stem_stride, "final_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
                      "train_video_top1": round(video_top1(train), 4),
                      "test_video_top1": round(video_top1(test), 4),
                      "seconds": round(time.time() - t, 1), "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
