//! `facetrack image` on real photos: one row per face, annotated copies, bad files reported.

mod common;

use common::{facetrack, shipped_model, stderr, TempDir};

#[test]
fn photos_give_one_row_per_face_and_annotated_copies() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("image");
    let dir = data.join("300w/lfpw_train");
    let imgs: Vec<String> = ["image_0001.jpg", "image_0002.jpg", "image_0003.jpg"]
        .iter()
        .map(|n| dir.join(n).display().to_string())
        .collect();
    std::fs::write(t.path("bad.jpg"), b"not a jpeg").unwrap();
    let csv = t.path("faces.csv");
    let ann = t.path("ann");
    let mut args = vec!["image".to_string()];
    args.extend(imgs.iter().cloned());
    args.push(t.path("bad.jpg").display().to_string());
    args.extend(
        [
            "--csv",
            csv.to_str().unwrap(),
            "--annotate",
            ann.to_str().unwrap(),
            "--model",
            shipped_model().to_str().unwrap(),
        ]
        .map(String::from),
    );
    let o = facetrack(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "one bad file of four: {e}");
    assert!(e.contains("bad.jpg"), "{e}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("file,face,confidence,x_0,"));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 3, "{text}");
    for im in &imgs {
        assert!(
            rows.iter().any(|r| r.starts_with(im.as_str())),
            "no face row for {im}"
        );
    }
    // file, face, confidence, the 68 points, the 6 pose columns, the 5 eye and mouth signals
    assert_eq!(rows[0].split(',').count(), 3 + 2 * 68 + 6 + 5);
    for n in ["image_0001.png", "image_0002.png", "image_0003.png"] {
        assert!(image::open(ann.join(n)).is_ok(), "{n}");
    }
}

/// When no image can be read, the user's existing CSV is left as it was (no header-only
/// file replaces it, even with --overwrite), no partial file stays behind, and the error
/// says what is wrong in plain words, without the decoder's internals.
#[test]
fn a_run_where_every_image_fails_leaves_the_existing_csv_alone() {
    let t = TempDir::new("img-all-fail");
    let bad = t.path("broken.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff\xe0 this is not a JPEG").unwrap();
    let csv = t.path("mine.csv");
    std::fs::write(&csv, b"the user's own data\n").unwrap();
    let o = facetrack(&[
        "image",
        bad.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--overwrite",
        "--model",
        shipped_model().to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(std::fs::read(&csv).unwrap(), b"the user's own data\n");
    assert!(!facetrack::output::output_files::partial_path(&csv).exists());
    assert!(e.contains("damaged or cut short"), "{e}");
    assert!(
        !e.contains("Format error") && !e.contains("start bytes"),
        "{e}"
    );
}

/// Ctrl-C stops a folder run after the photo at hand: the CSV holds the photos done and,
/// like a cut-short video's, replaces no file (the old one stays, the summary names the
/// partial file).
#[test]
fn ctrl_c_stops_a_photo_folder_and_replaces_nothing() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("img-sigint");
    let csv = t.path("faces.csv");
    std::fs::write(&csv, b"the user's own data\n").unwrap();
    let child = common::command()
        .args([
            "image",
            data.join("300w/lfpw_train").to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--overwrite",
            "--model",
            shipped_model().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        // a file, not a pipe: the folder's .pts files are each named on stderr, more
        // than a pipe holds unread
        .stderr(std::fs::File::create(t.path("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let partial = facetrack::output::output_files::partial_path(&csv);
    let t0 = std::time::Instant::now();
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 8_000 {
        assert!(t0.elapsed().as_secs() < 120, "no row was written");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    let e = std::fs::read_to_string(t.path("stderr.txt")).unwrap();
    let tail = (e.len().saturating_sub(2000)..e.len())
        .find(|&i| e.is_char_boundary(i))
        .unwrap_or(0);
    let e = &e[tail..];
    assert_eq!(o.status.code(), Some(130), "{e}");
    assert!(e.contains("interrupted after"), "{e}");
    assert!(e.contains("faces.partial.csv"), "{e}");
    assert_eq!(std::fs::read(&csv).unwrap(), b"the user's own data\n");
    let rows = std::fs::read_to_string(&partial).unwrap();
    assert!(rows.starts_with("file,face") && rows.lines().count() > 2);
    // the last row is whole: the photo at hand was finished
    assert!(rows.ends_with('\n'));
}

/// A photo of more faces than `--max-faces`: the rest were left out without a word.
#[test]
fn faces_beyond_max_faces_in_a_photo_are_said() {
    let Some(video) = common::demo_video() else {
        return;
    };
    let t = TempDir::new("image-crowd");
    let photo = t.path("two.png");
    // one frame of the demo video beside its mirror: two faces or more
    let o = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss", "1", "-i"])
        .arg(&video)
        .args([
            "-filter_complex",
            "[0:v]split[a][b];[b]hflip[c];[a][c]hstack",
            "-frames:v",
            "1",
        ])
        .arg(&photo)
        .output()
        .expect("ffmpeg (./setup.sh installs it)");
    assert!(o.status.success(), "{}", stderr(&o));
    let model = shipped_model();
    let run = |max: &str| {
        facetrack(&[
            "image",
            photo.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--max-faces",
            max,
        ])
    };
    let o = run("1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("more faces than --max-faces 1"),
        "{}",
        stderr(&o)
    );
    let rows = String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(rows, 2, "the header and one face");
    let o = run("8");
    assert!(!stderr(&o).contains("more faces than"), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).lines().count() >= 3);
}
