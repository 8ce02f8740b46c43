"""facetrack.ray on a Ray cluster of two nodes on this host (loopback only): tasks run on
both nodes, and a node removed while it works loses nothing: its video runs again on the
other node and every output is complete."""

import os
import shutil

import pytest

import facetrack

from test_ray import megamind

ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")

#: Frames per test video: about a second of work at 160x120, long enough that the node
#: is removed while its worker is inside a video, not between two.
FRAMES = 600


def test_two_nodes_one_removed_while_it_works(tmp_path, monkeypatch):
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    import facetrack.ray as ftray

    clips = tmp_path / "clips"
    clips.mkdir()
    clip = megamind(tmp_path / "clip.mp4", FRAMES)
    for k in range(6):
        shutil.copy(clip, clips / f"v{k}.mp4")
    # loopback only: Ray turns a local address into this host's outward one unless
    # told it is not a cluster (the variable for the worker processes, the constant
    # for this already imported driver)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    loopback = {"node_ip_address": "127.0.0.1", "num_cpus": 1}
    cluster = Cluster(initialize_head=True, head_node_args=dict(loopback, include_dashboard=False))
    try:
        second = cluster.add_node(**loopback)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        head = ray.get_runtime_context().get_node_id()
        seen = {}
        removed = []

        def progress(done, total, row):
            seen.setdefault(row["node"], 0)
            seen[row["node"]] += 1
            # once both nodes have finished a video, remove the second while its worker
            # is busy: right after the head's worker finished one, the other is mid-video
            if not removed and len(seen) == 2 and row["node"] == head and done < total - 1:
                cluster.remove_node(second)
                removed.append(done)

        table = ftray.process_videos(clips, tmp_path / "out", workers=2, progress=progress)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert removed, f"the second node was not removed: rows by node {seen}"
    assert all(r["ok"] for r in table), table
    nodes = {r["node"] for r in table}
    assert head in nodes and second.node_id in nodes, (nodes, head, second.node_id)
    retried = [r for r in table if r["attempt"] > 1]
    assert retried and all(r["node"] == head for r in retried), table
    facetrack.process_video(clip, csv=tmp_path / "ref.csv", threads=1)
    ref = facetrack.read_csv(tmp_path / "ref.csv")
    for r in table:
        assert r["frames"] == FRAMES
        got = facetrack.read_csv(r["output"])  # every frame once: nothing lost, nothing doubled
        for k in ("frame", "face_id", "success"):
            assert (got[k] == ref[k]).all(), (r, k)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"v{k}.csv" for k in range(6)]
