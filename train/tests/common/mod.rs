//! What the trainer's integration tests share.

use std::path::{Path, PathBuf};

/// `../shared/data` beside the repository (the IMM faces are what these tests train on).
/// In CI (`CI` set) its absence is a failure; elsewhere the tests that need it say so and
/// return.
pub fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if p.join("imm").is_dir() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {} is missing", p.display());
    }
    eprintln!("skipping: no shared data at {}", p.display());
    None
}
