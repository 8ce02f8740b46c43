//! The point layouts the models speak: the iBUG 68-point scheme (regions, normalising
//! eye corners, mirror permutation), the IMM 58-point scheme and the single nose tip.
//! This is the one source of truth for point order; trainer, tracker and evaluation use it.

use std::fmt;
use std::str::FromStr;

/// Number of points in the iBUG 300-W scheme.
pub const IBUG68_POINTS: usize = 68;
/// Number of points in the IMM face database annotation.
pub const IMM58_POINTS: usize = 58;

/// Outer corner of the eye on the image-left (the subject's right eye), iBUG index.
pub const IBUG68_LEFT_EYE_OUTER: usize = 36;
/// Outer corner of the eye on the image-right (the subject's left eye), iBUG index.
pub const IBUG68_RIGHT_EYE_OUTER: usize = 45;
/// The iBUG nose tip.
pub const IBUG68_NOSE_TIP: usize = 30;

/// New point `i` of a horizontally flipped face is old point `MIRROR68[i]` (after mirroring
/// the coordinates). It is its own inverse. From the 300-W annotation scheme.
pub const MIRROR68: [usize; IBUG68_POINTS] = [
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, // jaw
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17, // brows
    27, 28, 29, 30, // nose bridge
    35, 34, 33, 32, 31, // lower nose
    45, 44, 43, 42, 47, 46, // image-left eye <- image-right eye
    39, 38, 37, 36, 41, 40, // image-right eye <- image-left eye
    54, 53, 52, 51, 50, 49, 48, // outer lip, upper
    59, 58, 57, 56, 55, // outer lip, lower
    64, 63, 62, 61, 60, // inner lip, upper
    67, 66, 65, // inner lip, lower
];

/// Facial region of an iBUG 68 point, used for colouring and per-region statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    Jaw,
    Brows,
    Nose,
    Eyes,
    Mouth,
}

impl Region {
    pub const ALL: [Region; 5] = [
        Region::Jaw,
        Region::Brows,
        Region::Nose,
        Region::Eyes,
        Region::Mouth,
    ];

    /// Index range of the region in the iBUG 68 scheme.
    pub fn range(self) -> std::ops::Range<usize> {
        match self {
            Region::Jaw => 0..17,
            Region::Brows => 17..27,
            Region::Nose => 27..36,
            Region::Eyes => 36..48,
            Region::Mouth => 48..68,
        }
    }

    /// Region of an iBUG 68 point index; `None` past 67.
    pub fn of(index: usize) -> Option<Region> {
        Region::ALL.into_iter().find(|r| r.range().contains(&index))
    }
}

/// Which set of points a model predicts or a dataset annotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PointSet {
    /// iBUG 300-W, 68 points.
    Ibug68,
    /// IMM face database, 58 points.
    Imm58,
    /// One point: the nose tip (iBUG 30, IMM 52... see [`imm58_nose_tip`]).
    NoseTip,
}

impl PointSet {
    pub fn len(self) -> usize {
        match self {
            PointSet::Ibug68 => IBUG68_POINTS,
            PointSet::Imm58 => IMM58_POINTS,
            PointSet::NoseTip => 1,
        }
    }

    pub fn is_empty(self) -> bool {
        false
    }

    /// Stable name used in model metadata and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PointSet::Ibug68 => "ibug68",
            PointSet::Imm58 => "imm58",
            PointSet::NoseTip => "nose1",
        }
    }

    /// Mirror permutation for horizontal flips, if the set has one.
    pub fn mirror(self) -> Vec<usize> {
        match self {
            PointSet::Ibug68 => MIRROR68.to_vec(),
            PointSet::Imm58 => imm58_mirror().to_vec(),
            PointSet::NoseTip => vec![0],
        }
    }

    /// The two points whose distance normalises errors (outer eye corners), if defined.
    pub fn normalising_pair(self) -> Option<(usize, usize)> {
        match self {
            PointSet::Ibug68 => Some((IBUG68_LEFT_EYE_OUTER, IBUG68_RIGHT_EYE_OUTER)),
            PointSet::Imm58 => Some(IMM58_EYE_OUTER),
            PointSet::NoseTip => None,
        }
    }
}

impl fmt::Display for PointSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown point-set name.
#[derive(Debug, thiserror::Error)]
#[error("unknown point set '{0}' (expected ibug68, imm58 or nose1)")]
pub struct UnknownPointSet(pub String);

impl FromStr for PointSet {
    type Err = UnknownPointSet;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ibug68" | "68" | "ibug" => Ok(PointSet::Ibug68),
            "imm58" | "58" | "imm" => Ok(PointSet::Imm58),
            "nose1" | "nose" | "nosetip" | "nose-tip" | "1" => Ok(PointSet::NoseTip),
            _ => Err(UnknownPointSet(s.to_string())),
        }
    }
}

/// IMM 58-point index of the nose tip (path 6, the nose, runs 47..57; its middle point
/// 52 is the tip in the AAM-API annotation).
pub const IMM58_NOSE_TIP: usize = 52;

/// IMM outer eye corners: path 1 (image-right eye, points 13..20) and path 2
/// (image-left eye, 21..28). The outer corners are the first point of each path.
pub const IMM58_EYE_OUTER: (usize, usize) = (21, 13);

/// Mirror permutation of the IMM 58 points. Derived from the data (mean frontal shape of
/// the 80 neutral/happy faces reflected about its centre, matched one-to-one) and checked
/// against the path layout: jaw 0..12 reversed, eyes 13..20 <-> 21..28 and brows
/// 29..33 <-> 34..38 in the same order, mouth reflected about 41 and 45, nose reversed.
pub const IMM58_MIRROR: [usize; IMM58_POINTS] = [
    12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, // jaw
    21, 22, 23, 24, 25, 26, 27, 28, // image-right eye <- image-left eye
    13, 14, 15, 16, 17, 18, 19, 20, // image-left eye <- image-right eye
    34, 35, 36, 37, 38, 29, 30, 31, 32, 33, // brows
    43, 42, 41, 40, 39, 46, 45, 44, // mouth
    57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, // nose
];

/// See [`IMM58_MIRROR`].
pub fn imm58_mirror() -> [usize; IMM58_POINTS] {
    IMM58_MIRROR
}

/// Apply a mirror permutation to points already reflected in x: new `i` = old `perm[i]`.
pub fn permute<T: Copy>(points: &[T], perm: &[usize]) -> Option<Vec<T>> {
    if points.len() != perm.len() {
        return None;
    }
    perm.iter().map(|&j| points.get(j).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror68_is_an_involution_and_a_permutation() {
        let mut seen = [false; 68];
        for i in 0..68 {
            assert_eq!(MIRROR68[MIRROR68[i]], i, "mirror twice at {i}");
            seen[MIRROR68[i]] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn mirror68_fixed_points_match_the_data_readme() {
        let fixed: Vec<usize> = (0..68).filter(|&i| MIRROR68[i] == i).collect();
        assert_eq!(fixed, vec![8, 27, 28, 29, 30, 33, 51, 57, 62, 66]);
    }

    #[test]
    fn mirror68_swaps_eyes_and_mouth_corners() {
        assert_eq!(MIRROR68[36], 45);
        assert_eq!(MIRROR68[39], 42);
        assert_eq!(MIRROR68[48], 54);
        assert_eq!(MIRROR68[0], 16);
        for m in &MIRROR68[36..42] {
            assert!((42..48).contains(m));
        }
    }

    #[test]
    fn regions_cover_all_points() {
        for i in 0..68 {
            assert!(Region::of(i).is_some());
        }
        assert_eq!(Region::of(68), None);
        assert_eq!(Region::of(36), Some(Region::Eyes));
    }

    #[test]
    fn imm_mirror_is_an_involution() {
        let m = imm58_mirror();
        for i in 0..58 {
            assert_eq!(m[m[i]], i, "imm mirror twice at {i}");
        }
        assert_eq!(m[13], 21);
        assert_eq!(m[IMM58_NOSE_TIP], IMM58_NOSE_TIP);
    }

    #[test]
    fn point_set_names_round_trip() {
        for s in [PointSet::Ibug68, PointSet::Imm58, PointSet::NoseTip] {
            assert_eq!(s.name().parse::<PointSet>().ok(), Some(s));
        }
        assert!("bogus".parse::<PointSet>().is_err());
    }
}
