//! `facetrack._facetrack`: the Python bindings. Thin wrappers of the facetrack library
//! (the same tracker, model, pipeline and CSV reader as the command line); the Python
//! package `facetrack` (python/facetrack/__init__.py) adds the defaults and pandas.
//!
//! Frames are numpy `uint8` arrays, `H×W` gray or `H×W×3` (RGB or BGR) / `H×W×4`; points
//! come back as `68×2` float32 arrays in 0-based pixel centres. The GIL is released while
//! a frame or a video is processed. Errors are `facetrack.FacetrackError` (setup, model,
//! video) or `ValueError` (a bad frame or argument); nothing panics into the interpreter.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use facetrack::core::pixels::{ColorPixels, Pixels};
use facetrack::output::csv_out::read_video_csv;
use facetrack::output::output_files::{check_outputs, partial_path, OutputError};
use facetrack::pipeline::{process_video as run_video, VideoJob};
use facetrack::tracking::detector::{DetectorOptions, FaceDetector};
use facetrack::tracking::smoothing::OneEuroParams;
use facetrack::tracking::tracker::{
    align_faces, detection_confidence, TrackedFace, Tracker, TrackerOptions,
};
use facetrack::{Device, FaceBox, GrayImage, LandmarkModel, ModelOptions};
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

mod face;
use face::{face_of, still_face, PyFace};

// Named `facetrack.FacetrackError` (where the package exports it), so pickle finds the
// class: an error crosses a multiprocessing pool or a Ray task as itself.
pyo3::create_exception!(
    facetrack,
    FacetrackError,
    PyRuntimeError,
    "A facetrack error: a missing model or runtime, an unreadable video, a failed output."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    FacetrackError::new_err(e.to_string())
}

/// A frame's height, width, channels and whether its colour is blue first, checked
/// against `channels`: "rgb" (default for 3 channels), "bgr", "rgba", "bgra" or "gray".
fn frame_layout(
    frame: &PyReadonlyArrayDyn<'_, u8>,
    channels: Option<&str>,
) -> PyResult<(usize, usize, usize, bool)> {
    let shape = frame.as_array().shape().to_vec();
    let (h, w, c) = match shape.as_slice() {
        [h, w] => (*h, *w, 1),
        [h, w, c] => (*h, *w, *c),
        _ => {
            return Err(PyValueError::new_err(format!(
                "a frame is H x W (gray) or H x W x 3/4 (colour) uint8; got shape {shape:?}"
            )))
        }
    };
    if h == 0 || w == 0 || h > 1 << 15 || w > 1 << 15 {
        return Err(PyValueError::new_err(format!(
            "frame size {w}x{h}: each side must be 1 to 32768 pixels"
        )));
    }
    let order = channels.unwrap_or(match c {
        1 => "gray",
        4 => "rgba",
        _ => "rgb",
    });
    let want = match order {
        "gray" => 1,
        "rgb" | "bgr" => 3,
        "rgba" | "bgra" => 4,
        o => {
            return Err(PyValueError::new_err(format!(
                "channels='{o}': expected 'rgb', 'bgr', 'rgba', 'bgra' or 'gray'"
            )))
        }
    };
    if want != c {
        return Err(PyValueError::new_err(format!(
            "channels='{order}' needs {want} channel(s); the frame has {c}"
        )));
    }
    Ok((h, w, c, order.starts_with("bgr")))
}

/// A frame as a gray image (the whole frame converted, in one pass).
fn to_gray(frame: &PyReadonlyArrayDyn<'_, u8>, channels: Option<&str>) -> PyResult<GrayImage> {
    let (h, w, c, blue_first) = frame_layout(frame, channels)?;
    let a = frame.as_array();
    // a copy first only when the array is not C-contiguous (a slice, a transposed view)
    let std_layout = a.as_standard_layout();
    let px = std_layout
        .as_slice()
        .ok_or_else(|| PyValueError::new_err("the frame's memory layout cannot be read"))?;
    if c == 1 {
        return GrayImage::from_raw(w as u32, h as u32, px.to_vec()).map_err(err);
    }
    // the library's luma weights, as the CLI
    let mut g = GrayImage::default();
    g.set_from_channels(w as u32, h as u32, px, c, blue_first)
        .map_err(err)?;
    Ok(g)
}

/// One frame through the tracker with the GIL released.
fn track<P: Pixels + Sync + ?Sized>(
    py: Python<'_>,
    inner: &Mutex<Tracker>,
    img: &P,
    t: f64,
) -> PyResult<Vec<TrackedFace>> {
    py.detach(move || match inner.lock() {
        Ok(mut tr) => tr.process_pixels(img, t).map_err(|e| e.to_string()),
        Err(_) => Err("the tracker failed on an earlier frame".to_string()),
    })
    .map_err(err)
}

fn device_of(s: &str) -> PyResult<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        s => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => Ok(Device::Cuda(n)),
            None => Err(PyValueError::new_err(format!(
                "device='{s}': expected 'cpu', 'cuda' or 'cuda:N'"
            ))),
        },
    }
}

/// Tracker settings given from Python.
#[derive(Clone)]
struct Settings {
    model: PathBuf,
    device: Device,
    threads: usize,
    opts: TrackerOptions,
    /// `None`: the video default (40 px, or 1/12 of the frame's shorter side if larger).
    min_face: Option<u32>,
}

impl Settings {
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: PathBuf,
        device: &str,
        threads: usize,
        max_faces: usize,
        smooth: bool,
        detect_every: u64,
        min_face: Option<u32>,
    ) -> PyResult<Self> {
        if max_faces == 0 {
            return Err(PyValueError::new_err("max_faces must be at least 1"));
        }
        if detect_every == 0 {
            return Err(PyValueError::new_err("detect_every must be at least 1"));
        }
        Ok(Settings {
            model,
            device: device_of(device)?,
            threads,
            opts: TrackerOptions {
                max_faces,
                detect_every,
                smoothing: smooth.then(OneEuroParams::default),
                pose: facetrack::core::head_pose::PoseOptions::Guess,
            },
            min_face,
        })
    }

    fn tracker(&self) -> PyResult<Tracker> {
        let model = LandmarkModel::from_file(
            &self.model,
            ModelOptions {
                threads: self.threads,
                device: self.device,
                ..Default::default()
            },
        )
        .map_err(err)?;
        let det = FaceDetector::new(match self.min_face {
            Some(n) => DetectorOptions {
                min_face: n,
                ..Default::default()
            },
            None => DetectorOptions {
                min_face_share: facetrack::tracking::detector::VIDEO_MIN_FACE_SHARE,
                ..Default::default()
            },
        })
        .map_err(err)?;
        Ok(Tracker::new(model, det, self.opts))
    }
}

/// Tracks faces through the frames of a video, in order.
#[pyclass(name = "Tracker", module = "facetrack")]
struct PyTracker {
    /// Behind a mutex so the object may be shared with other Python threads (one frame
    /// is processed at a time; the others wait, with the GIL released).
    inner: Mutex<Tracker>,
    frame: std::sync::atomic::AtomicU64,
    fps: f64,
}

/// Take the tracker's lock without holding the GIL while waiting: a thread holding the
/// lock may need the GIL to finish (a progress callback).
fn lock_tracker<'a>(
    py: Python<'_>,
    m: &'a Mutex<Tracker>,
) -> PyResult<std::sync::MutexGuard<'a, Tracker>> {
    loop {
        match m.try_lock() {
            Ok(g) => return Ok(g),
            Err(std::sync::TryLockError::WouldBlock) => {
                py.detach(|| std::thread::sleep(Duration::from_millis(1)))
            }
            Err(std::sync::TryLockError::Poisoned(_)) => {
                return Err(err("the tracker failed on an earlier frame"))
            }
        }
    }
}

#[pymethods]
impl PyTracker {
    #[new]
    #[pyo3(signature = (model, device="cpu", threads=0, max_faces=4, smooth=false, detect_every=5, min_face=None, fps=30.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: PathBuf,
        device: &str,
        threads: usize,
        max_faces: usize,
        smooth: bool,
        detect_every: u64,
        min_face: Option<u32>,
        fps: f64,
    ) -> PyResult<Self> {
        let s = Settings::new(
            model,
            device,
            threads,
            max_faces,
            smooth,
            detect_every,
            min_face,
        )?;
        if !(fps.is_finite() && fps > 0.0) {
            return Err(PyValueError::new_err("fps must be a positive number"));
        }
        Ok(PyTracker {
            inner: Mutex::new(s.tracker()?),
            frame: std::sync::atomic::AtomicU64::new(0),
            fps,
        })
    }

    /// Track one frame; returns its faces. `timestamp` (seconds) defaults to the frame
    /// number over `fps`; smoothing uses it.
    #[pyo3(signature = (frame, channels=None, timestamp=None))]
    fn process(
        &self,
        py: Python<'_>,
        frame: PyReadonlyArrayDyn<'_, u8>,
        channels: Option<&str>,
        timestamp: Option<f64>,
    ) -> PyResult<Vec<PyFace>> {
        let (h, w, c, blue_first) = frame_layout(&frame, channels)?;
        let n = self.frame.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let t = timestamp.unwrap_or(n as f64 / self.fps);
        if !t.is_finite() {
            return Err(PyValueError::new_err("timestamp must be a finite number"));
        }
        let a = frame.as_array();
        // a C-contiguous colour frame is read in place: only the pixels under the crops
        // and the detector's shrunk copy are converted to gray, so the cost follows the
        // faces, not the frame's size
        let contiguous = if c > 1 { a.as_slice() } else { None };
        let faces = match contiguous
            .and_then(|px| ColorPixels::new(px, w as u32, h as u32, c, w * c, blue_first))
        {
            Some(px) => track(py, &self.inner, &px, t)?,
            None => track(py, &self.inner, &to_gray(&frame, channels)?, t)?,
        };
        Ok(faces.iter().map(|f| face_of(py, f)).collect())
    }

    /// Track a whole video file with this tracker's model (the tracker is reset first):
    /// as `facetrack.process_video`, without loading the model again.
    #[pyo3(signature = (path, csv=None, annotate=None, overwrite=false, progress=None, keep_orientation=false))]
    #[allow(clippy::too_many_arguments)]
    fn process_video<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        csv: Option<PathBuf>,
        annotate: Option<PathBuf>,
        overwrite: bool,
        progress: Option<Py<PyAny>>,
        keep_orientation: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut guard = lock_tracker(py, &self.inner)?;
        self.frame.store(0, std::sync::atomic::Ordering::SeqCst);
        let outputs = (csv, annotate, overwrite);
        run_job(py, &mut guard, path, outputs, progress, keep_orientation)
    }

    /// Forget all faces (a new video or a scene cut).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        lock_tracker(py, &self.inner)?.reset();
        self.frame.store(0, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// A model and a detector kept between calls of `landmarks`.
struct StillModel {
    path: PathBuf,
    model: LandmarkModel,
    det: FaceDetector,
}

static STILL: Mutex<Option<StillModel>> = Mutex::new(None);

/// Landmarks of the faces in a still image: at the given boxes `(x, y, w, h)` (the
/// landmark-box frame: a face's tight box), or where the face detector finds faces.
#[pyfunction]
#[pyo3(signature = (image, model, boxes=None, channels=None, max_faces=8, min_face=20))]
fn landmarks(
    py: Python<'_>,
    image: PyReadonlyArrayDyn<'_, u8>,
    model: PathBuf,
    boxes: Option<Vec<(f32, f32, f32, f32)>>,
    channels: Option<&str>,
    max_faces: usize,
    min_face: u32,
) -> PyResult<Vec<PyFace>> {
    let gray = to_gray(&image, channels)?;
    let (width, height) = (gray.width(), gray.height());
    if let Some(b) = &boxes {
        if b.iter().any(|&(x, y, w, h)| {
            !(x.is_finite() && y.is_finite() && w.is_finite() && h.is_finite())
                || w <= 0.0
                || h <= 0.0
        }) {
            return Err(PyValueError::new_err(
                "boxes are (x, y, width, height) with finite values and positive sizes",
            ));
        }
    }
    let result = py.detach(
        move || -> Result<Vec<(FaceBox, f32, facetrack::inference::model::Prediction)>, String> {
            let mut guard = STILL
                .lock()
                .map_err(|_| "the model cache is poisoned".to_string())?;
            if guard.as_ref().is_none_or(|s| s.path != model) {
                let m = LandmarkModel::from_file(&model, ModelOptions::default())
                    .map_err(|e| e.to_string())?;
                let det = FaceDetector::new(DetectorOptions {
                    min_face,
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
                *guard = Some(StillModel {
                    path: model.clone(),
                    model: m,
                    det,
                });
            }
            let s = guard.as_mut().ok_or("no model")?;
            let (found, scores): (Vec<FaceBox>, Vec<f32>) = match &boxes {
                Some(b) => (
                    b.iter()
                        .map(|&(x, y, w, h)| FaceBox::new(x, y, w, h))
                        .collect(),
                    vec![1.0; b.len()],
                ),
                None => s
                    .det
                    .detect(&gray)
                    .into_iter()
                    .take(max_faces.max(1))
                    .map(|d| (d.face_box, detection_confidence(d.score)))
                    .unzip(),
            };
            let preds = align_faces(&mut s.model, &gray, &found).map_err(|e| e.to_string())?;
            Ok(found
                .into_iter()
                .zip(scores)
                .zip(preds)
                .map(|((b, c), p)| (b, c, p))
                .collect())
        },
    );
    let faces = result.map_err(err)?;
    Ok(faces
        .iter()
        .enumerate()
        .map(|(k, (b, c, p))| {
            let conf = p.point_confidence();
            still_face(py, k, (*b, *c), &p.points, &conf, (width, height))
        })
        .collect())
}

/// The temporary name a Python run writes `out` under: hidden, beside it, unique to
/// this process and call, with the extension kept (FFmpeg picks the container from it).
fn temporary_path(out: &Path, call: u64) -> PathBuf {
    let name = out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let ext = out
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    out.with_file_name(format!(
        ".{name}.facetrack-{}-{call}{ext}",
        std::process::id()
    ))
}

/// Remove a run's temporary outputs (and the library's partial files under them).
fn remove_temporaries(temps: &[PathBuf]) {
    for t in temps {
        let _ = std::fs::remove_file(t);
        let _ = std::fs::remove_file(partial_path(t));
    }
}

/// How often a video run without a progress callback looks for Ctrl-C.
const SIGNAL_LOOK: Duration = Duration::from_millis(50);

/// Run one video through `tracker` (reset first) into the outputs; a summary dict.
///
/// The outputs are checked under their own names, written under temporary ones and
/// renamed only when the whole video is done: a failing `progress` callback, Ctrl-C
/// (KeyboardInterrupt, looked for at every frame) or an error never leaves a truncated
/// file under an output's name, and an existing file is replaced only by a complete one.
/// Frames are turned by the stream's display matrix unless `keep_orientation`.
fn run_job<'py>(
    py: Python<'py>,
    tracker: &mut Tracker,
    path: PathBuf,
    (csv, annotate, overwrite): (Option<PathBuf>, Option<PathBuf>, bool),
    progress: Option<Py<PyAny>>,
    keep_orientation: bool,
) -> PyResult<Bound<'py, PyDict>> {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    if !path.is_file() {
        return Err(err(format!("{}: no such file", path.display())));
    }
    let outputs: Vec<PathBuf> = csv.iter().chain(&annotate).cloned().collect();
    if outputs.is_empty() {
        return Err(PyValueError::new_err(
            "nothing to write: give csv=PATH and/or annotate=PATH",
        ));
    }
    check_outputs(std::slice::from_ref(&path), &outputs, overwrite).map_err(|e| match e {
        OutputError::Exists { path } => err(format!(
            "{} already exists; pass overwrite=True to replace it (it is replaced only when the run ends)",
            path.display()
        )),
        e => err(e),
    })?;
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let temps: Vec<PathBuf> = outputs.iter().map(|o| temporary_path(o, call)).collect();
    let mut temp_of = temps.iter().cloned();
    tracker.reset();
    let job = VideoJob {
        input: path,
        csv: csv.as_ref().and(temp_of.next()),
        csv_columns: Default::default(),
        annotate: annotate.as_ref().and(temp_of.next()),
        style: Default::default(),
        partial_if_interrupted: false,
        orientation: if keep_orientation {
            facetrack::core::orientation::OrientationRule::Keep
        } else {
            facetrack::core::orientation::OrientationRule::Apply
        },
    };
    let stop = Arc::new(AtomicBool::new(false));
    let failed: Mutex<Option<PyErr>> = Mutex::new(None);
    let last_look = Mutex::new(Instant::now());
    let summary = py.detach(|| {
        let report = |done: u64, total: Option<u64>| {
            // called on this (the calling) thread after every frame: the user's callback,
            // and Python's signal handlers, so Ctrl-C stops the run (without a callback,
            // every SIGNAL_LOOK: the GIL is not taken per frame for nothing)
            if progress.is_none() {
                match last_look.lock() {
                    Ok(mut t) if t.elapsed() >= SIGNAL_LOOK => *t = Instant::now(),
                    _ => return,
                }
            }
            let result = Python::attach(|py| {
                py.check_signals()?;
                match &progress {
                    Some(cb) => cb.call1(py, (done, total)).map(drop),
                    None => Ok(()),
                }
            });
            if let Err(e) = result {
                // a failing callback or an interrupt stops the run; its error is raised after
                if let Ok(mut f) = failed.lock() {
                    f.get_or_insert(e);
                }
                stop.store(true, Ordering::SeqCst);
            }
        };
        run_video(&job, tracker, &stop, &report)
    });
    let failed = failed.into_inner().ok().flatten();
    let summary = match (failed, summary) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(err(e)),
        (None, Ok(s)) => outputs
            .iter()
            .zip(&temps)
            .try_for_each(|(o, t)| {
                std::fs::rename(t, o).map_err(|e| err(format!("{}: {e}", o.display())))
            })
            .map(|()| s),
    };
    let s = match summary {
        Ok(s) => s,
        Err(e) => {
            remove_temporaries(&temps);
            return Err(e);
        }
    };
    let d = PyDict::new(py);
    d.set_item("frames", s.frames)?;
    d.set_item("frames_with_face", s.frames_with_face)?;
    d.set_item("faces", s.faces)?;
    d.set_item("seconds", s.seconds)?;
    d.set_item("fps", s.fps())?;
    d.set_item("skipped_packets", s.skipped_packets)?;
    d.set_item("width", s.width)?;
    d.set_item("height", s.height)?;
    d.set_item(
        "orientation",
        if s.orientation.applied {
            facetrack::core::orientation::describe(s.orientation.tag)
        } else {
            "as stored"
        },
    )?;
    Ok(d)
}

/// Track a video file into a CSV and/or an annotated video; returns a summary dict.
#[pyfunction]
#[pyo3(signature = (path, model, csv=None, annotate=None, overwrite=false, progress=None, device="cpu", threads=0, max_faces=4, smooth=false, detect_every=5, min_face=None, keep_orientation=false))]
#[allow(clippy::too_many_arguments)]
fn process_video<'py>(
    py: Python<'py>,
    path: PathBuf,
    model: PathBuf,
    csv: Option<PathBuf>,
    annotate: Option<PathBuf>,
    overwrite: bool,
    progress: Option<Py<PyAny>>,
    device: &str,
    threads: usize,
    max_faces: usize,
    smooth: bool,
    detect_every: u64,
    min_face: Option<u32>,
    keep_orientation: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let s = Settings::new(
        model,
        device,
        threads,
        max_faces,
        smooth,
        detect_every,
        min_face,
    )?;
    let mut tracker = s.tracker()?;
    let outputs = (csv, annotate, overwrite);
    run_job(py, &mut tracker, path, outputs, progress, keep_orientation)
}

/// Read a facetrack (OpenFace-layout) video CSV into numpy arrays.
#[pyfunction]
fn read_csv<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let rows = py.detach(|| read_video_csv(&path)).map_err(err)?;
    let n = rows.len();
    let k = rows.first().map(|r| r.points.len()).unwrap_or(68);
    if rows.iter().any(|r| r.points.len() != k) {
        return Err(err("rows of the CSV have different point counts"));
    }
    let mut pts = Vec::with_capacity(n * k * 2);
    for r in &rows {
        pts.extend(r.points.iter().flat_map(|p| [p.x, p.y]));
    }
    let d = PyDict::new(py);
    let col = |f: &dyn Fn(&facetrack::output::csv_out::VideoRow) -> f64| -> Vec<f64> {
        rows.iter().map(f).collect()
    };
    d.set_item(
        "frame",
        PyArray1::from_vec(py, rows.iter().map(|r| r.frame as i64).collect()),
    )?;
    d.set_item(
        "face_id",
        PyArray1::from_vec(py, rows.iter().map(|r| r.face_id).collect()),
    )?;
    d.set_item("timestamp", PyArray1::from_vec(py, col(&|r| r.timestamp)))?;
    d.set_item(
        "confidence",
        PyArray1::from_vec(py, rows.iter().map(|r| r.confidence).collect()),
    )?;
    d.set_item(
        "success",
        PyArray1::from_vec(py, rows.iter().map(|r| r.success).collect()),
    )?;
    let arr = PyArray1::from_vec(py, pts)
        .reshape([n, k, 2])
        .map_err(err)?;
    let arr: Bound<'py, PyArray3<f32>> = arr;
    d.set_item("points", arr)?;
    if rows.iter().all(|r| r.pose.is_some()) && !rows.is_empty() {
        let pose: Vec<f32> = rows
            .iter()
            .flat_map(|r| r.pose.unwrap_or([0.0; 6]))
            .collect();
        let pose: Bound<'py, PyArray2<f32>> =
            PyArray1::from_vec(py, pose).reshape([n, 6]).map_err(err)?;
        d.set_item("pose", pose)?;
    }
    face::add_csv_columns(py, &d, &rows)?;
    Ok(d)
}

#[pymodule]
fn _facetrack(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFace>()?;
    m.add_class::<PyTracker>()?;
    m.add_function(wrap_pyfunction!(landmarks, m)?)?;
    m.add_function(wrap_pyfunction!(process_video, m)?)?;
    m.add_function(wrap_pyfunction!(read_csv, m)?)?;
    m.add("FacetrackError", m.py().get_type::<FacetrackError>())?;
    Ok(())
}
