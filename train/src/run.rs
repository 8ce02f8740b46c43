//! A training run: configuration, the epoch loop, validation, checkpoints (atomic, with
//! optimiser state, resumable mid-epoch), metrics, pictures and the final ONNX export.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use facetrack::core::contract::{CropMode, ModelContract, OutputKind};
use facetrack::core::layout::PointSet;
use facetrack::core::metrics;
use facetrack::data::datasets::CoordBase;
use facetrack::{CropPoint, Point};
use tch::{Kind, Tensor};

use crate::augment::{Augment, Rng, TRACKING_SCALE, TRACKING_SHIFT};
use crate::data::{prepare, DataSpec, Face, SplitRule, TrainData};
use crate::export::{check_export, to_bytes, write_atomic};
use crate::loader::{build_batch, build_val_batch, EpochLoader};
use crate::net::{Arch, Net};
use crate::optim::AdamW;
use crate::report::{face_grid, filters_png, loss_plot, EpochMetrics, GridFace, METRICS_HEADER};

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
}

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
    /// Which checkpoint files this state goes with (`checkpoint-N.ot`,
    /// `optimizer-N.ot`; 0: `checkpoint.ot`, `optimizer.ot` of runs before numbering).
    #[serde(default)]
    pub generation: u64,
}

/// Most libtorch threads accepted.
const MAX_THREADS: usize = 1024;

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
            bail!("epochs 0 (config.json): at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("learning rate {} (config.json): a positive number", self.lr);
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            bail!(
                "weight decay {} (config.json): zero or more",
                self.weight_decay
            );
        }
        if self.threads > MAX_THREADS || self.workers > MAX_THREADS {
            bail!(
                "{} threads and {} workers (config.json): at most {MAX_THREADS}",
                self.threads,
                self.workers
            );
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            bail!(
                "validation fraction {} (config.json): 0 to below 1",
                self.val_fraction
            );
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
                if arch == Arch::ResNet18Pip {
                    c.crop_mode = CropMode::Aligned;
                } else if arch != Arch::ResNet18 && self.point_set()? != PointSet::Ibug68 {
                    c.crop_mode = CropMode::FullFrame;
                }
            }
        }
        if arch.is_pip() {
            c.output = pip_output(self.input_width, self.input_height);
        }
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

/// Set by Ctrl-C: finish the batch, write a checkpoint, exit.
pub static STOP: AtomicBool = AtomicBool::new(false);

fn save_vs_atomic(net: &Net, path: &Path) -> Result<()> {
    let tmp = path.with_extension("ot.tmp");
    net.vs
        .save(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Flush a file (or a folder's entries) to the disk.
fn sync(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("flushing {} to the disk", path.display()))
}

/// Write a checkpoint as one step: the weights and the optimiser go to files of the next
/// generation, flushed to the disk; then `state.json`, which names that generation, is
/// replaced (the commit); only then are the previous generation's files removed. A kill
/// at any point resumes from one consistent checkpoint, the old or the new.
fn save_checkpoint(dir: &RunDir, net: &Net, opt: &AdamW, state: &mut RunState) -> Result<()> {
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

fn lr_at(cfg: &TrainConfig, epoch_f: f64) -> f64 {
    let warm = cfg.warmup_epochs as f64;
    if epoch_f < warm {
        return cfg.lr * (0.1 + 0.9 * epoch_f / warm.max(1e-9));
    }
    let e = cfg.epochs.max(1) as f64;
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        Schedule::Cosine => {
            let t = ((epoch_f - warm) / (e - warm).max(1.0)).clamp(0.0, 1.0);
            cfg.lr * (0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
        }
        Schedule::Step => {
            let t = epoch_f / e;
            cfg.lr
                * if t < 0.5 {
                    1.0
                } else if t < 0.75 {
                    0.1
                } else {
                    0.01
                }
        }
    }
}

/// The loss of predictions against targets (both `[N, 2K]`, normalised crop units).
pub fn loss_fn(kind: LossKind, pred: &Tensor, target: &Tensor, half_input: f64) -> Tensor {
    let d = pred - target;
    match kind {
        LossKind::Mse => d.square().mean(Kind::Float),
        LossKind::L1 => d.abs().mean(Kind::Float),
        LossKind::Wing => {
            let (w, eps) = (10.0f64, 2.0f64);
            let c = w - w * (1.0 + w / eps).ln();
            let x = d.abs() * half_input;
            let small = ((&x / eps) + 1.0).log() * w;
            let big = &x - c;
            small.where_self(&x.lt(w), &big).mean(Kind::Float)
        }
    }
}

/// Per-face results of a validation pass.
pub struct ValResult {
    pub loss: f64,
    pub nme: Vec<f32>,
    pub px: Vec<f32>,
    pub preds: Vec<Vec<Point>>,
}

/// The deterministic validation crop jitter: the box error of a tracked face.
pub fn val_augment() -> Augment {
    Augment {
        shift: TRACKING_SHIFT,
        scale: TRACKING_SCALE,
        ..Augment::none()
    }
}

/// Batches used to re-estimate batch-norm statistics before validation and export.
const BN_CALIBRATION_BATCHES: usize = 16;

/// Re-estimate the batch-norm statistics on training faces cropped the way the tracker
/// crops them (tracking jitter, no augmentation), the same faces every time.
pub fn recalibrate(net: &Net, faces: &[Face], c: &ModelContract, batch: usize, seed: u64) {
    if faces.is_empty() {
        return;
    }
    let mut order: Vec<usize> = (0..faces.len()).collect();
    Rng::new(seed ^ 0xB0B).shuffle(&mut order);
    let batch = batch.max(8);
    let batches: Vec<Tensor> = order
        .chunks(batch)
        .filter(|ch| ch.len() == batch)
        .take(BN_CALIBRATION_BATCHES)
        .map(|ch| {
            let b = build_batch(
                faces,
                ch,
                c,
                &[],
                &val_augment(),
                VAL_SEED ^ 1,
                0,
                ch[0],
                &[],
            );
            Tensor::from_slice(&b.input).view([
                b.n as i64,
                1,
                c.input_height as i64,
                c.input_width as i64,
            ])
        })
        .collect();
    net.recalibrate_batch_norm(&batches);
}

/// Validation seed, separate from training so the crops never change with it.
const VAL_SEED: u64 = 0x005E_ED0F_7A11;

/// The training loss of a batch: the PIP loss on the maps of a PIP network, else
/// `kind` on the points.
pub fn batch_loss(net: &Net, kind: LossKind, y: &Tensor, target: &Tensor, half: f64) -> Tensor {
    match &net.pip {
        Some(spec) => crate::pip::loss(spec, y, target),
        None => loss_fn(kind, y, target, half),
    }
}

/// The network's raw output for `n` crops (inference mode, no gradient) and the points
/// it gives, in crop coordinates (`2K` values a crop).
pub fn predict(
    net: &Net,
    input: &[f32],
    n: usize,
    c: &ModelContract,
) -> Result<(Tensor, Vec<f32>)> {
    let x = Tensor::from_slice(input)
        .view([n as i64, 1, c.input_height as i64, c.input_width as i64])
        .to_device(net.vs.device());
    let raw = tch::no_grad(|| net.forward_t(&x, false));
    let y = match &net.pip {
        Some(spec) => crate::pip::decode(spec, &raw),
        None => raw.shallow_clone(),
    };
    let yv = Vec::<f32>::try_from(y.to_device(tch::Device::Cpu).flatten(0, -1))?;
    Ok((raw, yv))
}

/// Predict every validation face, cropped as a tracked face
/// (`facetrack::data::jitter::tracked_crop`, the crops `facetrack eval --boxes tracked` uses),
/// and measure its error in the original image.
pub fn validate(
    net: &Net,
    faces: &[Face],
    c: &ModelContract,
    loss: LossKind,
    batch: usize,
) -> Result<ValResult> {
    let set = c.point_set;
    let order: Vec<usize> = (0..faces.len()).collect();
    let mut out = ValResult {
        loss: 0.0,
        nme: Vec::new(),
        px: Vec::new(),
        preds: Vec::new(),
    };
    let dev = net.vs.device();
    let half = c.input_width as f64 / 2.0;
    let mut loss_sum = 0.0;
    for chunk in order.chunks(batch.max(1)) {
        let (b, crops) = build_val_batch(faces, chunk, c);
        let t = Tensor::from_slice(&b.target)
            .view([b.n as i64, c.output_len() as i64])
            .to_device(dev);
        let (raw, yv) = predict(net, &b.input, b.n, c)?;
        loss_sum += batch_loss(net, loss, &raw, &t, half).double_value(&[]) * b.n as f64;
        for (k, (&fi, tr)) in chunk.iter().zip(&crops).enumerate() {
            let face = &faces[fi];
            let pts: Vec<Point> = yv[k * c.output_len()..(k + 1) * c.output_len()]
                .chunks_exact(2)
                .map(|p| tr.to_image(CropPoint { x: p[0], y: p[1] }))
                .collect();
            out.px.push(
                metrics::mean_error(&pts, &face.points)
                    .map(|e| e * face.to_original)
                    .unwrap_or(f32::NAN),
            );
            if let Some(e) = metrics::nme(&pts, &face.points, set) {
                out.nme.push(e);
            }
            out.preds.push(pts);
        }
    }
    out.loss = loss_sum / faces.len().max(1) as f64;
    Ok(out)
}

fn mean(v: &[f32]) -> f64 {
    let f: Vec<f64> = v
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| x as f64)
        .collect();
    if f.is_empty() {
        f64::NAN
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

/// Best and worst validation faces drawn on their crops.
fn best_worst_grid(path: &Path, faces: &[Face], val: &ValResult, c: &ModelContract) -> Result<()> {
    let errs: Vec<f32> = if val.nme.len() == faces.len() {
        val.nme.clone()
    } else {
        val.px.clone()
    };
    let mut idx: Vec<usize> = (0..faces.len()).filter(|&i| errs[i].is_finite()).collect();
    idx.sort_by(|&a, &b| errs[a].total_cmp(&errs[b]));
    let pick: Vec<usize> = idx
        .iter()
        .take(6)
        .chain(idx.iter().rev().take(6).rev())
        .copied()
        .collect();
    let (w, h) = (c.input_width.max(96) * 2, c.input_height.max(96) * 2);
    let mut cells = Vec::new();
    for &i in &pick {
        let face = &faces[i];
        let t = facetrack::data::jitter::tracked_crop(
            &face.points,
            c,
            (face.image.width(), face.image.height()),
            i as u64,
        );
        let mut buf = vec![0f32; (w * h) as usize];
        let norm = facetrack::inference::preprocess::Normalization {
            mean: 0.0,
            std: 1.0 / 255.0,
        };
        facetrack::inference::preprocess::sample_crop(&face.image, &t, w, h, norm, &mut buf);
        let to_px = |p: &Point| {
            let q = t.to_crop(*p);
            Point::new(
                (q.x + 1.0) * w as f32 / 2.0 - 0.5,
                (q.y + 1.0) * h as f32 / 2.0 - 0.5,
            )
        };
        cells.push(GridFace {
            pixels: buf.iter().map(|v| v.clamp(0.0, 255.0) as u8).collect(),
            width: w,
            height: h,
            truth: face.points.iter().map(to_px).collect(),
            pred: val.preds[i].iter().map(to_px).collect(),
            caption: if val.nme.len() == faces.len() {
                format!("NME {:.1}%", errs[i] * 100.0)
            } else {
                format!("{:.1} PX", errs[i])
            },
        });
    }
    face_grid(path, &cells, 6, 160)
}

/// Read a run folder's configuration.
pub fn read_config(dir: &Path) -> Result<TrainConfig> {
    let text = std::fs::read_to_string(dir.join("config.json"))
        .with_context(|| format!("{} is not a run folder (no config.json)", dir.display()))?;
    let cfg: TrainConfig = serde_json::from_str(&text)
        .with_context(|| format!("reading {}/config.json", dir.display()))?;
    cfg.check()
        .with_context(|| format!("{}/config.json", dir.display()))?;
    Ok(cfg)
}

/// Load, decode and split a run's datasets, and say what was found.
fn load_run_data(cfg: &TrainConfig) -> Result<TrainData> {
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

/// Train (a new run, or resume one whose folder holds a checkpoint).
pub fn train(cfg: TrainConfig, dir: PathBuf, resume: bool) -> Result<()> {
    let dir = RunDir(dir);
    std::fs::create_dir_all(&dir.0).with_context(|| format!("creating {}", dir.0.display()))?;
    let contract = cfg.contract()?;
    let set = contract.point_set;
    let arch = cfg.arch()?;
    let device = match cfg.device.as_str() {
        "cpu" => tch::Device::Cpu,
        "cuda" => {
            if !tch::Cuda::is_available() {
                bail!("--device cuda: this libtorch sees no CUDA device; use --device cpu, or build with LIBTORCH pointing at a CUDA build of torch 2.11.0");
            }
            tch::Device::Cuda(0)
        }
        _ => tch::Device::cuda_if_available(),
    };
    if cfg.threads > 0 {
        tch::set_num_threads(cfg.threads.min(MAX_THREADS) as i32);
    }
    tch::manual_seed(cfg.seed as i64);
    let data = load_run_data(&cfg)?;
    let mut net = Net::new(
        arch,
        cfg.input_width as i64,
        cfg.input_height as i64,
        set.len() as i64,
        device,
    );
    if resume {
        // VarStore::load copies into the existing variables, which the layers share
        // state.json names the checkpoint generation it goes with
        let state: RunState = serde_json::from_str(&std::fs::read_to_string(dir.state())?)
            .context("reading state.json")?;
        let g = state.generation;
        net.vs
            .load(dir.weights(g))
            .with_context(|| format!("loading {}", dir.weights(g).display()))?;
        let mut opt = AdamW::new(&net.vs, cfg.weight_decay);
        opt.load(&dir.optim(g))?;
        println!(
            "resuming at epoch {} batch {} (step {})",
            state.epoch + 1,
            state.batch,
            opt.step
        );
        return run_epochs(cfg, dir, contract, net, opt, state, data);
    }
    if let Some(init) = &cfg.init {
        if init.extension().is_some_and(|e| e == "onnx") {
            let (n, total) = crate::export::init_from_onnx(&net, init)?;
            if n == total {
                println!("initialised all {n} layers from {}", init.display());
            } else {
                println!(
                    "initialised the first {n} of {total} layers from {} (the rest are new)",
                    init.display()
                );
            }
        } else {
            net.vs
                .load(init)
                .with_context(|| format!("loading initial weights {}", init.display()))?;
        }
    }
    let opt = AdamW::new(&net.vs, cfg.weight_decay);
    write_atomic(
        &dir.config(),
        serde_json::to_string_pretty(&cfg)?.as_bytes(),
    )?;
    std::fs::write(dir.metrics(), format!("{METRICS_HEADER}\n"))?;
    if !data.skipped.is_empty() {
        let mut s = String::new();
        for k in &data.skipped {
            s += &format!("{}\t{}\n", k.path.display(), k.reason);
        }
        std::fs::write(dir.0.join("skipped.tsv"), s)?;
    }
    println!(
        "{} with {} parameters on {:?}; run folder {}",
        arch,
        net.num_params(),
        device,
        dir.0.display()
    );
    run_epochs(cfg, dir, contract, net, opt, RunState::default(), data)
}

/// The epoch order: each face `floor(w)` times plus once more with probability `frac(w)`.
fn epoch_order(weights: &[f32], seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = Rng::for_sample(seed ^ 0x000D_DE12, epoch, u64::MAX);
    let mut order = Vec::new();
    for (i, &w) in weights.iter().enumerate() {
        let whole = w.floor() as usize;
        for _ in 0..whole {
            order.push(i);
        }
        if rng.chance(w - whole as f32) {
            order.push(i);
        }
    }
    rng.shuffle(&mut order);
    order
}

/// How one epoch's training loop ended.
enum EpochEnd {
    /// All batches done.
    Done { seen: usize, wait: f64, lr: f64 },
    /// Ctrl-C or --max-steps: the checkpoint is written, the run ends here.
    Stopped,
}

/// Everything an epoch needs that does not change between epochs.
struct Fixed<'a> {
    cfg: &'a TrainConfig,
    dir: &'a RunDir,
    contract: &'a ModelContract,
    mirror: Arc<Vec<usize>>,
    faces: Arc<Vec<Face>>,
    val: &'a [Face],
    weights: &'a [f32],
}

fn run_epochs(
    cfg: TrainConfig,
    dir: RunDir,
    contract: ModelContract,
    net: Net,
    mut opt: AdamW,
    mut state: RunState,
    data: TrainData,
) -> Result<()> {
    let mut metrics_rows: Vec<EpochMetrics> = std::fs::read_to_string(dir.metrics())
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(EpochMetrics::parse)
        .collect();
    let fixed = Fixed {
        cfg: &cfg,
        dir: &dir,
        contract: &contract,
        mirror: Arc::new(contract.point_set.mirror()),
        faces: Arc::new(data.train),
        val: &data.val,
        weights: &data.train_weight,
    };
    let mut validated = false;
    while state.epoch < cfg.epochs {
        let t_epoch = Instant::now();
        let (seen, wait, lr) = match train_epoch(&fixed, &net, &mut opt, &mut state, t_epoch)? {
            EpochEnd::Done { seen, wait, lr } => (seen, wait, lr),
            EpochEnd::Stopped => return Ok(()),
        };
        let secs = t_epoch.elapsed().as_secs_f64();
        let row = end_epoch(&fixed, &net, &opt, &mut state, seen, wait, lr, secs)?;
        metrics_rows.push(row);
        let _ = loss_plot(&dir.0.join("loss.png"), &metrics_rows);
        validated = !fixed.val.is_empty();
    }
    final_report(&fixed, net, &state, validated)
}

/// Train one epoch (or its rest, after a resume) on batches from the loader.
fn train_epoch(
    f: &Fixed,
    net: &Net,
    opt: &mut AdamW,
    state: &mut RunState,
    t_epoch: Instant,
) -> Result<EpochEnd> {
    let (cfg, contract) = (f.cfg, f.contract);
    let epoch = state.epoch;
    let dev = net.vs.device();
    let half = contract.input_width as f64 / 2.0;
    let order = Arc::new(epoch_order(f.weights, cfg.seed, epoch as u64));
    let loop_crops = if cfg.closed_loop > 0.0 {
        let plan = crate::closed_loop::plan(
            net,
            &f.faces,
            &order,
            state.batch * cfg.batch_size,
            contract,
            &cfg.augment,
            cfg.closed_loop,
            cfg.seed,
            epoch as u64,
            64,
        )?;
        println!(
            "epoch {}: {} crops from the model's own first-pass points ({} predicted, their NME {:.2} %; {} off by over {} % kept their usual crop; {:.1} s)",
            epoch + 1,
            plan.count,
            plan.predicted,
            100.0 * plan.first_pass_nme,
            plan.predicted - plan.count,
            100.0 * crate::closed_loop::LOST_NME,
            plan.seconds
        );
        plan.crops
    } else {
        Vec::new()
    };
    let mut loader = EpochLoader::start(
        f.faces.clone(),
        order.clone(),
        cfg.batch_size,
        state.batch,
        contract.clone(),
        f.mirror.clone(),
        cfg.augment,
        cfg.seed,
        epoch as u64,
        Arc::new(loop_crops),
        cfg.workers,
        4,
    );
    let total = loader.total();
    if total == 0 {
        bail!(
            "fewer training faces ({}) than one batch ({})",
            order.len(),
            cfg.batch_size
        );
    }
    let pb = indicatif::ProgressBar::new(total as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_prefix(format!("{}/{}", epoch + 1, cfg.epochs));
    pb.set_position(state.batch as u64);
    let mut seen = 0usize;
    let mut wait = 0.0f64;
    let mut lr = 0.0;
    loop {
        let tw = Instant::now();
        let Some(b) = loader.next_batch()? else {
            break;
        };
        wait += tw.elapsed().as_secs_f64();
        let epoch_f = epoch as f64 + state.batch as f64 / total as f64;
        lr = lr_at(cfg, epoch_f);
        let x = Tensor::from_slice(&b.input)
            .view([
                b.n as i64,
                1,
                contract.input_height as i64,
                contract.input_width as i64,
            ])
            .to_device(dev);
        let t = Tensor::from_slice(&b.target)
            .view([b.n as i64, contract.output_len() as i64])
            .to_device(dev);
        let y = net.forward_t(&x, true);
        let loss = batch_loss(net, cfg.loss, &y, &t, half);
        opt.zero_grad();
        loss.backward();
        opt.step(lr);
        let lv = loss.double_value(&[]);
        if !lv.is_finite() {
            bail!(
                "the training loss became {lv} at epoch {} batch {}; lower --lr",
                epoch + 1,
                state.batch
            );
        }
        state.epoch_loss_sum += lv;
        state.batch += 1;
        state.steps += 1;
        seen += b.n;
        let rate = seen as f64 / t_epoch.elapsed().as_secs_f64().max(1e-9);
        pb.set_position(state.batch as u64);
        pb.set_message(format!(
            "loss {:.4} lr {lr:.2e} {rate:.0} img/s",
            state.epoch_loss_sum / state.batch as f64
        ));
        let step_limit = cfg.max_steps.is_some_and(|m| state.steps >= m);
        if STOP.load(Ordering::SeqCst) || step_limit {
            pb.abandon();
            state.seconds += t_epoch.elapsed().as_secs_f64();
            save_checkpoint(f.dir, net, opt, state)?;
            if step_limit {
                println!(
                    "stopped after {} steps (--max-steps); checkpoint written",
                    state.steps
                );
                export_final(f.dir, net, contract, f.val)?;
            } else {
                println!("interrupted: checkpoint written at epoch {} batch {}; continue with --resume {}", epoch + 1, state.batch, f.dir.0.display());
            }
            return Ok(EpochEnd::Stopped);
        }
    }
    drop(loader);
    pb.finish_and_clear();
    Ok(EpochEnd::Done { seen, wait, lr })
}

/// After an epoch's batches: batch-norm recalibration, validation, the metrics row, the
/// best weights, the checkpoint and the snapshot.
#[allow(clippy::too_many_arguments)]
fn end_epoch(
    f: &Fixed,
    net: &Net,
    opt: &AdamW,
    state: &mut RunState,
    seen: usize,
    wait: f64,
    lr: f64,
    secs: f64,
) -> Result<EpochMetrics> {
    let (cfg, contract, dir) = (f.cfg, f.contract, f.dir);
    let epoch = state.epoch;
    let train_loss = state.epoch_loss_sum / state.batch.max(1) as f64;
    recalibrate(net, &f.faces, contract, cfg.batch_size, cfg.seed);
    let v = if f.val.is_empty() {
        None
    } else {
        Some(validate(
            net,
            f.val,
            contract,
            cfg.loss,
            cfg.batch_size.max(32),
        )?)
    };
    let row = EpochMetrics {
        epoch: epoch + 1,
        train_loss,
        val_loss: v.as_ref().map(|v| v.loss).unwrap_or(f64::NAN),
        val_nme: v.as_ref().map(|v| mean(&v.nme)).unwrap_or(f64::NAN),
        val_px: v.as_ref().map(|v| mean(&v.px)).unwrap_or(f64::NAN),
        lr,
        seconds: secs,
        samples_per_s: seen as f64 / secs.max(1e-9),
    };
    println!(
        "epoch {:>3}/{}: train loss {:.5}  val loss {:.5}  {}val error {:.2} px  lr {:.2e}  {:.0} s  {:.1} img/s (waited {:.1} s for data)",
        row.epoch,
        cfg.epochs,
        row.train_loss,
        row.val_loss,
        if row.val_nme.is_finite() { format!("val NME {:.2}%  ", row.val_nme * 100.0) } else { String::new() },
        row.val_px,
        row.lr,
        secs,
        row.samples_per_s,
        wait
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.metrics())?;
    writeln!(file, "{}", row.csv_row())?;
    file.flush()?;
    let score = if row.val_nme.is_finite() {
        row.val_nme
    } else {
        row.val_px
    };
    let improved = score.is_finite() && state.best_val_nme.is_none_or(|b| score < b);
    state.epoch += 1;
    state.batch = 0;
    state.epoch_loss_sum = 0.0;
    state.seconds += secs;
    if improved {
        state.best_val_nme = Some(score);
        state.best_epoch = Some(epoch + 1);
        save_vs_atomic(net, &dir.best())?;
    }
    save_checkpoint(dir, net, opt, state)?;
    if cfg.snapshots {
        let p = dir.snapshot(epoch + 1);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        save_vs_atomic(net, &p)?;
    }
    Ok(row)
}

/// After the last epoch: the best weights, their validation figures and pictures, and
/// the export.
fn final_report(f: &Fixed, mut net: Net, state: &RunState, validated: bool) -> Result<()> {
    let (cfg, contract, dir, val) = (f.cfg, f.contract, f.dir, f.val);
    if dir.best().exists() {
        net.vs.load(dir.best())?;
    }
    let v = if validated && !val.is_empty() {
        Some(validate(
            &net,
            val,
            contract,
            cfg.loss,
            cfg.batch_size.max(32),
        )?)
    } else {
        None
    };
    if let Some(v) = &v {
        best_worst_grid(&dir.0.join("val_best_worst.png"), val, v, contract)?;
        let s = metrics::summarise(&v.nme);
        if v.nme.is_empty() {
            let (sx, sy) = (contract.input_width as f64, contract.input_height as f64);
            let (ow, oh) = (
                val[0].image.width() as f64 * val[0].to_original as f64,
                val[0].image.height() as f64 * val[0].to_original as f64,
            );
            let k = (sx / ow.max(1.0) + sy / oh.max(1.0)) / 2.0;
            println!(
                "best epoch {}: mean error {:.2} px in the original images, {:.2} px at the {}x{} input",
                state.best_epoch.unwrap_or(0),
                mean(&v.px),
                mean(&v.px) * k,
                contract.input_width,
                contract.input_height
            );
        } else {
            println!(
            "best epoch {}: validation NME mean {:.2}% median {:.2}% FR@0.08 {:.1}% AUC@0.08 {:.3}; mean error {:.2} px",
            state.best_epoch.unwrap_or(0),
            s.mean * 100.0,
            s.median * 100.0,
            s.fr_008 * 100.0,
            s.auc_008,
            mean(&v.px)
        );
        }
    }
    export_final(dir, &net, contract, val)?;
    println!(
        "trained {} epochs in {:.0} s; model: {}",
        cfg.epochs,
        state.seconds,
        dir.onnx().display()
    );
    Ok(())
}

/// Export `model.onnx`, check it against the tch forward, draw the filters.
fn export_final(dir: &RunDir, net: &Net, contract: &ModelContract, val: &[Face]) -> Result<()> {
    export_checked(&dir.onnx(), net, contract, val)?;
    if let Some(w) = net.first_conv_weights() {
        let _ = filters_png(&dir.0.join("filters.png"), &w);
    }
    Ok(())
}

/// Write `net` as ONNX to `path` after checking ONNX Runtime's output against the tch
/// forward on validation crops (noise when there are none).
fn export_checked(path: &Path, net: &Net, contract: &ModelContract, val: &[Face]) -> Result<()> {
    let bytes = to_bytes(net, contract)?;
    // check on real validation crops when there are some, else on noise
    let input = if val.is_empty() {
        Tensor::randn(
            [
                2,
                1,
                contract.input_height as i64,
                contract.input_width as i64,
            ],
            (Kind::Float, tch::Device::Cpu),
        )
    } else {
        let n = val.len().min(4);
        let idx: Vec<usize> = (0..n).collect();
        let b = build_batch(
            val,
            &idx,
            contract,
            &[],
            &val_augment(),
            VAL_SEED,
            0,
            0,
            &[],
        );
        Tensor::from_slice(&b.input).view([
            n as i64,
            1,
            contract.input_height as i64,
            contract.input_width as i64,
        ])
    };
    let chk = check_export(net, &bytes, &input)?;
    let tol = 1e-3 * chk.output_range.max(1e-3);
    if chk.max_abs_diff > tol {
        bail!(
            "export check failed: ONNX Runtime differs from tch by {} (output range {})",
            chk.max_abs_diff,
            chk.output_range
        );
    }
    write_atomic(path, &bytes)?;
    println!(
        "exported {} (ONNX Runtime vs tch: max difference {:.2e} over a range of {:.2})",
        path.display(),
        chk.max_abs_diff,
        chk.output_range
    );
    Ok(())
}

/// The snapshots a run kept (`snapshots/epoch-N.ot`), oldest first.
pub fn snapshots(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let folder = dir.join("snapshots");
    let entries = std::fs::read_dir(&folder).with_context(|| {
        format!(
            "{} has no snapshots (train with --snapshots to keep each epoch's weights)",
            dir.display()
        )
    })?;
    let mut v = Vec::new();
    for e in entries {
        let path = e?.path();
        let epoch = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("epoch-"))
            .and_then(|n| n.strip_suffix(".ot"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(epoch) = epoch {
            v.push((epoch, path));
        }
    }
    v.sort();
    Ok(v)
}

/// Weight averaging (stochastic weight averaging, Izmailov et al. 2018): the mean of
/// several weight files of one run, with batch-norm statistics re-estimated for the mean
/// weights. Each input and the average are validated on the run's held-out faces; the
/// average is saved next to `out` (`.ot`) and exported to `out` (ONNX, checked).
pub fn average(dir: &Path, weights: &[PathBuf], out: &Path) -> Result<()> {
    if weights.len() < 2 {
        bail!(
            "averaging needs at least two weight files (got {})",
            weights.len()
        );
    }
    let cfg = read_config(dir)?;
    let contract = cfg.contract()?;
    if cfg.threads > 0 {
        tch::set_num_threads(cfg.threads.min(MAX_THREADS) as i32);
    }
    let data = load_run_data(&cfg)?;
    let mut net = Net::new(
        cfg.arch()?,
        cfg.input_width as i64,
        cfg.input_height as i64,
        contract.num_points() as i64,
        tch::Device::Cpu,
    );
    let batch = cfg.batch_size.max(32);
    let report = |name: &str, net: &Net| -> Result<()> {
        if data.val.is_empty() {
            return Ok(());
        }
        let v = validate(net, &data.val, &contract, cfg.loss, batch)?;
        if v.nme.is_empty() {
            println!("{name}: mean error {:.2} px", mean(&v.px));
        } else {
            let s = metrics::summarise(&v.nme);
            println!(
                "{name}: validation NME mean {:.2}% median {:.2}%; mean error {:.2} px",
                s.mean * 100.0,
                s.median * 100.0,
                mean(&v.px)
            );
        }
        Ok(())
    };
    let mut sums: std::collections::BTreeMap<String, Tensor> = Default::default();
    for w in weights {
        net.vs
            .load(w)
            .with_context(|| format!("loading {}", w.display()))?;
        report(&w.display().to_string(), &net)?;
        for (name, t) in net.vs.variables() {
            let t = t.detach().to_kind(Kind::Double);
            match sums.get_mut(&name) {
                Some(s) => *s += t,
                None => {
                    sums.insert(name, t);
                }
            }
        }
    }
    let n = weights.len() as f64;
    tch::no_grad(|| {
        for (name, var) in net.vs.variables() {
            if let Some(s) = sums.get(&name) {
                var.shallow_clone().copy_(&(s / n).to_kind(var.kind()));
            }
        }
    });
    recalibrate(&net, &data.train, &contract, cfg.batch_size, cfg.seed);
    report(&format!("average of {} weight files", weights.len()), &net)?;
    let ot = out.with_extension("ot");
    save_vs_atomic(&net, &ot)?;
    println!("wrote {}", ot.display());
    export_checked(out, &net, &contract, &data.val)
}
