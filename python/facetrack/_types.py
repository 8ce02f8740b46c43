"""The shapes of facetrack's results, for type checkers and readers: dicts at run time
(``summary["frames"]``), described here as ``TypedDict``s."""

from __future__ import annotations

from typing import Optional, TypedDict

import numpy as np


class CsvArrays(TypedDict, total=False):
    """A video's results as numpy arrays, one entry per row (:func:`facetrack.read_csv`).

    A frame without a face has one placeholder row: ``face_id = -1``, ``success`` False,
    confidence 0, zero points. ``pose`` is there when the CSV has OpenFace's pose columns.
    """

    frame: np.ndarray  # int64, from 1
    face_id: np.ndarray  # int64, -1: no face in this frame
    timestamp: np.ndarray  # float64 seconds
    confidence: np.ndarray  # float32 0..1
    success: np.ndarray  # bool
    points: np.ndarray  # float32 rows x 68 x 2, pixels, 0-based centres
    pose: np.ndarray  # float32 rows x 6: Tx, Ty, Tz mm, Rx, Ry, Rz rad
    eye_open_l: np.ndarray  # float32, subject's left eye openness: ~1 open, ~0 closed
    eye_open_r: np.ndarray  # float32, subject's right eye
    blink: np.ndarray  # bool, both eyes closed (hysteresis over frames)
    mouth_open: np.ndarray  # float32, inner-lip gap / outer-eye-corner distance
    AU45_r: np.ndarray  # float32, OpenFace's blink intensity scale 0-5 (from the landmarks)
    point_confidence: np.ndarray  # float32 rows x 68, 0-1, when the CSV has c_0..c_67


class _SummaryCore(TypedDict):
    frames: int
    frames_with_face: int
    faces: int
    seconds: float  # wall time of the run
    fps: float  # processing speed, frames tracked per second of wall time (not the video's frame rate)
    skipped_packets: int
    end_note: Optional[str]  # why the video ended early (an MP4 cut short), else None
    size_note: Optional[str]  # where the frame size changed midway, else None
    scene_cuts: int  # cuts between shots that ended tracks (new ids after each)
    crowded_runs: int  # detector runs that saw more faces than max_faces let it track (faces in no row)
    width: int
    height: int
    orientation: str


class VideoSummary(_SummaryCore, CsvArrays, total=False):
    """What :func:`facetrack.process_video` returns: the run's figures, and with
    ``arrays=True`` the :class:`CsvArrays` entries too."""


class RayRow(TypedDict, total=False):
    """One video's row in :func:`facetrack.ray.process_videos` / ``iter_videos``: the same
    keys for a success and a failure (``None`` where a value is unknown, as ``frames`` of
    a failed video); ``table`` only with ``tables=True``."""

    video: str
    ok: bool
    output: Optional[str]  # the written file, None with tables only or on failure
    frames: Optional[int]
    frames_with_face: Optional[int]
    faces: Optional[int]
    fps: Optional[float]  # processing speed on the worker, frames a second (not the video's frame rate)
    seconds: Optional[float]  # wall time on the worker
    skipped_packets: Optional[int]  # corrupt packets the decoder skipped (a damaged file)
    end_note: Optional[str]  # why the video ended early (an MP4 cut short), else None
    scene_cuts: Optional[int]  # cuts between shots that ended tracks (new ids after each)
    crowded_runs: Optional[int]  # detector runs that saw more faces than max_faces let it track
    worker: Optional[int]  # the actor's number, stable for the run
    host: Optional[str]
    node: Optional[str]  # Ray node id
    attempt: Optional[int]  # 1 first, 2 or more: it ran again after a worker died
    started: Optional[float]  # seconds since the epoch
    finished: Optional[float]
    error: Optional[str]  # "Type: message" of a failure
    already_done: bool  # skip_existing=True left it alone: its output was there
    table: object  # pandas.DataFrame of the landmarks, with tables=True


__all__ = ["CsvArrays", "RayRow", "VideoSummary"]
