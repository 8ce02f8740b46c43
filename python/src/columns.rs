//! The CSV's eye and mouth signal columns and per-point confidence as numpy arrays
//! (`read_csv`, `process_video(arrays=True)`), and the signals of the rows a run keeps in
//! memory.

use facetrack::core::signals::FaceBlinks;
use facetrack::output::csv_out::{VideoRow, SIGNAL_COLUMNS, SIGNAL_POINTS};
use facetrack::tracking::tracker::TrackedFace;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A frame's faces' signal columns as the CSV writes them (`blink` held over the frames
/// by `blinks`, as there); each `None` for another layout than the 68 points.
pub(crate) fn frame_signals(
    faces: &[TrackedFace],
    points: usize,
    blinks: &mut FaceBlinks,
) -> Vec<Option<[f32; 5]>> {
    if points != SIGNAL_POINTS {
        return vec![None; faces.len()];
    }
    let still: Vec<_> = faces.iter().map(|f| (f.id, f.signals())).collect();
    blinks
        .frame(&still)
        .into_iter()
        .map(|g| {
            Some(match g {
                Some(g) => [
                    g.eye_open_l,
                    g.eye_open_r,
                    f32::from(u8::from(g.blink)),
                    g.mouth_open,
                    g.au45_r,
                ],
                None => [0.0; 5],
            })
        })
        .collect()
}

/// Add each of `eye_open_l`, ..., `AU45_r` (`blink` as bool) that every row has,
/// and `point_confidence` (rows × N; zeros on the rows of frames without a face) where
/// the faces' rows have it, or, with `points` given (the tracker's own rows, whose faces
/// always have it), also where no row has a face: zeros of that many points a row.
pub(crate) fn add_columns(
    py: Python<'_>,
    d: &Bound<'_, PyDict>,
    rows: &[VideoRow],
    points: Option<usize>,
) -> PyResult<()> {
    for (k, name) in SIGNAL_COLUMNS.iter().enumerate() {
        // each column the rows have (OpenFace 2.x's AU45_r comes without the others)
        let Some(col) = rows
            .iter()
            .map(|r| r.signals[k])
            .collect::<Option<Vec<f32>>>()
            .filter(|c| !c.is_empty())
        else {
            continue;
        };
        if *name == "blink" {
            // an empty cell (NaN) is no blink
            let b: Vec<bool> = col.into_iter().map(|v| v != 0.0 && !v.is_nan()).collect();
            d.set_item(*name, PyArray1::from_vec(py, b))?;
        } else {
            d.set_item(*name, PyArray1::from_vec(py, col))?;
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
