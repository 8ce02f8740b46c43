//! `facetrack bench`: speed of each stage on this machine, printed as a table.
//! Speed targets are checked here, never in tests.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::args::BenchArgs;
use facetrack::inference::preprocess::sample_crop;
use facetrack::pipeline::{process_video, VideoJob};
use facetrack::tracking::detector::{DetectorOptions, FaceDetector, Sizes};
use facetrack::tracking::tracker::{Tracker, TrackerOptions, ACQUIRE_CYCLE};
use facetrack::{CropTransform, Device, FaceBox, GrayImage, LandmarkModel, ModelOptions};

struct Row {
    what: String,
    ms: f64,
    note: String,
}

fn time<F: FnMut()>(iters: usize, mut f: F) -> f64 {
    for _ in 0..iters.min(10) {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() * 1000.0 / iters as f64
}

/// A 640x480 frame with texture (the stages do not care whether it is a face).
fn test_frame() -> GrayImage {
    frame_of(640, 480)
}

/// A frame of `w × h` with texture.
fn frame_of(w: u32, h: u32) -> GrayImage {
    let data = (0..h)
        .flat_map(|y| (0..w).map(move |x| ((x * 7 + y * 13 + (x * y) % 31) % 256) as u8))
        .collect();
    GrayImage::from_raw(w, h, data).unwrap_or_default()
}

/// Milliseconds to cut `crop` of `frame` into the model's input.
fn crop_ms(
    frame: &GrayImage,
    crop: &CropTransform,
    c: &facetrack::ModelContract,
    buf: &mut [f32],
    iters: usize,
) -> f64 {
    time(iters, || {
        sample_crop(
            frame,
            crop,
            c.input_width,
            c.input_height,
            c.normalization,
            buf,
        )
    })
}

/// A tracker with default settings on the model the options describe.
fn new_tracker(model: &std::path::Path, opts: ModelOptions) -> Result<Tracker> {
    Ok(Tracker::new(
        LandmarkModel::from_file(model, opts)?,
        FaceDetector::new(DetectorOptions::default())?,
        TrackerOptions::default(),
    ))
}

fn cpu(threads: usize, flip_average: bool) -> ModelOptions {
    let mut o = ModelOptions::default();
    o.threads = threads;
    o.device = Device::Cpu;
    o.flip_average = flip_average;
    o
}

pub fn run(a: &BenchArgs) -> Result<()> {
    if a.batch.iter().any(|&b| b == 0 || b > 1024) {
        anyhow::bail!("--batch sizes must be 1 to 1024");
    }
    if let Some(v) = a.video.as_ref().filter(|v| !v.exists()) {
        // before the minute of micro-benchmarks, not after
        anyhow::bail!("--video {}: no such file", v.display());
    }
    let model_path = a.model.model_path()?;
    // the library is loaded once per process: load the build the device needs before the
    // CPU rows' sessions would load the CPU one
    facetrack::inference::runtime::ensure_loaded(a.model.flavor())?;
    let mut rows = stage_rows(&model_path, a.iters)?;
    rows.extend(resolution_rows(&model_path, a.iters)?);
    rows.extend(batch_rows(&model_path, a)?);
    rows.extend(end_to_end_row(&model_path, a)?);
    println!("{}\n", cpu_line());
    println!("| stage | ms | note |\n|---|---:|---|");
    for r in rows {
        println!("| {} | {:.3} | {} |", r.what, r.ms, r.note);
    }
    Ok(())
}

/// The CPU stages: crop, the model on 1 and 2 threads and with --flip, the detector and
/// a tracker step.
fn stage_rows(model_path: &std::path::Path, iters: usize) -> Result<Vec<Row>> {
    let frame = test_frame();
    let mut rows = Vec::new();
    let face = FaceBox::new(220.0, 140.0, 200.0, 220.0);
    let mut m1 = LandmarkModel::from_file(model_path, cpu(1, false))?;
    let c = m1.contract().clone();
    let crop = CropTransform::square_around(&face, c.crop_scale);
    let mut buf = vec![0f32; c.input_len()];
    let ms = crop_ms(&frame, &crop, &c, &mut buf, iters * 5);
    rows.push(Row {
        what: format!(
            "preprocess: crop 640x480 -> {}x{}",
            c.input_width, c.input_height
        ),
        ms,
        note: "target < 1 ms".into(),
    });
    let input = buf.clone();
    let ms = time(iters, || {
        let _ = m1.run_raw(&input, 1);
    });
    rows.push(Row {
        what: format!(
            "model, 1 face, 1 thread ({}, {})",
            c.architecture,
            m1.precision()
        ),
        ms,
        note: String::new(),
    });
    let mut m2 = LandmarkModel::from_file(model_path, cpu(2, false))?;
    let ms = time(iters, || {
        let _ = m2.run_raw(&input, 1);
    });
    rows.push(Row {
        what: "model, 1 face, 2 threads".into(),
        ms,
        note: "target <= 8 ms".into(),
    });
    let mut mf = LandmarkModel::from_file(model_path, cpu(1, true))?;
    let ms = time(iters / 2 + 1, || {
        let _ = mf.predict(&frame, std::slice::from_ref(&crop));
    });
    rows.push(Row {
        what: "model, 1 face, 1 thread, --flip (crop + mirror)".into(),
        ms,
        note: "includes the crop".into(),
    });
    let mut det = FaceDetector::new(DetectorOptions::default())?;
    let ms = time((iters / 20).max(3), || {
        let _ = det.detect(&frame);
    });
    rows.push(Row {
        what: "face detector, 640x480, min face 40".into(),
        ms,
        note: "runs every --detect-every frames".into(),
    });
    let turn = facetrack::core::orientation::Orientation::Rotate90;
    let ms = time((iters / 20).max(3), || {
        let _ = det.detect_turned(&frame, turn, Sizes::All);
    });
    rows.push(Row {
        what: "turned search: face detector on the search copy turned 90°".into(),
        ms,
        note: "a full one; with no face, from twice the smallest face every 2nd frame (90°, 270°, 180°)"
            .into(),
    });
    let mut tracker = new_tracker(model_path, cpu(1, false))?;
    let ms = time(iters, || {
        let _ = tracker.process(&frame, 0.0);
    });
    rows.push(Row {
        what: "tracker step, no face (the mean over its frames)".into(),
        ms,
        note: "every frame: an upright and a turned search from twice the smallest face, or a part of the smaller sizes".into(),
    });
    // the frame of the acquisition cycle that costs most: the median of each of its
    // frames over three cycles, the largest of those (the first frame's full search
    // left out: it comes once)
    let mut tracker = new_tracker(model_path, cpu(1, false))?;
    let cycle = ACQUIRE_CYCLE as usize;
    let mut by_frame = vec![Vec::new(); cycle];
    for i in 0..=3 * cycle {
        let t = Instant::now();
        let _ = tracker.process(&frame, i as f64 / 30.0);
        if i > 0 {
            by_frame[i % cycle].push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let worst = by_frame
        .iter_mut()
        .map(|v| {
            v.sort_by(|a, b| a.total_cmp(b));
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        })
        .fold(0.0f64, f64::max);
    rows.push(Row {
        what: "tracker step, no face (its costliest frame)".into(),
        ms: worst,
        note: format!(
            "the slowest of a {cycle}-frame cycle's frames (medians of 3 cycles); live mode runs it after showing the frame"
        ),
    });
    Ok(rows)
}

/// What this CPU is and which of the instruction sets that decide the speed of the INT8
/// model it has, so that a figure can be compared with another machine's.
fn cpu_line() -> String {
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    #[cfg(target_arch = "x86_64")]
    {
        let has = |b: bool| if b { "yes" } else { "no" };
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        let avx512 = std::arch::is_x86_feature_detected!("avx512bw");
        let vnni512 = std::arch::is_x86_feature_detected!("avx512vnni");
        let vnni256 = std::arch::is_x86_feature_detected!("avxvnni");
        // ONNX Runtime's MLAS chooses its u8 x s8 kernels from these, best first
        let kernel = if vnni512 {
            "AVX-512 VNNI"
        } else if vnni256 {
            "AVX-VNNI"
        } else if avx512 {
            "AVX-512 (16-bit pair sums)"
        } else if avx2 {
            "AVX2 (16-bit pair sums)"
        } else {
            "SSE"
        };
        format!(
            "CPU: {name}, {cores} cores; AVX2 {}, AVX-512 {}, AVX-512 VNNI {}, AVX-VNNI {}; \
             ONNX Runtime's INT8 convolutions use its {kernel} kernels on this CPU",
            has(avx2),
            has(avx512),
            has(vnni512),
            has(vnni256)
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    format!("CPU: {name}, {cores} cores")
}

/// The stages whose cost could grow with the frame: a turned face crop (the face scaled
/// with the frame, as when a 480p clip is recorded at 1080p or 4K) and the detector with
/// the video default for the smallest face.
fn resolution_rows(model_path: &std::path::Path, iters: usize) -> Result<Vec<Row>> {
    let m = LandmarkModel::from_file(model_path, cpu(1, false))?;
    let c = m.contract().clone();
    let mut buf = vec![0f32; c.input_len()];
    let mut rows = Vec::new();
    for (w, h) in [(640u32, 480u32), (1920, 1080), (3840, 2160)] {
        let frame = frame_of(w, h);
        let k = h as f32 / 480.0;
        let face = FaceBox::new(220.0 * k, 140.0 * k, 200.0 * k, 220.0 * k);
        let mut crop = CropTransform::square_around(&face, c.crop_scale);
        crop.angle = 0.2;
        let ms = crop_ms(&frame, &crop, &c, &mut buf, iters * 2);
        rows.push(Row {
            what: format!(
                "preprocess: turned crop of a {:.0}-pixel face, {w}x{h} frame",
                face.width
            ),
            ms,
            note: "the face scaled with the frame".into(),
        });
        let mut video = DetectorOptions::default();
        video.min_face_share = facetrack::tracking::detector::VIDEO_MIN_FACE_SHARE;
        let mut det = FaceDetector::new(video)?;
        let min = det.min_face_for(w, h);
        let ms = time((iters / 20).max(3), || {
            let _ = det.detect(&frame);
        });
        rows.push(Row {
            what: format!("face detector, {w}x{h}, video default (min face {min})"),
            ms,
            note: "every 15th frame while a face is clear".into(),
        });
    }
    Ok(rows)
}

/// The model on `--device` with `--threads`, for each `--batch` size: time per face and
/// faces per second.
fn batch_rows(model_path: &std::path::Path, a: &BenchArgs) -> Result<Vec<Row>> {
    let mut opts = a.model.options();
    opts.flip_average = false;
    let mut m = LandmarkModel::from_file(model_path, opts)?;
    let per_face = m.contract().input_len();
    let device = match opts.device {
        Device::Cpu => format!(
            "cpu, {} threads",
            if opts.threads == 0 {
                "all".into()
            } else {
                opts.threads.to_string()
            }
        ),
        Device::Cuda(i) => format!("cuda:{i}"),
    };
    let mut rows = Vec::new();
    for &b in &a.batch {
        // a mid-grey crop: the model's time does not depend on the pixels
        let input = vec![0.1f32; per_face * b];
        m.run_raw(&input, b)?;
        // --iters faces, in at least 20 timed runs (a GPU's large batches take a few ms
        // each) unless fewer repetitions were asked for
        let reps = (a.iters / b).max(a.iters.min(20));
        let ms = time(reps, || {
            let _ = m.run_raw(&input, b);
        }) / b as f64;
        rows.push(Row {
            what: format!("model, batch {b} ({device})"),
            ms,
            note: format!("per face; {:.0} faces/s", 1000.0 / ms.max(1e-9)),
        });
    }
    Ok(rows)
}

/// The whole pipeline on the demo video with the model options given.
fn end_to_end_row(model_path: &std::path::Path, a: &BenchArgs) -> Result<Option<Row>> {
    let video = a.video.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi")
    });
    if !video.exists() {
        if let Some(v) = &a.video {
            anyhow::bail!("--video {}: no such file", v.display());
        }
        return Ok(None); // no demo video (./setup.sh copies it): the row is left out
    }
    let mut tracker = new_tracker(model_path, a.model.options())?;
    let tmp = std::env::temp_dir().join(format!("facetrack-bench-{}.csv", std::process::id()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = process_video(
        &VideoJob {
            input: video.clone(),
            csv: Some(tmp.clone()),
            csv_columns: Default::default(),
            annotate: None,
            style: Default::default(),
            partial_if_interrupted: false,
            orientation: Default::default(),
        },
        &mut tracker,
        &stop,
        &|_, _| {},
    )
    .with_context(|| format!("end-to-end run on {}", video.display()))?;
    let _ = std::fs::remove_file(&tmp);
    let n = s.frames.max(1) as f64;
    Ok(Some(Row {
        what: format!(
            "end to end: {} -> CSV",
            video.file_name().and_then(|f| f.to_str()).unwrap_or("video")
        ),
        ms: s.seconds * 1000.0 / n,
        note: format!(
            "{:.0} frames/s; per frame: decode {:.2}, detect {:.2}, landmarks {:.2}, write {:.2} ms",
            s.fps(),
            s.times.decode * 1000.0 / n,
            s.times.detect * 1000.0 / n,
            s.times.landmarks * 1000.0 / n,
            s.times.write * 1000.0 / n
        ),
    }))
}
