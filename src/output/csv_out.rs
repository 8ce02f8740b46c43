//! Landmark CSV output in OpenFace's layout. Video: `frame, face_id, timestamp,
//! confidence, success, x_0..x_{N-1}, y_0..y_{N-1}`, then `pose_*` when pose is on, then
//! the eye and mouth signals `eye_open_l, eye_open_r, blink, mouth_open, AU45_r` (68-point
//! models, [`crate::core::signals`]), then `c_0..c_{N-1}` (per-point confidence) when
//! asked; `frame` counts from 1 as in OpenFace,
//! `timestamp` is the frame's presentation time in seconds from the file's start, coordinates are pixels of the original
//! frame with 0-based pixel centres. A frame without any face gets one row with
//! `face_id = -1`, `success = 0` and zero coordinates, so every frame is accounted for.
//! Still images: `file, face, confidence, x_0.., y_0..` and the same optional columns; an
//! image without any face gets one row with `face = -1`, `confidence = 0` and zeros, as a
//! video frame does.
//!
//! [`CsvFormat::OpenFace`] writes the same columns in OpenFace's order (the `pose_*`
//! columns before the landmarks) with OpenFace 2.x's `", "` between fields (its header
//! reads `frame, face_id, timestamp, ...`), for scripts that index `row[' AU45_r']` or
//! columns by position; stripping the spaces gives the plain names.
//! Rows are flushed as they are written: a crash leaves a valid file of everything
//! processed so far.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::core::geometry::Point;
use crate::core::head_pose::HeadPose;
use crate::core::signals::{face_signals, FaceBlinks, FaceSignals};
use crate::tracking::tracker::TrackedFace;

pub use crate::output::csv_read::{
    read_video_csv, signal_cells, CsvReadError, VideoRow, POSE_COLUMNS, SIGNAL_COLUMNS,
};

/// Points a face needs for the signal columns (the iBUG 68 layout).
pub const SIGNAL_POINTS: usize = 68;

/// How fields are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvFormat {
    /// Plain CSV: `,` between fields.
    #[default]
    Plain,
    /// OpenFace 2.x's spelling: `", "` between fields.
    OpenFace,
}

impl CsvFormat {
    pub fn separator(self) -> &'static str {
        match self {
            CsvFormat::Plain => ",",
            CsvFormat::OpenFace => ", ",
        }
    }
}

/// Which optional columns a CSV has, and its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsvColumns {
    /// `pose_*` after the landmarks.
    pub pose: bool,
    /// The eye and mouth signals (written only for 68-point faces).
    pub signals: bool,
    /// `c_0..c_{N-1}`: each point's confidence.
    pub point_confidence: bool,
    pub format: CsvFormat,
}

impl CsvColumns {
    /// The default columns, with the `pose_*` columns when `pose`.
    pub fn with_pose(pose: bool) -> Self {
        CsvColumns {
            pose,
            ..CsvColumns::default()
        }
    }
}

impl Default for CsvColumns {
    /// Signals on, pose and point confidence off, plain CSV.
    fn default() -> Self {
        CsvColumns {
            pose: false,
            signals: true,
            point_confidence: false,
            format: CsvFormat::Plain,
        }
    }
}

/// The columns of one face after its leading fields.
struct FaceFields<'a> {
    points: &'a [Point],
    pose: Option<&'a HeadPose>,
    /// `None` for a row without a face: zeros.
    signals: Option<FaceSignals>,
    scores: &'a [f32],
}

impl FaceFields<'static> {
    /// The fields of a row without a face (zeros).
    const NONE: FaceFields<'static> = FaceFields {
        points: &[],
        pose: None,
        signals: None,
        scores: &[],
    };
}

/// A CSV layout: the columns and the separator; writes headers and rows.
#[derive(Debug, Clone, Copy)]
struct Layout {
    points: usize,
    cols: CsvColumns,
}

impl Layout {
    fn sep(&self) -> &'static str {
        self.cols.format.separator()
    }

    fn signals(&self) -> bool {
        self.cols.signals && self.points == SIGNAL_POINTS
    }

    /// The pose columns come before the landmarks, where OpenFace's FeatureExtraction
    /// writes them (`--csv-format openface`, for scripts that index columns by
    /// position), and after them in the plain layout.
    fn pose_first(&self) -> bool {
        self.cols.pose && self.cols.format == CsvFormat::OpenFace
    }

    /// The header line after the leading columns `lead`.
    fn header(&self, lead: &[&str]) -> String {
        let mut names: Vec<String> = lead.iter().map(|s| s.to_string()).collect();
        if self.pose_first() {
            names.extend(POSE_COLUMNS.iter().map(|s| s.to_string()));
        }
        names.extend((0..self.points).map(|i| format!("x_{i}")));
        names.extend((0..self.points).map(|i| format!("y_{i}")));
        if self.cols.pose && !self.pose_first() {
            names.extend(POSE_COLUMNS.iter().map(|s| s.to_string()));
        }
        if self.signals() {
            names.extend(SIGNAL_COLUMNS.iter().map(|s| s.to_string()));
        }
        if self.cols.point_confidence {
            names.extend((0..self.points).map(|i| format!("c_{i}")));
        }
        let mut h = names.join(self.sep());
        h.push('\n');
        h
    }

    /// Append one face's columns (every field preceded by the separator).
    fn push_face(&self, s: &mut String, f: &FaceFields) {
        let sep = self.sep();
        let push_pose = |s: &mut String| match f.pose {
            Some(p) => {
                let _ = write!(
                    s,
                    "{sep}{:.1}{sep}{:.1}{sep}{:.1}{sep}{:.4}{sep}{:.4}{sep}{:.4}",
                    p.tx, p.ty, p.tz, p.rx, p.ry, p.rz
                );
            }
            None => (0..6).for_each(|_| {
                let _ = write!(s, "{sep}0");
            }),
        };
        if self.pose_first() {
            push_pose(s);
        }
        for i in 0..self.points {
            let _ = write!(s, "{sep}{:.3}", f.points.get(i).map(|p| p.x).unwrap_or(0.0));
        }
        for i in 0..self.points {
            let _ = write!(s, "{sep}{:.3}", f.points.get(i).map(|p| p.y).unwrap_or(0.0));
        }
        if self.cols.pose && !self.pose_first() {
            push_pose(s);
        }
        if self.signals() {
            let g = f.signals.unwrap_or_default();
            let _ = write!(
                s,
                "{sep}{:.3}{sep}{:.3}{sep}{}{sep}{:.3}{sep}{:.2}",
                g.eye_open_l,
                g.eye_open_r,
                u8::from(g.blink),
                g.mouth_open,
                g.au45_r
            );
        }
        if self.cols.point_confidence {
            for i in 0..self.points {
                let _ = write!(s, "{sep}{:.3}", f.scores.get(i).copied().unwrap_or(0.0));
            }
        }
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
    for i in 0..points {
        let _ = write!(s, ",{:.3}", pts.get(i).map(|p| p.x).unwrap_or(0.0));
    }
    for i in 0..points {
        let _ = write!(s, ",{:.3}", pts.get(i).map(|p| p.y).unwrap_or(0.0));
    }
}

/// Streams rows of a video's landmarks.
pub struct VideoCsv<W: Write> {
    out: W,
    layout: Layout,
    /// Each face's blink state (hysteresis over frames), by track id.
    blinks: FaceBlinks,
}

impl<W: Write> VideoCsv<W> {
    /// Write the header (landmarks and signals).
    pub fn new(out: W, points: usize) -> io::Result<Self> {
        Self::with_columns(out, points, CsvColumns::default())
    }

    /// Write the header, with the `pose_*` columns after the landmarks when `pose`.
    pub fn with_pose(out: W, points: usize, pose: bool) -> io::Result<Self> {
        Self::with_columns(out, points, CsvColumns::with_pose(pose))
    }

    /// Write the header of the columns `cols` names.
    pub fn with_columns(mut out: W, points: usize, cols: CsvColumns) -> io::Result<Self> {
        let layout = Layout { points, cols };
        let lead = ["frame", "face_id", "timestamp", "confidence", "success"];
        out.write_all(layout.header(&lead).as_bytes())?;
        out.flush()?;
        Ok(VideoCsv {
            out,
            layout,
            blinks: FaceBlinks::default(),
        })
    }

    /// The rows of one frame (`index` 0-based; written 1-based), then a flush.
    pub fn write_frame(
        &mut self,
        index: u64,
        timestamp: f64,
        faces: &[TrackedFace],
    ) -> io::Result<()> {
        let sep = self.layout.sep();
        let mut s = String::new();
        if faces.is_empty() {
            let _ = write!(s, "{}{sep}-1{sep}{timestamp:.4}{sep}0.000{sep}0", index + 1);
            self.layout.push_face(&mut s, &FaceFields::NONE);
            s.push('\n');
        }
        let still: Vec<_> = faces.iter().map(|f| (f.id, f.signals())).collect();
        let signals = self.blinks.frame(&still);
        for (f, signals) in faces.iter().zip(signals) {
            let _ = write!(
                s,
                "{}{sep}{}{sep}{timestamp:.4}{sep}{:.3}{sep}{}",
                index + 1,
                f.id,
                f.confidence,
                u8::from(f.success)
            );
            let fields = FaceFields {
                points: &f.points,
                pose: f.pose.as_ref(),
                signals,
                scores: &f.point_confidence,
            };
            self.layout.push_face(&mut s, &fields);
            s.push('\n');
        }
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl VideoCsv<Vec<u8>> {
    /// The text written since the last call (the header first), leaving the writer's
    /// state (each face's blink) as it is: a stream that hands rows on as they come.
    pub fn take_written(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

/// One face of a still image, as [`ImageCsv::write_face`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct ImageFace<'a> {
    pub confidence: f32,
    pub points: &'a [Point],
    pub pose: Option<&'a HeadPose>,
    /// Per-point confidence (empty when the model has none).
    pub point_confidence: &'a [f32],
}

/// Streams rows of still-image landmarks.
pub struct ImageCsv<W: Write> {
    out: W,
    layout: Layout,
    /// Whether the header is out: it goes with the first row, so that a run in which no
    /// photo could be read prints nothing to standard output.
    started: bool,
}

impl<W: Write> ImageCsv<W> {
    pub fn new(out: W, points: usize) -> io::Result<Self> {
        Self::with_columns(out, points, CsvColumns::default())
    }

    /// With the `pose_*` columns after the landmarks when `pose`.
    pub fn with_pose(out: W, points: usize, pose: bool) -> io::Result<Self> {
        Self::with_columns(out, points, CsvColumns::with_pose(pose))
    }

    /// The columns `cols` names; the header is written with the first row.
    pub fn with_columns(out: W, points: usize, cols: CsvColumns) -> io::Result<Self> {
        let layout = Layout { points, cols };
        Ok(ImageCsv {
            out,
            layout,
            started: false,
        })
    }

    /// Write the header if no row has gone out yet.
    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            let header = self.layout.header(&["file", "face", "confidence"]);
            self.out.write_all(header.as_bytes())?;
            self.started = true;
        }
        Ok(())
    }

    /// One face of one image (`face` counts from 0 in each image). Its blink flag is the
    /// still-image rule ([`crate::core::signals::both_closed`]).
    pub fn write_face(&mut self, file: &str, face: usize, f: &ImageFace) -> io::Result<()> {
        let sep = self.layout.sep();
        let mut s = format!("{}{sep}{face}{sep}{:.3}", csv_escape(file), f.confidence);
        let fields = FaceFields {
            points: f.points,
            pose: f.pose,
            signals: face_signals(f.points),
            scores: f.point_confidence,
        };
        self.layout.push_face(&mut s, &fields);
        s.push('\n');
        self.start()?;
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }

    /// The row of an image in which no face was found: `face = -1`, `confidence = 0`,
    /// zeros, as the video CSV marks a frame without a face.
    pub fn write_no_face(&mut self, file: &str) -> io::Result<()> {
        let sep = self.layout.sep();
        let mut s = format!("{}{sep}-1{sep}0.000", csv_escape(file));
        self.layout.push_face(&mut s, &FaceFields::NONE);
        s.push('\n');
        self.start()?;
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
            point_confidence: vec![],
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
            point_confidence: vec![],
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
        let face = ImageFace {
            confidence: 0.9,
            points: &[Point::new(1.0, 2.0), Point::new(3.0, 4.0)],
            pose: None,
            point_confidence: &[],
        };
        w.write_face("a.jpg", 0, &face).unwrap();
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

    /// A 68-point face whose eyes have openness about `open` (the mean shape with its
    /// eyelids moved to the eye aspect ratio that maps to it).
    fn face_with_eyes(id: u32, open: f32) -> TrackedFace {
        use crate::core::signals::{EAR_CLOSED, EAR_OPEN};
        let mut p: Vec<Point> = crate::core::crop_rule::MEAN_SHAPE_68
            .iter()
            .map(|q| Point::new(100.0 + 100.0 * q[0], 100.0 + 100.0 * q[1]))
            .collect();
        let ear = EAR_CLOSED + open * (EAR_OPEN - EAR_CLOSED);
        for first in [36, 42] {
            let (a, b) = (p[first], p[first + 3]);
            let (w, mid) = (a.dist(b), 0.5 * (a.y + b.y));
            for (up, down) in [(1, 5), (2, 4)] {
                p[first + up].y = mid - 0.5 * ear * w;
                p[first + down] = Point::new(p[first + up].x, mid + 0.5 * ear * w);
            }
        }
        TrackedFace {
            id,
            points: p.clone(),
            raw_points: p,
            face_box: FaceBox::default(),
            confidence: 1.0,
            success: true,
            pose: None,
            point_confidence: vec![0.5; 68],
            redetected: false,
        }
    }

    #[test]
    fn blink_holds_over_frames_per_face_and_signals_read_back() {
        use crate::core::signals::{BLINK_OFF, BLINK_ON};
        let cols = CsvColumns {
            point_confidence: true,
            ..CsvColumns::default()
        };
        let mut w = VideoCsv::with_columns(Vec::new(), 68, cols).unwrap();
        let mid = 0.5 * (BLINK_ON + BLINK_OFF);
        // face 1 closes, then half opens (still a blink); face 2 appears half open (none)
        w.write_frame(0, 0.0, &[face_with_eyes(1, 1.0)]).unwrap();
        w.write_frame(1, 0.04, &[face_with_eyes(1, 0.0)]).unwrap();
        w.write_frame(2, 0.08, &[face_with_eyes(1, mid), face_with_eyes(2, mid)])
            .unwrap();
        w.write_frame(3, 0.12, &[face_with_eyes(1, 1.0)]).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let p = std::env::temp_dir().join(format!("ft-csv-blink-{}.csv", std::process::id()));
        std::fs::write(&p, &text).unwrap();
        let rows = read_video_csv(&p).unwrap();
        let _ = std::fs::remove_file(&p);
        let blinks: Vec<(i64, f32)> = rows
            .iter()
            .map(|r| (r.face_id, r.all_signals().unwrap()[2]))
            .collect();
        assert_eq!(blinks, [(1, 0.0), (1, 1.0), (1, 1.0), (2, 0.0), (1, 0.0)]);
        let s = rows[0].all_signals().unwrap();
        assert!(
            (s[0] - 1.0).abs() < 0.01 && (s[1] - 1.0).abs() < 0.01,
            "{s:?}"
        );
        assert_eq!(
            rows[1].all_signals().unwrap()[4],
            5.0,
            "AU45_r of closed eyes"
        );
        assert_eq!(rows[0].point_confidence, vec![0.5; 68]);
    }

    #[test]
    fn openface_format_separates_with_comma_space_and_trims_to_plain() {
        let of = CsvColumns {
            pose: true,
            format: CsvFormat::OpenFace,
            ..CsvColumns::default()
        };
        let mut a = VideoCsv::with_columns(Vec::new(), 68, of).unwrap();
        let mut b = VideoCsv::with_pose(Vec::new(), 68, true).unwrap();
        for w in [&mut a, &mut b] {
            w.write_frame(0, 0.0, &[face_with_eyes(0, 1.0)]).unwrap();
            w.write_frame(1, 0.04, &[]).unwrap();
        }
        let (a, b) = (
            String::from_utf8(a.into_inner()).unwrap(),
            String::from_utf8(b.into_inner()).unwrap(),
        );
        // OpenFace's order: the pose before the landmarks
        assert!(a.starts_with(
            "frame, face_id, timestamp, confidence, success, pose_Tx, pose_Ty, pose_Tz, \
             pose_Rx, pose_Ry, pose_Rz, x_0, "
        ));
        assert!(a
            .lines()
            .next()
            .unwrap()
            .ends_with(", y_67, eye_open_l, eye_open_r, blink, mouth_open, AU45_r"));
        // the plain layout: the same values, the pose after the landmarks
        let plain = |t: &str| -> Vec<std::collections::BTreeMap<String, String>> {
            let mut lines = t.lines();
            let names: Vec<&str> = lines.next().unwrap().split(',').collect();
            lines
                .map(|l| {
                    let n = names.iter().map(|n| n.trim().to_string());
                    n.zip(l.split(',').map(|v| v.trim().to_string())).collect()
                })
                .collect()
        };
        assert_eq!(plain(&a), plain(&b));
        assert!(b.lines().next().unwrap().contains(",y_67,pose_Tx,"));
    }
}
