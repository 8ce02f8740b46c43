"""Turn a teacher model's predictions (`facetrack eval --per-face`) into a label file.

Self-training / distillation: a teacher (a model, an ensemble from tools/ensemble.py, run
with `--flip`) predicts the 68 points of faces that carry only machine labels (the LFW and
YouTube-Faces frames, labelled by dlib's predictor), and the student trains on the
teacher's points instead. This writes them in the CSV layout of `lfw/labels.csv`
(`image,box_left,box_top,box_width,box_height,x0,y0,...`, 1-based pixel coordinates, box
= the points' bounding box), which every facetrack loader reads.

    facetrack eval --model TEACHER.onnx --flip --boxes gt --data ../shared/data/lfw/labels.csv --per-face runs/pseudo/lfw-pf.csv
    .deps/venv/bin/python tools/pseudo_labels.py runs/pseudo/lfw-pf.csv --out runs/pseudo/lfw.csv

Faces where the teacher and the old labels disagree by more than --max-disagreement
(NME, inter-ocular) are left out: one of the two is wrong there and we cannot tell which.
Image paths are written absolute, so the file can live anywhere (it must not be committed:
it is derived from the datasets).
"""
import argparse
import csv
import math
import os
import sys

from safe_write import write_whole


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("per_face", help="CSV from facetrack eval --per-face")
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-disagreement", type=float, default=0.10,
                    help="drop faces whose teacher-vs-label NME is above this (default 0.10)")
    args = ap.parse_args()
    if os.path.abspath(args.out) == os.path.abspath(args.per_face):
        sys.exit("the output must not be the input")
    with open(args.per_face, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "x_0" not in rows[0]:
        sys.exit(f"{args.per_face}: no predicted points (is it from facetrack eval --per-face?)")
    n = sum(1 for k in rows[0] if k.startswith("x_"))
    header = ["image", "box_left", "box_top", "box_width", "box_height"]
    for i in range(n):
        header += [f"x{i}", f"y{i}"]
    kept, missed, dropped = [], 0, 0
    for r in rows:
        if r["error"] in ("missed", "") or r["x_0"] == "":
            missed += 1
            continue
        if float(r["error"]) > args.max_disagreement:
            dropped += 1
            continue
        # eval writes 0-based pixel coordinates; label files here are 1-based
        xs = [float(r[f"x_{i}"]) + 1.0 for i in range(n)]
        ys = [float(r[f"y_{i}"]) + 1.0 for i in range(n)]
        if not all(math.isfinite(v) for v in xs + ys):
            dropped += 1
            continue
        left, top = min(xs), min(ys)
        row = [os.path.abspath(r["image"]), f"{left:.3f}", f"{top:.3f}",
               f"{max(xs) - left:.3f}", f"{max(ys) - top:.3f}"]
        for x, y in zip(xs, ys):
            row += [f"{x:.3f}", f"{y:.3f}"]
        kept.append(row)
    if not kept:
        sys.exit("no face left to write")
    def write(tmp):
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(kept)

    write_whole(args.out, write)
    print(f"{args.out}: {len(kept)} faces ({dropped} over {args.max_disagreement:.0%} "
          f"disagreement left out, {missed} without a prediction)")


if __name__ == "__main__":
    main()
