//! Data packs: a dataset's faces cut out with room for augmentation, made small (gray,
//! at most a set number of pixels across the crop, JPEG), in one file that travels where
//! the dataset cannot (a GPU machine that takes 64 MiB of files per command). The
//! trainer reads a pack given as `--data FILE.ftpack` like the dataset it came from: the
//! same subjects, the same splits (the test split is left out when the pack is made).
//!
//! This module holds the format and the reader (the data loader reads packs);
//! [`crate::pack_build`] cuts datasets into packs.
//!
//! Layout: the magic `FTPACK1\n`, the header's length (u64, little-endian), the header
//! (JSON, [`Header`]), then each face's JPEG in the header's order.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use facetrack::core::contract::{CropMode, ModelContract};
use facetrack::core::crop_rule;
use facetrack::core::layout::PointSet;
use facetrack::{GrayImage, Point};

/// The first bytes of a pack.
pub const MAGIC: &[u8; 8] = b"FTPACK1\n";

/// The largest header accepted (a pack of 100,000 faces has about 60 MB of header).
const MAX_HEADER: u64 = 256 << 20;

/// How a pack is cut.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct PackOptions {
    /// Pixels across the aligned crop of 1.6 face units (the default model's crop);
    /// larger faces are reduced to this, smaller ones kept as they are.
    pub crop_px: u32,
    /// Half the side of the cut square, in crop sides, around the crop's centre.
    pub margin: f32,
    /// JPEG quality (1-100).
    pub quality: u8,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            crop_px: 160,
            margin: 0.9,
            quality: 90,
        }
    }
}

/// One face's record in the header.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub subject: String,
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Original image pixels per pack pixel.
    pub to_original: f32,
    /// The points in the pack image (0-based pixel centres), x y x y ...
    pub points: Vec<f32>,
    /// Length of its JPEG.
    pub bytes: u64,
}

/// A pack's header.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Header {
    pub version: u32,
    /// The dataset it was cut from.
    pub source: String,
    /// An IMM folder (split by person, 1-32 train) rather than by a hash of the subject.
    pub imm: bool,
    pub options: PackOptions,
    pub faces: Vec<Entry>,
}

/// A face read from a pack.
pub struct PackedFace {
    pub subject: String,
    pub name: String,
    pub image: GrayImage,
    pub points: Vec<Point>,
    pub to_original: f32,
}

/// Is this path a pack file (by its first bytes)?
pub fn is_pack(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    path.is_file()
        && std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok()
        && &magic == MAGIC
}

/// The contract whose crop the pack is sized for: the default model's aligned crop.
pub fn pack_contract() -> ModelContract {
    let mut c = ModelContract::face_box(PointSet::Ibug68, 112, "resnet18-pip");
    c.crop_scale = 1.6;
    c.crop_mode = CropMode::Aligned;
    c
}

/// The square cut for a face of `frame` size, in frame pixels: `(x0, y0, x1, y1)`,
/// clipped to the frame, and the nominal crop side.
pub fn cut_rect(points: &[Point], frame: (u32, u32), margin: f32) -> ((u32, u32, u32, u32), f32) {
    let c = pack_contract();
    let t = crop_rule::crop_from_points(points, &c, frame);
    let side = 2.0 * t.half_w.max(t.half_h);
    let half = margin * side;
    let clip = |v: f32, hi: u32| v.clamp(0.0, hi as f32) as u32;
    (
        (
            clip((t.center.x - half).floor(), frame.0),
            clip((t.center.y - half).floor(), frame.1),
            clip((t.center.x + half).ceil() + 1.0, frame.0),
            clip((t.center.y + half).ceil() + 1.0, frame.1),
        ),
        side,
    )
}

/// Write a pack: the magic, the header and the JPEGs (`blobs`, in the header's order).
/// Returns its size in bytes.
pub fn write(out: &Path, header: &Header, blobs: &[Vec<u8>]) -> Result<u64> {
    if header.faces.len() != blobs.len()
        || header
            .faces
            .iter()
            .zip(blobs)
            .any(|(e, b)| e.bytes != b.len() as u64)
    {
        bail!("a pack's header must list each image with its length");
    }
    let head = serde_json::to_vec(header)?;
    let mut bytes = Vec::with_capacity(16 + head.len() + blobs.iter().map(Vec::len).sum::<usize>());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(head.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&head);
    for b in blobs {
        bytes.extend_from_slice(b);
    }
    crate::export::write_atomic(out, &bytes)?;
    Ok(bytes.len() as u64)
}

/// A gray image as JPEG.
pub fn encode_jpeg(img: &GrayImage, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode(
            img.data(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .context("JPEG encoding")?;
    out.flush()?;
    Ok(out)
}

/// Read a pack: its header and every face, decoded with `threads` threads.
pub fn read(path: &Path, threads: usize) -> Result<(Header, Vec<PackedFace>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bad = |why: &str| anyhow::anyhow!("{} is not a readable pack: {why}", path.display());
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("no FTPACK1 magic"));
    }
    let n = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    if n > MAX_HEADER || 16 + n > bytes.len() as u64 {
        return Err(bad("its header is longer than the file"));
    }
    let header: Header = serde_json::from_slice(&bytes[16..16 + n as usize])
        .map_err(|e| bad(&format!("header: {e}")))?;
    if header.version != 1 {
        return Err(bad(&format!(
            "version {} (this trainer reads 1)",
            header.version
        )));
    }
    let mut spans = Vec::with_capacity(header.faces.len());
    let mut at = 16 + n;
    for e in &header.faces {
        let end = at.checked_add(e.bytes).filter(|&x| x <= bytes.len() as u64);
        let Some(end) = end else {
            return Err(bad(&format!(
                "{}'s image runs past the end (truncated?)",
                e.name
            )));
        };
        if e.points.len() % 2 != 0 || !e.points.iter().all(|v| v.is_finite()) {
            return Err(bad(&format!("{}'s points are malformed", e.name)));
        }
        spans.push((at as usize, end as usize));
        at = end;
    }
    let idx: Vec<usize> = (0..header.faces.len()).collect();
    let (bytes, header_ref, spans) = (&bytes, &header, &spans);
    let decoded: Vec<Result<PackedFace>> =
        crate::parallel::map_in_order(&idx, threads, "pack-reading", |&i| {
            let e = &header_ref.faces[i];
            let (a, b) = spans[i];
            let img = image::load_from_memory_with_format(&bytes[a..b], image::ImageFormat::Jpeg)
                .with_context(|| format!("decoding {}", e.name))?
                .to_luma8();
            if (img.width(), img.height()) != (e.width, e.height) {
                bail!("{}: image size differs from its header", e.name);
            }
            Ok(PackedFace {
                subject: e.subject.clone(),
                name: e.name.clone(),
                image: GrayImage::from_raw(e.width, e.height, img.into_raw())?,
                points: e
                    .points
                    .chunks_exact(2)
                    .map(|p| Point::new(p[0], p[1]))
                    .collect(),
                to_original: e.to_original,
            })
        })?;
    let faces = decoded
        .into_iter()
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("reading {}", path.display()))?;
    Ok((header, faces))
}

/// Where `train pack` writes by default: `packs/<folder name>.ftpack`.
pub fn default_out(source: &Path) -> PathBuf {
    let name = source
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or("data");
    PathBuf::from("packs").join(format!("{name}.ftpack"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("ftrain-pack-{tag}-{}", std::process::id()))
    }

    fn one_face_pack(path: &Path) -> Vec<u8> {
        let mut img = GrayImage::new(40, 30);
        img.data_mut()[5 * 40 + 7] = 200;
        let jpeg = encode_jpeg(&img, 95).unwrap();
        let header = Header {
            version: 1,
            source: "test".into(),
            imm: false,
            options: PackOptions::default(),
            faces: vec![Entry {
                subject: "s1".into(),
                name: "a.jpg".into(),
                width: 40,
                height: 30,
                to_original: 2.0,
                points: vec![7.0, 5.0, 10.5, 12.25],
                bytes: jpeg.len() as u64,
            }],
        };
        write(path, &header, &[jpeg]).unwrap();
        std::fs::read(path).unwrap()
    }

    #[test]
    fn a_pack_reads_back_what_was_written() {
        let p = tmp("roundtrip");
        one_face_pack(&p);
        assert!(is_pack(&p));
        let (h, faces) = read(&p, 2).unwrap();
        assert_eq!(h.faces.len(), 1);
        let f = &faces[0];
        assert_eq!((f.subject.as_str(), f.name.as_str()), ("s1", "a.jpg"));
        assert_eq!((f.image.width(), f.image.height()), (40, 30));
        assert_eq!(
            f.points,
            vec![Point::new(7.0, 5.0), Point::new(10.5, 12.25)]
        );
        assert_eq!(f.to_original, 2.0);
        assert!(
            f.image.get(7, 5).unwrap() > 120,
            "the bright pixel survives JPEG"
        );
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn a_damaged_pack_is_a_clear_error() {
        let p = tmp("damaged");
        let bytes = one_face_pack(&p);
        // cut short: the image runs past the end
        std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
        let e = format!("{:#}", read(&p, 1).err().expect("a truncated pack reads"));
        assert!(
            e.contains("is not a readable pack") && e.contains("truncated"),
            "{e}"
        );
        // a header length past the end
        let mut b = bytes.clone();
        b[8..16].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        std::fs::write(&p, &b).unwrap();
        let e = format!(
            "{:#}",
            read(&p, 1).err().expect("a bad header length reads")
        );
        assert!(e.contains("header"), "{e}");
        // not a pack at all
        std::fs::write(&p, b"hello, this is text").unwrap();
        assert!(!is_pack(&p));
        let e = format!("{:#}", read(&p, 1).err().expect("text reads as a pack"));
        assert!(e.contains("FTPACK1"), "{e}");
        let _ = std::fs::remove_file(&p);
    }
}
