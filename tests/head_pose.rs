//! Head pose on real faces: turned 300-W faces get the sign of their yaw right, and on a
//! rendered clip whose in-plane roll is known exactly the pose's roll follows it. The
//! roll error printed here is the README's figure.

mod common;

use common::render::{load_face, write_clip, Pose, H, W};
use common::{stderr, track_video, TempDir};
use facetrack::core::head_pose::{estimate, Intrinsics};
use facetrack::data::datasets::{self, is_test_subject, LoadOptions};
use facetrack::output::csv_out::read_video_csv;
use facetrack::{FaceBox, GrayImage, Point};

/// Nose-tip offset from the eyes' midline, in inter-ocular distances: a turned face.
const TURNED: f32 = 0.22;

#[test]
fn turned_faces_get_the_sign_of_their_yaw_right() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let (mut right, mut agree) = (0, 0);
    for folder in ["300w/afw", "300w/helen_train", "300w/lfpw_train"] {
        let ds = datasets::load(&data.join(folder), LoadOptions::default()).unwrap();
        for s in ds.samples.iter().filter(|s| !is_test_subject(&s.subject)) {
            let p = &s.points;
            let mid = Point::new((p[36].x + p[45].x) / 2.0, (p[36].y + p[45].y) / 2.0);
            let iod = p[36].dist(p[45]).max(1.0);
            let off = (p[30].x - mid.x) / iod;
            if off.abs() < TURNED {
                continue;
            }
            let img = GrayImage::open(&s.image).unwrap();
            let Some(pose) = estimate(p, &Intrinsics::guess(img.width(), img.height())) else {
                continue;
            };
            right += 1;
            // a nose to the image-right of the eyes is a face turned to the image-right:
            // yaw negative in OpenFace's convention (R = Rx Ry Rz, z away from the camera)
            if (pose.ry < 0.0) == (off > 0.0) {
                agree += 1;
            }
        }
    }
    eprintln!("{agree} of {right} turned faces have the expected yaw sign");
    assert!(right >= 50, "only {right} turned faces");
    assert!(agree as f64 >= 0.97 * right as f64, "{agree} of {right}");
}

#[test]
fn roll_follows_a_rendered_in_plane_rotation() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("pose-roll");
    let face = load_face(&data, "300w/lfpw_train", 3);
    let b = FaceBox::from_points(&face.points).unwrap();
    let scale = 80.0 / face.points[36].dist(face.points[45]);
    // roll swept through +-30 degrees over 3 s about the face centre
    let poses: Vec<Option<Pose>> = (0..90)
        .map(|i| {
            let angle = (30f32.to_radians()) * (std::f32::consts::TAU * i as f32 / 90.0).sin();
            let p0 = Pose {
                scale,
                angle,
                tx: 0.0,
                ty: 0.0,
            };
            let c = p0.apply(b.center());
            Some(Pose {
                tx: W as f32 / 2.0 - c.x,
                ty: H as f32 / 2.0 - c.y,
                ..p0
            })
        })
        .collect();
    let video = t.path("roll.mp4");
    write_clip(&face, &poses, &video, None);
    let csv = t.path("roll.csv");
    let o = track_video(&video, &csv, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = read_video_csv(&csv).unwrap();
    let mut found: Vec<(usize, f32)> = rows
        .iter()
        .filter(|r| r.success)
        .map(|r| ((r.frame - 1) as usize, r.pose.expect("pose columns")[5]))
        .collect();
    found.dedup_by_key(|f| f.0);
    assert!(found.len() >= 80, "found in {} of 90 frames", found.len());
    // the face's own roll is unknown: compare changes from the first found frame
    let (f0, r0) = found[0];
    let a0 = poses[f0].unwrap().angle;
    let mut errs: Vec<f32> = found
        .iter()
        .map(|&(f, r)| {
            ((r - r0) - (poses[f].unwrap().angle - a0))
                .abs()
                .to_degrees()
        })
        .collect();
    errs.sort_by(|a, b| a.total_cmp(b));
    let mean = errs.iter().sum::<f32>() / errs.len() as f32;
    let p95 = errs[(errs.len() - 1) * 95 / 100];
    eprintln!(
        "roll error over {} frames: mean {mean:.2} deg, p95 {p95:.2} deg",
        errs.len()
    );
    assert!(mean < 2.0 && p95 < 4.0, "mean {mean} p95 {p95}");
}
