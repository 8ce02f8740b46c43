//! Drawing on RGB frames: points coloured by facial region, boxes, lines and a small
//! built-in 5×7 bitmap font (`canvas`, `face`, `font`). Used by the annotated outputs, the
//! live window and, through [`crate::report`], the plots and the trainer's sample grids.

mod canvas;
mod face;
mod font;

pub use canvas::{save_png, write_png, Canvas, Rgb, BLACK, BLUE, GREEN, RED, WHITE, YELLOW};
pub use face::{region_color, ShapeStyle, HEAD_AXIS_MM, OUTLINE68, UNSURE_ALPHA};
pub use font::text_width;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::Point;
    use crate::core::layout::Region;

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
}
