//! A canvas on a packed RGB buffer: colours, points, lines, boxes, anti-aliased strokes,
//! and PNG output.

use crate::core::geometry::{FaceBox, Point};

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

pub const WHITE: Rgb = Rgb(255, 255, 255);
pub const BLACK: Rgb = Rgb(0, 0, 0);
pub const RED: Rgb = Rgb(235, 50, 50);
pub const GREEN: Rgb = Rgb(40, 220, 60);
pub const BLUE: Rgb = Rgb(60, 120, 255);
pub const YELLOW: Rgb = Rgb(250, 220, 40);

/// A mutable view of a packed RGB buffer.
pub struct Canvas<'a> {
    pub width: u32,
    pub height: u32,
    pub data: &'a mut [u8],
}

impl<'a> Canvas<'a> {
    /// `None` when the buffer is not `width * height * 3` bytes.
    pub fn new(width: u32, height: u32, data: &'a mut [u8]) -> Option<Self> {
        (data.len() == width as usize * height as usize * 3).then_some(Canvas {
            width,
            height,
            data,
        })
    }

    #[inline]
    pub fn put(&mut self, x: i64, y: i64, c: Rgb) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.data[i] = c.0;
        self.data[i + 1] = c.1;
        self.data[i + 2] = c.2;
    }

    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
        for yy in y.max(0)..(y + h).min(self.height as i64) {
            for xx in x.max(0)..(x + w).min(self.width as i64) {
                self.put(xx, yy, c);
            }
        }
    }

    /// A line from `a` to `b` (DDA, clipped per pixel).
    pub fn line(&mut self, a: Point, b: Point, c: Rgb) {
        if !a.is_finite() || !b.is_finite() {
            return;
        }
        let n = ((b.x - a.x).abs().max((b.y - a.y).abs()).ceil() as i64).clamp(1, 1 << 14);
        for i in 0..=n {
            let t = i as f32 / n as f32;
            self.put(
                (a.x + (b.x - a.x) * t).round() as i64,
                (a.y + (b.y - a.y) * t).round() as i64,
                c,
            );
        }
    }

    /// A filled disc of radius `r` pixels around `p`.
    pub fn dot(&mut self, p: Point, r: f32, c: Rgb) {
        if !p.is_finite() {
            return;
        }
        let ri = r.ceil() as i64;
        let (cx, cy) = (p.x.round() as i64, p.y.round() as i64);
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                if ((dx * dx + dy * dy) as f32) <= r * r + 0.5 {
                    self.put(cx + dx, cy + dy, c);
                }
            }
        }
    }

    pub fn rect(&mut self, b: &FaceBox, c: Rgb) {
        let (l, t, r, btm) = (b.left + 0.5, b.top + 0.5, b.right() - 0.5, b.bottom() - 0.5);
        self.line(Point::new(l, t), Point::new(r, t), c);
        self.line(Point::new(r, t), Point::new(r, btm), c);
        self.line(Point::new(r, btm), Point::new(l, btm), c);
        self.line(Point::new(l, btm), Point::new(l, t), c);
    }

    /// Mix colour `c` into pixel (x, y) with weight `a` (0..1).
    #[inline]
    pub fn blend(&mut self, x: i64, y: i64, c: Rgb, a: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 || a <= 0.0 {
            return;
        }
        let a = a.min(1.0);
        let i = (y as usize * self.width as usize + x as usize) * 3;
        for (k, v) in [c.0, c.1, c.2].into_iter().enumerate() {
            let old = self.data[i + k] as f32;
            self.data[i + k] = (old + (v as f32 - old) * a).round() as u8;
        }
    }

    /// An anti-aliased line `width` pixels wide (coverage from the distance of each
    /// pixel centre to the segment), mixed in with opacity `alpha`.
    pub fn smooth_line(&mut self, a: Point, b: Point, width: f32, c: Rgb, alpha: f32) {
        if !a.is_finite() || !b.is_finite() {
            return;
        }
        let half = 0.5 * width.max(0.5);
        let pad = half + 1.0;
        let (x0, x1) = ((a.x.min(b.x) - pad).floor(), (a.x.max(b.x) + pad).ceil());
        let (y0, y1) = ((a.y.min(b.y) - pad).floor(), (a.y.max(b.y) + pad).ceil());
        let (x0, x1) = (x0.max(0.0) as i64, x1.min(self.width as f32 - 1.0) as i64);
        let (y0, y1) = (y0.max(0.0) as i64, y1.min(self.height as f32 - 1.0) as i64);
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let len2 = (dx * dx + dy * dy).max(1e-12);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (px, py) = (x as f32 - a.x, y as f32 - a.y);
                let t = ((px * dx + py * dy) / len2).clamp(0.0, 1.0);
                let d = ((px - t * dx).powi(2) + (py - t * dy).powi(2)).sqrt();
                let cover = (half + 0.5 - d).clamp(0.0, 1.0);
                self.blend(x, y, c, cover * alpha);
            }
        }
    }

    /// An anti-aliased disc of radius `r` around `p`, with opacity `alpha`.
    pub fn smooth_dot(&mut self, p: Point, r: f32, c: Rgb, alpha: f32) {
        if !p.is_finite() {
            return;
        }
        let ri = (r + 1.0).ceil() as i64;
        let (cx, cy) = (p.x.round() as i64, p.y.round() as i64);
        for yy in cy - ri..=cy + ri {
            for xx in cx - ri..=cx + ri {
                let d = ((xx as f32 - p.x).powi(2) + (yy as f32 - p.y).powi(2)).sqrt();
                self.blend(xx, yy, c, (r + 0.5 - d).clamp(0.0, 1.0) * alpha);
            }
        }
    }
}

/// Save a packed RGB buffer as PNG.
pub fn save_png(
    path: &std::path::Path,
    width: u32,
    height: u32,
    rgb: &[u8],
) -> Result<(), image::ImageError> {
    write_png(std::fs::File::create(path)?, width, height, rgb)
}

/// Write a packed RGB buffer as PNG into a file already open (an output's partial file
/// from [`crate::output::output_files::Pending::create`]).
pub fn write_png(
    file: std::fs::File,
    width: u32,
    height: u32,
    rgb: &[u8],
) -> Result<(), image::ImageError> {
    use image::ImageEncoder;
    use std::io::Write;
    let mut out = std::io::BufWriter::new(file);
    image::codecs::png::PngEncoder::new(&mut out).write_image(
        rgb,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )?;
    out.flush()?;
    Ok(())
}
