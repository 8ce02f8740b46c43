//! facetrack: real-time 68-point facial landmark tracking with ONNX Runtime.
//!
//! The library owns the domain: point layouts, the crop transform, preprocessing, the
//! model contract, inference and the dataset readers. The `facetrack` binary turns
//! command-line arguments into calls of this library; the trainer (`train/`) uses the
//! same layout, crop and readers so training and tracking cannot disagree.

#[cfg(feature = "video")]
pub mod annotate;
#[cfg(feature = "camera")]
pub mod camera;
pub mod channel;
pub mod contract;
pub mod crop_filter;
pub mod crop_rule;
pub mod csv_out;
pub mod datasets;
pub mod detector;
pub mod draw;
pub mod geometry;
pub mod head_pose;
pub mod image;
pub mod jitter;
pub mod layout;
#[cfg(feature = "window")]
pub mod live;
pub mod metrics;
pub mod model;
pub mod model_path;
pub mod output_files;
pub mod pip;
#[cfg(feature = "video")]
pub mod pipeline;
pub mod preprocess;
pub mod runtime;
pub mod smoothing;
pub mod source;
pub mod tracker;
#[cfg(feature = "video")]
pub mod video;

pub use contract::ModelContract;
pub use geometry::{CropPoint, CropTransform, FaceBox, Point};
pub use image::GrayImage;
pub use layout::PointSet;
pub use model::{Device, LandmarkModel, ModelOptions};
