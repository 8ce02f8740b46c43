//! `facetrack image`: the detector and the model on still photos.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use facetrack::csv_out::ImageCsv;
use facetrack::detector::FaceDetector;
use facetrack::draw::Canvas;
use facetrack::tracker::{align_from_boxes, detection_confidence};
use facetrack::{FaceBox, GrayImage, LandmarkModel};

use crate::args::ImageArgs;

const IMAGE_EXT: [&str; 6] = ["jpg", "jpeg", "png", "bmp", "tif", "tiff"];

fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading folder {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| IMAGE_EXT.contains(&e.to_ascii_lowercase().as_str()))
                })
                .collect();
            v.sort();
            if v.is_empty() {
                bail!("{}: the folder holds no images", p.display());
            }
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Returns (images done, images failed).
pub fn run(a: &ImageArgs) -> Result<(usize, usize)> {
    let files = expand(&a.inputs)?;
    let mut model = LandmarkModel::from_file(&a.model.model_path()?, a.model.options())?;
    let mut det = FaceDetector::new(facetrack::detector::DetectorOptions {
        min_face: a.min_face.max(20),
        ..Default::default()
    })?;
    let n = model.contract().num_points();
    let out: Box<dyn std::io::Write> = match &a.csv {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout()),
    };
    let mut csv = ImageCsv::new(out, n)?;
    if let Some(d) = &a.annotate {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let (mut done, mut failed) = (0, 0);
    for f in &files {
        match one(f, a, &mut model, &mut det, &mut csv) {
            Ok(faces) => {
                done += 1;
                if faces == 0 {
                    eprintln!("{}: no face found", f.display());
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
            }
        }
    }
    Ok((done, failed))
}

fn one(
    f: &Path,
    a: &ImageArgs,
    model: &mut LandmarkModel,
    det: &mut FaceDetector,
    csv: &mut ImageCsv<Box<dyn std::io::Write>>,
) -> Result<usize> {
    let img = facetrack::image::open_dynamic(f)?;
    let gray = GrayImage::from_dynamic(&img);
    let dets: Vec<_> = det
        .detect(&gray)
        .into_iter()
        .take(a.max_faces.max(1))
        .collect();
    let boxes: Vec<FaceBox> = dets.iter().map(|d| d.face_box).collect();
    let faces = align_from_boxes(model, &gray, &boxes)?;
    let name = f.display().to_string();
    for (k, (d, pts)) in dets.iter().zip(&faces).enumerate() {
        csv.write_face(&name, k, detection_confidence(d.score), pts)?;
    }
    if let Some(dir) = &a.annotate {
        let mut rgb = img.to_rgb8();
        let (w, h) = (rgb.width(), rgb.height());
        if let Some(mut cv) = Canvas::new(w, h, &mut rgb) {
            let r = (w.max(h) as f32 / 400.0).clamp(1.0, 4.0);
            for pts in &faces {
                if let Some(b) = FaceBox::from_points(pts) {
                    cv.rect(&b, facetrack::draw::GREEN);
                }
                cv.landmarks(pts, r);
            }
        }
        let out = dir.join(format!(
            "{}.png",
            f.file_stem().and_then(|s| s.to_str()).unwrap_or("image")
        ));
        rgb.save(&out)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(faces.len())
}
