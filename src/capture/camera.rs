//! Cameras through `nokhwa` (V4L2 on Linux, AVFoundation on macOS, Media Foundation on
//! Windows). `nokhwa::Camera` is not `Send`: a [`CameraSource`] is opened inside the thread
//! that reads it. There is no camera on the build machines, so this file stays thin;
//! everything behind [`FrameSource`] is tested with the video-file and synthetic sources.

use std::time::Instant;

use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use nokhwa::Camera;

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
        })
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let buf = self.cam.frame().map_err(|e| {
            SourceError::Camera(format!(
                "the camera stopped delivering frames (unplugged?): {e}"
            ))
        })?;
        let captured = Instant::now();
        let img = buf.decode_image::<RgbFormat>().map_err(cam_err)?;
        let (w, h) = (img.width(), img.height());
        let raw = img.into_raw();
        let gray = GrayImage::from_rgb(w, h, &raw).map_err(cam_err)?;
        let index = self.next;
        self.next += 1;
        Ok(Some(Frame {
            index,
            timestamp: captured.duration_since(self.start).as_secs_f64(),
            captured,
            gray,
            rgb: self.rgb.then_some(raw),
        }))
    }

    fn fps(&self) -> Option<f64> {
        self.fps
    }
}
