//! Live mode in a real window under Xvfb: play a rendered clip as a camera, stop after
//! 90 displayed frames, and check the screenshot shows the points where the face is; the
//! file outputs (CSV, annotated video, JSON lines) written by the writer stage, drained at
//! the end of the file, kept partial after a failure, and the JSON lines read while the
//! run goes on.

mod common;

use std::process::{Child, Command, Stdio};

use common::render::{load_face, smooth_motion, write_clip, Pose};
use common::{shipped_model, stderr, TempDir};
use facetrack::core::layout::Region;
use facetrack::Point;

/// A running Xvfb, stopped when dropped; holds the pipe it named its display on, so that
/// the server never writes to a closed pipe.
struct Xvfb(Child, #[allow(dead_code)] std::process::ChildStdout);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start Xvfb on a free display; `None` (skip) when Xvfb is not installed outside CI.
fn xvfb() -> Option<(Xvfb, String)> {
    xvfb_of_depth(24)
}

/// [`xvfb`] with a screen of `depth` bits.
fn xvfb_of_depth(depth: u32) -> Option<(Xvfb, String)> {
    use std::io::BufRead;
    // `-displayfd`: the server takes the first display number free on this machine (its
    // lock files settle races with other test processes and other servers) and writes it
    // on the pipe once it accepts connections
    let mut child = match Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0"])
        .arg(format!("800x600x{depth}"))
        .args(["-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("Xvfb is needed in CI (./setup.sh installs it): {e}");
            }
            eprintln!("skipping: no Xvfb ({e})");
            return None;
        }
    };
    let mut said = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    let _ = said.read_line(&mut line);
    let guard = Xvfb(child, said.into_inner());
    match line.trim().parse::<u32>() {
        Ok(n) => Some((guard, format!(":{n}"))),
        Err(_) => panic!("Xvfb did not start (it named no display: {line:?})"),
    }
}

/// Write FFmpeg's test pattern (`source`, a lavfi graph) to `out` with `extra` options.
fn test_pattern(source: &str, extra: &[&str], out: &std::path::Path) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", source])
        .args(extra)
        .arg(out)
        .output()
        .expect("ffmpeg (installed by ./setup.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Centroid of the screenshot pixels of exactly this colour.
fn centroid_of(img: &image::RgbImage, rgb: [u8; 3]) -> Option<(Point, usize)> {
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
    for (x, y, p) in img.enumerate_pixels() {
        if p.0 == rgb {
            sx += x as f32;
            sy += y as f32;
            n += 1;
        }
    }
    (n > 0).then(|| (Point::new(sx / n as f32, sy / n as f32), n))
}

#[test]
fn live_window_draws_points_on_the_face() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let Some((_x, display)) = xvfb() else { return };
    let t = TempDir::new("live");
    let face = load_face(&data, "300w/lfpw_train", 3);
    // a still face, so the truth is the same whichever frames the window showed
    let pose: Pose = smooth_motion(&face, 1, 80.0, 0.0)[0];
    // 4 s of video, 3 s shown: past the 2 s that a pacing bug once capped
    let poses = vec![Some(pose); 120];
    let video = t.path("still.mp4");
    let truth = write_clip(&face, &poses, &video, None)[0].clone().unwrap();
    let shot = t.path("shot.png");
    let o = common::command()
        .args([
            "live",
            "--source",
            video.to_str().unwrap(),
            "--frames",
            "90",
            "--screenshot",
            shot.to_str().unwrap(),
        ])
        .args([
            "--model",
            shipped_model().to_str().unwrap(),
            "--recordings",
            t.0.to_str().unwrap(),
        ])
        .env("DISPLAY", &display)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("90 displayed"), "{e}");
    // the file is paced at its own 30 fps, as a camera would deliver it: with a model
    // far faster than 33 ms a frame almost nothing is dropped (unpaced, most would be)
    let dropped: f64 = e
        .split("dropped ")
        .nth(1)
        .and_then(|r| r.split('(').nth(1))
        .and_then(|r| r.split('%').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no drop figure in {e}"));
    assert!(
        dropped < 20.0,
        "{dropped}% of the frames dropped: the pacing is off ({e})"
    );
    let img = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(
        (img.width(), img.height()),
        (640, 480),
        "window and frame are both 640x480"
    );
    let iod = truth[36].dist(truth[45]);
    for region in [Region::Eyes, Region::Mouth, Region::Nose] {
        let c = facetrack::output::draw::region_color(region);
        let (got, n) = centroid_of(&img, [c.0, c.1, c.2])
            .unwrap_or_else(|| panic!("no {region:?} points drawn"));
        let pts: Vec<Point> = region.range().map(|i| truth[i]).collect();
        let want = facetrack::core::geometry::centroid(&pts).unwrap();
        eprintln!("{region:?}: drawn at {got:?} ({n} px), truth {want:?}");
        assert!(
            got.dist(want) < 0.15 * iod,
            "{region:?} drawn {} px from the truth",
            got.dist(want)
        );
    }
}

#[test]
fn live_without_display_is_one_clear_error() {
    let o = common::command()
        .args(["live", "--source", "/nonexistent.mp4"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no such file"), "{}", stderr(&o));
    let o = common::command()
        .args(["live", "--model", shipped_model().to_str().unwrap()])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("display") && !e.contains("panicked"), "{e}");
}

#[test]
fn a_timestamp_jump_in_the_source_does_not_hang_live_mode() {
    let Some((_x, display)) = xvfb() else { return };
    let t = TempDir::new("live-jump");
    let video = t.path("jump.mkv");
    // 40 frames at 30 fps; from frame 20 on, timestamps jump an hour ahead
    test_pattern(
        "testsrc=size=320x240:rate=30:duration=1.34",
        &[
            "-vf",
            "setpts=N/(30*TB)+gte(N\\,20)*3600/TB",
            "-c:v",
            "ffv1",
        ],
        &video,
    );
    let mut child = common::command()
        .args([
            "live",
            "--source",
            video.to_str().unwrap(),
            "--frames",
            "30",
        ])
        .args(["--model", shipped_model().to_str().unwrap()])
        .args(["--recordings", t.0.to_str().unwrap()])
        .env("DISPLAY", &display)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // a hang guard, not a speed check: the old pacing slept through the hour
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("live mode slept through the timestamp jump");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
}

#[test]
fn live_writes_its_csv_and_annotated_video_and_never_overwrites_unasked() {
    let Some((_x, display)) = xvfb() else { return };
    let t = TempDir::new("live-sinks");
    let video = t.path("src.mkv");
    test_pattern(
        "testsrc=size=320x240:rate=30:duration=1.5",
        &["-c:v", "ffv1"],
        &video,
    );
    let (csv, ann) = (t.path("live.csv"), t.path("live.mp4"));
    let run = |extra: &[&str]| {
        common::command()
            .args([
                "live",
                "--source",
                video.to_str().unwrap(),
                "--frames",
                "20",
            ])
            .args(["--record", csv.to_str().unwrap()])
            .args(["--annotate", ann.to_str().unwrap()])
            .args(["--model", shipped_model().to_str().unwrap()])
            .args(["--recordings", t.0.to_str().unwrap()])
            .args(extra)
            .env("DISPLAY", &display)
            .output()
            .unwrap()
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // one CSV row per tracked frame up to the 20th shown: 20, and more only where the
    // window skipped a frame to stay current (no face in the test pattern: face id -1)
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows = csv_frames(&text);
    assert!(rows.len() >= 20, "{text}");
    assert!(text.lines().nth(1).unwrap().contains(",-1,"));
    assert!(
        stderr(&o).contains(&format!("{} written", rows.len())),
        "{}",
        stderr(&o)
    );
    // the annotated video holds the displayed frames, at the source's size
    let mut v = facetrack::capture::video::VideoFile::open(&ann, false).unwrap();
    assert_eq!(v.size(), (320, 240));
    let mut n = 0;
    while facetrack::capture::source::FrameSource::next_frame(&mut v)
        .unwrap()
        .is_some()
    {
        n += 1;
    }
    assert_eq!(n, rows.len());
    assert!(!facetrack::output::output_files::partial_path(&csv).exists());
    // a second run without --overwrite stops before anything and keeps the files
    let before = std::fs::read(&csv).unwrap();
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--overwrite"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&csv).unwrap(), before);
    let o = run(&["--overwrite"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The screenshot is an output like the others: never the source, another output or an
/// existing file (without --overwrite), its folder checked and its name a PNG's before the
/// window opens; `--record -` is standard output.
#[test]
fn the_screenshot_is_checked_like_the_other_outputs_and_record_dash_is_stdout() {
    let Some((_x, display)) = xvfb() else { return };
    let t = TempDir::new("live-shot");
    let video = t.path("src.mkv");
    test_pattern(
        "testsrc=size=320x240:rate=30:duration=0.5",
        &["-c:v", "ffv1"],
        &video,
    );
    let source = std::fs::read(&video).unwrap();
    std::fs::write(t.path("keep.png"), b"the user's picture").unwrap();
    let run = |extra: &[&str]| {
        common::command()
            .args(["live", "--source", video.to_str().unwrap(), "--frames", "3"])
            .args(["--model", shipped_model().to_str().unwrap()])
            .args(extra)
            .env("DISPLAY", &display)
            .output()
            .unwrap()
    };
    let (rec, keep) = (t.path("r.csv"), t.path("keep.png"));
    for (extra, needle) in [
        (
            vec!["--screenshot", video.to_str().unwrap()],
            "is the input",
        ),
        (
            vec![
                "--record",
                rec.to_str().unwrap(),
                "--screenshot",
                rec.to_str().unwrap(),
            ],
            "are the same file",
        ),
        (
            vec!["--screenshot", keep.to_str().unwrap()],
            "already exists",
        ),
        (
            vec!["--screenshot", t.path("none/s.png").to_str().unwrap()],
            "the folder does not exist",
        ),
        (
            vec!["--screenshot", t.path("s.jpg").to_str().unwrap()],
            "saved as PNG",
        ),
    ] {
        let o = run(&extra);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{extra:?}: {}", stderr(&o));
    }
    assert_eq!(
        std::fs::read(&video).unwrap(),
        source,
        "the source is untouched"
    );
    assert_eq!(std::fs::read(&keep).unwrap(), b"the user's picture");
    assert!(!rec.exists() && !t.path("s.jpg").exists());
    // with --overwrite the existing picture is replaced by the window's, as a PNG
    let o = run(&["--screenshot", keep.to_str().unwrap(), "--overwrite"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        image::ImageFormat::from_path(&keep).unwrap(),
        image::guess_format(&std::fs::read(&keep).unwrap()).unwrap()
    );
    // --record - writes the CSV to standard output and makes no file named "-"
    let o = common::command()
        .current_dir(&t.0)
        .args(["live", "--source", video.to_str().unwrap(), "--frames", "3"])
        .args([
            "--model",
            shipped_model().to_str().unwrap(),
            "--record",
            "-",
        ])
        .env("DISPLAY", &display)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("frame,face_id"), "{text}");
    assert!(csv_frames(&text).len() >= 3, "{text}");
    assert!(!t.path("-").exists());
}

/// The `frame` column of a live CSV, one entry per row.
fn csv_frames(text: &str) -> Vec<u64> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// Frames in a video file.
fn count_frames(path: &std::path::Path) -> usize {
    let mut v = facetrack::capture::video::VideoFile::open(path, false).unwrap();
    let mut n = 0;
    while facetrack::capture::source::FrameSource::next_frame(&mut v)
        .unwrap()
        .is_some()
    {
        n += 1;
    }
    n
}

/// Wait for `child`, killing it (and failing) after `secs`; its exit status and stderr.
fn wait_guarded(mut child: Child, secs: u64, what: &str) -> (std::process::ExitStatus, String) {
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > std::time::Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("{what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

#[test]
fn a_file_played_to_its_end_drains_every_stage_into_the_outputs() {
    let Some((_x, display)) = xvfb() else { return };
    let t = TempDir::new("live-drain");
    let video = t.path("src.mkv");
    // 45 frames; no --frames: the session ends with the file. Its pixels are not
    // square (shown 4:3 wider than stored): with --keep-orientation the annotated video
    // keeps their shape
    test_pattern(
        "testsrc=size=320x240:rate=30:duration=1.5",
        &["-vf", "setsar=4/3", "-c:v", "ffv1"],
        &video,
    );
    let (csv, ann, jsonl) = (t.path("d.csv"), t.path("d.mp4"), t.path("d.jsonl"));
    let child = common::command()
        .args(["live", "--source", video.to_str().unwrap()])
        .args(["--record", csv.to_str().unwrap()])
        .args(["--annotate", ann.to_str().unwrap()])
        .args(["--jsonl", jsonl.to_str().unwrap()])
        .args(["--model", shipped_model().to_str().unwrap()])
        .args(["--recordings", t.0.to_str().unwrap()])
        .arg("--keep-orientation")
        .env("DISPLAY", &display)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stages that took the end of their input for a timeout would wait forever
    let (status, err) = wait_guarded(child, 120, "live mode did not end with its file");
    assert!(status.success(), "{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let frames = csv_frames(&text);
    // the file's last frame went through every stage into the outputs
    assert_eq!(frames.last(), Some(&45), "{err}");
    assert!(frames.windows(2).all(|w| w[0] < w[1]), "{frames:?}");
    assert!(err.contains(&format!("{} written", frames.len())), "{err}");
    // the summary says in which frame the points are, as video's does
    assert!(
        err.contains("captured (stored pixels kept (--keep-orientation), 4:3 as shown)"),
        "{err}"
    );
    assert_eq!(count_frames(&ann), frames.len());
    let sar = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=sample_aspect_ratio",
            "-of",
            "csv=p=0",
        ])
        .arg(&ann)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&sar.stdout).trim(), "4:3");
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(lines.lines().count(), frames.len());
    for p in [&csv, &ann, &jsonl] {
        assert!(!facetrack::output::output_files::partial_path(p).exists());
    }
}

#[test]
fn a_failure_after_frames_were_shown_exits_non_zero_and_keeps_the_partial_files() {
    let Some((_x, display)) = xvfb() else { return };
    let t = TempDir::new("live-full");
    let mnt = t.path("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    // a full disk part-way: 64 KiB hold about 75 CSV rows of the 180 frames
    let Some(_u) = common::tmpfs(&mnt, "size=64k") else {
        return;
    };
    let video = t.path("src.mkv");
    test_pattern(
        "testsrc=size=320x240:rate=30:duration=6",
        &["-c:v", "ffv1"],
        &video,
    );
    let (csv, ann) = (mnt.join("full.csv"), t.path("full.mp4"));
    let o = common::command()
        .args(["live", "--source", video.to_str().unwrap()])
        .args(["--record", csv.to_str().unwrap()])
        .args(["--annotate", ann.to_str().unwrap()])
        .args(["--model", shipped_model().to_str().unwrap()])
        .args(["--recordings", t.0.to_str().unwrap()])
        .env("DISPLAY", &display)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("live mode stopped after"), "{err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let partial = |p: &std::path::Path| facetrack::output::output_files::partial_path(p);
    assert!(
        err.contains(&partial(&ann).display().to_string()),
        "the kept files are named: {err}"
    );
    // nothing gets a final name; what was written stays under the partial names
    assert!(!csv.exists() && !ann.exists());
    let text = std::fs::read_to_string(partial(&csv)).unwrap();
    assert!(text.starts_with("frame,face_id"), "{text}");
    assert!(csv_frames(&text).len() > 10, "{err}");
    assert!(count_frames(&partial(&ann)) > 10, "{err}");
    // a screenshot the full disk cuts short: named as given, with the hint, and its
    // partial file removed (it stopped the next session as "an earlier run cut short")
    std::fs::remove_file(partial(&csv)).unwrap();
    std::fs::write(mnt.join("filler"), vec![1u8; 60_000]).unwrap();
    let shot = mnt.join("z.png");
    let run = || {
        common::command()
            .args(["live", "--source", video.to_str().unwrap(), "--frames", "5"])
            .args(["--screenshot", shot.to_str().unwrap()])
            .args(["--model", shipped_model().to_str().unwrap()])
            .args(["--recordings", t.0.to_str().unwrap()])
            .env("DISPLAY", &display)
            .output()
            .unwrap()
    };
    let o = run();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{}: No space left", shot.display()))
            && err.contains("(the disk is full)"),
        "{err}"
    );
    assert!(!shot.exists() && !partial(&shot).exists(), "{err}");
    std::fs::remove_file(mnt.join("filler")).unwrap();
    let o = run();
    assert!(o.status.success() && shot.is_file(), "{}", stderr(&o));
}

#[test]
fn live_streams_json_lines_to_stdout_while_it_runs() {
    let megamind =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi");
    if !megamind.exists() {
        if std::env::var_os("CI").is_some() {
            panic!("CI needs the demo video (./setup.sh)");
        }
        eprintln!("skipping: run ./setup.sh for the demo video");
        return;
    }
    let Some((_x, display)) = xvfb() else { return };
    let t = TempDir::new("live-jsonl");
    let csv = t.path("m.csv");
    // 72 frames of a 24 fps clip: three seconds of stream
    let mut child = common::command()
        .args([
            "live",
            "--source",
            megamind.to_str().unwrap(),
            "--frames",
            "72",
        ])
        .args(["--jsonl", "-"])
        .args(["--record", csv.to_str().unwrap()])
        .args(["--model", shipped_model().to_str().unwrap()])
        .args(["--recordings", t.0.to_str().unwrap()])
        .env("DISPLAY", &display)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut running_at_first = None;
    for l in std::io::BufRead::lines(out) {
        let l = l.unwrap();
        if lines.is_empty() {
            running_at_first = Some(child.try_wait().unwrap().is_none());
        }
        lines.push((std::time::Instant::now(), l));
    }
    let (status, err) = wait_guarded(child, 120, "live mode did not stop after 72 frames");
    assert!(status.success(), "{err}");
    // read while the run went on: the first object came while the child was still
    // running, and the objects arrived over the seconds of the stream, not at the end
    assert_eq!(running_at_first, Some(true), "{err}");
    let spread = lines.last().unwrap().0 - lines[0].0;
    assert!(
        spread.as_secs_f64() > 1.0,
        "all lines came within {spread:?}"
    );
    // each object is the CSV's row: the same names, in order, and the same values
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = text.lines();
    let names: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(
        &names[..5],
        ["frame", "face_id", "timestamp", "confidence", "success"]
    );
    assert!(names.contains(&"x_67") && names.contains(&"y_0"));
    let rows: Vec<&str> = rows.collect();
    assert_eq!(lines.len(), rows.len(), "{err}");
    let mut faces = 0;
    for ((_, line), row) in lines.iter().zip(&rows) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), names.len(), "{line}");
        for (name, value) in names.iter().zip(row.split(',')) {
            let got = obj[*name]
                .as_f64()
                .unwrap_or_else(|| panic!("{name} in {line}"));
            assert_eq!(got, value.parse::<f64>().unwrap(), "{name} in {line}");
        }
        if obj["success"] == 1 {
            faces += 1;
        }
    }
    assert!(faces > 30, "only {faces} tracked faces in the stream");
}

/// The X server going away mid-session (an ssh -X or VNC session that drops): one
/// facetrack message that names the partial files, which hold the session so far (the
/// annotated video up to its last fragment).
#[test]
fn a_lost_display_is_named_and_leaves_the_partial_files_readable() {
    let Some((x, display)) = xvfb() else { return };
    let t = TempDir::new("live-lost");
    let video = t.path("src.mkv");
    test_pattern(
        "testsrc=size=320x240:rate=30:duration=20",
        &["-c:v", "ffv1"],
        &video,
    );
    let (csv, mp4) = (t.path("s.csv"), t.path("s.mp4"));
    let child = common::command()
        .args(["live", "--source", video.to_str().unwrap()])
        .args(["--record", csv.to_str().unwrap()])
        .args(["--annotate", mp4.to_str().unwrap()])
        .args(["--model", shipped_model().to_str().unwrap()])
        .env("DISPLAY", &display)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = facetrack::output::output_files::partial_path(&csv);
    let t0 = std::time::Instant::now();
    // 2 s of the clip shown (the MP4 has its first fragments), then the server goes
    while std::fs::read_to_string(&partial).map_or(0, |s| s.lines().count()) < 70 {
        assert!(t0.elapsed().as_secs() < 60, "no rows appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(x);
    let (status, err) = wait_guarded(child, 60, "live mode did not end with its display");
    assert_eq!(status.code(), Some(1), "{err}");
    let video_partial = facetrack::output::output_files::partial_path(&mp4);
    let note = format!(
        " frames shown; what was written is kept in {}, {}",
        partial.display(),
        video_partial.display()
    );
    assert!(err.contains(&note), "expected '{note}' in: {err}");
    // ... after how many frames shown: at least the rows written before the server went
    let lead = "the connection to the display was lost (its X server went away): live mode \
                stopped after ";
    let shown: u64 = err
        .split(lead)
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected '{lead}N' in: {err}"));
    assert!(shown >= 69, "{err}");
    assert!(csv_frames(&std::fs::read_to_string(&partial).unwrap()).len() >= 69);
    assert!(
        count_frames(&video_partial) >= 30,
        "the video's first second plays"
    );
}

/// A display of 16 or 8 bits (an old VNC session): minifb's window crashed the process
/// (a segmentation fault, no message); now one line says why, before any output.
#[test]
fn a_display_of_too_few_colours_is_one_error_not_a_crash() {
    for depth in [16, 8] {
        let Some((_x, display)) = xvfb_of_depth(depth) else {
            return;
        };
        let t = TempDir::new("live-depth");
        let video = t.path("src.mkv");
        test_pattern(
            "testsrc=size=160x120:rate=30:duration=1",
            &["-c:v", "ffv1"],
            &video,
        );
        let csv = t.path("s.csv");
        let o = common::command()
            .args(["live", "--source", video.to_str().unwrap()])
            .args(["--record", csv.to_str().unwrap()])
            .args(["--model", shipped_model().to_str().unwrap()])
            .env("DISPLAY", &display)
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "depth {depth}: {e}");
        assert!(
            e.contains(&format!("the display's colour depth is {depth} bits")),
            "{e}"
        );
        assert!(!csv.exists() && !facetrack::output::output_files::partial_path(&csv).exists());
    }
}

/// `live --source` of a FIFO no program writes to yet: one Ctrl-C ends it, as it ends
/// `video` there (it waited for a second, which then named partial files there were not).
#[test]
fn one_ctrl_c_ends_a_live_source_still_waiting_for_its_writer() {
    let Some((_x, display)) = xvfb() else { return };
    let t = TempDir::new("live-fifo");
    let fifo = t.path("in.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (csv, shot) = (t.path("x.csv"), t.path("x.png"));
    let child = common::command()
        .args(["live", "--source", fifo.to_str().unwrap()])
        .args(["--record", csv.to_str().unwrap()])
        .args(["--screenshot", shot.to_str().unwrap()])
        .args(["--model", shipped_model().to_str().unwrap()])
        .env("DISPLAY", &display)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let (status, err) = wait_guarded(child, 30, "one Ctrl-C did not end it");
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted before any frame was read: nothing was written"),
        "{err}"
    );
    assert!(!csv.exists() && !facetrack::output::output_files::partial_path(&csv).exists());
}

/// Keys tapped between two frames (a quick tap, or a key injector's, pressed and released
/// within a millisecond) are each acted on: the window polled the keys' state once a frame
/// and missed them. Here `c` then `q`, both inside one frame: one screenshot, and the
/// session ends long before the clip does.
#[test]
fn keys_tapped_between_two_frames_are_each_acted_on() {
    if let Err(e) = Command::new("xdotool").arg("version").output() {
        if std::env::var_os("CI").is_some() {
            panic!("xdotool is needed in CI (./setup.sh installs it): {e}");
        }
        eprintln!("skipping: no xdotool ({e})");
        return;
    }
    let Some((_x, display)) = xvfb() else { return };
    let t = TempDir::new("live-keys");
    let video = t.path("src.mp4");
    // 20 s at 30 frames a second
    test_pattern(
        "testsrc2=size=320x240:rate=30:duration=20",
        &["-pix_fmt", "yuv420p"],
        &video,
    );
    let shots = t.path("shots");
    let child = common::command()
        .args(["live", "--source", video.to_str().unwrap()])
        .args(["--recordings", shots.to_str().unwrap()])
        .args(["--model", shipped_model().to_str().unwrap()])
        .env("DISPLAY", &display)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let xdotool = |args: &[&str]| {
        Command::new("timeout")
            .arg("30")
            .arg("xdotool")
            .args(args)
            .env("DISPLAY", &display)
            .output()
            .unwrap()
    };
    // the window, once it is shown
    let found = xdotool(&["search", "--sync", "--onlyvisible", "--name", "facetrack"]);
    let window = String::from_utf8_lossy(&found.stdout)
        .lines()
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no facetrack window: {}", stderr(&found)));
    // the window opens before the first frame is shown, and a `c` before it saves nothing
    std::thread::sleep(std::time::Duration::from_secs(1));
    let tapped = xdotool(&["key", "--window", &window, "--delay", "1", "c", "q"]);
    assert!(tapped.status.success(), "{}", stderr(&tapped));
    let (status, err) = wait_guarded(child, 60, "live mode did not stop at its q key");
    assert!(status.success(), "{err}");
    let saved: Vec<_> = std::fs::read_dir(&shots)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(saved.len(), 1, "{saved:?}\n{err}");
    // stopped by its key, not by the end of the clip's 600 frames
    let shown: usize = err
        .split(" displayed")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no displayed count in {err}"));
    assert!(shown < 300, "{err}");
}
