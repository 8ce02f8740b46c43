//! Readers for the usual landmark datasets, shared by the trainer and the evaluation:
//! iBUG `.pts` folders, dlib/imglab XML, IMM `.asf` folders and CSV tables.
//!
//! Every reader returns points in the library's convention (0-based pixel centres, see
//! [`crate::core::geometry`]). Files state their own convention: iBUG `.pts` and the XML/CSV
//! files of `../shared/data` are **1-based** ([`CoordBase::OneBased`], the default);
//! dlib's own tools write 0-based files, so pass [`CoordBase::ZeroBased`] for those.
//! IMM `.asf` coordinates are fractions of the image size measured from the image edge.

pub mod asf;
pub mod csv_table;
pub mod pts;
pub mod xml;

use std::path::{Path, PathBuf};

use crate::core::geometry::{FaceBox, Point};
use crate::core::layout::PointSet;

/// The pixel convention of a label file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CoordBase {
    /// The centre of the top-left pixel is (1, 1): iBUG `.pts`, MATLAB, `../shared/data`.
    #[default]
    OneBased,
    /// The centre of the top-left pixel is (0, 0): dlib, OpenCV.
    ZeroBased,
}

impl CoordBase {
    /// Offset to subtract from a file coordinate to get a library [`Point`] coordinate.
    pub fn offset(self) -> f32 {
        match self {
            CoordBase::OneBased => 1.0,
            CoordBase::ZeroBased => 0.0,
        }
    }
}

/// One annotated face.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The image file.
    pub image: PathBuf,
    /// The annotated points (0-based pixel centres).
    pub points: Vec<Point>,
    /// A face box given by the file (e.g. a detector box), if any.
    pub face_box: Option<FaceBox>,
    /// Who the face belongs to, where the dataset says (used to split without leakage).
    pub subject: String,
}

/// A file or record that was left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// A loaded dataset.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Where it came from (the path given).
    pub source: PathBuf,
    pub samples: Vec<Sample>,
    /// Records that could not be used (bad label file, missing image, wrong point count).
    pub skipped: Vec<Skipped>,
}

/// Options for [`load`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    pub base: CoordBase,
    /// Keep only samples with this many points (`None`: the format's usual count).
    pub expect_points: Option<usize>,
}

impl LoadOptions {
    /// 300-W's iBUG `.pts` files: 1-based coordinates, 68 points.
    pub fn ibug68() -> Self {
        LoadOptions {
            base: CoordBase::OneBased,
            expect_points: Some(68),
        }
    }
}

/// Why a dataset or label file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: expected {expected} points, found {got}")]
    PointCount {
        path: PathBuf,
        expected: usize,
        got: usize,
    },
    #[error("{path}: the image {image} does not exist")]
    MissingImage { path: PathBuf, image: PathBuf },
    #[error("{path}: not a dataset facetrack can read (a folder of .pts or .asf files, an .xml or a .csv file)")]
    Unrecognised { path: PathBuf },
    #[error("{path}: no usable face in this dataset ({skipped} records skipped{first})")]
    Empty {
        path: PathBuf,
        skipped: usize,
        first: String,
    },
}

impl DatasetError {
    pub(crate) fn parse(path: &Path, line: usize, message: impl Into<String>) -> Self {
        DatasetError::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The file this error is about: the dataset given, or a file of it.
    pub fn path(&self) -> &Path {
        match self {
            DatasetError::Io { path, .. }
            | DatasetError::Parse { path, .. }
            | DatasetError::PointCount { path, .. }
            | DatasetError::MissingImage { path, .. }
            | DatasetError::Unrecognised { path }
            | DatasetError::Empty { path, .. } => path,
        }
    }

    /// This error as said of the dataset `dataset` (a `--data` path) it came from.
    pub fn in_dataset(self, dataset: &Path) -> InDataset {
        InDataset {
            dataset: dataset.to_path_buf(),
            error: self,
        }
    }
}

/// A [`DatasetError`] with the dataset it came from: "dataset td: no such file or folder"
/// when the error is about the dataset's own path (which it names), "dataset 300w:
/// 300w/a.pts:3: ..." when it is about a file of it; the cause's text once.
#[derive(Debug)]
pub struct InDataset {
    pub dataset: PathBuf,
    pub error: DatasetError,
}

impl std::fmt::Display for InDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.error.path() == self.dataset {
            true => write!(f, "dataset {}", self.error),
            false => write!(f, "dataset {}: {}", self.dataset.display(), self.error),
        }
    }
}

// (the message shows the cause: no `source`, or printers of the whole chain repeat it)
impl std::error::Error for InDataset {}

/// The files a dataset is made of, resolved, for keeping outputs off them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetFiles {
    /// A dataset folder: every file under it.
    Folder(PathBuf),
    /// A dataset file (a CSV, a dlib XML, one `.pts`, a pack): the file itself and the
    /// images its faces name (not the rest of its folder, which may hold anything).
    Files(Vec<PathBuf>),
}

impl DatasetFiles {
    /// Whether writing `out` would replace one of these files (`out` resolved; one that
    /// does not exist yet replaces nothing, except under a dataset folder, which stays
    /// the dataset's: `inside_folder_too`).
    pub fn holds(&self, out: &Path, inside_folder_too: bool) -> bool {
        let resolved = out.canonicalize().ok();
        match self {
            DatasetFiles::Folder(f) => match &resolved {
                Some(c) => c.starts_with(f),
                None => {
                    inside_folder_too && nearest_resolved(out).is_some_and(|c| c.starts_with(f))
                }
            },
            DatasetFiles::Files(v) => resolved.is_some_and(|c| v.contains(&c)),
        }
    }
}

/// `p` resolved through its nearest existing ancestor (the rest of the path appended as
/// given): where a file not made yet would be.
fn nearest_resolved(p: &Path) -> Option<PathBuf> {
    let base = p
        .ancestors()
        .find(|a| !a.as_os_str().is_empty() && a.exists());
    match base {
        Some(a) => Some(a.canonicalize().ok()?.join(p.strip_prefix(a).ok()?)),
        None => Some(std::env::current_dir().ok()?.join(p)),
    }
}

/// What [`DatasetFiles`] a dataset path is: a folder, or a file with the images its labels
/// name (read with [`load`]; no image is decoded).
pub fn dataset_files(path: &Path) -> DatasetFiles {
    let Ok(c) = path.canonicalize() else {
        return DatasetFiles::Files(Vec::new());
    };
    if c.is_dir() {
        return DatasetFiles::Folder(c);
    }
    let mut files = vec![c];
    if let Ok(ds) = load(path, LoadOptions::default()) {
        files.extend(
            ds.samples
                .iter()
                .filter_map(|s| s.image.canonicalize().ok()),
        );
        // a record left out is still the dataset's (its path is its image or label file
        // where it has one, else FILE:LINE, which resolves to nothing)
        files.extend(ds.skipped.iter().filter_map(|k| k.path.canonicalize().ok()));
    }
    DatasetFiles::Files(files)
}

/// The largest coordinate a label file may give, pixels: photos are at most 32,768 pixels
/// a side, and a point at 1e20 made its face's error infinite (left out of every mean).
pub const MAX_COORDINATE: f32 = 1.0e6;

/// Parse a number, naming the file and line when it is not one (or not finite, or beyond
/// [`MAX_COORDINATE`]).
pub(crate) fn parse_f32(path: &Path, line: usize, tok: &str) -> Result<f32, DatasetError> {
    match tok.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && v.abs() <= MAX_COORDINATE => Ok(v),
        Ok(v) if v.is_finite() => Err(DatasetError::parse(
            path,
            line,
            format!("'{tok}' is beyond any picture (over 1,000,000 pixels)"),
        )),
        _ => Err(DatasetError::parse(
            path,
            line,
            format!("'{tok}' is not a finite number"),
        )),
    }
}

/// The kind of dataset at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    PtsFolder,
    ImmFolder,
    Xml,
    Csv,
}

/// Guess the format from the path: a folder holding `.asf` files is IMM, one holding
/// `.pts` files (at any depth) is iBUG; otherwise the file extension decides.
pub fn detect(path: &Path) -> Result<Format, DatasetError> {
    if path.is_dir() {
        let files = walk(path).map_err(|e| DatasetError::io(path, e))?;
        if files.iter().any(|p| has_ext(p, "asf")) {
            return Ok(Format::ImmFolder);
        }
        if files.iter().any(|p| has_ext(p, "pts")) {
            return Ok(Format::PtsFolder);
        }
        return Err(DatasetError::Unrecognised {
            path: path.to_path_buf(),
        });
    }
    if !path.exists() {
        return Err(DatasetError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    if has_ext(path, "xml") {
        Ok(Format::Xml)
    } else if has_ext(path, "csv") {
        Ok(Format::Csv)
    } else if has_ext(path, "pts") {
        Ok(Format::PtsFolder)
    } else {
        Err(DatasetError::Unrecognised {
            path: path.to_path_buf(),
        })
    }
}

/// The point set a format annotates by default.
pub fn default_point_set(format: Format) -> PointSet {
    match format {
        Format::ImmFolder => PointSet::Imm58,
        _ => PointSet::Ibug68,
    }
}

/// Load any supported dataset. Records that cannot be used are listed in
/// [`Dataset::skipped`]; a dataset with no usable face is an error.
pub fn load(path: &Path, opts: LoadOptions) -> Result<Dataset, DatasetError> {
    let format = detect(path)?;
    let ds = match format {
        Format::PtsFolder => pts::load_folder(path, opts)?,
        Format::ImmFolder => asf::load_folder(path, opts)?,
        Format::Xml => xml::load(path, opts)?,
        Format::Csv => csv_table::load(path, opts)?,
    };
    let mut ds = ds;
    // labels that put every point in one place (a file of zeros, a tool's placeholder)
    // would train towards, and be scored against, no face at all
    let (kept, degenerate): (Vec<Sample>, Vec<Sample>) = std::mem::take(&mut ds.samples)
        .into_iter()
        .partition(|s| labels_span(&s.points) >= MIN_LABEL_SPAN);
    ds.samples = kept;
    ds.skipped.extend(degenerate.into_iter().map(|s| Skipped {
        path: s.image,
        reason: format!(
            "its {} points span under {MIN_LABEL_SPAN} pixels (labels that mark no face)",
            s.points.len()
        ),
    }));
    if ds.samples.is_empty() {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
            skipped: ds.skipped.len(),
            first: ds
                .skipped
                .first()
                .map(|s| format!("; first: {}: {}", s.path.display(), s.reason))
                .unwrap_or_default(),
        });
    }
    Ok(ds)
}

/// The least extent, in pixels, of a sample's points (the larger side of their box) for
/// its labels to mark a face.
pub const MIN_LABEL_SPAN: f32 = 2.0;

/// The larger side of the points' bounding box (0 for no points).
fn labels_span(points: &[Point]) -> f32 {
    FaceBox::from_points(points).map_or(0.0, |b| b.width.max(b.height))
}

/// All files below `dir`, sorted, so datasets load in the same order everywhere.
pub fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// The image beside a label file: same stem, the first of the usual extensions that exists.
pub(crate) fn sibling_image(label: &Path) -> Option<PathBuf> {
    ["jpg", "png", "jpeg", "JPG", "PNG", "bmp"]
        .iter()
        .map(|e| label.with_extension(e))
        .find(|p| p.is_file())
}

/// Stable 64-bit FNV-1a, so splits do not depend on the Rust version.
pub fn fnv1a(s: &str, seed: u64) -> u64 {
    let mut h = 0xcbf29ce484222325u64 ^ seed.wrapping_mul(0x100000001b3);
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Whether a subject falls in the held-out share `fraction` for `seed`. The trainer's
/// validation split and `facetrack eval --holdout` use this one rule, so they agree.
pub fn is_held_out(subject: &str, fraction: f32, seed: u64) -> bool {
    (fnv1a(subject, seed) % 1_000_000) as f32 / 1_000_000.0 < fraction
}

/// Share of 300-W-style subjects set aside as the **test** split: no training, validation,
/// averaging or hyper-parameter choice ever sees them. Fixed (not the user's seed), so
/// every run and `facetrack eval --split test` agree on it.
pub const TEST_FRACTION: f32 = 0.1;
/// Hash seed of the test split.
pub const TEST_SEED: u64 = 0x7E57_5EED_0300;

/// Whether a subject belongs to the fixed test split ([`TEST_FRACTION`]).
pub fn is_test_subject(subject: &str) -> bool {
    is_held_out(subject, TEST_FRACTION, TEST_SEED)
}

/// Which part of a split a subject falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Train,
    Validation,
    Test,
}

/// The split of a 300-W-style subject: the fixed test split first, then `val_fraction`
/// of the rest (seeded) for validation. The trainer and `facetrack eval --split` use it.
pub fn part_of(subject: &str, val_fraction: f32, seed: u64) -> Part {
    if is_test_subject(subject) {
        Part::Test
    } else if is_held_out(subject, val_fraction, seed) {
        Part::Validation
    } else {
        Part::Train
    }
}

/// Subject of a named identity such as `AJ_Cook_0001` or `Abdel_Aziz_Al-Hakim_01`:
/// the name without its trailing `_<number>`.
pub fn identity_subject(stem: &str) -> String {
    match stem.rsplit_once('_') {
        Some((who, k))
            if !who.is_empty() && !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) =>
        {
            who.to_string()
        }
        _ => stem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_and_validation_parts_are_disjoint_and_near_their_shares() {
        let mut counts = [0usize; 3];
        for i in 0..20_000 {
            let s = format!("subject{i}");
            let p = part_of(&s, 0.1, 42);
            counts[p as usize] += 1;
            if p == Part::Validation {
                assert!(!is_test_subject(&s));
            }
            // the test part does not move with the validation seed
            assert_eq!(p == Part::Test, part_of(&s, 0.3, 7) == Part::Test);
        }
        assert!(
            (1700..2300).contains(&counts[Part::Test as usize]),
            "{counts:?}"
        );
        assert!(
            (1500..2100).contains(&counts[Part::Validation as usize]),
            "{counts:?}"
        );
    }

    #[test]
    fn identity_subjects() {
        assert_eq!(identity_subject("AJ_Cook_0001"), "AJ_Cook");
        assert_eq!(identity_subject("100032540_1"), "100032540");
        assert_eq!(identity_subject("plain"), "plain");
        assert_eq!(identity_subject("x_"), "x_");
    }
}
