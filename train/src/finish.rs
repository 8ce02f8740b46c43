//! The end of a run's pictures and files: the best/worst validation grid and the checked
//! ONNX export.

use std::path::Path;

use anyhow::{bail, Result};
use facetrack::core::contract::ModelContract;
use facetrack::Point;
use tch::{Kind, Tensor};

use crate::checkpoint::*;
use crate::data::Face;
use crate::export::{check_export, to_bytes, write_atomic};
use crate::infer::*;
use crate::loader::build_batch;
use crate::net::Net;
use crate::report::{face_grid, filters_png, GridFace};

/// Best and worst validation faces drawn on their crops.
pub(crate) fn best_worst_grid(
    path: &Path,
    faces: &[Face],
    val: &ValResult,
    c: &ModelContract,
) -> Result<()> {
    let errs: Vec<f32> = if val.nme.len() == faces.len() {
        val.nme.clone()
    } else {
        val.px.clone()
    };
    let mut idx: Vec<usize> = (0..faces.len()).filter(|&i| errs[i].is_finite()).collect();
    idx.sort_by(|&a, &b| errs[a].total_cmp(&errs[b]));
    let pick: Vec<usize> = idx
        .iter()
        .take(6)
        .chain(idx.iter().rev().take(6).rev())
        .copied()
        .collect();
    let (w, h) = (c.input_width.max(96) * 2, c.input_height.max(96) * 2);
    let mut cells = Vec::new();
    for &i in &pick {
        let face = &faces[i];
        let t = facetrack::data::jitter::tracked_crop(
            &face.points,
            c,
            (face.image.width(), face.image.height()),
            i as u64,
        );
        let mut buf = vec![0f32; (w * h) as usize];
        let norm = facetrack::inference::preprocess::Normalization {
            mean: 0.0,
            std: 1.0 / 255.0,
        };
        facetrack::inference::preprocess::sample_crop(&face.image, &t, w, h, norm, &mut buf);
        let to_px = |p: &Point| {
            let q = t.to_crop(*p);
            Point::new(
                (q.x + 1.0) * w as f32 / 2.0 - 0.5,
                (q.y + 1.0) * h as f32 / 2.0 - 0.5,
            )
        };
        cells.push(GridFace {
            pixels: buf.iter().map(|v| v.clamp(0.0, 255.0) as u8).collect(),
            width: w,
            height: h,
            truth: face.points.iter().map(to_px).collect(),
            pred: val.preds[i].iter().map(to_px).collect(),
            caption: if val.nme.len() == faces.len() {
                format!("NME {:.1}%", errs[i] * 100.0)
            } else {
                format!("{:.1} PX", errs[i])
            },
        });
    }
    face_grid(path, &cells, 6, 160)
}

/// Export `model.onnx`, check it against the tch forward, draw the filters.
pub(crate) fn export_final(
    dir: &RunDir,
    net: &Net,
    contract: &ModelContract,
    val: &[Face],
) -> Result<()> {
    export_checked(&dir.onnx(), net, contract, val)?;
    if let Some(w) = net.first_conv_weights() {
        let _ = filters_png(&dir.0.join("filters.png"), &w);
    }
    Ok(())
}

/// Write `net` as ONNX to `path` after checking ONNX Runtime's output against the tch
/// forward on validation crops (noise when there are none).
pub(crate) fn export_checked(
    path: &Path,
    net: &Net,
    contract: &ModelContract,
    val: &[Face],
) -> Result<()> {
    let bytes = to_bytes(net, contract)?;
    // check on real validation crops when there are some, else on noise
    let input = if val.is_empty() {
        Tensor::randn(
            [
                2,
                1,
                contract.input_height as i64,
                contract.input_width as i64,
            ],
            (Kind::Float, tch::Device::Cpu),
        )
    } else {
        let n = val.len().min(4);
        let idx: Vec<usize> = (0..n).collect();
        let b = build_batch(
            val,
            &idx,
            contract,
            &[],
            &val_augment(),
            VAL_SEED,
            0,
            0,
            &[],
        );
        Tensor::from_slice(&b.input).view([
            n as i64,
            1,
            contract.input_height as i64,
            contract.input_width as i64,
        ])
    };
    let chk = check_export(net, &bytes, &input)?;
    let tol = 1e-3 * chk.output_range.max(1e-3);
    if chk.max_abs_diff > tol {
        bail!(
            "export check failed: ONNX Runtime differs from tch by {} (output range {})",
            chk.max_abs_diff,
            chk.output_range
        );
    }
    write_atomic(path, &bytes)?;
    println!(
        "exported {} (ONNX Runtime vs tch: max difference {:.2e} over a range of {:.2})",
        path.display(),
        chk.max_abs_diff,
        chk.output_range
    );
    Ok(())
}
