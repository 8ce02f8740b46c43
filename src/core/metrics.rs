//! Landmark error metrics as the 300-W literature defines them: normalised mean error
//! (mean point-to-point error over the inter-ocular distance of the ground truth),
//! failure rates and the area under the cumulative error curve.

use crate::core::geometry::Point;
use crate::core::layout::PointSet;

/// Distance between the ground truth's outer eye corners, if the set defines them.
pub fn inter_ocular(truth: &[Point], set: PointSet) -> Option<f32> {
    let (a, b) = set.normalising_pair()?;
    let d = truth.get(a)?.dist(*truth.get(b)?);
    (d > 0.0 && d.is_finite()).then_some(d)
}

/// Mean point-to-point distance in pixels (`None` when the lengths differ or are 0).
pub fn mean_error(pred: &[Point], truth: &[Point]) -> Option<f32> {
    if pred.len() != truth.len() || pred.is_empty() {
        return None;
    }
    Some(pred.iter().zip(truth).map(|(p, t)| p.dist(*t)).sum::<f32>() / pred.len() as f32)
}

/// Normalised mean error of one face (a fraction: 0.05 is 5 %).
pub fn nme(pred: &[Point], truth: &[Point], set: PointSet) -> Option<f32> {
    Some(mean_error(pred, truth)? / inter_ocular(truth, set)?)
}

/// Summary of per-face errors.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ErrorSummary {
    pub faces: usize,
    pub mean: f64,
    pub median: f64,
    /// Share of faces with error above 0.08.
    pub fr_008: f64,
    /// Share of faces with error above 0.10.
    pub fr_010: f64,
    /// Area under the cumulative error curve from 0 to 0.08, divided by 0.08.
    pub auc_008: f64,
}

/// Failure threshold and curve limit used by 300-W papers.
pub const AUC_LIMIT: f64 = 0.08;

/// Summarise per-face normalised errors.
pub fn summarise(errors: &[f32]) -> ErrorSummary {
    let mut e: Vec<f64> = errors
        .iter()
        .map(|&x| x as f64)
        .filter(|x| x.is_finite())
        .collect();
    if e.is_empty() {
        return ErrorSummary::default();
    }
    e.sort_by(|a, b| a.total_cmp(b));
    let n = e.len();
    let median = if n % 2 == 1 {
        e[n / 2]
    } else {
        0.5 * (e[n / 2 - 1] + e[n / 2])
    };
    ErrorSummary {
        faces: n,
        mean: e.iter().sum::<f64>() / n as f64,
        median,
        fr_008: e.iter().filter(|&&x| x > 0.08).count() as f64 / n as f64,
        fr_010: e.iter().filter(|&&x| x > 0.10).count() as f64 / n as f64,
        auc_008: auc(&e, AUC_LIMIT),
    }
}

/// Area under the cumulative error distribution on [0, limit], normalised to [0, 1].
/// The CED is a step function: F(x) = share of errors <= x, so the area is exactly
/// the mean over faces of `max(0, limit - e) / limit`.
pub fn auc(errors: &[f64], limit: f64) -> f64 {
    if errors.is_empty() || limit <= 0.0 {
        return 0.0;
    }
    errors.iter().map(|&e| (limit - e).max(0.0)).sum::<f64>() / (errors.len() as f64 * limit)
}

/// How well a score separates two groups: the area under the ROC curve, the chance that
/// a member of `low` scores below a member of `high` (ties count half; Mann-Whitney U
/// over `low.len() * high.len()`). 1 is perfect separation, 0.5 chance; `None` when a
/// group is empty.
pub fn separation_auc(low: &[f32], high: &[f32]) -> Option<f64> {
    if low.is_empty() || high.is_empty() {
        return None;
    }
    let mut h: Vec<f32> = high.to_vec();
    h.sort_by(f32::total_cmp);
    let mut wins = 0f64;
    for &l in low {
        // members of `high` above l, and equal to it
        let above = h.len() - h.partition_point(|&x| x <= l);
        let equal = h.partition_point(|&x| x <= l) - h.partition_point(|&x| x < l);
        wins += above as f64 + 0.5 * equal as f64;
    }
    Some(wins / (low.len() as f64 * h.len() as f64))
}

/// Points of the cumulative error curve for plotting: (error, share of faces <= error).
pub fn ced_curve(errors: &[f32], limit: f32, steps: usize) -> Vec<(f32, f32)> {
    let n = errors.len().max(1) as f32;
    (0..=steps)
        .map(|i| {
            let x = limit * i as f32 / steps as f32;
            (x, errors.iter().filter(|&&e| e <= x).count() as f32 / n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> Vec<Point> {
        let mut v: Vec<Point> = (0..68)
            .map(|i| Point::new(i as f32, (i % 7) as f32))
            .collect();
        v[36] = Point::new(10.0, 50.0);
        v[45] = Point::new(110.0, 50.0);
        v
    }

    #[test]
    fn separation_auc_counts_ordered_pairs() {
        assert_eq!(separation_auc(&[0.1, 0.2], &[0.5, 0.9]), Some(1.0));
        assert_eq!(separation_auc(&[0.5, 0.9], &[0.1, 0.2]), Some(0.0));
        // one of four pairs ordered, one tied: (1 + 0.5) / 4
        assert_eq!(separation_auc(&[0.3, 0.5], &[0.5, 0.2]), Some(0.375));
        assert_eq!(separation_auc(&[], &[1.0]), None);
    }

    #[test]
    fn perfect_prediction_has_zero_error() {
        let t = face();
        assert_eq!(nme(&t, &t, PointSet::Ibug68), Some(0.0));
    }

    #[test]
    fn known_offset_gives_known_nme() {
        let t = face();
        // every point 3 px right, 4 px down: 5 px error; inter-ocular 100 px
        let p: Vec<Point> = t.iter().map(|q| Point::new(q.x + 3.0, q.y + 4.0)).collect();
        let e = nme(&p, &t, PointSet::Ibug68).unwrap();
        assert!((e - 0.05).abs() < 1e-6, "{e}");
    }

    #[test]
    fn auc_of_a_step_curve() {
        // all faces at error 0.02: CED is 0 below 0.02 and 1 from there: area 0.06/0.08
        let s = summarise(&[0.02; 10]);
        assert!((s.auc_008 - 0.75).abs() < 1e-6, "{s:?}");
        // half at 0 and half failing: area 0.5
        assert!((auc(&[0.0, 0.2], 0.08) - 0.5).abs() < 1e-9);
        let s = summarise(&[0.01, 0.09, 0.2, 0.05]);
        assert_eq!(s.fr_008, 0.5);
        assert_eq!(s.fr_010, 0.25);
        assert!((s.median - 0.07).abs() < 1e-6);
    }

    #[test]
    fn undefined_normaliser_gives_none() {
        let t = vec![Point::new(1.0, 1.0); 68];
        assert_eq!(nme(&t, &t, PointSet::Ibug68), None);
        assert_eq!(nme(&t[..1], &t[..1], PointSet::NoseTip), None);
    }
}
