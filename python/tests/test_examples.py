"""The Python examples in examples/python, on real pictures: still.py turns a photo as its
EXIF orientation says (phones store most pictures turned, with the tag)."""

import struct
import subprocess
import sys

import numpy as np

import facetrack
from test_facetrack import MEGAMIND, REPO

STILL = REPO / "examples" / "python" / "still.py"


def with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an EXIF segment holding only the orientation tag (0x0112), right
    after its start marker, as a phone writes it."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)  # big-endian, the first IFD at 8
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    body = b"Exif\x00\x00" + tiff + ifd
    app1 = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + app1 + jpeg[2:]


def test_still_example_turns_a_photo_by_its_exif_orientation(tmp_path):
    # frame 61 of Megamind.avi (two faces) as a JPEG, and the same file tagged "turn 90°
    # clockwise to show" (orientation 6): the stored picture is the same, the shown one turned
    jpeg = subprocess.run(["ffmpeg", "-v", "error", "-i", str(MEGAMIND), "-vf", "select=eq(n\\,60)",
                           "-frames:v", "1", "-f", "image2pipe", "-c:v", "mjpeg", "-"],
                          check=True, capture_output=True).stdout
    plain, turned = tmp_path / "plain.jpg", tmp_path / "turned.jpg"
    plain.write_bytes(jpeg)
    turned.write_bytes(with_orientation(jpeg, 6))
    # (the example runs on sys.argv's files when imported: none here)
    argv, sys.argv = sys.argv, [str(STILL)]
    sys.path.insert(0, str(STILL.parent))
    try:
        import still  # noqa: PLC0415
    finally:
        sys.path.pop(0)
        sys.argv = argv
    a, b = still.decode_rgb(str(plain)), still.decode_rgb(str(turned))
    assert b.shape == (a.shape[1], a.shape[0], 3)
    # the turned picture is the plain one turned a quarter clockwise, pixel for pixel
    # (JPEG decoding of the same data: equal within rounding)
    assert np.abs(np.rot90(a, k=-1).astype(int) - b.astype(int)).max() <= 2
    found = [facetrack.landmarks(x, max_faces=4) for x in (a, b)]
    assert len(found[0]) >= 1 and len(found[1]) == len(found[0])
    # and from the command line, a row per face of each photo
    out = subprocess.run([sys.executable, str(STILL), str(plain), str(turned)],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    assert out[0].startswith("file,face,confidence,x_0,y_0")
    assert sum(line.startswith(str(turned)) for line in out) == len(found[0])
