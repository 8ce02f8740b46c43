//! Whole videos from Python: `process_video` (CSV, annotated video and/or the results as
//! numpy arrays at full precision, straight from the tracker), and `read_csv`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use facetrack::capture::source::Frame;
use facetrack::core::orientation::OrientationRule;
use facetrack::core::signals::FaceBlinks;
use facetrack::output::csv_out::{
    read_video_csv, signal_cells, CsvColumns, CsvFormat, VideoRow, SIGNAL_POINTS,
};
use facetrack::output::output_files::{
    check_outputs, final_target, partial_path, place, taken, written_in_place, OutputError,
};
use facetrack::output::sink::{Finish, Sink, SinkError, StreamInfo};
use facetrack::pipeline::{process_video_into, VideoJob};
use facetrack::tracking::tracker::{TrackedFace, Tracker};
use facetrack::tracking::two_sided::TwoSidedParams;
use facetrack::Point;
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::err;
use crate::options::{pose_options, Settings, Treatment};

/// What a run gives back: files (checked against `overwrite`) and/or arrays.
pub(crate) struct Outputs {
    pub csv: Option<PathBuf>,
    pub annotate: Option<PathBuf>,
    pub overwrite: bool,
    pub arrays: bool,
    /// Two-sided smoothing of the whole file (the CLI's `--smooth-offline`).
    pub smooth_offline: bool,
    /// The CSV's optional columns and separators (`point_confidence=`, `csv_format=`).
    pub columns: CsvColumns,
}

impl Outputs {
    /// The CSV columns of `csv_format` ("plain" or "openface", any case) and
    /// `point_confidence`.
    pub fn columns(csv_format: &str, point_confidence: bool) -> PyResult<CsvColumns> {
        let format = match csv_format.to_ascii_lowercase().as_str() {
            "plain" => CsvFormat::Plain,
            "openface" => CsvFormat::OpenFace,
            other => {
                return Err(PyValueError::new_err(format!(
                    "csv_format={other:?}: \"plain\" (comma-separated) or \"openface\" \
                     (OpenFace 2.x's \", \" separators and header spelling)"
                )))
            }
        };
        let mut c = CsvColumns::default();
        c.point_confidence = point_confidence;
        c.format = format;
        Ok(c)
    }
}

/// The rows of a run kept in memory, as the CSV would hold them but at full precision:
/// one row per face and frame, and a `face_id = -1` row (zero points) for a frame
/// without a face.
struct ArraySink<'a> {
    rows: &'a mut Vec<VideoRow>,
    points: usize,
    pose: bool,
    /// Each face's blink state over the frames (as the CSV keeps it).
    blinks: FaceBlinks,
}

impl Sink for ArraySink<'_> {
    fn begin(&mut self, info: &StreamInfo) -> Result<(), SinkError> {
        self.points = info.points;
        self.pose = info.pose;
        Ok(())
    }
    fn frame(&mut self, frame: &Frame, faces: &[TrackedFace]) -> Result<(), SinkError> {
        let pose = self.pose;
        if faces.is_empty() {
            self.rows.push(VideoRow {
                frame: frame.index + 1,
                face_id: -1,
                timestamp: frame.timestamp,
                confidence: 0.0,
                success: false,
                points: vec![Point { x: 0.0, y: 0.0 }; self.points],
                pose: pose.then_some([0.0; 6]),
                signals: signal_cells((self.points == SIGNAL_POINTS).then_some([0.0; 5])),
                point_confidence: Vec::new(),
            });
        }
        let signals = crate::columns::frame_signals(faces, self.points, &mut self.blinks);
        self.rows
            .extend(faces.iter().zip(signals).map(|(f, signals)| VideoRow {
                frame: frame.index + 1,
                face_id: f.id as i64,
                timestamp: frame.timestamp,
                confidence: f.confidence,
                success: f.success,
                points: f.points.clone(),
                pose: pose.then(|| {
                    f.pose
                        .map(|p| [p.tx, p.ty, p.tz, p.rx, p.ry, p.rz])
                        .unwrap_or([0.0; 6])
                }),
                signals: signal_cells(signals),
                point_confidence: f.point_confidence.clone(),
            }));
        Ok(())
    }
    fn finish(&mut self, _how: Finish) -> Result<(), SinkError> {
        Ok(())
    }
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
    for t in temps.iter().filter(|t| !written_in_place(t)) {
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
pub(crate) fn run_job<'py>(
    py: Python<'py>,
    tracker: &mut Tracker,
    path: PathBuf,
    out: Outputs,
    progress: Option<Py<PyAny>>,
    keep_orientation: bool,
) -> PyResult<Bound<'py, PyDict>> {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    // (a folder, a FIFO or a pipe is the decoder's to judge: it says what it is)
    if !path.exists() {
        return Err(err(format!("{}: no such file", path.display())));
    }
    for (name, p) in [("csv", &out.csv), ("annotate", &out.annotate)] {
        if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(PyValueError::new_err(format!(
                "{name}='' is an empty path: give a file name, or leave {name} out"
            )));
        }
    }
    let outputs: Vec<PathBuf> = out.csv.iter().chain(&out.annotate).cloned().collect();
    if outputs.is_empty() && !out.arrays {
        return Err(PyValueError::new_err(
            "nothing to write: give csv=PATH and/or annotate=PATH, or arrays=True",
        ));
    }
    check_outputs(std::slice::from_ref(&path), &outputs, out.overwrite).map_err(|e| match e {
        OutputError::Exists { path } => err(format!(
            "{} already exists; pass overwrite=True to replace it (it is replaced only when the run ends)",
            path.display()
        )),
        OutputError::PartialExists { path, partial } => err(format!(
            "{} exists (an earlier run was cut short while writing {}?): move it away to keep \
             it, or pass overwrite=True to replace it",
            partial.display(),
            path.display()
        )),
        e => err(e),
    })?;
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    // a FIFO or a device (/dev/stdout) is written straight into; a file that is there
    // now may be replaced at the end (overwrite=True), one that appears meanwhile not
    let temps: Vec<PathBuf> = outputs
        .iter()
        .map(|o| match written_in_place(o) {
            true => o.clone(),
            false => temporary_path(&final_target(o), call),
        })
        .collect();
    let replace: Vec<bool> = outputs.iter().map(|o| taken(o)).collect();
    let mut temp_of = temps.iter().cloned();
    let csv_temp = out.csv.as_ref().and_then(|_| temp_of.next());
    let annotate_temp = out.annotate.as_ref().and_then(|_| temp_of.next());
    let rule = if keep_orientation {
        OrientationRule::Keep
    } else {
        OrientationRule::Apply
    };
    let stop = Arc::new(AtomicBool::new(false));
    let failed: Mutex<Option<PyErr>> = Mutex::new(None);
    let last_look = Mutex::new(Instant::now());
    let mut rows: Vec<VideoRow> = Vec::new();
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
        let mut extra: Vec<Box<dyn Sink + '_>> = Vec::new();
        if out.arrays {
            extra.push(Box::new(ArraySink {
                rows: &mut rows,
                points: 0,
                pose: false,
                blinks: FaceBlinks::default(),
            }));
        }
        let job = VideoJob {
            input: path.clone(),
            csv: csv_temp.clone(),
            csv_columns: out.columns,
            annotate: annotate_temp.clone(),
            style: Default::default(),
            // an interrupted run's files are removed below, never committed
            partial_if_interrupted: false,
            orientation: rule,
        };
        let smooth = out.smooth_offline.then(TwoSidedParams::default);
        process_video_into(&job, smooth, extra, tracker, &stop, &report)
    });
    let failed = failed.into_inner().ok().flatten();
    let summary = match (failed, summary) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => {
            // the error names the outputs as the caller gave them, not the hidden
            // temporary names they are written under
            let mut m = e.to_string();
            for (o, t) in outputs.iter().zip(&temps).filter(|(o, t)| o != t) {
                let given = o.display().to_string();
                m = m.replace(&partial_path(t).display().to_string(), &given);
                m = m.replace(&t.display().to_string(), &given);
            }
            Err(err(m))
        }
        (None, Ok(s)) => {
            // each output on its own: one that cannot take its name does not cost the other
            let mut first: Option<PyErr> = None;
            for ((o, t), &replace) in outputs.iter().zip(&temps).zip(&replace) {
                if o == t {
                    continue; // written in place
                }
                if let Err(e) = place(t, &final_target(o), replace) {
                    let e = match e.kind() {
                        std::io::ErrorKind::AlreadyExists => {
                            // kept under the output's visible partial name, not lost
                            let kept = partial_path(o);
                            let where_ = match place(t, &kept, false) {
                                Ok(()) => format!("; the output is in {}", kept.display()),
                                Err(_) => String::new(),
                            };
                            err(format!(
                                "{} appeared while the run was writing it, so it was not \
                                 replaced (pass overwrite=True to replace it){where_}",
                                o.display()
                            ))
                        }
                        _ => err(format!("{}: {e}", o.display())),
                    };
                    first.get_or_insert(e);
                }
            }
            match first {
                Some(e) => Err(e),
                None => Ok(s),
            }
        }
    };
    let s = match summary {
        Ok(s) => s,
        Err(e) => {
            remove_temporaries(&temps);
            return Err(e);
        }
    };
    let d = if out.arrays {
        // a heat-map model gives every face its points' confidences, so the key is there
        // also when no frame has a face (a point-regression model gives none)
        let heat_maps = matches!(
            tracker.model().contract().output,
            facetrack::core::contract::OutputKind::Pip { .. }
        );
        rows_dict(py, &rows, heat_maps)?
    } else {
        PyDict::new(py)
    };
    d.set_item("frames", s.frames)?;
    d.set_item("frames_with_face", s.frames_with_face)?;
    d.set_item("faces", s.faces)?;
    d.set_item("seconds", s.seconds)?;
    d.set_item("fps", s.fps())?;
    d.set_item("skipped_packets", s.skipped_packets)?;
    d.set_item("end_note", s.end_note.as_deref())?;
    d.set_item("size_note", s.size_changes.map(|c| c.to_string()))?;
    d.set_item("scene_cuts", s.scene_cuts)?;
    d.set_item("crowded_runs", s.crowded_runs)?;
    d.set_item("width", s.width)?;
    d.set_item("height", s.height)?;
    d.set_item(
        "orientation",
        match (s.orientation.applied, s.orientation.squared) {
            (true, false) => facetrack::core::orientation::describe(s.orientation.tag).to_string(),
            (true, true) => format!(
                "{}, pixels made square",
                facetrack::core::orientation::describe(s.orientation.tag)
            ),
            (false, true) => "as stored, pixels made square".into(),
            (false, false) => "as stored".into(),
        },
    )?;
    Ok(d)
}

/// Track a video file into a CSV, an annotated video and/or arrays; a summary dict.
#[pyfunction]
#[pyo3(signature = (path, model, *, csv=None, annotate=None, overwrite=false, progress=None, arrays=false, device="cpu", threads=0, flip=false, max_faces=4, smooth=false, detect_every=5, min_face=None, keep_orientation=false, smooth_offline=false, csv_format="plain", point_confidence=false, no_pose=false, camera=None, one_euro=(1.0, 0.05)))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn process_video<'py>(
    py: Python<'py>,
    path: PathBuf,
    model: PathBuf,
    csv: Option<PathBuf>,
    annotate: Option<PathBuf>,
    overwrite: bool,
    progress: Option<Py<PyAny>>,
    arrays: bool,
    device: &str,
    threads: i64,
    flip: bool,
    max_faces: i64,
    smooth: bool,
    detect_every: i64,
    min_face: Option<i64>,
    keep_orientation: bool,
    smooth_offline: bool,
    csv_format: &str,
    point_confidence: bool,
    no_pose: bool,
    camera: Option<(f32, f32, f32, f32)>,
    one_euro: (f32, f32),
) -> PyResult<Bound<'py, PyDict>> {
    let columns = Outputs::columns(csv_format, point_confidence)?;
    if smooth && smooth_offline {
        return Err(PyValueError::new_err(
            "smooth=True (one-sided, for live use) and smooth_offline=True (two-sided, for \
             files) exclude each other: choose one",
        ));
    }
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
    )?;
    let mut tracker = s.tracker()?;
    let outputs = Outputs {
        csv,
        annotate,
        overwrite,
        arrays,
        smooth_offline,
        columns,
    };
    run_job(py, &mut tracker, path, outputs, progress, keep_orientation)
}

/// Rows as numpy arrays: `frame`, `face_id`, `timestamp`, `confidence`, `success`,
/// `points` (rows × points × 2) and `pose` (rows × 6) when every row has one; with
/// `confidences`, `point_confidence` (rows × points) even where no row has a face.
fn rows_dict<'py>(
    py: Python<'py>,
    rows: &[VideoRow],
    confidences: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let n = rows.len();
    let k = rows.first().map(|r| r.points.len()).unwrap_or(68);
    if rows.iter().any(|r| r.points.len() != k) {
        return Err(err("rows of the CSV have different point counts"));
    }
    let mut pts = Vec::with_capacity(n * k * 2);
    for r in rows {
        pts.extend(r.points.iter().flat_map(|p| [p.x, p.y]));
    }
    let d = PyDict::new(py);
    let frames: Vec<i64> = rows.iter().map(|r| r.frame as i64).collect();
    d.set_item("frame", PyArray1::from_vec(py, frames))?;
    let ids: Vec<i64> = rows.iter().map(|r| r.face_id).collect();
    d.set_item("face_id", PyArray1::from_vec(py, ids))?;
    let ts: Vec<f64> = rows.iter().map(|r| r.timestamp).collect();
    d.set_item("timestamp", PyArray1::from_vec(py, ts))?;
    let conf: Vec<f32> = rows.iter().map(|r| r.confidence).collect();
    d.set_item("confidence", PyArray1::from_vec(py, conf))?;
    let ok: Vec<bool> = rows.iter().map(|r| r.success).collect();
    d.set_item("success", PyArray1::from_vec(py, ok))?;
    let arr: Bound<'py, PyArray3<f32>> = PyArray1::from_vec(py, pts)
        .reshape([n, k, 2])
        .map_err(err)?;
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
    crate::columns::add_columns(py, &d, rows, confidences.then_some(k))?;
    Ok(d)
}

/// Read a facetrack (OpenFace-layout) video CSV into numpy arrays.
#[pyfunction]
pub(crate) fn read_csv<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let rows = py.detach(|| read_video_csv(&path)).map_err(err)?;
    let d = rows_dict(py, &rows, false)?;
    if rows.is_empty() {
        // no row says which optional columns there are: the header does (a CSV with a
        // header only gets the same keys as one with rows, with none)
        let header = std::fs::read_to_string(&path).unwrap_or_default();
        let names: Vec<String> = header
            .lines()
            .next()
            .unwrap_or("")
            .split(',')
            .map(|c| c.trim().to_string())
            .collect();
        let has = |n: &str| names.iter().any(|c| c == n);
        let points = names.iter().filter(|c| c.starts_with("x_")).count();
        d.set_item(
            "points",
            numpy::PyArray3::<f32>::zeros(py, [0, points, 2], false),
        )?;
        if has("pose_Tx") {
            d.set_item("pose", numpy::PyArray2::<f32>::zeros(py, [0, 6], false))?;
        }
        for name in facetrack::output::csv_out::SIGNAL_COLUMNS {
            if has(name) {
                if name == "blink" {
                    d.set_item(name, PyArray1::<bool>::zeros(py, 0, false))?;
                } else {
                    d.set_item(name, PyArray1::<f32>::zeros(py, 0, false))?;
                }
            }
        }
        let conf = names.iter().filter(|c| c.starts_with("c_")).count();
        if conf > 0 {
            d.set_item(
                "point_confidence",
                numpy::PyArray2::<f32>::zeros(py, [0, conf], false),
            )?;
        }
    }
    Ok(d)
}
