//! facetrack's trainer as a library: network definitions, ONNX export, data pipeline and
//! training loop. The `train` binary is a thin command-line front end over it.

pub mod export;
pub mod net;
pub mod onnx_proto;
