//! The optional accurate model, `models/facetrack68-accurate.onnx` (tools/ensemble.py: the
//! shipped float weights and a second run's, their maps averaged in one graph, then INT8 by
//! tools/quantize.py): the default's contract, loaded and decoded like any model, and on
//! the 300-W test-split faces (never trained on, never used for a choice) within a point of
//! its card and more accurate than the default on the very same crops.

mod common;

use facetrack::core::metrics::nme;
use facetrack::data::datasets::{self, LoadOptions};
use facetrack::data::jitter::tracked_crop;
use facetrack::{GrayImage, LandmarkModel, ModelOptions, PointSet};

/// Its NME on the 194 test-split faces with tracked crops (models/MODEL_CARD.md): 3.47 %.
const MAX_TEST_NME: f32 = 0.045;

fn accurate_model() -> std::path::PathBuf {
    common::shipped_model().with_file_name("facetrack68-accurate.onnx")
}

fn load(path: &std::path::Path) -> LandmarkModel {
    LandmarkModel::from_file(
        path,
        ModelOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn accurate_model_has_the_default_models_contract() {
    let a = load(&accurate_model());
    let d = load(&common::shipped_model());
    assert_eq!(a.contract(), d.contract());
}

#[test]
fn accurate_model_beats_the_default_on_the_test_faces() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let mut a = load(&accurate_model());
    let mut d = load(&common::shipped_model());
    let (mut ea, mut ed) = (Vec::new(), Vec::new());
    let mut index = 0u64;
    for folder in ["300w/afw", "300w/helen_train", "300w/lfpw_train"] {
        let ds = datasets::load(&data.join(folder), LoadOptions::ibug68()).unwrap();
        for s in ds
            .samples
            .into_iter()
            .filter(|s| datasets::is_test_subject(&s.subject))
        {
            let img = GrayImage::open(&s.image).unwrap();
            // the crops of `facetrack eval --split test --boxes tracked`
            let crop = tracked_crop(&s.points, a.contract(), (img.width(), img.height()), index);
            index += 1;
            let pa = a.predict(&img, &[crop]).unwrap().remove(0);
            let pd = d.predict(&img, &[crop]).unwrap().remove(0);
            ea.push(nme(&pa, &s.points, PointSet::Ibug68).unwrap());
            ed.push(nme(&pd, &s.points, PointSet::Ibug68).unwrap());
        }
    }
    assert!(ea.len() >= 190, "{} test faces", ea.len());
    let mean = |e: &[f32]| e.iter().sum::<f32>() / e.len() as f32;
    let (ma, md) = (mean(&ea), mean(&ed));
    eprintln!(
        "accurate model: NME {:.2}%, default {:.2}% on {} test-split faces",
        ma * 100.0,
        md * 100.0,
        ea.len()
    );
    assert!(ma < MAX_TEST_NME, "NME {ma}");
    assert!(
        ma < md,
        "the accurate model ({ma}) must beat the default ({md})"
    );
}
