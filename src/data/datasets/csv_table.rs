//! CSV landmark tables: a header row naming an image column (`image`, or the first
//! column) and the point columns `x0, y0, ..., x{N-1}, y{N-1}` (also `x_0`/`y_0`), with
//! optional `box_left, box_top, box_width, box_height` (1-based left/top like the points).

use std::path::{Path, PathBuf};

use super::{
    identity_subject, parse_f32, CoordBase, Dataset, DatasetError, LoadOptions, Sample, Skipped,
};
use crate::core::geometry::{FaceBox, Point};

/// Column indices found in the header.
struct Columns {
    image: usize,
    xs: Vec<usize>,
    ys: Vec<usize>,
    bbox: Option<[usize; 4]>,
}

fn find_columns(header: &csv::StringRecord, path: &Path) -> Result<Columns, DatasetError> {
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |n: &str| names.iter().position(|h| h == n);
    let image = match col("image").or(col("file")).or(col("path")) {
        Some(i) => i,
        // facetrack's own video CSV: its first column is a frame number, not a photo
        None if col("frame").is_some() && col("face_id").is_some() => {
            return Err(DatasetError::parse(
                path,
                1,
                "a video CSV (frame, face_id, ...), not a dataset: a dataset CSV names a \
                 photo on each row (image, x0, y0, ...); to score tracked video, use \
                 eval --clips",
            ))
        }
        None => 0,
    };
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in 0.. {
        let (x, y) = (
            col(&format!("x{i}")).or(col(&format!("x_{i}"))),
            col(&format!("y{i}")).or(col(&format!("y_{i}"))),
        );
        match (x, y) {
            (Some(x), Some(y)) => {
                xs.push(x);
                ys.push(y);
            }
            (None, None) => break,
            _ => {
                return Err(DatasetError::parse(
                    path,
                    1,
                    format!("header has x{i} or y{i} but not both"),
                ))
            }
        }
    }
    if xs.is_empty() {
        return Err(DatasetError::parse(
            path,
            1,
            "header names no point columns (x0, y0, ...)",
        ));
    }
    let bbox = match (
        col("box_left"),
        col("box_top"),
        col("box_width"),
        col("box_height"),
    ) {
        (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
        _ => None,
    };
    Ok(Columns {
        image,
        xs,
        ys,
        bbox,
    })
}

fn parse_row(
    rec: &csv::StringRecord,
    cols: &Columns,
    path: &Path,
    line: usize,
    base: CoordBase,
) -> Result<(String, Vec<Point>, Option<FaceBox>), DatasetError> {
    let field = |i: usize| {
        rec.get(i).ok_or_else(|| {
            DatasetError::parse(
                path,
                line,
                format!("row has {} fields, column {} is missing", rec.len(), i + 1),
            )
        })
    };
    let o = base.offset();
    let mut pts = Vec::with_capacity(cols.xs.len());
    for (&xi, &yi) in cols.xs.iter().zip(&cols.ys) {
        pts.push(Point::new(
            parse_f32(path, line, field(xi)?)? - o,
            parse_f32(path, line, field(yi)?)? - o,
        ));
    }
    let face_box = match cols.bbox {
        Some([l, t, w, h]) => Some(FaceBox::new(
            parse_f32(path, line, field(l)?)? - o - 0.5,
            parse_f32(path, line, field(t)?)? - o - 0.5,
            parse_f32(path, line, field(w)?)?,
            parse_f32(path, line, field(h)?)?,
        )),
        None => None,
    };
    Ok((field(cols.image)?.trim().to_string(), pts, face_box))
}

/// Line breaks in `b`: `\n`, `\r\n`, or a lone `\r` (old Mac files) each count once.
fn line_breaks(b: &[u8]) -> usize {
    b.iter()
        .enumerate()
        .filter(|&(i, &c)| c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')))
        .count()
}

/// Read a CSV table; image paths are relative to the CSV's folder.
pub fn load(path: &Path, opts: LoadOptions) -> Result<Dataset, DatasetError> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    // a record's line in the file: its position is where the reader stood after the last
    // record, before any blank lines it then skipped; counted on from the last record's
    let mut counted = (0usize, 1usize); // (byte offset, its line)
    let mut line_at = |offset: u64| {
        let from = (offset as usize).min(bytes.len());
        let start = from
            + bytes[from..]
                .iter()
                .take_while(|b| matches!(b, b'\n' | b'\r'))
                .count();
        if start < counted.0 {
            counted = (0, 1);
        }
        counted = (start, counted.1 + line_breaks(&bytes[counted.0..start]));
        counted.1
    };
    let header = rdr
        .headers()
        .map_err(|e| DatasetError::parse(path, 1, e.to_string()))?
        .clone();
    let cols = find_columns(&header, path)?;
    if let Some(n) = opts.expect_points {
        if n != cols.xs.len() {
            return Err(DatasetError::PointCount {
                path: path.to_path_buf(),
                expected: n,
                got: cols.xs.len(),
            });
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut ds = Dataset {
        source: path.to_path_buf(),
        ..Default::default()
    };
    for (i, rec) in rdr.records().enumerate() {
        // the record's own line (blank lines are skipped, so counting records is not it)
        let line = match &rec {
            Ok(r) => r.position().map(|p| line_at(p.byte())),
            Err(e) => e.position().map(|p| line_at(p.byte())),
        }
        .unwrap_or(i + 2);
        let here = PathBuf::from(format!("{}:{line}", path.display()));
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                ds.skipped.push(Skipped {
                    path: here,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        match parse_row(&rec, &cols, path, line, opts.base) {
            Ok((name, points, face_box)) => {
                let image = dir.join(&name);
                if !image.is_file() {
                    ds.skipped.push(Skipped {
                        path: here,
                        reason: format!("the image {} does not exist", image.display()),
                    });
                    continue;
                }
                let stem = Path::new(&name)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or(&name);
                ds.samples.push(Sample {
                    image,
                    points,
                    face_box,
                    subject: identity_subject(stem),
                });
            }
            Err(e) => ds.skipped.push(Skipped {
                path: here,
                reason: e.to_string(),
            }),
        }
    }
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, text: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ft-csv-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a.jpg"), b"x").unwrap();
        let p = d.join("t.csv");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_points_and_boxes() {
        let p = tmp(
            "ok",
            "image,box_left,box_top,box_width,box_height,x0,y0,x1,y1\na.jpg,11,21,5,6,1,2,3,4\n",
        );
        let ds = load(&p, LoadOptions::default()).unwrap();
        assert_eq!(
            ds.samples[0].points,
            vec![Point::new(0.0, 1.0), Point::new(2.0, 3.0)]
        );
        assert_eq!(
            ds.samples[0].face_box,
            Some(FaceBox::new(9.5, 19.5, 5.0, 6.0))
        );
    }

    #[test]
    fn a_video_csv_is_named_as_one() {
        let p = tmp(
            "video",
            "frame,face_id,timestamp,confidence,success,x_0,x_1,y_0,y_1\n1,0,0,0.9,1,1,2,3,4\n",
        );
        let e = load(&p, LoadOptions::default()).unwrap_err().to_string();
        assert!(
            e.contains("a video CSV (frame, face_id, ...), not a dataset"),
            "{e}"
        );
    }

    #[test]
    fn bad_rows_are_skipped_with_their_line() {
        let p = tmp(
            "bad",
            "image,x0,y0\na.jpg,1,zz\na.jpg,1\nmissing.jpg,1,1\na.jpg,1,1\n",
        );
        let ds = load(&p, LoadOptions::default()).unwrap();
        assert_eq!(ds.samples.len(), 1);
        assert_eq!(ds.skipped.len(), 3);
        assert!(
            ds.skipped[0].path.to_string_lossy().ends_with(":2"),
            "{:?}",
            ds.skipped
        );
        assert!(ds.skipped[1].reason.contains("missing"), "{:?}", ds.skipped);
        // after a blank line the line is still the file's own, and a coordinate beyond
        // any picture is no label (a point at 1e20 made its face's error infinite)
        let p = tmp(
            "blank",
            "image,x0,y0\na.jpg,1,1\n\na.jpg,1,zz\na.jpg,1e20,1\n",
        );
        let ds = load(&p, LoadOptions::default()).unwrap();
        let lines: Vec<String> = ds
            .skipped
            .iter()
            .map(|k| format!("{} {}", k.path.display(), k.reason))
            .collect();
        assert!(
            lines[0].contains(":4 ") && lines[0].contains("'zz'"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains(":5 ") && lines[1].contains("beyond any picture"),
            "{lines:?}"
        );
        // the same lines with Windows and old Mac line ends
        for end in ["\r\n", "\r"] {
            let text = "image,x0,y0\na.jpg,1,1\n\na.jpg,1,zz\na.jpg,1e20,1\n".replace('\n', end);
            let ds = load(
                &tmp(&format!("ends{}", end.len()), &text),
                LoadOptions::default(),
            )
            .unwrap();
            let at: Vec<String> = ds
                .skipped
                .iter()
                .map(|k| k.path.display().to_string())
                .collect();
            assert!(
                at[0].ends_with(":4") && at[1].ends_with(":5"),
                "{end:?}: {at:?}"
            );
        }
    }

    #[test]
    fn header_without_points_is_an_error() {
        let p = tmp("nohdr", "image,a,b\na.jpg,1,2\n");
        assert!(load(&p, LoadOptions::default()).is_err());
        let p = tmp("count", "image,x0,y0\na.jpg,1,2\n");
        let e = load(
            &p,
            LoadOptions {
                expect_points: Some(68),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected 68"), "{e}");
    }
}
