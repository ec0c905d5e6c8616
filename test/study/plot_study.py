#!/usr/bin/env python3
"""Bar chart (mean +- std per point, each seed a dot) of a `vidaction study NAME --json` result,
as a PNG written with the standard library only (zlib, struct; a 5x7 bitmap font), so that
docs/reproduction.md's plots can be redrawn on a machine without matplotlib.

    python3 test/study/plot_study.py STUDY.json OUT.png [--title TEXT] [--chance P] [--study S]
                                     [--target T]

--study S keeps the points of one study (of `study all`'s JSON), --target T those of one target;
when the points have several targets, each bar is labelled with its target too.
"""
import json
import struct
import sys
import zlib

# 5x7 glyphs: 7 rows of 5 columns each ('#' on)
_ROWS = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    "-": (".....", ".....", ".....", ".###.", ".....", ".....", "....."),
    "+": (".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."),
    "@": (".###.", "#...#", "#.###", "#.#.#", "#.###", "#....", ".###."),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
    "/": (".....", "....#", "...#.", "..#..", ".#...", "#....", "....."),
    "=": (".....", ".....", "#####", ".....", "#####", ".....", "....."),
    ",": (".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."),
    "_": (".....", ".....", ".....", ".....", ".....", ".....", "#####"),
    " ": (".....",) * 7,
    "a": (".....", ".....", ".###.", "....#", ".####", "#...#", ".####"),
    "b": ("#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."),
    "c": (".....", ".....", ".###.", "#....", "#....", "#...#", ".###."),
    "d": ("....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"),
    "e": (".....", ".....", ".###.", "#...#", "#####", "#....", ".###."),
    "f": ("..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."),
    "g": (".....", ".####", "#...#", "#...#", ".####", "....#", ".###."),
    "h": ("#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"),
    "i": ("..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."),
    "j": ("...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."),
    "k": ("#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."),
    "l": (".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "m": (".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"),
    "n": (".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"),
    "o": (".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."),
    "p": (".....", ".....", "####.", "#...#", "####.", "#....", "#...."),
    "q": (".....", ".....", ".##.#", "#..##", ".####", "....#", "....#"),
    "r": (".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."),
    "s": (".....", ".....", ".###.", "#....", ".###.", "....#", "####."),
    "t": (".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."),
    "u": (".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"),
    "v": (".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "w": (".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."),
    "x": (".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"),
    "y": (".....", ".....", "#...#", "#...#", ".####", "....#", ".###."),
    "z": (".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"),
}
FONT = {k: "".join(v) for k, v in _ROWS.items()}
assert all(len(r) == 5 for v in _ROWS.values() for r in v) and all(len(v) == 7 for v in _ROWS.values())


def glyph(ch):
    g = FONT.get(ch.lower(), FONT[" "])
    g = (g + "." * 35)[:35]
    return [[g[r * 5 + c] == "#" for c in range(5)] for r in range(7)]


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = [[(255, 255, 255)] * w for _ in range(h)]

    def rect(self, x0, y0, x1, y1, rgb):
        for y in range(max(0, int(y0)), min(self.h, int(y1))):
            row = self.px[y]
            for x in range(max(0, int(x0)), min(self.w, int(x1))):
                row[x] = rgb

    def text(self, x, y, s, rgb=(0, 0, 0), scale=2):
        for i, ch in enumerate(s):
            g = glyph(ch)
            for r in range(7):
                for c in range(5):
                    if g[r][c]:
                        self.rect(x + (i * 6 + c) * scale, y + r * scale,
                                  x + (i * 6 + c + 1) * scale, y + (r + 1) * scale, rgb)

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(v for p in row for v in p) for row in self.px)

        def chunk(tag, data):
            c = struct.pack(">I", len(data)) + tag + data
            return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
            f.write(chunk(b"IEND", b""))


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    title, chance, only_study, only_target = None, None, None, None
    if "--title" in args:
        i = args.index("--title")
        title = args[i + 1]
        del args[i:i + 2]
    if "--chance" in args:
        i = args.index("--chance")
        chance = float(args[i + 1])
        del args[i:i + 2]
    for opt in ("--study", "--target"):
        if opt in args:
            i = args.index(opt)
            if opt == "--study":
                only_study = args[i + 1]
            else:
                only_target = args[i + 1]
            del args[i:i + 2]
    res = json.load(open(args[0]))
    pts = [p for p in res["points"]
           if (only_study is None or p.get("study") == only_study)
           and (only_target is None or p.get("target") == only_target)]
    if not pts:
        sys.exit("plot_study.py: no point left to plot")
    study = only_study or res["study"]
    many = len(set(p.get("target") for p in pts)) > 1
    extra = 18 if many else 0
    n = len(pts)
    bar_w, gap, left, top, plot_h = 70, 50, 70, 50, 300
    title = title or ("study %s: %s, mean +- std, dots = seeds" % (study, pts[0].get("metric", "")))
    w = max(left + n * (bar_w + gap) + 20, left + 12 * len(title) + 20)
    h = top + plot_h + 140 + extra
    cv = Canvas(w, h)
    colours = {"none": (150, 150, 150), "full": (40, 100, 190), "fc-only": (230, 140, 40)}
    ymax = max(1e-9, max(max(p["seeds"] + [p["mean"] + p["std"]]) for p in pts))
    ymax = min(1.0, (int(ymax * 10) + 1) / 10.0)

    def ypix(v):
        return top + plot_h - v / ymax * plot_h

    for k in range(0, 11):  # grid and axis labels every tenth of ymax
        v = ymax * k / 10
        cv.rect(left - 4, ypix(v), w - 10, ypix(v) + 1, (225, 225, 225))
        if k % 2 == 0:
            cv.text(4, ypix(v) - 7, "%.2f" % v)
    cv.rect(left - 1, top, left, top + plot_h, (0, 0, 0))
    cv.rect(left - 1, top + plot_h, w - 10, top + plot_h + 1, (0, 0, 0))
    if chance is not None:
        cv.rect(left, ypix(chance), w - 10, ypix(chance) + 2, (200, 40, 40))
    for i, p in enumerate(pts):
        x = left + gap // 2 + i * (bar_w + gap)
        col = colours.get(p.get("transfer", "full"), (40, 100, 190))
        cv.rect(x, ypix(p["mean"]), x + bar_w, top + plot_h, col)
        lo, hi = p["mean"] - p["std"], p["mean"] + p["std"]
        cx = x + bar_w // 2
        cv.rect(cx - 1, ypix(hi), cx + 1, ypix(lo) + 1, (0, 0, 0))
        cv.rect(cx - 8, ypix(hi), cx + 8, ypix(hi) + 2, (0, 0, 0))
        cv.rect(cx - 8, ypix(lo) - 1, cx + 8, ypix(lo) + 1, (0, 0, 0))
        for j, v in enumerate(p["seeds"]):
            dx = x + 8 + j * (bar_w - 16) // max(1, len(p["seeds"]) - 1)
            cv.rect(dx - 3, ypix(v) - 3, dx + 3, ypix(v) + 3, (0, 0, 0))
            cv.rect(dx - 2, ypix(v) - 2, dx + 2, ypix(v) + 2, (255, 255, 255))
        name = p["name"]
        for r, part in enumerate([name[:9], name[9:18]]):
            cv.text(x - 6, top + plot_h + 10 + r * 18, part)
        if many:
            cv.text(x - 6, top + plot_h + 46, p.get("target", "")[:9], (110, 110, 110))
        cv.text(x, top + plot_h + 50 + extra, "%.3f" % p["mean"])
    cv.text(left, 12, title)
    ly = top + plot_h + 80 + extra
    lx = left
    for name, col in colours.items():
        cv.rect(lx, ly, lx + 14, ly + 14, col)
        cv.text(lx + 20, ly, name)
        lx += 160
    if chance is not None:
        cv.rect(lx, ly + 6, lx + 14, ly + 8, (200, 40, 40))
        cv.text(lx + 20, ly, "chance %.3f" % chance, (200, 40, 40))
    cv.png(args[1])


if __name__ == "__main__":
    main()
