//! Drawing on RGB frames: points coloured by facial region, boxes, lines and a small
//! built-in 5×7 bitmap font. Used by the annotated outputs, the live window, the plots
//! and the trainer's sample grids.

use crate::core::geometry::{FaceBox, Point};
use crate::core::layout::Region;

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

pub const WHITE: Rgb = Rgb(255, 255, 255);
pub const BLACK: Rgb = Rgb(0, 0, 0);
pub const RED: Rgb = Rgb(235, 50, 50);
pub const GREEN: Rgb = Rgb(40, 220, 60);
pub const BLUE: Rgb = Rgb(60, 120, 255);
pub const YELLOW: Rgb = Rgb(250, 220, 40);

/// Colour of a region of the iBUG 68 layout.
pub fn region_color(r: Region) -> Rgb {
    match r {
        Region::Jaw => Rgb(255, 200, 40),
        Region::Brows => Rgb(255, 90, 200),
        Region::Nose => Rgb(60, 200, 255),
        Region::Eyes => Rgb(60, 255, 90),
        Region::Mouth => Rgb(255, 70, 70),
    }
}

/// How a face's points are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShapeStyle {
    /// The 68-point outline with its points (the default).
    #[default]
    Outline,
    /// Points only.
    Points,
}

/// Length of the drawn head axes, mm.
pub const HEAD_AXIS_MM: f32 = 50.0;

/// Opacity of a face the tracker is unsure of (not `success`).
pub const UNSURE_ALPHA: f32 = 0.45;

/// The 68-point outline as polylines `(first, last, closed)`: jaw, the two brows, nose
/// bridge, nose base, the two eyes, outer lips, inner lips.
pub const OUTLINE68: [(usize, usize, bool); 9] = [
    (0, 16, false),
    (17, 21, false),
    (22, 26, false),
    (27, 30, false),
    (31, 35, false),
    (36, 41, true),
    (42, 47, true),
    (48, 59, true),
    (60, 67, true),
];

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

    /// 68 points coloured by region (other counts in one colour).
    pub fn landmarks(&mut self, pts: &[Point], r: f32) {
        for (i, p) in pts.iter().enumerate() {
            let c = if pts.len() == 68 {
                Region::of(i).map(region_color).unwrap_or(WHITE)
            } else {
                GREEN
            };
            self.dot(*p, r, c);
        }
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

    /// A face's points as the 68-point outline (jaw, brows, nose bridge and base, closed
    /// eyes, closed outer and inner lips) in region colours, with line width and point
    /// size scaled to the face; other point counts are drawn as dots. A face the tracker
    /// is unsure of is drawn faded and dashed.
    pub fn face_shape(&mut self, pts: &[Point], style: ShapeStyle, confident: bool) {
        let iod = if pts.len() == 68 {
            pts[36].dist(pts[45])
        } else {
            crate::FaceBox::from_points(pts).map_or(40.0, |b| 0.4 * b.width.max(b.height))
        };
        let width = (iod / 45.0).clamp(1.0, 4.0);
        let alpha = if confident { 1.0 } else { UNSURE_ALPHA };
        let dash = if confident { None } else { Some(4.0 * width) };
        if pts.len() == 68 && style == ShapeStyle::Outline {
            for &(start, end, closed) in OUTLINE68.iter() {
                let c = Region::of(start).map(region_color).unwrap_or(WHITE);
                let mut seg: Vec<(usize, usize)> = (start..end).map(|i| (i, i + 1)).collect();
                if closed {
                    seg.push((end, start));
                }
                for (i, j) in seg {
                    self.dashed(pts[i], pts[j], width, c, alpha, dash);
                }
            }
            for (i, p) in pts.iter().enumerate() {
                let c = Region::of(i).map(region_color).unwrap_or(WHITE);
                self.smooth_dot(*p, 0.9 * width, c, alpha);
            }
        } else {
            for (i, p) in pts.iter().enumerate() {
                let c = if pts.len() == 68 {
                    Region::of(i).map(region_color).unwrap_or(WHITE)
                } else {
                    GREEN
                };
                self.smooth_dot(*p, 1.5 * width, c, alpha);
            }
        }
    }

    /// The head's axes from its pose, drawn from the nose tip: x red, y green, z (toward
    /// the viewer) blue, 50 mm long.
    pub fn head_axes(&mut self, pose: &crate::core::head_pose::HeadPose, confident: bool) {
        let Some([o, x, y, z]) = crate::core::head_pose::axes(pose, HEAD_AXIS_MM) else {
            return;
        };
        let width = (o.dist(x) / 25.0).clamp(1.0, 3.0);
        let alpha = if confident { 0.9 } else { UNSURE_ALPHA };
        for (end, c) in [(x, RED), (y, GREEN), (z, BLUE)] {
            self.smooth_line(o, end, width, c, alpha);
        }
    }

    /// A line, dashed with dashes and gaps of `dash` pixels when given.
    fn dashed(&mut self, a: Point, b: Point, width: f32, c: Rgb, alpha: f32, dash: Option<f32>) {
        let Some(d) = dash.filter(|d| *d > 0.5) else {
            return self.smooth_line(a, b, width, c, alpha);
        };
        let len = a.dist(b);
        let n = (len / d).ceil().max(1.0) as usize;
        for k in (0..n).step_by(2) {
            let (t0, t1) = (k as f32 / n as f32, ((k + 1) as f32 / n as f32).min(1.0));
            let p = |t: f32| Point::new(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t);
            self.smooth_line(p(t0), p(t1), width, c, alpha);
        }
    }

    /// Text in the built-in font at integer `scale`; returns the width drawn.
    pub fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb) -> i64 {
        let scale = scale.max(1);
        let mut cx = x;
        for ch in s.chars() {
            let g = glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.fill_rect(cx + col * scale, y + row as i64 * scale, scale, scale, c);
                    }
                }
            }
            cx += 6 * scale;
        }
        cx - x
    }

    /// Text on a dark backing box, readable over any image.
    pub fn label(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        let w = 6 * scale * s.chars().count() as i64;
        self.fill_rect(x - scale, y - scale, w + scale, 9 * scale, BLACK);
        self.text(x, y, s, scale, c);
    }
}

/// Width in pixels of `s` at `scale`.
pub fn text_width(s: &str, scale: i64) -> i64 {
    6 * scale.max(1) * s.chars().count() as i64
}

/// 5×7 glyphs, one byte a row, bit 4 = leftmost column. Unknown characters draw a box.
fn glyph(c: char) -> [u8; 7] {
    let c = c.to_ascii_uppercase();
    match c {
        ' ' => [0; 7],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '[' => [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E],
        ']' => [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '?' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
        '!' => [0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04],
        '\'' => [0x04, 0x04, 0, 0, 0, 0, 0],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

/// A line chart of several series into an RGB buffer (for loss curves and error CDFs).
pub struct Series<'a> {
    pub name: &'a str,
    pub color: Rgb,
    /// (x, y) pairs.
    pub points: &'a [(f32, f32)],
}

/// Draw a chart with axes, tick labels and a legend; returns the packed RGB buffer.
/// An axis label with as many decimals as the axis span needs (epochs print as whole
/// numbers, fractions keep three places).
fn tick_label(v: f32, span: f32) -> String {
    let span = span.abs();
    let decimals = if span >= 20.0 {
        0
    } else if span >= 2.0 {
        1
    } else if span >= 0.2 {
        2
    } else {
        3
    };
    format!("{v:.decimals$}")
}

pub fn chart(
    width: u32,
    height: u32,
    title: &str,
    x_label: &str,
    series: &[Series],
    log_y: bool,
) -> Vec<u8> {
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    let Some(mut cv) = Canvas::new(width, height, &mut buf) else {
        return buf;
    };
    let (ml, mr, mt, mb) = (70i64, 20i64, 30i64, 40i64);
    let pw = (width as i64 - ml - mr).max(10);
    let ph = (height as i64 - mt - mb).max(10);
    let fy = |y: f32| if log_y { y.max(1e-12).log10() } else { y };
    let all = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NEG_INFINITY,
    );
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(fy(y));
        y1 = y1.max(fy(y));
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-9 {
        y1 = y0 + 1.0;
    }
    let px = |x: f32| ml as f32 + (x - x0) / (x1 - x0) * pw as f32;
    let py = |y: f32| mt as f32 + (1.0 - (fy(y) - y0) / (y1 - y0)) * ph as f32;
    let grey = Rgb(200, 200, 200);
    for k in 0..=4 {
        let t = k as f32 / 4.0;
        let yv = y0 + (y1 - y0) * t;
        let yy = mt as f32 + (1.0 - t) * ph as f32;
        cv.line(
            Point::new(ml as f32, yy),
            Point::new((ml + pw) as f32, yy),
            grey,
        );
        let lab = if log_y {
            let v = 10f32.powf(yv);
            tick_label(v, v)
        } else {
            tick_label(yv, y1 - y0)
        };
        cv.text(2, yy as i64 - 3, &lab, 1, BLACK);
        let xv = x0 + (x1 - x0) * t;
        let xx = ml as f32 + t * pw as f32;
        cv.text(
            xx as i64 - 10,
            mt + ph + 6,
            &tick_label(xv, x1 - x0),
            1,
            BLACK,
        );
    }
    cv.line(
        Point::new(ml as f32, mt as f32),
        Point::new(ml as f32, (mt + ph) as f32),
        BLACK,
    );
    cv.line(
        Point::new(ml as f32, (mt + ph) as f32),
        Point::new((ml + pw) as f32, (mt + ph) as f32),
        BLACK,
    );
    cv.text(ml, 8, title, 2, BLACK);
    cv.text(
        ml + pw / 2 - text_width(x_label, 1) / 2,
        mt + ph + 22,
        x_label,
        1,
        BLACK,
    );
    for (si, s) in series.iter().enumerate() {
        for w in s.points.windows(2) {
            cv.line(
                Point::new(px(w[0].0), py(w[0].1)),
                Point::new(px(w[1].0), py(w[1].1)),
                s.color,
            );
        }
        if s.points.len() == 1 {
            cv.dot(
                Point::new(px(s.points[0].0), py(s.points[0].1)),
                2.0,
                s.color,
            );
        }
        let ly = mt + 6 + 12 * si as i64;
        cv.fill_rect(ml + pw - 120, ly, 14, 3, s.color);
        cv.text(ml + pw - 100, ly - 2, s.name, 1, BLACK);
    }
    buf
}

/// A face for a grid: its crop as grey bytes and points in crop pixels.
pub struct GridFace {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub truth: Vec<Point>,
    pub pred: Vec<Point>,
    pub caption: String,
}

/// Faces side by side (`cols` a row), each scaled to `cell` pixels wide, truth green,
/// prediction red: the picture's width, height and RGB bytes (`None` for no faces).
pub fn face_grid(faces: &[GridFace], cols: usize, cell: u32) -> Option<(u32, u32, Vec<u8>)> {
    if faces.is_empty() {
        return None;
    }
    let cols = cols.max(1).min(faces.len());
    let rows = faces.len().div_ceil(cols);
    let ch = faces
        .iter()
        .map(|f| (cell as f32 * f.height as f32 / f.width.max(1) as f32) as u32)
        .max()
        .unwrap_or(cell)
        + 14;
    let (w, h) = (cols as u32 * cell, rows as u32 * ch);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let mut cv = Canvas::new(w, h, &mut buf)?;
    for (k, f) in faces.iter().enumerate() {
        let (ox, oy) = ((k % cols) as u32 * cell, (k / cols) as u32 * ch);
        let s = cell as f32 / f.width.max(1) as f32;
        let fh = (f.height as f32 * s) as u32;
        for y in 0..fh {
            for x in 0..cell {
                let sx = ((x as f32 + 0.5) / s - 0.5)
                    .round()
                    .clamp(0.0, f.width as f32 - 1.0) as usize;
                let sy = ((y as f32 + 0.5) / s - 0.5)
                    .round()
                    .clamp(0.0, f.height as f32 - 1.0) as usize;
                let v = f
                    .pixels
                    .get(sy * f.width as usize + sx)
                    .copied()
                    .unwrap_or(0);
                cv.put((ox + x) as i64, (oy + y) as i64, Rgb(v, v, v));
            }
        }
        let map = |p: &Point| {
            Point::new(
                ox as f32 + (p.x + 0.5) * s - 0.5,
                oy as f32 + (p.y + 0.5) * s - 0.5,
            )
        };
        for p in &f.truth {
            cv.dot(map(p), 1.5, GREEN);
        }
        for p in &f.pred {
            cv.dot(map(p), 1.5, RED);
        }
        cv.text(ox as i64 + 2, (oy + fh + 3) as i64, &f.caption, 1, WHITE);
    }
    Some((w, h, buf))
}

/// Save a packed RGB buffer as PNG.
pub fn save_png(
    path: &std::path::Path,
    width: u32,
    height: u32,
    rgb: &[u8],
) -> Result<(), image::ImageError> {
    image::save_buffer_with_format(
        path,
        rgb,
        width,
        height,
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_use_the_decimals_the_span_needs() {
        assert_eq!(tick_label(30.75, 119.0), "31");
        assert_eq!(tick_label(4.26, 9.0), "4.3");
        assert_eq!(tick_label(0.0512, 0.5), "0.05");
        assert_eq!(tick_label(0.0512, 0.05), "0.051");
    }

    #[test]
    fn text_and_points_touch_the_expected_pixels() {
        let mut buf = vec![0u8; 40 * 20 * 3];
        let mut c = Canvas::new(40, 20, &mut buf).unwrap();
        c.text(1, 1, "1", 1, WHITE);
        // the '1' glyph's stem is column 2 of rows 1..6
        let at = |b: &[u8], x: usize, y: usize| b[(y * 40 + x) * 3];
        c.dot(Point::new(30.0, 10.0), 1.0, RED);
        assert_eq!(at(&buf, 3, 3), 255);
        assert_eq!(at(&buf, 30, 10), 235);
        assert_eq!(at(&buf, 20, 15), 0);
    }

    #[test]
    fn drawing_outside_is_clipped() {
        let mut buf = vec![0u8; 10 * 10 * 3];
        let mut c = Canvas::new(10, 10, &mut buf).unwrap();
        c.line(Point::new(-100.0, -100.0), Point::new(200.0, 300.0), WHITE);
        c.dot(Point::new(f32::NAN, 1.0), 3.0, WHITE);
        c.text(-50, 5, "HELLO WORLD", 3, WHITE);
        c.smooth_line(
            Point::new(-50.0, -5.0),
            Point::new(-5.0, -50.0),
            3.0,
            WHITE,
            1.0,
        );
        c.smooth_dot(Point::new(-20.0, 5.0), 4.0, WHITE, 1.0);
        // the diagonal line crosses the canvas; the far-off line and dot touch nothing
        let lit = buf.chunks(3).filter(|p| p[0] > 0).count();
        assert!((10..=60).contains(&lit), "{lit} pixels lit");
        let mut only_off = vec![0u8; 10 * 10 * 3];
        let mut c = Canvas::new(10, 10, &mut only_off).unwrap();
        c.smooth_line(
            Point::new(-50.0, -5.0),
            Point::new(-5.0, -50.0),
            3.0,
            WHITE,
            1.0,
        );
        c.smooth_dot(Point::new(-20.0, 5.0), 4.0, WHITE, 1.0);
        c.line(Point::new(-10.0, -10.0), Point::new(-10.0, 30.0), WHITE);
        assert!(only_off.iter().all(|&v| v == 0));
    }

    /// A 68-point face laid out on a 300×300 canvas: the points around a ring (eye
    /// corners 36 and 45 about 110 px apart, so lines are 2.5 px wide).
    fn ring_face() -> Vec<Point> {
        (0..68)
            .map(|i| {
                let a = i as f32 / 68.0 * std::f32::consts::TAU;
                Point::new(150.0 + 140.0 * a.cos(), 150.0 + 140.0 * a.sin())
            })
            .collect()
    }

    #[test]
    fn the_outline_joins_the_points_in_region_colours_and_unsure_faces_fade() {
        let pts = ring_face();
        let mut buf = vec![0u8; 300 * 300 * 3];
        let mut c = Canvas::new(300, 300, &mut buf).unwrap();
        c.face_shape(&pts, ShapeStyle::Outline, true);
        let px = |b: &[u8], p: Point| {
            let i = ((p.y.round() as usize) * 300 + p.x.round() as usize) * 3;
            Rgb(b[i], b[i + 1], b[i + 2])
        };
        let mid = |a: Point, b: Point| Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0);
        // the jaw polyline runs between points 3 and 4, the eye loop closes 41 -> 36
        assert_eq!(px(&buf, mid(pts[3], pts[4])), region_color(Region::Jaw));
        assert_eq!(px(&buf, mid(pts[36], pts[41])), region_color(Region::Eyes));
        // no segment joins two regions (16 -> 17 would cross from jaw to brows)
        assert_eq!(px(&buf, mid(pts[16], pts[17])), Rgb(0, 0, 0));
        // points only: nothing between the points
        let mut only = vec![0u8; 300 * 300 * 3];
        let mut c = Canvas::new(300, 300, &mut only).unwrap();
        c.face_shape(&pts, ShapeStyle::Points, true);
        assert_eq!(px(&only, pts[3]), region_color(Region::Jaw));
        assert_eq!(px(&only, mid(pts[3], pts[4])), Rgb(0, 0, 0));
        // an unsure face is faded: its point pixels are a mix, not the full colour
        let mut faded = vec![0u8; 300 * 300 * 3];
        let mut c = Canvas::new(300, 300, &mut faded).unwrap();
        c.face_shape(&pts, ShapeStyle::Outline, false);
        let f = px(&faded, pts[3]);
        let full = region_color(Region::Jaw);
        assert!(f.0 < full.0 && f.0 > 0, "{f:?}");
    }

    #[test]
    fn chart_is_a_valid_png() {
        let pts = [(0.0, 1.0), (1.0, 0.5), (2.0, 0.25)];
        let buf = chart(
            320,
            200,
            "LOSS",
            "EPOCH",
            &[Series {
                name: "train",
                color: BLUE,
                points: &pts,
            }],
            true,
        );
        let p = std::env::temp_dir().join(format!("ft-chart-{}.png", std::process::id()));
        save_png(&p, 320, 200, &buf).unwrap();
        let img = image::open(&p).unwrap();
        assert_eq!((img.width(), img.height()), (320, 200));
    }
}
