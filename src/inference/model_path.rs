//! Finding facetrack's files from any working directory: the one search beside the
//! binary ([`search_dirs`]), used for the default model here and for ONNX Runtime in
//! [`crate::inference::runtime`].

use std::path::PathBuf;

/// File name of the default 68-point model in `models/`.
pub const DEFAULT_MODEL_FILE: &str = "facetrack68.onnx";
/// File name of the default model's float weights, beside it in `models/`: the default
/// on a GPU ([`default_gpu_model`]).
pub const FLOAT_MODEL_FILE: &str = "facetrack68-fp32.onnx";
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
    // each folder once (the binary's own tree is the build's), in the order found
    let mut seen = std::collections::HashSet::new();
    v.retain(|d| seen.insert(d.canonicalize().unwrap_or_else(|_| d.clone())));
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

/// The default model for a GPU: the float weights beside the default 8-bit model (ONNX
/// Runtime's CUDA provider has no kernel for the 8-bit file's integer output layer, which
/// then runs on the CPU, and runs its convolutions in float between rounding steps), or
/// the default itself where they are not there. A model named by [`MODEL_VAR`] is used
/// as it is.
pub fn default_gpu_model() -> Result<PathBuf, String> {
    let named = std::env::var_os(MODEL_VAR).is_some_and(|p| !p.is_empty());
    Ok(gpu_choice(default_model()?, named))
}

/// [`default_gpu_model`]'s choice: `default` as it is when [`MODEL_VAR`] named it, else
/// the float file beside it where there is one.
pub fn gpu_choice(default: PathBuf, named_by_env: bool) -> PathBuf {
    if named_by_env {
        return default;
    }
    float_sibling(&default).unwrap_or(default)
}

/// The float model beside an 8-bit default `model`, if that file exists.
pub fn float_sibling(model: &std::path::Path) -> Option<PathBuf> {
    if model.file_name()? != DEFAULT_MODEL_FILE {
        return None;
    }
    let f = model.with_file_name(FLOAT_MODEL_FILE);
    f.is_file().then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gpu_default_is_the_float_file_beside_the_default_when_there() {
        let dir = std::env::temp_dir().join(format!("ft-model-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let int8 = dir.join(DEFAULT_MODEL_FILE);
        std::fs::write(&int8, b"x").unwrap();
        assert_eq!(float_sibling(&int8), None, "no float file yet");
        assert_eq!(
            gpu_choice(int8.clone(), false),
            int8,
            "the 8-bit file without one"
        );
        std::fs::write(dir.join(FLOAT_MODEL_FILE), b"x").unwrap();
        assert_eq!(float_sibling(&int8), Some(dir.join(FLOAT_MODEL_FILE)));
        assert_eq!(gpu_choice(int8.clone(), false), dir.join(FLOAT_MODEL_FILE));
        // a model named by FACETRACK_MODEL is used as it is
        assert_eq!(gpu_choice(int8.clone(), true), int8);
        // another model (a user's own, the slim one) keeps its own file
        let other = dir.join("facetrack68-slim.onnx");
        std::fs::write(&other, b"x").unwrap();
        assert_eq!(float_sibling(&other), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
