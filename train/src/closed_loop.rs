//! Closed-loop crops: some training samples are cropped from the model's own estimate
//! of the face instead of from its true points, as the tracker crops a face from its
//! previous prediction. At the start of an epoch the current network predicts the
//! chosen faces on a first-pass crop (cut as training crops are: aligned with jitter, or
//! detector-like); the training crop is then the crop rule applied to that prediction,
//! with the tracker's box error. The model so learns to correct its own errors instead of
//! following them.
//!
//! Which samples are chosen, and their jitter, depend only on (seed, epoch, position), but
//! the crops depend on the weights: a run resumed mid-epoch plans the rest of that epoch
//! with the weights it resumed with, so it is not bit-identical to an uninterrupted run
//! (without closed-loop crops it is).

use std::time::Instant;

use anyhow::Result;
use facetrack::core::metrics;
use facetrack::data::jitter::tracked_crop_with;
use facetrack::inference::preprocess::sample_crop;
use facetrack::{CropPoint, CropTransform, ModelContract, Point};

use crate::augment::{crop_for, Augment, Rng};
use crate::data::Face;
use crate::infer::predict;
use crate::net::Net;

/// Seed offset of the closed-loop draws (which samples, first-pass crop, jitter).
const LOOP_SEED: u64 = 0x00C1_05ED_100B;

/// First-pass error (NME) beyond which a face counts as lost and keeps its usual crop.
pub const LOST_NME: f32 = 0.10;

/// Crops planned for one epoch: per position of the epoch order, the closed-loop crop
/// or `None` (that sample is cropped from its true points as usual).
pub struct LoopCrops {
    pub crops: Vec<Option<CropTransform>>,
    /// How many positions got one.
    pub count: usize,
    /// How many were predicted (those off by more than [`LOST_NME`] keep their crop).
    pub predicted: usize,
    /// Mean NME of the first-pass predictions they were made from.
    pub first_pass_nme: f64,
    pub seconds: f64,
}

/// Whether position `pos` of epoch `epoch` is cropped from the model's prediction.
fn chosen(seed: u64, epoch: u64, pos: usize, share: f32) -> bool {
    Rng::for_sample(seed ^ LOOP_SEED, epoch, pos as u64).chance(share)
}

/// Plan the closed-loop crops of the positions `from..order.len()` of an epoch: a share
/// `share` of them, predicted by `net` in batches of `batch`; predictions off by more
/// than [`LOST_NME`] are dropped.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    net: &Net,
    faces: &[Face],
    order: &[usize],
    from: usize,
    c: &ModelContract,
    aug: &Augment,
    share: f32,
    seed: u64,
    epoch: u64,
    batch: usize,
) -> Result<LoopCrops> {
    let t0 = Instant::now();
    let mut crops = vec![None; order.len()];
    let positions: Vec<usize> = (from..order.len())
        .filter(|&p| share > 0.0 && chosen(seed, epoch, p, share))
        .collect();
    // the first pass sees the training crop's geometry, not its flip or photometry
    let geometric = Augment {
        flip: false,
        photometric: false,
        blur: 0.0,
        noise: 0.0,
        ..*aug
    };
    let per_in = c.input_len();
    let mut nme_sum = 0.0f64;
    let mut nme_n = 0usize;
    let mut used = 0usize;
    for chunk in positions.chunks(batch.max(1)) {
        let mut input = vec![0.0f32; chunk.len() * per_in];
        let mut rngs = Vec::with_capacity(chunk.len());
        let mut first = Vec::with_capacity(chunk.len());
        for (k, &pos) in chunk.iter().enumerate() {
            let face = &faces[order[pos]];
            // its own stream: the sample's training augmentation is left as it was
            let mut rng = Rng::for_sample(seed ^ LOOP_SEED ^ 1, epoch, pos as u64);
            let t = crop_for(face, c, &geometric, &mut rng);
            sample_crop(
                &face.image,
                &t,
                c.input_width,
                c.input_height,
                c.normalization,
                &mut input[k * per_in..(k + 1) * per_in],
            );
            first.push(t);
            rngs.push(rng);
        }
        let (_, yv) = predict(net, &input, chunk.len(), c)?;
        for (k, &pos) in chunk.iter().enumerate() {
            let face = &faces[order[pos]];
            let pts: Vec<Point> = yv[k * c.output_len()..(k + 1) * c.output_len()]
                .chunks_exact(2)
                .map(|p| first[k].to_image(CropPoint { x: p[0], y: p[1] }))
                .collect();
            let e = metrics::nme(&pts, &face.points, c.point_set);
            if let Some(e) = e {
                nme_sum += e as f64;
                nme_n += 1;
            }
            // a face this far off is one the tracker has lost and re-acquires with the
            // detector (detector-like crops train that): the sample keeps its usual crop
            if e.is_some_and(|e| e <= LOST_NME) {
                let frame = (face.image.width(), face.image.height());
                crops[pos] = Some(tracked_crop_with(&pts, c, frame, &mut rngs[k]));
                used += 1;
            }
        }
    }
    Ok(LoopCrops {
        count: used,
        predicted: positions.len(),
        crops,
        first_pass_nme: if nme_n > 0 {
            nme_sum / nme_n as f64
        } else {
            f64::NAN
        },
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_of_chosen_positions_is_the_share_asked_for() {
        let n = 20_000;
        let k = (0..n).filter(|&p| chosen(42, 3, p, 0.3)).count();
        assert!((k as f64 / n as f64 - 0.3).abs() < 0.015, "{k} of {n}");
        assert_eq!((0..n).filter(|&p| chosen(42, 3, p, 0.0)).count(), 0);
        // another epoch chooses other positions
        let same = (0..n)
            .filter(|&p| chosen(42, 3, p, 0.3) == chosen(42, 4, p, 0.3))
            .count();
        assert!(same < n * 7 / 10, "{same}");
    }
}
