//! Finding facetrack's files from any working directory: the one search beside the
//! binary ([`search_dirs`]), used for the default model here and for ONNX Runtime in
//! [`crate::inference::runtime`].

use std::path::PathBuf;

/// File name of the default 68-point model in `models/`.
pub const DEFAULT_MODEL_FILE: &str = "facetrack68.onnx";
/// Variable that names a model file to use by default.
pub const MODEL_VAR: &str = "FACETRACK_MODEL";

/// How many folders are searched from the binary's up, its own included
/// (`target/release/deps/x` is four below the checkout).
pub const MAX_PARENT_DEPTH: usize = 5;

/// Folders that may hold facetrack's files, most specific first: the binary's folder and
/// the folders above it ([`MAX_PARENT_DEPTH`] in all), then the checkout the binary was
/// built from.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        let mut d = exe.parent();
        for _ in 0..MAX_PARENT_DEPTH {
            let Some(dir) = d else { break };
            v.push(dir.to_path_buf());
            d = dir.parent();
        }
    }
    v.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    v
}

/// Places searched for the default model, in order.
pub fn candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os(MODEL_VAR).filter(|p| !p.is_empty()) {
        v.push(PathBuf::from(p));
    }
    v.extend(
        search_dirs()
            .into_iter()
            .map(|d| d.join("models").join(DEFAULT_MODEL_FILE)),
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
