"""The 68 points of every face in photos, printed as CSV (numpy only; decodes with ffmpeg).

    .deps/venv/bin/python examples/python/still.py photo.jpg [more.jpg ...]
"""
import subprocess
import sys

import numpy as np

import facetrack


def decode_rgb(path):
    """The first picture of ``path`` as ``H x W x 3`` RGB, turned as ffmpeg shows it (a
    phone photo's EXIF orientation applied): ffmpeg writes it as a PPM, whose header
    gives the size of what it decoded, not the stored size that ffprobe reports."""
    ppm = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-frames:v", "1", "-f", "image2pipe",
                          "-c:v", "ppm", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    # the header: "P6", width, height, maxval, each followed by white space
    fields, pos = [], 0
    while len(fields) < 4:
        while ppm[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not ppm[end:end + 1].isspace():
            end += 1
        fields.append(ppm[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError(f"{path}: ffmpeg gave no 8-bit RGB picture")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(ppm, np.uint8, count=w * h * 3, offset=pos + 1).reshape(h, w, 3)


print("file,face,confidence," + ",".join(f"x_{i},y_{i}" for i in range(68)))
for path in sys.argv[1:]:
    for face in facetrack.landmarks(decode_rgb(path)):
        coords = ",".join(f"{x:.2f},{y:.2f}" for x, y in face.points)
        print(f"{path},{face.id},{face.confidence:.3f},{coords}")
