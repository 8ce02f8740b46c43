//! The binary on bad input: one clear line, a documented exit code, never a panic, and
//! nothing already written is lost.

mod common;

use common::{facetrack, stderr, TempDir};

fn assert_clean_error(o: &std::process::Output, code: i32, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {e}");
    assert!(e.contains(needle), "expected '{needle}' in: {e}");
    assert!(!e.contains("panicked"), "panic: {e}");
}

#[test]
fn missing_video_file() {
    let t = TempDir::new("missing");
    let o = facetrack(&[
        "video",
        "/nonexistent/clip.mp4",
        "--csv",
        t.path("o.csv").to_str().unwrap(),
    ]);
    assert_clean_error(&o, 1, "no such file");
    assert!(
        !t.path("o.csv").exists(),
        "no CSV for an input that never opened"
    );
}

#[test]
fn text_file_named_mp4_and_empty_file() {
    let t = TempDir::new("text");
    std::fs::write(t.path("notes.mp4"), "this is not a video\n".repeat(50)).unwrap();
    let o = facetrack(&[
        "video",
        t.path("notes.mp4").to_str().unwrap(),
        "--csv",
        t.path("o.csv").to_str().unwrap(),
    ]);
    assert_clean_error(&o, 1, "notes.mp4");
    std::fs::write(t.path("empty.mp4"), b"").unwrap();
    let o = facetrack(&[
        "video",
        t.path("empty.mp4").to_str().unwrap(),
        "--csv",
        t.path("o.csv").to_str().unwrap(),
    ]);
    assert_clean_error(&o, 1, "empty");
}

#[test]
fn folder_without_videos() {
    let t = TempDir::new("novid");
    std::fs::write(t.path("a.txt"), b"x").unwrap();
    let o = facetrack(&[
        "video",
        t.0.to_str().unwrap(),
        "--out-dir",
        t.path("out").to_str().unwrap(),
    ]);
    assert_clean_error(&o, 1, "no video files");
}

#[test]
fn missing_model_names_the_flag() {
    let t = TempDir::new("model");
    let o = facetrack(&[
        "image",
        "x.jpg",
        "--model",
        "/nonexistent/m.onnx",
        "--csv",
        t.path("o.csv").to_str().unwrap(),
    ]);
    assert_clean_error(&o, 1, "does not exist");
}

#[test]
fn missing_runtime_library_names_the_setup_command() {
    let o = common::command()
        .args(["info", "--model", common::shipped_model().to_str().unwrap()])
        .env("FACETRACK_ORT_LIB", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    // the model exists, so the runtime is what fails: the message names the variable
    // and the setup command that installs the library
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("/nonexistent/libonnxruntime.so"), "{e}");
    assert!(
        e.contains("./setup.sh") && e.contains("FACETRACK_ORT_LIB"),
        "{e}"
    );
    assert!(!e.contains("panicked"));
}

#[test]
fn usage_errors_exit_2() {
    let o = facetrack(&["video"]);
    assert_eq!(o.status.code(), Some(2));
    let t = TempDir::new("usage");
    std::fs::write(t.path("a.mp4"), b"x").unwrap();
    std::fs::write(t.path("b.mp4"), b"x").unwrap();
    let o = facetrack(&[
        "video",
        t.path("a.mp4").to_str().unwrap(),
        t.path("b.mp4").to_str().unwrap(),
        "--csv",
        "x.csv",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--out-dir"));
}

#[test]
fn eval_shares_outside_0_1_and_bench_without_its_video_are_refused_at_once() {
    for flag in ["--holdout", "--val-fraction"] {
        for value in ["0", "1.5", "-0.1", "nan"] {
            let arg = format!("{flag}={value}");
            let o = facetrack(&["eval", "--data", "/nonexistent", &arg]);
            assert_clean_error(&o, 2, "above 0 and below 1");
        }
    }
    // live: --frames 0, camera options with a file, and two outputs to standard output
    for (args, needle) in [
        (
            &["live", "--source", "x.mp4", "--frames", "0"][..],
            "at least 1",
        ),
        (
            &["live", "--source", "x.mp4", "--fps", "10"],
            "cannot be used with",
        ),
        (
            &["live", "--source", "x.mp4", "--resolution", "abc"],
            "cannot be used with",
        ),
    ] {
        assert_clean_error(&facetrack(args), 2, needle);
    }
    let o = facetrack(&["live", "--record", "-", "--jsonl", "-"]);
    assert_clean_error(&o, 1, "both write to standard output");
    // eval on photos: clip smoothing is refused (it was accepted and ignored), and
    // IMM's test persons only from IMM data (300-W faces were dropped by their numbers)
    let t = TempDir::new("eval-refusals");
    std::fs::write(t.path("a.pts"), "version: 1\nn_points: 1\n{\n1 2\n}\n").unwrap();
    let data = t.0.to_str().unwrap();
    for signals in [&[][..], &["--signals"]] {
        let mut args = vec!["eval", "--data", data];
        args.extend_from_slice(signals);
        let o = facetrack(&[&args[..], &["--smooth"]].concat());
        assert_clean_error(&o, 1, "--smooth scores tracked clips");
        let o = facetrack(&[&args[..], &["--smooth-offline"]].concat());
        assert_clean_error(&o, 1, "--smooth-offline scores tracked clips");
        let o = facetrack(&[&args[..], &["--imm-test"]].concat());
        assert_clean_error(&o, 1, "is not an IMM folder");
    }
    // reports --signals does not write are refused, not passed over
    let (pf, plots) = (t.path("pf.csv"), t.path("plots"));
    for (extra, name) in [
        (["--per-face", pf.to_str().unwrap()], "--per-face"),
        (["--plots", plots.to_str().unwrap()], "--plots"),
    ] {
        let o = facetrack(&[&["eval", "--data", data, "--signals"][..], &extra].concat());
        assert_clean_error(&o, 1, &format!("{name} is not written by --signals"));
    }
    // refused before the micro-benchmarks (a minute of work), not after them
    let o = facetrack(&["bench", "--video", "/nonexistent/clip.mp4", "--iters", "1"]);
    assert_clean_error(&o, 1, "no such file");
    assert!(o.stdout.is_empty(), "no table for a refused run");
}

/// Options given the wrong kind of thing get words for what it is: a file where an
/// output folder goes, a folder as the model, a size that is not WxH, no faces to find.
#[test]
fn wrong_kinds_of_paths_and_values_are_named_as_what_they_are() {
    let t = TempDir::new("kinds");
    let file = t.path("notes.csv");
    std::fs::write(&file, b"x").unwrap();
    std::fs::write(t.path("a.mp4"), b"x").unwrap();
    let photo = t.path("p.png");
    image::RgbImage::new(8, 8).save(&photo).unwrap();
    let (f, v, p) = (
        file.to_str().unwrap(),
        t.path("a.mp4"),
        photo.to_str().unwrap(),
    );
    let needle = "a file is there; an output folder is needed";
    assert_clean_error(
        &facetrack(&["video", v.to_str().unwrap(), "--out-dir", f]),
        1,
        needle,
    );
    assert_clean_error(&facetrack(&["image", p, "--annotate", f]), 1, needle);
    let dangling = t.path("gone");
    std::os::unix::fs::symlink(t.path("nowhere"), &dangling).unwrap();
    assert_clean_error(
        &facetrack(&["image", p, "--annotate", dangling.to_str().unwrap()]),
        1,
        needle,
    );
    assert_clean_error(
        &facetrack(&["info", "--model", t.0.to_str().unwrap()]),
        1,
        "is a folder; a model is an .onnx file",
    );
    // the trainer's weight file (a zip archive) given as the model
    let weights = t.path("best.ot");
    std::fs::write(&weights, b"PK\x03\x04 tch weights").unwrap();
    assert_clean_error(
        &facetrack(&["info", "--model", weights.to_str().unwrap()]),
        1,
        "not an ONNX model; make one with `cargo run --release --bin train -- export",
    );
    assert_clean_error(
        &facetrack(&["live", "--resolution", "10xabc", "--frames", "1"]),
        1,
        "--resolution '10xabc' is not WxH",
    );
    assert_clean_error(
        &facetrack(&["image", p, "--max-faces", "0"]),
        2,
        "at least 1",
    );
}

#[test]
fn an_image_run_that_reads_no_photo_prints_no_csv() {
    let t = TempDir::new("no-photo");
    std::fs::write(t.path("note.jpg"), b"not a photo").unwrap();
    let o = facetrack(&["image", t.path("note.jpg").to_str().unwrap()]);
    assert_clean_error(&o, 1, "not a photo facetrack reads");
    assert!(
        o.stdout.is_empty(),
        "a header-only CSV on standard output: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn tracker_options_out_of_range_are_refused_before_any_output() {
    let Some(video) = common::demo_video() else {
        return;
    };
    let t = TempDir::new("options");
    let csv = t.path("o.csv");
    for (flag, value, needle) in [
        ("--detect-every", "0", "--detect-every"),
        ("--max-faces", "0", "--max-faces"),
        ("--min-cutoff", "0", "--min-cutoff"),
        ("--beta", "NaN", "--beta"),
    ] {
        let o = facetrack(&[
            "video",
            video.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            flag,
            value,
        ]);
        assert_clean_error(&o, 1, needle);
        assert!(!csv.exists(), "{flag} {value}: no CSV");
    }
    // camera intrinsics: a negative value is a value (a principal point left of a frame
    // cut from a larger picture), not an unknown flag; focal lengths out of any camera's
    // range are refused (1e30 put the face 1e30 mm away, 1e-30 wrote zeros)
    let pose = |fx: &str, cx: &str| {
        facetrack(&[
            "video",
            video.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--fx",
            fx,
            "--fy",
            "700",
            "--cx",
            cx,
            "--cy",
            "-20",
            "--overwrite",
        ])
    };
    for fx in ["1e30", "1e-30", "0.5", "-700"] {
        assert_clean_error(&pose(fx, "320"), 1, "focal lengths of 1 to 1000000 pixels");
        assert!(!csv.exists(), "--fx {fx}: no CSV");
    }
    let o = pose("700", "-100");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(csv.exists());
}

#[test]
fn a_bad_file_in_a_batch_does_not_stop_the_others() {
    let t = TempDir::new("batch");
    let dir = t.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.mp4"), b"garbage garbage garbage").unwrap();
    let Some(megamind) = common::demo_video() else {
        return;
    };
    std::os::unix::fs::symlink(&megamind, dir.join("megamind.avi")).unwrap();
    let model = common::shipped_model();
    let o = facetrack(&[
        "video",
        dir.to_str().unwrap(),
        "--out-dir",
        t.path("out").to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(e.contains("broken.mp4"), "{e}");
    assert!(e.contains("1 of 2 videos done, 1 failed"), "{e}");
    let csv = std::fs::read_to_string(t.path("out/megamind.csv")).unwrap();
    assert!(csv.lines().count() > 100);
}

/// A video long enough that a signal always lands mid-run: Megamind.avi played five times
/// over (about 1,350 frames), made with the ffmpeg tool.
fn long_video(t: &TempDir) -> Option<std::path::PathBuf> {
    let megamind =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi");
    if !megamind.exists() {
        if std::env::var_os("CI").is_some() {
            panic!("{} is made by ./setup.sh", megamind.display());
        }
        eprintln!("skipping: run ./setup.sh for the demo video");
        return None;
    }
    let out = t.path("long.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-stream_loop", "4", "-i"])
        .arg(&megamind)
        .args(["-an", "-c:v", "libx264", "-preset", "ultrafast"])
        .arg(&out)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ffmpeg could not make the long clip");
    Some(out)
}

/// Wait (up to 20 s) until the CSV growing at `partial` holds some rows.
fn rows_appear(partial: &std::path::Path) -> bool {
    for _ in 0..1000 {
        if std::fs::read_to_string(partial)
            .map(|s| s.lines().count() > 20)
            .unwrap_or(false)
        {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

/// Interrupt a run (with `extra` options) by `signal` once rows reach the partial CSV:
/// the run stops at once (exit 130), the CSV gets its final name with every frame done,
/// in order, and no `.partial` file is left.
fn stops_cleanly_on(signal: i32, extra: &[&str]) {
    let t = TempDir::new(&format!("signal{signal}"));
    let Some(input) = long_video(&t) else {
        return;
    };
    let csv = t.path("o.csv");
    let partial = facetrack::output::output_files::partial_path(&csv);
    let annotated = t.path("o.mp4");
    // "--annotate" in `extra` stands for `--annotate o.mp4`
    let annotate = extra.contains(&"--annotate");
    let child = common::command()
        .args([
            "video",
            input.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--model",
            common::shipped_model().to_str().unwrap(),
            "--threads",
            "1",
        ])
        .args(extra.iter().filter(|a| **a != "--annotate"))
        .args(if annotate {
            vec!["--annotate", annotated.to_str().unwrap()]
        } else {
            vec![]
        })
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // wait until rows are being written, then signal
    assert!(
        rows_appear(&partial),
        "no rows reached {}",
        partial.display()
    );
    unsafe {
        libc_kill(child.id() as i32, signal);
    }
    let out = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "signal {signal}: {e}");
    assert!(e.contains("interrupted"), "{e}");
    assert!(!partial.exists(), "the partial CSV is left");
    let rows = facetrack::output::csv_out::read_video_csv(&csv).unwrap();
    let mut frames: Vec<u64> = rows.iter().map(|r| r.frame).collect();
    frames.dedup();
    assert!(
        frames.len() > 5 && frames.len() < 1300,
        "{} frames",
        frames.len()
    );
    assert_eq!(
        frames,
        (1..=frames.len() as u64).collect::<Vec<_>>(),
        "frames done are all there, in order"
    );
    if annotate {
        // the annotated video is drawn for the same frames
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-show_entries"])
            .args(["stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(&annotated)
            .output()
            .expect("ffprobe");
        let n = String::from_utf8_lossy(&probe.stdout);
        assert_eq!(n.trim(), frames.len().to_string(), "{e}");
    }
}

#[test]
fn ctrl_c_leaves_a_valid_csv_of_the_frames_done() {
    stops_cleanly_on(2, &[]);
}

#[test]
fn ctrl_c_with_smooth_offline_keeps_the_smoothed_frames_done() {
    // the frames held back for their look-ahead are smoothed with what there is and
    // written too: the CSV holds every frame tracked, in order, and the second pass
    // draws the annotated video for those frames
    stops_cleanly_on(2, &["--smooth-offline", "--annotate"]);
}

/// Ctrl-C to `child` once `ready` holds (waiting up to a minute); it must end with 130.
/// Its standard error.
fn interrupt_once(child: std::process::Child, ready: impl Fn() -> bool) -> String {
    let mut waited = 0;
    while !ready() {
        assert!(
            waited < 6000,
            "the run never reached the point to interrupt"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    unsafe {
        libc_kill(child.id() as i32, 2);
    }
    let out = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{e}");
    e
}

#[test]
fn ctrl_c_while_drawing_the_smoothed_video_says_how_much_it_holds() {
    // --smooth-offline --annotate: the CSV is whole once the second pass draws; a Ctrl-C
    // then leaves a shorter video, and the summary says how many frames it holds: a new
    // video under its name, and over an old one (--overwrite) in its partial file
    let t = TempDir::new("signal-redraw");
    let Some(input) = long_video(&t) else {
        return;
    };
    let (csv, video) = (t.path("o.csv"), t.path("o.mp4"));
    let drawing = facetrack::output::output_files::partial_path(&video);
    let stop_while_drawing = |extra: &[&str]| {
        let began = std::time::SystemTime::now();
        let child = common::command()
            .args([
                "video",
                input.to_str().unwrap(),
                "--csv",
                csv.to_str().unwrap(),
            ])
            .args(["--annotate", video.to_str().unwrap(), "--smooth-offline"])
            .args(["--threads", "1", "--model"])
            .arg(common::shipped_model())
            .args(extra)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // the CSV whole under its name (written since the run began), the video growing
        interrupt_once(child, || {
            std::fs::metadata(&csv).is_ok_and(|m| m.modified().is_ok_and(|t| t >= began))
                && std::fs::metadata(&drawing).is_ok_and(|m| m.len() > 100_000)
        })
    };
    let frames_of = |v: &std::path::Path| -> u64 {
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-show_entries"])
            .args(["stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(v)
            .output()
            .expect("ffprobe");
        String::from_utf8_lossy(&probe.stdout)
            .trim()
            .parse()
            .unwrap()
    };
    let e = stop_while_drawing(&[]);
    let rows = facetrack::output::csv_out::read_video_csv(&csv).unwrap();
    let frames = rows.last().unwrap().frame;
    let drawn = frames_of(&video);
    assert!(drawn > 0 && drawn < frames, "{drawn} of {frames}: {e}");
    assert!(
        e.contains(&format!(
            "interrupted while drawing the annotated video: it holds the first {drawn} of \
             the {frames} frames tracked, the CSV all of them"
        )),
        "{e}"
    );
    // again over the outputs: the old video is kept, the new one's frames are in its
    // partial file, and the CSV (whole) is not said to be cut short
    let old = std::fs::read(&video).unwrap();
    let e = stop_while_drawing(&["--overwrite"]);
    assert_eq!(std::fs::read(&video).unwrap(), old, "{e}");
    let drawn = frames_of(&drawing);
    assert!(
        e.contains(&format!(
            "interrupted while drawing the annotated video; {} kept as it was, since only \
             a complete run replaces it: the first {drawn} of the {frames} frames tracked \
             are in {}; the CSV holds all of them",
            video.display(),
            drawing.display()
        )),
        "{e}"
    );
    assert!(!e.contains("holds only the frames done"), "{e}");
    // a folder run: the CSV is whole under its name, the video in its partial file, and
    // the summary says how to finish it (--skip-existing alone refuses the whole CSV)
    let dir = t.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::rename(&input, dir.join("v.mp4")).unwrap();
    let out = t.path("out");
    let child = common::command()
        .args([
            "video",
            dir.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ])
        .arg("--annotate")
        .arg(out.join("v.mp4"))
        .args(["--smooth-offline", "--threads", "1", "--model"])
        .arg(common::shipped_model())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (v_csv, v_partial) = (out.join("v.csv"), out.join("v.partial.mp4"));
    let e = interrupt_once(child, || {
        v_csv.exists() && std::fs::metadata(&v_partial).is_ok_and(|m| m.len() > 100_000)
    });
    let drawn = frames_of(&v_partial);
    assert!(
        e.contains(&format!(
            "interrupted while drawing the annotated video, whose .partial file holds the \
             first {drawn} of the {frames} frames tracked; the CSV is whole: move it away"
        )),
        "{e}"
    );
    assert!(!out.join("v.mp4").exists());
}

#[test]
fn sigterm_and_sighup_stop_as_cleanly_as_ctrl_c() {
    stops_cleanly_on(15, &[]);
    stops_cleanly_on(1, &[]);
}

#[test]
fn an_interrupted_folder_run_is_finished_by_skip_existing() {
    let t = TempDir::new("folder-resume");
    let Some(long) = long_video(&t) else {
        return;
    };
    let dir = t.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::rename(&long, dir.join("b.mp4")).unwrap();
    for name in ["a.mp4", "c.mp4"] {
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(dir.join("b.mp4"))
            .args(["-frames:v", "20", "-c:v", "libx264", "-preset", "ultrafast"])
            .arg(dir.join(name))
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let out = t.path("out");
    let run = |extra: &[&str]| {
        let mut c = common::command();
        c.args([
            "video",
            dir.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ])
        .args(["--jobs", "1", "--threads", "1", "--model"])
        .arg(common::shipped_model())
        .args(extra)
        .stderr(std::process::Stdio::piped());
        c
    };
    let child = run(&[]).spawn().unwrap();
    let partial = out.join("b.partial.csv");
    assert!(rows_appear(&partial), "b.mp4 never started");
    unsafe {
        libc_kill(child.id() as i32, 2);
    }
    let o = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{e}");
    // the finished video is committed; the cut-short one keeps its .partial name
    assert!(out.join("a.csv").is_file(), "{e}");
    assert!(partial.is_file() && !out.join("b.csv").exists(), "{e}");
    assert!(!out.join("c.csv").exists(), "{e}");
    assert!(e.contains("--skip-existing"), "{e}");
    // the summary counts the cut-short video as interrupted, not done, and c as unstarted
    assert!(
        e.contains("1 of 3 videos done, 0 failed, 1 interrupted, 1 not started"),
        "{e}"
    );
    // without the flag the finished output is refused; with it the batch is finished
    let again = run(&[]).output().unwrap();
    assert!(!again.status.success());
    let a_before = std::fs::read(out.join("a.csv")).unwrap();
    let a_time = std::fs::metadata(out.join("a.csv"))
        .unwrap()
        .modified()
        .unwrap();
    let o = run(&["--skip-existing"]).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("already done"), "{e}");
    assert_eq!(std::fs::read(out.join("a.csv")).unwrap(), a_before);
    assert_eq!(
        std::fs::metadata(out.join("a.csv"))
            .unwrap()
            .modified()
            .unwrap(),
        a_time
    );
    for name in ["b.csv", "c.csv"] {
        let rows = facetrack::output::csv_out::read_video_csv(&out.join(name)).unwrap();
        assert!(!rows.is_empty(), "{name}");
    }
    let b_frames = facetrack::output::csv_out::read_video_csv(&out.join("b.csv"))
        .unwrap()
        .last()
        .map(|r| r.frame)
        .unwrap();
    assert!(b_frames > 1300, "b.csv holds {b_frames} frames");
    assert!(!partial.exists(), "the stale partial is replaced");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// `--device cuda` without a usable CUDA execution provider (no onnxruntime-gpu, or no
/// GPU and CUDA libraries): one clear line that says what is needed, for `info` and for
/// `bench` (which used to load the CPU library first and then blame the build).
#[test]
fn cuda_without_a_cuda_runtime_is_a_clear_error() {
    for cmd in [
        &["info", "--device", "cuda"][..],
        &["bench", "--device", "cuda", "--batch", "1", "--iters", "1"],
    ] {
        let o = facetrack(cmd);
        if o.status.success() {
            eprintln!("{cmd:?}: the CUDA execution provider works here");
            continue;
        }
        assert_clean_error(&o, 1, "the CUDA execution provider is not available");
        let e = stderr(&o);
        assert!(
            e.contains("--device cpu") && e.contains("setup.sh --gpu"),
            "{e}"
        );
    }
}
