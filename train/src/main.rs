//! `train`: train, evaluate and export facetrack's landmark networks with libtorch.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use ftrain::augment::{make_pair, Augment, Rng};
use ftrain::data::{prepare, DataSpec};
use ftrain::pack::PackOptions;
use ftrain::run::{read_config, train, LossKind, Schedule, TrainConfig, STOP};

#[derive(Parser)]
#[command(
    name = "train",
    version,
    about = "Train facetrack's landmark networks (tch/libtorch) and export them to ONNX"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a network (or continue one with --resume RUN_DIR).
    Fit(Box<FitArgs>),
    /// Write a grid of augmented training samples with their points, to check them by eye.
    Preview(PreviewArgs),
    /// Export a run's best (or last) weights to ONNX.
    Export(ExportArgs),
    /// Average several weight files of one run (e.g. its last snapshots), re-estimate
    /// batch norm, validate and export.
    Average(AverageArgs),
    /// Cut a dataset into a small pack (gray JPEG crops with room for augmentation, the
    /// test split left out) that `--data FILE.ftpack` reads: for a GPU machine.
    Pack(PackArgs),
    /// Write a weight file in half precision (to carry it) or back in single precision.
    Weights(WeightsArgs),
    /// Measure how many training images a second the data loader makes (no training).
    LoaderBench(LoaderBenchArgs),
}

#[derive(Args)]
struct LoaderBenchArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Worker threads (several counts: 1,2,4).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    workers: Vec<usize>,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Seconds to measure each worker count.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
}

#[derive(Args)]
struct PackArgs {
    /// The dataset (a folder of .pts with images, an IMM folder, a dlib XML or a CSV).
    data: PathBuf,
    /// The pack to write (default packs/<name>.ftpack; `packs/` is ignored by git).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Pixels across the default model's crop; larger faces are reduced to it.
    #[arg(long, default_value_t = PackOptions::default().crop_px)]
    crop_px: u32,
    /// Half the side of the cut square, in crop sides (room for rotation and scale).
    #[arg(long, default_value_t = PackOptions::default().margin)]
    margin: f32,
    /// JPEG quality, 1 to 100.
    #[arg(long, default_value_t = PackOptions::default().quality)]
    quality: u8,
    /// Label files are 0-based (dlib/OpenCV) rather than 1-based (iBUG, ../shared/data).
    #[arg(long)]
    zero_based: bool,
    /// Pack at most this many faces.
    #[arg(long)]
    max_faces: Option<usize>,
    /// Also measure this resnet18-pip ONNX model's validation NME on the pack against the
    /// original images (e.g. models/facetrack68-fp32.onnx).
    #[arg(long, value_name = "MODEL")]
    check_model: Option<PathBuf>,
    /// Replace the output if it exists (never a file of the dataset).
    #[arg(long, short = 'y')]
    overwrite: bool,
}

#[derive(Args)]
struct WeightsArgs {
    /// A weight file (.ot: a run's best.ot, checkpoint or snapshot).
    input: PathBuf,
    /// The file to write.
    output: PathBuf,
    /// f16 (half the size; weights to carry) or f32 (to train, average or export again).
    #[arg(long, value_parser = ["f16", "f32"])]
    to: String,
    /// Replace the output if it exists.
    #[arg(long, short = 'y')]
    overwrite: bool,
}

/// Ready-made settings for the three networks of the original work.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Preset {
    /// Nose tip on IMM at 80x60 (nosenet).
    Nose,
    /// 58 IMM points at 240x180 (facenet).
    Imm58,
    /// 68 iBUG points, ResNet18 at 112x112 (direct regression, face-box crop).
    Ibug68,
    /// 68 iBUG points, ResNet18 trunk to stride 16 with a pixel-in-pixel heat-map head at
    /// 112x112, aligned crop (the default model's recipe).
    Ibug68Pip,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Dataset: a folder of .pts (+images), an IMM folder, a dlib XML or a CSV; `PATH@WEIGHT` sets its share per epoch.
    #[arg(long = "data", value_name = "PATH[@WEIGHT]")]
    data: Vec<String>,
    /// Extra training-only data (no validation split), e.g. machine-made labels.
    #[arg(long = "extra", value_name = "PATH[@WEIGHT]")]
    extra: Vec<String>,
    /// Label files are 0-based (dlib/OpenCV) rather than 1-based (iBUG, ../shared/data).
    #[arg(long)]
    zero_based: bool,
    /// Use at most this many faces of each dataset (quick runs).
    #[arg(long)]
    max_per_source: Option<usize>,
}

#[derive(Args)]
struct FitArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Start from a preset (architecture, points, input size, augmentation, schedule).
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Point set: ibug68, imm58 or nose1.
    #[arg(long)]
    points: Option<String>,
    /// Architecture: nosenet, facenet, resnet18, resnet18-pip, resnet18-pip-slim (half the
    /// channels inside each residual block; tools/prune.py cuts a trained model down to it)
    /// or resnet18-pip-lean34 / -lean12 / -lean1 (the same in layer3 and layer4 only, in
    /// layer1 and layer2 only, or in layer1 only; prune.py --stages 3,4, 1,2 or 1).
    #[arg(long)]
    arch: Option<String>,
    /// Crop rule: face_box, aligned or full_frame (default: the architecture's).
    #[arg(long)]
    crop_mode: Option<String>,
    /// Pose-balanced sampling: 0 (off) to 1 (each head-turn bin as often as the others).
    #[arg(long, default_value_t = 0.0)]
    pose_balance: f32,
    /// Share of samples cropped from the network's own prediction of the face (closed-loop
    /// crops, planned at the start of each epoch with the weights of that moment): 0 to 1.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    closed_loop: f32,
    /// Input size WxH (or one number for a square).
    #[arg(long)]
    input: Option<String>,
    /// Crop side over the landmark box's longer side (preset default: 1.5; 1.6 for the
    /// aligned crop).
    #[arg(long)]
    crop_scale: Option<f32>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size, 2 or more (preset default: 8 for the IMM networks, 32 for ResNet-18).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=65536))]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long, value_enum)]
    schedule: Option<Schedule>,
    /// Epochs of linear warm-up from a tenth of --lr to --lr (at most --epochs).
    #[arg(long, default_value_t = 1)]
    warmup_epochs: usize,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    #[arg(long, value_enum)]
    loss: Option<LossKind>,
    /// Turn augmentation off.
    #[arg(long)]
    no_augment: bool,
    /// Keep the other augmentation but never mirror a sample. Mirroring makes the model
    /// place points symmetrically; labels whose convention is not mirror-symmetric (the
    /// 300-W labels sit right of that, see models/MODEL_CARD.md) are only learnt without it.
    #[arg(long)]
    no_flip: bool,
    /// Mirror samples about the labels' own convention: they sit PX image pixels right of
    /// the mirror-symmetric place (see `Augment::flip_offset_px`). 0: plain mirroring.
    #[arg(
        long,
        value_name = "PX",
        default_value_t = 0.0,
        conflicts_with = "no_flip"
    )]
    flip_offset: f32,
    /// Rotation augmentation in degrees (uniform ±; preset default: 25 for 68 points, 10 for IMM).
    #[arg(long, value_name = "DEG")]
    rotate: Option<f32>,
    /// Share of samples cropped with a detector-like box (3× the tracking box error; preset default 0.25 for 68 points).
    #[arg(long, value_name = "P")]
    detector_box: Option<f32>,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "auto", value_parser = ["cpu", "cuda", "auto"])]
    device: String,
    /// libtorch threads (0 = its default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Data-loading worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of subjects held out for validation (68-point sets; IMM splits by person).
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f32,
    /// Start from these weights: a run's best.ot or checkpoint-N.ot of the same
    /// architecture, or a facetrack .onnx model whose first layers match (they are
    /// copied up to the first layer that differs).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Stop after this many optimiser steps and export (smoke tests).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=u32::MAX as u64))]
    max_steps: Option<usize>,
    /// Keep each epoch's weights in RUN/snapshots/epoch-N.ot, for `train average`.
    #[arg(long)]
    snapshots: bool,
    /// Quantization-aware fine-tuning (with --init): the values the INT8 model holds are
    /// rounded to 8 bits in training, ranges calibrated on training crops at the start.
    #[arg(long, requires = "init")]
    fake_quant: bool,
    /// With --fake-quant: add uniform noise of one rounding step to each 8-bit value in
    /// training instead of rounding it (validation still rounds).
    #[arg(long, requires = "fake_quant")]
    quant_noise: bool,
    /// Weight of a consistency loss between two training passes of each batch (PIP
    /// networks, with --quant-noise, so that the two passes draw different noise): the
    /// difference of their score maps and of their offsets at the true cells. 0: one pass.
    #[arg(long, default_value_t = 0.0)]
    consistency: f64,
    /// Wall-clock seconds for the whole run: after the first epoch the epochs are lowered
    /// to what fits (the schedule ends with the time), and training stops in time to
    /// validate and write the weights (`--epochs` is then a maximum).
    #[arg(long, value_name = "SECONDS")]
    time_budget_s: Option<f64>,
    /// Leave out the ONNX export at the end (it needs ONNX Runtime); `train export` or
    /// `train average` makes it later.
    #[arg(long)]
    no_export: bool,
    /// Distil from this float resnet18-pip model (e.g. models/facetrack68-fp32.onnx; its
    /// contract, input and crop rule included, must be the run's: --preset ibug68-pip):
    /// the network also learns the teacher's score maps and its offsets at the true cells
    /// on every training batch.
    #[arg(long, value_name = "MODEL")]
    teacher: Option<PathBuf>,
    /// Weight of the distillation loss (with --teacher).
    #[arg(long, default_value_t = 1.0, requires = "teacher")]
    distill: f64,
    /// Distil the teacher's mirror-averaged maps (its maps of each crop and of the crop's
    /// mirror image, averaged as `facetrack eval --flip` averages points): the teacher
    /// runs on twice the batch. The teacher's label offset (facetrack.flip_offset_px) must be the
    /// run's --flip-offset.
    #[arg(long, requires = "teacher")]
    teacher_flip: bool,
    /// PIP networks: also train each point's offsets (its own and its neighbours') on the
    /// cells up to R cells around its cell, and decode with the votes of all of them
    /// (one forward pass; the model's file says so, `facetrack.pip_window`). 0: the
    /// point's cell alone, as PIPNet.
    #[arg(long, default_value_t = 0, value_name = "R")]
    offset_window: u32,
    /// With --offset-window: the weight of the other cells' votes when decoding (the
    /// best cell's is 1).
    #[arg(long, default_value_t = 1.0, value_name = "W")]
    window_weight: f32,
    /// Run folder (created); default runs/<arch>-<time>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint (its config.json holds
    /// the settings; --epochs and --snapshots may be changed, and are written back to
    /// it; --max-steps and --time-budget-s limit this sitting only).
    /// (The run's own settings are kept: options that would change what it learns are
    /// refused with it; --epochs, --max-steps, --time-budget-s, --snapshots and
    /// --no-export may be given.)
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = [
        "preset", "out", "teacher", "distill", "teacher_flip", "data", "extra", "zero_based",
        "max_per_source", "points", "arch", "crop_mode", "pose_balance", "closed_loop", "input",
        "crop_scale", "batch_size", "lr", "schedule", "warmup_epochs", "weight_decay", "loss",
        "no_augment", "no_flip", "flip_offset", "rotate", "detector_box", "seed",
        "val_fraction", "init", "fake_quant", "quant_noise", "consistency", "device",
        "threads", "workers", "offset_window", "window_weight",
    ])]
    resume: Option<PathBuf>,
}

#[derive(Args)]
struct PreviewArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, value_enum, default_value = "ibug68")]
    preset: Preset,
    /// How many samples.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u16).range(1..=1000))]
    count: u16,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output PNG.
    #[arg(long, default_value = "augment_preview.png")]
    out: PathBuf,
    /// Replace the output if it exists.
    #[arg(long, short = 'y')]
    overwrite: bool,
}

#[derive(Args)]
struct AverageArgs {
    /// The run folder (its config and data are used to re-estimate batch norm and validate).
    run: PathBuf,
    /// Weight files to average (a run's best.ot, checkpoint-N.ot or snapshots).
    weights: Vec<PathBuf>,
    /// Average the run's last K snapshots (RUN/snapshots/epoch-N.ot) instead.
    #[arg(long, value_name = "K", conflicts_with = "weights")]
    last: Option<usize>,
    /// Output ONNX file; the averaged weights go beside it as .ot (default RUN/average.onnx).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the outputs (the ONNX file and its .ot) if they exist.
    #[arg(long, short = 'y')]
    overwrite: bool,
}

#[derive(Args)]
struct ExportArgs {
    /// The run folder.
    run: PathBuf,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
    /// Export the last checkpoint rather than the best.
    #[arg(long)]
    last: bool,
    /// Replace the output if it exists.
    #[arg(long, short = 'y')]
    overwrite: bool,
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = match s.split_once(['x', 'X']) {
        Some((w, h)) => (w.trim().parse()?, h.trim().parse()?),
        None => {
            let v: u32 = s.trim().parse()?;
            (v, v)
        }
    };
    Ok((w, h))
}

fn data_specs(d: &DataArgs) -> Result<Vec<DataSpec>> {
    let mut v = Vec::new();
    for s in &d.data {
        v.push(DataSpec::parse(s, false).map_err(anyhow::Error::msg)?);
    }
    for s in &d.extra {
        v.push(DataSpec::parse(s, true).map_err(anyhow::Error::msg)?);
    }
    if v.is_empty() {
        bail!("no data: give at least one --data PATH (e.g. --data ../shared/data/300w)");
    }
    Ok(v)
}

/// Settings of a preset.
struct PresetDefaults {
    arch: &'static str,
    crop_scale: f32,
    points: &'static str,
    input: (u32, u32),
    epochs: usize,
    batch: usize,
    lr: f64,
    schedule: Schedule,
    loss: LossKind,
    augment: Augment,
}

/// Crop scale of the aligned crop: at 1.6, 2.6 % of the 300-W training faces have a point
/// (a jaw end on a turned face) outside the crop (`examples/calibrate_crop.rs`).
const ALIGNED_CROP_SCALE: f32 = 1.6;

fn preset_defaults(p: Option<Preset>) -> PresetDefaults {
    match p {
        Some(Preset::Nose) => PresetDefaults {
            arch: "nosenet",
            crop_scale: facetrack::core::contract::DEFAULT_CROP_SCALE,
            points: "nose1",
            input: (80, 60),
            epochs: 60,
            batch: 8,
            lr: 1e-3,
            schedule: Schedule::Cosine,
            loss: LossKind::Mse,
            augment: Augment::full_frame(),
        },
        Some(Preset::Imm58) => PresetDefaults {
            arch: "facenet",
            crop_scale: facetrack::core::contract::DEFAULT_CROP_SCALE,
            points: "imm58",
            input: (240, 180),
            epochs: 60,
            batch: 8,
            lr: 1e-3,
            schedule: Schedule::Cosine,
            loss: LossKind::Mse,
            augment: Augment::full_frame(),
        },
        Some(Preset::Ibug68Pip) => PresetDefaults {
            arch: "resnet18-pip",
            crop_scale: ALIGNED_CROP_SCALE,
            points: "ibug68",
            input: (112, 112),
            epochs: 60,
            batch: 32,
            lr: 1e-3,
            schedule: Schedule::Cosine,
            loss: LossKind::L1,
            augment: Augment::standard(),
        },
        Some(Preset::Ibug68) | None => PresetDefaults {
            arch: "resnet18",
            crop_scale: facetrack::core::contract::DEFAULT_CROP_SCALE,
            points: "ibug68",
            input: (112, 112),
            epochs: 60,
            batch: 32,
            lr: 1e-3,
            schedule: Schedule::Cosine,
            loss: LossKind::Wing,
            augment: Augment::standard(),
        },
    }
}

fn fit(a: FitArgs) -> Result<()> {
    if let Some(dir) = a.resume {
        let mut cfg = read_config(&dir)?;
        let before = serde_json::to_string_pretty(&cfg)?;
        // --max-steps and --time-budget-s limit this sitting only: kept in config.json,
        // they ended every later resume after one step, or cut its schedule again
        cfg.max_steps = a.max_steps;
        cfg.time_budget_s = a.time_budget_s;
        if let Some(e) = a.epochs {
            cfg.epochs = e;
        }
        cfg.snapshots |= a.snapshots;
        cfg.no_export |= a.no_export;
        // (changed settings are written to config.json once the run has loaded: a
        // resume that fails leaves the run's files as they were)
        let changed = serde_json::to_string_pretty(&cfg)? != before;
        run_paths_here(&dir, &cfg)?;
        return ftrain::run::resume(cfg, dir, changed);
    }
    let p = preset_defaults(a.preset);
    let (w, h) = match &a.input {
        Some(s) => {
            let (w, h) = parse_size(s).with_context(|| format!("--input '{s}' is not WxH"))?;
            // (the contract's bounds, said as the option's)
            if !(8..=4096).contains(&w) || !(8..=4096).contains(&h) {
                bail!("--input {s}: 8 to 4096 pixels a side");
            }
            (w, h)
        }
        None => p.input,
    };
    // (said as the option: the contract's check names its own field)
    if let Some(c) = a.crop_scale {
        if !(c.is_finite() && (1.0..=4.0).contains(&c)) {
            bail!("--crop-scale {c}: 1 to 4 (the crop's side over the landmark box's longer side)");
        }
    }
    let cfg = TrainConfig {
        data: data_specs(&a.data)?,
        point_set: a.points.unwrap_or(p.points.into()),
        arch: a.arch.unwrap_or(p.arch.into()),
        input_width: w,
        input_height: h,
        crop_scale: a.crop_scale.unwrap_or(p.crop_scale),
        crop_mode: a.crop_mode,
        pose_balance: a.pose_balance,
        closed_loop: a.closed_loop,
        epochs: a.epochs.unwrap_or(p.epochs),
        batch_size: a.batch_size.unwrap_or(p.batch),
        lr: a.lr.unwrap_or(p.lr),
        schedule: a.schedule.unwrap_or(p.schedule),
        warmup_epochs: a.warmup_epochs,
        weight_decay: a.weight_decay,
        loss: a.loss.unwrap_or(p.loss),
        seed: a.seed,
        val_fraction: a.val_fraction,
        imm_split: None,
        augment: if a.no_augment {
            Augment::none()
        } else {
            let mut g = p.augment;
            if let Some(r) = a.rotate {
                if !(0.0..=90.0).contains(&r) {
                    bail!("--rotate {r}: expected 0 to 90 degrees");
                }
                g.rotate_deg = r;
            }
            if let Some(d) = a.detector_box {
                if !(0.0..=1.0).contains(&d) {
                    bail!("--detector-box {d}: expected a probability from 0 to 1");
                }
                g.detector_box = d;
            }
            if a.no_flip {
                g.flip = false;
            }
            if !(a.flip_offset.is_finite() && a.flip_offset.abs() <= 10.0) {
                bail!("--flip-offset {}: expected -10 to 10 pixels", a.flip_offset);
            }
            g.flip_offset_px = a.flip_offset;
            g
        },
        threads: a.threads,
        workers: a.workers.max(1),
        device: a.device,
        one_based: !a.data.zero_based,
        max_per_source: a.data.max_per_source,
        init: a.init,
        max_steps: a.max_steps,
        snapshots: a.snapshots,
        fake_quant: a.fake_quant,
        quant_noise: a.quant_noise,
        consistency: a.consistency,
        time_budget_s: a.time_budget_s,
        no_export: a.no_export,
        distill: if a.teacher.is_some() { a.distill } else { 0.0 },
        teacher: a.teacher,
        teacher_flip: a.teacher_flip,
        offset_window: a.offset_window,
        window_weight: a.window_weight,
    };
    cfg.check()?;
    // (a new run's only: a time budget may lower a run's epochs below its warm-up, and
    // such a run still resumes)
    if cfg.warmup_epochs > cfg.epochs {
        bail!(
            "--warmup-epochs {} is more than the run's {} epochs: the rate would never reach \
             its peak (--lr); give at most {1}",
            cfg.warmup_epochs,
            cfg.epochs
        );
    }
    let out = a.out.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        PathBuf::from(format!("runs/{}-{t}", cfg.arch))
    });
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {} is a file; name a folder for the run",
            out.display()
        );
    }
    // (a folder that holds a run is refused by `train` itself, under the folder's lock)
    check_fit_out(&out, &cfg)?;
    train(cfg, out, false)
}

/// The files a new run writes in its `--out` folder.
const RUN_WRITES: [&str; 8] = [
    "config.json",
    "metrics.csv",
    "state.json",
    "model.onnx",
    "skipped.tsv",
    "loss.png",
    "filters.png",
    "val_best_worst.png",
];

/// A new run's `--out`: not a dataset folder or inside one, and not a folder whose
/// files of those names are someone else's (a run stopped before its first checkpoint,
/// whose config.json reads as one, may start again there).
fn check_fit_out(out: &std::path::Path, cfg: &TrainConfig) -> Result<()> {
    for d in &cfg.data {
        if let files @ facetrack::data::datasets::DatasetFiles::Folder(_) =
            facetrack::data::datasets::dataset_files(&d.path)
        {
            if files.holds(out, true) {
                bail!(
                    "--out {} is inside the dataset folder {}; put the run elsewhere",
                    out.display(),
                    d.path.display()
                );
            }
        }
    }
    // a dataset file's own folder, or a folder of the images it names, is no run folder
    // either, nor any folder of labelled faces
    if let Ok(c) = out.canonicalize() {
        for d in &cfg.data {
            if let facetrack::data::datasets::DatasetFiles::Files(files) =
                facetrack::data::datasets::dataset_files(&d.path)
            {
                if files.iter().any(|f| f.parent() == Some(c.as_path())) {
                    bail!(
                        "--out {} holds files of the dataset {} (the file itself or images it \
                         names); put the run elsewhere",
                        out.display(),
                        d.path.display()
                    );
                }
            }
        }
        let labelled = std::fs::read_dir(&c).ok().and_then(|entries| {
            entries.flatten().map(|e| e.path()).find(|p| {
                p.is_file()
                    && p.extension().is_some_and(|e| {
                        e.eq_ignore_ascii_case("pts") || e.eq_ignore_ascii_case("asf")
                    })
            })
        });
        if let Some(l) = labelled {
            bail!(
                "--out {} holds labelled faces ({}): a dataset's folder; put the run elsewhere",
                out.display(),
                l.file_name().unwrap_or_default().to_string_lossy()
            );
        }
    }
    if out.is_dir() && read_config(out).is_err() {
        if let Some(name) = RUN_WRITES.iter().find(|n| out.join(n).exists()) {
            bail!(
                "--out {} holds {name}, which a run writes, but no run of the trainer (no config.json it can read); choose a new or empty folder",
                out.display()
            );
        }
    }
    Ok(())
}

fn preview(a: PreviewArgs) -> Result<()> {
    let PresetDefaults {
        arch,
        points,
        input: (w, h),
        augment,
        crop_scale,
        ..
    } = preset_defaults(Some(a.preset));
    let set: facetrack::PointSet = points.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut c = facetrack::ModelContract::face_box(set, w, arch);
    c.input_height = h;
    c.crop_scale = crop_scale;
    match a.preset {
        Preset::Ibug68 => {}
        Preset::Ibug68Pip => c.crop_mode = facetrack::core::contract::CropMode::Aligned,
        _ => c.crop_mode = facetrack::core::contract::CropMode::FullFrame,
    }
    let base = if a.data.zero_based {
        facetrack::data::datasets::CoordBase::ZeroBased
    } else {
        facetrack::data::datasets::CoordBase::OneBased
    };
    // the output is checked before the data is read: never a file of the datasets or of
    // a run, an existing file only with leave, and a PNG by name
    let specs = data_specs(&a.data)?;
    if !a
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        bail!(
            "--out {}: the preview is written as PNG: name it NAME.png",
            a.out.display()
        );
    }
    ftrain::checkpoint::check_output(&a.out, &[], true)?;
    let datasets: Vec<&std::path::Path> = specs.iter().map(|d| d.path.as_path()).collect();
    ftrain::checkpoint::check_replace(&a.out, a.overwrite, &datasets)?;
    let count = usize::from(a.count);
    let data = prepare(&specs, set, None, 0.0, a.seed, base, 2, Some(count * 4))?;
    let mirror = set.mirror();
    let mut cells = Vec::new();
    let norm = c.normalization;
    for k in 0..count {
        let face = &data.train[k % data.train.len()];
        let mut rng = Rng::for_sample(a.seed, 0, k as u64);
        let mut input = vec![0.0; c.input_len()];
        let mut target = vec![0.0; c.output_len()];
        make_pair(
            face,
            &c,
            &mirror,
            &augment,
            &mut rng,
            &mut input,
            &mut target,
        );
        cells.push(ftrain::report::GridFace {
            pixels: input
                .iter()
                .map(|v| ((v * norm.std + norm.mean) * 255.0).clamp(0.0, 255.0) as u8)
                .collect(),
            width: w,
            height: h,
            truth: target
                .chunks_exact(2)
                .map(|p| {
                    facetrack::Point::new(
                        (p[0] + 1.0) * w as f32 / 2.0 - 0.5,
                        (p[1] + 1.0) * h as f32 / 2.0 - 0.5,
                    )
                })
                .collect(),
            pred: Vec::new(),
            caption: format!("#{k}"),
        });
    }
    let (w, h, buf) =
        facetrack::report::face_grid(&cells, 6, 160).context("no training face to show")?;
    // written whole under a partial name first
    let p = facetrack::output::output_files::Pending::begin(&a.out);
    let written = p
        .create()
        .map_err(image::ImageError::IoError)
        .and_then(|f| facetrack::output::draw::write_png(f, w, h, &buf));
    if let Err(e) = written {
        p.discard();
        return Err(e).with_context(|| format!("writing {}", p.partial.display()));
    }
    p.commit()?;
    println!(
        "wrote {} ({} augmented samples; green = the target points)",
        a.out.display(),
        cells.len()
    );
    Ok(())
}

fn loader_bench(a: LoaderBenchArgs) -> Result<()> {
    let base = if a.data.zero_based {
        facetrack::data::datasets::CoordBase::ZeroBased
    } else {
        facetrack::data::datasets::CoordBase::OneBased
    };
    let specs = data_specs(&a.data)?;
    ftrain::commands::loader_bench_command(
        &specs,
        base,
        a.data.max_per_source,
        &a.workers,
        a.batch_size,
        a.seconds,
    )
}

fn average(a: AverageArgs) -> Result<()> {
    let weights: Vec<PathBuf> = match a.last {
        Some(k) => {
            let all = ftrain::run::snapshots(&a.run)?;
            if all.len() < k.max(2) {
                bail!(
                    "--last {k}: {} holds {} snapshots",
                    a.run.display(),
                    all.len()
                );
            }
            all[all.len() - k..]
                .iter()
                .map(|(_, p)| p.clone())
                .collect()
        }
        None => a.weights,
    };
    // every input there before any is read (a missing second file was found only after
    // the first had been loaded and validated)
    if let Some(w) = weights.iter().find(|w| !w.is_file()) {
        bail!("{}: no such weight file", w.display());
    }
    let out = a.out.unwrap_or_else(|| a.run.join("average.onnx"));
    // the averaged weights go beside the ONNX file, as NAME.ot
    let ot = out.with_extension("ot");
    if ot == out {
        bail!(
            "--out {}: the averaged weights go beside the model as NAME.ot, so the model cannot be NAME.ot itself; name it {}",
            out.display(),
            out.with_extension("onnx").display()
        );
    }
    // the run's model.onnx is its best epoch's export (`export` makes it again)
    if matches!(
        (out.canonicalize(), a.run.join("model.onnx").canonicalize()),
        (Ok(x), Ok(y)) if x == y
    ) {
        bail!(
            "--out {}: that is the run's export of its best epoch; name the average otherwise (by default RUN/average.onnx)",
            out.display()
        );
    }
    let inputs: Vec<&std::path::Path> = weights.iter().map(PathBuf::as_path).collect();
    ftrain::checkpoint::check_output(&out, &inputs, true)?;
    ftrain::checkpoint::check_output(&ot, &inputs, true)?;
    let datasets = run_datasets(&a.run);
    let datasets: Vec<&std::path::Path> = datasets.iter().map(PathBuf::as_path).collect();
    ftrain::checkpoint::check_replace(&out, a.overwrite, &datasets)?;
    ftrain::checkpoint::check_replace(&ot, a.overwrite, &datasets)?;
    // one file twice is a weighted mean, not the average of the epochs asked for
    for (i, w) in weights.iter().enumerate() {
        let same = |x: &PathBuf| match (x.canonicalize(), w.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => x == w,
        };
        if weights[..i].iter().any(same) {
            bail!(
                "{} is given twice; average distinct weight files",
                w.display()
            );
        }
    }
    if let Ok(cfg) = read_config(&a.run) {
        run_paths_here(&a.run, &cfg)?;
    }
    ftrain::run::average(&a.run, &weights, &out)
}

/// A run's datasets and teacher (its config.json's paths, as given when it started) are
/// there from the current folder: a relative path read from another folder is named as
/// such, not as a missing dataset.
fn run_paths_here(run: &std::path::Path, cfg: &TrainConfig) -> Result<()> {
    let paths = cfg.data.iter().map(|d| &d.path).chain(cfg.teacher.as_ref());
    for p in paths {
        if p.is_relative() && !p.exists() {
            bail!(
                "{} (in {}) is not there from this folder ({}): a run's paths are kept as they were given, so run this from the folder the run was started in",
                p.display(),
                run.join("config.json").display(),
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| "?".into())
            );
        }
    }
    Ok(())
}

/// The datasets a run reads (its config.json's), whose files no output may replace;
/// none when the run's configuration cannot be read (the command then says so itself).
fn run_datasets(run: &std::path::Path) -> Vec<PathBuf> {
    read_config(run)
        .map(|c| c.data.iter().map(|d| d.path.clone()).collect())
        .unwrap_or_default()
}

fn export(a: ExportArgs) -> Result<()> {
    let cfg = read_config(&a.run)?;
    let c = cfg.contract()?;
    let mut net = ftrain::net::Net::new(
        cfg.arch()?,
        cfg.input_width as i64,
        cfg.input_height as i64,
        c.num_points() as i64,
        tch::Device::Cpu,
    );
    let w = if a.last {
        ftrain::run::RunDir(a.run.clone())
            .last_weights()
            .with_context(|| format!("{} holds no checkpoint", a.run.display()))?
    } else {
        a.run.join("best.ot")
    };
    if !w.is_file() {
        bail!(
            "{} has no best.ot (a run stopped before its first epoch ended, one with no validation faces, or one stopped by --max-steps before one); export its last checkpoint with --last",
            a.run.display()
        );
    }
    ftrain::checkpoint::check_output(&a.out, &[w.as_path()], true)?;
    let datasets: Vec<&std::path::Path> = cfg.data.iter().map(|d| d.path.as_path()).collect();
    // the run's own model.onnx (its end's export) is re-exported without leave
    let own = matches!(
        (a.out.canonicalize(), a.run.join("model.onnx").canonicalize()),
        (Ok(x), Ok(y)) if x == y
    );
    ftrain::checkpoint::check_replace(&a.out, a.overwrite || own, &datasets)?;
    ftrain::checkpoint::check_extension(&a.out, "onnx", "export writes an ONNX model")?;
    net.load_weights(&w)?;
    let bytes = ftrain::export::to_bytes(&net, &c)?;
    let input = tch::Tensor::randn(
        [2, 1, c.input_height as i64, c.input_width as i64],
        (tch::Kind::Float, tch::Device::Cpu),
    );
    let chk = ftrain::export::check_export(&net, &bytes, &input)?;
    if chk.max_abs_diff > 1e-3 * chk.output_range.max(1e-3) {
        bail!(
            "export check failed: max difference {} over range {}",
            chk.max_abs_diff,
            chk.output_range
        );
    }
    ftrain::export::write_atomic(&a.out, &bytes)?;
    println!(
        "exported {} ({}; ONNX Runtime vs tch max difference {:.2e})",
        a.out.display(),
        c,
        chk.max_abs_diff
    );
    // a run stopped before its end (Ctrl-C): its weights so far, said as such
    let state = std::fs::read_to_string(ftrain::run::RunDir(a.run.clone()).state())
        .ok()
        .and_then(|t| serde_json::from_str::<ftrain::checkpoint::RunState>(&t).ok());
    if let Some(st) = state {
        let stopped_by_steps = cfg.max_steps.is_some_and(|m| st.steps >= m);
        if st.epoch < cfg.epochs && !stopped_by_steps {
            eprintln!(
                "note: {} is unfinished ({} of {} epochs; `train fit --resume {0}` continues it): {}",
                a.run.display(),
                st.epoch,
                cfg.epochs,
                match (a.last, st.best_epoch) {
                    (true, _) => "these are its last weights".to_string(),
                    (false, Some(e)) => format!("these are its best weights so far (epoch {e})"),
                    (false, None) => "these are its best weights so far".to_string(),
                }
            );
        }
    }
    Ok(())
}

/// libgomp reads OMP_WAIT_POLICY when it loads, before `main`: with it unset, idle OpenMP
/// threads spin and starve the data workers on a small machine. Re-run ourselves with a
/// passive policy unless the user chose one.
fn ensure_passive_openmp() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("OMP_WAIT_POLICY").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .exec();
    eprintln!("warning: could not set OMP_WAIT_POLICY ({err}); continuing");
}

fn main() {
    ensure_passive_openmp();
    let cli = Cli::parse();
    // only `fit` stops cleanly (a checkpoint); the other commands end at once on Ctrl-C,
    // as any program does
    if matches!(cli.cmd, Cmd::Fit(_)) {
        let first = std::sync::atomic::AtomicBool::new(false);
        let _ = ctrlc::set_handler(move || {
            if first.swap(true, std::sync::atomic::Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: exiting now");
                // at once, without running exit handlers: libtorch's threads are still
                // working, and its static destructors under them crashed the process
                // (the last whole checkpoint is on disk: checkpoints are renamed into
                // place)
                // SAFETY: _exit ends the process; nothing after it runs
                unsafe { libc::_exit(130) };
            }
            if ftrain::stop::TRAINING.load(std::sync::atomic::Ordering::SeqCst) {
                eprintln!("\nCtrl-C: finishing this batch and writing a checkpoint (Ctrl-C again to quit at once)");
            } else {
                eprintln!("\nCtrl-C: stopping before training begins; nothing is written");
            }
            STOP.store(true, std::sync::atomic::Ordering::SeqCst);
        });
    }
    let r = match cli.cmd {
        Cmd::Fit(a) => fit(*a),
        Cmd::Preview(a) => preview(a),
        Cmd::Export(a) => export(a),
        Cmd::Average(a) => average(a),
        Cmd::Pack(a) => ftrain::commands::pack_command(
            &a.data,
            a.out.as_deref(),
            a.overwrite,
            a.zero_based,
            &PackOptions {
                crop_px: a.crop_px,
                margin: a.margin,
                quality: a.quality,
            },
            a.max_faces,
            a.check_model.as_deref(),
        ),
        Cmd::LoaderBench(a) => loader_bench(a),
        Cmd::Weights(a) => ftrain::checkpoint::check_output(&a.output, &[a.input.as_path()], false)
            .and_then(|()| ftrain::checkpoint::check_not_run_state(&a.output))
            .and_then(|()| ftrain::checkpoint::check_replace(&a.output, a.overwrite, &[]))
            .and_then(|()| {
                ftrain::checkpoint::check_extension(&a.output, "ot", "weights writes tch weights")
            })
            .and_then(|()| ftrain::commands::convert_weights(&a.input, &a.output, &a.to)),
    };
    if let Err(e) = r {
        if let Some(nothing) = e.downcast_ref::<ftrain::stop::NothingWritten>() {
            eprintln!("{nothing}");
            std::process::exit(130);
        }
        eprintln!(
            "error: {}",
            without_stack_trace(&facetrack::errors::error_chain(e.as_ref()))
        );
        std::process::exit(1);
    }
    // a run stopped by Ctrl-C wrote its checkpoint, but it is not finished: scripts that
    // go on to export must not take it for a finished one
    if ftrain::run::STOPPED_EARLY.load(std::sync::atomic::Ordering::SeqCst) {
        std::process::exit(130);
    }
}

/// An error message without the C++ stack trace libtorch appends ("Exception raised
/// from ..." and its "frame #N" lines): what is wrong, in one or two lines.
fn without_stack_trace(msg: &str) -> String {
    let cut = ["Exception raised from", "frame #0"]
        .iter()
        .filter_map(|m| msg.find(m))
        .min()
        .unwrap_or(msg.len());
    msg[..cut].trim_end().to_string()
}
