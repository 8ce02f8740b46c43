//! The one folder lister: the files of a folder with given extensions, sorted.

use std::path::{Path, PathBuf};

/// Video file extensions the batch pipeline picks from a folder.
pub const VIDEO_EXT: [&str; 10] = [
    "mp4", "avi", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "wmv", "flv",
];
/// Image file extensions `facetrack image` picks from a folder.
pub const IMAGE_EXT: [&str; 6] = ["jpg", "jpeg", "png", "bmp", "tif", "tiff"];

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
}
