//! The live window (minifb) as a [`Sink`]: each frame letterboxed to the window's size,
//! with boxes, points, head axes, a status line and the key help drawn on it. Keys are
//! read by live mode ([`crate::pipeline::live`]), which owns the window on the main
//! thread.

use std::path::{Path, PathBuf};

use minifb::{InputCallback, Key, Window, WindowOptions};

use crate::capture::source::Frame;
use crate::core::geometry::{FaceBox, Point};
use crate::output::draw::{Canvas, Rgb, ShapeStyle, BLUE, GREEN, HEAD_AXIS_MM, RED, WHITE, YELLOW};
use crate::output::sink::{Finish, Sink, SinkError, StreamInfo};
use crate::tracking::tracker::TrackedFace;

/// The key help drawn with `h`.
const HELP: [&str; 8] = [
    "KEYS",
    "S  SMOOTHING ON/OFF",
    "B  BOXES",
    "L  POINTS",
    "R  RECORD CSV",
    "C  SCREENSHOT",
    "H  THIS HELP",
    "Q/ESC  QUIT",
];

/// What a lost display's message names: the partial files of the session's outputs,
/// and of an `r` recording while one runs.
static LOST_FILES: std::sync::Mutex<(Vec<PathBuf>, Option<PathBuf>)> =
    std::sync::Mutex::new((Vec::new(), None));
/// Frames shown in the window so far (for that message).
static SHOWN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// "; what was written is kept in a.partial.csv, b.partial.mp4 (rename to keep it)"
/// (nothing when no file; `kept` are the partial files): the end of live mode's messages
/// of a session that stopped part-way.
pub fn kept_phrase(kept: &[PathBuf]) -> String {
    if kept.is_empty() {
        return String::new();
    }
    let names: Vec<String> = kept.iter().map(|p| p.display().to_string()).collect();
    format!(
        "; what was written is kept in {} (rename to keep it)",
        names.join(", ")
    )
}

/// The partial files a lost display's message names (live mode's outputs').
pub fn when_display_lost(partials: Vec<PathBuf>) {
    if let Ok(mut n) = LOST_FILES.lock() {
        n.0 = partials;
    }
}

/// The partial file of the `r` recording under way (`None` once it stops).
pub fn recording_when_display_lost(partial: Option<PathBuf>) {
    if let Ok(mut n) = LOST_FILES.lock() {
        n.1 = partial;
    }
}

/// The partial file of the `r` recording under way, if any (a failure's message names
/// it with the session's other files).
pub fn recording_partial() -> Option<PathBuf> {
    LOST_FILES.lock().ok().and_then(|n| n.1.clone())
}

/// Xlib ends the process when its connection to the X server breaks (an ssh -X or VNC
/// session that drops, Xvfb that dies); its own handler prints only Xlib's words. This one
/// says what happened and where the session's data is, then ends the process as Xlib
/// would (the CSV and JSON lines are flushed frame by frame, the MP4 fragment by
/// fragment, so the partial files hold the session).
fn on_lost_display() {
    extern "C" fn lost(_: *mut x11_dl::xlib::Display) -> std::os::raw::c_int {
        let files: Vec<PathBuf> = LOST_FILES
            .try_lock()
            .map(|n| {
                n.0.iter()
                    .chain(&n.1)
                    .filter(|p| p.exists())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let shown = SHOWN.load(std::sync::atomic::Ordering::Relaxed);
        let kept = kept_phrase(&files);
        eprintln!(
            "\nerror: the connection to the display was lost (its X server went away): live \
             mode stopped after {shown} frame{} shown{kept}",
            if shown == 1 { "" } else { "s" }
        );
        std::process::exit(1)
    }
    if let Ok(x) = x11_dl::xlib::Xlib::open() {
        // SAFETY: sets a process-wide function pointer of libX11; `lost` never returns
        unsafe {
            (x.XSetIOErrorHandler)(Some(lost));
        }
    }
}

/// A connection to the display `DISPLAY` names, to ask its default depth before minifb
/// opens its window. It is kept open until the window is: an X server with no client
/// left resets (Xvfb does, unless started with `-noreset`), and a window opened during
/// the reset fails.
struct DisplayProbe {
    xlib: x11_dl::xlib::Xlib,
    display: *mut x11_dl::xlib::Display,
}

impl DisplayProbe {
    /// `None`: no display opens, or no libX11 (minifb then says why).
    fn open() -> Option<Self> {
        let xlib = x11_dl::xlib::Xlib::open().ok()?;
        // SAFETY: a plain connection; closed on drop
        let display = unsafe { (xlib.XOpenDisplay)(std::ptr::null()) };
        // (not `then_some`: it would build, and so drop and close, a null connection)
        if display.is_null() {
            return None;
        }
        Some(DisplayProbe { xlib, display })
    }

    /// The default screen's depth, and the bits a pixel of that depth is stored in
    /// (minifb's window draws 32-bit pixels; it crashed the process on others).
    fn depth(&self) -> (i32, Option<i32>) {
        // SAFETY: the connection is open; the list is read within its count and freed
        unsafe {
            let depth =
                (self.xlib.XDefaultDepth)(self.display, (self.xlib.XDefaultScreen)(self.display));
            let mut n = 0;
            let formats = (self.xlib.XListPixmapFormats)(self.display, &mut n);
            if formats.is_null() {
                return (depth, None);
            }
            let bpp = std::slice::from_raw_parts(formats, n.max(0) as usize)
                .iter()
                .find(|f| f.depth == depth)
                .map(|f| f.bits_per_pixel);
            (self.xlib.XFree)(formats.cast());
            (depth, bpp)
        }
    }
}

impl Drop for DisplayProbe {
    fn drop(&mut self) {
        // SAFETY: opened by `open`, closed once
        unsafe {
            (self.xlib.XCloseDisplay)(self.display);
        }
    }
}

/// What the window draws besides the frame.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub boxes: bool,
    pub points: bool,
    pub help: bool,
    /// The status line (frame rate, latency, ...).
    pub status: String,
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay {
            boxes: true,
            points: true,
            help: false,
            status: String::new(),
        }
    }
}

/// Every key press the window's events carry, in order. Polling the keys' state once a
/// frame missed a key pressed and released between two frames (a quick tap, a key
/// injector's); a key held down counts once, however long its auto-repeat runs.
#[derive(Default)]
struct KeyPresses {
    /// Pressed since the last [`LiveWindow::keys`].
    queue: Vec<Key>,
    /// Down now.
    down: Vec<Key>,
}

/// Feeds [`KeyPresses`] from minifb's key events (called inside the window's update).
struct KeyEvents(std::sync::Arc<std::sync::Mutex<KeyPresses>>);

impl InputCallback for KeyEvents {
    fn add_char(&mut self, _: u32) {}
    fn set_key_state(&mut self, key: Key, down: bool) {
        let Ok(mut k) = self.0.lock() else { return };
        match (down, k.down.contains(&key)) {
            (true, false) => {
                k.down.push(key);
                k.queue.push(key);
            }
            (false, true) => k.down.retain(|d| *d != key),
            _ => {}
        }
    }
}

/// The window, and the last picture shown in it.
pub struct LiveWindow {
    window: Window,
    keys: std::sync::Arc<std::sync::Mutex<KeyPresses>>,
    /// The last composed picture, RGB, at `shown` size.
    buf: Vec<u8>,
    shown: (usize, usize),
    argb: Vec<u32>,
    pub overlay: Overlay,
}

impl LiveWindow {
    /// Open the window (this needs a display).
    pub fn open(title: &str, width: usize, height: usize) -> Result<Self, SinkError> {
        // minifb's X11 window crashes the process on a display of fewer than 24 bits (a
        // 16-bit VNC session, `Xvfb -screen 0 WxHx16`): said instead
        let probe = DisplayProbe::open();
        if let Some((depth, bpp)) = probe
            .as_ref()
            .map(DisplayProbe::depth)
            .filter(|(d, bpp)| *d < 24 || *bpp != Some(32))
        {
            return Err(SinkError::DisplayUnfit(format!(
                "the display's colour depth is {depth} bits{}; the window needs 24 or 32 \
                 stored in 32 bits a pixel (start Xvfb with -screen 0 1280x720x24, or a VNC \
                 session of depth 24)",
                bpp.filter(|b| *b != 32)
                    .map(|b| format!(", stored in {b} bits a pixel"))
                    .unwrap_or_default()
            )));
        }
        let opts = WindowOptions {
            resize: true,
            ..WindowOptions::default()
        };
        let mut window = Window::new(title, width, height, opts)
            .map_err(|e| SinkError::Display(e.to_string()))?;
        let keys = std::sync::Arc::default();
        window.set_input_callback(Box::new(KeyEvents(std::sync::Arc::clone(&keys))));
        drop(probe); // (the window's own connection keeps the server from resetting)
                     // a new session: nothing shown or recorded yet
        SHOWN.store(0, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut n) = LOST_FILES.lock() {
            *n = (Vec::new(), None);
        }
        on_lost_display();
        Ok(LiveWindow {
            window,
            keys,
            buf: Vec::new(),
            shown: (0, 0),
            argb: Vec::new(),
            overlay: Overlay::default(),
        })
    }
    pub fn is_open(&self) -> bool {
        self.window.is_open()
    }
    /// Keep the window responsive while no frame arrives.
    pub fn idle(&mut self) {
        self.window.update();
    }
    /// Keys pressed since the last call, in order (a key pressed twice counts twice).
    pub fn keys(&self) -> Vec<Key> {
        match self.keys.lock() {
            Ok(mut k) => {
                // a key held while the focus left is released elsewhere: forget it, or its
                // next press would pass for auto-repeat
                if !self.window.is_active() {
                    k.down.clear();
                }
                std::mem::take(&mut k.queue)
            }
            Err(_) => Vec::new(),
        }
    }

    /// Save the last picture shown as PNG; when nothing was shown at the window's size,
    /// draw `last` at its own size instead. Whether a picture was written (none before
    /// the first frame). `path` names the picture in errors; `open` makes its file.
    pub fn save(
        &mut self,
        path: &Path,
        open: impl FnOnce() -> std::io::Result<std::fs::File>,
        last: Option<(&Frame, &[TrackedFace])>,
    ) -> Result<bool, SinkError> {
        let (w, h) = self.shown;
        if self.buf.len() != w * h * 3 || w == 0 {
            let Some((f, faces)) = last else {
                return Ok(false);
            };
            let (w, h) = (f.width() as usize, f.height() as usize);
            let plain = Overlay {
                status: String::new(),
                help: false,
                ..self.overlay.clone()
            };
            compose(&mut self.buf, w, h, f, faces, &plain);
            self.shown = (w, h);
        }
        let (w, h) = self.shown;
        let file = open().map_err(|source| SinkError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        crate::output::draw::write_png(file, w as u32, h as u32, &self.buf)
            .map(|()| true)
            .map_err(|e| SinkError::Io {
                path: path.to_path_buf(),
                // (a full disk keeps its kind, and so its hint, also when the PNG encoder
                // wraps the system's error)
                source: {
                    let chain = || {
                        std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                            e.source()
                        })
                        .filter_map(|e| e.downcast_ref::<std::io::Error>())
                    };
                    let text = match &e {
                        image::ImageError::IoError(io) => io.to_string(),
                        e => e.to_string(),
                    };
                    // (the png crate's errors keep the system's only in their text)
                    let in_text = text
                        .split("(os error ")
                        .nth(1)
                        .and_then(|r| r.split(')').next())
                        .and_then(|n| n.parse().ok());
                    let kind = chain()
                        .find_map(std::io::Error::raw_os_error)
                        .or(in_text)
                        .map(|code| std::io::Error::from_raw_os_error(code).kind())
                        .or_else(|| chain().next().map(std::io::Error::kind))
                        .unwrap_or(std::io::ErrorKind::Other);
                    std::io::Error::new(kind, text)
                },
            })
    }
}

impl Sink for LiveWindow {
    fn needs_rgb(&self) -> bool {
        true
    }
    fn begin(&mut self, _info: &StreamInfo) -> Result<(), SinkError> {
        Ok(())
    }
    fn frame(&mut self, frame: &Frame, faces: &[TrackedFace]) -> Result<(), SinkError> {
        let (w, h) = self.window.get_size();
        compose(&mut self.buf, w, h, frame, faces, &self.overlay);
        self.shown = (w, h);
        self.argb.clear();
        self.argb.extend(
            self.buf
                .chunks_exact(3)
                .map(|p| (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32),
        );
        self.window
            .update_with_buffer(&self.argb, w, h)
            .map_err(|e| SinkError::Display(e.to_string()))?;
        SHOWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    fn finish(&mut self, _how: Finish) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Draw the frame letterboxed into a `w` × `h` RGB buffer, then the faces and overlays.
pub fn compose(
    buf: &mut Vec<u8>,
    w: usize,
    h: usize,
    frame: &Frame,
    faces: &[TrackedFace],
    overlay: &Overlay,
) {
    buf.clear();
    buf.resize(w * h * 3, 0);
    let (fw, fh) = (frame.width() as usize, frame.height() as usize);
    if fw == 0 || fh == 0 || w == 0 || h == 0 {
        return;
    }
    let scale = (w as f32 / fw as f32).min(h as f32 / fh as f32);
    let (dw, dh) = (
        ((fw as f32 * scale) as usize).max(1),
        ((fh as f32 * scale) as usize).max(1),
    );
    let (ox, oy) = ((w - dw.min(w)) / 2, (h - dh.min(h)) / 2);
    let xs: Vec<usize> = (0..dw)
        .map(|x| (((x as f32 + 0.5) / scale) as usize).min(fw - 1))
        .collect();
    for y in 0..dh.min(h) {
        let sy = (((y as f32 + 0.5) / scale) as usize).min(fh - 1);
        let row = &mut buf[((oy + y) * w + ox) * 3..((oy + y) * w + ox + dw.min(w)) * 3];
        match frame.rgb() {
            Some(rgb) => {
                for (d, &sx) in row.chunks_exact_mut(3).zip(&xs) {
                    let k = (sy * fw + sx) * 3;
                    d.copy_from_slice(&rgb[k..k + 3]);
                }
            }
            None => {
                for (d, &sx) in row.chunks_exact_mut(3).zip(&xs) {
                    let v = frame.gray().data()[sy * fw + sx];
                    d.copy_from_slice(&[v, v, v]);
                }
            }
        }
    }
    let Some(mut cv) = Canvas::new(w as u32, h as u32, buf) else {
        return;
    };
    let map = |p: &Point| {
        Point::new(
            ox as f32 + (p.x + 0.5) * scale - 0.5,
            oy as f32 + (p.y + 0.5) * scale - 0.5,
        )
    };
    for f in faces {
        let col = if f.success { GREEN } else { YELLOW };
        if overlay.boxes {
            let b = f.face_box;
            let tl = map(&Point::new(b.left, b.top));
            let br = map(&Point::new(b.right(), b.bottom()));
            cv.rect(&FaceBox::new(tl.x, tl.y, br.x - tl.x, br.y - tl.y), col);
            cv.label(
                tl.x as i64,
                tl.y as i64 - 12,
                &format!("#{} {:.2}", f.id, f.confidence),
                1,
                WHITE,
            );
        }
        if overlay.points {
            let pts: Vec<Point> = f.points.iter().map(map).collect();
            cv.face_shape(&pts, ShapeStyle::Outline, f.success);
            if let Some(pose) = &f.pose {
                // the window shows the frame scaled: draw the axes in frame pixels, mapped
                if let Some(ends) = crate::core::head_pose::axes(pose, HEAD_AXIS_MM) {
                    let e: Vec<Point> = ends.iter().map(map).collect();
                    for (k, c) in [(1, RED), (2, GREEN), (3, BLUE)] {
                        cv.smooth_line(e[0], e[k], 2.0, c, 0.9);
                    }
                }
            }
        }
    }
    cv.label(6, 6, &overlay.status, 1, WHITE);
    if overlay.help {
        for (i, l) in HELP.iter().enumerate() {
            cv.label(10, 30 + 14 * i as i64, l, 1, Rgb(255, 255, 160));
        }
    }
}
