//! Finding and loading the ONNX Runtime shared library (ort's `load-dynamic`): the
//! program looks for it itself, so a set-up checkout needs no environment variables.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// File name of the library on this platform.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so";
/// Environment variables that name the library file explicitly, in order of precedence.
pub const ORT_LIB_VARS: [&str; 2] = ["FACETRACK_ORT_LIB", "ORT_DYLIB_PATH"];
/// Folder of the project's setup that holds the CPU build.
const SETUP_DIR_CPU: &str = ".deps/onnxruntime";
/// Folder of the project's setup that holds the CUDA build (`./setup.sh --gpu`).
const SETUP_DIR_GPU: &str = ".deps/onnxruntime-gpu";

/// Why ONNX Runtime could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error(
        "the ONNX Runtime library ({ORT_LIB_NAME}) was not found (looked in: {searched}); \
         run ./setup.sh in the facetrack checkout, or set FACETRACK_ORT_LIB to the library file"
    )]
    NotFound { searched: String },
    #[error("{var} points to {path}, which does not exist; fix the variable, or unset it to use the one ./setup.sh installs in .deps/onnxruntime")]
    BadVariable { var: &'static str, path: PathBuf },
    #[error("could not load ONNX Runtime from {path}: {message}; re-run ./setup.sh")]
    Load { path: PathBuf, message: String },
}

/// Which build of the library to prefer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Cpu,
    Cuda,
}

/// The loaded library's path and the process-wide ONNX Runtime environment.
#[derive(Clone)]
pub struct Runtime {
    pub path: PathBuf,
    pub env: ort::environment::Environment,
}

static LOADED: OnceLock<Result<Runtime, RuntimeError>> = OnceLock::new();

/// Candidate library paths, most specific first.
pub fn candidates(flavor: Flavor) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let setup_dirs: &[&str] = match flavor {
        Flavor::Cuda => &[SETUP_DIR_GPU, SETUP_DIR_CPU],
        Flavor::Cpu => &[SETUP_DIR_CPU],
    };
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(dir.clone());
        dirs.push(dir.join("lib"));
    }
    // the setup's folders beside the binary, above it, and in the checkout it was built from
    for d in crate::inference::model_path::search_dirs() {
        for s in setup_dirs {
            dirs.push(d.join(s));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        for s in setup_dirs {
            dirs.push(cwd.join(s));
        }
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let p = d.join(ORT_LIB_NAME);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Locate the library: an explicit variable wins; otherwise the first candidate that exists.
pub fn locate(flavor: Flavor) -> Result<PathBuf, RuntimeError> {
    for var in ORT_LIB_VARS {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let p = PathBuf::from(v);
            return if p.is_file() {
                Ok(p)
            } else {
                Err(RuntimeError::BadVariable { var, path: p })
            };
        }
    }
    let cands = candidates(flavor);
    if let Some(p) = cands.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    Err(RuntimeError::NotFound {
        searched: cands
            .iter()
            .filter_map(|p| p.parent().map(|d| d.display().to_string()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Load ONNX Runtime once per process and build its environment. Later calls return
/// the first result (the library cannot be swapped once loaded).
pub fn ensure_loaded(flavor: Flavor) -> Result<Runtime, RuntimeError> {
    LOADED
        .get_or_init(|| {
            let path = locate(flavor)?;
            let load_err = |message: String| RuntimeError::Load {
                path: path.clone(),
                message,
            };
            let env = ort::init_from(&path)
                .map_err(|e| load_err(e.to_string()))?
                .with_name("facetrack")
                .build()
                .map_err(|e| load_err(e.to_string()))?;
            Ok(Runtime {
                path: path.clone(),
                env,
            })
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_include_the_setup_folder_of_this_checkout() {
        let c = candidates(Flavor::Cpu);
        let want = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(SETUP_DIR_CPU)
            .join(ORT_LIB_NAME);
        assert!(c.contains(&want), "{c:?}");
        let g = candidates(Flavor::Cuda);
        assert!(g
            .iter()
            .any(|p| p.to_string_lossy().contains("onnxruntime-gpu")));
    }
}
