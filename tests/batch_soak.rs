//! A soak of the batch mode: a folder of 40 short clips of real faces, a quarter of them
//! corrupt, through `--out-dir --jobs 2`. Every good clip's CSV is complete and identical
//! to a single-file run, every bad one is listed in the summary, and the exit code is 3.

mod common;

use std::process::Command;

use common::{facetrack, shipped_model, stderr, TempDir};

const CLIPS: usize = 40;

#[test]
fn forty_clips_a_quarter_corrupt_with_two_jobs() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("soak");
    let dir = t.path("clips");
    std::fs::create_dir_all(&dir).unwrap();
    let mut bad = Vec::new();
    for k in 0..CLIPS {
        let name = format!("clip{k:02}.mp4");
        let out = dir.join(&name);
        if k % 4 == 3 {
            // corrupt: a header and noise, or a cut-off file with its index at the end
            let bytes: Vec<u8> = if k % 8 == 3 {
                b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2"
                    .iter()
                    .copied()
                    .chain((0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8))
                    .collect()
            } else {
                let src = dir.join("tmp-full.mp4");
                make_clip(&data, k, &src);
                let b = std::fs::read(&src).unwrap();
                std::fs::remove_file(&src).unwrap();
                b[..b.len() / 2].to_vec()
            };
            std::fs::write(&out, bytes).unwrap();
            bad.push(name);
        } else {
            make_clip(&data, k, &out);
        }
    }
    let model = shipped_model();
    let out_dir = t.path("out");
    let o = facetrack(&[
        "video",
        dir.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--jobs",
        "2",
        "--threads",
        "1",
        "--model",
        model.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!(
            "{} of {CLIPS} videos done, {} failed",
            CLIPS - bad.len(),
            bad.len()
        )),
        "{err}"
    );
    for b in &bad {
        assert!(err.contains(b.as_str()), "{b} is not listed: {err}");
        let csv = out_dir.join(b.replace(".mp4", ".csv"));
        assert!(!csv.exists(), "{b} left an output");
    }
    for k in (0..CLIPS).filter(|k| k % 4 != 3) {
        let name = format!("clip{k:02}");
        let batch = std::fs::read_to_string(out_dir.join(format!("{name}.csv"))).unwrap();
        let single = t.path(&format!("{name}-single.csv"));
        let o = facetrack(&[
            "video",
            dir.join(format!("{name}.mp4")).to_str().unwrap(),
            "--csv",
            single.to_str().unwrap(),
            "--threads",
            "1",
            "--model",
            model.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            batch,
            std::fs::read_to_string(&single).unwrap(),
            "{name}: the batch CSV differs from a single-file run"
        );
        // complete: every one of the 12 frames has its rows
        let frames: std::collections::BTreeSet<&str> = batch
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .collect();
        assert_eq!(frames.len(), 12, "{name}: {} of 12 frames", frames.len());
    }
}

/// A 12-frame clip of one 300-W photo (the `k`-th of lfpw_train), via ffmpeg.
fn make_clip(data: &std::path::Path, k: usize, out: &std::path::Path) {
    let ds =
        facetrack::data::datasets::load(&data.join("300w/lfpw_train"), Default::default()).unwrap();
    let photo = &ds.samples[k].image;
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(photo)
        .args([
            "-frames:v",
            "12",
            "-r",
            "25",
            "-vf",
            "scale=trunc(iw/2)*2:trunc(ih/2)*2",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(out)
        .output()
        .expect("ffmpeg (installed by ./setup.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
