//! What live mode is given ([`LiveConfig`], [`LiveSource`]) and what it gives back
//! ([`LiveSummary`], [`LiveError`]).

use std::path::PathBuf;

use crate::capture::camera::{CameraRequest, CameraSource};
use crate::capture::source::{FrameSource, SourceError};
use crate::capture::video::VideoFile;
use crate::inference::model::{ModelError, ModelOptions};
use crate::output::draw::ShapeStyle;
use crate::output::output_files::OutputError;
use crate::output::sink::SinkError;
use crate::pipeline::stage::StageError;
use crate::tracking::detector::{DetectorError, DetectorOptions};
use crate::tracking::smoothing::OneEuroParams;
use crate::tracking::tracker::TrackerOptions;

/// Where live frames come from.
#[derive(Debug, Clone)]
pub enum LiveSource {
    Camera(CameraRequest),
    /// A video file played at its own rate, like a camera, turned by its display matrix
    /// unless the rule keeps the stored orientation.
    File(PathBuf, crate::core::orientation::OrientationRule),
}

impl LiveSource {
    /// Open it (on the capture thread: the camera is not `Send`), with RGB pixels.
    pub fn open(&self) -> Result<Box<dyn FrameSource>, SourceError> {
        Ok(match self {
            LiveSource::Camera(req) => Box::new(CameraSource::open(*req, true)?),
            LiveSource::File(p, rule) => Box::new(VideoFile::open_with(p, true, *rule)?),
        })
    }
}

/// Where the JSON-lines stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonlTarget {
    /// Standard output, written directly (`--jsonl -`).
    Stdout,
    /// A file, written under its `.partial` name and renamed at the end.
    File(PathBuf),
}

/// Everything live mode needs.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub source: LiveSource,
    pub model_path: PathBuf,
    pub model: ModelOptions,
    pub tracker: TrackerOptions,
    pub smoothing: OneEuroParams,
    pub detector: DetectorOptions,
    /// Record a CSV from the start.
    pub record: Option<PathBuf>,
    /// Write the tracked frames, annotated, to this video.
    pub annotate: Option<PathBuf>,
    /// Stream one JSON object per face per frame, with the CSV's field names.
    pub jsonl: Option<JsonlTarget>,
    /// How the annotated video draws the points.
    pub style: ShapeStyle,
    /// Replace `record` / `annotate` / `jsonl` if they exist (when the session ends).
    pub overwrite: bool,
    /// Folder for `r` recordings and `c` screenshots.
    pub recordings: PathBuf,
    /// Stop after this many displayed frames.
    pub frames: Option<u64>,
    /// Save the last window image here (PNG) at exit.
    pub screenshot: Option<PathBuf>,
}

impl LiveConfig {
    /// The files asked for at the start, in the order their sinks are opened.
    pub fn output_files(&self) -> Vec<PathBuf> {
        let jsonl = match &self.jsonl {
            Some(JsonlTarget::File(p)) => Some(p.clone()),
            _ => None,
        };
        self.record
            .iter()
            .chain(&self.annotate)
            .cloned()
            .chain(jsonl)
            .collect()
    }
}

/// Figures of a live session.
#[derive(Debug, Clone, Default)]
pub struct LiveSummary {
    pub captured: u64,
    pub processed: u64,
    pub displayed: u64,
    /// Frames written to the file outputs (every tracked frame up to the last one shown).
    pub written: u64,
    /// Frames dropped between capture and inference, and between inference and display.
    pub dropped_capture: u64,
    pub dropped_display: u64,
    /// Camera frames or file packets that could not be decoded and were skipped.
    pub skipped: u64,
    /// Why the first of them was skipped.
    pub first_skip: Option<String>,
    pub seconds: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub model_ms_per_face: f64,
    pub source_fps: Option<f64>,
    /// A file's frames turned by its display matrix or resampled to square pixels: how,
    /// and in which size the outputs' points are.
    pub frame_note: Option<String>,
}

impl LiveSummary {
    pub fn display_fps(&self) -> f64 {
        self.displayed as f64 / self.seconds.max(1e-9)
    }
    pub fn drop_rate(&self) -> f64 {
        (self.dropped_capture + self.dropped_display) as f64 / self.captured.max(1) as f64
    }
}

/// What stops live mode with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("the {stage} stage panicked: {message}")]
    Panicked { stage: String, message: String },
    #[error("cannot start the {stage} stage: {source}")]
    Spawn {
        stage: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A failure after frames were shown: the outputs written so far keep their
    /// `.partial` names (`kept`: those files), as `video` leaves a run that failed
    /// part-way.
    #[error(
        "live mode stopped after {shown} frame{} shown: {source}{}",
        if *shown == 1 { "" } else { "s" },
        crate::output::window::kept_phrase(kept)
    )]
    Stopped {
        shown: u64,
        kept: Vec<PathBuf>,
        #[source]
        source: Box<LiveError>,
    },
}

impl<E: Into<LiveError>> From<StageError<E>> for LiveError {
    fn from(e: StageError<E>) -> Self {
        match e {
            StageError::Failed(e) => e.into(),
            StageError::Panicked { stage, message } => LiveError::Panicked { stage, message },
        }
    }
}
