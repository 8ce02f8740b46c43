#!/usr/bin/env python3
"""Paired comparison of `facetrack eval --per-face` reports on the same faces.

    tools/compare_evals.py BASE.csv OTHER.csv [OTHER2.csv ...] [--mean A.csv B.csv ...]

Each report has one row per face (image, missed, error, px_error, inter_ocular, x_0..x_N,
y_0..y_N; a face the detector missed is left out of the pairs, and counted).  For every OTHER it prints, against BASE: the mean and median NME, the
paired mean difference with its standard error, on how many faces it is better, the
same without the faces BASE gets badly wrong (NME over 10 %: one lost face moves a
mean of 183 by tenths of a point), and the difference by head turn (the nose tip's
offset from the eyes' midline, in eye distances, read from the ground-truth `.pts`
beside each image; bins < 0.1, 0.1-0.3, >= 0.3).

`--mean` adds one more row: the faces' points averaged over the given reports (an
ensemble of decoded points), scored against the ground truth like `facetrack eval`
(inter-ocular NME, outer eye corners 36 and 45).  It needs the `.pts` files.

Reads its inputs only; writes nothing.
"""

import argparse
import csv
import math
import os
import sys


def read_report(path):
    try:
        return _read_report(path)
    except OSError as e:
        sys.exit(f"{path}: {e.strerror}")
    except (KeyError, ValueError) as e:
        sys.exit(f"{path}: a row without a number where one belongs ({e})")


def _read_report(path):
    rows = {}
    missed = set()
    seen = set()
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        if "image" not in fields or "error" not in fields:
            sys.exit(f"{path}: not a `facetrack eval --per-face` report (no image/error columns)")
        n = sum(1 for c in fields if c.startswith("x_"))
        for r in reader:
            key = r["image"]
            if key in seen:  # several faces of one image: keep each, numbered in file order
                k = 2
                while f"{key}#{k}" in seen:
                    k += 1
                key = f"{key}#{k}"
            seen.add(key)
            # a face the detector missed has no error and no points: it is left out of the
            # pairs (and counted)
            if r.get("missed") == "1" or r["error"] in ("", "missed"):
                missed.add(key)
                continue
            pts = None
            if n:
                pts = [(float(r[f"x_{i}"]), float(r[f"y_{i}"])) for i in range(n)]
            rows[key] = (float(r["error"]), pts)
    if not rows:
        sys.exit(f"{path}: no faces")
    if missed:
        print(f"{path}: {len(missed)} faces the detector missed are left out", file=sys.stderr)
    return rows


def read_pts(image):
    """Ground truth for IMAGE (a .pts beside it, 1-based) in 0-based pixels, or None."""
    base = image.split("#")[0]
    pts_path = os.path.splitext(base)[0] + ".pts"
    try:
        text = open(pts_path).read()
    except OSError:
        return None
    try:
        body = text.split("{", 1)[1].split("}", 1)[0].split()
        v = [float(t) for t in body]
    except (IndexError, ValueError):
        return None
    if len(v) % 2:
        return None
    return [(v[i] - 1.0, v[i + 1] - 1.0) for i in range(0, len(v), 2)]


def turn(gt):
    """The nose tip's offset from the eyes' midline, in eye distances (68-point layout)."""
    if gt is None or len(gt) != 68:
        return None
    lx = sum(p[0] for p in gt[36:42]) / 6
    ly = sum(p[1] for p in gt[36:42]) / 6
    rx = sum(p[0] for p in gt[42:48]) / 6
    ry = sum(p[1] for p in gt[42:48]) / 6
    ex, ey = rx - lx, ry - ly
    d = math.hypot(ex, ey)
    if d == 0:
        return None
    nx, ny = gt[30][0] - (lx + rx) / 2, gt[30][1] - (ly + ry) / 2
    return abs(nx * ex + ny * ey) / (d * d)


def nme(pred, gt):
    iod = math.dist(gt[36], gt[45])
    return sum(math.dist(p, g) for p, g in zip(pred, gt)) / len(gt) / iod


def mean(v):
    return sum(v) / len(v) if v else float("nan")


def median(v):
    s = sorted(v)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def paired(a, b):
    """Mean of b - a, its standard error, and how many faces b is better on."""
    d = [y - x for x, y in zip(a, b)]
    if not d:
        return float("nan"), float("nan"), 0
    m = mean(d)
    se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d)) if len(d) > 1 else float("nan")
    return m, se, sum(1 for x in d if x < -1e-9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base")
    ap.add_argument("others", nargs="*")
    ap.add_argument("--mean", nargs="+", default=[], metavar="REPORT",
                    help="also score the faces' points averaged over these reports")
    a = ap.parse_args()

    base = read_report(a.base)
    reports = [(p, read_report(p)) for p in a.others]
    keys = [k for k in base if all(k in r for _, r in reports)]
    gts = {k: read_pts(k) for k in keys}

    if a.mean:
        members = [read_report(p) for p in a.mean]
        keys = [k for k in keys if all(k in m and m[k][1] for m in members)]
        ens = {}
        for k in keys:
            gt = gts[k]
            if gt is None:
                sys.exit(f"--mean needs the ground truth: no .pts for {k}")
            n = len(gt)
            pts = [(mean([m[k][1][i][0] for m in members]), mean([m[k][1][i][1] for m in members]))
                   for i in range(n)]
            ens[k] = (nme(pts, gt), pts)
        reports.append(("mean of " + " + ".join(os.path.basename(p) for p in a.mean), ens))

    b = [base[k][0] for k in keys]
    hard = {k for k in keys if base[k][0] > 0.10}
    bins = {}
    for k in keys:
        t = turn(gts[k])
        name = "unknown" if t is None else "frontal <0.1" if t < 0.1 else "0.1-0.3" if t < 0.3 else "turned >=0.3"
        bins.setdefault(name, []).append(k)

    pct = 100.0
    print(f"{len(keys)} faces; base {a.base}: mean {pct * mean(b):.3f} %, median {pct * median(b):.3f} %")
    if hard:
        print(f"  faces base gets over 10 % wrong: {len(hard)}")
    for name, r in reports:
        o = [r[k][0] for k in keys]
        m, se, wins = paired(b, o)
        print(f"{name}: mean {pct * mean(o):.3f} %, median {pct * median(o):.3f} %, "
              f"paired {pct * m:+.3f} ± {pct * se:.3f}, better on {wins}/{len(keys)}")
        if hard:
            ks = [k for k in keys if k not in hard]
            m2, se2, w2 = paired([base[k][0] for k in ks], [r[k][0] for k in ks])
            print(f"    without the {len(hard)} hard: {pct * m2:+.3f} ± {pct * se2:.3f}, better on {w2}/{len(ks)}")
        for bn in sorted(bins):
            ks = bins[bn]
            mb, seb, wb = paired([base[k][0] for k in ks], [r[k][0] for k in ks])
            print(f"    {bn} ({len(ks)}): {pct * mean([base[k][0] for k in ks]):.2f} -> "
                  f"{pct * mean([r[k][0] for k in ks]):.2f} %, {pct * mb:+.3f} ± {pct * seb:.3f}")


if __name__ == "__main__":
    main()
