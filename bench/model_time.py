"""The model's own time: ONNX Runtime's Python API on one 112x112 crop, 2 intra-op
threads, 5 rounds of 200 runs a model (after 30 warm-up runs), the models alternating;
prints the fastest and the median round, ms a run.

    .deps/venv/bin/python bench/model_time.py MODEL.onnx [MODEL.onnx ...] [--threads N]
"""
import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    sessions = {}
    for path in a.models:
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        shape = [1 if not isinstance(d, int) else d for d in s.get_inputs()[0].shape]
        x = np.random.default_rng(0).uniform(-2, 2, shape).astype(np.float32)
        sessions[path] = (s, {s.get_inputs()[0].name: x})
    times = {p: [] for p in sessions}
    for _ in range(a.rounds):
        for p, (s, feed) in sessions.items():
            for _ in range(30):
                s.run(None, feed)
            t = time.perf_counter()
            for _ in range(200):
                s.run(None, feed)
            times[p].append((time.perf_counter() - t) / 200 * 1e3)
    for p, v in times.items():
        print(f"{p}: fastest {min(v):.3f} ms, median {statistics.median(v):.3f} ms ({a.threads} threads)")


if __name__ == "__main__":
    main()
