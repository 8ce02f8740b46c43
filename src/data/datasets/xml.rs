//! dlib/imglab XML (the layout of iBUG 300-W's "large" training files):
//! `<dataset><images><image file=...><box top left width height><part name x y/>...`.
//! Each box with parts is one face; boxes marked `ignore='1'` or without parts are skipped.

use std::path::{Path, PathBuf};

use super::{identity_subject, Dataset, DatasetError, LoadOptions, Sample, Skipped};
use crate::core::geometry::{FaceBox, Point};
use crate::core::layout::IBUG68_POINTS;

/// Largest XML file read (the 300-W "large" set is about 20 MB).
const MAX_XML_BYTES: u64 = 512 * 1024 * 1024;

/// Parse the XML text; `dir` resolves relative image paths.
pub fn parse(
    text: &str,
    path: &Path,
    dir: &Path,
    opts: LoadOptions,
) -> Result<Dataset, DatasetError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        DatasetError::parse(
            path,
            e.pos().row as usize,
            format!("not well-formed XML: {e}"),
        )
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "dataset" {
        return Err(DatasetError::parse(
            path,
            doc.text_pos_at(root.range().start).row as usize,
            format!(
                "root element is <{}>, expected <dataset>",
                root.tag_name().name()
            ),
        ));
    }
    let expect = opts.expect_points.unwrap_or(IBUG68_POINTS);
    let o = opts.base.offset();
    let line_of = |n: &roxmltree::Node| doc.text_pos_at(n.range().start).row as usize;
    let mut ds = Dataset {
        source: path.to_path_buf(),
        ..Default::default()
    };
    let images = root
        .children()
        .filter(|n| n.has_tag_name("images"))
        .flat_map(|n| n.children().filter(|c| c.has_tag_name("image")));
    for img in images {
        let line = line_of(&img);
        let here = |msg: String| Skipped {
            path: PathBuf::from(format!("{}:{line}", path.display())),
            reason: msg,
        };
        let Some(file) = img.attribute("file") else {
            ds.skipped
                .push(here("<image> without a 'file' attribute".into()));
            continue;
        };
        let image = dir.join(file);
        if !image.is_file() {
            ds.skipped.push(here(format!(
                "the image {} does not exist",
                image.display()
            )));
            continue;
        }
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(file);
        for b in img.children().filter(|c| c.has_tag_name("box")) {
            let bline = line_of(&b);
            let bhere = |msg: String| Skipped {
                path: PathBuf::from(format!("{}:{bline}", path.display())),
                reason: msg,
            };
            if b.attribute("ignore").is_some_and(|v| v.trim() == "1") {
                continue;
            }
            match parse_box(&b, o, expect) {
                Ok((face_box, points)) => ds.samples.push(Sample {
                    image: image.clone(),
                    points,
                    face_box: Some(face_box),
                    subject: identity_subject(stem),
                }),
                Err(msg) => ds.skipped.push(bhere(msg)),
            }
        }
    }
    Ok(ds)
}

/// One `<box>`: its rectangle and its parts ordered by their numeric names.
fn parse_box(
    b: &roxmltree::Node,
    offset: f32,
    expect: usize,
) -> Result<(FaceBox, Vec<Point>), String> {
    let num = |n: &roxmltree::Node, k: &str| -> Result<f32, String> {
        let v = n
            .attribute(k)
            .ok_or_else(|| format!("<{}> without '{k}'", n.tag_name().name()))?;
        v.trim()
            .parse::<f32>()
            .ok()
            .filter(|x| x.is_finite() && x.abs() <= super::MAX_COORDINATE)
            .ok_or_else(|| format!("'{k}' is '{v}', not a number within a picture"))
    };
    let left = num(b, "left")?;
    let top = num(b, "top")?;
    let width = num(b, "width")?;
    let height = num(b, "height")?;
    // left/top name the first pixel inside the box
    let face_box = FaceBox::new(left - offset - 0.5, top - offset - 0.5, width, height);
    let mut parts: Vec<(usize, Point)> = Vec::new();
    for p in b.children().filter(|c| c.has_tag_name("part")) {
        let name = p.attribute("name").unwrap_or("");
        let idx = name
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("part name '{name}' is not a number"))?;
        parts.push((
            idx,
            Point::new(num(&p, "x")? - offset, num(&p, "y")? - offset),
        ));
    }
    if parts.len() != expect {
        return Err(format!("expected {expect} parts, found {}", parts.len()));
    }
    parts.sort_by_key(|(i, _)| *i);
    if parts.iter().enumerate().any(|(k, (i, _))| k != *i) {
        return Err(format!("part names are not 0..{}", expect - 1));
    }
    Ok((face_box, parts.into_iter().map(|(_, p)| p).collect()))
}

/// Read an XML dataset file.
pub fn load(path: &Path, opts: LoadOptions) -> Result<Dataset, DatasetError> {
    let meta = std::fs::metadata(path).map_err(|e| DatasetError::io(path, e))?;
    if meta.len() > MAX_XML_BYTES {
        return Err(DatasetError::parse(
            path,
            1,
            format!("file of {} bytes is too large", meta.len()),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, path, dir, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(parts: usize) -> String {
        let mut s = String::from(
            "<dataset><images><image file='a.jpg'><box top='11' left='21' width='50' height='60'>",
        );
        for i in (0..parts).rev() {
            s += &format!("<part name='{i:02}' x='{}' y='{}'/>", 1 + i, 2 + i);
        }
        s += "</box></image></images></dataset>";
        s
    }

    fn with_image() -> tempdir::Dir {
        let d = tempdir::Dir::new("xml");
        std::fs::write(d.0.join("a.jpg"), b"x").unwrap();
        d
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new(tag: &str) -> Self {
                let p = std::env::temp_dir().join(format!(
                    "ft-{tag}-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn parses_parts_in_name_order_and_one_based_boxes() {
        let d = with_image();
        let opts = LoadOptions {
            expect_points: Some(3),
            ..Default::default()
        };
        let ds = parse(&doc(3), Path::new("t.xml"), &d.0, opts).unwrap();
        assert_eq!(ds.samples.len(), 1, "{:?}", ds.skipped);
        let s = &ds.samples[0];
        assert_eq!(
            s.points,
            vec![
                Point::new(0.0, 1.0),
                Point::new(1.0, 2.0),
                Point::new(2.0, 3.0)
            ]
        );
        assert_eq!(s.face_box, Some(FaceBox::new(19.5, 9.5, 50.0, 60.0)));
    }

    #[test]
    fn wrong_layouts_are_reported() {
        let d = with_image();
        let opts = LoadOptions {
            expect_points: Some(3),
            ..Default::default()
        };
        let ds = parse(&doc(2), Path::new("t.xml"), &d.0, opts).unwrap();
        assert!(ds.samples.is_empty());
        assert!(
            ds.skipped[0].reason.contains("expected 3 parts"),
            "{:?}",
            ds.skipped
        );
        let e = parse("<foo/>", Path::new("t.xml"), &d.0, opts).unwrap_err();
        assert!(e.to_string().contains("expected <dataset>"), "{e}");
        let e = parse("<dataset><images>", Path::new("t.xml"), &d.0, opts).unwrap_err();
        assert!(e.to_string().contains("not well-formed"), "{e}");
        let bad = doc(3).replace("x='2'", "x='two'");
        let ds = parse(&bad, Path::new("t.xml"), &d.0, opts).unwrap();
        assert!(
            ds.skipped[0].reason.contains("not a number"),
            "{:?}",
            ds.skipped
        );
        let missing = doc(3).replace("a.jpg", "b.jpg");
        let ds = parse(&missing, Path::new("t.xml"), &d.0, opts).unwrap();
        assert!(ds.skipped[0].reason.contains("does not exist"));
    }
}
