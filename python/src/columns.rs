//! The CSV's eye and mouth signal columns and per-point confidence as numpy arrays
//! (`read_csv`, `process_video(arrays=True)`), and the signals of the rows a run keeps in
//! memory.

use std::collections::HashMap;

use facetrack::core::signals::{face_signals, BlinkState};
use facetrack::output::csv_out::{VideoRow, SIGNAL_COLUMNS, SIGNAL_POINTS};
use facetrack::tracking::tracker::TrackedFace;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A face's signal columns as the CSV writes them (`blink` with hysteresis over the
/// frames, per face id, kept in `blinks`); `None` for another layout than the 68 points.
pub(crate) fn row_signals(
    f: &TrackedFace,
    points: usize,
    blinks: &mut HashMap<u32, BlinkState>,
) -> Option<[f32; 5]> {
    if points != SIGNAL_POINTS {
        return None;
    }
    Some(match face_signals(f.model_points()) {
        Some(g) => {
            let blink = blinks
                .entry(f.id)
                .or_default()
                .update(g.eye_open_l, g.eye_open_r);
            [
                g.eye_open_l,
                g.eye_open_r,
                f32::from(u8::from(blink)),
                g.mouth_open,
                g.au45_r,
            ]
        }
        None => [0.0; 5],
    })
}

/// Add `eye_open_l`, ..., `AU45_r` (`blink` as bool) where every row has the signals,
/// and `point_confidence` (rows × N; zeros on the rows of frames without a face) where
/// the faces' rows have it, or, with `points` given (the tracker's own rows, whose faces
/// always have it), also where no row has a face: zeros of that many points a row.
pub(crate) fn add_columns(
    py: Python<'_>,
    d: &Bound<'_, PyDict>,
    rows: &[VideoRow],
    points: Option<usize>,
) -> PyResult<()> {
    if !rows.is_empty() && rows.iter().all(|r| r.signals.is_some()) {
        let col = |k: usize| -> Vec<f32> {
            rows.iter()
                .map(|r| r.signals.map_or(0.0, |s| s[k]))
                .collect()
        };
        for (k, name) in SIGNAL_COLUMNS.iter().enumerate() {
            if *name == "blink" {
                let b: Vec<bool> = col(k).into_iter().map(|v| v != 0.0).collect();
                d.set_item(*name, PyArray1::from_vec(py, b))?;
            } else {
                d.set_item(*name, PyArray1::from_vec(py, col(k)))?;
            }
        }
    }
    let k = rows
        .iter()
        .map(|r| r.point_confidence.len())
        .max()
        .filter(|&k| k > 0)
        .or(points)
        .unwrap_or(0);
    let fits = |r: &VideoRow| {
        r.point_confidence.len() == k || (r.face_id < 0 && r.point_confidence.is_empty())
    };
    if (k > 0 || points.is_some()) && rows.iter().all(fits) {
        let mut flat = Vec::with_capacity(rows.len() * k);
        for r in rows {
            match r.point_confidence.len() {
                0 => flat.extend(std::iter::repeat_n(0.0, k)),
                _ => flat.extend_from_slice(&r.point_confidence),
            }
        }
        let arr = PyArray1::from_vec(py, flat)
            .reshape([rows.len(), k])
            .map_err(crate::errors::err)?;
        d.set_item("point_confidence", arr)?;
    }
    Ok(())
}
