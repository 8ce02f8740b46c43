"""facetrack: real-time 68-point facial landmark tracking (iBUG 300-W points).

numpy frames in, points out; the same tracker, model and CSV layout as the
``facetrack`` command line (Rust, ONNX Runtime). Points are ``68 x 2`` float32 arrays
in pixels of the frame, 0-based pixel centres (the centre of the top-left pixel is
(0, 0)), in the iBUG order dlib and OpenFace use.

    >>> import facetrack
    >>> with facetrack.Tracker() as tracker:
    ...     for frame in frames:             # H x W x 3 uint8 (RGB; channels="bgr" for OpenCV)
    ...         for face in tracker.process(frame, channels="bgr"):
    ...             face.id, face.points, face.box, face.confidence, face.success
    >>> for frame_no, faces in facetrack.track("video.mp4"):   # decoded by facetrack
    ...     ...

Functions: :class:`Tracker` (video frames in order), :func:`track` (a video file's
faces frame by frame), :func:`landmarks` (still images), :func:`process_video` (a file
to CSV / annotated video / arrays), :func:`read_csv`. Options after the first argument(s)
are keyword-only.
Errors are :class:`FacetrackError` (setup, model, video, outputs), ``ValueError`` (a
bad frame or argument value), ``TypeError`` (an argument of the wrong type: a float32
frame, a list) or ``RuntimeError`` (a Tracker called from its own ``process_video``
progress callback).
"""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Union, overload

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    from typing import Literal


#: The ONNX Runtime library's file names in the ``onnxruntime`` wheel: Linux, macOS, Windows.
_ORT_NAMES = ("libonnxruntime.so.*", "libonnxruntime.*.dylib", "libonnxruntime.dylib", "onnxruntime.dll")


def _find_runtime() -> None:
    """Point the library at ONNX Runtime: ``FACETRACK_ORT_LIB`` if set, else the library
    of the ``onnxruntime`` pip package, else the library's own search (a set-up checkout)."""
    if os.environ.get("FACETRACK_ORT_LIB"):
        return
    spec = importlib.util.find_spec("onnxruntime")
    for d in (spec.submodule_search_locations or []) if spec else []:
        for name in _ORT_NAMES:
            libs = sorted(glob.glob(os.path.join(d, "capi", name)))
            if libs:
                os.environ["FACETRACK_ORT_LIB"] = libs[-1]
                return


_find_runtime()

from . import _facetrack  # noqa: E402
from ._facetrack import Face, FacetrackError, FrameFaces, __version__  # noqa: E402
from ._types import CsvArrays, VideoSummary  # noqa: E402

__all__ = [
    "__version__",
    "Face",
    "FacetrackError",
    "FrameFaces",
    "Tracker",
    "track",
    "landmarks",
    "process_video",
    "read_csv",
    "VideoSummary",
    "CsvArrays",
    "DEFAULT_MODEL",
    "SLIM_MODEL",
    "NUM_POINTS",
]


def __dir__() -> list[str]:
    """The public names (``dir(facetrack)`` listed the helpers' imports: ``os``, ``Any``, …)."""
    return sorted(__all__)

#: The model shipped inside the package.
DEFAULT_MODEL = Path(__file__).with_name("facetrack68.onnx")
#: The optional slim model shipped inside the package: half the channels inside each of
#: the network's residual blocks, about 0.6 ms a face faster on a 2-core CPU, for 0.06-0.09
#: points of NME (``Tracker(facetrack.SLIM_MODEL)``; models/MODEL_CARD.md).
SLIM_MODEL = Path(__file__).with_name("facetrack68-slim.onnx")
#: Points per face.
NUM_POINTS = 68


#: The float weights' file name: on CUDA the default where it lies beside the 8-bit default.
_FLOAT_MODEL_FILE = "facetrack68-fp32.onnx"


def _model_path(model, device: Any = "cpu", stacklevel: int = 3) -> str:
    """``model``, else ``$FACETRACK_MODEL``, else the packaged default; on CUDA (as the
    CLI's ``--device cuda``) the float weights beside that default where they are there,
    else the 8-bit default with a warning (``stacklevel``: the frames up to the user's
    line, from this function)."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model={model!r}: a path (str or os.PathLike) to an .onnx file, or None for the "
                        "packaged model")
    if isinstance(model, (str, os.PathLike)) and not os.fspath(model):
        raise FacetrackError("model='' names no file; pass model=PATH (or None for the packaged model)")
    named = model is not None or bool(os.environ.get("FACETRACK_MODEL"))
    p = Path(model) if model is not None else Path(os.environ.get("FACETRACK_MODEL") or DEFAULT_MODEL)
    if not named and isinstance(device, str) and device.lower().startswith("cuda"):
        float_file = p.with_name(_FLOAT_MODEL_FILE)
        if float_file.is_file():
            p = float_file
        else:
            import warnings

            warnings.warn(
                f"device={device!r} runs the 8-bit model {p} (no {_FLOAT_MODEL_FILE} beside it): its "
                "output layer runs on the CPU and its convolutions in float between rounding steps; "
                "pass model= the float weights (the repository's models/facetrack68-fp32.onnx)",
                stacklevel=stacklevel)
    if p.is_dir():
        raise FacetrackError(f"the model {p} is a folder; a model is an .onnx file (e.g. models/facetrack68.onnx)")
    if not p.is_file():
        if model is None and os.environ.get("FACETRACK_MODEL"):
            raise FacetrackError(f"FACETRACK_MODEL names {p}, which does not exist; set it to a model file "
                                 "(or unset it for the packaged model), or pass model=PATH")
        raise FacetrackError(f"the model {p} was not found; pass model=PATH or set FACETRACK_MODEL")
    return str(p)


def _boxes(boxes) -> list:
    """``boxes`` as a list of ``(x, y, w, h)`` float tuples; a single box (four numbers)
    is refused with what to write instead."""
    try:
        items = list(boxes)
    except TypeError:
        raise TypeError(f"boxes is a list of (x, y, w, h) boxes; got {type(boxes).__name__}") from None
    if items and all(isinstance(v, (int, float)) or getattr(v, "ndim", None) == 0 for v in items):
        raise TypeError(f"boxes is a list of (x, y, w, h) boxes; got one box {tuple(items)!r}: "
                        "write boxes=[box]")
    out = []
    for box in items:
        try:
            t = tuple(float(v) for v in box)
        except (TypeError, ValueError):
            raise TypeError(f"boxes is a list of (x, y, w, h) boxes; got the item {box!r}") from None
        if len(t) != 4:
            raise ValueError(f"a box is (x, y, w, h): 4 numbers; got {len(t)} ({box!r})")
        out.append(t)
    return out


def _ints(**options) -> None:
    """Refuse ``True``/``False`` where a count is expected (Python's bool is an int), and
    counts past what a 64-bit integer holds, naming the option (not an ``OverflowError``)."""
    for name, value in options.items():
        if isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not bool ({name}={value!r})")
        if isinstance(value, int) and not -2**63 <= value < 2**63:
            raise ValueError(f"{name}={value}: out of range")


def _treatment(no_pose, fx, fy, cx, cy, min_cutoff, beta) -> dict:
    """The native options of the head pose (``no_pose``, the camera ``fx``, ``fy``, ``cx``,
    ``cy`` in pixels: all four or none) and of the One Euro filter (``min_cutoff``,
    ``beta``), checked for type here and for range by the tracker (as the CLI's)."""
    import numbers

    def is_bool(v) -> bool:  # numpy's booleans too, as for the other flags
        return isinstance(v, bool) or (type(v).__module__ == "numpy" and type(v).__name__ in ("bool_", "bool"))

    if not is_bool(no_pose):
        raise TypeError(f"no_pose={no_pose!r}: True or False")
    named = {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "min_cutoff": min_cutoff, "beta": beta}
    for name, value in named.items():
        if value is None and name in ("fx", "fy", "cx", "cy"):
            continue
        if is_bool(value) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name}={value!r}: a number")
    camera = (fx, fy, cx, cy)
    missing = [n for n, v in zip(("fx", "fy", "cx", "cy"), camera) if v is None]
    if 0 < len(missing) < 4:
        raise ValueError(f"fx, fy, cx and cy go together (the camera's focal lengths and principal "
                         f"point, pixels): {', '.join(missing)} missing")
    if no_pose and not missing:
        raise ValueError("no_pose=True and a camera (fx, fy, cx, cy) exclude each other")
    # (as 32-bit floats, as the tracker holds them: a value beyond them is out of range)
    limit = 3.4e38

    def real(name, v) -> float:
        try:
            f = float(v)
        except OverflowError:
            f = float("inf")
        if abs(f) > limit and f == f:
            raise ValueError(f"{name}={v!r}: out of range")
        return f

    return {"no_pose": bool(no_pose),
            "camera": None if missing else tuple(real(n, v) for n, v in zip(("fx", "fy", "cx", "cy"), camera)),
            "one_euro": (real("min_cutoff", min_cutoff), real("beta", beta))}


def _progress(progress) -> None:
    """A progress callback is a callable (or None), checked before the work starts."""
    if progress is not None and not callable(progress):
        raise TypeError(f"progress={progress!r}: a function progress(done, total), or None")


class Tracker:
    """Tracks faces through the frames of one video, given in order.

    ``model``: an ONNX model from facetrack's trainer (default: the packaged one); the
    other options are keyword-only: ``device``: ``"cpu"`` or ``"cuda"`` (on CUDA the
    default model is the float file beside the packaged one, as the CLI's, if there);
    ``threads``: ONNX Runtime threads (0 = one per core; at most 256); ``flip``: also run each face mirrored and average
    the two (the CLI's ``--flip``: the most accurate setting, at twice the model's time);
    ``max_faces``; ``smooth``: One Euro smoothing of
    the points (``True``/``False``; ``min_cutoff``, Hz, lower is steadier, and ``beta``,
    higher lags less, are the CLI's ``--min-cutoff`` and ``--beta``); ``no_pose``: no
    head pose (``Face.pose`` is ``None``; the CLI's ``--no-pose``); ``fx``, ``fy``,
    ``cx``, ``cy``: the camera's focal lengths and principal point in pixels, all four or
    none, for the head pose (default: OpenFace's guess from the frame size, as the CLI's);
    ``detect_every``: face-detector period while faces
    are tracked; ``min_face``: smallest face the detector looks for, pixels (default: 40,
    or 1/12 of the frame's shorter side when that is larger, so that detection costs the
    same at any resolution); ``fps``: frame rate used for timestamps when :meth:`process`
    is given none. A bad value is a ``ValueError`` (``TypeError`` for a wrong type) naming
    the option. A frame of another size than the one before ends every track (its
    faces are found afresh, with new ids), as a scene cut does.

    One tracker may be shared by threads (one frame at a time; the others wait with the
    GIL released). Use it as a context manager, or call :meth:`close`, to free the model
    at once; a closed tracker raises ``ValueError``.
    """

    def __init__(self, model=None, *, device: str = "cpu", threads: int = 0, flip: bool = False,
                 max_faces: int = 4, smooth: bool = False, detect_every: int = 5,
                 min_face: Optional[int] = None, fps: float = 30.0, min_cutoff: float = 1.0,
                 beta: float = 0.05, no_pose: bool = False, fx: Optional[float] = None,
                 fy: Optional[float] = None, cx: Optional[float] = None, cy: Optional[float] = None):
        _ints(threads=threads, max_faces=max_faces, detect_every=detect_every, min_face=min_face)
        treat = _treatment(no_pose, fx, fy, cx, cy, min_cutoff, beta)
        self._inner = _facetrack.Tracker(_model_path(model, device), device=device, threads=threads,
                                         flip=flip, max_faces=max_faces, smooth=smooth, detect_every=detect_every,
                                         min_face=min_face, fps=fps, **treat)

    def process(self, frame, *, channels: Optional[str] = None, timestamp: Optional[float] = None) -> list[Face]:
        """Track one frame (``H x W`` gray or ``H x W x 3`` / ``x 4`` uint8).

        ``channels`` (any case): ``"rgb"`` (default for 3 channels), ``"bgr"`` (OpenCV),
        ``"rgba"``, ``"bgra"`` (a 4-channel frame must name one) or ``"gray"``. Returns
        the faces of this frame; a face keeps its ``id`` while it is tracked. The GIL is
        released while the frame is processed.
        """
        return self._inner.process(frame, channels=channels, timestamp=timestamp)

    def process_video(self, path, *, csv=None, annotate=None, overwrite: bool = False,
                      progress: Optional[Callable[[int, Optional[int]], object]] = None,
                      arrays: bool = False, keep_orientation: bool = False,
                      smooth_offline: bool = False, csv_format: str = "plain",
                      point_confidence: bool = False) -> VideoSummary:
        """Track a whole video file with this tracker's model (reset first), as
        :func:`process_video` does, without loading the model again."""
        _progress(progress)
        return self._inner.process_video(path, csv=csv, annotate=annotate, overwrite=overwrite,
                                         progress=progress, arrays=arrays,
                                         keep_orientation=keep_orientation,
                                         smooth_offline=smooth_offline, csv_format=csv_format,
                                         point_confidence=point_confidence)

    def reset(self) -> None:
        """Forget all faces (a new video or a scene cut)."""
        self._inner.reset()

    def close(self) -> None:
        """Free the model now; later calls raise ``ValueError``. Closing twice is harmless."""
        self._inner.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._inner.closed

    def __copy__(self):
        # a shallow copy would share the model and the tracks: closing or resetting one
        # would close or reset the other
        raise TypeError("a Tracker cannot be copied (it holds a model and its tracks); make a new "
                        "facetrack.Tracker with the same options")

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(path, *, model=None, device: str = "cpu", threads: int = 0, flip: bool = False, max_faces: int = 4,
          smooth: bool = False, detect_every: int = 5, min_face: Optional[int] = None,
          keep_orientation: bool = False, min_cutoff: float = 1.0, beta: float = 0.05,
          no_pose: bool = False, fx: Optional[float] = None, fy: Optional[float] = None,
          cx: Optional[float] = None, cy: Optional[float] = None) -> FrameFaces:
    """The faces of a video file, frame by frame: ``for frame_no, faces in track(path)``.

    facetrack decodes the file (any container and codec FFmpeg reads) a few frames ahead
    of the tracker, so the video is never held in memory; ``frame_no`` counts from 0 (the
    CSV's ``frame`` column counts from 1, as OpenFace's); the iterator's ``timestamp`` is
    the last frame's time in seconds, as the CSV's (variable frame rates kept), and each
    face's ``blink`` is held over the frames as in the CSV. Options as :class:`Tracker`;
    frames are turned by the stream's display matrix, and pixels that are not square
    (DV, HDV) resampled to square ones, unless ``keep_orientation``. After
    the loop, the iterator's ``skipped_packets`` counts packets the decoder skipped (a
    damaged or truncated file), ``end_note`` says why the video ended early (a file cut
    short; ``None`` for a whole one, as :func:`process_video`'s) and ``frames`` counts
    the frames tracked; ``close()`` (or
    dropping it) stops the decoder early. A file with no decodable frame raises
    :class:`FacetrackError` (as :func:`process_video` does) rather than yielding nothing.
    """
    _ints(threads=threads, max_faces=max_faces, detect_every=detect_every, min_face=min_face)
    treat = _treatment(no_pose, fx, fy, cx, cy, min_cutoff, beta)
    return _facetrack.track(path, _model_path(model, device), device=device, threads=threads, flip=flip,
                            max_faces=max_faces,
                            smooth=smooth, detect_every=detect_every, min_face=min_face,
                            keep_orientation=keep_orientation, **treat)


def landmarks(image, boxes=None, *, channels: Optional[str] = None, model=None, max_faces: int = 8,
              min_face: int = 40, threads: int = 0, device: str = "cpu", flip: bool = False) -> list[Face]:
    """The 68 points of each face in a still image (a uint8 array; see :meth:`Tracker.process`).

    ``boxes``: ``(x, y, width, height)`` per face (a tight box around the face, as
    dlib's or any detector's after calibration); without them facetrack's detector
    finds up to ``max_faces`` faces of at least ``min_face`` pixels. Returns one
    :class:`Face` per box or detection. A face's ``confidence`` comes from the model's
    landmark quality (with the detector's score when it found the face), so a box on a
    blank wall has a low confidence and ``success=False``; a box wholly outside the
    image is a ``ValueError``. ``flip=True`` also runs each face mirrored and averages
    the two (the most accurate setting, at twice the model's time). Loaded models are
    kept between calls, one per set of options (``model``, ``device``, ``threads``,
    ``flip``, ``min_face``); threads calling at once run in parallel.
    """
    _ints(threads=threads, max_faces=max_faces, min_face=min_face)
    b = None if boxes is None else _boxes(boxes)
    return _facetrack.landmarks(image, _model_path(model, device), boxes=b, channels=channels, max_faces=max_faces,
                                min_face=min_face, threads=threads, device=device, flip=flip)


def process_video(path, *, csv=None, annotate=None, overwrite: bool = False,
                  progress: Optional[Callable[[int, Optional[int]], object]] = None, arrays: bool = False,
                  model=None, device: str = "cpu", threads: int = 0, flip: bool = False, max_faces: int = 4,
                  smooth: bool = False,
                  detect_every: int = 5, min_face: Optional[int] = None,
                  keep_orientation: bool = False, smooth_offline: bool = False,
                  csv_format: str = "plain", point_confidence: bool = False, min_cutoff: float = 1.0,
                  beta: float = 0.05, no_pose: bool = False, fx: Optional[float] = None,
                  fy: Optional[float] = None, cx: Optional[float] = None,
                  cy: Optional[float] = None) -> VideoSummary:
    """Track a video file (any container and codec FFmpeg reads).

    Writes ``csv`` (OpenFace's columns) and/or ``annotate`` (an H.264 MP4 with the points
    drawn); an existing output is an error unless ``overwrite``. Outputs are written under
    hidden temporary names beside them and renamed when the whole video is done: an
    error, a failing callback or Ctrl-C (``KeyboardInterrupt``) leaves no truncated file
    and an existing one untouched. ``progress(done, total)`` is called as frames are done
    (``total`` may be ``None``); an exception in it stops the run and is raised. Returns a
    :class:`VideoSummary` (``frames``, ``frames_with_face``, ``faces``, ``seconds``,
    ``fps``: the processing speed, frames tracked a second, not the video's frame rate,
    ``skipped_packets``, ``end_note``: ``None``, or why the video ended early, as for an
    MP4 cut short, ``size_note``: ``None``, or where the frame size changed midway
    (each row's points are in its own frame's pixels), ``scene_cuts``: cuts between
    shots that ended tracks (the faces after them get new ids), ``crowded_runs``: detector
    runs that saw more faces than ``max_faces`` let it track (faces in no row: raise
    ``max_faces``), ``width``, ``height``
    (the first frames'), ``orientation``); with
    ``arrays=True`` also the results as :func:`read_csv` gives them, straight from the
    tracker at full precision (no file needed).

    Frames are tracked as players show them: a stream's display matrix (a phone video
    stored sideways with a "rotate 90" tag) is applied, pixels that are not square (DV,
    HDV) are resampled to square ones, and the points are in that displayed frame
    (the summary's ``width`` and ``height``); ``keep_orientation=True`` keeps the frames
    as stored.

    ``smooth_offline=True`` smooths the points two-sided, as the CLI's
    ``--smooth-offline``: each frame with the frames before and after it, per track, in
    the face's own frame (no lag for head motion; a fast expression change may be
    averaged away in the points, so the eye and mouth signals are measured on the
    model's own points, as they are without smoothing).
    It is for files; ``smooth=True`` is the one-sided filter for live use, and the two
    exclude each other. With ``annotate`` the video is decoded twice (the drawing uses the
    smoothed points).

    The tracker's options are :class:`Tracker`'s (``no_pose=True`` leaves the ``pose_*``
    columns out, as the CLI's ``--no-pose``).

    The CSV has the CLI's columns: ``point_confidence=True`` adds ``c_0 … c_67`` (the
    CLI's ``--point-confidence``), ``csv_format="openface"`` writes OpenFace 2.x's ``", "``
    separators and header spelling for scripts that read ``row[' AU45_r']`` (the CLI's
    ``--csv-format openface``). Both choose the CSV's columns only: ``arrays=True``
    always carries ``point_confidence``, straight from the tracker (with the shipped
    heat-map models; zeros on the rows of frames without a face).
    """
    _ints(threads=threads, max_faces=max_faces, detect_every=detect_every, min_face=min_face)
    _progress(progress)
    treat = _treatment(no_pose, fx, fy, cx, cy, min_cutoff, beta)
    return _facetrack.process_video(path, _model_path(model, device), csv=csv, annotate=annotate, overwrite=overwrite,
                                    progress=progress, arrays=arrays, device=device, threads=threads,
                                    flip=flip, max_faces=max_faces, smooth=smooth, detect_every=detect_every,
                                    min_face=min_face, keep_orientation=keep_orientation,
                                    smooth_offline=smooth_offline, csv_format=csv_format,
                                    point_confidence=point_confidence, **treat)


@overload
def read_csv(path, *, as_frame: "Literal[False]" = ...) -> CsvArrays: ...
@overload
def read_csv(path, *, as_frame: "Literal[True]") -> "pandas.DataFrame": ...


def read_csv(path, *, as_frame: bool = False) -> Union[CsvArrays, "pandas.DataFrame"]:
    """Read a facetrack (OpenFace-layout) video CSV.

    Returns a dict of numpy arrays (:class:`CsvArrays`): ``frame`` (from 1),
    ``face_id``, ``timestamp``, ``confidence``, ``success`` (one value per row),
    ``points`` (rows x 68 x 2) and, when the file has OpenFace's pose columns, ``pose``
    (rows x 6: Tx, Ty, Tz mm, Rx, Ry, Rz rad); with ``as_frame=True`` a pandas DataFrame
    with OpenFace's columns instead (``success`` and ``blink`` as bool columns there too). Every frame has at least one row: a frame without a
    face has one "no face" placeholder row with ``face_id = -1``, ``success`` false,
    confidence 0 and zero points (and pose), so filter on ``face_id >= 0`` (or
    ``success``) before using the points. When the file has them (each one there, also
    without the others: OpenFace 2.x's ``AU45_r``): the eye and mouth signals
    ``eye_open_l``, ``eye_open_r``, ``blink`` (bool), ``mouth_open``, ``AU45_r`` (one
    value per row) and ``point_confidence`` (rows x 68, written with
    ``--point-confidence``). Plain and ``--csv-format openface`` files read the same.
    With ``as_frame=True`` the file's other columns (an OpenFace 2.x file's gaze and
    action units, your own) follow these, as pandas reads them.
    """
    d = _facetrack.read_csv(path)
    if not as_frame:
        return d
    import pandas as pd

    cols: dict[str, Any] = {k: d[k] for k in ("frame", "face_id", "timestamp", "confidence", "success")}
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
            cols[name] = d[name]
    if "point_confidence" in d:
        for i in range(d["point_confidence"].shape[1]):
            cols[f"c_{i}"] = d["point_confidence"][:, i]
    frame = pd.DataFrame(cols)
    # the file's other columns (an OpenFace 2.x file's gaze, eye landmarks and action
    # units), as pandas reads them, after these
    extra = _other_columns(path, set(cols))
    if extra is not None:
        if len(extra) == len(frame):
            frame = pd.concat([frame, extra.reset_index(drop=True)], axis=1)
        else:
            import warnings

            warnings.warn(f"{path}: its other columns ({', '.join(extra.columns)}) were left out: pandas read "
                          f"{len(extra)} rows of them where facetrack read {len(frame)}", stacklevel=2)
    return frame


def _other_columns(path, known: set):
    """The columns of a CSV not in ``known`` (names trimmed, OpenFace's ``", "`` read),
    as a DataFrame of the rows the library read (blank lines skipped); None when there
    are none."""
    import pandas as pd

    with open(path, newline="", encoding="utf-8-sig") as f:
        header = [c.strip() for c in f.readline().split(",")]
    # by place in the header: an empty name is the index column pandas' to_csv writes by
    # default (pandas would call it "Unnamed: 0", as it might a column of that name)
    wanted = [k for k, c in enumerate(header) if c and c not in known]
    if not wanted:
        return None
    extra = pd.read_csv(path, skipinitialspace=True, encoding="utf-8-sig", usecols=wanted)
    extra.columns = [c.strip() for c in extra.columns]
    return extra
