"""facetrack: real-time 68-point facial landmark tracking (iBUG 300-W points).

numpy frames in, points out; the same tracker, model and CSV layout as the
``facetrack`` command line (Rust, ONNX Runtime). Points are ``68 x 2`` float32 arrays
in pixels of the frame, 0-based pixel centres (the centre of the top-left pixel is
(0, 0)), in the iBUG order dlib and OpenFace use.

    >>> import facetrack
    >>> tracker = facetrack.Tracker()
    >>> for frame in frames:                 # H x W x 3 uint8 (RGB; channels="bgr" for OpenCV)
    ...     for face in tracker.process(frame):
    ...         face.id, face.points, face.box, face.confidence, face.success

Functions: :class:`Tracker` (video frames in order), :func:`landmarks` (still images),
:func:`process_video` (a file to CSV / annotated video), :func:`read_csv`.
Errors are :class:`FacetrackError` (setup, model, video, outputs) or ``ValueError``
(a bad frame or argument).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import tempfile
from pathlib import Path


def _find_runtime() -> None:
    """Point the library at ONNX Runtime: ``FACETRACK_ORT_LIB`` if set, else the library
    of the ``onnxruntime`` pip package, else the library's own search (a set-up checkout)."""
    if os.environ.get("FACETRACK_ORT_LIB"):
        return
    spec = importlib.util.find_spec("onnxruntime")
    for d in (spec.submodule_search_locations or []) if spec else []:
        libs = sorted(glob.glob(os.path.join(d, "capi", "libonnxruntime.so.*")))
        if libs:
            os.environ["FACETRACK_ORT_LIB"] = libs[-1]
            return


_find_runtime()

from . import _facetrack  # noqa: E402
from ._facetrack import Face, FacetrackError  # noqa: E402

__all__ = [
    "Face",
    "FacetrackError",
    "Tracker",
    "landmarks",
    "process_video",
    "read_csv",
    "DEFAULT_MODEL",
    "NUM_POINTS",
]

#: The model shipped inside the package.
DEFAULT_MODEL = Path(__file__).with_name("facetrack68.onnx")
#: Points per face.
NUM_POINTS = 68


def _model_path(model) -> str:
    """``model``, else ``$FACETRACK_MODEL``, else the packaged default."""
    p = Path(model) if model is not None else Path(os.environ.get("FACETRACK_MODEL") or DEFAULT_MODEL)
    if not p.is_file():
        raise FacetrackError(f"the model {p} was not found; pass model=PATH or set FACETRACK_MODEL")
    return str(p)


class Tracker:
    """Tracks faces through the frames of one video, given in order.

    ``model``: an ONNX model from facetrack's trainer (default: the packaged one);
    ``device``: ``"cpu"`` or ``"cuda"``; ``threads``: ONNX Runtime threads (0 = one per
    core); ``max_faces``; ``smooth``: One Euro smoothing of the points;
    ``detect_every``: face-detector period while faces are tracked; ``min_face``:
    smallest face the detector looks for, pixels (default: 40, or 1/12 of the frame's
    shorter side when that is larger, so that detection costs the same at any
    resolution); ``fps``: frame rate used for
    timestamps when :meth:`process` is given none.
    """

    def __init__(self, model=None, device="cpu", threads=0, max_faces=4, smooth=False,
                 detect_every=5, min_face=None, fps=30.0):
        self._inner = _facetrack.Tracker(_model_path(model), device, int(threads), int(max_faces),
                                         bool(smooth), int(detect_every),
                                         None if min_face is None else int(min_face), float(fps))

    def process(self, frame, channels=None, timestamp=None) -> list[Face]:
        """Track one frame (``H x W`` gray or ``H x W x 3`` / ``x 4`` uint8).

        ``channels``: ``"rgb"`` (default for 3 channels), ``"bgr"`` (OpenCV), ``"rgba"``,
        ``"bgra"`` or ``"gray"``. Returns the faces of this frame; a face keeps its ``id``
        while it is tracked. The GIL is released while the frame is processed.
        """
        return self._inner.process(frame, channels, timestamp)

    def reset(self) -> None:
        """Forget all faces (a new video or a scene cut)."""
        self._inner.reset()


def landmarks(image, boxes=None, channels=None, model=None, max_faces=8, min_face=20) -> list[Face]:
    """The 68 points of each face in a still image.

    ``boxes``: ``(x, y, width, height)`` per face (a tight box around the face, as
    dlib's or any detector's after calibration); without them facetrack's detector
    finds the faces. Returns one :class:`Face` per box or detection.
    """
    b = None if boxes is None else [tuple(float(v) for v in box) for box in boxes]
    return _facetrack.landmarks(image, _model_path(model), b, channels, int(max_faces), int(min_face))


def process_video(path, csv=None, annotate=None, overwrite=False, progress=None, arrays=False,
                  model=None, device="cpu", threads=0, max_faces=4, smooth=False, detect_every=5,
                  min_face=None, keep_orientation=False) -> dict:
    """Track a video file (any container and codec FFmpeg reads).

    Writes ``csv`` (OpenFace's columns) and/or ``annotate`` (an H.264 MP4 with the points
    drawn); an existing output is an error unless ``overwrite``. Outputs are written under
    hidden temporary names beside them and renamed when the whole video is done: an
    error, a failing callback or Ctrl-C (``KeyboardInterrupt``) leaves no truncated file
    and an existing one untouched. ``progress(done, total)`` is called as frames are done
    (``total`` may be ``None``); an exception in it stops the run and is raised. Returns a summary
    (``frames``, ``frames_with_face``, ``faces``, ``seconds``, ``fps``,
    ``skipped_packets``); with ``arrays=True`` also the results as :func:`read_csv`
    gives them, and ``width``, ``height`` and ``orientation`` (the frames tracked).

    Frames are tracked as players show them: a stream's display matrix (a phone video
    stored sideways with a "rotate 90" tag) is applied, and the points are in that
    displayed frame; ``keep_orientation=True`` keeps the frames as stored.
    """
    tmp = None
    if arrays and csv is None:
        tmp = tempfile.TemporaryDirectory(prefix="facetrack-")
        csv = os.path.join(tmp.name, "faces.csv")
    try:
        out = _facetrack.process_video(
            str(path), _model_path(model),
            None if csv is None else str(csv), None if annotate is None else str(annotate),
            bool(overwrite), progress, device, int(threads), int(max_faces), bool(smooth),
            int(detect_every), None if min_face is None else int(min_face),
            bool(keep_orientation))
        if arrays:
            out.update(read_csv(csv))
        return out
    finally:
        if tmp is not None:
            tmp.cleanup()


def read_csv(path, as_frame=False):
    """Read a facetrack (OpenFace-layout) video CSV.

    Returns a dict of numpy arrays: ``frame``, ``face_id``, ``timestamp``,
    ``confidence``, ``success`` (one value per row), ``points`` (rows x 68 x 2) and, when
    the file has OpenFace's pose columns, ``pose`` (rows x 6: Tx, Ty, Tz mm, Rx, Ry, Rz rad);
    when it has them, the eye and mouth signals ``eye_open_l``, ``eye_open_r``, ``blink``
    (bool), ``mouth_open``, ``AU45_r`` and ``point_confidence`` (rows x 68, written with
    ``--point-confidence``); with ``as_frame=True`` a pandas DataFrame with the file's
    column names instead. Plain and ``--csv-format openface`` files read the same.
    """
    d = _facetrack.read_csv(str(path))
    if not as_frame:
        return d
    import pandas as pd

    cols = {k: d[k] for k in ("frame", "face_id", "timestamp", "confidence", "success")}
    pts = d["points"]
    for i in range(pts.shape[1]):
        cols[f"x_{i}"] = pts[:, i, 0]
    for i in range(pts.shape[1]):
        cols[f"y_{i}"] = pts[:, i, 1]
    if "pose" in d:
        for k, name in enumerate(("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz")):
            cols[name] = d["pose"][:, k]
    for name in ("eye_open_l", "eye_open_r", "blink", "mouth_open", "AU45_r"):
        if name in d:
            cols[name] = d[name].astype("uint8") if name == "blink" else d[name]
    if "point_confidence" in d:
        for i in range(d["point_confidence"].shape[1]):
            cols[f"c_{i}"] = d["point_confidence"][:, i]
    return pd.DataFrame(cols)


def _tracker_process_video(self, path, csv=None, annotate=None, overwrite=False, progress=None,
                           keep_orientation=False) -> dict:
    """Track a whole video file with this tracker's model (reset first), as
    :func:`process_video` does, without loading the model again."""
    return self._inner.process_video(str(path), None if csv is None else str(csv),
                                     None if annotate is None else str(annotate), bool(overwrite), progress,
                                     bool(keep_orientation))


Tracker.process_video = _tracker_process_video
