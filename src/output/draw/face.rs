//! Faces on a canvas: the 68-point outline in region colours, points, and head axes.

use super::canvas::{Canvas, Rgb, BLUE, GREEN, RED, WHITE};
use crate::core::geometry::Point;
use crate::core::layout::Region;

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

impl Canvas<'_> {
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
}
