//! Turning a face into a training pair (input crop, target points) exactly the way the
//! tracker crops faces, with augmentation that keeps the points right: box jitter like
//! the tracker's boxes, rotation, scale, shift, horizontal flip with the mirror
//! permutation, brightness/contrast/gamma, blur and noise.

use facetrack::core::contract::{CropMode, ModelContract};
use facetrack::core::crop_rule;
use facetrack::core::geometry::{CropTransform, FaceBox, Point};
use facetrack::inference::preprocess::{mirror_rows, sample_crop, unmirror_points};

use crate::data::Face;

pub use facetrack::data::jitter::{Rng, TRACKING_SCALE, TRACKING_SHIFT};

/// Augmentation strengths (all off = the validation crop).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Rotation, degrees (uniform ±).
    pub rotate_deg: f32,
    /// Box centre shift, standard deviation as a fraction of the box side.
    pub shift: f32,
    /// Box size change, standard deviation of its natural log.
    pub scale: f32,
    /// Probability of a detector-like box (three times the shift and scale error).
    pub detector_box: f32,
    pub flip: bool,
    /// Brightness/contrast/gamma changes.
    pub photometric: bool,
    /// Probability of a small blur.
    pub blur: f32,
    /// Standard deviation of pixel noise (0..1 scale).
    pub noise: f32,
    /// Roll error of aligned crops, degrees (standard deviation); aligned crops turn
    /// with the face, so `rotate_deg` applies only to detector-like (upright) crops.
    #[serde(default = "default_roll_jitter")]
    pub roll_jitter_deg: f32,
    /// Where the labels sit, in the original photo's pixels along x (not those of a
    /// reduced cached copy), right of the mirror-symmetric place
    /// (their convention). A mirrored sample's targets keep that convention: they are the
    /// mirror of the labels moved 2 × this far left (0: plain mirroring, which teaches the
    /// model a symmetric placement and leaves such an offset unlearnt).
    #[serde(default)]
    pub flip_offset_px: f32,
}

fn default_roll_jitter() -> f32 {
    5.0
}

impl Augment {
    /// Defaults for the 68-point models.
    pub fn standard() -> Self {
        Augment {
            rotate_deg: 25.0,
            shift: 0.04,
            scale: 0.06,
            detector_box: 0.25,
            flip: true,
            photometric: true,
            blur: 0.2,
            noise: 0.02,
            roll_jitter_deg: default_roll_jitter(),
            flip_offset_px: 0.0,
        }
    }

    /// Gentler settings for full-frame IMM models (the face fills a known place).
    pub fn full_frame() -> Self {
        Augment {
            rotate_deg: 10.0,
            shift: 0.03,
            scale: 0.04,
            detector_box: 0.0,
            ..Augment::standard()
        }
    }

    pub fn none() -> Self {
        Augment {
            rotate_deg: 0.0,
            shift: 0.0,
            scale: 0.0,
            detector_box: 0.0,
            flip: false,
            photometric: false,
            blur: 0.0,
            noise: 0.0,
            roll_jitter_deg: 0.0,
            flip_offset_px: 0.0,
        }
    }
}

/// The crop a face gets: the model's crop rule (`facetrack::core::crop_rule`) applied to its
/// true points, moved by the augmentation's jitter. A share `detector_box` of the
/// samples get a detector-like crop instead: upright, from the landmark box, with three
/// times the error, as the tracker's first pass on a new face.
pub fn crop_for(face: &Face, c: &ModelContract, aug: &Augment, rng: &mut Rng) -> CropTransform {
    let img = &face.image;
    let frame = (img.width(), img.height());
    let detector_like = rng.chance(aug.detector_box);
    let mut t = match (c.crop_mode, detector_like) {
        (CropMode::Aligned, true) => FaceBox::from_points(&face.points)
            .map(|b| crop_rule::crop_from_box(&b, c, frame))
            .unwrap_or_else(|| crop_rule::crop_from_points(&face.points, c, frame)),
        _ => crop_rule::crop_from_points(&face.points, c, frame),
    };
    let k = if detector_like { 3.0 } else { 1.0 };
    let side = if c.crop_mode == CropMode::FullFrame {
        2.0 * t.half_w
    } else {
        crop_rule::face_side(&t, c)
    };
    facetrack::data::jitter::jitter_crop(&mut t, side, aug.shift * k, aug.scale * k, rng);
    if c.crop_mode == CropMode::Aligned && !detector_like {
        // the crop turns with the face; what is left is the tracker's roll error
        t.angle += rng.normal().clamp(-3.0, 3.0) * aug.roll_jitter_deg.to_radians();
    } else {
        t.angle = rng.range(-aug.rotate_deg, aug.rotate_deg).to_radians();
    }
    t
}

/// Fill `input` (one crop) and `target` (2N values) for one face; returns
/// [`make_pair_with_crop`]'s mirror correction.
pub fn make_pair(
    face: &Face,
    c: &ModelContract,
    mirror: &[usize],
    aug: &Augment,
    rng: &mut Rng,
    input: &mut [f32],
    target: &mut [f32],
) -> [f32; 2] {
    let t = crop_for(face, c, aug, rng);
    make_pair_with_crop(face, c, &t, mirror, aug, rng, input, target)
}

/// Fill `input` and `target` for one face cropped by `t`, then flip and photometric
/// augmentation as `aug` says.
///
/// Returns the **mirror correction** (crop coordinates, `[-1, 1]` across the crop): what
/// a prediction made on the mirror image of this sample's input, mapped back into it,
/// must be moved by to follow this sample's label convention. With `flip_offset_px` the
/// labels sit that far right of the mirror-symmetric place in the photo, so a mirrored
/// prediction mapped back sits `2 * flip_offset_px` left of them; without, `[0, 0]`.
/// Distillation from a mirror-averaged teacher uses it (`--teacher-flip`).
#[allow(clippy::too_many_arguments)]
pub fn make_pair_with_crop(
    face: &Face,
    c: &ModelContract,
    t: &CropTransform,
    mirror: &[usize],
    aug: &Augment,
    rng: &mut Rng,
    input: &mut [f32],
    target: &mut [f32],
) -> [f32; 2] {
    let (w, h) = (c.input_width as usize, c.input_height as usize);
    sample_crop(
        &face.image,
        t,
        c.input_width,
        c.input_height,
        c.normalization,
        input,
    );
    let n = face.points.len();
    for (i, p) in face.points.iter().enumerate() {
        let q = t.to_crop(*p);
        target[2 * i] = q.x;
        target[2 * i + 1] = q.y;
    }
    // the mirror image's labels, in its own convention, are the mirror of the labels
    // moved 2 * offset to the left in this image: one shift `s` in crop units (affine map)
    let s = if aug.flip_offset_px != 0.0 {
        // the offset is in the original photo's pixels (the labels' own); a photo
        // cached at a reduced size has fewer pixels per original pixel
        let shift = 2.0 * aug.flip_offset_px / face.to_original.max(1e-6);
        let (o, m) = (
            t.to_crop(Point::new(0.0, 0.0)),
            t.to_crop(Point::new(-shift, 0.0)),
        );
        [m.x - o.x, m.y - o.y]
    } else {
        [0.0, 0.0]
    };
    let mut correction = [-s[0], -s[1]];
    if aug.flip && mirror.len() == n && rng.chance(0.5) {
        mirror_rows(&mut input[..w * h], w);
        let mut old: Vec<f32> = target[..2 * n].to_vec();
        for xy in old.chunks_exact_mut(2) {
            xy[0] += s[0];
            xy[1] += s[1];
        }
        unmirror_points(&old, mirror, &mut target[..2 * n]);
        // this input is the mirror image: its labels are mirror(labels + s), and the
        // mirror of its mirror is the plain crop, whose labels a prediction matches
        correction = [-s[0], s[1]];
    }
    photometric(c, aug, rng, input, w, h);
    correction
}

fn photometric(
    c: &ModelContract,
    aug: &Augment,
    rng: &mut Rng,
    input: &mut [f32],
    w: usize,
    h: usize,
) {
    let (mean, std) = (c.normalization.mean, c.normalization.std);
    if aug.blur > 0.0 && rng.chance(aug.blur) {
        box_blur3(input, w, h);
    }
    if !aug.photometric && aug.noise <= 0.0 {
        return;
    }
    let (gain, bias, gamma) = if aug.photometric {
        (
            rng.range(0.6, 1.4),
            rng.range(-0.2, 0.2),
            (rng.normal() * 0.25).exp(),
        )
    } else {
        (1.0, 0.0, 1.0)
    };
    let noise = aug.noise * rng.f32();
    // the gamma curve as a table over [0, 1], read with linear interpolation: a power and
    // a normal draw (a logarithm and a cosine) at every pixel were half of a loader
    // worker's time, and the GPU's training waits on the loader
    let curve = (gamma != 1.0).then(|| GammaCurve::new(gamma));
    let inv_std = 1.0 / std;
    for v in input.iter_mut().take(w * h) {
        let mut x = (*v * std + mean).clamp(0.0, 1.0);
        if let Some(c) = &curve {
            x = c.at(x);
        }
        x = (x - 0.5) * gain + 0.5 + bias;
        if noise > 0.0 {
            x += pixel_normal(rng) * noise;
        }
        *v = (x.clamp(0.0, 1.0) - mean) * inv_std;
    }
}

/// Segments of [`GammaCurve`]'s table.
const GAMMA_STEPS: usize = 1024;

/// `x^gamma` on [0, 1] from a table of `GAMMA_STEPS + 1` values. Within 5e-5 of the power
/// for `gamma` >= 1 and from x = 0.01 on for `gamma` down to 0.5; below x = 0.01, where
/// the curve is steepest, within a quarter of its value at the first step (at most 0.008,
/// two gray levels, on pixels darker than a quarter of a gray level). The augmentation's
/// gammas are exp(N(0, 0.25²)): 0.3 % of them are under 0.5, where the first step's error
/// grows (0.09 at gamma 0.24, again only on those darkest pixels).
struct GammaCurve(Vec<f32>);

impl GammaCurve {
    fn new(gamma: f32) -> Self {
        GammaCurve(
            (0..=GAMMA_STEPS)
                .map(|i| (i as f32 / GAMMA_STEPS as f32).powf(gamma))
                .collect(),
        )
    }

    /// `x` in [0, 1].
    fn at(&self, x: f32) -> f32 {
        let p = x * GAMMA_STEPS as f32;
        let i = (p as usize).min(GAMMA_STEPS - 1);
        let f = p - i as f32;
        self.0[i] + (self.0[i + 1] - self.0[i]) * f
    }
}

/// A pixel's noise: unit variance, zero mean, from one draw of the generator, as the
/// centred sum of four uniform 16-bit numbers (the Irwin-Hall distribution: within
/// ±3.46, close to normal; for pixel noise the shape does not matter, the cost does).
fn pixel_normal(rng: &mut Rng) -> f32 {
    let r = rng.next_u64();
    let sum = (r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48);
    // each 16-bit number k stands for (k + 0.5) / 65536, uniform with mean 1/2, variance 1/12
    ((sum as f32 + 2.0) / 65536.0 - 2.0) * 3f32.sqrt()
}

/// 3×3 box blur in place (edges replicate): each row's 3-pixel sums, then the sums of 3
/// such rows (two passes the compiler vectorizes, instead of 9 clamped reads a pixel).
fn box_blur3(v: &mut [f32], w: usize, h: usize) {
    if w < 3 || h < 3 {
        return;
    }
    // horizontal sums, edges replicated
    let mut rows = vec![0f32; w * h];
    for (src, dst) in v[..w * h].chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        dst[0] = src[0] + src[0] + src[1];
        for x in 1..w - 1 {
            dst[x] = src[x - 1] + src[x] + src[x + 1];
        }
        dst[w - 1] = src[w - 2] + src[w - 1] + src[w - 1];
    }
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let (a, b, c) = (
            &rows[up * w..(up + 1) * w],
            &rows[y * w..(y + 1) * w],
            &rows[down * w..(down + 1) * w],
        );
        for (x, o) in v[y * w..(y + 1) * w].iter_mut().enumerate() {
            *o = (a[x] + b[x] + c[x]) / 9.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facetrack::core::layout::{PointSet, MIRROR68};
    use facetrack::{GrayImage, Point};
    use std::sync::Arc;

    /// A face whose 68 points are bright dots on a dark image: after any augmentation,
    /// the target points must still sit on bright pixels of the crop.
    fn dotted_face() -> Face {
        let (w, h) = (200u32, 180u32);
        let mut img = GrayImage::new(w, h);
        let mut pts = Vec::new();
        for i in 0..68 {
            let a = i as f32 / 68.0 * std::f32::consts::TAU;
            let r = 30.0 + (i % 5) as f32 * 8.0;
            let p = Point::new(100.0 + r * a.cos(), 90.0 + 0.8 * r * a.sin());
            let (x, y) = (p.x.round() as i64, p.y.round() as i64);
            for dy in -2..=2 {
                for dx in -2..=2 {
                    img.data_mut()[((y + dy) * w as i64 + x + dx) as usize] = 255;
                }
            }
            pts.push(Point::new(x as f32, y as f32));
        }
        Face {
            image: Arc::new(img),
            points: pts,
            name: "dots".into(),
            to_original: 1.0,
        }
    }

    #[test]
    fn augmented_targets_stay_on_their_points() {
        let face = dotted_face();
        let c = ModelContract::face_box(PointSet::Ibug68, 96, "t");
        let aug = Augment {
            photometric: false,
            blur: 0.0,
            noise: 0.0,
            ..Augment::standard()
        };
        let mut input = vec![0.0; 96 * 96];
        let mut target = vec![0.0; 136];
        for k in 0..40 {
            let mut rng = Rng::for_sample(1, 0, k);
            make_pair(
                &face,
                &c,
                &MIRROR68,
                &aug,
                &mut rng,
                &mut input,
                &mut target,
            );
            for i in 0..68 {
                let (x, y) = (target[2 * i], target[2 * i + 1]);
                let px = ((x + 1.0) * 48.0 - 0.5).round() as i64;
                let py = ((y + 1.0) * 48.0 - 0.5).round() as i64;
                if !(0..96).contains(&px) || !(0..96).contains(&py) {
                    continue;
                }
                assert!(
                    input[(py * 96 + px) as usize] > 0.5,
                    "sample {k} point {i} at ({px},{py}) is dark"
                );
            }
        }
    }

    #[test]
    fn flipped_targets_keep_left_and_right() {
        // after any flip, the image-left eye corner (36) stays left of the image-right one (45)
        let face = dotted_face();
        let mut f2 = face.clone();
        f2.points[36] = Point::new(60.0, 80.0);
        f2.points[45] = Point::new(140.0, 80.0);
        let c = ModelContract::face_box(PointSet::Ibug68, 64, "t");
        let aug = Augment {
            rotate_deg: 0.0,
            ..Augment::standard()
        };
        let mut input = vec![0.0; 64 * 64];
        let mut target = vec![0.0; 136];
        for k in 0..30 {
            let mut rng = Rng::for_sample(2, 1, k);
            make_pair(&f2, &c, &MIRROR68, &aug, &mut rng, &mut input, &mut target);
            assert!(
                target[72] < target[90],
                "left eye corner right of right eye corner"
            );
        }
    }

    fn square_crop(x: f32, y: f32, half: f32, angle: f32) -> CropTransform {
        CropTransform {
            center: Point::new(x, y),
            half_w: half,
            half_h: half,
            angle,
        }
    }

    /// A mirror-symmetric picture whose labels sit `d` px right of the symmetric places:
    /// with `flip_offset_px = d`, the mirrored sample (the same picture) gets the same
    /// targets as the plain one; with plain mirroring they differ by 2d.
    #[test]
    fn flip_offset_keeps_the_label_convention_in_mirrored_samples() {
        let (w, h) = (120u32, 120u32);
        let mut img = GrayImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let m = x.min(w - 1 - x); // symmetric about the centre column line x = 59.5
                img.data_mut()[(y * w + x) as usize] = ((m * 7 + y * 3) % 251) as u8;
            }
        }
        // symmetric points: i and MIRROR68[i] mirror each other about x = 59.5
        let mut sym = vec![Point::new(0.0, 0.0); 68];
        for i in 0..68 {
            let j = MIRROR68[i];
            let y = 30.0 + (i.min(j) % 17) as f32 * 3.0;
            let x = if i == j {
                59.5
            } else {
                30.0 + (i.min(j) % 11) as f32 * 2.0
            };
            sym[i] = Point::new(if i <= j { x } else { 119.0 - x }, y);
        }
        let d = 0.75;
        let face = Face {
            image: Arc::new(img),
            points: sym.iter().map(|p| Point::new(p.x + d, p.y)).collect(),
            name: "sym".into(),
            to_original: 1.0,
        };
        let c = ModelContract::face_box(PointSet::Ibug68, 64, "t");
        // an upright crop centred on the symmetry line
        let t = square_crop(59.5, 60.0, 50.0, 0.0);
        let plain = Augment {
            flip: false,
            ..Augment::none()
        };
        let (mut i0, mut t0) = (vec![0.0; 64 * 64], vec![0.0; 136]);
        let mut rng = Rng::for_sample(3, 0, 0);
        make_pair_with_crop(&face, &c, &t, &MIRROR68, &plain, &mut rng, &mut i0, &mut t0);
        let mut flipped = 0;
        for k in 0..20 {
            for offset in [0.0, d] {
                let aug = Augment {
                    flip: true,
                    flip_offset_px: offset,
                    ..Augment::none()
                };
                let (mut i1, mut t1) = (vec![0.0; 64 * 64], vec![0.0; 136]);
                let mut rng = Rng::for_sample(3, 1, k);
                make_pair_with_crop(&face, &c, &t, &MIRROR68, &aug, &mut rng, &mut i1, &mut t1);
                let moved = t0
                    .iter()
                    .zip(&t1)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                let picture_same = i0.iter().zip(&i1).all(|(a, b)| (a - b).abs() < 1e-4);
                assert!(picture_same, "the picture is its own mirror");
                if moved > 1e-4 {
                    // mirrored: plain mirroring moves x by 2d (in crop units 2d / 50)
                    flipped += 1;
                    assert_eq!(offset, 0.0, "with the offset the targets must not move");
                    assert!((moved - 2.0 * d / 50.0).abs() < 1e-4, "moved {moved}");
                }
            }
        }
        assert!(flipped > 3, "some samples were mirrored ({flipped})");
        // a photo cached at half size: the labels sit d original pixels right, d / 2 cached
        // pixels; the offset is given in original pixels and still keeps the targets
        let half = Face {
            points: sym.iter().map(|p| Point::new(p.x + 0.5 * d, p.y)).collect(),
            to_original: 2.0,
            ..face
        };
        make_pair_with_crop(&half, &c, &t, &MIRROR68, &plain, &mut rng, &mut i0, &mut t0);
        let aug = Augment {
            flip: true,
            flip_offset_px: d,
            ..Augment::none()
        };
        for k in 0..20 {
            let (mut i1, mut t1) = (vec![0.0; 64 * 64], vec![0.0; 136]);
            let mut rng = Rng::for_sample(3, 1, k);
            make_pair_with_crop(&half, &c, &t, &MIRROR68, &aug, &mut rng, &mut i1, &mut t1);
            let moved = t0
                .iter()
                .zip(&t1)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                moved < 1e-4,
                "moved {moved} with the offset in original pixels"
            );
        }
    }

    /// The mirror correction maps a prediction on a sample's mirror image, mirrored
    /// back, onto the sample's own labels: for a plain sample and a mirrored one, on a
    /// turned crop of a photo cached at a reduced size.
    #[test]
    fn the_mirror_correction_moves_a_mirrored_prediction_onto_the_labels() {
        let (w, h) = (160u32, 140u32);
        let mut img = GrayImage::new(w, h);
        for (k, v) in img.data_mut().iter_mut().enumerate() {
            *v = ((k * 37) % 253) as u8;
        }
        let face = Face {
            image: Arc::new(img),
            points: (0..68)
                .map(|i| {
                    Point::new(
                        40.0 + (i * 7 % 60) as f32 * 1.3,
                        30.0 + (i * 11 % 70) as f32,
                    )
                })
                .collect(),
            name: "any".into(),
            to_original: 1.5,
        };
        let c = ModelContract::face_box(PointSet::Ibug68, 64, "t");
        let t = square_crop(80.0, 70.0, 45.0, 0.3);
        let d = 0.75;
        let plain = Augment {
            flip: false,
            flip_offset_px: d,
            ..Augment::none()
        };
        let (mut i0, mut l0) = (vec![0.0; 64 * 64], vec![0.0; 136]);
        let c0 = make_pair_with_crop(
            &face,
            &c,
            &t,
            &MIRROR68,
            &plain,
            &mut Rng::new(1),
            &mut i0,
            &mut l0,
        );
        assert!(
            c0[0] > 0.0 && c0[1] != 0.0,
            "a turned crop: both components ({c0:?})"
        );
        let aug = Augment {
            flip: true,
            flip_offset_px: d,
            ..Augment::none()
        };
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        let mut mirrored = 0;
        for k in 0..20 {
            let (mut i1, mut l1) = (vec![0.0; 64 * 64], vec![0.0; 136]);
            let c1 = make_pair_with_crop(
                &face,
                &c,
                &t,
                &MIRROR68,
                &aug,
                &mut Rng::for_sample(5, 0, k),
                &mut i1,
                &mut l1,
            );
            if close(&i1, &i0) {
                assert_eq!(c1, c0, "a sample left as it is has the plain correction");
                continue;
            }
            mirrored += 1;
            // the mirrored sample's mirror image is the plain crop, whose labels l0 an
            // exact prediction gives: mirrored back and corrected, they are l1's
            let mut back = vec![0.0; 136];
            unmirror_points(&l0, &MIRROR68, &mut back);
            for xy in back.chunks_exact_mut(2) {
                xy[0] += c1[0];
                xy[1] += c1[1];
            }
            assert!(close(&back, &l1), "mirrored sample");
            // and the other way: the plain sample's mirror image is this one
            unmirror_points(&l1, &MIRROR68, &mut back);
            for xy in back.chunks_exact_mut(2) {
                xy[0] += c0[0];
                xy[1] += c0[1];
            }
            assert!(close(&back, &l0), "plain sample");
        }
        assert!(mirrored > 3, "some samples were mirrored ({mirrored})");
    }

    #[test]
    fn the_gamma_table_follows_the_power_curve() {
        for gamma in [0.5f32, 0.78, 1.0, 1.28, 2.0] {
            let c = GammaCurve::new(gamma);
            for k in 0..=10_000 {
                let x = k as f32 / 10_000.0;
                let (got, want) = (c.at(x), x.powf(gamma));
                let tol = if x >= 0.01 || gamma >= 1.0 {
                    5e-5
                } else {
                    0.25 * (1.0 / GAMMA_STEPS as f32).powf(gamma)
                };
                assert!(
                    (got - want).abs() <= tol,
                    "gamma {gamma} x {x}: {got} {want}"
                );
            }
        }
    }

    #[test]
    fn pixel_noise_has_unit_variance_and_no_bias() {
        let mut rng = Rng::new(3);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| pixel_normal(&mut rng) as f64).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
        // the tails of a normal: about 4.6 % beyond 2 (Irwin-Hall with 4 terms: 4.2 %)
        let beyond = draws.iter().filter(|d| d.abs() > 2.0).count() as f64 / n as f64;
        assert!((0.035..0.055).contains(&beyond), "{beyond}");
        assert!(draws.iter().all(|d| d.abs() <= 3.47));
    }

    #[test]
    fn the_box_blur_is_the_mean_of_each_pixels_3x3_neighbourhood() {
        let (w, h) = (7usize, 5usize);
        let img: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 11) as f32).collect();
        let mut got = img.clone();
        box_blur3(&mut got, w, h);
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for dy in [-1i64, 0, 1] {
                    for dx in [-1i64, 0, 1] {
                        let yy = (y as i64 + dy).clamp(0, h as i64 - 1) as usize;
                        let xx = (x as i64 + dx).clamp(0, w as i64 - 1) as usize;
                        acc += img[yy * w + xx];
                    }
                }
                let want = acc / 9.0;
                assert!((got[y * w + x] - want).abs() < 1e-5, "({x},{y})");
            }
        }
    }
}
