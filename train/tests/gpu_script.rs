//! `tools/gpu/train.sh`, the GPU machine's training script, run here with `DEVICE=cpu` on
//! a tiny time budget and a small pack: it must stop by itself, and leave at most 8 files
//! of at most 16 MiB (the log with its epoch lines and img/s, the config, the metrics and
//! half-precision weights) that load again on this machine (back to single precision,
//! then exported to ONNX).

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared_300w() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/300w");
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {} is missing", p.display());
    }
    eprintln!("skipping: no shared data at {}", p.display());
    None
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("spawn");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn the_gpu_script_trains_on_a_budget_and_brings_back_loadable_weights() {
    let Some(data) = shared_300w() else { return };
    let bin = env!("CARGO_BIN_EXE_train");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tmp = std::env::temp_dir().join(format!("ftrain-gpu-script-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let pack = tmp.join("small.ftpack");
    run(Command::new(bin)
        .args(["pack", data.to_str().unwrap(), "--max-faces", "72", "--out"])
        .arg(&pack));

    let out = tmp.join("out");
    let budget = 20;
    let mut script = Command::new("bash");
    script
        .arg(root.join("tools/gpu/train.sh"))
        .args(["--seed", "3"])
        .current_dir(&root)
        .env("DEVICE", "cpu")
        .env("BUDGET", budget.to_string())
        .env("WEIGHT", "1")
        .env("BATCH", "16")
        .env("WORKERS", "1")
        .env("THREADS", "1")
        .env("KEEP", "2")
        .env("LOADER_BENCH_S", "1")
        .env("PACK", &pack)
        .env("FTRAIN_BIN", bin)
        .env("OUT", &out)
        .env("RUN", tmp.join("run"));
    if let Some(lib) = option_env!("FTRAIN_LIBTORCH_LIB") {
        script.env("TORCH_LIB", lib);
    }
    run(&mut script);

    let log = std::fs::read_to_string(out.join("train.log")).unwrap();
    for want in [
        "command: tools/gpu/train.sh --seed 3",
        "--time-budget-s 20",
        "with 1 workers (batch 16):",
        "epoch   1/",
        "img/s (waited",
        "trainer exit status 0",
    ] {
        assert!(log.contains(want), "the log lacks {want:?}:\n{log}");
    }
    // the trainer stopped by itself: within its budget and the end it keeps time for
    let secs: u64 = log
        .lines()
        .find_map(|l| l.strip_prefix("trainer exit status 0 after "))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the trainer's time in the log");
    assert!(
        secs <= budget + 30,
        "the trainer took {secs} s on a {budget} s budget"
    );

    let files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        files.len() <= 8,
        "{} files come back: {files:?}",
        files.len()
    );
    for f in &files {
        assert!(
            std::fs::metadata(f).unwrap().len() <= 16 << 20,
            "{f:?} over 16 MiB"
        );
    }
    assert!(files.iter().any(|f| f.to_string_lossy().contains("epoch-")));

    // back on the CPU: single precision again, then a checked ONNX export of the run
    let fin = tmp.join("finish");
    std::fs::create_dir_all(&fin).unwrap();
    for f in ["config.json", "metrics.csv"] {
        std::fs::copy(out.join(f), fin.join(f)).unwrap();
    }
    run(Command::new(bin)
        .arg("weights")
        .arg(out.join("best-f16.ot"))
        .arg(fin.join("best.ot"))
        .args(["--to", "f32"]));
    let text = run(Command::new(bin)
        .arg("export")
        .arg(&fin)
        .arg("--out")
        .arg(fin.join("model.onnx")));
    assert!(text.contains("exported"), "{text}");
    assert!(fin.join("model.onnx").is_file());
    let _ = std::fs::remove_dir_all(&tmp);
}
