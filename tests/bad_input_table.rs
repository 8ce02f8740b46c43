//! Every kind of bad input from one table: each gives a clear one-line error or
//! best-effort output, never a panic, and no existing file is changed. Inputs are made
//! at test time (ffmpeg's generators and plain bytes).

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::{ffmpeg, shipped_model, tmpfs, TempDir};

/// What a case must give.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Exit 0 with a CSV.
    Output,
    /// Exit 1 with one error line containing the text.
    Error(&'static str),
}

struct Case {
    name: &'static str,
    input: PathBuf,
    csv: PathBuf,
    want: Want,
}

fn run(case: &Case) {
    let model = shipped_model();
    let o = common::command()
        .arg("video")
        .arg(&case.input)
        .arg("--csv")
        .arg(&case.csv)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{}: {err}", case.name);
    match case.want {
        Want::Output => {
            assert_eq!(o.status.code(), Some(0), "{}: {err}", case.name);
            assert!(case.csv.is_file(), "{}: no CSV", case.name);
        }
        Want::Error(text) => {
            assert_eq!(o.status.code(), Some(1), "{}: {err}", case.name);
            let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
            assert_eq!(lines.len(), 1, "{}: {err}", case.name);
            assert!(lines[0].contains(text), "{}: {err}", case.name);
        }
    }
}

#[test]
fn bad_inputs_and_outputs_from_one_table() {
    let t = TempDir::new("bad-table");
    let p = |n: &str| t.path(n);
    std::fs::write(p("empty.mp4"), b"").unwrap();
    std::fs::write(p("text.mp4"), b"just some text, named like a video\n").unwrap();
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(p("random.mp4"), &noise).unwrap();
    // index first (faststart): a truncated copy still has it and plays up to the cut;
    // index last (the default): a truncated copy has none and cannot be read
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-movflags",
            "+faststart",
        ],
        &p("good.mp4"),
    );
    let good = std::fs::read(p("good.mp4")).unwrap();
    std::fs::write(p("truncated.mp4"), &good[..good.len() * 2 / 3]).unwrap();
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=2",
            "-c:v",
            "libx264",
        ],
        &p("tail.mp4"),
    );
    let tail = std::fs::read(p("tail.mp4")).unwrap();
    std::fs::write(p("no-index.mp4"), &tail[..tail.len() * 2 / 3]).unwrap();
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=2x2:r=5:d=1",
            "-vf",
            "scale=1:1",
            "-c:v",
            "ffv1",
        ],
        &p("one.mkv"),
    );
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:d=1",
            "-frames:v",
            "0",
            "-c:v",
            "ffv1",
        ],
        &p("zero.mkv"),
    );
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=9000x200:rate=5:duration=0.4",
            "-c:v",
            "ffv1",
        ],
        &p("wide.mkv"),
    );
    std::fs::create_dir_all(p("folder.mp4")).unwrap();
    let bad_name = t.0.join(OsStr::from_bytes(b"bad-\xff-name.mkv"));
    std::fs::copy(p("one.mkv"), &bad_name).unwrap();
    let bugy = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind_bugy.avi");
    let mut cases = vec![
        Case {
            name: "missing",
            input: p("nope.mp4"),
            csv: p("c1.csv"),
            want: Want::Error("no such file"),
        },
        Case {
            name: "empty",
            input: p("empty.mp4"),
            csv: p("c2.csv"),
            want: Want::Error("empty"),
        },
        Case {
            name: "folder",
            input: p("folder.mp4"),
            csv: p("c3.csv"),
            want: Want::Error("no video files"),
        },
        Case {
            name: "random bytes",
            input: p("random.mp4"),
            csv: p("c4.csv"),
            want: Want::Error("not a video"),
        },
        Case {
            name: "text as .mp4",
            input: p("text.mp4"),
            csv: p("c5.csv"),
            want: Want::Error("not a video"),
        },
        Case {
            name: "truncated",
            input: p("truncated.mp4"),
            csv: p("c6.csv"),
            want: Want::Output,
        },
        Case {
            name: "truncated, no index",
            input: p("no-index.mp4"),
            csv: p("c12.csv"),
            want: Want::Error("the file ends early (truncated?)"),
        },
        Case {
            name: "zero frames",
            input: p("zero.mkv"),
            csv: p("c7.csv"),
            want: Want::Error("zero.mkv"),
        },
        Case {
            name: "1x1",
            input: p("one.mkv"),
            csv: p("c8.csv"),
            want: Want::Output,
        },
        Case {
            name: "9000 px",
            input: p("wide.mkv"),
            csv: p("c9.csv"),
            want: Want::Error("8192 pixel limit"),
        },
        Case {
            name: "not UTF-8",
            input: bad_name.clone(),
            csv: p("c10.csv"),
            want: Want::Error("UTF-8"),
        },
        Case {
            name: "output is the input",
            input: p("good.mp4"),
            csv: p("good.mp4"),
            want: Want::Error("is the input"),
        },
        Case {
            name: "missing output folder",
            input: p("good.mp4"),
            csv: p("none/c.csv"),
            want: Want::Error("folder does not exist"),
        },
    ];
    if bugy.is_file() {
        cases.push(Case {
            name: "corrupt AVI",
            input: bugy,
            csv: p("c11.csv"),
            want: Want::Output,
        });
    } else if std::env::var_os("CI").is_some() {
        panic!("{} is made by ./setup.sh", bugy.display());
    }
    // every existing file, before
    let before: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&t.0)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    for c in &cases {
        run(c);
    }
    for (path, bytes) in &before {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
    // failed runs leave no output behind
    for c in cases.iter().filter(|c| matches!(c.want, Want::Error(_))) {
        if c.csv != c.input {
            assert!(!c.csv.exists(), "{}: an output was left", c.name);
        }
    }
}

/// `facetrack video` on `seconds` of FFmpeg's test pattern (160x120, lossless), writing
/// `csv`: its output and its standard error.
fn track_test_pattern(t: &TempDir, seconds: u32, csv: &Path) -> (std::process::Output, String) {
    let input = t.path("pattern.mkv");
    let src = format!("testsrc=size=160x120:rate=30:duration={seconds}");
    ffmpeg(&["-f", "lavfi", "-i", &src, "-c:v", "ffv1"], &input);
    let o = common::command()
        .arg("video")
        .arg(&input)
        .arg("--csv")
        .arg(csv)
        .arg("--model")
        .arg(shipped_model())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    (o, err)
}

/// A full disk: a 64 KiB tmpfs (needs root to mount; skipped with a message otherwise).
#[test]
fn a_full_disk_is_one_error_and_keeps_what_was_written() {
    let t = TempDir::new("full-disk");
    let mnt = t.path("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let Some(_u) = tmpfs(&mnt, "size=64k") else {
        return;
    };
    let csv = mnt.join("out.csv");
    let (o, err) = track_test_pattern(&t, 20, &csv);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(err.contains("(the disk is full)"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let partial = facetrack::output::output_files::partial_path(&csv);
    // the message says where the rows went
    let kept = format!(
        "what was written before the failure is kept in {}",
        partial.display()
    );
    assert!(err.contains(&kept), "expected '{kept}' in: {err}");
    let text = std::fs::read_to_string(&partial).unwrap();
    assert!(
        text.starts_with("frame,face_id"),
        "the rows written so far are kept"
    );
    // the annotated video fills the disk: named as given, with the hint, and both
    // partial files said to be kept
    std::fs::remove_file(&partial).unwrap();
    let (csv, video) = (t.path("beside.csv"), mnt.join("a.mp4"));
    let input = t.path("pattern.mkv");
    let o = common::command()
        .arg("video")
        .arg(&input)
        .arg("--csv")
        .arg(&csv)
        .arg("--annotate")
        .arg(&video)
        .arg("--model")
        .arg(shipped_model())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let (p_csv, p_video) = (
        facetrack::output::output_files::partial_path(&csv),
        facetrack::output::output_files::partial_path(&video),
    );
    let want = format!(
        "annotated video {}: writing: No space left on device (the disk is full); what was \
         written before the failure is kept in {} and {}",
        video.display(),
        p_csv.display(),
        p_video.display()
    );
    assert!(err.contains(&want), "expected '{want}' in: {err}");
    assert!(p_video.is_file() && p_csv.is_file(), "{err}");
}

/// A folder that cannot be written: a read-only tmpfs (as root a chmod'ed folder is still
/// writable; needs root to mount, skipped with a message otherwise). The error names the
/// output the user gave, not its `.partial` twin, and says what to do.
#[test]
fn an_unwritable_output_folder_names_the_users_output() {
    let t = TempDir::new("ro-folder");
    let mnt = t.path("ro");
    std::fs::create_dir_all(&mnt).unwrap();
    let Some(_u) = tmpfs(&mnt, "size=64k,ro") else {
        return;
    };
    let csv = mnt.join("out.csv");
    let (o, err) = track_test_pattern(&t, 1, &csv);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot write {}", csv.display())),
        "{err}"
    );
    assert!(!err.contains("partial"), "{err}");
    assert!(err.contains("read-only"), "{err}");
    // the same for a photo's CSV and annotated PNGs, and a folder run's --out-dir
    let photo = t.path("gray.png");
    image::GrayImage::from_pixel(64, 48, image::Luma([128]))
        .save(&photo)
        .unwrap();
    let video = t.path("pattern.mkv");
    let (i_csv, ann, out) = (mnt.join("i.csv"), mnt.join("ann"), mnt.join("out"));
    let os = |s: &'static str| OsStr::new(s);
    let runs: [(Vec<&OsStr>, String); 3] = [
        (
            vec![
                os("image"),
                photo.as_os_str(),
                os("--csv"),
                i_csv.as_os_str(),
            ],
            format!("cannot write {}", i_csv.display()),
        ),
        (
            vec![
                os("image"),
                photo.as_os_str(),
                os("--annotate"),
                ann.as_os_str(),
            ],
            format!("cannot make the folder {}", ann.display()),
        ),
        (
            vec![
                os("video"),
                video.as_os_str(),
                os("--out-dir"),
                out.as_os_str(),
            ],
            format!("cannot make the folder {}", out.display()),
        ),
    ];
    for (args, want) in runs {
        let o = common::command()
            .args(&args)
            .arg("--model")
            .arg(shipped_model())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(&want), "expected '{want}' in: {err}");
        assert!(
            !err.contains("partial") && err.contains("(the disk is read-only"),
            "{err}"
        );
    }
}
