"""The 68 points of every face in photos, printed as CSV (numpy only; decodes with ffmpeg).

    .deps/venv/bin/python examples/python/still.py photo.jpg [more.jpg ...]
"""
import subprocess
import sys

import numpy as np

import facetrack


def decode_rgb(path):
    w, h = map(int, subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
         "-of", "csv=p=0", path], check=True, capture_output=True, text=True).stdout.split(","))
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3)


print("file,face,confidence," + ",".join(f"x_{i},y_{i}" for i in range(68)))
for path in sys.argv[1:]:
    for face in facetrack.landmarks(decode_rgb(path)):
        coords = ",".join(f"{x:.2f},{y:.2f}" for x, y in face.points)
        print(f"{path},{face.id},{face.confidence:.3f},{coords}")
