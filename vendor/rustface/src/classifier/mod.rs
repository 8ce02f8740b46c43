// This file is part of the open-source port of SeetaFace engine, which originally includes three modules:
//      SeetaFace Detection, SeetaFace Alignment, and SeetaFace Identification.
//
// This file is part of the SeetaFace Detection module, containing codes implementing the face detection method described in the following paper:
//
//      Funnel-structured cascade for multi-view face detection with alignment awareness,
//      Shuzhe Wu, Meina Kan, Zhenliang He, Shiguang Shan, Xilin Chen.
//      In Neurocomputing (under review)
//
// Copyright (C) 2016, Visual Information Processing and Learning (VIPL) group,
// Institute of Computing Technology, Chinese Academy of Sciences, Beijing, China.
//
// As an open-source face recognition engine: you can redistribute SeetaFace source codes
// and/or modify it under the terms of the BSD 2-Clause License.
//
// You should have received a copy of the BSD 2-Clause License along with the software.
// If not, see < https://opensource.org/licenses/BSD-2-Clause>.

mod lab_boosted_classifier;
mod surf_mlp_classifier;

pub use self::lab_boosted_classifier::LabBoostedClassifier;
pub use self::surf_mlp_classifier::SurfMlpBuffers;
pub use self::surf_mlp_classifier::SurfMlpClassifier;

#[derive(Debug, Hash, PartialEq, Eq, Clone)]
pub enum ClassifierKind {
    LabBoosted,
    SurfMlp,
}

impl ClassifierKind {
    #[inline]
    pub fn from(id: i32) -> Option<Self> {
        match id {
            0 => Some(ClassifierKind::LabBoosted),
            1 => Some(ClassifierKind::SurfMlp),
            _ => None,
        }
    }
}

pub struct Score {
    positive: bool,
    score: f32,
}

impl Score {
    #[inline]
    pub fn is_positive(&self) -> bool {
        self.positive
    }

    #[inline]
    pub fn score(&self) -> f32 {
        self.score
    }
}

#[derive(Clone)]
pub enum Classifier {
    SurfMlp(SurfMlpClassifier),
    LabBoosted(LabBoostedClassifier),
}

/// (facetrack) The faster forms of the classifiers and feature maps against upstream's,
/// on the shipped SeetaFace model and pictures of noise and gradients: the same values.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::ImageData;
    use crate::feat::{FeatureMap, LabBoostedFeatureMap, SurfMlpFeatureMap};
    use crate::math;

    fn model() -> crate::model::Model {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/seeta_fd_frontal_v1.0.bin"
        );
        crate::model::load_model(path).expect("the SeetaFace model in models/")
    }

    /// A picture with smooth shading and noise (the cascade's early stages pass some of
    /// its windows).
    fn picture(w: u32, h: u32, seed: u32) -> Vec<u8> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..w * h)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let (x, y) = (i % w, i / w);
                ((x * 3 + y * 2) % 200 + (s % 48)) as u8
            })
            .collect()
    }

    /// A few 300-W photos from the shared data (`FACETRACK_DATA` or `../shared/data`
    /// beside the checkout), gray, scaled so that the face is about 48 px wide: pictures
    /// in which the first stage passes windows. None without the data (outside CI).
    fn face_pictures() -> Option<Vec<(Vec<u8>, u32, u32)>> {
        let root = std::env::var_os("FACETRACK_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
            });
        let dir = root.join("300w/afw");
        if !dir.is_dir() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {} is missing",
                dir.display()
            );
            eprintln!("skipping: no shared data at {}", root.display());
            return None;
        }
        let mut pts: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().map_or(false, |e| e == "pts"))
            .collect();
        pts.sort();
        let mut out = Vec::new();
        for p in pts.iter().take(4) {
            let text = std::fs::read_to_string(p).unwrap();
            let xs: Vec<f32> = text
                .lines()
                .filter_map(|l| l.split_whitespace().next()?.parse::<f32>().ok())
                .collect();
            let (lo, hi) = xs
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            let img = image::open(p.with_extension("jpg")).unwrap().to_luma8();
            let (w, h) = img.dimensions();
            let k = 48.0 / (hi - lo);
            let (sw, sh) = ((w as f32 * k) as u32, (h as f32 * k) as u32);
            let mut small = Vec::new();
            crate::common::resize_image(&ImageData::new(img.as_raw(), w, h), &mut small, sw, sh);
            out.push((small, sw, sh));
        }
        Some(out)
    }

    #[test]
    fn a_row_of_windows_scores_as_each_window_alone() {
        let model = model();
        let Classifier::LabBoosted(lab) = &model.get_classifiers()[0] else {
            panic!("the first classifier is a boosted one");
        };
        let Some(pictures) = face_pictures() else {
            return;
        };
        let mut positives = 0;
        for (data, w, h) in pictures {
            let mut map = LabBoostedFeatureMap::new();
            map.compute(&ImageData::new(&data, w, h));
            let xs: Vec<i32> = (0..=(w - 40) as i32).step_by(4).collect();
            let mut row = Vec::new();
            for y in (0..=(h - 40) as i32).step_by(4) {
                lab.classify_row(&map, y, &xs, 40, &mut row);
                for (&x, got) in xs.iter().zip(&row) {
                    let one = lab.classify(&map, crate::Rectangle::new(x, y, 40, 40));
                    let want = one.is_positive().then_some(one.score());
                    assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "({x}, {y})");
                    positives += usize::from(want.is_some());
                }
            }
        }
        assert!(positives > 0, "no window passed: a weak test");
    }

    #[test]
    fn the_mlp_layers_give_upstreams_sums() {
        let model = model();
        let mut seen = 0;
        for c in model.get_classifiers() {
            let Classifier::SurfMlp(mlp) = c else {
                continue;
            };
            for layer in mlp.layers() {
                let n = layer.input_size();
                let input: Vec<f32> = (0..n)
                    .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 37.0)
                    .collect();
                let mut got = vec![0f32; layer.output_size()];
                layer.compute(&input, &mut got);
                let want: Vec<f32> = layer
                    .weights_by_output()
                    .zip(layer.biases())
                    .map(|(w, b)| layer.activate(math::vector_inner_product(&input, w) + b))
                    .collect();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want));
                seen += 1;
            }
        }
        assert!(seen >= 3, "{} layers", seen);
    }

    #[test]
    fn the_surf_channels_in_one_pass_are_upstreams() {
        for (w, h, seed) in [(40u32, 40u32, 1u32), (3, 3, 2), (17, 5, 3), (64, 41, 4)] {
            let data = picture(w, h, seed);
            let img = ImageData::new(&data, w, h);
            let mut fast = SurfMlpFeatureMap::new();
            fast.compute(&img);
            let mut upstream = SurfMlpFeatureMap::new();
            upstream.compute_as_upstream(&img);
            assert_eq!(fast.integral_image(), upstream.integral_image(), "{w}x{h}");
        }
    }
}
