"""The model's own time: ONNX Runtime's Python API on one 112x112 crop, N intra-op
threads (default 2). The models take turns in short blocks (20 runs each, after 50
warm-up runs; every other round of blocks in reverse order), so that a slow spell of a shared machine falls on all of them alike; prints
each model's median block, ms a run, and for every model after the first the median of
its blocks' ratios to the first model's block beside them (with their quartiles): the
paired figure to quote when comparing two models, since whole-run times on a busy
2-core machine move by 10-100 % between minutes.

    .deps/venv/bin/python bench/model_time.py MODEL.onnx [MODEL.onnx ...] [--threads N] [--blocks B]
"""
import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort

RUNS = 20  # runs a block


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blocks", type=int, default=100)
    a = ap.parse_args()
    if a.blocks < 2:
        ap.error("--blocks: at least 2")
    sessions = []
    for path in a.models:
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        # as facetrack's Python Tracker runs its model (the CLI's pipelines do not spin at
        # all): the pool's threads stop spinning when a run ends, so that one session's idle
        # threads do not take the cores from the next session's block (with spinning left
        # on, 2-thread medians came out 1.5-1.7x the fastest block; ratios measured before
        # this setting, e.g. the README's for the int8 output layer, are not comparable)
        so.add_session_config_entry("session.force_spinning_stop", "1")
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        shape = [1 if not isinstance(d, int) else d for d in s.get_inputs()[0].shape]
        x = np.random.default_rng(0).uniform(-2, 2, shape).astype(np.float32)
        feed = {s.get_inputs()[0].name: x}
        for _ in range(50):
            s.run(None, feed)
        sessions.append((path, s, feed))
    times = [[] for _ in sessions]
    for b in range(a.blocks):
        # every other block in reverse order, so that no model always runs first
        order = range(len(sessions)) if b % 2 == 0 else reversed(range(len(sessions)))
        for i in order:
            _, s, feed = sessions[i]
            t = time.perf_counter()
            for _ in range(RUNS):
                s.run(None, feed)
            times[i].append((time.perf_counter() - t) / RUNS * 1e3)
    for i, (path, _, _) in enumerate(sessions):
        line = f"{path}: median {statistics.median(times[i]):.3f} ms, fastest block {min(times[i]):.3f} ms"
        if i:
            r = [b / f for f, b in zip(times[0], times[i])]
            q = statistics.quantiles(r, n=4)
            line += (f"; against {sessions[0][0]}: x{statistics.median(r):.3f}"
                     f" (quartiles {q[0]:.3f}-{q[2]:.3f})")
        print(f"{line} ({a.threads} threads, {a.blocks} blocks of {RUNS} runs)")


if __name__ == "__main__":
    main()
