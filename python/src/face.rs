//! The `facetrack.Face` class: one face in one frame or photo, with its points, box,
//! confidence, pose, eye and mouth signals and per-point confidence.

use facetrack::core::signals::{face_signals, FaceSignals};
use facetrack::output::csv_out::VideoRow;
use facetrack::tracking::tracker::TrackedFace;
use facetrack::FaceBox;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// One face in one frame.
#[pyclass(name = "Face", module = "facetrack", frozen)]
pub struct PyFace {
    #[pyo3(get)]
    id: i64,
    points: Py<PyArray2<f32>>,
    #[pyo3(get, name = "box")]
    face_box: (f32, f32, f32, f32),
    #[pyo3(get)]
    confidence: f32,
    #[pyo3(get)]
    success: bool,
    /// OpenFace's pose: (Tx, Ty, Tz) mm and (Rx, Ry, Rz) radians, or None.
    #[pyo3(get)]
    pose: Option<(f32, f32, f32, f32, f32, f32)>,
    /// The eye and mouth signals (None for a layout other than the 68 points).
    signals: Option<FaceSignals>,
    /// Per-point confidence, 0-1 (None for point-regression models).
    point_confidence: Option<Py<PyArray1<f32>>>,
}

#[pymethods]
impl PyFace {
    /// The 68 points, `68×2` float32, pixels of the frame (0-based pixel centres).
    #[getter]
    fn points(&self, py: Python<'_>) -> Py<PyArray2<f32>> {
        self.points.clone_ref(py)
    }

    /// Openness of the subject's left eye (points 42-47): about 1 open, 0 closed.
    #[getter]
    fn eye_open_l(&self) -> Option<f32> {
        self.signals.map(|s| s.eye_open_l)
    }

    /// Openness of the subject's right eye (points 36-41).
    #[getter]
    fn eye_open_r(&self) -> Option<f32> {
        self.signals.map(|s| s.eye_open_r)
    }

    /// Both eyes closed in this frame (the still-image rule: no hysteresis over frames).
    #[getter]
    fn blink(&self) -> Option<bool> {
        self.signals.map(|s| s.blink)
    }

    /// The inner-lip gap over the outer-eye-corner distance (0 closed).
    #[getter]
    fn mouth_open(&self) -> Option<f32> {
        self.signals.map(|s| s.mouth_open)
    }

    /// OpenFace's blink intensity scale (0-5), from the eye openness.
    #[getter]
    fn au45_r(&self) -> Option<f32> {
        self.signals.map(|s| s.au45_r)
    }

    /// Each point's confidence, `68` float32 in 0-1 (low where a point is hidden or
    /// unclear), or None.
    #[getter]
    fn point_confidence(&self, py: Python<'_>) -> Option<Py<PyArray1<f32>>> {
        self.point_confidence.as_ref().map(|a| a.clone_ref(py))
    }

    fn __repr__(&self) -> String {
        let (x, y, w, h) = self.face_box;
        format!(
            "Face(id={}, box=({x:.1}, {y:.1}, {w:.1}, {h:.1}), confidence={:.3}, success={})",
            self.id,
            self.confidence,
            if self.success { "True" } else { "False" }
        )
    }
}

fn points_array(py: Python<'_>, pts: &[facetrack::Point]) -> Py<PyArray2<f32>> {
    let flat: Vec<f32> = pts.iter().flat_map(|p| [p.x, p.y]).collect();
    let n = pts.len();
    flat.into_pyarray(py)
        .reshape([n, 2])
        .expect("n x 2 holds 2n values")
        .unbind()
}

fn confidence_array(py: Python<'_>, c: &[f32]) -> Option<Py<PyArray1<f32>>> {
    (!c.is_empty()).then(|| c.to_vec().into_pyarray(py).unbind())
}

pub fn pose_tuple(p: facetrack::core::head_pose::HeadPose) -> (f32, f32, f32, f32, f32, f32) {
    (p.tx, p.ty, p.tz, p.rx, p.ry, p.rz)
}

/// A tracked face.
pub fn face_of(py: Python<'_>, f: &TrackedFace) -> PyFace {
    let b = f.face_box;
    PyFace {
        id: f.id as i64,
        points: points_array(py, &f.points),
        face_box: (b.left, b.top, b.width, b.height),
        confidence: f.confidence,
        success: f.success,
        pose: f.pose.map(pose_tuple),
        signals: face_signals(&f.points),
        point_confidence: confidence_array(py, &f.point_confidence),
    }
}

/// A face of a still photo: `k`-th, found in `b` with `confidence`.
pub fn still_face(
    py: Python<'_>,
    k: usize,
    (b, confidence): (FaceBox, f32),
    pts: &[facetrack::Point],
    point_confidence: &[f32],
    (width, height): (u32, u32),
) -> PyFace {
    PyFace {
        id: k as i64,
        points: points_array(py, pts),
        face_box: FaceBox::from_points(pts)
            .map(|fb| (fb.left, fb.top, fb.width, fb.height))
            .unwrap_or((b.left, b.top, b.width, b.height)),
        confidence,
        success: true,
        pose: facetrack::core::head_pose::PoseOptions::Guess
            .estimate(pts, width, height)
            .map(pose_tuple),
        signals: face_signals(pts),
        point_confidence: confidence_array(py, point_confidence),
    }
}

/// `read_csv`'s signal arrays (`eye_open_l`, ..., `AU45_r`; `blink` as bool) and the
/// `point_confidence` array (rows × N), where the CSV has those columns.
pub fn add_csv_columns(py: Python<'_>, d: &Bound<'_, PyDict>, rows: &[VideoRow]) -> PyResult<()> {
    if !rows.is_empty() && rows.iter().all(|r| r.signals.is_some()) {
        let col = |k: usize| -> Vec<f32> {
            rows.iter()
                .map(|r| r.signals.map_or(0.0, |s| s[k]))
                .collect()
        };
        for (k, name) in facetrack::output::csv_out::SIGNAL_COLUMNS
            .iter()
            .enumerate()
        {
            if *name == "blink" {
                let b: Vec<bool> = col(k).into_iter().map(|v| v != 0.0).collect();
                d.set_item(*name, PyArray1::from_vec(py, b))?;
            } else {
                d.set_item(*name, PyArray1::from_vec(py, col(k)))?;
            }
        }
    }
    let k = rows.first().map_or(0, |r| r.point_confidence.len());
    if k > 0 && rows.iter().all(|r| r.point_confidence.len() == k) {
        let flat: Vec<f32> = rows
            .iter()
            .flat_map(|r| r.point_confidence.clone())
            .collect();
        let arr = PyArray1::from_vec(py, flat)
            .reshape([rows.len(), k])
            .map_err(crate::err)?;
        d.set_item("point_confidence", arr)?;
    }
    Ok(())
}
