//! Measures the landmark-quality signal of a heat-map model (the mean peak score of its
//! points, `LandmarkModel::predict_faces`) on faces and on things that are not faces, to
//! set the tracker's quality thresholds (`tracker::QUALITY_*`). Faces: the validation
//! 300-W faces cropped as tracked faces. Not faces: the same crops moved by one and a half
//! face sides (mostly background or the edge of the photo), and uniform grey.
//!
//! cargo run --release --example calibrate_quality -- models/facetrack68.onnx ../shared/data/300w

use facetrack::core::metrics::nme;
use facetrack::data::datasets::{load, part_of, LoadOptions, Part};
use facetrack::data::jitter::tracked_crop;
use facetrack::{GrayImage, LandmarkModel, ModelOptions, PointSet};

fn pct(v: &mut [f32], q: f32) -> f32 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f32 * q).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .unwrap_or_else(|| "models/facetrack68.onnx".into());
    let data = args.next().unwrap_or_else(|| "../shared/data/300w".into());
    let mut m = LandmarkModel::from_file(model.as_ref(), ModelOptions::default())?;
    let ds = load(data.as_ref(), LoadOptions::ibug68())?;
    let (mut face_q, mut off_q, mut grey_q) = (Vec::new(), Vec::new(), Vec::new());
    let mut bad_q = Vec::new();
    let grey = GrayImage::from_raw(64, 64, vec![128; 64 * 64])?;
    // uniform pictures of other levels: black, dark, light, white (a fade, a dark hand)
    const LEVELS: [u8; 5] = [0, 16, 48, 192, 255];
    let mut plain_q = vec![Vec::new(); LEVELS.len()];
    let mut plain_c = vec![Vec::new(); LEVELS.len()];
    // the mean per-point confidence, of faces and of the rest
    let mean_conf = |p: &facetrack::inference::model::Prediction| {
        let c = p.point_confidence();
        c.iter().sum::<f32>() / c.len().max(1) as f32
    };
    let (mut face_c, mut off_c, mut grey_c) = (Vec::new(), Vec::new(), Vec::new());
    for (i, s) in ds
        .samples
        .iter()
        .filter(|s| part_of(&s.subject, 0.1, 42) == Part::Validation)
        .enumerate()
    {
        let img = GrayImage::open(&s.image)?;
        let t = tracked_crop(
            &s.points,
            m.contract(),
            (img.width(), img.height()),
            i as u64,
        );
        let p = m.predict_faces(&img, &[t])?.remove(0);
        let Some(q) = p.quality else {
            return Err("this model has no quality signal (not a heat-map model)".into());
        };
        let e = nme(&p.points, &s.points, PointSet::Ibug68).unwrap_or(f32::NAN);
        if e > 0.08 {
            bad_q.push(q);
        }
        face_q.push(q);
        face_c.push(mean_conf(&p));
        let mut moved = t;
        moved.center.x += 3.0 * t.half_w;
        let off = m.predict_faces(&img, &[moved])?.remove(0);
        off_q.push(off.quality.unwrap_or(0.0));
        off_c.push(mean_conf(&off));
        let mut g = t;
        g.center = facetrack::Point::new(32.0, 32.0);
        let gp = m.predict_faces(&grey, &[g])?.remove(0);
        grey_q.push(gp.quality.unwrap_or(0.0));
        grey_c.push(mean_conf(&gp));
        if i % 8 == 0 {
            // the face's crop of a picture of one level, the photo's size
            for (k, &l) in LEVELS.iter().enumerate() {
                let flat = GrayImage::from_raw(
                    img.width(),
                    img.height(),
                    vec![l; img.width() as usize * img.height() as usize],
                )?;
                let pp = m.predict_faces(&flat, &[t])?.remove(0);
                plain_q[k].push(pp.quality.unwrap_or(0.0));
                plain_c[k].push(mean_conf(&pp));
            }
        }
    }
    let mut rows: Vec<(String, Vec<f32>)> = vec![
        ("faces".into(), face_q),
        ("faces with NME > 8 %".into(), bad_q),
        ("crops moved off the face".into(), off_q),
        ("grey".into(), grey_q),
    ];
    for (k, l) in LEVELS.iter().enumerate() {
        rows.push((
            format!("uniform level {l}"),
            std::mem::take(&mut plain_q[k]),
        ));
    }
    rows.push(("mean point confidence: faces".into(), face_c));
    rows.push(("mean point confidence: off the face".into(), off_c));
    rows.push(("mean point confidence: grey".into(), grey_c));
    for (k, l) in LEVELS.iter().enumerate() {
        rows.push((
            format!("mean point confidence: uniform level {l}"),
            std::mem::take(&mut plain_c[k]),
        ));
    }
    for (name, v) in &mut rows {
        if v.is_empty() {
            println!("{name}: none");
            continue;
        }
        println!(
            "{name} ({}): min {:.3}  p5 {:.3}  p25 {:.3}  median {:.3}  p75 {:.3}  p95 {:.3}",
            v.len(),
            pct(v, 0.0),
            pct(v, 0.05),
            pct(v, 0.25),
            pct(v, 0.5),
            pct(v, 0.75),
            pct(v, 0.95)
        );
    }
    Ok(())
}
