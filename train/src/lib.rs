//! facetrack's trainer as a library: network definitions, ONNX export, data pipeline and
//! training loop. The `train` binary is a thin command-line front end over it.

pub mod augment;
pub mod average;
pub mod checkpoint;
pub mod closed_loop;
pub mod commands;
pub mod config;
pub mod cuda;
pub mod data;
pub mod export;
pub mod finish;
pub mod infer;
pub mod loader;
pub mod net;
pub mod onnx_proto;
pub mod optim;
pub mod pack;
pub mod pack_build;
pub mod parallel;
pub mod pip;
pub mod qat;
pub mod report;
pub mod run;
pub mod schedule;
pub mod stop;
