#!/usr/bin/env python3
"""Markdown table of a `vidaction study NAME --json` result (docs/reproduction.md's tables):
one row a point, video@1 mean +- sample std and the seeds' values.

    python3 test/study/table_study.py STUDY.json [--study S]

--study S keeps the points of one study of `study all`'s JSON.
"""
import json
import sys


def main():
    args = sys.argv[1:]
    only = None
    if "--study" in args:
        i = args.index("--study")
        only = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    res = json.load(open(args[0]))
    pts = [p for p in res["points"] if only is None or p.get("study") == only]
    if not pts:
        sys.exit("table_study.py: no point")
    seeds = range(res["first_seed"], res["first_seed"] + res["n_seeds"])
    print("| point | target | transfer | video@1 mean ± std | seeds %s |"
          % ", ".join(str(s) for s in seeds))
    print("| --- | --- | --- | --- | --- |")
    for p in pts:
        print("| %s | %s | %s | %.3f ± %.3f | %s |" % (
            p["name"], p["target"], p["transfer"], p["mean"], p["std"],
            ", ".join("%.3f" % v for v in p["seeds"])))


if __name__ == "__main__":
    main()
