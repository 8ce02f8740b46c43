//! The crop rule, defined once: how a face's points (the previous frame's landmarks, or
//! the ground truth in training) become the crop the model sees. The tracker, the
//! trainer and `facetrack eval` all call these functions.
//!
//! Two rules exist, named by the model contract ([`CropMode`]):
//! * `face_box` (contract version 1 models): a square of `crop_scale` times the longer
//!   side of the axis-aligned box of all points. Its size follows the jaw and brow
//!   extremes and grows by up to 1.41× on a rolled face.
//! * `aligned` (version 2): a least-squares similarity fit of the face's *stable* points
//!   (eyes, nose, mouth corners) to the 68-point mean shape [`MEAN_SHAPE_68`]. The fit
//!   gives the centre, the size and the roll of the face; the crop is rotated with the
//!   face, so a rolled face looks upright to the model, and its size does not jump when
//!   the jaw line or the brows are predicted badly.
//!
//! The mean shape lives in a canonical frame calibrated on the 300-W training faces
//! (`cargo run --release --example calibrate_crop`): on average its origin is the centre
//! of a face's landmark box and one unit is the box's longer side, so `crop_scale` means
//! the same for both rules.

use crate::core::contract::{CropMode, ModelContract};
use crate::core::geometry::{CropTransform, FaceBox, Point};
use crate::core::layout::IBUG68_POINTS;

/// The iBUG 68 points the aligned rule fits: nose (27-35), both eyes (36-47) and the
/// two mouth corners (48, 54). Jaw, brows and lips move with expression and pose, or
/// are the points a model gets most wrong.
pub const STABLE_POINTS: [usize; 23] = [
    27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 54,
];

/// Mean 68-point shape in the canonical frame (x right, y down, origin at the mean
/// landmark-box centre, unit = the mean longer box side), from 1,606 300-W training faces
/// (test subjects excluded) by generalised Procrustes on [`STABLE_POINTS`].
#[rustfmt::skip]
pub const MEAN_SHAPE_68: [[f32; 2]; IBUG68_POINTS] = include!("mean_shape_68.in");

/// A similarity transform `p -> scale * R(angle) * p + (tx, ty)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub scale: f32,
    pub angle: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub fn apply(&self, p: [f32; 2]) -> Point {
        let (s, c) = self.angle.sin_cos();
        Point::new(
            self.scale * (c * p[0] - s * p[1]) + self.tx,
            self.scale * (s * p[0] + c * p[1]) + self.ty,
        )
    }

    /// The inverse: the canonical coordinates of an image point.
    pub fn invert(&self, p: Point) -> [f32; 2] {
        let (s, c) = self.angle.sin_cos();
        let (x, y) = ((p.x - self.tx) / self.scale, (p.y - self.ty) / self.scale);
        [c * x + s * y, -s * x + c * y]
    }
}

/// The similarity from the canonical frame to a 68-point face, fitted on all its points
/// (the least noisy estimate of where the face is). `None` unless 68 finite points.
pub fn face_frame_all(points: &[Point]) -> Option<Similarity> {
    if points.len() != IBUG68_POINTS {
        return None;
    }
    fit_similarity(&MEAN_SHAPE_68, points)
}

/// Least-squares similarity (no reflection) taking `src` onto `dst` (Umeyama 1991 in
/// 2-D). `None` when fewer than two pairs, any value is not finite, or `src` is a point.
pub fn fit_similarity(src: &[[f32; 2]], dst: &[Point]) -> Option<Similarity> {
    let n = src.len();
    if n < 2 || dst.len() != n {
        return None;
    }
    let (mut msx, mut msy, mut mdx, mut mdy) = (0f64, 0f64, 0f64, 0f64);
    for (s, d) in src.iter().zip(dst) {
        if !(s[0].is_finite() && s[1].is_finite() && d.is_finite()) {
            return None;
        }
        msx += s[0] as f64;
        msy += s[1] as f64;
        mdx += d.x as f64;
        mdy += d.y as f64;
    }
    let k = n as f64;
    let (msx, msy, mdx, mdy) = (msx / k, msy / k, mdx / k, mdy / k);
    let (mut a, mut b, mut ss) = (0f64, 0f64, 0f64);
    for (s, d) in src.iter().zip(dst) {
        let (xs, ys) = (s[0] as f64 - msx, s[1] as f64 - msy);
        let (xd, yd) = (d.x as f64 - mdx, d.y as f64 - mdy);
        a += xs * xd + ys * yd;
        b += xs * yd - ys * xd;
        ss += xs * xs + ys * ys;
    }
    if ss <= 1e-12 {
        return None;
    }
    let (sc, sn) = (a / ss, b / ss);
    let scale = (sc * sc + sn * sn).sqrt();
    if !(scale > 1e-9 && scale.is_finite()) {
        return None;
    }
    let angle = sn.atan2(sc);
    let tx = mdx - (sc * msx - sn * msy);
    let ty = mdy - (sn * msx + sc * msy);
    Some(Similarity {
        scale: scale as f32,
        angle: angle as f32,
        tx: tx as f32,
        ty: ty as f32,
    })
}

/// The similarity from the canonical frame to the face in the image, fitted on the
/// stable points. `None` unless `points` holds the 68 iBUG points, all finite.
pub fn face_frame(points: &[Point]) -> Option<Similarity> {
    if points.len() != IBUG68_POINTS {
        return None;
    }
    let src: Vec<[f32; 2]> = STABLE_POINTS.iter().map(|&i| MEAN_SHAPE_68[i]).collect();
    let dst: Vec<Point> = STABLE_POINTS.iter().map(|&i| points[i]).collect();
    fit_similarity(&src, &dst)
}

/// The aligned crop of a 68-point face: centred on the canonical origin, `crop_scale`
/// canonical units a side, rotated with the face.
pub fn aligned_crop(points: &[Point], crop_scale: f32) -> Option<CropTransform> {
    let f = face_frame(points)?;
    let half = 0.5 * crop_scale * f.scale.max(1.0);
    Some(CropTransform {
        center: Point::new(f.tx, f.ty),
        half_w: half,
        half_h: half,
        angle: f.angle,
    })
}

/// The crop a model with this contract takes for a face whose points are known (the
/// tracker's previous landmarks, the trainer's ground truth). `frame` is the image size,
/// used by full-frame models and as the fallback when the points give no crop.
pub fn crop_from_points(points: &[Point], c: &ModelContract, frame: (u32, u32)) -> CropTransform {
    let from_box = || {
        FaceBox::from_points(points)
            .map(|b| CropTransform::square_around(&b, c.crop_scale))
            .unwrap_or_else(|| CropTransform::full_frame(frame.0, frame.1))
    };
    match c.crop_mode {
        CropMode::FaceBox => from_box(),
        CropMode::FullFrame => CropTransform::full_frame(frame.0, frame.1),
        CropMode::Aligned => aligned_crop(points, c.crop_scale).unwrap_or_else(from_box),
    }
}

/// The crop for a face known only by a box (a calibrated detection, in the landmark-box
/// frame): an upright square for every face-box and aligned model; the first of the
/// tracker's two acquisition passes.
pub fn crop_from_box(b: &FaceBox, c: &ModelContract, frame: (u32, u32)) -> CropTransform {
    match c.crop_mode {
        CropMode::FaceBox | CropMode::Aligned => CropTransform::square_around(b, c.crop_scale),
        CropMode::FullFrame => CropTransform::full_frame(frame.0, frame.1),
    }
}

/// The side of a crop's face in pixels (crop side over the crop scale), the unit of box
/// jitter and of the tracker's size checks.
pub fn face_side(t: &CropTransform, c: &ModelContract) -> f32 {
    2.0 * t.half_w.max(t.half_h) / c.crop_scale.max(1e-3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::layout::PointSet;

    fn mean_face(sim: Similarity) -> Vec<Point> {
        MEAN_SHAPE_68.iter().map(|&p| sim.apply(p)).collect()
    }

    #[test]
    fn similarity_fit_recovers_a_known_transform() {
        let sim = Similarity {
            scale: 173.0,
            angle: 0.41,
            tx: 300.0,
            ty: -20.0,
        };
        let f = face_frame(&mean_face(sim)).unwrap();
        assert!((f.scale - sim.scale).abs() < 1e-2, "{f:?}");
        assert!((f.angle - sim.angle).abs() < 1e-5, "{f:?}");
        assert!(
            (f.tx - sim.tx).abs() < 1e-2 && (f.ty - sim.ty).abs() < 1e-2,
            "{f:?}"
        );
    }

    #[test]
    fn aligned_crop_turns_with_the_face_and_keeps_its_size() {
        let c = ModelContract::aligned(PointSet::Ibug68, 112, "t");
        let upright = Similarity {
            scale: 100.0,
            angle: 0.0,
            tx: 200.0,
            ty: 150.0,
        };
        let rolled = Similarity {
            angle: 0.6,
            ..upright
        };
        let a = crop_from_points(&mean_face(upright), &c, (640, 480));
        let b = crop_from_points(&mean_face(rolled), &c, (640, 480));
        assert!((a.half_w - b.half_w).abs() < 1e-2);
        assert!((b.angle - 0.6).abs() < 1e-5 && a.angle.abs() < 1e-6);
        // the rolled mean face sits in its crop exactly as the upright one in its own
        for i in 0..IBUG68_POINTS {
            let (qa, qb) = (
                a.to_crop(mean_face(upright)[i]),
                b.to_crop(mean_face(rolled)[i]),
            );
            assert!((qa.x - qb.x).abs() < 1e-4 && (qa.y - qb.y).abs() < 1e-4);
        }
        // the face-box rule on the rolled face grows instead (3 % at 34 degrees: a face
        // outline is nearly round)
        let fb = ModelContract::face_box(PointSet::Ibug68, 112, "t");
        let grown = crop_from_points(&mean_face(rolled), &fb, (640, 480));
        let flat = crop_from_points(&mean_face(upright), &fb, (640, 480));
        assert!(
            grown.half_w > 1.02 * flat.half_w,
            "{} vs {}",
            grown.half_w,
            flat.half_w
        );
    }

    #[test]
    fn the_canonical_frame_is_the_landmark_box_on_average() {
        let b = FaceBox::from_points(&mean_face(Similarity {
            scale: 1.0,
            angle: 0.0,
            tx: 0.0,
            ty: 0.0,
        }))
        .unwrap();
        let c = b.center();
        assert!(c.x.abs() < 0.03 && c.y.abs() < 0.03, "{b:?}");
        assert!((b.width.max(b.height) - 1.0).abs() < 0.05, "{b:?}");
    }

    #[test]
    fn moving_a_jaw_point_barely_moves_the_aligned_crop() {
        let c = ModelContract::aligned(PointSet::Ibug68, 112, "t");
        let sim = Similarity {
            scale: 120.0,
            angle: 0.1,
            tx: 320.0,
            ty: 240.0,
        };
        let mut pts = mean_face(sim);
        let a = crop_from_points(&pts, &c, (640, 480));
        pts[8].y += 60.0; // the chin far off
        let b = crop_from_points(&pts, &c, (640, 480));
        assert_eq!(a, b);
    }

    #[test]
    fn degenerate_points_fall_back_to_a_box_or_the_frame() {
        let c = ModelContract::aligned(PointSet::Ibug68, 112, "t");
        let same = vec![Point::new(5.0, 5.0); IBUG68_POINTS];
        let t = crop_from_points(&same, &c, (64, 48));
        assert!(t.half_w > 0.0 && t.center == Point::new(5.0, 5.0));
        let nan = vec![Point::new(f32::NAN, 1.0); IBUG68_POINTS];
        let t = crop_from_points(&nan, &c, (64, 48));
        assert_eq!(t, CropTransform::full_frame(64, 48));
    }
}
