//! Landmark CSV output in OpenFace's layout. Video: `frame, face_id, timestamp,
//! confidence, success, x_0..x_{N-1}, y_0..y_{N-1}`; `frame` counts from 1 as in OpenFace,
//! `timestamp` is the stream's own time in seconds, coordinates are pixels of the original
//! frame with 0-based pixel centres. A frame without any face gets one row with
//! `face_id = -1`, `success = 0` and zero coordinates, so every frame is accounted for.
//! Still images: `file, face, confidence, x_0.., y_0..`; an image without any face gets
//! one row with `face = -1`, `confidence = 0` and zero coordinates, as a video frame does.
//! Rows are flushed as they are written: a crash leaves a valid file of everything
//! processed so far.

use std::io::{self, Write};

use crate::core::geometry::Point;
use crate::core::head_pose::HeadPose;
use crate::tracking::tracker::TrackedFace;

/// OpenFace's head-pose columns, written after the landmarks when pose is on.
pub const POSE_COLUMNS: [&str; 6] = [
    "pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz",
];

/// Streams rows of a video's landmarks.
pub struct VideoCsv<W: Write> {
    out: W,
    points: usize,
    pose: bool,
}

fn header_pose(s: &mut String) {
    for c in POSE_COLUMNS {
        s.push(',');
        s.push_str(c);
    }
}

/// The pose columns of one row (zeros where there is none).
fn push_pose(s: &mut String, pose: Option<&HeadPose>) {
    use std::fmt::Write as _;
    match pose {
        Some(p) => {
            let _ = write!(
                s,
                ",{:.1},{:.1},{:.1},{:.4},{:.4},{:.4}",
                p.tx, p.ty, p.tz, p.rx, p.ry, p.rz
            );
        }
        None => s.push_str(",0,0,0,0,0,0"),
    }
}

/// Append the landmark column names `,x_0..,x_{N-1},y_0..,y_{N-1}` (OpenFace's order).
pub fn header_points(s: &mut String, points: usize) {
    for i in 0..points {
        s.push_str(&format!(",x_{i}"));
    }
    for i in 0..points {
        s.push_str(&format!(",y_{i}"));
    }
}

/// Append `points` landmarks in [`header_points`]' order (0 where a point is missing).
pub fn push_points(s: &mut String, pts: &[Point], points: usize) {
    use std::fmt::Write as _;
    for i in 0..points {
        let _ = write!(s, ",{:.3}", pts.get(i).map(|p| p.x).unwrap_or(0.0));
    }
    for i in 0..points {
        let _ = write!(s, ",{:.3}", pts.get(i).map(|p| p.y).unwrap_or(0.0));
    }
}

/// The header line: the leading columns, the landmark columns, the pose columns if asked.
fn write_header<W: Write>(out: &mut W, lead: &str, points: usize, pose: bool) -> io::Result<()> {
    let mut h = String::from(lead);
    header_points(&mut h, points);
    if pose {
        header_pose(&mut h);
    }
    h.push('\n');
    out.write_all(h.as_bytes())?;
    out.flush()
}

impl<W: Write> VideoCsv<W> {
    /// Write the header (landmarks only).
    pub fn new(out: W, points: usize) -> io::Result<Self> {
        Self::with_pose(out, points, false)
    }

    /// Write the header, with the `pose_*` columns after the landmarks when `pose`.
    pub fn with_pose(mut out: W, points: usize, pose: bool) -> io::Result<Self> {
        write_header(
            &mut out,
            "frame,face_id,timestamp,confidence,success",
            points,
            pose,
        )?;
        Ok(VideoCsv { out, points, pose })
    }

    /// The rows of one frame (`index` 0-based; written 1-based), then a flush.
    pub fn write_frame(
        &mut self,
        index: u64,
        timestamp: f64,
        faces: &[TrackedFace],
    ) -> io::Result<()> {
        let mut s = String::new();
        if faces.is_empty() {
            s.push_str(&format!("{},-1,{timestamp:.4},0.000,0", index + 1));
            push_points(&mut s, &[], self.points);
            if self.pose {
                push_pose(&mut s, None);
            }
            s.push('\n');
        }
        for f in faces {
            s.push_str(&format!(
                "{},{},{timestamp:.4},{:.3},{}",
                index + 1,
                f.id,
                f.confidence,
                u8::from(f.success)
            ));
            push_points(&mut s, &f.points, self.points);
            if self.pose {
                push_pose(&mut s, f.pose.as_ref());
            }
            s.push('\n');
        }
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Streams rows of still-image landmarks.
pub struct ImageCsv<W: Write> {
    out: W,
    points: usize,
    pose: bool,
}

impl<W: Write> ImageCsv<W> {
    pub fn new(out: W, points: usize) -> io::Result<Self> {
        Self::with_pose(out, points, false)
    }

    /// With the `pose_*` columns after the landmarks when `pose`.
    pub fn with_pose(mut out: W, points: usize, pose: bool) -> io::Result<Self> {
        write_header(&mut out, "file,face,confidence", points, pose)?;
        Ok(ImageCsv { out, points, pose })
    }

    /// One face of one image (`face` counts from 0 in each image).
    pub fn write_face(
        &mut self,
        file: &str,
        face: usize,
        confidence: f32,
        pts: &[Point],
        pose: Option<&HeadPose>,
    ) -> io::Result<()> {
        let mut s = format!("{},{face},{confidence:.3}", csv_escape(file));
        push_points(&mut s, pts, self.points);
        if self.pose {
            push_pose(&mut s, pose);
        }
        s.push('\n');
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }

    /// The row of an image in which no face was found: `face = -1`, `confidence = 0`,
    /// zeros, as the video CSV marks a frame without a face.
    pub fn write_no_face(&mut self, file: &str) -> io::Result<()> {
        let mut s = format!("{},-1,0.000", csv_escape(file));
        push_points(&mut s, &[], self.points);
        if self.pose {
            push_pose(&mut s, None);
        }
        s.push('\n');
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Quote a field when it holds a comma, quote or newline.
pub fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

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
}

/// Why a CSV could not be read back.
#[derive(Debug, thiserror::Error)]
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

/// Read a video CSV written by [`VideoCsv`] (or any file with its columns).
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
        rows.push(VideoRow {
            frame: num(cf)? as u64,
            face_id: num(ci)? as i64,
            timestamp: num(ct)?,
            confidence: num(cc)? as f32,
            success: num(cs)? != 0.0,
            points,
            pose,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::FaceBox;

    #[test]
    fn rows_round_trip_and_empty_frames_are_marked() {
        let mut w = VideoCsv::new(Vec::new(), 2).unwrap();
        let face = TrackedFace {
            id: 3,
            points: vec![Point::new(1.5, 2.5), Point::new(3.0, 4.0)],
            raw_points: vec![],
            face_box: FaceBox::default(),
            confidence: 0.9,
            success: true,
            pose: None,
            redetected: false,
        };
        w.write_frame(0, 0.0, &[face]).unwrap();
        w.write_frame(1, 0.04, &[]).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "frame,face_id,timestamp,confidence,success,x_0,x_1,y_0,y_1"
        );
        assert_eq!(lines[1], "1,3,0.0000,0.900,1,1.500,3.000,2.500,4.000");
        assert_eq!(lines[2], "2,-1,0.0400,0.000,0,0.000,0.000,0.000,0.000");
        let p = std::env::temp_dir().join(format!("ft-csv-rt-{}.csv", std::process::id()));
        std::fs::write(&p, &text).unwrap();
        let rows = read_video_csv(&p).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].points[1], Point::new(3.0, 4.0));
        assert!(!rows[1].success);
    }

    #[test]
    fn pose_columns_follow_the_landmarks_and_read_back() {
        let mut w = VideoCsv::with_pose(Vec::new(), 1, true).unwrap();
        let pose = HeadPose {
            tx: 1.0,
            ty: -2.0,
            tz: 600.0,
            rx: 0.1,
            ry: -0.2,
            rz: 0.3,
            ..Default::default()
        };
        let face = TrackedFace {
            id: 0,
            points: vec![Point::new(1.0, 2.0)],
            raw_points: vec![],
            face_box: FaceBox::default(),
            confidence: 1.0,
            success: true,
            pose: Some(pose),
            redetected: false,
        };
        w.write_frame(0, 0.0, &[face]).unwrap();
        w.write_frame(1, 0.04, &[]).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(",x_0,y_0,pose_Tx,pose_Ty,pose_Tz,pose_Rx,pose_Ry,pose_Rz"));
        let p = std::env::temp_dir().join(format!("ft-csv-pose-{}.csv", std::process::id()));
        std::fs::write(&p, &text).unwrap();
        let rows = read_video_csv(&p).unwrap();
        assert_eq!(rows[0].pose, Some([1.0, -2.0, 600.0, 0.1, -0.2, 0.3]));
        assert_eq!(rows[1].pose, Some([0.0; 6]));
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn an_image_without_a_face_gets_a_marked_row() {
        let mut w = ImageCsv::with_pose(Vec::new(), 2, true).unwrap();
        w.write_face(
            "a.jpg",
            0,
            0.9,
            &[Point::new(1.0, 2.0), Point::new(3.0, 4.0)],
            None,
        )
        .unwrap();
        w.write_no_face("empty, room.jpg").unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "file,face,confidence,x_0,x_1,y_0,y_1,pose_Tx,pose_Ty,pose_Tz,pose_Rx,pose_Ry,pose_Rz"
        );
        assert_eq!(
            lines[2],
            "\"empty, room.jpg\",-1,0.000,0.000,0.000,0.000,0.000,0,0,0,0,0,0"
        );
    }

    #[test]
    fn file_names_with_commas_are_quoted() {
        assert_eq!(csv_escape("a,b.jpg"), "\"a,b.jpg\"");
        assert_eq!(csv_escape("plain.jpg"), "plain.jpg");
    }
}
