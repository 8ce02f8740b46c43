//! `facetrack image`: the detector and the model on still photos, turned the way they are
//! displayed (EXIF orientation) unless `--keep-orientation`; one CSV row per face, or one
//! marked row for a photo with no face.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use facetrack::capture::photo::{open_photo, OrientationRule};
use facetrack::core::head_pose::PoseOptions;
use facetrack::output::csv_out::{ImageCsv, ImageFace};
use facetrack::output::draw::Canvas;
use facetrack::output::output_files::{check_outputs, OutputError, Pending};
use facetrack::tracking::detector::FaceDetector;
use facetrack::tracking::tracker::{detection_confidence, quality_confidence, still_faces};
use facetrack::{FaceBox, GrayImage, LandmarkModel, Point};

use crate::args::ImageArgs;

/// An output could not be written (a full disk, a closed pipe): unlike a photo that
/// cannot be read, it would fail for every photo after it, so the run stops there.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
struct OutputWriteFailed(anyhow::Error);

/// Returns (images done, images failed). Ctrl-C (`stop`) ends the run after the photo at
/// hand; the CSV then holds the photos done and, as a cut-short video's, replaces no file.
pub fn run(a: &ImageArgs, stop: &std::sync::atomic::AtomicBool) -> Result<(usize, usize)> {
    let given = crate::inputs::with_stdin(
        &a.inputs,
        "pipe a photo into it (facetrack image - < PHOTO.jpg)",
    )?;
    let inputs = crate::inputs::expand(
        &given,
        &facetrack::core::files::IMAGE_EXT,
        a.recursive,
        "the folder holds no images (.jpg, .png, .webp, .tif, .avif, ...)",
    )?;
    let files: Vec<PathBuf> = inputs.files.iter().map(|f| f.path.clone()).collect();
    // the options are checked before any output or folder is made
    let pose = a.pose.options()?;
    let rule = if a.keep_orientation {
        OrientationRule::Keep
    } else {
        OrientationRule::Apply
    };
    let mut model = LandmarkModel::from_file(&a.model.model_path()?, a.model.options())?;
    let mut photo = facetrack::tracking::detector::DetectorOptions::default();
    photo.min_face = a.min_face.max(20);
    let mut det = FaceDetector::new(photo)?;
    let n = model.contract().num_points();
    // every output named and checked against the inputs before anything is written; the
    // folders made for the annotated copies are removed again if that check fails
    let mut made = crate::inputs::MadeFolders::default();
    check_image_outputs(a, &inputs.files, &files, &mut made)?;
    made.keep();
    // what is at each output's name now decides what its end may replace: a file made
    // there while a long folder run goes on is kept
    let csv_out = a.csv.as_deref().map(Pending::begin);
    let pngs: Vec<Option<Pending>> = inputs
        .files
        .iter()
        .map(|input| {
            a.annotate
                .as_ref()
                .map(|d| Pending::begin(&input.output_in(d, "png")))
        })
        .collect();
    let out: Box<dyn std::io::Write> = match &csv_out {
        Some(p) => Box::new(std::io::BufWriter::new(
            p.create().map_err(|e| cannot_write(&p.out, e))?,
        )),
        None => Box::new(std::io::stdout()),
    };
    let mut csv = ImageCsv::with_columns(out, n, a.columns.columns(pose.is_on()))?;
    let (mut done, mut failed, mut faceless) = (0, 0, 0);
    let mut interrupted = false;
    let mut write_failed = None;
    for (input, png) in inputs.files.iter().zip(&pngs) {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        let f = &input.path;
        match one(
            f,
            a,
            rule,
            png.as_ref(),
            &mut model,
            &mut det,
            &mut csv,
            pose,
        ) {
            Ok(faces) => {
                done += 1;
                if faces == 0 {
                    faceless += 1;
                    eprintln!("{}: no face found", f.display());
                }
            }
            Err(e) if e.is::<OutputWriteFailed>() => {
                write_failed = Some(e);
                break;
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}", facetrack::errors::error_chain(e.as_ref()));
            }
        }
    }
    drop(csv);
    if let Some(e) = write_failed {
        // the CSV's rows so far stay under its partial name, and the file at its final
        // name, if any, as it was
        let kept = match &csv_out {
            Some(p) if done > 0 => format!(
                "; the rows of the {done} photos done before it are kept in {}",
                p.partial.display()
            ),
            Some(p) => {
                p.discard();
                String::new()
            }
            None => String::new(),
        };
        anyhow::bail!(
            "{} (after {done} of {} images; the run stopped there){kept}",
            facetrack::errors::error_chain(e.as_ref()),
            files.len()
        );
    }
    if let Some(p) = &csv_out {
        if done == 0 {
            // nothing was read: a header-only CSV must not replace what is there
            p.discard();
            let why = match interrupted {
                true => "interrupted before a photo was done",
                false => "no image was done: the errors are above",
            };
            eprintln!("{}: not written ({why})", p.out.display());
        } else if interrupted {
            match p.commit_new() {
                Ok(()) => {}
                Err(OutputError::Appeared { path, partial }) => eprintln!(
                    "{}: kept as it was, since only a complete run replaces it: the photos done are in {}",
                    path.display(),
                    partial.display()
                ),
                Err(e) => return Err(e.into()),
            }
        } else {
            p.commit()?;
        }
    }
    if interrupted {
        eprintln!(
            "interrupted after {} of {} images",
            done + failed,
            files.len()
        );
    }
    if files.len() > 1 || inputs.skipped > 0 {
        eprintln!(
            "{done} of {} images done ({faceless} without a face), {failed} failed, {}",
            files.len(),
            crate::inputs::skipped_phrase(inputs.skipped)
        );
    }
    Ok((done, failed))
}

/// Name every output of an `image` run and check them against the inputs and each
/// other ([`check_outputs`]), making the annotate folder and the subfolders a recursive
/// run mirrors (each one made is added to `made`).
fn check_image_outputs(
    a: &ImageArgs,
    inputs: &[crate::inputs::Input],
    files: &[PathBuf],
    made: &mut crate::inputs::MadeFolders,
) -> Result<()> {
    let mut make = |d: &Path| made.create(d);
    let mut outputs: Vec<PathBuf> = a.csv.iter().cloned().collect();
    let mut annotated: BTreeMap<PathBuf, &PathBuf> = BTreeMap::new();
    if let Some(d) = &a.annotate {
        make(d)?;
        for input in inputs {
            let out = input.output_in(d, "png");
            if let Some(prev) = annotated.insert(out.clone(), &input.path) {
                return Err(OutputError::Collision {
                    a: prev.clone(),
                    b: input.path.clone(),
                    out,
                }
                .into());
            }
            // the subfolders a recursive run mirrors
            if let Some(sub) = out.parent() {
                make(sub)?;
            }
            outputs.push(out);
        }
    }
    check_outputs(files, &outputs, a.overwrite)?;
    Ok(())
}

/// Find the faces of photo `f`, write their rows (or its no-face row) and its annotated
/// copy `annotate`; returns how many faces were found.
#[allow(clippy::too_many_arguments)]
fn one(
    f: &Path,
    a: &ImageArgs,
    rule: OrientationRule,
    annotate: Option<&Pending>,
    model: &mut LandmarkModel,
    det: &mut FaceDetector,
    csv: &mut ImageCsv<Box<dyn std::io::Write>>,
    pose: PoseOptions,
) -> Result<usize> {
    let photo = open_photo(f, rule)?;
    if photo.pages > 1 {
        eprintln!(
            "note: {}: a TIFF of {} pages: only the first is tracked",
            f.display(),
            photo.pages
        );
    }
    let img = photo.image;
    let gray = GrayImage::from_dynamic(&img);
    let max = a.max_faces.max(1);
    // a face sideways or upside down in the pixels (a photo without an orientation tag,
    // or --keep-orientation) is searched turned where no upright face is clear
    // (one more than asked for, to say when faces were left out)
    let (mut dets, mut preds) = still_faces(det, model, &gray, max.saturating_add(1))?;
    let name = f.display().to_string();
    if dets.len() > max {
        dets.truncate(max);
        preds.truncate(max);
        eprintln!(
            "note: {name}: more faces than --max-faces {max}: the {max} the detector scores \
             highest are written (raise --max-faces for the others)"
        );
    }
    if f.to_str().is_none() {
        // (a CSV is text: the bytes that are no UTF-8 cannot go in as they are)
        eprintln!(
            "note: {name}: the file name is not UTF-8; the CSV names it with U+FFFD \
             in place of the bytes that are not"
        );
    }
    for (k, (d, pred)) in dets.iter().zip(&preds).enumerate() {
        let pts = &pred.points;
        let p = pose.estimate(pts, gray.width(), gray.height());
        let conf = pred.point_confidence();
        // the detector's confidence, or the landmarks' own when they are clearer (as
        // Python's `landmarks()` reports it)
        let quality = pred.quality.map(quality_confidence).unwrap_or(0.0);
        let face = ImageFace {
            confidence: detection_confidence(d.score).max(quality),
            points: pts,
            pose: p.as_ref(),
            point_confidence: &conf,
        };
        csv.write_face(&name, k, &face)
            .map_err(|e| csv_failed(a, e))?;
    }
    let faces: Vec<Vec<Point>> = preds.into_iter().map(|p| p.points).collect();
    if faces.is_empty() {
        csv.write_no_face(&name).map_err(|e| csv_failed(a, e))?;
    }
    if let Some(out) = annotate {
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
        let (w, h) = rgb.dimensions();
        // (a file that cannot be made, a stray one at its partial name, is this photo's
        // error; one that cannot be written, a full disk, stops the run)
        let f = out.create().map_err(|e| cannot_write(&out.out, e))?;
        let written = facetrack::output::draw::write_png(f, w, h, rgb.as_raw());
        if let Err(e) = written {
            // half a picture is of no use: removed (the file at its name, if any, kept)
            out.discard();
            return Err(OutputWriteFailed(
                anyhow::Error::new(e).context(format!("writing {}", out.out.display())),
            )
            .into());
        }
        out.commit()?;
    }
    Ok(faces.len())
}

/// A CSV row that could not be written, as the error that stops the run.
fn csv_failed(a: &ImageArgs, e: std::io::Error) -> anyhow::Error {
    let name = match &a.csv {
        Some(p) => p.display().to_string(),
        None => "standard output".into(),
    };
    OutputWriteFailed(anyhow::Error::new(e).context(format!("writing {name}"))).into()
}

/// An output that cannot be made, named as the user gave it (not its partial file), with
/// what to do.
fn cannot_write(out: &std::path::Path, e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot write {}: {e}{}",
        out.display(),
        facetrack::output::sink::create_hint(&e)
    )
}
