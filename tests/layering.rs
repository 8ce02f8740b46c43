//! The library's folders are layers (ARCHITECTURE.md): each may use only the layers
//! below it. This reads the sources (every `crate::` path, grouped and nested `use`
//! included) and fails on an import that points up, and on an import circle between
//! modules of the library, the command line or the trainer.

use std::path::Path;

/// Each layer and the layers it may use.
const ALLOWED: [(&str, &[&str]); 8] = [
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
    ("report", &["core", "output"]),
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
            // every `crate::` path, grouped and nested uses included
            for p in crate_paths(&text) {
                let other = p[0].as_str();
                if layers.contains(&other) && other != layer && !allowed.contains(&other) {
                    bad.push(format!("{}: {layer} uses {}", f.display(), p.join("::")));
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

/// The crate-relative paths (`crate::a::b::C`) a source refers to, as segment lists: in
/// `use` lines and in code, with grouped and nested uses (`use crate::{a::b, c::{d, e}}`)
/// expanded. Line comments are ignored.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(k) = code[i..].find("crate::") {
        let start = i + k;
        i = start + "crate::".len();
        // not part of a longer name (`facetrack_crate::`)
        if start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_') {
            continue;
        }
        let (paths, end) = parse_tree(&code, i, Vec::new());
        out.extend(paths);
        i = end.max(i);
    }
    out
}

/// Parse a use tree at `pos` (after `prefix::`): `a::b`, `a::{b, c::d}` or `{…}`.
fn parse_tree(s: &str, mut pos: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let b = s.as_bytes();
    let skip_ws = |p: &mut usize| {
        while *p < b.len() && b[*p].is_ascii_whitespace() {
            *p += 1;
        }
    };
    let mut path = prefix;
    loop {
        skip_ws(&mut pos);
        if pos < b.len() && b[pos] == b'{' {
            pos += 1;
            let mut all = Vec::new();
            loop {
                skip_ws(&mut pos);
                if pos >= b.len() {
                    return (all, pos);
                }
                if b[pos] == b'}' {
                    return (all, pos + 1);
                }
                if b[pos] == b',' {
                    pos += 1;
                    continue;
                }
                let (sub, end) = parse_tree(s, pos, path.clone());
                all.extend(sub);
                if end == pos {
                    pos += 1; // not a path (`self`, `*`): step over it
                } else {
                    pos = end;
                }
            }
        }
        let st = pos;
        while pos < b.len() && (b[pos].is_ascii_alphanumeric() || b[pos] == b'_') {
            pos += 1;
        }
        if pos == st {
            return (if path.is_empty() { vec![] } else { vec![path] }, pos);
        }
        path.push(s[st..pos].to_string());
        if s[pos..].starts_with("::") {
            pos += 2;
        } else {
            return (vec![path], pos);
        }
    }
}

/// The modules of a crate whose root file is `root/ROOT` (lib.rs or main.rs): each
/// source file's module path (`a::b` for `a/b.rs` or `a/b/mod.rs`; "" for the root).
fn modules(root: &Path, root_file: &str) -> Vec<(String, std::path::PathBuf)> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files
        .into_iter()
        .filter(|f| !f.starts_with(root.join("bin")))
        .filter_map(|f| {
            let rel = f.strip_prefix(root).ok()?.with_extension("");
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let module = match parts.as_slice() {
                [r] if *r == root_file.trim_end_matches(".rs") => String::new(),
                [.., last] if last == "mod" => parts[..parts.len() - 1].join("::"),
                _ => parts.join("::"),
            };
            Some((module, f))
        })
        .collect()
}

/// Circles among the modules of one crate: module A refers to B (a `crate::B…` path in
/// its file) and B, through any chain, back to A. The library's root only declares and
/// re-exports, so its references are not counted; a binary's root is (a command that
/// reaches back into `main.rs` closes a circle).
fn circles(root: &Path, root_file: &str, root_counts: bool) -> Vec<String> {
    let mods = modules(root, root_file);
    let names: Vec<&str> = mods.iter().map(|(m, _)| m.as_str()).collect();
    let mut edges: Vec<std::collections::BTreeSet<usize>> = vec![Default::default(); mods.len()];
    for (i, (m, f)) in mods.iter().enumerate() {
        if m.is_empty() && !root_counts {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        if m.is_empty() {
            // a binary's root dispatches to the modules it declares
            for l in text.lines() {
                if let Some(name) = l
                    .trim()
                    .strip_prefix("mod ")
                    .and_then(|r| r.strip_suffix(';'))
                {
                    if let Some(j) = names.iter().position(|n| *n == name.trim()) {
                        edges[i].insert(j);
                    }
                }
            }
        }
        for p in crate_paths(&text) {
            // the longest prefix of the path that is a module; none: an item of the root
            let target = (1..=p.len())
                .rev()
                .map(|n| p[..n].join("::"))
                .find(|cand| names.contains(&cand.as_str()))
                .unwrap_or_default();
            if let Some(j) = names.iter().position(|n| *n == target) {
                // a module's own submodules are its parts, not a dependency
                let own = !m.is_empty() && target.starts_with(&format!("{m}::"));
                if j != i && !own && (root_counts || !target.is_empty()) {
                    edges[i].insert(j);
                }
            }
        }
    }
    // a circle: j reachable from i and i from j
    let reach = |from: usize| {
        let mut seen = vec![false; mods.len()];
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            for &k in &edges[n] {
                if !seen[k] {
                    seen[k] = true;
                    stack.push(k);
                }
            }
        }
        seen
    };
    let all: Vec<Vec<bool>> = (0..mods.len()).map(reach).collect();
    let mut found = Vec::new();
    for (i, from_i) in all.iter().enumerate() {
        for j in (i + 1)..mods.len() {
            if from_i[j] && all[j][i] {
                let n = |k: usize| {
                    if names[k].is_empty() {
                        root_file
                    } else {
                        names[k]
                    }
                };
                found.push(format!("{} <-> {}", n(i), n(j)));
            }
        }
    }
    found
}

#[test]
fn grouped_and_nested_uses_are_read() {
    let t = "use crate::{output::sink::Sink, core::{image::GrayImage, geometry}};\n\
             let x = crate::tracking::tracker::Tracker::new(); // crate::pipeline::x\n\
             use facetrack_crate::nope;";
    let got: Vec<String> = crate_paths(t).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        got,
        [
            "output::sink::Sink",
            "core::image::GrayImage",
            "core::geometry",
            "tracking::tracker::Tracker::new"
        ]
    );
}

#[test]
fn no_import_circles_in_the_library_the_cli_the_trainer_and_the_python_package() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut bad = Vec::new();
    for (what, root, file, counts) in [
        ("library", here.join("src"), "lib.rs", false),
        (
            "command line",
            here.join("src/bin/facetrack"),
            "main.rs",
            true,
        ),
        ("trainer", here.join("train/src"), "lib.rs", false),
        ("Python package", here.join("python/src"), "lib.rs", true),
    ] {
        for c in circles(&root, file, counts) {
            bad.push(format!("{what}: {c}"));
        }
    }
    assert!(bad.is_empty(), "import circles:\n{}", bad.join("\n"));
}

#[test]
fn the_layer_check_sees_grouped_uses() {
    // the layering rule applied to what crate_paths reads (a grouped use that points up)
    let t = "use crate::{core::image::GrayImage, output::sink::Sink};";
    let tops: Vec<String> = crate_paths(t).iter().map(|p| p[0].clone()).collect();
    assert!(tops.contains(&"output".to_string()));
}
