//! `facetrack bench`: speed of each stage on this machine, printed as a table.
//! Speed targets are checked here, never in tests.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use facetrack::inference::preprocess::sample_crop;
use facetrack::pipeline::{process_video, VideoJob};
use facetrack::tracking::detector::{DetectorOptions, FaceDetector};
use facetrack::tracking::tracker::{Tracker, TrackerOptions};
use facetrack::{CropTransform, Device, FaceBox, GrayImage, LandmarkModel, ModelOptions};

#[derive(Args)]
pub struct BenchArgs {
    /// Landmark model (default: the shipped one).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Video for the end-to-end row (default: the demo video from ./setup.sh).
    #[arg(long)]
    pub video: Option<PathBuf>,
    /// Repetitions of each micro-benchmark.
    #[arg(long, default_value_t = 200)]
    pub iters: usize,
}

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
    let (w, h) = (640u32, 480u32);
    let data = (0..h)
        .flat_map(|y| (0..w).map(move |x| ((x * 7 + y * 13 + (x * y) % 31) % 256) as u8))
        .collect();
    GrayImage::from_raw(w, h, data).unwrap_or_default()
}

/// A tracker with default settings and a 2-thread model.
fn new_tracker(model: &std::path::Path) -> Result<Tracker> {
    let m = LandmarkModel::from_file(
        model,
        ModelOptions {
            threads: 2,
            device: Device::Cpu,
            ..Default::default()
        },
    )?;
    Ok(Tracker::new(
        m,
        FaceDetector::new(DetectorOptions::default())?,
        TrackerOptions::default(),
    ))
}

pub fn run(a: &BenchArgs) -> Result<()> {
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => facetrack::inference::model_path::default_model().map_err(anyhow::Error::msg)?,
    };
    let frame = test_frame();
    let mut rows = Vec::new();
    let face = FaceBox::new(220.0, 140.0, 200.0, 220.0);
    let mut m1 = LandmarkModel::from_file(
        &model_path,
        ModelOptions {
            threads: 1,
            device: Device::Cpu,
            ..Default::default()
        },
    )?;
    let c = m1.contract().clone();
    let crop = CropTransform::square_around(&face, c.crop_scale);
    let mut buf = vec![0f32; c.input_len()];
    let ms = time(a.iters * 5, || {
        sample_crop(
            &frame,
            &crop,
            c.input_width,
            c.input_height,
            c.normalization,
            &mut buf,
        )
    });
    rows.push(Row {
        what: format!(
            "preprocess: crop 640x480 -> {}x{}",
            c.input_width, c.input_height
        ),
        ms,
        note: "target < 1 ms".into(),
    });
    let input = buf.clone();
    let ms = time(a.iters, || {
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
    let mut m2 = LandmarkModel::from_file(
        &model_path,
        ModelOptions {
            threads: 2,
            device: Device::Cpu,
            ..Default::default()
        },
    )?;
    let ms2 = time(a.iters, || {
        let _ = m2.run_raw(&input, 1);
    });
    rows.push(Row {
        what: "model, 1 face, 2 threads".into(),
        ms: ms2,
        note: "target <= 8 ms".into(),
    });
    let mut mf = LandmarkModel::from_file(
        &model_path,
        ModelOptions {
            threads: 2,
            device: Device::Cpu,
            flip_average: true,
        },
    )?;
    let ms = time(a.iters / 2 + 1, || {
        let _ = mf.predict(&frame, std::slice::from_ref(&crop));
    });
    rows.push(Row {
        what: "model, 1 face, 2 threads, --flip (crop + mirror)".into(),
        ms,
        note: "includes the crop".into(),
    });
    let four: Vec<f32> = input
        .iter()
        .copied()
        .cycle()
        .take(4 * input.len())
        .collect();
    let ms = time(a.iters / 4 + 1, || {
        let _ = m2.run_raw(&four, 4);
    });
    rows.push(Row {
        what: "model, 4 faces in one run, 2 threads".into(),
        ms: ms / 4.0,
        note: "per face".into(),
    });
    let mut det = FaceDetector::new(DetectorOptions::default())?;
    let ms = time((a.iters / 20).max(3), || {
        let _ = det.detect(&frame);
    });
    rows.push(Row {
        what: "face detector, 640x480, min face 40".into(),
        ms,
        note: "runs every --detect-every frames".into(),
    });
    let mut tracker = new_tracker(&model_path)?;
    let ms = time(a.iters, || {
        let _ = tracker.process(&frame, 0.0);
    });
    rows.push(Row {
        what: "tracker step, no face (detector every 2nd frame)".into(),
        ms,
        note: String::new(),
    });
    let video = a.video.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi")
    });
    if video.exists() {
        let mut tracker = new_tracker(&model_path)?;
        let tmp = std::env::temp_dir().join(format!("facetrack-bench-{}.csv", std::process::id()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = process_video(
            &VideoJob {
                input: video.clone(),
                csv: Some(tmp.clone()),
                annotate: None,
                style: Default::default(),
            },
            &mut tracker,
            &stop,
            &|_, _| {},
        )
        .with_context(|| format!("end-to-end run on {}", video.display()))?;
        let _ = std::fs::remove_file(&tmp);
        let n = s.frames.max(1) as f64;
        rows.push(Row {
            what: format!("end to end: {} -> CSV", video.file_name().and_then(|f| f.to_str()).unwrap_or("video")),
            ms: s.seconds * 1000.0 / n,
            note: format!(
                "{:.0} frames/s; per frame: decode {:.2}, detect {:.2}, landmarks {:.2}, write {:.2} ms",
                s.fps(),
                s.times.decode * 1000.0 / n,
                s.times.detect * 1000.0 / n,
                s.times.landmarks * 1000.0 / n,
                s.times.write * 1000.0 / n
            ),
        });
    }
    println!("| stage | ms | note |\n|---|---:|---|");
    for r in rows {
        println!("| {} | {:.3} | {} |", r.what, r.ms, r.note);
    }
    Ok(())
}
