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
        let mut moved = t;
        moved.center.x += 3.0 * t.half_w;
        off_q.push(m.predict_faces(&img, &[moved])?[0].quality.unwrap_or(0.0));
        let mut g = t;
        g.center = facetrack::Point::new(32.0, 32.0);
        grey_q.push(m.predict_faces(&grey, &[g])?[0].quality.unwrap_or(0.0));
    }
    for (name, v) in [
        ("faces", &mut face_q),
        ("faces with NME > 8 %", &mut bad_q),
        ("crops moved off the face", &mut off_q),
        ("grey", &mut grey_q),
    ] {
        if v.is_empty() {
            println!("{name}: none");
            continue;
        }
        println!(
            "{name} ({}): p5 {:.3}  p25 {:.3}  median {:.3}  p75 {:.3}  p95 {:.3}",
            v.len(),
            pct(v, 0.05),
            pct(v, 0.25),
            pct(v, 0.5),
            pct(v, 0.75),
            pct(v, 0.95)
        );
    }
    Ok(())
}
