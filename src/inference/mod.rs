//! Running the landmark network: [`model::LandmarkModel`] (crop → ONNX Runtime → points),
//! preprocessing, the heat-map decoder, the runtime loader and the one place that finds
//! files beside the binary ([`model_path`]).

pub mod model;
pub mod model_path;
pub mod pip;
pub mod preprocess;
pub mod runtime;
