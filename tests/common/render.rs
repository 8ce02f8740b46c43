//! Test clips rendered at test time from a real face of ../shared/data: the photo is
//! moved by a known smooth similarity transform, so every frame's true points are
//! exact. Nothing rendered here is committed.

#![allow(dead_code)]

use std::path::Path;

use facetrack::data::datasets::{self, LoadOptions};
use facetrack::output::annotate::VideoWriter;
use facetrack::output::csv_out::VideoCsv;
use facetrack::tracking::tracker::TrackedFace;
use facetrack::{FaceBox, Point};

pub const W: u32 = 640;
pub const H: u32 = 480;
pub const FPS: f64 = 30.0;

/// A face photo with its points (0-based pixel centres), as RGB.
pub struct FacePhoto {
    pub rgb: image::RgbImage,
    pub points: Vec<Point>,
}

/// The `k`-th face of a 300-W folder.
pub fn load_face(data: &Path, folder: &str, k: usize) -> FacePhoto {
    let ds = datasets::load(&data.join(folder), LoadOptions::default()).expect("dataset");
    let s = &ds.samples[k];
    let rgb = image::open(&s.image).expect("image").to_rgb8();
    FacePhoto {
        rgb,
        points: s.points.clone(),
    }
}

/// Similarity transform of frame `t`: photo point p -> frame point.
#[derive(Clone, Copy)]
pub struct Pose {
    pub scale: f32,
    pub angle: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Pose {
    pub fn apply(&self, p: Point) -> Point {
        let (s, c) = self.angle.sin_cos();
        Point::new(
            self.scale * (c * p.x - s * p.y) + self.tx,
            self.scale * (s * p.x + c * p.y) + self.ty,
        )
    }
    pub fn invert(&self, q: Point) -> Point {
        let (s, c) = self.angle.sin_cos();
        let (x, y) = ((q.x - self.tx) / self.scale, (q.y - self.ty) / self.scale);
        Point::new(c * x + s * y, -s * x + c * y)
    }
}

/// A smooth motion that keeps the face's inter-ocular distance near `iod` pixels and its
/// centre near the frame centre, drifting by `drift` pixels.
pub fn smooth_motion(face: &FacePhoto, frames: usize, iod: f32, drift: f32) -> Vec<Pose> {
    let b = FaceBox::from_points(&face.points).unwrap();
    let d = face.points[36].dist(face.points[45]).max(1.0);
    let base = iod / d;
    (0..frames)
        .map(|i| {
            let t = i as f32 / FPS as f32;
            let scale = base * (1.0 + 0.08 * (0.7 * t).sin());
            let angle = 0.12 * (0.9 * t).sin();
            let c = b.center();
            let pose0 = Pose {
                scale,
                angle,
                tx: 0.0,
                ty: 0.0,
            };
            let cc = pose0.apply(c);
            Pose {
                scale,
                angle,
                tx: W as f32 / 2.0 + drift * (0.8 * t).sin() - cc.x,
                ty: H as f32 / 2.0 + 0.5 * drift * (0.6 * t).cos() - cc.y,
            }
        })
        .collect()
}

/// A hard motion: roll swept through ±34° (period 4 s), size 0.7-1.5× of a face with
/// inter-ocular distance `iod`, the centre swinging ±150 px horizontally (12.6 px per
/// frame at the fastest).
pub fn hard_motion(face: &FacePhoto, frames: usize, iod: f32) -> Vec<Pose> {
    let b = FaceBox::from_points(&face.points).unwrap();
    let d = face.points[36].dist(face.points[45]).max(1.0);
    let base = iod / d;
    let tau = std::f32::consts::TAU;
    (0..frames)
        .map(|i| {
            let t = i as f32 / FPS as f32;
            let scale = base * (1.1 + 0.4 * (tau * t / 3.0).sin());
            let angle = 0.6 * (tau * t / 4.0).sin();
            let p0 = Pose {
                scale,
                angle,
                tx: 0.0,
                ty: 0.0,
            };
            let c = p0.apply(b.center());
            Pose {
                scale,
                angle,
                tx: W as f32 / 2.0 + 150.0 * (tau * t / 2.5).sin() - c.x,
                ty: H as f32 / 2.0 + 20.0 * (tau * t / 3.5).cos() - c.y,
            }
        })
        .collect()
}

/// Index (in the folder's samples) of the `k`-th face of the fixed test split.
pub fn test_face_index(data: &Path, folder: &str, k: usize) -> usize {
    let ds = datasets::load(&data.join(folder), LoadOptions::default()).expect("dataset");
    ds.samples
        .iter()
        .enumerate()
        .filter(|(_, s)| datasets::is_test_subject(&s.subject))
        .map(|(i, _)| i)
        .nth(k)
        .expect("enough test faces")
}

/// The `k`-th face of the fixed test split in a 300-W folder.
pub fn load_test_face(data: &Path, folder: &str, k: usize) -> FacePhoto {
    load_face(data, folder, test_face_index(data, folder, k))
}

/// Render one frame: the photo under `pose` over a grey background (bilinear).
pub fn render(face: &FacePhoto, pose: &Pose) -> Vec<u8> {
    let mut out = vec![96u8; (W * H * 3) as usize];
    render_onto(&mut out, face, pose);
    out
}

/// Draw the photo under `pose` over the RGB frame `out` (W × H): a photo held in front
/// of whatever the frame shows.
pub fn render_onto(out: &mut [u8], face: &FacePhoto, pose: &Pose) {
    render_part_onto(out, face, pose, None);
}

/// [`render_onto`] of the square around the face only: its landmark box's centre, each
/// side `grow` times the box's longer side (a head without the rest of the photo).
pub fn render_head_onto(out: &mut [u8], face: &FacePhoto, pose: &Pose, grow: f32) {
    render_part_onto(out, face, pose, Some(grow));
}

fn render_part_onto(out: &mut [u8], face: &FacePhoto, pose: &Pose, head: Option<f32>) {
    let (sw, sh) = (face.rgb.width() as i64, face.rgb.height() as i64);
    let b = FaceBox::from_points(&face.points).unwrap_or_default();
    let (c, half) = (b.center(), b.width.max(b.height) / 2.0);
    for y in 0..H {
        for x in 0..W {
            let p = pose.invert(Point::new(x as f32, y as f32));
            if p.x < 0.0 || p.y < 0.0 || p.x > (sw - 1) as f32 || p.y > (sh - 1) as f32 {
                continue;
            }
            if head.is_some_and(|g| (p.x - c.x).abs() > g * half || (p.y - c.y).abs() > g * half) {
                continue;
            }
            let (x0, y0) = (p.x.floor() as i64, p.y.floor() as i64);
            let (fx, fy) = (p.x - x0 as f32, p.y - y0 as f32);
            let (x1, y1) = ((x0 + 1).min(sw - 1), (y0 + 1).min(sh - 1));
            for ch in 0..3 {
                let g = |xx: i64, yy: i64| face.rgb.get_pixel(xx as u32, yy as u32)[ch] as f32;
                let v = (g(x0, y0) * (1.0 - fx) + g(x1, y0) * fx) * (1.0 - fy)
                    + (g(x0, y1) * (1.0 - fx) + g(x1, y1) * fx) * fy;
                out[((y * W + x) * 3) as usize + ch] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Write a clip of `poses` (None = a frame without the face) to `video`, and its ground
/// truth in facetrack's CSV layout to `gt` (if given).
pub fn write_clip(
    face: &FacePhoto,
    poses: &[Option<Pose>],
    video: &Path,
    gt: Option<&Path>,
) -> Vec<Option<Vec<Point>>> {
    let mut vw = VideoWriter::create(video, W, H, FPS).expect("video writer");
    let mut csv = gt.map(|p| VideoCsv::new(std::fs::File::create(p).unwrap(), 68).unwrap());
    let mut truth = Vec::new();
    for (i, pose) in poses.iter().enumerate() {
        let t = i as f64 / FPS;
        let (frame, pts) = match pose {
            Some(p) => (
                render(face, p),
                Some(face.points.iter().map(|q| p.apply(*q)).collect::<Vec<_>>()),
            ),
            None => (noise_frame(i as u64), None),
        };
        vw.write(&frame, W, H, t).expect("encode");
        if let Some(c) = &mut csv {
            let faces: Vec<TrackedFace> = pts
                .iter()
                .map(|p| TrackedFace {
                    id: 0,
                    points: p.clone(),
                    raw_points: p.clone(),
                    face_box: FaceBox::from_points(p).unwrap(),
                    confidence: 1.0,
                    success: true,
                    pose: None,
                    redetected: false,
                    point_confidence: Vec::new(),
                })
                .collect();
            c.write_frame(i as u64, t, &faces).unwrap();
        }
        truth.push(pts);
    }
    vw.finish().expect("finish");
    truth
}

/// A frame with no face: smooth moving gradients and blobs.
pub fn noise_frame(i: u64) -> Vec<u8> {
    let mut out = vec![0u8; (W * H * 3) as usize];
    let t = i as f32 * 0.1;
    for y in 0..H {
        for x in 0..W {
            let v = 128.0
                + 60.0 * ((x as f32 * 0.02 + t).sin() * (y as f32 * 0.015 - t).cos())
                + 30.0 * ((x + y) as f32 * 0.05).sin();
            let k = ((y * W + x) * 3) as usize;
            out[k] = v as u8;
            out[k + 1] = (v * 0.9) as u8;
            out[k + 2] = (255.0 - v) as u8;
        }
    }
    out
}
