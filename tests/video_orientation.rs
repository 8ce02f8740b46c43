//! Videos with a display matrix (issue 28, part 1): a phone video stored sideways or upside
//! down with a rotation tag is tracked as players show it, its CSV and annotated video
//! are in the displayed orientation, and `--keep-orientation` keeps the stored frames.
//! The clips are made at test time with ffmpeg from Megamind.avi's first frames,
//! losslessly, so the displayed frames equal the upright clip's pixel for pixel.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ffmpeg, stderr, track_video, TempDir};
use facetrack::capture::source::FrameSource;
use facetrack::capture::video::VideoFile;
use facetrack::core::orientation::OrientationRule;
use facetrack::output::csv_out::{read_video_csv, VideoRow};

const FRAMES: &str = "60";

/// Frame 30 as ffmpeg's command line shows it (it applies the display matrix), gray.
fn shown_frame(video: &Path) -> Vec<u8> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args([
            "-vf",
            "select=eq(n\\,30)",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(o.status.success());
    o.stdout
}

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

/// `src`'s streams copied into `out` with a "rotate" tag of `angle` degrees (written as
/// a display matrix by FFmpeg's MP4 muxer).
fn rotate_tag(src: &Path, angle: u32, out: &Path) {
    let rotate = format!("rotate={angle}");
    let src = src.to_str().unwrap();
    ffmpeg(&["-i", src, "-c", "copy", "-metadata:s:v:0", &rotate], out);
}

/// The upright clip (lossless H.264) and a copy stored turned by `filters` with the
/// rotation tag `angle` that shows it upright again. ffmpeg versions disagree on which way
/// a "rotate" tag turns, so both directions are tried and the one that ffmpeg itself
/// shows upright is kept.
fn tagged(t: &TempDir, up: &Path, angle: u32, filters: &[&str]) -> PathBuf {
    let want = shown_frame(up);
    for (k, f) in filters.iter().enumerate() {
        let stored = t.path(&format!("stored{angle}-{k}.mp4"));
        let up_s = up.to_str().unwrap();
        ffmpeg(
            &["-i", up_s, "-vf", f, "-c:v", "libx264", "-qp", "0"],
            &stored,
        );
        let out = t.path(&format!("rot{angle}-{k}.mp4"));
        rotate_tag(&stored, angle, &out);
        if shown_frame(&out) == want {
            return out;
        }
    }
    panic!("no clip turned by {filters:?} with rotate={angle} shows upright in ffmpeg");
}

fn upright(t: &TempDir) -> Option<PathBuf> {
    let src = megamind()?;
    let up = t.path("up.mp4");
    ffmpeg(
        &[
            "-i",
            src.to_str().unwrap(),
            "-frames:v",
            FRAMES,
            "-c:v",
            "libx264",
            "-qp",
            "0",
            "-pix_fmt",
            "yuv420p",
        ],
        &up,
    );
    Some(up)
}

fn track(video: &Path, csv: &Path, extra: &[&str]) -> (Vec<VideoRow>, String) {
    let o = track_video(video, csv, extra);
    assert!(o.status.success(), "{}", stderr(&o));
    (read_video_csv(csv).unwrap(), stderr(&o))
}

fn found(rows: &[VideoRow]) -> usize {
    let mut frames: Vec<u64> = rows.iter().filter(|r| r.success).map(|r| r.frame).collect();
    frames.dedup();
    frames.len()
}

/// Mean distance (px) between each found face and the nearest face of `reference` in the
/// same frame.
fn mean_gap(rows: &[VideoRow], reference: &[VideoRow]) -> f32 {
    let (mut sum, mut n) = (0.0f32, 0usize);
    for r in rows.iter().filter(|r| r.success) {
        let best = reference
            .iter()
            .filter(|q| q.frame == r.frame && q.success)
            .map(|q| {
                r.points
                    .iter()
                    .zip(&q.points)
                    .map(|(a, b)| ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt())
                    .sum::<f32>()
                    / r.points.len() as f32
            })
            .fold(f32::INFINITY, f32::min);
        sum += best;
        n += 1;
    }
    sum / n.max(1) as f32
}

#[test]
fn a_video_stored_sideways_or_upside_down_is_tracked_as_displayed() {
    let t = TempDir::new("orient");
    let Some(up) = upright(&t) else {
        return;
    };
    let (base, _) = track(&up, &t.path("up.csv"), &[]);
    let frames: usize = FRAMES.parse().unwrap();
    assert!(
        found(&base) * 100 >= frames * 95,
        "upright: {}",
        found(&base)
    );
    let r90 = tagged(&t, &up, 90, &["transpose=clock", "transpose=cclock"]);
    let r180 = tagged(&t, &up, 180, &["hflip,vflip"]);
    for (video, name) in [(&r90, "90"), (&r180, "180")] {
        let csv = t.path(&format!("r{name}.csv"));
        let (rows, err) = track(video, &csv, &[]);
        assert!(
            found(&rows) * 100 >= frames * 95,
            "rotate={name}: face found in {} of {frames} frames\n{err}",
            found(&rows)
        );
        let gap = mean_gap(&rows, &base);
        assert!(gap < 0.5, "rotate={name}: {gap} px from the upright clip");
        assert!(err.contains("displayed orientation 720x528"), "{err}");
        // --keep-orientation: the stored frames, so not the upright points
        let kept = t.path(&format!("k{name}.csv"));
        let (rows, err) = track(video, &kept, &["--keep-orientation"]);
        assert!(err.contains("stored orientation"), "{err}");
        assert!(
            found(&rows) == 0 || mean_gap(&rows, &base) > 5.0,
            "rotate={name} with --keep-orientation gave the displayed points"
        );
    }
    // the annotated video is in the displayed orientation
    let ann = t.path("r90.ann.mp4");
    let o = common::facetrack(&[
        "video",
        r90.to_str().unwrap(),
        "--annotate",
        ann.to_str().unwrap(),
        "--model",
        common::shipped_model().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = VideoFile::open_with(&ann, false, OrientationRule::Keep).unwrap();
    assert_eq!(v.size(), (720, 528));
}

/// Pixels that are not square (HDV 1440x1080 and DV/DVD are stored squeezed and shown
/// wider): the frames are resampled to square pixels, as players show them, so the
/// detector and the model see the face's true shape; `--keep-orientation` keeps the
/// stored pixels (and their shape in the annotated video).
#[test]
fn pixels_that_are_not_square_are_tracked_as_shown() {
    let t = TempDir::new("orient-sar");
    let Some(up) = upright(&t) else {
        return;
    };
    let (base, _) = track(&up, &t.path("up.csv"), &[]);
    // `frames` frames of the upright clip through the filters `vf`, losslessly
    let reshaped = |vf: &str, frames: &str, name: &str| -> PathBuf {
        let out = t.path(name);
        let up_s = up.to_str().unwrap();
        ffmpeg(
            &["-i", up_s, "-frames:v", frames, "-vf", vf, "-c:v", "ffv1"],
            &out,
        );
        out
    };
    // 720x528 squeezed to 540 wide, shown 4:3 wider; and stretched to 960 wide, shown
    // 3:4 narrower: both shown 720x528
    for (scale, sar, name) in [("540:528", "4/3", "wide"), ("960:528", "3/4", "narrow")] {
        let vf = format!("scale={scale},setsar={sar}");
        let video = reshaped(&vf, FRAMES, &format!("{name}.mkv"));
        let (rows, err) = track(&video, &t.path(&format!("{name}.csv")), &[]);
        let shape = sar.replace('/', ":");
        assert!(
            err.contains(&format!(
                "square pixels 720x528: the stored pixels, {shape} as shown"
            )),
            "{err}"
        );
        let frames: usize = FRAMES.parse().unwrap();
        assert!(found(&rows) * 100 >= frames * 95, "{name}: {err}");
        // the points of the upright clip, within what resampling twice moves them
        let gap = mean_gap(&rows, &base);
        assert!(gap < 1.0, "{name}: {gap} px from the square-pixel clip");
        let v = VideoFile::open(&video, false).unwrap();
        assert_eq!(v.size(), (720, 528));
        assert_eq!(FrameSource::pixel_aspect(&v), None);
    }
    // kept: the stored pixels; the points squeezed with them, x in stored pixels
    let wide = t.path("wide.mkv");
    let (kept, err) = track(&wide, &t.path("kept.csv"), &["--keep-orientation"]);
    assert!(
        err.contains("stored pixels kept (--keep-orientation), 4:3 as shown"),
        "{err}"
    );
    let xs = |rows: &[VideoRow]| -> f32 {
        let found: Vec<&VideoRow> = rows.iter().filter(|r| r.success).collect();
        found.iter().map(|r| r.points[30].x).sum::<f32>() / found.len().max(1) as f32
    };
    let ratio = xs(&kept) / xs(&base);
    assert!(
        (ratio - 0.75).abs() < 0.02,
        "nose-tip x kept / square: {ratio}"
    );
    let v = VideoFile::open_with(&wide, false, OrientationRule::Keep).unwrap();
    assert_eq!(v.size(), (540, 528));
    assert_eq!(FrameSource::pixel_aspect(&v), Some((4, 3)));
    // widened past the frame limit (8192): the height shrinks instead
    let broad = reshaped("scale=6600:120,setsar=4/3", "3", "broad.mkv");
    let (_, err) = track(&broad, &t.path("broad.csv"), &[]);
    assert!(err.contains("3 frames (square pixels"), "{err}");
    assert_eq!(VideoFile::open(&broad, false).unwrap().size(), (6600, 90));
    // a shape within 1 % of square (FFmpeg's scaler after a one-pixel cut) is left alone
    // and not mentioned
    let near = reshaped("scale=718:528,setsar=r=360/359:max=1000", "3", "near.mkv");
    let (_, err) = track(&near, &t.path("near.csv"), &[]);
    assert!(!err.contains("pixels"), "{err}");
    assert_eq!(VideoFile::open(&near, false).unwrap().size(), (718, 528));
}

#[test]
fn a_rotation_tag_on_upright_frames_turns_them_unless_kept() {
    let t = TempDir::new("orient-tag");
    let Some(up) = upright(&t) else {
        return;
    };
    let tag = t.path("tag.mp4");
    rotate_tag(&up, 90, &tag);
    let (base, _) = track(&up, &t.path("up.csv"), &[]);
    // kept: the same bitstream as the upright clip, so the same CSV
    let (kept, err) = track(&tag, &t.path("kept.csv"), &["--keep-orientation"]);
    assert!(err.contains("stored orientation 720x528"), "{err}");
    assert_eq!(
        std::fs::read_to_string(t.path("kept.csv")).unwrap(),
        std::fs::read_to_string(t.path("up.csv")).unwrap()
    );
    assert_eq!(kept.len(), base.len());
    // applied: the frames as players show them (sideways here), 528 wide; the sideways
    // face is found by the turned search (tests/turned_faces.rs)
    let (shown, err) = track(&tag, &t.path("shown.csv"), &[]);
    assert!(err.contains("displayed orientation 528x720"), "{err}");
    let frames: usize = FRAMES.parse().unwrap();
    assert!(found(&shown) * 100 >= frames * 85, "{err}");
    let v = VideoFile::open(&tag, false).unwrap();
    assert_eq!(v.size(), (528, 720));
    assert_eq!(FrameSource::size(&v), Some((528, 720)));
}

#[test]
fn a_display_matrix_carried_by_the_frames_is_applied() {
    let t = TempDir::new("orient-sei");
    let Some(up) = upright(&t) else {
        return;
    };
    let (base, _) = track(&up, &t.path("up.csv"), &[]);
    // stored turned, with an H.264 display orientation message and no stream matrix
    let stored = t.path("stored.mp4");
    ffmpeg(
        &[
            "-i",
            up.to_str().unwrap(),
            "-vf",
            "transpose=clock",
            "-c:v",
            "libx264",
            "-qp",
            "0",
        ],
        &stored,
    );
    let sei = t.path("sei.mkv");
    ffmpeg(
        &[
            "-i",
            stored.to_str().unwrap(),
            "-c",
            "copy",
            "-bsf:v",
            "h264_metadata=display_orientation=insert:rotate=90",
        ],
        &sei,
    );
    let (rows, err) = track(&sei, &t.path("sei.csv"), &[]);
    assert!(err.contains("displayed orientation 720x528"), "{err}");
    let frames: usize = FRAMES.parse().unwrap();
    assert!(found(&rows) * 100 >= frames * 95, "{err}");
    let gap = mean_gap(&rows, &base);
    assert!(gap < 0.5, "{gap} px from the upright clip");
    let v = VideoFile::open_with(&sei, false, OrientationRule::Keep).unwrap();
    assert_eq!(v.size(), (528, 720));
}

#[cfg(feature = "window")]
#[test]
fn live_source_files_are_turned_too() {
    use facetrack::pipeline::live::LiveSource;
    let t = TempDir::new("orient-live");
    let Some(up) = upright(&t) else {
        return;
    };
    let r90 = tagged(&t, &up, 90, &["transpose=clock", "transpose=cclock"]);
    let mut shown = LiveSource::File(r90.clone(), OrientationRule::Apply)
        .open()
        .unwrap();
    let mut kept = LiveSource::File(r90, OrientationRule::Keep).open().unwrap();
    assert_eq!(shown.size(), Some((720, 528)));
    assert_eq!(kept.size(), Some((528, 720)));
    let mut reference = VideoFile::open(&up, true).unwrap();
    let (a, b) = (
        shown.next_frame().unwrap().unwrap(),
        reference.next_frame().unwrap().unwrap(),
    );
    assert_eq!(a.gray(), b.gray());
    assert_eq!(a.rgb().map(|v| v.len()), b.rgb().map(|v| v.len()));
    assert_eq!(kept.next_frame().unwrap().unwrap().width(), 528);
}

/// A display matrix that turns by no quarter turn (45°) is said, once, even by a run that
/// reads the video twice (two-sided smoothing with an annotated video), and the frames
/// are tracked as stored.
#[test]
fn a_turn_of_no_quarter_is_said_once() {
    let t = TempDir::new("orient-45");
    let up = t.path("up.mp4");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25:duration=0.4",
            "-c:v",
            "libx264",
        ],
        &up,
    );
    let tag = t.path("tag45.mp4");
    rotate_tag(&up, 45, &tag);
    let ann = t.path("a.mp4");
    let (rows, err) = track(
        &tag,
        &t.path("a.csv"),
        &["--smooth-offline", "--annotate", ann.to_str().unwrap()],
    );
    assert_eq!(err.matches("which is no quarter turn").count(), 1, "{err}");
    // tracked as stored: one row a frame (no face in the test pattern), no turn applied
    assert_eq!(rows.len(), 10, "{err}");
    assert!(!err.contains("displayed orientation"), "{err}");
    let v = VideoFile::open(&tag, false).unwrap();
    assert_eq!(v.size(), (160, 120));
}
