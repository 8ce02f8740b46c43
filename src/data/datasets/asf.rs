//! IMM face database `.asf` files (AAM-API shape format): a point count, then one line a
//! point `path type x_rel y_rel index from to` (some files carry three more columns),
//! then the host image's name. Coordinates are fractions of the image width and height
//! measured from the image edge, so a library point is `x_rel * W - 0.5`.

use std::path::Path;

use super::{parse_f32, walk, Dataset, DatasetError, LoadOptions, Sample, Skipped};
use crate::core::geometry::Point;
use crate::core::layout::IMM58_POINTS;

/// Columns every point line has (more may follow).
const MIN_COLUMNS: usize = 7;

/// A parsed `.asf` file: relative points and the host image name, if given.
#[derive(Debug, Clone, PartialEq)]
pub struct AsfShape {
    /// (x, y) as fractions of the image size, in point-index order.
    pub relative: Vec<(f32, f32)>,
    pub image_name: Option<String>,
}

impl AsfShape {
    /// Points in image pixels for an image of the given size.
    pub fn to_pixels(&self, width: u32, height: u32) -> Vec<Point> {
        self.relative
            .iter()
            .map(|&(x, y)| Point::new(x * width as f32 - 0.5, y * height as f32 - 0.5))
            .collect()
    }
}

/// Parse the text of an `.asf` file.
pub fn parse(text: &str, path: &Path) -> Result<AsfShape, DatasetError> {
    let mut declared: Option<usize> = None;
    let mut rel: Vec<Option<(f32, f32)>> = Vec::new();
    let mut image_name = None;
    let mut count = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if declared.is_none() {
            let n = line.parse::<usize>().map_err(|_| {
                DatasetError::parse(
                    path,
                    line_no,
                    format!("expected the point count, found '{line}'"),
                )
            })?;
            if n == 0 || n > 10_000 {
                return Err(DatasetError::parse(
                    path,
                    line_no,
                    format!("implausible point count {n}"),
                ));
            }
            declared = Some(n);
            rel = vec![None; n];
            continue;
        }
        if cols.len() >= MIN_COLUMNS && count < rel.len() {
            let x = parse_f32(path, line_no, cols[2])?;
            let y = parse_f32(path, line_no, cols[3])?;
            let idx = cols[4].parse::<usize>().map_err(|_| {
                DatasetError::parse(path, line_no, format!("bad point index '{}'", cols[4]))
            })?;
            let slot = rel.get_mut(idx).ok_or_else(|| {
                DatasetError::parse(path, line_no, format!("point index {idx} out of range"))
            })?;
            if slot.is_some() {
                return Err(DatasetError::parse(
                    path,
                    line_no,
                    format!("point {idx} given twice"),
                ));
            }
            *slot = Some((x, y));
            count += 1;
        } else if cols.len() == 1 && count == rel.len() {
            image_name = Some(cols[0].to_string());
        } else {
            return Err(DatasetError::parse(
                path,
                line_no,
                format!("expected a point line of at least {MIN_COLUMNS} columns, found '{line}'"),
            ));
        }
    }
    let Some(n) = declared else {
        return Err(DatasetError::parse(path, 1, "no point count (empty file?)"));
    };
    if count != n {
        return Err(DatasetError::PointCount {
            path: path.to_path_buf(),
            expected: n,
            got: count,
        });
    }
    Ok(AsfShape {
        relative: rel.into_iter().flatten().collect(),
        image_name,
    })
}

/// Every `.asf` below `dir`, with its host image (the name it gives, else the same stem).
/// The subject is the person number before the `-` (`01-1m` is person 01).
pub fn load_folder(dir: &Path, opts: LoadOptions) -> Result<Dataset, DatasetError> {
    let expect = opts.expect_points.unwrap_or(IMM58_POINTS);
    let files = walk(dir).map_err(|e| DatasetError::io(dir, e))?;
    let mut ds = Dataset {
        source: dir.to_path_buf(),
        ..Default::default()
    };
    for f in files.iter().filter(|p| super::has_ext(p, "asf")) {
        let mut skip = |reason: String| {
            ds.skipped.push(Skipped {
                path: f.clone(),
                reason,
            })
        };
        let shape = match std::fs::read_to_string(f)
            .map_err(|e| DatasetError::io(f, e))
            .and_then(|t| parse(&t, f))
        {
            Ok(s) => s,
            Err(e) => {
                skip(e.to_string());
                continue;
            }
        };
        if shape.relative.len() != expect {
            skip(format!(
                "expected {expect} points, found {}",
                shape.relative.len()
            ));
            continue;
        }
        let image = shape
            .image_name
            .as_ref()
            .map(|n| f.with_file_name(n))
            .filter(|p| p.is_file())
            .or_else(|| super::sibling_image(f));
        let Some(image) = image else {
            skip("its image does not exist".into());
            continue;
        };
        let (w, h) = match ::image::image_dimensions(&image) {
            Ok(d) => d,
            Err(e) => {
                skip(format!("cannot read the size of {}: {e}", image.display()));
                continue;
            }
        };
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let subject = stem.split('-').next().unwrap_or(stem).to_string();
        ds.samples.push(Sample {
            image,
            points: shape.to_pixels(w, h),
            face_box: None,
            subject,
        });
    }
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# header\n3\n# comment\n0 4 0.5 0.25 0 0 1\n0 4 0.0 1.0 1 0 2\n\
                          0 4 1.0 0.0 2 1 2 0.00 0.00 0.00\n01-1m.jpg\n";

    #[test]
    fn parses_points_and_image_name() {
        let s = parse(SAMPLE, Path::new("a.asf")).unwrap();
        assert_eq!(s.relative, vec![(0.5, 0.25), (0.0, 1.0), (1.0, 0.0)]);
        assert_eq!(s.image_name.as_deref(), Some("01-1m.jpg"));
        let px = s.to_pixels(640, 480);
        assert_eq!(px[0], Point::new(319.5, 119.5));
        assert_eq!(px[1], Point::new(-0.5, 479.5));
    }

    #[test]
    fn bad_files_are_errors_with_lines() {
        let e = parse("3\n0 4 0.5 0.25 0 0 1\n", Path::new("a.asf")).unwrap_err();
        assert!(e.to_string().contains("expected 3 points, found 1"), "{e}");
        let e = parse("2\n0 4 zz 0.25 0 0 1\n", Path::new("a.asf")).unwrap_err();
        assert!(e.to_string().starts_with("a.asf:2:"), "{e}");
        assert!(parse("", Path::new("a.asf")).is_err());
        assert!(parse("2\n0 4 0.5 0.5 7 0 1\n", Path::new("a.asf")).is_err());
    }

    #[test]
    fn never_panics_on_truncations() {
        for cut in 0..SAMPLE.len() {
            let _ = parse(&SAMPLE[..cut], Path::new("a.asf"));
        }
    }
}
