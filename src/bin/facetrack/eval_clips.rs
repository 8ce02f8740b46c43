//! `facetrack eval --clips`: tracking on clips with ground truth: per-clip NME, success
//! rate, false faces, flicker, size jitter and oscillation, their plots and JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use facetrack::core::metrics::{ced_curve, inter_ocular, nme};
use facetrack::output::csv_out::{read_video_csv, VideoRow};
use facetrack::output::draw::{save_png, BLUE, RED};
use facetrack::pipeline::{process_video, VideoJob};
use facetrack::report::{chart, Series};
use facetrack::tracking::detector::FaceDetector;
use facetrack::tracking::tracker::Tracker;
use facetrack::{FaceBox, LandmarkModel, Point};

use crate::args::EvalArgs;
use crate::eval_report::{check_reports, write_report};

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

pub fn clips(a: &EvalArgs, dir: &Path) -> Result<()> {
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
            csv_columns: Default::default(),
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
            signals: None,
            point_confidence: Vec::new(),
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
