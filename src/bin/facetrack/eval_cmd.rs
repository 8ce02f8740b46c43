//! `facetrack eval`: accuracy on labelled datasets (NME, failure rates, AUC, as in the
//! 300-W literature) and on clips with ground truth (NME, success rate, false faces,
//! flicker).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use facetrack::core::geometry::CropTransform;
use facetrack::core::metrics::{ced_curve, inter_ocular, mean_error, nme, summarise};
use facetrack::data::datasets::{self, CoordBase, LoadOptions};
use facetrack::data::jitter::tracked_crop;
use facetrack::output::draw::BLUE;
use facetrack::report::{chart, Series};
use facetrack::tracking::detector::FaceDetector;
use facetrack::tracking::tracker::align_from_boxes;
use facetrack::{FaceBox, GrayImage, LandmarkModel, Point};

use crate::args::{BoxSource, EvalArgs, SplitPart};
use crate::eval_clips::clips;
use crate::eval_noise;
use crate::eval_report::{check_reports, write_report};

/// First IMM person of the original work's test split (persons 33-40).
const IMM_FIRST_TEST_PERSON: u32 = 33;

struct FaceResult {
    image: PathBuf,
    truth: Vec<Point>,
    pred: Option<Vec<Point>>,
    err: Option<f32>,
}

/// Ctrl-C (`stop`) ends the run after the face at hand, with no report written (the
/// reports there, if any, kept).
pub fn run(a: &EvalArgs, stop: &std::sync::Arc<std::sync::atomic::AtomicBool>) -> Result<()> {
    if let Some(dir) = &a.clips {
        return clips(a, dir, stop);
    }
    check_photo_options(a)?;
    check_reports(a, &a.data)?;
    let mut model = LandmarkModel::from_file(&a.model.model_path()?, a.model_options())?;
    let set = model.contract().point_set;
    let mut det = FaceDetector::new(a.track.detector())?;
    let base = if a.zero_based {
        CoordBase::ZeroBased
    } else {
        CoordBase::OneBased
    };
    let mut results = Vec::new();
    let mut noise = Vec::new();
    let mut skips = Skips::default();
    let mut seen = SeenFaces::default();
    for path in &a.data {
        let ds = datasets::load(
            path,
            LoadOptions {
                base,
                expect_points: None,
            },
        )
        .map_err(|e| e.in_dataset(path))?;
        skips.loaded(&ds, path);
        // the labelled faces of each image, for matching detections to faces one to one
        let labelled = match a.boxes {
            BoxSource::Detector => labelled_faces(&ds.samples),
            _ => HashMap::new(),
        };
        for s in ds.samples {
            interrupted(stop, results.len())?;
            if !wanted(a, &s.subject) || !seen.first(&s) {
                continue;
            }
            let truth = match facetrack_points(&s.points, set) {
                Some(t) => t,
                None => bail!(
                    "{}: {} points cannot be compared with a {set} model",
                    s.image.display(),
                    s.points.len()
                ),
            };
            // a label whose eye corners are one point has no eye distance: its error
            // would be pixels among fractions
            if set.normalising_pair().is_some() && inter_ocular(&truth, set).is_none() {
                skips.no_eye_distance(&s.image);
                continue;
            }
            let img = match GrayImage::open(&s.image) {
                Ok(i) => i,
                Err(e) => {
                    skips.unreadable(e);
                    continue;
                }
            };
            let others = labelled.get(&s.image).map_or(&[][..], |v| &v[..]);
            let input = face_input(
                a,
                &model,
                &mut det,
                &img,
                (&truth, others),
                results.len() as u64,
            );
            let pred = match &input {
                Some(i) => predict_from(&mut model, &img, i)?,
                None => None,
            };
            if let (true, Some(i), Some(p), Some(io)) =
                (a.noise, &input, &pred, inter_ocular(&truth, set))
            {
                let face = results.len() as u64;
                let moved = eval_noise::face_movement(&img, p, io, face, |noisy| {
                    predict_from(&mut model, noisy, i)
                })?;
                noise.extend(moved);
            }
            let err = pred
                .as_ref()
                .and_then(|p| nme(p, &truth, set).or_else(|| mean_error(p, &truth)));
            results.push(FaceResult {
                image: s.image,
                truth,
                pred,
                err,
            });
        }
    }
    seen.say();
    skips.say();
    if results.is_empty() {
        // (named by the option that chose the faces)
        let chooser = match (&a.split, &a.holdout) {
            (Some(_), _) => " and --split: the dataset may have no subject of that part",
            (None, Some(_)) => " and --holdout",
            (None, None) => "",
        };
        bail!("no face to evaluate (check --data{chooser})");
    }
    let noise = a.noise.then(|| eval_noise::summarise(&noise)).flatten();
    report(a, &results, skips.count, set, noise.as_ref())
}

/// The records and labels a run leaves out, the first few of each kind named: a count
/// alone leaves the user guessing.
#[derive(Default)]
pub(crate) struct Skips {
    /// Records and labels left out, of every kind.
    pub count: usize,
    /// Labels whose outer eye corners are one point.
    no_eye_distance: usize,
    /// Labels of another number of points than the run needs.
    other_points: usize,
}

/// How many of each kind of skip are named.
const NAMED: usize = 5;

impl Skips {
    /// The records the loader of `path` left out.
    pub(crate) fn loaded(&mut self, ds: &datasets::Dataset, path: &Path) {
        self.count += ds.skipped.len();
        for s in ds.skipped.iter().take(NAMED) {
            let file = s.path.display().to_string();
            match s.reason.contains(&file) {
                true => eprintln!("skipped: {}", s.reason),
                false => eprintln!("skipped: {file}: {}", s.reason),
            }
        }
        if ds.skipped.len() > NAMED {
            eprintln!(
                "skipped: {} more records of {}",
                ds.skipped.len() - NAMED,
                path.display()
            );
        }
    }

    /// A label with no eye distance to normalise by (its outer eye corners one point).
    pub(crate) fn no_eye_distance(&mut self, image: &Path) {
        if self.no_eye_distance < NAMED {
            eprintln!(
                "skipped: {}: its label's outer eye corners are one point (no eye distance \
                 to normalise by)",
                image.display()
            );
        }
        self.no_eye_distance += 1;
        self.count += 1;
    }

    /// A label of `points` points where the run needs `needed`.
    pub(crate) fn other_points(&mut self, image: &Path, points: usize, needed: usize) {
        if self.other_points < NAMED {
            eprintln!(
                "skipped: {}: its label has {points} points (this needs {needed})",
                image.display()
            );
        }
        self.other_points += 1;
        self.count += 1;
    }

    /// An image that could not be read (`e` names it).
    pub(crate) fn unreadable(&mut self, e: impl std::fmt::Display) {
        eprintln!("skipped: {e}");
        self.count += 1;
    }

    /// Say how many more of each kind were left out than were named.
    pub(crate) fn say(&self) {
        if self.no_eye_distance > NAMED {
            eprintln!(
                "skipped: {} more labels whose outer eye corners are one point",
                self.no_eye_distance - NAMED
            );
        }
        if self.other_points > NAMED {
            eprintln!(
                "skipped: {} more labels of another number of points",
                self.other_points - NAMED
            );
        }
    }
}

/// The error that ends an evaluation stopped by Ctrl-C, when `stop` is set.
pub(crate) fn interrupted(stop: &std::sync::atomic::AtomicBool, done: usize) -> Result<()> {
    if stop.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(facetrack::errors::Interrupted(format!(
            "stopped after {done} faces; no report was written (reports already there are kept)"
        ))
        .into());
    }
    Ok(())
}

/// The faces already scored, so that one given twice (`--data X --data X`, or a folder
/// and a dataset inside it) counts once: the same image file and the same label points.
#[derive(Default)]
pub(crate) struct SeenFaces {
    faces: std::collections::HashSet<(PathBuf, Vec<u32>)>,
    repeated: usize,
}

impl SeenFaces {
    /// Whether `s` is met for the first time (and note it).
    pub(crate) fn first(&mut self, s: &datasets::Sample) -> bool {
        let image = std::fs::canonicalize(&s.image).unwrap_or_else(|_| s.image.clone());
        let points = s
            .points
            .iter()
            .flat_map(|p| [p.x.to_bits(), p.y.to_bits()])
            .collect();
        let new = self.faces.insert((image, points));
        self.repeated += usize::from(!new);
        new
    }

    /// Say how many faces were left out as repeats.
    pub(crate) fn say(&self) {
        if self.repeated > 0 {
            eprintln!(
                "left out {} faces given twice (the same image and label points: a dataset \
                 given twice, or a folder and a dataset inside it); each is scored once",
                self.repeated
            );
        }
    }
}

/// Refuse the options that do nothing for photos (`--data`, with or without
/// `--signals`): clip smoothing, and IMM's test persons on data that is not IMM.
pub(crate) fn check_photo_options(a: &EvalArgs) -> Result<()> {
    if a.smooth_offline {
        bail!("--smooth-offline scores tracked clips: use it with --clips DIR");
    }
    if a.track.smooth {
        bail!("--smooth scores tracked clips (a photo has no frames to smooth): use it with --clips DIR");
    }
    // IMM's test persons are numbers in IMM's file names; other data has no such persons
    if a.imm_test {
        for path in &a.data {
            if datasets::detect(path).is_ok_and(|f| f != datasets::Format::ImmFolder) {
                bail!(
                    "--imm-test keeps IMM's test persons 33-40, but {} is not an IMM folder (.asf files)",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// Whether a face of this subject is in the part that `a` asks for.
pub(crate) fn wanted(a: &EvalArgs, subject: &str) -> bool {
    if let Some(f) = a.holdout {
        if !datasets::is_held_out(subject, f, a.seed) {
            return false;
        }
    }
    if let Some(want) = a.split {
        let part = datasets::part_of(subject, a.val_fraction, a.seed);
        let keep = match want {
            SplitPart::Test => part == datasets::Part::Test,
            SplitPart::Val => part == datasets::Part::Validation,
        };
        if !keep {
            return false;
        }
    }
    !(a.imm_test
        && subject
            .parse::<u32>()
            .map(|p| p < IMM_FIRST_TEST_PERSON)
            .unwrap_or(true))
}

/// What a face's points are predicted from (a crop, or a detector box that the two
/// acquisition passes start from), so that `--noise` can repeat it on a noisy image.
enum FaceInput {
    Crop(CropTransform),
    Detected(FaceBox),
}

/// The boxes of the labelled faces of each image of `samples` (a face labelled twice
/// counted once).
fn labelled_faces(samples: &[datasets::Sample]) -> HashMap<PathBuf, Vec<FaceBox>> {
    let mut map: HashMap<PathBuf, Vec<FaceBox>> = HashMap::new();
    for s in samples {
        let Some(b) = FaceBox::from_points(&s.points) else {
            continue;
        };
        let faces = map.entry(s.image.clone()).or_default();
        if !faces.iter().any(|f| f.iou(&b) > SAME_LABEL_IOU) {
            faces.push(b);
        }
    }
    map
}

/// Two label boxes overlapping this much are one face labelled twice.
const SAME_LABEL_IOU: f32 = 0.95;

/// A detection overlapping a label's box by more than this can stand for its face.
const DETECTION_IOU: f32 = 0.2;

/// The detection (of `found`) that stands for the labelled face `own` of an image whose
/// labelled faces are `labels`: detections and labels are paired greedily, the pair that
/// overlaps most first, so one detection never stands for two faces.
fn detection_for(own: &FaceBox, labels: &[FaceBox], found: &[FaceBox]) -> Option<FaceBox> {
    let mut labels: Vec<FaceBox> = labels
        .iter()
        .filter(|l| l.iou(own) <= SAME_LABEL_IOU)
        .copied()
        .collect();
    labels.insert(0, *own);
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (li, l) in labels.iter().enumerate() {
        for (di, d) in found.iter().enumerate() {
            let iou = d.iou(l);
            if iou > DETECTION_IOU {
                pairs.push((iou, li, di));
            }
        }
    }
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
    let (mut label_done, mut det_done) = (vec![false; labels.len()], vec![false; found.len()]);
    for (_, li, di) in pairs {
        if label_done[li] || det_done[di] {
            continue;
        }
        if li == 0 {
            return Some(found[di]);
        }
        label_done[li] = true;
        det_done[di] = true;
    }
    None
}

/// The input `a.boxes` asks for (`None`: the detector missed the face). `face` is the
/// face's labelled points and the boxes of its image's labelled faces (itself among them
/// or not); `index` numbers the face for the tracked-box jitter.
fn face_input(
    a: &EvalArgs,
    model: &LandmarkModel,
    det: &mut FaceDetector,
    img: &GrayImage,
    face: (&[Point], &[FaceBox]),
    index: u64,
) -> Option<FaceInput> {
    let (truth, labels) = face;
    match a.boxes {
        BoxSource::Gt => Some(FaceInput::Crop(model.crop_for_points(
            truth,
            img.width(),
            img.height(),
        ))),
        BoxSource::Tracked => Some(FaceInput::Crop(tracked_crop(
            truth,
            model.contract(),
            (img.width(), img.height()),
            index,
        ))),
        BoxSource::Detector => {
            let gt = FaceBox::from_points(truth).unwrap_or_default();
            let found: Vec<FaceBox> = det.detect(img).into_iter().map(|d| d.face_box).collect();
            detection_for(&gt, labels, &found).map(FaceInput::Detected)
        }
    }
}

/// The model's points for one face from its input.
fn predict_from(
    model: &mut LandmarkModel,
    img: &GrayImage,
    input: &FaceInput,
) -> Result<Option<Vec<Point>>> {
    Ok(match input {
        FaceInput::Crop(crop) => model.predict(img, &[*crop])?.pop(),
        FaceInput::Detected(b) => align_from_boxes(model, img, &[*b])?.pop(),
    })
}

/// Print the summary and write the JSON, per-face rows and plots that `a` asks for.
fn report(
    a: &EvalArgs,
    results: &[FaceResult],
    skipped: usize,
    set: facetrack::PointSet,
    noise: Option<&eval_noise::NoiseSummary>,
) -> Result<()> {
    let errs: Vec<f32> = results.iter().filter_map(|r| r.err).collect();
    let missed = results.iter().filter(|r| r.pred.is_none()).count();
    let s = summarise(&errs);
    let normalised = set.normalising_pair().is_some();
    // every face missed: no error to report, not a perfect score
    let scored = !errs.is_empty();
    // (only the detector misses faces: the other boxes come from the labels)
    let missed_note = match a.boxes {
        BoxSource::Detector => format!("{missed} missed by the detector, "),
        _ => String::new(),
    };
    if !scored {
        println!(
            "{} faces ({missed_note}{} records skipped): no face scored (the detector found \
             none of them)",
            results.len(),
            skipped
        );
    } else if normalised {
        println!(
            "{} faces ({missed_note}{} records skipped): NME mean {:.2}%, median {:.2}%, FR@0.08 {:.2}%, FR@0.10 {:.2}%, AUC@0.08 {:.4}",
            results.len(),
            skipped,
            s.mean * 100.0,
            s.median * 100.0,
            s.fr_008 * 100.0,
            s.fr_010 * 100.0,
            s.auc_008
        );
    } else {
        println!(
            "{} faces ({} missed): mean error {:.2} px, median {:.2} px",
            results.len(),
            missed,
            s.mean,
            s.median
        );
    }
    if let Some(n) = noise {
        n.print();
    }
    let px: Vec<f32> = results
        .iter()
        .filter_map(|r| r.pred.as_ref().and_then(|p| mean_error(p, &r.truth)))
        .collect();
    let mean_px = px.iter().map(|&v| v as f64).sum::<f64>() / px.len().max(1) as f64;
    if let Some(j) = &a.json {
        // without an eye-corner normaliser the errors are pixels: the NME thresholds mean nothing
        let frac = |x: f64| {
            if normalised && scored {
                serde_json::json!(x)
            } else {
                serde_json::Value::Null
            }
        };
        let v = serde_json::json!({
            "faces": results.len(),
            "missed": missed,
            "nme_mean": frac(s.mean),
            "nme_median": frac(s.median),
            "fr_008": frac(s.fr_008),
            "fr_010": frac(s.fr_010),
            "auc_008": frac(s.auc_008),
            "mean_px_error": (!px.is_empty()).then_some(mean_px),
            "normalised": normalised,
            "point_set": set.name(),
            "noise": noise.map(|n| n.json()),
            "boxes": match a.boxes { BoxSource::Gt => "gt", BoxSource::Tracked => "tracked", BoxSource::Detector => "detector" },
        });
        write_report(j, &(serde_json::to_string_pretty(&v)? + "\n"))?;
    }
    if let Some(p) = &a.per_face {
        let n = set.len();
        // (a face the detector missed: missed 1, its error and points empty)
        let mut t = String::from("image,missed,error,px_error,inter_ocular");
        facetrack::output::csv_out::header_points(&mut t, n);
        t.push('\n');
        for r in results {
            t += &format!(
                "{},{},{},{},{}",
                facetrack::output::csv_out::csv_escape(&r.image.display().to_string()),
                u8::from(r.pred.is_none()),
                r.err.map(|e| format!("{e:.6}")).unwrap_or_default(),
                r.pred
                    .as_ref()
                    .and_then(|p| mean_error(p, &r.truth))
                    .map(|e| format!("{e:.3}"))
                    .unwrap_or_default(),
                inter_ocular(&r.truth, set)
                    .map(|e| format!("{e:.2}"))
                    .unwrap_or_default()
            );
            // the predicted points, in the image's pixels (empty for a missed face)
            match &r.pred {
                Some(p) => facetrack::output::csv_out::push_points(&mut t, p, n),
                None => t.push_str(&",".repeat(2 * n)),
            }
            t.push('\n');
        }
        write_report(p, &t)?;
    }
    if let Some(dir) = &a.plots {
        crate::inputs::create_folder(dir)?;
        let limit = if normalised {
            0.1
        } else {
            errs.iter().copied().fold(1.0, f32::max)
        };
        let curve = ced_curve(&errs, limit, 100);
        let buf = chart(
            640,
            400,
            "CUMULATIVE ERROR",
            if normalised { "NME" } else { "PIXELS" },
            &[Series {
                name: "faces",
                color: BLUE,
                points: &curve,
            }],
            false,
        );
        crate::eval_report::write_png(&dir.join("ced.png"), 640, 400, &buf)?;
        let mut order: Vec<&FaceResult> = results.iter().filter(|r| r.err.is_some()).collect();
        order.sort_by(|x, y| x.err.unwrap_or(0.0).total_cmp(&y.err.unwrap_or(0.0)));
        grid(
            &dir.join("best.png"),
            &order.iter().take(8).copied().collect::<Vec<_>>(),
            normalised,
        )?;
        grid(
            &dir.join("worst.png"),
            &order.iter().rev().take(8).copied().collect::<Vec<_>>(),
            normalised,
        )?;
    }
    Ok(())
}

/// The ground truth in the model's point set.
fn facetrack_points(pts: &[Point], set: facetrack::PointSet) -> Option<Vec<Point>> {
    use facetrack::core::layout::{IBUG68_NOSE_TIP, IMM58_NOSE_TIP};
    match (pts.len(), set) {
        (n, s) if n == s.len() => Some(pts.to_vec()),
        (58, facetrack::PointSet::NoseTip) => Some(vec![pts[IMM58_NOSE_TIP]]),
        (68, facetrack::PointSet::NoseTip) => Some(vec![pts[IBUG68_NOSE_TIP]]),
        _ => None,
    }
}

/// Faces cropped around their truth, truth green and prediction red, with their error
/// (the library's face grid, as the trainer draws its validation faces).
fn grid(path: &Path, faces: &[&FaceResult], normalised: bool) -> Result<()> {
    let cell = 200u32;
    let mut cells = Vec::new();
    for r in faces {
        let Ok(img) = GrayImage::open(&r.image) else {
            continue;
        };
        let b = FaceBox::from_points(&r.truth).unwrap_or_default();
        let t = CropTransform::square_around(&b, 1.6);
        let mut crop = vec![0f32; (cell * cell) as usize];
        // identity normalisation: the crop in grey levels
        let grey = facetrack::inference::preprocess::Normalization {
            mean: 0.0,
            std: 1.0 / 255.0,
        };
        facetrack::inference::preprocess::sample_crop(&img, &t, cell, cell, grey, &mut crop);
        let to_cell = |p: &Point| {
            let q = t.to_crop(*p);
            Point::new(
                (q.x + 1.0) * cell as f32 / 2.0 - 0.5,
                (q.y + 1.0) * cell as f32 / 2.0 - 0.5,
            )
        };
        let e = r.err.unwrap_or(f32::NAN);
        cells.push(facetrack::report::GridFace {
            pixels: crop.iter().map(|v| v.clamp(0.0, 255.0) as u8).collect(),
            width: cell,
            height: cell,
            truth: r.truth.iter().map(to_cell).collect(),
            pred: r.pred.iter().flatten().map(to_cell).collect(),
            caption: if normalised {
                format!("{:.1}%", e * 100.0)
            } else {
                format!("{e:.1} PX")
            },
        });
    }
    if let Some((w, h, buf)) = facetrack::report::face_grid(&cells, 4, cell) {
        crate::eval_report::write_png(path, w, h, &buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_detection_stands_for_one_labelled_face() {
        // two overlapping faces, one detection between them, nearer the second
        let first = FaceBox::new(0.0, 0.0, 100.0, 100.0);
        let second = FaceBox::new(40.0, 0.0, 100.0, 100.0);
        let det = FaceBox::new(35.0, 0.0, 100.0, 100.0);
        assert!(det.iou(&first) > DETECTION_IOU && det.iou(&second) > det.iou(&first));
        let labels = [first, second];
        assert_eq!(detection_for(&second, &labels, &[det]), Some(det));
        assert_eq!(detection_for(&first, &labels, &[det]), None);
        // a second detection on the first face goes to it
        let on_first = FaceBox::new(2.0, 0.0, 100.0, 100.0);
        assert_eq!(
            detection_for(&first, &labels, &[det, on_first]),
            Some(on_first)
        );
        // the face labelled twice is one face
        assert_eq!(
            detection_for(&first, &[first, first], &[on_first]),
            Some(on_first)
        );
        // a face alone in its image takes its best detection
        assert_eq!(detection_for(&first, &[], &[det, on_first]), Some(on_first));
        assert_eq!(detection_for(&first, &[], &[]), None);
    }
}
