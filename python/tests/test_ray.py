"""facetrack.ray on a local Ray with 2 CPUs: rendered clips and a corrupt one; good
outputs complete and equal to the CLI's, the bad one reported, and a worker killed
mid-write retried without a doubled, partial or left-over file; the schedule (longest
first, whoever is free); options checked before any actor starts; one row layout for
every outcome; tables through the object store; a failing progress callback."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import facetrack

from test_facetrack import CLI, MEGAMIND, shared_data

ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")

#: The size of the test videos: small, so a frame takes about a millisecond.
SMALL = "scale=160:120"


def make_clip(photo: Path, out: Path, seconds=1):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(photo), "-t", str(seconds),
                    "-r", "30", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(out)], check=True)


def megamind(out: Path, frames: int, codec=("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")):
    """``frames`` frames of the demo video (looped), 160x120, no sound."""
    if not MEGAMIND.is_file():
        if os.environ.get("CI"):
            pytest.fail(".deps/media/Megamind.avi is made by ./setup.sh")
        pytest.skip("no demo video")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(MEGAMIND),
                    "-frames:v", str(frames), "-an", "-vf", SMALL, *codec, str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 2 CPUs for the module; clip2 (by name) kills its first worker."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"FACETRACK_RAY_FAULT_ONCE": "clip2"}})
    try:
        yield
    finally:
        ray.shutdown()


def test_a_folder_of_clips_on_a_local_ray(tmp_path, local_ray):
    data = shared_data()
    if not CLI.is_file():
        pytest.fail("the CLI is built by the README's test command before pytest runs")
    clips = tmp_path / "clips"
    clips.mkdir()
    for k in range(1, 5):
        make_clip(data / "300w" / "lfpw_train" / f"image_000{k}.jpg", clips / f"clip{k}.mp4")
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    out = tmp_path / "out"
    import facetrack.ray as ftray
    table = ftray.process_videos(clips, out, workers=2, threads=1)
    pq = ftray.process_videos([clips / "clip1.mp4"], tmp_path / "pq", fmt="parquet")
    import pandas as pd
    assert pq[0]["ok"], pq
    frame = pd.read_parquet(pq[0]["output"])
    assert list(frame.columns[:5]) == ["frame", "face_id", "timestamp", "confidence", "success"]
    csv_rows = facetrack.read_csv(out / "clip1.csv")
    assert len(frame) == len(csv_rows["frame"])
    np.testing.assert_allclose(frame["x_30"].to_numpy(), csv_rows["points"][:, 30, 0])
    by_name = {Path(r["video"]).name: r for r in table}
    assert [Path(r["video"]).name for r in table] == sorted(p.name for p in clips.iterdir())
    assert not by_name["broken.mp4"]["ok"] and "error" in by_name["broken.mp4"]
    for k in range(1, 5):
        r = by_name[f"clip{k}.mp4"]
        assert r["ok"], r
        assert r["attempt"] == (2 if k == 2 else 1), r  # clip2's first worker died
        assert r["frames"] == 30 and r["frames_with_face"] >= 28, r
        cli = tmp_path / f"cli{k}.csv"
        subprocess.run([str(CLI), "video", str(clips / f"clip{k}.mp4"), "--csv", str(cli),
                        "--model", str(facetrack.DEFAULT_MODEL), "--threads", "1"], check=True,
                       capture_output=True)
        a, b = facetrack.read_csv(cli), facetrack.read_csv(r["output"])
        np.testing.assert_array_equal(a["frame"], b["frame"])  # every frame once: not doubled by the retry
        np.testing.assert_array_equal(a["face_id"], b["face_id"])
        np.testing.assert_allclose(a["points"], b["points"], atol=1e-3)
    # only the finished outputs are left: no temporary files, no fault markers
    assert sorted(p.name for p in out.iterdir()) == [f"clip{k}.csv" for k in range(1, 5)]


def test_the_long_video_goes_first_and_the_short_ones_to_whoever_is_free(tmp_path, local_ray):
    """Seven 300-frame videos listed before one of 2,400 frames, two workers: the long
    one starts first, its worker takes at most one other video, and the busiest worker's
    share is at most 1.2x half of the work (fifteen 300-frame videos). The schedule is
    read from the rows (frames per worker), not from wall time, which two shared cores
    blur."""
    import facetrack.ray as ftray

    clips = tmp_path / "clips"
    clips.mkdir()
    short = megamind(tmp_path / "short.mp4", 300)
    for k in range(7):
        shutil.copy(short, clips / f"a{k}.mp4")  # sorted before z_long
    megamind(clips / "z_long.mp4", 2400)
    seen = []
    table = ftray.process_videos(clips, tmp_path / "out", workers=2, progress=lambda d, t, r: seen.append((d, t, r)))
    assert all(r["ok"] for r in table), table
    assert [r["frames"] for r in table] == [300] * 7 + [2400]
    long, shorts = table[-1], table[:-1]
    assert long["started"] < min(r["finished"] for r in shorts), "the long video waited for a short one"
    assert sum(r["worker"] == long["worker"] for r in shorts) <= 1, table
    per_worker = {}
    for r in table:
        per_worker[r["worker"]] = per_worker.get(r["worker"], 0) + r["frames"]
    assert len(per_worker) == 2 and max(per_worker.values()) <= 1.2 * 15 * 300 / 2, per_worker
    for r in table:
        assert r["started"] <= r["finished"] and r["seconds"] == pytest.approx(r["finished"] - r["started"])
    # the progress callback saw every row once, as each finished
    assert [d for d, _, _ in seen] == list(range(1, 9)) and {t for _, t, _ in seen} == {8}
    assert sorted(r["video"] for _, _, r in seen) == sorted(r["video"] for r in table)
    assert [r["finished"] for _, _, r in seen] == sorted(r["finished"] for _, _, r in seen)


class _NoActors:
    """Stands in for the actor class: starting one fails the test."""

    @staticmethod
    def options(**_):
        raise AssertionError("an actor was started before the options were checked")


def test_options_and_existing_outputs_are_checked_before_any_actor_starts(tmp_path, monkeypatch, local_ray):
    import facetrack.ray as ftray

    clip = megamind(tmp_path / "clip.mp4", 30)
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip.csv").write_text("keep")
    monkeypatch.setattr(ftray, "_Worker", _NoActors)
    with pytest.raises(TypeError, match=r"smoth.*did you mean smooth"):
        ftray.process_videos([clip], tmp_path / "new", smoth=True)
    for bad in ({"max_faces": 0}, {"device": "gpu"}, {"workers": 0}, {"max_retries": -1}, {"fmt": "xlsx"},
                {"tasks_per_worker": 0}, {"csv_format": "xml"}, {"smooth": True, "smooth_offline": True},
                {"fx": 900}, {"no_pose": True, "fx": 1, "fy": 1, "cx": 1, "cy": 1}):
        with pytest.raises(ValueError):
            ftray.process_videos([clip], tmp_path / "new", **bad)
    # a wrong type is a TypeError naming the option, as Tracker's
    for bad in ({"detect_every": 1.5}, {"smooth": "yes"}, {"flip": "yes"}, {"max_faces": None},
                {"overwrite": "no"}, {"skip_existing": 1}, {"tables": "yes"}, {"progress": 5}, {"device": 1},
                {"csv_format": 1}, {"no_pose": "yes"}, {"min_cutoff": "1"}, {"beta": None}):
        (name,) = bad
        with pytest.raises(TypeError, match=f"{name}="):
            ftray.process_videos([clip], tmp_path / "new", **bad)
    ftray._check_options({"smooth": np.bool_(True), "flip": np.False_}, None, 2, 1, 1)  # numpy's, as Tracker's
    with pytest.raises(ValueError, match="tables=True"):
        ftray.process_videos([clip], None)
    with pytest.raises(ValueError, match="threads=257"):
        ftray.process_videos([clip], tmp_path / "new", threads=257)
    # inputs that are not there, none at all, or a file as the output folder: before Ray
    with pytest.raises(facetrack.FacetrackError, match="missing.mp4: no such file"):
        ftray.process_videos([clip, tmp_path / "missing.mp4"], tmp_path / "new")
    with pytest.raises(ValueError, match="no videos given"):
        ftray.process_videos([], tmp_path / "new")
    with pytest.raises(facetrack.FacetrackError, match="is a file"):
        ftray.process_videos([clip], clip)
    with pytest.raises(facetrack.FacetrackError, match=r"overwrite=True"):
        ftray.process_videos([clip], out)
    assert (out / "clip.csv").read_text() == "keep" and not (tmp_path / "new").exists()
    monkeypatch.undo()
    (row,) = ftray.process_videos([clip], out, overwrite=True)
    assert row["ok"] and len(facetrack.read_csv(out / "clip.csv")["frame"]) >= 30
    assert sorted(p.name for p in out.iterdir()) == ["clip.csv"]
    # the per-video options reach each video's process_video, as a local run takes them
    video_options = dict(csv_format="openface", point_confidence=True, smooth_offline=True, no_pose=True)
    (row,) = ftray.process_videos([clip], out, overwrite=True, device="CPU", min_face=None, **video_options)
    assert row["ok"], row
    facetrack.process_video(clip, csv=tmp_path / "local.csv", threads=1, **video_options)
    assert (out / "clip.csv").read_text() == (tmp_path / "local.csv").read_text()


def test_skip_existing_finishes_a_run_and_leaves_the_done_outputs_alone(tmp_path, monkeypatch, local_ray):
    import facetrack.ray as ftray

    a, b = megamind(tmp_path / "a.mp4", 30), megamind(tmp_path / "b.mp4", 20)
    out = tmp_path / "out"
    out.mkdir()
    facetrack.process_video(a, csv=out / "a.csv", threads=1)  # an earlier run's output
    before = (out / "a.csv").stat()
    with pytest.raises(ValueError, match="exclude each other"):
        ftray.process_videos([a, b], out, overwrite=True, skip_existing=True)
    with pytest.raises(ValueError, match="needs out_dir"):
        ftray.process_videos([a, b], tables=True, skip_existing=True)
    rows = ftray.process_videos([a, b], out, skip_existing=True, workers=1)
    assert [set(r) for r in rows] == [set(ftray.ROW_KEYS)] * 2
    ra, rb = rows
    assert ra["ok"] and ra["already_done"] is True and ra["frames"] is None, ra
    assert ra["output"] == str(out / "a.csv")
    assert rb["ok"] and rb["already_done"] is False and rb["frames"] == 20, rb
    after = (out / "a.csv").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "a.csv was left as it was"
    # Parquet: the outputs of that format count; b's is made
    rows = list(ftray.iter_videos([b], out, skip_existing=True, fmt="parquet", workers=1))
    assert [(r["ok"], r["already_done"]) for r in rows] == [(True, False)], rows
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.csv", "b.parquet"]
    # all there: the rows come back without an actor, the tables read back from the files
    monkeypatch.setattr(ftray, "_Worker", _NoActors)
    for fmt in ("csv", "parquet"):
        videos = [a, b] if fmt == "csv" else [b]
        rows = ftray.process_videos(videos, out, skip_existing=True, tables=True, fmt=fmt)
        assert all(r["ok"] and r["already_done"] for r in rows), rows
        np.testing.assert_allclose(rows[-1]["table"]["x_30"].to_numpy(),
                                   facetrack.read_csv(out / "b.csv")["points"][:, 30, 0], atol=1e-9)
    assert rows[0]["table"]["frame"].nunique() == 20


def test_relative_paths_are_the_drivers_and_a_folder_gives_the_clis_video_files(tmp_path, monkeypatch, local_ray):
    """The actors' working folder is the one Ray started in, not the driver's present one
    (as on a cluster): relative inputs and outputs still mean the driver's files. A folder
    gives every video file the CLI takes (a camcorder's .MTS too), numpy integers and any
    case of csv_format are taken as process_video takes them, and an output folder that a
    run made and left empty is removed."""
    import facetrack.ray as ftray

    here = tmp_path / "driver"
    (here / "vids").mkdir(parents=True)
    megamind(here / "vids" / "a.mp4", 40)
    megamind(here / "vids" / "cam.MTS", 20)
    monkeypatch.chdir(here)
    rows = ftray.process_videos(["vids/a.mp4"], "outrel", max_faces=np.int64(2), csv_format="OpenFace")
    assert rows[0]["ok"] and rows[0]["frames"] == 40, rows
    assert (rows[0]["video"], rows[0]["output"]) == ("vids/a.mp4", str(Path("outrel") / "a.csv"))
    assert (here / "outrel" / "a.csv").read_text().startswith("frame, face_id, timestamp")
    rows = ftray.process_videos("vids", "outdir")
    assert [(Path(r["video"]).name, r["ok"], r["frames"]) for r in rows] == [("a.mp4", True, 40),
                                                                             ("cam.MTS", True, 20)], rows
    assert sorted(p.name for p in (here / "outdir").iterdir()) == ["a.csv", "cam.csv"]
    (here / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    (row,) = ftray.process_videos(["broken.mp4"], "made/deeper")
    assert not row["ok"] and not (here / "made").exists(), row


def test_rows_have_one_layout_and_tables_come_through_the_object_store(tmp_path, local_ray):
    """Good, damaged (skipped packets) and broken videos: the same keys in every row;
    with tables=True and no output folder the landmarks come back as DataFrames."""
    import facetrack.ray as ftray

    good = megamind(tmp_path / "good.mp4", 60)
    mjpeg = megamind(tmp_path / "mj.avi", 60, codec=("-c:v", "mjpeg", "-q:v", "5"))
    data = bytearray(mjpeg.read_bytes())
    for k in range(len(data) // 3, len(data) // 3 + len(data) // 4, 7):
        data[k] ^= 0x5A  # corrupt a quarter of the JPEG packets' bytes
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    table = ftray.process_videos([good, damaged, broken], tables=True, workers=2)
    keys = set(ftray.ROW_KEYS) | {"table"}
    assert [set(r) for r in table] == [keys] * 3, [sorted(set(r) ^ keys) for r in table]
    g, d, b = table
    assert g["ok"] and g["error"] is None and g["skipped_packets"] == 0 and g["output"] is None
    assert d["ok"] and d["skipped_packets"] > 0, d
    assert not b["ok"] and b["error"] and b["frames"] is None and b["table"] is None
    assert list(g["table"].columns[:5]) == ["frame", "face_id", "timestamp", "confidence", "success"]
    assert g["table"]["frame"].nunique() == g["frames"] == 60
    facetrack.process_video(good, csv=tmp_path / "ref.csv", threads=1)
    ref = facetrack.read_csv(tmp_path / "ref.csv")
    np.testing.assert_allclose(g["table"]["x_30"].to_numpy(), ref["points"][:, 30, 0])


def test_a_worker_killed_in_a_tables_run_leaves_no_scratch_folder(tmp_path, local_ray):
    """tables=True without out_dir: a worker killed inside a video (clip2's, by the
    fault hook) left its scratch folder in the temporary folder after the run."""
    import tempfile

    import facetrack.ray as ftray

    clip = megamind(tmp_path / "clip2.mp4", 120)
    # (a run's scratch folders: facetrack-RUN-..., RUN 12 hex digits; not eval's or others')
    scratch = lambda: {p.name for p in Path(tempfile.gettempdir()).glob("facetrack-*")
                       if p.is_dir() and re.fullmatch(r"facetrack-[0-9a-f]{12}-.*", p.name)}
    before = scratch()
    (row,) = ftray.process_videos([clip], tables=True, workers=1)
    assert row["ok"] and row["attempt"] == 2 and len(row["table"]) >= 120, {k: row[k] for k in ("error", "attempt")}
    assert scratch() - before == set()


def test_workers_that_cannot_start_and_outputs_that_cannot_be_written_say_why_in_one_line(tmp_path, local_ray):
    import facetrack.ray as ftray

    clip = megamind(tmp_path / "clip.mp4", 10)
    # a file that is no model: ONNX Runtime's reason, without Ray's traceback
    with pytest.raises(facetrack.FacetrackError) as e:
        ftray.process_videos([clip], tmp_path / "out", model=clip, workers=1)
    msg = str(e.value)
    assert msg.startswith("the Ray workers could not start: FacetrackError: ONNX Runtime could not load"), msg
    assert "\x1b" not in msg and "Traceback" not in msg and "File " not in msg, msg
    assert not (tmp_path / "out").exists()
    # an output folder that cannot be made or written, an output name held by a folder,
    # a video given twice: refused before any actor starts
    (tmp_path / "afile").write_text("x")
    with pytest.raises(facetrack.FacetrackError, match="cannot make the folder .*afile/sub"):
        ftray.process_videos([clip], tmp_path / "afile" / "sub")
    if Path("/proc/self").is_dir():  # a folder no one may write in, root too
        with pytest.raises(facetrack.FacetrackError, match="cannot write in /proc"):
            ftray.process_videos([clip], "/proc")
    (tmp_path / "held" / "clip.csv").mkdir(parents=True)
    with pytest.raises(facetrack.FacetrackError, match="clip.csv is a folder"):
        ftray.process_videos([clip], tmp_path / "held", overwrite=True)
    with pytest.raises(ValueError, match="clip.mp4 is given twice"):
        ftray.process_videos([clip, clip], tmp_path / "out")


def test_a_failing_progress_callback_or_a_break_stops_the_run_and_leaves_only_complete_files(tmp_path, local_ray):
    import facetrack.ray as ftray

    clips = tmp_path / "clips"
    clips.mkdir()
    megamind(clips / "long.mp4", 1200)
    short = megamind(tmp_path / "short.mp4", 60)
    for k in range(3):
        shutil.copy(short, clips / f"s{k}.mp4")
    out = tmp_path / "out"

    def fail(done, total, row):
        raise KeyError("the callback failed")

    with pytest.raises(KeyError, match="the callback failed"):
        ftray.process_videos(clips, out, workers=2, progress=fail)
    # the long video was being written when the run stopped: no file of it, no temporary
    left = sorted(p.name for p in out.iterdir())
    assert left and "long.csv" not in left and all(n.startswith("s") and n.endswith(".csv") for n in left), left
    for n in left:
        assert len(facetrack.read_csv(out / n)["frame"]) >= 60
    # leaving iter_videos after its first row does the same
    out2 = tmp_path / "out2"
    for row in ftray.iter_videos(clips, out2, workers=2):
        assert row["ok"] and row["video"].endswith(".mp4") and not row["video"].endswith("long.mp4"), row
        break
    assert sorted(p.name for p in out2.iterdir()) == [Path(row["output"]).name]


def test_a_second_ctrl_c_while_the_killed_workers_are_awaited_still_removes_their_files(
        tmp_path, monkeypatch, local_ray):
    """A run stopped with a video being written waits up to 30 s for its killed workers
    before removing their files; a Ctrl-C in that wait skipped the removal."""
    import facetrack.ray as ftray

    clips = tmp_path / "clips"
    clips.mkdir()
    megamind(clips / "long.mp4", 1200)
    megamind(clips / "short.mp4", 60)
    out = tmp_path / "out"
    real_wait = ray.wait

    def wait(refs, **kw):
        if kw.get("timeout") == 30:  # the wait for the killed workers
            raise KeyboardInterrupt
        return real_wait(refs, **kw)

    monkeypatch.setattr(ray, "wait", wait)

    def first_ctrl_c(done, total, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ftray.process_videos(clips, out, workers=2, progress=first_ctrl_c)
    # the short video's CSV only: nothing of the long one, hidden or not
    assert sorted(p.name for p in out.iterdir()) == ["short.csv"]


def test_ray_data_map_batches_gives_the_points_of_facetrack_landmarks(local_ray):
    """facetrack.ray.Landmarks in Ray Data's map_batches: the same points, boxes and
    confidences as facetrack.landmarks, padded with NaN to max_faces."""
    import facetrack.ray as ftray
    from test_facetrack import decode_rgb

    if not MEGAMIND.is_file():
        if os.environ.get("CI"):
            pytest.fail(".deps/media/Megamind.avi is made by ./setup.sh")
        pytest.skip("no demo video")
    frames = decode_rgb(MEGAMIND)[[60, 120, 240]]  # two faces, then one
    blank = np.full_like(frames[0], 96)
    images = list(frames) + [blank]
    ds = ray.data.from_items([{"image": im, "k": k} for k, im in enumerate(images)])
    got = ds.map_batches(ftray.Landmarks, batch_format="numpy", batch_size=2,
                         compute=ray.data.ActorPoolStrategy(size=1),
                         fn_constructor_kwargs={"max_faces": 2, "keep_images": False}).take_all()
    got = sorted(got, key=lambda r: r["k"])
    assert [set(r) for r in got] == [{"k", "num_faces", "points", "box", "confidence"}] * len(images)
    for r, im in zip(got, images):
        want = sorted(facetrack.landmarks(im, max_faces=2), key=lambda f: -f.confidence)
        assert r["num_faces"] == len(want) and r["points"].shape == (2, 68, 2)
        for j, f in enumerate(want):
            np.testing.assert_allclose(r["points"][j], f.points, atol=1e-4)
            np.testing.assert_allclose(r["box"][j], f.box, atol=1e-4)
        assert np.isnan(r["points"][len(want):]).all() and np.isnan(r["confidence"][len(want):]).all()
    assert [r["num_faces"] for r in got] == [2, 1, 1, 0]
    with pytest.raises(TypeError, match="smoth"):
        ftray.Landmarks(smoth=True)
    # landmarks' own options go through, and threads (one by default) too
    mirrored = ftray.Landmarks(max_faces=2, flip=True, threads=2)({"image": frames[:1]})
    want = sorted(facetrack.landmarks(frames[0], max_faces=2, flip=True), key=lambda f: -f.confidence)
    np.testing.assert_allclose(mirrored["points"][0, 0], want[0].points, atol=1e-4)
    assert ftray.Landmarks().options["threads"] == 1
