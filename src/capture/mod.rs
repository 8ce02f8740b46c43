//! Where frames come from: the [`source::Frame`] type, the [`source::FrameSource`] trait
//! (with a synthetic source for tests), video files (feature `video`), the camera
//! (feature `camera`) and still photos ([`photo`]: EXIF orientation, AVIF through FFmpeg).

#[cfg(feature = "camera")]
pub mod camera;
#[cfg(feature = "heif")]
pub mod heif;
pub mod photo;
pub mod source;
#[cfg(feature = "video")]
pub mod video;
