"""facetrack.ray on a local Ray with 2 CPUs: rendered clips and a corrupt one; good
outputs complete and equal to the CLI's, the bad one reported, and a worker killed
mid-task retried without a doubled or partial output."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import facetrack

from test_facetrack import CLI, shared_data

ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")


def make_clip(photo: Path, out: Path, seconds=1):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(photo), "-t", str(seconds),
                    "-r", "30", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(out)], check=True)


def test_a_folder_of_clips_on_a_local_ray(tmp_path):
    data = shared_data()
    if not CLI.is_file():
        pytest.fail("the CLI is built by the README's test command before pytest runs")
    clips = tmp_path / "clips"
    clips.mkdir()
    for k in range(1, 5):
        make_clip(data / "300w" / "lfpw_train" / f"image_000{k}.jpg", clips / f"clip{k}.mp4")
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    out = tmp_path / "out"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"FACETRACK_RAY_FAULT_ONCE": "clip2"}})
    try:
        import facetrack.ray as ftray
        table = ftray.process_videos(clips, out, workers=2, threads=1)
        pq = ftray.process_videos([clips / "clip1.mp4"], tmp_path / "pq", fmt="parquet")
    finally:
        ray.shutdown()
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
