//! Awkward and broken video files: what can be read is read (with skipped packets
//! counted), what cannot gives one clear line. Inputs are made at test time with the
//! `ffmpeg` command-line tool (installed by ./setup.sh).

mod common;

use std::process::{Command, Stdio};

use common::{stderr, track_video, TempDir};
use facetrack::output::csv_out::read_video_csv;

/// Make a test video with ffmpeg's own generators; `None` (skip) without ffmpeg outside CI.
fn make(args: &[&str], out: &std::path::Path) -> Option<()> {
    let o = match Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("ffmpeg is needed in CI (./setup.sh installs it): {e}");
            }
            eprintln!("skipping: no ffmpeg ({e})");
            return None;
        }
    };
    assert!(
        o.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(())
}

/// `make` a video of FFmpeg's generated source `source` (a lavfi graph), encoded with
/// `args`.
fn lavfi(source: &str, args: &[&str], out: &std::path::Path) -> Option<()> {
    let mut all = vec!["-f", "lavfi", "-i", source];
    all.extend_from_slice(args);
    make(&all, out)
}

/// `ffprobe`'s `entries` (e.g. `stream=nb_frames`) of the first video stream of `path`,
/// as CSV (frames and packets counted by reading, for `nb_read_frames` and
/// `nb_read_packets`).
fn video_stream(path: &std::path::Path, entries: &str) -> String {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-count_packets",
            "-select_streams",
            "v:0",
        ])
        .args(["-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe (installed with ffmpeg by ./setup.sh)");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn run_ok(
    input: &std::path::Path,
    t: &TempDir,
) -> (String, Vec<facetrack::output::csv_out::VideoRow>) {
    // one CSV per input: an existing output is refused without --overwrite
    let stem = input.file_stem().unwrap().to_string_lossy();
    let csv = t.path(&format!("{stem}.csv"));
    let o = track_video(input, &csv, &[]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    (e, read_video_csv(&csv).unwrap())
}

#[test]
fn odd_frame_size_and_grayscale_video() {
    let t = TempDir::new("odd");
    let odd = t.path("odd.mkv");
    if lavfi(
        "testsrc=size=321x239:rate=25:duration=1",
        &["-c:v", "ffv1"],
        &odd,
    )
    .is_none()
    {
        return;
    }
    let (_, rows) = run_ok(&odd, &t);
    assert_eq!(rows.len(), 25);
    let gray = t.path("gray.mkv");
    lavfi(
        "testsrc=size=320x240:rate=10:duration=2",
        &["-pix_fmt", "gray", "-c:v", "ffv1"],
        &gray,
    )
    .unwrap();
    let (_, rows) = run_ok(&gray, &t);
    assert_eq!(rows.len(), 20);
}

#[test]
fn huge_frames_are_refused_clearly() {
    let t = TempDir::new("huge");
    let big = t.path("big.mkv");
    if lavfi(
        "color=c=gray:size=9000x64:rate=1:duration=1",
        &["-c:v", "ffv1"],
        &big,
    )
    .is_none()
    {
        return;
    }
    let o = track_video(&big, &t.path("o.csv"), &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("8192 pixel limit"), "{e}");
}

#[test]
fn truncated_mp4_keeps_what_decodes() {
    let t = TempDir::new("trunc");
    let full = t.path("full.mp4");
    if lavfi(
        "testsrc=size=320x240:rate=25:duration=4",
        &[
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ],
        &full,
    )
    .is_none()
    {
        return;
    }
    let bytes = std::fs::read(&full).unwrap();
    let cut = t.path("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let (e, rows) = run_ok(&cut, &t);
    assert!(
        rows.len() > 20 && rows.len() < 100,
        "{} frames from a file cut at 60 %",
        rows.len()
    );
    // said, with how much of it was there; the whole file gets no such note
    let note = format!(
        "the file ends early (cut short?): {} of the 100 frames its index lists",
        rows.len()
    );
    assert!(e.contains(&note), "expected '{note}' in: {e}");
    // every frame FFmpeg itself decodes from the cut file, also those queued in the
    // decoder behind the cut packet
    let probe = video_stream(&cut, "stream=nb_read_frames");
    let decodable: usize = probe.trim().parse().unwrap();
    assert_eq!(rows.len(), decodable, "{e}");
    let (e, rows) = run_ok(&full, &t);
    assert_eq!(rows.len(), 100);
    assert!(!e.contains("ends early"), "{e}");
    // the frames that are there are numbered without gaps
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.frame, i as u64 + 1);
    }
    // a file cut before its first frame cannot be read at all
    let stub = t.path("stub.mp4");
    std::fs::write(&stub, &bytes[..200.min(bytes.len())]).unwrap();
    let o = track_video(&stub, &t.path("o.csv"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn truncated_avi_and_matroska_say_so() {
    // both play up to the cut without a word from FFmpeg: their headers state their size
    let t = TempDir::new("trunc-riff");
    for (name, codec) in [("a.avi", "mjpeg"), ("m.mkv", "ffv1"), ("w.webm", "libvpx")] {
        let full = t.path(name);
        if lavfi(
            "testsrc=size=160x120:rate=25:duration=4",
            &["-c:v", codec, "-pix_fmt", "yuv420p"],
            &full,
        )
        .is_none()
        {
            return;
        }
        let (e, rows) = run_ok(&full, &t);
        assert_eq!(rows.len(), 100, "{name}: {e}");
        assert!(!e.contains("ends early"), "{name}: {e}");
        let bytes = std::fs::read(&full).unwrap();
        let cut = t.path(&format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
        let (e, rows) = run_ok(&cut, &t);
        assert!(
            rows.len() > 20 && rows.len() < 100,
            "{name}: {} frames from a file cut at 60 %",
            rows.len()
        );
        // an AVI's header lists its frames; Matroska's does not
        let note = if name.ends_with(".avi") {
            format!(
                "the file ends early (cut short?): {} of the 100 frames its header lists",
                rows.len()
            )
        } else {
            "the file ends early (cut short?): its last part runs past the end".into()
        };
        assert!(e.contains(&note), "{name}: expected '{note}' in: {e}");
    }
    // an AVI written to a pipe never gets its size (nor its frame count): no note, whole
    // or cut, rather than a made-up count
    let piped = t.path("p.avi");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ffmpeg -v error -f lavfi -i testsrc=size=160x120:rate=25:duration=2 -c:v mjpeg -f avi - > '{}'",
            piped.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (e, rows) = run_ok(&piped, &t);
    assert_eq!(rows.len(), 50, "{e}");
    assert!(!e.contains("ends early"), "{e}");
}

#[test]
fn corrupt_packets_are_skipped_counted_and_the_first_named() {
    // 60 frames of FFV1 with slice checksums; two stretches of the file overwritten
    let t = TempDir::new("corrupt");
    let clean = t.path("clean.mkv");
    if lavfi(
        "testsrc=size=320x240:rate=30:duration=2",
        &["-c:v", "ffv1", "-slicecrc", "1"],
        &clean,
    )
    .is_none()
    {
        return;
    }
    let mut bytes = std::fs::read(&clean).unwrap();
    let n = bytes.len();
    let mut x = 12345u32;
    for off in [n / 3, n / 2] {
        for b in &mut bytes[off..off + 3000] {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
    }
    let bad = t.path("bad.mkv");
    std::fs::write(&bad, &bytes).unwrap();
    let (e, rows) = run_ok(&bad, &t);
    let frames: usize = e
        .split(": ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in {e}"));
    // every decoded frame has its row; the damaged ones are gone, not invented
    assert_eq!(rows.len(), frames, "{e}");
    assert!(
        frames > 20 && frames < 60,
        "{frames} frames of 60 decoded: {e}"
    );
    let skipped: u64 = e
        .find(" corrupt packet")
        .and_then(|i| e[..i].rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no skipped count in {e}"));
    assert!(skipped >= 1, "{e}");
    assert!(e.contains("(first: "), "the first skip is named: {e}");
}

/// An MPEG-4 AVI whose packets are damaged: FFmpeg's decoder drops some frames without
/// an error. They went missing in silence (the frame column numbers the pictures decoded,
/// and the summary said nothing); they are now counted.
#[test]
fn frames_the_decoder_drops_in_silence_are_counted() {
    let Some(video) = common::demo_video() else {
        return;
    };
    let t = TempDir::new("dropped");
    let mut bytes = std::fs::read(&video).unwrap();
    let n = bytes.len();
    let mut x = 1u32;
    let mut next = || {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        (x >> 8) as usize
    };
    // 40 stretches of 200 bytes in the middle of the file
    for _ in 0..40 {
        let off = 20_000 + next() % (n - 40_000);
        for k in 0..200 {
            bytes[off + k] = next() as u8;
        }
    }
    let bad = t.path("damaged.avi");
    std::fs::write(&bad, &bytes).unwrap();
    let (e, rows) = run_ok(&bad, &t);
    let frames = rows
        .iter()
        .map(|r| r.frame)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    // what FFmpeg's own reader gets from the file: packets, and pictures decoded
    let probe = video_stream(&bad, "stream=nb_read_frames,nb_read_packets");
    let counts: Vec<u64> = probe
        .trim()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let (pictures, packets) = (counts[0], counts[1]);
    assert!(pictures < packets, "the damage dropped no frame: {probe}");
    assert_eq!(frames, pictures, "{e}");
    let skipped: u64 = e
        .find(" corrupt packet")
        .and_then(|i| e[..i].rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no skipped count in {e}"));
    assert!(skipped >= packets - pictures, "{e}");
    assert!(
        e.contains("the decoder gave no picture for"),
        "the dropped frames are named: {e}"
    );
}

/// Clean files whose packets give no picture where no frame is missing: an MP4 cut with
/// `-c copy` (the packets before its edit list's start are decoded and dropped) and a VP8
/// WebM with alt-ref frames (pictures never shown). They were reported as corrupt.
#[test]
fn packets_that_give_no_picture_in_clean_files_are_no_damage() {
    let Some(video) = common::demo_video() else {
        return;
    };
    let t = TempDir::new("clean-gaps");
    let cut = t.path("cut.mp4");
    assert!(
        make(
            &[
                "-ss",
                "2.5",
                "-i",
                video.to_str().unwrap(),
                "-t",
                "4",
                "-an",
                "-c:v",
                "copy"
            ],
            &cut
        )
        .is_some(),
        "ffmpeg could not cut the demo video"
    );
    let log = t.path("vp8");
    let webm = t.path("altref.webm");
    for pass in ["1", "2"] {
        let o = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&video)
            .args([
                "-t",
                "3",
                "-an",
                "-c:v",
                "libvpx",
                "-b:v",
                "400k",
                "-auto-alt-ref",
                "1",
            ])
            .args(["-lag-in-frames", "16", "-pass", pass, "-passlogfile"])
            .arg(&log)
            .args(["-f", "webm"])
            .arg(if pass == "1" {
                std::path::Path::new("/dev/null")
            } else {
                webm.as_path()
            })
            .output()
            .expect("ffmpeg (installed by ./setup.sh)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for clip in [&cut, &webm] {
        let probe = video_stream(clip, "stream=nb_read_frames,nb_read_packets");
        let (e, _) = run_ok(clip, &t);
        assert!(!e.contains("corrupt packet"), "{probe}: {e}");
    }
    // the VP8 file has packets without a picture: the case this checks
    let probe = video_stream(&webm, "stream=nb_read_frames,nb_read_packets");
    let n: Vec<u64> = probe
        .trim()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(n[0] < n[1], "no alt-ref packets: {probe}");
}

#[test]
fn the_damaged_megamind_decodes_every_frame_the_clean_one_has() {
    let media = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media");
    let (bugy, good) = (media.join("Megamind_bugy.avi"), media.join("Megamind.avi"));
    if !bugy.exists() || !good.exists() {
        if std::env::var_os("CI").is_some() {
            panic!("{} is missing: ./setup.sh installs it", bugy.display());
        }
        eprintln!("skipping: run ./setup.sh for the Megamind clips");
        return;
    }
    let t = TempDir::new("bugy");
    let (_, bad_rows) = run_ok(&bugy, &t);
    let (_, good_rows) = run_ok(&good, &t);
    let frames = |rows: &[facetrack::output::csv_out::VideoRow]| {
        rows.iter()
            .map(|r| r.frame)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    assert_eq!(frames(&bad_rows), frames(&good_rows));
    assert!(frames(&good_rows) > 200);
}

/// Two MPEG-TS files joined end to end (`cat a.ts b.ts`): the second one's timestamps
/// start again. The timeline goes on one frame after the last instead of crowding the
/// second part's frames a millisecond apart.
#[test]
fn timestamps_that_go_back_continue_the_timeline() {
    let t = TempDir::new("ts-back");
    let part = t.path("part.ts");
    if lavfi(
        "testsrc=size=160x120:rate=25:duration=1",
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        &part,
    )
    .is_none()
    {
        return;
    }
    let bytes = std::fs::read(&part).unwrap();
    let joined = t.path("joined.ts");
    std::fs::write(&joined, [bytes.clone(), bytes].concat()).unwrap();
    let (_, rows) = run_ok(&joined, &t);
    assert_eq!(rows.len(), 50);
    for w in rows.windows(2) {
        let step = w[1].timestamp - w[0].timestamp;
        assert!(
            (0.035..0.045).contains(&step),
            "frames {} and {}: {step:.4} s apart at 25 fps",
            w[0].frame,
            w[1].frame
        );
    }
    // a time repeated now and then (every 10th frame has its predecessor's) moves that
    // frame only: the others keep their place in the file
    let dup = t.path("dup.mkv");
    lavfi(
        "testsrc=size=64x48:rate=25:duration=2",
        &[
            "-vf",
            "setpts='(N-eq(mod(N,10),5))/25/TB'",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "ffv1",
        ],
        &dup,
    );
    let (_, rows) = run_ok(&dup, &t);
    assert_eq!(rows.len(), 50);
    // the file's own times, as FFmpeg reads them
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(&dup)
        .output()
        .unwrap();
    let times: Vec<f64> = String::from_utf8_lossy(&probe.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert_eq!(times.len(), 50);
    assert!(
        times.windows(2).filter(|w| w[1] <= w[0]).count() >= 4,
        "{times:?}"
    );
    for (k, r) in rows.iter().enumerate() {
        // a frame whose time repeats its predecessor's comes just after it
        let due = match k > 0 && times[k] <= times[k - 1] {
            true => rows[k - 1].timestamp + 0.001,
            false => times[k],
        };
        assert!(
            (r.timestamp - due).abs() < 1e-3,
            "frame {} at {:.4} s, due at {due:.4} s",
            r.frame,
            r.timestamp
        );
    }
}

/// A picture that starts 0.5 s after its sound: its frames keep their time in the file,
/// so the points line up with the audio.
#[test]
fn timestamps_count_from_the_files_start_not_the_first_frame() {
    let t = TempDir::new("late");
    let v = t.path("v.mkv");
    if lavfi(
        "testsrc=size=160x120:rate=25:duration=1",
        &["-c:v", "ffv1"],
        &v,
    )
    .is_none()
    {
        return;
    }
    let late = t.path("late.mkv");
    make(
        &[
            "-itsoffset",
            "0.5",
            "-i",
            v.to_str().unwrap(),
            "-f",
            "lavfi",
            "-i",
            "sine=d=2",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            "-c:a",
            "flac",
        ],
        &late,
    );
    let (_, rows) = run_ok(&late, &t);
    assert_eq!(rows.len(), 25);
    assert!(
        (rows[0].timestamp - 0.5).abs() < 1e-3,
        "{}",
        rows[0].timestamp
    );
    assert!(
        (rows[24].timestamp - 1.46).abs() < 1e-3,
        "{}",
        rows[24].timestamp
    );
    // the annotated video (which has no sound) starts at its first frame: no padding
    let avi = t.path("late.avi");
    let o = track_video(
        &late,
        &t.path("l2.csv"),
        &["--annotate", avi.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let probe = video_stream(&avi, "stream=nb_frames");
    assert_eq!(probe.trim(), "25");
}

/// `--annotate x.avi`: AVI has no timestamps of its own, so the file holds one entry a
/// frame at the source's rate (it claimed 1000 frames a second, mostly empty ones).
#[test]
fn an_annotated_avi_holds_its_frames_at_the_sources_rate() {
    let t = TempDir::new("avi-out");
    let src = t.path("src.mkv");
    if lavfi(
        "testsrc=size=160x120:rate=25:duration=1",
        &["-c:v", "ffv1"],
        &src,
    )
    .is_none()
    {
        return;
    }
    let avi = t.path("ann.avi");
    let o = track_video(
        &src,
        &t.path("a.csv"),
        &["--annotate", avi.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let probe = video_stream(&avi, "stream=avg_frame_rate,nb_frames");
    let text = probe;
    assert_eq!(text.trim(), "25/1,25", "avg_frame_rate,nb_frames");
}

/// Names FFmpeg would take for URLs (`a:b.mp4` is the protocol `a`), standard input
/// (`-`) and a FIFO are read as the files and streams they are.
#[test]
fn colon_names_standard_input_and_fifos_are_read() {
    let t = TempDir::new("names");
    let clip = t.path("clip.ts");
    if lavfi(
        "testsrc=size=160x120:rate=25:duration=1",
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        &clip,
    )
    .is_none()
    {
        return;
    }
    std::fs::copy(&clip, t.path("interview-10:30.ts")).unwrap();
    // a file whose name reads as FFmpeg's concat protocol, holding a 1-frame clip
    lavfi(
        "testsrc=size=160x120:rate=25:duration=0.04",
        &["-c:v", "ffv1"],
        &t.path("concat:clip.mkv"),
    );
    let run = |input: &str, stdin: Stdio| {
        common::command()
            .current_dir(&t.0)
            .args(["video", input, "--csv", "-"])
            .args(["--model", common::shipped_model().to_str().unwrap()])
            .stdin(stdin)
            .output()
            .unwrap()
    };
    let frames = |o: &std::process::Output| {
        assert!(o.status.success(), "{}", stderr(o));
        String::from_utf8_lossy(&o.stdout).lines().count() - 1
    };
    assert_eq!(frames(&run("interview-10:30.ts", Stdio::null())), 25);
    assert_eq!(frames(&run("concat:clip.mkv", Stdio::null())), 1);
    let piped = std::fs::File::open(&clip).unwrap();
    assert_eq!(frames(&run("-", Stdio::from(piped))), 25);
    let fifo = t.path("stream.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let bytes = std::fs::read(&clip).unwrap();
    let fifo_w = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(fifo_w, bytes));
    assert_eq!(frames(&run("stream.fifo", Stdio::null())), 25);
    writer.join().unwrap().unwrap();
    // two-sided smoothing with an annotated video reads the video twice: not a stream
    let mut child = common::command()
        .current_dir(&t.0)
        .args(["video", "-", "--csv", "s.csv", "--annotate", "s.mp4"])
        .args(["--smooth-offline"])
        .args(["--model", common::shipped_model().to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // a real pipe (a file handed over as standard input would be a file); the run may
    // refuse before it reads, so a closed pipe is no error here
    let mut stdin = child.stdin.take().unwrap();
    let bytes = std::fs::read(&clip).unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &bytes);
    });
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("needs a file, not a pipe"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path("s.csv").exists() && !t.path("s.mp4").exists());
}

/// Debian's Megamind.avi ends with frames that carry no time of their own: each gets the
/// one after its predecessor's (the last two had the same time).
#[test]
fn frames_without_a_time_get_the_next_one() {
    let Some(video) = common::demo_video() else {
        return;
    };
    let t = TempDir::new("no-pts");
    let (_, rows) = run_ok(&video, &t);
    let mut times: Vec<(u64, f64)> = rows.iter().map(|r| (r.frame, r.timestamp)).collect();
    times.dedup_by_key(|(f, _)| *f);
    for w in times.windows(2) {
        let step = w[1].1 - w[0].1;
        assert!(
            (0.03..0.06).contains(&step),
            "frames {} and {}: {step:.4} s apart",
            w[0].0,
            w[1].0
        );
    }
}

/// Pixels that are not square (DV, DVD: 720x480 shown 4:3): the annotated video plays as
/// its source does: with square pixels at the shown size (the frames tracked), or with
/// `--keep-orientation` in the stored pixels and their shape.
#[test]
fn the_annotated_video_plays_in_a_sources_shape() {
    let t = TempDir::new("sar");
    let src = t.path("anamorphic.mkv");
    if lavfi(
        "testsrc=size=240x240:rate=25:duration=0.4",
        &["-vf", "setsar=4/3", "-c:v", "ffv1"],
        &src,
    )
    .is_none()
    {
        return;
    }
    for (extra, shape) in [
        (None, "320,240,1:1"),
        (Some("--keep-orientation"), "240,240,4:3"),
    ] {
        let ann = t.path("ann.mp4");
        let mut args = vec!["--annotate", ann.to_str().unwrap(), "-y"];
        args.extend(extra);
        let o = track_video(&src, &t.path("a.csv"), &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let probe = video_stream(&ann, "stream=width,height,sample_aspect_ratio");
        let probe = probe.trim().replace("N/A", "1:1").replace(",0:1", ",1:1");
        assert_eq!(probe, shape, "{extra:?}");
    }
}

/// The annotated video carries its source's colour description: an HD video's BT.709
/// tagged as such (untagged, FFmpeg's tools read it as BT.601 and its greens shifted);
/// an RGB source's copy is Y'CbCr by the scaler's BT.601 matrix, and an untagged source
/// gives an untagged copy.
#[test]
fn the_annotated_video_keeps_a_sources_colour_description() {
    let t = TempDir::new("colour");
    // (ffprobe gives them as range, matrix, transfer, primaries)
    let tags = "color_range,color_space,color_transfer,color_primaries";
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "bt709.mp4",
            &[
                "-vf",
                "format=yuv420p",
                "-colorspace",
                "bt709",
                "-color_primaries",
                "bt709",
                "-color_trc",
                "bt709",
                "-color_range",
                "tv",
                "-c:v",
                "libx264",
            ],
            "tv,bt709,bt709,bt709",
        ),
        (
            "rgb.mkv",
            &[
                "-vf",
                "format=gbrp",
                "-colorspace",
                "rgb",
                "-color_primaries",
                "bt709",
                "-color_trc",
                "iec61966-2-1",
                "-c:v",
                "ffv1",
            ],
            "tv,smpte170m,iec61966-2-1,bt709",
        ),
        (
            // an RGB codec that says nothing of its matrix (qtrle)
            "qtrle.mov",
            &["-vf", "format=rgb24", "-c:v", "qtrle"],
            "tv,smpte170m,unknown,unknown",
        ),
        (
            "plain.mp4",
            &["-vf", "format=yuv420p", "-c:v", "libx264"],
            "unknown,unknown,unknown,unknown",
        ),
    ];
    for (name, args, want) in cases {
        let src = t.path(name);
        if lavfi("testsrc=size=320x240:rate=25:duration=0.4", args, &src).is_none() {
            return;
        }
        let ann = t.path(&format!("{name}.ann.mp4"));
        let csv = t.path(&format!("{name}.csv"));
        let o = track_video(&src, &csv, &["--annotate", ann.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let got = video_stream(&ann, &format!("stream={tags}"));
        assert_eq!(got.trim(), want, "{name}");
    }
}

/// A file of several video streams says which one is tracked (nothing else told; a
/// screen recorder's or camera's extra track could hold the face).
#[test]
fn a_file_of_two_video_streams_names_the_one_tracked() {
    let t = TempDir::new("two-streams");
    let (a, b) = (t.path("a.mkv"), t.path("b.mkv"));
    if lavfi(
        "testsrc=size=320x240:rate=25:duration=0.4",
        &["-c:v", "ffv1"],
        &a,
    )
    .is_none()
        || lavfi(
            "testsrc=size=160x120:rate=25:duration=0.4",
            &["-c:v", "ffv1"],
            &b,
        )
        .is_none()
    {
        return;
    }
    let two = t.path("two.mkv");
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    if make(
        &[
            "-i", a_s, "-i", b_s, "-map", "0:v", "-map", "1:v", "-c", "copy",
        ],
        &two,
    )
    .is_none()
    {
        return;
    }
    let o = track_video(&two, &t.path("two.csv"), &[]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains("holds 2 video streams; stream #0 (320x240) is tracked"),
        "{e}"
    );
    let o = track_video(&a, &t.path("a.csv"), &[]);
    assert!(!stderr(&o).contains("video streams"), "{}", stderr(&o));
}

/// A sound file is no video, with or without its artwork: a song's cover picture was
/// tracked as a one-frame video.
#[test]
fn a_sound_file_and_its_cover_picture_are_no_video() {
    let t = TempDir::new("cover");
    let (song, cover) = (t.path("song.mp3"), t.path("cover.jpg"));
    if lavfi(
        "sine=frequency=440:duration=0.5",
        &["-c:a", "libmp3lame"],
        &song,
    )
    .is_none()
        || lavfi("testsrc=size=160x160", &["-frames:v", "1"], &cover).is_none()
    {
        return;
    }
    let with_art = t.path("with_art.mp3");
    let (s, c) = (song.to_str().unwrap(), cover.to_str().unwrap());
    if make(
        &[
            "-i",
            s,
            "-i",
            c,
            "-map",
            "0:a",
            "-map",
            "1:v",
            "-c",
            "copy",
            "-disposition:v",
            "attached_pic",
        ],
        &with_art,
    )
    .is_none()
    {
        return;
    }
    let o = track_video(&song, &t.path("song.csv"), &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("song.mp3: no video stream"), "{e}");
    let o = track_video(&with_art, &t.path("art.csv"), &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("no video stream (only a cover picture"), "{e}");
    assert!(!t.path("art.csv").exists());
}

/// `video -` with a terminal as standard input says so at once (it waited in silence for
/// a video to be typed). The terminal is `script`'s pseudo-terminal.
#[test]
fn standard_input_that_is_a_terminal_is_refused_at_once() {
    let t = TempDir::new("tty-stdin");
    let has_script = Command::new("script").arg("--version").output();
    if !has_script.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no `script` (util-linux) to make a terminal");
        return;
    }
    let csv = t.path("t.csv");
    let line = format!(
        "timeout 60 {} video - --csv {} --model {}",
        env!("CARGO_BIN_EXE_facetrack"),
        csv.display(),
        common::shipped_model().display()
    );
    let o = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("standard input is a terminal"), "{said}");
    assert!(!csv.exists());
}

/// A container start in microseconds (0.066667 s) against a first frame at 6000/90000 s:
/// the first frame is at time 0, written "0.0000", not "-0.0000".
#[test]
fn a_first_frame_at_the_files_start_is_time_zero_not_minus_zero() {
    let t = TempDir::new("minus-zero");
    let clip = t.path("noedit.mp4");
    let made = lavfi(
        "testsrc=size=160x120:rate=30:duration=0.2",
        &["-c:v", "libx264", "-bf", "2", "-use_editlist", "0"],
        &clip,
    );
    if made.is_none() {
        return;
    }
    let start = video_stream(&clip, "stream=start_time");
    if start.trim() != "0.066667" {
        eprintln!("skipped: this FFmpeg's clip starts at {start} (the case needs 0.066667)");
        return;
    }
    let _ = run_ok(&clip, &t);
    let text = std::fs::read_to_string(t.path("noedit.csv")).unwrap();
    let stamps: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(stamps[..2], ["0.0000", "0.0333"], "{text}");
}

#[test]
fn a_frame_size_change_midway_is_said() {
    let t = TempDir::new("size-change");
    let mut parts = Vec::new();
    for (k, size) in ["160x120", "80x60", "160x120"].iter().enumerate() {
        let part = t.path(&format!("p{k}.ts"));
        if lavfi(
            &format!("testsrc=size={size}:rate=25:duration=0.4"),
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
            &part,
        )
        .is_none()
        {
            return;
        }
        parts.push(std::fs::read(&part).unwrap());
    }
    let joined = t.path("joined.ts");
    std::fs::write(&joined, parts.concat()).unwrap();
    let (e, rows) = run_ok(&joined, &t);
    assert_eq!(rows.len(), 30);
    assert!(
        e.contains("the frame size changes mid-way (2 times, first at frame 11: 160x120 to 80x60): each row's points are in its own frame's pixels"),
        "{e}"
    );
    // one size throughout says nothing
    let (e, _) = run_ok(&t.path("p0.ts"), &t);
    assert!(!e.contains("frame size"), "{e}");
}
