//! The shipped INT8 model (`models/facetrack68.onnx`, quantized from
//! `models/facetrack68-fp32.onnx` by tools/quantize.py) against its float original on
//! the 300-W validation faces, cropped as tracked faces: the points agree within a
//! stated tolerance and the NME moves by at most 0.1 points (the speed issue's bound).

mod common;

use std::path::Path;

use facetrack::core::contract::{InputLayout, MapsLayout};
use facetrack::core::metrics::nme;
use facetrack::data::datasets::{load, part_of, LoadOptions, Part};
use facetrack::data::jitter::tracked_crop;
use facetrack::{GrayImage, LandmarkModel, ModelOptions, PointSet};

/// Mean distance between the two models' points, in inter-ocular units, over all faces.
const MAX_MEAN_SHIFT: f32 = 0.006;
/// The same on the worst face.
const MAX_FACE_SHIFT: f32 = 0.03;
/// NME change, fraction of the inter-ocular distance.
const MAX_NME_CHANGE: f32 = 0.001;

#[test]
fn int8_points_match_the_float_model() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut opts = ModelOptions::default();
    opts.threads = 1;
    let mut q = LandmarkModel::from_file(&root.join("facetrack68.onnx"), opts).unwrap();
    let mut f = LandmarkModel::from_file(&root.join("facetrack68-fp32.onnx"), opts).unwrap();
    // one contract for both, but for the 8-bit file's channels-last input and maps
    // (tools/channels_last.py), which the tracker reorders for
    let mut layouts = f.contract().clone();
    layouts.input_layout = InputLayout::Blocks2;
    layouts.maps_layout = MapsLayout::ChannelsLast;
    assert_eq!(q.contract(), &layouts, "one contract for both");
    let ds = load(&data.join("300w"), LoadOptions::ibug68()).unwrap();
    let (mut shift_sum, mut worst, mut nme_q, mut nme_f, mut n) = (0f32, 0f32, 0f32, 0f32, 0);
    for (i, s) in ds
        .samples
        .iter()
        .filter(|s| part_of(&s.subject, 0.1, 42) == Part::Validation)
        .enumerate()
    {
        let img = GrayImage::open(&s.image).unwrap();
        let t = tracked_crop(
            &s.points,
            q.contract(),
            (img.width(), img.height()),
            i as u64,
        );
        let pq = q.predict_faces(&img, &[t]).unwrap().remove(0).points;
        let pf = f.predict_faces(&img, &[t]).unwrap().remove(0).points;
        let iod = s.points[36].dist(s.points[45]);
        let shift =
            pq.iter().zip(&pf).map(|(a, b)| a.dist(*b)).sum::<f32>() / pq.len() as f32 / iod;
        shift_sum += shift;
        worst = worst.max(shift);
        nme_q += nme(&pq, &s.points, PointSet::Ibug68).unwrap();
        nme_f += nme(&pf, &s.points, PointSet::Ibug68).unwrap();
        n += 1;
    }
    assert!(n > 100, "{n} validation faces");
    let (mean, dq, df) = (shift_sum / n as f32, nme_q / n as f32, nme_f / n as f32);
    eprintln!(
        "{n} faces: INT8 moves the points {:.3} % of the inter-ocular distance on average, {:.3} % at most; NME {:.3} % (float {:.3} %)",
        mean * 100.0,
        worst * 100.0,
        dq * 100.0,
        df * 100.0
    );
    assert!(mean <= MAX_MEAN_SHIFT, "mean shift {mean}");
    assert!(worst <= MAX_FACE_SHIFT, "worst face shift {worst}");
    assert!((dq - df).abs() <= MAX_NME_CHANGE, "NME {dq} vs {df}");
}
