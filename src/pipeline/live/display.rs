//! The window on the main thread: shows the newest tracked frame with its points and the
//! status line, answers the keys, and tells the writer which frame it showed. It ends
//! when the window closes (Esc, `q`), after `--frames`, when the run stops, or when
//! inference ended (the end of a file source, drained).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use minifb::Key;

use crate::output::sink::{Sink, SinkError};
use crate::output::window::LiveWindow;
use crate::pipeline::channel::{LatestReceiver, RecvTimeoutError};
use crate::pipeline::live::config::LiveConfig;
use crate::pipeline::live::shown::{Shown, WriterMsg};
use crate::pipeline::live::writer::timestamped;
use crate::pipeline::stage::Control;

/// The display's running figures.
#[derive(Default)]
pub struct Figures {
    pub latencies: Vec<f64>,
    pub model_ms: f64,
    pub frames_with_faces: u64,
    pub displayed: u64,
    recent: VecDeque<Instant>,
}

impl Figures {
    /// Count a frame about to be shown; the status line for it.
    fn status(&mut self, s: &Shown, smooth: bool, recording: bool) -> String {
        let now = Instant::now();
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        let lat = now.duration_since(s.frame.captured).as_secs_f64() * 1000.0;
        let per_face = if s.faces.is_empty() {
            0.0
        } else {
            self.model_ms += s.model_ms / s.faces.len() as f64;
            self.frames_with_faces += 1;
            s.model_ms / s.faces.len() as f64
        };
        format!(
            "FPS {:.1}  LATENCY {:.0} MS  MODEL {:.1} MS/FACE  FACES {}  SMOOTH {}{}",
            self.recent.len(),
            lat,
            per_face,
            s.faces.iter().filter(|f| f.success).count(),
            if smooth { "ON" } else { "OFF" },
            if recording { "  REC" } else { "" }
        )
    }
}

/// What the window loop shares with the other stages.
pub struct DisplayIo<'a> {
    pub frames: LatestReceiver<Arc<Shown>>,
    pub writer: &'a Sender<WriterMsg>,
    pub smooth: &'a AtomicBool,
    /// Set by the writer while the `r` recording runs.
    pub recording: &'a AtomicBool,
    pub ctl: &'a Control,
}

/// Run the window until the session ends; the figures, the last frame shown, and how
/// the window itself fared.
pub fn show(
    window: &mut LiveWindow,
    cfg: &LiveConfig,
    io: DisplayIo<'_>,
) -> (Figures, Option<Arc<Shown>>, Result<(), SinkError>) {
    let mut fig = Figures::default();
    let mut last: Option<Arc<Shown>> = None;
    let ended = (|| -> Result<(), SinkError> {
        while window.is_open() && !io.ctl.stopped() {
            match io.frames.recv_timeout(Duration::from_millis(5)) {
                Ok(sh) => {
                    let smoothing = io.smooth.load(Ordering::Relaxed);
                    let recording = io.recording.load(Ordering::Relaxed);
                    window.overlay.status = fig.status(&sh, smoothing, recording);
                    window.frame(&sh.frame, &sh.faces)?;
                    fig.latencies
                        .push(sh.frame.captured.elapsed().as_secs_f64() * 1000.0);
                    fig.displayed += 1;
                    // a writer that failed has said why through the run's control
                    let _ = io.writer.send(WriterMsg::Shown(sh.frame.index));
                    last = Some(sh);
                    if cfg.frames.is_some_and(|n| fig.displayed >= n) {
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout) => window.idle(),
                // inference ended (the file source was played to its end) and its last
                // frame is shown
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            for k in window.keys() {
                on_key(k, cfg, &io, window, last.as_deref());
            }
        }
        Ok(())
    })();
    (fig, last, ended)
}

/// One key press in the window.
fn on_key(
    k: Key,
    cfg: &LiveConfig,
    io: &DisplayIo<'_>,
    window: &mut LiveWindow,
    last: Option<&Shown>,
) {
    match k {
        Key::Escape | Key::Q => io.ctl.stop(),
        Key::S => {
            io.smooth.fetch_xor(true, Ordering::Relaxed);
        }
        Key::B => window.overlay.boxes = !window.overlay.boxes,
        Key::L => window.overlay.points = !window.overlay.points,
        Key::H => window.overlay.help = !window.overlay.help,
        Key::R => {
            // the writer starts or stops it, and says so
            let _ = io.writer.send(WriterMsg::ToggleRecording);
        }
        Key::C => {
            let _ = std::fs::create_dir_all(&cfg.recordings);
            let p = timestamped(&cfg.recordings, "screenshot", "png");
            // a new file (a second one in the same second is an error, not a replacement)
            let open = || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&p)
            };
            match window.save(&p, open, last.map(|s| (&s.frame, s.faces.as_slice()))) {
                Ok(true) => eprintln!("saved {}", p.display()),
                Ok(false) => eprintln!("no frame shown yet: no screenshot"),
                Err(e) => {
                    // a picture cut short (a full disk) is of no use: removed, if it is
                    // the file made here (not one a second press found there)
                    if !matches!(&e, SinkError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists)
                    {
                        let _ = std::fs::remove_file(&p);
                    }
                    eprintln!("error: {e}");
                }
            }
        }
        _ => {}
    }
}
