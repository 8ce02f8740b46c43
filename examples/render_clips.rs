//! Renders evaluation clips with exact ground truth from test-split faces of 300-W
//! (smooth motion, or `hard`: roll ±34°, size 0.7-1.5×, up to 12.6 px a frame):
//! `NAME.mp4` + `NAME.gt.csv` (facetrack's CSV layout), the input of
//! `facetrack eval --clips` and of `bench/compare.sh`. Nothing rendered is committed.
//!
//! cargo run --release --example render_clips -- ../shared/data OUT_DIR [COUNT] [FRAMES]

#[path = "../tests/common/render.rs"]
mod render;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: render_clips DATA OUT [COUNT] [FRAMES] [smooth|hard]";
    let data = std::path::PathBuf::from(args.next().ok_or(usage)?);
    let out = std::path::PathBuf::from(args.next().ok_or(usage)?);
    let count: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(4);
    let frames: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(90);
    let hard = match args.next().as_deref() {
        None | Some("smooth") => false,
        Some("hard") => true,
        Some(_) => return Err(usage.into()),
    };
    std::fs::create_dir_all(&out)?;
    // faces of the fixed test split: no model was trained on them
    let folders = ["300w/lfpw_train", "300w/helen_train", "300w/afw"];
    for k in 0..count {
        let folder = folders[k % folders.len()];
        let index = render::test_face_index(&data, folder, 1 + 3 * (k / folders.len()));
        let face = render::load_face(&data, folder, index);
        let motion = if hard {
            render::hard_motion(&face, frames, 70.0)
        } else {
            render::smooth_motion(&face, frames, 60.0 + 10.0 * (k % 3) as f32, 50.0)
        };
        let poses: Vec<_> = motion.into_iter().map(Some).collect();
        let name = format!("{}{k}", if hard { "hard" } else { "clip" });
        render::write_clip(
            &face,
            &poses,
            &out.join(format!("{name}.mp4")),
            Some(&out.join(format!("{name}.gt.csv"))),
        );
        println!("{}", out.join(format!("{name}.mp4")).display());
    }
    Ok(())
}
