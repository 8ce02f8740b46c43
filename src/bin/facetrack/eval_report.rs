//! `facetrack eval`'s report files: checked against the inputs before any work and
//! written whole.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::args::EvalArgs;

/// The pictures `--plots DIR` writes for `--data` (the clips add one per clip).
pub const PLOT_FILES: [&str; 3] = ["ced.png", "best.png", "worst.png"];

/// Check the report files before any work: none may be an input (a dataset file, the
/// clips' ground truth) or another report, none may be written inside the dataset or
/// clips folder (inputs are read-only: `--per-face DATA/x.pts` or `--plots DATA` would
/// write over their files, and a new file there joins the dataset), and none may
/// replace an image a dataset file names (`--json images/a.jpg` of a `labels.csv`). An
/// existing report elsewhere is replaced.
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
    // (and where a plots folder that is not there yet would be made)
    if let Some(d) = a.plots.as_ref().filter(|d| !d.is_dir()) {
        outputs.push(d.join(PLOT_FILES[0]));
    }
    // a dataset folder's files, and a dataset file's images (a CSV or a dlib XML names
    // them, beside it or anywhere)
    use facetrack::data::datasets::{dataset_files, DatasetFiles};
    let datasets: Vec<(PathBuf, DatasetFiles)> = inputs
        .iter()
        .chain(&a.clips)
        .map(|p| (p.clone(), dataset_files(p)))
        .collect();
    for o in &outputs {
        if let Some((p, files)) = datasets.iter().find(|(_, f)| f.holds(o, true)) {
            // a plot is named by its folder, the path the user gave
            let named = match &a.plots {
                Some(d) if o.parent() == Some(d.as_path()) => d,
                _ => o,
            };
            match files {
                DatasetFiles::Folder(f) => anyhow::bail!(
                    "{} is inside the input folder {}; write reports outside it",
                    named.display(),
                    f.display()
                ),
                DatasetFiles::Files(_) => anyhow::bail!(
                    "{} is a file of the dataset {} (an image it names); write reports elsewhere",
                    o.display(),
                    p.display()
                ),
            }
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
    let written = p.create().and_then(|mut f| {
        use std::io::Write;
        f.write_all(text.as_bytes())
    });
    if let Err(e) = written {
        p.discard();
        return Err(anyhow::Error::new(e).context(format!("writing {}", p.partial.display())));
    }
    p.commit()?;
    Ok(())
}
