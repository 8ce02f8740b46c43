//! Cutting a face crop out of a grayscale frame into the model's input tensor: a
//! similarity warp with area-averaged (supersampled) bilinear sampling, pixel
//! normalisation, written into caller-owned buffers that are reused frame after frame.

use crate::core::geometry::{CropPoint, CropTransform};
use crate::core::image::GrayImage;
use crate::core::pixels::Pixels;

/// Most sub-samples per axis when shrinking: enough to average away aliasing for the
/// face sizes a tracker sees (a 512-pixel face into a 128 input is 4:1).
const MAX_SUPERSAMPLE: u32 = 4;

pub use crate::core::contract::Normalization;

/// A turned crop that shrinks its source this much or more is block-averaged first
/// (see [`sample_crop`]).
const REDUCE_FROM: f32 = 2.0;

/// Sample the crop `t` of `img` into `out` (row-major `out_w * out_h` floats, one channel).
///
/// Each output pixel averages `k × k` bilinear samples spread over its footprint in the
/// source, with `k = ceil(source pixels per output pixel)` (at most [`MAX_SUPERSAMPLE`]),
/// so downscaling does not alias. Samples that fall outside the image count as the mean
/// grey (0 after normalisation): the crop is padded, never stretched.
///
/// A turned crop that shrinks its source 2:1 or more (a face of over 150 pixels into a
/// 112 input) first averages the `m × m` blocks of the part of the image it covers
/// (`m` = half the shrink rounded up, so 1-2 source pixels per output pixel remain) and
/// then samples that with `k <= 2` sub-samples an axis (instead of 3-4): about the same
/// area average, at a cost that follows the face's pixels, read once, and no longer
/// undersampled past 4:1.
pub fn sample_crop(
    img: &GrayImage,
    t: &CropTransform,
    out_w: u32,
    out_h: u32,
    norm: Normalization,
    out: &mut [f32],
) {
    sample(&Window::of(img), t, out_w, out_h, norm, out, true)
}

/// [`sample_crop`] of `t` at the input size and normalisation of `contract`'s model,
/// appended to `out` (a batch of crops being gathered, as the tools that dump them do).
pub fn append_crop(
    img: &GrayImage,
    t: &CropTransform,
    contract: &crate::core::contract::ModelContract,
    out: &mut Vec<f32>,
) {
    let (w, h) = (contract.input_width, contract.input_height);
    let start = out.len();
    out.resize(start + (w * h) as usize, 0.0);
    sample_crop(img, t, w, h, contract.normalization, &mut out[start..]);
}

/// [`sample_crop`] of a frame of `frame_w × frame_h` from `part`, the part of it that
/// starts at `origin` and covers the crop (as [`crop_region`] cuts it): the same values
/// as sampling the whole frame, bit for bit.
#[allow(clippy::too_many_arguments)]
pub fn sample_crop_from_part(
    part: &GrayImage,
    origin: (u32, u32),
    frame: (u32, u32),
    t: &CropTransform,
    out_w: u32,
    out_h: u32,
    norm: Normalization,
    out: &mut [f32],
) {
    let win = Window {
        data: part.data(),
        stride: part.width() as usize,
        ox: origin.0 as usize,
        oy: origin.1 as usize,
        w: frame.0 as usize,
        h: frame.1 as usize,
    };
    sample(&win, t, out_w, out_h, norm, out, true)
}

/// Pixels of a frame of `w × h`, of which `data` holds the rows from `oy` and the columns
/// from `ox` on (`stride` bytes a row): frame pixel (x, y) is
/// `data[(y - oy) * stride + x - ox]`. Positions are worked out in frame coordinates, so
/// sampling a part gives the whole frame's values exactly.
struct Window<'a> {
    data: &'a [u8],
    stride: usize,
    ox: usize,
    oy: usize,
    w: usize,
    h: usize,
}

impl<'a> Window<'a> {
    fn of(img: &'a GrayImage) -> Self {
        Window {
            data: img.data(),
            stride: img.width() as usize,
            ox: 0,
            oy: 0,
            w: img.width() as usize,
            h: img.height() as usize,
        }
    }
    /// Frame row `y` from frame column `x0` to `x1`.
    #[inline(always)]
    fn row(&self, y: usize, x0: usize, x1: usize) -> &'a [u8] {
        let start = (y - self.oy) * self.stride;
        &self.data[start + x0 - self.ox..start + x1 - self.ox]
    }
    /// Index of frame pixel (x, y) in `data`.
    #[inline(always)]
    fn at(&self, x: usize, y: usize) -> usize {
        (y - self.oy) * self.stride + x - self.ox
    }
}

#[allow(clippy::too_many_arguments)]
fn sample(
    img: &Window,
    t: &CropTransform,
    out_w: u32,
    out_h: u32,
    norm: Normalization,
    out: &mut [f32],
    reduce: bool,
) {
    let n = out_w as usize * out_h as usize;
    let n = n.min(out.len());
    let out = &mut out[..n];
    if img.w == 0 || img.h == 0 {
        out.fill(0.0);
        return;
    }
    let (sx, sy) = t.pixel_scale(out_w, out_h);
    let kx = (sx.ceil() as u32).clamp(1, MAX_SUPERSAMPLE);
    let ky = (sy.ceil() as u32).clamp(1, MAX_SUPERSAMPLE);
    if t.angle == 0.0 {
        sample_axis_aligned(img, t, out_w, out_h, kx, ky, norm, out);
        return;
    }
    let shrink = sx.min(sy);
    if reduce && shrink >= REDUCE_FROM {
        let m = ((shrink / 2.0).ceil() as u32).max(2);
        if let Some((small, ts)) = reduce_region(img, t, m) {
            sample(&Window::of(&small), &ts, out_w, out_h, norm, out, false);
            return;
        }
    }
    let inv_k = 1.0 / (kx * ky) as f32;
    let scale = 1.0 / (255.0 * norm.std);
    let offset = norm.mean / norm.std;
    let pad = norm.mean * 255.0; // mean grey, so padded pixels normalise to 0

    // Crop coordinate of sub-sample (i, a) along an axis of `m` pixels with `k` sub-samples.
    let step_x = 2.0 / out_w as f32;
    let step_y = 2.0 / out_h as f32;
    let (sin, cos) = t.angle.sin_cos();
    // d(image)/d(crop x) and d(image)/d(crop y) in pixels
    let ax = (cos * t.half_w, sin * t.half_w);
    let ay = (-sin * t.half_h, cos * t.half_h);

    let w = img.w as i64;
    let h = img.h as i64;
    let (wf, hf) = (w as f32 - 0.5, h as f32 - 0.5);
    let wu = img.stride;
    let data = img.data;
    let fetch = |x: f32, y: f32| -> f32 {
        // bilinear on pixel centres; outside [-0.5, size-0.5] is padding
        if !(x >= -0.5 && y >= -0.5 && x <= wf && y <= hf) {
            return pad;
        }
        let (x0, fx) = floor_frac(x);
        let (y0, fy) = floor_frac(y);
        let x1 = (x0 + 1).min(w - 1) as usize;
        let y1 = (y0 + 1).min(h - 1) as usize;
        let x0 = x0.max(0) as usize;
        let y0 = y0.max(0) as usize;
        let p00 = data[img.at(x0, y0)] as f32;
        let p01 = data[img.at(x1, y0)] as f32;
        let p10 = data[img.at(x0, y1)] as f32;
        let p11 = data[img.at(x1, y1)] as f32;
        let top = p00 + (p01 - p00) * fx;
        let bot = p10 + (p11 - p10) * fx;
        top + (bot - top) * fy
    };

    // Each sub-sample's image position is `(c + cx * a) + cy * b`, evaluated in that
    // order as before; the column part is computed once per column sub-sample.
    let kxu = kx as usize;
    let cols: Vec<(f32, f32)> = (0..out_w)
        .flat_map(|i| {
            (0..kx).map(move |a| -1.0 + step_x * (i as f32 + (a as f32 + 0.5) / kx as f32))
        })
        .map(|cx| (t.center.x + cx * ax.0, t.center.y + cx * ax.1))
        .collect();
    // a crop wholly inside the image (one pixel to spare) needs no padding or clamping
    let ex = ax.0.abs() + ay.0.abs();
    let ey = ax.1.abs() + ay.1.abs();
    let inside = t.center.x - ex >= 1.0
        && t.center.y - ey >= 1.0
        && t.center.x + ex <= w as f32 - 3.0
        && t.center.y + ey <= h as f32 - 3.0;
    // 8 output pixels at a time with AVX2 where every read stays in `data`: the same
    // operations in the same order per pixel, so the same values bit for bit; a crop that
    // reaches past the frame's edge the same way on a copy of the pixels around it, the
    // frame's edge repeated outwards and the positions off the frame masked to the padding
    #[cfg(target_arch = "x86_64")]
    let simd = if simd::available() {
        let make = if inside {
            simd::Columns::new
        } else {
            simd::Columns::padded
        };
        make(
            img,
            &cols,
            kxu,
            out_w as usize,
            (t.center.x, t.center.y),
            (ex, ey),
        )
    } else {
        None
    };
    let mut rows = Vec::with_capacity(ky as usize);
    for j in 0..out_h {
        rows.clear();
        rows.extend((0..ky).map(|b| {
            let cy = -1.0 + step_y * (j as f32 + (b as f32 + 0.5) / ky as f32);
            (cy * ay.0, cy * ay.1)
        }));
        let orow = &mut out[(j * out_w) as usize..((j + 1) * out_w) as usize];
        #[allow(unused_mut)]
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if let Some(c) = &simd {
            // SAFETY: `Columns::new` checked AVX2 and that every read of this crop is in
            // `data`; `Columns::padded` checked AVX2, and its reads stay in its own copy
            done = unsafe {
                if inside {
                    c.row(data, wu, &rows, inv_k, scale, offset, orow)
                } else {
                    c.row_padded(&rows, inv_k, scale, offset, pad, orow)
                }
            };
        }
        for (i, o) in orow.iter_mut().enumerate().skip(done) {
            let mut acc = 0.0f32;
            let cs = &cols[i * kxu..(i + 1) * kxu];
            if inside {
                let bilinear = |x: f32, y: f32| -> f32 {
                    let (x0, fx) = floor_frac(x);
                    let (y0, fy) = floor_frac(y);
                    let at = img.at(x0 as usize, y0 as usize);
                    let (r0, r1) = (&data[at..at + 2], &data[at + wu..at + wu + 2]);
                    let (p00, p01) = (r0[0] as f32, r0[1] as f32);
                    let (p10, p11) = (r1[0] as f32, r1[1] as f32);
                    let top = p00 + (p01 - p00) * fx;
                    let bot = p10 + (p11 - p10) * fx;
                    top + (bot - top) * fy
                };
                // fixed sub-sample counts unroll (the same sums, in the same order)
                match (cs.len(), rows.len()) {
                    (2, 2) => acc = grid::<2>(cs, &rows, bilinear),
                    (3, 3) => acc = grid::<3>(cs, &rows, bilinear),
                    (4, 4) => acc = grid::<4>(cs, &rows, bilinear),
                    _ => {
                        for &(dx, dy) in &rows {
                            for &(bx, by) in cs {
                                acc += bilinear(bx + dx, by + dy);
                            }
                        }
                    }
                }
            } else {
                for &(dx, dy) in &rows {
                    for &(bx, by) in cs {
                        acc += fetch(bx + dx, by + dy);
                    }
                }
            }
            *o = acc * inv_k * scale - offset;
        }
    }
}

/// The part of a frame that crop `t` (sampled into `out_w × out_h`) reads, as a gray
/// image, and where it starts in the frame: [`sample_crop_from_part`] on it gives the
/// crop of the whole frame, bit for bit (a margin inside the frame wide enough for every
/// sample and for the block-averaging of large crops). A colour frame is converted only
/// there.
pub fn crop_region<P: Pixels + ?Sized>(
    img: &P,
    t: &CropTransform,
    out_w: u32,
    out_h: u32,
) -> (GrayImage, (u32, u32)) {
    let (sx, sy) = t.pixel_scale(out_w, out_h);
    let (sin, cos) = t.angle.sin_cos();
    let ex = (cos * t.half_w).abs() + (sin * t.half_h).abs();
    let ey = (sin * t.half_w).abs() + (cos * t.half_h).abs();
    // wide enough for the bilinear taps and for the three blocks of margin that
    // block-averaging a large crop reads (`reduce_region`)
    let margin = 2.0 * sx.max(sy).ceil() + 4.0;
    let clip = |v: f32, hi: u32| v.clamp(0.0, hi as f32) as u32;
    let x0 = clip((t.center.x - ex - margin).floor(), img.width());
    let y0 = clip((t.center.y - ey - margin).floor(), img.height());
    let x1 = clip((t.center.x + ex + margin).ceil() + 1.0, img.width());
    let y1 = clip((t.center.y + ey + margin).ceil() + 1.0, img.height());
    (img.gray_rect(x0, y0, x1, y1), (x0, y0))
}

/// The part of `img` that crop `t` reads (its turned rectangle's bounding box and a margin
/// of three blocks), shrunk by `m` (each pixel the mean of an `m × m` block), and `t` in
/// that small image's coordinates. `None` unless that part lies wholly inside the image:
/// a crop that reaches past the image's edge is sampled directly, so padding starts
/// exactly at the edge.
fn reduce_region(img: &Window, t: &CropTransform, m: u32) -> Option<(GrayImage, CropTransform)> {
    let (w, h) = (img.w as i64, img.h as i64);
    let (sin, cos) = t.angle.sin_cos();
    let ex = (cos * t.half_w).abs() + (sin * t.half_h).abs();
    let ey = (sin * t.half_w).abs() + (cos * t.half_h).abs();
    let mi = m as i64;
    // three blocks and a pixel: the reduced crop then lies inside the small image with
    // room for the bilinear taps, so it is sampled without edge checks (and with AVX2)
    let margin = 3.0 * m as f32 + 1.0;
    let lo = |c: f32, e: f32| (c - e - margin).floor() as i64;
    let x0 = lo(t.center.x, ex);
    let y0 = lo(t.center.y, ey);
    let x1 = (t.center.x + ex + margin).ceil() as i64 + 1;
    let y1 = (t.center.y + ey + margin).ceil() as i64 + 1;
    if x0 < 0 || y0 < 0 || x1 > w || y1 > h || x1 <= x0 || y1 <= y0 {
        return None;
    }
    // a part of a frame must hold the whole region (crop_region's margin covers it)
    let rows_held = img.data.len() / img.stride.max(1);
    if (x0 as usize) < img.ox
        || (y0 as usize) < img.oy
        || x1 as usize > img.ox + img.stride
        || y1 as usize > img.oy + rows_held
    {
        return None;
    }
    let (rw, rh) = (
        ((x1 - x0 + mi - 1) / mi) as usize,
        ((y1 - y0 + mi - 1) / mi) as usize,
    );
    // column sums over a block's rows first (vectorised), then the blocks' sums
    let mut cols = vec![0u32; (x1 - x0) as usize];
    let mut small = vec![0u8; rw * rh];
    for (v, dst) in small.chunks_exact_mut(rw).enumerate() {
        cols.fill(0);
        let ya = y0 as usize + v * m as usize;
        let yb = (ya + m as usize).min(y1 as usize);
        for y in ya..yb {
            let row = img.row(y, x0 as usize, x1 as usize);
            for (c, &p) in cols.iter_mut().zip(row) {
                *c += p as u32;
            }
        }
        let rows = (yb - ya) as u32;
        for (d, block) in dst.iter_mut().zip(cols.chunks(m as usize)) {
            let n = rows * block.len() as u32;
            *d = ((block.iter().sum::<u32>() + n / 2) / n) as u8;
        }
    }
    let small = GrayImage::from_raw(rw as u32, rh as u32, small).ok()?;
    let half_block = (m as f32 - 1.0) / 2.0;
    let ts = CropTransform {
        center: crate::core::geometry::Point::new(
            (t.center.x - x0 as f32 - half_block) / m as f32,
            (t.center.y - y0 as f32 - half_block) / m as f32,
        ),
        half_w: t.half_w / m as f32,
        half_h: t.half_h / m as f32,
        angle: t.angle,
    };
    Some((small, ts))
}

/// The AVX2 form of the inner loop of [`sample`] for a crop wholly inside the image: 8
/// output pixels at a time, each with the scalar loop's operations in its order (no fused
/// multiply-adds), so the values are the same bit for bit (a test compares them).
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::Window;
    use std::arch::x86_64::*;

    #[cfg(test)]
    thread_local! {
        /// Tests turn the AVX2 path off on their thread to compare it with the scalar one.
        pub static OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// Rows the AVX2 path wrote on this thread (tests check that it ran).
        pub static ROWS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    pub fn available() -> bool {
        #[cfg(test)]
        if OFF.with(|o| o.get()) {
            return false;
        }
        std::arch::is_x86_feature_detected!("avx2")
    }

    /// The column sub-samples' image positions, one array per sub-sample index `a`, and
    /// the window's offsets.
    pub struct Columns {
        xs: Vec<Vec<f32>>,
        ys: Vec<Vec<f32>>,
        ox: i32,
        oy: i32,
        width: usize,
        /// The window `new` checked the reads against: `row` must get the same.
        len: usize,
        stride: usize,
        /// For [`Columns::padded`]: its copy of the pixels (`ox`, `oy` and `stride` are
        /// the copy's), where positions are clamped for reading, and the frame's limits.
        copy: Option<Padding>,
    }

    /// The pixels around a crop that reaches past the frame's edge, as [`Columns::padded`]
    /// copies them.
    struct Padding {
        data: Vec<u8>,
        /// Positions are clamped into `lo..=hi` (frame pixels) before they are read: every
        /// read then stays in `data`, and a position on the frame is never moved.
        lo: (f32, f32),
        hi: (f32, f32),
        /// The frame's limits: a position outside `-0.5..=limit` is padding.
        limit: (f32, f32),
    }

    impl Columns {
        /// `None` unless AVX2 is there and every 4-byte read of a crop whose samples lie
        /// within `center ± extent` (and one pixel on: the bilinear taps) is inside the
        /// window's data.
        pub fn new(
            img: &Window,
            cols: &[(f32, f32)],
            k: usize,
            width: usize,
            center: (f32, f32),
            extent: (f32, f32),
        ) -> Option<Self> {
            if !available() || k == 0 || cols.len() != k * width {
                return None;
            }
            // a pixel of slack either way for rounding in the sub-samples' positions
            let lo_x = (center.0 - extent.0).floor() - 1.0;
            let lo_y = (center.1 - extent.1).floor() - 1.0;
            let hi_x = (center.0 + extent.0).floor() + 1.0;
            let hi_y = (center.1 + extent.1).floor() + 1.0;
            if lo_x < img.ox as f32 || lo_y < img.oy as f32 {
                return None;
            }
            // the last read: 4 bytes from (hi_x, hi_y + 1)
            let last = (hi_y as usize + 1 - img.oy) * img.stride + hi_x as usize - img.ox + 4;
            if last > img.data.len() || img.data.len() > i32::MAX as usize {
                return None;
            }
            let origin = (img.ox as i32, img.oy as i32);
            Some(Self::of(
                cols,
                k,
                width,
                origin,
                img.data.len(),
                img.stride,
                None,
            ))
        }

        /// The columns' positions regrouped by sub-sample, for reads of `len` bytes of
        /// `stride` a row whose first byte is frame pixel `origin` (the window's, or
        /// `copy`'s).
        fn of(
            cols: &[(f32, f32)],
            k: usize,
            width: usize,
            origin: (i32, i32),
            len: usize,
            stride: usize,
            copy: Option<Padding>,
        ) -> Self {
            let (xs, ys) = (0..k)
                .map(|a| (0..width).map(|i| cols[i * k + a]).unzip())
                .unzip();
            Columns {
                xs,
                ys,
                ox: origin.0,
                oy: origin.1,
                width,
                len,
                stride,
                copy,
            }
        }

        /// For a crop whose samples lie within `center ± extent` but not wholly inside the
        /// window: the frame's pixels around it (two pixels more each way) copied, with
        /// the frame's first and last rows and columns repeated outwards, so that reading
        /// a position within the frame's `-0.5..=size - 0.5` reads the taps the scalar
        /// `fetch` clamps to. `None` without AVX2, for a crop wholly off the frame, or where
        /// the window does not hold the frame pixels the copy needs.
        pub fn padded(
            img: &Window,
            cols: &[(f32, f32)],
            k: usize,
            width: usize,
            center: (f32, f32),
            extent: (f32, f32),
        ) -> Option<Self> {
            // (no whole group of 8 pixels in a row: nothing to copy for)
            if !available() || k == 0 || width < 8 || cols.len() != k * width {
                return None;
            }
            // positions and limits exact in f32 (the clamp keeps every read in the copy)
            const EXACT: f32 = (1 << 24) as f32;
            let finite = |v: f32| v.is_finite() && v.abs() < EXACT;
            if img.w == 0 || img.h == 0 || img.w >= 1 << 24 || img.h >= 1 << 24 {
                return None;
            }
            if ![center.0, center.1, extent.0, extent.1]
                .into_iter()
                .all(finite)
            {
                return None;
            }
            let (w, h) = (img.w as i64, img.h as i64);
            let lo_x = ((center.0 - extent.0).floor() as i64 - 2).max(-1);
            let lo_y = ((center.1 - extent.1).floor() as i64 - 2).max(-1);
            let hi_x = ((center.0 + extent.0).ceil() as i64 + 2).min(w);
            let hi_y = ((center.1 + extent.1).ceil() as i64 + 2).min(h);
            // a crop wholly off the frame (all padding) is left to the scalar path
            if lo_x >= w || lo_y >= h || hi_x < 0 || hi_y < 0 || lo_x > hi_x || lo_y > hi_y {
                return None;
            }
            if hi_x - lo_x > 1 << 15 || hi_y - lo_y > 1 << 15 {
                return None;
            }
            // columns lo_x..hi_x + 4 (a read takes 4 bytes from x0 <= hi_x), rows
            // lo_y..hi_y + 2 (the row below y0 <= hi_y)
            let (cw, ch) = ((hi_x + 4 - lo_x) as usize, (hi_y + 2 - lo_y) as usize);
            // the frame pixels the copy repeats must be in the window
            let rows_held = (img.data.len() / img.stride.max(1)) as i64;
            let sx = |x: i64| x.clamp(0, w - 1);
            let sy = |y: i64| y.clamp(0, h - 1);
            let (ox, oy) = (img.ox as i64, img.oy as i64);
            if sx(lo_x) < ox
                || sy(lo_y) < oy
                || sx(hi_x + 3) >= ox + img.stride as i64
                || sy(hi_y + 1) >= oy + rows_held
            {
                return None;
            }
            let mut data = vec![0u8; cw * ch];
            for (r, row) in data.chunks_exact_mut(cw).enumerate() {
                let y = sy(lo_y + r as i64);
                let src = &img.data[((y - oy) as usize) * img.stride..];
                // the frame's columns held in this row, then its edges repeated
                let (a, b) = (sx(lo_x), sx(hi_x + 3));
                let first = (a - lo_x) as usize; // columns left of the frame: 0 or 1
                let n = (b - a + 1) as usize;
                row[first..first + n]
                    .copy_from_slice(&src[(a - ox) as usize..(a - ox) as usize + n]);
                let (left, right) = (row[first], row[first + n - 1]);
                row[..first].fill(left);
                row[first + n..].fill(right);
            }
            let len = data.len();
            let copy = Padding {
                data,
                lo: (lo_x as f32, lo_y as f32),
                hi: (hi_x as f32, hi_y as f32),
                limit: (img.w as f32 - 0.5, img.h as f32 - 0.5),
            };
            let origin = (lo_x as i32, lo_y as i32);
            Some(Self::of(cols, k, width, origin, len, cw, Some(copy)))
        }

        /// [`Columns::row`] for a crop made by [`Columns::padded`]: positions off the frame
        /// give `pad` (before normalisation), as the scalar `fetch` does.
        ///
        /// # Safety
        /// AVX2 must be available.
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn row_padded(
            &self,
            rows: &[(f32, f32)],
            inv_k: f32,
            scale: f32,
            offset: f32,
            pad: f32,
            out: &mut [f32],
        ) -> usize {
            let c = self
                .copy
                .as_ref()
                .expect("row_padded is for the columns of Columns::padded");
            self.row_of::<true>(&c.data, rows, inv_k, scale, offset, pad, out)
        }

        /// Output pixels `0..8n` of one row (`rows`: the row sub-samples' offsets);
        /// returns `8n`, the pixels written.
        ///
        /// # Safety
        /// AVX2 must be available and `data` the window `new` checked.
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn row(
            &self,
            data: &[u8],
            stride: usize,
            rows: &[(f32, f32)],
            inv_k: f32,
            scale: f32,
            offset: f32,
            out: &mut [f32],
        ) -> usize {
            assert!(
                self.copy.is_none() && data.len() == self.len && stride == self.stride,
                "AVX2 crop rows read the window Columns::new checked"
            );
            self.row_of::<false>(data, rows, inv_k, scale, offset, 0.0, out)
        }

        /// The rows of [`Columns::row`] and, `PADDED`, of [`Columns::row_padded`] (whose
        /// positions are clamped into the copy for reading and masked to `pad` off the
        /// frame): one body, so the two give the same values where both read.
        ///
        /// # Safety
        /// AVX2 must be available; `data` is `self.len` bytes of `self.stride` a row, and
        /// every read lies in it (checked by `new`, or by the clamp of `padded`'s copy).
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn row_of<const PADDED: bool>(
            &self,
            data: &[u8],
            rows: &[(f32, f32)],
            inv_k: f32,
            scale: f32,
            offset: f32,
            pad: f32,
            out: &mut [f32],
        ) -> usize {
            assert!(
                data.len() == self.len,
                "AVX2 crop rows read the data checked"
            );
            #[cfg(test)]
            ROWS.with(|r| r.set(r.get() + 1));
            let n = (self.width.min(out.len()) / 8) * 8;
            let base = data.as_ptr() as *const i32;
            let stride_v = _mm256_set1_epi32(self.stride as i32);
            let (ox, oy) = (_mm256_set1_epi32(self.ox), _mm256_set1_epi32(self.oy));
            let byte = _mm256_set1_epi32(0xff);
            // (PADDED only) the clamp, the frame's limits and the padding
            let (lo, hi, limit) = match &self.copy {
                Some(c) if PADDED => (c.lo, c.hi, c.limit),
                _ => ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),
            };
            let (lo_x, lo_y) = (_mm256_set1_ps(lo.0), _mm256_set1_ps(lo.1));
            let (hi_x, hi_y) = (_mm256_set1_ps(hi.0), _mm256_set1_ps(hi.1));
            let edge = _mm256_set1_ps(-0.5);
            let (lim_x, lim_y) = (_mm256_set1_ps(limit.0), _mm256_set1_ps(limit.1));
            let pad_v = _mm256_set1_ps(pad);
            let pixels = |g: __m256i, shift: i32| -> __m256 {
                let v = match shift {
                    0 => g,
                    _ => _mm256_srli_epi32::<8>(g),
                };
                _mm256_cvtepi32_ps(_mm256_and_si256(v, byte))
            };
            for i in (0..n).step_by(8) {
                let mut acc = _mm256_setzero_ps();
                for &(dx, dy) in rows {
                    let (dx, dy) = (_mm256_set1_ps(dx), _mm256_set1_ps(dy));
                    for (xs, ys) in self.xs.iter().zip(&self.ys) {
                        let x = _mm256_add_ps(_mm256_loadu_ps(xs[i..i + 8].as_ptr()), dx);
                        let y = _mm256_add_ps(_mm256_loadu_ps(ys[i..i + 8].as_ptr()), dy);
                        // (PADDED) on the frame: -0.5 <= x <= w - 0.5 and the same for y
                        // (false for NaN, as the scalar test's negation gives padding); where
                        // to read: a position on the frame is within lo..=hi already (max
                        // takes lo for NaN)
                        let (on, x, y) = if PADDED {
                            let on = _mm256_and_ps(
                                _mm256_and_ps(
                                    _mm256_cmp_ps::<_CMP_GE_OQ>(x, edge),
                                    _mm256_cmp_ps::<_CMP_GE_OQ>(y, edge),
                                ),
                                _mm256_and_ps(
                                    _mm256_cmp_ps::<_CMP_LE_OQ>(x, lim_x),
                                    _mm256_cmp_ps::<_CMP_LE_OQ>(y, lim_y),
                                ),
                            );
                            let xr = _mm256_min_ps(_mm256_max_ps(x, lo_x), hi_x);
                            let yr = _mm256_min_ps(_mm256_max_ps(y, lo_y), hi_y);
                            (on, xr, yr)
                        } else {
                            (_mm256_setzero_ps(), x, y)
                        };
                        let (fx0, fy0) = (_mm256_floor_ps(x), _mm256_floor_ps(y));
                        let (fx, fy) = (_mm256_sub_ps(x, fx0), _mm256_sub_ps(y, fy0));
                        let x0 = _mm256_sub_epi32(_mm256_cvttps_epi32(fx0), ox);
                        let y0 = _mm256_sub_epi32(_mm256_cvttps_epi32(fy0), oy);
                        let at = _mm256_add_epi32(_mm256_mullo_epi32(y0, stride_v), x0);
                        let g0 = _mm256_i32gather_epi32::<1>(base, at);
                        let g1 = _mm256_i32gather_epi32::<1>(base, _mm256_add_epi32(at, stride_v));
                        let (p00, p01) = (pixels(g0, 0), pixels(g0, 8));
                        let (p10, p11) = (pixels(g1, 0), pixels(g1, 8));
                        let top = _mm256_add_ps(p00, _mm256_mul_ps(_mm256_sub_ps(p01, p00), fx));
                        let bot = _mm256_add_ps(p10, _mm256_mul_ps(_mm256_sub_ps(p11, p10), fx));
                        let v = _mm256_add_ps(top, _mm256_mul_ps(_mm256_sub_ps(bot, top), fy));
                        let v = if PADDED {
                            _mm256_blendv_ps(pad_v, v, on)
                        } else {
                            v
                        };
                        acc = _mm256_add_ps(acc, v);
                    }
                }
                let r = _mm256_sub_ps(
                    _mm256_mul_ps(
                        _mm256_mul_ps(acc, _mm256_set1_ps(inv_k)),
                        _mm256_set1_ps(scale),
                    ),
                    _mm256_set1_ps(offset),
                );
                _mm256_storeu_ps(out[i..i + 8].as_mut_ptr(), r);
            }
            n
        }
    }
}

/// The sum of `f` over the `K × K` sub-samples (rows outer, columns inner, from 0.0).
#[inline(always)]
fn grid<const K: usize>(
    cols: &[(f32, f32)],
    rows: &[(f32, f32)],
    f: impl Fn(f32, f32) -> f32,
) -> f32 {
    let cols: &[(f32, f32); K] = cols.try_into().expect("K columns");
    let rows: &[(f32, f32); K] = rows.try_into().expect("K rows");
    let mut acc = 0.0f32;
    for &(dx, dy) in rows {
        for &(bx, by) in cols {
            acc += f(bx + dx, by + dy);
        }
    }
    acc
}

/// `(floor(v), v - floor(v))` for `v >= -1` without a call to libm's `floorf` (which
/// x86-64 builds without SSE4.1 use): the same values, several times faster.
#[inline(always)]
fn floor_frac(v: f32) -> (i64, f32) {
    let t = v as i64; // truncates toward zero
    let f = if (t as f32) > v { t - 1 } else { t };
    (f, v - f as f32)
}

/// Source taps of one output pixel along one axis: the bilinear weights of its `k`
/// sub-samples merged per source index. Sub-samples outside the image get no tap (they
/// count as padding).
fn axis_taps(
    center: f32,
    half: f32,
    out_n: u32,
    k: u32,
    size: u32,
    taps: &mut Vec<(usize, f32)>,
    starts: &mut Vec<usize>,
) {
    taps.clear();
    starts.clear();
    let step = 2.0 / out_n as f32;
    let wk = 1.0 / k as f32;
    let last = size as i64 - 1;
    for i in 0..out_n {
        starts.push(taps.len());
        for a in 0..k {
            let c = -1.0 + step * (i as f32 + (a as f32 + 0.5) / k as f32);
            let x = center + c * half;
            if !(x >= -0.5 && x <= size as f32 - 0.5) {
                continue;
            }
            let x0f = x.floor();
            let f = x - x0f;
            let x0 = (x0f as i64).clamp(0, last) as usize;
            let x1 = (x0f as i64 + 1).clamp(0, last) as usize;
            for (idx, w) in [(x0, (1.0 - f) * wk), (x1, f * wk)] {
                match taps[*starts.last().unwrap_or(&0)..]
                    .iter_mut()
                    .find(|t| t.0 == idx)
                {
                    Some(t) => t.1 += w,
                    None => taps.push((idx, w)),
                }
            }
        }
    }
    starts.push(taps.len());
}

/// The same sampling as [`sample_crop`] for unrotated crops, done separably (a
/// horizontal then a vertical pass with precomputed taps): identical values, a fraction
/// of the work.
#[allow(clippy::too_many_arguments)]
fn sample_axis_aligned(
    img: &Window,
    t: &CropTransform,
    out_w: u32,
    out_h: u32,
    kx: u32,
    ky: u32,
    norm: Normalization,
    out: &mut [f32],
) {
    let (w, h) = (img.w, img.h);
    let pad = norm.mean * 255.0;
    let scale = 1.0 / (255.0 * norm.std);
    let offset = norm.mean / norm.std;
    let (mut xt, mut xs, mut yt, mut ys) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    axis_taps(t.center.x, t.half_w, out_w, kx, w as u32, &mut xt, &mut xs);
    axis_taps(t.center.y, t.half_h, out_h, ky, h as u32, &mut yt, &mut ys);
    // rows any output row reads
    let (r0, r1) = yt
        .iter()
        .fold((usize::MAX, 0usize), |(a, b), &(r, _)| (a.min(r), b.max(r)));
    let ow = out_w as usize;
    // horizontal pass over the needed rows, on (pixel - pad)
    let mut tmp = vec![0f32; if r0 <= r1 { (r1 - r0 + 1) * ow } else { 0 }];
    // the columns any output column reads
    let (c0, c1) = xt
        .iter()
        .fold((usize::MAX, 0usize), |(a, b), &(c, _)| (a.min(c), b.max(c)));
    if r0 <= r1 && c0 <= c1 {
        for r in r0..=r1 {
            let row = img.row(r, c0, c1 + 1);
            let dst = &mut tmp[(r - r0) * ow..(r - r0 + 1) * ow];
            for (i, d) in dst.iter_mut().enumerate() {
                let mut acc = 0.0;
                for &(c, wt) in &xt[xs[i]..xs[i + 1]] {
                    acc += wt * (row[c - c0] as f32 - pad);
                }
                *d = acc;
            }
        }
    }
    // vertical pass; sub-samples that fell outside contribute nothing, i.e. the padding
    for j in 0..out_h as usize {
        let orow = &mut out[j * ow..(j + 1) * ow];
        for v in orow.iter_mut() {
            *v = 0.0;
        }
        for &(r, wt) in &yt[ys[j]..ys[j + 1]] {
            let src = &tmp[(r - r0) * ow..(r - r0 + 1) * ow];
            for (o, s) in orow.iter_mut().zip(src) {
                *o += wt * s;
            }
        }
        for o in orow.iter_mut() {
            *o = (*o + pad) * scale - offset;
        }
    }
}

/// Mirror a prepared crop left to right in place (rows of `width` values, any number of
/// rows and channel planes).
pub fn mirror_rows(crop: &mut [f32], width: usize) {
    for row in crop.chunks_exact_mut(width) {
        row.reverse();
    }
}

/// Reorder prepared crops (`[channels, height, width]` each, planar, as the samplers
/// write them) into their 2×2 blocks, channels last (`[height / 2, width / 2, 4 *
/// channels]`): pixel `(x, y)` of channel `c` goes to `[y / 2, x / 2, ((y % 2) * 2 + x %
/// 2) * channels + c]`, ONNX's `SpaceToDepth` (block 2) transposed to channels last
/// ([`crate::core::contract::InputLayout::Blocks2`]). `out` is resized to `planar`'s
/// length; `width` and `height` must be even and `planar` whole crops.
pub fn to_blocks2(
    planar: &[f32],
    channels: usize,
    width: usize,
    height: usize,
    out: &mut Vec<f32>,
) {
    let plane = width * height;
    let per_crop = channels * plane;
    assert!(
        width.is_multiple_of(2)
            && height.is_multiple_of(2)
            && per_crop > 0
            && planar.len().is_multiple_of(per_crop),
        "to_blocks2: {} values are not whole {channels}x{height}x{width} crops of even sides",
        planar.len()
    );
    out.clear();
    out.resize(planar.len(), 0.0);
    let (bw, depth) = (width / 2, 4 * channels);
    for (crop, dst) in planar
        .chunks_exact(per_crop)
        .zip(out.chunks_exact_mut(per_crop))
    {
        for (c, src) in crop.chunks_exact(plane).enumerate() {
            for (by, rows) in src.chunks_exact(2 * width).enumerate() {
                let (top, bottom) = rows.split_at(width);
                let line = &mut dst[by * bw * depth..(by + 1) * bw * depth];
                for (bx, cell) in line.chunks_exact_mut(depth).enumerate() {
                    cell[c] = top[2 * bx];
                    cell[channels + c] = top[2 * bx + 1];
                    cell[2 * channels + c] = bottom[2 * bx];
                    cell[3 * channels + c] = bottom[2 * bx + 1];
                }
            }
        }
    }
}

/// The points of a mirrored crop, as points of the unmirrored one: `out` point `i` is
/// `xy` point `mirror[i]` with x negated (crop coordinates, `x0, y0, x1, y1, ...`). The
/// same rule turns targets into the targets of the mirrored crop.
pub fn unmirror_points(xy: &[f32], mirror: &[usize], out: &mut [f32]) {
    for (i, &j) in mirror.iter().enumerate() {
        out[2 * i] = -xy[2 * j];
        out[2 * i + 1] = xy[2 * j + 1];
    }
}

/// The centre of output pixel (i, j) in normalised crop coordinates.
pub fn pixel_center(i: u32, j: u32, out_w: u32, out_h: u32) -> CropPoint {
    CropPoint {
        x: -1.0 + (2 * i + 1) as f32 / out_w as f32,
        y: -1.0 + (2 * j + 1) as f32 / out_h as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::{FaceBox, Point};

    /// Blocks as ONNX's SpaceToDepth (block 2, depth index (dy * 2 + dx) * C + c) makes
    /// them, transposed to channels last; each value once, for 1 and 2 channels and 2 crops.
    #[test]
    fn blocks2_is_space_to_depth_channels_last() {
        // a 2x4 crop by hand: rows [0 1 2 3] and [4 5 6 7] -> blocks (0 1 4 5), (2 3 6 7)
        let mut out = Vec::new();
        let one: Vec<f32> = (0..8).map(|v| v as f32).collect();
        to_blocks2(&one, 1, 4, 2, &mut out);
        assert_eq!(out, [0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]);
        let (w, h) = (6usize, 4usize);
        for channels in [1usize, 2] {
            let per = channels * w * h;
            let planar: Vec<f32> = (0..2 * per).map(|v| v as f32).collect();
            to_blocks2(&planar, channels, w, h, &mut out);
            assert_eq!(out.len(), planar.len());
            let (bw, bh, depth) = (w / 2, h / 2, 4 * channels);
            for n in 0..2 {
                for c in 0..channels {
                    for y in 0..h {
                        for x in 0..w {
                            let d = ((y % 2) * 2 + x % 2) * channels + c;
                            let at = n * per + ((y / 2) * bw + x / 2) * depth + d;
                            assert_eq!(out[at], planar[n * per + (c * h + y) * w + x]);
                        }
                    }
                }
            }
            assert_eq!(bh * bw * depth, per);
        }
    }

    #[test]
    fn mirroring_rows_and_points_twice_gives_them_back() {
        let mut crop: Vec<f32> = (0..12).map(|v| v as f32).collect();
        mirror_rows(&mut crop, 4);
        assert_eq!(&crop[..4], &[3.0, 2.0, 1.0, 0.0]);
        mirror_rows(&mut crop, 4);
        assert_eq!(crop, (0..12).map(|v| v as f32).collect::<Vec<_>>());
        // points 0 and 2 swap sides, point 1 sits on the axis
        let mirror = [2, 1, 0];
        let xy = [-0.5, 0.1, 0.0, 0.2, 0.4, 0.3];
        let mut once = [0.0; 6];
        unmirror_points(&xy, &mirror, &mut once);
        assert_eq!(once, [-0.4, 0.3, -0.0, 0.2, 0.5, 0.1]);
        let mut twice = [0.0; 6];
        unmirror_points(&once, &mirror, &mut twice);
        assert_eq!(twice, xy);
    }

    fn ramp(w: u32, h: u32) -> GrayImage {
        let data = (0..h)
            .flat_map(|y| (0..w).map(move |x| ((x + 2 * y) % 256) as u8))
            .collect();
        GrayImage::from_raw(w, h, data).unwrap()
    }

    #[test]
    fn identity_crop_reproduces_the_pixels() {
        let img = ramp(32, 24);
        let t = CropTransform::full_frame(32, 24);
        let norm = Normalization {
            mean: 0.0,
            std: 1.0 / 255.0,
        };
        let mut out = vec![0.0; 32 * 24];
        sample_crop(&img, &t, 32, 24, norm, &mut out);
        for (o, &p) in out.iter().zip(img.data()) {
            assert!((o - p as f32).abs() < 1e-3, "{o} vs {p}");
        }
    }

    #[test]
    fn a_bright_dot_lands_where_the_transform_says() {
        let mut img = GrayImage::new(200, 150);
        let dot = Point::new(120.0, 60.0);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let i = ((60 + dy) * 200 + 120 + dx) as usize;
                img.data_mut()[i] = 255;
            }
        }
        let b = FaceBox::new(90.0, 40.0, 50.0, 50.0);
        let mut t = CropTransform::square_around(&b, 1.5);
        t.angle = 0.3;
        let mut out = vec![0.0; 64 * 64];
        sample_crop(&img, &t, 64, 64, Normalization::default(), &mut out);
        let (best, _) = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        let c = pixel_center((best % 64) as u32, (best / 64) as u32, 64, 64);
        let back = t.to_image(c);
        assert!(back.dist(dot) < 1.5, "dot at {back:?}");
    }

    /// The AVX2 loop for turned crops inside the image gives the scalar loop's values
    /// bit for bit: every sub-sample count (1-4 an axis), with and without block
    /// averaging, whole frames and parts of frames (the colour path), odd widths.
    #[cfg(target_arch = "x86_64")]
    /// Crop `t` of `img` into `size`, on the scalar path or not, from the whole frame or
    /// from its part (`crop_region`).
    fn crop_with(
        img: &GrayImage,
        t: &CropTransform,
        (ow, oh): (u32, u32),
        scalar: bool,
        part: bool,
    ) -> Vec<f32> {
        let norm = Normalization::default();
        simd::OFF.with(|o| o.set(scalar));
        let mut out = vec![0.0f32; (ow * oh) as usize];
        if part {
            let (p, origin) = crop_region(img, t, ow, oh);
            let frame = (img.width(), img.height());
            sample_crop_from_part(&p, origin, frame, t, ow, oh, norm, &mut out);
        } else {
            sample_crop(img, t, ow, oh, norm, &mut out);
        }
        simd::OFF.with(|o| o.set(false));
        out
    }

    #[test]
    fn the_avx2_sampler_equals_the_scalar_one_bit_for_bit() {
        if !simd::available() {
            eprintln!("skipping: no AVX2");
            return;
        }
        let (fw, fh) = (1281u32, 961u32);
        let img = GrayImage::from_raw(
            fw,
            fh,
            (0..fw * fh)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect(),
        )
        .unwrap();
        let mut checked = 0;
        let middle = (640.0, 480.0);
        for ((cx, cy), side, angle, (ow, oh)) in [
            (middle, 60.0, 0.3, (112, 112)),
            (middle, 150.0, -0.2, (112, 112)),
            (middle, 250.0, 0.5, (112, 112)),
            (middle, 330.0, 1.2, (112, 112)),
            (middle, 200.0, 0.05, (61, 37)),
            (middle, 90.0, -2.5, (128, 96)),
            (middle, 600.0, 0.4, (112, 112)),
            (middle, 600.0, -0.1, (64, 64)),
            // reaching past each edge and corner (the padded copy), partly off the frame
            ((20.0, 480.0), 120.0, 0.3, (112, 112)),
            ((1275.0, 300.0), 90.0, -0.6, (112, 112)),
            ((640.0, 3.0), 140.0, 0.2, (112, 112)),
            ((900.0, 955.0), 100.0, 2.0, (61, 37)),
            ((-30.0, -20.0), 150.0, 0.7, (112, 112)),
            ((1290.0, 970.0), 80.0, -0.4, (128, 96)),
            ((50.0, 900.0), 130.0, 0.01, (112, 112)),
            ((1200.0, 40.0), 60.0, -1.1, (112, 112)),
        ] {
            let b = FaceBox::new(cx - side / 2.0, cy - side / 2.0, side, side);
            let mut t = CropTransform::square_around(&b, 1.0);
            t.angle = angle;
            let run = |scalar: bool, part: bool| crop_with(&img, &t, (ow, oh), scalar, part);
            for part in [false, true] {
                let before = simd::ROWS.with(|r| r.get());
                let fast = run(false, part);
                assert!(
                    simd::ROWS.with(|r| r.get()) > before,
                    "side {side}, angle {angle}, {ow}x{oh}, part {part}: the AVX2 path did not run"
                );
                let slow = run(true, part);
                let same = fast
                    .iter()
                    .zip(&slow)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "side {side}, angle {angle}, {ow}x{oh}, part {part}");
                checked += 1;
            }
        }
        assert_eq!(checked, 32);
    }

    /// Random crops, frames from 1×1 up, sub-samples 1-4 an axis, on and off every edge,
    /// whole frames and their parts: the AVX2 paths give the scalar path's values bit for
    /// bit, and never read outside what they were given (a panic would fail the test).
    #[test]
    fn random_crops_past_the_edges_sample_as_the_scalar_path_does() {
        if !simd::available() {
            return;
        }
        // a small seeded generator (SplitMix64), uniform in [0, 1)
        let mut state = 29u64;
        let mut f32 = move || {
            state = state.wrapping_add(0x9E3779B97F4A7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
        };
        let mut padded_rows = 0;
        for case in 0..3000 {
            let (fw, fh) = match case % 4 {
                0 => (1 + (f32() * 6.0) as u32, 1 + (f32() * 6.0) as u32),
                1 => (8 + (f32() * 60.0) as u32, 8 + (f32() * 60.0) as u32),
                _ => (100 + (f32() * 300.0) as u32, 80 + (f32() * 300.0) as u32),
            };
            let img = GrayImage::from_raw(
                fw,
                fh,
                (0..fw * fh)
                    .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                    .collect(),
            )
            .unwrap();
            let side = 2.0 + f32() * 1.5 * fw.max(fh) as f32;
            let cx = -side + f32() * (fw as f32 + 2.0 * side);
            let cy = -side + f32() * (fh as f32 + 2.0 * side);
            let mut t = CropTransform::square_around(
                &FaceBox::new(cx - side / 2.0, cy - side / 2.0, side, side),
                1.0,
            );
            t.angle = (f32() - 0.5) * 6.0;
            let ow = 8 + (f32() * 60.0) as u32;
            let oh = 1 + (f32() * 40.0) as u32;
            for part in [false, true] {
                let run = |scalar: bool| crop_with(&img, &t, (ow, oh), scalar, part);
                let before = simd::ROWS.with(|r| r.get());
                let fast = run(false);
                padded_rows += simd::ROWS.with(|r| r.get()) - before;
                let slow = run(true);
                assert!(
                    fast.iter()
                        .zip(&slow)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "case {case}: {fw}x{fh}, crop {t:?}, {ow}x{oh}, part {part}"
                );
            }
        }
        // the AVX2 rows ran for many of them
        assert!(padded_rows > 10_000, "{padded_rows}");
    }

    #[test]
    fn separable_path_equals_the_general_sampler() {
        let img = ramp(301, 257);
        let norm = Normalization::default();
        for (b, scale) in [
            (FaceBox::new(40.0, 30.0, 120.0, 140.0), 1.5),
            (FaceBox::new(-50.0, 200.0, 90.0, 90.0), 2.0),
            (FaceBox::new(100.0, 100.0, 20.0, 25.0), 1.2),
            (FaceBox::new(0.0, 0.0, 300.0, 250.0), 1.0),
        ] {
            let t = CropTransform::square_around(&b, scale);
            let mut fast = vec![0.0; 64 * 48];
            sample_crop(&img, &t, 64, 48, norm, &mut fast);
            // the general path, forced by a rotation too small to move any sample
            let mut tr = t;
            tr.angle = 1e-30;
            let mut slow = vec![0.0; 64 * 48];
            sample_crop(&img, &tr, 64, 48, norm, &mut slow);
            let worst = fast
                .iter()
                .zip(&slow)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-3,
                "separable and general sampling differ by {worst} for {b:?}"
            );
        }
    }

    #[test]
    fn large_turned_crops_are_shrunk_first_with_the_same_result() {
        // a smooth picture (the shrink only changes what is finer than an output pixel)
        let (w, h) = (1600u32, 1200u32);
        let data = (0..h)
            .flat_map(|y| {
                (0..w).map(move |x| {
                    let (fx, fy) = (x as f32 / 97.0, y as f32 / 131.0);
                    (128.0 + 60.0 * fx.sin() * fy.cos() + 40.0 * (0.7 * fx + fy).sin()) as u8
                })
            })
            .collect();
        let img = GrayImage::from_raw(w, h, data).unwrap();
        let norm = Normalization::default();
        for (side, angle) in [
            (240.0, -0.2f32),
            (320.0, 0.4),
            (500.0, 0.3),
            (700.0, -0.5),
            (1000.0, 0.05),
        ] {
            let mut t = CropTransform::square_around(
                &FaceBox::new(800.0 - side / 2.0, 600.0 - side / 2.0, side, side),
                1.0,
            );
            t.angle = angle;
            assert!(t.pixel_scale(112, 112).0 >= REDUCE_FROM);
            let (mut shrunk, mut direct) = (vec![0.0; 112 * 112], vec![0.0; 112 * 112]);
            let win = Window::of(&img);
            sample(&win, &t, 112, 112, norm, &mut shrunk, true);
            sample(&win, &t, 112, 112, norm, &mut direct, false);
            assert!(reduce_region(&win, &t, 2).is_some());
            let mean = shrunk
                .iter()
                .zip(&direct)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / shrunk.len() as f32;
            // one grey level is 1 / (255 * std) = 0.018 in normalised units
            assert!(mean < 0.02, "mean difference {mean} for side {side}");
        }
        // a crop reaching past the edge is sampled directly
        let mut t = CropTransform::square_around(&FaceBox::new(-100.0, 300.0, 600.0, 600.0), 1.0);
        t.angle = 0.2;
        assert!(reduce_region(&Window::of(&img), &t, 2).is_none());
    }

    #[test]
    fn a_crop_of_its_region_is_the_crop_of_the_frame() {
        let img = ramp(1280, 960);
        let img = GrayImage::from_raw(
            1280,
            960,
            img.data()
                .iter()
                .enumerate()
                .map(|(i, &v)| v ^ (i % 7) as u8)
                .collect(),
        )
        .unwrap();
        let norm = Normalization::default();
        for (b, angle) in [
            (FaceBox::new(200.0, 150.0, 120.0, 140.0), 0.3f32),
            (FaceBox::new(-40.0, 300.0, 150.0, 150.0), -0.2),
            (FaceBox::new(100.0, 20.0, 420.0, 420.0), 0.1),
            (FaceBox::new(150.0, 90.0, 330.0, 330.0), 0.4),
            (FaceBox::new(400.0, 250.0, 400.0, 400.0), 0.2),
            (FaceBox::new(300.0, 200.0, 60.0, 60.0), 0.0),
        ] {
            let mut t = CropTransform::square_around(&b, 1.3);
            t.angle = angle;
            let (mut whole, mut part) = (vec![0.0; 112 * 112], vec![0.0; 112 * 112]);
            sample_crop(&img, &t, 112, 112, norm, &mut whole);
            let (region, origin) = crop_region(&img, &t, 112, 112);
            assert!(region.width() < 1280);
            sample_crop_from_part(&region, origin, (1280, 960), &t, 112, 112, norm, &mut part);
            assert_eq!(whole, part, "{b:?}");
        }
    }

    #[test]
    fn outside_the_image_is_mean_grey() {
        let img = ramp(10, 10);
        let t = CropTransform::square_around(&FaceBox::new(500.0, 500.0, 10.0, 10.0), 1.0);
        let mut out = vec![1.0; 16];
        sample_crop(&img, &t, 4, 4, Normalization::default(), &mut out);
        assert!(out.iter().all(|v| v.abs() < 1e-6));
    }
}
