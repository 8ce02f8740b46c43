//! Video files through FFmpeg's libraries: any container and codec FFmpeg reads, real
//! presentation timestamps (variable frame rate included), frames converted once to
//! grayscale (and RGB on request). Corrupt packets are skipped and counted.
//!
//! The gray image the tracker reads is the decoded luma plane itself when the stream is
//! 8-bit YUV (almost every video): one pass through a 256-entry table that maps the
//! stream's luma range onto full-range gray, the same values FFmpeg's scaler gives, at
//! the cost of a copy. Other formats go through the scaler. FFmpeg decodes with its own
//! threads (frame and slice threading, one per core).
//!
//! A stream's display matrix (a phone video stored sideways with a "rotate 90" tag) is
//! applied unless the caller keeps the stored orientation: frames come as players show
//! them, so faces are upright and coordinates are in the displayed frame.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling::{context::Context as Scaler, flag::Flags};
use ffmpeg::util::frame::video::Video as AvFrame;
use ffmpeg_next as ffmpeg;

use crate::capture::source::{Frame, FrameSource, SourceError};
use crate::core::image::GrayImage;
use crate::core::orientation::{self, Orientation, OrientationRule, StreamOrientation};

/// Largest frame side accepted (larger streams are refused with a clear error).
pub const MAX_SIDE: u32 = 8192;

/// The largest frames a [`VideoFile`] decodes: a side, and for a still picture a pixel
/// count (its photo limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    side: u32,
    pixels: Option<u64>,
}

impl Limits {
    const VIDEO: Limits = Limits {
        side: MAX_SIDE,
        pixels: None,
    };

    /// Why a `w × h` frame is too large (the message names the limit), or `Ok`.
    fn check(&self, w: u32, h: u32) -> Result<(), String> {
        let many = self.pixels.is_some_and(|p| w as u64 * h as u64 > p);
        if w <= self.side && h <= self.side && !many {
            return Ok(());
        }
        Err(match self.pixels {
            Some(p) => format!(
                "the picture is {w}x{h} pixels; facetrack reads photos of up to {} pixels a side and {} megapixels",
                self.side,
                p / 1_000_000
            ),
            None => format!("frames of {w}x{h} are larger than the {} pixel limit", self.side),
        })
    }
}
/// Frames this process has decoded from video files.
static FRAMES_READ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many frames this process has decoded from video files (none: a run interrupted
/// now, still opening its input, a FIFO without a writer say, has nothing to finish).
pub fn frames_read() -> u64 {
    FRAMES_READ.load(std::sync::atomic::Ordering::SeqCst)
}

/// Consecutive decode errors after which a file is given up as unreadable.
const MAX_CONSECUTIVE_ERRORS: u64 = 200;

/// A video file opened for decoding.
pub struct VideoFile {
    path: PathBuf,
    input: ffmpeg::format::context::Input,
    decoder: ffmpeg::decoder::Video,
    stream_index: usize,
    time_base: f64,
    start: f64,
    fps: Option<f64>,
    frames: Option<u64>,
    want_rgb: bool,
    /// The stream's display matrix and whether frames are turned by it.
    orientation: StreamOrientation,
    gray_scaler: CachedScaler,
    rgb_scaler: CachedScaler,
    /// Gray to gray at square pixels (for pixels that are not square).
    square_scaler: CachedScaler,
    /// Luma-to-gray tables by pixel format and colour range (the scaler's own values).
    luma_tables: Vec<(Pixel, bool, LumaMap)>,
    next_index: u64,
    skipped: u64,
    /// What went wrong with the first skipped packet or frame.
    first_skip: Option<String>,
    consecutive_errors: u64,
    /// Packets given to the decoder, and pictures it gave back or failed on: at the end,
    /// packets beyond them were dropped by the decoder in silence (damaged, see
    /// [`VideoFile::count_dropped`]); `None` for codecs whose packets may hold half a
    /// picture (a field).
    fed: Option<(u64, u64)>,
    /// Frame slots the pictures' timestamps skip (a gap of more than one and a half
    /// frames at the stream's rate counts its missing frames): of the packets that gave
    /// no picture, only those that leave such a gap were frames lost. A VP8 alt-ref
    /// frame or the packets an MP4 edit list cuts give no picture and leave no gap.
    gap_frames: u64,
    eof_sent: bool,
    done: bool,
    last_ts: f64,
    /// The stored pixels' shape as shown (width:height) where it is not square.
    sar: Option<(i32, i32)>,
    /// Added to the stream's timestamps since the last time they went back.
    ts_shift: f64,
    /// The first decoded frame, read at open to find a display matrix carried by the
    /// frames rather than the stream; handed out first.
    pending: Option<AvFrame>,
    /// What stopped that first decode, handed out first.
    pending_error: Option<SourceError>,
    /// The largest frames it decodes ([`Limits::VIDEO`], or a photo's for a still).
    limits: Limits,
}

pub(crate) fn ensure_init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

impl VideoFile {
    /// Open `path`; `want_rgb` also converts every frame to RGB (for drawing). Frames
    /// come in the displayed orientation (see [`VideoFile::open_with`]).
    pub fn open(path: &Path, want_rgb: bool) -> Result<Self, SourceError> {
        Self::open_with(path, want_rgb, OrientationRule::Apply)
    }

    /// Open `path`, turning frames by the stream's display matrix (`Apply`) or keeping
    /// them as stored (`Keep`).
    pub fn open_with(
        path: &Path,
        want_rgb: bool,
        rule: OrientationRule,
    ) -> Result<Self, SourceError> {
        Self::open_noting(path, want_rgb, rule, true, Limits::VIDEO)
    }

    /// Open a still picture read as a one-frame video (AVIF, TIFF) whose frames may be
    /// up to `max_side` pixels a side and `max_pixels` in all (a photo's limits, larger
    /// than a video frame's [`MAX_SIDE`]); turned by a display matrix as
    /// [`VideoFile::open`], but kept in its own pixels as photo viewers show it (FFmpeg
    /// gives a TIFF's resolution tags as a pixel shape).
    pub fn open_still(path: &Path, max_side: u32, max_pixels: u64) -> Result<Self, SourceError> {
        let mut v = Self::open_noting(
            path,
            true,
            OrientationRule::Apply,
            true,
            Limits {
                side: max_side.max(MAX_SIDE),
                pixels: Some(max_pixels),
            },
        )?;
        v.orientation.squared = false;
        v.orientation.pixel_aspect = None;
        v.sar = None;
        Ok(v)
    }

    /// [`VideoFile::open_with`] for a second reading of a video whose first reading said
    /// what there was to say about it (the display matrix's note).
    pub fn open_again(
        path: &Path,
        want_rgb: bool,
        rule: OrientationRule,
    ) -> Result<Self, SourceError> {
        Self::open_noting(path, want_rgb, rule, false, Limits::VIDEO)
    }

    fn open_noting(
        path: &Path,
        want_rgb: bool,
        rule: OrientationRule,
        notes: bool,
        limits: Limits,
    ) -> Result<Self, SourceError> {
        ensure_init();
        let p = path.display().to_string();
        if !path.exists() {
            return Err(SourceError::NotFound { path: p });
        }
        if path.to_str().is_none() {
            return Err(SourceError::Open {
                path: p,
                message: "the path is not valid UTF-8, which FFmpeg cannot take; rename it".into(),
            });
        }
        if path.is_dir() {
            return Err(SourceError::Open {
                path: p,
                message: "is a folder, not a video file".into(),
            });
        }
        // (a pipe or FIFO reports no length: FFmpeg reads it as a stream)
        if std::fs::metadata(path)
            .map(|m| m.is_file() && m.len() == 0)
            .unwrap_or(false)
        {
            return Err(SourceError::Open {
                path: p,
                message: "the file is empty".into(),
            });
        }
        let input =
            ffmpeg::format::input(&file_url(path)).map_err(|e| SourceError::Unreadable {
                path: p.clone(),
                what: if mp4_cut_short(path) {
                    "the file ends early (truncated?): its MP4 index is missing, as when a \
                 recording or a copy is cut off (an index-first MP4, e.g. `ffmpeg -movflags \
                 +faststart`, plays up to the cut)"
                } else {
                    "not a video FFmpeg can read"
                },
                source: Box::new(e),
            })?;
        let cover = |s: &ffmpeg::format::stream::Stream| {
            s.disposition()
                .contains(ffmpeg::format::stream::Disposition::ATTACHED_PIC)
        };
        let best = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or(SourceError::NoVideo { path: p.clone() })?;
        // FFmpeg's choice may be a cover picture (marked default, or the only picture):
        // the first video stream that is none, else a song is no video
        let stream = if cover(&best) {
            input
                .streams()
                .find(|s| s.parameters().medium() == ffmpeg::media::Type::Video && !cover(s))
                .ok_or(SourceError::OnlyCover { path: p.clone() })?
        } else {
            best
        };
        let stream_index = stream.index();
        if notes {
            note_other_video_streams(path, &input, stream_index);
        }
        let tb = stream.time_base();
        let time_base = if tb.denominator() != 0 {
            tb.numerator() as f64 / tb.denominator() as f64
        } else {
            0.0
        };
        // time 0 is the file's start, as players count (the container's start: a video
        // that begins after its sound, or a trimmed copy, keeps its frames' place beside
        // the sound); the video stream's own start where the container has none
        // SAFETY: a plain field of the open format context
        let file_start = unsafe { (*input.as_ptr()).start_time };
        let stream_start = (stream.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE)
            .then(|| stream.start_time() as f64 * time_base);
        let file_start = (file_start != ffmpeg::ffi::AV_NOPTS_VALUE)
            .then(|| file_start as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));
        let start = match (file_start, stream_start) {
            // a sound that starts a little before the picture: the file's time
            (Some(f), Some(s)) if (s - f).abs() <= SAME_PROGRAMME_S => f,
            // far apart (a broadcast TS of several programmes): the picture's own
            (_, Some(s)) => s,
            (Some(f), None) => f,
            (None, None) => 0.0,
        };
        let rate = stream.avg_frame_rate();
        let fps = (rate.denominator() != 0 && rate.numerator() > 0)
            .then(|| rate.numerator() as f64 / rate.denominator() as f64);
        let frames = (stream.frames() > 0).then_some(stream.frames() as u64);
        // the container's pixel shape (Matroska, MP4 'pasp'), else the codec's
        // SAFETY: plain fields of the open stream and its codec parameters
        let sar = unsafe {
            let st = stream.as_ptr();
            let s = (*st).sample_aspect_ratio;
            if s.num > 0 && s.den > 0 {
                s
            } else {
                (*(*st).codecpar).sample_aspect_ratio
            }
        };
        let tag = display_matrix(&stream, notes);
        let sar = (sar.num > 0 && sar.den > 0 && sar.num != sar.den).then_some((sar.num, sar.den));
        let orientation = StreamOrientation {
            tag,
            applied: rule == OrientationRule::Apply && tag != Orientation::NoTransforms,
            // (a shape within 1 % of square is left as it is and not mentioned)
            pixel_aspect: sar.filter(|&a| orientation::needs_squaring(a)),
            squared: rule == OrientationRule::Apply && sar.is_some_and(orientation::needs_squaring),
        };
        let decoder_id = stream.parameters().id();
        let mut ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| SourceError::Unreadable {
                path: p.clone(),
                what: "codec parameters",
                source: Box::new(e),
            })?;
        // FFmpeg's own threads (its default is one): frame and slice threading, the count
        // chosen by FFmpeg from the cores (0 = auto)
        // SAFETY: plain fields of the codec context, set before it is opened.
        unsafe {
            let c = ctx.as_mut_ptr();
            (*c).thread_count = 0;
            (*c).thread_type = ffmpeg::ffi::FF_THREAD_FRAME | ffmpeg::ffi::FF_THREAD_SLICE;
        }
        let decoder = ctx.decoder().video().map_err(|e| SourceError::Unreadable {
            path: p.clone(),
            what: "no decoder for this video codec",
            source: Box::new(e),
        })?;
        if let Err(message) = limits.check(decoder.width(), decoder.height()) {
            return Err(SourceError::Open { path: p, message });
        }
        let mut v = VideoFile {
            path: path.to_path_buf(),
            input,
            decoder,
            stream_index,
            time_base,
            start,
            fps,
            frames,
            sar,
            want_rgb,
            orientation,
            gray_scaler: None,
            rgb_scaler: None,
            square_scaler: None,
            luma_tables: Vec::new(),
            next_index: 0,
            skipped: 0,
            first_skip: None,
            consecutive_errors: 0,
            fed: one_picture_a_packet(decoder_id).then_some((0, 0)),
            gap_frames: 0,
            eof_sent: false,
            done: false,
            last_ts: f64::NEG_INFINITY,
            ts_shift: 0.0,
            pending: None,
            pending_error: None,
            limits,
        };
        if tag == Orientation::NoTransforms {
            v.peek_frame_orientation(rule);
        }
        Ok(v)
    }

    /// Without a stream display matrix, the frames may carry one (an H.264/HEVC display
    /// orientation message): decode the first frame now, so the frame size is known
    /// before any frame is handed out, and keep it for [`FrameSource::next_frame`].
    fn peek_frame_orientation(&mut self, rule: OrientationRule) {
        let mut f = AvFrame::empty();
        match self.decode_next(&mut f) {
            Ok(true) => {
                if let Some(tag) = frame_display_matrix(&f) {
                    self.orientation = StreamOrientation {
                        tag,
                        applied: rule == OrientationRule::Apply && tag != Orientation::NoTransforms,
                        ..self.orientation
                    };
                }
                self.pending = Some(f);
            }
            Ok(false) => {}
            Err(e) => self.pending_error = Some(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the frames as they come (with square pixels and turned by the display
    /// matrix unless kept), as the stream declares it.
    pub fn size(&self) -> (u32, u32) {
        let (w, h) = self.squared_size(self.decoder.width(), self.decoder.height());
        orientation::turned_size(self.orientation.turn(), w, h)
    }

    /// The size a stored `w`x`h` frame comes in before it is turned: resampled to
    /// square pixels where they are not (and that is not kept); where widening would
    /// pass the frame limits (4608x2592 at 2:1), the height shrinks instead.
    fn squared_size(&self, w: u32, h: u32) -> (u32, u32) {
        match self.sar {
            Some(aspect) if self.orientation.squared => {
                let (sw, sh) = orientation::squared_size(w, h, aspect);
                if self.limits.check(sw, sh).is_ok() {
                    (sw, sh)
                } else {
                    // (only wider pixels widen the frame: narrower ones shrink it)
                    let r = f64::from(aspect.0) / f64::from(aspect.1);
                    (w, ((f64::from(h) / r).round() as u32).max(1))
                }
            }
            _ => (w, h),
        }
    }

    /// The stream's orientation tag and whether frames are turned by it.
    pub fn orientation(&self) -> StreamOrientation {
        self.orientation
    }

    fn err(&self, message: String) -> SourceError {
        SourceError::Decode {
            path: self.path.display().to_string(),
            message,
        }
    }

    /// Convert a decoded frame to grayscale (and RGB).
    fn convert(&mut self, f: &AvFrame) -> Result<Frame, SourceError> {
        let (w, h) = (f.width(), f.height());
        if w == 0 || h == 0 || self.limits.check(w, h).is_err() {
            return Err(self.err(format!("frame of {w}x{h}")));
        }
        // pixels that are not square: the gray picture (its values as at the stored
        // shape, the luma plane range-mapped) resampled, and RGB made at that size
        let (ow, oh) = self.squared_size(w, h);
        let gray = match self.luma_table(f) {
            Some(i) => luma_plane(f, &self.luma_tables[i].2),
            None => convert_packed(&mut self.gray_scaler, f, Pixel::GRAY8, 1, (w, h))
                .map_err(|m| self.err(m))?,
        };
        let gray = if (ow, oh) == (w, h) {
            gray
        } else {
            resize_gray(&mut self.square_scaler, &gray, (w, h), (ow, oh))
                .map_err(|m| self.err(m))?
        };
        let mut rgb = if self.want_rgb {
            Some(
                convert_packed(&mut self.rgb_scaler, f, Pixel::RGB24, 3, (ow, oh))
                    .map_err(|m| self.err(m))?,
            )
        } else {
            None
        };
        let (w, h) = (ow, oh);
        let turn = self.orientation.turn();
        let (gray, w, h) = if turn == Orientation::NoTransforms {
            (gray, w, h)
        } else {
            rgb = rgb.map(|v| orientation::turn_pixels(turn, &v, w, h, 3).0);
            orientation::turn_pixels(turn, &gray, w, h, 1)
        };
        let gray = GrayImage::from_raw(w, h, gray).map_err(|e| self.err(e.to_string()))?;
        let pts = f.timestamp().or(f.pts());
        let step = 1.0 / self.fps.filter(|f| *f > 0.0).unwrap_or(30.0);
        let ts = match pts {
            Some(p) if self.time_base > 0.0 => {
                // to the microsecond, the container's unit: a start of 0.066667 s
                // against a first frame at 6000/90000 s is time 0, not -3e-7 (written
                // "-0.0000"); `+ 0.0` turns a rounded -0 into 0
                let raw = ((p as f64 * self.time_base - self.start) * 1e6).round() / 1e6 + 0.0;
                // Timestamps that go back (files joined end to end, as `cat a.ts b.ts`,
                // or a recorder's restarted clock) continue the timeline one frame after
                // the last: the frames after the jump keep their own spacing
                let ts = raw + self.ts_shift;
                if ts > self.last_ts {
                    ts
                } else if self.last_ts - ts > BACK_JUMP_STEPS * step {
                    self.ts_shift = self.last_ts + step - raw;
                    self.last_ts + step
                } else {
                    // a repeated or slightly early time (a muxer's rounding): this frame
                    // only, just after the last, so the rest keep their place in the file
                    self.last_ts + 1e-3
                }
            }
            // a frame without a time (the last B-frames of some AVIs): one frame on
            _ if self.last_ts.is_finite() => self.last_ts + step,
            _ => 0.0,
        };
        if self.fps.is_some_and(|f| f > 0.0) && self.last_ts.is_finite() {
            let d = ts - self.last_ts;
            if d > 1.5 * step {
                self.gap_frames += ((d / step).round() as u64).saturating_sub(1);
            }
        }
        self.last_ts = ts;
        let index = self.next_index;
        self.next_index += 1;
        FRAMES_READ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Frame::new(index, ts, Instant::now(), gray, rgb).map_err(|e| self.err(e.to_string()))
    }
}

/// How far apart the file's start and its picture's may be for the file's start to be
/// time 0 (an audio lead-in, a trim); beyond it the streams are separate programmes.
const SAME_PROGRAMME_S: f64 = 10.0;

/// A step back in time of more than this many frames is a join (files joined end to end,
/// a restarted clock): the timeline goes on after it. Smaller steps back are one frame's
/// muxing glitch.
const BACK_JUMP_STEPS: f64 = 2.0;

/// `path` as FFmpeg must be given a local file: a relative name that looks like a URL
/// (`interview-10:30.mp4` is the protocol `interview-10`; `concat:a.mp4` would read
/// `a.mp4`) gets `./` in front.
pub fn file_url(path: &Path) -> std::path::PathBuf {
    let looks_like_url = path
        .to_str()
        .and_then(|s| s.split('/').next())
        .is_some_and(|first| first.contains(':'));
    match path.is_relative() && looks_like_url {
        true => Path::new(".").join(path),
        false => path.to_path_buf(),
    }
}

/// `path` opened again to read its structure, with its length: only a regular file (a
/// pipe or FIFO has been read already, and opening a FIFO again would wait for a writer
/// that has gone).
fn regular_file(path: &Path) -> Option<(std::fs::File, u64)> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    Some((f, len))
}

/// Whether `path` is an MP4/MOV (ISO base media: an `ftyp` box first) whose top-level
/// boxes run past the end of the file or that has no `moov` box (its index): a file cut
/// short.
fn mp4_cut_short(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Some((mut f, len)) = regular_file(path) else {
        return false;
    };
    let mut at = 0u64;
    let mut first = true;
    let mut moov = false;
    while at + 8 <= len {
        let mut h = [0u8; 16];
        if f.seek(SeekFrom::Start(at)).is_err() || f.read_exact(&mut h[..8]).is_err() {
            return false;
        }
        let kind = &h[4..8];
        if first && kind != b"ftyp" {
            return false;
        }
        first = false;
        moov |= kind == b"moov";
        let size = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64 {
            0 => len - at, // to the end of the file
            1 => {
                if f.read_exact(&mut h[8..16]).is_err() {
                    return true;
                }
                u64::from_be_bytes(h[8..16].try_into().unwrap_or([0; 8]))
            }
            n => n,
        };
        if size < 8 {
            return false; // not a box structure we understand
        }
        if at + size > len {
            return true; // a box runs past the end
        }
        at += size;
    }
    !first && !moov
}

/// Whether an AVI (a chain of RIFF chunks) or a Matroska / WebM file (an EBML header, then
/// a Segment of stated size) ends before the size its own header states: a file whose
/// recording, copy or download was cut off. These play up to the cut without FFmpeg
/// saying a word (an AVI's index is read from its end, and missing, the file is read in
/// order). A Segment of unknown size (a live recording) states nothing to check.
fn riff_or_mkv_cut_short(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Some((mut f, len)) = regular_file(path) else {
        return false;
    };
    let mut h = [0u8; 12];
    if f.read_exact(&mut h).is_err() {
        return false;
    }
    if &h[0..4] == b"RIFF" && &h[8..12] == b"AVI " {
        // RIFF 'AVI ' then, past 1 GB (OpenDML), RIFF 'AVIX' chunks, end to end. A size
        // of 0 or 0xFFFFFFFF is one never written (an AVI written to a pipe): unknown
        let mut at = 0u64;
        while at + 8 <= len {
            if f.seek(SeekFrom::Start(at)).is_err() || f.read_exact(&mut h[..8]).is_err() {
                return false;
            }
            if &h[0..4] != b"RIFF" {
                return false; // not a chunk we know: nothing to say
            }
            let size = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as u64;
            if size == 0 || size == u32::MAX as u64 {
                return false;
            }
            if at + 8 + size > len {
                return true;
            }
            at += 8 + size + (size & 1);
        }
        return false;
    }
    if h[0..4] == [0x1A, 0x45, 0xDF, 0xA3] {
        // an EBML element's size: a length-prefixed big-endian number; all ones: unknown
        fn vint(b: &[u8]) -> Option<(u64, usize, bool)> {
            let first = *b.first()?;
            let n = first.leading_zeros() as usize + 1;
            if n > 8 || b.len() < n {
                return None;
            }
            let mut v = (first as u64) & (0xFF >> n);
            for &x in &b[1..n] {
                v = (v << 8) | x as u64;
            }
            let unknown = v == (1u64 << (7 * n)) - 1;
            Some((v, n, unknown))
        }
        let mut b = [0u8; 32];
        if f.seek(SeekFrom::Start(4)).is_err() || f.read_exact(&mut b[..8]).is_err() {
            return false;
        }
        let Some((hsize, hn, false)) = vint(&b[..8]) else {
            return false;
        };
        let seg = 4 + hn as u64 + hsize; // the Segment's ID starts here
        if f.seek(SeekFrom::Start(seg)).is_err() || f.read_exact(&mut b[..12]).is_err() {
            return false;
        }
        if b[0..4] != [0x18, 0x53, 0x80, 0x67] {
            return false;
        }
        return match vint(&b[4..12]) {
            Some((size, n, false)) => seg + 4 + n as u64 + size > len,
            _ => false,
        };
    }
    false
}

/// The turn a stream's display matrix asks for (`NoTransforms` without one, or for an
/// angle that is no quarter turn, which is said when `note`).
/// A file with several video streams (a screen recorder's or camera's extra tracks, a
/// proxy): say which one is tracked, since nothing else would tell. Cover pictures are
/// not video streams.
fn note_other_video_streams(path: &Path, input: &ffmpeg::format::context::Input, chosen: usize) {
    let videos: Vec<(usize, u32, u32)> = input
        .streams()
        .filter(|s| {
            s.parameters().medium() == ffmpeg::media::Type::Video
                && !s
                    .disposition()
                    .contains(ffmpeg::format::stream::Disposition::ATTACHED_PIC)
        })
        .map(|s| {
            // SAFETY: plain fields of the stream's codec parameters
            let (w, h) = unsafe {
                let c = s.parameters().as_ptr();
                ((*c).width.max(0) as u32, (*c).height.max(0) as u32)
            };
            (s.index(), w, h)
        })
        .collect();
    if videos.len() > 1 {
        if let Some((_, w, h)) = videos.iter().find(|v| v.0 == chosen) {
            eprintln!(
                "note: {} holds {} video streams; stream #{chosen} ({w}x{h}) is tracked \
                 (FFmpeg's choice: the one marked default, else the one of the highest bit \
                 rate)",
                path.display(),
                videos.len()
            );
        }
    }
}

fn display_matrix(stream: &ffmpeg::format::stream::Stream, note: bool) -> Orientation {
    let Some(d) = stream
        .side_data()
        .find(|d| d.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix)
    else {
        return Orientation::NoTransforms;
    };
    matrix_turn(d.data()).unwrap_or_else(|| {
        // a turn players would show (45°, say) that frames of pixels cannot take: said
        // rather than passed over, since the points are then in the stored frame
        if let Some(deg) = matrix_angle(d.data()).filter(|_| note) {
            eprintln!(
                "note: the video's display matrix turns it {deg:.0}° clockwise, which is no \
                 quarter turn: its frames are tracked as stored"
            );
        }
        Orientation::NoTransforms
    })
}

/// The rotation a display matrix holds, degrees clockwise as players turn, if it holds
/// one (no mirror, no shear).
fn matrix_angle(b: &[u8]) -> Option<f64> {
    if b.len() < 36 {
        return None;
    }
    let at = |i: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[4 * i..4 * i + 4]);
        f64::from(i32::from_ne_bytes(w)) / 65536.0
    };
    let (a, bb, c, d) = (at(0), at(1), at(3), at(4));
    let det = a * d - bb * c;
    if det <= 0.0 {
        return None;
    }
    // FFmpeg's av_display_rotation_get gives -atan2(b, a) counter-clockwise
    Some(bb.atan2(a).to_degrees().rem_euclid(360.0))
}

/// The turn a decoded frame's display matrix asks for (an H.264/HEVC display orientation
/// message), if it carries one.
fn frame_display_matrix(f: &AvFrame) -> Option<Orientation> {
    f.side_data(ffmpeg::util::frame::side_data::Type::DisplayMatrix)
        .and_then(|d| matrix_turn(d.data()))
}

/// A display matrix's nine native-endian `i32` as a turn.
fn matrix_turn(b: &[u8]) -> Option<Orientation> {
    if b.len() < 36 {
        return None;
    }
    let mut m = [0i32; 9];
    for (i, v) in m.iter_mut().enumerate() {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[4 * i..4 * i + 4]);
        *v = i32::from_ne_bytes(w);
    }
    orientation::from_display_matrix(&m)
}

/// 8-bit YUV formats whose first plane is the luma at full size.
fn has_luma_plane(fmt: Pixel) -> bool {
    matches!(
        fmt,
        Pixel::YUV420P
            | Pixel::YUVJ420P
            | Pixel::YUV422P
            | Pixel::YUVJ422P
            | Pixel::YUV444P
            | Pixel::YUVJ444P
            | Pixel::YUV440P
            | Pixel::YUVJ440P
            | Pixel::YUV411P
            | Pixel::YUVJ411P
            | Pixel::YUV410P
            | Pixel::YUVA420P
            | Pixel::NV12
            | Pixel::NV21
            | Pixel::GRAY8
    )
}

impl VideoFile {
    /// The table that turns this frame's luma into gray, when it has an 8-bit luma plane.
    /// A frame tagged full range (`color_range` JPEG) keeps its values; otherwise the
    /// table is what FFmpeg's scaler makes of each luma value for this pixel format, read
    /// once from the scaler itself (so the gray values are the scaler's, bit for bit).
    /// Made once per pixel format and range and kept: the frame's entry in `luma_tables`.
    fn luma_table(&mut self, f: &AvFrame) -> Option<usize> {
        let fmt = f.format();
        if !has_luma_plane(fmt) {
            return None;
        }
        let full = f.color_range() == ffmpeg::util::color::Range::JPEG;
        if let Some(i) = self
            .luma_tables
            .iter()
            .position(|(p, r, _)| *p == fmt && *r == full)
        {
            return Some(i);
        }
        let map = if full {
            LumaMap::Copy
        } else {
            LumaMap::of(scaler_luma_table(fmt)?)
        };
        self.luma_tables.push((fmt, full, map));
        Some(self.luma_tables.len() - 1)
    }
}

/// What the scaler makes of each of the 256 luma values of `fmt` (chroma neutral):
/// converts a 256×16 frame whose columns hold every value.
fn scaler_luma_table(fmt: Pixel) -> Option<Box<[u8; 256]>> {
    let (w, h) = (256u32, 16u32);
    let mut src = AvFrame::new(fmt, w, h);
    for p in 0..src.planes() {
        let stride = src.stride(p);
        let (pw, ph) = (src.plane_width(p) as usize, src.plane_height(p) as usize);
        let data = src.data_mut(p);
        let len = data.len();
        for y in 0..ph {
            let row = &mut data[y * stride..(y * stride + stride).min(len)];
            if p == 0 {
                for (x, v) in row.iter_mut().take(pw).enumerate() {
                    *v = x as u8;
                }
            } else {
                row.fill(128);
            }
        }
    }
    let mut s = Scaler::get(fmt, w, h, Pixel::GRAY8, w, h, Flags::BILINEAR).ok()?;
    let mut out = AvFrame::empty();
    s.run(&src, &mut out).ok()?;
    let row = &out.data(0)[..w as usize];
    let mut t = Box::new([0u8; 256]);
    t.copy_from_slice(row);
    Some(t)
}

/// Limited-range luma (16..235) to full-range gray in integer arithmetic:
/// `((y - 16) * 2385 + 986) >> 11`, clamped. It equals the scaler's table for the common
/// formats, and unlike a table lookup the compiler vectorises it.
#[inline(always)]
fn limited_to_full(y: u8) -> u8 {
    (((y as i32 - 16) * 2385 + 986) >> 11).clamp(0, 255) as u8
}

/// How a luma plane becomes gray (worked out once per stream format).
enum LumaMap {
    Copy,
    Limited,
    Table(Box<[u8; 256]>),
}

impl LumaMap {
    fn of(lut: Box<[u8; 256]>) -> Self {
        if lut.iter().enumerate().all(|(i, &v)| v as usize == i) {
            LumaMap::Copy
        } else if lut
            .iter()
            .enumerate()
            .all(|(i, &v)| v == limited_to_full(i as u8))
        {
            LumaMap::Limited
        } else {
            LumaMap::Table(lut)
        }
    }
}

/// The luma plane of `f` through `map`, packed (stride = width).
fn luma_plane(f: &AvFrame, map: &LumaMap) -> Vec<u8> {
    let (w, h) = (f.width() as usize, f.height() as usize);
    let stride = f.stride(0);
    let src = f.data(0);
    let mut v = vec![0u8; w * h];
    for (y, dst) in v.chunks_exact_mut(w).enumerate() {
        let row = &src[y * stride..y * stride + w];
        match map {
            LumaMap::Copy => dst.copy_from_slice(row),
            LumaMap::Limited => {
                for (d, s) in dst.iter_mut().zip(row) {
                    *d = limited_to_full(*s);
                }
            }
            LumaMap::Table(t) => {
                for (d, s) in dst.iter_mut().zip(row) {
                    *d = t[*s as usize];
                }
            }
        }
    }
    v
}

/// A scaler cached with the source format and size it was built for.
/// A scaler with the source format and the source and output sizes it was made for.
type CachedScaler = Option<(Scaler, Pixel, (u32, u32, u32, u32))>;

/// Bytes left free after a packed buffer the scaler writes into, in case its vector code
/// stores a little past the last pixel.
const SCALER_SLACK: usize = 64;

/// Convert `f` to a packed buffer of `target` (`bytes` per pixel, rows without padding)
/// of `w`x`h` pixels, rebuilding the cached scaler when the stream changes size or format
/// mid-way. The scaler writes straight into the returned buffer (no intermediate frame:
/// at 4K that was another 25 MB and a copy per frame).
fn convert_packed(
    cache: &mut CachedScaler,
    f: &AvFrame,
    target: Pixel,
    bytes: usize,
    to: (u32, u32),
) -> Result<Vec<u8>, String> {
    // SAFETY: the decoded frame's own planes and strides, for its own format and size;
    // it outlives the call
    unsafe {
        let src = f.as_ptr();
        let d = &(*src).data;
        let l = &(*src).linesize;
        let planes = [d[0], d[1], d[2], d[3]].map(|p| p as *const u8);
        let strides = [l[0], l[1], l[2], l[3]];
        scale_packed(
            cache,
            (f.format(), f.width(), f.height()),
            (planes, strides),
            (target, bytes),
            to,
        )
    }
    .map_err(|m| format!("conversion: {m}"))
}

/// A packed `w`x`h` gray picture resampled to `ow`x`oh` (bilinear, FFmpeg's scaler; gray
/// to gray changes no value's range).
fn resize_gray(
    cache: &mut CachedScaler,
    gray: &[u8],
    (w, h): (u32, u32),
    to: (u32, u32),
) -> Result<Vec<u8>, String> {
    if gray.len() != w as usize * h as usize {
        return Err(format!(
            "a gray picture of {} bytes for {w}x{h}",
            gray.len()
        ));
    }
    let stride = i32::try_from(w).map_err(|_| format!("a row of {w} pixels"))?;
    // the scaler's vector code may read a little past a row's end
    let mut src = Vec::with_capacity(gray.len() + SCALER_SLACK);
    src.extend_from_slice(gray);
    src.resize(gray.len() + SCALER_SLACK, 0);
    let planes = [
        src.as_ptr(),
        std::ptr::null(),
        std::ptr::null(),
        std::ptr::null(),
    ];
    // SAFETY: one packed plane of `h` rows of `w` bytes (its length checked), with slack,
    // alive through the call
    unsafe {
        scale_packed(
            cache,
            (Pixel::GRAY8, w, h),
            (planes, [stride, 0, 0, 0]),
            (Pixel::GRAY8, 1),
            to,
        )
    }
    .map_err(|m| format!("resampling: {m}"))
}

/// Scale a picture of `fmt` at `fw`x`fh` (its `planes` and their `strides`) to a packed
/// buffer of `target` (`bytes` per pixel) at `w`x`h`, with the scaler cached in `cache`
/// for these formats and sizes.
///
/// # Safety
/// `planes` and `strides` must describe a readable picture of `fmt` at `fw`x`fh` (every
/// plane the format has, all `fh` rows) that outlives the call.
unsafe fn scale_packed(
    cache: &mut CachedScaler,
    (fmt, fw, fh): (Pixel, u32, u32),
    (planes, strides): ([*const u8; 4], [i32; 4]),
    (target, bytes): (Pixel, usize),
    (w, h): (u32, u32),
) -> Result<Vec<u8>, String> {
    if !matches!(cache, Some((_, pf, sizes)) if *pf == fmt && *sizes == (fw, fh, w, h)) {
        let s = Scaler::get(fmt, fw, fh, target, w, h, Flags::BILINEAR)
            .map_err(|e| format!("scaler: {e}"))?;
        *cache = Some((s, fmt, (fw, fh, w, h)));
    }
    let Some((s, ..)) = cache else {
        return Err("no scaler".into());
    };
    let row = bytes * w as usize;
    let len = row * h as usize;
    let mut v = vec![0u8; len + SCALER_SLACK];
    let stride = i32::try_from(row).map_err(|_| format!("a row of {row} bytes"))?;
    let dst = [
        v.as_mut_ptr(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    ];
    let dst_stride = [stride, 0, 0, 0];
    // SAFETY: the scaler was made for this format and these sizes (checked above); the
    // source is the caller's (this function's contract); the destination is one packed
    // plane of `h` rows of `row` bytes, which `v` holds with slack to spare, and outlives
    // the call
    let done = unsafe {
        ffmpeg::ffi::sws_scale(
            s.as_mut_ptr(),
            planes.as_ptr(),
            strides.as_ptr(),
            0,
            fh as i32,
            dst.as_ptr(),
            dst_stride.as_ptr(),
        )
    };
    if done != h as i32 {
        return Err(format!("the scaler gave {done} of {h} rows"));
    }
    v.truncate(len);
    Ok(v)
}

impl VideoFile {
    /// Count a skipped packet or frame; keep the first one's message.
    fn skip(&mut self, why: String) {
        self.skipped += 1;
        self.first_skip.get_or_insert(why);
    }
}

/// Whether every packet of this codec's streams holds one whole picture, so that a packet
/// the decoder gives no picture for was dropped (damaged). Not so for codecs that may code
/// the two fields of an interlaced picture in two packets (H.264 and HEVC field pictures,
/// MPEG-1/2, VC-1).
fn one_picture_a_packet(id: ffmpeg::codec::Id) -> bool {
    use ffmpeg::codec::Id;
    !matches!(
        id,
        Id::H264 | Id::HEVC | Id::MPEG1VIDEO | Id::MPEG2VIDEO | Id::VC1 | Id::WMV3
    )
}

impl VideoFile {
    /// At the stream's end: count the packets the decoder gave no picture for and said
    /// nothing of (an MPEG-4 decoder drops a damaged frame in silence), so that the
    /// summary says frames are missing; the frame column counts the pictures decoded.
    fn count_dropped(&mut self) {
        let Some((fed, out)) = self.fed.take() else {
            return;
        };
        let dropped = fed.saturating_sub(out).min(self.gap_frames);
        if dropped > 0 {
            self.skipped += dropped;
            self.first_skip.get_or_insert(format!(
                "the decoder gave no picture for {dropped} of the stream's packets where the \
                 timestamps leave gaps (damaged frames it dropped, or frames coded as \
                 repeats); the frame column counts the pictures decoded, the timestamps \
                 keep the gaps"
            ));
        }
    }

    /// Decode the next frame of the stream into `decoded`: `Ok(false)` at the end.
    fn decode_next(&mut self, decoded: &mut AvFrame) -> Result<bool, SourceError> {
        loop {
            if self.done {
                return Ok(false);
            }
            match self.decoder.receive_frame(decoded) {
                Ok(()) => {
                    if let Some((_, out)) = &mut self.fed {
                        *out += 1;
                    }
                    return Ok(true);
                }
                Err(ffmpeg::Error::Eof) => {
                    self.done = true;
                    self.count_dropped();
                    return Ok(false);
                }
                Err(ffmpeg::Error::Other {
                    errno: ffmpeg::util::error::EAGAIN,
                }) => {} // it wants the next packet
                Err(e) => {
                    // a frame that did not decode (the cut packet of a truncated file,
                    // reported while the decoder drains): count it and take the frames
                    // still queued behind it
                    if let Some((_, out)) = &mut self.fed {
                        *out += 1;
                    }
                    self.skip(format!("decoding after frame {}: {e}", self.next_index));
                    self.consecutive_errors += 1;
                    if self.consecutive_errors <= MAX_CONSECUTIVE_ERRORS {
                        continue;
                    }
                    // the end of a broken stream, said as such (what came before is kept)
                    self.done = true;
                    return Err(self.err(format!(
                        "{} frames in a row could not be decoded",
                        self.consecutive_errors
                    )));
                }
            }
            if self.eof_sent {
                self.done = true;
                self.count_dropped();
                return Ok(false);
            }
            // feed the decoder the next packet of our stream
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    if packet.stream() != self.stream_index {
                        continue;
                    }
                    let sent = self.decoder.send_packet(&packet);
                    if let (Ok(()), Some((fed, _))) = (&sent, &mut self.fed) {
                        // (an empty packet is a repeated frame in AVI, and one the demuxer
                        // marks for discarding lies before an MP4 edit list's start: no
                        // picture is due for either)
                        // SAFETY: a plain field of the packet just read
                        let discard = unsafe {
                            (*ffmpeg::codec::packet::Ref::as_ptr(&packet)).flags
                                & ffmpeg::ffi::AV_PKT_FLAG_DISCARD
                                != 0
                        };
                        *fed += u64::from(packet.size() > 0 && !discard);
                    }
                    if let Err(e) = sent {
                        self.skip(format!("packet at byte {}: {e}", packet.position()));
                        self.consecutive_errors += 1;
                        if self.consecutive_errors > MAX_CONSECUTIVE_ERRORS && self.next_index == 0
                        {
                            return Err(self.err(format!(
                                "{} packets in a row could not be decoded",
                                self.consecutive_errors
                            )));
                        }
                    }
                }
                Err(ffmpeg::Error::Eof) => {
                    let _ = self.decoder.send_eof();
                    self.eof_sent = true;
                }
                Err(e) => {
                    // a damaged container: count it; give up after many in a row
                    self.skip(format!("reading the container: {e}"));
                    self.consecutive_errors += 1;
                    if self.consecutive_errors > MAX_CONSECUTIVE_ERRORS {
                        let _ = self.decoder.send_eof();
                        self.eof_sent = true;
                        if self.next_index == 0 {
                            // an MP4 or MOV from a pipe: its index (at the end, as
                            // phones and cameras write it) cannot be reached
                            let piped = !std::fs::metadata(&self.path).is_ok_and(|m| m.is_file());
                            let mp4 = self.input.format().name().contains("mp4");
                            let hint = if piped && mp4 {
                                ": an MP4 or MOV read from a pipe must have its index first \
                                 (give the file itself, or remux it with `ffmpeg -i IN.mp4 -c \
                                 copy -movflags +faststart OUT.mp4`)"
                            } else {
                                ""
                            };
                            return Err(
                                self.err(format!("the container cannot be read ({e}){hint}"))
                            );
                        }
                    }
                }
            }
        }
    }
}

impl FrameSource for VideoFile {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        loop {
            let decoded = match self.pending.take() {
                Some(f) => f,
                None => {
                    let mut f = AvFrame::empty();
                    if !self.decode_next(&mut f)? {
                        return Ok(None);
                    }
                    f
                }
            };
            match self.convert(&decoded) {
                Ok(f) => {
                    self.consecutive_errors = 0;
                    return Ok(Some(f));
                }
                Err(e) => {
                    self.skip(format!("frame {}: {e}", self.next_index + 1));
                    continue;
                }
            }
        }
    }

    fn size(&self) -> Option<(u32, u32)> {
        Some(VideoFile::size(self))
    }
    fn fps(&self) -> Option<f64> {
        self.fps
    }

    fn first_skip(&self) -> Option<String> {
        self.first_skip.clone()
    }
    fn skipped(&self) -> u64 {
        self.skipped
    }

    fn frame_count(&self) -> Option<u64> {
        self.frames
    }

    fn colour(&self) -> Option<crate::core::image::ColourTags> {
        // SAFETY: plain fields of the open codec context, read as the C ints they are;
        // the pixel format's descriptor is FFmpeg's static table (null for none)
        let (mut t, rgb) = unsafe {
            let c = self.decoder.as_ptr();
            let desc = ffmpeg::ffi::av_pix_fmt_desc_get((*c).pix_fmt);
            let rgb_flags =
                (ffmpeg::ffi::AV_PIX_FMT_FLAG_RGB | ffmpeg::ffi::AV_PIX_FMT_FLAG_PAL) as u64;
            (
                crate::core::image::ColourTags {
                    primaries: *(std::ptr::addr_of!((*c).color_primaries) as *const i32),
                    transfer: *(std::ptr::addr_of!((*c).color_trc) as *const i32),
                    matrix: *(std::ptr::addr_of!((*c).colorspace) as *const i32),
                },
                !desc.is_null() && (*desc).flags & rgb_flags != 0,
            )
        };
        // an RGB or palette picture is RGB whatever its matrix tag says (qtrle, GIF and
        // raw RGB often say nothing)
        if rgb {
            t.matrix = 0;
        }
        Some(t)
    }

    fn pixel_aspect(&self) -> Option<(i32, i32)> {
        if self.orientation.squared {
            return None;
        }
        let (n, d) = self.sar?;
        // a quarter turn swaps the pixel's sides
        Some(match self.orientation.turn() {
            Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH => (d, n),
            _ => (n, d),
        })
    }

    /// An MP4 whose index comes first (`-movflags +faststart`), an AVI or a Matroska /
    /// WebM file opens and plays up to a cut; at its end, say that the file was cut short
    /// and how much of it was there.
    fn end_note(&self) -> Option<String> {
        if !self.done {
            return None;
        }
        let list = if mp4_cut_short(&self.path) {
            "index"
        } else if riff_or_mkv_cut_short(&self.path) {
            "header"
        } else {
            return None;
        };
        Some(match self.frames {
            Some(n) if n > self.next_index => format!(
                "the file ends early (cut short?): {} of the {n} frames its {list} lists",
                self.next_index
            ),
            _ => "the file ends early (cut short?): its last part runs past the end".into(),
        })
    }

    fn orientation(&self) -> StreamOrientation {
        self.orientation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A display matrix's bytes, native-endian 16.16 fixed point as FFmpeg stores them.
    fn matrix(m: [f64; 9]) -> Vec<u8> {
        m.iter()
            .enumerate()
            .flat_map(|(i, v)| {
                // the last column is 2.30 fixed point
                let scale = if i % 3 == 2 { 1073741824.0 } else { 65536.0 };
                ((v * scale).round() as i32).to_ne_bytes()
            })
            .collect()
    }

    #[test]
    fn a_turn_that_is_no_quarter_turn_is_measured_clockwise() {
        let s = std::f64::consts::FRAC_1_SQRT_2;
        // FFmpeg reads this matrix as rotation -45 (counter-clockwise): 45° clockwise
        let m = matrix([s, s, 0.0, -s, s, 0.0, 0.0, 0.0, 1.0]);
        assert!(matrix_turn(&m).is_none());
        let deg = matrix_angle(&m).unwrap();
        assert!((deg - 45.0).abs() < 0.01, "{deg}");
        // a mirror holds no rotation
        assert!(matrix_angle(&matrix([-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])).is_none());
    }
}
