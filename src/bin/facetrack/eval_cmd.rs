//! `facetrack eval`: accuracy on labelled datasets (NME, failure rates, AUC, as in the
//! 300-W literature) and on clips with ground truth (NME, success rate, false faces,
//! flicker).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use facetrack::core::geometry::CropTransform;
use facetrack::core::metrics::{ced_curve, inter_ocular, mean_error, nme, summarise};
use facetrack::data::datasets::{self, CoordBase, LoadOptions};
use facetrack::data::jitter::tracked_crop;
use facetrack::output::csv_out::{read_video_csv, VideoRow};
use facetrack::output::draw::{chart, save_png, Series, BLUE, RED};
use facetrack::pipeline::{process_video, VideoJob};
use facetrack::tracking::detector::FaceDetector;
use facetrack::tracking::tracker::{align_from_boxes, Tracker};
use facetrack::{FaceBox, GrayImage, LandmarkModel, Point};

use crate::args::{BoxSource, EvalArgs, SplitPart};
use crate::eval_noise;

/// First IMM person of the original work's test split (persons 33-40).
const IMM_FIRST_TEST_PERSON: u32 = 33;

struct FaceResult {
    image: PathBuf,
    truth: Vec<Point>,
    pred: Option<Vec<Point>>,
    err: Option<f32>,
}

/// Check the report files before any work: none may be an input (a dataset file, the
/// clips' ground truth) or another report. An existing report is replaced.
fn check_reports(a: &EvalArgs, inputs: &[PathBuf]) -> Result<()> {
    let outputs: Vec<PathBuf> = [&a.json, &a.per_face]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    facetrack::output::output_files::check_outputs(inputs, &outputs, true)?;
    Ok(())
}

/// Write a report whole: under its `.partial` name first, renamed when complete, so an
/// existing file is never left half-written.
fn write_report(path: &Path, text: &str) -> Result<()> {
    let tmp = facetrack::output::output_files::partial_path(path);
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    facetrack::output::output_files::commit(path)?;
    Ok(())
}

pub fn run(a: &EvalArgs) -> Result<()> {
    if let Some(dir) = &a.clips {
        return clips(a, dir);
    }
    check_reports(a, &a.data)?;
    let mut model = LandmarkModel::from_file(&a.model.model_path()?, a.model.options())?;
    let set = model.contract().point_set;
    let mut det = FaceDetector::new(a.track.detector())?;
    let base = if a.zero_based {
        CoordBase::ZeroBased
    } else {
        CoordBase::OneBased
    };
    let mut results = Vec::new();
    let mut noise = Vec::new();
    let mut skipped = 0;
    for path in &a.data {
        let ds = datasets::load(
            path,
            LoadOptions {
                base,
                expect_points: None,
            },
        )
        .with_context(|| format!("dataset {}", path.display()))?;
        skipped += ds.skipped.len();
        for s in ds.samples {
            if !wanted(a, &s.subject) {
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
            let img = match GrayImage::open(&s.image) {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("skipped: {e}");
                    skipped += 1;
                    continue;
                }
            };
            let input = face_input(a, &model, &mut det, &img, &truth, results.len() as u64);
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
    if results.is_empty() {
        bail!("no face to evaluate (check --data and --holdout)");
    }
    let noise = a.noise.then(|| eval_noise::summarise(&noise)).flatten();
    report(a, &results, skipped, set, noise.as_ref())
}

/// Whether a face of this subject is in the part that `a` asks for.
fn wanted(a: &EvalArgs, subject: &str) -> bool {
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

/// The input `a.boxes` asks for (`None`: the detector missed the face). `index` numbers
/// the face for the tracked-box jitter.
fn face_input(
    a: &EvalArgs,
    model: &LandmarkModel,
    det: &mut FaceDetector,
    img: &GrayImage,
    truth: &[Point],
    index: u64,
) -> Option<FaceInput> {
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
            det.detect(img)
                .into_iter()
                .filter(|d| d.face_box.iou(&gt) > 0.2)
                .max_by(|x, y| x.face_box.iou(&gt).total_cmp(&y.face_box.iou(&gt)))
                .map(|d| FaceInput::Detected(d.face_box))
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
    if normalised {
        println!(
            "{} faces ({} missed by the detector, {} records skipped): NME mean {:.2}%, median {:.2}%, FR@0.08 {:.2}%, FR@0.10 {:.2}%, AUC@0.08 {:.4}",
            results.len(),
            missed,
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
            if normalised {
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
            "mean_px_error": mean_px,
            "normalised": normalised,
            "point_set": set.name(),
            "noise": noise.map(|n| n.json()),
            "boxes": match a.boxes { BoxSource::Gt => "gt", BoxSource::Tracked => "tracked", BoxSource::Detector => "detector" },
        });
        write_report(j, &(serde_json::to_string_pretty(&v)? + "\n"))?;
    }
    if let Some(p) = &a.per_face {
        let n = set.len();
        let mut t = String::from("image,error,px_error,inter_ocular");
        facetrack::output::csv_out::header_points(&mut t, n);
        t.push('\n');
        for r in results {
            t += &format!(
                "{},{},{},{}",
                facetrack::output::csv_out::csv_escape(&r.image.display().to_string()),
                r.err
                    .map(|e| format!("{e:.6}"))
                    .unwrap_or_else(|| "missed".into()),
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
        std::fs::create_dir_all(dir)?;
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
        save_png(&dir.join("ced.png"), 640, 400, &buf)?;
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
        cells.push(facetrack::output::draw::GridFace {
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
    if let Some((w, h, buf)) = facetrack::output::draw::face_grid(&cells, 4, cell) {
        save_png(path, w, h, &buf)?;
    }
    Ok(())
}

/// Per-clip results.
#[derive(Default)]
struct ClipStats {
    nme: Vec<f32>,
    frames_with_truth: u64,
    found: u64,
    false_faces: u64,
    flicker_sq: f64,
    flicker_n: u64,
    /// Frame-to-frame change of the log size error (predicted face size over true),
    /// consecutive found frames only; `None` marks a break.
    size_steps: Vec<Option<f32>>,
    /// Per found frame: its number, NME, and flicker (when the frame before was found).
    per_frame: Vec<(u64, f32, Option<f32>)>,
}

/// Size steps (log) below this are noise, not a direction, in the oscillation count.
const OSCILLATION_NOISE: f32 = 0.01;
/// This many size steps in a row alternating in sign make one oscillation run.
const OSCILLATION_RUN: usize = 4;

impl ClipStats {
    /// RMS of the size steps, × 100 (percent of the face size per frame).
    fn size_jitter(&self) -> f64 {
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
    fn oscillation_runs(&self) -> usize {
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
}

/// A face's size for the size checks: the aligned crop rule's scale for 68 points, the
/// landmark box's longer side otherwise.
fn face_size(points: &[Point]) -> Option<f32> {
    facetrack::core::crop_rule::face_frame(points)
        .map(|f| f.scale)
        .or_else(|| FaceBox::from_points(points).map(|b| b.width.max(b.height)))
        .filter(|s| *s > 0.0 && s.is_finite())
}

fn rows_by_frame(rows: Vec<VideoRow>) -> BTreeMap<u64, Vec<VideoRow>> {
    let mut m: BTreeMap<u64, Vec<VideoRow>> = BTreeMap::new();
    for r in rows {
        m.entry(r.frame).or_default().push(r);
    }
    m
}

fn clip_stats(
    truth: &BTreeMap<u64, Vec<VideoRow>>,
    pred: &BTreeMap<u64, Vec<VideoRow>>,
    set: facetrack::PointSet,
) -> ClipStats {
    let mut s = ClipStats::default();
    let mut prev_err: Option<(u64, Vec<Point>, f32)> = None;
    let mut prev_size: Option<(u64, f32)> = None;
    for (frame, trows) in truth {
        let t = trows.iter().find(|r| r.success);
        let preds: Vec<&VideoRow> = pred
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
        let mut frame_flicker = None;
        if let Some((pf, pe, piod)) = &prev_err {
            if *pf + 1 == *frame && pe.len() == err.len() {
                let norm = 0.5 * (iod + piod);
                let mut sq = 0.0f64;
                for (a, b) in err.iter().zip(pe) {
                    sq += (((a.x - b.x).powi(2) + (a.y - b.y).powi(2)) / (norm * norm)) as f64;
                }
                s.flicker_sq += sq;
                s.flicker_n += err.len() as u64;
                frame_flicker = Some(((sq / err.len().max(1) as f64).sqrt() * 100.0) as f32);
            }
        }
        if let Some(&e) = s.nme.last() {
            s.per_frame.push((*frame, e, frame_flicker));
        }
        prev_err = Some((*frame, err, iod));
    }
    s
}

fn clips(a: &EvalArgs, dir: &Path) -> Result<()> {
    let names: Vec<PathBuf> = facetrack::core::files::with_extension(dir, &["mp4"])
        .with_context(|| format!("reading {}", dir.display()))?
        .into_iter()
        .filter(|p| p.with_extension("gt.csv").is_file())
        .collect();
    if names.is_empty() {
        bail!(
            "{}: no NAME.mp4 with a NAME.gt.csv beside it",
            dir.display()
        );
    }
    let inputs: Vec<PathBuf> = names
        .iter()
        .flat_map(|n| [n.clone(), n.with_extension("gt.csv")])
        .collect();
    check_reports(a, &inputs)?;
    let model = LandmarkModel::from_file(&a.model.model_path()?, a.model.options())?;
    let set = model.contract().point_set;
    let mut tracker = Tracker::new(
        model,
        FaceDetector::new(a.track.detector())?,
        a.track.tracker(a.track.smooth)?,
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tmp = std::env::temp_dir().join(format!("facetrack-eval-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut all = ClipStats::default();
    let mut per_clip = Vec::new();
    if let Some(dir) = &a.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for clip in &names {
        // a fresh tracker per clip: ids and tracks must not carry over
        tracker = Tracker::new(
            LandmarkModel::from_file(&a.model.model_path()?, a.model.options())?,
            FaceDetector::new(a.track.detector())?,
            tracker.options(),
        );
        let out = tmp.join("pred.csv");
        let job = VideoJob {
            input: clip.clone(),
            csv: Some(out.clone()),
            annotate: None,
            style: Default::default(),
            partial_if_interrupted: false,
            orientation: Default::default(),
        };
        process_video(&job, &mut tracker, &stop, &|_, _| {})?;
        let truth = rows_by_frame(read_video_csv(&clip.with_extension("gt.csv"))?);
        let pred = rows_by_frame(read_video_csv(&out)?);
        let s = clip_stats(&truth, &pred, set);
        let summary = clip_json(&s);
        println!("{}: {}", clip.display(), summary);
        if let Some(dir) = &a.plots {
            let name = clip.file_stem().and_then(|n| n.to_str()).unwrap_or("clip");
            clip_plot(&dir.join(format!("{name}.png")), name, &s)?;
        }
        per_clip.push((
            clip.file_stem()
                .and_then(|n| n.to_str())
                .unwrap_or("?")
                .to_string(),
            summary,
        ));
        all.nme.extend(&s.nme);
        all.frames_with_truth += s.frames_with_truth;
        all.found += s.found;
        all.false_faces += s.false_faces;
        all.flicker_sq += s.flicker_sq;
        all.flicker_n += s.flicker_n;
        all.size_steps.push(None);
        all.size_steps.extend(&s.size_steps);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if let Some(dir) = &a.plots {
        let curve = ced_curve(&all.nme, 0.1, 100);
        let buf = chart(
            640,
            400,
            "CUMULATIVE ERROR, ALL CLIP FRAMES",
            "NME",
            &[Series {
                name: "frames",
                color: BLUE,
                points: &curve,
            }],
            false,
        );
        save_png(&dir.join("ced.png"), 640, 400, &buf)?;
    }
    let total = clip_json(&all);
    println!("all clips: {total}");
    if let Some(j) = &a.json {
        let mut v = total.clone();
        v["clips"] = serde_json::Value::Object(per_clip.into_iter().collect());
        write_report(j, &(serde_json::to_string_pretty(&v)? + "\n"))?;
    }
    Ok(())
}

/// A clip's NME and flicker over time: a tracking failure such as an oscillating crop
/// shows as a saw-tooth.
fn clip_plot(path: &Path, name: &str, s: &ClipStats) -> Result<()> {
    let nme: Vec<(f32, f32)> = s
        .per_frame
        .iter()
        .map(|&(f, e, _)| (f as f32, e * 100.0))
        .collect();
    let flick: Vec<(f32, f32)> = s
        .per_frame
        .iter()
        .filter_map(|&(f, _, k)| k.map(|k| (f as f32, k)))
        .collect();
    let title = format!("{} OVER TIME", name.to_uppercase());
    let buf = chart(
        800,
        360,
        &title,
        "FRAME",
        &[
            Series {
                name: "NME %",
                color: BLUE,
                points: &nme,
            },
            Series {
                name: "flicker",
                color: RED,
                points: &flick,
            },
        ],
        false,
    );
    save_png(path, 800, 360, &buf).with_context(|| format!("writing {}", path.display()))
}

fn clip_json(s: &ClipStats) -> serde_json::Value {
    let mean = s.nme.iter().map(|&e| e as f64).sum::<f64>() / s.nme.len().max(1) as f64;
    let mut sorted = s.nme.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[(((sorted.len() - 1) as f64) * q).round() as usize] as f64
    };
    serde_json::json!({
        "frames": s.frames_with_truth,
        "nme_mean": mean,
        "nme_median": at(0.5),
        "nme_p95": at(0.95),
        "nme_worst": at(1.0),
        "size_jitter": s.size_jitter(),
        "oscillation_runs": s.oscillation_runs(),
        "success_rate": s.found as f64 / s.frames_with_truth.max(1) as f64,
        "false_faces": s.false_faces,
        "flicker": if s.flicker_n > 0 { (s.flicker_sq / s.flicker_n as f64).sqrt() * 100.0 } else { 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(frame: u64, pts: Vec<Point>, success: bool) -> VideoRow {
        VideoRow {
            frame,
            face_id: 0,
            timestamp: 0.0,
            confidence: 1.0,
            success,
            points: pts,
            pose: None,
        }
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
        let s = clip_stats(&truth, &pred, facetrack::PointSet::Ibug68);
        let j = clip_json(&s);
        assert!((j["nme_mean"].as_f64().unwrap() - 0.01).abs() < 1e-6, "{j}");
        assert!((j["flicker"].as_f64().unwrap() - 2.0).abs() < 1e-4, "{j}");
        assert_eq!(j["false_faces"], 1);
        assert_eq!(j["success_rate"], 1.0);
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
        let c = clip_json(&clip_stats(&truth, &cycle, facetrack::PointSet::Ibug68));
        // 11 alternating steps in a row are one run
        assert_eq!(c["oscillation_runs"], 1, "{c}");
        let ln = (1.1f64 / 0.9).ln() * 100.0;
        assert!((c["size_jitter"].as_f64().unwrap() - ln).abs() < 0.5, "{c}");
        let z = clip_json(&clip_stats(&truth, &zoom, facetrack::PointSet::Ibug68));
        assert_eq!(z["oscillation_runs"], 0, "{z}");
        assert!(z["size_jitter"].as_f64().unwrap() < 0.3, "{z}");
        assert!(z["nme_worst"].as_f64().unwrap() >= z["nme_p95"].as_f64().unwrap());
    }
}
