//! The CSV's added columns through the command line: the eye and mouth signals, the
//! opt-in per-point confidence (`--point-confidence`), and `--csv-format openface`, whose
//! header OpenFace's readers index with a leading space (`row[' AU45_r']`) and py-feat's
//! `read_openface` strips back to the plain names.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{facetrack, shipped_model, stderr, track_video, TempDir};
use facetrack::output::csv_out::read_video_csv;

fn megamind() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi");
    if p.is_file() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{} is made by ./setup.sh", p.display());
    }
    eprintln!("skipping: run ./setup.sh for Megamind.avi");
    None
}

/// Header names as a CSV reader splits them on commas (spaces kept, as pandas and
/// Python's csv module keep them).
fn header(text: &str) -> Vec<String> {
    text.lines()
        .next()
        .unwrap()
        .split(',')
        .map(String::from)
        .collect()
}

#[test]
fn openface_format_has_openfaces_names_and_strips_to_the_plain_ones() {
    let Some(input) = megamind() else {
        return;
    };
    let t = TempDir::new("csvfmt");
    let (plain, of) = (t.path("plain.csv"), t.path("openface.csv"));
    let o = track_video(&input, &plain, &["--point-confidence"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = track_video(
        &input,
        &of,
        &["--point-confidence", "--csv-format", "openface"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (pt, ot) = (
        std::fs::read_to_string(&plain).unwrap(),
        std::fs::read_to_string(&of).unwrap(),
    );
    let (ph, oh) = (header(&pt), header(&ot));
    // OpenFace 2.x: the first name bare, every other after ", "
    assert_eq!(oh[0], "frame");
    for name in [
        " face_id", " success", " x_0", " y_67", " pose_Rx", " AU45_r", " c_0",
    ] {
        assert!(oh.iter().any(|h| h == name), "no '{name}' in {oh:?}");
    }
    assert!(
        !oh.iter().any(|h| h == "AU45_r"),
        "the plain name is not there"
    );
    // stripping the spaces (py-feat's read_openface) gives the plain CSV's names, in
    // OpenFace's order: the pose before the landmarks (after them in the plain CSV)
    let stripped: Vec<String> = oh.iter().map(|h| h.trim().to_string()).collect();
    assert_eq!(stripped[5..11], ph[141..147]);
    assert_eq!(stripped[5], "pose_Tx");
    assert_eq!(stripped[11], "x_0");
    let mut reordered = stripped.clone();
    let pose: Vec<String> = reordered.drain(5..11).collect();
    reordered.splice(141..141, pose);
    assert_eq!(reordered, ph);
    for name in [
        "eye_open_l",
        "eye_open_r",
        "blink",
        "mouth_open",
        "AU45_r",
        "c_67",
    ] {
        assert!(ph.iter().any(|h| h == name), "plain CSV lacks {name}");
    }
    // the same values, field by field (the openface rows' pose moved where the plain
    // CSV has it)
    let rows = |s: &str, pose_first: bool| -> Vec<Vec<String>> {
        s.lines()
            .skip(1)
            .map(|l| {
                let mut r: Vec<String> = l.split(',').map(|f| f.trim().to_string()).collect();
                if pose_first {
                    let pose: Vec<String> = r.drain(5..11).collect();
                    r.splice(141..141, pose);
                }
                r
            })
            .collect()
    };
    assert_eq!(rows(&pt, false), rows(&ot, true));
    assert!(ot.lines().nth(1).unwrap().contains(", "));
    // facetrack reads either back, with the signals and the confidences
    let (a, b) = (
        read_video_csv(&plain).unwrap(),
        read_video_csv(&of).unwrap(),
    );
    assert_eq!(a, b);
    let faces: Vec<_> = a.iter().filter(|r| r.face_id >= 0).collect();
    assert!(faces.iter().all(|r| r.point_confidence.len() == 68));
    assert!(faces
        .iter()
        .flat_map(|r| &r.point_confidence)
        .all(|c| (0.0..=1.0).contains(c)));
    // the cartoon face's eyes are open in most frames
    let open = faces
        .iter()
        .filter(|r| r.signals[0].unwrap() > 0.5 && r.signals[1].unwrap() > 0.5)
        .count();
    assert!(open * 2 > faces.len(), "{open} of {} frames", faces.len());
    python_reads_openface_names(&of);
    // `facetrack plot` draws the signals of either file
    let png = t.path("signals.png");
    let o = facetrack(&["plot", of.to_str().unwrap(), "--out", png.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (1200, 400));
    let o = facetrack(&["plot", of.to_str().unwrap(), "--out", png.to_str().unwrap()]);
    assert!(
        !o.status.success(),
        "an existing PNG is not replaced without -y"
    );
    // `-` is standard output, as for the other commands' outputs (not a file named -)
    let o = common::command()
        .current_dir(&t.0)
        .args(["plot", of.to_str().unwrap(), "--out", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.starts_with(b"\x89PNG"), "{} bytes", o.stdout.len());
    assert!(!t.path("-").exists());
    // -1 marks the rows of frames without a face: no face to plot (its zeros were drawn)
    let o = facetrack(&[
        "plot",
        of.to_str().unwrap(),
        "--out",
        t.path("none.png").to_str().unwrap(),
        "--face",
        "-1",
    ]);
    assert!(
        stderr(&o).contains("face ids are 0 or more"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path("none.png").exists());
    // a name that is no PNG's, and a file that is no CSV, are named as such
    let jpg = t.path("signals.jpg");
    let o = facetrack(&["plot", of.to_str().unwrap(), "--out", jpg.to_str().unwrap()]);
    assert!(stderr(&o).contains("name it NAME.png"), "{}", stderr(&o));
    assert!(!jpg.exists());
    let o = facetrack(&[
        "plot",
        png.to_str().unwrap(),
        "--out",
        t.path("p.png").to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("not a CSV (not UTF-8 text)"),
        "{}",
        stderr(&o)
    );
}

/// With the project's Python (pandas), as OpenFace users read the file.
fn python_reads_openface_names(csv: &Path) {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/venv/bin/python");
    if !py.is_file() {
        eprintln!("skipping the pandas check: no {}", py.display());
        return;
    }
    let script = "import sys, pandas as pd\n\
        df = pd.read_csv(sys.argv[1])\n\
        print(float(df[' AU45_r'].max()), float(df[' pose_Rx'].abs().max()), float(df[' x_0'].max()))\n\
        df.columns = df.columns.str.strip()\n\
        assert {'AU45_r', 'pose_Rx', 'x_0', 'eye_open_l', 'c_0'} <= set(df.columns)\n";
    let o = Command::new(&py)
        .args(["-c", script, csv.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    if err.contains("No module named 'pandas'") {
        eprintln!("skipping the pandas check: no pandas in {}", py.display());
        return;
    }
    assert!(o.status.success(), "pandas could not read it: {err}");
    let out = String::from_utf8_lossy(&o.stdout);
    let v: Vec<f64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(v[2] > 0.0, "x_0 read as {out}");
}

#[test]
fn image_csv_has_signals_and_opt_in_confidence() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("csvimg");
    let img = data.join("300w/lfpw_train/image_0001.jpg");
    let model = shipped_model();
    let run = |csv: &Path, extra: &[&str]| {
        let mut args = vec![
            "image",
            img.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = facetrack(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(csv).unwrap()
    };
    let plain = run(&t.path("a.csv"), &[]);
    let h = header(&plain);
    assert!(h.iter().any(|n| n == "eye_open_l") && h.iter().any(|n| n == "AU45_r"));
    assert!(!h.iter().any(|n| n == "c_0"), "confidence is opt-in");
    let of = run(
        &t.path("b.csv"),
        &["--point-confidence", "--csv-format", "openface"],
    );
    let h = header(&of);
    assert_eq!(h[0], "file");
    assert!(h.iter().any(|n| n == " c_67") && h.iter().any(|n| n == " mouth_open"));
    let row: Vec<&str> = of.lines().nth(1).unwrap().split(", ").collect();
    assert_eq!(row.len(), h.len());
    let c0 = h.iter().position(|n| n == " c_0").unwrap();
    let conf: Vec<f32> = row[c0..c0 + 68]
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(conf.iter().all(|c| (0.0..=1.0).contains(c)));
    assert!(
        conf.iter().sum::<f32>() / 68.0 > 0.3,
        "a clear face: {conf:?}"
    );
}

/// The eye and mouth signals are measured on the model's own points: `--smooth` and
/// `--smooth-offline` move the written points but leave the signal columns (and the
/// blinks) as they are without smoothing (a smoother delayed a blink by a frame or
/// averaged a blink of three frames away).
#[test]
fn smoothing_leaves_the_signal_columns_as_they_are() {
    let Some(input) = megamind() else {
        return;
    };
    let t = TempDir::new("signals-smooth");
    let run = |name: &str, extra: &[&str]| {
        let csv = t.path(name);
        let o = track_video(&input, &csv, extra);
        assert!(o.status.success(), "{}", stderr(&o));
        read_video_csv(&csv).unwrap()
    };
    let raw = run("raw.csv", &[]);
    assert!(raw.iter().any(|r| r.signals[2] == Some(1.0)), "no blink");
    for (name, flag) in [("one.csv", "--smooth"), ("two.csv", "--smooth-offline")] {
        let smoothed = run(name, &[flag]);
        assert_eq!(smoothed.len(), raw.len(), "{flag}");
        let mut moved = 0;
        for (s, r) in smoothed.iter().zip(&raw) {
            assert_eq!((s.frame, s.face_id), (r.frame, r.face_id), "{flag}");
            assert_eq!(
                s.signals, r.signals,
                "{flag}: frame {} face {}",
                r.frame, r.face_id
            );
            moved += usize::from(s.points != r.points);
        }
        assert!(
            moved * 2 > raw.len(),
            "{flag} moved the points of {moved} rows"
        );
    }
}
