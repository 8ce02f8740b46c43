//! The inputs of a command: files named on the command line, and folders expanded to the
//! files in them (with `--recursive`, in their subfolders too). Every folder entry left
//! out is named on stderr with why, and counted for the summary.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use facetrack::core::files::list_folder;

/// The inputs with `-` read as standard input (`/dev/stdin`; taken here, not by a parser
/// of UTF-8 text: a path that is not UTF-8 gets its own message from the decoder). A
/// terminal there would be waited on in silence until the user typed a file: refused,
/// with `how` (the command that pipes one in).
pub fn with_stdin(inputs: &[PathBuf], how: &str) -> Result<Vec<PathBuf>> {
    use std::io::IsTerminal;
    let given: Vec<PathBuf> = inputs
        .iter()
        .map(|p| match p.as_os_str() == "-" {
            true => PathBuf::from("/dev/stdin"),
            false => p.clone(),
        })
        .collect();
    if given.iter().any(|p| p.as_os_str() == "/dev/stdin") && std::io::stdin().is_terminal() {
        bail!("standard input is a terminal; {how}");
    }
    Ok(given)
}

/// Make the output folder `dir` (and its parents) where it is missing; a file in its
/// place is named as one, not as "File exists".
pub fn create_folder(dir: &Path) -> Result<()> {
    // (a broken symbolic link is something there too)
    if dir.symlink_metadata().is_ok() && !dir.is_dir() {
        bail!(
            "{}: a file is there; an output folder is needed (name another)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot make the folder {}: {e}{}",
            dir.display(),
            facetrack::output::sink::create_hint(&e)
        )
    })
}

/// The output folders a run made, removed again (those still empty, deepest first) when
/// it is dropped before [`MadeFolders::keep`]: a run refused before its work starts (an
/// output check, a model that does not load) leaves no folder behind.
#[derive(Debug, Default)]
pub struct MadeFolders {
    made: Vec<PathBuf>,
    keep: bool,
}

impl MadeFolders {
    /// [`create_folder`], noting each folder on the way that was not there.
    pub fn create(&mut self, dir: &Path) -> Result<()> {
        let mut missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
            .map(Path::to_path_buf)
            .collect();
        let made = create_folder(dir);
        // (also those made before a failure part-way)
        missing.reverse();
        self.made.extend(missing.into_iter().filter(|d| d.is_dir()));
        made
    }

    /// The run has started: its folders stay.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for MadeFolders {
    fn drop(&mut self) {
        if !self.keep {
            for d in self.made.iter().rev() {
                let _ = std::fs::remove_dir(d); // only when still empty
            }
        }
    }
}

/// One input file and where its outputs go below an output folder.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    /// The file's path relative to the folder input it was found in (its file name when it
    /// was named itself), so that outputs mirror the subfolders and two `a.jpg` in
    /// different subfolders never write one output.
    pub relative: PathBuf,
}

impl Input {
    /// The output for this input in folder `dir`: the same subfolders, the file's stem and
    /// extension `ext`.
    pub fn output_in(&self, dir: &Path, ext: &str) -> PathBuf {
        let stem = self
            .relative
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let sub = self.relative.parent().unwrap_or(Path::new(""));
        dir.join(sub).join(format!("{stem}.{ext}"))
    }
}

/// The expanded inputs and how many folder entries were left out.
pub struct Inputs {
    pub files: Vec<Input>,
    pub skipped: usize,
}

/// "N folder entries skipped", for the summaries.
pub fn skipped_phrase(n: usize) -> String {
    if n == 1 {
        "1 folder entry skipped".into()
    } else {
        format!("{n} folder entries skipped")
    }
}

/// Expand `inputs`: a folder gives its files with one of `ext`; `none` is the error for a
/// folder with no such file (the skipped entries are listed before it).
pub fn expand(inputs: &[PathBuf], ext: &[&str], recursive: bool, none: &str) -> Result<Inputs> {
    let mut out = Inputs {
        files: Vec::new(),
        skipped: 0,
    };
    for p in inputs {
        if !p.is_dir() {
            out.files.push(Input {
                path: p.clone(),
                relative: PathBuf::from(p.file_name().unwrap_or(p.as_os_str())),
            });
            continue;
        }
        let listing = list_folder(p, ext, recursive)
            .with_context(|| format!("reading folder {}", p.display()))?;
        for s in &listing.skipped {
            eprintln!("skipped {}: {}", s.path.display(), s.reason);
        }
        out.skipped += listing.skipped.len();
        if listing.files.is_empty() {
            bail!("{}: {none}", p.display());
        }
        for f in listing.files {
            let relative = f
                .strip_prefix(p)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| PathBuf::from(f.file_name().unwrap_or(f.as_os_str())));
            out.files.push(Input { path: f, relative });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_mirror_the_subfolders() {
        let i = Input {
            path: PathBuf::from("/photos/2024/a.jpg"),
            relative: PathBuf::from("2024/a.jpg"),
        };
        assert_eq!(
            i.output_in(Path::new("out"), "png"),
            PathBuf::from("out/2024/a.png")
        );
        let top = Input {
            path: PathBuf::from("/x/b.mp4"),
            relative: PathBuf::from("b.mp4"),
        };
        assert_eq!(
            top.output_in(Path::new("out"), "csv"),
            PathBuf::from("out/b.csv")
        );
    }
}
