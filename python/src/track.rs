//! `facetrack.track(path)`: a video's faces frame by frame, as an iterator. FFmpeg decodes
//! on a thread of its own a few frames ahead (the video is never held in memory); each
//! `next()` tracks one frame with the GIL released, so Ctrl-C and `break` stop it between
//! frames, and dropping the iterator stops the decoder.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use facetrack::capture::source::{Frame, FrameSource, SourceError};
use facetrack::capture::video::VideoFile;
use facetrack::core::orientation::OrientationRule;
use facetrack::core::signals::{FaceBlinks, FaceSignals};
use facetrack::pipeline::batch::PipelineError;
use facetrack::tracking::tracker::{TrackedFace, Tracker};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::err;
use crate::face::{still_signals, video_faces, PyFace};
use crate::options::{pose_options, Settings, Treatment};

/// Frames decoded ahead of the tracker.
const AHEAD: usize = 2;

/// What the decoder thread sends.
enum Decoded {
    Frame(Box<Frame>),
    /// The stream ended: packets skipped, the error that cut it short, if any, and why
    /// it ended before the file's end (a file cut short), if it did.
    End(u64, Option<SourceError>, Option<String>),
}

/// The running state: the tracker, the decoder's channel and thread.
struct Running {
    tracker: Tracker,
    /// The faces' blinks over the frames.
    blinks: FaceBlinks,
    rx: Option<Receiver<Decoded>>,
    decoder: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.rx.take()); // a decoder blocked on a full channel gets an error
        if let Some(h) = self.decoder.take() {
            // a decoder still in the open or waiting on a stalled stream is left to end
            // on its own (it stops at its next frame, its channel gone): waiting for it
            // could be waiting for ever, with Python's lock held
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

/// How often a `next()` waiting for its frame looks at Python's signals (Ctrl-C).
const SIGNAL_LOOK: std::time::Duration = std::time::Duration::from_millis(50);

/// What one wait for the decoder gave.
enum Step {
    /// The frame's number, timestamp, faces and their signals held over the frames.
    Frame(u64, f64, Vec<TrackedFace>, Vec<Option<FaceSignals>>),
    End,
    /// Nothing yet: Python's signals are looked at, and the wait goes on.
    Waiting,
}

/// Each frame of a video and its faces: `(frame_no, faces)`, `frame_no` from 0.
#[pyclass(name = "FrameFaces", module = "facetrack")]
pub(crate) struct PyTrack {
    /// The video, for the error of one without a decodable frame.
    path: PathBuf,
    state: Mutex<Option<Running>>,
    frames: std::sync::atomic::AtomicU64,
    skipped: std::sync::atomic::AtomicU64,
    end_note: Mutex<Option<String>>,
    /// A `next()` is running (it waits in steps, letting the state's lock go between
    /// them): another thread's `next()` meanwhile is refused, not interleaved.
    busy: AtomicBool,
    /// The timestamp of the frame the last `next()` gave.
    timestamp: Mutex<Option<f64>>,
}

/// Clears [`PyTrack::busy`] when a `next()` ends, however it ends.
struct NotBusy<'a>(&'a AtomicBool);

impl Drop for NotBusy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

fn decode(
    path: PathBuf,
    rule: OrientationRule,
    tx: std::sync::mpsc::SyncSender<Decoded>,
    stop: &AtomicBool,
) {
    let mut src = match VideoFile::open_with(&path, false, rule) {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Decoded::End(0, Some(e), None));
            return;
        }
    };
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match src.next_frame() {
            Ok(Some(f)) => {
                if tx.send(Decoded::Frame(Box::new(f))).is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = tx.send(Decoded::End(src.skipped(), None, src.end_note()));
                return;
            }
            Err(e) => {
                let _ = tx.send(Decoded::End(src.skipped(), Some(e), src.end_note()));
                return;
            }
        }
    }
}

/// Start tracking `path` with `settings`.
#[pyfunction]
#[pyo3(signature = (path, model, *, device="cpu", threads=0, flip=false, max_faces=4, smooth=false, detect_every=5, min_face=None, keep_orientation=false, no_pose=false, camera=None, one_euro=(1.0, 0.05)))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn track(
    py: Python<'_>,
    path: PathBuf,
    model: PathBuf,
    device: &str,
    threads: i64,
    flip: bool,
    max_faces: i64,
    smooth: bool,
    detect_every: i64,
    min_face: Option<i64>,
    keep_orientation: bool,
    no_pose: bool,
    camera: Option<(f32, f32, f32, f32)>,
    one_euro: (f32, f32),
) -> PyResult<PyTrack> {
    let settings = Settings::new(
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
    )?;
    // (a folder, a FIFO or a pipe is the decoder's to judge: it says what it is)
    if !path.exists() {
        return Err(err(format!("{}: no such file", path.display())));
    }
    let tracker = py.detach(|| settings.tracker())?;
    let rule = if keep_orientation {
        OrientationRule::Keep
    } else {
        OrientationRule::Apply
    };
    let (tx, rx) = sync_channel(AHEAD);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let decoder = std::thread::Builder::new()
        .name("facetrack-decode".into())
        .spawn({
            let path = path.clone();
            move || decode(path, rule, tx, &flag)
        })
        .map_err(err)?;
    Ok(PyTrack {
        path,
        state: Mutex::new(Some(Running {
            tracker,
            blinks: FaceBlinks::default(),
            rx: Some(rx),
            decoder: Some(decoder),
            stop,
        })),
        busy: AtomicBool::new(false),
        timestamp: Default::default(),
        frames: Default::default(),
        skipped: Default::default(),
        end_note: Default::default(),
    })
}

#[pymethods]
impl PyTrack {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<(u64, Vec<PyFace>)>> {
        if self
            .busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(PyValueError::new_err(
                "this iterator is in use by another thread",
            ));
        }
        let _busy = NotBusy(&self.busy);
        // the wait for a frame looks at Python's signals now and then, so Ctrl-C ends
        // it also while the video is still opening (a FIFO no program writes to)
        loop {
            match self.step(py)? {
                Step::Frame(i, t, faces, held) => {
                    if let Ok(mut g) = self.timestamp.lock() {
                        *g = Some(t);
                    }
                    return Ok(Some((i, video_faces(py, &faces, held))));
                }
                Step::End => return Ok(None),
                Step::Waiting => py.check_signals()?,
            }
        }
    }

    /// The timestamp (seconds) of the frame the last `next()` gave: its presentation
    /// time, as the CSV's `timestamp` (variable frame rates kept); `None` before the
    /// first frame.
    #[getter]
    fn timestamp(&self) -> Option<f64> {
        self.timestamp.lock().ok().and_then(|t| *t)
    }

    /// Frames tracked so far.
    #[getter]
    fn frames(&self) -> u64 {
        self.frames.load(Ordering::SeqCst)
    }

    /// Packets the decoder skipped (a damaged or truncated file), known once the
    /// iteration has ended.
    #[getter]
    fn skipped_packets(&self) -> u64 {
        self.skipped.load(Ordering::SeqCst)
    }

    /// Why the video ended before the file's end (a file cut short: "the file ends early
    /// (cut short?): 29 of the 48 frames its index lists"), as `process_video`'s
    /// `end_note`; `None` for a whole file, and until the iteration has ended.
    #[getter]
    fn end_note(&self) -> Option<String> {
        self.end_note.lock().ok().and_then(|n| n.clone())
    }

    /// Stop decoding and free the model (also done when the iterator is dropped).
    fn close(&self, py: Python<'_>) {
        let taken = self.state.lock().ok().and_then(|mut g| g.take());
        py.detach(move || drop(taken));
    }
}

impl PyTrack {
    /// One wait for the decoder (at most [`SIGNAL_LOOK`]), with the GIL released: a
    /// frame tracked, the end, or nothing yet.
    fn step(&self, py: Python<'_>) -> PyResult<Step> {
        py.detach(|| -> PyResult<Step> {
            let mut g = self
                .state
                .try_lock()
                .map_err(|_| PyValueError::new_err("this iterator is in use by another thread"))?;
            let Some(run) = g.as_mut() else {
                return Ok(Step::End);
            };
            let next = match run.rx.as_ref().map(|rx| rx.recv_timeout(SIGNAL_LOOK)) {
                Some(Err(RecvTimeoutError::Timeout)) => return Ok(Step::Waiting),
                Some(r) => r.ok(),
                None => None,
            };
            match next {
                Some(Decoded::Frame(f)) => {
                    let faces = run.tracker.process(f.gray(), f.timestamp).map_err(err)?;
                    let held = run.blinks.frame(&still_signals(&faces));
                    self.frames.fetch_add(1, Ordering::SeqCst);
                    Ok(Step::Frame(f.index, f.timestamp, faces, held))
                }
                Some(Decoded::End(skipped, error, note)) => {
                    *g = None;
                    if let Ok(mut n) = self.end_note.lock() {
                        *n = note;
                    }
                    let done = self.frames.load(Ordering::SeqCst);
                    // a broken tail after some frames counts as a skipped packet, as in
                    // the command line; a video with no decodable frame is an error
                    self.skipped.store(
                        skipped + u64::from(error.is_some() && done > 0),
                        Ordering::SeqCst,
                    );
                    match error {
                        Some(e) if done == 0 => Err(err(e)),
                        // the stream ended cleanly, empty: the command line's and
                        // process_video's error
                        None if done == 0 => Err(err(PipelineError::NoFrames {
                            path: self.path.clone(),
                            skipped,
                        })),
                        _ => Ok(Step::End),
                    }
                }
                None => {
                    *g = None;
                    Err(err("the decoder stopped unexpectedly"))
                }
            }
        })
    }
}
