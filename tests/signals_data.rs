//! `facetrack eval --signals` on the 300-W test split (shared data): eye openness
//! separates the labelled closed eyes from the open ones, the per-point confidence is
//! calibrated (the lowest tenth of the points by confidence has at least twice the mean
//! error of the highest tenth), and points hidden by a pasted hand-sized block or a mask
//! score lower than the same points unhidden, on average and on most faces.

mod common;

use common::{facetrack, shipped_model, stderr, TempDir};

#[test]
fn eye_openness_and_point_confidence_on_the_test_split() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let t = TempDir::new("signals");
    let json = t.path("signals.json");
    let o = facetrack(&[
        "eval",
        "--data",
        data.join("300w").to_str().unwrap(),
        "--split",
        "test",
        "--boxes",
        "tracked",
        "--signals",
        "--json",
        json.to_str().unwrap(),
        "--model",
        shipped_model().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let f = |p: &str| v.pointer(p).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
    // eyes: a few labelled closed eyes in the test split, hundreds open
    assert!(f("/eyes/closed") >= 3.0 && f("/eyes/open") >= 100.0, "{v}");
    assert!(f("/eyes/auc") >= 0.9, "openness AUC {}", f("/eyes/auc"));
    assert!(f("/eyes/median_openness_closed") < 0.3, "{v}");
    assert!(f("/eyes/median_openness_open") > 0.7, "{v}");
    // point confidence: deciles
    let ratio = f("/point_confidence/lowest_over_highest");
    assert!(ratio >= 2.0, "lowest / highest decile error {ratio}");
    // occlusion
    for occ in ["hand", "mask"] {
        let (hidden, unhidden) = (
            f(&format!("/occlusion/{occ}/mean_hidden")),
            f(&format!("/occlusion/{occ}/mean_unhidden")),
        );
        assert!(hidden < unhidden, "{occ}: {hidden} vs {unhidden}");
        let share = f(&format!("/occlusion/{occ}/share_lower"));
        assert!(share > 0.5, "{occ}: lower on {share} of the faces");
        assert!(f(&format!("/occlusion/{occ}/faces")) >= 100.0);
    }
}
