//! A run's folder and its checkpoint: the weights, the optimiser and the progress,
//! written as one step (a kill at any point resumes from one whole checkpoint).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::export::write_atomic;
use crate::net::Net;
use crate::optim::AdamW;

/// Progress saved with every checkpoint.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RunState {
    /// The epoch in progress (0-based).
    pub epoch: usize,
    /// Batches of `epoch` already trained.
    pub batch: usize,
    pub best_val_nme: Option<f64>,
    pub best_epoch: Option<usize>,
    pub seconds: f64,
    pub steps: usize,
    /// Running sum of this epoch's training loss (for a mid-epoch resume).
    pub epoch_loss_sum: f64,
    /// Seconds and samples of this epoch trained before a mid-epoch checkpoint, so that
    /// a resumed epoch's `metrics.csv` row counts the whole epoch.
    #[serde(default)]
    pub epoch_seconds: f64,
    #[serde(default)]
    pub epoch_seen: usize,
    /// Which checkpoint files this state goes with (`checkpoint-N.ot`,
    /// `optimizer-N.ot`; 0: `checkpoint.ot`, `optimizer.ot` of runs before numbering).
    #[serde(default)]
    pub generation: u64,
    /// Each dataset's training and validation faces when the run began (in `--data`,
    /// `--extra` order): a resume whose data differ (a relative path read from another
    /// folder, a dataset changed since) is refused. Empty for runs before this record.
    #[serde(default)]
    pub data_faces: Vec<(usize, usize)>,
}

/// Files of a run folder.
pub struct RunDir(pub PathBuf);

impl RunDir {
    pub fn config(&self) -> PathBuf {
        self.0.join("config.json")
    }
    pub fn state(&self) -> PathBuf {
        self.0.join("state.json")
    }
    /// The checkpoint's weights of generation `g` (see [`RunState::generation`]).
    pub fn weights(&self, g: u64) -> PathBuf {
        self.0.join(match g {
            0 => "checkpoint.ot".to_string(),
            g => format!("checkpoint-{g}.ot"),
        })
    }
    /// The weights of the last committed checkpoint (the generation `state.json` names),
    /// if the folder holds one.
    pub fn last_weights(&self) -> Option<PathBuf> {
        let g = std::fs::read_to_string(self.state())
            .ok()
            .and_then(|t| serde_json::from_str::<RunState>(&t).ok())
            .map_or(0, |s| s.generation);
        Some(self.weights(g)).filter(|p| p.is_file())
    }
    /// The checkpoint's optimiser state of generation `g`.
    pub fn optim(&self, g: u64) -> PathBuf {
        self.0.join(match g {
            0 => "optimizer.ot".to_string(),
            g => format!("optimizer-{g}.ot"),
        })
    }
    pub fn best(&self) -> PathBuf {
        self.0.join("best.ot")
    }
    /// Whether the folder holds a run's weights or its state (`state.json`, `best.ot`,
    /// a checkpoint): a new run there would mix with the old one. A run that stopped
    /// before its first checkpoint (its `config.json` and `metrics.csv` only, as after a
    /// loss that blew up) may be started again in its folder.
    pub fn holds_a_run(&self) -> bool {
        ["state.json", "best.ot"]
            .iter()
            .any(|f| self.0.join(f).exists())
            || self.last_weights().is_some()
    }
    /// The file a run holds locked while it trains (an advisory lock, released when the
    /// process ends, however it ends).
    pub fn lock_path(&self) -> PathBuf {
        self.0.join(".lock")
    }
    /// Lock the folder for this process's run; refused while another run holds it.
    pub fn lock(&self) -> Result<std::fs::File> {
        let p = self.lock_path();
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .with_context(|| format!("creating {}", p.display()))?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "{} is in use by another `train fit` (it holds {}); wait for it to end (a new run may choose another --out)",
                self.0.display(),
                p.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", p.display()))
            }
        }
    }
    pub fn metrics(&self) -> PathBuf {
        self.0.join("metrics.csv")
    }
    /// Weights kept at the end of epoch `epoch` (1-based) when `snapshots` is on.
    pub fn snapshot(&self, epoch: usize) -> PathBuf {
        self.0.join("snapshots").join(format!("epoch-{epoch}.ot"))
    }
    pub fn onnx(&self) -> PathBuf {
        self.0.join("model.onnx")
    }
}

/// Refuse to write `out` over one of `inputs` or, with `run_files`, over a file a run
/// keeps for itself (its configuration, state, metrics, lock, skipped list, charts, best,
/// checkpoint, optimiser or snapshot weights, in a folder that holds a run): `export --out RUN/best.ot` or
/// `average --out RUN/best.onnx` (whose `.ot` goes beside it) would otherwise replace a
/// run's weights. (`train weights` writes such files on purpose: the GPU run's weights
/// restored into a run folder.)
pub fn check_output(out: &Path, inputs: &[&Path], run_files: bool) -> Result<()> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    if let Some(i) = inputs.iter().find(|i| same(out, i)) {
        anyhow::bail!(
            "{} is an input of this command ({}); choose another output name",
            out.display(),
            i.display()
        );
    }
    let (name, folder) = name_and_folder(out);
    // `PREFIX.ot` or `PREFIX-N.ot`
    let numbered = |prefix: &str| {
        name.strip_suffix(".ot")
            .and_then(|n| n.strip_prefix(prefix))
            .is_some_and(|r| r.is_empty() || r.strip_prefix('-').is_some_and(is_number))
    };
    let snapshot = folder.ends_with("snapshots")
        && name
            .strip_suffix(".ot")
            .and_then(|n| n.strip_prefix("epoch-"))
            .is_some_and(is_number);
    let owned = [
        "config.json",
        "state.json",
        "metrics.csv",
        "best.ot",
        ".lock",
        "skipped.tsv",
        "loss.png",
        "filters.png",
        "val_best_worst.png",
    ]
    .contains(&name.as_str())
        || numbered("checkpoint")
        || numbered("optimizer")
        || snapshot;
    // snapshots live in RUN/snapshots
    let run = if snapshot {
        folder.parent().map(Path::to_path_buf).unwrap_or(folder)
    } else {
        folder
    };
    if run_files && owned && RunDir(run.clone()).holds_a_run() {
        anyhow::bail!(
            "{} is one of the files of the run in {}; choose another output name",
            out.display(),
            run.display()
        );
    }
    Ok(())
}

/// Refuse to replace a file without leave: an output that exists needs `overwrite` (the
/// commands' `--overwrite`), and none may replace a file of a dataset (`datasets`: any
/// file under a dataset folder; a dataset file itself and the images it names), whatever
/// the leave.
pub fn check_replace(out: &Path, overwrite: bool, datasets: &[&Path]) -> Result<()> {
    let Ok(meta) = out.symlink_metadata() else {
        return Ok(()); // nothing there to replace
    };
    if meta.is_dir() {
        anyhow::bail!("{} is a folder; name the file to write", out.display());
    }
    for d in datasets {
        match facetrack::data::datasets::dataset_files(d) {
            files @ facetrack::data::datasets::DatasetFiles::Folder(_) if files.holds(out, false) => {
                anyhow::bail!(
                    "{} is a file of the dataset folder {}; write it elsewhere",
                    out.display(),
                    d.display()
                )
            }
            files if files.holds(out, false) => anyhow::bail!(
                "{} is a file of the dataset {} (the file itself or an image it names); write it elsewhere",
                out.display(),
                d.display()
            ),
            _ => {}
        }
    }
    // nor one of another dataset: a mistyped path with --overwrite replaced labels
    if let Some(why) = dataset_like(out) {
        anyhow::bail!(
            "{} looks like a file of a dataset ({why}); the trainer never replaces one, \
             --overwrite or not: write it elsewhere",
            out.display()
        );
    }
    if !overwrite {
        anyhow::bail!(
            "{} already exists; add --overwrite to replace it",
            out.display()
        );
    }
    Ok(())
}

/// Label files the datasets come in.
const LABEL_EXTENSIONS: [&str; 4] = ["pts", "asf", "csv", "xml"];

/// Why an existing file looks like a dataset's (of any dataset, not only the command's):
/// a label file, or an image with its label file beside it. `None` for anything else (a
/// model, weights or a pack beside labels are the user's own files).
pub fn dataset_like(out: &Path) -> Option<String> {
    let e = out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if LABEL_EXTENSIONS.contains(&e.as_str()) {
        return Some(format!("a .{e} label file"));
    }
    for label in ["pts", "asf"] {
        let beside = out.with_extension(label);
        if beside != out && beside.is_file() {
            return Some(format!("its label file {} is beside it", beside.display()));
        }
    }
    None
}

/// Refuse an output not named `NAME.ext` (`what` writes that kind of file): a command
/// told to write a `.pts` or an image name was a mistyped path.
pub fn check_extension(out: &Path, ext: &str, what: &str) -> Result<()> {
    if out.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
        return Ok(());
    }
    anyhow::bail!("{}: {what}: name it NAME.{ext}", out.display())
}

/// Refuse `train weights` an output that is a run's own non-weight file (its
/// configuration, state, metrics or optimiser state, in a folder that holds a run):
/// restoring a GPU run's weights writes a run's best, checkpoint or snapshot weights, but
/// never those.
pub fn check_not_run_state(out: &Path) -> Result<()> {
    let (name, folder) = name_and_folder(out);
    let optimiser = name
        .strip_suffix(".ot")
        .and_then(|n| n.strip_prefix("optimizer"))
        .is_some_and(|r| r.is_empty() || r.strip_prefix('-').is_some_and(is_number));
    let state = ["config.json", "state.json", "metrics.csv"].contains(&name.as_str()) || optimiser;
    // a run, or one that stopped before its first checkpoint (its config.json only)
    let run = RunDir(folder.clone()).holds_a_run() || folder.join("config.json").is_file();
    if state && run {
        anyhow::bail!(
            "{} is the run's own {} in {}, not a weight file; choose another output name",
            out.display(),
            if optimiser {
                "optimiser state"
            } else {
                "record"
            },
            folder.display()
        );
    }
    Ok(())
}

/// An output's file name and the folder it goes in (`.` for a bare name).
fn name_and_folder(out: &Path) -> (String, PathBuf) {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    (name, folder)
}

/// Whether `s` is a whole number (digits only, at least one).
fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn save_vs_atomic(net: &Net, path: &Path) -> Result<()> {
    let tmp = path.with_extension("ot.tmp");
    let saved = net
        .vs
        .save(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
        });
    if saved.is_err() {
        let _ = std::fs::remove_file(&tmp); // never leave the temporary file behind
    }
    saved
}

/// Flush a file (or a folder's entries) to the disk.
pub(crate) fn sync(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("flushing {} to the disk", path.display()))
}

/// Write a checkpoint as one step: the weights and the optimiser go to files of the next
/// generation, flushed to the disk; then `state.json`, which names that generation, is
/// replaced (the commit); only then are the previous generation's files removed. A kill
/// at any point resumes from one consistent checkpoint, the old or the new.
pub(crate) fn save_checkpoint(
    dir: &RunDir,
    net: &Net,
    opt: &AdamW,
    state: &mut RunState,
) -> Result<()> {
    let old = state.generation;
    let gen = old + 1;
    save_vs_atomic(net, &dir.weights(gen))?;
    let tmp = dir.optim(gen).with_extension("ot.tmp");
    opt.save(&tmp)?;
    std::fs::rename(&tmp, dir.optim(gen))?;
    sync(&dir.weights(gen))?;
    sync(&dir.optim(gen))?;
    sync(&dir.0)?;
    let next = RunState {
        generation: gen,
        ..state.clone()
    };
    write_atomic(
        &dir.state(),
        serde_json::to_string_pretty(&next)?.as_bytes(),
    )?;
    sync(&dir.state())?;
    sync(&dir.0)?;
    state.generation = gen;
    let _ = std::fs::remove_file(dir.weights(old));
    let _ = std::fs::remove_file(dir.optim(old));
    Ok(())
}
