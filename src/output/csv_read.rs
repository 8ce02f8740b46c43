//! Reading a facetrack video CSV back (evaluation, tests, the Python `read_csv`).

use std::io;

use crate::core::geometry::Point;

// The optional columns' names live here, where they are looked up; `csv_out` writes them
// and re-exports them.

/// OpenFace's head-pose columns, written after the landmarks when pose is on.
pub const POSE_COLUMNS: [&str; 6] = [
    "pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz",
];

/// The eye and mouth signal columns ([`crate::core::signals`]), after the pose columns.
pub const SIGNAL_COLUMNS: [&str; 5] = ["eye_open_l", "eye_open_r", "blink", "mouth_open", "AU45_r"];

/// One parsed row of a facetrack video CSV (for evaluation and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct VideoRow {
    pub frame: u64,
    pub face_id: i64,
    pub timestamp: f64,
    pub confidence: f32,
    pub success: bool,
    pub points: Vec<Point>,
    /// `pose_Tx, pose_Ty, pose_Tz, pose_Rx, pose_Ry, pose_Rz` when the file has them.
    pub pose: Option<[f32; 6]>,
    /// `eye_open_l, eye_open_r, blink, mouth_open, AU45_r`: each one the file has (an
    /// OpenFace 2.x file has `AU45_r` without facetrack's eye and mouth columns).
    pub signals: [Option<f32>; 5],
    /// `c_0..c_{N-1}` when the file has them (else empty).
    pub point_confidence: Vec<f32>,
}

impl VideoRow {
    /// The five signals when the row has every one.
    pub fn all_signals(&self) -> Option<[f32; 5]> {
        let [a, b, c, d, e] = self.signals;
        Some([a?, b?, c?, d?, e?])
    }
}

/// A row's signal cells from all five or none (what the writers hold).
pub fn signal_cells(s: Option<[f32; 5]>) -> [Option<f32>; 5] {
    s.map_or([None; 5], |v| v.map(Some))
}

/// Why a CSV could not be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvReadError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
}

/// Read a video CSV written by [`crate::output::csv_out::VideoCsv`] (or any file with its
/// columns; OpenFace's `", "` separators too: names and values are trimmed).
pub fn read_video_csv(path: &std::path::Path) -> Result<Vec<VideoRow>, CsvReadError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == io::ErrorKind::InvalidData {
            // a video, a picture, a spreadsheet's binary file: no CSV
            return CsvReadError::Parse {
                path: p.clone(),
                line: 1,
                message: "not a CSV (not UTF-8 text); give the CSV `facetrack video --csv` wrote"
                    .into(),
            };
        }
        CsvReadError::Io {
            path: p.clone(),
            source,
        }
    })?;
    // (a spreadsheet's "CSV UTF-8" starts with a byte-order mark)
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim().is_empty() {
        return Err(CsvReadError::Parse {
            path: p,
            line: 1,
            message: "the file is empty".into(),
        });
    }
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim())
        .collect();
    let col = |n: &str| header.iter().position(|h| *h == n);
    let (Some(cf), Some(ci), Some(ct), Some(cc), Some(cs)) = (
        col("frame"),
        col("face_id"),
        col("timestamp"),
        col("confidence"),
        col("success"),
    ) else {
        return Err(CsvReadError::Parse {
            path: p,
            line: 1,
            message: "header lacks frame, face_id, timestamp, confidence or success".into(),
        });
    };
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    while let (Some(x), Some(y)) = (
        col(&format!("x_{}", xs.len())),
        col(&format!("y_{}", ys.len())),
    ) {
        xs.push(x);
        ys.push(y);
    }
    // a gap in the point columns (x_67 missing but y_67 there) is a damaged file, not a
    // model with fewer points
    let n = xs.len();
    if let Some(extra) = header.iter().find(|h| {
        ["x_", "y_"].iter().any(|p| {
            h.strip_prefix(p)
                .and_then(|k| k.parse::<usize>().ok())
                .is_some_and(|k| k >= n)
        })
    }) {
        return Err(CsvReadError::Parse {
            path: p,
            line: 1,
            message: format!(
                "the header has {extra} but not x_{n} and y_{n}: the point columns must run from x_0/y_0 without a gap"
            ),
        });
    }
    let pose_cols: Option<Vec<usize>> = POSE_COLUMNS.iter().map(|c| col(c)).collect();
    let signal_cols = SIGNAL_COLUMNS.map(col);
    let mut conf_cols = Vec::new();
    while let Some(c) = col(&format!("c_{}", conf_cols.len())) {
        conf_cols.push(c);
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let bad = |m: &str| CsvReadError::Parse {
            path: p.clone(),
            line: i + 2,
            message: m.to_string(),
        };
        if f.len() != header.len() {
            return Err(bad(&format!(
                "the row has {} columns where the header has {}",
                f.len(),
                header.len()
            )));
        }
        // numbers; a flag saved by pandas from a bool column reads True/False
        let num = |k: usize| -> Result<f64, CsvReadError> {
            let v = f[k].trim();
            let x = if v.eq_ignore_ascii_case("true") {
                Some(1.0)
            } else if v.eq_ignore_ascii_case("false") {
                Some(0.0)
            } else {
                v.parse::<f64>().ok()
            };
            x.ok_or_else(|| bad(&format!("column {} ({}) is not a number", k + 1, header[k])))
        };
        // a measurement (a point, the pose, a signal, a point's confidence) may be empty:
        // NaN, as pandas writes it (an analyst who blanks the no-face rows' zeros)
        let value = |k: usize| -> Result<f64, CsvReadError> {
            match f[k].trim().is_empty() {
                true => Ok(f64::NAN),
                false => num(k),
            }
        };
        // whole numbers in range: frame numbers from 0, face ids from -1
        let whole = |k: usize, min: f64| -> Result<f64, CsvReadError> {
            let x = num(k)?;
            if x.fract() != 0.0 || x < min || x > 9.0e15 {
                return Err(bad(&format!(
                    "column {} ({}) is {x}: a whole number from {min} up was expected",
                    k + 1,
                    header[k]
                )));
            }
            Ok(x)
        };
        let points = xs
            .iter()
            .zip(&ys)
            .map(|(&x, &y)| Ok(Point::new(value(x)? as f32, value(y)? as f32)))
            .collect::<Result<Vec<_>, CsvReadError>>()?;
        let pose = match &pose_cols {
            Some(cols) => {
                let mut v = [0f32; 6];
                for (o, &c) in v.iter_mut().zip(cols) {
                    *o = value(c)? as f32;
                }
                Some(v)
            }
            None => None,
        };
        let mut signals = [None; 5];
        for (o, c) in signals.iter_mut().zip(signal_cols) {
            if let Some(c) = c {
                *o = Some(value(c)? as f32);
            }
        }
        let point_confidence = conf_cols
            .iter()
            .map(|&c| Ok(value(c)? as f32))
            .collect::<Result<Vec<_>, CsvReadError>>()?;
        rows.push(VideoRow {
            frame: whole(cf, 0.0)? as u64,
            face_id: whole(ci, -1.0)? as i64,
            timestamp: num(ct)?,
            confidence: num(cc)? as f32,
            success: num(cs)? != 0.0,
            points,
            pose,
            signals,
            point_confidence,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(tag: &str, text: &str) -> Result<Vec<VideoRow>, CsvReadError> {
        let p = std::env::temp_dir().join(format!("ft-csv-read-{tag}-{}.csv", std::process::id()));
        std::fs::write(&p, text).unwrap();
        let r = read_video_csv(&p);
        let _ = std::fs::remove_file(&p);
        r
    }

    const HEADER: &str = "frame,face_id,timestamp,confidence,success,x_0,x_1,y_0,y_1\n";

    #[test]
    fn an_empty_measurement_reads_as_nan_but_an_empty_frame_is_refused() {
        // pandas writes NaN as an empty field
        let rows = read("nan", &format!("{HEADER}1,-1,0.0,0,0,,2,,4\n")).unwrap();
        assert!(rows[0].points[0].x.is_nan() && rows[0].points[0].y.is_nan());
        assert_eq!(rows[0].points[1], Point::new(2.0, 4.0));
        let e = read("noframe", &format!("{HEADER},0,0.0,0.9,1,1,2,3,4\n")).unwrap_err();
        assert!(
            e.to_string().contains("column 1 (frame) is not a number"),
            "{e}"
        );
    }

    #[test]
    fn each_signal_column_a_file_has_is_read_alone() {
        // OpenFace 2.x writes AU45_r without facetrack's eye and mouth columns
        let rows = read(
            "au45",
            "frame, face_id, timestamp, confidence, success, x_0, y_0, AU45_r\n1, 0, 0, 1, 1, 1, 2, 1.5\n2, 0, 0.04, 1, 1, 1, 2,\n",
        )
        .unwrap();
        assert_eq!(rows[0].signals, [None, None, None, None, Some(1.5)]);
        assert!(rows[1].signals[4].unwrap().is_nan());
        assert_eq!(rows[0].all_signals(), None);
        let all = read(
            "all5",
            "frame,face_id,timestamp,confidence,success,x_0,y_0,eye_open_l,eye_open_r,blink,mouth_open,AU45_r\n1,0,0,1,1,1,2,0.3,0.4,0,0.2,1\n",
        )
        .unwrap();
        assert_eq!(all[0].all_signals(), Some([0.3, 0.4, 0.0, 0.2, 1.0]));
    }

    #[test]
    fn flags_saved_by_pandas_read_back() {
        let rows = read(
            "bool",
            &format!("{HEADER}1,0,0.0,0.9,True,1,2,3,4\n2,0,0.04,0.1,false,1,2,3,4\n"),
        )
        .unwrap();
        assert!(rows[0].success && !rows[1].success);
    }

    #[test]
    fn a_byte_order_mark_is_read_past_and_an_empty_file_says_so() {
        let rows = read("bom", &format!("\u{feff}{HEADER}1,0,0.0,0.9,1,1,2,3,4\n")).unwrap();
        assert_eq!((rows.len(), rows[0].frame), (1, 1));
        for (tag, text) in [("empty", ""), ("blank", "\n\n")] {
            let e = read(tag, text).unwrap_err().to_string();
            assert!(e.ends_with(":1: the file is empty"), "{e}");
        }
        let p = std::env::temp_dir().join(format!("ft-csv-read-bin-{}.csv", std::process::id()));
        std::fs::write(&p, [0u8, 0xff, 0xfe, 0x80, 0x81]).unwrap();
        let e = read_video_csv(&p).unwrap_err().to_string();
        let _ = std::fs::remove_file(&p);
        assert!(
            e.ends_with(
                ":1: not a CSV (not UTF-8 text); give the CSV `facetrack video --csv` wrote"
            ),
            "{e}"
        );
    }

    #[test]
    fn damaged_rows_and_headers_are_errors_that_say_what_is_wrong() {
        let e = read("short", &format!("{HEADER}1,0,0.0,0.9,1,1,2,3\n")).unwrap_err();
        assert!(
            e.to_string().contains("8 columns where the header has 9"),
            "{e}"
        );
        for (frame, why) in [("-5", "frame"), ("1.5", "frame"), ("1e20", "frame")] {
            let e = read("frame", &format!("{HEADER}{frame},0,0.0,0.9,1,1,2,3,4\n")).unwrap_err();
            assert!(e.to_string().contains(why), "{frame}: {e}");
        }
        let e = read(
            "gap",
            "frame,face_id,timestamp,confidence,success,x_0,y_0,y_1\n1,0,0,1,1,1,2,3\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("y_1"), "{e}");
        // a face id of -1 (a frame without a face) is fine
        assert_eq!(
            read("none", &format!("{HEADER}3,-1,0.1,0,0,0,0,0,0\n")).unwrap()[0].face_id,
            -1
        );
    }
}
