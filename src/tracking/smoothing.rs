//! The One Euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass filter whose
//! cut-off rises with the signal's speed, so still points stop jittering while fast
//! motion is followed with little lag. One filter per coordinate of every point.

use crate::core::geometry::Point;

/// One Euro parameters. Units: `min_cutoff` and `d_cutoff` in Hz; `beta` in 1/(pixel/s)
/// scaled by the face size (speeds are divided by the face's inter-ocular distance so
/// the same settings work for near and far faces).
#[derive(Debug, Clone, Copy, PartialEq)]
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
        pts.iter()
            .zip(self.filters.iter_mut())
            .map(|(q, (fx, fy))| {
                if dt == 0.0 {
                    Point::new(fx.filter(q.x, 1.0, scale, p), fy.filter(q.y, 1.0, scale, p))
                } else {
                    Point::new(fx.filter(q.x, dt, scale, p), fy.filter(q.y, dt, scale, p))
                }
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

    #[test]
    fn first_value_passes_through() {
        let mut s = PointSmoother::default();
        let pts = vec![Point::new(1.0, 2.0); 3];
        assert_eq!(s.smooth(&pts, 0.0, 10.0, &OneEuroParams::default()), pts);
    }
}
