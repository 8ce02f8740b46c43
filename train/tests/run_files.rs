//! A run's own files are never written over by the trainer's other commands, a folder
//! that holds a run is not taken over by a new one, options that would change a resumed
//! run are refused, and half-precision weights (the GPU script's) load where weights load.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::shared;

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_train"))
        .args(args)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("train")
}

/// `train fit` of the small nose network on the IMM faces of `data` into `out`, one
/// epoch of batches of 8 on one thread, with `more` options.
fn nose_fit(data: &Path, out: &Path, more: &[&str]) -> Output {
    let imm = data.join("imm");
    let mut args = vec![
        "fit",
        "--preset",
        "nose",
        "--data",
        s(&imm),
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--out",
        s(out),
    ];
    args.extend_from_slice(more);
    train(&args)
}

/// The command failed, saying `why`.
fn assert_refused(o: &Output, why: &str) {
    assert!(!o.status.success() && text(o).contains(why), "{}", text(o));
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fresh scratch folder for test `tag`.
fn scratch(tag: &str) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("ftrain-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// A small IMM dataset of our own to damage: two faces of person 1, copied into `dir`.
fn two_imm_faces(data: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["01-1m.asf", "01-1m.jpg", "01-2m.asf", "01-2m.jpg"] {
        std::fs::copy(data.join("imm").join(f), dir.join(f)).unwrap();
    }
}

#[test]
fn a_runs_files_are_kept_and_half_precision_weights_load() {
    let Some(data) = shared() else { return };
    let root = scratch("files");
    let run = root.join("run");
    // one epoch of the small nose network on IMM (192 training and 48 validation
    // faces, a few seconds): a run with best.ot and a checkpoint
    let o = nose_fit(&data, &run, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let best = run.join("best.ot");
    let kept = std::fs::read(&best).expect("the run keeps best.ot");

    // export and average cannot write over the run's weights
    let o = train(&["export", s(&run), "--out", s(&best)]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    let o = train(&[
        "average",
        s(&run),
        s(&best),
        s(&best),
        "--out",
        s(&run.join("best.onnx")),
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&best).unwrap(),
        kept,
        "best.ot was written over"
    );
    // the same without best.ot among the inputs: the run-file rule alone
    let ckpt = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("checkpoint")
        })
        .unwrap();
    let o = train(&[
        "average",
        s(&run),
        s(&ckpt),
        s(&ckpt),
        "--out",
        s(&run.join("best.onnx")),
    ]);
    assert_refused(&o, "one of the files of the run");
    assert_eq!(
        std::fs::read(&best).unwrap(),
        kept,
        "best.ot was written over"
    );

    // half-precision weights export like single-precision ones
    let half = root.join("half");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::copy(run.join("config.json"), half.join("config.json")).unwrap();
    let o = train(&["weights", s(&best), s(&half.join("best.ot")), "--to", "f16"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = train(&["export", s(&half), "--out", s(&root.join("half.onnx"))]);
    assert!(o.status.success(), "{}", text(&o));

    // a folder with a run's files (here without its checkpoints) is not taken over
    let o = nose_fit(&data, &half, &["--max-steps", "1"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("already holds a run"), "{}", text(&o));
    assert!(!half.join("metrics.csv").exists());

    // an output that exists is replaced only with --overwrite, and never a run's record,
    // a file of the dataset, or the averaged weights by their own model
    let made = root.join("made.onnx");
    std::fs::write(&made, b"mine").unwrap();
    let o = train(&["export", s(&run), "--out", s(&made)]);
    assert_refused(&o, "add --overwrite");
    assert_eq!(std::fs::read(&made).unwrap(), b"mine");
    let o = train(&["export", s(&run), "--out", s(&made), "--overwrite"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(std::fs::read(&made).unwrap(), b"mine");
    // weights never writes a run's config.json, nor one a run stopped before its first
    // checkpoint left (config.json only)
    let config = std::fs::read(run.join("config.json")).unwrap();
    let early = root.join("early");
    std::fs::create_dir_all(&early).unwrap();
    std::fs::write(early.join("config.json"), &config).unwrap();
    for folder in [&run, &early] {
        let target = folder.join("config.json");
        let o = train(&[
            "weights",
            s(&best),
            s(&target),
            "--to",
            "f16",
            "--overwrite",
        ]);
        assert_refused(&o, "not a weight file");
        assert_eq!(std::fs::read(&target).unwrap(), config);
    }
    // the run's own model.onnx is exported again without leave (README's recipe)
    assert!(run.join("model.onnx").is_file(), "fit exports its model");
    let o = train(&["export", s(&run), "--out", s(&run.join("model.onnx"))]);
    assert!(o.status.success(), "{}", text(&o));
    let o = train(&[
        "average",
        s(&run),
        s(&best),
        s(&best),
        "--out",
        s(&root.join("av.ot")),
    ]);
    assert_refused(&o, "name it");
    assert!(!root.join("av.ot").exists());
    // a pack is never written over the dataset it reads, --overwrite or not
    let faces = root.join("faces");
    two_imm_faces(&data, &faces);
    let photo = std::fs::read(faces.join("01-1m.jpg")).unwrap();
    for out in ["01-1m.jpg", "01-1m.asf"] {
        let target = faces.join(out);
        let o = train(&["pack", s(&faces), "--out", s(&target), "--overwrite"]);
        assert_refused(&o, "a file of the dataset");
    }
    assert_eq!(std::fs::read(faces.join("01-1m.jpg")).unwrap(), photo);
    // a new run's --out: not inside the dataset's folder, not over someone else's files
    let o = train(&[
        "fit",
        "--preset",
        "nose",
        "--data",
        s(&faces),
        "--epochs",
        "1",
        "--threads",
        "1",
        "--out",
        s(&faces.join("run")),
    ]);
    assert_refused(&o, "inside the dataset folder");
    assert!(!faces.join("run").exists());
    let user = root.join("user");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(user.join("config.json"), b"{\"my\": \"settings\"}").unwrap();
    let o = nose_fit(&data, &user, &["--max-steps", "1"]);
    assert_refused(&o, "holds config.json, which a run writes");
    assert_eq!(
        std::fs::read(user.join("config.json")).unwrap(),
        b"{\"my\": \"settings\"}"
    );
    assert!(!user.join("metrics.csv").exists());
    // a resume that fails leaves the run's settings as they were
    let broken = root.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for e in std::fs::read_dir(&run).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && p.file_name().unwrap() != "state.json" {
            std::fs::copy(&p, broken.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(broken.join("state.json"), b"torn").unwrap();
    let before = std::fs::read(broken.join("config.json")).unwrap();
    let o = train(&["fit", "--resume", s(&broken), "--epochs", "50"]);
    assert_refused(&o, "state.json");
    assert_eq!(std::fs::read(broken.join("config.json")).unwrap(), before);

    // a resumed run keeps its settings: a new learning rate is refused, not ignored
    let o = train(&["fit", "--resume", s(&run), "--lr", "0.5"]);
    assert_refused(&o, "cannot be used with");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn validation_faces_never_train_and_an_init_that_fits_nothing_is_refused() {
    let Some(data) = shared() else { return };
    let root = scratch("leak");
    let imm = data.join("imm");
    // --extra repeating --data: its 48 validation faces are kept out of training
    let o = nose_fit(
        &data,
        &root.join("leak"),
        &["--extra", s(&imm), "--no-export"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let skipped = std::fs::read_to_string(root.join("leak/skipped.tsv")).unwrap_or_default();
    let kept_out = skipped
        .matches("a validation face of another source")
        .count();
    assert_eq!(kept_out, 48, "{skipped}");
    // the 68-point model's layers fit none of the nose network's
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/facetrack68-fp32.onnx");
    let o = nose_fit(&data, &root.join("init"), &["--init", s(&model)]);
    assert_refused(&o, "none of its layers");
    // a run that fails before writing anything leaves no folder behind
    assert!(!root.join("init").exists());
    let _ = std::fs::remove_dir_all(&root);
}

/// What is missing or unreadable is named as such before any work (no data needed).
#[test]
fn missing_and_unreadable_inputs_are_named() {
    let root = scratch("named");
    std::fs::create_dir_all(root.join("run")).unwrap();
    // a config.json that is there but unreadable is not "no config.json"
    std::fs::write(root.join("run/config.json"), b"\xff\xfe").unwrap();
    let o = train(&[
        "export",
        s(&root.join("run")),
        "--out",
        s(&root.join("m.onnx")),
    ]);
    assert!(
        text(&o).contains("reading") && !text(&o).contains("no config.json"),
        "{}",
        text(&o)
    );
    // every weight file of an average is looked for first
    let o = train(&[
        "average",
        s(&root.join("run")),
        s(&root.join("a.ot")),
        s(&root.join("b.ot")),
    ]);
    assert!(
        text(&o).contains("a.ot: no such weight file"),
        "{}",
        text(&o)
    );
    // a missing dataset is named once, with its cause once, and the run's folders that
    // the failed run made are gone
    let none = root.join("none");
    let o = train(&[
        "fit",
        "--preset",
        "nose",
        "--data",
        s(&none),
        "--out",
        s(&root.join("new/run")),
    ]);
    let t = text(&o);
    assert!(
        !o.status.success()
            && t.contains(&format!(
                "dataset {}: no such file or folder",
                none.display()
            ))
            && t.matches("no such file").count() == 1
            && t.matches(s(&none)).count() == 1,
        "{t}"
    );
    assert!(!root.join("new").exists());
    // a file as a run's folder, a batch too small for batch norm
    std::fs::write(root.join("afile"), b"mine").unwrap();
    let o = train(&[
        "fit",
        "--preset",
        "nose",
        "--data",
        s(&none),
        "--out",
        s(&root.join("afile")),
    ]);
    assert_refused(&o, "is a file; name a folder");
    let o = train(&[
        "fit",
        "--preset",
        "nose",
        "--data",
        s(&none),
        "--batch-size",
        "1",
    ]);
    assert_refused(&o, "1 is not in 2..");
    // a warm-up longer than the run: the rate would never reach --lr
    let o = train(&[
        "fit",
        "--preset",
        "nose",
        "--data",
        s(&none),
        "--epochs",
        "2",
        "--warmup-epochs",
        "3",
        "--out",
        s(&root.join("warm")),
    ]);
    assert_refused(&o, "--warmup-epochs 3 is more than the run's 2 epochs");
    assert!(!root.join("warm").exists());
    let o = train(&["pack", s(&root), "--max-faces", "0"]);
    assert!(
        text(&o).contains("--max-faces must be at least 1"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The rows of `metrics.csv`'s epoch column.
fn metric_epochs(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

/// A kill anywhere in an epoch's writes resumes whole: the files each kill leaves are made
/// here by hand (the order of the writes: the metrics row, the snapshot, the checkpoint
/// with state.json, then best.ot).
#[test]
fn a_kill_anywhere_in_an_epochs_writes_resumes_whole_and_one_folder_trains_one_run() {
    let Some(data) = shared() else { return };
    let root = scratch("kill");
    let run = root.join("run");
    let o = nose_fit(&data, &run, &["--no-export"]);
    assert!(o.status.success(), "{}", text(&o));

    // killed after a best epoch's checkpoint, before its best.ot: the resume writes it
    // from the checkpoint (here with nothing left to train)
    let export = |name: &str| {
        let out = root.join(name);
        let o = train(&["export", s(&run), "--out", s(&out)]);
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read(out).unwrap()
    };
    let model = export("before.onnx");
    std::fs::remove_file(run.join("best.ot")).unwrap();
    let o = train(&["fit", "--resume", s(&run), "--no-export"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        export("after.onnx") == model,
        "best.ot is written again from the checkpoint of the best epoch"
    );
    // killed after epoch 2's row, before its checkpoint: the row is written once
    let mut metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let row1 = metrics.lines().nth(1).unwrap().to_string();
    metrics += &format!("{}\n", row1.replacen('1', "2", 1));
    std::fs::write(run.join("metrics.csv"), metrics).unwrap();
    let best1 = std::fs::read(run.join("best.ot")).unwrap();
    let o = train(&["fit", "--resume", s(&run), "--epochs", "2", "--no-export"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(metric_epochs(&run), ["1", "2"]);
    // ... and a row a kill cut short, after the last whole one: dropped, not appended to
    let mut metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    metrics += &row1[..row1.len() / 2];
    std::fs::write(run.join("metrics.csv"), metrics).unwrap();
    let o = train(&["fit", "--resume", s(&run), "--no-export"]);
    assert!(o.status.success(), "{}", text(&o));
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(
        metrics.ends_with('\n') && metric_epochs(&run) == ["1", "2"],
        "{metrics}"
    );
    // killed after a best epoch's checkpoint with an earlier best's best.ot still there
    // (older than the checkpoint): the resume writes the checkpoint's
    let state = std::fs::read_to_string(run.join("state.json")).unwrap();
    if state.contains("\"best_epoch\": 2") {
        let best2 = export("best2.onnx");
        std::fs::write(run.join("best.ot"), &best1).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(run.join("best.ot"))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        assert!(export("stale.onnx") != best2);
        let o = train(&["fit", "--resume", s(&run), "--no-export"]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(export("again.onnx") == best2, "the stale best.ot was kept");
    } else {
        eprintln!("epoch 2 was not the best ({state}): the stale best.ot case is not tried");
    }

    // the export of a run stopped before its end says so
    let cut = root.join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    for e in std::fs::read_dir(&run).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, cut.join(p.file_name().unwrap())).unwrap();
        }
    }
    let config = std::fs::read_to_string(cut.join("config.json")).unwrap();
    assert!(config.contains("\"epochs\": 2,"), "{config}");
    std::fs::write(
        cut.join("config.json"),
        config.replace("\"epochs\": 2,", "\"epochs\": 5,"),
    )
    .unwrap();
    let o = train(&["export", s(&cut), "--out", s(&root.join("cut.onnx"))]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("is unfinished (2 of 5 epochs"),
        "{}",
        text(&o)
    );
    let o = train(&["export", s(&run), "--out", s(&root.join("whole.onnx"))]);
    assert!(!text(&o).contains("unfinished"), "{}", text(&o));

    // an epoch stopped half-way and resumed: its row counts the whole epoch's samples
    // and seconds, not the resumed half's (without: about half; the row's figures are
    // rounded to a tenth, hence the margin)
    let samples = |run: &Path| -> f64 {
        let m = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
        let f: Vec<f64> = m
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect();
        f[6] * f[7]
    };
    let half = root.join("half");
    let o = nose_fit(&data, &half, &["--no-export", "--max-steps", "12"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!half.join("metrics.csv").exists() || metric_epochs(&half).is_empty());
    let o = train(&[
        "fit",
        "--resume",
        s(&half),
        "--max-steps",
        "1000",
        "--no-export",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (whole, resumed) = (samples(&run), samples(&half));
    assert!(
        (resumed / whole - 1.0).abs() < 0.25,
        "the resumed epoch's row says {resumed:.0} samples, a whole epoch {whole:.0}"
    );

    // killed in the first epoch's writes, before state.json: nothing to resume, and the
    // same command starts the run again there
    let first = root.join("first");
    std::fs::create_dir_all(&first).unwrap();
    for f in ["config.json", "metrics.csv"] {
        std::fs::copy(run.join(f), first.join(f)).unwrap();
    }
    std::fs::write(first.join("checkpoint-1.ot.tmp"), b"torn").unwrap();
    let o = train(&["fit", "--resume", s(&first)]);
    assert_refused(&o, "start it again with the same");
    let o = nose_fit(&data, &first, &["--no-export"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(metric_epochs(&first), ["1"]);

    // a folder a run is training in is refused to a second run, and a run that wrote
    // nothing leaves no lock file
    let busy = root.join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    let lock = std::fs::File::create(busy.join(".lock")).unwrap();
    lock.try_lock().unwrap();
    let o = nose_fit(&data, &busy, &["--no-export"]);
    assert_refused(&o, "in use by another `train fit`");
    assert!(!busy.join("config.json").exists());
    assert!(
        busy.join(".lock").exists(),
        "the holder's lock file is left to it"
    );
    drop(lock);
    let fresh = root.join("fresh");
    let o = nose_fit(&data, &fresh, &["--init", s(&run.join("metrics.csv"))]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(!fresh.exists(), "a failed run's folder (and lock) is gone");

    // --device takes its three words only
    let o = nose_fit(&data, &root.join("dev"), &["--device", "gpu"]);
    assert_refused(&o, "possible values: cpu, cuda, auto");

    // a run's relative paths, resumed from another folder, are named as such
    let rel = root.join("rel");
    let in_folder = |dir: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_train"))
            .current_dir(dir)
            .args(args)
            .env("OMP_NUM_THREADS", "1")
            .output()
            .unwrap()
    };
    let o = in_folder(
        &data,
        &[
            "fit",
            "--preset",
            "nose",
            "--data",
            "imm",
            "--max-steps",
            "1",
            "--threads",
            "1",
            "--no-export",
            "--out",
            s(&rel),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = in_folder(&root, &["fit", "--resume", s(&rel), "--epochs", "2"]);
    assert_refused(&o, "run this from the folder the run was started in");
    let _ = std::fs::remove_dir_all(&root);
}

/// `train preview` writes a new PNG: never a file of its dataset or of a run, an existing
/// file only with --overwrite.
#[test]
fn preview_never_writes_over_a_file_without_leave() {
    let Some(data) = shared() else { return };
    let root = scratch("preview");
    let faces = root.join("faces");
    two_imm_faces(&data, &faces);
    let preview = |out: &Path, more: &[&str]| {
        let mut a = vec![
            "preview",
            "--preset",
            "nose",
            "--data",
            s(&faces),
            "--count",
            "2",
            "--out",
            s(out),
        ];
        a.extend_from_slice(more);
        train(&a)
    };
    // a photo of the dataset, even named .png, and with --overwrite
    let photo = faces.join("02-1m.png");
    std::fs::copy(faces.join("01-1m.jpg"), &photo).unwrap();
    std::fs::copy(faces.join("01-1m.asf"), faces.join("02-1m.asf")).unwrap();
    let before = std::fs::read(&photo).unwrap();
    let o = preview(&photo, &["--overwrite"]);
    assert_refused(&o, "a file of the dataset");
    assert_eq!(std::fs::read(&photo).unwrap(), before);
    for name in ["01-1m.asf", ".lock"] {
        let o = preview(&faces.join(name), &["-y"]);
        assert_refused(&o, "written as PNG");
    }
    // a file there: only with --overwrite
    let out = root.join("aug.png");
    std::fs::write(&out, b"mine").unwrap();
    let o = preview(&out, &[]);
    assert_refused(&o, "add --overwrite");
    assert_eq!(std::fs::read(&out).unwrap(), b"mine");
    let o = preview(&out, &["-y"]);
    assert!(o.status.success(), "{}", text(&o));
    // nor a run's chart
    // (a run of one optimiser step on these faces)
    let one_step = |out: &Path| {
        train(&[
            "fit",
            "--preset",
            "nose",
            "--data",
            s(&faces),
            "--batch-size",
            "2",
            "--max-steps",
            "1",
            "--threads",
            "1",
            "--no-export",
            "--out",
            s(out),
        ])
    };
    let run = root.join("run");
    let o = one_step(&run);
    assert!(o.status.success(), "{}", text(&o));
    // (a run of one step has no chart yet: one stands in)
    std::fs::write(run.join("loss.png"), b"chart").unwrap();
    let chart = std::fs::read(run.join("loss.png")).unwrap();
    let o = preview(&run.join("loss.png"), &["-y"]);
    assert_refused(&o, "one of the files of the run");
    assert_eq!(std::fs::read(run.join("loss.png")).unwrap(), chart);
    assert!(std::fs::read(&out).unwrap().starts_with(b"\x89PNG"));
    // a photo cut short is skipped with its reason said once
    let whole = std::fs::read(faces.join("01-1m.jpg")).unwrap();
    std::fs::write(faces.join("03-1m.jpg"), &whole[..whole.len() / 2]).unwrap();
    let asf = std::fs::read_to_string(faces.join("01-1m.asf")).unwrap();
    std::fs::write(
        faces.join("03-1m.asf"),
        asf.replace("01-1m.jpg", "03-1m.jpg"),
    )
    .unwrap();
    let run = root.join("damaged");
    let o = one_step(&run);
    assert!(o.status.success(), "{}", text(&o));
    let skipped = std::fs::read_to_string(run.join("skipped.tsv")).unwrap();
    assert_eq!(skipped.matches("cut short").count(), 1, "{skipped}");
    // the source's count is of the faces that came out, as the total's
    assert!(
        text(&o).contains("data: 3 training faces") && text(&o).contains(": 3 train, 0 validation"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Files of a dataset other than the command's own (a mistyped path with `--overwrite`):
/// `export`, `weights` and `pack` replaced its labels, and `fit --out` wrote among them;
/// each command writes only its own kind of file.
#[test]
fn no_command_replaces_the_files_of_another_dataset() {
    let Some(data) = shared() else { return };
    let root = scratch("others");
    let run = root.join("run");
    let o = nose_fit(&data, &run, &["--no-export", "--max-steps", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let other = root.join("other");
    two_imm_faces(&data, &other);
    let label = other.join("01-1m.asf");
    let photo = other.join("01-2m.jpg");
    let kept = (
        std::fs::read(&label).unwrap(),
        std::fs::read(&photo).unwrap(),
    );
    let best = run.join("checkpoint-1.ot");
    let best = if best.is_file() {
        best
    } else {
        run.join("best.ot")
    };
    let mine = root.join("mine");
    two_imm_faces(&data, &mine);
    for target in [&label, &photo] {
        for args in [
            vec!["export", s(&run), "--last", "--out", s(target), "-y"],
            vec!["weights", s(&best), s(target), "--to", "f16", "-y"],
            vec!["pack", s(&mine), "--out", s(target), "-y"],
        ] {
            let o = train(&args);
            assert_refused(&o, "looks like a file of a dataset");
        }
    }
    assert_eq!(
        (
            std::fs::read(&label).unwrap(),
            std::fs::read(&photo).unwrap()
        ),
        kept
    );
    // the user's own model among labelled faces is theirs to replace
    let beside = other.join("model.onnx");
    for again in [&[][..], &["-y"][..]] {
        let mut args = vec!["export", s(&run), "--last", "--out", s(&beside)];
        args.extend_from_slice(again);
        let o = train(&args);
        assert!(o.status.success(), "{}", text(&o));
    }
    std::fs::remove_file(&beside).unwrap();
    // a new file is named as its kind
    let o = train(&["export", s(&run), "--last", "--out", s(&root.join("m.pts"))]);
    assert_refused(&o, "name it NAME.onnx");
    let o = train(&["pack", s(&mine), "--out", s(&root.join("p.zip"))]);
    assert_refused(&o, "name it NAME.ftpack");
    assert!(!root.join("m.pts").exists() && !root.join("p.zip").exists());
    // average: one file twice is no average, and the run's model.onnx is its export
    let o = train(&[
        "average",
        s(&run),
        s(&best),
        s(&best),
        "--out",
        s(&root.join("av.onnx")),
    ]);
    assert_refused(&o, "is given twice");
    let half = root.join("half.ot");
    let o = train(&["weights", s(&best), s(&half), "--to", "f16"]);
    assert!(o.status.success(), "{}", text(&o));
    let model = run.join("model.onnx");
    let o = train(&["export", s(&run), "--last", "--out", s(&model)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = train(&[
        "average",
        s(&run),
        s(&best),
        s(&half),
        "--out",
        s(&model),
        "-y",
    ]);
    assert_refused(&o, "the run's export of its best epoch");
    // a folder that is not there is named as such (not the hidden temporary file)
    let o = train(&[
        "export",
        s(&run),
        "--last",
        "--out",
        s(&root.join("nodir/x.onnx")),
    ]);
    assert_refused(&o, "does not exist");
    assert!(!text(&o).contains(".tmp"), "{}", text(&o));
    // a run is not started in a folder of labelled faces
    let o = nose_fit(&data, &other, &["--max-steps", "1"]);
    assert_refused(&o, "holds labelled faces");
    assert!(!other.join("config.json").exists());
    let _ = std::fs::remove_dir_all(&root);
}

/// Data options that cannot work are refused before training: a weight that would plan
/// an epoch of billions of samples (it filled the memory), a pack for a model that sees
/// the whole frame (it trained on crops and met frames), an `--extra` of no usable face.
#[test]
fn impossible_data_is_refused_before_training() {
    let Some(data) = shared() else { return };
    let root = scratch("baddata");
    let imm = data.join("imm");
    let heavy = format!("{}@1e9", s(&imm));
    let o = train(&[
        "fit",
        "--preset",
        "nose",
        "--data",
        &heavy,
        "--out",
        s(&root.join("a")),
    ]);
    assert_refused(&o, "is over 100");
    let faces = root.join("faces");
    two_imm_faces(&data, &faces);
    let pack = root.join("faces.ftpack");
    let o = train(&["pack", s(&faces), "--out", s(&pack)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = train(&[
        "fit",
        "--preset",
        "nose",
        "--data",
        s(&pack),
        "--out",
        s(&root.join("b")),
    ]);
    assert_refused(&o, "is a pack, which holds face crops");
    // an --extra whose labels give no face of the preset's points: IMM's 58 for a
    // 68-point run
    let afw = root.join("afw");
    std::fs::create_dir_all(&afw).unwrap();
    for e in std::fs::read_dir(data.join("300w/afw"))
        .unwrap()
        .flatten()
        .take(40)
    {
        std::fs::copy(e.path(), afw.join(e.file_name())).unwrap();
    }
    let o = train(&[
        "fit",
        "--preset",
        "ibug68",
        "--data",
        s(&afw),
        "--extra",
        s(&faces),
        "--max-steps",
        "1",
        "--threads",
        "1",
        "--out",
        s(&root.join("c")),
    ]);
    assert_refused(&o, "no usable training face");
    assert!(!root.join("c").exists(), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&root);
}

/// `--max-steps` limits one sitting: a later plain `--resume` trains on (it stopped again
/// after one step, for ever); a limit already passed, or fewer epochs than done, is
/// refused with the run's files unchanged.
#[test]
fn a_resumes_step_limit_is_for_that_sitting_only() {
    let Some(data) = shared() else { return };
    let root = scratch("steps");
    let run = root.join("run");
    let o = nose_fit(&data, &run, &["--no-export", "--max-steps", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let config = std::fs::read(run.join("config.json")).unwrap();
    let o = train(&["fit", "--resume", s(&run), "--max-steps", "2"]);
    assert_refused(&o, "it has done 2");
    assert_eq!(std::fs::read(run.join("config.json")).unwrap(), config);
    let o = train(&["fit", "--resume", s(&run), "--no-export"]);
    assert!(o.status.success(), "{}", text(&o));
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        2,
        "the epoch was finished: {metrics}"
    );
    let o = train(&[
        "fit",
        "--resume",
        s(&run),
        "--epochs",
        "1",
        "--max-steps",
        "3",
    ]);
    assert_refused(&o, "it has done");
    let _ = std::fs::remove_dir_all(&root);
}

/// A run's relative `--data` read from another folder is other data: a resume there
/// trained on other faces and compared its epochs across two validation sets. The faces
/// of each dataset are recorded, and a resume whose data differ is refused.
#[test]
fn a_resume_on_other_data_is_refused() {
    let Some(data) = shared() else { return };
    let root = scratch("otherdata");
    let (a, b) = (root.join("a"), root.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::os::unix::fs::symlink(data.join("imm"), a.join("imm")).unwrap();
    // in b, "imm" is a folder of half the persons
    std::fs::create_dir_all(b.join("imm")).unwrap();
    for e in std::fs::read_dir(data.join("imm")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.as_str() < "20" {
            std::os::unix::fs::symlink(e.path(), b.join("imm").join(&name)).unwrap();
        }
    }
    let run_in = |dir: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_train"))
            .args(args)
            .current_dir(dir)
            .env("OMP_NUM_THREADS", "1")
            .output()
            .unwrap()
    };
    let o = run_in(
        &a,
        &[
            "fit",
            "--preset",
            "nose",
            "--data",
            "imm",
            "--batch-size",
            "8",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--max-steps",
            "2",
            "--no-export",
            "--out",
            "run",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run_in(&b, &["fit", "--resume", "../a/run", "--no-export"]);
    assert_refused(&o, "the data differ from the run's");
    let o = run_in(&a, &["fit", "--resume", "run", "--no-export"]);
    assert!(o.status.success(), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&root);
}
