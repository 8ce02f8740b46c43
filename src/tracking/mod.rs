//! From frames to tracked faces: the face detector, the [`tracker::Tracker`] (detect to
//! acquire, landmarks to track), the filtered next-crop rule and landmark smoothing.

pub mod crop_filter;
pub mod detector;
pub mod scene_cut;
pub mod smoothing;
pub mod tracker;
pub mod two_sided;
