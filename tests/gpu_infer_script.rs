//! `tools/gpu/` for inference on the GPU machine (issue 27): `parts.py`, which carries a
//! folder across device commands in checked parts, and `infer.sh`, which runs there. What
//! needs no preparation always runs: the split / stage / join round trip with damaged and
//! foreign parts, and `infer.sh` stopping at once where no GPU is seen. When
//! `tools/gpu/prepare_infer.sh` has been run (a manual step: it downloads onnxruntime-gpu),
//! the prepared parts are carried one call at a time through `infer.sh` with `DEVICE=cpu`:
//! the GPU build of ONNX Runtime, joined from them, runs the bench and a video on the CPU,
//! and `--device cuda` fails with a clear message on this machine without a GPU.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TempDir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn parts(args: &[&Path]) -> Output {
    Command::new("python3")
        .arg(root().join("tools/gpu/parts.py"))
        .args(args)
        .output()
        .expect("python3 runs tools/gpu/parts.py (python3 is a requirement of tools/gpu)")
}

/// Bytes that compress poorly, so that the archive needs several small parts.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

#[test]
fn parts_are_checked_one_by_one_and_joined_only_when_all_are_there() {
    use std::os::unix::fs::PermissionsExt;
    let t = TempDir::new("gpu-parts");
    let src = t.path("src");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::create_dir_all(src.join("lib")).unwrap();
    let tool = noise(150_000, 1);
    let table: Vec<u8> = (0..40_000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    std::fs::write(src.join("bin/tool"), &tool).unwrap();
    std::fs::set_permissions(src.join("bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(src.join("lib/table.txt"), &table).unwrap();

    let out = t.path("out");
    let o = parts(&[
        Path::new("pack"),
        &src,
        &out,
        Path::new("--part-bytes"),
        Path::new("65536"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let p = |i: usize| out.join(format!("p{i:02}"));
    assert!(p(3).is_dir() && !p(4).exists(), "{}", text(&o));

    let stage = t.path("stage");
    // a part alone: staged, the others named as missing; one missing below it is named as
    // what a machine gone cold between calls leaves
    let o = parts(&[Path::new("add"), &stage, &p(2)]);
    assert_eq!(o.status.code(), Some(12), "{}", text(&o));
    assert!(text(&o).contains("missing: 1 3"), "{}", text(&o));
    assert!(text(&o).contains("carry p01 next"), "{}", text(&o));

    // a damaged part is refused and not staged
    let bad = t.path("bad/p01");
    std::fs::create_dir_all(&bad).unwrap();
    for e in std::fs::read_dir(p(1)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), bad.join(e.file_name())).unwrap();
    }
    let part = bad.join("payload.tar.xz.part01");
    let mut bytes = std::fs::read(&part).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&part, bytes).unwrap();
    let o = parts(&[Path::new("add"), &stage, &bad]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("does not match its manifest"),
        "{}",
        text(&o)
    );
    assert!(!stage.join("parts/payload.tar.xz.part01").exists());

    // a part of another pack is refused
    let other_src = t.path("other");
    std::fs::create_dir_all(&other_src).unwrap();
    std::fs::write(other_src.join("x"), noise(70_000, 2)).unwrap();
    let other = t.path("other-out");
    let o = parts(&[
        Path::new("pack"),
        &other_src,
        &other,
        Path::new("--part-bytes"),
        Path::new("65536"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = parts(&[Path::new("add"), &stage, &other.join("p01")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("another pack"), "{}", text(&o));

    // p01 next, as told: the gap is below no part carried now, so only parts missing
    let o = parts(&[Path::new("add"), &stage, &p(1)]);
    assert_eq!(o.status.code(), Some(10), "{}", text(&o));
    assert!(text(&o).contains("missing: 3"), "{}", text(&o));
    // the last: joined, every file as it was, modes kept
    let o = parts(&[Path::new("add"), &stage, &p(3)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("joined 3 parts"), "{}", text(&o));
    let payload = stage.join("payload");
    assert_eq!(std::fs::read(payload.join("bin/tool")).unwrap(), tool);
    assert_eq!(std::fs::read(payload.join("lib/table.txt")).unwrap(), table);
    let mode = std::fs::metadata(payload.join("bin/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    // a later call finds it complete
    let o = parts(&[Path::new("add"), &stage]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A fatbin (the CUDA container of one source file's kernels) with an ELF cubin per
/// `(architecture, payload)`.
fn fatbin(cubins: &[(u32, &[u8])]) -> Vec<u8> {
    let mut entries = Vec::new();
    for (sm, payload) in cubins {
        let mut h = vec![0u8; 0x40];
        h[0..2].copy_from_slice(&2u16.to_le_bytes()); // kind: ELF
        h[2..4].copy_from_slice(&0x101u16.to_le_bytes());
        h[4..8].copy_from_slice(&0x40u32.to_le_bytes());
        h[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        h[0x1c..0x20].copy_from_slice(&sm.to_le_bytes());
        entries.extend_from_slice(&h);
        entries.extend_from_slice(payload);
    }
    let mut f = 0xBA55ED50u32.to_le_bytes().to_vec();
    f.extend_from_slice(&1u16.to_le_bytes());
    f.extend_from_slice(&16u16.to_le_bytes());
    f.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    f.extend_from_slice(&entries);
    f
}

#[test]
fn fatbin_keep_zeroes_only_the_other_architectures_cubins() {
    let t = TempDir::new("gpu-fatbin");
    let (a80, a90, only80) = (noise(96, 3), noise(128, 4), noise(64, 5));
    let mut lib = b"\x7fELF".to_vec();
    lib.extend_from_slice(&noise(100, 6));
    let first = lib.len();
    lib.extend(fatbin(&[(80, &a80), (90, &a90)]));
    let second = lib.len();
    lib.extend(fatbin(&[(80, &only80)]));
    lib.extend_from_slice(&noise(50, 7));
    let input = t.path("lib.so");
    std::fs::write(&input, &lib).unwrap();
    let keep = |sm: &str, out: &Path| {
        Command::new("python3")
            .arg(root().join("tools/gpu/fatbin_keep.py"))
            .arg(&input)
            .arg(out)
            .args(["--sm", sm])
            .output()
            .unwrap()
    };
    let out = t.path("slim.so");
    let o = keep("90", &out);
    assert!(o.status.success(), "{}", text(&o));
    let slim = std::fs::read(&out).unwrap();
    assert_eq!(slim.len(), lib.len());
    let mut want = lib.clone();
    // the sm_80 cubin of the first fatbin, after the 16-byte fatbin and 64-byte entry headers
    let p80 = first + 16 + 0x40;
    want[p80..p80 + a80.len()].fill(0);
    assert_eq!(
        slim, want,
        "only the first fatbin's sm_80 payload may change"
    );
    assert_eq!(
        &slim[second..second + 16 + 0x40 + only80.len()],
        &lib[second..second + 16 + 0x40 + only80.len()]
    );
    assert!(text(&o).contains("cubins zeroed: 1"), "{}", text(&o));
    // no cubin for the architecture asked for: refused, nothing written
    let none = t.path("none.so");
    let o = keep("100", &none);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("holds no sm_100 cubin"), "{}", text(&o));
    assert!(!none.exists());
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

#[test]
fn infer_script_stops_at_once_where_no_gpu_is_seen() {
    if on_path("nvidia-smi") {
        eprintln!("skipping: this machine has nvidia-smi, so infer.sh would go on");
        return;
    }
    let t = TempDir::new("gpu-infer-nogpu");
    let o = Command::new("bash")
        .arg(root().join("tools/gpu/infer.sh"))
        .current_dir(root())
        .env_remove("DEVICE")
        .env("OUT", t.path("out"))
        .env("STAGE", t.path("stage"))
        .env("PARTS", t.path("parts"))
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    let log = std::fs::read_to_string(t.path("out/infer.log")).unwrap();
    assert!(log.contains("CUDA is not seen: no nvidia-smi"), "{log}");
    assert!(!t.path("stage").exists(), "it staged something: {log}");
}

/// The part folders prepare_infer.sh made, in order; None (and a message) if it was not run.
fn prepared_parts() -> Option<Vec<PathBuf>> {
    let dir = root().join(".gpu-infer");
    if !dir.join("p01/manifest.json").is_file() {
        eprintln!(
            "skipping: tools/gpu/prepare_infer.sh has not been run (no {}/p01)",
            dir.display()
        );
        return None;
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 3 && n.starts_with('p'))
        })
        .collect();
    v.sort();
    Some(v)
}

#[test]
fn prepared_parts_carried_one_per_call_run_the_gpu_build_on_the_cpu() {
    let Some(part_dirs) = prepared_parts() else {
        return;
    };
    let t = TempDir::new("gpu-infer-cpu");
    let stage = t.path("stage");
    let n = part_dirs.len();
    let mut last_log = String::new();
    for (i, part) in part_dirs.iter().enumerate() {
        // what one device call carries: this part alone
        let carried = t.path(&format!("call{i}"));
        std::fs::create_dir_all(&carried).unwrap();
        std::os::unix::fs::symlink(part, carried.join(part.file_name().unwrap())).unwrap();
        let out = t.path(&format!("out{i}"));
        let o = Command::new("bash")
            .arg(root().join("tools/gpu/infer.sh"))
            .current_dir(root())
            .env("DEVICE", "cpu")
            .env("BATCH", "1,4")
            .env("ITERS", "3")
            .env("OUT", &out)
            .env("STAGE", &stage)
            .env("PARTS", &carried)
            .output()
            .unwrap();
        let log = std::fs::read_to_string(out.join("infer.log")).unwrap_or_default();
        assert!(
            o.status.success(),
            "call {} of {n}:\n{}\n{log}",
            i + 1,
            text(&o)
        );
        if i + 1 < n {
            assert!(log.contains("carry the next part"), "{log}");
            assert!(!stage.join("payload").exists());
        } else {
            let files: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
            assert!(files.len() <= 8, "{files:?}");
            for f in ["bench-fp32.md", "bench-int8.md", "video-cpu.csv"] {
                assert!(out.join(f).is_file(), "no {f}:\n{log}");
            }
            last_log = log;
        }
    }
    let payload = stage.join("payload");
    let runtime = payload.join("ort/libonnxruntime.so");
    for want in [
        format!("joined {n} parts"),
        format!("runtime: {}", runtime.display()),
        // the default model found beside the carried binary, not at the build's path
        format!(
            "model:   {}",
            payload.join("models/facetrack68.onnx").display()
        ),
        "All nodes placed on [CPUExecutionProvider]".to_string(),
        "model, batch 4 (cpu".to_string(),
        "faces/s".to_string(),
        "end to end: Megamind.avi".to_string(),
        "(video cpu: exit 0".to_string(),
        "(video cpu, for comparison: exit 0".to_string(),
        "|cpu - cpu| in pixels: mean".to_string(),
    ] {
        assert!(
            last_log.contains(&want),
            "the log lacks {want:?}:\n{last_log}"
        );
    }

    // the carried libraries are all the tracker needs beyond the C and C++ runtimes
    let o = Command::new("ldd")
        .arg(payload.join("bin/facetrack"))
        .env("LD_LIBRARY_PATH", payload.join("lib"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let runtimes = [
        "libc.so",
        "libm.so",
        "libpthread.so",
        "libdl.so",
        "librt.so",
        "libresolv.so",
        "libutil.so",
        "libstdc++.so",
        "libgcc_s.so",
        "ld-linux-x86-64.so",
    ];
    let mut carried = 0;
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Some((name, rest)) = line.trim().split_once(" => ") else {
            continue;
        };
        if runtimes.iter().any(|r| name.starts_with(r)) {
            continue;
        }
        assert!(
            rest.starts_with(payload.join("lib").to_str().unwrap()),
            "{name} is not carried: {line}"
        );
        carried += 1;
    }
    assert!(carried > 5, "only {carried} carried libraries resolved");

    // the carried tracker with the carried FFmpeg, on the GPU build: --device cuda says
    // clearly that CUDA is missing here, and writes nothing
    let csv = t.path("cuda.csv");
    let o = Command::new(payload.join("bin/facetrack"))
        .args(["video"])
        .arg(payload.join("media/Megamind.avi"))
        .args(["--device", "cuda", "--csv"])
        .arg(&csv)
        .arg("--model")
        .arg(root().join("models/facetrack68-fp32.onnx"))
        .env("LD_LIBRARY_PATH", payload.join("lib"))
        .env("FACETRACK_ORT_LIB", &runtime)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("the CUDA execution provider is not available"),
        "{}",
        text(&o)
    );
    assert!(!csv.exists());
}
