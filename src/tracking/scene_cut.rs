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

use crate::core::geometry::FaceBox;
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

/// Cells a side of a face's signature ([`Signature::of_region`]).
const REGION_GRID: u32 = 8;
/// At a cut, a face's region counts as unchanged only while its signature correlates at
/// this or more with the frame before's...
const SAME_REGION_CORRELATION: f32 = 0.8;
/// ...and differs from it by less than this on average (gray levels, each less its
/// mean). Two different faces in one box often correlate (eyes and brows dark, cheeks
/// bright: 31 % of pairs of 300-W faces above 0.5) but differ by 24-56 levels.
const SAME_REGION_DIFFERENCE: f32 = 12.0;

/// The signature of one frame, or of one region of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature(Vec<f32>);

impl Signature {
    /// The signature of `img`.
    pub fn of<P: Pixels + ?Sized>(img: &P) -> Self {
        let (w, h) = (img.width(), img.height());
        Signature(cells(
            img,
            (0.0, 0.0, w as f32, h as f32),
            (GRID_X, GRID_Y),
            PATCH,
        ))
    }

    /// The signature of the region `b` of `img` (clipped to it): an 8×8 grid of patches
    /// half a cell wide (at most 16 px). A global cut ends a track only where its own
    /// face's region changed too: a caption or an object that covers part of the frame,
    /// or a flash on the background, changes the frame's signature but not the face's.
    pub fn of_region<P: Pixels + ?Sized>(img: &P, b: &FaceBox) -> Self {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let (x0, y0) = (b.left.max(0.0), b.top.max(0.0));
        let (x1, y1) = (b.right().min(w), b.bottom().min(h));
        if x1 - x0 < 1.0 || y1 - y0 < 1.0 {
            return Signature(Vec::new());
        }
        let cell = ((x1 - x0).min(y1 - y0) / REGION_GRID as f32) as u32;
        let patch = (cell / 2).clamp(1, PATCH);
        Signature(cells(
            img,
            (x0, y0, x1, y1),
            (REGION_GRID, REGION_GRID),
            patch,
        ))
    }

    /// Whether a face's region `next` (of a frame that cut from the last) shows what
    /// `self`, its region in the frame before, showed: the stricter rule a track must pass
    /// to survive a cut.
    pub fn same_region(&self, next: &Signature) -> bool {
        self.compare(next)
            .is_some_and(|(c, d)| c >= SAME_REGION_CORRELATION && d < SAME_REGION_DIFFERENCE)
    }

    /// Whether `next` is of another shot than `self`.
    pub fn cut_to(&self, next: &Signature) -> bool {
        match self.compare(next) {
            Some((correlation, difference)) => {
                difference >= CUT_DIFFERENCE && correlation < CUT_CORRELATION
            }
            None => true,
        }
    }

    /// The correlation of the two signatures, each less its mean (0 where either is
    /// flat: a frame without contrast correlates with nothing), and their mean absolute
    /// difference, gray levels; None for signatures of different shapes.
    pub fn compare(&self, next: &Signature) -> Option<(f32, f32)> {
        if self.0.len() != next.0.len() || self.0.is_empty() {
            return None;
        }
        let centred = |s: &Signature| {
            let mean = s.0.iter().sum::<f32>() / s.0.len() as f32;
            s.0.iter().map(|v| v - mean).collect::<Vec<f32>>()
        };
        let (a, b) = (centred(self), centred(next));
        let n = a.len() as f32;
        let difference = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / n;
        let (aa, bb): (f32, f32) = (a.iter().map(|x| x * x).sum(), b.iter().map(|y| y * y).sum());
        let ab: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let correlation = if aa * bb > 1e-6 {
            ab / (aa * bb).sqrt()
        } else {
            0.0
        };
        Some((correlation, difference))
    }
}

/// The mean gray of a `patch`-pixel square at the centre of each cell of a `grid` over
/// the rectangle `(x0, y0, x1, y1)` of `img`.
fn cells<P: Pixels + ?Sized>(
    img: &P,
    (x0, y0, x1, y1): (f32, f32, f32, f32),
    (gx, gy): (u32, u32),
    patch: u32,
) -> Vec<f32> {
    let mut v = Vec::with_capacity((gx * gy) as usize);
    for j in 0..gy {
        for i in 0..gx {
            let cx = (x0 + (i as f32 + 0.5) * (x1 - x0) / gx as f32) as u32;
            let cy = (y0 + (j as f32 + 0.5) * (y1 - y0) / gy as f32) as u32;
            let (px, py) = (cx.saturating_sub(patch / 2), cy.saturating_sub(patch / 2));
            let p = img.gray_rect(px, py, px + patch, py + patch);
            let n = p.data().len().max(1) as f32;
            let sum: u32 = p.data().iter().map(|&v| u32::from(v)).sum();
            v.push(sum as f32 / n);
        }
    }
    v
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
