//! No user file is damaged: outputs that are inputs (by any name) or each other are
//! refused before anything is written, existing outputs are kept without --overwrite,
//! batch outputs cannot collide, and a run killed with SIGKILL leaves a playable
//! annotated video and a readable CSV under their `.partial` names.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{facetrack, shipped_model, stderr, TempDir};
use facetrack::capture::source::FrameSource;
use facetrack::capture::video::VideoFile;
use facetrack::output::output_files::partial_path;

/// A test video made with ffmpeg's generator (ffmpeg is installed by ./setup.sh).
fn make_video(out: &std::path::Path, seconds: u32) {
    make_video_of("testsrc", out, seconds)
}

/// `seconds` of FFmpeg's test source `source` (a lavfi source name) at 640x480, 30 fps.
fn make_video_of(source: &str, out: &std::path::Path, seconds: u32) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("{source}=size=640x480:rate=30:duration={seconds}"))
        .args(["-c:v", "mpeg4", "-q:v", "5"])
        .arg(out)
        .output()
        .expect("ffmpeg (installed by ./setup.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn video_args<'a>(input: &'a str, model: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["video", input, "--model", model];
    v.extend_from_slice(rest);
    v
}

/// Run facetrack with `args`, send it `signal` (`INT`, `TERM`) `times` times at once as
/// soon as `partial` holds 20 kB, and return how it ended.
fn signalled(args: &[&str], partial: &std::path::Path, signal: &str, times: usize) -> Output {
    let child = common::command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0) < 20_000 {
        assert!(t0.elapsed() < Duration::from_secs(120), "no output grew");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    for _ in 0..times {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    }
    child.wait_with_output().unwrap()
}

#[test]
fn an_output_that_is_the_input_is_refused_and_the_input_kept() {
    let t = TempDir::new("same-as-input");
    let input = t.path("in.mp4");
    make_video(&input, 1);
    let before = std::fs::read(&input).unwrap();
    std::fs::create_dir_all(t.path("sub")).unwrap();
    std::os::unix::fs::symlink(&input, t.path("link.csv")).unwrap();
    let model = shipped_model();
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    let dotted = t.path("sub/../in.mp4");
    let link = t.path("link.csv");
    for (flag, out) in [
        ("--csv", input.to_str().unwrap()),
        ("--csv", dotted.to_str().unwrap()),
        ("--csv", link.to_str().unwrap()),
        ("--annotate", input.to_str().unwrap()),
    ] {
        let o = facetrack(&video_args(i, m, &[flag, out, "--overwrite"]));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{flag} {out}: {e}");
        assert!(e.contains("is the input"), "{e}");
        assert_eq!(std::fs::read(&input).unwrap(), before, "the input changed");
    }
    // two outputs of one name
    let x = t.path("x.mp4");
    let o = facetrack(&video_args(
        i,
        m,
        &[
            "--csv",
            x.to_str().unwrap(),
            "--annotate",
            x.to_str().unwrap(),
        ],
    ));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("same file"), "{}", stderr(&o));
    assert!(!x.exists());
}

#[test]
fn an_existing_output_is_kept_unless_overwrite_is_given() {
    let t = TempDir::new("existing");
    let input = t.path("in.mkv");
    make_video(&input, 1);
    let csv = t.path("out.csv");
    std::fs::write(&csv, b"precious").unwrap();
    let model = shipped_model();
    let (i, m, c) = (
        input.to_str().unwrap(),
        model.to_str().unwrap(),
        csv.to_str().unwrap(),
    );
    let o = facetrack(&video_args(i, m, &["--csv", c]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--overwrite"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&csv).unwrap(), b"precious");
    let o = facetrack(&video_args(i, m, &["--csv", c, "--overwrite"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("frame,face_id"), "{text}");
    assert!(!partial_path(&csv).exists(), "the partial file was renamed");
}

#[test]
fn batch_inputs_of_one_name_cannot_share_an_output() {
    let t = TempDir::new("collide");
    std::fs::create_dir_all(t.path("a")).unwrap();
    std::fs::create_dir_all(t.path("b")).unwrap();
    make_video(&t.path("a/clip.mkv"), 1);
    std::fs::copy(t.path("a/clip.mkv"), t.path("b/clip.mkv")).unwrap();
    let model = shipped_model();
    let (a, b, out) = (t.path("a/clip.mkv"), t.path("b/clip.mkv"), t.path("out"));
    let o = facetrack(&[
        "video",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("would both write"), "{e}");
    assert!(!out.join("clip.csv").exists());
}

#[test]
fn a_killed_run_leaves_a_playable_video_and_a_readable_csv() {
    let t = TempDir::new("kill");
    // a still picture: its video grows by little a second (as a talking face's does), so
    // a fragment held in FFmpeg's output buffer instead of the file would be lost
    let input = t.path("long.mkv");
    make_video_of("smptebars", &input, 120);
    let (csv, mp4) = (t.path("k.csv"), t.path("k.mp4"));
    let model = shipped_model();
    let mut child = common::command()
        .args([
            "video",
            input.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--annotate",
            mp4.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // wait until 100 frames (3.3 s) are tracked, then SIGKILL
    let partial = partial_path(&mp4);
    let t0 = Instant::now();
    let tracked = || {
        std::fs::read_to_string(partial_path(&csv))
            .map_or(0, |s| s.lines().count().saturating_sub(1))
    };
    while tracked() < 100 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(t0.elapsed() < Duration::from_secs(120), "no output grew");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!mp4.exists(), "the final name appears only when a run ends");
    let mut v = VideoFile::open(&partial, false).expect("the killed video opens");
    let mut frames = 0;
    while let Ok(Some(_)) = v.next_frame() {
        frames += 1;
    }
    assert!(
        frames >= 30,
        "only {frames} frames of the killed video play"
    );
    let rows =
        facetrack::output::csv_out::read_video_csv(&partial_path(&csv)).expect("partial CSV");
    assert!(!rows.is_empty());
    // the video loses at most the fragment being written (a key frame a second: 30 frames)
    // and the encoder's few frames in flight, of what the CSV holds
    let csv_frames = rows.iter().map(|r| r.frame).max().unwrap_or(0) as i64;
    eprintln!("killed: {csv_frames} frames in the CSV, {frames} in the video");
    assert!(
        frames as i64 >= csv_frames - 60,
        "the killed video plays {frames} frames; the CSV holds {csv_frames}"
    );
}

/// `facetrack eval` reports: one that names the dataset itself (or the other report) is
/// refused before anything is read or written, and the dataset is left as it was.
#[test]
fn eval_reports_never_overwrite_the_dataset() {
    let t = TempDir::new("eval-reports");
    let labels = t.path("labels.csv");
    let text = "image,x0,y0\nface.jpg,1,2\n";
    std::fs::write(&labels, text).unwrap();
    let l = labels.to_str().unwrap();
    for flag in ["--json", "--per-face"] {
        let o = facetrack(&["eval", "--data", l, flag, l]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{flag}: {e}");
        assert!(e.contains("is the input"), "{flag}: {e}");
        assert_eq!(std::fs::read_to_string(&labels).unwrap(), text, "{flag}");
    }
    let r = t.path("r.json");
    let o = facetrack(&[
        "eval",
        "--data",
        l,
        "--json",
        r.to_str().unwrap(),
        "--per-face",
        r.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("the same file"), "{}", stderr(&o));
    // a folder's labels and images (and a labelled worst.png) are not reports' to
    // replace, and no report is a new file in the folder either (inputs are read-only)
    let d = t.path("faces");
    std::fs::create_dir_all(&d).unwrap();
    for f in ["a.pts", "a.jpg", "worst.png"] {
        std::fs::write(d.join(f), f).unwrap();
    }
    let ds = d.to_str().unwrap();
    let pts = d.join("a.pts");
    let jpg = d.join("a.jpg");
    let new_json = d.join("report.json");
    let new_plots = d.join("plots");
    let cases = [
        vec!["eval", "--data", ds, "--per-face", pts.to_str().unwrap()],
        vec!["eval", "--data", ds, "--json", jpg.to_str().unwrap()],
        vec!["eval", "--data", ds, "--plots", ds],
        vec!["eval", "--data", ds, "--json", new_json.to_str().unwrap()],
        vec!["eval", "--data", ds, "--plots", new_plots.to_str().unwrap()],
    ];
    for args in &cases {
        let o = facetrack(args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert!(e.contains("is inside the input folder"), "{args:?}: {e}");
    }
    for f in ["a.pts", "a.jpg", "worst.png"] {
        assert_eq!(std::fs::read_to_string(d.join(f)).unwrap(), f);
    }
    assert!(!new_json.exists() && !new_plots.exists());
    // the images a CSV dataset names (beside it, below it) are not a report's to replace
    // either; the other files of its folder are the user's to choose
    let photo = t.path("face.jpg");
    std::fs::write(&photo, "a photo").unwrap();
    std::fs::create_dir_all(t.path("images")).unwrap();
    let below = t.path("images/b.jpg");
    std::fs::write(&below, "a photo").unwrap();
    let named = t.path("named.csv");
    let rows = "image,x0,y0,x1,y1\nface.jpg,1,2,30,40\nimages/b.jpg,1,2,30,40\n";
    std::fs::write(&named, rows).unwrap();
    let n = named.to_str().unwrap();
    for out in [&photo, &below] {
        let o = facetrack(&["eval", "--data", n, "--per-face", out.to_str().unwrap()]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert!(e.contains("an image it names"), "{e}");
        assert_eq!(std::fs::read_to_string(out).unwrap(), "a photo");
    }
    let notes = t.path("notes.txt");
    std::fs::write(&notes, "old").unwrap();
    let o = facetrack(&["eval", "--data", n, "--per-face", notes.to_str().unwrap()]);
    assert!(!stderr(&o).contains("a file of the"), "{}", stderr(&o));
}

#[test]
fn ctrl_c_never_replaces_a_file_and_a_left_partial_file_is_kept() {
    let t = TempDir::new("sigint");
    let input = t.path("long.mkv");
    make_video(&input, 60);
    let csv = t.path("out.csv");
    std::fs::write(&csv, b"a complete earlier output").unwrap();
    let model = shipped_model();
    let (i, m, c) = (
        input.to_str().unwrap(),
        model.to_str().unwrap(),
        csv.to_str().unwrap(),
    );
    let partial = partial_path(&csv);
    // beside it a new annotated video: it gets its name, and the summary says it is cut short
    let mp4 = t.path("out.mp4");
    let o = signalled(
        &video_args(
            i,
            m,
            &[
                "--csv",
                c,
                "--annotate",
                mp4.to_str().unwrap(),
                "--overwrite",
            ],
        ),
        &partial,
        "INT",
        1,
    );
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(std::fs::read(&csv).unwrap(), b"a complete earlier output");
    let rows = std::fs::read_to_string(&partial).unwrap();
    assert!(rows.starts_with("frame,face_id") && rows.lines().count() > 2);
    assert!(
        stderr(&o).contains("out.partial.csv"),
        "the summary names where the frames went: {}",
        stderr(&o)
    );
    assert!(
        mp4.is_file() && stderr(&o).contains("out.mp4, new, holds only the frames done"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(&mp4).unwrap();
    // the next run keeps that partial file unless told otherwise
    let o = facetrack(&video_args(i, m, &["--csv", c, "--overwrite"]));
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(&partial, b"rows of a killed run").unwrap();
    std::fs::remove_file(&csv).unwrap();
    let o = facetrack(&video_args(i, m, &["--csv", c]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("out.partial.csv exists"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&partial).unwrap(), b"rows of a killed run");
}

#[test]
fn links_fifos_standard_output_and_dev_null_as_outputs() {
    let t = TempDir::new("special");
    let input = t.path("in.mkv");
    make_video(&input, 1);
    let model = shipped_model();
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    // a link keeps pointing at its file, which gets the rows
    let target = t.path("real.csv");
    std::fs::write(&target, b"old").unwrap();
    let link = t.path("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = facetrack(&video_args(i, m, &["--csv", link.to_str().unwrap(), "-y"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&target)
        .unwrap()
        .starts_with("frame,face_id"));
    // `--csv -` is standard output, and no file named `-` appears
    let o = common::command()
        .current_dir(t.path(""))
        .args(video_args(i, m, &["--csv", "-"]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with("frame,face_id") && text.lines().count() == 31,
        "{text}"
    );
    assert!(!t.path("-").exists());
    // a FIFO: its reader gets the rows, and the FIFO stays a FIFO
    let fifo = t.path("rows.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let o = facetrack(&video_args(i, m, &["--csv", fifo.to_str().unwrap()]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = reader.join().unwrap();
    assert!(
        text.starts_with("frame,face_id") && text.lines().count() == 31,
        "{text}"
    );
    assert!(!std::fs::metadata(&fifo).unwrap().is_file());
    // /dev/null needs no --overwrite and is still there afterwards
    let o = facetrack(&video_args(i, m, &["--csv", "/dev/null"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
}

/// One SIGTERM (what `timeout`, systemd and `docker stop` send) ends a run still opening
/// its input, a FIFO no program writes to: nothing was read or written, so there is
/// nothing to finish (it waited for ever, only a second signal ended it).
#[test]
fn one_signal_ends_a_run_still_waiting_for_its_input() {
    let t = TempDir::new("fifo-wait");
    let fifo = t.path("in.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let model = shipped_model();
    let csv = t.path("x.csv");
    let mut child = common::command()
        .args(video_args(
            fifo.to_str().unwrap(),
            model.to_str().unwrap(),
            &["--csv", csv.to_str().unwrap()],
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("one signal did not end a run waiting for its input");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let e = stderr(&out);
    assert_eq!(status.code(), Some(130), "{e}");
    assert!(e.contains("interrupted before any frame was read"), "{e}");
    assert!(!csv.exists() && !partial_path(&csv).exists());
}

/// A link or a hard link left at an output's `.partial` name (`--overwrite` lets a left
/// partial file be replaced) is replaced, never written through into the file it leads
/// to; the CSV, the annotated video and an image run's PNG alike.
#[test]
fn a_link_at_the_partial_name_is_replaced_not_written_through() {
    let t = TempDir::new("partial-link");
    let input = t.path("in.mkv");
    make_video(&input, 1);
    let model = shipped_model();
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    let precious = t.path("precious.txt");
    let kept = b"a file of the user's".as_slice();
    std::fs::write(&precious, kept).unwrap();
    let (csv, mp4) = (t.path("o.csv"), t.path("o.mp4"));
    std::os::unix::fs::symlink(&precious, partial_path(&csv)).unwrap();
    std::fs::hard_link(&precious, partial_path(&mp4)).unwrap();
    let o = facetrack(&video_args(
        i,
        m,
        &[
            "--csv",
            csv.to_str().unwrap(),
            "--annotate",
            mp4.to_str().unwrap(),
            "-y",
        ],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&precious).unwrap(), kept);
    for out in [&csv, &mp4] {
        let meta = out.symlink_metadata().unwrap();
        assert!(meta.is_file(), "{} is no plain file", out.display());
        assert!(!partial_path(out).exists());
    }
    assert!(std::fs::read_to_string(&csv)
        .unwrap()
        .starts_with("frame,face_id"));
    // an image run's CSV and annotated PNG
    let png = t.path("face.png");
    image::GrayImage::from_pixel(64, 48, image::Luma([128u8]))
        .save(&png)
        .unwrap();
    let out = t.path("faces.csv");
    let drawn = t.path("ann").join("face.png");
    std::fs::create_dir(t.path("ann")).unwrap();
    std::os::unix::fs::symlink(&precious, partial_path(&out)).unwrap();
    std::os::unix::fs::symlink(&precious, partial_path(&drawn)).unwrap();
    let o = facetrack(&[
        "image",
        png.to_str().unwrap(),
        "--model",
        m,
        "--csv",
        out.to_str().unwrap(),
        "--annotate",
        t.path("ann").to_str().unwrap(),
        "-y",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&precious).unwrap(), kept);
    assert!(out.symlink_metadata().unwrap().is_file());
    assert!(drawn.symlink_metadata().unwrap().is_file());
    assert!(image::open(&drawn).is_ok());
}

/// A usage error is found before any output or folder is made, so the corrected command
/// runs (it was refused: the empty `.partial` file left behind looked like a cut-short run).
#[test]
fn a_bad_option_leaves_no_file_or_folder() {
    let t = TempDir::new("bad-option");
    let input = t.path("in.mkv");
    make_video(&input, 1);
    let model = shipped_model();
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    let png = t.path("face.png");
    image::GrayImage::from_pixel(64, 48, image::Luma([128u8]))
        .save(&png)
        .unwrap();
    let (csv, ann) = (t.path("o.csv"), t.path("ann/sub"));
    let bad_pose = ["--fx", "0", "--fy", "1", "--cx", "1", "--cy", "1"];
    let mut args = vec![
        "image",
        png.to_str().unwrap(),
        "--model",
        m,
        "--csv",
        csv.to_str().unwrap(),
        "--annotate",
        ann.to_str().unwrap(),
    ];
    args.extend_from_slice(&bad_pose);
    let o = facetrack(&args);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--fx"), "{}", stderr(&o));
    assert!(!partial_path(&csv).exists() && !csv.exists());
    assert!(!t.path("ann").exists());
    let o = facetrack(&args[..8]);
    assert!(o.status.success(), "{}", stderr(&o));
    // video: --out-dir's folders are not left by a run its options refuse, nor by one
    // whose model does not load
    let junk = t.path("junk.onnx");
    std::fs::write(&junk, b"no model").unwrap();
    let j = junk.to_str().unwrap();
    for (model, bad) in [
        (m, &["--max-faces", "0"][..]),
        (m, &bad_pose[..]),
        (j, &[][..]),
    ] {
        let dir = t.path("out");
        let sub = t.path("out/sub");
        let mut args = vec![
            "video",
            i,
            "--model",
            model,
            "--out-dir",
            sub.to_str().unwrap(),
        ];
        args.extend_from_slice(bad);
        let o = facetrack(&args);
        assert!(!o.status.success());
        assert!(!dir.exists(), "{model} {bad:?} left {}", dir.display());
    }
}

#[test]
fn an_annotated_video_of_a_kind_it_cannot_be_is_refused_before_any_work() {
    let t = TempDir::new("annotate-kind");
    let input = t.path("in.mkv");
    make_video(&input, 1);
    let model = shipped_model();
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    for name in ["a.gif", "b.png", "c.webm", "d"] {
        let (csv, out) = (t.path(&format!("{name}.csv")), t.path(name));
        let o = facetrack(&video_args(
            i,
            m,
            &[
                "--csv",
                csv.to_str().unwrap(),
                "--annotate",
                out.to_str().unwrap(),
            ],
        ));
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(".mp4"), "{name}: {}", stderr(&o));
        let left: Vec<_> = std::fs::read_dir(t.path(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "in.mkv")
            .collect();
        assert!(left.is_empty(), "{name}: left {left:?}");
    }
    let o = facetrack(&video_args(
        i,
        m,
        &["--annotate", t.path("e.MKV").to_str().unwrap()],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn ctrl_c_during_two_sided_smoothing_keeps_an_existing_annotated_video() {
    let t = TempDir::new("sigint-offline");
    let input = t.path("long.mkv");
    make_video(&input, 60);
    let (csv, mp4) = (t.path("s.csv"), t.path("s.mp4"));
    std::fs::write(&mp4, b"a complete earlier video").unwrap();
    let model = shipped_model();
    let args = [
        "--csv",
        csv.to_str().unwrap(),
        "--annotate",
        mp4.to_str().unwrap(),
        "--smooth-offline",
        "-y",
    ];
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    let o = signalled(&video_args(i, m, &args), &partial_path(&csv), "INT", 1);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(std::fs::read(&mp4).unwrap(), b"a complete earlier video");
    // the frames tracked before the stop are drawn into the partial video
    let mut v = VideoFile::open(&partial_path(&mp4), false).expect("the partial video opens");
    assert!(v.next_frame().unwrap().is_some());
}

#[test]
fn standard_output_redirected_to_a_file_is_written_in_place() {
    let t = TempDir::new("stdout-file");
    let input = t.path("in.mkv");
    make_video(&input, 1);
    let model = shipped_model();
    let out = t.path("redirected.csv");
    // the CSV to `csv` (standard output's name), standard output the file `stdout`
    let run = |csv: &str, stdout: std::fs::File| {
        let o = common::command()
            .args(video_args(
                input.to_str().unwrap(),
                model.to_str().unwrap(),
                &["--csv", csv],
            ))
            .stdout(stdout)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(&out).unwrap()
    };
    let text = run("-", std::fs::File::create(&out).unwrap());
    assert!(
        text.starts_with("frame,face_id") && text.lines().count() == 31,
        "{text}"
    );
    assert!(!partial_path(&out).exists() && !t.path("redirected.partial.csv").exists());
    // a shell's >> appends: what the file held is kept (standard output is written
    // through its own descriptor, not opened again and truncated)
    std::fs::write(&out, b"PRECIOUS\n").unwrap();
    let appending = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    let text = run("/dev/stdout", appending);
    assert!(
        text.starts_with("PRECIOUS\nframe,face_id") && text.lines().count() == 32,
        "{text}"
    );
}

/// Run facetrack with `first` until `partial` holds something, hold it still (SIGSTOP)
/// while `second` runs to its end, then let it go on; both runs' outputs.
fn second_run_beside_a_held_first(
    first: &[&str],
    partial: &std::path::Path,
    second: &[&str],
) -> (Output, Output) {
    let child = common::command()
        .args(first)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(120), "no output grew");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    let signal = |s: &str| {
        let sent = Command::new("kill").args([s, &pid]).status().unwrap();
        assert!(sent.success());
    };
    signal("-STOP");
    let second = facetrack(second);
    signal("-CONT");
    (child.wait_with_output().unwrap(), second)
}

#[test]
fn two_runs_on_one_output_leave_each_others_files_alone() {
    let t = TempDir::new("two-runs");
    let input = t.path("in.mkv");
    // (10 s: long enough that the first run is still at work when it is held still)
    make_video(&input, 10);
    let model = shipped_model();
    let out = t.path("x.csv");
    let partial = partial_path(&out);
    let (i, m, o) = (
        input.to_str().unwrap(),
        model.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    // a second run on the same output, even with --overwrite, neither removes nor
    // writes the first one's file
    let (first, second) = second_run_beside_a_held_first(
        &video_args(i, m, &["--csv", o]),
        &partial,
        &video_args(i, m, &["--csv", o, "--overwrite"]),
    );
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("is being written by another run"),
        "{}",
        stderr(&second)
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let rows = std::fs::read_to_string(&out).unwrap();
    assert_eq!(rows.lines().count(), 301, "the first run's whole CSV");
    assert!(!partial.exists());
}

#[test]
fn skip_existing_runs_sharing_a_folder_split_it() {
    let t = TempDir::new("share-folder");
    let videos = t.path("videos");
    std::fs::create_dir_all(&videos).unwrap();
    make_video(&videos.join("a.mkv"), 10);
    make_video(&videos.join("b.mkv"), 1);
    let model = shipped_model();
    let out = t.path("out");
    let args = [
        "video",
        videos.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--jobs",
        "1",
        "--skip-existing",
    ];
    // the first run held still while it writes a.mkv's CSV: a second run on the folder
    // leaves a.mkv to it and does b.mkv
    let partial = partial_path(&out.join("a.csv"));
    let (first, second) = second_run_beside_a_held_first(&args, &partial, &args);
    let (e1, e2) = (stderr(&first), stderr(&second));
    assert!(second.status.success(), "{e2}");
    assert!(
        e2.contains("being written by another run: ") && e2.contains("a.mkv (--skip-existing)"),
        "{e2}"
    );
    assert!(
        e2.contains("1 of 1 videos done, 0 failed, ")
            && e2.contains(", 1 being written by another run (--skip-existing)"),
        "{e2}"
    );
    // the first, let go, finds b.mkv done when its turn comes
    assert!(first.status.success(), "{e1}");
    assert!(
        e1.contains("already done: ") && e1.contains("b.mkv (--skip-existing)"),
        "{e1}"
    );
    assert!(
        e1.contains("1 of 1 videos done, 0 failed, ")
            && e1.contains(", 1 already done (--skip-existing)"),
        "{e1}"
    );
    for (name, rows) in [("a.csv", 301), ("b.csv", 31)] {
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        assert_eq!(text.lines().count(), rows, "{name}");
    }
    assert!(!partial.exists());
}

#[test]
fn a_full_disk_stops_an_image_run_and_keeps_the_old_csv() {
    let t = TempDir::new("image-full");
    let photos = t.path("photos");
    std::fs::create_dir_all(&photos).unwrap();
    common::ffmpeg(
        &["-f", "lavfi", "-i", "testsrc=size=64x64", "-frames:v", "1"],
        &photos.join("p00.png"),
    );
    for k in 1..60 {
        std::fs::copy(photos.join("p00.png"), photos.join(format!("p{k:02}.png"))).unwrap();
    }
    let model = shipped_model();
    let args = |csv: &str| -> Vec<String> {
        [
            "image",
            photos.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--csv".into(), csv.into(), "--overwrite".into()])
        .collect()
    };
    // a device that takes nothing: one error, the run stopped, exit 1 (not one error a
    // photo and exit 3)
    let o = common::command().args(args("/dev/full")).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.matches("No space left").count(), 1, "{e}");
    assert!(
        e.contains("after 0 of 60 images; the run stopped there"),
        "{e}"
    );
    // a disk that fills part-way: the CSV there is kept, the rows so far in its partial
    let disk = t.path("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let Some(_mounted) = common::tmpfs(&disk, "size=8k") else {
        return;
    };
    let csv = disk.join("i.csv");
    std::fs::write(&csv, b"OLD\n").unwrap();
    let o = common::command()
        .args(args(csv.to_str().unwrap()))
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("the run stopped there") && e.contains("i.partial.csv"),
        "{e}"
    );
    assert_eq!(std::fs::read(&csv).unwrap(), b"OLD\n");
    let kept = std::fs::read_to_string(partial_path(&csv)).unwrap();
    assert!(kept.starts_with("file,face"), "{kept}");
}

#[test]
fn one_signal_sent_twice_at_once_is_one_stop_not_a_second_press() {
    // `timeout` sends SIGTERM to the command and to its process group: the run must
    // still finish its outputs, as after one Ctrl-C
    let t = TempDir::new("sigterm-twice");
    let input = t.path("long.mkv");
    make_video(&input, 60);
    let csv = t.path("t.csv");
    let model = shipped_model();
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    let args = video_args(i, m, &["--csv", csv.to_str().unwrap()]);
    let o = signalled(&args, &partial_path(&csv), "TERM", 2);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(!stderr(&o).contains("exiting now"), "{}", stderr(&o));
    assert!(
        csv.exists() && !partial_path(&csv).exists(),
        "{}",
        stderr(&o)
    );
}
