// This file is part of the open-source port of SeetaFace engine, which originally includes three modules:
//      SeetaFace Detection, SeetaFace Alignment, and SeetaFace Identification.
//
// This file is part of the SeetaFace Detection module, containing codes implementing the face detection method described in the following paper:
//
//      Funnel-structured cascade for multi-view face detection with alignment awareness,
//      Shuzhe Wu, Meina Kan, Zhenliang He, Shiguang Shan, Xilin Chen.
//      In Neurocomputing (under review)
//
// Copyright (C) 2016, Visual Information Processing and Learning (VIPL) group,
// Institute of Computing Technology, Chinese Academy of Sciences, Beijing, China.
//
// As an open-source face recognition engine: you can redistribute SeetaFace source codes
// and/or modify it under the terms of the BSD 2-Clause License.
//
// You should have received a copy of the BSD 2-Clause License along with the software.
// If not, see < https://opensource.org/licenses/BSD-2-Clause>.

use std::cmp;

#[derive(Debug, Clone, Copy)]
pub struct ImageData<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    num_channels: u32,
}

impl<'a> ImageData<'a> {
    #[inline]
    pub fn new(data: &'a [u8], width: u32, height: u32) -> Self {
        assert_eq!(data.len(), width as usize * height as usize);
        ImageData {
            data,
            width,
            height,
            num_channels: 1,
        }
    }

    #[inline]
    pub fn width(&self) -> u32 {
        self.width
    }

    #[inline]
    pub fn height(&self) -> u32 {
        self.height
    }

    #[inline]
    pub fn num_channels(&self) -> u32 {
        self.num_channels
    }

    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// The image at scales 1, s, s², ... down to the smallest scale. (facetrack: the image is
/// borrowed, not copied, and its first level is the image itself, not a copy.)
pub struct ImagePyramid<'a> {
    min_scale: f32,
    scale_factor: f32,
    scale_step: f32,
    image_1x: ImageData<'a>,
    img_buf_scaled: Vec<u8>,
    /// (facetrack) levels passed over before the first one given, and how many are given
    /// after them (None: all down to the smallest scale)
    skip: u32,
    take: Option<u32>,
}

impl<'a> ImagePyramid<'a> {
    pub fn new(image_1x: ImageData<'a>) -> Self {
        ImagePyramid {
            min_scale: 1.0,
            scale_factor: 1.0,
            scale_step: 0.8,
            image_1x,
            img_buf_scaled: Vec::new(),
            skip: 0,
            take: None,
        }
    }

    /// (facetrack) Give only the levels `skip .. skip + take` (`take` None: all from
    /// `skip` down to the smallest scale), each at the scale, and with the pixels, it has
    /// in the whole pyramid: a search of all the levels can be split into parts.
    pub fn set_levels(&mut self, skip: u32, take: Option<u32>) {
        self.skip = skip;
        self.take = take;
    }

    #[inline]
    pub fn set_min_scale(&mut self, min_scale: f32) {
        self.min_scale = min_scale;
    }

    pub fn set_scale_step(&mut self, scale_step: f32) {
        if scale_step > 0.0 && scale_step <= 1.0 {
            self.scale_step = scale_step;
        }
    }

    #[inline]
    pub fn get_image_1x(&self) -> ImageData<'a> {
        self.image_1x
    }

    pub fn get_next_scale_image(&mut self) -> Option<(ImageData<'_>, f32)> {
        // (facetrack) the levels passed over: their scales, computed as the whole
        // pyramid computes them, without their pixels
        while self.skip > 0 {
            self.skip -= 1;
            self.scale_factor *= self.scale_step;
        }
        if self.take == Some(0) {
            return None;
        }
        if self.scale_factor < self.min_scale {
            return None;
        }
        if let Some(n) = self.take.as_mut() {
            *n -= 1;
        }

        let scale_factor = self.scale_factor;
        let width_scaled = (self.image_1x.width() as f32 * scale_factor) as u32;
        let height_scaled = (self.image_1x.height() as f32 * scale_factor) as u32;
        self.scale_factor *= self.scale_step;

        if width_scaled == self.image_1x.width() && height_scaled == self.image_1x.height() {
            return Some((self.image_1x, scale_factor));
        }
        resize_image(
            &self.image_1x,
            &mut self.img_buf_scaled,
            width_scaled,
            height_scaled,
        );
        let img_scaled = ImageData::new(&self.img_buf_scaled, width_scaled, height_scaled);
        Some((img_scaled, scale_factor))
    }
}

/// Bilinear resize. (facetrack: each column's and row's source pixel and weight are
/// computed once, not at every pixel, and each source row's horizontal blends once for
/// the output rows that share it; the arithmetic is upstream's, in f64 and in its order,
/// so the pixels are the same.)
pub fn resize_image(src: &ImageData, dest: &mut Vec<u8>, width: u32, height: u32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above
        return unsafe { resize_image_avx2(src, dest, width, height) };
    }
    resize_image_any(src, dest, width, height, blend_row)
}

/// (facetrack) [`resize_image`] compiled for AVX2: the same operations, wider registers,
/// and the horizontal blends 4 columns at a time ([`blend_row_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn resize_image_avx2(src: &ImageData, dest: &mut Vec<u8>, width: u32, height: u32) {
    resize_image_any(src, dest, width, height, |data, row, cols, out| {
        // SAFETY: this function runs only where AVX2 is there
        unsafe { blend_row_avx2(data, row, cols, out) }
    })
}

/// (facetrack) Each output column's source pixel `n` (it blends `n` and `n + 1`) and the
/// weights upstream gives the two: `1 - w` and `w`.
struct ColumnTaps {
    n: Vec<i32>,
    left: Vec<f64>,
    right: Vec<f64>,
}

/// (facetrack) Source row `row` (starting at `data[row..]`) blended between each column's
/// two pixels: upstream's `(1 - wx) * d1 + wx * d2`.
fn blend_row(data: &[u8], row: usize, cols: &ColumnTaps, out: &mut [f64]) {
    let r = &data[row..];
    for (((o, &n), &a), &b) in out.iter_mut().zip(&cols.n).zip(&cols.left).zip(&cols.right) {
        let n = n as u32 as usize;
        *o = a * f64::from(r[n]) + b * f64::from(r[n + 1]);
    }
}

/// (facetrack) [`blend_row`] 4 columns at a time: each column's two pixels from one 4-byte
/// read, the same f64 products and sum (no fused multiply-add), so the same values.
///
/// # Safety
/// AVX2 must be available, and `cols.n` must never decrease along the row (as
/// `resize_image_any` makes it): the check that a group's 4-byte reads end inside `data`
/// looks at the group's last column.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blend_row_avx2(data: &[u8], row: usize, cols: &ColumnTaps, out: &mut [f64]) {
    use std::arch::x86_64::*;
    let m = out
        .len()
        .min(cols.n.len())
        .min(cols.left.len())
        .min(cols.right.len());
    debug_assert!(cols.n.windows(2).all(|w| w[0] <= w[1]));
    // a 4-byte read from row + n must end inside `data`; `n` grows along the row, so the
    // groups of 4 up to the first that would not are read this way, the rest one by one
    let fits = |i: usize| row + cols.n[i] as u32 as usize + 4 <= data.len();
    let mut i = 0;
    if data.len() <= i32::MAX as usize && row <= data.len() {
        let base = data.as_ptr().add(row) as *const i32;
        let byte = _mm_set1_epi32(0xff);
        while i + 4 <= m && fits(i + 3) {
            let g = _mm_i32gather_epi32::<1>(
                base,
                _mm_loadu_si128(cols.n[i..].as_ptr() as *const __m128i),
            );
            let d1 = _mm256_cvtepi32_pd(_mm_and_si128(g, byte));
            let d2 = _mm256_cvtepi32_pd(_mm_and_si128(_mm_srli_epi32::<8>(g), byte));
            let a = _mm256_loadu_pd(cols.left[i..].as_ptr());
            let b = _mm256_loadu_pd(cols.right[i..].as_ptr());
            let v = _mm256_add_pd(_mm256_mul_pd(a, d1), _mm256_mul_pd(b, d2));
            _mm256_storeu_pd(out[i..i + 4].as_mut_ptr(), v);
            i += 4;
        }
    }
    let r = &data[row..];
    for j in i..m {
        let n = cols.n[j] as u32 as usize;
        out[j] = cols.left[j] * f64::from(r[n]) + cols.right[j] * f64::from(r[n + 1]);
    }
}

#[inline(always)]
fn resize_image_any(
    src: &ImageData,
    dest: &mut Vec<u8>,
    width: u32,
    height: u32,
    blend: impl Fn(&[u8], usize, &ColumnTaps, &mut [f64]),
) {
    dest.clear();

    if src.width() == width && src.height() == height {
        dest.extend_from_slice(src.data());
        return;
    }

    let sw = src.width() as usize;
    let data = src.data();
    if src.width() < 2 || src.height() < 2 {
        // (facetrack) upstream reads outside the picture here (a window the MLP stage
        // shrank to 0 or 1 pixel): such a picture is stretched from its nearest pixels,
        // or black when it has none
        let sh = src.height() as usize;
        dest.resize(width as usize * height as usize, 0);
        if sw > 0 && sh > 0 {
            for (y, row) in dest.chunks_exact_mut(width.max(1) as usize).enumerate() {
                let sy = (y * sh / height as usize).min(sh - 1);
                for (x, v) in row.iter_mut().enumerate() {
                    *v = data[sy * sw + (x * sw / width as usize).min(sw - 1)];
                }
            }
        }
        return;
    }
    let lf_x_scl = f64::from(src.width()) / f64::from(width);
    let lf_y_scl = f64::from(src.height()) / f64::from(height);
    // the source pixel before a sample and the sample's weight on the next one
    let at = |scl: f64, i: u32, last: u32| {
        let s = scl * f64::from(i);
        let n = cmp::min(s as u32, last);
        (n as usize, s - f64::from(n))
    };
    let mut cols = ColumnTaps {
        n: Vec::with_capacity(width as usize),
        left: Vec::with_capacity(width as usize),
        right: Vec::with_capacity(width as usize),
    };
    for x in 0..width {
        let (n, w) = at(lf_x_scl, x, src.width() - 2);
        cols.n.push(n as i32);
        cols.left.push(1.0 - w);
        cols.right.push(w);
    }
    // the blends of the two source rows the last output row used
    let (mut top, mut bottom) = (vec![0f64; width as usize], vec![0f64; width as usize]);
    let mut rows: Option<usize> = None;
    let wu = width as usize;
    dest.resize(wu * height as usize, 0);
    for (y, out) in (0..height).zip(dest.chunks_exact_mut(wu.max(1))) {
        let (n_y_s, lf_weight_y) = at(lf_y_scl, y, src.height() - 2);
        match rows {
            Some(r) if r == n_y_s => {}
            Some(r) if r + 1 == n_y_s => {
                std::mem::swap(&mut top, &mut bottom);
                blend(data, (n_y_s + 1) * sw, &cols, &mut bottom);
            }
            _ => {
                blend(data, n_y_s * sw, &cols, &mut top);
                blend(data, (n_y_s + 1) * sw, &cols, &mut bottom);
            }
        }
        rows = Some(n_y_s);
        let (a, b) = (1.0 - lf_weight_y, lf_weight_y);
        for ((o, &t), &d) in out.iter_mut().zip(&top).zip(&bottom) {
            *o = (a * t + b * d) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (facetrack) Pictures of 0 or 1 pixel across (upstream read outside them) give a
    /// picture of the size asked for, without a panic.
    #[test]
    fn tiny_pictures_resize_without_reading_outside_them() {
        let mut out = Vec::new();
        resize_image(&ImageData::new(&[], 0, 0), &mut out, 40, 40);
        assert_eq!(out, vec![0u8; 1600]);
        resize_image(&ImageData::new(&[7], 1, 1), &mut out, 40, 40);
        assert_eq!(out, vec![7u8; 1600]);
        resize_image(&ImageData::new(&[1, 2, 3], 3, 1), &mut out, 6, 2);
        assert_eq!(out, vec![1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
        resize_image(&ImageData::new(&[5, 9], 1, 2), &mut out, 1, 4);
        assert_eq!(out, vec![5, 5, 9, 9]);
    }

    /// (facetrack) A pyramid cut into parts (`set_levels`) gives, part after part, the
    /// whole pyramid's levels: the same scales and the same pixels; a part past the
    /// smallest scale gives none.
    #[test]
    fn the_parts_of_a_pyramid_are_its_levels() {
        let (w, h) = (97u32, 65u32);
        let data: Vec<u8> = (0..w * h).map(|v| (v * 31 % 253) as u8).collect();
        let levels = |skip: u32, take: Option<u32>| {
            let mut p = ImagePyramid::new(ImageData::new(&data, w, h));
            p.set_min_scale(40.0 / h as f32);
            p.set_scale_step(0.8);
            p.set_levels(skip, take);
            let mut out = Vec::new();
            while let Some((img, s)) = p.get_next_scale_image() {
                out.push((s, img.width(), img.height(), img.data().to_vec()));
            }
            out
        };
        let all = levels(0, None);
        // 1, 0.8, 0.64 (0.512 is under 40 / 65)
        assert_eq!(all.len(), 3);
        assert_eq!(
            [levels(0, Some(1)), levels(1, Some(1)), levels(2, None)].concat(),
            all
        );
        assert_eq!([levels(0, Some(2)), levels(2, Some(5))].concat(), all);
        assert_eq!(levels(1, None), all[1..]);
        assert!(levels(3, None).is_empty() && levels(0, Some(0)).is_empty());
    }

    /// (facetrack) The resize's pixels are upstream's, computed at every pixel.
    #[test]
    fn the_resize_is_upstreams_bilinear_resize() {
        for (w, h) in [(53u32, 37u32), (2, 9), (9, 2), (2, 2), (5, 3)] {
            let data: Vec<u8> = (0..w * h).map(|v| (v * 37 % 251) as u8).collect();
            let src = ImageData::new(&data, w, h);
            for (ow, oh) in [
                (40, 40),
                (42, 29),
                (80, 50),
                (53, 36),
                (17, 60),
                (3, 2),
                (2, 7),
            ] {
                let mut got = Vec::new();
                resize_image(&src, &mut got, ow, oh);
                let (xs, ys) = (f64::from(w) / f64::from(ow), f64::from(h) / f64::from(oh));
                let mut want = Vec::new();
                for y in 0..oh {
                    for x in 0..ow {
                        let (fx, fy) = (xs * f64::from(x), ys * f64::from(y));
                        let (nx, ny) = (cmp::min(fx as u32, w - 2), cmp::min(fy as u32, h - 2));
                        let (wx, wy) = (fx - f64::from(nx), fy - f64::from(ny));
                        let p = |x: u32, y: u32| f64::from(data[(y * w + x) as usize]);
                        let v = (1.0 - wy) * ((1.0 - wx) * p(nx, ny) + wx * p(nx + 1, ny))
                            + wy * ((1.0 - wx) * p(nx, ny + 1) + wx * p(nx + 1, ny + 1));
                        want.push(v as u8);
                    }
                }
                assert_eq!(got, want, "{w}x{h} to {ow}x{oh}");
                // the baseline build's blends too (the AVX2 ones ran above, where the CPU
                // has it)
                let mut baseline = Vec::new();
                resize_image_any(&src, &mut baseline, ow, oh, blend_row);
                assert_eq!(baseline, want, "{w}x{h} to {ow}x{oh}, baseline");
            }
        }
    }
}
