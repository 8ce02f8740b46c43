//! `facetrack eval` end to end: the JSON keys, the plots as valid PNGs, and the clips mode.

mod common;

use std::path::Path;

use common::render::{load_face, smooth_motion, write_clip};
use common::{facetrack, shipped_model, stderr, TempDir};

/// `facetrack eval --data DATA --model <shipped> --json J` plus `extra`; the JSON summary.
fn eval_json(data: &Path, json: &Path, extra: &[&str]) -> serde_json::Value {
    let model = shipped_model();
    let mut args = vec![
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = facetrack(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[test]
fn dataset_eval_writes_json_per_face_and_plots() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("eval");
    let json = t.path("r.json");
    let per = t.path("faces.csv");
    let plots = t.path("plots");
    let v = eval_json(
        &data.join("300w/afw"),
        &json,
        &[
            "--holdout",
            "0.1",
            "--per-face",
            per.to_str().unwrap(),
            "--plots",
            plots.to_str().unwrap(),
        ],
    );
    for k in [
        "faces",
        "missed",
        "nme_mean",
        "nme_median",
        "fr_008",
        "fr_010",
        "auc_008",
    ] {
        assert!(v.get(k).is_some(), "{k} missing from {v}");
    }
    let faces = v["faces"].as_u64().unwrap();
    assert!(faces > 10 && faces < 100, "{faces} held-out AFW faces");
    let nme = v["nme_mean"].as_f64().unwrap();
    assert!(nme > 0.0 && nme < 0.2, "NME {nme} is a fraction");
    let rows = std::fs::read_to_string(&per).unwrap();
    assert_eq!(rows.lines().count() as u64, faces + 1);
    // each row carries the predicted points after the errors, in image pixels
    let header: Vec<&str> = rows.lines().next().unwrap().split(',').collect();
    assert_eq!(header.len(), 5 + 2 * 68, "{header:?}");
    assert_eq!(
        (header[1], header[5], header[72], header[140]),
        ("missed", "x_0", "x_67", "y_67")
    );
    for line in rows.lines().skip(1) {
        let v: Vec<&str> = line.split(',').collect();
        assert_eq!(v.len(), header.len(), "{line}");
        let px_error: f64 = v[2].parse().unwrap();
        assert!(px_error > 0.0 && px_error < 50.0, "{line}");
        let x: Vec<f64> = v[4..72].iter().map(|s| s.parse().unwrap()).collect();
        assert!(x.iter().all(|&x| x > -50.0 && x < 5000.0), "{line}");
    }
    for p in ["ced.png", "best.png", "worst.png"] {
        let img = image::open(plots.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(img.width() > 100 && img.height() > 100);
    }
    // a face given twice (the same dataset twice, or a folder and one inside it) is
    // scored once, and the user is told
    let afw = data.join("300w/afw");
    let again = t.path("again.json");
    let o = facetrack(&[
        "eval",
        "--data",
        afw.to_str().unwrap(),
        "--data",
        data.join("300w/../300w/afw").to_str().unwrap(),
        "--holdout",
        "0.1",
        "--model",
        shipped_model().to_str().unwrap(),
        "--json",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let w: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&again).unwrap()).unwrap();
    assert_eq!(w["faces"].as_u64(), Some(faces), "{w}");
    assert_eq!(w["nme_mean"], v["nme_mean"]);
    assert!(
        stderr(&o).contains(&format!("left out {faces} faces given twice")),
        "{}",
        stderr(&o)
    );
}

/// `facetrack eval` of the shipped model on the held-out AFW faces with these boxes; the
/// JSON summary.
fn eval_held_out_afw(data: &Path, t: &TempDir, boxes: &str, name: &str) -> serde_json::Value {
    let v = eval_json(
        &data.join("300w/afw"),
        &t.path(name),
        &["--holdout", "0.1", "--seed", "42", "--boxes", boxes],
    );
    assert_eq!(v["boxes"], boxes);
    v
}

#[test]
fn detector_boxes_count_missed_faces() {
    let Some(data) = common::shared_data() else {
        return;
    };
    // two faces the detector finds, and a third whose picture is blanked: it is missed,
    // counted as missed and kept out of the NME
    let t = TempDir::new("evaldet");
    let dir = t.path("set");
    std::fs::create_dir_all(&dir).unwrap();
    let src = data.join("300w/afw");
    let mut names: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    names.sort();
    for (k, img) in names.iter().take(3).enumerate() {
        let name = img.file_name().unwrap();
        std::fs::copy(
            img.with_extension("pts"),
            dir.join(name).with_extension("pts"),
        )
        .unwrap();
        if k == 2 {
            let (w, h) = image::image_dimensions(img).unwrap();
            image::GrayImage::from_pixel(w, h, image::Luma([128]))
                .save(dir.join(name))
                .unwrap();
        } else {
            std::fs::copy(img, dir.join(name)).unwrap();
        }
    }
    let per = t.path("per.csv");
    let v = eval_json(
        &dir,
        &t.path("r.json"),
        &["--boxes", "detector", "--per-face", per.to_str().unwrap()],
    );
    assert_eq!(v["faces"].as_u64(), Some(3), "{v}");
    assert_eq!(v["missed"].as_u64(), Some(1), "{v}");
    let rows = std::fs::read_to_string(&per).unwrap();
    // each face has its row; the blanked one says it was missed and has no error
    assert_eq!(rows.lines().count(), 1 + 3, "{rows}");
    // (image, missed, error: 1 and an empty error, so numeric readers read the column)
    let missed: Vec<&str> = rows.lines().filter(|l| l.contains(",1,,")).collect();
    assert!(rows.starts_with("image,missed,error,"), "{rows}");
    assert_eq!(missed.len(), 1, "{rows}");
    assert!(
        missed[0].contains(names[2].file_name().unwrap().to_str().unwrap()),
        "{rows}"
    );
    let nme = v["nme_mean"].as_f64().unwrap();
    assert!(nme > 0.0 && nme < 0.1, "{nme}");
}

/// A scratch folder as `eval --clips` makes one, named after a process that has ended.
fn dead_runs_scratch() -> std::path::PathBuf {
    let gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    let _ = { gone }.wait();
    let dir = std::env::temp_dir().join(format!("facetrack-eval-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn clips_eval_reports_success_and_flicker() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("clips");
    let face = load_face(&data, "300w/helen_train", 4);
    let mut poses: Vec<_> = smooth_motion(&face, 40, 75.0, 40.0)
        .into_iter()
        .map(Some)
        .collect();
    poses.extend(std::iter::repeat_n(None, 10));
    // the clips in a folder of their own: reports are not written inside an input folder
    let clips = t.path("clips");
    std::fs::create_dir_all(&clips).unwrap();
    write_clip(
        &face,
        &poses,
        &clips.join("a.mp4"),
        Some(&clips.join("a.gt.csv")),
    );
    let json = t.path("c.json");
    let plots = t.path("plots");
    // an earlier run's scratch folder, left by a run that was killed: its process is
    // gone, so this run removes it (a live run's is left alone)
    let left = dead_runs_scratch();
    std::fs::write(left.join("pred.csv"), b"frame\n").unwrap();
    let alive = std::env::temp_dir().join(format!("facetrack-eval-{}", std::process::id()));
    std::fs::create_dir_all(&alive).unwrap();
    // ... and one whose process this one cannot see (another PID namespace) but whose
    // lock is held: kept
    let unseen = dead_runs_scratch();
    let held = std::fs::File::create(unseen.join(".lock")).unwrap();
    held.try_lock().unwrap();
    let o = facetrack(&[
        "eval",
        "--clips",
        clips.to_str().unwrap(),
        "--model",
        shipped_model().to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--plots",
        plots.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!left.exists(), "a dead run's scratch folder is left");
    assert!(alive.exists(), "a live process's folder was removed");
    assert!(unseen.exists(), "a folder whose lock is held was removed");
    drop(held);
    let _ = std::fs::remove_dir_all(&alive);
    let _ = std::fs::remove_dir_all(&unseen);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for k in [
        "nme_mean",
        "nme_median",
        "nme_p95",
        "nme_worst",
        "success_rate",
        "false_faces",
        "flicker",
        "face_flicker",
        "size_jitter",
        "oscillation_runs",
    ] {
        assert!(v.get(k).is_some(), "{k} missing from {v}");
    }
    assert!(v["success_rate"].as_f64().unwrap() > 0.9, "{v}");
    // the shipped model's still-image NME is about 4.5 %; a steady clip stays near it
    assert!(v["nme_mean"].as_f64().unwrap() < 0.07, "{v}");
    assert_eq!(v["oscillation_runs"], 0, "{v}");
    assert!(v["clips"]["a"].is_object());
    assert_eq!(v["frames_unscored"], 0, "{v}");
    // per-clip NME/flicker over time and the CED of all frames, as PNG
    for name in ["a.png", "ced.png"] {
        let img = image::open(plots.join(name)).expect(name).to_rgb8();
        assert!(img.width() >= 640, "{name}");
        // a chart has drawn series: not a blank page
        assert!(
            img.pixels().filter(|p| p.0 != [255, 255, 255]).count() > 1000,
            "{name}"
        );
    }
    // a clip whose plot would take the CED's name, and two clips of one name (and one
    // ground truth), are refused before any clip is tracked
    let more = t.path("more");
    std::fs::create_dir_all(&more).unwrap();
    std::fs::copy(clips.join("a.mp4"), more.join("ced.mp4")).unwrap();
    std::fs::copy(clips.join("a.gt.csv"), more.join("ced.gt.csv")).unwrap();
    let o = facetrack(&[
        "eval",
        "--clips",
        more.to_str().unwrap(),
        "--plots",
        t.path("plots2").to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("its plot would be ced.png"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path("plots2").exists());
    std::fs::copy(clips.join("a.mp4"), more.join("ced.MP4")).unwrap();
    let o = facetrack(&["eval", "--clips", more.to_str().unwrap()]);
    assert!(stderr(&o).contains("share the name ced"), "{}", stderr(&o));
    // a ground truth past the clip's end is not counted as frames the tracker missed
    let gt = std::fs::read_to_string(clips.join("a.gt.csv")).unwrap();
    let first = gt.lines().nth(1).unwrap();
    let late = format!("1000{}", &first[first.find(',').unwrap()..]);
    let past = t.path("past");
    std::fs::create_dir_all(&past).unwrap();
    std::fs::copy(clips.join("a.mp4"), past.join("b.mp4")).unwrap();
    std::fs::write(past.join("b.gt.csv"), format!("{gt}{late}\n")).unwrap();
    let o = facetrack(&[
        "eval",
        "--clips",
        past.to_str().unwrap(),
        "--model",
        shipped_model().to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("frame 1000 has a face") && e.contains("ended after 50 frames"),
        "{e}"
    );
    // a ground truth that stops before its clip: the frames after it are said to be
    // unscored, not passed over in silence
    let short: String = gt.lines().take(31).map(|l| format!("{l}\n")).collect();
    std::fs::write(past.join("b.gt.csv"), short).unwrap();
    let short_json = t.path("short.json");
    let o = facetrack(&[
        "eval",
        "--clips",
        past.to_str().unwrap(),
        "--model",
        shipped_model().to_str().unwrap(),
        "--json",
        short_json.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains("20 of the clip's 50 frames have no row (the first: frame 31)"),
        "{e}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&short_json).unwrap()).unwrap();
    assert_eq!(v["frames_unscored"], 20, "{v}");
    assert_eq!(v["clips"]["b"]["frames_unscored"], 20, "{v}");
    assert_eq!(v["frames"], 30, "{v}");
    // one frame scored: no change between frames to measure, so no flicker or size jitter
    // (null, not a perfect 0)
    let one: String = gt.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(past.join("b.gt.csv"), one).unwrap();
    let o = facetrack(&[
        "eval",
        "--clips",
        past.to_str().unwrap(),
        "--model",
        shipped_model().to_str().unwrap(),
        "--json",
        short_json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&short_json).unwrap()).unwrap();
    assert!(v["nme_mean"].is_number(), "{v}");
    for k in ["flicker", "face_flicker", "size_jitter"] {
        assert!(v[k].is_null(), "{k}: {v}");
    }
    // a ground truth counted from frame 0 is refused, not scored a frame off
    let zero: String = gt
        .lines()
        .enumerate()
        .map(|(k, l)| match k {
            0 => format!("{l}\n"),
            _ => {
                let (f, rest) = l.split_once(',').unwrap();
                format!("{},{rest}\n", f.parse::<u64>().unwrap() - 1)
            }
        })
        .collect();
    std::fs::write(past.join("b.gt.csv"), zero).unwrap();
    let o = facetrack(&["eval", "--clips", past.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("a row of frame 0; frames count from 1"),
        "{}",
        stderr(&o)
    );
    // a face to score with an empty point (pandas' NaN) is refused, not scored as NaN
    let fields: Vec<&str> = first.split(',').collect();
    let x0 = gt
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c.trim() == "x_0")
        .unwrap();
    let blank: Vec<&str> = (0..fields.len())
        .map(|k| if k == x0 { "" } else { fields[k] })
        .collect();
    let rest: String = gt.lines().skip(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(
        past.join("b.gt.csv"),
        format!(
            "{}\n{}\n{rest}",
            gt.lines().next().unwrap(),
            blank.join(",")
        ),
    )
    .unwrap();
    let o = facetrack(&["eval", "--clips", past.to_str().unwrap()]);
    let e = stderr(&o);
    assert!(e.contains("with an empty or NaN point"), "{e}");
    // options of the dataset mode are refused with --clips, not ignored
    for extra in [
        &["--per-face", "x.csv"][..],
        &["--split", "test"],
        &["--boxes", "detector"],
    ] {
        let mut args = vec!["eval", "--clips", clips.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = facetrack(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    }
    // a ground truth with two faces in a frame is refused before any clip is tracked
    let gt = std::fs::read_to_string(clips.join("a.gt.csv")).unwrap();
    let second = gt.lines().nth(1).unwrap().replacen(",0,", ",1,", 1);
    std::fs::write(clips.join("a.gt.csv"), format!("{gt}{second}\n")).unwrap();
    let o = facetrack(&["eval", "--clips", clips.to_str().unwrap()]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("frame 1 has 2 faces"), "{e}");
    // a ground truth without a face to score is an error, not an NME of 0
    std::fs::write(
        clips.join("a.gt.csv"),
        gt.lines().next().unwrap().to_string() + "\n",
    )
    .unwrap();
    let o = facetrack(&[
        "eval",
        "--clips",
        clips.to_str().unwrap(),
        "--model",
        shipped_model().to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("nothing to score"), "{e}");
}

#[test]
fn ctrl_c_stops_an_eval_without_a_report_and_a_bench_at_once() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("eval-stop");
    let json = t.path("r.json");
    std::fs::write(&json, b"OLD").unwrap();
    let model = shipped_model();
    // (7,428 faces: some 20 s of work)
    let lfw = data.join("lfw/labels.csv");
    let run = |args: &[&str]| {
        let child = common::command()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let sent = Instant::now();
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let o = child.wait_with_output().unwrap();
        (o, sent.elapsed())
    };
    let (o, took) = run(&[
        "eval",
        "--data",
        lfw.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{e}");
    assert!(e.contains("no report was written"), "{e}");
    assert!(took < Duration::from_secs(10), "{took:?}: {e}");
    assert_eq!(std::fs::read(&json).unwrap(), b"OLD");
    // a command with nothing to close ends at once
    let (o, took) = run(&[
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--iters",
        "100000",
    ]);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn tracked_boxes_are_seeded_and_cost_a_little_accuracy() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("evaltracked");
    let nme = |boxes: &str, name: &str| -> f64 {
        eval_held_out_afw(&data, &t, boxes, name)["nme_mean"]
            .as_f64()
            .unwrap()
    };
    let gt = nme("gt", "gt.json");
    let a = nme("tracked", "a.json");
    let b = nme("tracked", "b.json");
    assert_eq!(a, b, "the same seed gives the same boxes");
    assert_ne!(a, gt, "tracked boxes differ from the ground-truth boxes");
    assert!(
        a < 0.10 && a < gt * 1.5,
        "tracked NME {a} vs ground-truth boxes {gt}"
    );
}

/// `eval --noise` on the held-out AFW faces with `model`: the JSON summary.
fn noise_json(data: &Path, t: &TempDir, model: &Path, name: &str) -> serde_json::Value {
    let json = t.path(name);
    let o = facetrack(&[
        "eval",
        "--data",
        data.join("300w/afw").to_str().unwrap(),
        "--holdout",
        "0.1",
        "--boxes",
        "tracked",
        "--noise",
        "--model",
        model.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("noise (1 gray level"), "{out}");
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[test]
fn noise_measure_is_in_the_json_and_lower_for_the_float_model() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("evalnoise");
    let float = shipped_model().with_file_name("facetrack68-fp32.onnx");
    let q = noise_json(&data, &t, &shipped_model(), "int8.json");
    let f = noise_json(&data, &t, &float, "float.json");
    let faces = q["faces"].as_u64().unwrap();
    for v in [&q, &f] {
        let n = &v["noise"];
        assert_eq!(n["faces"].as_u64(), Some(faces), "{v}");
        let (mean, p95) = (n["mean"].as_f64().unwrap(), n["p95"].as_f64().unwrap());
        // a fraction of the eye distance: moved, but far less than the error itself
        assert!(mean > 0.0 && mean <= p95 && p95 < 0.01, "{n}");
    }
    let (qm, fm) = (
        q["noise"]["mean"].as_f64().unwrap(),
        f["noise"]["mean"].as_f64().unwrap(),
    );
    assert!(fm < qm, "float {fm} should move less than INT8 {qm}");
    // seeded: the same run gives the same figure
    let again = noise_json(&data, &t, &float, "float2.json");
    assert_eq!(again["noise"], f["noise"]);
    // without --noise the key is there, empty
    let plain = eval_json(
        &data.join("300w/afw"),
        &t.path("plain.json"),
        &["--holdout", "0.1"],
    );
    assert!(plain["noise"].is_null(), "{plain}");
}

#[test]
fn skipped_records_are_named_with_their_reason() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("evalskip");
    let dir = t.path("set");
    std::fs::create_dir_all(&dir).unwrap();
    let src = data.join("300w/afw");
    let img = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .min()
        .unwrap();
    std::fs::copy(&img, dir.join("good.jpg")).unwrap();
    std::fs::copy(img.with_extension("pts"), dir.join("good.pts")).unwrap();
    std::fs::copy(&img, dir.join("bad.jpg")).unwrap();
    std::fs::write(dir.join("bad.pts"), "version: 1\nn_points: 68\n{\n1 2\n}\n").unwrap();
    // 68 points in one place: labels that mark no face
    std::fs::copy(&img, dir.join("zeros.jpg")).unwrap();
    let zeros = format!("version: 1\nn_points: 68\n{{\n{}}}\n", "10 10\n".repeat(68));
    std::fs::write(dir.join("zeros.pts"), zeros).unwrap();
    let model = shipped_model();
    let o = facetrack(&[
        "eval",
        "--data",
        dir.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        // (no detector ran: no count of its misses)
        out.contains("1 faces (2 records skipped)"),
        "{out}"
    );
    let why = format!(
        "skipped: {}: expected 68 points",
        dir.join("bad.pts").display()
    );
    assert!(e.contains(&why), "expected '{why}' in: {e}");
    let why = format!(
        "skipped: {}: its 68 points span under 2 pixels",
        dir.join("zeros.jpg").display()
    );
    assert!(e.contains(&why), "expected '{why}' in: {e}");
}

/// `--window-weight` is for models trained with a vote window (`train fit
/// --offset-window`): on the shipped model, which reads each point's best cell alone, it
/// is a clear error before any face is read.
#[test]
fn a_window_weight_for_a_model_without_a_vote_window_is_a_clear_error() {
    let model = shipped_model();
    let o = facetrack(&[
        "eval",
        "--data",
        "/nonexistent-data-for-this-test",
        "--model",
        model.to_str().unwrap(),
        "--window-weight",
        "0.5",
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("vote window"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

/// Faces the detector misses, every one: no score, not a perfect one (NME 0 %); and a
/// label whose eye corners are one point is left out, not scored in pixels among
/// fractions.
#[test]
fn no_face_scored_is_no_score_and_a_label_without_eye_distance_is_left_out() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("eval-none");
    let set = t.path("set");
    std::fs::create_dir_all(&set).unwrap();
    let afw = data.join("300w/afw");
    std::fs::copy(afw.join("1051618982_1.jpg"), set.join("a.jpg")).unwrap();
    std::fs::copy(afw.join("1051618982_1.pts"), set.join("a.pts")).unwrap();
    let json = t.path("r.json");
    let model = shipped_model();
    let run = |extra: &[&str]| {
        let mut args = vec!["eval", "--data", set.to_str().unwrap(), "--json"];
        args.push(json.to_str().unwrap());
        args.extend(["--model", model.to_str().unwrap()]);
        args.extend_from_slice(extra);
        facetrack(&args)
    };
    // a smallest face larger than the photo: the detector finds nothing
    let o = run(&["--boxes", "detector", "--min-face", "5000"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("no face scored"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["missed"], 1, "{v}");
    for k in ["nme_mean", "nme_median", "fr_008", "mean_px_error"] {
        assert!(v[k].is_null(), "{k}: {v}");
    }
    // the outer eye corners (points 37 and 46, from 1) made one point
    let pts = std::fs::read_to_string(set.join("a.pts")).unwrap();
    let mut lines: Vec<String> = pts.lines().map(String::from).collect();
    lines[3 + 45] = lines[3 + 36].clone();
    std::fs::copy(set.join("a.jpg"), set.join("b.jpg")).unwrap();
    std::fs::write(set.join("b.pts"), lines.join("\n") + "\n").unwrap();
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("b.jpg: its label's outer eye corners are one point"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["faces"], 1, "{v}");
    assert!(v["nme_mean"].as_f64().unwrap() < 0.2, "{v}");
    // --signals names it too (it left such labels out in silence)
    let o = run(&["--signals"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("b.jpg: its label's outer eye corners are one point"),
        "{}",
        stderr(&o)
    );
}
