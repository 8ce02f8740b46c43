//! Pictures of a run: loss curves, grids of faces with predicted and true points, the
//! first layer's filters. Written with facetrack's own drawing code.

use std::path::Path;

use anyhow::Result;
use facetrack::output::draw::{save_png, Canvas, BLUE, RED};
use facetrack::report::{chart, Series};
use tch::Tensor;

/// One row of `metrics.csv`.
#[derive(Debug, Clone, Default)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_nme: f64,
    pub val_px: f64,
    pub lr: f64,
    pub seconds: f64,
    pub samples_per_s: f64,
}

pub const METRICS_HEADER: &str =
    "epoch,train_loss,val_loss,val_nme,val_px_error,lr,seconds,samples_per_s";

impl EpochMetrics {
    pub fn csv_row(&self) -> String {
        format!(
            "{},{:.6},{:.6},{:.6},{:.4},{:.3e},{:.1},{:.1}",
            self.epoch,
            self.train_loss,
            self.val_loss,
            self.val_nme,
            self.val_px,
            self.lr,
            self.seconds,
            self.samples_per_s
        )
    }

    pub fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 8 {
            return None;
        }
        Some(EpochMetrics {
            epoch: f[0].parse().ok()?,
            train_loss: f[1].parse().ok()?,
            val_loss: f[2].parse().ok()?,
            val_nme: f[3].parse().ok()?,
            val_px: f[4].parse().ok()?,
            lr: f[5].parse().ok()?,
            seconds: f[6].parse().ok()?,
            samples_per_s: f[7].parse().ok()?,
        })
    }
}

/// Train and validation loss per epoch (log scale), as in the original work.
pub fn loss_plot(path: &Path, rows: &[EpochMetrics]) -> Result<()> {
    let tr: Vec<(f32, f32)> = rows
        .iter()
        .map(|r| (r.epoch as f32, r.train_loss as f32))
        .collect();
    let va: Vec<(f32, f32)> = rows
        .iter()
        .filter(|r| r.val_loss.is_finite())
        .map(|r| (r.epoch as f32, r.val_loss as f32))
        .collect();
    let (w, h) = (640, 400);
    let buf = chart(
        w,
        h,
        "LOSS",
        "EPOCH",
        &[
            Series {
                name: "train",
                color: BLUE,
                points: &tr,
            },
            Series {
                name: "validation",
                color: RED,
                points: &va,
            },
        ],
        true,
    );
    save_png(path, w, h, &buf)?;
    Ok(())
}

pub use facetrack::report::GridFace;

/// [`facetrack::report::face_grid`] saved as PNG (nothing for no faces).
pub fn face_grid(path: &Path, faces: &[GridFace], cols: usize, cell: u32) -> Result<()> {
    if let Some((w, h, buf)) = facetrack::report::face_grid(faces, cols, cell) {
        save_png(path, w, h, &buf)?;
    }
    Ok(())
}

/// The first convolution's filters, each normalised to its own range, tiled.
pub fn filters_png(path: &Path, weights: &Tensor) -> Result<()> {
    let w = weights
        .detach()
        .to_device(tch::Device::Cpu)
        .to_kind(tch::Kind::Float)
        .contiguous();
    let size = w.size();
    if size.len() != 4 {
        return Ok(());
    }
    let (n, k) = (size[0] as usize, size[2] as usize);
    let data: Vec<f32> = Vec::<f32>::try_from(w.flatten(0, -1))?;
    let per = data.len() / n.max(1);
    let zoom = (48 / k.max(1)).max(4);
    let cols = 8usize;
    let rows = n.div_ceil(cols);
    let cell = k * zoom + 4;
    let (iw, ih) = ((cols * cell) as u32, (rows * cell) as u32);
    let mut buf = vec![40u8; (iw * ih * 3) as usize];
    let Some(mut cv) = Canvas::new(iw, ih, &mut buf) else {
        return Ok(());
    };
    for f in 0..n {
        let vals = &data[f * per..f * per + k * k];
        let lo = vals.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (ox, oy) = ((f % cols) * cell + 2, (f / cols) * cell + 2);
        for y in 0..k {
            for x in 0..k {
                let v = ((vals[y * k + x] - lo) / (hi - lo).max(1e-12) * 255.0) as u8;
                cv.fill_rect(
                    (ox + x * zoom) as i64,
                    (oy + y * zoom) as i64,
                    zoom as i64,
                    zoom as i64,
                    facetrack::output::draw::Rgb(v, v, v),
                );
            }
        }
    }
    save_png(path, iw, ih, &buf)?;
    Ok(())
}
