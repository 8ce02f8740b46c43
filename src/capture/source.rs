//! Frame sources: the trait the pipelines read from, the frame type they pass on, and a
//! synthetic source for tests. The video-file source is in [`crate::capture::video`], the camera
//! in [`crate::capture::camera`].

use std::time::Instant;

use crate::core::image::GrayImage;
use crate::core::orientation::StreamOrientation;

/// One frame: its grayscale image (what the tracker reads), optionally its RGB pixels
/// (for drawing), its place in the stream and when it was captured.
#[derive(Debug, Clone)]
pub struct Frame {
    /// 0-based index in the stream (decoded frames, in presentation order).
    pub index: u64,
    /// The stream's own timestamp, seconds.
    pub timestamp: f64,
    /// When the frame was captured or decoded (monotonic).
    pub captured: Instant,
    pub gray: GrayImage,
    /// Packed RGB, `width * height * 3`, when the consumer asked for colour.
    pub rgb: Option<Vec<u8>>,
}

impl Frame {
    pub fn width(&self) -> u32 {
        self.gray.width()
    }
    pub fn height(&self) -> u32 {
        self.gray.height()
    }
}

/// What a source could not do.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: no such file")]
    NotFound { path: String },
    #[error("{path}: {message}")]
    Open { path: String, message: String },
    /// The demuxer or decoder refused the file: what was being done, and its error.
    #[error("{path}: {what}: {source}")]
    Unreadable {
        path: String,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{path}: no video stream")]
    NoVideo { path: String },
    #[error("{path}: decoding failed: {message}")]
    Decode { path: String, message: String },
    #[error("camera: {0}")]
    Camera(String),
}

/// Something that yields frames until it runs out.
pub trait FrameSource {
    /// The next frame, `Ok(None)` at the end.
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;
    /// Nominal frames per second, if known.
    fn fps(&self) -> Option<f64>;
    /// Packets or frames that could not be decoded and were skipped.
    fn skipped(&self) -> u64 {
        0
    }
    /// Why the first skipped packet or frame was skipped.
    fn first_skip(&self) -> Option<String> {
        None
    }
    /// Frames in the stream, if known (for progress).
    fn frame_count(&self) -> Option<u64> {
        None
    }
    /// Frame size, if known before the first frame (an annotated video needs it to open).
    fn size(&self) -> Option<(u32, u32)> {
        None
    }
    /// The stream's orientation tag and whether frames come turned by it.
    fn orientation(&self) -> StreamOrientation {
        StreamOrientation::default()
    }
}

/// Frames made by a function of the frame index, at a fixed rate (tests and benchmarks).
pub struct SyntheticSource<F: FnMut(u64) -> (GrayImage, Option<Vec<u8>>)> {
    make: F,
    frames: u64,
    fps: f64,
    next: u64,
}

impl<F: FnMut(u64) -> (GrayImage, Option<Vec<u8>>)> SyntheticSource<F> {
    pub fn new(frames: u64, fps: f64, make: F) -> Self {
        SyntheticSource {
            make,
            frames,
            fps,
            next: 0,
        }
    }
}

impl<F: FnMut(u64) -> (GrayImage, Option<Vec<u8>>)> FrameSource for SyntheticSource<F> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.next >= self.frames {
            return Ok(None);
        }
        let i = self.next;
        self.next += 1;
        let (gray, rgb) = (self.make)(i);
        Ok(Some(Frame {
            index: i,
            timestamp: i as f64 / self.fps,
            captured: Instant::now(),
            gray,
            rgb,
        }))
    }
    fn fps(&self) -> Option<f64> {
        Some(self.fps)
    }
    fn frame_count(&self) -> Option<u64> {
        Some(self.frames)
    }
}
