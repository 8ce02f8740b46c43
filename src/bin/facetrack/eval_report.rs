//! `facetrack eval`'s report files: checked against the inputs before any work and
//! written whole.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::args::EvalArgs;

/// Check the report files before any work: none may be an input (a dataset file, the
/// clips' ground truth) or another report. An existing report is replaced.
pub fn check_reports(a: &EvalArgs, inputs: &[PathBuf]) -> Result<()> {
    let outputs: Vec<PathBuf> = [&a.json, &a.per_face]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    facetrack::output::output_files::check_outputs(inputs, &outputs, true)?;
    Ok(())
}

/// Write a report whole: under its `.partial` name first, renamed when complete, so an
/// existing file is never left half-written.
pub fn write_report(path: &Path, text: &str) -> Result<()> {
    let p = facetrack::output::output_files::Pending::begin(path);
    std::fs::write(&p.partial, text).with_context(|| format!("writing {}", p.partial.display()))?;
    p.commit()?;
    Ok(())
}
