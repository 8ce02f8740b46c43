"""The Python API as a newcomer meets it (issue 30): a Tracker as a context manager, the
`track()` frame iterator, keyword-only options checked by name, full-precision arrays,
typed results whose stubs match, faces that pickle, still images with honest confidence,
and landmarks() calls from several threads running in parallel."""

import ast
import copy
import inspect
import os
import pickle
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import facetrack

from test_facetrack import CLI, MEGAMIND, decode_rgb, read_pts, shared_data

STUB = Path(__file__).resolve().parents[1] / "facetrack" / "__init__.pyi"


@pytest.fixture(scope="module")
def face():
    img = shared_data() / "300w" / "lfpw_train" / "image_0003.jpg"
    return decode_rgb(img)[0], read_pts(img.with_suffix(".pts"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """40 frames of the demo video (lossless H.264, 720x528)."""
    if not MEGAMIND.is_file():
        if os.environ.get("CI"):
            pytest.fail(".deps/media/Megamind.avi is made by ./setup.sh")
        pytest.skip("no demo video")
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(MEGAMIND), "-frames:v", "40", "-an",
                    "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def test_a_tracker_is_a_context_manager_and_refuses_calls_once_closed(face, clip, tmp_path):
    rgb, _ = face
    with facetrack.Tracker(threads=1) as tracker:
        assert not tracker.closed
        assert len(tracker.process(rgb)) == 1
    assert tracker.closed
    for call in (lambda: tracker.process(rgb), tracker.reset,
                 lambda: tracker.process_video(clip, csv=tmp_path / "x.csv")):
        with pytest.raises(ValueError, match="closed"):
            call()
    tracker.close()  # twice is harmless
    assert not (tmp_path / "x.csv").exists()


def test_track_gives_each_frame_and_its_faces_as_process_video_does(clip):
    frames = []
    for frame_no, faces in facetrack.track(clip, threads=1):
        assert isinstance(faces, list) and all(isinstance(f, facetrack.Face) for f in faces)
        frames.append((frame_no, faces))
    assert [n for n, _ in frames] == list(range(40))
    ref = facetrack.process_video(clip, arrays=True, threads=1)
    got = [(n + 1, f.id, f.points) for n, faces in frames for f in faces]
    rows = ref["face_id"] >= 0
    assert len(got) == rows.sum() > 30
    np.testing.assert_array_equal([g[0] for g in got], ref["frame"][rows])
    np.testing.assert_array_equal([g[1] for g in got], ref["face_id"][rows])
    np.testing.assert_array_equal(np.stack([g[2] for g in got]), ref["points"][rows])
    # stopping early stops the decoder; the counts are there after the loop
    it = facetrack.track(clip, threads=1)
    for n, _ in it:
        if n == 4:
            break
    it.close()
    assert it.frames == 5
    with pytest.raises(facetrack.FacetrackError, match="no such file"):
        list(facetrack.track(Path(clip).with_name("missing.mp4")))
    # a folder is named as one, as the CLI does
    with pytest.raises(facetrack.FacetrackError, match="is a folder"):
        list(facetrack.track(Path(clip).parent))
    with pytest.raises(facetrack.FacetrackError, match="is a folder"):
        facetrack.process_video(Path(clip).parent, arrays=True)
    # an empty output path is named as one (it was ": No such file or directory")
    for name in ("csv", "annotate"):
        with pytest.raises(ValueError, match=f"{name}='' is an empty path"):
            facetrack.process_video(clip, **{name: ""})


def test_a_videos_faces_blink_as_the_csv_says_and_track_gives_each_frames_time(tmp_path):
    """track() and Tracker.process hold a blink over the frames as the CSV does (it was
    the still-image rule there: a blink ended as soon as one eye passed 0.2), and
    track()'s ``timestamp`` is each frame's, as the CSV's."""
    if not MEGAMIND.is_file():
        pytest.skip("no demo video")
    clip = tmp_path / "blink.mp4"  # frames 40-59: a blink whose lids reopen slowly
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(MEGAMIND), "-vf",
                    "select='between(n,40,59)',setpts=N/FRAME_RATE/TB", "-an", "-c:v", "libx264",
                    "-qp", "0", "-pix_fmt", "yuv420p", str(clip)], check=True)
    ref = facetrack.process_video(clip, arrays=True, threads=1)
    rows = ref["face_id"] >= 0
    held = ref["blink"] & (np.maximum(ref["eye_open_l"], ref["eye_open_r"]) >= 0.2)
    assert held.sum() >= 1, "the clip has no frame where the blink is held"
    it = facetrack.track(clip, threads=1)
    assert it.timestamp is None
    times, blinks = {}, []
    for n, faces in it:
        times[n + 1] = it.timestamp
        blinks += [f.blink for f in faces]
    np.testing.assert_array_equal(blinks, ref["blink"][rows])
    np.testing.assert_allclose([times[f] for f in ref["frame"]], ref["timestamp"], atol=1e-9)
    # the luma plane, as the video path tracks it (RGB's gray differs by a level here and
    # there, and this blink's lids are near the threshold)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-f", "rawvideo", "-pix_fmt", "gray",
                          "-"], check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(len(times), 528, 720)
    with facetrack.Tracker(threads=1) as tracker:
        for again in range(2):  # reset() forgets the blinks with the faces
            got = [f.blink for k, frame in enumerate(frames)
                   for f in tracker.process(frame, timestamp=times[k + 1])]
            np.testing.assert_array_equal(got, ref["blink"][rows])
            tracker.reset()


def test_track_counts_the_packets_a_damaged_file_loses(tmp_path):
    if not MEGAMIND.is_file():
        pytest.skip("no demo video")
    mjpeg = tmp_path / "mj.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(MEGAMIND), "-frames:v", "60", "-an",
                    "-vf", "scale=160:120", "-c:v", "mjpeg", "-q:v", "5", str(mjpeg)], check=True)
    data = bytearray(mjpeg.read_bytes())
    for k in range(len(data) // 3, len(data) // 3 + len(data) // 4, 7):
        data[k] ^= 0x5A
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))
    it = facetrack.track(damaged, threads=1)
    n = sum(1 for _ in it)
    assert 0 < n < 60 and it.skipped_packets > 0
    assert it.skipped_packets == facetrack.process_video(damaged, arrays=True, threads=1)["skipped_packets"]


def test_a_frame_size_change_note_names_no_temporary_file(tmp_path, capfd):
    parts = []
    for k, size in enumerate(["160x120", "80x60"]):
        part = tmp_path / f"p{k}.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration=0.4",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(part)], check=True)
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    capfd.readouterr()
    s = facetrack.process_video(joined, annotate=tmp_path / "out.mp4", threads=1)
    assert s["size_note"].startswith("the frame size changes mid-way (at frame 11: 160x120 to 80x60)"), s
    assert facetrack.process_video(tmp_path / "p0.ts", arrays=True, threads=1)["size_note"] is None
    err = capfd.readouterr().err
    assert "frame size changed mid-way" in err and "frames of another size were scaled" in err, err
    assert ".facetrack-" not in err, err


def test_an_mp4_cut_short_behind_its_index_says_so(tmp_path):
    whole = tmp_path / "whole.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(whole)], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    calls = []
    s = facetrack.process_video(cut, arrays=True, threads=1, progress=lambda done, total: calls.append((done, total)))
    assert 10 < s["frames"] < 50, s
    # the progress ends at its total, though the index listed 50 frames
    assert calls[-1] == (s["frames"], s["frames"]), calls[-3:]
    assert s["end_note"] == f"the file ends early (cut short?): {s['frames']} of the 50 frames its index lists", s
    assert facetrack.process_video(whole, arrays=True, threads=1)["end_note"] is None
    # track() says the same once its loop has ended, and nothing for the whole file
    it = facetrack.track(cut, threads=1)
    assert it.end_note is None
    assert sum(1 for _ in it) == s["frames"] and it.end_note == s["end_note"]
    it = facetrack.track(whole, threads=1)
    assert sum(1 for _ in it) == 50 and it.end_note is None


def test_arrays_of_a_video_without_a_face_have_the_keys_of_one_with_faces(clip, tmp_path):
    # batch code reads s["point_confidence"] whatever the video holds
    empty = tmp_path / "noface.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=0.4",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(empty)], check=True)
    s = facetrack.process_video(empty, arrays=True, threads=1)
    assert s["frames_with_face"] == 0 and s["frames"] == 10, s
    assert s["point_confidence"].shape == (10, 68) and s["point_confidence"].dtype == np.float32
    assert not s["point_confidence"].any()
    assert set(s) == set(facetrack.process_video(clip, arrays=True, threads=1))


def test_read_csv_of_a_header_only_csv_has_the_keys_of_its_header(clip, tmp_path):
    full = tmp_path / "full.csv"
    facetrack.process_video(clip, csv=full, point_confidence=True, threads=1)
    empty = tmp_path / "empty.csv"
    empty.write_text(full.read_text().splitlines()[0] + "\n")
    a, b = facetrack.read_csv(full), facetrack.read_csv(empty)
    assert set(a) == set(b), set(a) ^ set(b)
    assert b["pose"].shape == (0, 6) and b["point_confidence"].shape == (0, 68)
    assert list(facetrack.read_csv(empty, as_frame=True).columns) == list(facetrack.read_csv(full, as_frame=True).columns)


def test_options_after_the_first_arguments_are_keyword_only(face, clip, tmp_path):
    rgb, _ = face
    with pytest.raises(TypeError):
        facetrack.Tracker(None, "cpu")
    with pytest.raises(TypeError):
        facetrack.Tracker().process(rgb, "rgb")
    with pytest.raises(TypeError):
        facetrack.landmarks(rgb, None, "rgb")
    with pytest.raises(TypeError):
        facetrack.process_video(clip, tmp_path / "out.csv")
    with pytest.raises(TypeError):
        facetrack.read_csv(tmp_path / "out.csv", True)
    assert not (tmp_path / "out.csv").exists()


def test_arrays_come_straight_from_the_tracker_at_full_precision(clip, tmp_path):
    s = facetrack.process_video(clip, arrays=True, csv=tmp_path / "c.csv", threads=1)
    c = facetrack.read_csv(tmp_path / "c.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]
    for k in ("frame", "face_id", "success"):
        np.testing.assert_array_equal(s[k], c[k])
    np.testing.assert_allclose(s["points"], c["points"], atol=5.1e-4)
    np.testing.assert_allclose(s["confidence"], c["confidence"], atol=5.1e-4)
    # the CSV keeps 3 decimals; the arrays keep the tracker's float32 values
    found = s["points"][s["face_id"] >= 0]
    assert np.abs(found - np.round(found, 3)).max() > 1e-4
    assert s["points"].dtype == np.float32 and s["pose"].shape == (len(s["frame"]), 6)
    # no file needed
    a = facetrack.process_video(clip, arrays=True, threads=1)
    np.testing.assert_array_equal(a["points"], s["points"])
    with pytest.raises(ValueError, match="arrays=True"):
        facetrack.process_video(clip)


def test_bad_options_and_frames_are_named(face):
    rgb, _ = face
    for opts, name in (({"threads": -1}, "threads"), ({"min_face": -5}, "min_face"),
                       ({"max_faces": 0}, "max_faces"), ({"detect_every": 0}, "detect_every"),
                       ({"threads": 257}, "threads"), ({"threads": 2**32}, "threads"),
                       ({"max_faces": 10**30}, "max_faces"), ({"threads": -2**70}, "threads")):
        with pytest.raises(ValueError, match=name):
            facetrack.Tracker(**opts)
    for opts in ({"threads": 2.7}, {"smooth": "no"}, {"smooth": 1}, {"max_faces": 1.5}, {"model": 123}):
        with pytest.raises(TypeError, match=next(iter(opts))):
            facetrack.Tracker(**opts)
    # a progress callback that is not one is named before the video is opened
    with pytest.raises(TypeError, match="progress=5"):
        facetrack.process_video("no-such.mp4", csv="never.csv", progress=5)
    with facetrack.Tracker(threads=1) as t, pytest.raises(TypeError, match="progress=5"):
        t.process_video("no-such.mp4", csv="never.csv", progress=5)
    assert not Path("never.csv").exists()
    # landmarks() refuses what Tracker() refuses, with the same words
    with pytest.raises(ValueError) as t_err:
        facetrack.Tracker(max_faces=0)
    with pytest.raises(ValueError) as l_err:
        facetrack.landmarks(rgb, max_faces=0)
    assert str(l_err.value).split(" (got")[0] == str(t_err.value).split(" (got")[0]
    for opts, name in (({"threads": -1}, "threads"), ({"min_face": -5}, "min_face"),
                       ({"threads": 1000}, "threads")):
        with pytest.raises(ValueError, match=name):
            facetrack.landmarks(rgb, **opts)
    for bad in (rgb.astype(np.float32), rgb.astype(np.uint16), rgb > 100):
        with pytest.raises(TypeError, match=r"uint8.*got a (float32|uint16|bool) array of shape \[286, 285, 3\]"):
            facetrack.landmarks(bad)
        with pytest.raises(TypeError, match="uint8"):
            facetrack.Tracker().process(bad)


def test_channel_names_take_any_case_and_four_channels_must_be_named(face):
    rgb, _ = face
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    a = facetrack.landmarks(rgb)[0].points
    np.testing.assert_array_equal(facetrack.landmarks(bgr, channels="BGR")[0].points, a)
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    rgba, bgra = np.concatenate([rgb, alpha], axis=2), np.concatenate([bgr, alpha], axis=2)
    with pytest.raises(ValueError, match="bgra"):
        facetrack.landmarks(bgra)
    with pytest.raises(ValueError, match="bgra"):
        facetrack.Tracker().process(bgra)
    np.testing.assert_array_equal(facetrack.landmarks(bgra, channels="bgra")[0].points, a)
    np.testing.assert_array_equal(facetrack.landmarks(rgba, channels="RGBA")[0].points, a)


def test_the_model_cache_follows_every_option(face):
    rgb, _ = face  # a face of about 130 px
    assert len(facetrack.landmarks(rgb)) == 1
    assert facetrack.landmarks(rgb, min_face=300) == []
    assert len(facetrack.landmarks(rgb, min_face=40, threads=1)) == 1
    assert facetrack.Tracker(min_face=300).process(rgb) == []


def test_a_box_on_nothing_is_not_a_confident_face(face):
    rgb, truth = face
    x0, y0 = truth.min(axis=0)
    x1, y1 = truth.max(axis=0)
    (good,) = facetrack.landmarks(rgb, boxes=[(x0, y0, x1 - x0, y1 - y0)])
    assert good.success and good.confidence > 0.8
    wall = np.full((480, 640, 3), 200, np.uint8)
    (blank,) = facetrack.landmarks(wall, boxes=[(100, 100, 150, 150)])
    assert not blank.success and blank.confidence < 0.3
    (corner,) = facetrack.landmarks(rgb, boxes=[(0, 0, 40, 40)])
    assert not corner.success and corner.confidence < 0.3
    with pytest.raises(ValueError, match="outside"):
        facetrack.landmarks(rgb, boxes=[(5000, 5000, 100, 100)])


def test_faces_pickle_deep_copy_and_keep_their_points(face):
    rgb, _ = face
    (f,) = facetrack.landmarks(rgb)
    for g in (pickle.loads(pickle.dumps(f)), copy.deepcopy(f), copy.copy(f)):
        assert type(g) is facetrack.Face
        assert (g.id, g.box, g.confidence, g.success, g.pose) == (f.id, f.box, f.confidence, f.success, f.pose)
        np.testing.assert_array_equal(g.points, f.points)
        assert g == f and hash(g) == hash(f) and len({f, g}) == 1
    # faces compare by their values: any one value changed makes another face
    values = dict(id=f.id, points=f.points, box=f.box, confidence=f.confidence, success=f.success,
                  pose=f.pose, point_confidence=f.point_confidence)
    assert facetrack.Face(**values) == f
    moved = f.points.copy()
    moved[30, 1] += 0.5
    for name, other in (("id", f.id + 1), ("points", moved), ("box", (0.0, 0.0, 1.0, 1.0)),
                        ("confidence", f.confidence / 2), ("success", not f.success), ("pose", None),
                        ("point_confidence", None), ("raw_points", moved)):
        assert facetrack.Face(**{**values, name: other}) != f, name
    assert f != "a face" and f != None  # noqa: E711
    # NaN is NaN: raw points that are the points (NaN and all) are no raw points
    nan = f.points.copy()
    nan[0] = np.nan
    assert facetrack.Face(**{**values, "points": nan, "raw_points": nan}) == facetrack.Face(**{**values, "points": nan})
    # numpy's default float64 (and lists) are taken as float32; counts that do not fit
    # the points are named
    assert facetrack.Face(**{**values, "points": f.points.astype(np.float64)}) == f
    assert facetrack.Face(**{**values, "points": f.points.tolist()}) == f
    with pytest.raises(ValueError, match="point_confidence has 5 values for 68 points"):
        facetrack.Face(**{**values, "point_confidence": np.ones(5)})
    with pytest.raises(ValueError, match="raw_points has 5 points where points has 68"):
        facetrack.Face(**{**values, "raw_points": np.zeros((5, 2))})
    with pytest.raises(ValueError, match="read-only"):
        f.point_confidence[0] = 0.0
    before = f.points.copy()
    with pytest.raises(ValueError, match="read-only"):
        f.points[0, 0] = -1.0
    p = f.points.copy()
    p += 1
    np.testing.assert_array_equal(f.points, before)
    # a Tracker holds a model and tracks: no copy of it shares them
    with facetrack.Tracker(threads=1) as t:
        for dup in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError):
                dup(t)
        assert not t.closed


def test_landmarks_from_two_threads_do_not_wait_for_each_other(face):
    """A slow call (the detector on a large picture) must not hold up a quick one (a
    given box on a small picture) started in another thread while it runs."""
    rgb, truth = face
    big = np.tile(rgb, (8, 10, 1))  # 2288 x 2850, about 80 faces for the detector
    x0, y0 = truth.min(axis=0)
    x1, y1 = truth.max(axis=0)
    box = [(x0, y0, x1 - x0, y1 - y0)]
    facetrack.landmarks(rgb, boxes=box, threads=1)  # both models loaded before timing
    facetrack.landmarks(rgb, threads=1, max_faces=100, min_face=20)
    done = {}

    def slow():
        facetrack.landmarks(big, threads=1, max_faces=100, min_face=20)
        done["slow"] = time.perf_counter()

    t = threading.Thread(target=slow)
    t0 = time.perf_counter()
    t.start()
    time.sleep(0.3)
    facetrack.landmarks(rgb, boxes=box, threads=1)
    quick = time.perf_counter()
    t.join()
    assert done["slow"] - t0 > 1.0, "the slow call is too quick to show anything"
    assert quick < done["slow"], (quick - t0, done["slow"] - t0)


def test_read_csv_explains_its_no_face_rows(clip, tmp_path):
    blank = tmp_path / "blank.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=gray:s=160x120:d=0.2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(blank)], check=True)
    d = facetrack.process_video(blank, csv=tmp_path / "b.csv", threads=1)
    r = facetrack.read_csv(tmp_path / "b.csv")
    assert d["frames"] == len(r["frame"]) > 0
    assert (r["face_id"] == -1).all() and not r["success"].any() and not r["points"].any()
    assert "face_id = -1" in facetrack.read_csv.__doc__ and "no face" in facetrack.read_csv.__doc__


def _stub_params(node):
    a = node.args
    pos = [p.arg for p in a.posonlyargs + a.args]
    return pos, [p.arg for p in a.kwonlyargs]


def _runtime_params(fn):
    ps = list(inspect.signature(fn).parameters.values())
    pos = [p.name for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return pos, [p.name for p in ps if p.kind == p.KEYWORD_ONLY]


def test_the_stubs_match_the_package():
    tree = ast.parse(STUB.read_text())
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for name in ("track", "landmarks", "process_video"):
        assert _stub_params(funcs[name]) == _runtime_params(getattr(facetrack, name)), name
    overloads = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "read_csv"]
    assert len(overloads) == 2 and all(_stub_params(n) == _runtime_params(facetrack.read_csv) for n in overloads)
    methods = {n.name: n for n in classes["Tracker"].body if isinstance(n, ast.FunctionDef)}
    for name in ("__init__", "process", "process_video", "reset", "close", "__enter__", "__exit__"):
        assert name in methods, name
        if name not in ("__exit__",):
            assert _stub_params(methods[name]) == _runtime_params(getattr(facetrack.Tracker, name)), name
    for name in ("VideoSummary", "CsvArrays"):
        assert name in classes or name in ast.unparse(tree), name
    assert set(facetrack.VideoSummary.__annotations__) >= {"frames", "skipped_packets", "points"}
    # every name the package exports is one the stubs define, and the version is the
    # installed one
    defined = set()
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            defined.add(n.name)
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            defined.add(n.target.id)
        elif isinstance(n, ast.Assign):
            defined.update(t.id for t in n.targets if isinstance(t, ast.Name))
        elif isinstance(n, ast.ImportFrom):
            defined.update(a.asname or a.name for a in n.names)
    assert sorted(set(facetrack.__all__) - defined) == []
    import importlib.metadata
    assert facetrack.__version__ == importlib.metadata.version("facetrack")


@pytest.mark.parametrize("name", ["libonnxruntime.so.1.23.2", "libonnxruntime.1.23.2.dylib", "onnxruntime.dll"])
def test_the_runtime_is_found_in_the_onnxruntime_wheel_on_each_system(tmp_path, monkeypatch, name):
    """The wheel's library is named per system; each is found (here in a stand-in package)."""
    import importlib.machinery
    import importlib.util

    capi = tmp_path / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (capi / name).write_bytes(b"")
    (capi / "onnxruntime_pybind11_state.txt").write_bytes(b"")
    spec = importlib.machinery.ModuleSpec("onnxruntime", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path / "onnxruntime")]
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: spec if n == "onnxruntime" else None)
    monkeypatch.delenv("FACETRACK_ORT_LIB", raising=False)
    facetrack._find_runtime()
    assert os.environ["FACETRACK_ORT_LIB"] == str(capi / name)


def test_track_streams_the_video_instead_of_holding_it(tmp_path):
    """200 frames of 1080p are 400 MB of gray pixels; iterating them in a fresh process
    raises its peak memory by far less than that (frames are decoded two ahead)."""
    if not MEGAMIND.is_file():
        pytest.skip("no demo video")
    big = tmp_path / "big.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(MEGAMIND), "-frames:v", "200",
                    "-an", "-vf", "scale=1920:1080,setsar=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
                    "yuv420p", str(big)], check=True)
    script = (
        "import sys, facetrack\n"
        "def mem(k):\n"
        "    return int(next(l for l in open('/proc/self/status') if l.startswith(k)).split()[1]) // 1024\n"
        "it = facetrack.track(sys.argv[1], threads=1)\n"
        "n, first = 0, None\n"
        "for frame_no, faces in it:\n"
        "    n += 1\n"
        "    if n == 10:\n"
        "        first = mem('VmRSS:')\n"
        "print(n, mem('VmHWM:') - first)\n")
    out = subprocess.run([os.sys.executable, "-c", script, str(big)], check=True, capture_output=True, text=True,
                         env=os.environ).stdout.split()
    frames, grew_mib = int(out[0]), int(out[1])
    assert frames == 200
    assert grew_mib < 120, f"peak memory grew {grew_mib} MiB over 190 frames of 1080p"


def test_smooth_offline_is_the_clis_two_sided_smoothing(clip, tmp_path):
    from test_facetrack import CLI

    raw = facetrack.process_video(clip, arrays=True, threads=1)
    s = facetrack.process_video(clip, arrays=True, threads=1, smooth_offline=True,
                                csv=tmp_path / "py.csv", annotate=tmp_path / "py.mp4")
    np.testing.assert_array_equal(s["frame"], raw["frame"])
    np.testing.assert_array_equal(s["face_id"], raw["face_id"])
    found = raw["face_id"] >= 0
    # the points move, and move less from frame to frame (one face in this clip)
    assert np.abs(s["points"][found] - raw["points"][found]).max() > 0.01
    step = lambda p: np.abs(np.diff(p[found], axis=0)).mean()  # noqa: E731
    assert step(s["points"]) < step(raw["points"])
    if CLI.is_file():
        subprocess.run([str(CLI), "video", str(clip), "--csv", str(tmp_path / "cli.csv"),
                        "--smooth-offline", "--threads", "1", "--model", str(facetrack.DEFAULT_MODEL)],
                       check=True, capture_output=True)
        assert (tmp_path / "cli.csv").read_text() == (tmp_path / "py.csv").read_text()
    elif os.environ.get("CI"):
        pytest.fail("the CLI is built by cargo build before the Python tests")
    assert (tmp_path / "py.mp4").stat().st_size > 0
    with pytest.raises(ValueError, match="smooth_offline"):
        facetrack.process_video(clip, arrays=True, smooth=True, smooth_offline=True)
    with facetrack.Tracker(smooth=True) as t, pytest.raises(ValueError, match="smooth_offline"):
        t.process_video(clip, arrays=True, smooth_offline=True)


def test_counts_refuse_bools(face):
    rgb, _ = face
    for opts in ({"max_faces": True}, {"threads": False}, {"detect_every": True}, {"min_face": True}):
        with pytest.raises(TypeError, match=next(iter(opts))):
            facetrack.Tracker(**opts)
    with pytest.raises(TypeError, match="max_faces"):
        facetrack.landmarks(rgb, max_faces=True)


def test_process_video_writes_the_clis_optional_columns(clip, tmp_path):
    import pandas as pd

    facetrack.process_video(clip, csv=tmp_path / "of.csv", csv_format="OpenFace", point_confidence=True,
                            threads=1)
    header = (tmp_path / "of.csv").read_text().splitlines()[0]
    assert ", AU45_r" in header and ", c_67" in header and ", x_0" in header
    df = pd.read_csv(tmp_path / "of.csv")
    assert " AU45_r" in df.columns and " c_0" in df.columns
    # the same values as the plain CSV with the spaces stripped (py-feat's read_openface rule)
    facetrack.process_video(clip, csv=tmp_path / "plain.csv", point_confidence=True, threads=1)
    plain = pd.read_csv(tmp_path / "plain.csv")
    df.columns = [c.strip() for c in df.columns]
    # the same columns, in OpenFace's order: the pose before the landmarks
    assert sorted(df.columns) == sorted(plain.columns)
    assert list(df.columns[5:12]) == ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz", "x_0"]
    np.testing.assert_allclose(df["c_10"], plain["c_10"])
    np.testing.assert_allclose(df["pose_Rx"], plain["pose_Rx"])
    with pytest.raises(ValueError, match="csv_format"):
        facetrack.process_video(clip, csv=tmp_path / "x.csv", csv_format="tsv")


def test_ray_rows_are_typed_with_the_keys_they_carry():
    if not os.environ.get("CI"):
        pytest.importorskip("ray")
    import facetrack.ray as ray_mod
    from facetrack._types import RayRow

    # every key a row carries is described (and only those, plus the optional table)
    assert set(RayRow.__annotations__) == set(ray_mod.ROW_KEYS) | {"table"}
    assert inspect.signature(ray_mod.process_videos).return_annotation in ("list[RayRow]", list)


def test_an_annotated_video_alone_is_written(clip, tmp_path):
    out = tmp_path / "only.mp4"
    s = facetrack.process_video(str(clip), annotate=str(out))
    assert s["frames"] == 40
    assert out.is_file() and out.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["only.mp4"]


def test_a_file_that_appears_during_a_run_is_not_replaced(clip, tmp_path):
    out = tmp_path / "x.csv"

    def write_it(done, total):
        if done == 5:
            out.write_text("precious")

    with pytest.raises(facetrack.FacetrackError, match="appeared while the run"):
        facetrack.process_video(str(clip), csv=str(out), progress=write_it)
    assert out.read_text() == "precious"
    kept = tmp_path / "x.partial.csv"
    assert kept.read_text().startswith("frame,face_id")
    # with overwrite=True, a file there at the start is the caller's to replace
    kept.unlink()
    facetrack.process_video(str(clip), csv=str(out), overwrite=True)
    assert out.read_text().startswith("frame,face_id")


def test_a_progress_callback_that_calls_its_own_tracker_gets_an_error_not_a_hang(clip, face):
    img, _ = face
    errors = []
    with facetrack.Tracker() as t:

        def call_back(done, total):
            if done == 3:
                for call in (lambda: t.process(img), t.reset, t.close):
                    try:
                        call()
                    except RuntimeError as e:
                        errors.append(str(e))

        s = t.process_video(str(clip), arrays=True, progress=call_back)
        assert s["frames"] == 40
        assert len(errors) == 3 and all("progress" in e for e in errors), errors
        # the video's faces do not carry over: the next frame starts ids afresh
        faces = t.process(img)
        assert faces and faces[0].id == 0


def test_a_saved_data_frame_reads_back(clip, tmp_path):
    pd = pytest.importorskip("pandas")
    csv = tmp_path / "c.csv"
    facetrack.process_video(str(clip), csv=str(csv))
    df = facetrack.read_csv(str(csv), as_frame=True)
    again = tmp_path / "again.csv"
    df.to_csv(again, index=False)
    back = facetrack.read_csv(str(again), as_frame=True)
    pd.testing.assert_frame_equal(df, back, check_exact=False, atol=1e-3)


def test_a_face_lying_sideways_or_upside_down_is_found_by_landmarks(face):
    img, _ = face
    (up,) = facetrack.landmarks(img, max_faces=1)
    h, w = img.shape[:2]
    x, y = up.points[:, 0], up.points[:, 1]
    # np.rot90 turns counter-clockwise: a pixel centre (x, y) goes to (y, w - x)
    turned = {1: np.stack([y, w - x], 1), 2: np.stack([w - x, h - y], 1), 3: np.stack([h - y, x], 1)}
    for k, want in turned.items():
        found = facetrack.landmarks(np.ascontiguousarray(np.rot90(img, k)), max_faces=1)
        assert len(found) == 1, f"turned {90 * k} degrees: {found}"
        d = np.linalg.norm(found[0].points - want, axis=1).mean()
        assert d < 3.0, f"turned {90 * k} degrees: points {d:.2f} px from the upright ones"


def test_cuda_without_a_model_takes_the_float_weights_beside_the_default(tmp_path, monkeypatch):
    """As the CLI's --device cuda: the float file beside the default where it is there,
    else the 8-bit default with a warning; a model named by the caller or by
    FACETRACK_MODEL is kept, and the CPU keeps the 8-bit default."""
    monkeypatch.delenv("FACETRACK_MODEL", raising=False)
    int8 = tmp_path / "facetrack68.onnx"
    int8.write_bytes(b"int8")
    monkeypatch.setattr(facetrack, "DEFAULT_MODEL", int8)
    with pytest.warns(UserWarning, match="8-bit model"):
        assert facetrack._model_path(None, "cuda") == str(int8)
    fp32 = tmp_path / "facetrack68-fp32.onnx"
    fp32.write_bytes(b"fp32")
    assert facetrack._model_path(None, "cuda") == str(fp32)
    assert facetrack._model_path(None, "CUDA:1") == str(fp32)
    assert facetrack._model_path(None, "cpu") == str(int8)
    assert facetrack._model_path(str(int8), "cuda") == str(int8)
    monkeypatch.setenv("FACETRACK_MODEL", str(int8))
    assert facetrack._model_path(None, "cuda") == str(int8)
    # a FACETRACK_MODEL that names no file is named as the variable's
    monkeypatch.setenv("FACETRACK_MODEL", str(tmp_path / "nope.onnx"))
    with pytest.raises(facetrack.FacetrackError, match="FACETRACK_MODEL names .*nope.onnx, which does not exist"):
        facetrack._model_path(None)


def test_conversion_hints_fit_what_was_given_and_a_single_box_is_named(face):
    rgb, _ = face
    with pytest.raises(TypeError, match=r"mask: \(frame \* 255\)"):
        facetrack.landmarks(rgb > 100)
    with pytest.raises(TypeError, match=r"np.clip"):
        facetrack.landmarks(rgb.astype(np.float32))
    with pytest.raises(TypeError, match=r"\(frame >> 8\)"):
        facetrack.landmarks(rgb.astype(np.uint16) * 257)
    with pytest.raises(TypeError, match=r"write boxes=\[box\]"):
        facetrack.landmarks(rgb, boxes=(10, 20, 100, 120))
    with pytest.raises(TypeError, match=r"write boxes=\[box\]"):
        facetrack.landmarks(rgb, boxes=np.array([10, 20, 100, 120]))
    with pytest.raises(ValueError, match="4 numbers"):
        facetrack.landmarks(rgb, boxes=[(10, 20, 100)])
    # boxes as a numpy array of rows still work
    (f,) = facetrack.landmarks(rgb, boxes=np.array([[60.0, 60.0, 160.0, 160.0]]))
    assert f.points.shape == (68, 2)
    with pytest.raises(facetrack.FacetrackError, match="model='' names no file"):
        facetrack.Tracker("")
    with pytest.raises(facetrack.FacetrackError, match="is a folder"):
        facetrack.Tracker(Path(__file__).parent)


def test_ctrl_c_ends_a_track_still_waiting_for_its_video(tmp_path):
    """A FIFO no program writes to: the wait for the first frame ends at Ctrl-C
    (KeyboardInterrupt) instead of lasting for ever."""
    import signal

    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    script = ("import sys, facetrack\n"
              "frames = facetrack.track(sys.argv[1], threads=1)\n"
              "print('waiting', flush=True)\n"
              "try:\n"
              "    for _ in frames:\n"
              "        pass\n"
              "except KeyboardInterrupt:\n"
              "    print('interrupted', flush=True)\n")
    def interrupted(p, what):
        """Ctrl-C to `p`; what it printed after it, once it has ended."""
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail(f"Ctrl-C did not end track() {what}")
        assert p.returncode == 0, (out, p.returncode)
        return out

    p = subprocess.Popen([os.sys.executable, "-c", script, str(fifo)], stdout=subprocess.PIPE, text=True)
    # the model loaded and the decoder waiting in the open before the signal
    assert p.stdout.readline().strip() == "waiting"
    assert interrupted(p, "waiting for its video").strip() == "interrupted"
    # a stalled stream after some frames: Ctrl-C raises, and dropping the iterator does
    # not wait for the stalled decoder (it held Python's lock for ever)
    script = ("import sys, facetrack\n"
              "frames = facetrack.track(sys.argv[1], threads=1)\n"
              "try:\n"
              "    for i, _ in frames:\n"
              "        print('frame', flush=True)\n"
              "except KeyboardInterrupt:\n"
              "    del frames\n"
              "    print('interrupted', flush=True)\n")
    p = subprocess.Popen([os.sys.executable, "-c", script, str(fifo)], stdout=subprocess.PIPE, text=True)
    clip = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1",
                           "-c:v", "ffv1", "-f", "matroska", "-"], check=True, capture_output=True).stdout
    with open(fifo, "wb") as w:  # a writer that stalls after its first second of video
        w.write(clip)
        w.flush()
        assert p.stdout.readline().strip() == "frame"  # (and the rest of the second)
        time.sleep(0.5)
        rest = interrupted(p, "on a stalled stream")
    assert "interrupted" in rest, rest


def test_read_csv_reads_each_signal_column_a_file_has(clip, tmp_path):
    """OpenFace 2.x writes AU45_r without facetrack's eye and mouth columns: a file with
    some of the five gives each of them (all five were dropped when one was missing)."""
    import pandas as pd

    full_csv = tmp_path / "full.csv"
    facetrack.process_video(clip, csv=full_csv, threads=1)
    full = facetrack.read_csv(full_csv)
    table = pd.read_csv(full_csv)
    signals = ["eye_open_l", "eye_open_r", "blink", "mouth_open", "AU45_r"]
    for dropped in (["eye_open_l"], signals[:4]):
        part = tmp_path / f"without-{len(dropped)}.csv"
        table.drop(columns=dropped).to_csv(part, index=False)
        d = facetrack.read_csv(part)
        assert [k for k in signals if k in d] == [k for k in signals if k not in dropped]
        for k in signals:
            if k in d:
                np.testing.assert_allclose(d[k], full[k], atol=1e-3, err_msg=k)
        assert "AU45_r" in facetrack.read_csv(part, as_frame=True).columns
    assert d["AU45_r"].dtype == np.float32 and len(d["AU45_r"]) == len(full["frame"])
    # an OpenFace 2.x file's other columns (gaze, action units) come with the frame, in
    # its ", " layout too; pandas' index column does not
    openface = tmp_path / "openface.csv"
    more = pd.DataFrame({"gaze_angle_x": 0.25, "AU45_c": 1, "Unnamed: 9": 7}, index=table.index)
    pd.concat([table, more], axis=1).to_csv(openface)
    text = openface.read_text().replace(",", ", ")
    openface.write_text("\n\n".join(text.splitlines()))  # blank lines between the rows
    df = facetrack.read_csv(openface, as_frame=True)
    assert list(df.columns[-3:]) == ["gaze_angle_x", "AU45_c", "Unnamed: 9"] and "Unnamed: 0" not in df.columns
    assert (df["gaze_angle_x"] == 0.25).all() and (df["AU45_c"] == 1).all() and len(df) == len(table)
    assert (df["Unnamed: 9"] == 7).all()  # a column of that name is the user's
    assert list(facetrack.read_csv(full_csv, as_frame=True).columns) == list(table.columns)


def test_a_second_thread_cannot_take_over_a_waiting_track(tmp_path):
    """A thread waiting in next() keeps the iterator: another thread's next() meanwhile
    is refused (ValueError), and the waiter is not the one refused."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    script = ("import os, sys, threading, time, facetrack\n"
              "it = facetrack.track(sys.argv[1], threads=1)\n"
              "res = {}\n"
              "def a():\n"
              "    try:\n"
              "        next(it)\n"
              "        res['a'] = 'frame'\n"
              "    except Exception as e:\n"
              "        res['a'] = type(e).__name__\n"
              "threading.Thread(target=a, daemon=True).start()\n"
              "time.sleep(0.3)\n"
              "refused = 0\n"
              "end = time.time() + 1.0\n"
              "while time.time() < end:\n"
              "    try:\n"
              "        next(it)\n"
              "    except ValueError:\n"
              "        refused += 1\n"
              "print(res.get('a', 'waiting'), refused > 0, flush=True)\n"
              "os._exit(0)\n")
    out = subprocess.run([os.sys.executable, "-c", script, str(fifo)], capture_output=True, text=True,
                         timeout=60).stdout
    assert out.split() == ["waiting", "True"], out


def test_track_of_a_video_without_a_decodable_frame_is_the_same_error_as_process_video(tmp_path):
    if not MEGAMIND.is_file():
        pytest.skip("no demo video")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(MEGAMIND.read_bytes()[:20000])
    with pytest.raises(facetrack.FacetrackError, match="no frame could be decoded"):
        facetrack.process_video(cut, arrays=True, threads=1)
    with pytest.raises(facetrack.FacetrackError, match="no frame could be decoded"):
        list(facetrack.track(cut, threads=1))


def test_the_pose_and_smoothing_options_are_the_clis(clip, tmp_path, face):
    """``no_pose``, the camera (``fx``, ``fy``, ``cx``, ``cy``) and the One Euro filter's
    ``min_cutoff`` and ``beta``: the CLI's options, giving its CSV byte for byte; Python
    could not set them."""
    if not CLI.is_file():
        if os.environ.get("CI"):
            pytest.fail("the CLI is built before the Python tests")
        pytest.skip("no CLI build")
    model = str(facetrack.DEFAULT_MODEL)
    for name, cli_args, options in [
        ("nopose", ["--no-pose"], dict(no_pose=True)),
        ("camera", ["--fx", "900", "--fy", "910", "--cx", "300", "--cy", "250"],
         dict(fx=900, fy=910.0, cx=300, cy=250.0)),
        ("euro", ["--smooth", "--min-cutoff", "0.3", "--beta", "0.5"],
         dict(smooth=True, min_cutoff=0.3, beta=0.5)),
    ]:
        cli_csv, py_csv = tmp_path / f"{name}-cli.csv", tmp_path / f"{name}-py.csv"
        subprocess.run([str(CLI), "video", str(clip), "--csv", str(cli_csv), "--model", model, *cli_args],
                       check=True, capture_output=True)
        facetrack.process_video(clip, csv=py_csv, **options)
        assert py_csv.read_text() == cli_csv.read_text(), name
    header = (tmp_path / "nopose-py.csv").read_text().splitlines()[0]
    assert "pose_Tx" not in header and "x_67" in header
    # the default camera gives other poses than the one given
    plain = facetrack.process_video(clip, arrays=True)
    given = facetrack.process_video(clip, arrays=True, fx=900, fy=910, cx=300, cy=250)
    assert not np.allclose(plain["pose"], given["pose"])
    rgb, _ = face
    with facetrack.Tracker(no_pose=True) as t:
        assert t.process(rgb)[0].pose is None
    # errors name the option
    with pytest.raises(ValueError, match="go together.*cx, cy missing"):
        facetrack.Tracker(fx=900, fy=900)
    with pytest.raises(ValueError, match="exclude each other"):
        facetrack.Tracker(no_pose=True, fx=1, fy=1, cx=1, cy=1)
    with pytest.raises(ValueError, match="focal lengths"):
        facetrack.process_video(clip, arrays=True, fx=0, fy=900, cx=1, cy=1)
    with pytest.raises(ValueError, match="min_cutoff"):
        facetrack.track(clip, smooth=True, min_cutoff=0)
    with pytest.raises(ValueError, match="min_cutoff"):
        facetrack.Tracker(beta=float("nan"))  # checked also when smoothing is off, as the CLI's
    with pytest.raises(ValueError, match=r"beta a number of 0 or more \(got min_cutoff=1(\.0)?, beta=-1"):
        facetrack.Tracker(beta=-1)
    with pytest.raises(ValueError, match="fx=.*out of range"):
        facetrack.Tracker(fx=10**400, fy=1, cx=1, cy=1)
    with pytest.raises(TypeError, match="fx=True"):
        facetrack.Tracker(fx=True, fy=1, cx=1, cy=1)
    with pytest.raises(TypeError, match="no_pose='yes'"):
        facetrack.Tracker(no_pose="yes")
    with pytest.raises(TypeError, match="beta='0.1'"):
        facetrack.process_video(clip, arrays=True, beta="0.1")


def test_dir_lists_the_public_names_only():
    """``dir(facetrack)`` showed the imports of its helpers (``os``, ``Any``, ``glob``)."""
    names = dir(facetrack)
    assert names == sorted(facetrack.__all__)
    assert "os" not in names and "Any" not in names
