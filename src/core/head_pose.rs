//! Head pose from the 68 points: the rigid 3-D mean face ([`MEAN_SHAPE_3D`]) fitted to
//! the points through a pinhole camera, by a scaled-orthographic start and
//! Levenberg-Marquardt refinement of the reprojection error (6 parameters: a rotation
//! vector and a translation).
//!
//! Conventions are OpenFace's: camera coordinates x right, y down, z forward (away from
//! the camera); translation in millimetres; rotation as Euler angles in radians, pitch
//! `rx`, yaw `ry`, roll `rz`, with the rotation matrix `R = Rx(rx) · Ry(ry) · Rz(rz)`
//! taking face coordinates to camera coordinates. The default intrinsics are OpenFace's
//! guess from the frame size: `500 · w / 640` and `500 · h / 480` averaged into one focal
//! length for both axes (square pixels), `cx = w / 2`, `cy = h / 2`.
//!
//! The mean shape is facetrack's own: a rigid factorisation of the 300-W training
//! landmarks (`examples/calibrate_shape3d.rs`), symmetric, with the outer eye corners
//! 90 mm apart. Derived from the 300-W annotations, it carries their research terms
//! like the models do.

// Small dense matrix code: indices read as the formulas do.
#![allow(clippy::needless_range_loop)]

use crate::core::geometry::Point;
use crate::core::layout::IBUG68_POINTS;

/// The 3-D mean face, millimetres, in the face's own frame (x toward the image-right eye,
/// y down, z away from the viewer; centred on the points' centroid).
#[rustfmt::skip]
pub const MEAN_SHAPE_3D: [[f32; 3]; IBUG68_POINTS] = include!("mean_shape_3d.in");

/// Pinhole intrinsics, pixels (the default: a 640×480 frame's guess).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intrinsics {
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
}

impl Default for Intrinsics {
    fn default() -> Self {
        Intrinsics::guess(640, 480)
    }
}

impl Intrinsics {
    /// OpenFace's guess for a frame of `width` × `height`: the two focal lengths that a
    /// 500-pixel focal length at 640×480 scales to, averaged (FeatureExtraction sets
    /// `fx = fy = (fx + fy) / 2`), so pixels stay square at any frame shape.
    pub fn guess(width: u32, height: u32) -> Self {
        let f = (500.0 * width as f32 / 640.0 + 500.0 * height as f32 / 480.0) / 2.0;
        Intrinsics {
            fx: f,
            fy: f,
            cx: width as f32 / 2.0,
            cy: height as f32 / 2.0,
        }
    }

    pub fn is_valid(&self) -> bool {
        self.fx > 0.0
            && self.fy > 0.0
            && [self.fx, self.fy, self.cx, self.cy]
                .iter()
                .all(|v| v.is_finite())
    }

    /// Whether intrinsics a user gives describe a camera: focal lengths of
    /// [`MIN_FOCAL_PX`] to [`MAX_INTRINSIC_PX`] pixels and a principal point within
    /// ±[`MAX_INTRINSIC_PX`] (outside the frame is allowed: a frame cut from a larger
    /// picture). Beyond those the pose is meaningless (a 1e30-pixel focal length put the
    /// face 1e30 mm away; 1e-30 gave a fit of zeros that looked like a failed one).
    pub fn is_plausible(&self) -> bool {
        self.is_valid()
            && [self.fx, self.fy]
                .iter()
                .all(|f| (MIN_FOCAL_PX..=MAX_INTRINSIC_PX).contains(f))
            && [self.cx, self.cy]
                .iter()
                .all(|c| c.abs() <= MAX_INTRINSIC_PX)
    }
}

/// The shortest focal length [`Intrinsics::is_plausible`] takes, pixels.
pub const MIN_FOCAL_PX: f32 = 1.0;
/// The largest focal length and principal point offset [`Intrinsics::is_plausible`]
/// takes, pixels (a 2,000 mm lens on 2 µm pixels is 1,000,000).
pub const MAX_INTRINSIC_PX: f32 = 1.0e6;

/// A head pose (OpenFace's `pose_*` columns).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HeadPose {
    /// Translation of the face centre, mm.
    pub tx: f32,
    pub ty: f32,
    pub tz: f32,
    /// Pitch, yaw, roll, radians.
    pub rx: f32,
    pub ry: f32,
    pub rz: f32,
    /// RMS reprojection error of the fit, pixels.
    pub rms_px: f32,
    /// The camera the pose is seen through (for drawing it).
    pub camera: Intrinsics,
}

/// Whether and through which camera head pose is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum PoseOptions {
    /// No head pose (no `pose_*` columns).
    Off,
    /// OpenFace's guess from each frame's size ([`Intrinsics::guess`]).
    #[default]
    Guess,
    /// These intrinsics.
    Camera(Intrinsics),
}

impl PoseOptions {
    /// The pose of a face in a frame of `width` × `height`.
    pub fn estimate(&self, points: &[Point], width: u32, height: u32) -> Option<HeadPose> {
        match self {
            PoseOptions::Off => None,
            PoseOptions::Guess => estimate(points, &Intrinsics::guess(width, height)),
            PoseOptions::Camera(k) => estimate(points, k),
        }
    }

    pub fn is_on(&self) -> bool {
        *self != PoseOptions::Off
    }
}

/// The head's axes for drawing: the image points of the nose tip and of the ends of the
/// face's x, y and z axes drawn from it (`length` mm; z toward the viewer).
pub fn axes(pose: &HeadPose, length: f32) -> Option<[Point; 4]> {
    let o = MEAN_SHAPE_3D[crate::core::layout::IBUG68_NOSE_TIP];
    let k = &pose.camera;
    Some([
        project(pose, k, o)?,
        project(pose, k, [o[0] + length, o[1], o[2]])?,
        project(pose, k, [o[0], o[1] + length, o[2]])?,
        project(pose, k, [o[0], o[1], o[2] - length])?,
    ])
}

type M3 = [[f64; 3]; 3];

fn mul(a: &M3, b: &M3) -> M3 {
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

/// Rotation matrix from Euler angles: `Rx(rx) · Ry(ry) · Rz(rz)`.
pub fn euler_to_matrix(rx: f64, ry: f64, rz: f64) -> [[f64; 3]; 3] {
    let (sx, cx) = rx.sin_cos();
    let (sy, cy) = ry.sin_cos();
    let (sz, cz) = rz.sin_cos();
    let x = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
    let y = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let z = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    mul(&mul(&x, &y), &z)
}

/// Euler angles `(rx, ry, rz)` of a rotation matrix (inverse of [`euler_to_matrix`]).
pub fn matrix_to_euler(r: &[[f64; 3]; 3]) -> (f64, f64, f64) {
    let ry = r[0][2].clamp(-1.0, 1.0).asin();
    let rx = (-r[1][2]).atan2(r[2][2]);
    let rz = (-r[0][1]).atan2(r[0][0]);
    (rx, ry, rz)
}

/// Rotation matrix of a rotation vector (Rodrigues).
fn rodrigues(w: [f64; 3]) -> M3 {
    let t = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
    if t < 1e-12 {
        return [[1.0, -w[2], w[1]], [w[2], 1.0, -w[0]], [-w[1], w[0], 1.0]];
    }
    let (k0, k1, k2) = (w[0] / t, w[1] / t, w[2] / t);
    let (s, c) = t.sin_cos();
    let v = 1.0 - c;
    [
        [c + k0 * k0 * v, k0 * k1 * v - k2 * s, k0 * k2 * v + k1 * s],
        [k1 * k0 * v + k2 * s, c + k1 * k1 * v, k1 * k2 * v - k0 * s],
        [k2 * k0 * v - k1 * s, k2 * k1 * v + k0 * s, c + k2 * k2 * v],
    ]
}

/// Rotation vector of a rotation matrix.
fn log_rotation(r: &M3) -> [f64; 3] {
    let tr = (r[0][0] + r[1][1] + r[2][2] - 1.0) / 2.0;
    let t = tr.clamp(-1.0, 1.0).acos();
    let v = [r[2][1] - r[1][2], r[0][2] - r[2][0], r[1][0] - r[0][1]];
    if t < 1e-9 {
        return [v[0] / 2.0, v[1] / 2.0, v[2] / 2.0];
    }
    if (std::f64::consts::PI - t) < 1e-6 {
        // near 180 degrees: the axis from the diagonal
        let ax = [
            ((r[0][0] + 1.0) / 2.0).max(0.0).sqrt(),
            ((r[1][1] + 1.0) / 2.0)
                .max(0.0)
                .sqrt()
                .copysign(r[0][1] + r[1][0]),
            ((r[2][2] + 1.0) / 2.0)
                .max(0.0)
                .sqrt()
                .copysign(r[0][2] + r[2][0]),
        ];
        return [ax[0] * t, ax[1] * t, ax[2] * t];
    }
    let k = t / (2.0 * t.sin());
    [v[0] * k, v[1] * k, v[2] * k]
}

/// Residuals (2 per point, pixels) of parameters `p = [w0, w1, w2, tx, ty, tz]`.
fn residuals(p: &[f64; 6], pts: &[Point], k: &Intrinsics, out: &mut [f64]) -> bool {
    let r = rodrigues([p[0], p[1], p[2]]);
    for (i, (x3, q)) in MEAN_SHAPE_3D.iter().zip(pts).enumerate() {
        let x = [x3[0] as f64, x3[1] as f64, x3[2] as f64];
        let c: [f64; 3] =
            std::array::from_fn(|a| r[a][0] * x[0] + r[a][1] * x[1] + r[a][2] * x[2] + p[3 + a]);
        if c[2] <= 1.0 {
            return false;
        }
        out[2 * i] = k.fx as f64 * c[0] / c[2] + k.cx as f64 - q.x as f64;
        out[2 * i + 1] = k.fy as f64 * c[1] / c[2] + k.cy as f64 - q.y as f64;
    }
    true
}

/// Scaled-orthographic start: the affine camera that best maps the centred 3-D shape
/// to the centred points, made a rotation; depth from its scale.
fn initial(pts: &[Point], k: &Intrinsics) -> Option<[f64; 6]> {
    let n = pts.len() as f64;
    let (mx, my) = pts.iter().fold((0.0, 0.0), |(a, b), p| {
        (a + p.x as f64 / n, b + p.y as f64 / n)
    });
    let mut c3 = [0.0f64; 3];
    for x in MEAN_SHAPE_3D.iter() {
        for a in 0..3 {
            c3[a] += x[a] as f64 / n;
        }
    }
    // normal equations: A (2x3) = (sum u X^T)(sum X X^T)^-1
    let mut xx = [[0.0f64; 3]; 3];
    let mut ux = [[0.0f64; 3]; 2];
    for (x3, q) in MEAN_SHAPE_3D.iter().zip(pts) {
        let x = [
            x3[0] as f64 - c3[0],
            x3[1] as f64 - c3[1],
            x3[2] as f64 - c3[2],
        ];
        let u = [q.x as f64 - mx, q.y as f64 - my];
        for i in 0..3 {
            for j in 0..3 {
                xx[i][j] += x[i] * x[j];
            }
            ux[0][i] += u[0] * x[i];
            ux[1][i] += u[1] * x[i];
        }
    }
    let inv = invert3(&xx)?;
    let a: Vec<[f64; 3]> = (0..2)
        .map(|r| {
            let mut row = [0.0; 3];
            for j in 0..3 {
                row[j] = (0..3).map(|i| ux[r][i] * inv[i][j]).sum();
            }
            row
        })
        .collect();
    let n0 = (a[0].iter().map(|v| v * v).sum::<f64>()).sqrt();
    let n1 = (a[1].iter().map(|v| v * v).sum::<f64>()).sqrt();
    if !(n0 > 1e-9 && n1 > 1e-9) {
        return None;
    }
    let r0: Vec<f64> = a[0].iter().map(|v| v / n0).collect();
    let d: f64 = (0..3).map(|i| a[1][i] / n1 * r0[i]).sum();
    let mut r1: Vec<f64> = (0..3).map(|i| a[1][i] / n1 - d * r0[i]).collect();
    let l1 = (r1.iter().map(|v| v * v).sum::<f64>()).sqrt().max(1e-12);
    r1.iter_mut().for_each(|v| *v /= l1);
    let r2 = [
        r0[1] * r1[2] - r0[2] * r1[1],
        r0[2] * r1[0] - r0[0] * r1[2],
        r0[0] * r1[1] - r0[1] * r1[0],
    ];
    let rot = [[r0[0], r0[1], r0[2]], [r1[0], r1[1], r1[2]], r2];
    // image scale s = f / z
    let s = 0.5 * (n0 / k.fx as f64 + n1 / k.fy as f64);
    let tz = 1.0 / s;
    // the centroid projects to the points' mean
    let rc: Vec<f64> = (0..3)
        .map(|i| (0..3).map(|j| rot[i][j] * c3[j]).sum())
        .collect();
    let tx = (mx - k.cx as f64) * tz / k.fx as f64 - rc[0];
    let ty = (my - k.cy as f64) * tz / k.fy as f64 - rc[1];
    let w = log_rotation(&rot);
    Some([w[0], w[1], w[2], tx, ty, tz - rc[2]])
}

fn invert3(m: &M3) -> Option<M3> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-12 {
        return None;
    }
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let (a, b) = ((j + 1) % 3, (j + 2) % 3);
            let (c, d) = ((i + 1) % 3, (i + 2) % 3);
            r[i][j] = (m[a][c] * m[b][d] - m[a][d] * m[b][c]) / det;
        }
    }
    Some(r)
}

/// Solve the 6x6 system `a x = b` (Gaussian elimination with pivoting).
fn solve6(mut a: [[f64; 6]; 6], mut b: [f64; 6]) -> Option<[f64; 6]> {
    for c in 0..6 {
        let p = (c..6).max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))?;
        if a[p][c].abs() < 1e-15 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..6 {
            let f = a[r][c] / a[c][c];
            for j in c..6 {
                a[r][j] -= f * a[c][j];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = [0.0; 6];
    for c in (0..6).rev() {
        let s: f64 = (c + 1..6).map(|j| a[c][j] * x[j]).sum();
        x[c] = (b[c] - s) / a[c][c];
    }
    Some(x)
}

/// Iterations of the Levenberg-Marquardt refinement.
const LM_ITERATIONS: usize = 30;

/// The head pose of 68 points (image pixels) seen through `k`; `None` when the points
/// are not 68 finite points or the fit fails.
pub fn estimate(points: &[Point], k: &Intrinsics) -> Option<HeadPose> {
    if points.len() != IBUG68_POINTS || !points.iter().all(|p| p.is_finite()) || !k.is_valid() {
        return None;
    }
    let mut p = initial(points, k)?;
    let m = 2 * IBUG68_POINTS;
    let mut res = vec![0.0; m];
    if !residuals(&p, points, k, &mut res) {
        return None;
    }
    let mut cost: f64 = res.iter().map(|r| r * r).sum();
    let mut lambda = 1e-3;
    let mut jac = vec![[0.0f64; 6]; m];
    let mut r2 = vec![0.0; m];
    let mut ra = vec![0.0; m];
    for _ in 0..LM_ITERATIONS {
        // numeric Jacobian (central differences)
        for j in 0..6 {
            let h = if j < 3 {
                1e-5
            } else {
                1e-3 * p[5].abs().max(1.0) * 1e-2
            };
            let (mut a, mut b) = (p, p);
            a[j] += h;
            b[j] -= h;
            if !residuals(&a, points, k, &mut ra) || !residuals(&b, points, k, &mut r2) {
                return None;
            }
            for i in 0..m {
                jac[i][j] = (ra[i] - r2[i]) / (2.0 * h);
            }
        }
        let mut jtj = [[0.0f64; 6]; 6];
        let mut jtr = [0.0f64; 6];
        for i in 0..m {
            for a in 0..6 {
                jtr[a] -= jac[i][a] * res[i];
                for b in 0..6 {
                    jtj[a][b] += jac[i][a] * jac[i][b];
                }
            }
        }
        let mut improved = false;
        for _ in 0..8 {
            let mut a = jtj;
            for (d, row) in a.iter_mut().enumerate() {
                row[d] *= 1.0 + lambda;
            }
            let Some(step) = solve6(a, jtr) else {
                lambda *= 10.0;
                continue;
            };
            let trial: [f64; 6] = std::array::from_fn(|i| p[i] + step[i]);
            if residuals(&trial, points, k, &mut r2) {
                let c: f64 = r2.iter().map(|r| r * r).sum();
                if c < cost {
                    let small = (cost - c) < 1e-10 * cost.max(1e-12);
                    p = trial;
                    cost = c;
                    res.copy_from_slice(&r2);
                    lambda = (lambda / 10.0).max(1e-9);
                    improved = !small;
                    break;
                }
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    let (rx, ry, rz) = matrix_to_euler(&rodrigues([p[0], p[1], p[2]]));
    let pose = HeadPose {
        tx: p[3] as f32,
        ty: p[4] as f32,
        tz: p[5] as f32,
        rx: rx as f32,
        ry: ry as f32,
        rz: rz as f32,
        rms_px: (cost / IBUG68_POINTS as f64).sqrt() as f32,
        camera: *k,
    };
    [pose.tx, pose.ty, pose.tz, pose.rx, pose.ry, pose.rz]
        .iter()
        .all(|v| v.is_finite())
        .then_some(pose)
}

/// Project a face-frame point (mm) through a pose and intrinsics to image pixels (for
/// drawing the head's axes).
pub fn project(pose: &HeadPose, k: &Intrinsics, x: [f32; 3]) -> Option<Point> {
    let r = euler_to_matrix(pose.rx as f64, pose.ry as f64, pose.rz as f64);
    let t = [pose.tx as f64, pose.ty as f64, pose.tz as f64];
    let c: Vec<f64> = (0..3)
        .map(|a| (0..3).map(|b| r[a][b] * x[b] as f64).sum::<f64>() + t[a])
        .collect();
    (c[2] > 1.0).then(|| {
        Point::new(
            (k.fx as f64 * c[0] / c[2] + k.cx as f64) as f32,
            (k.fy as f64 * c[1] / c[2] + k.cy as f64) as f32,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::layout::MIRROR68;

    fn render(rx: f32, ry: f32, rz: f32, t: [f32; 3], k: &Intrinsics) -> Vec<Point> {
        let pose = HeadPose {
            tx: t[0],
            ty: t[1],
            tz: t[2],
            rx,
            ry,
            rz,
            rms_px: 0.0,
            camera: *k,
        };
        MEAN_SHAPE_3D
            .iter()
            .map(|&x| project(&pose, k, x).unwrap())
            .collect()
    }

    #[test]
    fn given_intrinsics_must_describe_a_camera() {
        let k = |fx: f32, cx: f32| Intrinsics {
            fx,
            fy: 700.0,
            cx,
            cy: 240.0,
        };
        assert!(k(700.0, 320.0).is_plausible());
        assert!(
            k(700.0, -100.0).is_plausible(),
            "a principal point off the frame"
        );
        assert!(k(1.0, 1.0e6).is_plausible() && k(1.0e6, -1.0e6).is_plausible());
        for (fx, cx) in [
            (0.5, 320.0),
            (1.0e30, 320.0),
            (1e-30, 320.0),
            (700.0, 2.0e6),
        ] {
            assert!(!k(fx, cx).is_plausible(), "{fx} {cx}");
        }
        // the guess for any frame a video may have is plausible
        assert!(
            Intrinsics::guess(2, 2).is_plausible()
                && Intrinsics::guess(32768, 32768).is_plausible()
        );
    }

    #[test]
    fn the_guessed_camera_has_square_pixels_at_any_frame_shape() {
        let c = Intrinsics::guess(640, 480);
        assert_eq!((c.fx, c.fy, c.cx, c.cy), (500.0, 500.0, 320.0, 240.0));
        // 16:9 and a portrait phone frame: OpenFace's average of 500·w/640 and 500·h/480
        let c = Intrinsics::guess(1920, 1080);
        assert_eq!((c.fx, c.fy), (1312.5, 1312.5));
        let c = Intrinsics::guess(1080, 1920);
        assert_eq!((c.fx, c.fy, c.cx, c.cy), (1421.875, 1421.875, 540.0, 960.0));
    }

    #[test]
    fn euler_angles_round_trip() {
        for &(a, b, c) in &[(0.1, -0.4, 0.3), (-0.5, 0.2, -1.0), (0.0, 0.0, 0.0)] {
            let (x, y, z) = matrix_to_euler(&euler_to_matrix(a, b, c));
            assert!((x - a).abs() < 1e-9 && (y - b).abs() < 1e-9 && (z - c).abs() < 1e-9);
        }
    }

    #[test]
    fn a_projected_mean_face_gives_its_pose_back() {
        let k = Intrinsics::guess(640, 480);
        for &(rx, ry, rz) in &[(0.0, 0.0, 0.0), (0.2, -0.5, 0.3), (-0.3, 0.7, -0.6)] {
            let t = [40.0, -20.0, 650.0];
            let pts = render(rx, ry, rz, t, &k);
            let p = estimate(&pts, &k).unwrap();
            assert!(
                (p.rx - rx).abs() < 1e-3 && (p.ry - ry).abs() < 1e-3 && (p.rz - rz).abs() < 1e-3,
                "{p:?} want ({rx}, {ry}, {rz})"
            );
            assert!(
                (p.tx - t[0]).abs() < 0.5 && (p.ty - t[1]).abs() < 0.5,
                "{p:?}"
            );
            assert!((p.tz - t[2]).abs() < 2.0 && p.rms_px < 0.05, "{p:?}");
        }
    }

    #[test]
    fn a_mirrored_face_has_the_same_pitch_and_negated_yaw_and_roll() {
        let (w, h) = (640u32, 480u32);
        let k = Intrinsics::guess(w, h);
        let pts = render(0.15, 0.45, 0.25, [0.0, 10.0, 600.0], &k);
        // the mirrored image: x -> (w - 1) - x, left and right points swapped
        let mirrored: Vec<Point> = (0..68)
            .map(|i| {
                let p = pts[MIRROR68[i]];
                Point::new(w as f32 - 1.0 - p.x, p.y)
            })
            .collect();
        let a = estimate(&pts, &k).unwrap();
        let b = estimate(&mirrored, &k).unwrap();
        assert!((a.rx - b.rx).abs() < 0.01, "{a:?} {b:?}");
        assert!((a.ry + b.ry).abs() < 0.01, "{a:?} {b:?}");
        assert!((a.rz + b.rz).abs() < 0.01, "{a:?} {b:?}");
    }

    #[test]
    fn bad_points_give_no_pose() {
        let k = Intrinsics::guess(640, 480);
        assert!(estimate(&[Point::new(1.0, 1.0); 10], &k).is_none());
        assert!(estimate(&[Point::new(f32::NAN, 1.0); 68], &k).is_none());
        assert!(estimate(&[Point::new(5.0, 5.0); 68], &k).is_none());
    }
}
