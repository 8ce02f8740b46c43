"""Per-frame cost from Python on frames the caller already decoded: facetrack's
`Tracker.process` or MediaPipe FaceMesh's `process` (legacy solutions API, CPU), on the
same frames. The clip is decoded once by FFmpeg (`ffmpeg -f rawvideo`) into memory before
any timing; only the per-frame calls are timed. Prints one JSON line.

    python bench/python_frames.py facetrack|mediapipe CLIP.mp4 [FRAMES] [rgb|bgr] [MAX_FACES] [MODEL]

MAX_FACES is facetrack's `max_faces` (default 4, the package's default); MediaPipe is always
asked for one face (`max_num_faces=1`), so `1` runs facetrack on the same task. With as many
faces tracked as asked for, and all clear, facetrack's tracker runs no detector at all.
MODEL is the ONNX model facetrack runs (default: the packaged one).

Run it with the interpreter that has the system installed: facetrack's in .deps/venv,
MediaPipe's in .deps/mediapipe-venv (bench/compare_speed.sh makes both and runs this).
"""
import json
import resource
import subprocess
import sys
import time

import numpy as np


def frames_of(path, limit):
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True).stdout.split(",")
    w, h = int(probe[0]), int(probe[1])
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-frames:v", str(limit), "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    n = len(raw) // (w * h * 3)
    return np.frombuffer(raw, np.uint8)[: n * w * h * 3].reshape(n, h, w, 3)


def main():
    system, clip = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    order = sys.argv[4] if len(sys.argv) > 4 else "rgb"
    max_faces = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    model = sys.argv[6] if len(sys.argv) > 6 else None
    frames = frames_of(clip, limit)
    if order == "bgr":
        frames = np.ascontiguousarray(frames[..., ::-1])
    found = 0
    if system == "facetrack":
        import facetrack

        tracker = facetrack.Tracker(model, max_faces=max_faces)
        step = lambda f: len(tracker.process(f, channels=order))  # noqa: E731
    elif system == "mediapipe":
        import mediapipe as mp

        mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=False,
            min_detection_confidence=0.5)
        step = lambda f: 1 if mesh.process(f).multi_face_landmarks else 0  # noqa: E731
    else:
        sys.exit(f"unknown system {system!r}: facetrack or mediapipe")
    step(frames[0])  # warm-up (first detection, lazy initialisation)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for f in frames:
        found += step(f) > 0
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    n = len(frames)
    print(json.dumps({
        "system": system, "frames": n, "size": f"{frames.shape[2]}x{frames.shape[1]}",
        "order": order, "max_faces": max_faces if system == "facetrack" else 1,
        "model": (model or "default") if system == "facetrack" else "face_mesh", "found": int(found), "ms_per_frame": 1000 * wall / n,
        "cpu_ms_per_frame": 1000 * cpu / n, "frames_per_s": n / wall,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
