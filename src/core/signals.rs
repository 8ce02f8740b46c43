//! Eye and mouth signals from the 68 iBUG points (0-based indices, see
//! [`crate::core::layout`]): what blink, drowsiness and talking-head users take from a
//! landmark tracker.
//!
//! - **Eye openness** (`eye_open_l`, `eye_open_r`): the eye aspect ratio of Soukupová and
//!   Čech ("Real-Time Eye Blink Detection using Facial Landmarks", CVWW 2016),
//!   `EAR = (|p1 - p5| + |p2 - p4|) / (2 |p0 - p3|)` over the six eyelid points of an eye
//!   (36-41, 42-47), mapped linearly so that [`EAR_CLOSED`] is 0 and [`EAR_OPEN`] is 1,
//!   and clamped to `0..=`[`OPENNESS_MAX`]. Both ends were fitted on the shipped model's
//!   points for the labelled 300-W faces (`facetrack eval --data 300w --boxes tracked
//!   --signals`): the median predicted EAR of the eyes whose human labels are closed
//!   (labelled EAR below [`LABEL_CLOSED_EAR`]: 78 eyes, median 0.178) and of the eyes
//!   labelled open (above [`LABEL_OPEN_EAR`]: 3,846 eyes, median 0.330; YouTube Faces:
//!   10 closed at 0.182, 7,979 open at 0.289). The model, like OpenFace, does not shut a
//!   closed eye's points completely, so the scale is fitted on its points, not the labels'.
//!   `_l` is the subject's left eye (points 42-47, on the image's right), `_r` the
//!   subject's right eye (36-41): named for the subject, as the 68-point scheme names
//!   its points. (OpenFace's own eye columns count from the eye leftmost in the image,
//!   its "eye 0" being facetrack's `_r`; it writes no openness columns.)
//! - **Blink** (`blink`): both eyes closed: the larger openness of the two below
//!   [`BLINK_ON`]. In a video a blink, once started, lasts until the larger openness
//!   rises above [`BLINK_OFF`] ([`BlinkState`]: hysteresis, so a lid that hovers at the
//!   threshold gives one blink, not a flicker of them). One closed eye (a wink, an eye
//!   hidden by the nose in profile) is not a blink.
//! - **`AU45_r`**: OpenFace's blink intensity on its 0-5 scale, approximated from the
//!   landmarks: `5 * clamp(1 - mean openness, 0, 1)` (0 for open eyes, 5 for closed). It
//!   is not OpenFace's appearance-based regressor; it follows the eyelid points.
//! - **Mouth openness** (`mouth_open`): the mean gap between the inner lips (points
//!   61-67, 62-66, 63-65) over the distance of the outer eye corners (36-45, 300-W's
//!   normaliser). On the 300-W labels: 0 for closed lips (half the faces), median 0.03,
//!   0.11 / 0.16 / 0.21 at the 75th / 90th / 95th percentile (parted lips, open smiles),
//!   0.35 at the 99th (a wide-open mouth).

use crate::core::geometry::Point;

/// Eye aspect ratio that maps to openness 0 (see the module docs for how it was fitted).
pub const EAR_CLOSED: f32 = 0.18;
/// Eye aspect ratio that maps to openness 1.
pub const EAR_OPEN: f32 = 0.32;
/// Openness is clamped to `0..=OPENNESS_MAX` (a wide-open eye or a badly foreshortened
/// one in profile can give more than 1).
pub const OPENNESS_MAX: f32 = 2.0;
/// A blink starts when both eyes' openness is below this. With the still-image rule on
/// the 300-W faces (tracked crops): 23 of the 35 faces with both eyes labelled closed
/// are flagged, 25 of the 1,902 with both open (YouTube Faces' small, often narrowed
/// eyes: 270 of 3,787 open faces).
pub const BLINK_ON: f32 = 0.2;
/// A blink in a video ends when either eye's openness is above this.
pub const BLINK_OFF: f32 = 0.45;
/// A labelled eye with an EAR below this is closed (its lid points touch or nearly).
pub const LABEL_CLOSED_EAR: f32 = 0.05;
/// A labelled eye with an EAR above this is open.
pub const LABEL_OPEN_EAR: f32 = 0.15;

/// First point of the subject's right eye (image-left), 36-41.
pub const RIGHT_EYE: usize = 36;
/// First point of the subject's left eye (image-right), 42-47.
pub const LEFT_EYE: usize = 42;

/// The signals of one face in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaceSignals {
    /// Openness of the subject's left eye (points 42-47).
    pub eye_open_l: f32,
    /// Openness of the subject's right eye (points 36-41).
    pub eye_open_r: f32,
    /// Inner-lip gap over the outer-eye-corner distance.
    pub mouth_open: f32,
    /// Both eyes closed (for a still image; a video applies [`BlinkState`]).
    pub blink: bool,
    /// OpenFace-scale blink intensity, 0-5.
    pub au45_r: f32,
}

/// The eye aspect ratio of the eye whose six points start at `first` (36 or 42), or
/// `None` when the points are missing or the eye has no width.
pub fn eye_aspect_ratio(points: &[Point], first: usize) -> Option<f32> {
    let e = points.get(first..first + 6)?;
    let width = e[0].dist(e[3]);
    if !(width > 0.0 && width.is_finite()) {
        return None;
    }
    let ear = (e[1].dist(e[5]) + e[2].dist(e[4])) / (2.0 * width);
    ear.is_finite().then_some(ear)
}

/// An eye aspect ratio as openness: [`EAR_CLOSED`] → 0, [`EAR_OPEN`] → 1, clamped.
pub fn openness(ear: f32) -> f32 {
    ((ear - EAR_CLOSED) / (EAR_OPEN - EAR_CLOSED)).clamp(0.0, OPENNESS_MAX)
}

/// OpenFace's `AU45_r` scale from the two eyes' openness.
pub fn au45_from_openness(l: f32, r: f32) -> f32 {
    5.0 * (1.0 - 0.5 * (l + r)).clamp(0.0, 1.0)
}

/// Whether two eyes with this openness are closed (no history: a still image).
pub fn both_closed(l: f32, r: f32) -> bool {
    l.max(r) < BLINK_ON
}

/// The inner-lip gap over the outer-eye-corner distance.
pub fn mouth_openness(points: &[Point]) -> Option<f32> {
    if points.len() < 68 {
        return None;
    }
    let scale = points[36].dist(points[45]);
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let gap =
        (points[61].dist(points[67]) + points[62].dist(points[66]) + points[63].dist(points[65]))
            / 3.0;
    let m = gap / scale;
    m.is_finite().then_some(m)
}

/// The signals of a 68-point face (`None` for other layouts or degenerate points).
pub fn face_signals(points: &[Point]) -> Option<FaceSignals> {
    let l = openness(eye_aspect_ratio(points, LEFT_EYE)?);
    let r = openness(eye_aspect_ratio(points, RIGHT_EYE)?);
    Some(FaceSignals {
        eye_open_l: l,
        eye_open_r: r,
        mouth_open: mouth_openness(points)?,
        blink: both_closed(l, r),
        au45_r: au45_from_openness(l, r),
    })
}

/// A face's blink over the frames of a video: starts below [`BLINK_ON`] (both eyes),
/// ends above [`BLINK_OFF`] (either eye).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlinkState {
    closed: bool,
}

impl BlinkState {
    /// Take one frame's openness; returns whether the face is blinking in it.
    pub fn update(&mut self, l: f32, r: f32) -> bool {
        let open = l.max(r);
        self.closed = if self.closed {
            open <= BLINK_OFF
        } else {
            open < BLINK_ON
        };
        self.closed
    }
}

/// The blinks of a video's faces over its frames: a [`BlinkState`] per face id, kept
/// while the face is in the frames and forgotten when it leaves (its id does not come
/// back). One rule for the CSV, Python's arrays and Python's faces.
#[derive(Debug, Clone, Default)]
pub struct FaceBlinks(std::collections::HashMap<u32, BlinkState>);

impl FaceBlinks {
    /// One frame's faces, as (id, still-image signals): the signals with `blink` held
    /// over the frames. A face without signals this frame keeps its state.
    pub fn frame(&mut self, faces: &[(u32, Option<FaceSignals>)]) -> Vec<Option<FaceSignals>> {
        let mut next = std::collections::HashMap::with_capacity(faces.len());
        let out = faces
            .iter()
            .map(|&(id, signals)| {
                let mut state = self.0.get(&id).copied().unwrap_or_default();
                let signals = signals.map(|mut g| {
                    g.blink = state.update(g.eye_open_l, g.eye_open_r);
                    g
                });
                next.insert(id, state);
                signals
            })
            .collect();
        self.0 = next;
        out
    }

    /// Forget every face (the tracker was reset: its ids start again).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crop_rule::MEAN_SHAPE_68;

    fn mean_face() -> Vec<Point> {
        MEAN_SHAPE_68
            .iter()
            .map(|p| Point::new(100.0 + 100.0 * p[0], 100.0 + 100.0 * p[1]))
            .collect()
    }

    /// Move the eyelid points of the eye at `first` toward its corner line, so that its
    /// EAR becomes `ear`.
    fn set_ear(p: &mut [Point], first: usize, ear: f32) {
        let (a, b) = (p[first], p[first + 3]);
        let w = a.dist(b);
        let mid_y = 0.5 * (a.y + b.y);
        for (up, down) in [(1, 5), (2, 4)] {
            p[first + up].y = mid_y - 0.5 * ear * w;
            p[first + down].y = mid_y + 0.5 * ear * w;
            p[first + down].x = p[first + up].x;
        }
    }

    #[test]
    fn a_closed_eye_reads_0_an_open_one_1() {
        let mut p = mean_face();
        set_ear(&mut p, LEFT_EYE, EAR_OPEN);
        set_ear(&mut p, RIGHT_EYE, 0.0);
        let s = face_signals(&p).unwrap();
        assert!((s.eye_open_l - 1.0).abs() < 1e-4, "{s:?}");
        assert_eq!(s.eye_open_r, 0.0);
        // one eye closed is no blink; AU45 halfway
        assert!(!s.blink);
        assert!((s.au45_r - 2.5).abs() < 1e-3);
        set_ear(&mut p, LEFT_EYE, 0.02);
        let s = face_signals(&p).unwrap();
        assert!(s.blink);
        assert_eq!(s.au45_r, 5.0);
    }

    #[test]
    fn openness_does_not_depend_on_face_size_or_place() {
        let p = mean_face();
        let big: Vec<Point> = p
            .iter()
            .map(|q| Point::new(3.0 * q.x + 40.0, 3.0 * q.y - 7.0))
            .collect();
        let (a, b) = (face_signals(&p).unwrap(), face_signals(&big).unwrap());
        assert!((a.eye_open_l - b.eye_open_l).abs() < 1e-4);
        assert!((a.mouth_open - b.mouth_open).abs() < 1e-4);
        // the mean shape's eyes are open, its lips closed
        assert!(a.eye_open_l > 0.7 && a.eye_open_r > 0.7, "{a:?}");
        assert!(a.mouth_open < 0.1, "{a:?}");
    }

    #[test]
    fn an_open_mouth_reads_its_gap_over_the_eye_distance() {
        let mut p = mean_face();
        let scale = p[36].dist(p[45]);
        for (up, down) in [(61, 67), (62, 66), (63, 65)] {
            p[down].y = p[up].y + 0.4 * scale;
            p[down].x = p[up].x;
        }
        assert!((mouth_openness(&p).unwrap() - 0.4).abs() < 1e-4);
    }

    #[test]
    fn blinks_need_both_eyes_and_hold_until_the_lids_open() {
        let mut b = BlinkState::default();
        let (low, mid, high) = (
            0.5 * BLINK_ON,
            0.5 * (BLINK_ON + BLINK_OFF),
            BLINK_OFF + 0.1,
        );
        let seq = [
            (1.0, 1.0, false),
            (low, 0.9, false),  // one eye: a wink
            (low, low, true),   // both below BLINK_ON
            (mid, mid, true),   // above ON but not OFF: still closed
            (mid, high, false), // one eye above OFF: open again
            (mid, mid, false),  // between the thresholds, from open: stays open
        ];
        for (i, (l, r, want)) in seq.into_iter().enumerate() {
            assert_eq!(b.update(l, r), want, "step {i}");
        }
    }

    #[test]
    fn missing_or_degenerate_points_give_none() {
        assert!(face_signals(&mean_face()[..40]).is_none());
        let p = vec![Point::new(1.0, 1.0); 68];
        assert!(face_signals(&p).is_none());
        assert!(eye_aspect_ratio(&[Point::new(f32::NAN, 0.0); 68], 36).is_none());
    }
    #[test]
    fn face_blinks_hold_per_face_and_forget_a_face_that_left() {
        let g = |l: f32, r: f32| {
            Some(FaceSignals {
                eye_open_l: l,
                eye_open_r: r,
                ..Default::default()
            })
        };
        let mut b = FaceBlinks::default();
        let blink =
            |b: &mut FaceBlinks, faces: &[(u32, Option<FaceSignals>)]| -> Vec<Option<bool>> {
                b.frame(faces).iter().map(|s| s.map(|s| s.blink)).collect()
            };
        // face 1 closes, then reopens part-way (held), face 2 stays open
        assert_eq!(
            blink(&mut b, &[(1, g(0.1, 0.1)), (2, g(1.0, 1.0))]),
            [Some(true), Some(false)]
        );
        assert_eq!(
            blink(&mut b, &[(1, g(0.3, 0.4)), (2, g(1.0, 1.0))]),
            [Some(true), Some(false)]
        );
        // a frame without signals for face 1 keeps its state
        assert_eq!(blink(&mut b, &[(1, None)]), [None]);
        assert_eq!(blink(&mut b, &[(1, g(0.3, 0.4))]), [Some(true)]);
        // a face that left is forgotten: its id starts afresh
        assert_eq!(blink(&mut b, &[(2, g(1.0, 1.0))]), [Some(false)]);
        assert_eq!(blink(&mut b, &[(1, g(0.3, 0.4))]), [Some(false)]);
        b.clear();
        assert_eq!(blink(&mut b, &[(1, g(0.3, 0.4))]), [Some(false)]);
    }
}
