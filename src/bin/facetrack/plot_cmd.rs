//! `facetrack plot`: a video CSV's eye and mouth signals over its frames, as a PNG.

use anyhow::{bail, Context, Result};
use facetrack::output::csv_out::{read_video_csv, VideoRow};
use facetrack::output::draw::{write_png, Rgb, BLACK, BLUE, GREEN, RED};
use facetrack::output::output_files::{check_outputs, Pending};
use facetrack::report::{chart, Series};

use crate::args::PlotArgs;

/// The face a plot follows: the one asked for, else the one found (`success`) in the
/// most rows.
fn chosen_face(rows: &[VideoRow], want: Option<i64>) -> Result<i64> {
    if let Some(id) = want {
        if id < 0 {
            bail!("--face {id}: face ids are 0 or more (face_id -1 marks the rows of frames without a face)");
        }
        if !rows.iter().any(|r| r.face_id == id) {
            bail!("the CSV has no face {id}");
        }
        if !rows.iter().any(|r| r.face_id == id && r.success) {
            bail!(
                "face {id} has no row with success = 1 (its points are guesses): nothing to plot"
            );
        }
        return Ok(id);
    }
    let mut counts = std::collections::BTreeMap::new();
    for r in rows.iter().filter(|r| r.face_id >= 0 && r.success) {
        *counts.entry(r.face_id).or_insert(0usize) += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(id, n)| (n, std::cmp::Reverse(id)))
        .map(|(id, _)| id)
        .context("the CSV has no face found (no row with success = 1)")
}

/// A named, coloured line: (frame, value) pairs.
type Line = (&'static str, Rgb, Vec<(f32, f32)>);

/// The series of one face: eye openness, mouth openness, blink (0/1), each the CSV has
/// (an OpenFace 2.x file, without them, gives its `AU45_r` blink intensity instead) and,
/// when the CSV has them, the mean point confidence.
fn series(rows: &[VideoRow], id: i64, time: bool) -> Result<Vec<Line>> {
    // the rows where it was found: a track being lost (success 0) has guessed points, and
    // its signals from them read as a closed eye
    let mine: Vec<&VideoRow> = rows
        .iter()
        .filter(|r| r.face_id == id && r.success)
        .collect();
    let x = |r: &VideoRow| {
        if time {
            r.timestamp as f32
        } else {
            r.frame as f32
        }
    };
    // frames where the face was not tracked break the lines (a NaN point between): a
    // line drawn across them looked like a slow change of the signal
    let with_breaks = |values: Vec<f32>| -> Vec<(f32, f32)> {
        let mut out = Vec::with_capacity(values.len());
        for (k, (r, v)) in mine.iter().zip(values).enumerate() {
            if let Some(prev) = k.checked_sub(1).map(|j| mine[j]) {
                if r.frame > prev.frame + 1 {
                    out.push(((x(prev) + x(r)) / 2.0, f32::NAN));
                }
            }
            out.push((x(r), v));
        }
        out
    };
    let col = |k: usize| -> Option<Vec<(f32, f32)>> {
        let values: Option<Vec<f32>> = mine.iter().map(|r| r.signals[k]).collect();
        values.map(with_breaks)
    };
    let mut out: Vec<Line> = [
        ("eye_open_l", GREEN, 0),
        ("eye_open_r", BLUE, 1),
        ("mouth_open", RED, 3),
        ("blink", BLACK, 2),
    ]
    .into_iter()
    .filter_map(|(name, c, k)| Some((name, c, col(k)?)))
    .collect();
    if out.is_empty() {
        // AU45_r runs 0-5: alone, not squashing the 0-1 signals beside it
        out.extend(col(4).map(|v| ("AU45_r", BLACK, v)));
    }
    if out.is_empty() {
        bail!(
            "the CSV has no signal columns (eye_open_l, ..., AU45_r): write it with this facetrack"
        );
    }
    if mine.iter().all(|r| !r.point_confidence.is_empty()) {
        let c = with_breaks(
            mine.iter()
                .map(|r| r.point_confidence.iter().sum::<f32>() / r.point_confidence.len() as f32)
                .collect(),
        );
        out.push(("mean point confidence", Rgb(200, 140, 0), c));
    }
    Ok(out)
}

pub fn run(a: &PlotArgs) -> Result<()> {
    // the chart is a PNG: a name that says otherwise (chart.jpg) is refused; one without
    // an extension (/dev/stdout, a FIFO) is written to
    if a.out
        .extension()
        .is_some_and(|e| !e.eq_ignore_ascii_case("png"))
    {
        anyhow::bail!(
            "{}: the chart is written as PNG: name it NAME.png",
            a.out.display()
        );
    }
    check_outputs(
        std::slice::from_ref(&a.csv),
        std::slice::from_ref(&a.out),
        a.overwrite,
    )?;
    let rows = read_video_csv(&a.csv)?;
    let id = chosen_face(&rows, a.face)?;
    let s = series(&rows, id, a.time)?;
    let series: Vec<Series> = s
        .iter()
        .map(|(name, color, points)| Series {
            name,
            color: *color,
            points,
        })
        .collect();
    let (w, h) = (a.width.max(200), a.height.max(150));
    let title = format!(
        "{}: face {id}",
        a.csv.file_name().unwrap_or_default().to_string_lossy()
    );
    let x_label = if a.time { "seconds" } else { "frame" };
    let buf = chart(w, h, &title, x_label, &series, false);
    let p = Pending::begin(&a.out);
    p.create()
        .map_err(image::ImageError::IoError)
        .and_then(|f| write_png(f, w, h, &buf))
        .with_context(|| format!("writing {}", p.partial.display()))?;
    p.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use facetrack::Point;

    fn row(frame: u64, id: i64, signals: [Option<f32>; 5]) -> VideoRow {
        VideoRow {
            frame,
            face_id: id,
            timestamp: frame as f64 * 0.5,
            confidence: 1.0,
            success: true,
            points: vec![Point::new(0.0, 0.0)],
            pose: None,
            signals,
            point_confidence: Vec::new(),
        }
    }

    #[test]
    fn the_face_in_most_rows_is_plotted_unless_one_is_asked_for() {
        let s = [Some(1.0), Some(0.9), Some(0.0), Some(0.1), Some(0.2)];
        let rows = vec![row(1, 0, s), row(2, 1, s), row(3, 1, s), row(4, -1, s)];
        assert_eq!(chosen_face(&rows, None).unwrap(), 1);
        assert_eq!(chosen_face(&rows, Some(0)).unwrap(), 0);
        assert!(chosen_face(&rows, Some(7)).is_err());
        // -1 is the no-face rows' mark, not a face (it plotted their zeros)
        let e = chosen_face(&rows, Some(-1)).unwrap_err().to_string();
        assert!(e.contains("0 or more"), "{e}");
        // --time: over the rows' timestamps
        let timed = series(&rows, 1, true).unwrap();
        assert_eq!(timed[0].2, vec![(1.0, 1.0), (1.5, 1.0)]);
        let got = series(&rows, 1, false).unwrap();
        assert_eq!(got[0].2, vec![(2.0, 1.0), (3.0, 1.0)]);
        assert_eq!(got.len(), 4, "no confidence columns, no confidence series");
        // frames where the face was lost break the line (a NaN between), not a straight
        // line across them
        let gap = vec![row(1, 0, s), row(2, 0, s), row(9, 0, s)];
        let got = series(&gap, 0, false).unwrap();
        let xs: Vec<f32> = got[0].2.iter().map(|p| p.0).collect();
        assert_eq!(xs, vec![1.0, 2.0, 5.5, 9.0]);
        assert!(got[0].2[2].1.is_nan() && got[0].2[3].1 == 1.0);
        // so do the rows of a track being lost (success 0: guessed points)
        let mut lost = row(2, 0, s);
        lost.success = false;
        let rows = vec![row(1, 0, s), lost.clone(), row(3, 0, s)];
        let xs: Vec<f32> = series(&rows, 0, false).unwrap()[0]
            .2
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(xs, vec![1.0, 2.0, 3.0]);
        // a face never found is not chosen, and asked for, it is a clear error
        let mut other = lost.clone();
        other.face_id = 1;
        let rows = vec![row(1, 0, s), lost, other.clone(), other];
        assert_eq!(chosen_face(&rows, None).unwrap(), 0);
        let e = chosen_face(&rows, Some(1)).unwrap_err().to_string();
        assert!(e.contains("no row with success = 1"), "{e}");
    }

    #[test]
    fn a_csv_without_signals_is_a_clear_error() {
        let rows = vec![row(1, 0, [None; 5])];
        let e = series(&rows, 0, false).unwrap_err().to_string();
        assert!(e.contains("no signal columns"), "{e}");
    }

    #[test]
    fn an_openface_csv_plots_its_au45_r_and_a_partial_one_what_it_has() {
        let au = [None, None, None, None, Some(2.5)];
        let got = series(&[row(1, 0, au), row(2, 0, au)], 0, false).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].0, &got[0].2),
            ("AU45_r", &vec![(1.0, 2.5), (2.0, 2.5)])
        );
        // mouth_open missing: the eyes and blink are drawn, AU45_r is not
        let some = [Some(0.3), Some(0.4), Some(0.0), None, Some(0.1)];
        let names: Vec<&str> = series(&[row(1, 0, some)], 0, false)
            .unwrap()
            .iter()
            .map(|l| l.0)
            .collect();
        assert_eq!(names, ["eye_open_l", "eye_open_r", "blink"]);
    }
}
