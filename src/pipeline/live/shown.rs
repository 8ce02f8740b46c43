//! What the stages of live mode pass on: a tracked frame ([`Shown`]), shared by the
//! window and the writer, and the writer's messages ([`WriterMsg`]).

use std::sync::Arc;

use crate::capture::source::Frame;
use crate::output::sink::Finish;
use crate::tracking::tracker::TrackedFace;

/// A tracked frame on its way to the window and the file outputs.
pub struct Shown {
    pub frame: Frame,
    pub faces: Vec<TrackedFace>,
    /// Time the tracker took on it.
    pub model_ms: f64,
}

/// What the writer stage is told, in the order it happened.
pub enum WriterMsg {
    /// A frame tracked (from inference; before the window can show it).
    Tracked(Arc<Shown>),
    /// The window showed the frame of this index: every tracked frame up to it is
    /// written (the ones the window skipped too).
    Shown(u64),
    /// The `r` key: start or stop a recording.
    ToggleRecording,
    /// The session is over (every other stage has ended): close the files as this says.
    Finish(Finish),
}
