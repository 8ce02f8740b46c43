//! Measures how the face detector's boxes relate to the landmarks' bounding box on a
//! landmark dataset (default: ../shared/data/300w), and its recall. The medians it prints
//! are `detector::SEETA_CALIBRATION`.
//!
//! cargo run --release --example calibrate_detector -- ../shared/data/300w

use facetrack::data::datasets::{load, LoadOptions};
use facetrack::tracking::detector::{DetectorOptions, FaceDetector};
use facetrack::{FaceBox, GrayImage};

fn median(v: &mut [f32]) -> f32 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/300w".into());
    let ds = load(std::path::Path::new(&path), LoadOptions::default())?;
    let mut opts = DetectorOptions::default();
    opts.min_face = 20;
    let mut det = FaceDetector::new(opts)?;
    let (mut dx, mut dy, mut sc) = (Vec::new(), Vec::new(), Vec::new());
    // overlap of the calibrated box with the landmark box: what a confirmation can ask
    let mut iou = Vec::new();
    let (mut found, mut total) = (0, 0);
    let t = std::time::Instant::now();
    for s in &ds.samples {
        let Ok(img) = GrayImage::open(&s.image) else {
            continue;
        };
        total += 1;
        let Some(gt) = FaceBox::from_points(&s.points) else {
            continue;
        };
        let dets = det.detect(&img);
        // the detection whose centre is nearest the landmarks' centre, if it overlaps
        let best = dets.iter().filter(|d| d.raw.iou(&gt) > 0.2).min_by(|a, b| {
            a.raw
                .center()
                .dist(gt.center())
                .total_cmp(&b.raw.center().dist(gt.center()))
        });
        if let Some(d) = best {
            found += 1;
            let (c, g) = (d.raw.center(), gt.center());
            dx.push((g.x - c.x) / d.raw.width);
            dy.push((g.y - c.y) / d.raw.height);
            sc.push(gt.width.max(gt.height) / d.raw.width);
            iou.push(d.face_box.iou(&gt));
        }
    }
    println!(
        "{path}: detector found {found} of {total} faces (recall {:.1}%), {:.1} ms per image",
        100.0 * found as f32 / total.max(1) as f32,
        t.elapsed().as_secs_f64() * 1000.0 / total.max(1) as f64
    );
    println!(
        "calibration: dx {:.4} dy {:.4} scale {:.4}",
        median(&mut dx),
        median(&mut dy),
        median(&mut sc)
    );
    iou.sort_by(|a, b| a.total_cmp(b));
    let q = |f: f32| {
        iou.get(((iou.len().max(1) - 1) as f32 * f) as usize)
            .copied()
            .unwrap_or(f32::NAN)
    };
    println!(
        "IoU of calibrated detections with the landmark box: p1 {:.3}, p5 {:.3}, median {:.3}",
        q(0.01),
        q(0.05),
        q(0.5)
    );
    Ok(())
}
