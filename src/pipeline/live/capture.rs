//! The capture stage: frames from the source into the newest-wins slot. A file is paced
//! to its own timestamps, so frames that arrive while inference is busy are dropped as
//! a camera's would be. The stage ends at the end of a file (dropping its sender tells
//! inference that its input ended) or when the run stops.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::capture::source::{Frame, SourceError};
use crate::pipeline::channel::LatestSender;
use crate::pipeline::live::config::LiveSource;
use crate::pipeline::stage::Control;

/// Largest gap between two frames' timestamps that live pacing sleeps through, seconds.
const MAX_PACING_GAP: f64 = 2.0;
/// Longest single sleep of the pacing, so a stop is noticed at once.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

/// How the capture stage ended: the frames its source skipped as undecodable.
#[derive(Debug, Clone, Default)]
pub struct CaptureEnd {
    pub skipped: u64,
    pub first_skip: Option<String>,
}

/// What the capture stage learns of its source when it opens it, for the writer.
#[derive(Debug, Clone, Default)]
pub struct SourceShape {
    /// The source's nominal rate.
    pub fps: Option<f64>,
    /// The shape of its pixels (width:height), where they are not square.
    pub pixel_aspect: Option<(i32, i32)>,
    /// Its colour description, where it has one.
    pub colour: Option<crate::core::image::ColourTags>,
    /// What a file's frames were turned or resampled by (`video`'s summary says the
    /// same), in the frame size shown.
    pub frame_note: Option<String>,
}

/// Run the capture stage; `shape_out` receives the source's nominal rate and pixel
/// shape once it is open.
pub fn capture(
    source: &LiveSource,
    tx: LatestSender<Frame>,
    ctl: &Control,
    shape_out: &Mutex<SourceShape>,
) -> Result<CaptureEnd, SourceError> {
    let mut src = source.open()?;
    if let Ok(mut f) = shape_out.lock() {
        *f = SourceShape {
            fps: src.fps(),
            pixel_aspect: src.pixel_aspect(),
            colour: src.colour(),
            frame_note: src
                .size()
                .and_then(|(w, h)| src.orientation().summary(w, h)),
        };
    }
    let paced = matches!(source, LiveSource::File(..));
    let mut start = Instant::now();
    let mut first_ts: Option<f64> = None;
    let mut last_ts: Option<f64> = None;
    while !ctl.stopped() {
        let Some(mut frame) = src.next_frame()? else {
            // the file ended: the stages after this one drain and end
            break;
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
    Ok(CaptureEnd {
        skipped: src.skipped(),
        first_skip: src.first_skip(),
    })
}

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
