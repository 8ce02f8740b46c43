"""dlib's 68-point pipeline on the same images and clips as facetrack (run by compare.sh).

Images: the faces listed in facetrack's --per-face CSV (the held-out 300-W subjects),
ground truth from their .pts files. dlib runs (a) with its HOG detector, (b) with the box
of the ground-truth points. Clips: NAME.mp4 + NAME.gt.csv; dlib runs (a) HOG on every
frame and (b) tracking-style, each frame's box taken from its previous landmarks.
Prints JSON; NME is the 300-W definition (outer eye corners 36 and 45 of the truth).
"""
import csv
import json
import subprocess
import sys
import time

import dlib
import numpy as np
from PIL import Image


def read_pts(path):
    t = open(path).read().split("{")[1].split("}")[0]
    return np.array(t.split(), float).reshape(68, 2) - 1.0  # 1-based -> 0-based


def nme(pred, truth):
    iod = np.linalg.norm(truth[36] - truth[45])
    return float(np.mean(np.linalg.norm(pred - truth, axis=1)) / iod)


def shape_np(shape):
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], float)


def box_of(points, scale=1.0):
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * scale
    return dlib.rectangle(int(round(cx - s / 2)), int(round(cy - s / 2)), int(round(cx + s / 2)), int(round(cy + s / 2)))


def images(per_face_csv, predictor, detector):
    rows = [r for r in csv.DictReader(open(per_face_csv))]
    res = {"hog": [], "gt_box": [], "missed": 0, "seconds_hog": 0.0}
    for r in rows:
        img_path = r["image"]
        truth = read_pts(img_path.rsplit(".", 1)[0] + ".pts")
        img = np.array(Image.open(img_path).convert("L"))
        t = time.perf_counter()
        dets = detector(img, 1)
        best = None
        for d in dets:
            c = np.array([(d.left() + d.right()) / 2, (d.top() + d.bottom()) / 2])
            if np.linalg.norm(c - truth.mean(0)) < 0.5 * np.ptp(truth[:, 0]):
                best = d
        if best is not None:
            res["hog"].append(nme(shape_np(predictor(img, best)), truth))
        else:
            res["missed"] += 1
        res["seconds_hog"] += time.perf_counter() - t
        res["gt_box"].append(nme(shape_np(predictor(img, box_of(truth))), truth))
    return {
        "faces": len(rows),
        "dlib_hog_nme_mean": float(np.mean(res["hog"])) if res["hog"] else None,
        "dlib_hog_nme_median": float(np.median(res["hog"])) if res["hog"] else None,
        "dlib_hog_missed": res["missed"],
        "dlib_gtbox_nme_mean": float(np.mean(res["gt_box"])),
        "dlib_gtbox_nme_median": float(np.median(res["gt_box"])),
        "dlib_hog_images_per_s": len(rows) / max(res["seconds_hog"], 1e-9),
    }


def frames(video):
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", video],
                           capture_output=True, text=True, check=True).stdout.strip().split(",")
    w, h = int(probe[0]), int(probe[1])
    p = subprocess.Popen(["ffmpeg", "-v", "error", "-i", video, "-f", "rawvideo", "-pix_fmt", "gray", "-"], stdout=subprocess.PIPE)
    while True:
        buf = p.stdout.read(w * h)
        if len(buf) < w * h:
            break
        yield np.frombuffer(buf, np.uint8).reshape(h, w)


def truth_of(gt_csv):
    out = {}
    for r in csv.DictReader(open(gt_csv)):
        if r["success"] == "1":
            out[int(r["frame"])] = np.array([[float(r[f"x_{i}"]), float(r[f"y_{i}"])] for i in range(68)])
    return out


def flicker(errs):
    d = [np.sqrt(np.mean(np.sum((e1 - e0) ** 2, axis=1))) / iod for (e0, e1, iod) in errs]
    return float(np.sqrt(np.mean(np.square(d))) * 100) if d else 0.0


def clips(names, predictor, detector):
    out = {}
    for mode in ("hog", "track"):
        nmes, found, total, secs, fl = [], 0, 0, 0.0, []
        for video in names:
            truth = truth_of(video[:-4] + ".gt.csv")
            prev, prev_err = None, None
            for k, img in enumerate(frames(video), start=1):
                t = time.perf_counter()
                pts = None
                if mode == "track" and prev is not None:
                    pts = shape_np(predictor(img, box_of(prev, 1.0)))
                else:
                    dets = detector(img, 1)
                    if dets:
                        pts = shape_np(predictor(img, max(dets, key=lambda d: d.area())))
                secs += time.perf_counter() - t
                prev = pts
                if k not in truth:
                    continue
                total += 1
                gt = truth[k]
                if pts is None:
                    prev_err = None
                    continue
                found += 1
                nmes.append(nme(pts, gt))
                err = pts - gt
                iod = np.linalg.norm(gt[36] - gt[45])
                if prev_err is not None:
                    fl.append((prev_err, err, iod))
                prev_err = err
        out[mode] = {"nme_mean": float(np.mean(nmes)) if nmes else None, "success_rate": found / max(total, 1),
                     "flicker": flicker(fl), "frames_per_s": total / max(secs, 1e-9)}
    return out


def main():
    model, per_face, clip_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    predictor = dlib.shape_predictor(model)
    detector = dlib.get_frontal_face_detector()
    import glob
    names = sorted(glob.glob(clip_dir + "/*.mp4"))
    print(json.dumps({"images": images(per_face, predictor, detector), "clips": clips(names, predictor, detector)}))


if __name__ == "__main__":
    main()
