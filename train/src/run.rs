//! A training run: the epoch loop (data, steps, closed-loop crops, the end of each epoch)
//! over the run's configuration ([`crate::config`]), checkpoints ([`crate::checkpoint`]),
//! validation ([`crate::infer`]) and final export ([`crate::finish`]).

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use facetrack::core::contract::ModelContract;
use facetrack::core::metrics;
use tch::Tensor;

use crate::augment::Rng;
use crate::data::{Face, TrainData};
use crate::export::write_atomic;
use crate::loader::EpochLoader;
use crate::net::Net;
use crate::optim::AdamW;
use crate::report::{loss_plot, EpochMetrics, METRICS_HEADER};

pub use crate::average::{average, snapshots};
use crate::checkpoint::*;
pub use crate::checkpoint::{RunDir, RunState};
use crate::config::*;
pub use crate::config::{pip_output, read_config, LossKind, Schedule, TrainConfig};
use crate::finish::*;
use crate::infer::*;
pub use crate::infer::{predict, recalibrate, val_augment, validate, ValResult};
use crate::schedule::*;
pub use crate::schedule::{batch_loss, loss_fn};

pub use crate::stop::{NothingWritten, STOP, STOPPED_EARLY, TRAINING};

/// Train (a new run, or resume one whose folder holds a checkpoint).
pub fn train(cfg: TrainConfig, dir: PathBuf, resume: bool) -> Result<()> {
    run_or_resume(cfg, dir, resume, false)
}

/// Resume the run in `dir` with `cfg`, its config.json's settings as the command changed
/// them (`changed`: written to config.json once the run has loaded).
pub fn resume(cfg: TrainConfig, dir: PathBuf, changed: bool) -> Result<()> {
    run_or_resume(cfg, dir, true, changed)
}

fn run_or_resume(cfg: TrainConfig, dir: PathBuf, resume: bool, changed: bool) -> Result<()> {
    let started = Instant::now();
    // the folders this run makes: a run that fails before writing anything (a missing
    // dataset, a teacher that does not fit) leaves none of them behind
    let made: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // a folder another run holds is left as it is: its lock file, and the folder itself
    // (made a moment ago by that run, perhaps)
    let held = RunDir(dir.clone()).lock()?;
    // (checked again under the lock: a run started beside this one may have finished
    // its first checkpoint since `fit` looked)
    let r = if !resume && RunDir(dir.clone()).holds_a_run() {
        Err(anyhow::anyhow!(
            "{} already holds a run (its state.json, best.ot or a checkpoint); continue it with --resume {0} or choose another --out",
            dir.display()
        ))
    } else {
        run_in(cfg, RunDir(dir.clone()), resume, changed, started)
    };
    if r.is_err() {
        // a run that wrote nothing leaves no lock file (removed while the lock is held),
        // and a folder it made goes with it
        if !RunDir(dir.clone()).config().exists() {
            let _ = std::fs::remove_file(RunDir(dir.clone()).lock_path());
        }
        // (deepest first; remove_dir removes only an empty folder)
        for d in &made {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
        }
    }
    drop(held);
    r
}

fn run_in(
    cfg: TrainConfig,
    dir: RunDir,
    resume: bool,
    changed: bool,
    started: Instant,
) -> Result<()> {
    let contract = cfg.contract()?;
    // a pack holds face crops: a model that sees the whole frame would learn on crops and
    // then meet whole frames (its validation figures then said nothing of the model)
    if contract.crop_mode == facetrack::core::contract::CropMode::FullFrame {
        if let Some(p) = cfg.data.iter().find(|d| crate::pack::is_pack(&d.path)) {
            bail!(
                "{} is a pack, which holds face crops; this model sees the whole frame (the \
                 nose and imm58 presets): train it on the dataset itself",
                p.path.display()
            );
        }
    }
    let set = contract.point_set;
    let arch = cfg.arch()?;
    let device = match cfg.device.as_str() {
        "cpu" => tch::Device::Cpu,
        "cuda" => {
            crate::cuda::load_torch_cuda(true)?;
            if !tch::Cuda::is_available() {
                bail!("--device cuda: this libtorch sees no CUDA device; use --device cpu, or build with LIBTORCH pointing at a CUDA build of torch 2.11.0");
            }
            tch::Device::Cuda(0)
        }
        _ => {
            let _ = crate::cuda::load_torch_cuda(false);
            tch::Device::cuda_if_available()
        }
    };
    if let tch::Device::Cuda(_) = device {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    if cfg.threads > 0 {
        tch::set_num_threads(cfg.threads.min(MAX_THREADS) as i32);
    }
    tch::manual_seed(cfg.seed as i64);
    let data = match load_run_data(&cfg) {
        // (a Ctrl-C stops the decoding between images)
        Err(_) if STOP.load(Ordering::SeqCst) => {
            STOPPED_EARLY.store(true, Ordering::SeqCst);
            return Err(NothingWritten.into());
        }
        r => r?,
    };
    let mut net = Net::new(
        arch,
        cfg.input_width as i64,
        cfg.input_height as i64,
        set.len() as i64,
        device,
    );
    net.use_window(&contract);
    // before anything is written: a teacher that does not fit stops the run here
    let teacher = load_teacher(&cfg, &contract, device)?;
    // a Ctrl-C while the data loaded: nothing written yet, nothing to resume
    if STOP.load(Ordering::SeqCst) {
        STOPPED_EARLY.store(true, Ordering::SeqCst);
        return Err(NothingWritten.into());
    }
    TRAINING.store(true, Ordering::SeqCst);
    if resume {
        // VarStore::load copies into the existing variables, which the layers share
        // state.json names the checkpoint generation it goes with
        let state_text = match std::fs::read_to_string(dir.state()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{} has no checkpoint to resume (no state.json: the run stopped before its first one was written whole); start it again with the same `train fit … --out {0}`",
                dir.0.display()
            ),
            r => r.with_context(|| format!("reading {}", dir.state().display()))?,
        };
        let mut state: RunState = serde_json::from_str(&state_text)
            .with_context(|| format!("reading {}", dir.state().display()))?;
        // the faces the run trained on, the same again
        let now = data_faces(&data);
        if !state.data_faces.is_empty() && state.data_faces != now {
            let changed: Vec<String> = data
                .per_source
                .iter()
                .zip(state.data_faces.iter().zip(&now))
                .filter(|(_, (was, is))| was != is)
                .map(|((p, ..), (was, is))| {
                    format!(
                        "{}: {} training and {} validation faces now, {} and {} when the run began",
                        p.display(),
                        is.0,
                        is.1,
                        was.0,
                        was.1
                    )
                })
                .collect();
            bail!(
                "the data differ from the run's ({}); a relative path read from another folder \
                 than the run's, or a dataset changed since: resume from the folder the run was \
                 started in, or start a new run",
                if changed.is_empty() {
                    "another number of datasets".to_string()
                } else {
                    changed.join("; ")
                }
            );
        }
        state.data_faces = now;
        let g = state.generation;
        net.load_weights(&dir.weights(g))?;
        // a kill between an epoch's checkpoint and its best weights: the checkpoint of a
        // best epoch's end is those weights
        // (missing, or older than that checkpoint: an earlier best epoch's; one written
        // since, as `train weights` restores a GPU run's, is kept)
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let stale = match (modified(&dir.best()), modified(&dir.weights(g))) {
            (None, _) => true,
            (Some(best), Some(ckpt)) => best < ckpt,
            (Some(_), None) => false,
        };
        if state.batch == 0 && state.epoch > 0 && state.best_epoch == Some(state.epoch) && stale {
            save_vs_atomic(&net, &dir.best())?;
        }
        let mut opt = AdamW::new(&net.vs, cfg.weight_decay);
        opt.load(&dir.optim(g))?;
        // limits that would end the run before it trains a step are refused, and the run's
        // files left as they were
        if cfg.epochs < state.epoch {
            bail!(
                "--epochs {} is below the {} epoch{} the run has done; give more to extend it",
                cfg.epochs,
                state.epoch,
                if state.epoch == 1 { "" } else { "s" }
            );
        }
        // (the count the stop rule reads)
        if let Some(m) = cfg.max_steps.filter(|&m| m <= state.steps) {
            bail!(
                "--max-steps {m} counts the run's steps from its start, and it has done {}; \
                 give more",
                state.steps
            );
        }
        // the settings the resume changed (--epochs, --max-steps, --time-budget-s, ...)
        // are kept only now that the run has loaded: a resume that fails leaves its files
        // as they were
        if changed {
            write_atomic(
                &dir.config(),
                serde_json::to_string_pretty(&cfg)?.as_bytes(),
            )?;
        }
        if state.epoch >= cfg.epochs {
            println!(
                "the run has done its {} epoch{}: nothing to train (give --epochs N to extend it){}",
                state.epoch,
                if state.epoch == 1 { "" } else { "s" },
                if cfg.no_export {
                    ""
                } else {
                    "; its best weights are exported again"
                }
            );
        } else {
            println!(
                "resuming at epoch {} batch {} (step {})",
                state.epoch + 1,
                state.batch,
                opt.step
            );
        }
        start_fake_quant(&mut net, &cfg, &data.train, &contract);
        return run_epochs(cfg, dir, contract, net, teacher, opt, state, data, started);
    }
    if let Some(init) = &cfg.init {
        if init
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        {
            let (n, total) = crate::export::init_from_onnx(&net, init)?;
            if n == 0 {
                bail!(
                    "--init {}: none of its layers fits this network's first layer (another preset or architecture?)",
                    init.display()
                );
            }
            if n == total {
                println!("initialised all {n} layers from {}", init.display());
            } else {
                println!(
                    "initialised the first {n} of {total} layers from {} (the rest are new)",
                    init.display()
                );
            }
        } else {
            net.load_weights(init)
                .context("loading the initial weights (--init)")?;
        }
    }
    start_fake_quant(&mut net, &cfg, &data.train, &contract);
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
    run_epochs(
        cfg,
        dir,
        contract,
        net,
        teacher,
        opt,
        RunState {
            data_faces: data_faces(&data),
            ..RunState::default()
        },
        data,
        started,
    )
}

/// Each dataset's training and validation faces ([`RunState::data_faces`]).
fn data_faces(data: &crate::data::TrainData) -> Vec<(usize, usize)> {
    data.per_source
        .iter()
        .map(|&(_, train, val, _)| (train, val))
        .collect()
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

/// Everything an epoch needs that does not change between epochs (but the number of
/// epochs, which a time budget may lower).
struct Fixed<'a> {
    cfg: TrainConfig,
    dir: &'a RunDir,
    contract: &'a ModelContract,
    mirror: Arc<Vec<usize>>,
    faces: Arc<Vec<Face>>,
    val: &'a [Face],
    weights: &'a [f32],
    /// When a `--time-budget-s` run must be done, and the seconds it keeps for the end
    /// (the last validation and the files): measured on the first end of an epoch.
    deadline: Option<Instant>,
    reserve: Cell<f64>,
    /// The float model distilled from (`--teacher`), on the training device.
    teacher: Option<Net>,
    /// With `--teacher-flip`: how its maps of mirror images read as maps of the crops.
    teacher_mirror: Option<crate::pip::MirrorMaps>,
}

impl Fixed<'_> {
    /// Is it time to stop training and finish (the reserve reached)?
    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| {
            d.saturating_duration_since(Instant::now()).as_secs_f64() < self.reserve.get()
        })
    }
}

/// With `--fake-quant`: calibrate the 8-bit ranges on training crops and round the
/// network's 8-bit values from now on ([`crate::qat`]).
fn start_fake_quant(
    net: &mut Net,
    cfg: &TrainConfig,
    faces: &[crate::data::Face],
    contract: &ModelContract,
) {
    if !cfg.fake_quant {
        return;
    }
    let batches = crate::infer::calibration_batches(faces, contract, cfg.batch_size, cfg.seed);
    let n = crate::qat::calibrate(net, &batches);
    net.quant_noise = cfg.quant_noise;
    println!(
        "quantization-aware: {n} values {} 8 bits (ranges at the {} percentile of {} training batches)",
        if cfg.quant_noise {
            "given noise of one step in training, rounded in validation, at"
        } else {
            "rounded to"
        },
        crate::qat::PERCENTILE,
        batches.len()
    );
}

#[allow(clippy::too_many_arguments)]
fn run_epochs(
    cfg: TrainConfig,
    dir: RunDir,
    contract: ModelContract,
    net: Net,
    teacher: Option<Net>,
    mut opt: AdamW,
    mut state: RunState,
    data: TrainData,
    started: Instant,
) -> Result<()> {
    let metrics_text = std::fs::read_to_string(dir.metrics()).unwrap_or_default();
    let mut metrics_rows: Vec<EpochMetrics> = metrics_text
        .lines()
        .skip(1)
        .filter_map(EpochMetrics::parse)
        .collect();
    // the rows of epochs after the checkpoint (a kill between an epoch's row and its
    // checkpoint) go: the epoch runs again and writes its row again; so does a row a kill
    // cut short (the next would be appended to it)
    let torn = !metrics_text.ends_with('\n')
        || metrics_text
            .lines()
            .skip(1)
            .any(|l| !l.trim().is_empty() && EpochMetrics::parse(l).is_none());
    if torn || metrics_rows.iter().any(|r| r.epoch > state.epoch) {
        metrics_rows.retain(|r| r.epoch <= state.epoch);
        let mut text = format!("{METRICS_HEADER}\n");
        for r in &metrics_rows {
            text += &format!("{}\n", r.csv_row());
        }
        write_atomic(&dir.metrics(), text.as_bytes())?;
    }
    let budget = cfg.time_budget_s;
    let mirror = Arc::new(contract.point_set.mirror());
    let teacher_mirror = match (&net.pip, cfg.teacher_flip) {
        (Some(spec), true) => {
            let mm = crate::pip::MirrorMaps::new(spec, &mirror)?;
            println!(
                "the teacher's maps are mirror-averaged ({:.1} % of the channels have a mirrored source)",
                100.0 * mm.coverage()
            );
            Some(mm)
        }
        _ => None,
    };
    let mut fixed = Fixed {
        cfg,
        dir: &dir,
        contract: &contract,
        mirror,
        faces: Arc::new(data.train),
        val: &data.val,
        weights: &data.train_weight,
        deadline: budget.map(|b| started + Duration::from_secs_f64(b)),
        // until an epoch's end is measured: a tenth of the budget, at most a minute
        reserve: Cell::new(budget.map_or(0.0, |b| (b / 10.0).min(60.0))),
        teacher,
        teacher_mirror,
    };
    if let Some(b) = budget {
        println!(
            "time budget {b:.0} s: training stops with {:.0} s left (re-measured after an epoch) to validate and write the weights",
            fixed.reserve.get()
        );
    }
    let mut validated = false;
    let mut spent = (0.0f64, 0usize); // seconds and epochs trained in this session
    while state.epoch < fixed.cfg.epochs {
        let t_epoch = Instant::now();
        let (seen, wait, lr) = match train_epoch(&fixed, &net, &mut opt, &mut state, t_epoch)? {
            EpochEnd::Done { seen, wait, lr } => (seen, wait, lr),
            EpochEnd::Stopped => return Ok(()),
        };
        let secs = t_epoch.elapsed().as_secs_f64();
        let t_end = Instant::now();
        let row = end_epoch(&fixed, &net, &opt, &mut state, seen, wait, lr, secs)?;
        metrics_rows.push(row);
        let _ = loss_plot(&dir.0.join("loss.png"), &metrics_rows);
        validated = !fixed.val.is_empty();
        if fixed.deadline.is_some() {
            let end_secs = t_end.elapsed().as_secs_f64();
            spent = (spent.0 + t_epoch.elapsed().as_secs_f64(), spent.1 + 1);
            fit_to_budget(&mut fixed, &state, end_secs, spent.0 / spent.1 as f64)?;
            if fixed.out_of_time() {
                break;
            }
        }
    }
    final_report(&fixed, net, &state, validated)
}

/// The `--teacher` model, read into a `resnet18-pip` network in evaluation mode: a float
/// facetrack PIP model whose contract (input, crop rule, normalisation, maps) is the
/// student's, so that its maps answer the same crops in the same layout.
fn load_teacher(
    cfg: &TrainConfig,
    contract: &ModelContract,
    device: tch::Device,
) -> Result<Option<Net>> {
    let Some(path) = &cfg.teacher else {
        return Ok(None);
    };
    let mut theirs = crate::export::contract_of_onnx(path)?;
    if theirs.architecture != crate::net::Arch::ResNet18Pip.name() {
        bail!(
            "teacher {}: a {} model; the teacher must be a full resnet18-pip model (e.g. models/facetrack68-fp32.onnx)",
            path.display(),
            if theirs.architecture.is_empty() { "unnamed" } else { &theirs.architecture }
        );
    }
    theirs.architecture = contract.architecture.clone();
    if cfg.teacher_flip && theirs.flip_offset_px != contract.flip_offset_px {
        bail!(
            "teacher {}: --teacher-flip needs the teacher's label offset ({} px, facetrack.flip_offset_px) to be the run's --flip-offset ({} px): its mirrored maps are moved back by it",
            path.display(),
            theirs.flip_offset_px,
            contract.flip_offset_px
        );
    }
    theirs.flip_offset_px = contract.flip_offset_px;
    // the teacher's maps are compared at each point's own cell, whatever window it decodes
    theirs.pip_window = contract.pip_window;
    theirs.pip_window_weight = contract.pip_window_weight;
    // its weights are read into the trainer's own network: how its ONNX graph lays out
    // the input and maps (tools/channels_last.py) does not matter here
    theirs.input_layout = contract.input_layout;
    theirs.maps_layout = contract.maps_layout;
    if &theirs != contract {
        bail!(
            "teacher {}: its contract differs from the student's (input size, crop rule and scale, normalisation or maps):\n  teacher {theirs:?}\n  student {contract:?}\n(with --preset ibug68-pip the student's is the shipped model's)",
            path.display()
        );
    }
    let teacher = Net::new(
        crate::net::Arch::ResNet18Pip,
        contract.input_width as i64,
        contract.input_height as i64,
        contract.point_set.len() as i64,
        device,
    );
    let (n, total) = crate::export::init_from_onnx(&teacher, path)?;
    if n != total {
        bail!(
            "teacher {}: only {n} of the {total} layers of a resnet18-pip network match",
            path.display()
        );
    }
    println!(
        "distilling from {}{} (weight {})",
        path.display(),
        if cfg.teacher_flip {
            ", mirror-averaged"
        } else {
            ""
        },
        cfg.distill
    );
    Ok(Some(teacher))
}

/// After an epoch of a time-budgeted run: keep enough time for the end (one more end of an
/// epoch and the final validation, with room to spare), and lower the number of epochs to
/// what fits, so that the learning-rate schedule ends when the time does (written to
/// `config.json`).
fn fit_to_budget(f: &mut Fixed, state: &RunState, end_secs: f64, per_epoch: f64) -> Result<()> {
    let Some(deadline) = f.deadline else {
        return Ok(());
    };
    f.reserve.set(f.reserve.get().max(2.5 * end_secs + 5.0));
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_secs_f64()
        - f.reserve.get();
    let fit = state.epoch + (left.max(0.0) / per_epoch.max(1e-3)).floor() as usize;
    if fit < f.cfg.epochs {
        let planned = fit.max(state.epoch);
        println!(
            "time budget: {planned} epochs fit (an epoch takes {per_epoch:.1} s, {:.0} s kept for the end); the schedule now ends there (was {})",
            f.reserve.get(),
            f.cfg.epochs
        );
        f.cfg.epochs = planned.max(1);
        write_atomic(
            &f.dir.config(),
            serde_json::to_string_pretty(&f.cfg)?.as_bytes(),
        )?;
    }
    Ok(())
}

/// Train one epoch (or its rest, after a resume) on batches from the loader.
fn train_epoch(
    f: &Fixed,
    net: &Net,
    opt: &mut AdamW,
    state: &mut RunState,
    t_epoch: Instant,
) -> Result<EpochEnd> {
    let (cfg, contract) = (&f.cfg, f.contract);
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
        // every worker busy, with as many batches again waiting
        (2 * cfg.workers).max(4),
    );
    let total = loader.total();
    if total == 0 {
        bail!(
            "an epoch of {} samples (the training faces, each drawn by its --data/--extra weight) is less than one batch ({}): lower --batch-size, or raise the weights",
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
    // losses not yet read back, with their batch: reading one waits for the device (a GPU
    // would idle while the next batch is sent), so they are read LOSS_READ_EVERY steps at a
    // time, before any checkpoint and at the epoch's end (the same sums, in the same order)
    let mut pending: Vec<(Tensor, usize)> = Vec::new();
    loop {
        let tw = Instant::now();
        let Some(b) = loader.next_batch()? else {
            read_losses(&mut pending, state, epoch)?;
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
        let loss = match (&net.pip, cfg.consistency > 0.0) {
            (Some(spec), true) => {
                // a second pass of the same batch (other noise): the mean task loss of
                // the two, plus their disagreement at the true cells
                let y2 = net.forward_t(&x, true);
                (batch_loss(net, cfg.loss, &y, &t, half) + batch_loss(net, cfg.loss, &y2, &t, half))
                    * 0.5
                    + crate::pip::consistency(spec, &y, &y2, &t) * cfg.consistency
            }
            _ => batch_loss(net, cfg.loss, &y, &t, half),
        };
        let loss = match (&net.pip, &f.teacher) {
            (Some(spec), Some(teacher)) => {
                let yt = teacher_maps(teacher, f.teacher_mirror.as_ref(), spec, &x, &b.correction);
                loss + crate::pip::consistency(spec, &y, &yt, &t) * cfg.distill
            }
            _ => loss,
        };
        opt.backward_step(&loss, lr)?;
        pending.push((loss.detach(), state.batch));
        if pending.len() >= LOSS_READ_EVERY {
            read_losses(&mut pending, state, epoch)?;
        }
        state.batch += 1;
        state.steps += 1;
        seen += b.n;
        let rate = seen as f64 / t_epoch.elapsed().as_secs_f64().max(1e-9);
        pb.set_position(state.batch as u64);
        pb.set_message(format!(
            "loss {:.4} lr {lr:.2e} {rate:.0} img/s",
            state.epoch_loss_sum / (state.batch - pending.len()).max(1) as f64
        ));
        if f.out_of_time() && state.batch < total {
            read_losses(&mut pending, state, epoch)?;
            println!(
                "\ntime budget: epoch {} stopped at batch {} of {total}",
                epoch + 1,
                state.batch
            );
            break;
        }
        let step_limit = cfg.max_steps.is_some_and(|m| state.steps >= m);
        if STOP.load(Ordering::SeqCst) || step_limit {
            read_losses(&mut pending, state, epoch)?;
            pb.abandon();
            state.seconds += t_epoch.elapsed().as_secs_f64();
            state.epoch_seconds += t_epoch.elapsed().as_secs_f64();
            state.epoch_seen += seen;
            save_checkpoint(f.dir, net, opt, state)?;
            if step_limit {
                println!(
                    "stopped after {} step{} (--max-steps); checkpoint written",
                    state.steps,
                    if state.steps == 1 { "" } else { "s" }
                );
                if cfg.no_export {
                    println!("export skipped (--no-export)");
                } else {
                    export_final(f.dir, net, contract, f.val)?;
                }
            } else {
                STOPPED_EARLY.store(true, Ordering::SeqCst);
                println!("interrupted: checkpoint written at epoch {} batch {}; continue with --resume {}", epoch + 1, state.batch, f.dir.0.display());
            }
            return Ok(EpochEnd::Stopped);
        }
    }
    drop(loader);
    pb.finish_and_clear();
    Ok(EpochEnd::Done { seen, wait, lr })
}

/// The teacher's maps of the batch `x` (`[B, 1, H, W]`), without gradients; with
/// `mirror` (`--teacher-flip`), averaged with its maps of the mirror images
/// ([`crate::pip::MirrorMaps::average`], `correction` 2 values a sample), both in one pass.
fn teacher_maps(
    teacher: &Net,
    mirror: Option<&crate::pip::MirrorMaps>,
    spec: &crate::pip::PipSpec,
    x: &Tensor,
    correction: &[f32],
) -> Tensor {
    tch::no_grad(|| match mirror {
        Some(mm) => {
            let n = x.size()[0];
            let both = teacher.forward_t(&Tensor::cat(&[x, &x.flip([3])], 0), false);
            let corr = Tensor::from_slice(correction)
                .view([n, 2])
                .to_device(x.device());
            mm.average(spec, &both.narrow(0, 0, n), &both.narrow(0, n, n), &corr)
        }
        None => teacher.forward_t(x, false),
    })
}

/// Steps between reads of the training loss (each read waits for the device).
const LOSS_READ_EVERY: usize = 32;

/// Add the losses of `pending` to the epoch's sum, in order, and stop at the first that is
/// not finite.
fn read_losses(
    pending: &mut Vec<(Tensor, usize)>,
    state: &mut RunState,
    epoch: usize,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let all = Tensor::stack(&pending.iter().map(|(t, _)| t).collect::<Vec<_>>(), 0)
        .to_kind(tch::Kind::Double)
        .to_device(tch::Device::Cpu);
    let values = Vec::<f64>::try_from(&all).context("reading the training losses")?;
    for ((_, batch), lv) in pending.iter().zip(values) {
        if !lv.is_finite() {
            bail!(
                "the training loss became {lv} at epoch {} batch {batch}; lower --lr",
                epoch + 1
            );
        }
        state.epoch_loss_sum += lv;
    }
    pending.clear();
    Ok(())
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
    let (cfg, contract, dir) = (&f.cfg, f.contract, f.dir);
    let epoch = state.epoch;
    let train_loss = state.epoch_loss_sum / state.batch.max(1) as f64;
    // the row counts the whole epoch: the part trained before a mid-epoch checkpoint too
    let (epoch_secs, epoch_seen) = (state.epoch_seconds + secs, state.epoch_seen + seen);
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
        seconds: epoch_secs,
        samples_per_s: epoch_seen as f64 / epoch_secs.max(1e-9),
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
        epoch_secs,
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
    state.epoch_seconds = 0.0;
    state.epoch_seen = 0;
    state.seconds += secs;
    if improved {
        state.best_val_nme = Some(score);
        state.best_epoch = Some(epoch + 1);
    }
    // the snapshot before the checkpoint that commits the epoch, the best weights after
    // it: a kill between any two of these resumes with every file whole (an epoch not
    // committed runs again and writes its snapshot again; a resume at a best epoch's
    // end writes its best weights from the checkpoint)
    if cfg.snapshots {
        let p = dir.snapshot(epoch + 1);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        save_vs_atomic(net, &p)?;
    }
    save_checkpoint(dir, net, opt, state)?;
    if improved {
        save_vs_atomic(net, &dir.best())?;
    }
    Ok(row)
}

/// After the last epoch: the best weights, their validation figures and pictures, and
/// the export.
fn final_report(f: &Fixed, mut net: Net, state: &RunState, validated: bool) -> Result<()> {
    let (cfg, contract, dir, val) = (&f.cfg, f.contract, f.dir, f.val);
    if dir.best().exists() {
        net.load_weights(&dir.best())?;
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
    if cfg.no_export {
        println!(
            "trained {} epochs in {:.0} s; export skipped (--no-export): best weights {}",
            state.epoch,
            state.seconds,
            dir.best().display()
        );
        return Ok(());
    }
    export_final(dir, &net, contract, val)?;
    println!(
        "trained {} epochs in {:.0} s; model: {}",
        state.epoch,
        state.seconds,
        dir.onnx().display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batched pass gives each crop the average of the teacher's maps of it and of its
    /// own mirror image (not another sample's, not a flip along the other axis).
    #[test]
    fn mirror_averaged_teacher_maps_pair_each_crop_with_its_own_mirror() {
        tch::manual_seed(4);
        let net = Net::new(
            crate::net::Arch::ResNet18Pip,
            112,
            112,
            68,
            tch::Device::Cpu,
        );
        let spec = net.pip.as_ref().unwrap();
        let mm = crate::pip::MirrorMaps::new(spec, &facetrack::core::layout::MIRROR68).unwrap();
        let x = Tensor::randn([2, 1, 112, 112], (tch::Kind::Float, tch::Device::Cpu));
        let corr = [0.02f32, -0.01, -0.03, 0.015];
        let got = teacher_maps(&net, Some(&mm), spec, &x, &corr);
        let want = tch::no_grad(|| {
            let one = |t: &Tensor| net.forward_t(t, false);
            let c = Tensor::from_slice(&corr).view([2, 2]);
            mm.average(spec, &one(&x), &one(&x.flip([3])), &c)
        });
        let scale = want.abs().max().double_value(&[]);
        let diff = (&got - &want).abs().max().double_value(&[]);
        assert!(diff < 1e-4 * scale, "off by {diff} (maps up to {scale})");
        // the mirror pass matters: the direct maps alone are far from the average
        let direct = teacher_maps(&net, None, spec, &x, &corr);
        let apart = (&direct - &want).abs().max().double_value(&[]);
        assert!(
            apart > 1e-2 * scale,
            "direct and averaged maps differ by {apart} only"
        );
    }
}
