//! Every label file in ../shared/data parses with the library's readers, in the counts
//! the data's README gives, and the points land inside their images.

mod common;

use facetrack::data::datasets::{self, LoadOptions};

#[test]
fn every_shared_dataset_parses() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let cases = [
        ("300w/lfpw_train", 803),
        ("300w/helen_train", 870),
        ("300w/afw", 337),
        ("imm", 240),
        ("lfw/labels.csv", 7428),
        ("ytf/dlib68.xml", 4232),
        ("ytf/keypoints.csv", 4232),
    ];
    for (rel, want) in cases {
        let ds = datasets::load(&d.join(rel), LoadOptions::default())
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            ds.samples.len(),
            want,
            "{rel}: skipped {:?}",
            ds.skipped.first()
        );
        assert!(ds.skipped.is_empty(), "{rel}: {:?}", ds.skipped.first());
    }
}

#[test]
fn points_fall_inside_their_images() {
    let Some(d) = common::shared_data() else {
        return;
    };
    for rel in ["300w/afw", "imm"] {
        let ds = datasets::load(&d.join(rel), LoadOptions::default()).unwrap();
        for s in ds.samples.iter().take(60) {
            let (w, h) = image::image_dimensions(&s.image).unwrap();
            let inside = s
                .points
                .iter()
                .filter(|p| p.x >= -0.5 && p.y >= -0.5 && p.x <= w as f32 && p.y <= h as f32)
                .count();
            assert!(
                inside * 10 >= s.points.len() * 9,
                "{}: {inside} of {} points inside",
                s.image.display(),
                s.points.len()
            );
        }
    }
}

#[test]
fn imm_subjects_are_persons() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let ds = datasets::load(&d.join("imm"), LoadOptions::default()).unwrap();
    let persons: std::collections::BTreeSet<_> =
        ds.samples.iter().map(|s| s.subject.clone()).collect();
    assert_eq!(persons.len(), 40);
    assert!(persons.contains("01") && persons.contains("40"));
}

#[test]
fn the_imm_mirror_matches_the_data() {
    // the mean frontal shape, mirrored with IMM58_MIRROR, lands on itself
    let Some(d) = common::shared_data() else {
        return;
    };
    let ds = datasets::load(&d.join("imm"), LoadOptions::default()).unwrap();
    let frontal: Vec<_> = ds
        .samples
        .iter()
        .filter(|s| s.image.to_string_lossy().contains("-1"))
        .collect();
    let mut mean = vec![(0.0f32, 0.0f32); 58];
    for s in &frontal {
        let cx = s.points.iter().map(|p| p.x).sum::<f32>() / 58.0;
        let cy = s.points.iter().map(|p| p.y).sum::<f32>() / 58.0;
        for (m, p) in mean.iter_mut().zip(&s.points) {
            m.0 += (p.x - cx) / frontal.len() as f32;
            m.1 += (p.y - cy) / frontal.len() as f32;
        }
    }
    let m = facetrack::core::layout::IMM58_MIRROR;
    for i in 0..58 {
        let (a, b) = (mean[i], mean[m[i]]);
        let d = ((a.0 + b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        assert!(d < 6.0, "point {i} mirrored onto {} is {d} px off", m[i]);
    }
}
