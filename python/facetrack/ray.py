"""Many videos across a Ray cluster (``pip install facetrack[ray]``).

    import ray, facetrack.ray
    ray.init()                                  # a laptop: a local Ray; a cluster: ray.init(address="auto")
    table = facetrack.ray.process_videos("recordings/", "landmarks/")
    failed = [r for r in table if not r["ok"]]

One video is one task on a pool of Ray actors, one actor per CPU by default, each with
its own tracker: the model is loaded once per worker, not once per video. Each result is
written under a temporary name in the output folder and renamed when the video is done,
so a task that is retried (a worker that died is restarted and its task run again) never
leaves a half-written or doubled file. The output folder must be a path every node sees
(a shared file system); outputs are CSV in OpenFace's layout, or Parquet (``fmt="parquet"``,
needs pandas and pyarrow on the workers).

The summary is a list of dicts, one per input in input order: ``video``, ``ok``,
``output``, ``frames``, ``frames_with_face``, ``faces``, ``fps``, ``seconds``, ``host``,
``attempt`` (2 or more: the task ran again after its worker died) and, for failures,
``error``.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import ray

import facetrack

#: Extensions taken from a folder (as the command line's --out-dir does).
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}

#: Fault injection for tests of the retry path: a path whose worker exits (as if killed)
#: the first time it takes a video whose name contains this text.
FAULT_ENV = "FACETRACK_RAY_FAULT_ONCE"


def _videos(inputs) -> list[str]:
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out = []
    for p in map(Path, inputs):
        if p.is_dir():
            found = sorted(str(q) for q in p.iterdir() if q.suffix.lower() in VIDEO_EXTENSIONS and q.is_file())
            if not found:
                raise ValueError(f"{p}: the folder holds no video files")
            out.extend(found)
        else:
            out.append(str(p))
    return out


def _inject_fault(video: str, out_dir: Path) -> None:
    marker = os.environ.get(FAULT_ENV)
    if not marker or marker not in Path(video).name:
        return
    flag = out_dir / f".fault-{Path(video).stem}"
    if not flag.exists():
        flag.write_text("the first attempt died here\n")
        os._exit(1)


@ray.remote
class _Worker:
    """One tracker, reused for every video this worker is given."""

    def __init__(self, model, options):
        self.tracker = facetrack.Tracker(model=model, **options)
        self.host = socket.gethostname()

    def run(self, video: str, out_dir: str, fmt: str) -> dict:
        out = Path(out_dir)
        stem = Path(video).stem
        final = out / f"{stem}.{fmt}"
        tmp_csv = out / f".{stem}.{os.getpid()}.{time.time_ns()}.csv"
        # attempts are counted in the output folder, so a retry after a dead worker knows
        attempts = out / f".{stem}.attempts"
        n = (int(attempts.read_text() or 0) if attempts.exists() else 0) + 1
        attempts.write_text(str(n))
        row = {"video": video, "output": str(final), "host": self.host, "attempt": n}
        _inject_fault(video, out)
        t0 = time.time()
        try:
            s = self.tracker.process_video(video, csv=tmp_csv, overwrite=True)
            if fmt == "parquet":
                tmp_pq = tmp_csv.with_suffix(".parquet")
                facetrack.read_csv(tmp_csv, as_frame=True).to_parquet(tmp_pq, index=False)
                os.replace(tmp_pq, final)
                os.remove(tmp_csv)
            else:
                os.replace(tmp_csv, final)  # atomic: the final name appears once, complete
            row.update(ok=True, seconds=time.time() - t0,
                       **{k: s[k] for k in ("frames", "frames_with_face", "faces", "fps")})
        except Exception as e:  # a bad video is this row's failure, not the batch's
            for p in (tmp_csv, tmp_csv.with_suffix(".parquet")):
                if p.exists():
                    p.unlink()
            row.update(ok=False, error=f"{type(e).__name__}: {e}", seconds=time.time() - t0)
        attempts.unlink(missing_ok=True)
        return row


def process_videos(inputs, out_dir, *, workers=None, fmt="csv", model=None, max_retries=2,
                   threads=1, **tracker_options) -> list[dict]:
    """Track every video of ``inputs`` (paths and/or folders) into ``out_dir``.

    Uses the running Ray (``ray.init()`` first for a local one, ``ray.init(address=...)``
    for a cluster; started locally if none is). ``workers``: actors (default: the
    cluster's CPUs); ``threads``: ONNX Runtime threads per worker; ``max_retries``: how
    often a dead worker is restarted and its task retried; other keywords go to
    :class:`facetrack.Tracker`. Returns the summary table (see the module's doc).
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt={fmt!r}: 'csv' or 'parquet'")
    videos = _videos(inputs)
    names: dict[str, str] = {}
    for v in videos:
        stem = Path(v).stem
        if stem in names:
            raise ValueError(f"{names[stem]} and {v} would both write {stem}.{fmt}; rename one")
        names[stem] = v
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        ray.init()
    model_path = facetrack._model_path(model)
    options = dict(tracker_options, threads=threads)
    n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    n = max(1, min(n, len(videos)))
    actors = [
        _Worker.options(num_cpus=1, max_restarts=max_retries, max_task_retries=max_retries).remote(model_path, options)
        for _ in range(n)
    ]
    refs = [actors[i % n].run.remote(v, str(out), fmt) for i, v in enumerate(videos)]
    table = []
    for v, ref in zip(videos, refs):
        try:
            table.append(ray.get(ref))
        except ray.exceptions.RayError as e:
            table.append({"video": v, "ok": False, "output": None, "error": f"{type(e).__name__}: {e}"})
    for a in actors:
        ray.kill(a)
    for flag in list(out.glob(".fault-*")) + list(out.glob(".*.attempts")):
        flag.unlink()
    return table
