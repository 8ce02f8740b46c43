//! facetrack: real-time 68-point facial landmark tracking with ONNX Runtime.
//!
//! The library owns the domain: point layouts, the crop transform, preprocessing, the
//! model contract, inference and the dataset readers. The `facetrack` binary turns
//! command-line arguments into calls of this library; the trainer (`train/`) uses the
//! same layout, crop and readers so training and tracking cannot disagree.

pub mod capture;
pub mod core;
pub mod data;
pub mod errors;
pub mod inference;
pub mod output;
pub mod pipeline;
pub mod report;
pub mod tracking;

pub use crate::core::contract::ModelContract;
pub use crate::core::geometry::{CropPoint, CropTransform, FaceBox, Point};
pub use crate::core::image::GrayImage;
pub use crate::core::layout::PointSet;
pub use inference::model::{Device, LandmarkModel, ModelOptions};
