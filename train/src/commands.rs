//! The trainer's smaller commands: `train pack` (a dataset cut into a pack, with its
//! checks) and `train weights` (a weight file in half or single precision).

use std::path::Path;

use anyhow::{bail, Context, Result};
use facetrack::data::datasets::{CoordBase, Part};
use tch::{Kind, Tensor};

use crate::config::{pip_output, LossKind};
use crate::data::{part_of, Face, SplitRule};
use crate::net::{Arch, Net};
use crate::pack::{self, PackOptions};

/// Cut `source` into a pack at `out`; say how large it is, what share of augmented crops
/// it holds whole, and, given a model (a `resnet18-pip` ONNX file such as
/// `models/facetrack68-fp32.onnx`), its validation NME on the pack against the originals.
pub fn pack_command(
    source: &Path,
    out: Option<&Path>,
    overwrite: bool,
    zero_based: bool,
    o: &PackOptions,
    max_faces: Option<usize>,
    check_model: Option<&Path>,
) -> Result<()> {
    if max_faces == Some(0) {
        anyhow::bail!("--max-faces must be at least 1");
    }
    let out = &out.map_or_else(|| pack::default_out(source), Path::to_path_buf);
    // not over the dataset itself (its labels, its images, a CSV's or XML's own file), and
    // not over an existing pack without leave
    crate::checkpoint::check_output(out, &[source], false)?;
    crate::checkpoint::check_replace(out, overwrite, &[source])?;
    crate::checkpoint::check_extension(out, "ftpack", "pack writes a training pack")?;
    // the model to check with is read before any work: one that cannot be read left a
    // pack behind and the next try refused to replace it
    let checker = check_model
        .map(|m| model_net(m).map(|net| (m, net)))
        .transpose()?;
    let base = if zero_based {
        CoordBase::ZeroBased
    } else {
        CoordBase::OneBased
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t0 = std::time::Instant::now();
    let built = crate::pack_build::build(source, base, o, max_faces, threads, out)?;
    println!(
        "wrote {}: {} faces ({} of the test split left out, {} skipped), {:.2} MiB, {:.1} KiB a face ({:.1} s)",
        out.display(),
        built.faces,
        built.test_left_out,
        built.skipped,
        built.bytes as f64 / (1 << 20) as f64,
        built.bytes as f64 / 1024.0 / built.faces.max(1) as f64,
        t0.elapsed().as_secs_f64()
    );
    let faces: Vec<Face> = built.originals.iter().map(|(_, f)| f.clone()).collect();
    println!(
        "augmented crops (16 a face, the default augmentation and crop) wholly inside the cut: {:.2} %",
        100.0 * crate::pack_build::coverage(&faces, o.margin, 16)
    );
    if let Some((model, net)) = &checker {
        check_nme(out, &built.originals, (model, net), threads)?;
    }
    Ok(())
}

/// The resnet18-pip network of `model` (a float facetrack model), for `--check-model`.
fn model_net(model: &Path) -> Result<Net> {
    let net = Net::new(Arch::ResNet18Pip, 112, 112, 68, tch::Device::Cpu);
    let (n, total) = crate::export::init_from_onnx(&net, model)?;
    if n != total {
        bail!(
            "--check-model {}: it matches only {n} of {total} layers of a resnet18-pip network",
            model.display()
        );
    }
    Ok(net)
}

/// The validation faces (seed 42, 10 %) of the originals and of the pack read back,
/// measured with `model`.
fn check_nme(
    out: &Path,
    originals: &[(String, Face)],
    (model, net): (&Path, &Net),
    threads: usize,
) -> Result<()> {
    let (_, packed) = pack::read(out, threads)?;
    let is_val = |s: &str| part_of(s, SplitRule::Fraction(0.1), 42) == Part::Validation;
    let orig: Vec<Face> = originals
        .iter()
        .filter(|(s, _)| is_val(s))
        .map(|(_, f)| f.clone())
        .collect();
    let cut: Vec<Face> = packed
        .into_iter()
        .filter(|p| is_val(&p.subject))
        .map(|p| Face {
            image: std::sync::Arc::new(p.image),
            points: p.points,
            name: p.name,
            to_original: p.to_original,
        })
        .collect();
    if orig.is_empty() || orig.len() != cut.len() {
        bail!(
            "the NME check needs the same validation faces in both ({} and {})",
            orig.len(),
            cut.len()
        );
    }
    let mut c = pack::pack_contract();
    c.output = pip_output(c.input_width, c.input_height);
    let a = crate::infer::validate(net, &orig, &c, LossKind::L1, 32)?;
    let b = crate::infer::validate(net, &cut, &c, LossKind::L1, 32)?;
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64;
    let diffs: Vec<f32> = b.nme.iter().zip(&a.nme).map(|(x, y)| x - y).collect();
    let d = mean(&diffs);
    let sd = (diffs.iter().map(|&x| (x as f64 - d).powi(2)).sum::<f64>()
        / (diffs.len().max(2) - 1) as f64)
        .sqrt();
    println!(
        "{} validation faces with {}: NME {:.3} % on the originals, {:.3} % on the pack (paired difference {:+.3} ± {:.3} points)",
        orig.len(),
        model.display(),
        100.0 * mean(&a.nme),
        100.0 * mean(&b.nme),
        100.0 * d,
        100.0 * sd / (diffs.len() as f64).sqrt()
    );
    Ok(())
}

/// Write the weight file `input` with its floating-point tensors in `kind` (half
/// precision to carry weights in half the bytes, single to use them again). Half
/// precision that would overflow is refused.
pub fn convert_weights(input: &Path, output: &Path, to: &str) -> Result<()> {
    let kind = match to {
        "f16" => Kind::Half,
        "f32" => Kind::Float,
        _ => bail!("--to {to}: f16 or f32"),
    };
    let named =
        // Onto the CPU: a GPU run's files record their tensors as cuda:0, and this command
        // neither loads libtorch's CUDA library nor should write GPU-tagged tensors (they
        // would not load on a machine without one). libtorch's message ends in a C++
        // backtrace: its first line says what is wrong.
        Tensor::load_multi_with_device(input, tch::Device::Cpu).map_err(|e| {
            let msg = e.to_string();
            anyhow::anyhow!(
                "{} is not a readable weight file: {}",
                input.display(),
                msg.lines().next().unwrap_or("")
            )
        })?;
    let mut out = Vec::with_capacity(named.len());
    for (name, t) in named {
        let t = if t.is_floating_point() {
            let c = t.to_kind(kind);
            let finite = c.isfinite().all().int64_value(&[]) != 0;
            if !finite && t.isfinite().all().int64_value(&[]) != 0 {
                bail!("{name} does not fit in {kind:?} (values too large)");
            }
            c
        } else {
            t
        };
        out.push((name, t));
    }
    if output.is_dir() {
        bail!("{} is a folder; give a file name", output.display());
    }
    let tmp = output.with_extension("ot.tmp");
    let written = Tensor::save_multi(&out, &tmp)
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, output)
                .with_context(|| format!("renaming to {}", output.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    println!(
        "wrote {} ({} tensors as {kind:?}, {:.2} MiB)",
        output.display(),
        out.len(),
        std::fs::metadata(output)?.len() as f64 / (1 << 20) as f64
    );
    Ok(())
}

/// `train loader-bench`: training batches of the default recipe (aligned 112×112 crops,
/// the default augmentation) made by `workers` threads for about `seconds`, with nothing
/// consuming them but the count: how many images a second the loader can feed a GPU.
pub fn loader_bench(
    data: &crate::data::TrainData,
    workers: usize,
    batch: usize,
    seconds: f64,
) -> Result<f64> {
    use std::sync::Arc;
    let mut c = pack::pack_contract();
    c.output = pip_output(c.input_width, c.input_height);
    let faces = Arc::new(data.train.clone());
    // enough positions for the whole measurement, in a fixed order
    let n = faces.len();
    let order: Vec<usize> = (0..n * 64).map(|i| (i * 7919) % n).collect();
    let mut loader = crate::loader::EpochLoader::start(
        faces,
        Arc::new(order),
        batch,
        0,
        c.clone(),
        Arc::new(c.point_set.mirror()),
        crate::augment::Augment::standard(),
        1,
        0,
        Arc::new(Vec::new()),
        workers,
        (2 * workers).max(4),
    );
    let t0 = std::time::Instant::now();
    let mut images = 0usize;
    while t0.elapsed().as_secs_f64() < seconds {
        match loader.next_batch()? {
            Some(b) => images += b.n,
            None => break,
        }
    }
    let rate = images as f64 / t0.elapsed().as_secs_f64();
    println!(
        "loader: {images} training images in {:.1} s with {workers} workers (batch {batch}): {rate:.0} img/s",
        t0.elapsed().as_secs_f64()
    );
    Ok(rate)
}

/// `train loader-bench`: load the data (the default recipe's split) and measure the loader
/// with each worker count.
pub fn loader_bench_command(
    specs: &[crate::data::DataSpec],
    base: CoordBase,
    max_per_source: Option<usize>,
    workers: &[usize],
    batch: usize,
    seconds: f64,
) -> Result<()> {
    let t0 = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let data = crate::data::prepare(
        specs,
        facetrack::PointSet::Ibug68,
        None,
        0.1,
        42,
        base,
        threads,
        max_per_source,
    )?;
    println!(
        "data: {} training faces ({:.1} s to load and decode)",
        data.train.len(),
        t0.elapsed().as_secs_f64()
    );
    for &w in workers {
        loader_bench(&data, w.max(1), batch.max(1), seconds)?;
    }
    Ok(())
}
