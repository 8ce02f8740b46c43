//! The inference stage: the newest captured frame through the tracker, then to the
//! writer (every tracked frame) and to the window (newest wins), then the detector's
//! search of that frame ([`Tracker::process_before_search`]). The stage ends when the
//! run stops or its input ended (the capture stage's sender is gone).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::capture::source::Frame;
use crate::inference::model::ModelError;
use crate::pipeline::channel::{LatestReceiver, LatestSender, RecvTimeoutError};
use crate::pipeline::live::shown::{Shown, WriterMsg};
use crate::pipeline::stage::Control;
use crate::tracking::smoothing::OneEuroParams;
use crate::tracking::tracker::Tracker;

/// How long a stage waits on its input before looking at the stop flag again.
const POLL: Duration = Duration::from_millis(20);
/// Messages (about two per frame: tracked, shown) that may wait for the writer: when it
/// falls this far behind (a slow encoder), inference waits, and the capture slot drops
/// frames as it does for a slow model, instead of frames piling up in memory. Room for a
/// few frames, so that a writer thread the system schedules late costs no frame.
const MAX_WRITE_BACKLOG: usize = 8;

/// The stage's channels.
pub struct InferIo {
    pub frames: LatestReceiver<Frame>,
    pub window: LatestSender<Arc<Shown>>,
    pub writer: Sender<WriterMsg>,
}

/// Run the inference stage; `smooth` is the window's smoothing switch (`s`).
pub fn infer(
    mut tracker: Tracker,
    io: InferIo,
    smooth: &AtomicBool,
    params: OneEuroParams,
    ctl: &Control,
) -> Result<(), ModelError> {
    let mut smoothing_on = tracker.options().smoothing.is_some();
    while !ctl.stopped() {
        let frame = match io.frames.recv_timeout(POLL) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout) => continue,
            // the source ended and its last frame was taken
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let want = smooth.load(Ordering::Relaxed);
        if want != smoothing_on {
            tracker.set_smoothing(want.then_some(params));
            smoothing_on = want;
        }
        let t = Instant::now();
        // the faces followed and reported first; the frame's search for faces (to confirm
        // them and find new ones) once the frame is on its way to the window, while the
        // next one is captured: what it finds is shown from the next frame on
        let faces = tracker.process_before_search(frame.gray(), frame.timestamp)?;
        let model_ms = t.elapsed().as_secs_f64() * 1000.0;
        let shown = Arc::new(Shown {
            frame,
            faces,
            model_ms,
        });
        while io.writer.len() >= MAX_WRITE_BACKLOG && !ctl.stopped() {
            std::thread::sleep(Duration::from_millis(1));
        }
        // the writer first: it must hold the frame before the window can say it showed it
        if io.writer.send(WriterMsg::Tracked(shown.clone())).is_err() {
            // the writer failed and said why; nothing more to do
            break;
        }
        io.window.send(shown.clone());
        tracker.search_pending(shown.frame.gray())?;
    }
    Ok(())
}
