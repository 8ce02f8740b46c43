//! `facetrack video`: many files, one CSV each, a progress bar and a summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use facetrack::output::output_files::{
    being_written, check_outputs_with, partial_path, written_by_another, OutputError,
};
use facetrack::pipeline::{process_video_with, PipelineError, VideoJob, VideoSummary};
use facetrack::tracking::detector::FaceDetector;
use facetrack::tracking::tracker::Tracker;
use facetrack::LandmarkModel;

use crate::args::VideoArgs;

/// Outcome of a batch: per file, its summary or its error.
pub struct BatchResult {
    pub results: Vec<(PathBuf, Result<VideoSummary, String>)>,
    /// Seconds to load the model and create the first session and detector.
    pub startup: f64,
    /// Folder entries left out (each already named on stderr).
    pub skipped: usize,
    /// Videos left alone by --skip-existing (their outputs were all there).
    pub already_done: usize,
    /// Videos left alone by --skip-existing because another run was writing them.
    pub elsewhere: usize,
    /// One output per video in --out-dir (an interrupted video keeps `.partial` names).
    pub folder_run: bool,
    /// Outputs of an interrupted single-video run left under their `.partial` names
    /// because a file had the final name (it was to be replaced only by a whole output).
    pub kept_partial: Vec<PathBuf>,
    /// Videos an interrupt left unstarted.
    pub not_started: usize,
    /// The other outputs of such a run: new files, which hold the frames done.
    pub cut_short: Vec<PathBuf>,
    /// A single-video run writes a CSV.
    pub with_csv: bool,
}

/// A file's inode, length and time of change (`None`: no such file).
type Stamp = Option<(u64, u64, Option<std::time::SystemTime>)>;

/// The partial files of a job's outputs as they were before it ran (none, or an older
/// run's under --overwrite), to tell afterwards which ones this run wrote.
struct PartialsBefore(Vec<(PathBuf, Stamp)>);

impl PartialsBefore {
    fn stamp(p: &std::path::Path) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.ino(), m.len(), m.modified().ok()))
    }

    fn of(job: &VideoJob) -> Self {
        PartialsBefore(
            [&job.csv, &job.annotate]
                .into_iter()
                .flatten()
                .filter_map(|o| {
                    // an output written in place (a FIFO, standard output) has none
                    let p = partial_path(o);
                    (p != *o).then(|| {
                        let s = Self::stamp(&p);
                        (p, s)
                    })
                })
                .collect(),
        )
    }

    /// After a video failed part-way: the partial files this run wrote (the frames
    /// written before the failure, as a full disk leaves them), named so that the user
    /// can find them; empty when it left none or `message` names them already.
    fn kept_note(&self, message: &str) -> String {
        let kept: Vec<String> = self
            .0
            .iter()
            .filter(|(p, before)| {
                let now = Self::stamp(p);
                now.is_some() && now != *before
            })
            .map(|(p, _)| p.display().to_string())
            .filter(|p| !message.contains(p.as_str()))
            .collect();
        match kept.is_empty() {
            true => String::new(),
            false => format!(
                "; what was written before the failure is kept in {}",
                kept.join(" and ")
            ),
        }
    }
}

fn expand(a: &VideoArgs) -> Result<crate::inputs::Inputs> {
    let given = crate::inputs::with_stdin(
        &a.inputs,
        "pipe a video into it (facetrack video - < CLIP.mp4, or ffmpeg ... -f matroska - | \
         facetrack video -)",
    )?;
    let inputs = crate::inputs::expand(
        &given,
        &facetrack::core::files::VIDEO_EXT,
        a.recursive,
        "the folder holds no video files (.mp4, .avi, .mkv, .mov, .webm, .gif, ...)",
    )?;
    for f in &inputs.files {
        if !f.path.exists() {
            bail!("{}: no such file", f.path.display());
        }
    }
    Ok(inputs)
}

pub fn run(a: &VideoArgs, stop: Arc<AtomicBool>) -> Result<BatchResult> {
    let inputs = expand(a)?;
    let files: Vec<PathBuf> = inputs.files.iter().map(|f| f.path.clone()).collect();
    // the options are checked before anything is made (--out-dir's folders)
    let model_path = a.model.model_path()?;
    let tracker_opts = a.track.tracker(a.track.smooth)?;
    // --out-dir's folders, removed again if the run is refused before it starts
    let mut made = crate::inputs::MadeFolders::default();
    let jobs: Vec<VideoJob> = match (&a.csv, &a.out_dir) {
        (_, Some(dir)) => {
            if a.annotate.is_some() && files.len() > 1 {
                bail!("--annotate takes one input; with several, use it per file");
            }
            made.create(dir)?;
            let mut by_name: BTreeMap<PathBuf, &PathBuf> = BTreeMap::new();
            let mut jobs = Vec::new();
            for input in &inputs.files {
                let f = &input.path;
                let csv = input.output_in(dir, "csv");
                if let Some(prev) = by_name.insert(csv.clone(), f) {
                    return Err(OutputError::Collision {
                        a: prev.clone(),
                        b: f.clone(),
                        out: csv,
                    }
                    .into());
                }
                // the subfolders a recursive run mirrors
                if let Some(sub) = csv.parent() {
                    made.create(sub)?;
                }
                jobs.push(VideoJob {
                    input: f.clone(),
                    csv: Some(csv),
                    csv_columns: a.columns.columns(false),
                    annotate: a.annotate.clone(),
                    style: a.style(),
                    partial_if_interrupted: true,
                    orientation: crate::args::orientation_rule(a.keep_orientation),
                });
            }
            jobs
        }
        (csv, None) => {
            if files.len() != 1 {
                bail!(
                    "{} inputs: use --out-dir DIR for one CSV per video (--csv takes one input)",
                    files.len()
                );
            }
            if csv.is_none() && a.annotate.is_none() {
                bail!("nothing to write: give --csv OUT.csv, --out-dir DIR or --annotate OUT.mp4");
            }
            vec![VideoJob {
                input: files[0].clone(),
                csv: csv.clone(),
                csv_columns: a.columns.columns(false),
                annotate: a.annotate.clone(),
                style: a.style(),
                partial_if_interrupted: false,
                orientation: crate::args::orientation_rule(a.keep_orientation),
            }]
        }
    };
    // --skip-existing: a video whose outputs are all there is done, one that another run
    // is writing is that run's (checked again just before each video starts, so that
    // runs sharing a folder split it)
    let already_done = AtomicUsize::new(0);
    let elsewhere = AtomicUsize::new(0);
    // a video left alone is counted and said (to `say`: above the progress bars once
    // they run)
    let left_alone = |j: &VideoJob, why: Skip, say: &dyn Fn(String)| {
        let (count, what) = match why {
            Skip::Done => (&already_done, "already done"),
            Skip::Elsewhere => (&elsewhere, "being written by another run"),
        };
        count.fetch_add(1, Ordering::SeqCst);
        say(format!("{what}: {} (--skip-existing)", j.input.display()));
    };
    let leave_alone_saying = |j: &VideoJob, say: &dyn Fn(String)| -> bool {
        let why = a.skip_existing.then(|| skip_reason(j)).flatten();
        why.map(|why| left_alone(j, why, say)).is_some()
    };
    let leave_alone = |j: &VideoJob| leave_alone_saying(j, &|m| eprintln!("{m}"));
    let mut jobs: Vec<VideoJob> = jobs.into_iter().filter(|j| !leave_alone(j)).collect();
    // every output against every input and every other output, before any is opened;
    // a resumed folder run (--skip-existing) redoes the video it cut short, over its
    // .partial files, and leaves one that another run began or finished meanwhile
    let outputs_of = |jobs: &[VideoJob]| -> Vec<PathBuf> {
        jobs.iter()
            .flat_map(|j| j.csv.iter().chain(&j.annotate).cloned())
            .collect()
    };
    let outputs = loop {
        let outputs = outputs_of(&jobs);
        match check_outputs_with(
            &files,
            &outputs,
            a.overwrite,
            a.overwrite || a.skip_existing,
        ) {
            Ok(()) => break outputs,
            Err(e) => {
                let path = match &e {
                    OutputError::Busy { path, .. } | OutputError::Exists { path }
                        if a.skip_existing =>
                    {
                        path.clone()
                    }
                    _ => return Err(e.into()),
                };
                let k = jobs
                    .iter()
                    .position(|j| j.csv.iter().chain(&j.annotate).any(|o| *o == path));
                match k {
                    Some(k) if leave_alone(&jobs[k]) => {
                        jobs.remove(k);
                    }
                    _ => return Err(e.into()),
                }
            }
        }
    };
    if jobs.is_empty() {
        return Ok(BatchResult {
            results: Vec::new(),
            startup: 0.0,
            skipped: inputs.skipped,
            already_done: already_done.into_inner(),
            elsewhere: elsewhere.into_inner(),
            folder_run: a.out_dir.is_some(),
            kept_partial: Vec::new(),
            not_started: 0,
            cut_short: Vec::new(),
            with_csv: a.csv.is_some(),
        });
    }
    let left_before = already_done.load(Ordering::SeqCst) + elsewhere.load(Ordering::SeqCst);
    let smooth = crate::args::two_sided(a.smooth_offline);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let parallel = a
        .jobs
        .filter(|&j| j > 0)
        .unwrap_or((cores / 2).max(1))
        .clamp(1, jobs.len().max(1));
    let mut model_opts = a.model.options();
    if parallel > 1 && model_opts.threads == 0 {
        model_opts.threads = (cores / parallel).clamp(1, facetrack::inference::model::MAX_THREADS);
    }
    // one tracker per parallel worker; check the model loads before any work starts
    let make_tracker = || -> Result<Tracker> {
        let model = LandmarkModel::from_file(&model_path, model_opts)?;
        let det = FaceDetector::new(a.track.detector())?;
        Ok(Tracker::new(model, det, tracker_opts))
    };
    let t_start = std::time::Instant::now();
    let first = make_tracker()?;
    made.keep();
    let startup = t_start.elapsed().as_secs_f64();
    let mp = indicatif::MultiProgress::new();
    let queue = Mutex::new(jobs.clone().into_iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    let style = indicatif::ProgressStyle::with_template(
        "{prefix:20!} [{bar:30}] {pos}/{len} frames {per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    let first = Mutex::new(Some(first));
    std::thread::scope(|sc| {
        for _ in 0..parallel {
            sc.spawn(|| {
                let taken = first.lock().ok().and_then(|mut f| f.take());
                let mut tracker = match taken.map(Ok).unwrap_or_else(make_tracker) {
                    Ok(t) => t,
                    Err(e) => {
                        if let Ok(mut r) = results.lock() {
                            r.push((
                                usize::MAX,
                                PathBuf::new(),
                                Err(facetrack::errors::error_chain(e.as_ref())),
                            ));
                        }
                        return;
                    }
                };
                loop {
                    let next = queue.lock().ok().and_then(|mut q| {
                        if q.is_empty() {
                            None
                        } else {
                            Some(q.remove(0))
                        }
                    });
                    let Some((i, job)) = next else { break };
                    if leave_alone_saying(&job, &|m| mp.suspend(|| eprintln!("{m}"))) {
                        continue;
                    }
                    let pb = mp.add(indicatif::ProgressBar::new(0));
                    pb.set_style(style.clone());
                    pb.set_prefix(
                        job.input
                            .file_name()
                            .and_then(|n| n.to_str())
                            .unwrap_or("?")
                            .to_string(),
                    );
                    let progress = |done: u64, total: Option<u64>| {
                        if let Some(t) = total {
                            pb.set_length(t.max(done));
                        } else {
                            pb.set_length(done);
                        }
                        pb.set_position(done);
                    };
                    let began = PartialsBefore::of(&job);
                    // a panic in one video is that video's error, not the batch's end
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        process_video_with(&job, smooth, &mut tracker, &stop, &progress)
                    }))
                    .unwrap_or_else(|p| Err(panic_error(&job.input, p)));
                    // --skip-existing: another run that began this video in the same
                    // instant holds it (the lock decided); it is that run's
                    if let Err(e) = &r {
                        if a.skip_existing && written_by_another(e) {
                            pb.finish_and_clear();
                            left_alone(&job, Skip::Elsewhere, &|m| mp.suspend(|| eprintln!("{m}")));
                            continue;
                        }
                    }
                    let r = r.map_err(|e| {
                        let message = facetrack::errors::error_chain(&e);
                        let note = began.kept_note(&message);
                        message + &note
                    });
                    pb.finish_and_clear();
                    if let Ok(mut res) = results.lock() {
                        res.push((i, job.input.clone(), r));
                    }
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    if let Some((_, _, Err(e))) = results.iter().find(|(i, _, _)| *i == usize::MAX) {
        bail!("{e}");
    }
    results.sort_by_key(|(i, _, _)| *i);
    let interrupted = results
        .iter()
        .any(|(_, _, r)| r.as_ref().is_ok_and(|s| s.interrupted));
    let kept_partial = if interrupted && a.out_dir.is_none() {
        outputs
            .iter()
            .filter(|o| partial_path(o) != **o && partial_path(o).exists())
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let (already_done, elsewhere) = (already_done.into_inner(), elsewhere.into_inner());
    // the videos left alone when their turn came are neither done here nor unstarted
    let left_at_start = already_done + elsewhere - left_before;
    let not_started = jobs.len().saturating_sub(results.len() + left_at_start);
    let cut_short = if kept_partial.is_empty() {
        Vec::new()
    } else {
        outputs
            .iter()
            .filter(|o| !kept_partial.contains(o))
            .cloned()
            .collect()
    };
    Ok(BatchResult {
        not_started,
        cut_short,
        results: results.into_iter().map(|(_, p, r)| (p, r)).collect(),
        startup,
        skipped: inputs.skipped,
        already_done,
        elsewhere,
        folder_run: a.out_dir.is_some(),
        kept_partial,
        with_csv: a.csv.is_some(),
    })
}

/// Why --skip-existing leaves a video alone.
enum Skip {
    /// Its outputs are all there.
    Done,
    /// Another run is writing one of them.
    Elsewhere,
}

/// Whether --skip-existing leaves `j` alone, and why.
fn skip_reason(j: &VideoJob) -> Option<Skip> {
    let outs: Vec<&PathBuf> = j.csv.iter().chain(&j.annotate).collect();
    // being written first: a run that ends between the two checks renames its partial
    // files, and the video is then found done, not begun again
    if outs.iter().any(|o| being_written(o)) {
        Some(Skip::Elsewhere)
    } else if !outs.is_empty() && outs.iter().all(|o| o.exists()) {
        Some(Skip::Done)
    } else {
        None
    }
}

/// The error of a video whose processing panicked (a bug; reported, never a crash).
fn panic_error(input: &std::path::Path, p: Box<dyn std::any::Any + Send>) -> PipelineError {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    PipelineError::Io {
        path: input.to_path_buf(),
        source: std::io::Error::other(format!("internal error while processing: {msg}")),
    }
}

/// What the summary says of detector runs that saw more faces than `--max-faces` lets
/// it track (those faces are in no row).
pub fn crowded_note(runs: u64) -> Option<String> {
    (runs > 0).then(|| {
        format!(
            "more faces were in view than --max-faces lets it track ({runs} detector run{} saw \
             them): raise --max-faces to have them all",
            if runs == 1 { "" } else { "s" }
        )
    })
}

/// Print the summary; returns how many files failed.
pub fn report(b: &BatchResult, stats: bool) -> usize {
    let mut failed = 0;
    if stats {
        eprintln!(
            "start-up: model, ONNX Runtime session and detector in {:.0} ms",
            b.startup * 1e3
        );
    }
    for (p, r) in &b.results {
        match r {
            Ok(s) => {
                eprintln!(
                    "{}: {} frame{}{}, face found in {} ({:.1}%), {} face id(s){}, {:.1} frames/s{}{}{}",
                    p.display(),
                    s.frames,
                    if s.frames == 1 { "" } else { "s" },
                    s.orientation
                        .summary(s.width, s.height)
                        .map(|o| format!(" ({o})"))
                        .unwrap_or_default(),
                    s.frames_with_face,
                    100.0 * s.frames_with_face as f64 / s.frames.max(1) as f64,
                    s.faces,
                    match s.scene_cuts {
                        0 => String::new(),
                        1 => " (1 scene cut: new ids after it)".into(),
                        n => format!(" ({n} scene cuts: new ids after each)"),
                    },
                    s.fps(),
                    if s.skipped_packets > 0 {
                        format!(
                            ", {} corrupt packet{} skipped (first: {})",
                            s.skipped_packets,
                            if s.skipped_packets == 1 { "" } else { "s" },
                            s.first_skip.as_deref().unwrap_or("no message")
                        )
                    } else {
                        String::new()
                    },
                    s.end_note
                        .as_deref()
                        .map(|n| format!("; {n}"))
                        .into_iter()
                        .chain(s.size_changes.map(|c| format!("; {c}")))
                        .chain(crowded_note(s.crowded_runs).map(|c| format!("; {c}")))
                        .collect::<String>(),
                    match (s.interrupted, b.folder_run) {
                        (false, _) => String::new(),
                        (true, false) if s.frames == 0 => {
                            " (interrupted before a frame was tracked: nothing written)".into()
                        }
                        (true, false) if b.kept_partial.is_empty() => {
                            match s.annotated_frames {
                                Some(0) => format!(
                                    " (interrupted before the annotated video was drawn: no \
                                     new video was written{})",
                                    if b.with_csv { "; the CSV holds every frame tracked" } else { "" }
                                ),
                                // stopped while drawing the smoothed points: the video
                                // is shorter than the CSV
                                Some(n) => format!(
                                    " (interrupted while drawing the annotated video: it \
                                     holds the first {n} of the {} frames tracked{})",
                                    s.frames,
                                    if b.with_csv { ", the CSV all of them" } else { "" }
                                ),
                                None => " (interrupted; the outputs hold the frames done)".into(),
                            }
                        }
                        (true, false) => {
                            let (old, new): (Vec<String>, Vec<String>) = b
                                .kept_partial
                                .iter()
                                .map(|o| {
                                    (
                                        o.display().to_string(),
                                        partial_path(o).display().to_string(),
                                    )
                                })
                                .unzip();
                            let others = b
                                .cut_short
                                .iter()
                                .map(|o| o.display().to_string())
                                .collect::<Vec<_>>();
                            let (was, it) = match old.len() {
                                1 => ("it was", "it"),
                                _ => ("they were", "them"),
                            };
                            match s.annotated_frames {
                                // stopped while drawing: the CSV was whole and written
                                Some(n) => format!(
                                    " (interrupted while drawing the annotated video; {} kept \
                                     as {was}, since only a complete run replaces {it}: the \
                                     first {n} of the {} frames tracked are in {}{})",
                                    old.join(" and "),
                                    s.frames,
                                    new.join(" and "),
                                    if b.with_csv { "; the CSV holds all of them" } else { "" }
                                ),
                                None => format!(
                                    " (interrupted; {} kept as {was}, since only a complete \
                                     run replaces {it}: the frames done are in {}{})",
                                    old.join(" and "),
                                    new.join(" and "),
                                    if others.is_empty() {
                                        String::new()
                                    } else {
                                        format!(
                                            "; {}, new, holds only the frames done",
                                            others.join(" and ")
                                        )
                                    }
                                ),
                            }
                        }
                        (true, true) => match s.annotated_frames {
                            // the CSV was whole and written before the drawing began
                            Some(n) => format!(
                                " (interrupted {} the annotated video{}; the CSV \
                                 is whole: move it away, and --skip-existing then finishes \
                                 this video with the rest of the folder)",
                                if n == 0 { "before drawing" } else { "while drawing" },
                                if n == 0 {
                                    String::new()
                                } else {
                                    format!(
                                        ", whose .partial file holds the first {n} of the {} \
                                         frames tracked",
                                        s.frames
                                    )
                                }
                            ),
                            None => " (interrupted; its outputs keep their .partial names: \
                                     run the same command with --skip-existing to finish the \
                                     folder)"
                                .into(),
                        },
                    }
                );
                if stats {
                    let n = s.frames.max(1) as f64 * 1e-3;
                    eprintln!(
                        "  per frame: decode {:.2} ms, detect {:.2} ms ({} runs, {} of them narrowed (from twice the smallest face, a part of the sizes under it, beside or around tracked faces), {} for a suspect track, {} track(s) re-seeded), landmarks {:.2} ms, write {:.2} ms; wall {:.2} ms",
                        s.times.decode / n,
                        s.times.detect / n,
                        s.detector_runs,
                        s.partial_runs,
                        s.suspect_runs,
                        s.reseeds,
                        s.times.landmarks / n,
                        s.times.write / n,
                        s.seconds / n
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    let total = b.results.len() + b.not_started;
    if total > 1 || b.skipped > 0 || b.already_done > 0 || b.elsewhere > 0 {
        // an interrupted video is not done, and the videos it left are named as unstarted
        let interrupted = b
            .results
            .iter()
            .filter(|(_, r)| r.as_ref().is_ok_and(|s| s.interrupted))
            .count();
        let mut stopped = String::new();
        if interrupted > 0 {
            stopped += &format!("{interrupted} interrupted, ");
        }
        if b.not_started > 0 {
            stopped += &format!("{} not started, ", b.not_started);
        }
        eprintln!(
            "{} of {} videos done, {failed} failed, {stopped}{}{}{}",
            b.results.len() - failed - interrupted,
            total,
            crate::inputs::skipped_phrase(b.skipped),
            if b.already_done > 0 {
                format!(", {} already done (--skip-existing)", b.already_done)
            } else {
                String::new()
            },
            if b.elsewhere > 0 {
                format!(
                    ", {} being written by another run (--skip-existing)",
                    b.elsewhere
                )
            } else {
                String::new()
            }
        );
    }
    failed
}
