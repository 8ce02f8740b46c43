//! The network on faces: batch-norm recalibration, prediction in image pixels and
//! validation (the crops `facetrack eval --boxes tracked` uses).

use anyhow::Result;
use facetrack::core::contract::ModelContract;
use facetrack::core::metrics;
use facetrack::{CropPoint, Point};
use tch::Tensor;

use crate::augment::{Augment, Rng, TRACKING_SCALE, TRACKING_SHIFT};
use crate::config::*;
use crate::data::Face;
use crate::loader::{build_batch, build_val_batch};
use crate::net::Net;
use crate::schedule::*;

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
pub(crate) const BN_CALIBRATION_BATCHES: usize = 16;

/// Re-estimate the batch-norm statistics on training faces cropped the way the tracker
/// crops them (tracking jitter, no augmentation), the same faces every time.
pub fn recalibrate(net: &Net, faces: &[Face], c: &ModelContract, batch: usize, seed: u64) {
    net.recalibrate_batch_norm(&calibration_batches(faces, c, batch, seed));
}

/// [`BN_CALIBRATION_BATCHES`] batches of training faces cropped the way the tracker crops
/// them (tracking jitter, no augmentation), the same faces every time (none for no faces).
pub fn calibration_batches(
    faces: &[Face],
    c: &ModelContract,
    batch: usize,
    seed: u64,
) -> Vec<Tensor> {
    if faces.is_empty() {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..faces.len()).collect();
    Rng::new(seed ^ 0xB0B).shuffle(&mut order);
    let batch = batch.max(8);
    let batches = order
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
    batches
}

/// Validation seed, separate from training so the crops never change with it.
pub(crate) const VAL_SEED: u64 = 0x005E_ED0F_7A11;

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

pub(crate) fn mean(v: &[f32]) -> f64 {
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
