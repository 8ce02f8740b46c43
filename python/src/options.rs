//! Options given from Python, checked once with their names in the errors: whole numbers
//! in range (a negative `threads` is a `ValueError`, not an `OverflowError`), the tracker's
//! settings through the library's own [`TrackerOptions::validate`] (so the command line
//! and Python accept the same values), and the device.

use std::path::PathBuf;

use facetrack::core::head_pose::{Intrinsics, PoseOptions};
use facetrack::inference::model::MAX_THREADS;
use facetrack::tracking::detector::{DetectorOptions, FaceDetector, VIDEO_MIN_FACE_SHARE};
use facetrack::tracking::smoothing::OneEuroParams;
use facetrack::tracking::tracker::{Tracker, TrackerOptions};
use facetrack::{Device, LandmarkModel, ModelOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::err;

/// `value` as a count of at least `least`, or a `ValueError` naming the option.
pub(crate) fn whole(name: &str, value: i64, least: i64) -> PyResult<usize> {
    if value < least {
        return Err(PyValueError::new_err(format!(
            "{name}={value}: must be a whole number of at least {least}"
        )));
    }
    usize::try_from(value).map_err(|_| PyValueError::new_err(format!("{name}={value}: too large")))
}

pub(crate) fn device_of(s: &str) -> PyResult<Device> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        l => match l.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => Ok(Device::Cuda(n)),
            None => Err(PyValueError::new_err(format!(
                "device='{s}': expected 'cpu', 'cuda' or 'cuda:N'"
            ))),
        },
    }
}

/// The model's options: `threads` (0 = one per core) on `device`, with `flip` averaging
/// (each face also run mirrored, the CLI's `--flip`).
pub(crate) fn model_options(device: &str, threads: i64, flip: bool) -> PyResult<ModelOptions> {
    let mut o = ModelOptions::default();
    o.threads = whole("threads", threads, 0)?;
    if o.threads > MAX_THREADS {
        return Err(PyValueError::new_err(format!(
            "threads={threads}: at most {MAX_THREADS} (0: one per core)"
        )));
    }
    o.flip_average = flip;
    o.device = device_of(device)?;
    Ok(o)
}

/// The detector's smallest face: `min_face` pixels, or the video default (40 px, or 1/12
/// of the frame's shorter side if larger) when it is `None`.
pub(crate) fn detector_options(min_face: Option<i64>) -> PyResult<DetectorOptions> {
    Ok(match min_face {
        Some(n) => {
            let mut o = DetectorOptions::default();
            o.min_face = u32::try_from(whole("min_face", n, 1)?)
                .map_err(|_| PyValueError::new_err(format!("min_face={n}: too large")))?;
            o
        }
        None => {
            let mut o = DetectorOptions::default();
            o.min_face_share = VIDEO_MIN_FACE_SHARE;
            o
        }
    })
}

/// The head pose a call asks for: none (`no_pose`), from the camera `(fx, fy, cx, cy)`
/// in pixels, or from OpenFace's guess of the camera (neither), checked as the CLI's
/// `--no-pose` and `--fx`, `--fy`, `--cx`, `--cy` are.
pub(crate) fn pose_options(
    no_pose: bool,
    camera: Option<(f32, f32, f32, f32)>,
) -> PyResult<PoseOptions> {
    match (no_pose, camera) {
        (true, Some(_)) => Err(PyValueError::new_err(
            "no_pose=True and a camera (fx, fy, cx, cy) exclude each other",
        )),
        (true, None) => Ok(PoseOptions::Off),
        (false, None) => Ok(PoseOptions::Guess),
        (false, Some((fx, fy, cx, cy))) => {
            let k = Intrinsics { fx, fy, cx, cy };
            if !k.is_plausible() {
                return Err(PyValueError::new_err(format!(
                    "fx and fy must be focal lengths of 1 to 1000000 pixels, and cx and cy \
                     within -1000000 to 1000000 (got fx={fx}, fy={fy}, cx={cx}, cy={cy})"
                )));
            }
            Ok(PoseOptions::Camera(k))
        }
    }
}

/// What a tracker does with its points besides finding them: `smooth` them with the One
/// Euro filter of `one_euro` (`(min_cutoff, beta)`, checked also when `smooth` is off, as
/// the CLI's), and the head pose.
#[derive(Clone, Copy)]
pub(crate) struct Treatment {
    pub smooth: bool,
    pub one_euro: (f32, f32),
    pub pose: PoseOptions,
}

/// Tracker settings given from Python, checked.
#[derive(Clone)]
pub(crate) struct Settings {
    model: PathBuf,
    model_opts: ModelOptions,
    opts: TrackerOptions,
    detector: DetectorOptions,
}

impl Settings {
    pub(crate) fn new(
        model: PathBuf,
        device: &str,
        (threads, flip): (i64, bool),
        (max_faces, detect_every): (i64, i64),
        min_face: Option<i64>,
        treat: Treatment,
    ) -> PyResult<Self> {
        // a negative count becomes 0, which the library's check refuses by name
        let mut asked = TrackerOptions::default();
        asked.max_faces = usize::try_from(max_faces).unwrap_or(0);
        asked.detect_every = u64::try_from(detect_every).unwrap_or(0);
        let mut one_euro = OneEuroParams::default();
        (one_euro.min_cutoff, one_euro.beta) = treat.one_euro;
        asked.smoothing = Some(one_euro);
        asked.pose = treat.pose;
        let mut opts = asked.validate().map_err(|e| match e {
            // (said with Python's names: d_cutoff and the flags are not Python's to set)
            facetrack::tracking::tracker::OptionsError::Smoothing { .. } => {
                PyValueError::new_err(format!(
                    "min_cutoff must be a positive number (Hz) and beta a number of 0 or more \
                     (got min_cutoff={}, beta={})",
                    treat.one_euro.0, treat.one_euro.1
                ))
            }
            e => PyValueError::new_err(format!(
                "{e} (got max_faces={max_faces}, detect_every={detect_every})"
            )),
        })?;
        opts.smoothing = opts.smoothing.filter(|_| treat.smooth);
        Ok(Settings {
            model,
            model_opts: model_options(device, threads, flip)?,
            opts,
            detector: detector_options(min_face)?,
        })
    }

    /// The same settings with ONNX Runtime's threads spinning between the steps of a run
    /// (`ModelOptions::spin_within_run`): for `Tracker`, whose caller runs one frame at a
    /// time with no pipeline threads beside it.
    pub(crate) fn spinning_within_runs(mut self) -> Self {
        self.model_opts.spin_within_run = true;
        self
    }

    pub(crate) fn tracker(&self) -> PyResult<Tracker> {
        let model = LandmarkModel::from_file(&self.model, self.model_opts).map_err(err)?;
        let det = FaceDetector::new(self.detector).map_err(err)?;
        Ok(Tracker::new(model, det, self.opts))
    }
}
