//! The trainer end to end on a handful of real faces: train a few steps, export, run the
//! export through the tracker's `LandmarkModel`; and a resumed run ends exactly where an
//! uninterrupted one does.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::shared;

fn tmp(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ftrain-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn fit(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_train"))
        .arg("fit")
        .args(args)
        .output()
        .expect("train");
    assert!(
        o.status.success(),
        "train fit {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The number that follows `marker` in `line`.
/// The checkpoint files `state.json` names (the generation of the last checkpoint).
fn checkpoint_files(run: &Path) -> (PathBuf, PathBuf) {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap();
    let g = s["generation"].as_u64().unwrap();
    assert!(g >= 1, "state.json names no checkpoint generation");
    (
        run.join(format!("checkpoint-{g}.ot")),
        run.join(format!("optimizer-{g}.ot")),
    )
}

fn number_after(line: &str, marker: &str) -> f64 {
    line.split(marker)
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number after {marker:?} in {line}"))
}

fn base_args(data: &Path, out: &Path, steps: &str) -> Vec<String> {
    [
        "--preset",
        "nose",
        "--data",
        data.join("imm").to_str().unwrap(),
        "--max-per-source",
        "48",
        "--batch-size",
        "8",
        "--epochs",
        "3",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
        "--max-steps",
        steps,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn tiny_run_exports_a_model_the_tracker_runs() {
    let Some(data) = shared() else { return };
    let out = tmp("tiny");
    let args = base_args(&data, &out, "4");
    fit(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let onnx = out.join("model.onnx");
    assert!(onnx.is_file());
    let mut m =
        facetrack::LandmarkModel::from_file(&onnx, facetrack::ModelOptions::with_threads(1))
            .unwrap();
    assert_eq!(m.contract().point_set, facetrack::PointSet::NoseTip);
    assert_eq!(
        (m.contract().input_width, m.contract().input_height),
        (80, 60)
    );
    let img = facetrack::GrayImage::open(&data.join("imm/01-1m.jpg")).unwrap();
    let crop = m.crop_for(&facetrack::FaceBox::default(), img.width(), img.height());
    let p = m.predict(&img, &[crop]).unwrap();
    assert_eq!(p[0].len(), 1);
    assert!(p[0][0].is_finite());
    for f in ["config.json", "state.json", "metrics.csv", "filters.png"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let (w, o) = checkpoint_files(&out);
    assert!(w.is_file() && o.is_file(), "{w:?} / {o:?} missing");
    // one checkpoint on disk: earlier generations are removed once the new one is committed
    let ots = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("checkpoint"))
        .count();
    assert_eq!(ots, 1);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn resumed_run_matches_an_uninterrupted_one() {
    let Some(data) = shared() else { return };
    // 48 faces, batch 8: IMM persons 1-32 give 6 batches an epoch, so step 9 is mid-epoch 2
    let straight = tmp("straight");
    let a = base_args(&data, &straight, "9");
    fit(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let split = tmp("split");
    let b = base_args(&data, &split, "4");
    fit(&b.iter().map(String::as_str).collect::<Vec<_>>());
    // a kill while the next checkpoint was being written leaves its files half-done,
    // uncommitted (state.json still names the last one): the resume must not read them
    let (w, _) = checkpoint_files(&split);
    let g: u64 = w.file_stem().unwrap().to_str().unwrap()["checkpoint-".len()..]
        .parse()
        .unwrap();
    std::fs::write(split.join(format!("checkpoint-{}.ot", g + 1)), b"torn").unwrap();
    std::fs::write(split.join(format!("optimizer-{}.ot", g + 1)), b"torn").unwrap();
    fit(&["--resume", split.to_str().unwrap(), "--max-steps", "9"]);
    let load = |p: &Path| {
        let mut v = tch::Tensor::load_multi(checkpoint_files(p).0).unwrap();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (x, y) = (load(&straight), load(&split));
    assert_eq!(x.len(), y.len());
    for ((n1, t1), (n2, t2)) in x.iter().zip(&y) {
        assert_eq!(n1, n2);
        let d = (t1 - t2).abs().max().double_value(&[]);
        assert!(d < 1e-6, "{n1} differs by {d} after resume");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(split.join("state.json")).unwrap()).unwrap();
    assert_eq!(s["steps"], 9);
    // the changed setting is written back, so the folder says what ran
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(split.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["max_steps"], 9);
    let _ = std::fs::remove_dir_all(&straight);
    let _ = std::fs::remove_dir_all(&split);
}

#[test]
fn snapshots_average_to_their_mean_and_export() {
    let Some(data) = shared() else { return };
    let out = tmp("swa");
    // 3 whole epochs of 6 steps: the step limit is never reached
    let mut a = base_args(&data, &out, "1000");
    a.push("--snapshots".into());
    fit(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let snaps = out.join("snapshots");
    for e in 1..=3 {
        assert!(
            snaps.join(format!("epoch-{e}.ot")).is_file(),
            "snapshot {e}"
        );
    }
    let train = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_train"))
            .args(args)
            .output()
            .expect("train")
    };
    let run = out.to_str().unwrap();
    let o = train(&["average", run, "--last", "4"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("holds 3 snapshots"), "{err}");
    let o = train(&["average", run, "--last", "2"]);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let load = |p: &Path| {
        let mut v = tch::Tensor::load_multi(p).unwrap();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (s1, s2) = (
        load(&snaps.join("epoch-2.ot")),
        load(&snaps.join("epoch-3.ot")),
    );
    let avg = load(&out.join("average.ot"));
    assert_eq!(avg.len(), s1.len());
    let mut checked = 0;
    for ((n, t), ((_, t1), (_, t2))) in avg.iter().zip(s1.iter().zip(&s2)) {
        if n.contains("running") {
            continue; // batch-norm statistics are re-estimated, not averaged
        }
        let d = (t - (t1 + t2) / 2.0).abs().max().double_value(&[]);
        assert!(d < 1e-6, "{n} is off the mean by {d}");
        let apart = (t1 - t2).abs().max().double_value(&[]);
        assert!(apart > 0.0, "{n}: the two epochs' weights are identical");
        checked += 1;
    }
    assert!(checked > 0);
    let m = facetrack::LandmarkModel::from_file(
        &out.join("average.onnx"),
        facetrack::ModelOptions::with_threads(1),
    )
    .unwrap();
    assert_eq!(m.contract().point_set, facetrack::PointSet::NoseTip);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_pip_run_from_an_onnx_trunk_exports_a_heat_map_model() {
    let Some(data) = shared() else { return };
    let out = tmp("pip");
    let init = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/facetrack68-fp32.onnx");
    let o = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["fit", "--preset", "ibug68-pip", "--data"])
        .arg(data.join("300w/afw"))
        .args([
            "--max-per-source",
            "40",
            "--batch-size",
            "8",
            "--epochs",
            "1",
        ])
        .args([
            "--threads",
            "1",
            "--device",
            "cpu",
            "--max-steps",
            "3",
            "--closed-loop",
            "0.5",
            // quantization-aware: the export is checked against the float forward
            "--fake-quant",
            // offsets trained on the 3×3 cells around each point, read there too
            "--offset-window",
            "1",
            "--window-weight",
            "0.5",
            "--init",
        ])
        .arg(&init)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("train");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("quantization-aware: 37 values rounded to 8 bits"),
        "{stdout}"
    );
    // the shipped float model is a heat-map network itself: every layer is copied
    if init.is_file() {
        let m = facetrack::LandmarkModel::from_file(&init, Default::default()).unwrap();
        if m.contract().architecture == "resnet18-pip" {
            assert!(stdout.contains("initialised all 39 layers"), "{stdout}");
            // closed-loop crops come from the model's own points, mapped back to the image:
            // the shipped weights put them within a few per cent of the truth
            let line = stdout
                .lines()
                .find(|l| l.contains("crops from the model's own first-pass points"))
                .unwrap_or_else(|| panic!("no closed-loop line in:\n{stdout}"));
            let nme: f64 = number_after(line, "their NME ");
            assert!((1.0..8.0).contains(&nme), "{line}");
            let n: f64 = number_after(line, ": ");
            assert!(n >= 1.0, "{line}");
        }
    }
    let mut m = facetrack::LandmarkModel::from_file(
        &out.join("model.onnx"),
        facetrack::ModelOptions::with_threads(1),
    )
    .unwrap();
    let c = m.contract().clone();
    assert_eq!(c.crop_mode, facetrack::core::contract::CropMode::Aligned);
    assert_eq!((c.pip_window, c.pip_window_weight), (1, 0.5));
    assert!(matches!(
        c.output,
        facetrack::core::contract::OutputKind::Pip {
            grid_w: 7,
            grid_h: 7,
            ..
        }
    ));
    let p = predict_first_afw_face(&mut m, &data);
    let q = p.quality.expect("heat-map models give a quality");
    assert!((-10.0..10.0).contains(&q), "{q}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_loss_that_blows_up_stops_the_run_with_its_batch() {
    let Some(data) = shared() else { return };
    let out = tmp("blowup");
    let mut args = base_args(&data, &out, "12");
    args.extend(["--lr", "1e30", "--warmup-epochs", "0"].map(String::from));
    let o = Command::new(env!("CARGO_BIN_EXE_train"))
        .arg("fit")
        .args(&args)
        .output()
        .expect("train");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a learning rate of 1e30 trained on");
    assert!(
        err.contains("the training loss became") && err.contains("lower --lr"),
        "{err}"
    );
    // no checkpoint was written after the loss was lost
    assert!(!out.join("state.json").exists());
    let _ = std::fs::remove_dir_all(&out);
}

/// The model's 68 points on the first AFW face (cropped from its labels): all finite.
fn predict_first_afw_face(
    m: &mut facetrack::LandmarkModel,
    data: &Path,
) -> facetrack::inference::model::Prediction {
    let ds = facetrack::data::datasets::load(&data.join("300w/afw"), Default::default()).unwrap();
    let s = &ds.samples[0];
    let img = facetrack::GrayImage::open(&s.image).unwrap();
    let crop = m.crop_for_points(&s.points, img.width(), img.height());
    let p = m.predict_faces(&img, &[crop]).unwrap().remove(0);
    assert_eq!(p.points.len(), 68);
    assert!(p.points.iter().all(|q| q.is_finite()));
    p
}

/// `train fit` of a small `resnet18-pip-slim` run on AFW faces, with `extra` arguments.
fn slim_fit(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["fit", "--preset", "ibug68-pip"])
        .args(["--arch", "resnet18-pip-slim", "--data"])
        .arg(data.join("300w/afw"))
        .args(["--max-per-source", "24", "--batch-size", "8"])
        .args(["--threads", "1", "--device", "cpu", "--seed", "5"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .expect("train")
}

/// A `resnet18-pip-slim` run (half the channels inside each residual block) distilled from
/// the shipped float model: the teacher's term is in the training loss, and the export
/// runs in the tracker with the slim architecture in its contract.
#[test]
fn a_slim_network_distils_from_the_shipped_float_model() {
    let Some(data) = shared() else { return };
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let train_loss = |tag: &str, extra: &[&str]| -> (f64, PathBuf) {
        let out = tmp(tag);
        let o = slim_fit(&data, &out, &[&["--epochs", "1"], extra].concat());
        let stdout = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let line = stdout
            .lines()
            .find(|l| l.contains("train loss"))
            .unwrap_or_else(|| panic!("no epoch line in:\n{stdout}"));
        if !extra.is_empty() {
            assert!(stdout.contains("distilling from"), "{stdout}");
        }
        (number_after(line, "train loss "), out)
    };
    let teacher = models.join("facetrack68-fp32.onnx");
    let t = teacher.to_str().unwrap();
    let (plain, plain_out) = train_loss("slim-plain", &[]);
    let (distilled, out) = train_loss("slim-distil", &["--teacher", t, "--distill", "5"]);
    // the same seed, faces and first step: the teacher's term is added on top
    assert!(
        distilled > plain * 1.2,
        "train loss with the teacher {distilled}, without {plain}"
    );
    let mut m = facetrack::LandmarkModel::from_file(
        &out.join("model.onnx"),
        facetrack::ModelOptions::with_threads(1),
    )
    .unwrap();
    assert_eq!(m.contract().architecture, "resnet18-pip-slim");
    predict_first_afw_face(&mut m, &data);
    // a quantized teacher, or a weight without a teacher, is refused with a reason
    let int8 = models.join("facetrack68.onnx");
    let int8_out = tmp("slim-int8");
    let bad = slim_fit(
        &data,
        &int8_out,
        &["--max-steps", "1", "--teacher", int8.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("quantized"), "{err}");
    // a teacher that crops otherwise than the student is refused before the run starts
    let bad = slim_fit(&data, &int8_out, &["--crop-scale", "1.5", "--teacher", t]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("contract differs"),
        "{err}"
    );
    assert!(!int8_out.join("config.json").exists());
    let bad = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["fit", "--preset", "ibug68-pip", "--distill", "2"])
        .output()
        .expect("train");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("--teacher"), "{err}");
    // the mirror-averaged teacher: its label offset must be the run's, and then it trains
    let flip_out = tmp("slim-flip");
    let bad = slim_fit(
        &data,
        &flip_out,
        &["--max-steps", "1", "--teacher", t, "--teacher-flip"],
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("label offset (0.75 px"),
        "{err}"
    );
    let o = slim_fit(
        &data,
        &flip_out,
        &[
            "--max-steps",
            "2",
            "--no-export",
            "--flip-offset",
            "0.75",
            "--teacher",
            t,
            "--teacher-flip",
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && stdout.contains("mirror-averaged"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let config = std::fs::read_to_string(flip_out.join("config.json")).unwrap();
    assert!(config.contains("\"teacher_flip\": true"), "{config}");
    let _ = std::fs::remove_dir_all(&flip_out);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&plain_out);
    let _ = std::fs::remove_dir_all(&int8_out);
}
