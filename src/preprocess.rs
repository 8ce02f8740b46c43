//! Cutting a face crop out of a grayscale frame into the model's input tensor: a
//! similarity warp with area-averaged (supersampled) bilinear sampling, pixel
//! normalisation, written into caller-owned buffers that are reused frame after frame.

use crate::geometry::{CropPoint, CropTransform};
use crate::image::GrayImage;

/// Most sub-samples per axis when shrinking: enough to average away aliasing for the
/// face sizes a tracker sees (a 512-pixel face into a 128 input is 4:1).
const MAX_SUPERSAMPLE: u32 = 4;

/// Pixel normalisation: `value = (byte / 255 - mean) / std`. Outside the image the
/// input is 0, i.e. the mean grey.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    pub mean: f32,
    pub std: f32,
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization {
            mean: 0.5,
            std: 0.25,
        }
    }
}

/// Sample the crop `t` of `img` into `out` (row-major `out_w * out_h` floats, one channel).
///
/// Each output pixel averages `k × k` bilinear samples spread over its footprint in the
/// source, with `k = ceil(source pixels per output pixel)` (at most [`MAX_SUPERSAMPLE`]),
/// so downscaling does not alias. Samples that fall outside the image count as the mean
/// grey (0 after normalisation): the crop is padded, never stretched.
pub fn sample_crop(
    img: &GrayImage,
    t: &CropTransform,
    out_w: u32,
    out_h: u32,
    norm: Normalization,
    out: &mut [f32],
) {
    let n = out_w as usize * out_h as usize;
    let n = n.min(out.len());
    let out = &mut out[..n];
    if img.width() == 0 || img.height() == 0 {
        out.fill(0.0);
        return;
    }
    let (sx, sy) = t.pixel_scale(out_w, out_h);
    let kx = (sx.ceil() as u32).clamp(1, MAX_SUPERSAMPLE);
    let ky = (sy.ceil() as u32).clamp(1, MAX_SUPERSAMPLE);
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

    let w = img.width() as i64;
    let h = img.height() as i64;
    let data = img.data();
    let fetch = |x: f32, y: f32| -> f32 {
        // bilinear on pixel centres; outside [-0.5, size-0.5] is padding
        if !(x >= -0.5 && y >= -0.5 && x <= w as f32 - 0.5 && y <= h as f32 - 0.5) {
            return pad;
        }
        let x0f = x.floor();
        let y0f = y.floor();
        let fx = x - x0f;
        let fy = y - y0f;
        let x0 = (x0f as i64).clamp(0, w - 1) as usize;
        let y0 = (y0f as i64).clamp(0, h - 1) as usize;
        let x1 = (x0f as i64 + 1).clamp(0, w - 1) as usize;
        let y1 = (y0f as i64 + 1).clamp(0, h - 1) as usize;
        let wu = w as usize;
        let p00 = data[y0 * wu + x0] as f32;
        let p01 = data[y0 * wu + x1] as f32;
        let p10 = data[y1 * wu + x0] as f32;
        let p11 = data[y1 * wu + x1] as f32;
        let top = p00 + (p01 - p00) * fx;
        let bot = p10 + (p11 - p10) * fx;
        top + (bot - top) * fy
    };

    for j in 0..out_h {
        for i in 0..out_w {
            let mut acc = 0.0f32;
            for b in 0..ky {
                let cy = -1.0 + step_y * (j as f32 + (b as f32 + 0.5) / ky as f32);
                for a in 0..kx {
                    let cx = -1.0 + step_x * (i as f32 + (a as f32 + 0.5) / kx as f32);
                    let x = t.center.x + cx * ax.0 + cy * ay.0;
                    let y = t.center.y + cx * ax.1 + cy * ay.1;
                    acc += fetch(x, y);
                }
            }
            out[(j * out_w + i) as usize] = acc * inv_k * scale - offset;
        }
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
    use crate::geometry::{FaceBox, Point};

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
        let norm = Normalization { mean: 0.0, std: 1.0 / 255.0 };
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

    #[test]
    fn outside_the_image_is_mean_grey() {
        let img = ramp(10, 10);
        let t = CropTransform::square_around(&FaceBox::new(500.0, 500.0, 10.0, 10.0), 1.0);
        let mut out = vec![1.0; 16];
        sample_crop(&img, &t, 4, 4, Normalization::default(), &mut out);
        assert!(out.iter().all(|v| v.abs() < 1e-6));
    }
}
