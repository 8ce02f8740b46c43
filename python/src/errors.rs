//! The package's error type: `facetrack.FacetrackError`, and how library errors become it.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

// Named `facetrack.FacetrackError` (where the package exports it), so pickle finds the
// class: an error crosses a multiprocessing pool or a Ray task as itself.
pyo3::create_exception!(
    facetrack,
    FacetrackError,
    PyRuntimeError,
    "A facetrack error: a missing model or runtime, an unreadable video, a failed output."
);

pub(crate) fn err(e: impl std::fmt::Display) -> PyErr {
    FacetrackError::new_err(e.to_string())
}
