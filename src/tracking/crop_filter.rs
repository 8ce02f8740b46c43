//! The tracker's crop loop, as a pure function: each frame, a tracked face's next crop
//! is its filtered crop state moved toward the crop its new landmarks ask for
//! ([`crate::core::crop_rule`]), never that crop itself.
//!
//! Why: taking the next crop straight from the previous frame's landmarks is a loop
//! with no memory. A model that over-corrects the face size by more than 2× (it sees a
//! big crop and answers too small, then the reverse) makes that loop's fixed point
//! unstable, and the crop settles into a big-small-big cycle. Moving only a share
//! [`SIZE_GAIN`] of the way keeps the loop stable for any over-correction below
//! `2 / SIZE_GAIN` = 4×. The centre follows with a constant-velocity (alpha-beta) filter,
//! so fast motion is still followed without lag; the roll follows with its own gain.
//!
//! The same step measures how the new crop disagrees with the state; a jump in size or
//! a size that flips direction frame after frame marks the track *suspect*, and the
//! tracker then runs the detector on the next frame to check it.

use crate::core::geometry::{CropTransform, Point};

/// Share of the size correction taken each frame (log size).
pub const SIZE_GAIN: f32 = 0.5;
/// Share of the centre correction taken each frame.
pub const CENTER_GAIN: f32 = 0.75;
/// Share of the centre correction added to the centre's velocity each frame.
pub const VELOCITY_GAIN: f32 = 0.25;
/// Share of the roll correction taken each frame.
pub const ROLL_GAIN: f32 = 0.6;
/// A log-size correction above this (about 22 %) marks the track suspect.
pub const SIZE_JUMP: f32 = 0.2;
/// Size corrections smaller than this (log) are noise and do not count as a direction.
pub const SIZE_NOISE: f32 = 0.02;
/// This many size corrections in a row alternating in sign mark the track suspect.
pub const ALTERNATIONS: usize = 3;

/// A tracked face's crop, filtered over frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropState {
    pub center: Point,
    /// Centre velocity, pixels per frame.
    pub velocity: Point,
    /// Natural log of the face side in pixels (the crop side over the crop scale).
    pub log_side: f32,
    /// Roll, radians (0 for upright crops).
    pub angle: f32,
    /// Signed size corrections of the last frames (newest last), for the oscillation check.
    recent: [f32; ALTERNATIONS],
    frames: u32,
}

/// What one step of the loop found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropCheck {
    /// The log-size correction the new landmarks asked for.
    pub size_correction: f32,
    /// A size jump or an oscillating size: have the detector look at this face.
    pub suspect: bool,
    /// How far the new crop is from the one the state predicted: the centre's miss in
    /// face sides and the log-size correction, combined (their Euclidean norm). Near 0
    /// while the crop follows its face; a crop sliding off its face onto another (a
    /// covered face's, onto the face in front) misses by a tenth of a side or more.
    pub surprise: f32,
}

impl CropState {
    /// The state of a crop seen for the first time (no velocity, no history).
    pub fn new(crop: &CropTransform, crop_scale: f32) -> Self {
        CropState {
            center: crop.center,
            velocity: Point::default(),
            log_side: side_of(crop, crop_scale).ln(),
            angle: crop.angle,
            recent: [0.0; ALTERNATIONS],
            frames: 0,
        }
    }

    /// The crop to use on the next frame.
    pub fn crop(&self, crop_scale: f32) -> CropTransform {
        let half = 0.5 * crop_scale * self.log_side.exp();
        CropTransform {
            center: Point::new(
                self.center.x + self.velocity.x,
                self.center.y + self.velocity.y,
            ),
            half_w: half,
            half_h: half,
            angle: self.angle,
        }
    }

    /// Move part of the way toward another estimate of the face (a confirming
    /// detection's crop), `weight` in 0..1, velocity kept.
    pub fn blend(&mut self, other: &CropTransform, crop_scale: f32, weight: f32) {
        let w = weight.clamp(0.0, 1.0);
        self.center.x += w * (other.center.x - self.center.x);
        self.center.y += w * (other.center.y - self.center.y);
        self.log_side += w * (side_of(other, crop_scale).ln() - self.log_side);
    }
}

fn side_of(crop: &CropTransform, crop_scale: f32) -> f32 {
    (2.0 * crop.half_w.max(crop.half_h) / crop_scale.max(1e-3)).max(1.0)
}

/// Wrap an angle difference into (-pi, pi].
fn wrap(a: f32) -> f32 {
    let t = std::f32::consts::TAU;
    let r = a.rem_euclid(t);
    if r > std::f32::consts::PI {
        r - t
    } else {
        r
    }
}

/// One step of the crop loop: the previous state and the crop the new landmarks ask for
/// (`measured`, from [`crate::core::crop_rule::crop_from_points`]) give the next state and
/// what the check found.
pub fn next_crop(
    prev: &CropState,
    measured: &CropTransform,
    crop_scale: f32,
) -> (CropState, CropCheck) {
    let predicted = Point::new(
        prev.center.x + prev.velocity.x,
        prev.center.y + prev.velocity.y,
    );
    let (rx, ry) = (
        measured.center.x - predicted.x,
        measured.center.y - predicted.y,
    );
    let size_correction = side_of(measured, crop_scale).ln() - prev.log_side;
    let mut next = *prev;
    next.center = Point::new(
        predicted.x + CENTER_GAIN * rx,
        predicted.y + CENTER_GAIN * ry,
    );
    next.velocity = Point::new(
        prev.velocity.x + VELOCITY_GAIN * rx,
        prev.velocity.y + VELOCITY_GAIN * ry,
    );
    next.log_side = prev.log_side + SIZE_GAIN * size_correction;
    next.angle = prev.angle + ROLL_GAIN * wrap(measured.angle - prev.angle);
    next.recent.rotate_left(1);
    next.recent[ALTERNATIONS - 1] = size_correction;
    next.frames = prev.frames.saturating_add(1);
    let alternating = next.frames as usize >= ALTERNATIONS
        && next.recent.iter().all(|d| d.abs() > SIZE_NOISE)
        && next
            .recent
            .windows(2)
            .all(|w| w[0].signum() != w[1].signum());
    let suspect = size_correction.abs() > SIZE_JUMP || alternating;
    if alternating {
        // one alarm per run of alternations
        next.recent = [0.0; ALTERNATIONS];
    }
    (
        next,
        CropCheck {
            size_correction,
            suspect,
            surprise: (rx.hypot(ry) / prev.log_side.exp()).hypot(size_correction),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crop(cx: f32, cy: f32, side: f32, angle: f32) -> CropTransform {
        CropTransform {
            center: Point::new(cx, cy),
            half_w: 0.75 * side,
            half_h: 0.75 * side,
            angle,
        }
    }

    /// A fake model that over-corrects the face size `gain` times: shown a crop of face
    /// side `s` on a face of true side `truth`, it answers `s - gain * (s - truth)`.
    fn over_correcting(s: f32, truth: f32, gain: f32) -> f32 {
        (s - gain * (s - truth)).max(1.0)
    }

    #[test]
    fn an_over_correcting_model_converges_instead_of_cycling() {
        let truth = 100.0;
        // the raw loop (next crop = measured crop) cycles or diverges for gain 2.6
        let mut s = 130.0f32;
        let mut raw = Vec::new();
        for _ in 0..30 {
            s = over_correcting(s, truth, 2.6);
            raw.push(s);
        }
        let tail = &raw[20..];
        assert!(
            tail.iter().any(|&v| (v - truth).abs() > 10.0),
            "the unfiltered loop should not settle: {tail:?}"
        );
        // the filtered loop settles on the truth
        let mut st = CropState::new(&crop(50.0, 50.0, 130.0, 0.0), 1.5);
        let mut suspects = 0;
        for _ in 0..30 {
            let shown = st.crop(1.5);
            let side = 2.0 * shown.half_w / 1.5;
            let m = crop(50.0, 50.0, over_correcting(side, truth, 2.6), 0.0);
            let (n, chk) = next_crop(&st, &m, 1.5);
            suspects += chk.suspect as usize;
            st = n;
        }
        let side = st.log_side.exp();
        assert!((side - truth).abs() < 1.0, "settled at {side}");
        // it took a few steps to settle, and the early large corrections were flagged
        assert!(suspects >= 1);
    }

    #[test]
    fn alternating_size_corrections_are_flagged() {
        let mut st = CropState::new(&crop(0.0, 0.0, 100.0, 0.0), 1.5);
        let mut flagged = false;
        for k in 0..6 {
            let side = if k % 2 == 0 { 110.0 } else { 92.0 };
            let (n, chk) = next_crop(&st, &crop(0.0, 0.0, side, 0.0), 1.5);
            flagged |= chk.suspect;
            st = n;
        }
        assert!(flagged);
        // a steady face is never flagged
        let mut st = CropState::new(&crop(0.0, 0.0, 100.0, 0.0), 1.5);
        for k in 0..50 {
            let side = 100.0 + (k as f32 * 0.7).sin() * 1.0;
            let (n, chk) = next_crop(&st, &crop(0.0, 0.0, side, 0.0), 1.5);
            assert!(!chk.suspect, "frame {k}");
            st = n;
        }
    }

    #[test]
    fn constant_motion_is_followed_without_lag() {
        let mut st = CropState::new(&crop(0.0, 0.0, 100.0, 0.0), 1.5);
        for k in 1..60 {
            let x = 15.0 * k as f32; // 15 px per frame
            st = next_crop(&st, &crop(x, 0.0, 100.0, 0.0), 1.5).0;
        }
        // the crop for the next frame is where the face will be
        let next = st.crop(1.5).center.x;
        assert!((next - 15.0 * 60.0).abs() < 1.0, "{next}");
    }

    #[test]
    fn roll_follows_the_face_across_the_wrap() {
        let mut st = CropState::new(&crop(0.0, 0.0, 100.0, 3.1), 1.5);
        for _ in 0..20 {
            st = next_crop(&st, &crop(0.0, 0.0, 100.0, -3.1), 1.5).0;
        }
        assert!((wrap(st.angle - (-3.1))).abs() < 1e-3, "{}", st.angle);
    }

    #[test]
    fn blending_moves_part_of_the_way() {
        let mut st = CropState::new(&crop(0.0, 0.0, 100.0, 0.0), 1.5);
        st.blend(&crop(10.0, 0.0, 200.0, 0.0), 1.5, 0.5);
        assert!((st.center.x - 5.0).abs() < 1e-5);
        assert!((st.log_side.exp() - (100.0f32 * 200.0).sqrt()).abs() < 1e-2);
    }
}
