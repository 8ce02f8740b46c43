//! Charts and picture grids for reports: loss curves, error CDFs and signal plots
//! (`facetrack eval`, `facetrack plot`, the trainer) and grids of faces with their true and
//! predicted points. Drawn with [`crate::output::draw`]; nothing in the tracking path uses
//! this module.

use crate::core::geometry::Point;
use crate::output::draw::{text_width, Canvas, Rgb, BLACK, GREEN, RED, WHITE};

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
    let (ml, mr, mb) = (70i64, 20i64, 40i64);
    let pw = (width as i64 - ml - mr).max(10);
    // the legend in a band between the title and the plot, its entries in rows as wide
    // as the plot, right-aligned: it hides no line (none where it would leave the plot
    // under 80 pixels, too low for its tick labels)
    let entry_w = |s: &Series| text_width(s.name, 1) + 28;
    let mut rows: Vec<Vec<&Series>> = Vec::new();
    let mut row_w = 0;
    for s in series {
        match rows.last_mut() {
            Some(r) if row_w + entry_w(s) <= pw => r.push(s),
            _ => {
                rows.push(vec![s]);
                row_w = 0;
            }
        }
        row_w += entry_w(s);
    }
    let fits = series.iter().all(|s| entry_w(s) <= pw)
        && height as i64 - 30 - 12 * rows.len() as i64 - 4 - mb >= 80;
    if !fits {
        rows.clear();
    }
    let mt = 30
        + if rows.is_empty() {
            0
        } else {
            12 * rows.len() as i64 + 4
        };
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
    let whole_x = series
        .iter()
        .flat_map(|s| s.points.iter())
        .all(|p| !p.0.is_finite() || p.0.fract() == 0.0);
    // the values span the plot less a few pixels above and below: a line along the
    // lowest or highest value (a flag that stays 0 or 1) is not hidden under an axis
    let pad = 5.0f32;
    let y_at = |t: f32| mt as f32 + pad + (1.0 - t) * (ph as f32 - 2.0 * pad);
    let px = |x: f32| ml as f32 + (x - x0) / (x1 - x0) * pw as f32;
    let py = |y: f32| y_at((fy(y) - y0) / (y1 - y0));
    let grey = Rgb(200, 200, 200);
    for k in 0..=4 {
        let t = k as f32 / 4.0;
        let yv = y0 + (y1 - y0) * t;
        let yy = y_at(t);
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
        // whole-number data (frame numbers) is labelled at whole numbers only: a short
        // clip's axis says 1, 2, 3, not 1.5
        let label = match whole_x {
            false => Some(tick_label(xv, x1 - x0)),
            true if x1 - x0 >= 20.0 || (xv - xv.round()).abs() < 1e-3 => {
                Some(format!("{:.0}", xv.round()))
            }
            true => None,
        };
        if let Some(label) = label {
            cv.text(xx as i64 - 10, mt + ph + 6, &label, 1, BLACK);
        }
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
    // the title at twice the size where it fits
    let title_scale = if text_width(title, 2) <= width as i64 - ml {
        2
    } else {
        1
    };
    cv.text(ml, 8, title, title_scale, BLACK);
    cv.text(
        ml + pw / 2 - text_width(x_label, 1) / 2,
        mt + ph + 22,
        x_label,
        1,
        BLACK,
    );
    for s in series {
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
    }
    for (ri, row) in rows.iter().enumerate() {
        let ly = 30 + 12 * ri as i64 + 4;
        let mut lx = ml + pw - row.iter().map(|s| entry_w(s)).sum::<i64>();
        for s in row {
            cv.fill_rect(lx, ly, 14, 3, s.color);
            cv.text(lx + 20, ly - 2, s.name, 1, BLACK);
            lx += entry_w(s);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::draw::{save_png, BLUE};

    #[test]
    fn tick_labels_use_the_decimals_the_span_needs() {
        assert_eq!(tick_label(30.75, 119.0), "31");
        assert_eq!(tick_label(4.26, 9.0), "4.3");
        assert_eq!(tick_label(0.0512, 0.5), "0.05");
        assert_eq!(tick_label(0.0512, 0.05), "0.051");
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
