//! `facetrack.Tracker`: frames of one video in order, shareable by threads (one frame at a
//! time, the others wait with the GIL released), a context manager whose `close()` frees
//! the model (later calls are a `ValueError`, as with a closed file).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use facetrack::core::pixels::{ColorPixels, GrayPixels, Pixels};
use facetrack::core::signals::{FaceBlinks, FaceSignals};
use facetrack::tracking::tracker::{TrackedFace, Tracker};
use numpy::PyReadonlyArrayDyn;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::err;
use crate::face::{still_signals, video_faces, PyFace};
use crate::frames::{frame_arg, frame_layout, to_gray};
use crate::options::{pose_options, Settings, Treatment};
use crate::video::{run_job, Outputs};

const CLOSED: &str =
    "this Tracker is closed (close() or the end of its `with` block); make a new one";
const BUSY: &str = "this Tracker is running process_video on this thread (its progress \
    callback called it): it cannot take other calls until the video is done; use another \
    Tracker inside the callback";

/// A number for the calling thread, never 0 (0 marks "no thread").
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static ME: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    ME.with(|n| *n)
}

/// One frame through the tracker with the GIL released. A `reset()`, `close()` or
/// `process_video` waiting for the tracker ([`Waiting`]) goes first: a thread calling
/// `process` in a loop would otherwise take the lock again and again before them.
/// The faces' signals, `blink` held over the frames, are taken under the same lock, so
/// they follow the frames in the tracker's order.
fn track<P: Pixels + Sync + ?Sized>(
    py: Python<'_>,
    inner: &Mutex<Option<Tracker>>,
    waiting: &AtomicUsize,
    blinks: &Mutex<FaceBlinks>,
    img: &P,
    t: f64,
) -> PyResult<(Vec<TrackedFace>, Vec<Option<FaceSignals>>)> {
    py.detach(move || {
        while waiting.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        match inner.lock() {
            Ok(mut g) => match g.as_mut() {
                Some(tr) => {
                    let faces = tr.process_pixels(img, t).map_err(|e| err(e.to_string()))?;
                    let held = held_blinks(blinks).frame(&still_signals(&faces));
                    Ok((faces, held))
                }
                None => Err(PyValueError::new_err(CLOSED)),
            },
            Err(_) => Err(err("the tracker failed on an earlier frame")),
        }
    })
}

/// The blinks (a panic elsewhere leaves them as they were).
fn held_blinks(m: &Mutex<FaceBlinks>) -> MutexGuard<'_, FaceBlinks> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts a call waiting for the tracker's lock for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Waiting(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Take the tracker's lock without holding the GIL while waiting: a thread holding the
/// lock may need the GIL to finish (a progress callback).
fn lock_tracker<'a>(
    py: Python<'_>,
    m: &'a Mutex<Option<Tracker>>,
    waiting: &AtomicUsize,
) -> PyResult<MutexGuard<'a, Option<Tracker>>> {
    let _counted = Waiting::new(waiting);
    loop {
        match m.try_lock() {
            Ok(g) if g.is_none() => return Err(PyValueError::new_err(CLOSED)),
            Ok(g) => return Ok(g),
            Err(TryLockError::WouldBlock) => {
                py.detach(|| std::thread::sleep(Duration::from_millis(1)))
            }
            Err(TryLockError::Poisoned(_)) => {
                return Err(err("the tracker failed on an earlier frame"))
            }
        }
    }
}

/// Tracks faces through the frames of a video, in order.
#[pyclass(name = "Tracker", module = "facetrack")]
pub(crate) struct PyTracker {
    /// Behind a mutex so the object may be shared with other Python threads (one frame
    /// is processed at a time; the others wait, with the GIL released); `None` once closed.
    inner: Mutex<Option<Tracker>>,
    frame: AtomicU64,
    fps: f64,
    /// The thread running `process_video` ([`thread_number`]; 0 when none): a call from
    /// that thread while it runs (from its progress callback) would wait for itself.
    video_thread: AtomicU64,
    /// Calls other than `process` waiting for the lock ([`Waiting`]).
    waiting: AtomicUsize,
    /// The faces' blinks over the frames given (taken under the tracker's lock).
    blinks: Mutex<FaceBlinks>,
}

impl PyTracker {
    /// Refuse a call from the thread whose `process_video` holds the tracker.
    fn not_from_own_callback(&self) -> PyResult<()> {
        if self.video_thread.load(Ordering::SeqCst) == thread_number() {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(BUSY));
        }
        Ok(())
    }
}

/// Clears [`PyTracker::video_thread`] when `process_video` ends, however it ends.
struct VideoRunning<'a>(&'a AtomicU64);

impl Drop for VideoRunning<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

#[pymethods]
impl PyTracker {
    #[new]
    #[pyo3(signature = (model, *, device="cpu", threads=0, flip=false, max_faces=4, smooth=false, detect_every=5, min_face=None, fps=30.0, no_pose=false, camera=None, one_euro=(1.0, 0.05)))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: PathBuf,
        device: &str,
        threads: i64,
        flip: bool,
        max_faces: i64,
        smooth: bool,
        detect_every: i64,
        min_face: Option<i64>,
        fps: f64,
        no_pose: bool,
        camera: Option<(f32, f32, f32, f32)>,
        one_euro: (f32, f32),
    ) -> PyResult<Self> {
        let s = Settings::new(
            model,
            device,
            (threads, flip),
            (max_faces, detect_every),
            min_face,
            Treatment {
                smooth,
                one_euro,
                pose: pose_options(no_pose, camera)?,
            },
        )?
        .spinning_within_runs();
        if !(fps.is_finite() && fps > 0.0) {
            return Err(PyValueError::new_err(format!(
                "fps={fps}: must be a positive number"
            )));
        }
        Ok(PyTracker {
            inner: Mutex::new(Some(s.tracker()?)),
            frame: AtomicU64::new(0),
            fps,
            video_thread: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            blinks: Mutex::default(),
        })
    }

    /// Track one frame; returns its faces. `timestamp` (seconds) defaults to the frame
    /// number over `fps`; smoothing uses it.
    #[pyo3(signature = (frame, *, channels=None, timestamp=None))]
    fn process(
        &self,
        py: Python<'_>,
        frame: &Bound<'_, PyAny>,
        channels: Option<&str>,
        timestamp: Option<f64>,
    ) -> PyResult<Vec<PyFace>> {
        self.not_from_own_callback()?;
        let frame: PyReadonlyArrayDyn<'_, u8> = frame_arg(frame)?;
        let (h, w, c, blue_first) = frame_layout(&frame, channels)?;
        let n = self.frame.fetch_add(1, Ordering::SeqCst);
        let t = timestamp.unwrap_or(n as f64 / self.fps);
        if !t.is_finite() {
            return Err(PyValueError::new_err("timestamp must be a finite number"));
        }
        let a = frame.as_array();
        // a C-contiguous frame is read in place: only the pixels under the crops and the
        // detector's shrunk copy are read (and converted to gray from colour), so the cost
        // follows the faces, not the frame's size
        let contiguous = a.as_slice();
        let gray = contiguous
            .filter(|_| c == 1)
            .and_then(|px| GrayPixels::new(px, w as u32, h as u32, w));
        let colour = contiguous
            .filter(|_| c > 1)
            .and_then(|px| ColorPixels::new(px, w as u32, h as u32, c, w * c, blue_first));
        let (inner, waiting, blinks) = (&self.inner, &self.waiting, &self.blinks);
        let (faces, held) = match (gray, colour) {
            (Some(px), _) => track(py, inner, waiting, blinks, &px, t)?,
            (None, Some(px)) => track(py, inner, waiting, blinks, &px, t)?,
            // a strided view (a slice, a transposed array): converted once, whole
            (None, None) => track(py, inner, waiting, blinks, &to_gray(&frame, channels)?, t)?,
        };
        Ok(video_faces(py, &faces, held))
    }

    /// Track a whole video file with this tracker's model (the tracker is reset before
    /// and after): as `facetrack.process_video`, without loading the model again. Its
    /// `progress` callback must not call this Tracker (a `RuntimeError`).
    #[pyo3(signature = (path, *, csv=None, annotate=None, overwrite=false, progress=None, arrays=false, keep_orientation=false, smooth_offline=false, csv_format="plain", point_confidence=false))]
    #[allow(clippy::too_many_arguments)]
    fn process_video<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        csv: Option<PathBuf>,
        annotate: Option<PathBuf>,
        overwrite: bool,
        progress: Option<Py<PyAny>>,
        arrays: bool,
        keep_orientation: bool,
        smooth_offline: bool,
        csv_format: &str,
        point_confidence: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.not_from_own_callback()?;
        let columns = Outputs::columns(csv_format, point_confidence)?;
        let mut guard = lock_tracker(py, &self.inner, &self.waiting)?;
        let tracker = guard
            .as_mut()
            .ok_or_else(|| PyValueError::new_err(CLOSED))?;
        if smooth_offline && tracker.options().smoothing.is_some() {
            return Err(PyValueError::new_err(
                "this Tracker smooths one-sided (smooth=True); smooth_offline=True needs a \
                 Tracker made with smooth=False",
            ));
        }
        self.frame.store(0, Ordering::SeqCst);
        let outputs = Outputs {
            csv,
            annotate,
            overwrite,
            arrays,
            smooth_offline,
            columns,
        };
        self.video_thread.store(thread_number(), Ordering::SeqCst);
        let running = VideoRunning(&self.video_thread);
        let result = run_job(py, tracker, path, outputs, progress, keep_orientation);
        drop(running);
        // the video's faces do not carry over to the frames given next
        tracker.reset();
        held_blinks(&self.blinks).clear();
        self.frame.store(0, Ordering::SeqCst);
        result
    }

    /// Forget all faces (a new video or a scene cut).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        self.not_from_own_callback()?;
        // (the blinks forgotten under the tracker's lock, with its faces)
        let mut g = lock_tracker(py, &self.inner, &self.waiting)?;
        if let Some(t) = g.as_mut() {
            t.reset();
        }
        held_blinks(&self.blinks).clear();
        drop(g);
        self.frame.store(0, Ordering::SeqCst);
        Ok(())
    }

    /// Free the model and the detector; later calls raise `ValueError`. Closing twice
    /// is harmless. A call running in another thread finishes first.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.not_from_own_callback()?;
        let counted = Waiting::new(&self.waiting);
        let taken = loop {
            match self.inner.try_lock() {
                Ok(mut g) => break g.take(),
                Err(TryLockError::WouldBlock) => {
                    py.detach(|| std::thread::sleep(Duration::from_millis(1)))
                }
                Err(TryLockError::Poisoned(p)) => break p.into_inner().take(),
            }
        };
        drop(counted);
        py.detach(move || drop(taken));
        Ok(())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        // a call in progress holds the lock: then it is open (waiting could deadlock with
        // a progress callback that needs the GIL)
        match self.inner.try_lock() {
            Ok(g) => g.is_none(),
            Err(TryLockError::WouldBlock) => false,
            Err(TryLockError::Poisoned(_)) => true,
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}
