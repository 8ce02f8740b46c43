//! The library's folders are layers (ARCHITECTURE.md): each may use only the layers
//! below it. This reads the sources and fails on an import that points up.

use std::path::Path;

/// Each layer and the layers it may use.
const ALLOWED: [(&str, &[&str]); 7] = [
    ("core", &[]),
    ("capture", &["core"]),
    ("inference", &["core"]),
    ("data", &["core"]),
    ("tracking", &["core", "inference"]),
    ("output", &["core", "capture", "inference", "tracking"]),
    (
        "pipeline",
        &["core", "capture", "inference", "tracking", "output"],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_layer_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers: Vec<&str> = ALLOWED.iter().map(|(l, _)| *l).collect();
    let mut bad = Vec::new();
    for (layer, allowed) in ALLOWED {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} has no sources");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for other in &layers {
                    let used = code.contains(&format!("crate::{other}::"))
                        || code.contains(&format!("crate::{other}::{{"));
                    if used && *other != layer && !allowed.contains(other) {
                        bad.push(format!("{}:{}: {layer} uses {other}", f.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports against the layering:\n{}",
        bad.join("\n")
    );
}
