//! Real-world still inputs (issue 28): phone photos turned by their EXIF orientation, the
//! formats phones and the web use (WebP, TIFF, AVIF, HEIC), folders with other files and
//! subfolders, and photos without a face. Every test file is made here, at test time, from
//! a picture the tests already use (or drawn); nothing derived is committed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{facetrack, ffmpeg, shipped_model, stderr, TempDir};
use image::ImageEncoder;

/// The face photo the other image tests use, when the shared data is there.
fn face_photo() -> Option<image::RgbImage> {
    let data = common::shared_data()?;
    let p = data.join("300w/lfpw_train/image_0001.jpg");
    Some(image::open(&p).expect("shared face photo").to_rgb8())
}

/// A picture with no face: smooth gradients.
fn no_face_picture() -> image::RgbImage {
    image::RgbImage::from_fn(160, 120, |x, y| {
        image::Rgb([(x * 255 / 160) as u8, (y * 255 / 120) as u8, 128])
    })
}

/// A big-endian EXIF (TIFF) block holding only the orientation tag.
fn exif_orientation(tag: u16) -> Vec<u8> {
    let mut b = b"MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    b.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    b.extend(tag.to_be_bytes());
    b.extend([0, 0, 0, 0, 0, 0]);
    b
}

/// Write `img` as a JPEG (quality 95), with an EXIF orientation tag when given.
fn write_jpeg(img: &image::RgbImage, tag: Option<u16>, out: &Path) {
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
    if let Some(t) = tag {
        enc.set_exif_metadata(exif_orientation(t)).unwrap();
    }
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    std::fs::write(out, bytes).unwrap();
}

/// `facetrack image ARGS --model <shipped>`; the exit code, the CSV rows (file → rows of
/// numbers after the file column) and stderr.
struct Run {
    code: Option<i32>,
    rows: Vec<(String, Vec<f64>)>,
    err: String,
}

fn image_run(args: &[&str], csv: &Path) -> Run {
    let model = shipped_model();
    let mut all = vec!["image"];
    all.extend_from_slice(args);
    all.extend([
        "--csv",
        csv.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    let o = facetrack(&all);
    let text = std::fs::read_to_string(csv).unwrap_or_default();
    let rows = text
        .lines()
        .skip(1)
        .map(|l| {
            let (file, rest) = l.split_once(',').unwrap();
            (
                file.to_string(),
                rest.split(',').map(|v| v.parse::<f64>().unwrap()).collect(),
            )
        })
        .collect();
    Run {
        code: o.status.code(),
        rows,
        err: stderr(&o),
    }
}

/// The first row of `file`: (face, the 68 points).
fn first_face(run: &Run, file: &Path) -> (i64, Vec<(f64, f64)>) {
    let name = file.display().to_string();
    let (_, v) = run
        .rows
        .iter()
        .find(|(f, _)| *f == name)
        .unwrap_or_else(|| panic!("no row for {name}: {}", run.err));
    let pts = (0..68).map(|i| (v[2 + i], v[2 + 68 + i])).collect();
    (v[0] as i64, pts)
}

fn mean_distance(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn phone_photos_are_turned_by_their_exif_orientation_unless_kept() {
    let Some(face) = face_photo() else {
        return;
    };
    let t = TempDir::new("exif");
    let upright = t.path("upright.jpg");
    write_jpeg(&face, None, &upright);
    // stored turned, tagged with the turn that shows them upright again
    let turned = [
        (6u16, image::imageops::rotate270(&face), t.path("tag6.jpg")),
        (3, image::imageops::rotate180(&face), t.path("tag3.jpg")),
        (8, image::imageops::rotate90(&face), t.path("tag8.jpg")),
    ];
    for (tag, img, p) in &turned {
        write_jpeg(img, Some(*tag), p);
    }
    let names: Vec<&str> = std::iter::once(&upright)
        .chain(turned.iter().map(|(_, _, p)| p))
        .map(|p| p.to_str().unwrap())
        .collect();
    let shown = image_run(&names, &t.path("shown.csv"));
    assert_eq!(shown.code, Some(0), "{}", shown.err);
    let (k, want) = first_face(&shown, &upright);
    assert_eq!(k, 0, "the upright photo has a face");
    for (tag, _, p) in &turned {
        let (k, got) = first_face(&shown, p);
        assert_eq!(k, 0, "orientation {tag}: no face: {}", shown.err);
        let d = mean_distance(&got, &want);
        assert!(
            d < 2.0,
            "orientation {tag}: points {d:.2} px from the upright photo's (displayed coordinates)"
        );
    }
    // --keep-orientation: the stored pixels, where the face lies turned; the turned
    // search finds it, and its points are the upright ones turned with the pixels
    let mut kept_args = names.clone();
    kept_args.push("--keep-orientation");
    let kept = image_run(&kept_args, &t.path("kept.csv"));
    assert_eq!(kept.code, Some(0), "{}", kept.err);
    let (w, h) = (face.width() as f64, face.height() as f64);
    for (tag, _, p) in &turned {
        let (k, got) = first_face(&kept, p);
        assert_eq!(
            k, 0,
            "orientation {tag} kept: the turned face not found: {}",
            kept.err
        );
        // pixel centres: (x, y) of the upright photo lands here in the stored one
        let stored: Vec<(f64, f64)> = want
            .iter()
            .map(|&(x, y)| match tag {
                6 => (y, w - x),
                3 => (w - x, h - y),
                _ => (h - y, x),
            })
            .collect();
        let d = mean_distance(&got, &stored);
        assert!(
            d < 3.0,
            "orientation {tag} kept: points {d:.2} px from the upright ones turned with the pixels"
        );
    }
}

/// Convert `src` with ImageMagick (installed by ./setup.sh) into `out`.
fn convert(src: &Path, out: &Path) {
    let o = Command::new("convert")
        .arg(src)
        .arg(out)
        .output()
        .expect("ImageMagick's convert (installed by ./setup.sh)");
    assert!(
        o.status.success() && out.is_file(),
        "convert {}: {}",
        out.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn webp_tiff_avif_and_heic_photos_are_read() {
    let t = TempDir::new("formats");
    let face = face_photo();
    let picture = face.clone().unwrap_or_else(no_face_picture);
    let png = t.path("photo.png");
    picture.save(&png).unwrap();
    let made: Vec<PathBuf> = ["webp", "tif", "avif", "heic"]
        .iter()
        .map(|e| {
            let p = t.path(&format!("photo-{e}.{e}"));
            convert(&png, &p);
            p
        })
        .collect();
    let mut args = vec![png.to_str().unwrap()];
    args.extend(made.iter().map(|p| p.to_str().unwrap()));
    let run = image_run(&args, &t.path("faces.csv"));
    assert_eq!(run.code, Some(0), "every format is read: {}", run.err);
    assert!(!run.err.contains("not recognized"), "{}", run.err);
    let (k, want) = first_face(&run, &png);
    for p in &made {
        let (kp, got) = first_face(&run, p);
        if face.is_some() {
            assert_eq!((k, kp), (0, 0), "{}: {}", p.display(), run.err);
            // lossy formats move the points a little, never off the face
            let d = mean_distance(&got, &want);
            assert!(d < 3.0, "{}: {d:.2} px from the PNG's points", p.display());
        } else {
            assert_eq!(kp, -1, "{}", p.display());
        }
    }
}

/// A TIFF whose pictures are Y'CbCr (FFmpeg and scanners write them; the image crate
/// does not decode them) is read through FFmpeg's TIFF decoder: it was refused as "a kind
/// of TIFF this build cannot decode".
#[test]
fn a_ycbcr_tiff_is_read_through_ffmpeg() {
    let t = TempDir::new("tiff-ycbcr");
    let face = face_photo();
    let picture = face.clone().unwrap_or_else(no_face_picture);
    let png = t.path("photo.png");
    picture.save(&png).unwrap();
    let tif = t.path("photo.tif");
    ffmpeg(&["-i", png.to_str().unwrap(), "-pix_fmt", "yuv420p"], &tif);
    let run = image_run(
        &[png.to_str().unwrap(), tif.to_str().unwrap()],
        &t.path("faces.csv"),
    );
    assert_eq!(run.code, Some(0), "{}", run.err);
    let (k, want) = first_face(&run, &png);
    let (kt, got) = first_face(&run, &tif);
    if face.is_some() {
        assert_eq!((k, kt), (0, 0), "{}", run.err);
        // 4:2:0 chroma moves the gray picture by little
        let d = mean_distance(&got, &want);
        assert!(d < 2.0, "{d:.2} px from the PNG's points");
    } else {
        assert_eq!(kt, -1, "{}", run.err);
    }
    // on a pipe FFmpeg cannot read it by name: said so, not "a kind of TIFF this build
    // cannot decode"
    let mut child = common::command()
        .args(["image", "-", "--csv", t.path("pipe.csv").to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        &std::fs::read(&tif).unwrap(),
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("TIFF photo is read from a file, not a pipe"),
        "{e}"
    );
}

/// An AVIF photo (read through FFmpeg as a one-frame video) may be as large as other
/// photos: a 9000-pixel-wide one was refused with video's 8192-pixel frame limit.
#[test]
fn an_avif_photo_wider_than_a_video_frame_is_read() {
    let t = TempDir::new("wide-avif");
    let p = t.path("wide.avif");
    let o = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=gray:size=9000x64",
        ])
        .args(["-frames:v", "1", "-c:v", "libaom-av1", "-cpu-used", "8"])
        .args(["-still-picture", "1"])
        .arg(&p)
        .output()
        .expect("ffmpeg (installed by ./setup.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = image_run(&[p.to_str().unwrap()], &t.path("rows.csv"));
    assert_eq!(run.code, Some(0), "{}", run.err);
    assert!(run.err.contains("no face found"), "{}", run.err);
    assert_eq!(run.rows.len(), 1, "{:?}", run.rows);
}

#[test]
fn a_file_that_is_no_photo_gets_a_sentence_not_the_image_crates_message() {
    let t = TempDir::new("notphoto");
    let p = t.path("IMG_0003.heic");
    std::fs::write(&p, b"these bytes are no photo").unwrap();
    let run = image_run(&[p.to_str().unwrap()], &t.path("x.csv"));
    assert_eq!(run.code, Some(1), "{}", run.err);
    assert!(
        run.err
            .contains("IMG_0003.heic: not a photo facetrack reads"),
        "{}",
        run.err
    );
    assert!(!run.err.contains("was not recognized"), "{}", run.err);
}

#[test]
fn a_photo_without_a_face_gets_a_marked_row() {
    let t = TempDir::new("noface");
    let p = t.path("wall.png");
    no_face_picture().save(&p).unwrap();
    let run = image_run(&[p.to_str().unwrap()], &t.path("rows.csv"));
    assert_eq!(run.code, Some(0), "{}", run.err);
    assert_eq!(run.rows.len(), 1, "one row for the photo: {:?}", run.rows);
    let (file, v) = &run.rows[0];
    assert_eq!(file, p.to_str().unwrap());
    assert_eq!(v[0], -1.0, "face = -1");
    assert!(v[1..].iter().all(|&x| x == 0.0), "confidence and points 0");
    assert_eq!(
        v.len(),
        2 + 2 * 68 + 6 + 5,
        "the same columns as a face row"
    );
    assert!(run.err.contains("no face found"), "{}", run.err);
}

#[test]
fn image_folders_name_what_they_skip_and_recurse_without_collisions() {
    let t = TempDir::new("imgfolder");
    let dir = t.path("photos");
    std::fs::create_dir_all(dir.join("2024/trip")).unwrap();
    for p in ["a.png", "2024/a.png", "2024/trip/b.png"] {
        no_face_picture().save(dir.join(p)).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), b"x").unwrap();
    std::fs::write(dir.join("2024/clip.mov.part"), b"x").unwrap();
    let ann = t.path("ann");
    let d = dir.to_str().unwrap();
    let a = ann.to_str().unwrap();

    let flat = image_run(&[d, "--annotate", a], &t.path("flat.csv"));
    assert_eq!(flat.code, Some(0), "{}", flat.err);
    let skipped: Vec<&str> = flat
        .err
        .lines()
        .filter(|l| l.starts_with("skipped "))
        .collect();
    assert_eq!(skipped.len(), 2, "{}", flat.err);
    assert!(
        skipped[0].contains("2024") && skipped[0].contains("--recursive"),
        "{}",
        flat.err
    );
    assert!(
        skipped[1].contains("notes.txt") && skipped[1].contains(".txt"),
        "{}",
        flat.err
    );
    assert!(
        flat.err.contains("2 folder entries skipped"),
        "{}",
        flat.err
    );
    assert_eq!(flat.rows.len(), 1);
    assert!(ann.join("a.png").is_file());

    let deep = image_run(&[d, "--annotate", a, "-r", "-y"], &t.path("deep.csv"));
    assert_eq!(deep.code, Some(0), "{}", deep.err);
    assert_eq!(deep.rows.len(), 3, "{:?}", deep.rows);
    assert!(deep.err.contains("clip.mov.part"), "{}", deep.err);
    assert!(
        deep.err.contains("2 folder entries skipped"),
        "{}",
        deep.err
    );
    // two a.png in different folders: two annotated copies, the layout mirrored
    for p in ["a.png", "2024/a.png", "2024/trip/b.png"] {
        assert!(image::open(ann.join(p)).is_ok(), "{p}");
    }
}

#[test]
fn video_folders_take_gifs_name_what_they_skip_and_recurse_without_collisions() {
    let t = TempDir::new("vidfolder");
    let dir = t.path("clips");
    std::fs::create_dir_all(dir.join("day2")).unwrap();
    let src = [
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=96x64:rate=10",
        "-frames:v",
        "4",
    ];
    ffmpeg(&src, &dir.join("clip.gif"));
    let mut mp4 = src.to_vec();
    mp4.extend(["-c:v", "mpeg4"]);
    ffmpeg(&mp4, &dir.join("day2/clip.mp4"));
    std::fs::write(dir.join("list.txt"), b"x").unwrap();
    let out = t.path("out");
    let model = shipped_model();
    let base = [
        "video",
        dir.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ];
    let o = facetrack(&base);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(e.contains("list.txt") && e.contains("day2"), "{e}");
    assert!(e.contains("2 folder entries skipped"), "{e}");
    let rows = std::fs::read_to_string(out.join("clip.csv")).unwrap();
    assert_eq!(rows.lines().count(), 1 + 4, "the GIF's 4 frames: {rows}");

    let mut deep = base.to_vec();
    deep.extend(["--recursive", "--overwrite"]);
    let o = facetrack(&deep);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(e.contains("2 of 2 videos done"), "{e}");
    assert!(e.contains("1 folder entry skipped"), "{e}");
    // clip.gif and day2/clip.mp4: two CSVs, the subfolder mirrored
    assert!(out.join("clip.csv").is_file());
    assert_eq!(
        std::fs::read_to_string(out.join("day2/clip.csv"))
            .unwrap()
            .lines()
            .count(),
        1 + 4
    );
}

/// A photo is opened and read once: from a pipe (`/dev/stdin`) or a FIFO it gives the
/// file's points (it was read twice, and a FIFO's second open waited for ever); a HEIC on
/// a pipe, which libheif reads from a path, gets a sentence; a device that never ends is
/// refused at the size limit.
#[test]
fn a_photo_from_a_pipe_or_a_fifo_is_read_once() {
    use std::io::Write;
    use std::process::Stdio;
    let t = TempDir::new("pipe");
    let jpg = t.path("photo.jpg");
    write_jpeg(&face_photo().unwrap_or_else(no_face_picture), None, &jpg);
    let bytes = std::fs::read(&jpg).unwrap();
    let model = shipped_model();
    let run_on = |input: &str, csv: &Path, feed: Option<&[u8]>| {
        let mut child = common::command()
            .args(["image", input, "--csv", csv.to_str().unwrap()])
            .args(["--model", model.to_str().unwrap()])
            .stdin(if feed.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(b) = feed {
            child.stdin.take().unwrap().write_all(b).unwrap();
        }
        // a run that waits (a FIFO opened twice) fails the test instead of hanging it
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("facetrack image {input} did not end within 120 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let o = child.wait_with_output().unwrap();
        (o.status.code(), stderr(&o))
    };
    let points = |csv: &Path| -> Vec<String> {
        std::fs::read_to_string(csv)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap().1.to_string())
            .collect()
    };
    let (code, err) = run_on(jpg.to_str().unwrap(), &t.path("file.csv"), None);
    assert_eq!(code, Some(0), "{err}");
    let want = points(&t.path("file.csv"));
    let (code, err) = run_on("/dev/stdin", &t.path("pipe.csv"), Some(&bytes));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(points(&t.path("pipe.csv")), want);
    // a FIFO whose writer is gone once the photo is written
    let fifo = t.path("photo.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let writer = {
            let (fifo, bytes) = (fifo.clone(), bytes.clone());
            std::thread::spawn(move || std::fs::write(fifo, bytes))
        };
        let (code, err) = run_on(fifo.to_str().unwrap(), &t.path("fifo.csv"), None);
        if !writer.is_finished() {
            // the run never opened the FIFO: a reader's open (O_NONBLOCK: it never
            // waits) lets the writer end
            use std::os::unix::fs::OpenOptionsExt;
            let _ = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(0o4000)
                .open(&fifo);
        }
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(points(&t.path("fifo.csv")), want);
        let _ = writer.join();
    }
    // an ISO-BMFF header with a HEIF brand, on a pipe
    let mut heic = 24u32.to_be_bytes().to_vec();
    heic.extend(b"ftypheic\0\0\0\0mif1heic");
    heic.extend([0u8; 64]);
    let (code, err) = run_on("/dev/stdin", &t.path("heic.csv"), Some(&heic));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("a HEIF/HEIC photo is read from a file, not a pipe"),
        "{err}"
    );
    let (code, err) = run_on("/dev/zero", &t.path("zero.csv"), None);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("/dev/zero: more than 1024 MB came from it"),
        "{err}"
    );
    // `-` is standard input too
    let (code, err) = run_on("-", &t.path("dash.csv"), Some(&bytes));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(points(&t.path("dash.csv")), want);
}

/// A photo whose file name is not UTF-8: tracked, and the CSV's lossy name said to be so.
#[test]
fn a_photo_name_that_is_not_utf8_is_tracked_and_said_to_be_lossy_in_the_csv() {
    use std::os::unix::ffi::OsStrExt;
    let t = TempDir::new("latin1-name");
    let dir = t.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    let photo = dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
    no_face_picture()
        .save_with_format(&photo, image::ImageFormat::Png)
        .unwrap();
    let csv = t.path("faces.csv");
    let o = common::command()
        .arg("image")
        .arg(&dir)
        .arg("--csv")
        .arg(&csv)
        .arg("--model")
        .arg(shipped_model())
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(e.contains("the file name is not UTF-8"), "{e}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains("caf\u{FFFD}.png"), "{text}");
}
