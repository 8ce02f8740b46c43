//! Annotated faces for evaluation and training: the dataset readers (iBUG `.pts`, IMM
//! `.asf`, dlib XML, CSV), the test/validation split, and the tracker-like crop jitter
//! that evaluation and the trainer's validation share.

pub mod datasets;
pub mod jitter;
