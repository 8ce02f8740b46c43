//! `facetrack.Face`: one face in one frame, built from the tracker's faces (video) or
//! from a still image's points.

use facetrack::core::signals::{face_signals, FaceSignals};
use facetrack::tracking::tracker::TrackedFace;
use facetrack::FaceBox;
use numpy::{
    AllowTypeChange, IntoPyArray, PyArray1, PyArray2, PyArrayLike1, PyArrayLike2, PyArrayMethods,
    PyReadonlyArray2,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// One face in one frame. Immutable: its arrays are read-only (take a `.copy()` to
/// change one); it pickles and deep-copies as itself, and faces with the same values
/// are equal (and hash alike).
#[pyclass(name = "Face", module = "facetrack", frozen)]
pub(crate) struct PyFace {
    /// The face's track id: the same face keeps its id from frame to frame (from 0; a
    /// still image numbers its faces in order).
    #[pyo3(get)]
    id: i64,
    points: Py<PyArray2<f32>>,
    /// The face's box, (x, y, width, height) in pixels of the frame given.
    #[pyo3(get, name = "box")]
    face_box: (f32, f32, f32, f32),
    /// How sure the tracker is that this is a face with good points, 0-1.
    #[pyo3(get)]
    confidence: f32,
    /// Whether the face counts as found in this frame (OpenFace's `success`); a face the
    /// tracker is unsure of is still reported, with `success=False`.
    #[pyo3(get)]
    success: bool,
    /// OpenFace's pose: (Tx, Ty, Tz) mm and (Rx, Ry, Rz) radians, or None.
    #[pyo3(get)]
    pose: Option<(f32, f32, f32, f32, f32, f32)>,
    /// The model's own points where smoothing moved `points` (None: the same).
    raw_points: Option<Py<PyArray2<f32>>>,
    /// The eye and mouth signals of the model's own points (None for another layout
    /// than the 68).
    signals: Option<FaceSignals>,
    /// Per-point confidence, 0-1 (None for point-regression models).
    point_confidence: Option<Py<PyArray1<f32>>>,
}

#[pymethods]
impl PyFace {
    /// A face from its values (as pickle rebuilds one); `points` is copied.
    /// `raw_points`: the model's own points where smoothing moved `points` (the eye and
    /// mouth signals are measured on them).
    #[new]
    #[pyo3(signature = (id, points, r#box, confidence, success, pose=None, point_confidence=None, raw_points=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        id: i64,
        // (any array of numbers, float64 as numpy gives by default too, taken as float32)
        points: PyArrayLike2<'_, f32, AllowTypeChange>,
        r#box: (f32, f32, f32, f32),
        confidence: f32,
        success: bool,
        pose: Option<(f32, f32, f32, f32, f32, f32)>,
        point_confidence: Option<PyArrayLike1<'_, f32, AllowTypeChange>>,
        raw_points: Option<PyArrayLike2<'_, f32, AllowTypeChange>>,
    ) -> PyResult<Self> {
        let pts = point_rows(&points, "points")?;
        // raw points the same as the points (bit for bit, NaN too) are none
        let same = |a: &[facetrack::Point], b: &[facetrack::Point]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(p, q)| same_value(p.x, q.x) && same_value(p.y, q.y))
        };
        let raw = raw_points
            .map(|r| point_rows(&r, "raw_points"))
            .transpose()?
            .filter(|r| !same(r, &pts));
        let conf: Vec<f32> = point_confidence
            .map(|c| c.as_array().iter().copied().collect())
            .unwrap_or_default();
        // one value a point, or none
        if !conf.is_empty() && conf.len() != pts.len() {
            return Err(PyValueError::new_err(format!(
                "point_confidence has {} values for {} points",
                conf.len(),
                pts.len()
            )));
        }
        if let Some(r) = raw.as_ref().filter(|r| r.len() != pts.len()) {
            return Err(PyValueError::new_err(format!(
                "raw_points has {} points where points has {}",
                r.len(),
                pts.len()
            )));
        }
        Ok(PyFace {
            id,
            points: points_array(py, &pts),
            face_box: r#box,
            confidence,
            success,
            pose,
            signals: face_signals(raw.as_deref().unwrap_or(&pts)),
            raw_points: raw.map(|r| points_array(py, &r)),
            point_confidence: confidence_array(py, &conf),
        })
    }

    /// `Face(*args)` rebuilds this face: pickle and `copy.deepcopy` use it.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let f = slf.get();
        let args = (
            f.id,
            f.points.bind(py).to_owned_array().into_pyarray(py),
            f.face_box,
            f.confidence,
            f.success,
            f.pose,
            f.point_confidence.as_ref().map(|c| c.clone_ref(py)),
            f.raw_points
                .as_ref()
                .map(|r| r.bind(py).to_owned_array().into_pyarray(py)),
        )
            .into_pyobject(py)?;
        Ok((slf.get_type().into_any(), args))
    }

    /// The 68 points, `68×2` float32, pixels of the frame (0-based pixel centres).
    #[getter]
    fn points(&self, py: Python<'_>) -> Py<PyArray2<f32>> {
        self.points.clone_ref(py)
    }

    /// The model's own points of this frame, before smoothing (`points` itself without
    /// smoothing); the eye and mouth signals are measured on them, so that smoothing
    /// neither delays nor removes a blink.
    #[getter]
    fn raw_points(&self, py: Python<'_>) -> Py<PyArray2<f32>> {
        self.raw_points
            .as_ref()
            .unwrap_or(&self.points)
            .clone_ref(py)
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

    /// Both eyes closed: in a video (`Tracker.process`, `track`) with the CSV's rule over
    /// the frames (a blink, once started, lasts until an eye opens clearly); for a still
    /// image the still-image rule.
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

    /// Two faces are equal when all their values are (the same id, box, confidences,
    /// flags, pose and points; NaN equal to NaN): a pickled or copied face equals the
    /// face it came from.
    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        let py = other.py();
        self.key(py) == other.key(py)
    }

    /// The hash of the values `==` compares, so that equal faces hash alike.
    fn __hash__(&self, py: Python<'_>) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.key(py).hash(&mut h);
        h.finish()
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

impl PyFace {
    /// Every value of the face as bits, for `==` and `hash` (0.0 and -0.0 alike, every
    /// NaN alike); the optional parts are marked present or absent.
    fn key(&self, py: Python<'_>) -> Vec<u32> {
        fn bits(x: f32) -> u32 {
            if x.is_nan() {
                f32::NAN.to_bits()
            } else {
                (x + 0.0).to_bits()
            }
        }
        fn array(out: &mut Vec<u32>, a: Option<numpy::ndarray::ArrayViewD<'_, f32>>) {
            match a {
                None => out.push(0),
                Some(a) => {
                    out.push(1);
                    out.extend(a.shape().iter().map(|&n| n as u32));
                    out.extend(a.iter().map(|&x| bits(x)));
                }
            }
        }
        let (x, y, w, h) = self.face_box;
        let mut k: Vec<u32> = vec![
            self.id as u32,
            (self.id >> 32) as u32,
            u32::from(self.success),
        ];
        k.extend([x, y, w, h, self.confidence].map(bits));
        match self.pose {
            None => k.push(0),
            Some((a, b, c, d, e, f)) => {
                k.push(1);
                k.extend([a, b, c, d, e, f].map(bits));
            }
        }
        let points = self.points.bind(py).readonly();
        array(&mut k, Some(points.as_array().into_dyn()));
        let raw = self.raw_points.as_ref().map(|r| r.bind(py).readonly());
        array(&mut k, raw.as_ref().map(|r| r.as_array().into_dyn()));
        let conf = self
            .point_confidence
            .as_ref()
            .map(|c| c.bind(py).readonly());
        array(&mut k, conf.as_ref().map(|c| c.as_array().into_dyn()));
        k
    }
}

/// Whether two values are the same for a face's equality: NaN is NaN, -0.0 is 0.0.
fn same_value(a: f32, b: f32) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The rows of an `N×2` array of points (`what` names it in the error).
fn point_rows(a: &PyReadonlyArray2<'_, f32>, what: &str) -> PyResult<Vec<facetrack::Point>> {
    let a = a.as_array();
    if a.shape()[1] != 2 {
        return Err(PyValueError::new_err(format!(
            "{what} are N x 2; got shape {:?}",
            a.shape()
        )));
    }
    Ok(a.rows()
        .into_iter()
        .map(|r| facetrack::Point { x: r[0], y: r[1] })
        .collect())
}

/// The points as a read-only `N×2` float32 array: a face's points cannot be changed
/// through the array it hands out.
fn points_array<'py>(py: Python<'py>, pts: &[facetrack::Point]) -> Py<PyArray2<f32>> {
    let flat: Vec<f32> = pts.iter().flat_map(|p| [p.x, p.y]).collect();
    let n = pts.len();
    let a = flat
        .into_pyarray(py)
        .reshape([n, 2])
        .expect("n x 2 holds 2n values");
    read_only(&a);
    a.unbind()
}

/// Makes an array that owns its data read-only.
fn read_only(a: &Bound<'_, PyAny>) {
    let kw = PyDict::new(a.py());
    kw.set_item("write", false).expect("a str key");
    a.call_method("setflags", (), Some(&kw))
        .expect("an array owning its data can be made read-only");
}

/// A face's per-point confidence as a read-only array (None when there is none).
fn confidence_array(py: Python<'_>, c: &[f32]) -> Option<Py<PyArray1<f32>>> {
    (!c.is_empty()).then(|| {
        let a = c.to_vec().into_pyarray(py);
        read_only(a.as_any());
        a.unbind()
    })
}

/// A video frame's faces as (id, still-image signals), for
/// [`facetrack::core::signals::FaceBlinks::frame`].
pub(crate) fn still_signals(faces: &[TrackedFace]) -> Vec<(u32, Option<FaceSignals>)> {
    faces.iter().map(|f| (f.id, f.signals())).collect()
}

/// A video frame's faces, with their signals as
/// [`facetrack::core::signals::FaceBlinks::frame`] held them over the frames (the CSV's
/// `blink`).
pub(crate) fn video_faces(
    py: Python<'_>,
    faces: &[TrackedFace],
    held: Vec<Option<FaceSignals>>,
) -> Vec<PyFace> {
    faces
        .iter()
        .zip(held)
        .map(|(f, signals)| face_of(py, f, signals))
        .collect()
}

/// A tracked face with its signals (`blink` as the caller holds it).
fn face_of(py: Python<'_>, f: &TrackedFace, signals: Option<FaceSignals>) -> PyFace {
    let b = f.face_box;
    PyFace {
        id: f.id as i64,
        points: points_array(py, &f.points),
        face_box: (b.left, b.top, b.width, b.height),
        confidence: f.confidence,
        success: f.success,
        pose: f.pose.map(pose_tuple),
        signals,
        raw_points: (f.model_points() != f.points.as_slice())
            .then(|| points_array(py, f.model_points())),
        point_confidence: confidence_array(py, &f.point_confidence),
    }
}

fn pose_tuple(p: facetrack::core::head_pose::HeadPose) -> (f32, f32, f32, f32, f32, f32) {
    (p.tx, p.ty, p.tz, p.rx, p.ry, p.rz)
}

/// Face `k` of a still image (`size`: its width and height): the box around its points
/// (the given or detected box if there are none), the pose guessed from them, and the
/// model's per-point confidence.
#[allow(clippy::too_many_arguments)]
pub(crate) fn still_face(
    py: Python<'_>,
    k: usize,
    b: &FaceBox,
    confidence: f32,
    success: bool,
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
        success,
        pose: facetrack::core::head_pose::PoseOptions::Guess
            .estimate(pts, width, height)
            .map(pose_tuple),
        signals: face_signals(pts),
        raw_points: None,
        point_confidence: confidence_array(py, point_confidence),
    }
}
