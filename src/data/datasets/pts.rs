//! iBUG `.pts` files: `version: 1`, `n_points: N`, `{`, N lines `x y`, `}`; also the
//! header-less variant (just `x y` lines) some copies of 300-W use.

use std::path::Path;

use super::{
    identity_subject, parse_f32, sibling_image, walk, CoordBase, Dataset, DatasetError,
    LoadOptions, Sample, Skipped,
};
use crate::core::geometry::Point;
use crate::core::layout::IBUG68_POINTS;

/// Parse the text of a `.pts` file (`path` is used in messages).
pub fn parse(text: &str, path: &Path, base: CoordBase) -> Result<Vec<Point>, DatasetError> {
    let mut declared: Option<usize> = None;
    let mut in_block = false;
    let mut saw_block = false;
    let mut closed = false;
    let mut pts = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if closed {
            return Err(DatasetError::parse(
                path,
                line_no,
                "text after the closing '}'",
            ));
        }
        if let Some(v) = line.strip_prefix("version:") {
            parse_f32(path, line_no, v)?;
            continue;
        }
        if let Some(v) = line.strip_prefix("n_points:") {
            let n = v.trim().parse::<usize>().map_err(|_| {
                DatasetError::parse(path, line_no, format!("bad point count '{}'", v.trim()))
            })?;
            declared = Some(n);
            continue;
        }
        if line == "{" {
            if saw_block {
                return Err(DatasetError::parse(path, line_no, "second '{'"));
            }
            in_block = true;
            saw_block = true;
            continue;
        }
        if line == "}" {
            if !in_block {
                return Err(DatasetError::parse(path, line_no, "'}' without '{'"));
            }
            in_block = false;
            closed = true;
            continue;
        }
        if saw_block && !in_block {
            return Err(DatasetError::parse(
                path,
                line_no,
                "point outside the '{ }' block",
            ));
        }
        let mut it = line.split_whitespace();
        let (Some(x), Some(y), None) = (it.next(), it.next(), it.next()) else {
            return Err(DatasetError::parse(
                path,
                line_no,
                format!("expected 'x y', found '{line}'"),
            ));
        };
        let o = base.offset();
        pts.push(Point::new(
            parse_f32(path, line_no, x)? - o,
            parse_f32(path, line_no, y)? - o,
        ));
    }
    if in_block {
        return Err(DatasetError::parse(
            path,
            text.lines().count(),
            "file ends inside the '{ }' block (truncated?)",
        ));
    }
    if let Some(n) = declared {
        if n != pts.len() {
            return Err(DatasetError::PointCount {
                path: path.to_path_buf(),
                expected: n,
                got: pts.len(),
            });
        }
    }
    if pts.is_empty() {
        return Err(DatasetError::parse(path, 1, "no points"));
    }
    Ok(pts)
}

/// Read one `.pts` file.
pub fn read(path: &Path, base: CoordBase) -> Result<Vec<Point>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
    parse(&text, path, base)
}

/// Subject of a 300-W face: HELEN and AFW name faces `<photo>_<k>`, so faces of one
/// photograph share it; other names (LFPW `image_0001`) are one subject each.
fn subject_of(stem: &str) -> String {
    let s = identity_subject(stem);
    if s != stem && s.bytes().all(|b| b.is_ascii_digit()) {
        s
    } else {
        stem.to_string()
    }
}

/// Every `.pts` file below `dir` (or the one file) with the image beside it.
pub fn load_folder(dir: &Path, opts: LoadOptions) -> Result<Dataset, DatasetError> {
    let files = if dir.is_dir() {
        walk(dir).map_err(|e| DatasetError::io(dir, e))?
    } else {
        vec![dir.to_path_buf()]
    };
    let expect = opts.expect_points.unwrap_or(IBUG68_POINTS);
    let mut ds = Dataset {
        source: dir.to_path_buf(),
        ..Default::default()
    };
    for f in files.iter().filter(|p| super::has_ext(p, "pts")) {
        let skip = |ds: &mut Dataset, reason: String| {
            ds.skipped.push(Skipped {
                path: f.clone(),
                reason,
            })
        };
        let points = match read(f, opts.base) {
            Ok(p) => p,
            Err(e) => {
                skip(&mut ds, e.to_string());
                continue;
            }
        };
        if points.len() != expect {
            skip(
                &mut ds,
                format!("expected {expect} points, found {}", points.len()),
            );
            continue;
        }
        let Some(image) = sibling_image(f) else {
            skip(&mut ds, "no image with the same name beside it".into());
            continue;
        };
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        ds.samples.push(Sample {
            image,
            points,
            face_box: None,
            subject: subject_of(stem),
        });
    }
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("t.pts")
    }

    #[test]
    fn parses_header_and_converts_to_zero_based() {
        let t = "version: 1\nn_points:  2\n{\n1 1\n10.5 20.25\n}\n";
        let v = parse(t, p(), CoordBase::OneBased).unwrap();
        assert_eq!(v, vec![Point::new(0.0, 0.0), Point::new(9.5, 19.25)]);
    }

    #[test]
    fn parses_headerless_files() {
        let v = parse("3 4\n5 6\n", p(), CoordBase::ZeroBased).unwrap();
        assert_eq!(v, vec![Point::new(3.0, 4.0), Point::new(5.0, 6.0)]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(
            "version: 1\nn_points: 2\n{\n1 1\nx 2\n}\n",
            p(),
            CoordBase::OneBased,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("t.pts:5:"), "{e}");
        let e = parse(
            "version: 1\nn_points: 3\n{\n1 1\n2 2\n}\n",
            p(),
            CoordBase::OneBased,
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected 3 points, found 2"), "{e}");
        let e = parse(
            "version: 1\nn_points: 2\n{\n1 1\n2 2\n",
            p(),
            CoordBase::OneBased,
        )
        .unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(parse("1 2 3\n", p(), CoordBase::OneBased).is_err());
        assert!(parse("", p(), CoordBase::OneBased).is_err());
        assert!(parse("nan 1\n", p(), CoordBase::OneBased).is_err());
    }

    #[test]
    fn subjects_group_faces_of_one_photo() {
        assert_eq!(subject_of("100032540_1"), "100032540");
        assert_eq!(subject_of("image_0001"), "image_0001");
    }

    #[test]
    fn parser_never_panics_on_mangled_text() {
        let good = "version: 1\nn_points:  3\n{\n1.5 2.5\n3 4\n5 6\n}\n";
        let bytes = good.as_bytes();
        // every truncation and every single-byte substitution with a few troublemakers
        for cut in 0..bytes.len() {
            let _ = parse(
                &String::from_utf8_lossy(&bytes[..cut]),
                p(),
                CoordBase::OneBased,
            );
        }
        for i in 0..bytes.len() {
            for c in [b'{', b'}', b'\n', b' ', b'-', b'e', b':', 0xff] {
                let mut b = bytes.to_vec();
                b[i] = c;
                let _ = parse(&String::from_utf8_lossy(&b), p(), CoordBase::OneBased);
            }
        }
    }
}
