//! The batch pipeline, video file → landmarks CSV (+ annotated video): a decoder thread,
//! the tracker on the calling thread and a writer thread, joined by blocking bounded
//! channels so no frame is dropped and the output is the same on every run. A shared
//! stop flag ends every stage; the writer flushes what it has.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::bounded;

use crate::capture::source::{Frame, FrameSource, SourceError};
use crate::capture::video::VideoFile;
use crate::inference::model::ModelError;
use crate::output::annotate::{draw_faces, AnnotateError, VideoWriter};
use crate::output::csv_out::VideoCsv;
use crate::output::draw::ShapeStyle;
use crate::output::output_files::{check_outputs, commit, partial_path, OutputError};
use crate::tracking::tracker::{TrackedFace, Tracker};

/// Frames buffered between stages.
const CHANNEL_DEPTH: usize = 8;

/// One video to process.
#[derive(Debug, Clone)]
pub struct VideoJob {
    pub input: PathBuf,
    pub csv: Option<PathBuf>,
    pub annotate: Option<PathBuf>,
    /// How the annotated video draws the points.
    pub style: ShapeStyle,
}

/// What went wrong with one video.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Annotate(#[from] AnnotateError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("a pipeline stage stopped unexpectedly")]
    StageLost,
    #[error("{path}: no frame could be decoded ({skipped} corrupt packets skipped)")]
    NoFrames { path: PathBuf, skipped: u64 },
}

/// Per-stage times, seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    pub decode: f64,
    pub detect: f64,
    pub landmarks: f64,
    pub write: f64,
}

/// The result of one video.
#[derive(Debug, Clone, Default)]
pub struct VideoSummary {
    pub frames: u64,
    /// Frames with at least one face reported as found.
    pub frames_with_face: u64,
    /// Distinct face ids.
    pub faces: u64,
    pub skipped_packets: u64,
    pub seconds: f64,
    pub times: StageTimes,
    pub detector_runs: u64,
    pub interrupted: bool,
}

impl VideoSummary {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

/// Progress callback: (frames done, frames expected if known).
pub type Progress<'a> = &'a (dyn Fn(u64, Option<u64>) + Sync);

enum ToWriter {
    Frame {
        frame: Frame,
        faces: Vec<TrackedFace>,
    },
}

/// Run one video through `tracker` (reset first, so a reused tracker starts afresh).
/// Outputs are created only once the input has opened.
pub fn process_video(
    job: &VideoJob,
    tracker: &mut Tracker,
    stop: &Arc<AtomicBool>,
    progress: Progress,
) -> Result<VideoSummary, PipelineError> {
    let t0 = Instant::now();
    // a batch worker reuses its tracker: no track, id or crop of the last video carries over
    tracker.reset();
    let want_rgb = job.annotate.is_some();
    let (open_tx, open_rx) =
        bounded::<Result<(Option<f64>, Option<u64>, (u32, u32)), SourceError>>(1);
    let (frame_tx, frame_rx) = bounded::<(Frame, f64)>(CHANNEL_DEPTH);
    let input = job.input.clone();
    // `stop` is the user's (Ctrl-C, shared by all videos); `local` ends this video alone
    let local = Arc::new(AtomicBool::new(false));
    let halted =
        |s: &AtomicBool, l: &AtomicBool| s.load(Ordering::SeqCst) || l.load(Ordering::SeqCst);
    let (stop_dec, local_dec) = (stop.clone(), local.clone());
    let decoder = std::thread::Builder::new().name("decode".into()).spawn(
        move || -> (u64, Option<SourceError>) {
            let mut src = match VideoFile::open(&input, want_rgb) {
                Ok(s) => s,
                Err(e) => {
                    let _ = open_tx.send(Err(e));
                    return (0, None);
                }
            };
            let _ = open_tx.send(Ok((src.fps(), src.frame_count(), src.size())));
            loop {
                if halted(&stop_dec, &local_dec) {
                    return (src.skipped(), None);
                }
                let t = Instant::now();
                match src.next_frame() {
                    Ok(Some(f)) => {
                        if frame_tx.send((f, t.elapsed().as_secs_f64())).is_err() {
                            return (src.skipped(), None);
                        }
                    }
                    Ok(None) => return (src.skipped(), None),
                    Err(e) => return (src.skipped(), Some(e)),
                }
            }
        },
    );
    let decoder = decoder.map_err(|e| PipelineError::Io {
        path: job.input.clone(),
        source: e,
    })?;
    let opened = open_rx.recv().map_err(|_| PipelineError::StageLost)?;
    let (fps, expected, (w, h)) = match opened {
        Ok(v) => v,
        Err(e) => {
            let _ = decoder.join();
            return Err(e.into());
        }
    };
    // outputs: checked against the input and each other, written under their partial
    // names and renamed when the run ends (crate::output::output_files)
    let outputs: Vec<PathBuf> = job.csv.iter().chain(&job.annotate).cloned().collect();
    if let Err(e) = check_outputs(std::slice::from_ref(&job.input), &outputs, true) {
        local.store(true, Ordering::SeqCst);
        drop(frame_rx);
        let _ = decoder.join();
        return Err(e.into());
    }
    let csv = match &job.csv {
        Some(p) => {
            let tmp = partial_path(p);
            let f = std::fs::File::create(&tmp).map_err(|e| PipelineError::Io {
                path: tmp.clone(),
                source: e,
            })?;
            Some(
                VideoCsv::with_pose(
                    std::io::BufWriter::new(f),
                    tracker.model().contract().num_points(),
                    tracker.options().pose.is_on(),
                )
                .map_err(|e| PipelineError::Io {
                    path: p.clone(),
                    source: e,
                })?,
            )
        }
        None => None,
    };
    // FFmpeg's encoder is not Send: the writer thread creates it and reports back
    let annotate = job.annotate.clone();
    let style = job.style;
    let (ready_tx, ready_rx) = bounded::<Result<(), AnnotateError>>(1);
    let (out_tx, out_rx) = bounded::<ToWriter>(CHANNEL_DEPTH);
    let csv_path = job.csv.clone().unwrap_or_default();
    let stop_w = local.clone();
    let writer = std::thread::Builder::new()
        .name("write".into())
        .spawn(move || -> Result<f64, PipelineError> {
            let mut csv = csv;
            let mut vw = match annotate {
                Some(p) => {
                    match VideoWriter::create(&partial_path(&p), w, h, fps.unwrap_or(30.0)) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(0.0);
                        }
                    }
                }
                None => None,
            };
            let _ = ready_tx.send(Ok(()));
            let mut spent = 0.0;
            let result = (|| {
                for msg in out_rx.iter() {
                    let ToWriter::Frame { mut frame, faces } = msg;
                    let t = Instant::now();
                    if let Some(c) = &mut csv {
                        c.write_frame(frame.index, frame.timestamp, &faces)
                            .map_err(|e| PipelineError::Io {
                                path: csv_path.clone(),
                                source: e,
                            })?;
                    }
                    if let (Some(v), Some(rgb)) = (&mut vw, frame.rgb.as_mut()) {
                        let (fw, fh) = (frame.gray.width(), frame.gray.height());
                        draw_faces(rgb, fw, fh, &faces, true, true, style);
                        v.write(rgb, fw, fh, frame.timestamp)?;
                    }
                    spent += t.elapsed().as_secs_f64();
                }
                Ok(())
            })();
            if result.is_err() {
                stop_w.store(true, Ordering::SeqCst);
            }
            // close the video even after an error so what was written stays playable
            if let Some(v) = vw {
                v.finish()?;
            }
            result.map(|_| spent)
        })
        .map_err(|e| PipelineError::Io {
            path: job.input.clone(),
            source: e,
        })?;
    if let Ok(Err(e)) = ready_rx.recv() {
        local.store(true, Ordering::SeqCst);
        drop(frame_rx);
        let _ = decoder.join();
        let _ = writer.join();
        // nothing was written yet: no partial file is left behind
        discard_partials(&outputs);
        return Err(e.into());
    }
    let mut summary = VideoSummary::default();
    let mut ids = std::collections::BTreeSet::new();
    let det0 = tracker.times;
    let mut track_err = None;
    for (frame, dec_secs) in frame_rx.iter() {
        summary.times.decode += dec_secs;
        if halted(stop, &local) {
            summary.interrupted = stop.load(Ordering::SeqCst);
            break;
        }
        let faces = match tracker.process(&frame.gray, frame.timestamp) {
            Ok(f) => f,
            Err(e) => {
                track_err = Some(e);
                local.store(true, Ordering::SeqCst);
                break;
            }
        };
        summary.frames += 1;
        if faces.iter().any(|f| f.success) {
            summary.frames_with_face += 1;
        }
        ids.extend(faces.iter().map(|f| f.id));
        if out_tx.send(ToWriter::Frame { frame, faces }).is_err() {
            break;
        }
        progress(summary.frames, expected);
    }
    drop(frame_rx);
    drop(out_tx);
    let (skipped, dec_err) = decoder.join().map_err(|_| PipelineError::StageLost)?;
    let write_secs = writer.join().map_err(|_| PipelineError::StageLost)??;
    // nothing written is worth keeping: take the partial files away
    let discard = || discard_partials(&outputs);
    if let Some(e) = track_err {
        if summary.frames == 0 {
            discard();
        }
        return Err(e.into());
    }
    if let Some(e) = dec_err {
        if summary.frames == 0 {
            discard();
            return Err(e.into());
        }
        // a broken tail: keep what was decoded
        summary.skipped_packets += 1;
    }
    if summary.frames == 0 && !stop.load(Ordering::SeqCst) {
        discard();
        return Err(PipelineError::NoFrames {
            path: job.input.clone(),
            skipped,
        });
    }
    for p in &outputs {
        commit(p)?;
    }
    summary.faces = ids.len() as u64;
    summary.skipped_packets += skipped;
    summary.times.write = write_secs;
    summary.times.detect = tracker.times.detect - det0.detect;
    summary.times.landmarks = tracker.times.landmarks - det0.landmarks;
    summary.detector_runs = tracker.times.detector_runs - det0.detector_runs;
    summary.seconds = t0.elapsed().as_secs_f64();
    if stop.load(Ordering::SeqCst) {
        summary.interrupted = true;
    }
    Ok(summary)
}

/// Remove the partial files of outputs from which nothing is worth keeping.
fn discard_partials(outputs: &[PathBuf]) {
    for p in outputs {
        let _ = std::fs::remove_file(partial_path(p));
    }
}

/// Video files in a folder (by extension), sorted.
pub fn videos_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    const EXT: [&str; 10] = [
        "mp4", "avi", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "wmv", "flv",
    ];
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXT.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    v.sort();
    Ok(v)
}
