//! The batch pipeline, video file → sinks (landmark CSV, annotated video): a decode stage
//! and a track stage on their own threads, the sinks on the calling thread (FFmpeg's
//! encoder is not `Send`), joined by blocking bounded channels so no frame is dropped and
//! the output is the same on every run. The stages share one [`Control`]: the first
//! error or panic stops them all and reaches the caller.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::capture::source::{Frame, FrameSource, SourceError};
use crate::capture::video::VideoFile;
use crate::core::orientation::{OrientationRule, StreamOrientation};
use crate::inference::model::ModelError;
use crate::output::annotate::{AnnotateError, AnnotatedVideo};
use crate::output::csv_out::CsvColumns;
use crate::output::draw::ShapeStyle;
use crate::output::output_files::{check_outputs, OutputError, Pending};
use crate::output::sink::{finish_all, CsvSink, Finish, Sink, SinkError, StreamInfo};
use crate::pipeline::stage::{self, Control, StageError};
use crate::tracking::tracker::{TrackedFace, Tracker};
use crate::tracking::two_sided::{LookAhead, TwoSidedParams};

/// Most frames buffered between two stages.
const CHANNEL_DEPTH: usize = 8;
/// Pixel bytes one channel may hold: large frames get fewer slots, so memory does not
/// grow with the resolution (issue 28: an annotated 4K run held 16 frames of 33 MB in its
/// channels). Small frames keep all 8 (480p), 1080p with RGB gets 3, and a frame larger
/// than this (4K with RGB) none: the channel hands each frame over directly, so a stage
/// waits for the next to take it, and the stages still run side by side.
const CHANNEL_BYTES: usize = 24 << 20;

/// Slots of a channel carrying frames of `width` × `height` with `bytes_per_pixel`
/// (gray, plus RGB when a sink draws); 0 is a hand-over channel.
fn channel_depth(width: u32, height: u32, bytes_per_pixel: usize) -> usize {
    let frame = (width as usize * height as usize * bytes_per_pixel).max(1);
    (CHANNEL_BYTES / frame).min(CHANNEL_DEPTH)
}

/// One video to process.
#[derive(Debug, Clone)]
pub struct VideoJob {
    pub input: PathBuf,
    pub csv: Option<PathBuf>,
    /// The CSV's optional columns and format (pose follows the tracker's options).
    pub csv_columns: CsvColumns,
    pub annotate: Option<PathBuf>,
    /// How the annotated video draws the points.
    pub style: ShapeStyle,
    /// An interrupted run's outputs keep their `.partial` names instead of being
    /// committed (folder runs: a cut-short file must not look finished). Otherwise they
    /// are committed unless that would replace a file ([`Finish::Interrupted`]).
    pub partial_if_interrupted: bool,
    /// Turn frames by the stream's display matrix (the default) or keep them as stored.
    pub orientation: OrientationRule,
}

/// What went wrong with one video.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("the {stage} stage panicked: {message}")]
    Panicked { stage: String, message: String },
    #[error("{path}: no frame could be decoded ({})", no_frames_why(*.skipped))]
    NoFrames { path: PathBuf, skipped: u64 },
}

/// Why a video gave no frame: its packets were corrupt, or none was damaged and the
/// stream is one this FFmpeg reads but does not decode (an animated WebP in FFmpeg 5.1).
fn no_frames_why(skipped: u64) -> String {
    match skipped {
        0 => "its video stream gave no picture and no packet was damaged: it holds none, \
              or a kind of video this FFmpeg cannot decode (an animated WebP: convert it to \
              MP4 or GIF with a newer FFmpeg or another tool)"
            .into(),
        1 => "1 corrupt packet skipped".into(),
        n => format!("{n} corrupt packets skipped"),
    }
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
    /// Why the first skipped packet or frame was skipped.
    pub first_skip: Option<String>,
    /// Why the video ended before its end (a file cut short), if it did.
    pub end_note: Option<String>,
    pub seconds: f64,
    pub times: StageTimes,
    pub detector_runs: u64,
    /// Of the detector runs, those that searched less than the whole frame down to the
    /// smallest face size (`tracking::tracker::TrackerTimes::partial_runs`).
    pub partial_runs: u64,
    /// Scene cuts that ended tracks (faces found afresh after them, with new ids).
    pub scene_cuts: u64,
    /// Detector runs that saw more faces than `max_faces` let it track
    /// (`tracking::tracker::TrackerTimes::crowded_runs`).
    pub crowded_runs: u64,
    /// Detector runs made early for a suspect track, and tracks re-seeded from them.
    pub suspect_runs: u64,
    pub reseeds: u64,
    pub interrupted: bool,
    /// Size of the frames tracked (the displayed size unless the orientation was kept).
    pub width: u32,
    pub height: u32,
    /// The stream's orientation tag and whether the frames were turned by it.
    pub orientation: StreamOrientation,
    /// Where the frame size changed midway (a new sequence header, joined streams): the
    /// points of each row are in its own frame's pixels.
    pub size_changes: Option<SizeChanges>,
    /// With two-sided smoothing and an annotated video: the frames drawn when a stop
    /// ended the second (drawing) pass before its end. The CSV holds every frame tracked;
    /// the annotated video only these.
    pub annotated_frames: Option<u64>,
}

/// A stream whose frame size changes: how often, and the first change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeChanges {
    pub count: u64,
    /// The first frame (from 1) of the new size.
    pub first_frame: u64,
    pub from: (u32, u32),
    pub to: (u32, u32),
}

impl SizeChanges {
    /// Count a frame of size `now` after frames of size `last` (frame `frame`, from 1).
    fn see(changes: &mut Option<SizeChanges>, last: (u32, u32), now: (u32, u32), frame: u64) {
        if last == now {
            return;
        }
        match changes {
            Some(c) => c.count += 1,
            None => {
                *changes = Some(SizeChanges {
                    count: 1,
                    first_frame: frame,
                    from: last,
                    to: now,
                })
            }
        }
    }
}

impl std::fmt::Display for SizeChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let times = match self.count {
            1 => String::new(),
            n => format!("{n} times, first "),
        };
        write!(
            f,
            "the frame size changes mid-way ({times}at frame {}: {}x{} to {}x{}): each row's points are in its own frame's pixels",
            self.first_frame, self.from.0, self.from.1, self.to.0, self.to.1
        )
    }
}

impl VideoSummary {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

/// Progress callback: (frames done, frames expected if known).
pub type Progress<'a> = &'a (dyn Fn(u64, Option<u64>) + Sync);

/// Opens a frame source on the stage's own thread (FFmpeg's decoder and the camera are
/// not `Send`, so they are made where they are read).
pub type OpenSource<'a> =
    Box<dyn FnOnce() -> Result<Box<dyn FrameSource>, SourceError> + Send + 'a>;

/// Run one video through `tracker` into the CSV and annotated video that `job` names.
/// See [`run_batch`].
pub fn process_video(
    job: &VideoJob,
    tracker: &mut Tracker,
    stop: &Arc<AtomicBool>,
    progress: Progress,
) -> Result<VideoSummary, PipelineError> {
    process_video_with(job, None, tracker, stop, progress)
}

/// [`process_video`], with the faces smoothed two-sided
/// ([`crate::tracking::two_sided`]) before they reach the CSV and the annotated video
/// when `smooth_offline` is given.
pub fn process_video_with(
    job: &VideoJob,
    smooth_offline: Option<TwoSidedParams>,
    tracker: &mut Tracker,
    stop: &Arc<AtomicBool>,
    progress: Progress,
) -> Result<VideoSummary, PipelineError> {
    process_video_into(job, smooth_offline, Vec::new(), tracker, stop, progress)
}

/// [`process_video_with`], with `extra` sinks fed the same (smoothed) faces as the CSV
/// (the Python package's arrays).
pub fn process_video_into<'s>(
    job: &VideoJob,
    smooth_offline: Option<TwoSidedParams>,
    extra: Vec<Box<dyn Sink + 's>>,
    tracker: &mut Tracker,
    stop: &Arc<AtomicBool>,
    progress: Progress,
) -> Result<VideoSummary, PipelineError> {
    // two-sided smoothing with an annotated video: two passes (module docs of
    // crate::tracking::two_sided; holding the frames until their faces are smoothed
    // would take some 33 MB a frame at 4K)
    if let Some(a) = &job.annotate {
        crate::output::annotate::check_video_name(a)?;
    }
    let redraw = job.annotate.as_ref().filter(|_| smooth_offline.is_some());
    if let Some(ann) = redraw {
        let outputs: Vec<PathBuf> = job.csv.iter().chain([ann]).cloned().collect();
        check_outputs(std::slice::from_ref(&job.input), &outputs, true)?;
        // the second pass reads the video again: a pipe or FIFO has nothing left for it
        if !std::fs::metadata(&job.input).is_ok_and(|m| m.is_file()) {
            return Err(PipelineError::Io {
                path: job.input.clone(),
                source: std::io::Error::other(
                    "two-sided smoothing with an annotated video reads the video twice, so it \
                     needs a file, not a pipe or standard input (write the stream to a file \
                     first, or leave out the annotated video or the smoothing)",
                ),
            });
        }
    }
    // what is at the annotated video's name now, before the first pass, decides what
    // the second may replace
    let redraw_output = redraw.map(|a| Pending::begin(a));
    let mut recorded: Vec<(u64, Vec<TrackedFace>)> = Vec::new();
    let interrupted = if job.partial_if_interrupted {
        Finish::KeepPartial
    } else {
        Finish::Interrupted
    };
    let mut summary = {
        let mut sinks: Vec<Box<dyn Sink + '_>> = Vec::new();
        if let Some(p) = &job.csv {
            sinks.push(Box::new(CsvSink::with_columns(p, job.csv_columns)));
        }
        if redraw.is_some() {
            sinks.push(Box::new(Recorder(&mut recorded)));
        } else if let Some(p) = &job.annotate {
            sinks.push(Box::new(AnnotatedVideo::new(p, job.style)));
        }
        sinks.extend(extra);
        let (input, rgb) = (job.input.clone(), sinks.iter().any(|s| s.needs_rgb()));
        let rule = job.orientation;
        let open: OpenSource = Box::new(move || {
            Ok(Box::new(VideoFile::open_with(&input, rgb, rule)?) as Box<dyn FrameSource>)
        });
        run_batch(
            &job.input,
            open,
            &mut sinks,
            tracker,
            stop,
            progress,
            interrupted,
            smooth_offline,
        )?
    };
    if let Some(ann) = redraw_output.filter(|_| summary.frames > 0) {
        let t = Instant::now();
        let shape = (
            tracker.model().contract().num_points(),
            tracker.options().pose.is_on(),
        );
        // after a Ctrl-C in the first pass, the frames tracked are still drawn (a second
        // Ctrl-C quits at once, leaving the video's .partial file)
        let stopped = redraw_video(
            job,
            ann,
            &recorded,
            shape,
            (!summary.interrupted).then_some(stop.as_ref()),
            (summary.interrupted, interrupted),
            progress,
        )?;
        summary.interrupted |= stopped.is_some();
        summary.annotated_frames = stopped;
        let secs = t.elapsed().as_secs_f64();
        summary.times.write += secs;
        summary.seconds += secs;
    }
    Ok(summary)
}

/// The first pass of a two-pass run: keeps each frame's smoothed faces for the second.
struct Recorder<'a>(&'a mut Vec<(u64, Vec<TrackedFace>)>);

impl Sink for Recorder<'_> {
    fn begin(&mut self, _: &StreamInfo) -> Result<(), SinkError> {
        Ok(())
    }
    fn frame(&mut self, frame: &Frame, faces: &[TrackedFace]) -> Result<(), SinkError> {
        // what is drawn: the model's own points are not needed again
        let kept = faces
            .iter()
            .map(|f| TrackedFace {
                raw_points: Vec::new(),
                ..f.clone()
            })
            .collect();
        self.0.push((frame.index, kept));
        Ok(())
    }
    fn finish(&mut self, _: Finish) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The second pass: decode the video again and draw the `recorded` faces of each frame
/// into `output`. Stops when `stop` is set; the video ends as `interrupted` says when it
/// stopped or the first pass had (`first_stopped`: its frames are drawn, but the video
/// is as cut short as the CSV). Returns the frames drawn if it stopped before the end.
fn redraw_video(
    job: &VideoJob,
    output: Pending,
    recorded: &[(u64, Vec<TrackedFace>)],
    (points, pose): (usize, bool),
    stop: Option<&AtomicBool>,
    (first_stopped, interrupted): (bool, Finish),
    progress: Progress,
) -> Result<Option<u64>, PipelineError> {
    let mut src = VideoFile::open_again(&job.input, true, job.orientation)?;
    let (width, height) = src.size();
    let info = StreamInfo {
        width,
        height,
        fps: src.fps(),
        frames: Some(recorded.len() as u64),
        points,
        pose,
        orientation: src.orientation(),
        pixel_aspect: src.pixel_aspect(),
        colour: src.colour(),
    };
    let mut sink = AnnotatedVideo::with_pending(output, job.style);
    sink.begin(&info)?;
    let mut result = Ok(());
    let mut stopped = None;
    for (k, (index, faces)) in recorded.iter().enumerate() {
        if stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst)) {
            stopped = Some(k as u64);
            break;
        }
        let frame = match src.next_frame() {
            Ok(Some(f)) if f.index == *index => f,
            Ok(_) => {
                result = Err(PipelineError::Io {
                    path: job.input.clone(),
                    source: std::io::Error::other(format!(
                        "the second pass (drawing the smoothed points) did not decode frame {} as the first did",
                        index + 1
                    )),
                });
                break;
            }
            Err(e) => {
                result = Err(e.into());
                break;
            }
        };
        if let Err(e) = sink.frame(&frame, faces) {
            result = Err(e.into());
            break;
        }
        progress(k as u64 + 1, Some(recorded.len() as u64));
    }
    let how = match (&result, stopped.is_some() || first_stopped) {
        (Err(_), _) => Finish::KeepPartial,
        // stopped before a frame was drawn: no video (an empty one would block the next run)
        (Ok(()), true) if stopped == Some(0) => Finish::Discard,
        (Ok(()), true) => interrupted,
        (Ok(()), false) => Finish::Commit,
    };
    let finished = sink.finish(how);
    result?;
    finished?;
    Ok(stopped)
}

/// What the decode stage hands on: a frame and the seconds its decoding took.
type Decoded = (Frame, f64);
/// What the decode stage reports when it ends.
#[derive(Default)]
struct DecodeEnd {
    /// Packets or frames skipped, and why the first one was.
    skipped: u64,
    first_skip: Option<String>,
    /// The source's [`FrameSource::end_note`].
    end_note: Option<String>,
    /// The error that ended a broken stream (what was decoded before it is kept).
    error: Option<SourceError>,
}

impl DecodeEnd {
    fn of(src: &dyn FrameSource, error: Option<SourceError>) -> Self {
        DecodeEnd {
            skipped: src.skipped(),
            first_skip: src.first_skip(),
            end_note: src.end_note(),
            error,
        }
    }
}

/// The batch pipeline: decode stage → track stage → `sinks` on the calling thread, every
/// frame in order. `tracker` is reset first, so a reused tracker starts afresh. The
/// sinks' files are checked against `input` and each other only once the input has
/// opened, and are created only then. An interrupted run's outputs end as `interrupted`
/// says (committed, or kept under their `.partial` names).
///
/// With `smooth_offline`, the track stage holds each frame back until the frames it is
/// smoothed with have been tracked ([`LookAhead`]); when the run stops early (Ctrl-C, a
/// tracking error) the frames held are smoothed with what there is and still written, so
/// the outputs hold every frame tracked, smoothed as a file cut at that frame would be.
#[allow(clippy::too_many_arguments)]
pub fn run_batch(
    input: &Path,
    open: OpenSource,
    sinks: &mut [Box<dyn Sink + '_>],
    tracker: &mut Tracker,
    stop: &Arc<AtomicBool>,
    progress: Progress,
    interrupted: Finish,
    smooth_offline: Option<TwoSidedParams>,
) -> Result<VideoSummary, PipelineError> {
    let t0 = Instant::now();
    // a batch worker reuses its tracker: no track, id or crop of the last video carries over
    tracker.reset();
    let ctl = Control::new(stop.clone());
    let det0 = tracker.times;
    let points = tracker.model().contract().num_points();
    let pose = tracker.options().pose.is_on();
    let (open_tx, open_rx) = bounded::<Opened>(1);
    let bytes_per_pixel = if sinks.iter().any(|k| k.needs_rgb()) {
        4
    } else {
        1
    };
    let mut summary = std::thread::scope(|s| {
        let io = |e| PipelineError::Io {
            path: input.to_path_buf(),
            source: e,
        };
        let decode = stage::spawn(s, "decode", &ctl, move |c| {
            let stream = StreamShape {
                points,
                pose,
                bytes_per_pixel,
            };
            decode_stage(open, open_tx, c, stream)
        })
        .map_err(io)?;
        let (info, frame_rx) = match open_rx.recv() {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(stage_lost(stage::join(decode).err())),
        };
        // outputs: checked against the input and each other, then opened under their
        // partial names (crate::output::output_files)
        let outputs: Vec<PathBuf> = sinks
            .iter()
            .filter_map(|k| k.path().map(Path::to_path_buf))
            .collect();
        if let Err(e) = check_outputs(&[input.to_path_buf()], &outputs, true) {
            ctl.stop();
            return Err(e.into());
        }
        for k in 0..sinks.len() {
            if let Err(e) = sinks[k].begin(&info) {
                ctl.stop();
                // nothing was written yet: no partial file is left behind
                let _ = finish_all(&mut sinks[..k], Finish::Discard);
                return Err(e.into());
            }
        }
        let depth = channel_depth(info.width, info.height, bytes_per_pixel);
        let (out_tx, out_rx) = bounded::<(Frame, Vec<TrackedFace>, f64)>(depth);
        let track = stage::spawn(s, "track", &ctl, |c| {
            track_stage(tracker, frame_rx, out_tx, c, smooth_offline)
        })
        .map_err(io)?;
        let mut summary = VideoSummary {
            width: info.width,
            height: info.height,
            orientation: info.orientation,
            ..Default::default()
        };
        let mut ids = std::collections::BTreeSet::new();
        let mut sink_err = None;
        let mut last_size = None;
        'frames: for (frame, faces, dec_secs) in out_rx.iter() {
            summary.times.decode += dec_secs;
            let size = (frame.width(), frame.height());
            if let Some(last) = last_size.replace(size) {
                SizeChanges::see(&mut summary.size_changes, last, size, frame.index + 1);
            }
            let t = Instant::now();
            for k in sinks.iter_mut() {
                if let Err(e) = k.frame(&frame, &faces) {
                    ctl.fail(e.to_string());
                    sink_err = Some(e);
                    break 'frames;
                }
            }
            summary.times.write += t.elapsed().as_secs_f64();
            summary.frames += 1;
            if faces.iter().any(|f| f.success) {
                summary.frames_with_face += 1;
            }
            ids.extend(faces.iter().map(|f| f.id));
            progress(summary.frames, info.frames);
        }
        drop(out_rx);
        let tracked = stage::join(track);
        let decoded = stage::join(decode);
        summary.interrupted = ctl.interrupted();
        let how = outcome(
            &summary,
            sink_err.is_some(),
            &tracked,
            &decoded,
            interrupted,
        );
        // a whole run ends at its total, also where the container's count was off (a
        // trimmed copy lists the frames before its start)
        if how == Finish::Commit && info.frames != Some(summary.frames) {
            progress(summary.frames, Some(summary.frames));
        }
        let finished = finish_all(sinks, how);
        if let Some(e) = sink_err {
            return Err(e.into());
        }
        tracked.map_err(stage_error)?;
        let decoded = decoded.map_err(stage_error)?;
        let skipped = decoded.skipped;
        summary.first_skip = decoded.first_skip;
        summary.end_note = decoded.end_note;
        if let Some(e) = decoded.error {
            if summary.frames == 0 {
                return Err(e.into());
            }
            // a broken tail: keep what was decoded
            summary.skipped_packets += 1;
        }
        if how == Finish::Discard && !summary.interrupted {
            return Err(PipelineError::NoFrames {
                path: input.to_path_buf(),
                skipped,
            });
        }
        finished?;
        summary.faces = ids.len() as u64;
        summary.skipped_packets += skipped;
        Ok(summary)
    })?;
    let times = tracker.times;
    summary.times.detect = times.detect - det0.detect;
    summary.times.landmarks = times.landmarks - det0.landmarks;
    summary.detector_runs = times.detector_runs - det0.detector_runs;
    summary.partial_runs = times.partial_runs - det0.partial_runs;
    summary.scene_cuts = times.scene_cuts - det0.scene_cuts;
    summary.crowded_runs = times.crowded_runs - det0.crowded_runs;
    summary.suspect_runs = times.suspect_runs - det0.suspect_runs;
    summary.reseeds = times.reseeds - det0.reseeds;
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

/// What becomes of the outputs: nothing worth keeping (no frame written, also when
/// interrupted) is removed; a run that failed part-way leaves its partial files; a
/// complete run commits, an interrupted one ends as `interrupted` says.
fn outcome<T, E, F>(
    summary: &VideoSummary,
    sink_failed: bool,
    tracked: &Result<T, StageError<E>>,
    decoded: &Result<DecodeEnd, StageError<F>>,
    interrupted: Finish,
) -> Finish {
    if summary.frames == 0 {
        Finish::Discard
    } else if sink_failed || tracked.is_err() || decoded.is_err() {
        Finish::KeepPartial
    } else if summary.interrupted {
        interrupted
    } else {
        Finish::Commit
    }
}

/// What the decode stage reports once the source is open: the stream and the channel its
/// frames come on (sized by the frame size), or why it did not open.
type Opened = Result<(StreamInfo, Receiver<Decoded>), SourceError>;

/// What the decode stage is told about the stream beyond what the source knows.
struct StreamShape {
    points: usize,
    pose: bool,
    /// Bytes a pixel of a decoded frame takes (gray, plus RGB when a sink draws).
    bytes_per_pixel: usize,
}

/// The decode stage: open the source, report the stream, then send frames until the end.
fn decode_stage(
    open: OpenSource,
    open_tx: Sender<Opened>,
    ctl: &Control,
    shape: StreamShape,
) -> Result<DecodeEnd, SourceError> {
    let StreamShape {
        points,
        pose,
        bytes_per_pixel,
    } = shape;
    let mut src = match open() {
        Ok(s) => s,
        Err(e) => {
            let _ = open_tx.send(Err(e));
            return Ok(DecodeEnd::default());
        }
    };
    let (width, height) = src.size().unwrap_or((0, 0));
    let info = StreamInfo {
        width,
        height,
        fps: src.fps(),
        frames: src.frame_count(),
        points,
        pose,
        orientation: src.orientation(),
        pixel_aspect: src.pixel_aspect(),
        colour: src.colour(),
    };
    let (frame_tx, frame_rx) = bounded::<Decoded>(channel_depth(width, height, bytes_per_pixel));
    if open_tx.send(Ok((info, frame_rx))).is_err() {
        return Ok(DecodeEnd::of(src.as_ref(), None));
    }
    loop {
        if ctl.stopped() {
            return Ok(DecodeEnd::of(src.as_ref(), None));
        }
        let t = Instant::now();
        match src.next_frame() {
            Ok(Some(f)) => {
                if frame_tx.send((f, t.elapsed().as_secs_f64())).is_err() {
                    return Ok(DecodeEnd::of(src.as_ref(), None));
                }
            }
            Ok(None) => return Ok(DecodeEnd::of(src.as_ref(), None)),
            Err(e) => return Ok(DecodeEnd::of(src.as_ref(), Some(e))),
        }
    }
}

/// The track stage: landmarks for every frame, in order; smoothed two-sided when
/// `smooth_offline` is given (the frames held back are sent when the input ends, the run
/// is stopped or the tracker fails).
fn track_stage(
    tracker: &mut Tracker,
    frame_rx: Receiver<Decoded>,
    out_tx: Sender<(Frame, Vec<TrackedFace>, f64)>,
    ctl: &Control,
    smooth_offline: Option<TwoSidedParams>,
) -> Result<(), ModelError> {
    let mut ahead = smooth_offline.map(|p| LookAhead::new(p, tracker.options().pose));
    let mut result = Ok(());
    for (frame, dec_secs) in frame_rx.iter() {
        if ctl.stopped() {
            break;
        }
        let faces = match tracker.process(frame.gray(), frame.timestamp) {
            Ok(f) => f,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let ready = match &mut ahead {
            Some(a) => {
                let size = (frame.width(), frame.height());
                a.push((frame, dec_secs), size, faces)
            }
            None => vec![((frame, dec_secs), faces)],
        };
        for ((frame, dec_secs), faces) in ready {
            if out_tx.send((frame, faces, dec_secs)).is_err() {
                return result;
            }
        }
    }
    for ((frame, dec_secs), faces) in ahead.as_mut().map(LookAhead::finish).unwrap_or_default() {
        if out_tx.send((frame, faces, dec_secs)).is_err() {
            break;
        }
    }
    result
}

fn stage_error<E: Into<PipelineError>>(e: StageError<E>) -> PipelineError {
    match e {
        StageError::Failed(e) => e.into(),
        StageError::Panicked { stage, message } => PipelineError::Panicked { stage, message },
    }
}

/// A stage ended without saying why: its panic, if that is what happened.
fn stage_lost<E: Into<PipelineError>>(e: Option<StageError<E>>) -> PipelineError {
    match e {
        Some(e) => stage_error(e),
        None => PipelineError::Panicked {
            stage: "decode".into(),
            message: "it ended before opening the input".into(),
        },
    }
}

/// Video files in a folder (by extension), sorted.
pub fn videos_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    crate::core::files::with_extension(dir, &crate::core::files::VIDEO_EXT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_hold_fewer_large_frames() {
        // 480p keeps every slot; 1080p with RGB three; 4K with RGB hands frames over
        assert_eq!(channel_depth(640, 480, 4), CHANNEL_DEPTH);
        assert_eq!(channel_depth(1920, 1080, 4), 3);
        assert_eq!(channel_depth(1920, 1080, 1), CHANNEL_DEPTH);
        assert_eq!(channel_depth(3840, 2160, 1), 3);
        assert_eq!(channel_depth(3840, 2160, 4), 0);
        assert_eq!(channel_depth(0, 0, 4), CHANNEL_DEPTH);
    }
}
