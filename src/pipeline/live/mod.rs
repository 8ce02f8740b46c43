//! Live mode, one module per stage: [`capture`] (camera or paced file) → [`infer`]
//! (tracker) → [`display`] (the window, on the main thread) and [`writer`] (the file
//! outputs, on their own thread). Newest-frame-wins channels of capacity 1 run from
//! capture to inference and from inference to the window, so latency stays low when a
//! stage is slow (drops are counted); points are always drawn on the frame they were
//! computed from. The writer gets every tracked frame and writes it once the window has
//! shown it or a later frame. A shared stop flag ends every stage: Esc, `q`, closing the
//! window, Ctrl-C, `--frames` or an error in any stage; at the end of a `--source` file
//! each stage drains its input and ends in turn.

pub mod capture;
pub mod config;
pub mod display;
pub mod infer;
pub mod jsonl;
pub mod shown;
pub mod writer;

pub use config::{JsonlTarget, LiveConfig, LiveError, LiveSource, LiveSummary};

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::capture::source::Frame;
use crate::inference::model::LandmarkModel;
use crate::output::output_files::{check_outputs, partial_path, Pending};
use crate::output::sink::{Finish, SinkError};
use crate::output::window::LiveWindow;
use crate::pipeline::channel::latest;
use crate::pipeline::live::capture::capture;
use crate::pipeline::live::display::{show, DisplayIo};
use crate::pipeline::live::infer::{infer, InferIo};
use crate::pipeline::live::shown::{Shown, WriterMsg};
use crate::pipeline::live::writer::{writer, StreamShape};
use crate::pipeline::stage::{self, Control};
use crate::tracking::detector::FaceDetector;
use crate::tracking::tracker::Tracker;

/// Percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Run live mode on the calling (main) thread until it is stopped: by the window (Esc,
/// `q`, closing it), `cfg.frames`, the end of a file source, an error in any stage, or
/// `user_stop` (Ctrl-C). A complete or interrupted session commits its files; one that
/// fails keeps them under their `.partial` names and returns the error
/// ([`LiveError::Stopped`] once frames were shown).
pub fn run_live(cfg: LiveConfig, user_stop: Arc<AtomicBool>) -> Result<LiveSummary, LiveError> {
    // the model, the outputs and the window first: their errors are the common ones
    let model = LandmarkModel::from_file(&cfg.model_path, cfg.model)?;
    let shape = StreamShape {
        points: model.contract().num_points(),
        pose: cfg.tracker.pose.is_on(),
    };
    let tracker = Tracker::new(model, FaceDetector::new(cfg.detector)?, cfg.tracker);
    let inputs: Vec<PathBuf> = match &cfg.source {
        LiveSource::File(p, _) => vec![p.clone()],
        LiveSource::Camera(_) => vec![],
    };
    // the screenshot, written at the end, is checked with the others now: it must not
    // be the source, another output or an existing file (without --overwrite), and its
    // folder must exist
    let mut outputs = cfg.output_files();
    outputs.extend(cfg.screenshot.iter().cloned());
    check_outputs(&inputs, &outputs, cfg.overwrite)?;
    if let Some(v) = &cfg.annotate {
        crate::output::annotate::check_video_name(v)
            .map_err(crate::output::sink::SinkError::from)?;
    }
    if let Some(p) = &cfg.screenshot {
        check_png_name(p)?;
    }
    let shot = cfg.screenshot.as_deref().map(Pending::take_stock);
    let mut window = LiveWindow::open("facetrack (h: help)", 640, 480)?;
    // (outputs written in place, as `--record -`, have no partial file to name)
    let partial_files: Vec<PathBuf> = cfg
        .output_files()
        .into_iter()
        .filter(|p| partial_path(p) != *p)
        .collect();
    crate::output::window::when_display_lost(
        partial_files.iter().map(|p| partial_path(p)).collect(),
    );
    let ctl = Control::new(user_stop);
    let (cap_tx, cap_rx) = latest::<Frame>();
    let (show_tx, show_rx) = latest::<Arc<Shown>>();
    let (write_tx, write_rx) = crossbeam_channel::unbounded::<WriterMsg>();
    let (cap_stats, show_stats) = (cap_rx.stats(), show_rx.stats());
    let smooth = AtomicBool::new(cfg.tracker.smoothing.is_some());
    let recording = AtomicBool::new(false);
    let src_shape = Mutex::new(capture::SourceShape::default());
    let started = Instant::now();
    let (cfg_ref, shape_ref) = (&cfg, &src_shape);
    let ended = std::thread::scope(|s| {
        // a stage that cannot start stops the ones already running (stage::spawn)
        let spawn_err = |stage| move |source| LiveError::Spawn { stage, source };
        let wr = stage::spawn(s, "writer", &ctl, |_| {
            writer(cfg_ref, shape, shape_ref, &recording, write_rx)
        })
        .map_err(spawn_err("writer"))?;
        let cap = stage::spawn(s, "capture", &ctl, |c| {
            capture(&cfg_ref.source, cap_tx, c, shape_ref)
        })
        .map_err(spawn_err("capture"))?;
        let infer_io = InferIo {
            frames: cap_rx,
            window: show_tx,
            writer: write_tx.clone(),
        };
        let inf = stage::spawn(s, "inference", &ctl, |c| {
            infer(tracker, infer_io, &smooth, cfg_ref.smoothing, c)
        })
        .map_err(spawn_err("inference"))?;
        let io = DisplayIo {
            frames: show_rx,
            writer: &write_tx,
            smooth: &smooth,
            recording: &recording,
            ctl: &ctl,
        };
        let (fig, last, shown) = show(&mut window, cfg_ref, io);
        ctl.stop();
        let (captured, inferred) = (stage::join(cap), stage::join(inf));
        // every stage that feeds the writer has ended: settle the files
        let failed = shown.is_err() || captured.is_err() || inferred.is_err();
        let how = if failed {
            Finish::KeepPartial
        } else {
            Finish::Commit
        };
        let _ = write_tx.send(WriterMsg::Finish(how));
        drop(write_tx);
        let written = stage::join(wr);
        Ok::<_, LiveError>((fig, last, shown, captured, inferred, written))
    })?;
    let (fig, last, shown, captured, inferred, written) = ended;
    let seconds = started.elapsed().as_secs_f64();
    // written whole under its partial name, then given its own (replacing only what was
    // there when the session began)
    let saved = match &shot {
        Some(p) => match window.save(
            &p.out, // (errors name the screenshot as given; its partial file goes)
            || p.create(),
            last.as_ref().map(|s| (&s.frame, s.faces.as_slice())),
        ) {
            Ok(true) => p.commit().map_err(SinkError::from),
            Ok(false) => Ok(()),
            Err(e) => {
                // half a picture is of no use, and would stop the next session
                p.discard();
                Err(e)
            }
        },
        None => Ok(()),
    };
    let cap_end = captured.as_ref().ok().cloned().unwrap_or_default();
    let frames_written = written.as_ref().map_or(0, |w| w.written);
    let errors: Vec<LiveError> = [
        shown.err().map(LiveError::from),
        captured.err().map(LiveError::from),
        inferred.err().map(LiveError::from),
        written.err().map(LiveError::from),
    ]
    .into_iter()
    .flatten()
    .collect();
    // the error that stopped the run is the one the control recorded first
    let first = ctl.error();
    let error = match errors
        .iter()
        .position(|e| first.as_deref() == Some(e.to_string().as_str()))
    {
        Some(i) => errors.into_iter().nth(i),
        None => errors.into_iter().next(),
    };
    if let Some(e) = error {
        if fig.displayed == 0 {
            return Err(e);
        }
        let mut kept: Vec<PathBuf> = cfg
            .output_files()
            .into_iter()
            .filter(|p| partial_path(p) != *p && partial_path(p).exists())
            .map(|p| partial_path(&p))
            .collect();
        // (an `r` recording's too)
        kept.extend(crate::output::window::recording_partial().filter(|p| p.exists()));
        return Err(LiveError::Stopped {
            shown: fig.displayed,
            kept,
            source: Box::new(e),
        });
    }
    saved?;
    let mut sorted = fig.latencies.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    Ok(LiveSummary {
        captured: cap_stats.sent(),
        processed: show_stats.sent(),
        displayed: fig.displayed,
        written: frames_written,
        dropped_capture: cap_stats.dropped(),
        dropped_display: show_stats.dropped(),
        skipped: cap_end.skipped,
        first_skip: cap_end.first_skip,
        seconds,
        latency_p50_ms: percentile(&sorted, 0.5),
        latency_p95_ms: percentile(&sorted, 0.95),
        model_ms_per_face: fig.model_ms / fig.frames_with_faces.max(1) as f64,
        source_fps: src_shape.lock().ok().and_then(|f| f.fps),
        frame_note: src_shape.lock().ok().and_then(|f| f.frame_note.clone()),
    })
}

/// A screenshot is written as PNG: a name that says otherwise (`shot.jpg`) is refused.
fn check_png_name(p: &std::path::Path) -> Result<(), SinkError> {
    let png = p
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    match png {
        true => Ok(()),
        false => Err(SinkError::Io {
            path: p.to_path_buf(),
            source: std::io::Error::other("a screenshot is saved as PNG: name it NAME.png"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::channel::RecvTimeoutError;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

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
                    // published before the send, so a consumer that reads frame n
                    // always finds `sent` > n (the gap below cannot underflow)
                    sent.store(n + 1, Ordering::SeqCst);
                    ctx.send(n);
                    n += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok::<_, String>(())
            })
            .unwrap();
            while gaps.len() < 10 {
                match crx.recv_timeout(Duration::from_secs(5)) {
                    Ok(n) => {
                        let newest = sent.load(Ordering::SeqCst) - 1;
                        assert!(newest >= n, "frame {n} read before it was counted");
                        gaps.push(newest - n);
                        std::thread::sleep(Duration::from_millis(30));
                    }
                    Err(RecvTimeoutError::Timeout) => panic!("no frame in 5 s"),
                    Err(RecvTimeoutError::Disconnected) => panic!("capture ended"),
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
