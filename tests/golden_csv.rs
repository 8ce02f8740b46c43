//! The golden CSV: `facetrack video` on Debian's Megamind.avi (installed by ./setup.sh;
//! no ../shared data needed) must give the rows of `tests/golden/megamind_first60.csv`
//! for its first 60 frames: the same faces, ids and success flags, points within a
//! stated tolerance. A change that moves the output on purpose (a new model, a new crop
//! rule) re-blesses the file: `FACETRACK_BLESS=1 cargo test --release --test golden_csv`,
//! and the diff of the golden file is reviewed with the change.

mod common;

use std::path::Path;

use common::{stderr, track_video, TempDir};
use facetrack::output::csv_out::{read_video_csv, VideoRow};

const GOLDEN: &str = "tests/golden/megamind_first60.csv";
const FRAMES: u64 = 60;
/// Largest difference of any coordinate, pixels (ONNX Runtime's kernels may sum in
/// another order on another CPU; tracking feeds a difference forward a little).
const MAX_PX: f32 = 0.5;
/// Mean difference over all coordinates, pixels.
const MEAN_PX: f32 = 0.05;

#[test]
fn megamind_csv_matches_the_golden_file() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi");
    if !input.is_file() {
        if std::env::var_os("CI").is_some() {
            panic!("{} is made by ./setup.sh", input.display());
        }
        eprintln!("skipping: run ./setup.sh for Megamind.avi");
        return;
    }
    let t = TempDir::new("golden");
    let csv = t.path("megamind.csv");
    let o = track_video(&input, &csv, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("FACETRACK_BLESS").is_some() {
        // the header and the rows of the first FRAMES frames, as written
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            let frame: u64 = line.split(',').next().unwrap().parse().unwrap_or(0);
            if i == 0 || frame <= FRAMES {
                out.push_str(line);
                out.push('\n');
            }
        }
        std::fs::write(&golden, out).unwrap();
        eprintln!("blessed {}", golden.display());
        return;
    }
    let got: Vec<VideoRow> = read_video_csv(&csv)
        .unwrap()
        .into_iter()
        .filter(|r| r.frame <= FRAMES)
        .collect();
    let want = read_video_csv(&golden).unwrap();
    assert_eq!(
        text.lines().next(),
        std::fs::read_to_string(&golden).unwrap().lines().next(),
        "the header changed"
    );
    assert_eq!(got.len(), want.len(), "rows in the first {FRAMES} frames");
    let (mut worst, mut sum, mut n) = (0f32, 0f32, 0usize);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (g.frame, g.face_id, g.success),
            (w.frame, w.face_id, w.success),
            "frame {}: another face or outcome",
            w.frame
        );
        assert!(
            (g.timestamp - w.timestamp).abs() < 1e-3,
            "frame {}",
            w.frame
        );
        assert!(
            (g.confidence - w.confidence).abs() < 0.02,
            "frame {} confidence {} vs {}",
            w.frame,
            g.confidence,
            w.confidence
        );
        // the eye and mouth signals follow the points: openness and mouth within a small
        // margin, AU45 on its 0-5 scale, the blink flag the same
        let (gs, ws) = (
            g.all_signals().expect("signal columns"),
            w.all_signals().expect("golden signals"),
        );
        for (k, margin) in [(0, 0.05), (1, 0.05), (3, 0.02), (4, 0.2)] {
            assert!(
                (gs[k] - ws[k]).abs() <= margin,
                "frame {} signal column {k}: {} vs {}",
                w.frame,
                gs[k],
                ws[k]
            );
        }
        assert_eq!(gs[2], ws[2], "frame {}: blink", w.frame);
        for (a, b) in g.points.iter().zip(&w.points) {
            for d in [(a.x - b.x).abs(), (a.y - b.y).abs()] {
                worst = worst.max(d);
                sum += d;
                n += 1;
            }
        }
    }
    let mean = sum / n.max(1) as f32;
    eprintln!(
        "{} rows, coordinates differ by {mean:.4} px on average, {worst:.3} px at most",
        got.len()
    );
    assert!(worst <= MAX_PX, "a coordinate moved {worst} px");
    assert!(mean <= MEAN_PX, "coordinates moved {mean} px on average");
}
