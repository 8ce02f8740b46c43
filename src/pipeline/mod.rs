//! The two ways frames flow: the batch pipeline (video file → sinks, every frame, same
//! output each run; feature `video`) and live mode (camera or file → window, newest frame
//! wins; feature `window`). Both run their stages with [`stage`].

#[cfg(feature = "video")]
pub mod batch;
pub mod channel;
#[cfg(feature = "window")]
pub mod live;
pub mod stage;

#[cfg(feature = "video")]
pub use batch::{
    process_video, process_video_into, process_video_with, videos_in, PipelineError, Progress,
    StageTimes, VideoJob, VideoSummary,
};
