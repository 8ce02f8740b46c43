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
