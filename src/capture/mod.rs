//! Where frames come from: the [`source::Frame`] type, the [`source::FrameSource`] trait
//! (with a synthetic source for tests), video files (feature `video`) and the camera
//! (feature `camera`).

#[cfg(feature = "camera")]
pub mod camera;
pub mod source;
#[cfg(feature = "video")]
pub mod video;
