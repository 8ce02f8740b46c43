//! `facetrack.landmarks`: still images. Loaded models are kept between calls, keyed by
//! every option that changes the result (model file, device, threads, smallest face). A
//! call takes an idle model out of the cache (or loads one), runs without any lock held
//! and puts it back: threads calling at once run in parallel, each on its own model.

use std::path::PathBuf;
use std::sync::Mutex;

use facetrack::tracking::detector::FaceDetector;
use facetrack::tracking::tracker::{
    align_faces, detection_confidence, quality_confidence, still_faces, TrackerOptions,
    QUALITY_KEEP, QUALITY_LOST,
};
use facetrack::{Device, FaceBox, LandmarkModel, Point};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::err;
use crate::face::{still_face, PyFace};
use crate::frames::{frame_arg, to_gray};
use crate::options::{detector_options, model_options};

/// What a cached model was made with.
#[derive(Clone, PartialEq)]
struct Key {
    model: PathBuf,
    device: Device,
    threads: usize,
    flip: bool,
    min_face: u32,
}

/// A model and a detector kept between calls.
struct Still {
    key: Key,
    model: LandmarkModel,
    det: FaceDetector,
}

/// Idle models, the most recently used last.
static IDLE: Mutex<Vec<Still>> = Mutex::new(Vec::new());
/// Idle models kept at most (a few threads' worth; each holds a session's buffers).
const IDLE_MAX: usize = 4;

fn take_idle(key: &Key) -> Option<Still> {
    let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
    let k = idle.iter().rposition(|s| &s.key == key)?;
    Some(idle.remove(k))
}

fn put_idle(s: Still) {
    let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
    idle.push(s);
    if idle.len() > IDLE_MAX {
        idle.remove(0);
    }
}

/// One face found: its box, confidence, whether it is a face, its points and their confidence.
type Found = (FaceBox, f32, bool, Vec<Point>, Vec<f32>);

/// Landmarks of the faces in a still image: at the given boxes `(x, y, w, h)` (the
/// landmark-box frame: a face's tight box), or where the face detector finds faces.
#[pyfunction]
#[pyo3(signature = (image, model, *, boxes=None, channels=None, max_faces=8, min_face=40, threads=0, device="cpu", flip=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn landmarks(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    model: PathBuf,
    boxes: Option<Vec<(f32, f32, f32, f32)>>,
    channels: Option<&str>,
    max_faces: i64,
    min_face: i64,
    threads: i64,
    device: &str,
    flip: bool,
) -> PyResult<Vec<PyFace>> {
    // the tracker's check, so landmarks() and Tracker() refuse the same values
    let mut asked = TrackerOptions::default();
    asked.max_faces = usize::try_from(max_faces).unwrap_or(0);
    let max_faces = asked
        .validate()
        .map_err(|e| PyValueError::new_err(format!("{e} (got max_faces={max_faces})")))?
        .max_faces;
    let model_opts = model_options(device, threads, flip)?;
    let det_opts = detector_options(Some(min_face))?;
    let gray = to_gray(&frame_arg(image)?, channels)?;
    let (width, height) = (gray.width(), gray.height());
    if let Some(b) = &boxes {
        for &(x, y, w, h) in b {
            if !(x.is_finite() && y.is_finite() && w.is_finite() && h.is_finite())
                || w <= 0.0
                || h <= 0.0
            {
                return Err(PyValueError::new_err(format!(
                    "box ({x}, {y}, {w}, {h}): boxes are (x, y, width, height) with finite \
                     values and positive sizes"
                )));
            }
            if x >= width as f32 || y >= height as f32 || x + w <= 0.0 || y + h <= 0.0 {
                return Err(PyValueError::new_err(format!(
                    "box ({x}, {y}, {w}, {h}) lies wholly outside the {width}x{height} image"
                )));
            }
        }
    }
    let key = Key {
        model: model.clone(),
        device: model_opts.device,
        threads: model_opts.threads,
        flip,
        min_face: det_opts.min_face,
    };
    let result = py.detach(move || -> Result<Vec<Found>, String> {
        let mut s = match take_idle(&key) {
            Some(s) => s,
            None => Still {
                model: LandmarkModel::from_file(&model, model_opts).map_err(|e| e.to_string())?,
                det: FaceDetector::new(det_opts).map_err(|e| e.to_string())?,
                key,
            },
        };
        // given boxes: their landmarks; else the detector's faces, searched turned where
        // no upright face is clear (as the CLI's `image` does; a turned face's box: the
        // one its points give)
        let (found, scores, preds): (Vec<FaceBox>, Vec<Option<f32>>, _) = match &boxes {
            Some(b) => {
                let found: Vec<FaceBox> = b
                    .iter()
                    .map(|&(x, y, w, h)| FaceBox::new(x, y, w, h))
                    .collect();
                let preds = align_faces(&mut s.model, &gray, &found).map_err(|e| e.to_string());
                let scores = vec![None; found.len()];
                (found, scores, preds)
            }
            None => match still_faces(&mut s.det, &mut s.model, &gray, max_faces) {
                Ok((d, p)) => {
                    let found = p
                        .iter()
                        .zip(&d)
                        .map(|(p, d)| FaceBox::from_points(&p.points).unwrap_or(d.face_box))
                        .collect();
                    (found, d.iter().map(|d| Some(d.score)).collect(), Ok(p))
                }
                Err(e) => (Vec::new(), Vec::new(), Err(e.to_string())),
            },
        };
        put_idle(s);
        // with boxes, the confidence is the model's landmark quality alone (a box on a
        // blank wall scores low); with the detector, the tracker's formula
        Ok(found
            .into_iter()
            .zip(scores)
            .zip(preds?)
            .map(|((b, score), p)| {
                let from_quality = p.quality.map(quality_confidence);
                let confidence = match (score, from_quality) {
                    (Some(s), q) => detection_confidence(s).max(q.unwrap_or(0.0)),
                    (None, Some(q)) => q,
                    (None, None) => 1.0, // a model without a quality signal
                };
                // a face: the detector's with landmarks the tracker would keep following;
                // a given box, landmarks clear enough that the tracker would keep the face
                // without the detector (QUALITY_KEEP)
                let least = if score.is_some() {
                    QUALITY_LOST
                } else {
                    QUALITY_KEEP
                };
                let face = p.quality.is_none_or(|q| q >= least);
                let conf = p.point_confidence();
                (b, confidence, face, p.points, conf)
            })
            .collect())
    });
    let faces = result.map_err(err)?;
    Ok(faces
        .iter()
        .enumerate()
        .map(|(k, (b, c, ok, pts, conf))| still_face(py, k, b, *c, *ok, pts, conf, (width, height)))
        .collect())
}
