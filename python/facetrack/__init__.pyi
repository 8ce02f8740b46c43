from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

PathLike = Union[str, Path]

DEFAULT_MODEL: Path
NUM_POINTS: int

class FacetrackError(RuntimeError): ...

class Face:
    @property
    def id(self) -> int: ...
    @property
    def points(self) -> npt.NDArray[np.float32]: ...  # 68 x 2, pixels, 0-based centres
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
    def blink(self) -> Optional[bool]: ...  # both eyes closed in this frame (no hysteresis)
    @property
    def mouth_open(self) -> Optional[float]: ...  # inner-lip gap / outer-eye-corner distance
    @property
    def au45_r(self) -> Optional[float]: ...  # OpenFace's AU45_r scale (0-5), from the eye openness
    @property
    def point_confidence(self) -> Optional[npt.NDArray[np.float32]]: ...  # 68, each point's confidence 0-1

class Tracker:
    def __init__(
        self,
        model: Optional[PathLike] = ...,
        device: str = ...,
        threads: int = ...,
        max_faces: int = ...,
        smooth: bool = ...,
        detect_every: int = ...,
        min_face: Optional[int] = ...,
        fps: float = ...,
    ) -> None: ...
    def process(
        self,
        frame: npt.NDArray[np.uint8],
        channels: Optional[str] = ...,
        timestamp: Optional[float] = ...,
    ) -> list[Face]: ...
    def reset(self) -> None: ...

def landmarks(
    image: npt.NDArray[np.uint8],
    boxes: Optional[Sequence[Tuple[float, float, float, float]]] = ...,
    channels: Optional[str] = ...,
    model: Optional[PathLike] = ...,
    max_faces: int = ...,
    min_face: int = ...,
) -> list[Face]: ...
def process_video(
    path: PathLike,
    csv: Optional[PathLike] = ...,
    annotate: Optional[PathLike] = ...,
    overwrite: bool = ...,
    progress: Optional[Callable[[int, Optional[int]], object]] = ...,
    arrays: bool = ...,
    model: Optional[PathLike] = ...,
    device: str = ...,
    threads: int = ...,
    max_faces: int = ...,
    smooth: bool = ...,
    detect_every: int = ...,
    min_face: Optional[int] = ...,
    keep_orientation: bool = ...,
) -> dict: ...
def read_csv(path: PathLike, as_frame: bool = ...) -> dict: ...
