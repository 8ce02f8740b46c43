//! `facetrack eval --noise`: how far a model's points move when the face's pixels get one
//! gray level of noise, as the same face does from frame to frame on video (raw flicker).
//! An 8-bit model can round such a small change into a jump the float model never makes.

use anyhow::Result;
use facetrack::data::jitter::Rng;
use facetrack::{GrayImage, Point};

/// Noise draws per face; their movements are averaged into the face's figure.
pub const NOISE_DRAWS: u64 = 3;
/// Seed of the noise, so that every run (and every model) sees the same noisy pixels.
pub const NOISE_SEED: u64 = 0x0026_0015_E000;
/// The noise: each pixel gets -1, 0 or +1 gray level, each with probability 1/3.
pub const NOISE_GRAY_LEVELS: i16 = 1;
/// The share of faces under the reported high percentile.
const HIGH_PERCENTILE: f64 = 0.95;

/// A copy of `clean` with uniform noise in {-1, 0, +1} gray levels on every pixel
/// (clamped to 0..255), written into `out` (reused between draws).
fn add_noise(clean: &GrayImage, draw: &mut Rng, out: &mut GrayImage) {
    out.clone_from(clean);
    let span = (2 * NOISE_GRAY_LEVELS + 1) as u64;
    for v in out.data_mut() {
        let d = (draw.next_u64() % span) as i16 - NOISE_GRAY_LEVELS;
        *v = (*v as i16 + d).clamp(0, 255) as u8;
    }
}

/// How far the points of one face move under noise, as a fraction of its inter-ocular
/// distance: per draw, the mean over the points of |p(noisy) − p(clean)|; then the mean
/// over [`NOISE_DRAWS`] draws. `predict` repeats the face's prediction on the same crop
/// (or the same detector box) with another image; `None` when it loses the face.
pub fn face_movement(
    img: &GrayImage,
    clean: &[Point],
    inter_ocular: f32,
    face: u64,
    mut predict: impl FnMut(&GrayImage) -> Result<Option<Vec<Point>>>,
) -> Result<Option<f32>> {
    let mut noisy = GrayImage::default();
    let mut sum = 0f64;
    for d in 0..NOISE_DRAWS {
        let mut rng = Rng::for_sample(NOISE_SEED, d, face);
        add_noise(img, &mut rng, &mut noisy);
        let Some(p) = predict(&noisy)? else {
            return Ok(None);
        };
        let Some(moved) = facetrack::core::metrics::mean_error(&p, clean) else {
            return Ok(None);
        };
        sum += (moved / inter_ocular) as f64;
    }
    Ok(Some((sum / NOISE_DRAWS as f64) as f32))
}

/// The faces' movements summarised: mean and 95th percentile (fractions of the
/// inter-ocular distance).
pub struct NoiseSummary {
    pub faces: usize,
    pub mean: f64,
    pub p95: f64,
}

pub fn summarise(moves: &[f32]) -> Option<NoiseSummary> {
    if moves.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = moves.iter().map(|&m| m as f64).collect();
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    // nearest rank
    let rank = ((HIGH_PERCENTILE * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(NoiseSummary {
        faces: v.len(),
        mean,
        p95: v[rank - 1],
    })
}

impl NoiseSummary {
    pub fn print(&self) {
        println!(
            "noise ({} gray level, {} draws a face, {} faces): points move {:.3}% of the inter-ocular distance on average, p95 {:.3}%",
            NOISE_GRAY_LEVELS,
            NOISE_DRAWS,
            self.faces,
            self.mean * 100.0,
            self.p95 * 100.0
        );
    }

    /// The `noise` field of the JSON report (fractions, as the NME keys).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "faces": self.faces,
            "mean": self.mean,
            "p95": self.p95,
            "draws": NOISE_DRAWS,
            "gray_levels": NOISE_GRAY_LEVELS,
            "seed": NOISE_SEED,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_one_level_clamped_and_seeded() {
        let clean = GrayImage::from_raw(4, 3, vec![0, 255, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10])
            .unwrap_or_default();
        let (mut a, mut b) = (GrayImage::default(), GrayImage::default());
        add_noise(&clean, &mut Rng::for_sample(NOISE_SEED, 0, 7), &mut a);
        add_noise(&clean, &mut Rng::for_sample(NOISE_SEED, 0, 7), &mut b);
        assert_eq!(a, b);
        for (n, c) in a.data().iter().zip(clean.data()) {
            assert!((*n as i16 - *c as i16).abs() <= 1);
        }
        assert!(a.data()[0] <= 1 && a.data()[1] >= 254);
        assert_ne!(a.data(), clean.data());
    }

    #[test]
    fn summary_mean_and_p95() {
        let moves: Vec<f32> = (1..=100).map(|i| i as f32 / 1000.0).collect();
        let s = summarise(&moves).unwrap_or(NoiseSummary {
            faces: 0,
            mean: 0.0,
            p95: 0.0,
        });
        assert_eq!(s.faces, 100);
        assert!((s.mean - 0.0505).abs() < 1e-6);
        assert!((s.p95 - 0.095).abs() < 1e-6);
        assert!(summarise(&[]).is_none());
    }
}
