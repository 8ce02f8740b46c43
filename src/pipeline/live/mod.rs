//! Live mode: capture thread → track + infer thread → the window on the main thread.
//! Newest-frame-wins channels of capacity 1 between the stages, so latency stays low
//! when a stage is slow (drops are counted); points are always drawn on the frame they
//! were computed from. A shared stop flag ends every stage: Esc, `q`, closing the window,
//! Ctrl-C, the end of a `--source` file or an error in any stage.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minifb::Key;

use crate::capture::camera::{CameraRequest, CameraSource};
use crate::capture::source::{Frame, FrameSource, SourceError};
use crate::capture::video::VideoFile;
use crate::inference::model::{LandmarkModel, ModelError, ModelOptions};
use crate::output::annotate::AnnotatedVideo;
use crate::output::draw::ShapeStyle;
use crate::output::output_files::{check_outputs, OutputError};
use crate::output::sink::{CsvSink, Finish, Sink, SinkError, StreamInfo};
use crate::output::window::LiveWindow;
use crate::pipeline::channel::{latest, LatestReceiver, LatestSender};
use crate::pipeline::stage::{self, Control, StageError};
use crate::tracking::detector::{DetectorError, DetectorOptions, FaceDetector};
use crate::tracking::smoothing::OneEuroParams;
use crate::tracking::tracker::{TrackedFace, Tracker, TrackerOptions};

/// How long a stage waits on its input before looking at the stop flag again.
const POLL: Duration = Duration::from_millis(20);

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
    /// Write the displayed frames, annotated, to this video.
    pub annotate: Option<PathBuf>,
    /// How the annotated video draws the points.
    pub style: ShapeStyle,
    /// Replace `record` / `annotate` if they exist (when the session ends).
    pub overwrite: bool,
    /// Folder for `r` recordings and `c` screenshots.
    pub recordings: PathBuf,
    /// Stop after this many displayed frames.
    pub frames: Option<u64>,
    /// Save the last window image here (PNG) at exit.
    pub screenshot: Option<PathBuf>,
}

/// Figures of a live session.
#[derive(Debug, Clone, Default)]
pub struct LiveSummary {
    pub captured: u64,
    pub processed: u64,
    pub displayed: u64,
    /// Frames dropped between capture and inference, and between inference and display.
    pub dropped_capture: u64,
    pub dropped_display: u64,
    pub seconds: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub model_ms_per_face: f64,
    pub source_fps: Option<f64>,
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
}

impl<E: Into<LiveError>> From<StageError<E>> for LiveError {
    fn from(e: StageError<E>) -> Self {
        match e {
            StageError::Failed(e) => e.into(),
            StageError::Panicked { stage, message } => LiveError::Panicked { stage, message },
        }
    }
}

/// A processed frame on its way to the window.
struct Shown {
    frame: Frame,
    faces: Vec<TrackedFace>,
    model_ms: f64,
}

/// The capture stage: frames from the source into the newest-wins slot. A file is paced
/// to its own timestamps, so frames that arrive while inference is busy are dropped as
/// a camera's would be.
fn capture(
    source: &LiveSource,
    tx: LatestSender<Frame>,
    ctl: &Control,
    fps_out: &Mutex<Option<f64>>,
) -> Result<(), SourceError> {
    let mut src = source.open()?;
    if let Ok(mut f) = fps_out.lock() {
        *f = src.fps();
    }
    let paced = matches!(source, LiveSource::File(..));
    let mut start = Instant::now();
    let mut first_ts: Option<f64> = None;
    let mut last_ts: Option<f64> = None;
    while !ctl.stopped() {
        let Some(mut frame) = src.next_frame()? else {
            // the file ended: let the last frames reach the window, then stop
            std::thread::sleep(Duration::from_millis(200));
            ctl.stop();
            return Ok(());
        };
        if paced {
            let ts = frame.timestamp;
            // a jump in the file's timestamps (or one that is not a number) restarts
            // the pacing at this frame instead of sleeping through the gap
            let jumped = !ts.is_finite()
                || last_ts.is_some_and(|l| !(0.0..=MAX_PACING_GAP).contains(&(ts - l)));
            if jumped || first_ts.is_none() {
                first_ts = Some(if ts.is_finite() { ts } else { 0.0 });
                start = Instant::now();
            }
            last_ts = ts.is_finite().then_some(ts);
            // frames are due at their own time since the (last) pacing start; gaps over
            // MAX_PACING_GAP restarted it above, so this stays a normal duration
            let ahead = (ts - first_ts.unwrap_or(ts)).max(0.0);
            let due = start
                + Duration::try_from_secs_f64(if ahead.is_finite() { ahead } else { 0.0 })
                    .unwrap_or_default();
            sleep_until(due, ctl);
            frame.captured = Instant::now();
        }
        tx.send(frame);
    }
    Ok(())
}

/// Largest gap between two frames' timestamps that live pacing sleeps through, seconds.
const MAX_PACING_GAP: f64 = 2.0;
/// Longest single sleep of the pacing, so a stop is noticed at once.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

/// Sleep until `due` in short slices, returning early when the pipeline stops.
fn sleep_until(due: Instant, ctl: &Control) {
    loop {
        let now = Instant::now();
        if now >= due || ctl.stopped() {
            return;
        }
        std::thread::sleep((due - now).min(SLEEP_SLICE));
    }
}

/// The inference stage.
fn infer(
    mut tracker: Tracker,
    rx: LatestReceiver<Frame>,
    tx: LatestSender<Shown>,
    smooth: &AtomicBool,
    params: OneEuroParams,
    ctl: &Control,
) -> Result<(), ModelError> {
    let mut smoothing_on = tracker.options().smoothing.is_some();
    while !ctl.stopped() {
        let Some(frame) = rx.recv_timeout(POLL) else {
            continue;
        };
        let want = smooth.load(Ordering::Relaxed);
        if want != smoothing_on {
            tracker.set_smoothing(want.then_some(params));
            smoothing_on = want;
        }
        let t = Instant::now();
        let faces = tracker.process(&frame.gray, frame.timestamp)?;
        let model_ms = t.elapsed().as_secs_f64() * 1000.0;
        tx.send(Shown {
            frame,
            faces,
            model_ms,
        });
    }
    Ok(())
}

/// Percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn timestamped(dir: &Path, prefix: &str, ext: &str) -> PathBuf {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    dir.join(format!("{prefix}-{t}.{ext}"))
}

/// The file sinks of a session: those asked for at the start, and the `r` recording.
struct Files {
    /// Sinks opened at the first frame (`--record`, `--annotate`).
    start: Vec<Box<dyn Sink>>,
    /// The `r` key's CSV, and its path.
    recording: Option<(PathBuf, CsvSink)>,
    info: Option<StreamInfo>,
}

impl Files {
    fn frame(
        &mut self,
        frame: &Frame,
        faces: &[TrackedFace],
        info: StreamInfo,
    ) -> Result<(), SinkError> {
        if self.info.is_none() {
            self.info = Some(info);
            for s in &mut self.start {
                s.begin(&info)?;
            }
        }
        for s in &mut self.start {
            s.frame(frame, faces)?;
        }
        if let Some((_, r)) = &mut self.recording {
            r.frame(frame, faces)?;
        }
        Ok(())
    }
    /// Start or stop the `r` recording.
    fn toggle_recording(&mut self, dir: &Path, info: StreamInfo) {
        if let Some((p, mut r)) = self.recording.take() {
            match r.finish(Finish::Commit) {
                Ok(()) => eprintln!("recording stopped: {}", p.display()),
                Err(e) => eprintln!("error: {e}"),
            }
            return;
        }
        let p = timestamped(dir, "live", "csv");
        let mut r = CsvSink::new(&p);
        let started = std::fs::create_dir_all(dir)
            .map_err(|source| SinkError::Io {
                path: dir.to_path_buf(),
                source,
            })
            .and_then(|_| r.begin(&self.info.unwrap_or(info)));
        match started {
            Ok(()) => {
                eprintln!("recording to {}", p.display());
                self.recording = Some((p, r));
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    /// Close everything: commit after a normal end, keep the partial files after an error.
    fn finish(&mut self, how: Finish) -> Result<(), SinkError> {
        let mut first = Ok(());
        let begun = self.info.is_some();
        for s in &mut self.start {
            // sinks never begun have no file; one begun is settled as asked
            let r = if begun { s.finish(how) } else { Ok(()) };
            if first.is_ok() {
                first = r;
            }
        }
        if let Some((_, mut r)) = self.recording.take() {
            let r = r.finish(how);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// The display's running figures.
#[derive(Default)]
struct Figures {
    latencies: Vec<f64>,
    model_ms: f64,
    frames_with_faces: u64,
    displayed: u64,
    recent: std::collections::VecDeque<Instant>,
}

impl Figures {
    /// Count a frame about to be shown; the status line for it.
    fn status(&mut self, s: &Shown, smooth: bool, recording: bool) -> String {
        let now = Instant::now();
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        let lat = now.duration_since(s.frame.captured).as_secs_f64() * 1000.0;
        let per_face = if s.faces.is_empty() {
            0.0
        } else {
            self.model_ms += s.model_ms / s.faces.len() as f64;
            self.frames_with_faces += 1;
            s.model_ms / s.faces.len() as f64
        };
        format!(
            "FPS {:.1}  LATENCY {:.0} MS  MODEL {:.1} MS/FACE  FACES {}  SMOOTH {}{}",
            self.recent.len(),
            lat,
            per_face,
            s.faces.iter().filter(|f| f.success).count(),
            if smooth { "ON" } else { "OFF" },
            if recording { "  REC" } else { "" }
        )
    }
}

/// Run live mode on the calling (main) thread until it is stopped: by the window (Esc,
/// `q`, closing it), `cfg.frames`, the end of a file source, an error in any stage, or
/// `user_stop` (Ctrl-C).
pub fn run_live(cfg: LiveConfig, user_stop: Arc<AtomicBool>) -> Result<LiveSummary, LiveError> {
    // the model, the outputs and the window first: their errors are the common ones
    let model = LandmarkModel::from_file(&cfg.model_path, cfg.model)?;
    let points = model.contract().num_points();
    let tracker = Tracker::new(model, FaceDetector::new(cfg.detector)?, cfg.tracker);
    let inputs: Vec<PathBuf> = match &cfg.source {
        LiveSource::File(p, _) => vec![p.clone()],
        LiveSource::Camera(_) => vec![],
    };
    let outputs: Vec<PathBuf> = cfg.record.iter().chain(&cfg.annotate).cloned().collect();
    check_outputs(&inputs, &outputs, cfg.overwrite)?;
    let mut window = LiveWindow::open("facetrack (h: help)", 640, 480)?;
    let mut files = Files {
        start: Vec::new(),
        recording: None,
        info: None,
    };
    if let Some(p) = &cfg.record {
        files.start.push(Box::new(CsvSink::new(p)));
    }
    if let Some(p) = &cfg.annotate {
        files
            .start
            .push(Box::new(AnnotatedVideo::new(p, cfg.style)));
    }
    let pose = cfg.tracker.pose.is_on();
    let ctl = Control::new(user_stop);
    let (cap_tx, cap_rx) = latest::<Frame>();
    let (show_tx, show_rx) = latest::<Shown>();
    let cap_stats = cap_rx.stats();
    let smooth = AtomicBool::new(cfg.tracker.smoothing.is_some());
    let src_fps = Mutex::new(None);
    let started = Instant::now();
    let mut fig = Figures::default();
    let mut last: Option<Shown> = None;
    let (shown, captured, inferred) = std::thread::scope(|s| {
        let cap = stage::spawn(s, "capture", &ctl, |c| {
            capture(&cfg.source, cap_tx, c, &src_fps)
        })
        .map_err(|source| LiveError::Spawn {
            stage: "capture",
            source,
        })?;
        let inf = stage::spawn(s, "inference", &ctl, |c| {
            infer(tracker, cap_rx, show_tx, &smooth, cfg.smoothing, c)
        })
        .map_err(|source| LiveError::Spawn {
            stage: "inference",
            source,
        })?;
        let shown = (|| -> Result<(), SinkError> {
            while window.is_open() && !ctl.stopped() {
                if let Some(sh) = show_rx.recv_timeout(Duration::from_millis(5)) {
                    let smoothing = smooth.load(Ordering::Relaxed);
                    window.overlay.status = fig.status(&sh, smoothing, files.recording.is_some());
                    window.frame(&sh.frame, &sh.faces)?;
                    fig.latencies
                        .push(sh.frame.captured.elapsed().as_secs_f64() * 1000.0);
                    fig.displayed += 1;
                    let info = StreamInfo {
                        width: sh.frame.width(),
                        height: sh.frame.height(),
                        fps: src_fps.lock().ok().and_then(|f| *f),
                        frames: None,
                        points,
                        pose,
                        orientation: Default::default(),
                    };
                    files.frame(&sh.frame, &sh.faces, info)?;
                    last = Some(sh);
                    if cfg.frames.is_some_and(|n| fig.displayed >= n) {
                        break;
                    }
                } else {
                    window.idle();
                }
                for k in window.keys() {
                    on_key(
                        k,
                        &cfg,
                        &ctl,
                        &smooth,
                        &mut window,
                        &mut files,
                        &last,
                        points,
                        pose,
                    );
                }
            }
            Ok(())
        })();
        ctl.stop();
        Ok::<_, LiveError>((shown, stage::join(cap), stage::join(inf)))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    // flush the files whatever happened: a failed session keeps its partial files
    let failed = shown.is_err() || captured.is_err() || inferred.is_err();
    let closed = files.finish(if failed {
        Finish::KeepPartial
    } else {
        Finish::Commit
    });
    if let Some(p) = &cfg.screenshot {
        window.save(p, last.as_ref().map(|s| (&s.frame, s.faces.as_slice())))?;
    }
    shown?;
    closed?;
    // a stage's error (no camera, unplugged, unreadable file) is the session's error;
    // a file that breaks after frames were shown only warns
    for e in [
        captured.err().map(LiveError::from),
        inferred.err().map(LiveError::from),
    ]
    .into_iter()
    .flatten()
    {
        if fig.displayed == 0 || !matches!(cfg.source, LiveSource::File(..)) {
            return Err(e);
        }
        eprintln!("warning: {e}");
    }
    let mut sorted = fig.latencies.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    Ok(LiveSummary {
        captured: cap_stats.sent(),
        processed: show_rx.sent(),
        displayed: fig.displayed,
        dropped_capture: cap_stats.dropped(),
        dropped_display: show_rx.dropped(),
        seconds,
        latency_p50_ms: percentile(&sorted, 0.5),
        latency_p95_ms: percentile(&sorted, 0.95),
        model_ms_per_face: fig.model_ms / fig.frames_with_faces.max(1) as f64,
        source_fps: src_fps.lock().ok().and_then(|f| *f),
    })
}

/// One key press in the window.
#[allow(clippy::too_many_arguments)]
fn on_key(
    k: Key,
    cfg: &LiveConfig,
    ctl: &Control,
    smooth: &AtomicBool,
    window: &mut LiveWindow,
    files: &mut Files,
    last: &Option<Shown>,
    points: usize,
    pose: bool,
) {
    match k {
        Key::Escape | Key::Q => ctl.stop(),
        Key::S => {
            smooth.fetch_xor(true, Ordering::Relaxed);
        }
        Key::B => window.overlay.boxes = !window.overlay.boxes,
        Key::L => window.overlay.points = !window.overlay.points,
        Key::H => window.overlay.help = !window.overlay.help,
        Key::R => {
            let info = StreamInfo {
                width: 0,
                height: 0,
                fps: None,
                frames: None,
                points,
                pose,
                orientation: Default::default(),
            };
            files.toggle_recording(&cfg.recordings, info);
        }
        Key::C => {
            let _ = std::fs::create_dir_all(&cfg.recordings);
            let p = timestamped(&cfg.recordings, "screenshot", "png");
            match window.save(&p, last.as_ref().map(|s| (&s.frame, s.faces.as_slice()))) {
                Ok(()) => eprintln!("saved {}", p.display()),
                Err(e) => eprintln!("error: {e}"),
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_slow_inference_stage_always_takes_the_newest_frame() {
        // capture numbers its frames and publishes how many it has sent; a 'model' taking
        // 30 ms picks frames up: each pick is the newest frame (or one the capture sent
        // while the pick happened), never a queued old one
        let ctl = Control::standalone();
        let sent = AtomicU64::new(0);
        let (ctx, crx) = latest::<u64>();
        let mut gaps = Vec::new();
        std::thread::scope(|s| {
            let cap = stage::spawn(s, "capture", &ctl, |c| {
                let mut n = 0u64;
                while !c.stopped() {
                    ctx.send(n);
                    n += 1;
                    sent.store(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok::<_, String>(())
            })
            .unwrap();
            while gaps.len() < 10 {
                if let Some(n) = crx.recv_timeout(Duration::from_secs(5)) {
                    gaps.push(sent.load(Ordering::SeqCst) - 1 - n);
                    std::thread::sleep(Duration::from_millis(30));
                }
            }
            ctl.stop();
            stage::join(cap).unwrap();
        });
        // a queue would fall ~15 frames further behind at every pick
        assert!(
            gaps.iter().all(|&g| g <= 2),
            "frames behind the newest: {gaps:?}"
        );
        assert!(crx.dropped() >= 50, "only {} frames dropped", crx.dropped());
    }
}
