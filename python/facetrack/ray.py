"""Many videos across a Ray cluster (``pip install facetrack[ray]``).

    import ray, facetrack.ray
    ray.init()                                  # a laptop: a local Ray; a cluster: ray.init(address="auto")
    table = facetrack.ray.process_videos("recordings/", "landmarks/")
    failed = [r for r in table if not r["ok"]]

Videos are tasks for a pool of Ray actors, one actor per CPU by default, each with its
own tracker: the model is loaded once per worker, not once per video. Work goes to
whichever worker is free, longest videos (largest files) first, a bounded number of
tasks per worker at a time, so one long video among short ones does not hold the others
up. A worker that dies (killed, out of memory, its node removed) is replaced and its
video runs again on a live worker, up to ``max_retries`` more times. Rows stream back as
videos finish (:func:`iter_videos`); ``progress(done, total, row)`` is called for each
(a bar on stderr by default when it is a terminal).

Each result is written under a hidden temporary name that belongs to this run
(``.facetrack-RUN-...``) in the output folder and renamed when the video is done, so a
retried video never leaves a half-written or doubled file, and an existing output is
kept unless ``overwrite=True``; when the run ends (or fails, or is interrupted) the
actors are killed and this run's temporary files removed, nobody else's. The output
folder must be a path every node sees (a shared file system); outputs are CSV in
OpenFace's layout, or Parquet (``fmt="parquet"``, needs pandas and pyarrow on the
workers). Without a shared file system, ``tables=True`` returns each video's landmarks
as a pandas DataFrame through Ray's object store (``out_dir`` may then be ``None``).

The summary is a list of dicts, one per input in input order, each with the keys of
:data:`ROW_KEYS` (``None`` where a value is unknown, as ``frames`` of a failed video):
``video``, ``ok``, ``output``, ``frames``, ``frames_with_face``, ``faces``, ``fps``,
``seconds``, ``skipped_packets`` (packets the decoder skipped: a truncated or damaged
file), ``end_note`` (``None``, or why the video ended early: an MP4 cut short), ``scene_cuts``
(cuts between shots that ended tracks: new ids after each), ``crowded_runs`` (detector
runs that saw more faces than ``max_faces`` let it track: faces in no row), ``worker`` (the number of the actor that ran it, stable for an actor), ``host``,
``node`` (Ray's node id), ``attempt`` (2 or more: it ran again after a worker died),
``started`` and ``finished`` (seconds since the epoch, on the worker), ``error``
(``None`` on success) and ``already_done`` (true for a video that ``skip_existing=True``
left alone because its output was there: then only ``video``, ``ok`` and ``output`` are
set, or ``error`` with ``ok`` false where ``tables=True`` could not read the file back:
a Parquet file is read back on the driver, which then needs pandas and pyarrow too);
with ``tables=True`` also ``table``.
"""

from __future__ import annotations

import collections
import difflib
import operator
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional

import ray

import facetrack
from facetrack._types import RayRow

#: Extensions taken from a folder: the command line's (``facetrack video DIR``), from the library.
VIDEO_EXTENSIONS = frozenset("." + e for e in facetrack._facetrack.VIDEO_EXTENSIONS)

#: Fault injection for tests of the retry path: a worker exits (as if killed) part-way
#: through writing the first time it takes a video whose name contains this text.
FAULT_ENV = "FACETRACK_RAY_FAULT_ONCE"
#: Frames the injected fault lets a worker write before it dies.
FAULT_AFTER_FRAMES = 10

#: The keys of every summary row, success or failure alike.
ROW_KEYS = ("video", "ok", "output", "frames", "frames_with_face", "faces", "fps", "seconds",
            "skipped_packets", "end_note", "scene_cuts", "crowded_runs", "worker", "host", "node", "attempt", "started", "finished", "error",
            "already_done")

#: Keywords passed on to :class:`facetrack.Tracker`.
TRACKER_OPTIONS = ("device", "max_faces", "smooth", "detect_every", "min_face", "flip", "min_cutoff", "beta",
                   "no_pose", "fx", "fy", "cx", "cy")
#: Keywords passed on to :meth:`facetrack.Tracker.process_video` for each video.
VIDEO_OPTIONS = ("keep_orientation", "smooth_offline", "csv_format", "point_confidence")
_OWN_OPTIONS = ("workers", "fmt", "model", "max_retries", "threads", "overwrite", "skip_existing",
                "progress", "tables", "tasks_per_worker")
_SUMMARY_KEYS = ("frames", "frames_with_face", "faces", "fps", "skipped_packets", "end_note", "scene_cuts",
                 "crowded_runs")


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
        elif p.exists():
            out.append(str(p))
        else:
            # checked here, before a cluster is started for it
            raise facetrack.FacetrackError(f"{p}: no such file or folder")
    if not out:
        raise ValueError("no videos given")
    return out


def _whole(name: str, value, least: int) -> int:
    """``value`` as an int (numpy's integers too, as the Tracker takes them), at least ``least``."""
    try:
        n = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        n = None
    if n is None:  # a wrong type is a TypeError, as facetrack.Tracker's options
        raise TypeError(f"{name}={value!r}: a whole number, at least {least}")
    if n < least:
        raise ValueError(f"{name}={value!r}: a whole number, at least {least}")
    return n


def _is_bool(value) -> bool:
    """``True``/``False``, numpy's too (as :class:`facetrack.Tracker` takes them)."""
    return isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool_", "bool"))


def _check_options(tracker_options: dict, workers, max_retries, threads, tasks_per_worker) -> None:
    """Every option checked on the driver, so a typo fails at once, not in each actor."""
    known = TRACKER_OPTIONS + VIDEO_OPTIONS
    for k in tracker_options:
        if k not in known:
            close = difflib.get_close_matches(k, known + _OWN_OPTIONS, n=1)
            hint = f"; did you mean {close[0]}=?" if close else ""
            raise TypeError(f"process_videos() got an unexpected keyword argument {k!r}{hint} "
                            f"(tracker and video options: {', '.join(known)})")
    device = tracker_options.get("device", "cpu")
    if not isinstance(device, str):
        raise TypeError(f"device={device!r}: 'cpu', 'cuda' or 'cuda:N'")
    if not re.fullmatch(r"cpu|cuda(:\d+)?", device, re.IGNORECASE):
        raise ValueError(f"device={device!r}: 'cpu', 'cuda' or 'cuda:N'")
    for k in ("max_faces", "detect_every", "min_face"):
        # min_face=None: the default (scaled with the frame), as for Tracker
        if k in tracker_options and not (k == "min_face" and tracker_options[k] is None):
            _whole(k, tracker_options[k], 1)
    for k in ("smooth", "flip", "keep_orientation", "smooth_offline", "point_confidence"):
        if not _is_bool(tracker_options.get(k, False)):
            raise TypeError(f"{k}={tracker_options[k]!r}: True or False")
    # the pose's and the smoothing's options, checked as Tracker checks their types
    facetrack._treatment(*(tracker_options.get(k, d) for k, d in (
        ("no_pose", False), ("fx", None), ("fy", None), ("cx", None), ("cy", None), ("min_cutoff", 1.0),
        ("beta", 0.05))))
    if tracker_options.get("smooth") and tracker_options.get("smooth_offline"):
        raise ValueError("smooth=True (one-sided, for live use) and smooth_offline=True (two-sided) "
                         "exclude each other")
    fmt = tracker_options.get("csv_format", "plain")
    if not isinstance(fmt, str):
        raise TypeError(f"csv_format={fmt!r}: 'plain' or 'openface'")
    if fmt.lower() not in ("plain", "openface"):
        raise ValueError(f"csv_format={fmt!r}: 'plain' or 'openface'")
    if workers is not None:
        _whole("workers", workers, 1)
    _whole("max_retries", max_retries, 0)
    _whole("threads", threads, 0)
    if threads > facetrack._facetrack.MAX_THREADS:
        raise ValueError(f"threads={threads!r}: at most {facetrack._facetrack.MAX_THREADS} (0: one per core)")
    _whole("tasks_per_worker", tasks_per_worker, 1)


def _row(video: str, **values) -> dict:
    row = dict.fromkeys(ROW_KEYS)
    row.update(video=video, ok=False)
    row.update(values)
    return row


def _commit(src: Path, final: Path, overwrite: bool) -> None:
    """Rename a finished output to its name; without ``overwrite`` an existing file
    there (made since the run started) is kept: linking cannot replace it."""
    if overwrite:
        os.replace(src, final)
        return
    try:
        os.link(src, final)
    except FileExistsError:
        raise facetrack.FacetrackError(f"{final} already exists; pass overwrite=True to replace it") from None
    except OSError:  # a file system without hard links
        if final.exists():
            raise facetrack.FacetrackError(f"{final} already exists; pass overwrite=True to replace it") from None
        os.replace(src, final)
        return
    os.unlink(src)


def _fault(video: str, flag: Path) -> Optional[Callable]:
    """The test hook of :data:`FAULT_ENV`: a progress callback that kills this worker
    once frames are written, the first time only."""
    marker = os.environ.get(FAULT_ENV)
    if not marker or marker not in Path(video).name or flag.exists():
        return None

    def die(done, total):
        if done >= FAULT_AFTER_FRAMES:
            flag.write_text("the first attempt died here\n")
            os._exit(1)

    return die


@ray.remote
class _Worker:
    """One tracker, reused for every video this worker is given."""

    def __init__(self, number, model, options):
        self.where = {"worker": number, "host": socket.gethostname(),
                      "node": ray.get_runtime_context().get_node_id()}
        # a tracker that cannot start (a model ONNX Runtime refuses, no CUDA on this node)
        # is said by ready() in one line, not as Ray's traceback of the actor's death
        try:
            self.tracker = facetrack.Tracker(model=model, **options)
            self.error = None
        except Exception as e:
            self.error = f"{type(e).__name__}: {e} (on {self.where['host']})"

    def ready(self) -> dict:
        return dict(self.where, error=self.error)

    def run(self, video: str, job: dict) -> dict:
        row = _row(video, attempt=job["attempt"], started=time.time(), **self.where)
        tmpdir = None
        if job["temp"] is None:  # tables only: a scratch folder on this node
            tmpdir = tempfile.TemporaryDirectory(prefix=f"facetrack-{job['run']}-")
            base = Path(tmpdir.name) / "faces"
        else:
            base = Path(job["temp"])
        tmp_csv, tmp_pq = base.with_suffix(".csv"), base.with_suffix(".parquet")
        flag_dir = Path(job["temp"]).parent if job["temp"] else Path(tempfile.gettempdir())
        flag = flag_dir / f".facetrack-{job['run']}-fault-{job['index']}"
        try:
            s = self.tracker.process_video(job["path"], csv=tmp_csv, overwrite=True, progress=_fault(video, flag),
                                           **job["video_options"])
            frame = None
            if job["fmt"] == "parquet" or job["tables"]:
                frame = facetrack.read_csv(tmp_csv, as_frame=True)
            if job["final"] is not None:
                src = tmp_csv
                if job["fmt"] == "parquet":
                    frame.to_parquet(tmp_pq, index=False)
                    src = tmp_pq
                _commit(src, Path(job["final"]), job["overwrite"])
            row.update(ok=True, output=job["output"], **{k: s[k] for k in _SUMMARY_KEYS})
            if job["tables"]:
                row["table"] = frame
        except Exception as e:  # a bad video is this row's failure, not the batch's
            # named by the output as given, not this run's hidden name for it
            message = str(e)
            if job["output"] is not None:  # the file that becomes the output
                hidden = tmp_pq if job["fmt"] == "parquet" else tmp_csv
                message = message.replace(str(hidden), job["output"])
            row["error"] = f"{type(e).__name__}: {message}"
            if job["tables"]:
                row["table"] = None
        finally:
            for p in (tmp_csv, tmp_pq):
                p.unlink(missing_ok=True)
            if tmpdir is not None:
                tmpdir.cleanup()
        row["finished"] = time.time()
        row["seconds"] = row["finished"] - row["started"]
        return row


def _remove_scratch(run: str) -> None:
    """Remove the scratch folders of run ``run`` in this node's temporary folder."""
    import shutil

    tmp = Path(tempfile.gettempdir())
    for p in tmp.glob(f"facetrack-{run}-*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


def _sweep_nodes(run: str, nodes: set) -> None:
    """Remove run ``run``'s scratch folders on each of ``nodes`` (a small task pinned to
    each; a node gone since is passed over) and on the driver's."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    _remove_scratch(run)
    try:
        task = ray.remote(num_cpus=0, max_retries=0)(_remove_scratch)
        refs = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote(run)
                for n in nodes]
        ray.wait(refs, num_returns=len(refs), timeout=15)
    except Exception:  # Ray going down: the driver's node is swept, the others pass
        pass


def _remove_temporaries(folder: Optional[Path], tag: str) -> None:
    """Remove the files of ``folder`` whose names carry ``tag`` (a run's, or one video's
    in a run): temporary outputs, the library's partial files under them, fault flags."""
    if folder is None or not folder.is_dir():
        return
    for name in os.listdir(folder):
        if tag in name and not (folder / name).is_dir():
            (folder / name).unlink(missing_ok=True)


class _ProgressBar:
    """The default progress report on a terminal: one line on stderr, redrawn."""

    WIDTH = 30

    def __init__(self):
        self.failed = 0

    def __call__(self, done, total, row):
        self.failed += not row["ok"]
        fill = self.WIDTH * done // max(total, 1)
        bad = f", {self.failed} failed" if self.failed else ""
        end = "\n" if done == total else ""
        sys.stderr.write(f"\rfacetrack: [{'#' * fill}{'.' * (self.WIDTH - fill)}] {done}/{total} videos{bad}{end}")
        sys.stderr.flush()


def iter_videos(inputs, out_dir=None, *, workers=None, fmt="csv", model=None, max_retries=2, threads=1,
                overwrite=False, skip_existing=False, progress=None, tables=False, tasks_per_worker=1,
                **tracker_options) -> Iterator[RayRow]:
    """As :func:`process_videos`, but a generator of the rows in the order the videos
    finish. Options are checked when it is called; the work starts at the first
    ``next()``. Closing it early (``break``) kills the actors and removes this run's
    temporary files."""
    plan = _plan(inputs, out_dir, workers, fmt, model, max_retries, threads, (overwrite, skip_existing), progress,
                 tables, tasks_per_worker, tracker_options)
    return _rows_only(_schedule(plan))


def _rows_only(scheduled) -> Iterator[dict]:
    try:
        for _, row in scheduled:
            yield row
    finally:
        scheduled.close()


def _plan(inputs, out_dir, workers, fmt, model, max_retries, threads, existing_rule, progress, tables,
          tasks_per_worker, tracker_options) -> dict:
    """Everything checked and decided before Ray is touched."""
    _check_options(tracker_options, workers, max_retries, threads, tasks_per_worker)
    overwrite, skip_existing = existing_rule
    # (a string such as "false" would be taken as true: overwrite="no" replaced outputs)
    for name, value in (("overwrite", overwrite), ("skip_existing", skip_existing), ("tables", tables)):
        if not _is_bool(value):
            raise TypeError(f"{name}={value!r}: True or False")
    if not (progress is None or progress is False or callable(progress)):
        raise TypeError(f"progress={progress!r}: a function progress(done, total, row), None or False")
    if overwrite and skip_existing:
        raise ValueError("overwrite=True and skip_existing=True exclude each other")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt={fmt!r}: 'csv' or 'parquet'")
    if out_dir is None and not tables:
        raise ValueError("give out_dir (a folder every node sees) or tables=True (or both)")
    if out_dir is None and skip_existing:
        raise ValueError("skip_existing=True needs out_dir (it leaves the videos whose output is there)")
    videos = _videos(inputs)
    out = None if out_dir is None else Path(out_dir)
    if out is not None and out.exists() and not out.is_dir():
        raise facetrack.FacetrackError(f"out_dir={str(out)!r} is a file; an output folder is needed")
    finals = [None] * len(videos)
    shown = finals
    done_before: list[int] = []
    if out is not None:
        names: dict[str, str] = {}
        for v in videos:
            stem = Path(v).stem
            if stem in names:
                if os.path.realpath(names[stem]) == os.path.realpath(v):
                    same = "" if names[stem] == v else f" (as {names[stem]} and {v})"
                    raise ValueError(f"{v} is given twice{same}")
                raise ValueError(f"{names[stem]} and {v} would both write {stem}.{fmt}; rename one")
            names[stem] = v
        finals = [out / f"{Path(v).stem}.{fmt}" for v in videos]
        folders = [str(f) for f in finals if f.is_dir()]
        if folders:
            raise facetrack.FacetrackError(f"{folders[0]} is a folder where an output is to be written; move it "
                                           "away or choose another out_dir")
        existing = [str(f) for f in finals if f.exists()]
        shown = [str(f) for f in finals]
        if skip_existing:
            done_before = [i for i, f in enumerate(finals) if f.exists()]
        elif existing and not overwrite:
            more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
            raise facetrack.FacetrackError(f"{', '.join(existing[:3])}{more} already exist(s); "
                                           "pass overwrite=True to replace them")
    model_path = os.path.abspath(facetrack._model_path(model, tracker_options.get("device", "cpu"), stacklevel=4))
    if progress is None and sys.stderr.isatty():
        progress = _ProgressBar()
    options = {k: v for k, v in tracker_options.items() if k in TRACKER_OPTIONS}
    options["threads"] = threads
    video_options = {k: v for k, v in tracker_options.items() if k in VIDEO_OPTIONS}
    # the workers get absolute paths: a worker's working folder is not the driver's (a
    # cluster started with `ray start` elsewhere), and a relative name there is another
    # file or none; the rows show the names as given
    absolute = (lambda p: None if p is None else Path(os.path.abspath(p)))
    plan = dict(videos=videos, paths=[os.path.abspath(v) for v in videos], out=absolute(out),
                out_given=None if out is None else str(out),
                finals=[absolute(f) for f in finals], shown=shown, fmt=fmt, model=model_path, options=options,
                video_options=video_options,
                workers=workers, max_retries=max_retries, overwrite=bool(overwrite), done_before=done_before,
                progress=None if progress is False else progress, tables=bool(tables), per_worker=tasks_per_worker)
    return plan


def _schedule(plan) -> Iterator[tuple[int, dict]]:
    """The driver's loop: actors start, take a video whenever they have a free slot,
    longest first; a finished task's row is passed on, a lost worker's video queued again."""
    videos, out = plan["videos"], plan["out"]
    done = 0
    for i in plan["done_before"]:  # skip_existing: their outputs are there
        done += 1
        yield i, _report(plan, done, len(videos), _done_row(plan, i))
    todo = sorted(set(range(len(videos))) - set(plan["done_before"]))
    if not todo:
        return
    # the folders this run makes: removed at the end if the run left nothing in them (a
    # run whose workers could not start, or whose every video failed)
    made = [] if out is None else [d for d in (out, *out.parents) if not d.exists()]
    if out is not None:
        _writable_folder(out, made, plan["out_given"])
    if not ray.is_initialized():
        ray.init()
    run = uuid.uuid4().hex[:12]
    size = [os.path.getsize(p) if os.path.isfile(p) else 0 for p in plan["paths"]]
    queue = collections.deque((i, 1) for i in sorted(todo, key=lambda i: -size[i]))
    n = plan["workers"] or max(1, int(ray.cluster_resources().get("CPU", 1)))
    n = max(1, min(n, len(todo)))
    replacements = n * plan["max_retries"]
    actors: dict[int, object] = {}  # every actor started (killed in the end)
    load: dict[int, int] = {}  # tasks in flight on each ready actor
    starting: dict[object, int] = {}  # ready() reference -> actor number
    running: dict[object, tuple[int, int, int]] = {}  # task reference -> (video, attempt, actor)
    lost: set[int] = set()
    nodes: set[str] = set()  # where actors ran: their scratch folders are swept at the end
    ever_ready = False
    last_error = None

    def start_actor():
        k = len(actors)
        a = _Worker.options(num_cpus=1, max_restarts=0, max_task_retries=0).remote(
            k, plan["model"], plan["options"])
        actors[k] = a
        starting[a.ready.remote()] = k

    def lose_actor(k):
        nonlocal replacements
        if k in lost:
            return
        lost.add(k)
        load.pop(k, None)
        ray.kill(actors[k], no_restart=True)
        if replacements > 0 and (queue or running):
            replacements -= 1
            start_actor()

    def job(i, attempt):
        # no dot in the name: the worker adds the extension
        temp = None if out is None else out / f".facetrack-{run}-{i}-a{attempt}"
        return {"final": None if plan["finals"][i] is None else str(plan["finals"][i]),
                "output": plan["shown"][i], "path": plan["paths"][i],
                "temp": None if temp is None else str(temp), "fmt": plan["fmt"], "tables": plan["tables"],
                "overwrite": plan["overwrite"], "attempt": attempt, "run": run, "index": i,
                "video_options": plan["video_options"]}

    def dispatch():
        while queue and load:
            k = min(load, key=lambda k: (load[k], k))
            if load[k] >= plan["per_worker"]:
                return
            i, attempt = queue.popleft()
            running[actors[k].run.remote(videos[i], job(i, attempt))] = (i, attempt, k)
            load[k] += 1

    try:
        for _ in range(n):
            start_actor()
        while queue or running:
            dispatch()
            if not running and not starting:
                # no worker left to give the rest to
                for i, attempt in queue:
                    row = _row(videos[i], attempt=attempt - 1 or None,
                               error=f"no worker left to run it; the last one lost: {last_error}")
                    done += 1
                    yield i, _report(plan, done, len(videos), row)
                queue.clear()
                break
            [ref], _ = ray.wait(list(running) + list(starting), num_returns=1)
            if ref in starting:
                k = starting.pop(ref)
                try:
                    where = ray.get(ref)
                    failed = where["error"]  # its tracker could not start (a bad model, no CUDA)
                    nodes.add(where["node"])
                except ray.exceptions.RayError as e:  # it could not start (its node went)
                    failed = e
                if failed is None:
                    load[k] = 0
                    ever_ready = True
                    continue
                last_error = failed
                if ever_ready:
                    lose_actor(k)
                elif not starting:
                    raise facetrack.FacetrackError(f"the Ray workers could not start: {failed}")
                else:
                    lost.add(k)
                    ray.kill(actors[k], no_restart=True)  # its CPU back for the others
                continue
            i, attempt, k = running.pop(ref)
            try:
                row = ray.get(ref)
                if k in load:
                    load[k] -= 1
            except ray.exceptions.RayTaskError as e:  # the task itself failed (not the worker)
                if k in load:
                    load[k] -= 1
                row = _row(videos[i], attempt=attempt, error=f"{type(e).__name__}: {e}")
            except ray.exceptions.RayError as e:  # the worker died: the video goes to a live one
                last_error = e
                retry = attempt <= plan["max_retries"]
                if retry:  # queued before the worker is replaced: a pool of one replaces it for this
                    queue.appendleft((i, attempt + 1))
                lose_actor(k)
                _remove_temporaries(out, f"facetrack-{run}-{i}-a")
                if retry:
                    continue
                row = _row(videos[i], attempt=attempt, worker=k, error=f"{type(e).__name__}: {e}")
            dispatch()  # the freed worker's next video before the row goes to the caller
            done += 1
            yield i, _report(plan, done, len(videos), row)
    finally:
        # a worker killed inside a video (lost, or killed here with videos running) leaves
        # its tables-only scratch folder on its node
        sweep = out is None and bool(lost or running)
        for a in actors.values():
            ray.kill(a, no_restart=True)
        if running:  # wait for the killed workers to be gone before their files are removed
            try:
                ray.wait(list(running), num_returns=len(running), timeout=30)
            except (Exception, KeyboardInterrupt):  # Ray going down, or a second Ctrl-C:
                pass  # stop waiting and remove what is there now (the first error goes on)
        _remove_temporaries(out, f"facetrack-{run}-")
        _remove_temporaries(Path(tempfile.gettempdir()), f"facetrack-{run}-fault-")
        for d in made:  # deepest first; rmdir removes only an empty folder
            try:
                d.rmdir()
            except OSError:
                break
        if sweep:  # last: the rest is cleaned even if this is interrupted
            _sweep_nodes(run, nodes)


def _writable_folder(out: Path, made: list, shown: str) -> None:
    """Make the output folder and check that a file can be made in it, before any
    actor starts (a read-only or not writable folder would fail every video only after
    its work); a folder made here for nothing is removed again."""
    def hint(e: OSError) -> str:
        import errno

        return {errno.EROFS: " (the disk is read-only: choose another out_dir)",
                errno.EACCES: " (the folder is not writable: choose another out_dir or fix its permissions)",
                errno.EPERM: " (the folder is not writable: choose another out_dir or fix its permissions)",
                errno.ENOSPC: " (the disk is full)"}.get(e.errno, "")

    def unmake():
        for d in made:  # deepest first; rmdir removes only an empty folder
            try:
                d.rmdir()
            except OSError:
                pass

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        unmake()
        raise facetrack.FacetrackError(f"cannot make the folder {shown}: {e.strerror}{hint(e)}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".facetrack-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        unmake()
        raise facetrack.FacetrackError(f"cannot write in {shown}: {e.strerror}{hint(e)}") from None


def _done_row(plan, i) -> dict:
    """The row of a video that ``skip_existing`` leaves alone: its output, and with
    ``tables=True`` the landmarks read back from it."""
    row = _row(plan["videos"][i], ok=True, output=plan["shown"][i], already_done=True)
    if plan["tables"]:
        final = plan["finals"][i]
        try:
            if plan["fmt"] == "parquet":
                import pandas as pd

                row["table"] = pd.read_parquet(final)
            else:
                row["table"] = facetrack.read_csv(final, as_frame=True)
        except Exception as e:  # not a landmark file: this row's failure
            row.update(ok=False, table=None, error=f"{type(e).__name__}: {e}")
    return row


def _report(plan, done, total, row) -> dict:
    if row["already_done"] is None:
        row["already_done"] = False
    if plan["tables"]:
        row.setdefault("table", None)
    if plan["progress"] is not None:
        plan["progress"](done, total, row)
    return row


def process_videos(inputs, out_dir=None, *, workers=None, fmt="csv", model=None, max_retries=2, threads=1,
                   overwrite=False, skip_existing=False, progress=None, tables=False, tasks_per_worker=1,
                   **tracker_options) -> list[RayRow]:
    """Track every video of ``inputs`` (paths and/or folders) into ``out_dir``.
    The inputs are checked on the driver before Ray is touched: each must be there (on
    storage every node and the driver see), and at least one video given.

    Uses the running Ray (``ray.init()`` first for a local one, ``ray.init(address=...)``
    for a cluster; started locally if none is). ``workers``: actors (default: the
    cluster's CPUs); ``threads``: ONNX Runtime threads per worker; ``tasks_per_worker``:
    videos queued on a worker at once (1: each goes to whichever worker is free next);
    ``max_retries``: how often a video whose worker died runs again; ``overwrite``:
    replace existing outputs (else they are an error, raised before anything starts);
    ``skip_existing``: leave alone the videos whose output is there, and run the rest
    (finishes an interrupted or partly failed run; their rows have ``already_done``
    true and, with ``tables=True``, the table read back from the file);
    ``progress(done, total, row)``: called as each video finishes (default: a bar on
    stderr when it is a terminal; ``False``: none); ``tables=True``: each row also
    carries the landmarks as a pandas DataFrame (``table``), through the object store.
    Other keywords (``device``, ``max_faces``, ``smooth``, ``detect_every``,
    ``min_face``, ``flip``) go to :class:`facetrack.Tracker`, and ``keep_orientation``,
    ``smooth_offline``, ``csv_format``, ``point_confidence`` to each video's
    :meth:`facetrack.Tracker.process_video`; all are checked before any actor starts. Returns the summary table, in input order (see the module's doc).
    """
    plan = _plan(inputs, out_dir, workers, fmt, model, max_retries, threads, (overwrite, skip_existing), progress,
                 tables, tasks_per_worker, tracker_options)
    rows: list = [None] * len(plan["videos"])
    scheduled = _schedule(plan)
    try:
        for i, row in scheduled:
            rows[i] = row
    finally:
        scheduled.close()
    return rows


class Landmarks:
    """A callable class for Ray Data's ``map_batches``: the faces of each image of a
    batch, with the model loaded once per Ray worker.

        import numpy as np, ray, facetrack.ray
        ds = ray.data.read_images("photos/", mode="RGB")          # an "image" column
        n = max(1, int(ray.cluster_resources()["CPU"]) - 1)  # a CPU left to read the images
        ds = ds.map_batches(facetrack.ray.Landmarks, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=n),
                            fn_constructor_kwargs={"max_faces": 2})
        for row in ds.iter_rows(): row["num_faces"], row["points"]  # max_faces x 68 x 2

    ``column``: the images' column (uint8 ``H x W x 3`` RGB, gray, or ``x 4`` with
    ``channels="rgba"``); the batch
    comes back with ``num_faces`` (int), ``points`` (``max_faces x 68 x 2`` float32 per
    image), ``box`` (``max_faces x 4``: x, y, width, height) and ``confidence``
    (``max_faces``) added, the faces most confident first and the unused places NaN.
    The image column is kept unless ``keep_images=False``. ``threads``: ONNX Runtime
    threads per Ray worker (default 1, as :func:`process_videos`: Ray Data runs a worker
    per CPU, and more threads each would compete for the same cores). Other keywords go
    to :func:`facetrack.landmarks` (``channels``, ``min_face``, ``model``, ``device``,
    ``flip``).
    """

    #: The keywords passed on to :func:`facetrack.landmarks`.
    OPTIONS = ("channels", "min_face", "model", "device", "flip")

    def __init__(self, column="image", max_faces=4, keep_images=True, threads=1, **landmark_options):
        unknown = set(landmark_options) - set(self.OPTIONS)
        if unknown:
            raise TypeError(f"Landmarks: unknown option(s) {', '.join(sorted(unknown))}; "
                            f"{', '.join(self.OPTIONS)} go to facetrack.landmarks")
        self.column, self.keep_images = column, keep_images
        self.max_faces = _whole("max_faces", max_faces, 1)
        self.options = dict(landmark_options, threads=_whole("threads", threads, 0))

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        images = batch[self.column]
        n, m = len(images), self.max_faces
        points = np.full((n, m, facetrack.NUM_POINTS, 2), np.nan, np.float32)
        boxes = np.full((n, m, 4), np.nan, np.float32)
        confidence = np.full((n, m), np.nan, np.float32)
        num_faces = np.zeros(n, np.int64)
        for k, image in enumerate(images):
            faces = facetrack.landmarks(np.ascontiguousarray(image), max_faces=m, **self.options)
            faces = sorted(faces, key=lambda f: -f.confidence)[:m]
            num_faces[k] = len(faces)
            for j, f in enumerate(faces):
                points[k, j], boxes[k, j], confidence[k, j] = f.points, f.box, f.confidence
        out = dict(batch) if self.keep_images else {c: v for c, v in batch.items() if c != self.column}
        out.update(num_faces=num_faces, points=points, box=boxes, confidence=confidence)
        return out
