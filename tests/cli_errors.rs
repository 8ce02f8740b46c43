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
fn a_bad_file_in_a_batch_does_not_stop_the_others() {
    let t = TempDir::new("batch");
    let dir = t.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.mp4"), b"garbage garbage garbage").unwrap();
    let megamind =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi");
    if !megamind.exists() {
        eprintln!("skipping: run ./setup.sh for the demo video");
        return;
    }
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

#[test]
fn ctrl_c_leaves_a_valid_csv_of_the_frames_done() {
    let megamind =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi");
    if !megamind.exists() {
        eprintln!("skipping: run ./setup.sh for the demo video");
        return;
    }
    let t = TempDir::new("sigint");
    let csv = t.path("o.csv");
    let child = common::command()
        .args([
            "video",
            megamind.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--model",
            common::shipped_model().to_str().unwrap(),
            "--threads",
            "1",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // wait until some rows are written, then interrupt
    for _ in 0..200 {
        if std::fs::read_to_string(&csv)
            .map(|s| s.lines().count() > 20)
            .unwrap_or(false)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    unsafe {
        libc_kill(child.id() as i32, 2);
    }
    let out = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    let rows = facetrack::output::csv_out::read_video_csv(&csv).unwrap();
    if out.status.code() == Some(0) {
        eprintln!("the video finished before the interrupt; nothing to check");
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{e}");
    assert!(e.contains("interrupted"), "{e}");
    let mut frames: Vec<u64> = rows.iter().map(|r| r.frame).collect();
    frames.dedup();
    assert!(!frames.is_empty());
    assert_eq!(
        frames,
        (1..=frames.len() as u64).collect::<Vec<_>>(),
        "frames done are all there, in order"
    );
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
