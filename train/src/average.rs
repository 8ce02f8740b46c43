//! Weight averaging of a run's snapshots or any weight files of one architecture.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use facetrack::core::metrics;
use tch::{Kind, Tensor};

use crate::checkpoint::*;
use crate::config::*;
use crate::finish::*;
use crate::infer::*;
use crate::net::Net;

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
    net.use_window(&contract);
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
        net.load_weights(w)?;
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
