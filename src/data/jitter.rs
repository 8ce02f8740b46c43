//! Seeded randomness shared by the trainer and the evaluator: a small deterministic
//! generator and the box error of the tracker, so that validation in the trainer and
//! `facetrack eval --boxes tracked` crop faces the same way.

use crate::core::contract::{CropMode, ModelContract};
use crate::core::crop_rule::{crop_from_points, face_side};
use crate::core::geometry::{CropTransform, Point};

/// A small deterministic generator (SplitMix64), so a sample's augmentation depends only
/// on (seed, epoch, index) and a resumed run sees exactly the same data.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E3779B97F4A7C15)
    }
    /// Generator for one sample of one epoch.
    pub fn for_sample(seed: u64, epoch: u64, index: u64) -> Self {
        let mut r = Rng::new(
            seed.wrapping_mul(0x2545F4914F6CDD1D) ^ epoch.wrapping_mul(0x9E3779B97F4A7C15) ^ index,
        );
        r.next_u64();
        r
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, a: f32, b: f32) -> f32 {
        a + (b - a) * self.f32()
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.f32().max(1e-7);
        let u2 = self.f32();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
    pub fn chance(&mut self, p: f32) -> bool {
        self.f32() < p
    }
    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Box errors of the tracker when it follows a face with the previous frame's
/// landmarks (standard deviations: centre shift as a fraction of the face box side, and
/// the natural log of the size change); validation crops use them so validation sees
/// realistic boxes.
pub const TRACKING_SHIFT: f32 = 0.03;
pub const TRACKING_SCALE: f32 = 0.04;

/// Roll error of an aligned crop taken from the previous frame's landmarks, degrees
/// (standard deviation).
pub const TRACKING_ROLL_DEG: f32 = 2.0;

/// Seed of the tracked-box jitter of validation and `facetrack eval --boxes tracked`.
pub const TRACKED_SEED: u64 = 0x005E_ED0F_7A11;

/// The crop of a tracked face: the model's crop rule applied to the face's true points,
/// moved by the tracker's typical error, drawn for face number `index` of the evaluated
/// set. The trainer's validation and `facetrack eval --boxes tracked` both call this, so
/// they see the same boxes and the same pixels.
pub fn tracked_crop(
    points: &[Point],
    c: &ModelContract,
    frame: (u32, u32),
    index: u64,
) -> CropTransform {
    tracked_crop_with(
        points,
        c,
        frame,
        &mut Rng::for_sample(TRACKED_SEED, 0, index),
    )
}

/// [`tracked_crop`] with the jitter drawn from `rng`: the crop the tracker takes from
/// `points` (its previous estimate of the face) with its typical box and roll error.
pub fn tracked_crop_with(
    points: &[Point],
    c: &ModelContract,
    frame: (u32, u32),
    rng: &mut Rng,
) -> CropTransform {
    let mut t = crop_from_points(points, c, frame);
    if c.crop_mode == CropMode::FullFrame {
        return t;
    }
    let side = face_side(&t, c);
    jitter_crop(&mut t, side, TRACKING_SHIFT, TRACKING_SCALE, rng);
    if c.crop_mode == CropMode::Aligned {
        t.angle += rng.normal().clamp(-3.0, 3.0) * TRACKING_ROLL_DEG.to_radians();
    }
    t
}

/// Move and resize a crop by normal errors of `shift` (fraction of `side`) and `scale`
/// (log size), each clamped to three standard deviations.
pub fn jitter_crop(t: &mut CropTransform, side: f32, shift: f32, scale: f32, rng: &mut Rng) {
    t.center.x += rng.normal().clamp(-3.0, 3.0) * shift * side;
    t.center.y += rng.normal().clamp(-3.0, 3.0) * shift * side;
    let s = (rng.normal().clamp(-3.0, 3.0) * scale).exp();
    t.half_w *= s;
    t.half_h *= s;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::FaceBox;

    #[test]
    fn same_seed_same_numbers_other_seed_other_numbers() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::for_sample(5, 2, 9).next_u64())
            .collect();
        assert!(a.iter().all(|&v| v == a[0]));
        assert_ne!(
            Rng::for_sample(5, 2, 9).next_u64(),
            Rng::for_sample(5, 2, 10).next_u64()
        );
    }

    #[test]
    fn jitter_has_the_requested_spread() {
        let b = FaceBox::new(100.0, 100.0, 200.0, 200.0);
        let base = CropTransform::square_around(&b, 1.5);
        let n = 4000;
        let (mut sx, mut sxx, mut ls) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            let mut t = base;
            jitter_crop(
                &mut t,
                200.0,
                TRACKING_SHIFT,
                TRACKING_SCALE,
                &mut Rng::for_sample(1, 0, i),
            );
            let dx = ((t.center.x - base.center.x) / 200.0) as f64;
            sx += dx;
            sxx += dx * dx;
            let l = (t.half_w / base.half_w).ln() as f64;
            ls += l * l;
        }
        let sd = (sxx / n as f64 - (sx / n as f64).powi(2)).sqrt();
        let sd_scale = (ls / n as f64).sqrt();
        assert!((sd - TRACKING_SHIFT as f64).abs() < 0.003, "shift sd {sd}");
        assert!(
            (sd_scale - TRACKING_SCALE as f64).abs() < 0.004,
            "scale sd {sd_scale}"
        );
    }
}
