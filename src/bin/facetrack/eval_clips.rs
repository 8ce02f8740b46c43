//! `facetrack eval --clips`: tracking on clips with ground truth: per-clip NME, success
//! rate, false faces, flicker, size jitter and oscillation, their plots and JSON.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use facetrack::core::clip_metrics::{clip_stats, ClipFaces, ClipStats, Observed};
use facetrack::core::metrics::ced_curve;
use facetrack::output::csv_out::{read_video_csv, VideoRow};
use facetrack::output::draw::{BLUE, RED};
use facetrack::pipeline::{process_video_with, VideoJob};
use facetrack::report::{chart, Series};
use facetrack::tracking::detector::FaceDetector;
use facetrack::tracking::tracker::Tracker;
use facetrack::LandmarkModel;

use crate::args::EvalArgs;
use crate::eval_report::{check_reports, write_report};

/// The rows of a video CSV as a clip's faces by frame.
fn faces_by_frame(rows: Vec<VideoRow>) -> ClipFaces {
    let mut m = ClipFaces::new();
    for r in rows {
        m.entry(r.frame).or_default().push(Observed {
            points: r.points,
            success: r.success,
        });
    }
    m
}

pub fn clips(
    a: &EvalArgs,
    dir: &Path,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<()> {
    let names: Vec<PathBuf> = facetrack::core::files::with_extension(dir, &["mp4"])
        .with_context(|| format!("reading {}", dir.display()))?
        .into_iter()
        .filter(|p| p.with_extension("gt.csv").is_file())
        .collect();
    if names.is_empty() {
        bail!(
            "{}: no NAME.mp4 with a NAME.gt.csv beside it",
            dir.display()
        );
    }
    // a clip's name keys its JSON entry and names its plot (`NAME.png`)
    let stems: Vec<String> = names.iter().map(|n| clip_name(n)).collect();
    for (i, stem) in stems.iter().enumerate() {
        if let Some(j) = stems[..i].iter().position(|s| s == stem) {
            bail!(
                "{} and {} share the name {stem} (and the ground truth {stem}.gt.csv): \
                 rename one",
                names[j].display(),
                names[i].display()
            );
        }
        if a.plots.is_some() && stem == "ced" {
            bail!(
                "{}: its plot would be ced.png, the name of the CED of all the clips' \
                 frames; rename the clip (or leave out --plots)",
                names[i].display()
            );
        }
    }
    let inputs: Vec<PathBuf> = names
        .iter()
        .flat_map(|n| [n.clone(), n.with_extension("gt.csv")])
        .collect();
    check_reports(a, &inputs)?;
    // every clip's truth read and checked before any clip is tracked
    let truths = names
        .iter()
        .map(|clip| read_truth(&clip.with_extension("gt.csv")))
        .collect::<Result<Vec<_>>>()?;
    if !truths
        .iter()
        .flat_map(|t| t.values())
        .any(|rows| rows.iter().any(|r| r.success))
    {
        bail!(
            "no frame of the clips has a face in its ground truth (a row with success = 1 \
             in NAME.gt.csv): nothing to score"
        );
    }
    let model = LandmarkModel::from_file(&a.model.model_path()?, a.model_options())?;
    let set = model.contract().point_set;
    let mut tracker = Tracker::new(
        model,
        FaceDetector::new(a.track.detector())?,
        a.track.tracker(a.track.smooth)?,
    );
    remove_dead_runs_scratch();
    let tmp = std::env::temp_dir().join(format!("facetrack-eval-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    // held for the run: a run of another PID namespace sharing /tmp (a container), whose
    // process this one cannot see, is told apart by it
    let lock = std::fs::File::create(tmp.join(".lock"))?;
    let _ = lock.try_lock();
    // the scratch folder goes whatever happens (an error, Ctrl-C)
    let _scratch = RemoveOnDrop(tmp.clone());
    let mut all = ClipStats::default();
    let mut per_clip = Vec::new();
    let mut all_unscored = 0u64;
    if let Some(dir) = &a.plots {
        crate::inputs::create_folder(dir)?;
    }
    for ((clip, truth), name) in names.iter().zip(&truths).zip(&stems) {
        // a fresh tracker per clip: ids and tracks must not carry over
        tracker = Tracker::new(
            LandmarkModel::from_file(&a.model.model_path()?, a.model_options())?,
            FaceDetector::new(a.track.detector())?,
            tracker.options(),
        );
        let out = tmp.join("pred.csv");
        let job = VideoJob {
            input: clip.clone(),
            csv: Some(out.clone()),
            csv_columns: Default::default(),
            annotate: None,
            style: Default::default(),
            partial_if_interrupted: false,
            orientation: Default::default(),
        };
        let smooth = crate::args::two_sided(a.smooth_offline);
        // a clip that fails stops the run: no report, and the plots of the clips before it
        // are said to be there
        let kept = match (&a.plots, per_clip.is_empty()) {
            (Some(d), false) => format!(
                " (no report was written; the plots of the {} clips done are in {})",
                per_clip.len(),
                d.display()
            ),
            _ => String::new(),
        };
        let failed = |e: anyhow::Error| {
            anyhow::anyhow!("{}{kept}", facetrack::errors::error_chain(e.as_ref()))
        };
        let done = process_video_with(&job, smooth, &mut tracker, stop, &|_, _| {})
            .map_err(|e| failed(e.into()))?;
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            let plots = match &a.plots {
                Some(d) => format!("; the plots of the clips done are in {}", d.display()),
                None => String::new(),
            };
            return Err(facetrack::errors::Interrupted(format!(
                "stopped in {}; no JSON report was written (one already there is kept){plots}",
                clip.display()
            ))
            .into());
        }
        // a truth frame the video never reached would count as a miss of the tracker
        let last = truth
            .iter()
            .filter(|(_, rows)| rows.iter().any(|r| r.success))
            .map(|(f, _)| *f)
            .max();
        if let Some(last) = last.filter(|&l| l > done.frames) {
            return Err(failed(anyhow::anyhow!(
                "{}: frame {last} has a face, but {} ended after {} frames{}: the ground \
                 truth does not fit this clip",
                clip.with_extension("gt.csv").display(),
                clip.display(),
                done.frames,
                done.end_note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            )));
        }
        let pred = faces_by_frame(read_video_csv(&out).map_err(|e| failed(e.into()))?);
        let s = clip_stats(truth, &pred, set);
        let mut summary = clip_json(&s);
        // a frame without a row in the truth is not scored: say so, rather than score a
        // shorter (or empty) ground truth as if it covered the clip
        let unscored = unscored_frames(truth, done.frames);
        if let Some(first) = unscored.first() {
            eprintln!(
                "note: {}: {} of the clip's {} frames have no row (the first: frame {first}); \
                 they are not scored, neither as misses nor for false faces",
                clip.with_extension("gt.csv").display(),
                unscored.len(),
                done.frames
            );
        }
        summary["frames_unscored"] = unscored.len().into();
        all_unscored += unscored.len() as u64;
        println!("{}: {}", clip.display(), summary);
        if let Some(dir) = &a.plots {
            clip_plot(&dir.join(format!("{name}.png")), name, &s)?;
        }
        per_clip.push((name.clone(), summary));
        all.add(&s);
    }
    if let Some(dir) = &a.plots {
        let curve = ced_curve(&all.nme, 0.1, 100);
        let buf = chart(
            640,
            400,
            "CUMULATIVE ERROR, ALL CLIP FRAMES",
            "NME",
            &[Series {
                name: "frames",
                color: BLUE,
                points: &curve,
            }],
            false,
        );
        crate::eval_report::write_png(&dir.join("ced.png"), 640, 400, &buf)?;
    }
    let mut total = clip_json(&all);
    total["frames_unscored"] = all_unscored.into();
    println!("all clips: {total}");
    if let Some(j) = &a.json {
        let mut v = total.clone();
        v["clips"] = serde_json::Value::Object(per_clip.into_iter().collect());
        write_report(j, &(serde_json::to_string_pretty(&v)? + "\n"))?;
    }
    Ok(())
}

/// The frames of a clip of `frames` frames (numbered from 1) that have no row in its
/// ground truth.
fn unscored_frames(truth: &ClipFaces, frames: u64) -> Vec<u64> {
    (1..=frames).filter(|f| !truth.contains_key(f)).collect()
}

/// The scratch folders of earlier `eval --clips` runs on this machine that ended without
/// removing theirs (a second Ctrl-C exits at once; a kill): those whose process is gone.
fn remove_dead_runs_scratch() {
    let proc = Path::new("/proc");
    if !proc.join("self").is_dir() {
        return; // no way to tell a live run from a dead one here
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("facetrack-eval-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // a run's lock that cannot be taken is a live run's (one this process cannot
        // see); a lock taken here ends with the folder
        let held_elsewhere = std::fs::File::open(e.path().join(".lock"))
            .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        if !proc.join(pid.to_string()).exists()
            && !held_elsewhere
            && e.file_type().is_ok_and(|t| t.is_dir())
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A folder removed when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A clip's name: its file name without `.mp4`.
fn clip_name(clip: &Path) -> String {
    clip.file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A clip's ground truth by frame. The measures follow one face through the clip: a
/// second face would be counted as a false face and its frames scored against the wrong
/// truth, so a clip with two is refused.
fn read_truth(gt: &Path) -> Result<ClipFaces> {
    let truth = faces_by_frame(read_video_csv(gt)?);
    // counted from 0, every frame would be scored against the next one's truth
    if truth.contains_key(&0) {
        bail!(
            "{}: a row of frame 0; frames count from 1 (facetrack's and OpenFace's CSVs): \
             add 1 to the frame column",
            gt.display()
        );
    }
    // a face to score has every point (an empty field reads as NaN)
    if let Some(frame) = truth.iter().find_map(|(f, rows)| {
        rows.iter()
            .any(|r| {
                r.success
                    && r.points
                        .iter()
                        .any(|p| !p.x.is_finite() || !p.y.is_finite())
            })
            .then_some(f)
    }) {
        bail!(
            "{}: frame {frame} has a face (success = 1) with an empty or NaN point; the \
             ground truth needs every point of a face it scores",
            gt.display()
        );
    }
    if let Some((frame, n)) = truth
        .iter()
        .map(|(f, rows)| (f, rows.iter().filter(|r| r.success).count()))
        .find(|(_, n)| *n > 1)
    {
        bail!(
            "{}: frame {frame} has {n} faces; --clips scores clips of one face (one row \
             with success = 1 a frame)",
            gt.display()
        );
    }
    Ok(truth)
}

/// A clip's NME and flicker over time: a tracking failure such as an oscillating crop
/// shows as a saw-tooth.
fn clip_plot(path: &Path, name: &str, s: &ClipStats) -> Result<()> {
    let nme: Vec<(f32, f32)> = s
        .per_frame
        .iter()
        .map(|&(f, e, _)| (f as f32, e * 100.0))
        .collect();
    let flick: Vec<(f32, f32)> = s
        .per_frame
        .iter()
        .filter_map(|&(f, _, k)| k.map(|k| (f as f32, k)))
        .collect();
    let title = format!("{} OVER TIME", name.to_uppercase());
    let buf = chart(
        800,
        360,
        &title,
        "FRAME",
        &[
            Series {
                name: "NME %",
                color: BLUE,
                points: &nme,
            },
            Series {
                name: "flicker",
                color: RED,
                points: &flick,
            },
        ],
        false,
    );
    crate::eval_report::write_png(path, 800, 360, &buf)
}

fn clip_json(s: &ClipStats) -> serde_json::Value {
    serde_json::json!({
        "frames": s.frames_with_truth,
        // (null, not 0, for a clip with no frame to score)
        "nme_mean": (!s.nme.is_empty()).then(|| s.nme_mean()),
        "nme_median": s.nme_quantile(0.5),
        "nme_p95": s.nme_quantile(0.95),
        "nme_worst": s.nme_quantile(1.0),
        // (null, not 0, where there is nothing to measure: no two found frames in a row)
        "size_jitter": s.size_steps.iter().any(Option::is_some).then(|| s.size_jitter()),
        "oscillation_runs": s.oscillation_runs(),
        "success_rate": s.success_rate(),
        "false_faces": s.false_faces,
        "flicker": (s.flicker_n > 0).then(|| s.flicker()),
        "face_flicker": (s.flicker_n > 0).then(|| s.face_flicker()),
    })
}
