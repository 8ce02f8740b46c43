//! Where tracked frames go. Both pipelines hand every frame with its faces to a list of
//! [`Sink`]s: the landmark CSV ([`CsvSink`]), the annotated video
//! ([`crate::output::annotate::AnnotatedVideo`], feature `video`) and the live window
//! ([`crate::output::window::LiveWindow`], feature `window`). A new output format is one
//! new implementation of this trait.
//!
//! File sinks follow [`crate::output::output_files`]: the pipeline checks their paths
//! before any is opened, they write under the partial name, and [`Sink::finish`] decides
//! what becomes of it.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::capture::source::Frame;
use crate::output::csv_out::{CsvColumns, VideoCsv};
use crate::output::output_files::{OutputError, Pending};
use crate::tracking::tracker::TrackedFace;

/// What a sink learns about the stream before the first frame.
#[derive(Debug, Clone, Copy)]
pub struct StreamInfo {
    pub width: u32,
    pub height: u32,
    /// Nominal frame rate, if the source knows it.
    pub fps: Option<f64>,
    /// Frames expected, if known.
    pub frames: Option<u64>,
    /// Landmarks per face.
    pub points: usize,
    /// Whether faces carry a head pose.
    pub pose: bool,
    /// The stream's orientation tag and whether the frames are turned by it (`width`
    /// and `height` are the frames' as they come).
    pub orientation: crate::core::orientation::StreamOrientation,
    /// The shape of a pixel as shown, width:height, where it is not square (DV, DVD,
    /// HDV: 720x480 shown as 4:3); the annotated video carries it on.
    pub pixel_aspect: Option<(i32, i32)>,
    /// The source's colour description, which the annotated video carries on.
    pub colour: Option<crate::core::image::ColourTags>,
}

/// What becomes of a file sink's partial output when the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The run is complete: rename it to its final name.
    Commit,
    /// The run was interrupted by the user: rename it to its final name unless a file is
    /// there (it was to be replaced only by a complete output), else leave it as it is.
    Interrupted,
    /// The run failed before anything worth keeping: remove it.
    Discard,
    /// The run failed part-way: leave the partial file with what was written.
    KeepPartial,
}

/// Why the annotated video could not be written (here, with the other sink errors, so
/// that the sinks depend on this module and not the other way round).
#[derive(Debug, thiserror::Error)]
#[error("annotated video {path}: {message}")]
pub struct AnnotateError {
    pub path: PathBuf,
    pub message: String,
}

/// Why a sink could not take a frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// An output could not be created (named as the user gave it, not its partial twin).
    #[error("cannot write {}: {source}{}", path.display(), create_hint(source))]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}{}", path.display(), create_hint(source))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] OutputError),
    #[cfg(feature = "video")]
    #[error(transparent)]
    Video(#[from] AnnotateError),
    #[error(
        "cannot show the window ({0}); live mode needs a display: check DISPLAY (run under Xvfb for headless use), or use `facetrack video` for files"
    )]
    Display(String),
    /// A display that is there but that the window cannot use.
    #[error("cannot show the window: {0}")]
    DisplayUnfit(String),
}

/// A consumer of tracked frames.
pub trait Sink {
    /// The file it writes, if any: checked against the inputs and the other outputs
    /// before anything is opened.
    fn path(&self) -> Option<&Path> {
        None
    }
    /// Whether it needs the frames' RGB pixels (decoding them costs time).
    fn needs_rgb(&self) -> bool {
        false
    }
    /// Open the output, once the stream is known.
    fn begin(&mut self, info: &StreamInfo) -> Result<(), SinkError>;
    /// Take one frame and the faces found in it.
    fn frame(&mut self, frame: &Frame, faces: &[TrackedFace]) -> Result<(), SinkError>;
    /// Close the output. Called once, also after an error, so that what was written stays
    /// readable (a video gets its trailer); `how` says whether to keep it.
    fn finish(&mut self, how: Finish) -> Result<(), SinkError>;
}

/// Apply `how` to an output whose writing began as `p` says.
pub fn settle(p: &Pending, how: Finish) -> Result<(), SinkError> {
    match how {
        Finish::Commit => p.commit()?,
        Finish::Interrupted => match p.commit_new() {
            Ok(()) | Err(OutputError::Appeared { .. }) => {}
            Err(e) => return Err(e.into()),
        },
        Finish::Discard => p.discard(),
        Finish::KeepPartial => {}
    }
    Ok(())
}

/// The landmark CSV (OpenFace's columns, [`VideoCsv`]), flushed frame by frame.
pub struct CsvSink {
    path: PathBuf,
    /// The optional columns and the format (`pose` comes from the stream).
    columns: CsvColumns,
    csv: Option<VideoCsv<BufWriter<std::fs::File>>>,
    /// The output, from when its writing began.
    pending: Option<Pending>,
}

impl CsvSink {
    /// The default columns ([`CsvColumns::default`]: signals, plain CSV).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_columns(path, CsvColumns::default())
    }

    /// The columns `columns` asks for; whether pose is written follows the stream.
    pub fn with_columns(path: impl Into<PathBuf>, columns: CsvColumns) -> Self {
        CsvSink {
            path: path.into(),
            columns,
            csv: None,
            pending: None,
        }
    }
    fn io(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// What to do about a failed create, for the errors a user can fix.
pub fn create_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            " (the folder is not writable: choose another output folder or fix its permissions)"
        }
        std::io::ErrorKind::ReadOnlyFilesystem => {
            " (the disk is read-only: choose another output folder)"
        }
        std::io::ErrorKind::StorageFull => " (the disk is full)",
        std::io::ErrorKind::BrokenPipe => " (the program reading it stopped)",
        _ => "",
    }
}

impl Sink for CsvSink {
    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }
    fn begin(&mut self, info: &StreamInfo) -> Result<(), SinkError> {
        let pending = Pending::begin(&self.path);
        let f = pending.create().map_err(|source| SinkError::Create {
            path: self.path.clone(),
            source,
        })?;
        self.pending = Some(pending);
        let columns = CsvColumns {
            pose: info.pose,
            ..self.columns
        };
        let csv = VideoCsv::with_columns(BufWriter::new(f), info.points, columns)
            .map_err(|e| self.io(e))?;
        self.csv = Some(csv);
        Ok(())
    }
    fn frame(&mut self, frame: &Frame, faces: &[TrackedFace]) -> Result<(), SinkError> {
        match &mut self.csv {
            Some(c) => c
                .write_frame(frame.index, frame.timestamp, faces)
                .map_err(|e| SinkError::Io {
                    path: self.path.clone(),
                    source: e,
                }),
            None => Ok(()),
        }
    }
    fn finish(&mut self, how: Finish) -> Result<(), SinkError> {
        let Some(c) = self.csv.take() else {
            return Ok(());
        };
        let flushed = c.into_inner().flush();
        if how != Finish::Discard {
            flushed.map_err(|e| self.io(e))?;
        }
        match &self.pending {
            Some(p) => settle(p, how),
            None => Ok(()),
        }
    }
}

/// Finish every sink with `how`; the first error wins, every sink is finished.
pub fn finish_all(sinks: &mut [Box<dyn Sink + '_>], how: Finish) -> Result<(), SinkError> {
    let mut first = Ok(());
    for s in sinks.iter_mut() {
        let r = s.finish(how);
        if first.is_ok() {
            first = r;
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::image::GrayImage;
    use crate::output::output_files::partial_path;

    fn frame(i: u64) -> Frame {
        Frame::new(
            i,
            i as f64 / 30.0,
            std::time::Instant::now(),
            GrayImage::new(4, 4),
            None,
        )
        .unwrap()
    }

    fn info() -> StreamInfo {
        StreamInfo {
            width: 4,
            height: 4,
            fps: Some(30.0),
            frames: None,
            points: 68,
            pose: false,
            orientation: Default::default(),
            pixel_aspect: None,
            colour: None,
        }
    }

    #[test]
    fn the_csv_sink_writes_under_the_partial_name_and_commits_or_discards() {
        let dir = std::env::temp_dir().join(format!("ft-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for how in [Finish::Commit, Finish::Discard, Finish::KeepPartial] {
            let out = dir.join(format!("{how:?}.csv"));
            let mut s = CsvSink::new(&out);
            s.begin(&info()).unwrap();
            s.frame(&frame(0), &[]).unwrap();
            assert!(partial_path(&out).exists() && !out.exists());
            s.finish(how).unwrap();
            assert_eq!(out.exists(), how == Finish::Commit, "{how:?}");
            assert_eq!(
                partial_path(&out).exists(),
                how == Finish::KeepPartial,
                "{how:?}"
            );
            if how == Finish::Commit {
                let text = std::fs::read_to_string(&out).unwrap();
                assert!(text.starts_with("frame,face_id,timestamp,confidence,success,x_0"));
                // a frame with no face has one row with face id -1, as OpenFace writes it
                assert_eq!(text.lines().count(), 2);
                assert!(text
                    .lines()
                    .nth(1)
                    .unwrap()
                    .starts_with("1,-1,0.0000,0.000,0,"));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_interrupted_run_commits_only_where_it_replaces_nothing() {
        let dir = std::env::temp_dir().join(format!("ft-sink-int-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for existed in [false, true] {
            let out = dir.join(format!("i{existed}.csv"));
            if existed {
                std::fs::write(&out, b"complete old output").unwrap();
            }
            let mut s = CsvSink::new(&out);
            s.begin(&info()).unwrap();
            s.frame(&frame(0), &[]).unwrap();
            s.finish(Finish::Interrupted).unwrap();
            if existed {
                assert_eq!(std::fs::read(&out).unwrap(), b"complete old output");
                assert!(partial_path(&out).exists());
            } else {
                assert!(out.exists() && !partial_path(&out).exists());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
