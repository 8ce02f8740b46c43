//! Finding the shipped default model from any working directory.

use std::path::{Path, PathBuf};

/// File name of the default 68-point model in `models/`.
pub const DEFAULT_MODEL_FILE: &str = "facetrack68.onnx";
/// Variable that names a model file to use by default.
pub const MODEL_VAR: &str = "FACETRACK_MODEL";

/// Places searched for the default model, in order.
pub fn candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os(MODEL_VAR).filter(|p| !p.is_empty()) {
        v.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        let mut d = exe.parent().map(Path::to_path_buf);
        for _ in 0..5 {
            let Some(dir) = d else { break };
            v.push(dir.join("models").join(DEFAULT_MODEL_FILE));
            d = dir.parent().map(Path::to_path_buf);
        }
    }
    v.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(DEFAULT_MODEL_FILE),
    );
    v
}

/// The default model, or a message naming where it was looked for.
pub fn default_model() -> Result<PathBuf, String> {
    let c = candidates();
    if let Some(p) = std::env::var_os(MODEL_VAR).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "{MODEL_VAR} names {}, which does not exist",
                p.display()
            ))
        };
    }
    c.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "the default model {DEFAULT_MODEL_FILE} was not found (looked in {}); pass --model PATH or set {MODEL_VAR}",
            c.iter().filter_map(|p| p.parent()).map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}
