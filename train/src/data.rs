//! Training data: datasets read with facetrack's readers, reduced to the model's point
//! set, split into train and validation without sharing a subject, and decoded once
//! into memory as grayscale so the training loop never waits on JPEG decoding.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Result};
use facetrack::core::layout::{PointSet, IBUG68_NOSE_TIP, IMM58_NOSE_TIP};
use facetrack::data::datasets::{self, CoordBase, Format, LoadOptions, Part, Skipped};
use facetrack::{GrayImage, Point};

/// Longest side kept in memory; larger images are reduced (points scaled exactly).
pub const MAX_CACHED_SIDE: u32 = 512;

/// One `--data` argument: a dataset path and its sampling weight (`PATH@WEIGHT`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataSpec {
    pub path: PathBuf,
    /// Share of the dataset's training faces drawn per epoch (1 = each once).
    pub weight: f32,
    /// Training only: contributes nothing to validation (e.g. machine-made labels).
    pub train_only: bool,
}

impl DataSpec {
    /// Parse `PATH`, `PATH@WEIGHT`.
    pub fn parse(s: &str, train_only: bool) -> Result<Self, String> {
        // a path that is there is a path, `@` and all (a folder named `faces@2`)
        if Path::new(s).exists() {
            return Ok(DataSpec {
                path: PathBuf::from(s),
                weight: 1.0,
                train_only,
            });
        }
        let (p, w) = match s.rsplit_once('@') {
            Some((p, w)) => (
                p,
                w.parse::<f32>()
                    .map_err(|_| format!("bad weight in '{s}' (PATH@WEIGHT)"))?,
            ),
            None => (s, 1.0),
        };
        if !(w.is_finite() && w > 0.0) {
            return Err(format!("weight must be positive in '{s}'"));
        }
        // an epoch draws weight × the dataset's faces: `@1e9` (for `@1.9`) filled the
        // memory with its plan before the first step
        if w > MAX_WEIGHT {
            return Err(format!(
                "weight {w} in '{s}' is over {MAX_WEIGHT} (an epoch draws the weight times the \
                 dataset's training faces)"
            ));
        }
        Ok(DataSpec {
            path: PathBuf::from(p),
            weight: w,
            train_only,
        })
    }
}

/// The largest `PATH@WEIGHT` weight.
pub const MAX_WEIGHT: f32 = 100.0;

/// How faces are divided into training and validation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SplitRule {
    /// A seeded hash of the subject: a subject is wholly in one part.
    Fraction(f32),
    /// IMM as in the original work: persons 1-32 train, 33-40 validation.
    ImmPersons,
}

/// A face ready for training: its image in memory and its points.
#[derive(Clone)]
pub struct Face {
    pub image: Arc<GrayImage>,
    pub points: Vec<Point>,
    pub name: String,
    /// Original image pixels per cached pixel (images over `MAX_CACHED_SIDE` are reduced),
    /// so errors can be reported in the original image's pixels.
    pub to_original: f32,
}

/// The prepared data of a run.
pub struct TrainData {
    pub train: Vec<Face>,
    /// Per training face, its share of an epoch (from its dataset's weight).
    pub train_weight: Vec<f32>,
    pub val: Vec<Face>,
    pub skipped: Vec<Skipped>,
    /// Per source: path, training, validation and (left out) test faces.
    pub per_source: Vec<(PathBuf, usize, usize, usize)>,
}

/// The part of the split this subject is in. With a fraction rule the fixed test split
/// (`facetrack::data::datasets::is_test_subject`) comes first: its faces are never loaded.
pub fn part_of(subject: &str, rule: SplitRule, seed: u64) -> Part {
    match rule {
        SplitRule::Fraction(f) => datasets::part_of(subject, f, seed),
        SplitRule::ImmPersons => {
            if subject.parse::<u32>().map(|p| p >= 33).unwrap_or(false) {
                Part::Validation
            } else {
                Part::Train
            }
        }
    }
}

/// Is this subject in the validation part?
pub fn is_val(subject: &str, rule: SplitRule, seed: u64) -> bool {
    part_of(subject, rule, seed) == Part::Validation
}

/// Reduce a dataset's points to the model's point set (e.g. the nose tip of IMM 58).
pub fn select_points(points: &[Point], want: PointSet) -> Option<Vec<Point>> {
    match (points.len(), want) {
        (n, s) if n == s.len() => Some(points.to_vec()),
        (58, PointSet::NoseTip) => Some(vec![points[IMM58_NOSE_TIP]]),
        (68, PointSet::NoseTip) => Some(vec![points[IBUG68_NOSE_TIP]]),
        _ => None,
    }
}

/// Decode an image and shrink it so its longer side is at most `MAX_CACHED_SIDE`,
/// scaling the points with the exact pixel-centre mapping.
pub(crate) fn decode(path: &Path, points: &[Point]) -> Result<(GrayImage, Vec<Point>, f32)> {
    // a JPEG cut short is an error (`open_dynamic` checks its end), not a grey fill
    // that its labels would be learnt on
    let img = facetrack::core::image::open_dynamic(path)?;
    let (w, h) = (img.width(), img.height());
    let long = w.max(h);
    if long <= MAX_CACHED_SIDE {
        return Ok((GrayImage::from_dynamic(&img), points.to_vec(), 1.0));
    }
    let k = MAX_CACHED_SIDE as f32 / long as f32;
    let nw = ((w as f32 * k).round() as u32).max(1);
    let nh = ((h as f32 * k).round() as u32).max(1);
    let small = img.resize_exact(nw, nh, image::imageops::FilterType::Triangle);
    let (kx, ky) = (nw as f32 / w as f32, nh as f32 / h as f32);
    let pts = points
        .iter()
        .map(|p| Point::new((p.x + 0.5) * kx - 0.5, (p.y + 0.5) * ky - 0.5))
        .collect();
    Ok((GrayImage::from_dynamic(&small), pts, 1.0 / k))
}

/// Load every source, split, and decode the images with `threads` threads.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    specs: &[DataSpec],
    want: PointSet,
    split: Option<SplitRule>,
    val_fraction: f32,
    seed: u64,
    base: CoordBase,
    threads: usize,
    max_per_source: Option<usize>,
) -> Result<TrainData> {
    struct Pending {
        image: PathBuf,
        /// Already decoded (a pack's face) with its scale to the original.
        decoded: Option<(GrayImage, f32)>,
        points: Vec<Point>,
        val: bool,
        weight: f32,
        name: String,
        /// The source's place in `per_source`.
        source: usize,
    }
    let mut pending = Vec::new();
    let mut skipped = Vec::new();
    let mut per_source = Vec::new();
    for spec in specs {
        if crate::pack::is_pack(&spec.path) {
            let (header, faces) = crate::pack::read(&spec.path, threads)?;
            let rule = split.unwrap_or(if header.imm {
                SplitRule::ImmPersons
            } else {
                SplitRule::Fraction(val_fraction)
            });
            let mut ntest = 0;
            for f in faces.into_iter().take(max_per_source.unwrap_or(usize::MAX)) {
                let Some(points) = select_points(&f.points, want) else {
                    skipped.push(Skipped {
                        path: spec.path.join(&f.name),
                        reason: format!(
                            "{} points cannot give the {want} point set",
                            f.points.len()
                        ),
                    });
                    continue;
                };
                let part = part_of(&f.subject, rule, seed);
                if part == Part::Test {
                    ntest += 1;
                    continue;
                }
                let val = !spec.train_only && part == Part::Validation;
                pending.push(Pending {
                    image: spec.path.join(&f.name),
                    decoded: Some((f.image, f.to_original)),
                    points,
                    val,
                    weight: spec.weight,
                    name: f.name,
                    source: per_source.len(),
                });
            }
            // (training and validation faces counted once decoded)
            per_source.push((spec.path.clone(), 0, 0, ntest));
            continue;
        }
        let format = datasets::detect(&spec.path).map_err(|e| e.in_dataset(&spec.path))?;
        let ds = datasets::load(
            &spec.path,
            LoadOptions {
                base,
                expect_points: None,
            },
        )
        .map_err(|e| e.in_dataset(&spec.path))?;
        let rule = split.unwrap_or(if format == Format::ImmFolder {
            SplitRule::ImmPersons
        } else {
            SplitRule::Fraction(val_fraction)
        });
        skipped.extend(ds.skipped);
        let mut ntest = 0;
        let mut subjects_seen = BTreeSet::new();
        for s in ds
            .samples
            .into_iter()
            .take(max_per_source.unwrap_or(usize::MAX))
        {
            let Some(points) = select_points(&s.points, want) else {
                skipped.push(Skipped {
                    path: s.image.clone(),
                    reason: format!("{} points cannot give the {want} point set", s.points.len()),
                });
                continue;
            };
            let part = part_of(&s.subject, rule, seed);
            if part == Part::Test {
                ntest += 1;
                continue;
            }
            let val = !spec.train_only && part == Part::Validation;
            subjects_seen.insert(s.subject.clone());
            let name = s
                .image
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("?")
                .to_string();
            pending.push(Pending {
                image: s.image,
                decoded: None,
                points,
                val,
                weight: spec.weight,
                name,
                source: per_source.len(),
            });
        }
        per_source.push((spec.path.clone(), 0, 0, ntest));
    }
    // a face of the validation split never trains, also when a training-only source
    // (--extra) names the same image (`--data X --extra X`)
    // (a pack's faces are named inside it: their folder is the pack's own path)
    let key = |p: &Path| {
        p.canonicalize().unwrap_or_else(|_| {
            match (
                p.parent().and_then(|d| d.canonicalize().ok()),
                p.file_name(),
            ) {
                (Some(d), Some(n)) => d.join(n),
                _ => p.to_path_buf(),
            }
        })
    };
    let val_images: std::collections::HashSet<PathBuf> = match specs.iter().any(|s| s.train_only) {
        true => pending
            .iter()
            .filter(|p| p.val)
            .map(|p| key(&p.image))
            .collect(),
        false => Default::default(),
    };
    if !val_images.is_empty() {
        pending.retain(|p| {
            let leak = !p.val && val_images.contains(&key(&p.image));
            if leak {
                skipped.push(Skipped {
                    path: p.image.clone(),
                    reason: "a validation face of another source (an --extra repeats --data?): kept out of training".into(),
                });
            }
            !leak
        });
    }
    // decode in parallel, keeping order
    type Decoded = Result<(GrayImage, Vec<Point>, f32)>;
    let results: Vec<Decoded> =
        crate::parallel::map_in_order(&pending, threads, "image-decoding", |p| {
            // a Ctrl-C of `fit` stops the decoding between images
            if crate::stop::STOP.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(crate::stop::NothingWritten.into());
            }
            match &p.decoded {
                Some((img, k)) => Ok((img.clone(), p.points.clone(), *k)),
                None => decode(&p.image, &p.points),
            }
        })?;
    if crate::stop::STOP.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(crate::stop::NothingWritten.into());
    }
    let mut data = TrainData {
        train: Vec::new(),
        train_weight: Vec::new(),
        val: Vec::new(),
        skipped,
        per_source,
    };
    // each source's training and validation faces as they came out: without those an
    // image that does not decode or an --extra face kept out of training skipped
    for (p, r) in pending.into_iter().zip(results) {
        if r.is_ok() {
            let counts = &mut data.per_source[p.source];
            match p.val {
                true => counts.2 += 1,
                false => counts.1 += 1,
            }
        }
        match r {
            Ok((img, points, to_original)) => {
                let face = Face {
                    image: Arc::new(img),
                    points,
                    name: p.name,
                    to_original,
                };
                if p.val {
                    data.val.push(face);
                } else {
                    data.train.push(face);
                    data.train_weight.push(p.weight);
                }
            }
            Err(e) => data.skipped.push(Skipped {
                path: p.image,
                reason: facetrack::errors::error_chain(e.as_ref()),
            }),
        }
    }
    if data.train.is_empty() {
        bail!(
            "no usable training face in {} ({} records skipped{})",
            specs
                .iter()
                .map(|s| s.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            data.skipped.len(),
            data.skipped
                .first()
                .map(|s| {
                    // labels of another point set: name the presets that read them
                    let hint = if s.reason.starts_with("58 points cannot give") {
                        " (the IMM faces' 58 points: --preset imm58 or --preset nose)"
                    } else {
                        ""
                    };
                    format!("; first: {}: {}{hint}", s.path.display(), s.reason)
                })
                .unwrap_or_default()
        );
    }
    // an --extra that gave no face is a mistake (another point set, a wrong folder), not
    // a source to train on without a word
    for (spec, counts) in specs.iter().zip(&data.per_source) {
        if spec.train_only && counts.1 == 0 {
            let folder = match spec.path.is_dir() {
                true => spec.path.clone(),
                false => spec
                    .path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            };
            let first = data
                .skipped
                .iter()
                .find(|s| s.path.starts_with(&folder))
                .map(|s| format!("; first skipped: {}: {}", s.path.display(), s.reason))
                .unwrap_or_default();
            bail!(
                "--extra {}: no usable training face{first}",
                spec.path.display()
            );
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jpeg_cut_short_is_not_training_data() {
        let dir = std::env::temp_dir().join(format!("ftrain-cut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (whole, cut) = facetrack::core::image::jpeg_whole_and_cut_short(&dir).unwrap();
        let pts = [Point::new(10.0, 10.0)];
        assert!(decode(&whole, &pts).is_ok());
        let e = decode(&cut, &pts).unwrap_err();
        assert!(format!("{e:#}").contains("cut short"), "{e:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn data_specs_parse() {
        let d = DataSpec::parse("a/b.csv@0.5", false).unwrap();
        assert_eq!((d.path, d.weight), (PathBuf::from("a/b.csv"), 0.5));
        assert!(DataSpec::parse("x@-1", false).is_err());
        assert!(DataSpec::parse("x@abc", false).is_err());
        assert_eq!(DataSpec::parse("x", true).unwrap().weight, 1.0);
    }

    #[test]
    fn split_is_by_subject_and_seeded() {
        let r = SplitRule::Fraction(0.2);
        let n = (0..10_000)
            .filter(|i| is_val(&format!("s{i}"), r, 3))
            .count();
        assert!((1700..2300).contains(&n), "{n}");
        assert_eq!(is_val("abc", r, 3), is_val("abc", r, 3));
        assert!(is_val("33", SplitRule::ImmPersons, 0));
        assert!(!is_val("32", SplitRule::ImmPersons, 0));
    }
}

/// Yaw proxy at or above which a face counts as turned (for the report).
pub const TURNED: f32 = 0.3;
/// Width of a head-turn bin of [`pose_balance`], in yaw-proxy units.
const POSE_BIN: f32 = 0.1;
/// Bins of [`pose_balance`]; the last one is open.
const POSE_BINS: usize = 5;

/// How turned a 68-point face is: the nose tip's distance from the eyes' perpendicular
/// bisector over the eye distance (outer corners 36, 45). About 0 for a frontal face,
/// 0.3 for a clearly turned one. `None` for other point sets.
pub fn yaw_proxy(points: &[Point]) -> Option<f32> {
    if points.len() != 68 {
        return None;
    }
    let (a, b, n) = (points[36], points[45], points[IBUG68_NOSE_TIP]);
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let iod = (dx * dx + dy * dy).sqrt();
    if iod.is_nan() || iod <= 1e-3 {
        return None;
    }
    let mid = Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0);
    // the nose's offset along the eye line, from the midpoint
    Some((((n.x - mid.x) * dx + (n.y - mid.y) * dy) / iod / iod).abs())
}

fn pose_bin(f: &Face) -> Option<usize> {
    yaw_proxy(&f.points).map(|y| ((y / POSE_BIN) as usize).min(POSE_BINS - 1))
}

/// Pose-balanced epoch weights (Feng et al., CVPR 2018, balance their data by pose): the
/// faces are binned by [`yaw_proxy`], and each face's weight is multiplied by
/// `(mean bin mass / its bin's mass)^alpha`, then all weights are scaled so that an epoch
/// keeps its length. `alpha` 0 changes nothing; 1 gives every non-empty bin the same share.
/// Faces without a yaw proxy keep their weight.
pub fn pose_balance(faces: &[Face], weights: &[f32], alpha: f32) -> Vec<f32> {
    let mut mass = [0f64; POSE_BINS];
    for (f, &w) in faces.iter().zip(weights) {
        if let Some(b) = pose_bin(f) {
            mass[b] += w as f64;
        }
    }
    let used: Vec<f64> = mass.iter().copied().filter(|&m| m > 0.0).collect();
    if used.is_empty() || alpha <= 0.0 {
        return weights.to_vec();
    }
    let mean = used.iter().sum::<f64>() / used.len() as f64;
    let out: Vec<f32> = faces
        .iter()
        .zip(weights)
        .map(|(f, &w)| match pose_bin(f) {
            Some(b) => (w as f64 * (mean / mass[b]).powf(alpha as f64)) as f32,
            None => w,
        })
        .collect();
    let (before, after) = (
        weights.iter().map(|&w| w as f64).sum::<f64>(),
        out.iter().map(|&w| w as f64).sum::<f64>(),
    );
    let k = if after > 0.0 { before / after } else { 1.0 };
    out.into_iter().map(|w| (w as f64 * k) as f32).collect()
}

/// Share of an epoch's weight on turned faces (yaw proxy ≥ [`TURNED`]).
pub fn turned_share(faces: &[Face], weights: &[f32]) -> f64 {
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    let turned: f64 = faces
        .iter()
        .zip(weights)
        .filter(|(f, _)| yaw_proxy(&f.points).is_some_and(|y| y >= TURNED))
        .map(|(_, &w)| w as f64)
        .sum();
    if total > 0.0 {
        turned / total
    } else {
        0.0
    }
}

#[cfg(test)]
mod pose_tests {
    use super::*;

    /// A face whose nose sits `yaw` eye distances off the eyes' midpoint.
    fn face(yaw: f32) -> Face {
        let mut points = vec![Point::new(50.0, 60.0); 68];
        points[36] = Point::new(30.0, 40.0);
        points[45] = Point::new(70.0, 40.0);
        points[IBUG68_NOSE_TIP] = Point::new(50.0 + 40.0 * yaw, 60.0);
        Face {
            image: Arc::new(GrayImage::new(4, 4)),
            points,
            name: String::new(),
            to_original: 1.0,
        }
    }

    #[test]
    fn the_yaw_proxy_reads_how_far_the_nose_is_off_the_midline() {
        assert!(yaw_proxy(&face(0.0).points).unwrap() < 1e-6);
        assert!((yaw_proxy(&face(0.35).points).unwrap() - 0.35).abs() < 1e-5);
        assert!((yaw_proxy(&face(-0.2).points).unwrap() - 0.2).abs() < 1e-5);
        assert_eq!(yaw_proxy(&face(0.1).points[..58]), None);
    }

    #[test]
    fn balancing_raises_the_rare_turned_faces_and_keeps_the_epoch_length() {
        // 90 frontal faces, 10 turned ones, all of weight 2
        let faces: Vec<Face> = (0..100)
            .map(|i| face(if i < 90 { 0.02 } else { 0.4 }))
            .collect();
        let w = vec![2.0f32; 100];
        assert!((turned_share(&faces, &w) - 0.1).abs() < 1e-9);
        assert_eq!(pose_balance(&faces, &w, 0.0), w);
        let full = pose_balance(&faces, &w, 1.0);
        assert!(
            (full.iter().sum::<f32>() - 200.0).abs() < 1e-3,
            "epoch length kept"
        );
        // two non-empty bins, equal shares
        assert!((turned_share(&faces, &full) - 0.5).abs() < 1e-6);
        let half = pose_balance(&faces, &w, 0.5);
        let s = turned_share(&faces, &half);
        assert!(s > 0.2 && s < 0.5, "alpha 0.5 is between: {s}");
    }
}
