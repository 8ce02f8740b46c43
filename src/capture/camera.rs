//! Cameras through `nokhwa` (V4L2 on Linux, AVFoundation on macOS, Media Foundation on
//! Windows). `nokhwa::Camera` is not `Send`: a [`CameraSource`] is opened inside the thread
//! that reads it. There is no camera on the build machines, so this file stays thin;
//! everything behind [`FrameSource`] is tested with the video-file and synthetic sources,
//! and the decoding of the camera's buffers ([`BufferDecoder`]: a bad MJPEG frame is
//! skipped and counted, as the file source skips a corrupt packet) with real buffers.

use std::time::Instant;

use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use nokhwa::{Buffer, Camera};

use crate::capture::source::{Frame, FrameSource, SourceError};
use crate::core::image::GrayImage;

/// What to ask the camera for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CameraRequest {
    pub index: u32,
    /// Width × height; `None`: the camera's highest frame rate.
    pub resolution: Option<(u32, u32)>,
    pub fps: Option<u32>,
}

/// One camera and the formats it offers.
#[derive(Debug, Clone)]
pub struct CameraListing {
    pub index: String,
    pub name: String,
    pub description: String,
    /// (width, height, fps, format)
    pub formats: Vec<(u32, u32, u32, String)>,
}

fn cam_err(e: impl std::fmt::Display) -> SourceError {
    SourceError::Camera(e.to_string())
}

/// The cameras the system knows, with their formats where they can be read.
pub fn list_cameras() -> Result<Vec<CameraListing>, SourceError> {
    let infos = nokhwa::query(ApiBackend::Auto).map_err(cam_err)?;
    let mut out = Vec::new();
    for info in infos {
        let mut formats = Vec::new();
        if let Ok(mut cam) = Camera::new(
            info.index().clone(),
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::None),
        ) {
            if let Ok(fs) = cam.compatible_camera_formats() {
                for f in fs {
                    formats.push((
                        f.resolution().width(),
                        f.resolution().height(),
                        f.frame_rate(),
                        f.format().to_string(),
                    ));
                }
            }
        }
        out.push(CameraListing {
            index: info.index().to_string(),
            name: info.human_name(),
            description: info.description().to_string(),
            formats,
        });
    }
    Ok(out)
}

/// Frames from a camera.
pub struct CameraSource {
    cam: Camera,
    next: u64,
    start: Instant,
    fps: Option<f64>,
    rgb: bool,
    decoder: BufferDecoder,
}

/// Camera buffers in a row that may fail to decode before the camera counts as broken
/// (two seconds at 30 fps): one bad MJPEG frame is skipped, a camera that sends nothing
/// decodable is an error.
pub const MAX_BAD_FRAMES_IN_A_ROW: u32 = 60;

/// Turns the camera's buffers (MJPEG, YUYV, ...) into pixels. A buffer that does not
/// decode (a damaged MJPEG frame: the JPEG decoder fails or panics) is skipped and
/// counted; only [`MAX_BAD_FRAMES_IN_A_ROW`] failures in a row end the stream.
#[derive(Debug, Default)]
pub struct BufferDecoder {
    skipped: u64,
    first_skip: Option<String>,
    in_a_row: u32,
}

impl BufferDecoder {
    /// The buffer's pixels as grayscale (and RGB when `want_rgb`); `Ok(None)`: it could
    /// not be decoded and was skipped.
    #[allow(clippy::type_complexity)]
    pub fn decode(
        &mut self,
        buf: &Buffer,
        want_rgb: bool,
    ) -> Result<Option<(GrayImage, Option<Vec<u8>>)>, SourceError> {
        // the MJPEG decoder (mozjpeg) reports a damaged frame by unwinding
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            buf.decode_image::<RgbFormat>().map_err(|e| e.to_string())
        }))
        .unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the decoder gave up".into()))
        })
        .and_then(|img| {
            let (w, h) = (img.width(), img.height());
            let raw = img.into_raw();
            let gray = GrayImage::from_rgb(w, h, &raw).map_err(|e| e.to_string())?;
            Ok((gray, want_rgb.then_some(raw)))
        });
        match decoded {
            Ok(px) => {
                self.in_a_row = 0;
                Ok(Some(px))
            }
            Err(why) => {
                self.skipped += 1;
                self.in_a_row += 1;
                let why = format!(
                    "a {} frame that does not decode ({why})",
                    buf.source_frame_format()
                );
                if self.in_a_row >= MAX_BAD_FRAMES_IN_A_ROW {
                    return Err(SourceError::Camera(format!(
                        "{} frames in a row could not be decoded, the last: {why}",
                        self.in_a_row
                    )));
                }
                self.first_skip.get_or_insert(why);
                Ok(None)
            }
        }
    }

    /// Buffers skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Why the first one was skipped.
    pub fn first_skip(&self) -> Option<String> {
        self.first_skip.clone()
    }
}

impl CameraSource {
    /// Open the camera and start streaming. Errors name the cause in one sentence.
    pub fn open(req: CameraRequest, want_rgb: bool) -> Result<Self, SourceError> {
        let cams = nokhwa::query(ApiBackend::Auto)
            .map_err(|e| SourceError::Camera(format!("cannot list cameras ({e})")))?;
        if cams.is_empty() {
            return Err(SourceError::Camera(
                "no camera found; connect one, or use --source FILE to play a video as a camera"
                    .into(),
            ));
        }
        if !cams
            .iter()
            .any(|c| matches!(c.index(), CameraIndex::Index(i) if *i == req.index))
        {
            return Err(SourceError::Camera(format!(
                "there is no camera {} (found: {}); see `facetrack cameras`",
                req.index,
                cams.iter()
                    .map(|c| c.index().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let requested = match (req.resolution, req.fps) {
            (Some((w, h)), fps) => RequestedFormatType::Closest(CameraFormat::new(
                Resolution::new(w, h),
                FrameFormat::MJPEG,
                fps.unwrap_or(30),
            )),
            (None, Some(fps)) => RequestedFormatType::HighestFrameRate(fps),
            (None, None) => RequestedFormatType::AbsoluteHighestFrameRate,
        };
        let mut cam = Camera::new(
            CameraIndex::Index(req.index),
            RequestedFormat::new::<RgbFormat>(requested),
        )
        .map_err(|e| {
            SourceError::Camera(format!(
                "camera {} refused the format ({e}); try another --resolution or --fps",
                req.index
            ))
        })?;
        cam.open_stream().map_err(|e| {
            SourceError::Camera(format!(
                "camera {} could not start streaming ({e})",
                req.index
            ))
        })?;
        let fps = Some(cam.camera_format().frame_rate() as f64);
        Ok(CameraSource {
            cam,
            next: 0,
            start: Instant::now(),
            fps,
            rgb: want_rgb,
            decoder: BufferDecoder::default(),
        })
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        loop {
            let buf = self.cam.frame().map_err(|e| {
                SourceError::Camera(format!(
                    "the camera stopped delivering frames (unplugged?): {e}"
                ))
            })?;
            let captured = Instant::now();
            let Some((gray, rgb)) = self.decoder.decode(&buf, self.rgb)? else {
                continue;
            };
            let index = self.next;
            self.next += 1;
            let timestamp = captured.duration_since(self.start).as_secs_f64();
            return Frame::new(index, timestamp, captured, gray, rgb)
                .map(Some)
                .map_err(|e| SourceError::Camera(e.to_string()));
        }
    }

    fn fps(&self) -> Option<f64> {
        self.fps
    }

    fn skipped(&self) -> u64 {
        self.decoder.skipped()
    }

    fn first_skip(&self) -> Option<String> {
        self.decoder.first_skip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real MJPEG frame: a 32x24 gradient encoded by the `image` crate's JPEG encoder.
    fn mjpeg(w: u32, h: u32) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 128]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    fn buffer(bytes: &[u8]) -> Buffer {
        Buffer::new(Resolution::new(32, 24), bytes, FrameFormat::MJPEG)
    }

    #[test]
    fn a_damaged_mjpeg_frame_is_skipped_and_counted_and_the_next_one_decodes() {
        let good = mjpeg(32, 24);
        let mut cut = good.clone();
        cut.truncate(40);
        let garbage = vec![0x5a; 500];
        let mut d = BufferDecoder::default();
        let (gray, rgb) = d
            .decode(&buffer(&good), true)
            .unwrap()
            .expect("a good frame");
        assert_eq!((gray.width(), gray.height()), (32, 24));
        assert_eq!(rgb.map(|r| r.len()), Some(32 * 24 * 3));
        assert!(d.decode(&buffer(&garbage), true).unwrap().is_none());
        assert!(d.decode(&buffer(&cut), false).unwrap().is_none());
        let (_, rgb) = d
            .decode(&buffer(&good), false)
            .unwrap()
            .expect("decodes again");
        assert!(rgb.is_none());
        assert_eq!(d.skipped(), 2);
        let why = d.first_skip().unwrap();
        assert!(
            why.starts_with("a MJPEG frame that does not decode"),
            "{why}"
        );
    }

    #[test]
    fn a_camera_that_sends_nothing_decodable_is_an_error() {
        let garbage = vec![0u8; 100];
        let mut d = BufferDecoder::default();
        for _ in 1..MAX_BAD_FRAMES_IN_A_ROW {
            assert!(d.decode(&buffer(&garbage), false).unwrap().is_none());
        }
        let e = d.decode(&buffer(&garbage), false).unwrap_err().to_string();
        assert!(e.contains("60 frames in a row could not be decoded"), "{e}");
    }
}
