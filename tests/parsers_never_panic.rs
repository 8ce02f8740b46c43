//! Property tests over every parser that reads user files: the iBUG `.pts`, IMM `.asf`
//! and dlib XML readers, the landmark CSV reader, the video-CSV reader and the model
//! contract's metadata. Random and mutated input must give `Ok` or an error, never a
//! panic. The case count is bounded (PROPTEST_CASES, default 256 here) to keep CI short.

use std::collections::BTreeMap;
use std::path::Path;

use facetrack::core::contract::ModelContract;
use facetrack::data::datasets::{self, asf, pts, xml, CoordBase, LoadOptions};
use facetrack::PointSet;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text that is mostly the format's own tokens, so the parsers get past their first line.
fn tokens(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(words).prop_map(|s| s.to_string()),
            "[-0-9.eE+]{1,12}",
            "[ \t\n,{}<>=\"/a-z]{0,4}",
            any::<String>(),
        ],
        0..200,
    )
    .prop_map(|v| v.join(" "))
}

fn temp_file(tag: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!(
        "ft-prop-{tag}-{}-{:?}.txt",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&p, text).unwrap();
    p
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pts_parser(text in tokens(&["version:", "1", "n_points:", "68", "{", "}", "3"])) {
        let _ = pts::parse(&text, Path::new("x.pts"), CoordBase::OneBased);
    }

    #[test]
    fn asf_parser(text in tokens(&["#", "58", "0", "1", "2", "0.5", "\n", "01-1m.jpg"])) {
        let _ = asf::parse(&text, Path::new("x.asf"));
    }

    #[test]
    fn dlib_xml_parser(text in tokens(&[
        "<dataset>", "</dataset>", "<images>", "</images>", "<image file='a.jpg'>", "</image>",
        "<box top='1' left='2' width='3' height='4'>", "</box>", "<part name='00' x='1' y='2'/>",
    ])) {
        let _ = xml::parse(&text, Path::new("x.xml"), Path::new("."), LoadOptions::default());
    }

    #[test]
    fn landmark_csv_reader(text in tokens(&["image", "x0", "y0", "x1", "a.jpg", ",", "\n"])) {
        let p = temp_file("csv", &text);
        let p = p.with_extension("csv");
        std::fs::write(&p, &text).unwrap();
        let _ = datasets::load(&p, LoadOptions { base: CoordBase::OneBased, expect_points: None });
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn video_csv_reader(text in tokens(&[
        "frame,face_id,timestamp,confidence,success,x_0,y_0,pose_Tx", ",", "\n", "1", "-1", "nan",
    ])) {
        let p = temp_file("vcsv", &text);
        let _ = facetrack::output::csv_out::read_video_csv(&p);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn contract_metadata(
        edits in prop::collection::vec(
            (prop::sample::select(vec![
                "contract_version", "point_set", "input_width", "input_height", "channels",
                "pixel_mean", "pixel_std", "crop_mode", "crop_scale", "output_kind",
                "pip_grid_width", "pip_grid_height", "pip_neighbors_per_point", "pip_neighbors",
                "input_layout", "maps_layout",
            ]), any::<String>()),
            0..6,
        )
    ) {
        let mut c = ModelContract::aligned(PointSet::Ibug68, 112, "p");
        c.output = facetrack::core::contract::OutputKind::Pip {
            grid_w: 7,
            grid_h: 7,
            neighbors_per_point: 2,
            neighbors: (0..136).map(|i| (i % 68) as u32).collect(),
        };
        let mut m: BTreeMap<String, String> = c.to_metadata();
        for (k, v) in edits {
            m.insert(format!("facetrack.{k}"), v);
        }
        let _ = ModelContract::from_metadata(|k| m.get(k).cloned());
    }
}
