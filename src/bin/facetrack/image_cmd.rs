//! `facetrack image`: the detector and the model on still photos.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use facetrack::core::head_pose::PoseOptions;
use facetrack::output::csv_out::ImageCsv;
use facetrack::output::draw::Canvas;
use facetrack::output::output_files::{check_outputs, commit, partial_path, OutputError};
use facetrack::tracking::detector::FaceDetector;
use facetrack::tracking::tracker::{align_from_boxes, detection_confidence};
use facetrack::{FaceBox, GrayImage, LandmarkModel};

use crate::args::ImageArgs;

fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let v = facetrack::core::files::with_extension(p, &facetrack::core::files::IMAGE_EXT)
                .with_context(|| format!("reading folder {}", p.display()))?;
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
    let mut det = FaceDetector::new(facetrack::tracking::detector::DetectorOptions {
        min_face: a.min_face.max(20),
        ..Default::default()
    })?;
    let n = model.contract().num_points();
    if let Some(d) = &a.annotate {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    // every output named and checked against the inputs before anything is written
    let mut outputs: Vec<PathBuf> = a.csv.iter().cloned().collect();
    let mut annotated: BTreeMap<PathBuf, &PathBuf> = BTreeMap::new();
    if let Some(d) = &a.annotate {
        for f in &files {
            let out = annotated_name(d, f);
            if let Some(prev) = annotated.insert(out.clone(), f) {
                return Err(OutputError::Collision {
                    a: prev.clone(),
                    b: f.clone(),
                    out,
                }
                .into());
            }
            outputs.push(out);
        }
    }
    check_outputs(&files, &outputs, a.overwrite)?;
    let out: Box<dyn std::io::Write> = match &a.csv {
        Some(p) => {
            let tmp = partial_path(p);
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(&tmp)
                    .with_context(|| format!("creating {}", tmp.display()))?,
            ))
        }
        None => Box::new(std::io::stdout()),
    };
    let pose = a.pose.options()?;
    let mut csv = ImageCsv::with_pose(out, n, pose.is_on())?;
    let (mut done, mut failed) = (0, 0);
    for f in &files {
        match one(f, a, &mut model, &mut det, &mut csv, pose) {
            Ok(faces) => {
                done += 1;
                if faces == 0 {
                    eprintln!("{}: no face found", f.display());
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}", crate::error_chain(e.as_ref()));
            }
        }
    }
    drop(csv);
    if let Some(p) = &a.csv {
        commit(p)?;
    }
    Ok((done, failed))
}

/// The annotated copy of image `f` in folder `dir`.
fn annotated_name(dir: &Path, f: &Path) -> PathBuf {
    dir.join(format!(
        "{}.png",
        f.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into())
    ))
}

fn one(
    f: &Path,
    a: &ImageArgs,
    model: &mut LandmarkModel,
    det: &mut FaceDetector,
    csv: &mut ImageCsv<Box<dyn std::io::Write>>,
    pose: PoseOptions,
) -> Result<usize> {
    let img = facetrack::core::image::open_dynamic(f)?;
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
        let p = pose.estimate(pts, gray.width(), gray.height());
        csv.write_face(&name, k, detection_confidence(d.score), pts, p.as_ref())?;
    }
    if let Some(dir) = &a.annotate {
        let mut rgb = img.to_rgb8();
        let (w, h) = (rgb.width(), rgb.height());
        if let Some(mut cv) = Canvas::new(w, h, &mut rgb) {
            for pts in &faces {
                if let Some(b) = FaceBox::from_points(pts) {
                    cv.rect(&b, facetrack::output::draw::GREEN);
                }
                cv.face_shape(pts, crate::args::shape_style(a.points_only), true);
            }
        }
        let out = annotated_name(dir, f);
        let tmp = partial_path(&out);
        rgb.save_with_format(&tmp, image::ImageFormat::Png)
            .with_context(|| format!("writing {}", tmp.display()))?;
        commit(&out)?;
    }
    Ok(faces.len())
}
