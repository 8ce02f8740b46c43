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
    /// `eye_open_l, eye_open_r, blink, mouth_open, AU45_r` when the file has them.
    pub signals: Option<[f32; 5]>,
    /// `c_0..c_{N-1}` when the file has them (else empty).
    pub point_confidence: Vec<f32>,
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
    let text = std::fs::read_to_string(path).map_err(|source| CsvReadError::Io {
        path: p.clone(),
        source,
    })?;
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
    let pose_cols: Option<Vec<usize>> = POSE_COLUMNS.iter().map(|c| col(c)).collect();
    let signal_cols: Option<Vec<usize>> = SIGNAL_COLUMNS.iter().map(|c| col(c)).collect();
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
        let num = |k: usize| -> Result<f64, CsvReadError> {
            f.get(k)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or_else(|| bad(&format!("column {} is not a number", k + 1)))
        };
        let points = xs
            .iter()
            .zip(&ys)
            .map(|(&x, &y)| Ok(Point::new(num(x)? as f32, num(y)? as f32)))
            .collect::<Result<Vec<_>, CsvReadError>>()?;
        let pose = match &pose_cols {
            Some(cols) => {
                let mut v = [0f32; 6];
                for (o, &c) in v.iter_mut().zip(cols) {
                    *o = num(c)? as f32;
                }
                Some(v)
            }
            None => None,
        };
        let signals = match &signal_cols {
            Some(cols) => {
                let mut v = [0f32; 5];
                for (o, &c) in v.iter_mut().zip(cols) {
                    *o = num(c)? as f32;
                }
                Some(v)
            }
            None => None,
        };
        let point_confidence = conf_cols
            .iter()
            .map(|&c| Ok(num(c)? as f32))
            .collect::<Result<Vec<_>, CsvReadError>>()?;
        rows.push(VideoRow {
            frame: num(cf)? as u64,
            face_id: num(ci)? as i64,
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
