//! The learning-rate schedule and the losses.

use tch::{Kind, Tensor};

use crate::config::*;
use crate::net::Net;

pub(crate) fn lr_at(cfg: &TrainConfig, epoch_f: f64) -> f64 {
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

/// The training loss of a batch: the PIP loss on the maps of a PIP network, else
/// `kind` on the points.
pub fn batch_loss(net: &Net, kind: LossKind, y: &Tensor, target: &Tensor, half: f64) -> Tensor {
    match &net.pip {
        Some(spec) => crate::pip::loss(spec, y, target),
        None => loss_fn(kind, y, target, half),
    }
}
