//! `facetrack`: the command-line front end. Parses arguments, builds the library's
//! settings, runs the command, prints the whole error chain and sets the exit code.
//!
//! Exit codes: 0 success; 1 error (bad input, missing runtime or model); 2 usage
//! error; 3 a batch finished but some files failed; 130 interrupted by Ctrl-C.

mod args;
mod bench_cmd;
mod eval_clips;
mod eval_cmd;
mod eval_noise;
mod eval_report;
mod eval_signals;
mod image_cmd;
mod inputs;
mod plot_cmd;
mod video_cmd;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Parser;

use args::{Cli, Command};
use facetrack::errors::error_chain;

/// Exit code when some files of a batch failed.
const EXIT_PARTIAL: i32 = 3;
/// Exit code after Ctrl-C.
const EXIT_INTERRUPTED: i32 = 130;
/// Signals this close to the first count as that one (a second Ctrl-C by hand comes later).
const SAME_SIGNAL: std::time::Duration = std::time::Duration::from_millis(250);

fn info(a: &args::ModelArgs) -> anyhow::Result<()> {
    let path = a.model_path()?;
    let m = facetrack::LandmarkModel::from_file(&path, a.options())?;
    let rt = facetrack::inference::runtime::ensure_loaded(a.flavor())?;
    let c = m.contract();
    let text = format!(
        "model:   {}\nruntime: {}\ncontract: {}\ninput:   (v/255 - {}) / {} per pixel\nflip offset: {} px (the labels' x offset; --flip adds it back)\nprecision: {}\n",
        path.display(),
        rt.path.display(),
        c,
        c.normalization.mean,
        c.normalization.std,
        c.flip_offset_px,
        m.precision()
    );
    // `facetrack info | head -1`: a reader that has gone is no error
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn main() {
    let cli = Cli::parse();
    // the commands that stop cleanly at a Ctrl-C (their outputs closed); the others
    // (plot, bench, info, cameras) end at once, as any program does
    let stops_cleanly = matches!(
        cli.cmd,
        Command::Video(_) | Command::Image(_) | Command::Eval(_) | Command::Live(_)
    );
    // video (or live mode's file) before its first frame (an input still opening: a FIFO
    // without a writer, a stalled network mount) has nothing to finish: it ends at once
    // (not live mode's camera, whose frames are not counted and whose session ends with
    // its summary)
    let frames_first = match &cli.cmd {
        Command::Video(_) => true,
        // live mode playing a file (a FIFO without a writer waits as video does)
        Command::Live(l) => l.source.is_some(),
        _ => false,
    };
    // what a run finishes before it stops: a photo, a face of the dataset, or a frame
    let current = match cli.cmd {
        Command::Image(_) => "photo",
        Command::Eval(_) => "image (or clip frame)",
        _ => "frame",
    };
    // First Ctrl-C (or SIGTERM, SIGHUP): stop cleanly and flush every file; second: exit
    // at once.
    let stop = Arc::new(AtomicBool::new(false));
    let presses = Arc::new(AtomicUsize::new(0));
    {
        let (stop, presses) = (stop.clone(), presses.clone());
        let mut first: Option<std::time::Instant> = None;
        let _ = ctrlc::set_handler(move || {
            // one signal delivered twice (`timeout` sends SIGTERM to the command and to
            // its whole process group) is not a second press
            if first.is_some_and(|t| t.elapsed() < SAME_SIGNAL) {
                return;
            }
            if !stops_cleanly {
                eprintln!("\ninterrupted");
                std::process::exit(EXIT_INTERRUPTED);
            }
            if presses.fetch_add(1, Ordering::SeqCst) >= 1 {
                eprintln!(
                    "\ninterrupted again: exiting now (what was written stays in the outputs' \
                     NAME.partial.EXT files)"
                );
                std::process::exit(EXIT_INTERRUPTED);
            }
            if frames_first
                && facetrack::capture::video::frames_read() == 0
                && facetrack::output::output_files::exit_before_outputs()
            {
                eprintln!("\ninterrupted before any frame was read: nothing was written");
                std::process::exit(EXIT_INTERRUPTED);
            }
            first = Some(std::time::Instant::now());
            eprintln!("\ninterrupted: finishing the current {current} and closing the outputs (interrupt again to quit at once)");
            stop.store(true, Ordering::SeqCst);
        });
    }
    let code = match run(cli.cmd, stop.clone()) {
        Ok(code) => code,
        Err(e) if e.is::<facetrack::errors::Interrupted>() => {
            eprintln!("{e}");
            EXIT_INTERRUPTED
        }
        Err(e) => {
            eprintln!("error: {}", error_chain(e.as_ref()));
            1
        }
    };
    if stop.load(Ordering::SeqCst) && code == 0 {
        std::process::exit(EXIT_INTERRUPTED);
    }
    std::process::exit(code);
}

fn run(cmd: Command, stop: Arc<AtomicBool>) -> anyhow::Result<i32> {
    match cmd {
        Command::Video(a) => {
            let b = video_cmd::run(&a, stop)?;
            let failed = video_cmd::report(&b, a.stats);
            Ok(if failed == 0 {
                0
            } else if failed == b.results.len() && b.results.len() == 1 {
                1
            } else {
                EXIT_PARTIAL
            })
        }
        Command::Image(a) => {
            let (done, failed) = image_cmd::run(&a, &stop)?;
            Ok(if failed == 0 {
                0
            } else if done == 0 {
                1
            } else {
                EXIT_PARTIAL
            })
        }
        Command::Eval(a) if a.signals => eval_signals::run(&a, &stop).map(|_| 0),
        Command::Eval(a) => eval_cmd::run(&a, &stop).map(|_| 0),
        Command::Info(a) => info(&a).map(|_| 0),
        Command::Plot(a) => plot_cmd::run(&a).map(|_| 0),
        Command::Bench(a) => bench_cmd::run(&a).map(|_| 0),
        Command::Cameras => {
            let cams = facetrack::capture::camera::list_cameras()?;
            if cams.is_empty() {
                println!("no camera found");
            }
            for c in cams {
                println!("{}: {} ({})", c.index, c.name, c.description);
                for (w, h, fps, f) in c.formats {
                    println!("    {w}x{h} @ {fps} fps {f}");
                }
            }
            Ok(0)
        }
        Command::Live(a) => {
            let source = match &a.source {
                Some(p) => facetrack::pipeline::live::LiveSource::File(
                    p.clone(),
                    args::orientation_rule(a.keep_orientation),
                ),
                None => facetrack::pipeline::live::LiveSource::Camera(
                    facetrack::capture::camera::CameraRequest {
                        index: a.camera,
                        resolution: a
                            .resolution
                            .as_deref()
                            .map(args::parse_resolution)
                            .transpose()?,
                        fps: a.fps,
                    },
                ),
            };
            if let Some(p) = &a.source {
                if !p.exists() {
                    anyhow::bail!("{}: no such file", p.display());
                }
            }
            let to_stdout = |p: &Option<std::path::PathBuf>, dash: &str| {
                p.as_ref()
                    .is_some_and(|p| p.as_os_str() == dash || p.as_os_str() == "/dev/stdout")
            };
            if to_stdout(&a.record, "-") && to_stdout(&a.jsonl, "-") {
                anyhow::bail!(
                    "--record and --jsonl both write to standard output: send one of them to a file"
                );
            }
            let tracker = a.track.tracker(!a.no_smooth)?;
            let cfg = facetrack::pipeline::live::LiveConfig {
                source,
                model_path: a.model.model_path()?,
                model: a.model.options(),
                smoothing: a.track.one_euro(),
                tracker,
                detector: a.track.detector(),
                record: a.record.clone(),
                annotate: a.annotate.clone(),
                jsonl: a.jsonl.as_ref().map(|p| {
                    if p.as_os_str() == "-" {
                        facetrack::pipeline::live::JsonlTarget::Stdout
                    } else {
                        facetrack::pipeline::live::JsonlTarget::File(p.clone())
                    }
                }),
                style: args::shape_style(a.points_only),
                overwrite: a.overwrite,
                recordings: a.recordings.clone(),
                frames: a.frames,
                screenshot: a.screenshot.clone(),
            };
            let outputs = !cfg.output_files().is_empty() || cfg.jsonl.is_some();
            let s = facetrack::pipeline::live::run_live(cfg, stop)?;
            eprintln!(
                "live: {} frame{} captured{}, {} displayed{} in {:.1} s ({:.1} fps{}), dropped {} ({:.2}%), capture-to-display latency p50 {:.1} ms p95 {:.1} ms, model {:.2} ms/face{}",
                s.captured,
                if s.captured == 1 { "" } else { "s" },
                s.frame_note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default(),
                s.displayed,
                if outputs {
                    format!(", {} written", s.written)
                } else {
                    String::new()
                },
                s.seconds,
                s.display_fps(),
                s.source_fps.map(|f| format!(" of {f:.1}")).unwrap_or_default(),
                s.dropped_capture + s.dropped_display,
                s.drop_rate() * 100.0,
                s.latency_p50_ms,
                s.latency_p95_ms,
                s.model_ms_per_face,
                if s.skipped > 0 {
                    format!(
                        ", {} undecodable frame{} skipped (first: {})",
                        s.skipped,
                        if s.skipped == 1 { "" } else { "s" },
                        s.first_skip.as_deref().unwrap_or("no message")
                    )
                } else {
                    String::new()
                }
            );
            Ok(0)
        }
    }
}
