//! The writer stage: the file outputs of live mode (`--record`, `--annotate`, `--jsonl`
//! and the `r` key's recording) on their own thread, so that a slow encoder never holds
//! up the window. The sinks are made on this thread (FFmpeg's encoder is not `Send`).
//!
//! Inference hands over every tracked frame; the window says which frame it showed. A
//! frame is written once the window has shown it or a later one, so the outputs hold
//! every frame tracked up to the last one shown (including frames the window skipped
//! to stay current), written as they are shown. The caller ends the stage with
//! [`WriterMsg::Finish`], which says whether the files are committed or kept partial.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Receiver;

use crate::output::annotate::AnnotatedVideo;
use crate::output::sink::{CsvSink, Finish, Sink, SinkError, StreamInfo};
use crate::pipeline::live::capture::SourceShape;
use crate::pipeline::live::config::LiveConfig;
use crate::pipeline::live::jsonl::JsonlSink;
use crate::pipeline::live::shown::{Shown, WriterMsg};

/// What the writer knows of the stream before its first frame.
#[derive(Clone, Copy)]
pub struct StreamShape {
    pub points: usize,
    pub pose: bool,
}

/// How the writer stage ended.
#[derive(Debug, Clone, Default)]
pub struct WriterEnd {
    /// Frames written (each to every output open at the time; none without outputs).
    pub written: u64,
}

/// The file sinks of a session: those asked for at the start, and the `r` recording.
struct Files {
    /// Sinks opened at the first frame (`--record`, `--annotate`, `--jsonl`).
    start: Vec<Box<dyn Sink>>,
    /// The `r` key's CSV, and its path.
    recording: Option<(PathBuf, CsvSink)>,
    info: Option<StreamInfo>,
}

impl Files {
    fn new(cfg: &LiveConfig) -> Self {
        let mut start: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(p) = &cfg.record {
            start.push(Box::new(CsvSink::new(p)));
        }
        if let Some(p) = &cfg.annotate {
            start.push(Box::new(AnnotatedVideo::new(p, cfg.style)));
        }
        if let Some(t) = &cfg.jsonl {
            start.push(Box::new(JsonlSink::new(t.clone())));
        }
        Files {
            start,
            recording: None,
            info: None,
        }
    }

    /// Whether any output takes frames now.
    fn open(&self) -> bool {
        !self.start.is_empty() || self.recording.is_some()
    }

    fn frame(&mut self, s: &Shown, info: StreamInfo) -> Result<(), SinkError> {
        if self.info.is_none() {
            self.info = Some(info);
            for k in &mut self.start {
                k.begin(&info)?;
            }
        }
        for k in &mut self.start {
            k.frame(&s.frame, &s.faces)?;
        }
        if let Some((_, r)) = &mut self.recording {
            r.frame(&s.frame, &s.faces)?;
        }
        Ok(())
    }

    /// Start or stop the `r` recording (its errors are told, not fatal); whether one
    /// runs now.
    fn toggle_recording(&mut self, dir: &Path, info: StreamInfo) -> bool {
        if let Some((p, mut r)) = self.recording.take() {
            crate::output::window::recording_when_display_lost(None);
            match r.finish(Finish::Commit) {
                Ok(()) => eprintln!("recording stopped: {}", p.display()),
                Err(e) => eprintln!("error: {e}"),
            }
            return false;
        }
        let p = timestamped(dir, "live", "csv");
        let mut r = CsvSink::new(&p);
        let started = std::fs::create_dir_all(dir)
            .map_err(|source| SinkError::Io {
                path: dir.to_path_buf(),
                source,
            })
            .and_then(|_| r.begin(&self.info.unwrap_or(info)));
        match started {
            Ok(()) => {
                eprintln!("recording to {}", p.display());
                crate::output::window::recording_when_display_lost(Some(
                    crate::output::output_files::partial_path(&p),
                ));
                self.recording = Some((p, r));
            }
            Err(e) => eprintln!("error: {e}"),
        }
        self.recording.is_some()
    }

    /// Close everything as `how` says; the first error wins, every file is closed.
    fn finish(&mut self, how: Finish) -> Result<(), SinkError> {
        let mut first = Ok(());
        let begun = self.info.is_some();
        for s in &mut self.start {
            // sinks never begun have no file; one begun is settled as asked
            let r = if begun { s.finish(how) } else { Ok(()) };
            if first.is_ok() {
                first = r;
            }
        }
        if let Some((_, mut r)) = self.recording.take() {
            let r = r.finish(how);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// A name in `dir` that no earlier call made: `PREFIX-MILLISECONDS.EXT`.
pub fn timestamped(dir: &Path, prefix: &str, ext: &str) -> PathBuf {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    dir.join(format!("{prefix}-{t}.{ext}"))
}

/// Run the writer stage until [`WriterMsg::Finish`] (or, should the caller be gone, the
/// end of the channel: the files then keep their partial names). An output that fails
/// stops the run; the files are closed partial first, so what was written stays.
/// `source` is the source's rate and pixel shape once known; `recording` tells the window whether the `r`
/// recording runs.
pub fn writer(
    cfg: &LiveConfig,
    shape: StreamShape,
    source: &Mutex<SourceShape>,
    recording: &AtomicBool,
    rx: Receiver<WriterMsg>,
) -> Result<WriterEnd, SinkError> {
    let mut files = Files::new(cfg);
    let mut pending: VecDeque<Arc<Shown>> = VecDeque::new();
    let mut end = WriterEnd::default();
    let info = |s: Option<&Shown>| StreamInfo {
        width: s.map_or(0, |s| s.frame.width()),
        height: s.map_or(0, |s| s.frame.height()),
        fps: source.lock().ok().and_then(|f| f.fps),
        frames: None,
        points: shape.points,
        pose: shape.pose,
        orientation: Default::default(),
        pixel_aspect: source.lock().ok().and_then(|f| f.pixel_aspect),
        colour: source.lock().ok().and_then(|f| f.colour),
    };
    let how = loop {
        let Ok(msg) = rx.recv() else {
            break Finish::KeepPartial;
        };
        let step = match msg {
            WriterMsg::Tracked(s) => {
                pending.push_back(s);
                Ok(())
            }
            WriterMsg::Shown(k) => {
                let mut r = Ok(());
                while pending.front().is_some_and(|s| s.frame.index <= k) {
                    let s = pending.pop_front().expect("checked above");
                    let open = files.open();
                    r = files.frame(&s, info(Some(&s)));
                    if r.is_err() {
                        break;
                    }
                    end.written += u64::from(open);
                }
                r
            }
            WriterMsg::ToggleRecording => {
                let on = files.toggle_recording(&cfg.recordings, info(None));
                recording.store(on, Ordering::Relaxed);
                Ok(())
            }
            WriterMsg::Finish(how) => break how,
        };
        if let Err(e) = step {
            let _ = files.finish(Finish::KeepPartial);
            return Err(e);
        }
    };
    // frames tracked after the last one shown are not part of the session
    files.finish(how)?;
    Ok(end)
}
