//! Frames as the library sees them: 8-bit grayscale (what the models and the detector
//! read) with conversion from RGB/RGBA/any `image` crate image, and loading from disk.

use std::path::{Path, PathBuf};

/// A video's colour description in FFmpeg's numbering (`AVColorPrimaries`,
/// `AVColorTransferCharacteristic`, `AVColorSpace`; 2 is "unspecified" in each): what
/// an annotated copy carries on so that players show its colours as the source's (an
/// HD video's BT.709 read as BT.601 shifts its greens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColourTags {
    pub primaries: i32,
    pub transfer: i32,
    pub matrix: i32,
}

impl ColourTags {
    /// FFmpeg's "unspecified" in all three enums.
    pub const UNSPECIFIED: i32 = 2;

    /// BT.601's matrix (`AVCOL_SPC_SMPTE170M`), FFmpeg's scaler's own.
    pub const BT601_MATRIX: i32 = 6;

    /// The tags of a Y'CbCr copy whose values are the source's (its pictures go to RGB
    /// and back through the scaler's one matrix): each of the three where it is given;
    /// an RGB source's pictures (matrix 0) become Y'CbCr by the scaler's BT.601 matrix.
    /// `None` when nothing is given.
    pub fn for_ycbcr_copy(self) -> Option<ColourTags> {
        let given = |v: i32| {
            if v > 0 && v != Self::UNSPECIFIED {
                v
            } else {
                Self::UNSPECIFIED
            }
        };
        let t = ColourTags {
            primaries: given(self.primaries),
            transfer: given(self.transfer),
            matrix: if self.matrix == 0 {
                Self::BT601_MATRIX
            } else {
                given(self.matrix)
            },
        };
        let unspecified = ColourTags {
            primaries: Self::UNSPECIFIED,
            transfer: Self::UNSPECIFIED,
            matrix: Self::UNSPECIFIED,
        };
        (t != unspecified).then_some(t)
    }
}

/// RGB -> luma weights (ITU-R BT.601, as in OpenCV and PIL), in 1/65536 units.
const LUMA_R: u32 = 19595;
const LUMA_G: u32 = 38470;
const LUMA_B: u32 = 7471;

/// Luma of packed colour pixels (`channels` 3 or 4, red or, with `blue_first`, blue
/// first) into `dst`, one value a pixel: BT.601 weights, rounded. On CPUs with AVX2 the
/// same arithmetic is compiled for AVX2 (the same values, several times faster).
pub(crate) fn luma(dst: &mut [u8], src: &[u8], channels: usize, blue_first: bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above
        unsafe { luma_avx2(dst, src, channels, blue_first) };
        return;
    }
    luma_any(dst, src, channels, blue_first)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn luma_avx2(dst: &mut [u8], src: &[u8], channels: usize, blue_first: bool) {
    luma_any(dst, src, channels, blue_first)
}

#[inline(always)]
fn luma_any(dst: &mut [u8], src: &[u8], channels: usize, blue_first: bool) {
    let (w0, w2) = if blue_first {
        (LUMA_B, LUMA_R)
    } else {
        (LUMA_R, LUMA_B)
    };
    // one loop per pixel size, so that the compiler vectorises each
    #[inline(always)]
    fn convert<const C: usize>(dst: &mut [u8], src: &[u8], w0: u32, w2: u32) {
        for (d, px) in dst.iter_mut().zip(src.chunks_exact(C)) {
            let y = w0 * px[0] as u32 + LUMA_G * px[1] as u32 + w2 * px[2] as u32;
            *d = ((y + 32768) >> 16) as u8;
        }
    }
    if channels == 3 {
        convert::<3>(dst, src, w0, w2);
    } else {
        convert::<4>(dst, src, w0, w2);
    }
}

/// What a decoder error means to the person who gave the file.
fn plain_words(e: &image::ImageError) -> String {
    use image::error::{ImageError as E, ImageFormatHint};
    let format = |h: &ImageFormatHint| match h {
        ImageFormatHint::Exact(f) => format!("{f:?}").to_uppercase(),
        ImageFormatHint::Name(n) => n.clone(),
        _ => "image".into(),
    };
    match e {
        E::Decoding(d) => format!(
            "the {} data is damaged or cut short (it could not be decoded)",
            format(&d.format_hint())
        ),
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends early (truncated?)".into()
        }
        E::Unsupported(u) => format!(
            "a kind of {} this build cannot decode",
            format(&u.format_hint())
        ),
        E::Limits(_) => "the picture is too large to decode".into(),
        other => other.to_string(),
    }
}

/// An owned 8-bit grayscale image, rows packed (stride = width).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrayImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

/// Why an image could not be built or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("image buffer of {got} bytes does not match {width}x{height}x{channels}")]
    BufferSize {
        width: u32,
        height: u32,
        channels: u32,
        got: usize,
    },
    /// The decoder refused the file; said in the user's terms (the decoder's own words
    /// stay in `error` for callers that want them).
    #[error("cannot read image {path}: {}", plain_words(error))]
    Read {
        path: PathBuf,
        error: image::ImageError,
    },
    #[error("cannot read image {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("image {path} is empty (0x0)")]
    Empty { path: PathBuf },
}

impl GrayImage {
    /// A black image.
    pub fn new(width: u32, height: u32) -> Self {
        GrayImage {
            width,
            height,
            data: vec![0; width as usize * height as usize],
        }
    }

    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Result<Self, ImageError> {
        if data.len() != width as usize * height as usize {
            return Err(ImageError::BufferSize {
                width,
                height,
                channels: 1,
                got: data.len(),
            });
        }
        Ok(GrayImage {
            width,
            height,
            data,
        })
    }

    /// Convert packed RGB (3 bytes a pixel) into `self`, reusing its buffer.
    pub fn set_from_rgb(&mut self, width: u32, height: u32, rgb: &[u8]) -> Result<(), ImageError> {
        self.set_from_interleaved(width, height, rgb, 3)
    }

    /// Convert packed RGBA (4 bytes a pixel, alpha ignored) into `self`.
    pub fn set_from_rgba(
        &mut self,
        width: u32,
        height: u32,
        rgba: &[u8],
    ) -> Result<(), ImageError> {
        self.set_from_interleaved(width, height, rgba, 4)
    }

    fn set_from_interleaved(
        &mut self,
        width: u32,
        height: u32,
        src: &[u8],
        channels: usize,
    ) -> Result<(), ImageError> {
        self.set_from_channels(width, height, src, channels, false)
    }

    /// Convert packed colour pixels of `channels` bytes (3 or 4; a fourth, alpha, is
    /// ignored) into `self` in one pass, reusing its buffer: red first (RGB, RGBA) or,
    /// with `blue_first`, blue first (BGR, BGRA: OpenCV's order).
    pub fn set_from_channels(
        &mut self,
        width: u32,
        height: u32,
        src: &[u8],
        channels: usize,
        blue_first: bool,
    ) -> Result<(), ImageError> {
        let n = width as usize * height as usize;
        if src.len() != n * channels {
            return Err(ImageError::BufferSize {
                width,
                height,
                channels: channels as u32,
                got: src.len(),
            });
        }
        if !(channels == 3 || channels == 4) {
            return Err(ImageError::BufferSize {
                width,
                height,
                channels: channels as u32,
                got: src.len(),
            });
        }
        self.width = width;
        self.height = height;
        self.data.resize(n, 0);
        luma(&mut self.data, src, channels, blue_first);
        Ok(())
    }

    pub fn from_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Self, ImageError> {
        let mut g = GrayImage::default();
        g.set_from_rgb(width, height, rgb)?;
        Ok(g)
    }

    /// Any decoded image, converted to luma with the same weights as [`Self::from_rgb`].
    pub fn from_dynamic(img: &image::DynamicImage) -> Self {
        match img {
            image::DynamicImage::ImageLuma8(g) => GrayImage {
                width: g.width(),
                height: g.height(),
                data: g.as_raw().clone(),
            },
            other => {
                let rgb = other.to_rgb8();
                let mut g = GrayImage::default();
                // sizes come from the decoded buffer itself, so they always agree
                let _ = g.set_from_rgb(rgb.width(), rgb.height(), rgb.as_raw());
                g
            }
        }
    }

    /// Read and decode an image file (format from its content, not its name).
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        Ok(GrayImage::from_dynamic(&open_dynamic(path)?))
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Pixel at (x, y); `None` outside.
    pub fn get(&self, x: i64, y: i64) -> Option<u8> {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return None;
        }
        self.data
            .get(y as usize * self.width as usize + x as usize)
            .copied()
    }
}

/// Decode an image file into the `image` crate's type (format guessed from the bytes).
pub fn open_dynamic(path: &Path) -> Result<image::DynamicImage, ImageError> {
    let io = |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    // a JPEG cut short decodes with grey where the picture stops, silently
    if !jpeg_reaches_its_end(&bytes) {
        return Err(io(std::io::Error::other(
            "the JPEG data is damaged or cut short (the file ends before the picture does)",
        )));
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(io)?;
    let img = reader.decode().map_err(|source| ImageError::Read {
        path: path.to_path_buf(),
        error: source,
    })?;
    if img.width() == 0 || img.height() == 0 {
        return Err(ImageError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(img)
}

/// Whether a JPEG file holds its end-of-image marker after its first scan. The JPEG
/// decoder fills a file that was cut short with grey and says nothing, and points found
/// on that grey are guesses. Segments before the scan are skipped by their lengths (an
/// EXIF thumbnail is a whole JPEG of its own inside one); scan data cannot hold the bytes
/// FF D9 (a data byte FF is always followed by 00), so finding them after the first scan
/// marker means the file reaches its end.
pub fn jpeg_reaches_its_end(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return true; // not a JPEG stream this check understands: left to the decoder
    }
    let mut i = 2;
    while i + 3 < b.len() {
        if b[i] != 0xFF {
            return true; // not at a marker: leave the verdict to the decoder
        }
        let marker = b[i + 1];
        match marker {
            0xFF => i += 1, // fill byte
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => i += 2, // markers without a length
            _ => {
                let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
                let next = i + 2 + len;
                if marker == 0xDA {
                    return next <= b.len() && b[next..].windows(2).any(|w| w == [0xFF, 0xD9]);
                }
                i = next;
            }
        }
    }
    false
}

/// For tests (here and in the trainer's): write a 64×48 gray JPEG into `dir` whole and
/// cut in half, returning `(whole, cut)`.
#[doc(hidden)]
pub fn jpeg_whole_and_cut_short(dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    let mut img = image::GrayImage::new(64, 48);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Luma([(x * 3 + y * 2) as u8]);
    }
    let whole = dir.join("whole.jpg");
    img.save(&whole).map_err(std::io::Error::other)?;
    let bytes = std::fs::read(&whole)?;
    let cut = dir.join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 2])?;
    Ok((whole, cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jpeg_cut_short_is_an_error_not_a_grey_fill() {
        let dir = std::env::temp_dir().join(format!("ft-img-cut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (whole, cut) = jpeg_whole_and_cut_short(&dir).unwrap();
        assert_eq!(GrayImage::open(&whole).unwrap().width(), 64);
        let e = GrayImage::open(&cut).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_luma_of_any_cpu_path_is_the_plain_arithmetic() {
        // whatever path this CPU takes (AVX2 or not), the values of the plain loop
        let src: Vec<u8> = (0..4 * 1037u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for channels in [3usize, 4] {
            for blue_first in [false, true] {
                let n = src.len() / channels;
                let (mut fast, mut plain) = (vec![0u8; n], vec![0u8; n]);
                luma(&mut fast, &src[..n * channels], channels, blue_first);
                luma_any(&mut plain, &src[..n * channels], channels, blue_first);
                assert_eq!(fast, plain, "{channels} channels, blue first {blue_first}");
                let (r, g, b) = if blue_first {
                    (src[2] as u32, src[1] as u32, src[0] as u32)
                } else {
                    (src[0] as u32, src[1] as u32, src[2] as u32)
                };
                let y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
                assert_eq!(plain[0] as u32, y);
            }
        }
    }

    #[test]
    fn rgb_to_gray_uses_bt601_weights() {
        let g = GrayImage::from_rgb(3, 1, &[255, 0, 0, 0, 255, 0, 255, 255, 255]).unwrap();
        assert_eq!(g.data(), &[76, 150, 255]);
    }

    #[test]
    fn wrong_buffer_size_is_an_error() {
        assert!(GrayImage::from_rgb(2, 2, &[0; 11]).is_err());
        assert!(GrayImage::from_raw(2, 2, vec![0; 3]).is_err());
    }

    #[test]
    fn opening_a_text_file_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("ft-img-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("not-an-image.jpg");
        std::fs::write(&p, b"hello").unwrap();
        let e = GrayImage::open(&p).unwrap_err();
        assert!(e.to_string().contains("not-an-image.jpg"), "{e}");
        assert!(GrayImage::open(&dir.join("missing.png")).is_err());
    }
}
