//! Frame sources: the trait the pipelines read from, the frame type they pass on, and a
//! synthetic source for tests. The video-file source is in [`crate::capture::video`], the camera
//! in [`crate::capture::camera`].

use std::time::Instant;

use crate::core::image::GrayImage;
use crate::core::orientation::StreamOrientation;

/// One frame: its grayscale image (what the tracker reads), optionally its RGB pixels
/// (for drawing), its place in the stream and when it was captured. Built through
/// [`Frame::new`], which checks that the colour pixels fit the gray image's size.
#[derive(Debug, Clone)]
pub struct Frame {
    /// 0-based index in the stream (decoded frames, in presentation order).
    pub index: u64,
    /// The stream's own timestamp, seconds.
    pub timestamp: f64,
    /// When the frame was captured or decoded (monotonic).
    pub captured: Instant,
    gray: GrayImage,
    /// Packed RGB, `width * height * 3`, when the consumer asked for colour.
    rgb: Option<Vec<u8>>,
}

/// Colour pixels whose length does not match their frame's size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{got} bytes of RGB for a {width}x{height} frame (it takes {need})")]
pub struct FrameSizeError {
    pub width: u32,
    pub height: u32,
    pub got: usize,
    pub need: usize,
}

impl Frame {
    /// A frame of `gray`'s size; `rgb`, when given, must hold `width * height * 3` bytes.
    pub fn new(
        index: u64,
        timestamp: f64,
        captured: Instant,
        gray: GrayImage,
        rgb: Option<Vec<u8>>,
    ) -> Result<Self, FrameSizeError> {
        if let Some(v) = &rgb {
            let need = gray.width() as usize * gray.height() as usize * 3;
            if v.len() != need {
                return Err(FrameSizeError {
                    width: gray.width(),
                    height: gray.height(),
                    got: v.len(),
                    need,
                });
            }
        }
        Ok(Frame {
            index,
            timestamp,
            captured,
            gray,
            rgb,
        })
    }
    pub fn width(&self) -> u32 {
        self.gray.width()
    }
    pub fn height(&self) -> u32 {
        self.gray.height()
    }
    /// The gray image (what the tracker reads).
    pub fn gray(&self) -> &GrayImage {
        &self.gray
    }
    /// Packed RGB, `width * height * 3` bytes, when the source was asked for colour.
    pub fn rgb(&self) -> Option<&[u8]> {
        self.rgb.as_deref()
    }
    /// The gray image and the RGB pixels, taken out of the frame.
    pub fn into_parts(self) -> (GrayImage, Option<Vec<u8>>) {
        (self.gray, self.rgb)
    }
}

/// What a source could not do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    #[error("{path}: no video stream (only a cover picture, such as an audio file's artwork)")]
    OnlyCover { path: String },
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
    /// The shape of a pixel as shown (width:height) where it is not square.
    fn pixel_aspect(&self) -> Option<(i32, i32)> {
        None
    }
    /// The stream's colour description, where it has one.
    fn colour(&self) -> Option<crate::core::image::ColourTags> {
        None
    }
    /// At the end: why the stream ended before its end (a file cut short), if it did.
    fn end_note(&self) -> Option<String> {
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
        Frame::new(i, i as f64 / self.fps, Instant::now(), gray, rgb)
            .map(Some)
            .map_err(|e| SourceError::Decode {
                path: "synthetic source".into(),
                message: e.to_string(),
            })
    }
    fn fps(&self) -> Option<f64> {
        Some(self.fps)
    }
    fn frame_count(&self) -> Option<u64> {
        Some(self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_cannot_hold_colour_pixels_of_another_size() {
        let gray = || GrayImage::new(4, 3);
        let now = Instant::now();
        assert!(Frame::new(0, 0.0, now, gray(), None).is_ok());
        let f = Frame::new(0, 0.0, now, gray(), Some(vec![7; 36])).unwrap();
        assert_eq!(
            (f.width(), f.height(), f.rgb().map(<[u8]>::len)),
            (4, 3, Some(36))
        );
        let e = Frame::new(0, 0.0, now, gray(), Some(vec![7; 35])).unwrap_err();
        assert_eq!((e.got, e.need), (35, 36));
        // a source that makes such a frame reports it instead of passing it on
        let mut src = SyntheticSource::new(2, 30.0, |_| (GrayImage::new(2, 2), Some(vec![0; 3])));
        assert!(matches!(src.next_frame(), Err(SourceError::Decode { .. })));
    }
}
