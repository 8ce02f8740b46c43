from pathlib import Path
from types import TracebackType
from typing import Callable, Iterator, Literal, Optional, Sequence, Tuple, Type, Union, overload

import numpy as np
import numpy.typing as npt
import pandas

PathLike = Union[str, Path]
Progress = Callable[[int, Optional[int]], object]

__version__: str
DEFAULT_MODEL: Path
SLIM_MODEL: Path
NUM_POINTS: int

class FacetrackError(RuntimeError): ...

# the result shapes are defined once, in _types.py (re-exported by the package)
from ._types import CsvArrays as CsvArrays, RayRow as RayRow, VideoSummary as VideoSummary

class Face:
    def __init__(
        self,
        id: int,
        points: npt.ArrayLike,  # N x 2 numbers, taken as float32
        box: Tuple[float, float, float, float],
        confidence: float,
        success: bool,
        pose: Optional[Tuple[float, float, float, float, float, float]] = ...,
        point_confidence: Optional[npt.ArrayLike] = ...,  # one a point
        raw_points: Optional[npt.ArrayLike] = ...,  # N x 2, as points
    ) -> None: ...
    @property
    def id(self) -> int: ...
    @property
    def points(self) -> npt.NDArray[np.float32]: ...  # 68 x 2, read-only, pixels, 0-based centres
    @property
    def raw_points(self) -> npt.NDArray[np.float32]: ...  # the model's own points (before smoothing); the signals use them
    @property
    def box(self) -> Tuple[float, float, float, float]: ...  # x, y, width, height
    @property
    def confidence(self) -> float: ...
    @property
    def success(self) -> bool: ...
    @property
    def pose(self) -> Optional[Tuple[float, float, float, float, float, float]]: ...  # Tx, Ty, Tz mm; Rx, Ry, Rz rad
    @property
    def eye_open_l(self) -> Optional[float]: ...  # subject's left eye (points 42-47): ~1 open, ~0 closed
    @property
    def eye_open_r(self) -> Optional[float]: ...  # subject's right eye (points 36-41)
    @property
    def blink(self) -> Optional[bool]: ...  # both eyes closed (in a video with the CSV's hysteresis over the frames)
    @property
    def mouth_open(self) -> Optional[float]: ...  # inner-lip gap / outer-eye-corner distance
    @property
    def au45_r(self) -> Optional[float]: ...  # OpenFace's AU45_r scale (0-5), from the eye openness
    @property
    def point_confidence(self) -> Optional[npt.NDArray[np.float32]]: ...  # 68, each point's confidence 0-1
    def __eq__(self, other: object) -> bool: ...  # the same values (a pickled face equals its original)
    def __hash__(self) -> int: ...

class Tracker:
    def __init__(
        self,
        model: Optional[PathLike] = ...,
        *,
        device: str = ...,
        threads: int = ...,
        flip: bool = ...,
        max_faces: int = ...,
        smooth: bool = ...,
        detect_every: int = ...,
        min_face: Optional[int] = ...,
        fps: float = ...,
        min_cutoff: float = ...,
        beta: float = ...,
        no_pose: bool = ...,
        fx: Optional[float] = ...,
        fy: Optional[float] = ...,
        cx: Optional[float] = ...,
        cy: Optional[float] = ...,
    ) -> None: ...
    def process(
        self,
        frame: npt.NDArray[np.uint8],
        *,
        channels: Optional[str] = ...,
        timestamp: Optional[float] = ...,
    ) -> list[Face]: ...
    def process_video(
        self,
        path: PathLike,
        *,
        csv: Optional[PathLike] = ...,
        annotate: Optional[PathLike] = ...,
        overwrite: bool = ...,
        progress: Optional[Progress] = ...,
        arrays: bool = ...,
        keep_orientation: bool = ...,
        smooth_offline: bool = ...,
        csv_format: Literal["plain", "openface"] = ...,
        point_confidence: bool = ...,
    ) -> VideoSummary: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Tracker: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

class FrameFaces(Iterator[Tuple[int, list[Face]]]):
    def __next__(self) -> Tuple[int, list[Face]]: ...
    @property
    def timestamp(self) -> Optional[float]: ...
    @property
    def frames(self) -> int: ...
    @property
    def skipped_packets(self) -> int: ...
    @property
    def end_note(self) -> Optional[str]: ...
    def close(self) -> None: ...

def track(
    path: PathLike,
    *,
    model: Optional[PathLike] = ...,
    device: str = ...,
    threads: int = ...,
    flip: bool = ...,
    max_faces: int = ...,
    smooth: bool = ...,
    detect_every: int = ...,
    min_face: Optional[int] = ...,
    keep_orientation: bool = ...,
    min_cutoff: float = ...,
    beta: float = ...,
    no_pose: bool = ...,
    fx: Optional[float] = ...,
    fy: Optional[float] = ...,
    cx: Optional[float] = ...,
    cy: Optional[float] = ...,
) -> FrameFaces: ...
def landmarks(
    image: npt.NDArray[np.uint8],
    boxes: Optional[Sequence[Tuple[float, float, float, float]]] = ...,
    *,
    channels: Optional[str] = ...,
    model: Optional[PathLike] = ...,
    max_faces: int = ...,
    min_face: int = ...,
    threads: int = ...,
    device: str = ...,
    flip: bool = ...,
) -> list[Face]: ...
def process_video(
    path: PathLike,
    *,
    csv: Optional[PathLike] = ...,
    annotate: Optional[PathLike] = ...,
    overwrite: bool = ...,
    progress: Optional[Progress] = ...,
    arrays: bool = ...,
    model: Optional[PathLike] = ...,
    device: str = ...,
    threads: int = ...,
    flip: bool = ...,
    max_faces: int = ...,
    smooth: bool = ...,
    detect_every: int = ...,
    min_face: Optional[int] = ...,
    keep_orientation: bool = ...,
    smooth_offline: bool = ...,
    csv_format: Literal["plain", "openface"] = ...,
    point_confidence: bool = ...,
    min_cutoff: float = ...,
    beta: float = ...,
    no_pose: bool = ...,
    fx: Optional[float] = ...,
    fy: Optional[float] = ...,
    cx: Optional[float] = ...,
    cy: Optional[float] = ...,
) -> VideoSummary: ...
@overload
def read_csv(path: PathLike, *, as_frame: Literal[False] = ...) -> CsvArrays: ...
@overload
def read_csv(path: PathLike, *, as_frame: Literal[True]) -> pandas.DataFrame: ...
