//! Live mode: capture thread → track + infer thread → the window on the main thread.
//! Newest-frame-wins channels of capacity 1 between the stages, so latency stays low
//! when a stage is slow (drops are counted); points are always drawn on the frame they
//! were computed from. A shared stop flag ends every stage: Esc, `q`, closing the window,
//! Ctrl-C, the end of a `--source` file or an error in any stage.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minifb::{Key, KeyRepeat, Window, WindowOptions};

use crate::capture::camera::{CameraRequest, CameraSource};
use crate::capture::source::{Frame, FrameSource, SourceError};
use crate::capture::video::VideoFile;
use crate::core::geometry::Point;
use crate::inference::model::{LandmarkModel, ModelOptions};
use crate::output::csv_out::VideoCsv;
use crate::output::draw::{Canvas, Rgb, GREEN, WHITE, YELLOW};
use crate::pipeline::channel::{latest, LatestReceiver, LatestSender};
use crate::tracking::detector::{DetectorOptions, FaceDetector};
use crate::tracking::smoothing::OneEuroParams;
use crate::tracking::tracker::{TrackedFace, Tracker, TrackerOptions};

/// How long a stage waits on its input before looking at the stop flag again.
const POLL: Duration = Duration::from_millis(20);

/// Where live frames come from.
#[derive(Debug, Clone)]
pub enum LiveSource {
    Camera(CameraRequest),
    /// A video file played at its own rate, like a camera.
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
    #[error(
        "cannot open a window ({0}); live mode needs a display: check DISPLAY (run under Xvfb for headless use), or use `facetrack video` for files"
    )]
    Display(String),
    #[error("{0}")]
    Stage(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A processed frame on its way to the window.
struct Shown {
    frame: Frame,
    faces: Vec<TrackedFace>,
    model_ms: f64,
}

/// Shared between the stages: the stop flag and the first error.
#[derive(Clone)]
pub struct Control {
    pub stop: Arc<AtomicBool>,
    error: Arc<Mutex<Option<String>>>,
}

impl Control {
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        Control {
            stop,
            error: Arc::new(Mutex::new(None)),
        }
    }
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
    /// Record the first error and stop every stage.
    pub fn fail(&self, msg: String) {
        if let Ok(mut e) = self.error.lock() {
            e.get_or_insert(msg);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// Run a stage on its own thread: any way it ends (return, error, panic) stops the others.
pub fn spawn_stage<F>(
    name: &str,
    ctl: &Control,
    f: F,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce(&Control) -> Result<(), String> + Send + 'static,
{
    let c = ctl.clone();
    let n = name.to_string();
    std::thread::Builder::new().name(n.clone()).spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&c)));
        match r {
            Ok(Ok(())) => c.stop.store(true, Ordering::SeqCst),
            Ok(Err(e)) => c.fail(e),
            Err(_) => c.fail(format!("the {n} stage failed unexpectedly")),
        }
    })
}

/// The capture stage: frames from the source into the newest-wins slot. A file is paced
/// to its own timestamps, so frames that arrive while inference is busy are dropped as
/// a camera's would be.
fn capture(
    source: LiveSource,
    tx: LatestSender<Frame>,
    ctl: &Control,
    fps_out: Arc<Mutex<Option<f64>>>,
) -> Result<(), String> {
    let mut src: Box<dyn FrameSource> = match &source {
        LiveSource::Camera(req) => {
            Box::new(CameraSource::open(*req, true).map_err(|e| e.to_string())?)
        }
        LiveSource::File(p) => Box::new(VideoFile::open(p, true).map_err(|e| e.to_string())?),
    };
    if let Ok(mut f) = fps_out.lock() {
        *f = src.fps();
    }
    let paced = matches!(source, LiveSource::File(_));
    let mut start = Instant::now();
    let mut first_ts: Option<f64> = None;
    let mut last_ts: Option<f64> = None;
    while !ctl.stopped() {
        let Some(mut frame) = src.next_frame().map_err(|e| e.to_string())? else {
            // the file ended: let the last frames reach the window, then stop
            std::thread::sleep(Duration::from_millis(200));
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
    smooth: Arc<AtomicBool>,
    params: OneEuroParams,
    ctl: &Control,
) -> Result<(), String> {
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
        let faces = tracker
            .process(&frame.gray, frame.timestamp)
            .map_err(|e| e.to_string())?;
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

/// Draw the frame letterboxed into a `w` × `h` RGB buffer, then the faces and overlays.
#[allow(clippy::too_many_arguments)]
fn compose(
    buf: &mut Vec<u8>,
    w: usize,
    h: usize,
    s: &Shown,
    show_boxes: bool,
    show_points: bool,
    overlay: &str,
    help: bool,
) {
    buf.clear();
    buf.resize(w * h * 3, 0);
    let (fw, fh) = (s.frame.width() as usize, s.frame.height() as usize);
    if fw == 0 || fh == 0 || w == 0 || h == 0 {
        return;
    }
    let scale = (w as f32 / fw as f32).min(h as f32 / fh as f32);
    let (dw, dh) = (
        ((fw as f32 * scale) as usize).max(1),
        ((fh as f32 * scale) as usize).max(1),
    );
    let (ox, oy) = ((w - dw.min(w)) / 2, (h - dh.min(h)) / 2);
    let xs: Vec<usize> = (0..dw)
        .map(|x| (((x as f32 + 0.5) / scale) as usize).min(fw - 1))
        .collect();
    for y in 0..dh.min(h) {
        let sy = (((y as f32 + 0.5) / scale) as usize).min(fh - 1);
        let row = &mut buf[((oy + y) * w + ox) * 3..((oy + y) * w + ox + dw.min(w)) * 3];
        match &s.frame.rgb {
            Some(rgb) => {
                for (d, &sx) in row.chunks_exact_mut(3).zip(&xs) {
                    let k = (sy * fw + sx) * 3;
                    d.copy_from_slice(&rgb[k..k + 3]);
                }
            }
            None => {
                for (d, &sx) in row.chunks_exact_mut(3).zip(&xs) {
                    let v = s.frame.gray.data()[sy * fw + sx];
                    d.copy_from_slice(&[v, v, v]);
                }
            }
        }
    }
    let Some(mut cv) = Canvas::new(w as u32, h as u32, buf) else {
        return;
    };
    let map = |p: &Point| {
        Point::new(
            ox as f32 + (p.x + 0.5) * scale - 0.5,
            oy as f32 + (p.y + 0.5) * scale - 0.5,
        )
    };
    for f in &s.faces {
        let col = if f.success { GREEN } else { YELLOW };
        if show_boxes {
            let b = f.face_box;
            let tl = map(&Point::new(b.left, b.top));
            let br = map(&Point::new(b.right(), b.bottom()));
            cv.rect(
                &crate::FaceBox::new(tl.x, tl.y, br.x - tl.x, br.y - tl.y),
                col,
            );
            cv.label(
                tl.x as i64,
                tl.y as i64 - 12,
                &format!("#{} {:.2}", f.id, f.confidence),
                1,
                WHITE,
            );
        }
        if show_points {
            let pts: Vec<Point> = f.points.iter().map(map).collect();
            cv.face_shape(&pts, crate::output::draw::ShapeStyle::Outline, f.success);
            if let Some(pose) = &f.pose {
                // the window shows the frame scaled: draw the axes in frame pixels, mapped
                if let Some(ends) =
                    crate::core::head_pose::axes(pose, crate::output::draw::HEAD_AXIS_MM)
                {
                    let e: Vec<Point> = ends.iter().map(map).collect();
                    for (k, c) in [
                        (1, crate::output::draw::RED),
                        (2, GREEN),
                        (3, crate::output::draw::BLUE),
                    ] {
                        cv.smooth_line(e[0], e[k], 2.0, c, 0.9);
                    }
                }
            }
        }
    }
    cv.label(6, 6, overlay, 1, WHITE);
    if help {
        let lines = [
            "KEYS",
            "S  SMOOTHING ON/OFF",
            "B  BOXES",
            "L  POINTS",
            "R  RECORD CSV",
            "C  SCREENSHOT",
            "H  THIS HELP",
            "Q/ESC  QUIT",
        ];
        for (i, l) in lines.iter().enumerate() {
            cv.label(10, 30 + 14 * i as i64, l, 1, Rgb(255, 255, 160));
        }
    }
}

/// Save an RGB buffer as PNG.
fn save_rgb(path: &Path, w: usize, h: usize, rgb: &[u8]) -> Result<(), LiveError> {
    crate::output::draw::save_png(path, w as u32, h as u32, rgb).map_err(|e| LiveError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

fn timestamped(dir: &Path, prefix: &str, ext: &str) -> PathBuf {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    dir.join(format!("{prefix}-{t}.{ext}"))
}

type Recorder = VideoCsv<std::io::BufWriter<std::fs::File>>;

fn start_recording(path: &Path, points: usize, pose: bool) -> Result<Recorder, LiveError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| LiveError::Io {
            path: d.to_path_buf(),
            source: e,
        })?;
    }
    let f = std::fs::File::create(path).map_err(|e| LiveError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    VideoCsv::with_pose(std::io::BufWriter::new(f), points, pose).map_err(|e| LiveError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Run live mode on the calling (main) thread until it is stopped. `user_stop` is the
/// caller's flag (Ctrl-C); the stages share their own, so ending normally is not mistaken
/// for an interruption.
pub fn run_live(cfg: LiveConfig, user_stop: Arc<AtomicBool>) -> Result<LiveSummary, LiveError> {
    let ctl = Control::new(Arc::new(AtomicBool::new(false)));
    // the model and the window first: their errors are the common ones
    let model = LandmarkModel::from_file(&cfg.model_path, cfg.model)
        .map_err(|e| LiveError::Stage(e.to_string()))?;
    let points = model.contract().num_points();
    let detector = FaceDetector::new(cfg.detector).map_err(|e| LiveError::Stage(e.to_string()))?;
    let tracker = Tracker::new(model, detector, cfg.tracker);
    let opts = WindowOptions {
        resize: true,
        ..WindowOptions::default()
    };
    let mut window = Window::new("facetrack (h: help)", 640, 480, opts)
        .map_err(|e| LiveError::Display(e.to_string()))?;
    let (cap_tx, cap_rx) = latest::<Frame>();
    let (show_tx, show_rx) = latest::<Shown>();
    let cap_stats = cap_rx.stats();
    let smooth = Arc::new(AtomicBool::new(cfg.tracker.smoothing.is_some()));
    let src_fps = Arc::new(Mutex::new(None));
    let started = Instant::now();
    let cap = {
        let (source, fps) = (cfg.source.clone(), src_fps.clone());
        spawn_stage("capture", &ctl, move |c| capture(source, cap_tx, c, fps))
    }
    .map_err(|e| LiveError::Stage(e.to_string()))?;
    let inf = {
        let (smooth, params) = (smooth.clone(), cfg.smoothing);
        spawn_stage("inference", &ctl, move |c| {
            infer(tracker, cap_rx, show_tx, smooth, params, c)
        })
    }
    .map_err(|e| LiveError::Stage(e.to_string()))?;

    let mut rec = match &cfg.record {
        Some(p) => Some((
            p.clone(),
            start_recording(p, points, cfg.tracker.pose.is_on())?,
        )),
        None => None,
    };
    let (mut show_boxes, mut show_points, mut help) = (true, true, false);
    let mut buf: Vec<u8> = Vec::new();
    let mut argb: Vec<u32> = Vec::new();
    let mut latencies = Vec::new();
    let mut model_ms = 0.0;
    let mut faces_seen = 0u64;
    let mut displayed = 0u64;
    let mut fps_window: std::collections::VecDeque<Instant> = std::collections::VecDeque::new();
    let mut last: Option<Shown> = None;
    let mut result = Ok(());
    while window.is_open() && !ctl.stopped() {
        if user_stop.load(Ordering::SeqCst) {
            break;
        }
        let (w, h) = window.get_size();
        if let Some(s) = show_rx.recv_timeout(Duration::from_millis(5)) {
            let now = Instant::now();
            fps_window.push_back(now);
            while fps_window
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
            {
                fps_window.pop_front();
            }
            let lat = now.duration_since(s.frame.captured).as_secs_f64() * 1000.0;
            if !s.faces.is_empty() {
                model_ms += s.model_ms / s.faces.len() as f64;
                faces_seen += 1;
            }
            let overlay = format!(
                "FPS {:.1}  LATENCY {:.0} MS  MODEL {:.1} MS/FACE  FACES {}  SMOOTH {}{}",
                fps_window.len(),
                lat,
                if s.faces.is_empty() {
                    0.0
                } else {
                    s.model_ms / s.faces.len() as f64
                },
                s.faces.iter().filter(|f| f.success).count(),
                if smooth.load(Ordering::Relaxed) {
                    "ON"
                } else {
                    "OFF"
                },
                if rec.is_some() { "  REC" } else { "" }
            );
            compose(&mut buf, w, h, &s, show_boxes, show_points, &overlay, help);
            argb.clear();
            argb.extend(
                buf.chunks_exact(3)
                    .map(|p| (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32),
            );
            if let Err(e) = window.update_with_buffer(&argb, w, h) {
                result = Err(LiveError::Display(e.to_string()));
                break;
            }
            latencies.push(s.frame.captured.elapsed().as_secs_f64() * 1000.0);
            displayed += 1;
            if let Some((p, r)) = &mut rec {
                if let Err(e) = r.write_frame(s.frame.index, s.frame.timestamp, &s.faces) {
                    result = Err(LiveError::Io {
                        path: p.clone(),
                        source: e,
                    });
                    break;
                }
            }
            last = Some(s);
            if cfg.frames.is_some_and(|n| displayed >= n) {
                break;
            }
        } else {
            window.update();
        }
        for k in window.get_keys_pressed(KeyRepeat::No) {
            match k {
                Key::Escape | Key::Q => ctl.stop.store(true, Ordering::SeqCst),
                Key::S => {
                    smooth.fetch_xor(true, Ordering::Relaxed);
                }
                Key::B => show_boxes = !show_boxes,
                Key::L => show_points = !show_points,
                Key::H => help = !help,
                Key::R => {
                    if rec.take().is_none() {
                        let p = timestamped(&cfg.recordings, "live", "csv");
                        match start_recording(&p, points, cfg.tracker.pose.is_on()) {
                            Ok(r) => {
                                eprintln!("recording to {}", p.display());
                                rec = Some((p, r));
                            }
                            Err(e) => eprintln!("error: {e}"),
                        }
                    } else {
                        eprintln!("recording stopped");
                    }
                }
                Key::C => {
                    let _ = std::fs::create_dir_all(&cfg.recordings);
                    let p = timestamped(&cfg.recordings, "screenshot", "png");
                    let (w, h) = window.get_size();
                    if buf.len() == w * h * 3 {
                        match save_rgb(&p, w, h, &buf) {
                            Ok(()) => eprintln!("saved {}", p.display()),
                            Err(e) => eprintln!("error: {e}"),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    ctl.stop.store(true, Ordering::SeqCst);
    let _ = cap.join();
    let _ = inf.join();
    // flush a recording whatever happened
    drop(rec);
    if let (Some(p), Some(s)) = (&cfg.screenshot, &last) {
        let (w, h) = window.get_size();
        let (w, h) = if buf.len() == w * h * 3 {
            (w, h)
        } else {
            (s.frame.width() as usize, s.frame.height() as usize)
        };
        if buf.len() != w * h * 3 {
            compose(&mut buf, w, h, s, show_boxes, show_points, "", false);
        }
        save_rgb(p, w, h, &buf)?;
    }
    result?;
    // a source error (no camera, unplugged, unreadable file) is the session's error
    if let Some(e) = ctl.error() {
        if displayed == 0 || !matches!(cfg.source, LiveSource::File(_)) {
            return Err(LiveError::Stage(e));
        }
        eprintln!("warning: {e}");
    }
    let mut sorted = latencies.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    Ok(LiveSummary {
        captured: cap_stats.sent(),
        processed: show_rx.sent(),
        displayed,
        dropped_capture: cap_stats.dropped(),
        dropped_display: show_rx.dropped(),
        seconds,
        latency_p50_ms: percentile(&sorted, 0.5),
        latency_p95_ms: percentile(&sorted, 0.95),
        model_ms_per_face: model_ms / faces_seen.max(1) as f64,
        source_fps: src_fps.lock().ok().and_then(|f| *f),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_in_any_stage_stops_all_stages_quickly() {
        for failing in 0..3 {
            let ctl = Control::new(Arc::new(AtomicBool::new(false)));
            let handles: Vec<_> = (0..3)
                .map(|i| {
                    spawn_stage(&format!("s{i}"), &ctl, move |c| {
                        if i == failing {
                            std::thread::sleep(Duration::from_millis(50));
                            return Err(format!("stage {i} broke"));
                        }
                        while !c.stopped() {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Ok(())
                    })
                    .unwrap()
                })
                .collect();
            let t = Instant::now();
            for h in handles {
                h.join().unwrap();
            }
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "stages took {:?} to stop",
                t.elapsed()
            );
            assert_eq!(
                ctl.error().as_deref(),
                Some(format!("stage {failing} broke").as_str())
            );
        }
    }

    #[test]
    fn a_panicking_stage_stops_the_others() {
        let ctl = Control::new(Arc::new(AtomicBool::new(false)));
        let a = spawn_stage("bad", &ctl, |_| panic!("boom")).unwrap();
        let b = spawn_stage("good", &ctl, |c| {
            while !c.stopped() {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
        .unwrap();
        a.join().unwrap();
        b.join().unwrap();
        assert!(ctl.error().unwrap().contains("bad"));
    }

    #[test]
    fn a_slow_inference_stage_keeps_frame_age_bounded() {
        // capture at ~200 Hz, a 'model' taking 30 ms: frames reaching the display are
        // never older than about one model run plus one capture period
        let ctl = Control::new(Arc::new(AtomicBool::new(false)));
        let (ctx, crx) = latest::<Instant>();
        let (stx, srx) = latest::<(Instant, Instant)>();
        let cap = spawn_stage("capture", &ctl, move |c| {
            while !c.stopped() {
                ctx.send(Instant::now());
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
        .unwrap();
        let inf = spawn_stage("infer", &ctl, move |c| {
            while !c.stopped() {
                if let Some(born) = crx.recv_timeout(POLL) {
                    let picked = Instant::now();
                    std::thread::sleep(Duration::from_millis(30));
                    stx.send((born, picked));
                }
            }
            Ok(())
        })
        .unwrap();
        let mut seen = 0;
        while seen < 15 {
            if let Some((born, picked)) = srx.recv_timeout(Duration::from_secs(2)) {
                // age when the model picked it up: bounded by the capture period (+ scheduling)
                assert!(
                    picked.duration_since(born) < Duration::from_millis(200),
                    "stale frame {:?}",
                    picked.duration_since(born)
                );
                seen += 1;
            }
        }
        ctl.stop.store(true, Ordering::SeqCst);
        cap.join().unwrap();
        inf.join().unwrap();
    }
}
