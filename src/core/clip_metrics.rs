//! Landmarks tracked over a clip against its ground truth: per-frame NME, success rate,
//! false faces, flicker (the frame-to-frame change of the error, in the image and in the
//! face's own frame), size jitter and oscillation of the face size. Used by `facetrack eval --clips`; the points come from
//! any source (a tracker's CSV, the Python package, the trainer's closed loop).

use std::collections::BTreeMap;

use crate::core::geometry::{FaceBox, Point};
use crate::core::layout::PointSet;
use crate::core::metrics::{inter_ocular, nme};

/// Per-clip results.
#[derive(Default)]
pub struct ClipStats {
    /// NME of each found frame.
    pub nme: Vec<f32>,
    /// Frames with a true face.
    pub frames_with_truth: u64,
    /// Of those, the frames where a tracked face overlaps it (IoU > 0.3).
    pub found: u64,
    /// Tracked faces that match no true face.
    pub false_faces: u64,
    /// Sum of squared frame-to-frame changes of the error (over the eye distance, squared).
    pub flicker_sq: f64,
    /// How many point changes that sum holds.
    pub flicker_n: u64,
    /// The same sum with each frame's error measured in the true face's own frame (turned
    /// back by the face's roll, over its eye distance): what moves *on the face*. A
    /// constant error on a face that turns or changes size still changes in the image
    /// (it turns and scales with the face) and counts in [`ClipStats::flicker`], not here.
    /// The roll comes from the 68-point face frame; for other point sets (and a truth
    /// whose frame cannot be fitted) it is taken as 0, which makes this the image measure.
    pub face_flicker_sq: f64,
    /// Frame-to-frame change of the log size error (predicted face size over true),
    /// consecutive found frames only; `None` marks a break.
    pub size_steps: Vec<Option<f32>>,
    /// Per found frame: its number, NME, and flicker (when the frame before was found).
    pub per_frame: Vec<(u64, f32, Option<f32>)>,
}

/// Size steps (log) below this are noise, not a direction, in the oscillation count.
pub const OSCILLATION_NOISE: f32 = 0.01;
/// This many size steps in a row alternating in sign make one oscillation run.
pub const OSCILLATION_RUN: usize = 4;

impl ClipStats {
    /// RMS of the size steps, × 100 (percent of the face size per frame).
    pub fn size_jitter(&self) -> f64 {
        let v: Vec<f64> = self
            .size_steps
            .iter()
            .flatten()
            .map(|&d| d as f64)
            .collect();
        if v.is_empty() {
            return 0.0;
        }
        (v.iter().map(|d| d * d).sum::<f64>() / v.len() as f64).sqrt() * 100.0
    }

    /// Runs of at least [`OSCILLATION_RUN`] size steps alternating in sign.
    pub fn oscillation_runs(&self) -> usize {
        let (mut runs, mut len, mut last) = (0, 0usize, 0.0f32);
        for d in &self.size_steps {
            match d {
                Some(d) if d.abs() >= OSCILLATION_NOISE => {
                    len = if last != 0.0 && d.signum() != last {
                        len + 1
                    } else {
                        1
                    };
                    last = d.signum();
                    if len == OSCILLATION_RUN {
                        runs += 1;
                    }
                }
                _ => {
                    len = 0;
                    last = 0.0;
                }
            }
        }
        runs
    }

    /// RMS frame-to-frame change of the error, percent of the eye distance.
    pub fn flicker(&self) -> f64 {
        if self.flicker_n == 0 {
            return 0.0;
        }
        (self.flicker_sq / self.flicker_n as f64).sqrt() * 100.0
    }

    /// RMS frame-to-frame change of the error in the true face's frame, percent of the eye
    /// distance ([`ClipStats::face_flicker_sq`]).
    pub fn face_flicker(&self) -> f64 {
        if self.flicker_n == 0 {
            return 0.0;
        }
        (self.face_flicker_sq / self.flicker_n as f64).sqrt() * 100.0
    }

    /// Share of the frames with a true face where a tracked face matched it.
    pub fn success_rate(&self) -> f64 {
        self.found as f64 / self.frames_with_truth.max(1) as f64
    }

    /// Mean NME over the found frames (NaN for none).
    pub fn nme_mean(&self) -> f64 {
        if self.nme.is_empty() {
            return f64::NAN;
        }
        self.nme.iter().map(|&e| e as f64).sum::<f64>() / self.nme.len() as f64
    }

    /// The NME at quantile `q` (0 = best, 0.5 = median, 1 = worst; NaN for none).
    pub fn nme_quantile(&self, q: f64) -> f64 {
        let mut sorted = self.nme.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[(((sorted.len() - 1) as f64) * q.clamp(0.0, 1.0)).round() as usize] as f64
    }

    /// Pool another clip's figures into these (its size steps after a break).
    pub fn add(&mut self, s: &ClipStats) {
        self.nme.extend(&s.nme);
        self.frames_with_truth += s.frames_with_truth;
        self.found += s.found;
        self.false_faces += s.false_faces;
        self.flicker_sq += s.flicker_sq;
        self.flicker_n += s.flicker_n;
        self.face_flicker_sq += s.face_flicker_sq;
        self.size_steps.push(None);
        self.size_steps.extend(&s.size_steps);
    }
}

/// A face's size for the size checks: the aligned crop rule's scale for 68 points, the
/// landmark box's longer side otherwise.
fn face_size(points: &[Point]) -> Option<f32> {
    crate::core::crop_rule::face_frame(points)
        .map(|f| f.scale)
        .or_else(|| FaceBox::from_points(points).map(|b| b.width.max(b.height)))
        .filter(|s| *s > 0.0 && s.is_finite())
}

/// One face in one frame of a clip: its points and whether it was tracked (or, for the
/// truth, labelled).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub points: Vec<Point>,
    pub success: bool,
}

/// A clip's faces by frame number.
pub type ClipFaces = BTreeMap<u64, Vec<Observed>>;

/// Score the tracked faces `pred` of a clip against its true faces `truth`: per frame
/// the tracked face overlapping the true one most (IoU > 0.3) is its match; the others
/// are false faces.
pub fn clip_stats(truth: &ClipFaces, pred: &ClipFaces, set: PointSet) -> ClipStats {
    let mut s = ClipStats::default();
    // (frame, error, eye distance, error in the face's frame over the eye distance)
    let mut prev_err: Option<(u64, Vec<Point>, f32, Vec<Point>)> = None;
    let mut prev_size: Option<(u64, f32)> = None;
    for (frame, trows) in truth {
        let t = trows.iter().find(|r| r.success);
        let preds: Vec<&Observed> = pred
            .get(frame)
            .map(|v| v.iter().filter(|r| r.success).collect())
            .unwrap_or_default();
        let Some(t) = t else {
            s.false_faces += preds.len() as u64;
            prev_err = None;
            continue;
        };
        s.frames_with_truth += 1;
        let tb = FaceBox::from_points(&t.points).unwrap_or_default();
        let best = preds
            .iter()
            .filter_map(|p| FaceBox::from_points(&p.points).map(|b| (p, b.iou(&tb))))
            .filter(|(_, iou)| *iou > 0.3)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        s.false_faces += preds.len().saturating_sub(usize::from(best.is_some())) as u64;
        let Some((p, _)) = best else {
            prev_err = None;
            prev_size = None;
            continue;
        };
        s.found += 1;
        if let Some(e) = nme(&p.points, &t.points, set) {
            s.nme.push(e);
        }
        let size_err = face_size(&p.points)
            .zip(face_size(&t.points))
            .map(|(a, b)| (a / b).ln());
        match (prev_size, size_err) {
            (Some((pf, pe)), Some(e)) if pf + 1 == *frame => s.size_steps.push(Some(e - pe)),
            _ => s.size_steps.push(None),
        }
        prev_size = size_err.map(|e| (*frame, e));
        let iod = inter_ocular(&t.points, set).unwrap_or(1.0);
        let err: Vec<Point> = p
            .points
            .iter()
            .zip(&t.points)
            .map(|(a, b)| Point::new(a.x - b.x, a.y - b.y))
            .collect();
        let roll = crate::core::crop_rule::face_frame(&t.points).map_or(0.0, |f| f.angle);
        let (sin, cos) = (-roll).sin_cos();
        let face_err: Vec<Point> = err
            .iter()
            .map(|e| Point::new((cos * e.x - sin * e.y) / iod, (sin * e.x + cos * e.y) / iod))
            .collect();
        let mut frame_flicker = None;
        if let Some((pf, pe, piod, pfe)) = &prev_err {
            if *pf + 1 == *frame && pe.len() == err.len() {
                let norm = 0.5 * (iod + piod);
                let mut sq = 0.0f64;
                for (a, b) in err.iter().zip(pe) {
                    sq += (((a.x - b.x).powi(2) + (a.y - b.y).powi(2)) / (norm * norm)) as f64;
                }
                s.flicker_sq += sq;
                s.flicker_n += err.len() as u64;
                s.face_flicker_sq += face_err
                    .iter()
                    .zip(pfe)
                    .map(|(a, b)| ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)) as f64)
                    .sum::<f64>();
                frame_flicker = Some(((sq / err.len().max(1) as f64).sqrt() * 100.0) as f32);
            }
        }
        if let Some(&e) = s.nme.last() {
            s.per_frame.push((*frame, e, frame_flicker));
        }
        prev_err = Some((*frame, err, iod, face_err));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(_frame: u64, points: Vec<Point>, success: bool) -> Observed {
        Observed { points, success }
    }

    fn face(dx: f32) -> Vec<Point> {
        let mut v: Vec<Point> = (0..68)
            .map(|i| {
                Point::new(
                    50.0 + (i % 10) as f32 * 10.0 + dx,
                    50.0 + (i / 10) as f32 * 10.0,
                )
            })
            .collect();
        v[36] = Point::new(50.0 + dx, 80.0);
        v[45] = Point::new(150.0 + dx, 80.0);
        v
    }

    #[test]
    fn clip_metrics_by_hand() {
        // truth still; prediction alternates +1/-1 px in x: NME 1%, flicker = 2 px / 100 px * 100 = 2
        let mut truth = BTreeMap::new();
        let mut pred = BTreeMap::new();
        for f in 1..=4u64 {
            truth.insert(f, vec![row(f, face(0.0), true)]);
            let d = if f % 2 == 0 { 1.0 } else { -1.0 };
            let mut p = face(0.0);
            for q in &mut p {
                q.x += d;
            }
            pred.insert(f, vec![row(f, p, true)]);
        }
        truth.insert(5, vec![row(5, vec![], false)]);
        pred.insert(5, vec![row(5, face(0.0), true)]);
        let s = clip_stats(&truth, &pred, PointSet::Ibug68);
        assert!((s.nme_mean() - 0.01).abs() < 1e-6, "{}", s.nme_mean());
        assert!((s.flicker() - 2.0).abs() < 1e-4, "{}", s.flicker());
        // the face does not turn: the same in its own frame
        assert!(
            (s.face_flicker() - 2.0).abs() < 1e-4,
            "{}",
            s.face_flicker()
        );
        assert_eq!(s.false_faces, 1);
        assert_eq!(s.success_rate(), 1.0);
    }

    /// Scale a face about its first point.
    fn scaled(k: f32) -> Vec<Point> {
        face(0.0)
            .iter()
            .map(|p| Point::new(50.0 + (p.x - 50.0) * k, 50.0 + (p.y - 50.0) * k))
            .collect()
    }

    #[test]
    fn a_big_small_cycle_counts_as_oscillation_and_a_steady_zoom_does_not() {
        let mut truth = BTreeMap::new();
        let (mut cycle, mut zoom) = (BTreeMap::new(), BTreeMap::new());
        for f in 1..=12u64 {
            truth.insert(f, vec![row(f, face(0.0), true)]);
            let k = if f % 2 == 0 { 1.1 } else { 0.9 };
            cycle.insert(f, vec![row(f, scaled(k), true)]);
            zoom.insert(f, vec![row(f, scaled(1.0 + 0.002 * f as f32), true)]);
        }
        let c = clip_stats(&truth, &cycle, PointSet::Ibug68);
        // 11 alternating steps in a row are one run
        assert_eq!(c.oscillation_runs(), 1);
        let ln = (1.1f64 / 0.9).ln() * 100.0;
        assert!((c.size_jitter() - ln).abs() < 0.5, "{}", c.size_jitter());
        let z = clip_stats(&truth, &zoom, PointSet::Ibug68);
        assert_eq!(z.oscillation_runs(), 0);
        assert!(z.size_jitter() < 0.3, "{}", z.size_jitter());
        assert!(z.nme_quantile(1.0) >= z.nme_quantile(0.95));
    }

    #[test]
    fn a_constant_error_on_a_turning_face_is_flicker_in_the_image_but_not_on_the_face() {
        let turn = |pts: &[Point], a: f32| -> Vec<Point> {
            let (sin, cos) = a.sin_cos();
            pts.iter()
                .map(|p| {
                    let (x, y) = (p.x - 100.0, p.y - 80.0);
                    Point::new(100.0 + cos * x - sin * y, 80.0 + sin * x + cos * y)
                })
                .collect()
        };
        let (mut truth, mut pred) = (BTreeMap::new(), BTreeMap::new());
        for f in 1..=10u64 {
            let a = 0.05 * f as f32;
            truth.insert(f, vec![row(f, turn(&face(0.0), a), true)]);
            // 2 px right of the truth in the face's frame, on every frame
            pred.insert(f, vec![row(f, turn(&face(2.0), a), true)]);
        }
        let s = clip_stats(&truth, &pred, PointSet::Ibug68);
        // in the image the 2 px error turns 0.05 rad a frame: 0.1 px, 0.1 % of 100 px
        assert!((s.flicker() - 0.1).abs() < 0.01, "{}", s.flicker());
        assert!(s.face_flicker() < 1e-3, "{}", s.face_flicker());
    }
}
