//! Helpers shared by the integration tests: where the data and the binary are, temp dirs.

#![allow(dead_code)]

pub mod render;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/data` (or `$FACETRACK_DATA`). In CI (`CI` set) its absence is a failure;
/// elsewhere the tests that need it say so and return.
pub fn shared_data() -> Option<PathBuf> {
    let p = std::env::var_os("FACETRACK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    if p.join("300w").is_dir() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but the shared data is missing at {} (set FACETRACK_DATA)",
            p.display()
        );
    }
    eprintln!("skipping: no shared data at {}", p.display());
    None
}

/// Debian's demo video (copied by ./setup.sh). In CI its absence is a failure; elsewhere
/// the tests that need it say so and return.
pub fn demo_video() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/media/Megamind.avi");
    if p.is_file() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but {} is missing (./setup.sh makes it)",
            p.display()
        );
    }
    eprintln!("skipping: run ./setup.sh for the demo video");
    None
}

/// The shipped default model.
pub fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/facetrack68.onnx")
}

/// A fresh temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "facetrack-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The facetrack binary, with no `FACETRACK_*` variable of the caller's environment
/// (a developer's model or runtime override must not change what the tests see).
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_facetrack"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FACETRACK_") {
            c.env_remove(k);
        }
    }
    c
}

/// Run the facetrack binary.
pub fn facetrack(args: &[&str]) -> Output {
    command().args(args).output().expect("running facetrack")
}

/// `facetrack video INPUT --csv CSV --model <shipped>` plus `extra` arguments.
pub fn track_video(input: &Path, csv: &Path, extra: &[&str]) -> Output {
    let model = shipped_model();
    let mut args = vec![
        "video",
        input.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    facetrack(&args)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run the ffmpeg tool (installed by ./setup.sh) with `args`, writing `out`; a failure
/// fails the test with ffmpeg's message.
#[allow(dead_code)]
pub fn ffmpeg(args: &[&str], out: &Path) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .output()
        .expect("ffmpeg (installed by ./setup.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A tmpfs mounted on `dir` with `opts` until the guard drops (needs root: elsewhere
/// `None`, with a message; CI runs as root, so there it must work).
pub fn tmpfs(dir: &Path, opts: &str) -> Option<Unmount> {
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
        .arg(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
        if std::env::var_os("CI").is_some() {
            panic!("CI runs as root and must be able to mount a tmpfs");
        }
        eprintln!("skipping: cannot mount a tmpfs here (not root)");
        return None;
    }
    Some(Unmount(dir.to_path_buf()))
}

/// Unmounts its folder when dropped.
pub struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
