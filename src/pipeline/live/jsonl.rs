//! `live --jsonl`: one JSON object per CSV row (one per face per frame; a frame without
//! a face gives the CSV's `face_id = -1` row), with the CSV's field names and values,
//! flushed frame by frame so that a reader sees each frame as it is shown. The objects
//! are made from the rows [`VideoCsv`] writes, so the two outputs cannot drift apart.
//! A file is written under its `.partial` name and renamed at the end, like the CSV;
//! standard output (`-`) is written directly.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::capture::source::Frame;
use crate::output::csv_out::VideoCsv;
use crate::output::output_files::Pending;
use crate::output::sink::{settle, Finish, Sink, SinkError, StreamInfo};
use crate::pipeline::live::config::JsonlTarget;
use crate::tracking::tracker::TrackedFace;

/// The JSON-lines stream of live mode.
pub struct JsonlSink {
    target: JsonlTarget,
    out: Option<Box<dyn Write + Send>>,
    /// The CSV writer the objects come from, kept from frame to frame (its blink flag
    /// holds over frames), and its header's names.
    csv: Option<(VideoCsv<Vec<u8>>, Vec<String>)>,
    /// The output file, from when its writing began.
    pending: Option<Pending>,
}

impl JsonlSink {
    pub fn new(target: JsonlTarget) -> Self {
        JsonlSink {
            target,
            out: None,
            csv: None,
            pending: None,
        }
    }

    fn name(&self) -> PathBuf {
        match &self.target {
            JsonlTarget::File(p) => p.clone(),
            JsonlTarget::Stdout => PathBuf::from("standard output"),
        }
    }

    fn io(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            path: self.name(),
            source,
        }
    }

    /// The JSON lines of one frame: the CSV's rows of it, each as an object.
    fn lines(&mut self, frame: &Frame, faces: &[TrackedFace]) -> std::io::Result<String> {
        let Some((csv, names)) = &mut self.csv else {
            return Ok(String::new());
        };
        csv.write_frame(frame.index, frame.timestamp, faces)?;
        let text = String::from_utf8_lossy(&csv.take_written()).into_owned();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut out = String::new();
        for row in text.lines() {
            out.push_str(&row_to_json(&names, row));
            out.push('\n');
        }
        Ok(out)
    }
}

/// One CSV row (the video CSV has no quoted fields) as a JSON object of `names`.
pub fn row_to_json(names: &[&str], row: &str) -> String {
    let mut s = String::from("{");
    for (i, (name, value)) in names.iter().zip(row.split(',')).enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_json_string(&mut s, name);
        s.push(':');
        if is_json_number(value) {
            s.push_str(value);
        } else if value.parse::<f64>().is_ok() {
            // NaN or infinity: JSON has no such number
            s.push_str("null");
        } else {
            push_json_string(&mut s, value);
        }
    }
    s.push('}');
    s
}

/// Whether `v` is a number as JSON writes one (`-0.5`, `12`, `1e-3`; not `+1`, `.5`, `01`).
fn is_json_number(v: &str) -> bool {
    let b = v.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    let st = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[st] == b'0') {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn push_json_string(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
}

impl Sink for JsonlSink {
    fn path(&self) -> Option<&Path> {
        match &self.target {
            JsonlTarget::File(p) => Some(p),
            JsonlTarget::Stdout => None,
        }
    }
    fn begin(&mut self, info: &StreamInfo) -> Result<(), SinkError> {
        let mut csv =
            VideoCsv::with_pose(Vec::new(), info.points, info.pose).map_err(|e| self.io(e))?;
        let header = String::from_utf8_lossy(&csv.take_written()).into_owned();
        let names = header.trim_end().split(',').map(str::to_owned).collect();
        self.csv = Some((csv, names));
        self.out = Some(match &self.target {
            JsonlTarget::Stdout => Box::new(std::io::stdout()),
            JsonlTarget::File(p) => {
                let pending = Pending::begin(p);
                let f = pending.create().map_err(|source| SinkError::Create {
                    path: p.clone(),
                    source,
                })?;
                self.pending = Some(pending);
                Box::new(BufWriter::new(f))
            }
        });
        Ok(())
    }
    fn frame(&mut self, frame: &Frame, faces: &[TrackedFace]) -> Result<(), SinkError> {
        if self.out.is_none() {
            return Ok(());
        }
        let text = self.lines(frame, faces).map_err(|e| self.io(e))?;
        let written = match &mut self.out {
            Some(out) => out.write_all(text.as_bytes()).and_then(|_| out.flush()),
            None => Ok(()),
        };
        written.map_err(|e| self.io(e))
    }
    fn finish(&mut self, how: Finish) -> Result<(), SinkError> {
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        let flushed = out.flush();
        drop(out);
        if how != Finish::Discard {
            flushed.map_err(|e| self.io(e))?;
        }
        match &self.target {
            JsonlTarget::File(_) => match &self.pending {
                Some(p) => settle(p, how),
                None => Ok(()),
            },
            JsonlTarget::Stdout => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::output_files::partial_path;

    #[test]
    fn a_csv_row_becomes_an_object_with_the_header_names() {
        let names = ["frame", "face_id", "timestamp", "x_0", "note"];
        let j = row_to_json(&names, "3,-1,0.1000,NaN,a\"b");
        assert_eq!(
            j,
            r#"{"frame":3,"face_id":-1,"timestamp":0.1000,"x_0":null,"note":"a\"b"}"#
        );
        for ok in ["0", "-0.000", "12.5", "1e-3", "-2E+4"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", "+1", ".5", "01", "1.", "inf", "NaN", "1e", "0x1"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn the_file_stream_writes_under_the_partial_name_and_commits() {
        use crate::core::image::GrayImage;
        let dir = std::env::temp_dir().join(format!("ft-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("live.jsonl");
        let mut s = JsonlSink::new(JsonlTarget::File(out.clone()));
        let info = StreamInfo {
            width: 4,
            height: 4,
            fps: Some(30.0),
            frames: None,
            points: 68,
            pose: true,
            orientation: Default::default(),
            pixel_aspect: None,
            colour: None,
        };
        s.begin(&info).unwrap();
        let frame = Frame::new(
            4,
            0.5,
            std::time::Instant::now(),
            GrayImage::new(4, 4),
            None,
        )
        .unwrap();
        s.frame(&frame, &[]).unwrap();
        // flushed per frame: readable under the partial name before the end
        let text = std::fs::read_to_string(partial_path(&out)).unwrap();
        assert!(!out.exists());
        assert!(
            text.starts_with(r#"{"frame":5,"face_id":-1,"timestamp":0.5000,"confidence":0.000,"success":0,"x_0":0.000,"#),
            "{text}"
        );
        // then the CSV's eye and mouth signal columns
        assert!(
            text.contains(r#""pose_Rz":0,"eye_open_l":0.000,"#),
            "{text}"
        );
        assert!(text.trim_end().ends_with(r#""AU45_r":0.00}"#), "{text}");
        assert_eq!(text.lines().count(), 1);
        s.finish(Finish::Commit).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
        assert!(!partial_path(&out).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
