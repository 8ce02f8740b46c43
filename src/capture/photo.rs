//! Still photos from disk, as a person's photo viewer shows them: the format is told by
//! the file's bytes; JPEG, PNG, BMP, WebP and TIFF go through the `image` crate, AVIF
//! through FFmpeg (feature `video`: a still image read as a one-frame video), and HEIF/HEIC
//! through libheif (feature `heif`; without it, refused with what to do). The EXIF orientation tag is
//! applied unless the caller keeps the stored orientation, so a phone photo taken upright
//! is upright, and the points found on it are in the orientation it is displayed in.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder};

use crate::core::image::ImageError;

pub use crate::core::orientation::OrientationRule;

/// A container format told by the first bytes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// AVIF (an ISO-BMFF `ftyp` box with an `avif`/`avis` brand).
    Avif,
    /// HEIF/HEIC (an ISO-BMFF `ftyp` box with a HEIF brand and no AVIF one).
    Heif,
    /// Anything else: left to the `image` crate.
    Other,
}

/// Why a photo could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PhotoError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[cfg(feature = "heif")]
    #[error(transparent)]
    HeifDecode(#[from] crate::capture::heif::HeifError),
    #[error("{path}: HEIF/HEIC photos cannot be read by this build of facetrack; convert it first, e.g. `heif-convert {name} {stem}.jpg` (Debian package libheif-examples) or `convert {name} {stem}.jpg` (ImageMagick), and run on the JPEG")]
    Heif {
        path: PathBuf,
        name: String,
        stem: String,
    },
    #[error("{path}: {format} photos are read through FFmpeg, which this build of facetrack leaves out (the `video` feature)")]
    AvifWithoutFfmpeg { path: PathBuf, format: &'static str },
    #[cfg(feature = "video")]
    #[error("{path}: cannot read the {format} photo: {source}")]
    Avif {
        path: PathBuf,
        format: &'static str,
        #[source]
        source: crate::capture::source::SourceError,
    },
    #[error("{path}: the {format} photo holds no picture FFmpeg could decode")]
    AvifEmpty { path: PathBuf, format: &'static str },
    #[error("{path}: not a photo facetrack reads (it reads {READABLE})")]
    Unknown { path: PathBuf },
    #[error("{path}: a video (or animation), not a photo: `facetrack video` reads it")]
    Video { path: PathBuf },
    #[error("{path}: the file is empty (0 bytes)")]
    EmptyFile { path: PathBuf },
    #[error("cannot read image {path}: the JPEG data is damaged or cut short (the file ends before the picture does)")]
    CutShort { path: PathBuf },
    #[error("cannot read image {path}: the picture is {width}x{height} pixels; facetrack reads photos of up to {MAX_PHOTO_SIDE} pixels a side and {} megapixels", MAX_PHOTO_PIXELS / 1_000_000)]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("{path}: the file is {mb} MB; facetrack reads photo files of up to {} MB", MAX_PHOTO_FILE >> 20)]
    FileTooLarge { path: PathBuf, mb: u64 },
    #[error("{path}: more than {} MB came from it; facetrack reads photo files of up to {} MB", MAX_PHOTO_FILE >> 20, MAX_PHOTO_FILE >> 20)]
    StreamTooLarge { path: PathBuf },
    #[error("{path}: {format} photo is read from a file, not a pipe or a device; save it to a file first")]
    NotAFile { path: PathBuf, format: &'static str },
}

/// The longest side of a photo that is decoded (larger ones are refused before their
/// pixels are allocated: a small file can claim any size in its header).
pub const MAX_PHOTO_SIDE: u32 = 32_768;
/// The largest photo file read (it is read whole before decoding).
pub const MAX_PHOTO_FILE: u64 = 1 << 30;
/// The most pixels a decoded photo may have (200 megapixels: 600 MB as RGB).
pub const MAX_PHOTO_PIXELS: u64 = 200_000_000;

/// The still formats this build reads, for messages.
#[cfg(feature = "heif")]
pub const READABLE: &str = "JPEG, PNG, BMP, WebP, TIFF, AVIF and HEIF/HEIC";
/// The still formats this build reads, for messages.
#[cfg(not(feature = "heif"))]
pub const READABLE: &str = "JPEG, PNG, BMP, WebP, TIFF and AVIF";

/// A decoded photo and the orientation tag its file carried.
#[derive(Debug, Clone)]
pub struct Photo {
    /// The pixels, turned to the displayed orientation unless [`OrientationRule::Keep`].
    pub image: DynamicImage,
    /// The file's orientation tag (`NoTransforms` when it has none).
    pub stored: Orientation,
    /// Whether the file's orientation (`stored`; for HEIF, its own rotation and mirror
    /// boxes) was applied to `image`.
    pub applied: bool,
    /// The pictures the file holds (a multi-page TIFF's pages); `image` is the first.
    pub pages: usize,
}

/// ISO-BMFF brands of HEIF stills (HEVC-coded and the generic image brands).
const HEIF_BRANDS: [&[u8; 4]; 8] = [
    b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
];
/// ISO-BMFF brands of AVIF stills and sequences.
const AVIF_BRANDS: [&[u8; 4]; 2] = [b"avif", b"avis"];
/// Bytes read to tell the format: the `ftyp` box with its first compatible brands.
const SNIFF_BYTES: usize = 64;

/// Tell AVIF and HEIF from the first bytes of a file (an `ftyp` box: size, `ftyp`, major
/// brand, minor version, compatible brands). AVIF wins when both kinds of brand appear,
/// since AVIF files also list the generic `mif1`.
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.len() < 12 || &head[4..8] != b"ftyp" {
        return Sniffed::Other;
    }
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let end = size.clamp(12, head.len());
    let mut brands: Vec<&[u8]> = vec![&head[8..12]];
    brands.extend(head.get(16..end).unwrap_or(&[]).chunks_exact(4));
    if brands.iter().any(|b| AVIF_BRANDS.iter().any(|a| a == b)) {
        Sniffed::Avif
    } else if brands.iter().any(|b| HEIF_BRANDS.iter().any(|h| h == b)) {
        Sniffed::Heif
    } else {
        Sniffed::Other
    }
}

fn io_error(path: &Path, source: std::io::Error) -> PhotoError {
    PhotoError::Image(ImageError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Read and decode a photo, turned as `rule` says. Its bytes are read once, from one
/// open, so a pipe or a FIFO (`/dev/stdin`, `<(cat photo.jpg)`) is read like a file:
/// the first bytes tell the format, then a format the `image` crate decodes is read whole
/// (up to [`MAX_PHOTO_FILE`] bytes, from a pipe as from a file), and a HEIF or AVIF file is
/// handed to libheif or FFmpeg by its path (from a pipe, refused).
pub fn open_photo(path: &Path, rule: OrientationRule) -> Result<Photo, PhotoError> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    let regular = meta.is_file();
    if regular && meta.len() > MAX_PHOTO_FILE {
        return Err(PhotoError::FileTooLarge {
            path: path.to_path_buf(),
            mb: meta.len().div_ceil(1 << 20),
        });
    }
    let mut bytes = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    let kind = sniff(&bytes);
    if kind != Sniffed::Other {
        drop(file);
        if !regular {
            // libheif and FFmpeg read these from the file's path, which a pipe cannot
            // give a second time
            return Err(PhotoError::NotAFile {
                path: path.to_path_buf(),
                format: if kind == Sniffed::Heif {
                    "a HEIF/HEIC"
                } else {
                    "an AVIF"
                },
            });
        }
        return match kind {
            Sniffed::Heif => open_heif(path, rule),
            _ => open_avif(path),
        };
    }
    // the rest, whole (a JPEG's end is checked): a photo file is far smaller
    if regular {
        bytes.reserve((meta.len() as usize).saturating_sub(bytes.len()));
    }
    (&mut file)
        .take(MAX_PHOTO_FILE + 1 - bytes.len() as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > MAX_PHOTO_FILE {
        // a device or a pipe that goes on (/dev/zero)
        return Err(PhotoError::StreamTooLarge {
            path: path.to_path_buf(),
        });
    }
    drop(file);
    if bytes.is_empty() {
        return Err(PhotoError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let mut photo = decode_with_image_crate(path, &bytes, rule, regular)?;
    photo.pages = tiff_pages(&bytes);
    Ok(photo)
}

/// How many pages a TIFF file holds: the pictures in its chain of image directories,
/// less the reduced-resolution copies (thumbnails) and transparency masks, as their
/// NewSubfileType or SubfileType marks them; classic and BigTIFF. 1 for any other file, and where the chain cannot be followed.
pub fn tiff_pages(b: &[u8]) -> usize {
    let (le, big) = match b.get(..4) {
        Some(b"II*\0") => (true, false),
        Some(b"MM\0*") => (false, false),
        Some(b"II+\0") => (true, true),
        Some(b"MM\0+") => (false, true),
        _ => return 1,
    };
    let uint = |at: usize, n: usize| -> Option<u64> {
        let s = b.get(at..at.checked_add(n)?)?;
        Some(s.iter().enumerate().fold(0u64, |v, (i, &x)| {
            let shift = 8 * if le { i } else { n - 1 - i };
            v | (x as u64) << shift
        }))
    };
    // classic: 2-byte entry count, 12-byte entries, 4-byte offsets; BigTIFF: 8, 20, 8
    let (count_len, entry_len, off_len) = if big { (8, 20, 8) } else { (2, 12, 4) };
    let mut next = uint(if big { 8 } else { 4 }, off_len);
    let (mut pages, mut seen) = (0usize, std::collections::HashSet::new());
    while let Some(at) = next
        .filter(|&o| o != 0)
        .and_then(|o| usize::try_from(o).ok())
    {
        // a chain that loops or runs past the file ends where it went wrong
        if !seen.insert(at) || seen.len() > 100_000 {
            break;
        }
        let Some(n) = uint(at, count_len).and_then(|n| usize::try_from(n).ok()) else {
            break;
        };
        let entries = at + count_len;
        // a directory cut short by the file's end is no page
        let Some(after) = n
            .checked_mul(entry_len)
            .and_then(|len| entries.checked_add(len))
            .and_then(|end| uint(end, off_len))
        else {
            break;
        };
        let not_a_page = (0..n.min(4096)).any(|k| {
            let e = entries + k * entry_len;
            // the value, at the start of its field: a SHORT (3) or a LONG
            let value = match uint(e + 2, 2) {
                Some(3) => uint(e + 4 + off_len, 2),
                _ => uint(e + 4 + off_len, 4),
            };
            match uint(e, 2) {
                // NewSubfileType: bit 0 a reduced-resolution copy, bit 2 a transparency mask
                Some(254) => value.is_some_and(|v| v & 0b101 != 0),
                // the older SubfileType: 2 a reduced-resolution copy
                Some(255) => value == Some(2),
                _ => false,
            }
        });
        if !not_a_page {
            pages += 1;
        }
        next = Some(after);
    }
    pages.max(1)
}

/// HEIF/HEIC through libheif, which applies the file's own rotation and mirror boxes.
#[cfg(feature = "heif")]
fn open_heif(path: &Path, rule: OrientationRule) -> Result<Photo, PhotoError> {
    let apply = rule == OrientationRule::Apply;
    let rgb = crate::capture::heif::decode_rgb(path, apply)?;
    Ok(Photo {
        image: DynamicImage::ImageRgb8(rgb),
        stored: Orientation::NoTransforms,
        applied: apply,
        pages: 1,
    })
}

#[cfg(not(feature = "heif"))]
fn open_heif(path: &Path, _rule: OrientationRule) -> Result<Photo, PhotoError> {
    Err(PhotoError::Heif {
        path: path.to_path_buf(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        stem: path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "photo".into()),
    })
}

/// Whether a file's first bytes are a video container's (MP4/MOV, AVI, Matroska/WebM,
/// MPEG-TS, FLV) or a GIF's, which `image` does not take but `video` does. (HEIF and
/// AVIF, whose `ftyp` boxes name their brands, are told apart before this; Canon's CR3
/// raw photos are `ftyp crx `.)
fn looks_like_video(b: &[u8]) -> bool {
    let at = |i: usize, s: &[u8]| b.get(i..i + s.len()) == Some(s);
    (at(4, b"ftyp") && !at(8, b"crx "))
        || (at(0, b"RIFF") && at(8, b"AVI "))
        || at(0, &[0x1A, 0x45, 0xDF, 0xA3])
        || (b.len() > 376 && b[0] == 0x47 && b[188] == 0x47 && b[376] == 0x47)
        || at(0, b"FLV")
        || at(0, b"GIF8")
}

/// A TIFF whose kind the image crate does not decode (YCbCr pictures, as FFmpeg and
/// scanners write them; some compressions) is decoded by FFmpeg's TIFF decoder instead,
/// where it is a file FFmpeg can open by name.
fn tiff_for_ffmpeg(format: image::ImageFormat, e: &image::ImageError) -> bool {
    cfg!(feature = "video")
        && format == image::ImageFormat::Tiff
        && matches!(e, image::ImageError::Unsupported(_))
}

/// Such a TIFF read by FFmpeg from its path, or (from a pipe, which cannot be read a
/// second time) refused with the way out.
fn open_tiff_with_ffmpeg(
    path: &Path,
    stored: Orientation,
    rule: OrientationRule,
    regular: bool,
) -> Result<Photo, PhotoError> {
    if !regular {
        return Err(PhotoError::NotAFile {
            path: path.to_path_buf(),
            format: "a Y'CbCr (or other FFmpeg-read) TIFF",
        });
    }
    open_with_ffmpeg(path, "TIFF", stored, rule)
}

fn decode_with_image_crate(
    path: &Path,
    bytes: &[u8],
    rule: OrientationRule,
    regular: bool,
) -> Result<Photo, PhotoError> {
    let read = |source| {
        PhotoError::Image(ImageError::Read {
            path: path.to_path_buf(),
            error: source,
        })
    };
    // the format is told by the bytes alone, never by the name
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| io_error(path, e))?;
    // a format told by its bytes that this build does not decode (GIF, ICO, ...) is
    // not a photo facetrack reads, not "a kind of GIF" it cannot decode
    let Some(format) = reader.format().filter(|f| f.reading_enabled()) else {
        return Err(if looks_like_video(bytes) {
            PhotoError::Video {
                path: path.to_path_buf(),
            }
        } else {
            PhotoError::Unknown {
                path: path.to_path_buf(),
            }
        });
    };
    if format == image::ImageFormat::Jpeg && !jpeg_reaches_its_end(bytes) {
        return Err(PhotoError::CutShort {
            path: path.to_path_buf(),
        });
    }
    let mut decoder = match reader.into_decoder() {
        Ok(d) => d,
        Err(e) if tiff_for_ffmpeg(format, &e) => {
            return open_tiff_with_ffmpeg(path, Orientation::NoTransforms, rule, regular)
        }
        Err(e) => return Err(read(e)),
    };
    let (width, height) = decoder.dimensions();
    if width.max(height) > MAX_PHOTO_SIDE || width as u64 * height as u64 > MAX_PHOTO_PIXELS {
        return Err(PhotoError::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    // a tag that cannot be read is no tag: the pixels are still worth tracking
    let stored = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = match DynamicImage::from_decoder(decoder) {
        Ok(i) => i,
        Err(e) if tiff_for_ffmpeg(format, &e) => {
            return open_tiff_with_ffmpeg(path, stored, rule, regular)
        }
        Err(e) => return Err(read(e)),
    };
    if image.width() == 0 || image.height() == 0 {
        return Err(ImageError::Empty {
            path: path.to_path_buf(),
        }
        .into());
    }
    let applied = rule == OrientationRule::Apply && stored != Orientation::NoTransforms;
    if applied {
        image.apply_orientation(stored);
    }
    Ok(Photo {
        image,
        stored,
        applied,
        pages: 1,
    })
}

pub use crate::core::image::jpeg_reaches_its_end;

/// AVIF through FFmpeg: the first decoded frame of the file. FFmpeg does not apply the
/// AVIF rotation and mirror boxes, so the stored orientation is what comes out.
fn open_avif(path: &Path) -> Result<Photo, PhotoError> {
    open_with_ffmpeg(
        path,
        "AVIF",
        Orientation::NoTransforms,
        OrientationRule::Keep,
    )
}

/// A photo through FFmpeg (`format` names it in errors): the first decoded frame of the
/// file, turned by the stored orientation `stored` (read from its tags by the image
/// crate) unless kept.
#[cfg(feature = "video")]
fn open_with_ffmpeg(
    path: &Path,
    format: &'static str,
    stored: Orientation,
    rule: OrientationRule,
) -> Result<Photo, PhotoError> {
    use crate::capture::source::FrameSource;
    let err = |source| PhotoError::Avif {
        path: path.to_path_buf(),
        format,
        source,
    };
    let mut v =
        crate::capture::video::VideoFile::open_still(path, MAX_PHOTO_SIDE, MAX_PHOTO_PIXELS)
            .map_err(err)?;
    let frame = v
        .next_frame()
        .map_err(err)?
        .ok_or_else(|| PhotoError::AvifEmpty {
            path: path.to_path_buf(),
            format,
        })?;
    let (w, h) = (frame.width(), frame.height());
    let rgb = frame
        .into_parts()
        .1
        .and_then(|px| image::RgbImage::from_raw(w, h, px))
        .filter(|_| w > 0 && h > 0)
        .ok_or_else(|| PhotoError::AvifEmpty {
            path: path.to_path_buf(),
            format,
        })?;
    let mut image = DynamicImage::ImageRgb8(rgb);
    let applied = rule == OrientationRule::Apply && stored != Orientation::NoTransforms;
    if applied {
        image.apply_orientation(stored);
    }
    Ok(Photo {
        image,
        stored,
        applied,
        pages: 1,
    })
}

#[cfg(not(feature = "video"))]
fn open_with_ffmpeg(
    path: &Path,
    format: &'static str,
    _stored: Orientation,
    _rule: OrientationRule,
) -> Result<Photo, PhotoError> {
    Err(PhotoError::AvifWithoutFfmpeg {
        path: path.to_path_buf(),
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageEncoder;

    /// A little-endian TIFF of one RGB page, as the image crate writes it, given more
    /// pages: each a copy of the first page's directory (the same pixels), the last
    /// `thumbs` of them marked reduced-resolution (NewSubfileType 1).
    fn tiff_of_pages(pages: usize, thumbs: usize) -> Vec<u8> {
        tiff_of_pages_marked(pages, thumbs, [254, 0, 4, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    }

    /// [`tiff_of_pages`], the last `marked` pages carrying the directory entry `mark`.
    fn tiff_of_pages_marked(pages: usize, thumbs: usize, mark: [u8; 12]) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(16, 12, |x, y| image::Rgb([x as u8 * 9, y as u8 * 9, 90]));
        let mut b = std::io::Cursor::new(Vec::new());
        img.write_to(&mut b, image::ImageFormat::Tiff).unwrap();
        let mut b = b.into_inner();
        assert_eq!(&b[..4], b"II*\0");
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let first = u32_at(&b, 4) as usize;
        let n = u16::from_le_bytes([b[first], b[first + 1]]) as usize;
        let entries = b[first + 2..first + 2 + 12 * n].to_vec();
        let mut link = first + 2 + 12 * n; // where the last directory's "next" offset is
        assert_eq!(u32_at(&b, link), 0);
        for k in 1..pages {
            if b.len() % 2 == 1 {
                b.push(0); // directories start on a word boundary
            }
            let at = b.len();
            b[link..link + 4].copy_from_slice(&(at as u32).to_le_bytes());
            let thumb = k >= pages - thumbs;
            b.extend((n as u16 + u16::from(thumb)).to_le_bytes());
            if thumb {
                // (tags run in order: 254 and 255 come first)
                b.extend(mark);
            }
            b.extend(&entries);
            link = b.len();
            b.extend([0, 0, 0, 0]);
        }
        b
    }

    #[test]
    fn a_tiffs_pages_are_counted_without_its_thumbnails() {
        assert_eq!(tiff_pages(&tiff_of_pages(1, 0)), 1);
        assert_eq!(tiff_pages(&tiff_of_pages(3, 0)), 3);
        assert_eq!(tiff_pages(&tiff_of_pages(3, 1)), 2);
        // a transparency mask (NewSubfileType 4, here a SHORT), an old SubfileType 2
        let mask = [254, 0, 3, 0, 1, 0, 0, 0, 4, 0, 0, 0];
        assert_eq!(tiff_pages(&tiff_of_pages_marked(3, 1, mask)), 2);
        let old_thumb = [255, 0, 3, 0, 1, 0, 0, 0, 2, 0, 0, 0];
        assert_eq!(tiff_pages(&tiff_of_pages_marked(3, 2, old_thumb)), 1);
        // big-endian: a SHORT's value is in the first two bytes of its field (read as a
        // LONG it would be 0x0001_0000, bit 0 clear)
        let mut be = b"MM\0*\0\0\0\x08".to_vec();
        be.extend([0, 0, 0, 0, 0, 14]); // directory at 8: no entries, next at 14
        be.extend([0, 1, 0, 254, 0, 3, 0, 0, 0, 1, 0, 1, 0, 0]); // one entry: 254 SHORT 1
        be.extend([0, 0, 0, 0]);
        assert_eq!(tiff_pages(&be), 1, "the second directory is a thumbnail");
        // a page marked as one of several (SubfileType 3) is a page
        let page = [255, 0, 3, 0, 1, 0, 0, 0, 3, 0, 0, 0];
        assert_eq!(tiff_pages(&tiff_of_pages_marked(3, 2, page)), 3);
        // a chain that loops back, or runs past the end, stops there
        let mut looped = tiff_of_pages(2, 0);
        let end = looped.len();
        let first: [u8; 4] = looped[4..8].try_into().unwrap();
        looped[end - 4..].copy_from_slice(&first);
        assert_eq!(tiff_pages(&looped), 2);
        let mut cut = tiff_of_pages(3, 0);
        cut.truncate(cut.len() - 20);
        assert_eq!(tiff_pages(&cut), 2);
        // BigTIFF (8-byte offsets): two directories of no entries
        let mut big = b"II+\0\x08\0\0\0".to_vec();
        big.extend(16u64.to_le_bytes());
        big.extend(0u64.to_le_bytes()); // directory at 16: no entries
        big.extend(32u64.to_le_bytes()); // next at 32
        big.extend(0u64.to_le_bytes());
        big.extend(0u64.to_le_bytes());
        assert_eq!(tiff_pages(&big), 2);
        for other in [&b"\x89PNG\r\n\x1a\n"[..], b"", b"II*"] {
            assert_eq!(tiff_pages(other), 1);
        }
        // the pages decode as the first one
        let p = std::env::temp_dir().join(format!("ft-pages-{}.tif", std::process::id()));
        std::fs::write(&p, tiff_of_pages(3, 1)).unwrap();
        let photo = open_photo(&p, OrientationRule::Apply);
        let _ = std::fs::remove_file(&p);
        let photo = photo.unwrap();
        assert_eq!(
            (photo.pages, photo.image.width(), photo.image.height()),
            (2, 16, 12)
        );
    }

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let mut b = Vec::new();
        let size = 16 + 4 * compatible.len() as u32;
        b.extend(size.to_be_bytes());
        b.extend(b"ftyp");
        b.extend(major);
        b.extend([0, 0, 0, 0]);
        for c in compatible {
            b.extend(*c);
        }
        b.extend(b"\0\0\0\x10meta");
        b
    }

    /// A small baseline JPEG with an EXIF-like APP1 segment that holds a whole (tiny)
    /// JPEG of its own, as a phone photo's thumbnail is.
    fn jpeg_with_thumbnail() -> Vec<u8> {
        let mut img = image::RgbImage::new(32, 24);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 8) as u8, (y * 10) as u8, 128]);
        }
        let encode = |im: &image::RgbImage| {
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
                .encode_image(im)
                .unwrap();
            out
        };
        let thumb = encode(&image::imageops::thumbnail(&img, 8, 6));
        let main = encode(&img);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(&thumb);
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE1];
        b.extend(((app1.len() + 2) as u16).to_be_bytes());
        b.extend(app1);
        b.extend(&main[2..]);
        b
    }

    #[test]
    fn a_jpeg_cut_short_is_told_from_a_whole_one() {
        let whole = jpeg_with_thumbnail();
        assert!(image::load_from_memory(&whole).is_ok());
        assert!(jpeg_reaches_its_end(&whole));
        // trailing bytes after the end (some cameras pad) are fine
        let mut padded = whole.clone();
        padded.extend([0u8; 64]);
        assert!(jpeg_reaches_its_end(&padded));
        // cut anywhere after the thumbnail's own end marker: still cut short
        for keep in [whole.len() - 2, whole.len() - 40, whole.len() / 2, 200] {
            assert!(!jpeg_reaches_its_end(&whole[..keep]), "{keep} bytes");
        }
        // not a JPEG at all: not this check's business
        assert!(jpeg_reaches_its_end(b"\x89PNG\r\n\x1a\n"));
    }

    #[test]
    fn photos_are_told_by_their_bytes_and_checked_before_decoding() {
        let dir = std::env::temp_dir().join(format!("ft-photo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = |n: &str| dir.join(n);
        // text named .jpg is not "damaged JPEG data"
        std::fs::write(path("text.jpg"), b"hello, this is no picture\n").unwrap();
        let e = open_photo(&path("text.jpg"), OrientationRule::Apply).unwrap_err();
        assert!(matches!(e, PhotoError::Unknown { .. }), "{e}");
        std::fs::write(path("anim.jpg"), b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
        let e = open_photo(&path("anim.jpg"), OrientationRule::Apply).unwrap_err();
        assert!(matches!(e, PhotoError::Video { .. }), "{e}");
        // a video given as a photo is pointed to `facetrack video`
        let mut mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2".to_vec();
        mp4.resize(64, 0);
        std::fs::write(path("clip.jpg"), &mp4).unwrap();
        let e = open_photo(&path("clip.jpg"), OrientationRule::Apply).unwrap_err();
        assert!(e.to_string().contains("`facetrack video` reads it"), "{e}");
        std::fs::write(path("empty.jpg"), b"").unwrap();
        let e = open_photo(&path("empty.jpg"), OrientationRule::Apply).unwrap_err();
        assert!(matches!(e, PhotoError::EmptyFile { .. }), "{e}");
        // a JPEG named .png is read as the JPEG it is
        let whole = jpeg_with_thumbnail();
        std::fs::write(path("photo.png"), &whole).unwrap();
        let p = open_photo(&path("photo.png"), OrientationRule::Apply).unwrap();
        assert_eq!((p.image.width(), p.image.height()), (32, 24));
        std::fs::write(path("cut.jpg"), &whole[..whole.len() - 30]).unwrap();
        let e = open_photo(&path("cut.jpg"), OrientationRule::Apply).unwrap_err();
        assert!(matches!(e, PhotoError::CutShort { .. }), "{e}");
        assert!(e.to_string().contains("cut short"), "{e}");
        // a PNG whose header claims 60000 x 60000 pixels is refused before decoding
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&[0u8; 4], 2, 2, image::ExtendedColorType::L8)
            .unwrap();
        let ihdr = png.windows(4).position(|w| w == b"IHDR").unwrap();
        png[ihdr + 4..ihdr + 8].copy_from_slice(&60_000u32.to_be_bytes());
        png[ihdr + 8..ihdr + 12].copy_from_slice(&60_000u32.to_be_bytes());
        let crc = crc32(&png[ihdr..ihdr + 17]);
        png[ihdr + 17..ihdr + 21].copy_from_slice(&crc.to_be_bytes());
        std::fs::write(path("bomb.png"), &png).unwrap();
        let e = open_photo(&path("bomb.png"), OrientationRule::Apply).unwrap_err();
        assert!(
            matches!(
                e,
                PhotoError::TooLarge {
                    width: 60_000,
                    height: 60_000,
                    ..
                }
            ),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// PNG's chunk checksum (CRC-32, ISO 3309).
    fn crc32(b: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &x in b {
            c ^= x as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    #[test]
    fn heif_and_avif_are_told_by_their_brands() {
        assert_eq!(sniff(&ftyp(b"heic", &[b"mif1", b"heic"])), Sniffed::Heif);
        assert_eq!(sniff(&ftyp(b"mif1", &[b"mif1", b"heic"])), Sniffed::Heif);
        assert_eq!(sniff(&ftyp(b"avif", &[b"mif1", b"miaf"])), Sniffed::Avif);
        assert_eq!(sniff(&ftyp(b"mif1", &[b"avif", b"mif1"])), Sniffed::Avif);
        assert_eq!(sniff(&ftyp(b"isom", &[b"mp41"])), Sniffed::Other);
        assert_eq!(sniff(b"\xff\xd8\xff\xe0"), Sniffed::Other);
        assert_eq!(sniff(b""), Sniffed::Other);
    }

    #[cfg(not(feature = "heif"))]
    #[test]
    fn a_heic_file_gets_a_sentence_naming_the_format_and_the_fix() {
        let d = std::env::temp_dir().join(format!("ft-photo-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("IMG_0001.HEIC");
        std::fs::write(&p, ftyp(b"heic", &[b"mif1", b"heic"])).unwrap();
        let e = open_photo(&p, OrientationRule::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("HEIF/HEIC"), "{e}");
        assert!(e.contains("heif-convert IMG_0001.HEIC IMG_0001.jpg"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(feature = "heif")]
    #[test]
    fn a_broken_heic_file_is_an_error_naming_it_not_a_panic() {
        let d = std::env::temp_dir().join(format!("ft-photo-heif-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("IMG_0002.HEIC");
        std::fs::write(&p, ftyp(b"heic", &[b"mif1", b"heic"])).unwrap();
        let e = open_photo(&p, OrientationRule::Apply)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("IMG_0002.HEIC") && e.contains("HEIF/HEIC"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_exif_orientation_is_applied_unless_kept() {
        // a 2x1 PNG whose eXIf chunk says "rotate 90 clockwise to display" (tag 6)
        let d = std::env::temp_dir().join(format!("ft-photo-or-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("tagged.png");
        let img = image::RgbImage::from_fn(2, 1, |x, _| image::Rgb([x as u8 * 200, 0, 0]));
        let mut png = Vec::new();
        {
            use image::ImageEncoder;
            let mut enc = image::codecs::png::PngEncoder::new(&mut png);
            enc.set_exif_metadata(exif_orientation(6)).unwrap();
            enc.write_image(img.as_raw(), 2, 1, image::ExtendedColorType::Rgb8)
                .unwrap();
        }
        std::fs::write(&p, &png).unwrap();
        let turned = open_photo(&p, OrientationRule::Apply).unwrap();
        assert_eq!(turned.stored, Orientation::Rotate90);
        assert!(turned.applied);
        assert_eq!((turned.image.width(), turned.image.height()), (1, 2));
        let kept = open_photo(&p, OrientationRule::Keep).unwrap();
        assert!(!kept.applied);
        assert_eq!((kept.image.width(), kept.image.height()), (2, 1));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A big-endian TIFF/EXIF block holding only the orientation tag.
    fn exif_orientation(tag: u16) -> Vec<u8> {
        let mut b = b"MM\0\x2a\0\0\0\x08\0\x01".to_vec();
        b.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1]);
        b.extend(tag.to_be_bytes());
        b.extend([0, 0, 0, 0, 0, 0]);
        b
    }
}
