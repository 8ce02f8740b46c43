"""How a heat-map model's votes for each point are best combined (model card, "Experiments").

facetrack's decoder (src/inference/pip.rs) averages, for each point, its own estimate (its
best cell plus that cell's offset) and the votes its mesh neighbours cast for it from their
own best cells, at equal weight. This script decodes the float model's maps of a split's
tracked crops (written by `examples/vote_dump.rs`) and scores other ways to combine the same
votes: per-point weights fitted on the training faces, a coordinate-wise median, trimmed
means, and a robust (Huber) mean. NME over the outer-eye-corner distance, per face; paired
against the equal-weight mean.

    cargo run --release --example vote_dump -- models/facetrack68-fp32.onnx ../shared/data/300w train /tmp/train
    cargo run --release --example vote_dump -- models/facetrack68-fp32.onnx ../shared/data/300w val /tmp/val
    .deps/venv/bin/python tools/vote_study.py models/facetrack68-fp32.onnx /tmp/train /tmp/val
"""
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort

warnings.filterwarnings("ignore", category=RuntimeWarning)  # nan-means of absent votes


def votes(model, prefix):
    """Each face's per-point estimates [F, 68, 1 + most votes, 2] (grid cells; NaN where a
    point has fewer voters), its own estimate first, and the true points [F, 68, 2]."""
    meta = {p.key: p.value for p in onnx.load(model).metadata_props}
    k = int(meta["facetrack.pip_neighbors_per_point"])
    n = 68
    nb = np.array([int(x) for x in meta["facetrack.pip_neighbors"].split(",")]).reshape(n, k)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    x = np.load(prefix + "-crops.npy")
    y = np.load(prefix + "-points.npy")
    name = sess.get_inputs()[0].name
    maps = np.concatenate([sess.run(None, {name: x[i:i + 64]})[0] for i in range(0, len(x), 64)])
    f, _, h, w = maps.shape
    flat = maps.reshape(f, maps.shape[1], h * w)
    best = flat[:, :n].argmax(-1)
    cx, cy = best % w + 0.5, best // w + 0.5
    at = lambda lo, hi: np.take_along_axis(flat[:, lo:hi], best[:, :, None], -1)[..., 0]  # noqa: E731
    own = np.stack([cx + at(n, 2 * n), cy + at(2 * n, 3 * n)], -1)
    nbx = flat[:, 3 * n:3 * n + n * k].reshape(f, n, k, h * w)
    nby = flat[:, 3 * n + n * k:].reshape(f, n, k, h * w)
    pick = best[:, :, None, None].repeat(k, 2)
    vx = cx[:, :, None] + np.take_along_axis(nbx, pick, -1)[..., 0]
    vy = cy[:, :, None] + np.take_along_axis(nby, pick, -1)[..., 0]
    voters = [[(i, kk) for i in range(n) for kk in range(k) if nb[i, kk] == j] for j in range(n)]
    m = max(len(v) for v in voters)
    e = np.full((f, n, 1 + m, 2), np.nan, np.float32)
    e[:, :, 0] = own
    for j in range(n):
        for s, (i, kk) in enumerate(voters[j]):
            e[:, j, 1 + s] = np.stack([vx[:, i, kk], vy[:, i, kk]], -1)
    return e, y


def nme(pred, y):
    iod = np.linalg.norm(y[:, 36] - y[:, 45], axis=-1)
    return np.linalg.norm(pred - y, axis=-1).mean(-1) / iod


def weighted(e, w):
    wm = np.where(np.isnan(e[..., 0]), 0.0, w[None])
    return np.nansum(e * wm[..., None], 2) / wm.sum(2)[..., None]


def trimmed(e, frac):
    v = np.sort(e, axis=2)  # NaN last
    cnt = (~np.isnan(v[..., 0])).sum(2)
    out = np.empty(e.shape[:2] + (2,))
    for f in range(e.shape[0]):
        for j in range(e.shape[1]):
            t = int(frac * cnt[f, j])
            out[f, j] = v[f, j, t:cnt[f, j] - t].mean(0)
    return out


def huber(e, delta, iters=20):
    x = np.nanmean(e, 2)
    valid = ~np.isnan(e[..., 0])
    for _ in range(iters):
        r = np.linalg.norm(e - x[:, :, None], axis=-1)
        w = np.where(valid, np.where(r <= delta, 1.0, delta / np.maximum(r, 1e-9)), 0.0)
        x = np.nansum(e * w[..., None], 2) / w.sum(2)[..., None]
    return x


def main():
    model, train, val = sys.argv[1:4]
    et, yt = votes(model, train)
    ev, yv = votes(model, val)
    iod = np.linalg.norm(yt[:, 36] - yt[:, 45], axis=-1)[:, None, None, None]
    var = np.nanmean((((et - yt[:, :, None]) / iod) ** 2).sum(-1), 0)
    inv = np.where(np.isnan(var), 0.0, 1.0 / np.where(np.isnan(var), 1.0, var))
    rules = [("equal weights (facetrack's decoder)", lambda e: np.nanmean(e, 2)),
             ("own estimate only", lambda e: e[:, :, 0])]
    rules += [(f"own estimate at weight {w0:g}",
               lambda e, w0=w0: weighted(e, np.concatenate([[w0], np.ones(e.shape[2] - 1)])[None].repeat(68, 0)))
              for w0 in (0.5, 2, 5)]
    rules += [("inverse variance per vote (training faces)", lambda e: weighted(e, inv)),
              ("coordinate-wise median", lambda e: np.nanmedian(e, 2))]
    rules += [(f"trimmed mean {f:.0%} each side", lambda e, f=f: trimmed(e, f)) for f in (0.1, 0.2, 0.3)]
    rules += [(f"Huber mean, {d:g} cells", lambda e, d=d: huber(e, d)) for d in (0.05, 0.1, 0.2, 0.4)]
    base = nme(np.nanmean(ev, 2), yv)
    keep = base < 0.10
    print(f"{len(yt)} training and {len(yv)} validation faces; {int((~keep).sum())} validation faces over 10 %")
    print("| combination | val mean / median | paired ± s.e. (better on) | without faces over 10 % | train mean / median |")
    print("|---|---:|---:|---:|---:|")
    for label, rule in rules:
        ev_, et_ = nme(rule(ev), yv), nme(rule(et), yt)
        d = ev_ - base
        se = lambda a: a.std() / np.sqrt(len(a))  # noqa: E731
        print(f"| {label} | {100 * ev_.mean():.3f} / {100 * np.median(ev_):.3f} % "
              f"| {100 * d.mean():+.3f} ± {100 * se(d):.3f} ({(d < 0).sum()}) "
              f"| {100 * d[keep].mean():+.4f} ± {100 * se(d[keep]):.4f} "
              f"| {100 * et_.mean():.3f} / {100 * np.median(et_):.3f} % |")


if __name__ == "__main__":
    main()
