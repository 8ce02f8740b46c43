//! Annotated video output: frames with points, boxes and ids drawn, encoded as H.264 in
//! MP4 (or whatever container the file name asks for) with FFmpeg's libraries.

use std::path::{Path, PathBuf};

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling::{context::Context as Scaler, flag::Flags};
use ffmpeg::util::frame::video::Video as AvFrame;
use ffmpeg_next as ffmpeg;

use crate::capture::source::Frame;
use crate::output::draw::{Canvas, ShapeStyle, GREEN, WHITE, YELLOW};
use crate::output::output_files::Pending;
use crate::output::sink::{settle, Finish, Sink, SinkError, StreamInfo};
use crate::tracking::tracker::TrackedFace;

/// Encoder time base of timestamped containers (MP4, MOV, Matroska): 1/90000 s, so
/// variable frame rates keep their timing, also above 1000 frames a second. AVI has no
/// timestamps of its own: there the time base is one frame ([`VideoWriter::create`]).
const TIME_BASE: (i32, i32) = (1, 90_000);
/// Frames larger than this (pixels; above 1080p) are encoded with bounded memory: x264
/// holds about (threads + look-ahead + B-frames) frames of some 20 MB each at 4K, which
/// with its defaults (1.5 threads a core, look-ahead 10, 3 B-frames) came to over 800 MB
/// on 2 cores. Its zero-latency tuning keeps one frame in flight (threads work on slices
/// of it, no look-ahead, no B-frames), and the ultrafast preset keeps no sub-pixel
/// planes: about 85 MB at 4K (measured with the ffmpeg tool: veryfast 780 MB, veryfast
/// zero-latency 140 MB), three times faster, for files about twice as large as
/// veryfast's.
const LARGE_FRAME: u64 = 1920 * 1088;
/// The x264 preset and tuning for large frames.
const LARGE_PRESET: &str = "ultrafast";
const LARGE_TUNE: &str = "zerolatency";

pub use crate::output::sink::AnnotateError;

/// Draw faces on an RGB frame.
pub fn draw_faces(
    rgb: &mut [u8],
    width: u32,
    height: u32,
    faces: &[TrackedFace],
    boxes: bool,
    points: bool,
    style: ShapeStyle,
) {
    let Some(mut cv) = Canvas::new(width, height, rgb) else {
        return;
    };
    for f in faces {
        let col = if f.success { GREEN } else { YELLOW };
        if boxes {
            cv.rect(&f.face_box, col);
            let label = format!("#{} {:.2}", f.id, f.confidence);
            cv.label(
                f.face_box.left as i64,
                f.face_box.top as i64 - 12,
                &label,
                1,
                WHITE,
            );
        }
        if points {
            cv.face_shape(&f.points, style, f.success);
            if let Some(p) = &f.pose {
                cv.head_axes(p, f.success);
            }
        }
    }
}

/// A scaler from packed RGB of `width × height` to the encoder's YUV 4:2:0 frames.
fn to_yuv(width: u32, height: u32, (ew, eh): (u32, u32)) -> Result<Scaler, ffmpeg::Error> {
    Scaler::get(
        Pixel::RGB24,
        width,
        height,
        Pixel::YUV420P,
        ew,
        eh,
        Flags::BILINEAR,
    )
}

/// An H.264 writer.
pub struct VideoWriter {
    path: PathBuf,
    octx: ffmpeg::format::context::Output,
    encoder: ffmpeg::encoder::Video,
    scaler: Scaler,
    /// The size of the video (the first frames').
    width: u32,
    height: u32,
    /// The size of the frames the scaler and `src` are set up for now: a frame of
    /// another size than the first is scaled to the video's size.
    input: (u32, u32),
    /// Frames of another size than the first, scaled to it.
    rescaled: u64,
    stream_tb: ffmpeg::Rational,
    /// The encoder's time base: [`TIME_BASE`], or one frame for AVI.
    tb: ffmpeg::Rational,
    /// The first frame's time: the video starts at 0 (a source whose picture starts
    /// after its sound would otherwise begin with empty time, or padding frames in AVI).
    t0: Option<f64>,
    last_pts: i64,
    /// One frame's duration in encoder ticks; without it MP4 loses the last frame.
    frame_ticks: i64,
    frame: AvFrame,
    src: AvFrame,
}

/// The containers an annotated video can be written in (H.264 inside), by extension.
pub const VIDEO_EXTENSIONS: [&str; 5] = ["mp4", "m4v", "mov", "mkv", "avi"];

/// Refuse, before any work, an annotated video's name whose extension is no container
/// [`VideoWriter`] writes (FFmpeg picks the container from it: `.gif` or `.png` would
/// fail at the header or part-way, `.webm` cannot hold H.264).
pub fn check_video_name(path: &Path) -> Result<(), AnnotateError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some(e) if VIDEO_EXTENSIONS.contains(&e) => Ok(()),
        _ => Err(AnnotateError {
            path: path.to_path_buf(),
            message: format!(
                "the annotated video is H.264 in MP4; name it .mp4 (or .{})",
                VIDEO_EXTENSIONS[1..].join(", .")
            ),
        }),
    }
}

impl VideoWriter {
    /// Create `path` for frames of `width` × `height` at about `fps`.
    pub fn create(path: &Path, width: u32, height: u32, fps: f64) -> Result<Self, AnnotateError> {
        Self::create_with_aspect(path, width, height, fps, None, None)
    }

    /// [`VideoWriter::create`], with pixels of the shape `pixel_aspect` (width:height)
    /// where they are not square and the source's colour description `colour`, so that
    /// players show the video as its source.
    pub fn create_with_aspect(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
        pixel_aspect: Option<(i32, i32)>,
        colour: Option<crate::core::image::ColourTags>,
    ) -> Result<Self, AnnotateError> {
        let err = |m: String| AnnotateError {
            path: path.to_path_buf(),
            message: m,
        };
        crate::capture::video::ensure_init();
        if path.to_str().is_none() {
            return Err(err(
                "the path is not valid UTF-8, which FFmpeg cannot take; rename it".into(),
            ));
        }
        let mut octx = ffmpeg::format::output(&crate::capture::video::file_url(path))
            .map_err(|e| err(format!("cannot create it ({e})")))?;
        let fragmented = matches!(
            path.extension()
                .and_then(|e| e.to_str())
                .map(|e| e.to_ascii_lowercase())
                .as_deref(),
            Some("mp4" | "m4v" | "mov")
        );
        let codec = ffmpeg::encoder::find(ffmpeg::codec::Id::H264)
            .ok_or_else(|| err("this FFmpeg has no H.264 encoder".into()))?;
        let global = octx
            .format()
            .flags()
            .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        // H.264 in 4:2:0 needs even sizes: the last odd row/column is dropped
        let (ew, eh) = ((width & !1).max(2), (height & !1).max(2));
        let mut enc = ffmpeg::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| err(format!("encoder: {e}")))?;
        enc.set_width(ew);
        enc.set_height(eh);
        enc.set_format(Pixel::YUV420P);
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            30.0
        };
        // AVI stores frames at a fixed rate, one tick a frame (a 1/1000 s tick made it a
        // 1000 fps file of mostly empty frames); the others carry each frame's time
        let avi = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("avi"));
        let tb = match avi {
            true => ffmpeg::Rational::new(1000, ((fps * 1000.0).round() as i32).max(1)),
            false => ffmpeg::Rational::new(TIME_BASE.0, TIME_BASE.1),
        };
        enc.set_time_base(tb);
        let aspect = pixel_aspect.map(|(n, d)| ffmpeg::Rational::new(n, d));
        if let Some(a) = aspect {
            enc.set_aspect_ratio(a);
        }
        enc.set_frame_rate(Some(ffmpeg::Rational::new(
            (fps * 1000.0).round() as i32,
            1000,
        )));
        if global {
            enc.set_flags(ffmpeg::codec::Flags::GLOBAL_HEADER);
        }
        // the frames' Y'CbCr values are the source's (its pictures go to RGB and back
        // through one matrix), in the limited range the scaler writes: the source's
        // primaries, transfer and matrix describe them, so players show the source's
        // colours (untagged, an HD video's BT.709 was read as BT.601)
        if let Some(c) = colour.and_then(|c| c.for_ycbcr_copy()) {
            use ffmpeg::ffi::AVColorPrimaries as P;
            use ffmpeg::ffi::AVColorSpace as S;
            use ffmpeg::ffi::AVColorTransferCharacteristic as T;
            let primaries = [
                P::AVCOL_PRI_BT709,
                P::AVCOL_PRI_BT470M,
                P::AVCOL_PRI_BT470BG,
                P::AVCOL_PRI_SMPTE170M,
                P::AVCOL_PRI_SMPTE240M,
                P::AVCOL_PRI_FILM,
                P::AVCOL_PRI_BT2020,
                P::AVCOL_PRI_SMPTE428,
                P::AVCOL_PRI_SMPTE431,
                P::AVCOL_PRI_SMPTE432,
                P::AVCOL_PRI_EBU3213,
            ];
            let transfers = [
                T::AVCOL_TRC_BT709,
                T::AVCOL_TRC_GAMMA22,
                T::AVCOL_TRC_GAMMA28,
                T::AVCOL_TRC_SMPTE170M,
                T::AVCOL_TRC_SMPTE240M,
                T::AVCOL_TRC_LINEAR,
                T::AVCOL_TRC_LOG,
                T::AVCOL_TRC_LOG_SQRT,
                T::AVCOL_TRC_IEC61966_2_4,
                T::AVCOL_TRC_BT1361_ECG,
                T::AVCOL_TRC_IEC61966_2_1,
                T::AVCOL_TRC_BT2020_10,
                T::AVCOL_TRC_BT2020_12,
                T::AVCOL_TRC_SMPTE2084,
                T::AVCOL_TRC_SMPTE428,
                T::AVCOL_TRC_ARIB_STD_B67,
            ];
            let matrices = [
                S::AVCOL_SPC_BT709,
                S::AVCOL_SPC_FCC,
                S::AVCOL_SPC_BT470BG,
                S::AVCOL_SPC_SMPTE170M,
                S::AVCOL_SPC_SMPTE240M,
                S::AVCOL_SPC_YCGCO,
                S::AVCOL_SPC_BT2020_NCL,
                S::AVCOL_SPC_BT2020_CL,
                S::AVCOL_SPC_SMPTE2085,
                S::AVCOL_SPC_CHROMA_DERIVED_NCL,
                S::AVCOL_SPC_CHROMA_DERIVED_CL,
                S::AVCOL_SPC_ICTCP,
            ];
            // SAFETY: plain fields of the encoder context, set before it is opened, to
            // values of their own enums
            unsafe {
                let e = enc.as_mut_ptr();
                if let Some(&v) = primaries.iter().find(|v| **v as i32 == c.primaries) {
                    (*e).color_primaries = v;
                }
                if let Some(&v) = transfers.iter().find(|v| **v as i32 == c.transfer) {
                    (*e).color_trc = v;
                }
                if let Some(&v) = matrices.iter().find(|v| **v as i32 == c.matrix) {
                    (*e).colorspace = v;
                }
                (*e).color_range = ffmpeg::ffi::AVColorRange::AVCOL_RANGE_MPEG;
            }
        }
        // a key frame every second: each starts an MP4 fragment, so a killed run loses
        // at most the last second
        enc.set_gop((fps.round() as u32).clamp(1, 600));
        let large = ew as u64 * eh as u64 > LARGE_FRAME;
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("preset", if large { LARGE_PRESET } else { "veryfast" });
        opts.set("crf", "23");
        if large {
            opts.set("tune", LARGE_TUNE);
        }
        let encoder = enc
            .open_with(opts)
            .map_err(|e| err(format!("opening the H.264 encoder: {e}")))?;
        {
            let mut ost = octx
                .add_stream(codec)
                .map_err(|e| err(format!("stream: {e}")))?;
            ost.set_parameters(&encoder);
            ost.set_time_base(tb);
            if let Some(a) = aspect {
                // SAFETY: a plain field of the stream, set before the header is written
                unsafe {
                    (*ost.as_mut_ptr()).sample_aspect_ratio = a.into();
                }
            }
        }
        if fragmented {
            // fragmented MP4: no index at the end to lose; what was written before a
            // kill plays
            let mut mov = ffmpeg::Dictionary::new();
            mov.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
            // and each fragment goes to the file as it is made: FFmpeg's I/O buffer would
            // otherwise hold the first 256 KiB, a still or talking face's whole minute
            mov.set("flush_packets", "1");
            octx.write_header_with(mov)
                .map_err(|e| err(format!("header: {e}{}", write_hint(&e))))?;
        } else {
            octx.write_header()
                .map_err(|e| err(format!("header: {e}{}", write_hint(&e))))?;
        }
        let stream_tb = octx
            .stream(0)
            .map(|s| s.time_base())
            .unwrap_or(ffmpeg::Rational::new(1, 1000));
        let scaler = to_yuv(width, height, (ew, eh)).map_err(|e| err(format!("scaler: {e}")))?;
        Ok(VideoWriter {
            path: path.to_path_buf(),
            octx,
            encoder,
            scaler,
            width,
            height,
            input: (width, height),
            rescaled: 0,
            stream_tb,
            tb,
            t0: None,
            last_pts: -1,
            frame_ticks: ((f64::from(tb.denominator()) / f64::from(tb.numerator()) / fps).round()
                as i64)
                .max(1),
            frame: AvFrame::empty(),
            src: AvFrame::new(Pixel::RGB24, width, height),
        })
    }

    /// The encoder's frame size (even, see [`VideoWriter::create`]).
    fn frame_width(&self) -> u32 {
        (self.width & !1).max(2)
    }
    fn frame_height(&self) -> u32 {
        (self.height & !1).max(2)
    }

    fn err(&self, m: String) -> AnnotateError {
        AnnotateError {
            path: self.path.clone(),
            message: m,
        }
    }

    /// Frames written at another size than the first, scaled to the video's size.
    pub fn rescaled_frames(&self) -> u64 {
        self.rescaled
    }

    /// The video's size (its first frames').
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Add one RGB frame shown at `timestamp` seconds. A frame of another size than the
    /// first is scaled to the video's size (counted in [`VideoWriter::rescaled_frames`]).
    pub fn write(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
        timestamp: f64,
    ) -> Result<(), AnnotateError> {
        self.write_drawn(rgb, width, height, timestamp, |_| {})
    }

    /// Add one RGB frame with `draw` applied to a copy of its packed pixels (the
    /// encoder's own input frame when its rows are packed, so a 4K frame is not copied
    /// twice). A frame of another size than the first is drawn at its own size and
    /// scaled to the video's.
    pub fn write_drawn(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
        timestamp: f64,
        draw: impl FnOnce(&mut [u8]),
    ) -> Result<(), AnnotateError> {
        if width == 0 || height == 0 || rgb.len() != width as usize * height as usize * 3 {
            return Err(self.err(format!(
                "a frame of {width}x{height} came with {} bytes of RGB",
                rgb.len()
            )));
        }
        if (width, height) != self.input {
            // a stream whose size changes mid-way (a new sequence header, a camera
            // switching modes): scale to the size the video started with
            let size = (self.frame_width(), self.frame_height());
            self.scaler = to_yuv(width, height, size)
                .map_err(|e| self.err(format!("scaler for {width}x{height}: {e}")))?;
            self.src = AvFrame::new(Pixel::RGB24, width, height);
            self.frame = AvFrame::empty();
            self.input = (width, height);
        }
        if (width, height) != (self.width, self.height) {
            self.rescaled += 1;
        }
        let stride = self.src.stride(0);
        let row = 3 * width as usize;
        {
            let dst = self.src.data_mut(0);
            if stride == row {
                let packed = &mut dst[..rgb.len()];
                packed.copy_from_slice(rgb);
                draw(packed);
            } else {
                // padded rows: draw on a packed copy, then lay it into the frame
                let mut buf = rgb.to_vec();
                draw(&mut buf);
                for y in 0..height as usize {
                    dst[y * stride..y * stride + row].copy_from_slice(&buf[y * row..(y + 1) * row]);
                }
            }
        }
        self.scaler
            .run(&self.src, &mut self.frame)
            .map_err(|e| self.err(format!("conversion: {e}")))?;
        let ticks = f64::from(self.tb.denominator()) / f64::from(self.tb.numerator());
        let t0 = *self.t0.get_or_insert(timestamp);
        let pts = (((timestamp - t0) * ticks).round() as i64).max(self.last_pts + 1);
        self.last_pts = pts;
        self.frame.set_pts(Some(pts));
        self.encoder
            .send_frame(&self.frame)
            .map_err(|e| self.err(format!("encoding: {e}")))?;
        self.drain()
    }

    fn drain(&mut self) -> Result<(), AnnotateError> {
        let mut pkt = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut pkt).is_ok() {
            pkt.set_stream(0);
            if pkt.duration() <= 0 {
                pkt.set_duration(self.frame_ticks);
            }
            pkt.rescale_ts(self.tb, self.stream_tb);
            pkt.write_interleaved(&mut self.octx)
                .map_err(|e| AnnotateError {
                    path: self.path.clone(),
                    message: format!("writing: {e}{}", write_hint(&e)),
                })?;
        }
        Ok(())
    }

    /// Flush the encoder and close the file.
    pub fn finish(mut self) -> Result<(), AnnotateError> {
        self.encoder
            .send_eof()
            .map_err(|e| self.err(format!("flushing: {e}")))?;
        self.drain()?;
        self.octx
            .write_trailer()
            .map_err(|e| self.err(format!("trailer: {e}{}", write_hint(&e))))
    }
}

/// What to do about an FFmpeg error of the file itself, for the errors a user can fix.
fn write_hint(e: &ffmpeg::Error) -> &'static str {
    let ffmpeg::Error::Other { errno } = e else {
        return "";
    };
    match std::io::Error::from_raw_os_error(*errno).kind() {
        std::io::ErrorKind::StorageFull => " (the disk is full)",
        std::io::ErrorKind::ReadOnlyFilesystem => {
            " (the disk is read-only: choose another output folder)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (the folder is not writable: choose another output folder or fix its permissions)"
        }
        _ => "",
    }
}

/// The annotated video as a [`Sink`]: each frame's RGB pixels with the faces drawn,
/// encoded as H.264 under the partial name. FFmpeg's encoder is not `Send`: the sink is
/// opened ([`Sink::begin`]) on the thread that feeds it.
pub struct AnnotatedVideo {
    path: PathBuf,
    style: ShapeStyle,
    writer: Option<VideoWriter>,
    /// The output, from when its writing began (or from before, [`Self::with_pending`]).
    pending: Option<Pending>,
}

impl AnnotatedVideo {
    pub fn new(path: impl Into<PathBuf>, style: ShapeStyle) -> Self {
        AnnotatedVideo {
            path: path.into(),
            style,
            writer: None,
            pending: None,
        }
    }

    /// A writer's error named by the output as the user gave it, not its partial file
    /// (which the error message of a run names where it is kept).
    fn named(&self, e: AnnotateError) -> SinkError {
        AnnotateError {
            path: self.path.clone(),
            message: e.message,
        }
        .into()
    }

    /// The video of an output whose writing began earlier (`p`, taken before a first
    /// pass that only tracks, so that a file made during it is not replaced).
    pub fn with_pending(p: Pending, style: ShapeStyle) -> Self {
        AnnotatedVideo {
            path: p.out.clone(),
            style,
            writer: None,
            pending: Some(p),
        }
    }
}

impl Sink for AnnotatedVideo {
    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }
    fn needs_rgb(&self) -> bool {
        true
    }
    fn begin(&mut self, info: &StreamInfo) -> Result<(), SinkError> {
        let fps = info.fps.filter(|f| f.is_finite() && *f > 0.0);
        let pending = self
            .pending
            .take()
            .unwrap_or_else(|| Pending::begin(&self.path));
        let partial = pending.partial.clone();
        // the partial file made (new, locked for this run) before FFmpeg opens it by name;
        // not an output written in place (opening a FIFO here and closing it would end
        // its reader's stream before FFmpeg opens it)
        if !crate::output::output_files::written_in_place(&self.path) {
            if let Err(source) = pending.create() {
                self.pending = Some(pending);
                return Err(SinkError::Create {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        let writer = VideoWriter::create_with_aspect(
            &partial,
            info.width,
            info.height,
            fps.unwrap_or(30.0),
            info.pixel_aspect,
            info.colour,
        );
        match writer {
            Ok(w) => self.writer = Some(w),
            Err(e) => {
                // an encoder that cannot start leaves no empty partial file behind
                pending.discard();
                return Err(self.named(e));
            }
        }
        self.pending = Some(pending);
        Ok(())
    }
    fn frame(&mut self, frame: &Frame, faces: &[TrackedFace]) -> Result<(), SinkError> {
        let (Some(v), Some(rgb)) = (&mut self.writer, frame.rgb()) else {
            return Ok(());
        };
        let (w, h) = (frame.width(), frame.height());
        // the frame may go to other sinks too: drawn on the encoder's copy
        let style = self.style;
        v.write_drawn(rgb, w, h, frame.timestamp, |px| {
            draw_faces(px, w, h, faces, true, true, style)
        })
        .map_err(|e| AnnotateError {
            path: self.path.clone(),
            message: e.message,
        })?;
        Ok(())
    }
    fn finish(&mut self, how: Finish) -> Result<(), SinkError> {
        let Some(v) = self.writer.take() else {
            return Ok(());
        };
        let (rescaled, (w, h)) = (v.rescaled_frames(), v.size());
        if rescaled > 0 {
            // (not named by its path: Python writes it under a temporary name)
            eprintln!(
                "note: the video's frame size changed mid-way; in the annotated video \
                 {rescaled} frames of another size were scaled to the first frames' {w}x{h}"
            );
        }
        // close the video even after an error so what was written stays playable
        let closed = v.finish();
        if how != Finish::Discard {
            closed.map_err(|e| self.named(e))?;
        }
        match &self.pending {
            Some(p) => settle(p, how),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::source::FrameSource;
    use crate::capture::video::VideoFile;

    fn gradient(w: u32, h: u32, t: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&[(x * 4 + t) as u8, (y * 3) as u8, 128]);
            }
        }
        v
    }

    #[test]
    fn frames_after_a_size_change_are_scaled_into_the_video_not_dropped() {
        let dir = std::env::temp_dir().join(format!("facetrack-annotate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sizes.mp4");
        let mut w = VideoWriter::create(&path, 64, 48, 25.0).unwrap();
        for i in 0..20u32 {
            // the second half comes at another size and another aspect ratio
            let (fw, fh) = if i < 10 { (64, 48) } else { (90, 50) };
            w.write(&gradient(fw, fh, i), fw, fh, i as f64 / 25.0)
                .unwrap();
        }
        assert_eq!(w.rescaled_frames(), 10);
        // a buffer that does not match its size is an error, not a silent drop
        assert!(w.write(&[0u8; 10], 64, 48, 1.0).is_err());
        w.finish().unwrap();

        let mut src = VideoFile::open(&path, false).unwrap();
        let mut n = 0;
        while let Some(f) = src.next_frame().unwrap() {
            assert_eq!((f.width(), f.height()), (64, 48));
            n += 1;
        }
        assert_eq!(n, 20, "every frame, of either size, is in the video");
        std::fs::remove_dir_all(&dir).ok();
    }
}
