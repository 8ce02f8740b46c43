//! Face detection to acquire faces: SeetaFace's funnel cascade through the `rustface`
//! crate (BSD-2; its model file ships in `models/`, embedded in the binary). Detector
//! boxes are mapped onto the box the landmark model expects (the landmarks' bounding
//! box) with a calibration measured on 300-W.

use crate::core::geometry::FaceBox;
use crate::core::image::GrayImage;

/// The SeetaFace frontal model (BSD-2-Clause, VIPL/ICT-CAS; see models/SEETAFACE_LICENSE).
static SEETA_MODEL: &[u8] = include_bytes!("../../models/seeta_fd_frontal_v1.0.bin");

/// Smallest face the detector looks for, pixels (SeetaFace's lower limit is 20).
pub const DEFAULT_MIN_FACE: u32 = 40;
/// SeetaFace score threshold (its authors suggest 0.95 .. 4.5; higher = fewer false faces).
pub const DEFAULT_SCORE_THRESHOLD: f64 = 2.0;
/// Smallest size rustface accepts for windows and faces.
const RUSTFACE_MIN: u32 = 20;

/// A detected face: the detector's own box, the box mapped to landmark-box terms, the score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub raw: FaceBox,
    pub face_box: FaceBox,
    pub score: f32,
}

/// Mapping from a detector box to the landmarks' bounding box: centre shift in units of
/// the detector box's width/height, and the side of the landmark box over the detector
/// box's width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub dx: f32,
    pub dy: f32,
    pub scale: f32,
}

/// Measured on the 2,010 300-W faces of `../shared/data` with
/// `cargo run --release --example calibrate_detector` (medians over the 1,966 faces the
/// detector found): SeetaFace's square sits 15 % of its height above the landmarks'
/// centre and is 7 % larger than their bounding box.
pub const SEETA_CALIBRATION: Calibration = Calibration {
    dx: 0.0,
    dy: 0.149,
    scale: 0.929,
};

impl Calibration {
    pub fn apply(&self, b: &FaceBox) -> FaceBox {
        let c = b.center();
        let side = self.scale * b.width;
        let cx = c.x + self.dx * b.width;
        let cy = c.y + self.dy * b.height;
        FaceBox::new(cx - side / 2.0, cy - side / 2.0, side, side)
    }
}

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorOptions {
    pub min_face: u32,
    pub score_threshold: f64,
    pub pyramid_scale: f32,
    pub step: u32,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        DetectorOptions {
            min_face: DEFAULT_MIN_FACE,
            score_threshold: DEFAULT_SCORE_THRESHOLD,
            pyramid_scale: 0.8,
            step: 4,
        }
    }
}

/// Errors building the detector.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("the embedded face detector model could not be read: {0}")]
    Model(String),
}

/// A face detector.
pub struct FaceDetector {
    inner: Box<dyn rustface::Detector + Send>,
    opts: DetectorOptions,
    pub calibration: Calibration,
}

// rustface's boxed detector is plain data (model tables and buffers).
struct SendDetector(Box<dyn rustface::Detector>);
unsafe impl Send for SendDetector {}
impl rustface::Detector for SendDetector {
    fn detect(&mut self, image: &rustface::ImageData) -> Vec<rustface::FaceInfo> {
        self.0.detect(image)
    }
    fn set_window_size(&mut self, s: u32) {
        self.0.set_window_size(s)
    }
    fn set_slide_window_step(&mut self, x: u32, y: u32) {
        self.0.set_slide_window_step(x, y)
    }
    fn set_min_face_size(&mut self, s: u32) {
        self.0.set_min_face_size(s)
    }
    fn set_max_face_size(&mut self, s: u32) {
        self.0.set_max_face_size(s)
    }
    fn set_pyramid_scale_factor(&mut self, f: f32) {
        self.0.set_pyramid_scale_factor(f)
    }
    fn set_score_thresh(&mut self, t: f64) {
        self.0.set_score_thresh(t)
    }
}

impl FaceDetector {
    pub fn new(opts: DetectorOptions) -> Result<Self, DetectorError> {
        let model =
            rustface::read_model(SEETA_MODEL).map_err(|e| DetectorError::Model(e.to_string()))?;
        let mut d = SendDetector(rustface::create_detector_with_model(model));
        use rustface::Detector;
        // the setters panic on out-of-range values: clamp them here
        d.set_min_face_size(opts.min_face.max(RUSTFACE_MIN));
        d.set_score_thresh(if opts.score_threshold > 0.0 {
            opts.score_threshold
        } else {
            DEFAULT_SCORE_THRESHOLD
        });
        d.set_pyramid_scale_factor(opts.pyramid_scale.clamp(0.1, 0.99));
        d.set_slide_window_step(opts.step.max(1), opts.step.max(1));
        Ok(FaceDetector {
            inner: Box::new(d),
            opts,
            calibration: SEETA_CALIBRATION,
        })
    }

    pub fn options(&self) -> DetectorOptions {
        self.opts
    }

    /// Faces in the image, highest score first. Images smaller than the smallest face
    /// give none (rustface would panic on them). When the smallest face is at least twice
    /// the detector's own minimum, the search runs on a half-size copy (2×2 averages): the
    /// same faces for about a quarter of the work.
    pub fn detect(&mut self, img: &GrayImage) -> Vec<Detection> {
        let min = self.opts.min_face.max(RUSTFACE_MIN);
        if img.width() < min || img.height() < min {
            return Vec::new();
        }
        if min >= 2 * RUSTFACE_MIN && img.width() >= 2 * min && img.height() >= 2 * min {
            let half = half_size(img);
            self.inner.set_min_face_size(min / 2);
            let found = self.search(&half, 2.0);
            self.inner.set_min_face_size(min);
            return found;
        }
        self.search(img, 1.0)
    }

    /// Run the cascade on `img`; boxes are scaled by `k` back to the caller's image.
    fn search(&mut self, img: &GrayImage, k: f32) -> Vec<Detection> {
        let data = rustface::ImageData::new(img.data(), img.width(), img.height());
        let mut out: Vec<Detection> = self
            .inner
            .detect(&data)
            .into_iter()
            .map(|f| {
                let r = f.bbox();
                let g = FaceBox::from_pixel_grid(r.x() as i64, r.y() as i64, r.width(), r.height());
                // pixel edges scale with the image: edge e -> k * (e + 0.5) - 0.5
                let raw = FaceBox::new(
                    k * (g.left + 0.5) - 0.5,
                    k * (g.top + 0.5) - 0.5,
                    k * g.width,
                    k * g.height,
                );
                Detection {
                    raw,
                    face_box: self.calibration.apply(&raw),
                    score: f.score() as f32,
                }
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }
}

/// Half-size copy: each pixel the mean of a 2×2 block (odd last rows/columns dropped).
fn half_size(img: &GrayImage) -> GrayImage {
    let (w, h) = (img.width() / 2, img.height() / 2);
    let src = img.data();
    let sw = img.width() as usize;
    let mut out = vec![0u8; (w * h) as usize];
    for y in 0..h as usize {
        let (r0, r1) = (&src[2 * y * sw..], &src[(2 * y + 1) * sw..]);
        for x in 0..w as usize {
            let s =
                r0[2 * x] as u32 + r0[2 * x + 1] as u32 + r1[2 * x] as u32 + r1[2 * x + 1] as u32;
            out[y * w as usize + x] = ((s + 2) / 4) as u8;
        }
    }
    GrayImage::from_raw(w, h, out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_and_blank_images_give_no_faces() {
        let mut d = FaceDetector::new(DetectorOptions::default()).unwrap();
        assert!(d.detect(&GrayImage::new(5, 5)).is_empty());
        assert!(d.detect(&GrayImage::new(0, 0)).is_empty());
        assert!(d.detect(&GrayImage::new(200, 150)).is_empty());
    }

    #[test]
    fn calibration_maps_centre_and_size() {
        let c = Calibration {
            dx: 0.1,
            dy: 0.2,
            scale: 0.8,
        };
        let b = c.apply(&FaceBox::new(0.0, 0.0, 100.0, 100.0));
        assert_eq!(b, FaceBox::new(60.0 - 40.0, 70.0 - 40.0, 80.0, 80.0));
    }
}
