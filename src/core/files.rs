//! The one folder lister: the files of a folder with given extensions, sorted, and (for
//! the command line's folder inputs) every entry it did not take, with why.

use std::path::{Path, PathBuf};

/// Video file extensions the batch pipeline picks from a folder: containers FFmpeg
/// reads, animated GIF included.
pub const VIDEO_EXT: [&str; 23] = [
    "mp4", "avi", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "wmv", "flv", "gif", "ts", "mts",
    "m2ts", "3gp", "3g2", "ogv", "vob", "mxf", "dv", "f4v", "asf", "y4m",
];
/// Image file extensions `facetrack image` picks from a folder. HEIF/HEIC is taken so
/// that such a photo gets its own error (what to convert it with) rather than a skip.
pub const IMAGE_EXT: [&str; 11] = [
    "jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "avif", "heic", "heif", "jfif",
];

/// Why a folder entry was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A subfolder, and the listing was not recursive.
    Folder,
    /// A link to a folder: never followed, so a link cannot make the walk loop.
    FolderLink,
    /// A file whose extension is not one of those asked for (lower case; empty: none).
    Extension(String),
    /// Neither a file nor a folder (a socket, a device, a link to nothing).
    NotAFile,
    /// The entry could not be read.
    Unreadable(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Folder => write!(f, "a subfolder (add --recursive to go into subfolders)"),
            SkipReason::FolderLink => write!(f, "a link to a folder (links are not followed)"),
            SkipReason::Extension(e) if e.is_empty() => write!(f, "no file extension"),
            SkipReason::Extension(e) => write!(f, "extension .{e} is not one facetrack takes here"),
            SkipReason::NotAFile => write!(f, "not a regular file (or a link to nothing)"),
            SkipReason::Unreadable(m) => write!(f, "cannot be read: {m}"),
        }
    }
}

/// An entry a folder listing did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: SkipReason,
}

/// What a folder listing found: the files taken (sorted by path) and the entries not
/// taken (sorted by path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
}

/// The files in `dir` (and, when `recursive`, in its subfolders, links to folders not
/// followed) whose extension is one of `ext` (any case), and every other entry with why
/// it was left out. A folder that cannot be read at the top is an error; below it, a
/// skipped entry.
pub fn list_folder(dir: &Path, ext: &[&str], recursive: bool) -> std::io::Result<Listing> {
    let mut out = Listing::default();
    walk(dir, ext, recursive, &mut out, true)?;
    out.files.sort();
    out.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(
    dir: &Path,
    ext: &[&str],
    recursive: bool,
    out: &mut Listing,
    top: bool,
) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if !top => {
            out.skipped.push(Skipped {
                path: dir.to_path_buf(),
                reason: SkipReason::Unreadable(e.to_string()),
            });
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                out.skipped.push(Skipped {
                    path: dir.to_path_buf(),
                    reason: SkipReason::Unreadable(err.to_string()),
                });
                continue;
            }
        };
        let path = e.path();
        let is_link = e.file_type().map(|t| t.is_symlink()).unwrap_or(false);
        // follows a link: a link to a file is that file
        let meta = std::fs::metadata(&path);
        let skip = |reason| Skipped {
            path: path.clone(),
            reason,
        };
        match meta {
            Ok(m) if m.is_dir() => {
                if is_link {
                    out.skipped.push(skip(SkipReason::FolderLink));
                } else if recursive {
                    walk(&path, ext, recursive, out, false)?;
                } else {
                    out.skipped.push(skip(SkipReason::Folder));
                }
            }
            Ok(m) if m.is_file() => {
                let e = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                if ext.contains(&e.as_str()) {
                    out.files.push(path);
                } else {
                    out.skipped.push(skip(SkipReason::Extension(e)));
                }
            }
            _ => out.skipped.push(skip(SkipReason::NotAFile)),
        }
    }
    Ok(())
}

/// The files (not folders) directly in `dir` whose extension is one of `ext` (any case),
/// sorted by path.
pub fn with_extension(dir: &Path, ext: &[&str]) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ext.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_matching_files_sorted_in_any_case() {
        let d = std::env::temp_dir().join(format!("ft-files-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub.mp4")).unwrap();
        for n in ["b.MP4", "a.mkv", "c.txt", "d.png"] {
            std::fs::write(d.join(n), b"x").unwrap();
        }
        let got = with_extension(&d, &VIDEO_EXT).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["a.mkv", "b.MP4"],
            "a folder named like a video is no video"
        );
        assert_eq!(with_extension(&d, &IMAGE_EXT).unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_listing_names_every_entry_it_leaves_out_and_recurses_on_request() {
        let d = std::env::temp_dir().join(format!("ft-list-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
        for n in [
            "a.JPG",
            "notes.txt",
            "README",
            "sub/b.png",
            "sub/deeper/c.webp",
        ] {
            std::fs::write(d.join(n), b"x").unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(&d, d.join("sub/loop")).unwrap();
        let flat = list_folder(&d, &IMAGE_EXT, false).unwrap();
        assert_eq!(flat.files, [d.join("a.JPG")]);
        let why: Vec<(PathBuf, SkipReason)> = flat
            .skipped
            .iter()
            .map(|s| (s.path.clone(), s.reason.clone()))
            .collect();
        assert_eq!(
            why,
            [
                (d.join("README"), SkipReason::Extension(String::new())),
                (d.join("notes.txt"), SkipReason::Extension("txt".into())),
                (d.join("sub"), SkipReason::Folder),
            ]
        );
        let deep = list_folder(&d, &IMAGE_EXT, true).unwrap();
        assert_eq!(
            deep.files,
            [
                d.join("a.JPG"),
                d.join("sub/b.png"),
                d.join("sub/deeper/c.webp")
            ]
        );
        #[cfg(unix)]
        assert!(deep
            .skipped
            .iter()
            .any(|s| s.path == d.join("sub/loop") && s.reason == SkipReason::FolderLink));
        assert!(list_folder(&d.join("missing"), &IMAGE_EXT, true).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
