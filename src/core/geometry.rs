//! Points, face boxes and the crop transform between image pixels and the model's
//! normalised crop coordinates.
//!
//! Conventions (used everywhere in the library):
//! * [`Point`]: image pixels, **0-based pixel centres**: the centre of the top-left pixel
//!   is (0, 0), its area spans [-0.5, 0.5]². Readers convert their files' conventions to this.
//! * [`CropPoint`]: normalised crop coordinates: (0, 0) is the crop centre, ±1 are the crop
//!   edges (not the outermost pixel centres). Models predict in these.

/// A point in image pixels (0-based pixel-centre convention).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Self {
        Point { x, y }
    }

    pub fn dist(self, o: Point) -> f32 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }

    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }
}

/// A point in normalised crop coordinates: centre (0,0), crop edges at ±1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CropPoint {
    pub x: f32,
    pub y: f32,
}

/// An axis-aligned box in image pixels. `left`/`top` are in the same continuous frame as
/// [`Point`]: a box around pixel columns `l..l+w` (exclusive) has `left = l - 0.5`, `width = w`.
/// A box taken from landmarks is their tight bounding box.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaceBox {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

impl FaceBox {
    pub fn new(left: f32, top: f32, width: f32, height: f32) -> Self {
        FaceBox {
            left,
            top,
            width,
            height,
        }
    }

    /// Box of whole pixels: columns `col..col+w`, rows `row..row+h`.
    pub fn from_pixel_grid(col: i64, row: i64, w: u32, h: u32) -> Self {
        FaceBox::new(col as f32 - 0.5, row as f32 - 0.5, w as f32, h as f32)
    }

    /// Tight bounding box of points; `None` when empty or any point is not finite.
    pub fn from_points(points: &[Point]) -> Option<Self> {
        let first = points.first()?;
        let (mut x0, mut y0, mut x1, mut y1) = (first.x, first.y, first.x, first.y);
        for p in points {
            if !p.is_finite() {
                return None;
            }
            x0 = x0.min(p.x);
            y0 = y0.min(p.y);
            x1 = x1.max(p.x);
            y1 = y1.max(p.y);
        }
        Some(FaceBox::new(x0, y0, x1 - x0, y1 - y0))
    }

    /// Whether `p` lies in the box (its edges included).
    pub fn contains(&self, p: Point) -> bool {
        p.x >= self.left
            && p.x <= self.left + self.width
            && p.y >= self.top
            && p.y <= self.top + self.height
    }

    pub fn center(&self) -> Point {
        Point::new(self.left + self.width / 2.0, self.top + self.height / 2.0)
    }

    pub fn right(&self) -> f32 {
        self.left + self.width
    }

    pub fn bottom(&self) -> f32 {
        self.top + self.height
    }

    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Area shared with another box.
    pub fn intersection(&self, o: &FaceBox) -> f32 {
        let iw = (self.right().min(o.right()) - self.left.max(o.left)).max(0.0);
        let ih = (self.bottom().min(o.bottom()) - self.top.max(o.top)).max(0.0);
        iw * ih
    }

    /// Intersection over union with another box (0 when either is empty).
    pub fn iou(&self, o: &FaceBox) -> f32 {
        let inter = self.intersection(o);
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// A similarity transform between image pixels and normalised crop coordinates: a
/// rectangle of half-size `half_w` × `half_h` pixels centred on `center`, rotated by
/// `angle` radians (counter-clockwise in the image as displayed, i.e. with y down, the
/// crop's x axis points along (cos a, sin a)).
///
/// Border handling: the crop may extend past the image; pixels there are filled with
/// the padding value of the preprocessor (never clamped or stretched), so the mapping
/// of points stays exact whatever the box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropTransform {
    pub center: Point,
    pub half_w: f32,
    pub half_h: f32,
    pub angle: f32,
}

impl CropTransform {
    /// The square crop of side `scale * max(width, height)` centred on the box.
    pub fn square_around(b: &FaceBox, scale: f32) -> Self {
        let half = 0.5 * scale * b.width.max(b.height).max(1.0);
        CropTransform {
            center: b.center(),
            half_w: half,
            half_h: half,
            angle: 0.0,
        }
    }

    /// The whole image (used by the IMM models, which see the full 4:3 frame).
    pub fn full_frame(width: u32, height: u32) -> Self {
        CropTransform {
            center: Point::new(width as f32 / 2.0 - 0.5, height as f32 / 2.0 - 0.5),
            half_w: width as f32 / 2.0,
            half_h: height as f32 / 2.0,
            angle: 0.0,
        }
    }

    /// Image pixels -> normalised crop coordinates.
    pub fn to_crop(&self, p: Point) -> CropPoint {
        let (s, c) = self.angle.sin_cos();
        let dx = p.x - self.center.x;
        let dy = p.y - self.center.y;
        CropPoint {
            x: (dx * c + dy * s) / self.half_w,
            y: (-dx * s + dy * c) / self.half_h,
        }
    }

    /// Normalised crop coordinates -> image pixels.
    pub fn to_image(&self, q: CropPoint) -> Point {
        let (s, c) = self.angle.sin_cos();
        let u = q.x * self.half_w;
        let v = q.y * self.half_h;
        Point::new(self.center.x + u * c - v * s, self.center.y + u * s + v * c)
    }

    /// Image pixels per output pixel along x and y when sampled to `out_w` × `out_h`.
    pub fn pixel_scale(&self, out_w: u32, out_h: u32) -> (f32, f32) {
        (
            2.0 * self.half_w / out_w.max(1) as f32,
            2.0 * self.half_h / out_h.max(1) as f32,
        )
    }
}

/// Mean of points (`None` when empty).
pub fn centroid(points: &[Point]) -> Option<Point> {
    if points.is_empty() {
        return None;
    }
    let n = points.len() as f32;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), p| (sx + p.x, sy + p.y));
    Some(Point::new(sx / n, sy / n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small deterministic generator so the property tests need no extra crate.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 40) as f32) / ((1u64 << 24) as f32)
        }
        fn range(&mut self, a: f32, b: f32) -> f32 {
            a + (b - a) * self.next()
        }
    }

    #[test]
    fn crop_round_trip_is_exact_for_boxes_inside_and_across_the_border() {
        let mut r = Lcg(7);
        for _ in 0..5000 {
            // boxes anywhere, including partly or wholly outside a 640x480 frame
            let b = FaceBox::new(
                r.range(-200.0, 600.0),
                r.range(-200.0, 450.0),
                r.range(5.0, 400.0),
                r.range(5.0, 400.0),
            );
            let mut t = CropTransform::square_around(&b, r.range(1.0, 2.5));
            t.angle = r.range(-0.8, 0.8);
            let p = Point::new(r.range(-300.0, 900.0), r.range(-300.0, 800.0));
            let back = t.to_image(t.to_crop(p));
            assert!(
                (back.x - p.x).abs() < 1e-4 * p.x.abs().max(1.0) * 2.0
                    && (back.y - p.y).abs() < 1e-4 * p.y.abs().max(1.0) * 2.0,
                "{p:?} -> {back:?} via {t:?}"
            );
        }
    }

    #[test]
    fn crop_edges_map_to_plus_minus_one() {
        let b = FaceBox::new(100.0, 50.0, 80.0, 60.0);
        let t = CropTransform::square_around(&b, 2.0);
        // side 160 around centre (140, 80): left edge at x=60
        let q = t.to_crop(Point::new(60.0, 80.0));
        assert!((q.x + 1.0).abs() < 1e-6 && q.y.abs() < 1e-6);
        let q = t.to_crop(Point::new(140.0, 160.0));
        assert!(q.x.abs() < 1e-6 && (q.y - 1.0).abs() < 1e-6);
    }

    #[test]
    fn full_frame_maps_pixel_edges_to_the_unit_square() {
        let t = CropTransform::full_frame(640, 480);
        let q = t.to_crop(Point::new(-0.5, -0.5));
        assert!((q.x + 1.0).abs() < 1e-6 && (q.y + 1.0).abs() < 1e-6);
        let q = t.to_crop(Point::new(639.5, 479.5));
        assert!((q.x - 1.0).abs() < 1e-6 && (q.y - 1.0).abs() < 1e-6);
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = FaceBox::new(0.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&FaceBox::new(20.0, 0.0, 5.0, 5.0)), 0.0);
        let half = FaceBox::new(5.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&half) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn box_from_points_rejects_nan_and_empty() {
        assert!(FaceBox::from_points(&[]).is_none());
        assert!(FaceBox::from_points(&[Point::new(f32::NAN, 1.0)]).is_none());
        let b = FaceBox::from_points(&[Point::new(1.0, 2.0), Point::new(5.0, 3.0)]).unwrap();
        assert_eq!(b, FaceBox::new(1.0, 2.0, 4.0, 1.0));
    }
}
