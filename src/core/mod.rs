//! The domain, with no native dependencies: point layouts, geometry and the crop
//! transform, the crop rule, the model contract, the grayscale image type, head pose
//! and the landmark metrics. Everything else (tracker, trainer, evaluation) builds on it.

pub mod clip_metrics;
pub mod contract;
pub mod crop_rule;
pub mod files;
pub mod geometry;
pub mod head_pose;
pub mod image;
pub mod layout;
pub mod metrics;
pub mod orientation;
pub mod pixels;
pub mod signals;
