//! The One Euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass filter whose
//! cut-off rises with the signal's speed, so still points stop jittering while fast
//! motion is followed with little lag.
//!
//! A 68-point face is smoothed in its own frame: each frame's points are split into the
//! face's position, size and roll (a similarity fitted to the mean shape, all 68 points)
//! and its shape in that frame. Only the shape is filtered, one One Euro filter per
//! coordinate; the position, size and roll pass through as measured. Head motion therefore
//! has no lag at all, while the frame-to-frame jitter of single points (the model's noise)
//! is filtered. Other point sets are filtered per image coordinate.

use crate::core::crop_rule::{face_frame_all, MEAN_SHAPE_68};
use crate::core::geometry::Point;

/// One Euro parameters. Units: `min_cutoff` and `d_cutoff` in Hz; `beta` in 1/(pixel/s)
/// scaled by the face size (speeds are divided by the face's inter-ocular distance so
/// the same settings work for near and far faces).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct OneEuroParams {
    /// Cut-off at rest: lower = steadier, more lag when motion starts.
    pub min_cutoff: f32,
    /// Speed coefficient: higher = less lag on fast motion.
    pub beta: f32,
    /// Cut-off of the speed estimate.
    pub d_cutoff: f32,
}

impl Default for OneEuroParams {
    fn default() -> Self {
        OneEuroParams {
            min_cutoff: 1.0,
            beta: 0.05,
            d_cutoff: 1.0,
        }
    }
}

fn alpha(cutoff: f32, dt: f32) -> f32 {
    let tau = 1.0 / (std::f32::consts::TAU * cutoff.max(1e-6));
    1.0 / (1.0 + tau / dt)
}

/// One scalar One Euro filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct OneEuro {
    x: Option<f32>,
    dx: f32,
}

impl OneEuro {
    /// Filter `v` observed `dt` seconds after the previous value; `scale` divides speeds.
    pub fn filter(&mut self, v: f32, dt: f32, scale: f32, p: &OneEuroParams) -> f32 {
        let Some(prev) = self.x else {
            self.x = Some(v);
            return v;
        };
        if dt.is_nan() || dt <= 0.0 || !v.is_finite() {
            return prev;
        }
        let d = (v - prev) / dt;
        let ad = alpha(p.d_cutoff, dt);
        self.dx = ad * d + (1.0 - ad) * self.dx;
        let cutoff = p.min_cutoff + p.beta * (self.dx.abs() / scale.max(1e-6)) * 100.0;
        let a = alpha(cutoff, dt);
        let out = a * v + (1.0 - a) * prev;
        self.x = Some(out);
        out
    }
}

/// Filters for a whole face.
#[derive(Debug, Clone, Default)]
pub struct PointSmoother {
    filters: Vec<(OneEuro, OneEuro)>,
    last_t: Option<f64>,
    /// Whether the filters hold face-frame coordinates (else image coordinates).
    in_face_frame: bool,
}

impl PointSmoother {
    /// Smooth the points seen at time `t` (seconds); `scale` is the face size in pixels.
    pub fn smooth(&mut self, pts: &[Point], t: f64, scale: f32, p: &OneEuroParams) -> Vec<Point> {
        if self.filters.len() != pts.len() {
            self.filters = vec![Default::default(); pts.len()];
            self.last_t = None;
        }
        let dt = match self.last_t {
            Some(l) if t > l => (t - l) as f32,
            Some(_) => 1.0 / 30.0,
            None => 0.0,
        };
        self.last_t = Some(t);
        let dt = if dt == 0.0 { 1.0 } else { dt };
        let frame = face_frame_all(pts);
        if frame.is_some() != self.in_face_frame {
            // the filters' coordinates change meaning: start them afresh
            self.filters = vec![Default::default(); pts.len()];
            self.in_face_frame = frame.is_some();
        }
        if let Some(frame) = frame {
            // the shape in the face's frame, where one unit is the mean face's box side:
            // speeds are scaled by the mean inter-ocular distance in those units
            let iod = {
                let (a, b) = (MEAN_SHAPE_68[36], MEAN_SHAPE_68[45]);
                ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
            };
            return pts
                .iter()
                .zip(self.filters.iter_mut())
                .map(|(q, (fx, fy))| {
                    let c = frame.invert(*q);
                    frame.apply([fx.filter(c[0], dt, iod, p), fy.filter(c[1], dt, iod, p)])
                })
                .collect();
        }
        pts.iter()
            .zip(self.filters.iter_mut())
            .map(|(q, (fx, fy))| {
                Point::new(fx.filter(q.x, dt, scale, p), fy.filter(q.y, dt, scale, p))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn still_noisy_signal_is_steadied() {
        let p = OneEuroParams::default();
        let mut f = OneEuro::default();
        let mut raw_var = 0.0;
        let mut out_var = 0.0;
        let mut seed = 1u32;
        for i in 0..300 {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let y = f.filter(100.0 + noise, 1.0 / 30.0, 50.0, &p);
            if i > 50 {
                raw_var += noise * noise;
                out_var += (y - 100.0) * (y - 100.0);
            }
        }
        assert!(out_var < raw_var * 0.3, "raw {raw_var} filtered {out_var}");
    }

    #[test]
    fn fast_motion_is_followed() {
        let p = OneEuroParams::default();
        let mut f = OneEuro::default();
        let mut y = 0.0;
        for i in 0..60 {
            y = f.filter(i as f32 * 10.0, 1.0 / 30.0, 50.0, &p);
        }
        // a 300 px/s ramp: lag stays under a few frames' motion
        assert!((590.0 - y).abs() < 40.0, "{y}");
    }

    /// The mean face, turned by `angle`, scaled to `side` pixels and moved to `(x, y)`.
    fn face(angle: f32, side: f32, x: f32, y: f32) -> Vec<Point> {
        let s = crate::core::crop_rule::Similarity {
            scale: side,
            angle,
            tx: x,
            ty: y,
        };
        MEAN_SHAPE_68.iter().map(|&p| s.apply(p)).collect()
    }

    #[test]
    fn head_motion_passes_without_lag() {
        // a face that turns 90 degrees a second, shrinks and races across the frame: its
        // shape never changes, so the smoothed points are the measured ones
        let mut s = PointSmoother::default();
        let p = OneEuroParams::default();
        for i in 0..60 {
            let t = i as f32 / 30.0;
            let pts = face(
                1.57 * t,
                200.0 - 80.0 * t,
                100.0 + 400.0 * t,
                240.0 + 50.0 * t,
            );
            let out = s.smooth(&pts, t as f64, 60.0, &p);
            let worst = out
                .iter()
                .zip(&pts)
                .map(|(a, b)| a.dist(*b))
                .fold(0f32, f32::max);
            assert!(worst < 0.01, "frame {i}: a point lags {worst} px");
        }
    }

    #[test]
    fn the_shape_jitter_of_a_moving_face_is_steadied() {
        // the same motion with 1 px of noise on every point: the noise is filtered while
        // the face moves (the old per-pixel filter could only do that by lagging)
        let mut s = PointSmoother::default();
        let p = OneEuroParams::default();
        let mut seed = 7u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let (mut raw, mut out_err, mut n) = (0f32, 0f32, 0);
        for i in 0..90 {
            let t = i as f32 / 30.0;
            let clean = face(0.8 * t, 180.0, 100.0 + 200.0 * t, 240.0);
            let noisy: Vec<Point> = clean
                .iter()
                .map(|q| Point::new(q.x + 2.0 * noise(), q.y + 2.0 * noise()))
                .collect();
            let out = s.smooth(&noisy, t as f64, 60.0, &p);
            if i > 15 {
                for k in 0..68 {
                    raw += noisy[k].dist(clean[k]).powi(2);
                    out_err += out[k].dist(clean[k]).powi(2);
                    n += 1;
                }
            }
        }
        let (raw, out_err) = ((raw / n as f32).sqrt(), (out_err / n as f32).sqrt());
        assert!(
            out_err < 0.6 * raw,
            "error {out_err} px after smoothing, {raw} px raw"
        );
    }

    #[test]
    fn first_value_passes_through() {
        let mut s = PointSmoother::default();
        let pts = vec![Point::new(1.0, 2.0); 3];
        assert_eq!(s.smooth(&pts, 0.0, 10.0, &OneEuroParams::default()), pts);
    }
}
