//! A run's configuration (`config.json`): the network, data, crop, loss and schedule, checked
//! before anything runs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use facetrack::core::contract::{CropMode, ModelContract, OutputKind};
use facetrack::core::layout::PointSet;
use facetrack::data::datasets::CoordBase;

use crate::augment::Augment;
use crate::data::{prepare, DataSpec, SplitRule, TrainData};
use crate::net::Arch;

/// Loss functions.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
pub enum LossKind {
    /// Mean squared error in normalised crop units (the original work's loss).
    Mse,
    L1,
    /// Wing loss (Feng et al., CVPR 2018), w = 10, epsilon = 2 input pixels.
    Wing,
}

/// Learning-rate schedules (after a linear warm-up).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
pub enum Schedule {
    Constant,
    /// Cosine decay to 1 % of the base rate at the last epoch.
    Cosine,
    /// Divide by 10 at 50 % and 75 % of the epochs.
    Step,
}

/// Everything that defines a run; saved as `config.json` in the run folder.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub data: Vec<DataSpec>,
    pub point_set: String,
    pub arch: String,
    pub input_width: u32,
    pub input_height: u32,
    pub crop_scale: f32,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub schedule: Schedule,
    pub warmup_epochs: usize,
    pub weight_decay: f64,
    pub loss: LossKind,
    pub seed: u64,
    pub val_fraction: f32,
    pub imm_split: Option<bool>,
    pub augment: Augment,
    pub threads: usize,
    pub workers: usize,
    pub device: String,
    pub one_based: bool,
    pub max_per_source: Option<usize>,
    pub init: Option<PathBuf>,
    /// Stop after this many optimiser steps (smoke tests); `None` = whole epochs.
    pub max_steps: Option<usize>,
    /// Keep each epoch's weights as `snapshots/epoch-N.ot` (for `train average`).
    #[serde(default)]
    pub snapshots: bool,
    /// Quantization-aware training: round the values the 8-bit model holds to 8 bits in
    /// the forward pass ([`crate::qat`]).
    #[serde(default)]
    pub fake_quant: bool,
    /// With `fake_quant`: uniform noise of one step on the 8-bit values in training
    /// instead of rounding ([`crate::qat`]).
    #[serde(default)]
    pub quant_noise: bool,
    /// Weight of the consistency loss between two training passes of the same batch
    /// (their score maps, and their offsets at the true cells); 0: one pass. Needs
    /// `quant_noise` and a PIP network.
    #[serde(default)]
    pub consistency: f64,
    /// The crop rule (`face_box`, `aligned`, `full_frame`); `None`: the architecture's
    /// usual one (aligned for PIP networks, face box for ResNet-18, full frame for IMM).
    #[serde(default)]
    pub crop_mode: Option<String>,
    /// Pose-balanced sampling strength (0 = off, 1 = every head-turn bin equally often):
    /// see [`crate::data::pose_balance`].
    #[serde(default)]
    pub pose_balance: f32,
    /// Share of training samples cropped from the network's own prediction (closed-loop
    /// crops, see [`crate::closed_loop`]); 0 = off.
    #[serde(default)]
    pub closed_loop: f32,
    /// Wall-clock seconds for the whole run (`--time-budget-s`): the number of epochs is
    /// lowered to what fits after the first one, and training stops in time to validate
    /// and write the weights. `None`: no limit.
    #[serde(default)]
    pub time_budget_s: Option<f64>,
    /// Leave out the ONNX export at the end (it needs ONNX Runtime; `train export` or
    /// `train average` does it later).
    #[serde(default)]
    pub no_export: bool,
    /// Distillation: a float facetrack PIP model (`.onnx`, e.g. the shipped
    /// `models/facetrack68-fp32.onnx`) whose maps on each training batch the network also
    /// learns ([`crate::pip::consistency`] between the two, times `distill`).
    #[serde(default)]
    pub teacher: Option<PathBuf>,
    /// Weight of the distillation loss (with `teacher`).
    #[serde(default)]
    pub distill: f64,
    /// Distil the teacher's mirror-averaged maps: the mean of its maps of each crop and
    /// of the crop's mirror image mapped back ([`crate::pip::MirrorMaps`]), as test-time
    /// flip averaging does with points (`facetrack eval --flip`). The teacher runs on twice
    /// the batch.
    #[serde(default)]
    pub teacher_flip: bool,
    /// PIP networks: also train the own and neighbour offsets on the cells up to this
    /// many cells around each point's cell (each cell's offsets measured from its own
    /// centre), and decode with the votes of all of them (`facetrack.pip_window`). 0:
    /// PIPNet's rule, the point's cell alone.
    #[serde(default)]
    pub offset_window: u32,
    /// The weight of the window's other cells when decoding (the best cell's is 1),
    /// written to the model as `facetrack.pip_window_weight`.
    #[serde(default = "one")]
    pub window_weight: f32,
}

fn one() -> f32 {
    1.0
}

/// Most libtorch threads accepted.
pub(crate) const MAX_THREADS: usize = 1024;

impl TrainConfig {
    /// Values a run can train with (a hand-edited or foreign `config.json` is checked
    /// before it is used).
    pub fn check(&self) -> Result<()> {
        if self.batch_size < 2 {
            bail!("batch size {} (config.json): at least 2", self.batch_size);
        }
        if !(0.0..=1.0).contains(&self.pose_balance) {
            bail!(
                "pose balance {} (config.json or --pose-balance): from 0 to 1",
                self.pose_balance
            );
        }
        if !(0.0..=1.0).contains(&self.closed_loop) {
            bail!(
                "closed-loop share {} (config.json or --closed-loop): from 0 to 1",
                self.closed_loop
            );
        }
        if self.epochs == 0 {
            bail!("epochs 0 (--epochs or config.json): at least 1");
        }
        if !(self.consistency.is_finite() && self.consistency >= 0.0) {
            bail!(
                "consistency weight {} (config.json or --consistency): zero or more",
                self.consistency
            );
        }
        if self.quant_noise && !self.fake_quant {
            bail!("quant_noise (config.json or --quant-noise) needs fake_quant (--fake-quant)");
        }
        if self.consistency > 0.0 {
            if !self.quant_noise {
                bail!(
                    "--consistency {} needs --quant-noise: without noise the two passes of a batch are the same",
                    self.consistency
                );
            }
            if !self.arch()?.is_pip() {
                bail!(
                    "--consistency compares heat maps: it needs a PIP network (--preset ibug68-pip, arch resnet18-pip; this run's is {})",
                    self.arch
                );
            }
        }
        if !(self.distill.is_finite() && self.distill >= 0.0) {
            bail!(
                "distillation weight {} (config.json or --distill): zero or more",
                self.distill
            );
        }
        if self.teacher.is_some() {
            if self.distill == 0.0 {
                bail!("teacher (config.json or --teacher) needs a distill weight (config.json or --distill) above 0");
            }
            if !self.arch()?.is_pip() {
                bail!(
                    "--teacher distils heat maps: it needs a PIP network (--preset ibug68-pip, arch resnet18-pip; this run's is {})",
                    self.arch
                );
            }
        } else if self.teacher_flip {
            bail!("teacher_flip (config.json or --teacher-flip) needs a teacher model (--teacher)");
        } else if self.distill > 0.0 {
            bail!(
                "distill weight {} (config.json or --distill) needs a teacher model (--teacher)",
                self.distill
            );
        }
        if self.offset_window == 0 && self.window_weight != 1.0 {
            bail!(
                "window weight {} (config.json or --window-weight) needs a vote window (--offset-window)",
                self.window_weight
            );
        }
        if !(self.window_weight.is_finite() && (0.0..=1.0).contains(&self.window_weight)) {
            bail!(
                "window weight {} (config.json or --window-weight): from 0 to 1",
                self.window_weight
            );
        }
        if self.offset_window > 0 && !self.arch()?.is_pip() {
            bail!(
                "--offset-window trains heat-map offsets: it needs a PIP network (--preset ibug68-pip, arch resnet18-pip; this run's is {})",
                self.arch
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!(
                "learning rate {} (--lr, or config.json): a positive number",
                self.lr
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            bail!(
                "weight decay {} (--weight-decay, or config.json): zero or more",
                self.weight_decay
            );
        }
        if self.threads > MAX_THREADS || self.workers > MAX_THREADS {
            bail!(
                "{} threads and {} workers (--threads, --workers, or config.json): at most {MAX_THREADS}",
                self.threads,
                self.workers
            );
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            bail!(
                "validation fraction {} (--val-fraction, or config.json): 0 to below 1",
                self.val_fraction
            );
        }
        if let Some(b) = self.time_budget_s {
            if !(b.is_finite() && b > 0.0) {
                bail!("time budget {b} s (config.json or --time-budget-s): a positive number");
            }
        }
        if self.data.is_empty() {
            bail!("no datasets (config.json)");
        }
        self.contract()?;
        Ok(())
    }

    pub fn point_set(&self) -> Result<PointSet> {
        self.point_set
            .parse::<PointSet>()
            .map_err(|e| anyhow::anyhow!(e))
    }
    pub fn arch(&self) -> Result<Arch> {
        self.arch.parse::<Arch>().map_err(|e| anyhow::anyhow!(e))
    }
    pub fn contract(&self) -> Result<ModelContract> {
        let arch = self.arch()?;
        let mut c = ModelContract::face_box(self.point_set()?, self.input_width, &self.arch);
        c.input_height = self.input_height;
        c.crop_scale = self.crop_scale;
        match &self.crop_mode {
            Some(m) => {
                c.crop_mode = m.parse().map_err(|_| {
                    anyhow::anyhow!("crop mode '{m}': expected face_box, aligned or full_frame")
                })?
            }
            None => {
                if arch.is_pip() {
                    c.crop_mode = CropMode::Aligned;
                } else if arch != Arch::ResNet18 && self.point_set()? != PointSet::Ibug68 {
                    c.crop_mode = CropMode::FullFrame;
                }
            }
        }
        if arch.is_pip() {
            c.output = pip_output(self.input_width, self.input_height);
        }
        if self.augment.flip {
            c.flip_offset_px = self.augment.flip_offset_px;
        }
        c.pip_window = self.offset_window;
        c.pip_window_weight = self.window_weight;
        c.validate()?;
        Ok(c)
    }
}

/// The output a PIP network of this input size writes (grid, neighbour table).
pub fn pip_output(input_width: u32, input_height: u32) -> OutputKind {
    let (gw, gh) = crate::net::pip_grid(input_width as i64, input_height as i64);
    OutputKind::Pip {
        grid_w: gw as u32,
        grid_h: gh as u32,
        neighbors_per_point: facetrack::inference::pip::DEFAULT_NEIGHBORS as u32,
        neighbors: facetrack::inference::pip::neighbor_table(
            facetrack::inference::pip::DEFAULT_NEIGHBORS,
        ),
    }
}

/// Read a run folder's configuration.
pub fn read_config(dir: &Path) -> Result<TrainConfig> {
    let file = dir.join("config.json");
    let text = std::fs::read_to_string(&file).with_context(|| match file.exists() {
        true => format!("reading {}", file.display()),
        false => format!("{} is not a run folder (no config.json)", dir.display()),
    })?;
    let cfg: TrainConfig = serde_json::from_str(&text)
        .with_context(|| format!("reading {}/config.json", dir.display()))?;
    cfg.check()
        .with_context(|| format!("{}/config.json", dir.display()))?;
    Ok(cfg)
}

/// Load, decode and split a run's datasets, and say what was found.
pub(crate) fn load_run_data(cfg: &TrainConfig) -> Result<TrainData> {
    let set = cfg.point_set()?;
    let split = cfg.imm_split.map(|imm| {
        if imm {
            SplitRule::ImmPersons
        } else {
            SplitRule::Fraction(cfg.val_fraction)
        }
    });
    let base = if cfg.one_based {
        CoordBase::OneBased
    } else {
        CoordBase::ZeroBased
    };
    let t0 = Instant::now();
    let mut data = prepare(
        &cfg.data,
        set,
        split,
        cfg.val_fraction,
        cfg.seed,
        base,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        cfg.max_per_source,
    )?;
    println!(
        "data: {} training faces, {} validation faces, {} skipped ({:.1} s to load and decode)",
        data.train.len(),
        data.val.len(),
        data.skipped.len(),
        t0.elapsed().as_secs_f64()
    );
    for (p, ntr, nva, ntest) in &data.per_source {
        println!(
            "  {}: {ntr} train, {nva} validation, {ntest} test (left out)",
            p.display()
        );
    }
    if data.val.is_empty() {
        println!(
            "note: no validation faces (--val-fraction {}, or datasets given as --extra \
             only): the epochs' validation figures are NaN and no best epoch is kept (no \
             best.ot); export the last weights with `train export RUN --last`",
            cfg.val_fraction
        );
    }
    if cfg.pose_balance > 0.0 {
        let before = crate::data::turned_share(&data.train, &data.train_weight);
        data.train_weight =
            crate::data::pose_balance(&data.train, &data.train_weight, cfg.pose_balance);
        println!(
            "pose balance {}: turned faces (yaw proxy ≥ {}) {:.1} % of an epoch, were {:.1} %",
            cfg.pose_balance,
            crate::data::TURNED,
            100.0 * crate::data::turned_share(&data.train, &data.train_weight),
            100.0 * before
        );
    }
    Ok(data)
}
