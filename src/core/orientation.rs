//! Which way up a picture is shown: the eight quarter turns and mirrors (EXIF
//! orientations, a video stream's display matrix), read from FFmpeg's display matrix and
//! applied to packed pixel buffers, so that frames are tracked as players show them.

pub use image::metadata::Orientation;

use crate::core::geometry::Point;

/// Which way up a picture or video is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrientationRule {
    /// Apply the file's orientation (a photo's EXIF tag, a video's display matrix): the
    /// displayed orientation, the default.
    #[default]
    Apply,
    /// Keep the pixels as they are stored, ignoring the tag.
    Keep,
}

/// A video's orientation tag and whether its frames are turned by it; and the shape of
/// its stored pixels where they are not square, and whether frames are resampled to
/// square pixels (as players show them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOrientation {
    /// What the stream's display matrix asks for (`NoTransforms` without one).
    pub tag: Orientation,
    /// Whether frames come turned by `tag` (false with [`OrientationRule::Keep`]).
    pub applied: bool,
    /// The stored pixels' shape as shown (width:height) where it is not square (DV,
    /// DVD, HDV).
    pub pixel_aspect: Option<(i32, i32)>,
    /// Whether frames come resampled to square pixels (with [`OrientationRule::Apply`]).
    pub squared: bool,
}

impl Default for StreamOrientation {
    fn default() -> Self {
        StreamOrientation {
            tag: Orientation::NoTransforms,
            applied: false,
            pixel_aspect: None,
            squared: false,
        }
    }
}

/// The size of a `width`x`height` frame of stored pixels `aspect` (width:height) wide
/// resampled to square pixels as FFmpeg's `scale=iw*sar:ih` makes them: the width
/// follows the pixels' shape, the height stays (DV's 720x480 at 8:9 becomes 640x480,
/// HDV's 1440x1080 at 4:3 1920x1080).
pub fn squared_size(width: u32, height: u32, (n, d): (i32, i32)) -> (u32, u32) {
    let r = f64::from(n) / f64::from(d);
    (((f64::from(width) * r).round() as u32).max(1), height)
}

/// Whether pixels of shape `aspect` (width:height) are far enough from square to be
/// resampled: a shape within 1 % of square (FFmpeg's scaler gives 360:359 to a frame
/// cut by one pixel) moves no point measurably and is left as it is.
pub fn needs_squaring((n, d): (i32, i32)) -> bool {
    n > 0 && d > 0 && (f64::from(n) / f64::from(d) - 1.0).abs() > 0.01
}

impl StreamOrientation {
    /// The turn applied to the frames.
    pub fn turn(&self) -> Orientation {
        if self.applied {
            self.tag
        } else {
            Orientation::NoTransforms
        }
    }
    /// For the summary line: `None` for a stream without a turn and with square pixels;
    /// otherwise which orientation and pixel shape the frames (and so the coordinates)
    /// are in.
    pub fn summary(&self, width: u32, height: u32) -> Option<String> {
        let turned = self.applied && self.tag != Orientation::NoTransforms;
        let pixels = self.pixel_aspect.map(|(n, d)| {
            if self.squared && turned {
                format!("square pixels: the stored pixels, {n}:{d} as shown, resampled")
            } else if self.squared {
                format!(
                    "square pixels {width}x{height}: the stored pixels, {n}:{d} as shown, resampled"
                )
            } else {
                format!("stored pixels kept (--keep-orientation), {n}:{d} as shown")
            }
        });
        match (self.turn_summary(width, height), pixels) {
            (None, p) => p,
            (t, None) => t,
            (Some(t), Some(p)) => Some(format!("{t}; {p}")),
        }
    }

    fn turn_summary(&self, width: u32, height: u32) -> Option<String> {
        if self.tag == Orientation::NoTransforms {
            return None;
        }
        Some(if self.applied && self.squared {
            format!(
                "displayed orientation {width}x{height}: the stored frames {} by the video's display matrix",
                describe(self.tag)
            )
        } else if self.applied {
            let (sw, sh) = turned_size(self.tag, width, height);
            format!(
                "displayed orientation {width}x{height}: the stored {sw}x{sh} frames {} by the video's display matrix",
                describe(self.tag)
            )
        } else {
            let (dw, dh) = turned_size(self.tag, width, height);
            format!(
                "stored orientation {width}x{height} kept (--keep-orientation; players show it {dw}x{dh}, {})",
                describe(self.tag)
            )
        })
    }
}

/// How far (degrees) a display matrix's angle may be from a quarter turn and still count
/// as one (FFmpeg's own tolerance when it turns frames for display).
const QUARTER_TOLERANCE_DEG: f64 = 1.0;

/// The turn a video's display matrix asks for (FFmpeg's `AV_PKT_DATA_DISPLAYMATRIX`: nine
/// `i32`, the first two columns 16.16 fixed point), as FFmpeg's command line applies it:
/// the angle of `av_display_rotation_get` rounded to a quarter turn, and a mirror when the
/// matrix flips. `None` when the angle is no quarter turn (such a tag is not applied).
pub fn from_display_matrix(m: &[i32; 9]) -> Option<Orientation> {
    let fp = |v: i32| v as f64 / 65536.0;
    let scale0 = fp(m[0]).hypot(fp(m[3]));
    let scale1 = fp(m[1]).hypot(fp(m[4]));
    if scale0 == 0.0 || scale1 == 0.0 {
        return None;
    }
    // minus av_display_rotation_get (the counter-clockwise angle): the clockwise turn
    // that shows the frame upright
    let mut theta = (fp(m[1]) / scale1).atan2(fp(m[0]) / scale0).to_degrees();
    theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
    let near = |a: f64| (theta - a).abs() < QUARTER_TOLERANCE_DEG;
    Some(if near(90.0) {
        if m[3] > 0 {
            Orientation::Rotate90FlipH
        } else {
            Orientation::Rotate90
        }
    } else if near(180.0) {
        match (m[0] < 0, m[4] < 0) {
            (true, true) => Orientation::Rotate180,
            (true, false) => Orientation::FlipHorizontal,
            (false, true) => Orientation::FlipVertical,
            (false, false) => Orientation::NoTransforms,
        }
    } else if near(270.0) {
        if m[3] < 0 {
            Orientation::Rotate270FlipH
        } else {
            Orientation::Rotate270
        }
    } else if near(0.0) || near(360.0) {
        if m[4] < 0 {
            Orientation::FlipVertical
        } else {
            Orientation::NoTransforms
        }
    } else {
        return None;
    })
}

/// Whether `o` swaps width and height.
pub fn swaps_sides(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Size of a `width` × `height` picture once `o` is applied.
pub fn turned_size(o: Orientation, width: u32, height: u32) -> (u32, u32) {
    if swaps_sides(o) {
        (height, width)
    } else {
        (width, height)
    }
}

/// Where the shown pixel `(x, y)` comes from in the stored `width` × `height` picture.
#[inline(always)]
fn source_of(o: Orientation, x: usize, y: usize, width: usize, height: usize) -> (usize, usize) {
    let (w1, h1) = (width - 1, height - 1);
    match o {
        Orientation::NoTransforms => (x, y),
        Orientation::Rotate90 => (y, h1 - x),
        Orientation::Rotate180 => (w1 - x, h1 - y),
        Orientation::Rotate270 => (w1 - y, x),
        Orientation::FlipHorizontal => (w1 - x, y),
        Orientation::FlipVertical => (x, h1 - y),
        Orientation::Rotate90FlipH => (y, x),
        Orientation::Rotate270FlipH => (w1 - y, h1 - x),
    }
}

/// The orientation that undoes `o` (applied to the shown picture, it gives the stored one).
pub fn inverse(o: Orientation) -> Orientation {
    match o {
        Orientation::Rotate90 => Orientation::Rotate270,
        Orientation::Rotate270 => Orientation::Rotate90,
        other => other,
    }
}

/// A stored point in the shown picture's coordinates (0-based pixel centres).
pub fn shown_point(o: Orientation, p: Point, width: u32, height: u32) -> Point {
    let (w1, h1) = (width as f32 - 1.0, height as f32 - 1.0);
    let (x, y) = (p.x, p.y);
    let (sx, sy) = match o {
        Orientation::NoTransforms => (x, y),
        Orientation::Rotate90 => (h1 - y, x),
        Orientation::Rotate180 => (w1 - x, h1 - y),
        Orientation::Rotate270 => (y, w1 - x),
        Orientation::FlipHorizontal => (w1 - x, y),
        Orientation::FlipVertical => (x, h1 - y),
        Orientation::Rotate90FlipH => (y, x),
        Orientation::Rotate270FlipH => (h1 - y, w1 - x),
    };
    Point::new(sx, sy)
}

/// The packed pixels `src` (`channels` bytes a pixel, rows without padding) of a `width` ×
/// `height` picture as shown under `o`; returns the pixels and the shown size.
pub fn turn_pixels(
    o: Orientation,
    src: &[u8],
    width: u32,
    height: u32,
    channels: usize,
) -> (Vec<u8>, u32, u32) {
    let (w, h) = (width as usize, height as usize);
    let (dw, dh) = turned_size(o, width, height);
    if o == Orientation::NoTransforms || w == 0 || h == 0 || src.len() < w * h * channels {
        return (src.to_vec(), width, height);
    }
    let mut out = vec![0u8; w * h * channels];
    let (dw, dh) = (dw as usize, dh as usize);
    match channels {
        1 => turn_tiles::<1>(o, src, &mut out, (w, h), (dw, dh)),
        3 => turn_tiles::<3>(o, src, &mut out, (w, h), (dw, dh)),
        4 => turn_tiles::<4>(o, src, &mut out, (w, h), (dw, dh)),
        _ => {
            let row = dw * channels;
            for (y, dst) in out.chunks_exact_mut(row).enumerate() {
                for x in 0..dw {
                    let (sx, sy) = source_of(o, x, y, w, h);
                    let s = (sy * w + sx) * channels;
                    dst[x * channels..(x + 1) * channels].copy_from_slice(&src[s..s + channels]);
                }
            }
        }
    }
    (out, dw as u32, dh as u32)
}

/// Side of the square tiles [`turn_tiles`] writes, pixels.
const TILE: usize = 64;

/// [`turn_pixels`] for `C` bytes a pixel: the shown picture (`dw × dh`) written in tiles,
/// each row of a tile read from the stored one (`w × h`) at a fixed step. A quarter turn
/// reads the stored picture down its columns: a tile's rows read the same cache lines
/// one after another. A gray picture's quarter turns go 8×8 pixels at a time
/// ([`quarter_turn_blocks`]).
fn turn_tiles<const C: usize>(
    o: Orientation,
    src: &[u8],
    out: &mut [u8],
    (w, h): (usize, usize),
    (dw, dh): (usize, usize),
) {
    // the stored pixel shown at (x, y) is origin + x * step_x + y * step_y ([`source_of`])
    let (sw, w1, h1) = (w as isize, w as isize - 1, h as isize - 1);
    let affine = match o {
        Orientation::NoTransforms => (0, 1, sw),
        Orientation::Rotate90 => (h1 * sw, -sw, 1),
        Orientation::Rotate180 => (h1 * sw + w1, -1, -sw),
        Orientation::Rotate270 => (w1, sw, -1),
        Orientation::FlipHorizontal => (w1, -1, sw),
        Orientation::FlipVertical => (h1 * sw, 1, -sw),
        Orientation::Rotate90FlipH => (0, sw, 1),
        Orientation::Rotate270FlipH => (h1 * sw + w1, -sw, -1),
    };
    let copy = |out: &mut [u8], xs: std::ops::Range<usize>, ys: std::ops::Range<usize>| {
        copy_shown::<C>(affine, src, out, dw, xs, ys)
    };
    if C == 1 && swaps_sides(o) {
        let (bw, bh) = (dw / 8 * 8, dh / 8 * 8);
        quarter_turn_blocks(o, src, out, (w, h), (bw, bh), dw);
        copy(out, bw..dw, 0..dh);
        copy(out, 0..bw, bh..dh);
        return;
    }
    for ty in (0..dh).step_by(TILE) {
        for tx in (0..dw).step_by(TILE) {
            copy(out, tx..(tx + TILE).min(dw), ty..(ty + TILE).min(dh));
        }
    }
}

/// The shown pixels `xs × ys` of a picture `dw` wide, each from the stored pixel
/// `origin + x * step_x + y * step_y` (`affine`), `C` bytes a pixel.
fn copy_shown<const C: usize>(
    (origin, step_x, step_y): (isize, isize, isize),
    src: &[u8],
    out: &mut [u8],
    dw: usize,
    xs: std::ops::Range<usize>,
    ys: std::ops::Range<usize>,
) {
    if xs.is_empty() {
        return;
    }
    for y in ys {
        let mut s = origin + y as isize * step_y + xs.start as isize * step_x;
        for px in out[(y * dw + xs.start) * C..(y * dw + xs.end) * C].chunks_exact_mut(C) {
            let at = s as usize * C;
            px.copy_from_slice(&src[at..at + C]);
            s += step_x;
        }
    }
}

/// A gray picture's quarter turn (with or without a mirror), the shown `bw × bh` pixels
/// (multiples of 8) of a picture `dw` wide: each 8×8 block read as 8 words of 8 stored
/// pixels, one stored row each, and transposed in registers into 8 shown rows.
fn quarter_turn_blocks(
    o: Orientation,
    src: &[u8],
    out: &mut [u8],
    (w, h): (usize, usize),
    (bw, bh): (usize, usize),
    dw: usize,
) {
    // the shown (x, y) is the stored (column(y), row(x)) ([`source_of`])
    let (rows_down, columns_right) = match o {
        Orientation::Rotate90 => (false, true),
        Orientation::Rotate270 => (true, false),
        Orientation::Rotate90FlipH => (true, true),
        Orientation::Rotate270FlipH => (false, false),
        _ => unreachable!("quarter turns only (turn_tiles checks swaps_sides)"),
    };
    for bx in (0..bw).step_by(8) {
        for by in (0..bh).step_by(8) {
            // the stored columns of shown rows by..by + 8, as one word of 8 bytes
            let c0 = if columns_right { by } else { w - 1 - (by + 7) };
            let mut m = [0u64; 8];
            for (i, word) in m.iter_mut().enumerate() {
                let row = if rows_down { bx + i } else { h - 1 - (bx + i) };
                let at = row * w + c0;
                let v = u64::from_le_bytes(src[at..at + 8].try_into().expect("8 bytes"));
                *word = if columns_right { v } else { v.swap_bytes() };
            }
            transpose_bytes(&mut m);
            for (j, word) in m.iter().enumerate() {
                let at = (by + j) * dw + bx;
                out[at..at + 8].copy_from_slice(&word.to_le_bytes());
            }
        }
    }
}

/// Transpose the 8×8 bytes of `m` (row i, byte j: little-endian) in place: 2×2 blocks
/// of bytes, then of 2-byte pairs, then of 4-byte halves are swapped across the diagonal.
fn transpose_bytes(m: &mut [u64; 8]) {
    for (shift, mask, pairs) in [
        (
            8,
            0x00FF_00FF_00FF_00FF_u64,
            [(0, 1), (2, 3), (4, 5), (6, 7)],
        ),
        (16, 0x0000_FFFF_0000_FFFF, [(0, 2), (1, 3), (4, 6), (5, 7)]),
        (32, 0x0000_0000_FFFF_FFFF, [(0, 4), (1, 5), (2, 6), (3, 7)]),
    ] {
        for (a, b) in pairs {
            let t = ((m[a] >> shift) ^ m[b]) & mask;
            m[b] ^= t;
            m[a] ^= t << shift;
        }
    }
}

/// A short phrase for the summary line: how the shown frames relate to the stored ones.
pub fn describe(o: Orientation) -> &'static str {
    match o {
        Orientation::NoTransforms => "as stored",
        Orientation::Rotate90 => "turned 90° clockwise",
        Orientation::Rotate180 => "turned 180°",
        Orientation::Rotate270 => "turned 90° counter-clockwise",
        Orientation::FlipHorizontal => "mirrored left-right",
        Orientation::FlipVertical => "mirrored top-bottom",
        Orientation::Rotate90FlipH => "transposed (turned 90° clockwise and mirrored)",
        Orientation::Rotate270FlipH => {
            "anti-transposed (turned 90° counter-clockwise and mirrored)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Orientation; 8] = [
        Orientation::NoTransforms,
        Orientation::Rotate90,
        Orientation::Rotate180,
        Orientation::Rotate270,
        Orientation::FlipHorizontal,
        Orientation::FlipVertical,
        Orientation::Rotate90FlipH,
        Orientation::Rotate270FlipH,
    ];

    /// 16.16 display matrix of FFmpeg's `av_display_rotation_set(m, angle)` (a clockwise
    /// turn), optionally flipped as `av_display_matrix_flip`.
    fn matrix(cw_deg: f64, hflip: bool, vflip: bool) -> [i32; 9] {
        let (s, c) = (-cw_deg).to_radians().sin_cos();
        let fx = |v: f64| (v * 65536.0).round() as i32;
        let mut m = [fx(c), fx(-s), 0, fx(s), fx(c), 0, 0, 0, 1 << 30];
        let (fh, fv) = (if hflip { -1 } else { 1 }, if vflip { -1 } else { 1 });
        for i in 0..3 {
            m[i * 3] *= fh;
            m[i * 3 + 1] *= fv;
        }
        m
    }

    #[test]
    fn the_rotation_tags_of_phone_videos_give_their_quarter_turns() {
        // what the MP4 muxer writes for a "rotate=90" tag (shown turned 90° clockwise)
        let rotate90 = [0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30];
        assert_eq!(from_display_matrix(&rotate90), Some(Orientation::Rotate90));
        assert_eq!(
            from_display_matrix(&matrix(90.0, false, false)),
            Some(Orientation::Rotate90)
        );
        assert_eq!(
            from_display_matrix(&matrix(90.0, true, false)),
            Some(Orientation::Rotate90FlipH)
        );
        assert_eq!(
            from_display_matrix(&matrix(180.0, false, false)),
            Some(Orientation::Rotate180)
        );
        assert_eq!(
            from_display_matrix(&matrix(270.0, false, false)),
            Some(Orientation::Rotate270)
        );
        assert_eq!(
            from_display_matrix(&matrix(0.0, false, false)),
            Some(Orientation::NoTransforms)
        );
        assert_eq!(
            from_display_matrix(&matrix(0.0, true, false)),
            Some(Orientation::FlipHorizontal)
        );
        assert_eq!(
            from_display_matrix(&matrix(0.0, false, true)),
            Some(Orientation::FlipVertical)
        );
        assert_eq!(from_display_matrix(&matrix(45.0, false, false)), None);
        assert_eq!(from_display_matrix(&[0; 9]), None);
    }

    /// `px` (`c` bytes a pixel: gray, RGB or RGBA) turned by the image crate, and its size.
    fn image_crate_turn(o: Orientation, px: &[u8], w: u32, h: u32, c: u32) -> (Vec<u8>, u32, u32) {
        let v = px.to_vec();
        let mut im = match c {
            1 => image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, v).unwrap()),
            3 => image::DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, v).unwrap()),
            _ => image::DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, v).unwrap()),
        };
        im.apply_orientation(o);
        let (tw, th) = (im.width(), im.height());
        let raw = match c {
            1 => im.to_luma8().into_raw(),
            3 => im.to_rgb8().into_raw(),
            _ => im.to_rgba8().into_raw(),
        };
        (raw, tw, th)
    }

    #[test]
    fn turning_pictures_larger_than_a_tile_matches_the_image_crate() {
        // sizes that are not multiples of the tile, gray, RGB and RGBA
        let (w, h) = (TILE as u32 * 2 + 3, TILE as u32 + 7);
        for o in ALL {
            for c in [1u32, 3, 4] {
                let px: Vec<u8> = (0..w * h * c).map(|v| (v * 7 + v / 251) as u8).collect();
                assert_eq!(
                    turn_pixels(o, &px, w, h, c as usize),
                    image_crate_turn(o, &px, w, h, c),
                    "{o:?}, {c} bytes a pixel"
                );
            }
            // every size of the 8×8 blocks' edges, one row and one column among them
            for (w, h) in (1u32..=17).flat_map(|w| (1u32..=17).map(move |h| (w, h))) {
                let g: Vec<u8> = (0..w * h).map(|v| v as u8).collect();
                assert_eq!(
                    turn_pixels(o, &g, w, h, 1),
                    image_crate_turn(o, &g, w, h, 1),
                    "{o:?} {w}x{h}"
                );
            }
        }
    }

    #[test]
    fn turning_pixels_matches_the_image_crate_and_points_follow() {
        let (w, h) = (5u32, 3u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|v| v as u8).collect();
        for o in ALL {
            let (got, gw, gh) = turn_pixels(o, &rgb, w, h, 3);
            let mut im = image::DynamicImage::ImageRgb8(
                image::RgbImage::from_raw(w, h, rgb.clone()).unwrap(),
            );
            im.apply_orientation(o);
            assert_eq!((gw, gh), (im.width(), im.height()), "{o:?}");
            assert_eq!(got, im.to_rgb8().into_raw(), "{o:?}");
            // the stored pixel (x, y) is shown at shown_point(x, y)
            for (x, y) in [(0u32, 0u32), (4, 0), (1, 2), (3, 1)] {
                let q = shown_point(o, Point::new(x as f32, y as f32), w, h);
                let k = ((q.y as u32 * gw + q.x as u32) * 3) as usize;
                let s = ((y * w + x) * 3) as usize;
                assert_eq!(got[k..k + 3], rgb[s..s + 3], "{o:?} at ({x}, {y})");
                // and the inverse turn brings it back
                let p = shown_point(inverse(o), q, gw, gh);
                assert_eq!((p.x, p.y), (x as f32, y as f32), "{o:?} inverse");
            }
        }
    }
}
