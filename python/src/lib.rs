//! `facetrack._facetrack`: the Python bindings. Thin wrappers of the facetrack library
//! (the same tracker, model, pipeline and CSV reader as the command line); the Python
//! package `facetrack` (python/facetrack/__init__.py) adds the defaults and pandas.
//!
//! Frames are numpy `uint8` arrays, `H×W` gray or `H×W×3` (RGB or BGR) / `H×W×4` (RGBA or
//! BGRA, named) ([`frames`]); points come back as read-only `68×2` float32 arrays in 0-based
//! pixel centres. The GIL is released while a frame or a video is processed. Errors are
//! `facetrack.FacetrackError` (setup, model, video) or `ValueError` / `TypeError` (a bad
//! frame or argument, named); nothing panics into the interpreter. Modules: [`tracker`]
//! (`Tracker`), [`track`] (the frame iterator), [`still`] (`landmarks`), [`video`]
//! (`process_video`, `read_csv`), [`options`] (checks shared with the command line).

mod columns;
mod errors;
mod face;
mod frames;
mod options;
mod still;
mod track;
mod tracker;
mod video;

use pyo3::prelude::*;

use crate::errors::FacetrackError;
use crate::face::PyFace;

#[pymodule]
fn _facetrack(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFace>()?;
    m.add_class::<tracker::PyTracker>()?;
    m.add_class::<track::PyTrack>()?;
    m.add_function(wrap_pyfunction!(still::landmarks, m)?)?;
    m.add_function(wrap_pyfunction!(video::process_video, m)?)?;
    m.add_function(wrap_pyfunction!(track::track, m)?)?;
    m.add_function(wrap_pyfunction!(video::read_csv, m)?)?;
    m.add("FacetrackError", m.py().get_type::<FacetrackError>())?;
    m.add("MAX_THREADS", facetrack::inference::model::MAX_THREADS)?;
    // the package's version (python/Cargo.toml's, which pyproject.toml takes too)
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // the extensions `facetrack video DIR` takes from a folder (lower case, no dot)
    m.add(
        "VIDEO_EXTENSIONS",
        facetrack::core::files::VIDEO_EXT.to_vec(),
    )?;
    Ok(())
}
