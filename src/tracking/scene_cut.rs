//! Scene cuts: a hard cut between shots puts other faces (or none) where the tracked
//! faces were, and a track would follow the crop onto whoever stands there now, keeping
//! its id and, with smoothing, mixing the two people's points. The tracker compares each
//! frame with the one before by a small signature and starts afresh at a cut.
//!
//! The signature is the mean gray of a 16×16 patch at the centre of each cell of a
//! 16×12 grid over the frame (49,152 pixels read at any frame size: the cost follows no
//! frame's pixels). Two frames are of one shot while their signatures, each less its own
//! mean, correlate: a face or a camera that moves, a flash (which scales the contrast)
//! or a fade keep the correlation high; another shot leaves it near 0. Measured on
//! Megamind.avi and the rendered test clips: frames of one shot correlate at 0.71 or more
//! (a rendered face rolling ±34° with up to 12 px a frame of motion; Megamind's shots
//! 0.97 or more), Megamind's three cuts at 0.05-0.28 and a cut between two rendered clips
//! at 0.04.

use crate::core::pixels::Pixels;

const GRID_X: u32 = 16;
const GRID_Y: u32 = 12;
const PATCH: u32 = 16;
/// Below this correlation two frames are of different shots...
const CUT_CORRELATION: f32 = 0.5;
/// ...if their signatures also differ by this much on average (gray levels, each less
/// its mean): frames with almost no contrast (black, a flat wall) correlate with nothing,
/// and a change from black to black is no cut.
const CUT_DIFFERENCE: f32 = 6.0;

/// The signature of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature(Vec<f32>);

impl Signature {
    /// The signature of `img`.
    pub fn of<P: Pixels + ?Sized>(img: &P) -> Self {
        let (w, h) = (img.width(), img.height());
        let mut v = Vec::with_capacity((GRID_X * GRID_Y) as usize);
        for j in 0..GRID_Y {
            for i in 0..GRID_X {
                let cx = ((2 * i + 1) as u64 * w as u64 / (2 * GRID_X) as u64) as u32;
                let cy = ((2 * j + 1) as u64 * h as u64 / (2 * GRID_Y) as u64) as u32;
                let (x0, y0) = (cx.saturating_sub(PATCH / 2), cy.saturating_sub(PATCH / 2));
                let patch = img.gray_rect(x0, y0, x0 + PATCH, y0 + PATCH);
                let n = patch.data().len().max(1) as f32;
                let sum: u32 = patch.data().iter().map(|&p| u32::from(p)).sum();
                v.push(sum as f32 / n);
            }
        }
        Signature(v)
    }

    /// Whether `next` is of another shot than `self`.
    pub fn cut_to(&self, next: &Signature) -> bool {
        if self.0.len() != next.0.len() || self.0.is_empty() {
            return true;
        }
        let centred = |s: &Signature| {
            let mean = s.0.iter().sum::<f32>() / s.0.len() as f32;
            s.0.iter().map(|v| v - mean).collect::<Vec<f32>>()
        };
        let (a, b) = (centred(self), centred(next));
        let n = a.len() as f32;
        let difference = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / n;
        if difference < CUT_DIFFERENCE {
            return false;
        }
        let (aa, bb): (f32, f32) = (a.iter().map(|x| x * x).sum(), b.iter().map(|y| y * y).sum());
        let ab: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        // a flat frame (no contrast) correlates with nothing
        let correlation = if aa * bb > 1e-6 {
            ab / (aa * bb).sqrt()
        } else {
            0.0
        };
        correlation < CUT_CORRELATION
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::image::GrayImage;

    /// A 320×240 scene of soft blobs, seeded, moved by `dx`, `dy`, contrast `gain`.
    fn scene(seed: u32, dx: f32, dy: f32, gain: f32) -> GrayImage {
        let blobs: Vec<(f32, f32, f32, f32)> = (0..30u32)
            .map(|k| {
                let r = |m: u32| {
                    ((seed.wrapping_mul(2654435761) ^ (k * 40503 + m * 9973)) % 1000) as f32
                        / 1000.0
                };
                (
                    r(1) * 320.0,
                    r(2) * 240.0,
                    15.0 + r(3) * 30.0,
                    r(4) * 160.0 - 80.0,
                )
            })
            .collect();
        let data = (0..320 * 240)
            .map(|k| {
                let (x, y) = ((k % 320) as f32 - dx, (k / 320) as f32 - dy);
                let v: f32 = blobs
                    .iter()
                    .map(|(bx, by, r, a)| {
                        a * (-((x - bx).powi(2) + (y - by).powi(2)) / (r * r)).exp()
                    })
                    .sum();
                (128.0 + gain * v).clamp(0.0, 255.0) as u8
            })
            .collect();
        GrayImage::from_raw(320, 240, data).unwrap()
    }

    #[test]
    fn motion_and_light_are_one_shot_and_another_scene_is_a_cut() {
        let a = Signature::of(&scene(1, 0.0, 0.0, 1.0));
        // a camera or face moving 6 px in a frame, a flash, a fade to half contrast
        assert!(!a.cut_to(&Signature::of(&scene(1, 6.0, -4.0, 1.0))));
        assert!(!a.cut_to(&Signature::of(&scene(1, 0.0, 0.0, 1.6))));
        assert!(!a.cut_to(&Signature::of(&scene(1, 0.0, 0.0, 0.5))));
        // other scenes
        for seed in 2..12 {
            assert!(
                a.cut_to(&Signature::of(&scene(seed, 0.0, 0.0, 1.0))),
                "{seed}"
            );
        }
        // to black and from it; black to black is no cut
        let black = Signature::of(&GrayImage::new(320, 240));
        assert!(a.cut_to(&black) && black.cut_to(&a));
        assert!(!black.cut_to(&black.clone()));
    }
}
