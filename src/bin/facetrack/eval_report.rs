//! `facetrack eval`'s report files: checked against the inputs before any work and
//! written whole.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::args::EvalArgs;

/// The pictures `--plots DIR` writes for `--data` (the clips add one per clip).
pub const PLOT_FILES: [&str; 3] = ["ced.png", "best.png", "worst.png"];

/// Check the report files before any work: none may be an input (a dataset file, the
/// clips' ground truth) or another report, and none may replace a file inside the
/// dataset or clips folder, or the folder of a dataset file (a label, an image:
/// `--per-face DATA/x.pts`, `--json images/a.jpg` beside `labels.csv`, or `--plots DATA`
/// would write over them). An existing report elsewhere is replaced.
pub fn check_reports(a: &EvalArgs, inputs: &[PathBuf]) -> Result<()> {
    let mut outputs: Vec<PathBuf> = [&a.json, &a.per_face]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    // (a plots folder that does not exist yet holds nothing to replace: it is made later)
    if let Some(d) = a.plots.as_ref().filter(|d| d.is_dir()) {
        outputs.extend(PLOT_FILES.iter().map(|n| d.join(n)));
    }
    facetrack::output::output_files::check_outputs(inputs, &outputs, true)?;
    // a dataset given as a file (a CSV, a dlib XML) names images beside it or below
    let folders: Vec<PathBuf> = inputs
        .iter()
        .chain(&a.clips)
        .filter_map(|p| p.canonicalize().ok())
        .filter_map(|p| match p.is_dir() {
            true => Some(p),
            false => p.parent().map(Path::to_path_buf),
        })
        .collect();
    for o in &outputs {
        let inside = o
            .canonicalize()
            .ok()
            .and_then(|c| folders.iter().find(|f| c.starts_with(f)).cloned());
        if let Some(f) = inside {
            anyhow::bail!(
                "{} is a file of the input folder {}; write reports outside it",
                o.display(),
                f.display()
            );
        }
    }
    Ok(())
}

/// Save a report picture whole, as [`write_report`] writes text.
pub fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    let p = facetrack::output::output_files::Pending::begin(path);
    p.create()
        .map_err(image::ImageError::IoError)
        .and_then(|f| facetrack::output::draw::write_png(f, width, height, rgb))
        .with_context(|| format!("writing {}", p.partial.display()))?;
    p.commit()?;
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
