//! Output files, written so that no user file is damaged: every output path is checked
//! against every input and every other output before anything is opened for writing;
//! an existing output is kept unless the user allows overwriting it; and each output is
//! written under a visible temporary name (`NAME.partial.EXT`, readable while it grows:
//! CSV rows are flushed frame by frame) that is renamed to the final name only when the
//! run ends. An interrupted run (Ctrl-C) is renamed too; a crash or kill leaves the
//! `.partial` file with everything written so far, and the old file under the final
//! name, if any, untouched.

use std::path::{Path, PathBuf};

/// Why an output cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    #[error("the output {output} is the input {input}; choose another output name")]
    SameAsInput { output: PathBuf, input: PathBuf },
    #[error("{a} and {b} are the same file; give each output its own name")]
    SameOutput { a: PathBuf, b: PathBuf },
    #[error("the output {output} is written as {partial} until the run ends, and that is the input {input}; choose another output name")]
    PartialIsInput {
        output: PathBuf,
        partial: PathBuf,
        input: PathBuf,
    },
    #[error("{path} already exists; add --overwrite to replace it (it is replaced only when the run ends)")]
    Exists { path: PathBuf },
    #[error("{path}: the folder does not exist")]
    NoFolder { path: PathBuf },
    #[error("{path}: the path is not valid UTF-8, which FFmpeg cannot take; rename it")]
    NotUtf8 { path: PathBuf },
    #[error(
        "{a} and {b} would both write {out}; rename one of the inputs or process them separately"
    )]
    Collision {
        a: PathBuf,
        b: PathBuf,
        out: PathBuf,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An absolute, normalised form of a path that may not exist yet: its parent folder
/// canonicalised (links and `..` resolved) and its file name.
fn normalised(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(parent.canonicalize().ok()?.join(p.file_name()?))
}

/// Whether two paths name the same file: the same device and inode when both exist,
/// else the same normalised path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    match (normalised(a), normalised(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Check outputs before any is opened: none is an input or another output, each can be
/// named to FFmpeg, its folder exists, and it does not exist unless `overwrite`.
pub fn check_outputs(
    inputs: &[PathBuf],
    outputs: &[PathBuf],
    overwrite: bool,
) -> Result<(), OutputError> {
    for (k, out) in outputs.iter().enumerate() {
        if out.to_str().is_none() {
            return Err(OutputError::NotUtf8 { path: out.clone() });
        }
        let partial = partial_path(out);
        for input in inputs {
            if same_file(out, input) {
                return Err(OutputError::SameAsInput {
                    output: out.clone(),
                    input: input.clone(),
                });
            }
            // the output grows under its partial name: that must not be an input either
            if same_file(&partial, input) {
                return Err(OutputError::PartialIsInput {
                    output: out.clone(),
                    partial,
                    input: input.clone(),
                });
            }
        }
        for other in &outputs[..k] {
            if same_file(out, other)
                || same_file(&partial, other)
                || same_file(out, &partial_path(other))
            {
                return Err(OutputError::SameOutput {
                    a: other.clone(),
                    b: out.clone(),
                });
            }
        }
        if out.is_dir() {
            return Err(OutputError::Io {
                path: out.clone(),
                source: std::io::Error::other("is a folder"),
            });
        }
        let parent = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(OutputError::NoFolder { path: out.clone() });
        }
        if out.exists() && !overwrite {
            return Err(OutputError::Exists { path: out.clone() });
        }
    }
    Ok(())
}

/// The temporary name an output is written under: `NAME.partial.EXT` beside it (the
/// extension is kept, so FFmpeg still picks the container from it).
pub fn partial_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let name = match out.extension() {
        Some(e) => format!("{stem}.partial.{}", e.to_string_lossy()),
        None => format!("{stem}.partial"),
    };
    out.with_file_name(name)
}

/// Move a finished temporary output to its final name.
pub fn commit(out: &Path) -> Result<(), OutputError> {
    let tmp = partial_path(out);
    std::fs::rename(&tmp, out).map_err(|source| OutputError::Io {
        path: out.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ft-out-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_output_that_is_an_input_is_refused_by_any_name() {
        let d = temp("same");
        let input = d.join("in.mp4");
        std::fs::write(&input, b"video").unwrap();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let dotted = d.join("sub/../in.mp4");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&input, d.join("link.mp4")).unwrap();
        for out in [input.clone(), dotted, d.join("link.mp4")] {
            let e = check_outputs(
                std::slice::from_ref(&input),
                std::slice::from_ref(&out),
                true,
            )
            .unwrap_err();
            assert!(matches!(e, OutputError::SameAsInput { .. }), "{out:?}: {e}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"video");
    }

    #[test]
    fn two_outputs_of_one_name_existing_files_and_missing_folders_are_refused() {
        let d = temp("outs");
        let a = d.join("x.csv");
        let e = check_outputs(&[], &[a.clone(), d.join("./x.csv")], false).unwrap_err();
        assert!(matches!(e, OutputError::SameOutput { .. }), "{e}");
        std::fs::write(&a, b"old").unwrap();
        let e = check_outputs(&[], std::slice::from_ref(&a), false).unwrap_err();
        assert!(e.to_string().contains("--overwrite"), "{e}");
        assert!(check_outputs(&[], std::slice::from_ref(&a), true).is_ok());
        let e = check_outputs(&[], &[d.join("nope/x.csv")], true).unwrap_err();
        assert!(matches!(e, OutputError::NoFolder { .. }), "{e}");
    }

    #[test]
    fn an_input_under_an_outputs_partial_name_is_refused() {
        // `video k.partial.mp4 --annotate k.mp4 -y` would write into the video it reads
        let d = temp("partial-in");
        let input = d.join("k.partial.mp4");
        std::fs::write(&input, b"video").unwrap();
        let out = d.join("k.mp4");
        let e = check_outputs(
            std::slice::from_ref(&input),
            std::slice::from_ref(&out),
            true,
        )
        .unwrap_err();
        assert!(matches!(e, OutputError::PartialIsInput { .. }), "{e}");
        assert!(e.to_string().contains("k.partial.mp4"), "{e}");
        // two outputs where one is the other's partial name
        let e = check_outputs(&[], &[d.join("a.csv"), d.join("a.partial.csv")], true).unwrap_err();
        assert!(matches!(e, OutputError::SameOutput { .. }), "{e}");
        assert_eq!(std::fs::read(&input).unwrap(), b"video");
    }

    #[test]
    fn partial_names_keep_the_extension_and_commit_renames() {
        assert_eq!(
            partial_path(Path::new("/a/b/clip.mp4")),
            PathBuf::from("/a/b/clip.partial.mp4")
        );
        assert_eq!(partial_path(Path::new("out")), PathBuf::from("out.partial"));
        let d = temp("commit");
        let out = d.join("r.csv");
        std::fs::write(partial_path(&out), b"rows").unwrap();
        commit(&out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"rows");
        assert!(!partial_path(&out).exists());
    }
}
