//! `facetrack eval --signals`: how well the eye signals and the per-point confidence do
//! on labelled faces.
//!
//! - **Eyes:** each labelled eye is closed when its human label's eye aspect ratio is
//!   below [`LABEL_CLOSED_EAR`] (300-W labels a closed eye with its lid points on one
//!   line) and open above [`LABEL_OPEN_EAR`]; the eyes in between are left out. The
//!   figure is the AUC of the predicted openness for closed against open eyes, with the
//!   median predicted eye aspect ratio of each group (what [`EAR_CLOSED`] and
//!   [`EAR_OPEN`] were fitted to) and how often the still-image blink rule fires on faces
//!   with both eyes closed and with both open.
//! - **Point confidence:** every point's error (over the inter-ocular distance) against
//!   its score, in ten equal groups by score: the mean error of the lowest-score tenth
//!   over that of the highest.
//! - **Occlusion:** each face again with an occluder pasted over it: a hand-sized block
//!   (0.8 × 1.0 eye distances, skin-toned with a soft texture) over one eye and cheek, the
//!   eyes taken in turn, and a light mask from the nose bridge to below the chin between
//!   the cheeks. The points of the truth inside the occluder are hidden; their mean score
//!   with and without the occluder is compared, on the same crop.

use anyhow::{bail, Result};
use facetrack::core::geometry::CropTransform;
use facetrack::core::metrics::{inter_ocular, separation_auc};
use facetrack::core::signals::{
    both_closed, eye_aspect_ratio, openness, EAR_CLOSED, EAR_OPEN, LABEL_CLOSED_EAR,
    LABEL_OPEN_EAR, LEFT_EYE, RIGHT_EYE,
};
use facetrack::data::datasets::{self, CoordBase, LoadOptions};
use facetrack::data::jitter::tracked_crop;
use facetrack::{GrayImage, LandmarkModel, Point, PointSet};

use crate::args::{BoxSource, EvalArgs};
use crate::eval_report::write_report;

/// One labelled eye: its label's and the prediction's eye aspect ratio.
struct Eye {
    label: f32,
    pred: f32,
}

/// One occluded face: the hidden points' mean score without and with the occluder.
struct Hidden {
    before: f32,
    after: f32,
}

/// An occluder: a rectangle `(x0, y0, x1, y1)` and how it is filled.
#[derive(Clone, Copy)]
enum Occluder {
    /// Over one eye (`first` point 36 or 42) and its cheek.
    Hand { first: usize },
    /// Over nose and mouth.
    Mask,
}

impl Occluder {
    fn rect(self, t: &[Point], io: f32) -> (f32, f32, f32, f32) {
        match self {
            Occluder::Hand { first } => {
                let n = 6.0;
                let cx = t[first..first + 6].iter().map(|p| p.x).sum::<f32>() / n;
                let cy = t[first..first + 6].iter().map(|p| p.y).sum::<f32>() / n + 0.3 * io;
                (cx - 0.4 * io, cy - 0.5 * io, cx + 0.4 * io, cy + 0.5 * io)
            }
            Occluder::Mask => (t[2].x, t[28].y, t[14].x, t[8].y + 0.1 * io),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Occluder::Hand { .. } => "hand",
            Occluder::Mask => "mask",
        }
    }

    /// A copy of `img` with the occluder pasted over `r`.
    fn paste(self, img: &GrayImage, r: (f32, f32, f32, f32)) -> GrayImage {
        let mut out = img.clone();
        let (w, h) = (img.width() as i64, img.height() as i64);
        let (x0, y0) = ((r.0.floor() as i64).max(0), (r.1.floor() as i64).max(0));
        let (x1, y1) = ((r.2.ceil() as i64).min(w), (r.3.ceil() as i64).min(h));
        let mut sum = 0f64;
        let mut n = 0f64;
        for y in y0..y1 {
            for x in x0..x1 {
                sum += img.get(x, y).unwrap_or(0) as f64;
                n += 1.0;
            }
        }
        let base = match self {
            // skin: the region's own mean gray
            Occluder::Hand { .. } => (sum / n.max(1.0)) as f32,
            Occluder::Mask => 210.0,
        };
        let data = out.data_mut();
        for y in y0..y1 {
            for x in x0..x1 {
                let tex = match self {
                    Occluder::Hand { .. } => {
                        18.0 * (x as f32 * 0.15).sin() * (y as f32 * 0.11).cos()
                    }
                    Occluder::Mask => 6.0 * ((x + 2 * y) as f32 * 0.7).sin(),
                };
                data[(y * w + x) as usize] = (base + tex).clamp(0.0, 255.0) as u8;
            }
        }
        out
    }
}

pub fn run(a: &EvalArgs, stop: &std::sync::atomic::AtomicBool) -> Result<()> {
    crate::eval_cmd::check_photo_options(a)?;
    // (its report is the printed table and --json: these would be passed over in silence)
    for (given, name) in [
        (a.per_face.is_some(), "--per-face"),
        (a.plots.is_some(), "--plots"),
    ] {
        if given {
            bail!("{name} is not written by --signals (its report is the table and --json)");
        }
    }
    crate::eval_report::check_reports(a, &a.data)?;
    if a.boxes == BoxSource::Detector {
        bail!("--signals takes --boxes gt or tracked");
    }
    let mut model = LandmarkModel::from_file(&a.model.model_path()?, a.model_options())?;
    if model.contract().point_set != PointSet::Ibug68 {
        bail!("--signals needs a 68-point model");
    }
    let base = if a.zero_based {
        CoordBase::ZeroBased
    } else {
        CoordBase::OneBased
    };
    let mut eyes = Vec::new();
    let mut faces_closed = (0usize, 0usize); // (faces with both eyes labelled closed, flagged)
    let mut faces_open = (0usize, 0usize);
    let mut points: Vec<(f32, f32)> = Vec::new(); // (score, error)
    let mut hidden: Vec<(&'static str, Hidden)> = Vec::new();
    let mut face_index = 0u64;
    let mut seen = crate::eval_cmd::SeenFaces::default();
    let mut skips = crate::eval_cmd::Skips::default();
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
        for s in ds.samples {
            crate::eval_cmd::interrupted(stop, face_index as usize)?;
            if !crate::eval_cmd::wanted(a, &s.subject) || !seen.first(&s) {
                continue;
            }
            if s.points.len() != 68 {
                skips.other_points(&s.image, s.points.len(), 68);
                continue;
            }
            let truth = s.points;
            let Some(io) = inter_ocular(&truth, PointSet::Ibug68) else {
                skips.no_eye_distance(&s.image);
                continue;
            };
            let img = match GrayImage::open(&s.image) {
                Ok(i) => i,
                Err(e) => {
                    skips.unreadable(e);
                    continue;
                }
            };
            let frame = (img.width(), img.height());
            let crop: CropTransform = match a.boxes {
                BoxSource::Gt => model.crop_for_points(&truth, frame.0, frame.1),
                // (detector boxes were refused above)
                BoxSource::Tracked | BoxSource::Detector => {
                    tracked_crop(&truth, model.contract(), frame, face_index)
                }
            };
            let occluder = if face_index.is_multiple_of(2) {
                Occluder::Hand { first: RIGHT_EYE }
            } else {
                Occluder::Hand { first: LEFT_EYE }
            };
            face_index += 1;
            let Some(pred) = model.predict_faces(&img, &[crop])?.pop() else {
                continue;
            };
            if pred.point_scores.len() != 68 {
                bail!("the model gives no per-point scores (it is not a heat-map model)");
            }
            // eyes
            let mut open = [0f32; 2];
            let mut label = [0f32; 2];
            for (k, first) in [LEFT_EYE, RIGHT_EYE].into_iter().enumerate() {
                if let (Some(l), Some(p)) = (
                    eye_aspect_ratio(&truth, first),
                    eye_aspect_ratio(&pred.points, first),
                ) {
                    eyes.push(Eye { label: l, pred: p });
                    open[k] = openness(p);
                    label[k] = l;
                }
            }
            let blink = both_closed(open[0], open[1]);
            if label.iter().all(|&l| l < LABEL_CLOSED_EAR) {
                faces_closed.0 += 1;
                faces_closed.1 += usize::from(blink);
            } else if label.iter().all(|&l| l > LABEL_OPEN_EAR) {
                faces_open.0 += 1;
                faces_open.1 += usize::from(blink);
            }
            // point confidence
            let cpred = pred.point_confidence();
            for (i, (p, t)) in pred.points.iter().zip(&truth).enumerate() {
                points.push((cpred[i], p.dist(*t) / io));
            }
            // occlusion
            for occ in [occluder, Occluder::Mask] {
                let r = occ.rect(&truth, io);
                let inside: Vec<usize> = (0..68)
                    .filter(|&i| {
                        let p = truth[i];
                        p.x > r.0 && p.x < r.2 && p.y > r.1 && p.y < r.3
                    })
                    .collect();
                if inside.len() < 3 {
                    continue;
                }
                let covered = occ.paste(&img, r);
                let Some(after) = model.predict_faces(&covered, &[crop])?.pop() else {
                    continue;
                };
                let mean =
                    |s: &[f32]| inside.iter().map(|&i| s[i]).sum::<f32>() / inside.len() as f32;
                hidden.push((
                    occ.name(),
                    Hidden {
                        before: mean(&cpred),
                        after: mean(&after.point_confidence()),
                    },
                ));
            }
        }
    }
    seen.say();
    skips.say();
    if points.is_empty() {
        bail!("no 68-point face to evaluate (check --data and --split)");
    }
    report(a, &eyes, faces_closed, faces_open, &mut points, &hidden)
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// Mean error of each tenth of the points by score, lowest score first.
fn deciles(points: &mut [(f32, f32)]) -> Vec<(f32, f32)> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = points.len();
    (0..10)
        .filter_map(|k| {
            let part = &points[k * n / 10..(k + 1) * n / 10];
            (!part.is_empty()).then(|| {
                let m = part.len() as f32;
                (
                    part.iter().map(|p| p.0).sum::<f32>() / m,
                    part.iter().map(|p| p.1).sum::<f32>() / m,
                )
            })
        })
        .collect()
}

fn report(
    a: &EvalArgs,
    eyes: &[Eye],
    faces_closed: (usize, usize),
    faces_open: (usize, usize),
    points: &mut [(f32, f32)],
    hidden: &[(&str, Hidden)],
) -> Result<()> {
    let closed: Vec<f32> = eyes
        .iter()
        .filter(|e| e.label < LABEL_CLOSED_EAR)
        .map(|e| e.pred)
        .collect();
    let open: Vec<f32> = eyes
        .iter()
        .filter(|e| e.label > LABEL_OPEN_EAR)
        .map(|e| e.pred)
        .collect();
    let auc = separation_auc(&closed, &open);
    let (mc, mo) = (median(closed.clone()), median(open.clone()));
    println!(
        "eyes: {} labelled closed (EAR < {LABEL_CLOSED_EAR}), {} open (> {LABEL_OPEN_EAR}); predicted EAR median {} closed / {} open (openness {} / {}; scale EAR {EAR_CLOSED} -> 0, {EAR_OPEN} -> 1); AUC of openness, closed vs open: {}",
        closed.len(),
        open.len(),
        fmt(mc),
        fmt(mo),
        fmt(mc.map(openness)),
        fmt(mo.map(openness)),
        auc.map_or("n/a".into(), |v| format!("{v:.4}")),
    );
    println!(
        "blink (still-image rule): {} of {} faces with both eyes labelled closed, {} of {} with both open",
        faces_closed.1, faces_closed.0, faces_open.1, faces_open.0
    );
    let dec = deciles(points);
    let ratio = match (dec.first(), dec.last()) {
        (Some(lo), Some(hi)) if hi.1 > 0.0 => Some(lo.1 / hi.1),
        _ => None,
    };
    println!(
        "point confidence: {} points; mean error (of the eye distance) by score decile, lowest first: {}; lowest / highest = {}",
        points.len(),
        dec.iter()
            .map(|d| format!("{:.2}%@{:.2}", 100.0 * d.1, d.0))
            .collect::<Vec<_>>()
            .join(" "),
        fmt(ratio)
    );
    let mut occ_json = serde_json::Map::new();
    for name in ["hand", "mask"] {
        let h: Vec<&Hidden> = hidden
            .iter()
            .filter(|x| x.0 == name)
            .map(|x| &x.1)
            .collect();
        if h.is_empty() {
            continue;
        }
        let n = h.len() as f32;
        let before = h.iter().map(|x| x.before).sum::<f32>() / n;
        let after = h.iter().map(|x| x.after).sum::<f32>() / n;
        let lower = h.iter().filter(|x| x.after < x.before).count();
        println!(
            "occlusion ({name}): {} faces; hidden points' mean score {before:.3} unhidden, {after:.3} hidden; lower on {lower} faces ({:.1}%)",
            h.len(),
            100.0 * lower as f32 / n
        );
        occ_json.insert(
            name.into(),
            serde_json::json!({
                "faces": h.len(),
                "mean_unhidden": before,
                "mean_hidden": after,
                "share_lower": lower as f32 / n,
            }),
        );
    }
    if let Some(j) = &a.json {
        let v = serde_json::json!({
            "eyes": {
                "closed": closed.len(),
                "open": open.len(),
                "auc": auc,
                "median_ear_closed": mc,
                "median_ear_open": mo,
                "median_openness_closed": mc.map(openness),
                "median_openness_open": mo.map(openness),
                "blink_on_closed_faces": [faces_closed.1, faces_closed.0],
                "blink_on_open_faces": [faces_open.1, faces_open.0],
            },
            "point_confidence": {
                "points": points.len(),
                "deciles": dec.iter().map(|d| serde_json::json!({"score": d.0, "error": d.1})).collect::<Vec<_>>(),
                "lowest_over_highest": ratio,
            },
            "occlusion": occ_json,
        });
        write_report(j, &(serde_json::to_string_pretty(&v)? + "\n"))?;
    }
    Ok(())
}

fn fmt(v: Option<f32>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_split_by_score() {
        let mut p: Vec<(f32, f32)> = (0..100)
            .map(|i| (i as f32 / 100.0, 1.0 - i as f32 / 100.0))
            .collect();
        let d = deciles(&mut p);
        assert_eq!(d.len(), 10);
        assert!(d[0].1 > d[9].1);
        assert!((d[0].0 - 0.045).abs() < 1e-4);
    }

    #[test]
    fn an_occluder_covers_its_rectangle_only() {
        let img = GrayImage::from_raw(20, 20, vec![100; 400]).unwrap();
        let out = Occluder::Mask.paste(&img, (5.0, 5.0, 10.0, 10.0));
        assert_eq!(out.get(0, 0), Some(100));
        assert_eq!(out.get(19, 19), Some(100));
        assert!(out.get(7, 7).unwrap() > 190);
    }
}
