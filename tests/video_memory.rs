//! Memory of a 4K run with --annotate (issue 28, part 4): it peaked at 1.7 GB (frames
//! queued between the stages, x264's look-ahead and frame threads, copies of each RGB
//! frame); it must stay under 500 MB. The clip is Megamind.avi's first frames scaled to
//! 3840×2160 by ffmpeg at test time; the peak is the process's maximum resident set, as
//! `/usr/bin/time -f %M` reports it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{shipped_model, stderr, TempDir};

/// The bound the issue sets, KiB.
const MAX_PEAK_KB: u64 = 500 * 1000;

#[test]
fn an_annotated_4k_run_stays_under_500_mb() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi");
    if !src.is_file() || !Path::new("/usr/bin/time").is_file() {
        if std::env::var_os("CI").is_some() {
            panic!("Megamind.avi (./setup.sh) and /usr/bin/time are needed");
        }
        eprintln!("skipping: no Megamind.avi or /usr/bin/time");
        return;
    }
    let t = TempDir::new("mem4k");
    let clip = t.path("4k.mp4");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src)
        .args([
            "-frames:v",
            "24",
            "-vf",
            "scale=3840:2160,setsar=1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .arg(&clip)
        .output()
        .expect("ffmpeg (installed by ./setup.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // --smooth-offline reads the video twice (track, then draw the smoothed points): it
    // must stay under the same bound (measured: 382 MB, against 436 MB without)
    for extra in [&[][..], &["--smooth-offline"][..]] {
        let ann = t.path("4k.ann.mp4");
        let mut cmd = Command::new("/usr/bin/time");
        cmd.args(["-f", "peak %M"])
            .arg(env!("CARGO_BIN_EXE_facetrack"))
            .arg("video")
            .arg(&clip)
            .arg("--csv")
            .arg(t.path("4k.csv"))
            .arg("--annotate")
            .arg(&ann)
            .arg("--model")
            .arg(shipped_model())
            .arg("--overwrite")
            .args(extra);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FACETRACK_") {
                cmd.env_remove(k);
            }
        }
        let o = cmd.output().expect("running facetrack under /usr/bin/time");
        let err = stderr(&o);
        assert!(o.status.success(), "{err}");
        let peak: u64 = err
            .lines()
            .filter_map(|l| l.strip_prefix("peak "))
            .next_back()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak in {err}"));
        assert!(
            peak < MAX_PEAK_KB,
            "peak {peak} KiB with --annotate {extra:?} at 4K (bound {MAX_PEAK_KB})"
        );
        check_annotated(&ann);
    }
}

/// The annotated video holds every frame at full size.
fn check_annotated(ann: &Path) {
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(ann)
        .output()
        .expect("ffprobe");
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "3840,2160,24"
    );
}
