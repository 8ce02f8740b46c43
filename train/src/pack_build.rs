//! Cutting a dataset into a data pack ([`crate::pack`]): each face's part of its image with
//! room for augmentation, reduced and JPEG-encoded, and the checks of what that keeps.

use std::path::Path;

use anyhow::{bail, Context, Result};
use facetrack::data::datasets::{self, CoordBase, Format, LoadOptions};
use facetrack::{GrayImage, Point};

use crate::augment::{crop_for, Augment, Rng};
use crate::data::Face;
use crate::pack::{cut_rect, encode_jpeg, pack_contract, Entry, Header, PackOptions};

/// Cut one face: the part of its image and its points, reduced so the crop is at most
/// `crop_px` across. Returns the face as the trainer would hold it.
pub fn cut_face(face: &Face, o: &PackOptions) -> Result<Face> {
    let img = &face.image;
    let ((x0, y0, x1, y1), side) = cut_rect(&face.points, (img.width(), img.height()), o.margin);
    if x1 <= x0 || y1 <= y0 {
        bail!("{}: the face lies outside its image", face.name);
    }
    let (rw, rh) = (x1 - x0, y1 - y0);
    let mut part = Vec::with_capacity((rw * rh) as usize);
    for y in y0..y1 {
        let row = (y * img.width()) as usize;
        part.extend_from_slice(&img.data()[row + x0 as usize..row + x1 as usize]);
    }
    let k = (o.crop_px as f32 / side.max(1.0)).min(1.0);
    let (nw, nh) = if k < 1.0 {
        (
            ((rw as f32 * k).round() as u32).max(1),
            ((rh as f32 * k).round() as u32).max(1),
        )
    } else {
        (rw, rh)
    };
    let pixels = if (nw, nh) == (rw, rh) {
        part
    } else {
        let buf = image::GrayImage::from_raw(rw, rh, part).context("cut buffer")?;
        image::imageops::resize(&buf, nw, nh, image::imageops::FilterType::Triangle).into_raw()
    };
    let (kx, ky) = (nw as f32 / rw as f32, nh as f32 / rh as f32);
    let points = face
        .points
        .iter()
        .map(|p| {
            Point::new(
                (p.x - x0 as f32 + 0.5) * kx - 0.5,
                (p.y - y0 as f32 + 0.5) * ky - 0.5,
            )
        })
        .collect();
    Ok(Face {
        image: std::sync::Arc::new(GrayImage::from_raw(nw, nh, pixels)?),
        points,
        name: face.name.clone(),
        to_original: face.to_original * 2.0 / (kx + ky),
    })
}

/// Share of augmented crops (`draws` per face, the default augmentation on the default
/// crop) whose pixels all lie inside the face's cut or outside its image, where the pack
/// gives what the image gave (the mean grey of the padding).
pub fn coverage(faces: &[Face], margin: f32, draws: usize) -> f64 {
    let c = pack_contract();
    let aug = Augment::standard();
    let (mut inside, mut total) = (0usize, 0usize);
    for (i, f) in faces.iter().enumerate() {
        let frame = (f.image.width(), f.image.height());
        let ((x0, y0, x1, y1), _) = cut_rect(&f.points, frame, margin);
        for d in 0..draws {
            let mut rng = Rng::for_sample(7, d as u64, i as u64);
            let t = crop_for(f, &c, &aug, &mut rng);
            let (sin, cos) = t.angle.sin_cos();
            let ex = (cos * t.half_w).abs() + (sin * t.half_h).abs() + 1.0;
            let ey = (sin * t.half_w).abs() + (cos * t.half_h).abs() + 1.0;
            let ok_lo = |v: f32, lo: u32| v >= lo as f32 || lo == 0;
            let ok_hi = |v: f32, hi: u32, edge: u32| v <= hi as f32 - 1.0 || hi == edge;
            total += 1;
            if ok_lo(t.center.x - ex, x0)
                && ok_lo(t.center.y - ey, y0)
                && ok_hi(t.center.x + ex, x1, frame.0)
                && ok_hi(t.center.y + ey, y1, frame.1)
            {
                inside += 1;
            }
        }
    }
    inside as f64 / total.max(1) as f64
}

/// What `build` made.
pub struct Built {
    pub faces: usize,
    pub test_left_out: usize,
    pub skipped: usize,
    pub bytes: u64,
    /// The faces as loaded (before cutting), for checks.
    pub originals: Vec<(String, Face)>,
}

/// Cut every face of one dataset (the test split left out) into a pack at `out`.
pub fn build(
    source: &Path,
    base: CoordBase,
    o: &PackOptions,
    max_faces: Option<usize>,
    threads: usize,
    out: &Path,
) -> Result<Built> {
    if !(1..=100).contains(&o.quality) {
        bail!("JPEG quality {}: 1 to 100", o.quality);
    }
    if !(o.margin.is_finite() && (0.5..=3.0).contains(&o.margin)) {
        bail!("margin {}: 0.5 to 3 crop sides", o.margin);
    }
    if o.crop_px < 32 {
        bail!("crop size {} px: at least 32", o.crop_px);
    }
    let format = datasets::detect(source)?;
    let imm = format == Format::ImmFolder;
    let ds = datasets::load(
        source,
        LoadOptions {
            base,
            expect_points: None,
        },
    )
    .map_err(|e| e.in_dataset(source))?;
    let mut skipped = ds.skipped.len();
    let mut test_left_out = 0;
    let mut todo = Vec::new();
    for s in ds.samples.into_iter() {
        if !imm && datasets::is_test_subject(&s.subject) {
            test_left_out += 1;
            continue;
        }
        if max_faces.is_some_and(|m| todo.len() >= m) {
            break;
        }
        todo.push(s);
    }
    type Cut = Result<(Face, Face, Vec<u8>)>;
    let results: Vec<Cut> = crate::parallel::map_in_order(&todo, threads, "packing", |s| -> Cut {
        let (img, points, to_original) = crate::data::decode(&s.image, &s.points)?;
        let name = s
            .image
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let face = Face {
            image: std::sync::Arc::new(img),
            points,
            name,
            to_original,
        };
        let cut = cut_face(&face, o)?;
        let jpeg = encode_jpeg(&cut.image, o.quality)?;
        Ok((face, cut, jpeg))
    })?;
    let mut header = Header {
        version: 1,
        source: source.display().to_string(),
        imm,
        options: *o,
        faces: Vec::new(),
    };
    let mut blobs = Vec::new();
    let mut originals = Vec::new();
    for (s, r) in todo.iter().zip(results) {
        match r {
            Ok((face, cut, jpeg)) => {
                header.faces.push(Entry {
                    subject: s.subject.clone(),
                    name: cut.name.clone(),
                    width: cut.image.width(),
                    height: cut.image.height(),
                    to_original: cut.to_original,
                    points: cut.points.iter().flat_map(|p| [p.x, p.y]).collect(),
                    bytes: jpeg.len() as u64,
                });
                blobs.push(jpeg);
                originals.push((s.subject.clone(), face));
            }
            Err(e) => {
                eprintln!("skipped {}: {e:#}", s.image.display());
                skipped += 1;
            }
        }
    }
    if header.faces.is_empty() {
        bail!("no face of {} could be packed", source.display());
    }
    let bytes = crate::pack::write(out, &header, &blobs)?;
    Ok(Built {
        faces: header.faces.len(),
        test_left_out,
        skipped,
        bytes,
        originals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use facetrack::core::crop_rule::MEAN_SHAPE_68;

    /// A face of the mean shape `scale` pixels across, at (`cx`, `cy`), in an image where
    /// only the pixels under the points are bright.
    fn face(w: u32, h: u32, cx: f32, cy: f32, scale: f32) -> Face {
        let points: Vec<Point> = MEAN_SHAPE_68
            .iter()
            .map(|p| Point::new((cx + p[0] * scale).round(), (cy + p[1] * scale).round()))
            .collect();
        let mut img = GrayImage::new(w, h);
        for p in &points {
            let i = (p.y as u32 * w + p.x as u32) as usize;
            img.data_mut()[i] = 255;
        }
        Face {
            image: std::sync::Arc::new(img),
            points,
            name: "synthetic".into(),
            to_original: 1.0,
        }
    }

    #[test]
    fn a_cut_keeps_each_point_on_its_pixel() {
        // small face: kept at its resolution, only cut
        let f = face(640, 480, 300.0, 220.0, 60.0);
        let o = PackOptions::default();
        let c = cut_face(&f, &o).unwrap();
        assert!(c.image.width() < 640 && c.image.height() < 480);
        assert_eq!(c.to_original, 1.0);
        for p in &c.points {
            let v = c.image.get(p.x.round() as i64, p.y.round() as i64).unwrap();
            assert_eq!(v, 255, "point {p:?} is not on its bright pixel");
        }
    }

    #[test]
    fn a_large_face_is_reduced_with_its_points() {
        let f = face(1000, 1000, 500.0, 480.0, 300.0);
        let o = PackOptions::default();
        let c = cut_face(&f, &o).unwrap();
        let side = 2.0 * o.margin * o.crop_px as f32;
        assert!(
            (c.image.width() as f32 - side).abs() <= 3.0,
            "{} px across, expected about {side}",
            c.image.width()
        );
        assert!(c.to_original > 1.5, "{}", c.to_original);
        // the eye distance shrinks by the same factor as the image
        let d = |f: &Face| {
            let (a, b) = (f.points[36], f.points[45]);
            ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
        };
        let k = d(&f) / d(&c);
        assert!(
            (k / c.to_original - 1.0).abs() < 0.01,
            "{k} vs {}",
            c.to_original
        );
    }
}
