//! What the tracker reads of a frame: its size, the gray values of the rectangles its
//! crops cover, and a shrunk gray copy for the face detector. A gray frame
//! ([`GrayImage`], or [`GrayPixels`] borrowed from the caller) gives these at no cost; a
//! colour frame ([`ColorPixels`], e.g. a numpy array from Python) converts only the
//! pixels that are read, so following a face costs the same at 480p and at 4K instead of
//! a full colour conversion (or copy) per frame.

use crate::core::image::{luma, GrayImage};

/// A frame the tracker can read.
pub trait Pixels {
    fn width(&self) -> u32;
    fn height(&self) -> u32;
    /// The gray pixels of `x0..x1` × `y0..y1` (clipped to the frame) as an image.
    fn gray_rect(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> GrayImage;
    /// A gray copy shrunk `k` times: each pixel the rounded mean of a k×k block of gray
    /// pixels; rows and columns that do not fill a block are dropped.
    fn gray_shrunk(&self, k: u32) -> GrayImage;
    /// The frame itself when it is already gray (read in place).
    fn as_gray(&self) -> Option<&GrayImage> {
        None
    }
}

impl Pixels for GrayImage {
    fn width(&self) -> u32 {
        GrayImage::width(self)
    }
    fn height(&self) -> u32 {
        GrayImage::height(self)
    }
    // read as the borrowed view of its own rows
    fn gray_rect(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> GrayImage {
        gray_view(self).gray_rect(x0, y0, x1, y1)
    }
    fn gray_shrunk(&self, k: u32) -> GrayImage {
        gray_view(self).gray_shrunk(k)
    }
    fn as_gray(&self) -> Option<&GrayImage> {
        Some(self)
    }
}

/// A [`GrayImage`] as a [`GrayPixels`] view (its rows are packed, `width` bytes apart).
fn gray_view(img: &GrayImage) -> GrayPixels<'_> {
    GrayPixels {
        data: img.data(),
        width: img.width(),
        height: img.height(),
        stride: img.width() as usize,
    }
}

/// Ask the CPU to start loading `data[start..start + len]` into its caches: a hint, so
/// that the rows of a rectangle arrive while the row before is converted. The hardware
/// prefetchers follow a row but stop at page boundaries, and in a wide frame each row of
/// a rectangle starts on another page: without the hint every row begins with a wait for
/// memory (a 620×620 rectangle of a 1080p RGB frame not in cache: 0.35 -> 0.25 ms).
#[inline]
fn prefetch(data: &[u8], start: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let end = (start + len).min(data.len());
        let mut i = start;
        while i < end {
            // SAFETY: a prefetch is a hint that never faults; the address lies in `data`
            unsafe {
                std::arch::x86_64::_mm_prefetch(
                    data.as_ptr().add(i) as *const i8,
                    std::arch::x86_64::_MM_HINT_T0,
                )
            };
            i += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, start, len);
}

/// How many rows ahead a rectangle's rows are asked for ([`prefetch`]): 2 was the
/// fastest of 1, 2, 4 and 8 on the rectangle above (0.31, 0.25, 0.26, 0.27 ms).
const PREFETCH_ROWS: usize = 2;

/// Packed colour pixels of 3 or 4 bytes (RGB, RGBA, or blue first: BGR, BGRA), rows
/// `stride` bytes apart, converted to gray with the library's luma weights as they are read.
#[derive(Debug, Clone, Copy)]
pub struct ColorPixels<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    channels: usize,
    stride: usize,
    blue_first: bool,
}

impl<'a> ColorPixels<'a> {
    /// `None` unless `channels` is 3 or 4 and `data` holds `height` rows of `stride`
    /// bytes (the last row may end after its pixels).
    pub fn new(
        data: &'a [u8],
        width: u32,
        height: u32,
        channels: usize,
        stride: usize,
        blue_first: bool,
    ) -> Option<Self> {
        let row = width as usize * channels;
        let ok = (channels == 3 || channels == 4)
            && stride >= row
            && (height == 0 || data.len() >= (height as usize - 1) * stride + row);
        ok.then_some(ColorPixels {
            data,
            width,
            height,
            channels,
            stride,
            blue_first,
        })
    }

    /// Ask the CPU to start loading row `y`'s pixels `x0..x0 + w` ([`prefetch`]).
    #[inline]
    fn prefetch_row(&self, y: usize, x0: usize, w: usize) {
        prefetch(
            self.data,
            y * self.stride + x0 * self.channels,
            w * self.channels,
        );
    }

    /// Row `y`, pixels `x0..x1`, converted into `out`.
    fn gray_row(&self, y: usize, x0: usize, out: &mut [u8]) {
        let c = self.channels;
        let start = y * self.stride + x0 * c;
        let src = &self.data[start..start + out.len() * c];
        luma(out, src, c, self.blue_first);
    }
}

impl Pixels for ColorPixels<'_> {
    fn width(&self) -> u32 {
        self.width
    }
    fn height(&self) -> u32 {
        self.height
    }
    fn gray_rect(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> GrayImage {
        let (x0, y0, x1, y1) = clip_rect((x0, y0, x1, y1), self.width, self.height);
        let w = (x1 - x0) as usize;
        let mut out = vec![0u8; w * (y1 - y0) as usize];
        for (r, row) in out.chunks_exact_mut(w.max(1)).enumerate() {
            if w > 0 {
                let ahead = y0 as usize + r + PREFETCH_ROWS;
                if ahead < y1 as usize {
                    self.prefetch_row(ahead, x0 as usize, w);
                }
                self.gray_row(y0 as usize + r, x0 as usize, row);
            }
        }
        GrayImage::from_raw(x1 - x0, y1 - y0, out).unwrap_or_default()
    }
    fn gray_shrunk(&self, k: u32) -> GrayImage {
        shrink_rows(self.width, self.height, k, |y, row| {
            self.gray_row(y, 0, row)
        })
    }
}

/// A gray frame the caller owns (e.g. a numpy array from Python), rows `stride` bytes
/// apart, read in place: following a face reads only the pixels under its crop, where
/// a [`GrayImage`] would first copy the whole frame. The same values as a [`GrayImage`]
/// of those pixels (a test compares them).
#[derive(Debug, Clone, Copy)]
pub struct GrayPixels<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
}

impl<'a> GrayPixels<'a> {
    /// `None` unless `data` holds `height` rows of `stride` bytes (the last row may end
    /// after its pixels) and `stride` is at least `width`.
    pub fn new(data: &'a [u8], width: u32, height: u32, stride: usize) -> Option<Self> {
        let ok = stride >= width as usize
            && (height == 0 || data.len() >= (height as usize - 1) * stride + width as usize);
        ok.then_some(GrayPixels {
            data,
            width,
            height,
            stride,
        })
    }

    fn row(&self, y: usize, x0: usize, len: usize) -> &'a [u8] {
        &self.data[y * self.stride + x0..][..len]
    }
}

impl Pixels for GrayPixels<'_> {
    fn width(&self) -> u32 {
        self.width
    }
    fn height(&self) -> u32 {
        self.height
    }
    fn gray_rect(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> GrayImage {
        let (x0, y0, x1, y1) = clip_rect((x0, y0, x1, y1), self.width, self.height);
        let w = (x1 - x0) as usize;
        let mut out = Vec::with_capacity(w * (y1 - y0) as usize);
        for y in y0 as usize..y1 as usize {
            if y + PREFETCH_ROWS < y1 as usize {
                prefetch(
                    self.data,
                    (y + PREFETCH_ROWS) * self.stride + x0 as usize,
                    w,
                );
            }
            out.extend_from_slice(self.row(y, x0 as usize, w));
        }
        GrayImage::from_raw(x1 - x0, y1 - y0, out).unwrap_or_default()
    }
    fn gray_shrunk(&self, k: u32) -> GrayImage {
        shrink_rows(self.width, self.height, k, |y, row| {
            row.copy_from_slice(self.row(y, 0, row.len()))
        })
    }
}

/// `x0..x1` × `y0..y1` clipped to a `width × height` frame (an empty rectangle where it
/// lies outside), as every [`Pixels::gray_rect`] reads it.
fn clip_rect(
    (x0, y0, x1, y1): (u32, u32, u32, u32),
    width: u32,
    height: u32,
) -> (u32, u32, u32, u32) {
    let (x1, y1) = (x1.min(width), y1.min(height));
    (x0.min(x1), y0.min(y1), x1, y1)
}

/// Shrink a `width × height` gray picture `k` times, reading its rows through `row_of`
/// (which fills a buffer of the row's first `width / k * k` pixels).
fn shrink_rows(width: u32, height: u32, k: u32, row_of: impl Fn(usize, &mut [u8])) -> GrayImage {
    // the block sizes the detector's search copies use (2 and 4 at 1080p, 3 at 720p, 4
    // and 9 at 4K...) with the block's width known to the compiler and each column's sum
    // over the block's rows in 16 bits: 3 to 5 times faster than the general loop (a
    // 1080p frame: k = 2 1.86 -> 0.39 ms, k = 4 1.29 -> 0.42 ms on the AVX2 EPYC)
    match k {
        2 => shrink_block::<u16>(width, height, 2, row_of),
        3 => shrink_block::<u16>(width, height, 3, row_of),
        4 => shrink_block::<u16>(width, height, 4, row_of),
        5 => shrink_block::<u16>(width, height, 5, row_of),
        6 => shrink_block::<u16>(width, height, 6, row_of),
        8 => shrink_block::<u16>(width, height, 8, row_of),
        9 => shrink_block::<u16>(width, height, 9, row_of),
        _ => shrink_block::<u32>(width, height, k.max(1) as usize, row_of),
    }
}

/// [`shrink_rows`] for blocks of `k × k` pixels, each column's sum over a block's rows
/// kept in `A` (`u16` holds k up to 257). Inlined where it is called, so that a constant
/// `k` is the compiler's to unroll.
#[inline(always)]
fn shrink_block<A>(
    width: u32,
    height: u32,
    k: usize,
    row_of: impl Fn(usize, &mut [u8]),
) -> GrayImage
where
    A: Copy + Default + std::ops::AddAssign + From<u8> + Into<u32>,
{
    let (w, h) = (width as usize / k, height as usize / k);
    let n = (k * k) as u32;
    let mut out = vec![0u8; w * h];
    // column sums over a block's rows first (vectorised), then the blocks' sums
    let mut cols = vec![A::default(); w * k];
    let mut row = vec![0u8; w * k];
    for (y, dst) in out.chunks_exact_mut(w.max(1)).enumerate().take(h) {
        cols.fill(A::default());
        for r in 0..k {
            row_of(y * k + r, &mut row);
            for (c, &p) in cols.iter_mut().zip(&row) {
                *c += A::from(p);
            }
        }
        for (d, block) in dst.iter_mut().zip(cols.chunks_exact(k)) {
            let sum: u32 = block.iter().map(|&c| c.into()).sum();
            *d = ((sum + n / 2) / n) as u8;
        }
    }
    GrayImage::from_raw(w as u32, h as u32, out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colour(w: u32, h: u32) -> Vec<u8> {
        (0..w * h * 3)
            .map(|i| ((i * 37 + i / 7) % 251) as u8)
            .collect()
    }

    #[test]
    fn colour_pixels_read_as_the_full_conversion() {
        let (w, h) = (37u32, 23u32);
        let rgb = colour(w, h);
        let full = GrayImage::from_rgb(w, h, &rgb).unwrap();
        let px = ColorPixels::new(&rgb, w, h, 3, 3 * w as usize, false).unwrap();
        assert_eq!(px.gray_rect(0, 0, w, h), full);
        assert_eq!(px.gray_rect(5, 3, 20, 11), full.gray_rect(5, 3, 20, 11));
        assert_eq!(px.gray_rect(30, 20, 99, 99), full.gray_rect(30, 20, w, h));
        for k in [1, 2, 3, 5] {
            assert_eq!(px.gray_shrunk(k), full.gray_shrunk(k), "k = {k}");
        }
        // blue first: the same picture with its bytes swapped
        let bgr: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect();
        let px = ColorPixels::new(&bgr, w, h, 3, 3 * w as usize, true).unwrap();
        assert_eq!(px.gray_rect(0, 0, w, h), full);
    }

    #[test]
    fn a_borrowed_gray_frame_reads_as_the_gray_image() {
        let (w, h, stride) = (37u32, 23u32, 41usize);
        // rows 41 bytes apart, the last 4 bytes of each row not part of the picture
        let data: Vec<u8> = (0..stride * h as usize)
            .map(|i| ((i * 29 + i / 5) % 253) as u8)
            .collect();
        let packed: Vec<u8> = data
            .chunks(stride)
            .flat_map(|r| r[..w as usize].to_vec())
            .collect();
        let img = GrayImage::from_raw(w, h, packed).unwrap();
        let px = GrayPixels::new(&data, w, h, stride).unwrap();
        assert_eq!((px.width(), px.height()), (w, h));
        assert!(px.as_gray().is_none());
        assert_eq!(px.gray_rect(0, 0, w, h), img);
        assert_eq!(px.gray_rect(5, 3, 20, 11), img.gray_rect(5, 3, 20, 11));
        assert_eq!(px.gray_rect(30, 20, 99, 99), img.gray_rect(30, 20, w, h));
        assert_eq!(px.gray_rect(40, 30, 50, 50), img.gray_rect(40, 30, 50, 50));
        for k in [1, 2, 3, 5] {
            assert_eq!(px.gray_shrunk(k), img.gray_shrunk(k), "k = {k}");
        }
        // the last row may end right after its pixels; shorter buffers are refused
        let short = &data[..(h as usize - 1) * stride + w as usize];
        assert!(GrayPixels::new(short, w, h, stride).is_some());
        assert!(GrayPixels::new(&short[..short.len() - 1], w, h, stride).is_none());
        assert!(GrayPixels::new(&data, w, h, w as usize - 1).is_none());
    }

    #[test]
    fn gray_shrink_averages_blocks() {
        let img = GrayImage::from_raw(5, 3, (0..15).map(|v| v as u8 * 10).collect()).unwrap();
        let s = img.gray_shrunk(2);
        assert_eq!((s.width(), s.height()), (2, 1));
        // blocks {0,10,50,60} and {20,30,70,80}
        assert_eq!(s.data(), &[30, 50]);
        // (0 + 10 + 20 + 50 + 60 + 70 + 100 + 110 + 120) / 9
        assert_eq!(img.gray_shrunk(3).data(), &[60]);
    }

    /// The block sizes with their own loop give the general loop's pixels, on white
    /// pictures too (the largest sums) and where rows and columns are left over.
    #[test]
    fn every_block_size_shrinks_as_the_general_loop() {
        let (w, h) = (157u32, 83u32);
        let busy: Vec<u8> = (0..w * h)
            .map(|i| ((i * 53 + i / 11) % 256) as u8)
            .collect();
        for data in [busy, vec![255u8; (w * h) as usize]] {
            let img = GrayImage::from_raw(w, h, data.clone()).unwrap();
            let row_of = |y: usize, row: &mut [u8]| {
                let start = y * w as usize;
                row.copy_from_slice(&data[start..start + row.len()])
            };
            for k in 1..=20u32 {
                let general = shrink_block::<u32>(w, h, k as usize, row_of);
                assert_eq!(img.gray_shrunk(k), general, "k = {k}");
                assert_eq!(
                    (general.width(), general.height()),
                    (w / k, h / k),
                    "k = {k}"
                );
            }
        }
    }

    #[test]
    fn short_buffers_are_refused() {
        let rgb = vec![0u8; 10 * 10 * 3 - 1];
        assert!(ColorPixels::new(&rgb, 10, 10, 3, 30, false).is_none());
        assert!(ColorPixels::new(&rgb, 10, 10, 2, 30, false).is_none());
        assert!(ColorPixels::new(&rgb, 10, 9, 3, 30, false).is_some());
    }
}
